//! When commits reached their branches (SPEC §2 "reached the branch"), as the hub records them
//! from its own polling: never a date the commit carries. Against real repositories and the
//! hub's HTTP API: a fast-forward promotion of days-old commits and a backdated commit bake
//! from when the hub first saw them on the branch; a commit force-pushed away and back arrives
//! anew; the rollout progress and the lag ledger count from arrivals; a restarted hub keeps
//! them and two hub processes on one PostgreSQL agree on them.

mod common;

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{Hub, Setup, fleet_repository, postgres};
use flotilla_git::testing::{GitDaemon, free_port, git, git_command};
use hub_index::store::Store;
use serde_json::{Value, json};

/// Repository `app` (at a `file://` URL) and placement `shop` of it, rolling out to the
/// canaries first and to everyone two hours later.
const FLEET: &str = "\
apiVersion: flotilla.dev/v1alpha1
kind: Repository
metadata: {name: app}
spec: {url: APP}
---
apiVersion: flotilla.dev/v1alpha1
kind: Placement
metadata: {name: shop}
spec:
  source: {repository: app, path: shop}
  clusters: {matchLabels: {kind: store}}
  namespace: shop
  rollout:
    waves:
    - {name: canary, clusters: {matchLabels: {canary: 'true'}}}
    - {name: everyone}
    bake: 2h
";

const DAY: i64 = 86_400;

fn now_s() -> i64 {
    i64::try_from(std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs()).unwrap()
}

/// Runs git in `dir` with both of its dates at `time` (unix seconds).
fn timed(dir: &Path, args: &[&str], time: i64) {
    let date = format!("@{time} +0000");
    let out =
        git_command(dir).args(args).env("GIT_AUTHOR_DATE", &date).env("GIT_COMMITTER_DATE", &date).output().unwrap();
    assert!(out.status.success(), "git {args:?}: {}", String::from_utf8_lossy(&out.stderr));
}

/// Commits a new `shop/cm.yaml` saying `version` in the work tree `dir`, dated `time`; its id.
fn commit_at(dir: &Path, version: &str, time: i64) -> String {
    let cm = format!("apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: shop}}\ndata: {{version: '{version}'}}\n");
    common::write_files(dir, &[("shop/cm.yaml", cm)]);
    git(dir, &["add", "-A"]);
    timed(dir, &["commit", "-q", "-m", version], time);
    git(dir, &["rev-parse", "HEAD"])
}

/// The repositories of a test in `dir`: the fleet (`fleet`, branches prod and dev) and `app`,
/// whose prod branch has one commit made ten days ago and whose dev branch starts there; the
/// app's URL and that commit.
fn repositories(dir: &Path) -> (String, String) {
    let app = dir.join("app");
    std::fs::create_dir_all(&app).unwrap();
    git(&app, &["init", "-q", "-b", "prod"]);
    let p0 = commit_at(&app, "0", now_s() - 10 * DAY);
    git(&app, &["branch", "dev"]);
    let url = format!("file://{}", app.display());
    fleet_repository(dir, &[("fleet/fleet.yaml", &FLEET.replace("APP", &url))], &["dev"]);
    (url, p0)
}

/// A hub on `backend` (`sqlite` or a fresh PostgreSQL database) following prod and dev of the
/// repositories [`repositories`] made; before it starts, its store says that `p0` reached prod
/// a day ago (as a hub that has followed the branch since then finds it), so that it has baked
/// for every wave.
async fn start(backend: &str, name: &str) -> (Hub, String, String) {
    let dir = tempfile::tempdir().unwrap();
    let (url, p0) = repositories(dir.path());
    let db = if backend == "sqlite" {
        format!("sqlite:{}", dir.path().join("hub.db").display())
    } else {
        postgres().create_database(name)
    };
    let store = Store::open(&db).await.unwrap();
    store.record_arrivals(&url, "prod", &[(p0.as_str(), (now_s() - DAY) * 1_000)], &[]).await.unwrap();
    let setup = Setup {
        db,
        viewer: "flt_view_arrivals_test_token",
        environments: &["prod", "dev"],
        client: reqwest::Client::new(),
    };
    (Hub::serve(dir, setup).await, url, p0)
}

/// The rollout of `shop` in prod once its head is `head`.
async fn rollout_at(hub: &Hub, head: &str) -> Value {
    hub.wait_for("/api/v1/rollouts/shop?environment=prod", &format!("the head {head}"), |v| v["head"] == head).await
}

