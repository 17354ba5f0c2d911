//! A placement's rollout (`GET /api/v1/rollouts/{placement}`) and when a branch's commits
//! reached it (`GET /api/v1/arrivals/{repository}`): what viewers watch and what agents of a
//! later wave read, with their own token.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use crate::answers::{fleet_with, progress_now};
use crate::api::BranchArrivals;
use crate::app::{Error, Hub, ViewerOrCluster};
use crate::progress::PUBLISHED_ARRIVALS;

#[derive(Debug, Deserialize)]
pub struct ProgressQuery {
    environment: Option<String>,
}

/// `GET /api/v1/rollouts/{placement}?environment=prod`: a viewer, or an agent asking whether its
/// wave may go on.
pub async fn rollout(
    State(hub): State<Arc<Hub>>,
    _: ViewerOrCluster,
    Path(placement): Path<String>,
    Query(q): Query<ProgressQuery>,
) -> Response {
    let environment = q.environment.unwrap_or_else(|| "prod".to_string());
    let fleet = match fleet_with(&hub, &environment) {
        Ok(f) => f,
        Err(e) => return e.into_response(),
    };
    match progress_now(&hub, &fleet, &environment, &placement).await {
        Ok(Some(view)) => Json(&*view).into_response(),
        Ok(None) => {
            let message = format!("no placement {placement:?} in environment {environment:?}");
            Error::new(StatusCode::NOT_FOUND, message).field("placement").into_response()
        }
        Err(e) => Error::unavailable(e).into_response(),
    }
}

#[derive(Debug, Deserialize)]
pub struct ArrivalsQuery {
    environment: Option<String>,
}

/// `GET /api/v1/arrivals/{repository}?environment=prod`: when the newest commits (at most
/// [`PUBLISHED_ARRIVALS`], newest first) of the branch of `repository` (`fleet`: the fleet
/// repository, on the environment's fleet branch) that clusters of the environment take reached
/// it: `{"repository": …, "branch": …, "arrivals": [{"commit": …, "at": unix seconds}]}`. A
/// viewer or a registered cluster (its own token) may read it, as the rollout answer.
pub async fn arrivals(
    State(hub): State<Arc<Hub>>,
    _: ViewerOrCluster,
    Path(repository): Path<String>,
    Query(q): Query<ArrivalsQuery>,
) -> Response {
    let environment = q.environment.unwrap_or_else(|| "prod".to_string());
    let fleet = match fleet_with(&hub, &environment) {
        Ok(f) => f,
        Err(e) => return e.into_response(),
    };
    match fleet.repository_branch(&environment, &repository) {
        Ok(branch) => Json(BranchArrivals {
            arrivals: branch.published(PUBLISHED_ARRIVALS),
            branch: branch.branch.clone(),
            repository,
        })
        .into_response(),
        Err(e) => {
            let status = if e.field().is_some() { StatusCode::NOT_FOUND } else { StatusCode::SERVICE_UNAVAILABLE };
            let error = Error::new(status, e.to_string());
            match e.field() {
                Some(field) => error.field(field),
                None => error,
            }
            .into_response()
        }
    }
}
