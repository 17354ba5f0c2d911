//! What a source repository may do to a cluster, tried as an attacker would through the agent's
//! real cycle against the test API server (issue 17 §1–2): a placement writes only inside its
//! scope; prune deletes only what this agent applied for this placement, never from a forged
//! inventory, never an object another placement renders; a lost inventory is rebuilt from the
//! objects' labels; every prune is listed in the report.

mod common;

use std::time::Duration;

use common::{World, names, placement};
use flotilla_core::report::{ObjectProblem, SyncState};
use kube::api::{DeleteParams, PostParams};
use serde_json::json;

/// A fleet with the app repository and the given placements (YAML documents after `---`).
fn fleet_with(world: &World, placements: &str) -> String {
    format!(
        "apiVersion: flotilla.dev/v1alpha1\nkind: Repository\nmetadata: {{name: app}}\nspec: {{url: {}}}\n{placements}",
        world.daemon.url("app")
    )
}

/// A placement of the app folder `path`, with extra spec lines.
fn placement_yaml(name: &str, path: &str, extra: &str) -> String {
    format!(
        "---\napiVersion: flotilla.dev/v1alpha1\nkind: Placement\nmetadata: {{name: {name}}}\nspec:\n  \
         source: {{repository: app, path: {path}}}\n  clusters: {{matchLabels: {{kind: store}}}}\n{extra}"
    )
}

fn config_map_in(namespace: &str, name: &str, value: &str) -> String {
    format!(
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: {name}, namespace: {namespace}}}\ndata: {{v: \"{value}\"}}\n"
    )
}

const ADMIN_BINDING: &str = "apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRoleBinding\n\
    metadata: {name: take-over}\nroleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: cluster-admin}\n\
    subjects: [{kind: ServiceAccount, name: default, namespace: shop}]\n";

/// Creates an object by hand, as an operator's kubectl would.
async fn create(world: &World, api_version: &str, kind: &str, plural: &str, object: serde_json::Value) {
    let namespace = object.pointer("/metadata/namespace").and_then(|n| n.as_str()).map(String::from);
    let api = world.api(api_version, kind, plural, namespace.as_deref());
    api.create(&PostParams::default(), &serde_json::from_value(object).unwrap()).await.unwrap();
}

async fn exists(
    world: &World,
    api_version: &str,
    kind: &str,
    plural: &str,
    namespace: Option<&str>,
    name: &str,
) -> bool {
    world.api(api_version, kind, plural, namespace).get_opt(name).await.unwrap().is_some()
}

async fn namespace(world: &World, name: &str) {
    create(
        world,
        "v1",
        "Namespace",
        "namespaces",
        json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}}),
    )
    .await;
}

