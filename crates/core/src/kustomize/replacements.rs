//! kustomize's `replacements`: copy a field of one resource (the source) into fields of others
//! (the targets), as kustomize 5.5's ReplacementTransformer does.
//!
//! The source is found by its id (exactly one resource must match, under its current name or
//! an earlier one) and read with kyaml's `PathGetter`; targets are chosen with `select` and
//! `reject` and written through kyaml's `PathMatcher`, which has its own rules: `*` walks every
//! item of a list, `[name=value]` matches list items by an unanchored regular expression
//! (kustomize's quirk: `[name=web]` also picks `web-sidecar`), a number is a list index.
//! A scalar target keeps its type and takes the source's text; a map or list target is
//! replaced by the source's value. This module works on resources in memory and reads no
//! files: `run` takes the kustomization's entries with the files they name already read.

use std::collections::HashMap;

use serde::Deserialize;
use serde_json::{Map, Value};

use super::resource::Resource;
use super::{Ctx, Error, Target};

/// kustomize's default field path, for a source and for a target without `fieldPaths`.
const DEFAULT_FIELD_PATH: &str = "metadata.name";

/// One replacement: where the value comes from and where it goes.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Replacement {
    #[serde(default)]
    pub source: Option<Source>,
    #[serde(default)]
    pub targets: Option<Vec<TargetSelector>>,
}

/// The resource (by id, exact values) and field a replacement reads.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Source {
    #[serde(default)]
    pub group: Option<String>,
    #[serde(default)]
    pub version: Option<String>,
    #[serde(default)]
    pub kind: Option<String>,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub namespace: Option<String>,
    #[serde(default)]
    pub field_path: Option<String>,
    #[serde(default)]
    pub options: Option<FieldOptions>,
}

/// The resources a replacement writes to, and where in them.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TargetSelector {
    #[serde(default)]
    pub select: Option<Target>,
    #[serde(default)]
    pub reject: Vec<Target>,
    #[serde(default)]
    pub field_paths: Vec<String>,
    #[serde(default)]
    pub options: Option<FieldOptions>,
}

/// How to read or write a field: one part of a delimited string, and whether to create it.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct FieldOptions {
    #[serde(default)]
    pub delimiter: String,
    #[serde(default)]
    pub index: i64,
    /// Accepted and unused, as in kustomize 5.5 (its `TODO (#3492)`).
    #[serde(default)]
    #[expect(dead_code, reason = "kustomize 5.5 accepts the field and does nothing with it")]
    pub encoding: Option<String>,
    #[serde(default)]
    pub create: bool,
}

/// Why a replacement failed: which one (its index in the list given to [`apply`]), the field of
/// it at fault (`source`, `targets[0].fieldPaths[1]`), and kustomize's words for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    pub index: usize,
    pub field: String,
    pub message: String,
}

/// Runs the `replacements` of a kustomization: entries inline or `{path: file}` (a file with
/// one replacement or a list of them), read and applied in order.
pub(crate) fn run(ctx: &Ctx<'_>, entries: &[Value], res: &mut [Resource]) -> Result<(), Error> {
    let mut all = Vec::new();
    // What each replacement is called in errors: `replacements[1]`, or the file's entry.
    let mut names = Vec::new();
    for (i, entry) in entries.iter().enumerate() {
        let field = format!("replacements[{i}]");
        let path = entry.get("path").and_then(Value::as_str);
        let Some(path) = path else {
            all.push(parse(entry.clone()).map_err(|(at, message)| ctx.field_error(format!("{field}{at}"), message))?);
            names.push(field);
            continue;
        };
        let inline = entry.as_object().is_some_and(|m| m.keys().any(|k| k != "path"));
        if inline {
            return Err(ctx.field_error(field, "cannot specify both path and inline replacement"));
        }
        let field = format!("{field}.path");
        let (_, bytes) = ctx.read(&field, path)?;
        let doc = crate::yaml::load_one(&bytes).map_err(|e| ctx.field_error(&field, format!("{path}: {e}")))?;
        let list = match doc {
            Value::Array(items) => items,
            one => vec![one],
        };
        for (j, item) in list.into_iter().enumerate() {
            let at = format!("{field} ({path}[{j}])");
            all.push(parse(item).map_err(|(inner, message)| ctx.field_error(format!("{at}{inner}"), message))?);
            names.push(at);
        }
    }
    apply(res, &all).map_err(|f| ctx.field_error(format!("{}{}", names[f.index], f.field), f.message))
}

/// Reads one replacement; an error names the field inside it (`.targets[0].select`).
fn parse(value: Value) -> Result<Replacement, (String, String)> {
    serde_path_to_error::deserialize(value).map_err(|e| {
        let path = e.path().to_string();
        let at = if path == "." { String::new() } else { format!(".{path}") };
        (at, e.into_inner().to_string())
    })
}

