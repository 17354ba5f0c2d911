//! Preview (`GET /api/v1/preview?ref=REF&repository=NAME&environment=prod`): what moving one
//! repository's environment branch to another commit — merging `dev` into `prod` — would do to
//! the clusters of that environment, before it is done. Which clusters would change, grouped by
//! placement and the change they would go through, and for one cluster of each group the
//! object-level diff between what it runs now and what it would run.
//!
//! Clusters are grouped by the digest they would render to first; then groups whose diff is
//! the same once each cluster's own values are put back as the `${cluster.*}` names they came
//! from (see [`same_change`]) are one: with `substitute: true` every store renders its own
//! digest, and a release is one group of all of them with one diff, not a group per store.
//!
//! The clusters are those the index knows in the environment (registered and declared); what
//! each runs now is its last report's applied digest (else its desired one). What it would run is
//! rendered by [`FleetView::preview`] with the same memo as the expected digests, so a fleet of
//! thousands of stores costs a render per distinct input. A cluster that never reported runs
//! nothing known: every placement it would get is "added".
//!
//! Not a dry run of the agents: signatures (`verify`), rollout waves, windows and pauses are
//! not applied — a preview says what the commit renders to, not when or whether an agent takes
//! it. Nor a merge: the branch is taken to be at the ref's commit, as a fast-forward would put
//! it; commits only the environment branch has (a hotfix on prod) are not in the preview.
//! Rendering reads git (blocking), so the handler runs it off the async runtime with the index
//! data copied out of the lock first.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::sync::Arc;

use flotilla_core::fleet::ClusterIdentity;
use flotilla_core::render;
use flotilla_core::report::Kubernetes;
use serde_json::Value;
use similar::{Algorithm, ChangeTag, DiffOp};

use crate::api::{Change, Diff, Group, ObjectDiff, Preview};
use crate::git_view::{FleetView, Scenario, render_options};
use crate::index::{Index, Labels, Placements, Text};

/// How many cluster names a group lists.
pub const NAMES: usize = 20;

/// How many groups get a diff (the largest first); the others list their clusters only.
pub const DIFFS: usize = 50;

/// How many groups of one digest are diffed to be grouped by their change; past this many
/// (a fleet of many distinct renders), the rest stay grouped by digest.
pub const MERGED: usize = 5_000;

/// How many lines one object's diff shows at most.
pub const MAX_LINES: usize = 200;

/// Unchanged lines shown around each change.
pub const CONTEXT: usize = 3;

/// Beyond this many cells (old lines × new lines, once the common start and end are set aside)
/// the line diff does not align the middle (Myers' time grows with both) and shows it as
/// removed, then added.
const MAX_CELLS: usize = 1_000_000;

/// One cluster as the index knows it, copied out of the index's lock.
#[derive(Debug, Clone)]
pub struct Known {
    pub name: Text,
    pub labels: Labels,
    /// Whether it ever reported.
    pub reported: bool,
    /// Its placements as its last report listed them.
    pub placements: Placements,
    /// Its Kubernetes as its reports last said it: what its charts' `.Capabilities` read.
    pub kubernetes: Option<Arc<Kubernetes>>,
}

/// The clusters of `environment` in `index`, by name (cheap: shared values are shared).
pub fn known(index: &Index, environment: &str) -> Vec<Known> {
    index
        .iter()
        .filter(|(_, e)| &*e.environment == environment)
        .map(|(name, e)| Known {
            name: name.clone(),
            labels: e.labels.clone(),
            reported: e.last_report_at_ms.is_some(),
            placements: e.placements.clone(),
            kubernetes: e.kubernetes.clone(),
        })
        .collect()
}

/// A group as it is collected: its clusters, and the first one's identity and what it runs.
struct Collecting {
    source_commit: Option<String>,
    clusters: usize,
    names: Vec<String>,
    /// The first cluster, what it runs and how the hub renders for it.
    first: (ClusterIdentity, Option<String>, Arc<render::Options>),
}

/// Groups by placement, change and the digest (or error) it would render to.
type GroupKey = (String, Change, Option<String>);

