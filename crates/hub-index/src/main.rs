//! `hub-index`: parses arguments and calls the library (`server` for `serve`, `store` for
//! tokens and the evidence check, `cli` for the views).

#[path = "../../pull-agent/src/stdout.rs"]
mod stdout;

use std::io::Write as _;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context as _, Result, bail};
use clap::{Parser, Subcommand};
use hub_index::api::Client;
use hub_index::api::client::{ClustersQuery, ComplianceQuery, EvidenceQuery, OverridesQuery};
use hub_index::cli::{self, Format, View};
use stdout::Stdout;

/// mimalloc, not glibc's malloc: a hub parses and drops thousands of reports a second, and
/// glibc's allocator took a sixth of its CPU time (`cargo xtask bench hub`, BENCHMARKS.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(name = "hub-index", version, about = "Flotilla's hub: what runs where, who lags, who is offline")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the API (agents register and report; viewers read).
    Serve(ServeArgs),
    /// Join tokens, which agents trade for their cluster's own token.
    #[command(name = "join-token", subcommand)]
    JoinToken(TokenCommand),
    /// Viewer tokens, for reading the views.
    #[command(name = "viewer-token", subcommand)]
    ViewerToken(TokenCommand),
    /// The fleet summary: clusters by state, environment and placement.
    Status(ViewArgs),
    /// The clusters, filtered.
    Clusters(ClustersArgs),
    /// One cluster: its placements, commits, drift and errors, and its last reports.
    Cluster(ClusterArgs),
    /// The lag ledger of a placement: which commit each cluster runs, and how far behind.
    Lag(LagArgs),
    /// Governance: standards, controls and policies with their counts; with --policy, that
    /// policy's non-compliant clusters.
    Compliance(ComplianceArgs),
    /// The evidence log (policy results as they changed), as CSV or JSON; `evidence verify`
    /// checks its hash chain in the database.
    Evidence(EvidenceArgs),
    /// The fleet's compliance with a standard as of a date, per control, with the evidence.
    Audit(AuditArgs),
    /// Which overrides happened: each commit run through a change freeze by a signed
    /// `Flotilla-Override:`, with its signer, reason and the clusters that ran it.
    Overrides(OverridesArgs),
    /// What moving a repository's environment branch to a ref (merging dev into prod) would do:
    /// the clusters that would change, grouped by placement and new digest, with the objects
    /// that would change on one cluster of each group.
    Preview(PreviewArgs),
}

#[derive(clap::Args)]
struct PreviewArgs {
    #[command(flatten)]
    view: ViewArgs,
    /// A branch the hub fetched (`dev`) or a full commit id in its git cache.
    #[arg(long = "ref")]
    reference: String,
    /// The repository whose branch would move: `fleet` (the fleet repository) or a repository
    /// the environment's fleet declares.
    #[arg(long, default_value = "fleet")]
    repository: String,
    /// The environment whose clusters and branch are previewed.
    #[arg(long, default_value = "prod")]
    environment: String,
}

#[derive(clap::Args)]
#[command(args_conflicts_with_subcommands = true)]
struct EvidenceArgs {
    #[command(subcommand)]
    action: Option<EvidenceAction>,
    #[command(flatten)]
    hub: HubArgs,
    /// Only this cluster.
    #[arg(long)]
    cluster: Option<String>,
    /// Only this policy.
    #[arg(long)]
    policy: Option<String>,
    /// Overrides of this target only: `fleet` or a placement.
    #[arg(long)]
    target: Option<String>,
    /// Policy results only, or overrides only (default: both).
    #[arg(long, value_enum)]
    kind: Option<EvidenceKind>,
    /// Only results from this time on: YYYY-MM-DD or an RFC 3339 UTC time.
    #[arg(long)]
    since: Option<String>,
    /// How many rows at most.
    #[arg(long, default_value_t = 1_000)]
    limit: u32,
    /// The output format.
    #[arg(long, value_enum, default_value_t = EvidenceFormat::Csv)]
    format: EvidenceFormat,
}

#[derive(clap::Args)]
struct OverridesArgs {
    #[command(flatten)]
    view: ViewArgs,
    /// Only this cluster.
    #[arg(long)]
    cluster: Option<String>,
    /// `fleet` or a placement.
    #[arg(long)]
    target: Option<String>,
    /// Only clusters of this environment.
    #[arg(long)]
    environment: Option<String>,
    /// Only overrides from this time on: YYYY-MM-DD or an RFC 3339 UTC time.
    #[arg(long)]
    since: Option<String>,
    /// How many overrides (newest first).
    #[arg(long, default_value_t = 100)]
    limit: usize,
}

