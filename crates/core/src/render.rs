//! What one placement renders for one cluster: the source rendered as kustomize would (or, with
//! `source.helm`, as Helm renders the chart there: [`crate::helm`]), then the placement's
//! namespace default, its per-cluster `customizations`, and `${cluster.*}` substitution, named
//! by a digest. Pure: the sources are snapshots the caller fetched.
//!
//! A chart reads more of the cluster than a kustomization: its values are substituted before
//! it renders (so the objects are not substituted after), and `.Capabilities` is the cluster's
//! Kubernetes version and API versions ([`Options`]). [`RenderKey`] carries all of it
//! ([`ChartKey`]).
//!
//! A chart's random functions (`randAlphaNum`, `genCA`, …) draw from two seeds. The digest is
//! over a render whose seed anyone can compute from the placement (so the hub, which has no
//! secret of the cluster's, names the same digest as the agent); the objects a cluster applies
//! are, when the chart drew random values and the caller gives a [`Secret`] of the cluster's
//! ([`Options::secret`], the agent's `stateDir/render-secret`), rendered again from that
//! secret: the same values on every render of that cluster, and values nobody without the
//! secret can predict.
//!
//! Substitution is also a step of its own ([`substitute`], with [`variables`] and [`resolve`]),
//! so that the hub and the simulator render a placement once for many clusters and substitute
//! per cluster, with the very code the agent's [`render`] runs: the one render memo is
//! [`RenderKey`] (what of a cluster a render reads), [`prepare`] (the render for a key) and
//! [`Prepared::digest_for`] (the digest for one cluster of the key).

use std::collections::BTreeSet;
use std::sync::Arc;

use serde_json::{Map, Value};
use sha2::{Digest as _, Sha256};

use crate::digest::Digest;
use crate::fleet::{ClusterIdentity, Helm, Placement};
use crate::helm;
use crate::kustomize;
use crate::kustomize::resource::Gvk;
use crate::snapshot::Snapshot;

/// The objects a placement renders for a cluster, in apply order, and their digest.
#[derive(Debug, Clone, PartialEq)]
pub struct Rendered {
    pub placement: String,
    pub objects: Vec<Value>,
    /// The digest of `objects`, or, where a chart drew random values from the cluster's
    /// [`Secret`], of the objects it renders from the public seed (see the module's doc).
    pub digest: Digest,
}

/// A cluster's own secret, which a chart's random values are drawn from on that cluster (see
/// the module's doc). Its bytes are not shown by `Debug`.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(Arc<[u8]>);

impl Secret {
    pub fn new(bytes: impl Into<Arc<[u8]>>) -> Secret {
        Secret(bytes.into())
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(…)")
    }
}

/// Why a placement could not be rendered for a cluster.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    #[error("placement {placement}: source {repository}:{path}: {source}")]
    Source { placement: String, repository: String, path: String, source: Box<kustomize::Error> },
    /// A chart that could not be rendered; `message` is Helm's where Helm has one.
    /// `at` is the chart's `REPOSITORY:PATH`.
    #[error("placement {placement} ({file}): field {field}: {at}: {message}")]
    Chart { placement: String, file: String, field: String, at: String, message: String },
    #[error("placement {placement} ({file}): field {field}: {message}")]
    Customization { placement: String, file: String, field: String, message: String },
    #[error("placement {placement} ({file}): field spec.substitute: {object}: {message}")]
    Substitution { placement: String, file: String, object: String, message: String },
}

/// How a render is done: the knobs that have defaults.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Options {
    /// What one render may build and read before it is refused (the agent's `render:` in
    /// agent.yaml; the hub keeps the defaults, as agents do unless told otherwise).
    pub budget: kustomize::Budget,
    /// The cluster's Kubernetes version as a chart's `.Capabilities.KubeVersion` reads it
    /// (`v1.31.2`); `None`: Helm's default ([`helm::DEFAULT_KUBE_VERSION`]).
    pub kube_version: Option<String>,
    /// The cluster's API versions (`apps/v1`, `monitoring.coreos.com/v1`) as a chart's
    /// `.Capabilities.APIVersions` reads them; empty: Helm's defaults
    /// ([`helm::DEFAULT_API_VERSIONS`]).
    pub api_versions: Vec<String>,
    /// The cluster's secret, which a chart's random values are drawn from; `None` (the hub,
    /// a render on a workstation): from the public seed the digest is computed with.
    pub secret: Option<Secret>,
}

impl Options {
    /// The defaults, as the hub renders and an agent does unless its agent.yaml says otherwise.
    pub const DEFAULT: Options =
        Options { budget: kustomize::Budget::DEFAULT, kube_version: None, api_versions: Vec::new(), secret: None };

    /// What of these options a chart reads of the cluster, as a digest: `None` for Helm's
    /// defaults (the usual case, and cheap to key on).
    pub fn capabilities(&self) -> Option<Digest> {
        if self.kube_version.is_none() && self.api_versions.is_empty() {
            return None;
        }
        Some(Digest::of_objects(&[serde_json::json!({
            "kubeVersion": self.kube_version,
            "apiVersions": self.api_versions,
        })]))
    }
}

impl Default for Options {
    fn default() -> Self {
        Options::DEFAULT
    }
}

impl Options {
    /// These options for a cluster whose API server is `kubernetes` (what its agent reports):
    /// its version and API versions are what a chart's `.Capabilities` reads.
    #[must_use]
    pub fn for_kubernetes(&self, kubernetes: &crate::report::Kubernetes) -> Options {
        Options {
            kube_version: Some(kubernetes.version.clone()),
            api_versions: kubernetes.api_versions.clone(),
            ..self.clone()
        }
    }
}

/// Renders `placement` from `source` (the snapshot of its source repository at the commit to
/// apply; for a chart from a Helm repository, the chart's files, [`crate::helm::repo::unpack`])
/// for the cluster `identity`, with the default [`Options`].
pub fn render(placement: &Placement, source: &Snapshot, identity: &ClusterIdentity) -> Result<Rendered, Error> {
    render_with(placement, source, identity, &Options::default())
}

