//! Field selectors as the API server reads them from the `fieldSelector` query parameter, and
//! the `labelSelector` parameter read by core's [`LabelSelector`] (the renderer's parser, which
//! is apimachinery's `labels.Parse`). Parsing is separate from matching so that a bad selector is
//! a `400 Bad Request` before anything is listed.

use serde_json::Value;

/// A parsed `labelSelector`: every requirement must hold.
pub type LabelSelector = flotilla_core::selector::Requirements;

/// A field selector that cannot be parsed, or a field the kind cannot be selected by.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    #[error("unable to parse requirement: {0}")]
    Requirement(String),
    #[error("field label not supported: {0}")]
    FieldLabel(String),
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
