//! Rollout progress per placement (`GET /api/v1/rollouts/{placement}`): per wave, how many
//! clusters run the commit their wave may take now, how many run the branch's head, how many
//! wait, and how many failed. The hub puts each cluster in its wave and finds each wave's
//! commit with the very functions the agents call (`flotilla_core::rollout::wave_of` and
//! `pick`), so the two agree. A commit's bake counts from when it reached the branch, as the
//! hub recorded it (the hub's `arrivals`), never from a date the commit carries; the answer
//! publishes those arrivals for the agents, whose own first sight of a commit is later than the
//! hub's and differs from cluster to cluster.
//!
//! With `rollout.halt`, it also says which commits the later waves may not take: per commit,
//! the clusters that failed on it (the store keeps them, also once they moved on) counted per
//! wave, and the first wave that is halted (`flotilla_core::rollout::halted_from`). Agents of a
//! later wave read this before taking a commit, with their own token.
//!
//! Computed from the index's group of the placement — a SHA-256 per cluster that reports the
//! placement — and kept for [`FRESH_MS`], so that a wave of agents asking at once costs one
//! computation.

use flotilla_core::fleet::{Placement, Rollout};
use flotilla_core::rollout::{self, Arrivals, HaltAnswer, Halted, Landed};
use flotilla_core::selector::Labels;
use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use crate::api::{Progress, Standing, WaveProgress};
use crate::git_view::Commit;
use crate::index::{Entry, Index, Text, standing_of};
use crate::records::Failure;

/// How long a computed progress is served again.
pub const FRESH_MS: i64 = 2_000;

/// How many of a branch's newest commits the hub publishes the arrivals of (the rollout answer
/// and `GET /api/v1/arrivals/{repository}`).
pub const PUBLISHED_ARRIVALS: usize = 100;

/// The progress of `placement` over the clusters of `environment` that report it, at `now`
/// (unix seconds), its source branch's first-parent `history` newest first and when those
/// commits reached the branch (`arrivals`: a commit without one arrives `now`, as for an agent's
/// first look, so that an unknown arrival never skips a bake), and the clusters that failed on
/// its commits. A placement without a rollout is one wave, everyone.
pub fn progress(
    index: &Index,
    placement: &Placement,
    environment: &str,
    history: &[Commit],
    arrivals: &Arrivals,
    failures: &[Failure],
    now: i64,
) -> Progress {
    let name = placement.name();
    let rollout = placement.spec.rollout.as_ref().filter(|r| !r.waves.is_empty());
    let bake = rollout.map_or(0, Rollout::bake_seconds);
    let ids: Vec<String> = history.iter().map(|c| c.id.to_string()).collect();
    let commits = ids.iter().zip(history).map(|(id, c)| (id.as_str(), c.tree.as_str()));
    let landed = Landed::dated(commits, |id| arrivals.at(id), now);
    let published: Vec<&str> = ids.iter().take(PUBLISHED_ARRIVALS).map(String::as_str).collect();
    let head = ids.first().cloned();
    let names: Vec<String> =
        rollout.map_or_else(|| vec!["everyone".to_string()], |r| r.waves.iter().map(|w| w.name.clone()).collect());
    let mut waves: Vec<WaveProgress> = names
        .into_iter()
        .enumerate()
        .map(|(i, wave)| WaveProgress {
            name: wave,
            clusters: 0,
            target: rollout::pick(&landed, i, bake, now).map(|c| c.commit.to_string()),
            head_reaches_it_at: landed
                .first()
                .map(|h| rollout::gate(h.at, i, bake))
                .filter(|gate| *gate > now)
                .map(flotilla_core::calendar::rfc3339),
            on_target: 0,
            on_head: 0,
            failed: 0,
            waiting: 0,
            halted: None,
        })
        .collect();
    // Which waves' selectors take a label set, once per distinct set (the index shares them).
    let mut selected: HashMap<*const [(Text, Text)], Vec<bool>> = HashMap::new();
    let mut wave_of = |cluster: &str, entry: &Entry| match rollout {
        None => 0,
        Some(r) => {
            let selected = selected.entry(Arc::as_ptr(&entry.labels)).or_insert_with(|| {
                let labels: Labels = entry.labels.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
                r.waves.iter().map(|w| w.clusters.as_ref().is_none_or(|s| s.matches(&labels))).collect()
            });
            rollout::wave_index(r, rollout::bucket(name, cluster), selected).unwrap_or(0)
        }
    };
    // The placement's clusters: looked up by name when they are few, else met walking the index
    // (a walk costs less than as many lookups).
    let group = index.group(environment, name);
    let members = group.map_or(0, |g| g.values().map(BTreeSet::len).sum::<usize>());
    let walk = members > index.len() / 4;
    let by_name = group.into_iter().flat_map(|g| g.values()).flatten().filter(|_| !walk);
    let looked_up = by_name.filter_map(|cluster| Some((cluster, index.get(cluster)?)));
    let walked = index.iter().filter(|_| walk).filter(|(_, entry)| *entry.environment == *environment);
    for (cluster, entry) in looked_up.chain(walked) {
        let Some(p) = entry.placements.iter().find(|p| *p.name == *name) else { continue };
        let w = &mut waves[wave_of(cluster, entry)];
        w.clusters += 1;
        let applied = p.applied_commit.as_deref();
        if applied.is_some() && applied == head.as_deref() {
            w.on_head += 1;
        }
        if applied.is_some() && applied == w.target.as_deref() {
            w.on_target += 1;
        } else if matches!(standing_of(p.state), Standing::Failed | Standing::Degraded) {
            w.failed += 1;
        } else {
            w.waiting += 1;
        }
    }
    let halt = rollout.and_then(|r| r.halt.as_ref()).map(|halt| {
        let clusters: Vec<usize> = waves.iter().map(|w| w.clusters).collect();
        let commits =
            halted(&ids, failures, &clusters, |cluster| index.get(cluster).map(|entry| wave_of(cluster, entry)));
        let limit = halt.max_failed;
        let mut commits: Vec<Halted> = commits
            .into_iter()
            .map(|(commit, failed)| {
                let from = rollout::halted_from(limit, &failed, &clusters);
                Halted { commit, failed, halted_from: from.map(|i| waves[i].name.clone()), halted_from_index: from }
            })
            .collect();
        commits.retain(|c| c.failed.iter().any(|n| *n > 0));
        HaltAnswer { max_failed: halt.max_failed.to_string(), commits }
    });
    if let Some(halt) = &halt {
        for (i, w) in waves.iter_mut().enumerate() {
            let holds = |c: &&Halted| Some(&c.commit) == w.target.as_ref() && c.holds_back(i);
            w.halted = halt.commits.iter().find(holds).map(|c| c.commit.clone());
        }
    }
    Progress {
        placement: name.to_string(),
        environment: environment.to_string(),
        head,
        bake_seconds: bake,
        waves,
        halt,
        arrivals: arrivals.of(&published),
    }
}

