//! The evidence log and the audit over HTTP, on SQLite and PostgreSQL: rows carry the standards
//! and controls the fleet gave their policy, export as JSON and CSV, the chain verifies, and the
//! audit of a standard as of a date is per control with the evidence behind it.

mod common;

use common::{Hub, Setup, WEB_PLACEMENT, fleet_repository, now, postgres};
use serde_json::{Value, json};

const POLICY: &str = "\
apiVersion: flotilla.dev/v1alpha1
kind: Policy
metadata: {name: default-deny}
spec:
  standards: [PCI-DSS v4.0]
  controls: [\"1.3.1\"]
  severity: high
  remediation: inform
  clusters: {matchLabels: {kind: store}}
  objects:
  - compliance: musthave
    object: {apiVersion: networking.k8s.io/v1, kind: NetworkPolicy, metadata: {name: default-deny, namespace: shop}}
---
apiVersion: flotilla.dev/v1alpha1
kind: Policy
metadata: {name: audit-logs}
spec:
  standards: [PCI-DSS v4.0]
  controls: [\"10.2.1\"]
  severity: high
  remediation: inform
  clusters: {matchLabels: {kind: store}}
  objects:
  - compliance: musthave
    object: {apiVersion: apps/v1, kind: DaemonSet, metadata: {name: shipper, namespace: monitoring}}
";

async fn start(backend: &str) -> Hub {
    let dir = tempfile::tempdir().unwrap();
    fleet_repository(
        dir.path(),
        &[
            ("fleet/fleet.yaml", &format!("{WEB_PLACEMENT}---\n{POLICY}")),
            ("web/cm.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a, namespace: shop}\n"),
        ],
        &[],
    );
    let db = if backend == "sqlite" {
        format!("sqlite:{}", dir.path().join("hub.db").display())
    } else {
        postgres().create_database("evidence_api")
    };
    let setup = Setup { db, viewer: "flt_view_evidence", environments: &["prod"], client: reqwest::Client::new() };
    Hub::serve(dir, setup).await
}

/// A report whose policy `default-deny` is compliant or not (one violation).
fn report(cluster: &str, sequence: u64, compliant: bool) -> String {
    let mut policy = json!({"name": "default-deny", "compliant": compliant});
    if !compliant {
        policy["violations"] = json!([{"object": "NetworkPolicy/shop/default-deny", "message": "missing"}]);
    }
    json!({
        "version": 1, "cluster": cluster, "agentVersion": "0.1.0", "sequence": sequence, "time": now(),
        "placements": [], "policies": [policy],
    })
    .to_string()
}

async fn text(hub: &Hub, path: &str) -> (u16, String, String) {
    let answer = hub.client.get(format!("{}{path}", hub.url)).bearer_auth(&hub.viewer).send().await.unwrap();
    let status = answer.status().as_u16();
    let kind = answer.headers()["content-type"].to_str().unwrap().to_string();
    (status, kind, answer.text().await.unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[expect(clippy::too_many_lines, reason = "one story: reports in, then every way out of the evidence")]
#[cfg_attr(any(flotilla_skip_git_daemon, flotilla_skip_postgres), ignore = "FLOTILLA_SKIP=git-daemon or postgres")]
async fn evidence_exports_verifies_and_the_audit_reads_it_per_control() {
    for backend in ["sqlite", "postgres"] {
        let hub = start(backend).await;
        // The fleet read first, so that evidence names its standards.
        hub.wait_for("/api/v1/promotion", "the fleet read", |_| true).await;
        let one = hub.register("store-1").await;
        let two = hub.register("store-2").await;
        for (token, body) in [
            (&one, report("store-1", 1, false)),
            (&two, report("store-2", 1, true)),
            (&one, report("store-1", 2, true)),
        ] {
            let (status, answer) = hub.post("/api/v1/reports", Some(token), &body).await;
            assert_eq!(status, 200, "{backend}: {answer}");
        }

        let (status, rows) = hub.get("/api/v1/evidence").await;
        assert_eq!(status, 200, "{rows}");
        let rows = rows.as_array().unwrap();
        let seen: Vec<(i64, &str, bool)> = rows
            .iter()
            .map(|r| (r["seq"].as_i64().unwrap(), r["cluster"].as_str().unwrap(), r["compliant"].as_bool().unwrap()))
            .collect();
        assert_eq!(seen, [(1, "store-1", false), (2, "store-2", true), (3, "store-1", true)], "{backend}");
        assert_eq!(rows[0]["standards"], json!(["PCI-DSS v4.0"]));
        assert_eq!(rows[0]["controls"], json!(["1.3.1"]));
        assert_eq!(rows[1]["prevHash"], rows[0]["hash"]);
        let (status, only) = hub.get("/api/v1/evidence?cluster=store-2").await;
        assert_eq!((status, only.as_array().unwrap().len()), (200, 1));

        let (status, kind, csv) = text(&hub, "/api/v1/evidence?format=csv").await;
        assert_eq!((status, kind.as_str()), (200, "text/csv; charset=utf-8"));
        let lines: Vec<&str> = csv.lines().collect();
        assert_eq!(lines.len(), 4, "{csv}");
        assert!(lines[0].starts_with("seq,time,cluster,policy,result,"));
        assert!(lines[1].starts_with("1,") && lines[1].contains(",store-1,default-deny,non-compliant,"), "{csv}");

        // A cluster's policy history, newest first, on the API and on its dashboard page.
        let (status, detail) = hub.get("/api/v1/clusters/store-1").await;
        assert_eq!(status, 200, "{detail}");
        let history: Vec<(i64, bool)> = detail["policyHistory"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| (e["seq"].as_i64().unwrap(), e["compliant"].as_bool().unwrap()))
            .collect();
        assert_eq!(history, [(3, true), (1, false)], "{backend}");
        let (status, _, page) = text(&hub, "/clusters/store-1").await;
        assert_eq!(status, 200);
        assert!(page.contains("<h2>Policies</h2>") && page.contains("<h2>Policy history</h2>"), "{page}");
        assert!(
            page.contains("<td>default-deny</td><td><span class=\"badge s-failed\">non-compliant</span>"),
            "{page}"
        );

        let (status, check) = hub.get("/api/v1/evidence/verify").await;
        assert_eq!(status, 200);
        assert_eq!((check["rows"].clone(), check["problem"].clone()), (json!(3), Value::Null), "{check}");
        assert_eq!(check["head"], rows[2]["hash"]);

        // As of today (its end): store-1 compliant again, store-2 compliant; control 10.2.1 has
        // a policy in the fleet that no cluster reported.
        let today = &now()[..10];
        let (status, audit) = hub.get(&format!("/api/v1/audit?standard=PCI-DSS%20v4.0&at={today}")).await;
        assert_eq!(status, 200, "{audit}");
        let controls: Vec<(&str, &str, i64)> = audit["controls"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| (c["control"].as_str().unwrap(), c["verdict"].as_str().unwrap(), c["compliant"].as_i64().unwrap()))
            .collect();
        assert_eq!(controls, [("1.3.1", "compliant", 2), ("10.2.1", "noEvidence", 0)], "{backend}");
        let results = &audit["controls"][0]["policies"][0]["results"];
        assert_eq!(results[0]["cluster"], "store-1");
        assert_eq!(results[0]["evidenceSeq"], 3);
        assert_eq!(results[0]["evidenceHash"], rows[2]["hash"]);
        // Before any report: no evidence anywhere.
        let (_, before) = hub.get("/api/v1/audit?standard=PCI-DSS%20v4.0&at=2020-01-01").await;
        assert!(before["controls"].as_array().unwrap().iter().all(|c| c["verdict"] == "noEvidence"), "{before}");

        let (status, kind, html) =
            text(&hub, &format!("/api/v1/audit?standard=PCI-DSS%20v4.0&at={today}&format=html")).await;
        assert_eq!((status, kind.as_str()), (200, "text/html; charset=utf-8"));
        assert!(html.contains("<h1>PCI-DSS v4.0 as of ") && html.contains("Control 1.3.1: compliant"), "{html}");
        let (status, _, csv) =
            text(&hub, &format!("/api/v1/audit?standard=PCI-DSS%20v4.0&at={today}&format=csv")).await;
        assert_eq!(status, 200);
        assert_eq!(csv.lines().count(), 3, "a header and one line per cluster result: {csv}");

        let (status, bad) = hub.get("/api/v1/audit?standard=PCI-DSS%20v4.0&at=yesterday").await;
        assert_eq!((status, bad["field"].as_str()), (400, Some("at")), "{bad}");
        let (status, bad) = hub.get("/api/v1/audit").await;
        assert_eq!((status, bad["field"].as_str()), (400, Some("standard")), "{bad}");

        // The command line: the same views, and `evidence verify` on the database itself.
        let token_file = hub.dir.path().join("viewer-token");
        let cli = |args: &[&str]| {
            let output = std::process::Command::new(env!("CARGO_BIN_EXE_hub-index")).args(args).output().unwrap();
            (output.status.code(), String::from_utf8(output.stdout).unwrap())
        };
        let remote = ["--hub", &hub.url, "--token-file", token_file.to_str().unwrap()];
        let (code, csv) = tokio::task::block_in_place(|| cli(&[&["evidence"][..], &remote].concat()));
        assert_eq!((code, csv.lines().count()), (Some(0), 4), "{csv}");
        let (code, audit) = tokio::task::block_in_place(|| {
            cli(&[&["audit", "--standard", "PCI-DSS v4.0", "--at", today, "--format", "csv"][..], &remote].concat())
        });
        assert_eq!(code, Some(0));
        assert!(audit.contains(",1.3.1,compliant,default-deny,store-1,compliant,"), "{audit}");
        let (code, holds) = tokio::task::block_in_place(|| cli(&["evidence", "verify", "--db", &hub.db]));
        assert_eq!(code, Some(0), "{holds}");
        assert_eq!(holds.trim(), format!("the evidence chain holds: 3 rows, head {}", check["head"].as_str().unwrap()));
        let pool = {
            sqlx::any::install_default_drivers();
            sqlx::AnyPool::connect(&hub.db).await.unwrap()
        };
        sqlx::query("UPDATE evidence SET cluster = 'store-9' WHERE seq = 2").execute(&pool).await.unwrap();
        let (code, broken) = tokio::task::block_in_place(|| cli(&["evidence", "verify", "--db", &hub.db]));
        assert_eq!(code, Some(1), "{broken}");
        assert!(broken.starts_with("the evidence chain is BROKEN: evidence #2: changed"), "{broken}");
    }
}
