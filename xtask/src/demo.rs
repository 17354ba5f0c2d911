//! `cargo xtask demo [--stores N] [--clouds N] [--listen ADDR] [--bake DURATION] [--release]
//! [--exit-when-done]`: the README's main command, on a machine with only Rust and git.
//!
//! It builds `pull-agent` and `hub-index` (the debug profile: the build the tests share; 44 MiB
//! an agent, 22 MiB with `--release`, whose first build is much longer), puts the example retail
//! fleet (`examples/retail-fleet`) in git under a temporary folder — `prod` and `dev` branches, served
//! by `git daemon` on loopback — starts `hub-index` on an embedded SQLite with its views open on
//! loopback (`--open-on-loopback`), and one real `pull-agent run` process per cluster, each with a
//! simulated cluster inside (the project's test API server). Once every cluster is synced on
//! prod, it commits a new bt-collector release to store-app's `dev`, merges `dev` into `prod`
//! with `git merge --no-ff`, and draws the rollout wave by wave from the hub's
//! `GET /api/v1/rollouts/bt-collector` until every store runs the merge. Then it waits for Ctrl-C
//! (or exits, with `--exit-when-done`), stops every process it started and removes the folder.
//!
//! The demo's copy of the fleet differs from the example in three ways, and says so: bt-collector
//! bakes `--bake` (20 s) per wave instead of 2 h and has no deployment window (02:00–05:00 in
//! Chicago), since a demo cannot wait hours; and `fleet/clusters.yaml` declares the demo's
//! clusters instead of the example's nine.
//!
//! Not a simulation (real processes on a real clock; the simulations with a virtual clock are
//! `cargo xtask simulate`'s) and not a benchmark: it prints the memory the processes hold and
//! the times it saw, as a demo's facts, not as measurements to compare.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::{IsTerminal as _, Write as _};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context as _, Result, bail, ensure};
use flotilla_git::testing::{GitDaemon, git_command};
use hub_index::api::{Client, Progress as Rollout, Summary};

/// The placement the demo releases and draws.
const PLACEMENT: &str = "bt-collector";
/// The environment every demo cluster runs.
const ENVIRONMENT: &str = "prod";
/// Where a store-app release is made (the example's README: "the release version is `newTag`
/// in …"), the image it tags, and the image's name as the stores run it.
const RELEASE_FILE: &str = "deploy/overlays/prod/kustomization.yaml";
const IMAGE_NAME: &str = "registry.retail.example/store/bt-collector";
/// The agents' poll interval: short, so the demo moves; each of them fetches git this often.
const POLL_INTERVAL: &str = "5s";
/// How often the hub reads git again (its default is 30 s).
const HUB_FLEET_POLL: &str = "2s";
/// Regions the clusters are spread over, in turn.
const REGIONS: [&str; 3] = ["us-east", "us-west", "eu-west"];
/// How many `pull-agent register` run at once.
const REGISTER_AT_ONCE: usize = 8;
/// How long the processes get between SIGTERM and SIGKILL.
const STOP_GRACE: Duration = Duration::from_secs(10);

/// What the command line asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Options {
    stores: usize,
    clouds: usize,
    /// The hub's address, where the dashboard is: a loopback one (the hub refuses others open).
    listen: SocketAddr,
    /// The bake per wave of bt-collector in the demo's fleet, whole seconds.
    bake_seconds: u64,
    /// Build and run the release profile: smaller, faster agents, a longer first build.
    release: bool,
    /// Exit once the rollout is complete instead of waiting for Ctrl-C (tests, CI).
    exit_when_done: bool,
}

impl Default for Options {
    fn default() -> Options {
        Options {
            stores: 50,
            clouds: 3,
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            bake_seconds: 20,
            release: false,
            exit_when_done: false,
        }
    }
}

/// `cargo xtask demo`'s flags.
#[derive(Debug, clap::Parser)]
#[command(name = "demo")]
pub struct Args {
    /// Store clusters, each a process.
    #[arg(long, default_value_t = Options::default().stores)]
    stores: usize,
    /// Cloud clusters.
    #[arg(long, default_value_t = Options::default().clouds)]
    clouds: usize,
    /// The hub's address, where the dashboard is (loopback only).
    #[arg(long, default_value_t = Options::default().listen)]
    listen: SocketAddr,
    /// The bake per wave, a duration like 20s or 1m.
    #[arg(long, default_value = "20s")]
    bake: String,
    /// Build and run the release profile: smaller, faster agents, a longer first build.
    #[arg(long)]
    release: bool,
    /// Exit once the rollout is complete instead of waiting for Ctrl-C (tests, CI).
    #[arg(long)]
    exit_when_done: bool,
}

fn parse(args: &Args) -> Result<Options> {
    let bake = flotilla_core::calendar::parse_duration(&args.bake)
        .with_context(|| format!("--bake {:?}: a duration like 20s or 1m", args.bake))?;
    let options = Options {
        stores: args.stores,
        clouds: args.clouds,
        listen: args.listen,
        bake_seconds: bake.as_secs(),
        release: args.release,
        exit_when_done: args.exit_when_done,
    };
    ensure!((1..=1_000).contains(&options.stores), "--stores {}: from 1 to 1000 (each is a process)", options.stores);
    ensure!(options.clouds <= 100, "--clouds {}: at most 100", options.clouds);
    ensure!((1..=3_600).contains(&options.bake_seconds), "--bake: from 1s to 1h");
    ensure!(
        options.listen.ip().is_loopback(),
        "--listen {}: the demo's dashboard is open without a viewer token, so it listens on loopback only \
         (127.0.0.1:PORT or [::1]:PORT)",
        options.listen
    );
    Ok(options)
}

pub fn run(args: &Args) -> Result<()> {
    let options = parse(args)?;
    // Before anything is built or written: the likeliest reasons the demo cannot start.
    let git = Command::new("git").arg("--version").output();
    ensure!(git.is_ok_and(|o| o.status.success()), "the demo needs git (`git --version` failed)");
    drop(std::net::TcpListener::bind(options.listen).with_context(|| {
        format!(
            "--listen {}: the address is taken; pick another, e.g. --listen 127.0.0.1:8081 (or :0 for any free port)",
            options.listen
        )
    })?);

    let profile = if options.release { "release" } else { "debug" };
    println!("Building pull-agent and hub-index ({profile} profile; the first build takes minutes)…");
    // One package per build, as `cargo build -p pull-agent` or `cargo run -p hub-index` builds
    // it: built together, their dependencies' features would be unified across both packages,
    // and the next `cargo run -p pull-agent` would compile a hundred crates again.
    for package in ["pull-agent", "hub-index"] {
        let mut build = vec!["build", "--package", package];
        if options.release {
            build.push("--release");
        }
        crate::cargo(&build)?;
    }
    let target = std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| crate::root().join("target"), PathBuf::from);
    let binaries = Binaries {
        agent: crate::root().join(&target).join(profile).join("pull-agent"),
        hub: crate::root().join(&target).join(profile).join("hub-index"),
    };
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    runtime.block_on(demo(&options, &binaries))
}

