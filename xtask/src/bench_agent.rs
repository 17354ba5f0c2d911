//! `cargo xtask bench agent [--quick]`: the pull-agent's reconcile against the project's test API
//! server (`kube-testserver`, its own process), with the repositories served by `git daemon`.
//!
//! It measures, as medians of 11 rounds (3 with `--quick`):
//!
//! - **from nothing**: `pull-agent once` syncing a 1,000-object placement into an empty test
//!   server with an empty state folder (so it also clones both repositories), a fresh server and
//!   folder each round. That `once` applies everything but ends `Progressing`: it checks the
//!   Deployments' health before the server's controller has made them ready. The next `once`
//!   finds them ready and ends `Synced`; the two together are the time to synced.
//! - **no change, per process**: `pull-agent once` again and again on the synced server;
//! - **no change, per cycle**: the same without process start-up, from the agent's own log line
//!   (`cycle N: …; W ms wall, C ms cpu; …`): the one cycle of each `once` (the full job: fetch,
//!   render, list, plan, assess), and the steady-state cycles of `pull-agent run`, those that log
//!   every placement `unchanged` (the same commits, and no event on its watches: see
//!   `pull_agent::watch`); and those cycles again with the example fleet's seven PCI policies
//!   (`examples/retail-fleet/infra/fleet/policies-pci.yaml`, namespace `bt` read as `big`),
//!   which every cycle evaluates against the live objects (they list their kinds: the 1,000
//!   objects' Services, the Pods, Namespaces, ClusterRoles, …);
//! - **idle memory**: VmRSS of `pull-agent run` with three placements of 100 objects each, two
//!   poll cycles (1 s apart) after all three are synced.
//!
//! Every process is measured from outside: wall-clock around spawn and wait, peak RSS from GNU
//! `/usr/bin/time -f %M`, and CPU time from the children's rusage as bash's `times` prints it.
//! GNU time's own `%U %S` come in 10 ms steps, too coarse for a 10 ms target; the kernel keeps
//! the children's CPU time in microseconds and `times` prints milliseconds. The workspace forbids
//! the `unsafe` a direct `wait4` would need. Both figures include `bash` and `/usr/bin/time`,
//! whose own cost the bench measures with `true` and prints.
//!
//! It does not measure the hub, report delivery or a real API server; it is not a
//! micro-benchmark and does not run in CI.

use std::ffi::OsStr;
use std::fmt::Write as _;
use std::fs::{self, File};
use std::io::{BufRead as _, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, bail, ensure};
use flotilla_git::testing::{GitDaemon, git};

/// GNU time; `-f %M` is the child's peak resident set size in KiB.
const TIME: &str = "/usr/bin/time";
/// The big placement: 1 Namespace, 249 Deployments, 250 Services and 500 ConfigMaps.
const BIG_OBJECTS: usize = 1_000;
/// The idle case: this many placements of [`IDLE_OBJECTS`] objects each.
const IDLE_PLACEMENTS: usize = 3;
const IDLE_OBJECTS: usize = 100;
/// How long `pull-agent run` may take to reach the state the bench waits for.
const RUN_TIMEOUT: Duration = Duration::from_secs(120);
/// Targets from the issue.
const TARGET_CYCLE_CPU_MS: f64 = 10.0;
const TARGET_IDLE_RSS_MIB: f64 = 20.0;

pub fn run(quick: bool) -> Result<()> {
    print!("{}", report(quick)?);
    Ok(())
}

/// Measures and returns the results as Markdown (for the terminal and BENCHMARKS.md).
pub fn report(quick: bool) -> Result<String> {
    ensure!(
        Path::new(TIME).exists(),
        "{TIME} is missing: it measures each run's peak memory (install it with `apt-get install -y time`)"
    );
    crate::cargo(&["build", "--release", "--quiet", "--package", "pull-agent", "--package", "kube-testserver"])?;
    let work = std::env::temp_dir().join(format!("flotilla-bench-agent-{}", std::process::id()));
    let _ = fs::remove_dir_all(&work);
    fs::create_dir_all(&work).with_context(|| format!("creating {}", work.display()))?;
    // Every child process is owned by `measure` and killed before the folder goes.
    let result = measure(&work, if quick { 3 } else { 11 });
    if let Err(e) = fs::remove_dir_all(&work) {
        eprintln!("bench: could not remove {}: {e}", work.display());
    }
    result
}

