//! `cargo xtask bench hub [--quick] [--db sqlite,postgres] [--clusters N,N] [--seconds S]
//! [--concurrency C] [--probe-ms MS]`: the hub's report ingest and views under a simulated
//! fleet, over real HTTP on loopback.
//!
//! Per case (a database and a number of clusters) it:
//!
//! - **seeds** the clusters through [`hub_index::store::Store::register`] before the hub starts
//!   (many registrations at once; registering over HTTP one by one would dominate the run), and
//!   keeps their tokens;
//! - starts the release `hub-index serve` as a child process, its fleet repository served by
//!   `git daemon` (a Placement `web`, two commits on `prod` and `dev`), and times its start-up
//!   (loading the index from the store);
//! - **fills**: one report from every cluster, so the index holds a report for each and the
//!   views count a whole fleet; that also warms the hub up;
//! - **sustains**: `--rounds` windows (5) of `--seconds` (20) of reports from the clusters in
//!   turn with increasing sequences, from many concurrent keep-alive connections, while the
//!   fleet summary and the lag ledger are read every 100 ms (`--probe-ms`; latency under load);
//!   the median window's rate is quoted;
//! - reads the summary and the ledger again and again when idle (latency idle), and the
//!   rollout progress of `web` (three waves, a halt): computed afresh (each read after the hub's
//!   cache of it expired) and served from that cache;
//! - reads every dashboard page ([`PAGES`]: the summary with its versions, rollouts and
//!   trends, the cluster list sorted and searched, a cluster, the lag ledger, compliance) when
//!   idle, against a target of [`TARGET_PAGE_MS`] each at p99;
//! - reads the hub's VmRSS and VmHWM, and its CPU time over the sustained window.
//!
//! Every report must be answered 200 `stored`; anything else fails the bench with the answer.
//! A report is a healthy agent's: three placements (one of them, `web`, in the fleet; 1% of
//! the clusters run its previous commit, so the ledger has laggards), two compliant policies.
//!
//! The load generator runs in this process on the same machine as the hub, so the two share
//! the CPUs: the figures are the hub's throughput with its clients on the same two cores, not
//! its ceiling. It posts reports with its own minimal HTTP/1.1 client ([`Connection`]) to keep
//! its share small; the probes use reqwest. It does not measure registration over HTTP, the
//! dashboard under load, or several hubs.

use std::fmt::Write as _;
use std::fs;
use std::io::{BufRead as _, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context as _, Result, bail, ensure};
use flotilla_git::testing::{GitDaemon, free_port, git};
use flotilla_simulate::output::count;
use hub_index::api::{Client, Ledger, Progress, Summary};
use hub_index::store::Store;
use hub_index::testing::PgServer;

/// The viewer token the hub reads from `--viewer-token-file`.
const VIEWER: &str = "flt_view_bench_token";
/// How many registrations run at once while seeding.
const SEED_TASKS: usize = 32;
/// How many latency samples of each view when the hub is idle.
const IDLE_SAMPLES: usize = 200;
/// How long the hub may take to load its index and read the fleet.
const START_TIMEOUT: Duration = Duration::from_secs(900);
/// Targets from the issue, on SQLite.
const TARGET_REPORTS_PER_S: f64 = 20_000.0;
const TARGET_P99_MS: f64 = 50.0;

/// The dashboard pages read when idle: name and path.
const PAGES: [(&str, &str); 9] = [
    ("summary", "/"),
    ("clusters", "/clusters"),
    ("clusters by state", "/clusters?sort=state"),
    ("clusters, longest silent", "/clusters?sort=last-report"),
    ("clusters named", "/clusters?name=store-00001"),
    ("cluster", "/clusters/store-0000001"),
    ("lag ledger", "/lag?placement=web&environment=prod"),
    ("compliance", "/compliance"),
    ("overrides", "/overrides"),
];

/// How many times each dashboard page is read.
const PAGE_SAMPLES: usize = 20;

/// Every dashboard page, p99, in milliseconds (issue 18: "every view under 200 ms at 100,000
/// clusters, release build").
const TARGET_PAGE_MS: f64 = 200.0;
const TARGET_RSS_MIB: f64 = 2_048.0;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    fn name(self) -> &'static str {
        match self {
            Backend::Sqlite => "SQLite",
            Backend::Postgres => "PostgreSQL",
        }
    }
}

#[derive(Debug, Clone)]
struct Config {
    cases: Vec<(Backend, usize)>,
    seconds: u64,
    /// How many sustained windows.
    rounds: usize,
    concurrency: usize,
    /// How often the views are read during the sustained load; `None`: not at all, to see
    /// what reading them costs ingest.
    probe_every: Option<Duration>,
}

/// `cargo xtask bench hub`'s flags.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct HubArgs {
    /// Both databases at 10,000 clusters, 5 s of load, one round.
    #[arg(long)]
    pub quick: bool,
    /// The databases, comma-separated: sqlite, postgres.
    #[arg(long, value_delimiter = ',', value_parser = parse_backend)]
    pub db: Option<Vec<Backend>>,
    /// Cluster counts, comma-separated (`100_000` may be written so).
    #[arg(long, value_delimiter = ',', value_parser = crate::count)]
    pub clusters: Option<Vec<usize>>,
    /// Seconds of sustained load per window.
    #[arg(long)]
    pub seconds: Option<u64>,
    /// How many sustained windows.
    #[arg(long)]
    pub rounds: Option<usize>,
    /// Reports in flight at once (128).
    #[arg(long)]
    pub concurrency: Option<usize>,
    /// How often the views are read under load, in ms (100; 0: not at all).
    #[arg(long)]
    pub probe_ms: Option<u64>,
}

fn parse_backend(text: &str) -> Result<Backend, String> {
    match text {
        "sqlite" => Ok(Backend::Sqlite),
        "postgres" => Ok(Backend::Postgres),
        other => Err(format!("--db {other:?}: sqlite or postgres")),
    }
}

