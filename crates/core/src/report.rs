//! The report an agent sends the hub (`POST /api/v1/reports`), version 1: the one wire format
//! between them, defined once here so that both read and write the same bytes (SPEC §5).
//!
//! JSON in camelCase. Unknown fields are refused, so a typo or a field of a later version is an
//! error naming the field rather than evidence silently dropped. Absent values and empty lists
//! are left out, and a placement's applied commit and digest are written only when they differ
//! from the desired ones, so that a healthy store's report stays under 1 KiB.
//! [`Report::validate`] checks what the types cannot (names, commits, digests, the time, limits),
//! so that the hub can refuse a bad report with a 4xx naming the field.
//!
//! Not the transport (HTTP, tokens, the spool: the agent and the hub own those) and not the
//! agent's model: the agent converts into these types by hand, so the wire changes only on
//! purpose. Not a clock either: the caller gives the time.

use std::collections::BTreeMap;

use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value;

use crate::digest::Digest;
use crate::health::Health;
use crate::name::{CommitId, DnsLabel, DnsSubdomain};

/// The only version of the report so far.
pub const VERSION: u32 = 1;

/// The most objects one placement may report: only drifted, failed or unhealthy ones are listed,
/// so more than this means the report is not the place to look (the digest names the full list).
pub const MAX_OBJECTS: usize = 1_000;

/// The most violations one policy may report, for the same reason.
pub const MAX_VIOLATIONS: usize = 1_000;

/// The longest message, in bytes; [`clip`] shortens one to fit.
pub const MAX_MESSAGE_BYTES: usize = 4_096;

/// What one cluster's agent says about it at one moment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Report {
    /// Always [`VERSION`].
    pub version: u32,
    /// The cluster's name, which its token must belong to.
    pub cluster: String,
    pub agent_version: String,
    /// Increases with every report of the cluster, from 1, so the hub can refuse replayed and
    /// out-of-order ones.
    pub sequence: u64,
    /// When the report was made, as RFC 3339 in UTC: `2025-11-25T03:32:07Z`, optionally with a
    /// fraction of a second.
    pub time: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub placements: Vec<PlacementReport>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub policies: Vec<PolicyReport>,
    /// The fleet commit the cluster runs, when the fleet repository verifies, rolls out or
    /// freezes its own commits (absent otherwise: the fleet branch's newest commit).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fleet: Option<FleetReport>,
    /// The commits the cluster runs through a freeze, by a signed override: reported while
    /// they run, so that the hub's evidence log has each (once per cluster and commit).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub overrides: Vec<Override>,
    /// The cluster's Kubernetes version and API versions, as a chart's `.Capabilities` reads
    /// them: sent until a report carrying them reached the hub, and again when they change
    /// (absent otherwise: the hub keeps the last ones it got).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kubernetes: Option<Kubernetes>,
}

/// What a cluster's API server is, as Helm's `.Capabilities` reads it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Kubernetes {
    /// The API server's version (`gitVersion` of `/version`): `v1.31.2`.
    pub version: String,
    /// The group versions it serves and, as Helm lists them, each with its kinds
    /// (`apps/v1`, `apps/v1/Deployment`), sorted, each once.
    pub api_versions: Vec<String>,
}

/// How many API versions a report's `kubernetes.apiVersions` lists at most.
pub const MAX_API_VERSIONS: usize = 10_000;

/// Which fleet commit a cluster runs, and why it is not the branch's newest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct FleetReport {
    /// The fleet commit in use (40 or 64 hex digits).
    pub commit: String,
    /// The fleet branch's newest commit, when the cluster does not run it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub head: Option<String>,
    /// `Synced` on the commit it should run; `WaitingForWave`, `WaitingForWindow` (a window or
    /// a freeze), `VerificationFailed` (the newest commit is not signed by the trust root) or
    /// `SourceUnreachable` otherwise.
    pub state: SyncState,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// Who signed the fleet commit in use, when `fleet.verify` checked it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signer: Option<String>,
}

/// A commit that passed a freeze: its `Flotilla-Override:` trailer, signed by an override signer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Override {
    /// `fleet`, or the placement whose source commit it is.
    pub target: String,
    pub commit: String,
    pub signer: String,
    pub reason: String,
}

/// Where a placement stands on this cluster.
///
/// On the wire `appliedCommit` and `appliedDigest` are left out when they equal `sourceCommit`
/// and `desiredDigest`, as they do whenever the placement is synced, and are `null` when nothing
/// is applied while something is desired: the pair of hashes is most of a placement's bytes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(from = "PlacementWire", into = "PlacementWire")]
pub struct PlacementReport {
    pub name: String,
    pub state: SyncState,
    /// The commit the agent last fetched for the placement (40 or 64 hex digits).
    pub source_commit: Option<String>,
    /// The digest of what that commit renders to for this cluster.
    pub desired_digest: Option<String>,
    /// The commit the cluster runs: the last one applied in full.
    pub applied_commit: Option<String>,
    pub applied_digest: Option<String>,
    /// Who signed the source commit, when it was verified.
    pub signer: Option<String>,
    /// The worst health of the placement's objects.
    pub health: Health,
    /// Why the state is what it is, when it is not Synced.
    pub message: Option<String>,
    /// The objects that are drifted, failed or unhealthy; the others are not listed.
    pub objects: Vec<ObjectReport>,
    /// The container images the applied commit runs (see [`images`]), when the cluster holds
    /// what it renders to in full; sorted, each once. What runs where, at a glance.
    pub images: Vec<String>,
}

