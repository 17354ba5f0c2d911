//! `cargo xtask bench policy [--quick]`: policy evaluation, the agent's per-cycle compliance
//! check, in process.
//!
//! The PCI policies of the example fleet (`examples/retail-fleet/infra/fleet/policies-pci.yaml`)
//! are read as the agent reads them ([`Fleet::from_snapshot`], then [`Fleet::select`] for a
//! store cluster: the 7 that select `kind: store`). Each is evaluated with
//! [`flotilla_core::policy::evaluate`] against live objects made up here as an API server
//! returns them (`uid`, `resourceVersion`, `managedFields`, kubectl's last-applied annotation,
//! `status`): Namespaces, Pods, Deployments, DaemonSets, StatefulSets, Services, ConfigMaps,
//! Secrets, ServiceAccounts, ClusterRoles and NetworkPolicies, 1,000 and 10,000 of them
//! (`--quick`: 1,000). Some break a policy: the default-deny NetworkPolicy lacks `Egress`, the
//! monitoring agent's ClusterRole has an extra rule, a few workloads run in `default` and a few
//! Pods in `bt` run a privileged container; others nearly do (the debug NodePort's name in
//! another namespace, privileged Pods in `kube-system`). So evaluation finds violations and
//! computes fixes, and before anything is timed the outcome of each policy is checked exactly:
//! a broken evaluation fails the bench.
//!
//! Every policy sees every object, as `pull-agent check` passes them; the agent itself lists
//! only each policy's kinds and namespaces, so its inputs are smaller. Not measured: listing the
//! objects from a cluster, carrying out the fixes, the report.

use std::fmt::Write as _;

use std::time::Instant;

use anyhow::{Context as _, Result, ensure};
use flotilla_core::fleet::{ClusterIdentity, Fleet, Policy};
use flotilla_core::policy::{self, Evaluation, Fix};
use flotilla_core::snapshot::Snapshot;
use serde_json::{Value, json};

/// The example fleet's policies, from the workspace root.
const POLICIES: &str = "examples/retail-fleet/infra/fleet/policies-pci.yaml";
/// The policies that select a store cluster, as [`Fleet::from_snapshot`] sorts them.
const STORE_POLICIES: [&str; 7] = [
    "pci-audit-log-shipper",
    "pci-default-deny-bt",
    "pci-monitoring-agent-least-privilege",
    "pci-no-default-namespace-workloads",
    "pci-no-nodeport-bt",
    "pci-no-privileged-containers",
    "pci-pod-security-restricted",
];
/// The kinds the bench's cluster serves: what it holds, and every kind the policies name.
const SERVED: [(&str, &str); 12] = [
    ("v1", "Namespace"),
    ("v1", "Pod"),
    ("v1", "Service"),
    ("v1", "ConfigMap"),
    ("v1", "Secret"),
    ("v1", "ServiceAccount"),
    ("apps/v1", "Deployment"),
    ("apps/v1", "DaemonSet"),
    ("apps/v1", "StatefulSet"),
    ("rbac.authorization.k8s.io/v1", "ClusterRole"),
    ("networking.k8s.io/v1", "NetworkPolicy"),
    ("networking.k8s.io/v1", "Ingress"),
];

