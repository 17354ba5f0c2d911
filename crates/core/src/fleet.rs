//! The fleet model: `Repository`, `Placement`, `Policy` and `Cluster` objects read from the
//! `fleet/` folder of a fleet repository snapshot, and which of them apply to a cluster.
//!
//! Reading is strict (unknown kinds and fields are refused) and partial: each broken document
//! is one [`Error`] naming the file, the document and the field, and the good ones are still
//! returned, so one typo does not hide the other 999 placements.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::kustomize::Target;
use crate::name::{ChartUrl, DnsLabel, DnsSubdomain, GitUrl};
use crate::selector::{LabelSelector, Labels};
use crate::snapshot::Snapshot;

pub mod delivery;
pub use delivery::{
    Bake, Clock, Freeze, Halt, Limit, LocalTime, Rollout, Wave, Weekday, WhenHubUnreachable, Window, Zone,
};

/// The API version of every fleet object.
pub const API_VERSION: &str = "flotilla.dev/v1alpha1";
/// The folder of the fleet repository that holds the fleet objects.
pub const FLEET_DIR: &str = "fleet";
/// The implicit repository that names the fleet repository itself.
pub const FLEET_REPOSITORY: &str = "fleet";

/// A fleet document that could not be read, with where it is.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{file}: document {document}{}: {message}", if field.is_empty() { String::new() } else { format!(": field {field}") })]
pub struct Error {
    pub file: String,
    /// 1-based index among the file's non-empty documents; 0 when the file as a whole failed.
    pub document: usize,
    /// Dotted path of the offending field, empty when the document as a whole is at fault.
    pub field: String,
    pub message: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Metadata {
    /// Read by its rule ([`DnsSubdomain`]), so a bad name is an error naming `metadata.name`.
    pub name: DnsSubdomain,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: Labels,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
}

/// A source repository and its environment branches; or, named `fleet` (no `url`), the fleet
/// repository itself, whose own commits then roll out with `rollout`, `windows` and `freezes`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RepositorySpec {
    /// Required for a source; none for the fleet repository (the agent's `fleet.url`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<GitUrl>,
    /// Environment name to branch name; an environment not listed uses a branch of its own name.
    #[serde(default)]
    pub environments: BTreeMap<String, String>,
    #[serde(default)]
    pub verify: Verify,
    /// The fleet repository only: how its commits reach the clusters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rollout: Option<Rollout>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub windows: Vec<Window>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub freezes: Vec<Freeze>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Verify {
    #[serde(default)]
    pub mode: VerifyMode,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allowed_signers: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub openpgp_keys: Option<String>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum VerifyMode {
    Enforce,
    Inform,
    #[default]
    Off,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PlacementSpec {
    pub source: Source,
    pub clusters: LabelSelector,
    /// The namespace of namespaced objects that name none: a namespace name by its rule.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<DnsLabel>,
    #[serde(default)]
    pub substitute: bool,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub customizations: Vec<Customization>,
    #[serde(default)]
    pub sync: Sync,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rollout: Option<Rollout>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub windows: Vec<Window>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub freezes: Vec<Freeze>,
    #[serde(default)]
    pub paused: bool,
    /// What the placement may write; absent: its own namespace (see [`crate::scope`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<Scope>,
}

/// What a placement may write on a cluster (SPEC §2 `scope`), checked before anything is
/// applied and before anything is pruned. See [`crate::scope`] for the rules.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Scope {
    /// Namespaces (globs with `*` and `?`) its namespaced objects may be in; absent: the
    /// placement's `namespace` alone.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespaces: Option<Vec<String>>,
    /// Cluster-scoped kinds it may write (`Kind`, or `group/Kind` for one group); absent: only
    /// the Namespace objects of its own namespaces.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cluster_scoped: Option<Vec<String>>,
    /// Anything at all: the platform team's baseline placements.
    #[serde(default)]
    pub cluster: bool,
    /// Apply as this ServiceAccount of the placement's namespace (impersonation), so that the
    /// API server's RBAC holds the source to that account's permissions too.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_account: Option<DnsSubdomain>,
}

impl Scope {
    /// Why a declared scope cannot be used, naming its field (under `spec.scope`).
    pub fn check(&self, namespace: Option<&str>) -> Result<(), (String, String)> {
        let scope = self;
        if scope.cluster && (scope.namespaces.is_some() || scope.cluster_scoped.is_some()) {
            return Err((
                "cluster".into(),
                "cluster: true allows every object; leave out namespaces and clusterScoped".into(),
            ));
        }
        for (i, g) in scope.namespaces.iter().flatten().enumerate() {
            let ok = !g.is_empty()
                && g.len() <= 63
                && g.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'*' || b == b'?');
            if !ok {
                return Err((
                    format!("namespaces[{i}]"),
                    format!("{g:?} is not a namespace or a glob of one (lower-case letters, digits, '-', '*', '?')"),
                ));
            }
        }
        for (i, k) in scope.cluster_scoped.iter().flatten().enumerate() {
            let kind = k.rsplit_once('/').map_or(k.as_str(), |(_, kind)| kind);
            let ok = kind.bytes().next().is_some_and(|b| b.is_ascii_uppercase())
                && kind.bytes().all(|b| b.is_ascii_alphanumeric())
                && !k.starts_with('/');
            if !ok {
                return Err((
                    format!("clusterScoped[{i}]"),
                    format!(
                        "{k:?} is not a kind (ClusterRole) or a group and kind (rbac.authorization.k8s.io/ClusterRole)"
                    ),
                ));
            }
        }
        if scope.service_account.is_some() {
            if namespace.is_none() {
                return Err((
                    "serviceAccount".into(),
                    "a ServiceAccount lives in a namespace: set the placement's spec.namespace".into(),
                ));
            }
            // Refused rather than ignored: a scope that reads stricter than it is would mislead.
            return Err((
                "serviceAccount".into(),
                "applying as a ServiceAccount (impersonation) is not supported yet; the scope's namespaces and kinds hold the placement".into(),
            ));
        }
        Ok(())
    }
}

impl PlacementSpec {
    /// Which of the customizations select a cluster with `labels`, in order. With the fleet and
    /// source commits and the `${cluster.*}` values substituted, that is all a placement's
    /// render reads of a cluster: the hub's and the simulator's render memos key on it.
    pub fn customizations_for(&self, labels: &Labels) -> Vec<bool> {
        self.customizations.iter().map(|c| c.clusters.matches(labels)).collect()
    }
}