fn parse(args: &HubArgs) -> Result<Config> {
    let quick = args.quick;
    let backends = args.db.clone();
    let sizes = args.clusters.clone();
    let (seconds, rounds) = (args.seconds, args.rounds);
    let concurrency = args.concurrency.unwrap_or(128);
    let probe_ms = args.probe_ms.unwrap_or(100);
    let backends = backends.unwrap_or_else(|| vec![Backend::Sqlite, Backend::Postgres]);
    let cases = match sizes {
        Some(sizes) => backends.iter().flat_map(|b| sizes.iter().map(move |n| (*b, *n))).collect(),
        None if quick => backends.iter().map(|b| (*b, 10_000)).collect(),
        // The issue's sizes: both databases at 100,000, SQLite (the target's) also at a million.
        None => {
            let mut cases: Vec<(Backend, usize)> = backends.iter().map(|b| (*b, 100_000)).collect();
            if backends.contains(&Backend::Sqlite) {
                cases.push((Backend::Sqlite, 1_000_000));
            }
            cases
        }
    };
    ensure!(cases.iter().all(|(_, n)| *n >= 1_000), "at least 1,000 clusters");
    ensure!(concurrency >= 1, "--concurrency at least 1");
    let probe_every = (probe_ms > 0).then(|| Duration::from_millis(probe_ms));
    let rounds = rounds.unwrap_or(if quick { 1 } else { 5 });
    ensure!(rounds >= 1, "--rounds at least 1");
    Ok(Config { cases, seconds: seconds.unwrap_or(if quick { 5 } else { 20 }), rounds, concurrency, probe_every })
}

pub fn run(args: &HubArgs) -> Result<()> {
    print!("{}", report(args)?);
    Ok(())
}

/// Measures and returns the results as Markdown (for the terminal and BENCHMARKS.md).
pub fn report(args: &HubArgs) -> Result<String> {
    let mut config = parse(args)?;
    let mut skipped = String::new();
    if config.cases.iter().any(|(b, _)| *b == Backend::Postgres) && !PgServer::available() {
        let reason = "PostgreSQL cases skipped: the PostgreSQL server binaries (`initdb`, `postgres`) were not found \
                      (Debian: `apt-get install -y postgresql`)";
        eprintln!("bench: {reason}");
        skipped = format!("\n{reason}.\n");
        config.cases.retain(|(b, _)| *b != Backend::Postgres);
    }
    crate::cargo(&["build", "--release", "--quiet", "--package", "hub-index"])?;
    let work = std::env::temp_dir().join(format!("flotilla-bench-hub-{}", std::process::id()));
    let _ = fs::remove_dir_all(&work);
    fs::create_dir_all(&work).with_context(|| format!("creating {}", work.display()))?;
    // Every child (git daemon, PostgreSQL, the hub) is dropped inside `measure`, before the
    // folder goes.
    let result = measure(&work, &config);
    if let Err(e) = fs::remove_dir_all(&work) {
        eprintln!("bench: could not remove {}: {e}", work.display());
    }
    let results = result?;
    Ok(markdown(&config, &results) + &skipped)
}

/// The fleet repository: the Placement `web` of the repository's own `web/`, on `prod` and
/// `dev`, two commits (the first is the one the laggards run).
struct Fleet {
    head: String,
    previous: String,
}

fn make_fleet(dir: &Path) -> Result<Fleet> {
    fs::create_dir_all(dir.join("fleet"))?;
    fs::create_dir_all(dir.join("web"))?;
    git(dir, &["init", "-q", "-b", "prod"]);
    fs::write(
        dir.join("fleet/fleet.yaml"),
        "apiVersion: flotilla.dev/v1alpha1\nkind: Placement\nmetadata: {name: web}\n\
         spec:\n  source: {repository: fleet, path: web}\n  clusters: {matchLabels: {kind: store}}\n\
         \x20 rollout:\n    waves: [{name: canary, clusters: {matchLabels: {canary: \"true\"}}}, {name: early, percent: 10}, \
         {name: everyone}]\n    bake: 2h\n    halt: {maxFailed: 5%}\n",
    )?;
    let mut commits = Vec::new();
    for name in ["a", "b"] {
        fs::write(
            dir.join("web/cm.yaml"),
            format!("apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: {name}, namespace: shop}}\n"),
        )?;
        git(dir, &["add", "-A"]);
        git(dir, &["commit", "-q", "-m", name]);
        commits.push(git(dir, &["rev-parse", "HEAD"]));
    }
    git(dir, &["branch", "dev"]);
    let head = commits.pop().expect("two commits");
    let previous = commits.pop().expect("two commits");
    Ok(Fleet { head, previous })
}

/// What one case measured.
#[derive(Debug, Clone)]
struct Outcome {
    backend: Backend,
    clusters: usize,
    seed: Duration,
    start: Duration,
    fill: Duration,
    /// The sustained windows.
    rounds: Vec<Round>,
    summary_idle: Vec<f64>,
    lag_idle: Vec<f64>,
    /// Each of [`PAGES`], read idle.
    pages: Vec<Vec<f64>>,
    /// The rollout progress of `web`, computed afresh and from the hub's cache.
    rollout_fresh: Vec<f64>,
    rollout_cached: Vec<f64>,
    summary_load: Vec<f64>,
    lag_load: Vec<f64>,
    rss_mib: f64,
    hwm_mib: f64,
    report_bytes: usize,
}

/// One sustained window.
#[derive(Debug, Clone, Copy)]
struct Round {
    reports_per_s: f64,
    /// The hub's CPU time over the window, per stored report.
    hub_cpu_us_per_report: f64,
    /// This process's CPU time (the load generator) over the window, per stored report.
    load_cpu_us_per_report: f64,
}

impl Outcome {
    /// The median over the rounds of `what`.
    fn median(&self, what: impl Fn(&Round) -> f64) -> f64 {
        let mut values: Vec<f64> = self.rounds.iter().map(what).collect();
        values.sort_by(f64::total_cmp);
        values.get(values.len() / 2).copied().unwrap_or(0.0)
    }

    fn reports_per_s(&self) -> f64 {
        self.median(|r| r.reports_per_s)
    }

    /// Every round's reports/s, as `25,012 / 26,083 / 24,900`.
    fn rounds_text(&self) -> String {
        self.rounds.iter().map(|r| whole(r.reports_per_s)).collect::<Vec<_>>().join(" / ")
    }
}

