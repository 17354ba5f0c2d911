//! The agent's reconcile against the project's test API server over HTTP, with real git
//! repositories served by `git daemon`: first sync, new commits, prune, drift, broken commits,
//! isolation between placements, CRDs, health, and an API server that fails mid-apply.

use std::path::PathBuf;
use std::time::Duration;

use flotilla_core::report::{ObjectProblem, PlacementReport, SyncState};
use flotilla_git::testing::{GitDaemon, git};
use kube::api::{Api, ApiResource, DynamicObject, Patch, PatchParams, PostParams};
use kube_testserver::{Options, TestServer};
use pull_agent::agent::{self, Mode, Reconciled};
use pull_agent::cluster::Cluster;
use pull_agent::config::Config;
use serde_json::json;

/// Two repositories served by `git daemon` — the fleet and an app — and a test API server.
struct World {
    _dir: tempfile::TempDir,
    root: PathBuf,
    daemon: GitDaemon,
    server: TestServer,
}

impl World {
    fn new(ready_delay: Duration) -> World {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().to_path_buf();
        for repo in ["fleet", "app"] {
            std::fs::create_dir_all(root.join(repo)).unwrap();
            git(&root.join(repo), &["init", "-q", "-b", "prod"]);
        }
        let daemon = GitDaemon::start(&root);
        let server = TestServer::start_with("127.0.0.1:0", &Options { ready_delay }).unwrap();
        World { _dir: dir, root, daemon, server }
    }

    /// Writes files (path → text; an empty text deletes) into a repository and commits them.
    fn commit(&self, repo: &str, files: &[(&str, &str)]) -> String {
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

    fn config(&self) -> Config {
        let text = format!(
            "cluster: {{name: store-0001, environment: prod, labels: {{kind: store}}}}\n\
             fleet: {{url: {}}}\n\
             stateDir: state\n\
             kubernetes: {{server: {}}}\n",
            self.daemon.url("fleet"),
            self.server.url
        );
        Config::parse(text.as_bytes(), &self.root, None).unwrap()
    }

    fn client(&self) -> kube::Client {
        kube::Client::try_from(kube::Config::new(self.server.url.parse().unwrap())).unwrap()
    }

    async fn reconcile(&self) -> Reconciled {
        let mut cluster = Cluster::new(self.client());
        agent::reconcile(&self.config(), &mut cluster, Mode::Apply).await.unwrap()
    }

    fn api(&self, api_version: &str, kind: &str, plural: &str, namespace: Option<&str>) -> Api<DynamicObject> {
        let (group, version) = api_version.rsplit_once('/').unwrap_or(("", api_version));
        let gvk = kube::api::GroupVersionKind::gvk(group, version, kind);
        let resource = ApiResource::from_gvk_with_plural(&gvk, plural);
        match namespace {
            Some(ns) => Api::namespaced_with(self.client(), ns, &resource),
            None => Api::all_with(self.client(), &resource),
        }
    }

    fn config_maps(&self) -> Api<DynamicObject> {
        self.api("v1", "ConfigMap", "configmaps", Some("shop"))
    }
}

const FLEET: &str = "\
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
";

const NAMESPACE: &str = "apiVersion: v1\nkind: Namespace\nmetadata: {name: shop}\n";

fn config_map(name: &str, value: &str) -> String {
    format!(
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: {name}, namespace: shop}}\ndata: {{greeting: \"{value}\"}}\n"
    )
}

fn deployment(image: &str) -> String {
    format!(
        "apiVersion: apps/v1\nkind: Deployment\nmetadata: {{name: web, namespace: shop}}\n\
         spec:\n  replicas: 2\n  progressDeadlineSeconds: 1\n  selector: {{matchLabels: {{app: web}}}}\n\
         \x20 template:\n    metadata: {{labels: {{app: web}}}}\n    spec:\n      containers:\n      - {{name: web, image: \"{image}\"}}\n"
    )
}

fn placement<'r>(reconciled: &'r Reconciled, name: &str) -> &'r PlacementReport {
    &reconciled
        .placements
        .iter()
        .find(|o| o.report.name == name)
        .unwrap_or_else(|| panic!("no placement {name}"))
        .report
}