struct Binaries {
    agent: PathBuf,
    hub: PathBuf,
}

/// The demo, from the temporary folder to its removal. The processes are stopped and the folder
/// removed on every way out: done, a signal, an error or a panic (drop order: the children, the
/// git daemon, then the folder).
async fn demo(options: &Options, binaries: &Binaries) -> Result<()> {
    let work = tempfile::Builder::new().prefix("flotilla-demo-").tempdir().context("creating a temporary folder")?;
    let root = work.path().to_path_buf();
    for dir in ["git", "logs", "hub", "agents"] {
        std::fs::create_dir_all(root.join(dir))?;
    }
    let daemon = GitDaemon::start(&root.join("git"));
    let mut children = Children::new(root.join("logs"));

    let outcome = tokio::select! {
        biased;
        signal = stop_signal() => {
            println!("\n{signal}: stopping");
            Ok(())
        }
        result = rollout_demo(options, binaries, &root, &daemon, &mut children) => result,
    };
    let stopped = children.stop();
    drop(daemon);
    let removed = work.path().display().to_string();
    let closed = work.close();
    if outcome.is_ok() {
        println!("Stopped {stopped} processes and the git daemon; removed {removed}.");
    }
    closed.with_context(|| format!("removing {removed}"))?;
    outcome
}

/// Ctrl-C, SIGTERM or SIGHUP (the terminal closed): the demo cleans up on each.
async fn stop_signal() -> &'static str {
    use tokio::signal::unix::{SignalKind, signal};
    let (Ok(mut term), Ok(mut hangup)) = (signal(SignalKind::terminate()), signal(SignalKind::hangup())) else {
        let _ = tokio::signal::ctrl_c().await;
        return "Ctrl-C";
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => "Ctrl-C",
        _ = term.recv() => "SIGTERM",
        _ = hangup.recv() => "SIGHUP",
    }
}

async fn rollout_demo(
    options: &Options,
    binaries: &Binaries,
    root: &Path,
    daemon: &GitDaemon,
    children: &mut Children,
) -> Result<()> {
    let started = Instant::now();
    let members = members(options.stores, options.clouds);
    let repos = root.join("git");
    let examples = crate::root().join("examples/retail-fleet");
    println!(
        "Flotilla demo: {} and {}, each a real pull-agent with a simulated cluster inside",
        count(options.stores, "store cluster"),
        count(options.clouds, "cloud cluster")
    );
    println!("  working folder {} (removed when the demo ends)", root.display());
    make_repositories(&examples, &repos, daemon, &members, options.bake_seconds)?;
    println!(
        "  git daemon serves fleet (examples/retail-fleet/infra), store-app and cloud-services on {} (branches prod, dev)",
        daemon.url("")
    );
    println!("  the demo's copy of the fleet differs from examples/retail-fleet, since a demo cannot wait hours:");
    println!(
        "    bt-collector bakes {}s per wave (not 2h) and has no deployment window (not 02:00–05:00 America/Chicago)",
        options.bake_seconds
    );
    println!("    fleet/clusters.yaml declares the demo's {} clusters", members.len());

    let hub = start_hub(binaries, root, daemon, options.listen, children).await?;
    println!("  hub-index on SQLite ({}), dashboard: {hub}/", root.join("hub/hub.db").display());
    println!(
        "  the dashboard and the hub's views are OPEN on loopback without a viewer token (hub-index serve \
         --open-on-loopback), for this demo only"
    );
    register_and_start_agents(binaries, root, &daemon.url("fleet"), &hub, &members, children)?;
    println!(
        "  started {} pull-agents (pollInterval {POLL_INTERVAL}; logs in {})",
        members.len(),
        root.join("logs").display()
    );

    let client = reqwest::Client::builder().timeout(Duration::from_secs(10)).build()?;
    let hub = Client::with_http(&hub, client);
    let mut screen = Screen::new();
    let patience = Duration::from_secs(300) + Duration::from_secs(2) * u32::try_from(members.len()).unwrap_or(u32::MAX);
    wait_synced(&hub, &members, children, &mut screen, patience).await?;
    println!(
        "All {} clusters synced on prod in {:.1} s since the demo started.",
        members.len(),
        started.elapsed().as_secs_f64()
    );
    if let Some(memory) = memory(children) {
        println!("  memory (VmRSS): {memory}");
    }

    let store_names: Vec<&str> = members.iter().filter(|m| m.kind == Kind::Store).map(|m| m.name.as_str()).collect();
    let before = running(&hub, &store_names).await?;
    let release = release(&repos.join("store-app"))?;
    let merged = Instant::now();
    println!("Release: bt-collector {} → {}", release.from, release.to);
    println!(
        "  committed to store-app's dev ({}), merged into prod with git merge --no-ff ({})",
        short(&release.dev),
        short(&release.merge)
    );
    println!(
        "Rollout of {PLACEMENT} in prod as the hub sees it (canary → early 10% → everyone, {}s bake per wave); \
         on the dashboard: {}/lag?placement={PLACEMENT}&environment={ENVIRONMENT}",
        options.bake_seconds,
        hub.url()
    );
    let stores = members.iter().filter(|m| m.kind == Kind::Store).count();
    let patience = Duration::from_secs(options.bake_seconds * 3 + 300);
    watch_rollout(&hub, &release.merge, stores, children, &mut screen, merged, patience).await?;
    let image = format!("{IMAGE_NAME}:{}", release.to);
    let after = wait_running(&hub, &store_names, &before, &release.merge, &image, children, merged, patience).await?;
    println!("What each store runs now, as its last report to the hub says ({PLACEMENT}'s images):");
    for line in images_by_store(&after) {
        println!("  {line}");
    }
    println!(
        "Rollout complete: all {stores} stores run {} ({}), {:.1} s after the merge.",
        short(&release.merge),
        release.to,
        merged.elapsed().as_secs_f64()
    );
    if let Some(memory) = memory(children) {
        println!("  memory (VmRSS): {memory}");
    }
    if options.exit_when_done {
        return Ok(());
    }
    println!("Dashboard: {}/  (open on loopback without a viewer token, for this demo only)", hub.url());
    println!("The fleet keeps running; press Ctrl-C to stop it and clean up.");
    std::future::pending::<()>().await;
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// The clusters.

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Store,
    Cloud,
}

