//! The preview of a merge into prod over real HTTP on loopback: a fleet with an app repository,
//! clusters that report what they run, and commits on `dev` of the app and of the fleet
//! repository; the API's groups and diffs (digests checked against core's own render), its
//! errors, the command line and the dashboard page.

mod common;

use common::{Hub, Setup, commit, fleet_repository, now, write_files};
use flotilla_core::fleet::{ClusterIdentity, Fleet};
use flotilla_core::selector::parse_labels;
use flotilla_git::testing::git;
use flotilla_git::{Cache, Source};
use serde_json::{Value, json};

const VIEWER: &str = "flt_view_preview_token_from_file";

/// Placements `web` (the app's `web/`, on `kind=store`, with a customization for EU stores)
/// and `base` (the fleet repository's `base/`, on `kind=store`). `EU` is the value the EU
/// customization adds, `BASE` base's selector.
const FLEET: &str = "\
apiVersion: flotilla.dev/v1alpha1
kind: Repository
metadata: {name: app}
spec: {url: APP}
---
apiVersion: flotilla.dev/v1alpha1
kind: Placement
metadata: {name: web}
spec:
  source: {repository: app, path: web}
  clusters: {matchLabels: {kind: store}}
  namespace: shop
  customizations:
  - clusters: {matchLabels: {region: eu}}
    patches:
    - target: {kind: ConfigMap, name: web}
      patch: |
        - {op: add, path: /data/eu, value: EU}
---
apiVersion: flotilla.dev/v1alpha1
kind: Placement
metadata: {name: base}
spec:
  source: {repository: fleet, path: base}
  clusters: {matchLabels: BASE}
";

fn fleet_yaml(app_url: &str, eu: &str, base: &str) -> String {
    FLEET.replace("APP", app_url).replace("EU", eu).replace("BASE", base)
}

/// The app's `web/`: the ConfigMap `web` at `version`, and `static`, which never changes.
fn app_files(version: &str, substitute: bool) -> Vec<(&'static str, String)> {
    // With substitution each store's ConfigMap names the store: every store its own digest.
    let store = if substitute { ", store: '${cluster.name}'" } else { "" };
    vec![
        (
            "web/cm.yaml",
            format!(
                "apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: web}}\ndata: {{greeting: hello{store}, version: '{version}'}}\n"
            ),
        ),
        ("web/static.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: static}\ndata: {a: b}\n".to_string()),
    ]
}

/// The stores: two in the US, two in the EU (store-0004 never reports), and an edge cluster no
/// placement selects.
const STORES: [(&str, &str); 4] =
    [("store-0001", "us"), ("store-0002", "us"), ("store-0003", "eu"), ("store-0004", "eu")];

fn identity(name: &str, labels: &str) -> ClusterIdentity {
    ClusterIdentity { name: name.parse().unwrap(), environment: "prod".into(), labels: parse_labels(labels).unwrap() }
}

fn store(name: &str, region: &str) -> ClusterIdentity {
    identity(name, &format!("kind=store,region={region}"))
}

/// The world: the app repository `<dir>/app` (prod at version 1; dev one commit ahead, at
/// version 2), the fleet repository (prod; dev one commit ahead, where the EU customization
/// adds another value and `base` selects US stores only), and the hub reading prod and dev.
struct World {
    hub: Hub,
    app_url: String,
    /// The heads: app prod, app dev, fleet prod, fleet dev.
    app_prod: String,
    app_dev: String,
    fleet_prod: String,
    fleet_dev: String,
}

