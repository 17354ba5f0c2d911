//! `cargo xtask bench [--quick] [--only NAME,NAME] [--no-write]`: every benchmark of the project
//! in one run, each section's results written into `BENCHMARKS.md`.
//!
//! The sections, in order: `render` (against `kubectl kustomize`, 1,000 objects, with and
//! without heavy `replacements` and `vars`), `git` (against the `git` CLI), `agent` (reconcile
//! and footprint against the test API server), `policy` (the example fleet's PCI policies
//! evaluated), `hub` (report ingest and the views at 100,000 and 1,000,000 clusters), `rollout`
//! (the hub's rollout progress) and `simulate` (the fleet simulator's scenarios at 10,000
//! clusters, one at 100,000). A full run takes about 30 minutes on two cores; `--quick` runs
//! every section small (a few minutes) and writes nothing, since its figures are not the ones
//! the targets speak of.
//!
//! `BENCHMARKS.md` keeps the prose (what is measured, history, findings) written by hand; each
//! section's figures sit between `<!-- bench:NAME -->` and `<!-- /bench:NAME -->` and are replaced
//! as soon as that section has run, headed by the date, the commit, how long it took and the load
//! average around it; the machine is described once, in `<!-- bench:machine -->`. A section
//! missing from the file is appended at its end. A section that fails leaves its old figures and
//! the run goes on; the command fails at the end, naming it. Comparisons with tools that may be
//! missing (`kubectl`, PostgreSQL) are skipped with the reason, printed and written.

use std::fmt::Write as _;
use std::path::Path;
use std::process::Command;
use std::time::Instant;

use anyhow::{Context as _, Result, bail, ensure};
use flotilla_simulate::output::count;

/// The sections, in the order they run.
const SECTIONS: [&str; 8] = ["render", "chart", "git", "agent", "policy", "hub", "rollout", "simulate"];

/// The scenarios measured at scale, and the sizes: the targets are 10,000 clusters in
/// under 2 minutes and 100,000 in under 20.
const SCENARIOS: [&str; 4] = ["retail-rollout", "stores-offline", "bad-commit-and-revert", "hub-outage"];
const LARGE_SCENARIO: &str = "retail-rollout";

/// `cargo xtask bench`'s arguments: one benchmark by name, or (no name, or `all`) the suite.
#[derive(Debug, clap::Parser)]
#[command(name = "bench", args_conflicts_with_subcommands = true)]
pub struct Args {
    #[command(subcommand)]
    benchmark: Option<Benchmark>,
    #[command(flatten)]
    suite: Suite,
}

#[derive(Debug, clap::Subcommand)]
enum Benchmark {
    /// Every benchmark, as with no name.
    All(Suite),
    /// The renderer against `kubectl kustomize`, whole process.
    Render(crate::bench::RenderArgs),
    /// The Helm renderer against Helm's own Go SDK, on the real charts of ../shared/helm-charts.
    Chart(Quick),
    /// flotilla-git against the `git` CLI.
    Git(Quick),
    /// The agent against the test API server.
    Agent(Quick),
    /// The example's PCI policies evaluated in-process.
    Policy(Quick),
    /// Report ingest and view latency over HTTP against SQLite and PostgreSQL.
    Hub(crate::bench_hub::HubArgs),
    /// The hub's rollout progress, in-process.
    Rollout(crate::bench_hub::RolloutArgs),
}

/// A benchmark's one flag.
#[derive(Debug, Clone, clap::Args)]
pub struct Quick {
    /// Fewer rounds and smaller sizes: a few minutes at most.
    #[arg(long)]
    pub quick: bool,
}

/// The whole suite's flags.
#[derive(Debug, Clone, clap::Args)]
struct Suite {
    /// Every benchmark, small; printed only unless `--write`.
    #[arg(long)]
    quick: bool,
    /// Only these sections, comma-separated.
    #[arg(long, value_delimiter = ',', value_parser = SECTIONS)]
    only: Vec<String>,
    /// Print the figures without writing them into BENCHMARKS.md.
    #[arg(long, conflicts_with = "write")]
    no_write: bool,
    /// Write the figures into BENCHMARKS.md even with `--quick`.
    #[arg(long)]
    write: bool,
}

impl Suite {
    fn only(&self) -> Vec<&str> {
        if self.only.is_empty() { SECTIONS.to_vec() } else { self.only.iter().map(String::as_str).collect() }
    }

