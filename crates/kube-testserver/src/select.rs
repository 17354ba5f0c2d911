//! Label and field selectors as the API server reads them from `labelSelector` and
//! `fieldSelector` query parameters. Parsing is separate from matching so that a bad selector is
//! a `400 Bad Request` before anything is listed. Not the agent's selectors (those are
//! `flotilla_core::selector`, on fleet documents).

use serde_json::Value;

/// A selector that cannot be parsed, or a field the kind cannot be selected by.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    #[error("unable to parse requirement: {0}")]
    Requirement(String),
    #[error("field label not supported: {0}")]
    FieldLabel(String),
}

/// One requirement of a label selector.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Label {
    Equals(String, String),
    NotEquals(String, String),
    In(String, Vec<String>),
    NotIn(String, Vec<String>),
    Exists(String),
    DoesNotExist(String),
}

/// A parsed `labelSelector`: every requirement must hold.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LabelSelector(Vec<Label>);

impl LabelSelector {
    /// Parses `a=b,c!=d,e in (f,g),h notin (i),j,!k`.
    pub fn parse(text: &str) -> Result<Self, Error> {
        let mut requirements = Vec::new();
        for term in split_top_level(text) {
            let term = term.trim();
            if term.is_empty() {
                continue;
            }
            let bad = || Error::Requirement(format!("{term:?}"));
            let requirement = if let Some(key) = term.strip_prefix('!') {
                Label::DoesNotExist(checked_key(key.trim()).ok_or_else(bad)?)
            } else if let Some((key, values)) = set_term(term, " notin ") {
                Label::NotIn(checked_key(key).ok_or_else(bad)?, values.ok_or_else(bad)?)
            } else if let Some((key, values)) = set_term(term, " in ") {
                Label::In(checked_key(key).ok_or_else(bad)?, values.ok_or_else(bad)?)
            } else if let Some((key, value)) = term.split_once("!=") {
                Label::NotEquals(checked_key(key.trim()).ok_or_else(bad)?, value.trim().to_string())
            } else if let Some((key, value)) = term.split_once("==").or_else(|| term.split_once('=')) {
                Label::Equals(checked_key(key.trim()).ok_or_else(bad)?, value.trim().to_string())
            } else {
                Label::Exists(checked_key(term).ok_or_else(bad)?)
            };
            requirements.push(requirement);
        }
        Ok(LabelSelector(requirements))
    }

    /// Whether an object's `metadata.labels` satisfy every requirement.
    pub fn matches(&self, labels: Option<&Value>) -> bool {
        let get = |k: &str| labels.and_then(|l| l.get(k)).and_then(Value::as_str);
        self.0.iter().all(|r| match r {
            Label::Equals(k, v) => get(k) == Some(v.as_str()),
            Label::NotEquals(k, v) => get(k) != Some(v.as_str()),
            Label::In(k, vs) => get(k).is_some_and(|x| vs.iter().any(|v| v == x)),
            Label::NotIn(k, vs) => get(k).is_none_or(|x| vs.iter().all(|v| v != x)),
            Label::Exists(k) => get(k).is_some(),
            Label::DoesNotExist(k) => get(k).is_none(),
        })
    }
}

/// Splits on commas outside parentheses.
fn split_top_level(text: &str) -> Vec<&str> {
    let (mut parts, mut depth, mut start) = (Vec::new(), 0_i32, 0);
    for (i, c) in text.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => depth -= 1,
            ',' if depth == 0 => {
                parts.push(&text[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(&text[start..]);
    parts
}

/// `key in (a,b)` → (`key`, Some([a, b])); a malformed value list gives `None` values.
fn set_term<'t>(term: &'t str, operator: &str) -> Option<(&'t str, Option<Vec<String>>)> {
    let (key, rest) = term.split_once(operator)?;
    let values = rest
        .trim()
        .strip_prefix('(')
        .and_then(|r| r.strip_suffix(')'))
        .map(|inner| inner.split(',').map(|v| v.trim().to_string()).collect());
    Some((key.trim(), values))
}

/// A label key is a qualified name with an optional DNS prefix; only the shape that matters for
/// parsing is checked (no spaces, no operators).
fn checked_key(key: &str) -> Option<String> {
    let ok = !key.is_empty()
        && key.len() <= 317
        && key.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'/'));
    ok.then(|| key.to_string())
}