#[tokio::test]
#[cfg_attr(flotilla_skip_git_daemon, ignore = "FLOTILLA_SKIP=git-daemon")]
async fn a_source_writing_outside_its_namespace_is_refused_and_nothing_of_it_is_applied() {
    let world = World::new(Duration::ZERO);
    namespace(&world, "shop").await;
    namespace(&world, "kube-system").await;
    world.commit(
        "fleet",
        &[("fleet/fleet.yaml", &fleet_with(&world, &placement_yaml("app", "web", "  namespace: shop\n")))],
    );
    let good = world.commit("app", &[("web/a.yaml", &config_map_in("shop", "a", "1"))]);
    let synced = world.reconcile().await;
    assert_eq!(placement(&synced, "app").state, SyncState::Synced, "{:?}", placement(&synced, "app"));

    // The application team's repository reaches for kube-system and cluster-admin.
    let bad = world.commit(
        "app",
        &[
            ("web/a.yaml", &config_map_in("shop", "a", "2")),
            ("web/evil.yaml", &config_map_in("kube-system", "evil", "x")),
            ("web/admin.yaml", ADMIN_BINDING),
        ],
    );
    let refused = world.reconcile().await;
    let app = placement(&refused, "app");
    assert_eq!(app.state, SyncState::Refused, "{app:?}");
    assert_eq!(app.source_commit.as_deref(), Some(bad.as_str()));
    assert_eq!(app.applied_commit.as_deref(), Some(good.as_str()), "the last good state stays: {app:?}");
    let message = app.message.as_deref().unwrap();
    assert!(message.contains("2 of 3 objects outside the placement's scope; nothing applied"), "{message}");
    let refused_objects: Vec<String> = app
        .objects
        .iter()
        .filter(|o| o.problem == ObjectProblem::Refused)
        .map(|o| format!("{}/{}: {}", o.kind, o.name, o.message.as_deref().unwrap_or_default()))
        .collect();
    assert_eq!(refused_objects.len(), 2, "{refused_objects:?}");
    // In kustomize's order: the cluster-scoped binding first.
    assert!(
        refused_objects[1]
            .starts_with("ConfigMap/evil: namespace kube-system is outside the placement's scope (its namespace shop)"),
        "{refused_objects:?}"
    );
    assert!(
        refused_objects[0].starts_with(
            "ClusterRoleBinding/take-over: cluster-scoped kind rbac.authorization.k8s.io/ClusterRoleBinding is outside"
        ),
        "{refused_objects:?}"
    );
    // Nothing of the commit was applied: not the evil objects, not even the in-scope change.
    assert!(!exists(&world, "v1", "ConfigMap", "configmaps", Some("kube-system"), "evil").await);
    assert!(
        !exists(&world, "rbac.authorization.k8s.io/v1", "ClusterRoleBinding", "clusterrolebindings", None, "take-over")
            .await
    );
    assert_eq!(world.config_maps().get("a").await.unwrap().data["data"]["v"], "1");

    // The platform team widens the scope on purpose: then it applies.
    let platform = placement_yaml("app", "web", "  namespace: shop\n  scope: {cluster: true}\n");
    world.commit("fleet", &[("fleet/fleet.yaml", &fleet_with(&world, &platform))]);
    let synced = world.reconcile().await;
    assert_eq!(placement(&synced, "app").state, SyncState::Synced, "{:?}", placement(&synced, "app"));
    assert!(
        exists(&world, "rbac.authorization.k8s.io/v1", "ClusterRoleBinding", "clusterrolebindings", None, "take-over")
            .await
    );
}

#[tokio::test]
#[cfg_attr(flotilla_skip_git_daemon, ignore = "FLOTILLA_SKIP=git-daemon")]
async fn a_scope_of_namespace_globs_and_listed_kinds() {
    let world = World::new(Duration::ZERO);
    let scoped = placement_yaml(
        "app",
        "web",
        "  namespace: shop\n  scope: {namespaces: [shop, \"shop-*\"], clusterScoped: [Namespace]}\n",
    );
    world.commit("fleet", &[("fleet/fleet.yaml", &fleet_with(&world, &scoped))]);
    world.commit(
        "app",
        &[
            ("web/ns.yaml", "apiVersion: v1\nkind: Namespace\nmetadata: {name: shop-eu}\n"),
            ("web/ns2.yaml", "apiVersion: v1\nkind: Namespace\nmetadata: {name: shop}\n"),
            ("web/a.yaml", &config_map_in("shop-eu", "a", "1")),
        ],
    );
    let synced = world.reconcile().await;
    assert_eq!(placement(&synced, "app").state, SyncState::Synced, "{:?}", placement(&synced, "app"));
    assert!(exists(&world, "v1", "ConfigMap", "configmaps", Some("shop-eu"), "a").await);
}

