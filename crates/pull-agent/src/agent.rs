//! One reconcile of every placement that selects this cluster: fetch the fleet repository at
//! the environment's branch, select the placements, and for each fetch and verify its source,
//! render, and sync (or only plan). Each placement is isolated: a source that cannot be fetched,
//! verified or rendered is reported and not applied, and the cluster keeps its last good state.
//!
//! Not the daemon loop, the hub client or the spool (those come with `run`).

use anyhow::{Context as _, Result};
use flotilla_core::fleet::{ClusterIdentity, FLEET_REPOSITORY, Fleet, Placement, VerifyMode};
use flotilla_core::plan::{self, Plan};
use flotilla_core::report::{PlacementReport, SyncState};
use flotilla_git::{Cache, CommitId, Credentials, Signature, Source};

use crate::cluster::Cluster;
use crate::config::{Config, Kubernetes};
use crate::sync::{self, Desired};

/// Whether a reconcile changes the cluster.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Apply,
    /// Plan only: report what would change.
    Plan,
}

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
    /// Problems of the fleet repository itself (a broken fleet document) and a label mismatch.
    pub warnings: Vec<String>,
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

/// Reconciles (or plans) every placement that selects this cluster.
pub async fn reconcile(config: &Config, cluster: &mut Cluster, mode: Mode) -> Result<Reconciled> {
    let cache = Cache::new(config.state_dir.join("git"));
    let credentials = config
        .fleet
        .credentials_file
        .as_deref()
        .map(Credentials::from_file)
        .transpose()
        .context("fleet.credentialsFile")?;
    let fleet_source = Source { url: config.fleet.url.clone(), credentials };
    let branch = config.cluster.environment.clone();
    let tips = cache
        .fetch_tips(&fleet_source, &[branch.as_str()])
        .with_context(|| format!("fetching the fleet repository at {branch}"))?;
    let fleet_commit = tips.heads[&branch];
    let shallow = cache.shallow();
    let snapshot = shallow.snapshot(&fleet_source.url, fleet_commit).context("reading the fleet repository")?;
    let (fleet, errors) = Fleet::from_snapshot(&snapshot);
    let mut warnings: Vec<String> = errors.iter().map(ToString::to_string).collect();
    let selection = fleet.select(&identity(config));
    warnings.extend(selection.mismatch.clone());

    let mut placements = Vec::new();
    for placement in &selection.placements {
        let ctx = Context { fleet: &fleet, identity: &selection.identity, fleet_source: &fleet_source, cache: &cache };
        let outcome = match desired(&ctx, placement) {
            Err(report) => Outcome { report: *report, plan: None },
            Ok(desired) if placement.spec.paused => Outcome { report: paused(&desired), plan: None },
            Ok(desired) => match mode {
                Mode::Apply => Outcome { report: sync::sync(cluster, &config.namespace, &desired).await, plan: None },
                Mode::Plan => match sync::plan_only(cluster, &config.namespace, &desired).await {
                    Ok(plan) => {
                        let mut report = paused(&desired);
                        report.state = if plan.is_empty() { SyncState::Synced } else { SyncState::Progressing };
                        report.message = None;
                        Outcome { report, plan: Some(plan) }
                    }
                    Err(e) => Outcome { report: failed(placement.name(), SyncState::Failed, e), plan: None },
                },
            },
        };
        placements.push(outcome);
    }
    Ok(Reconciled { fleet_commit, placements, warnings })
}

/// What every placement's source is read with.
#[derive(Clone, Copy)]
struct Context<'a> {
    fleet: &'a Fleet,
    identity: &'a ClusterIdentity,
    fleet_source: &'a Source,
    cache: &'a Cache,
}

/// What a paused placement reports: the commit it would take, nothing applied.
fn paused(desired: &Desired) -> PlacementReport {
    let mut report = failed(&desired.placement, SyncState::Paused, "paused: no new commit is taken".into());
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
    }
}

/// Fetches, verifies and renders a placement's source: what the cluster should run, or the
/// report of why it cannot be known (and nothing is applied).
fn desired(ctx: &Context<'_>, placement: &Placement) -> Result<Desired, Box<PlacementReport>> {
    let Context { fleet, identity, fleet_source, cache } = *ctx;
    let name = placement.name();
    let repo_name = &placement.spec.source.repository;
    let fail = |state, message: String| Box::new(failed(name, state, message));
    let (source, branch, verify) = if repo_name == FLEET_REPOSITORY {
        (None, identity.environment.clone(), None)
    } else {
        let Some(repo) = fleet.repository(repo_name) else {
            return Err(fail(SyncState::Failed, format!("source repository {repo_name:?} is not declared in fleet/")));
        };
        let source = Source { url: repo.spec.url.clone(), credentials: fleet_source.credentials.clone() };
        (Some(source), repo.branch(&identity.environment), Some(repo.spec.verify.clone()))
    };
    let (snapshot, commit, signer) = match &source {
        // The fleet repository was fetched already, at this branch.
        None => {
            let shallow = cache.shallow();
            let commit = shallow
                .head(&fleet_source.url, &branch)
                .map_err(|e| fail(SyncState::SourceUnreachable, e.to_string()))?;
            let snapshot =
                shallow.snapshot(&fleet_source.url, commit).map_err(|e| fail(SyncState::Failed, e.to_string()))?;
            (snapshot, commit, None)
        }
        Some(source) => {
            let tips = cache
                .fetch_tips(source, &[&branch])
                .map_err(|e| fail(SyncState::SourceUnreachable, format!("{e:#}")))?;
            let commit = tips.heads[&branch];
            let shallow = cache.shallow();
            let mut signer = None;
            if let Some(policy) = verify.as_ref().filter(|v| v.mode != VerifyMode::Off) {
                let verdict = shallow
                    .verify(&source.url, commit, policy)
                    .map_err(|e| fail(SyncState::VerificationFailed, e.to_string()))?;
                if !verdict.allowed {
                    return Err(fail(
                        SyncState::VerificationFailed,
                        format!("{} at {commit}: {}", source.url, verdict.reason().unwrap_or_default()),
                    ));
                }
                if let Signature::Verified { signer: s, .. } = verdict.signature {
                    signer = Some(s);
                }
            }
            let snapshot = shallow.snapshot(&source.url, commit).map_err(|e| fail(SyncState::Failed, e.to_string()))?;
            (snapshot, commit, signer)
        }
    };
    let rendered = flotilla_core::render::render(placement, &snapshot, identity)
        .map_err(|e| fail(SyncState::Failed, format!("at {commit}: {e}")))?;
    let options =
        plan::Options { prune: placement.spec.sync.prune, drift_correction: placement.spec.sync.drift_correction };
    Ok(Desired::new(name, &commit.to_string(), &rendered.digest.to_string(), signer, rendered.objects, options))
}
