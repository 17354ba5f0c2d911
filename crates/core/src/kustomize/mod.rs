//! A kustomize renderer: every field of `kustomization.yaml` that kubectl renders offline (SPEC
//! §3, docs/rendering.md).
//!
//! [`build`] renders a folder of a [`Snapshot`] as `kubectl kustomize` (kustomize 5.5) does:
//! the same objects, the same field values, the same order. It follows kustomize's pipeline:
//! per kustomization, resources (recursively), generators, components, the transformer
//! configuration (`configurations`, `crds`), the built-in transformers in kustomize's order,
//! plugin transformers and validators, vars; at the top, generator hashes, name references,
//! vars, the sort and build metadata. `helmCharts` are rendered by Flotilla's Helm renderer
//! ([`crate::helm`]). Features that would run a program or fetch (plugins other than
//! kustomize's built-in ones, KRM functions, remote bases and charts) are refused with an error
//! naming the file and field; nothing is silently skipped. This module does no IO: files come
//! from the snapshot (or another [`Files`]). A render keeps to a [`Budget`] of objects and
//! bytes, counted as it builds ([`build_with`]).

mod budget;
mod config;
mod crds;
mod files;
mod generate;
mod helm_charts;
mod kustomization;
mod namerefs;
mod openapi;
mod order;
mod plugins;
mod replacements;
pub mod resource;
mod smp;
mod target;
mod track;
mod transform;
mod vars;

use std::borrow::Cow;
use std::collections::HashSet;
use std::rc::Rc;

use serde_json::{Map, Value};

use crate::snapshot::{self, Snapshot};
use budget::{At, Meter};
pub use budget::{Budget, DEFAULT_MAX_BYTES, DEFAULT_MAX_OBJECTS, bytes_text};
use config::Config;
pub use files::Files;
pub use kustomization::Kustomization;
use resource::Resource;
pub use target::Target;

/// The file names kustomize looks for, in its order.
pub const KUSTOMIZATION_FILES: [&str; 3] = ["kustomization.yaml", "kustomization.yml", "Kustomization"];

/// How large one object may grow (about its JSON size) by what a render copies into it: JSON
/// patch copies, replacements, vars. The Kubernetes API takes objects of 1.5 MiB at most; this
/// stops a few lines of a hostile repository from doubling an object until the process dies.
pub const MAX_OBJECT_BYTES: usize = 8 * 1024 * 1024;

/// About how many bytes `value` takes as JSON.
pub(crate) fn weight(value: &Value) -> usize {
    match value {
        Value::String(s) => s.len() + 2,
        Value::Array(items) => items.iter().map(weight).sum::<usize>() + 2,
        Value::Object(map) => map.iter().map(|(k, v)| k.len() + 3 + weight(v)).sum::<usize>() + 2,
        _ => 8,
    }
}

/// Applies a JSON 6902 patch to `object` as kustomize does: `replace` of a missing member adds
/// it (kustomize's patch library is lenient there) and copies keep it under
/// [`MAX_OBJECT_BYTES`].
pub(crate) fn json_patch(object: &mut Value, ops: &Value) -> Result<(), crate::json_patch::Error> {
    let limit = crate::json_patch::Limit { bytes: MAX_OBJECT_BYTES, weigh: weight };
    let options = crate::json_patch::Options { replace_adds_members: true, limit: Some(limit) };
    *object = crate::json_patch::apply_with(object, ops, &options)?;
    Ok(())
}

/// How many kustomizations may be open at once (the one rendered counts as one, each base or
/// component inside it as one more) before we call it a mistake. Real repositories nest a
/// handful; kustomize itself sets no limit.
pub const MAX_NESTING: usize = 32;

/// Why a folder could not be rendered. Each variant names the file (and field) at fault.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    #[error("{file}: {source}")]
    Path { file: String, source: snapshot::PathError },
    #[error("{file}: {message}")]
    Yaml { file: String, message: String },
    #[error("{dir}: no kustomization.yaml, kustomization.yml or Kustomization in this folder")]
    NoKustomization { dir: String },
    #[error("{file}: field {field}: {message}")]
    Field { file: String, field: String, message: String },
    #[error(
        "{file}: field {field}: {feature} is not supported by flotilla's renderer; render it before committing, or use a supported field"
    )]
    Refused { file: String, field: String, feature: String },
    #[error(
        "{file}: field {field}: {path:?} is outside the kustomization folder {dir:?} (files must be inside it; folders may be elsewhere in the repository)"
    )]
    OutsideRoot { file: String, field: String, path: String, dir: String },
    #[error("{file}: field {field}: {path:?} leaves the repository")]
    LeavesRepository { file: String, field: String, path: String },
    #[error("{file}: cycle between kustomizations: {chain}")]
    Cycle { file: String, chain: String },
    #[error("{file}: kustomizations nested more than {limit} deep ({chain})")]
    TooDeep { file: String, limit: usize, chain: String },
    #[error(
        "{dir}: nothing to render: no kustomization.yaml, kustomization.yml or Kustomization, and no *.yaml, *.yml or *.json file in this folder"
    )]
    NothingToRender { dir: String },
    #[error("{file}: {message}")]
    Resource { file: String, message: String },
    #[error("{file}: field {field}: {message}")]
    Patch { file: String, field: String, message: String },
    /// The render built or read more than its [`Budget`]: `file` (and `field`) is where it
    /// went over, `chain` the kustomizations that included it, outermost first.
    #[error(
        "{file}: {}over the render budget: {limit} (rendering {chain})",
        .field.as_ref().map(|f| format!("field {f}: ")).unwrap_or_default()
    )]
    OverBudget { file: String, field: Option<String>, limit: String, chain: String },
}

