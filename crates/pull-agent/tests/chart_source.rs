//! Placements of charts from Helm repositories (`source.chart`), synced by the agent onto the
//! test API server: from a chart repository and from an OCI registry served on 127.0.0.1 by
//! `flotilla_charts::testing::ChartServer`, the version its range takes, a new version in range
//! taken on the next reconcile, the archive's digest as the source commit (the same from both),
//! and a chart that cannot be had (no version in range, a digest mismatch) reported naming the
//! placement's file and field, with nothing applied. A real chart of the Helm corpus
//! (`../shared/helm-charts`, outside the repository), packed at run time, syncs as Helm renders it.

mod common;

use std::path::Path;
use std::time::Duration;

use common::{World, names, placement};
use flotilla_charts::testing::{ChartServer, package};
use flotilla_core::helm::repo;
use flotilla_core::report::SyncState;

/// A chart `web` of `version`: its namespace (the release's) and a ConfigMap saying the version.
fn web_chart(version: &str) -> Vec<u8> {
    let dir = tempfile::tempdir().unwrap();
    let write = |path: &str, text: &str| {
        let file = dir.path().join(path);
        std::fs::create_dir_all(file.parent().unwrap()).unwrap();
        std::fs::write(file, text).unwrap();
    };
    write("Chart.yaml", &format!("apiVersion: v2\nname: web\nversion: {version}\n"));
    write("values.yaml", "greeting: hello\n");
    write("values-eu.yaml", "greeting: bonjour\n");
    write("templates/namespace.yaml", "apiVersion: v1\nkind: Namespace\nmetadata: {name: {{ .Release.Namespace }}}\n");
    write(
        "templates/configmap.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: {{ .Release.Name }}}\ndata:\n  version: {{ .Chart.Version | quote }}\n  greeting: {{ .Values.greeting | quote }}\n  store: {{ .Values.store | quote }}\n",
    );
    package(dir.path()).unwrap()
}

/// The placement of chart `web` from `url`, in range `version`, on stores.
fn web_placement(world: &World, url: &str, version: &str) -> String {
    format!(
        "apiVersion: flotilla.dev/v1alpha1\nkind: Placement\nmetadata: {{name: web}}\nspec:\n  source:\n    chart: {{url: '{url}', name: web, version: '{version}'}}\n    helm:\n      releaseName: shop-web\n      values: {{store: '${{cluster.name}}'}}\n      valuesFiles: [values-eu.yaml]\n  clusters: {{matchLabels: {{kind: store}}}}\n  namespace: {}\n  substitute: true\n",
        world.namespace
    )
}

async fn data(world: &World, name: &str) -> serde_json::Value {
    world.config_maps().get(name).await.unwrap().data["data"].clone()
}

#[tokio::test]
#[cfg_attr(flotilla_skip_git_daemon, ignore = "FLOTILLA_SKIP=git-daemon")]
async fn a_chart_from_a_helm_repository_syncs_and_takes_a_new_version_in_its_range() {
    let world = World::new(Duration::ZERO);
    let charts = ChartServer::start().unwrap();
    let first = web_chart("1.0.0");
    charts.publish(&first);
    charts.publish(&web_chart("2.0.0"));
    world.commit("fleet", &[("fleet/web.yaml", &web_placement(&world, &charts.repository_url(), "1.0.*"))]);

    let reconciled = world.reconcile().await;
    let report = placement(&reconciled, "web");
    assert_eq!(report.state, SyncState::Synced, "{report:?}");
    // The source commit of a chart is its archive's digest: the same as the hub computes.
    assert_eq!(report.source_commit.as_deref(), Some(repo::sha256_hex(&first).as_str()));
    assert_eq!(report.applied_commit, report.source_commit);
    assert_eq!(
        data(&world, "shop-web").await,
        serde_json::json!({"version": "1.0.0", "greeting": "bonjour", "store": "store-0001"}),
        "the chart's values file, the placement's values substituted"
    );
    let cached = world.root.join("state/charts/sha256").join(format!("{}.tgz", repo::sha256_hex(&first)));
    assert!(cached.is_file(), "cached by digest in stateDir");

    // The hub fetches the chart as the agent does, and expects what the agent reports.
    let fleet = flotilla_git::Source::new(world.daemon.url("fleet"));
    let view = hub_index::git_view::FleetView::load(&world.root.join("hub-cache"), &fleet, &["prod"]).unwrap();
    let identity = flotilla_core::fleet::ClusterIdentity {
        name: "store-0001".parse().unwrap(),
        environment: "prod".into(),
        labels: [("kind".to_string(), "store".to_string())].into(),
    };
    // (The chart reads nothing of `.Capabilities`: Helm's defaults render what the cluster's do.)
    let expected = view.expected(&identity, &hub_index::git_view::render_options(None));
    assert_eq!(expected.len(), 1);
    assert_eq!(expected[0].error, None);
    assert_eq!(expected[0].source_commit.map(|c| c.to_string()), report.source_commit);
    assert_eq!(expected[0].digest, report.desired_digest);

    // A new version in range is taken by the next reconcile; the other major is not.
    let patch = web_chart("1.0.1");
    charts.publish(&patch);
    let reconciled = world.reconcile().await;
    let report = placement(&reconciled, "web");
    assert_eq!((report.state, report.source_commit.clone()), (SyncState::Synced, Some(repo::sha256_hex(&patch))));
    assert_eq!(data(&world, "shop-web").await["version"], "1.0.1");

    // The same chart from the registry: the same digest, so nothing to change.
    world.commit("fleet", &[("fleet/web.yaml", &web_placement(&world, &charts.oci_url(), "1.0.1"))]);
    let reconciled = world.reconcile().await;
    let from_registry = placement(&reconciled, "web");
    assert_eq!(from_registry.state, SyncState::Synced, "{from_registry:?}");
    assert_eq!(from_registry.source_commit, report.source_commit);
    assert_eq!(from_registry.desired_digest, report.desired_digest);
}

