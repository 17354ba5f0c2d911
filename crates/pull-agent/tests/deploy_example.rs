//! The deployment example (`examples/deploy/`), the manifests that install the pull-agent in a
//! cluster: it renders as `kubectl kustomize` renders it, its `agent.yaml` is a valid
//! configuration whose files the pod provides, the test API server accepts every object and makes
//! the agent available, and its ClusterRole grants exactly what the example fleet needs, kind by
//! kind, with no wildcard.
//!
//! The golden file `tests/data/deploy-example.yaml` is kubectl's output, recorded from the
//! workspace root with kubectl v1.32.4 (kustomize v5.5.0):
//!
//! ```sh
//! kubectl kustomize examples/deploy > crates/pull-agent/tests/data/deploy-example.yaml
//! ```
//!
//! Record it again that way after changing the example; never write it from our own output.
//! (The ClusterRole's nine `- watch` lines were added to it by hand, one after each `- list` as
//! kubectl prints a rule's verbs in order, where kubectl was not installed: record it again to
//! confirm.)
//!
//! What the agent asks of the API server is recorded and checked against these roles by
//! `tests/rbac.rs`; the test here holds the ClusterRole to no more than the example fleet needs.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::Duration;

use flotilla_core::fleet::{ClusterIdentity, Compliance, Fleet, Remediation};
use flotilla_core::health::{self, Health};
use flotilla_core::plan::ObjectRef;
use kube_testserver::registry::Registry;
use kube_testserver::{Options, TestServer};
use pull_agent::cluster::Cluster;
use pull_agent::config::{Config, Kubernetes};
use pull_agent::local::{Sources, render_cluster};
use serde_json::Value;

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The example as our renderer renders it.
fn rendered() -> Vec<Value> {
    pull_agent::folder::render_dir(&workspace().join("examples/deploy")).expect("the example renders")
}

fn find<'a>(objects: &'a [Value], kind: &str, name: &str) -> &'a Value {
    objects
        .iter()
        .find(|o| o["kind"] == kind && o["metadata"]["name"] == name)
        .unwrap_or_else(|| panic!("the example has no {kind} {name}"))
}

fn strings(value: &Value) -> Vec<&str> {
    value.as_array().into_iter().flatten().filter_map(Value::as_str).collect()
}

#[test]
fn renders_as_kubectl_kustomize_does() {
    let want = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/deploy-example.yaml"))
        .expect("the golden file is checked in");
    let got = flotilla_core::yaml::to_string_all(&rendered());
    if got != want {
        let (w, g): (Vec<&str>, Vec<&str>) = (want.lines().collect(), got.lines().collect());
        let first = w.iter().zip(&g).position(|(a, b)| a != b).unwrap_or(w.len().min(g.len()));
        panic!(
            "the rendering differs from kubectl's at line {}\n  kubectl:  {:?}\n  flotilla: {:?}",
            first + 1,
            w.get(first),
            g.get(first)
        );
    }
}

/// The agent's configuration, from the ConfigMap the pod mounts.
fn agent_config(objects: &[Value]) -> Config {
    let text =
        find(objects, "ConfigMap", "pull-agent-config")["data"]["agent.yaml"].as_str().expect("agent.yaml is a string");
    Config::parse(text.as_bytes(), Path::new("/"), None).unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn the_agent_config_is_valid() {
    let config = agent_config(&rendered());
    assert_eq!(config.cluster.name, "store-0042");
    assert_eq!(config.cluster.environment, "prod");
    let labels: Vec<(&str, &str)> = config.cluster.labels.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    assert_eq!(labels, [("canary", "false"), ("kind", "store"), ("region", "us-east")]);
    assert_eq!(config.fleet.url, "https://git.retail.example/retail/fleet.git");
    assert_eq!(config.fleet.credentials_file.as_deref(), Some(Path::new("/etc/flotilla/git/credentials")));
    let hub = config.hub.as_ref().expect("the example reports to a hub");
    assert_eq!(hub.url, "https://hub.retail.example");
    assert_eq!(hub.token_file, Path::new("/var/lib/flotilla/cluster-token"));
    assert_eq!(config.poll_interval, Duration::from_secs(60));
    assert_eq!(config.state_dir, Path::new("/var/lib/flotilla"));
    assert_eq!(config.namespace, "flotilla-system");
    assert_eq!(config.kubernetes, Kubernetes::InCluster);
}

/// The container named `name` in the pod spec's list `list`.
fn container<'a>(spec: &'a Value, list: &str, name: &str) -> &'a Value {
    spec[list]
        .as_array()
        .into_iter()
        .flatten()
        .find(|c| c["name"] == name)
        .unwrap_or_else(|| panic!("no {list} entry {name}"))
}

