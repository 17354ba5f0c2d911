//! Helm's template functions (`pkg/engine/funcs.go` and `engine.go`) over flotilla-template's
//! Go builtins and Sprig: `include`, `tpl`, `required`, `fail`, `toYaml`, `toYamlPretty`,
//! `fromYaml`, `fromYamlArray`, `toJson`, `fromJson`, `fromJsonArray`, `toToml` (not yet),
//! `lookup` (empty, as in `helm template`), `getHostByName` (empty: no DNS), and the `.Files`
//! object (`Get`, `GetBytes`, `Glob`, `Lines`, `AsConfig`, `AsSecrets`).
//!
//! Values cross into YAML and JSON as Helm's do: through Go's `encoding/json` (sorted keys,
//! `<`, `>` and `&` escaped, integral floats written as integers), then sigs.k8s.io/yaml.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Arc;

use flotilla_template::{Arity, Context, Funcs, JsonNumbers, Object, Value, sprig};
use serde_json::{Number, Value as Json};

use crate::digest::{JsonStyle, json_with};
use crate::yaml;

/// Helm's function table: Sprig (without `env`, `expandenv`; its random functions drawing from
/// `seed`, its `now` at `now_unix` seconds), then Helm's own; and whether the random functions
/// were drawn from.
pub fn funcs(seed: &[u8], now_unix: i64) -> (Funcs, sprig::random::Draws) {
    let mut f = Funcs::new();
    sprig::add_to(&mut f);
    let draws = sprig::random::add_to(&mut f, seed, now_unix);
    sprig::clock::add_to(&mut f, now_unix);
    f.insert("include", Arity::Exactly(2), |ctx: &dyn Context, a: &[Value]| {
        let name = string_arg(&a[0])?;
        ctx.execute(name, &a[1]).map(Value::String)
    });
    f.insert("tpl", Arity::Exactly(2), |ctx: &dyn Context, a: &[Value]| {
        let text = string_arg(&a[0])?;
        // Helm names the parsed text after the template that calls `tpl`.
        let name = match &a[1] {
            Value::Map(m) => match m.get("Template") {
                Some(Value::Map(t)) => t
                    .get("Name")
                    .and_then(|v| v.as_str().map(ToString::to_string))
                    .as_deref()
                    .unwrap_or("gotpl")
                    .to_string(),
                _ => "gotpl".to_string(),
            },
            _ => "gotpl".to_string(),
        };
        ctx.execute_text(&name, text, &a[1])
            .map(|out| Value::String(out.replace("<no value>", "")))
            .map_err(|e| format!("error during tpl function execution for {text:?}: {e}"))
    });
    f.insert("required", Arity::Exactly(2), |_, a| match &a[1] {
        Value::Nil => Err(warn_wrap(string_arg(&a[0])?)),
        Value::String(s) if s.is_empty() => Err(warn_wrap(string_arg(&a[0])?)),
        v => Ok(v.clone()),
    });
    f.insert("fail", Arity::Exactly(1), |_, a| Err(warn_wrap(string_arg(&a[0])?)));
    f.insert("lookup", Arity::Exactly(4), |_, _| Ok(Value::map::<String>([])));
    f.insert("getHostByName", Arity::Exactly(1), |_, _| Ok(Value::from("")));
    f.insert("toYaml", Arity::Exactly(1), |_, a| Ok(Value::String(to_yaml(&a[0]))));
    f.insert("mustToYaml", Arity::Exactly(1), |_, a| Ok(Value::String(to_yaml(&a[0]))));
    f.insert("toYamlPretty", Arity::Exactly(1), |_, a| Ok(Value::String(to_yaml(&a[0]))));
    f.insert("toJson", Arity::Exactly(1), |_, a| Ok(Value::String(to_json(&a[0], true))));
    f.insert("mustToJson", Arity::Exactly(1), |_, a| Ok(Value::String(to_json(&a[0], true))));
    f.insert("toRawJson", Arity::Exactly(1), |_, a| Ok(Value::String(to_json(&a[0], false))));
    f.insert("mustToRawJson", Arity::Exactly(1), |_, a| Ok(Value::String(to_json(&a[0], false))));
    f.insert("toPrettyJson", Arity::Exactly(1), |_, a| {
        Ok(Value::String(serde_json::to_string_pretty(&to_serde(&a[0])).unwrap_or_default()))
    });
    f.insert("fromYaml", Arity::Exactly(1), |_, a| Ok(from_yaml(string_arg(&a[0])?, false)));
    f.insert("fromYamlArray", Arity::Exactly(1), |_, a| Ok(from_yaml(string_arg(&a[0])?, true)));
    f.insert("fromJson", Arity::Exactly(1), |_, a| Ok(from_json(string_arg(&a[0])?, false)));
    f.insert("fromJsonArray", Arity::Exactly(1), |_, a| Ok(from_json(string_arg(&a[0])?, true)));
    (f, draws)
}

