//! The in-memory index the views read: one small entry per cluster, its placements' states and
//! commits and the state of its fleet commit, kept up to date from the store's change numbers (so several hub processes sharing
//! one PostgreSQL each see every report). Commits, digests, placement names and labels are
//! interned, and so are whole label sets and whole placement lists: a million clusters running
//! a handful of commits in a handful of states share them (what no cluster uses any more is
//! dropped once a minute).
//!
//! The views must answer in milliseconds at a million clusters while reports stream in, so the
//! index keeps what they ask for as it changes rather than counting when asked:
//! - the **tally**: clusters by standing, per environment and per placement, which is the
//!   summary;
//! - the **groups**: per environment and placement, the clusters running each commit, in name
//!   order, which is the lag ledger;
//! - the **versions**: per environment and placement, how many clusters run each version (the
//!   image tag its report lists, see [`version_of`]), which is what runs where. An offline
//!   cluster counts with the version of its last report;
//! - the **governance**: per environment and policy, the clusters by their last result
//!   (compliant, non-compliant — by name, in order — or unknown), and the clusters by their
//!   policy results and the labels the fleet's policy selectors read (the *cohorts*: a fleet
//!   of mostly compliant stores is a few dozen, whatever other labels each store has), which
//!   the compliance view walks to find who a policy selects and has no result from, and to
//!   roll results up per control and standard. An offline cluster's last results stand:
//!   offline is not non-compliant;
//! - the clusters by the time of their last report. Offline depends on the clock: the index has
//!   one, moved on by [`Index::advance`] (the hub does every second and after each batch), and
//!   the clusters whose last report falls behind its cutoff move from their standing to
//!   offline in the tally, each once;
//! - cluster tokens (as SHA-256), so authenticating a report needs no database round trip.
//!
//! Not the report history or the evidence (the store answers those), and not git (the views
//! take what the fleet says as arguments).

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::sync::Arc;

use flotilla_core::health::Health;
use flotilla_core::report::{Kubernetes, ObjectProblem, PlacementReport, Report, SyncState};

use crate::api::Standing;
use crate::git_view::DeclaredCluster;

/// A shared string.
pub type Text = Arc<str>;

/// The index's hash map. Taking in a report hashes its strings many times over (interning
/// them, finding their groups and tallies), and SipHash, std's default hasher, was a large
/// share of that time. foldhash is much faster and, unlike FxHash, still seeded in each
/// process (from addresses and the clock rather than the OS's randomness: "minimally
/// DoS-resistant"), so an agent cannot pick names and labels it knows will collide; and only
/// registered clusters, with their tokens, send any.
pub type Map<K, V> = HashMap<K, V, foldhash::fast::RandomState>;

/// The index's hash set (see [`Map`]).
pub type Set<T> = HashSet<T, foldhash::fast::RandomState>;

/// The SHA-256 of a cluster token.
pub type TokenHash = [u8; 32];

/// What the store says of one cluster (a row changed since the index last looked).
#[derive(Debug, Clone)]
pub struct Row {
    pub name: String,
    pub environment: String,
    pub labels: BTreeMap<String, String>,
    /// The SHA-256 of the cluster's token (`None`: the index does not authenticate it, the
    /// store does).
    pub token_hash: Option<TokenHash>,
    pub registered_at_ms: i64,
    pub last_report_at_ms: Option<i64>,
    pub last_report: Option<Report>,
    /// The store's change number of the row.
    pub change: i64,
    /// The cluster's Kubernetes version and API versions, as its reports last said them.
    pub kubernetes: Option<Kubernetes>,
}

/// One placement of one cluster, as its last report said.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PlacementEntry {
    pub name: Text,
    pub state: SyncState,
    pub health: Health,
    pub source_commit: Option<Text>,
    pub desired_digest: Option<Text>,
    pub applied_commit: Option<Text>,
    pub applied_digest: Option<Text>,
    /// The container images the applied commit runs, sorted, as the report listed them: one
    /// list shared by every cluster that runs the same.
    pub images: Images,
    /// What [`version_of`] makes of the images (`None`: the report listed none).
    pub version: Option<Text>,
    /// How many objects the report listed as drifted, failed or unhealthy.
    pub problems: u32,
}

/// A placement's images; shared by the placements that run the same.
pub type Images = Arc<[Text]>;

/// The version a placement runs, from the images its report lists (sorted): the tag of its one
/// image (`1.5.0` of `registry.example/app:1.5.0`, also with a digest after it), the whole
/// reference when it has no tag, and the references joined by `, ` when it runs several
/// (which of them is "the" version is not for the hub to guess). `None` for no images.
pub fn version_of<S: AsRef<str>>(images: &[S]) -> Option<String> {
    match images {
        [] => None,
        [one] => {
            let one = one.as_ref();
            let name = one.split_once('@').map_or(one, |(name, _)| name);
            let last = name.rsplit('/').next().unwrap_or(name);
            Some(last.split_once(':').map_or(one, |(_, tag)| tag).to_string())
        }
        many => Some(many.iter().map(AsRef::as_ref).collect::<Vec<&str>>().join(", ")),
    }
}

/// A cluster's labels, by key; shared by the clusters that have the same.
pub type Labels = Arc<[(Text, Text)]>;

/// A cluster's placements, as its last report listed them; shared by the clusters whose
/// placements are in the same state.
pub type Placements = Arc<[PlacementEntry]>;

/// One policy's result on one cluster, as its last report said.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PolicyResult {
    pub name: Text,
    /// `None`: the agent could not evaluate it (unknown).
    pub compliant: Option<bool>,
    /// How many violations the report listed.
    pub violations: u32,
}

/// A cluster's policy results, by policy name, as its last report listed them; shared by the
/// clusters whose results are the same (a healthy fleet shares one).
pub type PolicyResults = Arc<[PolicyResult]>;

/// The result for `policy` among `results`.
pub fn find_result<'a>(results: &'a [PolicyResult], policy: &str) -> Option<&'a PolicyResult> {
    let at = results.binary_search_by(|r| (*r.name).cmp(policy)).ok()?;
    Some(&results[at])
}

/// One cluster.
#[derive(Debug, Clone, Default)]
pub struct Entry {
    pub environment: Text,
    pub labels: Labels,
    pub registered: bool,
    pub declared: bool,
    pub last_report_at_ms: Option<i64>,
    pub placements: Placements,
    pub policies: PolicyResults,
    /// The state of the fleet commit the cluster runs, when its report says (the fleet rolls
    /// out, freezes or is verified): counted in its standing like a placement's.
    pub fleet: Option<SyncState>,
    /// The cluster's Kubernetes as its reports last said it (what a chart's `.Capabilities`
    /// reads when the hub renders for it): one value shared by every cluster that runs the same.
    pub kubernetes: Option<Arc<Kubernetes>>,
    token_hash: Option<TokenHash>,
    /// The store's change number this entry is from (0: declared only).
    change: i64,
}

