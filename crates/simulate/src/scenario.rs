//! A scenario file (`examples/scenarios/*.yaml`): the fleet to copy into git, the cluster
//! population, a timeline of events and the expectations that make the run a test.
//!
//! Read strictly, as the fleet and `agent.yaml` are: unknown fields are refused, and every error
//! names the file and the field (`timeline[2].promote.repositry`). Durations are Go's (`90s`,
//! `1h30m`, with a leading `-` where a negative one makes sense, for clock skew); shares are
//! percentages (`10%`). Not the simulation: [`crate::sim`] runs what this describes.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use flotilla_core::name::{self, DnsSubdomain, LabelKey};
use serde::Deserialize;
use serde_json::Value;

/// A scenario file that cannot be used, naming the file and the field.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{file}: {message}")]
    File { file: String, message: String },
    #[error("{file}: field {field}: {message}")]
    Field { file: String, field: String, message: String },
}

/// A scenario as written.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Scenario {
    pub name: String,
    #[serde(default)]
    pub description: String,
    /// The virtual clock's first instant, RFC 3339 in UTC (`2027-01-19T07:00:00Z`).
    pub start: String,
    /// How long the simulation runs (`30h`).
    pub duration: String,
    #[serde(default = "one")]
    pub seed: u64,
    /// The example fleet's root folder (`infra/`, `store-app/`, `cloud-services/`), relative to
    /// the scenario file; default `../retail-fleet`.
    #[serde(default)]
    pub fleet: Option<String>,
    /// Edits to the fleet's files before the first commit.
    #[serde(default)]
    pub overrides: Vec<Replace>,
    pub population: Population,
    #[serde(default)]
    pub timeline: Vec<Event>,
    #[serde(default)]
    pub expect: Vec<Expectation>,
}

fn one() -> u64 {
    1
}

/// A text replacement in one file of a repository.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Replace {
    /// For `overrides` only: the repository (`fleet`, `store-app`, `cloud-services`).
    #[serde(default)]
    pub repository: Option<String>,
    pub path: String,
    pub from: String,
    pub to: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Population {
    /// How many clusters (`--clusters` overrides it); groups with a `count` have that many,
    /// groups with a `share` split the rest.
    pub clusters: usize,
    #[serde(default = "sixty_seconds")]
    pub poll_interval: String,
    /// How long after applying an unhealthy commit its objects are found degraded (`5m`).
    #[serde(default = "five_minutes")]
    pub unhealthy_after: String,
    pub groups: Vec<Group>,
    /// Clusters whose clock is off from the start.
    #[serde(default)]
    pub skew: Option<Skew>,
    /// Who agent.yaml's `overrideSigners` lists (every agent's the same); empty: the agents have
    /// no `overrideSigners`, and every `Flotilla-Override:` is ignored.
    #[serde(default)]
    pub override_signers: Vec<String>,
}

fn sixty_seconds() -> String {
    "60s".into()
}

fn five_minutes() -> String {
    "5m".into()
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Group {
    pub name: String,
    /// Cluster names are the prefix and a number (`store-00042`); default `NAME-`.
    #[serde(default)]
    pub prefix: Option<String>,
    #[serde(default)]
    pub count: Option<usize>,
    /// A share of the clusters that no group's `count` took (`100%`).
    #[serde(default)]
    pub share: Option<String>,
    #[serde(default = "prod")]
    pub environment: String,
    /// A value, or a list to draw from (seeded; repeat a value to weigh it).
    pub labels: BTreeMap<String, LabelValue>,
    /// The probability that a poll does not happen (the store is off the network).
    #[serde(default)]
    pub offline: f64,
}

fn prod() -> String {
    "prod".into()
}

#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum LabelValue {
    One(String),
    Any(Vec<String>),
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Skew {
    pub share: String,
    /// How far their clocks are off, ahead (`10m`) or behind (`-10m`).
    pub by: String,
    #[serde(default)]
    pub group: Option<String>,
}

/// One event of the timeline: `at` and exactly one kind.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Event {
    /// When, from the start (`1h30m`).
    pub at: String,
    /// A name expectations refer to (a commit, a promotion, a revert).
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub commit: Option<Commit>,
    #[serde(default)]
    pub promote: Option<Promote>,
    #[serde(default)]
    pub revert: Option<Revert>,
    #[serde(default)]
    pub offline: Option<Offline>,
    #[serde(default)]
    pub git_outage: Option<Outage>,
    #[serde(default)]
    pub hub_outage: Option<Outage>,
    #[serde(default)]
    pub drift: Option<Drift>,
    #[serde(default)]
    pub violation: Option<Violation>,
    #[serde(default)]
    pub skew: Option<Skew>,
}