/// Helm's markers around a chart's own error message (`fail`, `required`), which the engine
/// finds again to print it alone: `execution error at (FILE:LINE:COL): MESSAGE`.
pub(crate) const WARN_START: &str = "HELM_ERR_START";
pub(crate) const WARN_END: &str = "HELM_ERR_END";

fn warn_wrap(message: &str) -> String {
    format!("{WARN_START}{message}{WARN_END}")
}

fn string_arg(v: &Value) -> Result<&str, String> {
    match v {
        Value::String(s) => Ok(s),
        Value::Nil => Err("invalid value; expected string".to_string()),
        other => Err(format!("wrong type for value; expected string; got {}", other.type_name())),
    }
}

/// A template value as Go's `encoding/json` sees it (integral floats become integers, as the
/// JSON text re-read by sigs.k8s.io/yaml gives).
pub fn to_serde(v: &Value) -> Json {
    match v {
        Value::Nil | Value::Function(_) => Json::Null,
        Value::Bool(b) => Json::Bool(*b),
        Value::Int(i) => Json::Number((*i).into()),
        Value::Float(f) => float_number(*f),
        Value::String(s) => Json::String(s.clone()),
        Value::List(l) => Json::Array(l.iter().map(to_serde).collect()),
        Value::Map(m) => Json::Object(m.entries().into_iter().map(|(k, v)| (k, to_serde(&v))).collect()),
        Value::Object(o) => match o.entries() {
            Some(entries) => Json::Object(entries.iter().map(|(k, v)| (k.clone(), to_serde(v))).collect()),
            None => Json::Object(
                o.field_names().iter().map(|n| (n.clone(), to_serde(&o.field(n).unwrap_or_default()))).collect(),
            ),
        },
    }
}

fn float_number(f: f64) -> Json {
    #[allow(clippy::cast_possible_truncation, reason = "checked: integral and within i64 range")]
    if f.fract() == 0.0 && f.abs() < 1e15 {
        return Json::Number(Number::from(f as i64));
    }
    Number::from_f64(f).map_or(Json::Null, Json::Number)
}

/// Helm's `toYAML`: sigs.k8s.io/yaml's `Marshal`, the last line break cut.
pub fn to_yaml(v: &Value) -> String {
    let json = to_serde(v);
    let mut out = yaml::to_string(&json);
    // A document that is one block scalar: yaml.v2 indents its lines by two (core's writer, made
    // for objects, writes them at the margin).
    if json.is_string() && out.starts_with('|') {
        let mut lines = out.split('\n');
        let head = lines.next().unwrap_or_default().to_string();
        out = std::iter::once(head)
            .chain(lines.map(|l| if l.is_empty() { String::new() } else { format!("  {l}") }))
            .collect::<Vec<_>>()
            .join("\n");
    }
    out.strip_suffix('\n').unwrap_or(&out).to_string()
}

/// Go's `json.Marshal`: keys sorted, HTML characters escaped unless `raw` is off.
pub fn to_json(v: &Value, escape_html: bool) -> String {
    let style = JsonStyle { html: escape_html, line_separators: true, short_exponents: true };
    json_with(&to_serde(v), style)
}

