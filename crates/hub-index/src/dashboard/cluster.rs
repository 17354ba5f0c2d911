//! `GET /clusters/{name}`: one cluster, from the same value as `GET /api/v1/clusters/{name}` —
//! its labels, the fleet commit it runs, its placements and their objects with problems, its
//! policy results and their history, and the overrides it ran.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use flotilla_core::report::{ObjectReport, SyncState};
use maud::{Markup, html};

use super::form::{encode, query};
use super::layout::{error_page, page, respond};
use super::login::viewer;
use super::parts::{
    badge, behind_text, commit_code, none_row, now_seconds, or_empty, placement_standing, short, state_badge, time_ms,
    wire, words,
};
use crate::answers::cluster_detail;
use crate::api::{Behind, ClusterDetail, FleetDetail, PlacementDetail, Standing};
use crate::app::Hub;

/// `GET /clusters/{name}`: one cluster.
pub async fn cluster(State(hub): State<Arc<Hub>>, headers: HeaderMap, Path(name): Path<String>) -> Response {
    if let Err(r) = viewer(&hub, &headers).await {
        return r;
    }
    match cluster_detail(&hub, &name).await {
        Ok(detail) => respond(StatusCode::OK, page(&name, &render_cluster(&detail, now_seconds()), true)),
        Err(e) => error_page(e.status, &e.message),
    }
}

/// One cluster's page body; `now` (unix seconds) is when it is rendered.
pub(super) fn render_cluster(d: &ClusterDetail, now: i64) -> Markup {
    let environment = &d.environment;
    let sequence = d.last_sequence.map(|s| s.to_string()).unwrap_or_default();
    html! {
        h1 { (d.name) }
        p {
            (badge(d.state.name())) " in "
            a href={ "/clusters" (query(&[("environment", environment)])) } { (environment) }
            " · last report " (time_ms(d.last_report_at_ms, now))
            " · sequence " (sequence)
            @if let Some(version) = &d.kubernetes_version { " · Kubernetes " (version) }
            " · " (if d.declared { "declared in git" } else { "not declared in git" })
            " · " (if d.registered { "registered" } else { "not registered" })
        }
        h2 { "Labels" }
        table id="labels" {
            tr { th { "key" } th { "value" } }
            @if d.labels.is_empty() { (none_row(2)) }
            @for (k, v) in &d.labels {
                tr { td { (k) } td { a href={ "/clusters" (query(&[("labels", &format!("{k}={v}"))])) } { (v) } } }
            }
        }
        @if let Some(fleet) = &d.fleet { (render_fleet(fleet)) }
        h2 { "Placements" }
        @if d.placements.is_empty() {
            p class="muted" {
                @if d.last_report_at_ms.is_none() { "No report yet." } @else { "The last report lists none." }
            }
        } @else {
            (render_placements(d))
            (render_objects(&d.placements))
        }
        (render_policies(d))
        (render_cluster_overrides(d))
    }
}

/// The placements as the last report gave them.
fn render_placements(d: &ClusterDetail) -> Markup {
    let commit = |c: &Option<String>| {
        let c = c.as_deref().unwrap_or_default();
        html! { code title=(c) { (short(c)) } }
    };
    html! {
        table id="placements" {
            tr {
                th { "placement" } th { "state" } th { "health" } th { "applied" } th { "images" } th { "desired" }
                th { "behind" } th { "signer" } th { "message" }
            }
            @for p in &d.placements {
                @let state = wire(&p.state);
                @let class = placement_standing(&state).map_or("unknown", Standing::name);
                @let behind = p.behind.as_ref()
                    .map(|b| behind_text(&Behind { commits: b.commits, since: b.since }))
                    .unwrap_or_default();
                @let lag = format!("/lag{}", query(&[("placement", &p.name), ("environment", &d.environment)]));
                tr {
                    td { a href=(lag) { (p.name) } }
                    td { span class={ "badge s-" (class) } { (words(&state)) } }
                    td { (words(&wire(&p.health))) }
                    td { (commit(&p.applied_commit)) }
                    td {
                        @for (i, image) in p.images.iter().enumerate() {
                            @if i > 0 { br; }
                            code { (image) }
                        }
                    }
                    td { (commit(&p.desired_commit)) }
                    td { (behind) }
                    td { (p.signer.as_deref().unwrap_or_default()) }
                    td { (p.message.as_deref().unwrap_or_default()) }
                }
            }
        }
    }
}

