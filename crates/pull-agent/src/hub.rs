//! The hub client: registration (a join token for the cluster's own token) and report
//! delivery, over HTTPS (or HTTP) with the cluster's bearer token.
//!
//! Not the spool or the order of delivery ([`crate::daemon`] owns those) and not the wire
//! types (`flotilla_core::report`, `flotilla_core::register`).

use std::path::{Path, PathBuf};
use std::time::Duration;

use flotilla_core::register;
use flotilla_core::rollout::{Arrival, Halted};
use flotilla_git::chain;

use crate::spool;

/// How long one request may take, connection included.
const TIMEOUT: Duration = Duration::from_secs(20);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// Why a delivery did not happen.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The hub could not be reached or failed (5xx, 429, 408): try again later.
    #[error("{url}: the hub is unreachable: {message}")]
    Unreachable { url: String, message: String },
    /// The hub refused the request itself (4xx): sending it again will not help.
    #[error("{url}: the hub refused it ({status}): {message}")]
    Refused { url: String, status: u16, message: String },
    /// The cluster has no token yet, or it cannot be read.
    #[error("{}: {message}", path.display())]
    Token { path: PathBuf, message: String },
    #[error("{url}: {message}")]
    Answer { url: String, message: String },
}

impl Error {
    /// Whether the cluster's credentials were refused: every later report would be too.
    pub fn is_unauthorized(&self) -> bool {
        matches!(self, Error::Refused { status: 401 | 403, .. } | Error::Token { .. })
    }
}

/// What the hub publishes of a placement's rollout that an agent reads.
#[derive(Debug, Clone, Default, serde::Deserialize)]
pub struct Rollout {
    #[serde(default)]
    halt: Option<HaltAnswer>,
    #[serde(default)]
    pub arrivals: Vec<Arrival>,
}

#[derive(Debug, Clone, Default, serde::Deserialize)]
struct HaltAnswer {
    commits: Vec<Halted>,
}

impl Rollout {
    /// The commits clusters failed on, with the waves they are held back from.
    pub fn halted(&self) -> &[Halted] {
        self.halt.as_ref().map_or(&[], |h| &h.commits)
    }
}

/// A hub this agent talks to.
#[derive(Debug, Clone)]
pub struct Hub {
    url: String,
    client: reqwest::Client,
}

