//! The store against both databases it supports: every test runs on SQLite (a file in a
//! temporary folder) and on PostgreSQL (a fresh database on one throwaway server per test
//! binary, see `hub_index::testing`).

mod common;

use std::collections::BTreeMap;
use std::net::TcpStream;
use std::time::Instant;

use common::postgres;
use flotilla_core::register;
use flotilla_core::report::Report;
use hub_index::store::{
    ClusterRow, Error, EvidenceFilter, Incoming, IngestError, Ingested, OverrideFilter, RegisterError, Store,
};
use hub_index::testing::PgServer;
use serde_json::json;
use sha2::{Digest as _, Sha256};
use sqlx::Row as _;

const COMMIT: &str = "3f2a9c41d0b7e6a58c1f4e2d9b0a7c6e5d4f3a21";
const DIGEST: &str = "sha256:5d41402abc4b2a76b9719d911017c592ae4f7e3b8c6d5e4f3a2b1c0d9e8f7a6b";

/// One database under test.
struct Backend {
    name: &'static str,
    url: String,
    store: Store,
    _dir: Option<tempfile::TempDir>,
}

/// A fresh SQLite and a fresh PostgreSQL database, named after the test.
async fn backends(test: &str) -> Vec<Backend> {
    let dir = tempfile::tempdir().unwrap();
    let sqlite = format!("sqlite:{}", dir.path().join("hub.db").display());
    let postgres = postgres().create_database(test);
    vec![
        Backend { name: "sqlite", store: Store::open(&sqlite).await.unwrap(), url: sqlite, _dir: Some(dir) },
        Backend { name: "postgres", store: Store::open(&postgres).await.unwrap(), url: postgres, _dir: None },
    ]
}

/// A connection to the tables themselves, to see what the store wrote.
async fn raw(url: &str) -> sqlx::AnyPool {
    sqlx::any::install_default_drivers();
    sqlx::AnyPool::connect(url).await.unwrap()
}

async fn count(url: &str, sql: &str) -> i64 {
    sqlx::query(sql).fetch_one(&raw(url).await).await.unwrap().try_get(0).unwrap()
}

fn request(cluster: &str) -> register::Request {
    register::Request {
        cluster: cluster.to_string(),
        environment: "prod".to_string(),
        labels: BTreeMap::from([("kind".to_string(), "store".to_string())]),
    }
}

/// Registers clusters with a join token for any name.
async fn registered(store: &Store, clusters: &[&str]) -> Vec<String> {
    let join = store.create_join_token(None).await.unwrap();
    let mut tokens = Vec::new();
    for cluster in clusters {
        tokens.push(store.register(&join, &request(cluster)).await.unwrap().token);
    }
    tokens
}

/// A report of one synced placement and the given policies: `(name, compliant, violated objects)`.
fn report(cluster: &str, sequence: u64, policies: &[(&str, Option<bool>, &[&str])]) -> Incoming {
    let policies: Vec<_> = policies
        .iter()
        .map(|(name, compliant, objects)| {
            let violations: Vec<_> = objects.iter().map(|o| json!({"object": o, "message": "missing"})).collect();
            let mut policy = json!({"name": name, "violations": violations});
            if let Some(compliant) = compliant {
                policy["compliant"] = json!(compliant);
            }
            policy
        })
        .collect();
    let json = json!({
        "version": 1,
        "cluster": cluster,
        "agentVersion": "0.1.0",
        "sequence": sequence,
        "time": format!("2025-11-25T03:{:02}:{:02}Z", sequence / 60 % 60, sequence % 60),
        "placements": [{
            "name": "point-of-sale", "state": "Synced", "sourceCommit": COMMIT,
            "desiredDigest": DIGEST, "health": "Healthy",
        }],
        "policies": policies,
    })
    .to_string();
    let report = Report::from_json(json.as_bytes()).unwrap();
    Incoming {
        token_cluster: cluster.to_string(),
        report,
        json,
        received_at_ms: 1_000 + i64::try_from(sequence).unwrap(),
    }
}

fn plain(cluster: &str, sequence: u64) -> Incoming {
    report(cluster, sequence, &[("resource-limits", Some(true), &[])])
}

fn change(result: &Result<Ingested, IngestError>) -> i64 {
    match result {
        Ok(Ingested::Stored { change }) => *change,
        other => panic!("not stored: {other:?}"),
    }
}

#[tokio::test]
#[cfg_attr(flotilla_skip_postgres, ignore = "FLOTILLA_SKIP=postgres")]
async fn tokens_are_stored_hashed() {
    for b in backends("tokens_are_stored_hashed").await {
        let join = b.store.create_join_token(Some("store-*")).await.unwrap();
        let viewer = b.store.create_viewer_token().await.unwrap();
        let cluster = b.store.register(&join, &request("store-1")).await.unwrap().token;
        assert!(
            join.starts_with("flt_join_") && viewer.starts_with("flt_view_") && cluster.starts_with("flt_cluster_")
        );

        let pool = raw(&b.url).await;
        let mut stored = Vec::new();
        for sql in ["SELECT hash FROM join_tokens", "SELECT hash FROM viewer_tokens", "SELECT token_hash FROM clusters"]
        {
            let rows = sqlx::query(sql).fetch_all(&pool).await.unwrap();
            stored.extend(rows.iter().map(|r| r.try_get::<String, _>(0).unwrap()));
        }
        let want: Vec<String> = [&join, &viewer, &cluster].iter().map(|t| hex::encode(Sha256::digest(t))).collect();
        assert_eq!(stored, want, "{}", b.name);
        for token in [&join, &viewer, &cluster] {
            let secret = &token[token.len() - 64..];
            assert!(stored.iter().all(|s| !s.contains(secret)), "{}: plaintext stored", b.name);
        }

        assert!(b.store.viewer_allowed(&viewer).await.unwrap());
        assert!(!b.store.viewer_allowed(&join).await.unwrap());
        assert!(!b.store.viewer_allowed("flt_view_nonsense").await.unwrap());
        assert_eq!(b.store.cluster_for_token(&cluster).await.unwrap().as_deref(), Some("store-1"));
        assert_eq!(b.store.cluster_for_token(&viewer).await.unwrap(), None);
    }
}

