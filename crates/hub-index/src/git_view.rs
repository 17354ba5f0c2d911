//! The hub's view of the fleet from git: what each cluster should run, and how far behind it is.
//!
//! [`FleetView::load`] fetches the fleet repository's environment branches and, for every
//! placement, its source repository's branch, keeping heads and first-parent histories. From
//! that plain data, [`FleetView::expected`] answers what a cluster's agent should report as its
//! source commit and desired digest (rendering as the agent does, memoized so that a fleet of
//! stores sharing labels costs a handful of renders), [`FleetView::lag`] how many commits and
//! since when a cluster's applied commit is behind its branch (since the next commit reached
//! the branch: its arrival, which the hub records after each load, see `arrivals`), and
//! [`FleetView::promotion`] which `dev` commits `prod` does not have yet.
//! [`FleetView::scenario`] and [`FleetView::preview`] answer what a cluster would be expected to
//! run if one repository's environment branch were at another commit (the preview of a merge,
//! see `preview`), with the same memo.
//!
//! A placement's chart from a Helm repository (`source.chart`) is fetched as the agent fetches it
//! (`flotilla-charts`, cached by digest beside the git cache), once per load: its "head" is the
//! digest of the archive the range takes now, which is what agents report as its source commit.
//!
//! It never connects to a cluster and never writes to git. It is not the report index (see
//! `index`), and it keeps no state between loads except what [`FleetView::keep_renders_from`]
//! carries over and the arrivals the hub sets on it ([`FleetView::set_arrivals`]). Loading is blocking IO; the server runs it off the async runtime.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::fmt;
use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use flotilla_core::fleet::{ChartRef, ClusterIdentity, FLEET_REPOSITORY, Fleet, Object, Placement, Policy, VerifyMode};
use flotilla_core::render::{self, Prepared, RenderKey, Rendered};
use flotilla_core::report::Kubernetes;
use flotilla_core::rollout::{self, Arrival, Arrivals};
use flotilla_core::selector::Labels;
use flotilla_core::snapshot::Snapshot;
use flotilla_git::{Cache, CommitId, Signature, Source};
use serde::{Serialize, Serializer};
use serde_json::Value;

/// How many first-parent commits of each branch are kept (and listed for a promotion).
pub const HISTORY_LIMIT: usize = 1000;

/// The environments loaded when the caller names none, if the fleet repository has them.
const DEFAULT_ENVIRONMENTS: [&str; 2] = ["dev", "prod"];

/// How the hub renders: with the agents' default render budget (`render::Options::default`,
/// agent.yaml's `render` unset), so that both compute the same digest and refuse the same
/// fan-outs. A placement that renders only within an agent's larger budget fails to render
/// here.
const RENDER_OPTIONS: render::Options = render::Options::DEFAULT;

/// How the hub renders for a cluster whose reports said its Kubernetes is `kubernetes` (what
/// a chart's `.Capabilities` reads; `None`: Helm's defaults, as for a cluster that never said),
/// within the render budget agents keep by default.
pub fn render_options(kubernetes: Option<&Kubernetes>) -> render::Options {
    kubernetes.map_or(RENDER_OPTIONS, |k| RENDER_OPTIONS.for_kubernetes(k))
}

/// Why the fleet could not be loaded at all. Everything past the fleet repository's fetch is
/// kept per environment or per placement instead.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("fetching every branch of the fleet repository: {source}")]
    Fetch { source: flotilla_git::Error },
    #[error("{url}: the fleet repository has neither a dev nor a prod branch; name the environments to load")]
    NoEnvironments { url: String },
}

/// One commit of a branch's first-parent history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Commit {
    #[serde(serialize_with = "display")]
    pub id: CommitId,
    /// Committer time, seconds since the Unix epoch: shown, never what a rollout or the lag is
    /// timed by (whoever commits sets it; see [`Branch::arrival`]).
    pub time: i64,
    /// Its tree: a rollout sees a revert by it.
    pub tree: String,
    pub summary: String,
}

/// A commit as the API shows it.
fn api_commit(c: flotilla_git::Commit) -> crate::api::Commit {
    crate::api::Commit { id: c.id.to_string(), time: c.time, tree: c.tree, summary: c.summary }
}

impl From<flotilla_git::Commit> for Commit {
    fn from(c: flotilla_git::Commit) -> Commit {
        Commit { id: c.id, time: c.time, tree: c.tree, summary: c.summary }
    }
}

/// A branch of a repository as the last load found it.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Branch {
    pub url: String,
    pub branch: String,
    #[serde(serialize_with = "display_opt")]
    pub head: Option<CommitId>,
    /// First-parent history from the head, newest first, at most [`HISTORY_LIMIT`] commits.
    pub history: Vec<Commit>,
    /// Why the branch could not be fetched or read (then there is no head).
    pub error: Option<String>,
    /// Each history commit's index, for [`FleetView::lag`] over many clusters.
    #[serde(skip)]
    positions: HashMap<CommitId, usize>,
    /// When the commits of the history reached the branch, as the hub recorded them
    /// ([`FleetView::set_arrivals`]); empty until then.
    #[serde(skip)]
    arrivals: Arrivals,
}

impl Branch {
    fn new(url: &str, branch: &str, head: Option<CommitId>, history: Vec<Commit>, error: Option<String>) -> Branch {
        let positions = history.iter().enumerate().map(|(i, c)| (c.id, i)).collect();
        Branch {
            url: url.to_string(),
            branch: branch.to_string(),
            head,
            history,
            error,
            positions,
            arrivals: Arrivals::default(),
        }
    }

    /// The commits whose arrivals are kept: the newest [`rollout::HISTORY`] of the history, as
    /// one look at the branch (`None` when the branch could not be read: a failed fetch is no
    /// look, and must not make its commits leave the branch).
    pub fn look(&self) -> Option<Vec<String>> {
        if self.head.is_none() || self.error.is_some() {
            return None;
        }
        Some(self.history.iter().take(rollout::HISTORY).map(|c| c.id.to_string()).collect())
    }

    /// When `commit` reached the branch (unix seconds), if the hub recorded it.
    pub fn arrival(&self, commit: &str) -> Option<i64> {
        self.arrivals.at(commit)
    }

    /// The branch's arrivals as recorded.
    pub fn arrivals(&self) -> &Arrivals {
        &self.arrivals
    }

    /// The arrivals of the newest `limit` commits of the history, newest first, as published.
    pub fn published(&self, limit: usize) -> Vec<Arrival> {
        let ids: Vec<String> = self.history.iter().take(limit).map(|c| c.id.to_string()).collect();
        let ids: Vec<&str> = ids.iter().map(String::as_str).collect();
        self.arrivals.of(&ids)
    }