/// A commit to a branch: files written whole, and replacements.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Commit {
    pub repository: String,
    pub branch: String,
    #[serde(default)]
    pub message: Option<String>,
    #[serde(default)]
    pub files: BTreeMap<String, String>,
    #[serde(default)]
    pub replace: Vec<Replace>,
    /// A bad release that renders and applies but whose objects never become healthy: clusters
    /// that apply this content report Degraded after `population.unhealthyAfter`.
    #[serde(default)]
    pub unhealthy: bool,
    /// A `Flotilla-Override: REASON` trailer at the end of the message, and who signed the
    /// commit.
    #[serde(default, rename = "override")]
    pub override_: Option<CommitOverride>,
}

/// A commit's `Flotilla-Override:` trailer and its signature, as the agent would find it: the
/// simulator does not sign commits, it says who did (see [`crate::world::World::signer`]).
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CommitOverride {
    pub reason: String,
    /// Who signed the commit (`None`: it is not signed); it passes a freeze when
    /// `population.overrideSigners` lists them.
    #[serde(default)]
    pub signed_by: Option<String>,
}

/// A merge of `dev` into `prod`: a merge commit (`git merge --no-ff`), or with `fastForward`
/// prod moved to dev's head (`git merge --ff-only`), the dev commits reaching prod as they are,
/// with the dates they were made on dev.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Promote {
    pub repository: String,
    #[serde(default)]
    pub fast_forward: bool,
}

/// `git revert` of the branch's last commit (of its first parent for a merge).
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Revert {
    pub repository: String,
    pub branch: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Offline {
    #[serde(default)]
    pub share: Option<String>,
    #[serde(default)]
    pub clusters: Option<usize>,
    #[serde(default)]
    pub group: Option<String>,
    #[serde(rename = "for")]
    pub for_: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Outage {
    #[serde(rename = "for")]
    pub for_: String,
}

/// Someone edits a placement's objects by hand on some clusters.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Drift {
    pub share: String,
    pub placement: String,
    #[serde(default)]
    pub group: Option<String>,
}

/// Someone breaks a policy on some clusters; an `inform` policy stays broken for `for` (or to
/// the end), an `enforce` one is fixed by the next poll.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Violation {
    pub share: String,
    pub policy: String,
    #[serde(default)]
    pub group: Option<String>,
    #[serde(default, rename = "for")]
    pub for_: Option<String>,
}

/// One check: exactly one kind.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Expectation {
    /// At most this many reports lost (made, and neither taken by the hub, superseded in the
    /// spool nor still queued).
    #[serde(default)]
    pub reports_lost: Option<u64>,
    #[serde(default)]
    pub converged: Option<Converged>,
    #[serde(default)]
    pub never_runs: Option<NeverRuns>,
    #[serde(default)]
    pub hub_halted: Option<HubHalted>,
    #[serde(default)]
    pub runs: Option<Runs>,
    #[serde(default, rename = "override")]
    pub override_: Option<OverrideSeen>,
}

