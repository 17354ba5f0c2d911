//! Helm charts rendered without helm: [`render`] gives, for a chart folder of a [`Snapshot`],
//! what Helm 4's engine renders (`helm template RELEASE DIR --namespace NS`): template path
//! (`CHART/templates/x.yaml`, subcharts as `CHART/charts/SUB/templates/y.yaml`) → text.
//!
//! It follows Helm's Go source: the loader ([`chart`]: `pkg/chart/v2/loader`), the values
//! ([`values`]: `CoalesceValues`, `ProcessDependencies`), the engine (`pkg/engine/engine.go`:
//! templates parsed deepest path first so a parent's `define` wins, partials not rendered,
//! `missingkey=zero`, `<no value>` removed) and its functions ([`funcs`]: `include` with its
//! recursion limit, `tpl`, `required`, `fail`, `toYaml` and friends, `lookup` empty as in
//! `helm template`), over flotilla-template's Go templates and Sprig.
//!
//! [`manifests`] turns the text into objects: documents split, hooks set aside, Helm's install
//! order. [`repo`] is what a chart from a Helm repository needs that is not IO: the index read,
//! the version chosen, an OCI manifest read, the archive checked against its digest.
//!
//! `values.schema.json` is checked as Helm checks it ([`schema`]) before anything renders.
//!
//! What it is not: `now` is [`Options::now_unix`] and times are formatted in UTC only. Random
//! values come from [`Options::random_seed`].

pub mod archive;
pub mod chart;
pub mod funcs;
pub mod manifests;
pub mod repo;
pub mod schema;
pub mod strvals;
pub mod values;

use std::collections::BTreeMap;
use std::sync::Arc;

use flotilla_template::{JsonNumbers, MissingKey, Struct, Templates, Value};
use serde_json::{Map, Value as Json};

use crate::snapshot::Snapshot;
use chart::Chart;

/// The Kubernetes version `.Capabilities` reports when the cluster's is not given: Helm 4.2.3's
/// default (one past the client-go it was built with: v0.35 gives v1.36), as its SDK renders.
pub const DEFAULT_KUBE_VERSION: &str = "v1.36.0";

/// The API versions `.Capabilities.APIVersions` has by default: the groups and versions of
/// client-go's scheme (with apiextensions), as Helm's `allKnownVersions` (checked one by one
/// against Helm 4.2.3's SDK).
pub const DEFAULT_API_VERSIONS: &[&str] = &[
    "v1",
    "admissionregistration.k8s.io/v1",
    "admissionregistration.k8s.io/v1beta1",
    "admissionregistration.k8s.io/v1alpha1",
    "internal.apiserver.k8s.io/v1alpha1",
    "apps/v1",
    "apps/v1beta2",
    "apps/v1beta1",
    "authentication.k8s.io/v1",
    "authentication.k8s.io/v1beta1",
    "authentication.k8s.io/v1alpha1",
    "authorization.k8s.io/v1",
    "authorization.k8s.io/v1beta1",
    "autoscaling/v1",
    "autoscaling/v2",
    "batch/v1",
    "batch/v1beta1",
    "certificates.k8s.io/v1",
    "certificates.k8s.io/v1beta1",
    "certificates.k8s.io/v1alpha1",
    "coordination.k8s.io/v1",
    "coordination.k8s.io/v1beta1",
    "coordination.k8s.io/v1alpha2",
    "discovery.k8s.io/v1",
    "discovery.k8s.io/v1beta1",
    "events.k8s.io/v1",
    "events.k8s.io/v1beta1",
    "extensions/v1beta1",
    "flowcontrol.apiserver.k8s.io/v1",
    "flowcontrol.apiserver.k8s.io/v1beta3",
    "flowcontrol.apiserver.k8s.io/v1beta2",
    "flowcontrol.apiserver.k8s.io/v1beta1",
    "networking.k8s.io/v1",
    "networking.k8s.io/v1beta1",
    "node.k8s.io/v1",
    "node.k8s.io/v1beta1",
    "node.k8s.io/v1alpha1",
    "policy/v1",
    "policy/v1beta1",
    "rbac.authorization.k8s.io/v1",
    "rbac.authorization.k8s.io/v1beta1",
    "rbac.authorization.k8s.io/v1alpha1",
    "resource.k8s.io/v1",
    "resource.k8s.io/v1beta2",
    "resource.k8s.io/v1beta1",
    "resource.k8s.io/v1alpha3",
    "scheduling.k8s.io/v1",
    "scheduling.k8s.io/v1beta1",
    "scheduling.k8s.io/v1alpha2",
    "storage.k8s.io/v1",
    "storage.k8s.io/v1beta1",
    "storage.k8s.io/v1alpha1",
    "storagemigration.k8s.io/v1beta1",
    "apiextensions.k8s.io/v1beta1",
    "apiextensions.k8s.io/v1",
];

