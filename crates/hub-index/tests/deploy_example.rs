//! The hub's install manifests (`examples/deploy/hub/`): the SQLite form (`sqlite/`, one replica
//! on a volume claim) and the PostgreSQL form (`postgres/`, an overlay with several replicas and
//! `--db` from a Secret). Each renders as `kubectl kustomize` renders it; the container's
//! arguments are flags of `hub-index serve`, and the binary started with the SQLite form's own
//! arguments (paths moved into a temporary folder) answers the probes the manifests name; the
//! pod runs as non-root with no service account token and no RBAC; the test API server accepts
//! every object and makes the hub available.
//!
//! The golden files `tests/data/deploy-hub-*.yaml` are kubectl's output, recorded from the
//! workspace root with kubectl v1.32.4 (kustomize v5.5.0):
//!
//! ```sh
//! kubectl kustomize examples/deploy/hub/sqlite > crates/hub-index/tests/data/deploy-hub-sqlite.yaml
//! kubectl kustomize examples/deploy/hub/postgres > crates/hub-index/tests/data/deploy-hub-postgres.yaml
//! ```
//!
//! Record them again that way after changing the manifests; never write them from our own output.

mod common;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use common::{DECLARED_STORE, WEB_PLACEMENT, fleet_repository};
use flotilla_core::health::{self, Health};
use flotilla_core::plan::ObjectRef;
use flotilla_git::testing::GitDaemon;
use kube_testserver::{Options, TestServer};
use pull_agent::cluster::Cluster;
use serde_json::Value;

const FORMS: [&str; 2] = ["sqlite", "postgres"];

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// One form of the manifests as our renderer renders it.
fn rendered(form: &str) -> Vec<Value> {
    pull_agent::folder::render_dir(&workspace().join("examples/deploy/hub").join(form))
        .unwrap_or_else(|e| panic!("examples/deploy/hub/{form}: {e:#}"))
}

fn find<'a>(objects: &'a [Value], kind: &str, name: &str) -> &'a Value {
    objects
        .iter()
        .find(|o| o["kind"] == kind && o["metadata"]["name"] == name)
        .unwrap_or_else(|| panic!("the manifests have no {kind} {name}"))
}

fn strings(value: &Value) -> Vec<&str> {
    value.as_array().into_iter().flatten().filter_map(Value::as_str).collect()
}

/// The hub's pod spec and its one container.
fn pod(objects: &[Value]) -> (&Value, &Value) {
    let spec = &find(objects, "Deployment", "hub-index")["spec"]["template"]["spec"];
    let containers = spec["containers"].as_array().expect("containers is a list");
    assert_eq!(containers.len(), 1, "one container");
    (spec, &containers[0])
}

/// The value that follows `flag` in `args`.
fn flag<'a>(args: &[&'a str], flag: &str) -> &'a str {
    let at = args.iter().position(|a| *a == flag).unwrap_or_else(|| panic!("no {flag} in {args:?}"));
    args.get(at + 1).unwrap_or_else(|| panic!("{flag} has no value"))
}

#[test]
fn renders_as_kubectl_kustomize_does() {
    for form in FORMS {
        let golden = Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("tests/data/deploy-hub-{form}.yaml"));
        let want = std::fs::read_to_string(golden).expect("the golden file is checked in");
        let got = flotilla_core::yaml::to_string_all(&rendered(form));
        if got != want {
            let (w, g): (Vec<&str>, Vec<&str>) = (want.lines().collect(), got.lines().collect());
            let first = w.iter().zip(&g).position(|(a, b)| a != b).unwrap_or(w.len().min(g.len()));
            panic!(
                "{form}: the rendering differs from kubectl's at line {}\n  kubectl:  {:?}\n  flotilla: {:?}",
                first + 1,
                w.get(first),
                g.get(first)
            );
        }
    }
}

