//! The command line's tables: the API's views ([`crate::api`]), laid out in columns. A value
//! the view lacks is `-`.

use std::fmt::Write as _;

use crate::api::{
    ClusterDetail, ClusterLine, Compliance, ComplianceCounts, Counts, Ledger, OverrideGroup, Page, PolicyCompliance,
    Summary,
};

/// Lays out rows in columns, each as wide as its widest cell.
pub fn columns(header: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = header.iter().map(|h| h.len()).collect();
    for row in rows {
        for (i, cell) in row.iter().enumerate() {
            widths[i] = widths[i].max(cell.chars().count());
        }
    }
    let mut out = String::new();
    let mut line = |cells: Vec<&str>| {
        let text: Vec<String> = cells.iter().zip(&widths).map(|(c, w)| format!("{c:<w$}")).collect();
        let _ = writeln!(out, "{}", text.join("  ").trim_end());
    };
    line(header.to_vec());
    for row in rows {
        line(row.iter().map(String::as_str).collect());
    }
    out
}

/// A value as a cell: `-` when there is none.
fn or_dash<T: ToString>(v: Option<T>) -> String {
    v.map_or_else(|| "-".into(), |v| v.to_string())
}

/// A value's wire name (`high`, `offline`, `VerificationFailed`), as the JSON says it.
fn wire(value: &impl serde::Serialize) -> String {
    match serde_json::to_value(value) {
        Ok(serde_json::Value::String(s)) => s,
        Ok(serde_json::Value::Null) | Err(_) => "-".into(),
        Ok(other) => other.to_string(),
    }
}

/// A commit id (core's rule: 40 or 64 lower-case hex digits), its first 12 characters (other
/// text as it is); `-` for none.
fn short(commit: Option<&str>) -> String {
    match commit {
        None => "-".into(),
        Some(t) if flotilla_core::name::CommitId::check(t).is_ok() => t[..12].to_string(),
        Some(t) => t.to_string(),
    }
}

const STATES: [&str; 6] = ["synced", "progressing", "degraded", "failed", "offline", "neverReported"];

fn counts_table(first: &str, map: &std::collections::BTreeMap<String, Counts>) -> String {
    let mut header = vec![first];
    header.extend(STATES);
    let rows: Vec<Vec<String>> = map
        .iter()
        .map(|(name, counts)| {
            let mut row = vec![name.clone()];
            row.extend(STATES.iter().map(|s| or_dash(counts.get(*s))));
            row
        })
        .collect();
    columns(&header, &rows)
}

/// A view's compliance counts as cells: compliant, non-compliant, unknown, not reported.
fn compliance_counts(c: &ComplianceCounts) -> [String; 4] {
    [c.compliant, c.non_compliant, c.unknown, c.not_reported].map(|n| n.to_string())
}

const COMPLIANCE_HEADER: [&str; 4] = ["COMPLIANT", "NON-COMPLIANT", "UNKNOWN", "NOT-REPORTED"];

/// Standards → controls → policies, one row each; `*` stands for "all of them" on the rows
/// that roll a standard or a control up.
fn compliance_table(v: &Compliance) -> String {
    let mut rows: Vec<Vec<String>> = Vec::new();
    for s in &v.standards {
        let mut row = vec![s.name.clone(), "*".into(), "*".into(), String::new()];
        row.extend(compliance_counts(&s.counts));
        rows.push(row);
        for c in &s.controls {
            let mut row = vec![s.name.clone(), c.name.clone(), "*".into(), String::new()];
            row.extend(compliance_counts(&c.counts));
            rows.push(row);
            for p in &c.policies {
                let mut row = vec![s.name.clone(), c.name.clone(), p.name.clone(), wire(&p.severity)];
                row.extend(compliance_counts(&p.counts));
                rows.push(row);
            }
        }
    }
    let mut header = vec!["STANDARD", "CONTROL", "POLICY", "SEVERITY"];
    header.extend(COMPLIANCE_HEADER);
    columns(&header, &rows)
}

/// Governance of an environment: the clusters counted, then its table.
pub fn compliance(v: &Compliance) -> String {
    let mut out = String::new();
    let labels = Some(&v.labels).filter(|l| !l.is_empty()).map(|l| format!(" with labels {l}"));
    let _ = writeln!(out, "{} clusters in {}{}\n", v.clusters, v.environment, labels.unwrap_or_default());
    if let Some(e) = &v.fleet_error {
        let _ = writeln!(out, "the fleet branch could not be read: {e}\n");
    }
    out.push_str(&compliance_table(v));
    out
}

