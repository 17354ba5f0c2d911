//! One placement's sync against the cluster: observe (its inventory and the live objects it
//! labelled), plan (pure, in `flotilla_core::plan`), execute, assess health, and say so in a
//! [`PlacementReport`].
//!
//! Crash safety comes from the order of writes: before any object is created or changed the
//! inventory is widened to hold it (a changed one marked unsettled), so an agent killed mid-apply
//! leaves no object that the next run does not know to be its own, nor a change it would take for
//! drift; the inventory is narrowed (and pruned objects deleted) only after every apply succeeded.
//! Prune is skipped for a placement whose apply failed.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use flotilla_core::health::{self, Health};
use flotilla_core::plan::{self, Inventory, ObjectRef, PLACEMENT_LABEL, Plan};
use flotilla_core::report::{ObjectProblem, ObjectReport, PlacementReport, SyncState};
use serde_json::{Value, json};

use crate::cluster::{self, Cluster};

/// The data key of an inventory ConfigMap.
const INVENTORY_KEY: &str = "inventory";

/// How long a new CRD may take to become established.
const CRD_TIMEOUT: Duration = Duration::from_secs(30);

/// What a placement should run, rendered from a verified commit.
#[derive(Debug, Clone)]
pub struct Desired {
    pub placement: String,
    pub commit: String,
    pub digest: String,
    pub signer: Option<String>,
    /// The rendered objects, in rendered order (labelled by [`Desired::new`]).
    pub objects: Vec<Value>,
    pub options: plan::Options,
}

impl Desired {
    /// Labels every object with its placement: how live objects are found again.
    pub fn new(
        placement: &str,
        commit: &str,
        digest: &str,
        signer: Option<String>,
        mut objects: Vec<Value>,
        options: plan::Options,
    ) -> Desired {
        for o in &mut objects {
            if !o.pointer("/metadata/labels").is_some_and(Value::is_object) {
                o["metadata"]["labels"] = json!({});
            }
            o["metadata"]["labels"][PLACEMENT_LABEL] = json!(placement);
        }
        Desired {
            placement: placement.to_string(),
            commit: commit.to_string(),
            digest: digest.to_string(),
            signer,
            objects,
            options,
        }
    }
}

/// The name of a placement's inventory ConfigMap.
pub fn inventory_name(placement: &str) -> String {
    format!("flotilla-inventory-{placement}")
}

fn inventory_ref(namespace: &str, placement: &str) -> ObjectRef {
    ObjectRef {
        api_version: "v1".into(),
        kind: "ConfigMap".into(),
        namespace: namespace.into(),
        name: inventory_name(placement),
    }
}

/// What a placement applied last time, from its inventory in the cluster.
pub async fn read_inventory(cluster: &mut Cluster, namespace: &str, placement: &str) -> Result<Inventory, String> {
    let r = inventory_ref(namespace, placement);
    let found = cluster.get(&r).await.map_err(|e| e.to_string())?;
    let Some(cm) = found else { return Ok(Inventory::default()) };
    let text = cm.pointer(&format!("/data/{INVENTORY_KEY}")).and_then(Value::as_str).unwrap_or_default();
    Inventory::from_text(text).map_err(|e| format!("{r}: {e}"))
}

async fn write_inventory(
    cluster: &mut Cluster,
    namespace: &str,
    placement: &str,
    inventory: &Inventory,
) -> Result<(), cluster::Error> {
    let ns = json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}});
    cluster.apply(&ns).await?;
    let cm = json!({"apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": inventory_name(placement), "namespace": namespace,
            "labels": {"app.kubernetes.io/managed-by": "flotilla", "flotilla.dev/inventory-of": placement}},
        "data": {INVENTORY_KEY: inventory.to_text()}});
    cluster.apply(&cm).await.map(drop)
}

/// The live objects a placement labelled, of the kinds it renders or applied before.
pub async fn observe(
    cluster: &mut Cluster,
    desired: &Desired,
    before: &Inventory,
) -> Result<BTreeMap<ObjectRef, Value>, cluster::Error> {
    let kinds: BTreeSet<(String, String)> = desired
        .objects
        .iter()
        .filter_map(ObjectRef::of)
        .chain(before.objects.keys().cloned())
        .map(|r| (r.api_version, r.kind))
        .collect();
    let selector = format!("{PLACEMENT_LABEL}={}", desired.placement);
    let mut live = BTreeMap::new();
    for (api_version, kind) in kinds {
        for object in cluster.list(&api_version, &kind, &selector).await? {
            if let Some(r) = ObjectRef::of(&object) {
                live.insert(r, object);
            }
        }
    }
    Ok(live)
}

