//! The agent killed mid-apply (SPEC §7): the `pull-agent once` binary is killed with SIGKILL at
//! random points of its runs over many commits, and the next run still converges with nothing
//! wrongly pruned.
//!
//! Each round commits a change to the app — ConfigMaps added, removed and changed, around a
//! "stable" set present in every commit — runs the agent against the test API server (slowed
//! to `LATENCY` per request, so that a run of some fifty writes takes about a second), and kills
//! it a random time into its sync (from its first API request to as long as a whole sync took
//! before); some rounds let it finish. After every round: every stable ConfigMap still exists
//! with the uid it was created with (deleted at any moment, it would be gone or have a new
//! uid; the test server's request log is only a count), the hand-made ConfigMaps are untouched,
//! and every object labelled with the placement is in its inventory (the crash-safety invariant
//! of `sync.rs`: nothing the next run would not know to be its own). At the end a run to
//! completion leaves exactly the last commit's ConfigMaps, with its data.
//!
//! A quarter of the kills land before the first API request instead, in the start-up and git
//! fetches (a lock gix leaves there is removed by the next run, see
//! `a_git_lock_left_by_an_agent_killed_mid_fetch_is_removed_by_the_next_run`).
//!
//! Random but repeatable: the seed is printed, and `FLOTILLA_CRASH_SEED=N` runs that seed again
//! (kill points are times, so a run repeats the same commits and delays, not necessarily the
//! same interrupted request).

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use common::{World, fleet, placement};
use flotilla_core::plan::{Inventory, ObjectRef};
use flotilla_core::report::{ObjectProblem, PlacementReport, SyncState};
use kube::api::{DynamicObject, ListParams, PostParams};
use serde_json::json;

/// Each request to the test API server waits this long.
const LATENCY: Duration = Duration::from_millis(10);
/// Rounds of commit, run and (mostly) kill.
const ROUNDS: usize = 14;
/// ConfigMaps `cm-00` … in every commit, never to be deleted.
const STABLE: usize = 20;
/// ConfigMaps after the stable ones that come and go.
const VARIABLE: usize = 60;
/// The values a ConfigMap's `greeting` takes: few, so that a change sometimes goes back.
const VALUES: u64 = 4;
/// The longest a run to completion may take before the test gives up on it.
const RUN_TIMEOUT: Duration = Duration::from_secs(60);

#[tokio::test]
#[cfg_attr(flotilla_skip_git_daemon, ignore = "FLOTILLA_SKIP=git-daemon")]
async fn the_agent_killed_at_random_points_converges_and_prunes_nothing_it_should_keep() {
    let seed = std::env::var("FLOTILLA_CRASH_SEED")
        .ok()
        .map_or_else(clock_seed, |s| s.parse().unwrap_or_else(|_| panic!("FLOTILLA_CRASH_SEED={s:?} is not a number")));
    eprintln!("crash test seed {seed} (FLOTILLA_CRASH_SEED={seed} repeats it)");
    let mut rng = SplitMix(seed);

    let world = World::new(Duration::ZERO);
    world.server().cluster().set_latency(LATENCY);
    let config = world.root.join("agent.yaml");
    std::fs::write(&config, world.config_text()).unwrap();
    world.commit("fleet", &[("fleet/fleet.yaml", &fleet(&world, ""))]);

    // Round 0 runs to completion: the stable objects and the namespace exist from then on.
    let mut desired: BTreeMap<String, String> = BTreeMap::new();
    for i in 0..STABLE + VARIABLE {
        if i < STABLE || rng.chance(50) {
            desired.insert(name(i), value(&mut rng));
        }
    }
    let mut commit = commit_app(&world, &BTreeMap::new(), &desired);
    let requests = world.server().cluster().requests();
    let spawned = Instant::now();
    let mut agent = Agent::spawn(&config, &world.root, "round-0");
    let talking = first_request(&world, &mut agent, requests);
    // How long the agent takes to start and fetch before it talks to the API server.
    let start_up = talking - spawned;
    let (status, reports) = agent.finish();
    // How long the agent talks to the API server in a run: where most kills land.
    let mut expected = talking.elapsed();
    assert!(status.success() && synced(&reports), "round 0: {status}: {reports:?}");
    eprintln!("round 0: {} objects, started in {start_up:?}, applied in {expected:?}", desired.len());

    let stable = uids(&world, (0..STABLE).map(name)).await;
    let hand_made = make_by_hand(&world).await;
    check_invariants(&world, "round 0", &stable, &hand_made).await;

    let (mut kills, mut killed_mid_run) = (0, 0);
    for round in 1..=ROUNDS {
        let before = desired.clone();
        change(&mut rng, &mut desired);
        commit = commit_app(&world, &before, &desired);
        let label = format!("round {round}: {}", counts(&before, &desired));
        let requests = world.server().cluster().requests();
        let mut agent = Agent::spawn(&config, &world.root, &format!("round-{round}"));
        if rng.chance(25) {
            // Killed while it starts or fetches.
            kills += 1;
            let delay = start_up.mul_f64(rng.unit());
            std::thread::sleep(delay);
            let finished = agent.kill();
            if finished.is_none() {
                killed_mid_run += 1;
            }
            let served = world.server().cluster().requests() - requests;
            eprintln!("{label}: killed {delay:?} after its start ({finished:?}), after {served} API requests");
            check_invariants(&world, &format!("round {round}"), &stable, &hand_made).await;
            continue;
        }
        let talking = first_request(&world, &mut agent, requests);
        if rng.chance(20) {
            let (status, _) = agent.finish();
            expected = talking.elapsed();
            eprintln!("{label}: let finish, applied in {expected:?}: {status}");
        } else {
            kills += 1;
            let delay = expected.mul_f64(rng.unit());
            std::thread::sleep(delay);
            let finished = agent.kill();
            let served = world.server().cluster().requests() - requests;
            if finished.is_none() {
                killed_mid_run += 1;
            }
            eprintln!(
                "{label}: {} {delay:?} into applying, after {served} API requests",
                finished.map_or_else(|| "killed".to_string(), |s| format!("finished ({s}) before the kill"))
            );
        }
        check_invariants(&world, &format!("round {round}"), &stable, &hand_made).await;
    }
    assert!(
        killed_mid_run * 3 >= kills,
        "only {killed_mid_run} of {kills} runs were killed before they finished: the kills test little"
    );

    converges(&world, &config, &desired, &commit, &stable, &hand_made).await;
}