/// One measured figure set; a `None` is not measured for that row.
#[derive(Debug, Clone, Copy, Default)]
struct Sample {
    wall_ms: Option<f64>,
    /// User + system, from the rusage in microseconds (or the agent's own clock for a cycle).
    cpu_ms: Option<f64>,
    /// User + system as GNU time prints it, in 10 ms steps.
    coarse_cpu_ms: Option<f64>,
    /// Peak RSS for a process; VmRSS for the idle daemon.
    rss_mib: Option<f64>,
}

impl Sample {
    /// Two processes one after the other: times add up, memory is the larger peak.
    fn then(self, next: Sample) -> Sample {
        let add = |a: Option<f64>, b: Option<f64>| Some(a? + b?);
        let max = |a: Option<f64>, b: Option<f64>| Some(f64::max(a?, b?));
        Sample {
            wall_ms: add(self.wall_ms, next.wall_ms),
            cpu_ms: add(self.cpu_ms, next.cpu_ms),
            coarse_cpu_ms: add(self.coarse_cpu_ms, next.coarse_cpu_ms),
            rss_mib: max(self.rss_mib, next.rss_mib),
        }
    }
}

fn measure(work: &Path, rounds: usize) -> Result<String> {
    let agent = release_binary("pull-agent");
    let server_binary = release_binary("kube-testserver");
    let daemon = GitDaemon::start(work);
    make_repositories(work, &daemon.url("app"))?;
    let scratch = work.join("scratch");
    fs::create_dir_all(&scratch).context("creating the scratch folder")?;
    let overhead = (0..rounds)
        .map(|_| timed(&[OsStr::new("true")], &scratch).map(|(sample, _)| sample))
        .collect::<Result<Vec<_>>>()
        .context("measuring bash's and /usr/bin/time's own cost")?;

    // Correctness first: on an empty server the plan applies exactly the 1,000 objects.
    {
        let server = TestServer::start(&server_binary)?;
        let config = write_config(work, "check", &daemon.url("fleet"), &server.url)?;
        let plan = plan(&agent, &config)?;
        let applies = plan.lines().filter(|l| l.starts_with("apply ")).count();
        ensure!(applies == BIG_OBJECTS, "on an empty server the plan applies {applies} objects, not {BIG_OBJECTS}");
    }

    let mut from_nothing = Vec::with_capacity(rounds);
    let mut from_nothing_cycle = Vec::with_capacity(rounds);
    let mut to_synced = Vec::with_capacity(rounds);
    for round in 0..rounds {
        let server = TestServer::start(&server_binary)?;
        let config = write_config(work, &format!("nothing-{round}"), &daemon.url("fleet"), &server.url)?;
        let context = || format!("from nothing, round {round}");
        let first = once(&agent, &config, &scratch, Expect::SyncedOrProgressing).with_context(context)?;
        from_nothing.push(first.sample);
        from_nothing_cycle.push(first.cycle()?);
        // Until synced: the cycle that applied, and the one that finds the Deployments ready.
        let total = if first.synced {
            first.sample
        } else {
            let second = once(&agent, &config, &scratch, Expect::Synced).with_context(context)?;
            first.sample.then(second.sample)
        };
        to_synced.push(total);
        eprintln!(
            "bench: from nothing, round {}/{rounds}: {:.0} ms applying, {:.0} ms to synced",
            round + 1,
            first.sample.wall_ms.unwrap_or_default(),
            total.wall_ms.unwrap_or_default()
        );
    }

    // No change: one server, synced (untimed), then `once` again and again.
    let server = TestServer::start(&server_binary)?;
    let config = write_config(work, "no-change", &daemon.url("fleet"), &server.url)?;
    let first = once(&agent, &config, &scratch, Expect::SyncedOrProgressing).context("the sync before no change")?;
    if !first.synced {
        once(&agent, &config, &scratch, Expect::Synced).context("the sync before no change")?;
    }
    let left = plan(&agent, &config)?;
    ensure!(left.trim().is_empty(), "after a sync the plan still has changes:\n{left}");
    let mut no_change = Vec::with_capacity(rounds);
    let mut no_change_cycle = Vec::with_capacity(rounds);
    for round in 0..rounds {
        let run =
            once(&agent, &config, &scratch, Expect::Synced).with_context(|| format!("no change, round {round}"))?;
        no_change.push(run.sample);
        no_change_cycle.push(run.cycle()?);
    }

    // Steady state: the cycles that found the commits the same and the watches quiet (the first
    // cycles of a process sync in full: discovery, the cache's check, starting the watches).
    let daemon_cycles = run_daemon(&agent, &config, |c| c.placements > 0 && c.unchanged == c.placements, rounds)?;
    // The same with policies: their enforced fixes land in the first cycle, then every cycle
    // evaluates them again.
    let config = write_config(work, "policies", &daemon.url("fleet-policies"), &server.url)?;
    let policy_cycles = run_daemon(&agent, &config, |c| c.placements > 0 && c.unchanged == c.placements, rounds)?;
    drop(server);

    let mut idle = Vec::with_capacity(rounds);
    for round in 0..rounds {
        let server = TestServer::start(&server_binary)?;
        let config = write_config(work, &format!("idle-{round}"), &daemon.url("fleet-idle"), &server.url)?;
        let rss = idle_rss(&agent, &config).with_context(|| format!("idle memory, round {round}"))?;
        eprintln!("bench: idle, round {}/{rounds}: {rss:.1} MiB", round + 1);
        idle.push(Sample { rss_mib: Some(rss), ..Sample::default() });
    }

    let rows: [(&str, &[Sample]); 8] = [
        ("from nothing: the `once` that applies 1,000 objects (process)", &from_nothing),
        ("from nothing: that `once`'s cycle (agent's clock)", &from_nothing_cycle),
        ("from nothing to synced: that `once` and the next (processes; times summed)", &to_synced),
        ("no change: `once` (process)", &no_change),
        ("no change: that `once`'s cycle (agent's clock)", &no_change_cycle),
        ("no change: `pull-agent run` cycle, steady state (agent's clock)", &daemon_cycles),
        ("the same, with the example's 7 PCI policies evaluated each cycle (agent's clock)", &policy_cycles),
        ("idle `pull-agent run`, 3 placements × 100 objects (VmRSS)", &idle),
    ];
    Ok(markdown(&rows, &overhead, &daemon_cycles, &idle))
}

