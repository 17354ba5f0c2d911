//! One reconcile of every placement that selects this cluster: fetch the fleet repository at
//! the environment's branch, select the placements, and for each fetch and verify its source,
//! render, and sync (or only plan). Each placement is isolated: a source that cannot be fetched,
//! verified or rendered is reported and not applied, and the cluster keeps its last good state.
//!
//! Fetches of the fleet and the sources are retried with backoff while the git server cannot be
//! reached; after that the placement reports `SourceUnreachable` (the fleet, an error). A chart
//! from a Helm repository (`source.chart`) is fetched with `flotilla-charts` (cached by digest in
//! `stateDir/charts`), retried alike; its archive's digest is its source commit.
//!
//! Not the daemon loop, the hub client or the spool (see [`crate::daemon`]).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result};
use backon::{BlockingRetryable as _, ExponentialBuilder};
use flotilla_core::fleet::{ClusterIdentity, FLEET_REPOSITORY, Fleet, Placement, Policy};
use flotilla_core::plan::{self, ObjectRef, Plan};
use flotilla_core::render::{Options as RenderOptions, RenderKey};
use flotilla_core::report::{self, FleetReport, Override, PlacementReport, PolicyReport, SyncState};
use flotilla_core::rollout::Waiting;
use flotilla_core::snapshot::Snapshot;
use flotilla_git::{Cache, CommitId, Credentials, Source};

use crate::cluster::Cluster;
use crate::config::{Config, Kubernetes};
use crate::govern;
use crate::sync::{self, Desired};
use crate::watch::Watches;

mod choose;

use choose::choose_fleet;

/// Whether a reconcile changes the cluster (the cluster's word, which `govern` reads too).
pub use crate::cluster::Mode;

/// One placement's outcome.
#[derive(Debug)]
pub struct Outcome {
    pub report: PlacementReport,
    /// In [`Mode::Plan`], what a sync would do.
    pub plan: Option<Plan>,
}

/// A whole reconcile.
#[derive(Debug)]
pub struct Reconciled {
    pub fleet_commit: CommitId,
    pub placements: Vec<Outcome>,
    /// The policies that select this cluster, evaluated after the placements' syncs (and
    /// enforced, in [`Mode::Apply`], when they say so).
    pub policies: Vec<PolicyReport>,
    /// The placements whose full sync was skipped: at the same commits, no change seen.
    pub unchanged: Vec<String>,
    /// Problems of the fleet repository itself (a broken fleet document) and a label mismatch.
    pub warnings: Vec<String>,
    /// Which fleet commit runs and why, when the fleet repository rolls out or is verified.
    pub fleet: Option<FleetReport>,
    /// The commits that passed a freeze by a signed override and run now.
    pub overrides: Vec<Override>,
    /// The cluster's Kubernetes version and API versions the charts rendered with (`None`:
    /// the cluster could not be asked and never was: Helm's defaults).
    pub kubernetes: Option<report::Kubernetes>,
}

impl Reconciled {
    /// Whether every placement is synced.
    pub fn synced(&self) -> bool {
        self.placements.iter().all(|o| o.report.state == SyncState::Synced)
    }
}

/// A kube-rs client for the configured cluster.
pub async fn connect(kubernetes: &Kubernetes) -> Result<kube::Client> {
    let config = match kubernetes {
        Kubernetes::Server(url) => {
            kube::Config::new(url.parse().with_context(|| format!("kubernetes.server {url:?}"))?)
        }
        Kubernetes::InCluster => kube::Config::incluster().context("kubernetes.inCluster")?,
        Kubernetes::Simulated => {
            let cluster = kube_testserver::Cluster::new(&kube_testserver::Options::default());
            return Ok(kube::Client::new(cluster.router(), "default"));
        }
        Kubernetes::Kubeconfig { path, context } => {
            let kubeconfig = kube::config::Kubeconfig::read_from(path)
                .with_context(|| format!("kubernetes.kubeconfig {}", path.display()))?;
            let options = kube::config::KubeConfigOptions { context: context.clone(), ..Default::default() };
            kube::Config::from_custom_kubeconfig(kubeconfig, &options)
                .await
                .with_context(|| format!("kubernetes.kubeconfig {}", path.display()))?
        }
    };
    kube::Client::try_from(config).context("building the Kubernetes client")
}

/// The identity this agent runs as.
pub fn identity(config: &Config) -> ClusterIdentity {
    ClusterIdentity {
        name: config.cluster.name.clone(),
        labels: config.cluster.labels.clone(),
        environment: config.cluster.environment.clone(),
    }
}

/// The fleet repository at one commit, read.
#[derive(Debug)]
struct FleetAt {
    commit: CommitId,
    /// The branch read (`None`: a commit was asked for).
    branch: Option<String>,
    snapshot: Snapshot,
    fleet: Fleet,
    warnings: Vec<String>,
    source: Source,
    cache: Cache,
    /// Who signed the commit, when `fleet.verify` checked it.
    signer: Option<String>,
}

/// Fetches the fleet repository at `git_ref` (a branch or a full commit id), or at the
/// environment's branch, and reads it (unless `previous` read that commit already).
fn read_fleet(config: &Config, git_ref: Option<&str>, previous: Option<FleetAt>) -> Result<FleetAt> {
    let cache = Cache::new(config.state_dir.join("git"));
    let credentials = config
        .fleet
        .credentials_file
        .as_deref()
        .map(Credentials::from_file)
        .transpose()
        .context("fleet.credentialsFile")?;
    let source = Source { url: config.fleet.url.to_string(), credentials };
    let git_ref = git_ref.unwrap_or(&config.cluster.environment);
    let (commit, tree, branch) = if let Ok(commit) = git_ref.parse::<CommitId>() {
        // A commit is found on whichever branch holds it, anywhere in its history.
        retrying_git(|| cache.fetch(&source, &["*"])).context("fetching the fleet repository")?;
        (commit, cache.clone(), None)
    } else {
        let tips = retrying_git(|| cache.fetch_tips(&source, &[git_ref])).with_context(|| fetching_fleet(git_ref))?;
        (tips.heads[git_ref], cache.shallow(), Some(git_ref.to_string()))
    };
    if let Some(previous) = previous.filter(|p| p.commit == commit && p.source.url == source.url) {
        return Ok(FleetAt { branch, source, ..previous });
    }
    let snapshot = tree.snapshot(&source.url, commit).context("reading the fleet repository")?;
    let (fleet, errors) = Fleet::from_snapshot(&snapshot);
    let warnings = errors.iter().map(ToString::to_string).collect();
    Ok(FleetAt { commit, branch, snapshot, fleet, warnings, source, cache, signer: None })
}

