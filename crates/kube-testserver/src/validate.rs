//! The validation the API server does before it stores an object, for the checks a GitOps agent
//! meets in practice: names, labels, workload selectors and containers, Service ports, ConfigMap
//! values. A failure becomes a `422 Invalid` with one cause per field. Not Kubernetes' whole
//! validation: fields it does not name are accepted as they are.
//!
//! The rules for names and labels are core's (`flotilla_core::name`), the ones the agent and the
//! fleet model follow; the messages are Kubernetes' own, as the API server prints them.

use flotilla_core::name::{DnsLabel, DnsSubdomain, LabelKey, LabelValue};
use serde_json::Value;

/// One failed check, as a `StatusCause`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cause {
    /// `FieldValueRequired`, `FieldValueInvalid` or `FieldValueForbidden`.
    pub reason: &'static str,
    /// `spec.template.spec.containers[0].image`
    pub field: String,
    /// `Required value`, or `Invalid value: "x": why`.
    pub message: String,
}

impl Cause {
    fn required(field: &str, detail: &str) -> Self {
        let message =
            if detail.is_empty() { "Required value".to_string() } else { format!("Required value: {detail}") };
        Cause { reason: "FieldValueRequired", field: field.to_string(), message }
    }

    fn invalid(field: &str, value: &str, detail: &str) -> Self {
        Cause {
            reason: "FieldValueInvalid",
            field: field.to_string(),
            message: format!("Invalid value: {value}: {detail}"),
        }
    }

    pub fn forbidden(field: &str, detail: &str) -> Self {
        Cause { reason: "FieldValueForbidden", field: field.to_string(), message: format!("Forbidden: {detail}") }
    }
}

/// The message of a `422`: `Deployment.apps "web" is invalid: spec.selector: Required value`, with
/// several causes in brackets.
pub fn message(kind: &str, group: &str, name: &str, causes: &[Cause]) -> String {
    let what = if group.is_empty() { kind.to_string() } else { format!("{kind}.{group}") };
    let each: Vec<String> = causes.iter().map(|c| format!("{}: {}", c.field, c.message)).collect();
    let list = if each.len() == 1 { each[0].clone() } else { format!("[{}]", each.join(", ")) };
    format!("{what} {name:?} is invalid: {list}")
}

const SUBDOMAIN: &str = "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')";
const LABEL: &str = "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')";
const LABEL_VALUE: &str = "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')";
const QUALIFIED: &str = "name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')";

/// Checks an object of `kind` in `group` about to be stored under `name`.
pub fn validate(group: &str, kind: &str, name: &str, object: &Value) -> Vec<Cause> {
    let mut causes = Vec::new();
    let quoted = format!("{name:?}");
    // Namespaces and Services are DNS labels (they become DNS names); the rest are subdomains.
    if matches!((group, kind), ("", "Namespace" | "Service")) {
        if DnsLabel::check(name).is_err() {
            causes.push(Cause::invalid("metadata.name", &quoted, LABEL));
        }
    } else if DnsSubdomain::check(name).is_err() {
        causes.push(Cause::invalid("metadata.name", &quoted, SUBDOMAIN));
    }
    labels(object.pointer("/metadata/labels"), "metadata.labels", &mut causes);
    match (group, kind) {
        ("apps", "Deployment" | "StatefulSet" | "DaemonSet") => {
            workload(object, &mut causes);
            if let Some(r) = object.pointer("/spec/replicas").and_then(Value::as_i64)
                && r < 0
            {
                causes.push(Cause::invalid("spec.replicas", &r.to_string(), "must be greater than or equal to 0"));
            }
        }
        ("batch", "Job") => pod_spec(object.pointer("/spec/template/spec"), "spec.template.spec", &mut causes),
        ("batch", "CronJob") => {
            if object.pointer("/spec/schedule").and_then(Value::as_str).is_none_or(str::is_empty) {
                causes.push(Cause::required("spec.schedule", ""));
            }
            pod_spec(
                object.pointer("/spec/jobTemplate/spec/template/spec"),
                "spec.jobTemplate.spec.template.spec",
                &mut causes,
            );
        }
        ("", "Pod") => pod_spec(object.get("spec"), "spec", &mut causes),
        ("", "Service") => service(object, &mut causes),
        _ => {}
    }
    causes
}

fn labels(labels: Option<&Value>, field: &str, causes: &mut Vec<Cause>) {
    let Some(Value::Object(map)) = labels else { return };
    for (key, value) in map {
        if LabelKey::check(key).is_err() {
            causes.push(Cause::invalid(field, &format!("{key:?}"), QUALIFIED));
        }
        match value {
            Value::String(v) if LabelValue::check(v).is_ok() => {}
            other => {
                let shown = other.as_str().map_or_else(|| other.to_string(), |s| format!("{s:?}"));
                causes.push(Cause::invalid(field, &shown, LABEL_VALUE));
            }
        }
    }
}

