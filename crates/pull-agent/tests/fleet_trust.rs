//! The fleet repository's own commits through the agent's real cycle (issue 17 §4–5): they roll
//! out wave by wave with the fleet `Repository`'s `rollout` (one that changes nothing for a
//! cluster is taken at once), wait outside its windows and in its freezes, where only a commit
//! signed with a `Flotilla-Override:` by an override signer passes; placements' freezes hold the
//! same way; `fleet.verify` in agent.yaml is the trust root no commit can change, and
//! `sources.verify` the floor a fleet `Repository` cannot lower. Virtual clock (`Memo::at`),
//! real git, keys made by `ssh-keygen`, commits signed by git.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use common::{World, placement};
use flotilla_core::report::SyncState;
use flotilla_git::testing::{Tool, require};
use pull_agent::agent::{self, Memo, Mode, Reconciled};
use pull_agent::cluster::Cluster;
use pull_agent::config::Config;
use serde_json::json;

/// 2027-01-15T08:00:00Z, a Friday.
const T0: i64 = 1_800_000_000;
const HOUR: i64 = 3_600;

/// An ed25519 key made by `ssh-keygen` in the world's folder: its private key file and its
/// allowed_signers line for `principal`.
fn ssh_key(world: &World, name: &str, principal: &str) -> (PathBuf, String) {
    let private = world.root.join(format!("keys/{name}"));
    std::fs::create_dir_all(private.parent().unwrap()).unwrap();
    let out = Command::new(require(Tool::SshKeygen))
        .args(["-q", "-t", "ed25519", "-N", "", "-C", name, "-f"])
        .arg(&private)
        .output()
        .expect("ssh-keygen makes the test's signing keys");
    assert!(out.status.success(), "ssh-keygen: {}", String::from_utf8_lossy(&out.stderr));
    let public = std::fs::read_to_string(private.with_extension("pub")).unwrap();
    let key: Vec<&str> = public.split_whitespace().take(2).collect();
    (private, format!("{principal} {}", key.join(" ")))
}

/// Commits `files` into `repo` with `message`, signed with `key` when given: its id.
fn commit_with(world: &World, repo: &str, files: &[(&str, &str)], message: &str, key: Option<&Path>) -> String {
    let dir = world.root.join(repo);
    for (path, text) in files {
        let file = dir.join(path);
        std::fs::create_dir_all(file.parent().unwrap()).unwrap();
        std::fs::write(&file, text).unwrap();
    }
    flotilla_git::testing::git(&dir, &["add", "-A"]);
    let mut command = flotilla_git::testing::git_command(&dir);
    if let Some(key) = key {
        command.args(["-c", "gpg.format=ssh", "-c"]).arg(format!("user.signingkey={}", key.display()));
    }
    command.args(["commit", "-q", "--allow-empty", "-m", message]);
    if key.is_some() {
        command.arg("-S");
    }
    let out = command.output().unwrap();
    assert!(out.status.success(), "git commit: {}", String::from_utf8_lossy(&out.stderr));
    flotilla_git::testing::git(&dir, &["rev-parse", "HEAD"])
}

/// The world's agent.yaml with `extra` lines and, with `canary`, the canary label.
fn config(world: &World, extra: &str, canary: bool) -> Config {
    let mut text = world.config_text();
    if canary {
        text = text.replace("labels: {kind: store}", "labels: {kind: store, canary: \"true\"}");
    }
    Config::parse(format!("{text}{extra}").as_bytes(), &world.root, None).unwrap()
}

async fn at(world: &World, config: &Config, now: i64) -> Reconciled {
    let mut cluster = Cluster::new(world.client());
    agent::reconcile_with(config, &mut cluster, Mode::Apply, &mut Memo::at(now)).await.unwrap()
}

/// The fleet file: the app repository, placement `web` of app's `web/` folder (stores), and
/// `extra` documents.
fn fleet_yaml(world: &World, extra: &str) -> String {
    format!(
        "apiVersion: flotilla.dev/v1alpha1\nkind: Repository\nmetadata: {{name: app}}\nspec: {{url: {}}}\n---\n\
         apiVersion: flotilla.dev/v1alpha1\nkind: Placement\nmetadata: {{name: web}}\nspec:\n  \
         source: {{repository: app, path: web}}\n  clusters: {{matchLabels: {{kind: store}}}}\n  namespace: shop\n{extra}",
        world.daemon.url("app")
    )
}