/// The standing a placement state gives.
pub fn standing_of(state: SyncState) -> Standing {
    match state {
        SyncState::Synced => Standing::Synced,
        SyncState::Degraded => Standing::Degraded,
        SyncState::Failed
        | SyncState::SourceUnreachable
        | SyncState::VerificationFailed
        | SyncState::Refused
        | SyncState::Conflict => Standing::Failed,
        SyncState::Progressing | SyncState::Paused | SyncState::WaitingForWindow | SyncState::WaitingForWave => {
            Standing::Progressing
        }
    }
}

/// Clusters by standing, indexed by [`Standing::slot`].
pub type ByStanding = [usize; Standing::ALL.len()];

/// The clusters counted by standing: overall, per environment, and per placement by the
/// placement's own state (an offline cluster's placements count as offline). Keys with no
/// cluster left are removed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Tally {
    pub by_standing: ByStanding,
    pub by_environment: Map<Text, ByStanding>,
    pub by_placement: Map<Text, ByStanding>,
}

impl Tally {
    /// ByStanding `entry` in (`add`) or out at `standing`.
    fn count(&mut self, entry: &Entry, standing: Standing, add: bool) {
        step(&mut self.by_standing, standing, add);
        bump(&mut self.by_environment, &entry.environment, standing, add);
        for p in entry.placements.iter() {
            let own = if standing == Standing::Offline { Standing::Offline } else { standing_of(p.state) };
            bump(&mut self.by_placement, &p.name, own, add);
        }
    }
}

fn step(counts: &mut ByStanding, standing: Standing, add: bool) {
    let n = &mut counts[standing.slot()];
    if add {
        *n += 1;
    } else {
        *n -= 1;
    }
}

fn bump(map: &mut Map<Text, ByStanding>, key: &Text, standing: Standing, add: bool) {
    if let Some(counts) = map.get_mut(key) {
        step(counts, standing, add);
        if counts.iter().all(|n| *n == 0) {
            map.remove(key);
        }
    } else if add {
        let mut counts = ByStanding::default();
        step(&mut counts, standing, true);
        map.insert(key.clone(), counts);
    }
}

/// The clusters of one environment by their last result for one policy.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PolicyTally {
    pub compliant: usize,
    /// Reported, but the agent could not evaluate it.
    pub unknown: usize,
    /// The clusters that are not compliant, in name order (their number is the count).
    pub non_compliant: BTreeSet<Text>,
}

impl PolicyTally {
    fn is_empty(&self) -> bool {
        self.compliant == 0 && self.unknown == 0 && self.non_compliant.is_empty()
    }
}

/// The clusters of one environment with the same policy results and the same values of the
/// labels the policies' cluster selectors read (only those labels are kept).
pub type Cohort = (Labels, PolicyResults);

/// What the compliance views read, per environment: the clusters by policy result, and by
/// cohort. Every cluster is in one cohort (one without results too: a policy may select it).
/// Keys with no cluster left are removed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Governance {
    /// The label keys the fleet's policy selectors read, sorted: a cohort keeps these labels
    /// alone, so a label unique to each cluster (a store number) does not make a cohort of
    /// each cluster.
    pub keys: Vec<Text>,
    /// Environment → policy → its tally.
    pub by_policy: Map<Text, Map<Text, PolicyTally>>,
    /// Environment → cohort → how many clusters.
    pub cohorts: Map<Text, Map<Cohort, usize>>,
}

impl Governance {
    /// Counts the cluster `name` in (`add`) or out.
    fn count(&mut self, name: &Text, entry: &Entry, add: bool) {
        self.count_results(name, entry, add);
        self.count_cohort(entry, add);
    }

    fn count_results(&mut self, name: &Text, entry: &Entry, add: bool) {
        let environment = &entry.environment;
        if entry.policies.is_empty() {
            return;
        }
        if add {
            let tallies = self.by_policy.entry(environment.clone()).or_default();
            for r in entry.policies.iter() {
                let tally = tallies.entry(r.name.clone()).or_default();
                match r.compliant {
                    Some(true) => tally.compliant += 1,
                    Some(false) => {
                        tally.non_compliant.insert(name.clone());
                    }
                    None => tally.unknown += 1,
                }
            }
            return;
        }
        let Some(tallies) = self.by_policy.get_mut(environment) else { return };
        for r in entry.policies.iter() {
            let Some(tally) = tallies.get_mut(&r.name) else { continue };
            match r.compliant {
                Some(true) => tally.compliant -= 1,
                Some(false) => {
                    tally.non_compliant.remove(name);
                }
                None => tally.unknown -= 1,
            }
            if tally.is_empty() {
                tallies.remove(&r.name);
            }
        }
        if tallies.is_empty() {
            self.by_policy.remove(environment);
        }
    }

    fn count_cohort(&mut self, entry: &Entry, add: bool) {
        let environment = &entry.environment;
        let cohort = (self.project(&entry.labels), entry.policies.clone());
        if add {
            *self.cohorts.entry(environment.clone()).or_default().entry(cohort).or_default() += 1;
            return;
        }
        let Some(cohorts) = self.cohorts.get_mut(environment) else { return };
        if let Some(n) = cohorts.get_mut(&cohort) {
            *n -= 1;
            if *n == 0 {
                cohorts.remove(&cohort);
            }
        }
        if cohorts.is_empty() {
            self.cohorts.remove(environment);
        }
    }

    /// The labels among [`Governance::keys`] (the same set when it holds no other).
    fn project(&self, labels: &Labels) -> Labels {
        let kept = |(k, _): &&(Text, Text)| self.keys.binary_search(k).is_ok();
        if labels.iter().all(|l| kept(&l)) {
            return labels.clone();
        }
        labels.iter().filter(kept).cloned().collect()
    }
}

/// The clusters of one environment that run one placement, by the commit they applied (`None`:
/// nothing applied yet), in name order.
pub type Group = BTreeMap<Option<Text>, BTreeSet<Text>>;

/// Environment → placement → version → how many clusters run it.
pub type Versions = Map<Text, Map<Text, Map<Text, usize>>>;