/// One policy: what the fleet says of it, its counts, and its non-compliant clusters.
pub fn policy(v: &PolicyCompliance) -> String {
    let list = |items: &[String]| if items.is_empty() { "-".to_string() } else { items.join(", ") };
    let gone = if v.in_fleet { "" } else { " (not in the fleet)" };
    let mut out = format!("{} in {}{gone}\n", v.policy, v.environment);
    let _ = writeln!(
        out,
        "severity {}, remediation {}, standards {}, controls {}\n",
        wire(&v.severity),
        wire(&v.remediation),
        list(&v.standards),
        list(&v.controls)
    );
    out.push_str(&columns(&COMPLIANCE_HEADER, &[compliance_counts(&v.counts).to_vec()]));
    out.push('\n');
    let page = &v.non_compliant;
    let rows: Vec<Vec<String>> = page
        .items
        .iter()
        .map(|c| vec![c.name.clone(), c.environment.clone(), c.standing.name().to_string(), c.violations.to_string()])
        .collect();
    out.push_str(&columns(&["NON-COMPLIANT", "ENVIRONMENT", "STATE", "VIOLATIONS"], &rows));
    let _ = writeln!(out, "({} of {} from {})", rows.len(), page.total, page.offset);
    out
}

/// How many cluster names a line of the overrides table lists.
const NAMES: usize = 10;

/// The overrides, newest first: one line per override, with the clusters that ran it.
pub fn overrides(groups: &[OverrideGroup]) -> String {
    let rows: Vec<Vec<String>> = groups
        .iter()
        .map(|g| {
            let mut names: Vec<String> = g.clusters.iter().take(NAMES).map(|c| c.cluster.clone()).collect();
            if g.clusters.len() > NAMES {
                names.push(format!("and {} more", g.clusters.len() - NAMES));
            }
            vec![
                g.target.clone(),
                short(Some(&g.commit)),
                g.signer.clone(),
                g.reason.clone(),
                g.first_received_at.clone(),
                g.clusters.len().to_string(),
                names.join(", "),
            ]
        })
        .collect();
    if rows.is_empty() {
        return "no overrides\n".to_string();
    }
    columns(&["TARGET", "COMMIT", "SIGNER", "REASON", "FIRST RECEIVED", "CLUSTERS", "NAMES"], &rows)
}

/// One cluster: its standing, the fleet commit it runs and who signed it, its placements and
/// who signed each, and the overrides it ran; `now_ms` dates the last report.
pub fn cluster(v: &ClusterDetail, now_ms: i64) -> String {
    let mut out = String::new();
    let last_report = v.last_report_at_ms.map_or_else(|| "never".to_string(), |ms| when(ms, now_ms));
    let _ = writeln!(out, "{}  {}  {}  last report {last_report}", v.name, v.environment, v.state.name());
    if let Some(fleet) = &v.fleet {
        let mut line = format!("fleet {}  {}", short(Some(&fleet.commit)), wire(&fleet.state));
        if let Some(signer) = &fleet.signer {
            let _ = write!(line, "  signed by {signer}");
        }
        if let Some(head) = &fleet.head {
            let _ = write!(line, "  head {}", short(Some(head)));
        }
        if let Some(message) = &fleet.message {
            let _ = write!(line, "  {message}");
        }
        let _ = writeln!(out, "{line}");
    }
    let rows: Vec<Vec<String>> = v
        .placements
        .iter()
        .map(|p| {
            vec![
                p.name.clone(),
                wire(&p.state),
                wire(&p.health),
                short(p.applied_commit.as_deref()),
                short(p.desired_commit.as_deref()),
                or_dash(p.behind.as_ref().and_then(|b| b.commits)),
                or_dash(p.signer.as_ref()),
                or_dash(p.message.as_ref()),
            ]
        })
        .collect();
    let header = ["PLACEMENT", "STATE", "HEALTH", "APPLIED", "DESIRED", "BEHIND", "SIGNER", "MESSAGE"];
    out.push_str(&columns(&header, &rows));
    let overrides: Vec<Vec<String>> = v
        .overrides
        .iter()
        .map(|o| {
            vec![o.target.clone(), short(Some(&o.commit)), o.signer.clone(), o.reason.clone(), o.received_at.clone()]
        })
        .collect();
    if !overrides.is_empty() {
        out.push('\n');
        out.push_str(&columns(&["OVERRIDE", "COMMIT", "SIGNER", "REASON", "RECEIVED"], &overrides));
    }
    out
}

/// A time in Unix milliseconds as an RFC 3339 UTC time and its age at `now_ms`:
/// `2026-11-25T03:32:07Z (4 min ago)`.
pub fn when(ms: i64, now_ms: i64) -> String {
    format!("{} ({})", flotilla_core::calendar::rfc3339(ms.div_euclid(1_000)), age(now_ms - ms))
}