/// Deployments, StatefulSets and DaemonSets: a selector that selects the template's labels.
fn workload(object: &Value, causes: &mut Vec<Cause>) {
    let selector = object.pointer("/spec/selector");
    let match_labels = selector.and_then(|s| s.get("matchLabels")).and_then(Value::as_object);
    let has_expressions =
        selector.and_then(|s| s.get("matchExpressions")).and_then(Value::as_array).is_some_and(|e| !e.is_empty());
    if match_labels.is_none_or(serde_json::Map::is_empty) && !has_expressions {
        causes.push(Cause::required("spec.selector", ""));
    } else if let Some(wanted) = match_labels {
        let template = object.pointer("/spec/template/metadata/labels").and_then(Value::as_object);
        let selected = wanted.iter().all(|(k, v)| template.and_then(|t| t.get(k)) == Some(v));
        if !selected {
            let shown = template.map_or_else(|| "map[string]string(nil)".to_string(), go_map);
            causes.push(Cause::invalid(
                "spec.template.metadata.labels",
                &shown,
                "`selector` does not match template `labels`",
            ));
        }
    }
    pod_spec(object.pointer("/spec/template/spec"), "spec.template.spec", causes);
}

/// Go's `%#v` of a `map[string]string`, as the API server prints it.
fn go_map(map: &serde_json::Map<String, Value>) -> String {
    let pairs: Vec<String> = map
        .iter()
        .map(|(k, v)| format!("{k:?}:{}", v.as_str().map_or_else(|| v.to_string(), |s| format!("{s:?}"))))
        .collect();
    format!("map[string]string{{{}}}", pairs.join(", "))
}

fn pod_spec(spec: Option<&Value>, field: &str, causes: &mut Vec<Cause>) {
    let containers = spec.and_then(|s| s.get("containers")).and_then(Value::as_array);
    let Some(containers) = containers.filter(|c| !c.is_empty()) else {
        causes.push(Cause::required(&format!("{field}.containers"), ""));
        return;
    };
    for (i, c) in containers.iter().enumerate() {
        let at = format!("{field}.containers[{i}]");
        match c.get("name").and_then(Value::as_str) {
            None | Some("") => causes.push(Cause::required(&format!("{at}.name"), "")),
            Some(n) if DnsLabel::check(n).is_err() => {
                causes.push(Cause::invalid(&format!("{at}.name"), &format!("{n:?}"), LABEL));
            }
            Some(_) => {}
        }
        if c.get("image").and_then(Value::as_str).is_none_or(str::is_empty) {
            causes.push(Cause::required(&format!("{at}.image"), ""));
        }
        for (j, p) in c.get("ports").and_then(Value::as_array).into_iter().flatten().enumerate() {
            port(p.get("containerPort"), &format!("{at}.ports[{j}].containerPort"), causes);
        }
    }
}

fn service(object: &Value, causes: &mut Vec<Cause>) {
    let spec = object.get("spec");
    let kind = spec.and_then(|s| s.get("type")).and_then(Value::as_str).unwrap_or("ClusterIP");
    let headless = spec.and_then(|s| s.get("clusterIP")).and_then(Value::as_str) == Some("None");
    let ports = spec.and_then(|s| s.get("ports")).and_then(Value::as_array);
    if ports.is_none_or(Vec::is_empty) && kind != "ExternalName" && !headless {
        causes.push(Cause::required("spec.ports", ""));
    }
    for (i, p) in ports.into_iter().flatten().enumerate() {
        port(p.get("port"), &format!("spec.ports[{i}].port"), causes);
    }
}

fn port(value: Option<&Value>, field: &str, causes: &mut Vec<Cause>) {
    match value.and_then(Value::as_i64) {
        None => causes.push(Cause::required(field, "")),
        Some(p) if !(1..=65_535).contains(&p) => {
            causes.push(Cause::invalid(field, &p.to_string(), "must be between 1 and 65535, inclusive"));
        }
        Some(_) => {}
    }
}

/// What the API server refuses before validation, when it decodes the body into its Go type: a
/// `400` with the decoder's message. Only the common case is checked: a ConfigMap or Secret whose
/// values are not strings.
pub fn decode_error(group: &str, kind: &str, object: &Value) -> Option<String> {
    if !group.is_empty() || !matches!(kind, "ConfigMap" | "Secret") {
        return None;
    }
    for field in ["data", "stringData", "binaryData"] {
        let Some(map) = object.get(field) else { continue };
        let Some(map) = map.as_object() else {
            return Some(format!(
                "{kind} in version \"v1\" cannot be handled as a {kind}: json: cannot unmarshal {} into Go struct field {kind}.{field} of type map[string]string",
                go_type(map)
            ));
        };
        if let Some((_, v)) = map.iter().find(|(_, v)| !v.is_string()) {
            return Some(format!(
                "{kind} in version \"v1\" cannot be handled as a {kind}: json: cannot unmarshal {} into Go struct field {kind}.{field} of type string",
                go_type(v)
            ));
        }
    }
    None
}