#[tokio::test]
#[cfg_attr(flotilla_skip_git_daemon, ignore = "FLOTILLA_SKIP=git-daemon")]
async fn a_chart_that_cannot_be_had_is_reported_and_nothing_changes() {
    let world = World::new(Duration::ZERO);
    let charts = ChartServer::start().unwrap();
    let good = web_chart("1.0.0");
    charts.publish(&good);
    world.commit("fleet", &[("fleet/web.yaml", &web_placement(&world, &charts.repository_url(), "1.*"))]);
    assert_eq!(placement(&world.reconcile().await, "web").state, SyncState::Synced);

    // No version in range: said with the placement's file and field.
    world.commit("fleet", &[("fleet/web.yaml", &web_placement(&world, &charts.repository_url(), "3.*"))]);
    let reconciled = world.reconcile().await;
    let report = placement(&reconciled, "web");
    assert_eq!(report.state, SyncState::Failed, "{report:?}");
    let message = report.message.clone().unwrap_or_default();
    assert!(
        message.starts_with("placement web (fleet/web.yaml): field spec.source.chart: ")
            && message.ends_with("no version of chart \"web\" satisfies \"3.*\" (the newest: 1.0.0)"),
        "{message}"
    );
    assert_eq!(report.applied_commit.as_deref(), Some(repo::sha256_hex(&good).as_str()), "it still runs 1.0.0");
    assert_eq!(data(&world, "shop-web").await["version"], "1.0.0");

    // A new version whose archive is not the one the index names: refused, nothing applied.
    world.commit("fleet", &[("fleet/web.yaml", &web_placement(&world, &charts.repository_url(), "1.*"))]);
    charts.publish(&web_chart("1.1.0"));
    charts.replace_file("web-1.1.0.tgz", &web_chart("1.1.0-evil"));
    let reconciled = world.reconcile().await;
    let report = placement(&reconciled, "web");
    assert_eq!(report.state, SyncState::Failed, "{report:?}");
    let message = report.message.clone().unwrap_or_default();
    assert!(message.contains("field spec.source.chart: ") && message.contains("digest mismatch"), "{message}");
    assert_eq!(data(&world, "shop-web").await["version"], "1.0.0");

    // Under agent.yaml's `sources: {verify: enforce}` a chart, which has no signed commit, is refused.
    let mut config = world.config();
    config.sources_verify = pull_agent::config::VerifyMode::Enforce;
    let mut cluster = pull_agent::cluster::Cluster::new(world.client());
    let reconciled = pull_agent::agent::reconcile(&config, &mut cluster, pull_agent::agent::Mode::Apply).await.unwrap();
    let report = placement(&reconciled, "web");
    assert_eq!(report.state, SyncState::VerificationFailed, "{report:?}");
    assert!(report.message.as_deref().unwrap_or_default().contains("sources.verify is enforce"), "{report:?}");

    // A repository that cannot be reached: the source is unreachable.
    let url = charts.repository_url();
    drop(charts);
    world.commit("fleet", &[("fleet/web.yaml", &web_placement(&world, &url, "1.*"))]);
    let report = placement(&world.reconcile().await, "web").clone();
    assert_eq!(report.state, SyncState::SourceUnreachable, "{report:?}");
    assert_eq!(data(&world, "shop-web").await["version"], "1.0.0");
}

/// A real chart (Fluent Bit, from the Helm corpus), packed and served, syncs: its objects are
/// the ones Helm renders for it.
#[tokio::test]
#[cfg_attr(flotilla_skip_git_daemon, ignore = "FLOTILLA_SKIP=git-daemon")]
async fn a_real_chart_from_a_registry_syncs_onto_the_cluster() {
    let world = World::new(Duration::ZERO);
    let charts = ChartServer::start().unwrap();
    let dir =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/helm-charts/fluent+helm-charts_charts_fluent-bit");
    assert!(dir.is_dir(), "the Helm corpus is missing: {}", dir.display());
    charts.publish(&package(&dir).unwrap());
    let fleet = format!(
        "apiVersion: flotilla.dev/v1alpha1\nkind: Placement\nmetadata: {{name: base}}\nspec:\n  source: {{repository: fleet, path: base}}\n  clusters: {{}}\n  scope: {{cluster: true}}\n---\napiVersion: flotilla.dev/v1alpha1\nkind: Placement\nmetadata: {{name: logs}}\nspec:\n  source:\n    chart: {{url: '{}', name: fluent-bit, version: '>=0.50'}}\n    helm: {{releaseName: flotilla}}\n  clusters: {{}}\n  namespace: {}\n  scope: {{cluster: true}}\n",
        charts.oci_url(),
        world.namespace
    );
    world.commit("fleet", &[("fleet/fleet.yaml", &fleet), ("base/namespace.yaml", &world.namespace_yaml())]);
    let reconciled = world.reconcile_after(Duration::ZERO, pull_agent::agent::Reconciled::synced).await;
    let report = placement(&reconciled, "logs");
    assert!(report.message.is_none(), "{report:?}");
    assert_eq!(report.source_commit.as_deref().map(str::len), Some(64));
    let daemon_sets = world.api("apps/v1", "DaemonSet", "daemonsets", Some(&world.namespace));
    assert_eq!(names(&daemon_sets).await, ["flotilla-fluent-bit"]);
    assert_eq!(names(&world.config_maps()).await, ["flotilla-fluent-bit"]);
}