/// [`render`] with `options`.
pub fn render_with(
    placement: &Placement,
    source: &Snapshot,
    identity: &ClusterIdentity,
    options: &Options,
) -> Result<Rendered, Error> {
    let spec = &placement.spec;
    let (objects, own) = if let Some(helm) = &spec.source.helm {
        chart_objects(placement, helm, source, identity, options)?
    } else {
        // A folder with both a chart and a kustomization renders as the kustomization, as
        // `kubectl kustomize` would (its `helmCharts` may inflate charts of its own).
        let kustomization = kustomize::KUSTOMIZATION_FILES
            .iter()
            .any(|f| crate::snapshot::join(&spec.source.path, f).is_ok_and(|p| source.is_file(&p)));
        if is_chart(source, &spec.source.path) && !kustomization {
            return Err(chart_error(
                    placement,
                    "spec.source.helm",
                    "the folder holds a Chart.yaml: set spec.source.helm (`helm: {}` for the chart's own values) to render it as a Helm chart".into(),
                ));
        }
        let objects = kustomize::build_with(source, &spec.source.path, &options.budget).map_err(|e| Error::Source {
            placement: placement.name().to_string(),
            repository: spec.source.repository().unwrap_or_default().to_string(),
            path: spec.source.path.clone(),
            source: Box::new(e),
        })?;
        (objects, None)
    };
    let objects = customize(placement, identity, objects)?;
    let digest = Digest::of_objects(&objects);
    let objects = match own {
        Some(own) => customize(placement, identity, own)?,
        None => objects,
    };
    Ok(Rendered { placement: placement.name().to_string(), objects, digest })
}

/// What a placement does to its source's objects for `identity`: the namespace default, the
/// customizations' patches, and `${cluster.*}` substitution (of a kustomization's objects: a
/// chart's values were substituted before it rendered).
fn customize(placement: &Placement, identity: &ClusterIdentity, mut objects: Vec<Value>) -> Result<Vec<Value>, Error> {
    let spec = &placement.spec;
    if let Some(ns) = &spec.namespace {
        for o in &mut objects {
            default_namespace(o, ns);
        }
    }
    for (c, customization) in spec.customizations.iter().enumerate() {
        if !customization.clusters.matches(&identity.labels) {
            continue;
        }
        for (p, patch) in customization.patches.iter().enumerate() {
            let field = format!("spec.customizations[{c}].patches[{p}]");
            let fail = |message: String| Error::Customization {
                placement: placement.name().to_string(),
                file: placement.file.clone(),
                field: field.clone(),
                message,
            };
            let changed =
                kustomize::apply_inline_patch(&mut objects, &patch.patch, patch.target.as_ref()).map_err(fail)?;
            if changed == 0 {
                return Err(fail("the patch matches no rendered object".into()));
            }
        }
    }
    // A chart's values were substituted before it rendered; its objects are as it made them.
    if spec.substitute && spec.source.helm.is_none() {
        substitute(placement, &mut objects, identity)?;
    }
    Ok(objects)
}

/// Whether folder `path` of `source` is a Helm chart (holds a `Chart.yaml`).
pub fn is_chart(source: &Snapshot, path: &str) -> bool {
    crate::snapshot::join(path, "Chart.yaml").is_ok_and(|p| source.is_file(&p))
}

fn chart_error(placement: &Placement, field: &str, message: String) -> Error {
    Error::Chart {
        placement: placement.name().to_string(),
        file: placement.file.clone(),
        field: field.to_string(),
        at: placement.spec.source.location(),
        message,
    }
}

/// The values a placement's chart renders with for `identity`: its `valuesFiles` in order,
/// then its `values` with the values of the customizations that select the cluster merged over
/// them in order (Helm's rules: maps merge, a `null` deletes the chart's default), the latter
/// substituted when the placement says `substitute`. The files are taken as written: they are
/// the source's, and what a render reads of a cluster must be known without the source
/// ([`RenderKey`]).
pub fn chart_values(
    placement: &Placement,
    helm: &Helm,
    source: &Snapshot,
    identity: &ClusterIdentity,
) -> Result<Map<String, Value>, Error> {
    let mut values = Map::new();
    for (i, file) in helm.values_files.iter().enumerate() {
        let field = format!("spec.source.helm.valuesFiles[{i}]");
        let bytes = source.read(file).map_err(|e| chart_error(placement, &field, format!("{file}: {}", e.reason())))?;
        match crate::yaml::load_helm_values(bytes) {
            Ok(Value::Object(map)) => helm::values::merge(&mut values, map),
            Ok(Value::Null) => {}
            Ok(_) => return Err(chart_error(placement, &field, format!("{file}: values must be a mapping"))),
            Err(e) => return Err(chart_error(placement, &field, format!("{file}: {e}"))),
        }
    }
    let fleet_values = fleet_values(placement, helm, identity);
    let mut fleet_values = Value::Object(fleet_values);
    if placement.spec.substitute {
        substitute_value(&mut fleet_values, identity).map_err(|message| Error::Substitution {
            placement: placement.name().to_string(),
            file: placement.file.clone(),
            object: "the chart's values".into(),
            message,
        })?;
    }
    if let Value::Object(map) = fleet_values {
        helm::values::merge(&mut values, map);
    }
    Ok(values)
}

/// The placement's `helm.values` with the matching customizations' values merged over them.
fn fleet_values(placement: &Placement, helm: &Helm, identity: &ClusterIdentity) -> Map<String, Value> {
    let mut values = helm.values.clone();
    for c in &placement.spec.customizations {
        if c.clusters.matches(&identity.labels) {
            helm::values::merge(&mut values, c.values.clone());
        }
    }
    values
}

/// What a chart's random functions draw from for one placement: from the public seed (the
/// placement's name: the render the digest is over) or from the cluster's `secret`.
fn random_seed(placement: &Placement, secret: Option<&Secret>) -> Vec<u8> {
    let mut hash = Sha256::new();
    match secret {
        None => hash.update(b"flotilla helm public seed\0"),
        Some(Secret(secret)) => {
            hash.update(b"flotilla helm secret seed\0");
            hash.update(secret);
            hash.update(b"\0");
        }
    }
    hash.update(placement.name().as_bytes());
    hash.finalize().to_vec()
}