    /// Reads a fetched branch's head and history from the cache.
    fn read(cache: &Cache, url: &str, branch: &str, head: CommitId) -> Branch {
        match cache.history(url, head, None, HISTORY_LIMIT) {
            Ok(history) => Branch::new(url, branch, Some(head), history.into_iter().map(Commit::from).collect(), None),
            Err(e) => {
                Branch::new(url, branch, Some(head), Vec::new(), Some(format!("history of branch {branch:?}: {e}")))
            }
        }
    }

    fn failed(url: &str, branch: &str, error: String) -> Branch {
        Branch::new(url, branch, None, Vec::new(), Some(error))
    }
}

/// Where a placement's source stands for clusters of one environment.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SourceAt {
    /// The source repository (the fleet repository for `repository: fleet`); `None` when the
    /// repository is not declared.
    pub url: Option<String>,
    pub branch: Option<String>,
    #[serde(serialize_with = "display_opt")]
    pub head: Option<CommitId>,
    /// The verified signer of the head, when the repository's `verify` policy found one.
    pub signer: Option<String>,
    /// Why an agent cannot take the head: the repository is not declared, the branch cannot be
    /// fetched, or the head fails verification. Other placements are not affected.
    pub error: Option<String>,
}

/// One placement as one environment's fleet branch declares it, and where its source stands.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PlacementSource {
    #[serde(serialize_with = "object")]
    pub placement: Placement,
    /// The name of the source repository (`fleet` for the fleet repository itself).
    pub repository: String,
    /// The source for clusters of this environment.
    #[serde(flatten)]
    pub source: SourceAt,
    /// The source for clusters that this fleet branch declares in another environment: their
    /// agents read this fleet branch, and take the source from their declared environment's branch.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub other_environments: BTreeMap<String, SourceAt>,
}

/// One environment: the fleet branch of its name, and what it declares.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Environment {
    pub name: String,
    /// The head of the fleet repository's branch of this name.
    #[serde(serialize_with = "display_opt")]
    pub fleet_head: Option<CommitId>,
    /// Why the fleet branch could not be read (then nothing else is known of the environment).
    pub error: Option<String>,
    /// Broken fleet documents, each naming file, document and field; the rest was read.
    pub warnings: Vec<String>,
    /// By placement name.
    pub placements: BTreeMap<String, PlacementSource>,
    #[serde(serialize_with = "objects")]
    pub policies: Vec<Policy>,
    /// The fleet objects as read, for selecting a cluster's placements as its agent does.
    #[serde(skip)]
    fleet: Fleet,
}

impl Environment {
    fn failed(name: &str, error: String) -> Environment {
        Environment {
            name: name.to_string(),
            fleet_head: None,
            error: Some(error),
            warnings: Vec::new(),
            placements: BTreeMap::new(),
            policies: Vec::new(),
            fleet: Fleet::default(),
        }
    }
}

/// A cluster the fleet repository declares (a `Cluster` object): the hub expects its reports.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DeclaredCluster {
    pub name: String,
    pub environment: String,
    pub labels: Labels,
    /// The fleet branch the declaration was taken from: the cluster's own environment's when it
    /// declares it, otherwise the first that does.
    pub declared_in: String,
}

/// What one placement's agent on a cluster should report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Expected {
    pub placement: String,
    /// The report's `sourceCommit`. `None` where the agent reports none: the source cannot be
    /// fetched, verified or rendered.
    #[serde(serialize_with = "display_opt")]
    pub source_commit: Option<CommitId>,
    /// The report's `desiredDigest`.
    pub digest: Option<String>,
    /// Why there is no commit or digest, in the agent's words.
    pub error: Option<String>,
}

impl Expected {
    fn failed(placement: &str, error: String) -> Expected {
        Expected { placement: placement.to_string(), source_commit: None, digest: None, error: Some(error) }
    }

    /// The placement at `head`, rendered to a digest or not.
    fn rendered(placement: &str, head: CommitId, digest: Result<String, String>) -> Expected {
        match digest {
            Ok(digest) => Expected {
                placement: placement.to_string(),
                source_commit: Some(head),
                digest: Some(digest),
                error: None,
            },
            Err(error) => Expected::failed(placement, error),
        }
    }
}

/// How far an applied commit is behind its branch's head.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Lag {
    /// The branch head; `None` when the placement or its source is unknown.
    #[serde(serialize_with = "display_opt")]
    pub head: Option<CommitId>,
    /// 0 on the head; `None` when the commit is not among the kept first-parent history.
    pub commits_behind: Option<usize>,
    /// Unix seconds: when the first commit after the applied one reached the branch (its
    /// arrival, never a date the commit carries), that is since when the cluster has been
    /// behind. `None` on the head or when unknown.
    pub behind_since: Option<i64>,
}

/// Why a preview cannot be made: what the request names is not known to the hub. Each variant
/// names the request's field ([`PreviewError::field`]).
#[derive(Debug, thiserror::Error)]
pub enum PreviewError {
    #[error("no environment {environment:?}: the hub follows {followed}")]
    Environment { environment: String, followed: String },
    #[error("environment {environment:?}: its fleet branch cannot be read: {error}")]
    FleetBranch { environment: String, error: String },
    #[error("no repository {repository:?} in environment {environment:?}: its fleet branch declares {declared}")]
    Repository { repository: String, environment: String, declared: String },
    #[error(
        "searched repository {repository:?} ({url}): {reference:?} is neither a branch the hub fetched ({branches}) nor a commit in its git cache"
    )]
    Ref { repository: String, url: String, reference: String, branches: String },
}

impl PreviewError {
    /// The request field that names what is unknown.
    pub fn field(&self) -> &'static str {
        match self {
            PreviewError::Environment { .. } | PreviewError::FleetBranch { .. } => "environment",
            PreviewError::Repository { .. } => "repository",
            PreviewError::Ref { .. } => "ref",
        }
    }
}

/// Why a repository's branch has no arrivals to publish. Each variant but the last names what
/// the request asked for that the hub does not know ([`ArrivalsError::field`]).
#[derive(Debug, thiserror::Error)]
pub enum ArrivalsError {
    #[error("no environment {environment:?}: the hub follows {followed}")]
    Environment { environment: String, followed: String },
    #[error("no repository {repository:?} in environment {environment:?}: its fleet branch declares {declared}")]
    Repository { repository: String, environment: String, declared: String },
    #[error(
        "repository {repository:?}: the hub does not follow its branch {branch:?}, as no placement of environment {environment:?} reads it"
    )]
    NotFollowed { repository: String, branch: String, environment: String },
    /// The branch (or the environment's fleet branch) cannot be read now.
    #[error("{0}")]
    Unreadable(String),
}