/// Applies `replacements` in order to `res`, as kustomize's ReplacementTransformer does.
pub(crate) fn apply(res: &mut [Resource], replacements: &[Replacement]) -> Result<(), Failure> {
    // What the replacements have copied into each resource so far: a value copied into many
    // fields may not grow an object past `MAX_OBJECT_BYTES`.
    let mut grown = vec![0usize; res.len()];
    // Every resource's ids, and the resources by every name they had: a replacement looks at
    // the few resources its selectors name, not at all of them (a thousand replacements over a
    // thousand resources was a million id comparisons, each allocating).
    let mut known = Index::new(res);
    for (index, r) in replacements.iter().enumerate() {
        let fail = |field: &str, message: String| Failure { index, field: field.to_string(), message };
        let (Some(source), Some(targets)) = (&r.source, &r.targets) else {
            return Err(fail("", "replacements must specify a source and at least one target".into()));
        };
        if known.stale {
            known = Index::new(res);
        }
        let value = source_value(res, &known, source).map_err(|m| fail(".source", m))?;
        let size = match &value {
            Copied::Scalar { text, .. } => text.len() + 2,
            Copied::Node(node) => super::weight(node),
        };
        for (t, target) in targets.iter().enumerate() {
            if known.stale {
                known = Index::new(res);
            }
            let at = format!(".targets[{t}]");
            let Some(select) = &target.select else {
                return Err(fail(&at, "target must specify resources to select".into()));
            };
            let only_labels = |s: &Target| Target {
                label_selector: s.label_selector.clone(),
                annotation_selector: s.annotation_selector.clone(),
                ..Target::default()
            };
            let by_labels = only_labels(select).compile().map_err(|m| fail(&format!("{at}.select"), m))?;
            let mut rejects = Vec::new();
            for (k, reject) in target.reject.iter().enumerate() {
                let m = only_labels(reject).compile().map_err(|m| fail(&format!("{at}.reject[{k}]"), m))?;
                let has_labels = reject.label_selector.as_deref().is_some_and(|s| !s.is_empty())
                    || reject.annotation_selector.as_deref().is_some_and(|s| !s.is_empty());
                rejects.push((reject, has_labels.then_some(m)));
            }
            let default_paths = [DEFAULT_FIELD_PATH.to_string()];
            let paths = if target.field_paths.is_empty() { &default_paths[..] } else { &target.field_paths[..] };
            let wanted = selector_id(select);
            let has_labels = select.label_selector.as_deref().is_some_and(|s| !s.is_empty())
                || select.annotation_selector.as_deref().is_some_and(|s| !s.is_empty());
            let reject_ids: Vec<Option<Id>> =
                rejects.iter().map(|(reject, _)| (!selector_is_empty(reject)).then(|| selector_id(reject))).collect();
            for ix in known.candidates_with(&wanted, select.label_selector.as_deref()) {
                let r = &mut res[ix];
                let ids = &known.ids[ix];
                // Label and annotation selectors, and the ids, reject on their own: a reject
                // entry with both a name and a label selector rejects by either.
                // The cheap test first: most resources are not of the selected kind or name.
                let chosen = ids.iter().any(|id| id.selected_by(&wanted)) && (!has_labels || by_labels.matches(r));
                if !chosen {
                    continue;
                }
                let rejected = rejects.iter().zip(&reject_ids).any(|((_, labels), id)| {
                    labels.as_ref().is_some_and(|m| m.matches(r))
                        || id.as_ref().is_some_and(|want| ids.iter().any(|id| id.selected_by(want)))
                });
                if rejected {
                    continue;
                }
                for (p, path) in paths.iter().enumerate() {
                    grown[ix] = grown[ix].saturating_add(size);
                    if grown[ix] > super::MAX_OBJECT_BYTES {
                        let limit = super::bytes_text(super::MAX_OBJECT_BYTES as u64);
                        let message = format!("{}: the replacements copy more than {limit} into it", r.id());
                        return Err(fail(&format!("{at}.fieldPaths[{p}]"), message));
                    }
                    copy_to(&mut r.object, &value, path, target.options.as_ref())
                        .map_err(|m| fail(&format!("{at}.fieldPaths[{p}]"), m))?;
                    if changes_identity(path) {
                        known.stale = true;
                    }
                }
            }
        }
    }
    Ok(())
}

/// The resources' ids, and which resources were ever called a name.
struct Index {
    ids: Vec<Vec<Id>>,
    by_name: HashMap<String, Vec<usize>>,
    by_kind: HashMap<String, Vec<usize>>,
    /// By label `key=value`, for the equality selectors replacements mostly use.
    by_label: HashMap<(String, String), Vec<usize>>,
    /// A replacement wrote a name, namespace or kind: rebuilt before the next lookup.
    stale: bool,
}

impl Index {
    fn new(res: &[Resource]) -> Index {
        let ids: Vec<Vec<Id>> = res.iter().map(ids).collect();
        let mut by_name: HashMap<String, Vec<usize>> = HashMap::new();
        let mut by_kind: HashMap<String, Vec<usize>> = HashMap::new();
        let mut by_label: HashMap<(String, String), Vec<usize>> = HashMap::new();
        for (i, r) in res.iter().enumerate() {
            if let Some(Value::Object(labels)) = r.object.pointer("/metadata/labels") {
                for (k, v) in labels {
                    if let Value::String(v) = v {
                        by_label.entry((k.clone(), v.clone())).or_default().push(i);
                    }
                }
            }
        }
        for (i, list) in ids.iter().enumerate() {
            by_kind.entry(list[0].kind.clone()).or_default().push(i);
            let mut names: Vec<&str> = list.iter().map(|id| id.name.as_str()).collect();
            names.sort_unstable();
            names.dedup();
            for n in names {
                by_name.entry(n.to_string()).or_default().push(i);
            }
        }
        Index { ids, by_name, by_kind, by_label, stale: false }
    }

    /// The resources `selector` may select, in build order: those ever called the name it
    /// gives, or else those of the kind it gives (kinds do not change), or else all.
    fn candidates(&self, selector: &Id) -> Vec<usize> {
        self.candidates_with(selector, None)
    }