/// How long ago, rounded down to the largest unit: `just now`, `42 s ago`, `4 min ago`,
/// `3 h ago`, `2 days ago`; a time ahead of `now` (another clock) says `in the future`.
fn age(ms: i64) -> String {
    let seconds = ms.div_euclid(1_000);
    match seconds {
        ..-1 => "in the future".to_string(),
        -1..1 => "just now".to_string(),
        1..60 => format!("{seconds} s ago"),
        60..3_600 => format!("{} min ago", seconds / 60),
        3_600..86_400 => format!("{} h ago", seconds / 3_600),
        86_400..172_800 => "1 day ago".to_string(),
        _ => format!("{} days ago", seconds / 86_400),
    }
}

/// The fleet summary: clusters by state, environment and placement.
pub fn summary(v: &Summary) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "{} clusters\n", v.clusters);
    let by: Vec<Vec<String>> = v.by_standing.iter().map(|(k, n)| vec![k.clone(), n.to_string()]).collect();
    out.push_str(&columns(&["state", "clusters"], &by));
    out.push('\n');
    out.push_str(&counts_table("environment", &v.by_environment));
    out.push('\n');
    out.push_str(&counts_table("placement", &v.by_placement));
    out
}

/// A page of the cluster list.
pub fn clusters(v: &Page<ClusterLine>) -> String {
    let mut out = String::new();
    let rows: Vec<Vec<String>> = v
        .items
        .iter()
        .map(|c| {
            vec![
                c.name.clone(),
                c.environment.clone(),
                c.standing.name().to_string(),
                c.placements.to_string(),
                c.problems.to_string(),
                c.fleet.as_ref().map(wire).unwrap_or_default(),
            ]
        })
        .collect();
    out.push_str(&columns(&["NAME", "ENVIRONMENT", "STATE", "PLACEMENTS", "PROBLEMS", "FLEET"], &rows));
    let _ = writeln!(out, "({} of {} from {})", rows.len(), v.total, v.offset);
    out
}