/// Previews `scenario` over `clusters` (in name order; see [`known`]). Blocking: renders.
pub fn preview(view: &FleetView, scenario: &Scenario, clusters: &[Known]) -> Preview {
    let mut groups: HashMap<GroupKey, Collecting> = HashMap::new();
    let (mut would_change, mut would_fail, mut unchanged) = (0, 0, 0);
    // How to render for the cluster's Kubernetes: made once for each run of clusters alike.
    let mut made: Option<(Option<Arc<Kubernetes>>, Arc<render::Options>)> = None;
    for cluster in clusters {
        let options = match &made {
            Some((kubernetes, options)) if *kubernetes == cluster.kubernetes => Arc::clone(options),
            _ => {
                let options = Arc::new(render_options(cluster.kubernetes.as_deref()));
                made = Some((cluster.kubernetes.clone(), Arc::clone(&options)));
                options
            }
        };
        let labels: BTreeMap<String, String> =
            cluster.labels.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        let name = cluster.name.parse().expect("the index holds the names of reports, which were read by the rule");
        let identity = ClusterIdentity { name, environment: scenario.environment.clone(), labels };
        let running: BTreeMap<&str, (Option<&str>, Option<&str>)> = cluster
            .placements
            .iter()
            .map(|p| {
                let digest = p.applied_digest.as_deref().or(p.desired_digest.as_deref());
                let commit = p.applied_commit.as_deref().or(p.source_commit.as_deref());
                (&*p.name, (digest, commit))
            })
            .collect();
        let (mut changes, mut fails) = (false, false);
        let mut add = |key: GroupKey, source_commit: Option<String>, commit: Option<&str>| {
            let group = groups.entry(key).or_insert_with(|| Collecting {
                source_commit,
                clusters: 0,
                names: Vec::new(),
                first: (identity.clone(), commit.map(ToString::to_string), Arc::clone(&options)),
            });
            group.clusters += 1;
            if group.names.len() < NAMES {
                group.names.push(cluster.name.to_string());
            }
        };
        let expected = view.preview(scenario, &identity, &options);
        for e in &expected {
            let now = running.get(e.placement.as_str());
            let commit = now.and_then(|(_, c)| *c);
            let source_commit = e.source_commit.map(|c| c.to_string());
            if let Some(error) = &e.error {
                fails = true;
                add((e.placement.clone(), Change::Failed, Some(error.clone())), source_commit, commit);
            } else if !cluster.reported || now.is_none() {
                changes = true;
                add((e.placement.clone(), Change::Added, e.digest.clone()), source_commit, commit);
            } else if now.and_then(|(d, _)| *d) != e.digest.as_deref() {
                changes = true;
                add((e.placement.clone(), Change::Changed, e.digest.clone()), source_commit, commit);
            }
        }
        for (placement, (_, commit)) in &running {
            if !expected.iter().any(|e| e.placement == *placement) {
                changes = true;
                add(((*placement).to_string(), Change::Removed, None), None, *commit);
            }
        }
        would_change += usize::from(changes);
        would_fail += usize::from(fails);
        unchanged += usize::from(!changes && !fails);
    }
    let groups = merge(view, scenario, groups);
    Preview {
        environment: scenario.environment.clone(),
        repository: scenario.repository.clone(),
        reference: scenario.reference.clone(),
        commit: scenario.commit.to_string(),
        warnings: scenario.warnings.clone(),
        clusters: clusters.len(),
        would_change,
        would_fail,
        unchanged,
        groups,
    }
}