#[tokio::test]
#[cfg_attr(flotilla_skip_git_daemon, ignore = "FLOTILLA_SKIP=git-daemon")]
async fn a_forged_inventory_in_a_commit_is_refused_and_prunes_nothing() {
    let world = World::new(Duration::ZERO);
    namespace(&world, "shop").await;
    namespace(&world, "payments").await;
    namespace(&world, "kube-system").await;
    create(
        &world,
        "v1",
        "ConfigMap",
        "configmaps",
        json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "precious", "namespace": "kube-system"}}),
    )
    .await;
    create(
        &world,
        "v1",
        "Secret",
        "secrets",
        json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "card-keys", "namespace": "payments"}}),
    )
    .await;
    // Even a placement that may write anywhere may not write the agent's records.
    let fleet = fleet_with(
        &world,
        &format!(
            "{}{}",
            placement_yaml("victim", "victim", "  namespace: shop\n"),
            placement_yaml("app", "web", "  scope: {cluster: true}\n")
        ),
    );
    world.commit("fleet", &[("fleet/fleet.yaml", &fleet)]);
    world.commit(
        "app",
        &[("victim/a.yaml", &config_map_in("shop", "v", "1")), ("web/a.yaml", &config_map_in("shop", "a", "1"))],
    );
    let first = world.reconcile().await;
    assert_eq!(placement(&first, "victim").state, SyncState::Synced);
    let forged = "commit 0000000000000000000000000000000000000000\ndigest sha256:00\n\
                  0 v1 ConfigMap kube-system precious\n0 v1 Secret payments card-keys\n";
    let forgery = format!(
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: flotilla-inventory-victim, namespace: flotilla-system}}\ndata:\n  inventory: |\n{}",
        forged.lines().map(|l| format!("    {l}")).collect::<Vec<_>>().join("\n") + "\n"
    );
    world.commit("app", &[("web/inventory.yaml", &forgery)]);
    for _ in 0..2 {
        let reconciled = world.reconcile().await;
        let app = placement(&reconciled, "app");
        assert_eq!(app.state, SyncState::Refused, "{app:?}");
        assert!(app.message.as_deref().unwrap().contains("are the agent's inventories"), "{app:?}");
        assert_eq!(placement(&reconciled, "victim").state, SyncState::Synced);
    }
    assert!(exists(&world, "v1", "ConfigMap", "configmaps", Some("kube-system"), "precious").await);
    assert!(exists(&world, "v1", "Secret", "secrets", Some("payments"), "card-keys").await);
}

#[tokio::test]
#[cfg_attr(flotilla_skip_git_daemon, ignore = "FLOTILLA_SKIP=git-daemon")]
async fn an_inventory_forged_in_the_cluster_is_not_used_for_pruning() {
    let world = World::new(Duration::ZERO);
    namespace(&world, "shop").await;
    namespace(&world, "kube-system").await;
    create(
        &world,
        "v1",
        "ConfigMap",
        "configmaps",
        json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "precious", "namespace": "kube-system"}}),
    )
    .await;
    world.commit(
        "fleet",
        &[("fleet/fleet.yaml", &fleet_with(&world, &placement_yaml("web", "web", "  scope: {cluster: true}\n")))],
    );
    world.commit("app", &[("web/a.yaml", &config_map_in("shop", "a", "1"))]);
    world.reconcile().await;
    // Whoever can write ConfigMaps in the agent's namespace rewrites the inventory, and labels
    // the precious object for the placement as well.
    let cms = world.api("v1", "ConfigMap", "configmaps", Some("flotilla-system"));
    let mut cm = cms.get("flotilla-inventory-web").await.unwrap();
    let text = cm.data["data"]["inventory"].as_str().unwrap().to_string();
    cm.data["data"]["inventory"] = json!(format!("{text}0 v1 ConfigMap kube-system precious\n"));
    cms.replace("flotilla-inventory-web", &PostParams::default(), &cm).await.unwrap();
    let precious = world.api("v1", "ConfigMap", "configmaps", Some("kube-system"));
    let mut p = precious.get("precious").await.unwrap();
    p.metadata.labels = Some([("flotilla.dev/placement".to_string(), "web".to_string())].into());
    precious.replace("precious", &PostParams::default(), &p).await.unwrap();

    let reconciled = world.reconcile().await;
    let web = placement(&reconciled, "web");
    assert_eq!(web.state, SyncState::Synced, "{web:?}");
    assert!(exists(&world, "v1", "ConfigMap", "configmaps", Some("kube-system"), "precious").await, "{web:?}");
    // The inventory is the agent's own again: sealed, listing what it applied.
    let inventory = world.inventory("web").await;
    assert_eq!(inventory.objects.keys().map(|r| r.name.as_str()).collect::<Vec<_>>(), ["a"]);
    let sealed = cms.get("flotilla-inventory-web").await.unwrap();
    assert_eq!(sealed.data["data"]["seal"].as_str().map(str::len), Some(64));
}

