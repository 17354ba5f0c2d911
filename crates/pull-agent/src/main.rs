//! `pull-agent`: parses arguments, checks them and calls the library ([`pull_agent::command`]).

mod stdout;

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context as _, Result, bail};
use clap::{Parser, Subcommand, ValueEnum};
use flotilla_core::fleet::{ClusterIdentity, VerifyMode};
use flotilla_core::name::DnsSubdomain;
use flotilla_core::selector::parse_labels;
use pull_agent::command::{self, CheckFrom, Local, Remote};
use pull_agent::config::Config;
use pull_agent::local::Sources;
use stdout::Stdout;

#[derive(Parser)]
#[command(name = "pull-agent", version, about = "Flotilla's per-cluster GitOps agent")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Render a kustomization folder as `kubectl kustomize DIR` does, a chart folder as `helm
    /// template` does, or what a cluster would run.
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

/// A fleet repository checked out in a folder and the cluster to render it for: the local form
/// of `render` and `check`.
#[derive(clap::Args)]
struct LocalArgs {
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
    /// Where a source repository is checked out, `NAME=DIR` (default: a folder named after the
    /// repository beside the fleet folder). Repeatable.
    #[arg(long = "source", value_name = "NAME=DIR")]
    sources: Vec<String>,
}

impl LocalArgs {
    /// The local form, checked: `None` without `--fleet-dir`.
    fn local(self) -> Result<Option<Local>> {
        let Some(fleet_dir) = self.fleet_dir else { return Ok(None) };
        let name: DnsSubdomain =
            self.cluster.context("--fleet-dir needs --cluster NAME")?.parse().context("--cluster")?;
        let environment = self.environment.context("--fleet-dir needs --environment ENV")?;
        let labels = parse_labels(&self.labels).map_err(anyhow::Error::msg).context("--labels")?;
        let overrides = command::source_overrides(&self.sources)?;
        Ok(Some(Local {
            sources: Sources { fleet_dir, overrides },
            identity: ClusterIdentity { name, environment, labels },
        }))
    }
}

#[derive(clap::Args)]
struct CheckArgs {
    /// The agent's configuration file (fetches the fleet from git).
    #[arg(long, conflicts_with = "fleet_dir")]
    config: Option<PathBuf>,
    /// With --config: the fleet repository's branch or commit (default: the environment branch).
    #[arg(long = "ref", requires = "config")]
    git_ref: Option<String>,
    #[command(flatten)]
    local: LocalArgs,
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

/// `render --verify`: how a commit's signature counts.
#[derive(Clone, Copy, ValueEnum)]
enum VerifyArg {
    Enforce,
    Inform,
    Off,
}

impl From<VerifyArg> for VerifyMode {
    fn from(arg: VerifyArg) -> VerifyMode {
        match arg {
            VerifyArg::Enforce => VerifyMode::Enforce,
            VerifyArg::Inform => VerifyMode::Inform,
            VerifyArg::Off => VerifyMode::Off,
        }
    }
}

#[derive(clap::Args)]
struct RenderArgs {
    /// A kustomization folder (or a folder of plain manifests), or a Helm chart folder (with a
    /// Chart.yaml), to render.
    dir: Option<PathBuf>,
    /// With a chart DIR: the release name.
    #[arg(long, requires = "dir", default_value = "release-name")]
    release: String,
    /// With a chart DIR: the release namespace.
    #[arg(long, requires = "dir", default_value = "default")]
    namespace: String,
    /// With a chart DIR: a values file, merged over the chart's values. Repeatable, later ones win.
    #[arg(long = "values", short = 'f', value_name = "FILE", requires = "dir")]
    values: Vec<PathBuf>,
    /// With a chart DIR: values in Helm's --set syntax (`a.b=c,list[0]=x,tags={x,y}`), over the
    /// values files. Repeatable.
    #[arg(long = "set", value_name = "KEY=VALUE", requires = "dir")]
    set: Vec<String>,
    /// With a chart DIR: as --set, every value a string (`--set-string tag=0123`). Repeatable.
    #[arg(long = "set-string", value_name = "KEY=VALUE", requires = "dir")]
    set_string: Vec<String>,
    /// With a chart DIR: values as JSON (`a.b={"x":[1,2]}`, or a whole JSON object). Repeatable;
    /// taken before --set.
    #[arg(long = "set-json", value_name = "KEY=JSON", requires = "dir")]
    set_json: Vec<String>,
    /// With a chart DIR: a value that is the text of a file (`config=./app.conf`). Repeatable;
    /// taken after --set and --set-string.
    #[arg(long = "set-file", value_name = "KEY=FILE", requires = "dir")]
    set_file: Vec<String>,
    /// With a chart DIR: the Kubernetes version `.Capabilities` reports (default: Helm's, v1.36.0).
    #[arg(long, value_name = "VERSION", requires = "dir")]
    kube_version: Option<String>,
    /// With a chart DIR: an API version `.Capabilities.APIVersions` has (`monitoring.coreos.com/v1`),
    /// instead of Helm's defaults. Repeatable.
    #[arg(long = "api-versions", value_name = "GROUP/VERSION", requires = "dir")]
    api_versions: Vec<String>,
    #[command(flatten)]
    local: LocalArgs,
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
    #[arg(long, value_enum, default_value = "off")]
    verify: VerifyArg,
    /// With --repo and --verify: an OpenSSH allowed_signers file.
    #[arg(long)]
    allowed_signers: Option<PathBuf>,
    /// With --repo and --verify: a file of armored OpenPGP public keys.
    #[arg(long)]
    openpgp_keys: Option<PathBuf>,
    #[command(flatten)]
    budget: BudgetArgs,
}

fn main() -> ExitCode {
    pull_agent::log::init();
    match run(Cli::parse()) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            tracing::error!("{e:#}");
            ExitCode::FAILURE
        }
    }
}

