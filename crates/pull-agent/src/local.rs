//! The local form of the commands: a fleet repository and its sources checked out in folders,
//! no git and no cluster. `render` and `check` use it in CI.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result, bail};
use flotilla_core::fleet::{ClusterIdentity, FLEET_REPOSITORY, Fleet, Policy};
use flotilla_core::render::{self, Rendered};
use flotilla_core::snapshot::Snapshot;

/// Where the sources are: the fleet folder, and a folder per source repository. A repository
/// not named with `--source NAME=DIR` is looked for beside the fleet folder, under its name.
#[derive(Debug, Clone)]
pub struct Sources {
    pub fleet_dir: PathBuf,
    pub overrides: BTreeMap<String, PathBuf>,
}

impl Sources {
    fn dir_of(&self, repository: &str) -> PathBuf {
        if repository == FLEET_REPOSITORY {
            return self.fleet_dir.clone();
        }
        self.overrides
            .get(repository)
            .cloned()
            .unwrap_or_else(|| self.fleet_dir.parent().unwrap_or_else(|| Path::new(".")).join(repository))
    }
}

/// The rendering of every placement that selects the cluster, with per-placement errors kept
/// apart so one broken placement does not hide the others.
#[derive(Debug)]
pub struct Report {
    pub rendered: Vec<Rendered>,
    pub errors: Vec<String>,
    /// Set when the fleet repository declares the cluster differently from the command line.
    pub mismatch: Option<String>,
    /// The policies that select the cluster.
    pub policies: Vec<Policy>,
}

/// Refuses a folder that is not a fleet repository's checkout (it has no `fleet/` folder), so
/// that a wrong `--fleet-dir` is not taken for a fleet where no placement selects the cluster.
/// Names a folder one level down that has one (`examples/retail-fleet` → `infra`).
fn ensure_fleet(dir: &Path) -> Result<()> {
    if dir.join("fleet").is_dir() {
        return Ok(());
    }
    if !dir.is_dir() {
        bail!("the fleet folder {} does not exist", dir.display());
    }
    let mut below: Vec<PathBuf> = std::fs::read_dir(dir)
        .with_context(|| format!("reading the fleet folder {}", dir.display()))?
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.join("fleet").is_dir())
        .collect();
    below.sort();
    let hint = below.first().map(|p| format!(" ({} has one: --fleet-dir {}?)", p.join("fleet").display(), p.display()));
    bail!(
        "no fleet in {}: expected a folder {} with the fleet's YAML (clusters, placements, repositories), \
         as at the root of a fleet repository{}",
        dir.display(),
        dir.join("fleet").display(),
        hint.unwrap_or_default()
    )
}

/// Renders what `identity` would run, for every placement (or only `only`).
pub fn render_cluster(sources: &Sources, identity: &ClusterIdentity, only: Option<&str>) -> Result<Report> {
    render_cluster_with(sources, identity, only, &render::Options::default())
}

/// [`render_cluster`] with `options` (the render budget).
pub fn render_cluster_with(
    sources: &Sources,
    identity: &ClusterIdentity,
    only: Option<&str>,
    options: &render::Options,
) -> Result<Report> {
    ensure_fleet(&sources.fleet_dir)?;
    let fleet_snapshot = crate::folder::snapshot(&sources.fleet_dir)
        .with_context(|| format!("reading the fleet folder {}", sources.fleet_dir.display()))?;
    let (fleet, fleet_errors) = Fleet::from_snapshot(&fleet_snapshot);
    let mut errors: Vec<String> = fleet_errors.iter().map(ToString::to_string).collect();
    if let Some(name) = only
        && fleet.placement(name).is_none()
    {
        bail!("no placement named {name:?} in {}", sources.fleet_dir.display());
    }
    let selection = fleet.select(identity);
    let mut cache: BTreeMap<String, Snapshot> = BTreeMap::new();
    let mut rendered = Vec::new();
    for placement in selection.placements.iter().filter(|p| only.is_none_or(|n| p.name() == n)) {
        let Some(repo) = placement.spec.source.repository() else {
            errors.push(format!(
                "placement {}: {}: a chart from a Helm repository is fetched with --config (the local form renders folders)",
                placement.name(),
                placement.spec.source.location()
            ));
            continue;
        };
        if repo != FLEET_REPOSITORY
            && let Err(e) = fleet.source_repository(repo)
        {
            errors.push(format!("placement {}: {e}", placement.name()));
            continue;
        }
        if !cache.contains_key(repo) {
            let dir = sources.dir_of(repo);
            match crate::folder::snapshot(&dir) {
                Ok(s) => {
                    cache.insert(repo.to_string(), s);
                }
                Err(e) => {
                    errors.push(format!("placement {}: source {repo} in {}: {e:#}", placement.name(), dir.display()));
                    continue;
                }
            }
        }
        match render::render_with(placement, &cache[repo], &selection.identity, options) {
            Ok(r) => rendered.push(r),
            Err(e) => errors.push(e.to_string()),
        }
    }
    let policies = selection.policies.iter().map(|p| (*p).clone()).collect();
    Ok(Report { rendered, errors, mismatch: selection.mismatch, policies })
}
