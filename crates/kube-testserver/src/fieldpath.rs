//! Field sets as Kubernetes records them in `metadata.managedFields` (the `FieldsV1` format of
//! structured-merge-diff): which paths of an object a field manager owns.
//!
//! A [`Set`] is a trie of [`PathElement`]s. A path is in the set when its last element is a
//! *member*; a node can be a member and have children at once (a list element that is owned as a
//! whole and whose fields are owned too), which `FieldsV1` writes as `".": {}`. This module knows
//! nothing about objects or schemas: the `ssa` module walks objects and builds the sets.

use std::collections::BTreeMap;
use std::fmt;

use flotilla_core::digest::canonical_json;
use serde_json::{Map, Value};

/// A `FieldsV1` document that cannot be read as a field set.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum Error {
    #[error("fieldsV1 is {found}, not a JSON object")]
    NotAFieldSet { found: String },
    #[error("field set entry {element:?} is not a JSON object")]
    NotAnObject { element: String },
    #[error("field set entry {element:?} is not of the form f:<name>, k:<json object>, v:<json>, i:<index> or .")]
    BadElement { element: String },
}

/// One step of a path, kept in its canonical `FieldsV1` spelling (`f:name`, `k:{"name":"web"}`,
/// `v:"value"`, `i:0`), so that equal elements compare equal and sets serialize without work.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PathElement(String);

impl PathElement {
    /// A field of a map (or struct).
    pub fn field(name: &str) -> Self {
        Self(format!("f:{name}"))
    }

    /// An element of an associative list, named by its key fields (in any order).
    pub fn key(fields: &[(&str, &Value)]) -> Self {
        let mut sorted: Vec<_> = fields.to_vec();
        sorted.sort_by(|a, b| a.0.cmp(b.0));
        let mut text = String::from("k:{");
        for (i, (name, value)) in sorted.iter().enumerate() {
            if i > 0 {
                text.push(',');
            }
            text.push_str(&Value::String((*name).to_string()).to_string());
            text.push(':');
            text.push_str(&canonical_json(value));
        }
        text.push('}');
        Self(text)
    }

    /// An element of a set list, named by its value.
    pub fn value(value: &Value) -> Self {
        let mut text = String::from("v:");
        text.push_str(&canonical_json(value));
        Self(text)
    }

    /// An element of a list by position (only atomic lists' elements have no better name).
    pub fn index(index: usize) -> Self {
        Self(format!("i:{index}"))
    }

    /// Reads an element as spelled in `FieldsV1`, normalizing the JSON of keys and values so
    /// that a set written by another serializer compares equal to ours.
    pub fn parse(text: &str) -> Result<Self, Error> {
        let bad = || Error::BadElement { element: text.to_string() };
        if let Some(name) = text.strip_prefix("f:") {
            return Ok(Self::field(name));
        }
        if let Some(json) = text.strip_prefix("k:") {
            let Ok(Value::Object(fields)) = serde_json::from_str::<Value>(json) else { return Err(bad()) };
            let fields: Vec<(&str, &Value)> = fields.iter().map(|(k, v)| (k.as_str(), v)).collect();
            return Ok(Self::key(&fields));
        }
        if let Some(json) = text.strip_prefix("v:") {
            let value: Value = serde_json::from_str(json).map_err(|_| bad())?;
            return Ok(Self::value(&value));
        }
        if let Some(index) = text.strip_prefix("i:") {
            return index.parse().map(Self::index).map_err(|_| bad());
        }
        Err(bad())
    }

    /// The `FieldsV1` spelling.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The human spelling Kubernetes uses in conflict messages: `.name`, `[name="web"]`,
/// `[="value"]`, `[0]`.
impl fmt::Display for PathElement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let text = self.0.as_str();
        if let Some(name) = text.strip_prefix("f:") {
            return write!(f, ".{name}");
        }
        if let Some(json) = text.strip_prefix("k:") {
            // The text was written by `key`, so it parses; fall back to it verbatim rather than panic.
            let Ok(Value::Object(fields)) = serde_json::from_str::<Value>(json) else { return write!(f, "[{json}]") };
            let mut pairs: Vec<String> = fields.iter().map(|(k, v)| format!("{k}={v}")).collect();
            pairs.sort();
            return write!(f, "[{}]", pairs.join(","));
        }
        if let Some(json) = text.strip_prefix("v:") {
            return write!(f, "[={json}]");
        }
        if let Some(index) = text.strip_prefix("i:") {
            return write!(f, "[{index}]");
        }
        f.write_str(text)
    }
}

