//! The scenarios that hold on any cluster: each takes a [`World`] and asserts, and `sync.rs`
//! runs it against the test API server, `real_cluster.rs` against a real cluster. Names, images
//! and waits come from the world, so that a scenario means the same on both.

use std::time::Duration;

use flotilla_core::report::{ObjectProblem, SyncState};
use kube::api::{Patch, PatchParams, PostParams};
use serde_json::json;

use super::{BROKEN_IMAGE, GOOD_IMAGE, World, fleet, names, placement};

pub async fn first_sync_new_commit_prune_and_a_hand_made_object_left_alone(world: &World) {
    world.commit("fleet", &[("fleet/fleet.yaml", &fleet(world, ""))]);
    let first = world.commit(
        "app",
        &[
            ("web/namespace.yaml", &world.namespace_yaml()),
            ("web/a.yaml", &world.config_map("a", "hello")),
            ("web/b.yaml", &world.config_map("b", "bye")),
            ("web/deployment.yaml", &world.deployment(GOOD_IMAGE, 600)),
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
    let again =
        world.reconcile_after(Duration::from_millis(100), |r| placement(r, "web").state == SyncState::Synced).await;
    assert_eq!(placement(&again, "web").state, SyncState::Synced, "{:?}", placement(&again, "web"));

    // Made by hand in the same namespace: not ours, never pruned.
    let hand =
        serde_json::from_value(json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "by-hand"}}))
            .unwrap();
    world.config_maps().create(&PostParams::default(), &hand).await.unwrap();

    let second = world.commit("app", &[("web/a.yaml", &world.config_map("a", "hello again")), ("web/b.yaml", "")]);
    let synced = world.reconcile().await;
    let web = placement(&synced, "web");
    assert_eq!(web.applied_commit.as_deref(), Some(second.as_str()));
    assert_eq!(names(&world.config_maps()).await, ["a", "by-hand"], "b pruned, the hand-made one kept");
    assert_eq!(world.config_maps().get("a").await.unwrap().data["data"]["greeting"], "hello again");
}

pub async fn drift_is_corrected_or_with_drift_correction_off_only_reported(world: &World) {
    world.commit("fleet", &[("fleet/fleet.yaml", &fleet(world, ""))]);
    world.commit(
        "app",
        &[("web/namespace.yaml", &world.namespace_yaml()), ("web/a.yaml", &world.config_map("a", "hello"))],
    );
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
    world.commit("fleet", &[("fleet/fleet.yaml", &fleet(world, detect_only))]);
    world.config_maps().patch("a", &PatchParams::default(), &Patch::Merge(&edit)).await.unwrap();
    let reported = world.reconcile().await;
    let web = placement(&reported, "web");
    assert!(
        web.objects.iter().any(|o| o.problem == ObjectProblem::Drifted && o.fields == ["data.greeting"]),
        "{web:?}"
    );
    assert_eq!(world.config_maps().get("a").await.unwrap().data["data"]["greeting"], "edited by hand");
}

pub async fn a_broken_commit_keeps_the_last_good_state_and_other_placements_sync(world: &World) {
    let other = "---\napiVersion: flotilla.dev/v1alpha1\nkind: Placement\nmetadata: {name: extras}\n\
                 spec:\n  source: {repository: app, path: extras}\n  clusters: {matchLabels: {kind: store}}\n  scope: {cluster: true}\n";
    world.commit("fleet", &[("fleet/fleet.yaml", &fleet(world, other))]);
    let good = world.commit(
        "app",
        &[
            ("web/namespace.yaml", &world.namespace_yaml()),
            ("web/a.yaml", &world.config_map("a", "hello")),
            ("extras/x.yaml", &world.config_map("x", "1")),
        ],
    );
    world.reconcile().await;
    // Web breaks (its kustomization names a file that is not there), extras changes.
    let kustomization = "resources: [namespace.yaml, a.yaml, missing.yaml]\n";
    let broken = world
        .commit("app", &[("web/kustomization.yaml", kustomization), ("extras/x.yaml", &world.config_map("x", "2"))]);
    let reconciled = world.reconcile().await;
    let web = placement(&reconciled, "web");
    assert_eq!(web.state, SyncState::Failed);
    assert!(web.message.as_deref().unwrap().contains(&broken), "names the commit: {web:?}");
    assert_eq!(names(&world.config_maps()).await, ["a", "x"], "web's objects stay as they were");
    let extras = placement(&reconciled, "extras");
    assert_eq!(extras.state, SyncState::Synced, "{extras:?}");
    assert_eq!(world.config_maps().get("x").await.unwrap().data["data"]["greeting"], "2");
    // The inventory still holds the last good commit.
    assert!(world.inventory_text("web").await.starts_with(&format!("commit {good}\n")));
}

pub async fn a_crd_and_its_resources_in_one_commit(world: &World) {
    world.commit("fleet", &[("fleet/fleet.yaml", &fleet(world, ""))]);
    let group = &world.crd_group;
    let crd = format!(
        "apiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\nmetadata: {{name: widgets.{group}}}\n\
         spec:\n  group: {group}\n  scope: Namespaced\n  names: {{kind: Widget, plural: widgets}}\n\
         \x20 versions:\n  - name: v1\n    served: true\n    storage: true\n\
         \x20   schema: {{openAPIV3Schema: {{type: object, x-kubernetes-preserve-unknown-fields: true}}}}\n"
    );
    let widget = format!(
        "apiVersion: {group}/v1\nkind: Widget\nmetadata: {{name: w, namespace: {}}}\nspec: {{size: 3}}\n",
        world.namespace
    );
    // The custom resource comes first in git: the agent still creates its CRD first.
    world.commit(
        "app",
        &[("web/1-widget.yaml", &widget), ("web/2-crd.yaml", &crd), ("web/3-ns.yaml", &world.namespace_yaml())],
    );
    let reconciled = world.reconcile().await;
    assert_eq!(placement(&reconciled, "web").state, SyncState::Synced, "{:?}", placement(&reconciled, "web"));
    let widgets = world.api(&format!("{group}/v1"), "Widget", "widgets", Some(&world.namespace));
    assert_eq!(widgets.get("w").await.unwrap().data["spec"]["size"], 3);
}

/// The world's workloads must take a moment to become ready (on the test server, its
/// `ready_delay`), so that the first sync finds the Deployment still progressing.
pub async fn an_unhealthy_deployment_degrades_the_placement(world: &World) {
    world.commit("fleet", &[("fleet/fleet.yaml", &fleet(world, ""))]);
    world.commit(
        "app",
        &[("web/namespace.yaml", &world.namespace_yaml()), ("web/deployment.yaml", &world.deployment(BROKEN_IMAGE, 1))],
    );
    let first = world.reconcile().await;
    assert_eq!(placement(&first, "web").state, SyncState::Progressing);
    // Its progress deadline (1 s) passes.
    let later =
        world.reconcile_after(Duration::from_millis(1_300), |r| placement(r, "web").state == SyncState::Degraded).await;
    let web = placement(&later, "web");
    assert_eq!(web.state, SyncState::Degraded, "{web:?}");
    assert!(web.objects.iter().any(|o| o.kind == "Deployment" && o.problem == ObjectProblem::Unhealthy));
}