/// How many times a fetch is tried while the git server cannot be reached or fails (the
/// simulator counts as many).
pub const GIT_ATTEMPTS: u32 = 3;

/// Runs a git fetch until it succeeds, fails for good, or has failed [`GIT_ATTEMPTS`] times,
/// waiting 250 ms, 500 ms … (plus up to as much again, at random) between tries. Blocking, as
/// the fetch itself is.
fn retrying_git<T>(fetch: impl FnMut() -> Result<T, flotilla_git::Error>) -> Result<T, flotilla_git::Error> {
    let transient = |e: &flotilla_git::Error| {
        matches!(e, flotilla_git::Error::Unreachable { .. } | flotilla_git::Error::Fetch { .. })
    };
    fetch.retry(fetch_backoff()).sleep(std::thread::sleep).when(transient).call()
}

/// How a fetch from a source (git, a chart repository) is tried again: [`GIT_ATTEMPTS`] in
/// all, 250 ms, 500 ms … apart, plus up to as much again at random.
fn fetch_backoff() -> ExponentialBuilder {
    let retries = usize::try_from(GIT_ATTEMPTS - 1).expect("a few attempts");
    ExponentialBuilder::new()
        .with_min_delay(Duration::from_millis(250))
        .with_factor(2.0)
        .with_max_times(retries)
        .with_jitter()
}

/// What a failed fetch of the fleet repository at `git_ref` says before git's error.
pub fn fetching_fleet(git_ref: &str) -> String {
    format!("fetching the fleet repository at {git_ref}")
}

/// Reconciles (or plans) every placement that selects this cluster.
pub async fn reconcile(config: &Config, cluster: &mut Cluster, mode: Mode) -> Result<Reconciled> {
    reconcile_with(config, cluster, mode, &mut Memo::default()).await
}

/// How long a placement may go without a full sync while its watches see no change.
pub const RESYNC: Duration = Duration::from_secs(600);

/// What a cycle may reuse from the cycles before it: the fleet read at a commit and — with
/// watches, in the daemon — what each placement's last full sync found at which commits, to be
/// reported again while nothing changes. Not the rendered objects: a placement at the same
/// commits is not rendered again, and one that needs a full sync is (they would cost the idle
/// agent a megabyte per thousand objects).
#[derive(Debug, Default)]
pub struct Memo {
    /// The fleet read at the branch's tip, and at the commit in use (when another).
    tip: Option<FleetAt>,
    fleet: Option<FleetAt>,
    synced: BTreeMap<String, SyncedAt>,
    watches: Option<Watches>,
    /// The time rollouts and windows are decided at, unix seconds: `None` reads the clock.
    now: Option<i64>,
    /// The key inventories are sealed with, once read from `stateDir`.
    key: Option<Vec<u8>>,
    /// agent.yaml's render options with the cluster's secret (`stateDir/render-secret`), once
    /// read, and with the cluster's Kubernetes they were made for.
    options: Option<(Option<report::Kubernetes>, Arc<RenderOptions>)>,
}

impl Memo {
    /// A memo that watches the cluster, so that a cycle with no change skips the full sync.
    pub fn watching() -> Memo {
        Memo { watches: Some(Watches::new()), ..Memo::default() }
    }

    /// A memo whose rollouts and windows are decided at `now` (unix seconds) rather than by the
    /// clock: a virtual clock, for tests and simulations.
    pub fn at(now: i64) -> Memo {
        Memo { now: Some(now), ..Memo::default() }
    }

    /// Decides rollouts and windows at `now` (unix seconds) from here on; `None`: by the clock.
    pub fn set_now(&mut self, now: Option<i64>) {
        self.now = now;
    }

    /// The key this agent seals its inventories with (see [`sync::inventory_key`]).
    fn key(&mut self, config: &Config) -> Result<Vec<u8>> {
        if let Some(key) = &self.key {
            return Ok(key.clone());
        }
        let key = sync::inventory_key(&config.state_dir)?;
        self.key = Some(key.clone());
        Ok(key)
    }

    /// How this agent renders: agent.yaml's options, with the secret a chart's random values
    /// are drawn from (see [`sync::render_secret`]) and the cluster's `kubernetes` as a chart's
    /// `.Capabilities`.
    fn options(&mut self, config: &Config, kubernetes: Option<&report::Kubernetes>) -> Result<Arc<RenderOptions>> {
        if let Some((made_for, options)) = &self.options
            && made_for.as_ref() == kubernetes
        {
            return Ok(Arc::clone(options));
        }
        let secret = match &self.options {
            Some((_, options)) => options.secret.clone(),
            None => sync::render_secret(&config.state_dir, true)?,
        };
        let base = RenderOptions { secret, ..config.render.clone() };
        let options = Arc::new(match kubernetes {
            Some(kubernetes) => base.for_kubernetes(kubernetes),
            None => base,
        });
        self.options = Some((kubernetes.cloned(), Arc::clone(&options)));
        Ok(options)
    }

    fn now(&self) -> i64 {
        self.now.unwrap_or_else(|| {
            let since = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
            i64::try_from(since.as_secs()).unwrap_or(i64::MAX)
        })
    }
}

/// A placement's last full sync.
#[derive(Debug)]
struct SyncedAt {
    /// What the render read: the fleet and source commits and the customizations that applied
    /// (the key the hub and the simulator memoize renders by).
    key: RenderKey<CommitId>,
    /// The kinds it renders: what its watches are.
    kinds: BTreeSet<(String, String)>,
    /// The watches' stamp read before it started.
    stamp: Option<u64>,
    report: PlacementReport,
    when: Instant,
}