/// Renders the kustomization (or plain folder) at `dir` of `snapshot`, within the default
/// [`Budget`].
///
/// A folder with a kustomization renders as `kubectl kustomize` does. A folder without one
/// renders every `*.yaml`, `*.yml` and `*.json` file in it, in path order, unchanged; a folder
/// with neither is refused (rendering nothing would have the agent prune everything).
pub fn build(snapshot: &Snapshot, dir: &str) -> Result<Vec<Value>, Error> {
    build_with(snapshot, dir, &Budget::default())
}

/// [`build`], from any [`Files`], within `budget`: the build stops with
/// [`Error::OverBudget`] as soon as it has built or read more than the budget allows.
pub fn build_with(files: &dyn Files, dir: &str, budget: &Budget) -> Result<Vec<Value>, Error> {
    let dir = snapshot::join("", dir).map_err(|source| Error::Path { file: dir.to_string(), source })?;
    let meter = Meter::new(*budget);
    let Some(top) = kustomization::find(files, &dir) else {
        if !files.is_dir(&dir) {
            return Err(Error::Path { file: dir.clone(), source: snapshot::PathError::NotFound { path: dir.clone() } });
        }
        return plain_folder(files, &dir, &meter).map_err(|e| with_chain(e, &[], &dir));
    };
    let mut stack = Vec::new();
    let acc =
        accumulate(files, &dir, Acc::default(), &mut stack, false, &meter).map_err(|e| with_chain(e, &stack, ""))?;
    let config = Acc::config(acc.custom.as_ref());
    let mut resources = acc.res;
    generate::append_hashes(&mut resources);
    namerefs::fix(&mut resources, config).map_err(|message| Error::Resource { file: top.clone(), message })?;
    // With the name references fixed, vars read final names.
    acc.vars.resolve(&mut resources, &config.var_reference, &top)?;
    // kustomize 5.5's `IgnoreLocal`, once, at the top: objects marked as local configuration
    // served every transformer, replacement and var as input (an overlay may read a base's),
    // and are not rendered.
    resources.retain(|r| !is_local_config(&r.object));
    let top_k = meter.kustomization_files.borrow().get(&top).map(|(_, k)| k.clone()).expect("the top was read");
    match top_k.sort_options.clone() {
        Some(options) => options.sort(&mut resources).map_err(|message| Error::Field {
            file: top,
            field: "sortOptions".into(),
            message,
        })?,
        None => order::sort_legacy(&mut resources),
    }
    if meter.tracking.borrow().is_some() {
        track::finish(&mut resources, &top_k.build_metadata);
    }
    Ok(resources.into_iter().map(|r| drop_empty_annotations(r.object)).collect())
}

/// kustomize rewrites the annotations map when it strips its build annotations, so an empty
/// one disappears from the output (an empty `labels` map stays), and every value in it is
/// written back as a string (a number that `replacements` created there comes out quoted).
fn drop_empty_annotations(mut object: Value) -> Value {
    if let Some(md) = object.get_mut("metadata").and_then(Value::as_object_mut) {
        if md.get("annotations").is_some_and(|a| a.as_object().is_some_and(serde_json::Map::is_empty)) {
            md.remove("annotations");
        } else if let Some(Value::Object(annotations)) = md.get_mut("annotations") {
            for value in annotations.values_mut() {
                match value {
                    Value::Number(n) => *value = Value::String(crate::yaml::format_yaml_number(n)),
                    Value::Bool(b) => *value = Value::String(b.to_string()),
                    Value::Null => *value = Value::String("null".into()),
                    _ => {}
                }
            }
        }
    }
    object
}