/// What `container` finds at `path`, as `SOURCE NAME:PATH INSIDE`
/// (`secret pull-agent-git:credentials`): from the mount at `path` itself (a subPath mount) or at
/// the closest folder above it.
fn mounted(spec: &Value, container: &Value, path: &Path) -> String {
    let mount = container["volumeMounts"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|m| m["mountPath"].as_str().is_some_and(|at| path.starts_with(at)))
        .max_by_key(|m| m["mountPath"].as_str().map_or(0, str::len))
        .unwrap_or_else(|| panic!("{}: nothing mounted at {}", container["name"], path.display()));
    let at = Path::new(mount["mountPath"].as_str().expect("filtered on it"));
    let below = path.strip_prefix(at).expect("filtered on it");
    let inside: PathBuf =
        Path::new(mount["subPath"].as_str().unwrap_or_default()).components().chain(below.components()).collect();
    let volume = spec["volumes"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|v| v["name"] == mount["name"])
        .unwrap_or_else(|| panic!("no volume {}", mount["name"]));
    let source = match volume {
        v if v["configMap"].is_object() => format!("configMap {}", v["configMap"]["name"].as_str().unwrap_or("?")),
        v if v["secret"].is_object() => format!("secret {}", v["secret"]["secretName"].as_str().unwrap_or("?")),
        v if v["persistentVolumeClaim"].is_object() => {
            format!("persistentVolumeClaim {}", v["persistentVolumeClaim"]["claimName"].as_str().unwrap_or("?"))
        }
        v => format!("another kind of volume: {v}"),
    };
    format!("{source}:{}", inside.display())
}

#[test]
fn the_pod_provides_what_the_config_names() {
    let objects = rendered();
    let config = agent_config(&objects);
    let deployment = find(&objects, "Deployment", "pull-agent");
    let spec = &deployment["spec"]["template"]["spec"];
    let agent = container(spec, "containers", "pull-agent");
    let register = container(spec, "initContainers", "register");
    assert_eq!(strings(&agent["args"]), ["run", "--config", "/etc/flotilla/agent.yaml"]);
    assert_eq!(
        strings(&register["args"]),
        ["register", "--config", "/etc/flotilla/agent.yaml", "--join-token", "/etc/flotilla/join/token"]
    );

    let state = "persistentVolumeClaim pull-agent-state";
    let token_file = &config.hub.as_ref().expect("a hub").token_file;
    for c in [agent, register] {
        assert_eq!(mounted(spec, c, Path::new("/etc/flotilla/agent.yaml")), "configMap pull-agent-config:agent.yaml");
        assert_eq!(mounted(spec, c, &config.state_dir), format!("{state}:"));
        // register writes the token where run reads it, on the volume that outlives the pod
        assert_eq!(mounted(spec, c, token_file), format!("{state}:cluster-token"));
    }
    let credentials = config.fleet.credentials_file.as_deref().expect("a credentials file");
    assert_eq!(mounted(spec, agent, credentials), "secret pull-agent-git:credentials");
    assert_eq!(mounted(spec, register, Path::new("/etc/flotilla/join/token")), "secret pull-agent-join-token:token");
    find(&objects, "PersistentVolumeClaim", "pull-agent-state");

    // The agent runs as its service account, bound to both roles, in the namespace its
    // inventories live in; the Role grants the inventories and nothing else.
    assert_eq!(deployment["metadata"]["namespace"], config.namespace.as_str());
    assert_eq!(spec["serviceAccountName"], "pull-agent");
    let account = serde_json::json!([{"kind": "ServiceAccount", "name": "pull-agent", "namespace": config.namespace}]);
    for (kind, role_kind) in [("ClusterRoleBinding", "ClusterRole"), ("RoleBinding", "Role")] {
        let binding = find(&objects, kind, "pull-agent");
        assert_eq!(binding["subjects"], account, "{kind}");
        assert_eq!(binding["roleRef"]["kind"], role_kind, "{kind}");
        assert_eq!(binding["roleRef"]["name"], "pull-agent", "{kind}");
    }
    let role = find(&objects, "Role", "pull-agent");
    assert_eq!(role["metadata"]["namespace"], config.namespace.as_str());
    let (granted, urls) = grants(&role["rules"]);
    let inventories: BTreeSet<Grant> = INVENTORY.iter().map(|v| grant("", "configmaps", v, "")).collect();
    assert_eq!(granted, inventories);
    assert!(urls.is_empty());
}