fn measure(work: &Path, config: &Config) -> Result<Vec<Outcome>> {
    let fleet_dir = work.join("repos/fleet");
    fs::create_dir_all(&fleet_dir)?;
    let fleet = make_fleet(&fleet_dir)?;
    let daemon = GitDaemon::start(&work.join("repos"));
    let viewer_file = work.join("viewer-token");
    fs::write(&viewer_file, format!("{VIEWER}\n"))?;
    let postgres = config.cases.iter().any(|(b, _)| *b == Backend::Postgres).then(PgServer::start);
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().context("a tokio runtime")?;
    let mut outcomes = Vec::new();
    for (i, &(backend, clusters)) in config.cases.iter().enumerate() {
        let dir = work.join(format!("case-{i}"));
        fs::create_dir_all(&dir)?;
        let db = match backend {
            Backend::Sqlite => format!("sqlite:{}", dir.join("hub.db").display()),
            Backend::Postgres => {
                postgres.as_ref().expect("started for a PostgreSQL case").create_database(&format!("bench_{i}"))
            }
        };
        eprintln!("bench: {} with {clusters} clusters", backend.name());
        let case = Case {
            backend,
            clusters,
            db,
            dir: dir.clone(),
            fleet_url: daemon.url("fleet"),
            viewer_file: viewer_file.clone(),
        };
        let outcome = runtime
            .block_on(case.run(&fleet, config))
            .with_context(|| format!("{} at {clusters} clusters", backend.name()))?;
        print_case(&outcome);
        outcomes.push(outcome);
        let _ = fs::remove_dir_all(&dir);
    }
    Ok(outcomes)
}

struct Case {
    backend: Backend,
    clusters: usize,
    db: String,
    dir: PathBuf,
    fleet_url: String,
    viewer_file: PathBuf,
}

