//! One resource in a build: the object, plus what kustomize remembers about it (the names it
//! had before prefixes, suffixes and hashes, and whether a generator made it).

use serde_json::{Map, Value};

/// Group, version and kind of an object, split from `apiVersion`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Gvk {
    pub group: String,
    pub version: String,
    pub kind: String,
}

impl Gvk {
    pub fn of(object: &Value) -> Gvk {
        let api_version = object.get("apiVersion").and_then(Value::as_str).unwrap_or_default();
        let (group, version) = match api_version.split_once('/') {
            Some((g, v)) => (g.to_string(), v.to_string()),
            None => (String::new(), api_version.to_string()),
        };
        let kind = object.get("kind").and_then(Value::as_str).unwrap_or_default().to_string();
        Gvk { group, version, kind }
    }

    /// Whether objects of this kind live outside namespaces.
    pub fn is_cluster_scoped(&self) -> bool {
        cluster_scoped(&self.group, &self.version, &self.kind)
    }
}

/// Whether objects of `group`, `version` and `kind` live outside namespaces (no allocation: this
/// runs for every comparison of ids).
pub fn cluster_scoped(group: &str, version: &str, kind: &str) -> bool {
    CLUSTER_SCOPED.iter().any(|(av, k)| {
        *k == kind
            && match av.split_once('/') {
                Some((g, v)) => g == group && v == version,
                None => group.is_empty() && *av == version,
            }
    })
}

/// The cluster-scoped kinds, by exact apiVersion and kind, as kustomize 5.5's precomputed
/// table has them; everything else (custom resources included) counts as namespaced.
const CLUSTER_SCOPED: &[(&str, &str)] = &[
    ("admissionregistration.k8s.io/v1", "MutatingWebhookConfiguration"),
    ("admissionregistration.k8s.io/v1", "ValidatingWebhookConfiguration"),
    ("admissionregistration.k8s.io/v1beta1", "MutatingWebhookConfiguration"),
    ("admissionregistration.k8s.io/v1beta1", "ValidatingWebhookConfiguration"),
    ("apiextensions.k8s.io/v1", "CustomResourceDefinition"),
    ("apiextensions.k8s.io/v1beta1", "CustomResourceDefinition"),
    ("apiregistration.k8s.io/v1", "APIService"),
    ("apiregistration.k8s.io/v1beta1", "APIService"),
    ("certificates.k8s.io/v1", "CertificateSigningRequest"),
    ("certificates.k8s.io/v1beta1", "CertificateSigningRequest"),
    ("flowcontrol.apiserver.k8s.io/v1beta1", "FlowSchema"),
    ("flowcontrol.apiserver.k8s.io/v1beta1", "PriorityLevelConfiguration"),
    ("networking.k8s.io/v1", "IngressClass"),
    ("networking.k8s.io/v1beta1", "IngressClass"),
    ("node.k8s.io/v1", "RuntimeClass"),
    ("node.k8s.io/v1beta1", "RuntimeClass"),
    ("policy/v1beta1", "PodSecurityPolicy"),
    ("rbac.authorization.k8s.io/v1", "ClusterRole"),
    ("rbac.authorization.k8s.io/v1", "ClusterRoleBinding"),
    ("rbac.authorization.k8s.io/v1beta1", "ClusterRole"),
    ("rbac.authorization.k8s.io/v1beta1", "ClusterRoleBinding"),
    ("scheduling.k8s.io/v1", "PriorityClass"),
    ("scheduling.k8s.io/v1beta1", "PriorityClass"),
    ("storage.k8s.io/v1", "CSIDriver"),
    ("storage.k8s.io/v1", "CSINode"),
    ("storage.k8s.io/v1", "StorageClass"),
    ("storage.k8s.io/v1", "VolumeAttachment"),
    ("storage.k8s.io/v1beta1", "CSIDriver"),
    ("storage.k8s.io/v1beta1", "CSINode"),
    ("storage.k8s.io/v1beta1", "StorageClass"),
    ("storage.k8s.io/v1beta1", "VolumeAttachment"),
    ("v1", "ComponentStatus"),
    ("v1", "Namespace"),
    ("v1", "Node"),
    ("v1", "NodeProxyOptions"),
    ("v1", "PersistentVolume"),
];

