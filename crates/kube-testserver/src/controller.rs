//! What the controllers of a real cluster would write into `status`, so that health means
//! something: Deployments, StatefulSets and DaemonSets roll out and become available, Jobs run and
//! complete, Pods start. The server asks for a status at two moments — when it sees a new
//! generation ([`Stage::Started`]) and after its ready delay ([`Stage::Ready`]) — and, for a
//! Deployment that cannot become ready, once its progress deadline has passed
//! ([`Stage::DeadlineExceeded`]). A container image whose tag is `broken` never becomes ready.
//!
//! Pure functions over objects; the timing lives in the server. Not a scheduler: no ReplicaSets
//! or Pods are created for workloads, and there is one simulated node.

use serde_json::{Value, json};

/// The moment a status is asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    /// The controller has seen the new generation: rolling out.
    Started,
    /// The ready delay has passed: available, complete or running — unless broken.
    Ready,
    /// A broken Deployment's `progressDeadlineSeconds` has passed.
    DeadlineExceeded,
}

/// Whether objects of this kind get a status from the controllers.
pub fn controlled(group: &str, kind: &str) -> bool {
    matches!((group, kind), ("apps", "Deployment" | "StatefulSet" | "DaemonSet") | ("batch", "Job") | ("", "Pod"))
}

/// Whether any container of the object's pod template (or pod) runs an image tagged `broken`.
pub fn broken(object: &Value) -> bool {
    let spec = pod_spec(object);
    ["containers", "initContainers"].iter().any(|list| {
        spec.and_then(|s| s.get(*list))
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|c| c.get("image").and_then(Value::as_str))
            .any(|image| tag(image) == Some("broken"))
    })
}

/// A Deployment's `progressDeadlineSeconds` (600 when unset), for broken ones.
pub fn progress_deadline(object: &Value) -> Option<u64> {
    (kind(object) == ("apps", "Deployment") && broken(object))
        .then(|| object.pointer("/spec/progressDeadlineSeconds").and_then(Value::as_u64).unwrap_or(600))
}

/// The image's tag: what follows the last `:` after the last `/`, without a digest.
fn tag(image: &str) -> Option<&str> {
    let image = image.split('@').next().unwrap_or(image);
    let last = image.rsplit('/').next().unwrap_or(image);
    last.split_once(':').map(|(_, t)| t)
}

fn kind(object: &Value) -> (&str, &str) {
    let api_version = object.get("apiVersion").and_then(Value::as_str).unwrap_or_default();
    let group = api_version.rsplit_once('/').map_or("", |(g, _)| g);
    (group, object.get("kind").and_then(Value::as_str).unwrap_or_default())
}

fn pod_spec(object: &Value) -> Option<&Value> {
    if kind(object) == ("", "Pod") { object.get("spec") } else { object.pointer("/spec/template/spec") }
}

/// The status the controllers write at `stage`, or `None` when nothing changes then.
pub fn status(object: &Value, stage: Stage, now: &str) -> Option<Value> {
    let at = At {
        object,
        stage,
        now,
        ready: stage == Stage::Ready && !broken(object),
        replicas: object.pointer("/spec/replicas").and_then(Value::as_i64).unwrap_or(1),
        old: object.get("status").cloned().unwrap_or_else(|| json!({})),
    };
    match kind(object) {
        ("apps", "Deployment") => deployment(&at),
        ("apps", "StatefulSet") => stateful_set(&at),
        ("apps", "DaemonSet") => daemon_set(&at),
        ("batch", "Job") => job(&at),
        ("", "Pod") => Some(pod(&at)),
        _ => None,
    }
}

/// What every controller looks at.
struct At<'a> {
    object: &'a Value,
    stage: Stage,
    now: &'a str,
    /// Ready at this stage: the delay has passed and nothing is broken.
    ready: bool,
    replicas: i64,
    old: Value,
}

impl At<'_> {
    fn generation(&self) -> i64 {
        self.object.pointer("/metadata/generation").and_then(Value::as_i64).unwrap_or(1)
    }

    /// `web-5d8f9c7b4` as a ReplicaSet or controller revision is named.
    fn revision_name(&self) -> String {
        let name = self.object.pointer("/metadata/name").and_then(Value::as_str).unwrap_or_default();
        format!("{name}-{}", revision(self.object))
    }

    fn condition(&self, kind: &str, status: bool, reason: &str, message: &str) -> Value {
        json!({"type": kind, "status": if status { "True" } else { "False" }, "reason": reason,
            "message": message, "lastUpdateTime": self.now, "lastTransitionTime": self.now})
    }

    fn start_time(&self) -> String {
        self.old.get("startTime").and_then(Value::as_str).unwrap_or(self.now).to_string()
    }
}