/// The fleet with the app repository's URL filled in, plus extra documents.
fn fleet(world: &World, extra: &str) -> String {
    format!("{}{extra}", FLEET.replace("URL", &world.daemon.url("app")))
}

async fn names(api: &Api<DynamicObject>) -> Vec<String> {
    let mut n: Vec<String> = api
        .list(&kube::api::ListParams::default())
        .await
        .unwrap()
        .items
        .into_iter()
        .filter_map(|o| o.metadata.name)
        .collect();
    n.sort();
    n
}

#[tokio::test]
async fn first_sync_new_commit_prune_and_a_hand_made_object_left_alone() {
    let world = World::new(Duration::ZERO);
    world.commit("fleet", &[("fleet/fleet.yaml", &fleet(&world, ""))]);
    let first = world.commit(
        "app",
        &[
            ("web/namespace.yaml", NAMESPACE),
            ("web/a.yaml", &config_map("a", "hello")),
            ("web/b.yaml", &config_map("b", "bye")),
            ("web/deployment.yaml", &deployment("web:1")),
        ],
    );
    let synced = world.reconcile().await;
    let web = placement(&synced, "web");
    assert_eq!(web.source_commit.as_deref(), Some(first.as_str()));
    assert_eq!(web.applied_commit.as_deref(), Some(first.as_str()), "{web:?}");
    assert!(matches!(web.state, SyncState::Synced | SyncState::Progressing), "{web:?}");
    assert_eq!(names(&world.config_maps()).await, ["a", "b"]);
    let a = world.config_maps().get("a").await.unwrap();
    assert_eq!(a.metadata.labels.unwrap()["flotilla.dev/placement"], "web");
    // The controllers have made the Deployment available by the next cycle.
    tokio::time::sleep(Duration::from_millis(100)).await;
    let again = world.reconcile().await;
    assert_eq!(placement(&again, "web").state, SyncState::Synced, "{:?}", placement(&again, "web"));

    // Made by hand in the same namespace: not ours, never pruned.
    let hand =
        serde_json::from_value(json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "by-hand"}}))
            .unwrap();
    world.config_maps().create(&PostParams::default(), &hand).await.unwrap();

    let second = world.commit("app", &[("web/a.yaml", &config_map("a", "hello again")), ("web/b.yaml", "")]);
    let synced = world.reconcile().await;
    let web = placement(&synced, "web");
    assert_eq!(web.applied_commit.as_deref(), Some(second.as_str()));
    assert_eq!(names(&world.config_maps()).await, ["a", "by-hand"], "b pruned, the hand-made one kept");
    assert_eq!(world.config_maps().get("a").await.unwrap().data["data"]["greeting"], "hello again");
}

#[tokio::test]
async fn drift_is_corrected_or_with_drift_correction_off_only_reported() {
    let world = World::new(Duration::ZERO);
    world.commit("fleet", &[("fleet/fleet.yaml", &fleet(&world, ""))]);
    world.commit("app", &[("web/namespace.yaml", NAMESPACE), ("web/a.yaml", &config_map("a", "hello"))]);
    world.reconcile().await;
    let edit = json!({"data": {"greeting": "edited by hand"}});
    world.config_maps().patch("a", &PatchParams::default(), &Patch::Merge(&edit)).await.unwrap();
    let corrected = world.reconcile().await;
    let web = placement(&corrected, "web");
    let drifted: Vec<_> = web.objects.iter().filter(|o| o.problem == ObjectProblem::Drifted).collect();
    assert_eq!(drifted.len(), 1, "{web:?}");
    assert_eq!(drifted[0].fields, ["data.greeting"]);
    assert_eq!(world.config_maps().get("a").await.unwrap().data["data"]["greeting"], "hello");

    let detect_only = "  sync: {driftCorrection: false}\n";
    world.commit("fleet", &[("fleet/fleet.yaml", &fleet(&world, detect_only))]);
    world.config_maps().patch("a", &PatchParams::default(), &Patch::Merge(&edit)).await.unwrap();
    let reported = world.reconcile().await;
    let web = placement(&reported, "web");
    assert!(
        web.objects.iter().any(|o| o.problem == ObjectProblem::Drifted && o.fields == ["data.greeting"]),
        "{web:?}"
    );
    assert_eq!(world.config_maps().get("a").await.unwrap().data["data"]["greeting"], "edited by hand");
}

