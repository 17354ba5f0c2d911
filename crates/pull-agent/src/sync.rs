//! One placement's sync against the cluster: observe (its inventory and the live objects it
//! labelled), plan (pure, in `flotilla_core::plan`), execute, assess health, and say so in a
//! [`PlacementReport`].
//!
//! Crash safety comes from the order of writes: before any object is created or changed the
//! inventory is widened to hold it (a changed one marked unsettled), so an agent killed mid-apply
//! leaves no object that the next run does not know to be its own, nor a change it would take for
//! drift; the inventory is narrowed (and pruned objects deleted) only after every apply succeeded.
//! Prune is skipped for a placement whose apply failed.
//!
//! Ownership (SPEC §4): an inventory is used only when its seal verifies with the agent's own
//! key (kept in `stateDir`), so a ConfigMap shaped like an inventory never decides what is
//! deleted; a lost or unsealed inventory is rebuilt from the objects labelled for the placement
//! that the agent applied (field manager `flotilla`). An object another placement owns is not
//! taken: the second placement reports `Conflict`. Prune deletes an object only when it is in
//! the placement's scope, labelled for it, recorded as applied by this agent, not one of the
//! agent's own records, and rendered by no other placement; what it leaves is released (dropped
//! from the inventory, left in the cluster) and every deletion and release is logged and listed.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::time::Duration;

use anyhow::Context as _;
use flotilla_core::health::{self, Health};
use flotilla_core::plan::{self, Inventory, ObjectRef, PLACEMENT_LABEL, Plan, UNSETTLED};
use flotilla_core::report::{self, MAX_OBJECTS, ObjectProblem, ObjectReport, PlacementReport, SyncState};
use flotilla_core::scope::{self, INVENTORY_LABEL};
use serde_json::{Value, json};

use crate::cluster::{self, Cluster};

/// What a drifted object's report says: whether the drift was corrected.
pub fn drift_said(corrected: bool) -> &'static str {
    if corrected { "corrected" } else { "not corrected: driftCorrection is off" }
}

/// The data key of an inventory ConfigMap.
const INVENTORY_KEY: &str = "inventory";
/// The data key of an inventory's seal.
const SEAL_KEY: &str = "seal";
/// The field manager the agent writes its own namespace as.
const RECORDS_MANAGER: &str = "flotilla-records";
/// The file, under `stateDir`, that holds the key inventories are sealed with.
pub const KEY_FILE: &str = "inventory-key";
/// The file, under `stateDir`, that holds the secret a chart's random values are drawn from on
/// this cluster (`render::Secret`).
pub const RENDER_SECRET_FILE: &str = "render-secret";

/// The key this agent seals its inventories with, from `stateDir/inventory-key`; made (32
/// random bytes, 0600) when there is none. A new key makes every inventory unsealed: the next
/// syncs find their objects again by label and seal them anew.
pub fn inventory_key(state_dir: &Path) -> anyhow::Result<Vec<u8>> {
    let key = state_secret(state_dir, KEY_FILE, true)?;
    Ok(key.expect("made when missing"))
}

/// The secret a chart's random values (`randAlphaNum`, `genCA`, …) are drawn from on this
/// cluster, from `stateDir/render-secret`; made (32 random bytes, 0600) when there is none and
/// `make` says so, else `None`. A new secret gives a chart's generated passwords and keys new
/// values: keep the file with the cluster (back it up with stateDir).
pub fn render_secret(state_dir: &Path, make: bool) -> anyhow::Result<Option<flotilla_core::render::Secret>> {
    Ok(state_secret(state_dir, RENDER_SECRET_FILE, make)?.map(flotilla_core::render::Secret::new))
}