/// Renders a path the way Kubernetes does in conflicts, e.g. `.spec.containers[name="web"].image`.
pub fn display(path: &[PathElement]) -> String {
    path.iter().map(ToString::to_string).collect()
}

/// A set of paths, with the union, intersection and difference of structured-merge-diff: a
/// path's membership and its children are independent, so removing `.spec` as a member keeps
/// `.spec.replicas`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Set {
    children: BTreeMap<PathElement, Node>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct Node {
    member: bool,
    set: Set,
}

impl Node {
    fn is_empty(&self) -> bool {
        !self.member && self.set.is_empty()
    }
}

impl Set {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn is_empty(&self) -> bool {
        self.children.is_empty()
    }

    /// Adds `path` as a member; the empty path (the object itself) is never a member.
    pub fn insert(&mut self, path: &[PathElement]) {
        let Some((first, rest)) = path.split_first() else { return };
        let node = self.children.entry(first.clone()).or_default();
        if rest.is_empty() {
            node.member = true;
        } else {
            node.set.insert(rest);
        }
    }

    pub fn contains(&self, path: &[PathElement]) -> bool {
        match path.split_first() {
            None => false,
            Some((first, [])) => self.is_member(first),
            Some((first, rest)) => self.child(first).is_some_and(|s| s.contains(rest)),
        }
    }

    /// Whether the direct child `element` is a member.
    pub fn is_member(&self, element: &PathElement) -> bool {
        self.children.get(element).is_some_and(|n| n.member)
    }

    /// The paths below the direct child `element`, if the set holds that child or anything under
    /// it.
    pub fn child(&self, element: &PathElement) -> Option<&Set> {
        self.children.get(element).map(|n| &n.set)
    }

    #[must_use]
    pub fn union(&self, other: &Set) -> Set {
        let mut out = self.clone();
        for (element, b) in &other.children {
            let node = out.children.entry(element.clone()).or_default();
            node.member |= b.member;
            node.set = node.set.union(&b.set);
        }
        out
    }

    #[must_use]
    pub fn intersection(&self, other: &Set) -> Set {
        let mut out = Set::new();
        for (element, a) in &self.children {
            if let Some(b) = other.children.get(element) {
                let node = Node { member: a.member && b.member, set: a.set.intersection(&b.set) };
                if !node.is_empty() {
                    out.children.insert(element.clone(), node);
                }
            }
        }
        out
    }

    #[must_use]
    pub fn difference(&self, other: &Set) -> Set {
        let mut out = Set::new();
        for (element, a) in &self.children {
            let node = match other.children.get(element) {
                None => a.clone(),
                Some(b) => Node { member: a.member && !b.member, set: a.set.difference(&b.set) },
            };
            if !node.is_empty() {
                out.children.insert(element.clone(), node);
            }
        }
        out
    }

    /// Every member path, in the order structured-merge-diff iterates (and so reports conflicts):
    /// at each level the members first, then the children's paths.
    pub fn paths(&self) -> Vec<Vec<PathElement>> {
        let mut out = Vec::new();
        self.collect_paths(&mut Vec::new(), &mut out);
        out
    }

    fn collect_paths(&self, prefix: &mut Vec<PathElement>, out: &mut Vec<Vec<PathElement>>) {
        for (element, node) in &self.children {
            if node.member {
                prefix.push(element.clone());
                out.push(prefix.clone());
                prefix.pop();
            }
        }
        for (element, node) in &self.children {
            if !node.set.is_empty() {
                prefix.push(element.clone());
                node.set.collect_paths(prefix, out);
                prefix.pop();
            }
        }
    }

    /// The `fieldsV1` value of a managedFields entry.
    pub fn to_fields_v1(&self) -> Value {
        Value::Object(self.to_map())
    }

    fn to_map(&self) -> Map<String, Value> {
        let mut map = Map::new();
        for (element, node) in &self.children {
            let mut inner = node.set.to_map();
            // A member without children is `{}`; a member with children says so with ".".
            if node.member && !inner.is_empty() {
                inner.insert(".".to_string(), Value::Object(Map::new()));
            }
            map.insert(element.as_str().to_string(), Value::Object(inner));
        }
        map
    }

