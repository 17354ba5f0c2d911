//! The agent's cycle and its loop: reconcile, make the report, keep it and send it; then sleep
//! the poll interval (±20%) and again, until asked to stop.
//!
//! State in `stateDir` besides the git cache: `sequence` (the last report's sequence number,
//! written before the report leaves), `report.json` (the last report, whole) and `spool/` (the
//! reports the hub has not taken, see [`crate::spool`]). A stop request (SIGTERM) lets the object
//! in flight finish, reports how far the cycle got, keeps that report and returns.

use std::hash::BuildHasher as _;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result};
use flotilla_core::report::{self, PlacementReport, PolicyReport, Report, SyncState};

use crate::agent::{self, Memo, Mode};
use crate::cluster::Cluster;
use crate::config::{self, Config};
use crate::hub::{self, Hub};
use crate::shutdown::Shutdown;
use crate::spool::{self, Spool};

/// What one cycle did.
#[derive(Debug)]
pub struct Cycle {
    pub report: Report,
    /// How many placements were at the same commits with no change seen: not synced again.
    pub unchanged: usize,
    /// What happened to the report: sent, spooled (and why), or kept locally.
    pub delivery: String,
    pub wall: Duration,
    /// CPU time of the whole process during the cycle, all threads.
    pub cpu: Duration,
}

impl Cycle {
    /// Whether every placement is synced.
    pub fn synced(&self) -> bool {
        self.report.placements.iter().all(|p| p.state == SyncState::Synced)
    }

    /// One line for the log.
    pub fn summary(&self, number: u64) -> String {
        let mut states = std::collections::BTreeMap::<String, usize>::new();
        for p in &self.report.placements {
            *states.entry(format!("{:?}", p.state)).or_default() += 1;
        }
        let states: Vec<String> = states.iter().map(|(s, n)| format!("{n} {s}")).collect();
        let mut states = if states.is_empty() { "none".to_string() } else { states.join(", ") };
        if self.unchanged > 0 {
            states = format!("{states}, {} unchanged", self.unchanged);
        }
        let policies = &self.report.policies;
        let count = |c: Option<bool>| policies.iter().filter(|p| p.compliant == c).count();
        let policies = if policies.is_empty() {
            String::new()
        } else {
            format!(
                "; {} policies ({} compliant, {} not, {} unknown)",
                policies.len(),
                count(Some(true)),
                count(Some(false)),
                count(None)
            )
        };
        format!(
            "cycle {number}: {} placements ({states}){policies}; {:.1} ms wall, {:.1} ms cpu; {}",
            self.report.placements.len(),
            self.wall.as_secs_f64() * 1e3,
            self.cpu.as_secs_f64() * 1e3,
            self.delivery
        )
    }
}

/// Everything that lasts from one cycle to the next.
#[derive(Debug)]
pub struct Agent {
    config: Config,
    cluster: Cluster,
    reporter: Reporter,
    shutdown: Shutdown,
    /// The last cycle's placements and policies, to report when the fleet cannot be read.
    last: Vec<PlacementReport>,
    last_policies: Vec<PolicyReport>,
    memo: Memo,
}

impl Agent {
    /// Connects to the cluster and opens the state directory.
    pub async fn new(config: Config, shutdown: Shutdown) -> Result<Agent> {
        let client = agent::connect(&config.kubernetes).await?;
        let cluster = Cluster::new(client).with_shutdown(shutdown.clone());
        let reporter = Reporter::open(&config)?;
        let (last, last_policies) = reporter.last_report().map(|r| (r.placements, r.policies)).unwrap_or_default();
        Ok(Agent { config, cluster, reporter, shutdown, last, last_policies, memo: Memo::default() })
    }

    /// Decides rollouts and windows at `now` (unix seconds) from here on, not by the clock: a
    /// virtual clock, for tests and simulations.
    pub fn set_clock(&mut self, now: i64) {
        self.memo.set_now(Some(now));
    }

