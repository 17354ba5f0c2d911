//! The hub's HTTP API over real HTTP on loopback, against SQLite and PostgreSQL: registration,
//! report ingest and everything it refuses (nothing of a refused report is stored), and the
//! views' JSON, governance included.

mod common;

use common::{
    DECLARED_STORE, Hub, PCI_POLICIES, PolicyResult, Setup, WEB_PLACEMENT, commit, fleet_repository, now, postgres,
    report, with_policies,
};
use flotilla_git::testing::git;
use serde_json::{Value, json};

/// A hub serving on loopback with `backend` (`sqlite` or `postgres`), its fleet (placement `web`
/// and the declared store-9999) on `prod` and `dev`.
async fn start(backend: &str) -> Hub {
    start_with(backend, &[]).await
}

/// [`start`], with `more` files in the fleet repository.
async fn start_with(backend: &str, more: &[(&str, &str)]) -> Hub {
    let dir = tempfile::tempdir().unwrap();
    let fleet = format!("{WEB_PLACEMENT}---\n{DECLARED_STORE}");
    let mut files = vec![
        ("fleet/fleet.yaml", fleet.as_str()),
        ("web/cm.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a, namespace: shop}\n"),
    ];
    files.extend_from_slice(more);
    fleet_repository(dir.path(), &files, &["dev"]);
    let db = if backend == "sqlite" {
        format!("sqlite:{}", dir.path().join("hub.db").display())
    } else {
        static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        postgres().create_database(&format!("api_{n}"))
    };
    let setup = Setup {
        db,
        viewer: "flt_view_test_token_from_file",
        environments: &["prod", "dev"],
        client: reqwest::Client::new(),
    };
    Hub::serve(dir, setup).await
}