/// 32 secret bytes from `stateDir/FILE` (64 hex digits), made when missing and `make` says so.
fn state_secret(state_dir: &Path, file: &str, make: bool) -> anyhow::Result<Option<Vec<u8>>> {
    let path = state_dir.join(file);
    match std::fs::read_to_string(&path) {
        Ok(text) => {
            let text = text.trim();
            let key: Option<Vec<u8>> = (text.len() == 64)
                .then(|| (0..32).map(|i| u8::from_str_radix(&text[i * 2..i * 2 + 2], 16).ok()).collect())
                .flatten();
            key.map(Some).with_context(|| format!("{}: not a key of 64 hex digits", path.display()))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && !make => Ok(None),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let mut key = vec![0u8; 32];
            getrandom::fill(&mut key).map_err(|e| anyhow::anyhow!("drawing {}: {e}", path.display()))?;
            let text = flotilla_core::digest::hex(&key);
            std::fs::create_dir_all(state_dir).with_context(|| format!("creating {}", state_dir.display()))?;
            crate::spool::write_atomically_private(&path, text.as_bytes())
                .with_context(|| format!("writing {}", path.display()))?;
            Ok(Some(key))
        }
        Err(e) => Err(e).with_context(|| format!("reading {}", path.display())),
    }
}

/// What a sync needs besides the desired state: where the agent keeps its records, its seal
/// key, and which objects the other placements of the cluster own or render.
#[derive(Debug, Clone, Copy)]
pub struct Context<'a> {
    /// The agent's own namespace, where the inventories are.
    pub namespace: &'a str,
    pub key: &'a [u8],
    pub claims: &'a Claims,
    /// The agent's `stateDir`: the kinds it ever applied (where a lost inventory's objects are
    /// looked for) are kept there.
    pub state_dir: &'a Path,
}

/// The file, under `stateDir`, listing every kind the agent ever applied, one
/// `APIVERSION KIND` a line.
const KINDS_FILE: &str = "applied-kinds";

/// The kinds this agent ever applied, from `stateDir`.
fn applied_kinds(state_dir: &Path) -> BTreeSet<(String, String)> {
    let text = std::fs::read_to_string(state_dir.join(KINDS_FILE)).unwrap_or_default();
    text.lines().filter_map(|l| l.split_once(' ')).map(|(a, k)| (a.to_string(), k.to_string())).collect()
}

/// Adds `kinds` to the kinds this agent ever applied, before any object of them exists.
fn remember_kinds(state_dir: &Path, kinds: impl IntoIterator<Item = (String, String)>) -> std::io::Result<()> {
    let mut known = applied_kinds(state_dir);
    let before = known.len();
    known.extend(kinds);
    if known.len() == before {
        return Ok(());
    }
    let text = known.iter().fold(String::new(), |mut text, (a, k)| {
        use std::fmt::Write as _;
        let _ = writeln!(text, "{a} {k}");
        text
    });
    std::fs::create_dir_all(state_dir)?;
    crate::spool::write_atomically(&state_dir.join(KINDS_FILE), text.as_bytes())
}

/// Who owns and who renders each object on the cluster: the placements' sealed inventories and
/// this cycle's renders. A placement takes no object another owns, and prunes none another
/// renders or owns.
#[derive(Debug, Clone, Default)]
pub struct Claims {
    owners: BTreeMap<ObjectRef, String>,
    rendered: BTreeMap<ObjectRef, BTreeSet<String>>,
}

impl Claims {
    /// Records `placement`'s inventory as what it owns now (replacing what it owned before).
    pub fn own(&mut self, placement: &str, inventory: &Inventory) {
        self.owners.retain(|_, owner| owner != placement);
        for r in inventory.objects.keys() {
            self.owners.entry(r.clone()).or_insert_with(|| placement.to_string());
        }
    }

    /// Records that `placement` now owns those of `objects` nobody else owns (after its sync).
    pub fn take(&mut self, placement: &str, objects: &[Value]) {
        for r in objects.iter().filter_map(ObjectRef::of) {
            self.owners.entry(r).or_insert_with(|| placement.to_string());
        }
    }

    /// Records that `placement` renders the objects `refs` this cycle.
    pub fn render(&mut self, placement: &str, refs: impl IntoIterator<Item = ObjectRef>) {
        for r in refs {
            self.rendered.entry(r).or_default().insert(placement.to_string());
        }
    }