/// The next run converges (a second one, should the first not, must) to exactly the last
/// commit, without drift, and the stable and hand-made objects are as they were.
async fn converges(
    world: &World,
    config: &Path,
    desired: &BTreeMap<String, String>,
    commit: &str,
    stable: &BTreeMap<String, String>,
    hand_made: &BTreeMap<String, String>,
) {
    // The next run converges; a second one, should the first not, must.
    let (status, reports) = run_to_completion(world, config, "final-1");
    if !(status.success() && synced(&reports)) {
        eprintln!("the first run after the last round did not converge ({status}): {reports:?}");
        let (status, reports) = run_to_completion(world, config, "final-2");
        assert!(status.success() && synced(&reports), "the second run did not converge ({status}): {reports:?}");
    }
    let drifted: Vec<&str> = reports
        .iter()
        .flat_map(|r| &r.objects)
        .filter(|o| o.problem == ObjectProblem::Drifted)
        .map(|o| o.name.as_str())
        .collect();
    // What a killed run changed is unsettled in the inventory, never taken for drift (see
    // a_change_taken_back_after_an_interrupted_sync_is_applied_not_taken_for_drift).
    assert!(drifted.is_empty(), "the run after the last round reported drift nobody made: {drifted:?}");
    check_invariants(world, "the end", stable, hand_made).await;

    let labelled: BTreeMap<String, String> = world
        .config_maps()
        .list(&ListParams::default().labels("flotilla.dev/placement=web"))
        .await
        .unwrap()
        .items
        .into_iter()
        .map(|cm| (cm.metadata.name.clone().unwrap(), cm.data["data"]["greeting"].as_str().unwrap().to_string()))
        .collect();
    assert_eq!(&labelled, desired, "the cluster holds exactly the last commit's ConfigMaps, with its data");
    let inventory = world.inventory("web").await;
    assert_eq!(inventory.commit, commit);
    let recorded: BTreeSet<(&str, &str)> =
        inventory.objects.keys().map(|r| (r.kind.as_str(), r.name.as_str())).collect();
    let wanted: BTreeSet<(&str, &str)> = std::iter::once(("Namespace", world.namespace.as_str()))
        .chain(desired.keys().map(|n| ("ConfigMap", n.as_str())))
        .collect();
    assert_eq!(recorded, wanted, "the inventory holds the last commit's objects");
}