/// The failures per commit and wave: the commits of the branch (`ids`, newest first) in that
/// order, then those it no longer has; a failed cluster the index does not know (or that no
/// longer reports the placement's environment) is not counted.
fn halted(
    ids: &[String],
    failures: &[Failure],
    clusters: &[usize],
    mut wave: impl FnMut(&str) -> Option<usize>,
) -> Vec<(String, Vec<usize>)> {
    let mut by_commit: Vec<(String, Vec<usize>)> = Vec::new();
    for f in failures {
        let Some(w) = wave(&f.cluster) else { continue };
        let at = by_commit.iter().position(|(c, _)| *c == f.commit).unwrap_or_else(|| {
            by_commit.push((f.commit.clone(), vec![0; clusters.len()]));
            by_commit.len() - 1
        });
        by_commit[at].1[w] += 1;
    }
    let order = |commit: &str| ids.iter().position(|id| id == commit).unwrap_or(usize::MAX);
    by_commit.sort_by_key(|(commit, _)| order(commit));
    by_commit
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use flotilla_core::report::Report;

    use super::*;
    use crate::index::Row;

    /// Commit `id` (the character forty times) with its tree, committed long ago: only its
    /// arrival times a rollout.
    fn commit(id: char, tree: &str) -> Commit {
        Commit {
            id: id.to_string().repeat(40).parse::<flotilla_git::CommitId>().unwrap(),
            time: -30 * 86_400,
            tree: tree.into(),
            summary: String::new(),
        }
    }

    /// When each commit reached the branch.
    fn arrived(at: &[(char, i64)]) -> Arrivals {
        let mut arrivals = Arrivals::default();
        for (id, at) in at {
            arrivals.insert(&id.to_string().repeat(40), *at);
        }
        arrivals
    }

    fn placement() -> Placement {
        placement_with("")
    }

    fn placement_with(halt: &str) -> Placement {
        let yaml = format!(
            "apiVersion: flotilla.dev/v1alpha1\nkind: Placement\nmetadata: {{name: pos}}\nspec:\n  source: {{repository: app, path: pos}}\n  clusters: {{matchLabels: {{kind: store}}}}\n  rollout: {{waves: [{{name: canary, clusters: {{matchLabels: {{canary: \"true\"}}}}}}, {{name: everyone}}], bake: 2h{halt}}}\n"
        );
        let mut snapshot = flotilla_core::snapshot::Snapshot::new();
        snapshot.insert_file("fleet/p.yaml", yaml);
        let (fleet, errors) = flotilla_core::fleet::Fleet::from_snapshot(&snapshot);
        assert_eq!(errors, []);
        fleet.placements[0].clone()
    }

    fn row(name: &str, canary: bool, state: &str, applied: char, change: i64) -> Row {
        let json = format!(
            r#"{{"version":1,"cluster":"{name}","agentVersion":"0.1.0","sequence":1,"time":"2026-11-25T10:00:00Z",
            "placements":[{{"name":"pos","state":"{state}","appliedCommit":"{}","sourceCommit":"{}","health":"Healthy"}}]}}"#,
            applied.to_string().repeat(40),
            applied.to_string().repeat(40)
        );
        Row {
            name: name.into(),
            environment: "prod".into(),
            labels: BTreeMap::from([("kind".into(), "store".into()), ("canary".into(), canary.to_string())]),
            token_hash: None,
            registered_at_ms: 0,
            last_report_at_ms: Some(1),
            last_report: Some(Report::from_json(json.as_bytes()).unwrap()),
            change,
            kubernetes: None,
        }
    }

    #[test]
    fn each_wave_counts_who_runs_its_commit_the_head_waits_or_failed() {
        let h = 3_600;
        // a long ago; b reached the branch at 10:00; now is 11:00: canaries may run b, everyone
        // else a.
        let history = [commit('b', "tb"), commit('a', "ta")];
        let arrivals = arrived(&[('b', 10 * h), ('a', 0)]);
        let mut index = Index::new(i64::MAX);
        index.update(&row("s1", true, "Synced", 'b', 1));
        index.update(&row("s2", true, "Failed", 'a', 2));
        index.update(&row("s3", false, "Synced", 'a', 3));
        index.update(&row("s4", false, "Progressing", 'b', 4));
        let view = progress(&index, &placement(), "prod", &history, &arrivals, &[], 11 * h);
        assert_eq!(view.head.as_deref(), Some("b".repeat(40).as_str()));
        let canary = &view.waves[0];
        assert_eq!(canary.target.as_deref(), Some("b".repeat(40).as_str()));
        assert_eq!((canary.clusters, canary.on_target, canary.on_head, canary.failed, canary.waiting), (2, 1, 1, 1, 0));
        assert_eq!(canary.head_reaches_it_at, None);
        let everyone = &view.waves[1];
        assert_eq!(everyone.target.as_deref(), Some("a".repeat(40).as_str()));
        assert_eq!((everyone.clusters, everyone.on_target, everyone.on_head, everyone.waiting), (2, 1, 1, 1));
        assert_eq!(everyone.head_reaches_it_at.as_deref(), Some("1970-01-01T12:00:00Z"));
        let published: Vec<(char, i64)> =
            view.arrivals.iter().map(|a| (a.commit.chars().next().unwrap(), a.at)).collect();
        assert_eq!(published, [('b', 10 * h), ('a', 0)]);
    }

    #[test]
    fn a_commit_bakes_from_its_arrival_and_an_unknown_arrival_is_now() {
        let h = 3_600;
        let index = Index::new(i64::MAX);
        // b and c were committed a month ago and fast-forwarded onto the branch at 10:00.
        let history = [commit('c', "tc"), commit('b', "tb"), commit('a', "ta")];
        let view =
            progress(&index, &placement(), "prod", &history, &arrived(&[('c', 10 * h), ('b', 10 * h)]), &[], 11 * h);
        let targets: Vec<Option<&str>> = view.waves.iter().map(|w| w.target.as_deref()).collect();
        assert_eq!(targets, [Some("c".repeat(40).as_str()), None], "a's arrival is unknown: it arrives now");
        assert_eq!(view.waves[1].head_reaches_it_at.as_deref(), Some("1970-01-01T12:00:00Z"));
        let view = progress(
            &index,
            &placement(),
            "prod",
            &history,
            &arrived(&[('c', 10 * h), ('b', 10 * h), ('a', 0)]),
            &[],
            11 * h,
        );
        assert_eq!(view.waves[1].target.as_deref(), Some("a".repeat(40).as_str()));
        // Nothing recorded at all: every commit arrives now, the head reaches the last wave a bake later.
        let view = progress(&index, &placement(), "prod", &history, &Arrivals::default(), &[], 11 * h);
        assert_eq!(view.waves[1].head_reaches_it_at.as_deref(), Some("1970-01-01T13:00:00Z"));
        assert_eq!(view.arrivals, []);
    }

    #[test]
    fn failures_on_a_commit_hold_it_back_from_the_later_waves_until_a_fix() {
        let h = 3_600;
        let failure = |cluster: &str, commit: char| Failure {
            cluster: cluster.into(),
            commit: commit.to_string().repeat(40),
            at_ms: 0,
        };
        // b arrived at 0 and baked; c, the fix, arrived at 3 h; now is 4 h: everyone may run b.
        let history = [commit('c', "tc"), commit('b', "tb"), commit('a', "ta")];
        let arrivals = arrived(&[('c', 3 * h), ('b', 0), ('a', -10 * h)]);
        let mut index = Index::new(i64::MAX);
        index.update(&row("s1", true, "Synced", 'c', 1));
        index.update(&row("s2", true, "Synced", 'c', 2));
        index.update(&row("s3", false, "Synced", 'a', 3));
        let pos = placement_with(", halt: {maxFailed: 40%}");
        // Both canaries failed on b before they took c; a cluster the index lacks is not counted.
        let failures = [failure("s1", 'b'), failure("s2", 'b'), failure("gone", 'b')];
        let view = progress(&index, &pos, "prod", &history, &arrivals, &failures, 4 * h);
        let halt = view.halt.as_ref().unwrap();
        assert_eq!(halt.max_failed, "40%");
        assert_eq!(halt.commits.len(), 1);
        let b = &halt.commits[0];
        assert_eq!((b.failed.as_slice(), b.halted_from.as_deref()), (&[2, 0][..], Some("everyone")));
        assert!(!b.holds_back(0) && b.holds_back(1));
        assert_eq!(view.waves[1].target.as_deref(), Some("b".repeat(40).as_str()));
        assert_eq!(view.waves[1].halted.as_deref(), Some("b".repeat(40).as_str()));
        assert_eq!(view.waves[0].halted, None);
        // With one failure allowed (a count) and one canary failed, b may go on.
        let view = progress(
            &index,
            &placement_with(", halt: {maxFailed: 1}"),
            "prod",
            &history,
            &arrivals,
            &failures[..1],
            4 * h,
        );
        let b = &view.halt.as_ref().unwrap().commits[0];
        assert_eq!((b.failed.as_slice(), b.halted_from.as_deref()), (&[1, 0][..], None));
        assert_eq!(view.waves[1].halted, None);
        // At 5 h c reaches everyone: the fix, which nobody failed on, is the target.
        let view = progress(&index, &pos, "prod", &history, &arrivals, &failures, 5 * h);
        assert_eq!(view.waves[1].target.as_deref(), Some("c".repeat(40).as_str()));
        assert_eq!(view.waves[1].halted, None);
        // No halt configured: none published.
        assert_eq!(progress(&index, &placement(), "prod", &history, &arrivals, &failures, 4 * h).halt, None);
    }

    #[test]
    fn the_hub_puts_every_cluster_in_the_wave_the_agent_computes() {
        let yaml = "apiVersion: flotilla.dev/v1alpha1\nkind: Placement\nmetadata: {name: pos}\nspec:\n  source: {repository: app, path: pos}\n  clusters: {matchLabels: {kind: store}}\n  rollout: {waves: [{name: canary, clusters: {matchLabels: {canary: \"true\"}}}, {name: eu-first, percent: 20, clusters: {matchExpressions: [{key: region, operator: In, values: [eu]}]}}, {name: early, percent: 10}, {name: everyone}]}\n";
        let mut snapshot = flotilla_core::snapshot::Snapshot::new();
        snapshot.insert_file("fleet/p.yaml", yaml);
        let (fleet, errors) = flotilla_core::fleet::Fleet::from_snapshot(&snapshot);
        assert_eq!(errors, []);
        let pos = &fleet.placements[0];
        let mut index = Index::new(i64::MAX);
        let mut expected = [0_usize; 4];
        for i in 0..2_000_i64 {
            let name = format!("store-{i:05}");
            let mut r = row(&name, i % 97 == 0, "Synced", 'a', i + 1);
            r.labels.insert("region".into(), ["eu", "us", "apac"][usize::try_from(i % 3).unwrap()].into());
            let identity = flotilla_core::fleet::ClusterIdentity {
                name: name.parse().unwrap(),
                environment: "prod".into(),
                labels: r.labels.clone(),
            };
            expected[rollout::wave_of(pos.spec.rollout.as_ref().unwrap(), "pos", &identity).unwrap().index] += 1;
            index.update(&r);
        }
        let view = progress(&index, pos, "prod", &[commit('a', "ta")], &arrived(&[('a', 0)]), &[], 0);
        let counted: Vec<usize> = view.waves.iter().map(|w| w.clusters).collect();
        assert_eq!(counted, expected);
        assert!(expected.iter().all(|n| *n > 0), "every wave has clusters: {expected:?}");
    }
}
