//! What a sync must do to a cluster: `plan(desired, live, inventory) -> Plan`, then the agent
//! executes it. Level-triggered and idempotent: once a plan is carried out and the inventory
//! written, planning again gives an empty plan.
//!
//! The inventory is what a placement applied last time: one entry per object with a hash of
//! the object as applied. An object is applied when it is new, missing from the cluster, changed
//! in git (its hash differs) or drifted (its live fields differ from what was applied, see
//! [`crate::drift`]); objects the inventory holds and git no longer renders are pruned. Not the
//! executor: no Kubernetes client here.

use std::collections::BTreeMap;
use std::fmt::{self, Write as _};

use serde_json::Value;
use sha2::{Digest as _, Sha256};

use crate::drift::{self, Difference};

/// The label every applied object carries, naming its placement.
pub const PLACEMENT_LABEL: &str = "flotilla.dev/placement";

/// Which object: group/version, kind, namespace (empty for cluster-scoped objects) and name.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ObjectRef {
    pub api_version: String,
    pub kind: String,
    pub namespace: String,
    pub name: String,
}

impl ObjectRef {
    /// The reference of an object; `None` when it lacks apiVersion, kind or name.
    pub fn of(object: &Value) -> Option<ObjectRef> {
        let text = |p: &str| object.pointer(p).and_then(Value::as_str).map(String::from);
        Some(ObjectRef {
            api_version: text("/apiVersion")?,
            kind: text("/kind")?,
            namespace: text("/metadata/namespace").unwrap_or_default(),
            name: text("/metadata/name")?,
        })
    }

    /// The API group (empty for the core group).
    pub fn group(&self) -> &str {
        self.api_version.rsplit_once('/').map_or("", |(g, _)| g)
    }

    /// Applied first (Namespaces, then CRDs) and pruned last.
    fn rank(&self) -> u8 {
        match (self.group(), self.kind.as_str()) {
            ("", "Namespace") => 0,
            ("apiextensions.k8s.io", "CustomResourceDefinition") => 1,
            _ => 2,
        }
    }

    /// Whether this is a CustomResourceDefinition (its kinds are usable once it is established).
    pub fn is_crd(&self) -> bool {
        self.rank() == 1
    }
}

impl fmt::Display for ObjectRef {
    /// `apps/v1 Deployment shop/web`, or `v1 Namespace shop` for a cluster-scoped object.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.namespace.is_empty() {
            write!(f, "{} {} {}", self.api_version, self.kind, self.name)
        } else {
            write!(f, "{} {} {}/{}", self.api_version, self.kind, self.namespace, self.name)
        }
    }
}

/// What a placement applied last time.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Inventory {
    /// The source commit and digest applied, when the last sync completed.
    pub commit: String,
    pub digest: String,
    /// Every object applied, with the hash of what was applied.
    pub objects: BTreeMap<ObjectRef, String>,
}

/// An inventory that cannot be read back.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("inventory line {line}: {problem}")]
pub struct InventoryError {
    pub line: usize,
    pub problem: String,
}

impl Inventory {
    /// The text form kept in the cluster: `commit`, `digest`, then one line per object,
    /// `HASH APIVERSION KIND NAMESPACE NAME` with `-` for no namespace.
    pub fn to_text(&self) -> String {
        let mut out = format!("commit {}\ndigest {}\n", self.commit, self.digest);
        for (r, hash) in &self.objects {
            let ns = if r.namespace.is_empty() { "-" } else { &r.namespace };
            // Writing to a String cannot fail.
            let _ = writeln!(out, "{hash} {} {} {ns} {}", r.api_version, r.kind, r.name);
        }
        out
    }

