//! What every agent would compute the same way from the same inputs, computed once and shared:
//! the fleet read at a commit, the placements and policies that select a kind of cluster, a
//! placement's render, its windows at a minute. The agent's own code decides (core's
//! `Fleet::select`, `render::render`, `rollout::*`); this module only remembers the answers,
//! keyed by everything the computation reads, so that 10,000 clusters render a handful of times.
//!
//! The render memo is core's, the one the hub keeps too: `render::RenderKey` (a placement at a
//! fleet commit and a source commit, for a set of matching customizations, renders the same
//! objects), `render::prepare` once per key, and `Prepared::digest_for` per cluster, keyed by
//! the values of the variables the render substitutes (`Prepared::values`).

use std::collections::BTreeMap;
use std::hash::{BuildHasher, Hasher};
use std::sync::Arc;

use anyhow::Result;
use flotilla_core::fleet::{ClusterIdentity, Fleet, Placement};
use flotilla_core::plan::ObjectRef;
use flotilla_core::render::{self, Prepared, RenderKey};
use flotilla_core::rollout::{self, Unheeded};
use serde_json::Value;

use crate::git::{CommitIx, Git};

/// The Fx hash (as rustc's `FxHasher`): a multiply and a rotate per word. The memos here are
/// looked up on every poll and their keys are not chosen by an adversary, so SipHash's
/// protection is not needed; and it has no random state.
#[derive(Debug, Clone, Copy, Default)]
pub struct Fx;

#[derive(Debug, Clone, Copy, Default)]
pub struct FxHasher(u64);

impl FxHasher {
    fn add(&mut self, word: u64) {
        self.0 = (self.0.rotate_left(5) ^ word).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }
}