/// A placement rendered this cycle, waiting for its sync: its slot among the outcomes.
struct Pending<'p> {
    slot: usize,
    placement: &'p Placement,
    /// What it renders, its objects kept as compact JSON until its sync: every placement's
    /// render is held between the two passes, and as values they would cost the idle agent
    /// megabytes its allocator does not give back.
    desired: Desired,
    objects: Vec<u8>,
    refs: Vec<ObjectRef>,
    render_key: RenderKey<CommitId>,
    waiting: Option<Waiting>,
}

impl Pending<'_> {
    /// The desired state with its objects back.
    fn unpack(&mut self) -> Result<(), String> {
        self.desired.objects = serde_json::from_slice(&std::mem::take(&mut self.objects))
            .map_err(|e| format!("reading back the rendered objects: {e}"))?;
        Ok(())
    }
}

/// Reconciles (or plans) every placement that selects this cluster, reusing what `memo` holds.
///
/// In two passes: first every placement is located, scheduled, rendered and checked against its
/// scope; then the rendered ones are synced in order, each knowing which objects the others own
/// (their sealed inventories) and render this cycle, so that no object changes hands and none
/// another placement renders is pruned.
pub async fn reconcile_with(config: &Config, cluster: &mut Cluster, mode: Mode, memo: &mut Memo) -> Result<Reconciled> {
    // Last cycle's reads: the tip alone when it ran the tip, else the tip and the commit it ran.
    let (tip_before, chosen_before) = match memo.tip.take() {
        Some(tip) => (Some(tip), memo.fleet.take()),
        None => (memo.fleet.take(), None),
    };
    let tip = read_fleet(config, None, tip_before)?;
    let tip_commit = tip.commit;
    let now = memo.now();
    let chosen = choose_fleet(config, tip, chosen_before, now).await?;
    memo.tip = chosen.tip;
    let Some(at) = chosen.at else {
        // No fleet commit may run yet: nothing is reconciled, and the report says why.
        let warnings = vec![format!(
            "the fleet repository: {}",
            chosen.report.as_ref().and_then(|r| r.message.clone()).unwrap_or_default()
        )];
        return Ok(Reconciled {
            fleet_commit: tip_commit,
            placements: Vec::new(),
            policies: Vec::new(),
            unchanged: Vec::new(),
            warnings,
            fleet: chosen.report,
            overrides: chosen.overrides,
            kubernetes: cluster.known_kubernetes(),
        });
    };
    let selection = at.fleet.select(&identity(config));
    let mut warnings = at.warnings.clone();
    warnings.extend(selection.mismatch.clone());
    let key = memo.key(config)?;
    // What a chart's `.Capabilities` reads; when the cluster cannot be asked, what it said last.
    let kubernetes = match cluster.kubernetes().await {
        Ok(kubernetes) => Some(kubernetes),
        Err(e) => {
            warnings.push(format!("the cluster's Kubernetes version and API versions: {e}"));
            cluster.known_kubernetes()
        }
    };
    let options = memo.options(config, kubernetes.as_ref())?;
    let (placements, unchanged, placement_overrides) =
        reconcile_placements(config, &options, cluster, mode, memo, &at, &selection, &key).await;
    let policies = govern::govern(cluster, &selection.policies, mode).await;
    let names: BTreeSet<&str> = selection.placements.iter().map(|p| p.name()).collect();
    memo.synced.retain(|name, _| names.contains(name.as_str()));
    let fleet_commit = at.commit;
    drop(selection);
    memo.fleet = Some(at);
    let mut overrides = chosen.overrides;
    overrides.extend(placement_overrides);
    Ok(Reconciled {
        fleet_commit,
        placements,
        policies,
        unchanged,
        warnings,
        fleet: chosen.report,
        overrides,
        kubernetes,
    })
}

/// The two passes of [`reconcile_with`]: every placement's outcome, in order, and the names of
/// those whose full sync was skipped.
#[allow(clippy::too_many_arguments)]
async fn reconcile_placements(
    config: &Config,
    options: &RenderOptions,
    cluster: &mut Cluster,
    mode: Mode,
    memo: &mut Memo,
    at: &FleetAt,
    selection: &flotilla_core::fleet::Selection<'_>,
    key: &[u8],
) -> (Vec<Outcome>, Vec<String>, Vec<Override>) {
    let mut outcomes: Vec<Option<Outcome>> = Vec::new();
    let mut pending = Vec::new();
    let mut unchanged = Vec::new();
    let mut overrides = Vec::new();
    let now = memo.now();
    for placement in &selection.placements {
        let slot = outcomes.len();
        outcomes.push(None);
        let located = match locate(config, at, &selection.identity, placement) {
            Ok(located) => located,
            Err(report) => {
                outcomes[slot] = Some(Outcome { report: *report, plan: None });
                continue;
            }
        };
        let (located, waiting, passed) =
            match schedule(cluster, config, key, at, &selection.identity, placement, located, now).await {
                Ok(scheduled) => scheduled,
                Err(report) => {
                    outcomes[slot] = Some(Outcome { report: *report, plan: None });
                    continue;
                }
            };
        overrides.extend(passed);
        let render_key = RenderKey::new(at.commit, placement, located.commit, &selection.identity, options);
        if mode == Mode::Apply
            && !placement.spec.paused
            && let Some(report) = memo.unchanged(&render_key).await
        {
            unchanged.push(report.name.clone());
            outcomes[slot] = Some(wait(Outcome { report, plan: None }, waiting.as_ref()));
            continue;
        }
        let desired = match render_located(config, options, at, &selection.identity, placement, &located) {
            Err(report) => {
                outcomes[slot] = Some(Outcome { report: *report, plan: None });
                continue;
            }
            Ok(desired) if placement.spec.paused => {
                outcomes[slot] = Some(Outcome { report: paused(&desired), plan: None });
                continue;
            }
            Ok(desired) => desired,
        };
        if let Err(report) = check_scope(cluster, &config.namespace, placement, &desired).await {
            outcomes[slot] = Some(Outcome { report: *report, plan: None });
            continue;
        }
        let mut desired = desired;
        let refs = desired.objects.iter().filter_map(ObjectRef::of).collect();
        let objects = serde_json::to_vec(&std::mem::take(&mut desired.objects)).expect("objects serialize");
        pending.push(Pending { slot, placement, desired, objects, refs, render_key, waiting });
    }

    if !pending.is_empty() {
        let selected = selection.placements.iter().map(|p| p.name().to_string()).collect();
        sync_pending(config, cluster, mode, memo, &selected, key, pending, &mut outcomes).await;
    }
    let mut outcomes: Vec<Outcome> = outcomes.into_iter().map(|o| o.expect("every placement has an outcome")).collect();
    // A placement that was not synced still runs what it applied last: say so.
    for outcome in &mut outcomes {
        let report = &mut outcome.report;
        if report.applied_commit.is_none()
            && outcome.plan.is_none()
            && let Ok(inventory) = sync::read_inventory(cluster, &config.namespace, &report.name, key).await
            && !inventory.commit.is_empty()
        {
            report.applied_commit = Some(inventory.commit);
            report.applied_digest = Some(inventory.digest);
        }
    }
    (outcomes, unchanged, overrides)
}

