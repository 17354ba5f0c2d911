//! `helmCharts` and `helmGlobals` (kustomize's HelmChartInflationGenerator, also as a
//! `generators` entry), inflated with Flotilla's own Helm renderer ([`crate::helm`]) where
//! kustomize runs `helm template`: the same arguments, the same objects.
//!
//! As kustomize 5.5 does it: the chart is the folder `<chartHome>/<name>` of the
//! kustomization's folder (`chartHome` from `helmGlobals`, by default `charts`; with both `repo`
//! and `version`, `<chartHome>/<name>-<version>/<name>`, where `kustomize build --enable-helm`
//! pulls it). Its values are `valuesFile` (by default the chart's own `values.yaml`) with
//! `valuesInline` over it (`valuesMerge`: `override`, the default, the inline values win;
//! `merge`, the file's win; `replace`, the inline values alone), then the
//! `additionalValuesFiles` in order, as helm's `-f` files. The release is `releaseName` (or
//! the name `nameTemplate` renders to, or helm's `release-name`) in `namespace` (helm's
//! `default`: kustomize does not pass its own `namespace` to helm; its namespace transformer
//! sets it afterwards). `.Capabilities` are helm's defaults, with `kubeVersion` and
//! `apiVersions` added. What `helm template` prints becomes resources of the kustomization,
//! after its `configMapGenerator` and `secretGenerator`: the CRDs of `crds/` with
//! `includeCRDs`, the release's objects in Helm's install order, then its hooks (none with
//! `skipHooks`, no test hooks with `skipTests`). The kustomization's transformers, name
//! references and sort then apply to them as to every resource.
//!
//! What is not kustomize's: a chart that is not in the repository is refused (naming the file
//! and `repo`): a render fetches nothing. A chart found with `version` set must be that
//! version. A chart's random functions draw from a seed of the chart's folder and release name
//! (FIXME: public, unlike a placement's chart with the agent's secret: a kustomization renders
//! the same for every cluster, so nothing of the cluster's may enter it) and `now` is
//! the Unix epoch, so that every render of a commit gives the same objects.

use serde_json::{Map, Value};
use sha2::{Digest as _, Sha256};

use super::budget::At;
use super::kustomization::{HelmChart, HelmGlobals};
use super::resource::Resource;
use super::{Ctx, Error, append_all, check_object, id_of, track};
use crate::helm;
use crate::snapshot;

/// kustomize's `HelmDefaultHome`.
const DEFAULT_HOME: &str = "charts";

/// How deep a chart's folders may nest before the walk calls it a loop of symlinks.
const MAX_FOLDER_DEPTH: usize = 32;

/// The `valuesMerge` options, in kustomize's words.
const MERGES: &str = "[merge override replace]";

/// Inflates a kustomization's `helmCharts` onto `res`.
pub(super) fn run(
    ctx: &Ctx<'_>,
    charts: &[HelmChart],
    globals: Option<&HelmGlobals>,
    res: &mut Vec<Resource>,
) -> Result<(), Error> {
    let home = globals.and_then(|g| g.chart_home.as_deref()).filter(|h| !h.is_empty()).unwrap_or(DEFAULT_HOME);
    for (i, chart) in charts.iter().enumerate() {
        let field = format!("helmCharts[{i}]");
        let made = inflate(ctx, &field, home, chart)?;
        let origin = ctx.tracking().map(|top| track::configured(&top, ctx.file, "HelmChartInflationGenerator", None));
        add(ctx, made, origin, res)?;
    }
    Ok(())
}

