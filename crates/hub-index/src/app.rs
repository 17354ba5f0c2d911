//! The hub's application layer: [`Hub`], the state every request shares (the store, the
//! index, the fleet as last read, the caches), what authenticates a request ([`Viewer`],
//! [`ViewerOrCluster`], [`ClusterToken`], [`JoinToken`]: extractors), and [`Error`], the one
//! error answer of the JSON API. Not the routes (`server`), not the handlers (`http`, `pages`)
//! and not the computation of the views (`views`, `progress`, `preview`, …, which know no HTTP).

use std::collections::{BTreeSet, HashMap};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use anyhow::Result;
use axum::Json;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use tokio::sync::{Notify, mpsc, oneshot};

use crate::api::{Problem, Progress};
use crate::git_view::FleetView;
use crate::index::{Index, Row};
use crate::store::{self, Incoming, Ingested, Store};

/// How the hub is run.
#[derive(Debug, Clone)]
pub struct Options {
    pub db: String,
    pub fleet: flotilla_git::Source,
    /// Credentials for the Helm chart repositories and registries placements name
    /// (`--chart-credentials-file`); none: charts are fetched anonymously.
    pub chart_credentials: Option<flotilla_git::Credentials>,
    pub listen: SocketAddr,
    /// Tokens (one per line) accepted for reading, besides those the store issued.
    pub viewer_token_file: Option<PathBuf>,
    /// Reads (the views, as JSON and on the dashboard) need no viewer token: for a demo or a
    /// laptop. Only with a loopback `listen` address ([`Options::check`]); registration and
    /// reports stay authenticated.
    pub open_on_loopback: bool,
    /// A cluster whose last report is older than this is offline.
    pub offline_after: Duration,
    /// How often the fleet repository is read again.
    pub fleet_poll: Duration,
    /// Where the git cache lives.
    pub cache_dir: PathBuf,
    /// The environments (branches) whose heads and lag are followed.
    pub environments: Vec<String>,
    /// The clock commits' arrivals are recorded at, unix milliseconds; `None`: the system
    /// clock. Tests whose agents decide at virtual times give the hub the same clock.
    pub arrival_clock: Option<std::sync::Arc<std::sync::atomic::AtomicI64>>,
}

impl Options {
    /// Refuses what cannot be served: an open hub ([`Options::open_on_loopback`]) on an address
    /// other hosts can reach.
    pub fn check(&self) -> Result<()> {
        open_only_on_loopback(self.open_on_loopback, self.listen)
    }
}

/// An open hub lets anyone who reaches it read the whole fleet, so it must listen on loopback.
pub(crate) fn open_only_on_loopback(open: bool, listen: SocketAddr) -> Result<()> {
    if open && !listen.ip().is_loopback() {
        anyhow::bail!(
            "--open-on-loopback serves the views without a viewer token, so it needs a loopback --listen \
             address (127.0.0.1 or [::1]), not {listen}"
        );
    }
    Ok(())
}

/// A report on its way to the ingest task, and where its outcome goes.
pub(crate) type Job = (Incoming, oneshot::Sender<Result<Ingested, String>>);

/// A rollout's progress and when it was computed (unix milliseconds).
type Computed = (i64, Arc<Progress>);

/// What every request handler shares.
#[derive(Debug)]
pub struct Hub {
    store: Store,
    pub(crate) index: RwLock<Index>,
    pub(crate) fleet: RwLock<Option<Arc<FleetView>>>,
    pub(crate) fleet_error: RwLock<Option<String>>,
    pub(crate) ingest: mpsc::Sender<Job>,
    pub(crate) changed: Notify,
    pub(crate) options: Options,
    viewer_tokens: BTreeSet<String>,
    pub(crate) ready: AtomicBool,
    pub(crate) stored: AtomicU64,
    pub(crate) ignored: AtomicU64,
    pub(crate) refused: AtomicU64,
    /// Rollout progress by (environment, placement), with when it was computed.
    rollouts: std::sync::Mutex<HashMap<(String, String), Computed>>,
    /// The standings and compliance over time (see [`crate::trends`]).
    trends: std::sync::Mutex<crate::trends::Trends>,
}

impl Hub {
    /// A hub over `store`, its index empty until [`Hub::refresh`]; reports go to `ingest`.
    pub(crate) fn new(
        options: Options,
        store: Store,
        viewer_tokens: BTreeSet<String>,
        ingest: mpsc::Sender<Job>,
    ) -> Hub {
        let offline_after_ms = i64::try_from(options.offline_after.as_millis()).unwrap_or(i64::MAX);
        Hub {
            store,
            index: RwLock::new(Index::new(offline_after_ms)),
            fleet: RwLock::new(None),
            fleet_error: RwLock::new(None),
            ingest,
            changed: Notify::new(),
            options,
            viewer_tokens,
            ready: AtomicBool::new(false),
            stored: AtomicU64::new(0),
            ignored: AtomicU64::new(0),
            refused: AtomicU64::new(0),
            rollouts: std::sync::Mutex::default(),
            trends: std::sync::Mutex::default(),
        }
    }
}