#[test]
fn the_hub_gets_no_rbac_and_no_token() {
    for form in FORMS {
        let objects = rendered(form);
        let kinds: BTreeSet<&str> = objects.iter().filter_map(|o| o["kind"].as_str()).collect();
        let mut want = BTreeSet::from(["Namespace", "ServiceAccount", "Deployment", "Service"]);
        want.insert(if form == "sqlite" { "PersistentVolumeClaim" } else { "PodDisruptionBudget" });
        assert_eq!(kinds, want, "{form}: the hub never writes to a cluster, so it needs no role");
        let account = find(&objects, "ServiceAccount", "hub-index");
        assert_eq!(account["automountServiceAccountToken"], false, "{form}");
        let (spec, _) = pod(&objects);
        assert_eq!(spec["serviceAccountName"], "hub-index", "{form}");
        assert_eq!(spec["automountServiceAccountToken"], false, "{form}");
    }
}

#[test]
fn the_hub_runs_as_non_root() {
    for form in FORMS {
        let objects = rendered(form);
        let namespace = find(&objects, "Namespace", "flotilla-hub");
        assert_eq!(namespace["metadata"]["labels"]["pod-security.kubernetes.io/enforce"], "restricted");
        let (spec, container) = pod(&objects);
        let pod = &spec["securityContext"];
        assert_eq!(pod["runAsNonRoot"], true, "{form}");
        let user = pod["runAsUser"].as_u64().expect("a numeric user");
        assert_ne!(user, 0, "{form}");
        // the user the image is built with (`cargo xtask image`)
        assert_eq!(user, 65532, "{form}");
        assert_eq!(pod["seccompProfile"]["type"], "RuntimeDefault", "{form}");
        let own = &container["securityContext"];
        assert_eq!(own["allowPrivilegeEscalation"], false, "{form}");
        assert_eq!(own["readOnlyRootFilesystem"], true, "{form}");
        assert_eq!(strings(&own["capabilities"]["drop"]), ["ALL"], "{form}");
        assert!(own.get("runAsUser").is_none_or(|u| u.as_u64() != Some(0)), "{form}");
    }
}

/// The long flags `hub-index serve --help` lists.
fn serve_flags() -> BTreeSet<String> {
    let output = Command::new(env!("CARGO_BIN_EXE_hub-index")).args(["serve", "--help"]).output().unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let help = String::from_utf8(output.stdout).unwrap();
    help.split_whitespace()
        .filter_map(|w| w.strip_prefix("--"))
        .map(|w| w.trim_end_matches([',', '.']).to_string())
        .filter(|w| !w.is_empty())
        .collect()
}

#[test]
fn the_arguments_are_what_hub_index_serve_takes() {
    let flags = serve_flags();
    assert!(flags.contains("db") && flags.contains("listen"), "not serve's help: {flags:?}");
    for form in FORMS {
        let objects = rendered(form);
        let (_, container) = pod(&objects);
        assert!(container.get("command").is_none(), "{form}: the image's entrypoint is the binary");
        let args = strings(&container["args"]);
        assert_eq!(args.first(), Some(&"serve"), "{form}");
        for arg in &args {
            if let Some(name) = arg.strip_prefix("--") {
                assert!(flags.contains(name), "{form}: hub-index serve takes no --{name}: {flags:?}");
            }
        }
        // Clap checks every name and value before it prints the help: the arguments parse.
        let output = Command::new(env!("CARGO_BIN_EXE_hub-index")).args(&args).arg("--help").output().unwrap();
        assert!(output.status.success(), "{form}: {args:?}: {}", String::from_utf8_lossy(&output.stderr));
    }
}

/// What the pod mounts at the folder that holds `path`: the volume's name.
fn volume_at<'a>(container: &'a Value, path: &str) -> &'a str {
    container["volumeMounts"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|m| m["mountPath"].as_str().is_some_and(|at| Path::new(path).starts_with(at)))
        .max_by_key(|m| m["mountPath"].as_str().map_or(0, str::len))
        .and_then(|m| m["name"].as_str())
        .unwrap_or_else(|| panic!("nothing mounted at {path}"))
}

fn volume<'a>(spec: &'a Value, name: &str) -> &'a Value {
    spec["volumes"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|v| v["name"] == name)
        .unwrap_or_else(|| panic!("no volume {name}"))
}

