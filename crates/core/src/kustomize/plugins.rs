//! `transformers`, `generators` and `validators`: entries that configure kustomize's built-in
//! plugins (`apiVersion: builtin`, `kind: PrefixSuffixTransformer`, …), given inline, in files,
//! or as the output of a kustomization folder. They run the same code as the kustomization's
//! own fields, with the field specs the configuration gives (no defaults added, as in kustomize).
//!
//! Anything else would run a program (exec and Go plugins, containerized and KRM functions) and
//! is refused with the file and field: a store cannot run it, and the hub must render what the
//! agent renders.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use super::kustomization::{Generator, Image, Patch};
use super::resource::{FieldSpec, Resource};
use super::transform::{self, NamespaceMode, Subjects};
use super::{Ctx, Error, Target, generate};

/// Which list an entry came from: they run at different times and differ in what they may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum List {
    Generators,
    Transformers,
    Validators,
}

impl List {
    pub fn field(self) -> &'static str {
        match self {
            List::Generators => "generators",
            List::Transformers => "transformers",
            List::Validators => "validators",
        }
    }
}

/// One plugin configuration, with where it was written for messages.
pub(super) struct PluginConfig {
    pub field: String,
    /// The file it is written in (the kustomization itself for one written inline).
    pub file: String,
    pub object: Value,
}

impl PluginConfig {
    /// How `buildMetadata` names it: where it is configured, its kind and name.
    fn configured(&self, top: &str) -> String {
        let kind = self.object.get("kind").and_then(Value::as_str).unwrap_or_default();
        let name = self.object.pointer("/metadata/name").and_then(Value::as_str);
        super::track::configured(top, &self.file, kind, name)
    }
}

/// Whether an entry is a configuration written inline (kustomize tries to read each entry as
/// objects first, and takes it for a path when that fails).
pub(super) fn inline_objects(entry: &str) -> Option<Vec<Value>> {
    if !entry.contains('\n') && !entry.contains(": ") && !entry.trim_start().starts_with('{') {
        return None;
    }
    let docs = crate::yaml::load_all(entry.as_bytes()).ok()?;
    (!docs.is_empty() && docs.iter().all(|d| d.get("kind").is_some())).then_some(docs)
}

/// Runs the configurations of `list` over `res`.
pub(super) fn run(ctx: &Ctx<'_>, list: List, configs: &[PluginConfig], res: &mut Vec<Resource>) -> Result<(), Error> {
    for c in configs {
        check_builtin(ctx, c)?;
        match list {
            List::Generators => generator(ctx, c, res)?,
            List::Transformers => {
                transformer(ctx, c, res)?;
                if let Some(top) = ctx.tracking() {
                    super::track::ran(res, &c.configured(&top));
                }
            }
            List::Validators => {
                // A validator must not change anything (kustomize checks the same).
                let mut copy = res.clone();
                transformer(ctx, c, &mut copy)?;
                if copy.iter().map(|r| &r.object).ne(res.iter().map(|r| &r.object)) {
                    return Err(ctx.field_error(&c.field, "a validator must not modify the resources"));
                }
            }
        }
    }
    Ok(())
}

/// Refuses everything but kustomize's built-in plugins, naming what it would have run.
fn check_builtin(ctx: &Ctx<'_>, c: &PluginConfig) -> Result<(), Error> {
    let api_version = c.object.get("apiVersion").and_then(Value::as_str).unwrap_or_default();
    let kind = c.object.get("kind").and_then(Value::as_str).unwrap_or_default();
    let annotations = c.object.pointer("/metadata/annotations");
    let function = ["config.kubernetes.io/function", "config.k8s.io/function"]
        .iter()
        .any(|a| annotations.and_then(|m| m.get(*a)).is_some());
    if function {
        return Err(Error::Refused {
            file: ctx.file.to_string(),
            field: c.field.clone(),
            feature: format!("the KRM function {api_version} {kind} (functions run programs)"),
        });
    }
    if api_version != "builtin" {
        return Err(Error::Refused {
            file: ctx.file.to_string(),
            field: c.field.clone(),
            feature: format!(
                "the plugin {api_version} {kind} (plugins other than kustomize's built-in ones run programs)"
            ),
        });
    }
    Ok(())
}

