//! kustomize's transformer configuration: which fields of which kinds each built-in transformer
//! touches, and which fields name other objects. The defaults are kustomize 5.5's; a
//! kustomization's `configurations` files (and the object references its `crds` declare) add to
//! them, and what a base or component adds travels up to every kustomization that includes it,
//! as kustomize's accumulator merges configs.

use std::sync::OnceLock;

use serde::Deserialize;

use super::resource::{FieldSpec, Gvk, StaticSpec, fs};

/// The fields one kind of object names another by (kustomize's `nameReference` entry): objects
/// of `kind` (and `group`/`version` when given) are referred to at `field_specs`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NameReference {
    #[serde(default)]
    pub group: Option<String>,
    #[serde(default)]
    pub version: Option<String>,
    pub kind: String,
    #[serde(default)]
    pub field_specs: Vec<FieldSpec>,
}

impl NameReference {
    /// Whether an object of `gvk` is what this entry refers to.
    pub fn refers_to(&self, gvk: &Gvk) -> bool {
        let hit = |want: &Option<String>, have: &str| want.as_deref().is_none_or(|w| w.is_empty() || w == have);
        self.kind == gvk.kind && hit(&self.group, &gvk.group) && hit(&self.version, &gvk.version)
    }

    fn same_referral(&self, other: &NameReference) -> bool {
        let norm = |s: &Option<String>| s.clone().unwrap_or_default();
        self.kind == other.kind
            && norm(&self.group) == norm(&other.group)
            && norm(&self.version) == norm(&other.version)
    }
}

/// kustomize's `TransformerConfig`, as a `configurations` file writes it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Config {
    #[serde(default)]
    pub name_prefix: Vec<FieldSpec>,
    #[serde(default)]
    pub name_suffix: Vec<FieldSpec>,
    #[serde(default)]
    pub namespace: Vec<FieldSpec>,
    #[serde(default)]
    pub common_labels: Vec<FieldSpec>,
    #[serde(default)]
    pub template_labels: Vec<FieldSpec>,
    #[serde(default)]
    pub labels: Vec<FieldSpec>,
    #[serde(default)]
    pub common_annotations: Vec<FieldSpec>,
    #[serde(default)]
    pub name_reference: Vec<NameReference>,
    #[serde(default)]
    pub var_reference: Vec<FieldSpec>,
    #[serde(default)]
    pub images: Vec<FieldSpec>,
    #[serde(default)]
    pub replicas: Vec<FieldSpec>,
}

impl Config {
    /// kustomize 5.5's built-in configuration.
    pub fn defaults() -> &'static Config {
        static DEFAULTS: OnceLock<Config> = OnceLock::new();
        DEFAULTS.get_or_init(build_defaults)
    }

    /// Adds `other`'s specs to this one's, as kustomize's `TransformerConfig.Merge`: a spec for
    /// the same kinds and path is kept once; the same place with a different `create` is an
    /// error.
    pub fn merge(&mut self, other: &Config) -> Result<(), String> {
        let lists = [
            ("namePrefix", &mut self.name_prefix, &other.name_prefix),
            ("nameSuffix", &mut self.name_suffix, &other.name_suffix),
            ("namespace", &mut self.namespace, &other.namespace),
            ("commonLabels", &mut self.common_labels, &other.common_labels),
            ("templateLabels", &mut self.template_labels, &other.template_labels),
            ("labels", &mut self.labels, &other.labels),
            ("commonAnnotations", &mut self.common_annotations, &other.common_annotations),
            ("varReference", &mut self.var_reference, &other.var_reference),
            ("images", &mut self.images, &other.images),
            ("replicas", &mut self.replicas, &other.replicas),
        ];
        for (name, mine, theirs) in lists {
            merge_specs(mine, theirs).map_err(|e| format!("{name}: {e}"))?;
        }
        for theirs in &other.name_reference {
            match self.name_reference.iter_mut().find(|n| n.same_referral(theirs)) {
                Some(mine) => merge_specs(&mut mine.field_specs, &theirs.field_specs)
                    .map_err(|e| format!("nameReference {}: {e}", theirs.kind))?,
                None => self.name_reference.push(theirs.clone()),
            }
        }
        Ok(())
    }
}

/// Appends the specs of `theirs` that `mine` does not have yet.
pub fn merge_specs(mine: &mut Vec<FieldSpec>, theirs: &[FieldSpec]) -> Result<(), String> {
    for spec in theirs {
        match mine.iter().find(|m| m.same_place(spec)) {
            Some(m) if m.create != spec.create => {
                return Err(format!(
                    "conflicting fieldspecs: {} is given with create {} and with create {}",
                    describe(spec),
                    m.create,
                    spec.create
                ));
            }
            Some(_) => {}
            None => mine.push(spec.clone()),
        }
    }
    Ok(())
}