/// Names, in an [`Error::OverBudget`], the kustomizations open when the budget ran out: those
/// of `stack` (left as they were when the error rose), or `dir` alone.
fn with_chain(e: Error, stack: &[String], dir: &str) -> Error {
    match e {
        Error::OverBudget { file, field, limit, chain: c } if c.is_empty() => {
            let chain = match stack.split_last() {
                Some((last, before)) => chain(before, last),
                None => shown(dir).to_string(),
            };
            Error::OverBudget { file, field, limit, chain }
        }
        e => e,
    }
}

fn plain_folder(files: &dyn Files, dir: &str, meter: &Meter) -> Result<Vec<Value>, Error> {
    let mut out = Vec::new();
    let mut manifests = 0;
    let names = files.list_dir(dir).map_err(|source| Error::Path { file: dir.to_string(), source })?;
    for name in names {
        let path = if dir.is_empty() { name.clone() } else { format!("{dir}/{name}") };
        let is_manifest = [".yaml", ".yml", ".json"].iter().any(|ext| name.ends_with(ext));
        if is_manifest && files.is_file(&path) {
            manifests += 1;
            let loaded = load_resources(files, &path, &At { file: &path, field: None }, meter)?;
            out.extend(loaded.into_iter().map(|r| r.object));
        }
    }
    if manifests == 0 {
        return Err(Error::NothingToRender { dir: shown(dir).to_string() });
    }
    Ok(out)
}

/// A folder of the snapshot as messages name it: the root is `.`.
fn shown(dir: &str) -> &str {
    if dir.is_empty() { "." } else { dir }
}

/// The kustomizations open, then `dir`: `a -> b -> c`, the middle left out of a long chain.
fn chain(stack: &[String], dir: &str) -> String {
    let all: Vec<&str> = stack.iter().map(String::as_str).chain([dir]).map(shown).collect();
    if all.len() <= 7 {
        return all.join(" -> ");
    }
    format!("{} -> … -> {}", all[..3].join(" -> "), all[all.len() - 3..].join(" -> "))
}

/// What a build has gathered so far (kustomize's `ResAccumulator`): the resources, the
/// transformer configuration of every kustomization built into them, and their vars.
#[derive(Default)]
struct Acc {
    res: Vec<Resource>,
    /// `None` while it is kustomize's defaults (most builds never change them).
    custom: Option<Config>,
    vars: vars::Vars,
}

impl Acc {
    /// The configuration gathered so far (borrowing only that field, beside `res`).
    fn config(custom: Option<&Config>) -> &Config {
        custom.unwrap_or_else(|| Config::defaults())
    }

    fn merge_config(&mut self, other: &Config) -> Result<(), String> {
        self.custom.get_or_insert_with(|| Config::defaults().clone()).merge(other)
    }
}

