//! Strategic merge patch, as kustomize 5 applies it (kyaml's merge2 with the Kubernetes
//! schema's merge keys): mappings merge, `null` deletes a field, lists with a merge key merge
//! element by element, other lists are replaced, and the `$patch: delete|replace` directives
//! and `$deleteFromPrimitiveList`/`$retainKeys`/`$setElementOrder` are honoured.

use serde_json::{Map, Value};

use super::openapi::Schema;
use super::resource::Gvk;

/// How lists merge at some place in an object: not at all (replaced), by the built-in types'
/// merge keys, or as a schema of one's own (`openapi`) says at that node.
#[derive(Clone, Copy)]
enum Lists<'a> {
    Replaced,
    BuiltIn,
    Custom(&'a Schema, Option<&'a Value>),
}

impl<'a> Lists<'a> {
    fn field(self, name: &str) -> Lists<'a> {
        match self {
            Lists::Custom(schema, node) => Lists::Custom(schema, node.and_then(|n| schema.field(n, name))),
            other => other,
        }
    }

    fn items(self) -> Lists<'a> {
        match self {
            Lists::Custom(schema, node) => Lists::Custom(schema, node.and_then(|n| schema.items(n))),
            other => other,
        }
    }

    /// The merge keys of the list `field` (this is the list's place), or `None` to replace it;
    /// `Some([])` merges a list of scalars as a set.
    fn keys(self, field: &str, items: &[&Value]) -> Option<Vec<String>> {
        match self {
            Lists::Replaced => None,
            Lists::BuiltIn if field == "finalizers" => Some(Vec::new()),
            Lists::BuiltIn => {
                let objects = items.iter().all(|i| i.is_object());
                objects
                    .then(|| schema_keys(field, items))
                    .flatten()
                    .map(|k| k.iter().map(|s| (*s).to_string()).collect())
            }
            Lists::Custom(_, node) => node.and_then(super::openapi::list_merge),
        }
    }
}

/// What the patch did to the object as a whole.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Merged,
    /// The patch is `$patch: delete` for the whole object.
    Deleted,
}

/// API groups whose kinds kustomize has a schema for; lists in other kinds (custom resources)
/// are always replaced wholesale.
const SCHEMA_GROUPS: &[&str] = &[
    "",
    "admissionregistration.k8s.io",
    "apiextensions.k8s.io",
    "apiregistration.k8s.io",
    "apps",
    "autoscaling",
    "batch",
    "certificates.k8s.io",
    "coordination.k8s.io",
    "discovery.k8s.io",
    "events.k8s.io",
    "extensions",
    "flowcontrol.apiserver.k8s.io",
    "networking.k8s.io",
    "node.k8s.io",
    "policy",
    "rbac.authorization.k8s.io",
    "scheduling.k8s.io",
    "storage.k8s.io",
];

/// The merge keys of the built-in types' lists, by field name: the primary key, then the
/// secondary list-map keys that must agree too.
fn schema_keys(field: &str, items: &[&Value]) -> Option<&'static [&'static str]> {
    match field {
        "containers"
        | "initContainers"
        | "ephemeralContainers"
        | "env"
        | "volumes"
        | "imagePullSecrets"
        | "schedulingGates"
        | "resourceClaims"
        | "secrets"
        | "webhooks" => Some(&["name"]),
        "volumeMounts" => Some(&["mountPath"]),
        "volumeDevices" => Some(&["devicePath"]),
        "hostAliases" => Some(&["ip"]),
        "topologySpreadConstraints" => Some(&["topologyKey", "whenUnsatisfiable"]),
        "ownerReferences" => Some(&["uid"]),
        "conditions" => Some(&["type"]),
        "ports" if items.iter().any(|i| i.get("containerPort").is_some()) => Some(&["containerPort", "protocol"]),
        "ports" if items.iter().any(|i| i.get("port").is_some()) => Some(&["port", "protocol"]),
        _ => None,
    }
}

/// A strategic merge patch document without the fields that say which object it is for: a
/// patch patches whatever it was matched with, and its own name, kind and namespace do not
/// rename the object.
pub fn body(doc: &Value) -> Value {
    let mut patch = doc.clone();
    if let Some(md) = patch.get_mut("metadata").and_then(Value::as_object_mut) {
        md.remove("name");
        md.remove("namespace");
    }
    if let Some(p) = patch.as_object_mut() {
        p.remove("apiVersion");
        p.remove("kind");
    }
    patch
}

/// Applies a strategic merge `patch` to `object`, whose kind decides which lists merge.
pub fn apply(object: &mut Value, patch: &Value) -> Result<Outcome, String> {
    apply_with(object, patch, None)
}