    /// [`Index::candidates`], narrowed first by a label selector that is one `key=value`.
    fn candidates_with(&self, selector: &Id, labels: Option<&str>) -> Vec<usize> {
        let from = |map: &HashMap<String, Vec<usize>>, key: &str| map.get(key).cloned().unwrap_or_default();
        if !selector.name.is_empty() {
            return from(&self.by_name, &selector.name);
        }
        if let Some((k, v)) = labels.and_then(single_equality) {
            return self.by_label.get(&(k.to_string(), v.to_string())).cloned().unwrap_or_default();
        }
        if selector.kind.is_empty() { (0..self.ids.len()).collect() } else { from(&self.by_kind, &selector.kind) }
    }
}

/// A label selector that is one `key=value` (or `key==value`) term.
fn single_equality(selector: &str) -> Option<(&str, &str)> {
    let selector = selector.trim();
    if selector.contains([',', '!', ' ', '(']) {
        return None;
    }
    let (k, v) = selector.split_once("==").or_else(|| selector.split_once('='))?;
    (!k.is_empty()).then_some((k, v))
}

/// Whether writing at `path` may change which ids or labels select a resource.
fn changes_identity(path: &str) -> bool {
    let path = path.trim_start_matches('.');
    ["metadata.name", "metadata.namespace", "kind", "apiVersion", "metadata", "metadata.labels"].contains(&path)
        || path.starts_with("metadata.name.")
        || path.starts_with("metadata.namespace.")
        || path.starts_with("metadata.labels.")
        || path.starts_with("metadata.labels[")
}

/// A resource's id as kustomize's `ResId`, or a selector's (empty parts match anything).
#[derive(Debug, Clone, Default)]
struct Id {
    group: String,
    version: String,
    kind: String,
    name: String,
    namespace: String,
}

impl Id {
    /// `ResId.IsSelectedBy`: every non-empty part of the selector is equal; namespaces compare
    /// as kustomize's "effective" namespace (none and `default` are the same).
    fn selected_by(&self, sel: &Id) -> bool {
        let part = |want: &str, have: &str| want.is_empty() || want == have;
        part(&sel.name, &self.name)
            && (sel.namespace.is_empty() || sel.effective_namespace() == self.effective_namespace())
            && part(&sel.group, &self.group)
            && part(&sel.version, &self.version)
            && part(&sel.kind, &self.kind)
    }

    fn effective_namespace(&self) -> &str {
        if !self.kind.is_empty() && super::resource::cluster_scoped(&self.group, &self.version, &self.kind) {
            return "_non_namespaceable_";
        }
        if self.namespace.is_empty() { "default" } else { &self.namespace }
    }
}

/// kustomize's `ResId.String()`: `Kind.Version.Group/Name.Namespace`, `[noX]` for a part not
/// given.
impl std::fmt::Display for Id {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let or = |s: &str, none: &'static str| if s.is_empty() { none.to_string() } else { s.to_string() };
        write!(
            f,
            "{}.{}.{}/{}.{}",
            or(&self.kind, "[noKind]"),
            or(&self.version, "[noVer]"),
            or(&self.group, "[noGrp]"),
            or(&self.name, "[noName]"),
            or(&self.namespace, "[noNs]")
        )
    }
}

/// The ids a resource answers to: its current one, then those it had before prefixes,
/// suffixes and namespaces changed it.
fn ids(r: &Resource) -> Vec<Id> {
    let gvk = r.gvk();
    let id = |namespace: &str, name: &str| Id {
        group: gvk.group.clone(),
        version: gvk.version.clone(),
        kind: gvk.kind.clone(),
        name: name.to_string(),
        namespace: namespace.to_string(),
    };
    let mut out = vec![id(r.namespace(), r.name())];
    out.extend(r.previous.iter().rev().map(|(ns, name)| id(ns, name)));
    out
}

/// An id from its parts as a selector or source gives them (a part not given is empty).
fn id_from(parts: [&Option<String>; 5]) -> Id {
    let [group, version, kind, name, namespace] = parts.map(|o| o.clone().unwrap_or_default());
    Id { group, version, kind, name, namespace }
}

fn selector_id(s: &Target) -> Id {
    id_from([&s.group, &s.version, &s.kind, &s.name, &s.namespace])
}

fn selector_is_empty(s: &Target) -> bool {
    let id = selector_id(s);
    [id.group, id.version, id.kind, id.name, id.namespace].iter().all(String::is_empty)
}

fn source_id(s: &Source) -> Id {
    id_from([&s.group, &s.version, &s.kind, &s.name, &s.namespace])
}

/// kustomize's `SourceSelector.String()`: the id, then the field path and options if given.
fn describe_source(s: &Source) -> String {
    let mut out = source_id(s).to_string();
    if let Some(fp) = s.field_path.as_deref().filter(|fp| !fp.is_empty()) {
        out.push(':');
        out.push_str(fp);
    }
    if let Some(o) = &s.options
        && (!o.delimiter.is_empty() || o.create)
    {
        out = format!("{out}:{}({}), create={}", o.delimiter, o.index, o.create);
    }
    out
}

/// The value a replacement copies: a scalar keeps its YAML type and text (the text is what a
/// scalar target takes), a map or list is copied whole.
#[derive(Debug, Clone, PartialEq)]
enum Copied {
    Scalar { kind: Kind, text: String },
    Node(Value),
}

/// The YAML type of a scalar, as its tag: `!!str`, `!!int`, …
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Str,
    Int,
    Float,
    Bool,
    Null,
}