impl Case {
    async fn run(self, fleet: &Fleet, config: &Config) -> Result<Outcome> {
        let started = Instant::now();
        let tokens = seed(&self.db, self.clusters).await?;
        let seed_time = started.elapsed();
        eprintln!(
            "bench: seeded {} clusters in {:.1} s ({:.0} registrations/s)",
            self.clusters,
            seed_time.as_secs_f64(),
            rate(self.clusters as u64, seed_time)
        );

        let started = Instant::now();
        let hub = Hub::start(&self)?;
        let client = reqwest::Client::builder()
            .pool_max_idle_per_host(config.concurrency * 2)
            .timeout(Duration::from_secs(120))
            .build()
            .context("an HTTP client")?;
        let api = Client::with_http(&hub.url, client.clone()).with_token(Some(VIEWER));
        // Ready when the ledger answers: the index is loaded and the fleet read.
        loop {
            if api.lag("web", "prod", 0, 100).await.is_ok() {
                break;
            }
            ensure!(started.elapsed() < START_TIMEOUT, "the hub did not serve the ledger in {START_TIMEOUT:?}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let start_time = started.elapsed();
        eprintln!("bench: the hub served the ledger {:.1} s after starting", start_time.as_secs_f64());

        let addr = hub.url.strip_prefix("http://").context("the hub's address")?.to_string();
        let load = Arc::new(Load::new(addr, tokens, fleet));
        let report_bytes = load.body(1, 1).len();

        // Fill: one report from every cluster.
        let started = Instant::now();
        load.clone().drive(config.concurrency, Some(self.clusters as u64)).await?;
        let fill = started.elapsed();
        eprintln!(
            "bench: fill: {} reports in {:.1} s ({:.0}/s)",
            self.clusters,
            fill.as_secs_f64(),
            rate(self.clusters as u64, fill)
        );

        // Sustained, with the views read under load, in rounds (the machine is noisy: the
        // median round is quoted).
        let (mut rounds, mut summary_load, mut lag_load) = (Vec::new(), Vec::new(), Vec::new());
        for round in 1..=config.rounds {
            load.stop.store(false, Ordering::SeqCst);
            let stored_before = load.stored.load(Ordering::SeqCst);
            let hub_cpu_before = hub.cpu_seconds()?;
            let load_cpu_before = cpu_time::ProcessTime::now();
            let started = Instant::now();
            let driver = tokio::spawn(load.clone().drive(config.concurrency, None));
            let probe = tokio::spawn(probe(api.clone(), load.clone(), config.probe_every));
            tokio::time::sleep(Duration::from_secs(config.seconds)).await;
            load.stop.store(true, Ordering::SeqCst);
            driver.await.context("the load")??;
            let window = started.elapsed();
            let load_cpu = load_cpu_before.elapsed();
            let hub_cpu = hub.cpu_seconds()? - hub_cpu_before;
            let (summary, lag) = probe.await.context("the probe")??;
            summary_load.extend(summary);
            lag_load.extend(lag);
            let stored = load.stored.load(Ordering::SeqCst) - stored_before;
            eprintln!(
                "bench: sustained, round {round}: {stored} reports in {:.1} s ({:.0}/s)",
                window.as_secs_f64(),
                rate(stored, window)
            );
            let stored_f = float(stored.max(1));
            rounds.push(Round {
                reports_per_s: rate(stored, window),
                hub_cpu_us_per_report: hub_cpu * 1e6 / stored_f,
                load_cpu_us_per_report: load_cpu.as_secs_f64() * 1e6 / stored_f,
            });
        }

        let (summary_idle, lag_idle) = self.idle(&api, fleet).await?;
        let (rollout_fresh, rollout_cached) = self.rollout(&api).await?;
        let pages = pages(&client, &hub.url).await?;
        let (rss_mib, hwm_mib) = hub.memory()?;
        Ok(Outcome {
            backend: self.backend,
            clusters: self.clusters,
            seed: seed_time,
            start: start_time,
            fill,
            rounds,
            summary_idle,
            lag_idle,
            pages,
            rollout_fresh,
            rollout_cached,
            summary_load,
            lag_load,
            rss_mib,
            hwm_mib,
            report_bytes,
        })
    }

    /// Reads the views again and again with nothing else going on; checks that they count the
    /// whole fleet (every cluster reported) and that the ledger has the head and laggards.
    async fn idle(&self, api: &Client, fleet: &Fleet) -> Result<(Vec<f64>, Vec<f64>)> {
        // Idle; let the last batches reach the index first.
        tokio::time::sleep(Duration::from_secs(2)).await;
        let mut summary_idle = Vec::with_capacity(IDLE_SAMPLES);
        let mut lag_idle = Vec::with_capacity(IDLE_SAMPLES);
        for _ in 0..IDLE_SAMPLES {
            summary_idle.push(timed_get::<Summary>(api, SUMMARY).await?.0);
        }
        for _ in 0..IDLE_SAMPLES {
            lag_idle.push(timed_get::<Ledger>(api, LAG).await?.0);
        }
        // The views must count the whole fleet: every cluster reported.
        let (_, summary) = timed_get::<Summary>(api, SUMMARY).await?;
        let (_, ledger) = timed_get::<Ledger>(api, LAG).await?;
        let synced = summary.by_standing.get("synced").copied().unwrap_or_default();
        ensure!(
            summary.clusters == self.clusters && synced == self.clusters,
            "the summary counts {} clusters, {synced} synced, not {}: {summary:?}",
            summary.clusters,
            self.clusters
        );
        ensure!(ledger.head == fleet.head, "the ledger's head is not the fleet's: {ledger:?}");
        ensure!(ledger.lagging.total > 0, "the ledger lists no laggards: {ledger:?}");

        Ok((summary_idle, lag_idle))
    }

    /// Reads the rollout progress of `web` afresh ([`ROLLOUT_SAMPLES`] times, each after the
    /// hub's cache of it expired) and from the cache; checks that its waves hold every cluster
    /// of prod.
    async fn rollout(&self, api: &Client) -> Result<(Vec<f64>, Vec<f64>)> {
        let expire = Duration::from_millis(u64::try_from(hub_index::progress::FRESH_MS).unwrap_or(2_000) + 100);
        let mut fresh = Vec::with_capacity(ROLLOUT_SAMPLES);
        let mut cached = Vec::with_capacity(IDLE_SAMPLES);
        for _ in 0..ROLLOUT_SAMPLES {
            tokio::time::sleep(expire).await;
            let (ms, view) = timed_get::<Progress>(api, ROLLOUT).await?;
            fresh.push(ms);
            let counted: usize = view.waves.iter().map(|w| w.clusters).sum();
            // A tenth of the clusters are in dev.
            let prod = self.clusters - self.clusters.div_ceil(10);
            ensure!(
                view.waves.len() == 3 && counted == prod,
                "the rollout's waves hold {counted} clusters, not the {prod} of prod: {view:?}"
            );
            for _ in 0..IDLE_SAMPLES / ROLLOUT_SAMPLES {
                cached.push(timed_get::<Progress>(api, ROLLOUT).await?.0);
            }
        }
        Ok((fresh, cached))
    }
}

/// Reads each of [`PAGES`] [`PAGE_SAMPLES`] times: milliseconds to the whole HTML, per page.
async fn pages(client: &reqwest::Client, hub: &str) -> Result<Vec<Vec<f64>>> {
    let mut out = Vec::with_capacity(PAGES.len());
    for (name, path) in PAGES {
        let url = format!("{hub}{path}");
        let mut times = Vec::with_capacity(PAGE_SAMPLES);
        for _ in 0..PAGE_SAMPLES {
            let started = Instant::now();
            let answer = client.get(&url).bearer_auth(VIEWER).send().await.with_context(|| format!("GET {url}"))?;
            let status = answer.status();
            let body = answer.text().await.with_context(|| format!("GET {url}"))?;
            times.push(started.elapsed().as_secs_f64() * 1e3);
            ensure!(status.is_success() && body.contains("</html>"), "the {name} page, {url}: {status} {body}");
        }
        out.push(times);
    }
    Ok(out)
}

/// How many times the rollout progress is computed afresh.
const ROLLOUT_SAMPLES: usize = 5;

/// A count as a float, for rates and averages.
#[expect(clippy::cast_precision_loss, reason = "counts here stay far below 2^52")]
fn float(n: impl Into<u64>) -> f64 {
    n.into() as f64
}

/// A rate or a count as a whole number with thousands separators: `23,119`.
#[expect(clippy::cast_possible_truncation, clippy::cast_sign_loss, reason = "rounded, positive, far below 2^64")]
fn whole(value: f64) -> String {
    count(value.round().max(0.0) as u64)
}

fn rate(count: impl Into<u64>, time: Duration) -> f64 {
    float(count) / time.as_secs_f64().max(1e-9)
}

/// The name of cluster `i`.
fn cluster_name(i: usize) -> String {
    format!("store-{i:07}")
}

/// Registers `clusters` clusters (a tenth in `dev`, the rest in `prod`) through the store, many at
/// once, and returns their tokens in order.
async fn seed(db: &str, clusters: usize) -> Result<Vec<String>> {
    let store = Store::open(db).await.with_context(|| format!("opening {db}"))?;
    let join = store.create_join_token(None).await?;
    let done = Arc::new(AtomicUsize::new(0));
    let mut tasks = tokio::task::JoinSet::new();
    for task in 0..SEED_TASKS {
        let (store, join, done) = (store.clone(), join.clone(), done.clone());
        tasks.spawn(async move {
            let mut tokens = Vec::with_capacity(clusters / SEED_TASKS + 1);
            for i in (task..clusters).step_by(SEED_TASKS) {
                let request = flotilla_core::register::Request {
                    cluster: cluster_name(i),
                    environment: if i % 10 == 0 { "dev" } else { "prod" }.to_string(),
                    labels: [("kind", "store".to_string()), ("region", format!("region-{}", i % 8))]
                        .into_iter()
                        .map(|(k, v)| (k.to_string(), v))
                        .collect(),
                };
                let response = store
                    .register(&join, &request)
                    .await
                    .with_context(|| format!("registering {}", request.cluster))?;
                tokens.push((i, response.token));
                let n = done.fetch_add(1, Ordering::Relaxed) + 1;
                if n % (clusters / 10).max(1) == 0 {
                    eprintln!("bench: seeded {n}/{clusters}");
                }
            }
            anyhow::Ok(tokens)
        });
    }
    let mut tokens = vec![String::new(); clusters];
    while let Some(joined) = tasks.join_next().await {
        for (i, token) in joined.context("a seeding task")?? {
            tokens[i] = token;
        }
    }
    Ok(tokens)
}

/// A child process killed and reaped when dropped, also when the bench fails half-way.
struct Guard(Child);

impl Drop for Guard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `hub-index serve` as a child; what it says goes to the bench's stderr when it fails.
struct Hub {
    url: String,
    child: Guard,
    /// The kernel's clock ticks per second, in which /proc/PID/stat counts CPU time.
    ticks: f64,
    _said: mpsc::Receiver<String>,
}

impl Hub {
    fn start(case: &Case) -> Result<Hub> {
        let target = std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| crate::root().join("target"), PathBuf::from);
        let binary = crate::root().join(target).join("release/hub-index");
        let port = free_port();
        let mut child = Command::new(&binary)
            .arg("serve")
            .args(["--fleet-repo", &case.fleet_url, "--db", &case.db, "--listen", &format!("127.0.0.1:{port}")])
            .arg("--viewer-token-file")
            .arg(&case.viewer_file)
            .args(["--fleet-poll", "5s", "--environments", "prod,dev", "--offline-after", "10m"])
            .arg("--cache-dir")
            .arg(case.dir.join("cache"))
            .current_dir(&case.dir)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .with_context(|| format!("starting {}", binary.display()))?;
        let stderr = child.stderr.take().context("the hub's stderr")?;
        let (send, said) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                eprintln!("  {line}");
                let _ = send.send(line);
            }
        });
        let ticks = Command::new("getconf")
            .arg("CLK_TCK")
            .output()
            .ok()
            .and_then(|o| String::from_utf8_lossy(&o.stdout).trim().parse().ok())
            .unwrap_or(100.0);
        Ok(Hub { url: format!("http://127.0.0.1:{port}"), child: Guard(child), ticks, _said: said })
    }

    fn status(&self) -> Result<String> {
        let pid = self.child.0.id();
        fs::read_to_string(format!("/proc/{pid}/status")).with_context(|| format!("reading /proc/{pid}/status"))
    }

    /// VmRSS and VmHWM (the peak), in MiB.
    fn memory(&self) -> Result<(f64, f64)> {
        let status = self.status()?;
        let kib = |field: &str| -> Result<f64> {
            status
                .lines()
                .find_map(|l| l.strip_prefix(field))
                .and_then(|v| v.trim().strip_suffix("kB"))
                .and_then(|v| v.trim().parse::<f64>().ok())
                .with_context(|| format!("no {field} in the hub's /proc status"))
        };
        Ok((kib("VmRSS:")? / 1024.0, kib("VmHWM:")? / 1024.0))
    }

    /// User + system CPU time so far, from /proc/PID/stat (fields 14 and 15).
    fn cpu_seconds(&self) -> Result<f64> {
        let pid = self.child.0.id();
        let stat =
            fs::read_to_string(format!("/proc/{pid}/stat")).with_context(|| format!("reading /proc/{pid}/stat"))?;
        // The command name, in parentheses, may hold spaces: count from the closing one.
        let after = stat.rsplit_once(')').map(|(_, rest)| rest).context("an unreadable /proc stat")?;
        let fields: Vec<&str> = after.split_whitespace().collect();
        let ticks = |i: usize| fields.get(i).and_then(|f| f.parse::<f64>().ok()).context("an unreadable /proc stat");
        // After the name: state is field 3, so utime (14) and stime (15) are at 11 and 12.
        Ok((ticks(11)? + ticks(12)?) / self.ticks)
    }
}