/// How many images a placement's report lists at most.
pub const MAX_IMAGES: usize = 64;

/// The container images `objects` run: those of every container, init container and ephemeral
/// container of a Pod and of the pod templates of workloads (Deployment, StatefulSet,
/// DaemonSet, ReplicaSet, Job, CronJob and any kind with `spec.template.spec.containers`),
/// sorted and each once, at most [`MAX_IMAGES`].
pub fn images(objects: &[Value]) -> Vec<String> {
    const PODS: [&str; 3] = ["/spec", "/spec/template/spec", "/spec/jobTemplate/spec/template/spec"];
    let mut found = std::collections::BTreeSet::new();
    for object in objects {
        for at in PODS {
            let Some(pod) = object.pointer(at) else { continue };
            for list in ["containers", "initContainers", "ephemeralContainers"] {
                let containers = pod.get(list).and_then(Value::as_array).map_or(&[][..], Vec::as_slice);
                for c in containers {
                    if let Some(image) = c.get("image").and_then(Value::as_str).filter(|i| !i.is_empty()) {
                        found.insert(clip_to(image, MAX_IMAGE_BYTES));
                    }
                }
            }
        }
    }
    found.into_iter().take(MAX_IMAGES).collect()
}

/// The longest image reference a report carries (a longer one is cut).
const MAX_IMAGE_BYTES: usize = 512;

/// The sync state of a placement.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum SyncState {
    /// The cluster runs the desired commit and holds what it renders to.
    Synced,
    /// Applied; waiting for objects to become healthy.
    Progressing,
    /// Applied, but objects are unhealthy.
    Degraded,
    /// The desired commit could not be rendered or applied; the cluster keeps its last good state.
    Failed,
    /// The placement is paused.
    Paused,
    /// Outside the placement's sync window.
    WaitingForWindow,
    /// An earlier wave of the rollout has not finished.
    WaitingForWave,
    /// The fleet or source repository could not be fetched.
    SourceUnreachable,
    /// The commit's signature did not verify.
    VerificationFailed,
    /// The commit renders objects outside the placement's scope (or the agent's own records):
    /// nothing of it is applied, the cluster keeps its last good state.
    Refused,
    /// Another placement already owns an object this one renders: nothing of it is applied.
    Conflict,
}

/// One object of a placement that needs attention.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ObjectReport {
    pub api_version: String,
    pub kind: String,
    /// `None` for cluster-scoped objects.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    pub name: String,
    pub problem: ObjectProblem,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// The drifted fields, as [`crate::drift::Difference`] paths.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub fields: Vec<String>,
}

/// What is wrong with an object.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum ObjectProblem {
    /// The live object no longer holds what was applied.
    Drifted,
    /// Applying or deleting it failed.
    Failed,
    /// Applied, but its health is not Healthy.
    Unhealthy,
    /// Outside the placement's scope, or owned by another placement: not applied.
    Refused,
    /// Deleted by this sync's prune (listed once, in the report of the sync that pruned it).
    Pruned,
}

/// A policy's result on this cluster.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PolicyReport {
    pub name: String,
    /// `None` when it could not be evaluated (Unknown).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub compliant: Option<bool>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub violations: Vec<Violation>,
    /// What the agent did about the violations, one sentence each.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub remediation: Vec<String>,
}

/// One way an object breaks a policy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Violation {
    /// The object, as `Kind/namespace/name` or `Kind/name`.
    pub object: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    /// `Some(null)` is a policy that wants the field to be null, kept apart from no expectation.
    #[serde(default, skip_serializing_if = "Option::is_none", deserialize_with = "present")]
    pub expected: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none", deserialize_with = "present")]
    pub actual: Option<Value>,
    pub message: String,
}

/// A report the hub must refuse, naming the field as `placements[2].name`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReportError {
    /// Not a version-1 report: not JSON, a wrong type, a missing or unknown field.
    #[error("{field}: {message}")]
    Malformed { field: String, message: String },
    /// Well-formed, with a value that breaks a rule of [`Report::validate`].
    #[error("{field}: {problem}")]
    Invalid { field: String, problem: String },
}

impl ReportError {
    /// The offending field, as `placements[2].objects[0].name` (`report` for the whole).
    pub fn field(&self) -> &str {
        match self {
            ReportError::Malformed { field, .. } | ReportError::Invalid { field, .. } => field,
        }
    }
}

impl Report {
    /// Reads and validates a report.
    pub fn from_json(bytes: &[u8]) -> Result<Report, ReportError> {
        // The plain parse first: tracking the path costs a hub a tenth of its time per report,
        // and only a malformed report needs it, to name the field.
        if let Ok(report) = serde_json::from_slice::<Report>(bytes) {
            report.validate()?;
            return Ok(report);
        }
        let mut deserializer = serde_json::Deserializer::from_slice(bytes);
        let report: Report = serde_path_to_error::deserialize(&mut deserializer)
            .map_err(|e| malformed(&e.path().to_string(), e.inner()))?;
        // Trailing bytes after the report are as wrong as a bad field.
        deserializer.end().map_err(|e| malformed(".", &e))?;
        report.validate()?;
        Ok(report)
    }

