//! What the hub makes of the two parts of a report that say who vouched for what a cluster runs,
//! over real HTTP on SQLite and PostgreSQL:
//! - `overrides`: each commit a cluster runs through a change freeze by a signed
//!   `Flotilla-Override:`. The evidence log records each once per cluster, target and commit, in
//!   the same hash chain as the policy results (`evidence verify` finds an edited or deleted
//!   override row), the evidence export lists them, and `GET /api/v1/overrides` (and
//!   `hub-index overrides`) groups the clusters per override;
//! - `fleet`: the fleet commit a cluster runs, its state and who signed it, kept as the rest of
//!   the cluster's latest report is (across a restart too) and shown with each placement's
//!   signer; a fleet commit that failed verification makes the cluster failed.

mod common;

use common::{Hub, Setup, WEB_PLACEMENT, fleet_repository, now, postgres};
use serde_json::{Value, json};
use sqlx::Row as _;

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
";

/// The source commit the `web` hotfix passed the freeze with, and the fleet commits.
const HOTFIX: &str = "c0ffee0000000000000000000000000000000001";
const FLEET_FIX: &str = "f1ee7f1e00000000000000000000000000000002";
const FLEET_SIGNED: &str = "5167ed0000000000000000000000000000000003";
const FLEET_UNSIGNED: &str = "0b5c0e0000000000000000000000000000000004";
const ONCALL: &str = "oncall@retail.example";
const CARD_READERS: &str = "INC-4711 card readers down";

fn files() -> Vec<(&'static str, String)> {
    vec![
        ("fleet/fleet.yaml", format!("{WEB_PLACEMENT}---\n{POLICY}")),
        ("web/cm.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a, namespace: shop}\n".to_string()),
    ]
}

/// A hub on `db` (a new SQLite file in `dir` when `None`) over a fleet repository in `dir`.
async fn start_on(dir: tempfile::TempDir, db: Option<String>) -> Hub {
    let files = files();
    let files: Vec<(&str, &str)> = files.iter().map(|(p, t)| (*p, t.as_str())).collect();
    fleet_repository(dir.path(), &files, &[]);
    let db = db.unwrap_or_else(|| format!("sqlite:{}", dir.path().join("hub.db").display()));
    let setup = Setup { db, viewer: "flt_view_overrides", environments: &["prod"], client: reqwest::Client::new() };
    Hub::serve(dir, setup).await
}

async fn start(backend: &str, name: &str) -> Hub {
    let db = (backend == "postgres").then(|| postgres().create_database(name));
    start_on(tempfile::tempdir().unwrap(), db).await
}

/// A report of placement `web` synced at `HOTFIX`, signed by release@, with `extra` fields
/// (`policies`, `fleet`, `overrides`) merged in.
fn report(cluster: &str, sequence: u64, extra: &Value) -> String {
    let mut report = json!({
        "version": 1, "cluster": cluster, "agentVersion": "0.1.0", "sequence": sequence, "time": now(),
        "placements": [{"name": "web", "state": "Synced", "sourceCommit": HOTFIX,
            "desiredDigest": format!("sha256:{}", "d".repeat(64)), "health": "Healthy",
            "signer": "release@retail.example"}],
    });
    for (key, value) in extra.as_object().unwrap() {
        report[key] = value.clone();
    }
    report.to_string()
}

fn hotfix() -> Value {
    json!({"target": "web", "commit": HOTFIX, "signer": ONCALL, "reason": CARD_READERS})
}

fn fleet_fix() -> Value {
    json!({"target": "fleet", "commit": FLEET_FIX, "signer": ONCALL, "reason": "INC-4712 <b>payments</b>, \"urgent\""})
}

fn deny(compliant: bool) -> Value {
    json!([{"name": "default-deny", "compliant": compliant,
        "violations": if compliant { json!([]) } else { json!([{"object": "NetworkPolicy/shop/default-deny", "message": "missing"}]) }}])
}