impl Hub {
    pub fn new(url: &str) -> Result<Hub, Error> {
        let client = reqwest::Client::builder()
            .timeout(TIMEOUT)
            .connect_timeout(CONNECT_TIMEOUT)
            .user_agent(concat!("flotilla-pull-agent/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| Error::Answer { url: url.to_string(), message: format!("building the HTTP client: {e}") })?;
        Ok(Hub { url: url.trim_end_matches('/').to_string(), client })
    }

    /// Sends one report (its JSON text) with the token kept in `token_file`.
    pub async fn send_report(&self, token_file: &Path, report: &str) -> Result<(), Error> {
        let token = read_token(token_file)?;
        self.post(register::REPORTS_PATH, &token, report.to_string()).await.map(drop)
    }

    /// Exchanges `join_token` for the cluster's own token.
    pub async fn register(&self, join_token: &str, request: &register::Request) -> Result<register::Response, Error> {
        let body = serde_json::to_string(request).expect("a register request serializes");
        let url = format!("{}{}", self.url, register::PATH);
        let text = self.post(register::PATH, join_token, body).await?;
        let response: register::Response = serde_json::from_str(&text)
            .map_err(|e| Error::Answer { url: url.clone(), message: format!("not a registration answer: {e}") })?;
        response.validate().map_err(|message| Error::Answer { url: url.clone(), message })?;
        if response.cluster != request.cluster {
            return Err(Error::Answer {
                url,
                message: format!("registered cluster {:?}, not {:?}", response.cluster, request.cluster),
            });
        }
        Ok(response)
    }

    /// What the hub publishes of `placement`'s rollout in `environment`
    /// (`GET /api/v1/rollouts/{placement}`), asked with the cluster's token: the commits clusters
    /// failed on (`halt.commits`, what a later wave consults before it takes a commit) and when
    /// the commits of the placement's branch reached it (`arrivals`; absent from hubs before
    /// them).
    pub async fn rollout(&self, token_file: &Path, placement: &str, environment: &str) -> Result<Rollout, Error> {
        let path = format!(
            "/api/v1/rollouts/{}?environment={}",
            register::url_component(placement),
            register::url_component(environment)
        );
        let text = self.get(token_file, &path).await?;
        serde_json::from_str(&text).map_err(|e| Error::Answer {
            url: format!("{}{path}", self.url),
            message: format!("not a rollout's progress: {e}"),
        })
    }

    /// When the commits of `repository`'s branch for `environment` reached it, as the hub saw
    /// (`GET /api/v1/arrivals/{repository}`; `fleet` is the fleet repository).
    pub async fn arrivals(
        &self,
        token_file: &Path,
        repository: &str,
        environment: &str,
    ) -> Result<Vec<Arrival>, Error> {
        #[derive(serde::Deserialize)]
        struct Published {
            arrivals: Vec<Arrival>,
        }
        let path = format!(
            "/api/v1/arrivals/{}?environment={}",
            register::url_component(repository),
            register::url_component(environment)
        );
        let text = self.get(token_file, &path).await?;
        let published: Published = serde_json::from_str(&text).map_err(|e| Error::Answer {
            url: format!("{}{path}", self.url),
            message: format!("not a branch's arrivals: {e}"),
        })?;
        Ok(published.arrivals)
    }

    async fn get(&self, token_file: &Path, path: &str) -> Result<String, Error> {
        let token = read_token(token_file)?;
        let url = format!("{}{path}", self.url);
        let unreachable = |e: &dyn std::fmt::Display| Error::Unreachable { url: url.clone(), message: e.to_string() };
        let response = self.client.get(&url).bearer_auth(token).send().await.map_err(|e| unreachable(&chain(&e)))?;
        let status = response.status().as_u16();
        let text = response.text().await.map_err(|e| unreachable(&chain(&e)))?;
        match status {
            200..=299 => Ok(text),
            408 | 429 | 500..=599 => Err(unreachable(&format!("HTTP {status}: {}", first_line(&text)))),
            _ => Err(Error::Refused { url, status, message: first_line(&text) }),
        }
    }

    async fn post(&self, path: &str, token: &str, body: String) -> Result<String, Error> {
        let url = format!("{}{path}", self.url);
        let unreachable = |e: &dyn std::fmt::Display| Error::Unreachable { url: url.clone(), message: e.to_string() };
        let response = self
            .client
            .post(&url)
            .bearer_auth(token)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(body)
            .send()
            .await
            .map_err(|e| unreachable(&chain(&e)))?;
        let status = response.status().as_u16();
        let text = response.text().await.map_err(|e| unreachable(&chain(&e)))?;
        match status {
            200..=299 => Ok(text),
            408 | 429 | 500..=599 => Err(unreachable(&format!("HTTP {status}: {}", first_line(&text)))),
            _ => Err(Error::Refused { url, status, message: first_line(&text) }),
        }
    }
}

/// The cluster's token, from the file `pull-agent register` wrote.
pub fn read_token(path: &Path) -> Result<String, Error> {
    let token = std::fs::read_to_string(path).map_err(|e| Error::Token {
        path: path.to_path_buf(),
        message: if e.kind() == std::io::ErrorKind::NotFound {
            "no cluster token: run `pull-agent register` first".into()
        } else {
            format!("cannot read the cluster token: {e}")
        },
    })?;
    let token = token.trim();
    if token.is_empty() {
        return Err(Error::Token { path: path.to_path_buf(), message: "the cluster token file is empty".into() });
    }
    Ok(token.to_string())
}

/// Writes a token readable by its owner alone (mode 0600), whole or not at all.
pub fn write_token(path: &Path, token: &str) -> std::io::Result<()> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
    }
    spool::write_atomically_private(path, format!("{token}\n").as_bytes())
}

fn first_line(text: &str) -> String {
    let line = text.lines().next().unwrap_or_default().trim();
    flotilla_core::report::clip(if line.is_empty() { "(no message)" } else { line })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_is_written_for_its_owner_alone_and_read_back() {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state/cluster-token");
        assert!(read_token(&path).unwrap_err().to_string().contains("run `pull-agent register` first"));
        write_token(&path, "flt_secret_0123456789").unwrap();
        assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
        assert_eq!(read_token(&path).unwrap(), "flt_secret_0123456789");
        std::fs::write(&path, "\n").unwrap();
        assert!(read_token(&path).unwrap_err().to_string().ends_with("the cluster token file is empty"));
    }
}