/// The groups, largest first, those of one placement, change and source commit whose diffs are
/// the same up to each cluster's own values ([`same_change`]) made one; the first [`DIFFS`]
/// with their diff.
fn merge(view: &FleetView, scenario: &Scenario, groups: HashMap<GroupKey, Collecting>) -> Vec<Group> {
    let mut groups: Vec<(GroupKey, Collecting)> = groups.into_iter().collect();
    groups.sort_by(|(ka, a), (kb, b)| b.clusters.cmp(&a.clusters).then_with(|| ka.cmp(kb)));
    let mut merged: Vec<Group> = Vec::new();
    // By placement, change, source commit and the diff with each cluster's own values named:
    // the group they join.
    let mut by_change: HashMap<(String, Change, Option<String>, String), usize> = HashMap::new();
    for (i, ((placement, change, outcome), c)) in groups.into_iter().enumerate() {
        let (digest, error) = if change == Change::Failed { (None, outcome) } else { (outcome, None) };
        let diff = (i < MERGED.max(DIFFS) && change != Change::Failed)
            .then(|| diff(view, scenario, &placement, change, &c.first.0, c.first.1.as_deref(), &c.first.2));
        if let Some(d) = &diff {
            let key = (placement.clone(), change, c.source_commit.clone(), same_change(d, &c.first.0));
            if let Some(&at) = by_change.get(&key) {
                let group: &mut Group = &mut merged[at];
                group.clusters += c.clusters;
                group.digests += 1;
                group.names.extend(c.names);
                group.names.sort();
                group.names.truncate(NAMES);
                continue;
            }
            by_change.insert(key, merged.len());
        }
        merged.push(Group {
            placement,
            change,
            digest,
            digests: 1,
            source_commit: c.source_commit,
            error,
            clusters: c.clusters,
            names: c.names,
            diff,
        });
    }
    merged.sort_by(|a, b| {
        b.clusters
            .cmp(&a.clusters)
            .then_with(|| (&a.placement, a.change, &a.digest).cmp(&(&b.placement, b.change, &b.digest)))
    });
    for group in merged.iter_mut().skip(DIFFS) {
        group.diff = None;
    }
    merged
}

/// The diff `d` of the cluster `identity` as text, with the cluster's own values — its name,
/// environment and label values, as `${cluster.*}` substitutes them — put back as the names
/// they came from, longest first: two clusters whose diffs are the same but for their own
/// values give the same text. Values shorter than three characters are left as they are (a
/// label `tier=1` would otherwise name every 1 in the diff).
pub fn same_change(d: &Diff, identity: &ClusterIdentity) -> String {
    let mut values: Vec<(&str, String)> = [
        (identity.name.as_str(), "${cluster.name}".to_string()),
        (identity.environment.as_str(), "${cluster.environment}".to_string()),
    ]
    .into_iter()
    .chain(identity.labels.iter().map(|(k, v)| (v.as_str(), format!("${{cluster.labels.{k}}}"))))
    .filter(|(v, _)| v.len() >= 3)
    .collect();
    values.sort_by(|a, b| b.0.len().cmp(&a.0.len()).then_with(|| a.1.cmp(&b.1)));
    let mut text = serde_json::to_string(&(&d.from_commit, &d.to_commit, &d.objects, d.unchanged, &d.error))
        .expect("a diff serializes");
    for (value, name) in values {
        text = text.replace(value, &name);
    }
    text
}

/// The diff of one cluster for one placement: what it runs now against what it would run.
fn diff(
    view: &FleetView,
    scenario: &Scenario,
    placement: &str,
    change: Change,
    identity: &ClusterIdentity,
    running: Option<&str>,
    options: &render::Options,
) -> Diff {
    let mut diff = Diff {
        cluster: identity.name.to_string(),
        from_commit: None,
        to_commit: None,
        objects: Vec::new(),
        unchanged: 0,
        error: None,
    };
    let now = if change == Change::Added {
        Ok(Vec::new())
    } else {
        view.current_objects(&scenario.environment, identity, placement, running, options).map(|(commit, objects)| {
            diff.from_commit = Some(commit.to_string());
            objects
        })
    };
    let then = if change == Change::Removed {
        Ok(Vec::new())
    } else {
        view.preview_objects(scenario, identity, placement, options).map(|(commit, objects)| {
            diff.to_commit = Some(commit.to_string());
            objects
        })
    };
    match (now, then) {
        (Ok(now), Ok(then)) => (diff.objects, diff.unchanged) = object_diff(&now, &then),
        (Err(e), _) => diff.error = Some(format!("rendering what it runs now: {e}")),
        (_, Err(e)) => diff.error = Some(format!("rendering what it would run: {e}")),
    }
    diff
}