/// What a render takes besides the chart: the release, the user's values and the cluster.
#[derive(Clone, Debug)]
pub struct Options {
    pub release_name: String,
    pub namespace: String,
    /// The user's values (`--values`, `--set`, a placement's `helm.values`), merged over the
    /// chart's defaults.
    pub values: Map<String, Json>,
    /// `.Capabilities.KubeVersion` (`v1.36.0`).
    pub kube_version: String,
    /// `.Capabilities.APIVersions`; empty means [`DEFAULT_API_VERSIONS`].
    pub api_versions: Vec<String>,
    /// What Sprig's random functions (`randAlphaNum`, `uuidv4`, …) draw from: the same seed
    /// gives the same values. A secret of the cluster's, so that nobody else can predict them.
    pub random_seed: Vec<u8>,
    /// What Sprig's `now` gives, in Unix seconds: core reads no clock.
    pub now_unix: i64,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            release_name: "release-name".into(),
            namespace: "default".into(),
            values: Map::new(),
            kube_version: DEFAULT_KUBE_VERSION.into(),
            api_versions: Vec::new(),
            random_seed: Vec::new(),
            now_unix: 0,
        }
    }
}

/// A chart that could not be rendered.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum Error {
    #[error(transparent)]
    Load(#[from] chart::Error),
    /// `message` is Helm's: `parse error at (FILE:LINE): ...`.
    #[error("{message}")]
    Parse { template: String, message: String },
    /// `message` is Helm's: `execution error at (FILE:LINE:COL): ...` for a chart's own `fail`
    /// or `required`, else Go's error.
    #[error("{message}")]
    Execute { template: String, message: String },
    /// Values that break `values.schema.json` (the chart's or an enabled subchart's): Helm's
    /// text, each failing chart named with its errors.
    #[error("{message}")]
    Schema { message: String },
    #[error("invalid kube version {version:?}")]
    KubeVersion { version: String },
    #[error("chart requires kubeVersion: {required} which is incompatible with Kubernetes {version}")]
    IncompatibleKubeVersion { required: String, version: String },
}

/// What a chart rendered to.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Rendered {
    /// Template path → rendered text, every template that is not a partial (`NOTES.txt`
    /// too: `helm template` does not print it).
    pub templates: BTreeMap<String, String>,
    /// The chart's (and enabled subcharts') `crds/` files, path → text, applied before the rest.
    pub crds: BTreeMap<String, String>,
    /// Whether a template drew from the random functions ([`Options::random_seed`]): a render
    /// that did not is the same whatever the seed.
    pub random: bool,
}

/// Renders the chart in folder `dir` of `snapshot`.
pub fn render(snapshot: &Snapshot, dir: &str, options: &Options) -> Result<Rendered, Error> {
    render_loaded(chart::load(snapshot, dir)?, options)
}

/// Renders a packed chart whose files are `snapshot` (a chart from a Helm repository, unpacked
/// by [`repo::unpack`]): read as Helm reads an archive, without `.helmignore`.
pub fn render_packed(snapshot: &Snapshot, options: &Options) -> Result<Rendered, Error> {
    render_loaded(chart::load_unpacked(snapshot)?, options)
}

