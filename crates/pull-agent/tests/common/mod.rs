//! The world the agent's integration tests run in: two git repositories (the fleet and an app)
//! served by `git daemon`, and a Kubernetes API — the project's test API server, or a real
//! cluster named by `KUBECONFIG` — with the fixtures and helpers the tests write and read them
//! with. The scenarios that run on both kinds of cluster are in [`scenarios`].
//!
//! Not a test file: `sync.rs`, `real_cluster.rs` and `crash.rs` each include it as `mod common;`.

#![allow(dead_code, reason = "each test file uses its own part of the scaffolding")]

pub mod governance;
pub mod rbac;
pub mod scenarios;

use std::collections::hash_map::RandomState;
use std::hash::BuildHasher as _;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use flotilla_core::plan::{Inventory, ObjectRef};
use flotilla_core::report::PlacementReport;
use flotilla_git::testing::{GitDaemon, git};
use kube::api::{Api, ApiResource, DynamicObject};
use kube_testserver::{Options, TestServer};
use pull_agent::agent::{self, Mode, Reconciled};
use pull_agent::cluster::Cluster;
use pull_agent::config::Config;

/// A container image that runs (on a real cluster it must be pullable).
pub const GOOD_IMAGE: &str = "registry.k8s.io/pause:3.10";
/// A container image that never runs: the test server fails images tagged `broken`, and a real
/// cluster cannot pull from the reserved `.invalid` domain.
pub const BROKEN_IMAGE: &str = "registry.invalid/flotilla/web:broken";

/// How long a real cluster is given to get where a scenario waits for (image pulls, progress
/// deadlines, controllers' resyncs).
const REAL_PATIENCE: Duration = Duration::from_secs(180);

/// The Kubernetes API a [`World`] talks to.
#[derive(Debug)]
pub enum Target {
    /// The project's test API server, over HTTP on 127.0.0.1; stops when dropped.
    TestServer(TestServer),
    /// A real cluster: the current context of this kubeconfig file.
    Real { kubeconfig: PathBuf },
}

/// Two repositories served by `git daemon` — the fleet and an app — and a Kubernetes API.
///
/// On a real cluster the world's names are its own (namespaces `shop-<hex>` and
/// `flotilla-<hex>`, a CRD group `t<hex>.example.com`), so that runs and tests do not meet,
/// and it deletes what it made when dropped.
#[derive(Debug)]
pub struct World {
    _dir: tempfile::TempDir,
    pub root: PathBuf,
    pub daemon: GitDaemon,
    pub target: Target,
    /// Where the app's objects live: `shop`, or `shop-<hex>` on a real cluster.
    pub namespace: String,
    /// Where the agent keeps its inventories: `flotilla-system`, or `flotilla-<hex>` on a real
    /// cluster.
    pub agent_namespace: String,
    /// The group of the scenarios' CRD: `example.com`, or `t<hex>.example.com` on a real cluster.
    pub crd_group: String,
    kube: kube::Config,
}

impl World {
    /// A world on a fresh test API server whose workloads become ready after `ready_delay`.
    pub fn new(ready_delay: Duration) -> World {
        let (dir, root, daemon) = repositories();
        let server = TestServer::start_with("127.0.0.1:0", &Options { ready_delay }).unwrap();
        let kube = kube::Config::new(server.url.parse().unwrap());
        World {
            _dir: dir,
            root,
            daemon,
            target: Target::TestServer(server),
            namespace: "shop".into(),
            agent_namespace: "flotilla-system".into(),
            crd_group: "example.com".into(),
            kube,
        }
    }

