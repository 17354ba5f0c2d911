//! The hub's HTTP API as types: every JSON view the hub answers (`/api/v1/…`), each
//! `Serialize` for the hub and `Deserialize` for its readers, and [`Client`] (feature
//! `client`), the one HTTP client of them: the command line, the demo, the benches and the
//! agent's halt question.
//!
//! This is the wire format: field names (camelCase) and shapes are kept as they are, or changed
//! with the readers in mind. It is not the computation of the views (`views`, `progress`,
//! `preview`, `overrides`, `audit`) nor the agent's report (`flotilla_core::report`).

use std::collections::BTreeMap;

use flotilla_core::fleet::{Remediation, Severity};
use flotilla_core::health::Health;
use flotilla_core::report::{ObjectReport, PolicyReport, SyncState};
use flotilla_core::rollout::{Arrival, HaltAnswer, Halted};
use serde::{Deserialize, Serialize};

#[cfg(feature = "client")]
pub mod client;
#[cfg(feature = "client")]
pub use client::{Client, Error};

/// Where a cluster stands, for the summary: offline is kept apart from failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Standing {
    Synced,
    Progressing,
    Degraded,
    Failed,
    /// Its last report is older than the offline threshold; its placements keep their last state.
    Offline,
    /// Declared in git or registered, but no report yet.
    NeverReported,
}

impl Standing {
    pub const ALL: [Standing; 6] = [
        Standing::Synced,
        Standing::Progressing,
        Standing::Degraded,
        Standing::Failed,
        Standing::Offline,
        Standing::NeverReported,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Standing::Synced => "synced",
            Standing::Progressing => "progressing",
            Standing::Degraded => "degraded",
            Standing::Failed => "failed",
            Standing::Offline => "offline",
            Standing::NeverReported => "neverReported",
        }
    }

    pub fn parse(text: &str) -> Option<Standing> {
        Standing::ALL.into_iter().find(|s| s.name().eq_ignore_ascii_case(text))
    }

    /// Its place in [`Standing::ALL`].
    pub fn slot(self) -> usize {
        self as usize
    }
}

/// An error answer: `{"error": …, "field": …}`, `field` naming the request's part at fault.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Problem {
    pub error: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
}

/// The answer to a report (`POST /api/v1/reports`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReportAnswer {
    /// `stored`, or `ignored` (replayed or out of order).
    pub status: String,
    pub sequence: u64,
    /// Why it was ignored.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// Counts by standing (its [`Standing::name`]), every standing present (zeros included) so the
/// shape never changes.
pub type Counts = BTreeMap<String, usize>;

/// The fleet summary (`GET /api/v1/summary`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Summary {
    pub clusters: usize,
    pub by_standing: Counts,
    pub by_environment: BTreeMap<String, Counts>,
    /// Per placement, its clusters by the placement's own state (offline clusters as offline).
    pub by_placement: BTreeMap<String, Counts>,
    /// Per placement and environment, the versions its clusters run (see
    /// `index::version_of`), the most run first.
    pub versions: BTreeMap<String, BTreeMap<String, Vec<VersionCount>>>,
}

/// How many clusters run one version of a placement.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct VersionCount {
    pub version: String,
    pub clusters: usize,
}

/// One page of a longer list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Page<T> {
    /// How many there are in all.
    pub total: usize,
    pub offset: usize,
    pub items: Vec<T>,
}

/// A cluster in a list (`GET /api/v1/clusters`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ClusterLine {
    pub name: String,
    pub environment: String,
    pub standing: Standing,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_report_at_ms: Option<i64>,
    pub placements: usize,
    /// Drifted, failed or unhealthy objects over all placements.
    pub problems: u32,
    /// The state of the fleet commit it runs, when its report says (`VerificationFailed`: it
    /// stays on the last verified fleet commit, and is failed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fleet: Option<SyncState>,
}

/// How far a commit is behind a branch's head, as git says.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Behind {
    /// `None` when the commit is not on the branch's first-parent history the hub keeps.
    pub commits: Option<usize>,
    /// Unix seconds: when the first commit after it landed, that is since when it is behind.
    pub since: Option<i64>,
}