#[derive(Subcommand)]
enum EvidenceAction {
    /// Recompute the evidence log's hash chain in the database: exit 0 when it holds, 1 when a
    /// row was changed, removed or cut off (named).
    Verify {
        #[command(flatten)]
        db: DbArgs,
    },
}

#[derive(clap::Args)]
struct AuditArgs {
    #[command(flatten)]
    hub: HubArgs,
    /// The standard, as the policies name it (`PCI-DSS v4.0`).
    #[arg(long)]
    standard: String,
    /// As of when: YYYY-MM-DD (the end of that day, UTC) or an RFC 3339 UTC time (default: now).
    #[arg(long)]
    at: Option<String>,
    /// Whose policies name the controls without evidence (default: prod).
    #[arg(long)]
    environment: Option<String>,
    /// The output format.
    #[arg(long, value_enum, default_value_t = AuditFormat::Html)]
    format: AuditFormat,
}

#[derive(Subcommand)]
enum TokenCommand {
    /// Create one and print it (it is stored hashed: this is the only time it is shown).
    Create(CreateTokenArgs),
}

#[derive(clap::Args)]
struct CreateTokenArgs {
    #[command(flatten)]
    db: DbArgs,
    /// Join tokens only: the cluster names the token may register, a glob with `*`.
    #[arg(long)]
    cluster_name_pattern: Option<String>,
}

#[derive(clap::Args)]
struct ServeArgs {
    /// The fleet repository's URL.
    #[arg(long)]
    fleet_repo: String,
    #[command(flatten)]
    db: DbArgs,
    /// The address and port to serve the API and the dashboard on; agents and viewers connect
    /// here (a loopback address keeps it on this machine).
    #[arg(long, default_value = "127.0.0.1:8080")]
    listen: SocketAddr,
    /// A file of viewer tokens (one per line) accepted besides those `viewer-token create` made.
    #[arg(long)]
    viewer_token_file: Option<PathBuf>,
    /// Serve the views (dashboard and JSON) without a viewer token, for a demo or a laptop.
    /// Refused unless --listen is a loopback address; registration and reports stay authenticated.
    #[arg(long)]
    open_on_loopback: bool,
    /// A credentials file for the git repositories (user:token, a bearer token, or an SSH key).
    #[arg(long)]
    credentials_file: Option<PathBuf>,
    /// A credentials file for the Helm chart repositories and OCI registries placements name
    /// (user:token, or a bearer token), sent to their own hosts only.
    #[arg(long)]
    chart_credentials_file: Option<PathBuf>,
    /// A cluster whose last report is older than this is offline (three agent polls).
    #[arg(long, default_value = hub_index::index::OFFLINE_AFTER, value_parser = parse_duration)]
    offline_after: Duration,
    /// How often the fleet repository is read again.
    #[arg(long, default_value = "30s", value_parser = parse_duration)]
    fleet_poll: Duration,
    /// The environments (branches) to follow.
    #[arg(long, value_delimiter = ',', default_value = "prod,dev")]
    environments: Vec<String>,
    /// Where the git cache lives (relative to the working folder).
    #[arg(long, default_value = "hub-git-cache")]
    cache_dir: PathBuf,
}

#[derive(clap::Args)]
struct ViewArgs {
    #[command(flatten)]
    hub: HubArgs,
    /// The output format.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    format: Format,
}

#[derive(clap::Args)]
struct ClustersArgs {
    #[command(flatten)]
    view: ViewArgs,
    /// synced, progressing, degraded, failed, offline or neverReported.
    #[arg(long)]
    state: Option<String>,
    /// `k=v,k=v`.
    #[arg(long)]
    labels: Option<String>,
    /// Only clusters of this environment.
    #[arg(long)]
    environment: Option<String>,
    /// Only clusters this placement selects.
    #[arg(long)]
    placement: Option<String>,
    /// The first row to list (paging).
    #[arg(long, default_value_t = 0)]
    offset: usize,
    /// How many rows to list.
    #[arg(long, default_value_t = 100)]
    limit: usize,
}

#[derive(clap::Args)]
struct ClusterArgs {
    #[command(flatten)]
    view: ViewArgs,
    name: String,
}

