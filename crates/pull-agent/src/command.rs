//! The commands of `pull-agent`, once their arguments are parsed and checked: each reads what
//! it needs, calls the library and says what came of it — the result on `out`, what happened on
//! stderr through the log ([`crate::log`]). Each returns whether it succeeded in its own sense
//! (all synced, no failing policy…), which the binary makes its exit code.
//!
//! Not the argument parsing (`main.rs`), nor any decision: those are the library's.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result, bail};
use flotilla_core::fleet::{ClusterIdentity, Verify, VerifyMode};
use flotilla_core::render;

use crate::config::{Config, Kubernetes};
use crate::local::{Sources, render_cluster_with};

/// A fleet repository checked out in a folder, and the cluster to render it for (the local form
/// of `render` and `check`).
#[derive(Debug, Clone)]
pub struct Local {
    pub sources: Sources,
    pub identity: ClusterIdentity,
}

/// A source rendered straight from git (`render --repo`).
#[derive(Debug, Clone)]
pub struct Remote {
    pub source: flotilla_git::Source,
    /// A branch name or a full commit id.
    pub git_ref: String,
    /// The folder to render inside the repository.
    pub path: String,
    /// Where the git cache lives.
    pub state_dir: PathBuf,
    pub verify: VerifyMode,
    pub allowed_signers: Option<PathBuf>,
    pub openpgp_keys: Option<PathBuf>,
}

/// `--source NAME=DIR` flags.
pub fn source_overrides(sources: &[String]) -> Result<BTreeMap<String, PathBuf>> {
    let mut overrides = BTreeMap::new();
    for s in sources {
        let (n, d) = s.split_once('=').with_context(|| format!("--source {s:?} is not NAME=DIR"))?;
        overrides.insert(n.to_string(), PathBuf::from(d));
    }
    Ok(overrides)
}

/// Where the git cache of `render --repo` lives by default: `$XDG_CACHE_HOME/flotilla`, else
/// `~/.cache/flotilla`.
pub fn default_state_dir() -> Result<PathBuf> {
    if let Some(dir) = std::env::var_os("XDG_CACHE_HOME").filter(|d| !d.is_empty()) {
        return Ok(PathBuf::from(dir).join("flotilla"));
    }
    let home = std::env::var_os("HOME").context("no --state-dir, XDG_CACHE_HOME or HOME to keep the git cache in")?;
    Ok(PathBuf::from(home).join(".cache/flotilla"))
}

/// A one-shot command on a simulated cluster works on an empty cluster of its own: say so, since
/// what it shows (everything new) is not what the agent's daemon sees.
fn warn_if_simulated(config: &Config, command: &str) {
    if config.kubernetes == Kubernetes::Simulated {
        tracing::warn!(
            "kubernetes is simulated: `{command}` runs on an empty cluster inside this process, which ends with it \
             (nothing an earlier command applied is there)"
        );
    }
}

fn runtime() -> Result<tokio::runtime::Runtime> {
    // One thread: the agent does one thing at a time, and idles small.
    Ok(tokio::runtime::Builder::new_current_thread().enable_all().build()?)
}

/// `run` (`once: false`) and `once`: cycles of reconcile and report; SIGTERM finishes the object
/// in flight. `once` prints its report on `out`; true when every placement is synced.
pub fn daemon(config: Config, once: bool, out: &mut impl Write) -> Result<bool> {
    if once {
        warn_if_simulated(&config, "once");
    }
    runtime()?.block_on(async {
        let shutdown = crate::shutdown::Shutdown::new();
        shutdown.on_signals()?;
        let mut agent = crate::daemon::Agent::new(config, shutdown).await?;
        if !once {
            agent.run().await?;
            return Ok(true);
        }
        let cycle = agent.cycle().await?;
        for r in &cycle.report.placements {
            tracing::info!(
                "placement {}: {:?}{}",
                r.name,
                r.state,
                r.message.as_deref().map(|m| format!(": {m}")).unwrap_or_default()
            );
        }
        tracing::info!("{}", cycle.summary(1));
        writeln!(out, "{}", serde_json::to_string_pretty(&cycle.report)?)?;
        Ok(cycle.synced())
    })
}

