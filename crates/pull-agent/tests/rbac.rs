//! The install manifests' RBAC (`examples/deploy`) against what the agent really asks of the
//! API server: the test API server records the authorization check of every request, while the
//! agent runs the example fleet as `once`, `plan` and `run` do — `run`'s cycles with their
//! watches (the daemon's `Memo::watching`), a drift its watches see, a policy it enforces, a
//! watch restart, a prune — on a store and on a cloud cluster. Every request must be allowed by
//! the roles bound to the agent's service account; the failure names each one that is not.
//!
//! The role's verbs come from here, not from a list written by hand: when the agent starts to
//! ask for something new (a list by label, a kind it rediscovers), this test names it.

mod common;

use std::time::Duration;

use common::rbac::{AGENT, assert_allowed, example_roles};
use common::{World, placement};
use flotilla_core::report::SyncState;
use kube_testserver::TestServer;
use pull_agent::agent::{self, Memo, Mode, Reconciled};
use pull_agent::cluster::Cluster;
use pull_agent::config::Config;

/// Tomorrow 09:00 UTC (03:00 or 04:00 in Chicago): inside bt-collector's window, 02:00–05:00
/// there, whenever the test runs.
fn night() -> i64 {
    let today = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() / 86_400;
    i64::try_from((today + 1) * 86_400 + 9 * 3_600).unwrap()
}

/// The agent's configuration for cluster `name`: the world's fleet, and a kubeconfig that
/// reaches `server` with the agent's token, as `inCluster` would in a cluster.
fn config(world: &World, name: &str, labels: &str, server: &TestServer) -> Config {
    let kubeconfig = world.root.join(format!("kubeconfig-{name}"));
    std::fs::write(
        &kubeconfig,
        format!(
            "apiVersion: v1\nkind: Config\ncurrent-context: test\n\
             clusters: [{{name: test, cluster: {{server: \"{}\"}}}}]\n\
             users: [{{name: agent, user: {{token: \"{AGENT}\"}}}}]\n\
             contexts: [{{name: test, context: {{cluster: test, user: agent}}}}]\n",
            server.url
        ),
    )
    .unwrap();
    let text = format!(
        "cluster: {{name: {name}, environment: prod, labels: {{{labels}}}}}\nfleet: {{url: {}}}\n\
         stateDir: state-{name}\nnamespace: flotilla-system\nkubernetes: {{kubeconfig: {}}}\n",
        world.daemon.url("fleet"),
        kubeconfig.display()
    );
    Config::parse(text.as_bytes(), &world.root, None).unwrap()
}

/// A connection as the agent makes it, from its configuration.
async fn connect(config: &Config) -> Cluster {
    Cluster::new(agent::connect(&config.kubernetes).await.unwrap())
}

/// One cycle, with `memo` (the daemon's, or a fresh one as `once` has).
async fn cycle(config: &Config, cluster: &mut Cluster, mode: Mode, memo: &mut Memo) -> Reconciled {
    agent::reconcile_with(config, cluster, mode, memo).await.unwrap()
}