impl ArrivalsError {
    /// The request field that names what is unknown; `None` when the branch cannot be read.
    pub fn field(&self) -> Option<&'static str> {
        match self {
            ArrivalsError::Environment { .. } => Some("environment"),
            ArrivalsError::Repository { .. } | ArrivalsError::NotFollowed { .. } => Some("repository"),
            ArrivalsError::Unreadable(_) => None,
        }
    }
}

/// An environment as it would be if the environment branch of one repository were at another
/// commit: what [`FleetView::preview`] renders. Made by [`FleetView::scenario`].
#[derive(Debug, Clone)]
pub struct Scenario {
    pub environment: String,
    /// The repository whose branch moves (`fleet` for the fleet repository).
    pub repository: String,
    /// The branch or commit id asked for.
    pub reference: String,
    /// What `reference` names.
    pub commit: CommitId,
    /// The repository's URL.
    pub url: String,
    /// Broken fleet documents at `commit` when the fleet repository moves; the rest was read.
    pub warnings: Vec<String>,
    /// The fleet commit the environment's agents would read, and its objects when they are not
    /// the environment's current ones.
    fleet_commit: CommitId,
    fleet: Option<Fleet>,
}

/// The fleet as git says it is: environments, sources with their histories, declared clusters,
/// promotions, and a memo of renders. Plain data once loaded, shared by the views.
pub struct FleetView {
    fleet_url: String,
    environments: BTreeMap<String, Environment>,
    /// Source and fleet branches: url → branch → branch state.
    branches: BTreeMap<String, BTreeMap<String, Branch>>,
    clusters: Vec<DeclaredCluster>,
    /// By repository name (`fleet` included).
    promotions: BTreeMap<String, crate::api::Promotion>,
    cache: Cache,
    /// Charts from Helm repositories, fetched as agents fetch them.
    charts: flotilla_charts::Charts,
    memo: Mutex<Memo>,
}

impl fmt::Debug for FleetView {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FleetView")
            .field("fleet_url", &self.fleet_url)
            .field("environments", &self.environments.keys().collect::<Vec<_>>())
            .field("branches", &self.branches.values().map(BTreeMap::len).sum::<usize>())
            .field("clusters", &self.clusters.len())
            .field("renders", &self.renders())
            .finish_non_exhaustive()
    }
}

impl Clone for FleetView {
    fn clone(&self) -> FleetView {
        FleetView {
            fleet_url: self.fleet_url.clone(),
            environments: self.environments.clone(),
            branches: self.branches.clone(),
            clusters: self.clusters.clone(),
            promotions: self.promotions.clone(),
            cache: self.cache.clone(),
            charts: self.charts.clone(),
            memo: Mutex::new(self.memo().clone()),
        }
    }
}

impl FleetView {
    /// Fetches the fleet repository (every branch, full history) and reads the fleet objects at
    /// the head of each environment's branch: `environments`, or `dev` and `prod` where those
    /// branches exist, plus every environment a declared `Cluster` names. Then fetches each
    /// placement's source branch, with its first-parent history. Blocking.
    ///
    /// Only a fleet repository that cannot be fetched fails the load; a missing environment
    /// branch, a broken fleet document or a source that cannot be fetched is kept on its
    /// environment or placement, and the rest is loaded.
    pub fn load(cache_dir: &Path, fleet: &Source, environments: &[&str]) -> Result<FleetView, Error> {
        FleetView::load_with_charts(cache_dir, fleet, None, environments)
    }

    /// [`FleetView::load`], fetching the charts placements name from Helm repositories with
    /// `chart_credentials` (the hub's `--chart-credentials-file`), cached in `CACHE_DIR/charts`.
    pub fn load_with_charts(
        cache_dir: &Path,
        fleet: &Source,
        chart_credentials: Option<flotilla_git::Credentials>,
        environments: &[&str],
    ) -> Result<FleetView, Error> {
        let cache = Cache::new(cache_dir);
        let charts = flotilla_charts::Charts::new(cache_dir.join("charts")).with_credentials(chart_credentials);
        let url = fleet.url.clone();
        cache.fetch(fleet, &["*"]).map_err(|source| Error::Fetch { source })?;
        let mut wanted: Vec<String> = environments.iter().map(ToString::to_string).collect();
        if wanted.is_empty() {
            wanted =
                DEFAULT_ENVIRONMENTS.iter().filter(|b| cache.head(&url, b).is_ok()).map(ToString::to_string).collect();
            if wanted.is_empty() {
                return Err(Error::NoEnvironments { url });
            }
        }

        let mut view = FleetView {
            fleet_url: url.clone(),
            environments: BTreeMap::new(),
            branches: BTreeMap::new(),
            clusters: Vec::new(),
            promotions: BTreeMap::new(),
            cache: cache.clone(),
            charts,
            memo: Mutex::new(Memo::default()),
        };
        // Declared clusters may name environments not asked for: their agents read those too.
        while let Some(name) = wanted.pop() {
            if view.environments.contains_key(&name) {
                continue;
            }
            let environment = view.read_environment(&name);
            wanted.extend(environment.fleet.clusters.iter().map(|c| c.spec.environment.clone()));
            view.environments.insert(name, environment);
        }
        view.locate_sources(fleet);
        view.clusters = declared_clusters(&view.environments);
        view.promotions = view.read_promotions();
        Ok(view)
    }

    /// Reads the fleet branch `name`: its head, history and fleet objects.
    fn read_environment(&mut self, name: &str) -> Environment {
        let url = self.fleet_url.clone();
        // Every branch was fetched: one missing from the cache is missing on the server.
        let Ok(head) = self.cache.head(&url, name) else {
            let error = format!("{url}: the fleet repository has no branch {name:?}");
            self.insert_branch(Branch::failed(&url, name, error.clone()));
            return Environment::failed(name, error);
        };
        self.insert_branch(Branch::read(&self.cache, &url, name, head));
        let snapshot = match self.cache.snapshot(&url, head) {
            Ok(snapshot) => snapshot,
            Err(e) => return Environment::failed(name, format!("branch {name:?}: {e}")),
        };
        let (fleet, errors) = Fleet::from_snapshot(&snapshot);
        // Placements whose source is the fleet repository render from this very snapshot.
        self.memo().snapshots.insert((url, head), Arc::new(snapshot));
        Environment {
            name: name.to_string(),
            fleet_head: Some(head),
            error: None,
            warnings: errors.iter().map(ToString::to_string).collect(),
            placements: BTreeMap::new(),
            policies: fleet.policies.clone(),
            fleet,
        }
    }