    pub fn from_text(text: &str) -> Result<Inventory, InventoryError> {
        let mut inventory = Inventory::default();
        for (i, line) in text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty()) {
            let fields: Vec<&str> = line.split(' ').collect();
            let bad = |problem: &str| InventoryError { line: i + 1, problem: problem.to_string() };
            match fields.as_slice() {
                ["commit", c] => inventory.commit = (*c).to_string(),
                ["digest", d] => inventory.digest = (*d).to_string(),
                [hash, api_version, kind, ns, name] => {
                    let namespace = if *ns == "-" { String::new() } else { (*ns).to_string() };
                    let r = ObjectRef {
                        api_version: (*api_version).to_string(),
                        kind: (*kind).to_string(),
                        namespace,
                        name: (*name).to_string(),
                    };
                    if inventory.objects.insert(r, (*hash).to_string()).is_some() {
                        return Err(bad("the object is listed twice"));
                    }
                }
                _ => return Err(bad("expected `HASH APIVERSION KIND NAMESPACE NAME`")),
            }
        }
        Ok(inventory)
    }
}

/// The seal of an inventory: HMAC-SHA256, with the agent's own key, over the placement, the
/// namespace the inventory is kept in and the inventory's text, in hex. The agent writes it
/// beside the text and uses an inventory for pruning only when the seal verifies
/// ([`verify_seal`]), so that a ConfigMap shaped like an inventory — written by a source, by
/// hand, or by another agent — never decides what is deleted.
pub fn seal(key: &[u8], placement: &str, namespace: &str, text: &str) -> String {
    use hmac::Mac as _;
    let mut mac = hmac::Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes a key of any length");
    for part in [placement, "\n", namespace, "\n", text] {
        mac.update(part.as_bytes());
    }
    crate::digest::hex(&mac.finalize().into_bytes())
}

/// Whether `seal` is the seal of the inventory `text` of `placement` under `key` (compared in
/// constant time).
pub fn verify_seal(key: &[u8], placement: &str, namespace: &str, text: &str, seal: &str) -> bool {
    let expected = self::seal(key, placement, namespace, text);
    expected.len() == seal.len() && expected.bytes().zip(seal.bytes()).fold(0u8, |acc, (a, b)| acc | (a ^ b)) == 0
}

/// A short hash of an object as applied: changes whenever what git renders for it changes.
pub fn object_hash(object: &Value) -> String {
    let digest = Sha256::digest(crate::digest::canonical_json(object).as_bytes());
    digest.iter().take(8).fold(String::with_capacity(16), |mut out, b| {
        let _ = write!(out, "{b:02x}");
        out
    })
}

/// Why an object is applied.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    /// Not applied before by this placement.
    New,
    /// Applied before, gone from the cluster now.
    Missing,
    /// What git renders for it changed.
    Changed,
    /// Its live fields differ from what was applied; corrected.
    Drifted,
}

/// One object to apply.
#[derive(Debug, Clone, PartialEq)]
pub struct Apply {
    pub object: ObjectRef,
    pub reason: Reason,
}

/// Knobs from the placement's `sync`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Options {
    pub prune: bool,
    pub drift_correction: bool,
}

impl Default for Options {
    fn default() -> Self {
        Options { prune: true, drift_correction: true }
    }
}

/// What a sync must do, in order.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Plan {
    /// Namespaces first, then CRDs, then the rest in rendered order.
    pub apply: Vec<Apply>,
    /// Objects this placement applied before and git no longer renders: the rest first, CRDs and
    /// Namespaces last.
    pub prune: Vec<ObjectRef>,
    /// Every object whose live fields differ from what was applied (corrected or not).
    pub drifted: Vec<(ObjectRef, Vec<Difference>)>,
    /// The inventory to record once the plan is carried out.
    pub inventory: Inventory,
}

/// The hash an inventory holds for an object whose change was started and not confirmed. It
/// equals no object's hash, so the next plan applies the object again whatever git says then.
pub const UNSETTLED: &str = "unsettled";

impl Plan {
    pub fn is_empty(&self) -> bool {
        self.apply.is_empty() && self.prune.is_empty()
    }

