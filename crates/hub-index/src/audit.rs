//! The audit report: the fleet's compliance with one standard as of a time, per control, with
//! the evidence behind each result — what `hub-index audit` and `GET /api/v1/audit` give, as
//! JSON, CSV or HTML.
//!
//! Built from [`Store::evidence_as_of`](crate::store::Store::evidence_as_of): for every cluster
//! and policy, the evidence row in force at that time (the last change at or before it). A
//! row names the standards and controls its policy named when it was written; rows written
//! before the hub read the fleet repository are attributed by the fleet's current policies.
//! A control is compliant when every result under it is, non-compliant when any is not,
//! unknown when some could not be evaluated and none failed, and without evidence when no
//! cluster reported a policy of it by then. Each result carries its evidence row's position
//! and hash in the chain, so an auditor can check it with `hub-index evidence verify`.
//!
//! Beside it, the evidence log itself (`GET /api/v1/evidence`, `hub-index evidence`): the policy
//! results and the overrides (`store::overrides`) in one list, as JSON or CSV, and the check of
//! its chain (`GET /api/v1/evidence/verify`).

use std::collections::BTreeMap;
use std::fmt::Write as _;

use crate::api::{Audit, AuditControl, ClusterResult, PolicyResults, Verdict};
use crate::dashboard::escape;
use crate::store::{EvidenceRow, PolicyMeta};

/// Builds the audit of `standard` from the rows in force at `at_ms`. `catalog` holds the fleet's
/// current policies (name → standards and controls): rows that do not name theirs are
/// attributed by it, and its controls of the standard that no row speaks for show as without
/// evidence.
pub fn audit(standard: &str, at_ms: i64, rows: &[EvidenceRow], catalog: &BTreeMap<String, PolicyMeta>) -> Audit {
    let parse = |json: &Option<String>| json.as_deref().and_then(|j| serde_json::from_str::<Vec<String>>(j).ok());
    let mut by_control: BTreeMap<String, BTreeMap<String, Vec<ClusterResult>>> = BTreeMap::new();
    for meta in catalog.values().filter(|m| m.standards.iter().any(|s| s == standard)) {
        for control in &meta.controls {
            by_control.entry(control.clone()).or_default();
        }
    }
    for row in rows {
        let meta = match (parse(&row.standards_json), parse(&row.controls_json)) {
            (Some(standards), Some(controls)) => Some(PolicyMeta { standards, controls }),
            _ => catalog.get(&row.policy).cloned(),
        };
        let Some(meta) = meta.filter(|m| m.standards.iter().any(|s| s == standard)) else { continue };
        let json = |text: &str| serde_json::from_str(text).unwrap_or(serde_json::Value::Null);
        let result = ClusterResult {
            cluster: row.cluster.clone(),
            compliant: row.compliant,
            since: rfc3339_ms(row.time_ms),
            commit: row.commit.clone(),
            violations: json(&row.violations_json),
            remediation: json(&row.remediation_json),
            evidence_seq: row.seq,
            evidence_hash: row.hash.clone(),
        };
        for control in &meta.controls {
            by_control.entry(control.clone()).or_default().entry(row.policy.clone()).or_default().push(result.clone());
        }
    }
    let controls = by_control
        .into_iter()
        .map(|(control, policies)| {
            let all = || policies.values().flatten();
            let count = |c: Option<bool>| all().filter(|r| r.compliant == c).count();
            let (compliant, non_compliant, unknown) = (count(Some(true)), count(Some(false)), count(None));
            let verdict = if non_compliant > 0 {
                Verdict::NonCompliant
            } else if unknown > 0 {
                Verdict::Unknown
            } else if compliant > 0 {
                Verdict::Compliant
            } else {
                Verdict::NoEvidence
            };
            let policies = policies.into_iter().map(|(policy, results)| PolicyResults { policy, results }).collect();
            AuditControl { control, verdict, compliant, non_compliant, unknown, policies }
        })
        .collect();
    Audit { standard: standard.to_string(), at: rfc3339_ms(at_ms), controls }
}

/// Unix milliseconds as RFC 3339 UTC, to the second.
pub(crate) fn rfc3339_ms(ms: i64) -> String {
    flotilla_core::calendar::rfc3339(ms.div_euclid(1_000))
}

