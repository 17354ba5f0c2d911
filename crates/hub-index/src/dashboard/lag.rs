//! `GET /lag`: the lag ledger of one placement in one environment — the commits its clusters
//! run, the versions, the clusters not on the head (paged) — and its rollout per wave with the
//! halt.

use std::sync::Arc;

use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use maud::{Markup, html};

use super::form::{encode, param, parse_form, query};
use super::layout::{error_page, page, respond};
use super::login::viewer;
use super::parts::{PAGE, badge, behind_text, commit_code, none_row, paging, short, versions_cell};
use crate::api::{Behind, Ledger, Progress};
use crate::app::Hub;
use crate::views;

/// `GET /lag?placement=P&environment=E&offset=`: the lag ledger of one placement.
pub async fn lag(State(hub): State<Arc<Hub>>, headers: HeaderMap, RawQuery(q): RawQuery) -> Response {
    if let Err(r) = viewer(&hub, &headers).await {
        return r;
    }
    let pairs = parse_form(q.as_deref().unwrap_or_default());
    let Some(placement) = param(&pairs, "placement") else {
        return error_page(StatusCode::BAD_REQUEST, "which placement? (/lag?placement=NAME&environment=prod)");
    };
    let environment = param(&pairs, "environment").unwrap_or("prod");
    let offset = param(&pairs, "offset").and_then(|o| o.parse().ok()).unwrap_or(0);
    let Some(fleet) = hub.fleet_view() else {
        return error_page(StatusCode::SERVICE_UNAVAILABLE, "the fleet repository has not been read yet");
    };
    let Some(head) = fleet.source_branch(environment, placement).and_then(|b| b.head).map(|h| h.to_string()) else {
        return error_page(
            StatusCode::NOT_FOUND,
            &format!("no placement {placement:?} in environment {environment:?}"),
        );
    };
    let behind = |commit: &str| {
        let lag = fleet.lag(environment, placement, commit);
        Behind { commits: lag.commits_behind, since: lag.behind_since }
    };
    let ledger = {
        let index = hub.index();
        views::ledger(&index, placement, environment, &head, &behind, offset, PAGE)
    };
    let progress = crate::answers::progress_now(&hub, &fleet, environment, placement).await.ok().flatten();
    let body = html! {
        (render_ledger(&ledger))
        @if let Some(progress) = &progress { (render_progress(progress)) }
    };
    respond(StatusCode::OK, page(&format!("Lag of {placement} in {environment}"), &body, true))
}

/// The rollout per wave, under the lag ledger of the placement, and its halt.
pub(super) fn render_progress(p: &Progress) -> Markup {
    html! {
        h2 { "Rollout" }
        p class="muted" {
            "Bake " (p.bake_seconds) " s per wave. Each wave may run the newest commit whose gate has opened for it."
        }
        table id="waves" {
            tr {
                th { "wave" } th { "clusters" } th { "may run" } th { "on it" } th { "on the head" } th { "waiting" }
                th { "failed" } th { "the head reaches it" } th { "halted" }
            }
            @for w in &p.waves {
                tr {
                    td { (w.name) }
                    td { (w.clusters) }
                    td { code { (short(w.target.as_deref().unwrap_or(""))) } }
                    td { (w.on_target) }
                    td { (w.on_head) }
                    td { (w.waiting) }
                    td { (w.failed) }
                    td { (w.head_reaches_it_at.as_deref().unwrap_or("reached")) }
                    td { @if let Some(c) = &w.halted { b { (short(c)) } " held back" } }
                }
            }
        }
        @if let Some(halt) = &p.halt {
            h2 { "Halt" }
            p class="muted" {
                "A wave waits while more than " (halt.max_failed)
                " of the clusters of the waves before it failed on the commit."
            }
            table id="halt" {
                tr { th { "commit" } th { "failed per wave" } th { "held back from" } }
                @for c in &halt.commits {
                    @let failed: Vec<String> = c.failed.iter().map(ToString::to_string).collect();
                    tr {
                        td { (commit_code(&c.commit)) }
                        td { (failed.join(" · ")) }
                        td { (c.halted_from.as_deref().unwrap_or("none: within the limit")) }
                    }
                }
            }
        }
    }
}