    /// The inventory to record before the plan is carried out, when it must differ from
    /// `before`: every object the plan applies is in it — a new one with its hash, so that a
    /// crash leaves no object the inventory does not know; one applied before with another hash
    /// as [`UNSETTLED`], so that a crash after its change leaves it to be applied again rather
    /// than taken, should git take the change back, for drift.
    pub fn inventory_before(&self, before: &Inventory) -> Option<Inventory> {
        let mut widened = before.clone();
        for step in &self.apply {
            let hash = &self.inventory.objects[&step.object];
            match widened.objects.get_mut(&step.object) {
                None => {
                    widened.objects.insert(step.object.clone(), hash.clone());
                }
                Some(old) if old != hash => UNSETTLED.clone_into(old),
                Some(_) => {}
            }
        }
        (widened != *before).then_some(widened)
    }
}

/// A desired object that cannot be planned.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    #[error("object {index} has no apiVersion, kind or metadata.name")]
    Unnamed { index: usize },
    #[error("{0} is rendered twice")]
    Duplicate(ObjectRef),
}

/// Plans a sync of `desired` (the rendered objects, labelled, in rendered order) against the
/// `live` objects of the placement and what it applied before.
pub fn plan(
    desired: &[Value],
    live: &BTreeMap<ObjectRef, Value>,
    before: &Inventory,
    commit: &str,
    digest: &str,
    options: Options,
) -> Result<Plan, Error> {
    let mut plan = Plan {
        inventory: Inventory { commit: commit.to_string(), digest: digest.to_string(), objects: BTreeMap::new() },
        ..Plan::default()
    };
    let mut order: Vec<(u8, usize, Apply)> = Vec::new();
    for (index, object) in desired.iter().enumerate() {
        let r = ObjectRef::of(object).ok_or(Error::Unnamed { index })?;
        let hash = object_hash(object);
        if plan.inventory.objects.insert(r.clone(), hash.clone()).is_some() {
            return Err(Error::Duplicate(r));
        }
        let reason = match (live.get(&r), before.objects.get(&r)) {
            (None, Some(_)) => Some(Reason::Missing),
            (_, None) => Some(Reason::New),
            (Some(_), Some(old)) if *old != hash => Some(Reason::Changed),
            (Some(l), Some(_)) => {
                let differences = drift::drift(object, l);
                if differences.is_empty() {
                    None
                } else {
                    plan.drifted.push((r.clone(), differences));
                    options.drift_correction.then_some(Reason::Drifted)
                }
            }
        };
        if let Some(reason) = reason {
            order.push((r.rank(), index, Apply { object: r, reason }));
        }
    }
    order.sort_by_key(|(rank, index, _)| (*rank, *index));
    plan.apply = order.into_iter().map(|(_, _, a)| a).collect();
    if options.prune {
        let mut gone: Vec<&ObjectRef> =
            before.objects.keys().filter(|r| !plan.inventory.objects.contains_key(*r)).collect();
        gone.sort_by_key(|r| std::cmp::Reverse(r.rank()));
        plan.prune = gone.into_iter().cloned().collect();
    } else {
        // Without prune, what was applied before stays ours to prune once prune is turned on.
        for (r, hash) in &before.objects {
            plan.inventory.objects.entry(r.clone()).or_insert_with(|| hash.clone());
        }
    }
    Ok(plan)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn cm(name: &str, value: &str) -> Value {
        json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "namespace": "shop"},
            "data": {"v": value}})
    }

    fn ns(name: &str) -> Value {
        json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}})
    }

    fn live_of(objects: &[Value]) -> BTreeMap<ObjectRef, Value> {
        objects.iter().map(|o| (ObjectRef::of(o).unwrap(), o.clone())).collect()
    }

    /// Carrying out a plan: the cluster then holds the desired objects, plus whatever the live
    /// objects had beyond them (server fields); pruned ones are gone.
    fn execute(plan: &Plan, desired: &[Value], live: &mut BTreeMap<ObjectRef, Value>) {
        for a in &plan.apply {
            let object = desired.iter().find(|o| ObjectRef::of(o).as_ref() == Some(&a.object)).unwrap();
            let mut applied = object.clone();
            applied["metadata"]["uid"] = json!("server-added");
            live.insert(a.object.clone(), applied);
        }
        for r in &plan.prune {
            live.remove(r);
        }
    }

    #[test]
    fn a_first_sync_applies_namespaces_first_then_planning_again_is_empty() {
        let desired = vec![cm("a", "1"), ns("shop")];
        let mut live = BTreeMap::new();
        let first = plan(&desired, &live, &Inventory::default(), "c1", "d1", Options::default()).unwrap();
        let order: Vec<&str> = first.apply.iter().map(|a| a.object.kind.as_str()).collect();
        assert_eq!(order, ["Namespace", "ConfigMap"]);
        assert!(first.apply.iter().all(|a| a.reason == Reason::New));
        execute(&first, &desired, &mut live);
        let again = plan(&desired, &live, &first.inventory, "c1", "d1", Options::default()).unwrap();
        assert!(again.is_empty(), "{again:?}");
        assert!(again.drifted.is_empty());
    }

    #[test]
    fn changes_prunes_and_missing_objects() {
        let v1 = vec![ns("shop"), cm("a", "1"), cm("b", "1")];
        let mut live = BTreeMap::new();
        let first = plan(&v1, &live, &Inventory::default(), "c1", "d1", Options::default()).unwrap();
        execute(&first, &v1, &mut live);
        let v2 = vec![ns("shop"), cm("a", "2")];
        let second = plan(&v2, &live, &first.inventory, "c2", "d2", Options::default()).unwrap();
        assert_eq!(second.apply, [Apply { object: ObjectRef::of(&cm("a", "2")).unwrap(), reason: Reason::Changed }]);
        assert_eq!(second.prune, [ObjectRef::of(&cm("b", "1")).unwrap()]);
        execute(&second, &v2, &mut live);
        // Deleted by hand: applied again.
        live.remove(&ObjectRef::of(&cm("a", "2")).unwrap());
        let third = plan(&v2, &live, &second.inventory, "c2", "d2", Options::default()).unwrap();
        assert_eq!(third.apply[0].reason, Reason::Missing);
        // An object added by hand is nobody's to prune.
        live.insert(ObjectRef::of(&cm("hand", "x")).unwrap(), cm("hand", "x"));
        execute(&third, &v2, &mut live);
        assert!(plan(&v2, &live, &third.inventory, "c2", "d2", Options::default()).unwrap().is_empty());
    }

    #[test]
    fn drift_is_corrected_or_only_reported() {
        let desired = vec![cm("a", "1")];
        let mut live = live_of(&desired);
        let inventory = plan(&desired, &live, &Inventory::default(), "c", "d", Options::default()).unwrap().inventory;
        live.insert(ObjectRef::of(&cm("a", "1")).unwrap(), cm("a", "edited"));
        let corrected = plan(&desired, &live, &inventory, "c", "d", Options::default()).unwrap();
        assert_eq!(corrected.apply[0].reason, Reason::Drifted);
        assert_eq!(corrected.drifted[0].1[0].path, "data.v");
        let report_only = Options { drift_correction: false, ..Options::default() };
        let reported = plan(&desired, &live, &inventory, "c", "d", report_only).unwrap();
        assert!(reported.apply.is_empty());
        assert_eq!(reported.drifted.len(), 1);
    }

    #[test]
    fn without_prune_old_objects_stay_in_the_inventory() {
        let v1 = vec![cm("a", "1"), cm("b", "1")];
        let live = live_of(&v1);
        let first = plan(&v1, &live, &Inventory::default(), "c1", "d1", Options::default()).unwrap();
        let keep = Options { prune: false, ..Options::default() };
        let second = plan(&[cm("a", "1")], &live, &first.inventory, "c2", "d2", keep).unwrap();
        assert!(second.prune.is_empty());
        assert_eq!(second.inventory.objects.len(), 2);
    }

    #[test]
    fn a_seal_binds_key_placement_namespace_and_text() {
        let text = "commit c\ndigest d\n0123 v1 ConfigMap shop a\n";
        let s = seal(b"key", "web", "flotilla-system", text);
        assert_eq!(s.len(), 64);
        assert!(verify_seal(b"key", "web", "flotilla-system", text, &s));
        assert!(!verify_seal(b"other key", "web", "flotilla-system", text, &s));
        assert!(!verify_seal(b"key", "victim", "flotilla-system", text, &s));
        assert!(!verify_seal(b"key", "web", "elsewhere", text, &s));
        assert!(!verify_seal(b"key", "web", "flotilla-system", &text.replace("shop a", "kube-system a"), &s));
        assert!(!verify_seal(b"key", "web", "flotilla-system", text, ""));
    }

    #[test]
    fn inventory_text_round_trips_and_bad_lines_are_named() {
        let desired = vec![ns("shop"), cm("a", "1")];
        let inventory =
            plan(&desired, &BTreeMap::new(), &Inventory::default(), "c", "d", Options::default()).unwrap().inventory;
        assert_eq!(Inventory::from_text(&inventory.to_text()).unwrap(), inventory);
        assert_eq!(Inventory::from_text("commit c\nnonsense\n").unwrap_err().line, 2);
    }

    #[test]
    fn unnamed_and_duplicate_objects_are_refused() {
        let err = plan(
            &[json!({"kind": "ConfigMap"})],
            &BTreeMap::new(),
            &Inventory::default(),
            "c",
            "d",
            Options::default(),
        );
        assert_eq!(err.unwrap_err(), Error::Unnamed { index: 0 });
        let err =
            plan(&[cm("a", "1"), cm("a", "2")], &BTreeMap::new(), &Inventory::default(), "c", "d", Options::default());
        assert!(matches!(err, Err(Error::Duplicate(_))));
    }

    #[test]
    fn before_applying_new_objects_are_recorded_and_changed_ones_unsettled() {
        let before = plan(
            &[cm("a", "1"), cm("b", "1")],
            &BTreeMap::new(),
            &Inventory::default(),
            "c1",
            "d1",
            Options::default(),
        )
        .unwrap()
        .inventory;
        let live: BTreeMap<ObjectRef, Value> =
            [cm("a", "1"), cm("b", "1")].into_iter().map(|o| (ObjectRef::of(&o).unwrap(), o)).collect();
        assert_eq!(
            plan(&[cm("a", "1"), cm("b", "1")], &live, &before, "c1", "d1", Options::default())
                .unwrap()
                .inventory_before(&before),
            None
        );

        // a changes, c is new, b stays: a is unsettled, c recorded, b and the commit as before.
        let next =
            plan(&[cm("a", "2"), cm("b", "1"), cm("c", "1")], &live, &before, "c2", "d2", Options::default()).unwrap();
        let widened = next.inventory_before(&before).unwrap();
        let hash =
            |name: &str, inventory: &Inventory| inventory.objects[&ObjectRef::of(&cm(name, "1")).unwrap()].clone();
        assert_eq!(hash("a", &widened), UNSETTLED);
        assert_eq!(hash("b", &widened), hash("b", &before));
        assert_eq!(hash("c", &widened), object_hash(&cm("c", "1")));
        assert_eq!(widened.commit, "c1");

        // Interrupted there, with a applied: git taking a's change back is a change, not drift.
        let mut live = live;
        live.insert(ObjectRef::of(&cm("a", "2")).unwrap(), cm("a", "2"));
        let options = Options { prune: true, drift_correction: false };
        let back = plan(&[cm("a", "1"), cm("b", "1")], &live, &widened, "c3", "d3", options).unwrap();
        let applied: Vec<(String, Reason)> = back.apply.iter().map(|a| (a.object.name.clone(), a.reason)).collect();
        assert_eq!(applied, [("a".to_string(), Reason::Changed)]);
        assert!(back.drifted.is_empty());
        assert_eq!(back.prune.len(), 1, "c, recorded before it was applied, is pruned");
    }
}