pub fn run(quick: bool) -> Result<String> {
    if cfg!(debug_assertions) {
        // `cargo xtask` builds without optimizations: measure core's code as it ships.
        return crate::again_optimized(true);
    }
    let (sizes, repetitions): (&[usize], usize) = if quick { (&[1_000], 7) } else { (&[1_000, 10_000], 21) };
    let fleet = load_fleet()?;
    let policies = store_policies(&fleet)?;
    let mut out = format!(
        "Policy evaluation, the agent's per-cycle compliance check: `flotilla_core::policy::evaluate` of the \
         {} PCI policies of `{POLICIES}` that select a store cluster, against live objects as an API server \
         returns them (Pods, Deployments, DaemonSets, StatefulSets, Services, ConfigMaps, Secrets, \
         ServiceAccounts, ClusterRoles, NetworkPolicies, Namespaces), every policy seeing every object. \
         Four policies are violated (a NetworkPolicy lacking Egress, a ClusterRole with an extra rule, \
         workloads in `default`, privileged Pods in `bt`; two fixes computed) and three comply, checked \
         before timing. One evaluation is all {} policies once; release build, in process, {repetitions} \
         evaluations per size.\n\n",
        policies.len(),
        policies.len(),
    );
    out.push_str(
        "| objects | policies | evaluations | median ms per evaluation of all policies | slowest ms | µs per object | violations found |\n",
    );
    out.push_str("|---:|---:|---:|---:|---:|---:|---:|\n");
    for &n in sizes {
        let cluster = Cluster::generate(n)?;
        let violations = check(&policies, &cluster).with_context(|| format!("checking {n} objects"))?;
        let mut times = Vec::with_capacity(repetitions);
        for _ in 0..repetitions {
            let started = Instant::now();
            let evaluations = evaluate_all(&policies, &cluster.objects);
            times.push(started.elapsed().as_secs_f64() * 1e3);
            let found: usize = std::hint::black_box(&evaluations).iter().map(|e| e.report.violations.len()).sum();
            ensure!(found == violations, "{found} violations in a timed evaluation, {violations} when checked");
        }
        times.sort_by(f64::total_cmp);
        let (median, slowest) = (times[times.len() / 2], times[times.len() - 1]);
        writeln!(
            out,
            "| {} | {} | {repetitions} | {median:.3} | {slowest:.3} | {:.3} | {violations} |",
            flotilla_simulate::output::count(n as u64),
            policies.len(),
            median * 1e3 / float(n),
        )?;
    }
    Ok(out)
}

/// A count as a float, for averages.
#[expect(clippy::cast_precision_loss, reason = "object counts stay far below 2^52")]
fn float(n: usize) -> f64 {
    n as f64
}

/// The example fleet's policies, read as the agent reads its fleet repository.
fn load_fleet() -> Result<Fleet> {
    let path = crate::root().join(POLICIES);
    let yaml = std::fs::read(&path).with_context(|| format!("reading {}", path.display()))?;
    let mut snapshot = Snapshot::new();
    snapshot.insert_file(format!("{}/policies-pci.yaml", flotilla_core::fleet::FLEET_DIR), yaml);
    let (fleet, errors) = Fleet::from_snapshot(&snapshot);
    ensure!(errors.is_empty(), "{POLICIES}: {errors:?}");
    Ok(fleet)
}

/// The policies that select a store cluster: exactly [`STORE_POLICIES`], or an error naming
/// what was found.
fn store_policies(fleet: &Fleet) -> Result<Vec<&Policy>> {
    let identity = ClusterIdentity {
        name: "store-bench".parse().expect("a name by the rule"),
        environment: "prod".into(),
        labels: [("kind".to_string(), "store".to_string())].into_iter().collect(),
    };
    let policies = fleet.select(&identity).policies;
    let names: Vec<&str> = policies.iter().map(|p| p.name()).collect();
    ensure!(
        names == STORE_POLICIES,
        "{POLICIES} holds {} policies, of which {names:?} select a store cluster; the bench expects {STORE_POLICIES:?}",
        fleet.policies.len()
    );
    Ok(policies)
}

fn evaluate_all(policies: &[&Policy], objects: &[Value]) -> Vec<Evaluation> {
    let served = |api_version: &str, kind: &str| SERVED.contains(&(api_version, kind));
    policies.iter().map(|p| policy::evaluate(p, objects, &served)).collect()
}

/// What one policy must come to on a [`Cluster`].
#[derive(Debug)]
struct Expected {
    name: &'static str,
    compliant: bool,
    violations: usize,
    /// What the fixes act on, as `Kind/name`; deletes are prefixed `delete `.
    fixes: &'static [&'static str],
}

