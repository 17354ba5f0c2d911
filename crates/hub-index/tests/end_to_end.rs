//! The whole system as processes: a real `git daemon`, the `hub-index` binary and three real
//! `pull-agent` processes (each with a simulated cluster inside). A promotion from `dev` to `prod`
//! with the `git` CLI reaches every cluster and the hub; a change made while the hub is down is
//! spooled by the agents and arrives when the hub is back, with nothing left behind. And the
//! governance path: the agents evaluate and enforce the fleet's policies, the hub shows the
//! compliance, keeps the evidence chained and audits a standard from it.
//!
//! Not a load test and not a fault-injection test of single requests: `api.rs` covers those.

mod common;

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{WEB_PLACEMENT, fleet_repository};
use flotilla_git::testing::{GitDaemon, git};
use serde_json::Value;

const CLUSTERS: [&str; 3] = ["store-0001", "store-0002", "store-0003"];

const VIEWER: &str = "flt_view_end_to_end_token";

/// The processes of one test, killed when it ends, also on panic.
#[derive(Default)]
struct Processes {
    children: Vec<(String, Child)>,
}

impl Processes {
    fn spawn(&mut self, name: &str, mut command: Command, log: &Path) {
        let log = std::fs::File::create(log).unwrap();
        let child = command.stdin(Stdio::null()).stdout(log.try_clone().unwrap()).stderr(log).spawn().unwrap();
        self.children.push((name.to_string(), child));
    }

    fn take(&mut self, name: &str) -> Child {
        let i = self.children.iter().position(|(n, _)| n == name).unwrap();
        self.children.remove(i).1
    }
}