/// Helm's `fromYAML` / `fromYAMLArray`: the document, or a map whose `Error` says why not.
fn from_yaml(text: &str, array: bool) -> Value {
    let error = |message: String| {
        if array { Value::list([Value::from(message)]) } else { Value::map([("Error", Value::from(message))]) }
    };
    match yaml::load_helm_values(text.as_bytes()) {
        Ok(Json::Null) => {
            if array {
                Value::list([])
            } else {
                Value::map::<String>([])
            }
        }
        Ok(v @ Json::Object(_)) if !array => Value::from_json(&v, JsonNumbers::Float),
        Ok(v @ Json::Array(_)) if array => Value::from_json(&v, JsonNumbers::Float),
        Ok(v) => error(format!(
            "error unmarshaling JSON: while decoding JSON: json: cannot unmarshal {} into Go value of type {}",
            json_kind(&v),
            if array { "[]interface {}" } else { "map[string]interface {}" }
        )),
        Err(e) => error(e.to_string()),
    }
}

fn from_json(text: &str, array: bool) -> Value {
    let error = |message: String| {
        if array { Value::list([Value::from(message)]) } else { Value::map([("Error", Value::from(message))]) }
    };
    match serde_json::from_str::<Json>(text) {
        Ok(v @ Json::Object(_)) if !array => Value::from_json(&v, JsonNumbers::Float),
        Ok(v @ Json::Array(_)) if array => Value::from_json(&v, JsonNumbers::Float),
        Ok(v) => error(format!(
            "json: cannot unmarshal {} into Go value of type {}",
            json_kind(&v),
            if array { "[]interface {}" } else { "map[string]interface {}" }
        )),
        Err(e) => error(e.to_string()),
    }
}

fn json_kind(v: &Json) -> &'static str {
    match v {
        Json::Null => "null",
        Json::Bool(_) => "bool",
        Json::Number(_) => "number",
        Json::String(_) => "string",
        Json::Array(_) => "array",
        Json::Object(_) => "object",
    }
}

/// `.Files`: a chart's files (Helm's `files`, a `map[string][]byte` with methods).
#[derive(Debug)]
struct Files {
    files: Arc<BTreeMap<String, Vec<u8>>>,
}

/// The `.Files` object over a chart's files (path relative to the chart → bytes).
pub fn files_object(files: &BTreeMap<String, Vec<u8>>) -> Value {
    Value::Object(Arc::new(Files { files: Arc::new(files.clone()) }))
}

impl Object for Files {
    #[allow(clippy::unnecessary_literal_bound, reason = "the trait's signature")]
    fn type_name(&self) -> &str {
        "engine.files"
    }
    fn field(&self, _name: &str) -> Option<Value> {
        None
    }
    fn has_method(&self, name: &str) -> bool {
        matches!(name, "Get" | "GetBytes" | "Glob" | "Lines" | "AsConfig" | "AsSecrets")
    }
    fn call_method(&self, name: &str, args: &[Value]) -> Result<Value, String> {
        let one_string = || match args {
            [Value::String(s)] => Ok(s.as_str()),
            [other] => Err(format!("wrong type for value; expected string; got {}", other.type_name())),
            _ => Err(format!("wrong number of args for {name}: want 1 got {}", args.len())),
        };
        let none = || {
            if args.is_empty() {
                Ok(())
            } else {
                Err(format!("wrong number of args for {name}: want 0 got {}", args.len()))
            }
        };
        match name {
            "Get" | "GetBytes" => {
                let path = one_string()?;
                Ok(Value::String(
                    self.files.get(path).map(|b| String::from_utf8_lossy(b).into_owned()).unwrap_or_default(),
                ))
            }
            "Glob" => {
                let pattern = one_string()?;
                let matcher = glob_regex(pattern);
                let found: BTreeMap<String, Vec<u8>> = self
                    .files
                    .iter()
                    .filter(|(k, _)| matcher.is_match(k))
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect();
                Ok(Value::Object(Arc::new(Files { files: Arc::new(found) })))
            }
            "Lines" => {
                let path = one_string()?;
                let Some(bytes) = self.files.get(path) else { return Ok(Value::list([])) };
                let text = String::from_utf8_lossy(bytes);
                let text = text.strip_suffix('\n').unwrap_or(&text);
                Ok(Value::list(text.split('\n').map(Value::from)))
            }
            "AsConfig" | "AsSecrets" => {
                none()?;
                let map: BTreeMap<String, Value> = self
                    .files
                    .iter()
                    .map(|(k, v)| {
                        let base = k.rsplit('/').next().unwrap_or(k).to_string();
                        let text = if name == "AsConfig" { String::from_utf8_lossy(v).into_owned() } else { base64(v) };
                        (base, Value::String(text))
                    })
                    .collect();
                Ok(Value::String(to_yaml(&Value::from(map))))
            }
            _ => Err(format!("no method {name}")),
        }
    }
    fn entries(&self) -> Option<Vec<(String, Value)>> {
        Some(
            self.files
                .iter()
                .map(|(k, v)| (k.clone(), Value::String(String::from_utf8_lossy(v).into_owned())))
                .collect(),
        )
    }
}

