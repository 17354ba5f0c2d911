//! The views, as plain functions of the index (and of what git says, passed in): the fleet
//! summary, the cluster list, the lag ledger, and governance (compliance by standard →
//! control → policy → cluster). The same values serve the JSON API, the dashboard and the
//! command line.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::sync::Arc;

use flotilla_core::fleet::Policy;

use crate::api::{
    Behind, ClusterLine, Compliance, ComplianceCounts, ControlLine, Counts, Lagging, Ledger, LedgerLine, NonCompliant,
    Page, PolicyCompliance, PolicyLine, StandardLine, Standing, Summary, VersionCount,
};
use crate::index::{ByStanding, Group, Index, PolicyResult, PolicyResults, Text, find_result, label, labels_match};

/// The versions of a placement's tally, the most run first, then the highest version first
/// (compared as numbers where they are numbers: 10.0 above 9.1).
pub fn version_counts<S: std::hash::BuildHasher>(counts: &HashMap<Text, usize, S>) -> Vec<VersionCount> {
    let mut lines: Vec<VersionCount> =
        counts.iter().map(|(v, n)| VersionCount { version: v.to_string(), clusters: *n }).collect();
    lines.sort_by(|a, b| b.clusters.cmp(&a.clusters).then_with(|| natural(&b.version, &a.version)));
    lines
}

/// Compares `a` and `b` the way people read version numbers and control ids: runs of digits as
/// numbers (`2.2.1` before `10.2.1`), the rest as text.
pub fn natural(a: &str, b: &str) -> std::cmp::Ordering {
    let (mut a, mut b) = (a, b);
    loop {
        let (Some(x), Some(y)) = (a.chars().next(), b.chars().next()) else { return a.len().cmp(&b.len()) };
        if x.is_ascii_digit() && y.is_ascii_digit() {
            let end_a = a.find(|c: char| !c.is_ascii_digit()).unwrap_or(a.len());
            let end_b = b.find(|c: char| !c.is_ascii_digit()).unwrap_or(b.len());
            let (na, nb) = (a[..end_a].trim_start_matches('0'), b[..end_b].trim_start_matches('0'));
            let order = na.len().cmp(&nb.len()).then_with(|| na.cmp(nb)).then_with(|| end_a.cmp(&end_b));
            if order != std::cmp::Ordering::Equal {
                return order;
            }
            (a, b) = (&a[end_a..], &b[end_b..]);
        } else {
            if x != y {
                return x.cmp(&y);
            }
            (a, b) = (&a[x.len_utf8()..], &b[y.len_utf8()..]);
        }
    }
}

/// Counts every cluster by standing, environment and placement, as of the index's clock: read
/// from the index's tally, so it costs the same at ten clusters and at a million.
pub fn summary(index: &Index) -> Summary {
    let counts = |c: &ByStanding| Standing::ALL.iter().map(|s| (s.name().to_string(), c[s.slot()])).collect::<Counts>();
    let tally = index.tally();
    Summary {
        clusters: index.len(),
        by_standing: counts(&tally.by_standing),
        by_environment: tally.by_environment.iter().map(|(k, c)| (k.to_string(), counts(c))).collect(),
        by_placement: tally.by_placement.iter().map(|(k, c)| (k.to_string(), counts(c))).collect(),
        versions: versions(index),
    }
}

/// Placement → environment → its versions, from the index's tally: as many lines as versions
/// run, whatever the number of clusters.
fn versions(index: &Index) -> BTreeMap<String, BTreeMap<String, Vec<VersionCount>>> {
    let mut out: BTreeMap<String, BTreeMap<String, Vec<VersionCount>>> = BTreeMap::new();
    for (environment, placements) in index.all_versions() {
        for (placement, counts) in placements {
            out.entry(placement.to_string()).or_default().insert(environment.to_string(), version_counts(counts));
        }
    }
    out
}

/// Which clusters a list shows.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    pub standing: Option<Standing>,
    pub environment: Option<String>,
    /// `key=value` pairs, all of which must match.
    pub labels: Vec<(String, String)>,
    pub placement: Option<String>,
    /// Text the cluster's name contains (ASCII letters in either case).
    pub name: Option<String>,
}

/// The order of a list of clusters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Sort {
    #[default]
    Name,
    NameDescending,
    Environment,
    /// The worst first (never reported, offline, failed, …), then by name.
    State,
    /// The longest silent first (never reported before all), then by name.
    LastReport,
    /// The newest report first.
    LastReportDescending,
}

impl Sort {
    pub const ALL: [Sort; 6] = [
        Sort::Name,
        Sort::NameDescending,
        Sort::Environment,
        Sort::State,
        Sort::LastReport,
        Sort::LastReportDescending,
    ];

    /// As a query says it: `name`, `-name`, `environment`, `state`, `last-report`, `-last-report`.
    pub fn name(self) -> &'static str {
        match self {
            Sort::Name => "name",
            Sort::NameDescending => "-name",
            Sort::Environment => "environment",
            Sort::State => "state",
            Sort::LastReport => "last-report",
            Sort::LastReportDescending => "-last-report",
        }
    }

    pub fn parse(text: &str) -> Option<Sort> {
        Sort::ALL.into_iter().find(|s| s.name() == text)
    }
}

impl Filter {
    /// Whether the cluster `name` with `entry` passes, leaving the standing aside.
    fn passes(&self, name: &str, e: &crate::index::Entry) -> bool {
        self.environment.as_deref().is_none_or(|env| *e.environment == *env)
            && e.matches(&self.labels)
            && self.placement.as_deref().is_none_or(|p| e.placements.iter().any(|x| *x.name == *p))
            && self.name.as_deref().is_none_or(|part| contains_ignoring_case(name, part))
    }