impl Hub {
    /// Takes every change of the store since the index last looked, and moves the index's
    /// clock to now.
    pub(crate) async fn refresh(&self) -> Result<()> {
        loop {
            let since = self.index.read().expect("not poisoned").change;
            let rows = self.store.changed_since(since, 10_000).await?;
            let mut index = self.index.write().expect("not poisoned");
            for row in &rows {
                index.change = index.change.max(row.change);
                index.update(&Row::from(row));
            }
            index.advance(Hub::now_ms());
            if rows.is_empty() {
                return Ok(());
            }
        }
    }

    /// Takes the reports a batch just stored into the index, when nothing of the store before
    /// them is missing from it (this process wrote the last changes, as with one hub on
    /// SQLite); else leaves them to [`Hub::refresh`], which reads them back. True when taken.
    pub(crate) fn apply(&self, batch: &[Incoming], results: &[Result<Ingested, store::IngestError>]) -> bool {
        let stored: Vec<(i64, &Incoming)> = results
            .iter()
            .zip(batch)
            .filter_map(|(r, incoming)| match r {
                Ok(Ingested::Stored { change }) => Some((*change, incoming)),
                _ => None,
            })
            .collect();
        let Some(first) = stored.iter().map(|(c, _)| *c).min() else { return true };
        let mut index = self.index.write().expect("not poisoned");
        if first > index.change + 1 {
            return false;
        }
        for (change, incoming) in &stored {
            if !index.apply(&incoming.report.cluster, *change, incoming.received_at_ms, &incoming.report) {
                return false;
            }
            index.change = index.change.max(*change);
        }
        index.advance(Hub::now_ms());
        true
    }

    /// Samples the trends, when a sample is due.
    pub(crate) fn sample(&self) {
        let index = self.index();
        self.trends.lock().expect("not poisoned").record(Hub::now_ms(), &index);
    }

    /// The trends as sampled so far.
    pub(crate) fn trends(&self) -> crate::trends::Trends {
        self.trends.lock().expect("not poisoned").clone()
    }

    pub(crate) fn now_ms() -> i64 {
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
        i64::try_from(now.as_millis()).unwrap_or(i64::MAX)
    }

    /// Whether the request carries a viewer token, or needs none (an open hub).
    pub(crate) async fn viewer(&self, headers: &HeaderMap) -> Result<(), Error> {
        if self.open() {
            return Ok(());
        }
        let Some(token) = bearer(headers) else {
            return Err(Error::new(StatusCode::UNAUTHORIZED, "a viewer token is needed (Authorization: Bearer)"));
        };
        match self.viewer_allowed(token).await {
            Ok(true) => Ok(()),
            Ok(false) => Err(Error::new(StatusCode::UNAUTHORIZED, "unknown viewer token")),
            Err(e) => Err(Error::unavailable(e)),
        }
    }
}

/// What the dashboard reads: the same index, fleet view and viewer check as the API.
impl Hub {
    /// Lets a viewer through, or a registered cluster (with its own token): what an agent may
    /// read of the fleet, rollout progress, has no other cluster's name in it.
    pub(crate) async fn viewer_or_cluster(&self, headers: &HeaderMap) -> Result<(), Error> {
        if let Some(token) = bearer(headers)
            && token.starts_with(store::CLUSTER_PREFIX)
        {
            return self.cluster_of(token).await.map(drop);
        }
        self.viewer(headers).await
    }

    /// The cluster whose token `token` is: from the index, or from the store when it was
    /// registered since the index last read it.
    pub(crate) async fn cluster_of(&self, token: &str) -> Result<String, Error> {
        if let Some(cluster) = self.index().cluster_for_token(&store::token_digest(token)) {
            return Ok(cluster.to_string());
        }
        match self.store.cluster_for_token(token).await {
            Ok(Some(cluster)) => Ok(cluster),
            Ok(None) => Err(Error::new(StatusCode::UNAUTHORIZED, "unknown cluster token")),
            Err(e) => Err(Error::unavailable(e)),
        }
    }

    /// A rollout progress computed less than `progress::FRESH_MS` before `now_ms`.
    pub(crate) fn cached_progress(&self, key: &(String, String), now_ms: i64) -> Option<Arc<Progress>> {
        let cache = self.rollouts.lock().expect("not poisoned");
        let (at, progress) = cache.get(key)?;
        (now_ms.saturating_sub(*at) < crate::progress::FRESH_MS && *at <= now_ms).then(|| Arc::clone(progress))
    }

    pub(crate) fn cache_progress(&self, key: (String, String), now_ms: i64, progress: Arc<Progress>) {
        let mut cache = self.rollouts.lock().expect("not poisoned");
        cache.retain(|_, (at, _)| now_ms.saturating_sub(*at) < crate::progress::FRESH_MS);
        cache.insert(key, (now_ms, progress));
    }

