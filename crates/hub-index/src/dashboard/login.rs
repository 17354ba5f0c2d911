//! Who may read the pages: a viewer token from `Authorization: Bearer` like the API, or from the
//! `flotilla_viewer` cookie that `POST /login` sets after checking the token the same way.
//! Without one a page answers 401 with the login form. There is no way to pass a token in a
//! URL: a bookmarked or logged URL would leak it.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use maud::html;

use super::form::{bearer, cookie, cookie_safe, param, parse_form};
use super::layout::{error_page, page, respond};
use crate::app::Hub;

/// The cookie that carries a viewer token once logged in.
pub const COOKIE: &str = "flotilla_viewer";

/// The login form, and what was wrong with the last try.
pub(super) fn login_page(status: StatusCode, message: Option<&str>) -> Response {
    let body = html! {
        h1 { "Log in" }
        @if let Some(message) = message {
            p class="error" id="error" { (message) }
        }
        p { "Reading the fleet needs a viewer token (" code { "hub-index viewer-token create" } ")." }
        form method="post" action="/login" id="login" {
            label { "Viewer token " input type="password" name="token" autocomplete="current-password" required; }
            " " button type="submit" { "Log in" }
        }
    };
    respond(status, page("Log in", &body, false))
}

/// Whether the request carries a viewer token (bearer or cookie), or needs none (an open hub);
/// the answer to send if not.
pub(super) async fn viewer(hub: &Hub, headers: &HeaderMap) -> Result<(), Response> {
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