fn deployment(at: &At) -> Option<Value> {
    let replica_set = at.revision_name();
    let unavailable = || {
        at.condition("Available", false, "MinimumReplicasUnavailable", "Deployment does not have minimum availability.")
    };
    let available = at.ready || at.replicas == 0;
    let conditions = match at.stage {
        Stage::Ready if !at.ready => return None,
        Stage::DeadlineExceeded => [
            unavailable(),
            at.condition(
                "Progressing",
                false,
                "ProgressDeadlineExceeded",
                &format!("ReplicaSet {replica_set:?} has timed out progressing."),
            ),
        ],
        _ if available => [
            at.condition("Available", true, "MinimumReplicasAvailable", "Deployment has minimum availability."),
            at.condition(
                "Progressing",
                true,
                "NewReplicaSetAvailable",
                &format!("ReplicaSet {replica_set:?} has successfully progressed."),
            ),
        ],
        _ => [
            unavailable(),
            at.condition(
                "Progressing",
                true,
                "ReplicaSetUpdated",
                &format!("ReplicaSet {replica_set:?} is progressing."),
            ),
        ],
    };
    let mut s = json!({"observedGeneration": at.generation(), "replicas": at.replicas,
        "updatedReplicas": at.replicas, "conditions": conditions});
    if available {
        s["readyReplicas"] = json!(at.replicas);
        s["availableReplicas"] = json!(at.replicas);
    } else {
        s["unavailableReplicas"] = json!(at.replicas);
    }
    if at.replicas == 0 {
        // A scaled-to-zero Deployment does not write zero counts.
        if let Some(map) = s.as_object_mut() {
            map.retain(|_, v| v.as_i64() != Some(0));
        }
    }
    Some(s)
}

fn stateful_set(at: &At) -> Option<Value> {
    if at.stage == Stage::Ready && !at.ready {
        return None;
    }
    let revision = at.revision_name();
    let mut s = json!({"observedGeneration": at.generation(), "replicas": at.replicas,
        "updatedReplicas": at.replicas, "currentRevision": revision, "updateRevision": revision,
        "collisionCount": 0, "availableReplicas": 0});
    if at.ready {
        s["readyReplicas"] = json!(at.replicas);
        s["currentReplicas"] = json!(at.replicas);
        s["availableReplicas"] = json!(at.replicas);
    } else if let Some(current) = at.old.get("currentRevision") {
        // Until the new revision is ready the old one stays current.
        s["currentRevision"] = current.clone();
    }
    Some(s)
}

fn daemon_set(at: &At) -> Option<Value> {
    if at.stage == Stage::Ready && !at.ready {
        return None;
    }
    // One simulated node.
    let mut s = json!({"observedGeneration": at.generation(), "desiredNumberScheduled": 1,
        "currentNumberScheduled": 1, "numberMisscheduled": 0, "updatedNumberScheduled": 1, "numberReady": 0});
    if at.ready {
        s["numberReady"] = json!(1);
        s["numberAvailable"] = json!(1);
    } else {
        s["numberUnavailable"] = json!(1);
    }
    Some(s)
}

fn job(at: &At) -> Option<Value> {
    let start = at.start_time();
    if at.ready {
        let completions = at.object.pointer("/spec/completions").and_then(Value::as_i64).unwrap_or(1);
        let reached = |kind: &str| {
            json!({"type": kind, "status": "True", "reason": "CompletionsReached",
                "message": "Reached expected number of succeeded pods", "lastProbeTime": at.now,
                "lastTransitionTime": at.now})
        };
        Some(json!({"startTime": start, "completionTime": at.now, "succeeded": completions, "ready": 0,
            "terminating": 0, "uncountedTerminatedPods": {},
            "conditions": [reached("SuccessCriteriaMet"), reached("Complete")]}))
    } else if at.stage == Stage::Started {
        Some(json!({"startTime": start, "active": 1, "ready": 0, "terminating": 0, "uncountedTerminatedPods": {}}))
    } else {
        None
    }
}