/// Cycles until `done` holds (at most 10 s), as the daemon would, every 100 ms.
async fn cycle_until(
    config: &Config,
    cluster: &mut Cluster,
    memo: &mut Memo,
    what: &str,
    done: impl Fn(&Reconciled) -> bool,
) -> Reconciled {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let reconciled = cycle(config, cluster, Mode::Apply, memo).await;
        if done(&reconciled) {
            return reconciled;
        }
        assert!(tokio::time::Instant::now() < deadline, "{what}: not after 10 s: {reconciled:#?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Whether the cycle found placements unchanged: their watches are open and quiet. Not all of
/// them: the baseline is synced in full every cycle, because the agent's apply of its own
/// namespace (as `flotilla`, before each inventory) takes back the labels the baseline gives
/// that namespace, and the watch sees it.
fn watching(r: &Reconciled) -> bool {
    ["bt-collector", "store-monitoring"].iter().all(|p| r.unchanged.iter().any(|u| u == p))
}

#[tokio::test]
#[cfg_attr(flotilla_skip_git_daemon, ignore = "FLOTILLA_SKIP=git-daemon")]
async fn the_example_roles_allow_every_request_the_agent_makes() {
    let world = World::new(Duration::ZERO);
    common::example_repositories(&world);
    for repo in ["fleet", "store-app", "cloud-services"] {
        world.commit(repo, &[]);
    }
    let server = world.server();
    server.cluster().record_requests();
    let store = config(&world, "store-0001", "kind: store", server);

    // `once`: a full sync of every placement on a fresh connection; then `plan`.
    let once = cycle(&store, &mut connect(&store).await, Mode::Apply, &mut Memo::at(night())).await;
    assert_eq!(once.placements.len(), 3, "{once:#?}");
    cycle(&store, &mut connect(&store).await, Mode::Plan, &mut Memo::at(night())).await;

    // `run`: the daemon's cycles, watching what they apply, until a cycle finds nothing changed.
    let mut cluster = connect(&store).await;
    let mut memo = Memo::watching();
    memo.set_now(Some(night()));
    cycle_until(&store, &mut cluster, &mut memo, "the watches to settle", watching).await;

    // Drift (a policy deleted by hand) and a violation (the debug NodePort that an enforced
    // policy forbids), made by the test's own client: the watches see the drift, the next
    // cycle syncs in full and deletes the NodePort.
    let policies = world.api("networking.k8s.io/v1", "NetworkPolicy", "networkpolicies", Some("bt"));
    policies.delete("allow-dns", &kube::api::DeleteParams::default()).await.unwrap();
    let debug: kube::api::DynamicObject = serde_json::from_value(serde_json::json!({
        "apiVersion": "v1", "kind": "Service",
        "metadata": {"name": "bt-collector-debug", "namespace": "bt"},
        "spec": {"type": "NodePort", "ports": [{"port": 80}]}}))
    .unwrap();
    let services = world.api("v1", "Service", "services", Some("bt"));
    services.create(&kube::api::PostParams::default(), &debug).await.unwrap();
    let corrected = cycle_until(&store, &mut cluster, &mut memo, "the drift to be corrected", |r| {
        r.policies.iter().any(|p| p.name == "pci-no-nodeport-bt" && p.compliant == Some(true))
    })
    .await;
    assert_eq!(placement(&corrected, "baseline").state, SyncState::Synced, "{corrected:#?}");
    assert!(policies.get_opt("allow-dns").await.unwrap().is_some(), "the drift was not corrected");
    assert!(services.get_opt("bt-collector-debug").await.unwrap().is_none(), "the policy was not enforced");
    cycle_until(&store, &mut cluster, &mut memo, "the watches to settle again", watching).await;

    // The API server ends every watch: they list and watch again.
    server.cluster().drop_watches();
    cycle(&store, &mut cluster, Mode::Apply, &mut memo).await;
    cycle_until(&store, &mut cluster, &mut memo, "the watches to restart", watching).await;

    // Prune: the baseline no longer ships allow-dns.
    world.commit("fleet", &[("baseline/network/kustomization.yaml", "resources: [default-deny.yaml]\n")]);
    let pruned = cycle(&store, &mut cluster, Mode::Apply, &mut memo).await;
    assert_eq!(placement(&pruned, "baseline").state, SyncState::Synced, "{pruned:#?}");
    assert!(policies.get_opt("allow-dns").await.unwrap().is_none(), "allow-dns was not pruned");

    // A cloud cluster runs what no store runs (an Ingress, an autoscaler, a Secret).
    let cloud_server = TestServer::start().unwrap();
    cloud_server.cluster().record_requests();
    let cloud = config(&world, "cloud-us-east-1", "kind: cloud, region: us-east", &cloud_server);
    let synced = cycle(&cloud, &mut connect(&cloud).await, Mode::Apply, &mut Memo::at(night())).await;
    assert!(synced.placements.iter().any(|p| p.report.name == "cloud-api"), "{synced:#?}");
    let mut memo = Memo::watching();
    memo.set_now(Some(night()));
    let mut cluster = connect(&cloud).await;
    cycle_until(&cloud, &mut cluster, &mut memo, "the cloud's watches to settle", |r| {
        r.unchanged.iter().any(|u| u == "cloud-api")
    })
    .await;

    let mut recorded = server.cluster().recorded();
    recorded.extend(cloud_server.cluster().recorded());
    // What the agent did, so that the check below cannot pass on too little.
    let verbs: std::collections::BTreeSet<&str> =
        recorded.iter().filter(|r| r.user == AGENT).map(|r| r.verb.as_str()).collect();
    for verb in ["get", "list", "watch", "create", "patch", "delete"] {
        assert!(verbs.contains(verb), "the agent made no {verb} request: {verbs:?}");
    }
    assert_allowed(&example_roles(), &recorded, AGENT);
}