#[derive(clap::Args)]
struct LagArgs {
    #[command(flatten)]
    view: ViewArgs,
    placement: String,
    /// The environment whose branch and clusters the ledger follows.
    #[arg(long, default_value = "prod")]
    environment: String,
    /// The first row to list (paging).
    #[arg(long, default_value_t = 0)]
    offset: usize,
    /// How many rows to list.
    #[arg(long, default_value_t = 100)]
    limit: usize,
}

#[derive(clap::Args)]
struct ComplianceArgs {
    #[command(flatten)]
    view: ViewArgs,
    /// One policy: its counts and its non-compliant clusters.
    #[arg(long)]
    policy: Option<String>,
    /// `k=v,k=v`: only the clusters with these labels.
    #[arg(long)]
    labels: Option<String>,
    /// The environment whose fleet branch declares the policies, and whose clusters count.
    #[arg(long, default_value = "prod")]
    environment: String,
    /// With --policy: the first non-compliant cluster to list.
    #[arg(long, default_value_t = 0)]
    offset: usize,
    /// With --policy: how many non-compliant clusters to list.
    #[arg(long, default_value_t = 100)]
    limit: usize,
}

/// Where the hub is and how to read it.
#[derive(clap::Args)]
struct HubArgs {
    /// The hub's URL.
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    hub: String,
    /// A file holding a viewer token (default: FLOTILLA_HUB_TOKEN, else none).
    #[arg(long)]
    token_file: Option<PathBuf>,
}

impl HubArgs {
    fn client(&self) -> Result<Client> {
        let file = self.token_file.as_deref();
        cli::client(&self.hub, file).with_context(|| {
            format!("--token-file {}", file.map(Path::display).map(|d| d.to_string()).unwrap_or_default())
        })
    }
}

/// The database the hub keeps.
#[derive(clap::Args)]
struct DbArgs {
    /// `sqlite:PATH` (the default, embedded) or `postgres://…` (shared by several hubs).
    #[arg(long, default_value = "sqlite:hub.db")]
    db: String,
}

/// What `evidence` lists.
#[derive(Clone, Copy, clap::ValueEnum)]
enum EvidenceKind {
    Policy,
    Override,
}

/// How `evidence` prints the log.
#[derive(Clone, Copy, clap::ValueEnum)]
enum EvidenceFormat {
    Csv,
    Json,
}

/// How `audit` prints the audit.
#[derive(Clone, Copy, clap::ValueEnum)]
enum AuditFormat {
    Csv,
    Json,
    Html,
}

/// A value enum's name on the command line (and in the API's query).
fn name(value: &impl clap::ValueEnum) -> String {
    value.to_possible_value().expect("no value is skipped").get_name().to_string()
}

/// A Go-style duration (`90s`, `3m`, `1h30m`).
fn parse_duration(text: &str) -> Result<Duration, String> {
    flotilla_core::calendar::parse_duration(text)
        .ok_or_else(|| format!("{text:?} is not a duration like 90s, 3m or 1h"))
}

