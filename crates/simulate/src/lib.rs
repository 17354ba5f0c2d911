//! Flotilla's fleet simulator: what a rollout to thousands of clusters will do, before it
//! happens. Agents, git and the hub run in one process on a virtual clock, deterministic (a
//! seed, no sockets, no wall clock in any decision), through the code the binaries run; only
//! the transport is replaced.
//!
//! ```text
//! flotilla-simulate --scenario examples/scenarios/retail-rollout.yaml [--clusters N] [--seed S] [--out DIR] [--every-report]
//! ```
//!
//! A scenario ([`scenario`]) names the example fleet, the cluster population (groups with
//! labels, environment, offline probability, clock skew), a timeline (commits, promotions,
//! reverts, bad releases, stores offline, git and hub outages, drift, policy violations, skew)
//! and expectations. The run writes `summary.md` (also printed) and `convergence.svg` to
//! `--out` (default `target/simulate/NAME`), and fails when an expectation does not hold.
//!
//! # Design
//!
//! - **A discrete-event simulation** ([`sim`]): a priority queue of (virtual time in ms,
//!   sequence number, event); each cluster polls every `pollInterval` with the agent's ±20%
//!   jitter (`pull_agent::config::jittered`), drawn from a SplitMix64 stream of its own
//!   ([`rng`]), so the same scenario and seed give the same bytes on every machine.
//! - **Git is real** ([`git`]): the example fleet is committed with `git` into repositories with
//!   `dev` and `prod` branches, at virtual times; timeline commits, promotions (`git merge
//!   --no-ff dev`, or `--ff-only`, which brings the dev commits to prod as they are) and reverts
//!   are real commits. Each branch keeps when its commits reached it (core's
//!   `rollout::Arrivals`, at the virtual time of the event that moved it): what every wave's bake
//!   counts from, for the agents and the hub alike, never a commit's date. Every new head is
//!   fetched once with `flotilla-git` (`Cache::fetch` over `file://`, `history`, `snapshot`) and
//!   shared; each agent's poll is counted (a ref advertisement per repository, a fetch and the
//!   bytes of the pack when its branch moved, measured once per pair with `git pack-objects`).
//! - **Agents are models that decide with the agent's functions** ([`virtual_agent`]): `Fleet::select`,
//!   `rollout::{wave_of, pick, gate, window_open, next_opening, frozen, override_reason}`,
//!   `Rollout::bake_seconds`, `render::fleet_view` (the fleet commit each cluster runs, chosen as
//!   `choose_fleet` does when the fleet repository declares a rollout, windows or freezes),
//!   a placement's commit by `rollout::decide` (its wave, the hub's published halts and
//!   `whenHubUnreachable`, freezes and overrides, windows; the function `agent::schedule`
//!   calls, with the same inputs and so the same messages), `paused`, and `render::render` for
//!   the desired digest, the way `agent::schedule` and `render_located` call them, in the same
//!   order. What a Kubernetes cluster would
//!   do is modelled: an apply takes effect within the poll, an `unhealthy` release degrades
//!   after a delay, hand-made drift and policy violations are found by the next poll.
//! - **Renders are shared** ([`world`]): memoized by what a render reads (core's
//!   `render::RenderKey`, the hub's too: fleet commit, placement, source commit, matching
//!   customizations; then the values of the substituted variables), so 10,000 clusters render a
//!   handful of times and substitute once each per commit.
//! - **The hub is the hub's index** ([`virtual_hub`]): `hub_index::index::Index` fed with
//!   `Index::update` at registration and `Index::apply` with the reports it takes; the failures
//!   per commit by the store's rule; the halt computed with `hub_index::progress::progress` and
//!   served again for two seconds of virtual time as the hub does. The index has a thread of
//!   its own, fed in order, and applies each cluster's newest report when it is read (a
//!   progress, the end of the run) rather than every report as it comes: a report replaces its
//!   cluster's entry whole, so the index read is the same, and applying all 18 million reports
//!   of a 10,000-cluster day would take longer than the rest of the run (`--every-report` does,
//!   and a test checks that the run is the same). Offline is counted by the index's rule (last
//!   report older than three minutes) every minute; at the end the index's own count agrees.
//! - **Reports are real** `flotilla_core::report::Report` values, validated with
//!   `Report::validate` whenever their content changes, their JSON bytes counted; each agent
//!   keeps a spool with the agent's rule and bounds (`pull_agent::spool`), delivered oldest
//!   first when the hub is reachable. Reports made = taken + superseded (the spool's rule: a
//!   later report repeats them) + queued at the end + lost (dropped from a full spool).
//! - **Clusters start warm**: the fleet is three days old when the run starts, so every cluster
//!   runs what its wave had reached (windows and halts are not asked for that first sync), and is
//!   registered with the hub with that report.
//!
//! Not simulated: commit signatures (the example's `verify: inform` reports no signer, as
//! for its unsigned commits; a `Flotilla-Override:` trailer is real, in the commit's message,
//! but who signed the commit is what the scenario says, checked against its
//! `overrideSigners` with `trust::check_override`'s rule and words), `fleet.verify`, the
//! hub's database and HTTP (reports are taken at once, the
//! fleet is read at the current heads), Kubernetes API latency and object-level health. Agents
//! count bakes from the hub's arrivals (the moment a branch moved) without asking for them and
//! without their own first sight of a commit, which the real agent falls back on when the hub
//! cannot be asked: at most a poll later than the hub's.

