//! A render's text as objects, in the order Helm installs them (`pkg/release/v1/util`:
//! `SplitManifests`, `SortManifests`, `kind_sorter.go`): each template's output split into
//! documents at `---`, empty ones dropped, those with a `helm.sh/hook` annotation set aside as
//! hooks (events, weight, delete policies), the rest sorted stably by kind in Helm's install
//! order, unknown kinds last and by name of kind. `NOTES.txt` and partials are not manifests.
//! CRDs from `crds/` come first, as Helm installs them before the rest.
//!
//! Each document is read as kubectl reads YAML ([`crate::yaml::load_objects`]); the objects are
//! what a digest is computed over.

use std::cmp::Ordering;
use std::sync::OnceLock;

use serde_json::Value as Json;

use super::Rendered;
use crate::yaml;

/// Helm's `InstallOrder`.
pub const INSTALL_ORDER: &[&str] = &[
    "PriorityClass",
    "Namespace",
    "NetworkPolicy",
    "ResourceQuota",
    "LimitRange",
    "PodSecurityPolicy",
    "PodDisruptionBudget",
    "ServiceAccount",
    "Secret",
    "SecretList",
    "ConfigMap",
    "StorageClass",
    "PersistentVolume",
    "PersistentVolumeClaim",
    "CustomResourceDefinition",
    "ClusterRole",
    "ClusterRoleList",
    "ClusterRoleBinding",
    "ClusterRoleBindingList",
    "Role",
    "RoleList",
    "RoleBinding",
    "RoleBindingList",
    "Service",
    "DaemonSet",
    "Pod",
    "ReplicationController",
    "ReplicaSet",
    "Deployment",
    "HorizontalPodAutoscaler",
    "StatefulSet",
    "Job",
    "CronJob",
    "IngressClass",
    "Ingress",
    "APIService",
    "MutatingWebhookConfiguration",
    "ValidatingWebhookConfiguration",
];

/// The hook events Helm knows (`test-success` is `test`).
const EVENTS: &[&str] = &[
    "pre-install",
    "post-install",
    "pre-delete",
    "post-delete",
    "pre-upgrade",
    "post-upgrade",
    "pre-rollback",
    "post-rollback",
    "test",
];

/// One object of a render, with the template it came from.
#[derive(Clone, Debug, PartialEq)]
pub struct Manifest {
    /// The template path (`CHART/templates/x.yaml`) or CRD file.
    pub path: String,
    pub object: Json,
}

/// An object annotated `helm.sh/hook`.
#[derive(Clone, Debug, PartialEq)]
pub struct Hook {
    pub manifest: Manifest,
    /// `pre-install`, `post-install`, …, `test`, in the order written.
    pub events: Vec<String>,
    /// `helm.sh/hook-weight` (0 when missing or not a number).
    pub weight: i64,
    /// `helm.sh/hook-delete-policy`, lower-cased.
    pub delete_policies: Vec<String>,
}

/// A render as objects.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Manifests {
    /// `crds/` objects, in path order: installed first.
    pub crds: Vec<Manifest>,
    /// Hooks, sorted by kind as Helm sorts them.
    pub hooks: Vec<Hook>,
    /// The release's objects in install order.
    pub objects: Vec<Manifest>,
}

impl Manifests {
    /// The hooks of one event in the order Helm runs them: by weight, then by name.
    pub fn hooks_for(&self, event: &str) -> Vec<&Hook> {
        let mut hooks: Vec<&Hook> = self.hooks.iter().filter(|h| h.events.iter().any(|e| e == event)).collect();
        hooks.sort_by(|a, b| {
            a.weight.cmp(&b.weight).then_with(|| name(&a.manifest.object).cmp(name(&b.manifest.object)))
        });
        hooks
    }
}

impl Manifests {
    /// The objects a GitOps apply of the release gives, in order: the CRDs, the `pre-install`
    /// and `pre-upgrade` hooks (by weight, then name), the release's objects, then the
    /// `post-install` and `post-upgrade` hooks. A hook of both phases comes once, in the first.
    /// Delete, rollback and test hooks are never applied: there is no such event in a sync.
    pub fn in_apply_order(&self) -> Vec<Json> {
        let phase = |events: &[&str]| {
            let mut hooks: Vec<&Hook> =
                self.hooks.iter().filter(|h| h.events.iter().any(|e| events.contains(&e.as_str()))).collect();
            hooks.sort_by(|a, b| {
                a.weight.cmp(&b.weight).then_with(|| name(&a.manifest.object).cmp(name(&b.manifest.object)))
            });
            hooks
        };
        let pre = phase(&["pre-install", "pre-upgrade"]);
        let post: Vec<&Hook> = phase(&["post-install", "post-upgrade"])
            .into_iter()
            .filter(|h| !pre.iter().any(|p| std::ptr::eq(*p, *h)))
            .collect();
        let mut out: Vec<Json> = self.crds.iter().map(|m| m.object.clone()).collect();
        out.extend(pre.iter().map(|h| h.manifest.object.clone()));
        out.extend(self.objects.iter().map(|m| m.object.clone()));
        out.extend(post.iter().map(|h| h.manifest.object.clone()));
        out
    }
}