/// Builds one kustomization (or component) folder on top of `initial`.
fn accumulate(
    files: &dyn Files,
    dir: &str,
    initial: Acc,
    stack: &mut Vec<String>,
    component: bool,
    meter: &Meter,
) -> Result<Acc, Error> {
    let mut found = kustomization::find_all(files, dir);
    let Some(file) = found.next() else {
        return Err(Error::NoKustomization { dir: dir.to_string() });
    };
    if let Some(other) = found.next() {
        // kustomize cannot tell which one is meant, and neither can we.
        return Err(Error::Yaml {
            file,
            message: format!("{other} is a kustomization file too; a folder may have only one"),
        });
    }
    if stack.iter().any(|d| d == dir) {
        let chain = stack.iter().chain([&dir.to_string()]).map(|d| shown(d)).collect::<Vec<_>>().join(" -> ");
        return Err(Error::Cycle { file, chain });
    }
    if stack.len() >= MAX_NESTING {
        return Err(Error::TooDeep { file, limit: MAX_NESTING, chain: chain(stack, dir) });
    }
    stack.push(dir.to_string());
    let at = At { file: &file, field: None };
    meter.kustomization(&at)?;
    let k = Kustomization::load(files, &file, meter)?;
    // A Component may be rendered by itself, as kubectl does: on nothing, at the top.
    let top = stack.len() == 1;
    if !(top && k.kind.as_deref() == Some("Component")) {
        k.check_kind(&file, component)?;
    }
    if top && !k.build_metadata.is_empty() {
        *meter.tracking.borrow_mut() = Some(dir.to_string());
    }
    let mut acc = initial;
    let ctx = Ctx { files, dir, file: &file, meter };
    if !k.openapi.is_empty() && matches!(*meter.schema.borrow(), openapi::Choice::Unset) {
        // As kustomize: the first kustomization that names one (the top first) chooses the
        // schema for the whole render.
        let schema = choose_schema(&ctx, &k.openapi)?;
        *meter.schema.borrow_mut() = schema.map_or(openapi::Choice::BuiltIn, |s| openapi::Choice::Custom(Rc::new(s)));
    }

    // The ids seen so far, kept for the whole loop: rebuilding them per entry made a build of
    // many files quadratic.
    let mut seen: HashSet<Id> = acc.res.iter().map(id_of).collect();
    for (i, entry) in k.resources.iter().enumerate() {
        let field = format!("resources[{i}]");
        let path = ctx.resolve(&field, entry, true)?;
        if files.is_dir(&path) {
            let sub = accumulate(files, &path, Acc::default(), stack, false, meter)?;
            append_all(&mut acc.res, &mut seen, sub.res, &file)?;
            if let Some(custom) = &sub.custom {
                acc.merge_config(custom).map_err(|e| ctx.field_error(&field, e))?;
            }
            acc.vars.absorb(sub.vars)?;
        } else {
            let mut loaded = load_resources(files, &path, &At { file: &file, field: Some(&field) }, meter)?;
            if let Some(top) = ctx.tracking() {
                let origin = track::from_file(&top, &path);
                for r in &mut loaded {
                    r.origin = Some(origin.clone());
                }
            }
            append_all(&mut acc.res, &mut seen, loaded, &file)?;
        }
    }
    let before = acc.res.len();
    generate::run(&ctx, &k, &mut acc.res)?;
    // kustomize's built-in generators run in this order: ConfigMaps, Secrets, Helm charts.
    helm_charts::run(&ctx, &k.helm_charts, k.helm_globals.as_ref(), &mut acc.res)?;
    let generators = plugin_configs(&ctx, plugins::List::Generators, &k.generators, stack)?;
    plugins::run(&ctx, plugins::List::Generators, &generators, &mut acc.res)?;
    // Generators add objects (a `merge` or `replace` changes one in place).
    meter.objects(&at, acc.res.len().saturating_sub(before))?;
    for (i, entry) in k.components.iter().enumerate() {
        let field = format!("components[{i}]");
        let path = ctx.resolve(&field, entry, true)?;
        if !files.is_dir(&path) {
            return Err(Error::Field {
                file: file.clone(),
                field,
                message: format!("{entry:?} is not a folder with a Component"),
            });
        }
        acc = accumulate(files, &path, acc, stack, true, meter)?;
    }
    for (i, entry) in k.configurations.iter().enumerate() {
        let field = format!("configurations[{i}]");
        let config = load_config(&ctx, &field, entry)?;
        acc.merge_config(&config).map_err(|e| ctx.field_error(&field, e))?;
    }
    for (i, entry) in k.crds.iter().enumerate() {
        let field = format!("crds[{i}]");
        let (_, doc) = ctx.read_yaml(&field, entry)?;
        let config = crds::config(&doc)
            .map_err(|e| ctx.field_error(&field, format!("unable to parse open API definition from {entry:?}: {e}")))?;
        acc.merge_config(&config).map_err(|e| ctx.field_error(&field, e))?;
    }
    transform::run(&ctx, &k, Acc::config(acc.custom.as_ref()), &mut acc.res)?;
    let transformers = plugin_configs(&ctx, plugins::List::Transformers, &k.transformers, stack)?;
    plugins::run(&ctx, plugins::List::Transformers, &transformers, &mut acc.res)?;
    let validators = plugin_configs(&ctx, plugins::List::Validators, &k.validators, stack)?;
    plugins::run(&ctx, plugins::List::Validators, &validators, &mut acc.res)?;
    acc.vars.declare(&file, &k.vars, &mut acc.res)?;
    stack.pop();
    Ok(acc)
}

/// The annotation that marks an object as input for the build only (kustomize's
/// `IgnoredByKustomizeAnnotation`).
const LOCAL_CONFIG: &str = "config.kubernetes.io/local-config";

/// Whether kustomize drops `object` as local configuration: it has the annotation with any
/// value but `false`.
fn is_local_config(object: &Value) -> bool {
    match object.pointer("/metadata/annotations").and_then(|a| a.get(LOCAL_CONFIG)) {
        None => false,
        Some(Value::String(s)) => s != "false",
        Some(Value::Bool(b)) => *b,
        Some(_) => true,
    }
}

