//! kustomize's legacy `vars`: a kustomization names a field of one of its objects (`objref`,
//! `fieldref`), and every `$(NAME)` in the fields its `varReference` specs list is replaced by
//! that field's final value, as `kubectl kustomize` (kustomize 5.5) does.
//!
//! It follows kustomize's accumulator: a kustomization's vars are declared after its
//! transformers ran, each finding the object it names among the resources gathered so far by
//! the object's *original* id (so the prefixes, suffixes and namespaces that kustomizations
//! add do not hide it); the vars of bases and components travel up with their resources, and
//! a name declared twice is an error. At the very top, after name references were fixed, each
//! var reads its field from the object as it finally is (a `metadata.name` is prefixed and
//! hashed) and the references are expanded. It is not `replacements`, which is another field.
//!
//! Where kustomize only logs (a var never used, a var whose value is a map or a list and so
//! stays `$(NAME)`), the render goes on as kubectl's does.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;

use serde::{Deserialize, Deserializer};
use serde_json::{Map, Number, Value};

use super::Error;
use super::resource::{FieldSpec, Gvk, Resource, visit};

/// The field a var reads when its `fieldref` names none.
const DEFAULT_FIELD_PATH: &str = "metadata.name";

/// One entry of a kustomization's `vars`.
///
/// kustomize reads kustomization files with Go's JSON decoding, which matches field names
/// regardless of case (`fieldpath` is `fieldPath`); so do we. Absent fields are empty, as in
/// Go; an objref that names nothing is an error when the var is resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Var {
    pub name: String,
    pub objref: ObjRef,
    pub fieldref: FieldRef,
}

/// The object a var reads, by the name it has in its own file (before prefixes, suffixes,
/// namespaces and hashes). `apiVersion`, when given, overrides `group` and `version`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ObjRef {
    #[serde(default, rename = "apiVersion")]
    pub api_version: String,
    #[serde(default)]
    pub group: String,
    #[serde(default)]
    pub version: String,
    #[serde(default)]
    pub kind: String,
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub namespace: String,
}

/// The field a var reads: a `.`-separated path (`spec.ports[0].port`,
/// `spec.containers.[name=app].image`, `metadata.annotations.[example.com/x]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldRef {
    pub field_path: String,
}

impl Default for FieldRef {
    fn default() -> Self {
        FieldRef { field_path: DEFAULT_FIELD_PATH.to_string() }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawVar {
    #[serde(default)]
    name: String,
    #[serde(default)]
    objref: Option<ObjRef>,
    #[serde(default)]
    fieldref: Option<RawFieldRef>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFieldRef {
    #[serde(default, rename = "fieldPath")]
    field_path: Option<String>,
}

impl<'de> Deserialize<'de> for Var {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let mut value = Value::deserialize(deserializer)?;
        if let Value::Object(var) = &mut value {
            fold_keys(var, &["name", "objref", "fieldref"]);
            if let Some(Value::Object(objref)) = var.get_mut("objref") {
                fold_keys(objref, &["apiVersion", "group", "version", "kind", "name", "namespace"]);
            }
            if let Some(Value::Object(fieldref)) = var.get_mut("fieldref") {
                fold_keys(fieldref, &["fieldPath"]);
            }
        }
        let raw: RawVar = serde_path_to_error::deserialize(value).map_err(|e| {
            let path = e.path().to_string();
            let message = e.into_inner().to_string();
            serde::de::Error::custom(if path == "." { message } else { format!("{path}: {message}") })
        })?;
        let field_path = raw.fieldref.and_then(|f| f.field_path).filter(|p| !p.is_empty());
        Ok(Var {
            name: raw.name,
            objref: raw.objref.unwrap_or_default(),
            fieldref: field_path.map_or_else(FieldRef::default, |field_path| FieldRef { field_path }),
        })
    }
}

/// Renames the keys of `map` that equal one of `names` but for case to that name, as Go's
/// JSON decoding matches them (an exact match wins).
fn fold_keys(map: &mut Map<String, Value>, names: &[&str]) {
    for name in names {
        if map.contains_key(*name) {
            continue;
        }
        if let Some(key) = map.keys().find(|k| k.eq_ignore_ascii_case(name)).cloned() {
            let value = map.remove(&key).expect("the key was just found");
            map.insert((*name).to_string(), value);
        }
    }
}

impl ObjRef {
    /// Group, version and kind, `apiVersion` taking precedence as kustomize's `Target.GVK`
    /// has it (`a/b` sets both, `v` the version only).
    pub fn gvk(&self) -> Gvk {
        let (mut group, mut version) = (self.group.clone(), self.version.clone());
        if !self.api_version.is_empty() {
            let parts: Vec<&str> = self.api_version.split('/').collect();
            match parts.as_slice() {
                [g, v] => (group, version) = ((*g).to_string(), (*v).to_string()),
                [v] => version = (*v).to_string(),
                _ => {}
            }
        }
        Gvk { group, version, kind: self.kind.clone() }
    }

    /// For messages: `v1 Service web`, `apps/v1 Deployment shop/web`.
    fn describe(&self) -> String {
        let gvk = self.gvk();
        let api_version = match (gvk.group.as_str(), gvk.version.as_str()) {
            ("", "") => "(no apiVersion)".to_string(),
            ("", v) => v.to_string(),
            (g, v) => format!("{g}/{v}"),
        };
        let kind = if gvk.kind.is_empty() { "(no kind)" } else { gvk.kind.as_str() };
        let name = if self.name.is_empty() { "(no name)" } else { self.name.as_str() };
        match self.namespace.as_str() {
            "" => format!("{api_version} {kind} {name}"),
            ns => format!("{api_version} {kind} {ns}/{name}"),
        }
    }

    /// Whether `r` is the object named, by its original id: kustomize's `GvknEquals`, or
    /// `Equals` (the same effective namespace too) when a namespace is given or the kind is
    /// cluster-scoped. Group and version compare exactly: an objref without them matches
    /// only objects without them.
    fn matches(&self, gvk: &Gvk, r: &Resource) -> bool {
        let (namespace, name) = r.original();
        if name != self.name || r.gvk() != *gvk {
            return false;
        }
        if self.namespace.is_empty() && !gvk.is_cluster_scoped() {
            return true;
        }
        effective_namespace(gvk, &self.namespace) == effective_namespace(gvk, namespace)
    }
}

/// kustomize's `EffectiveNamespace`: no namespace is `default`, a cluster-scoped kind has none.
fn effective_namespace<'a>(gvk: &Gvk, namespace: &'a str) -> &'a str {
    if gvk.is_cluster_scoped() {
        "_non_namespaceable_"
    } else if namespace.is_empty() {
        "default"
    } else {
        namespace
    }
}

