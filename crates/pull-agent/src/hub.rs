//! The hub client: registration (a join token for the cluster's own token) and report
//! delivery, over HTTPS (or HTTP) with the cluster's bearer token.
//!
//! Not the spool or the order of delivery ([`crate::daemon`] owns those), not the wire
//! types (`flotilla_core::report`, `flotilla_core::register`, `hub_index::api`) and not the
//! HTTP client (`hub_index::api::Client`, built without the hub's server half).

use std::path::{Path, PathBuf};

use flotilla_core::register;
use flotilla_core::rollout::Arrival;
use hub_index::api;

use crate::spool;

/// Why a delivery did not happen: the API client's reasons ([`api::Error`]: unreachable, try
/// again later; refused, sending it again will not help; an answer not the API's), or the
/// cluster's own token.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Api(#[from] api::Error),
    /// The cluster has no token yet, or it cannot be read.
    #[error("{}: {message}", path.display())]
    Token { path: PathBuf, message: String },
}

impl Error {
    /// Whether the cluster's credentials were refused: every later report would be too.
    pub fn is_unauthorized(&self) -> bool {
        matches!(self, Error::Api(api::Error::Refused { status: 401 | 403, .. }) | Error::Token { .. })
    }

    /// Whether the hub refused the request itself: sending it again will not help.
    pub fn is_refused(&self) -> bool {
        matches!(self, Error::Api(api::Error::Refused { .. }))
    }
}

/// What the hub publishes of a placement's rollout, which an agent reads: the commits
/// clusters failed on ([`api::Progress::halted`]) and when the branch's commits reached it
/// (`arrivals`).
pub type Rollout = api::Progress;

/// A hub this agent talks to.
#[derive(Debug, Clone)]
pub struct Hub {
    api: api::Client,
}

impl Hub {
    pub fn new(url: &str) -> Result<Hub, Error> {
        let api = api::Client::new(url, concat!("flotilla-pull-agent/", env!("CARGO_PKG_VERSION")))?;
        Ok(Hub { api })
    }

    /// Sends one report (its JSON text) with the token kept in `token_file`.
    pub async fn send_report(&self, token_file: &Path, report: &str) -> Result<(), Error> {
        let token = read_token(token_file)?;
        self.api.with_token(Some(&token)).report(report.to_string()).await?;
        Ok(())
    }

    /// Exchanges `join_token` for the cluster's own token.
    pub async fn register(&self, join_token: &str, request: &register::Request) -> Result<register::Response, Error> {
        Ok(self.api.with_token(Some(join_token)).register(request).await?)
    }

    /// What the hub publishes of `placement`'s rollout in `environment`
    /// (`GET /api/v1/rollouts/{placement}`), asked with the cluster's token: the commits clusters
    /// failed on (`halt.commits`, what a later wave consults before it takes a commit) and when
    /// the commits of the placement's branch reached it (`arrivals`; absent from hubs before
    /// them).
    pub async fn rollout(&self, token_file: &Path, placement: &str, environment: &str) -> Result<Rollout, Error> {
        let token = read_token(token_file)?;
        Ok(self.api.with_token(Some(&token)).rollout(placement, environment).await?)
    }

    /// When the commits of `repository`'s branch for `environment` reached it, as the hub saw
    /// (`GET /api/v1/arrivals/{repository}`; `fleet` is the fleet repository).
    pub async fn arrivals(
        &self,
        token_file: &Path,
        repository: &str,
        environment: &str,
    ) -> Result<Vec<Arrival>, Error> {
        let token = read_token(token_file)?;
        Ok(self.api.with_token(Some(&token)).arrivals(repository, environment).await?.arrivals)
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