/// Renders a chart already read ([`chart::load`], [`chart::load_folder`],
/// [`chart::load_unpacked`]): its `kubeVersion` checked, its dependencies processed and its
/// values coalesced as `helm template` does.
pub fn render_loaded(mut chart: Chart, options: &Options) -> Result<Rendered, Error> {
    let values = values::prepare(&mut chart, &options.values);
    // Helm's install action checks the values against the schemas first, then (as it renders)
    // the chart's `kubeVersion`, the top chart's only.
    schema::validate(&chart, &values).map_err(|message| Error::Schema { message })?;
    if let Some(required) = chart.metadata.get("kubeVersion").map(chart::scalar_text).filter(|r| !r.is_empty()) {
        let version = format!("v{}", options.kube_version.trim_start_matches('v'));
        if !flotilla_template::semver::satisfies(&required, &version).unwrap_or(false) {
            return Err(Error::IncompatibleKubeVersion { required, version });
        }
    }
    render_chart(&chart, values, options)
}

/// One template to render: its text, the data it runs with (one map per chart, shared by its
/// templates as in Helm: what one template `set`s on `$`, the next sees) and its base path.
struct Renderable {
    text: String,
    data: Value,
    base_path: String,
}

/// Renders a loaded chart whose dependencies are processed, with its coalesced values.
pub fn render_chart(chart: &Chart, values: Map<String, Json>, options: &Options) -> Result<Rendered, Error> {
    let capabilities = capabilities(options)?;
    let release = Value::map([
        ("Name", Value::from(options.release_name.as_str())),
        ("Namespace", Value::from(options.namespace.as_str())),
        ("IsUpgrade", Value::Bool(false)),
        ("IsInstall", Value::Bool(true)),
        ("Revision", Value::Int(1)),
        ("Service", Value::from("Helm")),
    ]);
    let top_values = Value::from_json(&Json::Object(values), JsonNumbers::Float);
    let mut renderables = BTreeMap::new();
    let mut crds = BTreeMap::new();
    all_templates(chart, "", true, &release, &capabilities, top_values, &mut renderables, &mut crds);

    let (funcs, draws) = funcs::funcs(&options.random_seed, options.now_unix);
    let mut set = Templates::new(
        funcs,
        flotilla_template::Options { missing_key: MissingKey::Zero, max_depth: 100, ..Default::default() },
    );
    // Parsed and executed in Helm's order: what a template `set`s, the next one sees.
    let order = sort_templates(renderables.keys());
    for &name in &order {
        let r = &renderables[name];
        set.parse(name, &r.text)
            .map_err(|e| Error::Parse { template: name.to_string(), message: parse_error(&e.to_string()) })?;
    }
    let mut templates = BTreeMap::new();
    for name in order {
        let r = &renderables[name];
        if name.rsplit('/').next().is_some_and(|base| base.starts_with('_')) {
            continue;
        }
        if let Value::Map(data) = &r.data {
            data.insert(
                "Template".into(),
                Value::map([("Name", Value::from(name)), ("BasePath", Value::from(r.base_path.as_str()))]),
            );
        }
        let out = set
            .execute(name, &r.data)
            .map_err(|e| Error::Execute { template: name.to_string(), message: execution_error(&e.to_string()) })?;
        templates.insert(name.to_string(), out.replace("<no value>", ""));
    }
    Ok(Rendered { templates, crds, random: draws.any() })
}

/// Helm's `cleanupParseError`: `template: FILE:LINE: MESSAGE` as `parse error at (FILE:LINE): MESSAGE`.
fn parse_error(go: &str) -> String {
    let tokens: Vec<&str> = go.splitn(3, ": ").collect();
    match tokens.as_slice() {
        ["template", location, message] => format!("parse error at ({location}): {message}"),
        _ => go.to_string(),
    }
}

/// Helm's `reformatExecErrorMsg` for a chart's own error (`fail`, `required`): the message alone,
/// at the outermost location. Other errors keep Go's text, a call repeated over and over
/// written once ([`collapse_repeats`]).
fn execution_error(go: &str) -> String {
    let tokens: Vec<&str> = go.splitn(3, ": ").collect();
    if let (["template", location, _], Some(start)) = (tokens.as_slice(), go.find(funcs::WARN_START)) {
        let message = &go[start + funcs::WARN_START.len()..];
        let message = message.split(funcs::WARN_END).next().unwrap_or(message);
        return format!("execution error at ({location}): {message}");
    }
    collapse_repeats(&go.replace(funcs::WARN_START, "").replace(funcs::WARN_END, ""))
}