fn release_binary(name: &str) -> PathBuf {
    // Cargo resolves a relative CARGO_TARGET_DIR against the directory it runs in, the root here.
    let target = std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| crate::root().join("target"), PathBuf::from);
    crate::root().join(target).join("release").join(name)
}

/// A child process killed and reaped when dropped, also when the bench fails half-way.
struct Guard(Child);

impl Drop for Guard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `kube-testserver` in its own process, so its CPU time is not the agent's.
struct TestServer {
    url: String,
    _child: Guard,
}

impl TestServer {
    fn start(binary: &Path) -> Result<TestServer> {
        let mut child = Command::new(binary)
            .args(["--listen", "127.0.0.1:0", "--ready-delay", "0s"])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .spawn()
            .with_context(|| format!("starting {}", binary.display()))?;
        let stdout = child.stdout.take().context("kube-testserver's stdout")?;
        let child = Guard(child);
        // It prints its URL once it listens, and nothing after.
        let mut url = String::new();
        BufReader::new(stdout).read_line(&mut url).context("reading kube-testserver's URL")?;
        let url = url.trim().to_string();
        ensure!(url.starts_with("http://"), "kube-testserver printed {url:?}, not its URL");
        Ok(TestServer { url, _child: child })
    }
}

/// Writes `<work>/<name>/agent.yaml` with its own state folder beside it.
fn write_config(work: &Path, name: &str, fleet_url: &str, server_url: &str) -> Result<PathBuf> {
    let dir = work.join(name);
    fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let file = dir.join("agent.yaml");
    // The poll interval only matters to `run`; 1 s is the shortest the agent accepts.
    let text = format!(
        "cluster: {{name: store-0001, environment: prod, labels: {{kind: store}}}}\n\
         fleet: {{url: \"{fleet_url}\"}}\n\
         stateDir: \"{}\"\n\
         kubernetes: {{server: \"{server_url}\"}}\n\
         pollInterval: 1s\n",
        dir.join("state").display()
    );
    fs::write(&file, text).with_context(|| format!("writing {}", file.display()))?;
    Ok(file)
}