#[tokio::test]
#[cfg_attr(flotilla_skip_git_daemon, ignore = "FLOTILLA_SKIP=git-daemon")]
async fn an_object_two_placements_render_belongs_to_the_first_and_is_never_pruned_from_under_the_other() {
    let world = World::new(Duration::ZERO);
    namespace(&world, "shop").await;
    let both = format!(
        "{}{}",
        placement_yaml("alpha", "alpha", "  namespace: shop\n"),
        placement_yaml("beta", "beta", "  namespace: shop\n")
    );
    world.commit("fleet", &[("fleet/fleet.yaml", &fleet_with(&world, &both))]);
    world.commit(
        "app",
        &[
            ("alpha/shared.yaml", &config_map_in("shop", "shared", "same")),
            ("alpha/a.yaml", &config_map_in("shop", "a", "1")),
            ("beta/shared.yaml", &config_map_in("shop", "shared", "same")),
            ("beta/b.yaml", &config_map_in("shop", "b", "1")),
        ],
    );
    let label = || async {
        let cm = world.config_maps().get("shared").await.unwrap();
        cm.metadata.labels.unwrap()["flotilla.dev/placement"].clone()
    };
    for round in 0..3 {
        let reconciled = world.reconcile().await;
        assert_eq!(placement(&reconciled, "alpha").state, SyncState::Synced, "round {round}");
        let beta = placement(&reconciled, "beta");
        assert_eq!(beta.state, SyncState::Conflict, "round {round}: {beta:?}");
        assert!(beta.message.as_deref().unwrap().contains("belong to placement alpha"), "{beta:?}");
        assert_eq!(beta.objects[0].name, "shared");
        assert_eq!(label().await, "alpha", "round {round}: the object does not change hands");
    }
    assert_eq!(names(&world.config_maps()).await, ["a", "shared"], "nothing of beta is applied");

    // alpha stops rendering it: beta still does, so alpha leaves it and lets it go.
    world.commit("app", &[("alpha/shared.yaml", "")]);
    let released = world.reconcile().await;
    let alpha = placement(&released, "alpha");
    assert_eq!(alpha.state, SyncState::Synced, "{alpha:?}");
    assert!(
        alpha.objects.iter().any(|o| o.problem == ObjectProblem::Pruned
            && o.name == "shared"
            && o.message.as_deref().is_some_and(|m| m.contains("not pruned, released: placement beta renders it"))),
        "{alpha:?}"
    );
    assert!(exists(&world, "v1", "ConfigMap", "configmaps", Some("shop"), "shared").await);
    let taken = world.reconcile().await;
    assert_eq!(placement(&taken, "beta").state, SyncState::Synced, "{:?}", placement(&taken, "beta"));
    assert_eq!(label().await, "beta");
    assert_eq!(names(&world.config_maps()).await, ["a", "b", "shared"]);
}

#[tokio::test]
#[cfg_attr(flotilla_skip_git_daemon, ignore = "FLOTILLA_SKIP=git-daemon")]
async fn after_its_inventory_is_deleted_an_object_a_later_commit_drops_is_still_pruned() {
    let world = World::new(Duration::ZERO);
    namespace(&world, "shop").await;
    world.commit(
        "fleet",
        &[("fleet/fleet.yaml", &fleet_with(&world, &placement_yaml("web", "web", "  namespace: shop\n")))],
    );
    world.commit(
        "app",
        &[("web/a.yaml", &config_map_in("shop", "a", "1")), ("web/b.yaml", &config_map_in("shop", "b", "1"))],
    );
    world.reconcile().await;
    // Made by hand and labelled like the placement's: not applied by the agent, never pruned.
    create(
        &world,
        "v1",
        "ConfigMap",
        "configmaps",
        json!({"apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": "hand", "namespace": "shop", "labels": {"flotilla.dev/placement": "web"}}}),
    )
    .await;
    let cms = world.api("v1", "ConfigMap", "configmaps", Some("flotilla-system"));
    cms.delete("flotilla-inventory-web", &DeleteParams::default()).await.unwrap();

    world.commit("app", &[("web/b.yaml", "")]);
    let reconciled = world.reconcile().await;
    let web = placement(&reconciled, "web");
    assert_eq!(web.state, SyncState::Synced, "{web:?}");
    assert_eq!(names(&world.config_maps()).await, ["a", "hand"], "b pruned, the hand-made one kept: {web:?}");
    let pruned: Vec<&str> =
        web.objects.iter().filter(|o| o.problem == ObjectProblem::Pruned).map(|o| o.name.as_str()).collect();
    assert_eq!(pruned, ["b"], "{web:?}");
    assert_eq!(world.inventory("web").await.objects.keys().map(|r| r.name.as_str()).collect::<Vec<_>>(), ["a"]);
    // Listed once: the next report has nothing pruned.
    let next = world.reconcile().await;
    assert!(placement(&next, "web").objects.iter().all(|o| o.problem != ObjectProblem::Pruned));
}

