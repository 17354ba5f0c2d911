//! `values.schema.json` checked as Helm 4 checks it (`ValidateAgainstSchema`): the top chart's
//! schema against the coalesced values, then each enabled subchart's against its part of them,
//! depth first, every chart that fails named with its errors, under Helm's first line:
//!
//! ```text
//! values don't meet the specifications of the schema(s) in the following chart(s):
//! web:
//! - at '/replicas': got string, want integer
//! ```
//!
//! The validator is the `jsonschema` crate (drafts 4 to 2020-12, the latest when `$schema` says
//! none, as Helm's santhosh-tekuri/jsonschema), built without its file and HTTP retrievers:
//! nothing is read or fetched, so a `$ref` to another document fails the schema where Helm would
//! fetch it. `format` is an annotation, as in Helm (which does not assert formats). Errors are
//! worded as Helm's validator words the common ones (types, required and additional
//! properties, enums, bounds, lengths, patterns); other kinds keep the crate's words. Errors under
//! one subschema are grouped under it (`- at '/image': validation failed`, its errors indented
//! below), as Helm's are; siblings are sorted by location, where Helm's order follows its hash
//! maps and changes from run to run.

use std::fmt::Write as _;

use jsonschema::error::{TypeKind, ValidationErrorKind};
use serde_json::{Map, Value as Json};

use super::chart::Chart;

/// Helm's first line.
const HEADER: &str = "values don't meet the specifications of the schema(s) in the following chart(s):";

/// Checks `values` (the chart's coalesced values) against the schemas of `chart` and of its
/// enabled subcharts; the error is Helm's text, without its final line break.
pub fn validate(chart: &Chart, values: &Map<String, Json>) -> Result<(), String> {
    let mut out = String::new();
    validate_chart(chart, values, &mut out);
    if out.is_empty() { Ok(()) } else { Err(format!("{HEADER}\n{}", out.trim_end())) }
}

fn validate_chart(chart: &Chart, values: &Map<String, Json>, out: &mut String) {
    if let Some(schema) = &chart.schema
        && let Err(e) = validate_one(values, schema)
    {
        let _ = writeln!(out, "{}:", chart.name);
        out.push_str(&e);
    }
    for sub in &chart.subcharts {
        match values.get(&sub.name) {
            None | Some(Json::Null) => {}
            Some(Json::Object(sub_values)) => validate_chart(sub, sub_values, out),
            Some(other) => {
                let _ = writeln!(
                    out,
                    "{}:\ninvalid type for values: expected object (map), got {}",
                    sub.name,
                    go_type(other)
                );
            }
        }
    }
}

/// Go's `%T` of a decoded JSON value.
fn go_type(v: &Json) -> &'static str {
    match v {
        Json::Null => "<nil>",
        Json::Bool(_) => "bool",
        Json::Number(_) => "float64",
        Json::String(_) => "string",
        Json::Array(_) => "[]interface {}",
        Json::Object(_) => "map[string]interface {}",
    }
}

/// Helm's `ValidateAgainstSingleSchema`: the errors, one `- at 'LOCATION': MESSAGE` line each,
/// grouped as Helm's validator groups them (see [`tree`]); a schema that does not read or
/// compile, its error alone.
fn validate_one(values: &Map<String, Json>, schema: &[u8]) -> Result<(), String> {
    let schema: Json = serde_json::from_slice(schema).map_err(|e| format!("values.schema.json: {e}"))?;
    let validator = jsonschema::options()
        .should_validate_formats(false)
        .build(&schema)
        .map_err(|e| format!("values.schema.json: {e}"))?;
    let instance = Json::Object(values.clone());
    let mut errors: Vec<Failure> = Vec::new();
    for error in validator.iter_errors(&instance) {
        let failure = Failure {
            instance: error.instance_path().to_string(),
            schema: segments(&error.schema_path().to_string()),
            message: message(error.kind(), error.instance(), &error.to_string()),
        };
        // Helm's validator names every missing property of one object in one error.
        if let ValidationErrorKind::Required { .. } = error.kind()
            && let Some(previous) = errors.iter_mut().find(|f| {
                f.instance == failure.instance && f.schema == failure.schema && f.message.starts_with("missing propert")
            })
        {
            let names =
                previous.message.trim_start_matches("missing properties ").trim_start_matches("missing property ");
            let added = failure.message.trim_start_matches("missing property ");
            previous.message = format!("missing properties {names}, {added}");
            continue;
        }
        errors.push(failure);
    }
    if errors.is_empty() {
        return Ok(());
    }
    let mut out = String::new();
    for node in tree(errors, 0) {
        node.write(0, &mut out);
    }
    Err(out)
}