/// The audit as CSV: one line per control, policy and cluster, with the evidence row.
pub fn to_csv(audit: &Audit) -> String {
    let mut out = String::from(
        "standard,at,control,control_verdict,policy,cluster,result,since,commit,evidence_seq,evidence_hash\n",
    );
    for c in &audit.controls {
        for p in &c.policies {
            for r in &p.results {
                let result = match r.compliant {
                    Some(true) => "compliant",
                    Some(false) => "non-compliant",
                    None => "unknown",
                };
                let fields = [
                    audit.standard.as_str(),
                    &audit.at,
                    &c.control,
                    c.verdict.name(),
                    &p.policy,
                    &r.cluster,
                    result,
                    &r.since,
                    r.commit.as_deref().unwrap_or_default(),
                    &r.evidence_seq.to_string(),
                    &r.evidence_hash,
                ];
                let line: Vec<String> = fields.iter().map(|f| csv_field(f)).collect();
                out.push_str(&line.join(","));
                out.push('\n');
            }
        }
    }
    out
}

/// A CSV field, quoted when it holds a comma, a quote or a line break (RFC 4180); a leading
/// `=`, `+`, `-` or `@` is prefixed with `'` so that a spreadsheet does not run it.
pub fn csv_field(text: &str) -> String {
    let text = if text.starts_with(['=', '+', '-', '@']) { format!("'{text}") } else { text.to_string() };
    if text.contains([',', '"', '\n', '\r']) { format!("\"{}\"", text.replace('"', "\"\"")) } else { text }
}