/// The objects the placements' reports list: drifted, failed, unhealthy or pruned.
fn render_objects(placements: &[PlacementDetail]) -> Markup {
    let objects: Vec<(&str, &ObjectReport)> =
        placements.iter().flat_map(|p| p.objects.iter().map(move |o| (p.name.as_str(), o))).collect();
    html! {
        @if !objects.is_empty() {
            h2 { "Drifted, failed and unhealthy objects" }
            table id="objects" {
                tr { th { "placement" } th { "problem" } th { "object" } th { "fields" } th { "message" } }
                @for (placement, o) in objects {
                    tr {
                        td { (placement) }
                        td { (wire(&o.problem)) }
                        td {
                            (o.kind) " "
                            @if let Some(namespace) = &o.namespace { (namespace) "/" }
                            (o.name)
                        }
                        td { (o.fields.join(", ")) }
                        td { (o.message.as_deref().unwrap_or_default()) }
                    }
                }
            }
        }
    }
}

/// The fleet commit the cluster runs, who signed it, and why it is not the branch's newest
/// (shown only when the report says: the fleet rolls out or is verified). A commit that did
/// not verify is said in words too: the cluster takes no fleet change until a signed commit
/// comes.
fn render_fleet(fleet: &FleetDetail) -> Markup {
    let commit = &fleet.commit;
    let head = fleet.head.as_deref().unwrap_or_default();
    html! {
        h2 { "Fleet" }
        @if fleet.state == SyncState::VerificationFailed {
            p class="error" id="fleet-problem" {
                @if head.is_empty() {
                    "The fleet commit " (commit_code(commit))
                    " did not verify: this cluster takes no fleet change until a signed one comes."
                } @else {
                    "The fleet branch's newest commit " code { (short(head)) } " did not verify: this cluster \
                     stays on " code { (short(commit)) } " and takes no fleet change until a signed one comes."
                }
            }
        }
        table id="fleet" {
            tr { th { "fleet commit" } th { "state" } th { "signer" } th { "branch head" } th { "message" } }
            tr {
                td { (commit_code(commit)) }
                td { (state_badge(&wire(&fleet.state))) }
                td { (fleet.signer.as_deref().unwrap_or_default()) }
                td { @if !head.is_empty() { (commit_code(head)) } }
                td { (fleet.message.as_deref().unwrap_or_default()) }
            }
        }
    }
}

/// The overrides the cluster ran (commits taken through a change freeze), newest first.
fn render_cluster_overrides(d: &ClusterDetail) -> Markup {
    html! {
        @if !d.overrides.is_empty() {
            h2 { "Overrides" }
            p class="muted" {
                "Commits this cluster took through a change freeze, on the word of an override signer, \
                 newest first, as the evidence log holds them."
            }
            table id="cluster-overrides" {
                tr { th { "received" } th { "target" } th { "commit" } th { "signer" } th { "reason" } th { "evidence" } }
                @for o in &d.overrides {
                    tr {
                        td { (o.received_at) }
                        td { (o.target) }
                        td { (commit_code(&o.commit)) }
                        td { (o.signer) }
                        td { (o.reason) }
                        td { "#" (o.seq) }
                    }
                }
            }
        }
    }
}

/// A policy result as a badge's class and word.
fn result(compliant: Option<bool>) -> (&'static str, &'static str) {
    match compliant {
        Some(true) => ("s-synced", "compliant"),
        Some(false) => ("s-failed", "non-compliant"),
        None => ("s-progressing", "unknown"),
    }
}

/// The cluster's policy results as its last report gave them, and the recent changes of them
/// (the evidence log, newest first).
fn render_policies(d: &ClusterDetail) -> Markup {
    html! {
        @if !d.policies.is_empty() {
            h2 { "Policies" }
            table id="policies" {
                tr { th { "policy" } th { "result" } th { "violations" } th { "remediation" } }
                @for p in &d.policies {
                    @let (class, word) = result(p.compliant);
                    @let violations: Vec<String> = p.violations.iter().map(|v| {
                        let at = v.field.as_deref().filter(|f| !f.is_empty()).map(|f| format!(" {f}")).unwrap_or_default();
                        format!("{}{at}: {}", v.object, v.message)
                    }).collect();
                    tr {
                        td { a href={ "/compliance/" (encode(&p.name)) } { (p.name) } }
                        td { span class={ "badge " (class) } { (word) } }
                        td { (violations.join("; ")) }
                        td { (p.remediation.join("; ")) }
                    }
                }
            }
        }
        @if !d.policy_history.is_empty() {
            h2 { "Policy history" }
            p class="muted" { "Each change of a result, newest first, as the evidence log holds it." }
            table id="policy-history" {
                tr {
                    th { "time" } th { "policy" } th { "result" } th { "commit" } th { "remediation" } th { "evidence" }
                }
                @for e in &d.policy_history {
                    @let (class, word) = result(e.compliant);
                    @let remediation: Vec<String> = e.remediation.as_array().into_iter().flatten().map(or_empty).collect();
                    tr {
                        td { (e.time) }
                        td { (e.policy) }
                        td { span class={ "badge " (class) } { (word) } }
                        td { code { (short(e.commit.as_deref().unwrap_or_default())) } }
                        td { (remediation.join("; ")) }
                        td { "#" (e.seq) }
                    }
                }
            }
        }
    }
}