/// Counts the placements of `entry` in (`add`) or out of `versions`, dropping what empties.
fn count_versions(versions: &mut Versions, entry: &Entry, add: bool) {
    for p in entry.placements.iter() {
        let Some(version) = &p.version else { continue };
        if add {
            let placements = versions.entry(entry.environment.clone()).or_default();
            *placements.entry(p.name.clone()).or_default().entry(version.clone()).or_default() += 1;
            continue;
        }
        let Some(placements) = versions.get_mut(&entry.environment) else { continue };
        let Some(counts) = placements.get_mut(&p.name) else { continue };
        if let Some(n) = counts.get_mut(version) {
            *n -= 1;
            if *n == 0 {
                counts.remove(version);
            }
        }
        if counts.is_empty() {
            placements.remove(&p.name);
        }
        if placements.is_empty() {
            versions.remove(&entry.environment);
        }
    }
}

/// Every cluster the hub knows of.
#[derive(Debug)]
pub struct Index {
    /// By name, so lists come out in order.
    clusters: BTreeMap<Text, Entry>,
    strings: Set<Text>,
    label_sets: Set<Labels>,
    placement_lists: Set<Placements>,
    result_lists: Set<PolicyResults>,
    image_lists: Set<Images>,
    kubernetes: Set<Arc<Kubernetes>>,
    /// When the interned values no cluster uses were last dropped.
    purged_at_ms: i64,
    tally: Tally,
    /// Environment → placement → its group.
    groups: Map<Text, Map<Text, Group>>,
    versions: Versions,
    governance: Governance,
    /// The clusters that reported, by the time of their last report.
    by_time: BTreeSet<(i64, Text)>,
    tokens: Map<TokenHash, Text>,
    offline_after_ms: i64,
    /// Clusters whose last report is before this are offline: the index's clock, less the
    /// offline threshold.
    cutoff_ms: i64,
    /// The highest store change number taken in, with every one below it.
    pub change: i64,
}

impl Index {
    /// An empty index in which a cluster is offline once its last report is older than
    /// `offline_after_ms`. Its clock stands still until [`Index::advance`].
    pub fn new(offline_after_ms: i64) -> Index {
        Index {
            clusters: BTreeMap::new(),
            strings: Set::default(),
            label_sets: Set::default(),
            placement_lists: Set::default(),
            result_lists: Set::default(),
            image_lists: Set::default(),
            kubernetes: Set::default(),
            purged_at_ms: 0,
            tally: Tally::default(),
            groups: Map::default(),
            versions: Map::default(),
            governance: Governance::default(),
            by_time: BTreeSet::new(),
            tokens: Map::default(),
            offline_after_ms,
            cutoff_ms: i64::MIN,
            change: 0,
        }
    }

    fn intern(&mut self, s: &str) -> Text {
        if let Some(t) = self.strings.get(s) {
            return t.clone();
        }
        let t: Text = Arc::from(s);
        self.strings.insert(t.clone());
        t
    }

