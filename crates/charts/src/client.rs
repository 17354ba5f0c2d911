//! GET requests as chart repositories and OCI registries want them: answers bounded in size,
//! credentials sent only where they belong, and a registry's challenge answered (`Basic`, or
//! `Bearer` with a token asked of the registry's token service, as Docker's and OCI's
//! distribution clients do).
//!
//! Where credentials go: to the host (and port) of the repository's URL, and to the token
//! service a registry's challenge names; never to another host an index points to (Helm's
//! default, `--pass-credentials` off), and never in clear text (`http://`) but to this machine.

use std::io::Read as _;
use std::sync::Mutex;
use std::time::Duration;

use reqwest::Url;
use reqwest::header::{ACCEPT, AUTHORIZATION, HeaderMap, HeaderValue, WWW_AUTHENTICATE};

use crate::{Credentials, Error};

pub(crate) struct Client {
    http: reqwest::blocking::Client,
    credentials: Option<Credentials>,
    /// `host:port` of the repository, where the credentials may go.
    origin: String,
    /// A registry's token, once a challenge was answered: sent with the next requests.
    token: Mutex<Option<String>>,
}

/// An answer's body and headers.
pub(crate) struct Got {
    pub bytes: Vec<u8>,
    pub headers: HeaderMap,
}

/// `host:port` of a URL (the scheme's port when none is written).
fn origin(url: &Url) -> String {
    format!("{}:{}", url.host_str().unwrap_or_default(), url.port_or_known_default().unwrap_or_default())
}

fn is_loopback(url: &Url) -> bool {
    matches!(url.host_str(), Some("localhost" | "127.0.0.1" | "[::1]" | "::1"))
}

impl Client {
    /// A client for the repository at `repository` (its `https://`, `http://` or `oci://` URL).
    pub(crate) fn new(credentials: Option<Credentials>, repository: &str, timeout: Duration) -> Result<Client, Error> {
        let refused = |message: String| Error::Refused { url: repository.to_string(), message };
        if matches!(credentials, Some(Credentials::SshKey { .. })) {
            return Err(refused("an SSH key is git's; a chart repository takes user:token or a bearer token".into()));
        }
        let as_http = repository.replacen("oci://", "https://", 1);
        let url = Url::parse(&as_http).map_err(|e| refused(format!("not a URL: {e}")))?;
        let http = reqwest::blocking::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .timeout(timeout)
            .user_agent(concat!("flotilla/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| Error::Unreachable { url: repository.to_string(), message: e.to_string() })?;
        Ok(Client { http, credentials, origin: origin(&url), token: Mutex::new(None) })
    }

    /// Whether the credentials may go to `url`: the repository's own host, in https (or to
    /// this machine).
    fn may_send_to(&self, url: &Url) -> bool {
        origin(url) == self.origin && (url.scheme() == "https" || is_loopback(url))
    }

    /// GETs `url` accepting `accept`, at most `limit` bytes of answer; a registry's challenge
    /// is answered once. A status other than 200 is an error.
    pub(crate) fn get(&self, url: &str, accept: &[&str], limit: usize) -> Result<Got, Error> {
        let parsed = Url::parse(url).map_err(|e| Error::Refused { url: url.to_string(), message: e.to_string() })?;
        let sendable = self.may_send_to(&parsed);
        let token = self.token.lock().unwrap_or_else(std::sync::PoisonError::into_inner).clone();
        let first = self.send(url, accept, sendable.then(|| self.authorization(token.as_deref())).flatten())?;
        if first.status().as_u16() != 401 || !sendable {
            return self.read(url, first, limit);
        }
        // A challenge: a token from the registry's token service, or basic credentials.
        let challenge = first.headers().get(WWW_AUTHENTICATE).and_then(|v| v.to_str().ok()).unwrap_or_default();
        let authorization = match Challenge::parse(challenge) {
            Some(Challenge::Bearer { realm, service, scope }) => {
                let token = self.token_for(url, &realm, service.as_deref(), scope.as_deref())?;
                *self.token.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = Some(token.clone());
                Some(format!("Bearer {token}"))
            }
            _ if token.is_some() => self.authorization(None),
            _ => None,
        };
        let Some(authorization) = authorization else {
            return self.read(url, first, limit);
        };
        let second = self.send(url, accept, Some(authorization))?;
        self.read(url, second, limit)
    }

    /// The Authorization header the credentials (or a registry's `token`) make.
    fn authorization(&self, token: Option<&str>) -> Option<String> {
        if let Some(token) = token {
            return Some(format!("Bearer {token}"));
        }
        match self.credentials.as_ref()? {
            Credentials::Basic { user, token } => Some(basic(user, token)),
            Credentials::Bearer { token } => Some(format!("Bearer {token}")),
            Credentials::SshKey { .. } => None,
        }
    }

    fn send(
        &self,
        url: &str,
        accept: &[&str],
        authorization: Option<String>,
    ) -> Result<reqwest::blocking::Response, Error> {
        let mut request = self.http.get(url);
        if !accept.is_empty() {
            request = request.header(ACCEPT, accept.join(", "));
        }
        if let Some(value) = authorization {
            let mut value = HeaderValue::from_str(&value).map_err(|_| Error::Refused {
                url: url.to_string(),
                message: "credentials that no header holds".into(),
            })?;
            value.set_sensitive(true);
            request = request.header(AUTHORIZATION, value);
        }
        request.send().map_err(|e| Error::Unreachable { url: url.to_string(), message: error_chain(&e) })
    }

    /// The body of a 200 answer, at most `limit` bytes.
    fn read(&self, url: &str, response: reqwest::blocking::Response, limit: usize) -> Result<Got, Error> {
        let status = response.status().as_u16();
        if status != 200 {
            let hint = match status {
                401 if self.credentials.is_none() => ": unauthorized (the agent has no chart credentials)",
                401 => ": unauthorized (are the chart credentials right?)",
                403 => ": forbidden",
                404 => ": not found",
                _ => "",
            };
            return Err(Error::Status { url: url.to_string(), status, hint: hint.to_string() });
        }
        let bound = u64::try_from(limit).unwrap_or(u64::MAX);
        if response.content_length().is_some_and(|n| n > bound) {
            return Err(Error::TooLarge { url: url.to_string(), limit });
        }
        let headers = response.headers().clone();
        let mut bytes = Vec::new();
        response
            .take(bound.saturating_add(1))
            .read_to_end(&mut bytes)
            .map_err(|e| Error::Unreachable { url: url.to_string(), message: e.to_string() })?;
        if bytes.len() > limit {
            return Err(Error::TooLarge { url: url.to_string(), limit });
        }
        Ok(Got { bytes, headers })
    }

    /// A token from a registry's token service (`realm`), for `scope`: with the basic
    /// credentials when there are some (anonymous otherwise, as public registries allow).
    fn token_for(&self, url: &str, realm: &str, service: Option<&str>, scope: Option<&str>) -> Result<String, Error> {
        /// The token service's answer: Docker's `token`, or OAuth's `access_token`.
        #[derive(serde::Deserialize)]
        struct Token {
            token: Option<String>,
            access_token: Option<String>,
        }
        let fail = |message: String| Error::Refused { url: url.to_string(), message };
        let mut token_url =
            Url::parse(realm).map_err(|e| fail(format!("the registry's token service {realm:?}: {e}")))?;
        {
            let mut query = token_url.query_pairs_mut();
            if let Some(service) = service {
                query.append_pair("service", service);
            }
            if let Some(scope) = scope {
                query.append_pair("scope", scope);
            }
        }
        let clear_text = token_url.scheme() != "https" && !is_loopback(&token_url);
        let mut request = self.http.get(token_url.as_str());
        if let Some(Credentials::Basic { user, token }) = &self.credentials
            && !clear_text
        {
            request = request.basic_auth(user, Some(token));
        }
        let response =
            request.send().map_err(|e| Error::Unreachable { url: token_url.to_string(), message: error_chain(&e) })?;
        let got = self.read(token_url.as_str(), response, 1024 * 1024)?;
        let answer: Token = serde_json::from_slice(&got.bytes)
            .map_err(|e| fail(format!("the registry's token service answered no token: {e}")))?;
        answer
            .token
            .or(answer.access_token)
            .ok_or_else(|| fail("the registry's token service answered no token".into()))
    }
}

fn basic(user: &str, token: &str) -> String {
    use base64::Engine as _;
    format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(format!("{user}:{token}")))
}

/// The error and its sources on one line (reqwest's own says little: "error sending request").
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut message = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let text = s.to_string();
        if !message.contains(&text) {
            message = format!("{message}: {text}");
        }
        source = s.source();
    }
    message
}