/// A var and where it was declared, for messages.
#[derive(Debug, Clone)]
struct Declared {
    var: Var,
    file: String,
    index: usize,
}

impl Declared {
    fn at(&self) -> String {
        format!("{} vars[{}]", self.file, self.index)
    }

    fn error(&self, field: &str, message: String) -> Error {
        Error::Field { file: self.file.clone(), field: format!("vars[{}]{field}", self.index), message }
    }
}

/// The vars a build has gathered (kustomize's `VarSet`), by name.
#[derive(Debug, Default)]
pub(crate) struct Vars {
    by_name: BTreeMap<String, Declared>,
}

impl Vars {
    /// Declares the `vars` of the kustomization `file` (kustomize's `MergeVars`), after its
    /// transformers ran: each marks the one object among `resources` that its objref names by
    /// original id (none is only an error when the var is resolved; several are an error now).
    pub fn declare(&mut self, file: &str, vars: &[Var], resources: &mut [Resource]) -> Result<(), Error> {
        if vars.is_empty() {
            return Ok(());
        }
        // The resources by the name they were first given (an objref names that one).
        let mut by_name: HashMap<String, Vec<usize>> = HashMap::new();
        for (i, r) in resources.iter().enumerate() {
            by_name.entry(r.original().1.to_string()).or_default().push(i);
        }
        for (index, var) in vars.iter().enumerate() {
            let gvk = var.objref.gvk();
            let named = by_name.get(&var.objref.name).map_or(&[][..], Vec::as_slice);
            let hits: Vec<usize> = named.iter().copied().filter(|&i| var.objref.matches(&gvk, &resources[i])).collect();
            if hits.len() > 1 {
                let ids: Vec<String> = hits.iter().map(|&i| resources[i].id()).collect();
                return Err(Error::Field {
                    file: file.to_string(),
                    field: format!("vars[{index}].objref"),
                    message: format!(
                        "{} matches {} resources by the names in their own files ({}); kustomize cannot tell which one the var {:?} means",
                        var.objref.describe(),
                        hits.len(),
                        ids.join(", "),
                        var.name
                    ),
                });
            }
            if let Some(&i) = hits.first() {
                resources[i].vars.push(var.name.clone());
            }
        }
        for (index, var) in vars.iter().enumerate() {
            self.add(Declared { var: var.clone(), file: file.to_string(), index })?;
        }
        Ok(())
    }

    /// Takes in the vars of a base (kustomize's `MergeSet`); a name both declare is an error.
    pub fn absorb(&mut self, other: Vars) -> Result<(), Error> {
        other.by_name.into_values().try_for_each(|d| self.add(d))
    }

    fn add(&mut self, declared: Declared) -> Result<(), Error> {
        if let Some(first) = self.by_name.get(&declared.var.name) {
            let message = format!("the var {:?} is declared already, in {}", declared.var.name, first.at());
            return Err(declared.error(".name", message));
        }
        self.by_name.insert(declared.var.name.clone(), declared);
        Ok(())
    }