/// `pull-agent plan`: what a reconcile would change, one line per change.
fn plan(agent: &Path, config: &Path) -> Result<String> {
    let out = Command::new(agent)
        .arg("plan")
        .arg("--config")
        .arg(config)
        .stdin(Stdio::null())
        .output()
        .context("running pull-agent plan")?;
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    // A plan with changes exits 1 (not synced); anything else is a failure.
    let code = out.status.code();
    ensure!(
        code == Some(0) || (code == Some(1) && !stdout.trim().is_empty()),
        "pull-agent plan exited with {}: {}",
        out.status,
        String::from_utf8_lossy(&out.stderr).trim()
    );
    Ok(stdout)
}

/// What `once` must end with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Expect {
    /// Exit 0: every placement synced.
    Synced,
    /// Exit 0, or exit 1 with every placement `Progressing`: a cycle that applied Deployments
    /// checks their health before the API server's controller has made them ready, so a sync
    /// from nothing ends progressing and the next cycle finds it synced.
    SyncedOrProgressing,
}

/// One measured `pull-agent once`.
struct Once {
    sample: Sample,
    /// Whether it exited 0 (every placement synced).
    synced: bool,
    stderr: String,
}

impl Once {
    /// The agent's own figures for its one cycle, from its log.
    fn cycle(&self) -> Result<Sample> {
        let mut cycles = self.stderr.lines().filter_map(Cycle::parse);
        match (cycles.next(), cycles.next()) {
            (Some(cycle), None) => Ok(cycle.sample()),
            _ => bail!("pull-agent once did not log one `cycle N: …` line:\n{}", self.stderr.trim()),
        }
    }
}

/// Runs and measures `pull-agent once`; fails with its stderr unless it ended as `expect` says.
fn once(agent: &Path, config: &Path, scratch: &Path, expect: Expect) -> Result<Once> {
    let args = [agent.as_os_str(), OsStr::new("once"), OsStr::new("--config"), config.as_os_str()];
    let (sample, status) = timed(&args, scratch)?;
    let stderr = fs::read_to_string(scratch.join("stderr")).context("reading pull-agent's stderr")?;
    // `pull-agent: placement NAME: STATE[: message]`
    let placements: Vec<&str> = stderr
        .lines()
        .filter_map(|l| l.strip_prefix("pull-agent: placement "))
        .filter_map(|l| l.split(": ").nth(1))
        .collect();
    let progressing =
        status.code() == Some(1) && !placements.is_empty() && placements.iter().all(|s| *s == "Progressing");
    if !(status.success() || (expect == Expect::SyncedOrProgressing && progressing)) {
        bail!("pull-agent once --config {} exited with {status}:\n{}", config.display(), stderr.trim());
    }
    Ok(Once { sample, synced: status.success(), stderr })
}