impl Kind {
    fn of(v: &Value) -> Option<Kind> {
        Some(match v {
            Value::String(_) => Kind::Str,
            Value::Number(n) if n.is_f64() => Kind::Float,
            Value::Number(_) => Kind::Int,
            Value::Bool(_) => Kind::Bool,
            Value::Null => Kind::Null,
            Value::Array(_) | Value::Object(_) => return None,
        })
    }

    fn tag(self) -> &'static str {
        match self {
            Kind::Str => "!!str",
            Kind::Int => "!!int",
            Kind::Float => "!!float",
            Kind::Bool => "!!bool",
            Kind::Null => "!!null",
        }
    }
}

/// A scalar's text, as the YAML node holds it (a map or list has none).
fn text_of(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Number(n) => crate::yaml::format_yaml_number(n),
        Value::Bool(b) => b.to_string(),
        Value::Null => "null".into(),
        Value::Array(_) | Value::Object(_) => String::new(),
    }
}

/// What plain `text` reads as in YAML, with no tag given.
fn resolve(text: &str) -> Value {
    if text.is_empty() {
        return Value::Null;
    }
    if crate::yaml::resolves_to_string(text) {
        return Value::String(text.to_string());
    }
    match crate::yaml::load_one(text.as_bytes()) {
        Ok(v @ (Value::Number(_) | Value::Bool(_) | Value::Null)) => v,
        _ => Value::String(text.to_string()),
    }
}

/// `text` read as a scalar of type `kind`, as yaml.v3 decodes a tagged node (kustomize turns
/// its YAML into JSON that way, which is where a mismatch fails).
fn decode(kind: Kind, text: &str) -> Result<Value, String> {
    if kind == Kind::Str {
        return Ok(Value::String(text.to_string()));
    }
    let read = resolve(text);
    let found = Kind::of(&read).expect("resolve gives scalars");
    let fits = found == kind || (kind == Kind::Float && found == Kind::Int);
    if fits { Ok(read) } else { Err(format!("yaml: cannot decode {} `{text}` as a {}", found.tag(), kind.tag())) }
}

impl Copied {
    fn text(&self) -> String {
        match self {
            Copied::Scalar { text, .. } => text.clone(),
            Copied::Node(_) => String::new(),
        }
    }

    fn with_text(&self, text: String) -> Copied {
        match self {
            Copied::Scalar { kind, .. } => Copied::Scalar { kind: *kind, text },
            // kyaml sets the text of the map's node, which no one reads.
            Copied::Node(v) => Copied::Node(v.clone()),
        }
    }

    fn is_scalar(&self) -> bool {
        matches!(self, Copied::Scalar { .. })
    }
}

/// Finds the one source resource and reads its field (refined by the delimiter options).
fn source_value(res: &[Resource], index: &Index, source: &Source) -> Result<Copied, String> {
    let want = source_id(source);
    let mut found = None;
    for i in index.candidates(&want) {
        if index.ids[i].iter().any(|id| id.selected_by(&want)) {
            if found.is_some() {
                return Err(format!("multiple matches for selector {}", describe_source(source)));
            }
            found = Some(&res[i]);
        }
    }
    let Some(r) = found else {
        return Err(format!("nothing selected by {}", describe_source(source)));
    };
    let field_path = source.field_path.as_deref().filter(|fp| !fp.is_empty()).unwrap_or(DEFAULT_FIELD_PATH);
    let segments = split(field_path);
    let missing = || format!("fieldPath `{field_path}` is missing for replacement source {want}");
    let node = get(&r.object, &segments)?.ok_or_else(missing)?;
    let empty = match node {
        Value::Null => true,
        Value::Array(a) => a.is_empty(),
        Value::Object(m) => m.is_empty(),
        _ => false,
    };
    if empty {
        return Err(missing());
    }
    let copied = match Kind::of(node) {
        Some(kind) => Copied::Scalar { kind, text: text_of(node) },
        None => Copied::Node(node.clone()),
    };
    let Some(options) = source.options.as_ref().filter(|o| !o.delimiter.is_empty()) else {
        return Ok(copied);
    };
    if !copied.is_scalar() {
        return Err("delimiter option can only be used with scalar nodes".into());
    }
    let text = copied.text();
    let parts: Vec<&str> = text.split(options.delimiter.as_str()).collect();
    let part = usize::try_from(options.index)
        .ok()
        .and_then(|i| parts.get(i))
        .ok_or_else(|| format!("options.index {} is out of bounds for value {text}", options.index))?;
    Ok(copied.with_text((*part).to_string()))
}

/// Splits a field path as kyaml's `SmarterPathSplitter`: at dots, except escaped ones (`\.`)
/// and those inside brackets; `[a.b]` without `=` is the map key `a.b`, `[name=a.b]` stays a
/// list selector.
pub(crate) fn split(path: &str) -> Vec<String> {
    // First at unescaped dots.
    let mut pieces: Vec<String> = Vec::new();
    for (i, piece) in path.split('.').enumerate() {
        match pieces.last_mut() {
            Some(last) if i > 0 && last.ends_with('\\') => {
                last.pop();
                last.push('.');
                last.push_str(piece);
            }
            _ => pieces.push(piece.to_string()),
        }
    }
    // Then brackets put back together.
    let mut out = Vec::new();
    let mut i = 0;
    while i < pieces.len() {
        let piece = &pieces[i];
        if piece.starts_with('[') && !piece.ends_with(']') {
            let mut joined = vec![piece.as_str()];
            while i + 1 < pieces.len() {
                i += 1;
                joined.push(&pieces[i]);
                if pieces[i].ends_with(']') {
                    break;
                }
            }
            let joined = joined.join(".");
            if joined.contains('=') {
                out.push(joined);
            } else {
                out.push(joined.trim_start_matches('[').trim_end_matches(']').to_string());
            }
        } else {
            out.push(piece.clone());
        }
        i += 1;
    }
    out
}