/// One commit some clusters run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LedgerLine {
    pub commit: String,
    pub clusters: usize,
    pub behind: Behind,
}

/// A cluster that does not run the head.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Lagging {
    pub cluster: String,
    /// What it runs (`None`: nothing applied yet).
    pub commit: Option<String>,
    /// The version it runs (see `index::version_of`).
    pub version: Option<String>,
    pub behind: Behind,
    pub standing: Standing,
}

/// The lag ledger of one placement in one environment (`GET /api/v1/lag`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Ledger {
    pub placement: String,
    pub environment: String,
    pub head: String,
    /// Clusters that run the placement: on the head, and not.
    pub clusters: usize,
    pub on_head: usize,
    /// Every commit run, the head first, then the furthest behind last.
    pub commits: Vec<LedgerLine>,
    /// The versions run, the most run first.
    pub versions: Vec<VersionCount>,
    /// The clusters not on the head, the furthest behind first, paged.
    pub lagging: Page<Lagging>,
}

/// Clusters by where they stand on a policy, or on all the policies of a control or standard.
/// A cluster counts once, at its worst: non-compliant for any of them, else unknown for any,
/// else lacking a result for any that selects it (not reported), else compliant. A cluster
/// that neither reports a policy nor is selected by it is not counted for it. Offline clusters
/// count by their last results.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ComplianceCounts {
    pub compliant: usize,
    pub non_compliant: usize,
    pub unknown: usize,
    pub not_reported: usize,
}

/// Governance of one environment: standards → controls → policies, with counts at each level
/// (`GET /api/v1/compliance`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Compliance {
    pub environment: String,
    /// The label filter, `k=v,k=v` (empty: every cluster of the environment).
    pub labels: String,
    /// The clusters of the environment that pass the filter.
    pub clusters: usize,
    /// By name; `views::NO_STANDARD` and `views::NOT_IN_FLEET` last.
    pub standards: Vec<StandardLine>,
    /// Why the environment's fleet branch could not be read, when it could not: then every
    /// reported policy is `views::NOT_IN_FLEET`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fleet_error: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StandardLine {
    pub name: String,
    /// Each cluster once, at its worst over the standard's policies.
    pub counts: ComplianceCounts,
    pub controls: Vec<ControlLine>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ControlLine {
    pub name: String,
    /// Each cluster once, at its worst over the control's policies.
    pub counts: ComplianceCounts,
    pub policies: Vec<PolicyLine>,
}

/// A policy under one control; a policy that names several standards or controls is listed
/// under each.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PolicyLine {
    pub name: String,
    /// False: clusters report it, and the fleet branch no longer declares it.
    pub in_fleet: bool,
    pub severity: Option<Severity>,
    pub remediation: Option<Remediation>,
    pub categories: Vec<String>,
    pub counts: ComplianceCounts,
}

/// One policy: what the fleet says of it, its counts, and its non-compliant clusters
/// (`GET /api/v1/compliance/{policy}`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PolicyCompliance {
    pub policy: String,
    pub environment: String,
    /// The label filter, `k=v,k=v`.
    pub labels: String,
    /// False: clusters report it, and the fleet branch no longer declares it.
    pub in_fleet: bool,
    pub severity: Option<Severity>,
    pub remediation: Option<Remediation>,
    pub standards: Vec<String>,
    pub controls: Vec<String>,
    pub categories: Vec<String>,
    pub counts: ComplianceCounts,
    /// The clusters whose last result is non-compliant, by name, paged; offline ones included
    /// (their last result stands).
    pub non_compliant: Page<NonCompliant>,
}

/// A cluster that does not comply with a policy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NonCompliant {
    pub name: String,
    pub environment: String,
    pub standing: Standing,
    /// How many violations its last report listed.
    pub violations: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_report_at_ms: Option<i64>,
}