    fn labels<'a>(&mut self, labels: impl Iterator<Item = (&'a String, &'a String)>) -> Labels {
        let labels: Vec<(Text, Text)> = labels.map(|(k, v)| (self.intern(k), self.intern(v))).collect();
        intern_slice(&mut self.label_sets, labels)
    }

    fn placements(&mut self, report: Option<&Report>) -> Placements {
        let list: Vec<PlacementEntry> = report.iter().flat_map(|r| &r.placements).map(|p| self.placement(p)).collect();
        intern_slice(&mut self.placement_lists, list)
    }

    /// The policy results of `report`, sorted by policy name (a report names each once).
    fn results(&mut self, report: Option<&Report>) -> PolicyResults {
        let mut list: Vec<PolicyResult> = report
            .iter()
            .flat_map(|r| &r.policies)
            .map(|p| PolicyResult {
                name: self.intern(&p.name),
                compliant: p.compliant,
                violations: u32::try_from(p.violations.len()).unwrap_or(u32::MAX),
            })
            .collect();
        list.sort_by(|a, b| a.name.cmp(&b.name));
        intern_slice(&mut self.result_lists, list)
    }

    /// Drops the interned values no cluster uses any more (only the index's sets hold them).
    fn purge(&mut self) {
        // The lists and sets first: they hold strings.
        self.placement_lists.retain(|s| Arc::strong_count(s) > 1);
        self.result_lists.retain(|s| Arc::strong_count(s) > 1);
        self.image_lists.retain(|s| Arc::strong_count(s) > 1);
        self.kubernetes.retain(|s| Arc::strong_count(s) > 1);
        self.label_sets.retain(|s| Arc::strong_count(s) > 1);
        self.strings.retain(|s| Arc::strong_count(s) > 1);
    }

    /// `kubernetes`, shared with every cluster that has the same.
    fn kubernetes(&mut self, kubernetes: &Kubernetes) -> Arc<Kubernetes> {
        if let Some(shared) = self.kubernetes.get(kubernetes) {
            return shared.clone();
        }
        let shared = Arc::new(kubernetes.clone());
        self.kubernetes.insert(shared.clone());
        shared
    }

    /// The name as a key: the index's own copy when it holds the cluster.
    fn key(&self, name: &str) -> Text {
        self.clusters.get_key_value(name).map_or_else(|| Arc::from(name), |(k, _)| k.clone())
    }

    pub fn len(&self) -> usize {
        self.clusters.len()
    }

    pub fn is_empty(&self) -> bool {
        self.clusters.is_empty()
    }

    pub fn get(&self, name: &str) -> Option<&Entry> {
        self.clusters.get(name)
    }

    /// Every cluster, by name.
    pub fn iter(&self) -> impl Iterator<Item = (&Text, &Entry)> {
        self.clusters.iter()
    }

    /// The clusters by standing, environment and placement, as of the index's clock.
    pub fn tally(&self) -> &Tally {
        &self.tally
    }

    /// The clusters of `environment` that run `placement`, by applied commit.
    pub fn group(&self, environment: &str, placement: &str) -> Option<&Group> {
        self.groups.get(environment)?.get(placement)
    }

    /// How many clusters of `environment` run each version of `placement` (see
    /// [`version_of`]); clusters whose report lists no images are not counted.
    pub fn versions(&self, environment: &str, placement: &str) -> Option<&Map<Text, usize>> {
        self.versions.get(environment)?.get(placement)
    }

    /// Environment → placement → version → clusters, every one of them.
    pub fn all_versions(&self) -> &Versions {
        &self.versions
    }

    /// The clusters of `environment` by their last result for each policy they reported.
    pub fn policy_tallies(&self, environment: &str) -> Option<&Map<Text, PolicyTally>> {
        self.governance.by_policy.get(environment)
    }

    /// Every environment's tally of every policy.
    pub fn every_policy_tally(&self) -> impl Iterator<Item = &PolicyTally> {
        self.governance.by_policy.values().flat_map(Map::values)
    }

    /// The clusters of `environment` by their last result for `policy`.
    pub fn policy_tally(&self, environment: &str, policy: &str) -> Option<&PolicyTally> {
        self.policy_tallies(environment)?.get(policy)
    }

    /// The clusters of `environment` by policy results and the labels among
    /// [`Index::selector_keys`]: each pair and how many clusters have it, in no particular
    /// order.
    pub fn cohorts(&self, environment: &str) -> impl Iterator<Item = (&Labels, &PolicyResults, usize)> {
        self.governance.cohorts.get(environment).into_iter().flatten().map(|((l, r), n)| (l, r, *n))
    }

    /// The label keys the cohorts keep, sorted.
    pub fn selector_keys(&self) -> &[Text] {
        &self.governance.keys
    }

    /// Sets the label keys the fleet's policy selectors read: the cohorts keep those labels
    /// alone. When they change (a policy selects by a new label), the cohorts are counted
    /// again, which costs a pass over the clusters.
    pub fn set_selector_keys<'a>(&mut self, keys: impl IntoIterator<Item = &'a str>) {
        let mut keys: Vec<Text> = keys.into_iter().map(|k| self.intern(k)).collect();
        keys.sort();
        keys.dedup();
        if keys == self.governance.keys {
            return;
        }
        self.governance.keys = keys;
        self.governance.cohorts.clear();
        for entry in self.clusters.values() {
            self.governance.count_cohort(entry, true);
        }
    }

    /// The cluster whose token has this SHA-256, as far as the index knows (a token replaced
    /// by registering again in another hub process works here until the index reads the new
    /// row, about a second).
    pub fn cluster_for_token(&self, hash: &TokenHash) -> Option<&Text> {
        self.tokens.get(hash)
    }

    /// Where `entry` stands as of the index's clock.
    pub fn standing(&self, entry: &Entry) -> Standing {
        entry.standing_at(self.cutoff_ms)
    }

    /// Sets the index's clock to `now_ms`: the clusters whose last report fell behind the
    /// offline threshold since the last call are counted offline (and back, when the clock
    /// went back). Each cluster moves once, so calling it often is cheap.
    pub fn advance(&mut self, now_ms: i64) {
        let cutoff = now_ms.saturating_sub(self.offline_after_ms);
        if cutoff == self.cutoff_ms {
            return;
        }
        let (from, to) = (cutoff.min(self.cutoff_ms), cutoff.max(self.cutoff_ms));
        let empty: Text = Arc::from("");
        let moving: Vec<Text> =
            self.by_time.range((from, empty.clone())..(to, empty)).map(|(_, n)| n.clone()).collect();
        for name in &moving {
            let entry = &self.clusters[name];
            self.tally.count(entry, entry.standing_at(self.cutoff_ms), false);
            self.tally.count(entry, entry.standing_at(cutoff), true);
        }
        self.cutoff_ms = cutoff;
        if now_ms.abs_diff(self.purged_at_ms) >= PURGE_EVERY_MS {
            self.purge();
            self.purged_at_ms = now_ms;
        }
    }

    /// Takes in a row of the store, replacing what the index held for the cluster, unless the
    /// index holds a newer one.
    pub fn update(&mut self, row: &Row) {
        let existing = self.clusters.get(row.name.as_str());
        if existing.is_some_and(|e| e.registered && e.change >= row.change) {
            return;
        }
        let declared = existing.is_some_and(|e| e.declared);
        let environment = self.intern(&row.environment);
        let labels = self.labels(row.labels.iter());
        let placements = self.placements(row.last_report.as_ref());
        let policies = self.results(row.last_report.as_ref());
        let kubernetes = row.kubernetes.as_ref().map(|k| self.kubernetes(k));
        let entry = Entry {
            kubernetes,
            environment,
            labels,
            registered: true,
            declared,
            last_report_at_ms: row.last_report_at_ms,
            placements,
            policies,
            fleet: row.last_report.as_ref().and_then(|r| r.fleet.as_ref()).map(|f| f.state),
            token_hash: row.token_hash,
            change: row.change,
        };
        let name = self.key(&row.name);
        self.put(name, entry);
    }

    /// Takes in a report the store just stored for `name` with change number `change`. False
    /// when the index does not hold the cluster (then the store's row is to be read).
    pub fn apply(&mut self, name: &str, change: i64, received_at_ms: i64, report: &Report) -> bool {
        let Some(entry) = self.clusters.get_mut(name) else { return false };
        if entry.change >= change {
            return true;
        }
        let (environment, labels, declared, token_hash) =
            (entry.environment.clone(), entry.labels.clone(), entry.declared, entry.token_hash);
        // A report says the cluster's Kubernetes only when it changed.
        let kept = entry.kubernetes.clone();
        let placements = self.placements(Some(report));
        let policies = self.results(Some(report));
        let kubernetes = report.kubernetes.as_ref().map(|k| self.kubernetes(k)).or(kept);
        let entry = Entry {
            kubernetes,
            environment,
            labels,
            registered: true,
            declared,
            last_report_at_ms: Some(received_at_ms),
            placements,
            policies,
            fleet: report.fleet.as_ref().map(|f| f.state),
            token_hash,
            change,
        };
        let name = self.key(name);
        self.put(name, entry);
        true
    }

    fn placement(&mut self, p: &PlacementReport) -> PlacementEntry {
        let images: Vec<Text> = p.images.iter().map(|i| self.intern(i)).collect();
        let version = version_of(p.images.as_slice()).map(|v| self.intern(&v));
        let images = intern_slice(&mut self.image_lists, images);
        let mut text = |s: &Option<String>| s.as_deref().map(|s| self.intern(s));
        PlacementEntry {
            images,
            version,
            source_commit: text(&p.source_commit),
            desired_digest: text(&p.desired_digest),
            applied_commit: text(&p.applied_commit),
            applied_digest: text(&p.applied_digest),
            name: self.intern(&p.name),
            state: p.state,
            health: p.health,
            // A pruned object is news, not a problem.
            problems: u32::try_from(p.objects.iter().filter(|o| o.problem != ObjectProblem::Pruned).count())
                .unwrap_or(u32::MAX),
        }
    }

    /// Sets the clusters the fleet repository declares: new ones appear as never reported; ones
    /// no longer declared and never registered go.
    pub fn set_declared(&mut self, declared: &[DeclaredCluster]) {
        let wanted: Set<&str> = declared.iter().map(|d| d.name.as_str()).collect();
        let mut gone = Vec::new();
        for (name, entry) in &mut self.clusters {
            entry.declared = wanted.contains(&**name);
            if !entry.declared && !entry.registered {
                gone.push(name.clone());
            }
        }
        for name in gone {
            self.remove(&name);
        }
        for d in declared {
            if self.clusters.contains_key(d.name.as_str()) {
                continue;
            }
            let environment = self.intern(&d.environment);
            let labels = self.labels(d.labels.iter());
            let placements = self.placements(None);
            let policies = self.results(None);
            let entry = Entry { environment, labels, placements, policies, declared: true, ..Entry::default() };
            self.put(Arc::from(d.name.as_str()), entry);
        }
    }

    /// Puts `entry` in place of what the index held for `name`, keeping the tally, the groups,
    /// the governance, the times and the tokens in step; only what changed is touched.
    fn put(&mut self, name: Text, entry: Entry) {
        let cutoff = self.cutoff_ms;
        let old = self.clusters.insert(name.clone(), entry);
        let new = &self.clusters[&name];
        if let Some(old) = &old {
            self.tally.count(old, old.standing_at(cutoff), false);
        }
        self.tally.count(new, new.standing_at(cutoff), true);
        let same_groups = old.as_ref().is_some_and(|old| {
            old.environment == new.environment
                && (Arc::ptr_eq(&old.placements, &new.placements)
                    || old.placements.len() == new.placements.len()
                        && old.placements.iter().zip(new.placements.iter()).all(|(a, b)| {
                            a.name == b.name && a.applied_commit == b.applied_commit && a.version == b.version
                        }))
        });
        if !same_groups {
            if let Some(old) = &old {
                for p in old.placements.iter() {
                    ungroup(&mut self.groups, &name, &old.environment, p);
                }
                count_versions(&mut self.versions, old, false);
            }
            count_versions(&mut self.versions, new, true);
            for p in new.placements.iter() {
                let placements = self.groups.entry(new.environment.clone()).or_default();
                placements
                    .entry(p.name.clone())
                    .or_default()
                    .entry(p.applied_commit.clone())
                    .or_default()
                    .insert(name.clone());
            }
        }
        let same_governance = old.as_ref().is_some_and(|old| {
            old.environment == new.environment
                && Arc::ptr_eq(&old.labels, &new.labels)
                && Arc::ptr_eq(&old.policies, &new.policies)
        });
        if !same_governance {
            if let Some(old) = &old {
                self.governance.count(&name, old, false);
            }
            self.governance.count(&name, new, true);
        }
        let old_at = old.as_ref().and_then(|o| o.last_report_at_ms);
        if old_at != new.last_report_at_ms {
            if let Some(at) = old_at {
                self.by_time.remove(&(at, name.clone()));
            }
            if let Some(at) = new.last_report_at_ms {
                self.by_time.insert((at, name.clone()));
            }
        }
        let old_token = old.as_ref().and_then(|o| o.token_hash);
        if old_token != new.token_hash {
            if let Some(token) = old_token {
                self.tokens.remove(&token);
            }
            if let Some(token) = new.token_hash {
                self.tokens.insert(token, name);
            }
        }
    }

    /// Forgets a cluster.
    fn remove(&mut self, name: &str) {
        let Some((name, old)) = self.clusters.remove_entry(name) else { return };
        self.tally.count(&old, old.standing_at(self.cutoff_ms), false);
        for p in old.placements.iter() {
            ungroup(&mut self.groups, &name, &old.environment, p);
        }
        count_versions(&mut self.versions, &old, false);
        self.governance.count(&name, &old, false);
        if let Some(at) = old.last_report_at_ms {
            self.by_time.remove(&(at, name.clone()));
        }
        if let Some(token) = old.token_hash {
            self.tokens.remove(&token);
        }
    }
}

