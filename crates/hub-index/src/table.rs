//! The command line's tables: the API's JSON views, laid out in columns.

use std::fmt::Write as _;

use serde_json::Value;

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

fn text(v: &Value) -> String {
    match v {
        Value::Null => "-".into(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn short(v: &Value) -> String {
    let t = text(v);
    if t.len() == 40 && t.bytes().all(|b| b.is_ascii_hexdigit()) { t[..12].to_string() } else { t }
}

fn counts_table(first: &str, map: &Value) -> String {
    let states = ["synced", "progressing", "degraded", "failed", "offline", "neverReported"];
    let mut header = vec![first];
    header.extend(states);
    let rows: Vec<Vec<String>> = map
        .as_object()
        .into_iter()
        .flatten()
        .map(|(name, counts)| {
            let mut row = vec![name.clone()];
            row.extend(states.iter().map(|s| text(&counts[*s])));
            row
        })
        .collect();
    columns(&header, &rows)
}

/// A view's compliance counts as cells: compliant, non-compliant, unknown, not reported.
fn compliance_counts(c: &Value) -> [String; 4] {
    ["compliant", "nonCompliant", "unknown", "notReported"].map(|k| text(&c[k]))
}

const COMPLIANCE_HEADER: [&str; 4] = ["COMPLIANT", "NON-COMPLIANT", "UNKNOWN", "NOT-REPORTED"];

/// Standards → controls → policies, one row each; `*` stands for "all of them" on the rows
/// that roll a standard or a control up.
fn compliance_table(v: &Value) -> String {
    let mut rows: Vec<Vec<String>> = Vec::new();
    for s in v["standards"].as_array().into_iter().flatten() {
        let mut row = vec![text(&s["name"]), "*".into(), "*".into(), String::new()];
        row.extend(compliance_counts(&s["counts"]));
        rows.push(row);
        for c in s["controls"].as_array().into_iter().flatten() {
            let mut row = vec![text(&s["name"]), text(&c["name"]), "*".into(), String::new()];
            row.extend(compliance_counts(&c["counts"]));
            rows.push(row);
            for p in c["policies"].as_array().into_iter().flatten() {
                let mut row = vec![text(&s["name"]), text(&c["name"]), text(&p["name"]), text(&p["severity"])];
                row.extend(compliance_counts(&p["counts"]));
                rows.push(row);
            }
        }
    }
    let mut header = vec!["STANDARD", "CONTROL", "POLICY", "SEVERITY"];
    header.extend(COMPLIANCE_HEADER);
    columns(&header, &rows)
}

/// One policy: what the fleet says of it, its counts, and its non-compliant clusters.
fn policy_table(v: &Value) -> String {
    let list = |key: &str| {
        let items: Vec<String> = v[key].as_array().into_iter().flatten().map(text).collect();
        if items.is_empty() { "-".to_string() } else { items.join(", ") }
    };
    let gone = if v["inFleet"] == false { " (not in the fleet)" } else { "" };
    let mut out = format!("{} in {}{gone}\n", text(&v["policy"]), text(&v["environment"]));
    let _ = writeln!(
        out,
        "severity {}, remediation {}, standards {}, controls {}\n",
        text(&v["severity"]),
        text(&v["remediation"]),
        list("standards"),
        list("controls")
    );
    out.push_str(&columns(&COMPLIANCE_HEADER, &[compliance_counts(&v["counts"]).to_vec()]));
    out.push('\n');
    let page = &v["nonCompliant"];
    let rows: Vec<Vec<String>> = page["items"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|c| ["name", "environment", "standing", "violations"].iter().map(|k| text(&c[*k])).collect())
        .collect();
    out.push_str(&columns(&["NON-COMPLIANT", "ENVIRONMENT", "STATE", "VIOLATIONS"], &rows));
    let _ = writeln!(out, "({} of {} from {})", rows.len(), text(&page["total"]), text(&page["offset"]));
    out
}

/// How many cluster names a line of the overrides table lists.
const NAMES: usize = 10;

/// The overrides, newest first: one line per override, with the clusters that ran it.
fn overrides_table(v: &Value) -> String {
    let rows: Vec<Vec<String>> = v
        .as_array()
        .into_iter()
        .flatten()
        .map(|g| {
            let clusters = g["clusters"].as_array().map(Vec::as_slice).unwrap_or_default();
            let mut names: Vec<String> = clusters.iter().take(NAMES).map(|c| text(&c["cluster"])).collect();
            if clusters.len() > NAMES {
                names.push(format!("and {} more", clusters.len() - NAMES));
            }
            vec![
                text(&g["target"]),
                short(&g["commit"]),
                text(&g["signer"]),
                text(&g["reason"]),
                text(&g["firstReceivedAt"]),
                clusters.len().to_string(),
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
/// who signed each, and the overrides it ran.
fn cluster_table(v: &Value, now_ms: i64) -> String {
    let mut out = String::new();
    let last_report = v["lastReportAtMs"].as_i64().map_or_else(|| "never".to_string(), |ms| when(ms, now_ms));
    let _ = writeln!(
        out,
        "{}  {}  {}  last report {last_report}",
        text(&v["name"]),
        text(&v["environment"]),
        text(&v["state"]),
    );
    let fleet = &v["fleet"];
    if !fleet.is_null() {
        let mut line = format!("fleet {}  {}", short(&fleet["commit"]), text(&fleet["state"]));
        if !fleet["signer"].is_null() {
            let _ = write!(line, "  signed by {}", text(&fleet["signer"]));
        }
        if !fleet["head"].is_null() {
            let _ = write!(line, "  head {}", short(&fleet["head"]));
        }
        if !fleet["message"].is_null() {
            let _ = write!(line, "  {}", text(&fleet["message"]));
        }
        let _ = writeln!(out, "{line}");
    }
    let rows: Vec<Vec<String>> = v["placements"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|p| {
            vec![
                text(&p["name"]),
                text(&p["state"]),
                text(&p["health"]),
                short(&p["appliedCommit"]),
                short(&p["desiredCommit"]),
                text(&p["behind"]["commits"]),
                text(&p["signer"]),
                text(&p["message"]),
            ]
        })
        .collect();
    let header = ["PLACEMENT", "STATE", "HEALTH", "APPLIED", "DESIRED", "BEHIND", "SIGNER", "MESSAGE"];
    out.push_str(&columns(&header, &rows));
    let overrides: Vec<Vec<String>> = v["overrides"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|o| {
            ["target", "commit", "signer", "reason", "receivedAt"]
                .iter()
                .map(|k| if *k == "commit" { short(&o[*k]) } else { text(&o[*k]) })
                .collect()
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

/// The table for the view at `path`; `now_ms` (Unix milliseconds) dates the ages it shows.
pub fn render(path: &str, v: &Value, now_ms: i64) -> String {
    let mut out = String::new();
    if path.ends_with("/overrides") {
        out.push_str(&overrides_table(v));
    } else if path.ends_with("/compliance") {
        let labels = v["labels"].as_str().filter(|l| !l.is_empty()).map(|l| format!(" with labels {l}"));
        let _ = writeln!(
            out,
            "{} clusters in {}{}\n",
            text(&v["clusters"]),
            text(&v["environment"]),
            labels.unwrap_or_default()
        );
        if let Some(e) = v["fleetError"].as_str() {
            let _ = writeln!(out, "the fleet branch could not be read: {e}\n");
        }
        out.push_str(&compliance_table(v));
    } else if path.contains("/compliance/") {
        out.push_str(&policy_table(v));
    } else if path.ends_with("/summary") {
        let _ = writeln!(out, "{} clusters\n", text(&v["clusters"]));
        let by: Vec<Vec<String>> =
            v["byStanding"].as_object().into_iter().flatten().map(|(k, n)| vec![k.clone(), text(n)]).collect();
        out.push_str(&columns(&["state", "clusters"], &by));
        out.push('\n');
        out.push_str(&counts_table("environment", &v["byEnvironment"]));
        out.push('\n');
        out.push_str(&counts_table("placement", &v["byPlacement"]));
    } else if path.ends_with("/clusters") {
        let rows: Vec<Vec<String>> = v["items"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|c| {
                let mut row: Vec<String> = ["name", "environment", "standing", "placements", "problems"]
                    .iter()
                    .map(|k| text(&c[*k]))
                    .collect();
                row.push(c.get("fleet").map(text).unwrap_or_default());
                row
            })
            .collect();
        out.push_str(&columns(&["NAME", "ENVIRONMENT", "STATE", "PLACEMENTS", "PROBLEMS", "FLEET"], &rows));
        let _ = writeln!(out, "({} of {} from {})", rows.len(), text(&v["total"]), text(&v["offset"]));
    } else if path.contains("/clusters/") {
        out.push_str(&cluster_table(v, now_ms));
    } else if path.ends_with("/lag") {
        let _ = writeln!(
            out,
            "{} in {}: head {}, {} of {} clusters on it\n",
            text(&v["placement"]),
            text(&v["environment"]),
            short(&v["head"]),
            text(&v["onHead"]),
            text(&v["clusters"])
        );
        let rows: Vec<Vec<String>> = v["commits"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|l| {
                vec![
                    short(&l["commit"]),
                    text(&l["clusters"]),
                    text(&l["behind"]["commits"]),
                    text(&l["behind"]["since"]),
                ]
            })
            .collect();
        out.push_str(&columns(&["COMMIT", "CLUSTERS", "BEHIND", "SINCE"], &rows));
        out.push('\n');
        let rows: Vec<Vec<String>> = v["lagging"]["items"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|l| {
                vec![text(&l["cluster"]), short(&l["commit"]), text(&l["behind"]["commits"]), text(&l["standing"])]
            })
            .collect();
        out.push_str(&columns(&["LAGGING", "COMMIT", "BEHIND", "STATE"], &rows));
    } else {
        let _ = writeln!(out, "{}", serde_json::to_string_pretty(v).unwrap_or_default());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

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
                    {"name": "pci-default-deny", "severity": "high", "counts": counts(1)}]}]}]});
        let t = render("/api/v1/compliance", &v, 0);
        assert!(t.starts_with("3 clusters in prod\n\n"), "{t}");
        assert!(t.contains("\nPCI-DSS v4.0  *        *                           2          1"), "{t}");
        assert!(t.contains("\nPCI-DSS v4.0  1.3.1    pci-default-deny  high      2          1"), "{t}");
        let v = serde_json::json!({"policy": "pci-default-deny", "environment": "prod", "inFleet": true,
            "severity": "high", "remediation": "enforce", "standards": ["PCI-DSS v4.0"], "controls": ["1.3.1", "1.4.2"],
            "counts": counts(1), "nonCompliant": {"total": 1, "offset": 0, "items": [
                {"name": "store-0002", "environment": "prod", "standing": "offline", "violations": 2}]}});
        let t = render("/api/v1/compliance/pci-default-deny", &v, 0);
        assert!(t.contains("controls 1.3.1, 1.4.2"), "{t}");
        assert!(t.contains("store-0002     prod         offline  2"), "{t}");
        assert!(t.ends_with("(1 of 1 from 0)\n"), "{t}");
    }

    #[test]
    fn the_cluster_table_dates_the_last_report_with_its_age_not_epoch_milliseconds() {
        let v = serde_json::json!({"name": "store-1", "environment": "prod", "state": "synced",
            "lastReportAtMs": 1_796_604_825_483_i64});
        let t = render("/api/v1/clusters/store-1", &v, 1_796_604_825_483 + 4 * 60_000 + 59_000);
        assert!(t.starts_with("store-1  prod  synced  last report 2026-12-07T00:53:45Z (4 min ago)\n"), "{t}");
        let never = serde_json::json!({"name": "store-2", "environment": "prod", "state": "neverReported"});
        assert!(render("/api/v1/clusters/store-2", &never, 0).contains("last report never\n"));
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
        let v = serde_json::json!({"name": "store-2", "environment": "prod", "state": "failed", "lastReportAtMs": 5,
            "fleet": {"commit": "a".repeat(40), "head": "b".repeat(40), "state": "VerificationFailed",
                "message": "bbbb is not signed", "signer": "platform@retail.example"},
            "placements": [{"name": "web", "state": "Synced", "health": "Healthy", "appliedCommit": "c".repeat(40),
                "desiredCommit": "c".repeat(40), "signer": "release@retail.example"}]});
        let t = render("/api/v1/clusters/store-2", &v, 0);
        assert!(
            t.contains(
                "\nfleet aaaaaaaaaaaa  VerificationFailed  signed by platform@retail.example  head bbbbbbbbbbbb  bbbb is not signed\n"
            ),
            "{t}"
        );
        assert!(t.contains("BEHIND  SIGNER                  MESSAGE"), "{t}");
        assert!(t.contains("-       release@retail.example  -"), "{t}");
        let v = serde_json::json!({"name": "store-3", "fleet": null, "placements": []});
        assert!(!render("/api/v1/clusters/store-3", &v, 0).contains("fleet"));
    }

    #[test]
    fn the_overrides_table_lists_each_override_and_its_clusters() {
        let names: Vec<serde_json::Value> =
            (0..12).map(|i| serde_json::json!({"cluster": format!("store-{i:02}")})).collect();
        let v = serde_json::json!([{"target": "web", "commit": "c".repeat(40), "signer": "oncall@retail.example",
            "reason": "INC-4711 card readers down", "firstReceivedAt": "2026-11-25T03:00:00Z", "clusters": names}]);
        let t = render("/api/v1/overrides", &v, 0);
        assert!(t.starts_with("TARGET  COMMIT        SIGNER"), "{t}");
        assert!(
            t.contains(
                "web     cccccccccccc  oncall@retail.example  INC-4711 card readers down  2026-11-25T03:00:00Z  12"
            ),
            "{t}"
        );
        assert!(t.trim_end().ends_with("store-08, store-09, and 2 more"), "{t}");
        assert_eq!(render("/api/v1/overrides", &serde_json::json!([]), 0), "no overrides\n");
    }

    #[test]
    fn the_summary_table_shows_every_state() {
        let v = serde_json::json!({"clusters": 3, "byStanding": {"synced": 2, "failed": 1},
            "byEnvironment": {"prod": {"synced": 2, "failed": 1}}, "byPlacement": {}});
        let t = render("/api/v1/summary", &v, 0);
        assert!(t.starts_with("3 clusters\n"), "{t}");
        assert!(t.contains("prod         2       -            -         1"), "{t}");
    }
}
