//! The `pull-agent` binary, run as a user runs it.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").canonicalize().unwrap()
}

fn pull_agent(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_pull-agent")).args(args).current_dir(root()).output().unwrap();
    (out.status.code().unwrap_or(-1), String::from_utf8(out.stdout).unwrap(), String::from_utf8(out.stderr).unwrap())
}

/// Every kustomization of the example fleet renders as `kubectl kustomize` printed it
/// (recorded by tests/data/examples/record.sh).
#[test]
fn example_fleet_sources_render_as_kubectl_does() {
    let recorded = root().join("tests/data/examples");
    let mut checked = 0;
    for entry in std::fs::read_dir(&recorded).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|e| e != "yaml") {
            continue;
        }
        let dir = path.file_stem().unwrap().to_string_lossy().replace("__", "/");
        let folder = format!("examples/retail-fleet/{dir}");
        let (code, stdout, stderr) = pull_agent(&["render", &folder]);
        assert_eq!(code, 0, "{folder}: {stderr}");
        assert_eq!(stdout, std::fs::read_to_string(&path).unwrap(), "{folder} differs from kubectl kustomize");
        checked += 1;
    }
    assert!(checked >= 10, "only {checked} recorded example folders");
}

#[test]
fn renders_what_a_store_would_run_from_a_fleet_folder() {
    let (code, stdout, stderr) = pull_agent(&[
        "render",
        "--fleet-dir",
        "examples/retail-fleet/infra",
        "--cluster",
        "store-0005",
        "--labels",
        "kind=store,region=eu-west,canary=false",
        "--environment",
        "prod",
    ]);
    assert_eq!(code, 0, "{stderr}");
    let placements: Vec<&str> = stdout.lines().filter_map(|l| l.strip_prefix("# placement: ")).collect();
    assert_eq!(placements, ["baseline", "bt-collector", "store-monitoring"]);
    assert_eq!(stdout.lines().filter(|l| l.starts_with("# digest: sha256:")).count(), 3);
    assert!(!stdout.contains("${cluster."), "substitution left a variable:\n{stdout}");
    assert!(stdout.contains("store-0005"), "the cluster name was not substituted");
    assert!(stdout.contains("PSEUDONYMISE_MAC"), "the eu-west customization was not applied");
    assert!(stderr.is_empty(), "{stderr}");
}

#[test]
fn one_placement_by_name_and_a_digest_that_follows_the_labels() {
    let render = |labels: &str| {
        let (code, stdout, stderr) = pull_agent(&[
            "render",
            "--fleet-dir",
            "examples/retail-fleet/infra",
            "--cluster",
            "store-0001",
            "--labels",
            labels,
            "--environment",
            "prod",
            "--placement",
            "bt-collector",
        ]);
        assert_eq!(code, 0, "{stderr}");
        stdout.lines().find_map(|l| l.strip_prefix("# digest: ").map(String::from)).unwrap()
    };
    // store-0001 is declared in the fleet repository: its declared labels win over ours.
    assert_eq!(render("kind=store,region=us-east,canary=true"), render("kind=store,region=eu-west"));
}

#[test]
fn a_broken_folder_fails_with_the_file_and_field() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("kustomization.yaml"), "resources: [missing.yaml]\n").unwrap();
    let (code, stdout, stderr) = pull_agent(&["render", dir.path().to_str().unwrap()]);
    assert_eq!(code, 1);
    assert_eq!(stdout, "");
    assert!(stderr.contains("kustomization.yaml: field resources[0]: no such file or folder"), "{stderr}");
}

/// kubectl refuses a folder with no kustomization; we render its manifests (SPEC §3), but a
/// folder with neither is a mistake, and rendering nothing would have the agent prune all.
#[test]
fn an_empty_folder_is_refused_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let empty = dir.path().join("app");
    std::fs::create_dir(&empty).unwrap();
    let (code, stdout, stderr) = pull_agent(&["render", empty.to_str().unwrap()]);
    assert_eq!((code, stdout.as_str()), (1, ""), "{stderr}");
    assert!(stderr.contains(&format!("rendering {}", empty.display())), "{stderr}");
    assert!(stderr.contains("nothing to render: no kustomization.yaml"), "{stderr}");
}

