//! `configMapGenerator` and `secretGenerator`, with `generatorOptions`, the `create`, `merge`
//! and `replace` behaviours, and kustomize's content-hash name suffix.

use std::collections::BTreeMap;

use base64::Engine as _;
use serde_json::{Map, Value, json};
use sha2::{Digest as _, Sha256};

use super::kustomization::{Generator, GeneratorOptions, Kustomization};
use super::resource::Resource;
use super::{Ctx, Error};
use crate::digest::{go_json, hex};

/// Runs the generators of one kustomization over the accumulated resources.
pub fn run(ctx: &Ctx<'_>, k: &Kustomization, res: &mut Vec<Resource>) -> Result<(), Error> {
    for (i, g) in k.config_map_generator.iter().enumerate() {
        let field = format!("configMapGenerator[{i}]");
        let object = make(ctx, &field, g, k.generator_options.as_ref(), false)?;
        place(ctx, &field, g, object, res)?;
    }
    for (i, g) in k.secret_generator.iter().enumerate() {
        let field = format!("secretGenerator[{i}]");
        let object = make(ctx, &field, g, k.generator_options.as_ref(), true)?;
        place(ctx, &field, g, object, res)?;
    }
    Ok(())
}

/// Options of one generator over the kustomization's `generatorOptions`.
fn merged_options(global: Option<&GeneratorOptions>, own: Option<&GeneratorOptions>) -> GeneratorOptions {
    let mut out = global.cloned().unwrap_or_default();
    if let Some(own) = own {
        out.labels.extend(own.labels.clone());
        out.annotations.extend(own.annotations.clone());
        // A global `disableNameSuffixHash: true` cannot be switched off locally, and
        // `immutable: true` from either side wins (types.MergeGlobalOptionsIntoLocal).
        if own.disable_name_suffix_hash == Some(true) {
            out.disable_name_suffix_hash = Some(true);
        }
        if own.immutable == Some(true) {
            out.immutable = Some(true);
        }
    }
    out
}

/// The key-value pairs of a generator: env files, then literals, then files (kustomize's order).
fn pairs(ctx: &Ctx<'_>, field: &str, g: &Generator) -> Result<Vec<(String, Vec<u8>)>, Error> {
    let mut out: Vec<(String, Vec<u8>)> = Vec::new();
    for (i, env) in g.envs.iter().enumerate() {
        let f = format!("{field}.envs[{i}]");
        let (_, bytes) = ctx.read(&f, env)?;
        let text =
            std::str::from_utf8(&bytes).map_err(|e| ctx.field_error(&f, format!("{env}: not UTF-8 text: {e}")))?;
        let text = text.strip_prefix('\u{feff}').unwrap_or(text);
        // kustomize's keyValuesFromLines: leading space trimmed, nothing else; a line without
        // `=` is a key with an empty value (it does not read the process environment).
        for line in text.split('\n') {
            let line = line.strip_suffix('\r').unwrap_or(line).trim_start();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let (key, value) = line.split_once('=').unwrap_or((line, ""));
            out.push((key.to_string(), value.as_bytes().to_vec()));
        }
    }
    for (i, literal) in g.literals.iter().enumerate() {
        let Some((key, value)) = literal.split_once('=').filter(|(k, _)| !k.is_empty()) else {
            return Err(
                ctx.field_error(format!("{field}.literals[{i}]"), format!("{literal:?} is not of the form key=value"))
            );
        };
        let value = unquote(value);
        out.push((key.to_string(), value.as_bytes().to_vec()));
    }
    for (i, file) in g.files.iter().enumerate() {
        let f = format!("{field}.files[{i}]");
        let (key, path) = match file.split_once('=') {
            Some((k, p)) => (k.to_string(), p),
            None => (file.rsplit('/').next().unwrap_or(file).to_string(), file.as_str()),
        };
        let (_, bytes) = ctx.read(&f, path)?;
        out.push((key, bytes.to_vec()));
    }
    // kustomize 5.5 does not validate key names; it refuses only repeats.
    for (i, (key, _)) in out.iter().enumerate() {
        if out[..i].iter().any(|(k, _)| k == key) {
            return Err(ctx.field_error(field, format!("{} illegally repeats the key {key:?}", g.name)));
        }
    }
    Ok(out)
}

/// kustomize strips one pair of matching quotes around a literal's value.
fn unquote(value: &str) -> &str {
    for q in ['"', '\''] {
        if value.len() >= 2 && value.starts_with(q) && value.ends_with(q) {
            return &value[1..value.len() - 1];
        }
    }
    value
}

