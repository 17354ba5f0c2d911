//! `hub-index serve`: the hub as a running server — [`start`] opens the store, loads the index
//! and starts the background tasks (one ingest task that writes reports in batches, one
//! transaction each, which is how SQLite takes tens of thousands a second; the follower of the
//! store's change numbers, so several hub processes sharing one PostgreSQL each see every report;
//! the poller of the fleet repository, recording when commits reached their branches), and
//! [`router`] maps the routes to the JSON handlers (`http`) and the pages (`dashboard`). The hub
//! never connects to a cluster.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use anyhow::{Context as _, Result};
use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post};
use flotilla_core::register;
use tokio::sync::mpsc;

pub use crate::app::Options;
use crate::app::{Hub, Job, open_only_on_loopback};
use crate::git_view::FleetView;
use crate::store::{self, Incoming, Store};
use crate::{dashboard, http, views};

/// How many reports one ingest transaction takes at most.
const BATCH: usize = 2_000;

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
    tracing::info!("listening on http://{}", listener.local_addr()?);
    if open {
        tracing::warn!("--open-on-loopback: the views need no viewer token (reports still need a cluster's)");
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
    let hub = Arc::new(Hub::new(options, store, viewer_tokens, ingest));
    hub.refresh().await?;
    hub.sample();
    hub.ready.store(true, Ordering::SeqCst);
    tokio::spawn(ingest_loop(hub.clone(), jobs));
    tokio::spawn(refresh_loop(hub.clone()));
    tokio::spawn(fleet_loop(hub.clone()));
    Ok(hub)
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
        let results = hub.store().ingest_with(&incoming, &catalog).await;
        // Into the index before the answers, so an agent that was told "stored" and then reads
        // a view sees its report: taken directly, or — when the index lacks a change before them
        // (a registration it has not read yet, another hub process's write) — read back first.
        if !hub.apply(&incoming, &results)
            && let Err(e) = hub.refresh().await
        {
            tracing::error!("reading the store: {e:#}");
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
            tracing::error!("reading the store: {e:#}");
        }
        hub.sample();
    }
}

/// Reads the fleet repository again and again; the declared clusters join the index.
async fn fleet_loop(hub: Arc<Hub>) {
    loop {
        let (cache, source, environments) =
            (hub.options.cache_dir.clone(), hub.options.fleet.clone(), hub.options.environments.clone());
        let chart_credentials = hub.options.chart_credentials.clone();
        let loaded = tokio::task::spawn_blocking(move || {
            let environments: Vec<&str> = environments.iter().map(String::as_str).collect();
            FleetView::load_with_charts(&cache, &source, chart_credentials, &environments)
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
                if let Err(e) = crate::arrivals::record(hub.store(), &mut view, now_ms).await {
                    tracing::error!("recording when commits reached their branches: {e}");
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
                tracing::error!("reading the fleet repository: {e:#}");
                *hub.fleet_error.write().expect("not poisoned") = Some(format!("{e:#}"));
            }
            Err(e) => tracing::error!("reading the fleet repository: {e}"),
        }
        tokio::time::sleep(hub.options.fleet_poll).await;
    }
}

/// The routes.
pub fn router(hub: Arc<Hub>) -> axum::Router {
    axum::Router::new()
        .route(
            register::REPORTS_PATH,
            post(http::agents::report).layer(DefaultBodyLimit::max(http::agents::MAX_REPORT_BYTES)),
        )
        .route(register::PATH, post(http::agents::register).layer(DefaultBodyLimit::max(16 * 1024)))
        .route("/api/v1/summary", get(http::views::summary))
        .route("/api/v1/clusters", get(http::views::clusters))
        .route("/api/v1/clusters/{name}", get(http::views::cluster))
        .route("/api/v1/lag", get(http::views::lag))
        .route("/api/v1/promotion", get(http::views::promotion))
        .route("/api/v1/compliance", get(http::views::compliance))
        .route("/api/v1/compliance/{policy}", get(http::views::compliance_policy))
        .route("/api/v1/evidence", get(http::evidence::evidence))
        .route("/api/v1/evidence/verify", get(http::evidence::verify))
        .route("/api/v1/audit", get(http::evidence::audit_view))
        .route("/api/v1/overrides", get(http::overrides::overrides))
        .route("/api/v1/rollouts/{placement}", get(http::progress::rollout))
        .route("/api/v1/arrivals/{repository}", get(http::progress::arrivals))
        .route("/api/v1/preview", get(http::preview::preview))
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(http::ops::readyz))
        .route("/metrics", get(http::ops::metrics))
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
