//! `pull-agent run`, `once`, `register` and `render --config` as processes, against the test
//! API server over HTTP, a fleet repository served by `git daemon`, and a small hub receiver
//! (HTTP/1.1 on loopback) that records what it is sent and can be told to fail.

use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use flotilla_core::report::{Report, SyncState};
use flotilla_git::testing::{GitDaemon, git};
use kube::api::{Api, ApiResource, DynamicObject, ListParams};
use kube_testserver::{Options, TestServer};

const TOKEN: &str = "flt_cluster_token_0123456789";

/// How the receiver answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Answer {
    Accept,
    /// 503 Service Unavailable.
    Fail,
    /// 401 Unauthorized.
    Unauthorized,
}

/// One request the receiver took.
#[derive(Debug, Clone)]
struct Request {
    path: String,
    authorization: String,
    body: String,
}

/// A small hub: `POST /api/v1/reports` and `POST /api/v1/register`.
struct Receiver {
    url: String,
    answer: Arc<Mutex<Answer>>,
    received: Arc<Mutex<Vec<Request>>>,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Receiver {
    fn start() -> Receiver {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let answer = Arc::new(Mutex::new(Answer::Accept));
        let received = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let thread = std::thread::spawn({
            let (answer, received, stop) = (answer.clone(), received.clone(), stop.clone());
            move || {
                while !stop.load(Ordering::SeqCst) {
                    match listener.accept() {
                        Ok((stream, _)) => serve(stream, *answer.lock().unwrap(), &received),
                        Err(_) => std::thread::sleep(Duration::from_millis(5)),
                    }
                }
            }
        });
        Receiver { url, answer, received, stop, thread: Some(thread) }
    }

    fn answer(&self, answer: Answer) {
        *self.answer.lock().unwrap() = answer;
    }

    /// The reports taken (answered 2xx), in order.
    fn reports(&self) -> Vec<(String, Report)> {
        self.received
            .lock()
            .unwrap()
            .iter()
            .filter(|r| r.path == "/api/v1/reports")
            .map(|r| (r.authorization.clone(), Report::from_json(r.body.as_bytes()).expect("a valid report")))
            .collect()
    }

    fn requests(&self) -> Vec<Request> {
        self.received.lock().unwrap().clone()
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Answers one request and closes the connection; records it when it is taken.
fn serve(stream: TcpStream, answer: Answer, received: &Mutex<Vec<Request>>) {
    stream.set_nonblocking(false).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut line = String::new();
    if reader.read_line(&mut line).is_err() {
        return;
    }
    let path = line.split_whitespace().nth(1).unwrap_or_default().to_string();
    let (mut length, mut authorization) = (0, String::new());
    loop {
        let mut header = String::new();
        if reader.read_line(&mut header).unwrap_or(0) == 0 || header.trim().is_empty() {
            break;
        }
        let (name, value) = header.split_once(':').unwrap_or_default();
        match name.to_ascii_lowercase().as_str() {
            "content-length" => length = value.trim().parse().unwrap(),
            "authorization" => authorization = value.trim().to_string(),
            _ => {}
        }
    }
    let mut body = vec![0; length];
    reader.read_exact(&mut body).unwrap();
    let body = String::from_utf8(body).unwrap();
    let (status, reply) = match answer {
        Answer::Fail => ("503 Service Unavailable", "hub is restarting".to_string()),
        Answer::Unauthorized => ("401 Unauthorized", "unknown token".to_string()),
        Answer::Accept if path == "/api/v1/register" => {
            let request: serde_json::Value = serde_json::from_str(&body).unwrap();
            ("200 OK", serde_json::json!({"cluster": request["cluster"], "token": TOKEN}).to_string())
        }
        Answer::Accept => ("202 Accepted", "{}".to_string()),
    };
    if answer == Answer::Accept {
        received.lock().unwrap().push(Request { path, authorization, body });
    }
    let mut stream = stream;
    let _ = write!(
        stream,
        "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{reply}",
        reply.len()
    );
}

/// A fleet repository whose placement `web` takes `web/` of the fleet repository itself.
struct World {
    dir: tempfile::TempDir,
    daemon: GitDaemon,
    server: TestServer,
}

const FLEET: &str = "\
apiVersion: flotilla.dev/v1alpha1
kind: Placement
metadata: {name: web}
spec:
  source: {repository: fleet, path: web}
  clusters: {matchLabels: {kind: store}}
  scope: {cluster: true}
";

fn config_maps(count: usize, value: &str) -> Vec<(String, String)> {
    let mut files =
        vec![("web/namespace.yaml".to_string(), "apiVersion: v1\nkind: Namespace\nmetadata: {name: shop}\n".into())];
    for i in 0..count {
        files.push((
            format!("web/cm-{i:03}.yaml"),
            format!("apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: cm-{i:03}, namespace: shop}}\ndata: {{v: \"{value}\"}}\n"),
        ));
    }
    files
}

impl World {
    fn new(objects: usize) -> World {
        let dir = tempfile::tempdir().unwrap();
        let fleet = dir.path().join("fleet");
        std::fs::create_dir_all(fleet.join("fleet")).unwrap();
        git(&fleet, &["init", "-q", "-b", "prod"]);
        let world = World {
            daemon: GitDaemon::start(dir.path()),
            server: TestServer::start_with("127.0.0.1:0", &Options { ready_delay: Duration::ZERO }).unwrap(),
            dir,
        };
        std::fs::write(fleet.join("fleet/fleet.yaml"), FLEET).unwrap();
        world.commit(&config_maps(objects, "one"));
        world
    }

    fn commit(&self, files: &[(String, String)]) -> String {
        let fleet = self.dir.path().join("fleet");
        for (path, text) in files {
            std::fs::create_dir_all(fleet.join(path).parent().unwrap()).unwrap();
            std::fs::write(fleet.join(path), text).unwrap();
        }
        git(&fleet, &["add", "-A"]);
        git(&fleet, &["commit", "-q", "-m", "change"]);
        git(&fleet, &["rev-parse", "HEAD"])
    }

    fn state(&self) -> PathBuf {
        self.dir.path().join("state")
    }

    /// Writes agent.yaml; `hub` adds a hub section with the token file `state/cluster-token`.
    fn config(&self, hub: Option<&str>) -> PathBuf {
        let mut text = format!(
            "cluster: {{name: store-0001, environment: prod, labels: {{kind: store}}}}\n\
             fleet: {{url: {}}}\nstateDir: state\npollInterval: 1s\nkubernetes: {{server: {}}}\n",
            self.daemon.url("fleet"),
            self.server.url
        );
        if let Some(url) = hub {
            text = format!("{text}hub: {{url: \"{url}\"}}\n");
        }
        let path = self.dir.path().join("agent.yaml");
        std::fs::write(&path, text).unwrap();
        path
    }

    fn client(&self) -> kube::Client {
        kube::Client::try_from(kube::Config::new(self.server.url.parse().unwrap())).unwrap()
    }

    async fn config_map_names(&self, namespace: &str, selector: &str) -> Vec<String> {
        let resource = ApiResource::erase::<k8s_openapi::api::core::v1::ConfigMap>(&());
        let api: Api<DynamicObject> = Api::namespaced_with(self.client(), namespace, &resource);
        let list = api.list(&ListParams::default().labels(selector)).await.unwrap();
        let mut names: Vec<String> = list.items.into_iter().filter_map(|o| o.metadata.name).collect();
        names.sort();
        names
    }

    async fn inventory(&self) -> String {
        let resource = ApiResource::erase::<k8s_openapi::api::core::v1::ConfigMap>(&());
        let api: Api<DynamicObject> = Api::namespaced_with(self.client(), "flotilla-system", &resource);
        let cm = api.get("flotilla-inventory-web").await.unwrap();
        cm.data["data"]["inventory"].as_str().unwrap().to_string()
    }
}

fn agent(args: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_pull-agent"));
    command.args(args);
    command
}

/// A child process killed (if still running) when dropped, so a failing test leaks nothing.
struct Running(Child);

impl Running {
    fn start(mut command: Command) -> Running {
        Running(command.stdout(Stdio::null()).stderr(Stdio::piped()).spawn().unwrap())
    }

    fn terminate(&self) {
        let status = Command::new("kill").args(["-TERM", &self.0.id().to_string()]).status().unwrap();
        assert!(status.success());
    }

    /// Waits for the exit, at most `limit`; the status and stderr.
    fn wait(mut self, limit: Duration) -> (std::process::ExitStatus, String) {
        let started = Instant::now();
        let status = loop {
            if let Some(status) = self.0.try_wait().unwrap() {
                break status;
            }
            assert!(started.elapsed() < limit, "pull-agent did not exit within {limit:?}");
            std::thread::sleep(Duration::from_millis(20));
        };
        let mut stderr = String::new();
        if let Some(mut pipe) = self.0.stderr.take() {
            pipe.read_to_string(&mut stderr).unwrap();
        }
        (status, stderr)
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Waits (asynchronously) until `done` holds, at most `limit`.
async fn until(limit: Duration, what: &str, mut done: impl FnMut() -> bool) {
    let started = Instant::now();
    while !done() {
        assert!(started.elapsed() < limit, "timed out after {limit:?} waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn spooled(state: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(state.join("spool"))
        .map(|d| {
            d.filter_map(|e| e.ok()?.file_name().into_string().ok())
                .filter(|n| n.strip_suffix(".json").is_some_and(|s| s.parse::<u64>().is_ok()))
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(flotilla_skip_git_daemon, ignore = "FLOTILLA_SKIP=git-daemon")]
async fn run_reports_every_cycle_spools_while_the_hub_fails_and_flushes_in_order() {
    let world = World::new(3);
    let hub = Receiver::start();
    let config = world.config(Some(&hub.url));
    std::fs::create_dir_all(world.state()).unwrap();
    std::fs::write(world.state().join("cluster-token"), format!("{TOKEN}\n")).unwrap();
    let running = Running::start(agent(&["run", "--config", config.to_str().unwrap()]));

    until(Duration::from_secs(20), "two reports", || hub.reports().len() >= 2).await;
    let before = hub.reports();
    for (authorization, report) in &before {
        assert_eq!(authorization, &format!("Bearer {TOKEN}"));
        report.validate().unwrap();
        assert_eq!(report.cluster, "store-0001");
        assert_eq!(report.placements.len(), 1);
        assert_eq!(report.placements[0].state, SyncState::Synced, "{report:?}");
    }
    assert_eq!(before[0].1.sequence, 1);
    // The first report says the cluster's Kubernetes (what its charts render with); once the hub
    // took it, the reports leave it out, and a healthy store's report is under 1 KiB.
    let said = before[0].1.kubernetes.as_ref().expect("the first report says the cluster's Kubernetes");
    assert_eq!(said.version, "v1.32.0-flotilla-testserver");
    assert!(said.api_versions.iter().any(|v| v == "apps/v1/Deployment"), "{said:?}");
    assert_eq!(before[1].1.kubernetes, None, "said again though the hub took it");
    assert!(before[1].1.to_json().len() < 1024, "a healthy store's report is under 1 KiB");
    assert_eq!(world.config_map_names("shop", "flotilla.dev/placement=web").await, ["cm-000", "cm-001", "cm-002"]);

    // The hub fails for a few cycles: the reports wait in the spool, which keeps only the newest
    // (no policy results change).
    hub.answer(Answer::Fail);
    tokio::time::sleep(Duration::from_millis(3_500)).await;
    let waiting = spooled(&world.state());
    assert_eq!(waiting.len(), 1, "{waiting:?}");
    let taken_while_failing = hub.reports().len();

    // Back: the spooled report goes first, then every new one, in order.
    hub.answer(Answer::Accept);
    until(Duration::from_secs(10), "reports after the hub is back", || hub.reports().len() >= taken_while_failing + 2)
        .await;
    let sequences: Vec<u64> = hub.reports().iter().map(|(_, r)| r.sequence).collect();
    assert!(sequences.windows(2).all(|w| w[0] < w[1]), "sequences increase: {sequences:?}");
    // The one waiting was sent, or a newer one that made it redundant (it repeated it).
    let spooled_sequence: u64 = waiting[0].trim_end_matches(".json").parse().unwrap();
    assert!(sequences[taken_while_failing] >= spooled_sequence, "{sequences:?} after {spooled_sequence} waited");
    assert!(spooled(&world.state()).len() <= 1, "the spool is flushed");

    running.terminate();
    let (status, stderr) = running.wait(Duration::from_secs(10));
    assert!(status.success(), "SIGTERM exits 0: {status:?}\n{stderr}");
    assert!(stderr.contains("pull-agent: stopped"), "{stderr}");
    let last = Report::from_json(&std::fs::read(world.state().join("report.json")).unwrap()).unwrap();
    let sequence = std::fs::read_to_string(world.state().join("sequence")).unwrap();
    assert_eq!(sequence.trim(), last.sequence.to_string());
    assert!(last.sequence >= *sequences.last().unwrap());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(flotilla_skip_git_daemon, ignore = "FLOTILLA_SKIP=git-daemon")]
async fn sigterm_finishes_the_object_in_flight_and_the_next_run_converges() {
    let world = World::new(40);
    world.server.cluster().set_latency(Duration::from_millis(100));
    let config = world.config(None);
    let running = Running::start(agent(&["run", "--config", config.to_str().unwrap()]));
    // Wait until the apply is under way, then ask it to stop.
    let started = Instant::now();
    loop {
        assert!(started.elapsed() < Duration::from_secs(30), "the agent never started applying");
        if world.config_map_names("shop", "flotilla.dev/placement=web").await.len() >= 3 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    running.terminate();
    let (status, stderr) = running.wait(Duration::from_secs(10));
    assert!(status.success(), "SIGTERM exits 0: {status:?}\n{stderr}");
    assert!(stderr.contains("SIGTERM"), "{stderr}");

    // It stopped part way, said so, and left nothing the inventory does not hold.
    let report = Report::from_json(&std::fs::read(world.state().join("report.json")).unwrap()).unwrap();
    assert_eq!(report.placements[0].state, SyncState::Progressing, "{report:?}");
    assert!(report.placements[0].message.as_deref().unwrap().starts_with("interrupted"), "{report:?}");
    let applied = world.config_map_names("shop", "flotilla.dev/placement=web").await;
    assert!(applied.len() < 40, "stopped before the end: {} applied", applied.len());
    let inventory = world.inventory().await;
    for name in &applied {
        assert!(inventory.contains(&format!(" ConfigMap shop {name}\n")), "{name} not in the inventory:\n{inventory}");
    }

    world.server.cluster().set_latency(Duration::ZERO);
    let output = agent(&["once", "--config", config.to_str().unwrap()]).output().unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let report = Report::from_json(&output.stdout).unwrap();
    assert_eq!(report.placements[0].state, SyncState::Synced);
    assert_eq!(world.config_map_names("shop", "flotilla.dev/placement=web").await.len(), 40);
}

#[test]
#[cfg_attr(flotilla_skip_git_daemon, ignore = "FLOTILLA_SKIP=git-daemon")]
fn register_exchanges_a_join_token_for_a_cluster_token_kept_0600() {
    use std::os::unix::fs::PermissionsExt as _;
    let world = World::new(1);
    let hub = Receiver::start();
    let config = world.config(Some(&hub.url));
    let join = world.dir.path().join("join-token");
    std::fs::write(&join, "join-abc-123\n").unwrap();
    let register =
        || agent(&["register", "--config", config.to_str().unwrap(), "--join-token"]).arg(&join).output().unwrap();

    hub.answer(Answer::Unauthorized);
    let refused = register();
    assert!(!refused.status.success());
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(stderr.contains("refused it (401): unknown token"), "{stderr}");
    assert!(!world.state().join("cluster-token").exists(), "nothing written on refusal");

    hub.answer(Answer::Accept);
    let registered = register();
    assert!(registered.status.success(), "{}", String::from_utf8_lossy(&registered.stderr));
    let requests = hub.requests();
    assert_eq!(requests.len(), 1);
    assert_eq!(requests[0].path, "/api/v1/register");
    assert_eq!(requests[0].authorization, "Bearer join-abc-123");
    let sent: flotilla_core::register::Request = serde_json::from_str(&requests[0].body).unwrap();
    assert_eq!((sent.cluster.as_str(), sent.environment.as_str()), ("store-0001", "prod"));
    assert_eq!(sent.labels["kind"], "store");
    let token_file = world.state().join("cluster-token");
    assert_eq!(std::fs::read_to_string(&token_file).unwrap().trim(), TOKEN);
    assert_eq!(std::fs::metadata(&token_file).unwrap().permissions().mode() & 0o777, 0o600);

    // Registered already: nothing is asked of the hub again.
    let again = register();
    assert!(again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("already registered"));
    assert_eq!(hub.requests().len(), 1);
}

#[test]
#[cfg_attr(flotilla_skip_git_daemon, ignore = "FLOTILLA_SKIP=git-daemon")]
fn render_with_a_config_prints_what_the_cluster_would_run_at_any_fleet_commit() {
    let world = World::new(2);
    let first = git(&world.dir.path().join("fleet"), &["rev-parse", "HEAD"]);
    world.commit(&config_maps(2, "two"));
    let config = world.config(None);
    let render = |extra: &[&str]| {
        let output = agent(&["render", "--config", config.to_str().unwrap()]).args(extra).output().unwrap();
        (output.status.success(), String::from_utf8(output.stdout).unwrap(), String::from_utf8(output.stderr).unwrap())
    };

    let (ok, yaml, stderr) = render(&[]);
    assert!(ok, "{stderr}");
    assert!(yaml.starts_with("# placement: web\n# commit: "), "{yaml}");
    assert!(yaml.contains("name: cm-001\n") && yaml.contains("v: two\n"), "{yaml}");
    assert!(yaml.contains("flotilla.dev/placement: web"), "{yaml}");

    let (ok, yaml, stderr) = render(&["--ref", &first, "--placement", "web"]);
    assert!(ok, "{stderr}");
    assert!(yaml.contains("v: one\n") && !yaml.contains("v: two\n"), "{yaml}");

    let (ok, _, stderr) = render(&["--placement", "nope"]);
    assert!(!ok);
    assert!(stderr.contains("no placement \"nope\" selects cluster store-0001"), "{stderr}");
    // Rendering touches no cluster.
    assert_eq!(world.server.cluster().requests(), 0);
}

#[tokio::test]
#[cfg_attr(flotilla_skip_git_daemon, ignore = "FLOTILLA_SKIP=git-daemon")]
async fn the_spool_keeps_every_policy_change_and_flushes_them_in_order() {
    use flotilla_core::report::PolicyReport;
    let world = World::new(1);
    let hub = Receiver::start();
    let config = pull_agent::config::Config::load(&world.config(Some(&hub.url))).unwrap();
    std::fs::create_dir_all(world.state()).unwrap();
    std::fs::write(world.state().join("cluster-token"), TOKEN).unwrap();
    let mut reporter = pull_agent::daemon::Reporter::open(&config).unwrap();
    let policy = |compliant| {
        vec![PolicyReport { name: "pci-1".into(), compliant: Some(compliant), violations: vec![], remediation: vec![] }]
    };

    hub.answer(Answer::Fail);
    for compliant in [true, true, false, false, true] {
        let report = reporter.next(Vec::new(), policy(compliant)).unwrap();
        let said = reporter.deliver(&report, true).await.unwrap();
        assert!(said.contains("spooled") && said.contains("hub is unreachable: HTTP 503"), "{said}");
    }
    // 2 repeated 1, and 4 repeated 3: the policy results that changed are all kept.
    assert_eq!(spooled(&world.state()).len(), 3);

    hub.answer(Answer::Accept);
    let report = reporter.next(Vec::new(), policy(true)).unwrap();
    let said = reporter.deliver(&report, true).await.unwrap();
    assert_eq!(said, "report 6 sent (4 sent)");
    let received: Vec<(u64, Option<bool>)> =
        hub.reports().iter().map(|(_, r)| (r.sequence, r.policies[0].compliant)).collect();
    assert_eq!(received, [(1, Some(true)), (3, Some(false)), (5, Some(true)), (6, Some(true))]);
    assert!(spooled(&world.state()).is_empty());

    // A new reporter carries on from the last sequence.
    let mut reporter = pull_agent::daemon::Reporter::open(&config).unwrap();
    assert_eq!(reporter.next(Vec::new(), Vec::new()).unwrap().sequence, 7);
}

#[test]
#[cfg_attr(flotilla_skip_git_daemon, ignore = "FLOTILLA_SKIP=git-daemon")]
fn once_against_a_simulated_cluster_syncs_in_process() {
    let world = World::new(5);
    let config = world.config(None);
    let text = std::fs::read_to_string(&config).unwrap();
    let text = text.replace(&format!("kubernetes: {{server: {}}}", world.server.url), "kubernetes: {simulated: true}");
    std::fs::write(&config, text).unwrap();
    let output = agent(&["once", "--config", config.to_str().unwrap()]).output().unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let report = Report::from_json(&output.stdout).unwrap();
    assert_eq!(report.placements[0].state, SyncState::Synced);
    assert_eq!(world.server.cluster().requests(), 0, "the simulated cluster is the agent's own");
    // Each process starts an empty one, and says so: a plan after `once` shows everything new.
    let warning = "kubernetes is simulated: `once` runs on an empty cluster inside this process";
    assert!(String::from_utf8_lossy(&output.stderr).contains(warning), "{}", String::from_utf8_lossy(&output.stderr));
    let plan = agent(&["plan", "--config", config.to_str().unwrap()]).output().unwrap();
    let (stdout, stderr) = (String::from_utf8_lossy(&plan.stdout), String::from_utf8_lossy(&plan.stderr));
    assert!(stderr.contains("kubernetes is simulated: `plan` runs on an empty cluster"), "{stderr}");
    assert_eq!(stdout.lines().count(), 5 + 1, "5 config maps and the namespace, all new:\n{stdout}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(flotilla_skip_git_daemon, ignore = "FLOTILLA_SKIP=git-daemon")]
async fn run_skips_unchanged_cycles_yet_corrects_drift_and_deletions_its_watches_see() {
    let world = World::new(20);
    let config = world.config(None);
    let mut command = agent(&["run", "--config", config.to_str().unwrap()]);
    let log = world.dir.path().join("run.log");
    command.stderr(std::fs::File::create(&log).unwrap());
    let running = Running(command.stdout(Stdio::null()).spawn().unwrap());
    let read_log = || std::fs::read_to_string(&log).unwrap();
    let started = Instant::now();
    while !read_log().contains("(1 Synced, 1 unchanged)") {
        assert!(started.elapsed() < Duration::from_secs(20), "no cycle with nothing changed:\n{}", read_log());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // Unchanged cycles ask the API server nothing: only the watches stay open.
    let requests = world.server.cluster().requests();
    let cycles = read_log().matches("unchanged").count();
    until(Duration::from_secs(10), "two more cycles", || read_log().matches("unchanged").count() >= cycles + 2).await;
    assert_eq!(world.server.cluster().requests(), requests, "{}", read_log());

    // Drift made by hand arrives as a watch event: the next cycle syncs in full and corrects it.
    let resource = ApiResource::erase::<k8s_openapi::api::core::v1::ConfigMap>(&());
    let api: Api<DynamicObject> = Api::namespaced_with(world.client(), "shop", &resource);
    let patch = serde_json::json!({"data": {"v": "hand-made"}});
    api.patch("cm-007", &kube::api::PatchParams::default(), &kube::api::Patch::Merge(&patch)).await.unwrap();
    api.delete("cm-011", &kube::api::DeleteParams::default()).await.unwrap();
    let mut value = String::new();
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(15) {
        value = api.get("cm-007").await.unwrap().data["data"]["v"].as_str().unwrap().to_string();
        if value == "one" && api.get_opt("cm-011").await.unwrap().is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(value, "one", "drift corrected:\n{}", read_log());
    assert!(api.get_opt("cm-011").await.unwrap().is_some(), "a deleted object put back:\n{}", read_log());
    let report = Report::from_json(&std::fs::read(world.state().join("report.json")).unwrap()).unwrap();
    assert_eq!(report.placements[0].state, SyncState::Synced);
    running.terminate();
    let (status, _) = running.wait(Duration::from_secs(10));
    assert!(status.success(), "{}", read_log());
}

#[test]
#[cfg_attr(flotilla_skip_git_daemon, ignore = "FLOTILLA_SKIP=git-daemon")]
fn an_unreachable_source_or_fleet_is_reported_after_retries_never_a_crash() {
    let world = World::new(2);
    // A second placement whose repository nobody serves (port 1 refuses connections).
    let ghost = "---\napiVersion: flotilla.dev/v1alpha1\nkind: Repository\nmetadata: {name: ghost}\n\
                 spec: {url: \"git://127.0.0.1:1/ghost\"}\n---\napiVersion: flotilla.dev/v1alpha1\n\
                 kind: Placement\nmetadata: {name: ghost}\nspec:\n  source: {repository: ghost, path: x}\n\
                 \x20 clusters: {matchLabels: {kind: store}}\n";
    world.commit(&[("fleet/fleet.yaml".to_string(), format!("{FLEET}{ghost}"))]);
    let config = world.config(None);
    let once = || agent(&["once", "--config", config.to_str().unwrap()]).output().unwrap();

    let started = Instant::now();
    let output = once();
    let report = Report::from_json(&output.stdout).unwrap();
    assert!(!output.status.success());
    let state = |name: &str| report.placements.iter().find(|p| p.name == name).unwrap().clone();
    assert_eq!(state("web").state, SyncState::Synced, "the other placement is not held up");
    let ghost = state("ghost");
    assert_eq!(ghost.state, SyncState::SourceUnreachable);
    assert!(ghost.message.as_deref().unwrap().contains("git://127.0.0.1:1/ghost"), "{ghost:?}");
    // Three attempts, 250 ms and 500 ms apart (plus jitter), then it gives up for this cycle.
    assert!(started.elapsed() >= Duration::from_millis(750), "{:?}", started.elapsed());

    // The fleet repository itself unreachable: what ran last is reported as stale, not lost.
    let text = std::fs::read_to_string(&config).unwrap().replace(&world.daemon.url("fleet"), "git://127.0.0.1:1/fleet");
    std::fs::write(&config, text).unwrap();
    let output = once();
    assert!(!output.status.success());
    let report = Report::from_json(&output.stdout).unwrap();
    assert_eq!(report.placements.len(), 2);
    for p in &report.placements {
        assert_eq!(p.state, SyncState::SourceUnreachable, "{p:?}");
        assert!(p.message.as_deref().unwrap().contains("fetching the fleet repository"), "{p:?}");
    }
    let web = report.placements.iter().find(|p| p.name == "web").unwrap();
    assert!(web.applied_commit.is_some() || web.source_commit.is_some(), "the last good commit is kept: {web:?}");
}
