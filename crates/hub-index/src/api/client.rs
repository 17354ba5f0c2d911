//! [`Client`]: the hub's API over HTTP, typed — `hub-index`'s views on the command line, the
//! demo and the benches, and the agent's registration, reports and rollout question. Not a
//! retry loop or a spool: callers decide what an unreachable hub means to them
//! ([`Error::Unreachable`] against [`Error::Refused`]).

use std::time::Duration;

use flotilla_core::register;
use serde::de::DeserializeOwned;

use super::{
    Audit, BranchArrivals, ChainCheck, ClusterDetail, ClusterLine, Compliance, Ledger, OverrideGroup, Page,
    PolicyCompliance, Preview, Progress, Summary,
};

/// Why a request got no answer of the API's.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The hub could not be reached or failed (5xx, 429, 408): asking again later may work.
    #[error("{url}: the hub is unreachable: {message}")]
    Unreachable { url: String, message: String },
    /// The hub refused the request itself (another 4xx): asking again will not help.
    #[error("{url}: the hub refused it ({status}): {message}")]
    Refused { url: String, status: u16, message: String },
    /// The answer is not the one the API gives, or the client could not be built.
    #[error("{url}: {message}")]
    Answer { url: String, message: String },
}

/// The filters of `GET /api/v1/clusters`.
#[derive(Debug, Clone, Default)]
pub struct ClustersQuery {
    /// A [`super::Standing`]'s name.
    pub state: Option<String>,
    /// `k=v,k=v`.
    pub labels: Option<String>,
    pub environment: Option<String>,
    pub placement: Option<String>,
    pub offset: usize,
    pub limit: usize,
}

/// The filters of `GET /api/v1/compliance` and `/api/v1/compliance/{policy}`.
#[derive(Debug, Clone, Default)]
pub struct ComplianceQuery {
    pub environment: String,
    /// `k=v,k=v`.
    pub labels: Option<String>,
    /// One policy's non-compliant clusters from here…
    pub offset: usize,
    /// …at most this many.
    pub limit: usize,
}

/// The filters of `GET /api/v1/overrides`.
#[derive(Debug, Clone, Default)]
pub struct OverridesQuery {
    pub cluster: Option<String>,
    pub target: Option<String>,
    pub environment: Option<String>,
    /// `YYYY-MM-DD` or an RFC 3339 UTC time.
    pub since: Option<String>,
    pub limit: usize,
}

/// The filters of `GET /api/v1/evidence`.
#[derive(Debug, Clone, Default)]
pub struct EvidenceQuery {
    pub cluster: Option<String>,
    pub policy: Option<String>,
    pub target: Option<String>,
    /// `policy` or `override`.
    pub kind: Option<String>,
    pub since: Option<String>,
    pub limit: u32,
}

/// A hub's API, with a bearer token (a viewer's, a cluster's or a join token) or none (an open
/// hub).
#[derive(Debug, Clone)]
pub struct Client {
    url: String,
    http: reqwest::Client,
    token: Option<String>,
}

/// How long one request may take, connection included, unless the caller's HTTP client says.
const TIMEOUT: Duration = Duration::from_secs(20);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

impl Client {
    /// A client of the hub at `url` (`http://127.0.0.1:8080`), each request within 20 s.
    pub fn new(url: &str, user_agent: &str) -> Result<Client, Error> {
        let http = reqwest::Client::builder()
            .timeout(TIMEOUT)
            .connect_timeout(CONNECT_TIMEOUT)
            .user_agent(user_agent)
            .build()
            .map_err(|e| Error::Answer { url: url.to_string(), message: format!("building the HTTP client: {e}") })?;
        Ok(Client::with_http(url, http))
    }

    /// A client of the hub at `url` over `http` (its timeouts and pool as the caller set them).
    pub fn with_http(url: &str, http: reqwest::Client) -> Client {
        Client { url: url.trim_end_matches('/').to_string(), http, token: None }
    }

    /// The same client, sending `token` as its bearer token.
    #[must_use]
    pub fn with_token(&self, token: Option<&str>) -> Client {
        Client { url: self.url.clone(), http: self.http.clone(), token: token.map(|t| t.trim().to_string()) }
    }

    /// The hub's URL, without a trailing `/`.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// `GET /api/v1/summary`.
    pub async fn summary(&self) -> Result<Summary, Error> {
        self.get("/api/v1/summary", &[]).await
    }

    /// `GET /api/v1/clusters`.
    pub async fn clusters(&self, q: &ClustersQuery) -> Result<Page<ClusterLine>, Error> {
        self.get("/api/v1/clusters", &clusters_query(q)).await
    }

    /// `GET /api/v1/clusters/{name}`.
    pub async fn cluster(&self, name: &str) -> Result<ClusterDetail, Error> {
        self.get(&format!("/api/v1/clusters/{}", register::url_component(name)), &[]).await
    }

    /// `GET /api/v1/lag`: the ledger of `placement` in `environment`, lagging clusters from
    /// `offset`, at most `limit`.
    pub async fn lag(&self, placement: &str, environment: &str, offset: usize, limit: usize) -> Result<Ledger, Error> {
        let query = lag_query(placement, environment, offset, limit);
        self.get("/api/v1/lag", &query).await
    }

