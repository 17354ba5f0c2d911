//! The resource types the server knows: the built-in kinds the agent and the examples use, and
//! every CustomResourceDefinition created at run time.

use serde_json::{Value, json};

/// One served resource type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResourceType {
    pub group: String,
    pub version: String,
    pub kind: String,
    /// The plural resource name used in paths (`deployments`).
    pub plural: String,
    pub namespaced: bool,
    pub short_names: Vec<String>,
    /// Whether a `status` subresource is served.
    pub status: bool,
    /// Whether objects carry `metadata.generation`: kinds with a spec (workloads, networking,
    /// CRDs and every custom resource); not the core group's or RBAC's.
    pub generation: bool,
}

impl ResourceType {
    pub fn api_version(&self) -> String {
        if self.group.is_empty() { self.version.clone() } else { format!("{}/{}", self.group, self.version) }
    }

    /// Whether `deletecollection` is served: for every kind but Namespace.
    pub fn collection_delete(&self) -> bool {
        !(self.group.is_empty() && self.kind == "Namespace")
    }

    fn resource_json(&self) -> Value {
        let mut resource = json!({
            "name": self.plural,
            "singularName": self.kind.to_lowercase(),
            "namespaced": self.namespaced,
            "kind": self.kind,
            "verbs": ["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"],
        });
        if !self.collection_delete() {
            resource["verbs"] = json!(["create", "delete", "get", "list", "patch", "update", "watch"]);
        }
        if !self.short_names.is_empty() {
            resource["shortNames"] = json!(self.short_names);
        }
        // `kubectl get all` lists the kinds in category `all`.
        let in_all = matches!(
            (self.group.as_str(), self.kind.as_str()),
            ("", "Pod" | "Service")
                | ("apps", "Deployment" | "StatefulSet" | "DaemonSet")
                | ("batch", "Job" | "CronJob")
        );
        if in_all {
            resource["categories"] = json!(["all"]);
        }
        resource
    }
}

/// (group, version, kind, plural, namespaced, short names, status subresource)
type BuiltIn = (&'static str, &'static str, &'static str, &'static str, bool, &'static [&'static str], bool);

const BUILT_IN: &[BuiltIn] = &[
    ("", "v1", "Namespace", "namespaces", false, &["ns"], true),
    ("", "v1", "ConfigMap", "configmaps", true, &["cm"], false),
    ("", "v1", "Secret", "secrets", true, &[], false),
    ("", "v1", "Service", "services", true, &["svc"], true),
    ("", "v1", "ServiceAccount", "serviceaccounts", true, &["sa"], false),
    ("", "v1", "Pod", "pods", true, &["po"], true),
    ("", "v1", "PersistentVolumeClaim", "persistentvolumeclaims", true, &["pvc"], true),
    ("apps", "v1", "Deployment", "deployments", true, &["deploy"], true),
    ("apps", "v1", "StatefulSet", "statefulsets", true, &["sts"], true),
    ("apps", "v1", "DaemonSet", "daemonsets", true, &["ds"], true),
    ("batch", "v1", "Job", "jobs", true, &[], true),
    ("batch", "v1", "CronJob", "cronjobs", true, &["cj"], true),
    ("rbac.authorization.k8s.io", "v1", "Role", "roles", true, &[], false),
    ("rbac.authorization.k8s.io", "v1", "RoleBinding", "rolebindings", true, &[], false),
    ("rbac.authorization.k8s.io", "v1", "ClusterRole", "clusterroles", false, &[], false),
    ("rbac.authorization.k8s.io", "v1", "ClusterRoleBinding", "clusterrolebindings", false, &[], false),
    ("networking.k8s.io", "v1", "NetworkPolicy", "networkpolicies", true, &["netpol"], false),
    ("policy", "v1", "PodDisruptionBudget", "poddisruptionbudgets", true, &["pdb"], true),
    ("autoscaling", "v2", "HorizontalPodAutoscaler", "horizontalpodautoscalers", true, &["hpa"], true),
    ("networking.k8s.io", "v1", "Ingress", "ingresses", true, &["ing"], true),
    ("apiextensions.k8s.io", "v1", "CustomResourceDefinition", "customresourcedefinitions", false, &["crd"], true),
];

/// Every served type; CRDs are added when they are created.
#[derive(Debug, Clone)]
pub struct Registry {
    types: Vec<ResourceType>,
}