/// The plugin configurations a `generators`, `transformers` or `validators` list gives: each
/// entry is written inline, or a file of them, or a kustomization folder that builds them.
fn plugin_configs(
    ctx: &Ctx<'_>,
    list: plugins::List,
    entries: &[String],
    stack: &mut Vec<String>,
) -> Result<Vec<plugins::PluginConfig>, Error> {
    let name = list.field();
    let mut out = Vec::new();
    for (i, entry) in entries.iter().enumerate() {
        let field = format!("{name}[{i}]");
        // The configurations, and the file that holds them.
        let (file, objects): (String, Vec<Value>) = if let Some(docs) = plugins::inline_objects(entry) {
            (ctx.file.to_string(), docs)
        } else {
            let path = ctx.resolve(&field, entry, true)?;
            if ctx.files.is_dir(&path) {
                let built = accumulate(ctx.files, &path, Acc::default(), stack, false, ctx.meter)?;
                let file = kustomization::find(ctx.files, &path).unwrap_or(path);
                (file, built.res.into_iter().map(|r| r.object).collect())
            } else {
                let loaded = load_resources(ctx.files, &path, &At { file: ctx.file, field: Some(&field) }, ctx.meter)?;
                (path, loaded.into_iter().map(|r| r.object).collect())
            }
        };
        let many = objects.len() > 1;
        for (j, object) in objects.into_iter().enumerate() {
            let field = if many { format!("{field} (document {})", j + 1) } else { field.clone() };
            out.push(plugins::PluginConfig { field, file: file.clone(), object });
        }
    }
    Ok(out)
}

/// The schema a kustomization's `openapi` names: a file of its own, or a built-in version.
fn choose_schema(
    ctx: &Ctx<'_>,
    openapi: &std::collections::BTreeMap<String, String>,
) -> Result<Option<openapi::Schema>, Error> {
    if let Some(key) = openapi.keys().find(|k| !matches!(k.as_str(), "path" | "version")) {
        return Err(ctx.field_error(format!("openapi.{key}"), "unknown field; give path or version"));
    }
    match (openapi.get("path"), openapi.get("version")) {
        (Some(_), Some(_)) => {
            Err(ctx.field_error("openapi", "builtin version and custom schema provided, cannot use both"))
        }
        (Some(path), None) => {
            let (file, doc) = ctx.read_yaml("openapi.path", path)?;
            openapi::Schema::parse(doc).map(Some).map_err(|message| Error::Field {
                file,
                field: "definitions".into(),
                message,
            })
        }
        (None, Some(version)) if openapi::BUILT_IN_VERSIONS.contains(&version.as_str()) => Ok(None),
        (None, Some(version)) => Err(ctx.field_error(
            "openapi.version",
            format!(
                "{version:?}: the specified OpenAPI version is not built in (kustomize 5.5 has {})",
                openapi::BUILT_IN_VERSIONS.join(", ")
            ),
        )),
        (None, None) => Ok(None),
    }
}

/// Reads a `configurations` file: kustomize's transformer configuration.
fn load_config(ctx: &Ctx<'_>, field: &str, entry: &str) -> Result<Config, Error> {
    let (path, value) = ctx.read_yaml(field, entry)?;
    let value = if value.is_null() { Value::Object(serde_json::Map::new()) } else { value };
    serde_path_to_error::deserialize(value).map_err(|e| Error::Field {
        file: path,
        field: e.path().to_string(),
        message: e.into_inner().to_string(),
    })
}

/// Where a kustomization file is, for reading the files it names (each read counted against
/// the render's budget).
pub(crate) struct Ctx<'a> {
    pub files: &'a dyn Files,
    pub dir: &'a str,
    pub file: &'a str,
    pub meter: &'a Meter,
}

impl<'a> Ctx<'a> {
    /// Resolves a path named in the kustomization. Folders may be anywhere in the repository;
    /// files must be inside the kustomization's folder, as kustomize's load restrictor demands.
    pub fn resolve(&self, field: &str, entry: &str, folders_allowed: bool) -> Result<String, Error> {
        if is_remote(entry) {
            return Err(Error::Refused {
                file: self.file.to_string(),
                field: field.to_string(),
                feature: format!("the remote resource {entry:?}"),
            });
        }
        let path = snapshot::join(self.dir, entry).map_err(|_| Error::LeavesRepository {
            file: self.file.to_string(),
            field: field.to_string(),
            path: entry.to_string(),
        })?;
        let resolved = self.files.resolve(&path).map_err(|e| self.field_error(field, e.to_string()))?;
        if folders_allowed && self.files.is_dir(&resolved) {
            return Ok(resolved);
        }
        if !self.files.is_file(&resolved) {
            // Read it to get the precise reason (missing, submodule, LFS pointer).
            self.files.read(&resolved).map_err(|e| self.field_error(field, e.to_string()))?;
        }
        let inside = self.dir.is_empty() || resolved.starts_with(&format!("{}/", self.dir));
        if !inside {
            return Err(Error::OutsideRoot {
                file: self.file.to_string(),
                field: field.to_string(),
                path: entry.to_string(),
                dir: self.dir.to_string(),
            });
        }
        Ok(resolved)
    }