    fn insert_branch(&mut self, branch: Branch) {
        self.branches.entry(branch.url.clone()).or_default().insert(branch.branch.clone(), branch);
    }

    fn branch_state(&self, url: &str, branch: &str) -> Option<&Branch> {
        self.branches.get(url).and_then(|b| b.get(branch))
    }

    /// Fetches every source branch the environments' placements read, one fetch per repository,
    /// and records where each placement's source stands.
    fn locate_sources(&mut self, fleet: &Source) {
        // Which branches of which repository are needed.
        let mut needed: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for environment in self.environments.values() {
            for placement in &environment.fleet.placements {
                // The fleet repository is fetched already; a chart is no git repository.
                let Some(repo_name) = placement.spec.source.repository().filter(|r| *r != FLEET_REPOSITORY) else {
                    continue;
                };
                if let Some(repo) = environment.fleet.repository(repo_name) {
                    for source_env in source_environments(environment) {
                        needed.entry(repo.url().to_string()).or_default().insert(repo.branch(&source_env));
                    }
                }
            }
        }
        for (url, branches) in needed {
            // A source repository that is also the fleet repository is fetched already.
            let missing: Vec<&str> =
                branches.iter().map(String::as_str).filter(|b| self.branch_state(&url, b).is_none()).collect();
            if missing.is_empty() {
                continue;
            }
            let source = Source { url: url.clone(), credentials: fleet.credentials.clone() };
            for branch in fetch_branches(&self.cache, &source, &missing) {
                self.insert_branch(branch);
            }
        }

        let names: Vec<String> = self.environments.keys().cloned().collect();
        for name in names {
            let environment = &self.environments[&name];
            let placements: BTreeMap<String, PlacementSource> = environment
                .fleet
                .placements
                .iter()
                .map(|placement| {
                    if let Some(chart) = &placement.spec.source.chart {
                        // One version for every environment: the range's, now.
                        let at = self.chart_source(placement, chart);
                        let source = PlacementSource {
                            placement: placement.clone(),
                            repository: chart.location(),
                            other_environments: source_environments(environment)
                                .filter(|e| *e != name)
                                .map(|e| (e, at.clone()))
                                .collect(),
                            source: at,
                        };
                        return (placement.name().to_string(), source);
                    }
                    let other_environments = if placement.spec.source.is_fleet() {
                        BTreeMap::new()
                    } else {
                        source_environments(environment)
                            .filter(|e| *e != name)
                            .map(|e| {
                                let at = self.source_at(environment, placement, &e);
                                (e, at)
                            })
                            .collect()
                    };
                    let source = PlacementSource {
                        placement: placement.clone(),
                        repository: placement.spec.source.repository().unwrap_or_default().to_string(),
                        source: self.source_at(environment, placement, &name),
                        other_environments,
                    };
                    (placement.name().to_string(), source)
                })
                .collect();
            self.environments.get_mut(&name).expect("the environment was just read").placements = placements;
        }
    }

    /// Where a placement of `environment`'s fleet branch takes its source for clusters of
    /// `source_env`, as the agent's `locate` and verification decide it.
    fn source_at(&self, environment: &Environment, placement: &Placement, source_env: &str) -> SourceAt {
        let Some(repo_name) = placement.spec.source.repository() else {
            return SourceAt { error: Some("no source repository".into()), ..SourceAt::default() };
        };
        if repo_name == FLEET_REPOSITORY {
            // The agent renders from the fleet commit it read the placement from.
            return SourceAt {
                url: Some(self.fleet_url.clone()),
                branch: Some(environment.name.clone()),
                head: environment.fleet_head,
                signer: None,
                error: None,
            };
        }
        let repo = match environment.fleet.source_repository(repo_name) {
            Ok(repo) => repo,
            Err(error) => return SourceAt { error: Some(error), ..SourceAt::default() },
        };
        let url = repo.url();
        let branch = repo.branch(source_env);
        let mut at = SourceAt { url: Some(url.to_string()), branch: Some(branch.clone()), ..SourceAt::default() };
        let Some(state) = self.branch_state(url, &branch) else {
            at.error = Some(format!("{url}: branch {branch:?} was not fetched"));
            return at;
        };
        at.head = state.head;
        at.error.clone_from(&state.error);
        if let (Some(head), None, false) = (at.head, &at.error, repo.spec.verify.mode == VerifyMode::Off) {
            match self.cache.verify(url, head, &repo.spec.verify) {
                Err(e) => at.error = Some(e.to_string()),
                Ok(verdict) if !verdict.allowed => {
                    at.error = Some(format!("{url} at {head}: {}", verdict.reason().unwrap_or_default()));
                }
                Ok(verdict) => {
                    if let Signature::Verified { signer, .. } = verdict.signature {
                        at.signer = Some(signer);
                    }
                }
            }
        }
        at
    }

    /// Where a chart placement's chart stands: the archive its range takes now, as its head
    /// (what its agents report as their source commit), or why it cannot be fetched in the
    /// agent's words.
    fn chart_source(&self, placement: &Placement, chart: &ChartRef) -> SourceAt {
        match self.chart_at(chart) {
            Ok((url, head)) => SourceAt { url: Some(url), head: Some(head), ..SourceAt::default() },
            Err(e) => SourceAt {
                url: Some(chart.location()),
                error: Some(format!(
                    "placement {} ({}): field spec.source.chart: {e}",
                    placement.name(),
                    placement.file
                )),
                ..SourceAt::default()
            },
        }
    }

    /// The chart `chart` names, fetched once per view (blocking): its location and digest; its
    /// files are in the memo's snapshots under them.
    fn chart_at(&self, chart: &ChartRef) -> Result<(String, CommitId), String> {
        let key = format!("{}\n{}\n{}", chart.url, chart.name, chart.version.as_deref().unwrap_or_default());
        if let Some(found) = self.memo().charts.get(&key).cloned() {
            return found;
        }
        let location = chart.location();
        let fetched = self.charts.fetch(chart).map_err(|e| e.to_string()).map(|fetched| {
            self.memo().snapshots.insert((location.clone(), fetched.id), Arc::new(fetched.snapshot));
            (location, fetched.id)
        });
        self.memo().charts.insert(key, fetched.clone());
        fetched
    }

