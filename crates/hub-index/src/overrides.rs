//! Which overrides happened: the evidence log's overrides (each commit a cluster ran through a
//! change freeze by a signed `Flotilla-Override:` trailer, see `store::overrides`) grouped per
//! target, commit, signer and reason, each group with the clusters that ran it and when the hub
//! received each. `GET /api/v1/overrides`, `hub-index overrides` and the dashboard's
//! `/overrides` show it; the evidence export lists the same rows one per cluster.
//!
//! A commit's reason comes from its message and its signer from the cluster's override signers
//! file, so one override is one group; a cluster whose file names the key otherwise shows as a
//! group of its own, which is what its agent said. Groups come newest first (by the position
//! of their first row in the evidence chain, the order the hub took them in).
//!
//! Read from the store on each request: overrides are rare (freezes are short, and each row is
//! a cluster running an exception), so there is nothing for the index to keep.

use std::collections::BTreeMap;

use serde::Deserialize;

use crate::api::{EvidenceKind, OverrideEvidence, OverrideGroup, Ran};
use crate::audit::rfc3339_ms;
use crate::records::OverrideRow;

/// The most override rows one request reads.
pub const MAX_ROWS: i64 = 100_000;

/// Groups override rows per target, commit, signer and reason, newest first.
pub fn group(rows: &[OverrideRow]) -> Vec<OverrideGroup> {
    let mut groups: BTreeMap<(&str, &str, &str, &str), Vec<&OverrideRow>> = BTreeMap::new();
    for r in rows {
        groups.entry((&r.target, &r.commit, &r.signer, &r.reason)).or_default().push(r);
    }
    let mut groups: Vec<OverrideGroup> = groups
        .into_iter()
        .map(|((target, commit, signer, reason), mut rows)| {
            rows.sort_by_key(|r| r.seq);
            let first = rows.iter().map(|r| r.received_at_ms).min().unwrap_or_default();
            let last = rows.iter().map(|r| r.received_at_ms).max().unwrap_or_default();
            OverrideGroup {
                target: target.to_string(),
                commit: commit.to_string(),
                signer: signer.to_string(),
                reason: reason.to_string(),
                first_received_at: rfc3339_ms(first),
                first_received_at_ms: first,
                last_received_at: rfc3339_ms(last),
                last_received_at_ms: last,
                clusters: rows
                    .iter()
                    .map(|r| Ran {
                        cluster: r.cluster.clone(),
                        environment: r.environment.clone(),
                        received_at: rfc3339_ms(r.received_at_ms),
                        received_at_ms: r.received_at_ms,
                        time: rfc3339_ms(r.time_ms),
                        seq: r.seq,
                        hash: r.hash.clone(),
                    })
                    .collect(),
            }
        })
        .collect();
    groups.sort_by_key(|g| std::cmp::Reverse(g.clusters.first().map_or(0, |c| c.seq)));
    groups
}

/// An override row as the evidence export shows it, beside the policy results.
pub fn row_json(r: &OverrideRow) -> OverrideEvidence {
    OverrideEvidence {
        kind: EvidenceKind::Override,
        seq: r.seq,
        time: rfc3339_ms(r.time_ms),
        time_ms: r.time_ms,
        received_at: rfc3339_ms(r.received_at_ms),
        received_at_ms: r.received_at_ms,
        cluster: r.cluster.clone(),
        environment: r.environment.clone(),
        target: r.target.clone(),
        commit: r.commit.clone(),
        signer: r.signer.clone(),
        reason: r.reason.clone(),
        sequence: r.sequence,
        change: r.change,
        prev_hash: r.prev_hash.clone(),
        hash: r.hash.clone(),
    }
}

/// Which overrides a view shows.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct Filter {
    pub cluster: Option<String>,
    pub target: Option<String>,
    pub environment: Option<String>,
    /// Only overrides whose report time is at or after this: `YYYY-MM-DD` or RFC 3339 UTC.
    pub since: Option<String>,
    /// At most this many groups (default 100).
    pub limit: Option<usize>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(seq: i64, cluster: &str, target: &str, commit: char, signer: &str) -> OverrideRow {
        OverrideRow {
            seq,
            cluster: cluster.into(),
            environment: "prod".into(),
            target: target.into(),
            commit: commit.to_string().repeat(40),
            signer: signer.into(),
            reason: "INC-1".into(),
            change: seq,
            sequence: 1,
            time_ms: 1_000 * seq,
            received_at_ms: 1_764_000_000_000 + 1_000 * seq,
            prev_hash: String::new(),
            hash: format!("{seq:064}"),
        }
    }

    #[test]
    fn clusters_are_grouped_per_override_newest_first() {
        let rows = [
            row(7, "s2", "web", 'a', "oncall"),
            row(2, "s1", "web", 'a', "oncall"),
            row(5, "s1", "fleet", 'f', "oncall"),
            // The same commit, and another signer's name for the key on s3.
            row(9, "s3", "web", 'a', "oncall-eu"),
        ];
        let groups = group(&rows);
        let seen: Vec<(&str, &str, Vec<&str>)> = groups
            .iter()
            .map(|g| (g.target.as_str(), g.signer.as_str(), g.clusters.iter().map(|c| c.cluster.as_str()).collect()))
            .collect();
        assert_eq!(
            seen,
            [("web", "oncall-eu", vec!["s3"]), ("fleet", "oncall", vec!["s1"]), ("web", "oncall", vec!["s1", "s2"])]
        );
        let web = &groups[2];
        assert_eq!((web.first_received_at_ms, web.last_received_at_ms), (1_764_000_002_000, 1_764_000_007_000));
        assert_eq!(web.first_received_at, "2025-11-24T16:00:02Z");
        assert_eq!(web.clusters[1].seq, 7);
        assert!(group(&[]).is_empty());
    }
}
