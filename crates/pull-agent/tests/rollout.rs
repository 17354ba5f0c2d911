//! Rollouts and windows on the agent, with a virtual clock (`Memo::at`) and commits dated by
//! hand: a wave takes a commit `bake × wave` after it reached the branch, a revert during the
//! bake keeps the reverted commit from the later waves, and outside its windows the agent keeps
//! what it runs and says when the next window opens.

mod common;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use common::{World, fleet, placement};
use flotilla_core::report::SyncState;
use pull_agent::agent::{self, Memo, Mode, Reconciled};
use pull_agent::cluster::Cluster;

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
async fn each_wave_takes_a_commit_after_its_bake_and_a_revert_during_the_bake_stops_it() {
    let world = World::new(Duration::ZERO);
    // This cluster (no canary label) is in the second wave: a commit reaches it 2 h after landing.
    let rollout = "  rollout:\n    waves: [{name: canary, clusters: {matchLabels: {canary: \"true\"}}}, {name: everyone}]\n    bake: 2h\n";
    world.commit("fleet", &[("fleet/fleet.yaml", &fleet(&world, rollout))]);
    let ns = world.namespace_yaml();
    let c1 = commit_at(&world, "app", &[("web/ns.yaml", &ns), ("web/a.yaml", &world.config_map("a", "one"))], T0);
    let c2 = commit_at(&world, "app", &[("web/a.yaml", &world.config_map("a", "two"))], T0 + 10 * HOUR);

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
    let revert = commit_at(&world, "app", &[("web/a.yaml", &world.config_map("a", "two"))], T0 + 14 * HOUR);
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