    /// Replaces `$(NAME)` at every `specs` field of every resource by the var's value
    /// (kustomize's `ResolveVars`), once names are final. The vars are resolved in name order,
    /// as kustomize does, so the first error is the same one. `file` is the kustomization
    /// rendered, named in errors about a resource's fields.
    pub fn resolve(&self, resources: &mut [Resource], specs: &[FieldSpec], file: &str) -> Result<(), Error> {
        if self.by_name.is_empty() {
            return Ok(());
        }
        let mut values: BTreeMap<&str, Scalar> = BTreeMap::new();
        // Which resource each var marked (the first, as a search in build order finds it).
        let mut marked: HashMap<&str, usize> = HashMap::new();
        for (i, r) in resources.iter().enumerate() {
            for name in &r.vars {
                marked.entry(name.as_str()).or_insert(i);
            }
        }
        for (name, declared) in &self.by_name {
            let Some(r) = marked.get(name.as_str()).map(|&i| &resources[i]) else {
                let var = &declared.var;
                let hint = if var.objref.gvk().version.is_empty() {
                    "; kustomize compares group and version exactly, so give the objref an apiVersion"
                } else {
                    ""
                };
                let message = format!(
                    "{} matches no resource (a var looks among the resources of the kustomization that declares it, its bases and components, by the names in their own files){hint}",
                    var.objref.describe()
                );
                return Err(declared.error(".objref", message));
            };
            let path = &declared.var.fieldref.field_path;
            let Some(value) = field_value(&r.object, path) else {
                let hint = if path.contains('=') && !path.contains(".[") {
                    " (a list item is selected as `ports.[name=http]`, or `ports[0]`)"
                } else {
                    ""
                };
                return Err(declared.error(".fieldref.fieldPath", format!("{} has no field {path:?}{hint}", r.id())));
            };
            // A mapping or list cannot stand in for a reference, which stays as written.
            if let Some(scalar) = Scalar::of(value) {
                values.insert(name, scalar);
            }
        }
        // The longest value: what one reference may add to a field at most.
        let longest = values.values().map(Scalar::len).max().unwrap_or(0);
        for r in resources.iter_mut() {
            let gvk = r.gvk();
            let id = r.id();
            // What the vars may add to this resource, at most: a large value referenced many
            // times may not grow an object past `MAX_OBJECT_BYTES`.
            let mut room = super::MAX_OBJECT_BYTES;
            for spec in specs.iter().filter(|s| s.applies_to(&gvk)) {
                let mut problem = None;
                visit(&mut r.object, &spec.path, false, &mut |v| {
                    if problem.is_some() {
                        return;
                    }
                    let most = references(v).saturating_mul(longest);
                    if most > room {
                        let limit = super::bytes_text(super::MAX_OBJECT_BYTES as u64);
                        problem = Some(format!("the vars it references would add more than {limit} to it"));
                        return;
                    }
                    room -= most;
                    if let Err(e) = replace_in(v, &values) {
                        problem.get_or_insert(e);
                    }
                });
                if let Some(p) = problem {
                    return Err(Error::Resource {
                        file: file.to_string(),
                        message: format!("vars: {id}: field {}: {p}", spec.path),
                    });
                }
            }
        }
        Ok(())
    }
}

/// How many `$(` a field a varReference spec names holds: the references it may expand.
fn references(value: &Value) -> usize {
    match value {
        Value::String(s) => s.matches("$(").count(),
        Value::Object(map) => map.values().map(references).sum(),
        Value::Array(items) => items.iter().map(references).sum(),
        _ => 0,
    }
}

/// Replaces the references in one field a varReference spec names, as kustomize's refvar
/// filter: a string, the string values of a mapping (other values left alone), or the items
/// of a list, which must all be strings.
fn replace_in(value: &mut Value, vars: &BTreeMap<&str, Scalar>) -> Result<(), String> {
    match value {
        Value::String(s) => *value = expand(s, vars),
        Value::Object(map) => {
            for v in map.values_mut() {
                if let Value::String(s) = v {
                    *v = expand(s, vars);
                }
            }
        }
        Value::Array(items) => {
            for item in items {
                let Value::String(s) = item else {
                    return Err(format!(
                        "{item} is not a string, and every item of a list where vars are replaced must be"
                    ));
                };
                *item = expand(s, vars);
            }
        }
        Value::Null | Value::Bool(_) | Value::Number(_) => {}
    }
    Ok(())
}

/// A var's value, when it can stand in for `$(NAME)`: a string, number or boolean. A mapping
/// or list cannot, and its references are left as they are.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Scalar {
    Str(String),
    Number(Number),
    Bool(bool),
}

