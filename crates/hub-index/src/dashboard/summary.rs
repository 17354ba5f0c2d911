//! `GET /`: the fleet summary — the clusters by state, per environment and per placement, what
//! version runs where, the rollouts under way and the trends.

use std::sync::Arc;

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use maud::{Markup, html};

use super::form::query;
use super::layout::{page, respond};
use super::login::viewer;
use super::parts::{bar, commit_code, none_row, now_seconds, thousands, versions_cell, words};
use super::trends::trends;
use crate::api::{Counts, Progress, Standing, Summary};
use crate::app::Hub;
use crate::views;

/// `GET /`: the fleet summary.
pub async fn summary(State(hub): State<Arc<Hub>>, headers: HeaderMap) -> Response {
    if let Err(r) = viewer(&hub, &headers).await {
        return r;
    }
    let s = {
        let index = hub.index();
        views::summary(&index)
    };
    let environments: Vec<&str> = s.by_environment.keys().map(String::as_str).collect();
    let rollouts = active_rollouts(&hub).await;
    let body = html! {
        (render_summary(&s, &environments))
        (render_rollouts(&rollouts))
        (trends(&hub.trends(), now_seconds() * 1_000))
    };
    respond(StatusCode::OK, page("Fleet", &body, true))
}

/// The rollouts under way: every placement of every environment some of whose clusters do not
/// run the head of its source branch, with its progress per wave. Which are under way is read
/// from the index's groups (a few commits per placement, whatever the number of clusters);
/// only those are computed, and a computed progress is shared for a moment with the agents
/// that ask for it (see [`crate::progress::FRESH_MS`]).
async fn active_rollouts(hub: &Hub) -> Vec<Arc<Progress>> {
    let Some(fleet) = hub.fleet_view() else { return Vec::new() };
    let active: Vec<(String, String)> = {
        let index = hub.index();
        let mut active = Vec::new();
        for (environment, e) in fleet.environments() {
            for placement in e.placements.keys() {
                let Some(head) = fleet.source_branch(environment, placement).and_then(|b| b.head) else { continue };
                let head = head.to_string();
                let Some(group) = index.group(environment, placement) else { continue };
                if group.keys().any(|commit| commit.as_deref() != Some(head.as_str())) {
                    active.push((environment.clone(), placement.clone()));
                }
            }
        }
        active
    };
    let mut out = Vec::new();
    for (environment, placement) in active {
        if let Ok(Some(progress)) = crate::answers::progress_now(hub, &fleet, &environment, &placement).await {
            out.push(progress);
        }
    }
    out
}

/// The rollouts under way, a bar per wave: on the wave's commit, failed, waiting.
pub(super) fn render_rollouts(rollouts: &[Arc<Progress>]) -> Markup {
    html! {
        h2 { "Rollouts under way" }
        p class="muted" {
            "Placements some of whose clusters do not run the head of its source branch, per wave: "
            span class="key on" { "on the wave's commit" } " "
            span class="key failed" { "failed" } " "
            span class="key waiting" { "waiting" } "."
        }
        table id="rollouts" {
            tr { th { "placement" } th { "head" } th { "wave" } th { "progress" } th { "may run" } th { "halt" } }
            @if rollouts.is_empty() {
                tr { td colspan="6" class="muted none" { "none: every cluster runs its placement's head" } }
            }
            @for p in rollouts {
                @let href = format!("/lag{}", query(&[("placement", &p.placement), ("environment", &p.environment)]));
                @let rows = p.waves.len().max(1);
                @for (i, w) in p.waves.iter().enumerate() {
                    @let target = w.target.as_deref().unwrap_or_default();
                    @let parts = [("on", w.on_target), ("failed", w.failed), ("waiting", w.waiting)];
                    tr data-rollout={ (p.placement) "/" (p.environment) } data-wave=(w.name) {
                        @if i == 0 {
                            td rowspan=(rows) { a href=(href) { (p.placement) } " in " (p.environment) }
                            td rowspan=(rows) { (commit_code(p.head.as_deref().unwrap_or_default())) }
                        }
                        td { (w.name) }
                        td {
                            (bar(&parts, w.clusters))
                            span class="progress" {
                                (thousands(w.on_target)) " of " (thousands(w.clusters)) " · "
                                (thousands(w.failed)) " failed · " (thousands(w.waiting)) " waiting"
                            }
                        }
                        td { @if target.is_empty() { "nothing yet" } @else { (commit_code(target)) } }
                        td {
                            @if let Some(c) = &w.halted {
                                span class="error halted" { "halted: " (commit_code(c)) " held back" }
                            } @else if let Some(at) = &w.head_reaches_it_at {
                                "baking until " (at)
                            }
                        }
                    }
                }
            }
        }
    }
}