/// One step of a field path, as kyaml reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Step {
    /// A map key.
    Field(String),
    /// A list item by position.
    Index(usize),
    /// The last list item (`-`, source paths only).
    Last,
    /// List items whose `key` (or, with an empty key, the item itself) matches `value`.
    Match { key: String, value: String },
    /// Every list item (`*`, target paths only).
    Every,
    /// A bracketed part without `=`: an error once the lookup reaches it (target paths only).
    Bad(String),
}

fn is_list_selector(s: &str) -> bool {
    s.starts_with('[') && s.ends_with(']')
}

fn list_selector(s: &str) -> Result<Step, String> {
    let inner = &s[1..s.len() - 1];
    let (key, value) =
        inner.split_once('=').ok_or("list path element must contain fieldName=fieldValue for element to match")?;
    Ok(Step::Match { key: key.to_string(), value: value.to_string() })
}

/// kyaml's `PathGetter`: reads the value at `segments`, or `None` where a part is missing.
/// Empty parts are skipped; list selectors compare the item's text exactly.
fn get<'v>(root: &'v Value, segments: &[String]) -> Result<Option<&'v Value>, String> {
    let mut node = root;
    for part in segments.iter().map(|s| s.trim()).filter(|s| !s.is_empty()) {
        let step = if let Ok(i) = part.parse::<i64>() {
            Step::Index(usize::try_from(i).map_err(|_| format!("array index {i} cannot be negative"))?)
        } else if part == "-" {
            Step::Last
        } else if is_list_selector(part) {
            list_selector(part)?
        } else {
            Step::Field(part.to_string())
        };
        let next = match (&step, node) {
            (_, Value::Null) => None,
            (Step::Field(name), Value::Object(map)) => map.get(name),
            (Step::Field(_), other) => return Err(wrong_kind("MappingNode", other)),
            (Step::Index(i), Value::Array(items)) => items.get(*i),
            (Step::Last, Value::Array(items)) => items.last(),
            (Step::Match { key, value }, Value::Array(items)) => items.iter().find(|item| {
                let field = if key.is_empty() { Some(*item) } else { item.get(key.as_str()) };
                field.is_some_and(|f| Kind::of(f).is_some() && text_of(f) == *value)
            }),
            (_, other) => return Err(wrong_kind("SequenceNode", other)),
        };
        match next {
            Some(n) => node = n,
            None => return Ok(None),
        }
    }
    Ok(Some(node))
}

fn node_kind(v: &Value) -> &'static str {
    match v {
        Value::Object(_) => "MappingNode",
        Value::Array(_) => "SequenceNode",
        _ => "ScalarNode",
    }
}

fn wrong_kind(expected: &str, found: &Value) -> String {
    format!("wrong node kind: expected {expected} but got {}", node_kind(found))
}

/// What a missing part is created as, when a target has `create` (kyaml's
/// `getPathPartKind`): a list before an index or a list selector, a map before a field, and
/// the copied value's own kind at the end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fresh {
    Map,
    List,
    /// A scalar with no tag: the copied text is read as plain YAML.
    Scalar,
}

impl Fresh {
    fn before(next: Option<&String>, value: &Copied) -> Fresh {
        match next {
            None => match value {
                Copied::Scalar { .. } => Fresh::Scalar,
                Copied::Node(Value::Array(_)) => Fresh::List,
                Copied::Node(_) => Fresh::Map,
            },
            Some(n) if is_list_selector(n) || n.parse::<u64>().is_ok() => Fresh::List,
            Some(_) => Fresh::Map,
        }
    }

    fn value(self) -> Value {
        match self {
            Fresh::Map => Value::Object(Map::new()),
            Fresh::List => Value::Array(Vec::new()),
            Fresh::Scalar => Value::Null,
        }
    }
}

/// Where [`find`] found (or made) a target field.
struct Found {
    path: Vec<Key>,
    /// Made by this lookup: a scalar with no type yet.
    fresh: bool,
}

#[derive(Debug, Clone)]
enum Key {
    Field(String),
    Index(usize),
}

/// Parses a target path into steps, as kyaml's `PathMatcher` reads the parts.
fn target_steps(segments: &[String]) -> Vec<Step> {
    // A leading dot (`.metadata.name`) is allowed; kustomize drops the empty first part.
    let skip = usize::from(segments.len() > 1 && segments[0].is_empty());
    segments[skip..]
        .iter()
        .map(|s| {
            if s.parse::<i64>().is_ok_and(|i| i >= 0) {
                Step::Index(s.parse().expect("checked just above"))
            } else if is_list_selector(s) {
                list_selector(s).unwrap_or_else(Step::Bad)
            } else if s == "*" {
                Step::Every
            } else {
                Step::Field(s.clone())
            }
        })
        .collect()
}