/// A spec for messages: `path` of `group/version kind`.
pub fn describe(spec: &FieldSpec) -> String {
    let gvk: Vec<&str> = [&spec.group, &spec.version, &spec.kind].iter().filter_map(|s| s.as_deref()).collect();
    if gvk.is_empty() { spec.path.clone() } else { format!("{} of {}", spec.path, gvk.join(" ")) }
}

fn specs(table: &[StaticSpec]) -> Vec<FieldSpec> {
    table.iter().map(FieldSpec::from).collect()
}

fn build_defaults() -> Config {
    let metadata_labels = fs(None, None, None, "metadata/labels", true);
    let mut common_labels = specs(&[metadata_labels]);
    let mut template_labels = specs(&[metadata_labels]);
    for (spec, is_selector) in LABEL_PATHS {
        common_labels.push(spec.into());
        if !is_selector {
            template_labels.push(spec.into());
        }
    }
    let mut common_annotations = specs(&[fs(None, None, None, "metadata/annotations", true)]);
    common_annotations.extend(specs(ANNOTATION_PATHS));
    let mut name_reference: Vec<NameReference> = Vec::new();
    for (kind, referrer, path) in REFERENCES {
        let spec = FieldSpec {
            group: None,
            version: None,
            kind: Some((*referrer).to_string()),
            path: (*path).to_string(),
            create: false,
        };
        match name_reference.iter_mut().find(|n| n.kind == *kind) {
            Some(n) => n.field_specs.push(spec),
            None => name_reference.push(NameReference {
                group: None,
                version: None,
                kind: (*kind).to_string(),
                field_specs: vec![spec],
            }),
        }
    }
    Config {
        name_prefix: specs(&[fs(None, None, None, "metadata/name", false)]),
        name_suffix: specs(&[fs(None, None, None, "metadata/name", false)]),
        namespace: specs(NAMESPACE_PATHS),
        common_labels,
        template_labels,
        labels: Vec::new(),
        common_annotations,
        name_reference,
        var_reference: specs(VAR_REFERENCE_PATHS),
        // kustomize rewrites the images of every `containers` and `initContainers` list with
        // its legacy filter (transform.rs), then these again (which shows with a tagSuffix).
        images: specs(IMAGE_PATHS),
        replicas: specs(REPLICA_PATHS),
    }
}

/// kustomize 5.5's image field specs, for any kind.
const IMAGE_PATHS: &[StaticSpec] = &[
    fs(None, None, None, "spec/containers[]/image", false),
    fs(None, None, None, "spec/initContainers[]/image", false),
    fs(None, None, None, "spec/template/spec/containers[]/image", false),
    fs(None, None, None, "spec/template/spec/initContainers[]/image", false),
];

/// kustomize 5.5's namespace field specs. `metadata/namespace`, the name of a Namespace and
/// binding subjects are special cases of the namespace transformer (transform.rs).
const NAMESPACE_PATHS: &[StaticSpec] = &[
    fs(None, None, None, "metadata/namespace", true),
    fs(None, None, Some("Namespace"), "metadata/name", true),
    fs(None, None, Some("RoleBinding"), "subjects[]/namespace", false),
    fs(None, None, Some("ClusterRoleBinding"), "subjects[]/namespace", false),
    fs(Some("apiregistration.k8s.io"), None, Some("APIService"), "spec/service/namespace", true),
    fs(
        Some("apiextensions.k8s.io"),
        None,
        Some("CustomResourceDefinition"),
        "spec/conversion/webhook/clientConfig/service/namespace",
        false,
    ),
];