    /// Whether `token` may read: one of `--viewer-token-file`'s, or one the store issued.
    pub(crate) async fn viewer_allowed(&self, token: &str) -> Result<bool, store::Error> {
        if self.viewer_tokens.contains(token) {
            return Ok(true);
        }
        self.store.viewer_allowed(token).await
    }

    /// Whether reads need no viewer token ([`Options::open_on_loopback`]).
    pub(crate) fn open(&self) -> bool {
        self.options.open_on_loopback
    }

    pub(crate) fn index(&self) -> std::sync::RwLockReadGuard<'_, Index> {
        self.index.read().expect("not poisoned")
    }

    pub(crate) fn store(&self) -> &Store {
        &self.store
    }

    pub(crate) fn fleet_view(&self) -> Option<Arc<FleetView>> {
        self.fleet.read().expect("not poisoned").clone()
    }
}

/// The bearer token of a request.
pub(crate) fn bearer(headers: &HeaderMap) -> Option<&str> {
    headers.get(header::AUTHORIZATION)?.to_str().ok()?.strip_prefix("Bearer ").map(str::trim)
}

/// An error answer of the JSON API: its status, and `{"error": …, "field": …}` ([`Problem`]),
/// `field` naming the part of the request at fault.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error {
    pub status: StatusCode,
    pub message: String,
    pub field: Option<String>,
}

impl Error {
    pub fn new(status: StatusCode, message: impl Into<String>) -> Error {
        Error { status, message: message.into(), field: None }
    }

    /// The same error, naming the request's `field`.
    #[must_use]
    pub fn field(mut self, field: impl Into<String>) -> Error {
        self.field = Some(field.into());
        self
    }

    /// The store (or another part the hub relies on) failed: 503.
    pub fn unavailable(e: impl std::fmt::Display) -> Error {
        Error::new(StatusCode::SERVICE_UNAVAILABLE, e.to_string())
    }

    /// The request is wrong: 400, naming `field`.
    pub fn bad_request(message: impl Into<String>, field: impl Into<String>) -> Error {
        Error::new(StatusCode::BAD_REQUEST, message).field(field)
    }
}

impl IntoResponse for Error {
    fn into_response(self) -> Response {
        let body = Problem { error: self.message, field: self.field };
        (self.status, Json(body)).into_response()
    }
}

/// A request a viewer may make: it carries a viewer token, or the hub is open.
#[derive(Debug, Clone, Copy)]
pub struct Viewer;

impl FromRequestParts<Arc<Hub>> for Viewer {
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, hub: &Arc<Hub>) -> Result<Viewer, Error> {
        hub.viewer(&parts.headers).await.map(|()| Viewer)
    }
}

/// A request a viewer or a registered cluster (with its own token) may make: what an agent may
/// read of the fleet (rollout progress, arrivals) has no other cluster's name in it.
#[derive(Debug, Clone, Copy)]
pub struct ViewerOrCluster;

impl FromRequestParts<Arc<Hub>> for ViewerOrCluster {
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, hub: &Arc<Hub>) -> Result<ViewerOrCluster, Error> {
        hub.viewer_or_cluster(&parts.headers).await.map(|()| ViewerOrCluster)
    }
}

/// The cluster whose token the request carries (an agent's report). A missing or unknown token
/// is counted as a refused report.
#[derive(Debug, Clone)]
pub struct ClusterToken(pub String);

impl FromRequestParts<Arc<Hub>> for ClusterToken {
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, hub: &Arc<Hub>) -> Result<ClusterToken, Error> {
        let refused = |e: Error| {
            hub.refused.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            e
        };
        let Some(token) = bearer(&parts.headers) else {
            return Err(refused(Error::new(
                StatusCode::UNAUTHORIZED,
                "a cluster token is needed (Authorization: Bearer)",
            )));
        };
        match hub.cluster_of(token).await {
            Ok(cluster) => Ok(ClusterToken(cluster)),
            Err(e) if e.status == StatusCode::UNAUTHORIZED => Err(refused(e)),
            Err(e) => Err(e),
        }
    }
}

/// The join token a registration carries.
#[derive(Debug, Clone)]
pub struct JoinToken(pub String);

impl FromRequestParts<Arc<Hub>> for JoinToken {
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, _: &Arc<Hub>) -> Result<JoinToken, Error> {
        match bearer(&parts.headers) {
            Some(token) => Ok(JoinToken(token.to_string())),
            None => Err(Error::new(StatusCode::UNAUTHORIZED, "a join token is needed (Authorization: Bearer)")),
        }
    }
}

impl From<&store::ClusterRow> for Row {
    fn from(row: &store::ClusterRow) -> Row {
        Row {
            name: row.name.clone(),
            environment: row.environment.clone(),
            labels: row.labels.clone(),
            token_hash: Some(row.token_hash),
            registered_at_ms: row.registered_at_ms,
            last_report_at_ms: row.last_report_at_ms,
            last_report: row.last_report.clone(),
            change: row.change,
            kubernetes: row.kubernetes.clone(),
        }
    }
}