    /// A world on the real cluster of `KUBECONFIG` (its current context), with names of its own.
    ///
    /// # Panics
    ///
    /// When `KUBECONFIG` is unset or names more than one file, or the cluster cannot be reached.
    pub async fn real() -> World {
        let Some(kubeconfig) = std::env::var_os("KUBECONFIG").filter(|k| !k.is_empty()) else {
            panic!(
                "the real-cluster tests need a cluster: set KUBECONFIG to a kubeconfig file whose current \
                 context is a disposable test cluster (they create and delete namespaces and a CRD)"
            );
        };
        assert!(
            std::env::split_paths(&kubeconfig).count() == 1,
            "KUBECONFIG={} names several files; the agent reads one: name one file",
            kubeconfig.display()
        );
        let kubeconfig = std::path::absolute(PathBuf::from(kubeconfig)).unwrap();
        let read = kube::config::Kubeconfig::read_from(&kubeconfig)
            .unwrap_or_else(|e| panic!("KUBECONFIG={}: {e}", kubeconfig.display()));
        let kube = kube::Config::from_custom_kubeconfig(read, &kube::config::KubeConfigOptions::default())
            .await
            .unwrap_or_else(|e| panic!("KUBECONFIG={}: {e}", kubeconfig.display()));
        let client = kube::Client::try_from(kube.clone()).unwrap();
        let answer = tokio::time::timeout(Duration::from_secs(15), client.apiserver_version()).await;
        let answer =
            answer.unwrap_or_else(|_| panic!("the cluster of KUBECONFIG={} does not answer", kubeconfig.display()));
        answer.unwrap_or_else(|e| panic!("the cluster of KUBECONFIG={} cannot be reached: {e}", kubeconfig.display()));
        let id = format!("{:08x}", RandomState::new().hash_one((std::process::id(), Instant::now())) >> 32);
        let (dir, root, daemon) = repositories();
        World {
            _dir: dir,
            root,
            daemon,
            target: Target::Real { kubeconfig },
            namespace: format!("shop-{id}"),
            agent_namespace: format!("flotilla-{id}"),
            crd_group: format!("t{id}.example.com"),
            kube,
        }
    }

    pub fn is_real(&self) -> bool {
        matches!(self.target, Target::Real { .. })
    }

    /// The test API server, for its fault switches and clock.
    ///
    /// # Panics
    ///
    /// On a real cluster: the calling test is for the test server only.
    pub fn server(&self) -> &TestServer {
        match &self.target {
            Target::TestServer(server) => server,
            Target::Real { .. } => panic!("this test needs the test API server, not a real cluster"),
        }
    }

    /// Writes files (path → text; an empty text deletes) into a repository and commits them.
    pub fn commit(&self, repo: &str, files: &[(&str, &str)]) -> String {
        let dir = self.root.join(repo);
        for (path, text) in files {
            let file = dir.join(path);
            if text.is_empty() {
                let _ = std::fs::remove_file(&file);
            } else {
                std::fs::create_dir_all(file.parent().unwrap()).unwrap();
                std::fs::write(&file, text).unwrap();
            }
        }
        git(&dir, &["add", "-A"]);
        git(&dir, &["commit", "-q", "--allow-empty", "-m", "change"]);
        git(&dir, &["rev-parse", "HEAD"])
    }

    /// The text of the agent's `agent.yaml`, its paths relative to [`World::root`].
    pub fn config_text(&self) -> String {
        let kubernetes = match &self.target {
            Target::TestServer(server) => format!("{{server: {}}}", server.url),
            Target::Real { kubeconfig } => format!("{{kubeconfig: {:?}}}", kubeconfig.display().to_string()),
        };
        format!(
            "cluster: {{name: store-0001, environment: prod, labels: {{kind: store}}}}\n\
             fleet: {{url: {}}}\n\
             stateDir: state\n\
             namespace: {}\n\
             kubernetes: {kubernetes}\n",
            self.daemon.url("fleet"),
            self.agent_namespace,
        )
    }

    pub fn config(&self) -> Config {
        Config::parse(self.config_text().as_bytes(), &self.root, None).unwrap()
    }

    pub fn client(&self) -> kube::Client {
        kube::Client::try_from(self.kube.clone()).unwrap()
    }

    pub async fn reconcile(&self) -> Reconciled {
        let mut cluster = Cluster::new(self.client());
        agent::reconcile(&self.config(), &mut cluster, Mode::Apply).await.unwrap()
    }