/// A cluster's latest state (`GET /api/v1/clusters/{name}`); the dashboard's detail page
/// renders the same value. Every field is present, null when unknown, so that the shape never
/// changes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ClusterDetail {
    pub name: String,
    pub environment: String,
    pub labels: BTreeMap<String, String>,
    pub state: Standing,
    /// Declared by the fleet repository.
    pub declared: bool,
    pub registered: bool,
    pub last_report_at_ms: Option<i64>,
    pub last_sequence: Option<i64>,
    /// Its Kubernetes version, as its reports last said it (what its charts render with).
    pub kubernetes_version: Option<String>,
    /// The fleet commit it runs; `None` when its report does not say.
    pub fleet: Option<FleetDetail>,
    pub placements: Vec<PlacementDetail>,
    pub policies: Vec<PolicyReport>,
    /// Its last reports, newest first.
    pub reports: Vec<ReportLine>,
    /// Its last policy results as they changed, newest first.
    pub policy_history: Vec<PolicyEvidence>,
    /// The overrides it ran, newest first.
    pub overrides: Vec<OverrideEvidence>,
}

/// The fleet commit a cluster runs: head when the branch is elsewhere, who signed it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FleetDetail {
    pub commit: String,
    pub head: Option<String>,
    pub state: SyncState,
    pub message: Option<String>,
    pub signer: Option<String>,
}

/// One placement of a cluster, as its last report says, and how far behind its branch it is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PlacementDetail {
    pub name: String,
    pub state: SyncState,
    pub health: Health,
    pub applied_commit: Option<String>,
    pub applied_digest: Option<String>,
    pub desired_commit: Option<String>,
    pub desired_digest: Option<String>,
    /// Who signed its source commit.
    pub signer: Option<String>,
    pub message: Option<String>,
    pub objects: Vec<ObjectReport>,
    pub images: Vec<String>,
    /// `None` when it applied nothing or the hub has not read the fleet.
    pub behind: Option<BehindHead>,
}

/// How far an applied commit is behind its branch's head.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BehindHead {
    pub head: Option<String>,
    pub commits: Option<usize>,
    /// Unix seconds.
    pub since: Option<i64>,
}

/// A stored report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ReportLine {
    pub sequence: i64,
    pub time_ms: i64,
    pub received_at_ms: i64,
}

/// The kind of a row of the evidence log.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum EvidenceKind {
    Policy,
    Override,
}

/// A policy result in the evidence log, as the API shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PolicyEvidence {
    /// [`EvidenceKind::Policy`].
    pub kind: EvidenceKind,
    pub seq: i64,
    /// RFC 3339.
    pub time: String,
    pub time_ms: i64,
    pub cluster: String,
    pub policy: String,
    /// `None`: could not be evaluated.
    pub compliant: Option<bool>,
    pub commit: Option<String>,
    /// The standards and controls the fleet gave the policy when the row was written (`None`
    /// for rows from before).
    pub standards: Option<serde_json::Value>,
    pub controls: Option<serde_json::Value>,
    pub violations: serde_json::Value,
    pub remediation: serde_json::Value,
    pub sequence: i64,
    pub change: i64,
    pub prev_hash: String,
    pub hash: String,
}

/// An override in the evidence log, as the API shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OverrideEvidence {
    /// [`EvidenceKind::Override`].
    pub kind: EvidenceKind,
    pub seq: i64,
    /// The report's time (RFC 3339).
    pub time: String,
    pub time_ms: i64,
    pub received_at: String,
    pub received_at_ms: i64,
    pub cluster: String,
    pub environment: String,
    pub target: String,
    pub commit: String,
    pub signer: String,
    pub reason: String,
    pub sequence: i64,
    pub change: i64,
    pub prev_hash: String,
    pub hash: String,
}

/// A row of the evidence export (`GET /api/v1/evidence`), of either kind (told by `kind`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Evidence {
    Policy(PolicyEvidence),
    Override(OverrideEvidence),
}

/// What the check of the evidence chain found (`GET /api/v1/evidence/verify`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ChainCheck {
    /// Rows checked.
    pub rows: i64,
    /// The last row's hash: what a later check must extend.
    pub head: String,
    /// The first break, naming the position: `None` when the chain holds.
    pub problem: Option<String>,
}