/// Where `commonLabels` go beyond `metadata/labels`: selectors (`true`) or templates (`false`).
const LABEL_PATHS: &[(StaticSpec, bool)] = &[
    (fs(None, Some("v1"), Some("ReplicationController"), "spec/selector", true), true),
    (fs(None, Some("v1"), Some("ReplicationController"), "spec/template/metadata/labels", true), false),
    (fs(None, None, Some("Deployment"), "spec/selector/matchLabels", true), true),
    (fs(None, None, Some("Deployment"), "spec/template/metadata/labels", true), false),
    (
        fs(
            Some("apps"),
            None,
            Some("Deployment"),
            "spec/template/spec/affinity/podAffinity/preferredDuringSchedulingIgnoredDuringExecution/podAffinityTerm/labelSelector/matchLabels",
            false,
        ),
        true,
    ),
    (
        fs(
            Some("apps"),
            None,
            Some("Deployment"),
            "spec/template/spec/affinity/podAffinity/requiredDuringSchedulingIgnoredDuringExecution/labelSelector/matchLabels",
            false,
        ),
        true,
    ),
    (
        fs(
            Some("apps"),
            None,
            Some("Deployment"),
            "spec/template/spec/affinity/podAntiAffinity/preferredDuringSchedulingIgnoredDuringExecution/podAffinityTerm/labelSelector/matchLabels",
            false,
        ),
        true,
    ),
    (
        fs(
            Some("apps"),
            None,
            Some("Deployment"),
            "spec/template/spec/affinity/podAntiAffinity/requiredDuringSchedulingIgnoredDuringExecution/labelSelector/matchLabels",
            false,
        ),
        true,
    ),
    (
        fs(
            Some("apps"),
            None,
            Some("Deployment"),
            "spec/template/spec/topologySpreadConstraints/labelSelector/matchLabels",
            false,
        ),
        true,
    ),
    (fs(None, None, Some("ReplicaSet"), "spec/selector/matchLabels", true), true),
    (fs(None, None, Some("ReplicaSet"), "spec/template/metadata/labels", true), false),
    (fs(None, None, Some("DaemonSet"), "spec/selector/matchLabels", true), true),
    (fs(None, None, Some("DaemonSet"), "spec/template/metadata/labels", true), false),
    (fs(Some("apps"), None, Some("StatefulSet"), "spec/selector/matchLabels", true), true),
    (fs(Some("apps"), None, Some("StatefulSet"), "spec/template/metadata/labels", true), false),
    (
        fs(
            Some("apps"),
            None,
            Some("StatefulSet"),
            "spec/template/spec/affinity/podAffinity/preferredDuringSchedulingIgnoredDuringExecution/podAffinityTerm/labelSelector/matchLabels",
            false,
        ),
        true,
    ),
    (
        fs(
            Some("apps"),
            None,
            Some("StatefulSet"),
            "spec/template/spec/affinity/podAffinity/requiredDuringSchedulingIgnoredDuringExecution/labelSelector/matchLabels",
            false,
        ),
        true,
    ),
    (
        fs(
            Some("apps"),
            None,
            Some("StatefulSet"),
            "spec/template/spec/affinity/podAntiAffinity/preferredDuringSchedulingIgnoredDuringExecution/podAffinityTerm/labelSelector/matchLabels",
            false,
        ),
        true,
    ),
    (
        fs(
            Some("apps"),
            None,
            Some("StatefulSet"),
            "spec/template/spec/affinity/podAntiAffinity/requiredDuringSchedulingIgnoredDuringExecution/labelSelector/matchLabels",
            false,
        ),
        true,
    ),
    (
        fs(
            Some("apps"),
            None,
            Some("StatefulSet"),
            "spec/template/spec/topologySpreadConstraints/labelSelector/matchLabels",
            false,
        ),
        true,
    ),
    (fs(Some("apps"), None, Some("StatefulSet"), "spec/volumeClaimTemplates[]/metadata/labels", true), false),
    (fs(None, Some("v1"), Some("Service"), "spec/selector", true), true),
    (fs(Some("batch"), None, Some("Job"), "spec/selector/matchLabels", false), true),
    (fs(Some("batch"), None, Some("Job"), "spec/template/metadata/labels", true), false),
    (fs(Some("batch"), None, Some("CronJob"), "spec/jobTemplate/spec/selector/matchLabels", false), true),
    (fs(Some("batch"), None, Some("CronJob"), "spec/jobTemplate/metadata/labels", true), false),
    (fs(Some("batch"), None, Some("CronJob"), "spec/jobTemplate/spec/template/metadata/labels", true), false),
    (fs(Some("policy"), None, Some("PodDisruptionBudget"), "spec/selector/matchLabels", false), true),
    (fs(Some("networking.k8s.io"), None, Some("NetworkPolicy"), "spec/podSelector/matchLabels", false), true),
    (
        fs(Some("networking.k8s.io"), None, Some("NetworkPolicy"), "spec/ingress/from/podSelector/matchLabels", false),
        true,
    ),
    (fs(Some("networking.k8s.io"), None, Some("NetworkPolicy"), "spec/egress/to/podSelector/matchLabels", false), true),
];

const ANNOTATION_PATHS: &[StaticSpec] = &[
    fs(None, Some("v1"), Some("ReplicationController"), "spec/template/metadata/annotations", true),
    fs(None, None, Some("Deployment"), "spec/template/metadata/annotations", true),
    fs(None, None, Some("ReplicaSet"), "spec/template/metadata/annotations", true),
    fs(None, None, Some("DaemonSet"), "spec/template/metadata/annotations", true),
    fs(Some("apps"), None, Some("StatefulSet"), "spec/template/metadata/annotations", true),
    fs(Some("batch"), None, Some("Job"), "spec/template/metadata/annotations", true),
    fs(Some("batch"), None, Some("CronJob"), "spec/jobTemplate/metadata/annotations", true),
    fs(Some("batch"), None, Some("CronJob"), "spec/jobTemplate/spec/template/metadata/annotations", true),
];

const REPLICA_PATHS: &[StaticSpec] = &[
    fs(None, None, Some("Deployment"), "spec/replicas", true),
    fs(None, None, Some("ReplicationController"), "spec/replicas", true),
    fs(None, None, Some("ReplicaSet"), "spec/replicas", true),
    fs(None, None, Some("StatefulSet"), "spec/replicas", true),
];