/// One demo cluster: its name and labels.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Member {
    name: String,
    kind: Kind,
    labels: BTreeMap<&'static str, String>,
}

/// `store-0001`… with regions in turn and the first two canaries, then `cloud-us-east-1`….
fn members(stores: usize, clouds: usize) -> Vec<Member> {
    let store = |i: usize| Member {
        name: format!("store-{:04}", i + 1),
        kind: Kind::Store,
        labels: BTreeMap::from([
            ("kind", "store".to_string()),
            ("region", REGIONS[i % REGIONS.len()].to_string()),
            ("canary", (i < 2).to_string()),
        ]),
    };
    let cloud = |i: usize| Member {
        name: format!("cloud-{}-{}", REGIONS[i % REGIONS.len()], i / REGIONS.len() + 1),
        kind: Kind::Cloud,
        labels: BTreeMap::from([("kind", "cloud".to_string()), ("region", REGIONS[i % REGIONS.len()].to_string())]),
    };
    (0..stores).map(store).chain((0..clouds).map(cloud)).collect()
}

/// Labels as a YAML flow mapping, every value quoted (`"true"` stays a string).
fn flow(labels: &BTreeMap<&'static str, String>) -> String {
    let pairs: Vec<String> = labels.iter().map(|(k, v)| format!("{k}: \"{v}\"")).collect();
    format!("{{{}}}", pairs.join(", "))
}

/// `fleet/clusters.yaml` for the demo: its clusters, in prod.
fn inventory(members: &[Member]) -> String {
    let mut out = String::from("# The demo's clusters (written by `cargo xtask demo`), all in prod.\n");
    for m in members {
        let _ = write!(
            out,
            "---\napiVersion: flotilla.dev/v1alpha1\nkind: Cluster\nmetadata: {{name: {}, labels: {}}}\nspec: {{environment: {ENVIRONMENT}}}\n",
            m.name,
            flow(&m.labels)
        );
    }
    out
}

/// One agent's `agent.yaml`.
fn agent_config(member: &Member, fleet_url: &str, hub_url: &str) -> String {
    format!(
        "cluster:\n  name: {}\n  environment: {ENVIRONMENT}\n  labels: {}\nfleet: {{url: \"{fleet_url}\"}}\n\
         hub: {{url: \"{hub_url}\"}}\nstateDir: state\npollInterval: {POLL_INTERVAL}\nkubernetes: {{simulated: true}}\n",
        member.name,
        flow(&member.labels)
    )
}

// ---------------------------------------------------------------------------------------------
// The repositories.

/// Copies the example's three repositories under `repos`, adapted for the demo, and commits
/// each on `prod` a day ago (so every wave may take them at once), with `dev` at the same commit.
fn make_repositories(examples: &Path, repos: &Path, daemon: &GitDaemon, members: &[Member], bake: u64) -> Result<()> {
    for (folder, repo) in [("infra", "fleet"), ("store-app", "store-app"), ("cloud-services", "cloud-services")] {
        copy_tree(&examples.join(folder), &repos.join(repo))?;
    }
    let fleet = repos.join("fleet/fleet");
    edit(&fleet.join("repositories.yaml"), |text| point_repositories(text, &|name| daemon.url(name)))?;
    edit(&fleet.join("placement-bt-collector.yaml"), |text| quicken_rollout(text, bake))?;
    std::fs::write(fleet.join("clusters.yaml"), inventory(members))?;
    let yesterday = unix_now() - 86_400;
    for repo in ["fleet", "store-app", "cloud-services"] {
        let dir = repos.join(repo);
        run_git(&dir, &["init", "-q", "-b", "prod"], None)?;
        run_git(&dir, &["add", "-A"], None)?;
        run_git(&dir, &["commit", "-q", "-m", "From examples/retail-fleet, for the demo"], Some(yesterday))?;
        run_git(&dir, &["branch", "dev"], None)?;
    }
    Ok(())
}

/// Rewrites a file with `change`.
fn edit(path: &Path, change: impl FnOnce(&str) -> Result<String>) -> Result<()> {
    let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let changed = change(&text).with_context(|| path.display().to_string())?;
    std::fs::write(path, changed).with_context(|| format!("writing {}", path.display()))
}

/// The example's repository URLs (`https://git.retail.example/retail/NAME.git`) pointed at
/// `url(NAME)`.
fn point_repositories(text: &str, url: &dyn Fn(&str) -> String) -> Result<String> {
    let mut text = text.to_string();
    for name in ["store-app", "cloud-services"] {
        let example = format!("https://git.retail.example/retail/{name}.git");
        ensure!(text.contains(&example), "no {example}: the example changed; update xtask/src/demo.rs");
        text = text.replace(&example, &url(name));
    }
    Ok(text)
}

/// The bt-collector placement with `bake` seconds per wave and no `windows`.
fn quicken_rollout(text: &str, bake: u64) -> Result<String> {
    let (mut out, mut baked, mut windows, mut in_windows) = (String::new(), false, false, false);
    for line in text.lines() {
        if in_windows {
            // The list's items (at the key's indent or deeper) and their fields.
            if line.starts_with("  - ") || line.starts_with("   ") {
                continue;
            }
            in_windows = false;
        }
        if line == "  windows:" {
            (in_windows, windows) = (true, true);
            out.push_str("  # windows: none in the demo (cargo xtask demo), which cannot wait for 02:00 in Chicago\n");
        } else if let Some(key) = line.find("bake:").filter(|at| line[..*at].trim().is_empty()) {
            baked = true;
            let _ = writeln!(
                out,
                "{}bake: {bake}s  # 2h in examples/retail-fleet; shortened by cargo xtask demo",
                &line[..key]
            );
        } else {
            out.push_str(line);
            out.push('\n');
        }
    }
    ensure!(baked && windows, "no `bake:` or `windows:` found: the example changed; update xtask/src/demo.rs");
    Ok(out)
}

/// The next minor version: `1.4.2` → `1.5.0`.
fn next_minor(version: &str) -> Option<String> {
    let mut parts = version.split('.');
    let (major, minor) = (parts.next()?, parts.next()?.parse::<u64>().ok()?);
    Some(format!("{major}.{}.0", minor + 1))
}