impl Drop for Processes {
    fn drop(&mut self) {
        for (_, child) in &mut self.children {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// A binary of another package of the workspace, as `cargo test --workspace` builds it beside
/// the test binaries. Not built from here: a nested `cargo build -p` resolves other features and
/// rebuilds half the workspace. A missing or stale binary is an error saying what to run.
fn workspace_binary(package: &str) -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let dir = exe.parent().and_then(Path::parent).expect("the test binary lives in target/<profile>/deps");
    let path = dir.join(package);
    let rebuild = format!("run `cargo build -p {package}` first (`cargo test --workspace` builds it)");
    let built = std::fs::metadata(&path)
        .and_then(|m| m.modified())
        .unwrap_or_else(|_| panic!("{} is missing: {rebuild}", path.display()));
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    for crate_dir in ["crates/core", "crates/git", "crates/kube-testserver", &format!("crates/{package}")] {
        if let Some(newer) = newest(&root.join(crate_dir).join("src")).filter(|(t, _)| *t > built) {
            panic!("{} is older than {}: {rebuild}", path.display(), newer.1.display());
        }
    }
    path
}

/// The most recently modified file under `dir`, and when.
fn newest(dir: &Path) -> Option<(std::time::SystemTime, PathBuf)> {
    let mut found: Option<(std::time::SystemTime, PathBuf)> = None;
    for entry in std::fs::read_dir(dir).ok()?.flatten() {
        let path = entry.path();
        let candidate = if path.is_dir() {
            newest(&path)
        } else {
            entry.metadata().and_then(|m| m.modified()).ok().map(|t| (t, path))
        };
        if let Some(c) = candidate
            && found.as_ref().is_none_or(|n| c.0 > n.0)
        {
            found = Some(c);
        }
    }
    found
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

struct World {
    dir: tempfile::TempDir,
    daemon: GitDaemon,
    port: u16,
    processes: Processes,
    client: reqwest::Client,
    hub_starts: usize,
}

impl World {
    /// The fleet repository (prod, and dev at the same commit) served by `git daemon`.
    fn new() -> World {
        World::with(&[("fleet/fleet.yaml", WEB_PLACEMENT)])
    }

    /// [`World::new`], with more files in the fleet repository (or other text for its files).
    fn with(files: &[(&str, &str)]) -> World {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("logs")).unwrap();
        std::fs::write(dir.path().join("viewer-token"), format!("{VIEWER}\n")).unwrap();
        let mut all = vec![
            ("fleet/fleet.yaml", WEB_PLACEMENT.to_string()),
            ("web/namespace.yaml", "apiVersion: v1\nkind: Namespace\nmetadata: {name: shop}\n".to_string()),
            ("web/cm.yaml", config_map("one")),
        ];
        for (path, text) in files {
            all.retain(|(p, _)| p != path);
            all.push((path, (*text).to_string()));
        }
        let all: Vec<(&str, &str)> = all.iter().map(|(p, t)| (*p, t.as_str())).collect();
        fleet_repository(dir.path(), &all, &["dev"]);
        let daemon = GitDaemon::start(dir.path());

        World {
            dir,
            daemon,
            port: free_port(),
            processes: Processes::default(),
            client: reqwest::Client::builder().timeout(Duration::from_secs(5)).build().unwrap(),
            hub_starts: 0,
        }
    }

    fn fleet(&self) -> PathBuf {
        self.dir.path().join("fleet")
    }

    fn db(&self) -> String {
        format!("sqlite:{}", self.dir.path().join("hub.db").display())
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    fn state(&self, cluster: &str) -> PathBuf {
        self.dir.path().join(cluster).join("state")
    }

    fn logs(&self) -> String {
        let mut text = String::new();
        for entry in std::fs::read_dir(self.dir.path().join("logs")).unwrap() {
            let path = entry.unwrap().path();
            let log = std::fs::read_to_string(&path).unwrap_or_default();
            let tail: Vec<&str> = log.lines().rev().take(15).collect();
            writeln!(text, "--- {} (tail)", path.display()).expect("writing to a String");
            for line in tail.into_iter().rev() {
                text.push_str(line);
                text.push('\n');
            }
        }
        text
    }

    async fn start_hub(&mut self) {
        let mut command = Command::new(env!("CARGO_BIN_EXE_hub-index"));
        command.current_dir(self.dir.path()).arg("serve").args([
            "--fleet-repo",
            &self.daemon.url("fleet"),
            "--db",
            &self.db(),
            "--listen",
            &format!("127.0.0.1:{}", self.port),
            "--viewer-token-file",
            "viewer-token",
            "--fleet-poll",
            "1s",
            "--offline-after",
            "1h",
            "--cache-dir",
            "hub-cache",
        ]);
        self.hub_starts += 1;
        let log = self.dir.path().join(format!("logs/hub-{}.log", self.hub_starts));
        self.processes.spawn("hub", command, &log);
        let started = Instant::now();
        loop {
            let answer = self.client.get(format!("{}/healthz", self.url())).send().await;
            if answer.is_ok_and(|r| r.status().is_success()) {
                return;
            }
            assert!(started.elapsed() < Duration::from_secs(15), "the hub did not start\n{}", self.logs());
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// SIGTERM, then waits for the hub to exit; a hub that does not is a failure of the test.
    fn stop_hub(&mut self) {
        let mut hub = self.processes.take("hub");
        let status = Command::new("kill").args(["-TERM", &hub.id().to_string()]).status().unwrap();
        assert!(status.success());
        let started = Instant::now();
        while hub.try_wait().unwrap().is_none() {
            if started.elapsed() > Duration::from_secs(10) {
                let _ = hub.kill();
                let _ = hub.wait();
                panic!("the hub did not stop within 10 s of SIGTERM\n{}", self.logs());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn start_agent(&mut self, cluster: &str) {
        let home = self.dir.path().join(cluster);
        std::fs::create_dir_all(&home).unwrap();
        let config = home.join("agent.yaml");
        std::fs::write(
            &config,
            format!(
                "cluster: {{name: {cluster}, environment: prod, labels: {{kind: store}}}}\n\
                 fleet: {{url: \"{}\"}}\nhub: {{url: \"{}\"}}\nstateDir: state\npollInterval: 1s\n\
                 kubernetes: {{simulated: true}}\n",
                self.daemon.url("fleet"),
                self.url()
            ),
        )
        .unwrap();
        let join = Command::new(env!("CARGO_BIN_EXE_hub-index"))
            .args(["join-token", "create", "--db", &self.db(), "--cluster-name-pattern", "store-*"])
            .output()
            .unwrap();
        assert!(join.status.success(), "{}", String::from_utf8_lossy(&join.stderr));
        std::fs::write(home.join("join-token"), &join.stdout).unwrap();
        let agent = workspace_binary("pull-agent");
        let register = Command::new(&agent)
            .args(["register", "--config"])
            .arg(&config)
            .arg("--join-token")
            .arg(home.join("join-token"))
            .output()
            .unwrap();
        assert!(register.status.success(), "register {cluster}: {}", String::from_utf8_lossy(&register.stderr));
        let mut run = Command::new(&agent);
        run.args(["run", "--config"]).arg(&config);
        let log = self.dir.path().join(format!("logs/{cluster}.log"));
        self.processes.spawn(cluster, run, &log);
    }

    async fn get(&self, path: &str) -> Option<Value> {
        let response = self.client.get(format!("{}{path}", self.url())).bearer_auth(VIEWER).send().await.ok()?;
        if !response.status().is_success() {
            return None;
        }
        serde_json::from_str(&response.text().await.ok()?).ok()
    }

    /// Polls `path` until `done` holds, for at most `limit`.
    async fn wait_for(&self, path: &str, what: &str, limit: Duration, done: impl Fn(&Value) -> bool) -> Value {
        let started = Instant::now();
        loop {
            let answer = self.get(path).await;
            if let Some(v) = answer.as_ref().filter(|v| done(v)) {
                return v.clone();
            }
            assert!(
                started.elapsed() < limit,
                "timed out after {limit:?} waiting for {what}; last answer: {answer:?}\n{}",
                self.logs()
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// Waits until every cluster reports placement `web` synced at `commit`.
    async fn wait_all_on(&self, commit: &str, limit: Duration) {
        for cluster in CLUSTERS {
            self.wait_for(&format!("/api/v1/clusters/{cluster}"), &format!("{cluster} on {commit}"), limit, |v| {
                v["placements"]
                    .as_array()
                    .is_some_and(|ps| ps.iter().any(|p| p["name"] == "web" && p["appliedCommit"] == commit))
            })
            .await;
        }
    }

    /// Commits a new ConfigMap value on `dev` and merges `dev` into `prod`; returns prod's head.
    fn promote(&self, value: &str) -> String {
        let fleet = self.fleet();
        git(&fleet, &["checkout", "-q", "dev"]);
        std::fs::write(fleet.join("web/cm.yaml"), config_map(value)).unwrap();
        git(&fleet, &["commit", "-q", "-am", &format!("web: {value}")]);
        git(&fleet, &["checkout", "-q", "prod"]);
        git(&fleet, &["merge", "-q", "--no-ff", "dev", "-m", "promote"]);
        git(&fleet, &["rev-parse", "prod"])
    }
}

fn config_map(value: &str) -> String {
    format!("apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: web, namespace: shop}}\ndata: {{v: \"{value}\"}}\n")
}

/// The spooled reports waiting in a cluster's state folder (`<digits>.json`).
fn spooled(state: &Path) -> Vec<String> {
    let Ok(entries) = std::fs::read_dir(state.join("spool")) else { return Vec::new() };
    let mut names: Vec<String> = entries
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|n| n.strip_suffix(".json").is_some_and(|s| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit())))
        .collect();
    names.sort();
    names
}

fn sequence_file(state: &Path) -> u64 {
    std::fs::read_to_string(state.join("sequence")).unwrap().trim().parse().unwrap()
}

#[tokio::test(flavor = "multi_thread")]
#[cfg_attr(flotilla_skip_git_daemon, ignore = "FLOTILLA_SKIP=git-daemon")]
async fn a_promotion_reaches_every_cluster_and_reports_spooled_while_the_hub_is_down_arrive() {
    let mut world = World::new();
    let first = git(&world.fleet(), &["rev-parse", "prod"]);
    world.start_hub().await;
    for cluster in CLUSTERS {
        world.start_agent(cluster);
    }

    // Every cluster synced on prod's head.
    world
        .wait_for("/api/v1/summary", "three synced clusters", Duration::from_secs(20), |v| {
            v["byStanding"]["synced"] == 3
        })
        .await;
    world.wait_all_on(&first, Duration::from_secs(10)).await;

    // A promotion with the git CLI reaches every cluster, and the lag ledger agrees.
    let second = world.promote("two");
    assert_ne!(second, first);
    world.wait_all_on(&second, Duration::from_secs(30)).await;
    let ledger = world
        .wait_for("/api/v1/lag?placement=web&environment=prod", "every cluster on head", Duration::from_secs(10), |v| {
            v["head"] == second && v["onHead"] == 3
        })
        .await;
    assert_eq!(ledger["clusters"], 3, "{ledger}");

    // The hub goes away; a change made meanwhile is applied and its reports are spooled.
    let mut before = Vec::new();
    for cluster in CLUSTERS {
        let detail = world.get(&format!("/api/v1/clusters/{cluster}")).await.unwrap();
        before.push(detail["lastSequence"].as_u64().expect("a registered cluster has a last sequence"));
    }
    world.stop_hub();
    let third = world.promote("three");
    let started = Instant::now();
    loop {
        let waiting: Vec<Vec<String>> = CLUSTERS.iter().map(|c| spooled(&world.state(c))).collect();
        if started.elapsed() >= Duration::from_secs(3) && waiting.iter().all(|w| !w.is_empty()) {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(15),
            "no spooled reports while the hub is down: {waiting:?}\n{}",
            world.logs()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    // The hub is back: the newest commit shows everywhere and every spool drains.
    world.start_hub().await;
    world.wait_all_on(&third, Duration::from_secs(20)).await;
    let started = Instant::now();
    for (cluster, before) in CLUSTERS.iter().zip(before) {
        let state = world.state(cluster);
        loop {
            // Agents keep reporting: compare the hub with the agent's sequence between two reads
            // of it that agree, so that no report is in flight.
            let agent = sequence_file(&state);
            let detail = world.get(&format!("/api/v1/clusters/{cluster}")).await;
            let hub = detail.as_ref().and_then(|d| d["lastSequence"].as_u64());
            let settled = agent == sequence_file(&state) && hub == Some(agent) && spooled(&state).is_empty();
            if settled {
                let detail = detail.expect("answered");
                assert!(agent > before, "{cluster}: reports after the restart ({agent}) follow {before}");
                let sequences: Vec<u64> =
                    detail["reports"].as_array().unwrap().iter().map(|r| r["sequence"].as_u64().unwrap()).collect();
                assert_eq!(sequences.first(), Some(&agent), "{cluster}: the newest report first: {sequences:?}");
                assert!(sequences.windows(2).all(|w| w[0] > w[1]), "{cluster}: history in order: {sequences:?}");
                assert!(
                    sequences.iter().any(|&s| s > before) && (sequences.len() == 20 || sequences.contains(&before)),
                    "{cluster}: the history spans the outage: {sequences:?}"
                );
                break;
            }
            assert!(
                started.elapsed() < Duration::from_secs(20),
                "{cluster}: the hub has {hub:?}, the agent {agent}, spool {:?}\n{}",
                spooled(&state),
                world.logs()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    let ledger = world
        .wait_for("/api/v1/lag?placement=web&environment=prod", "every cluster on head", Duration::from_secs(10), |v| {
            v["head"] == third && v["onHead"] == 3
        })
        .await;
    assert_eq!(ledger["clusters"], 3, "{ledger}");
}

/// Two policies of PCI-DSS: an enforced NetworkPolicy the placement does not ship (the agents
/// create it), and an informed ban on a ConfigMap the placement does ship (it stays, reported).
const POLICIES: &str = "
---
apiVersion: flotilla.dev/v1alpha1
kind: Policy
metadata: {name: default-deny}
spec:
  standards: [PCI-DSS v4.0]
  controls: [\"1.3.1\"]
  severity: high
  remediation: enforce
  clusters: {matchLabels: {kind: store}}
  objects:
  - compliance: musthave
    object:
      apiVersion: networking.k8s.io/v1
      kind: NetworkPolicy
      metadata: {name: default-deny, namespace: shop}
      spec: {podSelector: {}, policyTypes: [Ingress, Egress]}
---
apiVersion: flotilla.dev/v1alpha1
kind: Policy
metadata: {name: no-debug-config}
spec:
  standards: [PCI-DSS v4.0]
  controls: [\"2.2.1\"]
  severity: medium
  remediation: inform
  clusters: {matchLabels: {kind: store}}
  objects:
  - compliance: mustnothave
    object: {apiVersion: v1, kind: ConfigMap, metadata: {name: debug, namespace: shop}}
";

/// The counts of `policy` in a `/api/v1/compliance` answer.
fn policy_counts(view: &Value, policy: &str) -> Option<Value> {
    let standards = view["standards"].as_array()?;
    let controls = standards.iter().flat_map(|s| s["controls"].as_array().into_iter().flatten());
    let found = controls.flat_map(|c| c["policies"].as_array().into_iter().flatten()).find(|p| p["name"] == policy)?;
    Some(found["counts"].clone())
}

#[tokio::test(flavor = "multi_thread")]
#[cfg_attr(flotilla_skip_git_daemon, ignore = "FLOTILLA_SKIP=git-daemon")]
async fn policies_are_enforced_by_the_agents_and_proven_by_the_hub() {
    let fleet = format!("{WEB_PLACEMENT}{POLICIES}");
    let debug = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: debug, namespace: shop}\ndata: {level: trace}\n";
    let mut world = World::with(&[("fleet/fleet.yaml", &fleet), ("web/debug.yaml", debug)]);
    world.start_hub().await;
    // The hub knows the policies before the first report, so the evidence names their controls.
    world.wait_for("/api/v1/promotion", "the fleet read", Duration::from_secs(15), |_| true).await;
    for cluster in CLUSTERS {
        world.start_agent(cluster);
    }

    let view = world
        .wait_for("/api/v1/compliance", "every store's policy results", Duration::from_secs(30), |v| {
            policy_counts(v, "default-deny").is_some_and(|c| c["compliant"] == 3)
                && policy_counts(v, "no-debug-config").is_some_and(|c| c["nonCompliant"] == 3)
        })
        .await;
    assert_eq!(view["standards"][0]["name"], "PCI-DSS v4.0", "{view}");
    let failing = world.get("/api/v1/compliance/no-debug-config").await.unwrap();
    let names: Vec<&str> =
        failing["nonCompliant"]["items"].as_array().unwrap().iter().map(|c| c["name"].as_str().unwrap()).collect();
    assert_eq!(names, CLUSTERS);

    // The evidence: each store's first result of the enforced policy, with what the agent did.
    let evidence = world.get("/api/v1/evidence?policy=default-deny").await.unwrap();
    let rows = evidence.as_array().unwrap();
    assert_eq!(rows.len(), 3, "{evidence}");
    for row in rows {
        assert_eq!(row["compliant"], true, "{row}");
        assert_eq!(
            row["remediation"],
            serde_json::json!(["created networking.k8s.io/v1 NetworkPolicy shop/default-deny"])
        );
        assert_eq!(row["controls"], serde_json::json!(["1.3.1"]));
    }
    let verify = Command::new(env!("CARGO_BIN_EXE_hub-index"))
        .args(["evidence", "verify", "--db", &world.db()])
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&verify.stdout);
    assert!(verify.status.success() && said.starts_with("the evidence chain holds: 6 rows"), "{said}");

    let today = &common::now()[..10];
    let audit = world.get(&format!("/api/v1/audit?standard=PCI-DSS%20v4.0&at={today}")).await.unwrap();
    let verdicts: Vec<(&str, &str)> = audit["controls"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| (c["control"].as_str().unwrap(), c["verdict"].as_str().unwrap()))
        .collect();
    assert_eq!(verdicts, [("1.3.1", "compliant"), ("2.2.1", "nonCompliant")], "{audit}");
}