impl Scalar {
    /// About how long its text is.
    fn len(&self) -> usize {
        match self {
            Scalar::Str(s) => s.len(),
            Scalar::Number(_) | Scalar::Bool(_) => 24,
        }
    }

    fn of(value: &Value) -> Option<Scalar> {
        match value {
            Value::String(s) => Some(Scalar::Str(s.clone())),
            Value::Number(n) => Some(Scalar::Number(n.clone())),
            Value::Bool(b) => Some(Scalar::Bool(*b)),
            // kustomize takes a null's text (`null`, `~` or nothing); we no longer have it.
            Value::Null => Some(Scalar::Str("null".into())),
            Value::Object(_) | Value::Array(_) => None,
        }
    }

    fn to_value(&self) -> Value {
        match self {
            Scalar::Str(s) => Value::String(s.clone()),
            Scalar::Number(n) => Value::Number(n.clone()),
            Scalar::Bool(b) => Value::Bool(*b),
        }
    }

    /// The value inside a longer string, as Go's `%v` prints it.
    fn write_to(&self, out: &mut String) {
        match self {
            Scalar::Str(s) => out.push_str(s),
            Scalar::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
            Scalar::Number(n) => match n.as_f64() {
                Some(f) if n.is_f64() => out.push_str(&go_float(f)),
                _ => out.push_str(&n.to_string()),
            },
        }
    }
}

/// Expands the `$(NAME)` references in `input` (Kubernetes' expansion rules, as kustomize's
/// `DoReplacements`): `$$` is a `$`; a reference to a name `vars` lacks stays as written; an
/// unclosed `$(` and a `$` before anything else are kept. A string that is one reference and
/// nothing else takes the value's type (`"$(PORT)"` becomes the number 80).
pub(crate) fn expand(input: &str, vars: &BTreeMap<&str, Scalar>) -> Value {
    let bytes = input.as_bytes();
    let mut out = String::with_capacity(input.len());
    let mut checkpoint = 0;
    let mut cursor = 0;
    while cursor < bytes.len() {
        if bytes[cursor] != b'$' || cursor + 1 == bytes.len() {
            cursor += 1;
            continue;
        }
        out.push_str(&input[checkpoint..cursor]);
        let after = cursor + 1;
        match bytes[after] {
            b'$' => {
                out.push('$');
                cursor = after + 1;
            }
            b'(' => {
                let Some(len) = input[after + 1..].find(')') else {
                    // An unclosed `$(` is text; scanning goes on after the `(`.
                    out.push_str("$(");
                    cursor = after + 1;
                    checkpoint = cursor;
                    continue;
                };
                let name = &input[after + 1..after + 1 + len];
                let end = after + 1 + len + 1;
                match vars.get(name) {
                    Some(value) if cursor == 0 && end == input.len() => return value.to_value(),
                    Some(value) => value.write_to(&mut out),
                    None => {
                        let _ = write!(out, "$({name})");
                    }
                }
                cursor = end;
            }
            // A `$` that begins nothing: kept, and scanning goes on after it.
            _ => {
                out.push('$');
                cursor = after;
            }
        }
        checkpoint = cursor;
    }
    out.push_str(&input[checkpoint..]);
    Value::String(out)
}

/// Formats a float as Go's `%v` (`strconv.FormatFloat(f, 'g', -1, 64)`): the shortest digits
/// that read back the same, in exponent form when the exponent is below -4 or at least 6
/// (`1.234567e+06`, `1e-05`, `100000.5`).
fn go_float(f: f64) -> String {
    if f.is_nan() {
        return "NaN".into();
    }
    if f.is_infinite() {
        return if f > 0.0 { "+Inf".into() } else { "-Inf".into() };
    }
    // Rust's `{:e}` gives the same shortest digits: `-1.2345e6`.
    let sci = format!("{f:e}");
    let (mantissa, exp) = sci.split_once('e').expect("`{:e}` always writes an exponent");
    let exp: i32 = exp.parse().expect("`{:e}` writes a decimal exponent");
    let (sign, mantissa) = mantissa.strip_prefix('-').map_or(("", mantissa), |m| ("-", m));
    let digits: String = mantissa.chars().filter(char::is_ascii_digit).collect();
    if !(-4..6).contains(&exp) {
        let (first, rest) = digits.split_at(1);
        let dot = if rest.is_empty() { String::new() } else { format!(".{rest}") };
        let exp_sign = if exp < 0 { '-' } else { '+' };
        return format!("{sign}{first}{dot}e{exp_sign}{:02}", exp.abs());
    }
    let point = usize::try_from(exp + 1).unwrap_or(0);
    if exp < 0 {
        let zeros = "0".repeat(usize::try_from(-exp - 1).expect("exp is negative"));
        return format!("{sign}0.{zeros}{digits}");
    }
    if digits.len() <= point {
        format!("{sign}{digits}{}", "0".repeat(point - digits.len()))
    } else {
        format!("{sign}{}.{}", &digits[..point], &digits[point..])
    }
}