    /// For the fleet repository and every declared repository: what dev has that prod has not.
    fn read_promotions(&self) -> BTreeMap<String, crate::api::Promotion> {
        let mut repositories: BTreeMap<String, (String, String, String)> = BTreeMap::new();
        repositories.insert(FLEET_REPOSITORY.to_string(), (self.fleet_url.clone(), "dev".into(), "prod".into()));
        // The prod fleet branch's declaration wins, then dev's, then any other's.
        let order = ["prod", "dev"]
            .into_iter()
            .filter_map(|e| self.environments.get(e))
            .chain(self.environments.values().filter(|e| e.name != "prod" && e.name != "dev"));
        for environment in order {
            for repo in &environment.fleet.repositories {
                repositories
                    .entry(repo.name().to_string())
                    .or_insert_with(|| (repo.url().to_string(), repo.branch("dev"), repo.branch("prod")));
            }
        }
        let mut promotions = BTreeMap::new();
        for (name, (url, dev_branch, prod_branch)) in repositories {
            let head = |branch: &str| self.branch_state(&url, branch).and_then(|b| b.head);
            let (Some(dev), Some(prod)) = (head(&dev_branch), head(&prod_branch)) else {
                continue;
            };
            let (commits, error) = match self.cache.history_not_in(&url, dev, prod, HISTORY_LIMIT) {
                Ok(commits) => (commits.into_iter().map(api_commit).collect(), None),
                Err(e) => (Vec::new(), Some(e.to_string())),
            };
            promotions.insert(name, crate::api::Promotion { url, dev_branch, prod_branch, commits, error });
        }
        promotions
    }

    /// The fleet repository's URL.
    pub fn fleet_url(&self) -> &str {
        &self.fleet_url
    }

    /// Every loaded environment, by name.
    pub fn environments(&self) -> &BTreeMap<String, Environment> {
        &self.environments
    }

    pub fn environment(&self, name: &str) -> Option<&Environment> {
        self.environments.get(name)
    }

    /// A placement of an environment's fleet branch, with its source.
    pub fn placement(&self, environment: &str, placement: &str) -> Option<&PlacementSource> {
        self.environments.get(environment).and_then(|e| e.placements.get(placement))
    }

    /// A fetched branch of a repository (source or fleet), with its head and history.
    pub fn branch(&self, url: &str, branch: &str) -> Option<&Branch> {
        self.branch_state(url, branch)
    }

    /// Every fetched branch (fleet and source), by URL then branch.
    pub fn branches(&self) -> impl Iterator<Item = &Branch> {
        self.branches.values().flat_map(BTreeMap::values)
    }

    /// Sets when the commits of `url`'s `branch` reached it (see `arrivals`); nothing when the
    /// branch was not fetched.
    pub fn set_arrivals(&mut self, url: &str, branch: &str, arrivals: Arrivals) {
        if let Some(b) = self.branches.get_mut(url).and_then(|b| b.get_mut(branch)) {
            b.arrivals = arrivals;
        }
    }

    /// The branch of `repository` (`fleet`: the fleet repository) that clusters of
    /// `environment` take: what `GET /api/v1/arrivals/{repository}` answers about.
    pub fn repository_branch(&self, environment: &str, repository: &str) -> Result<&Branch, ArrivalsError> {
        let Some(env) = self.environments.get(environment) else {
            let followed: Vec<&str> = self.environments.keys().map(String::as_str).collect();
            return Err(ArrivalsError::Environment {
                environment: environment.to_string(),
                followed: followed.join(", "),
            });
        };
        if env.fleet_head.is_none() {
            let error = env.error.clone().unwrap_or_default();
            return Err(ArrivalsError::Unreadable(format!("environment {environment:?}: its fleet branch: {error}")));
        }
        let (url, branch) = if repository == FLEET_REPOSITORY {
            (self.fleet_url.clone(), environment.to_string())
        } else if let Some(repo) = env.fleet.repository(repository) {
            (repo.url().to_string(), repo.branch(environment))
        } else {
            let mut declared: Vec<&str> = vec![FLEET_REPOSITORY];
            declared.extend(env.fleet.repositories.iter().map(flotilla_core::fleet::Object::name));
            return Err(ArrivalsError::Repository {
                repository: repository.to_string(),
                environment: environment.to_string(),
                declared: declared.join(", "),
            });
        };
        let Some(state) = self.branch_state(&url, &branch) else {
            return Err(ArrivalsError::NotFollowed {
                repository: repository.to_string(),
                branch,
                environment: environment.to_string(),
            });
        };
        match &state.error {
            Some(error) => Err(ArrivalsError::Unreadable(error.clone())),
            None => Ok(state),
        }
    }

    /// The source branch of a placement in an environment (its history is the lag's yardstick).
    pub fn source_branch(&self, environment: &str, placement: &str) -> Option<&Branch> {
        let source = &self.placement(environment, placement)?.source;
        self.branch_state(source.url.as_deref()?, source.branch.as_deref()?)
    }

    /// The clusters the fleet repository declares, one per name.
    pub fn clusters(&self) -> &[DeclaredCluster] {
        &self.clusters
    }

    /// Every repository's pending promotion, by repository name (`fleet` for the fleet
    /// repository). Only repositories whose `dev` and `prod` branches were both loaded.
    pub fn promotions(&self) -> &BTreeMap<String, crate::api::Promotion> {
        &self.promotions
    }

    /// The commits on `repository`'s dev branch (its environment-to-branch mapping applied) that
    /// prod does not have, newest first. Empty when everything is promoted, or when the
    /// repository or one of its two branches is unknown (see [`FleetView::promotions`]).
    pub fn promotion(&self, repository: &str) -> Vec<crate::api::Commit> {
        self.promotions.get(repository).map(|p| p.commits.clone()).unwrap_or_default()
    }

    /// How far `applied_commit` is behind the head of the placement's source branch in
    /// `environment`.
    pub fn lag(&self, environment: &str, placement: &str, applied_commit: &str) -> Lag {
        let unknown = Lag { head: None, commits_behind: None, behind_since: None };
        let Some(branch) = self.source_branch(environment, placement) else {
            return unknown;
        };
        let position = applied_commit.parse::<CommitId>().ok().and_then(|c| branch.positions.get(&c).copied());
        Lag {
            head: branch.head,
            commits_behind: position,
            behind_since: position
                .filter(|p| *p > 0)
                .and_then(|p| branch.arrival(&branch.history[p - 1].id.to_string())),
        }
    }

