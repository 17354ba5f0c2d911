//! The views, as plain functions of the index (and of what git says, passed in): the fleet
//! summary, the cluster list, and the lag ledger. The same values serve the JSON API, the
//! dashboard and the command line.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

use crate::index::{ByStanding, Group, Index, Standing, Text};

/// Counts by standing, every standing present (zeros included) so the shape never changes.
pub type Counts = BTreeMap<&'static str, usize>;

/// The fleet summary.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Summary {
    pub clusters: usize,
    pub by_standing: Counts,
    pub by_environment: BTreeMap<String, Counts>,
    /// Per placement, its clusters by the placement's own state (offline clusters as offline).
    pub by_placement: BTreeMap<String, Counts>,
}

/// Counts every cluster by standing, environment and placement, as of the index's clock: read
/// from the index's tally, so it costs the same at ten clusters and at a million.
pub fn summary(index: &Index) -> Summary {
    let counts = |c: &ByStanding| Standing::ALL.iter().map(|s| (s.name(), c[s.slot()])).collect::<Counts>();
    let tally = index.tally();
    Summary {
        clusters: index.len(),
        by_standing: counts(&tally.by_standing),
        by_environment: tally.by_environment.iter().map(|(k, c)| (k.to_string(), counts(c))).collect(),
        by_placement: tally.by_placement.iter().map(|(k, c)| (k.to_string(), counts(c))).collect(),
    }
}

/// Which clusters a list shows.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    pub standing: Option<Standing>,
    pub environment: Option<String>,
    /// `key=value` pairs, all of which must match.
    pub labels: Vec<(String, String)>,
    pub placement: Option<String>,
}

impl Filter {
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

/// One page of a longer list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Page<T> {
    /// How many there are in all.
    pub total: usize,
    pub offset: usize,
    pub items: Vec<T>,
}

/// A cluster in a list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ClusterLine {
    pub name: String,
    pub environment: String,
    pub standing: Standing,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_report_at_ms: Option<i64>,
    pub placements: usize,
    /// Drifted, failed or unhealthy objects over all placements.
    pub problems: u32,
}

/// The clusters that pass `filter`, by name, from `offset`, at most `limit`. Walks the clusters
/// in name order and stops once the page is full when the total is known without looking
/// further (no filter, or only by state, which the tally counts).
pub fn clusters(index: &Index, filter: &Filter, offset: usize, limit: usize) -> Page<ClusterLine> {
    let narrowed = filter.environment.is_some() || !filter.labels.is_empty() || filter.placement.is_some();
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
        if filter.environment.as_deref().is_some_and(|env| *e.environment != *env)
            || !e.matches(&filter.labels)
            || !filter.placement.as_deref().is_none_or(|p| e.placements.iter().any(|x| *x.name == *p))
        {
            continue;
        }
        let standing = index.standing(e);
        if filter.standing.is_some_and(|f| f != standing) {
            continue;
        }
        if matched >= offset && items.len() < limit {
            items.push(ClusterLine {
                name: name.to_string(),
                environment: e.environment.to_string(),
                standing,
                last_report_at_ms: e.last_report_at_ms,
                placements: e.placements.len(),
                problems: e.placements.iter().map(|p| p.problems).sum(),
            });
        }
        matched += 1;
    }
    Page { total: known_total.unwrap_or(matched), offset, items }
}

/// How far a commit is behind a branch's head, as git says.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Behind {
    /// `None` when the commit is not on the branch's first-parent history the hub keeps.
    pub commits: Option<usize>,
    /// Unix seconds: when the first commit after it landed, that is since when it is behind.
    pub since: Option<i64>,
}

/// One commit some clusters run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LedgerLine {
    pub commit: String,
    pub clusters: usize,
    pub behind: Behind,
}

/// A cluster that does not run the head.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Lagging {
    pub cluster: String,
    /// What it runs (`None`: nothing applied yet).
    pub commit: Option<String>,
    pub behind: Behind,
    pub standing: Standing,
}

/// The lag ledger of one placement in one environment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
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
    /// The clusters not on the head, the furthest behind first, paged.
    pub lagging: Page<Lagging>,
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
            let standing = index.get(name).map_or(Standing::NeverReported, |e| index.standing(e));
            lagging.push(Lagging {
                cluster: name.to_string(),
                commit: commit.map(ToString::to_string),
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
        lagging: Page { total, offset, items: lagging },
    }
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
            });
        }
        index.advance(20_000);
        index
    }

    #[test]
    fn the_summary_counts_every_cluster_once_by_standing_environment_and_placement() {
        let s = summary(&fleet());
        assert_eq!(s.clusters, 6);
        let expect = |pairs: &[(&'static str, usize)]| {
            let mut c: Counts = Standing::ALL.iter().map(|s| (s.name(), 0)).collect();
            c.extend(pairs.iter().copied());
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