/// `register`: trades the join token in `join_token` for the cluster's own token at the hub
/// (`hub`, else the config's `hub.url`; `config_path` names the config in errors).
pub fn register(config: &Config, config_path: &Path, hub: Option<&str>, join_token: &Path) -> Result<()> {
    let hub_url = match (hub, &config.hub) {
        (Some(url), _) => url.to_string(),
        (None, Some(hub)) => hub.url.clone(),
        (None, None) => bail!("{}: no hub.url, and no --hub URL given", config_path.display()),
    };
    let token_file = config
        .hub
        .as_ref()
        .map_or_else(|| config.state_dir.join(crate::config::DEFAULT_TOKEN_FILE), |h| h.token_file.clone());
    let said = runtime()?.block_on(crate::daemon::register(config, &hub_url, join_token, &token_file))?;
    tracing::info!("{said}");
    Ok(())
}

/// `plan`: what a reconcile would change, one line per change on `out`; true when every
/// placement is synced.
pub fn plan(config: &Config, out: &mut impl Write) -> Result<bool> {
    warn_if_simulated(config, "plan");
    let reconciled = runtime()?.block_on(async {
        let client = crate::agent::connect(&config.kubernetes).await?;
        let mut cluster = crate::cluster::Cluster::new(client);
        crate::agent::reconcile(config, &mut cluster, crate::agent::Mode::Plan).await
    })?;
    for w in &reconciled.warnings {
        tracing::warn!("{w}");
    }
    for o in &reconciled.placements {
        let r = &o.report;
        tracing::info!(
            "placement {}: {:?}{}",
            r.name,
            r.state,
            r.message.as_deref().map(|m| format!(": {m}")).unwrap_or_default()
        );
        if let Some(plan) = &o.plan {
            for a in &plan.apply {
                writeln!(out, "apply {} ({:?})", a.object, a.reason)?;
            }
            for p in &plan.prune {
                writeln!(out, "prune {p}")?;
            }
            for (r, differences) in &plan.drifted {
                for d in differences {
                    writeln!(
                        out,
                        "drift {r}: {}: applied {} live {}",
                        d.path,
                        d.applied,
                        d.live.as_ref().map_or_else(|| "none".to_string(), ToString::to_string)
                    )?;
                }
            }
        }
    }
    Ok(reconciled.synced())
}

/// `render DIR`: a kustomization folder, as `kubectl kustomize DIR` renders it.
pub fn render_dir(dir: &Path, options: &render::Options, out: &mut impl Write) -> Result<()> {
    let objects = crate::folder::render_dir_with(dir, &options.budget)?;
    out.write_all(flotilla_core::yaml::to_string_all(&objects).as_bytes())?;
    Ok(())
}

/// `render CHART_DIR`'s settings, as `helm template` takes them.
#[derive(Debug, Clone)]
pub struct Chart {
    pub release: String,
    pub namespace: String,
    /// `--values` files, in order.
    pub values_files: Vec<PathBuf>,
    /// `--set` lines, in order, over the files and `--set-json`.
    pub set: Vec<String>,
    /// `--set-string` lines, after `--set`.
    pub set_string: Vec<String>,
    /// `--set-json` lines, after the files.
    pub set_json: Vec<String>,
    /// `--set-file` lines, after `--set-string`.
    pub set_file: Vec<String>,
    pub kube_version: Option<String>,
    pub api_versions: Vec<String>,
}