/// A resource and its build history.
#[derive(Debug, Clone, PartialEq)]
pub struct Resource {
    pub object: Value,
    /// Earlier (namespace, name) pairs, oldest first; the current one is in `object`.
    pub previous: Vec<(String, String)>,
    /// Made by a generator that wants the content hash appended to the name.
    pub needs_hash: bool,
    /// Made by a generator (merge and replace only find generated objects).
    pub generated: bool,
    /// Set once a content hash was appended.
    pub hashed: bool,
    /// The name prefixes and suffixes applied to it, first applied first (kustomize tells
    /// apart otherwise equal referral candidates by them).
    pub prefixes: Vec<String>,
    pub suffixes: Vec<String>,
    /// Where it came from, as `config.kubernetes.io/origin` writes it (when `buildMetadata`
    /// asks for it).
    pub origin: Option<String>,
    /// The transformers that ran over it, each as an entry of
    /// `alpha.config.kubernetes.io/transformations` writes it.
    pub transformations: Vec<String>,
    /// The vars whose `objref` names it (kustomize's `refVarNames`), marked where they are
    /// declared, so that they find it again however it was renamed or moved since.
    pub vars: Vec<String>,
}

impl Resource {
    pub fn new(object: Value) -> Resource {
        Resource {
            object,
            previous: Vec::new(),
            needs_hash: false,
            generated: false,
            hashed: false,
            prefixes: Vec::new(),
            suffixes: Vec::new(),
            origin: None,
            transformations: Vec::new(),
            vars: Vec::new(),
        }
    }

    pub fn gvk(&self) -> Gvk {
        Gvk::of(&self.object)
    }

    pub fn name(&self) -> &str {
        self.metadata_str("name")
    }

    pub fn namespace(&self) -> &str {
        self.metadata_str("namespace")
    }

    /// A string field of `metadata` (direct lookups: these run for every resource, often).
    fn metadata_str(&self, field: &str) -> &str {
        self.object.get("metadata").and_then(|m| m.get(field)).and_then(Value::as_str).unwrap_or_default()
    }

    /// The name and namespace it was first given.
    pub fn original(&self) -> (&str, &str) {
        self.previous.first().map_or((self.namespace(), self.name()), |(ns, n)| (ns.as_str(), n.as_str()))
    }

    /// Whether it was ever known by this namespace and name.
    pub fn was_known_as(&self, namespace: &str, name: &str) -> bool {
        (self.namespace() == namespace && self.name() == name)
            || self.previous.iter().any(|(ns, n)| ns == namespace && n == name)
    }

    /// Whether it was ever named `name` (in any namespace).
    pub fn was_named(&self, name: &str) -> bool {
        self.name() == name || self.previous.iter().any(|(_, n)| n == name)
    }

    pub fn metadata_mut(&mut self) -> &mut Map<String, Value> {
        let object = self.object.as_object_mut().expect("resources are mappings, checked when loaded");
        let metadata = object.entry("metadata").or_insert_with(|| Value::Object(Map::new()));
        if !metadata.is_object() {
            *metadata = Value::Object(Map::new());
        }
        metadata.as_object_mut().expect("made a mapping above")
    }

    /// Records the current namespace and name as a previous one (kustomize's
    /// `StorePreviousId`), as transformers that may rename do before they run.
    pub fn remember(&mut self) {
        let current = (self.namespace().to_string(), self.name().to_string());
        self.previous.push(current);
    }

    pub fn set_name(&mut self, name: String) {
        self.remember();
        self.metadata_mut().insert("name".into(), Value::String(name));
    }

    pub fn set_namespace(&mut self, namespace: String) {
        self.remember();
        self.metadata_mut().insert("namespace".into(), Value::String(namespace));
    }

    /// The resource, for messages: `apps/v1 Deployment shop/web`, or `v1 Namespace shop`.
    pub fn id(&self) -> String {
        let api_version = self.object.get("apiVersion").and_then(Value::as_str).unwrap_or_default();
        let kind = self.gvk().kind;
        match self.namespace() {
            "" => format!("{api_version} {kind} {}", self.name()),
            ns => format!("{api_version} {kind} {ns}/{}", self.name()),
        }
    }
}