    pub fn read(&self, field: &str, entry: &str) -> Result<(String, Cow<'a, [u8]>), Error> {
        let path = self.resolve(field, entry, false)?;
        let bytes = self.files.read(&path).map_err(|e| self.field_error(field, e.to_string()))?;
        self.meter.bytes(&At { file: self.file, field: Some(field) }, bytes.len())?;
        Ok((path, bytes))
    }

    /// [`Ctx::read`], the file read as one YAML document: its path, and what it holds.
    pub fn read_yaml(&self, field: &str, entry: &str) -> Result<(String, Value), Error> {
        let (path, bytes) = self.read(field, entry)?;
        let value =
            crate::yaml::load_one(&bytes).map_err(|e| Error::Yaml { file: path.clone(), message: e.to_string() })?;
        Ok((path, value))
    }

    /// With `buildMetadata` at the top: the top folder, which origins are relative to.
    pub fn tracking(&self) -> Option<String> {
        self.meter.tracking.borrow().clone()
    }

    /// Notes on every resource that the built-in transformer `kind` configured here ran.
    pub fn ran(&self, res: &mut [Resource], kind: &str) {
        if let Some(top) = self.tracking() {
            track::ran(res, &track::configured(&top, self.file, kind, None));
        }
    }

    pub fn field_error(&self, field: impl Into<String>, message: impl Into<String>) -> Error {
        Error::Field { file: self.file.to_string(), field: field.into(), message: message.into() }
    }
}

fn is_remote(entry: &str) -> bool {
    entry.contains("://")
        || entry.starts_with("github.com/")
        || entry.starts_with("git@")
        || entry.starts_with("gitlab.com/")
}

/// Reads the objects of one manifest file; `List` objects are expanded into their items. Its
/// bytes and objects are counted against the budget each time, as spent `at` (the
/// kustomization's field that names the file). A file read a second time in one render (a base
/// included twice over) is kept parsed for the times after; one read once is not copied.
fn load_resources(files: &dyn Files, path: &str, at: &At<'_>, meter: &Meter) -> Result<Vec<Resource>, Error> {
    let cached = meter.manifests.borrow().get(path).cloned();
    if let Some((size, Some(docs))) = &cached {
        meter.bytes(at, *size)?;
        meter.objects(at, docs.len())?;
        return Ok(docs.iter().map(|doc| Resource::new(doc.clone())).collect());
    }
    let bytes = files.read(path).map_err(|e| Error::Resource { file: path.to_string(), message: e.reason() })?;
    meter.bytes(at, bytes.len())?;
    let docs = parse_manifest(path, &bytes)?;
    meter.objects(at, docs.len())?;
    let keep = cached.is_some().then(|| Rc::new(docs.clone()));
    meter.manifests.borrow_mut().insert(path.to_string(), (bytes.len(), keep));
    Ok(docs.into_iter().map(Resource::new).collect())
}

/// The objects of a manifest file, checked; `List` objects expanded into their items.
fn parse_manifest(path: &str, bytes: &[u8]) -> Result<Vec<Value>, Error> {
    let docs =
        crate::yaml::load_objects(bytes).map_err(|e| Error::Yaml { file: path.to_string(), message: e.to_string() })?;
    let mut out = Vec::new();
    for (i, doc) in docs.into_iter().enumerate() {
        let kind = doc.get("kind").and_then(Value::as_str).unwrap_or_default();
        if kind == "List" || (kind.ends_with("List") && doc.get("items").is_some_and(Value::is_array)) {
            if let Some(Value::Array(items)) = doc.get("items") {
                for item in items {
                    out.push(check_object(item.clone(), path, i + 1)?);
                }
            }
            continue;
        }
        out.push(check_object(doc, path, i + 1)?);
    }
    Ok(out)
}

fn check_object(doc: Value, path: &str, document: usize) -> Result<Value, Error> {
    let problem = if !doc.is_object() {
        Some("is not a mapping".to_string())
    } else if doc.get("kind").and_then(Value::as_str).is_none_or(str::is_empty) {
        Some("has no kind".to_string())
    } else if doc.get("apiVersion").and_then(Value::as_str).is_none_or(str::is_empty) {
        Some("has no apiVersion".to_string())
    } else if doc.pointer("/metadata/name").and_then(Value::as_str).is_none_or(str::is_empty) {
        Some("has no metadata.name".to_string())
    } else {
        None
    };
    match problem {
        Some(p) => Err(Error::Resource { file: path.to_string(), message: format!("document {document} {p}") }),
        None => Ok(clear_empty_annotations(doc)),
    }
}

/// kyaml's reader drops an object's `metadata.annotations` when it is `null` or `{}` (it clears
/// the annotations it adds for its own bookkeeping that way); every other null or empty field,
/// `metadata.labels` and a pod template's annotations included, stays as written.
fn clear_empty_annotations(mut doc: Value) -> Value {
    if let Some(Value::Object(metadata)) = doc.get_mut("metadata")
        && metadata.get("annotations").is_some_and(|a| a.is_null() || a.as_object().is_some_and(Map::is_empty))
    {
        metadata.remove("annotations");
    }
    doc
}