const FLEET_ROLLOUT: &str = "---\napiVersion: flotilla.dev/v1alpha1\nkind: Repository\nmetadata: {name: fleet}\n\
    spec:\n  rollout: {waves: [{name: canary, clusters: {matchLabels: {canary: \"true\"}}}, {name: everyone}], bake: 2h}\n";

/// A policy that deletes ConfigMap shop/debug wherever it selects.
const NO_DEBUG: &str = "---\napiVersion: flotilla.dev/v1alpha1\nkind: Policy\nmetadata: {name: no-debug}\nspec:\n  \
    severity: high\n  remediation: enforce\n  clusters: {matchLabels: {kind: store}}\n  objects:\n  \
    - compliance: mustnothave\n    object: {apiVersion: v1, kind: ConfigMap, metadata: {name: debug, namespace: shop}}\n";

const CLOUD_ONLY: &str = "---\napiVersion: flotilla.dev/v1alpha1\nkind: Placement\nmetadata: {name: cloud-only}\n\
    spec:\n  source: {repository: app, path: web}\n  clusters: {matchLabels: {kind: cloud}}\n  namespace: shop\n";

async fn debug_exists(world: &World) -> bool {
    world.config_maps().get_opt("debug").await.unwrap().is_some()
}

async fn make_debug(world: &World) {
    let cm = serde_json::from_value(json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "debug"}}))
        .unwrap();
    world.config_maps().create(&kube::api::PostParams::default(), &cm).await.unwrap();
}

/// The world with the app's `web/` folder (namespace shop, ConfigMap a) and the fleet `fleet`.
fn begin(world: &World, fleet: &str) -> String {
    world.commit("app", &[("web/ns.yaml", &world.namespace_yaml()), ("web/a.yaml", &world.config_map("a", "one"))]);
    world.commit("fleet", &[("fleet/fleet.yaml", fleet)])
}

#[tokio::test]
#[cfg_attr(flotilla_skip_git_daemon, ignore = "FLOTILLA_SKIP=git-daemon")]
async fn an_enforced_policy_reaches_the_later_waves_only_after_the_fleets_bake() {
    let store = World::new(Duration::ZERO);
    let canary = World::new(Duration::ZERO);
    let mut first = Vec::new();
    for (world, is_canary) in [(&store, false), (&canary, true)] {
        first.push(begin(world, &fleet_yaml(world, FLEET_ROLLOUT)));
        let config = config(world, "", is_canary);
        at(world, &config, T0).await;
    }
    // Two hours later the fleet's first commit has baked for everyone.
    let config = config(&store, "", false);
    let r = at(&store, &config, T0 + 2 * HOUR).await;
    assert_eq!(r.fleet_commit.to_string(), first[0]);
    assert_eq!(placement(&r, "web").state, SyncState::Synced, "{:?}", r.fleet);

    // A fleet commit adds an enforced mustnothave policy.
    for world in [&store, &canary] {
        make_debug(world).await;
        world.commit("fleet", &[("fleet/fleet.yaml", &fleet_yaml(world, &format!("{FLEET_ROLLOUT}{NO_DEBUG}")))]);
    }
    let policy_commit = flotilla_git::testing::git(&store.root.join("fleet"), &["rev-parse", "HEAD"]);
    let r = at(&store, &config, T0 + 3 * HOUR).await;
    let fleet = r.fleet.as_ref().unwrap();
    assert_eq!((fleet.state, fleet.commit.as_str()), (SyncState::WaitingForWave, first[0].as_str()), "{fleet:?}");
    assert_eq!(fleet.head.as_deref(), Some(policy_commit.as_str()));
    assert!(fleet.message.as_deref().unwrap().ends_with("reaches it at 2027-01-15T13:00:00Z"), "{fleet:?}");
    assert!(r.policies.is_empty(), "the policy is not in the fleet commit this store runs");
    assert!(debug_exists(&store).await, "the everyone wave does not enforce it yet");
    // The canaries take it at once.
    let r = at(&canary, &config_canary(&canary), T0 + 3 * HOUR).await;
    assert_eq!(r.fleet.as_ref().unwrap().state, SyncState::Synced, "{:?}", r.fleet);
    assert!(!debug_exists(&canary).await, "enforced on the canary");
    // Its bake over, the store enforces it.
    let r = at(&store, &config, T0 + 5 * HOUR).await;
    assert_eq!(r.fleet_commit.to_string(), policy_commit);
    assert_eq!(r.policies[0].name, "no-debug");
    assert!(!debug_exists(&store).await);

    // A fleet commit that changes nothing for stores (a placement of cloud clusters) is taken
    // at once.
    let cloud = store.commit(
        "fleet",
        &[("fleet/fleet.yaml", &fleet_yaml(&store, &format!("{FLEET_ROLLOUT}{NO_DEBUG}{CLOUD_ONLY}")))],
    );
    let r = at(&store, &config, T0 + 5 * HOUR + 60).await;
    assert_eq!(r.fleet_commit.to_string(), cloud, "{:?}", r.fleet);
    assert_eq!(r.fleet.as_ref().unwrap().state, SyncState::Synced);
}

