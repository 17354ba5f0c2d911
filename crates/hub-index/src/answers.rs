//! What the hub answers from its state, for the JSON API (`http`) and the pages (`dashboard`)
//! alike: one cluster's detail (the one view that reads the store), a rollout's progress now
//! (cached), a preview (rendered off the async runtime), the overrides, and the fleet of an
//! environment. Each is a [`Hub`] read and a pure computation; errors are [`Error`]s.

use std::sync::Arc;

use axum::http::StatusCode;
use flotilla_core::rollout::Arrivals;

use crate::api::{
    BehindHead, ClusterDetail, FleetDetail, OverrideGroup, PlacementDetail, Preview, Progress, ReportLine,
};
use crate::app::{Error, Hub};
use crate::audit::parse_time;
use crate::git_view::{FleetView, PreviewError};
use crate::overrides::Filter;
use crate::progress::progress;
use crate::store::{self, OverrideFilter};

/// A cluster's latest state as `GET /api/v1/clusters/{name}` answers it; the dashboard's detail
/// page renders the same value: its standing, the fleet commit it runs (`fleet`: commit, head
/// when the branch is elsewhere, state, message, who signed it; null when its report does not
/// say), its placements (each with who signed its source commit), its policy results and their
/// history, and the overrides it ran. The one view that asks the store (the last report in full and
/// the history), so it is for one cluster at a time.
pub async fn cluster_detail(hub: &Hub, name: &str) -> Result<ClusterDetail, Error> {
    let (standing, declared, environment, labels) = {
        let index = hub.index();
        let Some(entry) = index.get(name) else {
            return Err(Error::new(StatusCode::NOT_FOUND, format!("no cluster {name:?}")));
        };
        let labels: std::collections::BTreeMap<String, String> =
            entry.labels.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        (index.standing(entry), entry.declared, entry.environment.to_string(), labels)
    };
    let row = hub.store().cluster(name).await.map_err(Error::unavailable)?;
    let history = hub.store().reports(name, 20).await.map_err(Error::unavailable)?;
    let filter =
        store::EvidenceFilter { cluster: Some(name.to_string()), limit: 20, newest_first: true, ..Default::default() };
    let policy_history = hub.store().evidence(&filter).await.map_err(Error::unavailable)?;
    let filter =
        store::OverrideFilter { cluster: Some(name.to_string()), limit: 20, newest_first: true, ..Default::default() };
    let overrides = hub.store().overrides(&filter).await.map_err(Error::unavailable)?;
    let report = row.as_ref().and_then(|r| r.last_report.clone());
    let fleet = hub.fleet_view();
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
        kubernetes_version: row.as_ref().and_then(|r| r.kubernetes.as_ref()).map(|k| k.version.clone()),
        fleet,
        placements,
        policies: report.as_ref().map(|r| r.policies.clone()).unwrap_or_default(),
        reports,
        policy_history: policy_history.iter().map(crate::audit::row_json).collect(),
        overrides: overrides.iter().map(crate::overrides::row_json).collect(),
    })
}

/// The fleet as last read, when it has `environment`: the compliance views take the policies
/// from that environment's fleet branch. Otherwise why not (naming the `environment` it lacks).
pub fn fleet_with(hub: &Hub, environment: &str) -> Result<Arc<FleetView>, Error> {
    let Some(fleet) = hub.fleet_view() else {
        return Err(Error::unavailable("the fleet repository has not been read yet"));
    };
    if fleet.environment(environment).is_none() {
        let followed: Vec<&str> = fleet.environments().keys().map(String::as_str).collect();
        let message = format!("no environment {environment:?}: the hub follows {}", followed.join(", "));
        return Err(Error::new(StatusCode::NOT_FOUND, message).field("environment"));
    }
    Ok(fleet)
}

/// Why a policy has no page.
pub fn no_policy(policy: &str, environment: &str) -> String {
    format!(
        "no policy {policy:?} in environment {environment:?}: its fleet branch does not declare it and no cluster reports it"
    )
}

/// [`progress`] of a placement the fleet declares in `environment`, now, from the hub's index,
/// the source branch's history as the fleet view holds it and the store's failures; `None` for
/// an unknown placement. Served from the hub's cache when computed less than [`FRESH_MS`](crate::progress::FRESH_MS) ago.
pub async fn progress_now(
    hub: &Hub,
    fleet: &FleetView,
    environment: &str,
    placement: &str,
) -> Result<Option<Arc<Progress>>, crate::store::Error> {
    let Some(source) = fleet.placement(environment, placement) else { return Ok(None) };
    let now_ms = Hub::now_ms();
    let key = (environment.to_string(), placement.to_string());
    if let Some(fresh) = hub.cached_progress(&key, now_ms) {
        return Ok(Some(fresh));
    }
    let halting = source.placement.spec.rollout.as_ref().is_some_and(|r| r.halt.is_some());
    let failures = if halting { hub.store().rollout_failures(environment, placement).await? } else { Vec::new() };
    let branch = fleet.source_branch(environment, placement);
    let history = branch.map_or(&[][..], |b| b.history.as_slice());
    let empty = Arrivals::default();
    let arrivals = branch.map_or(&empty, crate::git_view::Branch::arrivals);
    let view =
        Arc::new(progress(&hub.index(), &source.placement, environment, history, arrivals, &failures, now_ms / 1_000));
    hub.cache_progress(key, now_ms, Arc::clone(&view));
    Ok(Some(view))
}

/// The preview as the API and the dashboard answer it: the index's clusters of `environment`
/// copied under its lock, then rendered off the async runtime.
pub async fn preview(hub: &Hub, environment: String, repository: String, reference: String) -> Result<Preview, Error> {
    let Some(fleet) = hub.fleet_view() else {
        return Err(Error::unavailable("the fleet repository has not been read yet"));
    };
    let clusters = crate::preview::known(&hub.index(), &environment);
    tokio::task::spawn_blocking(move || {
        let scenario = fleet.scenario(&environment, &repository, &reference)?;
        Ok::<_, PreviewError>(crate::preview::preview(&fleet, &scenario, &clusters))
    })
    .await
    .map_err(|e| Error::new(StatusCode::INTERNAL_SERVER_ERROR, format!("the preview failed: {e}")))?
    .map_err(|e| {
        let status = match e {
            PreviewError::FleetBranch { .. } => StatusCode::SERVICE_UNAVAILABLE,
            _ => StatusCode::NOT_FOUND,
        };
        Error::new(status, e.to_string()).field(e.field())
    })
}

/// The override groups `filter` asks for.
pub async fn overrides(hub: &Hub, filter: &Filter) -> Result<Vec<OverrideGroup>, Error> {
    let since_ms = match filter.since.as_deref().filter(|s| !s.is_empty()) {
        None => None,
        Some(s) => Some(parse_time(s).ok_or_else(|| {
            let message = format!("since {s:?} is neither YYYY-MM-DD nor an RFC 3339 UTC time");
            Error::bad_request(message, "since")
        })?),
    };
    let nonempty = |v: &Option<String>| v.clone().filter(|v| !v.is_empty());
    let rows = hub
        .store()
        .overrides(&OverrideFilter {
            cluster: nonempty(&filter.cluster),
            target: nonempty(&filter.target),
            environment: nonempty(&filter.environment),
            since_ms,
            limit: crate::overrides::MAX_ROWS,
            newest_first: true,
        })
        .await
        .map_err(Error::unavailable)?;
    let mut groups = crate::overrides::group(&rows);
    groups.truncate(filter.limit.unwrap_or(100).clamp(1, 1_000));
    Ok(groups)
}