/// The arrivals the hub publishes of the app's branch for `environment`, as (commit, at).
async fn arrivals(hub: &Hub, environment: &str) -> Vec<(String, i64)> {
    let (status, answer) = hub.get(&format!("/api/v1/arrivals/app?environment={environment}")).await;
    assert_eq!(status, 200, "{answer}");
    pairs(&answer["arrivals"])
}

fn pairs(list: &Value) -> Vec<(String, i64)> {
    list.as_array()
        .unwrap_or_else(|| panic!("a list of arrivals: {list}"))
        .iter()
        .map(|a| (a["commit"].as_str().unwrap().to_string(), a["at"].as_i64().unwrap()))
        .collect()
}

fn at(list: &[(String, i64)], commit: &str) -> i64 {
    list.iter().find(|(c, _)| c == commit).unwrap_or_else(|| panic!("{commit} in {list:?}")).1
}

fn rfc3339(at: i64) -> String {
    flotilla_core::calendar::rfc3339(at)
}

/// Registers a store of the everyone wave and reports that it runs `applied` of `shop`.
async fn store_runs(hub: &Hub, name: &str, applied: &str) {
    let token = hub.register(name).await;
    let report = json!({
        "version": 1, "cluster": name, "agentVersion": "0.1.0", "sequence": 1, "time": common::now(),
        "placements": [{"name": "shop", "state": "Synced", "sourceCommit": applied, "appliedCommit": applied,
            "desiredDigest": format!("sha256:{}", "d".repeat(64)), "health": "Healthy"}]
    });
    let (status, answer) = hub.post("/api/v1/reports", Some(&token), &report.to_string()).await;
    assert_eq!(status, 200, "{answer}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(flotilla_skip_git_daemon, ignore = "FLOTILLA_SKIP=git-daemon")]
async fn a_fast_forward_promotion_of_days_old_commits_bakes_from_when_the_hub_first_saw_them_on_the_branch() {
    let (hub, _, p0) = start("sqlite", "").await;
    let app = hub.dir.path().join("app");
    // Two commits made on dev three days ago.
    git(&app, &["checkout", "-q", "dev"]);
    let d1 = commit_at(&app, "1", now_s() - 3 * DAY);
    let d2 = commit_at(&app, "2", now_s() - 3 * DAY + 60);
    git(&app, &["checkout", "-q", "prod"]);
    rollout_at(&hub, &p0).await;
    store_runs(&hub, "store-0001", &p0).await;
    // `git merge dev` fast-forwards: the days-old commits reach prod at once.
    tokio::time::sleep(Duration::from_millis(1_100)).await;
    let promoted = now_s();
    git(&app, &["merge", "-q", "--ff-only", "dev"]);
    let rollout = rollout_at(&hub, &d2).await;
    let (canary, everyone) = (&rollout["waves"][0], &rollout["waves"][1]);
    assert_eq!(canary["target"], d2.as_str(), "{rollout}");
    assert_eq!(everyone["target"], p0.as_str(), "the promotion bakes for everyone: {rollout}");
    let published = pairs(&rollout["arrivals"]);
    assert_eq!(everyone["headReachesItAt"], rfc3339(at(&published, &d2) + 2 * 3_600), "{rollout}");

    let prod = arrivals(&hub, "prod").await;
    assert_eq!(prod, published, "the rollout publishes the branch's arrivals");
    assert_eq!(prod.iter().map(|(c, _)| c.as_str()).collect::<Vec<_>>(), [d2.as_str(), &d1, &p0]);
    for commit in [&d1, &d2] {
        let arrived = at(&prod, commit);
        assert!((promoted..=now_s()).contains(&arrived), "{commit} arrived at {arrived}, promoted at {promoted}");
    }
    assert!(at(&prod, &p0) <= now_s() - DAY, "p0 keeps its day-old arrival: {prod:?}");
    // On dev they arrived when the hub first looked, before the promotion.
    let dev = arrivals(&hub, "dev").await;
    assert!(at(&dev, &d2) < promoted, "{dev:?}");
    // The lag ledger: the store has been behind since the first commit it lacks reached prod.
    let ledger =
        hub.wait_for("/api/v1/lag?placement=shop&environment=prod", "the store", |v| v["head"] == d2.as_str()).await;
    let behind = &ledger["lagging"]["items"][0]["behind"];
    assert_eq!((behind["commits"].as_u64(), behind["since"].as_i64()), (Some(2), Some(at(&prod, &d1))), "{ledger}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(flotilla_skip_git_daemon, ignore = "FLOTILLA_SKIP=git-daemon")]
async fn a_commit_with_a_backdated_committer_date_bakes_from_its_arrival() {
    let (hub, _, p0) = start("sqlite", "").await;
    let app = hub.dir.path().join("app");
    rollout_at(&hub, &p0).await;
    let pushed = now_s();
    let old = commit_at(&app, "backdated", now_s() - 30 * DAY);
    let rollout = rollout_at(&hub, &old).await;
    assert_eq!(rollout["waves"][0]["target"], old.as_str(), "{rollout}");
    assert_eq!(rollout["waves"][1]["target"], p0.as_str(), "no bake is skipped: {rollout}");
    let arrived = at(&pairs(&rollout["arrivals"]), &old);
    assert!(arrived >= pushed, "arrived at {arrived}, committed at {pushed}");
    assert_eq!(rollout["waves"][1]["headReachesItAt"], rfc3339(arrived + 2 * 3_600), "{rollout}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(flotilla_skip_git_daemon, ignore = "FLOTILLA_SKIP=git-daemon")]
async fn a_commit_force_pushed_away_and_back_arrives_anew() {
    let (hub, _, p0) = start("sqlite", "").await;
    let app = hub.dir.path().join("app");
    rollout_at(&hub, &p0).await;
    let b = commit_at(&app, "b", now_s());
    let first = rollout_at(&hub, &b).await;
    git(&app, &["reset", "-q", "--hard", &p0]);
    let away = rollout_at(&hub, &p0).await;
    tokio::time::sleep(Duration::from_millis(1_100)).await;
    git(&app, &["reset", "-q", "--hard", &b]);
    let back = rollout_at(&hub, &b).await;
    assert_eq!(back["waves"][1]["target"], p0.as_str(), "{back}");
    assert!(
        back["waves"][1]["headReachesItAt"].as_str() > first["waves"][1]["headReachesItAt"].as_str(),
        "the bake starts over: {first} then {back}"
    );
    let (first_at, back_at) = (at(&pairs(&first["arrivals"]), &b), at(&pairs(&back["arrivals"]), &b));
    assert_eq!(pairs(&away["arrivals"]).len(), 1, "b left the branch: {away}");
    assert!(back_at > first_at, "b came back at {back_at}, first arrived at {first_at}");
    assert_eq!(back["waves"][1]["headReachesItAt"], rfc3339(back_at + 2 * 3_600), "{back}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(flotilla_skip_git_daemon, ignore = "FLOTILLA_SKIP=git-daemon")]
async fn unknown_repositories_and_environments_are_named() {
    let (hub, _, p0) = start("sqlite", "").await;
    rollout_at(&hub, &p0).await;
    let (status, answer) = hub.get("/api/v1/arrivals/app?environment=prod").await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!((answer["repository"].as_str(), answer["branch"].as_str()), (Some("app"), Some("prod")), "{answer}");
    let (status, answer) = hub.get("/api/v1/arrivals/nope?environment=prod").await;
    assert_eq!((status, answer["field"].as_str()), (404, Some("repository")), "{answer}");
    assert!(answer["error"].as_str().unwrap().contains("\"nope\""), "{answer}");
    let (status, answer) = hub.get("/api/v1/arrivals/app?environment=staging").await;
    assert_eq!((status, answer["field"].as_str()), (404, Some("environment")), "{answer}");
    assert!(answer["error"].as_str().unwrap().contains("\"staging\""), "{answer}");
    // The fleet repository itself, on the environment's fleet branch.
    let (status, fleet) = hub.get("/api/v1/arrivals/fleet?environment=prod").await;
    assert_eq!(status, 200, "{fleet}");
    assert_eq!((fleet["repository"].as_str(), fleet["branch"].as_str()), (Some("fleet"), Some("prod")));
    assert_eq!(pairs(&fleet["arrivals"])[0].0, hub.head, "{fleet}");
    // A cluster reads them with its own token, as it reads the rollout; no token, no answer.
    let token = hub.register("store-0001").await;
    let read = |token: Option<String>| {
        let request = hub.client.get(format!("{}/api/v1/arrivals/app?environment=prod", hub.url));
        async move {
            let request = if let Some(t) = token { request.bearer_auth(t) } else { request };
            request.send().await.unwrap().status().as_u16()
        }
    };
    assert_eq!(read(Some(token)).await, 200);
    assert_eq!(read(None).await, 401);
}

/// A `hub-index serve` process, open on loopback, killed when dropped.
struct Process {
    child: Child,
    url: String,
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Process {
    /// Serves `fleet` with `db`, polling git every 200 ms, its git cache and log under `dir`
    /// named after `name`.
    fn serve(dir: &Path, name: &str, db: &str, fleet: &str) -> Process {
        let port = free_port();
        let log = std::fs::File::create(dir.join(format!("{name}.log"))).unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_hub-index"))
            .args(["serve", "--fleet-repo", fleet, "--db", db, "--open-on-loopback", "--fleet-poll", "200ms"])
            .args(["--listen", &format!("127.0.0.1:{port}"), "--environments", "prod,dev", "--cache-dir"])
            .arg(dir.join(format!("{name}-cache")))
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap();
        Process { child, url: format!("http://127.0.0.1:{port}") }
    }

    /// The arrivals of the app's prod branch once they list `commit`, waiting at most 20 s.
    async fn arrivals_with(&self, commit: &str) -> Vec<(String, i64)> {
        let started = Instant::now();
        let client = reqwest::Client::new();
        loop {
            let url = format!("{}/api/v1/arrivals/app?environment=prod", self.url);
            if let Ok(response) = client.get(&url).send().await
                && response.status().is_success()
            {
                let answer: Value = serde_json::from_str(&response.text().await.unwrap()).unwrap();
                let list = pairs(&answer["arrivals"]);
                if list.iter().any(|(c, _)| c == commit) {
                    return list;
                }
            }
            assert!(started.elapsed() < Duration::from_secs(20), "{}: no arrival of {commit}", self.url);
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

async fn a_restarted_hub_keeps_the_arrivals(backend: &str) {
    let dir = tempfile::tempdir().unwrap();
    let (_, p0) = repositories(dir.path());
    let daemon = GitDaemon::start(dir.path());
    let db = if backend == "sqlite" {
        format!("sqlite:{}", dir.path().join("hub.db").display())
    } else {
        postgres().create_database("restart")
    };
    let first = Process::serve(dir.path(), "first", &db, &daemon.url("fleet"));
    let before = first.arrivals_with(&p0).await;
    drop(first);
    // A commit pushed while the hub is down arrives when the restarted hub first sees it.
    tokio::time::sleep(Duration::from_millis(1_100)).await;
    let app = dir.path().join("app");
    let c1 = commit_at(&app, "1", now_s() - 3 * DAY);
    let restarted = Process::serve(dir.path(), "restarted", &db, &daemon.url("fleet"));
    let after = restarted.arrivals_with(&c1).await;
    assert_eq!(at(&after, &p0), at(&before, &p0), "{backend}: {before:?} then {after:?}");
    assert!(at(&after, &c1) > at(&before, &p0), "{backend}: {after:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(flotilla_skip_git_daemon, ignore = "FLOTILLA_SKIP=git-daemon")]
async fn a_restarted_hub_keeps_the_arrivals_on_sqlite() {
    a_restarted_hub_keeps_the_arrivals("sqlite").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(any(flotilla_skip_git_daemon, flotilla_skip_postgres), ignore = "FLOTILLA_SKIP=git-daemon or postgres")]
async fn a_restarted_hub_keeps_the_arrivals_on_postgres() {
    a_restarted_hub_keeps_the_arrivals("postgres").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(any(flotilla_skip_git_daemon, flotilla_skip_postgres), ignore = "FLOTILLA_SKIP=git-daemon or postgres")]
async fn two_hub_processes_on_one_postgres_agree_on_arrivals() {
    let dir = tempfile::tempdir().unwrap();
    let (_, p0) = repositories(dir.path());
    let daemon = GitDaemon::start(dir.path());
    let db = postgres().create_database("two_hubs");
    let one = Process::serve(dir.path(), "one", &db, &daemon.url("fleet"));
    let seen_by_one = one.arrivals_with(&p0).await;
    // The second hub first looks a second later: the first one's time is the arrival.
    tokio::time::sleep(Duration::from_millis(1_100)).await;
    let two = Process::serve(dir.path(), "two", &db, &daemon.url("fleet"));
    assert_eq!(two.arrivals_with(&p0).await, seen_by_one);
    let c1 = commit_at(&dir.path().join("app"), "1", now_s() - 3 * DAY);
    let (a, b) = (one.arrivals_with(&c1).await, two.arrivals_with(&c1).await);
    assert_eq!(at(&a, &c1), at(&b, &c1), "{a:?} and {b:?}");
    assert_eq!(at(&a, &p0), at(&seen_by_one, &p0));
}
