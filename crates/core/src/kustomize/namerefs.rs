//! Name references: after prefixes, suffixes and hashes changed names, the fields that name
//! another object (a ConfigMap in a volume, a ServiceAccount in a pod, a Role in a binding…)
//! are updated to the referenced object's final name, as kustomize's `nameReference` does.

use serde_json::Value;

use super::config::{Config, NameReference};
use super::resource::{Gvk, Resource, visit};

/// kustomize 5.5's nameReference field specs: (referenced kind, referrer kind, path).
pub(crate) const REFERENCES: &[(&str, &str, &str)] = &[
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

/// Updates every reference in `res` to the final names, at the fields `config` names.
pub fn fix(res: &mut [Resource], config: &Config) {
    let index = Index::new(res);
    for r in res.iter_mut() {
        let gvk = r.gvk();
        let ns = r.namespace().to_string();
        let cluster_scoped = gvk.is_cluster_scoped();
        let update = |referral: &NameReference, path: &str, object: &mut Value| {
            visit(object, path, false, &mut |v| {
                // A leaf is a name, or a list of names (`rules/resourceNames`).
                let names: Vec<&mut Value> = match v {
                    Value::Array(items) => items.iter_mut().collect(),
                    other => vec![other],
                };
                for v in names {
                    if let Value::String(name) = v
                        && let Some(new) = lookup(&index, referral, name, &ns, cluster_scoped)
                    {
                        *name = new;
                    }
                }
            });
        };
        for referral in &config.name_reference {
            for spec in referral.field_specs.iter().filter(|s| s.applies_to(&gvk)) {
                // Bindings name their role by kind too, and subjects and webhook services carry
                // a namespace: those are handled below with that knowledge.
                let path = spec.path.as_str();
                let special = path.starts_with("roleRef")
                    || path.starts_with("subjects")
                    || path == "webhooks/clientConfig/service";
                if !special {
                    update(referral, path, &mut r.object);
                }
            }
        }
        if matches!(gvk.kind.as_str(), "RoleBinding" | "ClusterRoleBinding") {
            let role_kind = r.object.pointer("/roleRef/kind").and_then(Value::as_str).unwrap_or_default().to_string();
            if matches!(role_kind.as_str(), "Role" | "ClusterRole") {
                let referral = NameReference { group: None, version: None, kind: role_kind, field_specs: Vec::new() };
                update(&referral, "roleRef/name", &mut r.object);
            }
            // A subject without a namespace is in the binding's namespace (any it had).
            let binding_namespaces: Vec<String> = std::iter::once(r.namespace().to_string())
                .chain(r.previous.iter().map(|(n, _)| n.clone()))
                .map(|n| effective(&n).to_string())
                .collect();
            if let Some(Value::Array(subjects)) = r.object.get_mut("subjects") {
                for s in subjects.iter_mut().filter_map(Value::as_object_mut) {
                    if s.get("kind").and_then(Value::as_str) != Some("ServiceAccount") {
                        continue;
                    }
                    // A subject names a ServiceAccount by name and namespace (none is
                    // `default`); it follows the account's final name and namespace.
                    let name = s.get("name").and_then(Value::as_str).unwrap_or_default().to_string();
                    let subject_namespaces: Vec<String> = match s.get("namespace").and_then(Value::as_str) {
                        Some(n) => vec![effective(n).to_string()],
                        None => binding_namespaces.clone(),
                    };
                    let found = index.named("ServiceAccount", &name).find(|c| {
                        std::iter::once((&c.namespace, &c.name))
                            .chain(c.history.iter().map(|(n, m)| (n, m)))
                            .any(|(n, m)| *m == name && subject_namespaces.iter().any(|s| s == effective(n)))
                    });
                    // An account that was never renamed or moved leaves its subjects as written.
                    if let Some(c) = found.filter(|c| !c.history.is_empty()) {
                        s.insert("name".into(), Value::String(c.name.clone()));
                        if !c.namespace.is_empty() {
                            s.insert("namespace".into(), Value::String(c.namespace.clone()));
                        }
                    }
                }
            }
        }
        if matches!(gvk.kind.as_str(), "ValidatingWebhookConfiguration" | "MutatingWebhookConfiguration")
            && let Some(Value::Array(hooks)) = r.object.get_mut("webhooks")
        {
            for hook in hooks {
                let Some(service) = hook.pointer_mut("/clientConfig/service").and_then(Value::as_object_mut) else {
                    continue;
                };
                let name = service.get("name").and_then(Value::as_str).unwrap_or_default().to_string();
                let svc_ns = service.get("namespace").and_then(Value::as_str).unwrap_or_default().to_string();
                let found = index
                    .named("Service", &name)
                    .find(|c| c.was_named(&name) && (svc_ns.is_empty() || svc_ns == "default" || c.was_in(&svc_ns)));
                if let Some(c) = found {
                    service.insert("name".into(), Value::String(c.name.clone()));
                    if !c.namespace.is_empty() {
                        service.insert("namespace".into(), Value::String(c.namespace.clone()));
                    }
                }
            }
        }
    }
}

/// kustomize compares namespaces with no namespace meaning `default`.
fn effective(ns: &str) -> &str {
    if ns.is_empty() { "default" } else { ns }
}

struct Candidate {
    gvk: Gvk,
    namespace: String,
    name: String,
    history: Vec<(String, String)>,
}

impl Candidate {
    fn was_named(&self, name: &str) -> bool {
        self.name == name || self.history.iter().any(|(_, n)| n == name)
    }

    fn was_in(&self, ns: &str) -> bool {
        self.namespace == ns || self.history.iter().any(|(n, _)| n == ns)
    }
}

/// The referral candidates, found by kind and any name they ever had: a build of ten thousand
/// objects must not compare every reference with every object.
struct Index {
    candidates: Vec<Candidate>,
    by_name: std::collections::HashMap<(String, String), Vec<usize>>,
}

impl Index {
    fn new(res: &[Resource]) -> Index {
        let candidates: Vec<Candidate> = res
            .iter()
            .map(|r| Candidate {
                gvk: r.gvk(),
                namespace: r.namespace().to_string(),
                name: r.name().to_string(),
                history: r.previous.iter().map(|(ns, n)| (ns.clone(), n.clone())).collect(),
            })
            .collect();
        let mut by_name: std::collections::HashMap<(String, String), Vec<usize>> = std::collections::HashMap::new();
        for (i, c) in candidates.iter().enumerate() {
            let mut names: Vec<&String> = std::iter::once(&c.name).chain(c.history.iter().map(|(_, n)| n)).collect();
            names.sort();
            names.dedup();
            for n in names {
                by_name.entry((c.gvk.kind.clone(), n.clone())).or_default().push(i);
            }
        }
        Index { candidates, by_name }
    }

    /// The `kind` objects that were ever called `name`, in build order.
    fn named<'a>(&'a self, kind: &str, name: &str) -> impl Iterator<Item = &'a Candidate> + 'a {
        self.by_name.get(&(kind.to_string(), name.to_string())).into_iter().flatten().map(|&i| &self.candidates[i])
    }
}

/// The final name of the `referral` object once called `name`, seen from namespace `ns`.
fn lookup(index: &Index, referral: &NameReference, name: &str, ns: &str, from_cluster_scope: bool) -> Option<String> {
    let hits: Vec<&Candidate> = index
        .named(&referral.kind, name)
        .filter(|c| referral.refers_to(&c.gvk))
        .filter(|c| from_cluster_scope || c.gvk.is_cluster_scoped() || c.namespace == ns)
        .collect();
    match hits.as_slice() {
        [] => None,
        [one] => Some(one.name.clone()),
        many => many.iter().find(|c| c.history.first().is_some_and(|(_, n)| n == name)).map(|c| c.name.clone()),
    }
}