/// Plans the sync of `desired` on the cluster without changing anything.
pub async fn plan_only(cluster: &mut Cluster, namespace: &str, desired: &Desired) -> Result<Plan, String> {
    let before = read_inventory(cluster, namespace, &desired.placement).await?;
    let live = observe(cluster, desired, &before).await.map_err(|e| e.to_string())?;
    plan::plan(&desired.objects, &live, &before, &desired.commit, &desired.digest, desired.options)
        .map_err(|e| e.to_string())
}

/// Syncs one placement and reports how it went.
pub async fn sync(cluster: &mut Cluster, namespace: &str, desired: &Desired) -> PlacementReport {
    let mut report = PlacementReport {
        name: desired.placement.clone(),
        state: SyncState::Synced,
        source_commit: Some(desired.commit.clone()),
        desired_digest: Some(desired.digest.clone()),
        applied_commit: None,
        applied_digest: None,
        signer: desired.signer.clone(),
        health: Health::Healthy,
        message: None,
        objects: Vec::new(),
    };
    let fail = |mut report: PlacementReport, state: SyncState, message: String| {
        report.state = state;
        report.health = Health::Unknown;
        report.message = Some(message);
        report
    };
    let before = match read_inventory(cluster, namespace, &desired.placement).await {
        Ok(b) => b,
        Err(e) => return fail(report, SyncState::Failed, format!("reading the inventory: {e}")),
    };
    if !before.commit.is_empty() {
        report.applied_commit = Some(before.commit.clone());
        report.applied_digest = Some(before.digest.clone());
    }
    if cluster.stopping() {
        return interrupted(report, 0, desired.objects.len());
    }
    let mut live = match observe(cluster, desired, &before).await {
        Ok(l) => l,
        Err(e) => return fail(report, SyncState::Failed, format!("reading the live objects: {e}")),
    };
    let plan = match plan::plan(&desired.objects, &live, &before, &desired.commit, &desired.digest, desired.options) {
        Ok(p) => p,
        Err(e) => return fail(report, SyncState::Failed, e.to_string()),
    };

    // Widen the inventory before anything new exists or anything changes, so that a crash leaves
    // nothing unknown and every change started recognisable as one.
    if let Some(widened) = plan.inventory_before(&before)
        && let Err(e) = write_inventory(cluster, namespace, &desired.placement, &widened).await
    {
        return fail(report, SyncState::Failed, format!("writing the inventory: {e}"));
    }

    let (mut failures, applied) = apply_all(cluster, desired, &plan, &mut live).await;
    if applied < plan.apply.len() && failures.is_empty() {
        // Stopped between two objects: the widened inventory holds all; nothing is pruned.
        return interrupted(report, applied, plan.apply.len());
    }

    let mut pruned = true;
    if failures.is_empty() {
        for r in &plan.prune {
            if cluster.stopping() {
                return interrupted(report, plan.apply.len(), plan.apply.len() + plan.prune.len());
            }
            if let Err(e) = cluster.delete(r).await {
                failures.push((r.clone(), format!("prune: {e}")));
                pruned = false;
            }
        }
        if pruned {
            match write_inventory(cluster, namespace, &desired.placement, &plan.inventory).await {
                Ok(()) => {
                    report.applied_commit = Some(desired.commit.clone());
                    report.applied_digest = Some(desired.digest.clone());
                }
                Err(e) => failures.push((inventory_ref(namespace, &desired.placement), e.to_string())),
            }
        }
    }

    assess(&mut report, desired, &plan, &live, &failures, pruned);
    report
}

/// What a placement reports when the agent stopped before finishing it.
fn interrupted(mut report: PlacementReport, applied: usize, total: usize) -> PlacementReport {
    report.state = SyncState::Progressing;
    report.health = Health::Unknown;
    report.message = Some(format!("interrupted: the agent is stopping ({applied} of {total} changes applied)"));
    report
}

