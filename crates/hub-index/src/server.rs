//! `hub-index serve`: the HTTP API (axum). Agents register and report; viewers read the views.
//!
//! Reports are checked here (size, schema, the token's cluster, the time) and then handed to one
//! ingest task that writes them in batches, one transaction each — how SQLite takes tens of
//! thousands a second. The in-memory index follows the store's change numbers, so several hub
//! processes sharing one PostgreSQL each see every report. The fleet repository is polled in
//! the background, recording when commits reached their branches (`arrivals`); the hub never
//! connects to a cluster.

use std::collections::{BTreeSet, HashMap};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use anyhow::{Context as _, Result};
use axum::Json;
use axum::extract::{DefaultBodyLimit, Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use flotilla_core::register;
use flotilla_core::report::Report;
use serde::Deserialize;
use tokio::sync::{Notify, mpsc, oneshot};

use crate::api::Behind;
use crate::api::Progress;
use crate::api::{
    BehindHead, ClusterDetail, FleetDetail, PlacementDetail, Problem, ReportAnswer, ReportLine, Standing,
};
use crate::dashboard;
use crate::fleet::FleetView;
use crate::index::{Index, Row};
use crate::store::{self, Incoming, Ingested, Store};
use crate::views::{self, Filter};

/// The largest report taken, in bytes.
pub const MAX_REPORT_BYTES: usize = 256 * 1024;

/// How far in the future a report's time may be (clocks drift).
const FUTURE_SLACK_MS: i64 = 5 * 60 * 1000;

/// How many reports one ingest transaction takes at most.
const BATCH: usize = 2_000;

/// How the hub is run.
#[derive(Debug, Clone)]
pub struct Options {
    pub db: String,
    pub fleet: flotilla_git::Source,
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
fn open_only_on_loopback(open: bool, listen: SocketAddr) -> Result<()> {
    if open && !listen.ip().is_loopback() {
        anyhow::bail!(
            "--open-on-loopback serves the views without a viewer token, so it needs a loopback --listen \
             address (127.0.0.1 or [::1]), not {listen}"
        );
    }
    Ok(())
}

type Job = (Incoming, oneshot::Sender<Result<Ingested, String>>);

/// A rollout's progress and when it was computed (unix milliseconds).
type Computed = (i64, Arc<Progress>);

/// What every request handler shares.
#[derive(Debug)]
pub struct Hub {
    store: Store,
    index: RwLock<Index>,
    fleet: RwLock<Option<Arc<FleetView>>>,
    fleet_error: RwLock<Option<String>>,
    ingest: mpsc::Sender<Job>,
    changed: Notify,
    options: Options,
    viewer_tokens: BTreeSet<String>,
    ready: AtomicBool,
    stored: AtomicU64,
    ignored: AtomicU64,
    refused: AtomicU64,
    /// Rollout progress by (environment, placement), with when it was computed.
    rollouts: std::sync::Mutex<HashMap<(String, String), Computed>>,
    /// The standings and compliance over time (see [`crate::trends`]).
    trends: std::sync::Mutex<crate::trends::Trends>,
}

/// Serves a started hub on `listener` until the task is dropped: a hub inside another
/// program's process (tests, simulations).
pub async fn serve_on(listener: tokio::net::TcpListener, hub: Arc<Hub>) -> std::io::Result<()> {
    open_only_on_loopback(hub.options.open_on_loopback, listener.local_addr()?).map_err(std::io::Error::other)?;
    axum::serve(listener, router(hub)).await
}

/// Runs the hub until SIGTERM or Ctrl-C.
pub async fn serve(options: Options) -> Result<()> {
    options.check()?;
    let listener = tokio::net::TcpListener::bind(options.listen)
        .await
        .with_context(|| format!("listening on {}", options.listen))?;
    let open = options.open_on_loopback;
    let hub = start(options).await?;
    eprintln!("hub-index: listening on http://{}", listener.local_addr()?);
    if open {
        eprintln!("hub-index: --open-on-loopback: the views need no viewer token (reports still need a cluster's)");
    }
    axum::serve(listener, router(hub))
        .with_graceful_shutdown(async {
            let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                () = async { if let Some(t) = term.as_mut() { t.recv().await; } else { std::future::pending::<()>().await } } => {}
            }
        })
        .await
        .context("serving")
}

/// Opens the store, loads the index and starts the background tasks.
pub async fn start(options: Options) -> Result<Arc<Hub>> {
    options.check()?;
    let store = Store::open(&options.db).await.with_context(|| format!("--db {}", options.db))?;
    let viewer_tokens = match &options.viewer_token_file {
        None => BTreeSet::new(),
        Some(path) => std::fs::read_to_string(path)
            .with_context(|| format!("--viewer-token-file {}", path.display()))?
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .map(ToString::to_string)
            .collect(),
    };
    let (ingest, jobs) = mpsc::channel::<Job>(BATCH * 4);
    let offline_after_ms = i64::try_from(options.offline_after.as_millis()).unwrap_or(i64::MAX);
    let hub = Arc::new(Hub {
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
    });
    hub.refresh().await?;
    hub.sample();
    hub.ready.store(true, Ordering::SeqCst);
    tokio::spawn(ingest_loop(hub.clone(), jobs));
    tokio::spawn(refresh_loop(hub.clone()));
    tokio::spawn(fleet_loop(hub.clone()));
    Ok(hub)
}

impl Hub {
    /// Takes every change of the store since the index last looked, and moves the index's
    /// clock to now.
    async fn refresh(&self) -> Result<()> {
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
    fn apply(&self, batch: &[Incoming], results: &[Result<Ingested, store::IngestError>]) -> bool {
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
    fn sample(&self) {
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
    pub(crate) async fn viewer(&self, headers: &HeaderMap) -> Result<(), Response> {
        if self.open() {
            return Ok(());
        }
        let Some(token) = bearer(headers) else {
            return Err(problem(StatusCode::UNAUTHORIZED, "a viewer token is needed (Authorization: Bearer)", None));
        };
        match self.viewer_allowed(token).await {
            Ok(true) => Ok(()),
            Ok(false) => Err(problem(StatusCode::UNAUTHORIZED, "unknown viewer token", None)),
            Err(e) => Err(problem(StatusCode::SERVICE_UNAVAILABLE, &e.to_string(), None)),
        }
    }
}

/// What the dashboard reads: the same index, fleet view and viewer check as the API.
impl Hub {
    /// Lets a viewer through, or a registered cluster (with its own token): what an agent may
    /// read of the fleet, rollout progress, has no other cluster's name in it.
    pub(crate) async fn viewer_or_cluster(&self, headers: &HeaderMap) -> Result<(), Response> {
        if let Some(token) = bearer(headers)
            && token.starts_with(store::CLUSTER_PREFIX)
        {
            if self.index().cluster_for_token(&store::token_digest(token)).is_some() {
                return Ok(());
            }
            return match self.store.cluster_for_token(token).await {
                Ok(Some(_)) => Ok(()),
                Ok(None) => Err(problem(StatusCode::UNAUTHORIZED, "unknown cluster token", None)),
                Err(e) => Err(problem(StatusCode::SERVICE_UNAVAILABLE, &e.to_string(), None)),
            };
        }
        self.viewer(headers).await
    }

    /// A rollout progress computed less than `rollouts::FRESH_MS` before `now_ms`.
    pub(crate) fn cached_progress(&self, key: &(String, String), now_ms: i64) -> Option<Arc<Progress>> {
        let cache = self.rollouts.lock().expect("not poisoned");
        let (at, progress) = cache.get(key)?;
        (now_ms.saturating_sub(*at) < crate::rollouts::FRESH_MS && *at <= now_ms).then(|| Arc::clone(progress))
    }

    pub(crate) fn cache_progress(&self, key: (String, String), now_ms: i64, progress: Arc<Progress>) {
        let mut cache = self.rollouts.lock().expect("not poisoned");
        cache.retain(|_, (at, _)| now_ms.saturating_sub(*at) < crate::rollouts::FRESH_MS);
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

async fn ingest_loop(hub: Arc<Hub>, mut jobs: mpsc::Receiver<Job>) {
    let mut batch: Vec<Job> = Vec::with_capacity(BATCH);
    while jobs.recv_many(&mut batch, BATCH).await > 0 {
        let (incoming, replies): (Vec<Incoming>, Vec<_>) = batch.drain(..).unzip();
        let fleet = hub.fleet_view();
        let catalog = |environment: &str, policy: &str| {
            let p = fleet.as_ref()?.environment(environment)?.policies.iter().find(|p| p.name() == policy)?;
            Some(store::PolicyMeta { standards: p.spec.standards.clone(), controls: p.spec.controls.clone() })
        };
        let results = hub.store.ingest_with(&incoming, &catalog).await;
        // Into the index before the answers, so an agent that was told "stored" and then reads
        // a view sees its report: taken directly, or — when the index lacks a change before them
        // (a registration it has not read yet, another hub process's write) — read back first.
        if !hub.apply(&incoming, &results)
            && let Err(e) = hub.refresh().await
        {
            eprintln!("hub-index: reading the store: {e:#}");
            hub.changed.notify_one();
        }
        for (reply, result) in replies.into_iter().zip(results) {
            let _ = reply.send(result.map_err(|e| e.to_string()));
        }
    }
}

/// Follows the store when an ingested batch could not be taken in directly, after a
/// registration, and every second for other hub processes' writes; moves the index's clock.
async fn refresh_loop(hub: Arc<Hub>) {
    loop {
        tokio::select! {
            () = hub.changed.notified() => {}
            () = tokio::time::sleep(Duration::from_secs(1)) => {}
        }
        if let Err(e) = hub.refresh().await {
            eprintln!("hub-index: reading the store: {e:#}");
        }
        hub.sample();
    }
}

/// Reads the fleet repository again and again; the declared clusters join the index.
async fn fleet_loop(hub: Arc<Hub>) {
    loop {
        let (cache, source, environments) =
            (hub.options.cache_dir.clone(), hub.options.fleet.clone(), hub.options.environments.clone());
        let loaded = tokio::task::spawn_blocking(move || {
            let environments: Vec<&str> = environments.iter().map(String::as_str).collect();
            FleetView::load(&cache, &source, &environments)
        })
        .await;
        match loaded {
            Ok(Ok(mut view)) => {
                // Published only with its arrivals recorded: a time kept in memory alone would
                // be lost at a restart and differ from other hub processes' (see `arrivals`).
                let now_ms = hub
                    .options
                    .arrival_clock
                    .as_ref()
                    .map_or_else(Hub::now_ms, |c| c.load(std::sync::atomic::Ordering::SeqCst));
                if let Err(e) = crate::arrivals::record(&hub.store, &mut view, now_ms).await {
                    eprintln!("hub-index: recording when commits reached their branches: {e}");
                    *hub.fleet_error.write().expect("not poisoned") =
                        Some(format!("recording when commits reached their branches: {e}"));
                    tokio::time::sleep(hub.options.fleet_poll).await;
                    continue;
                }
                let keys = views::selector_keys(view.environments().values().flat_map(|e| &e.policies));
                let mut index = hub.index.write().expect("not poisoned");
                index.set_declared(view.clusters());
                index.set_selector_keys(keys);
                drop(index);
                *hub.fleet.write().expect("not poisoned") = Some(Arc::new(view));
                *hub.fleet_error.write().expect("not poisoned") = None;
            }
            Ok(Err(e)) => {
                eprintln!("hub-index: reading the fleet repository: {e:#}");
                *hub.fleet_error.write().expect("not poisoned") = Some(format!("{e:#}"));
            }
            Err(e) => eprintln!("hub-index: reading the fleet repository: {e}"),
        }
        tokio::time::sleep(hub.options.fleet_poll).await;
    }
}

/// The routes.
pub fn router(hub: Arc<Hub>) -> axum::Router {
    axum::Router::new()
        .route(register::REPORTS_PATH, post(report).layer(DefaultBodyLimit::max(MAX_REPORT_BYTES)))
        .route(register::PATH, post(register_cluster).layer(DefaultBodyLimit::max(16 * 1024)))
        .route("/api/v1/summary", get(summary))
        .route("/api/v1/clusters", get(clusters))
        .route("/api/v1/clusters/{name}", get(cluster))
        .route("/api/v1/lag", get(lag))
        .route("/api/v1/promotion", get(promotion))
        .route("/api/v1/compliance", get(compliance))
        .route("/api/v1/compliance/{policy}", get(compliance_policy))
        .route("/api/v1/evidence", get(crate::audit::evidence))
        .route("/api/v1/evidence/verify", get(crate::audit::verify))
        .route("/api/v1/audit", get(crate::audit::audit_view))
        .route("/api/v1/overrides", get(crate::overrides::overrides_api))
        .route("/api/v1/rollouts/{placement}", get(crate::rollouts::rollout))
        .route("/api/v1/arrivals/{repository}", get(crate::arrivals::arrivals))
        .route("/api/v1/preview", get(crate::preview::preview_api))
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .route("/", get(dashboard::summary))
        .route("/clusters", get(dashboard::clusters))
        .route("/clusters/{name}", get(dashboard::cluster))
        .route("/lag", get(dashboard::lag))
        .route("/compliance", get(dashboard::compliance))
        .route("/compliance/{policy}", get(dashboard::compliance_policy))
        .route("/overrides", get(dashboard::overrides))
        .route("/preview", get(dashboard::preview))
        .route("/login", get(dashboard::login_form).post(dashboard::login).layer(DefaultBodyLimit::max(16 * 1024)))
        .route("/logout", post(dashboard::logout))
        .with_state(hub)
}

fn bearer(headers: &HeaderMap) -> Option<&str> {
    headers.get(header::AUTHORIZATION)?.to_str().ok()?.strip_prefix("Bearer ").map(str::trim)
}

/// An error answer: `{"error": …, "field": …}`.
pub(crate) fn problem(status: StatusCode, message: &str, field: Option<&str>) -> Response {
    let body = Problem { error: message.to_string(), field: field.map(ToString::to_string) };
    (status, Json(body)).into_response()
}

async fn report(State(hub): State<Arc<Hub>>, headers: HeaderMap, body: axum::body::Bytes) -> Response {
    let refuse = |status, message: &str, field: Option<&str>| {
        hub.refused.fetch_add(1, Ordering::Relaxed);
        problem(status, message, field)
    };
    let Some(token) = bearer(&headers) else {
        return refuse(StatusCode::UNAUTHORIZED, "a cluster token is needed (Authorization: Bearer)", None);
    };
    let known = hub.index().cluster_for_token(&store::token_digest(token)).map(ToString::to_string);
    let cluster = match known {
        Some(c) => c,
        // Registered since the index last read the store, or not at all.
        None => match hub.store.cluster_for_token(token).await {
            Ok(Some(c)) => c,
            Ok(None) => return refuse(StatusCode::UNAUTHORIZED, "unknown cluster token", None),
            Err(e) => return problem(StatusCode::SERVICE_UNAVAILABLE, &e.to_string(), None),
        },
    };
    // Parsed and validated.
    let parsed = match Report::from_json(&body) {
        Ok(r) => r,
        Err(e) => return refuse(StatusCode::BAD_REQUEST, &e.to_string(), Some(e.field())),
    };
    if parsed.cluster != cluster {
        let message = format!("the token is cluster {cluster:?}'s, the report is {:?}'s", parsed.cluster);
        return refuse(StatusCode::FORBIDDEN, &message, Some("cluster"));
    }
    let now = Hub::now_ms();
    if flotilla_core::calendar::unix_ms(&parsed.time).is_some_and(|t| t > now + FUTURE_SLACK_MS) {
        return refuse(StatusCode::BAD_REQUEST, "time is in the future", Some("time"));
    }
    // It parsed, so it is UTF-8; the buffer is reused when nothing else holds it.
    let json =
        String::from_utf8(Vec::from(body)).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned());
    let sequence = parsed.sequence;
    let (reply, answer) = oneshot::channel();
    let incoming = Incoming { token_cluster: cluster, report: parsed, json, received_at_ms: now };
    if hub.ingest.send((incoming, reply)).await.is_err() {
        return problem(StatusCode::SERVICE_UNAVAILABLE, "the hub is stopping", None);
    }
    match answer.await {
        Ok(Ok(Ingested::Stored { .. })) => {
            hub.stored.fetch_add(1, Ordering::Relaxed);
            (StatusCode::OK, Json(ReportAnswer { status: "stored".into(), sequence, reason: None })).into_response()
        }
        Ok(Ok(Ingested::Ignored)) => {
            hub.ignored.fetch_add(1, Ordering::Relaxed);
            let reason = "replayed or out of order: a report with this or a later sequence was stored";
            let body = ReportAnswer { status: "ignored".into(), sequence, reason: Some(reason.into()) };
            (StatusCode::OK, Json(body)).into_response()
        }
        Ok(Err(e)) => refuse(StatusCode::CONFLICT, &e, None),
        Err(_) => problem(StatusCode::SERVICE_UNAVAILABLE, "the hub is stopping", None),
    }
}

async fn register_cluster(State(hub): State<Arc<Hub>>, headers: HeaderMap, body: axum::body::Bytes) -> Response {
    let Some(join_token) = bearer(&headers) else {
        return problem(StatusCode::UNAUTHORIZED, "a join token is needed (Authorization: Bearer)", None);
    };
    let request: register::Request = match serde_json::from_slice(&body) {
        Ok(r) => r,
        Err(e) => return problem(StatusCode::BAD_REQUEST, &format!("not a registration: {e}"), None),
    };
    match hub.store.register(join_token, &request).await {
        Ok(response) => {
            hub.changed.notify_one();
            (StatusCode::OK, Json(response)).into_response()
        }
        Err(e) => {
            let status = match &e {
                store::RegisterError::Unauthorized => StatusCode::UNAUTHORIZED,
                store::RegisterError::Forbidden { .. } => StatusCode::FORBIDDEN,
                store::RegisterError::Invalid(_) => StatusCode::BAD_REQUEST,
                store::RegisterError::Store(_) => StatusCode::SERVICE_UNAVAILABLE,
            };
            problem(status, &e.to_string(), None)
        }
    }
}

async fn summary(State(hub): State<Arc<Hub>>, headers: HeaderMap) -> Response {
    if let Err(r) = hub.viewer(&headers).await {
        return r;
    }
    let summary = views::summary(&hub.index());
    Json(summary).into_response()
}

#[derive(Debug, Deserialize)]
struct ListQuery {
    state: Option<String>,
    environment: Option<String>,
    labels: Option<String>,
    placement: Option<String>,
    #[serde(default)]
    offset: usize,
    limit: Option<usize>,
}

fn page_limit(limit: Option<usize>) -> usize {
    limit.unwrap_or(100).clamp(1, 1_000)
}

async fn clusters(State(hub): State<Arc<Hub>>, headers: HeaderMap, Query(q): Query<ListQuery>) -> Response {
    if let Err(r) = hub.viewer(&headers).await {
        return r;
    }
    let standing = match q.state.as_deref().map(|s| Standing::parse(s).ok_or(s)) {
        None => None,
        Some(Ok(s)) => Some(s),
        Some(Err(s)) => return problem(StatusCode::BAD_REQUEST, &format!("no state {s:?}"), Some("state")),
    };
    let labels = match Filter::parse_labels(q.labels.as_deref().unwrap_or_default()) {
        Ok(l) => l,
        Err(e) => return problem(StatusCode::BAD_REQUEST, &e, Some("labels")),
    };
    let filter = Filter { standing, environment: q.environment, labels, placement: q.placement, name: None };
    let page = views::clusters(&hub.index(), &filter, q.offset, page_limit(q.limit));
    Json(page).into_response()
}

async fn cluster(State(hub): State<Arc<Hub>>, headers: HeaderMap, Path(name): Path<String>) -> Response {
    if let Err(r) = hub.viewer(&headers).await {
        return r;
    }
    match cluster_detail(&hub, &name).await {
        Ok(detail) => Json(detail).into_response(),
        Err((status, message)) => problem(status, &message, None),
    }
}

/// A cluster's latest state as `GET /api/v1/clusters/{name}` answers it; the dashboard's detail
/// page renders the same value: its standing, the fleet commit it runs (`fleet`: commit, head
/// when the branch is elsewhere, state, message, who signed it; null when its report does not
/// say), its placements (each with who signed its source commit), its policy results and their
/// history, and the overrides it ran. The one view that asks the store (the last report in full and
/// the history), so it is for one cluster at a time.
pub(crate) async fn cluster_detail(hub: &Hub, name: &str) -> Result<ClusterDetail, (StatusCode, String)> {
    let (standing, declared, environment, labels) = {
        let index = hub.index.read().expect("not poisoned");
        let Some(entry) = index.get(name) else {
            return Err((StatusCode::NOT_FOUND, format!("no cluster {name:?}")));
        };
        let labels: std::collections::BTreeMap<String, String> =
            entry.labels.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        (index.standing(entry), entry.declared, entry.environment.to_string(), labels)
    };
    let unavailable = |e: store::Error| (StatusCode::SERVICE_UNAVAILABLE, e.to_string());
    let row = hub.store.cluster(name).await.map_err(unavailable)?;
    let history = hub.store.reports(name, 20).await.map_err(unavailable)?;
    let filter =
        store::EvidenceFilter { cluster: Some(name.to_string()), limit: 20, newest_first: true, ..Default::default() };
    let policy_history = hub.store.evidence(&filter).await.map_err(unavailable)?;
    let filter =
        store::OverrideFilter { cluster: Some(name.to_string()), limit: 20, newest_first: true, ..Default::default() };
    let overrides = hub.store.overrides(&filter).await.map_err(unavailable)?;
    let report = row.as_ref().and_then(|r| r.last_report.clone());
    let fleet = hub.fleet.read().expect("not poisoned").clone();
    let placements = report
        .iter()
        .flat_map(|r| &r.placements)
        .map(|p| {
            let behind = p.applied_commit.as_deref().and_then(|c| {
                let lag = fleet.as_ref()?.lag(&environment, &p.name, c);
                let head = lag.head.map(|h| h.to_string());
                Some(BehindHead { head, commits: lag.commits_behind, since: lag.behind_since })
            });
            PlacementDetail {
                name: p.name.clone(),
                state: p.state,
                health: p.health,
                applied_commit: p.applied_commit.clone(),
                applied_digest: p.applied_digest.clone(),
                desired_commit: p.source_commit.clone(),
                desired_digest: p.desired_digest.clone(),
                signer: p.signer.clone(),
                message: p.message.clone(),
                objects: p.objects.clone(),
                images: p.images.clone(),
                behind,
            }
        })
        .collect();
    let reports = history
        .iter()
        .map(|r| ReportLine { sequence: r.sequence, time_ms: r.time_ms, received_at_ms: r.received_at_ms })
        .collect();
    let fleet = report.as_ref().and_then(|r| r.fleet.as_ref()).map(|f| FleetDetail {
        commit: f.commit.clone(),
        head: f.head.clone(),
        state: f.state,
        message: f.message.clone(),
        signer: f.signer.clone(),
    });
    Ok(ClusterDetail {
        name: name.to_string(),
        environment,
        labels,
        state: standing,
        declared,
        registered: row.is_some(),
        last_report_at_ms: row.as_ref().and_then(|r| r.last_report_at_ms),
        last_sequence: row.as_ref().map(|r| r.last_sequence),
        fleet,
        placements,
        policies: report.as_ref().map(|r| r.policies.clone()).unwrap_or_default(),
        reports,
        policy_history: policy_history.iter().map(crate::audit::row_json).collect(),
        overrides: overrides.iter().map(crate::overrides::row_json).collect(),
    })
}

#[derive(Debug, Deserialize)]
struct LagQuery {
    placement: String,
    environment: Option<String>,
    #[serde(default)]
    offset: usize,
    limit: Option<usize>,
}

async fn lag(State(hub): State<Arc<Hub>>, headers: HeaderMap, Query(q): Query<LagQuery>) -> Response {
    if let Err(r) = hub.viewer(&headers).await {
        return r;
    }
    let Some(fleet) = hub.fleet.read().expect("not poisoned").clone() else {
        return problem(StatusCode::SERVICE_UNAVAILABLE, "the fleet repository has not been read yet", None);
    };
    let environment = q.environment.unwrap_or_else(|| "prod".to_string());
    let Some(head) = fleet.source_branch(&environment, &q.placement).and_then(|b| b.head).map(|h| h.to_string()) else {
        let message = format!("no placement {:?} in environment {environment:?}", q.placement);
        return problem(StatusCode::NOT_FOUND, &message, Some("placement"));
    };
    let behind = |commit: &str| {
        let lag = fleet.lag(&environment, &q.placement, commit);
        Behind { commits: lag.commits_behind, since: lag.behind_since }
    };
    let ledger = views::ledger(&hub.index(), &q.placement, &environment, &head, &behind, q.offset, page_limit(q.limit));
    Json(ledger).into_response()
}

async fn promotion(State(hub): State<Arc<Hub>>, headers: HeaderMap) -> Response {
    if let Err(r) = hub.viewer(&headers).await {
        return r;
    }
    let Some(fleet) = hub.fleet.read().expect("not poisoned").clone() else {
        return problem(StatusCode::SERVICE_UNAVAILABLE, "the fleet repository has not been read yet", None);
    };
    Json(fleet.promotions().clone()).into_response()
}

#[derive(Debug, Deserialize)]
struct ComplianceQuery {
    environment: Option<String>,
    labels: Option<String>,
    #[serde(default)]
    offset: usize,
    limit: Option<usize>,
}

/// The fleet as last read, when it has `environment`: the compliance views take the policies
/// from that environment's fleet branch. Otherwise the status and message to answer.
pub(crate) fn fleet_with(hub: &Hub, environment: &str) -> Result<Arc<FleetView>, (StatusCode, String)> {
    let Some(fleet) = hub.fleet_view() else {
        return Err((StatusCode::SERVICE_UNAVAILABLE, "the fleet repository has not been read yet".to_string()));
    };
    if fleet.environment(environment).is_none() {
        let followed: Vec<&str> = fleet.environments().keys().map(String::as_str).collect();
        let message = format!("no environment {environment:?}: the hub follows {}", followed.join(", "));
        return Err((StatusCode::NOT_FOUND, message));
    }
    Ok(fleet)
}

/// What both compliance views check first: the viewer, the label filter, and the environment's
/// fleet branch (default `prod`).
async fn compliance_scope(
    hub: &Hub,
    headers: &HeaderMap,
    q: &ComplianceQuery,
) -> Result<(Vec<(String, String)>, String, Arc<FleetView>), Response> {
    hub.viewer(headers).await?;
    let labels = Filter::parse_labels(q.labels.as_deref().unwrap_or_default())
        .map_err(|e| problem(StatusCode::BAD_REQUEST, &e, Some("labels")))?;
    let environment = q.environment.clone().unwrap_or_else(|| "prod".to_string());
    let fleet = fleet_with(hub, &environment).map_err(|(status, message)| {
        problem(status, &message, (status == StatusCode::NOT_FOUND).then_some("environment"))
    })?;
    Ok((labels, environment, fleet))
}

/// `GET /api/v1/compliance?environment=prod&labels=k=v,…`: standards → controls → policies.
async fn compliance(State(hub): State<Arc<Hub>>, headers: HeaderMap, Query(q): Query<ComplianceQuery>) -> Response {
    let (labels, environment, fleet) = match compliance_scope(&hub, &headers, &q).await {
        Ok(scope) => scope,
        Err(r) => return r,
    };
    let env = fleet.environment(&environment).expect("compliance_scope checked it");
    let mut view = views::compliance(&hub.index(), &environment, &env.policies, &labels);
    view.fleet_error.clone_from(&env.error);
    Json(view).into_response()
}

/// `GET /api/v1/compliance/{policy}?environment=prod&labels=&offset=&limit=`: one policy and
/// its non-compliant clusters.
async fn compliance_policy(
    State(hub): State<Arc<Hub>>,
    headers: HeaderMap,
    Path(policy): Path<String>,
    Query(q): Query<ComplianceQuery>,
) -> Response {
    let (labels, environment, fleet) = match compliance_scope(&hub, &headers, &q).await {
        Ok(scope) => scope,
        Err(r) => return r,
    };
    let env = fleet.environment(&environment).expect("compliance_scope checked it");
    let definition = env.policies.iter().find(|p| p.name() == policy);
    let limit = page_limit(q.limit);
    match views::compliance_policy(&hub.index(), &environment, &policy, definition, &labels, q.offset, limit) {
        Some(view) => Json(view).into_response(),
        None => problem(StatusCode::NOT_FOUND, &no_policy(&policy, &environment), Some("policy")),
    }
}

/// Why a policy has no page.
pub(crate) fn no_policy(policy: &str, environment: &str) -> String {
    format!(
        "no policy {policy:?} in environment {environment:?}: its fleet branch does not declare it and no cluster reports it"
    )
}

async fn readyz(State(hub): State<Arc<Hub>>) -> Response {
    if !hub.ready.load(Ordering::SeqCst) {
        return (StatusCode::SERVICE_UNAVAILABLE, "starting\n").into_response();
    }
    match hub.store.clusters_count().await {
        Ok(_) => (StatusCode::OK, "ready\n").into_response(),
        Err(e) => (StatusCode::SERVICE_UNAVAILABLE, format!("store: {e}\n")).into_response(),
    }
}

async fn metrics(State(hub): State<Arc<Hub>>) -> Response {
    use std::fmt::Write as _;
    let s = views::summary(&hub.index());
    let mut out = String::new();
    let _ = writeln!(out, "# HELP flotilla_hub_clusters Clusters known to the hub, by standing.");
    let _ = writeln!(out, "# TYPE flotilla_hub_clusters gauge");
    for (standing, n) in &s.by_standing {
        let _ = writeln!(out, "flotilla_hub_clusters{{standing=\"{standing}\"}} {n}");
    }
    let _ = writeln!(out, "# HELP flotilla_hub_reports_total Reports received, by outcome.");
    let _ = writeln!(out, "# TYPE flotilla_hub_reports_total counter");
    for (outcome, n) in [("stored", &hub.stored), ("ignored", &hub.ignored), ("refused", &hub.refused)] {
        let _ = writeln!(out, "flotilla_hub_reports_total{{outcome=\"{outcome}\"}} {}", n.load(Ordering::Relaxed));
    }
    let fleet_ok = u8::from(hub.fleet_error.read().expect("not poisoned").is_none());
    let _ = writeln!(out, "# HELP flotilla_hub_fleet_read_ok Whether the last read of the fleet repository worked.");
    let _ = writeln!(out, "# TYPE flotilla_hub_fleet_read_ok gauge");
    let _ = writeln!(out, "flotilla_hub_fleet_read_ok {fleet_ok}");
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], out).into_response()
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
        }
    }
}