/// An agent killed while it fetches (SIGKILL, an OOM kill, a power cut) leaves gix's lock file
/// beside the file it was writing — here the app cache's `shallow.lock`. The next run finds it
/// while holding the cache entry's own lock, so it is stale: it is removed and the run converges.
/// (The crash test's kills land in fetches too; here the lock is left by hand, the fetch being
/// too short to hit every time.)
#[tokio::test]
#[cfg_attr(flotilla_skip_git_daemon, ignore = "FLOTILLA_SKIP=git-daemon")]
async fn a_git_lock_left_by_an_agent_killed_mid_fetch_is_removed_by_the_next_run() {
    let world = World::new(Duration::ZERO);
    let config = world.root.join("agent.yaml");
    std::fs::write(&config, world.config_text()).unwrap();
    world.commit("fleet", &[("fleet/fleet.yaml", &fleet(&world, ""))]);
    world
        .commit("app", &[("web/namespace.yaml", &world.namespace_yaml()), ("web/a.yaml", &world.config_map("a", "1"))]);
    let (status, reports) = run_to_completion(&world, &config, "first");
    assert!(status.success() && synced(&reports), "{status}: {reports:?}");

    world.commit("app", &[("web/a.yaml", &world.config_map("a", "2"))]);
    let cache = flotilla_git::Cache::new(world.root.join("state/git")).shallow().path_of(&world.daemon.url("app"));
    std::fs::write(cache.join("shallow.lock"), "").unwrap();
    let (status, reports) = run_to_completion(&world, &config, "second");
    assert!(status.success() && synced(&reports), "{status}: {reports:?}");
    assert!(!cache.join("shallow.lock").exists());
    let a = world.config_maps().get("a").await.unwrap();
    assert_eq!(a.data["data"]["greeting"], "2");
}

/// A sync that stops after applying some changed objects — killed, or stopped by a refused
/// object as here — leaves those objects marked unsettled in the inventory (it is widened before
/// anything changes). When the next commit takes such a change back, the object is applied again
/// as changed: not mistaken for drift, which under `driftCorrection: false` would keep the
/// interrupted commit's value for good while the placement reported Synced.
#[tokio::test]
#[cfg_attr(flotilla_skip_git_daemon, ignore = "FLOTILLA_SKIP=git-daemon")]
async fn a_change_taken_back_after_an_interrupted_sync_is_applied_not_taken_for_drift() {
    let world = World::new(Duration::ZERO);
    world.commit("fleet", &[("fleet/fleet.yaml", &fleet(&world, "  sync: {driftCorrection: false}\n"))]);
    let (a1, b1) = (world.config_map("a", "1"), world.config_map("b", "1"));
    world.commit("app", &[("web/namespace.yaml", &world.namespace_yaml()), ("web/a.yaml", &a1), ("web/b.yaml", &b1)]);
    assert_eq!(placement(&world.reconcile().await, "web").state, SyncState::Synced);

    // a changes and is applied; b is refused (a list where a string belongs): the sync stops.
    let refused = format!(
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: b, namespace: {}}}\ndata: {{greeting: [1]}}\n",
        world.namespace
    );
    world.commit("app", &[("web/a.yaml", &world.config_map("a", "2")), ("web/b.yaml", &refused)]);
    assert_eq!(placement(&world.reconcile().await, "web").state, SyncState::Failed);
    assert_eq!(world.config_maps().get("a").await.unwrap().data["data"]["greeting"], "2");

    // The next commit takes a's change back.
    let taken_back = world.commit("app", &[("web/a.yaml", &a1), ("web/b.yaml", &b1)]);
    let reconciled = world.reconcile().await;
    let web = placement(&reconciled, "web");
    assert_eq!(web.state, SyncState::Synced, "{web:?}");
    assert_eq!(web.applied_commit.as_deref(), Some(taken_back.as_str()));
    assert!(web.objects.is_empty(), "no drift, nothing unhealthy: {web:?}");
    let a = world.config_maps().get("a").await.unwrap();
    assert_eq!(a.data["data"]["greeting"], "1", "as the commit says");
}

fn name(i: usize) -> String {
    format!("cm-{i:02}")
}

fn value(rng: &mut SplitMix) -> String {
    format!("v{}", rng.below(VALUES))
}