/// [`apply`], with the lists of every kind merging as `schema` says when there is one.
pub fn apply_with(object: &mut Value, patch: &Value, schema: Option<&Schema>) -> Result<Outcome, String> {
    let Value::Object(p) = patch else {
        return Err("a strategic merge patch must be a mapping".into());
    };
    match p.get("$patch").and_then(Value::as_str) {
        Some("delete") => return Ok(Outcome::Deleted),
        // kustomize 5.5 ignores `$patch: replace` on a whole object: the object stays as it is.
        Some("replace") => return Ok(Outcome::Merged),
        Some("merge") | None => {}
        Some(other) => return Err(format!("unknown $patch directive {other:?}")),
    }
    let lists = if let Some(schema) = schema {
        Lists::Custom(schema, schema.root(&Gvk::of(object)))
    } else if SCHEMA_GROUPS.contains(&Gvk::of(object).group.as_str()) {
        Lists::BuiltIn
    } else {
        Lists::Replaced
    };
    match &mut *object {
        Value::Object(dest) => merge_map(dest, p, lists)?,
        other => *other = strip(patch),
    }
    if !matches!(lists, Lists::Replaced) {
        first_of_each_key(object, lists);
    }
    Ok(Outcome::Merged)
}

/// kyaml's merge walks the whole object, and writing back a list with merge keys keeps one
/// element per key, where the first was, with the last one's value: duplicates a JSON patch
/// appended collapse wherever they are.
fn first_of_each_key(value: &mut Value, lists: Lists<'_>) {
    match value {
        Value::Object(map) => {
            for (field, child) in map.iter_mut() {
                let here = lists.field(field);
                if let Value::Array(items) = child
                    && items.len() > 1
                    && items.iter().all(Value::is_object)
                {
                    let all: Vec<&Value> = items.iter().collect();
                    if let Some(keys) = here.keys(field, &all).filter(|k| !k.is_empty()) {
                        let keys: Vec<&str> = keys.iter().map(String::as_str).collect();
                        let mut kept: Vec<Value> = Vec::with_capacity(items.len());
                        for item in items.drain(..) {
                            match kept.iter_mut().find(|k| matches!(key_match(k, &item, &keys), KeyMatch::Same)) {
                                Some(earlier) => *earlier = item,
                                None => kept.push(item),
                            }
                        }
                        *items = kept;
                    }
                }
                first_of_each_key(child, here);
            }
        }
        Value::Array(items) => {
            let each = lists.items();
            for item in items {
                first_of_each_key(item, each);
            }
        }
        _ => {}
    }
}

fn merge_map(dest: &mut Map<String, Value>, patch: &Map<String, Value>, lists: Lists<'_>) -> Result<(), String> {
    for (key, pv) in patch {
        // Only `$patch` is a directive for kustomize 5.5; `$retainKeys`, `$setElementOrder/…`
        // and `$deleteFromPrimitiveList/…` are copied like any field, as it does.
        if key == "$patch" {
            continue;
        }
        match pv {
            Value::Null => {
                dest.remove(key);
            }
            Value::Object(pm) => match pm.get("$patch").and_then(Value::as_str) {
                Some("delete") => {
                    dest.remove(key);
                }
                Some("replace") => {
                    dest.insert(key.clone(), strip(pv));
                }
                _ => match dest.get_mut(key) {
                    Some(Value::Object(dm)) => merge_map(dm, pm, lists.field(key))?,
                    _ => {
                        dest.insert(key.clone(), strip(pv));
                    }
                },
            },
            Value::Array(pl) => {
                let merged = merge_list(key, dest.get(key), pl, lists.field(key))?;
                dest.insert(key.clone(), merged);
            }
            scalar => {
                dest.insert(key.clone(), scalar.clone());
            }
        }
    }
    Ok(())
}

fn is_directive(item: &Value, directive: &str) -> bool {
    item.get("$patch").and_then(Value::as_str) == Some(directive)
}

/// How a patch element relates to an original one under list-map keys.
enum KeyMatch {
    Same,
    Different,
    /// Same primary key, but the patch omits a secondary key the original has: kustomize
    /// drops the patch element's changes (a quirk we reproduce).
    Lost,
}

fn key_match(original: &Value, patch: &Value, keys: &[&str]) -> KeyMatch {
    let (primary, secondary) = keys.split_first().expect("every key list has a primary key");
    if original.get(*primary) != patch.get(*primary) {
        return KeyMatch::Different;
    }
    for k in secondary {
        match (original.get(*k), patch.get(*k)) {
            (Some(a), Some(b)) if a != b => return KeyMatch::Different,
            (Some(_), None) => return KeyMatch::Lost,
            (None, Some(_)) => return KeyMatch::Different,
            _ => {}
        }
    }
    KeyMatch::Same
}