/// A `WWW-Authenticate` challenge (RFC 7235), the two schemes registries use.
#[derive(Debug, PartialEq, Eq)]
enum Challenge {
    Basic,
    Bearer { realm: String, service: Option<String>, scope: Option<String> },
}

impl Challenge {
    fn parse(header: &str) -> Option<Challenge> {
        let (scheme, rest) = header.trim().split_once(' ').unwrap_or((header.trim(), ""));
        if scheme.eq_ignore_ascii_case("basic") {
            return Some(Challenge::Basic);
        }
        if !scheme.eq_ignore_ascii_case("bearer") {
            return None;
        }
        let mut params = std::collections::BTreeMap::new();
        let mut rest = rest.trim();
        while !rest.is_empty() {
            let (key, after) = rest.split_once('=')?;
            let key = key.trim().trim_start_matches(',').trim().to_ascii_lowercase();
            let (value, after) = if let Some(quoted) = after.strip_prefix('"') {
                let end = quoted.find('"')?;
                (&quoted[..end], &quoted[end + 1..])
            } else {
                after.split_once(',').map_or((after, ""), |(v, a)| (v, a))
            };
            params.insert(key, value.to_string());
            rest = after.trim_start_matches([',', ' ']);
        }
        Some(Challenge::Bearer {
            realm: params.remove("realm")?,
            service: params.remove("service"),
            scope: params.remove("scope"),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn challenges_are_read_as_registries_write_them() {
        assert_eq!(
            Challenge::parse(
                r#"Bearer realm="https://ghcr.io/token",service="ghcr.io",scope="repository:org/chart:pull""#
            ),
            Some(Challenge::Bearer {
                realm: "https://ghcr.io/token".into(),
                service: Some("ghcr.io".into()),
                scope: Some("repository:org/chart:pull".into())
            })
        );
        assert_eq!(
            Challenge::parse(r#"Bearer realm="https://auth.example/token", service=registry"#),
            Some(Challenge::Bearer {
                realm: "https://auth.example/token".into(),
                service: Some("registry".into()),
                scope: None
            })
        );
        assert_eq!(Challenge::parse(r#"Basic realm="x""#), Some(Challenge::Basic));
        assert_eq!(Challenge::parse("Negotiate"), None);
    }

    #[test]
    fn basic_credentials_are_base64() {
        assert_eq!(basic("user", "pass"), "Basic dXNlcjpwYXNz");
        assert_eq!(basic("a", "bc"), "Basic YTpiYw==");
        assert_eq!(basic("ab", "c"), "Basic YWI6Yw==");
    }
}