/// The next commit's ConfigMaps: each variable one present is removed, and each absent one
/// added, with a chance of 30%; each one kept (stable ones too) changes with a chance of 25%.
fn change(rng: &mut SplitMix, desired: &mut BTreeMap<String, String>) {
    for i in 0..STABLE + VARIABLE {
        let n = name(i);
        let present = desired.contains_key(&n);
        if present && i >= STABLE && rng.chance(30) {
            desired.remove(&n);
        } else if rng.chance(if present { 25 } else { 30 }) {
            let v = value(rng);
            desired.insert(n, v);
        }
    }
}

/// "+added -removed ~changed (total)".
fn counts(before: &BTreeMap<String, String>, after: &BTreeMap<String, String>) -> String {
    let added = after.keys().filter(|n| !before.contains_key(*n)).count();
    let removed = before.keys().filter(|n| !after.contains_key(*n)).count();
    let changed = after.iter().filter(|(n, v)| before.get(*n).is_some_and(|b| b != *v)).count();
    format!("+{added} -{removed} ~{changed} ({} objects)", after.len())
}

/// Commits the app's `web` folder going from `before` to `after`; the commit id.
fn commit_app(world: &World, before: &BTreeMap<String, String>, after: &BTreeMap<String, String>) -> String {
    let mut files: Vec<(String, String)> = vec![("web/namespace.yaml".into(), world.namespace_yaml())];
    for n in before.keys().filter(|n| !after.contains_key(*n)) {
        files.push((format!("web/{n}.yaml"), String::new()));
    }
    for (n, v) in after {
        files.push((format!("web/{n}.yaml"), world.config_map(n, v)));
    }
    let files: Vec<(&str, &str)> = files.iter().map(|(p, t)| (p.as_str(), t.as_str())).collect();
    world.commit("app", &files)
}

/// Two ConfigMaps that are not the agent's: one unlabelled, one labelled for another placement.
/// Their resource versions, by name.
async fn make_by_hand(world: &World) -> BTreeMap<String, String> {
    let mut made = BTreeMap::new();
    for (name, labels) in [("by-hand", json!({})), ("other-placement", json!({"flotilla.dev/placement": "other"}))] {
        let cm: DynamicObject = serde_json::from_value(json!({"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": name, "labels": labels}, "data": {"greeting": "made by hand"}}))
        .unwrap();
        let created = world.config_maps().create(&PostParams::default(), &cm).await.unwrap();
        made.insert(name.to_string(), created.metadata.resource_version.unwrap());
    }
    made
}

/// The uids of the named ConfigMaps, which must exist.
async fn uids(world: &World, names: impl Iterator<Item = String>) -> BTreeMap<String, String> {
    let mut uids = BTreeMap::new();
    for n in names {
        let cm = world.config_maps().get(&n).await.unwrap();
        uids.insert(n, cm.metadata.uid.unwrap());
    }
    uids
}

/// What holds whenever no agent runs, however the last one ended.
async fn check_invariants(
    world: &World,
    when: &str,
    stable: &BTreeMap<String, String>,
    hand_made: &BTreeMap<String, String>,
) {
    let all = world.config_maps().list(&ListParams::default()).await.unwrap().items;
    let by_name: BTreeMap<&str, &DynamicObject> =
        all.iter().map(|cm| (cm.metadata.name.as_deref().unwrap(), cm)).collect();
    for (n, uid) in stable {
        let cm = by_name.get(n.as_str()).unwrap_or_else(|| panic!("{when}: stable ConfigMap {n} was deleted"));
        assert_eq!(cm.metadata.uid.as_ref(), Some(uid), "{when}: stable ConfigMap {n} was deleted and made again");
    }
    for (n, version) in hand_made {
        let cm = by_name.get(n.as_str()).unwrap_or_else(|| panic!("{when}: hand-made ConfigMap {n} was deleted"));
        assert_eq!(cm.metadata.resource_version.as_ref(), Some(version), "{when}: hand-made ConfigMap {n} was changed");
    }

    // Nothing labelled for the placement is unknown to its inventory.
    let text = world.inventory_text("web").await;
    let inventory =
        Inventory::from_text(&text).unwrap_or_else(|e| panic!("{when}: the inventory does not read back: {e}\n{text}"));
    let selector = ListParams::default().labels("flotilla.dev/placement=web");
    let namespaces = world.api("v1", "Namespace", "namespaces", None).list(&selector).await.unwrap().items;
    let config_maps = world.api("v1", "ConfigMap", "configmaps", None).list(&selector).await.unwrap().items;
    let labelled = namespaces.iter().map(|o| ("Namespace", o)).chain(config_maps.iter().map(|o| ("ConfigMap", o))).map(
        |(kind, o)| ObjectRef {
            api_version: "v1".into(),
            kind: kind.into(),
            namespace: o.metadata.namespace.clone().unwrap_or_default(),
            name: o.metadata.name.clone().unwrap(),
        },
    );
    for r in labelled {
        assert!(
            inventory.objects.contains_key(&r),
            "{when}: {r} is labelled for web but not in its inventory:\n{text}"
        );
    }
}