pub(super) fn make(
    ctx: &Ctx<'_>,
    field: &str,
    g: &Generator,
    global: Option<&GeneratorOptions>,
    secret: bool,
) -> Result<Resource, Error> {
    let options = merged_options(global, g.options.as_ref());
    let mut metadata = Map::new();
    metadata.insert("name".into(), Value::String(g.name.clone()));
    if let Some(ns) = &g.namespace {
        metadata.insert("namespace".into(), Value::String(ns.clone()));
    }
    if !options.labels.is_empty() {
        metadata.insert("labels".into(), json!(options.labels));
    }
    if !options.annotations.is_empty() {
        metadata.insert("annotations".into(), json!(options.annotations));
    }
    let mut object = Map::new();
    object.insert("apiVersion".into(), json!("v1"));
    object.insert("metadata".into(), Value::Object(metadata));
    let mut data = Map::new();
    let mut binary = Map::new();
    for (key, bytes) in pairs(ctx, field, g)? {
        if secret {
            data.insert(key, Value::String(encode_base64(&bytes)));
        } else {
            match String::from_utf8(bytes) {
                Ok(text) => {
                    data.insert(key, Value::String(text));
                }
                Err(e) => {
                    binary.insert(key, Value::String(encode_base64(e.as_bytes())));
                }
            }
        }
    }
    if secret {
        object.insert("kind".into(), json!("Secret"));
        object.insert("type".into(), json!(g.kind.clone().unwrap_or_else(|| "Opaque".into())));
    } else {
        object.insert("kind".into(), json!("ConfigMap"));
    }
    // An empty Secret still has `data: {}`; an empty ConfigMap has no `data` at all.
    if !data.is_empty() || secret {
        object.insert("data".into(), Value::Object(data));
    }
    if !binary.is_empty() {
        object.insert("binaryData".into(), Value::Object(binary));
    }
    if options.immutable == Some(true) {
        object.insert("immutable".into(), json!(true));
    }
    let mut r = Resource::new(Value::Object(object));
    if let Some(top) = ctx.tracking() {
        let kind = if secret { "SecretGenerator" } else { "ConfigMapGenerator" };
        r.origin = Some(super::track::configured(&top, ctx.file, kind, None));
    }
    r.generated = true;
    r.needs_hash = options.disable_name_suffix_hash != Some(true);
    Ok(r)
}

/// Adds a generated object, or merges it into / replaces the one it names.
pub(super) fn place(
    ctx: &Ctx<'_>,
    field: &str,
    g: &Generator,
    new: Resource,
    res: &mut Vec<Resource>,
) -> Result<(), Error> {
    let behavior = g.behavior.as_deref().unwrap_or("create");
    let gvk = new.gvk();
    let existing = find_existing(ctx, field, g, &gvk, res)?;
    match (behavior, existing) {
        ("create", Some(i)) => Err(ctx.field_error(
            field,
            format!("{} {:?} already exists; use behavior merge or replace", gvk.kind, res[i].name()),
        )),
        ("create", None) => {
            res.push(new);
            Ok(())
        }
        (_, None) => Err(ctx.field_error(
            field,
            format!("behavior {behavior} needs an existing {} {:?} from a base, and there is none", gvk.kind, g.name),
        )),
        ("merge", Some(i)) => {
            let old = &mut res[i];
            for section in ["data", "binaryData"] {
                if let Some(Value::Object(add)) = new.object.get(section) {
                    let target = old
                        .object
                        .as_object_mut()
                        .expect("resources are mappings")
                        .entry(section)
                        .or_insert_with(|| json!({}));
                    if let Value::Object(m) = target {
                        m.extend(add.clone());
                    }
                }
            }
            for section in ["labels", "annotations"] {
                if let Some(Value::Object(add)) = new.object.pointer(&format!("/metadata/{section}")) {
                    let md = old.metadata_mut();
                    let target = md.entry(section).or_insert_with(|| json!({}));
                    if let Value::Object(m) = target {
                        m.extend(add.clone());
                    }
                }
            }
            if let Some(immutable) = new.object.get("immutable") {
                old.object
                    .as_object_mut()
                    .expect("resources are mappings")
                    .insert("immutable".into(), immutable.clone());
            }
            old.needs_hash = old.needs_hash && new.needs_hash;
            Ok(())
        }
        (_, Some(i)) => {
            let old = &mut res[i];
            let mut object = new.object.clone();
            // Keep the base's identity (its name and namespace so far), and its labels and
            // annotations under the new ones (kustomize's `CopyMergeMetaDataFieldsFrom`).
            if let Some(md) = object.get_mut("metadata").and_then(Value::as_object_mut) {
                md.insert("name".into(), json!(old.name()));
                if !old.namespace().is_empty() {
                    md.insert("namespace".into(), json!(old.namespace()));
                }
                for section in ["labels", "annotations"] {
                    if let Some(Value::Object(kept)) = old.object.pointer(&format!("/metadata/{section}")) {
                        let mut merged = kept.clone();
                        if let Some(Value::Object(new)) = md.get(section) {
                            merged.extend(new.clone());
                        }
                        md.insert(section.into(), Value::Object(merged));
                    }
                }
            }
            old.object = object;
            // As with `merge`: a hash is added only if neither side disabled it (kubectl keeps
            // a base's `disableNameSuffixHash` through an overlay's `replace`).
            old.needs_hash = old.needs_hash && new.needs_hash;
            Ok(())
        }
    }
}