    /// What the agent of `identity` reports for each placement that selects it: the source
    /// commit and desired digest it should have, computed as the agent does (the fleet branch of
    /// the configured environment; the fleet's declaration of the cluster wins over `identity`).
    /// Empty when the environment is not loaded or its fleet branch cannot be read.
    ///
    /// May read source snapshots from the git cache (blocking) the first time a commit renders.
    /// `options`: [`render_options`] of the cluster.
    pub fn expected(&self, identity: &ClusterIdentity, options: &render::Options) -> Vec<Expected> {
        let Some(environment) = self.environments.get(&identity.environment) else {
            return Vec::new();
        };
        let Some(fleet_commit) = environment.fleet_head else {
            return Vec::new();
        };
        let selection = environment.fleet.select(identity);
        let source_env = &selection.identity.environment;
        selection
            .placements
            .iter()
            .map(|placement| {
                let name = placement.name();
                let Some(entry) = environment.placements.get(name) else {
                    return Expected::failed(name, "the placement was not located".into());
                };
                let at = if *source_env == environment.name || entry.repository == FLEET_REPOSITORY {
                    &entry.source
                } else if let Some(at) = entry.other_environments.get(source_env) {
                    at
                } else {
                    return Expected::failed(name, format!("environment {source_env:?} was not loaded"));
                };
                if let Some(error) = &at.error {
                    return Expected::failed(name, error.clone());
                }
                let (Some(url), Some(head)) = (&at.url, at.head) else {
                    return Expected::failed(name, "the source has no head".into());
                };
                Expected::rendered(
                    name,
                    head,
                    self.digest(fleet_commit, placement, url, head, &selection.identity, options),
                )
            })
            .collect()
    }

    /// The environment `environment` as it would be if `repository`'s branch for it were at
    /// `reference`: a branch the hub fetched, or a full commit id in its git cache. For the fleet
    /// repository, the fleet objects are read at that commit; for a source repository, the
    /// environment's current fleet is kept. Blocking: reads the commit from the git cache.
    pub fn scenario(&self, environment: &str, repository: &str, reference: &str) -> Result<Scenario, PreviewError> {
        let Some(env) = self.environments.get(environment) else {
            let followed: Vec<&str> = self.environments.keys().map(String::as_str).collect();
            return Err(PreviewError::Environment {
                environment: environment.to_string(),
                followed: followed.join(", "),
            });
        };
        let Some(fleet_head) = env.fleet_head else {
            return Err(PreviewError::FleetBranch {
                environment: environment.to_string(),
                error: env.error.clone().unwrap_or_default(),
            });
        };
        let url = if repository == FLEET_REPOSITORY {
            self.fleet_url.clone()
        } else if let Some(repo) = env.fleet.repository(repository) {
            repo.url().to_string()
        } else {
            let mut declared: Vec<&str> = vec![FLEET_REPOSITORY];
            declared.extend(env.fleet.repositories.iter().map(flotilla_core::fleet::Object::name));
            return Err(PreviewError::Repository {
                repository: repository.to_string(),
                environment: environment.to_string(),
                declared: declared.join(", "),
            });
        };
        let Some(commit) = self.resolve(&url, reference) else {
            let branches: Vec<&str> =
                self.branches.get(&url).into_iter().flat_map(BTreeMap::keys).map(String::as_str).collect();
            return Err(PreviewError::Ref {
                repository: repository.to_string(),
                url,
                reference: reference.to_string(),
                branches: if branches.is_empty() { "none".to_string() } else { branches.join(", ") },
            });
        };
        let mut scenario = Scenario {
            environment: environment.to_string(),
            repository: repository.to_string(),
            reference: reference.to_string(),
            commit,
            url,
            warnings: Vec::new(),
            fleet_commit: fleet_head,
            fleet: None,
        };
        if repository == FLEET_REPOSITORY {
            let snapshot = self.snapshot(&scenario.url, commit).expect("resolve read the commit");
            let (fleet, errors) = Fleet::from_snapshot(&snapshot);
            scenario.warnings = errors.iter().map(ToString::to_string).collect();
            scenario.fleet_commit = commit;
            scenario.fleet = Some(fleet);
        }
        Ok(scenario)
    }

    /// The commit `reference` names in the repository at `url`: the head of a branch the view
    /// fetched (for the fleet repository, of any branch: all were fetched), or a full commit id
    /// whose tree the cache holds.
    fn resolve(&self, url: &str, reference: &str) -> Option<CommitId> {
        let fetched = self.branch_state(url, reference).and_then(|b| b.head);
        let commit = fetched
            .or_else(|| (url == self.fleet_url).then(|| self.cache.head(url, reference).ok()).flatten())
            .or_else(|| reference.parse::<CommitId>().ok())?;
        self.snapshot(url, commit).ok().map(|_| commit)
    }

    /// What the agent of `identity` would report for each placement that would select it in
    /// `scenario`: [`FleetView::expected`] with the moved branch. The head's signature is not
    /// verified: a preview says what the commit renders to, not whether an agent may take it.
    ///
    /// May read source snapshots from the git cache (blocking); renders are memoized as for
    /// [`FleetView::expected`].
    pub fn preview(&self, scenario: &Scenario, identity: &ClusterIdentity, options: &render::Options) -> Vec<Expected> {
        let fleet = self.scenario_fleet(scenario);
        let selection = fleet.select(identity);
        selection
            .placements
            .iter()
            .map(|placement| {
                let name = placement.name();
                let (url, head) = match self.preview_source(scenario, placement, &selection.identity.environment) {
                    Ok(at) => at,
                    Err(error) => return Expected::failed(name, error),
                };
                Expected::rendered(
                    name,
                    head,
                    self.digest(scenario.fleet_commit, placement, &url, head, &selection.identity, options),
                )
            })
            .collect()
    }

    /// The objects `placement` would render for `identity` in `scenario`, and the source commit
    /// it would render from. Not memoized: for the one cluster whose diff is shown.
    pub fn preview_objects(
        &self,
        scenario: &Scenario,
        identity: &ClusterIdentity,
        placement: &str,
        options: &render::Options,
    ) -> Result<(CommitId, Vec<Value>), String> {
        let selection = self.scenario_fleet(scenario).select(identity);
        let Some(placement) = selection.placements.iter().find(|p| p.name() == placement) else {
            return Err(format!("placement {placement:?} would not select cluster {}", identity.name));
        };
        let (url, head) = self.preview_source(scenario, placement, &selection.identity.environment)?;
        let snapshot = self.snapshot(&url, head)?;
        let rendered = self.render(placement, &snapshot, &selection.identity, head, options)?;
        Ok((head, rendered.objects))
    }