/// The prod overlay with the collector's `newTag` at the next minor version: the new text, the
/// old version and the new.
fn bump_tag(text: &str) -> Result<(String, String, String)> {
    let image = text
        .find(&format!("- name: {IMAGE_NAME}\n"))
        .with_context(|| format!("no image {IMAGE_NAME} under `images:` in {RELEASE_FILE}: the example changed"))?;
    let tag = image
        + text[image..].find("newTag: ").with_context(|| format!("no newTag for {IMAGE_NAME} in {RELEASE_FILE}"))?
        + "newTag: ".len();
    let from = text[tag..].lines().next().unwrap_or_default().trim().to_string();
    let to = next_minor(&from).with_context(|| format!("the image tag {from:?} is not MAJOR.MINOR.PATCH"))?;
    let changed = format!("{}{to}{}", &text[..tag], &text[tag + from.len()..]);
    Ok((changed, from, to))
}

struct Release {
    from: String,
    to: String,
    dev: String,
    merge: String,
}

/// Commits the next collector version to store-app's `dev` and merges `dev` into `prod` (a
/// merge commit, now): the promotion the fleet rolls out.
fn release(store_app: &Path) -> Result<Release> {
    run_git(store_app, &["checkout", "-q", "dev"], None)?;
    let path = store_app.join(RELEASE_FILE);
    let (text, from, to) = bump_tag(&std::fs::read_to_string(&path)?)?;
    std::fs::write(&path, text)?;
    run_git(store_app, &["commit", "-q", "-am", &format!("bt-collector {to}")], None)?;
    let dev = run_git(store_app, &["rev-parse", "HEAD"], None)?;
    run_git(store_app, &["checkout", "-q", "prod"], None)?;
    let message = format!("Promote dev to prod: bt-collector {to}");
    run_git(store_app, &["merge", "-q", "--no-ff", "dev", "-m", &message], None)?;
    let merge = run_git(store_app, &["rev-parse", "HEAD"], None)?;
    Ok(Release { from, to, dev, merge })
}

/// Runs git in `dir` (no user or system configuration), dated `at` (unix seconds) if given;
/// its output, trimmed.
fn run_git(dir: &Path, args: &[&str], at: Option<i64>) -> Result<String> {
    let mut command = git_command(dir);
    if let Some(at) = at {
        command.env("GIT_AUTHOR_DATE", format!("@{at} +0000")).env("GIT_COMMITTER_DATE", format!("@{at} +0000"));
    }
    let out = command.args(args).output().context("running git")?;
    ensure!(
        out.status.success(),
        "git {} in {}: {}",
        args.join(" "),
        dir.display(),
        String::from_utf8_lossy(&out.stderr).trim()
    );
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
}

fn copy_tree(from: &Path, to: &Path) -> Result<()> {
    std::fs::create_dir_all(to)?;
    for entry in std::fs::read_dir(from).with_context(|| format!("reading {}", from.display()))? {
        let entry = entry?;
        let target = to.join(entry.file_name());
        if entry.file_type()?.is_dir() {
            copy_tree(&entry.path(), &target)?;
        } else {
            std::fs::copy(entry.path(), &target).with_context(|| format!("copying {}", entry.path().display()))?;
        }
    }
    Ok(())
}

fn unix_now() -> i64 {
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
    i64::try_from(now.as_secs()).unwrap_or(i64::MAX)
}

/// `1 store cluster`, `3 store clusters`.
fn count(n: usize, what: &str) -> String {
    if n == 1 { format!("1 {what}") } else { format!("{n} {what}s") }
}

fn short(commit: &str) -> &str {
    commit.get(..7).unwrap_or(commit)
}

// ---------------------------------------------------------------------------------------------
// The processes.

/// The processes the demo started, with their logs; stopped when dropped (also on panic).
#[derive(Debug)]
struct Children {
    logs: PathBuf,
    list: Vec<(String, Child)>,
}

impl Children {
    fn new(logs: PathBuf) -> Children {
        Children { logs, list: Vec::new() }
    }

    /// Starts `command` as `name`, its output in `logs/NAME.log`.
    fn spawn(&mut self, name: &str, command: &mut Command) -> Result<()> {
        let log = std::fs::File::create(self.log(name))?;
        let child = command
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .with_context(|| format!("starting {name}"))?;
        self.list.push((name.to_string(), child));
        Ok(())
    }

    fn log(&self, name: &str) -> PathBuf {
        self.logs.join(format!("{name}.log"))
    }

    /// The last lines of `name`'s log.
    fn tail(&self, name: &str) -> String {
        let text = std::fs::read_to_string(self.log(name)).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(12)..].join("\n")
    }

    fn pid(&self, name: &str) -> Option<u32> {
        self.list.iter().find(|(n, _)| n == name).map(|(_, c)| c.id())
    }

    /// An error naming the first process that exited, with the end of its log.
    fn check(&mut self) -> Result<()> {
        let mut exited: Option<(String, ExitStatus)> = None;
        for (name, child) in &mut self.list {
            if let Ok(Some(status)) = child.try_wait() {
                exited = Some((name.clone(), status));
                break;
            }
        }
        match exited {
            None => Ok(()),
            Some((name, status)) => {
                // Both stop cleanly on SIGTERM or SIGINT only, which the demo sends last.
                let why = if status.success() { ", asked to stop by a signal from outside the demo" } else { "" };
                bail!("{name} exited ({status}{why}); its log ends:\n{}", self.tail(&name))
            }
        }
    }

    /// SIGTERM to every process still running, SIGKILL to those still running [`STOP_GRACE`]
    /// later; returns how many there were.
    fn stop(&mut self) -> usize {
        let count = self.list.len();
        let running: Vec<String> = self
            .list
            .iter_mut()
            .filter_map(|(_, c)| matches!(c.try_wait(), Ok(None)).then(|| c.id().to_string()))
            .collect();
        if !running.is_empty() {
            let _ = Command::new("kill").arg("-TERM").args(&running).stderr(Stdio::null()).status();
        }
        let deadline = Instant::now() + STOP_GRACE;
        for (name, child) in &mut self.list {
            while matches!(child.try_wait(), Ok(None)) && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(20));
            }
            if matches!(child.try_wait(), Ok(None)) {
                eprintln!("demo: {name} did not stop within {} s of SIGTERM: killing it", STOP_GRACE.as_secs());
                let _ = child.kill();
            }
            let _ = child.wait();
        }
        self.list.clear();
        count
    }
}