/// A placement's chart rendered for `identity`: the objects in apply order (CRDs, pre-install
/// hooks, the release, post-install hooks; see [`helm::manifests::Manifests::in_apply_order`])
/// from the public seed, and, when the chart drew random values and `options` has the cluster's
/// secret, the objects rendered from that secret.
fn chart_objects(
    placement: &Placement,
    helm: &Helm,
    source: &Snapshot,
    identity: &ClusterIdentity,
    options: &Options,
) -> Result<(Vec<Value>, Option<Vec<Value>>), Error> {
    let packed = placement.spec.source.chart.is_some();
    // A chart from a Helm repository is the whole snapshot (its archive's files).
    let path = if packed { "" } else { placement.spec.source.path.as_str() };
    if !is_chart(source, path) {
        let message = if packed {
            "the archive has no Chart.yaml: not a Helm chart".to_string()
        } else {
            format!("no Chart.yaml in {path}: not a Helm chart")
        };
        let field = if packed { "spec.source.chart" } else { "spec.source.helm" };
        return Err(chart_error(placement, field, message));
    }
    let values = chart_values(placement, helm, source, identity)?;
    let mut helm_options = helm::Options {
        release_name: helm.release_name(placement.name()).to_string(),
        namespace: placement.spec.namespace.as_deref().unwrap_or("default").to_string(),
        values,
        kube_version: options.kube_version.clone().unwrap_or_else(|| helm::DEFAULT_KUBE_VERSION.to_string()),
        api_versions: options.api_versions.clone(),
        random_seed: random_seed(placement, None),
        // FIXME: `now` is the Unix epoch: a chart that prints the time would otherwise render a
        // new digest on every poll. A commit's time would do, once the render is given one.
        now_unix: 0,
    };
    let field = if packed { "spec.source.chart" } else { "spec.source.path" };
    let fail = |message: String| chart_error(placement, field, message);
    let objects = |helm_options: &helm::Options| {
        let rendered =
            if packed { helm::render_packed(source, helm_options) } else { helm::render(source, path, helm_options) }
                .map_err(|e| fail(e.to_string()))?;
        let objects = helm::manifests::manifests(&rendered).map_err(|e| fail(e.to_string()))?.in_apply_order();
        if objects.len() > options.budget.max_objects {
            return Err(fail(format!(
                "the chart renders {} objects, over the budget of {} (render.maxObjects)",
                objects.len(),
                options.budget.max_objects
            )));
        }
        Ok((objects, rendered.random))
    };
    let (public, random) = objects(&helm_options)?;
    let own = match &options.secret {
        Some(secret) if random => {
            helm_options.random_seed = random_seed(placement, Some(secret));
            Some(objects(&helm_options)?.0)
        }
        _ => None,
    };
    Ok((public, own))
}

/// What a placement's render reads of a cluster, besides the `${cluster.*}` values it
/// substitutes: the placement as one fleet commit declares it, the source commit, which of
/// its customizations select the cluster, and for a chart what else it reads ([`ChartKey`]).
/// Clusters with equal keys render the same objects before substitution; selector labels that
/// pick the placement do not change the render. `C` is however the caller names commits.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RenderKey<C> {
    pub fleet: C,
    pub placement: String,
    pub source: C,
    pub customizations: Vec<bool>,
    /// Set for a placement with `source.helm`.
    pub chart: Option<ChartKey>,
}

/// What a chart's render reads of a cluster besides its customizations.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ChartKey {
    /// With `substitute`, the value of each `${cluster.*}` in the fleet's values (the
    /// placement's and the matching customizations'), in name order; `None` where the cluster
    /// has none (the render fails).
    pub values: Vec<Option<String>>,
    /// [`Options::capabilities`]: the Kubernetes version and API versions `.Capabilities` reads.
    pub capabilities: Option<Digest>,
}

impl<C> RenderKey<C> {
    /// The key `placement` of the fleet at `fleet`, rendered from `source` with `options`, has
    /// for `identity`.
    pub fn new(
        fleet: C,
        placement: &Placement,
        source: C,
        identity: &ClusterIdentity,
        options: &Options,
    ) -> RenderKey<C> {
        let chart = placement.spec.source.helm.as_ref().map(|helm| ChartKey {
            values: if placement.spec.substitute {
                let values = [Value::Object(fleet_values(placement, helm, identity))];
                variables(&values).iter().map(|name| resolve(name, identity)).collect()
            } else {
                Vec::new()
            },
            capabilities: options.capabilities(),
        });
        RenderKey {
            fleet,
            placement: placement.name().to_string(),
            source,
            customizations: placement.spec.customizations_for(&identity.labels),
            chart,
        }
    }
}

/// The render of a [`RenderKey`], the same for every cluster of the key.
#[derive(Debug, Clone, PartialEq)]
pub enum Prepared {
    /// Nothing of the cluster is substituted: every cluster of the key gets this digest.
    Digest(Digest),
    /// The objects before substitution, and the `${cluster.*}` variables whose values
    /// ([`Prepared::values`]) complete the key.
    Substitutes { objects: Arc<Vec<Value>>, variables: Vec<String> },
}

/// What completes a [`RenderKey`] for one cluster: the value of each variable a render
/// substitutes, in [`Prepared::Substitutes`]' order; `Err` holds the cluster's name where it has
/// no value (the failure names the cluster, so it is that cluster's own).
pub type Values = Vec<Result<String, String>>;

/// Renders `placement` for the key of `identity` (see [`RenderKey`]): what [`render_with`]
/// gives, but stopped before substitution when the objects read something of the cluster.
pub fn prepare(
    placement: &Placement,
    source: &Snapshot,
    identity: &ClusterIdentity,
    options: &Options,
) -> Result<Prepared, Error> {
    prepare_inspecting(placement, source, identity, options, |_| {})
}

/// [`prepare`], showing `inspect` the rendered objects before substitution (the simulator
/// picks the object a problem is reported against from them).
pub fn prepare_inspecting(
    placement: &Placement,
    source: &Snapshot,
    identity: &ClusterIdentity,
    options: &Options,
    inspect: impl FnOnce(&[Value]),
) -> Result<Prepared, Error> {
    // A chart substitutes its values before it renders: its key holds what that reads.
    if !placement.spec.substitute || placement.spec.source.helm.is_some() {
        let rendered = render_with(placement, source, identity, options)?;
        inspect(&rendered.objects);
        return Ok(Prepared::Digest(rendered.digest));
    }
    // Substitution comes last in a render: render without it, and see what it would read.
    let mut plain = placement.clone();
    plain.spec.substitute = false;
    let mut objects = render_with(&plain, source, identity, options)?.objects;
    inspect(&objects);
    let variables = variables(&objects);
    if variables.is_empty() {
        // It reads nothing of the cluster: it substitutes (escapes at most) alike for all.
        substitute(placement, &mut objects, identity)?;
        return Ok(Prepared::Digest(Digest::of_objects(&objects)));
    }
    Ok(Prepared::Substitutes { objects: Arc::new(objects), variables: variables.into_iter().collect() })
}

