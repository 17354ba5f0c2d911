//! Name references: after prefixes, suffixes and hashes changed names, the fields that name
//! another object (a ConfigMap in a volume, a ServiceAccount in a pod, a Role in a binding…)
//! are updated to the referenced object's final name, as kustomize's `nameReference` does.

use serde_json::Value;

use std::collections::HashMap;

use super::config::{Config, NameReference};
use super::resource::{Gvk, Resource, visit};

/// Updates every reference in `res` to the final names, at the fields `config` names, as
/// kustomize's name reference transformer does: for each referrer, each field its kind has
/// (in config order), the one candidate that was ever called the name written there.
pub fn fix(res: &mut [Resource], config: &Config) -> Result<(), String> {
    let candidates: Vec<Candidate> = res.iter().map(Candidate::of).collect();
    let mut by_name: HashMap<&str, Vec<usize>> = HashMap::new();
    for (i, c) in candidates.iter().enumerate() {
        let mut names: Vec<&str> = c.ids.iter().map(|(_, n)| n.as_str()).collect();
        names.sort_unstable();
        names.dedup();
        for n in names {
            by_name.entry(n).or_default().push(i);
        }
    }
    for (at, r) in res.iter_mut().enumerate() {
        let referrer = &candidates[at];
        let subset = Subset::of(referrer, &r.object);
        // A binding's roleRef says which kind of role its name is (read before any update).
        let role =
            |field: &str| r.object.pointer(&format!("/roleRef/{field}")).and_then(Value::as_str).map(str::to_string);
        let role = role("apiGroup").zip(role("kind"));
        for referral in &config.name_reference {
            for spec in referral.field_specs.iter().filter(|s| s.applies_to(&referrer.gvk)) {
                if subset.blank_subject_namespace && has_field(&r.object, &spec.path) {
                    // kustomize works out the subset only for a referrer with a field to
                    // update, and fails there.
                    return Err(format!(
                        "namespace is blank for resource {}: a ServiceAccount subject's namespace is empty or not a string",
                        Resource::new(r.object.clone()).id()
                    ));
                }
                let find = Find {
                    referral,
                    path: &spec.path,
                    referrer,
                    subset: &subset,
                    candidates: &candidates,
                    by_name: &by_name,
                    role: role.as_ref(),
                };
                let mut error = None;
                visit(&mut r.object, &spec.path, false, &mut |v| {
                    if error.is_some() {
                        return;
                    }
                    let outcome = match v {
                        Value::Array(items) => items.iter_mut().try_for_each(|item| find.set(item)),
                        other => find.set(other),
                    };
                    if let Err(e) = outcome {
                        error = Some(e);
                    }
                });
                if let Some(e) = error {
                    return Err(format!(
                        "updating name reference in '{}' field of {}: {e}",
                        spec.path,
                        Resource::new(r.object.clone()).id()
                    ));
                }
            }
        }
    }
    Ok(())
}

/// kustomize's effective namespace: none means `default`.
fn effective(ns: &str) -> &str {
    if ns.is_empty() { "default" } else { ns }
}

/// What name references need to know of a resource, taken before any reference changes.
struct Candidate {
    gvk: Gvk,
    cluster_scoped: bool,
    namespace: String,
    name: String,
    /// The original namespace.
    original_namespace: String,
    /// Every (namespace, name) it had before the current one (kustomize's `PrevIds`).
    ids: Vec<(String, String)>,
    prefixes: Vec<String>,
    suffixes: Vec<String>,
}

impl Candidate {
    fn of(r: &Resource) -> Candidate {
        let gvk = r.gvk();
        let cluster_scoped = gvk.is_cluster_scoped();
        // Only earlier ids: a resource never renamed or moved is never a referral to fix.
        let ids = r.previous.clone();
        Candidate {
            gvk,
            cluster_scoped,
            namespace: r.namespace().to_string(),
            name: r.name().to_string(),
            original_namespace: r.original().0.to_string(),
            ids,
            prefixes: r.prefixes.clone(),
            suffixes: r.suffixes.clone(),
        }
    }

    fn ns_equals(&self, other: &Candidate) -> bool {
        effective(&self.namespace) == effective(&other.namespace)
    }
}

/// The resources a referrer could refer to at all (kustomize's
/// `SubsetThatCouldBeReferencedByResource`): anything from a cluster-scoped referrer;
/// otherwise cluster-scoped ones, those in its namespace, and for a RoleBinding those in the
/// namespaces its ServiceAccount subjects name.
struct Subset {
    all: bool,
    namespace: String,
    binding_namespaces: Vec<String>,
    /// A RoleBinding's ServiceAccount subject has a `namespace` that is not a string (left
    /// empty, it reads as null), which kustomize refuses.
    blank_subject_namespace: bool,
}

impl Subset {
    fn of(referrer: &Candidate, object: &Value) -> Subset {
        let mut binding_namespaces = Vec::new();
        let mut blank_subject_namespace = false;
        if referrer.gvk.kind == "RoleBinding"
            && let Some(Value::Array(subjects)) = object.get("subjects")
        {
            for s in subjects {
                if s.get("kind").and_then(Value::as_str) == Some("ServiceAccount") {
                    match s.get("namespace") {
                        Some(Value::String(ns)) => binding_namespaces.push(ns.clone()),
                        Some(_) => blank_subject_namespace = true,
                        None => {}
                    }
                }
            }
        }
        Subset {
            all: referrer.cluster_scoped,
            namespace: referrer.namespace.clone(),
            binding_namespaces,
            blank_subject_namespace,
        }
    }

    fn contains(&self, c: &Candidate) -> bool {
        self.all
            || c.cluster_scoped
            || effective(&c.namespace) == effective(&self.namespace)
            || self.binding_namespaces.contains(&c.namespace)
    }
}

