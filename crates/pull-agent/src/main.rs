//! `pull-agent`: parses arguments and calls the library.

mod stdout;

use std::collections::BTreeMap;
use std::io::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context as _, Result, bail};
use clap::{Parser, Subcommand};
use flotilla_core::fleet::ClusterIdentity;
use flotilla_core::selector::parse_labels;
use pull_agent::local::{Sources, render_cluster_with};
use stdout::Stdout;

#[derive(Parser)]
#[command(name = "pull-agent", version, about = "Flotilla's per-cluster GitOps agent")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Render a kustomization folder as `kubectl kustomize DIR` does, or what a cluster would run.
    Render(Box<RenderArgs>),
    /// The daemon: poll, reconcile, report, until SIGTERM.
    Run(ConfigArgs),
    /// Reconcile every placement once and report; exit 0 when all are synced, 1 when not.
    ///
    /// With `kubernetes: {simulated: true}` the cluster is an empty one inside this process,
    /// gone when it exits: what `once` applies, the next command does not see.
    Once(ConfigArgs),
    /// What `once` would change on the cluster, without changing it.
    ///
    /// With `kubernetes: {simulated: true}` the cluster is an empty one inside this process: the
    /// plan shows everything as new, whatever an earlier `once` applied.
    Plan(ConfigArgs),
    /// Exchange a join token for this cluster's own token at the hub.
    Register(RegisterArgs),
    /// The policies that select a cluster against what it would run (a CI gate): exit 1 on a
    /// violation of high or critical severity.
    Check(Box<CheckArgs>),
}

#[derive(clap::Args)]
struct CheckArgs {
    /// The agent's configuration file (fetches the fleet from git).
    #[arg(long, conflicts_with = "fleet_dir")]
    config: Option<PathBuf>,
    /// With --config: the fleet repository's branch or commit (default: the environment branch).
    #[arg(long = "ref", requires = "config")]
    git_ref: Option<String>,
    /// A fleet repository checked out in a folder (the local form).
    #[arg(long)]
    fleet_dir: Option<PathBuf>,
    /// The cluster's name (local form).
    #[arg(long)]
    cluster: Option<String>,
    /// The cluster's labels, `k=v,k=v` (local form).
    #[arg(long, default_value = "")]
    labels: String,
    /// The cluster's environment (local form).
    #[arg(long)]
    environment: Option<String>,
    /// Where a source repository is checked out, `NAME=DIR` (local form). Repeatable.
    #[arg(long = "source", value_name = "NAME=DIR")]
    sources: Vec<String>,
    #[command(flatten)]
    budget: BudgetArgs,
}

/// The render budget on the command line: what one render may build and read before it is
/// refused (agent.yaml's `render`; the defaults otherwise).
#[derive(clap::Args)]
struct BudgetArgs {
    /// The most objects one render may build, a base counted each time it is included
    /// (default 10000, or the config's render.maxObjects).
    #[arg(long, value_name = "N", value_parser = parse_max_objects)]
    max_objects: Option<usize>,
    /// The most bytes of files one render may read, a file counted each time it is read: a
    /// number of bytes, or 512Ki, 64Mi, 1Gi (default 64Mi, or the config's render.maxBytes).
    #[arg(long, value_name = "SIZE", value_parser = parse_max_bytes)]
    max_bytes: Option<u64>,
}

impl BudgetArgs {
    /// `base` with what the command line sets.
    fn options(&self, base: flotilla_core::render::Options) -> flotilla_core::render::Options {
        let mut options = base;
        if let Some(n) = self.max_objects {
            options.budget.max_objects = n;
        }
        if let Some(n) = self.max_bytes {
            options.budget.max_bytes = n;
        }
        options
    }
}

fn parse_max_objects(text: &str) -> Result<usize, String> {
    match text.parse::<usize>() {
        Ok(0) => Err("0 is under the minimum of 1".into()),
        Ok(n) => Ok(n),
        Err(_) => Err(format!("{text:?} is not a whole number of objects")),
    }
}

fn parse_max_bytes(text: &str) -> Result<u64, String> {
    match pull_agent::config::parse_size(text) {
        Ok(0) => Err("0 is under the minimum of 1 byte".into()),
        Ok(n) => Ok(n),
        Err(e) => Err(format!("{text:?} {e}")),
    }
}

#[derive(clap::Args)]
struct RegisterArgs {
    /// The agent's configuration file.
    #[arg(long)]
    config: PathBuf,
    /// A file holding the join token (from `hub-index join-token create`).
    #[arg(long)]
    join_token: PathBuf,
    /// The hub's URL (default: the config's hub.url).
    #[arg(long)]
    hub: Option<String>,
}

#[derive(clap::Args)]
struct ConfigArgs {
    /// The agent's configuration file.
    #[arg(long)]
    config: PathBuf,
}