/// The share of a wave (or of all clusters of a placement or of the fleet) that runs the named
/// commit, or a newer one of its branch, at a time: for a placement its source commit, for
/// `target: fleet` the fleet commit in use (the fleet's own waves).
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Runs {
    /// `fleet`, or a placement's name.
    pub target: String,
    pub commit: String,
    #[serde(default = "prod")]
    pub environment: String,
    #[serde(default)]
    pub wave: Option<String>,
    #[serde(default)]
    pub at_least: Option<String>,
    #[serde(default)]
    pub at_most: Option<String>,
    /// From the start.
    pub by: String,
}

/// What became of a commit's `Flotilla-Override:` by the end: `passed: true`, some cluster ran
/// it through a freeze and listed it in its report's `overrides`; `passed: false`, none did,
/// and some cluster said it was ignored.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct OverrideSeen {
    /// `fleet`, or a placement's name.
    pub target: String,
    pub commit: String,
    pub passed: bool,
}

/// The share of a wave (or of all clusters of a placement) that runs the placement's final
/// commit (the head of its branch at the end) at a time.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Converged {
    pub placement: String,
    #[serde(default = "prod")]
    pub environment: String,
    #[serde(default)]
    pub wave: Option<String>,
    #[serde(default)]
    pub at_least: Option<String>,
    #[serde(default)]
    pub at_most: Option<String>,
    /// From the start.
    pub by: String,
}

/// No cluster of a wave after `beyond` ever applies the content of the named commit.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NeverRuns {
    pub placement: String,
    pub commit: String,
    pub beyond: String,
}

/// The hub published a halt of the named commit's content (or, with `halted: false`, never).
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct HubHalted {
    pub placement: String,
    pub commit: String,
    #[serde(default = "yes")]
    pub halted: bool,
}

fn yes() -> bool {
    true
}

/// A scenario read and checked, with its numbers parsed.
#[derive(Debug, Clone)]
pub struct Loaded {
    pub file: PathBuf,
    pub scenario: Scenario,
    pub fleet_dir: PathBuf,
    /// Unix seconds.
    pub start: i64,
    pub duration_s: i64,
    pub poll_interval_ms: i64,
    pub unhealthy_after_s: i64,
    /// Each event's time from the start, in seconds, in timeline order.
    pub at: Vec<i64>,
}

impl Loaded {
    /// Reads and checks a scenario file.
    pub fn read(path: &Path) -> Result<Loaded, Error> {
        let file = path.display().to_string();
        let text = std::fs::read(path)
            .map_err(|e| Error::File { file: file.clone(), message: format!("cannot read: {e}") })?;
        Loaded::parse(&text, path)
    }