/// How long a cluster may stay silent before the index counts it offline, unless the hub is
/// told otherwise (`hub-index serve --offline-after`); the simulator's hub counts by it too.
pub const OFFLINE_AFTER: &str = "3m";
/// [`OFFLINE_AFTER`] in milliseconds (a test holds the two together).
pub const OFFLINE_AFTER_MS: i64 = 180_000;

/// How often interned values no cluster uses are dropped.
const PURGE_EVERY_MS: u64 = 60_000;

/// The shared copy of `items` in `set`, added when new. Label sets come sorted by key from the
/// maps they are read from.
fn intern_slice<T: Eq + std::hash::Hash>(set: &mut Set<Arc<[T]>>, items: Vec<T>) -> Arc<[T]> {
    if let Some(shared) = set.get(items.as_slice()) {
        return shared.clone();
    }
    let shared: Arc<[T]> = Arc::from(items);
    set.insert(shared.clone());
    shared
}

/// Takes `name` out of the group of placement `p` in `environment`, dropping what empties.
fn ungroup(groups: &mut Map<Text, Map<Text, Group>>, name: &Text, environment: &Text, p: &PlacementEntry) {
    let Some(placements) = groups.get_mut(environment) else { return };
    let Some(group) = placements.get_mut(&p.name) else { return };
    let Some(names) = group.get_mut(&p.applied_commit) else { return };
    names.remove(name);
    if names.is_empty() {
        group.remove(&p.applied_commit);
        if group.is_empty() {
            placements.remove(&p.name);
            if placements.is_empty() {
                groups.remove(environment);
            }
        }
    }
}

/// Whether every `key=value` of `selector` is in the label set (an empty selector matches).
pub fn labels_match(labels: &[(Text, Text)], selector: &[(String, String)]) -> bool {
    selector.iter().all(|(k, v)| label(labels, k).is_some_and(|have| *have == **v))
}

/// The value of label `key` in a label set (sorted by key).
pub fn label<'a>(labels: &'a [(Text, Text)], key: &str) -> Option<&'a str> {
    let at = labels.binary_search_by(|(k, _)| (**k).cmp(key)).ok()?;
    Some(&labels[at].1)
}

impl Entry {
    /// Where the cluster stands when reports before `cutoff_ms` are too old: offline then,
    /// else the worst of its placements and its fleet commit (a fleet commit that did not
    /// verify, or could not be fetched, is a failure; one waiting for its wave or window is
    /// progressing, as a placement's would be).
    fn standing_at(&self, cutoff_ms: i64) -> Standing {
        let Some(at) = self.last_report_at_ms else { return Standing::NeverReported };
        if at < cutoff_ms {
            return Standing::Offline;
        }
        let fleet = self.fleet.map(standing_of);
        self.placements.iter().map(|p| standing_of(p.state)).chain(fleet).max().unwrap_or(Standing::Synced)
    }

    /// Whether every `key=value` of `selector` is among the labels (an empty selector matches).
    pub fn matches(&self, selector: &[(String, String)]) -> bool {
        labels_match(&self.labels, selector)
    }