/// The audit as a standalone HTML page (escaped, no script).
pub fn to_html(audit: &Audit) -> String {
    let mut out = String::new();
    let _ = write!(
        out,
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>{} as of {}</title>\
         <style>body{{font-family:sans-serif;margin:2em}}table{{border-collapse:collapse}}\
         td,th{{border:1px solid #ccc;padding:2px 6px;text-align:left}}.non-compliant{{color:#b00}}\
         .compliant{{color:#070}}</style></head><body><h1>{} as of {}</h1>",
        escape(&audit.standard),
        escape(&audit.at),
        escape(&audit.standard),
        escape(&audit.at)
    );
    out.push_str("<table id=\"controls\"><tr><th>control</th><th>verdict</th><th>compliant</th><th>non-compliant</th><th>unknown</th></tr>");
    for c in &audit.controls {
        let _ = write!(
            out,
            "<tr><td><a href=\"#control-{id}\">{id}</a></td><td class=\"{v}\">{v}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            c.compliant,
            c.non_compliant,
            c.unknown,
            id = escape(&c.control),
            v = c.verdict.name()
        );
    }
    out.push_str("</table>");
    for c in &audit.controls {
        let _ = write!(out, "<h2 id=\"control-{0}\">Control {0}: {1}</h2>", escape(&c.control), c.verdict.name());
        out.push_str(
            "<table><tr><th>policy</th><th>cluster</th><th>result</th><th>since</th><th>commit</th><th>evidence</th></tr>",
        );
        for p in &c.policies {
            for r in &p.results {
                let (class, result) = match r.compliant {
                    Some(true) => ("compliant", "compliant"),
                    Some(false) => ("non-compliant", "non-compliant"),
                    None => ("unknown", "unknown"),
                };
                let _ = write!(
                    out,
                    "<tr><td>{}</td><td>{}</td><td class=\"{class}\">{result}</td><td>{}</td><td>{}</td><td>#{} {}</td></tr>",
                    escape(&p.policy),
                    escape(&r.cluster),
                    escape(&r.since),
                    escape(r.commit.as_deref().unwrap_or("")),
                    r.evidence_seq,
                    escape(&r.evidence_hash)
                );
            }
        }
        out.push_str("</table>");
    }
    out.push_str("</body></html>\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(seq: i64, cluster: &str, policy: &str, compliant: Option<bool>, standards: Option<&str>) -> EvidenceRow {
        EvidenceRow {
            seq,
            cluster: cluster.into(),
            policy: policy.into(),
            compliant,
            time_ms: 1_761_955_200_000,
            sequence: 1,
            change: seq,
            commit: Some("a".repeat(40)),
            violations_json: "[]".into(),
            standards_json: standards.map(|s| format!(r#"["{s}"]"#)),
            controls_json: standards.map(|_| r#"["1.3.1", "2.2.1"]"#.to_string()),
            remediation_json: "[]".into(),
            prev_hash: String::new(),
            hash: format!("{seq:064}"),
        }
    }

    #[test]
    fn controls_get_the_worst_result_and_rows_without_standards_use_the_catalog() {
        let rows = [
            row(1, "s1", "deny", Some(true), Some("PCI-DSS v4.0")),
            row(2, "s2", "deny", Some(false), Some("PCI-DSS v4.0")),
            row(3, "s1", "other", Some(true), Some("ISO 27001")),
            row(4, "s1", "legacy", None, None),
        ];
        let meta = |controls: &[&str]| PolicyMeta {
            standards: vec!["PCI-DSS v4.0".into()],
            controls: controls.iter().map(ToString::to_string).collect(),
        };
        let catalog = BTreeMap::from([("legacy".to_string(), meta(&["7.2.1"])), ("new".to_string(), meta(&["9.9"]))]);
        let a = audit("PCI-DSS v4.0", 1_762_000_000_000, &rows, &catalog);
        let verdicts: Vec<(&str, Verdict, usize)> = a
            .controls
            .iter()
            .map(|c| (c.control.as_str(), c.verdict, c.compliant + c.non_compliant + c.unknown))
            .collect();
        assert_eq!(
            verdicts,
            [
                ("1.3.1", Verdict::NonCompliant, 2),
                ("2.2.1", Verdict::NonCompliant, 2),
                ("7.2.1", Verdict::Unknown, 1),
                ("9.9", Verdict::NoEvidence, 0)
            ]
        );
        assert_eq!(a.at, "2025-11-01T12:26:40Z");
        assert_eq!(a.controls[0].policies[0].results[1].evidence_seq, 2);

        let csv = to_csv(&a);
        assert_eq!(csv.lines().count(), 1 + 5);
        assert!(csv.contains("PCI-DSS v4.0,2025-11-01T12:26:40Z,1.3.1,non-compliant,deny,s2,non-compliant,"), "{csv}");
        let html = to_html(&a);
        assert!(html.contains("<td class=\"unknown\">unknown</td>") && !html.contains("<script"), "{html}");
    }

    #[test]
    fn csv_fields_are_quoted_and_not_formulas() {
        assert_eq!(csv_field("plain"), "plain");
        assert_eq!(csv_field("a,b"), "\"a,b\"");
        assert_eq!(csv_field("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(csv_field("=1+1"), "'=1+1");
    }
}

/// The HTTP side: `GET /api/v1/evidence`, `/api/v1/evidence/verify` and `/api/v1/audit`.
mod http {
    use std::collections::BTreeMap;
    use std::sync::Arc;

    use axum::Json;
    use axum::extract::{Query, State};
    use axum::http::{HeaderMap, StatusCode, header};
    use axum::response::{IntoResponse, Response};
    use serde::Deserialize;

    use super::{audit, csv_field, to_csv, to_html};
    use crate::api::{Evidence, EvidenceKind, PolicyEvidence};
    use crate::server::{Hub, problem};
    use crate::store::{EvidenceFilter, EvidenceRow, OverrideFilter, OverrideRow, PolicyMeta};

    /// The most evidence rows one request reads.
    const MAX_ROWS: i64 = 100_000;

    /// `YYYY-MM-DD` (the end of that day, UTC: "as of" a date includes it) or an RFC 3339 UTC
    /// time, as unix milliseconds.
    pub fn parse_time(text: &str) -> Option<i64> {
        if text.len() == 10 {
            let start = flotilla_core::calendar::unix_ms(&format!("{text}T00:00:00Z"))?;
            return Some(start + 86_400_000 - 1);
        }
        flotilla_core::calendar::unix_ms(text)
    }

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
    pub async fn evidence(State(hub): State<Arc<Hub>>, headers: HeaderMap, Query(q): Query<EvidenceQuery>) -> Response {
        if let Err(r) = hub.viewer(&headers).await {
            return r;
        }
        let since_ms = match q.since.as_deref().map(|s| parse_time(s).ok_or(s)) {
            None => None,
            Some(Ok(ms)) => Some(ms),
            Some(Err(s)) => {
                let message = format!("since {s:?} is neither YYYY-MM-DD nor an RFC 3339 UTC time");
                return problem(StatusCode::BAD_REQUEST, &message, Some("since"));
            }
        };
        let (policies, overrides) = match q.kind.as_deref() {
            None => (q.target.is_none(), q.policy.is_none()),
            Some("policy") => (true, false),
            Some("override") => (false, true),
            Some(other) => {
                let message = format!("kind {other:?}: policy or override");
                return problem(StatusCode::BAD_REQUEST, &message, Some("kind"));
            }
        };
        let limit = q.limit.unwrap_or(1_000).clamp(1, MAX_ROWS);
        let mut entries: Vec<Entry> = Vec::new();
        if policies {
            let filter =
                EvidenceFilter { cluster: q.cluster.clone(), policy: q.policy, since_ms, limit, newest_first: false };
            match hub.store().evidence(&filter).await {
                Ok(rows) => entries.extend(rows.into_iter().map(Entry::Policy)),
                Err(e) => return problem(StatusCode::SERVICE_UNAVAILABLE, &e.to_string(), None),
            }
        }
        if overrides {
            let filter = OverrideFilter { cluster: q.cluster, target: q.target, since_ms, limit, ..Default::default() };
            match hub.store().overrides(&filter).await {
                Ok(rows) => entries.extend(rows.into_iter().map(Entry::Override)),
                Err(e) => return problem(StatusCode::SERVICE_UNAVAILABLE, &e.to_string(), None),
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
            other => problem(StatusCode::BAD_REQUEST, &format!("format {other:?}: json or csv"), Some("format")),
        }
    }

    /// A policy result's CSV fields.
    fn policy_csv(r: &EvidenceRow) -> Vec<String> {
        let result = match r.compliant {
            Some(true) => "compliant",
            Some(false) => "non-compliant",
            None => "unknown",
        };
        let mut fields = vec![
            r.seq.to_string(),
            super::rfc3339_ms(r.time_ms),
            r.cluster.clone(),
            r.policy.clone(),
            result.to_string(),
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
            super::rfc3339_ms(r.time_ms),
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
            super::rfc3339_ms(r.received_at_ms),
        ]
    }

    /// An evidence row as the API shows it.
    pub fn row_json(r: &EvidenceRow) -> PolicyEvidence {
        let parse = |text: &str| serde_json::from_str::<serde_json::Value>(text).unwrap_or(serde_json::Value::Null);
        PolicyEvidence {
            kind: EvidenceKind::Policy,
            seq: r.seq,
            time: super::rfc3339_ms(r.time_ms),
            time_ms: r.time_ms,
            cluster: r.cluster.clone(),
            policy: r.policy.clone(),
            compliant: r.compliant,
            commit: r.commit.clone(),
            standards: r.standards_json.as_deref().map(parse),
            controls: r.controls_json.as_deref().map(parse),
            violations: parse(&r.violations_json),
            remediation: parse(&r.remediation_json),
            sequence: r.sequence,
            change: r.change,
            prev_hash: r.prev_hash.clone(),
            hash: r.hash.clone(),
        }
    }

    /// Recomputes the evidence chain.
    pub async fn verify(State(hub): State<Arc<Hub>>, headers: HeaderMap) -> Response {
        if let Err(r) = hub.viewer(&headers).await {
            return r;
        }
        match hub.store().verify_evidence().await {
            Ok(check) => Json(check).into_response(),
            Err(e) => problem(StatusCode::SERVICE_UNAVAILABLE, &e.to_string(), None),
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
    pub async fn audit_view(State(hub): State<Arc<Hub>>, headers: HeaderMap, Query(q): Query<AuditQuery>) -> Response {
        if let Err(r) = hub.viewer(&headers).await {
            return r;
        }
        let Some(standard) = q.standard.filter(|s| !s.trim().is_empty()) else {
            return problem(
                StatusCode::BAD_REQUEST,
                "a standard is needed, as standard=PCI-DSS v4.0",
                Some("standard"),
            );
        };
        let at_ms = match q.at.as_deref() {
            None => Hub::now_ms(),
            Some(at) => {
                let Some(ms) = parse_time(at) else {
                    let message = format!("at {at:?} is neither YYYY-MM-DD nor an RFC 3339 UTC time");
                    return problem(StatusCode::BAD_REQUEST, &message, Some("at"));
                };
                ms
            }
        };
        let rows = match hub.store().evidence_as_of(at_ms).await {
            Ok(rows) => rows,
            Err(e) => return problem(StatusCode::SERVICE_UNAVAILABLE, &e.to_string(), None),
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
            "html" => ([(header::CONTENT_TYPE, "text/html; charset=utf-8")], to_html(&report)).into_response(),
            other => problem(StatusCode::BAD_REQUEST, &format!("format {other:?}: json, csv or html"), Some("format")),
        }
    }
}

pub use http::{audit_view, evidence, parse_time, row_json, verify};