    /// Quick figures are not the targets' sizes: they go to the terminal unless asked.
    fn write(&self) -> bool {
        if self.no_write { false } else { self.write || !self.quick }
    }
}

/// Runs what `cargo xtask bench …` names.
pub fn dispatch(args: Args) -> Result<()> {
    match args.benchmark {
        None => run(&args.suite),
        Some(Benchmark::All(suite)) => run(&suite),
        Some(Benchmark::Render(render)) => crate::bench::run(&render),
        Some(Benchmark::Chart(flags)) => crate::bench_chart::report(flags.quick).map(|table| print!("{table}")),
        Some(Benchmark::Git(flags)) => crate::bench_git::run(flags.quick),
        Some(Benchmark::Agent(flags)) => crate::bench_agent::run(flags.quick),
        Some(Benchmark::Policy(flags)) => crate::bench_policy::run(flags.quick).map(|table| print!("{table}")),
        Some(Benchmark::Hub(hub)) => crate::bench_hub::run(&hub),
        Some(Benchmark::Rollout(rollout)) => crate::bench_hub::rollout(&rollout),
    }
}

fn run(options: &Suite) -> Result<()> {
    let write = options.write();
    if cfg!(debug_assertions) {
        // `cargo xtask` builds without optimizations: the in-process benchmarks (git, policy,
        // rollout, simulate) measure the code as it ships, so run the whole suite optimized.
        return crate::again_optimized(false).map(drop);
    }
    let file = crate::root().join("BENCHMARKS.md");
    let started = Instant::now();
    let machine = machine();
    let commit = commit();
    eprintln!("bench: {machine}\nbench: at {commit}");
    if write {
        update(&file, "machine", &format!("{machine}\n"))?;
    }
    let mut failed = Vec::new();
    let only = options.only();
    for name in SECTIONS.iter().filter(|s| only.contains(s)) {
        eprintln!("\nbench: === {name} ===");
        let load_before = load_average();
        let section_started = Instant::now();
        match section(name, options.quick) {
            Ok((command, body)) => {
                let took = section_started.elapsed().as_secs_f64();
                let head = format!(
                    "*`cargo xtask bench`, {} at {commit}: {took:.0} s, load average {load_before} → {}. This \
                     section alone: `{command}`.*\n\n",
                    today(),
                    load_average()
                );
                println!("\n## {name}\n\n{head}{body}");
                if write {
                    update(&file, name, &format!("{head}{body}"))?;
                }
            }
            Err(e) => {
                eprintln!("bench: {name} FAILED: {e:#}");
                failed.push(*name);
            }
        }
    }
    eprintln!(
        "\nbench: done in {:.1} min{}",
        started.elapsed().as_secs_f64() / 60.0,
        if write { "; BENCHMARKS.md updated" } else { " (BENCHMARKS.md not written)" }
    );
    if !failed.is_empty() {
        bail!("{} section(s) failed, their old figures kept: {}", failed.len(), failed.join(", "));
    }
    Ok(())
}

/// Runs one section: the command that runs it alone, and its results as Markdown.
fn section(name: &str, quick: bool) -> Result<(String, String)> {
    let flag = |quick_args: &[&str], full_args: &[&str]| -> Vec<String> {
        if quick { quick_args } else { full_args }.iter().map(|s| (*s).to_string()).collect()
    };
    let alone = |args: &[String]| {
        let mut command = format!("cargo xtask bench {name}");
        for a in args {
            command.push(' ');
            command.push_str(a);
        }
        command
    };
    match name {
        "render" => {
            // 10,000 objects take kubectl a quarter of an hour per run: the suite measures the
            // targets' size, in both cases; `bench render` alone measures both sizes.
            let args = flag(&["--quick"], &["--size", "1000"]);
            Ok((alone(&args), crate::bench::render(quick, Some(1_000), &crate::bench::Case::ALL)?))
        }
        "chart" => {
            let args = flag(&["--quick"], &[]);
            Ok((alone(&args), crate::bench_chart::report(quick)?))
        }
        "git" => {
            let args = flag(&["--quick"], &[]);
            Ok((alone(&args), crate::bench_git::report(quick)?))
        }
        "agent" => {
            let args = flag(&["--quick"], &[]);
            Ok((alone(&args), crate::bench_agent::report(quick)?))
        }
        "policy" => {
            let args = flag(&["--quick"], &[]);
            Ok((alone(&args), crate::bench_policy::run(quick)?))
        }
        "hub" => {
            let args = flag(&["--quick"], &[]);
            let hub = crate::bench_hub::HubArgs { quick, ..Default::default() };
            Ok((alone(&args), crate::bench_hub::report(&hub)?))
        }
        "rollout" => {
            let args = flag(&["--clusters", "100000"], &[]);
            let sizes = if quick { vec![100_000] } else { crate::bench_hub::ROLLOUT_SIZES.to_vec() };
            Ok((alone(&args), crate::bench_hub::rollout_report(&sizes)?))
        }
        "simulate" => simulate(quick),
        other => bail!("no section {other:?}"),
    }
}