    /// The placement other than `me` that owns `r`, if any.
    pub fn owner_besides(&self, r: &ObjectRef, me: &str) -> Option<&str> {
        self.owners.get(r).map(String::as_str).filter(|o| *o != me)
    }

    /// A placement other than `me` that renders or owns `r`, if any.
    pub fn claimed_besides(&self, r: &ObjectRef, me: &str) -> Option<&str> {
        self.rendered
            .get(r)
            .and_then(|by| by.iter().find(|p| *p != me))
            .map(String::as_str)
            .or(self.owner_besides(r, me))
    }

    /// Reads every sealed inventory in `namespace` (one list call): what each placement of
    /// `selected` (those that select the cluster now) owns. Unsealed ones are left out (their
    /// placements rebuild theirs when they next sync), and so are those of placements that no
    /// longer select the cluster: nobody syncs them, so what they hold is free to take (a
    /// renamed placement takes its objects over rather than conflicting with its old name).
    pub async fn load(
        cluster: &mut Cluster,
        namespace: &str,
        key: &[u8],
        selected: &BTreeSet<String>,
    ) -> Result<Claims, cluster::Error> {
        let mut claims = Claims::default();
        for cm in cluster.list_in("v1", "ConfigMap", Some(namespace), INVENTORY_LABEL).await? {
            let Some(placement) = cm.pointer(&format!("/metadata/labels/{}", INVENTORY_LABEL.replace('/', "~1")))
            else {
                continue;
            };
            let Some(placement) = placement.as_str().filter(|p| selected.contains(*p)) else { continue };
            if cm.pointer("/metadata/name").and_then(Value::as_str) != Some(inventory_name(placement).as_str()) {
                continue;
            }
            if let Found::Sealed(inventory) = unseal(&cm, namespace, placement, key) {
                claims.own(placement, &inventory);
            }
        }
        Ok(claims)
    }
}

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
    /// What the placement may write: prune deletes nothing outside it.
    pub scope: scope::Effective,
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
        scope: scope::Effective,
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
            scope,
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

/// A placement's inventory as found in the cluster.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Found {
    /// Written and sealed by this agent.
    Sealed(Inventory),
    /// No inventory: a placement new to the cluster, or one whose inventory was deleted.
    Missing,
    /// A ConfigMap by that name whose seal does not verify (or that does not read): never used.
    Unsealed(String),
}

fn unseal(cm: &Value, namespace: &str, placement: &str, key: &[u8]) -> Found {
    let text = cm.pointer(&format!("/data/{INVENTORY_KEY}")).and_then(Value::as_str).unwrap_or_default();
    let Some(seal) = cm.pointer(&format!("/data/{SEAL_KEY}")).and_then(Value::as_str) else {
        return Found::Unsealed("it carries no seal".into());
    };
    if !plan::verify_seal(key, placement, namespace, text, seal) {
        return Found::Unsealed("its seal does not verify with this agent's key".into());
    }
    match Inventory::from_text(text) {
        Ok(inventory) => Found::Sealed(inventory),
        Err(e) => Found::Unsealed(e.to_string()),
    }
}

/// A placement's inventory in the cluster, and whether this agent sealed it.
pub async fn find_inventory(
    cluster: &mut Cluster,
    namespace: &str,
    placement: &str,
    key: &[u8],
) -> Result<Found, cluster::Error> {
    let found = cluster.get(&inventory_ref(namespace, placement)).await?;
    Ok(found.map_or(Found::Missing, |cm| unseal(&cm, namespace, placement, key)))
}

/// What a placement applied last time, from its sealed inventory; an empty one when it has
/// none this agent sealed.
pub async fn read_inventory(
    cluster: &mut Cluster,
    namespace: &str,
    placement: &str,
    key: &[u8],
) -> Result<Inventory, String> {
    match find_inventory(cluster, namespace, placement, key).await.map_err(|e| e.to_string())? {
        Found::Sealed(inventory) => Ok(inventory),
        Found::Missing | Found::Unsealed(_) => Ok(Inventory::default()),
    }
}