fn config_canary(world: &World) -> Config {
    config(world, "", true)
}

#[tokio::test]
#[cfg_attr(any(flotilla_skip_git_daemon, flotilla_skip_ssh_keygen), ignore = "FLOTILLA_SKIP=git-daemon or ssh-keygen")]
async fn a_fleet_freeze_holds_every_commit_but_one_an_override_signer_signed() {
    let world = World::new(Duration::ZERO);
    let (oncall, oncall_line) = ssh_key(&world, "oncall", "oncall@retail.example");
    let (intruder, _) = ssh_key(&world, "intruder", "intruder@retail.example");
    std::fs::write(world.root.join("override_signers"), format!("{oncall_line}\n")).unwrap();
    let config = config(&world, "overrideSigners: override_signers\n", false);
    begin(&world, &fleet_yaml(&world, ""));
    at(&world, &config, T0).await;
    // The holidays: declared in the fleet, in force at once (the declaration changes nothing a
    // cluster renders, so it is taken at once too).
    let freeze = "---\napiVersion: flotilla.dev/v1alpha1\nkind: Repository\nmetadata: {name: fleet}\nspec:\n  \
        freezes: [{from: \"2027-01-15T00:00\", to: \"2027-01-20T00:00\", timeZone: UTC, reason: holidays}]\n";
    let frozen_at = world.commit("fleet", &[("fleet/fleet.yaml", &fleet_yaml(&world, freeze))]);
    let r = at(&world, &config, T0 + 60).await;
    assert_eq!(r.fleet_commit.to_string(), frozen_at);

    // A change during the freeze waits, unsigned overrides and overrides by others too.
    let policy = format!("{freeze}{NO_DEBUG}");
    world.commit("fleet", &[("fleet/fleet.yaml", &fleet_yaml(&world, &policy))]);
    let fleet_files = fleet_yaml(&world, &format!("{policy}{CLOUD_ONLY}"));
    let unsigned =
        commit_with(&world, "fleet", &[("fleet/fleet.yaml", &fleet_files)], "hotfix\n\nFlotilla-Override: INC-1", None);
    let r = at(&world, &config, T0 + HOUR).await;
    let fleet = r.fleet.as_ref().unwrap();
    assert_eq!((fleet.state, fleet.commit.as_str()), (SyncState::WaitingForWindow, frozen_at.as_str()), "{fleet:?}");
    let message = fleet.message.as_deref().unwrap();
    assert!(message.starts_with("in a change freeze (holidays) until 2027-01-20T00:00:00Z"), "{message}");
    assert!(
        message.contains(&format!("the Flotilla-Override on {} is ignored: the commit is not signed", &unsigned[..12])),
        "{message}"
    );
    assert!(r.overrides.is_empty());
    let wrong = commit_with(&world, "fleet", &[], "hotfix\n\nFlotilla-Override: INC-1", Some(&intruder));
    let r = at(&world, &config, T0 + 2 * HOUR).await;
    assert_eq!(r.fleet_commit.to_string(), frozen_at);
    assert!(
        r.fleet.as_ref().unwrap().message.as_deref().unwrap().contains(&format!(
            "the Flotilla-Override on {} is ignored: not signed by an override signer",
            &wrong[..12]
        )),
        "{:?}",
        r.fleet
    );

    // The on-call engineer signs the hotfix: it passes.
    let hotfix =
        commit_with(&world, "fleet", &[], "hotfix\n\nFlotilla-Override: INC-1 card readers down", Some(&oncall));
    let r = at(&world, &config, T0 + 3 * HOUR).await;
    assert_eq!(r.fleet_commit.to_string(), hotfix, "{:?}", r.fleet);
    assert_eq!(r.fleet.as_ref().unwrap().state, SyncState::Synced, "it runs the head: {:?}", r.fleet);
    assert_eq!(r.overrides.len(), 1, "{:?}", r.overrides);
    let o = &r.overrides[0];
    assert_eq!(
        (o.target.as_str(), o.commit.as_str(), o.signer.as_str()),
        ("fleet", hotfix.as_str(), "oncall@retail.example")
    );
    assert_eq!(o.reason, "INC-1 card readers down");
    // After the freeze, the fleet moves as usual.
    let after = world.commit("fleet", &[]);
    let r = at(&world, &config, T0 + 6 * 24 * HOUR).await;
    assert_eq!(r.fleet_commit.to_string(), after);
}