/// The second pass of [`reconcile_placements`]: syncs (or plans) the rendered placements in
/// order, each knowing what the others own and render.
#[allow(clippy::too_many_arguments, reason = "the parts of one reconcile, handed over once")]
async fn sync_pending(
    config: &Config,
    cluster: &mut Cluster,
    mode: Mode,
    memo: &mut Memo,
    selected: &BTreeSet<String>,
    key: &[u8],
    mut pending: Vec<Pending<'_>>,
    outcomes: &mut [Option<Outcome>],
) {
    let mut claims = match sync::Claims::load(cluster, &config.namespace, key, selected).await {
        Ok(claims) => claims,
        Err(e) => {
            // Without knowing who owns what, nothing is applied and nothing pruned.
            for p in pending {
                let report = failed(p.placement.name(), SyncState::Failed, format!("reading the inventories: {e}"));
                outcomes[p.slot] = Some(Outcome { report, plan: None });
            }
            return;
        }
    };
    for p in &mut pending {
        claims.render(p.placement.name(), std::mem::take(&mut p.refs));
    }
    for mut p in pending {
        if let Err(e) = p.unpack() {
            outcomes[p.slot] = Some(Outcome { report: failed(p.placement.name(), SyncState::Failed, e), plan: None });
            continue;
        }
        let context =
            sync::Context { namespace: &config.namespace, key, claims: &claims, state_dir: &config.state_dir };
        let outcome = match mode {
            Mode::Apply => {
                let report = memo.sync(cluster, context, &p.desired, p.render_key).await;
                Outcome { report, plan: None }
            }
            Mode::Plan => match sync::plan_only(cluster, context, &p.desired).await {
                Ok(plan) => {
                    let mut report = paused(&p.desired);
                    report.state = if plan.is_empty() { SyncState::Synced } else { SyncState::Progressing };
                    report.message = None;
                    Outcome { report, plan: Some(plan) }
                }
                Err(e) => Outcome { report: failed(p.placement.name(), SyncState::Failed, e), plan: None },
            },
        };
        if outcome.report.state != SyncState::Conflict {
            claims.take(p.placement.name(), &p.desired.objects);
        }
        outcomes[p.slot] = Some(wait(outcome, p.waiting.as_ref()));
    }
}

/// A synced placement held at another commit than its branch's tip says why.
fn wait(mut outcome: Outcome, waiting: Option<&Waiting>) -> Outcome {
    if let Some(w) = waiting
        && outcome.report.state == SyncState::Synced
    {
        outcome.report.state = w.state;
        outcome.report.message = Some(w.message.clone());
    }
    outcome
}

/// Checks every rendered object against the placement's scope and the agent's own records
/// before anything is applied (SPEC §4): a violation refuses the whole placement, naming each
/// object and the rule. Whether a kind is namespaced is the cluster's answer, then the rendered
/// CRDs', then Kubernetes' own kinds'.
async fn check_scope(
    cluster: &mut Cluster,
    agent_namespace: &str,
    placement: &Placement,
    desired: &Desired,
) -> Result<(), Box<PlacementReport>> {
    use flotilla_core::scope;
    let rendered = scope::Kinds::rendered(&desired.objects);
    let mut known: BTreeMap<(String, String), Option<bool>> = BTreeMap::new();
    for r in desired.objects.iter().filter_map(ObjectRef::of) {
        let key = (r.api_version.clone(), r.kind.clone());
        if known.contains_key(&key) {
            continue;
        }
        let answer = match cluster.namespaced(&r.api_version, &r.kind).await {
            Ok(Some(namespaced)) => Some(namespaced),
            Ok(None) => rendered.namespaced(&r.api_version, &r.kind),
            Err(e) => {
                let mut report = failed(placement.name(), SyncState::Failed, format!("checking the scope: {e}"));
                report.source_commit = Some(desired.commit.clone());
                return Err(Box::new(report));
            }
        };
        known.insert(key, answer);
    }
    let namespaced =
        |api_version: &str, kind: &str| known.get(&(api_version.to_string(), kind.to_string())).copied().flatten();
    let violations = scope::check(&placement.spec, &desired.objects, agent_namespace, &namespaced);
    let Some(first) = violations.first() else { return Ok(()) };
    let message = format!(
        "refused: {} of {} objects outside the placement's scope; nothing applied (first: {first})",
        violations.len(),
        desired.objects.len()
    );
    let mut report = failed(placement.name(), SyncState::Refused, message);
    report.source_commit = Some(desired.commit.clone());
    report.desired_digest = Some(desired.digest.clone());
    report.signer.clone_from(&desired.signer);
    for v in violations.iter().take(flotilla_core::report::MAX_OBJECTS) {
        report.objects.push(flotilla_core::report::ObjectReport {
            api_version: v.object.api_version.clone(),
            kind: v.object.kind.clone(),
            namespace: (!v.object.namespace.is_empty()).then(|| v.object.namespace.clone()),
            name: v.object.name.clone(),
            problem: flotilla_core::report::ObjectProblem::Refused,
            message: Some(flotilla_core::report::clip(&v.rule)),
            fields: Vec::new(),
        });
    }
    tracing::info!("placement {}: {}", placement.name(), report.message.as_deref().unwrap_or_default());
    Err(Box::new(report))
}