#[test]
fn sqlite_keeps_its_database_on_the_claim_and_postgres_takes_it_from_a_secret() {
    let objects = rendered("sqlite");
    let deployment = find(&objects, "Deployment", "hub-index");
    assert_eq!(deployment["spec"]["replicas"], 1);
    assert_eq!(deployment["spec"]["strategy"]["type"], "Recreate");
    let (spec, container) = pod(&objects);
    let args = strings(&container["args"]);
    let db = flag(&args, "--db").strip_prefix("sqlite:").expect("a SQLite database");
    for path in [db, flag(&args, "--cache-dir")] {
        let claim = &volume(spec, volume_at(container, path))["persistentVolumeClaim"]["claimName"];
        assert_eq!(claim, "hub-index-data", "{path}");
    }
    find(&objects, "PersistentVolumeClaim", "hub-index-data");
    let credentials = flag(&args, "--credentials-file");
    let secret = &volume(spec, volume_at(container, credentials))["secret"];
    assert_eq!(secret["secretName"], "hub-index-git");

    let objects = rendered("postgres");
    let deployment = find(&objects, "Deployment", "hub-index");
    assert!(deployment["spec"]["replicas"].as_u64().is_some_and(|n| n > 1), "several replicas");
    assert_eq!(deployment["spec"]["strategy"]["type"], "RollingUpdate");
    let (spec, container) = pod(&objects);
    let args = strings(&container["args"]);
    let variable = flag(&args, "--db").strip_prefix("$(").and_then(|v| v.strip_suffix(')')).expect("--db $(VAR)");
    let env = container["env"].as_array().into_iter().flatten().find(|e| e["name"] == variable).expect("the variable");
    assert_eq!(env["valueFrom"]["secretKeyRef"]["name"], "hub-index-db");
    assert_eq!(env["valueFrom"]["secretKeyRef"]["key"], "url");
    // Each replica's git cache is its own: no volume claim is shared between them.
    let cache = volume(spec, volume_at(container, flag(&args, "--cache-dir")));
    assert!(cache["emptyDir"].is_object() && cache.get("persistentVolumeClaim").is_none(), "{cache}");
    let pdb = find(&objects, "PodDisruptionBudget", "hub-index");
    assert_eq!(pdb["spec"]["selector"], deployment["spec"]["selector"]);
}

#[test]
fn the_service_and_the_probes_reach_the_port_the_hub_listens_on() {
    for form in FORMS {
        let objects = rendered(form);
        let (_, container) = pod(&objects);
        let listen: std::net::SocketAddr = flag(&strings(&container["args"]), "--listen").parse().unwrap();
        assert!(listen.ip().is_unspecified(), "{form}: the kubelet and the Service reach the pod's address");
        let ports = container["ports"].as_array().expect("ports");
        let http = ports.iter().find(|p| p["name"] == "http").expect("a port named http");
        assert_eq!(http["containerPort"].as_u64(), Some(u64::from(listen.port())), "{form}");
        let service = find(&objects, "Service", "hub-index");
        assert_eq!(service["spec"]["ports"][0]["targetPort"], "http", "{form}");
        let labels = &find(&objects, "Deployment", "hub-index")["spec"]["template"]["metadata"]["labels"];
        for (key, value) in service["spec"]["selector"].as_object().expect("a selector") {
            assert_eq!(&labels[key], value, "{form}: the Service selects the hub's pods");
        }
        for probe in ["livenessProbe", "readinessProbe"] {
            assert_eq!(container[probe]["httpGet"]["port"], "http", "{form} {probe}");
        }
    }
}