/// The reports in flight: cluster `k % N` sends its report number `k / N + 1`.
struct Load {
    /// The hub's `host:port`.
    addr: String,
    tokens: Vec<String>,
    /// The placements and policies of a report, as JSON: the one most clusters send, and the
    /// one of the clusters that run `web`'s previous commit.
    rest_on_head: String,
    rest_lagging: String,
    next: AtomicU64,
    stop: AtomicBool,
    stored: AtomicU64,
    failure: Mutex<Option<String>>,
}

impl Load {
    fn new(addr: String, tokens: Vec<String>, fleet: &Fleet) -> Load {
        Load {
            addr,
            tokens,
            rest_on_head: Load::rest(&fleet.head, &fleet.head),
            rest_lagging: Load::rest(&fleet.previous, &fleet.head),
            next: AtomicU64::new(0),
            stop: AtomicBool::new(false),
            stored: AtomicU64::new(0),
            failure: Mutex::new(None),
        }
    }

    /// A healthy agent's placements and policies: three placements, two compliant policies.
    fn rest(web: &str, head: &str) -> String {
        let mut placements = String::new();
        for (i, (name, commit)) in [("web", web), ("payments", head), ("inventory", head)].into_iter().enumerate() {
            let _ = write!(
                placements,
                r#"{}{{"name":"{name}","state":"Synced","sourceCommit":"{commit}","desiredDigest":"sha256:{}","signer":"release-bot@shop.example.com","health":"Healthy"}}"#,
                if i == 0 { "" } else { "," },
                &format!("{i}{}", &commit[..39]).repeat(2)[..64],
            );
        }
        format!(
            r#""placements":[{placements}],"policies":[{{"name":"require-owner-label","compliant":true}},{{"name":"no-latest-image-tag","compliant":true}}]}}"#
        )
    }

    /// Writes cluster `cluster`'s report number `sequence` into `out`. One cluster in a
    /// hundred runs `web`'s previous commit.
    fn write_body(&self, out: &mut Vec<u8>, cluster: usize, sequence: u64) {
        use std::io::Write as _;
        let now = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
        let time = flotilla_core::calendar::rfc3339(i64::try_from(now).unwrap_or(i64::MAX));
        let rest = if cluster % 100 == 1 { &self.rest_lagging } else { &self.rest_on_head };
        let _ = write!(
            out,
            r#"{{"version":1,"cluster":"{}","agentVersion":"0.1.0","sequence":{sequence},"time":"{time}",{rest}"#,
            cluster_name(cluster)
        );
    }

    fn body(&self, cluster: usize, sequence: u64) -> Vec<u8> {
        let mut out = Vec::new();
        self.write_body(&mut out, cluster, sequence);
        out
    }