    /// Parses `k=v,k=v` label selectors.
    pub fn parse_labels(text: &str) -> Result<Vec<(String, String)>, String> {
        text.split(',')
            .filter(|s| !s.trim().is_empty())
            .map(|pair| {
                pair.split_once('=')
                    .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
                    .ok_or_else(|| format!("label {pair:?} is not key=value"))
            })
            .collect()
    }
}

/// The clusters that pass `filter`, by name, from `offset`, at most `limit`. Walks the clusters
/// in name order and stops once the page is full when the total is known without looking
/// further (no filter, or only by state, which the tally counts).
pub fn clusters(index: &Index, filter: &Filter, offset: usize, limit: usize) -> Page<ClusterLine> {
    let narrowed = filter.environment.is_some()
        || !filter.labels.is_empty()
        || filter.placement.is_some()
        || filter.name.is_some();
    let known_total = match filter.standing {
        _ if narrowed => None,
        None => Some(index.len()),
        Some(s) => Some(index.tally().by_standing[s.slot()]),
    };
    let mut matched = 0;
    let mut items = Vec::new();
    for (name, e) in index.iter() {
        if known_total.is_some() && items.len() >= limit {
            break;
        }
        if !filter.passes(name, e) {
            continue;
        }
        let standing = index.standing(e);
        if filter.standing.is_some_and(|f| f != standing) {
            continue;
        }
        if matched >= offset && items.len() < limit {
            items.push(cluster_line(name, e, standing));
        }
        matched += 1;
    }
    Page { total: known_total.unwrap_or(matched), offset, items }
}

fn cluster_line(name: &str, e: &crate::index::Entry, standing: Standing) -> ClusterLine {
    ClusterLine {
        name: name.to_string(),
        environment: e.environment.to_string(),
        standing,
        last_report_at_ms: e.last_report_at_ms,
        placements: e.placements.len(),
        problems: e.placements.iter().map(|p| p.problems).sum(),
        fleet: e.fleet,
    }
}

/// Whether `text` contains `part`, ASCII letters compared in either case.
fn contains_ignoring_case(text: &str, part: &str) -> bool {
    text.as_bytes().windows(part.len().max(1)).any(|w| w.eq_ignore_ascii_case(part.as_bytes())) || part.is_empty()
}

/// [`clusters`] in the order of `sort`. By name it is [`clusters`]; any other order sorts every
/// cluster that passes (references, not copies): some milliseconds at 100,000 clusters.
pub fn clusters_sorted(index: &Index, filter: &Filter, sort: Sort, offset: usize, limit: usize) -> Page<ClusterLine> {
    if sort == Sort::Name {
        return clusters(index, filter, offset, limit);
    }
    let mut all: Vec<(&Text, &crate::index::Entry, Standing)> = index
        .iter()
        .filter(|(name, e)| filter.passes(name, e))
        .map(|(name, e)| (name, e, index.standing(e)))
        .filter(|(_, _, standing)| filter.standing.is_none_or(|f| f == *standing))
        .collect();
    match sort {
        Sort::Name => {}
        Sort::NameDescending => all.reverse(),
        // Stable sorts: ties stay in name order.
        Sort::Environment => all.sort_by(|a, b| a.1.environment.cmp(&b.1.environment)),
        Sort::State => all.sort_by_key(|c| std::cmp::Reverse(c.2)),
        Sort::LastReport => all.sort_by_key(|c| c.1.last_report_at_ms.unwrap_or(i64::MIN)),
        Sort::LastReportDescending => all.sort_by_key(|c| std::cmp::Reverse(c.1.last_report_at_ms.unwrap_or(i64::MIN))),
    }
    let items =
        all.iter().skip(offset).take(limit).map(|(name, e, standing)| cluster_line(name, e, *standing)).collect();
    Page { total: all.len(), offset, items }
}

/// Lists the clusters of `environment` that run `placement` by the commit they applied, and
/// how far each is behind `head` (`behind` asks git). Reads the index's group of the
/// placement, so it costs the number of commits run plus the page, not the number of clusters.
pub fn ledger(
    index: &Index,
    placement: &str,
    environment: &str,
    head: &str,
    behind: &dyn Fn(&str) -> Behind,
    offset: usize,
    limit: usize,
) -> Ledger {
    let empty = Group::new();
    let group = index.group(environment, placement).unwrap_or(&empty);
    let mut lines: Vec<(Option<&str>, Behind, &BTreeSet<Text>)> = group
        .iter()
        .map(|(commit, names)| {
            let commit = commit.as_deref();
            let b = match commit {
                Some(c) if c == head => Behind { commits: Some(0), since: None },
                Some(c) => behind(c),
                None => Behind::default(),
            };
            (commit, b, names)
        })
        .collect();
    // The head first, then by commits behind (unknown furthest), then by commit.
    let rank = |b: &Behind| b.commits.unwrap_or(usize::MAX);
    lines.sort_by(|a, b| rank(&a.1).cmp(&rank(&b.1)).then(a.0.cmp(&b.0)));
    let clusters = lines.iter().map(|l| l.2.len()).sum();
    let on_head = lines.iter().filter(|l| l.0 == Some(head)).map(|l| l.2.len()).sum();
    let mut lagging: Vec<Lagging> = Vec::new();
    let mut total = 0;
    for (commit, b, members) in lines.iter().rev().filter(|l| l.0 != Some(head)) {
        // Whole groups before the page are skipped by their size.
        let skip = offset.saturating_sub(total).min(members.len());
        for name in members.iter().skip(skip).take(limit - lagging.len()) {
            let entry = index.get(name);
            let standing = entry.map_or(Standing::NeverReported, |e| index.standing(e));
            let version = entry
                .and_then(|e| e.placements.iter().find(|p| *p.name == *placement))
                .and_then(|p| p.version.as_deref())
                .map(ToString::to_string);
            lagging.push(Lagging {
                cluster: name.to_string(),
                commit: commit.map(ToString::to_string),
                version,
                behind: *b,
                standing,
            });
        }
        total += members.len();
    }
    let commits = lines
        .iter()
        .filter_map(|(c, b, m)| c.map(|c| LedgerLine { commit: c.to_string(), clusters: m.len(), behind: *b }))
        .collect();
    Ledger {
        placement: placement.to_string(),
        environment: environment.to_string(),
        head: head.to_string(),
        clusters,
        on_head,
        commits,
        versions: index.versions(environment, placement).map(version_counts).unwrap_or_default(),
        lagging: Page { total, offset, items: lagging },
    }
}