impl Manifests {
    /// What `helm template` prints, in its order: the CRDs with `include_crds` (Helm's
    /// `--include-crds`), the release's objects in install order, then the hooks sorted by
    /// kind, less the test hooks with `skip_tests` (`--skip-tests`) and every hook with
    /// `skip_hooks` (`--no-hooks`). kustomize's `helmCharts` takes this output as resources.
    pub fn printed(&self, include_crds: bool, skip_tests: bool, skip_hooks: bool) -> Vec<&Manifest> {
        let mut out: Vec<&Manifest> = Vec::new();
        if include_crds {
            out.extend(&self.crds);
        }
        out.extend(&self.objects);
        if !skip_hooks {
            let tests = |h: &Hook| h.events.iter().any(|e| e == "test");
            out.extend(self.hooks.iter().filter(|h| !(skip_tests && tests(h))).map(|h| &h.manifest));
        }
        out
    }
}

/// A document that is not YAML.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("YAML parse error on {path}: {message}")]
pub struct Error {
    pub path: String,
    pub message: String,
}

/// Splits, classifies and orders a render's output.
pub fn manifests(rendered: &Rendered) -> Result<Manifests, Error> {
    let mut out = Manifests::default();
    // Helm's `CRDObjects`: the manifests (`.yaml`, `.yml`, `.json`) of a chart's `crds/`, the
    // chart's own before its subcharts', depth first.
    let mut crds: Vec<(&String, &String)> =
        rendered.crds.iter().filter(|(path, _)| [".yaml", ".yml", ".json"].iter().any(|e| path.ends_with(e))).collect();
    crds.sort_by_cached_key(|(path, _)| {
        path.split('/').map(|part| (part != "crds", part.to_string())).collect::<Vec<_>>()
    });
    for (path, text) in crds {
        for object in parse(path, text)? {
            out.crds.push(Manifest { path: path.clone(), object });
        }
    }
    for (path, text) in &rendered.templates {
        let base = path.rsplit('/').next().unwrap_or(path);
        if base.starts_with('_') || base == "NOTES.txt" || text.trim().is_empty() {
            continue;
        }
        for doc in split(text) {
            for object in parse(path, doc)? {
                let manifest = Manifest { path: path.clone(), object };
                match hook(&manifest) {
                    Some(Some(hook)) => out.hooks.push(hook),
                    // An unknown hook event: Helm skips the object.
                    Some(None) => {}
                    None => out.objects.push(manifest),
                }
            }
        }
    }
    out.objects.sort_by(|a, b| by_kind(kind(&a.object), kind(&b.object)));
    out.hooks.sort_by(|a, b| by_kind(kind(&a.manifest.object), kind(&b.manifest.object)));
    Ok(out)
}

/// Helm's `SplitManifests`: documents between `---` separators, trimmed, empty ones dropped.
fn split(text: &str) -> Vec<&str> {
    static SEP: OnceLock<regex::Regex> = OnceLock::new();
    let sep = SEP.get_or_init(|| regex::Regex::new(r"(?:^|[\t\n\x0c\r ]*\n)---[\t\n\x0c\r ]*").expect("a valid regex"));
    sep.split(text.trim()).filter(|d| !d.is_empty()).map(str::trim).collect()
}

fn parse(path: &str, doc: &str) -> Result<Vec<Json>, Error> {
    yaml::load_objects(doc.as_bytes()).map_err(|e| Error { path: path.to_string(), message: e.to_string() })
}

/// `None`: not a hook; `Some(None)`: a hook of an unknown event.
#[allow(clippy::option_option, reason = "three outcomes, each a line of Helm's sort")]
fn hook(manifest: &Manifest) -> Option<Option<Hook>> {
    let annotations = manifest.object.pointer("/metadata/annotations")?.as_object()?;
    let events = annotations.get("helm.sh/hook")?.as_str().unwrap_or_default();
    let mut parsed = Vec::new();
    for event in events.split(',') {
        let event = event.trim().to_lowercase();
        let event = if event == "test-success" { "test".to_string() } else { event };
        if !EVENTS.contains(&event.as_str()) {
            return Some(None);
        }
        parsed.push(event);
    }
    let weight =
        annotations.get("helm.sh/hook-weight").and_then(Json::as_str).and_then(|w| w.parse().ok()).unwrap_or(0);
    let delete_policies = annotations
        .get("helm.sh/hook-delete-policy")
        .and_then(Json::as_str)
        .map(|p| p.split(',').map(|p| p.trim().to_lowercase()).collect())
        .unwrap_or_default();
    Some(Some(Hook { manifest: manifest.clone(), events: parsed, weight, delete_policies }))
}

