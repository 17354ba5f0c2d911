//! Rollouts and windows on the agent, with a virtual clock (`Memo::at`) and commits dated by
//! hand: a wave takes a commit `bake × wave` after it reached the branch (first seen there by a
//! poll, never the commit's date: each test polls when it commits), a revert during the
//! bake keeps the reverted commit from the later waves, and outside its windows the agent keeps
//! what it runs and says when the next window opens. With a halt, agents report to a hub in this
//! process and the later waves ask it before they take a commit, inside their windows only.

mod common;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use common::{World, fleet, placement};
use flotilla_core::report::{PlacementReport, SyncState};
use pull_agent::agent::{self, Memo, Mode, Reconciled};
use pull_agent::cluster::Cluster;
use pull_agent::config::Config;
use pull_agent::daemon::{self, Agent};
use pull_agent::shutdown::Shutdown;

/// 2027-01-15T08:00:00Z, a Friday.
const T0: i64 = 1_800_000_000;
const HOUR: i64 = 3_600;

/// Commits `files` into `repo` with committer and author time `at` (unix seconds).
fn commit_at(world: &World, repo: &str, files: &[(&str, &str)], at: i64) -> String {
    let dir = world.root.join(repo);
    for (path, text) in files {
        let file = dir.join(path);
        std::fs::create_dir_all(file.parent().unwrap()).unwrap();
        std::fs::write(&file, text).unwrap();
    }
    let git = |args: &[&str], dir: &Path| {
        let out = Command::new("git")
            .args(args)
            .current_dir(dir)
            .env("GIT_COMMITTER_DATE", format!("@{at} +0000"))
            .env("GIT_AUTHOR_DATE", format!("@{at} +0000"))
            .output()
            .unwrap();
        assert!(out.status.success(), "git {args:?}: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8(out.stdout).unwrap().trim().to_string()
    };
    git(&["add", "-A"], &dir);
    git(&["commit", "-q", "--allow-empty", "-m", &format!("at {at}")], &dir);
    git(&["rev-parse", "HEAD"], &dir)
}

async fn at(world: &World, now: i64) -> Reconciled {
    let mut cluster = Cluster::new(world.client());
    agent::reconcile_with(&world.config(), &mut cluster, Mode::Apply, &mut Memo::at(now)).await.unwrap()
}

async fn greeting(world: &World) -> Option<String> {
    let cm = world.config_maps().get_opt("a").await.unwrap()?;
    cm.data["data"]["greeting"].as_str().map(str::to_string)
}

#[tokio::test]
#[cfg_attr(flotilla_skip_git_daemon, ignore = "FLOTILLA_SKIP=git-daemon")]
async fn each_wave_takes_a_commit_after_its_bake_and_a_revert_during_the_bake_stops_it() {
    let world = World::new(Duration::ZERO);
    // This cluster (no canary label) is in the second wave: a commit reaches it 2 h after landing.
    let rollout = "  rollout:\n    waves: [{name: canary, clusters: {matchLabels: {canary: \"true\"}}}, {name: everyone}]\n    bake: 2h\n";
    world.commit("fleet", &[("fleet/fleet.yaml", &fleet(&world, rollout))]);
    let ns = world.namespace_yaml();
    let c1 = commit_at(&world, "app", &[("web/ns.yaml", &ns), ("web/a.yaml", &world.config_map("a", "one"))], T0);
    at(&world, T0).await;
    let c2 = commit_at(&world, "app", &[("web/a.yaml", &world.config_map("a", "two"))], T0 + 10 * HOUR);
    at(&world, T0 + 10 * HOUR).await;

    // 11:00 after T0: c2 landed an hour ago; c1 has long reached this wave.
    let r = at(&world, T0 + 11 * HOUR).await;
    let web = placement(&r, "web");
    assert_eq!(web.state, SyncState::WaitingForWave, "{web:?}");
    assert_eq!(web.applied_commit.as_deref(), Some(c1.as_str()));
    assert_eq!(web.source_commit.as_deref(), Some(c1.as_str()));
    let message = web.message.as_deref().unwrap();
    assert!(
        message.starts_with(&format!("wave everyone (2 of 2): {} reaches it at 2027-01-15T20:00:00Z", &c2[..12])),
        "{message}"
    );
    assert_eq!(greeting(&world).await.as_deref(), Some("one"));

    // 2 h after c2 landed: this wave takes it.
    let r = at(&world, T0 + 12 * HOUR).await;
    assert_eq!(placement(&r, "web").state, SyncState::Synced, "{:?}", placement(&r, "web"));
    assert_eq!(placement(&r, "web").applied_commit.as_deref(), Some(c2.as_str()));
    assert_eq!(greeting(&world).await.as_deref(), Some("two"));

    // c3 lands, and is reverted an hour later, before its bake is over: this wave never runs c3.
    let c3 = commit_at(&world, "app", &[("web/a.yaml", &world.config_map("a", "three"))], T0 + 13 * HOUR);
    at(&world, T0 + 13 * HOUR).await;
    let revert = commit_at(&world, "app", &[("web/a.yaml", &world.config_map("a", "two"))], T0 + 14 * HOUR);
    at(&world, T0 + 14 * HOUR).await;
    let r = at(&world, T0 + 15 * HOUR).await;
    let web = placement(&r, "web");
    assert_ne!(web.applied_commit.as_deref(), Some(c3.as_str()), "c3's gate opened, but it was taken back");
    assert_eq!(web.applied_commit.as_deref(), Some(c2.as_str()), "{web:?}");
    assert_eq!(web.state, SyncState::WaitingForWave);
    assert_eq!(greeting(&world).await.as_deref(), Some("two"));
    let r = at(&world, T0 + 16 * HOUR).await;
    assert_eq!(placement(&r, "web").applied_commit.as_deref(), Some(revert.as_str()));
    assert_eq!(placement(&r, "web").state, SyncState::Synced);
}

#[tokio::test]
#[cfg_attr(flotilla_skip_git_daemon, ignore = "FLOTILLA_SKIP=git-daemon")]
async fn a_rollout_with_nothing_baked_yet_applies_nothing() {
    let world = World::new(Duration::ZERO);
    let rollout = "  rollout: {waves: [{name: canary, clusters: {matchLabels: {canary: \"true\"}}}, {name: everyone}], bake: 2h}\n";
    world.commit("fleet", &[("fleet/fleet.yaml", &fleet(&world, rollout))]);
    let c1 = commit_at(&world, "app", &[("web/a.yaml", &world.config_map("a", "one"))], T0);
    let r = at(&world, T0 + HOUR).await;
    let web = placement(&r, "web");
    assert_eq!((web.state, web.applied_commit.as_deref()), (SyncState::WaitingForWave, None), "{web:?}");
    assert_eq!(web.source_commit.as_deref(), Some(c1.as_str()));
    assert_eq!(greeting(&world).await, None, "nothing applied");
}

#[tokio::test]
#[cfg_attr(flotilla_skip_git_daemon, ignore = "FLOTILLA_SKIP=git-daemon")]
async fn outside_its_windows_the_agent_keeps_what_it_runs_and_says_when_the_next_opens() {
    let world = World::new(Duration::ZERO);
    let windows =
        "  windows: [{days: [Mon, Tue, Wed, Thu, Fri, Sat, Sun], start: \"02:00\", end: \"03:00\", timeZone: UTC}]\n";
    world.commit("fleet", &[("fleet/fleet.yaml", &fleet(&world, windows))]);
    let ns = world.namespace_yaml();
    let c1 = commit_at(&world, "app", &[("web/ns.yaml", &ns), ("web/a.yaml", &world.config_map("a", "one"))], T0);
    // T0 is 08:00 UTC: shut, and nothing applied yet.
    let r = at(&world, T0).await;
    let web = placement(&r, "web");
    assert_eq!((web.state, web.applied_commit.as_deref()), (SyncState::WaitingForWindow, None), "{web:?}");
    assert_eq!(web.message.as_deref(), Some("outside its deployment windows; the next opens at 2027-01-16T02:00:00Z"));
    assert_eq!(greeting(&world).await, None);
    // 02:30 the next night: applied.
    let night = T0 + 18 * HOUR + HOUR / 2;
    let r = at(&world, night).await;
    assert_eq!(
        (placement(&r, "web").state, placement(&r, "web").applied_commit.as_deref()),
        (SyncState::Synced, Some(c1.as_str()))
    );
    // A new commit during the day waits for the night; the one applied stays (and is synced).
    let c2 = commit_at(&world, "app", &[("web/a.yaml", &world.config_map("a", "two"))], night + 6 * HOUR);
    let r = at(&world, night + 7 * HOUR).await;
    let web = placement(&r, "web");
    assert_eq!((web.state, web.applied_commit.as_deref()), (SyncState::WaitingForWindow, Some(c1.as_str())), "{web:?}");
    assert_eq!(greeting(&world).await.as_deref(), Some("one"));
    let r = at(&world, night + 24 * HOUR).await;
    assert_eq!(placement(&r, "web").applied_commit.as_deref(), Some(c2.as_str()));
    assert_eq!(greeting(&world).await.as_deref(), Some("two"));
}

/// A hub in this process reading the world's fleet repository, on a free port of loopback:
/// its URL, a join token file for any cluster name, and the task serving it.
/// The hub records when it first saw each commit on a branch at its clock: here a virtual one,
/// started at `now` (unix seconds), which the tests move with the agents' ([`hub_sees`]).
async fn hub(world: &World, now: i64) -> (String, std::path::PathBuf, tokio::task::JoinHandle<()>, Clock) {
    let dir = world.root.join("hub");
    std::fs::create_dir_all(&dir).unwrap();
    let db = format!("sqlite:{}", dir.join("hub.db").display());
    let options = hub_index::server::Options {
        db: db.clone(),
        fleet: flotilla_git::Source::new(world.daemon.url("fleet")),
        chart_credentials: None,
        listen: "127.0.0.1:0".parse().unwrap(),
        viewer_token_file: None,
        open_on_loopback: false,
        offline_after: Duration::from_secs(180),
        fleet_poll: Duration::from_millis(100),
        cache_dir: dir.join("cache"),
        environments: vec!["prod".into()],
        arrival_clock: Some(std::sync::Arc::new(std::sync::atomic::AtomicI64::new(now * 1_000))),
    };
    let clock = Clock(options.arrival_clock.clone().unwrap());
    let hub = hub_index::server::start(options).await.unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let task = tokio::spawn(async move {
        hub_index::server::serve_on(listener, hub).await.unwrap();
    });
    let join = hub_index::store::Store::open(&db).await.unwrap().create_join_token(None).await.unwrap();
    let join_file = dir.join("join-token");
    std::fs::write(&join_file, join).unwrap();
    (url, join_file, task, clock)
}

/// The in-process hub's virtual clock.
#[derive(Clone)]
struct Clock(std::sync::Arc<std::sync::atomic::AtomicI64>);

/// Moves the hub's clock to `now` (unix seconds) and waits until the hub has seen `commit` on
/// the prod branch of `repository` (asked with cluster `name`'s token): it arrived at `now`.
async fn hub_sees(world: &World, hub_url: &str, clock: &Clock, name: &str, repository: &str, commit: &str, now: i64) {
    clock.0.store(now * 1_000, std::sync::atomic::Ordering::SeqCst);
    let token = std::fs::read_to_string(world.root.join(name).join("token")).unwrap();
    let url = format!("{hub_url}/api/v1/arrivals/{repository}?environment=prod");
    for _ in 0..200 {
        let response = reqwest::Client::new().get(&url).bearer_auth(token.trim()).send().await.unwrap();
        if response.status() == 200 {
            let answer: serde_json::Value = serde_json::from_str(&response.text().await.unwrap()).unwrap();
            if let Some(a) = answer["arrivals"].as_array().unwrap().iter().find(|a| a["commit"] == commit) {
                assert_eq!(a["at"], now, "the hub saw {commit} at another time");
                return;
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the hub never saw {commit} on {repository}");
}

/// A registered agent of its own simulated cluster, reporting to the hub at `hub_url`.
async fn store_agent(world: &World, hub_url: &str, join_file: &Path, name: &str, canary: bool) -> Agent {
    labelled_agent(world, hub_url, join_file, name, &format!("{{kind: store, canary: \"{canary}\"}}")).await
}

/// [`store_agent`] with `labels` (a YAML map).
async fn labelled_agent(world: &World, hub_url: &str, join_file: &Path, name: &str, labels: &str) -> Agent {
    let text = format!(
        "cluster: {{name: {name}, environment: prod, labels: {labels}}}\n\
         fleet: {{url: {}}}\n\
         hub: {{url: {hub_url}, tokenFile: {name}/token}}\n\
         stateDir: {name}/state\n\
         namespace: flotilla-system\n\
         kubernetes: {{simulated: true}}\n",
        world.daemon.url("fleet"),
    );
    let config = Config::parse(text.as_bytes(), &world.root, None).unwrap();
    let token_file = config.hub.as_ref().unwrap().token_file.clone();
    daemon::register(&config, hub_url, join_file, &token_file).await.unwrap();
    Agent::new(config, Shutdown::new()).await.unwrap()
}

/// One cycle of `agent` at `now`, reported to its hub: the report of placement `web`.
async fn cycle(agent: &mut Agent, now: i64) -> PlacementReport {
    cycle_of(agent, now, "web").await
}

/// One cycle of `agent` at `now`, reported to its hub: the report of `placement`.
async fn cycle_of(agent: &mut Agent, now: i64, placement: &str) -> PlacementReport {
    agent.set_clock(now);
    let cycle = agent.cycle().await.unwrap();
    assert!(cycle.delivery.contains("sent"), "{}", cycle.delivery);
    cycle.report.placements.into_iter().find(|p| p.name == placement).unwrap()
}

/// The hub's rollout progress of `placement`, asked with the token of cluster `name`, once
/// `done` holds of it (the hub serves a progress again for two seconds, so one computed while
/// agents were reporting may lag behind their reports), or after 10 s.
async fn progress_when(
    world: &World,
    hub_url: &str,
    name: &str,
    placement: &str,
    done: impl Fn(&serde_json::Value) -> bool,
) -> serde_json::Value {
    let token = std::fs::read_to_string(world.root.join(name).join("token")).unwrap();
    let url = format!("{hub_url}/api/v1/rollouts/{placement}?environment=prod");
    let mut last = serde_json::Value::Null;
    for _ in 0..100 {
        let response = reqwest::Client::new().get(&url).bearer_auth(token.trim()).send().await.unwrap();
        // Not 200: the hub has not read the fleet yet.
        if response.status() == 200 {
            last = serde_json::from_str(&response.text().await.unwrap()).unwrap();
            if done(&last) {
                return last;
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_ne!(last, serde_json::Value::Null, "the hub never knew placement {placement}");
    last
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(flotilla_skip_git_daemon, ignore = "FLOTILLA_SKIP=git-daemon")]
async fn failing_canaries_halt_the_later_waves_until_a_fix_reaches_them() {
    let world = World::new(Duration::ZERO);
    let rollout = "  rollout:\n    waves: [{name: canary, clusters: {matchLabels: {canary: \"true\"}}}, {name: early, percent: 50}, {name: everyone}]\n    bake: 2h\n    halt: {maxFailed: 1}\n";
    world.commit("fleet", &[("fleet/fleet.yaml", &fleet(&world, rollout))]);
    let ns = world.namespace_yaml();
    let a = commit_at(&world, "app", &[("web/ns.yaml", &ns), ("web/a.yaml", &world.config_map("a", "one"))], T0);
    let (hub_url, join, _hub, clock) = hub(&world, T0).await;
    let mut canaries = Vec::new();
    for name in ["store-c1", "store-c2"] {
        canaries.push(store_agent(&world, &hub_url, &join, name, true).await);
    }
    let mut stores = Vec::new();
    for i in 1..=6 {
        stores.push(store_agent(&world, &hub_url, &join, &format!("store-{i:04}"), false).await);
    }
    // Everyone sees a as it lands, and runs it once its bake is over.
    hub_sees(&world, &hub_url, &clock, "store-c1", "app", &a, T0).await;
    for agent in canaries.iter_mut().chain(&mut stores) {
        cycle(agent, T0).await;
    }
    for agent in canaries.iter_mut().chain(&mut stores) {
        let web = cycle(agent, T0 + 5 * HOUR).await;
        assert_eq!((web.state, web.applied_commit.as_deref()), (SyncState::Synced, Some(a.as_str())), "{web:?}");
    }

    // b is broken; the canaries take it at once and fail; the others wait for their wave.
    let b = commit_at(&world, "app", &[("web/a.yaml", "a: [\n")], T0 + 6 * HOUR);
    hub_sees(&world, &hub_url, &clock, "store-c1", "app", &b, T0 + 6 * HOUR).await;
    for agent in &mut canaries {
        let web = cycle(agent, T0 + 6 * HOUR + 60).await;
        assert_eq!((web.state, web.source_commit.as_deref()), (SyncState::Failed, Some(b.as_str())), "{web:?}");
    }
    let mut waves = std::collections::BTreeMap::<String, usize>::new();
    for agent in &mut stores {
        let web = cycle(agent, T0 + 6 * HOUR + 60).await;
        assert_eq!((web.state, web.applied_commit.as_deref()), (SyncState::WaitingForWave, Some(a.as_str())));
        let message = web.message.unwrap();
        let wave = message.strip_prefix("wave ").and_then(|m| m.split(' ').next()).unwrap().to_string();
        *waves.entry(wave).or_default() += 1;
    }
    // The hub puts every cluster in the wave the agent itself found (once it serves a progress
    // computed after these reports: it keeps one for two seconds).
    let view = progress_when(&world, &hub_url, "store-0001", "web", |v| {
        let clusters: u64 = v["waves"].as_array().unwrap().iter().map(|w| w["clusters"].as_u64().unwrap()).sum();
        clusters == 8 && v["waves"][0]["failed"] == 2 && v["halt"]["commits"].as_array().is_some_and(|c| !c.is_empty())
    })
    .await;
    for wave in view["waves"].as_array().unwrap() {
        let name = wave["name"].as_str().unwrap();
        let expected = if name == "canary" { 2 } else { waves.get(name).copied().unwrap_or(0) };
        assert_eq!(wave["clusters"], expected, "wave {name}: {view}");
    }
    assert_eq!(waves.values().sum::<usize>(), 6);
    assert_eq!(waves.len(), 2, "both later waves have stores: {waves:?}");
    let halted = &view["halt"]["commits"][0];
    assert_eq!((halted["commit"].as_str(), &halted["failed"]), (Some(b.as_str()), &serde_json::json!([2, 0, 0])));
    assert_eq!(halted["haltedFrom"], "early", "{view}");

    // b's gate opens for the early wave: the hub holds it back, and nobody leaves a.
    for agent in &mut stores {
        let web = cycle(agent, T0 + 8 * HOUR + 60).await;
        assert_eq!((web.state, web.applied_commit.as_deref()), (SyncState::WaitingForWave, Some(a.as_str())));
        let message = web.message.unwrap();
        let held = format!("rollout halted: 2 clusters of the waves before early failed on {}", &b[..12]);
        assert!(message.starts_with(&held) || message.starts_with("wave everyone (3 of 3)"), "{message}");
    }

    // The fix: the canaries take it and are well. b stays held back from the later waves, whose
    // gates open for it before they do for the fix.
    let c = commit_at(&world, "app", &[("web/a.yaml", &world.config_map("a", "three"))], T0 + 9 * HOUR);
    hub_sees(&world, &hub_url, &clock, "store-c1", "app", &c, T0 + 9 * HOUR).await;
    for agent in &mut canaries {
        let web = cycle(agent, T0 + 9 * HOUR + 60).await;
        assert_eq!((web.state, web.applied_commit.as_deref()), (SyncState::Synced, Some(c.as_str())), "{web:?}");
    }
    for agent in &mut stores {
        let web = cycle(agent, T0 + 10 * HOUR + 60).await;
        assert_eq!((web.state, web.applied_commit.as_deref()), (SyncState::WaitingForWave, Some(a.as_str())));
        assert!(web.message.as_deref().unwrap().starts_with("rollout halted: 2 clusters"), "{web:?}");
    }
    // The fix reaches every wave in its turn, from when the hub saw it land.
    for agent in &mut stores {
        let web = cycle(agent, T0 + 13 * HOUR + 60).await;
        assert_eq!((web.state, web.applied_commit.as_deref()), (SyncState::Synced, Some(c.as_str())), "{web:?}");
    }
}

#[tokio::test]
#[cfg_attr(flotilla_skip_git_daemon, ignore = "FLOTILLA_SKIP=git-daemon")]
async fn when_the_hub_cannot_be_asked_a_later_wave_waits_or_proceeds_as_the_placement_says() {
    let world = World::new(Duration::ZERO);
    // Nothing listens on this port any more.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
    let text = format!("{}hub: {{url: \"http://{closed}\", tokenFile: token}}\n", world.config_text());
    std::fs::write(world.root.join("token"), "flt_c_not_checked\n").unwrap();
    let config = Config::parse(text.as_bytes(), &world.root, None).unwrap();
    let with = |mode: &str| {
        format!(
            "  rollout:\n    waves: [{{name: canary, clusters: {{matchLabels: {{canary: \"true\"}}}}}}, {{name: everyone}}]\n    bake: 2h\n    halt: {{maxFailed: 5%, whenHubUnreachable: {mode}}}\n"
        )
    };
    world.commit("fleet", &[("fleet/fleet.yaml", &fleet(&world, &with("wait")))]);
    let ns = world.namespace_yaml();
    let c1 = commit_at(&world, "app", &[("web/ns.yaml", &ns), ("web/a.yaml", &world.config_map("a", "one"))], T0);
    let mut cluster = Cluster::new(world.client());
    // Seen at once; baked 2 h later.
    agent::reconcile_with(&config, &mut cluster, Mode::Apply, &mut Memo::at(T0)).await.unwrap();
    let r = agent::reconcile_with(&config, &mut cluster, Mode::Apply, &mut Memo::at(T0 + 3 * HOUR)).await.unwrap();
    let web = placement(&r, "web");
    assert_eq!((web.state, web.applied_commit.as_deref()), (SyncState::WaitingForWave, None), "{web:?}");
    let message = web.message.as_deref().unwrap();
    assert!(message.starts_with(&format!("cannot ask the hub whether the rollout may go on to {}", &c1[..12])));
    assert!(message.ends_with("waiting (whenHubUnreachable: wait)"), "{message}");
    assert_eq!(greeting(&world).await, None, "nothing applied");

    world.commit("fleet", &[("fleet/fleet.yaml", &fleet(&world, &with("proceed")))]);
    let r = agent::reconcile_with(&config, &mut cluster, Mode::Apply, &mut Memo::at(T0 + 3 * HOUR)).await.unwrap();
    let web = placement(&r, "web");
    assert_eq!((web.state, web.applied_commit.as_deref()), (SyncState::Synced, Some(c1.as_str())), "{web:?}");
    assert_eq!(greeting(&world).await.as_deref(), Some("one"));
}

/// A stand-in hub on loopback that publishes no halt and counts the rollout progress it is
/// asked for: its URL and the count.
fn counting_hub() -> (String, std::sync::Arc<std::sync::atomic::AtomicUsize>) {
    use std::io::{BufRead, Write};
    use std::sync::atomic::{AtomicUsize, Ordering};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let asked = std::sync::Arc::new(AtomicUsize::new(0));
    let count = std::sync::Arc::clone(&asked);
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let mut stream = stream.unwrap();
            let mut lines = std::io::BufReader::new(stream.try_clone().unwrap()).lines();
            let request = lines.next().and_then(Result::ok).unwrap_or_default();
            // The headers; a GET has no body.
            while lines.next().and_then(Result::ok).is_some_and(|l| !l.is_empty()) {}
            if request.starts_with("GET /api/v1/rollouts/web?") {
                // Counted before the answer, so the agent's cycle ends after the count.
                count.fetch_add(1, Ordering::SeqCst);
            }
            let body = r#"{"halt":null}"#;
            let _ = write!(
                stream,
                "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    (url, asked)
}

/// A fleet simulation of 10,000 stores found the later waves asking the hub about a halt on
/// every poll while their window was shut, when they could take nothing whatever it said.
#[tokio::test]
#[cfg_attr(flotilla_skip_git_daemon, ignore = "FLOTILLA_SKIP=git-daemon")]
async fn outside_its_windows_a_later_wave_does_not_ask_the_hub_about_a_halt() {
    use std::sync::atomic::Ordering;
    let world = World::new(Duration::ZERO);
    let (hub_url, asked) = counting_hub();
    let text = format!("{}hub: {{url: \"{hub_url}\", tokenFile: token}}\n", world.config_text());
    std::fs::write(world.root.join("token"), "flt_c_not_checked\n").unwrap();
    let config = Config::parse(text.as_bytes(), &world.root, None).unwrap();
    // store-0001 is no canary: the second wave, which asks the hub before it takes a commit.
    let extra = "  rollout:\n    waves: [{name: canary, clusters: {matchLabels: {canary: \"true\"}}}, {name: everyone}]\n    bake: 2h\n    halt: {maxFailed: 1, whenHubUnreachable: wait}\n  windows: [{days: [Mon, Tue, Wed, Thu, Fri, Sat, Sun], start: \"02:00\", end: \"03:00\", timeZone: UTC}]\n";
    world.commit("fleet", &[("fleet/fleet.yaml", &fleet(&world, extra))]);
    let ns = world.namespace_yaml();
    let files = [("web/ns.yaml", ns.as_str()), ("web/a.yaml", &world.config_map("a", "one"))];
    let c1 = commit_at(&world, "app", &files, T0 - 48 * HOUR);
    let at = async |now: i64| {
        let mut cluster = Cluster::new(world.client());
        agent::reconcile_with(&config, &mut cluster, Mode::Apply, &mut Memo::at(now)).await.unwrap()
    };
    // Seen as it lands, at 08:00 two days before T0 (the window shut: the hub is not asked).
    at(T0 - 48 * HOUR).await;

    // T0 is 08:00 UTC: shut, nothing applied yet, c1 long baked. Nothing may be installed, so
    // the hub is not asked.
    let r = at(T0).await;
    let web = placement(&r, "web");
    assert_eq!((web.state, web.applied_commit.as_deref()), (SyncState::WaitingForWindow, None), "{web:?}");
    assert_eq!(asked.load(Ordering::SeqCst), 0, "asked the hub outside the window, with nothing applied");

    // 02:30 the next night: the hub is asked, holds nothing back, and c1 is installed.
    let night = T0 + 18 * HOUR + HOUR / 2;
    let r = at(night).await;
    let web = placement(&r, "web");
    assert_eq!((web.state, web.applied_commit.as_deref()), (SyncState::Synced, Some(c1.as_str())), "{web:?}");
    assert_eq!(asked.load(Ordering::SeqCst), 1, "inside the window the hub is asked");

    // c2 lands at 04:00; by 09:00 its gate for the second wave has opened, but the window is
    // shut: the cluster keeps c1, says why, and does not ask the hub, however often it polls.
    let c2 = commit_at(&world, "app", &[("web/a.yaml", &world.config_map("a", "two"))], night + 90 * 60);
    at(night + 90 * 60).await;
    for poll in 0..3 {
        let r = at(night + 6 * HOUR + HOUR / 2 + poll * 60).await;
        let web = placement(&r, "web");
        assert_eq!((web.state, web.applied_commit.as_deref()), (SyncState::WaitingForWindow, Some(c1.as_str())));
        assert_eq!(
            web.message.as_deref(),
            Some("outside its deployment windows; the next opens at 2027-01-17T02:00:00Z")
        );
    }
    assert_eq!(asked.load(Ordering::SeqCst), 1, "asked the hub outside the window");
    assert_eq!(greeting(&world).await.as_deref(), Some("one"));

    // The next night: asked again, and c2 is taken.
    let r = at(night + 24 * HOUR).await;
    let web = placement(&r, "web");
    assert_eq!((web.state, web.applied_commit.as_deref()), (SyncState::Synced, Some(c2.as_str())), "{web:?}");
    assert_eq!(asked.load(Ordering::SeqCst), 2);
    assert_eq!(greeting(&world).await.as_deref(), Some("two"));
}

#[tokio::test]
#[cfg_attr(flotilla_skip_git_daemon, ignore = "FLOTILLA_SKIP=git-daemon")]
async fn a_placement_of_the_fleet_repository_rolls_out_along_the_fleet_branch() {
    let world = World::new(Duration::ZERO);
    let fleet_yaml = "apiVersion: flotilla.dev/v1alpha1\nkind: Placement\nmetadata: {name: web}\nspec:\n  source: {repository: fleet, path: apps/web}\n  clusters: {matchLabels: {kind: store}}\n  scope: {cluster: true}\n  rollout: {waves: [{name: canary, clusters: {matchLabels: {canary: \"true\"}}}, {name: everyone}], bake: 2h}\n";
    let ns = world.namespace_yaml();
    let c1 = commit_at(
        &world,
        "fleet",
        &[
            ("fleet/fleet.yaml", fleet_yaml),
            ("apps/web/ns.yaml", &ns),
            ("apps/web/a.yaml", &world.config_map("a", "one")),
        ],
        T0,
    );
    at(&world, T0).await;
    let c2 = commit_at(&world, "fleet", &[("apps/web/a.yaml", &world.config_map("a", "two"))], T0 + 10 * HOUR);
    at(&world, T0 + 10 * HOUR).await;
    // An hour after c2: this store (everyone) renders the folder as c1 had it.
    let r = at(&world, T0 + 11 * HOUR).await;
    assert_eq!(r.fleet_commit.to_string(), c2);
    let web = placement(&r, "web");
    assert_eq!((web.state, web.applied_commit.as_deref()), (SyncState::WaitingForWave, Some(c1.as_str())), "{web:?}");
    assert!(web.message.as_deref().unwrap().starts_with(&format!("wave everyone (2 of 2): {}", &c2[..12])));
    assert_eq!(greeting(&world).await.as_deref(), Some("one"));
    // Its bake over, c2.
    let r = at(&world, T0 + 12 * HOUR).await;
    let web = placement(&r, "web");
    assert_eq!((web.state, web.applied_commit.as_deref()), (SyncState::Synced, Some(c2.as_str())), "{web:?}");
    assert_eq!(greeting(&world).await.as_deref(), Some("two"));
}

/// The example retail fleet (`examples/retail-fleet`) in git, its three repositories served by
/// git daemon (infra is the fleet), every commit dated `at`.
fn example_fleet(world: &World, at: i64) {
    common::example_repositories(world);
    for repo in ["fleet", "store-app", "cloud-services"] {
        commit_at(world, repo, &[], at);
    }
}

/// One cycle of every store at `now`: their reports of bt-collector.
async fn step(stores: &mut [(String, Agent)], now: i64) -> Vec<(String, PlacementReport)> {
    let mut reports = Vec::new();
    for (name, agent) in stores.iter_mut() {
        reports.push((name.clone(), cycle_of(agent, now, "bt-collector").await));
    }
    reports
}

/// The image bt-collector runs in the example's store-app at `version`.
fn collector_image(world: &World, version: &str) -> (String, String) {
    let path = "deploy/base/deployment.yaml";
    let text = std::fs::read_to_string(world.root.join("store-app").join(path)).unwrap();
    let old = "registry.retail.example/store/bt-collector:1.4.2";
    assert!(text.contains(old), "the example's collector image changed: update this test");
    (path.to_string(), text.replace(old, &format!("registry.retail.example/store/bt-collector:{version}")))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(flotilla_skip_git_daemon, ignore = "FLOTILLA_SKIP=git-daemon")]
async fn the_example_fleet_rolls_a_store_release_out_canary_then_a_tenth_then_everyone_at_night() {
    let world = World::new(Duration::ZERO);
    // T0 is 02:00 in Chicago (CST), when bt-collector's window opens. The fleet is days old.
    example_fleet(&world, T0 - 72 * HOUR);
    let (hub_url, join, _hub, clock) = hub(&world, T0 - 72 * HOUR).await;
    // The example's prod stores, and more like store-0002, 20 in all.
    let mut stores = Vec::new();
    for i in 1..=20 {
        let name = format!("store-{i:04}");
        let labels = match i {
            1 => "{kind: store, region: us-east, canary: \"true\"}",
            3 | 4 => "{kind: store, region: us-west, canary: \"false\"}",
            5 | 6 => "{kind: store, region: eu-west, canary: \"false\"}",
            _ => "{kind: store, region: us-east, canary: \"false\"}",
        };
        stores.push((name.clone(), labelled_agent(&world, &hub_url, &join, &name, labels).await));
    }
    let images = |reports: &[(String, PlacementReport)], commit: &str| {
        reports.iter().filter(|(_, p)| p.applied_commit.as_deref() == Some(commit)).map(|(n, _)| n.clone()).collect()
    };
    // 02:30: every store runs the release of three days ago (which they saw as it landed).
    let v1 = commit_at(&world, "store-app", &[], T0 - 72 * HOUR);
    hub_sees(&world, &hub_url, &clock, "store-0001", "store-app", &v1, T0 - 72 * HOUR).await;
    step(&mut stores, T0 - 72 * HOUR + 60).await;
    let reports = step(&mut stores, T0 + HOUR / 2).await;
    let on_v1: Vec<String> = images(&reports, &v1);
    assert_eq!(on_v1.len(), 20, "{reports:?}");

    // 02:45: release 1.5.0 lands on prod.
    let (path, text) = collector_image(&world, "1.5.0");
    let v2 = commit_at(&world, "store-app", &[(&path, &text)], T0 + 3 * HOUR / 4);
    hub_sees(&world, &hub_url, &clock, "store-0001", "store-app", &v2, T0 + 3 * HOUR / 4).await;
    // 03:00: the canary runs it; everyone else waits for their wave.
    let reports = step(&mut stores, T0 + HOUR).await;
    let canaries: Vec<String> = images(&reports, &v2);
    assert_eq!(canaries, ["store-0001"], "{reports:?}");
    for (name, p) in reports.iter().filter(|(n, _)| n != "store-0001") {
        assert_eq!((p.state, p.applied_commit.as_deref()), (SyncState::WaitingForWave, Some(v1.as_str())), "{name}");
    }
    // 04:50, past the first bake of 2 h: the early tenth takes it.
    let reports = step(&mut stores, T0 + 2 * HOUR + 50 * 60).await;
    let early: Vec<String> = images(&reports, &v2).into_iter().filter(|n| n != "store-0001").collect();
    assert!((1..=4).contains(&early.len()), "about a tenth of 19: {early:?}");
    let on_head = |view: &serde_json::Value| -> Vec<u64> {
        view["waves"].as_array().unwrap().iter().map(|w| w["onHead"].as_u64().unwrap()).collect()
    };
    let early_count = u64::try_from(early.len()).unwrap();
    let view =
        progress_when(&world, &hub_url, "store-0001", "bt-collector", |v| on_head(v) == [1, early_count, 0]).await;
    let waves = view["waves"].as_array().unwrap();
    let counts: Vec<(&str, u64, u64)> = waves
        .iter()
        .map(|w| (w["name"].as_str().unwrap(), w["clusters"].as_u64().unwrap(), w["onHead"].as_u64().unwrap()))
        .collect();
    assert_eq!(
        counts,
        [("canary", 1, 1), ("early", early_count, early_count), ("everyone", 19 - early_count, 0)],
        "{view}"
    );
    // 06:50, the second bake over, but the window shut at 05:00: everyone waits for the night.
    let reports = step(&mut stores, T0 + 4 * HOUR + 50 * 60).await;
    assert_eq!(images(&reports, &v2).len(), early.len() + 1);
    let (name, waiting) = reports.iter().find(|(n, _)| !early.contains(n) && n != "store-0001").unwrap();
    assert_eq!(waiting.state, SyncState::WaitingForWindow, "{name}: {waiting:?}");
    assert_eq!(
        waiting.message.as_deref(),
        Some("outside its deployment windows; the next opens at 2027-01-16T08:00:00Z")
    );
    // 02:10 the next night: every store runs 1.5.0.
    let reports = step(&mut stores, T0 + 24 * HOUR + 10 * 60).await;
    assert_eq!(images(&reports, &v2).len(), 20, "{reports:?}");
    let everyone = [1, early_count, 19 - early_count];
    let view = progress_when(&world, &hub_url, "store-0001", "bt-collector", |v| on_head(v) == everyone).await;
    assert_eq!(on_head(&view), everyone, "{view}");
}

/// Runs git in `repo` of the world.
fn git_in(world: &World, repo: &str, args: &[&str]) -> String {
    flotilla_git::testing::git(&world.root.join(repo), args)
}

/// A fleet whose placement `web` (of app's `web/` folder) rolls out canary → everyone with a
/// bake of 2 h; this cluster, no canary, is in the second wave.
fn two_waves(world: &World) {
    let rollout = "  rollout:\n    waves: [{name: canary, clusters: {matchLabels: {canary: \"true\"}}}, {name: everyone}]\n    bake: 2h\n";
    world.commit("fleet", &[("fleet/fleet.yaml", &fleet(world, rollout))]);
}

#[tokio::test]
#[cfg_attr(flotilla_skip_git_daemon, ignore = "FLOTILLA_SKIP=git-daemon")]
async fn a_fast_forward_promotion_of_commits_days_old_bakes_from_when_it_reached_the_branch() {
    let world = World::new(Duration::ZERO);
    two_waves(&world);
    let ns = world.namespace_yaml();
    let day = 24 * HOUR;
    let base =
        commit_at(&world, "app", &[("web/ns.yaml", &ns), ("web/a.yaml", &world.config_map("a", "one"))], T0 - 10 * day);
    at(&world, T0 - 10 * day).await;
    let r = at(&world, T0 - 9 * day).await;
    assert_eq!(placement(&r, "web").applied_commit.as_deref(), Some(base.as_str()));
    // Work on dev five days ago, promoted today by a plain `git merge` (a fast-forward).
    git_in(&world, "app", &["checkout", "-q", "-b", "dev"]);
    commit_at(&world, "app", &[("web/a.yaml", &world.config_map("a", "two"))], T0 - 5 * day);
    let release = commit_at(&world, "app", &[("web/a.yaml", &world.config_map("a", "three"))], T0 - 5 * day + HOUR);
    git_in(&world, "app", &["checkout", "-q", "prod"]);
    git_in(&world, "app", &["merge", "-q", "--ff-only", "dev"]);
    assert_eq!(git_in(&world, "app", &["rev-parse", "prod"]), release, "a fast-forward");

    let r = at(&world, T0).await;
    let web = placement(&r, "web");
    assert_eq!((web.state, web.applied_commit.as_deref()), (SyncState::WaitingForWave, Some(base.as_str())), "{web:?}");
    assert!(
        web.message.as_deref().unwrap().ends_with("reaches it at 2027-01-15T10:00:00Z"),
        "2 h after it reached prod, not after its commit date: {web:?}"
    );
    assert_eq!(greeting(&world).await.as_deref(), Some("one"));
    let r = at(&world, T0 + 2 * HOUR).await;
    assert_eq!(placement(&r, "web").applied_commit.as_deref(), Some(release.as_str()));
    assert_eq!(greeting(&world).await.as_deref(), Some("three"));
}

#[tokio::test]
#[cfg_attr(flotilla_skip_git_daemon, ignore = "FLOTILLA_SKIP=git-daemon")]
async fn a_backdated_committer_date_skips_no_bake() {
    let world = World::new(Duration::ZERO);
    two_waves(&world);
    let ns = world.namespace_yaml();
    let base = commit_at(&world, "app", &[("web/ns.yaml", &ns), ("web/a.yaml", &world.config_map("a", "one"))], T0);
    at(&world, T0).await;
    at(&world, T0 + 3 * HOUR).await;
    // Committed at T0 + 4 h, dated a week before.
    let backdated = commit_at(&world, "app", &[("web/a.yaml", &world.config_map("a", "two"))], T0 - 7 * 24 * HOUR);
    let r = at(&world, T0 + 4 * HOUR).await;
    let web = placement(&r, "web");
    assert_eq!((web.state, web.applied_commit.as_deref()), (SyncState::WaitingForWave, Some(base.as_str())), "{web:?}");
    let r = at(&world, T0 + 6 * HOUR).await;
    assert_eq!(placement(&r, "web").applied_commit.as_deref(), Some(backdated.as_str()));
}

#[tokio::test]
#[cfg_attr(flotilla_skip_git_daemon, ignore = "FLOTILLA_SKIP=git-daemon")]
async fn a_commit_force_pushed_away_and_back_bakes_again() {
    let world = World::new(Duration::ZERO);
    two_waves(&world);
    let ns = world.namespace_yaml();
    let base = commit_at(&world, "app", &[("web/ns.yaml", &ns), ("web/a.yaml", &world.config_map("a", "one"))], T0);
    at(&world, T0).await;
    let x = commit_at(&world, "app", &[("web/a.yaml", &world.config_map("a", "two"))], T0 + HOUR);
    at(&world, T0 + HOUR).await;
    // Taken off the branch, then pushed back 5 h later: it reached the branch anew.
    git_in(&world, "app", &["reset", "-q", "--hard", &base]);
    let r = at(&world, T0 + 2 * HOUR).await;
    assert_eq!(placement(&r, "web").source_commit.as_deref(), Some(base.as_str()));
    git_in(&world, "app", &["reset", "-q", "--hard", &x]);
    let r = at(&world, T0 + 6 * HOUR).await;
    let web = placement(&r, "web");
    assert_eq!((web.state, web.applied_commit.as_deref()), (SyncState::WaitingForWave, Some(base.as_str())), "{web:?}");
    assert!(web.message.as_deref().unwrap().ends_with("reaches it at 2027-01-15T16:00:00Z"), "{web:?}");
    let r = at(&world, T0 + 8 * HOUR).await;
    assert_eq!(placement(&r, "web").applied_commit.as_deref(), Some(x.as_str()));
}

#[tokio::test]
#[cfg_attr(flotilla_skip_git_daemon, ignore = "FLOTILLA_SKIP=git-daemon")]
async fn an_agent_restarted_mid_bake_neither_restarts_nor_skips_it() {
    let world = World::new(Duration::ZERO);
    two_waves(&world);
    let ns = world.namespace_yaml();
    let base = commit_at(&world, "app", &[("web/ns.yaml", &ns), ("web/a.yaml", &world.config_map("a", "one"))], T0);
    let text = world.config_text();
    let agent = || async {
        let config = Config::parse(text.as_bytes(), &world.root, None).unwrap();
        Agent::new(config, Shutdown::new()).await.unwrap()
    };
    let cycle_at = async |agent: &mut Agent, now: i64| {
        agent.set_clock(now);
        let cycle = agent.cycle().await.unwrap();
        cycle.report.placements.into_iter().find(|p| p.name == "web").unwrap()
    };
    let mut first = agent().await;
    cycle_at(&mut first, T0).await;
    cycle_at(&mut first, T0 + 3 * HOUR).await;
    let next = commit_at(&world, "app", &[("web/a.yaml", &world.config_map("a", "two"))], T0 - 24 * HOUR);
    let web = cycle_at(&mut first, T0 + 4 * HOUR).await;
    assert_eq!(web.applied_commit.as_deref(), Some(base.as_str()));
    drop(first);
    // Restarted an hour into the bake: the bake still ends 2 h after the commit was first seen.
    let mut second = agent().await;
    let web = cycle_at(&mut second, T0 + 5 * HOUR).await;
    assert_eq!((web.state, web.applied_commit.as_deref()), (SyncState::WaitingForWave, Some(base.as_str())), "{web:?}");
    assert!(web.message.as_deref().unwrap().ends_with("reaches it at 2027-01-15T14:00:00Z"), "{web:?}");
    let web = cycle_at(&mut second, T0 + 6 * HOUR).await;
    assert_eq!(web.applied_commit.as_deref(), Some(next.as_str()), "{web:?}");
}