/// The lag ledger: the commits run, then the clusters behind.
pub fn ledger(v: &Ledger) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{} in {}: head {}, {} of {} clusters on it\n",
        v.placement,
        v.environment,
        short(Some(&v.head)),
        v.on_head,
        v.clusters
    );
    let rows: Vec<Vec<String>> = v
        .commits
        .iter()
        .map(|l| {
            vec![short(Some(&l.commit)), l.clusters.to_string(), or_dash(l.behind.commits), or_dash(l.behind.since)]
        })
        .collect();
    out.push_str(&columns(&["COMMIT", "CLUSTERS", "BEHIND", "SINCE"], &rows));
    out.push('\n');
    let rows: Vec<Vec<String>> = v
        .lagging
        .items
        .iter()
        .map(|l| {
            vec![
                l.cluster.clone(),
                short(l.commit.as_deref()),
                or_dash(l.behind.commits),
                l.standing.name().to_string(),
            ]
        })
        .collect();
    out.push_str(&columns(&["LAGGING", "COMMIT", "BEHIND", "STATE"], &rows));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A view from JSON, as the hub sends it.
    fn view<T: serde::de::DeserializeOwned>(v: serde_json::Value) -> T {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn columns_line_up() {
        let t = columns(&["A", "LONGER"], &[vec!["x".into(), "1".into()], vec!["wider".into(), "2".into()]]);
        assert_eq!(t, "A      LONGER\nx      1\nwider  2\n");
    }

    #[test]
    fn the_compliance_tables_roll_up_and_list() {
        let counts =
            |nc: usize| serde_json::json!({"compliant": 2, "nonCompliant": nc, "unknown": 0, "notReported": 1});
        let v = serde_json::json!({"environment": "prod", "labels": "", "clusters": 3, "standards": [
            {"name": "PCI-DSS v4.0", "counts": counts(1), "controls": [
                {"name": "1.3.1", "counts": counts(1), "policies": [
                    {"name": "pci-default-deny", "inFleet": true, "severity": "high", "remediation": null,
                     "categories": [], "counts": counts(1)}]}]}]});
        let t = compliance(&view(v));
        assert!(t.starts_with("3 clusters in prod\n\n"), "{t}");
        assert!(t.contains("\nPCI-DSS v4.0  *        *                           2          1"), "{t}");
        assert!(t.contains("\nPCI-DSS v4.0  1.3.1    pci-default-deny  high      2          1"), "{t}");
        let v = serde_json::json!({"policy": "pci-default-deny", "environment": "prod", "labels": "", "inFleet": true,
            "severity": "high", "remediation": "enforce", "standards": ["PCI-DSS v4.0"], "controls": ["1.3.1", "1.4.2"],
            "categories": [], "counts": counts(1), "nonCompliant": {"total": 1, "offset": 0, "items": [
                {"name": "store-0002", "environment": "prod", "standing": "offline", "violations": 2}]}});
        let t = policy(&view(v));
        assert!(t.contains("controls 1.3.1, 1.4.2"), "{t}");
        assert!(t.contains("store-0002     prod         offline  2"), "{t}");
        assert!(t.ends_with("(1 of 1 from 0)\n"), "{t}");
    }

    /// A cluster's detail with nothing in it but its name, environment, state, last report and
    /// fleet commit, and `placements`.
    fn detail(
        name: &str,
        state: &str,
        last: Option<i64>,
        fleet: &serde_json::Value,
        placements: &serde_json::Value,
    ) -> ClusterDetail {
        view(serde_json::json!({"name": name, "environment": "prod", "labels": {}, "state": state,
            "declared": true, "registered": true, "lastReportAtMs": last, "lastSequence": null, "fleet": fleet,
            "placements": placements, "policies": [], "reports": [], "policyHistory": [], "overrides": []}))
    }

    #[test]
    fn the_cluster_table_dates_the_last_report_with_its_age_not_epoch_milliseconds() {
        let v = detail("store-1", "synced", Some(1_796_604_825_483), &serde_json::Value::Null, &serde_json::json!([]));
        let t = cluster(&v, 1_796_604_825_483 + 4 * 60_000 + 59_000);
        assert!(t.starts_with("store-1  prod  synced  last report 2026-12-07T00:53:45Z (4 min ago)\n"), "{t}");
        let never = detail("store-2", "neverReported", None, &serde_json::Value::Null, &serde_json::json!([]));
        assert!(cluster(&never, 0).contains("last report never\n"));
        let ages = [
            (0, "just now"),
            (59_999, "59 s ago"),
            (7_200_000, "2 h ago"),
            (86_400_000, "1 day ago"),
            (3 * 86_400_000, "3 days ago"),
            (-5_000, "in the future"),
        ];
        for (ms, said) in ages {
            assert_eq!(age(ms), said);
        }
    }

    #[test]
    fn the_cluster_table_says_who_signed_the_fleet_and_each_source_commit() {
        let fleet = serde_json::json!({"commit": "a".repeat(40), "head": "b".repeat(40), "state": "VerificationFailed",
            "message": "bbbb is not signed", "signer": "platform@retail.example"});
        let placements = serde_json::json!([{"name": "web", "state": "Synced", "health": "Healthy",
            "appliedCommit": "c".repeat(40), "appliedDigest": null, "desiredCommit": "c".repeat(40),
            "desiredDigest": null, "signer": "release@retail.example", "message": null, "objects": [], "images": [],
            "behind": null}]);
        let t = cluster(&detail("store-2", "failed", Some(5), &fleet, &placements), 0);
        assert!(
            t.contains(
                "\nfleet aaaaaaaaaaaa  VerificationFailed  signed by platform@retail.example  head bbbbbbbbbbbb  bbbb is not signed\n"
            ),
            "{t}"
        );
        assert!(t.contains("BEHIND  SIGNER                  MESSAGE"), "{t}");
        assert!(t.contains("-       release@retail.example  -"), "{t}");
        let v = detail("store-3", "synced", None, &serde_json::Value::Null, &serde_json::json!([]));
        assert!(!cluster(&v, 0).contains("fleet"));
    }

    #[test]
    fn the_overrides_table_lists_each_override_and_its_clusters() {
        let names: Vec<serde_json::Value> = (0..12)
            .map(|i| {
                serde_json::json!({"cluster": format!("store-{i:02}"), "environment": "prod", "receivedAt": "",
                    "receivedAtMs": 0, "time": "", "seq": i, "hash": ""})
            })
            .collect();
        let v = serde_json::json!([{"target": "web", "commit": "c".repeat(40), "signer": "oncall@retail.example",
            "reason": "INC-4711 card readers down", "firstReceivedAt": "2026-11-25T03:00:00Z", "firstReceivedAtMs": 0,
            "lastReceivedAt": "", "lastReceivedAtMs": 0, "clusters": names}]);
        let t = overrides(&view::<Vec<OverrideGroup>>(v));
        assert!(t.starts_with("TARGET  COMMIT        SIGNER"), "{t}");
        assert!(
            t.contains(
                "web     cccccccccccc  oncall@retail.example  INC-4711 card readers down  2026-11-25T03:00:00Z  12"
            ),
            "{t}"
        );
        assert!(t.trim_end().ends_with("store-08, store-09, and 2 more"), "{t}");
        assert_eq!(overrides(&[]), "no overrides\n");
    }

    #[test]
    fn the_summary_table_shows_every_state() {
        let v = serde_json::json!({"clusters": 3, "byStanding": {"synced": 2, "failed": 1},
            "byEnvironment": {"prod": {"synced": 2, "failed": 1}}, "byPlacement": {}, "versions": {}});
        let t = summary(&view(v));
        assert!(t.starts_with("3 clusters\n"), "{t}");
        assert!(t.contains("prod         2       -            -         1"), "{t}");
    }
}