    /// Reads a scenario from `text`, as if read from `path`.
    pub fn parse(text: &[u8], path: &Path) -> Result<Loaded, Error> {
        let file = path.display().to_string();
        let field_err =
            |field: &str, message: String| Error::Field { file: file.clone(), field: field.into(), message };
        let value = flotilla_core::yaml::load_one(text)
            .map_err(|e| Error::File { file: file.clone(), message: e.to_string() })?;
        let value = if value.is_null() { Value::Object(serde_json::Map::new()) } else { value };
        let scenario: Scenario = serde_path_to_error::deserialize(value).map_err(|e| {
            let field = e.path().to_string();
            Error::Field { file: file.clone(), field, message: e.into_inner().to_string() }
        })?;
        let start = flotilla_core::calendar::unix_ms(&scenario.start)
            .filter(|_| scenario.start.ends_with('Z'))
            .ok_or_else(|| field_err("start", format!("{:?} is not an RFC 3339 UTC time", scenario.start)))?
            / 1_000;
        let duration_s = duration(&scenario.duration).map_err(|m| field_err("duration", m))?;
        if duration_s <= 0 {
            return Err(field_err("duration", "must be longer than 0s".into()));
        }
        let population = &scenario.population;
        let poll_interval_ms =
            duration_ms(&population.poll_interval).map_err(|m| field_err("population.pollInterval", m))?;
        if poll_interval_ms < 1_000 {
            return Err(field_err("population.pollInterval", "must be at least 1s".into()));
        }
        let unhealthy_after_s =
            duration(&population.unhealthy_after).map_err(|m| field_err("population.unhealthyAfter", m))?;
        if population.groups.is_empty() {
            return Err(field_err("population.groups", "needs at least one group".into()));
        }
        let mut names = BTreeMap::new();
        for (i, g) in population.groups.iter().enumerate() {
            let at = format!("population.groups[{i}]");
            if let Some(first) = names.insert(g.name.clone(), i) {
                return Err(field_err(
                    &format!("{at}.name"),
                    format!("{:?} is the name of groups[{first}] too", g.name),
                ));
            }
            match (g.count, &g.share) {
                (Some(_), None) => {}
                (None, Some(share)) => {
                    percent(share).map_err(|m| field_err(&format!("{at}.share"), m))?;
                }
                _ => return Err(field_err(&at, "needs either count or share".into())),
            }
            if !(0.0..=1.0).contains(&g.offline) {
                return Err(field_err(&format!("{at}.offline"), "is a probability, from 0 to 1".into()));
            }
            // A group's clusters are named and labelled by the rules an agent's config reads them
            // by (core's `name`), so the run models clusters an agent could be.
            let (field, prefix) = match &g.prefix {
                Some(prefix) => ("prefix", prefix.clone()),
                None => ("name", format!("{}-", g.name)),
            };
            DnsSubdomain::check(&format!("{prefix}00001"))
                .map_err(|e| field_err(&format!("{at}.{field}"), format!("names clusters {prefix}N: {e}")))?;
            for (key, value) in &g.labels {
                LabelKey::check(key).map_err(|e| field_err(&format!("{at}.labels"), e.to_string()))?;
                let values = match value {
                    LabelValue::One(value) => std::slice::from_ref(value),
                    LabelValue::Any(values) => values.as_slice(),
                };
                if values.is_empty() {
                    return Err(field_err(&format!("{at}.labels.{key}"), "lists no value".into()));
                }
                for value in values {
                    name::LabelValue::check(value)
                        .map_err(|e| field_err(&format!("{at}.labels.{key}"), e.to_string()))?;
                }
            }
        }
        if let Some(skew) = &population.skew {
            check_skew(skew, &names).map_err(|(f, m)| field_err(&format!("population.skew.{f}"), m))?;
        }
        let mut at = Vec::new();
        for (i, event) in scenario.timeline.iter().enumerate() {
            let here = format!("timeline[{i}]");
            let t = duration(&event.at).map_err(|m| field_err(&format!("{here}.at"), m))?;
            if !(0..=duration_s).contains(&t) {
                return Err(field_err(&format!("{here}.at"), "is not within the scenario's duration".into()));
            }
            at.push(t);
            check_event(event, &names).map_err(|(f, m)| field_err(&format!("{here}{f}"), m))?;
        }
        let event_names: Vec<&str> = scenario.timeline.iter().filter_map(|e| e.name.as_deref()).collect();
        for (i, e) in scenario.expect.iter().enumerate() {
            check_expectation(e, &event_names).map_err(|(f, m)| field_err(&format!("expect[{i}]{f}"), m))?;
        }
        let base = path.parent().unwrap_or(Path::new("."));
        let fleet_dir = base.join(scenario.fleet.as_deref().unwrap_or("../retail-fleet"));
        Ok(Loaded {
            file: path.to_path_buf(),
            start,
            duration_s,
            poll_interval_ms,
            unhealthy_after_s,
            at,
            fleet_dir,
            scenario,
        })
    }
}

/// (field below the event, message).
type Problem = (String, String);

