//! The web dashboard: server-rendered HTML of the same views as the JSON API — the fleet summary
//! (`/`), the cluster list (`/clusters`, paged and filtered), one cluster (`/clusters/{name}`),
//! the lag ledger (`/lag`), and governance (`/compliance`: standards → controls → policies;
//! `/compliance/{policy}`: one policy's non-compliant clusters, paged and filtered), the
//! overrides (`/overrides`: each commit run through a change freeze, its signer, reason and
//! clusters), and the preview of a merge (`/preview`: what moving a repository's branch to a
//! ref would change, with the pending promotions to pick from). Every page but the preview refreshes itself every ten
//! seconds, and each says when it was rendered. No JavaScript at all: filters are GET forms,
//! paging is links.
//!
//! Reads need a viewer token, from `Authorization: Bearer` like the API, or from the
//! `flotilla_viewer` cookie that `POST /login` sets (HttpOnly, SameSite=Strict) after checking
//! the token the same way. Without one a page answers 401 with the login form. There is no way
//! to pass a token in a URL: a bookmarked or logged URL would leak it.
//!
//! The pages read the in-memory index like the JSON views, so they stay fast at 100,000
//! clusters; only a cluster's own page and the overrides (few rows) ask the store. Every text put into a page goes through
//! [`escape`] (labels, names and messages are free text), and the pages are served with a
//! Content-Security-Policy that allows no script.
//!
//! Not an API: scripts read `/api/v1/…`; the HTML may change at any time.

use std::fmt::Write as _;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use flotilla_core::calendar::rfc3339;
use flotilla_core::fleet::FLEET_REPOSITORY;
use flotilla_core::report::{ObjectReport, SyncState};
use serde_json::Value;

use crate::answers::{cluster_detail, fleet_with, no_policy};
use crate::api::{
    Audit, Behind, ClusterDetail, ClusterLine, Compliance, ComplianceCounts, Counts, FleetDetail, Ledger, Page,
    PlacementDetail, PolicyCompliance, Standing, Summary, VersionCount,
};
use crate::app::Hub;
use crate::index::standing_of;
use crate::views::{self, Filter};

/// The cookie that carries a viewer token once logged in.
pub const COOKIE: &str = "flotilla_viewer";

/// Rows per page of the cluster list and of the lagging clusters.
pub const PAGE: usize = 100;

/// How often a page reloads itself, in seconds.
const REFRESH_SECONDS: u32 = 10;

/// No script, no frames, no outside resources: only the inline style and forms to this hub.
const CSP: &str =
    "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