/// The standard, or the control, of a policy that names none.
pub const NO_STANDARD: &str = "(no standard)";
pub const NO_CONTROL: &str = "(no control)";
/// The standard of the policies that clusters report and the fleet no longer declares, so that
/// nothing disappears silently.
pub const NOT_IN_FLEET: &str = "(not in the fleet)";

/// Where a cluster stands on a policy, in the order a roll-up takes the worst.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Verdict {
    Compliant,
    /// The policy selects the cluster by its labels, and the cluster's last report has no
    /// result for it (never reported, an older agent, or the policy is newer than the report).
    NotReported,
    /// Reported, but the agent could not evaluate it.
    Unknown,
    NonCompliant,
}

impl Verdict {
    fn of(compliant: Option<bool>) -> Verdict {
        match compliant {
            Some(true) => Verdict::Compliant,
            Some(false) => Verdict::NonCompliant,
            None => Verdict::Unknown,
        }
    }
}

impl ComplianceCounts {
    fn add(&mut self, verdict: Verdict, n: usize) {
        match verdict {
            Verdict::Compliant => self.compliant += n,
            Verdict::NotReported => self.not_reported += n,
            Verdict::Unknown => self.unknown += n,
            Verdict::NonCompliant => self.non_compliant += n,
        }
    }
}

/// A standard or control heading, the named ones first, by name with numbers compared as
/// numbers (control 2.2.1 before 10.2.1, see [`natural`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Heading<'a>(bool, &'a str);

impl Ord for Heading<'_> {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.0.cmp(&other.0).then_with(|| natural(self.1, other.1)).then_with(|| self.1.cmp(other.1))
    }
}

impl PartialOrd for Heading<'_> {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

fn heading(name: &str) -> Heading<'_> {
    Heading(matches!(name, NO_STANDARD | NO_CONTROL | NOT_IN_FLEET), name)
}

/// Clusters with the same labels (of those a walk reads) and results, and how many.
type Batch<'i> = (&'i [(Text, Text)], &'i PolicyResults, usize);

/// By (results, number of the selectors' keys' values): the results and how many clusters.
type Sums<'i> = HashMap<(*const [PolicyResult], usize), (&'i [PolicyResult], usize)>;

/// The policies the view shows: the fleet's, then those only reports name.
struct Catalog<'a> {
    names: Vec<&'a str>,
    definitions: Vec<Option<&'a Policy>>,
    /// The label keys the policies' cluster selectors read, sorted.
    keys: Vec<&'a str>,
}