/// kyaml's `PathMatcher`: every field `steps` reaches from `node`, made on the way when
/// `create` says what the copied value is.
fn find(
    node: &mut Value,
    steps: &[Step],
    raw: &[String],
    create: Option<&Copied>,
    at: &mut Vec<Key>,
    out: &mut Vec<Found>,
    fresh: bool,
) -> Result<(), String> {
    let Some((step, rest)) = steps.split_first() else {
        out.push(Found { path: at.clone(), fresh });
        return Ok(());
    };
    let next_raw = raw.get(1);
    match step {
        Step::Field(name) => {
            if name.is_empty() {
                // kyaml reads an empty part (`a..b`) as "match this scalar", which a map is not.
                return match node {
                    Value::Object(_) => Err(wrong_kind("ScalarNode", node)),
                    _ => Ok(()),
                };
            }
            let map = match node {
                Value::Object(map) => map,
                Value::Null => return Ok(()),
                other => return Err(wrong_kind("MappingNode", other)),
            };
            let mut made = false;
            if !map.contains_key(name) {
                let Some(value) = create else { return Ok(()) };
                map.insert(name.clone(), Fresh::before(next_raw, value).value());
                made = true;
            }
            let child = map.get_mut(name).expect("present or inserted above");
            at.push(Key::Field(name.clone()));
            let result = find(child, rest, &raw[1..], create, at, out, made && rest.is_empty());
            at.pop();
            result
        }
        Step::Index(i) => {
            let items = match node {
                Value::Array(items) => items,
                Value::Null => return Ok(()),
                other => return Err(wrong_kind("SequenceNode", other)),
            };
            let mut made = false;
            if items.len() == *i
                && let Some(value) = create
            {
                items.push(Fresh::before(next_raw, value).value());
                made = true;
            }
            let len = items.len();
            let child =
                items.get_mut(*i).ok_or_else(|| format!("index {i} specified but only {len} elements found"))?;
            at.push(Key::Index(*i));
            let result = find(child, rest, &raw[1..], create, at, out, made && rest.is_empty());
            at.pop();
            result
        }
        Step::Every => {
            let items = match node {
                Value::Array(items) => items,
                Value::Null => return Ok(()),
                other => return Err(wrong_kind("SequenceNode", other)),
            };
            for (i, item) in items.iter_mut().enumerate() {
                at.push(Key::Index(i));
                let result = find(item, rest, &raw[1..], create, at, out, false);
                at.pop();
                result?;
            }
            Ok(())
        }
        Step::Match { key, value } => find_in_list(node, key, value, rest, raw, create, at, out),
        Step::Bad(message) => Err(message.clone()),
        Step::Last => unreachable!("target paths have no `-` step"),
    }
}

/// The `[key=value]` step of [`find`]: list items whose field (or self) matches `value`.
#[expect(clippy::too_many_arguments, reason = "the walk's state, passed down as in find")]
fn find_in_list(
    node: &mut Value,
    key: &str,
    value: &str,
    rest: &[Step],
    raw: &[String],
    create: Option<&Copied>,
    at: &mut Vec<Key>,
    out: &mut Vec<Found>,
) -> Result<(), String> {
    let items = match node {
        Value::Array(items) => items,
        Value::Null => return Ok(()),
        other => return Err(wrong_kind("SequenceNode", other)),
    };
    // kyaml compiles the value as a regular expression and does not anchor it.
    let re = regex::Regex::new(value).map_err(|e| format!("error parsing regexp: {e}"))?;
    let hits: Vec<usize> = items
        .iter()
        .enumerate()
        .filter(|(_, item)| {
            let field = if key.is_empty() { Some(*item) } else { item.get(key) };
            field.is_some_and(|f| !f.is_null() && re.is_match(yaml_text(f).trim()))
        })
        .map(|(i, _)| i)
        .collect();
    let made = hits.is_empty() && create.is_some();
    let hits = if made {
        // A created item's value is plain YAML text, read with no tag.
        let value = resolve(value);
        let item =
            if key.is_empty() { value } else { Value::Object(std::iter::once((key.to_string(), value)).collect()) };
        items.push(item);
        vec![items.len() - 1]
    } else {
        hits
    };
    // A primitive item made here has no tag yet, like a created field.
    let fresh = made && key.is_empty() && rest.is_empty();
    for i in hits {
        at.push(Key::Index(i));
        // A primitive item is the match itself; a map item goes on with the rest.
        let result = find(&mut items[i], rest, &raw[1..], create, at, out, fresh);
        at.pop();
        result?;
    }
    Ok(())
}

/// A value as a one-line YAML text (what kyaml's list selectors match against).
fn yaml_text(v: &Value) -> String {
    crate::yaml::to_string(v)
}

fn at_path<'v>(root: &'v mut Value, path: &[Key]) -> &'v mut Value {
    path.iter().fold(root, |node, key| match key {
        Key::Field(name) => node.get_mut(name.as_str()).expect("found by find"),
        Key::Index(i) => node.get_mut(*i).expect("found by find"),
    })
}

/// Writes `value` into every field `path` reaches in `object`.
fn copy_to(object: &mut Value, value: &Copied, path: &str, options: Option<&FieldOptions>) -> Result<(), String> {
    let create = options.is_some_and(|o| o.create);
    let retrieval = |detail: Option<String>| {
        let what = if create { "unable to find or create field" } else { "unable to find field" };
        match detail {
            Some(d) => format!("{what} {path:?} in replacement target: {d}"),
            None => format!("{what} {path:?} in replacement target"),
        }
    };
    let segments = split(path);
    let steps = target_steps(&segments);
    let skip = segments.len() - steps.len();
    let mut found = Vec::new();
    find(object, &steps, &segments[skip..], create.then_some(value), &mut Vec::new(), &mut found, false)
        .map_err(|e| retrieval(Some(e)))?;
    if found.is_empty() {
        return Err(retrieval(None));
    }
    for f in found {
        let target = at_path(object, &f.path);
        set(target, f.fresh, value, options)?;
    }
    Ok(())
}