/// An object's identity: apiVersion, kind, namespace, name.
type ObjectKey = (String, String, Option<String>, String);

fn object_key(object: &Value) -> ObjectKey {
    let text = |v: &Value| v.as_str().unwrap_or_default().to_string();
    let metadata = &object["metadata"];
    (
        text(&object["apiVersion"]),
        text(&object["kind"]),
        metadata["namespace"].as_str().map(ToString::to_string),
        text(&metadata["name"]),
    )
}

/// The objects added, removed (after the others) and changed between two renders, and how
/// many are the same; a changed object's YAML as a line diff.
pub fn object_diff(old: &[Value], new: &[Value]) -> (Vec<ObjectDiff>, usize) {
    let before: HashMap<ObjectKey, &Value> = old.iter().map(|o| (object_key(o), o)).collect();
    let after: HashMap<ObjectKey, &Value> = new.iter().map(|o| (object_key(o), o)).collect();
    let entry = |(api_version, kind, namespace, name): ObjectKey, change, lines: Vec<String>| {
        let clipped = lines.len() > MAX_LINES;
        let lines = lines.into_iter().take(MAX_LINES).collect();
        ObjectDiff { api_version, kind, namespace, name, change, lines, clipped }
    };
    let mut objects = Vec::new();
    let mut unchanged = 0;
    for object in new {
        let key = object_key(object);
        match before.get(&key) {
            None => objects.push(entry(key, Change::Added, Vec::new())),
            Some(was) if *was == object => unchanged += 1,
            Some(was) => {
                let (was, is) = (flotilla_core::yaml::to_string(was), flotilla_core::yaml::to_string(object));
                objects.push(entry(key, Change::Changed, line_diff(&was, &is, CONTEXT)));
            }
        }
    }
    for object in old {
        let key = object_key(object);
        if !after.contains_key(&key) {
            objects.push(entry(key, Change::Removed, Vec::new()));
        }
    }
    (objects, unchanged)
}

/// One step of an edit script.
/// The lines of `old` and `new` as a unified diff: each hunk an `@@ -l,n +l,n @@` header and
/// its lines prefixed ` ` (kept), `-` (removed) or `+` (added), with `context` kept lines
/// around each change. Empty when they are equal. The edit script is `similar`'s (Myers), the
/// common start and end set aside first; past `MAX_CELLS` the middle is removed, then added.
pub fn line_diff(old: &str, new: &str, context: usize) -> Vec<String> {
    let a: Vec<&str> = old.lines().collect();
    let b: Vec<&str> = new.lines().collect();
    let mut out = Vec::new();
    for hunk in similar::group_diff_ops(edits(&a, &b), context) {
        let (Some(first), Some(last)) = (hunk.first(), hunk.last()) else { continue };
        let (old_start, old_count) = (first.old_range().start, last.old_range().end - first.old_range().start);
        let (new_start, new_count) = (first.new_range().start, last.new_range().end - first.new_range().start);
        // As `diff -u` numbers an empty side: the line before it.
        let from_one = |start: usize, count: usize| if count == 0 { start } else { start + 1 };
        out.push(format!(
            "@@ -{},{old_count} +{},{new_count} @@",
            from_one(old_start, old_count),
            from_one(new_start, new_count)
        ));
        for op in &hunk {
            // A replaced line: removed lines before added ones, as `diff` shows it.
            out.extend(op.iter_changes(&a, &b).map(|change| {
                let sign = match change.tag() {
                    ChangeTag::Equal => ' ',
                    ChangeTag::Delete => '-',
                    ChangeTag::Insert => '+',
                };
                format!("{sign}{}", change.value())
            }));
        }
    }
    out
}