    /// Waits `wait`, then reconciles. The test server's controllers keep to its ready delay, so
    /// once is enough there; a real cluster's take what they take, so there it reconciles every
    /// 2 s until `done` holds (or [`REAL_PATIENCE`] has passed). The caller asserts.
    pub async fn reconcile_after(&self, wait: Duration, done: impl Fn(&Reconciled) -> bool) -> Reconciled {
        tokio::time::sleep(wait).await;
        let start = Instant::now();
        loop {
            let reconciled = self.reconcile().await;
            if !self.is_real() || done(&reconciled) || start.elapsed() > REAL_PATIENCE {
                return reconciled;
            }
            tokio::time::sleep(Duration::from_secs(2)).await;
        }
    }

    pub fn api(&self, api_version: &str, kind: &str, plural: &str, namespace: Option<&str>) -> Api<DynamicObject> {
        let (group, version) = api_version.rsplit_once('/').unwrap_or(("", api_version));
        let gvk = kube::api::GroupVersionKind::gvk(group, version, kind);
        let resource = ApiResource::from_gvk_with_plural(&gvk, plural);
        match namespace {
            Some(ns) => Api::namespaced_with(self.client(), ns, &resource),
            None => Api::all_with(self.client(), &resource),
        }
    }

    /// The ConfigMaps of the app's namespace.
    pub fn config_maps(&self) -> Api<DynamicObject> {
        self.api("v1", "ConfigMap", "configmaps", Some(&self.namespace))
    }

    /// The text of a placement's inventory ConfigMap (empty when there is none).
    pub async fn inventory_text(&self, placement: &str) -> String {
        let api = self.api("v1", "ConfigMap", "configmaps", Some(&self.agent_namespace));
        let found = api.get_opt(&pull_agent::sync::inventory_name(placement)).await.unwrap();
        found.and_then(|cm| cm.data["data"]["inventory"].as_str().map(String::from)).unwrap_or_default()
    }

    /// A placement's inventory, read back.
    pub async fn inventory(&self, placement: &str) -> Inventory {
        Inventory::from_text(&self.inventory_text(placement).await).unwrap()
    }

    /// The app's Namespace.
    pub fn namespace_yaml(&self) -> String {
        format!("apiVersion: v1\nkind: Namespace\nmetadata: {{name: {}}}\n", self.namespace)
    }

    /// A ConfigMap in the app's namespace whose `greeting` is `value`.
    pub fn config_map(&self, name: &str, value: &str) -> String {
        format!(
            "apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: {name}, namespace: {}}}\ndata: {{greeting: \"{value}\"}}\n",
            self.namespace
        )
    }

    /// The Deployment `web` with two replicas of `image`, in the app's namespace.
    pub fn deployment(&self, image: &str, progress_deadline_seconds: u32) -> String {
        format!(
            "apiVersion: apps/v1\nkind: Deployment\nmetadata: {{name: web, namespace: {}}}\n\
             spec:\n  replicas: 2\n  progressDeadlineSeconds: {progress_deadline_seconds}\n  selector: {{matchLabels: {{app: web}}}}\n\
             \x20 template:\n    metadata: {{labels: {{app: web}}}}\n    spec:\n      containers:\n      - {{name: web, image: \"{image}\"}}\n",
            self.namespace
        )
    }
}

impl Drop for World {
    /// On a real cluster, deletes (best effort) what the world's placements applied outside its
    /// namespaces (a CRD), its inventories and its namespaces. Nothing to do on the test server,
    /// which goes with the world.
    fn drop(&mut self) {
        if !self.is_real() {
            return;
        }
        let kube = self.kube.clone();
        let namespaces = [self.namespace.clone(), self.agent_namespace.clone()];
        // The test's runtime is blocked in this drop: clean up on a runtime (and client) of its own.
        let cleanup = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
            runtime.block_on(async {
                let cleaned = tokio::time::timeout(Duration::from_secs(60), clean_up(kube, &namespaces)).await;
                if cleaned.is_err() {
                    eprintln!("cleanup of {namespaces:?}: timed out; delete them by hand");
                }
            });
        });
        let _ = cleanup.join();
    }
}