    /// The objects `placement` renders for `identity` with `environment`'s current fleet, at the
    /// source commit `applied` (what the cluster reports it runs) when the cache has it, else
    /// at the source branch's head; and that commit. A placement from the fleet repository is
    /// read as the fleet declared it at that commit, when it did.
    pub fn current_objects(
        &self,
        environment: &str,
        identity: &ClusterIdentity,
        placement: &str,
        applied: Option<&str>,
        options: &render::Options,
    ) -> Result<(CommitId, Vec<Value>), String> {
        let Some(env) = self.environments.get(environment) else {
            return Err(format!("environment {environment:?} is not loaded"));
        };
        let selection = env.fleet.select(identity);
        let Some(current) = env.fleet.placements.iter().find(|p| p.name() == placement) else {
            return Err(format!("the fleet branch {environment:?} no longer declares placement {placement:?}"));
        };
        let Some(entry) = env.placements.get(placement) else {
            return Err(format!("placement {placement:?} was not located"));
        };
        let source_env = &selection.identity.environment;
        let at = if *source_env == env.name || entry.repository == FLEET_REPOSITORY {
            &entry.source
        } else {
            entry
                .other_environments
                .get(source_env)
                .ok_or_else(|| format!("environment {source_env:?} was not loaded"))?
        };
        let (Some(url), Some(head)) = (&at.url, at.head) else {
            return Err(at.error.clone().unwrap_or_else(|| "the source has no head".into()));
        };
        let applied =
            applied.and_then(|c| c.parse::<CommitId>().ok()).and_then(|c| self.snapshot(url, c).ok().map(|s| (c, s)));
        let (commit, snapshot) = match applied {
            Some(found) => found,
            None => (head, self.snapshot(url, head)?),
        };
        let mut definition = current.clone();
        if entry.repository == FLEET_REPOSITORY && commit != head {
            let (then, _) = Fleet::from_snapshot(&snapshot);
            if let Some(p) = then.placements.into_iter().find(|p| p.name() == placement) {
                definition = p;
            }
        }
        let rendered = self.render(&definition, &snapshot, &selection.identity, commit, options)?;
        Ok((commit, rendered.objects))
    }

    /// The fleet objects of a scenario.
    fn scenario_fleet<'a>(&'a self, scenario: &'a Scenario) -> &'a Fleet {
        scenario.fleet.as_ref().unwrap_or_else(|| {
            &self.environments.get(&scenario.environment).expect("a scenario is made for a loaded environment").fleet
        })
    }

    /// Where `placement` takes its source in `scenario` for clusters whose source environment is
    /// `source_env`: the moved branch's commit, the fleet commit for the fleet repository, else
    /// the head the view fetched.
    fn preview_source(
        &self,
        scenario: &Scenario,
        placement: &Placement,
        source_env: &str,
    ) -> Result<(String, CommitId), String> {
        if let Some(chart) = &placement.spec.source.chart {
            // The range's version now, whatever the scenario moves.
            return self.chart_at(chart).map_err(|e| {
                format!("placement {} ({}): field spec.source.chart: {e}", placement.name(), placement.file)
            });
        }
        let repo_name = placement.spec.source.repository().unwrap_or_default();
        if repo_name == FLEET_REPOSITORY {
            return Ok((self.fleet_url.clone(), scenario.fleet_commit));
        }
        if repo_name == scenario.repository && source_env == scenario.environment {
            return Ok((scenario.url.clone(), scenario.commit));
        }
        let repo = self.scenario_fleet(scenario).source_repository(repo_name)?;
        let (url, branch) = (repo.url(), repo.branch(source_env));
        let Some(state) = self.branch_state(url, &branch) else {
            return Err(format!("{url}: branch {branch:?} was not fetched by the hub"));
        };
        if let Some(error) = &state.error {
            return Err(error.clone());
        }
        state.head.map(|head| (url.to_string(), head)).ok_or_else(|| format!("{url}: branch {branch:?} has no head"))
    }

    /// How many times a placement was rendered, or its render substituted for a cluster, since
    /// this view was loaded (a measure of the memo).
    pub fn renders(&self) -> usize {
        self.memo().renders
    }

    /// Takes over the renders `previous` (an older load) memoized for what is still current:
    /// the same fleet commits and source heads render the same, so a poll that finds no new
    /// commit renders nothing again.
    pub fn keep_renders_from(&self, previous: &FleetView) {
        let fleet_heads: HashSet<CommitId> = self.environments.values().filter_map(|e| e.fleet_head).collect();
        // Branch heads, and the charts' digests (a chart's files are this view's already).
        let charts = self.environments.values().flat_map(|e| e.placements.values()).filter_map(|p| p.source.head);
        let heads: HashSet<CommitId> =
            self.branches.values().flat_map(BTreeMap::values).filter_map(|b| b.head).chain(charts).collect();
        let current = |key: &RenderKey<CommitId>| fleet_heads.contains(&key.fleet) && heads.contains(&key.source);
        let kept = {
            let old = previous.memo();
            Memo {
                snapshots: old.snapshots.iter().filter(|((_, c), _)| heads.contains(c)).map(clone_pair).collect(),
                charts: HashMap::new(),
                sources: old.sources.iter().filter(|(k, v)| current(k) && v.is_ok()).map(clone_pair).collect(),
                digests: old.digests.iter().filter(|((k, _), v)| current(k) && v.is_ok()).map(clone_pair).collect(),
                renders: 0,
            }
        };
        let mut memo = self.memo();
        memo.snapshots.extend(kept.snapshots);
        memo.sources.extend(kept.sources);
        memo.digests.extend(kept.digests);
    }

    fn memo(&self) -> MutexGuard<'_, Memo> {
        // The memo is a cache: whatever a panicking render left in it is still valid.
        self.memo.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The digest `placement` renders for `identity` at `head`, memoized by core's render key
    /// (`render::RenderKey`, `prepare`, `Prepared::digest_for`: the memo the simulator keeps too).
    fn digest(
        &self,
        fleet_commit: CommitId,
        placement: &Placement,
        url: &str,
        head: CommitId,
        identity: &ClusterIdentity,
        options: &render::Options,
    ) -> Result<String, String> {
        let key = RenderKey::new(fleet_commit, placement, head, identity, options);
        // Rendering happens outside the lock: other threads' lookups do not wait for it.
        let memoized = self.memo().sources.get(&key).cloned();
        let prepared = memoized.unwrap_or_else(|| {
            let prepared = self.prepare(placement, url, head, identity, options);
            self.memo().sources.insert(key.clone(), prepared.clone());
            prepared
        })?;
        if let Prepared::Digest(digest) = &prepared {
            return Ok(digest.to_string());
        }
        let key = (key, prepared.values(identity));
        if let Some(digest) = self.memo().digests.get(&key) {
            return digest.clone();
        }
        self.memo().renders += 1;
        let digest =
            prepared.digest_for(placement, identity).map(|d| d.to_string()).map_err(|e| format!("at {head}: {e}"));
        self.memo().digests.insert(key, digest.clone());
        digest
    }