impl Memo {
    /// The report of the placement's last full sync, if it may stand: the same render key (fleet
    /// and source commits, customizations), its watches open and quiet since, not too long ago,
    /// and it ended settled.
    async fn unchanged(&self, key: &RenderKey<CommitId>) -> Option<PlacementReport> {
        let watches = self.watches.as_ref()?;
        let name = key.placement.as_str();
        let last = self.synced.get(name)?;
        // Let the watches take in what arrived while the git fetches blocked.
        for _ in 0..4 {
            tokio::task::yield_now().await;
        }
        let stamp = watches.stamp(name, &last.kinds)?;
        let quiet =
            last.stamp == Some(stamp) && last.key == *key && last.when.elapsed() < RESYNC && settled(&last.report);
        quiet.then(|| last.report.clone())
    }

    /// Syncs one placement in full, and remembers how it went (with watches: watches its kinds).
    async fn sync(
        &mut self,
        cluster: &mut Cluster,
        context: sync::Context<'_>,
        desired: &Desired,
        key: RenderKey<CommitId>,
    ) -> PlacementReport {
        let kinds: BTreeSet<(String, String)> =
            desired.objects.iter().filter_map(ObjectRef::of).map(|r| (r.api_version, r.kind)).collect();
        let Some(watches) = self.watches.as_mut() else {
            return sync::sync(cluster, context, desired).await;
        };
        // Read before the sync: whatever happens from here on makes the next cycle a full one.
        let stamp = watches.stamp(&desired.placement, &kinds);
        let report = sync::sync(cluster, context, desired).await;
        if let Err(e) = watches.watch(cluster, &kinds).await {
            tracing::warn!("watching {}: {e}", desired.placement);
        }
        let when = Instant::now();
        let synced = SyncedAt { key, kinds, stamp, report: report.clone(), when };
        self.synced.insert(desired.placement.clone(), synced);
        report
    }
}

/// Whether a full sync's report may stand while nothing changes: not after a failure (retried
/// every cycle) or an interrupted sync.
fn settled(report: &PlacementReport) -> bool {
    match report.state {
        SyncState::Synced | SyncState::Degraded => true,
        SyncState::Progressing => report.message.is_none(),
        _ => false,
    }
}

/// What this cluster would run, from [`render`].
#[derive(Debug)]
pub struct Rendered {
    pub fleet_commit: CommitId,
    /// Each selected placement's objects, or the report of why they cannot be known.
    pub placements: Vec<Result<Desired, Box<PlacementReport>>>,
    /// The policies that select the cluster.
    pub policies: Vec<Policy>,
    pub warnings: Vec<String>,
}

/// Renders every placement that selects this cluster (or only `only`), from the fleet
/// repository at `git_ref` or the environment's branch, as [`reconcile`] would before applying.
/// Nothing touches a cluster.
pub fn render(config: &Config, only: Option<&str>, git_ref: Option<&str>) -> Result<Rendered> {
    let mut at = read_fleet(config, git_ref, None)?;
    // The trust root holds here too: what an unverified fleet commit says is not shown as what
    // the cluster would run.
    let policy = crate::trust::fleet_policy(config)?;
    let tree = if at.branch.is_some() { at.cache.shallow() } else { at.cache.clone() };
    at.signer = crate::trust::verify(&tree, &at.source.url, at.commit, &policy)
        .map_err(|e| anyhow::anyhow!("the fleet repository: {e}"))?;
    let selection = at.fleet.select(&identity(config));
    let mut warnings = at.warnings.clone();
    warnings.extend(selection.mismatch.clone());
    // On the cluster's own machine, what it really applies; elsewhere the public render.
    let options = RenderOptions { secret: sync::render_secret(&config.state_dir, false)?, ..config.render.clone() };
    if let Some(name) = only
        && !selection.placements.iter().any(|p| p.name() == name)
    {
        anyhow::bail!("no placement {name:?} selects cluster {} at {}", config.cluster.name, at.commit);
    }
    let placements = selection
        .placements
        .iter()
        .filter(|p| only.is_none_or(|name| p.name() == name))
        .map(|p| {
            locate(config, &at, &selection.identity, p)
                .and_then(|l| render_located(config, &options, &at, &selection.identity, p, &l))
        })
        .collect();
    let policies = selection.policies.iter().map(|p| (*p).clone()).collect();
    Ok(Rendered { fleet_commit: at.commit, placements, policies, warnings })
}

/// What a paused placement says.
pub const PAUSED: &str = "paused: no new commit is taken";

/// What a paused placement reports: the commit it would take, nothing applied.
fn paused(desired: &Desired) -> PlacementReport {
    let mut report = failed(&desired.placement, SyncState::Paused, PAUSED.into());
    report.source_commit = Some(desired.commit.clone());
    report.desired_digest = Some(desired.digest.clone());
    report.signer.clone_from(&desired.signer);
    report
}

fn failed(placement: &str, state: SyncState, message: String) -> PlacementReport {
    PlacementReport {
        name: placement.to_string(),
        state,
        source_commit: None,
        desired_digest: None,
        applied_commit: None,
        applied_digest: None,
        signer: None,
        health: flotilla_core::health::Health::Unknown,
        message: Some(message),
        objects: Vec::new(),
        images: Vec::new(),
    }
}

/// Where a placement's source stands: its repository (`None`: the fleet repository, or a chart)
/// and commit (for a chart, its archive's digest).
struct Located<'f> {
    source: Option<(Source, &'f flotilla_core::fleet::Repository)>,
    /// A chart from a Helm repository, fetched.
    chart: Option<flotilla_charts::Fetched>,
    /// The environment's branch of the source repository (empty when a commit was asked for).
    branch: String,
    commit: CommitId,
    /// Whether the branch's whole history is in the full cache (a rollout or a window may choose
    /// an older commit than the branch's tip, which the shallow cache lacks).
    deep: bool,
}