/// kustomize's `setFieldValue`: a scalar keeps its type and takes the text (one part of it
/// with a delimiter); anything else is replaced by the copied value.
fn set(target: &mut Value, fresh: bool, value: &Copied, options: Option<&FieldOptions>) -> Result<(), String> {
    let target_is_scalar = if fresh { value.is_scalar() } else { Kind::of(target).is_some() };
    let mut value = value.clone();
    if let Some(o) = options.filter(|o| !o.delimiter.is_empty()) {
        if !target_is_scalar {
            return Err("delimiter option can only be used with scalar nodes".into());
        }
        let current = if fresh { String::new() } else { text_of(target) };
        let mut parts: Vec<String> = current.split(o.delimiter.as_str()).map(str::to_string).collect();
        let v = value.text();
        match usize::try_from(o.index) {
            Err(_) => parts.insert(0, v),
            Ok(i) if i >= parts.len() => parts.push(v),
            Ok(i) => parts[i] = v,
        }
        value = value.with_text(parts.join(&o.delimiter));
    }
    *target = match (target_is_scalar, fresh, &value) {
        (true, true, v) => resolve(&v.text()),
        (true, false, v) => decode(Kind::of(target).expect("a scalar"), &v.text())?,
        (false, _, Copied::Scalar { kind, text }) => decode(*kind, text)?,
        (false, _, Copied::Node(v)) => v.clone(),
    };
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn s(parts: &[&str]) -> Vec<String> {
        parts.iter().map(|p| (*p).to_string()).collect()
    }

    #[test]
    fn paths_split_as_kyaml_smarter_path_splitter() {
        assert_eq!(split("spec.replicas"), s(&["spec", "replicas"]));
        assert_eq!(split("spec.data.[name=first].key"), s(&["spec", "data", "[name=first]", "key"]));
        assert_eq!(split("spec.data.[.name=.first].key"), s(&["spec", "data", "[.name=.first]", "key"]));
        assert_eq!(split("spec.data.[name.=first.].key"), s(&["spec", "data", "[name.=first.]", "key"]));
        assert_eq!(split("spec.data.[name=f.i.r.s.t.].key"), s(&["spec", "data", "[name=f.i.r.s.t.]", "key"]));
        assert_eq!(split(r"spec\.replicas"), s(&["spec.replicas"]));
        assert_eq!(split("spec.data.[name=f.i.[r.s.t..key"), s(&["spec", "data", "[name=f.i.[r.s.t..key"]));
        assert_eq!(split("metadata.annotations.[a.b.c/d.e.f-g.]"), s(&["metadata", "annotations", "a.b.c/d.e.f-g."]));
        assert_eq!(split(".metadata.name"), s(&["", "metadata", "name"]));
        // One bracketed part without a dot keeps its brackets (and is then a bad list selector).
        assert_eq!(split("a.[b]"), s(&["a", "[b]"]));
        assert_eq!(split(""), s(&[""]));
    }

    #[test]
    fn target_paths_drop_only_a_leading_dot() {
        assert_eq!(target_steps(&split(".spec.x")), vec![Step::Field("spec".into()), Step::Field("x".into())]);
        assert_eq!(
            target_steps(&split("a.0.*.[=x].-1")),
            vec![
                Step::Field("a".into()),
                Step::Index(0),
                Step::Every,
                Step::Match { key: String::new(), value: "x".into() },
                Step::Field("-1".into()),
            ]
        );
        assert!(matches!(&target_steps(&split("a.[b]"))[1], Step::Bad(m) if m.contains("fieldName=fieldValue")));
    }

    #[test]
    fn source_paths_read_fields_items_and_selectors() {
        let obj = json!({"spec": {"list": [{"name": "a", "v": 1}, {"name": "b", "v": 2}], "args": ["-x", "-y"]}});
        let g = |p: &str| -> Result<Option<Value>, String> { Ok(get(&obj, &split(p))?.cloned()) };
        assert_eq!(g("spec.list.[name=b].v").unwrap(), Some(json!(2)));
        assert_eq!(g(".spec.list.1.name").unwrap(), Some(json!("b")));
        assert_eq!(g("spec.list.-.name").unwrap(), Some(json!("b")));
        assert_eq!(g("spec.args.[=-y]").unwrap(), Some(json!("-y")));
        // The getter compares exactly, unlike the target matcher.
        assert_eq!(g("spec.list.[name=.*].v").unwrap(), None);
        assert_eq!(g("spec.nope.deeper").unwrap(), None);
        assert!(g("spec.list.-1").unwrap_err().contains("cannot be negative"));
        assert!(g("spec.list.name").unwrap_err().contains("expected MappingNode"));
    }

    #[test]
    fn scalars_keep_their_type_or_fail_as_yaml_v3_decodes_them() {
        let int = Copied::Scalar { kind: Kind::Int, text: "42".into() };
        let word = Copied::Scalar { kind: Kind::Str, text: "abc".into() };
        let mut t = json!("x");
        set(&mut t, false, &int, None).unwrap();
        assert_eq!(t, json!("42"));
        let mut t = json!(1);
        set(&mut t, false, &Copied::Scalar { kind: Kind::Str, text: "7".into() }, None).unwrap();
        assert_eq!(t, json!(7));
        let mut t = json!(1);
        assert_eq!(set(&mut t, false, &word, None).unwrap_err(), "yaml: cannot decode !!str `abc` as a !!int");
        let mut t = json!(false);
        assert_eq!(set(&mut t, false, &int, None).unwrap_err(), "yaml: cannot decode !!int `42` as a !!bool");
        // A field made by `create` has no type: the text is read as plain YAML.
        let mut t = Value::Null;
        set(&mut t, true, &Copied::Scalar { kind: Kind::Str, text: "42".into() }, None).unwrap();
        assert_eq!(t, json!(42));
        // A map copied into a string field leaves its (empty) text; into a map, the map.
        let map = Copied::Node(json!({"k": "v"}));
        let mut t = json!("x");
        set(&mut t, false, &map, None).unwrap();
        assert_eq!(t, json!(""));
        let mut t = json!(["x"]);
        set(&mut t, false, &map, None).unwrap();
        assert_eq!(t, json!({"k": "v"}));
    }

    #[test]
    fn target_delimiters_replace_prefix_or_append() {
        let opts = |index| FieldOptions { delimiter: "/".into(), index, ..FieldOptions::default() };
        let v = Copied::Scalar { kind: Kind::Str, text: "new".into() };
        for (index, want) in [(0, "new/b/c"), (2, "a/b/new"), (3, "a/b/c/new"), (9, "a/b/c/new"), (-1, "new/a/b/c")] {
            let mut t = json!("a/b/c");
            set(&mut t, false, &v, Some(&opts(index))).unwrap();
            assert_eq!(t, json!(want), "index {index}");
        }
        let mut t = Value::Null;
        set(&mut t, true, &v, Some(&opts(1))).unwrap();
        assert_eq!(t, json!("/new"));
        let mut t = json!({"a": 1});
        assert!(set(&mut t, false, &v, Some(&opts(0))).unwrap_err().contains("only be used with scalar nodes"));
    }

    #[test]
    fn list_selectors_in_targets_are_unanchored_regular_expressions() {
        let mut obj =
            json!({"c": [{"name": "web", "image": "a"}, {"name": "web-sidecar", "image": "b"}, {"name": "db"}]});
        let v = Copied::Scalar { kind: Kind::Str, text: "x".into() };
        copy_to(&mut obj, &v, "c.[name=web].image", None).unwrap();
        assert_eq!(obj["c"][0]["image"], "x");
        assert_eq!(obj["c"][1]["image"], "x");
        assert!(obj["c"][2].get("image").is_none());
        let err = copy_to(&mut obj, &v, "c.[name=nope].image", None).unwrap_err();
        assert_eq!(err, r#"unable to find field "c.[name=nope].image" in replacement target"#);
        let opts = FieldOptions { create: true, ..FieldOptions::default() };
        copy_to(&mut obj, &v, "c.[name=nope].image", Some(&opts)).unwrap();
        assert_eq!(obj["c"][3], json!({"name": "nope", "image": "x"}));
    }

    #[test]
    fn wildcards_walk_lists_only() {
        let mut obj = json!({"c": [{"env": [{"v": "1"}, {"v": "2"}]}, {"env": [{"v": "3"}]}], "m": {"a": "1"}});
        let v = Copied::Scalar { kind: Kind::Str, text: "x".into() };
        copy_to(&mut obj, &v, "c.*.env.*.v", None).unwrap();
        assert_eq!(obj["c"], json!([{"env": [{"v": "x"}, {"v": "x"}]}, {"env": [{"v": "x"}]}]));
        let err = copy_to(&mut obj, &v, "m.*", None).unwrap_err();
        assert!(err.ends_with("wrong node kind: expected SequenceNode but got MappingNode"), "{err}");
    }

    #[test]
    fn indexes_past_the_end_fail_unless_appending_with_create() {
        let mut obj = json!({"l": ["a"]});
        let v = Copied::Scalar { kind: Kind::Str, text: "x".into() };
        let err = copy_to(&mut obj, &v, "l.5", None).unwrap_err();
        assert!(err.ends_with("index 5 specified but only 1 elements found"), "{err}");
        let opts = FieldOptions { create: true, ..FieldOptions::default() };
        copy_to(&mut obj, &v, "l.1", Some(&opts)).unwrap();
        copy_to(&mut obj, &v, "new.0", Some(&opts)).unwrap();
        assert_eq!(obj, json!({"l": ["a", "x"], "new": ["x"]}));
    }

    #[test]
    fn ids_print_as_kustomize_res_ids() {
        let id = Id { kind: "Secret".into(), ..Id::default() };
        assert_eq!(id.to_string(), "Secret.[noVer].[noGrp]/[noName].[noNs]");
        let source = Source {
            kind: Some("ConfigMap".into()),
            name: Some("src".into()),
            namespace: Some("default".into()),
            field_path: Some("data.port".into()),
            ..Source::default()
        };
        assert_eq!(describe_source(&source), "ConfigMap.[noVer].[noGrp]/src.default:data.port");
    }

    #[test]
    fn a_namespace_of_default_selects_resources_without_one() {
        let r = Id { kind: "Deployment".into(), name: "web".into(), ..Id::default() };
        let sel = Id { namespace: "default".into(), ..Id::default() };
        assert!(r.selected_by(&sel));
        let cluster = Id { version: "v1".into(), kind: "Namespace".into(), name: "x".into(), ..Id::default() };
        assert!(!cluster.selected_by(&sel));
    }
}