    /// `GET /api/v1/compliance`.
    pub async fn compliance(&self, q: &ComplianceQuery) -> Result<Compliance, Error> {
        self.get("/api/v1/compliance", &compliance_query(q, false)).await
    }

    /// `GET /api/v1/compliance/{policy}`.
    pub async fn compliance_policy(&self, policy: &str, q: &ComplianceQuery) -> Result<PolicyCompliance, Error> {
        let path = format!("/api/v1/compliance/{}", register::url_component(policy));
        self.get(&path, &compliance_query(q, true)).await
    }

    /// `GET /api/v1/overrides`.
    pub async fn overrides(&self, q: &OverridesQuery) -> Result<Vec<OverrideGroup>, Error> {
        self.get("/api/v1/overrides", &overrides_query(q)).await
    }

    /// `GET /api/v1/evidence` as `format` (`csv` or `json`): the text as the hub wrote it.
    pub async fn evidence(&self, q: &EvidenceQuery, format: &str) -> Result<String, Error> {
        let mut query = vec![("limit", q.limit.to_string()), ("format", format.to_string())];
        for (key, value) in [
            ("cluster", &q.cluster),
            ("policy", &q.policy),
            ("target", &q.target),
            ("kind", &q.kind),
            ("since", &q.since),
        ] {
            if let Some(v) = value {
                query.push((key, v.clone()));
            }
        }
        self.text("/api/v1/evidence", &query).await
    }

    /// `GET /api/v1/evidence/verify`.
    pub async fn verify_evidence(&self) -> Result<ChainCheck, Error> {
        self.get("/api/v1/evidence/verify", &[]).await
    }

    /// `GET /api/v1/audit` as JSON.
    pub async fn audit(&self, standard: &str, at: Option<&str>, environment: Option<&str>) -> Result<Audit, Error> {
        self.get("/api/v1/audit", &audit_query(standard, at, environment, "json")).await
    }

    /// `GET /api/v1/audit` as `format` (`csv`, `json` or `html`): the text as the hub wrote it.
    pub async fn audit_text(
        &self,
        standard: &str,
        at: Option<&str>,
        environment: Option<&str>,
        format: &str,
    ) -> Result<String, Error> {
        self.text("/api/v1/audit", &audit_query(standard, at, environment, format)).await
    }

    /// `GET /api/v1/preview`: moving `repository`'s `environment` branch to `reference`.
    pub async fn preview(&self, reference: &str, repository: &str, environment: &str) -> Result<Preview, Error> {
        let query = preview_query(reference, repository, environment);
        self.get("/api/v1/preview", &query).await
    }

    /// `GET /api/v1/rollouts/{placement}?environment=…`: a viewer's, or an agent's with its
    /// cluster token.
    pub async fn rollout(&self, placement: &str, environment: &str) -> Result<Progress, Error> {
        let path = format!("/api/v1/rollouts/{}", register::url_component(placement));
        self.get(&path, &[("environment", environment.to_string())]).await
    }

    /// `GET /api/v1/arrivals/{repository}?environment=…`.
    pub async fn arrivals(&self, repository: &str, environment: &str) -> Result<BranchArrivals, Error> {
        let path = format!("/api/v1/arrivals/{}", register::url_component(repository));
        self.get(&path, &[("environment", environment.to_string())]).await
    }

    /// `POST /api/v1/reports` with a report's JSON text, with the cluster's token. Any 2xx ends
    /// the report's journey, stored or ignored as a replay ([`super::ReportAnswer`] says which):
    /// the answer's body is not read.
    pub async fn report(&self, report: String) -> Result<(), Error> {
        self.post(register::REPORTS_PATH, report).await.map(drop)
    }

    /// `POST` of a registration with the join token: the cluster's own token, checked.
    pub async fn register(&self, request: &register::Request) -> Result<register::Response, Error> {
        let url = self.address(register::PATH, &[]);
        let body = serde_json::to_string(request).expect("a register request serializes");
        let text = self.post(register::PATH, body).await?;
        let response: register::Response = decode(&url, text.as_bytes(), "a registration answer")?;
        response.validate().map_err(|message| Error::Answer { url: url.clone(), message })?;
        if response.cluster != request.cluster {
            let message = format!("registered cluster {:?}, not {:?}", response.cluster, request.cluster);
            return Err(Error::Answer { url, message });
        }
        Ok(response)
    }

    /// `GET path?query` as `T`.
    pub async fn get<T: DeserializeOwned>(&self, path: &str, query: &[(&str, String)]) -> Result<T, Error> {
        let body = self.bytes(path, query).await?;
        decode(&self.address(path, query), &body, "an answer of the hub's API")
    }

    /// `GET path?query`: the body of a successful answer, as text.
    pub async fn text(&self, path: &str, query: &[(&str, String)]) -> Result<String, Error> {
        let body = self.bytes(path, query).await?;
        String::from_utf8(body).map_err(|e| Error::Answer { url: self.address(path, query), message: e.to_string() })
    }

