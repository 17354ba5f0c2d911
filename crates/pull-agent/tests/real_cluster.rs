//! The scenarios of `common::scenarios` on a real cluster: the one of `KUBECONFIG` (its current
//! context), which must be a disposable test cluster that can pull `registry.k8s.io/pause`.
//! Run with `KUBECONFIG=… cargo test -p pull-agent --test real_cluster -- --ignored`.
//!
//! Each test's world has namespaces of its own (`shop-<hex>` for the app, `flotilla-<hex>` for
//! the agent's inventories) and a CRD group of its own, and deletes them when it ends.
//!
//! Test-server-only, and so not here (see `sync.rs`):
//! - `an_api_server_failing_mid_apply_skips_prune_and_the_next_run_converges`: needs the test
//!   server's fault injection (`set_error_rate`);
//! - `the_example_fleet_syncs_a_store`: the example's namespaces and ClusterRoles are fixed
//!   names (runs would collide on a shared cluster) and its images (`registry.retail.example`)
//!   cannot be pulled, so it would never be Synced;
//! - `crash.rs`: needs the test server's latency switch to spread a run over time, and its
//!   clean slate to check every labelled object against the inventory.
//!
//! `an_unhealthy_deployment_degrades_the_placement` runs here with a real cluster's timing: the
//! image's registry does not exist and its progress deadline is 1 s, and the scenario waits for
//! the deployment controller to say so (up to 3 minutes) instead of the test server's ready
//! delay.

mod common;

use common::{World, governance, scenarios};

#[tokio::test]
#[ignore = "needs a real cluster: KUBECONFIG"]
async fn first_sync_new_commit_prune_and_a_hand_made_object_left_alone() {
    scenarios::first_sync_new_commit_prune_and_a_hand_made_object_left_alone(&World::real().await).await;
}

#[tokio::test]
#[ignore = "needs a real cluster: KUBECONFIG"]
async fn drift_is_corrected_or_with_drift_correction_off_only_reported() {
    scenarios::drift_is_corrected_or_with_drift_correction_off_only_reported(&World::real().await).await;
}

#[tokio::test]
#[ignore = "needs a real cluster: KUBECONFIG"]
async fn a_broken_commit_keeps_the_last_good_state_and_other_placements_sync() {
    scenarios::a_broken_commit_keeps_the_last_good_state_and_other_placements_sync(&World::real().await).await;
}

#[tokio::test]
#[ignore = "needs a real cluster: KUBECONFIG"]
async fn a_crd_and_its_resources_in_one_commit() {
    scenarios::a_crd_and_its_resources_in_one_commit(&World::real().await).await;
}

#[tokio::test]
#[ignore = "needs a real cluster: KUBECONFIG"]
async fn an_unhealthy_deployment_degrades_the_placement() {
    scenarios::an_unhealthy_deployment_degrades_the_placement(&World::real().await).await;
}

#[tokio::test]
#[ignore = "needs a real cluster: KUBECONFIG"]
async fn enforce_creates_and_deletes_to_comply_and_reports_what_it_did() {
    governance::enforce_creates_and_deletes_to_comply_and_reports_what_it_did(&World::real().await).await;
}

#[tokio::test]
#[ignore = "needs a real cluster: KUBECONFIG"]
async fn inform_and_plan_never_write_and_report_the_violation() {
    governance::inform_and_plan_never_write_and_report_the_violation(&World::real().await).await;
}

#[tokio::test]
#[ignore = "needs a real cluster: KUBECONFIG"]
async fn a_kind_the_cluster_does_not_serve_is_unknown_not_compliant() {
    governance::a_kind_the_cluster_does_not_serve_is_unknown_not_compliant(&World::real().await).await;
}
