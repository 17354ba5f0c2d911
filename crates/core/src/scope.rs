//! What a placement may write on a cluster (SPEC §2 `scope`, §4): application teams own source
//! repositories, only the platform team owns the fleet, so the fleet says where each source may
//! write, and every rendered object is checked before anything of the placement is applied.
//! Prune checks the same rule before it deletes.
//!
//! - **Namespaced objects** only in the scope's `namespaces` (globs with `*` and `?`); without
//!   them, in the placement's own `namespace` alone; a placement with neither may write none.
//!   An object of a namespaced kind that names no namespace lands in `default`.
//! - **Cluster-scoped objects** only of the kinds in `clusterScoped` (`Kind`, or `group/Kind`);
//!   a Namespace object is also allowed when its name is one of the scope's namespaces (so by
//!   default a placement may create its own namespace).
//! - **`cluster: true`**: anything (the platform team's baseline).
//! - Whether a kind is cluster-scoped is the cluster's answer (the caller asks its discovery),
//!   never the object's say: a ClusterRoleBinding that names a namespace is still cluster-wide.
//!   A kind whose scope nobody knows is refused.
//! - **The agent's own records** are out of every scope, `cluster: true` included: its
//!   namespace's Namespace object (pruning it would delete every inventory), its inventory
//!   ConfigMaps and anything labelled as an inventory ([`protected`]).
//!
//! Not the apply or the prune themselves (the agent's), and not discovery: the caller says which
//! kinds are namespaced.

use std::collections::BTreeMap;
use std::fmt;

use serde_json::Value;

use crate::fleet::PlacementSpec;
use crate::kustomize::resource::Gvk;
use crate::plan::ObjectRef;

/// The label of an inventory ConfigMap, naming its placement.
pub const INVENTORY_LABEL: &str = "flotilla.dev/inventory-of";
/// The name every inventory ConfigMap starts with (then the placement's name).
pub const INVENTORY_PREFIX: &str = "flotilla-inventory-";

/// A rendered object the placement may not write, and the rule it breaks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    pub object: ObjectRef,
    pub rule: String,
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.object, self.rule)
    }
}

/// A placement's scope with its defaults filled in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Effective {
    /// Globs; empty: no namespaced object at all.
    pub namespaces: Vec<String>,
    /// `Kind` or `group/Kind`.
    pub cluster_scoped: Vec<String>,
    pub cluster: bool,
    /// Whether `namespaces` came from the placement's `namespace` (for the messages).
    defaulted: bool,
}

impl Effective {
    /// The scope `spec` declares, or its default: the placement's own namespace.
    pub fn of(spec: &PlacementSpec) -> Effective {
        let scope = spec.scope.clone().unwrap_or_default();
        let defaulted = scope.namespaces.is_none();
        Effective {
            namespaces: scope.namespaces.unwrap_or_else(|| spec.namespace.iter().map(ToString::to_string).collect()),
            cluster_scoped: scope.cluster_scoped.unwrap_or_default(),
            cluster: scope.cluster,
            defaulted,
        }
    }

    /// Whether the placement may write `object` (namespaced or not, as the cluster says), or the
    /// rule it breaks. Does not look at the agent's own records: see [`protected`].
    pub fn allows(&self, object: &ObjectRef, namespaced: bool) -> Result<(), String> {
        if self.cluster {
            return Ok(());
        }
        if namespaced {
            let namespace = if object.namespace.is_empty() { "default" } else { &object.namespace };
            if self.namespaces.iter().any(|g| glob(g, namespace)) {
                return Ok(());
            }
            return Err(format!("namespace {namespace} is outside the placement's scope ({})", self.namespaces_text()));
        }
        let group = object.group();
        let listed = self.cluster_scoped.iter().any(|k| match k.split_once('/') {
            Some((g, kind)) => g == group && kind == object.kind,
            None => *k == object.kind,
        });
        if listed {
            return Ok(());
        }
        if group.is_empty() && object.kind == "Namespace" {
            if self.namespaces.iter().any(|g| glob(g, &object.name)) {
                return Ok(());
            }
            return Err(format!(
                "namespace {} is outside the placement's scope ({})",
                object.name,
                self.namespaces_text()
            ));
        }
        let allowed = if self.cluster_scoped.is_empty() {
            "clusterScoped: none; a platform placement sets scope.cluster: true".to_string()
        } else {
            format!("clusterScoped: {}", self.cluster_scoped.join(", "))
        };
        let kind = if group.is_empty() { object.kind.clone() } else { format!("{group}/{}", object.kind) };
        Err(format!("cluster-scoped kind {kind} is outside the placement's scope ({allowed})"))
    }