    /// The render of a placement at a commit for one render key, as the agent renders (with
    /// its error text), within the render budget agents keep by default (agent.yaml's
    /// `render`): a fan-out is refused here as it is there.
    fn prepare(
        &self,
        placement: &Placement,
        url: &str,
        head: CommitId,
        identity: &ClusterIdentity,
        options: &render::Options,
    ) -> Result<Prepared, String> {
        let snapshot = self.snapshot(url, head)?;
        self.memo().renders += 1;
        render::prepare(placement, &snapshot, identity, options).map_err(|e| format!("at {head}: {e}"))
    }

    /// Renders as the agent does, with the agent's error text, within the render budget agents
    /// keep by default.
    fn render(
        &self,
        placement: &Placement,
        snapshot: &Snapshot,
        identity: &ClusterIdentity,
        head: CommitId,
        options: &render::Options,
    ) -> Result<Rendered, String> {
        self.memo().renders += 1;
        render::render_with(placement, snapshot, identity, options).map_err(|e| format!("at {head}: {e}"))
    }

    /// A source snapshot, read from the cache once per view.
    fn snapshot(&self, url: &str, commit: CommitId) -> Result<Arc<Snapshot>, String> {
        let key = (url.to_string(), commit);
        if let Some(snapshot) = self.memo().snapshots.get(&key) {
            return Ok(Arc::clone(snapshot));
        }
        let snapshot = Arc::new(self.cache.snapshot(url, commit).map_err(|e| e.to_string())?);
        self.memo().snapshots.insert(key, Arc::clone(&snapshot));
        Ok(snapshot)
    }
}

/// The environments whose source branches clusters reading this fleet branch take: its own,
/// and those of the clusters it declares (whose declaration wins over their agent's config).
fn source_environments(environment: &Environment) -> impl Iterator<Item = String> + '_ {
    let declared: BTreeSet<&str> = environment.fleet.clusters.iter().map(|c| c.spec.environment.as_str()).collect();
    std::iter::once(environment.name.clone())
        .chain(declared.into_iter().filter(|e| *e != environment.name).map(ToString::to_string))
}

/// Fetches `branches` of one repository with their history, in one fetch; when one branch is
/// missing, each branch alone, so that it fails by itself.
fn fetch_branches(cache: &Cache, source: &Source, branches: &[&str]) -> Vec<Branch> {
    let url = &source.url;
    let failed = |branch: &str, e: &flotilla_git::Error| Branch::failed(url, branch, format!("branch {branch:?}: {e}"));
    match cache.fetch(source, branches) {
        Ok(fetched) => branches.iter().map(|b| read_fetched(cache, url, b, &fetched)).collect(),
        Err(flotilla_git::Error::MissingBranch { .. }) if branches.len() > 1 => branches
            .iter()
            .map(|b| match cache.fetch(source, &[b]) {
                Ok(fetched) => read_fetched(cache, url, b, &fetched),
                Err(e) => failed(b, &e),
            })
            .collect(),
        Err(e) => branches.iter().map(|b| failed(b, &e)).collect(),
    }
}

fn read_fetched(cache: &Cache, url: &str, branch: &str, fetched: &flotilla_git::Fetched) -> Branch {
    match fetched.heads.get(branch) {
        Some(head) => Branch::read(cache, url, branch, *head),
        None => Branch::failed(url, branch, format!("{url}: branch {branch:?} was not fetched")),
    }
}

/// One declaration per cluster name: from the fleet branch of its own environment if that
/// branch declares it, otherwise the first (by environment name) that does.
fn declared_clusters(environments: &BTreeMap<String, Environment>) -> Vec<DeclaredCluster> {
    let mut clusters: BTreeMap<String, DeclaredCluster> = BTreeMap::new();
    for environment in environments.values() {
        for cluster in &environment.fleet.clusters {
            let own = cluster.spec.environment == environment.name;
            let replace = clusters.get(cluster.name()).is_none_or(|c| own && c.declared_in != c.environment);
            if replace {
                let declared = DeclaredCluster {
                    name: cluster.name().to_string(),
                    environment: cluster.spec.environment.clone(),
                    labels: cluster.metadata.labels.clone(),
                    declared_in: environment.name.clone(),
                };
                clusters.insert(declared.name.clone(), declared);
            }
        }
    }
    clusters.into_values().collect()
}

/// Renders and what they found, shared by every `expected` call on one view.
#[derive(Debug, Clone, Default)]
struct Memo {
    snapshots: HashMap<(String, CommitId), Arc<Snapshot>>,
    /// Charts from Helm repositories, fetched once per view: by URL, name and range, the
    /// location and digest (whose files are in `snapshots`).
    charts: HashMap<String, Result<(String, CommitId), String>>,
    sources: HashMap<RenderKey<CommitId>, Result<Prepared, String>>,
    /// By render key and the values of the variables it substitutes.
    digests: HashMap<(RenderKey<CommitId>, render::Values), Result<String, String>>,
    renders: usize,
}

fn clone_pair<K: Clone, V: Clone>((k, v): (&K, &V)) -> (K, V) {
    (k.clone(), v.clone())
}

fn display<T: fmt::Display, S: Serializer>(value: &T, s: S) -> Result<S::Ok, S::Error> {
    s.collect_str(value)
}

#[allow(clippy::ref_option, reason = "serde's serialize_with passes a reference to the field")]
fn display_opt<T: fmt::Display, S: Serializer>(value: &Option<T>, s: S) -> Result<S::Ok, S::Error> {
    match value {
        Some(v) => s.collect_str(v),
        None => s.serialize_none(),
    }
}

/// A fleet object as JSON: its metadata, spec and file.
#[derive(Serialize)]
struct ObjectView<'a, T> {
    metadata: &'a flotilla_core::fleet::Metadata,
    spec: &'a T,
    file: &'a str,
}

fn object<T: Serialize, S: Serializer>(o: &Object<T>, s: S) -> Result<S::Ok, S::Error> {
    ObjectView { metadata: &o.metadata, spec: &o.spec, file: &o.file }.serialize(s)
}

fn objects<T: Serialize, S: Serializer>(os: &[Object<T>], s: S) -> Result<S::Ok, S::Error> {
    s.collect_seq(os.iter().map(|o| ObjectView { metadata: &o.metadata, spec: &o.spec, file: &o.file }))
}