/// gobwas/glob with `/` as separator, as Helm's `Files.Glob` compiles it: `*` within a path
/// element, `**` across, `?`, `[...]`, `{a,b}`.
fn glob_regex(pattern: &str) -> regex::Regex {
    let mut re = String::from("^");
    let chars: Vec<char> = pattern.chars().collect();
    let mut i = 0;
    let mut in_braces = 0;
    while i < chars.len() {
        let c = chars[i];
        match c {
            '*' if chars.get(i + 1) == Some(&'*') => {
                re.push_str(".*");
                i += 1;
            }
            '*' => re.push_str("[^/]*"),
            '?' => re.push_str("[^/]"),
            '[' => {
                let end = chars[i..].iter().position(|&c| c == ']').map(|p| p + i);
                if let Some(end) = end {
                    let class: String = chars[i + 1..end].iter().collect();
                    let class = class.strip_prefix('!').map_or(class.clone(), |rest| format!("^{rest}"));
                    let _ = write!(re, "[{class}]");
                    i = end;
                } else {
                    re.push_str("\\[");
                }
            }
            '{' => {
                in_braces += 1;
                re.push_str("(?:");
            }
            '}' if in_braces > 0 => {
                in_braces -= 1;
                re.push(')');
            }
            ',' if in_braces > 0 => re.push('|'),
            '\\' if i + 1 < chars.len() => {
                i += 1;
                re.push_str(&regex::escape(&chars[i].to_string()));
            }
            c => re.push_str(&regex::escape(&c.to_string())),
        }
        i += 1;
    }
    re.push('$');
    regex::Regex::new(&re).unwrap_or_else(|_| regex::Regex::new("^$").expect("a valid regex"))
}

fn base64(bytes: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn to_json_escapes_as_go_and_writes_integral_floats_as_integers() {
        let v = Value::map([
            ("a", Value::Float(3.0)),
            ("b", Value::from("<x>&")),
            ("c", Value::Float(0.5)),
            ("d", Value::Float(1e-7)),
            ("e", Value::Float(1e21)),
        ]);
        assert_eq!(to_json(&v, true), r#"{"a":3,"b":"\u003cx\u003e\u0026","c":0.5,"d":1e-7,"e":1e+21}"#);
    }

    #[test]
    fn files_glob_as_gobwas() {
        assert!(glob_regex("files/*.conf").is_match("files/a.conf"));
        assert!(!glob_regex("files/*.conf").is_match("files/x/a.conf"));
        assert!(glob_regex("files/**.conf").is_match("files/x/a.conf"));
        assert!(glob_regex("{a,b}/*").is_match("b/c"));
    }
}