/// One requirement of a field selector.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Field {
    path: String,
    value: String,
    equal: bool,
}

/// A parsed `fieldSelector`: every requirement must hold.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FieldSelector(Vec<Field>);

impl FieldSelector {
    /// Parses `metadata.name=x,status.phase!=Running` for objects of `kind` in `group`, refusing
    /// the fields the API server does not index for that kind.
    pub fn parse(text: &str, group: &str, kind: &str) -> Result<Self, Error> {
        let mut fields = Vec::new();
        for term in text.split(',').map(str::trim).filter(|t| !t.is_empty()) {
            let (path, value, equal) = if let Some((p, v)) = term.split_once("!=") {
                (p, v, false)
            } else if let Some((p, v)) = term.split_once("==").or_else(|| term.split_once('=')) {
                (p, v, true)
            } else {
                return Err(Error::Requirement(format!("{term:?}")));
            };
            let path = path.trim();
            if !selectable(group, kind, path) {
                return Err(Error::FieldLabel(path.to_string()));
            }
            fields.push(Field { path: path.to_string(), value: value.trim().to_string(), equal });
        }
        Ok(FieldSelector(fields))
    }

    pub fn matches(&self, object: &Value) -> bool {
        self.0.iter().all(|f| {
            let pointer = format!("/{}", f.path.replace('.', "/"));
            // Selectors compare text; booleans and numbers are matched by their spelling, and a
            // missing field is the empty string.
            let actual = match object.pointer(&pointer) {
                None | Some(Value::Null) => String::new(),
                Some(Value::String(s)) => s.clone(),
                Some(other) => other.to_string(),
            };
            (actual == f.value) == f.equal
        })
    }
}

/// The fields each kind can be selected by (the API server's field label conversion functions).
fn selectable(group: &str, kind: &str, path: &str) -> bool {
    if matches!(path, "metadata.name" | "metadata.namespace") {
        return true;
    }
    let extra: &[&str] = match (group, kind) {
        ("", "Pod") => &[
            "spec.nodeName",
            "spec.restartPolicy",
            "spec.schedulerName",
            "spec.serviceAccountName",
            "spec.hostNetwork",
            "status.phase",
            "status.podIP",
            "status.nominatedNodeName",
        ],
        ("", "Secret") => &["type"],
        ("", "Namespace") => &["status.phase"],
        ("batch", "Job") => &["status.successful"],
        _ => &[],
    };
    extra.contains(&path)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn label_selectors_of_every_form() {
        let labels = json!({"app": "web", "tier": "front", "env": "prod"});
        let yes = |s: &str| LabelSelector::parse(s).unwrap().matches(Some(&labels));
        assert!(yes("app=web,tier==front"));
        assert!(yes("env in (dev, prod),app notin (db)"));
        assert!(yes("app,!missing,tier!=back"));
        assert!(!yes("env in (dev,staging)"));
        assert!(!yes("!app"));
        assert!(!yes("missing"));
        assert!(LabelSelector::parse("").unwrap().matches(None));
        assert!(LabelSelector::parse("missing notin (a)").unwrap().matches(None));
    }

    #[test]
    fn malformed_label_selectors_are_refused() {
        for bad in ["app in web", "a b", "=x", "env in (dev"] {
            assert!(LabelSelector::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn field_selectors_allow_only_indexed_fields() {
        let pod = json!({"metadata": {"name": "p", "namespace": "shop"}, "status": {"phase": "Running"},
            "spec": {"hostNetwork": false}});
        let yes = |s: &str| FieldSelector::parse(s, "", "Pod").unwrap().matches(&pod);
        assert!(yes("metadata.name=p,metadata.namespace==shop"));
        assert!(yes("status.phase!=Pending,spec.hostNetwork=false"));
        assert!(yes("spec.nodeName="));
        assert!(!yes("status.phase=Pending"));
        assert_eq!(
            FieldSelector::parse("spec.replicas=1", "apps", "Deployment"),
            Err(Error::FieldLabel("spec.replicas".into()))
        );
        assert!(FieldSelector::parse("metadata.name", "", "ConfigMap").is_err());
    }
}