/// Runs `command` (program and arguments) under `/usr/bin/time` inside `bash`, which prints its
/// children's CPU time with `times` at the end; stdout and stderr go to files in `scratch`.
/// Wall-clock is the whole spawn and wait.
fn timed(command: &[&OsStr], scratch: &Path) -> Result<(Sample, ExitStatus)> {
    let report = scratch.join("rusage");
    let times = scratch.join("rusage.times");
    let mut script = Command::new("bash");
    script
        .arg("-c")
        // `$0` is the report file; `times`' second line is the children's user and system time.
        .arg(r#"/usr/bin/time -f "%e %U %S %M" -o "$0" "$@"; s=$?; times >"$0.times"; exit $s"#)
        .arg(&report)
        .args(command)
        .stdin(Stdio::null())
        .stdout(File::create(scratch.join("stdout")).context("creating the stdout file")?)
        .stderr(File::create(scratch.join("stderr")).context("creating the stderr file")?);
    let start = Instant::now();
    let status = script.status().context("spawning bash")?;
    let wall = start.elapsed();
    let rusage = fs::read_to_string(&report).context("reading /usr/bin/time's report")?;
    // After a failure GNU time writes "Command exited with non-zero status N" first; the format
    // is always the last line.
    let fields: Vec<f64> =
        rusage.lines().last().unwrap_or_default().split_whitespace().filter_map(|f| f.parse().ok()).collect();
    let [_, user, system, peak_kib] = fields[..] else { bail!("unexpected /usr/bin/time report {rusage:?}") };
    let times_text = fs::read_to_string(&times).context("reading bash's times")?;
    let children: Vec<f64> = times_text
        .lines()
        .nth(1)
        .map(|l| l.split_whitespace().filter_map(minutes_seconds).collect())
        .unwrap_or_default();
    let [child_user, child_system] = children[..] else { bail!("unexpected output of bash's times {times_text:?}") };
    let sample = Sample {
        wall_ms: Some(wall.as_secs_f64() * 1e3),
        cpu_ms: Some((child_user + child_system) * 1e3),
        coarse_cpu_ms: Some((user + system) * 1e3),
        rss_mib: Some(peak_kib / 1024.0),
    };
    Ok((sample, status))
}

/// `0m0.012s` (bash's `times`) in seconds.
fn minutes_seconds(text: &str) -> Option<f64> {
    let (minutes, seconds) = text.strip_suffix('s')?.split_once('m')?;
    Some(minutes.parse::<f64>().ok()? * 60.0 + seconds.parse::<f64>().ok()?)
}

/// One `pull-agent: cycle N: P placements (S); W ms wall, C ms cpu; …` line.
#[derive(Debug, Clone, Copy)]
struct Cycle {
    placements: usize,
    synced: usize,
    unchanged: usize,
    wall_ms: f64,
    cpu_ms: f64,
}

impl Cycle {
    fn parse(line: &str) -> Option<Cycle> {
        let (_number, rest) = line.strip_prefix("pull-agent: cycle ")?.split_once(": ")?;
        let mut parts = rest.split("; ");
        let (placements, states) = parts.next()?.split_once(" placements (")?;
        // `(3 Synced)`, `(1 Progressing, 2 Synced)`, `(3 Synced, 3 unchanged)`, `(none)`.
        let count = |state: &str| -> usize {
            states
                .trim_end_matches(')')
                .split(", ")
                .filter_map(|s| s.strip_suffix(state))
                .filter_map(|n| n.parse::<usize>().ok())
                .sum()
        };
        let (synced, unchanged) = (count(" Synced"), count(" unchanged"));
        // `7 policies (6 compliant, 1 not, 0 unknown)` may come first.
        let (wall, cpu) = parts.find_map(|p| p.split_once(" ms wall, "))?;
        Some(Cycle {
            placements: placements.parse().ok()?,
            synced,
            unchanged,
            wall_ms: wall.parse().ok()?,
            cpu_ms: cpu.strip_suffix(" ms cpu")?.parse().ok()?,
        })
    }

    fn all_synced(&self) -> bool {
        self.placements > 0 && self.synced == self.placements
    }

    fn sample(self) -> Sample {
        Sample { wall_ms: Some(self.wall_ms), cpu_ms: Some(self.cpu_ms), ..Sample::default() }
    }
}

/// `pull-agent run` as a child, with its stderr read line by line on a thread.
struct Daemon {
    child: Guard,
    lines: mpsc::Receiver<String>,
    /// Everything it said so far, for the error message when it misbehaves.
    said: String,
}

impl Daemon {
    fn start(agent: &Path, config: &Path) -> Result<Daemon> {
        let mut child = Command::new(agent)
            .arg("run")
            .arg("--config")
            .arg(config)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .context("starting pull-agent run")?;
        let stderr = child.stderr.take().context("pull-agent run's stderr")?;
        let (send, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if send.send(line).is_err() {
                    break;
                }
            }
        });
        Ok(Daemon { child: Guard(child), lines, said: String::new() })
    }

    /// The next cycle line, within [`RUN_TIMEOUT`] of `since`.
    fn next_cycle(&mut self, since: Instant) -> Result<Cycle> {
        loop {
            let left = RUN_TIMEOUT.saturating_sub(since.elapsed());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    let _ = writeln!(self.said, "{line}");
                    if let Some(cycle) = Cycle::parse(&line) {
                        return Ok(cycle);
                    }
                }
                Err(mpsc::RecvTimeoutError::Timeout) => {
                    bail!("pull-agent run did not get there in {RUN_TIMEOUT:?}; it said:\n{}", self.said.trim())
                }
                Err(mpsc::RecvTimeoutError::Disconnected) => {
                    let status = self.child.0.wait().context("waiting for pull-agent run")?;
                    bail!("pull-agent run ended ({status}); it said:\n{}", self.said.trim())
                }
            }
        }
    }
}

