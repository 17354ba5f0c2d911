//! The hub's HTTP API over real HTTP on loopback, against SQLite and PostgreSQL: registration,
//! report ingest and everything it refuses (nothing of a refused report is stored), and the
//! views' JSON.

mod common;

use common::{DECLARED_STORE, Hub, Setup, WEB_PLACEMENT, commit, fleet_repository, now, postgres, report};
use flotilla_git::testing::git;
use serde_json::{Value, json};

/// A hub serving on loopback with `backend` (`sqlite` or `postgres`), its fleet (placement `web`
/// and the declared store-9999) on `prod` and `dev`.
async fn start(backend: &str) -> Hub {
    let dir = tempfile::tempdir().unwrap();
    fleet_repository(
        dir.path(),
        &[
            ("fleet/fleet.yaml", &format!("{WEB_PLACEMENT}---\n{DECLARED_STORE}")),
            ("web/cm.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a, namespace: shop}\n"),
        ],
        &["dev"],
    );
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
async fn registration_ingest_and_views_on_sqlite() {
    registration_and_ingest("sqlite").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
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
async fn the_lag_ledger_follows_the_branch_on_sqlite() {
    lag_after_commits("sqlite").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_lag_ledger_follows_the_branch_on_postgres() {
    lag_after_commits("postgres").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_command_line_shows_the_views_as_tables_and_json() {
    let hub = start("sqlite").await;
    let head = git(&hub.dir.path().join("fleet"), &["rev-parse", "prod"]);
    let token = hub.register("store-0001").await;
    assert_eq!(hub.post("/api/v1/reports", Some(&token), &report("store-0001", 1, "Synced", &head)).await.0, 200);
    hub.wait_for("/api/v1/lag?placement=web", "the fleet and the report", |v| v["onHead"] == 1).await;
    let token_file = hub.dir.path().join("viewer-token");
    let cli = |args: &[&str]| {
        let output = std::process::Command::new(env!("CARGO_BIN_EXE_hub-index"))
            .args(args)
            .args(["--hub", &hub.url, "--token-file", token_file.to_str().unwrap()])
            .output()
            .unwrap();
        assert!(output.status.success(), "{args:?}: {}", String::from_utf8_lossy(&output.stderr));
        String::from_utf8(output.stdout).unwrap()
    };
    let status = tokio::task::block_in_place(|| cli(&["status"]));
    assert!(status.starts_with("2 clusters\n"), "{status}");
    assert!(status.contains("synced         1"), "{status}");
    let json: Value =
        serde_json::from_str(&tokio::task::block_in_place(|| cli(&["status", "--format", "json"]))).unwrap();
    assert_eq!(json["byStanding"]["neverReported"], 1);
    let clusters = tokio::task::block_in_place(|| cli(&["clusters", "--state", "synced"]));
    assert!(clusters.contains("store-0001  prod         synced"), "{clusters}");
    let cluster = tokio::task::block_in_place(|| cli(&["cluster", "store-0001"]));
    assert!(cluster.contains(&format!("web        Synced  Healthy  {}", &head[..12])), "{cluster}");
    let lag = tokio::task::block_in_place(|| cli(&["lag", "web"]));
    assert!(lag.starts_with(&format!("web in prod: head {}, 1 of 1 clusters on it", &head[..12])), "{lag}");

    let refused = std::process::Command::new(env!("CARGO_BIN_EXE_hub-index"))
        .args(["status", "--hub", &hub.url])
        .env_remove("FLOTILLA_HUB_TOKEN")
        .output()
        .unwrap();
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("401"), "{}", String::from_utf8_lossy(&refused.stderr));
}