/// A `generators` entry of kind HelmChartInflationGenerator (`object`, written in `file`):
/// `helmGlobals`' and one chart's fields side by side, as kustomize reads it.
pub(super) fn generate(
    ctx: &Ctx<'_>,
    field: &str,
    file: &str,
    object: &Value,
    res: &mut Vec<Resource>,
) -> Result<(), Error> {
    let mut arguments = object.as_object().cloned().unwrap_or_default();
    for key in ["apiVersion", "kind", "metadata"] {
        arguments.remove(key);
    }
    let home = match arguments.remove("chartHome") {
        None | Some(Value::Null) => DEFAULT_HOME.to_string(),
        Some(Value::String(h)) if h.is_empty() => DEFAULT_HOME.to_string(),
        Some(Value::String(h)) => h,
        Some(other) => return Err(ctx.field_error(format!("{field}.chartHome"), format!("{other} is not a path"))),
    };
    arguments.remove("configHome");
    let chart: HelmChart = serde_path_to_error::deserialize(Value::Object(arguments)).map_err(|e| {
        let path = e.path().to_string();
        ctx.field_error(format!("{field}.{path}"), e.into_inner().to_string())
    })?;
    let made = inflate(ctx, field, &home, &chart)?;
    let origin = ctx.tracking().map(|top| {
        let name = object.pointer("/metadata/name").and_then(Value::as_str);
        track::configured(&top, file, "HelmChartInflationGenerator", name)
    });
    add(ctx, made, origin, res)
}

/// Adds what a chart made, as kustomize absorbs a generator's output: an object whose id is
/// taken already is an error (helm's objects carry no merge or replace behaviour).
fn add(ctx: &Ctx<'_>, mut made: Vec<Resource>, origin: Option<String>, res: &mut Vec<Resource>) -> Result<(), Error> {
    if let Some(origin) = origin {
        for r in &mut made {
            r.origin = Some(origin.clone());
        }
    }
    let mut seen = res.iter().map(id_of).collect();
    append_all(res, &mut seen, made, ctx.file)
}

/// Where a chart entry's folder is: kustomize's place for it, or, when that is missing and the
/// entry names a `repo` and `version`, the chart home's `<name>` holding that version (a chart
/// vendored with `helm pull --untar`, or by an older kustomize). Gives the folder, and where
/// it is from the kustomization's folder.
fn locate(ctx: &Ctx<'_>, field: &str, home: &str, chart: &HelmChart) -> Result<(String, String), Error> {
    let name = &chart.name;
    let repo = chart.repo.as_deref().filter(|r| !r.is_empty());
    let version = chart.version.as_deref().filter(|v| !v.is_empty());
    let plain = format!("{home}/{name}");
    let mut places = Vec::new();
    if let (Some(_), Some(version)) = (repo, version) {
        places.push(format!("{home}/{name}-{version}/{name}"));
    }
    places.push(plain.clone());
    for place in &places {
        let Ok(joined) = snapshot::join(ctx.dir, place) else {
            return Err(Error::LeavesRepository {
                file: ctx.file.to_string(),
                field: format!("{field}.name"),
                path: place.clone(),
            });
        };
        if let Ok(resolved) = ctx.files.resolve(&joined)
            && ctx.files.is_dir(&resolved)
        {
            return Ok((resolved, place.clone()));
        }
    }
    Err(match repo {
        Some(repo) => Error::Refused {
            file: ctx.file.to_string(),
            field: format!("{field}.repo"),
            feature: format!(
                "pulling the chart {name:?} from {repo} (no chart at {}; a render fetches nothing: vendor the chart there, e.g. with `helm pull --untar`)",
                places.join(" or ")
            ),
        },
        None => {
            ctx.field_error(format!("{field}.name"), format!("no repo specified for pull, no chart found at {plain:?}"))
        }
    })
}