const CSS: &str = "\
body{font:14px/1.45 system-ui,sans-serif;margin:0;color:#1f2328;background:#f6f8fa}
header{display:flex;gap:16px;align-items:center;padding:8px 16px;background:#24292f;color:#fff}
header a{color:#fff;text-decoration:none;font-weight:600}
header .rendered{margin-left:auto;font-size:12px;color:#d0d7de}
header form{margin:0}
main{padding:16px 24px}
h1{font-size:22px;margin:4px 0 12px}h2{font-size:17px;margin:20px 0 6px}
table{border-collapse:collapse;background:#fff;margin:6px 0 14px}
th,td{border:1px solid #d0d7de;padding:4px 10px;text-align:left;vertical-align:top}
th{background:#eaeef2}td.n{text-align:right;font-variant-numeric:tabular-nums}
a{color:#0969da}code{font-family:ui-monospace,monospace;font-size:13px}
.badge{display:inline-block;padding:1px 9px;border-radius:10px;color:#fff;font-size:12px;font-weight:600}
.s-synced{background:#1a7f37}.s-progressing{background:#0969da}.s-degraded{background:#9a6700}
.s-failed{background:#cf222e}.s-offline{background:#6e7781}.s-neverReported{background:#8250df}
th.s-synced,th.s-progressing,th.s-degraded,th.s-failed,th.s-offline,th.s-neverReported{color:#fff}
.big{font-size:28px;font-weight:700}.error{color:#cf222e;font-weight:600}.muted{color:#656d76}
form.filter{background:#fff;border:1px solid #d0d7de;padding:8px;display:inline-block}
form.filter label{margin-right:10px}.paging a{margin-right:16px}
td.bad,td.bad a{color:#cf222e;font-weight:700}tr.standard th{background:#d0d7de}tr.control th{background:#f6f8fa}
pre.diff{background:#fff;border:1px solid #d0d7de;padding:6px 10px;overflow-x:auto;margin:4px 0 12px}
.bar{display:flex;width:320px;height:10px;background:#eaeef2;border-radius:3px;overflow:hidden;margin:3px 0}
.bar span{display:block;height:100%}.bar .v0{background:#1a7f37}.bar .v1{background:#0969da}.bar .v2{background:#9a6700}.bar .v3{background:#8250df}
.version{white-space:nowrap}.ago{color:#656d76;font-size:12px}td.none{font-style:italic}
th a.sort{color:inherit}th a.sorted{text-decoration:underline}.bar .on,.key.on{background:#1a7f37}.bar .failed,.key.failed{background:#cf222e}
.bar .waiting,.key.waiting{background:#54aeff}.key{display:inline-block;color:#fff;padding:0 6px;border-radius:3px;font-size:12px}
.progress{font-size:12px;color:#656d76}.halted{font-weight:700}
pre.diff .add{color:#1a7f37}pre.diff .del{color:#cf222e}pre.diff .hunk{color:#8250df}
";

// ---------------------------------------------------------------------------------------------
// Text: escaping, URL encoding, forms and cookies.

/// `text` safe to put into HTML, in element content and in quoted attribute values alike.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// `text` as one component of a URL query or path (see `flotilla_core::register::url_component`).
pub fn encode(text: &str) -> String {
    flotilla_core::register::url_component(text)
}

/// Decodes one component of `application/x-www-form-urlencoded` text: `+` is a space, `%XX` a
/// byte; a `%` not followed by two hex digits stays as it is, and bytes that are not UTF-8
/// become U+FFFD.
pub fn decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() && hex(bytes[i + 1]).is_some() && hex(bytes[i + 2]).is_some() => {
                out.push(hex(bytes[i + 1]).expect("checked") * 16 + hex(bytes[i + 2]).expect("checked"));
                i += 2;
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn hex(b: u8) -> Option<u8> {
    char::from(b).to_digit(16).and_then(|d| u8::try_from(d).ok())
}

/// Parses `application/x-www-form-urlencoded` text (a form body or a query string) into its
/// pairs, in order; a pair without `=` has an empty value.
pub fn parse_form(text: &str) -> Vec<(String, String)> {
    text.split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            (decode(k), decode(v))
        })
        .collect()
}

/// The last non-empty value of `key` (an empty form field means "any").
fn param<'a>(pairs: &'a [(String, String)], key: &str) -> Option<&'a str> {
    pairs.iter().rev().find(|(k, v)| k == key && !v.trim().is_empty()).map(|(_, v)| v.trim())
}

/// The value of cookie `name` among the request's `Cookie` headers.
pub fn cookie<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.trim_matches('"'))
}

/// Whether `token` can be a cookie value as it is (RFC 6265 cookie-octets), so it needs no
/// encoding that the API's bearer check would not undo.
fn cookie_safe(token: &str) -> bool {
    !token.is_empty() && token.bytes().all(|b| b.is_ascii_graphic() && !matches!(b, b'"' | b',' | b';' | b'\\'))
}

fn bearer(headers: &HeaderMap) -> Option<&str> {
    headers.get(header::AUTHORIZATION)?.to_str().ok()?.strip_prefix("Bearer ").map(str::trim)
}

// ---------------------------------------------------------------------------------------------
// Pages.

fn html(status: StatusCode, body: String) -> Response {
    let headers = [
        (header::CONTENT_TYPE, "text/html; charset=utf-8"),
        (header::CACHE_CONTROL, "no-store"),
        (header::CONTENT_SECURITY_POLICY, CSP),
    ];
    (status, headers, body).into_response()
}

fn now_seconds() -> i64 {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    i64::try_from(now.as_secs()).unwrap_or(i64::MAX)
}

/// A whole page around `body` (HTML already); `title` is text. Pages that show the fleet
/// refresh themselves; the login page does not (it would wipe what is being typed).
fn page(title: &str, body: &str, signed_in: bool) -> String {
    page_with(title, body, signed_in, signed_in)
}

/// [`page`], refreshing itself or not: a page that is costly to compute, or that holds a form
/// being filled in, does not.
fn page_with(title: &str, body: &str, signed_in: bool, refresh: bool) -> String {
    let now = rfc3339(now_seconds());
    let every = if refresh {
        format!(" · <span id=\"refresh\">refreshes every {REFRESH_SECONDS} s</span>")
    } else {
        " · <span id=\"refresh\">does not refresh itself</span>".to_string()
    };
    let refresh =
        if refresh { format!("<meta http-equiv=\"refresh\" content=\"{REFRESH_SECONDS}\">") } else { String::new() };
    let nav = if signed_in {
        "<a href=\"/\">Fleet</a><a href=\"/clusters\">Clusters</a><a href=\"/compliance\">Compliance</a>\
         <a href=\"/overrides\">Overrides</a><a href=\"/preview\">Preview</a><form method=\"post\" action=\"/logout\"><button type=\"submit\">Log out</button></form>"
    } else {
        "<a href=\"/\">Flotilla</a>"
    };
    let title = escape(title);
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">{refresh}\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{title} · Flotilla</title><style>{CSS}</style></head>\n<body><header>{nav}\
         <span class=\"rendered\">rendered <time id=\"rendered\" datetime=\"{now}\">{now}</time>{every}</span></header>\n\
         <main>{body}</main></body></html>\n"
    )
}

fn error_page(status: StatusCode, message: &str) -> Response {
    let body = format!("<h1>{}</h1><p class=\"error\" id=\"error\">{}</p>", status.as_u16(), escape(message));
    html(status, page("Error", &body, true))
}

fn login_page(status: StatusCode, message: Option<&str>) -> Response {
    let message = message.map(|m| format!("<p class=\"error\" id=\"error\">{}</p>", escape(m))).unwrap_or_default();
    let body = format!(
        "<h1>Log in</h1>{message}<p>Reading the fleet needs a viewer token \
         (<code>hub-index viewer-token create</code>).</p>\
         <form method=\"post\" action=\"/login\" id=\"login\"><label>Viewer token \
         <input type=\"password\" name=\"token\" autocomplete=\"current-password\" required></label> \
         <button type=\"submit\">Log in</button></form>"
    );
    html(status, page("Log in", &body, false))
}

/// A state's name (`neverReported`, `VerificationFailed`) as the pages say every state: in
/// lower-case words (`never reported`, `verification failed`).
fn words(name: &str) -> String {
    let mut out = String::with_capacity(name.len() + 4);
    for (i, c) in name.chars().enumerate() {
        if c.is_ascii_uppercase() && i > 0 {
            out.push(' ');
        }
        out.push(c.to_ascii_lowercase());
    }
    out
}

/// The one row of a table with no rows: a table that says "none" rather than a bare header.
fn none_row(columns: usize) -> String {
    format!("<tr><td colspan=\"{columns}\" class=\"muted none\">none</td></tr>")
}

fn badge(standing: &str) -> String {
    format!("<span class=\"badge s-{}\">{}</span>", escape(standing), escape(&words(standing)))
}

/// The standing a placement's state (as the report names it, `Synced`, …) counts as.
fn placement_standing(state: &str) -> Option<Standing> {
    serde_json::from_value::<SyncState>(Value::String(state.to_string())).ok().map(standing_of)
}

/// A placement's or the fleet's state (`Synced`, …) as a badge in the colour of its standing.
fn state_badge(state: &str) -> String {
    let class = placement_standing(state).map_or("unknown", Standing::name);
    format!("<span class=\"badge s-{class}\">{}</span>", escape(&words(state)))
}

fn short(commit: &str) -> &str {
    commit.get(..12).unwrap_or(commit)
}

/// A time (unix milliseconds) as HTML: the time itself, and how long ago beside it.
fn time_ms(ms: Option<i64>) -> String {
    let Some(ms) = ms else { return "never".to_string() };
    let at = rfc3339(ms.div_euclid(1_000));
    format!(
        "<time datetime=\"{at}\">{at}</time> <span class=\"ago\">{}</span>",
        ago(now_seconds() - ms.div_euclid(1_000))
    )
}

/// `seconds` ago in words: `just now`, `40 s ago`, `4 min ago`, `3 h ago`, `2 days ago`; a time
/// ahead of the hub's clock is `in the future`.
fn ago(seconds: i64) -> String {
    match seconds {
        ..0 => "in the future".to_string(),
        0..5 => "just now".to_string(),
        5..60 => format!("{seconds} s ago"),
        60..3_600 => format!("{} min ago", seconds / 60),
        3_600..86_400 => format!("{} h ago", seconds / 3_600),
        86_400..172_800 => "1 day ago".to_string(),
        _ => format!("{} days ago", seconds / 86_400),
    }
}

fn behind_text(b: &Behind) -> String {
    match (b.commits, b.since) {
        (Some(0), _) => "on the head".to_string(),
        (Some(n), Some(since)) => format!("{n} commits, since {}", rfc3339(since)),
        (Some(n), None) => format!("{n} commits"),
        (None, _) => "not on the branch's history".to_string(),
    }
}

/// A query string of the non-empty `pairs`, each part encoded; HTML-escape it before use.
fn query(pairs: &[(&str, &str)]) -> String {
    let parts: Vec<String> =
        pairs.iter().filter(|(_, v)| !v.is_empty()).map(|(k, v)| format!("{}={}", encode(k), encode(v))).collect();
    if parts.is_empty() { String::new() } else { format!("?{}", parts.join("&")) }
}

/// Previous and next links for a page of `total` rows from `offset`; `link(offset)` makes a URL.
fn paging(offset: usize, shown: usize, total: usize, link: &dyn Fn(usize) -> String) -> String {
    let mut out = String::from("<p class=\"paging\">");
    if offset > 0 {
        let href = escape(&link(offset.saturating_sub(PAGE)));
        let _ = write!(out, "<a rel=\"prev\" id=\"prev\" href=\"{href}\">← previous {PAGE}</a>");
    }
    let (first, last) = if shown == 0 { (0, 0) } else { (offset + 1, offset + shown) };
    let _ = write!(out, "<span id=\"showing\">{first}–{last} of {total}</span>");
    if offset + shown < total {
        let href = escape(&link(offset + shown));
        let _ = write!(out, " <a rel=\"next\" id=\"next\" href=\"{href}\">next {PAGE} →</a>");
    }
    out.push_str("</p>");
    out
}

// ---------------------------------------------------------------------------------------------
// Access.

/// Whether the request carries a viewer token (bearer or cookie), or needs none (an open hub);
/// the answer to send if not.
async fn viewer(hub: &Hub, headers: &HeaderMap) -> Result<(), Response> {
    if hub.open() {
        return Ok(());
    }
    let Some(token) = bearer(headers).or_else(|| cookie(headers, COOKIE)) else {
        return Err(login_page(StatusCode::UNAUTHORIZED, None));
    };
    match hub.viewer_allowed(token).await {
        Ok(true) => Ok(()),
        Ok(false) => Err(login_page(StatusCode::UNAUTHORIZED, Some("unknown viewer token: log in again"))),
        Err(e) => Err(error_page(StatusCode::SERVICE_UNAVAILABLE, &e.to_string())),
    }
}

/// `GET /login`: the form.
pub async fn login_form() -> Response {
    login_page(StatusCode::OK, None)
}

/// `POST /login` with the form field `token`: checked like the API's viewer check, then kept in
/// an HttpOnly, SameSite=Strict cookie (no `Secure`: the hub may serve plain HTTP on loopback or
/// behind a TLS-terminating proxy), and `303 See Other` to the summary.
pub async fn login(State(hub): State<Arc<Hub>>, body: Bytes) -> Response {
    let form = parse_form(&String::from_utf8_lossy(&body));
    let Some(token) = param(&form, "token") else {
        return login_page(StatusCode::UNAUTHORIZED, Some("enter a viewer token"));
    };
    match hub.viewer_allowed(token).await {
        Ok(true) if cookie_safe(token) => {
            let cookie = format!("{COOKIE}={token}; HttpOnly; SameSite=Strict; Path=/");
            let cookie = HeaderValue::from_str(&cookie).expect("cookie-safe text is a header value");
            (StatusCode::SEE_OTHER, [(header::LOCATION, HeaderValue::from_static("/")), (header::SET_COOKIE, cookie)])
                .into_response()
        }
        Ok(true) => login_page(
            StatusCode::BAD_REQUEST,
            Some("this token has characters a cookie cannot hold: use Authorization: Bearer"),
        ),
        Ok(false) => login_page(StatusCode::UNAUTHORIZED, Some("unknown viewer token")),
        Err(e) => error_page(StatusCode::SERVICE_UNAVAILABLE, &e.to_string()),
    }
}

/// `POST /logout`: forgets the cookie.
pub async fn logout() -> Response {
    let cookie = format!("{COOKIE}=; HttpOnly; SameSite=Strict; Path=/; Max-Age=0");
    let cookie = HeaderValue::from_str(&cookie).expect("a fixed header value");
    (StatusCode::SEE_OTHER, [(header::LOCATION, HeaderValue::from_static("/login")), (header::SET_COOKIE, cookie)])
        .into_response()
}

// ---------------------------------------------------------------------------------------------
// The views.

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
    let mut body = render_summary(&s, &environments);
    body.push_str(&render_rollouts(&active_rollouts(&hub).await));
    body.push_str(&render_trends(&hub.trends(), now_seconds() * 1_000));
    html(StatusCode::OK, page("Fleet", &body, true))
}

/// The colour of a standing, as its badge has it.
fn colour(standing: Standing) -> &'static str {
    match standing {
        Standing::Synced => "#1a7f37",
        Standing::Progressing => "#0969da",
        Standing::Degraded => "#9a6700",
        Standing::Failed => "#cf222e",
        Standing::Offline => "#6e7781",
        Standing::NeverReported => "#8250df",
    }
}

/// Width and height of a trend's plot, and the margin left of it for the scale.
const WIDTH: i64 = 640;
const HEIGHT: i64 = 150;
const MARGIN: i64 = 48;

/// One line of a chart: its colour, its name, and its points as (unix ms, value).
type Line<'a> = (&'a str, &'a str, Vec<(i64, usize)>);

/// An SVG chart, `id`, of `lines` (colour, name, points as (unix ms, value)) over the `span_ms`
/// before `now_ms`, values from 0 to `top` (labelled by `scale`); a lone point shows as a dot.
fn chart(
    id: &str,
    now_ms: i64,
    span_ms: i64,
    top: usize,
    scale: &dyn Fn(usize) -> String,
    lines: &[Line],
    from: &str,
) -> String {
    let (width, height, margin) = (WIDTH, HEIGHT, MARGIN);
    let top = i64::try_from(top.max(1)).unwrap_or(i64::MAX);
    let x = |at: i64| margin + (at - (now_ms - span_ms)).clamp(0, span_ms) * width / span_ms.max(1);
    let y = |v: usize| 10 + height - i64::try_from(v).unwrap_or(i64::MAX).min(top) * height / top;
    let mut out = format!(
        "<svg id=\"{id}\" class=\"trend\" xmlns=\"http://www.w3.org/2000/svg\" width=\"{}\" height=\"{}\" \
         viewBox=\"0 0 {} {}\" role=\"img\"><rect x=\"{margin}\" y=\"10\" width=\"{width}\" height=\"{height}\" fill=\"#fff\" \
         stroke=\"#d0d7de\"/>",
        margin + width + 10,
        height + 34,
        margin + width + 10,
        height + 34,
    );
    for (v, label) in
        [(usize::try_from(top).unwrap_or(usize::MAX), scale(usize::try_from(top).unwrap_or(0))), (0, scale(0))]
    {
        let _ = write!(
            out,
            "<text x=\"{}\" y=\"{}\" text-anchor=\"end\" font-size=\"11\">{}</text>",
            margin - 4,
            y(v) + 4,
            escape(&label)
        );
    }
    let _ = write!(
        out,
        "<text x=\"{margin}\" y=\"{}\" font-size=\"11\">{}</text><text x=\"{}\" y=\"{}\" text-anchor=\"end\" font-size=\"11\">now</text>",
        height + 28,
        escape(from),
        margin + width,
        height + 28
    );
    for (colour, name, points) in lines.iter().filter(|(_, _, points)| !points.is_empty()) {
        let coordinates: Vec<String> = points.iter().map(|(at, v)| format!("{},{}", x(*at), y(*v))).collect();
        let _ = write!(
            out,
            "<polyline data-line=\"{}\" fill=\"none\" stroke=\"{colour}\" stroke-width=\"2\" points=\"{}\"><title>{}</title></polyline>",
            escape(name),
            coordinates.join(" "),
            escape(&words(name))
        );
        if let Some((at, v)) = points.last() {
            let _ = write!(out, "<circle cx=\"{}\" cy=\"{}\" r=\"3\" fill=\"{colour}\"/>", x(*at), y(*v));
        }
    }
    out.push_str("</svg>");
    out
}

/// The standings over the last 24 hours and compliance over the last 30 days (see
/// [`crate::trends`]: sampled by this hub process since it started).
fn render_trends(trends: &crate::trends::Trends, now_ms: i64) -> String {
    let states = trends.states();
    let top = states.iter().flat_map(|s| s.by_standing).max().unwrap_or(0);
    let lines: Vec<Line> = Standing::ALL
        .iter()
        .map(|s| (colour(*s), s.name(), states.iter().map(|x| (x.at_ms, x.by_standing[s.slot()])).collect()))
        .collect();
    let mut legend = String::new();
    for s in Standing::ALL {
        let _ = write!(legend, "{} ", badge(s.name()));
    }
    let mut out = format!(
        "<h2>Trends</h2><p class=\"muted\">Sampled by this hub process since it started: the clusters by state \
         every {} minutes over the last 24 hours, and the share of compliant policy results every hour over \
         the last 30 days. {legend}</p>",
        crate::trends::STATE_EVERY_MS / 60_000
    );
    out.push_str(&chart("trend-states", now_ms, crate::trends::STATE_SPAN_MS, top, &thousands, &lines, "24 h ago"));
    let compliance: Vec<(i64, usize)> =
        trends.compliance().iter().filter_map(|c| Some((c.at_ms, c.per_mille()?))).collect();
    let percent = |v: usize| format!("{}%", v / 10);
    let line = [("#1a7f37", "compliant", compliance)];
    out.push_str(&chart(
        "trend-compliance",
        now_ms,
        crate::trends::COMPLIANCE_SPAN_MS,
        1_000,
        &percent,
        &line,
        "30 days ago",
    ));
    out
}

/// The rollouts under way: every placement of every environment some of whose clusters do not
/// run the head of its source branch, with its progress per wave. Which are under way is read
/// from the index's groups (a few commits per placement, whatever the number of clusters);
/// only those are computed, and a computed progress is shared for a moment with the agents
/// that ask for it (see [`crate::rollouts::FRESH_MS`]).
async fn active_rollouts(hub: &Hub) -> Vec<Arc<crate::api::Progress>> {
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

/// A bar of `parts` (class, count) out of `total`, each part as wide as its share.
fn bar(parts: &[(&str, usize)], total: usize) -> String {
    let mut out = String::from("<div class=\"bar\">");
    for (class, n) in parts {
        if *n == 0 {
            continue;
        }
        let share = n * 1_000 / total.max(1);
        let _ = write!(
            out,
            "<span class=\"{class}\" style=\"width:{}.{}%\" title=\"{class}: {n}\"></span>",
            share / 10,
            share % 10
        );
    }
    out.push_str("</div>");
    out
}

/// The rollouts under way, a bar per wave: on the wave's commit, failed, waiting.
fn render_rollouts(rollouts: &[Arc<crate::api::Progress>]) -> String {
    let mut out = String::from(
        "<h2>Rollouts under way</h2><p class=\"muted\">Placements some of whose clusters do not run the head \
         of its source branch, per wave: <span class=\"key on\">on the wave's commit</span> \
         <span class=\"key failed\">failed</span> <span class=\"key waiting\">waiting</span>.</p>\
         <table id=\"rollouts\"><tr><th>placement</th><th>head</th><th>wave</th><th>progress</th><th>may run</th>\
         <th>halt</th></tr>",
    );
    if rollouts.is_empty() {
        out.push_str(
            "<tr><td colspan=\"6\" class=\"muted none\">none: every cluster runs its placement's head</td></tr>",
        );
    }
    for p in rollouts {
        let href = format!("/lag{}", query(&[("placement", &p.placement), ("environment", &p.environment)]));
        let head = p.head.as_deref().unwrap_or_default();
        let rows = p.waves.len().max(1);
        for (i, w) in p.waves.iter().enumerate() {
            let first = if i == 0 {
                format!(
                    "<td rowspan=\"{rows}\"><a href=\"{}\">{}</a> in {}</td><td rowspan=\"{rows}\">{}</td>",
                    escape(&href),
                    escape(&p.placement),
                    escape(&p.environment),
                    commit_code(head)
                )
            } else {
                String::new()
            };
            let target = w.target.as_deref().unwrap_or_default();
            let halt = match &w.halted {
                Some(c) => format!("<span class=\"error halted\">halted: {} held back</span>", commit_code(c)),
                None if w.head_reaches_it_at.is_some() => {
                    format!("baking until {}", escape(w.head_reaches_it_at.as_deref().unwrap_or_default()))
                }
                None => String::new(),
            };
            let parts = [("on", w.on_target), ("failed", w.failed), ("waiting", w.waiting)];
            let _ = write!(
                out,
                "<tr data-rollout=\"{}/{}\" data-wave=\"{}\">{first}<td>{}</td><td>{}<span class=\"progress\">{} of {} \
                 · {} failed · {} waiting</span></td><td>{}</td><td>{halt}</td></tr>",
                escape(&p.placement),
                escape(&p.environment),
                escape(&w.name),
                escape(&w.name),
                bar(&parts, w.clusters),
                thousands(w.on_target),
                thousands(w.clusters),
                thousands(w.failed),
                thousands(w.waiting),
                if target.is_empty() { "nothing yet".to_string() } else { commit_code(target) },
            );
        }
    }
    out.push_str("</table>");
    out
}

fn counts_header(first: &str) -> String {
    let mut cells = String::new();
    for s in Standing::ALL {
        let _ = write!(cells, "<th class=\"s-{}\">{}</th>", s.name(), words(s.name()));
    }
    format!("<tr><th>{first}</th>{cells}<th>all</th></tr>")
}

/// One row of counts; `link(standing)` is where a count leads.
fn counts_row(label: &str, id: Option<&str>, counts: &Counts, link: &dyn Fn(&str) -> String) -> String {
    let mut cells = String::new();
    for s in Standing::ALL {
        let n = counts.get(s.name()).copied().unwrap_or(0);
        let id = id.map(|p| format!(" id=\"{p}-{}\"", s.name())).unwrap_or_default();
        let _ = write!(cells, "<td class=\"n\"><a{id} href=\"{}\">{}</a></td>", escape(&link(s.name())), thousands(n));
    }
    let all: usize = counts.values().sum();
    format!("<tr><th>{label}</th>{cells}<td class=\"n\">{}</td></tr>", thousands(all))
}

fn render_summary(s: &Summary, environments: &[&str]) -> String {
    let mut out = format!(
        "<h1>Fleet</h1><p><span class=\"big\" id=\"clusters\">{}</span> clusters \
         · <a href=\"/clusters\">all clusters</a></p>",
        thousands(s.clusters)
    );
    out.push_str("<h2>By state</h2><table id=\"by-state\">");
    out.push_str(&counts_header(""));
    out.push_str(&counts_row("all", Some("count"), &s.by_standing, &|st| {
        format!("/clusters{}", query(&[("state", st)]))
    }));
    out.push_str("</table><h2>By environment</h2><table id=\"by-environment\">");
    out.push_str(&counts_header("environment"));
    if s.by_environment.is_empty() {
        out.push_str(&none_row(Standing::ALL.len() + 2));
    }
    for (env, counts) in &s.by_environment {
        let link = |st: &str| format!("/clusters{}", query(&[("environment", env), ("state", st)]));
        out.push_str(&counts_row(&escape(env), None, counts, &link));
    }
    out.push_str(
        "</table><h2>By placement</h2><p class=\"muted\">Each placement's own state on each \
         cluster (an offline cluster counts as offline).</p><table id=\"by-placement\">",
    );
    out.push_str(&counts_header("placement"));
    if s.by_placement.is_empty() {
        out.push_str(&none_row(Standing::ALL.len() + 2));
    }
    for (placement, counts) in &s.by_placement {
        let link = |st: &str| format!("/clusters{}", query(&[("placement", placement), ("state", st)]));
        let lag: Vec<String> = environments
            .iter()
            .map(|env| {
                let href = format!("/lag{}", query(&[("placement", placement), ("environment", env)]));
                format!("<a href=\"{}\">lag in {}</a>", escape(&href), escape(env))
            })
            .collect();
        let label = format!("{}<br><small>{}</small>", escape(placement), lag.join(" · "));
        out.push_str(&counts_row(&label, None, counts, &link));
    }
    out.push_str("</table>");
    out.push_str(&render_versions(s));
    out
}

/// `n` with thousands separated: `1,210`.
fn thousands(n: usize) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// The versions a placement runs, as a line of text ("1.5.0: 1,210 · 1.4.2: 790") with a bar
/// split in their shares under it.
fn versions_cell(versions: &[VersionCount]) -> String {
    if versions.is_empty() {
        return "<span class=\"muted\">none</span>".to_string();
    }
    let total: usize = versions.iter().map(|v| v.clusters).sum();
    let words: Vec<String> = versions
        .iter()
        .map(|v| {
            format!("<span class=\"version\"><code>{}</code>: {}</span>", escape(&v.version), thousands(v.clusters))
        })
        .collect();
    let mut bar = String::from("<div class=\"bar\">");
    for (i, v) in versions.iter().enumerate() {
        // Per mille, so a share shows to a tenth of a percent.
        let share = v.clusters * 1_000 / total.max(1);
        let _ = write!(
            bar,
            "<span class=\"v{}\" style=\"width:{}.{}%\" title=\"{}: {}\"></span>",
            i % 4,
            share / 10,
            share % 10,
            escape(&v.version),
            thousands(v.clusters)
        );
    }
    bar.push_str("</div>");
    format!("{}{bar}", words.join(" · "))
}

/// What runs where: per placement and environment, the versions its clusters run.
fn render_versions(s: &Summary) -> String {
    let mut out = String::from(
        "<h2>Versions</h2><p class=\"muted\">The version each placement runs (the tag of its image,          or every image when it runs several), per environment, as the clusters last reported.</p>         <table id=\"versions\"><tr><th>placement</th><th>environment</th><th>versions</th></tr>",
    );
    if s.versions.is_empty() {
        out.push_str(&none_row(3));
    }
    for (placement, environments) in &s.versions {
        for (environment, versions) in environments {
            let href = format!("/lag{}", query(&[("placement", placement), ("environment", environment)]));
            let _ = write!(
                out,
                "<tr><td><a href=\"{}\">{}</a></td><td>{}</td><td data-placement=\"{}\">{}</td></tr>",
                escape(&href),
                escape(placement),
                escape(environment),
                escape(placement),
                versions_cell(versions),
            );
        }
    }
    out.push_str("</table>");
    out
}

/// `GET /clusters?name=&state=&environment=&labels=k=v,…&placement=&sort=&offset=`: one page of
/// the list (`name`: text the name contains; `sort`: see [`views::Sort::name`]).
pub async fn clusters(State(hub): State<Arc<Hub>>, headers: HeaderMap, RawQuery(q): RawQuery) -> Response {
    if let Err(r) = viewer(&hub, &headers).await {
        return r;
    }
    let pairs = parse_form(q.as_deref().unwrap_or_default());
    let form = ListForm {
        state: param(&pairs, "state").unwrap_or_default().to_string(),
        environment: param(&pairs, "environment").unwrap_or_default().to_string(),
        labels: param(&pairs, "labels").unwrap_or_default().to_string(),
        placement: param(&pairs, "placement").unwrap_or_default().to_string(),
        name: param(&pairs, "name").unwrap_or_default().to_string(),
        sort: param(&pairs, "sort").unwrap_or_default().to_string(),
    };
    let offset = param(&pairs, "offset").and_then(|o| o.parse().ok()).unwrap_or(0);
    let (filter, problem) = form.filter();
    let sort = views::Sort::parse(&form.sort);
    let problem =
        problem.or_else(|| (sort.is_none() && !form.sort.is_empty()).then(|| format!("no order {:?}", form.sort)));
    let body = match (filter, problem) {
        (Some(filter), None) => {
            let list = {
                let index = hub.index();
                views::clusters_sorted(&index, &filter, sort.unwrap_or_default(), offset, PAGE)
            };
            render_clusters(&form, &list, None)
        }
        (_, problem) => {
            let empty = Page { total: 0, offset: 0, items: Vec::new() };
            let body = render_clusters(&form, &empty, problem.as_deref());
            return html(StatusCode::BAD_REQUEST, page("Clusters", &body, true));
        }
    };
    html(StatusCode::OK, page("Clusters", &body, true))
}

/// The list's filter as the form holds it.
#[derive(Debug, Default)]
struct ListForm {
    state: String,
    environment: String,
    labels: String,
    placement: String,
    name: String,
    /// As the query says it (see [`views::Sort::name`]); empty: by name.
    sort: String,
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
        let text = |s: &str| (!s.is_empty()).then(|| s.to_string());
        let filter = Filter {
            standing,
            environment: text(&self.environment),
            labels,
            placement: text(&self.placement),
            name: text(&self.name),
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
    fn sort_header(&self, label: &str, sort: views::Sort, descending: Option<views::Sort>) -> String {
        let current = views::Sort::parse(&self.sort).unwrap_or_default();
        let (next, mark) = match descending {
            Some(d) if current == sort => (d, " ▲"),
            Some(d) if current == d => (sort, " ▼"),
            _ if current == sort => (sort, " ▲"),
            _ => (sort, ""),
        };
        let class = if mark.is_empty() { "sort" } else { "sort sorted" };
        format!(
            "<th><a class=\"{class}\" id=\"sort-{}\" href=\"{}\">{label}{mark}</a></th>",
            sort.name(),
            escape(&self.link_sorted(next.name(), 0))
        )
    }
}

fn render_clusters(form: &ListForm, list: &Page<ClusterLine>, problem: Option<&str>) -> String {
    let mut options = String::new();
    for (value, label) in
        std::iter::once(("", "any state".to_string())).chain(Standing::ALL.iter().map(|s| (s.name(), words(s.name()))))
    {
        let selected = if form.state.eq_ignore_ascii_case(value) { " selected" } else { "" };
        let _ = write!(options, "<option value=\"{value}\"{selected}>{label}</option>");
    }
    let mut out = format!(
        "<h1>Clusters</h1><form class=\"filter\" method=\"get\" action=\"/clusters\" id=\"filter\">\
         <label>name <input type=\"search\" name=\"name\" value=\"{}\" placeholder=\"store-01\" size=\"14\"></label>\
         <label>state <select name=\"state\">{options}</select></label>\
         <label>environment <input name=\"environment\" value=\"{}\" size=\"10\"></label>\
         <label>labels <input name=\"labels\" value=\"{}\" placeholder=\"kind=store,region=eu\" size=\"24\"></label>\
         <label>placement <input name=\"placement\" value=\"{}\" size=\"12\"></label>\
         <input type=\"hidden\" name=\"sort\" value=\"{}\">\
         <button type=\"submit\">Filter</button> <a href=\"/clusters\">clear</a></form>",
        escape(&form.name),
        escape(&form.environment),
        escape(&form.labels),
        escape(&form.placement),
        escape(&form.sort),
    );
    if let Some(p) = problem {
        let _ = write!(out, "<p class=\"error\" id=\"error\">{}</p>", escape(p));
        return out;
    }
    let pager = paging(list.offset, list.items.len(), list.total, &|o| form.link(o));
    out.push_str(&pager);
    let _ = write!(
        out,
        "<table id=\"clusters\"><tr>{}{}{}{}<th>placements</th><th>problems</th><th>fleet</th></tr>",
        form.sort_header("cluster", views::Sort::Name, Some(views::Sort::NameDescending)),
        form.sort_header("environment", views::Sort::Environment, None),
        form.sort_header("state", views::Sort::State, None),
        form.sort_header("last report", views::Sort::LastReport, Some(views::Sort::LastReportDescending)),
    );
    if list.items.is_empty() {
        out.push_str(&none_row(7));
    }
    for c in &list.items {
        let fleet = c.fleet.map(|state| state_badge(&json_text(&state))).unwrap_or_default();
        let _ = write!(
            out,
            "<tr><td><a class=\"cluster\" href=\"/clusters/{}\">{}</a></td><td>{}</td><td>{}</td><td>{}</td>\
             <td class=\"n\">{}</td><td class=\"n\">{}</td><td>{fleet}</td></tr>",
            encode(&c.name),
            escape(&c.name),
            escape(&c.environment),
            badge(c.standing.name()),
            time_ms(c.last_report_at_ms),
            c.placements,
            c.problems,
        );
    }
    out.push_str("</table>");
    out.push_str(&pager);
    out
}

/// `GET /clusters/{name}`: one cluster, from the same value as `GET /api/v1/clusters/{name}`.
pub async fn cluster(State(hub): State<Arc<Hub>>, headers: HeaderMap, Path(name): Path<String>) -> Response {
    if let Err(r) = viewer(&hub, &headers).await {
        return r;
    }
    match cluster_detail(&hub, &name).await {
        Ok(detail) => html(StatusCode::OK, page(&name, &render_cluster(&detail), true)),
        Err(e) => error_page(e.status, &e.message),
    }
}

/// A value's wire name, as the API writes it (`Synced`, `Healthy`, `Drifted`).
fn wire(value: &impl serde::Serialize) -> String {
    match serde_json::to_value(value) {
        Ok(Value::String(s)) => s,
        Ok(other) => other.to_string(),
        Err(_) => String::new(),
    }
}

/// A JSON value as text: strings as they are, `null` as nothing.
fn text(v: &Value) -> String {
    match v {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn render_cluster(d: &ClusterDetail) -> String {
    let name = &d.name;
    let environment = &d.environment;
    let mut out = format!(
        "<h1>{}</h1><p>{} in <a href=\"{}\">{}</a> · last report {} · sequence {} · {} · {}</p>",
        escape(name),
        badge(d.state.name()),
        escape(&format!("/clusters{}", query(&[("environment", environment)]))),
        escape(environment),
        time_ms(d.last_report_at_ms),
        escape(&d.last_sequence.map(|s| s.to_string()).unwrap_or_default()),
        if d.declared { "declared in git" } else { "not declared in git" },
        if d.registered { "registered" } else { "not registered" },
    );
    out.push_str("<h2>Labels</h2><table id=\"labels\"><tr><th>key</th><th>value</th></tr>");
    if d.labels.is_empty() {
        out.push_str(&none_row(2));
    }
    for (k, v) in &d.labels {
        let link = format!("/clusters{}", query(&[("labels", &format!("{k}={v}"))]));
        let _ = write!(out, "<tr><td>{}</td><td><a href=\"{}\">{}</a></td></tr>", escape(k), escape(&link), escape(v));
    }
    out.push_str("</table>");
    if let Some(fleet) = &d.fleet {
        render_fleet(fleet, &mut out);
    }
    out.push_str("<h2>Placements</h2>");
    if d.placements.is_empty() {
        let none = if d.last_report_at_ms.is_none() { "No report yet." } else { "The last report lists none." };
        let _ = write!(out, "<p class=\"muted\">{none}</p>");
        render_policies(d, &mut out);
        render_cluster_overrides(d, &mut out);
        return out;
    }
    out.push_str(
        "<table id=\"placements\"><tr><th>placement</th><th>state</th><th>health</th><th>applied</th>\
         <th>images</th><th>desired</th><th>behind</th><th>signer</th><th>message</th></tr>",
    );
    for p in &d.placements {
        let state = wire(&p.state);
        let class = placement_standing(&state).map_or("unknown", Standing::name);
        let behind =
            p.behind.as_ref().map(|b| behind_text(&Behind { commits: b.commits, since: b.since })).unwrap_or_default();
        let commit = |c: &Option<String>| {
            let c = c.as_deref().unwrap_or_default();
            format!("<code title=\"{}\">{}</code>", escape(c), escape(short(c)))
        };
        let lag = format!("/lag{}", query(&[("placement", &p.name), ("environment", environment)]));
        let images: Vec<String> = p.images.iter().map(|i| format!("<code>{}</code>", escape(i))).collect();
        let images = images.join("<br>");
        let _ = write!(
            out,
            "<tr><td><a href=\"{}\">{}</a></td><td><span class=\"badge s-{class}\">{}</span></td><td>{}</td>\
             <td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            escape(&lag),
            escape(&p.name),
            escape(&words(&state)),
            escape(&words(&wire(&p.health))),
            commit(&p.applied_commit),
            images,
            commit(&p.desired_commit),
            escape(&behind),
            escape(p.signer.as_deref().unwrap_or_default()),
            escape(p.message.as_deref().unwrap_or_default()),
        );
    }
    out.push_str("</table>");
    render_objects(&d.placements, &mut out);
    render_policies(d, &mut out);
    render_cluster_overrides(d, &mut out);
    out
}

/// The objects the placements' reports list: drifted, failed, unhealthy or pruned.
fn render_objects(placements: &[PlacementDetail], out: &mut String) {
    let objects: Vec<(&str, &ObjectReport)> =
        placements.iter().flat_map(|p| p.objects.iter().map(move |o| (p.name.as_str(), o))).collect();
    if !objects.is_empty() {
        out.push_str(
            "<h2>Drifted, failed and unhealthy objects</h2><table id=\"objects\"><tr><th>placement</th>\
             <th>problem</th><th>object</th><th>fields</th><th>message</th></tr>",
        );
        for (placement, o) in objects {
            let object = match &o.namespace {
                Some(namespace) => format!("{} {namespace}/{}", o.kind, o.name),
                None => format!("{} {}", o.kind, o.name),
            };
            let _ = write!(
                out,
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                escape(placement),
                escape(&wire(&o.problem)),
                escape(&object),
                escape(&o.fields.join(", ")),
                escape(o.message.as_deref().unwrap_or_default()),
            );
        }
        out.push_str("</table>");
    }
}

/// A commit id, shortened, with the whole id as its title.
fn commit_code(commit: &str) -> String {
    format!("<code title=\"{}\">{}</code>", escape(commit), escape(short(commit)))
}

/// The fleet commit the cluster runs, who signed it, and why it is not the branch's newest
/// (shown only when the report says: the fleet rolls out or is verified). A commit that did
/// not verify is said in words too: the cluster takes no fleet change until a signed commit
/// comes.
fn render_fleet(fleet: &FleetDetail, out: &mut String) {
    let commit = &fleet.commit;
    let head = fleet.head.as_deref().unwrap_or_default();
    let state = wire(&fleet.state);
    out.push_str("<h2>Fleet</h2>");
    if fleet.state == SyncState::VerificationFailed {
        let said = if head.is_empty() {
            format!(
                "The fleet commit {} did not verify: this cluster takes no fleet change until a signed one comes.",
                commit_code(commit)
            )
        } else {
            format!(
                "The fleet branch's newest commit <code>{}</code> did not verify: this cluster stays on \
                 <code>{}</code> and takes no fleet change until a signed one comes.",
                escape(short(head)),
                escape(short(commit))
            )
        };
        let _ = write!(out, "<p class=\"error\" id=\"fleet-problem\">{said}</p>");
    }
    let _ = write!(
        out,
        "<table id=\"fleet\"><tr><th>fleet commit</th><th>state</th><th>signer</th><th>branch head</th>\
         <th>message</th></tr><tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr></table>",
        commit_code(commit),
        state_badge(&state),
        escape(fleet.signer.as_deref().unwrap_or_default()),
        if head.is_empty() { String::new() } else { commit_code(head) },
        escape(fleet.message.as_deref().unwrap_or_default()),
    );
}

/// The overrides the cluster ran (commits taken through a change freeze), newest first.
fn render_cluster_overrides(d: &ClusterDetail, out: &mut String) {
    if d.overrides.is_empty() {
        return;
    }
    out.push_str(
        "<h2>Overrides</h2><p class=\"muted\">Commits this cluster took through a change freeze, on the word \
         of an override signer, newest first, as the evidence log holds them.</p><table id=\"cluster-overrides\">\
         <tr><th>received</th><th>target</th><th>commit</th><th>signer</th><th>reason</th><th>evidence</th></tr>",
    );
    for o in &d.overrides {
        let _ = write!(
            out,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>#{}</td></tr>",
            escape(&o.received_at),
            escape(&o.target),
            commit_code(&o.commit),
            escape(&o.signer),
            escape(&o.reason),
            o.seq,
        );
    }
    out.push_str("</table>");
}

/// The cluster's policy results as its last report gave them, and the recent changes of them
/// (the evidence log, newest first).
fn render_policies(d: &ClusterDetail, out: &mut String) {
    let result = |compliant: Option<bool>| match compliant {
        Some(true) => ("s-synced", "compliant"),
        Some(false) => ("s-failed", "non-compliant"),
        None => ("s-progressing", "unknown"),
    };
    if !d.policies.is_empty() {
        out.push_str(
            "<h2>Policies</h2><table id=\"policies\"><tr><th>policy</th><th>result</th><th>violations</th>\
             <th>remediation</th></tr>",
        );
        for p in &d.policies {
            let (class, word) = result(p.compliant);
            let violations: Vec<String> = p
                .violations
                .iter()
                .map(|v| {
                    let at = v.field.as_deref().filter(|f| !f.is_empty()).map(|f| format!(" {f}")).unwrap_or_default();
                    format!("{}{at}: {}", v.object, v.message)
                })
                .collect();
            let _ = write!(
                out,
                "<tr><td><a href=\"{}\">{}</a></td><td><span class=\"badge {class}\">{word}</span></td><td>{}</td><td>{}</td></tr>",
                escape(&format!("/compliance/{}", p.name)),
                escape(&p.name),
                escape(&violations.join("; ")),
                escape(&p.remediation.join("; ")),
            );
        }
        out.push_str("</table>");
    }
    if !d.policy_history.is_empty() {
        out.push_str(
            "<h2>Policy history</h2><p class=\"muted\">Each change of a result, newest first, as the \
             evidence log holds it.</p><table id=\"policy-history\"><tr><th>time</th><th>policy</th>\
             <th>result</th><th>commit</th><th>remediation</th><th>evidence</th></tr>",
        );
        for e in &d.policy_history {
            let (class, word) = result(e.compliant);
            let commit = e.commit.as_deref().unwrap_or_default();
            let remediation: Vec<String> = e.remediation.as_array().into_iter().flatten().map(text).collect();
            let _ = write!(
                out,
                "<tr><td>{}</td><td>{}</td><td><span class=\"badge {class}\">{word}</span></td><td><code>{}</code></td>\
                 <td>{}</td><td>#{}</td></tr>",
                escape(&e.time),
                escape(&e.policy),
                escape(short(commit)),
                escape(&remediation.join("; ")),
                e.seq,
            );
        }
        out.push_str("</table>");
    }
}

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
    let title = format!("Lag of {placement} in {environment}");
    let mut body = render_ledger(&ledger);
    if let Ok(Some(progress)) = crate::answers::progress_now(&hub, &fleet, environment, placement).await {
        body.push_str(&render_progress(&progress));
    }
    html(StatusCode::OK, page(&title, &body, true))
}

/// The rollout per wave, under the lag ledger of the placement, and its halt.
fn render_progress(p: &crate::api::Progress) -> String {
    let mut out = format!(
        "<h2>Rollout</h2><p class=\"muted\">Bake {} s per wave. Each wave may run the newest commit whose \
         gate has opened for it.</p><table id=\"waves\"><tr><th>wave</th><th>clusters</th><th>may run</th>\
         <th>on it</th><th>on the head</th><th>waiting</th><th>failed</th><th>the head reaches it</th>\
         <th>halted</th></tr>",
        p.bake_seconds
    );
    for w in &p.waves {
        let target = w.target.as_deref().unwrap_or("");
        let halted = w.halted.as_deref().map_or(String::new(), |c| format!("<b>{}</b> held back", escape(short(c))));
        let _ = write!(
            out,
            "<tr><td>{}</td><td>{}</td><td><code>{}</code></td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td>\
             <td>{halted}</td></tr>",
            escape(&w.name),
            w.clusters,
            escape(short(target)),
            w.on_target,
            w.on_head,
            w.waiting,
            w.failed,
            escape(w.head_reaches_it_at.as_deref().unwrap_or("reached")),
        );
    }
    out.push_str("</table>");
    if let Some(halt) = &p.halt {
        let _ = write!(
            out,
            "<h2>Halt</h2><p class=\"muted\">A wave waits while more than {} of the clusters of the waves \
             before it failed on the commit.</p><table id=\"halt\"><tr><th>commit</th><th>failed per wave</th>\
             <th>held back from</th></tr>",
            escape(&halt.max_failed)
        );
        for c in &halt.commits {
            let failed: Vec<String> = c.failed.iter().map(ToString::to_string).collect();
            let _ = write!(
                out,
                "<tr><td><code title=\"{}\">{}</code></td><td>{}</td><td>{}</td></tr>",
                escape(&c.commit),
                escape(short(&c.commit)),
                failed.join(" · "),
                escape(c.halted_from.as_deref().unwrap_or("none: within the limit")),
            );
        }
        out.push_str("</table>");
    }
    out
}

fn render_ledger(l: &Ledger) -> String {
    let mut out = format!(
        "<h1>Lag of {} in {}</h1><p>head <code title=\"{}\">{}</code> · \
         <span id=\"on-head\">{}</span> of <span id=\"running\">{}</span> clusters on it</p>",
        escape(&l.placement),
        escape(&l.environment),
        escape(&l.head),
        escape(short(&l.head)),
        l.on_head,
        l.clusters,
    );
    out.push_str("<h2>Commits run</h2><table id=\"commits\"><tr><th>commit</th><th>clusters</th><th>behind</th></tr>");
    if l.commits.is_empty() {
        out.push_str(&none_row(3));
    }
    for c in &l.commits {
        let _ = write!(
            out,
            "<tr><td><code title=\"{}\">{}</code></td><td class=\"n\">{}</td><td>{}</td></tr>",
            escape(&c.commit),
            escape(short(&c.commit)),
            c.clusters,
            escape(&behind_text(&c.behind)),
        );
    }
    out.push_str("</table><h2>Versions run</h2><div id=\"versions\">");
    out.push_str(&versions_cell(&l.versions));
    out.push_str("</div><h2>Clusters not on the head</h2>");
    let link = |o: usize| {
        let offset = if o == 0 { String::new() } else { o.to_string() };
        format!("/lag{}", query(&[("placement", &l.placement), ("environment", &l.environment), ("offset", &offset)]))
    };
    let pager = paging(l.lagging.offset, l.lagging.items.len(), l.lagging.total, &link);
    out.push_str(&pager);
    out.push_str(
        "<table id=\"lagging\"><tr><th>cluster</th><th>state</th><th>runs</th><th>version</th><th>behind</th></tr>",
    );
    if l.lagging.items.is_empty() {
        out.push_str(&none_row(5));
    }
    for c in &l.lagging.items {
        let commit = c.commit.as_deref().unwrap_or_default();
        let behind = if c.commit.is_none() { "nothing applied yet".to_string() } else { behind_text(&c.behind) };
        let _ = write!(
            out,
            "<tr><td><a class=\"cluster\" href=\"/clusters/{}\">{}</a></td><td>{}</td>\
             <td><code title=\"{}\">{}</code></td><td><code>{}</code></td><td>{}</td></tr>",
            encode(&c.cluster),
            escape(&c.cluster),
            badge(c.standing.name()),
            escape(commit),
            escape(short(commit)),
            escape(c.version.as_deref().unwrap_or_default()),
            escape(&behind),
        );
    }
    out.push_str("</table>");
    out
}

/// The compliance pages' filter as the form holds it.
#[derive(Debug)]
struct ComplianceForm {
    environment: String,
    labels: String,
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

    /// The form itself, sent to `action` (a path, not yet escaped).
    fn render(&self, action: &str) -> String {
        format!(
            "<form class=\"filter\" method=\"get\" action=\"{}\" id=\"filter\">\
             <label>environment <input name=\"environment\" value=\"{}\" size=\"10\"></label>\
             <label>labels <input name=\"labels\" value=\"{}\" placeholder=\"kind=store,region=eu\" size=\"24\"></label>\
             <button type=\"submit\">Filter</button> <a href=\"{}\">clear</a></form>",
            escape(action),
            escape(&self.environment),
            escape(&self.labels),
            escape(action),
        )
    }
}

/// A page that shows `form` and what is wrong with it, with `status`.
fn form_problem(status: StatusCode, title: &str, form: &str, problem: &str) -> Response {
    let body = format!("<h1>{}</h1>{form}<p class=\"error\" id=\"error\">{}</p>", escape(title), escape(problem));
    html(status, page(title, &body, true))
}

/// The four counts as table cells; non-compliant ones stand out, and lead to `non_compliant`
/// when given (a URL, not yet escaped) with `policy` named on the link.
fn compliance_cells(c: &ComplianceCounts, link: Option<(&str, &str)>) -> String {
    let bad = if c.non_compliant > 0 { " bad" } else { "" };
    let non_compliant = match link {
        Some((policy, href)) => format!(
            "<a class=\"non-compliant\" data-policy=\"{}\" href=\"{}\">{}</a>",
            escape(policy),
            escape(href),
            c.non_compliant
        ),
        None => c.non_compliant.to_string(),
    };
    format!(
        "<td class=\"n\">{}</td><td class=\"n{bad}\">{non_compliant}</td><td class=\"n\">{}</td><td class=\"n\">{}</td>",
        c.compliant, c.unknown, c.not_reported
    )
}

const COMPLIANCE_HEADER: &str = "<th>compliant</th><th>non-compliant</th><th>unknown</th><th>not reported</th>";

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
    html(StatusCode::OK, page(&title, &render_compliance(&form, &view), true))
}

fn render_compliance(form: &ComplianceForm, v: &Compliance) -> String {
    let mut out = format!("<h1>Compliance in {}</h1>{}", escape(&v.environment), form.render("/compliance"));
    let filtered = if v.labels.is_empty() { String::new() } else { format!(" with labels {}", escape(&v.labels)) };
    let _ = write!(
        out,
        "<p><span class=\"big\" id=\"compliance-clusters\">{}</span> clusters in {}{filtered}.</p>\
         <p class=\"muted\">A policy counts the clusters that report it, and those it selects that have no \
         result (not reported). A standard or a control counts each cluster once, at its worst over its \
         policies: non-compliant, else unknown, else not reported, else compliant. Offline clusters count \
         by their last results.</p>",
        v.clusters,
        escape(&v.environment),
    );
    if let Some(e) = &v.fleet_error {
        let _ =
            write!(out, "<p class=\"error\" id=\"fleet-error\">the fleet branch could not be read: {}</p>", escape(e));
    }
    if v.standards.is_empty() {
        out.push_str("<p class=\"muted\">No policies: the fleet branch declares none and no cluster reports any.</p>");
        return out;
    }
    let _ = write!(
        out,
        "<table id=\"compliance\"><tr><th>standard</th><th>control</th><th>policy</th><th>severity</th>\
         <th>remediation</th>{COMPLIANCE_HEADER}</tr>"
    );
    for standard in &v.standards {
        let _ = write!(
            out,
            "<tr class=\"standard\"><th colspan=\"5\">{}</th>{}</tr>",
            escape(&standard.name),
            compliance_cells(&standard.counts, None)
        );
        for control in &standard.controls {
            let _ = write!(
                out,
                "<tr class=\"control\"><td></td><th colspan=\"4\">{}</th>{}</tr>",
                escape(&control.name),
                compliance_cells(&control.counts, None)
            );
            for p in &control.policies {
                let href = form.link(&format!("/compliance/{}", encode(&p.name)), 0);
                let gone = if p.in_fleet { "" } else { " <small class=\"muted\">not in the fleet</small>" };
                let text = |v: Option<String>| v.unwrap_or_default();
                let _ = write!(
                    out,
                    "<tr class=\"policy\"><td></td><td></td><td><a href=\"{}\">{}</a>{gone}</td><td>{}</td>\
                     <td>{}</td>{}</tr>",
                    escape(&href),
                    escape(&p.name),
                    escape(&text(p.severity.map(|s| json_text(&s)))),
                    escape(&text(p.remediation.map(|r| json_text(&r)))),
                    compliance_cells(&p.counts, Some((&p.name, &href))),
                );
            }
        }
    }
    out.push_str("</table>");
    out
}

/// A value as its JSON text, unquoted (`high`, `enforce`).
fn json_text(value: &impl serde::Serialize) -> String {
    serde_json::to_value(value).map(|v| text(&v)).unwrap_or_default()
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
        Some(view) => html(StatusCode::OK, page(&title, &render_compliance_policy(&form, &action, &view), true)),
        None => error_page(StatusCode::NOT_FOUND, &no_policy(&policy, &form.environment)),
    }
}

fn render_compliance_policy(form: &ComplianceForm, action: &str, v: &PolicyCompliance) -> String {
    let mut out = format!("<h1>Policy {} in {}</h1>", escape(&v.policy), escape(&v.environment));
    if v.in_fleet {
        let list = |items: &[String]| if items.is_empty() { "none".to_string() } else { escape(&items.join(", ")) };
        let _ = write!(
            out,
            "<p id=\"policy\">severity <b>{}</b> · remediation <b>{}</b> · standards {} · controls {} · categories {}</p>",
            escape(&v.severity.map(|s| json_text(&s)).unwrap_or_default()),
            escape(&v.remediation.map(|r| json_text(&r)).unwrap_or_default()),
            list(&v.standards),
            list(&v.controls),
            list(&v.categories),
        );
    } else {
        out.push_str(
            "<p class=\"error\" id=\"policy\">Not in the fleet: clusters report this policy, and the \
             environment's fleet branch no longer declares it.</p>",
        );
    }
    let _ = write!(out, "<p><a href=\"{}\">← every policy</a></p>", escape(&form.link("/compliance", 0)));
    out.push_str(&form.render(action));
    let c = &v.counts;
    let _ = write!(
        out,
        "<table id=\"policy-counts\"><tr>{COMPLIANCE_HEADER}</tr><tr><td class=\"n\" id=\"count-compliant\">{}</td>\
         <td class=\"n{}\" id=\"count-nonCompliant\">{}</td><td class=\"n\" id=\"count-unknown\">{}</td>\
         <td class=\"n\" id=\"count-notReported\">{}</td></tr></table>",
        c.compliant,
        if c.non_compliant > 0 { " bad" } else { "" },
        c.non_compliant,
        c.unknown,
        c.not_reported,
    );
    out.push_str("<h2>Non-compliant clusters</h2>");
    let list = &v.non_compliant;
    let pager = paging(list.offset, list.items.len(), list.total, &|o| form.link(action, o));
    out.push_str(&pager);
    out.push_str(
        "<table id=\"non-compliant\"><tr><th>cluster</th><th>environment</th><th>state</th><th>violations</th>\
         <th>last report</th></tr>",
    );
    if list.items.is_empty() {
        out.push_str(&none_row(5));
    }
    for c in &list.items {
        let _ = write!(
            out,
            "<tr><td><a class=\"cluster\" href=\"/clusters/{}\">{}</a></td><td>{}</td><td>{}</td>\
             <td class=\"n\">{}</td><td>{}</td></tr>",
            encode(&c.name),
            escape(&c.name),
            escape(&c.environment),
            badge(c.standing.name()),
            c.violations,
            time_ms(c.last_report_at_ms),
        );
    }
    out.push_str("</table>");
    out.push_str(&pager);
    out
}

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
    let filter = crate::overrides::Filter {
        cluster: value("cluster"),
        target: value("target"),
        environment: value("environment"),
        since: value("since"),
        limit: None,
    };
    let form = format!(
        "<form class=\"filter\" method=\"get\" action=\"/overrides\" id=\"filter\">\
         <label>target <input name=\"target\" value=\"{}\" placeholder=\"fleet or a placement\" size=\"14\"></label>\
         <label>cluster <input name=\"cluster\" value=\"{}\" size=\"14\"></label>\
         <label>environment <input name=\"environment\" value=\"{}\" size=\"10\"></label>\
         <label>since <input name=\"since\" value=\"{}\" placeholder=\"2026-11-20\" size=\"12\"></label>\
         <button type=\"submit\">Filter</button> <a href=\"/overrides\">clear</a></form>",
        escape(filter.target.as_deref().unwrap_or_default()),
        escape(filter.cluster.as_deref().unwrap_or_default()),
        escape(filter.environment.as_deref().unwrap_or_default()),
        escape(filter.since.as_deref().unwrap_or_default()),
    );
    match crate::answers::overrides(&hub, &filter).await {
        Ok(groups) => html(StatusCode::OK, page("Overrides", &render_overrides(&form, &groups), true)),
        Err(e) => form_problem(e.status, "Overrides", &form, &e.message),
    }
}

fn render_overrides(form: &str, groups: &[crate::api::OverrideGroup]) -> String {
    let mut out = format!(
        "<h1>Overrides</h1><p class=\"muted\">Each commit that clusters took during a change freeze because \
         its message carries a <code>Flotilla-Override:</code> trailer signed by an override signer, newest \
         first, with the clusters that ran it. Each is in the evidence log, once per cluster.</p>{form}"
    );
    if groups.is_empty() {
        out.push_str("<p class=\"muted\" id=\"no-overrides\">No override.</p>");
        return out;
    }
    out.push_str(
        "<table id=\"overrides\"><tr><th>target</th><th>commit</th><th>signer</th><th>reason</th>\
         <th>first received</th><th>clusters</th><th>which</th></tr>",
    );
    for g in groups {
        let names: Vec<String> = g
            .clusters
            .iter()
            .take(OVERRIDE_NAMES)
            .map(|c| {
                format!("<a class=\"cluster\" href=\"/clusters/{}\">{}</a>", encode(&c.cluster), escape(&c.cluster))
            })
            .collect();
        let more = g.clusters.len().saturating_sub(OVERRIDE_NAMES);
        let more = if more > 0 { format!(" and {more} more") } else { String::new() };
        let _ = write!(
            out,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td class=\"n\">{}</td><td>{}{more}</td></tr>",
            escape(&g.target),
            commit_code(&g.commit),
            escape(&g.signer),
            escape(&g.reason),
            escape(&g.first_received_at),
            g.clusters.len(),
            names.join(", "),
        );
    }
    out.push_str("</table>");
    out
}

/// The preview's form as it is filled in.
#[derive(Debug)]
struct PreviewForm {
    reference: String,
    repository: String,
    environment: String,
}

impl PreviewForm {
    fn read(pairs: &[(String, String)]) -> PreviewForm {
        PreviewForm {
            reference: param(pairs, "ref").unwrap_or_default().to_string(),
            repository: param(pairs, "repository").unwrap_or(FLEET_REPOSITORY).to_string(),
            environment: param(pairs, "environment").unwrap_or("prod").to_string(),
        }
    }

    fn render(&self) -> String {
        format!(
            "<form class=\"filter\" method=\"get\" action=\"/preview\" id=\"preview-form\">\
             <label>ref <input name=\"ref\" value=\"{}\" placeholder=\"dev or a commit id\" size=\"24\" required></label>\
             <label>repository <input name=\"repository\" value=\"{}\" size=\"14\"></label>\
             <label>environment <input name=\"environment\" value=\"{}\" size=\"10\"></label>\
             <button type=\"submit\">Preview</button></form>",
            escape(&self.reference),
            escape(&self.repository),
            escape(&self.environment),
        )
    }
}

/// `GET /preview?ref=&repository=&environment=`: what moving a repository's environment branch
/// to `ref` would do to the environment's clusters; without `ref`, the form and the pending
/// promotions (what dev has that prod lacks), each with a link to its preview. It does not
/// refresh itself: a preview renders.
pub async fn preview(State(hub): State<Arc<Hub>>, headers: HeaderMap, RawQuery(q): RawQuery) -> Response {
    if let Err(r) = viewer(&hub, &headers).await {
        return r;
    }
    let form = PreviewForm::read(&parse_form(q.as_deref().unwrap_or_default()));
    let intro = "<p class=\"muted\">What the clusters of an environment would run if a repository's branch \
                 for it were at another commit — a merge of dev into prod — grouped by placement and the \
                 digest they would render to, with the objects that would change on one cluster of each \
                 group. Signatures, rollout waves and windows are not applied.</p>";
    if form.reference.is_empty() {
        let mut body = format!("<h1>Preview</h1>{intro}{}", form.render());
        if let Some(fleet) = hub.fleet_view() {
            body.push_str(&render_promotions(fleet.promotions()));
        }
        return html(StatusCode::OK, page_with("Preview", &body, true, false));
    }
    let title = format!("Preview of {} at {} in {}", form.repository, form.reference, form.environment);
    let computed =
        crate::answers::preview(&hub, form.environment.clone(), form.repository.clone(), form.reference.clone()).await;
    match computed {
        Ok(p) => {
            let body = format!("<h1>{}</h1>{intro}{}{}", escape(&title), form.render(), render_preview(&p));
            html(StatusCode::OK, page_with(&title, &body, true, false))
        }
        Err(e) => form_problem(e.status, &title, &form.render(), &e.message),
    }
}

/// The repositories with commits on dev that prod lacks, each with a link to the preview of
/// prod at dev's head.
fn render_promotions(promotions: &std::collections::BTreeMap<String, crate::api::Promotion>) -> String {
    let pending: Vec<_> = promotions.iter().filter(|(_, p)| !p.commits.is_empty()).collect();
    if pending.is_empty() {
        return "<h2>Pending promotions</h2><p class=\"muted\" id=\"promotions\">Nothing on dev that prod lacks.</p>"
            .to_string();
    }
    let mut out = String::from(
        "<h2>Pending promotions</h2><table id=\"promotions\"><tr><th>repository</th><th>branches</th>\
         <th>commits on dev only</th><th>newest</th><th></th></tr>",
    );
    for (name, p) in pending {
        let href =
            format!("/preview{}", query(&[("ref", &p.dev_branch), ("repository", name), ("environment", "prod")]));
        let newest = p.commits.first().map(|c| format!("{} {}", short(&c.id), c.summary)).unwrap_or_default();
        let _ = write!(
            out,
            "<tr><td>{}</td><td>{} → {}</td><td class=\"n\">{}</td><td><code>{}</code></td>\
             <td><a class=\"preview\" href=\"{}\">preview</a></td></tr>",
            escape(name),
            escape(&p.dev_branch),
            escape(&p.prod_branch),
            p.commits.len(),
            escape(&newest),
            escape(&href),
        );
    }
    out.push_str("</table>");
    out
}

fn render_preview(p: &crate::api::Preview) -> String {
    use crate::api::Change;
    let mut out = format!("<p id=\"preview-summary\">{}</p>", escape(&crate::preview::summary(p)));
    for w in &p.warnings {
        let _ = write!(out, "<p class=\"error\">broken fleet document: {}</p>", escape(w));
    }
    if p.groups.is_empty() {
        out.push_str("<p class=\"muted\" id=\"preview-groups\">No cluster would change.</p>");
        return out;
    }
    out.push_str(
        "<table id=\"preview-groups\"><tr><th>placement</th><th>change</th><th>would run</th><th>clusters</th>\
         <th>first clusters</th></tr>",
    );
    let word = |c: Change| crate::preview::change_word(c);
    for g in &p.groups {
        let outcome = match (&g.digest, &g.error) {
            (_, Some(e)) => format!("<span class=\"error\">{}</span>", escape(e)),
            (Some(_), None) if g.digests > 1 => format!(
                "<span class=\"digests\">{} digests, each its own values</span> at <code>{}</code>",
                thousands(g.digests),
                escape(short(g.source_commit.as_deref().unwrap_or_default()))
            ),
            (Some(d), None) => format!(
                "<code title=\"{}\">{}</code> at <code>{}</code>",
                escape(d),
                escape(d.get(..19).unwrap_or(d)),
                escape(short(g.source_commit.as_deref().unwrap_or_default()))
            ),
            (None, None) => "nothing".to_string(),
        };
        let names: Vec<String> = g
            .names
            .iter()
            .map(|n| format!("<a class=\"cluster\" href=\"/clusters/{}\">{}</a>", encode(n), escape(n)))
            .collect();
        let more = g.clusters.saturating_sub(g.names.len());
        let more = if more > 0 { format!(" and {more} more") } else { String::new() };
        let _ = write!(
            out,
            "<tr><td>{}</td><td>{}</td><td>{outcome}</td><td class=\"n\">{}</td><td>{}{more}</td></tr>",
            escape(&g.placement),
            escape(word(g.change)),
            g.clusters,
            names.join(", "),
        );
    }
    out.push_str("</table>");
    for g in &p.groups {
        let Some(d) = &g.diff else { continue };
        let _ = write!(
            out,
            "<h2>{} {} on {}</h2><p class=\"muted\">from <code>{}</code> to <code>{}</code> · unchanged objects: {}</p>",
            escape(&g.placement),
            escape(word(g.change)),
            escape(&d.cluster),
            escape(short(d.from_commit.as_deref().unwrap_or("nothing"))),
            escape(short(d.to_commit.as_deref().unwrap_or("nothing"))),
            d.unchanged,
        );
        if let Some(e) = &d.error {
            let _ = write!(out, "<p class=\"error\">{}</p>", escape(e));
        }
        for o in &d.objects {
            let namespace = o.namespace.as_deref().map(|n| format!("{n}/")).unwrap_or_default();
            let _ = write!(
                out,
                "<p><b>{}</b> {} {}{} <small>({})</small></p>",
                escape(word(o.change)),
                escape(&o.kind),
                escape(&namespace),
                escape(&o.name),
                escape(&o.api_version),
            );
            if o.lines.is_empty() {
                continue;
            }
            out.push_str("<pre class=\"diff\">");
            for line in &o.lines {
                let class = match line.as_bytes().first() {
                    Some(b'+') => "add",
                    Some(b'-') => "del",
                    Some(b'@') => "hunk",
                    _ => "same",
                };
                let _ = writeln!(out, "<span class=\"{class}\">{}</span>", escape(line));
            }
            if o.clipped {
                let _ = writeln!(out, "<span class=\"hunk\">… clipped at {} lines</span>", crate::preview::MAX_LINES);
            }
            out.push_str("</pre>");
        }
    }
    out
}

/// An audit (`GET /api/v1/audit?format=html`) as a standalone HTML page (escaped, no script).
pub fn audit_page(audit: &Audit) -> String {
    let mut out = String::new();
    let _ = write!(
        out,
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>{} as of {}</title>\
         <style>body{{font-family:sans-serif;margin:2em}}table{{border-collapse:collapse}}\
         td,th{{border:1px solid #ccc;padding:2px 6px;text-align:left}}.non-compliant{{color:#b00}}\
         .compliant{{color:#070}}</style></head><body><h1>{} as of {}</h1>",
        escape(&audit.standard),
        escape(&audit.at),
        escape(&audit.standard),
        escape(&audit.at)
    );
    out.push_str("<table id=\"controls\"><tr><th>control</th><th>verdict</th><th>compliant</th><th>non-compliant</th><th>unknown</th></tr>");
    for c in &audit.controls {
        let _ = write!(
            out,
            "<tr><td><a href=\"#control-{id}\">{id}</a></td><td class=\"{v}\">{v}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            c.compliant,
            c.non_compliant,
            c.unknown,
            id = escape(&c.control),
            v = c.verdict.name()
        );
    }
    out.push_str("</table>");
    for c in &audit.controls {
        let _ = write!(out, "<h2 id=\"control-{0}\">Control {0}: {1}</h2>", escape(&c.control), c.verdict.name());
        out.push_str(
            "<table><tr><th>policy</th><th>cluster</th><th>result</th><th>since</th><th>commit</th><th>evidence</th></tr>",
        );
        for p in &c.policies {
            for r in &p.results {
                let (class, result) = match r.compliant {
                    Some(true) => ("compliant", "compliant"),
                    Some(false) => ("non-compliant", "non-compliant"),
                    None => ("unknown", "unknown"),
                };
                let _ = write!(
                    out,
                    "<tr><td>{}</td><td>{}</td><td class=\"{class}\">{result}</td><td>{}</td><td>{}</td><td>#{} {}</td></tr>",
                    escape(&p.policy),
                    escape(&r.cluster),
                    escape(&r.since),
                    escape(r.commit.as_deref().unwrap_or("")),
                    r.evidence_seq,
                    escape(&r.evidence_hash)
                );
            }
        }
        out.push_str("</table>");
    }
    out.push_str("</body></html>\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_rollout_shows_the_waves_and_which_commit_the_halt_holds_back_from_which() {
        use crate::api::{Progress, WaveProgress};
        use flotilla_core::rollout::HaltAnswer;
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
                commits: vec![flotilla_core::rollout::Halted {
                    commit: bad.clone(),
                    failed: vec![2, 0],
                    halted_from: Some("<early>".into()),
                    halted_from_index: Some(1),
                }],
            }),
            arrivals: Vec::new(),
        };
        let html = render_progress(&progress);
        assert!(html.contains("<td>canary</td><td>10</td><td><code>bbbbbbbbbbbb</code></td><td>4</td><td>4</td><td>4</td><td>2</td><td>reached</td><td></td></tr>"), "{html}");
        assert!(html.contains("<td>&lt;early&gt;</td>") && html.contains("<b>bbbbbbbbbbbb</b> held back"), "{html}");
        assert!(html.contains("more than 5% of the clusters"), "{html}");
        assert!(html.contains("<td>2 · 0</td><td>&lt;early&gt;</td>"), "{html}");
        let calm = Progress { halt: None, ..progress };
        assert!(!render_progress(&calm).contains("id=\"halt\""));
    }

    #[test]
    fn escape_leaves_no_markup_and_no_way_out_of_an_attribute() {
        assert_eq!(escape("<script>alert('x')</script>"), "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;");
        assert_eq!(escape("a & \"b\""), "a &amp; &quot;b&quot;");
        assert_eq!(escape("&amp;"), "&amp;amp;", "escaped once more, never taken as already escaped");
        assert_eq!(escape("store-0001 ü"), "store-0001 ü");
    }

    #[test]
    fn form_text_decodes_percent_escapes_and_plus_as_space() {
        let pairs = parse_form("token=flt_view_a%2Bb+c&empty=&flag&x=%E2%9C%93&bad=100%&odd=%zz%4");
        let get = |k: &str| pairs.iter().find(|(key, _)| key == k).map(|(_, v)| v.as_str());
        assert_eq!(get("token"), Some("flt_view_a+b c"));
        assert_eq!(get("empty"), Some(""));
        assert_eq!(get("flag"), Some(""));
        assert_eq!(get("x"), Some("✓"));
        assert_eq!(get("bad"), Some("100%"));
        assert_eq!(get("odd"), Some("%zz%4"));
        assert_eq!(parse_form("labels=kind%3Dstore%2Cregion%3Deu"), [("labels".into(), "kind=store,region=eu".into())]);
        assert_eq!(decode("%ff"), "\u{fffd}", "not UTF-8");
        assert!(parse_form("").is_empty());
    }

    #[test]
    fn encode_and_decode_round_trip() {
        for text in ["kind=store,region=eu", "a b+c&d", "<script>", "ünï/cödé?#%"] {
            assert_eq!(decode(&encode(text)), text);
        }
        assert_eq!(encode("kind=store x"), "kind%3Dstore%20x");
    }

    #[test]
    fn the_viewer_cookie_is_found_among_others() {
        let mut headers = HeaderMap::new();
        headers.append(header::COOKIE, HeaderValue::from_static("theme=dark; flotilla_viewer=flt_view_1"));
        headers.append(header::COOKIE, HeaderValue::from_static("other=1"));
        assert_eq!(cookie(&headers, COOKIE), Some("flt_view_1"));
        assert_eq!(cookie(&headers, "missing"), None);
        assert!(cookie_safe("flt_view_0123abcd"));
        assert!(!cookie_safe("a;b") && !cookie_safe("a b") && !cookie_safe(""));
    }

    #[test]
    fn paging_links_point_at_the_neighbouring_pages() {
        let link = |o: usize| format!("/clusters?labels=kind%3Dedge&offset={o}");
        let first = paging(0, 100, 250, &link);
        assert!(!first.contains("rel=\"prev\""), "{first}");
        assert!(first.contains("href=\"/clusters?labels=kind%3Dedge&amp;offset=100\""), "{first}");
        let last = paging(200, 50, 250, &link);
        assert!(last.contains("offset=100\">← previous"), "{last}");
        assert!(!last.contains("rel=\"next\""), "{last}");
        assert!(last.contains("201–250 of 250"), "{last}");
    }
}