fn check_event(event: &Event, groups: &BTreeMap<String, usize>) -> Result<(), Problem> {
    let kinds = [
        event.commit.is_some(),
        event.promote.is_some(),
        event.revert.is_some(),
        event.offline.is_some(),
        event.git_outage.is_some(),
        event.hub_outage.is_some(),
        event.drift.is_some(),
        event.violation.is_some(),
        event.skew.is_some(),
    ];
    if kinds.iter().filter(|k| **k).count() != 1 {
        return Err((
            String::new(),
            "needs exactly one of commit, promote, revert, offline, gitOutage, hubOutage, drift, violation, skew"
                .into(),
        ));
    }
    let group = |field: &str, g: &Option<String>| match g {
        Some(name) if !groups.contains_key(name) => Err((field.to_string(), format!("no group {name:?}"))),
        _ => Ok(()),
    };
    if let Some(c) = &event.commit {
        if c.files.is_empty() && c.replace.is_empty() {
            return Err((".commit".into(), "changes nothing: give files or replace".into()));
        }
        if !["dev", "prod"].contains(&c.branch.as_str()) {
            return Err((".commit.branch".into(), format!("{:?} is not dev or prod", c.branch)));
        }
        if let Some(o) = &c.override_
            && (o.reason.trim().is_empty() || o.reason.contains('\n'))
        {
            return Err((".commit.override.reason".into(), "must be one line of text".into()));
        }
    }
    if let Some(r) = &event.revert
        && !["dev", "prod"].contains(&r.branch.as_str())
    {
        return Err((".revert.branch".into(), format!("{:?} is not dev or prod", r.branch)));
    }
    if let Some(o) = &event.offline {
        duration(&o.for_).map_err(|m| (".offline.for".to_string(), m))?;
        match (&o.share, o.clusters) {
            (Some(share), None) => {
                percent(share).map_err(|m| (".offline.share".to_string(), m))?;
            }
            (None, Some(_)) => {}
            _ => return Err((".offline".into(), "needs either share or clusters".into())),
        }
        group(".offline.group", &o.group)?;
    }
    for (field, outage) in [(".gitOutage.for", &event.git_outage), (".hubOutage.for", &event.hub_outage)] {
        if let Some(o) = outage {
            duration(&o.for_).map_err(|m| (field.to_string(), m))?;
        }
    }
    if let Some(d) = &event.drift {
        percent(&d.share).map_err(|m| (".drift.share".to_string(), m))?;
        group(".drift.group", &d.group)?;
    }
    if let Some(v) = &event.violation {
        percent(&v.share).map_err(|m| (".violation.share".to_string(), m))?;
        group(".violation.group", &v.group)?;
        if let Some(f) = &v.for_ {
            duration(f).map_err(|m| (".violation.for".to_string(), m))?;
        }
    }
    if let Some(s) = &event.skew {
        check_skew(s, groups).map_err(|(f, m)| (format!(".skew.{f}"), m))?;
    }
    Ok(())
}

fn check_skew(skew: &Skew, groups: &BTreeMap<String, usize>) -> Result<(), Problem> {
    percent(&skew.share).map_err(|m| ("share".to_string(), m))?;
    duration(&skew.by).map_err(|m| ("by".to_string(), m))?;
    match &skew.group {
        Some(name) if !groups.contains_key(name) => Err(("group".into(), format!("no group {name:?}"))),
        _ => Ok(()),
    }
}