async fn write_inventory(
    cluster: &mut Cluster,
    context: Context<'_>,
    placement: &str,
    inventory: &Inventory,
) -> Result<(), cluster::Error> {
    let namespace = context.namespace;
    // As a field manager of its own: applied as `flotilla` with nothing but its name, it would
    // take away whatever labels `flotilla` applied to it before.
    let ns = json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}});
    cluster.apply_as(&ns, RECORDS_MANAGER).await?;
    let text = inventory.to_text();
    let seal = plan::seal(context.key, placement, namespace, &text);
    let cm = json!({"apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": inventory_name(placement), "namespace": namespace,
            "labels": {"app.kubernetes.io/managed-by": "flotilla", INVENTORY_LABEL: placement}},
        "data": {INVENTORY_KEY: text, SEAL_KEY: seal}});
    cluster.apply(&cm).await.map(drop)
}

/// The objects labelled for `placement` that this agent applied (field manager `flotilla`),
/// of every kind the agent ever applied (`stateDir`) or renders now: what a placement whose
/// inventory is lost or unsealed owns. Each is recorded as unsettled, so that it is applied again
/// if still rendered and pruned if not. A kind the agent may not list is passed over: it cannot
/// have applied it and found it again either.
async fn rediscover(
    cluster: &mut Cluster,
    context: Context<'_>,
    desired: &Desired,
) -> Result<Inventory, cluster::Error> {
    let placement = &desired.placement;
    let selector = format!("{PLACEMENT_LABEL}={placement}");
    let mut kinds = applied_kinds(context.state_dir);
    kinds.extend(desired.objects.iter().filter_map(ObjectRef::of).map(|r| (r.api_version, r.kind)));
    let mut inventory = Inventory::default();
    for (api_version, kind) in kinds {
        let listed = match cluster.list(&api_version, &kind, &selector).await {
            Ok(listed) => listed,
            Err(cluster::Error::Api { source: kube::Error::Api(status), .. }) if status.code == 403 => {
                tracing::warn!("placement {placement}: may not list {api_version} {kind}; not looked for");
                continue;
            }
            Err(e) => return Err(e),
        };
        for object in listed {
            let ours = object.pointer("/metadata/managedFields").and_then(Value::as_array).is_some_and(|fields| {
                fields.iter().any(|f| f["manager"] == cluster::FIELD_MANAGER && f["operation"] == "Apply")
            });
            if let Some(r) = ObjectRef::of(&object).filter(|_| ours) {
                inventory.objects.insert(r, UNSETTLED.to_string());
            }
        }
    }
    Ok(inventory)
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

/// What a placement applied before: its sealed inventory, or — lost or unsealed — the objects
/// found again by their label; and a note when it had to be found again after all.
async fn before(
    cluster: &mut Cluster,
    context: Context<'_>,
    desired: &Desired,
) -> Result<(Inventory, Option<String>), String> {
    let placement = desired.placement.as_str();
    let found = find_inventory(cluster, context.namespace, placement, context.key)
        .await
        .map_err(|e| format!("reading the inventory: {e}"))?;
    let note = match found {
        Found::Sealed(inventory) => return Ok((inventory, None)),
        Found::Missing => None,
        Found::Unsealed(why) => Some(format!(
            "the inventory {} is not used: {why}; the placement's objects were found again by their label",
            inventory_ref(context.namespace, placement)
        )),
    };
    let inventory =
        rediscover(cluster, context, desired).await.map_err(|e| format!("finding the placement's objects: {e}"))?;
    let note = note.or_else(|| {
        (!inventory.objects.is_empty()).then(|| {
            format!("no inventory: {} objects labelled for the placement were found again", inventory.objects.len())
        })
    });
    Ok((inventory, note))
}

/// The objects of `desired` that another placement owns: each with the owner.
fn conflicts(desired: &Desired, claims: &Claims) -> Vec<(ObjectRef, String)> {
    desired
        .objects
        .iter()
        .filter_map(ObjectRef::of)
        .filter_map(|r| claims.owner_besides(&r, &desired.placement).map(|o| (r, o.to_string())))
        .collect()
}

/// Why prune leaves an object the plan would delete: `None` to delete it. Only an object in
/// the placement's scope, labelled for it (`live` holds only those), recorded as applied (the
/// plan takes it from the inventory), not the agent's own, and rendered by no other placement.
async fn spare(
    cluster: &mut Cluster,
    context: Context<'_>,
    desired: &Desired,
    r: &ObjectRef,
    live: &BTreeMap<ObjectRef, Value>,
) -> Option<String> {
    let Some(object) = live.get(r) else {
        return Some("not labelled for this placement (or already gone)".into());
    };
    if let Some(rule) = scope::protected(r, object.pointer("/metadata/labels"), context.namespace) {
        return Some(rule);
    }
    if let Some(other) = context.claims.claimed_besides(r, &desired.placement) {
        return Some(format!("placement {other} renders it"));
    }
    match cluster.namespaced(&r.api_version, &r.kind).await {
        Ok(Some(namespaced)) => desired.scope.allows(r, namespaced).err(),
        Ok(None) => None,
        Err(e) => Some(format!("cannot tell whether it is in scope: {e}")),
    }
}

/// Takes out of `plan`'s prune what prune may not delete ([`spare`]): released, left in the
/// cluster and dropped from the inventory; each with why.
async fn release(
    cluster: &mut Cluster,
    context: Context<'_>,
    desired: &Desired,
    plan: &mut Plan,
    live: &BTreeMap<ObjectRef, Value>,
) -> Vec<(ObjectRef, String)> {
    let mut released = Vec::new();
    for r in std::mem::take(&mut plan.prune) {
        match spare(cluster, context, desired, &r, live).await {
            None => plan.prune.push(r),
            Some(why) => released.push((r, why)),
        }
    }
    released
}

/// Plans the sync of `desired` on the cluster without changing anything.
pub async fn plan_only(cluster: &mut Cluster, context: Context<'_>, desired: &Desired) -> Result<Plan, String> {
    let (before, _) = before(cluster, context, desired).await?;
    if let Some((r, owner)) = conflicts(desired, context.claims).into_iter().next() {
        return Err(format!("{r} is placement {owner}'s: nothing would be applied"));
    }
    let live = observe(cluster, desired, &before).await.map_err(|e| e.to_string())?;
    let mut plan = plan::plan(&desired.objects, &live, &before, &desired.commit, &desired.digest, desired.options)
        .map_err(|e| e.to_string())?;
    release(cluster, context, desired, &mut plan, &live).await;
    Ok(plan)
}

/// Syncs one placement and reports how it went.
pub async fn sync(cluster: &mut Cluster, context: Context<'_>, desired: &Desired) -> PlacementReport {
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
        images: Vec::new(),
    };
    let fail = |mut report: PlacementReport, state: SyncState, message: String| {
        report.state = state;
        report.health = Health::Unknown;
        report.message = Some(message);
        report
    };
    let (before, note) = match before(cluster, context, desired).await {
        Ok(b) => b,
        Err(e) => return fail(report, SyncState::Failed, e),
    };
    if let Some(note) = &note {
        tracing::warn!("placement {}: {note}", desired.placement);
    }
    if !before.commit.is_empty() {
        report.applied_commit = Some(before.commit.clone());
        report.applied_digest = Some(before.digest.clone());
    }
    if cluster.stopping() {
        return interrupted(report, 0, desired.objects.len());
    }
    let conflicts = conflicts(desired, context.claims);
    if !conflicts.is_empty() {
        return conflicted(report, &conflicts);
    }
    let mut live = match observe(cluster, desired, &before).await {
        Ok(l) => l,
        Err(e) => return fail(report, SyncState::Failed, format!("reading the live objects: {e}")),
    };
    let mut plan = match plan::plan(&desired.objects, &live, &before, &desired.commit, &desired.digest, desired.options)
    {
        Ok(p) => p,
        Err(e) => return fail(report, SyncState::Failed, e.to_string()),
    };

    let released = release(cluster, context, desired, &mut plan, &live).await;

    // Remember the kinds before any object of them exists: where a lost inventory is looked for.
    if let Err(e) = remember_kinds(
        context.state_dir,
        plan.apply.iter().map(|a| (a.object.api_version.clone(), a.object.kind.clone())),
    ) {
        return fail(report, SyncState::Failed, format!("keeping the kinds applied in stateDir: {e}"));
    }
    // Widen the inventory before anything new exists or anything changes, so that a crash leaves
    // nothing unknown and every change started recognisable as one. A rebuilt inventory is
    // written whatever the plan, so that it is sealed.
    let widened = plan.inventory_before(&before).or_else(|| note.is_some().then(|| before.clone()));
    if let Some(widened) = widened
        && let Err(e) = write_inventory(cluster, context, &desired.placement, &widened).await
    {
        return fail(report, SyncState::Failed, format!("writing the inventory: {e}"));
    }

    let (mut failures, applied) = apply_all(cluster, desired, &plan, &mut live).await;
    if applied < plan.apply.len() && failures.is_empty() {
        // Stopped between two objects: the widened inventory holds all; nothing is pruned.
        return interrupted(report, applied, plan.apply.len());
    }

    let mut pruned = true;
    let mut deleted = Vec::new();
    if failures.is_empty() {
        for r in &plan.prune {
            if cluster.stopping() {
                return interrupted(report, plan.apply.len(), plan.apply.len() + plan.prune.len());
            }
            match cluster.delete(r).await {
                Ok(_) => {
                    tracing::info!("placement {}: pruned {r}", desired.placement);
                    deleted.push(r.clone());
                }
                Err(e) => {
                    failures.push((r.clone(), format!("prune: {e}")));
                    pruned = false;
                }
            }
        }
        if pruned {
            for (r, why) in &released {
                tracing::info!("placement {}: not pruned, released: {r}: {why}", desired.placement);
            }
            match write_inventory(cluster, context, &desired.placement, &plan.inventory).await {
                Ok(()) => {
                    report.applied_commit = Some(desired.commit.clone());
                    report.applied_digest = Some(desired.digest.clone());
                    report.images = report::images(&desired.objects);
                }
                Err(e) => failures.push((inventory_ref(context.namespace, &desired.placement), e.to_string())),
            }
        }
    }

    assess(&mut report, desired, &plan, &live, &failures, pruned);
    list_pruned(&mut report, &deleted, if pruned { &released } else { &[] });
    report
}