impl Drop for Children {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Starts `hub-index serve` open on loopback at `listen`, with a join token made first; its URL
/// once it listens (`:0` gives any free port).
async fn start_hub(
    binaries: &Binaries,
    root: &Path,
    daemon: &GitDaemon,
    listen: SocketAddr,
    children: &mut Children,
) -> Result<String> {
    let dir = root.join("hub");
    let join = Command::new(&binaries.hub)
        .current_dir(&dir)
        .args(["join-token", "create", "--db", "sqlite:hub.db"])
        .output()
        .context("running hub-index join-token create")?;
    ensure!(join.status.success(), "hub-index join-token create: {}", String::from_utf8_lossy(&join.stderr).trim());
    std::fs::write(root.join("join-token"), &join.stdout)?;
    children.spawn(
        "hub-index",
        Command::new(&binaries.hub).current_dir(&dir).args([
            "serve",
            "--fleet-repo",
            &daemon.url("fleet"),
            "--db",
            "sqlite:hub.db",
            "--listen",
            &listen.to_string(),
            "--open-on-loopback",
            "--fleet-poll",
            HUB_FLEET_POLL,
            "--cache-dir",
            "cache",
        ]),
    )?;
    let started = Instant::now();
    loop {
        let log = std::fs::read_to_string(children.log("hub-index")).unwrap_or_default();
        if let Some(url) = log.lines().find_map(|l| l.split_once("listening on ").map(|(_, url)| url)) {
            return Ok(url.trim().to_string());
        }
        children.check()?;
        ensure!(
            started.elapsed() < Duration::from_secs(60),
            "hub-index did not start within 60 s:\n{}",
            children.tail("hub-index")
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Writes each cluster's `agent.yaml`, registers the clusters with the hub (a few at a time)
/// and starts `pull-agent run` for each.
fn register_and_start_agents(
    binaries: &Binaries,
    root: &Path,
    fleet_url: &str,
    hub_url: &str,
    members: &[Member],
    children: &mut Children,
) -> Result<()> {
    let join = root.join("join-token");
    let home = |m: &Member| root.join("agents").join(&m.name);
    for m in members {
        std::fs::create_dir_all(home(m))?;
        std::fs::write(home(m).join("agent.yaml"), agent_config(m, fleet_url, hub_url))?;
    }
    for batch in members.chunks(REGISTER_AT_ONCE) {
        let mut running = Vec::new();
        for m in batch {
            let child = Command::new(&binaries.agent)
                .current_dir(home(m))
                .args(["register", "--config", "agent.yaml", "--join-token"])
                .arg(&join)
                .stdin(Stdio::null())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .context("running pull-agent register")?;
            running.push((m, child));
        }
        // Every one waited for before any failure is reported: none is left running.
        let answers: Vec<_> = running.into_iter().map(|(m, child)| (m, child.wait_with_output())).collect();
        for (m, answer) in answers {
            let answer = answer.with_context(|| format!("pull-agent register for {}", m.name))?;
            let said = String::from_utf8_lossy(&answer.stderr);
            ensure!(answer.status.success(), "pull-agent register for {}: {}", m.name, said.trim());
        }
    }
    for m in members {
        children.spawn(
            &m.name,
            Command::new(&binaries.agent).current_dir(home(m)).args(["run", "--config", "agent.yaml"]),
        )?;
    }
    Ok(())
}

/// The memory the agents and the hub hold (VmRSS from /proc), as a sentence; `None` where
/// there is no /proc.
fn memory(children: &Children) -> Option<String> {
    let rss_kib = |pid: u32| -> Option<u64> {
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
        status.lines().find_map(|l| l.strip_prefix("VmRSS:"))?.trim().strip_suffix("kB")?.trim().parse().ok()
    };
    let mut agents: Vec<u64> = Vec::new();
    for (name, child) in &children.list {
        if name != "hub-index" {
            agents.push(rss_kib(child.id())?);
        }
    }
    let hub = rss_kib(children.pid("hub-index")?)?;
    let total: u64 = agents.iter().sum();
    let mib = |kib: u64| format!("{:.1} MiB", kib_to_mib(kib));
    let count = u64::try_from(agents.len()).unwrap_or(u64::MAX).max(1);
    Some(format!(
        "{} pull-agents {} in all ({} each on average, {} the most), hub-index {}; together {}",
        agents.len(),
        mib(total),
        mib(total / count),
        mib(agents.iter().copied().max().unwrap_or(0)),
        mib(hub),
        mib(total + hub)
    ))
}

#[expect(clippy::cast_precision_loss, reason = "a memory size shown with one decimal")]
fn kib_to_mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}

// ---------------------------------------------------------------------------------------------
// What the hub says.

/// The hub's JSON API, open on loopback (no token).
type Api = Client;

/// Waits until the hub has a report from every member, each synced, and every placement's
/// clusters run its branch head; shows the count meanwhile.
async fn wait_synced(
    hub: &Api,
    members: &[Member],
    children: &mut Children,
    screen: &mut Screen,
    patience: Duration,
) -> Result<()> {
    let started = Instant::now();
    let mut last;
    loop {
        children.check()?;
        match synced(hub).await {
            Ok((synced, all_on_head, summary)) => {
                last = format!("by standing {:?}", summary.by_standing);
                let line = format!("{synced}/{} clusters synced on prod", members.len());
                let elapsed = clock(started.elapsed());
                screen.show(&[format!("  {line}  ({elapsed})")], &line, &elapsed);
                if synced == members.len() && all_on_head {
                    screen.done();
                    return Ok(());
                }
            }
            Err(e) => last = format!("{e:#}"),
        }
        if started.elapsed() > patience {
            screen.done();
            let laggard = &members[members.len() - 1].name;
            bail!(
                "not every cluster synced within {} s (the hub said: {last}); the log of {laggard} ends:\n{}",
                patience.as_secs(),
                children.tail(laggard)
            );
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

/// How many clusters are synced, whether every placement's clusters run its head, and the
/// summary.
async fn synced(hub: &Api) -> Result<(usize, bool, Summary)> {
    let summary = hub.summary().await?;
    let synced = summary.by_standing.get("synced").copied().unwrap_or(0);
    if synced < summary.clusters || summary.by_placement.is_empty() {
        return Ok((synced, false, summary));
    }
    for placement in summary.by_placement.keys() {
        let lag = hub.lag(placement, ENVIRONMENT, 0, 1).await?;
        if lag.on_head < lag.clusters {
            return Ok((synced, false, summary));
        }
    }
    Ok((synced, true, summary))
}

/// What one store runs of [`PLACEMENT`], as the hub's cluster view says.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct Running {
    commit: Option<String>,
    digest: Option<String>,
    images: Vec<String>,
}

/// What each of `stores` runs of [`PLACEMENT`], by name.
async fn running(hub: &Api, stores: &[&str]) -> Result<BTreeMap<String, Running>> {
    let mut out = BTreeMap::new();
    for name in stores {
        let view = hub.cluster(name).await?;
        let running = view
            .placements
            .into_iter()
            .find(|p| p.name == PLACEMENT)
            .map(|p| Running { commit: p.applied_commit, digest: p.applied_digest, images: p.images })
            .unwrap_or_default();
        out.insert((*name).to_string(), running);
    }
    Ok(out)
}

/// Why `now` is not the release on a store that ran `before`: `None` when it runs the `merge`,
/// its objects changed (the digest) and it runs `image`.
fn not_released(before: Option<&Running>, now: &Running, merge: &str, image: &str) -> Option<String> {
    if now.commit.as_deref() != Some(merge) {
        return Some(format!("runs commit {}", now.commit.as_deref().map_or("(none)", short)));
    }
    if before.is_some_and(|b| b.digest == now.digest) {
        return Some(
            "runs the merge, but what it renders did not change (the same digest as before the release)".into(),
        );
    }
    if !now.images.iter().any(|i| i == image) {
        return Some(format!("runs {}, not {image}", now.images.join(", ")));
    }
    None
}

/// Waits until the hub reports every one of `stores` on the release: the merge, a new digest,
/// the new image; what each runs then. A release that changed nothing fails here.
#[expect(clippy::too_many_arguments, reason = "the demo's state, passed as it is")]
async fn wait_running(
    hub: &Api,
    stores: &[&str],
    before: &BTreeMap<String, Running>,
    merge: &str,
    image: &str,
    children: &mut Children,
    merged: Instant,
    patience: Duration,
) -> Result<BTreeMap<String, Running>> {
    loop {
        children.check()?;
        let now = running(hub, stores).await?;
        let wrong: Vec<String> = now
            .iter()
            .filter_map(|(name, r)| not_released(before.get(name), r, merge, image).map(|why| format!("{name} {why}")))
            .collect();
        if wrong.is_empty() {
            return Ok(now);
        }
        if merged.elapsed() > patience {
            bail!("the hub does not report every store on the release {image}: {}", wrong.join("; "));
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

/// One line per image: how many stores run it, and which.
fn images_by_store(running: &BTreeMap<String, Running>) -> Vec<String> {
    let mut by_image: BTreeMap<String, Vec<&str>> = BTreeMap::new();
    for (name, r) in running {
        let images = if r.images.is_empty() { "(none reported)".to_string() } else { r.images.join(", ") };
        by_image.entry(images).or_default().push(name);
    }
    by_image
        .into_iter()
        .map(|(images, names)| {
            let shown = if names.len() > 6 {
                format!("{} … {}", names[..3].join(", "), names[names.len() - 2..].join(", "))
            } else {
                names.join(", ")
            };
            format!("{images}: {} ({shown})", count(names.len(), "store"))
        })
        .collect()
}

/// Draws the rollout of [`PLACEMENT`] every second until every one of the `stores` runs `merge`.
async fn watch_rollout(
    hub: &Api,
    merge: &str,
    stores: usize,
    children: &mut Children,
    screen: &mut Screen,
    merged: Instant,
    patience: Duration,
) -> Result<()> {
    let mut last_error = String::new();
    loop {
        children.check()?;
        match hub.rollout(PLACEMENT, ENVIRONMENT).await {
            Ok(rollout) => {
                let (lines, line) = draw(&rollout, merge, stores, merged.elapsed(), unix_now());
                screen.show(&lines, &line, &clock(merged.elapsed()));
                if complete(&rollout, merge, stores) {
                    screen.done();
                    return Ok(());
                }
            }
            Err(e) => last_error = format!("{e:#}"),
        }
        if merged.elapsed() > patience {
            screen.done();
            bail!(
                "the rollout did not complete within {} s (last error: {last_error:?}); the hub's log ends:\n{}",
                patience.as_secs(),
                children.tail("hub-index")
            );
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

/// Whether the hub knows the merge as the head and all `stores` run it.
fn complete(rollout: &Rollout, merge: &str, stores: usize) -> bool {
    rollout.head.as_deref() == Some(merge)
        && rollout.waves.iter().map(|w| w.clusters).sum::<usize>() == stores
        && rollout.waves.iter().all(|w| w.on_head == w.clusters)
}

/// The rollout as terminal lines (a bar per wave and one for all stores) and as one plain line
/// for a log (without the time, so that it changes only with the rollout); `now` in unix
/// seconds, for when a wave's bake ends.
fn draw(rollout: &Rollout, merge: &str, stores: usize, since_merge: Duration, now: i64) -> (Vec<String>, String) {
    const WIDTH: usize = 24;
    let elapsed = clock(since_merge);
    if rollout.head.as_deref() != Some(merge) {
        let line = format!("waiting for the hub to read prod's new head {}", short(merge));
        return (vec![format!("  {line}  ({elapsed})")], line);
    }
    let name_width = rollout.waves.iter().map(|w| w.name.len()).max().unwrap_or(0).max("all stores".len());
    let count_width = stores.to_string().len();
    let mut lines = Vec::new();
    let mut plain = Vec::new();
    for w in &rollout.waves {
        let mut note = String::new();
        if w.on_head < w.clusters {
            if let Some(seconds) =
                w.head_reaches_it_at.as_deref().and_then(flotilla_core::calendar::unix_ms).map(|ms| ms / 1_000 - now)
                && seconds > 0
            {
                note = format!("  bakes: takes it in {seconds} s");
            } else if w.halted.is_some() {
                note = "  halted: too many failures before it".to_string();
            }
        }
        if w.failed > 0 {
            let _ = write!(note, "  {} failed", w.failed);
        }
        lines.push(format!(
            "  {:name_width$}  {}  {:>count_width$}/{:<count_width$}{note}",
            w.name,
            bar(w.on_head, w.clusters, WIDTH),
            w.on_head,
            w.clusters
        ));
        plain.push(format!("{} {}/{}", w.name, w.on_head, w.clusters));
    }
    let on_head: usize = rollout.waves.iter().map(|w| w.on_head).sum();
    lines.push(format!(
        "  {:name_width$}  {}  {on_head:>count_width$}/{stores:<count_width$}  on {}, {elapsed} after the merge",
        "all stores",
        bar(on_head, stores, WIDTH),
        short(merge)
    ));
    plain.push(format!("all stores {on_head}/{stores}"));
    (lines, plain.join("  "))
}

/// A progress bar of `width` cells, `done` of `total` filled (rounded down: full only at the end).
fn bar(done: usize, total: usize, width: usize) -> String {
    let filled = (done.min(total) * width).checked_div(total).unwrap_or(width);
    format!("{}{}", "█".repeat(filled), "░".repeat(width - filled))
}

/// `m:ss`.
fn clock(elapsed: Duration) -> String {
    let seconds = elapsed.as_secs();
    format!("{}:{:02}", seconds / 60, seconds % 60)
}

/// Where the live lines go: redrawn in place on a terminal; on anything else (a log, CI) a
/// plain line, stamped, each time it changes.
struct Screen {
    tty: bool,
    drawn: usize,
    last: String,
}

impl Screen {
    fn new() -> Screen {
        Screen { tty: std::io::stdout().is_terminal(), drawn: 0, last: String::new() }
    }

    fn show(&mut self, lines: &[String], plain: &str, stamp: &str) {
        let mut out = std::io::stdout().lock();
        if self.tty {
            let mut text = String::new();
            if self.drawn > 0 {
                let _ = write!(text, "\x1b[{}A", self.drawn);
            }
            for line in lines {
                let _ = writeln!(text, "\x1b[2K{line}");
            }
            // Fewer lines than last time: clear the rest.
            for _ in lines.len()..self.drawn {
                text.push_str("\x1b[2K\n");
            }
            let extra = self.drawn.saturating_sub(lines.len());
            if extra > 0 {
                let _ = write!(text, "\x1b[{extra}A");
            }
            self.drawn = lines.len();
            let _ = out.write_all(text.as_bytes());
        } else if plain != self.last {
            let _ = writeln!(out, "  {stamp}  {plain}");
            self.last = plain.to_string();
        }
        let _ = out.flush();
    }

    /// What is drawn stays; the next lines go below it.
    fn done(&mut self) {
        self.drawn = 0;
        self.last.clear();
    }
}

#[cfg(test)]
mod tests {
    use flotilla_core::fleet::Fleet;
    use flotilla_core::snapshot::Snapshot;

    use hub_index::api::WaveProgress;

    use super::*;

    fn parse_line(text: &str) -> Result<Options> {
        use clap::Parser as _;
        parse(&Args::try_parse_from(std::iter::once("demo").chain(text.split_whitespace()))?)
    }

    fn example(path: &str) -> String {
        std::fs::read_to_string(crate::root().join("examples/retail-fleet").join(path)).unwrap()
    }

    #[test]
    fn the_command_line_has_defaults_and_refuses_what_cannot_run() {
        assert_eq!(parse_line("").unwrap(), Options::default());
        let options =
            parse_line("--stores 5 --clouds 0 --listen [::1]:0 --bake 1m --release --exit-when-done").unwrap();
        let expected = Options {
            stores: 5,
            clouds: 0,
            listen: "[::1]:0".parse().unwrap(),
            bake_seconds: 60,
            release: true,
            exit_when_done: true,
        };
        assert_eq!(options, expected);
        for (bad, says) in [
            ("--stores 0", "--stores 0"),
            ("--stores many", "--stores"),
            ("--listen 0.0.0.0:8080", "loopback"),
            ("--listen localhost", "invalid value 'localhost' for '--listen"),
            ("--bake 2", "--bake \"2\""),
            ("--stores", "a value is required for '--stores"),
            ("--verbose", "unexpected argument '--verbose'"),
        ] {
            let error = format!("{:#}", parse_line(bad).unwrap_err());
            assert!(error.contains(says), "{bad}: {error}");
        }
    }

    #[test]
    fn the_demo_fleet_reads_as_a_fleet_with_a_quick_rollout_no_windows_and_the_demo_clusters() {
        let placement = quicken_rollout(&example("infra/fleet/placement-bt-collector.yaml"), 20).unwrap();
        let repositories =
            point_repositories(&example("infra/fleet/repositories.yaml"), &|name| format!("git://127.0.0.1:1/{name}"))
                .unwrap();
        let members = members(5, 3);
        let mut snapshot = Snapshot::new();
        snapshot.insert_file("fleet/placement-bt-collector.yaml", placement);
        snapshot.insert_file("fleet/repositories.yaml", repositories);
        snapshot.insert_file("fleet/clusters.yaml", inventory(&members));
        let (fleet, errors) = Fleet::from_snapshot(&snapshot);
        assert_eq!(errors, []);

        let collector = fleet.placements.iter().find(|p| p.name() == PLACEMENT).unwrap();
        let rollout = collector.spec.rollout.as_ref().unwrap();
        assert_eq!(rollout.bake.as_ref().map(flotilla_core::fleet::Bake::as_str), Some("20s"));
        assert_eq!(rollout.waves.iter().map(|w| w.name.as_str()).collect::<Vec<_>>(), ["canary", "early", "everyone"]);
        assert!(rollout.halt.is_some(), "the halt stays");
        assert_eq!(collector.spec.windows, []);
        assert_eq!(collector.spec.customizations.len(), 3, "the rest of the placement stays");

        let urls: Vec<&str> = fleet.repositories.iter().map(flotilla_core::fleet::Repository::url).collect();
        assert_eq!(urls, ["git://127.0.0.1:1/cloud-services", "git://127.0.0.1:1/store-app"]);

        let labels = |name: &str| format!("{:?}", fleet.cluster(name).unwrap().metadata.labels);
        assert_eq!(fleet.clusters.len(), 8);
        assert_eq!(labels("store-0001"), r#"{"canary": "true", "kind": "store", "region": "us-east"}"#);
        assert_eq!(labels("store-0003"), r#"{"canary": "false", "kind": "store", "region": "eu-west"}"#);
        assert_eq!(labels("cloud-us-east-1"), r#"{"kind": "cloud", "region": "us-east"}"#);
        assert!(fleet.clusters.iter().all(|c| c.spec.environment == "prod"));
        assert_eq!(members[7].name, "cloud-eu-west-1");
    }

    #[test]
    fn an_agent_config_names_its_cluster_fleet_and_hub() {
        let member = &members(1, 0)[0];
        let text = agent_config(member, "git://127.0.0.1:9418/fleet", "http://127.0.0.1:8080");
        let config = pull_agent_config(&text);
        assert!(config.contains("name: store-0001"), "{config}");
        assert!(config.contains(r#"labels: {canary: "true", kind: "store", region: "us-east"}"#), "{config}");
        assert!(config.contains("pollInterval: 5s") && config.contains("simulated: true"), "{config}");
    }

    /// The config as the agent's tests would check it: every key the agent knows, nothing else.
    fn pull_agent_config(text: &str) -> String {
        let value = flotilla_core::yaml::load_one(text.as_bytes()).unwrap();
        let keys: Vec<&String> = value.as_object().unwrap().keys().collect();
        assert_eq!(keys, ["cluster", "fleet", "hub", "kubernetes", "pollInterval", "stateDir"]);
        text.to_string()
    }

    #[test]
    fn a_store_is_on_the_release_when_it_runs_the_merge_a_new_digest_and_the_new_image() {
        let merge = "a".repeat(40);
        let image = format!("{IMAGE_NAME}:1.5.0");
        let run = |commit: &str, digest: &str, image: &str| Running {
            commit: Some(commit.to_string()),
            digest: Some(digest.to_string()),
            images: vec![image.to_string()],
        };
        let before = run(&"b".repeat(40), "sha256:old", &format!("{IMAGE_NAME}:1.4.2"));
        assert_eq!(not_released(Some(&before), &run(&merge, "sha256:new", &image), &merge, &image), None);
        // The demo's old release: the merge runs, but nothing it renders changed.
        let same =
            not_released(Some(&before), &run(&merge, "sha256:old", &format!("{IMAGE_NAME}:1.4.2")), &merge, &image);
        assert!(same.unwrap().contains("did not change"));
        let old_image =
            not_released(Some(&before), &run(&merge, "sha256:new", &format!("{IMAGE_NAME}:1.4.2")), &merge, &image);
        assert!(old_image.unwrap().contains("not registry.retail.example/store/bt-collector:1.5.0"));
        assert!(not_released(Some(&before), &before, &merge, &image).unwrap().starts_with("runs commit bbbbbbb"));
        let stores: BTreeMap<String, Running> =
            (1..=8).map(|i| (format!("store-{i:04}"), run(&merge, "sha256:new", &image))).collect();
        assert_eq!(
            images_by_store(&stores),
            [format!("{image}: 8 stores (store-0001, store-0002, store-0003 … store-0007, store-0008)")]
        );
    }

    #[test]
    fn the_release_changes_what_the_stores_render() {
        // The store-app repository as files, the release made on them as the demo makes it.
        let app = crate::root().join("examples/retail-fleet/store-app");
        let mut snapshot = flotilla_core::snapshot::Snapshot::new();
        let mut stack = vec![app.clone()];
        while let Some(dir) = stack.pop() {
            for entry in std::fs::read_dir(&dir).unwrap() {
                let path = entry.unwrap().path();
                if path.is_dir() {
                    stack.push(path);
                } else {
                    let rel = path.strip_prefix(&app).unwrap().to_string_lossy().into_owned();
                    snapshot.insert_file(rel, std::fs::read(&path).unwrap());
                }
            }
        }
        let store = |snapshot: &flotilla_core::snapshot::Snapshot| {
            serde_json::to_string(&flotilla_core::kustomize::build(snapshot, "deploy/overlays/store").unwrap()).unwrap()
        };
        let before = store(&snapshot);
        let (text, from, to) = bump_tag(&example(&format!("store-app/{RELEASE_FILE}"))).unwrap();
        assert_eq!((from.as_str(), to.as_str()), ("1.4.2", "1.5.0"));
        snapshot.insert_file(RELEASE_FILE, text.into_bytes());
        let after = store(&snapshot);
        // What a store runs changes: the collector's image, and nothing still runs the old one.
        assert!(before.contains(&format!("{IMAGE_NAME}:1.4.2")), "{before}");
        assert!(after.contains(&format!("{IMAGE_NAME}:1.5.0")), "{after}");
        assert!(!after.contains(&format!("{IMAGE_NAME}:1.4.2")), "{after}");
        assert_eq!(next_minor("2.19.7").as_deref(), Some("2.20.0"));
        assert_eq!(next_minor("latest"), None);
    }

    fn wave(name: &str, clusters: usize, on_head: usize, reaches: Option<&str>) -> WaveProgress {
        WaveProgress {
            name: name.into(),
            clusters,
            target: None,
            head_reaches_it_at: reaches.map(Into::into),
            on_target: 0,
            on_head,
            failed: 0,
            waiting: 0,
            halted: None,
        }
    }

    /// A rollout of the demo's placement at `head`, in `waves`.
    fn rollout_at(head: &str, waves: Vec<WaveProgress>) -> Rollout {
        Rollout {
            placement: PLACEMENT.into(),
            environment: ENVIRONMENT.into(),
            head: Some(head.into()),
            bake_seconds: 20,
            waves,
            halt: None,
            arrivals: Vec::new(),
        }
    }

    #[test]
    fn the_rollout_is_drawn_a_bar_per_wave_and_one_for_all_stores() {
        assert_eq!(bar(0, 4, 8), "░░░░░░░░");
        assert_eq!(bar(3, 4, 8), "██████░░");
        assert_eq!(bar(4, 4, 8), "████████");
        assert_eq!(bar(0, 0, 4), "████", "an empty wave has nothing left to do");
        let merge = "m".repeat(40);
        // 2027-01-15T08:00:00Z is 1_800_000_000; the early wave takes it 14 s after "now".
        let rollout = rollout_at(
            &merge,
            vec![
                wave("canary", 2, 2, None),
                wave("early", 5, 0, Some("2027-01-15T08:00:14Z")),
                wave("everyone", 43, 0, Some("2027-01-15T08:00:34Z")),
            ],
        );
        let (lines, plain) = draw(&rollout, &merge, 50, Duration::from_secs(12), 1_800_000_000);
        assert_eq!(
            lines,
            [
                "  canary      ████████████████████████   2/2 ",
                "  early       ░░░░░░░░░░░░░░░░░░░░░░░░   0/5   bakes: takes it in 14 s",
                "  everyone    ░░░░░░░░░░░░░░░░░░░░░░░░   0/43  bakes: takes it in 34 s",
                "  all stores  ░░░░░░░░░░░░░░░░░░░░░░░░   2/50  on mmmmmmm, 0:12 after the merge",
            ]
        );
        assert_eq!(plain, "canary 2/2  early 0/5  everyone 0/43  all stores 2/50");
        assert!(!complete(&rollout, &merge, 50));

        let (lines, _) = draw(&Rollout { head: Some("old".into()), ..rollout.clone() }, &merge, 50, Duration::ZERO, 0);
        assert_eq!(lines, ["  waiting for the hub to read prod's new head mmmmmmm  (0:00)"]);
        let done = rollout_at(
            &merge,
            vec![wave("canary", 2, 2, None), wave("early", 5, 5, None), wave("everyone", 43, 43, None)],
        );
        assert!(complete(&done, &merge, 50));
        assert!(!complete(&done, &merge, 51), "a store the hub does not count yet");
    }
}
