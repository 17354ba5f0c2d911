//! The health of one live Kubernetes object, judged as Argo CD's built-in checks and `kubectl
//! rollout status` judge it: Deployments, StatefulSets and DaemonSets rolled out and available,
//! Jobs complete, Pods running and ready, PersistentVolumeClaims bound, LoadBalancer Services
//! given an address, CustomResourceDefinitions established; any other object that exists is
//! healthy. A placement's health is the worst of its objects' ([`rollup`]).
//!
//! A reading of the object as the API server returned it, nothing more: no watching, no waiting
//! and no clock, so there is no "stuck for ten minutes" judgement here — a Deployment's own
//! progress deadline, which its controller applies, is the only timeout. Not kstatus: the
//! conditions of custom resources are not interpreted, and a missing object is the caller's to
//! report as [`Health::Missing`] (there is no object to read).

use std::fmt;

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// How an object is doing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Health {
    /// Doing what it was asked to do.
    Healthy,
    /// On its way: a rollout, a running Job, a claim waiting for a volume.
    Progressing,
    /// Failed, or will not get there without someone's help.
    Degraded,
    /// Applied but not in the cluster.
    Missing,
    /// Cannot be told from the object, e.g. a phase this module does not know.
    Unknown,
}

impl Health {
    pub fn as_str(self) -> &'static str {
        match self {
            Health::Healthy => "Healthy",
            Health::Progressing => "Progressing",
            Health::Degraded => "Degraded",
            Health::Missing => "Missing",
            Health::Unknown => "Unknown",
        }
    }

    /// How bad it is, for [`rollup`]. Unknown ranks just above Healthy, unlike Argo CD where it
    /// is the worst: here it only comes from a status this module cannot read, which says less
    /// about the object than a definite Progressing does.
    fn severity(self) -> u8 {
        match self {
            Health::Healthy => 0,
            Health::Unknown => 1,
            Health::Progressing => 2,
            Health::Missing => 3,
            Health::Degraded => 4,
        }
    }
}

impl fmt::Display for Health {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The health of one object and why, in a short lower-case sentence (empty when there is nothing
/// to say, as for most healthy objects).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Assessment {
    pub health: Health,
    pub message: String,
}

impl Assessment {
    fn new(health: Health, message: impl Into<String>) -> Assessment {
        Assessment { health, message: message.into() }
    }

    fn healthy() -> Assessment {
        Assessment::new(Health::Healthy, "")
    }

    fn progressing(message: impl Into<String>) -> Assessment {
        Assessment::new(Health::Progressing, message)
    }

