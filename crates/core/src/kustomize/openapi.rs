//! `openapi: {path: FILE}`: a schema of one's own (Swagger 2 `definitions`, as `kustomize
//! openapi fetch` writes it) that tells strategic merge patches how lists merge
//! (`x-kubernetes-patch-strategy`, `x-kubernetes-patch-merge-key`, `x-kubernetes-list-map-keys`).
//! As in kustomize, it replaces the built-in schema for the whole render: a kind it does not
//! define has its lists replaced.

use std::collections::HashMap;
use std::rc::Rc;

use serde_json::{Map, Value};

use super::resource::Gvk;

/// The built-in schema versions kustomize 5.5 carries (`openapi: {version: …}`).
pub const BUILT_IN_VERSIONS: [&str; 1] = ["v1.21.2"];

/// Which schema a render's strategic merge patches use.
#[derive(Debug, Clone, Default)]
pub enum Choice {
    /// No kustomization chose one (yet): the built-in one.
    #[default]
    Unset,
    BuiltIn,
    Custom(Rc<Schema>),
}

impl Choice {
    pub fn custom(&self) -> Option<Rc<Schema>> {
        match self {
            Choice::Custom(s) => Some(s.clone()),
            _ => None,
        }
    }
}

#[derive(Debug)]
pub struct Schema {
    definitions: Map<String, Value>,
    /// Definition names by the group, version and kind they declare.
    by_gvk: HashMap<(String, String, String), String>,
}

impl Schema {
    pub fn parse(mut doc: Value) -> Result<Schema, String> {
        let Some(Value::Object(definitions)) = doc.get_mut("definitions").map(Value::take) else {
            return Err("a schema needs `definitions` (Swagger 2, as `kustomize openapi fetch` writes it)".into());
        };
        let mut by_gvk = HashMap::new();
        for (name, definition) in &definitions {
            if let Some(Value::Array(gvks)) = definition.get("x-kubernetes-group-version-kind") {
                for g in gvks {
                    let part = |k: &str| g.get(k).and_then(Value::as_str).unwrap_or_default().to_string();
                    by_gvk.insert((part("group"), part("version"), part("kind")), name.clone());
                }
            }
        }
        Ok(Schema { definitions, by_gvk })
    }

    /// The definition of objects of `gvk`, if the schema has one.
    pub fn root(&self, gvk: &Gvk) -> Option<&Value> {
        let name = self.by_gvk.get(&(gvk.group.clone(), gvk.version.clone(), gvk.kind.clone()))?;
        self.definitions.get(name).map(|d| self.resolve(d))
    }

    /// Follows `$ref: "#/definitions/NAME"` (a few steps at most).
    fn resolve<'a>(&'a self, mut node: &'a Value) -> &'a Value {
        for _ in 0..8 {
            let Some(target) = node.get("$ref").and_then(Value::as_str) else { break };
            let name = target.strip_prefix("#/definitions/").unwrap_or(target);
            match self.definitions.get(name) {
                Some(next) => node = next,
                None => break,
            }
        }
        node
    }

    /// The schema of field `name` of a mapping whose schema is `node`.
    pub fn field<'a>(&'a self, node: &'a Value, name: &str) -> Option<&'a Value> {
        node.get("properties").and_then(|p| p.get(name)).map(|f| self.resolve(f))
    }

    /// The schema of the items of a list whose schema is `node`.
    pub fn items<'a>(&'a self, node: &'a Value) -> Option<&'a Value> {
        node.get("items").map(|i| self.resolve(i))
    }
}

/// How a list whose schema is `node` merges: `Some(keys)` by those keys (none for a list of
/// scalars merged as a set), `None` replaced.
pub fn list_merge(node: &Value) -> Option<Vec<String>> {
    let strategy = node.get("x-kubernetes-patch-strategy").and_then(Value::as_str)?;
    if !strategy.split(',').any(|s| s.trim() == "merge") {
        return None;
    }
    if let Some(Value::Array(keys)) = node.get("x-kubernetes-list-map-keys") {
        return Some(keys.iter().filter_map(Value::as_str).map(str::to_string).collect());
    }
    Some(node.get("x-kubernetes-patch-merge-key").and_then(Value::as_str).map(str::to_string).into_iter().collect())
}