async fn post(hub: &Hub, token: &str, body: String) {
    let (status, answer) = hub.post("/api/v1/reports", Some(token), &body).await;
    assert_eq!((status, answer["status"].as_str()), (200, Some("stored")), "{answer}");
}

/// Runs `hub-index` with `args` as they are (no --hub): exit code and what it printed.
fn run(args: &[&str]) -> (Option<i32>, String) {
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_hub-index")).args(args).output().unwrap();
    (output.status.code(), String::from_utf8(output.stdout).unwrap())
}

async fn raw(url: &str) -> sqlx::AnyPool {
    sqlx::any::install_default_drivers();
    sqlx::AnyPool::connect(url).await.unwrap()
}

#[expect(clippy::too_many_lines, reason = "one story: overrides in, then every way out of the evidence")]
async fn overrides_are_evidence(backend: &str) {
    let hub = start(backend, "overrides_evidence").await;
    hub.wait_for("/api/v1/promotion", "the fleet read", |_| true).await;
    let one = hub.register("store-1").await;
    let two = hub.register("store-2").await;
    let three = hub.register("store-3").await;
    // store-1 runs the hotfix through the freeze, in every report while it runs it; store-2
    // too, and a fleet fix; store-3 none. Each (cluster, target, commit) is evidence once.
    post(&hub, &one, report("store-1", 1, &json!({"policies": deny(false), "overrides": [hotfix()]}))).await;
    post(&hub, &one, report("store-1", 2, &json!({"policies": deny(true), "overrides": [hotfix()]}))).await;
    post(&hub, &two, report("store-2", 1, &json!({"overrides": [hotfix(), fleet_fix()]}))).await;
    post(&hub, &three, report("store-3", 1, &json!({"policies": deny(true)}))).await;
    post(&hub, &two, report("store-2", 2, &json!({"overrides": [fleet_fix(), hotfix()]}))).await;
    post(&hub, &one, report("store-1", 3, &json!({"policies": deny(true), "overrides": [hotfix()]}))).await;

    // The whole log, one chain: policy results and overrides in the order the hub took them.
    let (status, rows) = hub.get("/api/v1/evidence").await;
    assert_eq!(status, 200, "{rows}");
    let seen: Vec<(i64, &str, &str, &str)> = rows
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            let what = r["policy"].as_str().or(r["target"].as_str()).unwrap();
            (r["seq"].as_i64().unwrap(), r["kind"].as_str().unwrap(), r["cluster"].as_str().unwrap(), what)
        })
        .collect();
    assert_eq!(
        seen,
        [
            (1, "policy", "store-1", "default-deny"),
            (2, "override", "store-1", "web"),
            (3, "policy", "store-1", "default-deny"),
            (4, "override", "store-2", "web"),
            (5, "override", "store-2", "fleet"),
            (6, "policy", "store-3", "default-deny"),
        ],
        "{backend}: {rows}"
    );
    let (_, overrides) = hub.get("/api/v1/evidence?kind=override").await;
    let overrides = overrides.as_array().unwrap().clone();
    assert_eq!(overrides.len(), 3, "{backend}: {overrides:?}");
    let first = &overrides[0];
    for (key, value) in [
        ("cluster", "store-1"),
        ("environment", "prod"),
        ("target", "web"),
        ("commit", HOTFIX),
        ("signer", ONCALL),
        ("reason", CARD_READERS),
    ] {
        assert_eq!(first[key], value, "{key}: {first}");
    }
    assert!(first["receivedAt"].as_str().unwrap().ends_with('Z') && first["receivedAtMs"].is_i64(), "{first}");
    assert_eq!(first["prevHash"], rows[0]["hash"], "chained to the policy row before it");
    let (_, only) = hub.get("/api/v1/evidence?kind=override&cluster=store-2&target=fleet").await;
    assert_eq!(only.as_array().unwrap().len(), 1, "{only}");
    let (_, policies) = hub.get("/api/v1/evidence?policy=default-deny").await;
    assert!(policies.as_array().unwrap().iter().all(|r| r["kind"] == "policy"), "{policies}");

    // CSV: the same columns as before, then the override's.
    let answer = hub.client.get(format!("{}/api/v1/evidence?format=csv", hub.url)).bearer_auth(&hub.viewer);
    let csv = answer.send().await.unwrap().text().await.unwrap();
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines.len(), 7, "{csv}");
    assert!(
        lines[0].starts_with("seq,time,cluster,policy,result,commit,")
            && lines[0].ends_with(",hash,kind,target,signer,reason,environment,received_at"),
        "{csv}"
    );
    assert!(lines[2].starts_with("2,") && lines[2].contains(&format!(",store-1,,,{HOTFIX},")), "{csv}");
    assert!(lines[2].contains(&format!(",override,web,{ONCALL},{CARD_READERS},prod,")), "{csv}");
    assert!(
        lines[5].contains(",override,fleet,oncall@retail.example,\"INC-4712 <b>payments</b>, \"\"urgent\"\"\",prod,")
    );

    // Which overrides happened: per target and commit, with the clusters that ran it.
    let (status, view) = hub.get("/api/v1/overrides").await;
    assert_eq!(status, 200, "{view}");
    let groups: Vec<(&str, &str, &str, Vec<&str>)> = view
        .as_array()
        .unwrap()
        .iter()
        .map(|g| {
            let clusters = g["clusters"].as_array().unwrap().iter().map(|c| c["cluster"].as_str().unwrap()).collect();
            (g["target"].as_str().unwrap(), g["commit"].as_str().unwrap(), g["signer"].as_str().unwrap(), clusters)
        })
        .collect();
    assert_eq!(
        groups,
        [("fleet", FLEET_FIX, ONCALL, vec!["store-2"]), ("web", HOTFIX, ONCALL, vec!["store-1", "store-2"])],
        "newest first: {view}"
    );
    let web = &view[1];
    assert_eq!(web["reason"], CARD_READERS);
    assert_eq!(web["clusters"][1]["seq"], 4, "{web}");
    assert!(web["firstReceivedAt"].is_string() && web["lastReceivedAtMs"].is_i64(), "{web}");
    let (_, web_only) = hub.get("/api/v1/overrides?target=web").await;
    assert_eq!(web_only.as_array().unwrap().len(), 1, "{web_only}");
    let (_, none) = hub.get("/api/v1/overrides?cluster=store-3").await;
    assert_eq!(none, json!([]));
    let (status, bad) = hub.get("/api/v1/overrides?since=yesterday").await;
    assert_eq!((status, bad["field"].as_str()), (400, Some("since")), "{bad}");
    let (status, bad) = hub.get("/api/v1/evidence?kind=other").await;
    assert_eq!((status, bad["field"].as_str()), (400, Some("kind")), "{bad}");

    // The cluster's own page lists what it ran through a freeze.
    let (_, detail) = hub.get("/api/v1/clusters/store-2").await;
    let ran: Vec<&str> =
        detail["overrides"].as_array().unwrap().iter().map(|o| o["target"].as_str().unwrap()).collect();
    assert_eq!(ran, ["fleet", "web"], "newest first: {detail}");

    // The chain holds with the overrides in it.
    let (_, check) = hub.get("/api/v1/evidence/verify").await;
    assert_eq!((check["rows"].clone(), check["problem"].clone()), (json!(6), Value::Null), "{backend}: {check}");
    assert_eq!(check["head"], rows[5]["hash"]);

    // The command line.
    let overrides_table = hub.cli(&["overrides"]);
    let line = overrides_table.lines().find(|l| l.starts_with("web")).unwrap_or_else(|| panic!("{overrides_table}"));
    for text in [&HOTFIX[..12], ONCALL, CARD_READERS, "store-1, store-2"] {
        assert!(line.contains(text), "{text}: {overrides_table}");
    }
    assert!(overrides_table.starts_with("TARGET"), "{overrides_table}");
    let json: Value = serde_json::from_str(&hub.cli(&["overrides", "--target", "fleet", "--format", "json"])).unwrap();
    assert_eq!(json[0]["commit"], FLEET_FIX, "{json}");
    let cluster = hub.cli(&["cluster", "store-2"]);
    let ran = cluster.split_once("\nOVERRIDE").map_or_else(|| panic!("{cluster}"), |(_, t)| t);
    assert!(ran.contains(&format!("fleet     {}", &FLEET_FIX[..12])) && ran.contains("INC-4712"), "{cluster}");
    let csv = hub.cli(&["evidence", "--kind", "override"]);
    assert_eq!(csv.lines().count(), 4, "{csv}");

    // An edited override is found, and so is a deleted one.
    let (code, holds) = tokio::task::block_in_place(|| run(&["evidence", "verify", "--db", &hub.db]));
    assert_eq!(code, Some(0), "{holds}");
    let pool = raw(&hub.db).await;
    let reason: String = sqlx::query("SELECT reason FROM evidence_overrides WHERE seq = 5")
        .fetch_one(&pool)
        .await
        .unwrap()
        .try_get(0)
        .unwrap();
    sqlx::query("UPDATE evidence_overrides SET reason = 'routine change' WHERE seq = 5").execute(&pool).await.unwrap();
    let (code, broken) = tokio::task::block_in_place(|| run(&["evidence", "verify", "--db", &hub.db]));
    assert_eq!(code, Some(1), "{broken}");
    assert!(broken.starts_with("the evidence chain is BROKEN: evidence #5: changed"), "{broken}");
    let restore = if backend == "sqlite" {
        "UPDATE evidence_overrides SET reason = ? WHERE seq = 5"
    } else {
        "UPDATE evidence_overrides SET reason = $1 WHERE seq = 5"
    };
    sqlx::query(restore).bind(reason).execute(&pool).await.unwrap();
    assert_eq!(tokio::task::block_in_place(|| run(&["evidence", "verify", "--db", &hub.db])).0, Some(0));
    sqlx::query("DELETE FROM evidence_overrides WHERE seq = 2").execute(&pool).await.unwrap();
    let (code, broken) = tokio::task::block_in_place(|| run(&["evidence", "verify", "--db", &hub.db]));
    assert_eq!(code, Some(1), "{broken}");
    assert!(broken.starts_with("the evidence chain is BROKEN: evidence #2: missing"), "{broken}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(flotilla_skip_git_daemon, ignore = "FLOTILLA_SKIP=git-daemon")]
async fn overrides_are_evidence_on_sqlite() {
    overrides_are_evidence("sqlite").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(any(flotilla_skip_git_daemon, flotilla_skip_postgres), ignore = "FLOTILLA_SKIP=git-daemon or postgres")]
async fn overrides_are_evidence_on_postgres() {
    overrides_are_evidence("postgres").await;
}

/// The five fields of a cluster's fleet section, as `GET /api/v1/clusters/{name}` gives them.
fn fleet_of(detail: &Value) -> [Value; 5] {
    ["commit", "head", "state", "message", "signer"].map(|k| detail["fleet"][k].clone())
}

async fn the_cluster_view_shows_who_signed(backend: &str) {
    let hub = start(backend, "fleet_signers").await;
    let one = hub.register("store-1").await;
    let two = hub.register("store-2").await;
    let three = hub.register("store-3").await;
    // store-1 runs a fleet commit platform@ signed; store-2 stays on it because the branch's
    // newest did not verify; store-3's report has no fleet section (an older agent).
    let signed = json!({"commit": FLEET_SIGNED, "state": "Synced", "signer": "platform@retail.example"});
    post(&hub, &one, report("store-1", 1, &json!({"fleet": signed}))).await;
    let refused = format!("{FLEET_UNSIGNED} is not signed; the fleet repository stays at the last verified commit");
    let failed = json!({"commit": FLEET_SIGNED, "head": FLEET_UNSIGNED, "state": "VerificationFailed",
        "message": refused, "signer": "platform@retail.example"});
    post(&hub, &two, report("store-2", 1, &json!({"fleet": failed}))).await;
    post(&hub, &three, report("store-3", 1, &json!({}))).await;

    let (status, detail) = hub.get("/api/v1/clusters/store-1").await;
    assert_eq!(status, 200, "{detail}");
    assert_eq!(
        fleet_of(&detail),
        [json!(FLEET_SIGNED), Value::Null, json!("Synced"), Value::Null, json!("platform@retail.example")],
        "{detail}"
    );
    assert_eq!(detail["placements"][0]["signer"], "release@retail.example", "{detail}");
    assert_eq!(detail["state"], "synced");
    let (_, detail) = hub.get("/api/v1/clusters/store-2").await;
    assert_eq!(
        fleet_of(&detail),
        [
            json!(FLEET_SIGNED),
            json!(FLEET_UNSIGNED),
            json!("VerificationFailed"),
            json!(refused),
            json!("platform@retail.example")
        ],
        "{detail}"
    );
    assert_eq!(detail["state"], "failed", "a fleet commit that did not verify is a failure: {detail}");
    let (_, detail) = hub.get("/api/v1/clusters/store-3").await;
    assert_eq!(detail["fleet"], Value::Null, "{detail}");

    // The list and the summary count it failed, and say why.
    let (_, failed_list) = hub.get("/api/v1/clusters?state=failed").await;
    let items = failed_list["items"].as_array().unwrap();
    assert_eq!(items.len(), 1, "{failed_list}");
    assert_eq!((items[0]["name"].as_str(), items[0]["fleet"].as_str()), (Some("store-2"), Some("VerificationFailed")));
    let (_, all) = hub.get("/api/v1/clusters").await;
    assert_eq!(all["items"][0]["fleet"], "Synced", "{all}");
    assert_eq!(all["items"][2].get("fleet"), None, "no fleet section, no field: {all}");
    let (_, summary) = hub.get("/api/v1/summary").await;
    assert_eq!(
        (summary["byStanding"]["failed"].as_u64(), summary["byStanding"]["synced"].as_u64()),
        (Some(1), Some(2))
    );

    // The command line shows the same.
    let table = hub.cli(&["cluster", "store-1"]);
    assert!(
        table.contains(&format!("fleet {}  Synced  signed by platform@retail.example", &FLEET_SIGNED[..12])),
        "{table}"
    );
    let web = table.lines().find(|l| l.starts_with("web ")).unwrap_or_else(|| panic!("{table}"));
    assert!(web.contains("release@retail.example"), "{table}");
    let table = hub.cli(&["cluster", "store-2"]);
    assert!(table.contains("VerificationFailed") && table.contains(&refused), "{table}");
    assert!(table.contains(&format!("head {}", &FLEET_UNSIGNED[..12])), "{table}");
    let list = hub.cli(&["clusters", "--state", "failed"]);
    assert!(list.lines().next().unwrap().ends_with("FLEET"), "{list}");
    assert!(list.contains("store-2") && list.contains("VerificationFailed"), "{list}");

    // A restarted hub (here: a second one over the same database) knows it all again.
    let dir = tempfile::tempdir().unwrap();
    let again = start_on(dir, Some(hub.db.clone())).await;
    let (_, detail) = again.get("/api/v1/clusters/store-2").await;
    assert_eq!(detail["state"], "failed", "{detail}");
    assert_eq!(detail["fleet"]["state"], "VerificationFailed", "{detail}");
    let (_, failed_list) = again.get("/api/v1/clusters?state=failed").await;
    assert_eq!(failed_list["items"][0]["fleet"], "VerificationFailed", "{failed_list}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(flotilla_skip_git_daemon, ignore = "FLOTILLA_SKIP=git-daemon")]
async fn the_cluster_view_shows_who_signed_on_sqlite() {
    the_cluster_view_shows_who_signed("sqlite").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(any(flotilla_skip_git_daemon, flotilla_skip_postgres), ignore = "FLOTILLA_SKIP=git-daemon or postgres")]
async fn the_cluster_view_shows_who_signed_on_postgres() {
    the_cluster_view_shows_who_signed("postgres").await;
}
