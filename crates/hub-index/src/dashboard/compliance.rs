//! Governance: `GET /compliance` (standards → controls → policies, counted) and
//! `GET /compliance/{policy}` (one policy's counts and its non-compliant clusters, paged), both
//! filtered by environment and labels.

use std::sync::Arc;

use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use maud::{Markup, html};

use super::form::{encode, param, parse_form, query};
use super::layout::{error_page, form_problem, page, respond};
use super::login::viewer;
use super::parts::{PAGE, badge, json_text, none_row, now_seconds, paging, time_ms};
use crate::answers::{fleet_with, no_policy};
use crate::api::{Compliance, ComplianceCounts, PolicyCompliance};
use crate::app::Hub;
use crate::views::{self, Filter};

/// The compliance pages' filter as the form holds it.
#[derive(Debug)]
pub(super) struct ComplianceForm {
    pub(super) environment: String,
    pub(super) labels: String,
}

impl ComplianceForm {
    fn read(pairs: &[(String, String)]) -> ComplianceForm {
        ComplianceForm {
            environment: param(pairs, "environment").unwrap_or("prod").to_string(),
            labels: param(pairs, "labels").unwrap_or_default().to_string(),
        }
    }

    /// `path` with the filter (and `offset` when not 0) as its query.
    fn link(&self, path: &str, offset: usize) -> String {
        let offset = if offset == 0 { String::new() } else { offset.to_string() };
        let pairs = [("environment", self.environment.as_str()), ("labels", &self.labels), ("offset", &offset)];
        format!("{path}{}", query(&pairs))
    }

    /// The form itself, sent to `action` (a path).
    fn render(&self, action: &str) -> Markup {
        html! {
            form class="filter" method="get" action=(action) id="filter" {
                label { "environment " input name="environment" value=(self.environment) size="10"; }
                label {
                    "labels " input name="labels" value=(self.labels) placeholder="kind=store,region=eu" size="24";
                }
                button type="submit" { "Filter" } " " a href=(action) { "clear" }
            }
        }
    }
}

/// The headings of the four counts.
fn compliance_header() -> Markup {
    html! { th { "compliant" } th { "non-compliant" } th { "unknown" } th { "not reported" } }
}

/// The four counts as table cells; non-compliant ones stand out, and lead to `link`'s URL when
/// given, with its policy named on the link.
fn compliance_cells(c: &ComplianceCounts, link: Option<(&str, &str)>) -> Markup {
    html! {
        td class="n" { (c.compliant) }
        td class=(if c.non_compliant > 0 { "n bad" } else { "n" }) {
            @if let Some((policy, href)) = link {
                a class="non-compliant" data-policy=(policy) href=(href) { (c.non_compliant) }
            } @else {
                (c.non_compliant)
            }
        }
        td class="n" { (c.unknown) }
        td class="n" { (c.not_reported) }
    }
}

/// `GET /compliance?environment=prod&labels=k=v,…`: standards → controls → policies, counted.
pub async fn compliance(State(hub): State<Arc<Hub>>, headers: HeaderMap, RawQuery(q): RawQuery) -> Response {
    if let Err(r) = viewer(&hub, &headers).await {
        return r;
    }
    let form = ComplianceForm::read(&parse_form(q.as_deref().unwrap_or_default()));
    let title = format!("Compliance in {}", form.environment);
    let labels = match Filter::parse_labels(&form.labels) {
        Ok(l) => l,
        Err(e) => return form_problem(StatusCode::BAD_REQUEST, &title, &form.render("/compliance"), &e),
    };
    let fleet = match fleet_with(&hub, &form.environment) {
        Ok(f) => f,
        Err(e) => return form_problem(e.status, &title, &form.render("/compliance"), &e.message),
    };
    let environment = fleet.environment(&form.environment).expect("fleet_with checked it");
    let mut view = {
        let index = hub.index();
        views::compliance(&index, &form.environment, &environment.policies, &labels)
    };
    view.fleet_error.clone_from(&environment.error);
    respond(StatusCode::OK, page(&title, &render_compliance(&form, &view), true))
}