impl<'a> Catalog<'a> {
    fn new(index: &'a Index, environment: &str, policies: &'a [Policy]) -> Catalog<'a> {
        let mut names: Vec<&str> = Vec::new();
        let mut definitions = Vec::new();
        let mut seen = HashSet::new();
        for p in policies {
            if seen.insert(p.name()) {
                names.push(p.name());
                definitions.push(Some(p));
            }
        }
        let mut reported: Vec<&str> =
            index.policy_tallies(environment).into_iter().flat_map(HashMap::keys).map(|k| &**k).collect();
        reported.sort_unstable();
        for name in reported {
            if seen.insert(name) {
                names.push(name);
                definitions.push(None);
            }
        }
        Catalog::of(names, definitions)
    }

    fn of(names: Vec<&'a str>, definitions: Vec<Option<&'a Policy>>) -> Catalog<'a> {
        let keys = selector_keys(definitions.iter().flatten().copied()).into_iter().collect();
        Catalog { names, definitions, keys }
    }

    /// Walks `environment`'s clusters that pass `labels` in groups: each policy's verdict for
    /// the group's clusters (`None`: the policy neither selects nor was reported by them) and
    /// how many clusters the group holds.
    ///
    /// The groups come from the index's cohorts when they keep every label the selectors and
    /// the filter read (the fleet's selector keys, kept as the fleet is read), else from a
    /// pass over the clusters: a filter by another label, or a fleet read since the index
    /// last took its keys. Either way they are summed by results and by the values of the
    /// selectors' keys first, so the verdicts are worked out once per sum.
    fn walk(
        &self,
        index: &Index,
        environment: &str,
        labels: &[(String, String)],
        mut each: impl FnMut(&[Option<Verdict>], usize),
    ) {
        let kept = index.selector_keys();
        let covered = |k: &str| kept.binary_search_by(|t| (**t).cmp(k)).is_ok();
        let from_cohorts = self.keys.iter().all(|k| covered(k)) && labels.iter().all(|(k, _)| covered(k));
        let groups: Box<dyn Iterator<Item = Batch>> = if from_cohorts {
            Box::new(index.cohorts(environment).map(|(l, r, n)| (&**l, r, n)))
        } else {
            let clusters = index.iter().filter(move |(_, e)| *e.environment == *environment);
            Box::new(clusters.map(|(_, e)| (&*e.labels, &e.policies, 1)))
        };
        // The selectors' keys' values → their number; by (results, that number) the clusters.
        let mut selections: HashMap<Vec<Option<&str>>, usize> = HashMap::new();
        let mut sums: Sums = HashMap::new();
        let mut values: Vec<Option<&str>> = Vec::with_capacity(self.keys.len());
        for (set, results, n) in groups {
            if !labels_match(set, labels) {
                continue;
            }
            values.clear();
            values.extend(self.keys.iter().map(|k| label(set, k)));
            let next = selections.len();
            let selection = match selections.get(values.as_slice()) {
                Some(s) => *s,
                None => *selections.entry(values.clone()).or_insert(next),
            };
            sums.entry((Arc::as_ptr(results), selection)).or_insert((results, 0)).1 += n;
        }
        let mut selects = vec![Vec::new(); selections.len()];
        for (values, at) in &selections {
            selects[*at] = self.selects(values);
        }
        let mut verdicts = vec![None; self.names.len()];
        for ((_, selection), (results, n)) in sums {
            for (i, name) in self.names.iter().enumerate() {
                verdicts[i] = match find_result(results, name) {
                    Some(r) => Some(Verdict::of(r.compliant)),
                    None if selects[selection][i] => Some(Verdict::NotReported),
                    None => None,
                };
            }
            each(&verdicts, n);
        }
    }

    /// Which policies' cluster selectors take the labels whose values for [`Catalog::keys`]
    /// are `values` (`None`: no such label).
    fn selects(&self, values: &[Option<&str>]) -> Vec<bool> {
        let labels: flotilla_core::selector::Labels =
            self.keys.iter().zip(values).filter_map(|(k, v)| v.map(|v| ((*k).to_string(), v.to_string()))).collect();
        self.definitions.iter().map(|d| d.is_some_and(|p| p.spec.clusters.matches(&labels))).collect()
    }
}

/// The label keys the cluster selectors of `policies` read: what the index's cohorts keep
/// ([`Index::set_selector_keys`]).
pub fn selector_keys<'a>(policies: impl IntoIterator<Item = &'a Policy>) -> BTreeSet<&'a str> {
    policies
        .into_iter()
        .flat_map(|p| {
            let s = &p.spec.clusters;
            s.match_labels.keys().map(String::as_str).chain(s.match_expressions.iter().map(|r| r.key.as_str()))
        })
        .collect()
}

/// The worst verdict among `members`' (policy indices).
fn worst(verdicts: &[Option<Verdict>], members: &[usize]) -> Option<Verdict> {
    members.iter().filter_map(|&i| verdicts[i]).max()
}

/// Governance of `environment` by standard → control → policy, over its clusters that pass
/// `labels`: `policies` are the environment's fleet branch's (what each names: standards,
/// controls, severity, remediation, which clusters it selects); the results are the clusters'
/// last reports. A policy counts under every (standard, control) it names; one that clusters
/// report and the fleet no longer declares is listed under [`NOT_IN_FLEET`].
///
/// Cost: without a label filter, or with one on labels the policies select by, one pass over
/// the environment's cohorts (clusters by policy results and the labels the selectors read,
/// which the index keeps): a fleet of mostly compliant stores has a few dozen, so the view
/// costs the same at a million clusters. A filter by another label (`region=eu` when no
/// policy selects by region) is a pass over every cluster instead: about 0.1–0.2 s at a
/// million, under the index's read lock.
pub fn compliance(index: &Index, environment: &str, policies: &[Policy], labels: &[(String, String)]) -> Compliance {
    let catalog = Catalog::new(index, environment, policies);
    // Standard → control → the policies under it.
    let mut tree: BTreeMap<Heading, BTreeMap<Heading, Vec<usize>>> = BTreeMap::new();
    for (i, definition) in catalog.definitions.iter().enumerate() {
        let (standards, controls) = match definition {
            Some(p) => (
                p.spec.standards.iter().map(String::as_str).collect(),
                p.spec.controls.iter().map(String::as_str).collect(),
            ),
            None => (vec![NOT_IN_FLEET], Vec::new()),
        };
        let standards = if standards.is_empty() { vec![NO_STANDARD] } else { standards };
        let controls = if controls.is_empty() { vec![NO_CONTROL] } else { controls };
        for standard in &standards {
            for control in &controls {
                let members = tree.entry(heading(standard)).or_default().entry(heading(control)).or_default();
                if !members.contains(&i) {
                    members.push(i);
                }
            }
        }
    }
    let controls: Vec<&Vec<usize>> = tree.values().flat_map(BTreeMap::values).collect();
    let standards: Vec<Vec<usize>> = tree
        .values()
        .map(|controls| {
            let members: BTreeSet<usize> = controls.values().flatten().copied().collect();
            members.into_iter().collect()
        })
        .collect();
    let mut policy_counts = vec![ComplianceCounts::default(); catalog.names.len()];
    let mut control_counts = vec![ComplianceCounts::default(); controls.len()];
    let mut standard_counts = vec![ComplianceCounts::default(); standards.len()];
    let mut clusters = 0;
    catalog.walk(index, environment, labels, |verdicts, n| {
        clusters += n;
        for (counts, verdict) in policy_counts.iter_mut().zip(verdicts) {
            if let Some(v) = verdict {
                counts.add(*v, n);
            }
        }
        for (counts, members) in control_counts.iter_mut().zip(&controls) {
            if let Some(v) = worst(verdicts, members) {
                counts.add(v, n);
            }
        }
        for (counts, members) in standard_counts.iter_mut().zip(&standards) {
            if let Some(v) = worst(verdicts, members) {
                counts.add(v, n);
            }
        }
    });
    let mut control_at = 0;
    let standards = tree
        .iter()
        .zip(standard_counts)
        .map(|((standard, under), counts)| {
            let controls = under
                .iter()
                .map(|(control, members)| {
                    let mut policies: Vec<PolicyLine> =
                        members.iter().map(|&i| policy_line(&catalog, i, policy_counts[i])).collect();
                    policies.sort_by(|a, b| a.name.cmp(&b.name));
                    let line =
                        ControlLine { name: control.1.to_string(), counts: control_counts[control_at], policies };
                    control_at += 1;
                    line
                })
                .collect();
            StandardLine { name: standard.1.to_string(), counts, controls }
        })
        .collect();
    Compliance {
        environment: environment.to_string(),
        labels: labels_text(labels),
        clusters,
        standards,
        fleet_error: None,
    }
}

