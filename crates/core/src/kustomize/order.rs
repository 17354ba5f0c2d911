//! kustomize's output order: by default ("legacy") some kinds first, webhooks last, the rest
//! by group, version and kind, ties by namespace, then name; `sortOptions` may give other first
//! and last kinds, or keep the order resources were built in (`fifo`).

use serde::Deserialize;

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
fn rank<S: AsRef<str>>(kind: &str, first: &[S], last: &[S]) -> i64 {
    let len = i64::try_from(first.len()).expect("a short list");
    if let Some(i) = first.iter().position(|k| k.as_ref() == kind) {
        return i64::try_from(i).expect("a short list") - len;
    }
    last.iter().position(|k| k.as_ref() == kind).map_or(0, |i| i64::try_from(i).expect("a short list") + 1)
}

/// The key kinds of equal rank are ordered by: `group_version_kind`, `~G` for the core group.
fn gvk_key(g: &Gvk) -> String {
    let or = |s: &str, d: &str| {
        if s.is_empty() { d.to_string() } else { s.to_string() }
    };
    format!("{}_{}_{}", or(&g.group, "~G"), or(&g.version, "~V"), or(&g.kind, "~K"))
}

/// kustomize's default order.
pub fn sort_legacy(res: &mut [Resource]) {
    sort_by(res, &ORDER_FIRST, &ORDER_LAST);
}

/// The legacy order with kinds of its own first and last (`sortOptions.legacySortOptions`).
pub fn sort_by<S: AsRef<str>>(res: &mut [Resource], first: &[S], last: &[S]) {
    res.sort_by_cached_key(|r| {
        let gvk = r.gvk();
        // Within one kind: namespace, where none is `~X` and so sorts after every real one.
        let ns = if r.namespace().is_empty() { "~X" } else { r.namespace() };
        let name = if r.name().is_empty() { "~N" } else { r.name() };
        (rank(&gvk.kind, first, last), gvk_key(&gvk), ns.to_string(), name.to_string())
    });
}

/// A kustomization's `sortOptions`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SortOptions {
    #[serde(default)]
    pub order: Option<String>,
    #[serde(default)]
    pub legacy_sort_options: Option<LegacySortOptions>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct LegacySortOptions {
    #[serde(default)]
    pub order_first: Vec<String>,
    #[serde(default)]
    pub order_last: Vec<String>,
}

impl SortOptions {
    /// Sorts as these options say; an error names what is wrong with them.
    pub fn sort(&self, res: &mut [Resource]) -> Result<(), String> {
        match (self.order.as_deref(), &self.legacy_sort_options) {
            (Some("fifo"), None) => Ok(()),
            (Some("fifo"), Some(_)) => Err("legacySortOptions may only be given with order legacy".into()),
            (Some("legacy") | None, None) => {
                sort_legacy(res);
                Ok(())
            }
            (Some("legacy") | None, Some(o)) => {
                sort_by(res, &o.order_first, &o.order_last);
                Ok(())
            }
            (Some(other), _) => Err(format!("order {other:?} is not one of legacy, fifo")),
        }
    }
}