async fn registration_and_ingest(backend: &str) {
    let hub = start(backend).await;
    let head = git(&hub.dir.path().join("fleet"), &["rev-parse", "prod"]);

    // Registration: a join token limited to store-*.
    let join = hub.store().await.create_join_token(Some("store-*")).await.unwrap();
    let body = |name: &str| json!({"cluster": name, "environment": "prod", "labels": {"kind": "store"}}).to_string();
    assert_eq!(hub.post("/api/v1/register", Some("flt_join_wrong"), &body("store-0001")).await.0, 401);
    assert_eq!(hub.post("/api/v1/register", Some(&join), &body("cloud-01")).await.0, 403);
    assert_eq!(hub.post("/api/v1/register", Some(&join), "{\"cluster\": 1}").await.0, 400);
    let token = hub.register("store-0001").await;
    let other = hub.register("store-0002").await;

    // A good report is stored; the same again (replayed) and an older one are acknowledged and ignored.
    let (status, answer) = hub.post("/api/v1/reports", Some(&token), &report("store-0001", 2, "Synced", &head)).await;
    assert_eq!((status, answer["status"].as_str()), (200, Some("stored")), "{answer}");
    for sequence in [2, 1] {
        let (status, answer) =
            hub.post("/api/v1/reports", Some(&token), &report("store-0001", sequence, "Failed", &head)).await;
        assert_eq!((status, answer["status"].as_str()), (200, Some("ignored")), "{answer}");
    }

    // Refused, each with the field named, and nothing stored.
    let refused = [
        (None, report("store-0001", 3, "Synced", &head), 401, None),
        (Some("flt_cluster_unknown"), report("store-0001", 3, "Synced", &head), 401, None),
        (Some(other.as_str()), report("store-0001", 3, "Synced", &head), 403, Some("cluster")),
        (
            Some(token.as_str()),
            report("store-0001", 3, "Synced", "not-a-commit"),
            400,
            Some("placements[0].sourceCommit"),
        ),
        (Some(token.as_str()), report("store-0001", 3, "Sunk", &head), 400, Some("placements[0].state")),
        (Some(token.as_str()), "{not json".to_string(), 400, None),
        (
            Some(token.as_str()),
            report("store-0001", 3, "Synced", &head).replace(&now(), "2999-01-01T00:00:00Z"),
            400,
            Some("time"),
        ),
        (Some(token.as_str()), format!("{{\"pad\": \"{}\"}}", "x".repeat(300 * 1024)), 413, None),
    ];
    for (t, body, status, field) in refused {
        let (got, answer) = hub.post("/api/v1/reports", t, &body).await;
        assert_eq!(got, status, "{answer}");
        if let Some(field) = field {
            assert_eq!(answer["field"].as_str(), Some(field), "{answer}");
        }
    }
    let row = hub.store().await.cluster("store-0001").await.unwrap().unwrap();
    assert_eq!(row.last_sequence, 2, "nothing of a refused report is stored");

    // The views: summary, list, detail, lag.
    let summary = hub
        .wait_for("/api/v1/summary", "the report and the fleet in the summary", |v| {
            v["byStanding"]["synced"] == 1 && v["clusters"] == 3
        })
        .await;
    assert_eq!(summary["clusters"], 3, "two registered, one declared in git: {summary}");
    assert_eq!(summary["byStanding"]["neverReported"], 2, "{summary}");
    let (status, list) = hub.get("/api/v1/clusters?state=neverReported&labels=kind=store").await;
    assert_eq!(status, 200);
    let names: Vec<&str> = list["items"].as_array().unwrap().iter().map(|c| c["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["store-0002", "store-9999"]);
    let (status, detail) = hub.get("/api/v1/clusters/store-0001").await;
    assert_eq!(status, 200, "{detail}");
    let p = &detail["placements"][0];
    assert_eq!((p["name"].as_str(), p["state"].as_str()), (Some("web"), Some("Synced")));
    assert_eq!(p["appliedCommit"], head);
    assert_eq!(p["desiredCommit"], head);
    assert!(p["appliedDigest"].as_str().unwrap().starts_with("sha256:"));
    assert_eq!(p["images"], json!(["registry.example/web:1.0"]), "what the cluster runs: {p}");
    assert_eq!(hub.get("/api/v1/clusters/nope").await.0, 404);
    let ledger =
        hub.wait_for("/api/v1/lag?placement=web&environment=prod", "the fleet read", |v| v["head"].is_string()).await;
    assert_eq!((ledger["clusters"].as_u64(), ledger["onHead"].as_u64()), (Some(1), Some(1)), "{ledger}");

    // Reads need a viewer token.
    let anonymous = hub.client.get(format!("{}/api/v1/summary", hub.url)).send().await.unwrap();
    assert_eq!(anonymous.status().as_u16(), 401);
    let issued = hub.store().await.create_viewer_token().await.unwrap();
    let with_issued = hub.client.get(format!("{}/api/v1/summary", hub.url)).bearer_auth(&issued).send().await.unwrap();
    assert_eq!(with_issued.status().as_u16(), 200);
    let metrics = hub.client.get(format!("{}/metrics", hub.url)).send().await.unwrap().text().await.unwrap();
    assert!(metrics.contains("flotilla_hub_reports_total{outcome=\"stored\"} 1"), "{metrics}");
    assert!(metrics.contains("flotilla_hub_clusters{standing=\"synced\"} 1"), "{metrics}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(flotilla_skip_git_daemon, ignore = "FLOTILLA_SKIP=git-daemon")]
async fn registration_ingest_and_views_on_sqlite() {
    registration_and_ingest("sqlite").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(any(flotilla_skip_git_daemon, flotilla_skip_postgres), ignore = "FLOTILLA_SKIP=git-daemon or postgres")]
async fn registration_ingest_and_views_on_postgres() {
    registration_and_ingest("postgres").await;
}

async fn lag_after_commits(backend: &str) {
    let hub = start(backend).await;
    let fleet = hub.dir.path().join("fleet");
    let first = git(&fleet, &["rev-parse", "prod"]);
    let token = hub.register("store-0001").await;
    let behind = hub.register("store-0002").await;
    let second =
        commit(&fleet, &[("web/cm.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: b, namespace: shop}\n")]);
    let third =
        commit(&fleet, &[("web/cm.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c, namespace: shop}\n")]);
    assert_eq!(hub.post("/api/v1/reports", Some(&token), &report("store-0001", 1, "Synced", &third)).await.0, 200);
    assert_eq!(hub.post("/api/v1/reports", Some(&behind), &report("store-0002", 1, "Synced", &first)).await.0, 200);
    let ledger = hub
        .wait_for("/api/v1/lag?placement=web", "the new head", |v| v["head"] == third.as_str() && v["clusters"] == 2)
        .await;
    assert_eq!(ledger["onHead"], 1, "{ledger}");
    let lagging = &ledger["lagging"]["items"][0];
    assert_eq!(lagging["cluster"], "store-0002");
    assert_eq!(lagging["behind"]["commits"], 2, "{ledger}");
    assert!(lagging["behind"]["since"].is_i64(), "since when: the time of {second}: {ledger}");
    let (_, promotion) = hub.get("/api/v1/promotion").await;
    assert!(promotion.is_array() || promotion.is_object(), "{promotion}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(flotilla_skip_git_daemon, ignore = "FLOTILLA_SKIP=git-daemon")]
async fn the_lag_ledger_follows_the_branch_on_sqlite() {
    lag_after_commits("sqlite").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(any(flotilla_skip_git_daemon, flotilla_skip_postgres), ignore = "FLOTILLA_SKIP=git-daemon or postgres")]
async fn the_lag_ledger_follows_the_branch_on_postgres() {
    lag_after_commits("postgres").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(flotilla_skip_git_daemon, ignore = "FLOTILLA_SKIP=git-daemon")]
async fn the_command_line_shows_the_views_as_tables_and_json() {
    let hub = start("sqlite").await;
    let head = git(&hub.dir.path().join("fleet"), &["rev-parse", "prod"]);
    let token = hub.register("store-0001").await;
    assert_eq!(hub.post("/api/v1/reports", Some(&token), &report("store-0001", 1, "Synced", &head)).await.0, 200);
    hub.wait_for("/api/v1/lag?placement=web", "the fleet and the report", |v| v["onHead"] == 1).await;
    let status = hub.cli(&["status"]);
    assert!(status.starts_with("2 clusters\n"), "{status}");
    assert!(status.contains("synced         1"), "{status}");
    let json: Value = serde_json::from_str(&hub.cli(&["status", "--format", "json"])).unwrap();
    assert_eq!(json["byStanding"]["neverReported"], 1);
    let clusters = hub.cli(&["clusters", "--state", "synced"]);
    assert!(clusters.contains("store-0001  prod         synced"), "{clusters}");
    // The last report as a UTC time and an age, not epoch milliseconds. The age is the command's
    // clock less the report's time, which the API tells; the command's clock is somewhere
    // between two readings of the test's, so a slow machine changes which age is right, never
    // whether the test passes.
    let (_, detail) = hub.get("/api/v1/clusters/store-0001").await;
    let reported = detail["lastReportAtMs"].as_i64().expect("a report");
    let before = now_ms();
    let cluster = hub.cli(&["cluster", "store-0001"]);
    let after = now_ms();
    assert!(cluster.contains(&format!("web        Synced  Healthy  {}", &head[..12])), "{cluster}");
    let first = cluster.lines().next().unwrap();
    let (_, when) = first.split_once("last report ").expect(first);
    let time = flotilla_core::calendar::rfc3339(reported.div_euclid(1_000));
    assert!(when.starts_with(&format!("{time} (")), "{first}");
    let ages: Vec<String> =
        (before..after).step_by(1_000).chain([after]).map(|now| hub_index::table::when(reported, now)).collect();
    assert!(ages.iter().any(|age| age == when), "{first}: not one of {ages:?}");
    if after - reported < 1_000 {
        assert_eq!(when, format!("{time} (just now)"), "a report of under a second ago");
    }
    // The views end quietly when their reader goes (`hub-index clusters | head`).
    let mut closed = std::process::Command::new(env!("CARGO_BIN_EXE_hub-index"))
        .args(["status", "--hub", &hub.url, "--token-file"])
        .arg(hub.dir.path().join("viewer-token"))
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    drop(closed.stdout.take());
    let closed = closed.wait_with_output().unwrap();
    assert_eq!(closed.status.code(), Some(0), "{}", String::from_utf8_lossy(&closed.stderr));
    assert_eq!(String::from_utf8_lossy(&closed.stderr), "");
    let lag = hub.cli(&["lag", "web"]);
    assert!(lag.starts_with(&format!("web in prod: head {}, 1 of 1 clusters on it", &head[..12])), "{lag}");

    let refused = std::process::Command::new(env!("CARGO_BIN_EXE_hub-index"))
        .args(["status", "--hub", &hub.url])
        .env_remove("FLOTILLA_HUB_TOKEN")
        .output()
        .unwrap();
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("401"), "{}", String::from_utf8_lossy(&refused.stderr));
}

#[test]
fn serve_help_explains_every_flag_and_states_each_default_once() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_hub-index")).args(["serve", "--help"]).output().unwrap();
    let help = String::from_utf8(out.stdout).unwrap();
    assert!(out.status.success(), "{help}");
    assert!(help.contains("--listen <LISTEN>\n          The address and port to serve"), "{help}");
    assert_eq!(help.matches("hub-git-cache").count(), 1, "{help}");
    // Every flag has a line of help under it.
    for flag in help.lines().filter(|l| l.trim_start().starts_with("--")) {
        let next = help.lines().skip_while(|l| *l != flag).nth(1).unwrap_or_default();
        assert!(next.starts_with("          ") && !next.trim().is_empty(), "{flag} has no help:\n{help}");
    }
}

/// A hub whose fleet declares [`PCI_POLICIES`], with store-0001 and store-0003 (`region=eu`) and
/// store-0002 (`region=us`) reporting results, and store-9999 declared and silent:
///
/// | cluster    | pci-default-deny   | pci-no-nodeport       | pci-retired (no longer declared) |
/// |------------|--------------------|-----------------------|----------------------------------|
/// | store-0001 | compliant          | non-compliant (1)     | compliant                        |
/// | store-0002 | non-compliant (2)  | unknown               |                                  |
/// | store-0003 | compliant          | (no result)           |                                  |
/// | store-9999 | (never reported)   | (never reported)      |                                  |
async fn governed(backend: &str) -> Hub {
    let hub = start_with(backend, &[("fleet/policies.yaml", PCI_POLICIES)]).await;
    let results: [(&str, &str, &[PolicyResult]); 3] = [
        (
            "store-0001",
            "eu",
            &[("pci-default-deny", Some(true), 0), ("pci-no-nodeport", Some(false), 1), ("pci-retired", Some(true), 0)],
        ),
        ("store-0002", "us", &[("pci-default-deny", Some(false), 2), ("pci-no-nodeport", None, 0)]),
        ("store-0003", "eu", &[("pci-default-deny", Some(true), 0)]),
    ];
    for (name, region, policies) in results {
        let token = hub.register_labelled(name, json!({"kind": "store", "region": region})).await;
        let body = with_policies(&report(name, 1, "Synced", &hub.head), policies);
        let (status, answer) = hub.post("/api/v1/reports", Some(&token), &body).await;
        assert_eq!(status, 200, "{answer}");
    }
    hub.wait_for("/api/v1/compliance", "the fleet and the three reports", |v| {
        policy(v, "PCI-DSS v4.0", "1.3.1", "pci-default-deny")["counts"]["compliant"] == 2
            && v["standards"].as_array().is_some_and(|s| s.len() == 2)
    })
    .await;
    hub
}

/// The line of `policy` under `standard` and `control` in a compliance view (null if none).
fn policy<'v>(view: &'v Value, standard: &str, control: &str, policy: &str) -> &'v Value {
    let find = |list: &'v Value, name: &str| -> &'v Value {
        list.as_array().and_then(|l| l.iter().find(|x| x["name"] == name)).unwrap_or(&Value::Null)
    };
    let control = find(&find(&view["standards"], standard)["controls"], control);
    find(&control["policies"], policy)
}

fn counts(compliant: u64, non_compliant: u64, unknown: u64, not_reported: u64) -> Value {
    json!({"compliant": compliant, "nonCompliant": non_compliant, "unknown": unknown, "notReported": not_reported})
}

fn names(page: &Value) -> Vec<&str> {
    page["items"].as_array().unwrap().iter().map(|c| c["name"].as_str().unwrap()).collect()
}

async fn compliance_by_standard_control_and_policy(backend: &str) {
    let hub = governed(backend).await;
    let (status, view) = hub.get("/api/v1/compliance").await;
    assert_eq!(status, 200, "{view}");
    assert_eq!((view["environment"].as_str(), view["clusters"].as_u64()), (Some("prod"), Some(4)), "{view}");
    let pci = &view["standards"][0];
    assert_eq!(pci["name"], "PCI-DSS v4.0");
    // Each cluster once, at its worst over both policies: 0001 and 0002 non-compliant, 0003
    // (no pci-no-nodeport result) and 9999 not reported.
    assert_eq!(pci["counts"], counts(0, 2, 0, 2), "{view}");
    let controls: Vec<(&str, &Value)> =
        pci["controls"].as_array().unwrap().iter().map(|c| (c["name"].as_str().unwrap(), &c["counts"])).collect();
    assert_eq!(controls, [("1.3.1", &counts(0, 2, 0, 2)), ("1.4.2", &counts(0, 1, 1, 2))]);
    let deny = policy(&view, "PCI-DSS v4.0", "1.3.1", "pci-default-deny");
    assert_eq!(deny["counts"], counts(2, 1, 0, 1), "{view}");
    assert_eq!((deny["severity"].as_str(), deny["remediation"].as_str()), (Some("high"), Some("inform")));
    assert_eq!(deny["categories"], json!(["Network Security Controls"]));
    for control in ["1.3.1", "1.4.2"] {
        let nodeport = policy(&view, "PCI-DSS v4.0", control, "pci-no-nodeport");
        assert_eq!(nodeport["counts"], counts(0, 1, 1, 2), "listed under each control it names: {view}");
    }
    let retired = policy(&view, "(not in the fleet)", "(no control)", "pci-retired");
    assert_eq!((retired["inFleet"].as_bool(), &retired["counts"]), (Some(false), &counts(1, 0, 0, 0)), "{view}");

    // Filtered by label: over store-0001 and store-0003 only.
    let (status, eu) = hub.get("/api/v1/compliance?labels=region%3Deu").await;
    assert_eq!(status, 200, "{eu}");
    assert_eq!((eu["clusters"].as_u64(), eu["labels"].as_str()), (Some(2), Some("region=eu")));
    assert_eq!(policy(&eu, "PCI-DSS v4.0", "1.3.1", "pci-default-deny")["counts"], counts(2, 0, 0, 0));
    assert_eq!(policy(&eu, "PCI-DSS v4.0", "1.4.2", "pci-no-nodeport")["counts"], counts(0, 1, 0, 1));
    let (_, dev) = hub.get("/api/v1/compliance?environment=dev").await;
    assert_eq!(
        (dev["clusters"].as_u64(), &policy(&dev, "PCI-DSS v4.0", "1.3.1", "pci-default-deny")["counts"]),
        (Some(0), &counts(0, 0, 0, 0))
    );

    // One policy: its non-compliant clusters, with and without a label filter.
    let (status, deny) = hub.get("/api/v1/compliance/pci-default-deny").await;
    assert_eq!(status, 200, "{deny}");
    assert_eq!(deny["counts"], counts(2, 1, 0, 1));
    assert_eq!((deny["standards"].clone(), deny["controls"].clone()), (json!(["PCI-DSS v4.0"]), json!(["1.3.1"])));
    assert_eq!(names(&deny["nonCompliant"]), ["store-0002"]);
    let line = &deny["nonCompliant"]["items"][0];
    assert_eq!(
        (line["violations"].as_u64(), line["standing"].as_str(), line["environment"].as_str()),
        (Some(2), Some("synced"), Some("prod"))
    );
    let (_, eu) = hub.get("/api/v1/compliance/pci-default-deny?labels=region%3Deu").await;
    assert_eq!((eu["counts"].clone(), eu["nonCompliant"]["total"].as_u64()), (counts(2, 0, 0, 0), Some(0)), "{eu}");
    let (_, eu) = hub.get("/api/v1/compliance/pci-no-nodeport?labels=region%3Deu").await;
    assert_eq!(names(&eu["nonCompliant"]), ["store-0001"], "{eu}");
    let (_, us) = hub.get("/api/v1/compliance/pci-no-nodeport?labels=region%3Dus").await;
    assert_eq!((us["counts"].clone(), names(&us["nonCompliant"]).len()), (counts(0, 0, 1, 0), 0), "{us}");
    let (_, retired) = hub.get("/api/v1/compliance/pci-retired").await;
    assert_eq!((retired["inFleet"].as_bool(), &retired["counts"]), (Some(false), &counts(1, 0, 0, 0)), "{retired}");

    // What is refused, naming the field.
    let refused = [
        ("/api/v1/compliance/nope", 404, "policy"),
        ("/api/v1/compliance?labels=region", 400, "labels"),
        ("/api/v1/compliance/pci-default-deny?labels=region", 400, "labels"),
        ("/api/v1/compliance?environment=staging", 404, "environment"),
    ];
    for (path, status, field) in refused {
        let (got, answer) = hub.get(path).await;
        assert_eq!((got, answer["field"].as_str()), (status, Some(field)), "{path}: {answer}");
    }
    let (_, nope) = hub.get("/api/v1/compliance/nope").await;
    assert!(nope["error"].as_str().unwrap().contains("no policy \"nope\""), "{nope}");
    let anonymous = hub.client.get(format!("{}/api/v1/compliance", hub.url)).send().await.unwrap();
    assert_eq!(anonymous.status().as_u16(), 401);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(flotilla_skip_git_daemon, ignore = "FLOTILLA_SKIP=git-daemon")]
async fn compliance_by_standard_control_and_policy_on_sqlite() {
    compliance_by_standard_control_and_policy("sqlite").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(any(flotilla_skip_git_daemon, flotilla_skip_postgres), ignore = "FLOTILLA_SKIP=git-daemon or postgres")]
async fn compliance_by_standard_control_and_policy_on_postgres() {
    compliance_by_standard_control_and_policy("postgres").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(flotilla_skip_git_daemon, ignore = "FLOTILLA_SKIP=git-daemon")]
async fn the_command_line_shows_compliance() {
    let hub = governed("sqlite").await;
    let token_file = hub.dir.path().join("viewer-token");
    let all = hub.cli(&["compliance"]);
    assert!(all.starts_with("4 clusters in prod\n"), "{all}");
    let row = |text: &str, cells: &[&str]| {
        text.lines().any(|line| line.split("  ").map(str::trim).filter(|c| !c.is_empty()).eq(cells.iter().copied()))
    };
    let nodeport = ["PCI-DSS v4.0", "1.4.2", "pci-no-nodeport", "critical", "0", "1", "1", "2"];
    assert!(row(&all, &["PCI-DSS v4.0", "*", "*", "0", "2", "0", "2"]), "{all}");
    assert!(row(&all, &["PCI-DSS v4.0", "1.3.1", "pci-default-deny", "high", "2", "1", "0", "1"]), "{all}");
    assert!(row(&all, &nodeport), "{all}");
    assert!(row(&all, &["(not in the fleet)", "(no control)", "pci-retired", "-", "1", "0", "0", "0"]), "{all}");
    let eu = hub.cli(&["compliance", "--labels", "region=eu"]);
    assert!(eu.starts_with("2 clusters in prod with labels region=eu\n"), "{eu}");
    assert!(row(&eu, &["PCI-DSS v4.0", "1.3.1", "pci-default-deny", "high", "2", "0", "0", "0"]), "{eu}");
    let one = hub.cli(&["compliance", "--policy", "pci-default-deny"]);
    assert!(one.contains("severity high, remediation inform, standards PCI-DSS v4.0, controls 1.3.1\n"), "{one}");
    assert!(row(&one, &["2", "1", "0", "1"]), "{one}");
    assert!(row(&one, &["store-0002", "prod", "synced", "2"]), "{one}");
    let json: Value = serde_json::from_str(&hub.cli(&[
        "compliance",
        "--policy",
        "pci-no-nodeport",
        "--labels",
        "region=eu",
        "--format",
        "json",
    ]))
    .unwrap();
    assert_eq!(names(&json["nonCompliant"]), ["store-0001"], "{json}");
    let unknown = std::process::Command::new(env!("CARGO_BIN_EXE_hub-index"))
        .args(["compliance", "--policy", "nope", "--hub", &hub.url, "--token-file", token_file.to_str().unwrap()])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&unknown.stderr);
    assert!(!unknown.status.success() && stderr.contains("404") && stderr.contains("no policy"), "{stderr}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(flotilla_skip_git_daemon, ignore = "FLOTILLA_SKIP=git-daemon")]
async fn rollout_progress_counts_each_wave() {
    let hub = start("sqlite").await;
    let head = git(&hub.dir.path().join("fleet"), &["rev-parse", "prod"]);
    let token = hub.register("store-0001").await;
    assert_eq!(hub.post("/api/v1/reports", Some(&token), &report("store-0001", 1, "Synced", &head)).await.0, 200);
    // `web` has no rollout: one wave, everyone, whose commit is the head.
    let view =
        hub.wait_for("/api/v1/rollouts/web", "the fleet and the report", |v| v["waves"][0]["clusters"] == 1).await;
    assert_eq!(view["head"], head.as_str(), "{view}");
    let wave = &view["waves"][0];
    assert_eq!((wave["name"].as_str(), wave["target"].as_str()), (Some("everyone"), Some(head.as_str())), "{view}");
    assert_eq!(
        (wave["onTarget"].as_u64(), wave["onHead"].as_u64(), wave["waiting"].as_u64()),
        (Some(1), Some(1), Some(0))
    );
    let (status, missing) = hub.get("/api/v1/rollouts/nope").await;
    assert_eq!((status, missing["field"].as_str()), (404, Some("placement")), "{missing}");
}

/// The test's clock, in unix milliseconds.
fn now_ms() -> i64 {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap();
    i64::try_from(now.as_millis()).unwrap()
}
