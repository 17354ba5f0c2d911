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
mod bench_git;
mod bench_hub;
mod bench_policy;
mod demo;
mod image;
mod tidy;

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

use anyhow::{Context as _, Result, bail};

const USAGE: &str = "\
usage: cargo xtask <command> [options]

commands:
  demo [--stores N] [--clouds N] [--listen ADDR] [--bake DURATION] [--release] [--exit-when-done]
        the example fleet in git, a hub, simulated clusters with real agents, and a release
        rolled out dev -> prod (the first build takes minutes)
  simulate --scenario FILE [--clusters N] [--seed S]
        a fleet simulated in one process on a virtual clock (an optimized build: minutes the
        first time)
  ci    exactly what CI runs: format check, clippy, docs, a small demo, the images' assembly,
        the tests
  image pull-agent|hub-index [--tag T] [--debug]
        a container image of the binary, assembled from scratch with buildah and checked
  tidy  the repository's rules (core does no IO, no import circles between source files)
  bench [--quick] [--only NAMES] [--no-write] | bench render|git|agent|policy|hub|rollout
        the benchmarks, their figures written into BENCHMARKS.md
";

/// Errors are printed here, as one line, and end the process with 1: a `Result` returned from
/// `main` would print a backtrace under `RUST_BACKTRACE=1`, which says nothing about a mistyped
/// command. A missing or unknown command prints the usage and ends with 2.
fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let command = args.first().map(String::as_str);
    if matches!(command, Some("-h" | "--help" | "help")) {
        print!("{USAGE}");
        return ExitCode::SUCCESS;
    }
    match run(&args) {
        Some(Ok(())) => ExitCode::SUCCESS,
        Some(Err(e)) => {
            eprintln!("cargo xtask: error: {e:#}");
            ExitCode::FAILURE
        }
        None => {
            let said = command.map_or_else(|| "no command given".to_string(), |c| format!("unknown command {c:?}"));
            eprint!("cargo xtask: {said}\n{USAGE}");
            ExitCode::from(2)
        }
    }
}

/// Runs the command `args` name; `None` when they name none.
fn run(args: &[String]) -> Option<Result<()>> {
    Some(match args.first().map(String::as_str) {
        Some("demo") => demo::run(&args[1..]),
        Some("ci") => ci(),
        Some("image") => image::run(&args[1..]),
        Some("bench") if args.get(1).is_some_and(|a| a == "git") => bench_git::run(&args[2..]),
        Some("bench") if args.get(1).is_some_and(|a| a == "agent") => bench_agent::run(&args[2..]),
        Some("bench") if args.get(1).is_some_and(|a| a == "hub") => bench_hub::run(&args[2..]),
        Some("bench") if args.get(1).is_some_and(|a| a == "policy") => {
            bench_policy::run(&args[2..]).map(|table| print!("{table}"))
        }
        Some("bench") if args.get(1).is_some_and(|a| a == "render" || a == "rollout") => bench::run(&args[1..]),
        // No benchmark named (or `all`, or only flags): the whole suite.
        Some("bench") => bench_all::run(&args[1..]),
        Some("git-fetch") => bench_git::fetch_once(&args[1..]),
        Some("simulate") => {
            // Tens of thousands of clusters want the optimized build (crates/simulate). Cargo's
            // progress shows: the first optimized build takes minutes.
            println!("Building the simulator (release profile; the first build takes minutes)…");
            let mut run = vec!["run", "--release", "--package", "flotilla-simulate", "--"];
            run.extend(args[1..].iter().map(String::as_str));
            cargo(&run)
        }
        Some("tidy") => tidy::check(&root()).and_then(|problems| {
            for p in &problems {
                eprintln!("tidy: {p}");
            }
            if problems.is_empty() { Ok(()) } else { bail!("{} tidy problem(s)", problems.len()) }
        }),
        _ => return None,
    })
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
    demo::run(&demo.map(String::from))?;
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
