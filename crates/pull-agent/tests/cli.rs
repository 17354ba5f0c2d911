//! The `pull-agent` binary, run as a user runs it.

use std::path::{Path, PathBuf};
use std::process::Command;

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