fn pod(at: &At) -> Value {
    let containers = pod_spec(at.object).and_then(|s| s.get("containers")).and_then(Value::as_array);
    let statuses: Vec<Value> = containers
        .into_iter()
        .flatten()
        .map(|c| {
            let name = c.get("name").and_then(Value::as_str).unwrap_or_default();
            let image = c.get("image").and_then(Value::as_str).unwrap_or_default();
            let container_state = if at.ready {
                json!({"running": {"startedAt": at.now}})
            } else if at.stage == Stage::Started {
                json!({"waiting": {"reason": "ContainerCreating"}})
            } else {
                json!({"waiting": {"reason": "ImagePullBackOff", "message": format!("Back-off pulling image {image:?}")}})
            };
            json!({"name": name, "image": image, "imageID": "", "ready": at.ready, "restartCount": 0,
                "started": at.ready, "state": container_state})
        })
        .collect();
    let flag = |kind: &str, on: bool| {
        json!({"type": kind, "status": if on { "True" } else { "False" }, "lastProbeTime": null,
            "lastTransitionTime": at.now})
    };
    let mut s = json!({"phase": if at.ready { "Running" } else { "Pending" }, "startTime": at.start_time(),
        "hostIP": "10.0.0.1",
        "conditions": [flag("Initialized", true), flag("Ready", at.ready), flag("ContainersReady", at.ready),
            flag("PodScheduled", true)],
        "containerStatuses": statuses, "qosClass": "BestEffort"});
    if at.ready {
        s["podIP"] = json!("10.244.0.10");
    }
    s
}

/// Kubernetes spells hashes with a "safe" alphabet without vowels.
const ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";

/// A short, stable revision hash of the pod template, as ReplicaSet names carry one.
fn revision(object: &Value) -> String {
    let template = object.pointer("/spec/template").map(Value::to_string).unwrap_or_default();
    // FNV-1a, as Kubernetes' ComputeHash uses an FNV-32a of the template.
    let mut hash: u32 = 0x811c_9dc5;
    for b in template.bytes() {
        hash ^= u32::from(b);
        hash = hash.wrapping_mul(0x0100_0193);
    }
    let mut out = String::new();
    let mut h = hash;
    for _ in 0..10 {
        out.push(char::from(ALPHABET[usize::try_from(h % 27).expect("below 27")]));
        h /= 27;
        if h == 0 {
            break;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn deployment(image: &str) -> Value {
        json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web", "generation": 2},
            "spec": {"replicas": 3, "template": {"spec": {"containers": [{"name": "web", "image": image}]}}}})
    }

    fn condition<'v>(status: &'v Value, kind: &str) -> (&'v str, &'v str) {
        let c = status["conditions"].as_array().unwrap().iter().find(|c| c["type"] == kind).unwrap();
        (c["status"].as_str().unwrap(), c["reason"].as_str().unwrap())
    }

    #[test]
    fn a_deployment_rolls_out_then_becomes_available() {
        let d = deployment("registry.local:5000/web:1.2");
        let started = status(&d, Stage::Started, "t").unwrap();
        assert_eq!(started["observedGeneration"], 2);
        assert_eq!(started["unavailableReplicas"], 3);
        assert_eq!(condition(&started, "Available"), ("False", "MinimumReplicasUnavailable"));
        assert_eq!(condition(&started, "Progressing"), ("True", "ReplicaSetUpdated"));
        let ready = status(&d, Stage::Ready, "t").unwrap();
        assert_eq!(ready["availableReplicas"], 3);
        assert_eq!(condition(&ready, "Available"), ("True", "MinimumReplicasAvailable"));
        assert_eq!(progress_deadline(&d), None);
    }

    #[test]
    fn a_broken_image_never_becomes_ready() {
        let d = deployment("registry.local:5000/web:broken");
        assert!(broken(&d));
        assert_eq!(status(&d, Stage::Ready, "t"), None);
        assert_eq!(progress_deadline(&d), Some(600));
        let late = status(&d, Stage::DeadlineExceeded, "t").unwrap();
        assert_eq!(condition(&late, "Progressing"), ("False", "ProgressDeadlineExceeded"));
        // A registry port is not a tag.
        assert!(!broken(&deployment("broken:5000/web")));
    }

    #[test]
    fn jobs_complete_and_pods_run() {
        let job = json!({"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "migrate"},
            "spec": {"template": {"spec": {"containers": [{"name": "m", "image": "m:1"}]}}}});
        assert_eq!(status(&job, Stage::Started, "t").unwrap()["active"], 1);
        let done = status(&job, Stage::Ready, "t").unwrap();
        assert_eq!(done["succeeded"], 1);
        assert_eq!(condition(&done, "Complete"), ("True", "CompletionsReached"));
        let pod = json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"},
            "spec": {"containers": [{"name": "c", "image": "c:broken"}]}});
        let stuck = status(&pod, Stage::Ready, "t").unwrap();
        assert_eq!(stuck["phase"], "Pending");
        assert_eq!(stuck["containerStatuses"][0]["state"]["waiting"]["reason"], "ImagePullBackOff");
    }
}