/// Runs the daemon until it has logged `count` cycles that `keep` accepts; each must be synced.
fn run_daemon(agent: &Path, config: &Path, keep: impl Fn(&Cycle) -> bool, count: usize) -> Result<Vec<Sample>> {
    let mut daemon = Daemon::start(agent, config)?;
    let started = Instant::now();
    let mut kept = Vec::with_capacity(count);
    while kept.len() < count {
        let cycle = daemon.next_cycle(started)?;
        ensure!(cycle.all_synced(), "a no-change cycle was not synced:\n{}", daemon.said.trim());
        if keep(&cycle) {
            kept.push(cycle.sample());
        }
    }
    Ok(kept)
}

/// Starts `pull-agent run`, waits until every placement is synced and two more cycles went by,
/// and returns its VmRSS in MiB.
fn idle_rss(agent: &Path, config: &Path) -> Result<f64> {
    let mut daemon = Daemon::start(agent, config)?;
    let started = Instant::now();
    loop {
        let cycle = daemon.next_cycle(started)?;
        if cycle.all_synced() && cycle.placements == IDLE_PLACEMENTS {
            break;
        }
    }
    for _ in 0..2 {
        daemon.next_cycle(started)?;
    }
    let pid = daemon.child.0.id();
    let status = fs::read_to_string(format!("/proc/{pid}/status")).context("reading the agent's /proc status")?;
    let kib: f64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().strip_suffix("kB"))
        .and_then(|v| v.trim().parse().ok())
        .with_context(|| format!("no VmRSS in /proc/{pid}/status"))?;
    Ok(kib / 1024.0)
}