fn policy_line(catalog: &Catalog, i: usize, counts: ComplianceCounts) -> PolicyLine {
    let definition = catalog.definitions[i];
    PolicyLine {
        name: catalog.names[i].to_string(),
        in_fleet: definition.is_some(),
        severity: definition.map(|p| p.spec.severity),
        remediation: definition.map(|p| p.spec.remediation),
        categories: definition.map(|p| p.spec.categories.clone()).unwrap_or_default(),
        counts,
    }
}

fn labels_text(labels: &[(String, String)]) -> String {
    labels.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join(",")
}

/// Policy `policy` in `environment` (`definition`: what the fleet branch declares, if it does),
/// over the clusters that pass `labels`: its counts as [`compliance`] gives them, and its
/// non-compliant clusters from `offset`, at most `limit`. `None` when the fleet does not
/// declare it and no cluster reports it.
///
/// Without a label filter the counts are the index's tally of the policy, and the list reads
/// the tally's non-compliant clusters from `offset` (only "not reported" walks the cohorts).
/// With one, the counts are [`compliance`]'s walk (the same cost) and the list checks each
/// non-compliant cluster's labels: the number of non-compliant clusters, not of clusters.
pub fn compliance_policy(
    index: &Index,
    environment: &str,
    policy: &str,
    definition: Option<&Policy>,
    labels: &[(String, String)],
    offset: usize,
    limit: usize,
) -> Option<PolicyCompliance> {
    let tally = index.policy_tally(environment, policy);
    if definition.is_none() && tally.is_none() {
        return None;
    }
    let catalog = Catalog::of(vec![policy], vec![definition]);
    let mut counts = ComplianceCounts::default();
    match tally {
        Some(t) if labels.is_empty() => {
            counts = ComplianceCounts {
                compliant: t.compliant,
                non_compliant: t.non_compliant.len(),
                unknown: t.unknown,
                not_reported: 0,
            };
            if definition.is_some() {
                catalog.walk(index, environment, labels, |verdicts, n| {
                    if verdicts[0] == Some(Verdict::NotReported) {
                        counts.not_reported += n;
                    }
                });
            }
        }
        _ => catalog.walk(index, environment, labels, |verdicts, n| {
            if let Some(v) = verdicts[0] {
                counts.add(v, n);
            }
        }),
    }
    let empty = BTreeSet::new();
    let names = tally.map_or(&empty, |t| &t.non_compliant);
    let line = |name: &Text| {
        let entry = index.get(name)?;
        Some(NonCompliant {
            name: name.to_string(),
            environment: entry.environment.to_string(),
            standing: index.standing(entry),
            violations: entry.policy(policy).map_or(0, |r| r.violations),
            last_report_at_ms: entry.last_report_at_ms,
        })
    };
    let (items, total) = if labels.is_empty() {
        (names.iter().skip(offset).take(limit).filter_map(line).collect(), names.len())
    } else {
        let matching: Vec<&Text> = names.iter().filter(|n| index.get(n).is_some_and(|e| e.matches(labels))).collect();
        (matching.iter().skip(offset).take(limit).filter_map(|n| line(n)).collect(), matching.len())
    };
    let spec = definition.map(|p| &p.spec);
    Some(PolicyCompliance {
        policy: policy.to_string(),
        environment: environment.to_string(),
        labels: labels_text(labels),
        in_fleet: definition.is_some(),
        severity: spec.map(|s| s.severity),
        remediation: spec.map(|s| s.remediation),
        standards: spec.map(|s| s.standards.clone()).unwrap_or_default(),
        controls: spec.map(|s| s.controls.clone()).unwrap_or_default(),
        categories: spec.map(|s| s.categories.clone()).unwrap_or_default(),
        counts,
        non_compliant: Page { total, offset, items },
    })
}

#[cfg(test)]
mod tests {
    use flotilla_core::report::Report;

    use super::*;
    use crate::index::Row;

    fn commit(c: char) -> String {
        c.to_string().repeat(40)
    }