    /// The report as compact JSON.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("a report has string keys only, so it always serializes")
    }

    /// Checks the rules the types cannot express; the first broken one is the error.
    pub fn validate(&self) -> Result<(), ReportError> {
        let invalid = |field: &str, problem: String| ReportError::Invalid { field: field.to_string(), problem };
        if self.version != VERSION {
            return Err(invalid("version", format!("must be {VERSION}, not {}", self.version)));
        }
        check("cluster", &self.cluster, dns_subdomain)?;
        check("agentVersion", &self.agent_version, |v| {
            (v.len() <= 64 && v.bytes().all(|b| b.is_ascii_graphic()))
                .then_some(())
                .ok_or("must be at most 64 printable ASCII characters without spaces")
        })?;
        if self.sequence == 0 {
            return Err(invalid("sequence", "must be at least 1".to_string()));
        }
        check("time", &self.time, rfc3339_utc)?;
        let mut seen = BTreeMap::new();
        for (i, placement) in self.placements.iter().enumerate() {
            let at = format!("placements[{i}]");
            placement.validate(&at)?;
            if let Some(first) = seen.insert(placement.name.as_str(), i) {
                return Err(invalid(&format!("{at}.name"), format!("duplicate of placements[{first}].name")));
            }
        }
        let mut seen = BTreeMap::new();
        for (i, policy) in self.policies.iter().enumerate() {
            let at = format!("policies[{i}]");
            policy.validate(&at)?;
            if let Some(first) = seen.insert(policy.name.as_str(), i) {
                return Err(invalid(&format!("{at}.name"), format!("duplicate of policies[{first}].name")));
            }
        }
        if let Some(fleet) = &self.fleet {
            check("fleet.commit", &fleet.commit, commit_id)?;
            check_some("fleet.head", fleet.head.as_deref(), commit_id)?;
            check_some("fleet.message", fleet.message.as_deref(), message)?;
            check_some("fleet.signer", fleet.signer.as_deref(), |s| line(s, 256))?;
        }
        if self.overrides.len() > MAX_OBJECTS {
            return Err(invalid("overrides", format!("{} overrides, more than {MAX_OBJECTS}", self.overrides.len())));
        }
        for (i, o) in self.overrides.iter().enumerate() {
            check(format_args!("overrides[{i}].target"), &o.target, dns_subdomain)?;
            check(format_args!("overrides[{i}].commit"), &o.commit, commit_id)?;
            check(format_args!("overrides[{i}].signer"), &o.signer, |s| line(s, 256))?;
            check(format_args!("overrides[{i}].reason"), &o.reason, message)?;
        }
        if let Some(kubernetes) = &self.kubernetes {
            kubernetes.validate()?;
        }
        Ok(())
    }
}

impl Kubernetes {
    fn validate(&self) -> Result<(), ReportError> {
        check("kubernetes.version", &self.version, |v| {
            let numbers: Vec<&str> =
                v.strip_prefix('v').unwrap_or(v).split(['-', '+']).next().unwrap_or("").split('.').collect();
            let numeric = (2..=3).contains(&numbers.len())
                && numbers.iter().all(|n| !n.is_empty() && n.len() <= 9 && n.bytes().all(|b| b.is_ascii_digit()));
            (numeric && v.len() <= 64 && v.bytes().all(|b| b.is_ascii_alphanumeric() || b"-+._".contains(&b)))
                .then_some(())
                .ok_or("must be a Kubernetes version such as v1.31.2 (at most 64 characters)")
        })?;
        if self.api_versions.len() > MAX_API_VERSIONS {
            return Err(ReportError::Invalid {
                field: "kubernetes.apiVersions".into(),
                problem: format!("{} API versions, more than {MAX_API_VERSIONS}", self.api_versions.len()),
            });
        }
        for (i, v) in self.api_versions.iter().enumerate() {
            check(format_args!("kubernetes.apiVersions[{i}]"), v, |v| {
                let parts = v.split('/').count();
                (!v.is_empty()
                    && v.len() <= 512
                    && parts <= 3
                    && v.split('/').all(|p| !p.is_empty())
                    && v.bytes().all(|b| b.is_ascii_alphanumeric() || b"-._/".contains(&b)))
                .then_some(())
                .ok_or("must be GROUP/VERSION, VERSION or either with /KIND")
            })?;
            if i > 0 && self.api_versions[i - 1] >= *v {
                return Err(ReportError::Invalid {
                    field: format!("kubernetes.apiVersions[{i}]"),
                    problem: "the list must be sorted, each once".into(),
                });
            }
        }
        Ok(())
    }

    /// A digest of what these capabilities are: what a render key carries of them.
    pub fn digest(&self) -> Digest {
        Digest::of_objects(&[serde_json::json!({"kubeVersion": self.version, "apiVersions": self.api_versions})])
    }
}

impl PlacementReport {
    fn validate(&self, at: &str) -> Result<(), ReportError> {
        check(format_args!("{at}.name"), &self.name, dns_subdomain)?;
        for (field, commit) in [("sourceCommit", &self.source_commit), ("appliedCommit", &self.applied_commit)] {
            check_some(format_args!("{at}.{field}"), commit.as_deref(), commit_id)?;
        }
        for (field, digest) in [("desiredDigest", &self.desired_digest), ("appliedDigest", &self.applied_digest)] {
            check_some(format_args!("{at}.{field}"), digest.as_deref(), |d| {
                Digest::parse(d).map(drop).map_err(|_| "must be sha256: and 64 lower-case hex digits")
            })?;
        }
        check_some(format_args!("{at}.signer"), self.signer.as_deref(), |s| line(s, 256))?;
        check_some(format_args!("{at}.message"), self.message.as_deref(), message)?;
        if self.objects.len() > MAX_OBJECTS {
            return Err(ReportError::Invalid {
                field: format!("{at}.objects"),
                problem: format!("{} objects, more than {MAX_OBJECTS}", self.objects.len()),
            });
        }
        for (i, object) in self.objects.iter().enumerate() {
            object.validate(&format!("{at}.objects[{i}]"))?;
        }
        if self.images.len() > MAX_IMAGES {
            return Err(ReportError::Invalid {
                field: format!("{at}.images"),
                problem: format!("{} images, more than {MAX_IMAGES}", self.images.len()),
            });
        }
        for (i, image) in self.images.iter().enumerate() {
            check(format_args!("{at}.images[{i}]"), image, |t| line(t, MAX_IMAGE_BYTES))?;
        }
        Ok(())
    }
}