/// `resources: [.]` names the folder in its cycle, and the given DIR, not empty names.
#[test]
fn a_kustomization_that_includes_itself_names_the_folder() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("kustomization.yaml"), "resources: [.]\n").unwrap();
    let (code, _, stderr) = pull_agent(&["render", dir.path().to_str().unwrap()]);
    assert_eq!(code, 1, "{stderr}");
    assert!(
        stderr.contains(&format!(
            "rendering {}: kustomization.yaml: cycle between kustomizations: . -> .",
            dir.path().display()
        )),
        "{stderr}"
    );
}

#[test]
#[cfg_attr(flotilla_skip_git_daemon, ignore = "FLOTILLA_SKIP=git-daemon")]
fn renders_a_source_straight_from_git_by_branch_and_by_commit() {
    use flotilla_git::testing::{GitDaemon, git, make_fixture_repos};
    let repos = tempfile::tempdir().unwrap();
    make_fixture_repos(repos.path());
    let daemon = GitDaemon::start(repos.path());
    let state = repos.path().join("state");
    let url = daemon.url("fleet.git");
    let render = |git_ref: &str| {
        pull_agent(&[
            "render",
            "--repo",
            &url,
            "--ref",
            git_ref,
            "--path",
            "app",
            "--state-dir",
            state.to_str().unwrap(),
        ])
    };
    let (code, stdout, stderr) = render("dev");
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(stdout, "apiVersion: v1\ndata:\n  version: \"6\"\nkind: ConfigMap\nmetadata:\n  name: app\n");
    let first = git(&repos.path().join("fleet.git"), &["rev-list", "--max-parents=0", "prod"]);
    let (code, stdout, stderr) = render(&first);
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.contains("version: \"1\""), "{stdout}");
    let (code, _, stderr) = render("staging");
    assert_eq!(code, 1);
    assert!(stderr.contains("no branch \"staging\" on the server"), "{stderr}");

    // The fixture commits are unsigned: enforce refuses them, inform renders and says so.
    let signers = repos.path().join("allowed_signers");
    std::fs::write(&signers, "").unwrap();
    let verify = |mode: &str| {
        pull_agent(&[
            "render",
            "--repo",
            &url,
            "--ref",
            "prod",
            "--path",
            "app",
            "--state-dir",
            state.to_str().unwrap(),
            "--verify",
            mode,
            "--allowed-signers",
            signers.to_str().unwrap(),
        ])
    };
    let (code, stdout, stderr) = verify("enforce");
    assert_eq!((code, stdout.as_str()), (1, ""), "{stderr}");
    assert!(stderr.contains("refused under verify mode enforce: the commit is not signed"), "{stderr}");
    let (code, stdout, stderr) = verify("inform");
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.contains("kind: ConfigMap"));
    assert!(stderr.contains(": not signed"), "{stderr}");
}

/// Runs the binary in `dir` for at most `limit` (killed then): exit code (`None` when killed),
/// stdout, stderr, and how long it ran. Output goes to files, so that a flood cannot block it.
fn pull_agent_within(dir: &Path, args: &[&str], limit: Duration) -> (Option<i32>, String, String, Duration) {
    let (out, err) = (dir.join("stdout"), dir.join("stderr"));
    let started = Instant::now();
    let mut child = Command::new(env!("CARGO_BIN_EXE_pull-agent"))
        .args(args)
        .current_dir(dir)
        .stdout(Stdio::from(std::fs::File::create(&out).unwrap()))
        .stderr(Stdio::from(std::fs::File::create(&err).unwrap()))
        .spawn()
        .unwrap();
    let code = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status.code();
        }
        if started.elapsed() > limit {
            child.kill().unwrap();
            child.wait().unwrap();
            break None;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let took = started.elapsed();
    let read = |p: &Path| String::from_utf8_lossy(&std::fs::read(p).unwrap()).into_owned();
    (code, read(&out), read(&err), took)
}

/// Writes a fan-out under `dir`: `top` includes `width` bases, each of which includes the
/// `width` bases of the next level, `depth` levels down, to one ConfigMap: width^depth objects
/// from width × depth folders (each base prefixes names with its letter).
fn write_fan_out(dir: &Path, width: usize, depth: usize) {
    let letter = |w: usize| char::from(b'a' + u8::try_from(w).unwrap());
    let bases = |level: usize| (0..width).map(|w| format!("../l{level}-{}", letter(w))).collect::<Vec<_>>().join(", ");
    let write = |path: &str, text: String| {
        let file = dir.join(path);
        std::fs::create_dir_all(file.parent().unwrap()).unwrap();
        std::fs::write(file, text).unwrap();
    };
    write("top/kustomization.yaml", format!("resources: [{}]\n", bases(1)));
    for level in 1..=depth {
        for w in 0..width {
            let folder = format!("l{level}-{}", letter(w));
            let resources = if level < depth { bases(level + 1) } else { "cm.yaml".to_string() };
            write(
                &format!("{folder}/kustomization.yaml"),
                format!("namePrefix: {}-\nresources: [{resources}]\n", letter(w)),
            );
            if level == depth {
                write(&format!("{folder}/cm.yaml"), "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: leaf}\n".into());
            }
        }
    }
}