fn check_expectation(e: &Expectation, named: &[&str]) -> Result<(), Problem> {
    let kinds = [
        e.reports_lost.is_some(),
        e.converged.is_some(),
        e.never_runs.is_some(),
        e.hub_halted.is_some(),
        e.runs.is_some(),
        e.override_.is_some(),
    ];
    if kinds.iter().filter(|k| **k).count() != 1 {
        return Err((
            String::new(),
            "needs exactly one of reportsLost, converged, neverRuns, hubHalted, runs, override".into(),
        ));
    }
    let commit = |field: &str, name: &str| {
        if named.contains(&name) {
            Ok(())
        } else {
            Err((field.to_string(), format!("no timeline event is named {name:?}")))
        }
    };
    if let Some(c) = &e.converged {
        duration(&c.by).map_err(|m| (".converged.by".to_string(), m))?;
        match (&c.at_least, &c.at_most) {
            (Some(p), None) => percent(p).map_err(|m| (".converged.atLeast".to_string(), m)).map(drop)?,
            (None, Some(p)) => percent(p).map_err(|m| (".converged.atMost".to_string(), m)).map(drop)?,
            _ => return Err((".converged".into(), "needs either atLeast or atMost".into())),
        }
    }
    if let Some(n) = &e.never_runs {
        commit(".neverRuns.commit", &n.commit)?;
    }
    if let Some(h) = &e.hub_halted {
        commit(".hubHalted.commit", &h.commit)?;
    }
    if let Some(r) = &e.runs {
        commit(".runs.commit", &r.commit)?;
        duration(&r.by).map_err(|m| (".runs.by".to_string(), m))?;
        match (&r.at_least, &r.at_most) {
            (Some(p), None) => percent(p).map_err(|m| (".runs.atLeast".to_string(), m)).map(drop)?,
            (None, Some(p)) => percent(p).map_err(|m| (".runs.atMost".to_string(), m)).map(drop)?,
            _ => return Err((".runs".into(), "needs either atLeast or atMost".into())),
        }
    }
    if let Some(o) = &e.override_ {
        commit(".override.commit", &o.commit)?;
    }
    Ok(())
}

/// Seconds of a Go duration, with an optional leading `-`.
pub fn duration(text: &str) -> Result<i64, String> {
    duration_ms(text).map(|ms| ms / 1_000)
}

/// Milliseconds of a Go duration, with an optional leading `-`.
pub fn duration_ms(text: &str) -> Result<i64, String> {
    let (sign, rest) = text.strip_prefix('-').map_or((1, text), |rest| (-1, rest));
    let d = flotilla_core::calendar::parse_duration(rest)
        .ok_or_else(|| format!("{text:?} is not a duration like 90s, 30m or 1h30m"))?;
    i64::try_from(d.as_millis()).map(|ms| sign * ms).map_err(|_| format!("{text:?} is too long"))
}