impl Prepared {
    /// The values that complete the key for `identity` (none for a [`Prepared::Digest`]).
    pub fn values(&self, identity: &ClusterIdentity) -> Values {
        match self {
            Prepared::Digest(_) => Vec::new(),
            Prepared::Substitutes { variables, .. } => {
                variables.iter().map(|v| resolve(v, identity).ok_or_else(|| identity.name.to_string())).collect()
            }
        }
    }

    /// The digest `placement` renders for `identity`, one cluster of the key this was prepared
    /// for: what [`render_with`] gives it.
    pub fn digest_for(&self, placement: &Placement, identity: &ClusterIdentity) -> Result<Digest, Error> {
        match self {
            Prepared::Digest(digest) => Ok(digest.clone()),
            Prepared::Substitutes { objects, .. } => {
                let mut objects = objects.as_ref().clone();
                substitute(placement, &mut objects, identity)?;
                Ok(Digest::of_objects(&objects))
            }
        }
    }
}

fn object_id(o: &Value) -> String {
    let kind = o.get("kind").and_then(Value::as_str).unwrap_or_default();
    let name = o.pointer("/metadata/name").and_then(Value::as_str).unwrap_or_default();
    match o.pointer("/metadata/namespace").and_then(Value::as_str) {
        Some(ns) => format!("{kind} {ns}/{name}"),
        None => format!("{kind} {name}"),
    }
}

fn default_namespace(o: &mut Value, ns: &str) {
    if Gvk::of(o).is_cluster_scoped() || o.pointer("/metadata/namespace").is_some() {
        return;
    }
    if let Some(md) = o.get_mut("metadata").and_then(Value::as_object_mut) {
        md.insert("namespace".into(), Value::String(ns.to_string()));
    }
}

/// What a cluster takes from the fleet repository at one commit, as a digest: its identity as
/// the fleet declares it, the placements and policies that select it and the repositories they
/// name (their specs, whole), and what each placement of the fleet repository itself renders
/// for it. Two fleet commits with the same view change nothing the cluster renders or
/// evaluates, so a fleet rollout lets the cluster take the newer one at once (SPEC §2).
pub fn fleet_view(
    fleet: &crate::fleet::Fleet,
    snapshot: &Snapshot,
    identity: &ClusterIdentity,
    options: &Options,
) -> Digest {
    use crate::fleet::FLEET_REPOSITORY;
    fn spec<T: serde::Serialize>(spec: &T) -> Value {
        serde_json::to_value(spec).expect("a fleet spec serializes")
    }
    let selection = fleet.select(identity);
    let named = |name: &str, spec: Value| serde_json::json!({"name": name, "spec": spec});
    let placements: Vec<Value> = selection.placements.iter().map(|p| named(p.name(), spec(&p.spec))).collect();
    let policies: Vec<Value> = selection.policies.iter().map(|p| named(p.name(), spec(&p.spec))).collect();
    let repositories: Vec<Value> = selection
        .placements
        .iter()
        .filter_map(|p| p.spec.source.repository().and_then(|r| fleet.repository(r)))
        .map(|r| named(r.name(), spec(&r.spec)))
        .collect();
    let renders: Vec<Value> = selection
        .placements
        .iter()
        .filter(|p| p.spec.source.repository() == Some(FLEET_REPOSITORY))
        .map(|p| {
            let rendered = render_with(p, snapshot, &selection.identity, options)
                .map_or_else(|e| format!("error: {e}"), |r| r.digest.to_string());
            named(p.name(), Value::String(rendered))
        })
        .collect();
    let view = serde_json::json!({
        "environment": selection.identity.environment,
        "labels": selection.identity.labels,
        "placements": placements,
        "policies": policies,
        "repositories": repositories,
        "renders": renders,
    });
    Digest::of_objects(&[view])
}

/// Replaces `${cluster.name}`, `${cluster.environment}` and `${cluster.labels.KEY}` with the
/// values of `identity` in every string of `objects` (keys included); `$${…}` stands for a
/// literal `${…}`. Other `${…}` are left alone, so configuration that a program expands at run
/// time (`${NODE_NAME}`) passes through. A `${cluster.*}` the cluster has no value for is an
/// error, and leaves `objects` partly substituted.
///
/// This is the last step of [`render`] when the placement's `spec.substitute` is set: objects
/// `placement` rendered with it unset, for a cluster with the same matching customizations,
/// substituted for `identity`, are what [`render`] gives for `identity`.
pub fn substitute(placement: &Placement, objects: &mut [Value], identity: &ClusterIdentity) -> Result<(), Error> {
    for o in objects {
        let id = object_id(o);
        substitute_value(o, identity).map_err(|message| Error::Substitution {
            placement: placement.name().to_string(),
            file: placement.file.clone(),
            object: id,
            message,
        })?;
    }
    Ok(())
}

/// The `${cluster.*}` names (`cluster.name`, `cluster.labels.region`) that [`substitute`]
/// resolves in the strings of `objects`, keys included: all it reads of a cluster. An escaped
/// `$${…}` is none, and neither is a `${…}` outside `cluster.*`. Objects with none substitute
/// the same for every cluster.
pub fn variables(objects: &[Value]) -> BTreeSet<String> {
    fn scan(s: &str, names: &mut BTreeSet<String>) {
        for piece in pieces(s) {
            if let Piece::Variable { name, .. } = piece
                && name.starts_with("cluster.")
            {
                names.insert(name.to_string());
            }
        }
    }
    fn collect(value: &Value, names: &mut BTreeSet<String>) {
        match value {
            Value::String(s) => scan(s, names),
            Value::Array(items) => items.iter().for_each(|v| collect(v, names)),
            Value::Object(map) => {
                for (k, v) in map {
                    scan(k, names);
                    collect(v, names);
                }
            }
            _ => {}
        }
    }
    let mut names = BTreeSet::new();
    for o in objects {
        collect(o, &mut names);
    }
    names
}

/// The value [`substitute`] puts for variable `name` (`cluster.name`,
/// `cluster.labels.region`) for `identity`; `None` for a name it does not know or a label the
/// cluster does not have.
pub fn resolve(name: &str, identity: &ClusterIdentity) -> Option<String> {
    match name {
        "cluster.name" => Some(identity.name.to_string()),
        "cluster.environment" => Some(identity.environment.clone()),
        _ => name.strip_prefix("cluster.labels.").and_then(|k| identity.labels.get(k).cloned()),
    }
}