/// Runs the command; whether it succeeded in its own sense.
fn run(cli: Cli) -> Result<bool> {
    let mut out = Stdout::lock();
    match cli.command {
        Command::Render(args) => render(*args, &mut out),
        Command::Run(args) => command::daemon(Config::load(&args.config)?, false, &mut out),
        Command::Once(args) => command::daemon(Config::load(&args.config)?, true, &mut out),
        Command::Plan(args) => command::plan(&Config::load(&args.config)?, &mut out),
        Command::Register(args) => {
            let config = Config::load(&args.config)?;
            command::register(&config, &args.config, args.hub.as_deref(), &args.join_token)?;
            Ok(true)
        }
        Command::Check(args) => {
            let CheckArgs { config, git_ref, local, budget } = *args;
            let from = if let Some(config) = &config {
                let mut config = Config::load(config)?;
                config.render = budget.options(config.render);
                CheckFrom::Config { config: Box::new(config), git_ref }
            } else {
                let local = local
                    .local()?
                    .context("give --config, or --fleet-dir with --cluster, --labels and --environment")?;
                CheckFrom::Local(local, budget.options(flotilla_core::render::Options::default()))
            };
            command::check(from, &mut out)
        }
    }
}

fn render(args: RenderArgs, out: &mut Stdout) -> Result<bool> {
    let options = args.budget.options(flotilla_core::render::Options::default());
    if let Some(config) = &args.config {
        let mut config = Config::load(config)?;
        config.render = args.budget.options(config.render);
        return command::render_for_cluster(&config, args.placement.as_deref(), args.git_ref.as_deref(), out);
    }
    if let Some(dir) = &args.dir {
        if args.local.fleet_dir.is_some() {
            bail!("give either DIR or --fleet-dir, not both");
        }
        if dir.join("Chart.yaml").is_file() {
            let chart = command::Chart {
                release: args.release,
                namespace: args.namespace,
                values_files: args.values,
                set: args.set,
                set_string: args.set_string,
                set_json: args.set_json,
                set_file: args.set_file,
                kube_version: args.kube_version,
                api_versions: args.api_versions,
            };
            command::render_chart(dir, &chart, &options, out)?;
        } else {
            command::render_dir(dir, &options, out)?;
        }
        return Ok(true);
    }
    if let Some(url) = args.repo {
        let git_ref = args.git_ref.context("--repo needs --ref BRANCH_OR_COMMIT")?;
        let state_dir = match args.state_dir {
            Some(d) => d,
            None => command::default_state_dir()?,
        };
        let mut source = flotilla_git::Source::new(url);
        if let Some(file) = &args.credentials_file {
            source.credentials = Some(flotilla_git::Credentials::from_file(file)?);
        }
        let remote = Remote {
            source,
            git_ref,
            path: args.path,
            state_dir,
            verify: args.verify.into(),
            allowed_signers: args.allowed_signers,
            openpgp_keys: args.openpgp_keys,
        };
        command::render_remote(&remote, &options, out)?;
        return Ok(true);
    }
    let Some(local) = args.local.local()? else {
        bail!("give a folder to render, or --fleet-dir with --cluster, --labels and --environment");
    };
    command::render_local(&local, args.placement.as_deref(), &options, out)
}