#[derive(clap::Args)]
struct RenderArgs {
    /// A kustomization folder (or a folder of plain manifests) to render.
    dir: Option<PathBuf>,
    /// A fleet repository checked out in a folder (the local form).
    #[arg(long)]
    fleet_dir: Option<PathBuf>,
    /// The cluster's name (local form).
    #[arg(long)]
    cluster: Option<String>,
    /// The cluster's labels, `k=v,k=v` (local form).
    #[arg(long, default_value = "")]
    labels: String,
    /// The cluster's environment (local form).
    #[arg(long)]
    environment: Option<String>,
    /// What this cluster would run: the agent's configuration file (fetches the fleet from git).
    #[arg(long, conflicts_with_all = ["dir", "fleet_dir", "repo"])]
    config: Option<PathBuf>,
    /// Render only this placement.
    #[arg(long)]
    placement: Option<String>,
    /// Render a source straight from git: the repository URL (with --ref and --path).
    #[arg(long)]
    repo: Option<String>,
    /// With --repo: a branch name or a full commit id. With --config: the fleet repository's
    /// branch or commit (default: the cluster's environment branch).
    #[arg(long = "ref")]
    git_ref: Option<String>,
    /// With --repo: the folder to render inside the repository.
    #[arg(long, default_value = ".")]
    path: String,
    /// With --repo: a credentials file (user:token, a bearer token, or an SSH private key).
    #[arg(long)]
    credentials_file: Option<PathBuf>,
    /// With --repo: where the git cache lives (default: $XDG_CACHE_HOME/flotilla or ~/.cache/flotilla).
    #[arg(long)]
    state_dir: Option<PathBuf>,
    /// With --repo: check the commit's signature: `enforce` refuses an unverified commit,
    /// `inform` reports it, `off` (default) skips the check.
    #[arg(long, default_value = "off", value_parser = ["enforce", "inform", "off"])]
    verify: String,
    /// With --repo and --verify: an OpenSSH allowed_signers file.
    #[arg(long)]
    allowed_signers: Option<PathBuf>,
    /// With --repo and --verify: a file of armored OpenPGP public keys.
    #[arg(long)]
    openpgp_keys: Option<PathBuf>,
    /// Where a source repository is checked out, `NAME=DIR` (default: a folder named after the
    /// repository beside the fleet folder). Repeatable.
    #[arg(long = "source", value_name = "NAME=DIR")]
    sources: Vec<String>,
    #[command(flatten)]
    budget: BudgetArgs,
}

/// A one-shot command on a simulated cluster works on an empty cluster of its own: say so, since
/// what it shows (everything new) is not what the agent's daemon sees.
fn warn_if_simulated(config: &pull_agent::config::Config, command: &str) {
    if config.kubernetes == pull_agent::config::Kubernetes::Simulated {
        eprintln!(
            "pull-agent: warning: kubernetes is simulated: `{command}` runs on an empty cluster inside this \
             process, which ends with it (nothing an earlier command applied is there)"
        );
    }
}