fn main() -> ExitCode {
    match run(Cli::parse()) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("hub-index: error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn runtime() -> Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread().enable_all().build()?)
}

fn run(cli: Cli) -> Result<ExitCode> {
    match cli.command {
        Command::Serve(args) => serve(args),
        Command::JoinToken(TokenCommand::Create(args)) => {
            let token = runtime()?.block_on(async {
                let store = hub_index::store::Store::open(&args.db.db).await?;
                anyhow::Ok(store.create_join_token(args.cluster_name_pattern.as_deref()).await?)
            })?;
            writeln!(Stdout::lock(), "{token}")?;
            Ok(ExitCode::SUCCESS)
        }
        Command::ViewerToken(TokenCommand::Create(args)) => {
            if args.cluster_name_pattern.is_some() {
                bail!("--cluster-name-pattern is for join tokens");
            }
            let token = runtime()?.block_on(async {
                let store = hub_index::store::Store::open(&args.db.db).await?;
                anyhow::Ok(store.create_viewer_token().await?)
            })?;
            writeln!(Stdout::lock(), "{token}")?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Status(view) => show(&view, &View::Summary),
        Command::Clusters(a) => {
            let query = ClustersQuery {
                state: a.state,
                labels: a.labels,
                environment: a.environment,
                placement: a.placement,
                offset: a.offset,
                limit: a.limit,
            };
            show(&a.view, &View::Clusters(query))
        }
        Command::Cluster(a) => show(&a.view, &View::Cluster(a.name)),
        Command::Lag(a) => {
            let view =
                View::Lag { placement: a.placement, environment: a.environment, offset: a.offset, limit: a.limit };
            show(&a.view, &view)
        }
        Command::Compliance(a) => {
            let query =
                ComplianceQuery { environment: a.environment, labels: a.labels, offset: a.offset, limit: a.limit };
            match a.policy {
                None => show(&a.view, &View::Compliance(query)),
                Some(policy) => show(&a.view, &View::Policy(policy, query)),
            }
        }
        Command::Overrides(a) => {
            let query = OverridesQuery {
                cluster: a.cluster,
                target: a.target,
                environment: a.environment,
                since: a.since,
                limit: a.limit,
            };
            show(&a.view, &View::Overrides(query))
        }
        Command::Preview(a) => {
            let view = View::Preview { reference: a.reference, repository: a.repository, environment: a.environment };
            show(&a.view, &view)
        }
        Command::Evidence(a) => evidence(a),
        Command::Audit(a) => {
            let client = a.hub.client()?;
            let (at, environment) = (a.at.as_deref(), a.environment.as_deref());
            let body = runtime()?.block_on(client.audit_text(&a.standard, at, environment, &name(&a.format)))?;
            Stdout::lock().write_all(body.as_bytes())?;
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// `hub-index serve`: the hub, logging to stderr (`RUST_LOG` filters; `info` by default).
fn serve(args: ServeArgs) -> Result<ExitCode> {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt().with_env_filter(filter).with_target(false).with_writer(std::io::stderr).init();
    let mut fleet = flotilla_git::Source::new(args.fleet_repo);
    if let Some(file) = &args.credentials_file {
        fleet.credentials = Some(flotilla_git::Credentials::from_file(file)?);
    }
    let chart_credentials =
        args.chart_credentials_file.as_deref().map(flotilla_git::Credentials::from_file).transpose()?;
    let options = hub_index::server::Options {
        db: args.db.db,
        fleet,
        chart_credentials,
        listen: args.listen,
        viewer_token_file: args.viewer_token_file,
        open_on_loopback: args.open_on_loopback,
        offline_after: args.offline_after,
        fleet_poll: args.fleet_poll,
        cache_dir: args.cache_dir,
        environments: args.environments,
        arrival_clock: None,
    };
    runtime()?.block_on(hub_index::server::serve(options))?;
    Ok(ExitCode::SUCCESS)
}

/// `hub-index evidence verify` checks the chain in the database; `hub-index evidence` exports
/// the log from the hub.
fn evidence(a: EvidenceArgs) -> Result<ExitCode> {
    if let Some(EvidenceAction::Verify { db }) = a.action {
        let check = runtime()?.block_on(async {
            let store = hub_index::store::Store::open(&db.db).await?;
            anyhow::Ok(store.verify_evidence().await?)
        })?;
        return match &check.problem {
            None => {
                writeln!(Stdout::lock(), "the evidence chain holds: {} rows, head {}", check.rows, check.head)?;
                Ok(ExitCode::SUCCESS)
            }
            Some(problem) => {
                let mut out = Stdout::lock();
                writeln!(out, "the evidence chain is BROKEN: {problem}")?;
                writeln!(out, "{} rows hold before it, ending at {}", check.rows, check.head)?;
                Ok(ExitCode::FAILURE)
            }
        };
    }
    let query = EvidenceQuery {
        cluster: a.cluster,
        policy: a.policy,
        target: a.target,
        kind: a.kind.as_ref().map(name),
        since: a.since,
        limit: a.limit,
    };
    let client = a.hub.client()?;
    let body = runtime()?.block_on(client.evidence(&query, &name(&a.format)))?;
    Stdout::lock().write_all(body.as_bytes())?;
    Ok(ExitCode::SUCCESS)
}

/// Fetches a view and prints it as a table or as the JSON the API answered.
fn show(args: &ViewArgs, view: &View) -> Result<ExitCode> {
    let client = args.hub.client()?;
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX));
    let text = runtime()?.block_on(cli::show(&client, view, args.format, now_ms))?;
    Stdout::lock().write_all(text.as_bytes())?;
    Ok(ExitCode::SUCCESS)
}
