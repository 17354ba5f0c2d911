//! `cargo xtask`: project chores that are code, not shell scripts.
//!
//! - `demo`: the README's main command: the example fleet in git, a hub, a simulated fleet of
//!   real agents, and a release rolled out from `dev` to `prod` (see `demo.rs`).
//! - `simulate --scenario FILE [--clusters N] [--seed S]`: a fleet simulated in one process on a
//!   virtual clock (`crates/simulate`), built with optimizations.
//! - `bench [--quick] [--only NAMES]`: every benchmark, their figures written into BENCHMARKS.md
//!   (see `bench_all.rs`); `bench render|git|agent|policy|hub|rollout`: one of them.
//! - `ci`: exactly what CI runs: format check, clippy with warnings as errors, docs, a small
//!   demo (`demo --stores 5 --bake 5s --exit-when-done`), the images' assembly (from the debug
//!   binaries), tests; refused under `FLOTILLA_SKIP`.
//! - `image <pull-agent|hub-index> [--tag T] [--debug]`: a container image of the binary, built
//!   from scratch with buildah and checked (see `image.rs`, docs/images.md).
//! - `tidy`: repository rules (core does no IO, no import circles between source files); also
//!   runs as a test.

mod bench;
mod bench_agent;
mod bench_all;
mod bench_chart;
mod bench_git;
mod bench_hub;
mod bench_policy;
mod demo;
mod image;
mod tidy;

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

use anyhow::{Context as _, Result, bail};
use clap::{Parser, Subcommand};

/// `cargo xtask`: the project's chores.
#[derive(Debug, Parser)]
#[command(name = "cargo xtask", bin_name = "cargo xtask")]
struct Cli {
    #[command(subcommand)]
    command: Task,
}

#[derive(Debug, Subcommand)]
enum Task {
    /// The example fleet in git, a hub, simulated clusters with real agents, and a release rolled
    /// out dev -> prod (the first build takes minutes).
    Demo(demo::Args),
    /// A fleet simulated in one process on a virtual clock (an optimized build: minutes the first
    /// time); the arguments go to the simulator (`--scenario FILE [--clusters N] [--seed S]`).
    Simulate {
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
    /// Exactly what CI runs: format check, clippy, docs, a small demo, the images' assembly, the
    /// tests.
    Ci,
    /// A container image of the binary, assembled from scratch with buildah and checked.
    Image(image::Args),
    /// The repository's rules (core does no IO, no import circles between source files).
    Tidy,
    /// The benchmarks, their figures written into BENCHMARKS.md; with a name, one of them.
    Bench(bench_all::Args),
    /// One fetch of `main` into a cache, for `bench git` to measure as a process.
    #[command(hide = true)]
    GitFetch { url: String, dir: PathBuf },
}

/// Errors are printed here, as one line, and end the process with 1: a `Result` returned from
/// `main` would print a backtrace under `RUST_BACKTRACE=1`, which says nothing about a mistyped
/// command. A missing or unknown command or flag prints the usage and ends with 2 (clap's).
fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli.command) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("cargo xtask: error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(task: Task) -> Result<()> {
    match task {
        Task::Demo(args) => demo::run(&args),
        Task::Ci => ci(),
        Task::Image(args) => image::run(&args),
        Task::Bench(args) => bench_all::dispatch(args),
        Task::GitFetch { url, dir } => bench_git::fetch_once(&url, dir),
        Task::Simulate { args } => {
            // Tens of thousands of clusters want the optimized build (crates/simulate). Cargo's
            // progress shows: the first optimized build takes minutes.
            println!("Building the simulator (release profile; the first build takes minutes)…");
            let mut run = vec!["run", "--release", "--package", "flotilla-simulate", "--"];
            run.extend(args.iter().map(String::as_str));
            cargo(&run)
        }
        Task::Tidy => {
            let problems = tidy::check(&root())?;
            for p in &problems {
                eprintln!("tidy: {p}");
            }
            if problems.is_empty() { Ok(()) } else { bail!("{} tidy problem(s)", problems.len()) }
        }
    }
}