/// kustomize 5.5's varReference field specs (`api/konfig/builtinpluginconsts/varreference.go`),
/// in its order: where `$(VAR)` is replaced.
const VAR_REFERENCE_PATHS: &[StaticSpec] = &[
    fs(None, None, Some("CronJob"), "spec/jobTemplate/spec/template/spec/containers/args", false),
    fs(None, None, Some("CronJob"), "spec/jobTemplate/spec/template/spec/containers/command", false),
    fs(None, None, Some("CronJob"), "spec/jobTemplate/spec/template/spec/containers/env/value", false),
    fs(None, None, Some("CronJob"), "spec/jobTemplate/spec/template/spec/containers/volumeMounts/mountPath", false),
    fs(None, None, Some("CronJob"), "spec/jobTemplate/spec/template/spec/initContainers/args", false),
    fs(None, None, Some("CronJob"), "spec/jobTemplate/spec/template/spec/initContainers/command", false),
    fs(None, None, Some("CronJob"), "spec/jobTemplate/spec/template/spec/initContainers/env/value", false),
    fs(None, None, Some("CronJob"), "spec/jobTemplate/spec/template/spec/initContainers/volumeMounts/mountPath", false),
    fs(None, None, Some("CronJob"), "spec/jobTemplate/spec/template/spec/volumes/nfs/server", false),
    fs(None, None, Some("DaemonSet"), "spec/template/spec/containers/args", false),
    fs(None, None, Some("DaemonSet"), "spec/template/spec/containers/command", false),
    fs(None, None, Some("DaemonSet"), "spec/template/spec/containers/env/value", false),
    fs(None, None, Some("DaemonSet"), "spec/template/spec/containers/volumeMounts/mountPath", false),
    fs(None, None, Some("DaemonSet"), "spec/template/spec/initContainers/args", false),
    fs(None, None, Some("DaemonSet"), "spec/template/spec/initContainers/command", false),
    fs(None, None, Some("DaemonSet"), "spec/template/spec/initContainers/env/value", false),
    fs(None, None, Some("DaemonSet"), "spec/template/spec/initContainers/volumeMounts/mountPath", false),
    fs(None, None, Some("DaemonSet"), "spec/template/spec/volumes/nfs/server", false),
    fs(None, None, Some("Deployment"), "spec/template/spec/containers/args", false),
    fs(None, None, Some("Deployment"), "spec/template/spec/containers/command", false),
    fs(None, None, Some("Deployment"), "spec/template/spec/containers/env/value", false),
    fs(None, None, Some("Deployment"), "spec/template/spec/containers/volumeMounts/mountPath", false),
    fs(None, None, Some("Deployment"), "spec/template/spec/initContainers/args", false),
    fs(None, None, Some("Deployment"), "spec/template/spec/initContainers/command", false),
    fs(None, None, Some("Deployment"), "spec/template/spec/initContainers/env/value", false),
    fs(None, None, Some("Deployment"), "spec/template/spec/initContainers/volumeMounts/mountPath", false),
    fs(None, None, Some("Deployment"), "spec/template/spec/volumes/nfs/server", false),
    fs(None, None, Some("Ingress"), "spec/rules/host", false),
    fs(None, None, Some("Ingress"), "spec/tls/hosts", false),
    fs(None, None, Some("Ingress"), "spec/tls/secretName", false),
    fs(None, None, Some("Job"), "spec/template/spec/containers/args", false),
    fs(None, None, Some("Job"), "spec/template/spec/containers/command", false),
    fs(None, None, Some("Job"), "spec/template/spec/containers/env/value", false),
    fs(None, None, Some("Job"), "spec/template/spec/containers/volumeMounts/mountPath", false),
    fs(None, None, Some("Job"), "spec/template/spec/initContainers/args", false),
    fs(None, None, Some("Job"), "spec/template/spec/initContainers/command", false),
    fs(None, None, Some("Job"), "spec/template/spec/initContainers/env/value", false),
    fs(None, None, Some("Job"), "spec/template/spec/initContainers/volumeMounts/mountPath", false),
    fs(None, None, Some("Job"), "spec/template/spec/volumes/nfs/server", false),
    fs(None, None, Some("Pod"), "spec/containers/args", false),
    fs(None, None, Some("Pod"), "spec/containers/command", false),
    fs(None, None, Some("Pod"), "spec/containers/env/value", false),
    fs(None, None, Some("Pod"), "spec/containers/volumeMounts/mountPath", false),
    fs(None, None, Some("Pod"), "spec/initContainers/args", false),
    fs(None, None, Some("Pod"), "spec/initContainers/command", false),
    fs(None, None, Some("Pod"), "spec/initContainers/env/value", false),
    fs(None, None, Some("Pod"), "spec/initContainers/volumeMounts/mountPath", false),
    fs(None, None, Some("Pod"), "spec/volumes/nfs/server", false),
    fs(None, None, Some("ReplicaSet"), "spec/template/spec/containers/args", false),
    fs(None, None, Some("ReplicaSet"), "spec/template/spec/containers/command", false),
    fs(None, None, Some("ReplicaSet"), "spec/template/spec/containers/env/value", false),
    fs(None, None, Some("ReplicaSet"), "spec/template/spec/containers/volumeMounts/mountPath", false),
    fs(None, None, Some("ReplicaSet"), "spec/template/spec/initContainers/args", false),
    fs(None, None, Some("ReplicaSet"), "spec/template/spec/initContainers/command", false),
    fs(None, None, Some("ReplicaSet"), "spec/template/spec/initContainers/env/value", false),
    fs(None, None, Some("ReplicaSet"), "spec/template/spec/initContainers/volumeMounts/mountPath", false),
    fs(None, None, Some("ReplicaSet"), "spec/template/spec/volumes/nfs/server", false),
    fs(None, None, Some("Service"), "spec/ports/port", false),
    fs(None, None, Some("Service"), "spec/ports/targetPort", false),
    fs(None, None, Some("StatefulSet"), "spec/template/spec/containers/args", false),
    fs(None, None, Some("StatefulSet"), "spec/template/spec/containers/command", false),
    fs(None, None, Some("StatefulSet"), "spec/template/spec/containers/env/value", false),
    fs(None, None, Some("StatefulSet"), "spec/template/spec/containers/volumeMounts/mountPath", false),
    fs(None, None, Some("StatefulSet"), "spec/template/spec/initContainers/args", false),
    fs(None, None, Some("StatefulSet"), "spec/template/spec/initContainers/command", false),
    fs(None, None, Some("StatefulSet"), "spec/template/spec/initContainers/env/value", false),
    fs(None, None, Some("StatefulSet"), "spec/template/spec/initContainers/volumeMounts/mountPath", false),
    fs(None, None, Some("StatefulSet"), "spec/volumeClaimTemplates/spec/nfs/server", false),
    fs(None, None, Some("PersistentVolume"), "spec/nfs/server", false),
    fs(None, None, None, "metadata/labels", false),
    fs(None, None, None, "metadata/annotations", false),
];