/// Appends resources, refusing two with the same kind, namespace and name.
/// What makes two resources the same one: kind, namespace and name.
type Id = (resource::Gvk, String, String);

fn id_of(r: &Resource) -> Id {
    (r.gvk(), r.namespace().to_string(), r.name().to_string())
}

fn append_all(res: &mut Vec<Resource>, seen: &mut HashSet<Id>, more: Vec<Resource>, file: &str) -> Result<(), Error> {
    for r in more {
        if !seen.insert(id_of(&r)) {
            return Err(Error::Resource {
                file: file.to_string(),
                message: format!("may not add resource with an already registered id: {}", r.id()),
            });
        }
        res.push(r);
    }
    Ok(())
}

/// Applies one inline patch (strategic merge, or JSON 6902 with a target) to rendered objects,
/// as a Placement's `customizations` do. Returns how many objects it changed or deleted; unlike
/// kustomize, callers treat 0 as an error, because a customization that patches nothing is a
/// mistake in the fleet repository.
pub fn apply_inline_patch(objects: &mut Vec<Value>, patch: &str, target: Option<&Target>) -> Result<usize, String> {
    let docs = crate::yaml::load_objects(patch.as_bytes()).map_err(|e| e.to_string())?;
    let json = docs.len() == 1 && docs[0].is_array();
    // As in `patches`: a JSON 6902 patch's values are plain data, a date stays text.
    let docs = if json { crate::yaml::load_all(patch.as_bytes()).map_err(|e| e.to_string())? } else { docs };
    let selected: Vec<usize> = match target {
        Some(t) => {
            let m = t.compile()?;
            objects
                .iter()
                .enumerate()
                .filter(|(_, o)| m.matches(&Resource::new((*o).clone())))
                .map(|(i, _)| i)
                .collect()
        }
        None if json => return Err("a JSON 6902 patch needs a target".into()),
        None => Vec::new(),
    };
    let mut changed = 0;
    if json {
        for &i in &selected {
            json_patch(&mut objects[i], &docs[0])
                .map_err(|e| format!("{}: {e}", Resource::new(objects[i].clone()).id()))?;
            changed += 1;
        }
        return Ok(changed);
    }
    for doc in &docs {
        let hits: Vec<usize> = if target.is_some() {
            selected.clone()
        } else {
            let want = resource::Gvk::of(doc);
            let name = doc.pointer("/metadata/name").and_then(Value::as_str).unwrap_or_default();
            objects
                .iter()
                .enumerate()
                .filter(|(_, o)| {
                    let g = resource::Gvk::of(o);
                    g.kind == want.kind && o.pointer("/metadata/name").and_then(Value::as_str) == Some(name)
                })
                .map(|(i, _)| i)
                .collect()
        };
        for &i in hits.iter().rev() {
            match smp::apply(&mut objects[i], &smp::body(doc))? {
                smp::Outcome::Merged => {}
                smp::Outcome::Deleted => {
                    objects.remove(i);
                }
            }
            changed += 1;
        }
    }
    Ok(changed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_over_the_size_limit_is_refused_by_name() {
        let mut s = Snapshot::new();
        s.insert_file("kustomization.yaml", "resources: [big.yaml]\n");
        let mut big = b"apiVersion: v1\nkind: ConfigMap\nmetadata: {name: big}\ndata:\n  x: \"".to_vec();
        big.resize(crate::yaml::MAX_FILE_BYTES + 10, b'x');
        big.extend_from_slice(b"\"\n");
        s.insert_file("big.yaml", big);
        let err = build(&s, "").unwrap_err().to_string();
        assert!(err.starts_with("big.yaml: ") && err.contains("over the limit of 4194304 bytes"), "{err}");
    }

    #[test]
    fn a_submodule_in_a_rendered_path_is_named_as_such() {
        let mut s = Snapshot::new();
        s.insert_file("kustomization.yaml", "resources: [vendor]\n");
        s.insert("vendor", snapshot::Entry::Submodule("0123abcd".into()));
        let err = build(&s, "").unwrap_err().to_string();
        assert_eq!(
            err,
            "kustomization.yaml: field resources[0]: \"vendor\" is a git submodule; submodules are not rendered"
        );
    }

    /// `base-0` includes `base-1` … includes `base-{depth-1}`, which holds a ConfigMap.
    fn nested(depth: usize) -> Snapshot {
        let mut s = Snapshot::new();
        for i in 0..depth - 1 {
            s.insert_file(format!("base-{i}/kustomization.yaml"), format!("resources: [../base-{}]\n", i + 1));
        }
        s.insert_file(format!("base-{}/kustomization.yaml", depth - 1), "resources: [cm.yaml]\n");
        s.insert_file(
            format!("base-{}/cm.yaml", depth - 1),
            "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: deep}\n",
        );
        s
    }

    #[test]
    fn bases_nested_too_deep_are_refused_as_too_deep_not_as_a_cycle() {
        assert_eq!(build(&nested(MAX_NESTING), "base-0").unwrap().len(), 1);
        let err = build(&nested(500), "base-0").unwrap_err().to_string();
        assert_eq!(
            err,
            "base-32/kustomization.yaml: kustomizations nested more than 32 deep \
             (base-0 -> base-1 -> base-2 -> … -> base-30 -> base-31 -> base-32)"
        );
        // A real cycle, as deep as the limit allows, is still a cycle.
        let mut s = nested(MAX_NESTING);
        s.insert_file(format!("base-{}/kustomization.yaml", MAX_NESTING - 1), "resources: [../base-0]\n");
        let err = build(&s, "base-0").unwrap_err().to_string();
        assert!(err.starts_with("base-0/kustomization.yaml: cycle between kustomizations: base-0 -> base-1"), "{err}");
    }

    #[test]
    fn a_cycle_through_the_root_folder_names_it() {
        let mut s = Snapshot::new();
        s.insert_file("kustomization.yaml", "resources: [app]\n");
        s.insert_file("app/kustomization.yaml", "resources: [..]\n");
        let err = build(&s, "").unwrap_err().to_string();
        assert_eq!(err, "kustomization.yaml: cycle between kustomizations: . -> app -> .");
    }

    /// A few lines of a hostile repository may not grow an object until the process dies:
    /// JSON patch copies doubling a list, one large value replaced or substituted into many
    /// fields. Each is refused, naming the field, before the memory is spent.
    #[test]
    fn copies_that_would_grow_an_object_past_its_limit_are_refused() {
        let doubling: String = (0..40).map(|_| "    - {op: copy, from: /data/l, path: /data/l/-}\n").collect();
        let mut s = Snapshot::new();
        s.insert_file("cm.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: cm}\ndata:\n  l: [1]\n");
        s.insert_file(
            "kustomization.yaml",
            format!("resources: [cm.yaml]\npatches:\n- target: {{kind: ConfigMap}}\n  patch: |-\n{doubling}"),
        );
        let err = build(&s, "").unwrap_err().to_string();
        assert!(err.contains("field patches[0]") && err.contains("would be larger than 8 MiB"), "{err}");

        let big = "x".repeat(1024 * 1024);
        let mut s = Snapshot::new();
        s.insert_file(
            "src.yaml",
            format!("apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: src}}\ndata:\n  big: {big}\n"),
        );
        s.insert_file("dst.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: dst}\n");
        let paths: String = (0..20).map(|i| ["    - metadata.annotations.a", &i.to_string(), "\n"].concat()).collect();
        s.insert_file(
            "kustomization.yaml",
            format!("resources: [src.yaml, dst.yaml]\nreplacements:\n- source: {{kind: ConfigMap, name: src, fieldPath: data.big}}\n  targets:\n  - select: {{name: dst}}\n    options: {{create: true}}\n    fieldPaths:\n{paths}"),
        );
        let err = build(&s, "").unwrap_err().to_string();
        assert!(err.contains("replacements[0].targets[0].fieldPaths[7]") && err.contains("more than 8 MiB"), "{err}");

        let args: String = (0..20).map(|_| "        - $(BIG)\n").collect();
        s.insert_file(
            "dst.yaml",
            format!("apiVersion: apps/v1\nkind: Deployment\nmetadata: {{name: d}}\nspec:\n  template:\n    spec:\n      containers:\n      - name: a\n        image: x\n        args:\n{args}"),
        );
        s.insert_file(
            "kustomization.yaml",
            "resources: [src.yaml, dst.yaml]\nvars:\n- name: BIG\n  objref: {apiVersion: v1, kind: ConfigMap, name: src}\n  fieldref: {fieldPath: data.big}\n",
        );
        let err = build(&s, "").unwrap_err().to_string();
        assert!(err.contains("Deployment d") && err.contains("would add more than 8 MiB"), "{err}");
    }

    #[test]
    fn unknown_kustomization_fields_are_refused() {
        let mut s = Snapshot::new();
        s.insert_file("kustomization.yaml", "resources: []\nnamePrefx: x-\n");
        let err = build(&s, "").unwrap_err().to_string();
        assert!(err.starts_with("kustomization.yaml: field namePrefx: unknown field `namePrefx`"), "{err}");
    }
}
