//! What the hub's integration tests set up: a fleet repository committed with the `git` CLI, a
//! hub serving on loopback in the test process with its fleet served by `git daemon`,
//! registration and reports over the hub's HTTP API, and one throwaway PostgreSQL per test binary.
//!
//! Not a test file and no test's assertions: `api.rs`, `dashboard.rs`, `end_to_end.rs`,
//! `fleet.rs` and `store.rs` each include it as `mod common;` and use their part of it.

#![allow(dead_code, reason = "each test file uses its own part of the scaffolding")]

use std::path::Path;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use flotilla_git::testing::{GitDaemon, git};
use hub_index::server::{self, Options};
use hub_index::store::Store;
use hub_index::testing::PgServer;
use serde_json::{Value, json};

/// Placement `web`: the fleet repository's `web/` folder, on every cluster labelled `kind=store`.
pub const WEB_PLACEMENT: &str = "\
apiVersion: flotilla.dev/v1alpha1
kind: Placement
metadata: {name: web}
spec:
  source: {repository: fleet, path: web}
  clusters: {matchLabels: {kind: store}}
  scope: {cluster: true}
";

/// Cluster `store-9999`, labelled `kind=store`: declared in git, never registered.
pub const DECLARED_STORE: &str = "\
apiVersion: flotilla.dev/v1alpha1
kind: Cluster
metadata: {name: store-9999, labels: {kind: store}}
spec: {environment: prod}
";

/// Policies for clusters labelled `kind=store`: `pci-default-deny` (PCI-DSS v4.0 control
/// 1.3.1, high, inform) and `pci-no-nodeport` (controls 1.3.1 and 1.4.2, critical, enforce),
/// as in `examples/retail-fleet`.
pub const PCI_POLICIES: &str = "\
apiVersion: flotilla.dev/v1alpha1
kind: Policy
metadata: {name: pci-default-deny}
spec:
  standards: [PCI-DSS v4.0]
  controls: [\"1.3.1\"]
  categories: [Network Security Controls]
  severity: high
  remediation: inform
  clusters: {matchLabels: {kind: store}}
  objects:
  - compliance: musthave
    object: {apiVersion: networking.k8s.io/v1, kind: NetworkPolicy, metadata: {name: default-deny, namespace: shop}}
---
apiVersion: flotilla.dev/v1alpha1
kind: Policy
metadata: {name: pci-no-nodeport}
spec:
  standards: [PCI-DSS v4.0]
  controls: [\"1.3.1\", \"1.4.2\"]
  categories: [Network Security Controls]
  severity: critical
  remediation: enforce
  clusters: {matchLabels: {kind: store}}
  objects:
  - compliance: mustnothave
    object: {apiVersion: v1, kind: Service, metadata: {name: debug, namespace: shop}, spec: {type: NodePort}}
";

/// One PostgreSQL for the whole test binary.
pub fn postgres() -> &'static PgServer {
    static SERVER: OnceLock<PgServer> = OnceLock::new();
    // Every caller says so, not only the first: each test that needs PostgreSQL fails without it.
    flotilla_git::testing::require(flotilla_git::testing::Tool::Postgres);
    SERVER.get_or_init(PgServer::start)
}

/// Writes `files` (a path relative to `dir` and its text) into `dir`, creating their folders.
pub fn write_files(dir: &Path, files: &[(&str, impl AsRef<str>)]) {
    for (path, text) in files {
        let file = dir.join(path);
        std::fs::create_dir_all(file.parent().unwrap()).unwrap();
        std::fs::write(&file, text.as_ref()).unwrap();
    }
}

/// Writes `files` into the work tree `dir` and commits every change there; the commit id.
pub fn commit(dir: &Path, files: &[(&str, &str)]) -> String {
    commit_as(dir, files, "change")
}

fn commit_as(dir: &Path, files: &[(&str, &str)], message: &str) -> String {
    write_files(dir, files);
    git(dir, &["add", "-A"]);
    git(dir, &["commit", "-q", "-m", message]);
    git(dir, &["rev-parse", "HEAD"])
}

/// The fleet repository `<root>/fleet`: `files` in one commit on branch `prod`, and `branches`
/// made at that commit; the commit id.
pub fn fleet_repository(root: &Path, files: &[(&str, &str)], branches: &[&str]) -> String {
    let fleet = root.join("fleet");
    std::fs::create_dir_all(&fleet).unwrap();
    git(&fleet, &["init", "-q", "-b", "prod"]);
    let head = commit_as(&fleet, files, "fleet");
    for branch in branches {
        git(&fleet, &["branch", branch]);
    }
    head
}

/// Now as RFC 3339, as an agent stamps its reports.
pub fn now() -> String {
    let secs = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
    flotilla_core::calendar::rfc3339(i64::try_from(secs).unwrap())
}

/// A report, as JSON, of placement `web` (image `registry.example/web:1.0`) in `state` at
/// `commit`, stamped now.
pub fn report(cluster: &str, sequence: u64, state: &str, commit: &str) -> String {
    json!({
        "version": 1, "cluster": cluster, "agentVersion": "0.1.0", "sequence": sequence,
        "time": now(),
        "placements": [{"name": "web", "state": state, "sourceCommit": commit,
            "desiredDigest": format!("sha256:{}", "d".repeat(64)), "health": "Healthy",
            "images": ["registry.example/web:1.0"]}]
    })
    .to_string()
}

/// A policy's result in a report: its name, whether compliant (`None`: the agent could not
/// evaluate it), and how many violations.
pub type PolicyResult<'a> = (&'a str, Option<bool>, usize);