/// The compliance of the fleet with one standard as of a time (`GET /api/v1/audit`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Audit {
    pub standard: String,
    /// RFC 3339, UTC.
    pub at: String,
    pub controls: Vec<AuditControl>,
}

/// A control's verdict in an audit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Verdict {
    Compliant,
    Unknown,
    NonCompliant,
    NoEvidence,
}

impl Verdict {
    /// In words, as the CSV and HTML say it.
    pub fn name(self) -> &'static str {
        match self {
            Verdict::Compliant => "compliant",
            Verdict::Unknown => "unknown",
            Verdict::NonCompliant => "non-compliant",
            Verdict::NoEvidence => "no evidence",
        }
    }
}

/// One control: its verdict and its policies.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AuditControl {
    pub control: String,
    pub verdict: Verdict,
    /// Results under the control: compliant, non-compliant, unknown.
    pub compliant: usize,
    pub non_compliant: usize,
    pub unknown: usize,
    pub policies: Vec<PolicyResults>,
}

/// One policy's results on every cluster that reported it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PolicyResults {
    pub policy: String,
    pub results: Vec<ClusterResult>,
}

/// A cluster's result for a policy, and the evidence row it stands on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ClusterResult {
    pub cluster: String,
    /// `None`: could not be evaluated.
    pub compliant: Option<bool>,
    /// When the agent found it (RFC 3339).
    pub since: String,
    pub commit: Option<String>,
    pub violations: serde_json::Value,
    pub remediation: serde_json::Value,
    pub evidence_seq: i64,
    pub evidence_hash: String,
}

/// One override: a commit of a target that passed a freeze, on one signer's word, and the
/// clusters that ran it (`GET /api/v1/overrides`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OverrideGroup {
    /// `fleet`, or the placement whose source commit it is.
    pub target: String,
    pub commit: String,
    pub signer: String,
    pub reason: String,
    /// When the hub received the first and the last cluster's report of it (RFC 3339, and unix
    /// milliseconds).
    pub first_received_at: String,
    pub first_received_at_ms: i64,
    pub last_received_at: String,
    pub last_received_at_ms: i64,
    /// The clusters, in the order the hub took them in.
    pub clusters: Vec<Ran>,
}

/// A cluster that ran an override, as the evidence log has it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Ran {
    pub cluster: String,
    pub environment: String,
    /// When the hub received the first report that named it.
    pub received_at: String,
    pub received_at_ms: i64,
    /// That report's own time (the agent's clock).
    pub time: String,
    /// The row's position and hash in the evidence chain, for `hub-index evidence verify`.
    pub seq: i64,
    pub hash: String,
}

/// One commit of a branch's first-parent history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Commit {
    pub id: String,
    /// Committer time, unix seconds: shown, never what a rollout or the lag is timed by.
    pub time: i64,
    pub tree: String,
    pub summary: String,
}

/// What `dev` has that `prod` does not, for one repository (`GET /api/v1/promotion`, by
/// repository).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Promotion {
    pub url: String,
    pub dev_branch: String,
    pub prod_branch: String,
    /// dev's first-parent commits not reachable from prod, newest first.
    pub commits: Vec<Commit>,
    pub error: Option<String>,
}

/// The progress of one placement's rollout in one environment
/// (`GET /api/v1/rollouts/{placement}`): what viewers watch and what an agent of a later wave
/// reads before it takes a commit (`halt`, `arrivals`).
///
/// Read leniently (a field the answer lacks takes its default): an agent asks hubs of other
/// versions, and reads only `halt` and `arrivals`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Progress {
    pub placement: String,
    pub environment: String,
    /// The head of the placement's source branch.
    pub head: Option<String>,
    pub bake_seconds: u64,
    pub waves: Vec<WaveProgress>,
    /// With `rollout.halt`: the limit and the commits some clusters failed on.
    pub halt: Option<HaltAnswer>,
    /// When the newest commits of the source branch (newest first) reached it: what the bakes
    /// count from, for the agents to count from too (absent from hubs before them).
    pub arrivals: Vec<Arrival>,
}

impl Progress {
    /// The commits clusters failed on, with the waves they are held back from.
    pub fn halted(&self) -> &[Halted] {
        self.halt.as_ref().map_or(&[], |h| &h.commits)
    }
}