    /// One reconcile of every placement, reported.
    pub async fn cycle(&mut self) -> Result<Cycle> {
        let started = Instant::now();
        let cpu = cpu_time::ProcessTime::try_now().ok();
        let mut unchanged = 0;
        let reconciled = agent::reconcile_with(&self.config, &mut self.cluster, Mode::Apply, &mut self.memo).await;
        let mut fleet = None;
        let mut overrides = Vec::new();
        let mut kubernetes = self.cluster.known_kubernetes();
        let (placements, policies) = match reconciled {
            Ok(reconciled) => {
                for w in &reconciled.warnings {
                    tracing::warn!("{w}");
                }
                unchanged = reconciled.unchanged.len();
                fleet = reconciled.fleet;
                overrides = reconciled.overrides;
                kubernetes = reconciled.kubernetes;
                (reconciled.placements.into_iter().map(|o| o.report).collect(), reconciled.policies)
            }
            Err(e) => {
                // The fleet itself could not be read: what ran last still runs; say why it is stale.
                let message = report::clip(&format!("{e:#}"));
                tracing::info!("{message}");
                let placements = self
                    .last
                    .iter()
                    .map(|p| PlacementReport {
                        state: SyncState::SourceUnreachable,
                        message: Some(message.clone()),
                        ..p.clone()
                    })
                    .collect();
                // Without the fleet the policies are not known either: the last results stand.
                (placements, self.last_policies.clone())
            }
        };
        let mut report = self.reporter.next(placements, policies)?;
        report.fleet = fleet;
        report.overrides = overrides;
        report.kubernetes = self.reporter.unsent(kubernetes);
        let delivery = self.reporter.deliver(&report, !self.shutdown.requested()).await?;
        self.last.clone_from(&report.placements);
        self.last_policies.clone_from(&report.policies);
        let cpu = cpu.and_then(|c| c.try_elapsed().ok()).unwrap_or_default();
        Ok(Cycle { report, unchanged, delivery, wall: started.elapsed(), cpu })
    }

    /// Cycles until asked to stop, sleeping the poll interval (±20%) in between. Watches the
    /// cluster meanwhile, so that a cycle that finds nothing changed is cheap (see
    /// [`crate::watch`]).
    pub async fn run(&mut self) -> Result<()> {
        self.memo = Memo::watching();
        for number in 1.. {
            let cycle = self.cycle().await?;
            tracing::info!("{}", cycle.summary(number));
            if self.shutdown.requested() {
                break;
            }
            let unit = random_unit(number);
            let pause = config::jittered(self.config.poll_interval, unit);
            tokio::select! {
                () = tokio::time::sleep(pause) => {}
                () = self.shutdown.wait() => break,
            }
        }
        tracing::info!("stopped");
        Ok(())
    }
}

/// A number in [0, 1), different in every process and cycle: spreads a fleet's polls apart.
#[expect(clippy::cast_precision_loss, reason = "53 bits of randomness are plenty")]
fn random_unit(salt: u64) -> f64 {
    let bits = std::collections::hash_map::RandomState::new().hash_one(salt) >> 11;
    bits as f64 / (1u64 << 53) as f64
}

/// Numbers, keeps and sends the reports.
#[derive(Debug)]
pub struct Reporter {
    cluster: String,
    state_dir: PathBuf,
    sequence: u64,
    /// The hub, its token file and the spool; `None` when the agent works alone.
    hub: Option<(Hub, PathBuf, Spool)>,
    /// Whether the last delivery found the token refused (said once, not every cycle).
    unauthorized: bool,
    /// The cluster's Kubernetes as the last report the hub took carried it: reports carry it
    /// until the hub has it (and after every start of the agent, in case the hub lost it).
    kubernetes_sent: Option<flotilla_core::report::Kubernetes>,
}

impl Reporter {
    /// Reads the last sequence number from the state directory.
    pub fn open(config: &Config) -> Result<Reporter> {
        let state_dir = config.state_dir.clone();
        std::fs::create_dir_all(&state_dir).with_context(|| format!("stateDir {}", state_dir.display()))?;
        let hub = match &config.hub {
            None => None,
            Some(h) => Some((Hub::new(&h.url)?, h.token_file.clone(), Spool::open(&state_dir.join("spool"))?)),
        };
        let path = state_dir.join("sequence");
        let mut sequence = match std::fs::read_to_string(&path) {
            Ok(text) => text
                .trim()
                .parse::<u64>()
                .with_context(|| format!("{}: not a sequence number: {:?}", path.display(), text.trim()))?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => 0,
            Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
        };
        if let Some((_, _, spool)) = &hub {
            sequence = sequence.max(spool.last_sequence()?.unwrap_or(0));
        }
        Ok(Reporter {
            cluster: config.cluster.name.to_string(),
            state_dir,
            sequence,
            hub,
            unauthorized: false,
            kubernetes_sent: None,
        })
    }

    /// The last report made, if it can be read.
    pub fn last_report(&self) -> Option<Report> {
        let text = std::fs::read(self.state_dir.join("report.json")).ok()?;
        Report::from_json(&text).ok()
    }