/// Evaluates the policies once and checks each one's outcome exactly; returns how many
/// violations were found in all.
fn check(policies: &[&Policy], cluster: &Cluster) -> Result<usize> {
    let expected = [
        Expected { name: "pci-audit-log-shipper", compliant: true, violations: 0, fixes: &[] },
        // spec.policyTypes has no item "Egress".
        Expected {
            name: "pci-default-deny-bt",
            compliant: false,
            violations: 1,
            fixes: &["NetworkPolicy/default-deny"],
        },
        // The secrets rule mustonlyhave does not allow.
        Expected {
            name: "pci-monitoring-agent-least-privilege",
            compliant: false,
            violations: 1,
            fixes: &["ClusterRole/monitoring-agent"],
        },
        // Templates without a name are never enforced.
        Expected {
            name: "pci-no-default-namespace-workloads",
            compliant: false,
            violations: cluster.default_workloads,
            fixes: &[],
        },
        // Its namesake in `pos` does not count.
        Expected { name: "pci-no-nodeport-bt", compliant: true, violations: 0, fixes: &[] },
        Expected {
            name: "pci-no-privileged-containers",
            compliant: false,
            violations: cluster.privileged_pods,
            fixes: &[],
        },
        Expected { name: "pci-pod-security-restricted", compliant: true, violations: 0, fixes: &[] },
    ];
    ensure!(
        cluster.default_workloads > 0 && cluster.privileged_pods > 0,
        "the cluster has no workloads in default or no privileged Pods in bt: nothing to find"
    );
    let evaluations = evaluate_all(policies, &cluster.objects);
    ensure!(evaluations.len() == expected.len(), "{} evaluations for {} policies", evaluations.len(), expected.len());
    let mut problems = Vec::new();
    for (evaluation, want) in evaluations.iter().zip(&expected) {
        let report = &evaluation.report;
        let fixes: Vec<String> = evaluation.fixes.iter().map(describe_fix).collect();
        if report.name != want.name
            || report.compliant != Some(want.compliant)
            || report.violations.len() != want.violations
            || fixes != want.fixes
        {
            problems.push(format!(
                "{}: compliant {:?} with {} violations and fixes {fixes:?}, expected {} {:?} with {} and {:?}; violations: {:?}",
                report.name,
                report.compliant,
                report.violations.len(),
                want.name,
                Some(want.compliant),
                want.violations,
                want.fixes,
                report.violations.iter().take(3).map(|v| &v.message).collect::<Vec<_>>(),
            ));
        }
    }
    // The fixes must make the two enforced policies' objects comply.
    for fix in evaluations.iter().flat_map(|e| &e.fixes) {
        if let Fix::Apply(object) = fix {
            let ok = match object["kind"].as_str() {
                Some("NetworkPolicy") => object["spec"]["policyTypes"] == json!(["Ingress", "Egress"]),
                Some("ClusterRole") => object["rules"].as_array().is_some_and(|r| r.len() == 3),
                _ => false,
            };
            if !ok {
                problems.push(format!("a wrong fix: {object}"));
            }
        }
    }
    ensure!(problems.is_empty(), "policy evaluation is broken:\n{}", problems.join("\n"));
    Ok(evaluations.iter().map(|e| e.report.violations.len()).sum())
}

fn describe_fix(fix: &Fix) -> String {
    match fix {
        Fix::Apply(object) => {
            format!("{}/{}", object["kind"].as_str().unwrap_or("?"), object["metadata"]["name"].as_str().unwrap_or("?"))
        }
        Fix::Delete { kind, name, .. } => format!("delete {kind}/{name}"),
    }
}

/// A store cluster's live objects, with the flaws [`check`] expects counted.
#[derive(Debug)]
struct Cluster {
    objects: Vec<Value>,
    /// Deployments, DaemonSets and StatefulSets in `default`.
    default_workloads: usize,
    /// Pods in `bt` with a privileged container.
    privileged_pods: usize,
}

/// The namespaces the generated objects spread over (`default` is chosen apart, rarely).
const NAMESPACES: [&str; 5] = ["bt", "pos", "monitoring", "kube-system", "flotilla-system"];
/// The kinds of the generated objects, in the proportions of a store cluster: Pods most.
const KINDS: [&str; 20] = [
    "Pod",
    "Pod",
    "Pod",
    "Pod",
    "Pod",
    "Pod",
    "Pod",
    "Pod",
    "ConfigMap",
    "ConfigMap",
    "ConfigMap",
    "Service",
    "Service",
    "Deployment",
    "Deployment",
    "Secret",
    "ServiceAccount",
    "ClusterRole",
    "DaemonSet",
    "StatefulSet",
];
const APPS: [&str; 8] = [
    "pos-terminal",
    "bt-collector",
    "card-vault",
    "receipt-printer",
    "inventory-sync",
    "loyalty",
    "fluent-bit",
    "scale",
];