impl Default for Registry {
    fn default() -> Self {
        let types = BUILT_IN
            .iter()
            .map(|(g, v, k, p, ns, short, status)| ResourceType {
                group: (*g).into(),
                version: (*v).into(),
                kind: (*k).into(),
                plural: (*p).into(),
                namespaced: *ns,
                short_names: short.iter().map(|s| (*s).to_string()).collect(),
                status: *status,
                generation: !g.is_empty() && *g != "rbac.authorization.k8s.io",
            })
            .collect();
        Registry { types }
    }
}

impl Registry {
    pub fn find(&self, group: &str, version: &str, plural: &str) -> Option<&ResourceType> {
        self.types.iter().find(|t| t.group == group && t.version == version && t.plural == plural)
    }

    /// Whether `ty` is one of Kubernetes' own kinds (not a custom resource).
    pub fn is_built_in(&self, ty: &ResourceType) -> bool {
        BUILT_IN.iter().any(|(g, v, k, ..)| *g == ty.group && *v == ty.version && *k == ty.kind)
    }

    pub fn by_kind(&self, group: &str, kind: &str) -> Option<&ResourceType> {
        self.types.iter().find(|t| t.group == group && t.kind == kind)
    }

    /// Serves the versions of a CRD (called when one is created or replaced).
    pub fn add_crd(&mut self, crd: &Value) {
        let spec = crd.get("spec").cloned().unwrap_or_default();
        let group = spec.get("group").and_then(Value::as_str).unwrap_or_default().to_string();
        let names = spec.get("names").cloned().unwrap_or_default();
        let text = |v: &Value, k: &str| v.get(k).and_then(Value::as_str).unwrap_or_default().to_string();
        let namespaced = spec.get("scope").and_then(Value::as_str) != Some("Cluster");
        let short_names: Vec<String> = names
            .get("shortNames")
            .and_then(Value::as_array)
            .map(|a| a.iter().filter_map(Value::as_str).map(String::from).collect())
            .unwrap_or_default();
        for v in spec.get("versions").and_then(Value::as_array).into_iter().flatten() {
            let version = text(v, "name");
            let status = v.pointer("/subresources/status").is_some();
            let t = ResourceType {
                group: group.clone(),
                version,
                kind: text(&names, "kind"),
                plural: text(&names, "plural"),
                namespaced,
                short_names: short_names.clone(),
                status,
                generation: true,
            };
            self.types.retain(|x| !(x.group == t.group && x.version == t.version && x.plural == t.plural));
            self.types.push(t);
        }
    }

    /// `GET /apis`: the API groups (the core group is served at `/api`).
    pub fn group_list(&self) -> Value {
        let mut groups: Vec<(String, Vec<String>)> = Vec::new();
        for t in self.types.iter().filter(|t| !t.group.is_empty()) {
            match groups.iter_mut().find(|(g, _)| *g == t.group) {
                Some((_, versions)) if !versions.contains(&t.version) => versions.push(t.version.clone()),
                Some(_) => {}
                None => groups.push((t.group.clone(), vec![t.version.clone()])),
            }
        }
        let groups: Vec<Value> = groups
            .into_iter()
            .map(|(name, versions)| {
                let versions: Vec<Value> =
                    versions.iter().map(|v| json!({"groupVersion": format!("{name}/{v}"), "version": v})).collect();
                json!({"name": name, "versions": versions, "preferredVersion": versions[0]})
            })
            .collect();
        json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": groups})
    }

    /// `GET /api/v1` or `/apis/{group}/{version}`; `None` for an unknown group version.
    pub fn resource_list(&self, group: &str, version: &str) -> Option<Value> {
        let types: Vec<&ResourceType> =
            self.types.iter().filter(|t| t.group == group && t.version == version).collect();
        if types.is_empty() {
            return None;
        }
        let mut resources = Vec::new();
        for t in &types {
            resources.push(t.resource_json());
            if t.status {
                resources.push(json!({
                    "name": format!("{}/status", t.plural),
                    "singularName": "",
                    "namespaced": t.namespaced,
                    "kind": t.kind,
                    "verbs": ["get", "patch", "update"],
                }));
            }
        }
        let group_version = types[0].api_version();
        Some(
            json!({"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": group_version, "resources": resources}),
        )
    }
}