/// `render CHART_DIR`: a chart folder as `helm template RELEASE DIR --namespace NS` renders
/// it, as the objects a placement applies (CRDs, pre-install hooks, the release, post-install
/// hooks; test hooks never), printed as YAML.
pub fn render_chart(dir: &Path, chart: &Chart, options: &render::Options, out: &mut impl Write) -> Result<()> {
    use flotilla_core::helm;
    let mut values = serde_json::Map::new();
    for file in &chart.values_files {
        let bytes = std::fs::read(file).with_context(|| format!("reading {}", file.display()))?;
        match flotilla_core::yaml::load_helm_values(&bytes).with_context(|| format!("reading {}", file.display()))? {
            serde_json::Value::Object(map) => helm::values::merge(&mut values, map),
            serde_json::Value::Null => {}
            _ => anyhow::bail!("{}: values must be a mapping", file.display()),
        }
    }
    // Helm's order (`values.Options.MergeValues`): files, --set-json, --set, --set-string,
    // --set-file, each in the order given.
    for line in &chart.set_json {
        helm::strvals::parse_into_json(line, &mut values).map_err(anyhow::Error::msg)?;
    }
    for line in &chart.set {
        helm::strvals::parse_into(line, &mut values)
            .map_err(anyhow::Error::msg)
            .with_context(|| format!("--set {line}"))?;
    }
    for line in &chart.set_string {
        helm::strvals::parse_into_string(line, &mut values)
            .map_err(anyhow::Error::msg)
            .with_context(|| format!("--set-string {line}"))?;
    }
    for line in &chart.set_file {
        let mut read = |name: &str| {
            std::fs::read(name)
                .map(|bytes| String::from_utf8_lossy(&bytes).into_owned())
                .map_err(|e| format!("reading {name}: {e}"))
        };
        helm::strvals::parse_into_file(line, &mut values, &mut read)
            .map_err(anyhow::Error::msg)
            .with_context(|| format!("--set-file {line}"))?;
    }
    let snapshot = crate::folder::snapshot(dir)?;
    let helm_options = helm::Options {
        release_name: chart.release.clone(),
        namespace: chart.namespace.clone(),
        values,
        kube_version: chart.kube_version.clone().unwrap_or_else(|| helm::DEFAULT_KUBE_VERSION.to_string()),
        api_versions: chart.api_versions.clone(),
        ..helm::Options::default()
    };
    let rendered =
        helm::render(&snapshot, "", &helm_options).with_context(|| format!("rendering chart {}", dir.display()))?;
    let objects = helm::manifests::manifests(&rendered)
        .with_context(|| format!("rendering chart {}", dir.display()))?
        .in_apply_order();
    if objects.len() > options.budget.max_objects {
        anyhow::bail!(
            "rendering chart {}: {} objects, over the budget of {} (--max-objects)",
            dir.display(),
            objects.len(),
            options.budget.max_objects
        );
    }
    out.write_all(flotilla_core::yaml::to_string_all(&objects).as_bytes())?;
    Ok(())
}

/// `render --repo`: a folder of a source straight from git, its signature checked as asked.
pub fn render_remote(remote: &Remote, options: &render::Options, out: &mut impl Write) -> Result<()> {
    let read = |p: &Option<PathBuf>| -> Result<Option<String>> {
        p.as_ref().map(|p| std::fs::read_to_string(p).with_context(|| format!("reading {}", p.display()))).transpose()
    };
    let verify = Verify {
        mode: remote.verify,
        allowed_signers: read(&remote.allowed_signers)?,
        openpgp_keys: read(&remote.openpgp_keys)?,
    };
    let cache = remote.state_dir.join("git");
    let rendered =
        crate::remote::render(&cache, &remote.source, &remote.git_ref, &remote.path, &verify, &options.budget)?;
    if verify.mode != VerifyMode::Off {
        tracing::info!("{} at {}: {}", remote.source.url, rendered.commit, rendered.signature);
    }
    out.write_all(flotilla_core::yaml::to_string_all(&rendered.objects).as_bytes())?;
    Ok(())
}