    fn report(cluster: &str, state: &str, commit: &str) -> Report {
        let json = format!(
            r#"{{"version":1,"cluster":"{cluster}","agentVersion":"0.1.0","sequence":1,"time":"2026-11-25T10:00:00Z",
            "placements":[{{"name":"web","state":"{state}","sourceCommit":"{commit}","desiredDigest":"sha256:{}","health":"Healthy"}}]}}"#,
            "d".repeat(64)
        );
        Report::from_json(json.as_bytes()).unwrap()
    }

    fn fleet() -> Index {
        let mut index = Index::new(15_000);
        let rows = [
            ("s1", "prod", "store", Some(("Synced", commit('a')))),
            ("s2", "prod", "store", Some(("Synced", commit('a')))),
            ("s3", "prod", "store", Some(("Progressing", commit('b')))),
            ("s4", "prod", "cloud", Some(("Failed", commit('c')))),
            ("s5", "dev", "store", Some(("Synced", commit('a')))),
            ("s6", "prod", "store", None),
        ];
        for (change, (name, env, kind, last)) in (1..).zip(rows) {
            index.update(&Row {
                name: name.into(),
                environment: env.into(),
                labels: BTreeMap::from([("kind".into(), kind.into())]),
                token_hash: None,
                registered_at_ms: 0,
                last_report_at_ms: last.as_ref().map(|_| if name == "s2" { 0 } else { 10_000 }),
                last_report: last.map(|(state, c)| report(name, state, &c)),
                change,
                kubernetes: None,
            });
        }
        index.advance(20_000);
        index
    }

    #[test]
    fn lists_sort_by_state_and_silence_and_search_names() {
        let index = fleet();
        let names = |sort: Sort, filter: &Filter| -> Vec<String> {
            clusters_sorted(&index, filter, sort, 0, 100).items.into_iter().map(|c| c.name).collect()
        };
        let all = Filter::default();
        assert_eq!(names(Sort::State, &all), ["s6", "s2", "s4", "s3", "s1", "s5"], "the worst first");
        assert_eq!(names(Sort::LastReport, &all), ["s6", "s2", "s1", "s3", "s4", "s5"], "the longest silent first");
        assert_eq!(names(Sort::NameDescending, &all), ["s6", "s5", "s4", "s3", "s2", "s1"]);
        assert_eq!(names(Sort::Environment, &all), ["s5", "s1", "s2", "s3", "s4", "s6"]);
        let page = clusters_sorted(&index, &all, Sort::State, 2, 2);
        assert_eq!((page.total, page.items[0].name.as_str(), page.items.len()), (6, "s4", 2));
        let search = Filter { name: Some("S3".into()), ..Filter::default() };
        assert_eq!(names(Sort::Name, &search), ["s3"]);
        assert_eq!(clusters(&index, &search, 0, 100).total, 1);
        assert_eq!(Sort::parse("-last-report"), Some(Sort::LastReportDescending));
    }

    #[test]
    fn numbers_in_versions_and_controls_compare_as_numbers() {
        let mut controls = vec!["10.2.1", "2.2.1", "1.4.2", "2.10", "2.9", "A.1", "1.4.2a"];
        controls.sort_by(|a, b| natural(a, b));
        assert_eq!(controls, ["1.4.2", "1.4.2a", "2.2.1", "2.9", "2.10", "10.2.1", "A.1"]);
        assert!(heading("2.2.1") < heading("10.2.1") && heading("10.2.1") < heading(NO_CONTROL));
    }

    #[test]
    fn the_summary_counts_every_cluster_once_by_standing_environment_and_placement() {
        let s = summary(&fleet());
        assert_eq!(s.clusters, 6);
        let expect = |pairs: &[(&'static str, usize)]| {
            let mut c: Counts = Standing::ALL.iter().map(|s| (s.name().to_string(), 0)).collect();
            c.extend(pairs.iter().map(|(k, n)| ((*k).to_string(), *n)));
            c
        };
        // s2 reported at 0: offline at 20 s with a 15 s threshold, though its placement is synced.
        assert_eq!(
            s.by_standing,
            expect(&[("synced", 2), ("progressing", 1), ("failed", 1), ("offline", 1), ("neverReported", 1)])
        );
        assert_eq!(s.by_environment["dev"], expect(&[("synced", 1)]));
        assert_eq!(s.by_placement["web"], expect(&[("synced", 2), ("progressing", 1), ("failed", 1), ("offline", 1)]));
    }

    #[test]
    fn the_cluster_list_filters_and_pages() {
        let index = fleet();
        let filter = Filter { labels: Filter::parse_labels("kind=store").unwrap(), ..Filter::default() };
        let page = clusters(&index, &filter, 1, 2);
        assert_eq!(page.total, 5);
        let names: Vec<&str> = page.items.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(names, ["s2", "s3"]);
        let failed = Filter { standing: Some(Standing::Failed), ..Filter::default() };
        assert_eq!(clusters(&index, &failed, 0, 10).items[0].name, "s4");
        assert!(Filter::parse_labels("kind").is_err());
    }

    #[test]
    fn the_ledger_groups_by_commit_and_lists_the_furthest_behind_first() {
        let index = fleet();
        let behind = |c: &str| match c.chars().next() {
            Some('b') => Behind { commits: Some(1), since: Some(100) },
            Some('c') => Behind { commits: Some(3), since: Some(50) },
            _ => Behind::default(),
        };
        let ledger = ledger(&index, "web", "prod", &commit('a'), &behind, 0, 10);
        assert_eq!((ledger.clusters, ledger.on_head), (4, 2));
        let commits: Vec<(char, usize, Option<usize>)> =
            ledger.commits.iter().map(|l| (l.commit.chars().next().unwrap(), l.clusters, l.behind.commits)).collect();
        assert_eq!(commits, [('a', 2, Some(0)), ('b', 1, Some(1)), ('c', 1, Some(3))]);
        let lagging: Vec<&str> = ledger.lagging.items.iter().map(|l| l.cluster.as_str()).collect();
        assert_eq!(lagging, ["s4", "s3"]);
        assert_eq!(ledger.lagging.total, 2);
        let second = super::ledger(&index, "web", "prod", &commit('a'), &behind, 1, 10);
        assert_eq!(second.lagging.items.len(), 1);
        assert_eq!(second.lagging.items[0].cluster, "s3");
    }
}