    fn degraded(message: impl Into<String>) -> Assessment {
        Assessment::new(Health::Degraded, message)
    }
}

/// The health of a live object.
pub fn assess(object: &Value) -> Assessment {
    let Some(kind) = object.get("kind").and_then(Value::as_str) else {
        return Assessment::new(Health::Unknown, "not a Kubernetes object: it has no kind");
    };
    // Finalizers can hold an object for a long time; until they let go it is on its way out.
    if object.pointer("/metadata/deletionTimestamp").is_some_and(|t| !t.is_null()) {
        return Assessment::progressing("pending deletion");
    }
    let check: fn(&Value, &Value) -> Assessment = match (group(object), kind) {
        ("apps", "Deployment") => deployment,
        ("apps", "StatefulSet") => stateful_set,
        ("apps", "DaemonSet") => daemon_set,
        ("batch", "Job") => job,
        ("", "Pod") => pod,
        ("", "PersistentVolumeClaim") => claim,
        ("apiextensions.k8s.io", "CustomResourceDefinition") => custom_resource_definition,
        // A Service's status stays empty unless it asks for a load balancer.
        ("", "Service") => return service(object),
        _ => return Assessment::healthy(),
    };
    // These kinds have a controller that writes `status`; until it has, nothing is known except
    // that the object is new.
    match object.get("status").filter(|s| s.as_object().is_some_and(|m| !m.is_empty())) {
        Some(status) => check(object, status),
        None => Assessment::progressing("waiting for the controller"),
    }
}

/// The worst of several healths: Degraded, then Missing, Progressing, Unknown, Healthy. Nothing
/// at all is healthy, as an empty placement has nothing wrong with it.
pub fn rollup(healths: impl IntoIterator<Item = Health>) -> Health {
    healths.into_iter().max_by_key(|h| h.severity()).unwrap_or(Health::Healthy)
}

fn deployment(object: &Value, status: &Value) -> Assessment {
    // A paused rollout is where its owner wants it; Argo CD calls this Suspended.
    if object.pointer("/spec/paused") == Some(&Value::Bool(true)) {
        return Assessment::new(Health::Healthy, "paused");
    }
    if !observed(object, status) {
        return Assessment::progressing("waiting for rollout to be observed");
    }
    if let Some(progressing) = condition(status, "Progressing")
        && text(progressing, "/status") == Some("False")
        && text(progressing, "/reason") == Some("ProgressDeadlineExceeded")
    {
        let detail = text(progressing, "/message").unwrap_or_default();
        return Assessment::degraded(format!("progress deadline exceeded: {detail}").trim_end_matches([' ', ':']));
    }
    let desired = int(object, "/spec/replicas").unwrap_or(1);
    let updated = int(status, "/updatedReplicas").unwrap_or(0);
    let total = int(status, "/replicas").unwrap_or(0);
    let available = int(status, "/availableReplicas").unwrap_or(0);
    // The same three questions, in the same order, as `kubectl rollout status`.
    if updated < desired {
        Assessment::progressing(format!("waiting for rollout to finish: {updated} of {desired} new replicas updated"))
    } else if total > updated {
        let old = total - updated;
        Assessment::progressing(format!("waiting for rollout to finish: {old} old replicas pending termination"))
    } else if available < updated {
        Assessment::progressing(format!(
            "waiting for rollout to finish: {available} of {updated} updated replicas available"
        ))
    } else {
        Assessment::healthy()
    }
}

fn stateful_set(object: &Value, status: &Value) -> Assessment {
    if !observed(object, status) {
        return Assessment::progressing("waiting for rollout to be observed");
    }
    let desired = int(object, "/spec/replicas").unwrap_or(1);
    let ready = int(status, "/readyReplicas").unwrap_or(0);
    if ready < desired {
        return Assessment::progressing(format!("waiting for {} pods to be ready", desired - ready));
    }
    let updated = int(status, "/updatedReplicas").unwrap_or(0);
    if text(object, "/spec/updateStrategy/type") == Some("OnDelete") {
        // Pods change only when someone deletes them: there is no rollout to wait for.
        return Assessment::new(Health::Healthy, format!("{ready} pods ready, {updated} updated (OnDelete)"));
    }
    let partition = int(object, "/spec/updateStrategy/rollingUpdate/partition").unwrap_or(0);
    let wanted = desired - partition;
    if updated < wanted {
        return Assessment::progressing(format!(
            "waiting for rollout to finish: {updated} of {wanted} new pods updated"
        ));
    }
    // With a partition the old revision stays current on purpose; without one the controller
    // makes the new revision current once every pod runs it and is ready.
    let (current, update) = (text(status, "/currentRevision"), text(status, "/updateRevision"));
    if partition <= 0
        && let (Some(current), Some(update)) = (current, update)
        && current != update
    {
        return Assessment::progressing(format!(
            "waiting for rollout to finish: revision {current} is still current, {update} is rolling out"
        ));
    }
    Assessment::healthy()
}

fn daemon_set(object: &Value, status: &Value) -> Assessment {
    if !observed(object, status) {
        return Assessment::progressing("waiting for rollout to be observed");
    }
    let desired = int(status, "/desiredNumberScheduled").unwrap_or(0);
    let updated = int(status, "/updatedNumberScheduled").unwrap_or(0);
    if text(object, "/spec/updateStrategy/type") == Some("OnDelete") {
        return Assessment::new(Health::Healthy, format!("{updated} of {desired} pods updated (OnDelete)"));
    }
    let available = int(status, "/numberAvailable").unwrap_or(0);
    if updated < desired {
        Assessment::progressing(format!("waiting for rollout to finish: {updated} of {desired} new pods updated"))
    } else if available < desired {
        Assessment::progressing(format!(
            "waiting for rollout to finish: {available} of {desired} updated pods available"
        ))
    } else {
        Assessment::healthy()
    }
}

fn job(_: &Value, status: &Value) -> Assessment {
    if let Some(failed) = condition(status, "Failed").filter(|c| is_true(c)) {
        let why = text(failed, "/message").or_else(|| text(failed, "/reason")).unwrap_or("the job failed");
        return Assessment::degraded(why);
    }
    if condition(status, "Complete").is_some_and(is_true) {
        return Assessment::healthy();
    }
    // Like a paused Deployment: stopped on purpose.
    if condition(status, "Suspended").is_some_and(is_true) {
        return Assessment::new(Health::Healthy, "suspended");
    }
    Assessment::progressing("waiting for the job to complete")
}

fn pod(_: &Value, status: &Value) -> Assessment {
    let phase = text(status, "/phase").unwrap_or_default();
    match phase {
        "Succeeded" => return Assessment::healthy(),
        "Failed" => return Assessment::degraded(failure(status)),
        _ => {}
    }
    let containers: Vec<&Value> =
        ["/initContainerStatuses", "/containerStatuses"].iter().flat_map(|p| list(status, p)).collect();
    let stuck: Vec<String> = containers
        .iter()
        .filter_map(|c| {
            let reason = text(c, "/state/waiting/reason").filter(|r| stuck(r))?;
            let name = text(c, "/name").unwrap_or("?");
            Some(match text(c, "/state/waiting/message") {
                Some(detail) => format!("container {name}: {reason}: {detail}"),
                None => format!("container {name}: {reason}"),
            })
        })
        .collect();
    if !stuck.is_empty() {
        return Assessment::degraded(stuck.join("; "));
    }
    let regular = list(status, "/containerStatuses");
    let all_ready = !regular.is_empty() && regular.iter().all(|c| c.get("ready") == Some(&Value::Bool(true)));
    match phase {
        "Running" if all_ready => Assessment::healthy(),
        "Running" | "Pending" | "" => {
            let waiting: Vec<String> = regular
                .iter()
                .filter(|c| c.get("ready") != Some(&Value::Bool(true)))
                .map(|c| {
                    let name = text(c, "/name").unwrap_or("?");
                    match text(c, "/state/waiting/reason") {
                        Some(reason) => format!("{name} ({reason})"),
                        None => name.to_string(),
                    }
                })
                .collect();
            match text(status, "/message") {
                Some(message) => Assessment::progressing(message),
                None if waiting.is_empty() => Assessment::progressing("waiting for the pod to start"),
                None => Assessment::progressing(format!("waiting for containers: {}", waiting.join(", "))),
            }
        }
        // "Unknown": the node stopped reporting.
        other => Assessment::new(Health::Unknown, format!("pod phase {other:?}")),
    }
}

/// Waiting reasons that do not resolve by themselves. The kubelet's reasons for these share
/// their shapes (`ErrImagePull`, `ImagePullBackOff`, `CrashLoopBackOff`,
/// `CreateContainerConfigError`, …), so the shapes are matched, as Argo CD does, plus the one
/// that fits none; `ContainerCreating` and `PodInitializing` are only slow.
fn stuck(reason: &str) -> bool {
    reason == "InvalidImageName"
        || reason.starts_with("Err")
        || reason.ends_with("Error")
        || reason.ends_with("BackOff")
}

/// Why a pod failed: its own message, else the first container that terminated badly.
fn failure(status: &Value) -> String {
    if let Some(message) = text(status, "/message") {
        return message.to_string();
    }
    let containers = ["/initContainerStatuses", "/containerStatuses"].iter().flat_map(|p| list(status, p));
    for c in containers {
        let name = text(c, "/name").unwrap_or("?");
        if let Some(message) = text(c, "/state/terminated/message") {
            return format!("container {name}: {message}");
        }
        if let Some(reason) = text(c, "/state/terminated/reason").filter(|r| *r != "Completed") {
            return format!("container {name}: {reason}");
        }
        if let Some(code) = int(c, "/state/terminated/exitCode").filter(|code| *code != 0) {
            return format!("container {name} exited with code {code}");
        }
    }
    "the pod failed".to_string()
}

fn claim(_: &Value, status: &Value) -> Assessment {
    match text(status, "/phase") {
        Some("Bound") => Assessment::healthy(),
        Some("Pending") => Assessment::progressing("waiting for a volume to be bound"),
        Some("Lost") => Assessment::degraded("the bound volume is lost"),
        other => Assessment::new(Health::Unknown, format!("claim phase {:?}", other.unwrap_or_default())),
    }
}

fn service(object: &Value) -> Assessment {
    if text(object, "/spec/type") != Some("LoadBalancer") {
        return Assessment::healthy();
    }
    if list(object, "/status/loadBalancer/ingress").is_empty() {
        Assessment::progressing("waiting for a load balancer address")
    } else {
        Assessment::healthy()
    }
}

fn custom_resource_definition(_: &Value, status: &Value) -> Assessment {
    if let Some(names) = condition(status, "NamesAccepted")
        && text(names, "/status") == Some("False")
    {
        let detail = text(names, "/message").unwrap_or_default();
        return Assessment::degraded(format!("names not accepted: {detail}").trim_end_matches([' ', ':']));
    }
    if condition(status, "Established").is_some_and(is_true) {
        Assessment::healthy()
    } else {
        Assessment::progressing("waiting to be established")
    }
}

/// Whether the controller has acted on the latest spec; until it has, the rest of the status
/// describes an older one.
fn observed(object: &Value, status: &Value) -> bool {
    let generation = int(object, "/metadata/generation").unwrap_or(0);
    int(status, "/observedGeneration").is_some_and(|seen| seen >= generation)
}

/// The API group of the object's apiVersion, empty for the core group.
fn group(object: &Value) -> &str {
    let api_version = object.get("apiVersion").and_then(Value::as_str).unwrap_or_default();
    api_version.rsplit_once('/').map_or("", |(group, _)| group)
}

fn condition<'v>(status: &'v Value, kind: &str) -> Option<&'v Value> {
    list(status, "/conditions").iter().find(|c| text(c, "/type") == Some(kind))
}

