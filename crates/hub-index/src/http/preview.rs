//! `GET /api/v1/preview`: what moving a repository's environment branch to a ref would do.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Query, State};
use flotilla_core::fleet::FLEET_REPOSITORY;
use serde::Deserialize;

use crate::api::Preview;
use crate::app::{Error, Hub, Viewer};

#[derive(Debug, Deserialize)]
pub struct PreviewQuery {
    #[serde(rename = "ref")]
    reference: Option<String>,
    repository: Option<String>,
    environment: Option<String>,
}

/// `GET /api/v1/preview?ref=REF&repository=fleet&environment=prod`.
pub async fn preview(
    State(hub): State<Arc<Hub>>,
    _: Viewer,
    Query(q): Query<PreviewQuery>,
) -> Result<Json<Preview>, Error> {
    let Some(reference) = q.reference.filter(|r| !r.trim().is_empty()) else {
        return Err(Error::bad_request("which ref? a branch or a full commit id", "ref"));
    };
    let repository = q.repository.filter(|r| !r.is_empty()).unwrap_or_else(|| FLEET_REPOSITORY.to_string());
    let environment = q.environment.filter(|e| !e.is_empty()).unwrap_or_else(|| "prod".to_string());
    Ok(Json(crate::answers::preview(&hub, environment, repository, reference.trim().to_string()).await?))
}