#[cfg(test)]
mod governance_tests {
    use std::collections::BTreeMap;

    use flotilla_core::fleet::{Metadata, PolicySpec};
    use flotilla_core::report::Report;
    use serde_json::json;

    use super::*;
    use crate::index::Row;

    fn policy(name: &str, standards: &[&str], controls: &[&str], clusters: &serde_json::Value) -> Policy {
        let spec = json!({"standards": standards, "controls": controls, "categories": ["Network"],
            "severity": "high", "remediation": "inform", "clusters": clusters, "objects": []});
        Policy {
            metadata: Metadata { name: name.parse().unwrap(), labels: BTreeMap::new(), annotations: BTreeMap::new() },
            spec: serde_json::from_value::<PolicySpec>(spec).unwrap(),
            file: "fleet/policies.yaml".into(),
        }
    }

    /// pci-a under PCI 1.1 and 1.2, pci-b under PCI 1.2 and CIS 1.2 (both for stores), tag-c
    /// under no standard and for every cluster.
    fn policies() -> Vec<Policy> {
        let stores = json!({"matchLabels": {"kind": "store"}});
        vec![
            policy("pci-a", &["PCI"], &["1.1", "1.2"], &stores),
            policy("pci-b", &["PCI", "CIS"], &["1.2"], &stores),
            policy("tag-c", &[], &[], &json!({})),
        ]
    }

