//! Charts from Helm repositories, fetched for the agent and the hub alike: a chart repository
//! over HTTP(S) (its `index.yaml`, then the archive it names) or an OCI registry (`oci://`, the
//! registry v2 API: tags, Helm's manifest, the chart layer's blob). The version is chosen and
//! the archive checked against its digest by core's pure functions
//! ([`flotilla_core::helm::repo`]), so the agent and the hub choose the same version and name it
//! by the same digest: the SHA-256 of the archive, held as the placement's source commit
//! ([`Fetched::id`]).
//!
//! Archives are cached by digest under the cache folder (the agent's `stateDir/charts`, the
//! hub's cache): a chart already held is not downloaded again, and one that does not match its
//! name there is thrown away and fetched anew. The index or manifest is asked for on every
//! fetch: that is how a new version in range is found.
//!
//! What it is not: it renders nothing (core does, from [`Fetched::snapshot`]) and keeps no state
//! besides the cache. Requests are blocking, each fetch on a thread of its own so that an async
//! caller's runtime is never blocked inside reqwest's own. The `testing` feature holds a chart
//! repository and an OCI registry served on 127.0.0.1, and `testing::package`.

mod cache;
mod client;
mod oci;
mod repository;
#[cfg(feature = "testing")]
pub mod testing;

use std::path::PathBuf;
use std::time::Duration;

use flotilla_core::fleet::ChartRef;
use flotilla_core::helm::repo;
use flotilla_core::name::CommitId;
use flotilla_core::snapshot::Snapshot;

pub use flotilla_git::Credentials;

/// Why a chart could not be fetched. `url` is what was asked for; a secret is never in it.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The server could not be reached, or the connection failed mid-way.
    #[error("{url}: {message}")]
    Unreachable { url: String, message: String },
    /// The server answered, but not with what was asked for.
    #[error("{url}: HTTP {status}{hint}")]
    Status { url: String, status: u16, hint: String },
    /// What the server gave is not what a chart repository gives, or not the chart named.
    #[error("{url}: {source}")]
    Chart {
        url: String,
        #[source]
        source: repo::Error,
    },
    /// An answer over its size limit.
    #[error("{url}: the answer is over the limit of {limit} bytes")]
    TooLarge { url: String, limit: usize },
    /// What is refused before anything is sent: credentials in clear text, an SSH key.
    #[error("{url}: {message}")]
    Refused { url: String, message: String },
    #[error("chart cache {path}: {message}")]
    Cache { path: String, message: String },
}

impl Error {
    /// Whether trying again may help: the server could not be reached, or said it failed or is
    /// busy (5xx, 429). A missing chart, a digest mismatch or a refusal fails the same again.
    pub fn is_transient(&self) -> bool {
        match self {
            Error::Unreachable { .. } => true,
            Error::Status { status, .. } => *status >= 500 || *status == 429,
            _ => false,
        }
    }

    /// Whether the repository could not be read at all (unreachable, or an HTTP failure),
    /// rather than read and found wanting: the agent reports the first `SourceUnreachable`.
    pub fn is_unreachable(&self) -> bool {
        matches!(self, Error::Unreachable { .. } | Error::Status { .. })
    }
}

/// A chart fetched: which version was chosen, its archive's digest, and its files.
#[derive(Debug, Clone)]
pub struct Fetched {
    /// The SHA-256 of the archive, as a 64-hex-digit id: what the report names as the source
    /// commit of a chart placement, and the render memo's source.
    pub id: CommitId,
    /// The version chosen (Chart.yaml's `version`, as the index or tag gives it).
    pub version: String,
    /// Where the archive was (or would have been) downloaded from.
    pub url: String,
    /// The chart's files, at the root: what [`flotilla_core::render::render_with`] renders.
    pub snapshot: Snapshot,
}

/// Fetches charts with one set of credentials into one cache.
#[derive(Debug, Clone)]
pub struct Charts {
    dir: PathBuf,
    credentials: Option<Credentials>,
    timeout: Duration,
}

/// How long one request may take before it is given up (the largest charts are a few MiB).
const TIMEOUT: Duration = Duration::from_secs(120);

impl Charts {
    /// Charts cached under `dir` (created when first needed), fetched without credentials.
    pub fn new(dir: impl Into<PathBuf>) -> Charts {
        Charts { dir: dir.into(), credentials: None, timeout: TIMEOUT }
    }

    /// The credentials sent to chart repositories and registries (`user:token` as basic
    /// authentication, which an OCI registry may trade for a token; or a bearer token). They go
    /// only to the repository's own host (and a registry's token service), and never in clear
    /// text but to this machine.
    #[must_use]
    pub fn with_credentials(mut self, credentials: Option<Credentials>) -> Charts {
        self.credentials = credentials;
        self
    }

    /// Chooses the version of `chart` its range takes, and gives the chart: from the cache when
    /// its digest is held there, else downloaded and checked against the digest the index or
    /// the manifest gives. Blocking.
    pub fn fetch(&self, chart: &ChartRef) -> Result<Fetched, Error> {
        // reqwest's blocking client runs a runtime of its own, which must not be started or
        // dropped on a thread that runs an async runtime (the agent's): a thread of its own.
        std::thread::scope(|scope| {
            scope.spawn(|| self.fetch_here(chart)).join().unwrap_or_else(|_| {
                Err(Error::Unreachable { url: chart.location(), message: "the fetch panicked".into() })
            })
        })
    }

    fn fetch_here(&self, chart: &ChartRef) -> Result<Fetched, Error> {
        let client = client::Client::new(self.credentials.clone(), &chart.url, self.timeout)?;
        let cache = cache::Cache::new(self.dir.clone());
        if chart.is_oci() { oci::fetch(&client, &cache, chart) } else { repository::fetch(&client, &cache, chart) }
    }
}

/// The archive `bytes` (of digest `hex`, checked already) as a fetched chart.
fn fetched(url: &str, version: &str, hex: &str, bytes: &[u8]) -> Result<Fetched, Error> {
    let id = hex
        .parse::<CommitId>()
        .map_err(|e| Error::Chart { url: url.to_string(), source: repo::Error::BadDigest { digest: e.to_string() } })?;
    let snapshot = repo::unpack(bytes).map_err(|source| Error::Chart { url: url.to_string(), source })?;
    Ok(Fetched { id, version: version.to_string(), url: url.to_string(), snapshot })
}

/// The archive of digest `expected` (hex; `None` when the repository gives none): from the
/// cache, else through `download`, checked and then cached. The hex of its digest, and its bytes.
fn archive(
    cache: &cache::Cache,
    url: &str,
    expected: Option<&str>,
    download: impl FnOnce() -> Result<Vec<u8>, Error>,
) -> Result<(String, Vec<u8>), Error> {
    let chart_error = |source| Error::Chart { url: url.to_string(), source };
    let expected = expected.map(repo::digest_hex).transpose().map_err(chart_error)?;
    if let Some(hex) = &expected
        && let Some(bytes) = cache.get(hex)
    {
        return Ok((hex.clone(), bytes));
    }
    let bytes = download()?;
    let hex = match &expected {
        Some(hex) => repo::check_digest(&bytes, hex).map_err(chart_error)?,
        // An index without digests (rare, and older than Helm 2's own indexes): the archive
        // is named by what it is, and nothing is checked.
        None => repo::sha256_hex(&bytes),
    };
    // Unpacked before it is cached: what is not a chart is never kept.
    repo::unpack(&bytes).map_err(chart_error)?;
    cache.put(&hex, &bytes)?;
    Ok((hex, bytes))
}
