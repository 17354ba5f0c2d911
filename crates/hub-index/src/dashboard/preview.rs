//! `GET /preview`: what moving a repository's environment branch to a ref (a merge of dev into
//! prod) would change, grouped by placement and the digest the clusters would render to, with
//! the line diffs on one cluster of each group; without a ref, the form and the pending
//! promotions to pick from. It does not refresh itself: a preview renders.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use flotilla_core::fleet::FLEET_REPOSITORY;
use maud::{Markup, html};

use super::form::{encode, param, parse_form, query};
use super::layout::{form_problem, page_with, respond};
use super::login::viewer;
use super::parts::{short, thousands};
use crate::api::{Change, Preview, Promotion};
use crate::app::Hub;
use crate::preview::{MAX_LINES, change_word, summary};

/// The preview's form as it is filled in.
#[derive(Debug)]
pub(super) struct PreviewForm {
    pub(super) reference: String,
    pub(super) repository: String,
    pub(super) environment: String,
}

impl PreviewForm {
    fn read(pairs: &[(String, String)]) -> PreviewForm {
        PreviewForm {
            reference: param(pairs, "ref").unwrap_or_default().to_string(),
            repository: param(pairs, "repository").unwrap_or(FLEET_REPOSITORY).to_string(),
            environment: param(pairs, "environment").unwrap_or("prod").to_string(),
        }
    }

    pub(super) fn render(&self) -> Markup {
        html! {
            form class="filter" method="get" action="/preview" id="preview-form" {
                label {
                    "ref " input name="ref" value=(self.reference) placeholder="dev or a commit id" size="24" required;
                }
                label { "repository " input name="repository" value=(self.repository) size="14"; }
                label { "environment " input name="environment" value=(self.environment) size="10"; }
                button type="submit" { "Preview" }
            }
        }
    }
}

/// What the page is, above the form.
fn intro() -> Markup {
    html! {
        p class="muted" {
            "What the clusters of an environment would run if a repository's branch for it were at another \
             commit — a merge of dev into prod — grouped by placement and the digest they would render to, \
             with the objects that would change on one cluster of each group. Signatures, rollout waves and \
             windows are not applied."
        }
    }
}

/// `GET /preview?ref=&repository=&environment=`: what moving a repository's environment branch
/// to `ref` would do to the environment's clusters; without `ref`, the form and the pending
/// promotions (what dev has that prod lacks), each with a link to its preview.
pub async fn preview(State(hub): State<Arc<Hub>>, headers: HeaderMap, RawQuery(q): RawQuery) -> Response {
    if let Err(r) = viewer(&hub, &headers).await {
        return r;
    }
    let form = PreviewForm::read(&parse_form(q.as_deref().unwrap_or_default()));
    if form.reference.is_empty() {
        let fleet = hub.fleet_view();
        let body = html! {
            h1 { "Preview" }
            (intro())
            (form.render())
            @if let Some(fleet) = &fleet { (render_promotions(fleet.promotions())) }
        };
        return respond(StatusCode::OK, page_with("Preview", &body, true, false));
    }
    let title = format!("Preview of {} at {} in {}", form.repository, form.reference, form.environment);
    let computed =
        crate::answers::preview(&hub, form.environment.clone(), form.repository.clone(), form.reference.clone()).await;
    match computed {
        Ok(p) => {
            let body = html! { h1 { (title) } (intro()) (form.render()) (render_preview(&p)) };
            respond(StatusCode::OK, page_with(&title, &body, true, false))
        }
        Err(e) => form_problem(e.status, &title, &form.render(), &e.message),
    }
}

/// The repositories with commits on dev that prod lacks, each with a link to the preview of
/// prod at dev's head.
pub(super) fn render_promotions(promotions: &BTreeMap<String, Promotion>) -> Markup {
    let pending: Vec<_> = promotions.iter().filter(|(_, p)| !p.commits.is_empty()).collect();
    html! {
        h2 { "Pending promotions" }
        @if pending.is_empty() {
            p class="muted" id="promotions" { "Nothing on dev that prod lacks." }
        } @else {
            table id="promotions" {
                tr { th { "repository" } th { "branches" } th { "commits on dev only" } th { "newest" } th {} }
                @for (name, p) in pending {
                    @let href = format!(
                        "/preview{}",
                        query(&[("ref", &p.dev_branch), ("repository", name), ("environment", "prod")])
                    );
                    tr {
                        td { (name) }
                        td { (p.dev_branch) " → " (p.prod_branch) }
                        td class="n" { (p.commits.len()) }
                        td { code { @if let Some(c) = p.commits.first() { (short(&c.id)) " " (c.summary) } } }
                        td { a class="preview" href=(href) { "preview" } }
                    }
                }
            }
        }
    }
}

pub(super) fn render_preview(p: &Preview) -> Markup {
    let word = |c: Change| change_word(c);
    html! {
        p id="preview-summary" { (summary(p)) }
        @for w in &p.warnings {
            p class="error" { "broken fleet document: " (w) }
        }
        @if p.groups.is_empty() {
            p class="muted" id="preview-groups" { "No cluster would change." }
        } @else {
            table id="preview-groups" {
                tr { th { "placement" } th { "change" } th { "would run" } th { "clusters" } th { "first clusters" } }
                @for g in &p.groups {
                    @let at = short(g.source_commit.as_deref().unwrap_or_default());
                    @let more = g.clusters.saturating_sub(g.names.len());
                    tr {
                        td { (g.placement) }
                        td { (word(g.change)) }
                        td {
                            @match (&g.digest, &g.error) {
                                (_, Some(e)) => span class="error" { (e) },
                                (Some(_), None) if g.digests > 1 => {
                                    span class="digests" { (thousands(g.digests)) " digests, each its own values" }
                                    " at " code { (at) }
                                }
                                (Some(d), None) => {
                                    code title=(d) { (d.get(..19).unwrap_or(d)) } " at " code { (at) }
                                }
                                (None, None) => "nothing",
                            }
                        }
                        td class="n" { (g.clusters) }
                        td {
                            @for (i, n) in g.names.iter().enumerate() {
                                @if i > 0 { ", " }
                                a class="cluster" href={ "/clusters/" (encode(n)) } { (n) }
                            }
                            @if more > 0 { " and " (more) " more" }
                        }
                    }
                }
            }
            @for g in &p.groups {
                @if let Some(d) = &g.diff {
                    h2 { (g.placement) " " (word(g.change)) " on " (d.cluster) }
                    p class="muted" {
                        "from " code { (short(d.from_commit.as_deref().unwrap_or("nothing"))) }
                        " to " code { (short(d.to_commit.as_deref().unwrap_or("nothing"))) }
                        " · unchanged objects: " (d.unchanged)
                    }
                    @if let Some(e) = &d.error { p class="error" { (e) } }
                    @for o in &d.objects {
                        p {
                            b { (word(o.change)) } " " (o.kind) " "
                            @if let Some(n) = &o.namespace { (n) "/" }
                            (o.name) " " small { "(" (o.api_version) ")" }
                        }
                        @if !o.lines.is_empty() {
                            pre class="diff" {
                                @for line in &o.lines {
                                    @let class = match line.as_bytes().first() {
                                        Some(b'+') => "add",
                                        Some(b'-') => "del",
                                        Some(b'@') => "hunk",
                                        _ => "same",
                                    };
                                    span class=(class) { (line) } "\n"
                                }
                                @if o.clipped {
                                    span class="hunk" { "… clipped at " (MAX_LINES) " lines" } "\n"
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}