impl Cluster {
    /// Exactly `n` objects: the fixed ones the policies name, then the rest, deterministically.
    fn generate(n: usize) -> Result<Cluster> {
        let mut objects = fixed();
        let fixed = objects.len();
        ensure!(n >= fixed, "a cluster of {n} objects is too small: the policies' own objects are {fixed}");
        let (mut default_workloads, mut privileged_pods) = (0, 0);
        for i in 0..n - fixed {
            let round = i / KINDS.len();
            let kind = KINDS[i % KINDS.len()];
            // One round in fifty puts everything it makes in `default`.
            let namespace = if round % 50 == 7 { "default" } else { NAMESPACES[(i + round) % NAMESPACES.len()] };
            let app = APPS[(i / 3) % APPS.len()];
            // One round in forty makes its Pods privileged (in kube-system, one in ten, as CNI Pods are).
            let privileged = match namespace {
                "bt" => round % 40 == 3,
                "kube-system" => round.is_multiple_of(10),
                _ => false,
            };
            let object = match kind {
                "Pod" => {
                    privileged_pods += usize::from(privileged && namespace == "bt");
                    pod(namespace, app, i, privileged)
                }
                "ConfigMap" => config_map(namespace, app, i),
                "Service" => service(namespace, app, i),
                "Secret" => secret(namespace, app, i),
                "ServiceAccount" => service_account(namespace, app, i),
                "ClusterRole" => cluster_role(&format!("{app}-reader-{i}"), i, &[reader_rule(app)]),
                "Deployment" | "DaemonSet" | "StatefulSet" => {
                    default_workloads += usize::from(namespace == "default");
                    workload(kind, namespace, app, i)
                }
                other => unreachable!("KINDS holds {other}"),
            };
            objects.push(object);
        }
        Ok(Cluster { objects, default_workloads, privileged_pods })
    }
}

/// The objects the policies name, some of them flawed.
fn fixed() -> Vec<Value> {
    let restricted = json!({"pod-security.kubernetes.io/enforce": "restricted"});
    let mut objects: Vec<Value> = ["default", "kube-system", "pos"]
        .into_iter()
        .chain(["bt", "monitoring", "flotilla-system"])
        .enumerate()
        .map(|(i, name)| {
            let mut ns = namespace(name, i);
            if name == "bt" || name == "flotilla-system" {
                ns["metadata"]["labels"]
                    .as_object_mut()
                    .expect("labels")
                    .extend(restricted.as_object().cloned().expect("a map"));
            }
            ns
        })
        .collect();
    // Lacks Egress: pci-default-deny-bt is violated.
    let mut deny =
        object("networking.k8s.io/v1", "NetworkPolicy", Some("bt"), "default-deny", "bt", 900_001, &json!({}));
    deny["spec"] = json!({"podSelector": {}, "policyTypes": ["Ingress"]});
    objects.push(deny);
    let mut shipper = workload("DaemonSet", "monitoring", "audit-log-shipper", 900_002);
    shipper["metadata"]["name"] = "audit-log-shipper".into();
    objects.push(shipper);
    // One rule more than the policy allows: pci-monitoring-agent-least-privilege is violated.
    let rules = [
        json!({"apiGroups": [""], "resources": ["nodes", "nodes/metrics", "services", "endpoints", "pods"], "verbs": ["get", "list", "watch"]}),
        json!({"apiGroups": ["discovery.k8s.io"], "resources": ["endpointslices"], "verbs": ["get", "list", "watch"]}),
        json!({"nonResourceURLs": ["/metrics"], "verbs": ["get"]}),
        json!({"apiGroups": [""], "resources": ["secrets"], "verbs": ["get", "list"]}),
    ];
    objects.push(cluster_role("monitoring-agent", 900_003, &rules));
    // The debug NodePort's name, outside `bt`: pci-no-nodeport-bt holds.
    let mut debug = service("pos", "bt-collector", 900_004);
    debug["metadata"]["name"] = "bt-collector-debug".into();
    debug["spec"]["type"] = "NodePort".into();
    debug["spec"]["ports"][0]["nodePort"] = 30_443.into();
    objects.push(debug);
    objects
}