/// One wave.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WaveProgress {
    pub name: String,
    /// The clusters of the wave that report the placement.
    pub clusters: usize,
    /// The commit the wave may run now (`None`: none has reached it yet).
    pub target: Option<String>,
    /// When the head reaches the wave (RFC 3339), while it has not.
    pub head_reaches_it_at: Option<String>,
    pub on_target: usize,
    pub on_head: usize,
    /// Failed or degraded there.
    pub failed: usize,
    /// Neither on the wave's commit nor failed: applying, waiting for a window, or behind.
    pub waiting: usize,
    /// The wave's commit, when the halt holds it back from this wave (its clusters keep what
    /// they run).
    pub halted: Option<String>,
}

/// When the newest commits of a repository's branch reached it
/// (`GET /api/v1/arrivals/{repository}`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BranchArrivals {
    pub repository: String,
    pub branch: String,
    pub arrivals: Vec<Arrival>,
}

/// What one group of clusters would go through for one placement.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Change {
    /// It runs the placement now and would render something else.
    Changed,
    /// It would get the placement, which it does not run now (or it never reported).
    Added,
    /// It runs the placement now and would no longer be selected.
    Removed,
    /// The placement would not render for it (the error says why).
    Failed,
}

/// What moving a repository's environment branch to a ref would do (`GET /api/v1/preview`):
/// the counts and the groups, largest first.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Preview {
    pub environment: String,
    pub repository: String,
    #[serde(rename = "ref")]
    pub reference: String,
    /// What `ref` names.
    pub commit: String,
    /// Broken fleet documents at the commit, when the fleet repository moves.
    pub warnings: Vec<String>,
    /// The clusters of the environment the hub knows.
    pub clusters: usize,
    /// Those for which at least one placement would change, be added or be removed.
    pub would_change: usize,
    /// Those for which at least one placement would fail to render.
    pub would_fail: usize,
    /// Those that would run what they run now.
    pub unchanged: usize,
    pub groups: Vec<Group>,
}

/// The clusters for which one placement would go the same way.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Group {
    pub placement: String,
    pub change: Change,
    /// The digest they would run (none for `removed` and `failed`); the first one's when they
    /// would run several.
    pub digest: Option<String>,
    /// How many digests they would run between them: more than one when their digests differ
    /// only by their own substituted values.
    #[serde(default = "one")]
    pub digests: usize,
    /// The source commit they would render from.
    pub source_commit: Option<String>,
    /// Why it would not render (`failed`).
    pub error: Option<String>,
    pub clusters: usize,
    /// The first `preview::NAMES` of them, by name.
    pub names: Vec<String>,
    /// What would change on the first of them; for the `preview::DIFFS` largest groups, not
    /// `failed`.
    pub diff: Option<Diff>,
}

fn one() -> usize {
    1
}

/// What would change on one cluster for one placement, object by object.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Diff {
    pub cluster: String,
    /// The source commit rendered for what it runs now (the one its report names, applied or
    /// else desired, when the hub's cache has it; else the branch head); `None` when nothing
    /// runs.
    pub from_commit: Option<String>,
    /// The source commit rendered for what it would run; `None` when removed.
    pub to_commit: Option<String>,
    /// The objects added, removed or changed, in the order they would be applied (removed
    /// ones last).
    pub objects: Vec<ObjectDiff>,
    /// How many objects stay as they are.
    pub unchanged: usize,
    /// Why one side could not be rendered (then `objects` is empty).
    pub error: Option<String>,
}

/// One object's change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ObjectDiff {
    pub api_version: String,
    pub kind: String,
    pub namespace: Option<String>,
    pub name: String,
    /// `changed`, `added` or `removed`.
    pub change: Change,
    /// For a changed object, its YAML as a unified diff: `@@` hunk headers and lines starting
    /// with ` `, `-` or `+`, at most `preview::MAX_LINES`.
    pub lines: Vec<String>,
    /// Whether lines were left out past `preview::MAX_LINES`.
    pub clipped: bool,
}