/// Applies what the plan says, CRDs established before the objects after them, until done or
/// the agent is stopping; the failures and how many steps were taken.
async fn apply_all(
    cluster: &mut Cluster,
    desired: &Desired,
    plan: &Plan,
    live: &mut BTreeMap<ObjectRef, Value>,
) -> (Vec<(ObjectRef, String)>, usize) {
    let mut failures: Vec<(ObjectRef, String)> = Vec::new();
    let by_ref: BTreeMap<ObjectRef, &Value> =
        desired.objects.iter().filter_map(|o| ObjectRef::of(o).map(|r| (r, o))).collect();
    let mut crds_pending: Vec<ObjectRef> = Vec::new();
    let mut taken = 0;
    for step in &plan.apply {
        if cluster.stopping() {
            return (failures, taken);
        }
        taken += 1;
        if !step.object.is_crd() && !crds_pending.is_empty() {
            // Custom resources need their CRDs established (and their kinds discovered) first.
            for crd in std::mem::take(&mut crds_pending) {
                if let Err(e) = cluster.wait_established(&crd, CRD_TIMEOUT).await {
                    failures.push((crd, e.to_string()));
                }
            }
        }
        let object = by_ref[&step.object];
        match cluster.apply(object).await {
            Ok(applied) => {
                live.insert(step.object.clone(), applied);
                if step.object.is_crd() {
                    crds_pending.push(step.object.clone());
                }
            }
            Err(e) => failures.push((step.object.clone(), e.to_string())),
        }
    }
    for crd in crds_pending {
        if let Err(e) = cluster.wait_established(&crd, CRD_TIMEOUT).await {
            failures.push((crd, e.to_string()));
        }
    }
    (failures, taken)
}

/// Fills in the report's objects (drifted, failed, unhealthy), health and state.
fn assess(
    report: &mut PlacementReport,
    desired: &Desired,
    plan: &Plan,
    live: &BTreeMap<ObjectRef, Value>,
    failures: &[(ObjectRef, String)],
    pruned: bool,
) {
    for (r, differences) in &plan.drifted {
        let fields = differences.iter().map(|d| d.path.clone()).collect();
        let corrected = desired.options.drift_correction && !failures.iter().any(|(f, _)| f == r);
        report.objects.push(object_report(
            r,
            ObjectProblem::Drifted,
            Some(if corrected { "corrected".into() } else { "not corrected: driftCorrection is off".into() }),
            fields,
        ));
    }
    for (r, message) in failures {
        report.objects.push(object_report(r, ObjectProblem::Failed, Some(message.clone()), Vec::new()));
    }
    let mut healths = Vec::new();
    for r in desired.objects.iter().filter_map(ObjectRef::of) {
        let assessment = live.get(&r).map_or_else(
            || health::Assessment { health: Health::Missing, message: "not in the cluster".into() },
            health::assess,
        );
        if assessment.health != Health::Healthy && !failures.iter().any(|(f, _)| *f == r) {
            report.objects.push(object_report(
                &r,
                ObjectProblem::Unhealthy,
                Some(format!("{:?}: {}", assessment.health, assessment.message)),
                Vec::new(),
            ));
        }
        healths.push(assessment.health);
    }
    report.health = health::rollup(healths);
    report.state = if failures.is_empty() {
        match report.health {
            Health::Degraded => SyncState::Degraded,
            Health::Progressing | Health::Missing | Health::Unknown => SyncState::Progressing,
            Health::Healthy => SyncState::Synced,
        }
    } else {
        report.message = Some(format!(
            "{} of {} objects failed; {}",
            failures.len(),
            desired.objects.len(),
            if pruned && plan.prune.is_empty() { "nothing to prune" } else { "prune skipped" }
        ));
        SyncState::Failed
    };
}

fn object_report(r: &ObjectRef, problem: ObjectProblem, message: Option<String>, fields: Vec<String>) -> ObjectReport {
    ObjectReport {
        api_version: r.api_version.clone(),
        kind: r.kind.clone(),
        namespace: (!r.namespace.is_empty()).then(|| r.namespace.clone()),
        name: r.name.clone(),
        problem,
        message,
        fields,
    }
}