/// The repositories `git daemon` serves, each on branch `prod`: `app` with the placements'
/// folders, `fleet` placing `big/` (1,000 objects) and `fleet-idle` placing three folders of 100.
fn make_repositories(work: &Path, app_url: &str) -> Result<()> {
    for repo in ["app", "fleet", "fleet-idle", "fleet-policies"] {
        fs::create_dir_all(work.join(repo))?;
        git(&work.join(repo), &["init", "-q", "-b", "prod"]);
    }
    let app = work.join("app");
    write_manifests(&app.join("big"), "big", BIG_OBJECTS)?;
    for i in 0..IDLE_PLACEMENTS {
        write_manifests(&app.join(format!("idle-{i}")), &format!("idle-{i}"), IDLE_OBJECTS)?;
    }
    let fleet = |names: &[String]| {
        let mut y = format!(
            "apiVersion: flotilla.dev/v1alpha1\nkind: Repository\nmetadata: {{name: app}}\nspec: {{url: \"{app_url}\"}}\n"
        );
        for name in names {
            let _ = write!(
                y,
                "---\napiVersion: flotilla.dev/v1alpha1\nkind: Placement\nmetadata: {{name: {name}}}\n\
                 spec:\n  source: {{repository: app, path: {name}}}\n  clusters: {{matchLabels: {{kind: store}}}}\n  scope: {{cluster: true}}\n"
            );
        }
        y
    };
    let idle: Vec<String> = (0..IDLE_PLACEMENTS).map(|i| format!("idle-{i}")).collect();
    let policies = fs::read_to_string(crate::root().join("examples/retail-fleet/infra/fleet/policies-pci.yaml"))
        .context("reading the example fleet's policies")?
        .replace("namespace: bt", "namespace: big")
        .replace("name: bt\n", "name: big\n");
    let with_policies = format!("{}---\n{policies}", fleet(&["big".to_string()]));
    for (repo, text) in
        [("fleet", fleet(&["big".to_string()])), ("fleet-idle", fleet(&idle)), ("fleet-policies", with_policies)]
    {
        fs::create_dir_all(work.join(repo).join("fleet"))?;
        fs::write(work.join(repo).join("fleet/fleet.yaml"), text)?;
    }
    for repo in ["app", "fleet", "fleet-idle", "fleet-policies"] {
        let dir = work.join(repo);
        git(&dir, &["add", "-A"]);
        git(&dir, &["commit", "-q", "-m", "bench"]);
    }
    Ok(())
}

/// A folder of plain manifests (no kustomization: the agent applies every file as it is) in
/// `namespace`: the Namespace and `objects - 1` others, as `objects / 4` apps of a Service and two
/// ConfigMaps, all but the first with a Deployment too.
fn write_manifests(dir: &Path, namespace: &str, objects: usize) -> Result<()> {
    ensure!(objects.is_multiple_of(4) && objects >= 4, "the object count must be a multiple of 4");
    fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    fs::write(
        dir.join("namespace.yaml"),
        format!("apiVersion: v1\nkind: Namespace\nmetadata:\n  name: {namespace}\n"),
    )?;
    for app in 0..objects / 4 {
        let name = format!("app-{app:04}");
        let mut y = String::new();
        for role in ["config", "flags"] {
            let _ = write!(
                y,
                "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}-{role}\n  namespace: {namespace}\n  \
                 labels:\n    app: {name}\ndata:\n  role: {role}\n  log.level: info\n  app.properties: |\n    \
                 server.port=8080\n    app.name={name}\n    cache.size=256\n---\n"
            );
        }
        let _ = write!(
            y,
            "apiVersion: v1\nkind: Service\nmetadata:\n  name: {name}\n  namespace: {namespace}\n  labels:\n    \
             app: {name}\nspec:\n  selector:\n    app: {name}\n  ports:\n  - name: http\n    port: 80\n    \
             targetPort: 8080\n"
        );
        if app > 0 {
            let _ = write!(
                y,
                "---\napiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: {name}\n  namespace: {namespace}\n  \
                 labels:\n    app: {name}\nspec:\n  replicas: 2\n  selector:\n    matchLabels:\n      app: {name}\n  \
                 template:\n    metadata:\n      labels:\n        app: {name}\n    spec:\n      containers:\n      \
                 - name: app\n        image: registry.example.com/shop/app:1.0.0\n        ports:\n        \
                 - name: http\n          containerPort: 8080\n        env:\n        - name: APP_NAME\n          \
                 value: {name}\n        resources:\n          requests:\n            cpu: 100m\n            \
                 memory: 128Mi\n        volumeMounts:\n        - name: config\n          mountPath: /etc/{name}\n      \
                 volumes:\n      - name: config\n        configMap:\n          name: {name}-config\n"
            );
        }
        fs::write(dir.join(format!("{name}.yaml")), y)?;
    }
    Ok(())
}

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    match values.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => values[n / 2],
        n => f64::midpoint(values[n / 2 - 1], values[n / 2]),
    }
}

/// The median of one field over the samples that have it.
fn median_of(samples: &[Sample], field: fn(&Sample) -> Option<f64>) -> Option<f64> {
    let mut values: Vec<f64> = samples.iter().filter_map(field).collect();
    (!values.is_empty()).then(|| median(&mut values))
}