    /// `GET path?query`: the body of a successful answer, as bytes (all of it read: what a
    /// latency measured around this call includes, and decoding does not).
    pub async fn bytes(&self, path: &str, query: &[(&str, String)]) -> Result<Vec<u8>, Error> {
        let url = self.address(path, query);
        let mut request = self.http.get(&url);
        if let Some(token) = &self.token {
            request = request.bearer_auth(token);
        }
        answer(url, request).await
    }

    async fn post(&self, path: &str, body: String) -> Result<String, Error> {
        let url = self.address(path, &[]);
        let mut request = self.http.post(&url).header(reqwest::header::CONTENT_TYPE, "application/json").body(body);
        if let Some(token) = &self.token {
            request = request.bearer_auth(token);
        }
        let body = answer(url.clone(), request).await?;
        String::from_utf8(body).map_err(|e| Error::Answer { url, message: e.to_string() })
    }

    /// The URL of `path` with `query`, its values percent-encoded.
    pub fn address(&self, path: &str, query: &[(&str, String)]) -> String {
        let mut url = format!("{}{path}", self.url);
        for (i, (key, value)) in query.iter().enumerate() {
            url.push(if i == 0 { '?' } else { '&' });
            url.push_str(key);
            url.push('=');
            url.push_str(&register::url_component(value));
        }
        url
    }
}

/// Sends `request`: the body of a 2xx answer; a 408, 429 or 5xx answer or no answer is
/// [`Error::Unreachable`], any other [`Error::Refused`], with the answer's first line.
async fn answer(url: String, request: reqwest::RequestBuilder) -> Result<Vec<u8>, Error> {
    let unreachable = |e: &dyn std::fmt::Display| Error::Unreachable { url: url.clone(), message: e.to_string() };
    let response = request.send().await.map_err(|e| unreachable(&flotilla_git::chain(&e)))?;
    let status = response.status().as_u16();
    let body = response.bytes().await.map_err(|e| unreachable(&flotilla_git::chain(&e)))?;
    match status {
        200..=299 => Ok(body.to_vec()),
        408 | 429 | 500..=599 => Err(unreachable(&format!("HTTP {status}: {}", first_line(&body)))),
        _ => Err(Error::Refused { url, status, message: first_line(&body) }),
    }
}

fn decode<T: DeserializeOwned>(url: &str, body: &[u8], what: &str) -> Result<T, Error> {
    serde_json::from_slice(body)
        .map_err(|e| Error::Answer { url: url.to_string(), message: format!("not {what}: {e}") })
}

fn first_line(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    let line = text.lines().next().unwrap_or_default().trim();
    flotilla_core::report::clip(if line.is_empty() { "(no message)" } else { line })
}

/// The query of `GET /api/v1/clusters`.
pub fn clusters_query(q: &ClustersQuery) -> Vec<(&'static str, String)> {
    let mut query = vec![("offset", q.offset.to_string()), ("limit", q.limit.to_string())];
    for (key, value) in
        [("state", &q.state), ("labels", &q.labels), ("environment", &q.environment), ("placement", &q.placement)]
    {
        if let Some(v) = value {
            query.push((key, v.clone()));
        }
    }
    query
}

/// The query of `GET /api/v1/lag`.
pub fn lag_query(placement: &str, environment: &str, offset: usize, limit: usize) -> Vec<(&'static str, String)> {
    vec![
        ("placement", placement.to_string()),
        ("environment", environment.to_string()),
        ("offset", offset.to_string()),
        ("limit", limit.to_string()),
    ]
}

/// The query of the compliance views; `paged` for one policy's.
pub fn compliance_query(q: &ComplianceQuery, paged: bool) -> Vec<(&'static str, String)> {
    let mut query = vec![("environment", q.environment.clone())];
    if let Some(labels) = &q.labels {
        query.push(("labels", labels.clone()));
    }
    if paged {
        query.extend([("offset", q.offset.to_string()), ("limit", q.limit.to_string())]);
    }
    query
}

/// The query of `GET /api/v1/overrides`.
pub fn overrides_query(q: &OverridesQuery) -> Vec<(&'static str, String)> {
    let mut query = vec![("limit", q.limit.to_string())];
    for (key, value) in
        [("cluster", &q.cluster), ("target", &q.target), ("environment", &q.environment), ("since", &q.since)]
    {
        if let Some(v) = value {
            query.push((key, v.clone()));
        }
    }
    query
}

fn audit_query(
    standard: &str,
    at: Option<&str>,
    environment: Option<&str>,
    format: &str,
) -> Vec<(&'static str, String)> {
    let mut query = vec![("standard", standard.to_string()), ("format", format.to_string())];
    for (key, value) in [("at", at), ("environment", environment)] {
        if let Some(v) = value {
            query.push((key, v.to_string()));
        }
    }
    query
}

/// The query of `GET /api/v1/preview`.
pub fn preview_query(reference: &str, repository: &str, environment: &str) -> Vec<(&'static str, String)> {
    vec![
        ("ref", reference.to_string()),
        ("repository", repository.to_string()),
        ("environment", environment.to_string()),
    ]
}