#[tokio::test]
async fn a_broken_commit_keeps_the_last_good_state_and_other_placements_sync() {
    let world = World::new(Duration::ZERO);
    let other = "---\napiVersion: flotilla.dev/v1alpha1\nkind: Placement\nmetadata: {name: extras}\n\
                 spec:\n  source: {repository: app, path: extras}\n  clusters: {matchLabels: {kind: store}}\n";
    world.commit("fleet", &[("fleet/fleet.yaml", &fleet(&world, other))]);
    let good = world.commit(
        "app",
        &[
            ("web/namespace.yaml", NAMESPACE),
            ("web/a.yaml", &config_map("a", "hello")),
            ("extras/x.yaml", &config_map("x", "1")),
        ],
    );
    world.reconcile().await;
    // Web breaks (its kustomization names a file that is not there), extras changes.
    let kustomization = "resources: [namespace.yaml, a.yaml, missing.yaml]\n";
    let broken =
        world.commit("app", &[("web/kustomization.yaml", kustomization), ("extras/x.yaml", &config_map("x", "2"))]);
    let reconciled = world.reconcile().await;
    let web = placement(&reconciled, "web");
    assert_eq!(web.state, SyncState::Failed);
    assert!(web.message.as_deref().unwrap().contains(&broken), "names the commit: {web:?}");
    assert_eq!(names(&world.config_maps()).await, ["a", "x"], "web's objects stay as they were");
    let extras = placement(&reconciled, "extras");
    assert_eq!(extras.state, SyncState::Synced, "{extras:?}");
    assert_eq!(world.config_maps().get("x").await.unwrap().data["data"]["greeting"], "2");
    // The inventory still holds the last good commit.
    let inventory = world
        .api("v1", "ConfigMap", "configmaps", Some("flotilla-system"))
        .get("flotilla-inventory-web")
        .await
        .unwrap();
    assert!(inventory.data["data"]["inventory"].as_str().unwrap().starts_with(&format!("commit {good}\n")));
}

#[tokio::test]
async fn a_crd_and_its_resources_in_one_commit() {
    let world = World::new(Duration::ZERO);
    world.commit("fleet", &[("fleet/fleet.yaml", &fleet(&world, ""))]);
    let crd = "apiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\nmetadata: {name: widgets.example.com}\n\
               spec:\n  group: example.com\n  scope: Namespaced\n  names: {kind: Widget, plural: widgets}\n\
               \x20 versions: [{name: v1, served: true, storage: true}]\n";
    let widget = "apiVersion: example.com/v1\nkind: Widget\nmetadata: {name: w, namespace: shop}\nspec: {size: 3}\n";
    // The custom resource comes first in git: the agent still creates its CRD first.
    world.commit("app", &[("web/1-widget.yaml", widget), ("web/2-crd.yaml", crd), ("web/3-ns.yaml", NAMESPACE)]);
    let reconciled = world.reconcile().await;
    assert_eq!(placement(&reconciled, "web").state, SyncState::Synced, "{:?}", placement(&reconciled, "web"));
    let widgets = world.api("example.com/v1", "Widget", "widgets", Some("shop"));
    assert_eq!(widgets.get("w").await.unwrap().data["spec"]["size"], 3);
}