/// Go's error text nests one `template: LOCATION: executing "NAME" at <NODE>: error calling
/// FUNCTION: ` per call, so a template that includes itself fails with the same call a hundred
/// times over (Helm 4.2.3 prints all of its thousand, 112 kB). A run of the same call is written
/// once, then how many times more it came.
fn collapse_repeats(go: &str) -> String {
    use std::fmt::Write as _;
    static FRAME: std::sync::OnceLock<regex::Regex> = std::sync::OnceLock::new();
    let frame = FRAME.get_or_init(|| {
        regex::Regex::new(r#"^template: \S+?: executing "(?:[^"\\]|\\.)*" at <.*?>: error calling \w+: "#)
            .expect("a valid regex")
    });
    let mut out = String::new();
    let mut rest = go;
    let mut last: Option<&str> = None;
    let mut repeats = 0;
    let flush = |out: &mut String, repeats: usize| {
        if repeats > 0 {
            let _ = write!(out, "(the call above {repeats} times more): ");
        }
    };
    while let Some(m) = frame.find(rest) {
        let call = &rest[..m.end()];
        if last == Some(call) {
            repeats += 1;
        } else {
            flush(&mut out, repeats);
            repeats = 0;
            out.push_str(call);
            last = Some(call);
        }
        rest = &rest[m.end()..];
    }
    flush(&mut out, repeats);
    out.push_str(rest);
    out
}

/// Helm's `recAllTpls`: every template of the chart and its subcharts with the data it runs
/// with (`.Values` the chart's own part of the values); returns this chart's data, which the
/// parent lists under `.Subcharts`.
#[allow(clippy::too_many_arguments, reason = "one recursive walk that gathers into two maps")]
fn all_templates(
    chart: &Chart,
    parent_path: &str,
    is_root: bool,
    release: &Value,
    capabilities: &Value,
    values: Value,
    out: &mut BTreeMap<String, Renderable>,
    crds: &mut BTreeMap<String, String>,
) -> Value {
    let full_path =
        if parent_path.is_empty() { chart.name.clone() } else { format!("{parent_path}/charts/{}", chart.name) };
    let mut subcharts = BTreeMap::new();
    for sub in &chart.subcharts {
        let sub_values = match &values {
            Value::Map(m) => match m.get(&sub.name) {
                Some(v @ Value::Map(_)) => v,
                _ => Value::map::<String>([]),
            },
            _ => Value::map::<String>([]),
        };
        let data = all_templates(sub, &full_path, false, release, capabilities, sub_values, out, crds);
        subcharts.insert(sub.name.clone(), data);
    }
    let mut data = BTreeMap::new();
    data.insert("Chart".to_string(), chart_object(chart, is_root));
    data.insert("Files".to_string(), funcs::files_object(&chart.files));
    data.insert("Release".to_string(), release.clone());
    data.insert("Capabilities".to_string(), capabilities.clone());
    data.insert("Values".to_string(), values);
    data.insert("Subcharts".to_string(), Value::from(subcharts));
    let data = Value::from(data);
    for (name, text) in &chart.templates {
        if chart.is_library() && !name.rsplit('/').next().is_some_and(|b| b.starts_with('_')) {
            continue;
        }
        out.insert(
            format!("{full_path}/{name}"),
            Renderable { text: text.clone(), data: data.clone(), base_path: format!("{full_path}/templates") },
        );
    }
    for path in &chart.crds {
        if let Some(bytes) = chart.files.get(path) {
            crds.insert(format!("{full_path}/{path}"), String::from_utf8_lossy(bytes).into_owned());
        }
    }
    data
}

/// Helm's `sortTemplates`: the deepest paths first, and at one depth in reverse byte order, so
/// that a parent's definitions, parsed last, win over a subchart's.
fn sort_templates<'a>(names: impl Iterator<Item = &'a String>) -> Vec<&'a str> {
    let mut names: Vec<&str> = names.map(String::as_str).collect();
    names.sort_by(|a, b| {
        let (da, db) = (a.matches('/').count(), b.matches('/').count());
        db.cmp(&da).then_with(|| b.cmp(a))
    });
    names
}

