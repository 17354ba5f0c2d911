//! Governance scenarios (policies on the cluster), written for any cluster like the others:
//! names come from the world. `govern.rs` runs them on the test API server, `real_cluster.rs`
//! on a real one.

use flotilla_core::report::PolicyReport;
use kube::api::PostParams;
use pull_agent::agent::{self, Mode, Reconciled};
use pull_agent::cluster::Cluster;
use serde_json::json;

use super::{World, fleet, names};

/// A policy document: `remediation`, then its templates as YAML list items.
fn policy(name: &str, remediation: &str, templates: &str) -> String {
    format!(
        "---\napiVersion: flotilla.dev/v1alpha1\nkind: Policy\nmetadata: {{name: {name}}}\n\
         spec:\n  standards: [PCI-DSS v4.0]\n  controls: [\"1.3.1\"]\n  severity: high\n  remediation: {remediation}\n\
         \x20 clusters: {{matchLabels: {{kind: store}}}}\n  objects:\n{templates}"
    )
}

fn result<'r>(reconciled: &'r Reconciled, name: &str) -> &'r PolicyReport {
    reconciled.policies.iter().find(|p| p.name == name).unwrap_or_else(|| panic!("no policy {name}"))
}

/// The templates the scenarios' policies hold, in the world's app namespace.
fn default_deny(ns: &str) -> String {
    format!(
        "  - compliance: musthave
    object:
      apiVersion: networking.k8s.io/v1
      kind: NetworkPolicy
      metadata: {{name: default-deny, namespace: {ns}}}
      spec: {{podSelector: {{}}, policyTypes: [Ingress]}}
"
    )
}

fn no_debug(kind: &str, ns: &str) -> String {
    format!(
        "  - compliance: mustnothave
    object:
      apiVersion: v1
      kind: {kind}
      metadata: {{name: debug, namespace: {ns}}}
"
    )
}

fn unserved(ns: &str) -> String {
    format!(
        "  - compliance: musthave
    object:
      apiVersion: example.com/v1
      kind: Widget
      metadata: {{name: w, namespace: {ns}}}
"
    )
}

/// The world's app (a namespace and a ConfigMap) and the policies, committed.
fn commit(world: &World, policies: &str) {
    world.commit("fleet", &[("fleet/fleet.yaml", &fleet(world, policies))]);
    world.commit(
        "app",
        &[("web/namespace.yaml", &world.namespace_yaml()), ("web/a.yaml", &world.config_map("a", "hello"))],
    );
}

async fn reconcile(world: &World, mode: Mode) -> Reconciled {
    let mut cluster = Cluster::new(world.client());
    agent::reconcile(&world.config(), &mut cluster, mode).await.unwrap()
}

/// Makes an object by hand, as someone at the store would.
async fn by_hand(world: &World, api_version: &str, kind: &str, plural: &str, body: serde_json::Value) {
    let api = world.api(api_version, kind, plural, Some(&world.namespace));
    api.create(&PostParams::default(), &serde_json::from_value(body).unwrap()).await.unwrap();
}

