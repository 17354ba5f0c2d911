//! What one placement renders for one cluster: the source rendered as kustomize would, then the
//! placement's namespace default, its per-cluster `customizations`, and `${cluster.*}`
//! substitution, named by a digest. Pure: the sources are snapshots the caller fetched.

use serde_json::Value;

use crate::digest::Digest;
use crate::fleet::{ClusterIdentity, Placement};
use crate::kustomize;
use crate::kustomize::resource::Gvk;
use crate::snapshot::Snapshot;

/// The objects a placement renders for a cluster, in apply order, and their digest.
#[derive(Debug, Clone, PartialEq)]
pub struct Rendered {
    pub placement: String,
    pub objects: Vec<Value>,
    pub digest: Digest,
}

/// Why a placement could not be rendered for a cluster.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    #[error("placement {placement}: source {repository}:{path}: {source}")]
    Source { placement: String, repository: String, path: String, source: Box<kustomize::Error> },
    #[error("placement {placement} ({file}): field {field}: {message}")]
    Customization { placement: String, file: String, field: String, message: String },
    #[error("placement {placement} ({file}): field spec.substitute: {object}: {message}")]
    Substitution { placement: String, file: String, object: String, message: String },
}

/// Renders `placement` from `source` (the snapshot of its source repository at the commit to
/// apply) for the cluster `identity`.
pub fn render(placement: &Placement, source: &Snapshot, identity: &ClusterIdentity) -> Result<Rendered, Error> {
    let spec = &placement.spec;
    let mut objects = kustomize::build(source, &spec.source.path).map_err(|e| Error::Source {
        placement: placement.name().to_string(),
        repository: spec.source.repository.clone(),
        path: spec.source.path.clone(),
        source: Box::new(e),
    })?;
    if let Some(ns) = &spec.namespace {
        for o in &mut objects {
            default_namespace(o, ns);
        }
    }
    for (c, customization) in spec.customizations.iter().enumerate() {
        if !customization.clusters.matches(&identity.labels) {
            continue;
        }
        for (p, patch) in customization.patches.iter().enumerate() {
            let field = format!("spec.customizations[{c}].patches[{p}]");
            let fail = |message: String| Error::Customization {
                placement: placement.name().to_string(),
                file: placement.file.clone(),
                field: field.clone(),
                message,
            };
            let changed =
                kustomize::apply_inline_patch(&mut objects, &patch.patch, patch.target.as_ref()).map_err(fail)?;
            if changed == 0 {
                return Err(fail("the patch matches no rendered object".into()));
            }
        }
    }
    if spec.substitute {
        for o in &mut objects {
            let id = object_id(o);
            substitute(o, identity).map_err(|message| Error::Substitution {
                placement: placement.name().to_string(),
                file: placement.file.clone(),
                object: id,
                message,
            })?;
        }
    }
    let digest = Digest::of_objects(&objects);
    Ok(Rendered { placement: placement.name().to_string(), objects, digest })
}

fn object_id(o: &Value) -> String {
    let kind = o.get("kind").and_then(Value::as_str).unwrap_or_default();
    let name = o.pointer("/metadata/name").and_then(Value::as_str).unwrap_or_default();
    match o.pointer("/metadata/namespace").and_then(Value::as_str) {
        Some(ns) => format!("{kind} {ns}/{name}"),
        None => format!("{kind} {name}"),
    }
}

fn default_namespace(o: &mut Value, ns: &str) {
    if Gvk::of(o).is_cluster_scoped() || o.pointer("/metadata/namespace").is_some() {
        return;
    }
    if let Some(md) = o.get_mut("metadata").and_then(Value::as_object_mut) {
        md.insert("namespace".into(), Value::String(ns.to_string()));
    }
}

/// Replaces `${cluster.name}`, `${cluster.environment}` and `${cluster.labels.KEY}` in every
/// string (keys included); `$${…}` stands for a literal `${…}`. Other `${…}` are left alone, so
/// configuration that a program expands at run time (`${NODE_NAME}`) passes through.
fn substitute(value: &mut Value, identity: &ClusterIdentity) -> Result<(), String> {
    match value {
        Value::String(s) if s.contains("${") => *s = substitute_str(s, identity)?,
        Value::Array(items) => {
            for item in items {
                substitute(item, identity)?;
            }
        }
        Value::Object(map) => {
            let entries = std::mem::take(map);
            for (k, mut v) in entries {
                substitute(&mut v, identity)?;
                let k = if k.contains("${") { substitute_str(&k, identity)? } else { k };
                map.insert(k, v);
            }
        }
        _ => {}
    }
    Ok(())
}