impl ObjectReport {
    fn validate(&self, at: &str) -> Result<(), ReportError> {
        check(format_args!("{at}.apiVersion"), &self.api_version, api_version)?;
        check(format_args!("{at}.kind"), &self.kind, |k| {
            (k.len() <= 63
                && k.starts_with(|c: char| c.is_ascii_alphabetic())
                && k.bytes().all(|b| b.is_ascii_alphanumeric()))
            .then_some(())
            .ok_or("must be letters and digits, starting with a letter")
        })?;
        check_some(format_args!("{at}.namespace"), self.namespace.as_deref(), dns_label)?;
        check(format_args!("{at}.name"), &self.name, object_name)?;
        check_some(format_args!("{at}.message"), self.message.as_deref(), message)?;
        for (i, field) in self.fields.iter().enumerate() {
            check(format_args!("{at}.fields[{i}]"), field, |f| line(f, 1_024))?;
        }
        Ok(())
    }
}

impl PolicyReport {
    fn validate(&self, at: &str) -> Result<(), ReportError> {
        check(format_args!("{at}.name"), &self.name, dns_subdomain)?;
        if self.compliant == Some(true) && !self.violations.is_empty() {
            return Err(ReportError::Invalid {
                field: format!("{at}.violations"),
                problem: "a compliant policy has no violations".to_string(),
            });
        }
        if self.violations.len() > MAX_VIOLATIONS {
            return Err(ReportError::Invalid {
                field: format!("{at}.violations"),
                problem: format!("{} violations, more than {MAX_VIOLATIONS}", self.violations.len()),
            });
        }
        for (i, v) in self.violations.iter().enumerate() {
            let at = format!("{at}.violations[{i}]");
            check(format_args!("{at}.object"), &v.object, |o| line(o, 1_024))?;
            check_some(format_args!("{at}.field"), v.field.as_deref(), |f| line(f, 1_024))?;
            check(format_args!("{at}.message"), &v.message, message)?;
        }
        for (i, step) in self.remediation.iter().enumerate() {
            check(format_args!("{at}.remediation[{i}]"), step, message)?;
        }
        Ok(())
    }
}

/// Shortens a message to [`MAX_MESSAGE_BYTES`], ending it with `…` when cut, so that a long
/// error from the cluster does not make the whole report invalid.
pub fn clip(message: &str) -> String {
    clip_to(message, MAX_MESSAGE_BYTES)
}

/// `text` in at most `max` bytes, ending with `…` when cut (at a character boundary).
pub(crate) fn clip_to(text: &str, max: usize) -> String {
    if text.len() <= max {
        return text.to_string();
    }
    let mut end = max - '…'.len_utf8();
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &text[..end])
}

/// The wire form of a placement: see [`PlacementReport`] for the applied pair.
#[expect(clippy::option_option, reason = "absent, null and a value are three different things on the wire")]
#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct PlacementWire {
    name: String,
    state: SyncState,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    source_commit: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    desired_digest: Option<String>,
    /// Absent: the same as `sourceCommit`; null: none.
    #[serde(default, skip_serializing_if = "Option::is_none", deserialize_with = "present")]
    applied_commit: Option<Option<String>>,
    /// Absent: the same as `desiredDigest`; null: none.
    #[serde(default, skip_serializing_if = "Option::is_none", deserialize_with = "present")]
    applied_digest: Option<Option<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    signer: Option<String>,
    health: Health,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    message: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    objects: Vec<ObjectReport>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    images: Vec<String>,
}

impl From<PlacementWire> for PlacementReport {
    fn from(w: PlacementWire) -> PlacementReport {
        PlacementReport {
            applied_commit: w.applied_commit.unwrap_or_else(|| w.source_commit.clone()),
            applied_digest: w.applied_digest.unwrap_or_else(|| w.desired_digest.clone()),
            name: w.name,
            state: w.state,
            source_commit: w.source_commit,
            desired_digest: w.desired_digest,
            signer: w.signer,
            health: w.health,
            message: w.message,
            objects: w.objects,
            images: w.images,
        }
    }
}

impl From<PlacementReport> for PlacementWire {
    fn from(p: PlacementReport) -> PlacementWire {
        let unless_same = |applied: Option<String>, desired: &Option<String>| (applied != *desired).then_some(applied);
        PlacementWire {
            applied_commit: unless_same(p.applied_commit, &p.source_commit),
            applied_digest: unless_same(p.applied_digest, &p.desired_digest),
            name: p.name,
            state: p.state,
            source_commit: p.source_commit,
            desired_digest: p.desired_digest,
            signer: p.signer,
            health: p.health,
            message: p.message,
            objects: p.objects,
            images: p.images,
        }
    }
}