/// The value at a var's `fieldPath` (kyaml's `GetFieldValue`): `.`-separated, `\.` a dot inside
/// a name, `[a.b]` a name with dots, `name[2]` or `name.2` an item of a list, `[key=value]`
/// the item of a list whose field `key` is `value`. Empty parts are skipped.
pub(crate) fn field_value<'a>(object: &'a Value, path: &str) -> Option<&'a Value> {
    let mut current = object;
    for part in path_parts(path) {
        current = match current {
            Value::Array(items) => {
                if let Some((key, want)) =
                    part.strip_prefix('[').and_then(|p| p.strip_suffix(']')).and_then(|p| p.split_once('='))
                {
                    let text = |v: Option<&Value>| match v {
                        Some(Value::String(s)) => Some(s.clone()),
                        Some(v @ (Value::Number(_) | Value::Bool(_))) => Some(v.to_string()),
                        _ => None,
                    };
                    items.iter().find(|item| match key {
                        "" => text(Some(item)).as_deref() == Some(want),
                        key => text(item.get(key)).as_deref() == Some(want),
                    })?
                } else if !part.is_empty() && part.bytes().all(|b| b.is_ascii_digit()) {
                    items.get(part.parse::<usize>().ok()?)?
                } else {
                    return None;
                }
            }
            Value::Object(map) => map.get(&part)?,
            _ => return None,
        };
    }
    Some(current)
}

/// Splits a field path as kyaml does (`SmarterPathSplitter`, then `name[N]` into `name`, `N`),
/// dropping empty parts and spaces around them.
fn path_parts(path: &str) -> Vec<String> {
    // `\.` keeps a dot inside a part.
    let mut split: Vec<String> = Vec::new();
    for piece in path.split('.') {
        match split.last_mut() {
            Some(last) if last.ends_with('\\') => {
                last.pop();
                last.push('.');
                last.push_str(piece);
            }
            _ => split.push(piece.to_string()),
        }
    }
    // `[a.b]` is one part: the name `a.b`; `[name=a.b]` a list item selector.
    let mut joined = Vec::new();
    let mut pieces = split.into_iter();
    while let Some(piece) = pieces.next() {
        if piece.starts_with('[') && !piece.ends_with(']') {
            let mut bracketed = piece;
            for next in pieces.by_ref() {
                bracketed.push('.');
                bracketed.push_str(&next);
                if bracketed.ends_with(']') {
                    break;
                }
            }
            if bracketed.contains('=') {
                joined.push(bracketed);
            } else {
                joined.push(bracketed.trim_matches(|c| c == '[' || c == ']').to_string());
            }
        } else {
            joined.push(piece);
        }
    }
    let mut parts = Vec::new();
    for part in joined {
        if let Some((name, index)) = list_index(&part) {
            parts.push(name.to_string());
            parts.push(index.to_string());
        } else {
            parts.push(part);
        }
    }
    parts.into_iter().map(|p| p.trim().to_string()).filter(|p| !p.is_empty()).collect()
}

