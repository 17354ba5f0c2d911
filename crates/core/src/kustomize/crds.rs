//! `crds`: OpenAPI definitions of custom types (the Go `OpenAPIDefinition` map kube-openapi
//! generates) whose properties say, with kustomize's extensions, which fields name other objects
//! (`x-kubernetes-object-ref-kind`, `-api-version`, `-name-key`), take common labels
//! (`x-kubernetes-label-selector`) or annotations (`x-kubernetes-annotation`), or carry the name
//! prefix (`x-kubernetes-identity`). They become transformer configuration, as kustomize's
//! `LoadConfigFromCRDs` makes it.

use serde_json::{Map, Value};

use super::config::{Config, NameReference, merge_specs};
use super::resource::FieldSpec;

/// How deep `$ref`s may lead before the definitions count as a mistake.
const MAX_DEPTH: usize = 32;

/// How many properties one file's definitions may lead to, `$ref`s followed: types that refer
/// to a next type twice over, 32 deep, would otherwise be four billion visits.
const MAX_VISITS: usize = 100_000;

/// The configuration the definitions in `doc` declare.
pub fn config(doc: &Value) -> Result<Config, String> {
    let Value::Object(definitions) = doc else {
        return Err("expected a mapping of type names to OpenAPI definitions".into());
    };
    let mut out = Config::default();
    let mut visits = 0;
    let mut names: Vec<&String> = definitions.keys().collect();
    names.sort();
    for name in names {
        let properties = properties(&definitions[name]);
        let is_kind = ["kind", "apiVersion", "metadata"].iter().all(|p| properties.is_some_and(|m| m.contains_key(*p)));
        if !is_kind {
            continue;
        }
        // kustomize knows the kind only, from the last part of the type name.
        let kind = name.rsplit('.').next().unwrap_or(name).to_string();
        walk(&mut out, &kind, definitions, name, &[], 0, &mut visits)?;
    }
    Ok(out)
}

fn properties(definition: &Value) -> Option<&Map<String, Value>> {
    definition.pointer("/Schema/properties").and_then(Value::as_object)
}

fn walk(
    out: &mut Config,
    kind: &str,
    definitions: &Map<String, Value>,
    type_name: &str,
    path: &[&str],
    depth: usize,
    visits: &mut usize,
) -> Result<(), String> {
    if depth > MAX_DEPTH {
        return Err(format!("$ref chain from {kind} is more than {MAX_DEPTH} deep"));
    }
    let Some(props) = definitions.get(type_name).and_then(properties) else { return Ok(()) };
    let mut names: Vec<&String> = props.keys().collect();
    names.sort();
    for name in names {
        *visits += 1;
        if *visits > MAX_VISITS {
            return Err(format!("the definitions lead to more than {MAX_VISITS} properties, `$ref`s followed"));
        }
        let property = &props[name];
        let mut here: Vec<&str> = path.to_vec();
        here.push(name);
        let spec = |parts: &[&str]| FieldSpec {
            group: None,
            version: None,
            kind: Some(kind.to_string()),
            path: parts.join("/"),
            create: false,
        };
        let has = |key: &str| property.get(key).is_some();
        if has("x-kubernetes-annotation") {
            merge_specs(&mut out.common_annotations, &[spec(&here)])?;
        }
        if has("x-kubernetes-label-selector") {
            merge_specs(&mut out.common_labels, &[spec(&here)])?;
        }
        if has("x-kubernetes-identity") {
            merge_specs(&mut out.name_prefix, &[spec(&here)])?;
        }
        let version = property.get("x-kubernetes-object-ref-api-version").and_then(Value::as_str);
        let ref_kind = property.get("x-kubernetes-object-ref-kind").and_then(Value::as_str);
        if let (Some(version), Some(ref_kind)) = (version, ref_kind) {
            let key = property.get("x-kubernetes-object-ref-name-key").and_then(Value::as_str).unwrap_or("name");
            let mut with_key = here.clone();
            with_key.push(key);
            let theirs = NameReference {
                group: None,
                version: Some(version.to_string()),
                kind: ref_kind.to_string(),
                field_specs: vec![spec(&with_key)],
            };
            out.merge(&Config { name_reference: vec![theirs], ..Config::default() })?;
        }
        if let Some(reference) = property.get("$ref").and_then(Value::as_str) {
            walk(out, kind, definitions, reference, &here, depth + 1, visits)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Thirty types, each with two properties referring to the next: 2^30 paths. Refused after
    /// the first hundred thousand properties (before, the walk went on for hours).
    #[test]
    fn definitions_that_fan_out_are_refused() {
        let mut definitions = serde_json::Map::new();
        let props =
            |next: &str| serde_json::json!({"Schema": {"properties": {"a": {"$ref": next}, "b": {"$ref": next}}}});
        definitions.insert(
            "x.v1.Bee".into(),
            serde_json::json!({"Schema": {"properties": {"kind": {}, "apiVersion": {}, "metadata": {}, "spec": {"$ref": "x.v1.T0"}}}}),
        );
        for i in 0..30 {
            definitions.insert(format!("x.v1.T{i}"), props(&format!("x.v1.T{}", i + 1)));
        }
        let err = config(&Value::Object(definitions)).unwrap_err();
        assert!(err.contains("more than 100000 properties"), "{err}");
    }
}