/// How many first-parent commits of a branch a rollout looks back over.
const ROLLOUT_HISTORY: usize = flotilla_core::rollout::HISTORY;

/// What the hub answered about a placement's rollout, asked at most once per decision.
#[derive(Default)]
struct Asked(Option<Result<crate::hub::Rollout, String>>);

impl Asked {
    /// The hub's answer, asking it the first time.
    async fn get(
        &mut self,
        config: &Config,
        placement: &str,
        environment: &str,
    ) -> &Result<crate::hub::Rollout, String> {
        if self.0.is_none() {
            let asked = match &config.hub {
                None => Err("no hub is configured".to_string()),
                Some(hub) => match crate::hub::Hub::new(&hub.url) {
                    Ok(client) => {
                        client.rollout(&hub.token_file, placement, environment).await.map_err(|e| e.to_string())
                    }
                    Err(e) => Err(e.to_string()),
                },
            };
            self.0 = Some(asked);
        }
        self.0.as_ref().expect("asked just now")
    }
}

/// What a placement's rollout and windows let this cluster take at `now` (SPEC §2): the inputs
/// of `flotilla_core::rollout::decide` gathered — the branch's history with when each commit
/// reached it, the commit the cluster runs, the hub's answer and the overrides it asks for — and
/// its decision carried out. When the commit taken is not the tip, the placement is synced there
/// and reported `WaitingForWave` or `WaitingForWindow` with why; when nothing may be taken and
/// nothing is applied yet, the report (nothing is applied).
///
/// A commit's gate counts from when it reached the branch: the hub's time, asked (with the halt,
/// in one request) by a later wave about to decide on a commit the hub has not dated for it yet,
/// else the agent's own first sight of it (`stateDir/arrivals`) — never the commit's own date.
/// A placement whose source is the fleet repository itself rolls out along the fleet branch: its
/// wave renders the placement's folder at an older fleet commit (the placement as the newest
/// fleet commit declares it).
#[allow(clippy::too_many_arguments, reason = "what one decision reads, each once")]
#[allow(clippy::too_many_lines, reason = "the gathering of one decision's inputs, in the order it asks for them")]
async fn schedule<'f>(
    cluster: &mut Cluster,
    config: &Config,
    key: &[u8],
    at: &'f FleetAt,
    identity: &ClusterIdentity,
    placement: &Placement,
    mut located: Located<'f>,
    now: i64,
) -> Result<(Located<'f>, Option<Waiting>, Option<Override>), Box<PlacementReport>> {
    use flotilla_core::rollout::{self, Checked, Decision, HaltSaid, HubAnswer, Inputs, Windows};
    let name = placement.name();
    let spec = &placement.spec;
    let rollout = spec.rollout.as_ref().filter(|r| !r.waves.is_empty());
    let windows = Windows::at(&spec.windows, now);
    let freeze = rollout::frozen(&spec.freezes, now);
    if rollout::unconstrained(rollout, windows, freeze) || !located.deep {
        // Nothing to decide; or asked at a commit rather than a branch: no history to roll out
        // along, it is taken.
        return Ok((located, None, None));
    }
    // The source's repository: the fleet repository itself for a placement of `repository: fleet`.
    let url = located.source.as_ref().map_or(&at.source.url, |(source, _)| &source.url).clone();
    let fail = |state, message: String, source: &str| {
        let mut report = failed(name, state, message);
        report.source_commit = Some(source.to_string());
        Box::new(report)
    };
    let head = located.commit;
    let head_id = head.to_string();
    let current = applied(cluster, config.namespace.as_str(), key, name).await;
    let current_id = current.map(|c| c.to_string());
    let wave = rollout.map(|r| rollout::wave_of(r, name, identity).expect("the rollout has waves"));
    let mut asked = Asked::default();
    let (history, ids, arrivals) = match &wave {
        None => (Vec::new(), Vec::new(), None),
        Some(wave) => {
            let history = at
                .cache
                .history(&url, head, None, ROLLOUT_HISTORY)
                .map_err(|e| Box::new(failed(name, SyncState::SourceUnreachable, format!("{e:#}"))))?;
            let ids: Vec<String> = history.iter().map(|c| c.id.to_string()).collect();
            let arrivals = arrived(
                config,
                &url,
                &located.branch,
                &ids,
                now,
                wave.index > 0 && windows.open && current != Some(head),
                || async {
                    asked.get(config, name, &identity.environment).await.as_ref().ok().map(|a| a.arrivals.clone())
                },
            )
            .await;
            (history, ids, Some(arrivals))
        }
    };
    let commits = ids.iter().zip(&history).map(|(id, c)| (id.as_str(), c.tree.as_str()));
    let landed = rollout::Landed::dated(commits, |id| arrivals.as_ref().and_then(|a| a.at(id)), now);
    // What the decision asked for: the hub's answer, and each override read (the reading stops
    // at the first that passes, as the decision does).
    let mut ask = false;
    let mut checks: Option<Vec<OverrideRead>> = None;
    loop {
        if ask {
            asked.get(config, name, &identity.environment).await;
        }
        let hub = asked.0.as_ref().filter(|_| ask).map(|answer| match answer {
            Ok(answer) => HubAnswer::Halts(answer.halted()),
            Err(e) => HubAnswer::Unreachable(e),
        });
        let check_ids: Option<Vec<String>> = checks.as_ref().map(|c| c.iter().map(|(id, _)| id.to_string()).collect());
        let said: Option<Vec<Checked>> = checks.as_ref().zip(check_ids.as_ref()).map(|(checks, ids)| {
            checks.iter().zip(ids).map(|((_, said), commit)| Checked { commit, said: checked(said) }).collect()
        });
        let inputs = Inputs {
            rollout: rollout.zip(wave.as_ref()),
            history: &landed,
            head: &head_id,
            current: current_id.as_deref(),
            windows,
            freeze,
            hub,
            overrides: said.as_deref(),
            now,
        };
        let (notes, taken) = match rollout::decide(&inputs) {
            Decision::Ask { .. } => {
                // One answer covers every commit of the placement.
                ask = true;
                continue;
            }
            Decision::Check(candidates) => {
                let newest = candidates.newest().to_string();
                let read = read_overrides(config, at, &url, name, candidates)
                    .map_err(|(state, message)| fail(state, message, &newest))?;
                checks = Some(read);
                continue;
            }
            Decision::Take { commit, waiting, notes } => (notes, Ok((commit, waiting))),
            Decision::Wait { waiting, source, notes } => (notes, Err(fail(waiting.state, waiting.message, source))),
        };
        if notes.halt == Some(HaltSaid::UnreachableProceeds)
            && let Some(Err(e)) = &asked.0
        {
            tracing::warn!("{name}: cannot ask the hub about the halt ({e}); proceeding");
        }
        let passed = said_of_overrides(name, checks.as_deref().unwrap_or_default(), &notes);
        let (commit, waiting) = taken?;
        located.commit = commit.parse::<CommitId>().expect("a commit id git gave");
        return Ok((located, waiting, passed));
    }
}