/// The edit script from `old` to `new`: `similar`'s Myers diff, unless the lines between the
/// common start and end are too many to align ([`MAX_CELLS`]), when they are removed, then added.
fn edits(old: &[&str], new: &[&str]) -> Vec<DiffOp> {
    let prefix = old.iter().zip(new).take_while(|(x, y)| x == y).count();
    let suffix = old[prefix..].iter().rev().zip(new[prefix..].iter().rev()).take_while(|(x, y)| x == y).count();
    let (rows, cols) = (old.len() - prefix - suffix, new.len() - prefix - suffix);
    if rows.saturating_mul(cols) <= MAX_CELLS {
        return similar::capture_diff_slices(Algorithm::Myers, old, new);
    }
    let mut ops = Vec::new();
    if prefix > 0 {
        ops.push(DiffOp::Equal { old_index: 0, new_index: 0, len: prefix });
    }
    ops.push(DiffOp::Delete { old_index: prefix, old_len: rows, new_index: prefix });
    ops.push(DiffOp::Insert { old_index: prefix + rows, new_index: prefix, new_len: cols });
    if suffix > 0 {
        ops.push(DiffOp::Equal { old_index: prefix + rows, new_index: prefix + cols, len: suffix });
    }
    ops
}

/// The summary line the command line and the dashboard start with.
pub fn summary(p: &Preview) -> String {
    let mut out = format!(
        "{} at {} ({}) in {}: {} of {} clusters would change, {} would fail to render, {} unchanged",
        p.repository,
        p.reference,
        p.commit.get(..12).unwrap_or(&p.commit),
        p.environment,
        p.would_change,
        p.clusters,
        p.would_fail,
        p.unchanged
    );
    if !p.warnings.is_empty() {
        let _ = write!(out, "; {} broken fleet documents", p.warnings.len());
    }
    out
}

/// The preview as the command line prints it: the summary, the groups, then each diff.
pub fn table(p: &Preview) -> String {
    let mut out = summary(p);
    out.push_str("\n\n");
    for w in &p.warnings {
        let _ = writeln!(out, "broken fleet document: {w}");
    }
    if p.groups.is_empty() {
        out.push_str("No cluster would change.\n");
        return out;
    }
    let short =
        |c: &Option<String>, n: usize| c.as_deref().map_or("-".to_string(), |c| c.get(..n).unwrap_or(c).to_string());
    let rows: Vec<Vec<String>> = p
        .groups
        .iter()
        .map(|g| {
            let mut names = g.names.join(",");
            if g.clusters > g.names.len() {
                let _ = write!(names, " and {} more", g.clusters - g.names.len());
            }
            vec![
                g.placement.clone(),
                change_word(g.change).to_string(),
                g.error.clone().unwrap_or_else(|| short(&g.digest, 19)),
                short(&g.source_commit, 12),
                g.clusters.to_string(),
                names,
            ]
        })
        .collect();
    out.push_str(&crate::table::columns(
        &["PLACEMENT", "CHANGE", "DIGEST", "COMMIT", "CLUSTERS", "FIRST CLUSTERS"],
        &rows,
    ));
    for g in &p.groups {
        let Some(d) = &g.diff else { continue };
        let _ = writeln!(
            out,
            "\n{} {} on {} (from {} to {}; unchanged objects: {})",
            g.placement,
            change_word(g.change),
            d.cluster,
            short(&d.from_commit, 12),
            short(&d.to_commit, 12),
            d.unchanged
        );
        if let Some(e) = &d.error {
            let _ = writeln!(out, "  {e}");
        }
        for o in &d.objects {
            let namespace = o.namespace.as_deref().map(|n| format!("{n}/")).unwrap_or_default();
            let _ = writeln!(out, "  {} {} {namespace}{} ({})", change_word(o.change), o.kind, o.name, o.api_version);
            for line in &o.lines {
                let _ = writeln!(out, "    {line}");
            }
            if o.clipped {
                let _ = writeln!(out, "    … clipped at {MAX_LINES} lines");
            }
        }
    }
    out
}