/// A free port on 127.0.0.1.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// Kills the hub when the test ends, however it ends.
struct Killed(std::process::Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(flotilla_skip_git_daemon, ignore = "FLOTILLA_SKIP=git-daemon")]
async fn the_hub_started_with_the_manifests_arguments_answers_its_probes() {
    let dir = tempfile::tempdir().unwrap();
    let fleet = format!("{WEB_PLACEMENT}---\n{DECLARED_STORE}");
    let cm = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a, namespace: shop}\n";
    fleet_repository(dir.path(), &[("fleet/fleet.yaml", fleet.as_str()), ("web/cm.yaml", cm)], &["dev"]);
    let daemon = GitDaemon::start(dir.path());

    // The SQLite form's arguments, with each mounted folder moved into `dir`, the fleet
    // repository served by git daemon, and a free port of loopback.
    let objects = rendered("sqlite");
    let (_, container) = pod(&objects);
    let port = free_port();
    let mounts: Vec<&str> = container["volumeMounts"]
        .as_array()
        .expect("mounts")
        .iter()
        .map(|m| m["mountPath"].as_str().expect("a path"))
        .collect();
    for at in &mounts {
        std::fs::create_dir_all(dir.path().join(at.trim_start_matches('/'))).unwrap();
    }
    // A path argument (or `sqlite:PATH`) must be on a mounted volume: the root file system is
    // read-only.
    let mut args: Vec<String> = Vec::new();
    for arg in strings(&container["args"]) {
        let (scheme, path) = arg.split_once("sqlite:").map_or(("", arg), |(_, p)| ("sqlite:", p));
        if path.starts_with('/') {
            assert!(mounts.iter().any(|at| Path::new(path).starts_with(at)), "{path} is on no volume");
            args.push(format!("{scheme}{}", dir.path().join(path.trim_start_matches('/')).display()));
        } else {
            args.push(arg.to_string());
        }
    }
    let credentials = dir.path().join("etc/flotilla-hub/git/credentials");
    std::fs::write(&credentials, "flotilla:not-a-secret\n").unwrap();
    let at = args.iter().position(|a| a == "--fleet-repo").unwrap() + 1;
    args[at] = daemon.url("fleet");
    let at = args.iter().position(|a| a == "--listen").unwrap() + 1;
    args[at] = format!("127.0.0.1:{port}");

    let hub = Killed(
        Command::new(env!("CARGO_BIN_EXE_hub-index"))
            .args(&args)
            .current_dir(dir.path())
            .stderr(std::fs::File::create(dir.path().join("hub.log")).unwrap())
            .spawn()
            .unwrap(),
    );
    let client = reqwest::Client::new();
    for probe in ["livenessProbe", "readinessProbe"] {
        let path = container[probe]["httpGet"]["path"].as_str().expect("an HTTP probe");
        let url = format!("http://127.0.0.1:{port}{path}");
        let started = Instant::now();
        loop {
            let status = client.get(&url).send().await.map(|r| r.status().as_u16());
            if status.as_ref().is_ok_and(|s| *s == 200) {
                break;
            }
            if started.elapsed() > Duration::from_secs(30) {
                let log = std::fs::read_to_string(dir.path().join("hub.log")).unwrap_or_default();
                panic!("{probe} {path}: {status:?} after 30 s\nhub-index {args:?}\n{log}");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    // The database is where the manifests put it: on the volume.
    let db = dir.path().join("var/lib/flotilla-hub/hub.db");
    assert!(db.is_file(), "no {}", db.display());
    drop(hub);
}

#[tokio::test]
async fn the_test_api_server_accepts_every_object_and_the_hub_becomes_available() {
    for form in FORMS {
        let server = TestServer::start_with("127.0.0.1:0", &Options { ready_delay: Duration::ZERO }).unwrap();
        let client = kube::Client::try_from(kube::Config::new(server.url.parse().unwrap())).unwrap();
        let mut cluster = Cluster::new(client);
        let mut failures = Vec::new();
        for object in &rendered(form) {
            if let Err(e) = cluster.apply(object).await {
                failures.push(e.to_string());
            }
        }
        assert!(failures.is_empty(), "{form}: the test API server refused:\n{}", failures.join("\n"));

        let deployment = ObjectRef {
            api_version: "apps/v1".into(),
            kind: "Deployment".into(),
            namespace: "flotilla-hub".into(),
            name: "hub-index".into(),
        };
        let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
        loop {
            let live = cluster.get(&deployment).await.unwrap().expect("the Deployment was applied");
            let assessment = health::assess(&live);
            if assessment.health == Health::Healthy {
                let want = live["spec"]["replicas"].as_u64();
                assert_eq!(live["status"]["availableReplicas"].as_u64(), want, "{form}");
                break;
            }
            assert!(tokio::time::Instant::now() < deadline, "{form}: not available after 5 s: {assessment:?}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}
