//! `cargo xtask bench git [--quick]`: flotilla-git against the `git` CLI on the same local
//! server (git http-backend behind the test CGI server on 127.0.0.1), in one run.
//!
//! A repository of 10,000 commits and 5,000 files is made with `git fast-import`. Then, for
//! each tool, alternating: a first clone into an empty cache, and a poll that finds nothing
//! new. Each run is a child process (flotilla's through `cargo xtask git-fetch`), so both are
//! measured the same way: wall time, CPU time (user + system) and peak memory from `wait4`,
//! requests and bytes from the server. The poll is also measured in-process (thread CPU time,
//! without process start-up), since that is what an agent's poll costs.

use std::fmt::Write as _;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, bail, ensure};
use flotilla_git::testing::{HttpGitServer, git};
use flotilla_git::{Cache, Source};
use flotilla_simulate::output::count;

const COMMITS: usize = 10_000;
const FILES: usize = 5_000;

/// One measured run.
#[derive(Debug, Clone, Copy)]
struct Run {
    wall: Duration,
    cpu: Duration,
    max_rss_kib: i64,
    requests: usize,
    bytes: usize,
}

pub fn run(quick: bool) -> Result<()> {
    if cfg!(debug_assertions) {
        // The measured code is linked into xtask: measure an optimized build of it.
        return crate::again_optimized(false).map(drop);
    }
    print!("{}", report(quick)?);
    Ok(())
}