#[tokio::test]
async fn an_unhealthy_deployment_degrades_the_placement() {
    let world = World::new(Duration::from_millis(50));
    world.commit("fleet", &[("fleet/fleet.yaml", &fleet(&world, ""))]);
    world.commit("app", &[("web/namespace.yaml", NAMESPACE), ("web/deployment.yaml", &deployment("web:broken"))]);
    let first = world.reconcile().await;
    assert_eq!(placement(&first, "web").state, SyncState::Progressing);
    // Its progress deadline (1 s) passes.
    tokio::time::sleep(Duration::from_millis(1_300)).await;
    let later = world.reconcile().await;
    let web = placement(&later, "web");
    assert_eq!(web.state, SyncState::Degraded, "{web:?}");
    assert!(web.objects.iter().any(|o| o.kind == "Deployment" && o.problem == ObjectProblem::Unhealthy));
}

#[tokio::test]
async fn an_api_server_failing_mid_apply_skips_prune_and_the_next_run_converges() {
    let world = World::new(Duration::ZERO);
    world.commit("fleet", &[("fleet/fleet.yaml", &fleet(&world, ""))]);
    let files: Vec<(String, String)> =
        (0..6).map(|i| (format!("web/cm-{i}.yaml"), config_map(&format!("cm-{i}"), "1"))).collect();
    let mut all: Vec<(&str, &str)> = files.iter().map(|(p, t)| (p.as_str(), t.as_str())).collect();
    all.push(("web/namespace.yaml", NAMESPACE));
    world.commit("app", &all);
    world.reconcile().await;
    // A new commit drops cm-5 and changes the others; the API server fails for a while mid-way.
    let changed: Vec<(String, String)> =
        (0..5).map(|i| (format!("web/cm-{i}.yaml"), config_map(&format!("cm-{i}"), "2"))).collect();
    let mut next: Vec<(&str, &str)> = changed.iter().map(|(p, t)| (p.as_str(), t.as_str())).collect();
    next.push(("web/cm-5.yaml", ""));
    world.commit("app", &next);
    world.server.cluster().set_error_rate(0.6, 11);
    let failing = world.reconcile().await;
    world.server.cluster().set_error_rate(0.0, 0);
    let web = placement(&failing, "web");
    assert_eq!(web.state, SyncState::Failed, "{web:?}");
    assert!(names(&world.config_maps()).await.contains(&"cm-5".to_string()), "prune skipped after a failure");
    let recovered = world.reconcile().await;
    assert_eq!(placement(&recovered, "web").state, SyncState::Synced, "{:?}", placement(&recovered, "web"));
    assert_eq!(names(&world.config_maps()).await, ["cm-0", "cm-1", "cm-2", "cm-3", "cm-4"]);
}

/// Copies a folder tree (files only).
fn copy_tree(from: &std::path::Path, to: &std::path::Path) {
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

#[tokio::test]
async fn the_example_fleet_syncs_a_store() {
    let world = World::new(Duration::ZERO);
    let examples = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/retail-fleet");
    // The example's three repositories, served by git daemon: infra is the fleet.
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
    for repo in ["fleet", "store-app", "cloud-services"] {
        world.commit(repo, &[]);
    }
    let first = world.reconcile().await;
    let names: Vec<&str> = first.placements.iter().map(|o| o.report.name.as_str()).collect();
    assert_eq!(names, ["baseline", "bt-collector", "store-monitoring"]);
    for o in &first.placements {
        assert!(matches!(o.report.state, SyncState::Synced | SyncState::Progressing), "{:?}", o.report);
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    let second = world.reconcile().await;
    for o in &second.placements {
        assert_eq!(o.report.state, SyncState::Synced, "{:?}", o.report);
        assert_eq!(o.report.applied_digest, o.report.desired_digest);
    }
}
