//! `cargo xtask`: project chores that are code, not shell scripts.
//!
//! - `demo`: the README's main command: the example fleet in git, a hub, a simulated fleet of
//!   real agents, and a release rolled out from `dev` to `prod` (see `demo.rs`).
//! - `simulate --scenario FILE [--clusters N] [--seed S]`: a fleet simulated in one process on a
//!   virtual clock (`crates/simulate`), built with optimizations.
//! - `bench [--quick] [--only NAMES]`: every benchmark, their figures written into BENCHMARKS.md
//!   (see `bench_all.rs`); `bench render|git|agent|policy|hub|rollout`: one of them.
//! - `ci`: exactly what CI runs: format check, clippy with warnings as errors, docs, a small
//!   demo (`demo --stores 5 --bake 5s --exit-when-done`), tests; refused under `FLOTILLA_SKIP`.
//! - `tidy`: repository rules (core does no IO); also runs as a test.

mod bench;
mod bench_agent;
mod bench_all;
mod bench_git;
mod bench_hub;
mod bench_policy;
mod demo;
mod tidy;

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context as _, Result, bail};

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("demo") => demo::run(&args[1..]),
        Some("ci") => ci(),
        Some("bench") if args.get(1).is_some_and(|a| a == "git") => bench_git::run(&args[2..]),
        Some("bench") if args.get(1).is_some_and(|a| a == "agent") => bench_agent::run(&args[2..]),
        Some("bench") if args.get(1).is_some_and(|a| a == "hub") => bench_hub::run(&args[2..]),
        Some("bench") if args.get(1).is_some_and(|a| a == "policy") => {
            print!("{}", bench_policy::run(&args[2..])?);
            Ok(())
        }
        Some("bench") if args.get(1).is_some_and(|a| a == "render" || a == "rollout") => bench::run(&args[1..]),
        // No benchmark named (or `all`, or only flags): the whole suite.
        Some("bench") => bench_all::run(&args[1..]),
        Some("git-fetch") => bench_git::fetch_once(&args[1..]),
        Some("simulate") => {
            // Tens of thousands of clusters want the optimized build (crates/simulate).
            let mut run = vec!["run", "--quiet", "--release", "--package", "flotilla-simulate", "--"];
            run.extend(args[1..].iter().map(String::as_str));
            cargo(&run)
        }
        Some("tidy") => {
            let problems = tidy::check(&root())?;
            for p in &problems {
                eprintln!("tidy: {p}");
            }
            if problems.is_empty() { Ok(()) } else { bail!("{} tidy problem(s)", problems.len()) }
        }
        _ => {
            eprintln!("usage: cargo xtask <demo|simulate|ci|tidy|bench>");
            bail!("unknown or missing command")
        }
    }
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
    test_with_summary()
}

/// Runs the tests, passing their output through, and ends with one plain line that sums every
/// test binary's result, so the closing line speaks for the whole suite.
fn test_with_summary() -> Result<()> {
    use std::io::{BufRead as _, BufReader};
    let mut child = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
        .args(["test", "--workspace"])
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
