//! The hub's own health: `/healthz`, `/readyz` and `/metrics`.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::app::Hub;
use crate::views;

/// `GET /readyz`: ready once the index is loaded, while the store answers.
pub async fn readyz(State(hub): State<Arc<Hub>>) -> Response {
    if !hub.ready.load(Ordering::SeqCst) {
        return (StatusCode::SERVICE_UNAVAILABLE, "starting\n").into_response();
    }
    match hub.store().clusters_count().await {
        Ok(_) => (StatusCode::OK, "ready\n").into_response(),
        Err(e) => (StatusCode::SERVICE_UNAVAILABLE, format!("store: {e}\n")).into_response(),
    }
}

/// `GET /metrics`: the clusters by standing, the reports by outcome, and the fleet read, for
/// Prometheus.
pub async fn metrics(State(hub): State<Arc<Hub>>) -> Response {
    use std::fmt::Write as _;
    let s = views::summary(&hub.index());
    let mut out = String::new();
    let _ = writeln!(out, "# HELP flotilla_hub_clusters Clusters known to the hub, by standing.");
    let _ = writeln!(out, "# TYPE flotilla_hub_clusters gauge");
    for (standing, n) in &s.by_standing {
        let _ = writeln!(out, "flotilla_hub_clusters{{standing=\"{standing}\"}} {n}");
    }
    let _ = writeln!(out, "# HELP flotilla_hub_reports_total Reports received, by outcome.");
    let _ = writeln!(out, "# TYPE flotilla_hub_reports_total counter");
    for (outcome, n) in [("stored", &hub.stored), ("ignored", &hub.ignored), ("refused", &hub.refused)] {
        let _ = writeln!(out, "flotilla_hub_reports_total{{outcome=\"{outcome}\"}} {}", n.load(Ordering::Relaxed));
    }
    let fleet_ok = u8::from(hub.fleet_error.read().expect("not poisoned").is_none());
    let _ = writeln!(out, "# HELP flotilla_hub_fleet_read_ok Whether the last read of the fleet repository worked.");
    let _ = writeln!(out, "# TYPE flotilla_hub_fleet_read_ok gauge");
    let _ = writeln!(out, "flotilla_hub_fleet_read_ok {fleet_ok}");
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], out).into_response()
}