/// The app, the fleet and a hub; with `substitute: true` on placement `web` and the store's name
/// in its ConfigMap when `substitute`.
async fn world_with(substitute: bool) -> World {
    let dir = tempfile::tempdir().unwrap();
    let app = dir.path().join("app");
    std::fs::create_dir_all(&app).unwrap();
    git(&app, &["init", "-q", "-b", "prod"]);
    write_files(&app, &app_files("1", substitute));
    let app_prod = commit(&app, &[]);
    git(&app, &["checkout", "-q", "-b", "dev"]);
    write_files(&app, &app_files("2", substitute));
    let app_dev = commit(&app, &[]);
    git(&app, &["checkout", "-q", "prod"]);

    let app_url = format!("file://{}", app.display());
    let substituted = |yaml: String| {
        if substitute { yaml.replace("  namespace: shop\n", "  namespace: shop\n  substitute: true\n") } else { yaml }
    };
    let prod_yaml = substituted(fleet_yaml(&app_url, "yes", "{kind: store}"));
    let fleet_prod = fleet_repository(
        dir.path(),
        &[
            ("fleet/fleet.yaml", prod_yaml.as_str()),
            ("base/ns.yaml", "apiVersion: v1\nkind: Namespace\nmetadata: {name: shop}\n"),
        ],
        &["dev"],
    );
    let fleet = dir.path().join("fleet");
    git(&fleet, &["checkout", "-q", "dev"]);
    let dev_yaml = substituted(fleet_yaml(&app_url, "si", "{kind: store, region: us}"));
    let fleet_dev = commit(&fleet, &[("fleet/fleet.yaml", dev_yaml.as_str())]);
    git(&fleet, &["checkout", "-q", "prod"]);

    let setup = Setup {
        db: format!("sqlite:{}", dir.path().join("hub.db").display()),
        viewer: VIEWER,
        environments: &["prod", "dev"],
        client: reqwest::Client::new(),
    };
    let hub = Hub::serve(dir, setup).await;
    World { hub, app_url, app_prod, app_dev, fleet_prod, fleet_dev }
}

/// What core renders for `placement` on `who`, with the fleet repository at branch `fleet_ref`
/// and the app at branch `app_ref`, read with a cache of its own: (source commit, digest).
fn render(world: &World, fleet_ref: &str, app_ref: &str, who: &ClusterIdentity, placement: &str) -> (String, String) {
    tokio::task::block_in_place(|| {
        let dir = tempfile::tempdir().unwrap();
        let cache = Cache::new(dir.path());
        let fleet = Source::new(world.hub.daemon.url("fleet"));
        let fleet_commit = cache.fetch(&fleet, &[fleet_ref]).unwrap().heads[fleet_ref];
        let fleet_snapshot = cache.snapshot(&fleet.url, fleet_commit).unwrap();
        let (model, errors) = Fleet::from_snapshot(&fleet_snapshot);
        assert_eq!(errors, []);
        let selection = model.select(who);
        let p = selection.placements.iter().find(|p| p.name() == placement).expect("selected");
        let (commit, snapshot) = if p.spec.source.repository() == Some("fleet") {
            (fleet_commit, fleet_snapshot.clone())
        } else {
            let app = Source::new(world.app_url.clone());
            let commit = cache.fetch(&app, &[app_ref]).unwrap().heads[app_ref];
            (commit, cache.snapshot(&app.url, commit).unwrap())
        };
        let rendered = flotilla_core::render::render(p, &snapshot, who).unwrap();
        (commit.to_string(), rendered.digest.to_string())
    })
}

/// A report of `placements` (name, commit, digest), each synced at that commit and digest.
fn report(cluster: &str, placements: &[(&str, String, String)]) -> String {
    let placements: Vec<Value> = placements
        .iter()
        .map(|(name, commit, digest)| {
            json!({"name": name, "state": "Synced", "sourceCommit": commit, "desiredDigest": digest,
                "appliedCommit": commit, "appliedDigest": digest, "health": "Healthy"})
        })
        .collect();
    json!({"version": 1, "cluster": cluster, "agentVersion": "0.1.0", "sequence": 1, "time": now(),
        "placements": placements})
    .to_string()
}

/// The world with every cluster registered, and all but store-0004 reporting what prod renders
/// for them, in the hub's index.
async fn reporting_world() -> World {
    reporting_world_with(false).await
}

/// [`reporting_world`] over [`world_with`]`(substitute)`.
async fn reporting_world_with(substitute: bool) -> World {
    let world = world_with(substitute).await;
    let hub = &world.hub;
    for (name, region) in STORES {
        let token = hub.register_labelled(name, json!({"kind": "store", "region": region})).await;
        if name == "store-0004" {
            continue;
        }
        let who = store(name, region);
        let placements: Vec<(&str, String, String)> = ["base", "web"]
            .into_iter()
            .map(|p| {
                let (commit, digest) = render(&world, "prod", "prod", &who, p);
                (p, commit, digest)
            })
            .collect();
        let (status, answer) = hub.post("/api/v1/reports", Some(&token), &report(name, &placements)).await;
        assert_eq!(status, 200, "{answer}");
    }
    let token = hub.register_labelled("store-edge", json!({"kind": "edge"})).await;
    let (status, answer) = hub.post("/api/v1/reports", Some(&token), &report("store-edge", &[])).await;
    assert_eq!(status, 200, "{answer}");
    hub.wait_for("/api/v1/summary", "the reports", |v| v["clusters"] == 5 && v["byStanding"]["neverReported"] == 1)
        .await;
    // Until the fleet, with the app's dev branch, is read.
    hub.wait_for("/api/v1/promotion", "the promotions", |v| {
        v["app"]["commits"].as_array().is_some_and(|c| c.len() == 1)
    })
    .await;
    world
}