fn substitute_str(s: &str, identity: &ClusterIdentity) -> Result<String, String> {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find("${") {
        let escaped = rest[..i].ends_with('$');
        let Some(end) = rest[i..].find('}') else {
            break;
        };
        let name = &rest[i + 2..i + end];
        if escaped {
            out.push_str(&rest[..i - 1]);
            out.push_str(&rest[i..=i + end]);
        } else {
            out.push_str(&rest[..i]);
            match resolve(name, identity) {
                Some(v) => out.push_str(&v),
                None if name.starts_with("cluster.") => {
                    return Err(format!("${{{name}}} is not defined for cluster {}", identity.name));
                }
                None => out.push_str(&rest[i..=i + end]),
            }
        }
        rest = &rest[i + end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

fn resolve(name: &str, identity: &ClusterIdentity) -> Option<String> {
    match name {
        "cluster.name" => Some(identity.name.clone()),
        "cluster.environment" => Some(identity.environment.clone()),
        _ => name.strip_prefix("cluster.labels.").and_then(|k| identity.labels.get(k).cloned()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fleet::Fleet;
    use crate::selector::parse_labels;

    fn identity() -> ClusterIdentity {
        ClusterIdentity {
            name: "store-0042".into(),
            environment: "prod".into(),
            labels: parse_labels("kind=store,region=eu").unwrap(),
        }
    }

    #[test]
    fn substitution_replaces_cluster_variables_and_keeps_escapes() {
        let got = substitute_str(
            "a-${cluster.name}-${cluster.labels.region}-${cluster.environment} $${cluster.name} ${HOME}",
            &identity(),
        );
        assert_eq!(got.unwrap(), "a-store-0042-eu-prod ${cluster.name} ${HOME}");
        let err = substitute_str("${cluster.labels.nope}", &identity()).unwrap_err();
        assert!(err.contains("${cluster.labels.nope} is not defined for cluster store-0042"), "{err}");
    }

    fn placement(extra: &str) -> (Placement, Snapshot) {
        let mut fleet = Snapshot::new();
        fleet.insert_file(
            "fleet/p.yaml",
            format!("apiVersion: flotilla.dev/v1alpha1\nkind: Placement\nmetadata: {{name: app}}\nspec:\n  source: {{repository: src, path: app}}\n  clusters: {{}}\n  namespace: bt\n{extra}"),
        );
        let (f, errors) = Fleet::from_snapshot(&fleet);
        assert_eq!(errors, []);
        let mut src = Snapshot::new();
        src.insert_file("app/kustomization.yaml", "resources: [d.yaml]\n");
        src.insert_file(
            "app/d.yaml",
            "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web}\nspec:\n  replicas: 1\n  template:\n    spec:\n      containers:\n      - name: web\n        image: web:1\n        env:\n        - {name: STORE, value: '${cluster.name}'}\n",
        );
        (f.placements[0].clone(), src)
    }

    #[test]
    fn renders_with_namespace_customizations_and_substitution() {
        let (p, src) = placement(
            "  substitute: true\n  customizations:\n  - clusters: {matchLabels: {region: eu}}\n    patches:\n    - target: {kind: Deployment, name: web}\n      patch: |\n        - {op: replace, path: /spec/replicas, value: 2}\n  - clusters: {matchLabels: {region: us}}\n    patches:\n    - patch: |\n        {apiVersion: apps/v1, kind: Deployment, metadata: {name: web}, spec: {replicas: 9}}\n",
        );
        let r = render(&p, &src, &identity()).unwrap();
        assert_eq!(r.objects[0].pointer("/metadata/namespace"), Some(&Value::from("bt")));
        assert_eq!(r.objects[0].pointer("/spec/replicas"), Some(&Value::from(2)));
        assert_eq!(
            r.objects[0].pointer("/spec/template/spec/containers/0/env/0/value"),
            Some(&Value::from("store-0042"))
        );
        assert_eq!(r.digest, Digest::of_objects(&r.objects));
    }

    #[test]
    fn customization_that_matches_nothing_is_an_error() {
        let (p, src) = placement(
            "  customizations:\n  - clusters: {}\n    patches:\n    - target: {kind: Deployment, name: nope}\n      patch: |\n        - {op: replace, path: /spec/replicas, value: 2}\n",
        );
        let err = render(&p, &src, &identity()).unwrap_err().to_string();
        assert_eq!(
            err,
            "placement app (fleet/p.yaml): field spec.customizations[0].patches[0]: the patch matches no rendered object"
        );
    }
}
