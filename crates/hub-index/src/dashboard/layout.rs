//! The frame every page shares: the document around a page's body (title, style, navigation,
//! when it was rendered, whether it refreshes itself), the response with its headers (the
//! Content-Security-Policy allows no script), and the error pages.

use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use flotilla_core::calendar::rfc3339;
use maud::{DOCTYPE, Markup, PreEscaped, html};

use super::parts::now_seconds;

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

/// A page as the answer, with `status`: HTML that is not cached and may run no script.
pub(super) fn respond(status: StatusCode, page: Markup) -> Response {
    let headers = [
        (header::CONTENT_TYPE, "text/html; charset=utf-8"),
        (header::CACHE_CONTROL, "no-store"),
        (header::CONTENT_SECURITY_POLICY, CSP),
    ];
    (status, headers, page.into_string()).into_response()
}

/// A whole page around `body`, titled `title`. Pages that show the fleet refresh themselves;
/// the login page does not (it would wipe what is being typed).
pub(super) fn page(title: &str, body: &Markup, signed_in: bool) -> Markup {
    page_with(title, body, signed_in, signed_in)
}

/// [`page`], refreshing itself or not: a page that is costly to compute, or that holds a form
/// being filled in, does not.
pub(super) fn page_with(title: &str, body: &Markup, signed_in: bool, refresh: bool) -> Markup {
    let now = rfc3339(now_seconds());
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                @if refresh {
                    meta http-equiv="refresh" content=(REFRESH_SECONDS);
                }
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · Flotilla" }
                // Not escaped: CSS is this file's constant and holds no outside text; the text
                // of a <style> element is not entity-decoded, so escaping would only break it.
                style { (PreEscaped(CSS)) }
            }
            body {
                header {
                    @if signed_in {
                        a href="/" { "Fleet" }
                        a href="/clusters" { "Clusters" }
                        a href="/compliance" { "Compliance" }
                        a href="/overrides" { "Overrides" }
                        a href="/preview" { "Preview" }
                        form method="post" action="/logout" { button type="submit" { "Log out" } }
                    } @else {
                        a href="/" { "Flotilla" }
                    }
                    span class="rendered" {
                        "rendered " time id="rendered" datetime=(now) { (now) } " · "
                        span id="refresh" {
                            @if refresh { "refreshes every " (REFRESH_SECONDS) " s" } @else { "does not refresh itself" }
                        }
                    }
                }
                main { (body) }
            }
        }
    }
}

/// An error page: the status and what went wrong.
pub(super) fn error_page(status: StatusCode, message: &str) -> Response {
    let body = html! {
        h1 { (status.as_u16()) }
        p class="error" id="error" { (message) }
    };
    respond(status, page("Error", &body, true))
}

/// A page that shows `form` (filled in as it was sent) and what is wrong with it.
pub(super) fn form_problem(status: StatusCode, title: &str, form: &Markup, problem: &str) -> Response {
    let body = html! {
        h1 { (title) }
        (form)
        p class="error" id="error" { (problem) }
    };
    respond(status, page(title, &body, true))
}