/// Where a placement's objects come from: a folder of a git repository (`repository` and
/// `path`), or a chart from a Helm repository (`chart`). Exactly one of `repository` and
/// `chart` is set once the fleet is read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Source {
    /// The name of a declared `Repository` (or `fleet`): a name by the same rule, so a
    /// reference that could name no repository is refused as the fleet is read. `None` for a
    /// chart from a Helm repository.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub repository: Option<DnsSubdomain>,
    #[serde(default = "dot")]
    pub path: String,
    /// Set: the folder at `path` is a Helm chart (a `Chart.yaml`), rendered with these settings.
    /// Always set (`helm: {}` when not written) for a `chart`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub helm: Option<Helm>,
    /// A chart from a Helm repository (an `index.yaml` over https, or an OCI registry).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub chart: Option<ChartRef>,
}

/// A chart from a Helm repository (SPEC §2 `source.chart`): which chart, and which versions of
/// it may run. The version is chosen as Helm chooses it ([`crate::helm::repo`]): the highest
/// that satisfies `version`, prereleases only when the range names one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChartRef {
    /// The repository: `https://…` (where its `index.yaml` is) or `oci://host/path`.
    pub url: ChartUrl,
    /// The chart's name: its key in `index.yaml`, or the last part of its OCI repository.
    pub name: String,
    /// An exact version or a range as Helm reads one (`4.11.*`, `^1.2`, `>=1 <2`); absent:
    /// the newest release (no prerelease), as `helm install` without `--version`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
}

impl ChartRef {
    /// Whether the chart is in an OCI registry (`oci://`).
    pub fn is_oci(&self) -> bool {
        self.url.starts_with("oci://")
    }

    /// How errors and the hub name it: `URL/NAME` (Helm's own way to name a chart in an OCI
    /// registry, and its repository URL and name otherwise).
    pub fn location(&self) -> String {
        format!("{}/{}", self.url.trim_end_matches('/'), self.name)
    }
}

impl Source {
    /// The source repository's name; `None` for a chart from a Helm repository.
    pub fn repository(&self) -> Option<&str> {
        self.repository.as_deref()
    }

    /// Whether the source is the fleet repository itself.
    pub fn is_fleet(&self) -> bool {
        self.repository() == Some(FLEET_REPOSITORY)
    }

    /// How errors name the source: `REPOSITORY:PATH`, or a chart's `URL/NAME`.
    pub fn location(&self) -> String {
        match (&self.chart, &self.repository) {
            (Some(chart), _) => chart.location(),
            (None, Some(repository)) => format!("{repository}:{}", self.path),
            (None, None) => self.path.clone(),
        }
    }
}

/// How a placement renders its chart (SPEC §2 `source.helm`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Helm {
    /// The release's name; absent: the placement's name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub release_name: Option<DnsSubdomain>,
    /// Values over the chart's defaults (and over `valuesFiles`), as `helm --set` gives them.
    #[serde(default, skip_serializing_if = "Map::is_empty")]
    pub values: Map<String, Value>,
    /// Values files, paths in the source repository (for a chart from a Helm repository, paths
    /// inside the chart, as Argo CD reads them: `values-production.yaml`), merged in order
    /// under `values`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub values_files: Vec<String>,
}

/// Helm's bound on a release name (`chartutil.ValidateReleaseName`).
pub const MAX_RELEASE_NAME: usize = 53;

impl Helm {
    /// The release name of placement `placement`'s chart.
    pub fn release_name<'a>(&'a self, placement: &'a str) -> &'a str {
        self.release_name.as_deref().unwrap_or(placement)
    }
}

