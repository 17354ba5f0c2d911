//! kustomize's default ("legacy") output order: some kinds first, webhooks last, the rest by
//! group, version and kind; ties by namespace, then name.

use super::resource::{Gvk, Resource};

const ORDER_FIRST: [&str; 22] = [
    "Namespace",
    "ResourceQuota",
    "StorageClass",
    "CustomResourceDefinition",
    "ServiceAccount",
    "PodSecurityPolicy",
    "Role",
    "ClusterRole",
    "RoleBinding",
    "ClusterRoleBinding",
    "ConfigMap",
    "Secret",
    "Endpoints",
    "Service",
    "LimitRange",
    "PriorityClass",
    "PersistentVolume",
    "PersistentVolumeClaim",
    "Deployment",
    "StatefulSet",
    "CronJob",
    "PodDisruptionBudget",
];

const ORDER_LAST: [&str; 2] = ["MutatingWebhookConfiguration", "ValidatingWebhookConfiguration"];

/// The rank of a kind: negative for the first kinds, 0 for the rest, positive for the last.
fn rank(kind: &str) -> i64 {
    let len = i64::try_from(ORDER_FIRST.len()).expect("a short list");
    if let Some(i) = ORDER_FIRST.iter().position(|k| *k == kind) {
        return i64::try_from(i).expect("a short list") - len;
    }
    ORDER_LAST.iter().position(|k| *k == kind).map_or(0, |i| i64::try_from(i).expect("a short list") + 1)
}

/// The key kinds of equal rank are ordered by: `group_version_kind`, `~G` for the core group.
fn gvk_key(g: &Gvk) -> String {
    let or = |s: &str, d: &str| {
        if s.is_empty() { d.to_string() } else { s.to_string() }
    };
    format!("{}_{}_{}", or(&g.group, "~G"), or(&g.version, "~V"), or(&g.kind, "~K"))
}

pub fn sort_legacy(res: &mut [Resource]) {
    res.sort_by_cached_key(|r| {
        let gvk = r.gvk();
        // Within one kind: namespace, where none is `~X` and so sorts after every real one.
        let ns = if r.namespace().is_empty() { "~X" } else { r.namespace() };
        let name = if r.name().is_empty() { "~N" } else { r.name() };
        (rank(&gvk.kind), gvk_key(&gvk), ns.to_string(), name.to_string())
    });
}