fn counts_header(first: &str) -> Markup {
    html! {
        tr {
            th { (first) }
            @for s in Standing::ALL { th class={ "s-" (s.name()) } { (words(s.name())) } }
            th { "all" }
        }
    }
}

/// One row of counts, headed `label`; `link(standing)` is where a count leads, and `id`, when
/// given, names each count's link `{id}-{standing}`.
fn counts_row(label: &Markup, id: Option<&str>, counts: &Counts, link: &dyn Fn(&str) -> String) -> Markup {
    let all: usize = counts.values().sum();
    html! {
        tr {
            th { (label) }
            @for s in Standing::ALL {
                td class="n" {
                    a id=[id.map(|p| format!("{p}-{}", s.name()))] href=(link(s.name())) {
                        (thousands(counts.get(s.name()).copied().unwrap_or(0)))
                    }
                }
            }
            td class="n" { (thousands(all)) }
        }
    }
}

pub(super) fn render_summary(s: &Summary, environments: &[&str]) -> Markup {
    let lag = |placement: &str, environment: &str| {
        format!("/lag{}", query(&[("placement", placement), ("environment", environment)]))
    };
    html! {
        h1 { "Fleet" }
        p { span class="big" id="clusters" { (thousands(s.clusters)) } " clusters · " a href="/clusters" { "all clusters" } }
        h2 { "By state" }
        table id="by-state" {
            (counts_header(""))
            (counts_row(&html! { "all" }, Some("count"), &s.by_standing, &|st| format!("/clusters{}", query(&[("state", st)]))))
        }
        h2 { "By environment" }
        table id="by-environment" {
            (counts_header("environment"))
            @if s.by_environment.is_empty() { (none_row(Standing::ALL.len() + 2)) }
            @for (env, counts) in &s.by_environment {
                (counts_row(&html! { (env) }, None, counts, &|st| {
                    format!("/clusters{}", query(&[("environment", env), ("state", st)]))
                }))
            }
        }
        h2 { "By placement" }
        p class="muted" { "Each placement's own state on each cluster (an offline cluster counts as offline)." }
        table id="by-placement" {
            (counts_header("placement"))
            @if s.by_placement.is_empty() { (none_row(Standing::ALL.len() + 2)) }
            @for (placement, counts) in &s.by_placement {
                @let label = html! {
                    (placement) br;
                    small {
                        @for (i, env) in environments.iter().enumerate() {
                            @if i > 0 { " · " }
                            a href=(lag(placement, env)) { "lag in " (env) }
                        }
                    }
                };
                (counts_row(&label, None, counts, &|st| {
                    format!("/clusters{}", query(&[("placement", placement), ("state", st)]))
                }))
            }
        }
        (render_versions(s))
    }
}

/// What runs where: per placement and environment, the versions its clusters run.
fn render_versions(s: &Summary) -> Markup {
    html! {
        h2 { "Versions" }
        p class="muted" {
            "The version each placement runs (the tag of its image, or every image when it runs \
             several), per environment, as the clusters last reported."
        }
        table id="versions" {
            tr { th { "placement" } th { "environment" } th { "versions" } }
            @if s.versions.is_empty() { (none_row(3)) }
            @for (placement, environments) in &s.versions {
                @for (environment, versions) in environments {
                    @let href = format!("/lag{}", query(&[("placement", placement), ("environment", environment)]));
                    tr {
                        td { a href=(href) { (placement) } }
                        td { (environment) }
                        td data-placement=(placement) { (versions_cell(versions)) }
                    }
                }
            }
        }
    }
}