fn substitute_value(value: &mut Value, identity: &ClusterIdentity) -> Result<(), String> {
    match value {
        Value::String(s) if s.contains("${") => *s = substitute_str(s, identity)?,
        Value::Array(items) => {
            for item in items {
                substitute_value(item, identity)?;
            }
        }
        Value::Object(map) => {
            let entries = std::mem::take(map);
            for (k, mut v) in entries {
                substitute_value(&mut v, identity)?;
                let k = if k.contains("${") { substitute_str(&k, identity)? } else { k };
                map.insert(k, v);
            }
        }
        _ => {}
    }
    Ok(())
}

fn substitute_str(s: &str, identity: &ClusterIdentity) -> Result<String, String> {
    let mut out = String::with_capacity(s.len());
    for piece in pieces(s) {
        match piece {
            Piece::Text(text) => out.push_str(text),
            Piece::Variable { name, whole } => match resolve(name, identity) {
                Some(v) => out.push_str(&v),
                None if name.starts_with("cluster.") => {
                    return Err(format!("${{{name}}} is not defined for cluster {}", identity.name));
                }
                None => out.push_str(whole),
            },
        }
    }
    Ok(out)
}

/// A piece of a string as substitution reads it.
#[derive(Debug, PartialEq)]
enum Piece<'a> {
    /// Kept as it is: plain text, the `${…}` of an escaped `$${…}`, or an unclosed `${`.
    Text(&'a str),
    /// `${name}`, whole.
    Variable { name: &'a str, whole: &'a str },
}