/// Runs this very command line again with an optimized xtask: `cargo xtask` builds without
/// optimizations, and the in-process benchmarks measure the code as it ships. The output is the
/// child's, captured when `capture` (else passed through, and empty).
fn again_optimized(capture: bool) -> Result<String> {
    let mut command = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    command.args(["run", "--quiet", "--release", "--package", "xtask", "--"]).args(std::env::args_os().skip(1));
    command.current_dir(root());
    if capture {
        let output = command.stderr(std::process::Stdio::inherit()).output().context("re-running xtask optimized")?;
        anyhow::ensure!(output.status.success(), "the optimized run failed ({})", output.status);
        return String::from_utf8(output.stdout).context("the optimized run's output");
    }
    let status = command.status().context("re-running xtask optimized")?;
    anyhow::ensure!(status.success(), "the optimized run failed ({status})");
    Ok(String::new())
}

/// A count, perhaps with `_` separators (`100_000`); lists of them are comma-separated.
fn count(text: &str) -> Result<usize, String> {
    text.replace('_', "").parse().map_err(|_| format!("{text:?} is not a count"))
}

/// The workspace root (xtask lives one level below it).
fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("xtask is inside the workspace").to_path_buf()
}

fn cargo(args: &[&str]) -> Result<()> {
    let status = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
        .args(args)
        .current_dir(root())
        .status()
        .with_context(|| format!("running cargo {}", args.join(" ")))?;
    if !status.success() {
        bail!("cargo {} failed ({status})", args.join(" "));
    }
    Ok(())
}

fn ci() -> Result<()> {
    // CI runs every test: one whose tool is missing fails, naming the package to install.
    if let Some(skip) = std::env::var("FLOTILLA_SKIP").ok().filter(|s| !s.is_empty()) {
        bail!("CI never skips tests: unset FLOTILLA_SKIP (it is {skip:?}) to run `cargo xtask ci`");
    }
    cargo(&["fmt", "--all", "--check"])?;
    cargo(&["clippy", "--workspace", "--all-targets", "--quiet", "--", "-D", "warnings"])?;
    // SAFETY of the env var: only read by rustdoc in the child process.
    let status = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
        .args(["doc", "--workspace", "--no-deps", "--quiet"])
        .env("RUSTDOCFLAGS", "-D warnings")
        .current_dir(root())
        .status()
        .context("running cargo doc")?;
    if !status.success() {
        bail!("cargo doc failed ({status})");
    }
    // The README's main command, small and quick (about 30 s): the front door must open. Before
    // the tests, so that their summary stays the closing line.
    let demo = ["--stores", "5", "--bake", "5s", "--listen", "127.0.0.1:0", "--exit-when-done"];
    demo::run(&demo::Args::parse_from(std::iter::once("demo").chain(demo)))?;
    // After the demo, `cargo run -p pull-agent` (and -p hub-index) must find everything built.
    for package in ["pull-agent", "hub-index"] {
        built_already(package)?;
    }
    // The images' assembly and checks, from the debug binaries the tests build anyway: a release
    // build would take most of CI's time. The images are removed again.
    for binary in image::BINARIES {
        let tag = format!("localhost/flotilla-ci/{binary}:check");
        image::build(binary, &tag, true)?;
        let _ = Command::new("buildah").args(["rmi", &tag]).output();
    }
    test_with_summary()
}

/// Fails unless `cargo build --package PACKAGE` finds every crate built already (what a user's
/// `cargo run -p PACKAGE` after the demo would otherwise compile again).
fn built_already(package: &str) -> Result<()> {
    let out = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
        .args(["build", "--package", package, "--message-format=json"])
        .current_dir(root())
        .stderr(std::process::Stdio::inherit())
        .output()
        .context("running cargo build")?;
    if !out.status.success() {
        bail!("cargo build --package {package} failed ({})", out.status);
    }
    let rebuilt: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .filter(|m| m["reason"] == "compiler-artifact" && m["fresh"] == false)
        .filter_map(|m| m["target"]["name"].as_str().map(str::to_string))
        .collect();
    if !rebuilt.is_empty() {
        bail!(
            "after the demo's build, `cargo build --package {package}` compiled {} crate(s) again: {}",
            rebuilt.len(),
            rebuilt.join(", ")
        );
    }
    Ok(())
}