    /// Sends reports from `concurrency` connections until `until` reports have been taken
    /// (counting from the start), or until `stop`.
    async fn drive(self: Arc<Load>, concurrency: usize, until: Option<u64>) -> Result<()> {
        let mut tasks = tokio::task::JoinSet::new();
        for _ in 0..concurrency {
            let load = self.clone();
            tasks.spawn(async move {
                let mut connection = None;
                let mut body = Vec::new();
                let clusters = load.tokens.len() as u64;
                loop {
                    if load.stop.load(Ordering::Relaxed) {
                        break;
                    }
                    let k = load.next.fetch_add(1, Ordering::Relaxed);
                    if until.is_some_and(|u| k >= u) {
                        break;
                    }
                    let cluster = usize::try_from(k % clusters).expect("a cluster index fits");
                    body.clear();
                    load.write_body(&mut body, cluster, k / clusters + 1);
                    if let Err(e) = load.send(&mut connection, cluster, &body).await {
                        load.stop.store(true, Ordering::SeqCst);
                        load.failure.lock().expect("not poisoned").get_or_insert(format!("{e:#}"));
                        break;
                    }
                }
            });
        }
        while tasks.join_next().await.is_some() {}
        if let Some(until) = until {
            // Leave the counter where the filled reports end.
            self.next.store(until, Ordering::SeqCst);
        }
        match self.failure.lock().expect("not poisoned").take() {
            Some(failure) => bail!("{failure}"),
            None => Ok(()),
        }
    }

    /// Posts one report on the task's connection, opening it first if needed.
    async fn send(&self, connection: &mut Option<Connection>, cluster: usize, body: &[u8]) -> Result<()> {
        let c = match connection {
            Some(c) => c,
            None => connection.insert(Connection::open(&self.addr).await?),
        };
        let (status, text) = c
            .post("/api/v1/reports", &self.tokens[cluster], body)
            .await
            .with_context(|| format!("POST a report of {}", cluster_name(cluster)))?;
        ensure!(
            status == 200 && text.contains(r#""status":"stored""#),
            "a report of {}: {status} {text}",
            cluster_name(cluster)
        );
        self.stored.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }
}

/// One keep-alive HTTP/1.1 connection: the load generator's own minimal client (fixed-length
/// requests, answers with a `Content-Length`), so that it takes a small share of the CPUs it
/// shares with the hub. reqwest, which the probes use, took about 145 µs of CPU per report,
/// as much as the hub itself.
struct Connection {
    stream: tokio::io::BufReader<tokio::net::TcpStream>,
    host: String,
    request: Vec<u8>,
    line: String,
}

impl Connection {
    async fn open(addr: &str) -> Result<Connection> {
        let stream = tokio::net::TcpStream::connect(addr).await.with_context(|| format!("connecting to {addr}"))?;
        stream.set_nodelay(true)?;
        Ok(Connection {
            stream: tokio::io::BufReader::new(stream),
            host: addr.to_string(),
            request: Vec::new(),
            line: String::new(),
        })
    }