fn malformed(path: &str, error: &serde_json::Error) -> ReportError {
    let field = if path == "." { "report" } else { path };
    ReportError::Malformed { field: field.to_string(), message: error.to_string() }
}

/// Deserializes a field that is present, even as `null`, into `Some`; with `#[serde(default)]`
/// an absent one stays `None`. Plain `Option` would read `null` as absent.
fn present<'de, D: Deserializer<'de>, T: Deserialize<'de>>(deserializer: D) -> Result<Option<T>, D::Error> {
    T::deserialize(deserializer).map(Some)
}

/// `field` is formatted only when the check fails: a report's validation runs for every report
/// the hub takes.
fn check(
    field: impl std::fmt::Display,
    value: &str,
    rule: impl Fn(&str) -> Result<(), &'static str>,
) -> Result<(), ReportError> {
    if value.is_empty() {
        return Err(ReportError::Invalid { field: field.to_string(), problem: "empty".to_string() });
    }
    rule(value).map_err(|why| ReportError::Invalid { field: field.to_string(), problem: format!("{value:?} {why}") })
}

fn check_some(
    field: impl std::fmt::Display,
    value: Option<&str>,
    rule: impl Fn(&str) -> Result<(), &'static str>,
) -> Result<(), ReportError> {
    value.map_or(Ok(()), |v| check(field, v, rule))
}

/// A DNS-1123 subdomain, as Kubernetes object names and Flotilla's cluster, placement and
/// policy names are.
fn dns_subdomain(name: &str) -> Result<(), &'static str> {
    DnsSubdomain::check(name).map_err(|e| e.expected)
}

/// A DNS-1123 label, as namespace names are.
fn dns_label(name: &str) -> Result<(), &'static str> {
    DnsLabel::check(name).map_err(|e| e.expected)
}

/// An object name: most kinds want a DNS-1123 subdomain, but some (RBAC roles such as
/// `system:controller:…`) only a path segment, so only what no kind allows is refused.
fn object_name(name: &str) -> Result<(), &'static str> {
    let ok = name.len() <= 253
        && name != "."
        && name != ".."
        && !name.contains(['/', '%'])
        && !name.chars().any(char::is_control);
    ok.then_some(()).ok_or("is not an object name (at most 253 characters, no '/' or '%')")
}

/// `version` or `group/version`.
fn api_version(text: &str) -> Result<(), &'static str> {
    let (group, version) = text.rsplit_once('/').unwrap_or(("", text));
    let ok = (group.is_empty() && !text.contains('/') || dns_subdomain(group).is_ok()) && dns_label(version).is_ok();
    ok.then_some(()).ok_or("is not an apiVersion (version or group/version)")
}

/// A git object id: SHA-1 (40) or SHA-256 (64) lower-case hex digits.
fn commit_id(commit: &str) -> Result<(), &'static str> {
    CommitId::check(commit).map_err(|e| e.expected)
}

/// One line of text of at most `max` bytes.
fn line(text: &str, max: usize) -> Result<(), &'static str> {
    (text.len() <= max && !text.chars().any(char::is_control))
        .then_some(())
        .ok_or("is too long or has control characters")
}

fn message(text: &str) -> Result<(), &'static str> {
    (text.len() <= MAX_MESSAGE_BYTES).then_some(()).ok_or("is longer than 4096 bytes")
}