/// `render --fleet-dir`: what selects a cluster in a fleet folder (only the placement `only`,
/// if given); true when every placement rendered.
pub fn render_local(
    local: &Local,
    only: Option<&str>,
    options: &render::Options,
    out: &mut impl Write,
) -> Result<bool> {
    let identity = &local.identity;
    let report = render_cluster_with(&local.sources, identity, only, options)?;
    if let Some(m) = &report.mismatch {
        tracing::warn!("cluster {} is declared differently: {m}", identity.name);
    }
    for (i, r) in report.rendered.iter().enumerate() {
        if i > 0 {
            out.write_all(b"---\n")?;
        }
        writeln!(out, "# placement: {}\n# digest: {}", r.placement, r.digest)?;
        out.write_all(flotilla_core::yaml::to_string_all(&r.objects).as_bytes())?;
    }
    for e in &report.errors {
        tracing::error!("{e}");
    }
    if report.rendered.is_empty() && report.errors.is_empty() {
        tracing::info!("no placement selects cluster {}", identity.name);
    }
    Ok(report.errors.is_empty())
}

/// `render --config`: what this cluster would run (only the placement `only`, if given), the
/// fleet fetched from git at `git_ref` (default: the environment's branch) as the agent does;
/// true when every placement rendered.
pub fn render_for_cluster(
    config: &Config,
    only: Option<&str>,
    git_ref: Option<&str>,
    out: &mut impl Write,
) -> Result<bool> {
    let rendered = crate::agent::render(config, only, git_ref)?;
    for w in &rendered.warnings {
        tracing::warn!("{w}");
    }
    tracing::info!("fleet repository at {}", rendered.fleet_commit);
    let mut failed = false;
    let mut first = true;
    for placement in &rendered.placements {
        match placement {
            Ok(d) => {
                if !first {
                    out.write_all(b"---\n")?;
                }
                first = false;
                writeln!(out, "# placement: {}\n# commit: {}\n# digest: {}", d.placement, d.commit, d.digest)?;
                out.write_all(flotilla_core::yaml::to_string_all(&d.objects).as_bytes())?;
            }
            Err(report) => {
                failed = true;
                tracing::error!(
                    "placement {}: {:?}: {}",
                    report.name,
                    report.state,
                    report.message.as_deref().unwrap_or_default()
                );
            }
        }
    }
    if rendered.placements.is_empty() {
        tracing::info!("no placement selects cluster {}", config.cluster.name);
    }
    Ok(!failed)
}

/// What `check` renders: a cluster's fleet from git (the agent's config, at `git_ref`), or a
/// fleet folder.
#[derive(Debug)]
pub enum CheckFrom {
    Config { config: Box<Config>, git_ref: Option<String> },
    Local(Local, render::Options),
}

/// `check`: renders what the cluster would run, then evaluates its policies against it, the
/// findings on `out`. A placement that cannot be rendered fails the check too: its objects are
/// not there to judge. True when nothing fails.
pub fn check(from: CheckFrom, out: &mut impl Write) -> Result<bool> {
    let mut agent_namespace = crate::config::DEFAULT_NAMESPACE.to_string();
    let (objects, policies, errors) = match from {
        CheckFrom::Config { config, git_ref } => {
            agent_namespace = config.namespace.to_string();
            let rendered = crate::agent::render(&config, None, git_ref.as_deref())?;
            for w in &rendered.warnings {
                tracing::warn!("{w}");
            }
            tracing::info!("fleet repository at {}", rendered.fleet_commit);
            let mut objects = Vec::new();
            let mut errors = Vec::new();
            for placement in rendered.placements {
                match placement {
                    Ok(d) => objects.extend(d.objects),
                    Err(report) => errors.push(format!(
                        "placement {}: {:?}: {}",
                        report.name,
                        report.state,
                        report.message.as_deref().unwrap_or_default()
                    )),
                }
            }
            (objects, rendered.policies, errors)
        }
        CheckFrom::Local(local, options) => {
            let report = render_cluster_with(&local.sources, &local.identity, None, &options)?;
            if let Some(m) = &report.mismatch {
                tracing::warn!("cluster {} is declared differently: {m}", local.identity.name);
            }
            let objects = report.rendered.into_iter().flat_map(|r| r.objects).collect();
            (objects, report.policies, report.errors)
        }
    };
    let findings = crate::check::check(&policies, &objects, &agent_namespace);
    crate::check::print(&findings, out)?;
    for e in &errors {
        tracing::error!("{e}");
    }
    Ok(!crate::check::failing(&findings) && errors.is_empty())
}