/// A uid as the API server writes them, from a number.
fn uid(i: usize) -> String {
    let h = i.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    format!("{:08x}-{:04x}-4{:03x}-a{:03x}-{:012x}", h >> 32 & 0xffff_ffff, h >> 16 & 0xffff, i & 0xfff, h & 0xfff, i)
}

/// A short hash-like suffix (a pod-template-hash, a ReplicaSet's), from a number.
fn suffix(i: usize) -> String {
    format!("{:010x}", i.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 24 & 0xff_ffff_ffff)
}

/// An object as the API server returns it: metadata it sets, kubectl's last-applied
/// annotation, `managedFields`, and `body` (spec, data, status …) merged in.
fn object(
    api_version: &str,
    kind: &str,
    namespace: Option<&str>,
    name: &str,
    app: &str,
    i: usize,
    body: &Value,
) -> Value {
    let mut object = json!({
        "apiVersion": api_version,
        "kind": kind,
        "metadata": {
            "name": name,
            "uid": uid(i),
            "resourceVersion": (1_000_000 + i * 7).to_string(),
            "generation": 1 + i % 4,
            "creationTimestamp": format!("2025-11-{:02}T{:02}:{:02}:{:02}Z", 1 + i % 28, i % 24, i % 60, (i * 7) % 60),
            "labels": {"app.kubernetes.io/name": app, "app.kubernetes.io/part-of": "retail-store"},
            "annotations": {
                "kubectl.kubernetes.io/last-applied-configuration":
                    format!("{{\"apiVersion\":\"{api_version}\",\"kind\":\"{kind}\",\"metadata\":{{\"name\":\"{name}\"}}}}\n"),
            },
            "managedFields": [{
                "manager": "flotilla-agent",
                "operation": "Apply",
                "apiVersion": api_version,
                "time": "2025-11-20T10:00:00Z",
                "fieldsType": "FieldsV1",
                "fieldsV1": {"f:metadata": {"f:labels": {"f:app.kubernetes.io/name": {}, "f:app.kubernetes.io/part-of": {}}}},
            }],
        },
    });
    if let Some(namespace) = namespace {
        object["metadata"]["namespace"] = namespace.into();
    }
    for (key, value) in body.as_object().into_iter().flatten() {
        object[key] = value.clone();
    }
    object
}

fn namespace(name: &str, i: usize) -> Value {
    let mut ns = object(
        "v1",
        "Namespace",
        None,
        name,
        name,
        800_000 + i,
        &json!({"spec": {"finalizers": ["kubernetes"]}, "status": {"phase": "Active"}}),
    );
    ns["metadata"]["labels"] = json!({"kubernetes.io/metadata.name": name});
    ns
}

fn container(name: &str, image: &str, privileged: bool) -> Value {
    let security = if privileged {
        json!({"privileged": true, "capabilities": {"add": ["NET_ADMIN", "SYS_ADMIN"]}})
    } else {
        json!({"privileged": false, "allowPrivilegeEscalation": false, "readOnlyRootFilesystem": true,
            "runAsNonRoot": true, "capabilities": {"drop": ["ALL"]}})
    };
    json!({
        "name": name,
        "image": image,
        "imagePullPolicy": "IfNotPresent",
        "ports": [{"name": "http", "containerPort": 8080, "protocol": "TCP"}],
        "env": [{"name": "STORE_ID", "value": "store-0042"}, {"name": "LOG_LEVEL", "value": "info"}],
        "resources": {"requests": {"cpu": "100m", "memory": "128Mi"}, "limits": {"cpu": "500m", "memory": "256Mi"}},
        "securityContext": security,
        "volumeMounts": [{"name": "config", "mountPath": "/etc/app", "readOnly": true}],
        "terminationMessagePath": "/dev/termination-log",
        "terminationMessagePolicy": "File",
    })
}