/// `YYYY-MM-DDTHH:MM:SS[.fraction]Z` with real dates: RFC 3339 in UTC, as the agent writes it.
fn rfc3339_utc(time: &str) -> Result<(), &'static str> {
    const WRONG: &str = "is not an RFC 3339 UTC time (YYYY-MM-DDTHH:MM:SS[.fff]Z)";
    let b = time.as_bytes();
    let number = |range: std::ops::Range<usize>| -> Option<u32> {
        let digits = b.get(range)?;
        digits.iter().all(u8::is_ascii_digit).then(|| digits.iter().fold(0, |n, d| n * 10 + u32::from(d - b'0')))
    };
    let separators = [(4, b'-'), (7, b'-'), (10, b'T'), (13, b':'), (16, b':')];
    if b.len() < 20 || separators.iter().any(|&(i, c)| b[i] != c) || b.last() != Some(&b'Z') {
        return Err(WRONG);
    }
    let fraction = &b[19..b.len() - 1];
    if !fraction.is_empty()
        && (fraction[0] != b'.'
            || fraction.len() < 2
            || fraction.len() > 10
            || !fraction[1..].iter().all(u8::is_ascii_digit))
    {
        return Err(WRONG);
    }
    let (Some(year), Some(month), Some(day), Some(hour), Some(minute), Some(second)) =
        (number(0..4), number(5..7), number(8..10), number(11..13), number(14..16), number(17..19))
    else {
        return Err(WRONG);
    };
    let days = crate::calendar::days_in_month(year.into(), month.into()).ok_or(WRONG)?;
    if day == 0 || i64::from(day) > days || hour > 23 || minute > 59 || second > 59 {
        return Err(WRONG);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    const COMMIT_A: &str = "3f2a9c41d0b7e6a58c1f4e2d9b0a7c6e5d4f3a21";
    const COMMIT_B: &str = "9e8d7c6b5a4f3e2d1c0b9a8f7e6d5c4b3a2f1e0d";
    const DIGEST_A: &str = "sha256:5d41402abc4b2a76b9719d911017c592ae4f7e3b8c6d5e4f3a2b1c0d9e8f7a6b";
    const DIGEST_B: &str = "sha256:0a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f9";

    fn synced(name: &str) -> PlacementReport {
        PlacementReport {
            name: name.to_string(),
            state: SyncState::Synced,
            source_commit: Some(COMMIT_A.to_string()),
            desired_digest: Some(DIGEST_A.to_string()),
            applied_commit: Some(COMMIT_A.to_string()),
            applied_digest: Some(DIGEST_A.to_string()),
            signer: Some("release-bot@retail.example".to_string()),
            health: Health::Healthy,
            message: None,
            objects: vec![],
            images: vec![],
        }
    }

    fn compliant(name: &str) -> PolicyReport {
        PolicyReport { name: name.to_string(), compliant: Some(true), violations: vec![], remediation: vec![] }
    }

    /// A typical healthy store: three placements synced, two policies compliant.
    fn healthy_store() -> Report {
        Report {
            version: VERSION,
            cluster: "store-0042".to_string(),
            agent_version: "0.1.0".to_string(),
            sequence: 48_213,
            time: "2025-11-25T03:32:07.123Z".to_string(),
            placements: vec![synced("point-of-sale"), synced("inventory"), synced("monitoring")],
            policies: vec![compliant("no-privileged-containers"), compliant("resource-limits-required")],
            fleet: None,
            overrides: vec![],
            kubernetes: None,
        }
    }

    /// A report with everything filled in, including the rarer wire forms of the applied pair.
    fn troubled_store() -> Report {
        let mut failing = synced("point-of-sale");
        failing.state = SyncState::Failed;
        failing.source_commit = Some(COMMIT_B.to_string());
        failing.desired_digest = Some(DIGEST_B.to_string());
        failing.health = Health::Degraded;
        failing.message = Some("apply failed for 1 object".to_string());
        failing.objects = vec![
            ObjectReport {
                api_version: "apps/v1".to_string(),
                kind: "Deployment".to_string(),
                namespace: Some("pos".to_string()),
                name: "web".to_string(),
                problem: ObjectProblem::Drifted,
                message: None,
                fields: vec!["spec.replicas".to_string(), "spec.template.spec.containers[name=web].image".to_string()],
            },
            ObjectReport {
                api_version: "rbac.authorization.k8s.io/v1".to_string(),
                kind: "ClusterRole".to_string(),
                namespace: None,
                name: "system:flotilla:reader".to_string(),
                problem: ObjectProblem::Failed,
                message: Some("forbidden".to_string()),
                fields: vec![],
            },
        ];
        let mut first = synced("inventory");
        first.state = SyncState::VerificationFailed;
        first.applied_commit = None;
        first.applied_digest = None;
        first.signer = None;
        let mut unreachable = synced("monitoring");
        unreachable.state = SyncState::SourceUnreachable;
        unreachable.source_commit = None;
        unreachable.desired_digest = None;
        Report {
            placements: vec![failing, first, unreachable],
            policies: vec![
                PolicyReport {
                    name: "resource-limits-required".to_string(),
                    compliant: Some(false),
                    violations: vec![Violation {
                        object: "Deployment/pos/web".to_string(),
                        field: Some("spec.template.spec.containers[name=web].resources.limits".to_string()),
                        expected: Some(Value::Null),
                        actual: Some(json!({"cpu": "2"})),
                        message: "limits must be set".to_string(),
                    }],
                    remediation: vec!["reported only: remediation is off".to_string()],
                },
                PolicyReport {
                    name: "no-latest-tag".to_string(),
                    compliant: None,
                    violations: vec![],
                    remediation: vec![],
                },
            ],
            fleet: Some(FleetReport {
                commit: COMMIT_A.to_string(),
                head: Some(COMMIT_B.to_string()),
                state: SyncState::WaitingForWave,
                message: Some("wave everyone (2 of 2): reaches it at 2025-11-25T05:00:00Z".to_string()),
                signer: Some("platform@retail.example".to_string()),
            }),
            overrides: vec![Override {
                target: "point-of-sale".to_string(),
                commit: COMMIT_B.to_string(),
                signer: "oncall@retail.example".to_string(),
                reason: "INC-4711 card readers down".to_string(),
            }],
            ..healthy_store()
        }
    }

    #[test]
    fn a_report_round_trips() {
        for report in [healthy_store(), troubled_store()] {
            assert_eq!(report.validate(), Ok(()));
            let json = report.to_json();
            assert_eq!(Report::from_json(json.as_bytes()), Ok(report), "{json}");
        }
    }

    #[test]
    fn the_applied_pair_is_written_only_when_it_differs() {
        let report = troubled_store();
        let json: Value = serde_json::from_str(&report.to_json()).unwrap();
        let placements = &json["placements"];
        // Failed: applied is the older commit.
        assert_eq!(placements[0]["appliedCommit"], COMMIT_A);
        assert_eq!(placements[0]["sourceCommit"], COMMIT_B);
        // Never applied: null, not absent.
        assert_eq!(placements[1].get("appliedCommit"), Some(&Value::Null));
        assert_eq!(placements[1].get("appliedDigest"), Some(&Value::Null));
        // Nothing desired, something applied.
        assert_eq!(placements[2]["appliedDigest"], DIGEST_A);
        assert_eq!(placements[2].get("sourceCommit"), None);
        // Synced: once.
        let healthy: Value = serde_json::from_str(&healthy_store().to_json()).unwrap();
        assert_eq!(healthy["placements"][0].get("appliedCommit"), None);
        assert_eq!(healthy["placements"][0].get("appliedDigest"), None);
        // Unknown compliance and empty lists are left out; a null expectation is kept.
        assert_eq!(json["policies"][1], json!({"name": "no-latest-tag"}));
        assert_eq!(json["policies"][0]["violations"][0].get("expected"), Some(&Value::Null));
    }

    #[test]
    fn a_healthy_store_report_is_under_one_kib() {
        let json = healthy_store().to_json();
        assert!(json.len() < 1024, "{} bytes: {json}", json.len());
    }

    #[test]
    fn an_unknown_field_is_refused_by_name() {
        let mut json: Value = serde_json::from_str(&healthy_store().to_json()).unwrap();
        json["placements"][1]["colour"] = json!("red");
        let err = Report::from_json(json.to_string().as_bytes()).unwrap_err();
        assert!(matches!(err, ReportError::Malformed { .. }), "{err}");
        assert_eq!(err.field(), "placements[1].colour", "{err}");
        assert!(err.to_string().contains("unknown field `colour`"), "{err}");

        let mut json: Value = serde_json::from_str(&healthy_store().to_json()).unwrap();
        json["hostname"] = json!("x");
        let err = Report::from_json(json.to_string().as_bytes()).unwrap_err();
        assert_eq!(err.field(), "hostname", "{err}");
        assert!(err.to_string().contains("unknown field `hostname`"), "{err}");
    }

    #[test]
    fn malformed_reports_name_the_field() {
        let mut json: Value = serde_json::from_str(&healthy_store().to_json()).unwrap();
        json["placements"][2]["state"] = json!("Happy");
        let err = Report::from_json(json.to_string().as_bytes()).unwrap_err();
        assert_eq!(err.field(), "placements[2].state", "{err}");
        assert!(err.to_string().contains("unknown variant `Happy`"), "{err}");

        let mut json: Value = serde_json::from_str(&healthy_store().to_json()).unwrap();
        json.as_object_mut().unwrap().remove("sequence");
        let err = Report::from_json(json.to_string().as_bytes()).unwrap_err();
        assert!(err.to_string().contains("missing field `sequence`"), "{err}");

        let err = Report::from_json(b"{\"version\": 1} trailing").unwrap_err();
        assert_eq!(err.field(), "report", "{err}");
        let err = Report::from_json(b"[]").unwrap_err();
        assert_eq!(err.field(), "report", "{err}");
    }

    #[track_caller]
    fn refused(report: &Report, field: &str, problem: &str) {
        let err = report.validate().unwrap_err();
        assert_eq!(err.field(), field, "{err}");
        assert!(err.to_string().contains(problem), "{err} does not contain {problem:?}");
        assert!(matches!(err, ReportError::Invalid { .. }));
        // The hub sees the same error from the bytes.
        assert_eq!(Report::from_json(report.to_json().as_bytes()), Err(err));
    }

    #[test]
    fn invalid_reports_name_the_field() {
        let r = healthy_store;
        refused(&Report { version: 2, ..r() }, "version", "must be 1, not 2");
        refused(&Report { sequence: 0, ..r() }, "sequence", "at least 1");
        refused(&Report { cluster: "Store_42".into(), ..r() }, "cluster", "DNS-1123");
        // Each dot-separated part is a DNS label, as the agent's config and Kubernetes say.
        refused(&Report { cluster: "a..b".into(), ..r() }, "cluster", "DNS-1123 subdomain");
        refused(&Report { agent_version: "0.1 beta".into(), ..r() }, "agentVersion", "printable");
        refused(&Report { time: "2025-11-25 03:32:07Z".into(), ..r() }, "time", "RFC 3339");
        let kubernetes = |version: &str, api_versions: &[&str]| {
            Some(Kubernetes {
                version: version.into(),
                api_versions: api_versions.iter().map(ToString::to_string).collect(),
            })
        };
        refused(&Report { kubernetes: kubernetes("1", &[]), ..r() }, "kubernetes.version", "v1.31.2");
        refused(&Report { kubernetes: kubernetes("latest", &["v1"]), ..r() }, "kubernetes.version", "v1.31.2");
        refused(&Report { kubernetes: kubernetes("v1.31.2 ", &["v1"]), ..r() }, "kubernetes.version", "v1.31.2");
        refused(
            &Report { kubernetes: kubernetes("v1.31.2", &["v1", "apps/v1"]), ..r() },
            "kubernetes.apiVersions[1]",
            "sorted",
        );
        refused(
            &Report { kubernetes: kubernetes("v1.31.2", &["apps/v1", "apps/v1"]), ..r() },
            "kubernetes.apiVersions[1]",
            "each once",
        );
        refused(
            &Report { kubernetes: kubernetes("v1.31.2", &["apps//v1"]), ..r() },
            "kubernetes.apiVersions[0]",
            "GROUP/VERSION",
        );
        refused(
            &Report { kubernetes: kubernetes("v1.31.2", &["a/b/c/d"]), ..r() },
            "kubernetes.apiVersions[0]",
            "GROUP/VERSION",
        );
        let fine = Report {
            kubernetes: kubernetes("v1.31.2-eks-1a2b3c", &["apps/v1", "apps/v1/Deployment", "v1", "v1/Pod"]),
            ..r()
        };
        assert_eq!(fine.validate(), Ok(()));
        assert_eq!(Report::from_json(fine.to_json().as_bytes()), Ok(fine.clone()));
        assert!(
            fine.to_json().contains(r#""kubernetes":{"version":"v1.31.2-eks-1a2b3c","apiVersions":["#),
            "{}",
            fine.to_json()
        );

        let mut report = r();
        report.placements[2].name = String::new();
        refused(&report, "placements[2].name", "placements[2].name: empty");

        let mut report = r();
        report.placements[1].name = "point-of-sale".into();
        refused(&report, "placements[1].name", "duplicate of placements[0].name");

        let mut report = r();
        report.placements[0].source_commit = Some("3f2a9c4".into());
        refused(&report, "placements[0].sourceCommit", "commit id");

        let mut report = r();
        report.placements[0].applied_digest = Some("sha1:abc".into());
        refused(&report, "placements[0].appliedDigest", "sha256:");

        let mut report = r();
        report.placements[0].message = Some("x".repeat(MAX_MESSAGE_BYTES + 1));
        refused(&report, "placements[0].message", "longer than 4096 bytes");

        let mut report = troubled_store();
        report.placements[0].objects[0].namespace = Some("Pos".into());
        refused(&report, "placements[0].objects[0].namespace", "DNS-1123 label");

        let mut report = troubled_store();
        report.placements[0].objects[1].name = "a/b".into();
        refused(&report, "placements[0].objects[1].name", "not an object name");

        let mut report = troubled_store();
        report.placements[0].objects[1].api_version = "rbac.authorization.k8s.io/".into();
        refused(&report, "placements[0].objects[1].apiVersion", "not an apiVersion");

        let mut report = r();
        let object = troubled_store().placements[0].objects[0].clone();
        report.placements[2].objects = vec![object; MAX_OBJECTS + 1];
        refused(&report, "placements[2].objects", "1001 objects, more than 1000");

        let mut report = troubled_store();
        report.policies[0].compliant = Some(true);
        refused(&report, "policies[0].violations", "a compliant policy has no violations");

        let mut report = troubled_store();
        report.policies[0].violations[0].message = String::new();
        refused(&report, "policies[0].violations[0].message", "empty");

        let mut report = r();
        report.policies[1].name = "no-privileged-containers".into();
        refused(&report, "policies[1].name", "duplicate of policies[0].name");
    }

    #[test]
    fn times_are_rfc3339_in_utc_with_real_dates() {
        for ok in ["2025-11-25T03:32:07Z", "2024-02-29T23:59:59.5Z", "2025-01-01T00:00:00.123456789Z"] {
            assert_eq!(rfc3339_utc(ok), Ok(()), "{ok}");
        }
        for bad in [
            "2025-11-25T03:32:07",
            "2025-11-25T03:32:07+01:00",
            "2025-11-25t03:32:07Z",
            "2025-11-25T03:32:07.Z",
            "2025-11-25T03:32:07.1234567890Z",
            "2025-13-01T00:00:00Z",
            "2025-02-29T00:00:00Z",
            "2100-02-29T00:00:00Z",
            "2025-04-31T00:00:00Z",
            "2025-01-00T00:00:00Z",
            "2025-01-01T24:00:00Z",
            "2025-01-01T00:60:00Z",
            "2025-01-01T00:00:60Z",
            "2025-1-01T00:00:00Z",
            "+025-01-01T00:00:00Z",
        ] {
            assert!(rfc3339_utc(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn clip_keeps_messages_within_the_limit() {
        assert_eq!(clip("short"), "short");
        // Multi-byte characters are not cut in half.
        let long = "é".repeat(MAX_MESSAGE_BYTES);
        let clipped = clip(&long);
        assert!(clipped.len() <= MAX_MESSAGE_BYTES);
        assert!(clipped.ends_with('…'));
        assert_eq!(message(&clipped), Ok(()));
    }

    #[test]
    fn images_are_those_of_every_pod_and_pod_template_sorted_once() {
        let objects = vec![
            json!({"kind": "Deployment", "spec": {"template": {"spec": {
                "initContainers": [{"name": "init", "image": "busybox:1.36"}],
                "containers": [{"name": "app", "image": "registry.example/app:1.5.0"},
                               {"name": "sidecar", "image": "envoy:1.30"}]}}}}),
            json!({"kind": "CronJob", "spec": {"jobTemplate": {"spec": {"template": {"spec": {
                "containers": [{"name": "job", "image": "registry.example/app:1.5.0"}]}}}}}}),
            json!({"kind": "Pod", "spec": {"containers": [{"name": "p", "image": "pause:3.9"}],
                "ephemeralContainers": [{"name": "debug", "image": "debug:1"}]}}),
            json!({"kind": "ConfigMap", "data": {"image": "not-an-image"}}),
        ];
        assert_eq!(
            images(&objects),
            ["busybox:1.36", "debug:1", "envoy:1.30", "pause:3.9", "registry.example/app:1.5.0"]
        );
        assert!(images(&[json!({"kind": "Service", "spec": {"ports": []}})]).is_empty());
    }

    #[test]
    fn images_travel_in_the_report_and_are_bounded() {
        let mut placement = synced("web");
        placement.images = vec!["registry.example/app:1.5.0".to_string()];
        let wire = serde_json::to_value(&placement).unwrap();
        assert_eq!(wire["images"], json!(["registry.example/app:1.5.0"]));
        let back: PlacementReport = serde_json::from_value(wire).unwrap();
        assert_eq!(back, placement);
        // None: the field is left out.
        assert!(serde_json::to_value(synced("web")).unwrap().get("images").is_none());
        placement.images = (0..=MAX_IMAGES).map(|i| format!("img:{i}")).collect();
        let error = placement.validate("placements[0]").unwrap_err().to_string();
        assert!(error.contains("placements[0].images"), "{error}");
    }
}