fn dot() -> String {
    ".".to_string()
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Customization {
    pub clusters: LabelSelector,
    #[serde(default)]
    pub patches: Vec<InlinePatch>,
    /// A chart's values for the clusters selected, merged over the placement's `helm.values`
    /// (maps merge, a `null` deletes) before the chart is rendered.
    #[serde(default, skip_serializing_if = "Map::is_empty")]
    pub values: Map<String, Value>,
}

/// A patch given inline, in kustomize's `patches` form.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InlinePatch {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<Target>,
    pub patch: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Sync {
    #[serde(default = "yes")]
    pub prune: bool,
    #[serde(default = "yes")]
    pub drift_correction: bool,
}

impl Default for Sync {
    fn default() -> Self {
        Self { prune: true, drift_correction: true }
    }
}

fn yes() -> bool {
    true
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PolicySpec {
    #[serde(default)]
    pub standards: Vec<String>,
    #[serde(default)]
    pub controls: Vec<String>,
    #[serde(default)]
    pub categories: Vec<String>,
    pub severity: Severity,
    pub remediation: Remediation,
    pub clusters: LabelSelector,
    pub objects: Vec<ObjectTemplate>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Low,
    Medium,
    High,
    Critical,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Remediation {
    Inform,
    Enforce,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ObjectTemplate {
    pub compliance: Compliance,
    pub object: Value,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Compliance {
    MustHave,
    MustOnlyHave,
    MustNotHave,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClusterSpec {
    pub environment: String,
}

/// A fleet object: metadata plus the spec of its kind.
#[derive(Debug, Clone, PartialEq)]
pub struct Object<S> {
    pub metadata: Metadata,
    pub spec: S,
    /// The file it was read from.
    pub file: String,
}

pub type Repository = Object<RepositorySpec>;
pub type Placement = Object<PlacementSpec>;
pub type Policy = Object<PolicySpec>;
pub type Cluster = Object<ClusterSpec>;

impl<S> Object<S> {
    pub fn name(&self) -> &str {
        &self.metadata.name
    }
}

impl Repository {
    /// A source's git URL. Every repository of [`Fleet::repositories`] has one; the fleet's
    /// own declaration ([`Fleet::own`]) has none (its URL is agent.yaml's) and gives "".
    pub fn url(&self) -> &str {
        self.spec.url.as_ref().map_or("", GitUrl::as_str)
    }

    /// The branch that holds `environment`.
    pub fn branch(&self, environment: &str) -> String {
        self.spec.environments.get(environment).cloned().unwrap_or_else(|| environment.to_string())
    }
}

/// Everything the fleet repository declares, each kind sorted by name.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Fleet {
    /// The fleet repository's own declaration (`Repository` named `fleet`), when it has one:
    /// how fleet commits roll out.
    pub own: Option<Repository>,
    pub repositories: Vec<Repository>,
    pub placements: Vec<Placement>,
    pub policies: Vec<Policy>,
    pub clusters: Vec<Cluster>,
}

/// Who a cluster is: what its agent's config says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterIdentity {
    pub name: DnsSubdomain,
    pub environment: String,
    pub labels: Labels,
}

/// What applies to one cluster.
#[derive(Debug, Clone, PartialEq)]
pub struct Selection<'a> {
    /// The identity the selection was made with: the repo's declaration wins over the config.
    pub identity: ClusterIdentity,
    pub placements: Vec<&'a Placement>,
    pub policies: Vec<&'a Policy>,
    /// Set when the fleet declares the cluster with other labels or environment than its config.
    pub mismatch: Option<String>,
}

/// The envelope shared by every fleet object.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct Envelope {
    #[allow(dead_code, reason = "checked before the envelope is read")]
    api_version: String,
    kind: String,
    metadata: Metadata,
    spec: Value,
}

impl Fleet {
    /// Reads every fleet object under `fleet/`. Broken documents become errors; the rest is kept.
    pub fn from_snapshot(snapshot: &Snapshot) -> (Fleet, Vec<Error>) {
        let mut fleet = Fleet::default();
        let mut errors = Vec::new();
        let prefix = format!("{FLEET_DIR}/");
        for (path, _) in snapshot.entries() {
            let is_yaml = std::path::Path::new(path)
                .extension()
                .is_some_and(|e| e.eq_ignore_ascii_case("yaml") || e.eq_ignore_ascii_case("yml"));
            if !path.starts_with(&prefix) || !is_yaml {
                continue;
            }
            let docs = match snapshot
                .read(path)
                .map_err(|e| e.to_string())
                .and_then(|bytes| crate::yaml::load_all(bytes).map_err(|e| e.to_string()))
            {
                Ok(docs) => docs,
                Err(message) => {
                    errors.push(Error { file: path.to_string(), document: 0, field: String::new(), message });
                    continue;
                }
            };
            for (i, doc) in docs.into_iter().enumerate() {
                if let Err((field, message)) = fleet.add_document(doc, path) {
                    errors.push(Error { file: path.to_string(), document: i + 1, field, message });
                }
            }
        }
        fleet.check_duplicates(&mut errors);
        fleet.repositories.sort_by(|a, b| a.metadata.name.cmp(&b.metadata.name));
        fleet.placements.sort_by(|a, b| a.metadata.name.cmp(&b.metadata.name));
        fleet.policies.sort_by(|a, b| a.metadata.name.cmp(&b.metadata.name));
        fleet.clusters.sort_by(|a, b| a.metadata.name.cmp(&b.metadata.name));
        (fleet, errors)
    }

    /// Adds one document; the error is (field path, message).
    fn add_document(&mut self, doc: Value, file: &str) -> Result<(), (String, String)> {
        let Value::Object(map) = &doc else {
            return Err((String::new(), "a fleet object must be a mapping".into()));
        };
        match map.get("apiVersion") {
            Some(Value::String(v)) if v == API_VERSION => {}
            Some(v) => {
                return Err((
                    "apiVersion".into(),
                    format!("{v} is not {API_VERSION}; the fleet/ folder holds only fleet objects"),
                ));
            }
            None => return Err(("apiVersion".into(), "missing".into())),
        }
        let envelope: Envelope = typed(doc, "")?;
        let metadata = envelope.metadata;
        let file = file.to_string();
        match envelope.kind.as_str() {
            "Repository" => {
                let spec: RepositorySpec = typed(envelope.spec, "spec")?;
                if metadata.name == FLEET_REPOSITORY {
                    check_fleet_repository(&spec)?;
                    if self.own.is_some() {
                        return Err(("metadata.name".into(), "the fleet Repository is declared twice".into()));
                    }
                    self.own = Some(Object { metadata, spec, file });
                    return Ok(());
                }
                if spec.url.is_none() {
                    return Err((
                        "spec.url".into(),
                        "missing: a source's git URL (https, http, git, ssh or file, or user@host:path)".into(),
                    ));
                }
                let only_fleet = |field: &str| {
                    (field.to_string(), "only the fleet Repository rolls out this way; a source's commits roll out with the rollout, windows and freezes of its placements".to_string())
                };
                if spec.rollout.is_some() {
                    return Err(only_fleet("spec.rollout"));
                }
                if !spec.windows.is_empty() {
                    return Err(only_fleet("spec.windows"));
                }
                if !spec.freezes.is_empty() {
                    return Err(only_fleet("spec.freezes"));
                }
                self.repositories.push(Object { metadata, spec, file });
            }
            "Placement" => {
                let path_given = envelope.spec.pointer("/source/path").is_some();
                let mut spec: PlacementSpec = typed(envelope.spec, "spec")?;
                check_source(&mut spec, path_given)?;
                check_selector(&spec.clusters, "spec.clusters")?;
                check_source_and_customizations(&spec)?;
                check_delivery(spec.rollout.as_ref(), &spec.freezes)?;
                if let Some(scope) = &spec.scope {
                    scope.check(spec.namespace.as_deref()).map_err(|(field, e)| (format!("spec.scope.{field}"), e))?;
                }
                self.placements.push(Object { metadata, spec, file });
            }
            "Policy" => {
                let spec: PolicySpec = typed(envelope.spec, "spec")?;
                check_selector(&spec.clusters, "spec.clusters")?;
                for (i, o) in spec.objects.iter().enumerate() {
                    if !o.object.is_object() {
                        return Err((format!("spec.objects[{i}].object"), "must be a mapping".into()));
                    }
                }
                self.policies.push(Object { metadata, spec, file });
            }
            "Cluster" => {
                let spec: ClusterSpec = typed(envelope.spec, "spec")?;
                self.clusters.push(Object { metadata, spec, file });
            }
            other => {
                return Err((
                    "kind".into(),
                    format!("unknown kind {other:?}; expected Repository, Placement, Policy or Cluster"),
                ));
            }
        }
        Ok(())
    }

    fn check_duplicates(&mut self, errors: &mut Vec<Error>) {
        fn dedup<S>(kind: &str, objects: &mut Vec<Object<S>>, errors: &mut Vec<Error>) {
            let mut seen: BTreeMap<DnsSubdomain, String> = BTreeMap::new();
            objects.retain(|o| {
                if let Some(first) = seen.get(&o.metadata.name) {
                    errors.push(Error {
                        file: o.file.clone(),
                        document: 0,
                        field: "metadata.name".into(),
                        message: format!("{kind} {:?} is declared twice (first in {first})", o.metadata.name),
                    });
                    false
                } else {
                    seen.insert(o.metadata.name.clone(), o.file.clone());
                    true
                }
            });
        }
        dedup("Repository", &mut self.repositories, errors);
        dedup("Placement", &mut self.placements, errors);
        dedup("Policy", &mut self.policies, errors);
        dedup("Cluster", &mut self.clusters, errors);
    }

    pub fn repository(&self, name: &str) -> Option<&Repository> {
        self.repositories.iter().find(|r| r.metadata.name == name)
    }

    /// The source repository `name` a placement reads, or why there is none, in the words the
    /// agent, the hub and the simulator all report.
    pub fn source_repository(&self, name: &str) -> Result<&Repository, String> {
        self.repository(name).ok_or_else(|| format!("source repository {name:?} is not declared in fleet/"))
    }

    pub fn placement(&self, name: &str) -> Option<&Placement> {
        self.placements.iter().find(|p| p.metadata.name == name)
    }

    pub fn cluster(&self, name: &str) -> Option<&Cluster> {
        self.clusters.iter().find(|c| c.metadata.name == name)
    }

    /// The placements and policies that select a cluster. When the fleet declares the cluster,
    /// its labels and environment win over the agent's config, and a difference is reported.
    pub fn select(&self, identity: &ClusterIdentity) -> Selection<'_> {
        let mut identity = identity.clone();
        let mut mismatch = None;
        if let Some(declared) = self.cluster(&identity.name) {
            let mut differences = Vec::new();
            if declared.metadata.labels != identity.labels {
                differences.push(format!(
                    "labels {} in the fleet repository, {} in the agent config",
                    show_labels(&declared.metadata.labels),
                    show_labels(&identity.labels)
                ));
            }
            if declared.spec.environment != identity.environment {
                differences.push(format!(
                    "environment {:?} in the fleet repository, {:?} in the agent config",
                    declared.spec.environment, identity.environment
                ));
            }
            if !differences.is_empty() {
                mismatch = Some(differences.join("; "));
            }
            identity.labels.clone_from(&declared.metadata.labels);
            identity.environment.clone_from(&declared.spec.environment);
        }
        let placements = self.placements.iter().filter(|p| p.spec.clusters.matches(&identity.labels)).collect();
        let policies = self.policies.iter().filter(|p| p.spec.clusters.matches(&identity.labels)).collect();
        Selection { identity, placements, policies, mismatch }
    }
}

/// Checks what reading each value cannot of a rollout and freezes (of a placement or the fleet
/// Repository), naming the field under `spec`.
fn check_delivery(rollout: Option<&Rollout>, freezes: &[Freeze]) -> Result<(), (String, String)> {
    if let Some(rollout) = rollout {
        for (i, w) in rollout.waves.iter().enumerate() {
            if let Some(s) = &w.clusters {
                check_selector(s, &format!("spec.rollout.waves[{i}].clusters"))?;
            }
            if w.percent.is_some_and(|p| p > 100) {
                return Err((format!("spec.rollout.waves[{i}].percent"), "must be 0 to 100".into()));
            }
        }
        if rollout.waves.is_empty() {
            return Err(("spec.rollout.waves".into(), "needs at least one wave".into()));
        }
    }
    // A window's and a freeze's values were parsed as they were read; what is left is whether
    // a freeze's span can be placed in time and ends after it starts.
    for (i, f) in freezes.iter().enumerate() {
        f.span().map_err(|(field, e)| (format!("spec.freezes[{i}].{field}"), e.to_string()))?;
    }
    Ok(())
}

/// The fleet repository's own declaration: no URL, branches or verification of its own (those
/// are the agent's, in agent.yaml, where no commit can change them), and no halt.
fn check_fleet_repository(spec: &RepositorySpec) -> Result<(), (String, String)> {
    let agents = |field: &str, what: &str| {
        (field.to_string(), format!("the fleet repository's {what} is the agent's to say (agent.yaml), not a commit's"))
    };
    if spec.url.is_some() {
        return Err(agents("spec.url", "URL (fleet.url)"));
    }
    if !spec.environments.is_empty() {
        return Err(agents("spec.environments", "branch (the cluster's environment)"));
    }
    if spec.verify != Verify::default() {
        return Err(agents("spec.verify", "verification (fleet.verify, its trust root)"));
    }
    if spec.rollout.as_ref().is_some_and(|r| r.halt.is_some()) {
        return Err((
            "spec.rollout.halt".into(),
            "the fleet's rollout has no halt: each agent decides it from git alone".into(),
        ));
    }
    check_delivery(spec.rollout.as_ref(), &spec.freezes)
}

/// The longest chart name taken (OCI's bound on a repository path component is about this).
const MAX_CHART_NAME: usize = 250;

/// What reading `spec.source` cannot check: a git folder (`repository`, `path`) or a chart
/// (`chart`), never both; a chart's name and version range; and for a chart, `helm` set
/// (`helm: {}` when not written) and no rollout, windows or freezes (they choose among a
/// branch's commits, and a Helm repository has none: a chart's version moves with the fleet
/// commit that pins it, which the fleet Repository's own rollout delivers wave by wave).
fn check_source(spec: &mut PlacementSpec, path_given: bool) -> Result<(), (String, String)> {
    let source = &mut spec.source;
    let Some(chart) = &source.chart else {
        if source.repository.is_none() {
            return Err((
                "spec.source.repository".into(),
                "missing: a declared Repository (or fleet) and its path, or spec.source.chart".into(),
            ));
        }
        return Ok(());
    };
    if source.repository.is_some() {
        return Err((
            "spec.source.repository".into(),
            "a source is a git repository's folder or a chart from a Helm repository (spec.source.chart), not both"
                .into(),
        ));
    }
    if path_given {
        return Err((
            "spec.source.path".into(),
            "a chart from a Helm repository has no path: the chart is the whole archive".into(),
        ));
    }
    let name_ok = !chart.name.is_empty()
        && chart.name.len() <= MAX_CHART_NAME
        && !chart.name.starts_with(['.', '-', '_'])
        && chart.name.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_'));
    if !name_ok {
        return Err((
            "spec.source.chart.name".into(),
            format!("{:?} is not a chart name (letters, digits, '.', '-', '_')", chart.name),
        ));
    }
    if chart.is_oci() && chart.name.bytes().any(|b| b.is_ascii_uppercase()) {
        return Err((
            "spec.source.chart.name".into(),
            format!("{:?}: an OCI repository name is lower-case", chart.name),
        ));
    }
    if let Some(version) = &chart.version {
        if version.trim().is_empty() {
            return Err((
                "spec.source.chart.version".into(),
                "empty: leave it out for the newest release, or give a version or range".into(),
            ));
        }
        flotilla_template::semver::Constraints::parse(version)
            .map_err(|e| ("spec.source.chart.version".to_string(), e))?;
    }
    source.helm.get_or_insert_with(Helm::default);
    let from_git = |field: &str| {
        (
            field.to_string(),
            "a chart from a Helm repository has no commits to roll out along: pin spec.source.chart.version \
             and let the fleet Repository's own rollout, windows and freezes deliver the change"
                .to_string(),
        )
    };
    if spec.rollout.is_some() {
        return Err(from_git("spec.rollout"));
    }
    if !spec.windows.is_empty() {
        return Err(from_git("spec.windows"));
    }
    if !spec.freezes.is_empty() {
        return Err(from_git("spec.freezes"));
    }
    Ok(())
}

/// A placement's chart settings and customizations, as reading them cannot check.
fn check_source_and_customizations(spec: &PlacementSpec) -> Result<(), (String, String)> {
    if let Some(helm) = &spec.source.helm {
        check_helm(helm)?;
    }
    for (i, c) in spec.customizations.iter().enumerate() {
        check_selector(&c.clusters, &format!("spec.customizations[{i}].clusters"))?;
        if c.patches.is_empty() && c.values.is_empty() {
            return Err((format!("spec.customizations[{i}]"), "needs patches or values".into()));
        }
        if !c.values.is_empty() && spec.source.helm.is_none() {
            return Err((
                format!("spec.customizations[{i}].values"),
                "values are a Helm chart's: the source is a chart only with spec.source.helm".into(),
            ));
        }
    }
    Ok(())
}

/// What reading `source.helm` cannot check: the release name's length, and that each values
/// file is a path inside the repository.
fn check_helm(helm: &Helm) -> Result<(), (String, String)> {
    if let Some(name) = &helm.release_name
        && name.len() > MAX_RELEASE_NAME
    {
        return Err((
            "spec.source.helm.releaseName".into(),
            format!("{name:?} is longer than Helm's {MAX_RELEASE_NAME} characters"),
        ));
    }
    for (i, file) in helm.values_files.iter().enumerate() {
        let inside = !file.is_empty()
            && !file.starts_with('/')
            && !file.contains('\\')
            && file.split('/').all(|part| !part.is_empty() && part != "..");
        if !inside {
            return Err((
                format!("spec.source.helm.valuesFiles[{i}]"),
                format!("{file:?} is not a path inside the source repository (relative, '/'-separated, no '..')"),
            ));
        }
    }
    Ok(())
}

fn show_labels(labels: &Labels) -> String {
    let pairs: Vec<String> = labels.iter().map(|(k, v)| format!("{k}={v}")).collect();
    format!("{{{}}}", pairs.join(","))
}

/// Reads a typed value, naming the field path on error.
fn typed<T: serde::de::DeserializeOwned>(value: Value, base: &str) -> Result<T, (String, String)> {
    serde_path_to_error::deserialize(value).map_err(|e| {
        let inner = e.path().to_string();
        let field = match (base.is_empty(), inner.as_str()) {
            (_, ".") => base.to_string(),
            (true, _) => inner,
            (false, _) => format!("{base}.{inner}"),
        };
        (field, e.into_inner().to_string())
    })
}

fn check_selector(selector: &LabelSelector, field: &str) -> Result<(), (String, String)> {
    selector.validate().map_err(|e| (field.to_string(), e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fleet(files: &[(&str, &str)]) -> (Fleet, Vec<Error>) {
        let mut s = Snapshot::new();
        for (path, text) in files {
            s.insert_file(*path, *text);
        }
        Fleet::from_snapshot(&s)
    }

    const PLACEMENT: &str = "apiVersion: flotilla.dev/v1alpha1\nkind: Placement\nmetadata: {name: bt}\nspec:\n  source: {repository: store-app, path: deploy}\n  clusters: {matchLabels: {kind: store}}\n";

    #[test]
    fn reads_each_kind_and_ignores_files_outside_fleet() {
        let (f, errors) = fleet(&[
            ("fleet/p.yaml", PLACEMENT),
            (
                "fleet/r.yml",
                "apiVersion: flotilla.dev/v1alpha1\nkind: Repository\nmetadata: {name: store-app}\nspec: {url: 'https://git.example/x.git', environments: {prod: release}}\n",
            ),
            (
                "fleet/c.yaml",
                "apiVersion: flotilla.dev/v1alpha1\nkind: Cluster\nmetadata: {name: s1, labels: {kind: store}}\nspec: {environment: prod}\n",
            ),
            ("deploy/x.yaml", "kind: Deployment"),
        ]);
        assert_eq!(errors, []);
        assert_eq!(f.placements.len(), 1);
        assert_eq!(f.placements[0].file, "fleet/p.yaml");
        assert!(f.placements[0].spec.sync.prune);
        assert_eq!(f.repositories[0].branch("prod"), "release");
        assert_eq!(f.repositories[0].branch("dev"), "dev");
        assert_eq!(f.clusters[0].spec.environment, "prod");
    }

    #[test]
    fn unknown_field_names_file_document_and_field() {
        let bad = PLACEMENT.replace("path: deploy}", "path: deploy}\n  sync: {prun: true}");
        let (f, errors) =
            fleet(&[("fleet/a.yaml", &format!("{PLACEMENT}---\n{}", bad.replace("name: bt", "name: bt2")))]);
        assert_eq!(f.placements.len(), 1, "the good document is kept");
        assert_eq!(errors.len(), 1);
        let e = &errors[0];
        assert_eq!((e.file.as_str(), e.document, e.field.as_str()), ("fleet/a.yaml", 2, "spec.sync.prun"));
        assert!(e.message.contains("unknown field `prun`"), "{e}");
        assert!(
            e.to_string().starts_with("fleet/a.yaml: document 2: field spec.sync.prun: unknown field `prun`"),
            "{e}"
        );
    }

    #[test]
    fn a_helm_source_reads_its_release_values_and_values_files() {
        let chart = PLACEMENT.replace(
            "path: deploy}",
            "path: charts/api, helm: {values: {replicaCount: 2, image: {tag: '${cluster.labels.channel}'}}, valuesFiles: [charts/api/values-prod.yaml]}}\n  customizations:\n  - clusters: {matchLabels: {region: eu}}\n    values: {resources: null}",
        );
        let (f, errors) = fleet(&[("fleet/p.yaml", &chart)]);
        assert_eq!(errors, []);
        let p = &f.placements[0];
        let helm = p.spec.source.helm.as_ref().unwrap();
        assert_eq!(helm.release_name(p.name()), "bt");
        assert_eq!(helm.values["replicaCount"], serde_json::json!(2));
        assert_eq!(helm.values_files, ["charts/api/values-prod.yaml"]);
        assert_eq!(p.spec.customizations[0].values["resources"], Value::Null);
        assert!(p.spec.customizations[0].patches.is_empty());
        let named = PLACEMENT.replace("path: deploy}", "path: charts/api, helm: {releaseName: store-api}}");
        let (f, errors) = fleet(&[("fleet/p.yaml", &named)]);
        assert_eq!(errors, []);
        assert_eq!(f.placements[0].spec.source.helm.as_ref().unwrap().release_name("bt"), "store-api");
    }

    #[test]
    fn a_bad_helm_source_names_its_field() {
        let cases = [
            ("path: x, helm: {valueFiles: [a.yaml]}}", "spec.source.helm.valueFiles", "unknown field `valueFiles`"),
            ("path: x, helm: {values: [a]}}", "spec.source.helm.values", "invalid type"),
            (
                "path: x, helm: {valuesFiles: [../other/v.yaml]}}",
                "spec.source.helm.valuesFiles[0]",
                "not a path inside",
            ),
            (
                "path: x, helm: {valuesFiles: [a.yaml, /etc/v.yaml]}}",
                "spec.source.helm.valuesFiles[1]",
                "not a path inside",
            ),
            ("path: x, helm: {releaseName: Store_API}}", "spec.source.helm.releaseName", ""),
            (
                "path: x, helm: {releaseName: a-very-long-release-name-that-helm-would-never-accept-here}}",
                "spec.source.helm.releaseName",
                "longer than Helm's 53 characters",
            ),
            (
                "path: x, chart: {url: 'https://charts.example.com/stable', name: nginx, version: '4.*'}}",
                "spec.source.repository",
                "not both",
            ),
            (
                "path: x}\n  customizations:\n  - clusters: {}\n    values: {a: 1}",
                "spec.customizations[0].values",
                "spec.source.helm",
            ),
            (
                "path: x, helm: {}}\n  customizations:\n  - clusters: {}",
                "spec.customizations[0]",
                "needs patches or values",
            ),
        ];
        for (replacement, field, message) in cases {
            let (f, errors) = fleet(&[("fleet/p.yaml", &PLACEMENT.replace("path: deploy}", replacement))]);
            assert!(f.placements.is_empty(), "{replacement}");
            assert_eq!(errors.len(), 1, "{replacement}: {errors:?}");
            assert_eq!((errors[0].file.as_str(), errors[0].field.as_str()), ("fleet/p.yaml", field), "{replacement}");
            assert!(errors[0].message.contains(message), "{replacement}: {}", errors[0]);
        }
    }

    #[test]
    fn a_chart_from_a_helm_repository_is_read_with_helm_settings() {
        let source = |text: &str| PLACEMENT.replace("{repository: store-app, path: deploy}", text);
        let (f, errors) = fleet(&[(
            "fleet/p.yaml",
            &source("{chart: {url: 'https://charts.example.com/stable', name: ingress-nginx, version: '4.11.*'}}"),
        )]);
        assert_eq!(errors, []);
        let s = &f.placements[0].spec.source;
        let chart = s.chart.as_ref().unwrap();
        assert_eq!(
            (chart.url.as_str(), chart.name.as_str(), chart.version.as_deref()),
            ("https://charts.example.com/stable", "ingress-nginx", Some("4.11.*"))
        );
        assert_eq!(s.repository(), None);
        assert_eq!(s.helm, Some(Helm::default()), "a chart renders with its own values when helm is not written");
        assert_eq!(s.location(), "https://charts.example.com/stable/ingress-nginx");
        assert!(!chart.is_oci());

        let (f, errors) = fleet(&[(
            "fleet/p.yaml",
            &source(
                "{chart: {url: 'oci://127.0.0.1:5000/charts', name: podinfo}, helm: {releaseName: web, valuesFiles: [values-prod.yaml]}}\n  customizations:\n  - clusters: {}\n    values: {a: 1}",
            ),
        )]);
        assert_eq!(errors, []);
        assert!(f.placements[0].spec.source.chart.as_ref().unwrap().is_oci());

        for (text, field, message) in [
            ("{chart: {url: 'ftp://x/y', name: a}}", "spec.source.chart.url", "is not a chart repository URL"),
            ("{chart: {url: 'https://x', name: 'a/b'}}", "spec.source.chart.name", "is not a chart name"),
            ("{chart: {url: 'oci://x/y', name: Nginx}}", "spec.source.chart.name", "lower-case"),
            (
                "{chart: {url: 'https://x', name: a, version: '>>1'}}",
                "spec.source.chart.version",
                "improper constraint",
            ),
            ("{chart: {url: 'https://x', name: a, version: ''}}", "spec.source.chart.version", "empty"),
            ("{chart: {url: 'https://x', name: a}, path: charts/a}", "spec.source.path", "has no path"),
            ("{chart: {url: 'https://x'}}", "spec.source.chart", "missing field `name`"),
            ("{path: deploy}", "spec.source.repository", "missing"),
        ] {
            let (f, errors) = fleet(&[("fleet/p.yaml", &source(text))]);
            assert!(f.placements.is_empty(), "{text}");
            assert_eq!(errors.len(), 1, "{text}: {errors:?}");
            assert_eq!(errors[0].field, field, "{text}: {}", errors[0]);
            assert!(errors[0].message.contains(message), "{text}: {}", errors[0]);
        }
        let rollout = source("{chart: {url: 'https://x', name: a}}\n  rollout: {waves: [{name: all}]}");
        let (_, errors) = fleet(&[("fleet/p.yaml", &rollout)]);
        assert_eq!(errors[0].field, "spec.rollout");
        assert!(errors[0].message.contains("no commits to roll out along"), "{}", errors[0]);
    }

    #[test]
    fn unknown_kind_and_foreign_api_version_are_refused() {
        let (_, errors) = fleet(&[(
            "fleet/a.yaml",
            "apiVersion: flotilla.dev/v1alpha1\nkind: Placment\nmetadata: {name: x}\nspec: {}\n---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\n",
        )]);
        assert_eq!(errors.len(), 2);
        assert_eq!(errors[0].field, "kind");
        assert!(errors[0].message.contains("unknown kind \"Placment\""));
        assert_eq!((errors[1].document, errors[1].field.as_str()), (2, "apiVersion"));
    }

    #[test]
    fn bad_values_name_their_field() {
        let (_, errors) = fleet(&[(
            "fleet/a.yaml",
            &PLACEMENT.replace("{matchLabels: {kind: store}}", "{matchExpressions: [{key: a, operator: In}]}"),
        )]);
        assert_eq!(errors[0].field, "spec.clusters");
        assert!(errors[0].message.contains("needs at least one value"));
        let (_, errors) = fleet(&[("fleet/a.yaml", &PLACEMENT.replace("kind: store", "canary: true"))]);
        assert_eq!(errors[0].field, "spec.clusters.matchLabels.canary");
        let (_, errors) = fleet(&[(
            "fleet/a.yaml",
            "apiVersion: flotilla.dev/v1alpha1\nkind: Repository\nmetadata: {name: r}\nspec: {url: ftp://x}\n",
        )]);
        assert_eq!(errors[0].field, "spec.url");
    }

    #[test]
    fn rollouts_and_windows_name_the_bad_field() {
        let with = |extra: &str| fleet(&[("fleet/a.yaml", &format!("{PLACEMENT}{extra}"))]).1;
        let good = "  rollout: {waves: [{name: canary, clusters: {matchLabels: {canary: \"true\"}}}, {name: early, percent: 10}, {name: all}], bake: 2h}\n  windows: [{days: [Mon, Sun], start: \"02:00\", end: \"05:00\", timeZone: America/Chicago}]\n";
        assert_eq!(with(good), []);
        let errors = with("  rollout: {waves: [{name: all}], bake: two hours}\n");
        assert_eq!(errors[0].field, "spec.rollout.bake");
        assert_eq!(errors[0].message, "\"two hours\" is not a duration like 2h, 30m or 1h30m");
        assert_eq!(with("  rollout: {waves: []}\n")[0].field, "spec.rollout.waves");
        let errors = with("  rollout: {waves: [{name: all}], halt: {maxFailed: lots}}\n");
        assert_eq!(errors[0].field, "spec.rollout.halt.maxFailed");
        assert_eq!(errors[0].message, "\"lots\" is not a count (5) or a percentage (5%)");
        assert_eq!(with("  rollout: {waves: [{name: all}], halt: {maxFailed: 5%, whenHubUnreachable: proceed}}\n"), []);
        assert_eq!(with("  rollout: {waves: [{name: all}], halt: {maxFailed: 5}}\n"), []);
        let errors = with("  rollout: {waves: [{name: all}], halt: {maxFailed: \"1\", whenHubUnreachable: panic}}\n");
        assert_eq!(errors[0].field, "spec.rollout.halt.whenHubUnreachable", "{errors:?}");
        let zone = with("  windows: [{days: [Mon], start: \"02:00\", end: \"05:00\", timeZone: America/Chicagoo}]\n");
        assert_eq!(zone[0].field, "spec.windows[0].timeZone");
        assert!(zone[0].message.contains("not an IANA time zone"), "{}", zone[0]);
        let end = with("  windows: [{days: [Mon], start: \"02:00\", end: \"5:00\", timeZone: UTC}]\n");
        assert_eq!(end[0].field, "spec.windows[0].end");
        assert_eq!(end[0].message, "\"5:00\" is not HH:MM");
        let days = with("  windows: [{days: [], start: \"02:00\", end: \"05:00\", timeZone: UTC}]\n");
        assert_eq!((days[0].field.as_str(), days[0].message.as_str()), ("spec.windows[0].days", "names no day"));
        let from = with("  freezes: [{from: \"2026-11-20\", to: \"2026-12-01T00:00\", timeZone: UTC}]\n");
        assert_eq!(from[0].field, "spec.freezes[0].from");
    }

    /// The bake, the halt's limit and the windows were strings, checked when the fleet was read
    /// and parsed again where used, with `unwrap_or(0)` (no bake) or `Count(0)` where parsing
    /// failed: only the fleet's reading stood between a typo and a rollout without a bake. Now
    /// the model holds the parsed values, and a rollout that does not read is not a rollout.
    #[test]
    fn a_bad_bake_is_no_rollout_rather_than_a_rollout_without_bake() {
        let rollout = |bake: &str| {
            serde_json::from_value::<Rollout>(serde_json::json!({"waves": [{"name": "all"}], "bake": bake}))
        };
        let error = rollout("two hours").unwrap_err().to_string();
        assert!(error.contains("\"two hours\" is not a duration"), "{error}");
        let read = rollout("1h30m").unwrap();
        assert_eq!(read.bake_seconds(), 5_400, "the parsed value is the one used");
        assert_eq!(serde_json::to_value(&read).unwrap()["bake"], "1h30m", "written back as read");
        let (f, errors) = fleet(&[(
            "fleet/a.yaml",
            &format!("{PLACEMENT}  rollout: {{waves: [{{name: all}}], bake: 2h, halt: {{maxFailed: 5%}}}}\n"),
        )]);
        assert_eq!(errors, []);
        let rollout = f.placements[0].spec.rollout.as_ref().unwrap();
        assert_eq!(rollout.bake_seconds(), 7_200);
        assert_eq!(rollout.halt.as_ref().unwrap().max_failed, Limit::Percent(5));
    }

    #[test]
    fn the_fleet_repository_declares_its_own_rollout_and_nothing_a_commit_must_not_say() {
        let own = "apiVersion: flotilla.dev/v1alpha1\nkind: Repository\nmetadata: {name: fleet}\nspec:\n  rollout: {waves: [{name: canary, clusters: {matchLabels: {canary: \"true\"}}}, {name: everyone}], bake: 4h}\n  windows: [{days: [Mon], start: \"02:00\", end: \"05:00\", timeZone: UTC}]\n  freezes: [{from: \"2026-11-20T00:00\", to: \"2026-12-01T00:00\", timeZone: America/Chicago, reason: holidays}]\n";
        let (f, errors) = fleet(&[("fleet/fleet.yaml", own)]);
        assert_eq!(errors, []);
        let declared = f.own.as_ref().unwrap();
        assert_eq!(declared.spec.rollout.as_ref().unwrap().waves.len(), 2);
        assert!(f.repository(FLEET_REPOSITORY).is_none(), "not a source");
        let field = |extra: &str| fleet(&[("fleet/fleet.yaml", &format!("{own}{extra}"))]).1[0].field.clone();
        assert_eq!(field("  url: https://git.example/fleet.git\n"), "spec.url");
        let off = fleet(&[("fleet/fleet.yaml", &format!("{own}  verify: {{mode: off}}\n"))]).1;
        assert_eq!(off, [], "an explicit default is still a default");
        assert_eq!(field("  verify: {mode: enforce}\n"), "spec.verify");
        let halt = own.replace("bake: 4h}", "bake: 4h, halt: {maxFailed: 1}}");
        assert_eq!(fleet(&[("fleet/f.yaml", &halt)]).1[0].field, "spec.rollout.halt");
        let frozen_badly = own.replace("to: \"2026-12-01T00:00\"", "to: \"2026-11-01T00:00\"");
        assert_eq!(fleet(&[("fleet/f.yaml", &frozen_badly)]).1[0].field, "spec.freezes[0].to");
        let source = "apiVersion: flotilla.dev/v1alpha1\nkind: Repository\nmetadata: {name: app}\nspec: {url: 'https://git.example/a.git', freezes: []}\n---\napiVersion: flotilla.dev/v1alpha1\nkind: Repository\nmetadata: {name: app2}\nspec: {url: 'https://git.example/b.git', rollout: {waves: [{name: all}]}}\n";
        let (_, errors) = fleet(&[("fleet/r.yaml", source)]);
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert_eq!(errors[0].field, "spec.rollout");
        assert!(errors[0].message.contains("only the fleet Repository"), "{}", errors[0]);
    }

    /// The fleet's own URL rule refused the scp-like `git@host:repo` that git fetches and the
    /// agent's `fleet.url` accepted; its name rule took `a..b`, which Kubernetes and the agent's
    /// config refuse. Both are `crate::name`'s now.
    #[test]
    fn a_source_url_and_a_name_follow_the_same_rules_as_the_agent() {
        let repository = |name: &str, url: &str| {
            fleet(&[(
                "fleet/r.yaml",
                &format!(
                    "apiVersion: flotilla.dev/v1alpha1\nkind: Repository\nmetadata: {{name: '{name}'}}\nspec: {{url: '{url}'}}\n"
                ),
            )])
        };
        let (f, errors) = repository("app", "git@github.com:retail/store-app.git");
        assert_eq!(errors, []);
        assert_eq!(f.repositories[0].url(), "git@github.com:retail/store-app.git");
        let errors = repository("app", "github.com:retail/store-app.git").1;
        assert_eq!(errors[0].field, "spec.url");
        assert!(errors[0].message.contains("is not a git URL"), "{}", errors[0]);
        let none = "apiVersion: flotilla.dev/v1alpha1\nkind: Repository\nmetadata: {name: app}\nspec: {}\n";
        let errors = fleet(&[("fleet/r.yaml", none)]).1;
        assert_eq!((errors[0].field.as_str(), errors[0].message.starts_with("missing")), ("spec.url", true));
        let errors = repository("a..b", "https://git.example/a.git").1;
        assert_eq!(errors[0].field, "metadata.name");
        assert!(errors[0].message.contains("is not a DNS-1123 subdomain"), "{}", errors[0]);
    }

    /// A placement's source named its repository with any string, so `Store_App` was read and
    /// only found missing later, by each reader in turn; it is a name by the rule of the names
    /// it refers to, refused where it is written.
    #[test]
    fn a_source_repository_that_could_name_no_repository_is_refused_as_read() {
        let (f, errors) = fleet(&[("fleet/p.yaml", &PLACEMENT.replace("store-app", "Store_App"))]);
        assert_eq!(f.placements.len(), 0);
        assert_eq!((errors[0].file.as_str(), errors[0].field.as_str()), ("fleet/p.yaml", "spec.source.repository"));
        assert!(errors[0].message.contains("\"Store_App\" is not a DNS-1123 subdomain"), "{}", errors[0]);
        let (f, errors) = fleet(&[("fleet/p.yaml", PLACEMENT)]);
        assert_eq!(errors, []);
        assert_eq!(f.placements[0].spec.source.repository(), Some("store-app"));
        assert_eq!(f.placements[0].name(), "bt");
    }

    /// A placement's `namespace` was any string: `Bt_Store` was read, put on every object,
    /// and refused only by the cluster's API server, object by object.
    #[test]
    fn a_placement_namespace_is_a_namespace_name() {
        let with = |namespace: &str| {
            fleet(&[(
                "fleet/p.yaml",
                &PLACEMENT.replace("  clusters:", &format!("  namespace: {namespace}\n  clusters:")),
            )])
        };
        let errors = with("Bt_Store").1;
        assert_eq!(errors[0].field, "spec.namespace");
        assert!(errors[0].message.contains("\"Bt_Store\" is not a DNS-1123 label"), "{}", errors[0]);
        assert!(with("bt.store").1[0].message.contains("is not a DNS-1123 label"), "a label: no dots");
        let (f, errors) = with("bt");
        assert_eq!(errors, []);
        assert_eq!(f.placements[0].spec.namespace.as_deref(), Some("bt"));
    }

    #[test]
    fn invalid_yaml_names_the_file() {
        let (_, errors) = fleet(&[("fleet/a.yaml", "a: [\n")]);
        assert_eq!((errors[0].file.as_str(), errors[0].document), ("fleet/a.yaml", 0));
    }

    #[test]
    fn duplicates_are_refused() {
        let (f, errors) = fleet(&[("fleet/a.yaml", PLACEMENT), ("fleet/b.yaml", PLACEMENT)]);
        assert_eq!(f.placements.len(), 1);
        assert_eq!(errors[0].file, "fleet/b.yaml");
        assert!(errors[0].message.contains("declared twice (first in fleet/a.yaml)"));
    }

    #[test]
    fn selection_uses_declared_labels_and_reports_mismatch() {
        let (f, _) = fleet(&[
            ("fleet/p.yaml", PLACEMENT),
            (
                "fleet/c.yaml",
                "apiVersion: flotilla.dev/v1alpha1\nkind: Cluster\nmetadata: {name: s1, labels: {kind: store}}\nspec: {environment: prod}\n",
            ),
        ]);
        let me = ClusterIdentity { name: "s1".parse().unwrap(), environment: "prod".into(), labels: Labels::new() };
        let sel = f.select(&me);
        assert_eq!(sel.placements.len(), 1);
        assert!(sel.mismatch.unwrap().contains("labels {kind=store} in the fleet repository, {} in the agent config"));
        let other = ClusterIdentity { name: "c1".parse().unwrap(), environment: "prod".into(), labels: Labels::new() };
        assert_eq!(f.select(&other).placements.len(), 0);
    }
}