/// A Pod's spec: the app and, when `privileged`, a privileged helper beside it.
fn pod_spec(app: &str, privileged: bool) -> Value {
    let mut containers = vec![container(app, &format!("registry.retail.example/{app}:1.{}", app.len()), false)];
    if privileged {
        containers.push(container("net-helper", "registry.retail.example/net-helper:0.4", true));
    }
    json!({
        "containers": containers,
        "volumes": [{"name": "config", "configMap": {"name": format!("{app}-config"), "defaultMode": 420}}],
        "restartPolicy": "Always",
        "terminationGracePeriodSeconds": 30,
        "dnsPolicy": "ClusterFirst",
        "serviceAccountName": app,
        "securityContext": {"runAsUser": 10_001, "fsGroup": 10_001, "seccompProfile": {"type": "RuntimeDefault"}},
        "schedulerName": "default-scheduler",
        "tolerations": [{"key": "node.kubernetes.io/not-ready", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300}],
    })
}

fn pod(namespace: &str, app: &str, i: usize, privileged: bool) -> Value {
    let (replica_set, name) = (format!("{app}-{}", suffix(i / 4)), format!("{app}-{}-{}", suffix(i / 4), suffix(i)));
    let mut spec = pod_spec(app, privileged);
    spec["nodeName"] = format!("store-node-{}", i % 3).into();
    let statuses: Vec<Value> = spec["containers"]
        .as_array()
        .expect("containers")
        .iter()
        .map(|c| {
            json!({"name": c["name"], "image": c["image"], "ready": true, "restartCount": i % 3, "started": true,
                "state": {"running": {"startedAt": "2025-11-20T10:01:00Z"}},
                "containerID": format!("containerd://{}{}", suffix(i), suffix(i + 1))})
        })
        .collect();
    let mut object = object(
        "v1",
        "Pod",
        Some(namespace),
        &name,
        app,
        i,
        &json!({
            "spec": spec,
            "status": {
                "phase": "Running",
                "conditions": [
                    {"type": "Initialized", "status": "True", "lastTransitionTime": "2025-11-20T10:00:30Z"},
                    {"type": "Ready", "status": "True", "lastTransitionTime": "2025-11-20T10:01:05Z"},
                    {"type": "ContainersReady", "status": "True", "lastTransitionTime": "2025-11-20T10:01:05Z"},
                    {"type": "PodScheduled", "status": "True", "lastTransitionTime": "2025-11-20T10:00:00Z"},
                ],
                "hostIP": format!("10.0.0.{}", 10 + i % 3),
                "podIP": format!("10.244.{}.{}", i / 250 % 250, i % 250),
                "startTime": "2025-11-20T10:00:30Z",
                "qosClass": "Burstable",
                "containerStatuses": statuses,
            },
        }),
    );
    object["metadata"]["ownerReferences"] = json!([{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": replica_set,
        "uid": uid(i / 4 + 700_000), "controller": true, "blockOwnerDeletion": true}]);
    object["metadata"]["labels"]["pod-template-hash"] = suffix(i / 4).into();
    object
}

/// A Deployment, DaemonSet or StatefulSet of `app`, never privileged.
fn workload(kind: &str, namespace: &str, app: &str, i: usize) -> Value {
    let selector = json!({"matchLabels": {"app.kubernetes.io/name": app}});
    let template = json!({"metadata": {"labels": {"app.kubernetes.io/name": app}}, "spec": pod_spec(app, false)});
    let (spec, status) = match kind {
        "Deployment" => (
            json!({"replicas": 2, "selector": selector, "template": template, "revisionHistoryLimit": 10,
                "progressDeadlineSeconds": 600,
                "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"}}}),
            json!({"observedGeneration": 1, "replicas": 2, "updatedReplicas": 2, "readyReplicas": 2, "availableReplicas": 2,
                "conditions": [{"type": "Available", "status": "True", "reason": "MinimumReplicasAvailable"}]}),
        ),
        "DaemonSet" => (
            json!({"selector": selector, "template": template, "revisionHistoryLimit": 10,
                "updateStrategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 1, "maxSurge": 0}}}),
            json!({"currentNumberScheduled": 3, "desiredNumberScheduled": 3, "numberAvailable": 3, "numberReady": 3,
                "numberMisscheduled": 0, "observedGeneration": 1, "updatedNumberScheduled": 3}),
        ),
        _ => (
            json!({"replicas": 1, "serviceName": app, "selector": selector, "template": template,
                "podManagementPolicy": "OrderedReady", "updateStrategy": {"type": "RollingUpdate"},
                "volumeClaimTemplates": [{"metadata": {"name": "data"}, "spec": {"accessModes": ["ReadWriteOnce"],
                    "resources": {"requests": {"storage": "1Gi"}}}}]}),
            json!({"observedGeneration": 1, "replicas": 1, "readyReplicas": 1, "currentReplicas": 1, "updatedReplicas": 1}),
        ),
    };
    object("apps/v1", kind, Some(namespace), &format!("{app}-{i}"), app, i, &json!({"spec": spec, "status": status}))
}