/// Whether `object` has the field at the start of `path` (kustomize's `resHasField`, which
/// decides whether a referrer is looked at at all).
fn has_field(object: &Value, path: &str) -> bool {
    let first = path.split('/').next().unwrap_or_default();
    object.get(first).is_some()
}

/// One field spec of one referrer, being updated.
struct Find<'a> {
    referral: &'a NameReference,
    path: &'a str,
    referrer: &'a Candidate,
    subset: &'a Subset,
    candidates: &'a [Candidate],
    by_name: &'a HashMap<&'a str, Vec<usize>>,
    /// The group and kind a binding's `roleRef` names.
    role: Option<&'a (String, String)>,
}

impl Find<'_> {
    /// Updates a name (a string) or a `{name, namespace}` mapping; anything else is left alone.
    fn set(&self, v: &mut Value) -> Result<(), String> {
        match v {
            Value::String(name) => {
                let pool: Vec<&Candidate> = self.pool(name).filter(|c| self.subset.contains(c)).collect();
                if let Some(c) = self.select(name, pool, false)?
                    && c.name != *name
                {
                    *name = c.name.clone();
                }
                Ok(())
            }
            Value::Object(map) => {
                let Some(Value::String(old)) = map.get("name") else {
                    return Err("path config error; no 'name' field in node".into());
                };
                let old = old.clone();
                let in_subset: Vec<&Candidate> = self.candidates.iter().filter(|c| self.subset.contains(c)).collect();
                // A namespace in the mapping picks the candidates first in that original
                // namespace, or else those now in it.
                let pool: Vec<&Candidate> = match map.get("namespace").and_then(Value::as_str) {
                    None => self.pool(&old).filter(|c| self.subset.contains(c)).collect(),
                    Some(ns) => {
                        let originally = |c: &&Candidate| !c.cluster_scoped && effective(&c.original_namespace) == ns;
                        let now = |c: &&Candidate| !c.cluster_scoped && effective(&c.namespace) == ns;
                        let group: Vec<&Candidate> = if in_subset.iter().any(originally) {
                            in_subset.into_iter().filter(originally).collect()
                        } else {
                            in_subset.into_iter().filter(now).collect()
                        };
                        group.into_iter().filter(|c| c.ids.iter().any(|(_, n)| *n == old)).collect()
                    }
                };
                let Some(c) = self.select(&old, pool, true)? else { return Ok(()) };
                if c.name == old && c.namespace.is_empty() {
                    return Ok(());
                }
                map.insert("name".into(), Value::String(c.name.clone()));
                if !c.namespace.is_empty() {
                    map.insert("namespace".into(), Value::String(c.namespace.clone()));
                }
                Ok(())
            }
            _ => Ok(()),
        }
    }

    /// The candidates that were ever called `name`.
    fn pool<'c>(&'c self, name: &str) -> impl Iterator<Item = &'c Candidate> + 'c {
        self.by_name.get(name).into_iter().flatten().map(|&i| &self.candidates[i])
    }

    /// kustomize's `selectReferral`: of the candidates once called `old`, those of the referral
    /// kind, of the role a `roleRef` names, and visible from the referrer's namespace; one of
    /// them, or the one whose prefixes and suffixes end like the referrer's, or the first of
    /// equal ones. Several different ones are an error.
    fn select<'c>(
        &self,
        old: &str,
        pool: Vec<&'c Candidate>,
        with_namespace: bool,
    ) -> Result<Option<&'c Candidate>, String> {
        let role = self.path.ends_with("roleRef/name").then_some(self.role);
        let mut hits: Vec<&Candidate> = pool
            .into_iter()
            .filter(|c| c.ids.iter().any(|(_, n)| n == old))
            .filter(|c| self.referral.refers_to(&c.gvk))
            .filter(|c| match role {
                Some(Some((group, kind))) => c.gvk.group == *group && c.gvk.kind == *kind,
                _ => true,
            })
            .filter(|c| {
                self.referrer.cluster_scoped
                    || c.cluster_scoped
                    || c.gvk.kind == "ServiceAccount"
                    || self.referrer.ns_equals(c)
            })
            .collect();
        if hits.len() == 1 {
            return Ok(hits.pop());
        }
        let same_affixes = |c: &&Candidate| {
            same_ending(&c.prefixes, &self.referrer.prefixes) && same_ending(&c.suffixes, &self.referrer.suffixes)
        };
        let affixed: Vec<&Candidate> = hits.iter().copied().filter(same_affixes).collect();
        match affixed.as_slice() {
            [] => return Ok(None),
            [one] => return Ok(Some(*one)),
            _ => {}
        }
        hits = affixed;
        let first = hits[0];
        let identical =
            hits.iter().all(|c| c.name == first.name && (!with_namespace || c.namespace == first.namespace));
        if identical {
            return Ok(Some(first));
        }
        let ids: Vec<String> = hits
            .iter()
            .map(|c| {
                if c.namespace.is_empty() {
                    format!("{} {}", c.gvk.kind, c.name)
                } else {
                    format!("{} {}/{}", c.gvk.kind, c.namespace, c.name)
                }
            })
            .collect();
        Err(format!("found multiple possible referrals: {}", ids.join(", ")))
    }
}

/// kustomize's `SameEndingSubSlice`: whether the shorter list is how the longer one ends (two
/// empty lists do; an empty and a non-empty one do not).
fn same_ending(a: &[String], b: &[String]) -> bool {
    let (short, long) = if a.len() <= b.len() { (a, b) } else { (b, a) };
    if short.is_empty() {
        return long.is_empty();
    }
    long.ends_with(short)
}