/// The group of `placement` with `change` and `digest`, if any.
fn group<'a>(preview: &'a Value, placement: &str, change: &str) -> Vec<&'a Value> {
    preview["groups"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|g| g["placement"] == placement && g["change"] == change)
        .collect()
}

fn names(group: &Value) -> Vec<&str> {
    group["names"].as_array().unwrap().iter().map(|n| n.as_str().unwrap()).collect()
}

fn lines(object: &Value) -> Vec<&str> {
    object["lines"].as_array().unwrap().iter().map(|l| l.as_str().unwrap()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(flotilla_skip_git_daemon, ignore = "FLOTILLA_SKIP=git-daemon")]
async fn a_dev_commit_of_the_app_groups_the_clusters_by_new_digest_with_the_object_diff() {
    let world = reporting_world().await;
    let hub = &world.hub;
    let (status, p) = hub.get("/api/v1/preview?ref=dev&repository=app").await;
    assert_eq!(status, 200, "{p}");
    assert_eq!(
        (p["environment"].as_str(), p["repository"].as_str(), p["ref"].as_str()),
        (Some("prod"), Some("app"), Some("dev"))
    );
    assert_eq!(p["commit"], world.app_dev);
    // Every store would change (store-0004 never reported: nothing known runs there); the
    // edge cluster runs nothing and would run nothing.
    assert_eq!(
        (&p["clusters"], &p["wouldChange"], &p["unchanged"], &p["wouldFail"]),
        (&json!(5), &json!(4), &json!(1), &json!(0))
    );

    // The US stores share a new digest, the reporting EU store has its own; base does not change.
    let us = render(&world, "prod", "dev", &store("store-0001", "us"), "web").1;
    let eu = render(&world, "prod", "dev", &store("store-0003", "eu"), "web").1;
    assert_ne!(us, eu);
    let changed = group(&p, "web", "changed");
    assert_eq!(changed.len(), 2, "{p}");
    assert_eq!(p["groups"][0], *changed[0], "the largest group first");
    assert_eq!(
        (names(changed[0]), &changed[0]["digest"], changed[0]["clusters"].as_u64()),
        (vec!["store-0001", "store-0002"], &json!(us), Some(2))
    );
    assert_eq!((names(changed[1]), &changed[1]["digest"]), (vec!["store-0003"], &json!(eu)));
    assert_eq!(changed[0]["sourceCommit"], world.app_dev);
    let added = group(&p, "web", "added");
    assert_eq!((added.len(), names(added[0]), &added[0]["digest"]), (1, vec!["store-0004"], &json!(eu)));
    assert_eq!(names(group(&p, "base", "added")[0]), ["store-0004"]);
    assert!(group(&p, "base", "changed").is_empty(), "{p}");
    assert_eq!(p["groups"].as_array().unwrap().len(), 4, "{p}");

    // The diff of the first US store: the one ConfigMap that changed, from prod's commit to dev's.
    let diff = &changed[0]["diff"];
    assert_eq!(
        (&diff["cluster"], &diff["fromCommit"], &diff["toCommit"]),
        (&json!("store-0001"), &json!(world.app_prod), &json!(world.app_dev))
    );
    assert_eq!(diff["unchanged"], 1, "static stays: {diff}");
    let objects = diff["objects"].as_array().unwrap();
    assert_eq!(objects.len(), 1, "{diff}");
    let web = &objects[0];
    assert_eq!(
        (&web["kind"], &web["namespace"], &web["name"], &web["change"]),
        (&json!("ConfigMap"), &json!("shop"), &json!("web"), &json!("changed"))
    );
    let lines = lines(web);
    assert!(lines[0].starts_with("@@ "), "{lines:?}");
    assert!(lines.contains(&"-  version: \"1\""), "{lines:?}");
    assert!(lines.contains(&"+  version: \"2\""), "{lines:?}");
    assert!(lines.contains(&"   greeting: hello"), "context: {lines:?}");
    assert_eq!(lines.iter().filter(|l| l.starts_with('+') || l.starts_with('-')).count(), 2, "{lines:?}");
    // For the never-reported store everything is added, nothing diffed line by line.
    let diff = &added[0]["diff"];
    assert_eq!((&diff["fromCommit"], diff["objects"].as_array().unwrap().len()), (&Value::Null, 2));
    assert!(diff["objects"].as_array().unwrap().iter().all(|o| o["change"] == "added"), "{diff}");

    // A full commit id works as well as the branch; the current prod head changes nothing.
    let (status, by_id) = hub.get(&format!("/api/v1/preview?ref={}&repository=app", world.app_dev)).await;
    assert_eq!((status, &by_id["groups"]), (200, &p["groups"]), "{by_id}");
    let (status, same) = hub.get("/api/v1/preview?ref=prod&repository=app&environment=prod").await;
    assert_eq!(status, 200, "{same}");
    assert_eq!((&same["wouldChange"], &same["unchanged"]), (&json!(1), &json!(4)), "only store-0004: {same}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(flotilla_skip_git_daemon, ignore = "FLOTILLA_SKIP=git-daemon")]
async fn with_substitution_the_stores_are_grouped_by_their_change_not_their_digest() {
    let world = reporting_world_with(true).await;
    let hub = &world.hub;
    let (one, two) = (store("store-0001", "us"), store("store-0002", "us"));
    assert_ne!(render(&world, "prod", "dev", &one, "web").1, render(&world, "prod", "dev", &two, "web").1);
    let (status, p) = hub.get("/api/v1/preview?ref=dev&repository=app").await;
    assert_eq!(status, 200, "{p}");
    // The US stores, each with its own digest, make one group: the same change but for their
    // names; the EU store's change differs (its EU value), so it has its own.
    let changed = group(&p, "web", "changed");
    assert_eq!(changed.len(), 2, "{p}");
    assert_eq!(
        (names(changed[0]), changed[0]["clusters"].as_u64(), changed[0]["digests"].as_u64()),
        (vec!["store-0001", "store-0002"], Some(2), Some(2)),
        "{p}"
    );
    assert_eq!((names(changed[1]), changed[1]["digests"].as_u64()), (vec!["store-0003"], Some(1)));
    // One diff for the group, of its first store.
    let diff = &changed[0]["diff"];
    assert_eq!(diff["cluster"], "store-0001");
    let lines = lines(&diff["objects"][0]);
    assert!(lines.contains(&"   store: store-0001"), "{lines:?}");
    assert!(lines.contains(&"+  version: \"2\""), "{lines:?}");
    let (status, html) = dashboard_page(hub, "/preview?ref=dev&repository=app").await;
    assert_eq!(status, 200, "{html}");
    assert!(html.contains("<span class=\"digests\">2 digests, each its own values</span>"), "{html}");
    assert_eq!(html.matches("<h2>web changed on ").count(), 2, "one diff per group: {html}");
}

/// A dashboard page with the viewer token: status and HTML.
async fn dashboard_page(hub: &Hub, path: &str) -> (u16, String) {
    let response = hub.client.get(format!("{}{path}", hub.url)).bearer_auth(VIEWER).send().await.unwrap();
    (response.status().as_u16(), response.text().await.unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(flotilla_skip_git_daemon, ignore = "FLOTILLA_SKIP=git-daemon")]
async fn a_dev_commit_of_the_fleet_changes_the_clusters_it_affects_only() {
    let world = reporting_world().await;
    let hub = &world.hub;
    // The fleet repository is the default.
    let (status, p) = hub.get("/api/v1/preview?ref=dev").await;
    assert_eq!(status, 200, "{p}");
    assert_eq!((&p["repository"], &p["commit"]), (&json!("fleet"), &json!(world.fleet_dev)));
    assert_eq!(p["warnings"], json!([]));
    // The US stores keep what they run; store-0003 gets another EU value and loses base;
    // store-0004 gets web alone.
    assert_eq!((&p["wouldChange"], &p["unchanged"], &p["wouldFail"]), (&json!(2), &json!(3), &json!(0)), "{p}");
    let all: Vec<&str> = p["groups"].as_array().unwrap().iter().flat_map(names).collect();
    assert!(!all.contains(&"store-0001") && !all.contains(&"store-0002"), "{p}");
    let eu = render(&world, "dev", "prod", &store("store-0003", "eu"), "web");
    let changed = group(&p, "web", "changed");
    assert_eq!((changed.len(), names(changed[0]), &changed[0]["digest"]), (1, vec!["store-0003"], &json!(eu.1)));
    let objects = changed[0]["diff"]["objects"].as_array().unwrap();
    assert_eq!(objects.len(), 1, "{objects:?}");
    let lines = lines(&objects[0]);
    assert!(lines.contains(&"-  eu: \"yes\"") && lines.contains(&"+  eu: si"), "{lines:?}");
    let removed = group(&p, "base", "removed");
    assert_eq!((removed.len(), names(removed[0]), &removed[0]["digest"]), (1, vec!["store-0003"], &Value::Null));
    let diff = &removed[0]["diff"];
    assert_eq!((&diff["fromCommit"], &diff["toCommit"]), (&json!(world.fleet_prod), &Value::Null));
    assert_eq!(diff["objects"][0]["kind"], "Namespace");
    assert_eq!(diff["objects"][0]["change"], "removed");
    assert_eq!(names(group(&p, "web", "added")[0]), ["store-0004"]);
    assert!(group(&p, "base", "added").is_empty(), "base no longer selects EU stores: {p}");

    // By commit id: the same.
    let (status, by_id) = hub.get(&format!("/api/v1/preview?ref={}", world.fleet_dev)).await;
    assert_eq!((status, &by_id["groups"]), (200, &p["groups"]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(flotilla_skip_git_daemon, ignore = "FLOTILLA_SKIP=git-daemon")]
async fn unknown_refs_repositories_and_environments_are_404_naming_the_field() {
    let world = reporting_world().await;
    let hub = &world.hub;
    let missing = "0123456789abcdef0123456789abcdef01234567";
    for (query, field, says) in [
        ("ref=nope&repository=app", "ref", world.app_url.as_str()),
        ("ref=nope", "ref", "\"fleet\""),
        (&format!("ref={missing}&repository=app") as &str, "ref", missing),
        ("ref=dev&repository=nope", "repository", "nope"),
        ("ref=dev&environment=staging", "environment", "staging"),
    ] {
        let (status, answer) = hub.get(&format!("/api/v1/preview?{query}")).await;
        assert_eq!((status, &answer["field"]), (404, &json!(field)), "{query}: {answer}");
        let error = answer["error"].as_str().unwrap();
        assert!(error.contains(says), "{query}: {error}");
    }
    let (status, answer) = hub.get("/api/v1/preview?repository=app").await;
    assert_eq!((status, &answer["field"]), (400, &json!("ref")), "{answer}");
    // A viewer token is needed.
    let response = hub.client.get(format!("{}/api/v1/preview?ref=dev", hub.url)).send().await.unwrap();
    assert_eq!(response.status().as_u16(), 401);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(flotilla_skip_git_daemon, ignore = "FLOTILLA_SKIP=git-daemon")]
async fn the_command_line_and_the_dashboard_show_the_preview() {
    let world = reporting_world().await;
    let hub = &world.hub;
    let out = hub.cli(&["preview", "--ref", "dev", "--repository", "app"]);
    let short = &world.app_dev[..12];
    assert!(
        out.starts_with(&format!(
            "app at dev ({short}) in prod: 4 of 5 clusters would change, 0 would fail to render, 1 unchanged\n"
        )),
        "{out}"
    );
    assert!(out.contains("PLACEMENT"), "{out}");
    assert!(out.contains("store-0001,store-0002"), "{out}");
    assert!(out.contains("web changed on store-0001"), "{out}");
    assert!(out.contains("\n    -  version: \"1\"\n    +  version: \"2\"\n"), "{out}");
    let json: Value =
        serde_json::from_str(&hub.cli(&["preview", "--ref", "dev", "--repository", "app", "--format", "json"]))
            .unwrap();
    assert_eq!(json["wouldChange"], 4);

    let page = |path: &str| {
        let request =
            hub.client.get(format!("{}{path}", hub.url)).header("cookie", format!("flotilla_viewer={VIEWER}"));
        async move {
            let response = request.send().await.unwrap();
            (response.status().as_u16(), response.text().await.unwrap())
        }
    };
    let (status, html) = page("/preview?ref=dev&repository=app&environment=prod").await;
    assert_eq!(status, 200, "{html}");
    assert!(html.contains("<table id=\"preview-groups\">"), "{html}");
    assert!(html.contains("4 of 5 clusters would change"), "{html}");
    assert!(html.contains("href=\"/clusters/store-0001\""), "{html}");
    assert!(html.contains("<span class=\"del\">-  version: &quot;1&quot;</span>"), "escaped: {html}");
    assert!(html.contains("<span class=\"add\">+  version: &quot;2&quot;</span>"), "{html}");
    assert!(!html.contains("http-equiv=\"refresh\""), "a preview does not refresh itself");
    // Without a ref: the form and the pending promotions, each with its preview.
    let (status, html) = page("/preview").await;
    assert_eq!(status, 200, "{html}");
    assert!(html.contains("id=\"preview-form\""), "{html}");
    assert!(html.contains("href=\"/preview?ref=dev&amp;repository=app&amp;environment=prod\""), "{html}");
    assert!(html.contains("href=\"/preview?ref=dev&amp;repository=fleet&amp;environment=prod\""), "{html}");
    // An unknown ref: 404 with the form and the reason.
    let (status, html) = page("/preview?ref=nope&repository=app").await;
    assert_eq!(status, 404, "{html}");
    assert!(html.contains("id=\"error\"") && html.contains("nope"), "{html}");
    // Without a login: the login form.
    let response = hub.client.get(format!("{}/preview?ref=dev", hub.url)).send().await.unwrap();
    assert_eq!(response.status().as_u16(), 401);
}

/// A chart reads the cluster's Kubernetes (`.Capabilities`): the hub renders each cluster's
/// chart with the Kubernetes its reports last said, so a store whose API server serves the
/// Prometheus operator's kinds is not shown a change its agent would not make, and a merge
/// that changes the chart shows each store the digest its own agent will compute.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(flotilla_skip_git_daemon, ignore = "FLOTILLA_SKIP=git-daemon")]
async fn a_chart_renders_with_the_kubernetes_each_cluster_reported() {
    let chart = |version: &str| -> Vec<(&'static str, String)> {
        vec![
            ("chart/Chart.yaml", "apiVersion: v2\nname: shop\nversion: 0.1.0\n".into()),
            (
                "chart/templates/cm.yaml",
                format!(
                    "apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: shop}}\ndata:\n  version: '{version}'\n  kube: {{{{ .Capabilities.KubeVersion.Version }}}}\n  \
                     monitoring: {{{{ .Capabilities.APIVersions.Has \"monitoring.coreos.com/v1/ServiceMonitor\" | quote }}}}\n"
                ),
            ),
        ]
    };
    let dir = tempfile::tempdir().unwrap();
    let app = dir.path().join("app");
    std::fs::create_dir_all(&app).unwrap();
    git(&app, &["init", "-q", "-b", "prod"]);
    write_files(&app, &chart("1"));
    let app_prod = commit(&app, &[]);
    git(&app, &["checkout", "-q", "-b", "dev"]);
    write_files(&app, &chart("2"));
    let app_dev = commit(&app, &[]);
    git(&app, &["checkout", "-q", "prod"]);
    let app_url = format!("file://{}", app.display());
    let fleet_text = format!(
        "apiVersion: flotilla.dev/v1alpha1\nkind: Repository\nmetadata: {{name: app}}\nspec: {{url: {app_url}}}\n---\n\
         apiVersion: flotilla.dev/v1alpha1\nkind: Placement\nmetadata: {{name: shop}}\nspec:\n  \
         source: {{repository: app, path: chart, helm: {{}}}}\n  clusters: {{matchLabels: {{kind: store}}}}\n  namespace: shop\n"
    );
    fleet_repository(dir.path(), &[("fleet/fleet.yaml", fleet_text.as_str())], &["dev"]);
    let setup = Setup {
        db: format!("sqlite:{}", dir.path().join("hub.db").display()),
        viewer: VIEWER,
        environments: &["prod", "dev"],
        client: reqwest::Client::new(),
    };
    let hub = Hub::serve(dir, setup).await;

    // What the agents render: core with each cluster's Kubernetes.
    let monitored = flotilla_core::report::Kubernetes {
        version: "v1.30.4".into(),
        api_versions: vec![
            "apps/v1".into(),
            "apps/v1/Deployment".into(),
            "monitoring.coreos.com/v1".into(),
            "monitoring.coreos.com/v1/ServiceMonitor".into(),
            "v1".into(),
            "v1/ConfigMap".into(),
        ],
    };
    let placement = {
        let mut snapshot = flotilla_core::snapshot::Snapshot::new();
        snapshot.insert_file("fleet/fleet.yaml", fleet_text.clone());
        let (fleet, errors) = Fleet::from_snapshot(&snapshot);
        assert_eq!(errors, []);
        fleet.placements[0].clone()
    };
    let digest = |commit: &str, who: &ClusterIdentity, kubernetes: Option<&flotilla_core::report::Kubernetes>| {
        let version = if commit == app_prod { "1" } else { "2" };
        let mut snapshot = flotilla_core::snapshot::Snapshot::new();
        for (path, text) in chart(version) {
            snapshot.insert_file(path, text);
        }
        let defaults = flotilla_core::render::Options::default();
        let options = kubernetes.map_or_else(|| defaults.clone(), |k| defaults.for_kubernetes(k));
        flotilla_core::render::render_with(&placement, &snapshot, who, &options).unwrap().digest.to_string()
    };
    let (plain, watched) = (store("store-0001", "us"), store("store-0002", "us"));
    assert_ne!(digest(&app_prod, &watched, Some(&monitored)), digest(&app_prod, &watched, None));

    // store-0001 never says its Kubernetes (Helm's defaults); store-0002 says it once, then not.
    let plain_token = hub.register_labelled("store-0001", json!({"kind": "store", "region": "us"})).await;
    let watched_token = hub.register_labelled("store-0002", json!({"kind": "store", "region": "us"})).await;
    let synced =
        |cluster: &str, sequence: u64, digest: String, kubernetes: Option<&flotilla_core::report::Kubernetes>| {
            let mut report: Value =
                serde_json::from_str(&report(cluster, &[("shop", app_prod.clone(), digest)])).unwrap();
            report["sequence"] = json!(sequence);
            if let Some(k) = kubernetes {
                report["kubernetes"] = serde_json::to_value(k).unwrap();
            }
            report.to_string()
        };
    let (status, answer) = hub
        .post("/api/v1/reports", Some(&plain_token), &synced("store-0001", 1, digest(&app_prod, &plain, None), None))
        .await;
    assert_eq!(status, 200, "{answer}");
    let said = synced("store-0002", 1, digest(&app_prod, &watched, Some(&monitored)), Some(&monitored));
    let (status, answer) = hub.post("/api/v1/reports", Some(&watched_token), &said).await;
    assert_eq!(status, 200, "{answer}");
    let unsaid = synced("store-0002", 2, digest(&app_prod, &watched, Some(&monitored)), None);
    let (status, answer) = hub.post("/api/v1/reports", Some(&watched_token), &unsaid).await;
    assert_eq!(status, 200, "{answer}");
    hub.wait_for("/api/v1/summary", "the reports", |v| v["clusters"] == 2 && v["byStanding"]["synced"] == 2).await;

    // Prod as it is: nothing would change on either store (the hub renders store-0002's chart
    // with the Prometheus operator's kinds, as its agent did).
    let same = hub.wait_for("/api/v1/preview?ref=prod&repository=app", "the fleet read", |v| v["clusters"] == 2).await;
    assert_eq!((&same["wouldChange"], &same["unchanged"]), (&json!(0), &json!(2)), "{same}");

    // Dev: each store changes to the digest its own agent will compute.
    let p =
        hub.wait_for("/api/v1/preview?ref=dev&repository=app", "the app's dev branch", |v| v["clusters"] == 2).await;
    let changed = group(&p, "shop", "changed");
    assert_eq!(changed.len(), 2, "{p}");
    let digest_of = |name: &str| changed.iter().find(|g| names(g) == [name]).map(|g| g["digest"].clone());
    assert_eq!(digest_of("store-0001"), Some(json!(digest(&app_dev, &plain, None))), "{p}");
    assert_eq!(digest_of("store-0002"), Some(json!(digest(&app_dev, &watched, Some(&monitored)))), "{p}");
    let diff = serde_json::to_string(&changed.iter().find(|g| names(g) == ["store-0002"]).unwrap()["diff"]).unwrap();
    assert!(diff.contains(r#"monitoring: \"true\""#) && diff.contains("kube: v1.30.4"), "{diff}");
}
