//! Strategic merge patch, as kustomize 5 applies it (kyaml's merge2 with the Kubernetes
//! schema's merge keys): mappings merge, `null` deletes a field, lists with a merge key merge
//! element by element, other lists are replaced, and the `$patch: delete|replace` directives
//! and `$deleteFromPrimitiveList`/`$retainKeys`/`$setElementOrder` are honoured.

use serde_json::{Map, Value};

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
    let group = object.get("apiVersion").and_then(Value::as_str).and_then(|v| v.split_once('/')).map_or("", |(g, _)| g);
    let schema = SCHEMA_GROUPS.contains(&group);
    match &mut *object {
        Value::Object(dest) => merge_map(dest, p, schema)?,
        other => *other = strip(patch),
    }
    if schema {
        first_of_each_key(object);
    }
    Ok(Outcome::Merged)
}

/// kyaml's merge walks the whole object, and writing back a list with merge keys keeps one
/// element per key, where the first was, with the last one's value: duplicates a JSON patch
/// appended collapse wherever they are.
fn first_of_each_key(value: &mut Value) {
    match value {
        Value::Object(map) => {
            for (field, child) in map.iter_mut() {
                if let Value::Array(items) = child
                    && items.len() > 1
                    && items.iter().all(Value::is_object)
                {
                    let all: Vec<&Value> = items.iter().collect();
                    if let Some(keys) = schema_keys(field, &all) {
                        let mut kept: Vec<Value> = Vec::with_capacity(items.len());
                        for item in items.drain(..) {
                            match kept.iter_mut().find(|k| matches!(key_match(k, &item, keys), KeyMatch::Same)) {
                                Some(earlier) => *earlier = item,
                                None => kept.push(item),
                            }
                        }
                        *items = kept;
                    }
                }
                first_of_each_key(child);
            }
        }
        Value::Array(items) => items.iter_mut().for_each(first_of_each_key),
        _ => {}
    }
}

fn merge_map(dest: &mut Map<String, Value>, patch: &Map<String, Value>, schema: bool) -> Result<(), String> {
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
                    Some(Value::Object(dm)) => merge_map(dm, pm, schema)?,
                    _ => {
                        dest.insert(key.clone(), strip(pv));
                    }
                },
            },
            Value::Array(pl) => {
                let merged = merge_list(key, dest.get(key), pl, schema)?;
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

fn merge_list(field: &str, dest: Option<&Value>, patch: &[Value], schema: bool) -> Result<Value, String> {
    if patch.iter().any(|i| is_directive(i, "replace")) {
        return Ok(Value::Array(patch.iter().filter(|i| !is_directive(i, "replace")).map(strip).collect()));
    }
    let replaced = || Value::Array(patch.iter().filter(|i| !is_directive(i, "delete")).map(strip).collect());
    if !schema {
        return Ok(replaced());
    }
    let dest_items: Vec<Value> = match dest {
        Some(Value::Array(items)) => items.clone(),
        _ => Vec::new(),
    };
    if field == "finalizers" {
        // A primitive list with the merge strategy: the patch's items, then the others.
        let mut out: Vec<Value> = patch.to_vec();
        out.extend(dest_items.into_iter().filter(|i| !patch.contains(i)));
        return Ok(Value::Array(out));
    }
    let all: Vec<&Value> = dest_items.iter().chain(patch.iter()).collect();
    let keys = if all.iter().all(|i| i.is_object()) { schema_keys(field, &all) } else { None };
    let Some(keys) = keys else {
        return Ok(replaced());
    };
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
                    (Value::Object(dm), Value::Object(pm)) => merge_map(dm, pm, schema)?,
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