    /// The value of label `key`.
    pub fn label(&self, key: &str) -> Option<&str> {
        label(&self.labels, key)
    }

    /// The cluster's last result for `policy`.
    pub fn policy(&self, policy: &str) -> Option<&PolicyResult> {
        find_result(&self.policies, policy)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) fn report(cluster: &str, placements: &[(&str, &str, &str)]) -> Report {
        report_with(cluster, placements, &[])
    }

    /// A report with policy results: name, compliant (`None`: unknown), violations.
    fn report_with(
        cluster: &str,
        placements: &[(&str, &str, &str)],
        policies: &[(&str, Option<bool>, usize)],
    ) -> Report {
        let policies: Vec<serde_json::Value> = policies
            .iter()
            .map(|(name, compliant, violations)| {
                let violations: Vec<serde_json::Value> = (0..*violations)
                    .map(|i| serde_json::json!({"object": format!("ConfigMap/shop/c{i}"), "message": "missing"}))
                    .collect();
                serde_json::json!({"name": name, "compliant": compliant, "violations": violations})
            })
            .collect();
        let placements: Vec<String> = placements
            .iter()
            .map(|(name, state, commit)| {
                format!(
                    r#"{{"name":"{name}","state":"{state}","sourceCommit":"{commit}","appliedCommit":"{commit}","desiredDigest":"sha256:{}","health":"Healthy","images":["registry.example/{name}:{}.0"]}}"#,
                    "d".repeat(64),
                    &commit[..1],
                )
            })
            .collect();
        let json = format!(
            r#"{{"version":1,"cluster":"{cluster}","agentVersion":"0.1.0","sequence":1,"time":"2026-11-25T10:00:00Z","placements":[{}],"policies":{}}}"#,
            placements.join(","),
            serde_json::Value::from(policies),
        );
        Report::from_json(json.as_bytes()).unwrap()
    }

    fn row(name: &str, at: Option<i64>, placements: &[(&str, &str, &str)]) -> Row {
        Row {
            name: name.into(),
            environment: "prod".into(),
            labels: BTreeMap::from([("kind".into(), "store".into())]),
            token_hash: None,
            registered_at_ms: 0,
            last_report_at_ms: at,
            last_report: at.map(|_| report(name, placements)),
            change: 1,
            kubernetes: None,
        }
    }

    fn row_with(
        name: &str,
        at: Option<i64>,
        placements: &[(&str, &str, &str)],
        policies: &[(&str, Option<bool>, usize)],
    ) -> Row {
        Row { last_report: at.map(|_| report_with(name, placements, policies)), ..row(name, at, placements) }
    }

    fn declared(name: &str) -> DeclaredCluster {
        DeclaredCluster {
            name: name.into(),
            environment: "prod".into(),
            labels: BTreeMap::new(),
            declared_in: "prod".into(),
        }
    }

    #[test]
    fn standing_is_the_worst_placement_and_offline_is_apart_from_failed() {
        let mut index = Index::new(180_000);
        let c = "a".repeat(40);
        index.update(&row("s1", Some(1_000), &[("web", "Synced", &c), ("pos", "Degraded", &c)]));
        index.update(&row("s2", Some(1_000), &[("web", "Failed", &c)]));
        index.update(&row("s3", None, &[]));
        index.update(&row("s4", Some(150_000), &[("web", "Synced", &c)]));
        index.update(&row("s5", Some(1_000), &[("web", "Refused", &c)]));
        index.update(&row("s6", Some(1_000), &[("web", "Conflict", &c)]));
        let at = |index: &Index, n: &str| index.standing(index.get(n).unwrap());
        index.advance(2_000);
        assert_eq!(at(&index, "s1"), Standing::Degraded);
        assert_eq!(at(&index, "s2"), Standing::Failed);
        assert_eq!(at(&index, "s5"), Standing::Failed, "out of scope is a failure like any other");
        assert_eq!(at(&index, "s6"), Standing::Failed);
        assert_eq!(at(&index, "s3"), Standing::NeverReported);
        index.advance(200_000);
        assert_eq!(at(&index, "s2"), Standing::Offline);
        assert_eq!(at(&index, "s4"), Standing::Synced);
        assert_eq!(index.tally().by_standing[Standing::Offline.slot()], 4);
        assert_eq!(index.tally().by_placement["pos"][Standing::Offline.slot()], 1);
        // A clock that goes back brings them back.
        index.advance(2_000);
        assert_eq!(index.tally().by_standing[Standing::Offline.slot()], 0);
        assert_eq!(index.tally().by_standing[Standing::Degraded.slot()], 1);
    }

    /// `report` with a fleet section in `state`.
    fn with_fleet(mut report: Report, state: SyncState) -> Report {
        report.fleet = Some(flotilla_core::report::FleetReport {
            commit: "f".repeat(40),
            head: None,
            state,
            message: None,
            signer: Some("platform@retail.example".into()),
        });
        report
    }

    #[test]
    fn a_fleet_commit_that_did_not_verify_makes_the_cluster_failed() {
        let mut index = Index::new(180_000);
        let c = "a".repeat(40);
        let synced = [("web", "Synced", c.as_str())];
        for (name, state) in [
            ("s1", SyncState::VerificationFailed),
            ("s2", SyncState::SourceUnreachable),
            ("s3", SyncState::WaitingForWave),
            ("s4", SyncState::Synced),
        ] {
            let mut r = row(name, Some(1_000), &synced);
            r.last_report = r.last_report.map(|report| with_fleet(report, state));
            index.update(&r);
        }
        index.update(&row("s5", Some(1_000), &[]));
        index.advance(2_000);
        let at = |index: &Index, n: &str| index.standing(index.get(n).unwrap());
        assert_eq!(at(&index, "s1"), Standing::Failed, "its placements are synced, its fleet is not to be trusted");
        assert_eq!(at(&index, "s2"), Standing::Failed);
        assert_eq!(at(&index, "s3"), Standing::Progressing);
        assert_eq!((at(&index, "s4"), at(&index, "s5")), (Standing::Synced, Standing::Synced));
        assert_eq!(index.get("s1").unwrap().fleet, Some(SyncState::VerificationFailed));
        assert_eq!(index.get("s5").unwrap().fleet, None, "no fleet section, no fleet state");
        assert_eq!(index.tally().by_placement["web"][Standing::Synced.slot()], 4, "the fleet is not a placement");
        // The next report, verified again: synced.
        let next = with_fleet(report("s1", &synced), SyncState::Synced);
        assert!(index.apply("s1", 2, 1_500, &next));
        assert_eq!(at(&index, "s1"), Standing::Synced);
        assert_eq!(index.tally().by_standing[Standing::Failed.slot()], 1);
    }