#[tokio::test]
#[cfg_attr(flotilla_skip_postgres, ignore = "FLOTILLA_SKIP=postgres")]
async fn registration_checks_the_join_token_its_pattern_and_the_request() {
    for b in backends("registration_checks").await {
        let store = &b.store;
        let err = store.register("flt_join_unknown", &request("store-1")).await.unwrap_err();
        assert!(matches!(err, RegisterError::Unauthorized), "{}: {err}", b.name);

        let join = store.create_join_token(Some("store-*")).await.unwrap();
        let err = store.register(&join, &request("warehouse-1")).await.unwrap_err();
        assert!(
            matches!(&err, RegisterError::Forbidden { cluster, pattern } if cluster == "warehouse-1" && pattern == "store-*"),
            "{err}"
        );
        assert_eq!(err.to_string(), r#"cluster name "warehouse-1" does not match the join token's pattern "store-*""#);

        let err = store.register(&join, &request("Store_1")).await.unwrap_err();
        assert!(matches!(&err, RegisterError::Invalid(m) if m.starts_with("cluster \"Store_1\"")), "{err}");
        assert_eq!(store.clusters_count().await.unwrap(), 0, "{}: refused registrations store nothing", b.name);

        let err = store.create_join_token(Some("Store-[0-9]")).await.unwrap_err();
        assert!(matches!(err, Error::Pattern { .. }), "{err}");
        assert!(err.to_string().starts_with(r#"cluster name pattern "Store-[0-9]""#), "{err}");

        let response = store.register(&join, &request("store-0042")).await.unwrap();
        assert_eq!(response.cluster, "store-0042");
        assert_eq!(response.validate(), Ok(()));
        let row = store.cluster("store-0042").await.unwrap().unwrap();
        assert_eq!((row.environment.as_str(), row.last_sequence, row.last_report), ("prod", 0, None));
        assert_eq!(row.labels, request("x").labels);
        assert_eq!(store.clusters_count().await.unwrap(), 1);
        assert_eq!(store.cluster("store-0043").await.unwrap(), None);
    }
}

#[tokio::test]
#[cfg_attr(flotilla_skip_postgres, ignore = "FLOTILLA_SKIP=postgres")]
async fn registering_again_issues_a_new_token_and_restarts_the_sequence() {
    for b in backends("registering_again").await {
        let store = &b.store;
        let join = store.create_join_token(None).await.unwrap();
        let old = store.register(&join, &request("store-1")).await.unwrap().token;
        let results = store.ingest(&[plain("store-1", 1), plain("store-1", 2), plain("store-1", 3)]).await;
        assert!(results.iter().all(|r| matches!(r, Ok(Ingested::Stored { .. }))), "{results:?}");
        let before = store.cluster("store-1").await.unwrap().unwrap();

        // The agent lost its state folder: it registers again and counts from 1.
        let mut moved = request("store-1");
        moved.environment = "staging".to_string();
        let new = store.register(&join, &moved).await.unwrap().token;
        assert_ne!(old, new);
        assert_eq!(store.cluster_for_token(&old).await.unwrap(), None, "{}: the old token is dead", b.name);
        assert_eq!(store.cluster_for_token(&new).await.unwrap().as_deref(), Some("store-1"));
        let row = store.cluster("store-1").await.unwrap().unwrap();
        assert_eq!((row.last_sequence, row.environment.as_str()), (0, "staging"));
        assert!(row.change > before.change);
        assert_eq!(row.last_report, before.last_report, "the last-known state is kept");

        let results = store.ingest(&[plain("store-1", 1)]).await;
        assert!(change(&results[0]) > row.change, "{}", b.name);
        let history: Vec<i64> = store.reports("store-1", 10).await.unwrap().iter().map(|r| r.sequence).collect();
        assert_eq!(history, [1, 3, 2, 1], "{}", b.name);
    }
}

#[tokio::test]
#[cfg_attr(flotilla_skip_postgres, ignore = "FLOTILLA_SKIP=postgres")]
async fn ingest_stores_new_reports_and_ignores_replayed_and_out_of_order_ones() {
    for b in backends("ingest_stores_and_ignores").await {
        let store = &b.store;
        registered(store, &["store-1", "store-2"]).await;
        let reports = |url| async move { count(url, "SELECT COUNT(*) FROM reports").await };

        let first = store.ingest(&[plain("store-1", 5)]).await;
        let stored = change(&first[0]);
        let row = store.cluster("store-1").await.unwrap().unwrap();
        assert_eq!((row.last_sequence, row.change, row.last_report_at_ms), (5, stored, Some(1_005)));
        assert_eq!(row.last_report, Some(plain("store-1", 5).report));

        // Replayed and out of order: acknowledged, nothing stored, nothing changed.
        let again = store.ingest(&[plain("store-1", 5), plain("store-1", 4)]).await;
        assert_eq!(again.iter().map(|r| r.as_ref().ok().copied()).collect::<Vec<_>>(), [Some(Ingested::Ignored); 2]);
        assert_eq!(reports(&b.url).await, 1, "{}", b.name);
        assert_eq!(store.cluster("store-1").await.unwrap().unwrap(), row);

        // Unknown and impersonated clusters are refused; the rest of the batch is stored.
        let mut impostor = plain("store-2", 1);
        impostor.token_cluster = "store-1".to_string();
        let mixed = store.ingest(&[plain("store-9", 1), impostor, plain("store-2", 1)]).await;
        assert!(matches!(&mixed[0], Err(IngestError::UnknownCluster(c)) if c == "store-9"), "{:?}", mixed[0]);
        assert!(
            matches!(&mixed[1], Err(IngestError::WrongCluster { token, report }) if token == "store-1" && report == "store-2")
        );
        assert!(change(&mixed[2]) > stored);
        assert_eq!(reports(&b.url).await, 2, "{}", b.name);

        // Two reports of one cluster in a batch are taken in order.
        let batch =
            store.ingest(&[plain("store-1", 7), plain("store-1", 8), plain("store-1", 10), plain("store-1", 9)]).await;
        assert!(change(&batch[0]) < change(&batch[1]) && change(&batch[1]) < change(&batch[2]), "{batch:?}");
        assert_eq!(batch[3].as_ref().ok(), Some(&Ingested::Ignored));
        let row = store.cluster("store-1").await.unwrap().unwrap();
        assert_eq!((row.last_sequence, row.change), (10, change(&batch[2])));
        assert_eq!(reports(&b.url).await, 5, "{}", b.name);

        // A sequence the store cannot hold is refused, not wrapped around.
        let mut huge = plain("store-2", 2);
        huge.report.sequence = u64::MAX;
        let results = store.ingest(&[huge]).await;
        assert!(matches!(&results[0], Err(IngestError::Invalid { problem, .. }) if problem.contains("sequence")));
        assert!(store.ingest(&[]).await.is_empty());
    }
}

#[tokio::test]
#[cfg_attr(flotilla_skip_postgres, ignore = "FLOTILLA_SKIP=postgres")]
async fn change_numbers_increase_and_changed_since_returns_exactly_the_changed_clusters() {
    for b in backends("change_numbers").await {
        let store = &b.store;
        registered(store, &["a", "b", "c", "d"]).await;
        let registered_rows = store.changed_since(0, 100).await.unwrap();
        let names = |rows: &[ClusterRow]| rows.iter().map(|r| r.name.clone()).collect::<Vec<_>>();
        assert_eq!(names(&registered_rows), ["a", "b", "c", "d"], "{}", b.name);
        let mark = registered_rows.last().unwrap().change;

        let mut changes = Vec::new();
        for batch in [vec![plain("c", 1), plain("a", 1)], vec![plain("c", 2)], vec![plain("b", 1), plain("b", 2)]] {
            changes.extend(store.ingest(&batch).await.iter().map(change));
        }
        assert!(changes.windows(2).all(|w| w[0] < w[1]), "{}: {changes:?}", b.name);
        assert!(changes[0] > mark);

        // a (1), c (2), b (2): d did not change; each row once, at its newest change.
        let rows = store.changed_since(mark, 100).await.unwrap();
        assert_eq!(names(&rows), ["a", "c", "b"], "{}", b.name);
        assert_eq!(rows.iter().map(|r| r.change).collect::<Vec<_>>(), [changes[1], changes[2], changes[4]]);
        // Paging with the last row seen misses nothing.
        let page = store.changed_since(mark, 2).await.unwrap();
        assert_eq!(names(&page), ["a", "c"]);
        assert_eq!(names(&store.changed_since(page[1].change, 2).await.unwrap()), ["b"]);
        assert!(store.changed_since(changes[4], 100).await.unwrap().is_empty());
        assert!(store.changed_since(0, -1).await.unwrap().is_empty());
    }
}

#[tokio::test]
#[cfg_attr(flotilla_skip_postgres, ignore = "FLOTILLA_SKIP=postgres")]
async fn evidence_is_appended_only_when_a_policy_result_changes() {
    for b in backends("evidence_on_change").await {
        let store = &b.store;
        registered(store, &["store-1", "store-2"]).await;
        let ok: &[&str] = &[];
        let batches = [
            // 1: everything is new.
            vec![report("store-1", 1, &[("limits", Some(true), ok), ("deny", Some(false), &["Pod/a"])])],
            // 2: the same results; 3: deny's violations change; 4: limits becomes unknown.
            vec![
                report("store-1", 2, &[("limits", Some(true), ok), ("deny", Some(false), &["Pod/a"])]),
                report("store-1", 3, &[("limits", Some(true), ok), ("deny", Some(false), &["Pod/a", "Pod/b"])]),
            ],
            vec![report("store-1", 4, &[("limits", None, ok), ("deny", Some(false), &["Pod/a", "Pod/b"])])],
            // A replay of 2 with other results: ignored, so no evidence either.
            vec![report("store-1", 2, &[("limits", Some(false), &["Pod/z"])])],
            // 5: deny is compliant again; another cluster's first report.
            vec![
                report("store-1", 5, &[("limits", None, ok), ("deny", Some(true), ok)]),
                report("store-2", 1, &[("deny", Some(true), ok)]),
            ],
        ];
        for batch in &batches {
            store.ingest(batch).await;
        }
        let all = store.evidence(&EvidenceFilter { limit: 100, ..EvidenceFilter::default() }).await.unwrap();
        let seen: Vec<(&str, &str, i64, Option<bool>)> =
            all.iter().map(|e| (e.cluster.as_str(), e.policy.as_str(), e.sequence, e.compliant)).collect();
        assert_eq!(
            seen,
            [
                ("store-1", "deny", 1, Some(false)),
                ("store-1", "limits", 1, Some(true)),
                // By report time, which the test derives from the sequence; ties by change.
                ("store-2", "deny", 1, Some(true)),
                ("store-1", "deny", 3, Some(false)),
                ("store-1", "limits", 4, None),
                ("store-1", "deny", 5, Some(true)),
            ],
            "{}",
            b.name
        );
        let violations: serde_json::Value = serde_json::from_str(&all[3].violations_json).unwrap();
        assert_eq!(
            violations,
            json!([{"object": "Pod/a", "message": "missing"}, {"object": "Pod/b", "message": "missing"}])
        );
        assert_eq!(all[0].commit.as_deref(), Some(COMMIT));
        assert_eq!(all[0].time_ms, 1_764_039_601_000, "2025-11-25T03:00:01Z");

        let filter = |cluster: Option<&str>, policy: Option<&str>, since_ms: Option<i64>, limit| EvidenceFilter {
            cluster: cluster.map(str::to_string),
            policy: policy.map(str::to_string),
            since_ms,
            limit,
            newest_first: false,
        };
        let deny = store.evidence(&filter(Some("store-1"), Some("deny"), None, 100)).await.unwrap();
        assert_eq!(deny.iter().map(|e| e.sequence).collect::<Vec<_>>(), [1, 3, 5]);
        let since = store.evidence(&filter(None, None, Some(all[3].time_ms), 100)).await.unwrap();
        assert_eq!(since, all[3..]);
        assert_eq!(
            store.evidence(&filter(None, Some("deny"), None, 2)).await.unwrap(),
            [all[0].clone(), all[2].clone()]
        );
        assert!(store.evidence(&filter(Some("store-9"), None, None, 100)).await.unwrap().is_empty());
    }
}

#[tokio::test]
#[cfg_attr(flotilla_skip_postgres, ignore = "FLOTILLA_SKIP=postgres")]
async fn the_report_history_is_newest_first() {
    for b in backends("report_history").await {
        let store = &b.store;
        registered(store, &["store-1", "store-2"]).await;
        for sequence in 1..=5 {
            store.ingest(&[plain("store-1", sequence), plain("store-2", sequence * 10)]).await;
        }
        let history = store.reports("store-1", 3).await.unwrap();
        assert_eq!(history.iter().map(|r| r.sequence).collect::<Vec<_>>(), [5, 4, 3], "{}", b.name);
        assert!(history.windows(2).all(|w| w[0].change > w[1].change));
        let newest = &history[0];
        assert_eq!(newest.report, plain("store-1", 5).report);
        assert_eq!(newest.json, plain("store-1", 5).json, "the bytes as received");
        assert_eq!((newest.received_at_ms, newest.time_ms), (1_005, 1_764_039_605_000));
        assert_eq!(store.reports("store-2", 100).await.unwrap().len(), 5);
        assert!(store.reports("store-9", 100).await.unwrap().is_empty());
    }
}

#[tokio::test]
#[cfg_attr(flotilla_skip_postgres, ignore = "FLOTILLA_SKIP=postgres")]
async fn reopening_keeps_the_data_and_migrates_once() {
    for b in backends("reopening").await {
        registered(&b.store, &["store-1"]).await;
        b.store.ingest(&[plain("store-1", 1)]).await;
        let again = Store::open(&b.url).await.unwrap();
        assert_eq!(again.clusters_count().await.unwrap(), 1, "{}", b.name);
        assert_eq!(again.cluster("store-1").await.unwrap(), b.store.cluster("store-1").await.unwrap());
        // Each of the seven migrations, once.
        assert_eq!(count(&b.url, "SELECT COUNT(*) FROM schema_version").await, 7);
        if b.name == "sqlite" {
            let mode: String =
                sqlx::query("PRAGMA journal_mode").fetch_one(&raw(&b.url).await).await.unwrap().try_get(0).unwrap();
            assert_eq!(mode, "wal");
        }
    }
}

#[tokio::test]
async fn bad_urls_are_refused_without_echoing_them() {
    let err = Store::open("mysql://user:secret@db/hub").await.unwrap_err();
    assert_eq!(err.to_string(), "database url must start with sqlite: or postgres://");
    assert!(matches!(Store::open("sqlite:").await, Err(Error::Url(_))));
}

/// Two hub processes on one PostgreSQL: change numbers stay unique and increasing per store, and
/// a cluster whose reports reach both stores gets each sequence stored once.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[cfg_attr(flotilla_skip_postgres, ignore = "FLOTILLA_SKIP=postgres")]
async fn concurrent_stores_on_postgres_take_unique_change_numbers() {
    let url = postgres().create_database("concurrent_stores");
    let (one, two) = (Store::open(&url).await.unwrap(), Store::open(&url).await.unwrap());
    let clusters = ["a-1", "a-2", "a-3", "b-1", "b-2", "b-3", "shared"];
    registered(&one, &clusters).await;

    let feed = |store: Store, prefix: &'static str| {
        tokio::spawn(async move {
            let mut changes = Vec::new();
            for sequence in 1..=40 {
                // A result that flips every report: every stored report appends evidence.
                let flip = |cluster: &str| report(cluster, sequence, &[("limits", Some(sequence % 2 == 0), &[])]);
                let mut batch: Vec<_> = (1..=3).map(|i| flip(&format!("{prefix}-{i}"))).collect();
                batch.push(flip("shared"));
                for result in store.ingest(&batch).await {
                    match result {
                        Ok(Ingested::Stored { change }) => changes.push(change),
                        Ok(Ingested::Ignored) => {}
                        Err(e) => panic!("{e}"),
                    }
                }
            }
            changes
        })
    };
    let (a, b) = tokio::join!(feed(one.clone(), "a"), feed(two.clone(), "b"));
    let (a, b) = (a.unwrap(), b.unwrap());
    assert!(a.windows(2).all(|w| w[0] < w[1]) && b.windows(2).all(|w| w[0] < w[1]));
    let mut all: Vec<i64> = a.iter().chain(&b).copied().collect();
    all.sort_unstable();
    all.dedup();
    assert_eq!(all.len(), a.len() + b.len(), "change numbers are unique");
    // 6 clusters × 40 reports, plus the shared cluster's 40 stored once whichever store won.
    assert_eq!(all.len(), 6 * 40 + 40);
    assert_eq!(count(&url, "SELECT COUNT(*) FROM reports WHERE cluster = 'shared'").await, 40);
    assert_eq!(count(&url, "SELECT COUNT(DISTINCT sequence) FROM reports WHERE cluster = 'shared'").await, 40);
    let rows = two.changed_since(0, 100).await.unwrap();
    assert_eq!(rows.len(), clusters.len());
    assert!(rows.iter().all(|r| r.last_sequence == 40), "{rows:?}");
    // Both processes appended to one evidence chain, and it holds.
    let chain = one.verify_evidence().await.unwrap();
    assert_eq!((chain.rows, chain.problem), (6 * 40 + 40, None));
}

#[test]
#[cfg_attr(flotilla_skip_postgres, ignore = "FLOTILLA_SKIP=postgres")]
fn a_dropped_server_is_stopped_and_removed() {
    flotilla_git::testing::require(flotilla_git::testing::Tool::Postgres);
    let server = PgServer::start();
    let (port, dir) = (server.port(), server.dir().to_path_buf());
    assert!(TcpStream::connect(("127.0.0.1", port)).is_ok());
    assert!(server.url().ends_with(&format!("127.0.0.1:{port}/flotilla")));
    drop(server);
    assert!(TcpStream::connect(("127.0.0.1", port)).is_err(), "still listening on {port}");
    assert!(!dir.exists(), "{} is left behind", dir.display());
}

/// How many reports per second SQLite takes in batches of 500: `cargo test -p hub-index --release
/// --test store -- --ignored --nocapture`.
#[tokio::test]
#[ignore = "a measurement, not a check"]
async fn ingest_throughput_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&format!("sqlite:{}", dir.path().join("hub.db").display())).await.unwrap();
    let names: Vec<String> = (0..2_000).map(|i| format!("store-{i:04}")).collect();
    registered(&store, &names.iter().map(String::as_str).collect::<Vec<_>>()).await;
    let reports: Vec<Incoming> = (1..=50).flat_map(|sequence| names.iter().map(move |n| plain(n, sequence))).collect();
    let start = Instant::now();
    for batch in reports.chunks(500) {
        assert!(store.ingest(batch).await.iter().all(|r| matches!(r, Ok(Ingested::Stored { .. }))));
    }
    let seconds = start.elapsed().as_secs_f64();
    #[expect(clippy::cast_precision_loss, reason = "a rate for people to read")]
    let rate = reports.len() as f64 / seconds;
    println!("{} reports in {seconds:.2} s: {rate:.0} reports/s", reports.len());
}