fn merge_list(field: &str, dest: Option<&Value>, patch: &[Value], lists: Lists<'_>) -> Result<Value, String> {
    if patch.iter().any(|i| is_directive(i, "replace")) {
        return Ok(Value::Array(patch.iter().filter(|i| !is_directive(i, "replace")).map(strip).collect()));
    }
    let replaced = || Value::Array(patch.iter().filter(|i| !is_directive(i, "delete")).map(strip).collect());
    let dest_items: Vec<Value> = match dest {
        Some(Value::Array(items)) => items.clone(),
        _ => Vec::new(),
    };
    let all: Vec<&Value> = dest_items.iter().chain(patch.iter()).collect();
    let Some(keys) = lists.keys(field, &all) else {
        return Ok(replaced());
    };
    if keys.is_empty() {
        if !all.iter().all(|i| !i.is_object() && !i.is_array()) {
            return Ok(replaced());
        }
        // A primitive list with the merge strategy: the patch's items, then the others.
        let mut out: Vec<Value> = patch.to_vec();
        out.extend(dest_items.into_iter().filter(|i| !patch.contains(i)));
        return Ok(Value::Array(out));
    }
    if !all.iter().all(|i| i.is_object()) {
        return Ok(replaced());
    }
    let keys: Vec<&str> = keys.iter().map(String::as_str).collect();
    let keys = keys.as_slice();
    let each = lists.items();
    // The patch's elements first (merged with their originals), then the untouched originals:
    // kustomize merges lists in kyaml's prepend direction.
    let mut used = vec![false; dest_items.len()];
    let mut out = Vec::new();
    // For each element of `out`, the original it was merged with, if any.
    let mut origins: Vec<Option<usize>> = Vec::new();
    for item in patch {
        if item.get(keys[0]).is_none() {
            return Err(format!("{field}: an item has no merge key {:?}", keys[0]));
        }
        let mut found = None;
        let mut lost = false;
        for (i, d) in dest_items.iter().enumerate() {
            match key_match(d, item, keys) {
                KeyMatch::Same => {
                    found = Some(i);
                    break;
                }
                KeyMatch::Lost => lost = true,
                KeyMatch::Different => {}
            }
        }
        if is_directive(item, "delete") {
            if let Some(i) = found {
                used[i] = true;
            }
            continue;
        }
        match found {
            Some(i) => {
                used[i] = true;
                let mut merged = dest_items[i].clone();
                match (&mut merged, item) {
                    (Value::Object(dm), Value::Object(pm)) => merge_map(dm, pm, each)?,
                    (m, _) => *m = strip(item),
                }
                out.push(merged);
                origins.push(Some(i));
            }
            None if lost => {}
            None => {
                out.push(strip(item));
                origins.push(None);
            }
        }
    }
    // Secondary keys count only where some element has them (kyaml then matches on the rest).
    let present = keys.iter().filter(|k| dest_items.iter().chain(patch.iter()).any(|i| i.get(**k).is_some())).count();
    if present > 1 {
        // Lists with several map keys (ports, topologySpreadConstraints) come out differently:
        // the elements only the patch has first, then the originals in place, merged.
        let mut merged_in_place: Vec<Value> = Vec::new();
        let mut fresh: Vec<Value> = Vec::new();
        let mut by_original: Vec<Option<Value>> = vec![None; dest_items.len()];
        for (item, origin) in out.into_iter().zip(origins) {
            match origin {
                Some(i) => by_original[i] = Some(item),
                None => fresh.push(item),
            }
        }
        for (i, d) in dest_items.into_iter().enumerate() {
            match by_original[i].take() {
                Some(m) => merged_in_place.push(m),
                None if !used[i] => merged_in_place.push(d),
                None => {}
            }
        }
        fresh.extend(merged_in_place);
        return Ok(Value::Array(fresh));
    }
    out.extend(dest_items.into_iter().zip(used).filter(|(_, u)| !u).map(|(d, _)| d));
    Ok(Value::Array(out))
}

/// A copy of a patch value without `$patch` directives, as it lands in the object.
fn strip(value: &Value) -> Value {
    match value {
        Value::Object(map) => {
            Value::Object(map.iter().filter(|(k, _)| *k != "$patch").map(|(k, v)| (k.clone(), strip(v))).collect())
        }
        Value::Array(items) => Value::Array(items.iter().filter(|i| !is_directive(i, "delete")).map(strip).collect()),
        other => other.clone(),
    }
}