/// An override read from a commit: the commit, and what its `Flotilla-Override:` counts for.
type OverrideRead = (CommitId, Result<Option<Override>, String>);

/// An override read, as `rollout::decide` reads it.
fn checked(said: &Result<Option<Override>, String>) -> Result<Option<&str>, &str> {
    match said {
        Ok(o) => Ok(o.as_ref().map(|o| o.signer.as_str())),
        Err(e) => Err(e.as_str()),
    }
}

/// What the decision's `notes` make of the overrides read: each ignored one said on stderr, and
/// the one that passed (to be reported).
fn said_of_overrides(name: &str, read: &[OverrideRead], notes: &flotilla_core::rollout::Notes<'_>) -> Option<Override> {
    let mut passed = None;
    for (commit, said) in read {
        let id = commit.to_string();
        match said {
            Err(e) if notes.ignored.contains(&id.as_str()) => {
                tracing::warn!("placement {name}: {e}");
            }
            Ok(Some(o)) if notes.passed == Some(id.as_str()) => passed = Some(o.clone()),
            _ => {}
        }
    }
    passed
}

/// The overrides a freeze asks for (`Candidates`), read in order up to the first that passes;
/// or the state and message of why they cannot be read.
fn read_overrides(
    config: &Config,
    at: &FleetAt,
    url: &str,
    name: &str,
    candidates: flotilla_core::rollout::Candidates<'_>,
) -> Result<Vec<OverrideRead>, (SyncState, String)> {
    use flotilla_core::rollout::Candidates;
    let newest = candidates.newest().parse::<CommitId>().expect("a commit id git gave");
    let signers = crate::trust::override_signers(config).map_err(|e| (SyncState::Failed, format!("{e:#}")))?;
    let check = |commit| crate::trust::check_override(&at.cache, url, commit, signers.as_ref(), name);
    let commits = match candidates {
        Candidates::Running(_) => vec![newest],
        Candidates::Between { since, .. } => {
            let since = since.map(|c| c.parse::<CommitId>().expect("a commit id git gave"));
            at.cache
                .history(url, newest, since, ROLLOUT_HISTORY)
                .map_err(|e| (SyncState::SourceUnreachable, format!("{e:#}")))?
                .into_iter()
                .map(|c| c.id)
                .collect()
        }
    };
    let mut read = Vec::new();
    for commit in commits {
        let said = check(commit);
        let passes = matches!(said, Ok(Some(_)));
        read.push((commit, said));
        if passes {
            break;
        }
    }
    Ok(read)
}

/// When each commit of a branch's first-parent history (`ids`, newest first) reached the
/// branch, as far as this agent knows at `now`: its record in `stateDir` brought up to date with
/// this look, and — when `decide` says the cluster is about to decide on a commit the hub has not
/// dated for it yet — the hub's times, through `ask`. A hub that cannot be asked leaves the
/// agent's own times.
async fn arrived<F, Fut>(
    config: &Config,
    url: &str,
    branch: &str,
    ids: &[String],
    now: i64,
    decide: bool,
    ask: F,
) -> crate::arrivals::Record
where
    F: FnOnce() -> Fut,
    Fut: std::future::Future<Output = Option<Vec<flotilla_core::rollout::Arrival>>>,
{
    let history: Vec<&str> = ids.iter().map(String::as_str).collect();
    let mut record = crate::arrivals::load(&config.state_dir, url, branch);
    let mut changed = record.observe(&history, now);
    if decide
        && config.hub.is_some()
        && history.first().is_some_and(|head| !record.hub_knows(head))
        && let Some(arrivals) = ask().await
    {
        changed |= record.hub_says(&arrivals);
    }
    if changed && let Err(e) = crate::arrivals::save(&config.state_dir, url, branch, &record) {
        tracing::warn!("keeping when commits reached {url} {branch}: {e}");
    }
    record
}

/// The commit a placement applied last, from its inventory in the cluster.
async fn applied(cluster: &mut Cluster, namespace: &str, key: &[u8], placement: &str) -> Option<CommitId> {
    let inventory = sync::read_inventory(cluster, namespace, placement, key).await.ok()?;
    inventory.commit.parse::<CommitId>().ok()
}

/// Fetches a chart, trying again while its repository cannot be reached or says it failed, as
/// [`retrying_git`] does.
fn retrying_chart(
    fetch: impl FnMut() -> Result<flotilla_charts::Fetched, flotilla_charts::Error>,
) -> Result<flotilla_charts::Fetched, flotilla_charts::Error> {
    fetch.retry(fetch_backoff()).sleep(std::thread::sleep).when(flotilla_charts::Error::is_transient).call()
}

/// Where charts from Helm repositories are fetched and cached (`stateDir/charts`), with
/// agent.yaml's `charts.credentialsFile`.
fn charts(config: &Config) -> Result<flotilla_charts::Charts, String> {
    let credentials = config
        .charts_credentials_file
        .as_deref()
        .map(Credentials::from_file)
        .transpose()
        .map_err(|e| format!("charts.credentialsFile: {e}"))?;
    Ok(flotilla_charts::Charts::new(config.state_dir.join("charts")).with_credentials(credentials))
}