fn go_type(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "bool",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn deployment(labels: &Value, containers: &Value) -> Value {
        json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"},
            "spec": {"selector": {"matchLabels": {"app": "web"}},
                "template": {"metadata": {"labels": labels}, "spec": {"containers": containers}}}})
    }

    #[test]
    fn a_good_deployment_passes() {
        let d = deployment(&json!({"app": "web"}), &json!([{"name": "web", "image": "nginx"}]));
        assert_eq!(validate("apps", "Deployment", "web", &d), vec![]);
    }

    #[test]
    fn workload_mistakes_name_their_fields() {
        let d = deployment(&json!({"app": "other"}), &json!([{"name": "web"}]));
        let causes = validate("apps", "Deployment", "web", &d);
        let fields: Vec<&str> = causes.iter().map(|c| c.field.as_str()).collect();
        assert_eq!(fields, ["spec.template.metadata.labels", "spec.template.spec.containers[0].image"]);
        assert_eq!(
            message("Deployment", "apps", "web", &causes),
            "Deployment.apps \"web\" is invalid: [spec.template.metadata.labels: Invalid value: \
             map[string]string{\"app\":\"other\"}: `selector` does not match template `labels`, \
             spec.template.spec.containers[0].image: Required value]"
        );
    }

    #[test]
    fn names_and_labels() {
        let ns = json!({"metadata": {"labels": {"owner": "team a"}}});
        let causes = validate("", "Namespace", "shop.eu", &ns);
        assert_eq!(causes.len(), 2);
        assert_eq!(causes[0].field, "metadata.name");
        assert!(causes[0].message.starts_with("Invalid value: \"shop.eu\": a lowercase RFC 1123 label"));
        assert_eq!(causes[1].field, "metadata.labels");
        assert!(validate("", "ConfigMap", "app.config", &json!({})).is_empty());
        assert!(!validate("", "ConfigMap", "Bad_Name", &json!({})).is_empty());
    }

    /// The rules are core's, so the test server refuses what the agent's own checks refuse;
    /// the words stay Kubernetes'.
    #[test]
    fn names_and_labels_follow_cores_rules_in_kubernetes_words() {
        let long = "a".repeat(64);
        for (key, value) in [("a/b/c", "x"), ("Example.com/x", "x"), ("x", long.as_str()), (long.as_str(), "x")] {
            let object = json!({"metadata": {"labels": {key: value}}});
            let causes = validate("", "ConfigMap", "c", &object);
            assert_eq!(causes.len(), 1, "{key}={value}: {causes:?}");
            let why = if LabelKey::check(key).is_err() { QUALIFIED } else { LABEL_VALUE };
            assert!(causes[0].message.ends_with(why), "{key}={value}: {}", causes[0].message);
        }
        let labels = json!({"metadata": {"labels": {"app.kubernetes.io/name": "web", "empty": ""}}});
        assert_eq!(validate("", "ConfigMap", "c", &labels), vec![]);
        for name in ["a..b", "a.-b", &"a".repeat(254)] {
            assert!(DnsSubdomain::check(name).is_err());
            let causes = validate("", "ConfigMap", name, &json!({}));
            assert_eq!(causes[0].message, format!("Invalid value: {name:?}: {SUBDOMAIN}"));
        }
        assert!(validate("", "Namespace", &"a".repeat(64), &json!({}))[0].message.ends_with(LABEL));
    }

    #[test]
    fn service_ports() {
        let svc = json!({"spec": {"ports": [{"port": 70000}]}});
        let causes = validate("", "Service", "web", &svc);
        assert_eq!(causes[0].field, "spec.ports[0].port");
        assert_eq!(validate("", "Service", "web", &json!({"spec": {}}))[0].field, "spec.ports");
        assert!(validate("", "Service", "web", &json!({"spec": {"clusterIP": "None"}})).is_empty());
    }

    #[test]
    fn config_map_values_must_be_strings() {
        let cm = json!({"data": {"replicas": 3}});
        assert_eq!(
            decode_error("", "ConfigMap", &cm).as_deref(),
            Some(
                "ConfigMap in version \"v1\" cannot be handled as a ConfigMap: json: cannot unmarshal number into Go struct field ConfigMap.data of type string"
            )
        );
        assert_eq!(decode_error("", "ConfigMap", &json!({"data": {"a": "1"}})), None);
    }
}
