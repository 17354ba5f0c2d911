//! The audit report: the fleet's compliance with one standard as of a time, per control, with
//! the evidence behind each result — what `hub-index audit` and `GET /api/v1/audit` give, as
//! JSON, CSV or HTML.
//!
//! Built from the store's `evidence_as_of`: for every cluster and policy, the evidence row in
//! force at that time (the last change at or before it). A row names the standards and controls its policy named when it was written; rows written
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

use crate::api::{Audit, AuditControl, ClusterResult, EvidenceKind, PolicyEvidence, PolicyResults, Verdict};
use crate::records::{EvidenceRow, PolicyMeta};

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

/// A policy result in words, as the CSV and HTML say it: compliant, non-compliant, or unknown
/// (`None`: the agent could not evaluate the policy).
pub fn result_word(compliant: Option<bool>) -> &'static str {
    match compliant {
        Some(true) => "compliant",
        Some(false) => "non-compliant",
        None => "unknown",
    }
}

/// The audit as CSV: one line per control, policy and cluster, with the evidence row.
pub fn to_csv(audit: &Audit) -> String {
    let mut out = String::from(
        "standard,at,control,control_verdict,policy,cluster,result,since,commit,evidence_seq,evidence_hash\n",
    );
    for c in &audit.controls {
        for p in &c.policies {
            for r in &p.results {
                let result = result_word(r.compliant);
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

/// `YYYY-MM-DD` (the end of that day, UTC: "as of" a date includes it) or an RFC 3339 UTC
/// time, as unix milliseconds.
pub fn parse_time(text: &str) -> Option<i64> {
    if text.len() == 10 {
        let start = flotilla_core::calendar::unix_ms(&format!("{text}T00:00:00Z"))?;
        return Some(start + 86_400_000 - 1);
    }
    flotilla_core::calendar::unix_ms(text)
}

/// An evidence row as the API shows it.
pub fn row_json(r: &EvidenceRow) -> PolicyEvidence {
    let parse = |text: &str| serde_json::from_str::<serde_json::Value>(text).unwrap_or(serde_json::Value::Null);
    PolicyEvidence {
        kind: EvidenceKind::Policy,
        seq: r.seq,
        time: rfc3339_ms(r.time_ms),
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn controls_get_the_worst_result_and_rows_without_standards_use_the_catalog() {
        let row = EvidenceRow::example;
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
    }

    #[test]
    fn csv_fields_are_quoted_and_not_formulas() {
        assert_eq!(csv_field("plain"), "plain");
        assert_eq!(csv_field("a,b"), "\"a,b\"");
        assert_eq!(csv_field("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(csv_field("=1+1"), "'=1+1");
    }
}