pub async fn enforce_creates_and_deletes_to_comply_and_reports_what_it_did(world: &World) {
    let ns = world.namespace.as_str();
    let policies = policy("default-deny", "enforce", &default_deny(ns))
        + &policy("no-debug-service", "enforce", &no_debug("Service", ns));
    commit(world, &policies);
    // The placement makes the namespace; the policy, evaluated after, the NetworkPolicy in it.
    let first = world.reconcile().await;
    let deny = result(&first, "default-deny");
    assert_eq!(deny.compliant, Some(true), "{deny:?}");
    assert_eq!(deny.remediation, [format!("created networking.k8s.io/v1 NetworkPolicy {ns}/default-deny")]);
    assert_eq!(result(&first, "no-debug-service").compliant, Some(true));
    let netpols = world.api("networking.k8s.io/v1", "NetworkPolicy", "networkpolicies", Some(ns));
    assert_eq!(names(&netpols).await, ["default-deny"]);
    // Someone leaves a debug Service behind.
    by_hand(
        world,
        "v1",
        "Service",
        "services",
        json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "debug"},
               "spec": {"type": "NodePort", "ports": [{"port": 80}]}}),
    )
    .await;

    let reconciled = world.reconcile().await;
    let deny = result(&reconciled, "default-deny");
    assert_eq!(deny.compliant, Some(true), "{deny:?}");
    assert!(deny.remediation.is_empty(), "already compliant: nothing done, {deny:?}");
    let service = result(&reconciled, "no-debug-service");
    assert_eq!(service.compliant, Some(true), "compliant after the fix: {service:?}");
    assert_eq!(service.remediation, [format!("deleted v1 Service {ns}/debug")]);
    let services = world.api("v1", "Service", "services", Some(ns));
    assert!(names(&services).await.iter().all(|n| n != "debug"));

    // Deleted by hand: created again, by the policy's own field manager.
    netpols.delete("default-deny", &kube::api::DeleteParams::default()).await.unwrap();
    let reconciled = world.reconcile().await;
    let deny = result(&reconciled, "default-deny");
    assert_eq!(deny.compliant, Some(true), "{deny:?}");
    assert_eq!(deny.remediation, [format!("created networking.k8s.io/v1 NetworkPolicy {ns}/default-deny")]);
    let created = netpols.get("default-deny").await.unwrap();
    let managers: Vec<String> =
        created.metadata.managed_fields.unwrap_or_default().into_iter().filter_map(|m| m.manager).collect();
    assert_eq!(managers, ["flotilla-policy"]);
    assert_eq!(created.data["spec"]["policyTypes"], json!(["Ingress"]));
}

pub async fn inform_and_plan_never_write_and_report_the_violation(world: &World) {
    let ns = world.namespace.as_str();
    let policies = policy("no-debug-config", "inform", &no_debug("ConfigMap", ns))
        + &policy("default-deny", "enforce", &default_deny(ns));
    commit(world, &policies);
    world.reconcile().await;
    let netpols = world.api("networking.k8s.io/v1", "NetworkPolicy", "networkpolicies", Some(ns));
    netpols.delete("default-deny", &kube::api::DeleteParams::default()).await.unwrap();
    by_hand(
        world,
        "v1",
        "ConfigMap",
        "configmaps",
        json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "debug"}, "data": {"x": "1"}}),
    )
    .await;

    // Plan: the enforce policy is evaluated, not enforced.
    let planned = reconcile(world, Mode::Plan).await;
    let deny = result(&planned, "default-deny");
    assert_eq!(deny.compliant, Some(false), "{deny:?}");
    assert!(deny.remediation.is_empty());
    assert_eq!(deny.violations[0].object, format!("NetworkPolicy/{ns}/default-deny"));
    assert!(deny.violations[0].actual.is_none(), "missing: {deny:?}");
    assert!(names(&netpols).await.is_empty(), "plan wrote nothing");

    // Inform: reported, the object stays.
    let reconciled = world.reconcile().await;
    let debug = result(&reconciled, "no-debug-config");
    assert_eq!(debug.compliant, Some(false), "{debug:?}");
    assert!(debug.remediation.is_empty());
    assert_eq!(debug.violations.len(), 1);
    assert_eq!(debug.violations[0].object, format!("ConfigMap/{ns}/debug"));
    assert!(names(&world.config_maps()).await.contains(&"debug".to_string()));
}

pub async fn a_kind_the_cluster_does_not_serve_is_unknown_not_compliant(world: &World) {
    commit(world, &policy("widgets", "enforce", &unserved(&world.namespace)));
    let reconciled = world.reconcile().await;
    let widgets = result(&reconciled, "widgets");
    assert_eq!(widgets.compliant, None, "{widgets:?}");
    assert!(widgets.violations[0].message.contains("Widget"), "{widgets:?}");
    assert!(widgets.remediation.is_empty());
}