async fn clean_up(kube: kube::Config, namespaces: &[String; 2]) {
    let Ok(client) = kube::Client::try_from(kube) else { return };
    let mut cluster = Cluster::new(client);
    let [app_namespace, agent_namespace] = namespaces;
    let inventories = match cluster.list("v1", "ConfigMap", "flotilla.dev/inventory-of").await {
        Ok(list) => list,
        Err(e) => {
            eprintln!("cleanup: listing the inventories: {e}");
            Vec::new()
        }
    };
    let mut gone: Vec<ObjectRef> = Vec::new();
    for cm in inventories.iter().filter(|cm| cm["metadata"]["namespace"] == agent_namespace.as_str()) {
        let text = cm.pointer("/data/inventory").and_then(serde_json::Value::as_str).unwrap_or_default();
        if let Ok(inventory) = Inventory::from_text(text) {
            // What lives in the world's namespaces goes with them.
            gone.extend(inventory.objects.into_keys().filter(|r| !namespaces.contains(&r.namespace)));
        }
        gone.extend(ObjectRef::of(cm));
    }
    for name in [app_namespace, agent_namespace] {
        gone.push(ObjectRef {
            api_version: "v1".into(),
            kind: "Namespace".into(),
            namespace: String::new(),
            name: name.clone(),
        });
    }
    for r in &gone {
        if let Err(e) = cluster.delete(r).await {
            eprintln!("cleanup: {r}: {e}");
        }
    }
}

/// A temporary folder with the repositories `fleet` and `app` on branch `prod`, served.
fn repositories() -> (tempfile::TempDir, PathBuf, GitDaemon) {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().to_path_buf();
    for repo in ["fleet", "app"] {
        std::fs::create_dir_all(root.join(repo)).unwrap();
        git(&root.join(repo), &["init", "-q", "-b", "prod"]);
    }
    let daemon = GitDaemon::start(&root);
    (dir, root, daemon)
}

/// A fleet with one repository (the app, at URL) and one placement of its `web` folder on stores.
pub const FLEET: &str = "\
apiVersion: flotilla.dev/v1alpha1
kind: Repository
metadata: {name: app}
spec: {url: URL}
---
apiVersion: flotilla.dev/v1alpha1
kind: Placement
metadata: {name: web}
spec:
  source: {repository: app, path: web}
  clusters: {matchLabels: {kind: store}}
  scope: {cluster: true}
";

/// The fleet with the app repository's URL filled in, plus extra documents.
pub fn fleet(world: &World, extra: &str) -> String {
    format!("{}{extra}", FLEET.replace("URL", &world.daemon.url("app")))
}

pub fn placement<'r>(reconciled: &'r Reconciled, name: &str) -> &'r PlacementReport {
    &reconciled
        .placements
        .iter()
        .find(|o| o.report.name == name)
        .unwrap_or_else(|| panic!("no placement {name}"))
        .report
}

/// The names of the objects, sorted, without the one Kubernetes puts in every namespace.
pub async fn names(api: &Api<DynamicObject>) -> Vec<String> {
    let mut n: Vec<String> = api
        .list(&kube::api::ListParams::default())
        .await
        .unwrap()
        .items
        .into_iter()
        .filter_map(|o| o.metadata.name)
        .filter(|name| name != "kube-root-ca.crt")
        .collect();
    n.sort();
    n
}

/// Copies a folder tree (files only).
/// The example retail fleet's three repositories (`examples/retail-fleet`; infra is the fleet)
/// written into the world's repositories, its `Repository` URLs pointing at the world's git
/// daemon; not committed (the caller commits, when it likes).
pub fn example_repositories(world: &World) {
    let examples = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/retail-fleet");
    for (folder, repo) in [("infra", "fleet"), ("store-app", "store-app"), ("cloud-services", "cloud-services")] {
        let dir = world.root.join(repo);
        if repo != "fleet" {
            std::fs::create_dir_all(&dir).unwrap();
            git(&dir, &["init", "-q", "-b", "prod"]);
        }
        copy_tree(&examples.join(folder), &dir);
    }
    let repositories = world.root.join("fleet/fleet/repositories.yaml");
    let text = std::fs::read_to_string(&repositories)
        .unwrap()
        .replace("https://git.retail.example/retail/store-app.git", &world.daemon.url("store-app"))
        .replace("https://git.retail.example/retail/cloud-services.git", &world.daemon.url("cloud-services"));
    std::fs::write(&repositories, text).unwrap();
}

pub fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_tree(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}