/// Found: 2 bases per level over 16 levels made 65,536 objects in 22 s and 352 MB; 4 per level
/// over 10 levels was killed at 60 s using 877 MB. The render budget stops both at once.
#[test]
fn fan_outs_are_refused_quickly_naming_the_kustomizations() {
    for (width, depth) in [(2, 16), (4, 10)] {
        let tmp = tempfile::tempdir().unwrap();
        write_fan_out(tmp.path(), width, depth);
        let (code, stdout, stderr, took) = pull_agent_within(tmp.path(), &["render", "top"], Duration::from_secs(20));
        let shape = format!("{width} per level over {depth} levels");
        assert_eq!(code, Some(1), "{shape}: not refused within 20 s ({took:?}): {}", &stderr[..stderr.len().min(2000)]);
        assert!(took < Duration::from_secs(10), "{shape}: refused only after {took:?}");
        assert_eq!(stdout, "", "{shape}");
        assert!(stderr.starts_with("pull-agent: error: rendering top: l"), "{shape}: {stderr}");
        assert!(
            stderr.contains("/kustomization.yaml: over the render budget: more than 10000 kustomizations included (rendering top -> l1-a -> "),
            "{shape}: {stderr}"
        );
    }
}

#[test]
fn the_render_budget_is_set_on_the_command_line() {
    let tmp = tempfile::tempdir().unwrap();
    write_fan_out(tmp.path(), 2, 5);
    let render = |extra: &[&str]| {
        let (code, stdout, stderr, _) =
            pull_agent_within(tmp.path(), &[&["render", "top"], extra].concat(), Duration::from_secs(20));
        (code, stdout.matches("kind: ConfigMap").count(), stderr)
    };
    let (code, objects, stderr) = render(&[]);
    assert_eq!((code, objects), (Some(0), 32), "{stderr}");
    let (code, _, stderr) = render(&["--max-objects", "40"]);
    assert_eq!(code, Some(1), "{stderr}");
    assert!(stderr.contains(": over the render budget: more than 40 kustomizations included"), "{stderr}");
    let (code, _, stderr) = render(&["--max-bytes", "1Ki"]);
    assert_eq!(code, Some(1), "{stderr}");
    assert!(stderr.contains(": over the render budget: more than 1 KiB of files read (rendering top"), "{stderr}");
    let (code, objects, stderr) = render(&["--max-objects", "100", "--max-bytes", "64Ki"]);
    assert_eq!((code, objects), (Some(0), 32), "{stderr}");
    let (code, _, stderr) = render(&["--max-bytes", "64MB"]);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains("invalid value '64MB' for '--max-bytes <SIZE>'"), "{stderr}");
}