fn is_true(condition: &Value) -> bool {
    text(condition, "/status") == Some("True")
}

fn list<'v>(value: &'v Value, pointer: &str) -> &'v [Value] {
    value.pointer(pointer).and_then(Value::as_array).map_or(&[], Vec::as_slice)
}

fn text<'v>(value: &'v Value, pointer: &str) -> Option<&'v str> {
    value.pointer(pointer).and_then(Value::as_str)
}

fn int(value: &Value, pointer: &str) -> Option<i64> {
    value.pointer(pointer).and_then(Value::as_i64)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    /// Asserts the health and that the message contains `message`.
    #[track_caller]
    fn check(object: &Value, health: Health, message: &str) {
        let got = assess(object);
        assert_eq!(got.health, health, "{got:?}");
        assert!(got.message.contains(message), "{:?} does not contain {message:?}", got.message);
    }

    fn deployment(status: Value) -> Value {
        let mut object = json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web", "generation": 2},
            "spec": {"replicas": 3, "template": {"spec": {"containers": [{"name": "web", "image": "web:1.2"}]}}}});
        object["status"] = status;
        object
    }

    fn condition(kind: &str, status: &str, reason: &str, message: &str) -> Value {
        json!({"type": kind, "status": status, "reason": reason, "message": message})
    }

    #[test]
    fn a_deployment_rolls_out() {
        check(&deployment(json!({"observedGeneration": 1, "replicas": 3})), Health::Progressing, "to be observed");
        check(
            &deployment(json!({"observedGeneration": 2, "replicas": 3, "updatedReplicas": 1})),
            Health::Progressing,
            "1 of 3 new replicas updated",
        );
        check(
            &deployment(json!({"observedGeneration": 2, "replicas": 4, "updatedReplicas": 3})),
            Health::Progressing,
            "1 old replicas pending termination",
        );
        check(
            &deployment(json!({"observedGeneration": 2, "replicas": 3, "updatedReplicas": 3, "availableReplicas": 2})),
            Health::Progressing,
            "2 of 3 updated replicas available",
        );
        check(
            &deployment(json!({"observedGeneration": 2, "replicas": 3, "updatedReplicas": 3, "availableReplicas": 3})),
            Health::Healthy,
            "",
        );
    }

    #[test]
    fn a_deployment_without_replicas_wants_one() {
        let mut d = deployment(json!({"observedGeneration": 2, "replicas": 0}));
        d["spec"].as_object_mut().unwrap().remove("replicas");
        check(&d, Health::Progressing, "0 of 1 new replicas updated");
    }

    #[test]
    fn a_paused_deployment_is_healthy_and_says_so() {
        let mut d = deployment(json!({"observedGeneration": 1}));
        d["spec"]["paused"] = json!(true);
        assert_eq!(assess(&d), Assessment { health: Health::Healthy, message: "paused".into() });
    }

    // The status shapes below are what crates/kube-testserver's controllers write.

    #[test]
    fn the_test_servers_deployment_rolls_out_then_becomes_available() {
        let started = json!({"observedGeneration": 2, "replicas": 3, "updatedReplicas": 3, "unavailableReplicas": 3,
            "conditions": [
                condition("Available", "False", "MinimumReplicasUnavailable", "Deployment does not have minimum availability."),
                condition("Progressing", "True", "ReplicaSetUpdated", "ReplicaSet \"web-x\" is progressing.")]});
        check(&deployment(started), Health::Progressing, "0 of 3 updated replicas available");
        let ready = json!({"observedGeneration": 2, "replicas": 3, "updatedReplicas": 3, "readyReplicas": 3,
            "availableReplicas": 3,
            "conditions": [
                condition("Available", "True", "MinimumReplicasAvailable", "Deployment has minimum availability."),
                condition("Progressing", "True", "NewReplicaSetAvailable", "ReplicaSet \"web-x\" has successfully progressed.")]});
        check(&deployment(ready), Health::Healthy, "");
    }

    #[test]
    fn the_test_servers_broken_deployment_exceeds_its_deadline() {
        let late = json!({"observedGeneration": 2, "replicas": 3, "updatedReplicas": 3, "unavailableReplicas": 3,
            "conditions": [
                condition("Available", "False", "MinimumReplicasUnavailable", "Deployment does not have minimum availability."),
                condition("Progressing", "False", "ProgressDeadlineExceeded", "ReplicaSet \"web-x\" has timed out progressing.")]});
        check(&deployment(late), Health::Degraded, "progress deadline exceeded: ReplicaSet \"web-x\" has timed out");
    }

    #[test]
    fn the_test_servers_scaled_to_zero_deployment_is_healthy() {
        // The controller leaves out zero counts.
        let mut d = deployment(json!({"observedGeneration": 2, "conditions": [
            condition("Available", "True", "MinimumReplicasAvailable", "")]}));
        d["spec"]["replicas"] = json!(0);
        check(&d, Health::Healthy, "");
    }

    #[test]
    fn workloads_without_a_status_wait_for_their_controller() {
        for (api_version, kind) in [
            ("apps/v1", "Deployment"),
            ("apps/v1", "StatefulSet"),
            ("apps/v1", "DaemonSet"),
            ("batch/v1", "Job"),
            ("v1", "Pod"),
            ("v1", "PersistentVolumeClaim"),
            ("apiextensions.k8s.io/v1", "CustomResourceDefinition"),
        ] {
            let bare = json!({"apiVersion": api_version, "kind": kind, "metadata": {"name": "x", "generation": 1}});
            check(&bare, Health::Progressing, "waiting for the controller");
            let empty = json!({"apiVersion": api_version, "kind": kind, "metadata": {"name": "x"}, "status": {}});
            check(&empty, Health::Progressing, "waiting for the controller");
        }
    }

    fn stateful_set(status: Value) -> Value {
        let mut object = json!({"apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": {"name": "db", "generation": 3},
            "spec": {"replicas": 2}});
        object["status"] = status;
        object
    }

    #[test]
    fn a_stateful_set_rolls_out() {
        check(&stateful_set(json!({"observedGeneration": 2})), Health::Progressing, "to be observed");
        // The test server's StatefulSet before it is ready: the old revision stays current.
        let started = json!({"observedGeneration": 3, "replicas": 2, "updatedReplicas": 2, "currentRevision": "db-a",
            "updateRevision": "db-b", "collisionCount": 0, "availableReplicas": 0});
        check(&stateful_set(started), Health::Progressing, "waiting for 2 pods to be ready");
        let ready_but_old = json!({"observedGeneration": 3, "replicas": 2, "readyReplicas": 2, "updatedReplicas": 1,
            "currentRevision": "db-a", "updateRevision": "db-b"});
        check(&stateful_set(ready_but_old), Health::Progressing, "1 of 2 new pods updated");
        let not_current = json!({"observedGeneration": 3, "replicas": 2, "readyReplicas": 2, "updatedReplicas": 2,
            "currentRevision": "db-a", "updateRevision": "db-b"});
        check(&stateful_set(not_current), Health::Progressing, "revision db-a is still current");
        let ready = json!({"observedGeneration": 3, "replicas": 2, "readyReplicas": 2, "updatedReplicas": 2,
            "currentReplicas": 2, "currentRevision": "db-b", "updateRevision": "db-b", "availableReplicas": 2});
        check(&stateful_set(ready), Health::Healthy, "");
    }

    #[test]
    fn a_partitioned_stateful_set_is_done_when_its_partition_is_updated() {
        let mut sts = stateful_set(json!({"observedGeneration": 3, "replicas": 2, "readyReplicas": 2,
            "updatedReplicas": 1, "currentRevision": "db-a", "updateRevision": "db-b"}));
        sts["spec"]["updateStrategy"] = json!({"type": "RollingUpdate", "rollingUpdate": {"partition": 1}});
        check(&sts, Health::Healthy, "");
        sts["spec"]["updateStrategy"]["rollingUpdate"]["partition"] = json!(0);
        check(&sts, Health::Progressing, "1 of 2 new pods updated");
        sts["spec"]["updateStrategy"] = json!({"type": "OnDelete"});
        check(&sts, Health::Healthy, "OnDelete");
    }

    fn daemon_set(status: Value) -> Value {
        let mut object = json!({"apiVersion": "apps/v1", "kind": "DaemonSet", "metadata": {"name": "agent", "generation": 1},
            "spec": {}});
        object["status"] = status;
        object
    }

    #[test]
    fn a_daemon_set_rolls_out() {
        check(&daemon_set(json!({"observedGeneration": 0})), Health::Progressing, "to be observed");
        check(
            &daemon_set(json!({"observedGeneration": 1, "desiredNumberScheduled": 3, "updatedNumberScheduled": 2})),
            Health::Progressing,
            "2 of 3 new pods updated",
        );
        // The test server's DaemonSet before and after its ready delay (one node).
        let started = json!({"observedGeneration": 1, "desiredNumberScheduled": 1, "currentNumberScheduled": 1,
            "numberMisscheduled": 0, "updatedNumberScheduled": 1, "numberReady": 0, "numberUnavailable": 1});
        check(&daemon_set(started), Health::Progressing, "0 of 1 updated pods available");
        let ready = json!({"observedGeneration": 1, "desiredNumberScheduled": 1, "currentNumberScheduled": 1,
            "numberMisscheduled": 0, "updatedNumberScheduled": 1, "numberReady": 1, "numberAvailable": 1});
        check(&daemon_set(ready), Health::Healthy, "");
    }

    fn job(status: Value) -> Value {
        let mut object = json!({"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "migrate"}});
        object["status"] = status;
        object
    }

    #[test]
    fn a_job_runs_then_completes_or_fails() {
        // The test server's Job, started and done.
        check(
            &job(json!({"startTime": "t", "active": 1, "ready": 0, "terminating": 0, "uncountedTerminatedPods": {}})),
            Health::Progressing,
            "waiting for the job to complete",
        );
        let reached =
            |kind: &str| condition(kind, "True", "CompletionsReached", "Reached expected number of succeeded pods");
        let done = json!({"startTime": "t", "completionTime": "t", "succeeded": 1,
            "conditions": [reached("SuccessCriteriaMet"), reached("Complete")]});
        check(&job(done), Health::Healthy, "");
        let failed = json!({"failed": 7, "conditions": [
            condition("FailureTarget", "True", "BackoffLimitExceeded", "Job has reached the specified backoff limit"),
            condition("Failed", "True", "BackoffLimitExceeded", "Job has reached the specified backoff limit")]});
        check(&job(failed), Health::Degraded, "Job has reached the specified backoff limit");
        check(&job(json!({"conditions": [condition("Complete", "False", "", "")]})), Health::Progressing, "");
        check(
            &job(json!({"conditions": [condition("Suspended", "True", "JobSuspended", "")]})),
            Health::Healthy,
            "suspended",
        );
    }

    fn pod(status: Value) -> Value {
        let mut object = json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"},
            "spec": {"containers": [{"name": "c", "image": "c:1"}]}});
        object["status"] = status;
        object
    }

    #[test]
    fn a_pod_starts_and_runs() {
        // The test server's Pod when started, then ready.
        let started = json!({"phase": "Pending", "startTime": "t", "containerStatuses": [{"name": "c", "image": "c:1",
            "ready": false, "restartCount": 0, "started": false, "state": {"waiting": {"reason": "ContainerCreating"}}}]});
        check(&pod(started), Health::Progressing, "waiting for containers: c (ContainerCreating)");
        let running = json!({"phase": "Running", "startTime": "t", "podIP": "10.244.0.10", "containerStatuses": [
            {"name": "c", "image": "c:1", "ready": true, "restartCount": 0, "started": true,
                "state": {"running": {"startedAt": "t"}}}]});
        check(&pod(running), Health::Healthy, "");
        let unready = json!({"phase": "Running", "containerStatuses": [
            {"name": "c", "ready": false, "state": {"running": {"startedAt": "t"}}}]});
        check(&pod(unready), Health::Progressing, "waiting for containers: c");
        check(&pod(json!({"phase": "Succeeded"})), Health::Healthy, "");
        check(&pod(json!({"phase": "Unknown"})), Health::Unknown, "\"Unknown\"");
    }

    #[test]
    fn the_test_servers_broken_pod_is_degraded_naming_the_container() {
        let stuck = json!({"phase": "Pending", "startTime": "t", "containerStatuses": [{"name": "c", "image": "c:broken",
            "ready": false, "restartCount": 0, "started": false, "state": {"waiting": {"reason": "ImagePullBackOff",
            "message": "Back-off pulling image \"c:broken\""}}}]});
        check(&pod(stuck), Health::Degraded, "container c: ImagePullBackOff: Back-off pulling image \"c:broken\"");
    }

    #[test]
    fn every_stuck_waiting_reason_is_degraded_and_slow_ones_are_not() {
        for reason in
            ["ImagePullBackOff", "ErrImagePull", "CrashLoopBackOff", "CreateContainerConfigError", "InvalidImageName"]
        {
            let status = json!({"phase": "Running", "containerStatuses": [
                {"name": "ok", "ready": true, "state": {"running": {}}},
                {"name": "bad", "ready": false, "state": {"waiting": {"reason": reason}}}]});
            check(&pod(status), Health::Degraded, &format!("container bad: {reason}"));
        }
        let init = json!({"phase": "Pending", "initContainerStatuses": [
            {"name": "setup", "ready": false, "state": {"waiting": {"reason": "CrashLoopBackOff"}}}]});
        check(&pod(init), Health::Degraded, "container setup: CrashLoopBackOff");
        for reason in ["ContainerCreating", "PodInitializing"] {
            let status = json!({"phase": "Pending", "containerStatuses": [
                {"name": "c", "ready": false, "state": {"waiting": {"reason": reason}}}]});
            check(&pod(status), Health::Progressing, reason);
        }
    }

    #[test]
    fn a_failed_pod_says_why() {
        check(&pod(json!({"phase": "Failed", "message": "evicted"})), Health::Degraded, "evicted");
        let oom = json!({"phase": "Failed", "containerStatuses": [
            {"name": "c", "state": {"terminated": {"reason": "OOMKilled", "exitCode": 137}}}]});
        check(&pod(oom), Health::Degraded, "container c: OOMKilled");
        let exit = json!({"phase": "Failed", "containerStatuses": [
            {"name": "c", "state": {"terminated": {"reason": "Completed", "exitCode": 0}}},
            {"name": "d", "state": {"terminated": {"exitCode": 2}}}]});
        check(&pod(exit), Health::Degraded, "container d exited with code 2");
    }

    #[test]
    fn a_claim_is_healthy_once_bound() {
        let claim = |phase: &str| {
            json!({"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": {"name": "data"},
                "status": {"phase": phase}})
        };
        check(&claim("Bound"), Health::Healthy, "");
        check(&claim("Pending"), Health::Progressing, "waiting for a volume");
        check(&claim("Lost"), Health::Degraded, "lost");
        check(&claim("Resizing"), Health::Unknown, "\"Resizing\"");
    }

    #[test]
    fn a_load_balancer_service_waits_for_an_address() {
        let mut svc = json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web"},
            "spec": {"type": "LoadBalancer", "ports": [{"port": 80}]}, "status": {"loadBalancer": {}}});
        check(&svc, Health::Progressing, "load balancer address");
        svc["status"]["loadBalancer"]["ingress"] = json!([{"ip": "203.0.113.7"}]);
        check(&svc, Health::Healthy, "");
        let cluster_ip = json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web"},
            "spec": {"type": "ClusterIP"}});
        check(&cluster_ip, Health::Healthy, "");
    }

    #[test]
    fn a_crd_is_healthy_once_established() {
        let crd = |conditions: Value| {
            json!({"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
                "metadata": {"name": "widgets.example.com"}, "status": {"conditions": conditions}})
        };
        check(
            &crd(json!([
                condition("NamesAccepted", "True", "NoConflicts", ""),
                condition("Established", "True", "InitialNamesAccepted", "")
            ])),
            Health::Healthy,
            "",
        );
        check(
            &crd(json!([
                condition("NamesAccepted", "True", "NoConflicts", ""),
                condition("Established", "False", "Installing", "")
            ])),
            Health::Progressing,
            "waiting to be established",
        );
        check(
            &crd(json!([
                condition("NamesAccepted", "False", "MultipleNamesConflict", "\"widgets\" is already in use"),
                condition("Established", "False", "NotAccepted", "")
            ])),
            Health::Degraded,
            "names not accepted: \"widgets\" is already in use",
        );
    }

    #[test]
    fn other_objects_are_healthy_when_present() {
        let cm = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}, "data": {}});
        check(&cm, Health::Healthy, "");
        // A custom kind called Deployment in another group is not an apps Deployment.
        let other = json!({"apiVersion": "example.com/v1", "kind": "Deployment", "metadata": {"name": "d"}});
        check(&other, Health::Healthy, "");
        check(&json!({"metadata": {}}), Health::Unknown, "no kind");
    }

    #[test]
    fn an_object_being_deleted_is_progressing() {
        let cm = json!({"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": "c", "deletionTimestamp": "2025-01-01T00:00:00Z", "finalizers": ["x"]}});
        check(&cm, Health::Progressing, "pending deletion");
    }

    #[test]
    fn rollup_takes_the_worst() {
        use Health::{Degraded, Healthy, Missing, Progressing, Unknown};
        assert_eq!(rollup([]), Healthy);
        assert_eq!(rollup([Healthy, Healthy]), Healthy);
        assert_eq!(rollup([Healthy, Unknown]), Unknown);
        assert_eq!(rollup([Unknown, Progressing, Healthy]), Progressing);
        assert_eq!(rollup([Progressing, Missing]), Missing);
        assert_eq!(rollup([Missing, Degraded, Progressing]), Degraded);
        assert_eq!(rollup([Degraded, Unknown]), Degraded);
    }

    #[test]
    fn health_is_written_in_pascal_case() {
        assert_eq!(serde_json::to_string(&Health::Progressing).unwrap(), "\"Progressing\"");
        assert_eq!(serde_json::from_str::<Health>("\"Missing\"").unwrap(), Health::Missing);
        assert_eq!(Health::Degraded.to_string(), "Degraded");
    }
}
