//! What agents send: registration (a join token for the cluster's own token) and reports,
//! checked here (size, schema, the token's cluster, the time) and handed to the ingest task.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use flotilla_core::register;
use flotilla_core::report::Report;
use tokio::sync::oneshot;

use crate::api::ReportAnswer;
use crate::app::{ClusterToken, Error, Hub, JoinToken};
use crate::store::{self, Incoming, Ingested};

/// The largest report taken, in bytes.
pub const MAX_REPORT_BYTES: usize = 256 * 1024;

/// How far in the future a report's time may be (clocks drift).
const FUTURE_SLACK_MS: i64 = 5 * 60 * 1000;

/// `POST /api/v1/reports`: a report, with its cluster's token.
pub async fn report(
    State(hub): State<Arc<Hub>>,
    ClusterToken(cluster): ClusterToken,
    body: Bytes,
) -> Result<Json<ReportAnswer>, Error> {
    let refuse = |e: Error| {
        hub.refused.fetch_add(1, Ordering::Relaxed);
        e
    };
    // Parsed and validated.
    let parsed = Report::from_json(&body).map_err(|e| refuse(Error::bad_request(e.to_string(), e.field())))?;
    if parsed.cluster != cluster {
        let message = format!("the token is cluster {cluster:?}'s, the report is {:?}'s", parsed.cluster);
        return Err(refuse(Error::new(StatusCode::FORBIDDEN, message).field("cluster")));
    }
    let now = Hub::now_ms();
    if flotilla_core::calendar::unix_ms(&parsed.time).is_some_and(|t| t > now + FUTURE_SLACK_MS) {
        return Err(refuse(Error::bad_request("time is in the future", "time")));
    }
    // It parsed, so it is UTF-8; the buffer is reused when nothing else holds it.
    let json =
        String::from_utf8(Vec::from(body)).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned());
    let sequence = parsed.sequence;
    let (reply, answer) = oneshot::channel();
    let incoming = Incoming { token_cluster: cluster, report: parsed, json, received_at_ms: now };
    let stopping = || Error::unavailable("the hub is stopping");
    hub.ingest.send((incoming, reply)).await.map_err(|_| stopping())?;
    match answer.await {
        Ok(Ok(Ingested::Stored { .. })) => {
            hub.stored.fetch_add(1, Ordering::Relaxed);
            Ok(Json(ReportAnswer { status: "stored".into(), sequence, reason: None }))
        }
        Ok(Ok(Ingested::Ignored)) => {
            hub.ignored.fetch_add(1, Ordering::Relaxed);
            let reason = "replayed or out of order: a report with this or a later sequence was stored";
            Ok(Json(ReportAnswer { status: "ignored".into(), sequence, reason: Some(reason.into()) }))
        }
        Ok(Err(e)) => Err(refuse(Error::new(StatusCode::CONFLICT, e))),
        Err(_) => Err(stopping()),
    }
}

/// `POST /api/v1/register`: a join token traded for the cluster's own token.
pub async fn register(
    State(hub): State<Arc<Hub>>,
    JoinToken(join_token): JoinToken,
    body: Bytes,
) -> Result<Json<register::Response>, Error> {
    let request: register::Request = serde_json::from_slice(&body)
        .map_err(|e| Error::new(StatusCode::BAD_REQUEST, format!("not a registration: {e}")))?;
    match hub.store().register(&join_token, &request).await {
        Ok(response) => {
            hub.changed.notify_one();
            Ok(Json(response))
        }
        Err(e) => {
            let status = match &e {
                store::RegisterError::Unauthorized => StatusCode::UNAUTHORIZED,
                store::RegisterError::Forbidden { .. } => StatusCode::FORBIDDEN,
                store::RegisterError::Invalid(_) => StatusCode::BAD_REQUEST,
                store::RegisterError::Store(_) => StatusCode::SERVICE_UNAVAILABLE,
            };
            Err(Error::new(status, e.to_string()))
        }
    }
}