/// `s` cut into text and variables, the one reading of `${…}` that [`substitute`] and
/// [`variables`] share.
fn pieces(s: &str) -> Vec<Piece<'_>> {
    let mut pieces = Vec::new();
    let mut rest = s;
    while let Some(i) = rest.find("${") {
        let Some(end) = rest[i..].find('}').map(|e| i + e) else {
            break;
        };
        let whole = &rest[i..=end];
        if let Some(before) = rest[..i].strip_suffix('$') {
            pieces.push(Piece::Text(before));
            pieces.push(Piece::Text(whole));
        } else {
            pieces.push(Piece::Text(&rest[..i]));
            pieces.push(Piece::Variable { name: &rest[i + 2..end], whole });
        }
        rest = &rest[end + 1..];
    }
    pieces.push(Piece::Text(rest));
    pieces
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fleet::Fleet;
    use crate::selector::parse_labels;

    fn identity() -> ClusterIdentity {
        ClusterIdentity {
            name: "store-0042".parse().unwrap(),
            environment: "prod".into(),
            labels: parse_labels("kind=store,region=eu").unwrap(),
        }
    }

    #[test]
    fn substitution_is_the_last_step_of_a_render() {
        let (p, src) = placement(
            "  substitute: true\n  customizations:\n  - clusters: {matchLabels: {region: eu}}\n    patches:\n    - target: {kind: Deployment, name: web}\n      patch: |\n        - {op: add, path: /metadata/labels, value: {'${cluster.labels.region}': '$${cluster.name}'}}\n",
        );
        let mut plain = p.clone();
        plain.spec.substitute = false;
        let mut objects = render(&plain, &src, &identity()).unwrap().objects;
        assert_eq!(variables(&objects), BTreeSet::from(["cluster.labels.region".into(), "cluster.name".into()]));
        substitute(&p, &mut objects, &identity()).unwrap();
        let whole = render(&p, &src, &identity()).unwrap();
        assert_eq!(objects, whole.objects);
        assert_eq!(Digest::of_objects(&objects), whole.digest);
        assert_eq!(objects[0].pointer("/metadata/labels/eu"), Some(&Value::from("${cluster.name}")));
    }

    /// The one render memo: for every cluster, the render prepared for its key (by whichever
    /// cluster of the key came first) gives the digest a whole render gives it, and clusters with
    /// equal keys and values share the digest; a missing value is that cluster's own failure.
    #[test]
    fn a_prepared_render_gives_every_cluster_of_its_key_what_a_whole_render_gives() {
        let customized = "  customizations:\n  - clusters: {matchLabels: {region: eu}}\n    patches:\n    - target: {kind: Deployment, name: web}\n      patch: |\n        - {op: replace, path: /spec/replicas, value: 2}\n";
        let cluster = |name: &str, labels: &str| ClusterIdentity {
            name: name.parse().unwrap(),
            environment: "prod".into(),
            labels: parse_labels(labels).unwrap(),
        };
        let clusters = [
            cluster("store-1", "kind=store,region=eu"),
            cluster("store-2", "kind=store,region=eu,rack=a"),
            cluster("store-3", "kind=store,region=us"),
        ];
        for extra in ["", "  substitute: true\n", &format!("  substitute: true\n{customized}"), customized] {
            let (p, src) = placement(extra);
            let mut memo: std::collections::HashMap<RenderKey<u8>, Prepared> = std::collections::HashMap::new();
            for who in &clusters {
                let key = RenderKey::new(1, &p, 7, who, &Options::default());
                let prepared = memo.entry(key).or_insert_with(|| prepare(&p, &src, who, &Options::default()).unwrap());
                let whole = render(&p, &src, who).unwrap();
                assert_eq!(prepared.digest_for(&p, who).unwrap(), whole.digest, "{extra:?} for {}", who.name);
                assert_eq!(matches!(prepared, Prepared::Digest(_)), !p.spec.substitute, "{extra:?}");
            }
            let keys: BTreeSet<String> =
                clusters.iter().map(|c| format!("{:?}", RenderKey::new(1, &p, 7, c, &Options::default()))).collect();
            assert_eq!(keys.len(), if extra.contains("customizations") { 2 } else { 1 }, "{extra:?}");
        }
        // A variable the cluster has no value for: the completion names the cluster.
        let (p, src) = placement("  substitute: true\n");
        let mut src = src;
        src.insert_file(
            "app/c.yaml",
            "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\ndata: {rack: '${cluster.labels.rack}'}\n",
        );
        src.insert_file("app/kustomization.yaml", "resources: [d.yaml, c.yaml]\n");
        let prepared = prepare(&p, &src, &clusters[0], &Options::default()).unwrap();
        assert_eq!(prepared.values(&clusters[0]), vec![Err("store-1".to_string()), Ok("store-1".to_string())]);
        assert_eq!(prepared.values(&clusters[1]), vec![Ok("a".to_string()), Ok("store-2".to_string())]);
        assert!(prepared.digest_for(&p, &clusters[0]).unwrap_err().to_string().contains("store-1"));
        assert_eq!(prepared.digest_for(&p, &clusters[1]).unwrap(), render(&p, &src, &clusters[1]).unwrap().digest);
    }

    #[test]
    fn substitution_fails_on_an_undefined_cluster_variable_naming_the_object() {
        let (p, _) = placement("  substitute: true\n");
        let mut objects = vec![serde_json::json!({
            "apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", "namespace": "bt"},
            "data": {"rack": "${cluster.labels.rack}"},
        })];
        let err = substitute(&p, &mut objects, &identity()).unwrap_err().to_string();
        assert_eq!(
            err,
            "placement app (fleet/p.yaml): field spec.substitute: ConfigMap bt/c: \
             ${cluster.labels.rack} is not defined for cluster store-0042"
        );
    }

    #[test]
    fn variables_are_the_cluster_names_substitution_resolves() {
        let objects = [
            serde_json::json!({"a": ["${cluster.name}", "x ${cluster.labels.region} y"], "${cluster.environment}": 1}),
            serde_json::json!({"escaped": "$${cluster.labels.kind}", "other": "${HOME}", "open": "${cluster.labels.x"}),
        ];
        let want = ["cluster.environment", "cluster.labels.region", "cluster.name"];
        assert_eq!(variables(&objects), want.into_iter().map(String::from).collect());
        assert_eq!(variables(&objects[1..]), BTreeSet::new());
        let values: Vec<_> = want.iter().map(|name| resolve(name, &identity())).collect();
        assert_eq!(values, [Some("prod".into()), Some("eu".into()), Some("store-0042".into())]);
        assert_eq!(resolve("cluster.labels.rack", &identity()), None);
        assert_eq!(resolve("cluster.zone", &identity()), None);
    }

    #[test]
    fn substitution_replaces_cluster_variables_and_keeps_escapes() {
        let got = substitute_str(
            "a-${cluster.name}-${cluster.labels.region}-${cluster.environment} $${cluster.name} ${HOME}",
            &identity(),
        );
        assert_eq!(got.unwrap(), "a-store-0042-eu-prod ${cluster.name} ${HOME}");
        let err = substitute_str("${cluster.labels.nope}", &identity()).unwrap_err();
        assert!(err.contains("${cluster.labels.nope} is not defined for cluster store-0042"), "{err}");
    }

    fn placement(extra: &str) -> (Placement, Snapshot) {
        let mut fleet = Snapshot::new();
        fleet.insert_file(
            "fleet/p.yaml",
            format!("apiVersion: flotilla.dev/v1alpha1\nkind: Placement\nmetadata: {{name: app}}\nspec:\n  source: {{repository: src, path: app}}\n  clusters: {{}}\n  namespace: bt\n{extra}"),
        );
        let (f, errors) = Fleet::from_snapshot(&fleet);
        assert_eq!(errors, []);
        let mut src = Snapshot::new();
        src.insert_file("app/kustomization.yaml", "resources: [d.yaml]\n");
        src.insert_file(
            "app/d.yaml",
            "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web}\nspec:\n  replicas: 1\n  template:\n    spec:\n      containers:\n      - name: web\n        image: web:1\n        env:\n        - {name: STORE, value: '${cluster.name}'}\n",
        );
        (f.placements[0].clone(), src)
    }

    #[test]
    fn renders_with_namespace_customizations_and_substitution() {
        let (p, src) = placement(
            "  substitute: true\n  customizations:\n  - clusters: {matchLabels: {region: eu}}\n    patches:\n    - target: {kind: Deployment, name: web}\n      patch: |\n        - {op: replace, path: /spec/replicas, value: 2}\n  - clusters: {matchLabels: {region: us}}\n    patches:\n    - patch: |\n        {apiVersion: apps/v1, kind: Deployment, metadata: {name: web}, spec: {replicas: 9}}\n",
        );
        let r = render(&p, &src, &identity()).unwrap();
        assert_eq!(r.objects[0].pointer("/metadata/namespace"), Some(&Value::from("bt")));
        assert_eq!(r.objects[0].pointer("/spec/replicas"), Some(&Value::from(2)));
        assert_eq!(
            r.objects[0].pointer("/spec/template/spec/containers/0/env/0/value"),
            Some(&Value::from("store-0042"))
        );
        assert_eq!(r.digest, Digest::of_objects(&r.objects));
    }

    /// A chart folder in a placement with values, a values file, a customization's values and
    /// `${cluster.name}` in a value.
    fn chart_placement(extra: &str) -> (Placement, Snapshot) {
        let mut fleet = Snapshot::new();
        fleet.insert_file(
            "fleet/p.yaml",
            format!("apiVersion: flotilla.dev/v1alpha1\nkind: Placement\nmetadata: {{name: web}}\nspec:\n  source:\n    repository: src\n    path: charts/web\n    helm:\n      releaseName: shop\n      values: {{store: '${{cluster.name}}', replicas: 2, note: '$${{cluster.name}}'}}\n      valuesFiles: [charts/web/values-prod.yaml]\n  clusters: {{}}\n  namespace: bt\n  substitute: true\n  customizations:\n  - clusters: {{matchLabels: {{region: eu}}}}\n    values: {{replicas: 3, resources: {{limits: {{memory: null}}}}}}\n{extra}"),
        );
        let (f, errors) = Fleet::from_snapshot(&fleet);
        assert_eq!(errors, []);
        let mut src = Snapshot::new();
        src.insert_file("charts/web/Chart.yaml", "apiVersion: v2\nname: web\nversion: 0.1.0\n");
        src.insert_file(
            "charts/web/values.yaml",
            "replicas: 1\nimage: {repository: web, tag: '1'}\nstore: ''\nnote: ''\nresources:\n  limits: {cpu: 100m, memory: 64Mi}\n",
        );
        src.insert_file("charts/web/values-prod.yaml", "image:\n  tag: '2'\nreplicas: 9\n");
        src.insert_file(
            "charts/web/templates/_helpers.tpl",
            "{{ define \"web.name\" }}{{ .Release.Name }}-{{ .Chart.Name }}{{ end }}\n",
        );
        src.insert_file(
            "charts/web/templates/deployment.yaml",
            "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: {{ include \"web.name\" . }}\n  annotations: {note: {{ .Values.note | quote }}, namespace: {{ .Release.Namespace }}}\nspec:\n  replicas: {{ .Values.replicas }}\n  template:\n    spec:\n      containers:\n      - name: web\n        image: {{ .Values.image.repository }}:{{ .Values.image.tag }}\n        env:\n        - {name: STORE, value: {{ .Values.store | quote }}}\n        resources:\n          {{- toYaml .Values.resources | nindent 10 }}\n",
        );
        src.insert_file(
            "charts/web/templates/hooks.yaml",
            "apiVersion: batch/v1\nkind: Job\nmetadata:\n  name: migrate\n  annotations: {helm.sh/hook: pre-install}\n---\napiVersion: v1\nkind: Pod\nmetadata:\n  name: smoke\n  annotations: {helm.sh/hook: test}\n",
        );
        src.insert_file(
            "charts/web/templates/service.yaml",
            "apiVersion: v1\nkind: Service\nmetadata: {name: {{ include \"web.name\" . }}}\n",
        );
        (f.placements[0].clone(), src)
    }

    fn store(name: &str, region: &str) -> ClusterIdentity {
        ClusterIdentity {
            name: name.parse().unwrap(),
            environment: "prod".into(),
            labels: parse_labels(&format!("kind=store,region={region}")).unwrap(),
        }
    }

    #[test]
    fn a_chart_renders_with_the_placement_s_values_files_customizations_and_cluster() {
        let (p, src) = chart_placement("");
        let eu = render(&p, &src, &store("store-1", "eu")).unwrap();
        let ids: Vec<String> = eu.objects.iter().map(object_id).collect();
        assert_eq!(
            ids,
            ["Job bt/migrate", "Service bt/shop-web", "Deployment bt/shop-web"],
            "the test hook is never applied"
        );
        let deployment = serde_json::json!({
            "apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "shop-web", "namespace": "bt", "annotations": {"note": "${cluster.name}", "namespace": "bt"}},
            "spec": {"replicas": 3, "template": {"spec": {"containers": [{
                "name": "web", "image": "web:2",
                "env": [{"name": "STORE", "value": "store-1"}],
                "resources": {"limits": {"cpu": "100m"}},
            }]}}},
        });
        assert_eq!(eu.objects[2], deployment);
        assert_eq!(eu.digest, Digest::of_objects(&eu.objects));

        // Another store elsewhere: its name, and no customization.
        let us = render(&p, &src, &store("store-2", "us")).unwrap();
        let mut want = deployment;
        want["spec"]["replicas"] = 2.into();
        want["spec"]["template"]["spec"]["containers"][0]["env"][0]["value"] = "store-2".into();
        want["spec"]["template"]["spec"]["containers"][0]["resources"]["limits"]["memory"] = "64Mi".into();
        assert_eq!(us.objects[2], want);
        assert_eq!(us.objects[..2], eu.objects[..2]);
        // The same cluster renders the same objects every time.
        assert_eq!(render(&p, &src, &store("store-1", "eu")).unwrap(), eu);
    }

    #[test]
    fn a_chart_s_render_key_holds_what_it_reads_of_the_cluster() {
        let (p, src) = chart_placement("");
        let clusters = [store("store-1", "eu"), store("store-1", "eu"), store("store-2", "eu"), store("store-3", "us")];
        let mut memo: std::collections::HashMap<RenderKey<u8>, Prepared> = std::collections::HashMap::new();
        for who in &clusters {
            let key = RenderKey::new(1, &p, 7, who, &Options::default());
            let prepared = memo.entry(key).or_insert_with(|| prepare(&p, &src, who, &Options::default()).unwrap());
            assert_eq!(prepared.digest_for(&p, who).unwrap(), render(&p, &src, who).unwrap().digest, "{}", who.name);
        }
        assert_eq!(memo.len(), 3);
        let key = RenderKey::new(1, &p, 7, &clusters[0], &Options::default());
        assert_eq!(key.chart.as_ref().unwrap().values, [Some("store-1".to_string())]);
        assert_eq!(key.chart.as_ref().unwrap().capabilities, None);
        // Other capabilities: another key, and what the chart sees.
        let older = Options { kube_version: Some("v1.29.4".into()), ..Options::default() };
        assert_ne!(RenderKey::new(1, &p, 7, &clusters[0], &older), key);
        let mut src = src;
        src.insert_file("charts/web/templates/cm.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: k}\ndata: {v: {{ .Capabilities.KubeVersion.Version | quote }}, m: {{ .Capabilities.APIVersions.Has \"monitoring.coreos.com/v1\" | quote }}}\n");
        let data = |options: &Options| render_with(&p, &src, &clusters[0], options).unwrap().objects[1]["data"].clone();
        assert_eq!(data(&Options::default()), serde_json::json!({"v": "v1.36.0", "m": "false"}));
        let with_monitoring = Options { api_versions: vec!["v1".into(), "monitoring.coreos.com/v1".into()], ..older };
        assert_eq!(data(&with_monitoring), serde_json::json!({"v": "v1.29.4", "m": "true"}));
    }

    #[test]
    fn a_chart_s_random_values_are_the_cluster_s_secret_own_and_the_digest_is_the_public_render_s() {
        let (p, mut src) = chart_placement("");
        src.insert_file("charts/web/templates/secret.yaml", "apiVersion: v1\nkind: Secret\nmetadata: {name: s}\nstringData: {password: {{ randAlphaNum 16 | quote }}}\n");
        let with =
            |secret: Option<&[u8]>| Options { secret: secret.map(|s| Secret::new(s.to_vec())), ..Options::default() };
        let password =
            |r: &Rendered| r.objects.iter().find(|o| o["kind"] == "Secret").unwrap()["stringData"]["password"].clone();
        let eu = store("store-1", "eu");
        // The hub's render (no secret): the public seed, the digest of what it shows.
        let public = render(&p, &src, &eu).unwrap();
        assert_eq!(public.digest, Digest::of_objects(&public.objects));
        assert_eq!(password(&public).as_str().map(str::len), Some(16));
        // A cluster's render: its own values, stable, unknown without its secret; the same digest.
        let one = render_with(&p, &src, &eu, &with(Some(b"secret one"))).unwrap();
        let two = render_with(&p, &src, &eu, &with(Some(b"secret two"))).unwrap();
        assert_eq!(one.digest, public.digest);
        assert_eq!(two.digest, public.digest);
        assert_ne!(password(&one), password(&public));
        assert_ne!(password(&one), password(&two));
        assert_eq!(render_with(&p, &src, &eu, &with(Some(b"secret one"))).unwrap(), one);
        assert_eq!(one.objects.len(), public.objects.len());
        // The customizations and the namespace apply to the secret render too.
        assert!(one.objects.iter().all(|o| o["metadata"]["namespace"] == "bt"), "{:?}", one.objects);
        // The public seed is the placement's: clusters of one key share the hub's render.
        let other = render(&p, &src, &store("store-9", "eu")).unwrap();
        assert_eq!(password(&other), password(&public));
        // A chart that draws nothing random renders once, the same with or without a secret.
        let (p, src) = chart_placement("");
        assert_eq!(render_with(&p, &src, &eu, &with(Some(b"secret one"))).unwrap(), render(&p, &src, &eu).unwrap());
        // `Debug` does not show the secret.
        assert!(!format!("{:?}", with(Some(b"secret one"))).contains("secret one"));
    }

    #[test]
    fn chart_errors_name_the_placement_and_field() {
        let (p, mut src) = chart_placement("");
        let err = |src: &Snapshot| render(&p, src, &store("store-1", "eu")).unwrap_err().to_string();
        let mut missing = Snapshot::new();
        for (path, entry) in src.entries().filter(|(path, _)| !path.ends_with("values-prod.yaml")) {
            missing.insert(path, entry.clone());
        }
        assert!(
            err(&missing).starts_with("placement web (fleet/p.yaml): field spec.source.helm.valuesFiles[0]: src:charts/web: charts/web/values-prod.yaml: "),
            "{}",
            err(&missing)
        );
        src.insert_file("charts/web/templates/bad.yaml", "{{ fail \"no\" }}");
        assert_eq!(
            err(&src),
            "placement web (fleet/p.yaml): field spec.source.path: src:charts/web: execution error at (web/templates/bad.yaml:1:3): no"
        );
        let (p, _) = chart_placement("");
        let mut plain = p.clone();
        plain.spec.source.helm = None;
        plain.spec.customizations.clear();
        let e = render(&plain, &src, &store("store-1", "eu")).unwrap_err().to_string();
        assert!(e.contains("field spec.source.helm: src:charts/web: the folder holds a Chart.yaml"), "{e}");
        // With a kustomization beside the Chart.yaml, the folder renders as the kustomization.
        let mut both = src.clone();
        both.insert_file("charts/web/kustomization.yaml", "resources: [cm.yaml]\n");
        both.insert_file("charts/web/cm.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: plain}\n");
        let rendered = render(&plain, &both, &store("store-1", "eu")).unwrap();
        assert_eq!(rendered.objects.len(), 1);
        assert_eq!(rendered.objects[0]["metadata"]["name"], "plain");
        let (p, src) = placement("");
        let mut chart = p.clone();
        chart.spec.source.helm = Some(Helm::default());
        let e = render(&chart, &src, &identity()).unwrap_err().to_string();
        assert!(e.contains("field spec.source.helm: src:app: no Chart.yaml in app"), "{e}");
    }

    #[test]
    fn a_chart_from_a_helm_repository_renders_from_its_archive_as_from_a_folder() {
        let (folder_placement, src) = chart_placement("");
        // The same chart, packed as `helm package` packs it, and a placement naming it by URL.
        let files: Vec<(String, String)> = src
            .entries()
            .filter_map(|(path, _)| {
                let rel = path.strip_prefix("charts/web/")?;
                Some((format!("web/{rel}"), String::from_utf8(src.read(path).unwrap().to_vec()).unwrap()))
            })
            .collect();
        let files: Vec<(&str, &str)> = files.iter().map(|(p, t)| (p.as_str(), t.as_str())).collect();
        let archive = crate::helm::archive::tests::tgz(&files);
        let chart = crate::helm::repo::unpack(&archive).unwrap();
        let mut fleet = Snapshot::new();
        fleet.insert_file(
            "fleet/p.yaml",
            "apiVersion: flotilla.dev/v1alpha1\nkind: Placement\nmetadata: {name: web}\nspec:\n  source:\n    chart: {url: 'https://charts.example.com/stable', name: web, version: 0.1.*}\n    helm:\n      releaseName: shop\n      values: {store: '${cluster.name}', replicas: 2, note: '$${cluster.name}'}\n      valuesFiles: [values-prod.yaml]\n  clusters: {}\n  namespace: bt\n  substitute: true\n  customizations:\n  - clusters: {matchLabels: {region: eu}}\n    values: {replicas: 3, resources: {limits: {memory: null}}}\n",
        );
        let (f, errors) = Fleet::from_snapshot(&fleet);
        assert_eq!(errors, []);
        let p = f.placements[0].clone();
        for who in [store("store-1", "eu"), store("store-2", "us")] {
            let packed = render(&p, &chart, &who).unwrap();
            assert_eq!(packed.objects, render(&folder_placement, &src, &who).unwrap().objects, "{}", who.name);
            let key = RenderKey::new(1, &p, 7, &who, &Options::default());
            assert!(key.chart.is_some(), "a chart's key holds what it reads of the cluster");
            assert_eq!(
                prepare(&p, &chart, &who, &Options::default()).unwrap().digest_for(&p, &who).unwrap(),
                packed.digest
            );
        }

        // A packed chart is read as Helm reads an archive: its .helmignore does not apply.
        let mut ignoring = chart.clone();
        ignoring.insert_file(".helmignore", "templates/service.yaml\n");
        assert_eq!(render(&p, &ignoring, &store("store-1", "eu")).unwrap().objects.len(), 3);

        // Errors name the chart and the field that brought it.
        let mut bad = chart.clone();
        bad.insert_file("templates/bad.yaml", "{{ fail \"no\" }}");
        assert_eq!(
            render(&p, &bad, &store("store-1", "eu")).unwrap_err().to_string(),
            "placement web (fleet/p.yaml): field spec.source.chart: https://charts.example.com/stable/web: execution error at (web/templates/bad.yaml:1:3): no"
        );
        let e = render(&p, &Snapshot::new(), &store("store-1", "eu")).unwrap_err().to_string();
        assert!(
            e.contains("field spec.source.chart: https://charts.example.com/stable/web: the archive has no Chart.yaml"),
            "{e}"
        );
        let mut no_values = chart.clone();
        no_values.insert_file("values-prod.yaml", "[1]\n");
        let e = render(&p, &no_values, &store("store-1", "eu")).unwrap_err().to_string();
        assert!(e.contains("field spec.source.helm.valuesFiles[0]: https://charts.example.com/stable/web: values-prod.yaml: values must be a mapping"), "{e}");
    }

    #[test]
    fn customization_that_matches_nothing_is_an_error() {
        let (p, src) = placement(
            "  customizations:\n  - clusters: {}\n    patches:\n    - target: {kind: Deployment, name: nope}\n      patch: |\n        - {op: replace, path: /spec/replicas, value: 2}\n",
        );
        let err = render(&p, &src, &identity()).unwrap_err().to_string();
        assert_eq!(
            err,
            "placement app (fleet/p.yaml): field spec.customizations[0].patches[0]: the patch matches no rendered object"
        );
    }
}