#[tokio::test]
#[cfg_attr(flotilla_skip_postgres, ignore = "FLOTILLA_SKIP=postgres")]
async fn a_cluster_row_written_before_migration_2_is_still_read_and_compared() {
    for b in backends("before_migration_2").await {
        let store = &b.store;
        registered(store, &["store-1"]).await;
        let ok: &[&str] = &[];
        let first = report("store-1", 1, &[("deny", Some(false), &["Pod/a"])]);
        store.ingest(std::slice::from_ref(&first)).await;
        let stored = store.cluster("store-1").await.unwrap().unwrap();
        // As the first schema kept it: the report's JSON in the row, nothing in the new columns.
        let pool = raw(&b.url).await;
        let sql = "UPDATE clusters SET last_report_json = $1, last_report_change = NULL, last_policies_json = NULL";
        let sql = if b.name == "sqlite" { sql.replace("$1", "?") } else { sql.to_string() };
        sqlx::query(&sql).bind(first.json.as_str()).execute(&pool).await.unwrap();
        assert_eq!(store.cluster("store-1").await.unwrap().unwrap(), stored, "{}", b.name);
        // The next report is compared with the policies of that JSON: one change, one row.
        store.ingest(&[report("store-1", 2, &[("deny", Some(false), &["Pod/a"])])]).await;
        store.ingest(&[report("store-1", 3, &[("deny", Some(true), ok)])]).await;
        let all = store.evidence(&EvidenceFilter { limit: 100, ..EvidenceFilter::default() }).await.unwrap();
        assert_eq!(all.iter().map(|e| e.sequence).collect::<Vec<_>>(), [1, 3], "{}", b.name);
        assert_eq!(store.cluster("store-1").await.unwrap().unwrap().last_sequence, 3);
    }
}