    fn namespaces_text(&self) -> String {
        match (self.namespaces.is_empty(), self.defaulted) {
            (true, true) => "the placement names no namespace and no scope.namespaces".to_string(),
            (true, false) => "scope.namespaces is empty".to_string(),
            (false, true) => format!("its namespace {}", self.namespaces.join(", ")),
            (false, false) => format!("namespaces: {}", self.namespaces.join(", ")),
        }
    }
}

/// Whether `object` (with `labels`, when known) is one of the agent's own records, which no
/// placement may write and prune never deletes: the rule, or `None`.
pub fn protected(object: &ObjectRef, labels: Option<&Value>, agent_namespace: &str) -> Option<String> {
    if object.group().is_empty() && object.kind == "Namespace" && object.name == agent_namespace {
        return Some(format!("namespace {agent_namespace} holds the agent's own records; no placement may write it"));
    }
    if object.group().is_empty()
        && object.kind == "ConfigMap"
        && object.namespace == agent_namespace
        && object.name.starts_with(INVENTORY_PREFIX)
    {
        return Some(format!("{INVENTORY_PREFIX}* ConfigMaps in {agent_namespace} are the agent's inventories"));
    }
    if labels.and_then(|l| l.get(INVENTORY_LABEL)).is_some() {
        return Some(format!("the label {INVENTORY_LABEL} marks the agent's inventories"));
    }
    None
}

/// Which kinds are namespaced, as far as the rendered objects themselves and Kubernetes' own
/// kinds tell: the CustomResourceDefinitions among `objects` (their `spec.scope`), then the
/// built-in kinds. The agent asks its cluster's discovery first and this second.
#[derive(Debug, Clone, Default)]
pub struct Kinds {
    /// (group, kind) → namespaced, from rendered CRDs.
    defined: BTreeMap<(String, String), bool>,
}

/// The API groups of Kubernetes itself: a kind of these groups that is not in the table of
/// cluster-scoped kinds is namespaced.
const BUILT_IN_GROUPS: &[&str] = &[
    "",
    "apps",
    "batch",
    "autoscaling",
    "policy",
    "networking.k8s.io",
    "rbac.authorization.k8s.io",
    "coordination.k8s.io",
    "discovery.k8s.io",
    "events.k8s.io",
    "storage.k8s.io",
    "scheduling.k8s.io",
    "node.k8s.io",
    "certificates.k8s.io",
    "admissionregistration.k8s.io",
    "apiextensions.k8s.io",
    "apiregistration.k8s.io",
    "flowcontrol.apiserver.k8s.io",
];

impl Kinds {
    /// The kinds the CustomResourceDefinitions among `objects` define.
    pub fn rendered(objects: &[Value]) -> Kinds {
        let mut defined = BTreeMap::new();
        for o in objects {
            let gvk = Gvk::of(o);
            if gvk.group != "apiextensions.k8s.io" || gvk.kind != "CustomResourceDefinition" {
                continue;
            }
            let text = |p: &str| o.pointer(p).and_then(Value::as_str).map(String::from);
            if let (Some(group), Some(kind)) = (text("/spec/group"), text("/spec/names/kind")) {
                let namespaced = text("/spec/scope").is_none_or(|s| s != "Cluster");
                defined.insert((group, kind), namespaced);
            }
        }
        Kinds { defined }
    }

    /// Whether `api_version`/`kind` is namespaced; `None` when neither a rendered CRD nor
    /// Kubernetes' own kinds tell.
    pub fn namespaced(&self, api_version: &str, kind: &str) -> Option<bool> {
        let (group, version) = api_version.rsplit_once('/').unwrap_or(("", api_version));
        if let Some(namespaced) = self.defined.get(&(group.to_string(), kind.to_string())) {
            return Some(*namespaced);
        }
        let gvk = Gvk { group: group.to_string(), version: version.to_string(), kind: kind.to_string() };
        if gvk.is_cluster_scoped() {
            return Some(false);
        }
        BUILT_IN_GROUPS.contains(&group).then_some(true)
    }
}