    type Results<'a> = &'a [(&'a str, Option<bool>, usize)];

    /// Name, environment, labels, when it last reported, its results.
    type Cluster<'a> = (&'a str, &'a str, &'a [(&'a str, &'a str)], Option<i64>, Results<'a>);

    /// Standard, control, its counts, and its policies with theirs.
    type Flat = (String, String, ComplianceCounts, Vec<(String, ComplianceCounts)>);

    /// The selector keys the index may keep: none (every view walks the clusters), the ones
    /// the policies select by (the views walk the cohorts, but for a filter by region), and
    /// those and region too.
    const KEYS: [&[&str]; 3] = [&[], &["kind"], &["kind", "region"]];

    fn governed(keys: &[&str]) -> Index {
        let mut index = Index::new(15_000);
        let rows: [Cluster; 7] = [
            (
                "s1",
                "prod",
                &[("kind", "store"), ("region", "eu")],
                Some(10_000),
                &[("pci-a", Some(true), 0), ("pci-b", Some(false), 2)],
            ),
            (
                "s2",
                "prod",
                &[("kind", "store"), ("region", "us")],
                Some(10_000),
                &[("pci-a", Some(false), 1), ("pci-b", None, 0)],
            ),
            (
                "s3",
                "prod",
                &[("kind", "store"), ("region", "eu")],
                Some(10_000),
                &[("pci-a", Some(true), 0), ("old-x", Some(true), 0)],
            ),
            ("s4", "prod", &[("kind", "cloud")], Some(10_000), &[]),
            ("s5", "dev", &[("kind", "store"), ("region", "eu")], Some(10_000), &[("pci-a", Some(false), 1)]),
            ("s6", "prod", &[("kind", "store"), ("region", "eu")], None, &[]),
            // Offline: its last result stands.
            ("s7", "prod", &[("kind", "store"), ("region", "us")], Some(0), &[("pci-a", Some(false), 3)]),
        ];
        for (change, (name, environment, labels, at, results)) in (1..).zip(rows) {
            let policies: Vec<serde_json::Value> = results
                .iter()
                .map(|(p, compliant, violations)| {
                    let violations: Vec<serde_json::Value> = (0..*violations)
                        .map(|i| json!({"object": format!("Pod/shop/p{i}"), "message": "no"}))
                        .collect();
                    json!({"name": p, "compliant": compliant, "violations": violations})
                })
                .collect();
            let report = json!({"version": 1, "cluster": name, "agentVersion": "0.1.0", "sequence": 1,
                "time": "2026-11-25T10:00:00Z", "placements": [], "policies": policies});
            index.update(&Row {
                name: name.into(),
                environment: environment.into(),
                labels: labels.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
                token_hash: None,
                registered_at_ms: 0,
                last_report_at_ms: at,
                last_report: at.map(|_| Report::from_json(report.to_string().as_bytes()).unwrap()),
                change,
                kubernetes: None,
            });
        }
        index.advance(20_000);
        index.set_selector_keys(keys.iter().copied());
        index
    }

    fn counts(compliant: usize, non_compliant: usize, unknown: usize, not_reported: usize) -> ComplianceCounts {
        ComplianceCounts { compliant, non_compliant, unknown, not_reported }
    }

    /// (standard, control, its counts, [(policy, its counts)]) in the view's order.
    fn flat(view: &Compliance) -> Vec<Flat> {
        view.standards
            .iter()
            .flat_map(|s| {
                s.controls.iter().map(|c| {
                    let policies = c.policies.iter().map(|p| (p.name.clone(), p.counts)).collect();
                    (s.name.clone(), c.name.clone(), c.counts, policies)
                })
            })
            .collect()
    }

    #[test]
    fn compliance_groups_by_standard_and_control_and_rolls_each_cluster_up_at_its_worst() {
        for keys in KEYS {
            let index = governed(keys);
            let view = compliance(&index, "prod", &policies(), &[]);
            assert_eq!(view.clusters, 6, "prod only: s5 is dev");
            let a = counts(2, 2, 0, 1);
            let b = counts(0, 1, 1, 3);
            let s = |t: &str| t.to_string();
            assert_eq!(
                flat(&view),
                [
                    (s("CIS"), s("1.2"), b, vec![(s("pci-b"), b)]),
                    (s("PCI"), s("1.1"), a, vec![(s("pci-a"), a)]),
                    // s1 (compliant, non-compliant), s2 (non-compliant, unknown) and s7
                    // (non-compliant, not reported) are non-compliant; s3 and s6 lack pci-b.
                    (s("PCI"), s("1.2"), counts(0, 3, 0, 2), vec![(s("pci-a"), a), (s("pci-b"), b)]),
                    (s(NO_STANDARD), s(NO_CONTROL), counts(0, 0, 0, 6), vec![(s("tag-c"), counts(0, 0, 0, 6))]),
                    (s(NOT_IN_FLEET), s(NO_CONTROL), counts(1, 0, 0, 0), vec![(s("old-x"), counts(1, 0, 0, 0))]),
                ]
            );
            let standards: Vec<(&str, ComplianceCounts)> =
                view.standards.iter().map(|s| (s.name.as_str(), s.counts)).collect();
            assert_eq!(standards[1], ("PCI", counts(0, 3, 0, 2)), "each cluster once over both policies");
            let old = &view.standards[3].controls[0].policies[0];
            assert!(!old.in_fleet && old.severity.is_none());
            assert_eq!(view.standards[1].controls[0].policies[0].severity, Some(flotilla_core::fleet::Severity::High));

            // Filtered by label: over the matching clusters only (s1, s3, s6).
            let eu = Filter::parse_labels("region=eu").unwrap();
            let view = compliance(&index, "prod", &policies(), &eu);
            assert_eq!((view.clusters, view.labels.as_str()), (3, "region=eu"));
            let rows = flat(&view);
            assert_eq!(rows[1].3, [(s("pci-a"), counts(2, 0, 0, 1))]);
            assert_eq!(rows[0].3, [(s("pci-b"), counts(0, 1, 0, 2))]);

            // Without the fleet's word, every reported policy is still shown.
            let view = compliance(&index, "prod", &[], &[]);
            let names: Vec<&str> = view.standards.iter().map(|s| s.name.as_str()).collect();
            assert_eq!(names, [NOT_IN_FLEET]);
            assert_eq!(view.standards[0].controls[0].policies.len(), 3);
        }
    }

    #[test]
    fn one_policy_lists_its_non_compliant_clusters_paged_and_filtered() {
        for keys in KEYS {
            let index = governed(keys);
            let catalog = policies();
            let a = compliance_policy(&index, "prod", "pci-a", Some(&catalog[0]), &[], 0, 10).unwrap();
            assert_eq!(a.counts, counts(2, 2, 0, 1), "the same counts as the whole view");
            let listed: Vec<(&str, u32, Standing)> =
                a.non_compliant.items.iter().map(|c| (c.name.as_str(), c.violations, c.standing)).collect();
            assert_eq!(listed, [("s2", 1, Standing::Synced), ("s7", 3, Standing::Offline)]);
            assert_eq!((a.standards.as_slice(), a.controls.len()), (["PCI".to_string()].as_slice(), 2));
            let second = compliance_policy(&index, "prod", "pci-a", Some(&catalog[0]), &[], 1, 1).unwrap();
            assert_eq!((second.non_compliant.total, second.non_compliant.items[0].name.as_str()), (2, "s7"));

            let us = Filter::parse_labels("region=us").unwrap();
            let a = compliance_policy(&index, "prod", "pci-a", Some(&catalog[0]), &us, 0, 10).unwrap();
            assert_eq!((a.counts, a.non_compliant.total), (counts(0, 2, 0, 0), 2));
            let eu = Filter::parse_labels("region=eu").unwrap();
            let a = compliance_policy(&index, "prod", "pci-a", Some(&catalog[0]), &eu, 0, 10).unwrap();
            assert_eq!((a.counts, a.non_compliant.total), (counts(2, 0, 0, 1), 0));

            // Declared and never reported; reported and no longer declared; neither.
            let c = compliance_policy(&index, "prod", "tag-c", Some(&catalog[2]), &[], 0, 10).unwrap();
            assert_eq!(c.counts, counts(0, 0, 0, 6));
            let old = compliance_policy(&index, "prod", "old-x", None, &[], 0, 10).unwrap();
            assert_eq!((old.in_fleet, old.counts), (false, counts(1, 0, 0, 0)));
            assert!(compliance_policy(&index, "prod", "nope", None, &[], 0, 10).is_none());
            let dev = compliance_policy(&index, "dev", "pci-a", Some(&catalog[0]), &[], 0, 10).unwrap();
            assert_eq!(dev.non_compliant.items[0].name, "s5");
        }
    }
}