/// The object a generator of `g`'s name would merge into or replace: the one ever known by
/// that kind, name and namespace (none meaning `default`), or else the one of that kind and name
/// in any namespace, as kustomize's accumulator looks.
fn find_existing(
    ctx: &Ctx<'_>,
    field: &str,
    g: &Generator,
    gvk: &super::resource::Gvk,
    res: &[Resource],
) -> Result<Option<usize>, Error> {
    let ns = g.namespace.clone().unwrap_or_default();
    // Matched against every name the resource had; no namespace means `default`.
    let effective = |n: &str| {
        if n.is_empty() { "default".to_string() } else { n.to_string() }
    };
    let ids = |r: &Resource| -> Vec<(String, String)> {
        std::iter::once((r.namespace().to_string(), r.name().to_string())).chain(r.previous.iter().cloned()).collect()
    };
    let existing = res
        .iter()
        .position(|r| r.gvk() == *gvk && ids(r).iter().any(|(n, m)| *m == g.name && effective(n) == effective(&ns)));
    if existing.is_some() {
        return Ok(existing);
    }
    // As kustomize: failing that, the one object of that kind and name in any namespace (a
    // base that set its namespace, merged by an overlay that names none).
    let by_name: Vec<usize> = res
        .iter()
        .enumerate()
        .filter(|(_, r)| r.gvk() == *gvk && ids(r).iter().any(|(_, m)| *m == g.name))
        .map(|(i, _)| i)
        .collect();
    match by_name.as_slice() {
        [] => Ok(None),
        [one] => Ok(Some(*one)),
        _ => Err(ctx.field_error(
            field,
            format!(
                "found {} objects {} {:?} that could accept the merge; give a namespace",
                by_name.len(),
                gvk.kind,
                g.name
            ),
        )),
    }
}

/// kyaml's `encodeBase64` (from go-yaml): standard base64, and when that is 70 characters or
/// more, cut into lines of 70, each ending in a newline. The hash sees the same text.
fn encode_base64(bytes: &[u8]) -> String {
    const LINE: usize = 70;
    let encoded = base64::engine::general_purpose::STANDARD.encode(bytes);
    if encoded.len() < LINE {
        return encoded;
    }
    let mut out = String::with_capacity(encoded.len() + encoded.len() / LINE + 1);
    for chunk in encoded.as_bytes().chunks(LINE) {
        out.push_str(std::str::from_utf8(chunk).expect("base64 is ASCII"));
        out.push('\n');
    }
    out
}

/// Appends the content hash to every generated name that wants one (top level only).
pub fn append_hashes(res: &mut [Resource]) {
    for r in res.iter_mut().filter(|r| r.needs_hash && !r.hashed) {
        let hash = name_hash(&r.object);
        let name = format!("{}-{hash}", r.name());
        r.set_name(name);
        r.hashed = true;
    }
}

/// kustomize's hasher: SHA-256 over a Go-JSON encoding of the identifying content, the first
/// ten hex digits with some letters swapped so the result never looks like a number or a word.
///
/// kustomize 5.5 looks the name up as a single key literally called `metadata/name`, finds
/// nothing, and so always hashes `"name": ""`: the hash depends on kind, type and data only.
pub fn name_hash(object: &Value) -> String {
    let kind = object.get("kind").and_then(Value::as_str).unwrap_or_default();
    let mut m: BTreeMap<&str, Value> = BTreeMap::new();
    m.insert("kind", Value::String(kind.to_string()));
    m.insert("name", Value::String(String::new()));
    match kind {
        "ConfigMap" => {
            m.insert("data", object.get("data").cloned().unwrap_or(Value::String(String::new())));
            if let Some(b) = object.get("binaryData") {
                m.insert("binaryData", b.clone());
            }
        }
        "Secret" => {
            m.insert("data", object.get("data").cloned().unwrap_or(Value::String(String::new())));
            m.insert("type", object.get("type").cloned().unwrap_or(Value::String(String::new())));
            if let Some(s) = object.get("stringData").filter(|s| s.is_object()) {
                m.insert("stringData", s.clone());
            }
        }
        _ => {
            return encode(&hex(&Sha256::digest(go_json(object).as_bytes())));
        }
    }
    let map: Map<String, Value> = m.into_iter().map(|(k, v)| (k.to_string(), v)).collect();
    encode(&hex(&Sha256::digest(go_json(&Value::Object(map)).as_bytes())))
}

fn encode(hex: &str) -> String {
    hex[..10]
        .chars()
        .map(|c| match c {
            '0' => 'g',
            '1' => 'h',
            '3' => 'k',
            'a' => 'm',
            'e' => 't',
            c => c,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encode_swaps_letters() {
        assert_eq!(encode("0123456789abcdef"), "gh2k456789");
    }
}