fn main() -> ExitCode {
    match run(Cli::parse()) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("pull-agent: error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> Result<ExitCode> {
    match cli.command {
        Command::Render(args) => render(*args),
        Command::Run(args) => daemon(&args, false),
        Command::Once(args) => daemon(&args, true),
        Command::Plan(args) => plan(&args),
        Command::Register(args) => register(&args),
        Command::Check(args) => check(*args),
    }
}

fn runtime() -> Result<tokio::runtime::Runtime> {
    // One thread: the agent does one thing at a time, and idles small.
    Ok(tokio::runtime::Builder::new_current_thread().enable_all().build()?)
}

/// `run` and `once`: cycles of reconcile and report; SIGTERM finishes the object in flight.
fn daemon(args: &ConfigArgs, once: bool) -> Result<ExitCode> {
    let config = pull_agent::config::Config::load(&args.config)?;
    if once {
        warn_if_simulated(&config, "once");
    }
    runtime()?.block_on(async {
        let shutdown = pull_agent::shutdown::Shutdown::new();
        shutdown.on_signals()?;
        let mut agent = pull_agent::daemon::Agent::new(config, shutdown).await?;
        if !once {
            agent.run().await?;
            return Ok(ExitCode::SUCCESS);
        }
        let cycle = agent.cycle().await?;
        for r in &cycle.report.placements {
            eprintln!(
                "pull-agent: placement {}: {:?}{}",
                r.name,
                r.state,
                r.message.as_deref().map(|m| format!(": {m}")).unwrap_or_default()
            );
        }
        eprintln!("pull-agent: {}", cycle.summary(1));
        writeln!(Stdout::lock(), "{}", serde_json::to_string_pretty(&cycle.report)?)?;
        Ok(if cycle.synced() { ExitCode::SUCCESS } else { ExitCode::FAILURE })
    })
}

fn register(args: &RegisterArgs) -> Result<ExitCode> {
    let config = pull_agent::config::Config::load(&args.config)?;
    let hub_url = match (&args.hub, &config.hub) {
        (Some(url), _) => url.clone(),
        (None, Some(hub)) => hub.url.clone(),
        (None, None) => bail!("{}: no hub.url, and no --hub URL given", args.config.display()),
    };
    let token_file = config
        .hub
        .as_ref()
        .map_or_else(|| config.state_dir.join(pull_agent::config::DEFAULT_TOKEN_FILE), |h| h.token_file.clone());
    let said = runtime()?.block_on(pull_agent::daemon::register(&config, &hub_url, &args.join_token, &token_file))?;
    eprintln!("pull-agent: {said}");
    Ok(ExitCode::SUCCESS)
}

/// `plan`: what a reconcile would change, one line per change.
fn plan(args: &ConfigArgs) -> Result<ExitCode> {
    let mode = pull_agent::agent::Mode::Plan;
    let config = pull_agent::config::Config::load(&args.config)?;
    warn_if_simulated(&config, "plan");
    let reconciled = runtime()?.block_on(async {
        let client = pull_agent::agent::connect(&config.kubernetes).await?;
        let mut cluster = pull_agent::cluster::Cluster::new(client);
        pull_agent::agent::reconcile(&config, &mut cluster, mode).await
    })?;
    for w in &reconciled.warnings {
        eprintln!("pull-agent: warning: {w}");
    }
    let mut out = Stdout::lock();
    for o in &reconciled.placements {
        let r = &o.report;
        eprintln!(
            "pull-agent: placement {}: {:?}{}",
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
    Ok(if reconciled.synced() { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}

fn default_state_dir() -> Result<PathBuf> {
    if let Some(dir) = std::env::var_os("XDG_CACHE_HOME").filter(|d| !d.is_empty()) {
        return Ok(PathBuf::from(dir).join("flotilla"));
    }
    let home = std::env::var_os("HOME").context("no --state-dir, XDG_CACHE_HOME or HOME to keep the git cache in")?;
    Ok(PathBuf::from(home).join(".cache/flotilla"))
}

/// `render --config`: what this cluster would run, fetched from git as the agent does.
fn render_for_cluster(config: &std::path::Path, args: &RenderArgs, out: &mut impl std::io::Write) -> Result<ExitCode> {
    let mut config = pull_agent::config::Config::load(config)?;
    config.render = args.budget.options(config.render);
    let rendered = pull_agent::agent::render(&config, args.placement.as_deref(), args.git_ref.as_deref())?;
    for w in &rendered.warnings {
        eprintln!("pull-agent: warning: {w}");
    }
    eprintln!("pull-agent: fleet repository at {}", rendered.fleet_commit);
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
                eprintln!(
                    "pull-agent: error: placement {}: {:?}: {}",
                    report.name,
                    report.state,
                    report.message.as_deref().unwrap_or_default()
                );
            }
        }
    }
    if rendered.placements.is_empty() {
        eprintln!("pull-agent: no placement selects cluster {}", config.cluster.name);
    }
    Ok(if failed { ExitCode::FAILURE } else { ExitCode::SUCCESS })
}

/// `check`: renders what the cluster would run (from git with --config, or from folders), then
/// evaluates its policies against it. A placement that cannot be rendered fails the check too:
/// its objects are not there to judge.
fn check(args: CheckArgs) -> Result<ExitCode> {
    let mut agent_namespace = pull_agent::config::DEFAULT_NAMESPACE.to_string();
    let (objects, policies, errors) = if let Some(config) = &args.config {
        let mut config = pull_agent::config::Config::load(config)?;
        config.render = args.budget.options(config.render);
        agent_namespace.clone_from(&config.namespace);
        let rendered = pull_agent::agent::render(&config, None, args.git_ref.as_deref())?;
        for w in &rendered.warnings {
            eprintln!("pull-agent: warning: {w}");
        }
        eprintln!("pull-agent: fleet repository at {}", rendered.fleet_commit);
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
    } else {
        let fleet_dir =
            args.fleet_dir.context("give --config, or --fleet-dir with --cluster, --labels and --environment")?;
        let name = args.cluster.context("--fleet-dir needs --cluster NAME")?;
        let environment = args.environment.context("--fleet-dir needs --environment ENV")?;
        let labels = parse_labels(&args.labels).map_err(anyhow::Error::msg).context("--labels")?;
        let overrides = source_overrides(&args.sources)?;
        let identity = ClusterIdentity { name, environment, labels };
        let options = args.budget.options(flotilla_core::render::Options::default());
        let report = render_cluster_with(&Sources { fleet_dir, overrides }, &identity, None, &options)?;
        if let Some(m) = &report.mismatch {
            eprintln!("pull-agent: warning: cluster {} is declared differently: {m}", identity.name);
        }
        let objects = report.rendered.into_iter().flat_map(|r| r.objects).collect();
        (objects, report.policies, report.errors)
    };
    let findings = pull_agent::check::check(&policies, &objects, &agent_namespace);
    pull_agent::check::print(&findings, &mut Stdout::lock())?;
    for e in &errors {
        eprintln!("pull-agent: error: {e}");
    }
    let failed = pull_agent::check::failing(&findings) || !errors.is_empty();
    Ok(if failed { ExitCode::FAILURE } else { ExitCode::SUCCESS })
}

/// `--source NAME=DIR` flags.
fn source_overrides(sources: &[String]) -> Result<BTreeMap<String, PathBuf>> {
    let mut overrides = BTreeMap::new();
    for s in sources {
        let (n, d) = s.split_once('=').with_context(|| format!("--source {s:?} is not NAME=DIR"))?;
        overrides.insert(n.to_string(), PathBuf::from(d));
    }
    Ok(overrides)
}

fn render(args: RenderArgs) -> Result<ExitCode> {
    let mut out = Stdout::lock();
    let options = args.budget.options(flotilla_core::render::Options::default());
    if let Some(config) = &args.config {
        return render_for_cluster(config, &args, &mut out);
    }
    if let Some(dir) = &args.dir {
        if args.fleet_dir.is_some() {
            bail!("give either DIR or --fleet-dir, not both");
        }
        let objects = pull_agent::folder::render_dir_with(dir, &options.budget)?;
        out.write_all(flotilla_core::yaml::to_string_all(&objects).as_bytes())?;
        return Ok(ExitCode::SUCCESS);
    }
    if let Some(url) = &args.repo {
        let git_ref = args.git_ref.as_deref().context("--repo needs --ref BRANCH_OR_COMMIT")?;
        let state_dir = match &args.state_dir {
            Some(d) => d.clone(),
            None => default_state_dir()?,
        };
        let mut source = flotilla_git::Source::new(url.clone());
        if let Some(file) = &args.credentials_file {
            source.credentials = Some(flotilla_git::Credentials::from_file(file)?);
        }
        let read = |p: &Option<PathBuf>| -> Result<Option<String>> {
            p.as_ref()
                .map(|p| std::fs::read_to_string(p).with_context(|| format!("reading {}", p.display())))
                .transpose()
        };
        let verify = flotilla_core::fleet::Verify {
            mode: match args.verify.as_str() {
                "enforce" => flotilla_core::fleet::VerifyMode::Enforce,
                "inform" => flotilla_core::fleet::VerifyMode::Inform,
                _ => flotilla_core::fleet::VerifyMode::Off,
            },
            allowed_signers: read(&args.allowed_signers)?,
            openpgp_keys: read(&args.openpgp_keys)?,
        };
        let rendered =
            pull_agent::remote::render(&state_dir.join("git"), &source, git_ref, &args.path, &verify, &options.budget)?;
        if verify.mode != flotilla_core::fleet::VerifyMode::Off {
            eprintln!("pull-agent: {url} at {}: {}", rendered.commit, rendered.signature);
        }
        out.write_all(flotilla_core::yaml::to_string_all(&rendered.objects).as_bytes())?;
        return Ok(ExitCode::SUCCESS);
    }
    let Some(fleet_dir) = args.fleet_dir else {
        bail!("give a folder to render, or --fleet-dir with --cluster, --labels and --environment");
    };
    let name = args.cluster.context("--fleet-dir needs --cluster NAME")?;
    let environment = args.environment.context("--fleet-dir needs --environment ENV")?;
    let labels = parse_labels(&args.labels).map_err(anyhow::Error::msg).context("--labels")?;
    let overrides = source_overrides(&args.sources)?;
    let identity = ClusterIdentity { name, environment, labels };
    let report =
        render_cluster_with(&Sources { fleet_dir, overrides }, &identity, args.placement.as_deref(), &options)?;
    if let Some(m) = &report.mismatch {
        eprintln!("pull-agent: warning: cluster {} is declared differently: {m}", identity.name);
    }
    for (i, r) in report.rendered.iter().enumerate() {
        if i > 0 {
            out.write_all(b"---\n")?;
        }
        writeln!(out, "# placement: {}\n# digest: {}", r.placement, r.digest)?;
        out.write_all(flotilla_core::yaml::to_string_all(&r.objects).as_bytes())?;
    }
    for e in &report.errors {
        eprintln!("pull-agent: error: {e}");
    }
    if report.rendered.is_empty() && report.errors.is_empty() {
        eprintln!("pull-agent: no placement selects cluster {}", identity.name);
    }
    Ok(if report.errors.is_empty() { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}