fn kind(object: &Json) -> &str {
    object.get("kind").and_then(Json::as_str).unwrap_or_default()
}

fn name(object: &Json) -> &str {
    object.pointer("/metadata/name").and_then(Json::as_str).unwrap_or_default()
}

/// Helm's `lessByKind`: known kinds in install order, unknown ones after them by kind name.
fn by_kind(a: &str, b: &str) -> Ordering {
    let position = |k: &str| INSTALL_ORDER.iter().position(|o| *o == k);
    match (position(a), position(b)) {
        (Some(x), Some(y)) => x.cmp(&y),
        (Some(_), None) => Ordering::Less,
        (None, Some(_)) => Ordering::Greater,
        (None, None) => a.cmp(b),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    #[test]
    fn documents_are_split_hooks_set_aside_and_objects_in_install_order() {
        let templates = BTreeMap::from([
            (
                "c/templates/a.yaml".to_string(),
                "---\n# Source: x\napiVersion: apps/v1\nkind: Deployment\nmetadata: {name: d}\n---\n\n---\napiVersion: v1\nkind: Service\nmetadata: {name: s}\n".to_string(),
            ),
            ("c/templates/b.yaml".to_string(), "apiVersion: v1\nkind: ServiceAccount\nmetadata: {name: sa}\n".to_string()),
            (
                "c/templates/job.yaml".to_string(),
                "apiVersion: batch/v1\nkind: Job\nmetadata:\n  name: j\n  annotations: {helm.sh/hook: 'pre-install,test-success', helm.sh/hook-weight: '-5'}\n".to_string(),
            ),
            ("c/templates/w.yaml".to_string(), "apiVersion: x/v1\nkind: Widget\nmetadata: {name: w}\n".to_string()),
            ("c/templates/NOTES.txt".to_string(), "Thanks".to_string()),
            ("c/templates/empty.yaml".to_string(), "\n  \n".to_string()),
        ]);
        let got = manifests(&Rendered { templates, crds: BTreeMap::new(), random: false }).unwrap();
        let kinds: Vec<&str> = got.objects.iter().map(|m| kind(&m.object)).collect();
        assert_eq!(kinds, ["ServiceAccount", "Service", "Deployment", "Widget"]);
        assert_eq!(got.hooks.len(), 1);
        assert_eq!(got.hooks[0].events, ["pre-install", "test"]);
        assert_eq!(got.hooks[0].weight, -5);
        assert_eq!(got.hooks_for("pre-install").len(), 1);
        let objects = got.in_apply_order();
        let names: Vec<&str> = objects.iter().map(name).collect();
        assert_eq!(names, ["j", "sa", "s", "d", "w"]);
    }

    #[test]
    fn hooks_are_applied_in_their_phase_and_test_hooks_never() {
        let hook = |name: &str, events: &str, weight: &str| {
            format!(
                "apiVersion: batch/v1\nkind: Job\nmetadata:\n  name: {name}\n  annotations: {{helm.sh/hook: '{events}', helm.sh/hook-weight: '{weight}'}}\n"
            )
        };
        let templates = BTreeMap::from([
            ("c/templates/a.yaml".to_string(), "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: cm}\n".to_string()),
            ("c/templates/h1.yaml".to_string(), hook("post", "post-install,post-upgrade", "0")),
            ("c/templates/h2.yaml".to_string(), hook("pre-late", "pre-install", "5")),
            ("c/templates/h3.yaml".to_string(), hook("pre-early", "pre-upgrade,pre-install,post-install", "-1")),
            ("c/templates/h4.yaml".to_string(), hook("test", "test", "0")),
            ("c/templates/h5.yaml".to_string(), hook("delete", "pre-delete", "0")),
        ]);
        let crds = BTreeMap::from([(
            "c/crds/w.yaml".to_string(),
            "apiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\nmetadata: {name: widgets.x}\n"
                .to_string(),
        )]);
        let got = manifests(&Rendered { templates, crds, random: false }).unwrap();
        let objects = got.in_apply_order();
        let names: Vec<&str> = objects.iter().map(name).collect();
        assert_eq!(names, ["widgets.x", "pre-early", "pre-late", "cm", "post"]);
    }
}