/// One failing keyword: where in the values, where in the schema, what.
struct Failure {
    instance: String,
    schema: Vec<String>,
    message: String,
}

/// A JSON pointer's segments (`/properties/a~1b` is `properties`, `a/b`).
fn segments(pointer: &str) -> Vec<String> {
    pointer.split('/').skip(1).map(|s| s.replace("~1", "/").replace("~0", "~")).collect()
}

/// An error as Helm prints it: a failing keyword, or a subschema that failed in more than one
/// way (`validation failed`, its keywords indented below it).
enum Node {
    Leaf { location: String, message: String },
    Group { location: String, children: Vec<Node> },
}

impl Node {
    fn key(&self) -> (&str, &str) {
        match self {
            Node::Leaf { location, message } => (location, message),
            Node::Group { location, .. } => (location, "validation failed"),
        }
    }

    fn write(&self, depth: usize, out: &mut String) {
        let indent = "  ".repeat(depth);
        let (location, message) = self.key();
        let _ = writeln!(out, "{indent}- at '{location}': {message}");
        if let Node::Group { children, .. } = self {
            for child in children {
                child.write(depth + 1, out);
            }
        }
    }
}

/// How many schema path segments a keyword that applies a subschema takes (`properties/NAME`,
/// `items`, `$ref`, …); `None` for a keyword that fails by itself.
fn applicator(rest: &[String]) -> Option<usize> {
    if rest.len() < 2 {
        return None;
    }
    match rest[0].as_str() {
        "properties" | "patternProperties" | "dependentSchemas" | "dependencies" | "allOf" | "anyOf" | "oneOf"
        | "prefixItems" => Some(2),
        "items" if rest[1].parse::<usize>().is_ok() && rest.len() > 2 => Some(2),
        "items"
        | "additionalProperties"
        | "additionalItems"
        | "not"
        | "if"
        | "then"
        | "else"
        | "contains"
        | "propertyNames"
        | "unevaluatedProperties"
        | "unevaluatedItems"
        | "$ref"
        | "$dynamicRef"
        | "$recursiveRef" => Some(1),
        _ => None,
    }
}

/// Helm's validator's tree of errors: the failures under one subschema grouped under it, a
/// group of one replaced by its failure; siblings sorted by location (Helm's order follows its
/// hash maps).
fn tree(failures: Vec<Failure>, depth: usize) -> Vec<Node> {
    let mut nodes = Vec::new();
    let mut groups: Vec<(Vec<String>, Vec<Failure>)> = Vec::new();
    for failure in failures {
        let rest = failure.schema.get(depth..).unwrap_or_default();
        match applicator(rest) {
            None => nodes.push(Node::Leaf { location: failure.instance, message: failure.message }),
            Some(n) => {
                let key = rest[..n].to_vec();
                match groups.iter_mut().find(|(k, _)| *k == key) {
                    Some((_, members)) => members.push(failure),
                    None => groups.push((key, vec![failure])),
                }
            }
        }
    }
    for (key, members) in groups {
        let location = common_location(members.iter().map(|m| m.instance.as_str()));
        let mut children = tree(members, depth + key.len());
        if children.len() == 1 {
            nodes.push(children.remove(0));
        } else {
            nodes.push(Node::Group { location, children });
        }
    }
    nodes.sort_by(|a, b| a.key().cmp(&b.key()));
    nodes
}

/// The deepest location the given ones share.
fn common_location<'a>(mut locations: impl Iterator<Item = &'a str>) -> String {
    let Some(first) = locations.next() else { return String::new() };
    let mut common: Vec<&str> = first.split('/').collect();
    for other in locations {
        let parts: Vec<&str> = other.split('/').collect();
        let same = common.iter().zip(&parts).take_while(|(a, b)| a == b).count();
        common.truncate(same);
    }
    common.join("/")
}

/// Helm's validator's `quote`: single quotes, Go's escapes.
fn quote(s: &str) -> String {
    let go = format!("{s:?}");
    let inner = &go[1..go.len() - 1];
    format!("'{}'", inner.replace("\\\"", "\"").replace('\'', "\\'"))
}

/// A value as Helm's validator shows it in a message.
fn display(v: &Json) -> String {
    match v {
        Json::String(s) => quote(s),
        Json::Array(_) | Json::Object(_) => "value".to_string(),
        Json::Null => "<nil>".to_string(),
        other => other.to_string(),
    }
}