    /// Reads the `fieldsV1` value of a managedFields entry.
    pub fn from_fields_v1(value: &Value) -> Result<Set, Error> {
        let Value::Object(map) = value else { return Err(Error::NotAFieldSet { found: value.to_string() }) };
        let mut set = Set::new();
        for (text, inner) in map {
            if text == "." {
                // Marks the parent as a member; the caller reads it.
                continue;
            }
            let Value::Object(inner_map) = inner else { return Err(Error::NotAnObject { element: text.clone() }) };
            let element = PathElement::parse(text)?;
            let member = inner_map.is_empty() || inner_map.contains_key(".");
            let node = Node { member, set: Set::from_fields_v1(inner)? };
            if !node.is_empty() {
                set.children.insert(element, node);
            }
        }
        Ok(set)
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn path(elements: &[&str]) -> Vec<PathElement> {
        elements.iter().map(|e| PathElement::parse(e).unwrap()).collect()
    }

    #[test]
    fn fields_v1_round_trips_members_and_children() {
        let v1 = json!({
            "f:metadata": {"f:labels": {"f:app": {}}},
            "f:spec": {"f:containers": {"k:{\"name\":\"web\"}": {".": {}, "f:image": {}, "f:name": {}}}},
        });
        let set = Set::from_fields_v1(&v1).unwrap();
        assert!(set.contains(&path(&["f:metadata", "f:labels", "f:app"])));
        assert!(!set.contains(&path(&["f:metadata", "f:labels"])));
        assert!(set.contains(&path(&["f:spec", "f:containers", "k:{\"name\":\"web\"}"])));
        assert!(set.contains(&path(&["f:spec", "f:containers", "k:{\"name\":\"web\"}", "f:image"])));
        assert_eq!(set.to_fields_v1(), v1);
    }

    #[test]
    fn keys_are_canonical_whatever_the_input_order() {
        let a = PathElement::parse(r#"k:{"protocol":"TCP","containerPort":80}"#).unwrap();
        let b = PathElement::key(&[("containerPort", &json!(80)), ("protocol", &json!("TCP"))]);
        assert_eq!(a, b);
        assert_eq!(a.as_str(), r#"k:{"containerPort":80,"protocol":"TCP"}"#);
        assert_eq!(a.to_string(), r#"[containerPort=80,protocol="TCP"]"#);
    }

    #[test]
    fn display_matches_kubernetes_conflict_paths() {
        let p = path(&["f:spec", "f:containers", r#"k:{"name":"web"}"#, "f:args"]);
        assert_eq!(display(&p), r#".spec.containers[name="web"].args"#);
        assert_eq!(display(&path(&["f:metadata", "f:finalizers", r#"v:"a/b""#])), r#".metadata.finalizers[="a/b"]"#);
        assert_eq!(display(&path(&["f:x", "i:3"])), ".x[3]");
    }

    #[test]
    fn membership_and_children_are_independent_in_set_operations() {
        let mut a = Set::new();
        a.insert(&path(&["f:spec"]));
        a.insert(&path(&["f:spec", "f:replicas"]));
        let mut b = Set::new();
        b.insert(&path(&["f:spec"]));
        let diff = a.difference(&b);
        assert!(!diff.contains(&path(&["f:spec"])));
        assert!(diff.contains(&path(&["f:spec", "f:replicas"])));
        assert_eq!(a.intersection(&b), b);
        assert_eq!(diff.union(&b), a);
        assert!(a.difference(&a).is_empty());
    }

    #[test]
    fn paths_list_members_before_children() {
        let mut s = Set::new();
        s.insert(&path(&["f:spec", "f:template", "f:x"]));
        s.insert(&path(&["f:spec", "f:replicas"]));
        s.insert(&path(&["f:metadata", "f:labels", "f:a"]));
        let shown: Vec<String> = s.paths().iter().map(|p| display(p)).collect();
        assert_eq!(shown, [".metadata.labels.a", ".spec.replicas", ".spec.template.x"]);
    }

    #[test]
    fn malformed_fields_v1_is_an_error_naming_the_entry() {
        assert_eq!(Set::from_fields_v1(&json!({"x:y": {}})), Err(Error::BadElement { element: "x:y".to_string() }));
        assert_eq!(Set::from_fields_v1(&json!({"f:a": 1})), Err(Error::NotAnObject { element: "f:a".to_string() }));
    }
}
