//! The evidence log (`GET /api/v1/evidence`, JSON or CSV), the check of its chain
//! (`/api/v1/evidence/verify`) and the audit of a standard (`/api/v1/audit`, JSON, CSV or HTML).

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::Json;
use axum::extract::{Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use crate::api::Evidence;
use crate::app::{Error, Hub, Viewer};
use crate::audit::{audit, csv_field, parse_time, result_word, rfc3339_ms, row_json, to_csv};
use crate::dashboard::audit_page;
use crate::store::{EvidenceFilter, EvidenceRow, OverrideFilter, OverrideRow, PolicyMeta};

/// The most evidence rows one request reads.
const MAX_ROWS: i64 = 100_000;

fn csv_response(body: String) -> Response {
    ([(header::CONTENT_TYPE, "text/csv; charset=utf-8")], body).into_response()
}

#[derive(Debug, Deserialize)]
pub struct EvidenceQuery {
    cluster: Option<String>,
    policy: Option<String>,
    /// Overrides of this target only (`fleet` or a placement).
    target: Option<String>,
    /// `policy` (policy results) or `override` (commits run through a freeze); both when
    /// absent, unless `policy` or `target` names one kind.
    kind: Option<String>,
    since: Option<String>,
    limit: Option<i64>,
    format: Option<String>,
}

/// A row of the evidence log, of either kind.
enum Entry {
    Policy(EvidenceRow),
    Override(OverrideRow),
}

impl Entry {
    /// The export's order: by report time, change number, policy results before overrides.
    fn key(&self) -> (i64, i64, u8, i64) {
        match self {
            Entry::Policy(r) => (r.time_ms, r.change, 0, r.seq),
            Entry::Override(r) => (r.time_ms, r.change, 1, r.seq),
        }
    }
}

/// The CSV header: the policy results' columns, then the overrides' (a row of one kind
/// leaves the other's empty).
const CSV_HEADER: &str = "seq,time,cluster,policy,result,commit,standards,controls,violations,remediation,sequence,\
     change,prev_hash,hash,kind,target,signer,reason,environment,received_at\n";

/// The evidence log, oldest first, filtered: policy results and overrides, in one list;
/// JSON or CSV (for auditors' spreadsheets).
pub async fn evidence(State(hub): State<Arc<Hub>>, _: Viewer, Query(q): Query<EvidenceQuery>) -> Response {
    let since_ms = match q.since.as_deref().map(|s| parse_time(s).ok_or(s)) {
        None => None,
        Some(Ok(ms)) => Some(ms),
        Some(Err(s)) => {
            let message = format!("since {s:?} is neither YYYY-MM-DD nor an RFC 3339 UTC time");
            return Error::new(StatusCode::BAD_REQUEST, message).field("since").into_response();
        }
    };
    let (policies, overrides) = match q.kind.as_deref() {
        None => (q.target.is_none(), q.policy.is_none()),
        Some("policy") => (true, false),
        Some("override") => (false, true),
        Some(other) => {
            let message = format!("kind {other:?}: policy or override");
            return Error::new(StatusCode::BAD_REQUEST, message).field("kind").into_response();
        }
    };
    let limit = q.limit.unwrap_or(1_000).clamp(1, MAX_ROWS);
    let mut entries: Vec<Entry> = Vec::new();
    if policies {
        let filter =
            EvidenceFilter { cluster: q.cluster.clone(), policy: q.policy, since_ms, limit, newest_first: false };
        match hub.store().evidence(&filter).await {
            Ok(rows) => entries.extend(rows.into_iter().map(Entry::Policy)),
            Err(e) => return Error::unavailable(e).into_response(),
        }
    }
    if overrides {
        let filter = OverrideFilter { cluster: q.cluster, target: q.target, since_ms, limit, ..Default::default() };
        match hub.store().overrides(&filter).await {
            Ok(rows) => entries.extend(rows.into_iter().map(Entry::Override)),
            Err(e) => return Error::unavailable(e).into_response(),
        }
    }
    entries.sort_by_key(Entry::key);
    entries.truncate(usize::try_from(limit).unwrap_or(usize::MAX));
    match q.format.as_deref().unwrap_or("json") {
        "json" => {
            let rows: Vec<Evidence> = entries
                .iter()
                .map(|e| match e {
                    Entry::Policy(r) => Evidence::Policy(row_json(r)),
                    Entry::Override(r) => Evidence::Override(crate::overrides::row_json(r)),
                })
                .collect();
            Json(rows).into_response()
        }
        "csv" => {
            let mut out = String::from(CSV_HEADER);
            for e in &entries {
                let fields = match e {
                    Entry::Policy(r) => policy_csv(r),
                    Entry::Override(r) => override_csv(r),
                };
                let line: Vec<String> = fields.iter().map(|f| csv_field(f)).collect();
                out.push_str(&line.join(","));
                out.push('\n');
            }
            csv_response(out)
        }
        other => Error::new(StatusCode::BAD_REQUEST, format!("format {other:?}: json or csv"))
            .field("format")
            .into_response(),
    }
}

/// A policy result's CSV fields.
fn policy_csv(r: &EvidenceRow) -> Vec<String> {
    let mut fields = vec![
        r.seq.to_string(),
        rfc3339_ms(r.time_ms),
        r.cluster.clone(),
        r.policy.clone(),
        result_word(r.compliant).to_string(),
        r.commit.clone().unwrap_or_default(),
        r.standards_json.clone().unwrap_or_default(),
        r.controls_json.clone().unwrap_or_default(),
        r.violations_json.clone(),
        r.remediation_json.clone(),
        r.sequence.to_string(),
        r.change.to_string(),
        r.prev_hash.clone(),
        r.hash.clone(),
        "policy".to_string(),
    ];
    fields.resize(20, String::new());
    fields
}

/// An override's CSV fields: no policy, result, standards, controls, violations or
/// remediation.
fn override_csv(r: &OverrideRow) -> Vec<String> {
    let empty = String::new;
    vec![
        r.seq.to_string(),
        rfc3339_ms(r.time_ms),
        r.cluster.clone(),
        empty(),
        empty(),
        r.commit.clone(),
        empty(),
        empty(),
        empty(),
        empty(),
        r.sequence.to_string(),
        r.change.to_string(),
        r.prev_hash.clone(),
        r.hash.clone(),
        "override".to_string(),
        r.target.clone(),
        r.signer.clone(),
        r.reason.clone(),
        r.environment.clone(),
        rfc3339_ms(r.received_at_ms),
    ]
}

/// Recomputes the evidence chain.
pub async fn verify(State(hub): State<Arc<Hub>>, _: Viewer) -> Response {
    match hub.store().verify_evidence().await {
        Ok(check) => Json(check).into_response(),
        Err(e) => Error::unavailable(e).into_response(),
    }
}

#[derive(Debug, Deserialize)]
pub struct AuditQuery {
    standard: Option<String>,
    at: Option<String>,
    environment: Option<String>,
    format: Option<String>,
}

/// The audit of a standard as of a time.
pub async fn audit_view(State(hub): State<Arc<Hub>>, _: Viewer, Query(q): Query<AuditQuery>) -> Response {
    let Some(standard) = q.standard.filter(|s| !s.trim().is_empty()) else {
        return Error::new(StatusCode::BAD_REQUEST, "a standard is needed, as standard=PCI-DSS v4.0")
            .field("standard")
            .into_response();
    };
    let at_ms = match q.at.as_deref() {
        None => Hub::now_ms(),
        Some(at) => {
            let Some(ms) = parse_time(at) else {
                let message = format!("at {at:?} is neither YYYY-MM-DD nor an RFC 3339 UTC time");
                return Error::new(StatusCode::BAD_REQUEST, message).field("at").into_response();
            };
            ms
        }
    };
    let rows = match hub.store().evidence_as_of(at_ms).await {
        Ok(rows) => rows,
        Err(e) => return Error::unavailable(e).into_response(),
    };
    let environment = q.environment.unwrap_or_else(|| "prod".to_string());
    let catalog: BTreeMap<String, PolicyMeta> = hub
        .fleet_view()
        .and_then(|f| {
            let policies = &f.environment(&environment)?.policies;
            Some(
                policies
                    .iter()
                    .map(|p| {
                        let meta =
                            PolicyMeta { standards: p.spec.standards.clone(), controls: p.spec.controls.clone() };
                        (p.name().to_string(), meta)
                    })
                    .collect(),
            )
        })
        .unwrap_or_default();
    let report = audit(&standard, at_ms, &rows, &catalog);
    match q.format.as_deref().unwrap_or("json") {
        "json" => Json(report).into_response(),
        "csv" => csv_response(to_csv(&report)),
        "html" => ([(header::CONTENT_TYPE, "text/html; charset=utf-8")], audit_page(&report)).into_response(),
        other => Error::new(StatusCode::BAD_REQUEST, format!("format {other:?}: json, csv or html"))
            .field("format")
            .into_response(),
    }
}
