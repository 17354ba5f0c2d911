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

/// Fields kustomize knows that we do not render, with what to call them in the error.
const REFUSED: &[(&str, &str)] = &[
    ("helmCharts", "helmCharts (Helm inflation)"),
    ("helmGlobals", "helmGlobals (Helm inflation)"),
    ("helmChartInflationGenerator", "helmChartInflationGenerator (Helm inflation)"),
    ("replacements", "replacements"),
    ("generators", "generators (plugins)"),
    ("transformers", "transformers (plugins)"),
    ("validators", "validators (plugins)"),
    ("crds", "crds"),
    ("openapi", "openapi"),
    ("buildMetadata", "buildMetadata"),
    ("sortOptions", "sortOptions"),
    ("imageTags", "imageTags"),
    ("inventory", "inventory"),
    ("patchesJson6902Inline", "patchesJson6902Inline"),
];

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Kustomization {
    #[serde(default)]
    pub api_version: Option<String>,
    #[serde(default)]
    pub kind: Option<String>,
    #[serde(default)]
    pub metadata: Option<Value>,
    #[serde(default)]
    pub resources: Vec<String>,
    /// Deprecated spelling of `resources`, still read by kustomize 5.
    #[serde(default)]
    pub bases: Vec<String>,
    #[serde(default)]
    pub components: Vec<String>,
    #[serde(default)]
    pub namespace: Option<String>,
    #[serde(default)]
    pub name_prefix: Option<String>,
    #[serde(default)]
    pub name_suffix: Option<String>,
    #[serde(default)]
    pub labels: Vec<LabelsEntry>,
    #[serde(default)]
    pub common_labels: BTreeMap<String, String>,
    #[serde(default)]
    pub common_annotations: BTreeMap<String, String>,
    #[serde(default)]
    pub images: Vec<Image>,
    #[serde(default)]
    pub replicas: Vec<Replica>,
    #[serde(default)]
    pub patches: Vec<Patch>,
    #[serde(default)]
    pub patches_strategic_merge: Vec<String>,
    #[serde(default, rename = "patchesJson6902")]
    pub patches_json6902: Vec<Patch>,
    #[serde(default)]
    pub config_map_generator: Vec<Generator>,
    #[serde(default)]
    pub secret_generator: Vec<Generator>,
    #[serde(default)]
    pub generator_options: Option<GeneratorOptions>,
    /// Files of kustomize's transformer configuration (custom field specs).
    #[serde(default)]
    pub configurations: Vec<String>,
    /// Legacy `$(VAR)` substitution (vars.rs).
    #[serde(default)]
    pub vars: Vec<Var>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct LabelsEntry {
    #[serde(default)]
    pub pairs: BTreeMap<String, String>,
    #[serde(default)]
    pub include_selectors: bool,
    #[serde(default)]
    pub include_templates: bool,
    #[serde(default)]
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
    #[serde(default)]
    pub literals: Vec<String>,
    #[serde(default)]
    pub files: Vec<String>,
    #[serde(default)]
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
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    #[serde(default)]
    pub annotations: BTreeMap<String, String>,
    #[serde(default)]
    pub disable_name_suffix_hash: Option<bool>,
    #[serde(default)]
    pub immutable: Option<bool>,
}

/// The kustomization file of a folder, if it has one.
pub fn find(files: &dyn Files, dir: &str) -> Option<String> {
    KUSTOMIZATION_FILES
        .iter()
        .map(|name| if dir.is_empty() { (*name).to_string() } else { format!("{dir}/{name}") })
        .find(|path| files.is_file(path))
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
        let Value::Object(map) = &value else {
            return Err(Error::Yaml { file: file.to_string(), message: "a kustomization must be a mapping".into() });
        };
        for key in map.keys() {
            if let Some((_, feature)) = REFUSED.iter().find(|(k, _)| k == key) {
                return Err(Error::Refused {
                    file: file.to_string(),
                    field: key.clone(),
                    feature: (*feature).to_string(),
                });
            }
        }
        let mut k: Kustomization = serde_path_to_error::deserialize(value).map_err(|e| {
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
        for (i, image) in k.images.iter().enumerate() {
            if image.tag_suffix.is_some() {
                return Err(Error::Refused {
                    file: file.to_string(),
                    field: format!("images[{i}].tagSuffix"),
                    feature: "tagSuffix".into(),
                });
            }
        }
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
