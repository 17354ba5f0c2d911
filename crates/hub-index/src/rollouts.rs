//! Rollout progress per placement (`GET /api/v1/rollouts/{placement}`): per wave, how many
//! clusters run the commit their wave may take now, how many run the branch's head, how many
//! wait, and how many failed. The hub puts each cluster in its wave and finds each wave's
//! commit with the very functions the agents call (`flotilla_core::rollout::wave_of` and
//! `pick`), so the two agree.
//!
//! Computed when asked from the index's group of the placement: a SHA-256 per cluster that
//! reports the placement (tens of milliseconds at 100,000 clusters). Not yet: the halt on
//! failure (`rollout.halt`) and its consultation by the agents.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use flotilla_core::fleet::{ClusterIdentity, Placement};
use flotilla_core::rollout::{self, Landed};
use serde::{Deserialize, Serialize};

use crate::fleet::{Commit, FleetView};
use crate::index::{Index, Standing, standing_of};
use crate::server::{Hub, fleet_with, problem};

/// The progress of one placement's rollout in one environment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Progress {
    pub placement: String,
    pub environment: String,
    /// The head of the placement's source branch.
    pub head: Option<String>,
    pub bake_seconds: u64,
    pub waves: Vec<WaveProgress>,
}

/// One wave.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct WaveProgress {
    pub name: String,
    /// The clusters of the wave that report the placement.
    pub clusters: usize,
    /// The commit the wave may run now (`None`: none has reached it yet).
    pub target: Option<String>,
    /// When the head reaches the wave (RFC 3339), while it has not.
    pub head_reaches_it_at: Option<String>,
    pub on_target: usize,
    pub on_head: usize,
    /// Failed or degraded there.
    pub failed: usize,
    /// Neither on the wave's commit nor failed: applying, waiting for a window, or behind.
    pub waiting: usize,
}

/// The progress of `placement` over the clusters of `environment` that report it, at `now`
/// (unix seconds), its source branch's first-parent `history` newest first. A placement
/// without a rollout is one wave, everyone.
pub fn progress(index: &Index, placement: &Placement, environment: &str, history: &[Commit], now: i64) -> Progress {
    let name = placement.name();
    let rollout = placement.spec.rollout.as_ref().filter(|r| !r.waves.is_empty());
    let bake = rollout.map_or(0, |r| rollout::bake_seconds(r).unwrap_or(0));
    let ids: Vec<String> = history.iter().map(|c| c.id.to_string()).collect();
    let landed: Vec<Landed> =
        history.iter().zip(&ids).map(|(c, id)| Landed { commit: id, tree: &c.tree, at: c.time }).collect();
    let head = ids.first().cloned();
    let names: Vec<String> =
        rollout.map_or_else(|| vec!["everyone".to_string()], |r| r.waves.iter().map(|w| w.name.clone()).collect());
    let mut waves: Vec<WaveProgress> = names
        .into_iter()
        .enumerate()
        .map(|(i, wave)| WaveProgress {
            name: wave,
            clusters: 0,
            target: rollout::pick(&landed, i, bake, now).map(|c| c.commit.to_string()),
            head_reaches_it_at: landed
                .first()
                .map(|h| rollout::gate(h.at, i, bake))
                .filter(|gate| *gate > now)
                .map(flotilla_core::calendar::rfc3339),
            on_target: 0,
            on_head: 0,
            failed: 0,
            waiting: 0,
        })
        .collect();
    let members = index.group(environment, name).into_iter().flat_map(|group| group.values()).flatten();
    for cluster in members {
        let Some(entry) = index.get(cluster) else { continue };
        let Some(p) = entry.placements.iter().find(|p| *p.name == *name) else { continue };
        let wave = match rollout {
            None => 0,
            Some(r) => {
                let labels = entry.labels.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
                let identity =
                    ClusterIdentity { name: cluster.to_string(), environment: environment.to_string(), labels };
                rollout::wave_of(r, name, &identity).map_or(0, |w| w.index)
            }
        };
        let w = &mut waves[wave];
        w.clusters += 1;
        let applied = p.applied_commit.as_deref();
        if applied.is_some() && applied == head.as_deref() {
            w.on_head += 1;
        }
        if applied.is_some() && applied == w.target.as_deref() {
            w.on_target += 1;
        } else if matches!(standing_of(p.state), Standing::Failed | Standing::Degraded) {
            w.failed += 1;
        } else {
            w.waiting += 1;
        }
    }
    Progress { placement: name.to_string(), environment: environment.to_string(), head, bake_seconds: bake, waves }
}

#[derive(Debug, Deserialize)]
pub struct ProgressQuery {
    environment: Option<String>,
}