/// `.Chart`: Chart.yaml's fields under Go's names (`chart.Metadata`), and `IsRoot`, as a map.
fn chart_object(chart: &Chart, is_root: bool) -> Value {
    let m = &chart.metadata;
    let text = |key: &str| Value::from(m.get(key).map(chart::scalar_text).unwrap_or_default());
    let strings = |key: &str| match m.get(key) {
        Some(Json::Array(items)) => Value::list(items.iter().map(|i| Value::from(chart::scalar_text(i)))),
        _ => Value::list([]),
    };
    let maintainers = match m.get("maintainers") {
        Some(Json::Array(items)) => Value::list(items.iter().map(|i| {
            let f = |k: &str| Value::from(i.get(k).map(chart::scalar_text).unwrap_or_default());
            Struct::new("*chart.Maintainer")
                .field("Name", f("name"))
                .field("Email", f("email"))
                .field("URL", f("url"))
                .into_value()
        })),
        _ => Value::list([]),
    };
    let annotations = match m.get("annotations") {
        Some(Json::Object(a)) => Value::map(a.iter().map(|(k, v)| (k.clone(), Value::from(chart::scalar_text(v))))),
        _ => Value::map::<String>([]),
    };
    let dependencies = Value::list(chart.dependencies.iter().map(|d| {
        Struct::new("*chart.Dependency")
            .field("Name", d.name.as_str())
            .field("Version", d.version.as_str())
            .field("Repository", d.repository.as_str())
            .field("Condition", d.condition.as_str())
            .field("Tags", Value::list(d.tags.iter().map(|t| Value::from(t.as_str()))))
            .field("Enabled", true)
            .field("ImportValues", Value::from_json(&Json::Array(d.import_values.clone()), JsonNumbers::Float))
            .field("Alias", d.alias.as_str())
            .into_value()
    }));
    // Helm 4 gives templates the chart's metadata as a map (a missing field is empty, no error).
    Value::map([
        ("Name", Value::from(chart.name.as_str())),
        ("Home", text("home")),
        ("Sources", strings("sources")),
        ("Version", text("version")),
        ("Description", text("description")),
        ("Keywords", strings("keywords")),
        ("Maintainers", maintainers),
        ("Icon", text("icon")),
        ("APIVersion", text("apiVersion")),
        ("Condition", text("condition")),
        ("Tags", text("tags")),
        ("AppVersion", text("appVersion")),
        ("Deprecated", Value::Bool(m.get("deprecated").and_then(Json::as_bool).unwrap_or(false))),
        ("Annotations", annotations),
        ("KubeVersion", text("kubeVersion")),
        ("Dependencies", dependencies),
        ("Type", text("type")),
        ("IsRoot", Value::Bool(is_root)),
    ])
}

