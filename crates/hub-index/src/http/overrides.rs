//! `GET /api/v1/overrides`: which overrides happened, grouped, newest first.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Query, State};

use crate::api::OverrideGroup;
use crate::app::{Error, Hub, Viewer};
use crate::overrides::Filter;

/// `GET /api/v1/overrides?cluster=&target=&environment=&since=&limit=`: the groups, newest first.
pub async fn overrides(
    State(hub): State<Arc<Hub>>,
    _: Viewer,
    Query(filter): Query<Filter>,
) -> Result<Json<Vec<OverrideGroup>>, Error> {
    Ok(Json(crate::answers::overrides(&hub, &filter).await?))
}