#[tokio::test]
#[cfg_attr(flotilla_skip_git_daemon, ignore = "FLOTILLA_SKIP=git-daemon")]
async fn prune_leaves_what_is_outside_the_placements_scope_now() {
    let world = World::new(Duration::ZERO);
    namespace(&world, "shop").await;
    namespace(&world, "other").await;
    let wide = placement_yaml("web", "web", "  namespace: shop\n  scope: {namespaces: [shop, other]}\n");
    world.commit("fleet", &[("fleet/fleet.yaml", &fleet_with(&world, &wide))]);
    world.commit(
        "app",
        &[("web/a.yaml", &config_map_in("shop", "a", "1")), ("web/o.yaml", &config_map_in("other", "o", "1"))],
    );
    world.reconcile().await;
    assert!(exists(&world, "v1", "ConfigMap", "configmaps", Some("other"), "o").await);
    // The fleet narrows the scope and the source drops the object: it is no longer this
    // placement's to delete.
    world.commit(
        "fleet",
        &[("fleet/fleet.yaml", &fleet_with(&world, &placement_yaml("web", "web", "  namespace: shop\n")))],
    );
    world.commit("app", &[("web/o.yaml", "")]);
    let reconciled = world.reconcile().await;
    let web = placement(&reconciled, "web");
    assert_eq!(web.state, SyncState::Synced, "{web:?}");
    assert!(exists(&world, "v1", "ConfigMap", "configmaps", Some("other"), "o").await, "{web:?}");
    assert!(
        web.objects
            .iter()
            .any(|o| o.name == "o" && o.message.as_deref().is_some_and(|m| m.contains("namespace other is outside"))),
        "{web:?}"
    );
}

#[tokio::test]
#[cfg_attr(flotilla_skip_git_daemon, ignore = "FLOTILLA_SKIP=git-daemon")]
async fn a_renamed_placement_takes_its_objects_over_without_a_conflict_or_a_gap() {
    let world = World::new(Duration::ZERO);
    namespace(&world, "shop").await;
    world.commit(
        "fleet",
        &[("fleet/fleet.yaml", &fleet_with(&world, &placement_yaml("web", "web", "  namespace: shop\n")))],
    );
    world.commit("app", &[("web/a.yaml", &config_map_in("shop", "a", "1"))]);
    world.reconcile().await;
    let uid = world.config_maps().get("a").await.unwrap().metadata.uid;
    // The platform team renames the placement: the old name selects no cluster any more.
    world.commit(
        "fleet",
        &[("fleet/fleet.yaml", &fleet_with(&world, &placement_yaml("storefront", "web", "  namespace: shop\n")))],
    );
    let reconciled = world.reconcile().await;
    let storefront = placement(&reconciled, "storefront");
    assert_eq!(storefront.state, SyncState::Synced, "{storefront:?}");
    let a = world.config_maps().get("a").await.unwrap();
    assert_eq!(a.metadata.uid, uid, "taken over in place, never deleted");
    assert_eq!(a.metadata.labels.unwrap()["flotilla.dev/placement"], "storefront");
}