    #[test]
    fn commits_and_labels_are_shared_between_clusters() {
        let mut index = Index::new(180_000);
        let c = "b".repeat(40);
        for i in 0..100 {
            index.update(&row(&format!("s{i}"), Some(1), &[("web", "Synced", &c)]));
        }
        let a = index.get("s1").unwrap().placements[0].source_commit.clone().unwrap();
        let b = index.get("s2").unwrap().placements[0].source_commit.clone().unwrap();
        assert!(Arc::ptr_eq(&a, &b));
        // One each of: prod, kind, store, web, the commit, the digest, the image and its version
        // (names are keys, not interned).
        assert_eq!(index.strings.len(), 8);
        assert_eq!(index.versions("prod", "web").map(|v| v["b.0"]), Some(100));
        let group = index.group("prod", "web").unwrap();
        assert_eq!(group.len(), 1);
        assert_eq!(group[&Some(c.as_str().into())].len(), 100);
    }

    #[test]
    fn the_version_is_the_tag_of_the_one_image_or_every_reference() {
        assert_eq!(version_of(&["registry.example:5000/shop/app:1.5.0"]).as_deref(), Some("1.5.0"));
        assert_eq!(version_of(&["app:1.5.0@sha256:abc"]).as_deref(), Some("1.5.0"));
        assert_eq!(version_of(&["registry.example:5000/app"]).as_deref(), Some("registry.example:5000/app"));
        assert_eq!(version_of(&["a:1", "b:2"]).as_deref(), Some("a:1, b:2"));
        assert_eq!(version_of::<&str>(&[]), None);
    }

    #[test]
    fn declared_clusters_appear_until_they_are_neither_declared_nor_registered() {
        let mut index = Index::new(100);
        index.set_declared(&[declared("d1"), declared("s1")]);
        index.update(&row("s1", Some(5), &[]));
        index.advance(6);
        assert_eq!(index.standing(index.get("d1").unwrap()), Standing::NeverReported);
        assert!(index.get("s1").unwrap().declared);
        index.set_declared(&[]);
        assert!(index.get("d1").is_none());
        assert!(index.get("s1").is_some_and(|e| e.registered && !e.declared));
        assert!(index.get("s1").unwrap().matches(&[("kind".into(), "store".into())]));
        assert!(!index.get("s1").unwrap().matches(&[("kind".into(), "cloud".into())]));
        assert_eq!(index.tally().by_standing.iter().sum::<usize>(), 1);
    }

    #[test]
    fn tokens_follow_registrations_and_stale_rows_are_ignored() {
        let mut index = Index::new(100);
        let mut r = row("s1", None, &[]);
        r.token_hash = Some([1; 32]);
        r.change = 5;
        index.update(&r);
        assert_eq!(index.cluster_for_token(&[1; 32]).map(|n| &**n), Some("s1"));
        // Registered again: the old token stops working.
        r.token_hash = Some([2; 32]);
        r.change = 9;
        index.update(&r);
        assert!(index.cluster_for_token(&[1; 32]).is_none());
        assert!(index.cluster_for_token(&[2; 32]).is_some());
        // A row read before that registration changes nothing.
        r.token_hash = Some([1; 32]);
        r.change = 7;
        index.update(&r);
        assert!(index.cluster_for_token(&[2; 32]).is_some());
        // A report stored later applies; one the index already has does not.
        let c = "c".repeat(40);
        assert!(index.apply("s1", 10, 50, &report("s1", &[("web", "Failed", &c)])));
        assert!(index.apply("s1", 10, 60, &report("s1", &[("web", "Synced", &c)])));
        assert_eq!(index.get("s1").unwrap().last_report_at_ms, Some(50));
        assert!(!index.apply("nobody", 11, 50, &report("nobody", &[])));
    }

    #[test]
    fn policy_results_are_shared_kept_per_policy_and_stand_while_offline() {
        let mut index = Index::new(1_000);
        let c = "a".repeat(40);
        let web = [("web", "Synced", c.as_str())];
        for i in 0..10 {
            let r =
                row_with(&format!("s{i}"), Some(5_000), &web, &[("pci-b", Some(true), 0), ("pci-a", Some(true), 0)]);
            index.update(&r);
        }
        let mut s7 = row_with("s7", Some(5_000), &web, &[("pci-a", Some(false), 2), ("pci-b", None, 0)]);
        s7.change = 2;
        index.update(&s7);
        index.set_declared(&[declared("d1")]);
        let s1 = index.get("s1").unwrap();
        assert!(Arc::ptr_eq(&s1.policies, &index.get("s2").unwrap().policies), "one list for the healthy");
        let names: Vec<&str> = s1.policies.iter().map(|r| &*r.name).collect();
        assert_eq!(names, ["pci-a", "pci-b"], "sorted by name");
        assert_eq!(index.get("s7").unwrap().policy("pci-a").map(|r| r.violations), Some(2));
        let a = index.policy_tally("prod", "pci-a").unwrap();
        assert_eq!((a.compliant, a.unknown), (9, 0));
        assert_eq!(a.non_compliant.iter().map(|n| &**n).collect::<Vec<_>>(), ["s7"]);
        assert_eq!(index.policy_tally("prod", "pci-b").map(|t| t.unknown), Some(1));
        // Ten registered clusters in three cohorts (healthy, s7, and d1 without results).
        let mut cohorts: Vec<usize> = index.cohorts("prod").map(|(_, _, n)| n).collect();
        cohorts.sort_unstable();
        assert_eq!(cohorts, [1, 1, 9]);
        // Offline: the last results stand.
        index.advance(100_000);
        assert_eq!(index.standing(index.get("s7").unwrap()), Standing::Offline);
        assert_eq!(index.policy_tally("prod", "pci-a").unwrap().non_compliant.len(), 1);
        // Compliant again: out of the list.
        assert!(index.apply("s7", 3, 100_000, &report_with("s7", &web, &[("pci-a", Some(true), 0)])));
        assert!(index.policy_tally("prod", "pci-a").unwrap().non_compliant.is_empty());
        assert!(index.policy_tally("prod", "pci-b").is_some_and(|t| t.unknown == 0 && t.compliant == 9));
        assert!(index.policy_tally("dev", "pci-a").is_none());
    }