fn service(namespace: &str, app: &str, i: usize) -> Value {
    object(
        "v1",
        "Service",
        Some(namespace),
        &format!("{app}-{i}"),
        app,
        i,
        &json!({
            "spec": {"type": "ClusterIP", "clusterIP": format!("10.96.{}.{}", i / 250 % 250, i % 250),
                "clusterIPs": [format!("10.96.{}.{}", i / 250 % 250, i % 250)], "ipFamilies": ["IPv4"],
                "ipFamilyPolicy": "SingleStack", "sessionAffinity": "None", "internalTrafficPolicy": "Cluster",
                "ports": [{"name": "http", "port": 80, "protocol": "TCP", "targetPort": 8080}],
                "selector": {"app.kubernetes.io/name": app}},
            "status": {"loadBalancer": {}},
        }),
    )
}

fn config_map(namespace: &str, app: &str, i: usize) -> Value {
    let body = json!({"data": {
        "app.yaml": format!("store: store-0042\nlisten: :8080\nupstream: https://{app}.retail.example\nretries: {}\n", i % 5),
        "LOG_LEVEL": "info",
        "FEATURE_FLAGS": "receipts-v2,loyalty-points",
    }});
    object("v1", "ConfigMap", Some(namespace), &format!("{app}-config-{i}"), app, i, &body)
}

fn secret(namespace: &str, app: &str, i: usize) -> Value {
    let body = json!({"type": "Opaque", "data": {"username": "c3RvcmU=", "password": "cy0zY3IzdC1wYXNzd29yZA=="}});
    object("v1", "Secret", Some(namespace), &format!("{app}-credentials-{i}"), app, i, &body)
}

fn service_account(namespace: &str, app: &str, i: usize) -> Value {
    object(
        "v1",
        "ServiceAccount",
        Some(namespace),
        &format!("{app}-{i}"),
        app,
        i,
        &json!({"automountServiceAccountToken": false}),
    )
}

fn reader_rule(app: &str) -> Value {
    json!({"apiGroups": [""], "resources": ["configmaps", "services"], "resourceNames": [app], "verbs": ["get", "watch"]})
}

fn cluster_role(name: &str, i: usize, rules: &[Value]) -> Value {
    object("rbac.authorization.k8s.io/v1", "ClusterRole", None, name, name, i, &json!({"rules": rules}))
}

#[cfg(test)]
mod tests {
    use std::collections::{BTreeMap, BTreeSet};

    use super::*;

    fn kinds(cluster: &Cluster) -> BTreeMap<&str, usize> {
        let mut kinds = BTreeMap::new();
        for o in &cluster.objects {
            *kinds.entry(o["kind"].as_str().unwrap()).or_default() += 1;
        }
        kinds
    }

    #[test]
    fn the_cluster_has_exactly_the_objects_asked_for() {
        for n in [fixed().len(), 1_000, 1_234, 10_000] {
            assert_eq!(Cluster::generate(n).unwrap().objects.len(), n);
        }
        let too_small = Cluster::generate(fixed().len() - 1).unwrap_err();
        assert!(too_small.to_string().contains("too small"), "{too_small}");
    }