/// Ingests a history with evidence: four policy changes of store-1, one of store-2.
async fn some_evidence(store: &Store) {
    registered(store, &["store-1", "store-2"]).await;
    let ok: &[&str] = &[];
    let catalog = |environment: &str, policy: &str| {
        (environment == "prod" && policy == "deny").then(|| hub_index::store::PolicyMeta {
            standards: vec!["PCI-DSS v4.0".into()],
            controls: vec!["1.3.1".into()],
        })
    };
    for batch in [
        vec![report("store-1", 1, &[("deny", Some(false), &["Pod/a"]), ("limits", Some(true), ok)])],
        vec![report("store-1", 2, &[("deny", Some(true), ok), ("limits", Some(true), ok)])],
        vec![report("store-2", 1, &[("deny", Some(true), ok)]), report("store-1", 3, &[("limits", None, ok)])],
    ] {
        store.ingest_with(&batch, &catalog).await;
    }
}

#[tokio::test]
#[cfg_attr(flotilla_skip_postgres, ignore = "FLOTILLA_SKIP=postgres")]
async fn the_evidence_log_is_a_hash_chain_and_an_edit_a_deletion_or_a_cut_tail_breaks_it() {
    for b in backends("evidence_chain").await {
        let store = &b.store;
        some_evidence(store).await;
        let all = store.evidence(&EvidenceFilter { limit: 100, ..EvidenceFilter::default() }).await.unwrap();
        assert_eq!(all.len(), 5, "{}", b.name);
        let mut seqs: Vec<i64> = all.iter().map(|e| e.seq).collect();
        seqs.sort_unstable();
        assert_eq!(seqs, [1, 2, 3, 4, 5]);
        let deny = all.iter().find(|e| e.policy == "deny").unwrap();
        assert_eq!(deny.standards_json.as_deref(), Some(r#"["PCI-DSS v4.0"]"#));
        assert_eq!(deny.controls_json.as_deref(), Some(r#"["1.3.1"]"#));
        assert!(all.iter().find(|e| e.policy == "limits").unwrap().standards_json.is_none());

        let good = store.verify_evidence().await.unwrap();
        assert_eq!((good.rows, good.problem.as_deref()), (5, None), "{}", b.name);
        assert_eq!(good.head.len(), 64);

        let pool = raw(&b.url).await;
        let sql = |s: &str| if b.name == "sqlite" { s.to_string() } else { hub_pg(s) };
        let exec = |s: String| {
            let pool = pool.clone();
            async move { sqlx::query(&s).execute(&pool).await.unwrap() }
        };
        // An edited result: found at that row; put back, the chain holds again.
        let compliant: Option<i64> = sqlx::query("SELECT compliant FROM evidence WHERE seq = 2")
            .fetch_one(&pool)
            .await
            .unwrap()
            .try_get(0)
            .unwrap();
        exec(sql("UPDATE evidence SET compliant = 1 - COALESCE(compliant, 0) WHERE seq = 2")).await;
        let edited = store.verify_evidence().await.unwrap();
        assert_eq!(edited.rows, 1);
        assert!(edited.problem.as_deref().unwrap().starts_with("evidence #2: changed"), "{edited:?}");
        let restore = match compliant {
            Some(c) => format!("UPDATE evidence SET compliant = {c} WHERE seq = 2"),
            None => "UPDATE evidence SET compliant = NULL WHERE seq = 2".to_string(),
        };
        exec(restore).await;
        assert_eq!(store.verify_evidence().await.unwrap(), good);

        // A row deleted from the middle, and one cut off the end.
        exec("DELETE FROM evidence WHERE seq = 5".to_string()).await;
        let cut = store.verify_evidence().await.unwrap();
        assert!(cut.problem.as_deref().unwrap().contains("rows after #4 are missing"), "{cut:?}");
        exec("DELETE FROM evidence WHERE seq = 3".to_string()).await;
        let gap = store.verify_evidence().await.unwrap();
        assert_eq!(gap.problem.as_deref(), Some("evidence #3: missing: the next row is #4"), "{}", b.name);
    }
}

/// `incoming` naming `overrides` (target, a commit made of one hex digit, reason), signed by
/// oncall@.
fn with_overrides(mut incoming: Incoming, overrides: &[(&str, char, &str)]) -> Incoming {
    let mut value: serde_json::Value = serde_json::from_str(&incoming.json).unwrap();
    value["overrides"] = overrides
        .iter()
        .map(|(target, commit, reason)| {
            json!({"target": target, "commit": commit.to_string().repeat(40), "signer": "oncall@retail.example",
                "reason": reason})
        })
        .collect();
    incoming.json = value.to_string();
    incoming.report = Report::from_json(incoming.json.as_bytes()).unwrap();
    incoming
}

#[tokio::test]
#[cfg_attr(flotilla_skip_postgres, ignore = "FLOTILLA_SKIP=postgres")]
async fn overrides_are_recorded_once_per_cluster_target_and_commit_as_links_of_the_evidence_chain() {
    for b in backends("evidence_overrides").await {
        let store = &b.store;
        registered(store, &["store-1", "store-2"]).await;
        let ok: &[&str] = &[];
        let web_a = ("web", 'a', "INC-1 card readers down");
        let fleet_f = ("fleet", 'f', "INC-2 payments");
        let web_b = ("web", 'b', "INC-3 receipts");
        let deny = |compliant: bool| [("deny", Some(compliant), if compliant { ok } else { &["Pod/a"][..] })];
        for batch in [
            // #1 store-1's deny, #2 its override of web at a.
            vec![with_overrides(report("store-1", 1, &deny(false)), &[web_a])],
            // The same override again: nothing; fleet at f is new (#3). store-2's first report:
            // deny (#4), and web at a, new for store-2 (#5).
            vec![
                with_overrides(report("store-1", 2, &deny(false)), &[web_a, fleet_f]),
                with_overrides(report("store-2", 1, &deny(true)), &[web_a]),
            ],
            // Every report while the commits run names them: nothing new.
            vec![with_overrides(report("store-1", 3, &deny(false)), &[fleet_f, web_a])],
            // Two reports of a batch naming a new one: once (#6), with the first report's numbers.
            vec![
                with_overrides(report("store-2", 2, &deny(true)), &[web_b]),
                with_overrides(report("store-2", 3, &deny(true)), &[web_b, web_a]),
            ],
            // A replayed report stores nothing, its override neither.
            vec![with_overrides(report("store-1", 2, &deny(false)), &[("web", 'e', "replayed")])],
        ] {
            let results = store.ingest(&batch).await;
            assert!(results.iter().all(Result::is_ok), "{}: {results:?}", b.name);
        }
        let all = store.overrides(&OverrideFilter { limit: 100, ..OverrideFilter::default() }).await.unwrap();
        let seen: Vec<(i64, &str, &str, char, i64, i64)> = all
            .iter()
            .map(|o| {
                let commit = o.commit.chars().next().unwrap();
                (o.seq, o.cluster.as_str(), o.target.as_str(), commit, o.sequence, o.received_at_ms)
            })
            .collect();
        assert_eq!(
            seen,
            // By report time (03:00:SS, SS the sequence), then as stored.
            [
                (2, "store-1", "web", 'a', 1, 1_001),
                (5, "store-2", "web", 'a', 1, 1_001),
                (3, "store-1", "fleet", 'f', 2, 1_002),
                (6, "store-2", "web", 'b', 2, 1_002),
            ],
            "{}",
            b.name
        );
        let first = &all[0];
        assert_eq!(
            (first.environment.as_str(), first.signer.as_str(), first.reason.as_str()),
            ("prod", "oncall@retail.example", "INC-1 card readers down")
        );
        assert_eq!(first.time_ms, 1_764_039_601_000, "the report's own time, apart from when the hub received it");
        let policies = store.evidence(&EvidenceFilter { limit: 100, ..EvidenceFilter::default() }).await.unwrap();
        assert_eq!(policies.iter().map(|e| e.seq).collect::<Vec<_>>(), [1, 4], "{}", b.name);
        assert_eq!(first.prev_hash, policies[0].hash, "linked to the policy row before it");
        assert_eq!(policies[1].prev_hash, all[2].hash, "#4 follows #3");

        // Filtered, and newest first.
        let of = |filter: OverrideFilter| async move {
            let rows = store.overrides(&OverrideFilter { limit: 100, ..filter }).await.unwrap();
            rows.iter().map(|o| o.seq).collect::<Vec<_>>()
        };
        assert_eq!(of(OverrideFilter { cluster: Some("store-2".into()), ..Default::default() }).await, [5, 6]);
        assert_eq!(of(OverrideFilter { target: Some("fleet".into()), ..Default::default() }).await, [3]);
        assert_eq!(of(OverrideFilter { environment: Some("dev".into()), ..Default::default() }).await, [0; 0]);
        assert_eq!(of(OverrideFilter { since_ms: Some(1_764_039_602_000), ..Default::default() }).await, [3, 6]);
        assert_eq!(of(OverrideFilter { newest_first: true, ..Default::default() }).await, [6, 3, 5, 2]);
        let limited = store.overrides(&OverrideFilter { limit: 1, ..OverrideFilter::default() }).await.unwrap();
        assert_eq!(limited.len(), 1);

        // One chain over both tables; an edited, a cut-off and a deleted override break it.
        let good = store.verify_evidence().await.unwrap();
        assert_eq!((good.rows, good.problem.as_deref(), good.head.as_str()), (6, None, all[3].hash.as_str()));
        let pool = raw(&b.url).await;
        let exec = |s: &str| {
            let (pool, s) = (pool.clone(), s.to_string());
            async move { sqlx::query(&s).execute(&pool).await.unwrap() }
        };
        exec("UPDATE evidence_overrides SET signer = 'mallory@retail.example' WHERE seq = 3").await;
        let edited = store.verify_evidence().await.unwrap();
        assert_eq!(edited.rows, 2, "{edited:?}");
        assert!(edited.problem.as_deref().unwrap().starts_with("evidence #3: changed"), "{}: {edited:?}", b.name);
        exec("UPDATE evidence_overrides SET signer = 'oncall@retail.example' WHERE seq = 3").await;
        assert_eq!(store.verify_evidence().await.unwrap(), good);
        exec("UPDATE evidence_overrides SET seq = 4 WHERE seq = 5").await;
        let twice = store.verify_evidence().await.unwrap();
        assert_eq!(twice.problem.as_deref(), Some("evidence #4: two rows hold this position"), "{}", b.name);
        exec("UPDATE evidence_overrides SET seq = 5 WHERE seq = 4").await;
        exec("DELETE FROM evidence_overrides WHERE seq = 6").await;
        let cut = store.verify_evidence().await.unwrap();
        assert!(cut.problem.as_deref().unwrap().contains("rows after #5 are missing"), "{cut:?}");
        exec("DELETE FROM evidence_overrides WHERE seq = 2").await;
        let gap = store.verify_evidence().await.unwrap();
        assert_eq!(gap.problem.as_deref(), Some("evidence #2: missing: the next row is #3"), "{}", b.name);
    }
}

#[tokio::test]
#[cfg_attr(flotilla_skip_postgres, ignore = "FLOTILLA_SKIP=postgres")]
async fn a_chain_longer_than_a_page_verifies_with_policy_results_and_overrides_interleaved() {
    for b in backends("evidence_overrides_pages").await {
        let store = &b.store;
        registered(store, &["store-1"]).await;
        // Twelve reports, each a changed policy result and a thousand new overrides: 12,012
        // rows, read back a page of each table at a time.
        for sequence in 1..=12_u64 {
            let compliant = sequence % 2 == 0;
            let violations: &[&str] = if compliant { &[] } else { &["Pod/a"] };
            let mut incoming = report("store-1", sequence, &[("deny", Some(compliant), violations)]);
            let mut value: serde_json::Value = serde_json::from_str(&incoming.json).unwrap();
            value["overrides"] = (0..1_000)
                .map(|i| {
                    json!({"target": format!("placement-{i}"), "commit": format!("{sequence:020x}{i:020x}"),
                        "signer": "oncall@retail.example", "reason": "INC-9"})
                })
                .collect();
            incoming.json = value.to_string();
            incoming.report = Report::from_json(incoming.json.as_bytes()).unwrap();
            let results = store.ingest(&[incoming]).await;
            assert!(results[0].is_ok(), "{results:?}");
        }
        let check = store.verify_evidence().await.unwrap();
        assert_eq!((check.rows, check.problem.as_deref()), (12_012, None), "{}", b.name);
    }
}

/// `?` placeholders as PostgreSQL wants them.
fn hub_pg(sql: &str) -> String {
    let mut n = 0;
    sql.chars()
        .map(|c| {
            if c == '?' {
                n += 1;
                format!("${n}")
            } else {
                c.to_string()
            }
        })
        .collect()
}

#[tokio::test]
#[cfg_attr(flotilla_skip_postgres, ignore = "FLOTILLA_SKIP=postgres")]
async fn rows_written_before_the_chain_are_linked_when_the_store_migrates() {
    for b in backends("evidence_migration").await {
        some_evidence(&b.store).await;
        let linked = b.store.verify_evidence().await.unwrap();
        // Back to schema 2: no chain columns, no chain table.
        let pool = raw(&b.url).await;
        for statement in [
            "DROP INDEX evidence_by_seq",
            "ALTER TABLE evidence DROP COLUMN seq",
            "ALTER TABLE evidence DROP COLUMN standards_json",
            "ALTER TABLE evidence DROP COLUMN controls_json",
            "ALTER TABLE evidence DROP COLUMN remediation_json",
            "ALTER TABLE evidence DROP COLUMN prev_hash",
            "ALTER TABLE evidence DROP COLUMN hash",
            "DROP TABLE evidence_chain",
            "DROP TABLE rollout_failures",
            "DROP TABLE arrivals",
            "DROP TABLE evidence_overrides",
            "ALTER TABLE clusters DROP COLUMN kubernetes_json",
            "DELETE FROM schema_version WHERE version >= 3",
        ] {
            sqlx::query(statement).execute(&pool).await.unwrap();
        }
        let again = Store::open(&b.url).await.unwrap();
        let relinked = again.verify_evidence().await.unwrap();
        assert_eq!((relinked.rows, relinked.problem.as_deref()), (5, None), "{}", b.name);
        // The standards were not known before the chain: the hashes differ from a chain that
        // had them, and the rows read as unknown there.
        assert_ne!(relinked.head, linked.head);
        let all = again.evidence(&EvidenceFilter { limit: 100, ..EvidenceFilter::default() }).await.unwrap();
        assert!(all.iter().all(|e| e.standards_json.is_none() && e.remediation_json == "[]"));
        assert_eq!(count(&b.url, "SELECT COUNT(*) FROM schema_version").await, 7);
    }
}

#[tokio::test]
#[cfg_attr(flotilla_skip_postgres, ignore = "FLOTILLA_SKIP=postgres")]
async fn evidence_as_of_a_time_is_each_clusters_last_result_then() {
    for b in backends("evidence_as_of").await {
        some_evidence(&b.store).await;
        // Report times are 03:00:SS with SS the sequence: at 03:00:01 only the first results.
        let at = |second: i64| 1_764_039_600_000 + second * 1_000;
        let first = b.store.evidence_as_of(at(1)).await.unwrap();
        let seen: Vec<(&str, &str, Option<bool>)> =
            first.iter().map(|e| (e.cluster.as_str(), e.policy.as_str(), e.compliant)).collect();
        assert_eq!(
            seen,
            [("store-1", "deny", Some(false)), ("store-1", "limits", Some(true)), ("store-2", "deny", Some(true))],
            "{}",
            b.name
        );
        let later = b.store.evidence_as_of(at(3)).await.unwrap();
        let seen: Vec<(&str, &str, Option<bool>)> =
            later.iter().map(|e| (e.cluster.as_str(), e.policy.as_str(), e.compliant)).collect();
        assert_eq!(
            seen,
            [("store-1", "deny", Some(true)), ("store-1", "limits", None), ("store-2", "deny", Some(true))]
        );
        assert!(b.store.evidence_as_of(at(0)).await.unwrap().is_empty());
    }
}

/// How much disk an evidence row takes on SQLite, for the compliance-history estimate in
/// BENCHMARKS.md: 1,000 clusters × 30 policies, each result flipping 4 times (a third of the
/// non-compliant ones with a violation naming object, field and values). Run with `cargo test
/// --release -p hub-index --test store -- --ignored --nocapture evidence_row_size`.
#[tokio::test]
#[ignore = "a measurement, not a check"]
async fn evidence_row_size_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite:{}", dir.path().join("hub.db").display());
    let store = Store::open(&url).await.unwrap();
    let names: Vec<String> = (0..1_000).map(|i| format!("store-{i:04}")).collect();
    registered(&store, &names.iter().map(String::as_str).collect::<Vec<_>>()).await;
    let size = || async {
        let pool = raw(&url).await;
        sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)").execute(&pool).await.unwrap();
        let pages: i64 = sqlx::query("PRAGMA page_count").fetch_one(&pool).await.unwrap().try_get(0).unwrap();
        let page: i64 = sqlx::query("PRAGMA page_size").fetch_one(&pool).await.unwrap().try_get(0).unwrap();
        pages * page
    };
    let before = size().await;
    let catalog = |_: &str, _: &str| {
        Some(hub_index::store::PolicyMeta {
            standards: vec!["PCI-DSS v4.0".into()],
            controls: vec!["2.2.1".into(), "2.2.6".into()],
        })
    };
    for sequence in 1..=4_u64 {
        let batch: Vec<Incoming> = names
            .iter()
            .map(|n| {
                let policies: Vec<(String, bool)> =
                    (0..30).map(|p| (format!("pci-policy-{p:02}"), (sequence + p) % 2 == 0)).collect();
                let policies: Vec<(&str, Option<bool>, &[&str])> = policies
                    .iter()
                    .map(|(name, ok)| (name.as_str(), Some(*ok), if *ok { &[][..] } else { &["Pod/bt/pos-7f9c"][..] }))
                    .collect();
                report(n, sequence, &policies)
            })
            .collect();
        for chunk in batch.chunks(500) {
            store.ingest_with(chunk, &catalog).await;
        }
    }
    let rows = count(&url, "SELECT COUNT(*) FROM evidence").await;
    let reports = count(&url, "SELECT COUNT(*) FROM reports").await;
    // The evidence table and its indexes, without the reports (measured apart, as if empty).
    let pool = raw(&url).await;
    sqlx::query("DELETE FROM reports").execute(&pool).await.unwrap();
    sqlx::query("UPDATE clusters SET last_policies_json = NULL").execute(&pool).await.unwrap();
    sqlx::query("VACUUM").execute(&pool).await.unwrap();
    drop(pool);
    let after = size().await;
    #[expect(clippy::cast_precision_loss, reason = "a size for people to read")]
    let per_row = (after - before) as f64 / rows as f64;
    println!("{rows} evidence rows ({reports} reports): {} bytes, {per_row:.0} bytes per row", after - before);
}

/// A report of placement `point-of-sale` in `state` at `commit`.
fn at_commit(cluster: &str, sequence: u64, state: &str, commit: char) -> Incoming {
    let mut incoming = plain(cluster, sequence);
    let mut value: serde_json::Value = serde_json::from_str(&incoming.json).unwrap();
    value["placements"][0]["state"] = json!(state);
    value["placements"][0]["sourceCommit"] = json!(commit.to_string().repeat(40));
    incoming.json = value.to_string();
    incoming.report = Report::from_json(incoming.json.as_bytes()).unwrap();
    incoming
}

#[tokio::test]
#[cfg_attr(flotilla_skip_postgres, ignore = "FLOTILLA_SKIP=postgres")]
async fn a_failure_on_a_commit_stays_after_moving_on_and_goes_when_the_commit_syncs() {
    for b in backends("rollout_failures").await {
        let store = &b.store;
        registered(store, &["store-1", "store-2", "store-3"]).await;
        let failures = || async {
            let list = store.rollout_failures("prod", "point-of-sale").await.unwrap();
            list.into_iter().map(|f| (f.cluster, f.commit[..1].to_string())).collect::<Vec<_>>()
        };
        let pair = |cluster: &str, commit: &str| (cluster.to_string(), commit.to_string());
        // store-1 fails on c, store-2 is degraded on c, store-3 cannot fetch (not c's doing).
        store.ingest(&[at_commit("store-1", 1, "Failed", 'c'), at_commit("store-2", 1, "Degraded", 'c')]).await;
        store.ingest(&[at_commit("store-3", 1, "SourceUnreachable", 'c')]).await;
        assert_eq!(failures().await, [pair("store-1", "c"), pair("store-2", "c")], "{}", b.name);
        // store-1 moves on to the fix d: still counted against c. store-2 recovers on c itself.
        store.ingest(&[at_commit("store-1", 2, "Synced", 'd'), at_commit("store-2", 2, "Progressing", 'c')]).await;
        assert_eq!(failures().await, [pair("store-1", "c"), pair("store-2", "c")], "{}", b.name);
        store.ingest(&[at_commit("store-2", 3, "Synced", 'c')]).await;
        assert_eq!(failures().await, [pair("store-1", "c")], "{}", b.name);
        // In one batch, the later report decides; the same failure again is one row.
        store.ingest(&[at_commit("store-3", 2, "Degraded", 'd'), at_commit("store-3", 3, "Synced", 'd')]).await;
        store.ingest(&[at_commit("store-1", 3, "Failed", 'c'), at_commit("store-1", 4, "Failed", 'c')]).await;
        assert_eq!(failures().await, [pair("store-1", "c")], "{}", b.name);
        assert!(store.rollout_failures("dev", "point-of-sale").await.unwrap().is_empty());
        assert!(store.rollout_failures("prod", "other").await.unwrap().is_empty());
        // A commit refused for writing outside its scope, or for an object another placement
        // owns, counts against the commit like any failure.
        store.ingest(&[at_commit("store-2", 4, "Refused", 'e'), at_commit("store-3", 4, "Conflict", 'e')]).await;
        let on_e: Vec<_> = failures().await.into_iter().filter(|(_, c)| c == "e").collect();
        assert_eq!(on_e, [pair("store-2", "e"), pair("store-3", "e")], "{}", b.name);
    }
}

#[tokio::test]
#[cfg_attr(flotilla_skip_postgres, ignore = "FLOTILLA_SKIP=postgres")]
async fn the_first_recorded_arrival_stays_and_a_commit_that_left_its_branch_arrives_anew() {
    for b in backends("arrivals").await {
        let store = &b.store;
        let url = "git://git.example/app.git";
        let all = |store: Store| async move {
            let rows = store.arrivals().await.unwrap();
            rows.into_iter().map(|r| (r.branch, r.commit, r.first_seen_ms)).collect::<Vec<_>>()
        };
        let row = |branch: &str, commit: &str, at: i64| (branch.to_string(), commit.to_string(), at);
        store.record_arrivals(url, "prod", &[("a", 1_000), ("b", 2_000)], &[]).await.unwrap();
        // Another hub process saw b later: the first time stays. On another branch, b arrived
        // at another time.
        store.record_arrivals(url, "prod", &[("b", 9_000)], &[]).await.unwrap();
        store.record_arrivals(url, "dev", &[("b", 500)], &[]).await.unwrap();
        let expected = [row("dev", "b", 500), row("prod", "a", 1_000), row("prod", "b", 2_000)];
        assert_eq!(all(store.clone()).await, expected, "{}", b.name);
        // Reopened, as a restarted hub opens it: the same.
        assert_eq!(all(Store::open(&b.url).await.unwrap()).await, expected, "{}", b.name);
        // b force-pushed away from prod, and back: it arrives anew.
        store.record_arrivals(url, "prod", &[], &["b"]).await.unwrap();
        assert_eq!(all(store.clone()).await, [row("dev", "b", 500), row("prod", "a", 1_000)], "{}", b.name);
        store.record_arrivals(url, "prod", &[("b", 7_000)], &[]).await.unwrap();
        let expected = [row("dev", "b", 500), row("prod", "a", 1_000), row("prod", "b", 7_000)];
        assert_eq!(all(store.clone()).await, expected, "{}", b.name);
    }
}

/// A report says the cluster's Kubernetes only when it changed: the row keeps the last one
/// said (the newest of a batch wins), across reports that do not say it, for the hub to render
/// the cluster's charts with.
#[tokio::test]
#[cfg_attr(flotilla_skip_postgres, ignore = "FLOTILLA_SKIP=postgres")]
async fn a_cluster_keeps_the_kubernetes_its_reports_last_said() {
    for b in backends("cluster_keeps_kubernetes").await {
        let store = &b.store;
        registered(store, &["store-1"]).await;
        let kubernetes = |version: &str| flotilla_core::report::Kubernetes {
            version: version.into(),
            api_versions: vec!["apps/v1".into(), "apps/v1/Deployment".into(), "v1".into()],
        };
        let saying = |sequence: u64, version: &str| {
            let mut incoming = plain("store-1", sequence);
            incoming.report.kubernetes = Some(kubernetes(version));
            incoming.json = incoming.report.to_json();
            incoming
        };
        store.ingest(&[plain("store-1", 1)]).await;
        assert_eq!(store.cluster("store-1").await.unwrap().unwrap().kubernetes, None, "{}", b.name);
        store.ingest(&[saying(2, "v1.30.1"), saying(3, "v1.31.0"), plain("store-1", 4)]).await;
        let row = store.cluster("store-1").await.unwrap().unwrap();
        assert_eq!((row.last_sequence, row.kubernetes), (4, Some(kubernetes("v1.31.0"))), "{}", b.name);
        store.ingest(&[plain("store-1", 5)]).await;
        assert_eq!(store.cluster("store-1").await.unwrap().unwrap().kubernetes, Some(kubernetes("v1.31.0")));
        // What other hub processes read back.
        let changed = store.changed_since(0, 100).await.unwrap();
        assert_eq!(changed[0].kubernetes, Some(kubernetes("v1.31.0")), "{}", b.name);
    }
}
