//! The `kustomization.yaml` file: the supported fields, typed, and the refused ones named.

use std::collections::BTreeMap;
use std::rc::Rc;

use serde::Deserialize;
use serde_json::Value;

use super::Files;
use super::budget::{At, Meter};
use super::resource::FieldSpec;
use super::vars::Var;
use super::{Error, KUSTOMIZATION_FILES, Target};

/// Fields kustomize knows that we do not render, with what to call them in the error: the
/// deprecated spelling of `helmCharts` (kustomize converts it, with fields of helm's command
/// line such as `helmBin` and `extraArgs` that would run a program).
const REFUSED: &[(&str, &str)] = &[(
    "helmChartInflationGenerator",
    "helmChartInflationGenerator (deprecated Helm inflation: write it as helmCharts)",
)];

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Kustomization {
    #[serde(default)]
    pub api_version: Option<String>,
    #[serde(default)]
    pub kind: Option<String>,
    #[serde(default)]
    pub metadata: Option<Value>,
    #[serde(default, deserialize_with = "nullable")]
    pub resources: Vec<String>,
    /// Deprecated spelling of `resources`, still read by kustomize 5.
    #[serde(default, deserialize_with = "nullable")]
    pub bases: Vec<String>,
    #[serde(default, deserialize_with = "nullable")]
    pub components: Vec<String>,
    #[serde(default)]
    pub namespace: Option<String>,
    #[serde(default)]
    pub name_prefix: Option<String>,
    #[serde(default)]
    pub name_suffix: Option<String>,
    #[serde(default, deserialize_with = "nullable")]
    pub labels: Vec<LabelsEntry>,
    #[serde(default, deserialize_with = "nullable")]
    pub common_labels: BTreeMap<String, String>,
    #[serde(default, deserialize_with = "nullable")]
    pub common_annotations: BTreeMap<String, String>,
    #[serde(default, deserialize_with = "nullable")]
    pub images: Vec<Image>,
    /// Deprecated spelling of `images`.
    #[serde(default, deserialize_with = "nullable")]
    pub image_tags: Vec<Image>,
    #[serde(default, deserialize_with = "nullable")]
    pub replicas: Vec<Replica>,
    #[serde(default, deserialize_with = "nullable")]
    pub patches: Vec<Patch>,
    #[serde(default, deserialize_with = "nullable")]
    pub patches_strategic_merge: Vec<String>,
    #[serde(default, deserialize_with = "nullable", rename = "patchesJson6902")]
    pub patches_json6902: Vec<Patch>,
    #[serde(default, deserialize_with = "nullable")]
    pub config_map_generator: Vec<Generator>,
    #[serde(default, deserialize_with = "nullable")]
    pub secret_generator: Vec<Generator>,
    #[serde(default)]
    pub generator_options: Option<GeneratorOptions>,
    /// Files of kustomize's transformer configuration (custom field specs).
    #[serde(default, deserialize_with = "nullable")]
    pub configurations: Vec<String>,
    /// Configurations of kustomize's built-in plugins: inline, files or kustomization folders.
    #[serde(default, deserialize_with = "nullable")]
    pub generators: Vec<String>,
    #[serde(default, deserialize_with = "nullable")]
    pub transformers: Vec<String>,
    #[serde(default, deserialize_with = "nullable")]
    pub validators: Vec<String>,
    /// The output order; only the kustomization rendered at the top decides it.
    #[serde(default, deserialize_with = "nullable")]
    pub sort_options: Option<super::order::SortOptions>,
    /// What to write about the build into the objects; only the top kustomization decides.
    #[serde(default, deserialize_with = "nullable")]
    pub build_metadata: Vec<String>,
    /// Inline replacements or `{path: file}` entries, read by `replacements::run`.
    #[serde(default, deserialize_with = "nullable")]
    pub replacements: Vec<Value>,
    /// Files of OpenAPI definitions whose extensions add field specs (crds.rs).
    #[serde(default, deserialize_with = "nullable")]
    pub crds: Vec<String>,
    /// The schema strategic merge patches use: `path` (a file) or `version` (built in).
    #[serde(default, deserialize_with = "nullable")]
    pub openapi: BTreeMap<String, String>,
    /// Legacy `$(VAR)` substitution (vars.rs).
    #[serde(default, deserialize_with = "nullable")]
    pub vars: Vec<Var>,
    /// Charts inflated with Flotilla's Helm renderer (helm_charts.rs).
    #[serde(default, deserialize_with = "nullable")]
    pub helm_charts: Vec<HelmChart>,
    #[serde(default, deserialize_with = "nullable")]
    pub helm_globals: Option<HelmGlobals>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct LabelsEntry {
    #[serde(default, deserialize_with = "nullable")]
    pub pairs: BTreeMap<String, String>,
    #[serde(default)]
    pub include_selectors: bool,
    #[serde(default)]
    pub include_templates: bool,
    #[serde(default, deserialize_with = "nullable")]
    pub fields: Vec<FieldSpec>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Image {
    pub name: String,
    #[serde(default)]
    pub new_name: Option<String>,
    #[serde(default)]
    pub new_tag: Option<String>,
    #[serde(default)]
    pub digest: Option<String>,
    #[serde(default)]
    pub tag_suffix: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Replica {
    pub name: String,
    pub count: i64,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Patch {
    #[serde(default)]
    pub path: Option<String>,
    #[serde(default)]
    #[expect(clippy::struct_field_names, reason = "kustomize's field is called `patch`")]
    pub patch: Option<String>,
    #[serde(default)]
    pub target: Option<Target>,
    #[serde(default)]
    pub options: Option<PatchOptions>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PatchOptions {
    #[serde(default)]
    pub allow_name_change: bool,
    #[serde(default)]
    pub allow_kind_change: bool,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Generator {
    pub name: String,
    #[serde(default)]
    pub namespace: Option<String>,
    #[serde(default)]
    pub behavior: Option<String>,
    #[serde(default, deserialize_with = "nullable")]
    pub literals: Vec<String>,
    #[serde(default, deserialize_with = "nullable")]
    pub files: Vec<String>,
    #[serde(default, deserialize_with = "nullable")]
    pub envs: Vec<String>,
    /// Deprecated single form of `envs`.
    #[serde(default)]
    pub env: Option<String>,
    #[serde(default, rename = "type")]
    pub kind: Option<String>,
    #[serde(default)]
    pub options: Option<GeneratorOptions>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct GeneratorOptions {
    #[serde(default, deserialize_with = "nullable")]
    pub labels: BTreeMap<String, String>,
    #[serde(default, deserialize_with = "nullable")]
    pub annotations: BTreeMap<String, String>,
    #[serde(default)]
    pub disable_name_suffix_hash: Option<bool>,
    #[serde(default)]
    pub immutable: Option<bool>,
}

/// `helmGlobals`: where the charts are (`chartHome`, by default `charts` in the
/// kustomization's folder).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct HelmGlobals {
    #[serde(default)]
    pub chart_home: Option<String>,
    /// Where helm would keep its configuration and repository cache: no chart is pulled and no
    /// helm runs, so it is read and not used.
    #[serde(default)]
    pub config_home: Option<String>,
}

/// One `helmCharts` entry, kustomize 5.5's `types.HelmChart`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct HelmChart {
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub version: Option<String>,
    /// A chart repository to pull from: only a chart already in the chart home renders.
    #[serde(default)]
    pub repo: Option<String>,
    #[serde(default)]
    pub release_name: Option<String>,
    #[serde(default)]
    pub namespace: Option<String>,
    #[serde(default)]
    pub values_file: Option<String>,
    #[serde(default, deserialize_with = "nullable")]
    pub additional_values_files: Vec<String>,
    #[serde(default, deserialize_with = "nullable")]
    pub values_inline: serde_json::Map<String, Value>,
    #[serde(default)]
    pub values_merge: Option<String>,
    #[serde(default, rename = "includeCRDs")]
    pub include_crds: bool,
    #[serde(default)]
    pub skip_hooks: bool,
    #[serde(default)]
    pub skip_tests: bool,
    #[serde(default, deserialize_with = "nullable")]
    pub api_versions: Vec<String>,
    #[serde(default)]
    pub kube_version: Option<String>,
    #[serde(default)]
    pub name_template: Option<String>,
}

/// kustomize reads a list or map given as `null` (`patches: null`, or `patches:` with nothing
/// after it, as Kubebuilder scaffolds them) as if it were left out.
fn nullable<'de, D, T>(deserializer: D) -> Result<T, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de> + Default,
{
    Ok(Option::<T>::deserialize(deserializer)?.unwrap_or_default())
}

/// The kustomization file of a folder, if it has one.
/// The apiVersion of a Kustomization, and of a Component.
const KUSTOMIZATION_VERSION: &str = "kustomize.config.k8s.io/v1beta1";
const COMPONENT_VERSION: &str = "kustomize.config.k8s.io/v1alpha1";

pub fn find(files: &dyn Files, dir: &str) -> Option<String> {
    find_all(files, dir).next()
}

/// Every kustomization file in `dir`, in kustomize's order (more than one is an error).
pub fn find_all<'a>(files: &'a dyn Files, dir: &'a str) -> impl Iterator<Item = String> + 'a {
    KUSTOMIZATION_FILES
        .iter()
        .map(move |name| if dir.is_empty() { (*name).to_string() } else { format!("{dir}/{name}") })
        .filter(|path| files.is_file(path))
}

impl Kustomization {
    /// Reads and checks a kustomization file (once per render), its bytes counted against the
    /// render's budget each time.
    pub(crate) fn load(files: &dyn Files, file: &str, meter: &Meter) -> Result<Rc<Kustomization>, Error> {
        let at = At { file, field: None };
        if let Some((size, k)) = meter.kustomization_files.borrow().get(file) {
            meter.bytes(&at, *size)?;
            return Ok(k.clone());
        }
        let bytes = files.read(file).map_err(|source| Error::Path { file: file.to_string(), source })?;
        meter.bytes(&at, bytes.len())?;
        let k = Rc::new(Self::parse(file, &bytes)?);
        meter.kustomization_files.borrow_mut().insert(file.to_string(), (bytes.len(), k.clone()));
        Ok(k)
    }

    fn parse(file: &str, bytes: &[u8]) -> Result<Kustomization, Error> {
        let value =
            crate::yaml::load_one(bytes).map_err(|e| Error::Yaml { file: file.to_string(), message: e.to_string() })?;
        let value = if value.is_null() { Value::Object(serde_json::Map::new()) } else { value };
        let Value::Object(mut map) = value else {
            return Err(Error::Yaml { file: file.to_string(), message: "a kustomization must be a mapping".into() });
        };
        // kustomize refuses a kustomization with nothing in it but its apiVersion and kind: it
        // compares the file it read with an empty one, so a field that is null, "" or false
        // counts as absent, while an empty list or map does not.
        let blank = |v: &Value| match v {
            Value::Null => true,
            Value::String(s) => s.is_empty(),
            Value::Bool(b) => !b,
            Value::Number(n) => n.as_f64() == Some(0.0),
            Value::Array(_) | Value::Object(_) => false,
        };
        if map.iter().all(|(key, v)| matches!(key.as_str(), "apiVersion" | "kind") || blank(v)) {
            return Err(Error::Yaml { file: file.to_string(), message: "the kustomization is empty".into() });
        }
        // kustomize's EnforceFields: the apiVersion, when given, must be the kind's.
        let kind = map.get("kind").and_then(Value::as_str).unwrap_or("Kustomization");
        let wanted = if kind == "Component" { COMPONENT_VERSION } else { KUSTOMIZATION_VERSION };
        match map.get("apiVersion") {
            None | Some(Value::Null) => {}
            Some(Value::String(v)) if v.is_empty() || v == wanted => {}
            Some(other) => {
                return Err(Error::Field {
                    file: file.to_string(),
                    field: "apiVersion".into(),
                    message: format!("is {other}, but a {kind} needs {wanted}"),
                });
            }
        }
        // A refused field given as null is left out, as kustomize reads it (Kubebuilder scaffolds
        // `replacements:` with every entry commented out).
        map.retain(|key, v| !(v.is_null() && REFUSED.iter().any(|(k, _)| k == key)));
        for key in map.keys() {
            if let Some((_, feature)) = REFUSED.iter().find(|(k, _)| k == key) {
                return Err(Error::Refused {
                    file: file.to_string(),
                    field: key.clone(),
                    feature: (*feature).to_string(),
                });
            }
        }
        let mut k: Kustomization = serde_path_to_error::deserialize(Value::Object(map)).map_err(|e| {
            let field = e.path().to_string();
            Error::Field { file: file.to_string(), field, message: e.into_inner().to_string() }
        })?;
        let bases = std::mem::take(&mut k.bases);
        k.resources.extend(bases);
        for (i, g) in k.config_map_generator.iter_mut().chain(k.secret_generator.iter_mut()).enumerate() {
            if let Some(env) = g.env.take() {
                g.envs.insert(0, env);
            }
            if let Some(b) = &g.behavior
                && !matches!(b.as_str(), "create" | "merge" | "replace")
            {
                return Err(Error::Field {
                    file: file.to_string(),
                    field: format!("generator {i} ({}).behavior", g.name),
                    message: format!("{b:?} is not one of create, merge, replace"),
                });
            }
        }
        for (i, option) in k.build_metadata.iter().enumerate() {
            if !super::track::OPTIONS.contains(&option.as_str()) {
                return Err(Error::Field {
                    file: file.to_string(),
                    field: format!("buildMetadata[{i}]"),
                    message: format!("{option:?} is not one of {}", super::track::OPTIONS.join(", ")),
                });
            }
        }
        // The deprecated spelling of `images`, read after it as kustomize does.
        let old_images = std::mem::take(&mut k.image_tags);
        k.images.extend(old_images);
        Ok(k)
    }

    /// A folder named in `components` must hold a `Component`, and one in `resources` must not.
    pub fn check_kind(&self, file: &str, component: bool) -> Result<(), Error> {
        let kind = self.kind.as_deref().unwrap_or("Kustomization");
        match (component, kind) {
            (true, "Component") | (false, "Kustomization") => Ok(()),
            (true, other) => Err(Error::Field {
                file: file.to_string(),
                field: "kind".into(),
                message: format!("is {other:?}, but the folder is listed under components, which need kind Component"),
            }),
            (false, "Component") => Err(Error::Field {
                file: file.to_string(),
                field: "kind".into(),
                message: "a Component must be listed under components, not resources".into(),
            }),
            (false, other) => Err(Error::Field {
                file: file.to_string(),
                field: "kind".into(),
                message: format!("{other:?} is not Kustomization or Component"),
            }),
        }
    }
}