/// `name[3]` as (`name`, `3`).
fn list_index(part: &str) -> Option<(&str, &str)> {
    let inner = part.strip_suffix(']')?;
    let open = inner.rfind('[')?;
    let index = &inner[open + 1..];
    (!index.is_empty() && index.bytes().all(|b| b.is_ascii_digit())).then(|| (&inner[..open], index))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn vars() -> BTreeMap<&'static str, Scalar> {
        BTreeMap::from([
            ("FOO", Scalar::Str("foo".into())),
            ("BAR", Scalar::Str("bar".into())),
            ("EMPTY", Scalar::Str(String::new())),
            ("PORT", Scalar::Number(80.into())),
            ("RATIO", Scalar::Number(Number::from_f64(1.5).unwrap())),
            ("BIG", Scalar::Number(Number::from_f64(1_234_567.0).unwrap())),
            ("FLAG", Scalar::Bool(true)),
        ])
    }

    fn check(input: &str, want: &Value) {
        let vars = vars();
        let got = expand(input, &vars);
        assert_eq!(&got, want, "expanding {input:?}");
    }

    /// Kubernetes' expansion cases (`third_party/forked/golang/expansion`), as kustomize's
    /// `expand_test.go` carries them, with kustomize's own: a reference alone keeps the type.
    #[test]
    fn references_expand_as_kubernetes_expands_them() {
        let cases: &[(&str, &str)] = &[
            ("$(FOO)", "foo"),
            ("$(EMPTY)", ""),
            ("___$(FOO)___", "___foo___"),
            ("$(FOO)-$(BAR)", "foo-bar"),
            ("$(FOO)$(BAR)", "foobar"),
            ("$(FOO)$(FOO)$(FOO)", "foofoofoo"),
            ("-$(FOO)-$(FOO)-", "-foo-foo-"),
            ("$(UNKNOWN)", "$(UNKNOWN)"),
            ("foo-$(UNKNOWN)-bar", "foo-$(UNKNOWN)-bar"),
            ("$(FOO)$(UNKNOWN)", "foo$(UNKNOWN)"),
            ("$()", "$()"),
            ("$(FOO", "$(FOO"),
            ("$(FOO-$(BAR)", "$(FOO-$(BAR)"),
            ("$($(FOO))", "$($(FOO))"),
            ("foo$", "foo$"),
            ("$", "$"),
            ("$$", "$"),
            ("$$(FOO)", "$(FOO)"),
            ("$$$(FOO)", "$foo"),
            ("$$$$(FOO)", "$$(FOO)"),
            ("$$$(FOO)$", "$foo$"),
            ("$FOO", "$FOO"),
            ("$ (FOO)", "$ (FOO)"),
            ("$é$(FOO)", "$éfoo"),
            ("$(FOO)é$$", "fooé$"),
            ("x$(PORT)", "x80"),
            ("x$(RATIO)", "x1.5"),
            ("x$(BIG)", "x1.234567e+06"),
            ("x$(FLAG)", "xtrue"),
            ("no references", "no references"),
            ("", ""),
        ];
        for (input, want) in cases {
            check(input, &json!(want));
        }
    }

    #[test]
    fn a_string_that_is_one_reference_takes_the_values_type() {
        check("$(PORT)", &json!(80));
        check("$(RATIO)", &json!(1.5));
        check("$(FLAG)", &json!(true));
        check("$(FOO)", &json!("foo"));
        // Not the whole string: text.
        check(" $(PORT)", &json!(" 80"));
        check("$(PORT)$(PORT)", &json!("8080"));
    }

    #[test]
    fn floats_inside_strings_are_printed_as_go_prints_them() {
        for (f, want) in [
            (1_234_567.0, "1.234567e+06"),
            (100_000.5, "100000.5"),
            (100_000.0, "100000"),
            (1e6, "1e+06"),
            (0.0001, "0.0001"),
            (0.00001, "1e-05"),
            (2.5, "2.5"),
            (2.0, "2"),
            (1e21, "1e+21"),
            (1e20, "1e+20"),
            (-0.5, "-0.5"),
            (-1.5e-7, "-1.5e-07"),
            (0.0, "0"),
            (123.456, "123.456"),
        ] {
            assert_eq!(go_float(f), want, "{f}");
        }
    }

    /// kustomize's refvar filter cases: strings in a mapping are expanded, other values left
    /// alone; every item of a list must be a string.
    #[test]
    fn mappings_and_lists_are_expanded_item_by_item() {
        let vars = vars();
        let mut map = json!({
            "FOO": "$(FOO)", "BAZ": "$(BAZ)", "PLUS": "$(FOO)+$(BAR)", "BOOL": false, "INT": 0, "SLICE": ["$(FOO)"],
            "PORT": "$(PORT)", "PORTS": "$(PORT)+$(PORT)", "FLAG": "$(FLAG)", "IF": "if $(FLAG)", "NULL": null,
        });
        replace_in(&mut map, &vars).unwrap();
        assert_eq!(
            map,
            json!({
                "FOO": "foo", "BAZ": "$(BAZ)", "PLUS": "foo+bar", "BOOL": false, "INT": 0, "SLICE": ["$(FOO)"],
                "PORT": 80, "PORTS": "80+80", "FLAG": true, "IF": "if true", "NULL": null,
            })
        );
        let mut list = json!(["$(FOO)", "$(BAR)", "$(BAZ)", "$(FOO)+$(BAR)", "$(FLAG)", "$(RATIO)"]);
        replace_in(&mut list, &vars).unwrap();
        assert_eq!(list, json!(["foo", "bar", "$(BAZ)", "foo+bar", true, 1.5]));
        let mut bad = json!(["$(FOO)", false]);
        let err = replace_in(&mut bad, &vars).unwrap_err();
        assert_eq!(err, "false is not a string, and every item of a list where vars are replaced must be");
        let mut null = Value::Null;
        replace_in(&mut null, &vars).unwrap();
        assert_eq!(null, Value::Null);
    }

    #[test]
    fn field_paths_are_read_as_kyaml_reads_them() {
        let object = json!({
            "metadata": {"name": "web", "annotations": {"a.b/c": "dotted"}},
            "spec": {"ports": [{"name": "http", "port": 80}, {"name": "admin", "port": 9000}], "flag": true},
        });
        let cases = [
            ("metadata.name", Some(json!("web"))),
            ("spec.ports[1].port", Some(json!(9000))),
            ("spec.ports.0.name", Some(json!("http"))),
            ("spec.ports.[name=admin].port", Some(json!(9000))),
            ("metadata.annotations.a\\.b/c", Some(json!("dotted"))),
            ("metadata.annotations.[a.b/c]", Some(json!("dotted"))),
            ("spec..flag", Some(json!(true))),
            ("spec.ports", Some(object["spec"]["ports"].clone())),
            ("spec.ports[name=http].port", None),
            ("spec.ports.name", None),
            ("spec.ports[2].port", None),
            ("spec.nothere", None),
            ("metadata.name.x", None),
        ];
        for (path, want) in cases {
            assert_eq!(field_value(&object, path).cloned(), want, "{path}");
        }
    }

    #[test]
    fn vars_are_read_with_go_s_case_insensitive_field_names_and_defaults() {
        let var: Var = serde_json::from_value(json!({
            "name": "WEB",
            "objRef": {"apiversion": "apps/v1", "Kind": "Deployment", "name": "web"},
            "fieldref": {"fieldpath": "spec.replicas"},
        }))
        .unwrap();
        assert_eq!(var.objref.gvk(), Gvk { group: "apps".into(), version: "v1".into(), kind: "Deployment".into() });
        assert_eq!(var.fieldref.field_path, "spec.replicas");
        let var: Var = serde_json::from_value(
            json!({"name": "X", "objref": {"kind": "Service", "name": "web", "version": "v1"}, "fieldref": {}}),
        )
        .unwrap();
        assert_eq!(var.fieldref.field_path, "metadata.name");
        assert_eq!(var.objref.gvk(), Gvk { group: String::new(), version: "v1".into(), kind: "Service".into() });
        let err =
            serde_json::from_value::<Var>(json!({"name": "X", "objref": {"kind": "Service", "extra": 1}})).unwrap_err();
        assert!(err.to_string().starts_with("objref.extra: unknown field `extra`"), "{err}");
    }

    // kustomize's accumulator cases (`resaccumulator_test.go`): a Deployment whose command
    // names two Services.

    fn var(name: &str, kind: &str, object: &str, namespace: &str, field_path: &str) -> Var {
        let objref = ObjRef {
            version: "v1".into(),
            kind: kind.into(),
            name: object.into(),
            namespace: namespace.into(),
            ..ObjRef::default()
        };
        let fieldref =
            if field_path.is_empty() { FieldRef::default() } else { FieldRef { field_path: field_path.into() } };
        Var { name: name.into(), objref, fieldref }
    }

    fn accumulated() -> Vec<Resource> {
        let deployment = json!({
            "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "deploy1"},
            "spec": {"template": {"spec": {"containers": [{"command": [
                "myserver", "--somebackendService $(SERVICE_ONE)", "--yetAnother $(SERVICE_TWO)",
            ]}]}}},
        });
        let service = |name: &str| json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": name}});
        vec![Resource::new(deployment), Resource::new(service("backendOne")), Resource::new(service("backendTwo"))]
    }

    fn command(resources: &[Resource]) -> String {
        let command = &resources[0].object["spec"]["template"]["spec"]["containers"][0]["command"];
        command.as_array().unwrap().iter().map(|c| c.as_str().unwrap()).collect::<Vec<_>>().join(" ")
    }

    fn resolve(vars: &Vars, resources: &mut [Resource]) -> Result<(), Error> {
        let config = super::super::config::Config::defaults();
        vars.resolve(resources, &config.var_reference, "kustomization.yaml")
    }

    #[test]
    fn vars_resolve_to_the_objects_they_name() {
        let mut resources = accumulated();
        let mut vars = Vars::default();
        let declared =
            [var("SERVICE_ONE", "Service", "backendOne", "", ""), var("SERVICE_TWO", "Service", "backendTwo", "", "")];
        vars.declare("kustomization.yaml", &declared, &mut resources).unwrap();
        resolve(&vars, &mut resources).unwrap();
        assert_eq!(command(&resources), "myserver --somebackendService backendOne --yetAnother backendTwo");
    }

    #[test]
    fn an_unused_var_is_no_error_and_an_undeclared_reference_stays() {
        let mut resources = accumulated();
        let mut vars = Vars::default();
        let declared = [
            var("SERVICE_ONE", "Service", "backendOne", "", ""),
            var("SERVICE_UNUSED", "Service", "backendTwo", "", ""),
        ];
        vars.declare("kustomization.yaml", &declared, &mut resources).unwrap();
        resolve(&vars, &mut resources).unwrap();
        assert_eq!(command(&resources), "myserver --somebackendService backendOne --yetAnother $(SERVICE_TWO)");
    }

    #[test]
    fn an_objref_without_a_namespace_that_matches_two_objects_is_ambiguous() {
        let mut resources = accumulated();
        resources.push(Resource::new(json!({
            "apiVersion": "v1", "kind": "Service", "metadata": {"name": "backendOne", "namespace": "fooNamespace"},
        })));
        let mut vars = Vars::default();
        let err = vars
            .declare("k.yaml", &[var("SERVICE_ONE", "Service", "backendOne", "", "")], &mut resources)
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("k.yaml: field vars[0].objref: v1 Service backendOne matches 2 resources"), "{err}");
        // With a namespace it is not.
        let mut vars = Vars::default();
        let declared = [var("SERVICE_ONE", "Service", "backendOne", "fooNamespace", "")];
        vars.declare("k.yaml", &declared, &mut resources).unwrap();
        assert_eq!(resources[3].vars, ["SERVICE_ONE"]);
    }

    /// kustomize's gh-1600: two bases declaring one name are in conflict even when both point
    /// at the same value.
    #[test]
    fn one_name_declared_by_two_bases_is_an_error_even_for_the_same_value() {
        let config_map = |namespace: &str| json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "environment", "namespace": namespace}, "data": {"provider": "aws"}});
        let base = |file: &str, namespace: &str| {
            let mut resources = vec![Resource::new(config_map(namespace))];
            let mut vars = Vars::default();
            let declared = [var("PROVIDER", "ConfigMap", "environment", namespace, "data.provider")];
            vars.declare(file, &declared, &mut resources).unwrap();
            vars
        };
        let mut top = base("foo/kustomization.yaml", "foo");
        let err = top.absorb(base("bar/kustomization.yaml", "bar")).unwrap_err().to_string();
        assert_eq!(
            err,
            "bar/kustomization.yaml: field vars[0].name: the var \"PROVIDER\" is declared already, in foo/kustomization.yaml vars[0]"
        );
    }

    #[test]
    fn a_field_the_object_lacks_is_an_error_naming_the_fieldref() {
        let mut resources = accumulated();
        let mut vars = Vars::default();
        let declared = [var("SERVICE_ONE", "Service", "backendOne", "", "nope_nope_nope")];
        vars.declare("k.yaml", &declared, &mut resources).unwrap();
        let err = resolve(&vars, &mut resources).unwrap_err().to_string();
        assert_eq!(
            err,
            "k.yaml: field vars[0].fieldref.fieldPath: v1 Service backendOne has no field \"nope_nope_nope\""
        );
    }

    #[test]
    fn an_objref_that_names_nothing_is_an_error_when_resolved() {
        let mut resources = accumulated();
        let mut vars = Vars::default();
        vars.declare("k.yaml", &[var("SERVICE_THREE", "Service", "doesNotExist", "", "")], &mut resources).unwrap();
        let err = resolve(&vars, &mut resources).unwrap_err().to_string();
        assert!(err.starts_with("k.yaml: field vars[0].objref: v1 Service doesNotExist matches no resource"), "{err}");
    }

    /// Two kustomizations each hold a Service first named `backendOne` (one since prefixed):
    /// each var keeps the object it found where it was declared, so neither is ambiguous.
    #[test]
    fn vars_keep_the_object_found_where_they_were_declared() {
        let mut top = accumulated();
        let mut vars = Vars::default();
        vars.declare("top.yaml", &[var("SERVICE_ONE", "Service", "backendOne", "", "")], &mut top).unwrap();
        let mut sub = vec![
            Resource::new(json!({
                "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "deploy2"},
                "spec": {"template": {"spec": {"containers": [{"command": ["myserver", "--somebackendService $(SUB_SERVICE_ONE)"]}]}}},
            })),
            Resource::new(json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "backendOne"}})),
        ];
        sub[1].set_name("sub-backendOne".into());
        let mut sub_vars = Vars::default();
        sub_vars.declare("sub.yaml", &[var("SUB_SERVICE_ONE", "Service", "backendOne", "", "")], &mut sub).unwrap();
        vars.absorb(sub_vars).unwrap();
        top.extend(sub);
        resolve(&vars, &mut top).unwrap();
        assert_eq!(command(&top), "myserver --somebackendService backendOne --yetAnother $(SERVICE_TWO)");
        assert_eq!(command(&top[3..]), "myserver --somebackendService sub-backendOne");
    }

    #[test]
    fn a_list_item_that_is_not_a_string_is_an_error_once_vars_exist() {
        let mut resources = accumulated();
        resources[0].object["spec"]["template"]["spec"]["containers"][0]["command"] = json!(["myserver", 8080]);
        let mut vars = Vars::default();
        vars.declare("k.yaml", &[var("SERVICE_ONE", "Service", "backendOne", "", "")], &mut resources).unwrap();
        let err = resolve(&vars, &mut resources).unwrap_err().to_string();
        assert_eq!(
            err,
            "kustomization.yaml: vars: apps/v1 Deployment deploy1: field spec/template/spec/containers/command: 8080 is not a string, and every item of a list where vars are replaced must be"
        );
        // Without vars, nothing is looked at.
        resolve(&Vars::default(), &mut resources).unwrap();
    }
}