pub(super) fn render_compliance(form: &ComplianceForm, v: &Compliance) -> Markup {
    html! {
        h1 { "Compliance in " (v.environment) }
        (form.render("/compliance"))
        p {
            span class="big" id="compliance-clusters" { (v.clusters) } " clusters in " (v.environment)
            @if !v.labels.is_empty() { " with labels " (v.labels) }
            "."
        }
        p class="muted" {
            "A policy counts the clusters that report it, and those it selects that have no result (not \
             reported). A standard or a control counts each cluster once, at its worst over its policies: \
             non-compliant, else unknown, else not reported, else compliant. Offline clusters count by their \
             last results."
        }
        @if let Some(e) = &v.fleet_error {
            p class="error" id="fleet-error" { "the fleet branch could not be read: " (e) }
        }
        @if v.standards.is_empty() {
            p class="muted" { "No policies: the fleet branch declares none and no cluster reports any." }
        } @else {
            table id="compliance" {
                tr {
                    th { "standard" } th { "control" } th { "policy" } th { "severity" } th { "remediation" }
                    (compliance_header())
                }
                @for standard in &v.standards {
                    tr class="standard" { th colspan="5" { (standard.name) } (compliance_cells(&standard.counts, None)) }
                    @for control in &standard.controls {
                        tr class="control" {
                            td {} th colspan="4" { (control.name) } (compliance_cells(&control.counts, None))
                        }
                        @for p in &control.policies {
                            @let href = form.link(&format!("/compliance/{}", encode(&p.name)), 0);
                            tr class="policy" {
                                td {} td {}
                                td {
                                    a href=(href) { (p.name) }
                                    @if !p.in_fleet { " " small class="muted" { "not in the fleet" } }
                                }
                                td { (p.severity.map(|s| json_text(&s)).unwrap_or_default()) }
                                td { (p.remediation.map(|r| json_text(&r)).unwrap_or_default()) }
                                (compliance_cells(&p.counts, Some((&p.name, &href))))
                            }
                        }
                    }
                }
            }
        }
    }
}

/// `GET /compliance/{policy}?environment=prod&labels=&offset=`: one policy's counts and its
/// non-compliant clusters.
pub async fn compliance_policy(
    State(hub): State<Arc<Hub>>,
    headers: HeaderMap,
    Path(policy): Path<String>,
    RawQuery(q): RawQuery,
) -> Response {
    if let Err(r) = viewer(&hub, &headers).await {
        return r;
    }
    let pairs = parse_form(q.as_deref().unwrap_or_default());
    let form = ComplianceForm::read(&pairs);
    let offset = param(&pairs, "offset").and_then(|o| o.parse().ok()).unwrap_or(0);
    let title = format!("Policy {policy} in {}", form.environment);
    let action = format!("/compliance/{}", encode(&policy));
    let labels = match Filter::parse_labels(&form.labels) {
        Ok(l) => l,
        Err(e) => return form_problem(StatusCode::BAD_REQUEST, &title, &form.render(&action), &e),
    };
    let fleet = match fleet_with(&hub, &form.environment) {
        Ok(f) => f,
        Err(e) => return form_problem(e.status, &title, &form.render(&action), &e.message),
    };
    let environment = fleet.environment(&form.environment).expect("fleet_with checked it");
    let definition = environment.policies.iter().find(|p| p.name() == policy);
    let view = {
        let index = hub.index();
        views::compliance_policy(&index, &form.environment, &policy, definition, &labels, offset, PAGE)
    };
    match view {
        Some(view) => {
            respond(StatusCode::OK, page(&title, &render_compliance_policy(&form, &action, &view, now_seconds()), true))
        }
        None => error_page(StatusCode::NOT_FOUND, &no_policy(&policy, &form.environment)),
    }
}

pub(super) fn render_compliance_policy(form: &ComplianceForm, action: &str, v: &PolicyCompliance, now: i64) -> Markup {
    let list = |items: &[String]| if items.is_empty() { "none".to_string() } else { items.join(", ") };
    let c = &v.counts;
    let clusters = &v.non_compliant;
    let pager = paging(clusters.offset, clusters.items.len(), clusters.total, &|o| form.link(action, o));
    html! {
        h1 { "Policy " (v.policy) " in " (v.environment) }
        @if v.in_fleet {
            p id="policy" {
                "severity " b { (v.severity.map(|s| json_text(&s)).unwrap_or_default()) }
                " · remediation " b { (v.remediation.map(|r| json_text(&r)).unwrap_or_default()) }
                " · standards " (list(&v.standards))
                " · controls " (list(&v.controls))
                " · categories " (list(&v.categories))
            }
        } @else {
            p class="error" id="policy" {
                "Not in the fleet: clusters report this policy, and the environment's fleet branch no longer \
                 declares it."
            }
        }
        p { a href=(form.link("/compliance", 0)) { "← every policy" } }
        (form.render(action))
        table id="policy-counts" {
            tr { (compliance_header()) }
            tr {
                td class="n" id="count-compliant" { (c.compliant) }
                td class=(if c.non_compliant > 0 { "n bad" } else { "n" }) id="count-nonCompliant" { (c.non_compliant) }
                td class="n" id="count-unknown" { (c.unknown) }
                td class="n" id="count-notReported" { (c.not_reported) }
            }
        }
        h2 { "Non-compliant clusters" }
        (pager)
        table id="non-compliant" {
            tr { th { "cluster" } th { "environment" } th { "state" } th { "violations" } th { "last report" } }
            @if clusters.items.is_empty() { (none_row(5)) }
            @for c in &clusters.items {
                tr {
                    td { a class="cluster" href={ "/clusters/" (encode(&c.name)) } { (c.name) } }
                    td { (c.environment) }
                    td { (badge(c.standing.name())) }
                    td class="n" { (c.violations) }
                    td { (time_ms(c.last_report_at_ms, now)) }
                }
            }
        }
        (pager)
    }
}