    #[test]
    fn every_kind_is_there_in_proportion() {
        let cluster = Cluster::generate(10_000).unwrap();
        let kinds = kinds(&cluster);
        let all: BTreeSet<&str> = SERVED.iter().map(|(_, kind)| *kind).filter(|k| *k != "Ingress").collect();
        assert_eq!(kinds.keys().copied().collect::<BTreeSet<_>>(), all);
        assert!(kinds["Pod"] > 3_900 && kinds["Pod"] < 4_100, "{kinds:?}");
        assert_eq!(kinds["Namespace"], 6);
        // Each object is served, named, unique, and namespaced unless its kind is cluster-scoped.
        let mut identities = BTreeSet::new();
        let mut uids = BTreeSet::new();
        for o in &cluster.objects {
            let (api_version, kind) = (o["apiVersion"].as_str().unwrap(), o["kind"].as_str().unwrap());
            assert!(SERVED.contains(&(api_version, kind)), "{api_version} {kind}");
            let namespace = o["metadata"]["namespace"].as_str();
            let cluster_scoped = kind == "Namespace" || kind == "ClusterRole";
            assert_eq!(namespace.is_none(), cluster_scoped, "{o}");
            let name = o["metadata"]["name"].as_str().unwrap();
            assert!(identities.insert((kind, namespace, name)), "twice: {kind} {namespace:?} {name}");
            assert!(uids.insert(o["metadata"]["uid"].as_str().unwrap()), "a uid twice: {o}");
        }
    }

    #[test]
    fn the_flaws_are_counted_as_they_are() {
        for n in [1_000, 10_000] {
            let cluster = Cluster::generate(n).unwrap();
            let in_default = |o: &&Value| o["metadata"]["namespace"] == "default";
            let workloads = ["Deployment", "DaemonSet", "StatefulSet"];
            let default_workloads = cluster
                .objects
                .iter()
                .filter(in_default)
                .filter(|o| workloads.contains(&o["kind"].as_str().unwrap()))
                .count();
            let privileged = |o: &Value, namespace: &str| {
                o["kind"] == "Pod"
                    && o["metadata"]["namespace"] == namespace
                    && o["spec"]["containers"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .any(|c| c["securityContext"]["privileged"] == true)
            };
            let privileged_pods = cluster.objects.iter().filter(|o| privileged(o, "bt")).count();
            assert_eq!((cluster.default_workloads, cluster.privileged_pods), (default_workloads, privileged_pods));
            assert!(default_workloads > 0 && privileged_pods > 0, "{n}: {default_workloads} {privileged_pods}");
            assert!(cluster.objects.iter().any(|o| privileged(o, "kube-system")), "{n}");
        }
    }

    #[test]
    fn the_example_policies_come_out_as_expected() {
        let fleet = load_fleet().unwrap();
        let policies = store_policies(&fleet).unwrap();
        let cluster = Cluster::generate(1_000).unwrap();
        let found = check(&policies, &cluster).unwrap();
        assert_eq!(found, 2 + cluster.default_workloads + cluster.privileged_pods);
    }

    #[test]
    fn the_check_fails_when_an_outcome_differs() {
        let fleet = load_fleet().unwrap();
        let policies = store_policies(&fleet).unwrap();
        let mut cluster = Cluster::generate(1_000).unwrap();
        let deny = cluster.objects.iter_mut().find(|o| o["metadata"]["name"] == "default-deny").unwrap();
        deny["spec"]["policyTypes"] = json!(["Ingress", "Egress"]);
        let error = check(&policies, &cluster).unwrap_err().to_string();
        assert!(error.contains("pci-default-deny-bt: compliant Some(true) with 0 violations"), "{error}");

        cluster.privileged_pods += 1;
        let error = check(&policies, &cluster).unwrap_err().to_string();
        assert!(error.contains("pci-no-privileged-containers"), "{error}");
    }

    #[test]
    fn only_the_store_policies_are_taken() {
        let mut fleet = load_fleet().unwrap();
        assert_eq!(store_policies(&fleet).unwrap().len(), 7);
        fleet.policies.retain(|p| p.name() != "pci-no-nodeport-bt");
        let error = store_policies(&fleet).unwrap_err().to_string();
        assert!(error.contains("the bench expects"), "{error}");
    }
}