/// What a placement reports when another placement owns objects it renders: nothing applied.
fn conflicted(mut report: PlacementReport, conflicts: &[(ObjectRef, String)]) -> PlacementReport {
    let owners: BTreeSet<&str> = conflicts.iter().map(|(_, o)| o.as_str()).collect();
    let owners: Vec<&str> = owners.into_iter().collect();
    report.state = SyncState::Conflict;
    report.health = Health::Unknown;
    report.message = Some(format!(
        "{} of its objects belong to placement {} (first {}); nothing applied",
        conflicts.len(),
        owners.join(", "),
        conflicts[0].0
    ));
    for (r, owner) in conflicts.iter().take(MAX_OBJECTS) {
        let message = format!("placement {owner} owns it; it stays as that placement applied it");
        report.objects.push(object_report(r, ObjectProblem::Refused, Some(message), Vec::new()));
    }
    report
}

/// Lists what this sync pruned and what it released, once, in its report (the longest lists
/// clipped to the report's limit).
fn list_pruned(report: &mut PlacementReport, deleted: &[ObjectRef], released: &[(ObjectRef, String)]) {
    let room = MAX_OBJECTS.saturating_sub(report.objects.len());
    for r in deleted.iter().take(room) {
        let message = Some("pruned: no longer rendered".into());
        report.objects.push(object_report(r, ObjectProblem::Pruned, message, Vec::new()));
    }
    let room = MAX_OBJECTS.saturating_sub(report.objects.len());
    for (r, why) in released.iter().take(room) {
        let message = format!("not pruned, released: {why}");
        report.objects.push(object_report(r, ObjectProblem::Pruned, Some(message), Vec::new()));
    }
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
        report.objects.push(object_report(r, ObjectProblem::Drifted, Some(drift_said(corrected).into()), fields));
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