impl Hasher for FxHasher {
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for chunk in &mut chunks {
            self.add(u64::from_le_bytes(chunk.try_into().expect("eight bytes")));
        }
        for b in chunks.remainder() {
            self.add(u64::from(*b));
        }
    }

    fn write_u8(&mut self, n: u8) {
        self.add(u64::from(n));
    }

    fn write_u32(&mut self, n: u32) {
        self.add(u64::from(n));
    }

    fn write_u64(&mut self, n: u64) {
        self.add(n);
    }

    fn write_usize(&mut self, n: usize) {
        self.add(n as u64);
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

impl BuildHasher for Fx {
    type Hasher = FxHasher;

    fn build_hasher(&self) -> FxHasher {
        FxHasher::default()
    }
}

/// A map with the Fx hash.
pub type HashMap<K, V> = std::collections::HashMap<K, V, Fx>;
/// A set with the Fx hash.
pub type HashSet<K> = std::collections::HashSet<K, Fx>;

/// A label set, interned: its index in [`World::label_sets`].
pub type LabelsIx = u32;

/// A digest, interned: its index in [`World::digests`].
pub type DigestIx = u32;

/// What selects a cluster of one kind (labels, environment) at one fleet commit.
#[derive(Debug, Clone)]
pub struct Selected {
    /// Indexes into the fleet's placements and policies.
    pub placements: Vec<usize>,
    pub policies: Vec<usize>,
    pub policy_names: Vec<Arc<str>>,
    /// The identity the selection was made with, when the fleet declares the cluster (its
    /// labels and environment win over the agent's config).
    pub identity: Option<Arc<ClusterIdentity>>,
}

/// The render of a key (`render::prepare`), with its digest interned, and the object problems
/// are reported against; or the agent's error text.
type Render = Result<(Prepared, Option<DigestIx>, Arc<ObjectRef>), Arc<str>>;

/// A digest substituted for a cluster, or the agent's error text.
type Substituted = Result<DigestIx, Arc<str>>;

/// What a commit's `Flotilla-Override:` trailer counts for (`trust::check_override`): none
/// (`Ok(None)`), an override passing a freeze (who signed it, the reason), or why it is ignored.
pub type Checked = Result<Option<(Arc<str>, Arc<str>)>, Arc<str>>;

/// A placement's render for one cluster: its digest and the object its problems name, or the
/// agent's error text.
pub type Desired = Result<(DigestIx, Arc<ObjectRef>), Arc<str>>;

/// Shared knowledge, and the git server it comes from.
#[derive(Debug)]
pub struct World {
    pub git: Git,
    fleets: HashMap<CommitIx, Arc<Fleet>>,
    selections: HashMap<(CommitIx, LabelsIx, String), Arc<Selected>>,
    pub label_sets: Vec<BTreeMap<String, String>>,
    label_ix: HashMap<BTreeMap<String, String>, LabelsIx>,
    prepared: HashMap<RenderKey<CommitIx>, Render>,
    substituted: HashMap<(RenderKey<CommitIx>, render::Values), Substituted>,
    pub digests: Vec<String>,
    digest_ix: HashMap<String, DigestIx>,
    windows: HashMap<(CommitIx, usize, i64), (bool, Option<i64>)>,
    /// Trees whose objects never become healthy (`unhealthy: true` commits).
    unhealthy: HashSet<String>,
    names: HashSet<Arc<str>>,
    /// Who signed a commit (the scenario says; the simulator does not sign), and who agent.yaml's
    /// `overrideSigners` lists (`None`: no `overrideSigners`).
    signers: HashMap<CommitIx, String>,
    pub override_signers: Option<Vec<String>>,
    overrides: HashMap<CommitIx, Checked>,
    /// Whether two fleet commits are the same to a kind of cluster (`render::fleet_view`).
    views: HashMap<(CommitIx, CommitIx, LabelsIx, String), bool>,
    /// How many times a placement was rendered in full, and substituted for a cluster.
    pub renders: u64,
    pub substitutions: u64,
}

impl World {
    pub fn new(git: Git) -> World {
        World {
            git,
            fleets: HashMap::default(),
            selections: HashMap::default(),
            label_sets: Vec::new(),
            label_ix: HashMap::default(),
            prepared: HashMap::default(),
            substituted: HashMap::default(),
            digests: Vec::new(),
            digest_ix: HashMap::default(),
            windows: HashMap::default(),
            unhealthy: HashSet::default(),
            names: HashSet::default(),
            signers: HashMap::default(),
            override_signers: None,
            overrides: HashMap::default(),
            views: HashMap::default(),
            renders: 0,
            substitutions: 0,
        }
    }

    pub fn labels(&mut self, labels: &BTreeMap<String, String>) -> LabelsIx {
        if let Some(ix) = self.label_ix.get(labels) {
            return *ix;
        }
        let ix = LabelsIx::try_from(self.label_sets.len()).expect("fewer than 4 billion label sets");
        self.label_sets.push(labels.clone());
        self.label_ix.insert(labels.clone(), ix);
        ix
    }

    /// The fleet objects at a fleet commit (broken documents left out, as the agent does).
    pub fn fleet(&mut self, commit: CommitIx) -> Result<Arc<Fleet>> {
        if let Some(f) = self.fleets.get(&commit) {
            return Ok(Arc::clone(f));
        }
        let snapshot = self.git.snapshot(commit)?;
        let (fleet, errors) = Fleet::from_snapshot(&snapshot);
        for e in errors {
            eprintln!("flotilla-simulate: warning: fleet at {}: {e}", &self.git.commit_info(commit).hex[..12]);
        }
        let fleet = Arc::new(fleet);
        self.fleets.insert(commit, Arc::clone(&fleet));
        Ok(fleet)
    }

    /// The fleet objects at a fleet commit read before, if it was.
    pub fn fleet_at(&self, commit: CommitIx) -> Option<&Fleet> {
        self.fleets.get(&commit).map(AsRef::as_ref)
    }

    /// What selects `identity` (whose labels are `labels`) at a fleet commit: `Fleet::select`,
    /// remembered per label set and environment unless the fleet declares the cluster by name.
    pub fn select(&mut self, commit: CommitIx, labels: LabelsIx, identity: &ClusterIdentity) -> Result<Arc<Selected>> {
        let fleet = self.fleet(commit)?;
        let declared = fleet.cluster(&identity.name).is_some();
        let key = (commit, labels, identity.environment.clone());
        if !declared && let Some(s) = self.selections.get(&key) {
            return Ok(Arc::clone(s));
        }
        let selection = fleet.select(identity);
        let selected = Arc::new(Selected {
            placements: selection
                .placements
                .iter()
                .map(|p| fleet.placements.iter().position(|q| q.name() == p.name()).expect("selected from it"))
                .collect(),
            policies: selection
                .policies
                .iter()
                .map(|p| fleet.policies.iter().position(|q| q.name() == p.name()).expect("selected from it"))
                .collect(),
            policy_names: selection.policies.iter().map(|p| self.name(p.name())).collect(),
            identity: declared.then(|| Arc::new(selection.identity.clone())),
        });
        if !declared {
            self.selections.insert(key, Arc::clone(&selected));
        }
        Ok(selected)
    }

    fn digest(&mut self, digest: String) -> DigestIx {
        if let Some(ix) = self.digest_ix.get(&digest) {
            return *ix;
        }
        let ix = DigestIx::try_from(self.digests.len()).expect("fewer than 4 billion digests");
        self.digests.push(digest.clone());
        self.digest_ix.insert(digest, ix);
        ix
    }

    /// What `placement` (of the fleet at `fleet`) renders from `source` for `identity`: what the
    /// agent's `render_located` computes, with its error text.
    pub fn desired(
        &mut self,
        fleet: CommitIx,
        placement: &Placement,
        source: CommitIx,
        identity: &ClusterIdentity,
    ) -> Result<Desired> {
        let key = RenderKey::new(fleet, placement, source, identity, &render::Options::DEFAULT);
        if !self.prepared.contains_key(&key) {
            let prepared = self.prepare(placement, source, identity)?;
            self.prepared.insert(key.clone(), prepared);
        }
        let (prepared, object) = match &self.prepared[&key] {
            Err(e) => return Ok(Err(Arc::clone(e))),
            Ok((_, Some(d), object)) => return Ok(Ok((*d, Arc::clone(object)))),
            Ok((prepared, None, object)) => (prepared.clone(), Arc::clone(object)),
        };
        let key = (key, prepared.values(identity));
        if let Some(done) = self.substituted.get(&key) {
            return Ok(done.clone().map(|d| (d, object)));
        }
        self.substitutions += 1;
        let hex = &self.git.commit_info(source).hex;
        let done = match prepared.digest_for(placement, identity) {
            Ok(digest) => Ok(self.digest(digest.to_string())),
            Err(e) => Err(Arc::from(flotilla_core::report::clip(&format!("at {hex}: {e}")))),
        };
        self.substituted.insert(key, done.clone());
        Ok(done.map(|d| (d, object)))
    }

    /// The render for a render key (core's `render::prepare`, the memo the hub keeps too).
    fn prepare(&mut self, placement: &Placement, source: CommitIx, identity: &ClusterIdentity) -> Result<Render> {
        let snapshot = self.git.snapshot(source)?;
        let hex = self.git.commit_info(source).hex.clone();
        self.renders += 1;
        let mut object = None;
        let prepared = render::prepare_inspecting(placement, &snapshot, identity, &render::Options::default(), |o| {
            object = Some(Arc::new(reported_object(o)));
        });
        let prepared = match prepared {
            Ok(p) => p,
            Err(e) => return Ok(Err(Arc::from(flotilla_core::report::clip(&format!("at {hex}: {e}"))))),
        };
        let object = object.expect("a render that succeeds shows its objects");
        let digest = match &prepared {
            Prepared::Digest(d) => Some(self.digest(d.to_string())),
            Prepared::Substitutes { .. } => None,
        };
        Ok(Ok((prepared, digest, object)))
    }

    /// Whether any of `placement`'s windows is open at `now` (unix seconds), and when one next
    /// opens: `rollout::window_open` and `next_opening`, remembered per minute (windows start
    /// and end on whole minutes of zones whose offsets are whole minutes, so the answer holds
    /// for the whole minute).
    pub fn window(
        &mut self,
        fleet: CommitIx,
        placement_ix: usize,
        placement: &Placement,
        now: i64,
    ) -> (bool, Option<i64>) {
        self.windows_open((fleet, placement_ix), &placement.spec.windows, now)
    }

    /// [`World::window`] for any windows of a fleet commit: `key` is the fleet commit and the
    /// placement's index (`usize::MAX`: the fleet's own windows).
    pub fn windows_open(
        &mut self,
        key: (CommitIx, usize),
        windows: &[flotilla_core::fleet::Window],
        now: i64,
    ) -> (bool, Option<i64>) {
        let key = (key.0, key.1, now.div_euclid(60));
        if let Some(w) = self.windows.get(&key) {
            return *w;
        }
        let open = rollout::window_open(windows, now);
        let next = if open { Some(now) } else { rollout::next_opening(windows, now) };
        self.windows.insert(key, (open, next));
        (open, next)
    }

    /// Says that `signer` signed `commit` (a timeline commit's `override.signedBy`).
    pub fn sign(&mut self, commit: CommitIx, signer: &str) {
        self.signers.insert(commit, signer.to_string());
    }

    /// Who signed `commit`, if anyone did.
    pub fn signer(&self, commit: CommitIx) -> Option<&str> {
        self.signers.get(&commit).map(String::as_str)
    }

    /// What `commit`'s `Flotilla-Override:` trailer counts for, with `trust::check_override`'s
    /// rule and words: its message read from git and its trailer found by
    /// `rollout::override_reason`; it passes when a signer agent.yaml's `overrideSigners`
    /// lists signed the commit.
    pub fn override_of(&mut self, commit: CommitIx) -> Result<Checked> {
        if let Some(c) = self.overrides.get(&commit) {
            return Ok(c.clone());
        }
        let message = self.git.message(commit)?;
        let checked = match rollout::override_reason(&message) {
            None => Ok(None),
            Some(reason) => {
                let hex = &self.git.commit_info(commit).hex;
                let said = match (&self.override_signers, self.signers.get(&commit)) {
                    (None, _) => Err(rollout::override_ignored(hex, Unheeded::NoSigners)),
                    (Some(_), None) => Err(rollout::override_ignored(hex, Unheeded::Unsigned)),
                    (Some(allowed), Some(signer)) if allowed.contains(signer) => Ok(signer.clone()),
                    (Some(_), Some(signer)) => {
                        let why = format!("{signer} is not in the allowed signers");
                        Err(rollout::override_ignored(hex, Unheeded::NotAnOverrideSigner(&why)))
                    }
                };
                match said {
                    Ok(signer) => Ok(Some((self.name(&signer), self.message(&reason)))),
                    Err(text) => Err(self.message(&text)),
                }
            }
        };
        self.overrides.insert(commit, checked.clone());
        Ok(checked)
    }

    /// Whether fleet commits `base` and `tip` are the same to a cluster (`render::fleet_view` of
    /// each): remembered per label set and environment unless either fleet declares the cluster
    /// by name. (The view renders the fleet's own placements with the cluster's substitutions;
    /// two commits whose renders differ before substitution differ after it too, so a kind of
    /// cluster answers for all of its clusters.)
    pub fn same_view(
        &mut self,
        base: CommitIx,
        tip: CommitIx,
        labels: LabelsIx,
        identity: &ClusterIdentity,
    ) -> Result<bool> {
        let key = (base, tip, labels, identity.environment.clone());
        if let Some(same) = self.views.get(&key) {
            return Ok(*same);
        }
        let (base_fleet, tip_fleet) = (self.fleet(base)?, self.fleet(tip)?);
        let declared = base_fleet.cluster(&identity.name).is_some() || tip_fleet.cluster(&identity.name).is_some();
        let options = render::Options::DEFAULT;
        let base_view = render::fleet_view(&base_fleet, self.git.snapshot(base)?.as_ref(), identity, &options);
        let tip_view = render::fleet_view(&tip_fleet, self.git.snapshot(tip)?.as_ref(), identity, &options);
        let same = base_view == tip_view;
        if !declared {
            self.views.insert(key, same);
        }
        Ok(same)
    }

    /// A shared copy of a name or a message.
    pub fn name(&mut self, text: &str) -> Arc<str> {
        if let Some(n) = self.names.get(text) {
            return Arc::clone(n);
        }
        let n: Arc<str> = Arc::from(text);
        self.names.insert(Arc::clone(&n));
        n
    }

    /// A shared copy of a message (messages repeat across clusters and polls).
    pub fn message(&mut self, text: &str) -> Arc<str> {
        self.name(text)
    }

    /// Marks the tree of a commit as one whose objects never become healthy.
    pub fn mark_unhealthy(&mut self, commit: CommitIx) {
        self.unhealthy.insert(self.git.commit_info(commit).tree.clone());
    }

    /// Whether applying `commit` leaves unhealthy objects.
    pub fn is_unhealthy(&self, commit: CommitIx) -> bool {
        !self.unhealthy.is_empty() && self.unhealthy.contains(&self.git.commit_info(commit).tree)
    }
}

/// The object a placement's problems are reported against: its first workload, else its first
/// object.
fn reported_object(objects: &[Value]) -> ObjectRef {
    let workload =
        |o: &&Value| matches!(o.get("kind").and_then(Value::as_str), Some("Deployment" | "DaemonSet" | "StatefulSet"));
    objects.iter().find(workload).or_else(|| objects.first()).and_then(ObjectRef::of).unwrap_or(ObjectRef {
        api_version: "v1".into(),
        kind: "ConfigMap".into(),
        namespace: String::new(),
        name: "empty".into(),
    })
}
