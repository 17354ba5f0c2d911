//! The agent's reconcile against the project's test API server over HTTP, with real git
//! repositories served by `git daemon`: first sync, new commits, prune, drift, broken commits,
//! isolation between placements, CRDs, health, and an API server that fails mid-apply.
//!
//! The scenarios in `common::scenarios` run here and, with `-- --ignored`, on a real cluster
//! (`real_cluster.rs`); the tests written out in this file need the test server's fault switches
//! or the example fleet.

mod common;

use std::time::Duration;

use common::{World, fleet, names, placement, scenarios};
use flotilla_core::report::SyncState;

#[tokio::test]
#[cfg_attr(flotilla_skip_git_daemon, ignore = "FLOTILLA_SKIP=git-daemon")]
async fn first_sync_new_commit_prune_and_a_hand_made_object_left_alone() {
    scenarios::first_sync_new_commit_prune_and_a_hand_made_object_left_alone(&World::new(Duration::ZERO)).await;
}

#[tokio::test]
#[cfg_attr(flotilla_skip_git_daemon, ignore = "FLOTILLA_SKIP=git-daemon")]
async fn drift_is_corrected_or_with_drift_correction_off_only_reported() {
    scenarios::drift_is_corrected_or_with_drift_correction_off_only_reported(&World::new(Duration::ZERO)).await;
}

#[tokio::test]
#[cfg_attr(flotilla_skip_git_daemon, ignore = "FLOTILLA_SKIP=git-daemon")]
async fn a_broken_commit_keeps_the_last_good_state_and_other_placements_sync() {
    scenarios::a_broken_commit_keeps_the_last_good_state_and_other_placements_sync(&World::new(Duration::ZERO)).await;
}

#[tokio::test]
#[cfg_attr(flotilla_skip_git_daemon, ignore = "FLOTILLA_SKIP=git-daemon")]
async fn a_crd_and_its_resources_in_one_commit() {
    scenarios::a_crd_and_its_resources_in_one_commit(&World::new(Duration::ZERO)).await;
}

#[tokio::test]
#[cfg_attr(flotilla_skip_git_daemon, ignore = "FLOTILLA_SKIP=git-daemon")]
async fn an_unhealthy_deployment_degrades_the_placement() {
    scenarios::an_unhealthy_deployment_degrades_the_placement(&World::new(Duration::from_millis(50))).await;
}

#[tokio::test]
#[cfg_attr(flotilla_skip_git_daemon, ignore = "FLOTILLA_SKIP=git-daemon")]
async fn an_api_server_failing_mid_apply_skips_prune_and_the_next_run_converges() {
    let world = World::new(Duration::ZERO);
    world.commit("fleet", &[("fleet/fleet.yaml", &fleet(&world, ""))]);
    let files: Vec<(String, String)> =
        (0..6).map(|i| (format!("web/cm-{i}.yaml"), world.config_map(&format!("cm-{i}"), "1"))).collect();
    let namespace = world.namespace_yaml();
    let mut all: Vec<(&str, &str)> = files.iter().map(|(p, t)| (p.as_str(), t.as_str())).collect();
    all.push(("web/namespace.yaml", &namespace));
    world.commit("app", &all);
    world.reconcile().await;
    // A new commit drops cm-5 and changes the others; the API server fails for a while mid-way.
    let changed: Vec<(String, String)> =
        (0..5).map(|i| (format!("web/cm-{i}.yaml"), world.config_map(&format!("cm-{i}"), "2"))).collect();
    let mut next: Vec<(&str, &str)> = changed.iter().map(|(p, t)| (p.as_str(), t.as_str())).collect();
    next.push(("web/cm-5.yaml", ""));
    world.commit("app", &next);
    world.server().cluster().set_error_rate(0.6, 11);
    let failing = world.reconcile().await;
    world.server().cluster().set_error_rate(0.0, 0);
    let web = placement(&failing, "web");
    assert_eq!(web.state, SyncState::Failed, "{web:?}");
    assert!(names(&world.config_maps()).await.contains(&"cm-5".to_string()), "prune skipped after a failure");
    let recovered = world.reconcile().await;
    assert_eq!(placement(&recovered, "web").state, SyncState::Synced, "{:?}", placement(&recovered, "web"));
    assert_eq!(names(&world.config_maps()).await, ["cm-0", "cm-1", "cm-2", "cm-3", "cm-4"]);
}