    /// The next report, its sequence number kept before it is used.
    pub fn next(&mut self, placements: Vec<PlacementReport>, policies: Vec<PolicyReport>) -> Result<Report> {
        self.sequence += 1;
        let path = self.state_dir.join("sequence");
        spool::write_atomically(&path, format!("{}\n", self.sequence).as_bytes())?;
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
        Ok(Report {
            version: report::VERSION,
            cluster: self.cluster.clone(),
            agent_version: env!("CARGO_PKG_VERSION").to_string(),
            sequence: self.sequence,
            time: flotilla_core::calendar::rfc3339(i64::try_from(now.as_secs()).unwrap_or(i64::MAX)),
            placements,
            policies,
            fleet: None,
            overrides: Vec::new(),
            kubernetes: None,
        })
    }

    /// What a report says of the cluster's Kubernetes: `kubernetes`, unless the hub took it
    /// already.
    pub fn unsent(
        &self,
        kubernetes: Option<flotilla_core::report::Kubernetes>,
    ) -> Option<flotilla_core::report::Kubernetes> {
        kubernetes.filter(|k| self.kubernetes_sent.as_ref() != Some(k))
    }

    /// Keeps `report` as the last one and, with a hub, spools it and (when `flush`) sends every
    /// waiting report in order until one does not go. Says what happened.
    pub async fn deliver(&mut self, report: &Report, flush: bool) -> Result<String> {
        if let Err(e) = report.validate() {
            // A bug of ours; the report is still kept, and the hub would refuse it naming the field.
            tracing::warn!("report {} is not valid: {e}", report.sequence);
        }
        spool::write_atomically(&self.state_dir.join("report.json"), report.to_json().as_bytes())?;
        let Some((hub, token_file, spool)) = &self.hub else {
            return Ok(format!("report {} kept in {}", report.sequence, self.state_dir.join("report.json").display()));
        };
        for dropped in spool.push(report)? {
            tracing::warn!("{dropped}");
        }
        if !flush {
            return Ok(format!("report {} spooled", report.sequence));
        }
        let mut sent = 0;
        let mut problem = None;
        for entry in spool.pending()? {
            let text = spool.read(&entry)?;
            match hub.send_report(token_file, &text).await {
                Ok(()) => {
                    spool.delivered(&entry, &text)?;
                    sent += 1;
                    self.unauthorized = false;
                }
                Err(e) if e.is_unauthorized() => {
                    if !self.unauthorized {
                        tracing::warn!("{e}; reports are kept until the hub takes them");
                    }
                    self.unauthorized = true;
                    problem = Some(e);
                    break;
                }
                Err(e) if e.is_refused() => {
                    // Refused for good (replayed, malformed): sending it again would not help.
                    tracing::warn!("report {} dropped: {e}", entry.sequence);
                    spool.delivered(&entry, &text)?;
                }
                Err(e) => {
                    problem = Some(e);
                    break;
                }
            }
        }
        let waiting = spool.pending()?.len();
        if problem.is_none() && report.kubernetes.is_some() {
            // The hub has this report, and so the cluster's Kubernetes.
            self.kubernetes_sent.clone_from(&report.kubernetes);
        }
        Ok(match problem {
            None => format!("report {} sent ({sent} sent)", report.sequence),
            Some(e) => format!("report {} spooled ({waiting} waiting): {e}", report.sequence),
        })
    }
}

/// `pull-agent register`: exchanges the join token in `join_token_file` for the cluster's own
/// token, kept in `token_file` (mode 0600). Does nothing when a token is there already.
pub async fn register(config: &Config, hub_url: &str, join_token_file: &Path, token_file: &Path) -> Result<String> {
    if hub::read_token(token_file).is_ok() {
        return Ok(format!(
            "already registered: {} holds the cluster's token (delete it to register again)",
            token_file.display()
        ));
    }
    let join_token = std::fs::read_to_string(join_token_file)
        .with_context(|| format!("--join-token {}", join_token_file.display()))?;
    let join_token = join_token.trim();
    anyhow::ensure!(!join_token.is_empty(), "--join-token {}: the file is empty", join_token_file.display());
    let request = flotilla_core::register::Request {
        cluster: config.cluster.name.to_string(),
        environment: config.cluster.environment.clone(),
        labels: config.cluster.labels.clone(),
    };
    let response = Hub::new(hub_url)?.register(join_token, &request).await?;
    hub::write_token(token_file, &response.token).with_context(|| format!("writing {}", token_file.display()))?;
    Ok(format!("registered cluster {} with {hub_url}; token in {}", response.cluster, token_file.display()))
}