#[tokio::test]
async fn the_test_api_server_accepts_every_object_and_the_agent_becomes_available() {
    let server = TestServer::start_with("127.0.0.1:0", &Options { ready_delay: Duration::ZERO }).unwrap();
    let client = kube::Client::try_from(kube::Config::new(server.url.parse().unwrap())).unwrap();
    let mut cluster = Cluster::new(client);
    let mut failures = Vec::new();
    for object in &rendered() {
        if let Err(e) = cluster.apply(object).await {
            failures.push(e.to_string());
        }
    }
    assert!(failures.is_empty(), "the test API server refused:\n{}", failures.join("\n"));

    let deployment = ObjectRef {
        api_version: "apps/v1".into(),
        kind: "Deployment".into(),
        namespace: "flotilla-system".into(),
        name: "pull-agent".into(),
    };
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    loop {
        let live = cluster.get(&deployment).await.unwrap().expect("the Deployment was applied");
        let assessment = health::assess(&live);
        if assessment.health == Health::Healthy {
            let conditions = live["status"]["conditions"].as_array().cloned().unwrap_or_default();
            assert!(conditions.iter().any(|c| c["type"] == "Available" && c["status"] == "True"), "{conditions:?}");
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "not available after 5 s: {assessment:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// One permission: API group, resource, verb, and the one name it is limited to ("" for any).
type Grant = (String, String, String, String);

fn grant(group: &str, resource: &str, verb: &str, name: &str) -> Grant {
    (group.into(), resource.into(), verb.into(), name.into())
}

/// The verbs of every kind the agent applies: server-side apply (PATCH, and create when new),
/// get, list by label, watch (`run` watches every kind it applies), delete on prune — as
/// `tests/rbac.rs` records the agent asking.
const APPLY: [&str; 6] = ["get", "list", "watch", "create", "patch", "delete"];

/// The verbs on the agent's inventory ConfigMaps in its own namespace (its Role): written,
/// read and deleted, never watched.
const INVENTORY: [&str; 5] = ["get", "list", "create", "patch", "delete"];

/// What RBAC rules grant, one permission at a time, and their non-resource URLs with verbs.
fn grants(rules: &Value) -> (BTreeSet<Grant>, BTreeSet<(String, String)>) {
    let mut granted = BTreeSet::new();
    let mut urls = BTreeSet::new();
    for rule in rules.as_array().expect("rules is a list") {
        let names = strings(&rule["resourceNames"]);
        let names = if names.is_empty() { vec![""] } else { names };
        for verb in strings(&rule["verbs"]) {
            for url in strings(&rule["nonResourceURLs"]) {
                urls.insert((url.to_string(), verb.to_string()));
            }
            for group in strings(&rule["apiGroups"]) {
                for resource in strings(&rule["resources"]) {
                    for name in &names {
                        granted.insert(grant(group, resource, verb, name));
                    }
                }
            }
        }
    }
    (granted, urls)
}

/// The API group and plural resource of an object, as the test API server serves it (the
/// agent learns them the same way, through discovery).
fn resource_of(registry: &Registry, object: &Value) -> (String, String) {
    let api_version = object["apiVersion"].as_str().unwrap_or_default();
    let kind = object["kind"].as_str().unwrap_or_default();
    let group = api_version.rsplit_once('/').map_or("", |(g, _)| g);
    let served = registry.by_kind(group, kind).unwrap_or_else(|| {
        panic!("the test API server serves no {kind} in {api_version}: add it to its registry, or map it here")
    });
    (group.to_string(), served.plural.clone())
}

/// What the API server asks beyond the verb for writing RBAC: `escalate` on a role the agent
/// writes, `bind` on a role a binding of the agent names.
fn rbac_extras(object: &Value, need: &mut BTreeSet<Grant>) {
    let rbac = "rbac.authorization.k8s.io";
    let name = object["metadata"]["name"].as_str().unwrap_or_default();
    let plural = |kind: &Value| if kind == "Role" { "roles" } else { "clusterroles" };
    if object["apiVersion"].as_str().is_some_and(|v| v.starts_with(rbac)) {
        match object["kind"].as_str() {
            Some(kind @ ("Role" | "ClusterRole")) => {
                need.insert(grant(rbac, plural(&Value::from(kind)), "escalate", name));
            }
            Some("RoleBinding" | "ClusterRoleBinding") => {
                let role = object["roleRef"]["name"].as_str().unwrap_or_default();
                need.insert(grant(rbac, plural(&object["roleRef"]["kind"]), "bind", role));
            }
            _ => {}
        }
    }
}

/// Everything the agent needs to run the example fleet on any of its declared clusters (stores
/// and cloud clusters): what each renders, what its policies read and enforce, and what the agent
/// itself does.
fn needed() -> BTreeSet<Grant> {
    let registry = Registry::default();
    let mut need = BTreeSet::new();
    // The agent applies its own namespace before each inventory, and reads the CRDs it applies
    // until they are established.
    need.extend(APPLY.iter().map(|v| grant("", "namespaces", v, "")));
    need.insert(grant("apiextensions.k8s.io", "customresourcedefinitions", "get", ""));

    let fleet_dir = workspace().join("examples/retail-fleet/infra");
    let (fleet, errors) = Fleet::from_snapshot(&pull_agent::folder::snapshot(&fleet_dir).unwrap());
    assert_eq!(errors, [], "the example fleet has errors");
    assert!(fleet.clusters.iter().any(|c| c.metadata.labels.get("kind").is_some_and(|k| k == "store")));
    let sources = Sources { fleet_dir, overrides: BTreeMap::new() };
    for cluster in &fleet.clusters {
        let identity = ClusterIdentity {
            name: cluster.metadata.name.clone(),
            environment: cluster.spec.environment.clone(),
            labels: cluster.metadata.labels.clone(),
        };
        let report = render_cluster(&sources, &identity, None).unwrap();
        assert_eq!(report.errors, Vec::<String>::new(), "{}", identity.name);
        for object in report.rendered.iter().flat_map(|r| &r.objects) {
            let (group, resource) = resource_of(&registry, object);
            need.extend(APPLY.iter().map(|v| grant(&group, &resource, v, "")));
            rbac_extras(object, &mut need);
        }
    }

    for policy in &fleet.policies {
        for template in &policy.spec.objects {
            let (group, resource) = resource_of(&registry, &template.object);
            need.extend(["get", "list"].iter().map(|v| grant(&group, &resource, v, "")));
            if policy.spec.remediation == Remediation::Enforce {
                let verbs: &[&str] =
                    if template.compliance == Compliance::MustNotHave { &["delete"] } else { &["create", "patch"] };
                need.extend(verbs.iter().map(|v| grant(&group, &resource, v, "")));
                rbac_extras(&template.object, &mut need);
            }
        }
    }
    need
}

#[test]
fn the_cluster_role_grants_exactly_what_the_example_fleet_needs() {
    let objects = rendered();
    let rules = &find(&objects, "ClusterRole", "pull-agent")["rules"];
    for rule in rules.as_array().expect("rules is a list") {
        for field in ["apiGroups", "resources", "verbs", "resourceNames"] {
            assert!(!strings(&rule[field]).iter().any(|s| s.contains('*')), "a wildcard in {field}: {rule}");
        }
    }
    let (granted, urls) = grants(rules);
    let discovery: BTreeSet<(String, String)> =
        ["/api", "/api/*", "/apis", "/apis/*", "/version"].iter().map(|u| (u.to_string(), "get".to_string())).collect();
    assert_eq!(urls, discovery);

    let needed = needed();
    // A permission limited to a name is also granted by the same permission for any name.
    let missing: Vec<&Grant> = needed
        .iter()
        .filter(|(g, r, v, n)| !granted.contains(&grant(g, r, v, n)) && !granted.contains(&grant(g, r, v, "")))
        .collect();
    assert!(missing.is_empty(), "the ClusterRole lacks what the example fleet needs: {missing:#?}");
    let extra: Vec<&Grant> = granted.difference(&needed).collect();
    assert!(extra.is_empty(), "the ClusterRole grants more than the example fleet needs: {extra:#?}");
}