    /// Posts `body` as JSON with a bearer token; the answer's status and body.
    async fn post(&mut self, path: &str, token: &str, body: &[u8]) -> Result<(u16, String)> {
        use std::io::Write as _;
        use tokio::io::{AsyncBufReadExt as _, AsyncReadExt as _, AsyncWriteExt as _};
        self.request.clear();
        write!(
            self.request,
            "POST {path} HTTP/1.1\r\nHost: {}\r\nAuthorization: Bearer {token}\r\n\
             Content-Type: application/json\r\nContent-Length: {}\r\n\r\n",
            self.host,
            body.len()
        )?;
        self.request.extend_from_slice(body);
        self.stream.get_mut().write_all(&self.request).await.context("sending")?;
        let mut status = None;
        let mut length = None;
        loop {
            self.line.clear();
            let n = self.stream.read_line(&mut self.line).await.context("reading the answer")?;
            ensure!(n > 0, "the hub closed the connection");
            let line = self.line.trim_end();
            if line.is_empty() {
                break;
            }
            if status.is_none() {
                status = line.split(' ').nth(1).and_then(|s| s.parse::<u16>().ok());
                ensure!(status.is_some(), "not an HTTP status line: {line:?}");
            } else if let Some((name, value)) = line.split_once(':')
                && name.eq_ignore_ascii_case("content-length")
            {
                length = Some(value.trim().parse::<usize>().context("Content-Length")?);
            }
        }
        let length = length.context("an answer without Content-Length")?;
        let mut answer = vec![0; length];
        self.stream.read_exact(&mut answer).await.context("reading the answer's body")?;
        Ok((status.unwrap_or_default(), String::from_utf8_lossy(&answer).into_owned()))
    }
}

/// Reads the summary and then the ledger `every` so often until the load stops, as a few open
/// dashboards would; their latencies in ms. Not back to back: at a million clusters that would
/// keep a core busy counting and take it from ingest.
async fn probe(api: Client, load: Arc<Load>, every: Option<Duration>) -> Result<(Vec<f64>, Vec<f64>)> {
    let Some(every) = every else { return Ok((Vec::new(), Vec::new())) };
    let (mut s, mut l) = (Vec::new(), Vec::new());
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    while !load.stop.load(Ordering::Relaxed) {
        tick.tick().await;
        s.push(timed_get::<Summary>(&api, SUMMARY).await?.0);
        l.push(timed_get::<Ledger>(&api, LAG).await?.0);
    }
    Ok((s, l))
}

/// The views the bench reads: the path and the query.
type View = (&'static str, &'static [(&'static str, &'static str)]);
const SUMMARY: View = ("/api/v1/summary", &[]);
const LAG: View = ("/api/v1/lag", &[("placement", "web"), ("environment", "prod")]);
const ROLLOUT: View = ("/api/v1/rollouts/web", &[("environment", "prod")]);

/// GETs a view with the viewer token: milliseconds from sending to the whole body (decoding
/// not included), and the view.
async fn timed_get<T: serde::de::DeserializeOwned>(api: &Client, (path, query): View) -> Result<(f64, T)> {
    let query: Vec<(&str, String)> = query.iter().map(|(k, v)| (*k, (*v).to_string())).collect();
    let started = Instant::now();
    let body = api.bytes(path, &query).await?;
    let ms = started.elapsed().as_secs_f64() * 1e3;
    let url = api.address(path, &query);
    Ok((ms, serde_json::from_slice(&body).with_context(|| format!("GET {url}: not the view"))?))
}

/// The nearest-rank percentile `p` (1–100) of `values`.
fn percentile(values: &[f64], p: usize) -> f64 {
    if values.is_empty() {
        return f64::NAN;
    }
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let rank = (p * sorted.len()).div_ceil(100).clamp(1, sorted.len());
    sorted[rank - 1]
}

fn p50_p99(values: &[f64]) -> String {
    if values.is_empty() {
        return "-".to_string();
    }
    format!("{:.1} / {:.1} (n={})", percentile(values, 50), percentile(values, 99), values.len())
}

fn print_case(o: &Outcome) {
    eprintln!(
        "bench: {} {}: {:.0} reports/s (median of {}); summary idle {} ms, under load {} ms; lag idle {} ms, under load {} ms; \
         rollout progress {} ms afresh, {} ms cached; VmRSS {:.0} MiB, VmHWM {:.0} MiB",
        o.backend.name(),
        o.clusters,
        o.reports_per_s(),
        o.rounds.len(),
        p50_p99(&o.summary_idle),
        p50_p99(&o.summary_load),
        p50_p99(&o.lag_idle),
        p50_p99(&o.lag_load),
        p50_p99(&o.rollout_fresh),
        p50_p99(&o.rollout_cached),
        o.rss_mib,
        o.hwm_mib
    );
}

/// Markdown tables (for BENCHMARKS.md) and the verdicts against the targets.
fn markdown(config: &Config, outcomes: &[Outcome]) -> String {
    let bytes = outcomes.first().map_or(0, |o| o.report_bytes);
    let probe = config.probe_every.map_or_else(|| "not read".to_string(), |d| format!("read every {d:?}"));
    let mut out = format!(
        "{} concurrent report requests, {} rounds of {} s sustained (the views {probe}), reports of {bytes} bytes.\n\n",
        config.concurrency, config.rounds, config.seconds
    );
    out.push_str(
        "| database | clusters | seeding s (registrations/s) | hub start s | fill reports/s | sustained reports/s, median (rounds) | hub CPU µs/report | load generator CPU µs/report | VmRSS MiB | VmHWM MiB |\n\
         |---|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n",
    );
    for o in outcomes {
        let _ = writeln!(
            out,
            "| {} | {} | {:.1} ({}) | {:.1} | {} | {} ({}) | {:.0} | {:.0} | {:.0} | {:.0} |",
            o.backend.name(),
            count(o.clusters as u64),
            o.seed.as_secs_f64(),
            whole(rate(o.clusters as u64, o.seed)),
            o.start.as_secs_f64(),
            whole(rate(o.clusters as u64, o.fill)),
            whole(o.reports_per_s()),
            o.rounds_text(),
            o.median(|r| r.hub_cpu_us_per_report),
            o.median(|r| r.load_cpu_us_per_report),
            o.rss_mib,
            o.hwm_mib,
        );
    }
    out.push_str(
        "\nLatency, ms, p50 / p99 (samples):\n\n\
         | database | clusters | summary, idle | summary, under load | lag ledger, idle | lag ledger, under load | rollout progress, afresh | rollout progress, cached |\n\
         |---|---:|---:|---:|---:|---:|---:|---:|\n",
    );
    for o in outcomes {
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} | {} | {} | {} |",
            o.backend.name(),
            count(o.clusters as u64),
            p50_p99(&o.summary_idle),
            p50_p99(&o.summary_load),
            p50_p99(&o.lag_idle),
            p50_p99(&o.lag_load),
            p50_p99(&o.rollout_fresh),
            p50_p99(&o.rollout_cached)
        );
    }
    pages_table(&mut out, outcomes);
    let sqlite = outcomes.iter().find(|o| o.backend == Backend::Sqlite && o.clusters == 100_000);
    let postgres = outcomes.iter().find(|o| o.backend == Backend::Postgres && o.clusters == 100_000);
    if let (Some(s), Some(p)) = (sqlite, postgres) {
        let _ = writeln!(
            out,
            "\nAt 100,000 clusters PostgreSQL ingests {:.2}× SQLite's rate (same run).",
            p.reports_per_s() / s.reports_per_s()
        );
    }
    let met = |ok: bool| if ok { "met" } else { "NOT MET" };
    let Some(o) = outcomes.iter().filter(|o| o.backend == Backend::Sqlite).max_by_key(|o| o.clusters) else {
        out.push_str("\nTargets: judged on SQLite, which was not run.\n");
        return out;
    };
    let n = o.clusters;
    let reports = o.reports_per_s();
    let _ = writeln!(
        out,
        "\nTargets (SQLite, {} clusters{}):\n",
        count(n as u64),
        if n < 1_000_000 { "; the issue sets them at 1,000,000" } else { "" }
    );
    let _ = writeln!(
        out,
        "- at least {} reports/s: {} ({})",
        whole(TARGET_REPORTS_PER_S),
        met(reports >= TARGET_REPORTS_PER_S),
        whole(reports)
    );
    for (what, idle, load) in [("summary", &o.summary_idle, &o.summary_load), ("lag ledger", &o.lag_idle, &o.lag_load)]
    {
        let (i, l) = (percentile(idle, 99), percentile(load, 99));
        let under_load =
            if load.is_empty() { "not measured".to_string() } else { format!("{} ({l:.1})", met(l <= TARGET_P99_MS)) };
        let _ = writeln!(
            out,
            "- {what} p99 at most {TARGET_P99_MS} ms: idle {} ({i:.1}), under load {under_load}",
            met(i <= TARGET_P99_MS)
        );
    }
    // The issue sets the pages' target at 100,000 clusters; judged there when that case ran.
    let paged = outcomes.iter().find(|o| o.backend == Backend::Sqlite && o.clusters == 100_000).unwrap_or(o);
    let slowest = paged.pages.iter().map(|times| percentile(times, 99)).fold(0.0, f64::max);
    let _ = writeln!(
        out,
        "- every dashboard page p99 at most {TARGET_PAGE_MS} ms at {} clusters: {} (slowest {slowest:.1})",
        count(paged.clusters as u64),
        met(slowest <= TARGET_PAGE_MS)
    );
    let _ = writeln!(out, "- at most 2 GiB: {} (VmHWM {:.0} MiB)", met(o.hwm_mib <= TARGET_RSS_MIB), o.hwm_mib);
    out
}