pub(super) fn render_ledger(l: &Ledger) -> Markup {
    let link = |o: usize| {
        let offset = if o == 0 { String::new() } else { o.to_string() };
        format!("/lag{}", query(&[("placement", &l.placement), ("environment", &l.environment), ("offset", &offset)]))
    };
    let pager = paging(l.lagging.offset, l.lagging.items.len(), l.lagging.total, &link);
    html! {
        h1 { "Lag of " (l.placement) " in " (l.environment) }
        p {
            "head " (commit_code(&l.head)) " · "
            span id="on-head" { (l.on_head) } " of " span id="running" { (l.clusters) } " clusters on it"
        }
        h2 { "Commits run" }
        table id="commits" {
            tr { th { "commit" } th { "clusters" } th { "behind" } }
            @if l.commits.is_empty() { (none_row(3)) }
            @for c in &l.commits {
                tr { td { (commit_code(&c.commit)) } td class="n" { (c.clusters) } td { (behind_text(&c.behind)) } }
            }
        }
        h2 { "Versions run" }
        div id="versions" { (versions_cell(&l.versions)) }
        h2 { "Clusters not on the head" }
        (pager)
        table id="lagging" {
            tr { th { "cluster" } th { "state" } th { "runs" } th { "version" } th { "behind" } }
            @if l.lagging.items.is_empty() { (none_row(5)) }
            @for c in &l.lagging.items {
                tr {
                    td { a class="cluster" href={ "/clusters/" (encode(&c.cluster)) } { (c.cluster) } }
                    td { (badge(c.standing.name())) }
                    td { (commit_code(c.commit.as_deref().unwrap_or_default())) }
                    td { code { (c.version.as_deref().unwrap_or_default()) } }
                    td {
                        @if c.commit.is_none() { "nothing applied yet" } @else { (behind_text(&c.behind)) }
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use flotilla_core::rollout::{HaltAnswer, Halted};

    use super::*;
    use crate::api::WaveProgress;

    #[test]
    fn the_rollout_shows_the_waves_and_which_commit_the_halt_holds_back_from_which() {
        let wave = |name: &str, halted: Option<&str>| WaveProgress {
            name: name.into(),
            clusters: 10,
            target: Some("b".repeat(40)),
            head_reaches_it_at: None,
            on_target: 4,
            on_head: 4,
            failed: 2,
            waiting: 4,
            halted: halted.map(str::to_string),
        };
        let bad = "b".repeat(40);
        let progress = Progress {
            placement: "pos".into(),
            environment: "prod".into(),
            head: Some(bad.clone()),
            bake_seconds: 7_200,
            waves: vec![wave("canary", None), wave("<early>", Some(&bad))],
            halt: Some(HaltAnswer {
                max_failed: "5%".into(),
                commits: vec![Halted {
                    commit: bad.clone(),
                    failed: vec![2, 0],
                    halted_from: Some("<early>".into()),
                    halted_from_index: Some(1),
                }],
            }),
            arrivals: Vec::new(),
        };
        let html = render_progress(&progress).into_string();
        assert!(html.contains("<td>canary</td><td>10</td><td><code>bbbbbbbbbbbb</code></td><td>4</td><td>4</td><td>4</td><td>2</td><td>reached</td><td></td></tr>"), "{html}");
        assert!(html.contains("<td>&lt;early&gt;</td>") && html.contains("<b>bbbbbbbbbbbb</b> held back"), "{html}");
        assert!(html.contains("more than 5% of the clusters"), "{html}");
        assert!(html.contains("<td>2 · 0</td><td>&lt;early&gt;</td>"), "{html}");
        let calm = Progress { halt: None, ..progress };
        assert!(!render_progress(&calm).into_string().contains("id=\"halt\""));
    }
}
