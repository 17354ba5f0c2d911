//! The fleet views as JSON: the summary, the cluster list and one cluster, the lag ledger,
//! promotion, and compliance (`views` computes them from the index).

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use serde::Deserialize;

use super::page_limit;
use crate::answers::{cluster_detail, fleet_with, no_policy};
use crate::api::{
    Behind, ClusterDetail, ClusterLine, Compliance, Ledger, Page, PolicyCompliance, Promotion, Standing, Summary,
};
use crate::app::{Error, Hub, Viewer};
use crate::git_view::FleetView;
use crate::views::{self, Filter};

/// `GET /api/v1/summary`.
pub async fn summary(State(hub): State<Arc<Hub>>, _: Viewer) -> Json<Summary> {
    Json(views::summary(&hub.index()))
}

#[derive(Debug, Deserialize)]
pub struct ListQuery {
    state: Option<String>,
    environment: Option<String>,
    labels: Option<String>,
    placement: Option<String>,
    #[serde(default)]
    offset: usize,
    limit: Option<usize>,
}

/// `GET /api/v1/clusters?state=&environment=&labels=&placement=&offset=&limit=`.
pub async fn clusters(
    State(hub): State<Arc<Hub>>,
    _: Viewer,
    Query(q): Query<ListQuery>,
) -> Result<Json<Page<ClusterLine>>, Error> {
    let standing = match q.state.as_deref() {
        None => None,
        Some(s) => Some(Standing::parse(s).ok_or_else(|| Error::bad_request(format!("no state {s:?}"), "state"))?),
    };
    let labels =
        Filter::parse_labels(q.labels.as_deref().unwrap_or_default()).map_err(|e| Error::bad_request(e, "labels"))?;
    let filter = Filter { standing, environment: q.environment, labels, placement: q.placement, name: None };
    Ok(Json(views::clusters(&hub.index(), &filter, q.offset, page_limit(q.limit))))
}

/// `GET /api/v1/clusters/{name}`.
pub async fn cluster(
    State(hub): State<Arc<Hub>>,
    _: Viewer,
    Path(name): Path<String>,
) -> Result<Json<ClusterDetail>, Error> {
    Ok(Json(cluster_detail(&hub, &name).await?))
}

#[derive(Debug, Deserialize)]
pub struct LagQuery {
    placement: String,
    environment: Option<String>,
    #[serde(default)]
    offset: usize,
    limit: Option<usize>,
}

/// The fleet as last read.
fn fleet(hub: &Hub) -> Result<Arc<FleetView>, Error> {
    hub.fleet_view().ok_or_else(|| Error::unavailable("the fleet repository has not been read yet"))
}

/// `GET /api/v1/lag?placement=&environment=prod&offset=&limit=`.
pub async fn lag(State(hub): State<Arc<Hub>>, _: Viewer, Query(q): Query<LagQuery>) -> Result<Json<Ledger>, Error> {
    let fleet = fleet(&hub)?;
    let environment = q.environment.unwrap_or_else(|| "prod".to_string());
    let Some(head) = fleet.source_branch(&environment, &q.placement).and_then(|b| b.head).map(|h| h.to_string()) else {
        let message = format!("no placement {:?} in environment {environment:?}", q.placement);
        return Err(Error::new(StatusCode::NOT_FOUND, message).field("placement"));
    };
    let behind = |commit: &str| {
        let lag = fleet.lag(&environment, &q.placement, commit);
        Behind { commits: lag.commits_behind, since: lag.behind_since }
    };
    let ledger = views::ledger(&hub.index(), &q.placement, &environment, &head, &behind, q.offset, page_limit(q.limit));
    Ok(Json(ledger))
}

/// `GET /api/v1/promotion`: per repository, what dev has that prod does not.
pub async fn promotion(State(hub): State<Arc<Hub>>, _: Viewer) -> Result<Json<BTreeMap<String, Promotion>>, Error> {
    Ok(Json(fleet(&hub)?.promotions().clone()))
}

#[derive(Debug, Deserialize)]
pub struct ComplianceQuery {
    environment: Option<String>,
    labels: Option<String>,
    #[serde(default)]
    offset: usize,
    limit: Option<usize>,
}

/// What a compliance view covers: the label filter, the environment and its fleet.
type Scope = (Vec<(String, String)>, String, Arc<FleetView>);

/// What both compliance views check first: the label filter, and the environment's fleet
/// branch (default `prod`).
fn compliance_scope(hub: &Hub, q: &ComplianceQuery) -> Result<Scope, Error> {
    let labels =
        Filter::parse_labels(q.labels.as_deref().unwrap_or_default()).map_err(|e| Error::bad_request(e, "labels"))?;
    let environment = q.environment.clone().unwrap_or_else(|| "prod".to_string());
    let fleet = fleet_with(hub, &environment)?;
    Ok((labels, environment, fleet))
}

/// `GET /api/v1/compliance?environment=prod&labels=k=v,…`: standards → controls → policies.
pub async fn compliance(
    State(hub): State<Arc<Hub>>,
    _: Viewer,
    Query(q): Query<ComplianceQuery>,
) -> Result<Json<Compliance>, Error> {
    let (labels, environment, fleet) = compliance_scope(&hub, &q)?;
    let env = fleet.environment(&environment).expect("compliance_scope checked it");
    let mut view = views::compliance(&hub.index(), &environment, &env.policies, &labels);
    view.fleet_error.clone_from(&env.error);
    Ok(Json(view))
}

/// `GET /api/v1/compliance/{policy}?environment=prod&labels=&offset=&limit=`: one policy and
/// its non-compliant clusters.
pub async fn compliance_policy(
    State(hub): State<Arc<Hub>>,
    _: Viewer,
    Path(policy): Path<String>,
    Query(q): Query<ComplianceQuery>,
) -> Result<Json<PolicyCompliance>, Error> {
    let (labels, environment, fleet) = compliance_scope(&hub, &q)?;
    let env = fleet.environment(&environment).expect("compliance_scope checked it");
    let definition = env.policies.iter().find(|p| p.name() == policy);
    let limit = page_limit(q.limit);
    views::compliance_policy(&hub.index(), &environment, &policy, definition, &labels, q.offset, limit)
        .map(Json)
        .ok_or_else(|| Error::new(StatusCode::NOT_FOUND, no_policy(&policy, &environment)).field("policy"))
}