/// `report` (JSON, as [`report`] makes it) with policy results.
pub fn with_policies(report: &str, policies: &[PolicyResult]) -> String {
    let mut report: Value = serde_json::from_str(report).unwrap();
    report["policies"] = policies
        .iter()
        .map(|(name, compliant, violations)| {
            let violations: Vec<Value> = (0..*violations)
                .map(|i| json!({"object": format!("Service/shop/debug-{i}"), "message": "must not exist"}))
                .collect();
            json!({"name": name, "compliant": compliant, "violations": violations})
        })
        .collect();
    report.to_string()
}

/// How a [`Hub`] is started; the rest of its options are the same in every test.
pub struct Setup {
    /// The store: `sqlite:<file>` or a PostgreSQL URL.
    pub db: String,
    /// The viewer token, given to the hub in a file.
    pub viewer: &'static str,
    /// The environments (branches of the fleet repository) the hub reads.
    pub environments: &'static [&'static str],
    /// What the test's requests go through.
    pub client: reqwest::Client,
}

/// A hub serving on loopback in the test process (`server::start` and `server::router`), its
/// fleet repository `<dir>/fleet` served by `git daemon`. The server stops when it is dropped.
pub struct Hub {
    /// `http://127.0.0.1:<port>`.
    pub url: String,
    pub db: String,
    /// Holds the fleet repository, the viewer token file, the SQLite file and the hub's cache.
    pub dir: tempfile::TempDir,
    pub daemon: GitDaemon,
    pub client: reqwest::Client,
    pub viewer: String,
    /// The fleet repository's head when the hub started.
    pub head: String,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Hub {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Hub {
    /// Serves the fleet repository already committed in `<dir>/fleet` (see [`fleet_repository`])
    /// and a hub reading it, on free ports of 127.0.0.1.
    pub async fn serve(dir: tempfile::TempDir, setup: Setup) -> Hub {
        let head = git(&dir.path().join("fleet"), &["rev-parse", "HEAD"]);
        let daemon = GitDaemon::start(dir.path());
        let viewer_file = dir.path().join("viewer-token");
        std::fs::write(&viewer_file, format!("{}\n", setup.viewer)).unwrap();
        let options = Options {
            db: setup.db.clone(),
            fleet: flotilla_git::Source::new(daemon.url("fleet")),
            chart_credentials: None,
            listen: "127.0.0.1:0".parse().unwrap(),
            viewer_token_file: Some(viewer_file),
            open_on_loopback: false,
            offline_after: Duration::from_secs(180),
            fleet_poll: Duration::from_millis(200),
            cache_dir: dir.path().join("cache"),
            environments: setup.environments.iter().map(ToString::to_string).collect(),
            arrival_clock: None,
        };
        let hub = server::start(options).await.unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let task = tokio::spawn(async move {
            axum::serve(listener, server::router(hub)).await.unwrap();
        });
        Hub { url, db: setup.db, dir, daemon, client: setup.client, viewer: setup.viewer.to_string(), head, task }
    }

    /// The hub's store, opened beside it.
    pub async fn store(&self) -> Store {
        Store::open(&self.db).await.unwrap()
    }

    /// POSTs `body` to `path` with `token` as the bearer: the status and the answer, as JSON if
    /// it is JSON, else as a string.
    pub async fn post(&self, path: &str, token: Option<&str>, body: &str) -> (u16, Value) {
        let mut request = self.client.post(format!("{}{path}", self.url)).body(body.to_string());
        if let Some(t) = token {
            request = request.bearer_auth(t);
        }
        answer(request.send().await.unwrap()).await
    }

    /// GETs `path` with the viewer token: the status and the answer, as [`Hub::post`].
    pub async fn get(&self, path: &str) -> (u16, Value) {
        answer(self.client.get(format!("{}{path}", self.url)).bearer_auth(&self.viewer).send().await.unwrap()).await
    }

    /// Registers `name` in prod, labelled `kind=store`, and returns its cluster token.
    pub async fn register(&self, name: &str) -> String {
        self.register_labelled(name, json!({"kind": "store"})).await
    }

    /// Registers `name` in prod with `labels` (a JSON object) and returns its cluster token.
    pub async fn register_labelled(&self, name: &str, labels: Value) -> String {
        let join = self.store().await.create_join_token(Some("store-*")).await.unwrap();
        let body = json!({"cluster": name, "environment": "prod", "labels": labels}).to_string();
        let (status, answer) = self.post("/api/v1/register", Some(&join), &body).await;
        assert_eq!(status, 200, "{answer}");
        answer["token"].as_str().unwrap().to_string()
    }

    /// Runs the `hub-index` binary with `args` against this hub and its viewer token, from a
    /// multi-threaded runtime (the call blocks one worker, the hub serves on the others): what
    /// it printed, once it has succeeded.
    pub fn cli(&self, args: &[&str]) -> String {
        let token_file = self.dir.path().join("viewer-token");
        tokio::task::block_in_place(|| {
            let output = std::process::Command::new(env!("CARGO_BIN_EXE_hub-index"))
                .args(args)
                .args(["--hub", &self.url, "--token-file", token_file.to_str().unwrap()])
                .output()
                .unwrap();
            assert!(output.status.success(), "{args:?}: {}", String::from_utf8_lossy(&output.stderr));
            String::from_utf8(output.stdout).unwrap()
        })
    }

    /// Polls `path` until it answers 200 and `done` holds, for at most 20 s; the answer.
    pub async fn wait_for(&self, path: &str, what: &str, done: impl Fn(&Value) -> bool) -> Value {
        let started = Instant::now();
        loop {
            let (status, v) = self.get(path).await;
            if status == 200 && done(&v) {
                return v;
            }
            assert!(started.elapsed() < Duration::from_secs(20), "timed out waiting for {what}: {status} {v}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

async fn answer(response: reqwest::Response) -> (u16, Value) {
    let status = response.status().as_u16();
    let text = response.text().await.unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Value::String(text)))
}