/// Checks every rendered object of a placement against its scope and the agent's own records:
/// the objects it may not write, each with the rule (empty: all may be written). `namespaced`
/// says whether a kind is namespaced (`None`: nobody knows, and the object is refused).
pub fn check(
    spec: &PlacementSpec,
    objects: &[Value],
    agent_namespace: &str,
    namespaced: &dyn Fn(&str, &str) -> Option<bool>,
) -> Vec<Violation> {
    let scope = Effective::of(spec);
    let mut violations = Vec::new();
    for object in objects {
        let Some(r) = ObjectRef::of(object) else { continue };
        let rule = match protected(&r, object.pointer("/metadata/labels"), agent_namespace) {
            Some(rule) => Err(rule),
            None => match namespaced(&r.api_version, &r.kind) {
                Some(namespaced) => scope.allows(&r, namespaced),
                None => Err(format!(
                    "the cluster serves no kind {} {} and no rendered CustomResourceDefinition defines it, so its scope cannot be checked",
                    r.api_version, r.kind
                )),
            },
        };
        if let Err(rule) = rule {
            violations.push(Violation { object: r, rule });
        }
    }
    violations
}

/// Whether `text` matches `pattern`, where `*` is any run of characters and `?` any one.
pub fn glob(pattern: &str, text: &str) -> bool {
    let (p, t): (Vec<char>, Vec<char>) = (pattern.chars().collect(), text.chars().collect());
    // The classic two-pointer match with one backtrack point: linear for these patterns.
    let (mut pi, mut ti) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == t[ti]) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some((pi, ti));
            pi += 1;
        } else if let Some((sp, st)) = star {
            pi = sp + 1;
            ti = st + 1;
            star = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|c| *c == '*')
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::fleet::Scope;

    fn spec(namespace: Option<&str>, scope: Option<Value>) -> PlacementSpec {
        let mut spec = json!({"source": {"repository": "app"}, "clusters": {}});
        if let Some(ns) = namespace {
            spec["namespace"] = json!(ns);
        }
        if let Some(scope) = scope {
            spec["scope"] = scope;
        }
        serde_json::from_value(spec).unwrap()
    }

    fn object(api_version: &str, kind: &str, namespace: Option<&str>, name: &str) -> Value {
        let mut o = json!({"apiVersion": api_version, "kind": kind, "metadata": {"name": name}});
        if let Some(ns) = namespace {
            o["metadata"]["namespace"] = json!(ns);
        }
        o
    }

    fn refused(spec: &PlacementSpec, objects: &[Value]) -> Vec<String> {
        let kinds = Kinds::rendered(objects);
        check(spec, objects, "flotilla-system", &|av, k| kinds.namespaced(av, k))
            .into_iter()
            .map(|v| v.to_string())
            .collect()
    }

    #[test]
    fn by_default_a_placement_writes_only_its_own_namespace() {
        let app = spec(Some("app"), None);
        let objects = [
            object("v1", "Namespace", None, "app"),
            object("v1", "ConfigMap", Some("app"), "ok"),
            object("v1", "ConfigMap", Some("kube-system"), "evil"),
            object("rbac.authorization.k8s.io/v1", "ClusterRoleBinding", None, "admin"),
            // Naming a namespace does not make a cluster-scoped kind namespaced.
            object("rbac.authorization.k8s.io/v1", "ClusterRoleBinding", Some("app"), "sneaky"),
            object("v1", "Namespace", None, "kube-system"),
        ];
        assert_eq!(
            refused(&app, &objects),
            [
                "v1 ConfigMap kube-system/evil: namespace kube-system is outside the placement's scope (its namespace app)",
                "rbac.authorization.k8s.io/v1 ClusterRoleBinding admin: cluster-scoped kind rbac.authorization.k8s.io/ClusterRoleBinding is outside the placement's scope (clusterScoped: none; a platform placement sets scope.cluster: true)",
                "rbac.authorization.k8s.io/v1 ClusterRoleBinding app/sneaky: cluster-scoped kind rbac.authorization.k8s.io/ClusterRoleBinding is outside the placement's scope (clusterScoped: none; a platform placement sets scope.cluster: true)",
                "v1 Namespace kube-system: namespace kube-system is outside the placement's scope (its namespace app)",
            ]
        );
        let nowhere = spec(None, None);
        assert_eq!(
            refused(&nowhere, &[object("v1", "ConfigMap", None, "x")]),
            [
                "v1 ConfigMap x: namespace default is outside the placement's scope (the placement names no namespace and no scope.namespaces)"
            ]
        );
    }

    #[test]
    fn globs_kinds_and_cluster_true() {
        let wide = spec(
            Some("bt"),
            Some(
                json!({"namespaces": ["bt", "bt-*"], "clusterScoped": ["Namespace", "rbac.authorization.k8s.io/ClusterRole"]}),
            ),
        );
        let objects = [
            object("v1", "ConfigMap", Some("bt-eu"), "a"),
            object("v1", "Namespace", None, "anything"),
            object("rbac.authorization.k8s.io/v1", "ClusterRole", None, "reader"),
            object("v1", "ConfigMap", Some("btx"), "b"),
            object("storage.k8s.io/v1", "StorageClass", None, "fast"),
        ];
        assert_eq!(refused(&wide, &objects).len(), 2, "{:?}", refused(&wide, &objects));
        let platform = spec(None, Some(json!({"cluster": true})));
        assert_eq!(refused(&platform, &objects), Vec::<String>::new());
        assert!(glob("bt-*", "bt-eu") && glob("b?", "bt") && glob("*", "") && !glob("bt-*", "bt"));
        assert!(glob("a*b*c", "aXbYbZc") && !glob("a*b*c", "aXbYbZ"));
    }

    #[test]
    fn the_agents_own_records_are_out_of_every_scope() {
        let platform = spec(None, Some(json!({"cluster": true})));
        let mut labelled = object("v1", "ConfigMap", Some("kube-system"), "looks-innocent");
        labelled["metadata"]["labels"] = json!({INVENTORY_LABEL: "victim"});
        let objects = [
            object("v1", "ConfigMap", Some("flotilla-system"), "flotilla-inventory-victim"),
            object("v1", "Namespace", None, "flotilla-system"),
            labelled,
            object("v1", "ConfigMap", Some("flotilla-system"), "agent-settings"),
        ];
        let refused = refused(&platform, &objects);
        assert_eq!(refused.len(), 3, "{refused:?}");
        assert!(refused[0].contains("are the agent's inventories"), "{refused:?}");
    }

    #[test]
    fn custom_kinds_take_their_scope_from_a_rendered_crd_or_are_refused() {
        let crd = json!({"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
            "metadata": {"name": "issuers.example.com"},
            "spec": {"group": "example.com", "scope": "Cluster", "names": {"kind": "ClusterIssuer"}}});
        let app = spec(Some("app"), Some(json!({"clusterScoped": ["apiextensions.k8s.io/CustomResourceDefinition"]})));
        let issuer = object("example.com/v1", "ClusterIssuer", Some("app"), "letsencrypt");
        let refused_with_crd = refused(&app, &[crd, issuer.clone()]);
        assert_eq!(refused_with_crd.len(), 1);
        assert!(refused_with_crd[0].contains("cluster-scoped kind example.com/ClusterIssuer"), "{refused_with_crd:?}");
        let unknown = refused(&app, &[issuer]);
        assert!(unknown[0].contains("its scope cannot be checked"), "{unknown:?}");
    }

    #[test]
    fn bad_scopes_name_their_field() {
        let field = |scope: Value, namespace: Option<&str>| {
            let scope: Scope = serde_json::from_value(scope).unwrap();
            scope.check(namespace).unwrap_err().0
        };
        assert_eq!(field(json!({"cluster": true, "namespaces": ["a"]}), None), "cluster");
        assert_eq!(field(json!({"namespaces": ["ok", "Not_OK"]}), None), "namespaces[1]");
        assert_eq!(field(json!({"clusterScoped": ["clusterrole"]}), None), "clusterScoped[0]");
        assert_eq!(field(json!({"serviceAccount": "deployer"}), None), "serviceAccount");
        let fine: Scope = serde_json::from_value(json!({"namespaces": ["bt-*"]})).unwrap();
        assert_eq!(fine.check(Some("bt")), Ok(()));
        let badly_named = serde_json::from_value::<Scope>(json!({"serviceAccount": "Deployer_1"})).unwrap_err();
        assert!(badly_named.to_string().contains("is not a DNS-1123 subdomain"), "{badly_named}");
        let impersonating: Scope = serde_json::from_value(json!({"serviceAccount": "deployer"})).unwrap();
        let (field, message) = impersonating.check(Some("bt")).unwrap_err();
        assert_eq!(field, "serviceAccount");
        assert!(message.contains("not supported yet"), "{message}");
    }
}