/// Runs `pull-agent once` to the end; its exit status and its reports.
fn run_to_completion(world: &World, config: &Path, name: &str) -> (ExitStatus, Vec<PlacementReport>) {
    Agent::spawn(config, &world.root, name).finish()
}

/// Waits until the agent has sent the API server a request beyond the `before` it had served:
/// its git work is done and it has begun to sync. When.
fn first_request(world: &World, agent: &mut Agent, before: u64) -> Instant {
    let deadline = Instant::now() + RUN_TIMEOUT;
    while world.server().cluster().requests() == before {
        if let Some(status) = agent.child.try_wait().unwrap() {
            let stderr = std::fs::read_to_string(&agent.stderr).unwrap();
            panic!("the agent ended ({status}) before it talked to the API server:\n{stderr}");
        }
        assert!(Instant::now() < deadline, "the agent did not talk to the API server in {RUN_TIMEOUT:?}");
        std::thread::sleep(Duration::from_millis(1));
    }
    Instant::now()
}

fn synced(reports: &[PlacementReport]) -> bool {
    reports.len() == 1 && reports[0].state == SyncState::Synced
}

/// A running `pull-agent once`, its output in files; killed and reaped when dropped, so that no
/// test failure leaves it running.
struct Agent {
    child: Child,
    stdout: PathBuf,
    stderr: PathBuf,
}

impl Agent {
    fn spawn(config: &Path, dir: &Path, name: &str) -> Agent {
        let stdout = dir.join(format!("{name}.out"));
        let stderr = dir.join(format!("{name}.err"));
        let child = Command::new(env!("CARGO_BIN_EXE_pull-agent"))
            .args(["once", "--config"])
            .arg(config)
            .stdin(Stdio::null())
            .stdout(std::fs::File::create(&stdout).unwrap())
            .stderr(std::fs::File::create(&stderr).unwrap())
            .spawn()
            .unwrap();
        Agent { child, stdout, stderr }
    }

    /// Kills it with SIGKILL and reaps it; its exit status if it had finished before.
    fn kill(&mut self) -> Option<ExitStatus> {
        let finished = self.child.try_wait().unwrap();
        if finished.is_none() {
            self.child.kill().unwrap();
            self.child.wait().unwrap();
        }
        finished
    }

    /// Waits for it to finish by itself; its exit status and the reports it printed.
    fn finish(mut self) -> (ExitStatus, Vec<PlacementReport>) {
        let deadline = Instant::now() + RUN_TIMEOUT;
        let status = loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                break status;
            }
            assert!(
                Instant::now() < deadline,
                "pull-agent once ran over {RUN_TIMEOUT:?}; its stderr is in {}",
                self.stderr.display()
            );
            std::thread::sleep(Duration::from_millis(5));
        };
        let stdout = std::fs::read_to_string(&self.stdout).unwrap();
        let stderr = std::fs::read_to_string(&self.stderr).unwrap();
        let no_reports =
            |e: &dyn std::fmt::Display| format!("{status}: no reports on stdout ({e}):\n{stdout}\n{stderr}");
        let printed: serde_json::Value = serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("{}", no_reports(&e)));
        // The placements' reports, alone or in the agent's whole report.
        let placements = if printed.is_array() { printed } else { printed["placements"].clone() };
        let reports = serde_json::from_value(placements).unwrap_or_else(|e| panic!("{}", no_reports(&e)));
        (status, reports)
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        // Both fail harmlessly when it has been reaped already.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// splitmix64 (Steele, Lea and Flood): tiny, and good enough to pick commits and kill points.
struct SplitMix(u64);

impl SplitMix {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n`, near enough for small `n`.
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    /// True with a chance of `percent` in 100.
    fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }

    /// Uniform in [0, 1).
    #[expect(clippy::cast_precision_loss, reason = "53 bits convert to a double exactly")]
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// A seed from the clock, so that runs explore different commits and kill points.
fn clock_seed() -> u64 {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    now.as_secs().wrapping_mul(1_000_000_007) ^ u64::from(now.subsec_nanos())
}