#[tokio::test]
#[cfg_attr(any(flotilla_skip_git_daemon, flotilla_skip_ssh_keygen), ignore = "FLOTILLA_SKIP=git-daemon or ssh-keygen")]
async fn a_placement_freeze_lets_only_a_signed_hotfix_through() {
    let world = World::new(Duration::ZERO);
    let (oncall, oncall_line) = ssh_key(&world, "oncall", "oncall@retail.example");
    std::fs::write(world.root.join("override_signers"), format!("{oncall_line}\n")).unwrap();
    let config = config(&world, "overrideSigners: override_signers\n", false);
    let freezes =
        "  freezes: [{from: \"2027-01-15T09:00\", to: \"2027-01-20T00:00\", timeZone: UTC, reason: holidays}]\n";
    world.commit("fleet", &[("fleet/fleet.yaml", &fleet_yaml(&world, freezes))]);
    let first =
        world.commit("app", &[("web/ns.yaml", &world.namespace_yaml()), ("web/a.yaml", &world.config_map("a", "one"))]);
    let r = at(&world, &config, T0).await;
    assert_eq!(placement(&r, "web").applied_commit.as_deref(), Some(first.as_str()));
    world.commit("app", &[("web/a.yaml", &world.config_map("a", "two"))]);
    let r = at(&world, &config, T0 + 2 * HOUR).await;
    let web = placement(&r, "web");
    assert_eq!(
        (web.state, web.applied_commit.as_deref()),
        (SyncState::WaitingForWindow, Some(first.as_str())),
        "{web:?}"
    );
    assert!(web.message.as_deref().unwrap().starts_with("in a change freeze (holidays) until"), "{web:?}");
    let hotfix = commit_with(
        &world,
        "app",
        &[("web/a.yaml", &world.config_map("a", "fixed"))],
        "fix\n\nFlotilla-Override: INC-2",
        Some(&oncall),
    );
    let r = at(&world, &config, T0 + 3 * HOUR).await;
    let web = placement(&r, "web");
    assert_eq!((web.state, web.applied_commit.as_deref()), (SyncState::Synced, Some(hotfix.as_str())), "{web:?}");
    assert_eq!(
        r.overrides.iter().map(|o| (o.target.as_str(), o.reason.as_str())).collect::<Vec<_>>(),
        [("web", "INC-2")]
    );
    assert_eq!(world.config_maps().get("a").await.unwrap().data["data"]["greeting"], "fixed");
    // Reported while it runs in the freeze.
    let r = at(&world, &config, T0 + 4 * HOUR).await;
    assert_eq!(r.overrides.len(), 1);
}