/// Fetches a placement's source at its environment's branch (or its chart, at the version its
/// range takes now): the commit to render, or the report of why it cannot be known.
fn locate<'f>(
    config: &Config,
    at: &'f FleetAt,
    identity: &ClusterIdentity,
    placement: &Placement,
) -> Result<Located<'f>, Box<PlacementReport>> {
    let name = placement.name();
    let fail = |state, message: String| Box::new(failed(name, state, message));
    if let Some(chart) = &placement.spec.source.chart {
        let said = |e: String| format!("placement {name} ({}): field spec.source.chart: {e}", placement.file);
        if config.sources_verify == crate::config::VerifyMode::Enforce {
            // The floor holds for every source: a chart carries no signature this agent checks.
            let why = "agent.yaml's sources.verify is enforce, and a chart from a Helm repository has no signed commit \
                       (provenance files are not checked)";
            return Err(fail(SyncState::VerificationFailed, said(why.into())));
        }
        let charts = charts(config).map_err(|e| fail(SyncState::Failed, said(e)))?;
        let fetched = retrying_chart(|| charts.fetch(chart)).map_err(|e| {
            let state = if e.is_unreachable() { SyncState::SourceUnreachable } else { SyncState::Failed };
            fail(state, said(e.to_string()))
        })?;
        let commit = fetched.id;
        return Ok(Located { source: None, chart: Some(fetched), branch: String::new(), commit, deep: false });
    }
    let Some(repo_name) = placement.spec.source.repository() else {
        return Err(fail(SyncState::Failed, format!("placement {name}: no source repository and no chart")));
    };
    // A rollout or windows may choose an older commit than the tip: the whole branch then.
    let spec = &placement.spec;
    let deep = spec.rollout.as_ref().is_some_and(|r| !r.waves.is_empty())
        || !spec.windows.is_empty()
        || !spec.freezes.is_empty();
    if repo_name == FLEET_REPOSITORY {
        // The fleet repository was read already, at the commit the placement came from; its
        // branch's history is fetched for a rollout (not when a commit was asked for).
        let Some(branch) = at.branch.as_deref().filter(|_| deep) else {
            return Ok(Located { source: None, chart: None, branch: String::new(), commit: at.commit, deep: false });
        };
        retrying_git(|| at.cache.fetch(&at.source, &[branch]))
            .map_err(|e| fail(SyncState::SourceUnreachable, format!("{e:#}")))?;
        return Ok(Located { source: None, chart: None, branch: branch.to_string(), commit: at.commit, deep: true });
    }
    let repo = at.fleet.source_repository(repo_name).map_err(|e| fail(SyncState::Failed, e))?;
    let source = Source { url: repo.url().to_string(), credentials: at.source.credentials.clone() };
    let branch = repo.branch(&identity.environment);
    let tips = if deep {
        retrying_git(|| at.cache.fetch(&source, &[&branch]))
    } else {
        retrying_git(|| at.cache.fetch_tips(&source, &[&branch]))
    }
    .map_err(|e| fail(SyncState::SourceUnreachable, format!("{e:#}")))?;
    Ok(Located { commit: tips.heads[&branch], source: Some((source, repo)), chart: None, branch, deep })
}

/// Verifies and renders a located source: what the cluster should run, or the report of why
/// it cannot be known (and nothing is applied).
fn render_located(
    config: &Config,
    options: &RenderOptions,
    at: &FleetAt,
    identity: &ClusterIdentity,
    placement: &Placement,
    located: &Located<'_>,
) -> Result<Desired, Box<PlacementReport>> {
    let name = placement.name();
    let commit = located.commit;
    // Said of the commit: a rollout's halt counts it against that commit.
    let fail = |state, message: String| {
        let mut report = failed(name, state, message);
        report.source_commit = Some(commit.to_string());
        Box::new(report)
    };
    let fetched;
    let (snapshot, signer) = match (&located.source, &located.chart) {
        // A chart's archive was checked against its repository's digest; no one signed it.
        (None, Some(chart)) => (&chart.snapshot, None),
        (None, None) if commit == at.commit => (&at.snapshot, at.signer.clone()),
        (None, None) => {
            // A rollout holds this placement at an older commit of the fleet branch, which the
            // trust root must have signed as well.
            let policy = crate::trust::fleet_policy(config)
                .map_err(|e| fail(SyncState::VerificationFailed, format!("{e:#}")))?;
            let signer = crate::trust::verify(&at.cache, &at.source.url, commit, &policy)
                .map_err(|e| fail(SyncState::VerificationFailed, e))?;
            fetched = at.cache.snapshot(&at.source.url, commit).map_err(|e| fail(SyncState::Failed, e.to_string()))?;
            (&fetched, signer)
        }
        (Some((source, repo)), _) => {
            let shallow;
            let shallow = if located.deep {
                &at.cache
            } else {
                shallow = at.cache.shallow();
                &shallow
            };
            // The Repository's verification, never looser than agent.yaml's `sources.verify`.
            let policy = crate::trust::source_policy(config, &repo.spec.verify);
            let signer = crate::trust::verify(shallow, &source.url, commit, &policy)
                .map_err(|e| fail(SyncState::VerificationFailed, e))?;
            fetched = shallow.snapshot(&source.url, commit).map_err(|e| fail(SyncState::Failed, e.to_string()))?;
            (&fetched, signer)
        }
    };
    let what = match &located.chart {
        Some(chart) => format!("version {} (sha256:{commit})", chart.version),
        None => commit.to_string(),
    };
    let rendered = flotilla_core::render::render_with(placement, snapshot, identity, options)
        .map_err(|e| fail(SyncState::Failed, format!("at {what}: {e}")))?;
    let options =
        plan::Options { prune: placement.spec.sync.prune, drift_correction: placement.spec.sync.drift_correction };
    let scope = flotilla_core::scope::Effective::of(&placement.spec);
    Ok(Desired::new(name, &commit.to_string(), &rendered.digest.to_string(), signer, rendered.objects, options, scope))
}