/// A change as the API names it.
pub fn change_word(change: Change) -> &'static str {
    match change {
        Change::Changed => "changed",
        Change::Added => "added",
        Change::Removed => "removed",
        Change::Failed => "failed",
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn a_line_diff_keeps_context_around_each_change_and_numbers_its_hunks() {
        let old = "a\nb\nc\nd\ne\nf\ng\nh\ni\nj\nk\nl\n";
        let new = "a\nB\nc\nd\ne\nf\ng\nh\ni\nj\nk\nl\nm\n";
        assert_eq!(
            line_diff(old, new, 2),
            ["@@ -1,4 +1,4 @@", " a", "-b", "+B", " c", " d", "@@ -11,2 +11,3 @@", " k", " l", "+m"]
        );
        // Close changes share a hunk.
        assert_eq!(
            line_diff("a\nb\nc\nd\n", "A\nb\nc\nD\n", 1),
            ["@@ -1,4 +1,4 @@", "-a", "+A", " b", " c", "-d", "+D"]
        );
        assert_eq!(line_diff("same\n", "same\n", 3), Vec::<String>::new());
        // From nothing, and to nothing, numbered as `diff -u` does.
        assert_eq!(line_diff("", "x\ny\n", 3), ["@@ -0,0 +1,2 @@", "+x", "+y"]);
        assert_eq!(line_diff("x\n", "", 3), ["@@ -1,1 +0,0 @@", "-x"]);
    }

    #[test]
    fn a_line_diff_keeps_the_longest_common_subsequence() {
        // An insertion in the middle is one added line, not a cascade of changes.
        let lines = line_diff("a\nb\nc\nd\n", "a\nb\nx\nc\nd\n", 0);
        assert_eq!(lines, ["@@ -2,0 +3,1 @@", "+x"]);
        // A moved line: one removed, one added, the rest kept.
        let lines = line_diff("1\n2\n3\n4\n5\n", "2\n3\n4\n1\n5\n", 9);
        assert_eq!(lines, ["@@ -1,5 +1,5 @@", "-1", " 2", " 3", " 4", "+1", " 5"]);
    }

    #[test]
    fn a_line_diff_too_large_to_align_shows_the_middle_removed_then_added() {
        let lines = |word: &str| {
            (0..1_200).fold(String::new(), |mut s, i| {
                let _ = writeln!(s, "{word} {i}");
                s
            })
        };
        let (old, new) = (lines("old"), lines("new"));
        let lines = line_diff(&format!("head\n{old}tail\n"), &format!("head\n{new}tail\n"), 1);
        assert_eq!(lines[0], "@@ -1,1202 +1,1202 @@");
        assert_eq!((lines[1].as_str(), lines[2].as_str(), lines[1202].as_str()), (" head", "-old 0", "+new 0"));
        assert_eq!(lines.last().map(String::as_str), Some(" tail"));
    }

    #[test]
    fn objects_are_matched_by_kind_namespace_and_name() {
        let cm = |name: &str, version: &str| {
            json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "namespace": "shop"},
                "data": {"version": version}})
        };
        let ns = json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "shop"}});
        let old = [ns.clone(), cm("web", "1"), cm("gone", "1")];
        let new = [ns, cm("web", "2"), cm("fresh", "1")];
        let (objects, unchanged) = object_diff(&old, &new);
        assert_eq!(unchanged, 1);
        let what: Vec<(&str, Change)> = objects.iter().map(|o| (o.name.as_str(), o.change)).collect();
        assert_eq!(what, [("web", Change::Changed), ("fresh", Change::Added), ("gone", Change::Removed)]);
        let web = &objects[0];
        assert_eq!(web.namespace.as_deref(), Some("shop"));
        assert!(web.lines.contains(&"-  version: \"1\"".to_string()), "{:?}", web.lines);
        assert!(web.lines.contains(&"+  version: \"2\"".to_string()), "{:?}", web.lines);
        assert!(!web.clipped && objects[1].lines.is_empty());
    }

    #[test]
    fn a_long_object_diff_is_clipped_and_says_so() {
        let big = |v: &str| {
            let data: serde_json::Map<String, Value> = (0..300).map(|i| (format!("k{i:03}"), json!(v))).collect();
            json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "big"}, "data": data})
        };
        let (objects, _) = object_diff(&[big("a")], &[big("b")]);
        assert_eq!(objects[0].lines.len(), MAX_LINES);
        assert!(objects[0].clipped);
    }
}