#[tokio::test]
#[cfg_attr(any(flotilla_skip_git_daemon, flotilla_skip_ssh_keygen), ignore = "FLOTILLA_SKIP=git-daemon or ssh-keygen")]
async fn the_fleet_is_verified_against_agent_yaml_and_the_last_verified_commit_stays() {
    let world = World::new(Duration::ZERO);
    let (platform, platform_line) = ssh_key(&world, "platform", "platform@retail.example");
    std::fs::write(world.root.join("fleet_signers"), format!("{platform_line}\n")).unwrap();
    let url = world.daemon.url("fleet");
    let text = world.config_text().replace(
        &format!("fleet: {{url: {url}}}"),
        &format!("fleet: {{url: {url}, verify: {{mode: enforce, allowedSigners: fleet_signers}}}}"),
    );
    let config = Config::parse(text.as_bytes(), &world.root, None).unwrap();
    // A placement of the fleet repository itself: its folder comes from the verified commit.
    let own = "---\napiVersion: flotilla.dev/v1alpha1\nkind: Placement\nmetadata: {name: base}\nspec:\n  \
        source: {repository: fleet, path: base}\n  clusters: {matchLabels: {kind: store}}\n  namespace: shop\n";
    world.commit("app", &[("web/ns.yaml", &world.namespace_yaml()), ("web/a.yaml", &world.config_map("a", "one"))]);
    let signed = commit_with(
        &world,
        "fleet",
        &[("fleet/fleet.yaml", &fleet_yaml(&world, own)), ("base/b.yaml", &world.config_map("b", "signed"))],
        "fleet",
        Some(&platform),
    );
    let r = at(&world, &config, T0).await;
    assert_eq!(r.fleet_commit.to_string(), signed);
    assert_eq!(r.fleet.as_ref().unwrap().signer.as_deref(), Some("platform@retail.example"));
    assert_eq!(placement(&r, "base").signer.as_deref(), Some("platform@retail.example"));
    // Whoever can push to the fleet repository turns verification off and changes base: not used.
    let forged = fleet_yaml(&world, own).replace("spec: {url:", "spec: {verify: {mode: off}, url:");
    let unsigned = commit_with(
        &world,
        "fleet",
        &[("fleet/fleet.yaml", &forged), ("base/b.yaml", &world.config_map("b", "forged"))],
        "sneaky",
        None,
    );
    let r = at(&world, &config, T0 + 60).await;
    let fleet = r.fleet.as_ref().unwrap();
    assert_eq!((fleet.state, fleet.commit.as_str()), (SyncState::VerificationFailed, signed.as_str()), "{fleet:?}");
    assert!(fleet.message.as_deref().unwrap().contains(&unsigned), "names the commit: {fleet:?}");
    assert_eq!(world.config_maps().get("b").await.unwrap().data["data"]["greeting"], "signed");
    // A signed commit moves it on.
    let next =
        commit_with(&world, "fleet", &[("base/b.yaml", &world.config_map("b", "next"))], "next", Some(&platform));
    let r = at(&world, &config, T0 + 120).await;
    assert_eq!((r.fleet_commit.to_string(), r.fleet.as_ref().unwrap().state), (next, SyncState::Synced));
    assert_eq!(world.config_maps().get("b").await.unwrap().data["data"]["greeting"], "next");
}

#[tokio::test]
#[cfg_attr(any(flotilla_skip_git_daemon, flotilla_skip_ssh_keygen), ignore = "FLOTILLA_SKIP=git-daemon or ssh-keygen")]
async fn sources_verify_is_a_floor_that_a_fleet_repository_cannot_lower() {
    let world = World::new(Duration::ZERO);
    let config = config(&world, "sources: {verify: enforce}\n", false);
    begin(&world, &fleet_yaml(&world, ""));
    let r = at(&world, &config, T0).await;
    let web = placement(&r, "web");
    assert_eq!(web.state, SyncState::VerificationFailed, "{web:?}");
    assert!(world.config_maps().get_opt("a").await.unwrap().is_none(), "nothing applied");
    // With the release key declared for the source and the commit signed, it syncs.
    let (release, line) = ssh_key(&world, "release", "release@retail.example");
    let declared = fleet_yaml(&world, "")
        .replace("spec: {url:", &format!("spec: {{verify: {{mode: inform, allowedSigners: \"{line}\"}}, url:"));
    world.commit("fleet", &[("fleet/fleet.yaml", &declared)]);
    let signed =
        commit_with(&world, "app", &[("web/a.yaml", &world.config_map("a", "two"))], "release", Some(&release));
    let r = at(&world, &config, T0 + 60).await;
    let web = placement(&r, "web");
    assert_eq!((web.state, web.applied_commit.as_deref()), (SyncState::Synced, Some(signed.as_str())), "{web:?}");
    assert_eq!(web.signer.as_deref(), Some("release@retail.example"));
}