/// `GET /api/v1/rollouts/{placement}?environment=prod`.
pub async fn rollout(
    State(hub): State<Arc<Hub>>,
    headers: HeaderMap,
    Path(placement): Path<String>,
    Query(q): Query<ProgressQuery>,
) -> Response {
    if let Err(r) = hub.viewer(&headers).await {
        return r;
    }
    let environment = q.environment.unwrap_or_else(|| "prod".to_string());
    let fleet = match fleet_with(&hub, &environment) {
        Ok(f) => f,
        Err((status, message)) => {
            return problem(status, &message, (status == StatusCode::NOT_FOUND).then_some("environment"));
        }
    };
    let Some(view) = progress_now(&hub, &fleet, &environment, &placement) else {
        let message = format!("no placement {placement:?} in environment {environment:?}");
        return problem(StatusCode::NOT_FOUND, &message, Some("placement"));
    };
    Json(view).into_response()
}

/// [`progress`] of a placement the fleet declares in `environment`, now, from the hub's index
/// and the source branch's history as the fleet view holds it; `None` for an unknown placement.
pub(crate) fn progress_now(hub: &Hub, fleet: &FleetView, environment: &str, placement: &str) -> Option<Progress> {
    let source = fleet.placement(environment, placement)?;
    let history = fleet.source_branch(environment, placement).map_or(&[][..], |b| b.history.as_slice());
    Some(progress(&hub.index(), &source.placement, environment, history, Hub::now_ms() / 1_000))
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use flotilla_core::report::Report;

    use super::*;
    use crate::index::Row;

    fn commit(id: char, tree: &str, time: i64) -> Commit {
        Commit {
            id: flotilla_git::CommitId::parse(&id.to_string().repeat(40)).unwrap(),
            time,
            tree: tree.into(),
            summary: String::new(),
        }
    }

    fn placement() -> Placement {
        let yaml = "apiVersion: flotilla.dev/v1alpha1\nkind: Placement\nmetadata: {name: pos}\nspec:\n  source: {repository: app, path: pos}\n  clusters: {matchLabels: {kind: store}}\n  rollout: {waves: [{name: canary, clusters: {matchLabels: {canary: \"true\"}}}, {name: everyone}], bake: 2h}\n";
        let mut snapshot = flotilla_core::snapshot::Snapshot::new();
        snapshot.insert_file("fleet/p.yaml", yaml);
        let (fleet, errors) = flotilla_core::fleet::Fleet::from_snapshot(&snapshot);
        assert_eq!(errors, []);
        fleet.placements[0].clone()
    }

    fn row(name: &str, canary: bool, state: &str, applied: char, change: i64) -> Row {
        let json = format!(
            r#"{{"version":1,"cluster":"{name}","agentVersion":"0.1.0","sequence":1,"time":"2026-11-25T10:00:00Z",
            "placements":[{{"name":"pos","state":"{state}","appliedCommit":"{}","sourceCommit":"{}","health":"Healthy"}}]}}"#,
            applied.to_string().repeat(40),
            applied.to_string().repeat(40)
        );
        Row {
            name: name.into(),
            environment: "prod".into(),
            labels: BTreeMap::from([("kind".into(), "store".into()), ("canary".into(), canary.to_string())]),
            token_hash: None,
            registered_at_ms: 0,
            last_report_at_ms: Some(1),
            last_report: Some(Report::from_json(json.as_bytes()).unwrap()),
            change,
        }
    }

    #[test]
    fn each_wave_counts_who_runs_its_commit_the_head_waits_or_failed() {
        let h = 3_600;
        // a long ago; b landed at 10:00; now is 11:00: canaries may run b, everyone else a.
        let history = [commit('b', "tb", 10 * h), commit('a', "ta", 0)];
        let mut index = Index::new(i64::MAX);
        index.update(&row("s1", true, "Synced", 'b', 1));
        index.update(&row("s2", true, "Failed", 'a', 2));
        index.update(&row("s3", false, "Synced", 'a', 3));
        index.update(&row("s4", false, "Progressing", 'b', 4));
        let view = progress(&index, &placement(), "prod", &history, 11 * h);
        assert_eq!(view.head.as_deref(), Some("b".repeat(40).as_str()));
        let canary = &view.waves[0];
        assert_eq!(canary.target.as_deref(), Some("b".repeat(40).as_str()));
        assert_eq!((canary.clusters, canary.on_target, canary.on_head, canary.failed, canary.waiting), (2, 1, 1, 1, 0));
        assert_eq!(canary.head_reaches_it_at, None);
        let everyone = &view.waves[1];
        assert_eq!(everyone.target.as_deref(), Some("a".repeat(40).as_str()));
        assert_eq!((everyone.clusters, everyone.on_target, everyone.on_head, everyone.waiting), (2, 1, 1, 1));
        assert_eq!(everyone.head_reaches_it_at.as_deref(), Some("1970-01-01T12:00:00Z"));
    }
}