/// The scenarios at 10,000 clusters and the large one at 100,000 (quick: 1,000), in this
/// process: wall time against the targets, the load at git and the hub, reports lost.
fn simulate(quick: bool) -> Result<(String, String)> {
    let mut runs: Vec<(&str, usize)> = SCENARIOS.iter().map(|s| (*s, if quick { 1_000 } else { 10_000 })).collect();
    if !quick {
        runs.push((LARGE_SCENARIO, 100_000));
    }
    let mut out = String::from(
        "Each scenario run once in this process (`flotilla_simulate::simulate`, as `cargo xtask simulate` runs it), \
         its expectations checked.\n\n\
         | scenario | clusters | wall s | target | reports made | lost | git requests | hub requests (reports + halt queries) | expectations |\n\
         |---|---:|---:|---|---:|---:|---:|---:|---|\n",
    );
    let mut failures = Vec::new();
    for (scenario, clusters) in runs {
        eprintln!("bench: simulating {scenario} with {clusters} clusters");
        let file = crate::root().join("examples/scenarios").join(format!("{scenario}.yaml"));
        let options = flotilla_simulate::sim::Options { clusters: Some(clusters), seed: None, every_report: false };
        let started = Instant::now();
        let (run, output) = flotilla_simulate::simulate(&file, options)?;
        let wall = started.elapsed().as_secs_f64();
        let c = &run.counters;
        let failed = output.failed();
        let target_s = if clusters >= 100_000 { 20.0 * 60.0 } else { 120.0 };
        let met = if wall < target_s { "met" } else { "NOT MET" };
        let _ = writeln!(
            out,
            "| {scenario} | {} | {wall:.1} | under {:.0} min: {met} | {} | {} | {} | {} ({} + {}) | {} of {} hold |",
            count(clusters as u64),
            target_s / 60.0,
            count(c.made),
            count(flotilla_simulate::output::lost(&run)),
            count(c.git_requests),
            count(c.hub_reports + c.hub_queries),
            count(c.hub_reports),
            count(c.hub_queries),
            output.verdicts.len() - failed.len(),
            output.verdicts.len(),
        );
        failures.extend(failed.iter().map(|v| format!("{scenario} at {clusters}: {}: {}", v.what, v.found)));
    }
    ensure!(failures.is_empty(), "expectations failed:\n  {}", failures.join("\n  "));
    let command = if quick {
        "cargo xtask simulate --scenario examples/scenarios/NAME.yaml --clusters 1000"
    } else {
        "cargo xtask simulate --scenario examples/scenarios/NAME.yaml --clusters 10000"
    };
    Ok((command.to_string(), out))
}

/// Replaces what is between `<!-- bench:NAME -->` and `<!-- /bench:NAME -->` in `file` with
/// `body`, or appends the section at the end when the markers are missing. Written to a
/// temporary file and renamed, so an interrupted run leaves the old file whole.
fn update(file: &Path, name: &str, body: &str) -> Result<()> {
    let text = std::fs::read_to_string(file).with_context(|| format!("reading {}", file.display()))?;
    let updated = replace_section(&text, name, body)
        .with_context(|| format!("{}: the markers of section {name}", file.display()))?;
    let temporary = file.with_extension("md.new");
    std::fs::write(&temporary, updated).with_context(|| format!("writing {}", temporary.display()))?;
    std::fs::rename(&temporary, file).with_context(|| format!("replacing {}", file.display()))
}

fn replace_section(text: &str, name: &str, body: &str) -> Result<String> {
    let (open, close) = (format!("<!-- bench:{name} -->"), format!("<!-- /bench:{name} -->"));
    let body = body.trim_end();
    match (text.find(&open), text.find(&close)) {
        (Some(start), Some(end)) if start < end => {
            ensure!(text.matches(&open).count() == 1, "{open} appears more than once");
            let content = start + open.len();
            Ok(format!("{}\n{body}\n{}", &text[..content], &text[end..]))
        }
        (None, None) => Ok(format!("{}\n\n## {name}\n\n{open}\n{body}\n{close}\n", text.trim_end())),
        _ => bail!("{open} and {close} must both be there, in that order"),
    }
}

