//! Policies on the cluster (the test API server): evaluated every reconcile against the live
//! objects, enforced with field manager `flotilla-policy` when they say so, never written in
//! inform or plan mode; what cannot be evaluated is Unknown. The scenarios are in
//! `common::governance`; `real_cluster.rs` runs them on a real cluster too.

mod common;

use std::time::Duration;

use common::{World, governance};

#[tokio::test]
#[cfg_attr(flotilla_skip_git_daemon, ignore = "FLOTILLA_SKIP=git-daemon")]
async fn enforce_creates_and_deletes_to_comply_and_reports_what_it_did() {
    governance::enforce_creates_and_deletes_to_comply_and_reports_what_it_did(&World::new(Duration::ZERO)).await;
}

#[tokio::test]
#[cfg_attr(flotilla_skip_git_daemon, ignore = "FLOTILLA_SKIP=git-daemon")]
async fn inform_and_plan_never_write_and_report_the_violation() {
    governance::inform_and_plan_never_write_and_report_the_violation(&World::new(Duration::ZERO)).await;
}

#[tokio::test]
#[cfg_attr(flotilla_skip_git_daemon, ignore = "FLOTILLA_SKIP=git-daemon")]
async fn a_kind_the_cluster_does_not_serve_is_unknown_not_compliant() {
    governance::a_kind_the_cluster_does_not_serve_is_unknown_not_compliant(&World::new(Duration::ZERO)).await;
}