/// kustomize 5.5's nameReference field specs: (referenced kind, referrer kind, path).
const REFERENCES: &[(&str, &str, &str)] = &[
    ("Deployment", "HorizontalPodAutoscaler", "spec/scaleTargetRef/name"),
    ("ReplicationController", "HorizontalPodAutoscaler", "spec/scaleTargetRef/name"),
    ("ReplicaSet", "HorizontalPodAutoscaler", "spec/scaleTargetRef/name"),
    ("StatefulSet", "HorizontalPodAutoscaler", "spec/scaleTargetRef/name"),
    ("ConfigMap", "Pod", "spec/volumes/configMap/name"),
    ("ConfigMap", "Pod", "spec/containers/env/valueFrom/configMapKeyRef/name"),
    ("ConfigMap", "Pod", "spec/initContainers/env/valueFrom/configMapKeyRef/name"),
    ("ConfigMap", "Pod", "spec/containers/envFrom/configMapRef/name"),
    ("ConfigMap", "Pod", "spec/initContainers/envFrom/configMapRef/name"),
    ("ConfigMap", "Pod", "spec/volumes/projected/sources/configMap/name"),
    ("ConfigMap", "PodTemplate", "template/spec/volumes/configMap/name"),
    ("ConfigMap", "PodTemplate", "template/spec/containers/env/valueFrom/configMapKeyRef/name"),
    ("ConfigMap", "PodTemplate", "template/spec/initContainers/env/valueFrom/configMapKeyRef/name"),
    ("ConfigMap", "PodTemplate", "template/spec/containers/envFrom/configMapRef/name"),
    ("ConfigMap", "PodTemplate", "template/spec/initContainers/envFrom/configMapRef/name"),
    ("ConfigMap", "PodTemplate", "template/spec/volumes/projected/sources/configMap/name"),
    ("ConfigMap", "Deployment", "spec/template/spec/volumes/configMap/name"),
    ("ConfigMap", "Deployment", "spec/template/spec/containers/env/valueFrom/configMapKeyRef/name"),
    ("ConfigMap", "Deployment", "spec/template/spec/initContainers/env/valueFrom/configMapKeyRef/name"),
    ("ConfigMap", "Deployment", "spec/template/spec/containers/envFrom/configMapRef/name"),
    ("ConfigMap", "Deployment", "spec/template/spec/initContainers/envFrom/configMapRef/name"),
    ("ConfigMap", "Deployment", "spec/template/spec/volumes/projected/sources/configMap/name"),
    ("ConfigMap", "ReplicaSet", "spec/template/spec/volumes/configMap/name"),
    ("ConfigMap", "ReplicaSet", "spec/template/spec/containers/env/valueFrom/configMapKeyRef/name"),
    ("ConfigMap", "ReplicaSet", "spec/template/spec/initContainers/env/valueFrom/configMapKeyRef/name"),
    ("ConfigMap", "ReplicaSet", "spec/template/spec/containers/envFrom/configMapRef/name"),
    ("ConfigMap", "ReplicaSet", "spec/template/spec/initContainers/envFrom/configMapRef/name"),
    ("ConfigMap", "ReplicaSet", "spec/template/spec/volumes/projected/sources/configMap/name"),
    ("ConfigMap", "DaemonSet", "spec/template/spec/volumes/configMap/name"),
    ("ConfigMap", "DaemonSet", "spec/template/spec/containers/env/valueFrom/configMapKeyRef/name"),
    ("ConfigMap", "DaemonSet", "spec/template/spec/initContainers/env/valueFrom/configMapKeyRef/name"),
    ("ConfigMap", "DaemonSet", "spec/template/spec/containers/envFrom/configMapRef/name"),
    ("ConfigMap", "DaemonSet", "spec/template/spec/initContainers/envFrom/configMapRef/name"),
    ("ConfigMap", "DaemonSet", "spec/template/spec/volumes/projected/sources/configMap/name"),
    ("ConfigMap", "StatefulSet", "spec/template/spec/volumes/configMap/name"),
    ("ConfigMap", "StatefulSet", "spec/template/spec/containers/env/valueFrom/configMapKeyRef/name"),
    ("ConfigMap", "StatefulSet", "spec/template/spec/initContainers/env/valueFrom/configMapKeyRef/name"),
    ("ConfigMap", "StatefulSet", "spec/template/spec/containers/envFrom/configMapRef/name"),
    ("ConfigMap", "StatefulSet", "spec/template/spec/initContainers/envFrom/configMapRef/name"),
    ("ConfigMap", "StatefulSet", "spec/template/spec/volumes/projected/sources/configMap/name"),
    ("ConfigMap", "Job", "spec/template/spec/volumes/configMap/name"),
    ("ConfigMap", "Job", "spec/template/spec/containers/env/valueFrom/configMapKeyRef/name"),
    ("ConfigMap", "Job", "spec/template/spec/initContainers/env/valueFrom/configMapKeyRef/name"),
    ("ConfigMap", "Job", "spec/template/spec/containers/envFrom/configMapRef/name"),
    ("ConfigMap", "Job", "spec/template/spec/initContainers/envFrom/configMapRef/name"),
    ("ConfigMap", "Job", "spec/template/spec/volumes/projected/sources/configMap/name"),
    ("ConfigMap", "CronJob", "spec/jobTemplate/spec/template/spec/volumes/configMap/name"),
    ("ConfigMap", "CronJob", "spec/jobTemplate/spec/template/spec/volumes/projected/sources/configMap/name"),
    ("ConfigMap", "CronJob", "spec/jobTemplate/spec/template/spec/containers/env/valueFrom/configMapKeyRef/name"),
    ("ConfigMap", "CronJob", "spec/jobTemplate/spec/template/spec/initContainers/env/valueFrom/configMapKeyRef/name"),
    ("ConfigMap", "CronJob", "spec/jobTemplate/spec/template/spec/containers/envFrom/configMapRef/name"),
    ("ConfigMap", "CronJob", "spec/jobTemplate/spec/template/spec/initContainers/envFrom/configMapRef/name"),
    ("ConfigMap", "Node", "spec/configSource/configMap"),
    ("ConfigMap", "Role", "rules/resourceNames"),
    ("ConfigMap", "ClusterRole", "rules/resourceNames"),
    ("ConfigMap", "Ingress", "metadata/annotations/nginx.ingress.kubernetes.io\\/fastcgi-params-configmap"),
    ("Secret", "Pod", "spec/volumes/secret/secretName"),
    ("Secret", "Pod", "spec/containers/env/valueFrom/secretKeyRef/name"),
    ("Secret", "Pod", "spec/initContainers/env/valueFrom/secretKeyRef/name"),
    ("Secret", "Pod", "spec/containers/envFrom/secretRef/name"),
    ("Secret", "Pod", "spec/initContainers/envFrom/secretRef/name"),
    ("Secret", "Pod", "spec/imagePullSecrets/name"),
    ("Secret", "Pod", "spec/volumes/projected/sources/secret/name"),
    ("Secret", "PodTemplate", "template/spec/volumes/secret/secretName"),
    ("Secret", "PodTemplate", "template/spec/containers/env/valueFrom/secretKeyRef/name"),
    ("Secret", "PodTemplate", "template/spec/initContainers/env/valueFrom/secretKeyRef/name"),
    ("Secret", "PodTemplate", "template/spec/containers/envFrom/secretRef/name"),
    ("Secret", "PodTemplate", "template/spec/initContainers/envFrom/secretRef/name"),
    ("Secret", "PodTemplate", "template/spec/imagePullSecrets/name"),
    ("Secret", "PodTemplate", "template/spec/volumes/projected/sources/secret/name"),
    ("Secret", "Deployment", "spec/template/spec/volumes/secret/secretName"),
    ("Secret", "Deployment", "spec/template/spec/containers/env/valueFrom/secretKeyRef/name"),
    ("Secret", "Deployment", "spec/template/spec/initContainers/env/valueFrom/secretKeyRef/name"),
    ("Secret", "Deployment", "spec/template/spec/containers/envFrom/secretRef/name"),
    ("Secret", "Deployment", "spec/template/spec/initContainers/envFrom/secretRef/name"),
    ("Secret", "Deployment", "spec/template/spec/imagePullSecrets/name"),
    ("Secret", "Deployment", "spec/template/spec/volumes/projected/sources/secret/name"),
    ("Secret", "ReplicaSet", "spec/template/spec/volumes/secret/secretName"),
    ("Secret", "ReplicaSet", "spec/template/spec/containers/env/valueFrom/secretKeyRef/name"),
    ("Secret", "ReplicaSet", "spec/template/spec/initContainers/env/valueFrom/secretKeyRef/name"),
    ("Secret", "ReplicaSet", "spec/template/spec/containers/envFrom/secretRef/name"),
    ("Secret", "ReplicaSet", "spec/template/spec/initContainers/envFrom/secretRef/name"),
    ("Secret", "ReplicaSet", "spec/template/spec/imagePullSecrets/name"),
    ("Secret", "ReplicaSet", "spec/template/spec/volumes/projected/sources/secret/name"),
    ("Secret", "DaemonSet", "spec/template/spec/volumes/secret/secretName"),
    ("Secret", "DaemonSet", "spec/template/spec/containers/env/valueFrom/secretKeyRef/name"),
    ("Secret", "DaemonSet", "spec/template/spec/initContainers/env/valueFrom/secretKeyRef/name"),
    ("Secret", "DaemonSet", "spec/template/spec/containers/envFrom/secretRef/name"),
    ("Secret", "DaemonSet", "spec/template/spec/initContainers/envFrom/secretRef/name"),
    ("Secret", "DaemonSet", "spec/template/spec/imagePullSecrets/name"),
    ("Secret", "DaemonSet", "spec/template/spec/volumes/projected/sources/secret/name"),
    ("Secret", "StatefulSet", "spec/template/spec/volumes/secret/secretName"),
    ("Secret", "StatefulSet", "spec/template/spec/containers/env/valueFrom/secretKeyRef/name"),
    ("Secret", "StatefulSet", "spec/template/spec/initContainers/env/valueFrom/secretKeyRef/name"),
    ("Secret", "StatefulSet", "spec/template/spec/containers/envFrom/secretRef/name"),
    ("Secret", "StatefulSet", "spec/template/spec/initContainers/envFrom/secretRef/name"),
    ("Secret", "StatefulSet", "spec/template/spec/imagePullSecrets/name"),
    ("Secret", "StatefulSet", "spec/template/spec/volumes/projected/sources/secret/name"),
    ("Secret", "Job", "spec/template/spec/volumes/secret/secretName"),
    ("Secret", "Job", "spec/template/spec/containers/env/valueFrom/secretKeyRef/name"),
    ("Secret", "Job", "spec/template/spec/initContainers/env/valueFrom/secretKeyRef/name"),
    ("Secret", "Job", "spec/template/spec/containers/envFrom/secretRef/name"),
    ("Secret", "Job", "spec/template/spec/initContainers/envFrom/secretRef/name"),
    ("Secret", "Job", "spec/template/spec/imagePullSecrets/name"),
    ("Secret", "Job", "spec/template/spec/volumes/projected/sources/secret/name"),
    ("Secret", "CronJob", "spec/jobTemplate/spec/template/spec/volumes/secret/secretName"),
    ("Secret", "CronJob", "spec/jobTemplate/spec/template/spec/volumes/projected/sources/secret/name"),
    ("Secret", "CronJob", "spec/jobTemplate/spec/template/spec/containers/env/valueFrom/secretKeyRef/name"),
    ("Secret", "CronJob", "spec/jobTemplate/spec/template/spec/initContainers/env/valueFrom/secretKeyRef/name"),
    ("Secret", "CronJob", "spec/jobTemplate/spec/template/spec/containers/envFrom/secretRef/name"),
    ("Secret", "CronJob", "spec/jobTemplate/spec/template/spec/initContainers/envFrom/secretRef/name"),
    ("Secret", "CronJob", "spec/jobTemplate/spec/template/spec/imagePullSecrets/name"),
    ("Secret", "Ingress", "spec/tls/secretName"),
    ("Secret", "Ingress", "metadata/annotations/ingress.kubernetes.io\\/auth-secret"),
    ("Secret", "Ingress", "metadata/annotations/nginx.ingress.kubernetes.io\\/auth-secret"),
    ("Secret", "Ingress", "metadata/annotations/nginx.ingress.kubernetes.io\\/auth-tls-secret"),
    ("Secret", "ServiceAccount", "imagePullSecrets/name"),
    ("Secret", "StorageClass", "parameters/secretName"),
    ("Secret", "StorageClass", "parameters/adminSecretName"),
    ("Secret", "StorageClass", "parameters/userSecretName"),
    ("Secret", "StorageClass", "parameters/secretRef"),
    ("Secret", "Role", "rules/resourceNames"),
    ("Secret", "ClusterRole", "rules/resourceNames"),
    ("Secret", "Service", "spec/template/spec/containers/env/valueFrom/secretKeyRef/name"),
    ("Secret", "PersistentVolume", "spec/azureFile/secretName"),
    ("Service", "StatefulSet", "spec/serviceName"),
    ("Service", "Ingress", "spec/rules/http/paths/backend/serviceName"),
    ("Service", "Ingress", "spec/backend/serviceName"),
    ("Service", "Ingress", "spec/rules/http/paths/backend/service/name"),
    ("Service", "Ingress", "spec/defaultBackend/service/name"),
    ("Service", "APIService", "spec/service/name"),
    ("Service", "ValidatingWebhookConfiguration", "webhooks/clientConfig/service"),
    ("Service", "MutatingWebhookConfiguration", "webhooks/clientConfig/service"),
    ("Role", "RoleBinding", "roleRef/name"),
    ("ClusterRole", "RoleBinding", "roleRef/name"),
    ("ClusterRole", "ClusterRoleBinding", "roleRef/name"),
    ("ServiceAccount", "RoleBinding", "subjects"),
    ("ServiceAccount", "ClusterRoleBinding", "subjects"),
    ("ServiceAccount", "Pod", "spec/serviceAccountName"),
    ("ServiceAccount", "StatefulSet", "spec/template/spec/serviceAccountName"),
    ("ServiceAccount", "Deployment", "spec/template/spec/serviceAccountName"),
    ("ServiceAccount", "ReplicationController", "spec/template/spec/serviceAccountName"),
    ("ServiceAccount", "CronJob", "spec/jobTemplate/spec/template/spec/serviceAccountName"),
    ("ServiceAccount", "Job", "spec/template/spec/serviceAccountName"),
    ("ServiceAccount", "DaemonSet", "spec/template/spec/serviceAccountName"),
    ("PersistentVolumeClaim", "Pod", "spec/volumes/persistentVolumeClaim/claimName"),
    ("PersistentVolumeClaim", "StatefulSet", "spec/template/spec/volumes/persistentVolumeClaim/claimName"),
    ("PersistentVolumeClaim", "Deployment", "spec/template/spec/volumes/persistentVolumeClaim/claimName"),
    ("PersistentVolumeClaim", "ReplicationController", "spec/template/spec/volumes/persistentVolumeClaim/claimName"),
    ("PersistentVolumeClaim", "CronJob", "spec/jobTemplate/spec/template/spec/volumes/persistentVolumeClaim/claimName"),
    ("PersistentVolumeClaim", "Job", "spec/template/spec/volumes/persistentVolumeClaim/claimName"),
    ("PersistentVolumeClaim", "DaemonSet", "spec/template/spec/volumes/persistentVolumeClaim/claimName"),
    ("PersistentVolume", "PersistentVolumeClaim", "spec/volumeName"),
    ("PersistentVolume", "ClusterRole", "rules/resourceNames"),
    ("StorageClass", "PersistentVolume", "spec/storageClassName"),
    ("StorageClass", "PersistentVolumeClaim", "spec/storageClassName"),
    ("StorageClass", "StatefulSet", "spec/volumeClaimTemplates/spec/storageClassName"),
    ("PriorityClass", "Pod", "spec/priorityClassName"),
    ("PriorityClass", "StatefulSet", "spec/template/spec/priorityClassName"),
    ("PriorityClass", "Deployment", "spec/template/spec/priorityClassName"),
    ("PriorityClass", "ReplicationController", "spec/template/spec/priorityClassName"),
    ("PriorityClass", "CronJob", "spec/jobTemplate/spec/template/spec/priorityClassName"),
    ("PriorityClass", "Job", "spec/template/spec/priorityClassName"),
    ("PriorityClass", "DaemonSet", "spec/template/spec/priorityClassName"),
    ("IngressClass", "Ingress", "spec/ingressClassName"),
    ("ValidatingAdmissionPolicy", "ValidatingAdmissionPolicyBinding", "spec/policyName"),
];