/// Found: outside any git repository, `resources: [../../../../etc/passwd]` walked the snapshot
/// up to `/`, read every file under it (4 GiB, out of memory) and never named the kustomization.
/// Now only what the kustomizations name is read, the root climbs no higher than a bound, and
/// the error names the kustomization and its field.
#[test]
fn a_resource_that_escapes_the_root_is_named_and_nothing_else_is_read() {
    let tmp = tempfile::tempdir().unwrap();
    let base = tmp.path().canonicalize().unwrap();
    assert!(base.ancestors().all(|a| !a.join(".git").exists()), "the temporary folder is inside a git repository");
    let app = base.join("app");
    std::fs::create_dir(&app).unwrap();
    // As many `..` as it takes from app/ to the file system's root, then etc/passwd.
    let escape = format!("{}etc/passwd", "../".repeat(app.components().count() - 1));
    std::fs::write(app.join("kustomization.yaml"), format!("resources: [{escape}]\n")).unwrap();
    // Beside it, a file no render needs that nobody can read whole (a terabyte, sparse): a reader
    // of every file fails on it.
    std::fs::File::create(base.join("huge.bin")).unwrap().set_len(1 << 40).unwrap();

    let (code, stdout, stderr, took) = pull_agent_within(&base, &["render", "app"], Duration::from_secs(20));
    assert_eq!((code, stdout.as_str()), (Some(1), ""), "{stderr}");
    assert!(took < Duration::from_secs(10), "{took:?}");
    let root = base.parent().unwrap();
    assert!(
        stderr.contains(&format!(
            "{}: field resources[0]: {escape:?} escapes the root {}",
            app.join("kustomization.yaml").display(),
            root.display()
        )),
        "{stderr}"
    );
    assert!(!stderr.contains("huge.bin"), "{stderr}");

    // A base above DIR is read when a kustomization names it, outside git too.
    std::fs::create_dir_all(base.join("base")).unwrap();
    std::fs::write(base.join("base/kustomization.yaml"), "resources: [cm.yaml]\n").unwrap();
    std::fs::write(base.join("base/cm.yaml"), "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: from-base}\n")
        .unwrap();
    std::fs::write(app.join("kustomization.yaml"), "resources: [../base]\nnamePrefix: app-\n").unwrap();
    let (code, stdout, stderr, _) = pull_agent_within(&base, &["render", "app"], Duration::from_secs(20));
    assert_eq!(code, Some(0), "{stderr}");
    assert_eq!(stdout, "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: app-from-base\n");
}

/// Regression: a folder without `fleet/` (the example's root, whose fleet is `infra/`) was
/// taken for a fleet where no placement selects the cluster, and exited 0.
#[test]
fn a_fleet_folder_without_a_fleet_is_refused_naming_what_it_expected() {
    let store = ["--cluster", "store-0001", "--labels", "kind=store", "--environment", "prod"];
    for command in ["render", "check"] {
        let mut args = vec![command, "--fleet-dir", "examples/retail-fleet"];
        args.extend(store);
        let (code, stdout, stderr) = pull_agent(&args);
        assert_eq!((code, stdout.as_str()), (1, ""), "{command}: {stderr}");
        assert_eq!(
            stderr,
            "pull-agent: error: no fleet in examples/retail-fleet: expected a folder examples/retail-fleet/fleet \
             with the fleet's YAML (clusters, placements, repositories), as at the root of a fleet repository \
             (examples/retail-fleet/infra/fleet has one: --fleet-dir examples/retail-fleet/infra?)\n",
            "{command}"
        );
    }
}

/// The local form's `--cluster` was taken as any string, where agent.yaml's `cluster.name`
/// is a DNS-1123 subdomain: `Store_5` rendered as a cluster no agent could be.
#[test]
fn a_local_cluster_name_follows_the_rule_of_the_configs() {
    for command in ["render", "check"] {
        let args = [command, "--fleet-dir", "examples/retail-fleet/infra", "--cluster", "Store_5"];
        let (code, stdout, stderr) =
            pull_agent(&[&args[..], &["--labels", "kind=store", "--environment", "prod"]].concat());
        assert_eq!((code, stdout.as_str()), (1, ""), "{command}: {stderr}");
        assert_eq!(
            stderr,
            "pull-agent: error: --cluster: \"Store_5\" is not a DNS-1123 subdomain (lower-case letters, digits, '-' and '.', at most 253)\n",
            "{command}"
        );
    }
}

/// Regression: `pull-agent render … | head` ended with "Broken pipe (os error 32)" and exit 101.
#[test]
fn a_closed_standard_output_ends_the_command_quietly() {
    let store =
        ["--cluster", "store-0005", "--labels", "kind=store,region=eu-west,canary=false", "--environment", "prod"];
    let mut args = vec!["render", "--fleet-dir", "examples/retail-fleet/infra"];
    args.extend(store);
    let mut child = Command::new(env!("CARGO_BIN_EXE_pull-agent"))
        .args(&args)
        .current_dir(root())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // The reader goes before the first line is written, as `head -0` would.
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(String::from_utf8_lossy(&out.stderr), "");
}

#[test]
fn the_help_of_once_and_plan_says_a_simulated_cluster_is_empty_in_each_process() {
    for command in ["once", "plan"] {
        let (code, stdout, stderr) = pull_agent(&[command, "--help"]);
        assert_eq!(code, 0, "{stderr}");
        assert!(
            stdout.contains("With `kubernetes: {simulated: true}` the cluster is an empty one inside this process"),
            "{stdout}"
        );
    }
}