/// The date and time of the run, UTC.
fn today() -> String {
    jiff::Timestamp::now().strftime("%Y-%m-%d %H:%M UTC").to_string()
}

/// The commit measured, and whether the tree had changes.
fn commit() -> String {
    let out = |args: &[&str]| {
        Command::new("git")
            .args(args)
            .current_dir(crate::root())
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
    };
    let Some(id) = out(&["rev-parse", "--short", "HEAD"]) else { return "an unknown commit".to_string() };
    let dirty = out(&["status", "--porcelain", "--untracked-files=no"]).is_some_and(|s| !s.is_empty());
    format!("commit {id}{}", if dirty { " with uncommitted changes" } else { "" })
}

/// `/proc/loadavg`'s one-minute figure.
fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|l| l.split_whitespace().next().map(str::to_string))
        .unwrap_or_else(|| "?".to_string())
}

/// One paragraph on the machine: processor, cores, memory, system, and the tools compared against.
fn machine() -> String {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let cpu = cpuinfo
        .lines()
        .find_map(|l| l.strip_prefix("model name").and_then(|r| r.split_once(':')).map(|(_, m)| m.trim().to_string()))
        .unwrap_or_else(|| "an unknown processor".to_string());
    let cores = std::thread::available_parallelism().map_or(0, std::num::NonZero::get);
    let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    let memory = meminfo
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))
        .and_then(|v| v.split_whitespace().next()?.parse::<u64>().ok())
        .map_or_else(|| "? GiB".to_string(), |kib| format!("{:.1} GiB", gib(kib)));
    let system = std::fs::read_to_string("/etc/os-release")
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("PRETTY_NAME=").map(|v| v.trim_matches('"').to_string()))
        .unwrap_or_else(|| "an unknown system".to_string());
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default().trim().to_string();
    let version = |program: &str, args: &[&str]| {
        Command::new(program).args(args).output().ok().filter(|o| o.status.success()).map_or_else(
            || "not found".to_string(),
            |o| String::from_utf8_lossy(&o.stdout).lines().next().unwrap_or_default().trim().to_string(),
        )
    };
    format!(
        "Machine of the last `cargo xtask bench`: {cpu}, {cores} cores available, {memory} of memory; {system}, \
         Linux {kernel}; {}; {}; kubectl: {}; PostgreSQL server: {}. Machines here are shared with other jobs: \
         figures are medians, and each section says the load average around it.",
        version("rustc", &["--version"]),
        version("git", &["--version"]),
        version("kubectl", &["version", "--client"]),
        if hub_index::testing::PgServer::available() { "found" } else { "not found" },
    )
}

#[expect(clippy::cast_precision_loss, reason = "memory sizes far below 2^52 KiB")]
fn gib(kib: u64) -> f64 {
    kib as f64 / 1024.0 / 1024.0
}

#[cfg(test)]
mod tests {
    use super::replace_section;

    #[test]
    fn a_section_is_replaced_between_its_markers_and_the_prose_around_it_stays() {
        let text = "# Benchmarks\n\nprose before\n<!-- bench:git -->\nold figures\n<!-- /bench:git -->\nprose after\n";
        let new = replace_section(text, "git", "new figures\n").unwrap();
        assert_eq!(
            new,
            "# Benchmarks\n\nprose before\n<!-- bench:git -->\nnew figures\n<!-- /bench:git -->\nprose after\n"
        );
        // Again: the same result, nothing accumulates.
        assert_eq!(replace_section(&new, "git", "new figures").unwrap(), new);
    }

    #[test]
    fn a_missing_section_is_appended_and_broken_markers_are_refused() {
        let new = replace_section("# Benchmarks\n", "policy", "figures").unwrap();
        assert_eq!(new, "# Benchmarks\n\n## policy\n\n<!-- bench:policy -->\nfigures\n<!-- /bench:policy -->\n");
        assert!(replace_section("<!-- /bench:git -->\n<!-- bench:git -->\n", "git", "x").is_err());
        assert!(replace_section("<!-- bench:git -->\n", "git", "x").is_err());
        let twice = "<!-- bench:git -->\n<!-- bench:git -->\n<!-- /bench:git -->\n";
        assert!(replace_section(twice, "git", "x").is_err());
    }
}