/// The dashboard pages' latencies, one row per case.
fn pages_table(out: &mut String, outcomes: &[Outcome]) {
    out.push_str("\nDashboard pages, idle, ms, p50 / p99 (samples):\n\n| database | clusters |");
    for (name, _) in PAGES {
        let _ = write!(out, " {name} |");
    }
    out.push_str("\n|---|---:|");
    out.push_str(&"---:|".repeat(PAGES.len()));
    out.push('\n');
    for o in outcomes {
        let _ = write!(out, "| {} | {} |", o.backend.name(), count(o.clusters as u64));
        for times in &o.pages {
            let _ = write!(out, " {} |", p50_p99(times));
        }
        out.push('\n');
    }
}

/// `cargo xtask bench rollout [--clusters N,N]`: the hub's rollout progress of a placement
/// (three waves: a canary label, 10% by hash, everyone; a halt) computed over an index of N
/// clusters in this process, without HTTP or the store: what `GET /api/v1/rollouts/{placement}`
/// costs when its two-second cache has expired. 11 computations per size; the median and the
/// slowest are quoted.
pub fn rollout(args: &RolloutArgs) -> Result<()> {
    if cfg!(debug_assertions) {
        // `cargo xtask` builds without optimizations: measure the hub's code as it ships.
        return crate::again_optimized(false).map(drop);
    }
    print!("{}", rollout_report(args.clusters.as_deref().unwrap_or(&ROLLOUT_SIZES))?);
    Ok(())
}

/// The rollout bench's sizes when none are named.
pub const ROLLOUT_SIZES: [usize; 2] = [100_000, 1_000_000];

/// `cargo xtask bench rollout`'s flags.
#[derive(Debug, Clone, clap::Args)]
pub struct RolloutArgs {
    /// Cluster counts, comma-separated (100,000 and 1,000,000).
    #[arg(long, value_delimiter = ',', value_parser = crate::count)]
    clusters: Option<Vec<usize>>,
}

/// The rollout bench's results as Markdown; run it optimized.
pub fn rollout_report(sizes: &[usize]) -> Result<String> {
    let yaml = "apiVersion: flotilla.dev/v1alpha1\nkind: Placement\nmetadata: {name: web}\nspec:\n  source: {repository: app, path: web}\n  clusters: {matchLabels: {kind: store}}\n  rollout:\n    waves: [{name: canary, clusters: {matchLabels: {canary: \"true\"}}}, {name: early, percent: 10}, {name: everyone}]\n    bake: 2h\n    halt: {maxFailed: 5%}\n";
    let mut snapshot = flotilla_core::snapshot::Snapshot::new();
    snapshot.insert_file("fleet/web.yaml", yaml);
    let (fleet, errors) = flotilla_core::fleet::Fleet::from_snapshot(&snapshot);
    ensure!(errors.is_empty(), "the bench's placement: {errors:?}");
    let placement = &fleet.placements[0];
    let (head, previous) = ("b".repeat(40), "a".repeat(40));
    let commit = |id: &str, time: i64| hub_index::git_view::Commit {
        id: id.parse::<flotilla_git::CommitId>().expect("a commit id"),
        time,
        tree: format!("tree-{id}"),
        summary: String::new(),
    };
    let now = i64::try_from(SystemTime::now().duration_since(UNIX_EPOCH)?.as_secs())?;
    let history = [commit(&head, now - 3_600), commit(&previous, now - 86_400)];
    // The commits reached the branch when they were made.
    let mut arrivals = flotilla_core::rollout::Arrivals::default();
    for c in &history {
        arrivals.insert(&c.id.to_string(), c.time);
    }
    let mut out = String::from(
        "| clusters | rollout progress afresh, ms: median | slowest of 11 | index fill s |\n|---:|---:|---:|---:|\n",
    );
    for &n in sizes {
        let started = Instant::now();
        let mut index = hub_index::index::Index::new(i64::MAX);
        for i in 0..n {
            let name = cluster_name(i);
            let applied = if i % 100 == 0 { &previous } else { &head };
            let json = format!(
                r#"{{"version":1,"cluster":"{name}","agentVersion":"0.1.0","sequence":1,"time":"2026-11-25T10:00:00Z",
                "placements":[{{"name":"web","state":"Synced","appliedCommit":"{applied}","sourceCommit":"{applied}","health":"Healthy"}}]}}"#
            );
            let report =
                flotilla_core::report::Report::from_json(json.as_bytes()).map_err(|e| anyhow::anyhow!("{e}"))?;
            let labels = [
                ("kind".to_string(), "store".to_string()),
                ("region".to_string(), format!("region-{}", i % 8)),
                ("canary".to_string(), (i % 1_000 == 0).to_string()),
            ];
            index.update(&hub_index::index::Row {
                name,
                environment: "prod".into(),
                labels: labels.into_iter().collect(),
                token_hash: None,
                registered_at_ms: 0,
                last_report_at_ms: Some(1),
                last_report: Some(report),
                change: i64::try_from(i + 1)?,
                kubernetes: None,
            });
        }
        let fill = started.elapsed();
        let failures: Vec<hub_index::store::Failure> = (0..n / 2_000)
            .map(|i| hub_index::store::Failure { cluster: cluster_name(i * 1_000), commit: head.clone(), at_ms: 0 })
            .collect();
        let mut times = Vec::new();
        for _ in 0..11 {
            let started = Instant::now();
            let view = hub_index::progress::progress(&index, placement, "prod", &history, &arrivals, &failures, now);
            times.push(started.elapsed().as_secs_f64() * 1e3);
            let counted: usize = view.waves.iter().map(|w| w.clusters).sum();
            ensure!(counted == n, "the waves hold {counted} clusters, not {n}");
        }
        times.sort_by(f64::total_cmp);
        let _ =
            writeln!(out, "| {} | {:.1} | {:.1} | {:.1} |", count(n as u64), times[5], times[10], fill.as_secs_f64());
    }
    Ok(out)
}