/// Runs the tests, passing their output through, and ends with one plain line that sums every
/// test binary's result, so the closing line speaks for the whole suite.
fn test_with_summary() -> Result<()> {
    use std::io::{BufRead as _, BufReader};
    let mut child = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
        // Every test binary runs even after one fails: one CI run shows every failure.
        .args(["test", "--workspace", "--no-fail-fast"])
        .current_dir(root())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .context("running cargo test")?;
    let (mut passed, mut failed, mut ignored) = (0u64, 0u64, 0u64);
    let stdout = child.stdout.take().context("cargo test's stdout")?;
    for line in BufReader::new(stdout).lines() {
        let line = line.context("reading cargo test's output")?;
        println!("{line}");
        if let Some(rest) = line.strip_prefix("test result: ") {
            for part in rest.split(['.', ';']) {
                let mut words = part.split_whitespace();
                if let (Some(n), Some(what)) = (words.next().and_then(|n| n.parse::<u64>().ok()), words.next()) {
                    match what {
                        "passed" => passed += n,
                        "failed" => failed += n,
                        "ignored" => ignored += n,
                        _ => {}
                    }
                }
            }
        }
    }
    let status = child.wait().context("waiting for cargo test")?;
    println!("tests: {passed} passed, {failed} failed, {ignored} skipped");
    if !status.success() || failed > 0 {
        bail!("cargo test failed ({status})");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every command the README, BENCHMARKS.md and the docs show, verbatim, parses; a few that
    /// must not, do not.
    #[test]
    fn the_documented_commands_parse() {
        let parse = |line: &str| Cli::try_parse_from(line.split_whitespace().skip(1));
        for line in [
            "cargo xtask ci",
            "cargo xtask tidy",
            "cargo xtask demo",
            "cargo xtask demo --stores 50 --clouds 3 --listen 127.0.0.1:8080 --bake 20s --release --exit-when-done",
            "cargo xtask image pull-agent",
            "cargo xtask image hub-index --tag registry.example/flotilla/hub-index:dev",
            "cargo xtask image pull-agent --debug",
            "cargo xtask simulate --scenario examples/scenarios/retail-rollout.yaml --clusters 1000 --seed 7",
            "cargo xtask bench",
            "cargo xtask bench --quick",
            "cargo xtask bench --only git,policy",
            "cargo xtask bench --only simulate",
            "cargo xtask bench --quick --write",
            "cargo xtask bench all --quick --no-write",
            "cargo xtask bench render",
            "cargo xtask bench render --quick",
            "cargo xtask bench render --size 1000",
            "cargo xtask bench render --size 10,000",
            "cargo xtask bench render --case overlay",
            "cargo xtask bench render --case replacements-vars --size 1000",
            "cargo xtask bench git",
            "cargo xtask bench git --quick",
            "cargo xtask bench agent",
            "cargo xtask bench agent --quick",
            "cargo xtask bench policy",
            "cargo xtask bench policy --quick",
            "cargo xtask bench hub",
            "cargo xtask bench hub --quick",
            "cargo xtask bench hub --db sqlite --clusters 100000 --probe-ms 0",
            "cargo xtask bench hub --db sqlite --clusters 100000,1000000 --rounds 3 --seconds 20",
            "cargo xtask bench hub --db sqlite,postgres --clusters 100_000 --concurrency 64",
            "cargo xtask bench rollout",
            "cargo xtask bench rollout --clusters 100000,1000000",
            "cargo xtask git-fetch git://127.0.0.1:1/fleet /tmp/cache",
        ] {
            if let Err(e) = parse(line) {
                panic!("{line}: {e}");
            }
        }
        for line in [
            "cargo xtask",
            "cargo xtask nope",
            "cargo xtask image kube-testserver",
            "cargo xtask bench --only nope",
            "cargo xtask bench nope",
            "cargo xtask bench render --case nope",
            "cargo xtask bench hub --db mysql",
            "cargo xtask bench --quick render",
            "cargo xtask demo --stores many",
        ] {
            assert!(parse(line).is_err(), "{line} parses");
        }
    }

    #[test]
    fn simulate_passes_its_arguments_on() {
        let cli = Cli::try_parse_from(["xtask", "simulate", "--scenario", "s.yaml", "--clusters", "10"]).unwrap();
        let Task::Simulate { args } = cli.command else { panic!("{cli:?}") };
        assert_eq!(args, ["--scenario", "s.yaml", "--clusters", "10"]);
    }
}