fn cell(value: Option<f64>) -> String {
    value.map_or_else(|| "-".to_string(), |v| format!("{v:.1}"))
}

/// The Markdown table (for BENCHMARKS.md) and the verdicts against the targets.
fn markdown(rows: &[(&str, &[Sample])], overhead: &[Sample], cycles: &[Sample], idle: &[Sample]) -> String {
    let mut out = String::from(
        "| measurement | runs | median wall ms | min–max wall ms | median CPU ms | median CPU ms (GNU time, 10 ms steps) | median RSS MiB |\n\
         |---|---:|---:|---:|---:|---:|---:|\n",
    );
    for (what, samples) in rows {
        let walls: Vec<f64> = samples.iter().filter_map(|s| s.wall_ms).collect();
        let range = if walls.is_empty() {
            "-".to_string()
        } else {
            let min = walls.iter().copied().fold(f64::INFINITY, f64::min);
            let max = walls.iter().copied().fold(0.0, f64::max);
            format!("{min:.1}–{max:.1}")
        };
        let _ = writeln!(
            out,
            "| {what} | {} | {} | {range} | {} | {} | {} |",
            samples.len(),
            cell(median_of(samples, |s| s.wall_ms)),
            cell(median_of(samples, |s| s.cpu_ms)),
            cell(median_of(samples, |s| s.coarse_cpu_ms)),
            cell(median_of(samples, |s| s.rss_mib)),
        );
    }
    let _ = writeln!(
        out,
        "\nProcess rows include bash and `/usr/bin/time`: `true` measured the same way takes {} ms wall and {} ms CPU \
         (medians). Process RSS is the peak (`ru_maxrss`); the idle row is `VmRSS`.\n",
        cell(median_of(overhead, |s| s.wall_ms)),
        cell(median_of(overhead, |s| s.cpu_ms)),
    );
    let met = |ok: bool| if ok { "met" } else { "NOT MET" };
    let _ = match median_of(cycles, |s| s.cpu_ms) {
        Some(cpu) => writeln!(
            out,
            "- Target: a no-change cycle under {TARGET_CYCLE_CPU_MS} ms CPU: {} ({cpu:.1} ms).",
            met(cpu < TARGET_CYCLE_CPU_MS)
        ),
        None => writeln!(out, "- Target: a no-change cycle under {TARGET_CYCLE_CPU_MS} ms CPU: not measured."),
    };
    let _ = match median_of(idle, |s| s.rss_mib) {
        Some(rss) => writeln!(
            out,
            "- Target: idle RSS under {TARGET_IDLE_RSS_MIB} MiB: {} ({rss:.1} MiB).",
            met(rss < TARGET_IDLE_RSS_MIB)
        ),
        None => writeln!(out, "- Target: idle RSS under {TARGET_IDLE_RSS_MIB} MiB: not measured."),
    };
    out
}

#[cfg(test)]
mod tests {
    use super::Cycle;

    #[test]
    fn cycle_lines_parse_with_and_without_policies() {
        let plain =
            Cycle::parse("pull-agent: cycle 7: 3 placements (3 Synced, 3 unchanged); 4.1 ms wall, 1.2 ms cpu; x")
                .unwrap();
        assert_eq!((plain.placements, plain.synced, plain.unchanged), (3, 3, 3));
        assert!((plain.cpu_ms - 1.2).abs() < 1e-9);
        let with = Cycle::parse(
            "pull-agent: cycle 8: 1 placements (1 Synced, 1 unchanged); 7 policies (6 compliant, 1 not, 0 unknown); \
             105.2 ms wall, 5.3 ms cpu; report 8 kept",
        )
        .unwrap();
        assert_eq!((with.placements, with.unchanged), (1, 1));
        assert!((with.wall_ms - 105.2).abs() < 1e-9 && (with.cpu_ms - 5.3).abs() < 1e-9);
        assert!(Cycle::parse("pull-agent: warning: something").is_none());
    }
}
