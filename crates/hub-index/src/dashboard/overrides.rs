//! `GET /overrides`: each commit run through a change freeze, its signer, reason and clusters,
//! newest first, filtered by target, cluster, environment and date.

use std::sync::Arc;

use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use maud::{Markup, html};

use super::form::{encode, param, parse_form};
use super::layout::{form_problem, page, respond};
use super::login::viewer;
use super::parts::commit_code;
use crate::api::OverrideGroup;
use crate::app::Hub;
use crate::overrides::Filter;

/// How many clusters a line of the overrides page names.
const OVERRIDE_NAMES: usize = 20;

/// `GET /overrides?target=&cluster=&environment=&since=`: which overrides happened, newest
/// first, each with its clusters.
pub async fn overrides(State(hub): State<Arc<Hub>>, headers: HeaderMap, RawQuery(q): RawQuery) -> Response {
    if let Err(r) = viewer(&hub, &headers).await {
        return r;
    }
    let pairs = parse_form(q.as_deref().unwrap_or_default());
    let value = |key: &str| param(&pairs, key).map(str::to_string);
    let filter = Filter {
        cluster: value("cluster"),
        target: value("target"),
        environment: value("environment"),
        since: value("since"),
        limit: None,
    };
    let form = render_form(&filter);
    match crate::answers::overrides(&hub, &filter).await {
        Ok(groups) => respond(StatusCode::OK, page("Overrides", &render_overrides(&form, &groups), true)),
        Err(e) => form_problem(e.status, "Overrides", &form, &e.message),
    }
}

/// The filter form, filled in as it was sent.
pub(super) fn render_form(filter: &Filter) -> Markup {
    let value = |v: &Option<String>| v.clone().unwrap_or_default();
    html! {
        form class="filter" method="get" action="/overrides" id="filter" {
            label {
                "target "
                input name="target" value=(value(&filter.target)) placeholder="fleet or a placement" size="14";
            }
            label { "cluster " input name="cluster" value=(value(&filter.cluster)) size="14"; }
            label { "environment " input name="environment" value=(value(&filter.environment)) size="10"; }
            label { "since " input name="since" value=(value(&filter.since)) placeholder="2026-11-20" size="12"; }
            button type="submit" { "Filter" } " " a href="/overrides" { "clear" }
        }
    }
}

pub(super) fn render_overrides(form: &Markup, groups: &[OverrideGroup]) -> Markup {
    html! {
        h1 { "Overrides" }
        p class="muted" {
            "Each commit that clusters took during a change freeze because its message carries a "
            code { "Flotilla-Override:" } " trailer signed by an override signer, newest first, with the \
            clusters that ran it. Each is in the evidence log, once per cluster."
        }
        (form)
        @if groups.is_empty() {
            p class="muted" id="no-overrides" { "No override." }
        } @else {
            table id="overrides" {
                tr {
                    th { "target" } th { "commit" } th { "signer" } th { "reason" } th { "first received" }
                    th { "clusters" } th { "which" }
                }
                @for g in groups {
                    @let more = g.clusters.len().saturating_sub(OVERRIDE_NAMES);
                    tr {
                        td { (g.target) }
                        td { (commit_code(&g.commit)) }
                        td { (g.signer) }
                        td { (g.reason) }
                        td { (g.first_received_at) }
                        td class="n" { (g.clusters.len()) }
                        td {
                            @for (i, c) in g.clusters.iter().take(OVERRIDE_NAMES).enumerate() {
                                @if i > 0 { ", " }
                                a class="cluster" href={ "/clusters/" (encode(&c.cluster)) } { (c.cluster) }
                            }
                            @if more > 0 { " and " (more) " more" }
                        }
                    }
                }
            }
        }
    }
}