/// The JSON type of a value as Helm's validator names it in a type error (values are
/// decoded as Go floats: every number is a number).
fn type_name(v: &Json) -> &'static str {
    match v {
        Json::Null => "null",
        Json::Bool(_) => "boolean",
        Json::Number(_) => "number",
        Json::String(_) => "string",
        Json::Array(_) => "array",
        Json::Object(_) => "object",
    }
}

fn count(v: &Json) -> usize {
    match v {
        Json::String(s) => s.chars().count(),
        Json::Array(a) => a.len(),
        Json::Object(o) => o.len(),
        _ => 0,
    }
}

/// A number as Helm's validator prints it: Go's `%v` through an English message printer,
/// thousands grouped (`70,000`).
fn go_number(v: &Json) -> String {
    let text = match v.as_f64() {
        #[allow(clippy::cast_possible_truncation, reason = "checked: integral and small")]
        Some(f) if f.fract() == 0.0 && f.abs() < 1e21 => format!("{}", f as i64),
        Some(f) => format!("{f}"),
        None => return v.to_string(),
    };
    grouped(&text)
}

/// A count as the printer writes a `%d`.
fn go_count(n: impl std::fmt::Display) -> String {
    grouped(&n.to_string())
}

/// Thousands separators in the whole part of a decimal number.
fn grouped(text: &str) -> String {
    let (sign, rest) = text.strip_prefix('-').map_or(("", text), |r| ("-", r));
    let (whole, fraction) = rest.split_at(rest.find('.').unwrap_or(rest.len()));
    if whole.len() <= 3 || !whole.bytes().all(|b| b.is_ascii_digit()) {
        return text.to_string();
    }
    let mut out = String::new();
    for (i, c) in whole.chars().enumerate() {
        if i > 0 && (whole.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    format!("{sign}{out}{fraction}")
}

/// An error in the words of Helm's validator (santhosh-tekuri/jsonschema v6's `kind`
/// package), where known.
fn message(kind: &ValidationErrorKind, instance: &Json, fallback: &str) -> String {
    use ValidationErrorKind as K;
    let primitive = |v: &Json| !v.is_array() && !v.is_object();
    match kind {
        K::Type { kind } => {
            let mut want: Vec<String> = match kind {
                TypeKind::Single(t) => vec![t.to_string()],
                TypeKind::Multiple(ts) => ts.iter().map(|t| t.to_string()).collect(),
            };
            want.sort();
            format!("got {}, want {}", type_name(instance), want.join(" or "))
        }
        K::Required { property } => format!("missing property {}", display(property)),
        K::AdditionalProperties { unexpected } => {
            let names: Vec<String> = unexpected.iter().map(|p| quote(p)).collect();
            format!("additional properties {} not allowed", names.join(", "))
        }
        K::Enum { options } => match &**options {
            Json::Array(items) if items.iter().all(primitive) => {
                let shown: Vec<String> = items.iter().map(display).collect();
                if shown.len() == 1 {
                    format!("value must be {}", shown[0])
                } else {
                    format!("value must be one of {}", shown.join(", "))
                }
            }
            _ => "'enum' failed".to_string(),
        },
        K::Constant { expected_value } if primitive(expected_value) => {
            format!("value must be {}", display(expected_value))
        }
        K::Constant { .. } => "'const' failed".to_string(),
        K::Minimum { limit } => format!("minimum: got {}, want {}", go_number(instance), go_number(limit)),
        K::Maximum { limit } => format!("maximum: got {}, want {}", go_number(instance), go_number(limit)),
        K::ExclusiveMinimum { limit } => {
            format!("exclusiveMinimum: got {}, want {}", go_number(instance), go_number(limit))
        }
        K::ExclusiveMaximum { limit } => {
            format!("exclusiveMaximum: got {}, want {}", go_number(instance), go_number(limit))
        }
        K::MinLength { limit } => format!("minLength: got {}, want {}", go_count(count(instance)), go_count(limit)),
        K::MaxLength { limit } => format!("maxLength: got {}, want {}", go_count(count(instance)), go_count(limit)),
        K::MinItems { limit } => format!("minItems: got {}, want {}", go_count(count(instance)), go_count(limit)),
        K::MaxItems { limit } => format!("maxItems: got {}, want {}", go_count(count(instance)), go_count(limit)),
        K::MinProperties { limit } => {
            format!("minProperties: got {}, want {}", go_count(count(instance)), go_count(limit))
        }
        K::MaxProperties { limit } => {
            format!("maxProperties: got {}, want {}", go_count(count(instance)), go_count(limit))
        }
        K::Pattern { pattern } => match instance {
            Json::String(got) => format!("{} does not match pattern {}", quote(got), quote(pattern)),
            _ => fallback.to_string(),
        },
        K::FalseSchema => "false schema".to_string(),
        K::AnyOf { .. } => "'anyOf' failed".to_string(),
        K::OneOfNotValid { .. } => "'oneOf' failed, none matched".to_string(),
        K::Not { .. } => "'not' failed".to_string(),
        K::Contains => "no items match contains schema".to_string(),
        _ => fallback.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn chart(name: &str, schema: &Json, subcharts: Vec<Chart>) -> Chart {
        Chart { name: name.into(), schema: Some(schema.to_string().into_bytes()), subcharts, ..Chart::default() }
    }

    fn values(v: Json) -> Map<String, Json> {
        match v {
            Json::Object(map) => map,
            other => panic!("not an object: {other}"),
        }
    }

    #[test]
    fn errors_read_as_helm_s() {
        let schema = json!({
            "type": "object",
            "required": ["image", "name", "port"],
            "additionalProperties": false,
            "properties": {
                "replicas": {"type": "integer", "minimum": 1},
                "image": {"type": "object"},
                "pullPolicy": {"enum": ["Always", "IfNotPresent"]},
                "tag": {"type": "string", "pattern": "^v[0-9]+$", "minLength": 3},
                "extra": {"type": ["string", "null"]},
                "name": {"type": "string"},
                "port": {"type": "integer"}
            }
        });
        let got = validate(
            &chart("web", &schema, Vec::new()),
            &values(
                json!({"replicas": "two", "pullPolicy": "Never", "tag": "x", "extra": 1, "image": {}, "debug": true}),
            ),
        )
        .unwrap_err();
        assert_eq!(
            got,
            "values don't meet the specifications of the schema(s) in the following chart(s):\n\
             web:\n\
             - at '': additional properties 'debug' not allowed\n\
             - at '': missing properties 'name', 'port'\n\
             - at '/extra': got number, want null or string\n\
             - at '/pullPolicy': value must be one of 'Always', 'IfNotPresent'\n\
             - at '/replicas': got string, want integer\n\
             - at '/tag': validation failed\n\
             \x20\x20- at '/tag': 'x' does not match pattern '^v[0-9]+$'\n\
             \x20\x20- at '/tag': minLength: got 1, want 3"
        );
        assert_eq!(
            validate(&chart("web", &schema, Vec::new()), &values(json!({"image": {}, "name": "a", "port": 80}))),
            Ok(())
        );
    }

    #[test]
    fn each_enabled_subchart_is_checked_against_its_own_values() {
        let sub = chart("db", &json!({"properties": {"size": {"type": "integer"}}}), Vec::new());
        let top = chart("app", &json!({"properties": {"db": {"type": "object"}}}), vec![sub]);
        assert_eq!(
            validate(&top, &values(json!({"db": {"size": "big"}}))).unwrap_err(),
            "values don't meet the specifications of the schema(s) in the following chart(s):\n\
             db:\n\
             - at '/size': got string, want integer"
        );
        assert_eq!(
            validate(&top, &values(json!({"db": "big"}))).unwrap_err(),
            "values don't meet the specifications of the schema(s) in the following chart(s):\n\
             app:\n\
             - at '/db': got string, want object\n\
             db:\n\
             invalid type for values: expected object (map), got string"
        );
        assert_eq!(validate(&top, &values(json!({}))), Ok(()));
    }

    #[test]
    fn numbers_are_grouped_as_helm_s_printer_does() {
        assert_eq!(go_number(&json!(70000)), "70,000");
        assert_eq!(go_number(&json!(-1_234_567.5)), "-1,234,567.5");
        assert_eq!(go_number(&json!(100)), "100");
        assert_eq!(go_count(1000), "1,000");
    }

    #[test]
    fn nothing_is_fetched_and_formats_are_annotations() {
        let remote = chart("web", &json!({"$ref": "https://example.com/schema.json"}), Vec::new());
        let e = validate(&remote, &values(json!({}))).unwrap_err();
        assert!(e.starts_with(&format!("{HEADER}\nweb:\nvalues.schema.json: ")), "{e}");
        let format = chart("web", &json!({"properties": {"mail": {"format": "email"}}}), Vec::new());
        assert_eq!(validate(&format, &values(json!({"mail": "not an address"}))), Ok(()));
    }
}