/// `.Capabilities`: the Kubernetes version (`Version`, `Major`, `Minor`, `GitVersion`), the
/// API versions (`Has`) and Helm's version.
fn capabilities(options: &Options) -> Result<Value, Error> {
    let version = &options.kube_version;
    let bad = || Error::KubeVersion { version: version.clone() };
    let bare = version.strip_prefix('v').unwrap_or(version);
    let mut parts = bare.split(['.', '-', '+']);
    let major = parts.next().filter(|p| p.parse::<u64>().is_ok()).ok_or_else(bad)?.to_string();
    let minor = parts.next().filter(|p| p.parse::<u64>().is_ok()).ok_or_else(bad)?.to_string();
    let version = format!("v{bare}");
    let kube = Struct::new("common.KubeVersion")
        .field("Version", version.as_str())
        .field("Major", major.as_str())
        .field("Minor", minor.as_str())
        .method("GitVersion", {
            let version = version.clone();
            move |args| {
                if args.is_empty() {
                    Ok(Value::from(version.as_str()))
                } else {
                    Err(format!("wrong number of args for GitVersion: want 0 got {}", args.len()))
                }
            }
        })
        .method("String", {
            let version = version.clone();
            move |_| Ok(Value::from(version.as_str()))
        })
        .into_value();
    let api_versions: Arc<Vec<String>> = Arc::new(if options.api_versions.is_empty() {
        DEFAULT_API_VERSIONS.iter().map(ToString::to_string).collect()
    } else {
        options.api_versions.clone()
    });
    let apis = Struct::new("common.VersionSet")
        .method("Has", move |args| match args {
            [Value::String(v)] => Ok(Value::Bool(api_versions.iter().any(|a| a == v))),
            [other] => Err(format!("wrong type for value; expected string; got {}", other.type_name())),
            _ => Err(format!("wrong number of args for Has: want 1 got {}", args.len())),
        })
        .into_value();
    let helm = Struct::new("version.BuildInfo")
        .field("Version", "v4.2")
        .field("GitCommit", "")
        .field("GitTreeState", "")
        .field("GoVersion", "")
        .into_value();
    Ok(Struct::new("*common.Capabilities")
        .field("KubeVersion", kube)
        .field("APIVersions", apis)
        .field("HelmVersion", helm)
        .into_value())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn render_one(template: &str) -> Result<Rendered, Error> {
        let mut snapshot = Snapshot::new();
        snapshot.insert_file("c/Chart.yaml", "apiVersion: v2\nname: probe\nversion: 0.1.0\n");
        snapshot.insert_file("c/templates/fail.yaml", template);
        render(&snapshot, "c", &Options { release_name: "flotilla".into(), ..Options::default() })
    }

    #[test]
    fn a_chart_s_kube_version_is_checked_as_helm_template_does() {
        let mut snapshot = Snapshot::new();
        snapshot.insert_file("c/Chart.yaml", "apiVersion: v2\nname: c\nversion: 0.1.0\nkubeVersion: '<1.20.0'\n");
        assert_eq!(
            render(&snapshot, "c", &Options::default()).unwrap_err().to_string(),
            "chart requires kubeVersion: <1.20.0 which is incompatible with Kubernetes v1.36.0"
        );
        snapshot.insert_file("c/Chart.yaml", "apiVersion: v2\nname: c\nversion: 0.1.0\nkubeVersion: '>=1.20.0-0'\n");
        assert!(render(&snapshot, "c", &Options::default()).is_ok());
    }

    /// A template that includes itself: Go's text repeats the call at every level (Helm's
    /// whole message is 112 kB); the repeats are counted, not written.
    #[test]
    fn a_recursive_include_says_its_call_once() {
        let e = render_one(
            "{{- define \"loop.self\" }}{{ include \"loop.self\" . }}{{ end }}\na: {{ include \"loop.self\" . }}\n",
        )
        .unwrap_err()
        .to_string();
        assert_eq!(
            e,
            "template: probe/templates/fail.yaml:2:6: executing \"probe/templates/fail.yaml\" at <include \"loop.self\" .>: \
             error calling include: template: probe/templates/fail.yaml:1:28: executing \"loop.self\" at <include \"loop.self\" .>: \
             error calling include: (the call above 99 times more): exceeded maximum template depth (100)"
        );
    }

    /// The messages of Helm 4.2.3's SDK for the same templates.
    #[test]
    fn errors_read_as_helm_s() {
        assert_eq!(
            render_one("a: 1\n{{ fail \"boom here\" }}\n").unwrap_err().to_string(),
            "execution error at (probe/templates/fail.yaml:2:3): boom here"
        );
        assert_eq!(
            render_one(
                "{{ define \"x\" }}{{ required \"need .Values.foo\" .Values.foo }}{{ end }}a: {{ include \"x\" . }}\n"
            )
            .unwrap_err()
            .to_string(),
            "execution error at (probe/templates/fail.yaml:1:76): need .Values.foo"
        );
        assert_eq!(
            render_one("a: {{ .Values.x \n").unwrap_err().to_string(),
            "parse error at (probe/templates/fail.yaml:2): unclosed action started at probe/templates/fail.yaml:1"
        );
    }
}