#[tokio::test]
#[cfg_attr(flotilla_skip_git_daemon, ignore = "FLOTILLA_SKIP=git-daemon")]
async fn the_example_fleet_syncs_a_store() {
    let world = World::new(Duration::ZERO);
    common::example_repositories(&world);
    for repo in ["fleet", "store-app", "cloud-services"] {
        world.commit(repo, &[]);
    }
    // bt-collector deploys only inside its window, 02:00–05:00 in Chicago: decide at 09:00 UTC
    // tomorrow (03:00 or 04:00 there), whatever the time the test runs.
    let today = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() / 86_400;
    let night = i64::try_from((today + 1) * 86_400 + 9 * 3_600).unwrap();
    let reconcile = || async {
        let mut cluster = pull_agent::cluster::Cluster::new(world.client());
        let mut memo = pull_agent::agent::Memo::at(night);
        pull_agent::agent::reconcile_with(&world.config(), &mut cluster, pull_agent::agent::Mode::Apply, &mut memo)
            .await
            .unwrap()
    };
    let first = reconcile().await;
    let names: Vec<&str> = first.placements.iter().map(|o| o.report.name.as_str()).collect();
    assert_eq!(names, ["baseline", "bt-collector", "store-monitoring"]);
    for o in &first.placements {
        assert!(matches!(o.report.state, SyncState::Synced | SyncState::Progressing), "{:?}", o.report);
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    let second = reconcile().await;
    for o in &second.placements {
        assert_eq!(o.report.state, SyncState::Synced, "{:?}", o.report);
        assert_eq!(o.report.applied_digest, o.report.desired_digest);
    }
    // Each placement's report says which images the cluster runs of it: what runs where.
    let images = |name: &str| &second.placements.iter().find(|o| o.report.name == name).unwrap().report.images;
    assert_eq!(images("bt-collector"), &["registry.retail.example/store/bt-collector:1.4.2"]);
    assert_eq!(images("store-monitoring"), &["registry.retail.example/mirror/prometheus/blackbox-exporter:v0.25.0"]);
    assert!(images("baseline").iter().any(|i| i.ends_with("/node-exporter:v1.8.2")), "{:?}", images("baseline"));
}

/// The daemon's memo stands for a placement only while its render would read the same: same
/// commits and the same customizations. A cluster relabelled from us-east to eu-west (the same
/// fleet and source commits) gets the EU customization at once, not the US report again.
#[tokio::test]
#[cfg_attr(flotilla_skip_git_daemon, ignore = "FLOTILLA_SKIP=git-daemon")]
async fn a_relabelled_cluster_is_synced_in_full_though_no_commit_changed() {
    let world = World::new(Duration::ZERO);
    common::example_repositories(&world);
    for repo in ["fleet", "store-app", "cloud-services"] {
        world.commit(repo, &[]);
    }
    let today = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() / 86_400;
    let night = i64::try_from((today + 1) * 86_400 + 9 * 3_600).unwrap();
    let config = |region: &str| {
        // A store the fleet does not declare: its labels are the agent config's.
        let text = world.config_text().replace(
            "name: store-0001, environment: prod, labels: {kind: store}",
            &format!("name: store-0999, environment: prod, labels: {{kind: store, canary: 'true', region: {region}}}"),
        );
        pull_agent::config::Config::parse(text.as_bytes(), &world.root, None).unwrap()
    };
    let mut cluster = pull_agent::cluster::Cluster::new(world.client());
    let mut memo = pull_agent::agent::Memo::watching();
    memo.set_now(Some(night));
    let mut cycle = async |region: &str| {
        pull_agent::agent::reconcile_with(&config(region), &mut cluster, pull_agent::agent::Mode::Apply, &mut memo)
            .await
            .unwrap()
    };
    // Until the watches are open and quiet: bt-collector's full sync is skipped.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let us = cycle("us-east").await;
        if us.unchanged.iter().any(|u| u == "bt-collector") {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "the watches did not settle: {us:#?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let eu = cycle("eu-west").await;
    assert!(!eu.unchanged.iter().any(|u| u == "bt-collector"), "the US sync stood for an EU store: {eu:#?}");
    let deployments = world.api("apps/v1", "Deployment", "deployments", Some("bt"));
    let collector = deployments.get("bt-collector").await.unwrap();
    let env = serde_json::to_string(&collector.data["spec"]["template"]["spec"]["containers"][0]["env"]).unwrap();
    assert!(env.contains("PSEUDONYMISE_MAC"), "the EU customization is not applied: {env}");
}

/// A chart's random values (a generated password) are the cluster's own: drawn from the
/// agent's `stateDir/render-secret`, the same on every sync and on `render --config` there,
/// and not the values anyone can compute from the fleet. The digest the agent reports is the
/// one a render without the secret names (the hub's), so the two still agree.
#[tokio::test]
#[cfg_attr(flotilla_skip_git_daemon, ignore = "FLOTILLA_SKIP=git-daemon")]
async fn a_chart_s_random_values_are_the_cluster_s_own_and_its_digest_is_the_hub_s() {
    let world = World::new(Duration::ZERO);
    let namespace = world.namespace_yaml();
    let chart = [
        ("chart/Chart.yaml", "apiVersion: v2\nname: shop\nversion: 0.1.0\n".to_string()),
        ("chart/templates/namespace.yaml", namespace.clone()),
        (
            "chart/templates/password.yaml",
            format!(
                "apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: password, namespace: {}}}\ndata: {{password: {{{{ randAlphaNum 24 | quote }}}}}}\n",
                world.namespace
            ),
        ),
    ];
    let files: Vec<(&str, &str)> = chart.iter().map(|(p, t)| (*p, t.as_str())).collect();
    world.commit("app", &files);
    let fleet_text = fleet(&world, "")
        .replace("source: {repository: app, path: web}", "source: {repository: app, path: chart, helm: {}}");
    world.commit("fleet", &[("fleet/fleet.yaml", &fleet_text)]);

    let first = world.reconcile().await;
    let web = placement(&first, "web");
    assert_eq!(web.state, SyncState::Synced, "{web:?}");
    let applied = async || {
        let cm = world.config_maps().get("password").await.unwrap();
        cm.data["data"]["password"].as_str().unwrap().to_string()
    };
    let password = applied().await;
    assert_eq!(password.len(), 24);

    // What anyone who reads the fleet and the chart renders (the hub has no secret of the cluster's).
    let mut snapshot = flotilla_core::snapshot::Snapshot::new();
    for (path, text) in &chart {
        snapshot.insert_file(*path, text.clone());
    }
    let mut fleet_snapshot = flotilla_core::snapshot::Snapshot::new();
    fleet_snapshot.insert_file("fleet/fleet.yaml", fleet_text.clone());
    let (read, errors) = flotilla_core::fleet::Fleet::from_snapshot(&fleet_snapshot);
    assert_eq!(errors, []);
    let public =
        flotilla_core::render::render(&read.placements[0], &snapshot, &pull_agent::agent::identity(&world.config()))
            .unwrap();
    let public_password = public.objects.iter().find(|o| o["kind"] == "ConfigMap").unwrap()["data"]["password"].clone();
    assert_ne!(public_password, password.as_str(), "the applied password is the one anyone can compute");
    assert_eq!(web.desired_digest.as_deref(), Some(public.digest.to_string().as_str()), "the hub's digest");

    // The secret is kept private in stateDir; the next sync finds no drift and keeps the value.
    let secret = world.root.join("state").join(pull_agent::sync::RENDER_SECRET_FILE);
    let mode = std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(&secret).unwrap().permissions());
    assert_eq!(mode & 0o077, 0, "{} is readable by others: {mode:o}", secret.display());
    let second = world.reconcile().await;
    let web = placement(&second, "web");
    assert_eq!(web.state, SyncState::Synced, "{web:?}");
    assert!(web.objects.is_empty(), "nothing drifted, failed or unhealthy: {web:?}");
    assert_eq!(applied().await, password);

    // `render --config` on the cluster's machine shows what it applies.
    let rendered = pull_agent::agent::render(&world.config(), Some("web"), None).unwrap();
    let desired = rendered.placements[0].as_ref().unwrap();
    let shown = desired.objects.iter().find(|o| o["kind"] == "ConfigMap").unwrap()["data"]["password"].clone();
    assert_eq!(shown, password.as_str());
    assert_eq!(desired.digest, public.digest.to_string());

    // A new secret (a store whose stateDir was lost) draws new values under the same digest.
    std::fs::remove_file(&secret).unwrap();
    let third = world.reconcile().await;
    assert_eq!(placement(&third, "web").desired_digest, web.desired_digest);
    assert_ne!(applied().await, password);
}