    /// What the tally, the groups and the governance must be, counted from scratch.
    fn recount(index: &Index) -> (Tally, Map<Text, Map<Text, Group>>, Governance, Versions) {
        let mut tally = Tally::default();
        let mut versions = Versions::default();
        let mut groups: Map<Text, Map<Text, Group>> = Map::default();
        let keys = index.governance.keys.clone();
        let mut governance = Governance { keys: keys.clone(), ..Governance::default() };
        for (name, entry) in index.iter() {
            let environment = &entry.environment;
            let kept: Labels = entry.labels.iter().filter(|(k, _)| keys.contains(k)).cloned().collect();
            *governance
                .cohorts
                .entry(environment.clone())
                .or_default()
                .entry((kept, entry.policies.clone()))
                .or_default() += 1;
            for r in entry.policies.iter() {
                let t = governance.by_policy.entry(environment.clone()).or_default().entry(r.name.clone()).or_default();
                match r.compliant {
                    Some(true) => t.compliant += 1,
                    Some(false) => assert!(t.non_compliant.insert(name.clone())),
                    None => t.unknown += 1,
                }
            }
            tally.count(entry, index.standing(entry), true);
            for p in entry.placements.iter() {
                if let Some(v) = &p.version {
                    *versions
                        .entry(environment.clone())
                        .or_default()
                        .entry(p.name.clone())
                        .or_default()
                        .entry(v.clone())
                        .or_default() += 1;
                }
                let placements = groups.entry(entry.environment.clone()).or_default();
                placements
                    .entry(p.name.clone())
                    .or_default()
                    .entry(p.applied_commit.clone())
                    .or_default()
                    .insert(name.clone());
            }
        }
        (tally, groups, governance, versions)
    }

    #[test]
    fn the_tally_and_groups_kept_as_the_index_changes_equal_a_recount() {
        // SplitMix64: a fixed, reproducible sequence of changes.
        let mut seed = 0x5eed_u64;
        let mut next = move |n: u64| {
            seed = seed.wrapping_add(0x9e37_79b9_7f4a_7c15);
            let mut z = seed;
            z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
            (z ^ (z >> 31)) % n
        };
        let commits = ["a".repeat(40), "b".repeat(40), "c".repeat(40)];
        let states = ["Synced", "Progressing", "Degraded", "Failed", "SourceUnreachable"];
        let verdicts = [Some(true), Some(true), Some(false), None];
        let mut index = Index::new(1_000);
        let (mut now, mut change) = (10_000_i64, 0_i64);
        for _ in 0..3_000 {
            let name = format!("s{}", next(40));
            change += 1;
            let mut placements = Vec::new();
            for placement in ["web", "pos", "db"] {
                if next(3) > 0 {
                    let state = states[usize::try_from(next(5)).unwrap()];
                    placements.push((placement, state, commits[usize::try_from(next(3)).unwrap()].as_str()));
                }
            }
            let mut policies = Vec::new();
            for policy in ["pci-a", "pci-b", "cis-c"] {
                if next(3) > 0 {
                    let compliant = verdicts[usize::try_from(next(4)).unwrap()];
                    let violations = if compliant == Some(false) { usize::try_from(next(2)).unwrap() + 1 } else { 0 };
                    policies.push((policy, compliant, violations));
                }
            }
            match next(10) {
                0 => {
                    let keys: [&[&str]; 4] = [&[], &["kind"], &["region"], &["kind", "region"]];
                    index.set_selector_keys(keys[usize::try_from(next(4)).unwrap()].iter().copied());
                    let names: Vec<String> = (0..next(20)).map(|_| format!("s{}", next(60))).collect();
                    let list: Vec<DeclaredCluster> = names.iter().map(|n| declared(n)).collect();
                    index.set_declared(&list);
                }
                1 => now += i64::try_from(next(1_500)).unwrap(),
                2 => now -= i64::try_from(next(500)).unwrap(),
                3 => {
                    let mut r = row(&name, None, &[]);
                    r.environment = if next(2) == 0 { "prod" } else { "dev" }.into();
                    r.labels.insert("region".into(), if next(2) == 0 { "eu" } else { "us" }.into());
                    r.change = change;
                    index.update(&r);
                }
                _ => {
                    let received = now - i64::try_from(next(2_000)).unwrap();
                    let fleet = [None, Some(SyncState::Synced), Some(SyncState::VerificationFailed)];
                    let fleet = fleet[usize::try_from(next(3)).unwrap()];
                    let fleet_of = |r: Report| match fleet {
                        Some(state) => with_fleet(r, state),
                        None => r,
                    };
                    let r = fleet_of(report_with(&name, &placements, &policies));
                    if !index.apply(&name, change, received, &r) {
                        let mut row = row_with(&name, Some(received), &placements, &policies);
                        row.last_report = row.last_report.map(fleet_of);
                        row.change = change;
                        index.update(&row);
                    }
                }
            }
            index.advance(now);
            let (tally, groups, governance, versions) = recount(&index);
            assert_eq!(index.tally, tally);
            assert_eq!(index.versions, versions);
            assert_eq!(index.groups, groups);
            assert_eq!(index.governance, governance);
            assert_eq!(index.by_time.len(), index.iter().filter(|(_, e)| e.last_report_at_ms.is_some()).count());
        }
        // What is interned is what the clusters use, shared.
        index.purge();
        let lists: HashSet<&[PlacementEntry]> = index.iter().map(|(_, e)| &*e.placements).collect();
        assert_eq!(index.placement_lists.len(), lists.len());
        let results: HashSet<&[PolicyResult]> = index.iter().map(|(_, e)| &*e.policies).collect();
        assert_eq!(index.result_lists.len(), results.len());
        let images: HashSet<&[Text]> =
            index.iter().flat_map(|(_, e)| e.placements.iter().map(|p| &*p.images)).collect();
        assert_eq!(index.image_lists.len(), images.len());
        assert!(index.versions.values().flat_map(Map::values).any(|v| v.len() > 1), "several versions run");
        assert!(index.governance.by_policy.values().flat_map(Map::values).any(|t| !t.non_compliant.is_empty()));
        for (_, e) in index.iter() {
            assert!(index.result_lists.get(&*e.policies).is_some_and(|l| Arc::ptr_eq(l, &e.policies)));
            assert!(index.placement_lists.get(&*e.placements).is_some_and(|l| Arc::ptr_eq(l, &e.placements)));
            assert!(index.label_sets.get(&*e.labels).is_some_and(|l| Arc::ptr_eq(l, &e.labels)));
            assert!(index.strings.get(&*e.environment).is_some_and(|t| Arc::ptr_eq(t, &e.environment)));
        }
    }

    #[test]
    fn the_default_offline_threshold_reads_as_its_milliseconds() {
        let parsed = flotilla_core::calendar::parse_duration(OFFLINE_AFTER).expect("a duration");
        assert_eq!(i64::try_from(parsed.as_millis()).unwrap(), OFFLINE_AFTER_MS);
    }
}