/// Measures and returns the results as Markdown (for the terminal and BENCHMARKS.md).
pub fn report(quick: bool) -> Result<String> {
    let (commits, files, runs) = if quick { (1_000, 500, 3) } else { (COMMITS, FILES, 7) };
    let work = std::env::temp_dir().join(format!("flotilla-bench-git-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&work);
    std::fs::create_dir_all(&work)?;
    let result = measure(&work, commits, files, runs);
    let _ = std::fs::remove_dir_all(&work);
    result
}

fn measure(work: &Path, commits: usize, files: usize, runs: usize) -> Result<String> {
    let started = Instant::now();
    make_repository(&work.join("big.git"), commits, files)?;
    eprintln!("bench: made a repository of {commits} commits and {files} files in {:.1?}", started.elapsed());
    let server = HttpGitServer::start(work, None);
    let url = server.url("big.git");
    let xtask = std::env::current_exe().context("finding xtask's own binary")?;

    let mut clones: [Vec<Run>; 2] = [Vec::new(), Vec::new()];
    let mut polls: [Vec<Run>; 2] = [Vec::new(), Vec::new()];
    for round in 0..runs {
        let ours = work.join(format!("ours-{round}"));
        let theirs = work.join(format!("git-{round}.git"));
        let mut flotilla = Command::new(&xtask);
        flotilla.args(["git-fetch", &url]).arg(&ours);
        clones[0].push(timed(&server, &flotilla)?);
        let mut clone = Command::new("git");
        clone.args(["clone", "-q", "--bare", &url]).arg(&theirs);
        clones[1].push(timed(&server, &clone)?);
        polls[0].push(timed(&server, &flotilla)?);
        let mut fetch = Command::new("git");
        fetch.arg("-C").arg(&theirs).args(["fetch", "-q", &url, "+refs/heads/main:refs/heads/main"]);
        polls[1].push(timed(&server, &fetch)?);
        std::fs::remove_dir_all(&ours)?;
        std::fs::remove_dir_all(&theirs)?;
    }

    // The poll in-process, as an agent runs it: thread CPU time, no process start-up.
    let cache = Cache::new(work.join("in-process"));
    let source = Source::new(url.clone());
    cache.fetch(&source, &["main"])?;
    let mut in_process = Vec::new();
    for _ in 0..25 {
        let (requests, bytes) = (server.requests.load(Ordering::SeqCst), server.bytes_sent.load(Ordering::SeqCst));
        let (wall0, cpu0) = (Instant::now(), thread_cpu());
        let fetched = cache.fetch(&source, &["main"])?;
        let (cpu, wall) = (thread_cpu().saturating_sub(cpu0), wall0.elapsed());
        ensure!(!fetched.changed, "the in-process poll found changes");
        in_process.push(Run {
            wall,
            cpu,
            max_rss_kib: 0,
            requests: server.requests.load(Ordering::SeqCst) - requests,
            bytes: server.bytes_sent.load(Ordering::SeqCst) - bytes,
        });
    }

    let mut out = format!(
        "A repository of {} commits and {} files; {runs} runs per tool, alternating; medians. \
         Server: `git http-backend` on 127.0.0.1.\n\n",
        count(commits as u64),
        count(files as u64)
    );
    out.push_str("| operation | tool | wall ms | CPU ms | peak RSS MiB | requests | bytes from server |\n");
    out.push_str("|---|---|---:|---:|---:|---:|---:|\n");
    for (name, set) in [("first clone", &clones), ("no-change poll", &polls)] {
        for (tool, runs) in [("flotilla-git (process)", &set[0]), ("`git` CLI", &set[1])] {
            row(&mut out, name, tool, runs);
        }
    }
    row(&mut out, "no-change poll", "flotilla-git (in-process)", &in_process);
    // /usr/bin/time counts CPU in 10 ms steps: a ratio over 0 is not a measurement.
    let ratio = |a: &[Run], b: &[Run], f: fn(&Run) -> f64| {
        let (ours, theirs) = (median(a, f), median(b, f));
        if ours > 0.0 { format!("{:.2}×", theirs / ours) } else { "below resolution".to_string() }
    };
    let wall = |r: &Run| r.wall.as_secs_f64();
    let cpu = |r: &Run| r.cpu.as_secs_f64();
    let _ = writeln!(
        out,
        "\nRatios (git / flotilla-git, same run): clone wall {}, clone CPU {}; poll wall {}, poll CPU {} \
         (the in-process poll: {:.1} ms CPU, target under 5 ms).",
        ratio(&clones[0], &clones[1], wall),
        ratio(&clones[0], &clones[1], cpu),
        ratio(&polls[0], &polls[1], wall),
        ratio(&polls[0], &polls[1], cpu),
        median(&in_process, |r| r.cpu.as_secs_f64() * 1e3),
    );
    Ok(out)
}

#[expect(clippy::cast_precision_loss, reason = "counts and sizes far below 2^52, printed rounded")]
fn row(out: &mut String, operation: &str, tool: &str, runs: &[Run]) {
    let _ = writeln!(
        out,
        "| {operation} | {tool} | {:.1} | {:.1} | {} | {} | {} |",
        median(runs, |r| r.wall.as_secs_f64() * 1e3),
        median(runs, |r| r.cpu.as_secs_f64() * 1e3),
        if runs[0].max_rss_kib == 0 {
            "-".to_string()
        } else {
            format!("{:.1}", median(runs, |r| r.max_rss_kib as f64 / 1024.0))
        },
        median(runs, |r| r.requests as f64),
        count(middle(runs.iter().map(|r| r.bytes as u64).collect())),
    );
}

/// The median of whole numbers (the upper one of an even count, as [`median`]).
fn middle(mut values: Vec<u64>) -> u64 {
    values.sort_unstable();
    values.get(values.len() / 2).copied().unwrap_or_default()
}

fn median(runs: &[Run], f: impl Fn(&Run) -> f64) -> f64 {
    let mut v: Vec<f64> = runs.iter().map(f).collect();
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// Runs a command to completion under `/usr/bin/time`, which reports the child's CPU time
/// and peak memory (the workspace forbids the `unsafe` a direct `wait4` would need).
fn timed(server: &HttpGitServer, command: &Command) -> Result<Run> {
    let report = std::env::temp_dir().join(format!("flotilla-bench-time-{}", std::process::id()));
    let mut timed = Command::new("/usr/bin/time");
    timed.args(["-f", "%U %S %M", "-o"]).arg(&report).arg(command.get_program()).args(command.get_args());
    let (requests, bytes) = (server.requests.load(Ordering::SeqCst), server.bytes_sent.load(Ordering::SeqCst));
    let start = Instant::now();
    let status = timed.stdout(Stdio::null()).status().context("running /usr/bin/time (apt-get install time)")?;
    let wall = start.elapsed();
    ensure!(status.success(), "a benchmark run failed: {command:?}");
    let text = std::fs::read_to_string(&report).context("reading /usr/bin/time's report")?;
    let fields: Vec<f64> = text.split_whitespace().filter_map(|f| f.parse().ok()).collect();
    let [user, system, rss] = fields[..] else { bail!("unexpected /usr/bin/time output {text:?}") };
    Ok(Run {
        wall,
        cpu: Duration::from_secs_f64(user + system),
        #[expect(clippy::cast_possible_truncation, reason = "peak RSS in KiB fits in i64")]
        max_rss_kib: rss as i64,
        requests: server.requests.load(Ordering::SeqCst) - requests,
        bytes: server.bytes_sent.load(Ordering::SeqCst) - bytes,
    })
}

/// CPU time of the calling thread (`CLOCK_THREAD_CPUTIME_ID`, nanosecond resolution).
fn thread_cpu() -> Duration {
    cpu_time::ThreadTime::now().as_duration()
}

/// Makes a bare repository of `commits` commits on `main` touching `files` files, with
/// `git fast-import` (the first commit adds every file, each later one changes one).
fn make_repository(path: &Path, commits: usize, files: usize) -> Result<()> {
    git(
        path.parent().context("a parent folder")?,
        &["init", "-q", "--bare", "-b", "main", path.to_str().context("a UTF-8 path")?],
    );
    let mut child = flotilla_git::testing::git_command(path)
        .args(["fast-import", "--quiet"])
        .stdin(Stdio::piped())
        .spawn()
        .context("starting git fast-import")?;
    let mut stream = std::io::BufWriter::new(child.stdin.take().context("fast-import's stdin")?);
    for c in 0..commits {
        let when = 1_767_225_600 + c * 60;
        writeln!(stream, "commit refs/heads/main\ncommitter Bench <bench@retail.example> {when} +0000")?;
        let message = format!("change {c}");
        writeln!(stream, "data {}\n{message}", message.len())?;
        let changed: Vec<usize> = if c == 0 { (0..files).collect() } else { vec![c % files] };
        for f in changed {
            let content = format!(
                "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: config-{f}\n  namespace: store\ndata:\n  revision: \"{c}\"\n  owner: team-{}\n",
                f % 17
            );
            writeln!(
                stream,
                "M 100644 inline manifests/{:02}/config-{f}.yaml\ndata {}\n{content}",
                f % 50,
                content.len()
            )?;
        }
        writeln!(stream)?;
    }
    drop(stream);
    ensure!(child.wait()?.success(), "git fast-import failed");
    Ok(())
}

/// `cargo xtask git-fetch URL DIR`: one fetch of `main` into a cache, for the benchmark to
/// measure as a process.
pub fn fetch_once(url: &str, dir: PathBuf) -> Result<()> {
    let fetched = Cache::new(dir).fetch(&Source::new(url.to_string()), &["main"])?;
    ensure!(fetched.heads.contains_key("main"), "no main branch fetched");
    Ok(())
}