/// Every file under the chart's folder, path relative to it → bytes, counted against the
/// render's budget.
fn read_tree(ctx: &Ctx<'_>, field: &str, root: &str) -> Result<Vec<(String, Vec<u8>)>, Error> {
    fn walk(
        ctx: &Ctx<'_>,
        at: &At<'_>,
        root: &str,
        dir: &str,
        depth: usize,
        out: &mut Vec<(String, Vec<u8>)>,
    ) -> Result<(), Error> {
        if depth > MAX_FOLDER_DEPTH {
            return Err(ctx.field_error(
                at.field.unwrap_or_default(),
                format!("{dir}: folders nested more than {MAX_FOLDER_DEPTH} deep (a loop of symlinks?)"),
            ));
        }
        let names =
            ctx.files.list_dir(dir).map_err(|e| ctx.field_error(at.field.unwrap_or_default(), e.to_string()))?;
        for name in names {
            let path = format!("{dir}/{name}");
            if ctx.files.is_dir(&path) {
                walk(ctx, at, root, &path, depth + 1, out)?;
            } else if ctx.files.is_file(&path) {
                let bytes =
                    ctx.files.read(&path).map_err(|e| ctx.field_error(at.field.unwrap_or_default(), e.to_string()))?;
                ctx.meter.bytes(at, bytes.len())?;
                let relative = path[root.len() + 1..].to_string();
                out.push((relative, bytes.into_owned()));
            }
        }
        Ok(())
    }
    let mut out = Vec::new();
    walk(ctx, &At { file: ctx.file, field: Some(field) }, root, root, 0, &mut out)?;
    Ok(out)
}

/// A values file named by the kustomization (relative to its folder), as a mapping.
fn values_file(ctx: &Ctx<'_>, field: &str, entry: &str) -> Result<Map<String, Value>, Error> {
    let (path, bytes) = ctx.read(field, entry)?;
    match crate::yaml::load_helm_values(&bytes) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(Value::Null) => Ok(Map::new()),
        Ok(_) => Err(Error::Yaml { file: path, message: "helm values must be a mapping".into() }),
        Err(e) => Err(Error::Yaml { file: path, message: e.to_string() }),
    }
}

/// kyaml's `merge2` of plain data (`src` over `dest`): mappings merge, a `null` in `src`
/// deletes the field, anything else in `src` replaces what `dest` has.
fn merge2(dest: &mut Map<String, Value>, src: Map<String, Value>) {
    for (key, value) in src {
        match (dest.get_mut(&key), value) {
            (_, Value::Null) => {
                dest.remove(&key);
            }
            (Some(Value::Object(d)), Value::Object(s)) => merge2(d, s),
            (_, value) => {
                dest.insert(key, value);
            }
        }
    }
}

/// The release name helm takes: `releaseName`, else what `nameTemplate` renders to, else
/// `helm template`'s `release-name`.
fn release_name(ctx: &Ctx<'_>, field: &str, chart: &HelmChart, seed: &[u8]) -> Result<String, Error> {
    let given = chart.release_name.as_deref().filter(|n| !n.is_empty());
    let template = chart.name_template.as_deref().filter(|t| !t.is_empty());
    match (given, template) {
        (Some(_), Some(_)) => Err(ctx.field_error(
            format!("{field}.nameTemplate"),
            "cannot set --name-template and also specify a name (releaseName)",
        )),
        (Some(name), None) => Ok(name.to_string()),
        (None, Some(template)) => {
            // Helm's `TemplateName`: the template run over nothing, with Sprig's functions.
            let mut set =
                flotilla_template::Templates::new(helm::funcs::funcs(seed, 0).0, flotilla_template::Options::default());
            let fail = |e: String| ctx.field_error(format!("{field}.nameTemplate"), e);
            set.parse("name-template", template).map_err(|e| fail(e.to_string()))?;
            set.execute("name-template", &flotilla_template::Value::Nil).map_err(|e| fail(e.to_string()))
        }
        (None, None) => Ok("release-name".to_string()),
    }
}

/// Helm's `--kube-version`, as `chartutil.ParseKubeVersion` reads it: `1.30` is `v1.30.0`.
fn kube_version(given: &str) -> String {
    let bare = given.trim_start_matches('v');
    let (core, rest) = bare.split_at(bare.find(['-', '+']).unwrap_or(bare.len()));
    let zeros = 2usize.saturating_sub(core.matches('.').count());
    format!("v{core}{}{rest}", ".0".repeat(zeros))
}