/// A field location, as kustomize's `FieldSpec`: which kinds (any when a part is not given),
/// and a `/`-separated path (`name[]` walks every item of a list, `\\/` is a slash in a key).
#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FieldSpec {
    #[serde(default)]
    pub group: Option<String>,
    #[serde(default)]
    pub version: Option<String>,
    #[serde(default)]
    pub kind: Option<String>,
    pub path: String,
    /// Whether a missing field is made (`create` in kustomize's files).
    #[serde(default)]
    pub create: bool,
}

impl FieldSpec {
    pub fn applies_to(&self, gvk: &Gvk) -> bool {
        let hit = |want: &Option<String>, have: &str| want.as_deref().is_none_or(|w| w.is_empty() || w == have);
        hit(&self.group, &gvk.group) && hit(&self.version, &gvk.version) && hit(&self.kind, &gvk.kind)
    }

    /// Whether `other` names the same kinds and path (kustomize keeps one of two such specs).
    pub fn same_place(&self, other: &FieldSpec) -> bool {
        let norm = |s: &Option<String>| s.clone().unwrap_or_default();
        norm(&self.group) == norm(&other.group)
            && norm(&self.version) == norm(&other.version)
            && norm(&self.kind) == norm(&other.kind)
            && self.path == other.path
    }
}

/// A [`FieldSpec`] written in a table of kustomize's defaults.
#[derive(Debug, Clone, Copy)]
pub struct StaticSpec {
    pub group: Option<&'static str>,
    pub version: Option<&'static str>,
    pub kind: Option<&'static str>,
    pub path: &'static str,
    pub create: bool,
}

impl From<&StaticSpec> for FieldSpec {
    fn from(s: &StaticSpec) -> FieldSpec {
        FieldSpec {
            group: s.group.map(str::to_string),
            version: s.version.map(str::to_string),
            kind: s.kind.map(str::to_string),
            path: s.path.to_string(),
            create: s.create,
        }
    }
}

/// Shorthand for field-spec tables.
pub const fn fs(
    group: Option<&'static str>,
    version: Option<&'static str>,
    kind: Option<&'static str>,
    path: &'static str,
    create: bool,
) -> StaticSpec {
    StaticSpec { group, version, kind, path, create }
}

/// Visits every value at `path` below `value`, walking into every item of a sequence met on
/// the way (kustomize's field specs do so). With `create`, missing mappings are made, and the
/// last field is created as `null` for the visitor to fill.
pub fn visit(value: &mut Value, path: &str, create: bool, f: &mut dyn FnMut(&mut Value)) {
    let segments = split_path(path);
    let segments: Vec<&str> = segments.iter().map(String::as_str).collect();
    visit_segments(value, &segments, create, f);
}

/// Splits a field-spec path at `/`, where `\\/` is a slash inside a key (annotation names).
fn split_path(path: &str) -> Vec<String> {
    let mut out = vec![String::new()];
    let mut chars = path.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' if chars.peek() == Some(&'/') => {
                chars.next();
                out.last_mut().expect("starts with one segment").push('/');
            }
            '/' => out.push(String::new()),
            c => out.last_mut().expect("starts with one segment").push(c),
        }
    }
    out.retain(|s| !s.is_empty());
    out
}

fn visit_segments(value: &mut Value, segments: &[&str], create: bool, f: &mut dyn FnMut(&mut Value)) {
    let Some((first, rest)) = segments.split_first() else {
        f(value);
        return;
    };
    if let Value::Array(items) = value {
        for item in items {
            visit_segments(item, segments, create, f);
        }
        return;
    }
    let (field, each) = match first.strip_suffix("[]") {
        Some(name) => (name, true),
        None => (*first, false),
    };
    let Value::Object(map) = value else { return };
    if !map.contains_key(field) {
        // A list (`name[]`) is never created: there would be no item to set.
        if !create || each {
            return;
        }
        let fresh = if rest.is_empty() { Value::Null } else { Value::Object(Map::new()) };
        map.insert(field.to_string(), fresh);
    }
    let child = map.get_mut(field).expect("present or inserted above");
    if child.is_null() && !rest.is_empty() {
        if !create {
            return;
        }
        *child = Value::Object(Map::new());
    }
    if each {
        if let Value::Array(items) = child {
            for item in items {
                visit_segments(item, rest, create, f);
            }
        }
    } else {
        visit_segments(child, rest, create, f);
    }
}
