//! `GET /clusters`: the cluster list, one page of 100 at a time, filtered by a GET form and
//! sorted by its columns' headings; the filter and the order are kept in every link.

use std::sync::Arc;

use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use maud::{Markup, html};

use super::form::{encode, param, parse_form, query};
use super::layout::{page, respond};
use super::login::viewer;
use super::parts::{PAGE, badge, json_text, none_row, now_seconds, paging, state_badge, time_ms, words};
use crate::api::{ClusterLine, Page, Standing};
use crate::app::Hub;
use crate::views::{self, Filter};

/// `GET /clusters?name=&state=&environment=&labels=k=v,…&placement=&sort=&offset=`: one page of
/// the list (`name`: text the name contains; `sort`: see [`views::Sort::name`]).
pub async fn clusters(State(hub): State<Arc<Hub>>, headers: HeaderMap, RawQuery(q): RawQuery) -> Response {
    if let Err(r) = viewer(&hub, &headers).await {
        return r;
    }
    let pairs = parse_form(q.as_deref().unwrap_or_default());
    let value = |key: &str| param(&pairs, key).unwrap_or_default().to_string();
    let form = ListForm {
        state: value("state"),
        environment: value("environment"),
        labels: value("labels"),
        placement: value("placement"),
        name: value("name"),
        sort: value("sort"),
    };
    let offset = param(&pairs, "offset").and_then(|o| o.parse().ok()).unwrap_or(0);
    let (filter, problem) = form.filter();
    let sort = views::Sort::parse(&form.sort);
    let problem =
        problem.or_else(|| (sort.is_none() && !form.sort.is_empty()).then(|| format!("no order {:?}", form.sort)));
    match (filter, problem) {
        (Some(filter), None) => {
            let list = {
                let index = hub.index();
                views::clusters_sorted(&index, &filter, sort.unwrap_or_default(), offset, PAGE)
            };
            respond(StatusCode::OK, page("Clusters", &render_clusters(&form, &list, None, now_seconds()), true))
        }
        (_, problem) => {
            let empty = Page { total: 0, offset: 0, items: Vec::new() };
            let body = render_clusters(&form, &empty, problem.as_deref(), now_seconds());
            respond(StatusCode::BAD_REQUEST, page("Clusters", &body, true))
        }
    }
}

/// The list's filter as the form holds it.
#[derive(Debug, Default)]
pub(super) struct ListForm {
    pub(super) state: String,
    pub(super) environment: String,
    pub(super) labels: String,
    pub(super) placement: String,
    pub(super) name: String,
    /// As the query says it (see [`views::Sort::name`]); empty: by name.
    pub(super) sort: String,
}

impl ListForm {
    /// The filter, or what is wrong with the form.
    fn filter(&self) -> (Option<Filter>, Option<String>) {
        let standing = if self.state.is_empty() {
            None
        } else if let Some(s) = Standing::parse(&self.state) {
            Some(s)
        } else {
            return (None, Some(format!("no state {:?}", self.state)));
        };
        let labels = match Filter::parse_labels(&self.labels) {
            Ok(l) => l,
            Err(e) => return (None, Some(e)),
        };
        let given = |s: &str| (!s.is_empty()).then(|| s.to_string());
        let filter = Filter {
            standing,
            environment: given(&self.environment),
            labels,
            placement: given(&self.placement),
            name: given(&self.name),
        };
        (Some(filter), None)
    }

    fn link(&self, offset: usize) -> String {
        self.link_sorted(&self.sort, offset)
    }

    /// The list with this filter in the order `sort`, from `offset`.
    fn link_sorted(&self, sort: &str, offset: usize) -> String {
        let offset = if offset == 0 { String::new() } else { offset.to_string() };
        let sort = if sort == views::Sort::Name.name() { "" } else { sort };
        let pairs = [
            ("name", self.name.as_str()),
            ("state", &self.state),
            ("environment", &self.environment),
            ("labels", &self.labels),
            ("placement", &self.placement),
            ("sort", sort),
            ("offset", &offset),
        ];
        format!("/clusters{}", query(&pairs))
    }

    /// A column's heading that sorts the list by it: ascending, or descending when the list is
    /// in that order already (where a descending order exists).
    fn sort_header(&self, label: &str, sort: views::Sort, descending: Option<views::Sort>) -> Markup {
        let current = views::Sort::parse(&self.sort).unwrap_or_default();
        let (next, mark) = match descending {
            Some(d) if current == sort => (d, " ▲"),
            Some(d) if current == d => (sort, " ▼"),
            _ if current == sort => (sort, " ▲"),
            _ => (sort, ""),
        };
        let class = if mark.is_empty() { "sort" } else { "sort sorted" };
        html! {
            th { a class=(class) id={ "sort-" (sort.name()) } href=(self.link_sorted(next.name(), 0)) { (label) (mark) } }
        }
    }

    /// The filter form, filled in as it was sent.
    fn render(&self) -> Markup {
        let states = std::iter::once(("", "any state".to_string()))
            .chain(Standing::ALL.iter().map(|s| (s.name(), words(s.name()))));
        html! {
            form class="filter" method="get" action="/clusters" id="filter" {
                label { "name " input type="search" name="name" value=(self.name) placeholder="store-01" size="14"; }
                label {
                    "state "
                    select name="state" {
                        @for (value, label) in states {
                            option value=(value) selected[self.state.eq_ignore_ascii_case(value)] { (label) }
                        }
                    }
                }
                label { "environment " input name="environment" value=(self.environment) size="10"; }
                label {
                    "labels " input name="labels" value=(self.labels) placeholder="kind=store,region=eu" size="24";
                }
                label { "placement " input name="placement" value=(self.placement) size="12"; }
                input type="hidden" name="sort" value=(self.sort);
                button type="submit" { "Filter" } " " a href="/clusters" { "clear" }
            }
        }
    }
}

/// The list page's body: the form, and the page of clusters or what is wrong with the form.
pub(super) fn render_clusters(form: &ListForm, list: &Page<ClusterLine>, problem: Option<&str>, now: i64) -> Markup {
    let pager = paging(list.offset, list.items.len(), list.total, &|o| form.link(o));
    html! {
        h1 { "Clusters" }
        (form.render())
        @if let Some(problem) = problem {
            p class="error" id="error" { (problem) }
        } @else {
            (pager)
            table id="clusters" {
                tr {
                    (form.sort_header("cluster", views::Sort::Name, Some(views::Sort::NameDescending)))
                    (form.sort_header("environment", views::Sort::Environment, None))
                    (form.sort_header("state", views::Sort::State, None))
                    (form.sort_header("last report", views::Sort::LastReport, Some(views::Sort::LastReportDescending)))
                    th { "placements" } th { "problems" } th { "fleet" }
                }
                @if list.items.is_empty() { (none_row(7)) }
                @for c in &list.items {
                    tr {
                        td { a class="cluster" href={ "/clusters/" (encode(&c.name)) } { (c.name) } }
                        td { (c.environment) }
                        td { (badge(c.standing.name())) }
                        td { (time_ms(c.last_report_at_ms, now)) }
                        td class="n" { (c.placements) }
                        td class="n" { (c.problems) }
                        td { @if let Some(state) = c.fleet { (state_badge(&json_text(&state))) } }
                    }
                }
            }
            (pager)
        }
    }
}