/// Renders one chart entry into resources, in the order `helm template` prints them.
fn inflate(ctx: &Ctx<'_>, field: &str, home: &str, chart: &HelmChart) -> Result<Vec<Resource>, Error> {
    if chart.name.is_empty() {
        return Err(ctx.field_error(format!("{field}.name"), "chart name cannot be empty"));
    }
    let merge = chart.values_merge.as_deref().filter(|m| !m.is_empty()).unwrap_or("override");
    if !matches!(merge, "override" | "merge" | "replace") {
        return Err(ctx.field_error(format!("{field}.valuesMerge"), format!("valuesMerge must be one of {MERGES}")));
    }
    let (dir, place) = locate(ctx, field, home, chart)?;
    let files = read_tree(ctx, field, &dir)?;
    let loaded = helm::chart::load_folder(&dir, files).map_err(|e| ctx.field_error(field, e.to_string()))?;
    if let Some(version) = chart.version.as_deref().filter(|v| !v.is_empty())
        && loaded.version() != version
    {
        return Err(ctx.field_error(
            format!("{field}.version"),
            format!("the chart at {dir} is version {:?}, not {version:?}", loaded.version()),
        ));
    }

    // kustomize hands helm one values file (its `valuesFile`, or the chart's own, with the
    // inline values merged in), then the additional ones. The chart's own is read as a file of
    // the kustomization: from a chart home outside its folder, kustomize's load restrictor
    // refuses it, and so does `ctx.read`.
    let own = format!("{place}/values.yaml");
    let file_entry = chart.values_file.as_deref().filter(|f| !f.is_empty()).unwrap_or(&own);
    let file_values = values_file(ctx, &format!("{field}.valuesFile"), file_entry)?;
    let mut values = if chart.values_inline.is_empty() {
        file_values
    } else {
        match merge {
            "override" => {
                let mut v = file_values;
                merge2(&mut v, chart.values_inline.clone());
                v
            }
            "merge" => {
                let mut v = chart.values_inline.clone();
                merge2(&mut v, file_values);
                v
            }
            _ => chart.values_inline.clone(),
        }
    };
    for (j, entry) in chart.additional_values_files.iter().enumerate() {
        let more = values_file(ctx, &format!("{field}.additionalValuesFiles[{j}]"), entry)?;
        helm::values::merge(&mut values, more);
    }

    let mut seed = Sha256::new();
    seed.update(b"flotilla kustomize helmCharts seed\0");
    seed.update(dir.as_bytes());
    let seed = seed.finalize().to_vec();
    let release = release_name(ctx, field, chart, &seed)?;
    let seed = {
        let mut h = Sha256::new();
        h.update(&seed);
        h.update(b"\0");
        h.update(release.as_bytes());
        h.finalize().to_vec()
    };
    let mut api_versions: Vec<String> = helm::DEFAULT_API_VERSIONS.iter().map(ToString::to_string).collect();
    api_versions.extend(chart.api_versions.iter().cloned());
    let options = helm::Options {
        release_name: release,
        namespace: chart.namespace.clone().filter(|n| !n.is_empty()).unwrap_or_else(|| "default".into()),
        values,
        kube_version: chart
            .kube_version
            .as_deref()
            .filter(|v| !v.is_empty())
            .map_or_else(|| helm::DEFAULT_KUBE_VERSION.to_string(), kube_version),
        api_versions,
        random_seed: seed,
        now_unix: 0,
    };
    let rendered = helm::render_loaded(loaded, &options).map_err(|e| ctx.field_error(field, e.to_string()))?;
    let manifests = helm::manifests::manifests(&rendered).map_err(|e| ctx.field_error(field, e.to_string()))?;
    let mut out = Vec::new();
    for manifest in manifests.printed(chart.include_crds, chart.skip_tests, chart.skip_hooks) {
        // kustomize reads helm's output as any manifest: a `List` is its items.
        let object = &manifest.object;
        let kind = object.get("kind").and_then(Value::as_str).unwrap_or_default();
        let items = match object.get("items") {
            Some(Value::Array(items)) if kind.ends_with("List") => items.clone(),
            _ => vec![object.clone()],
        };
        for item in items {
            let checked = check_object(item, &manifest.path, 1).map_err(|e| ctx.field_error(field, e.to_string()))?;
            out.push(Resource::new(checked));
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::snapshot::Snapshot;

    const CHART: &[(&str, &str)] = &[
        ("Chart.yaml", "apiVersion: v2\nname: web\nversion: 1.2.3\n"),
        ("values.yaml", "replicas: 1\nimage: {repo: nginx, tag: '1.0'}\nextra: keep\n"),
        (
            "templates/cm.yaml",
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}-cfg\n  labels: {ns: {{ .Release.Namespace }}}\ndata:\n  image: \"{{ .Values.image.repo }}:{{ .Values.image.tag }}\"\n  replicas: \"{{ .Values.replicas }}\"\n  extra: \"{{ .Values.extra }}\"\n  kube: \"{{ .Capabilities.KubeVersion.Version }}\"\n  api: \"{{ .Capabilities.APIVersions.Has \"x.io/v1\" }}\"\n",
        ),
        (
            "templates/deploy.yaml",
            "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: '{{ .Release.Name }}'}\nspec:\n  template:\n    spec:\n      containers: [{name: web, image: nginx}]\n",
        ),
        (
            "templates/tests/t.yaml",
            "apiVersion: v1\nkind: Pod\nmetadata:\n  name: '{{ .Release.Name }}-test'\n  annotations: {helm.sh/hook: test}\n",
        ),
        (
            "templates/hook.yaml",
            "apiVersion: batch/v1\nkind: Job\nmetadata:\n  name: '{{ .Release.Name }}-pre'\n  annotations: {helm.sh/hook: pre-install}\n",
        ),
        (
            "crds/w.yaml",
            "apiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\nmetadata: {name: widgets.x.io}\n",
        ),
        ("crds/README.md", "not a manifest\n"),
    ];

    /// The test chart at `home` of folder `app`, with `kustomization` and `more` files there.
    fn build(home: &str, kustomization: &str, more: &[(&str, &str)]) -> Result<Vec<Value>, Error> {
        let mut s = Snapshot::new();
        for (path, text) in CHART {
            s.insert_file(format!("app/{home}/{path}"), *text);
        }
        s.insert_file("app/kustomization.yaml", kustomization);
        for (path, text) in more {
            s.insert_file(format!("app/{path}"), *text);
        }
        crate::kustomize::build(&s, "app")
    }

    fn ok(kustomization: &str) -> Vec<Value> {
        build("charts/web", kustomization, &[]).unwrap_or_else(|e| panic!("{e}"))
    }

    fn ids(objects: &[Value]) -> Vec<String> {
        objects
            .iter()
            .map(|o| format!("{} {}", o["kind"].as_str().unwrap(), o["metadata"]["name"].as_str().unwrap()))
            .collect()
    }

    fn cm(objects: &[Value]) -> &Value {
        objects.iter().find(|o| o["kind"] == "ConfigMap").expect("a ConfigMap")
    }

    #[test]
    fn objects_come_in_helm_template_s_order_with_crds_hooks_and_tests_as_asked() {
        let fifo = "sortOptions: {order: fifo}\n";
        let got = ok(&format!("{fifo}helmCharts:\n- name: web\n"));
        assert_eq!(
            ids(&got),
            ["ConfigMap release-name-cfg", "Deployment release-name", "Pod release-name-test", "Job release-name-pre"]
        );
        let got = ok(&format!("{fifo}helmCharts:\n- {{name: web, includeCRDs: true, skipTests: true}}\n"));
        assert_eq!(
            ids(&got),
            [
                "CustomResourceDefinition widgets.x.io",
                "ConfigMap release-name-cfg",
                "Deployment release-name",
                "Job release-name-pre"
            ]
        );
        let got = ok(&format!("{fifo}helmCharts:\n- {{name: web, skipHooks: true}}\n"));
        assert_eq!(ids(&got), ["ConfigMap release-name-cfg", "Deployment release-name"]);
        // Without sortOptions, kustomize's own order.
        let got = ok("helmCharts:\n- {name: web, releaseName: r, skipTests: true}\n");
        assert_eq!(ids(&got), ["ConfigMap r-cfg", "Deployment r", "Job r-pre"]);
    }

    #[test]
    fn the_kustomization_s_transformers_apply_and_helm_keeps_its_own_namespace() {
        let got = ok("namespace: prod\nnamePrefix: p-\nhelmCharts:\n- {name: web, releaseName: r, skipHooks: true}\n");
        assert_eq!(ids(&got), ["ConfigMap p-r-cfg", "Deployment p-r"]);
        let map = cm(&got);
        assert_eq!(map["metadata"]["namespace"], "prod");
        // kustomize does not pass its namespace to helm: `.Release.Namespace` is helm's default.
        assert_eq!(map["metadata"]["labels"]["ns"], "default");
        let got = ok("helmCharts:\n- {name: web, namespace: team, skipHooks: true}\n");
        assert_eq!(cm(&got)["metadata"]["labels"]["ns"], "team");
    }

    #[test]
    fn values_merge_as_kustomize_says() {
        let data = |k: &str| cm(&ok(k))["data"].clone();
        let inline = "  valuesInline: {image: {tag: '2.0'}, extra: null}\n";
        // `override`: the inline values over the file's, a null clearing the file's field (the
        // chart's default then stays).
        let d = data(&format!("helmCharts:\n- name: web\n{inline}"));
        assert_eq!((d["image"].as_str(), d["extra"].as_str()), (Some("nginx:2.0"), Some("keep")));
        let d = data(&format!("helmCharts:\n- name: web\n  valuesMerge: merge\n{inline}"));
        assert_eq!((d["image"].as_str(), d["extra"].as_str()), (Some("nginx:1.0"), Some("keep")));
        // `replace`: the inline values instead of the file's; the chart's defaults stay under.
        let d = data(&format!("helmCharts:\n- name: web\n  valuesMerge: replace\n{inline}"));
        assert_eq!((d["image"].as_str(), d["extra"].as_str()), (Some("nginx:2.0"), Some("")));
        let got = build(
            "charts/web",
            "helmCharts:\n- {name: web, valuesFile: mine.yaml, additionalValuesFiles: [more.yaml]}\n",
            &[("mine.yaml", "replicas: 5\nimage: {tag: '3.0'}\n"), ("more.yaml", "replicas: 7\n")],
        )
        .unwrap();
        let d = &cm(&got)["data"];
        assert_eq!((d["image"].as_str(), d["replicas"].as_str()), (Some("nginx:3.0"), Some("7")));
    }

    #[test]
    fn capabilities_release_names_and_chart_homes() {
        let d = cm(&ok("helmCharts:\n- {name: web, kubeVersion: '1.30', apiVersions: [x.io/v1]}\n"))["data"].clone();
        assert_eq!((d["kube"].as_str(), d["api"].as_str()), (Some("v1.30.0"), Some("true")));
        let d = cm(&ok("helmCharts:\n- {name: web}\n"))["data"].clone();
        assert_eq!((d["kube"].as_str(), d["api"].as_str()), (Some(helm::DEFAULT_KUBE_VERSION), Some("false")));
        let got =
            ok("helmCharts:\n- {name: web, nameTemplate: '{{ printf \"%s-%s\" \"x\" \"y\" }}', skipHooks: true}\n");
        assert_eq!(ids(&got), ["ConfigMap x-y-cfg", "Deployment x-y"]);
        let got = build(
            "vendor/web",
            "helmGlobals: {chartHome: vendor, configHome: /tmp/helm}\nhelmCharts:\n- {name: web, skipHooks: true}\n",
            &[],
        )
        .unwrap();
        assert_eq!(ids(&got), ["ConfigMap release-name-cfg", "Deployment release-name"]);
        // Where `kustomize build --enable-helm` pulls a chart with repo and version, or a chart
        // of that version vendored as `<chartHome>/<name>`.
        let entry = "helmCharts:\n- {name: web, repo: 'https://charts.example.com', version: 1.2.3, skipHooks: true}\n";
        assert_eq!(build("charts/web-1.2.3/web", entry, &[]).unwrap().len(), 2);
        assert_eq!(build("charts/web", entry, &[]).unwrap().len(), 2);
    }

    #[test]
    fn a_generators_entry_inflates_as_helm_charts_do() {
        let got = build(
            "vendor/web",
            "generators: [gen.yaml]\n",
            &[(
                "gen.yaml",
                "apiVersion: builtin\nkind: HelmChartInflationGenerator\nmetadata: {name: g}\nname: web\nchartHome: vendor\nreleaseName: g\nskipHooks: true\n",
            )],
        )
        .unwrap();
        assert_eq!(ids(&got), ["ConfigMap g-cfg", "Deployment g"]);
    }

    #[test]
    fn what_would_fetch_or_cannot_be_found_is_refused_naming_file_and_field() {
        let err = |home: &str, k: &str| build(home, k, &[]).unwrap_err().to_string();
        assert_eq!(
            err("charts/other", "helmCharts:\n- {name: web, repo: 'https://charts.example.com', version: 2.0.0}\n"),
            "app/kustomization.yaml: field helmCharts[0].repo: pulling the chart \"web\" from https://charts.example.com (no chart at charts/web-2.0.0/web or charts/web; a render fetches nothing: vendor the chart there, e.g. with `helm pull --untar`) is not supported by flotilla's renderer; render it before committing, or use a supported field"
        );
        assert_eq!(
            err("charts/other", "helmCharts:\n- {name: web}\n"),
            "app/kustomization.yaml: field helmCharts[0].name: no repo specified for pull, no chart found at \"charts/web\""
        );
        assert_eq!(
            err("charts/web", "helmCharts:\n- {name: web, version: 9.9.9}\n"),
            "app/kustomization.yaml: field helmCharts[0].version: the chart at app/charts/web is version \"1.2.3\", not \"9.9.9\""
        );
        assert_eq!(
            err("charts/web", "helmCharts:\n- {name: web, valuesMerge: deep}\n"),
            "app/kustomization.yaml: field helmCharts[0].valuesMerge: valuesMerge must be one of [merge override replace]"
        );
        assert_eq!(
            err("charts/web", "helmCharts:\n- {name: web, releaseName: a, nameTemplate: b}\n"),
            "app/kustomization.yaml: field helmCharts[0].nameTemplate: cannot set --name-template and also specify a name (releaseName)"
        );
        assert!(
            err("charts/web", "helmChartInflationGenerator:\n- {chartName: web}\n")
                .starts_with("app/kustomization.yaml: field helmChartInflationGenerator: helmChartInflationGenerator")
        );
        let e = err("charts/web", "helmCharts:\n- {name: web, valuesFile: 'https://example.com/v.yaml'}\n");
        assert!(e.contains("field helmCharts[0].valuesFile") && e.contains("remote"), "{e}");
        // An object of the chart's with an id the kustomization has already.
        let e = build(
            "charts/web",
            "resources: [cm.yaml]\nhelmCharts:\n- {name: web}\n",
            &[("cm.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: release-name-cfg}\n")],
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("already registered id"), "{e}");
    }
}