pub mod git;
pub mod metrics;
pub mod output;
pub mod rng;
pub mod scenario;
pub mod sim;
pub mod virtual_agent;
pub mod virtual_hub;
pub mod world;

use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result, bail};
use clap::Parser;

/// `flotilla-simulate`'s arguments.
#[derive(Debug, Parser)]
#[command(name = "flotilla-simulate", version, about = "Simulate a fleet of Flotilla agents, git and the hub")]
pub struct Args {
    /// The scenario file (YAML).
    #[arg(long)]
    pub scenario: PathBuf,
    /// How many clusters (default: the scenario's).
    #[arg(long)]
    pub clusters: Option<usize>,
    /// The seed of every random choice (default: the scenario's).
    #[arg(long)]
    pub seed: Option<u64>,
    /// Where to write summary.md and convergence.svg (default: target/simulate/NAME).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Apply every report to the hub's index as it comes, as the hub does, rather than each
    /// cluster's newest whenever the index is read: the same run, slower.
    #[arg(long)]
    pub every_report: bool,
}

/// A finished simulation: its summary, chart and verdicts.
pub use output::Output;

/// Runs a scenario file.
pub fn simulate(scenario: &Path, options: sim::Options) -> Result<(sim::Run, Output)> {
    let loaded = scenario::Loaded::read(scenario)?;
    let count = options.clusters.unwrap_or(loaded.scenario.population.clusters);
    let seed_used = options.seed.unwrap_or(loaded.scenario.seed);
    let run = sim::run(loaded, options).with_context(|| format!("simulating {}", scenario.display()))?;
    let output = output::render(&run, count, seed_used);
    Ok((run, output))
}

/// The command line: `--scenario FILE [--clusters N] [--seed S] [--out DIR]`. Prints the
/// summary, writes it and the chart, and fails when an expectation does not hold.
pub fn run(args: &[String]) -> Result<()> {
    let args = match Args::try_parse_from(std::iter::once("flotilla-simulate".to_string()).chain(args.iter().cloned()))
    {
        Ok(args) => args,
        Err(e) if !e.use_stderr() => {
            // --help, --version.
            print!("{e}");
            return Ok(());
        }
        Err(e) => bail!("{e}"),
    };
    let options = sim::Options { clusters: args.clusters, seed: args.seed, every_report: args.every_report };
    let (run, output) = simulate(&args.scenario, options)?;
    let out = args.out.unwrap_or_else(|| Path::new("target/simulate").join(&run.loaded.scenario.name));
    std::fs::create_dir_all(&out).with_context(|| format!("creating {}", out.display()))?;
    std::fs::write(out.join("summary.md"), &output.summary).with_context(|| format!("writing {}", out.display()))?;
    std::fs::write(out.join("convergence.svg"), &output.svg).with_context(|| format!("writing {}", out.display()))?;
    print!("{}", output.summary);
    println!("\n(written to {})", out.display());
    let failed = output.failed();
    if !failed.is_empty() {
        let lines: Vec<String> = failed.iter().map(|v| format!("{}: {}", v.what, v.found)).collect();
        bail!("{} of {} expectations failed:\n  {}", failed.len(), output.verdicts.len(), lines.join("\n  "));
    }
    Ok(())
}