/// Reads a configuration as `T`, naming the entry and the field in an error.
/// The arguments of a configuration: its fields beside `apiVersion`, `kind` and `metadata`.
fn typed<T: DeserializeOwned>(ctx: &Ctx<'_>, c: &PluginConfig) -> Result<T, Error> {
    let mut arguments = c.object.clone();
    if let Some(map) = arguments.as_object_mut() {
        for key in ["apiVersion", "kind", "metadata"] {
            map.remove(key);
        }
    }
    serde_path_to_error::deserialize(arguments).map_err(|e| {
        let path = e.path().to_string();
        ctx.field_error(format!("{}.{path}", c.field), e.into_inner().to_string())
    })
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct PrefixSuffix {
    #[serde(default)]
    prefix: String,
    #[serde(default)]
    suffix: String,
    #[serde(default)]
    field_specs: Vec<FieldSpec>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct Pairs {
    #[serde(default)]
    labels: BTreeMap<String, String>,
    #[serde(default)]
    annotations: BTreeMap<String, String>,
    #[serde(default)]
    field_specs: Vec<FieldSpec>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct Namespace {
    #[serde(default)]
    field_specs: Vec<FieldSpec>,
    #[serde(default)]
    unset_only: bool,
    #[serde(default)]
    set_role_binding_subjects: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct ImageTagConfig {
    image_tag: Image,
    #[serde(default)]
    field_specs: Vec<FieldSpec>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ReplicaCount {
    replica: super::kustomization::Replica,
    #[serde(default, rename = "fieldSpecs")]
    field_specs: Vec<FieldSpec>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct PatchConfig {
    #[serde(default)]
    path: Option<String>,
    #[serde(default)]
    patch: Option<String>,
    #[serde(default)]
    target: Option<Target>,
    #[serde(default)]
    options: Option<super::kustomization::PatchOptions>,
    /// PatchJson6902Transformer's name for an inline patch.
    #[serde(default)]
    json_op: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct StrategicMerge {
    #[serde(default)]
    paths: Vec<String>,
    #[serde(default)]
    patches: Option<String>,
}

/// A NamespaceTransformer configuration.
fn namespace(ctx: &Ctx<'_>, c: &PluginConfig, res: &mut [Resource]) -> Result<(), Error> {
    let field = c.field.as_str();
    let p: Namespace = typed(ctx, c)?;
    let ns = c.object.pointer("/metadata/namespace").and_then(Value::as_str).unwrap_or_default();
    let subjects = match p.set_role_binding_subjects.as_deref() {
        None | Some("" | "defaultOnly") => Subjects::DefaultOnly,
        Some("allServiceAccounts") => Subjects::AllServiceAccounts,
        Some("none") => Subjects::None,
        Some(other) => {
            return Err(ctx.field_error(
                format!("{field}.setRoleBindingSubjects"),
                format!("{other:?} is not one of defaultOnly, allServiceAccounts, none"),
            ));
        }
    };
    if !ns.is_empty() {
        transform::namespace(res, ns, &p.field_specs, &NamespaceMode { unset_only: p.unset_only, subjects })
            .map_err(|e| ctx.field_error(field, e))?;
    }
    Ok(())
}

/// A PatchStrategicMergeTransformer configuration: patch files, then inline patches.
fn strategic_merge(ctx: &Ctx<'_>, c: &PluginConfig, res: &mut Vec<Resource>) -> Result<(), Error> {
    let field = c.field.as_str();
    let p: StrategicMerge = typed(ctx, c)?;
    let mut texts = Vec::new();
    for (i, path) in p.paths.iter().enumerate() {
        texts.push((format!("{field}.paths[{i}]"), transform::patch_text(ctx, &format!("{field}.paths[{i}]"), path)?));
    }
    if let Some(inline) = p.patches {
        texts.push((format!("{field}.patches"), inline));
    }
    for (f, text) in texts {
        let docs = crate::yaml::load_all(text.as_bytes()).map_err(|e| ctx.field_error(&f, e.to_string()))?;
        for doc in docs {
            transform::smp_by_id(ctx, &f, res, &doc, None)?;
        }
    }
    Ok(())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ReplacementConfig {
    #[serde(default)]
    replacements: Vec<Value>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NoArguments {}

fn transformer(ctx: &Ctx<'_>, c: &PluginConfig, res: &mut Vec<Resource>) -> Result<(), Error> {
    let kind = c.object.get("kind").and_then(Value::as_str).unwrap_or_default();
    let field = c.field.as_str();
    match kind {
        "PrefixSuffixTransformer" => {
            let p: PrefixSuffix = typed(ctx, c)?;
            transform::prefix_suffix(res, &p.prefix, &p.suffix, &p.field_specs);
        }
        "PrefixTransformer" | "SuffixTransformer" => {
            let p: PrefixSuffix = typed(ctx, c)?;
            if p.field_specs.is_empty() {
                return Err(ctx.field_error(format!("{field}.fieldSpecs"), "fieldSpecs is not expected to be nil"));
            }
            let (prefix, suffix) =
                if kind == "PrefixTransformer" { (p.prefix, String::new()) } else { (String::new(), p.suffix) };
            transform::prefix_suffix(res, &prefix, &suffix, &p.field_specs);
        }
        "LabelTransformer" => {
            let p: Pairs = typed(ctx, c)?;
            transform::set_maps(res, &p.labels, &p.field_specs);
        }
        "AnnotationsTransformer" => {
            let p: Pairs = typed(ctx, c)?;
            transform::set_maps(res, &p.annotations, &p.field_specs);
        }
        "NamespaceTransformer" => namespace(ctx, c, res)?,
        "ImageTagTransformer" => {
            let p: ImageTagConfig = typed(ctx, c)?;
            transform::images(ctx, &format!("{field}.imageTag"), res, &p.image_tag, &p.field_specs)?;
        }
        "ReplicaCountTransformer" => {
            let p: ReplicaCount = typed(ctx, c)?;
            transform::replicas(res, &p.replica.name, p.replica.count, &p.field_specs)
                .map_err(|e| ctx.field_error(format!("{field}.replica"), e))?;
        }
        "PatchTransformer" | "PatchJson6902Transformer" => {
            let p: PatchConfig = typed(ctx, c)?;
            let json_only = kind == "PatchJson6902Transformer";
            let inline = if json_only { p.json_op.or(p.patch) } else { p.patch };
            let patch = Patch { path: p.path, patch: inline, target: p.target, options: p.options };
            transform::patch(ctx, field, res, &patch, json_only)?;
        }
        "PatchStrategicMergeTransformer" => strategic_merge(ctx, c, res)?,
        "ReplacementTransformer" => {
            let p: ReplacementConfig = typed(ctx, c)?;
            super::replacements::run(ctx, &p.replacements, res).map_err(|e| match e {
                Error::Field { file, field: inner, message } => {
                    Error::Field { file, field: format!("{field}.{inner}"), message }
                }
                other => other,
            })?;
        }
        "HashTransformer" => {
            let _: NoArguments = typed(ctx, c)?;
            // As kustomize: the generated objects keep wanting their hash, so the top level
            // appends it once more.
            for r in res.iter_mut().filter(|r| r.needs_hash) {
                let name = format!("{}-{}", r.name(), generate::name_hash(&r.object));
                r.set_name(name);
            }
        }
        "ConfigMapGenerator" | "SecretGenerator" | "HelmChartInflationGenerator" => {
            return Err(ctx.field_error(field, format!("{kind} is a generator; list it under generators")));
        }
        other => return Err(unknown(ctx, field, other)),
    }
    Ok(())
}

fn generator(ctx: &Ctx<'_>, c: &PluginConfig, res: &mut Vec<Resource>) -> Result<(), Error> {
    let kind = c.object.get("kind").and_then(Value::as_str).unwrap_or_default();
    let secret = match kind {
        "ConfigMapGenerator" => false,
        "SecretGenerator" => true,
        "HelmChartInflationGenerator" => return super::helm_charts::generate(ctx, &c.field, &c.file, &c.object, res),
        other => return Err(unknown(ctx, &c.field, other)),
    };
    let mut object = c.object.clone();
    let map = object.as_object_mut().expect("plugin configurations are mappings");
    for key in ["name", "namespace"] {
        let given = map.get(key).and_then(Value::as_str).is_some_and(|s| !s.is_empty());
        if !given && let Some(v) = c.object.pointer(&format!("/metadata/{key}")) {
            map.insert(key.into(), v.clone());
        }
    }
    let mut g: Generator = typed(ctx, &PluginConfig { field: c.field.clone(), file: c.file.clone(), object })?;
    if let Some(env) = g.env.take() {
        g.envs.insert(0, env);
    }
    let mut made = generate::make(ctx, &c.field, &g, None, secret)?;
    if let Some(top) = ctx.tracking() {
        made.origin = Some(c.configured(&top));
    }
    generate::place(ctx, &c.field, &g, made, res)
}

/// A kind with `apiVersion: builtin` that is none of kustomize's built-in plugins.
fn unknown(ctx: &Ctx<'_>, field: &str, kind: &str) -> Error {
    ctx.field_error(format!("{field}.kind"), format!("{kind:?} is not one of kustomize's built-in plugins"))
}