/// A share `N%` (0 to 100, decimals allowed) as a fraction.
pub fn percent(text: &str) -> Result<f64, String> {
    let bad = || format!("{text:?} is not a percentage from 0% to 100%");
    let n: f64 = text.trim().strip_suffix('%').ok_or_else(bad)?.trim().parse().map_err(|_| bad())?;
    if (0.0..=100.0).contains(&n) { Ok(n / 100.0) } else { Err(bad()) }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINIMAL: &str = "name: t\nstart: 2027-01-19T07:00:00Z\nduration: 2h\npopulation:\n  clusters: 10\n  groups:\n  - {name: stores, share: 100%, labels: {kind: store, region: [us-east, eu-west]}}\n";

    fn error(text: &str) -> String {
        Loaded::parse(text.as_bytes(), Path::new("x/s.yaml")).unwrap_err().to_string()
    }

    #[test]
    fn a_minimal_scenario_reads_with_defaults() {
        let s = Loaded::parse(MINIMAL.as_bytes(), Path::new("x/s.yaml")).unwrap();
        assert_eq!(
            (s.start, s.duration_s, s.poll_interval_ms, s.unhealthy_after_s),
            (1_800_342_000, 7_200, 60_000, 300)
        );
        assert_eq!(s.fleet_dir, Path::new("x/../retail-fleet"));
        assert_eq!(s.scenario.seed, 1);
    }

    #[test]
    fn errors_name_the_file_and_the_field() {
        let e = error(&format!("{MINIMAL}timeline:\n- at: 1h\n  promote: {{repositry: store-app}}\n"));
        assert!(e.starts_with("x/s.yaml: field timeline[0].promote.repositry: unknown field `repositry`"), "{e}");
        let e = error(&format!("{MINIMAL}colour: blue\n"));
        assert!(e.starts_with("x/s.yaml: field colour: unknown field `colour`"), "{e}");
        let e = error(&format!("{MINIMAL}timeline:\n- at: 3h\n  hubOutage: {{for: 1h}}\n"));
        assert_eq!(e, "x/s.yaml: field timeline[0].at: is not within the scenario's duration");
        let e = error(&format!("{MINIMAL}timeline:\n- at: 1h\n"));
        assert!(e.starts_with("x/s.yaml: field timeline[0]: needs exactly one of"), "{e}");
        let e = error(&format!("{MINIMAL}expect:\n- neverRuns: {{placement: p, commit: bad, beyond: canary}}\n"));
        assert_eq!(e, "x/s.yaml: field expect[0].neverRuns.commit: no timeline event is named \"bad\"");
        let e = error(&MINIMAL.replace("100%", "110%"));
        assert!(e.contains("field population.groups[0].share: \"110%\" is not a percentage"), "{e}");
        // Clusters no agent's config would take: a name or labels Kubernetes refuses.
        let e = error(&MINIMAL.replace("name: stores", "name: Stores"));
        assert!(
            e.contains(
                "field population.groups[0].name: names clusters Stores-N: \"Stores-00001\" is not a DNS-1123 subdomain"
            ),
            "{e}"
        );
        let e = error(&MINIMAL.replace("eu-west", "eu west"));
        assert!(e.contains("field population.groups[0].labels.region: \"eu west\" is not a valid label value"), "{e}");
    }

    #[test]
    fn overrides_and_their_expectations_are_read_strictly() {
        let commit = "timeline:\n- at: 1h\n  name: fix\n  commit:\n    repository: store-app\n    branch: prod\n    files: {a: b}\n";
        let s = Loaded::parse(
            format!("{MINIMAL}{commit}    override: {{reason: INC-1, signedBy: ops}}\nexpect:\n- override: {{target: fleet, commit: fix, passed: true}}\n- runs: {{target: fleet, commit: fix, atLeast: 100%, by: 2h}}\n").as_bytes(),
            Path::new("x/s.yaml"),
        )
        .unwrap();
        let o = s.scenario.timeline[0].commit.as_ref().unwrap().override_.as_ref().unwrap();
        assert_eq!((o.reason.as_str(), o.signed_by.as_deref()), ("INC-1", Some("ops")));
        let e = error(&format!("{MINIMAL}{commit}    override: {{reason: INC-1, signed: true}}\n"));
        assert!(e.starts_with("x/s.yaml: field timeline[0].commit.override.signed: unknown field `signed`"), "{e}");
        let e = error(&format!("{MINIMAL}{commit}expect:\n- runs: {{target: fleet, commit: fix, by: 2h}}\n"));
        assert_eq!(e, "x/s.yaml: field expect[0].runs: needs either atLeast or atMost");
        let e =
            error(&format!("{MINIMAL}{commit}expect:\n- override: {{target: fleet, commit: other, passed: true}}\n"));
        assert_eq!(e, "x/s.yaml: field expect[0].override.commit: no timeline event is named \"other\"");
        let e = error(&MINIMAL.replace("  groups:", "  overrideSigner: [ops]\n  groups:"));
        assert!(e.starts_with("x/s.yaml: field population.overrideSigner: unknown field"), "{e}");
    }

    #[test]
    fn durations_and_shares() {
        assert_eq!(duration("1h30m"), Ok(5_400));
        assert_eq!(duration("-10m"), Ok(-600));
        assert!(duration("ten").is_err());
        assert_eq!(percent("10%"), Ok(0.1));
        assert_eq!(percent("99.5%"), Ok(0.995));
        assert!(percent("10").is_err());
    }
}
