//! The in-memory index the views read: one small entry per cluster, its placements' states and
//! commits, kept up to date from the store's change numbers (so several hub processes sharing
//! one PostgreSQL each see every report). Commits, digests, placement names and labels are
//! interned: a million clusters running a handful of commits share those strings.
//!
//! Not the report history or the evidence (the store answers those), and not git (the views
//! take what the fleet says as arguments).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;

use flotilla_core::health::Health;
use flotilla_core::report::{PlacementReport, Report, SyncState};
use serde::Serialize;

use crate::fleet::DeclaredCluster;

/// A shared string.
pub type Text = Arc<str>;

/// What the store says of one cluster (a row changed since the index last looked).
#[derive(Debug, Clone)]
pub struct Row {
    pub name: String,
    pub environment: String,
    pub labels: BTreeMap<String, String>,
    pub registered_at_ms: i64,
    pub last_report_at_ms: Option<i64>,
    pub last_report: Option<Report>,
}

/// One placement of one cluster, as its last report said.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlacementEntry {
    pub name: Text,
    pub state: SyncState,
    pub health: Health,
    pub source_commit: Option<Text>,
    pub desired_digest: Option<Text>,
    pub applied_commit: Option<Text>,
    pub applied_digest: Option<Text>,
    /// How many objects the report listed as drifted, failed or unhealthy.
    pub problems: u32,
}

/// One cluster.
#[derive(Debug, Clone, Default)]
pub struct Entry {
    pub environment: Text,
    pub labels: BTreeMap<Text, Text>,
    pub registered: bool,
    pub declared: bool,
    pub last_report_at_ms: Option<i64>,
    pub placements: Vec<PlacementEntry>,
}

/// Where a cluster stands, for the summary: offline is kept apart from failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
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
}

/// The standing a placement state gives.
pub fn standing_of(state: SyncState) -> Standing {
    match state {
        SyncState::Synced => Standing::Synced,
        SyncState::Degraded => Standing::Degraded,
        SyncState::Failed | SyncState::SourceUnreachable | SyncState::VerificationFailed => Standing::Failed,
        SyncState::Progressing | SyncState::Paused | SyncState::WaitingForWindow | SyncState::WaitingForWave => {
            Standing::Progressing
        }
    }
}

/// Every cluster the hub knows of.
#[derive(Debug, Default)]
pub struct Index {
    clusters: HashMap<Text, Entry>,
    strings: HashSet<Text>,
    /// The highest store change number taken in.
    pub change: i64,
}

impl Index {
    pub fn new() -> Index {
        Index::default()
    }

    fn intern(&mut self, s: &str) -> Text {
        if let Some(t) = self.strings.get(s) {
            return t.clone();
        }
        let t: Text = Arc::from(s);
        self.strings.insert(t.clone());
        t
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

    /// Takes in a row of the store, replacing what the index held for the cluster.
    pub fn update(&mut self, row: &Row) {
        let environment = self.intern(&row.environment);
        let labels = row.labels.iter().map(|(k, v)| (self.intern(k), self.intern(v))).collect();
        let placements = row
            .last_report
            .as_ref()
            .map(|r| r.placements.iter().map(|p| self.placement(p)).collect())
            .unwrap_or_default();
        let name = self.intern(&row.name);
        let declared = self.clusters.get(&name).is_some_and(|e| e.declared);
        let entry = Entry {
            environment,
            labels,
            registered: true,
            declared,
            last_report_at_ms: row.last_report_at_ms,
            placements,
        };
        self.clusters.insert(name, entry);
    }

    fn placement(&mut self, p: &PlacementReport) -> PlacementEntry {
        let mut text = |s: &Option<String>| s.as_deref().map(|s| self.intern(s));
        PlacementEntry {
            source_commit: text(&p.source_commit),
            desired_digest: text(&p.desired_digest),
            applied_commit: text(&p.applied_commit),
            applied_digest: text(&p.applied_digest),
            name: self.intern(&p.name),
            state: p.state,
            health: p.health,
            problems: u32::try_from(p.objects.len()).unwrap_or(u32::MAX),
        }
    }

    /// Sets the clusters the fleet repository declares: new ones appear as never reported; ones
    /// no longer declared and never registered go.
    pub fn set_declared(&mut self, declared: &[DeclaredCluster]) {
        for entry in self.clusters.values_mut() {
            entry.declared = false;
        }
        for d in declared {
            let name = self.intern(&d.name);
            if let Some(entry) = self.clusters.get_mut(&name) {
                entry.declared = true;
                continue;
            }
            let environment = self.intern(&d.environment);
            let labels = d.labels.iter().map(|(k, v)| (self.intern(k), self.intern(v))).collect();
            let entry = Entry { environment, labels, declared: true, ..Entry::default() };
            self.clusters.insert(name, entry);
        }
        self.clusters.retain(|_, e| e.declared || e.registered);
    }

    /// Every cluster, in no order.
    pub fn iter(&self) -> impl Iterator<Item = (&Text, &Entry)> {
        self.clusters.iter()
    }
}

impl Entry {
    /// Where the cluster stands at `now_ms`: offline once its last report is older than
    /// `offline_after_ms`, else the worst of its placements.
    pub fn standing(&self, now_ms: i64, offline_after_ms: i64) -> Standing {
        let Some(at) = self.last_report_at_ms else { return Standing::NeverReported };
        if now_ms - at > offline_after_ms {
            return Standing::Offline;
        }
        self.placements.iter().map(|p| standing_of(p.state)).max().unwrap_or(Standing::Synced)
    }

    /// Whether every `key=value` of `selector` is among the labels (an empty selector matches).
    pub fn matches(&self, selector: &[(String, String)]) -> bool {
        selector.iter().all(|(k, v)| self.labels.get(k.as_str()).is_some_and(|have| **have == **v))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) fn report(cluster: &str, placements: &[(&str, &str, &str)]) -> Report {
        let placements: Vec<String> = placements
            .iter()
            .map(|(name, state, commit)| {
                format!(
                    r#"{{"name":"{name}","state":"{state}","sourceCommit":"{commit}","desiredDigest":"sha256:{}","health":"Healthy"}}"#,
                    "d".repeat(64)
                )
            })
            .collect();
        let json = format!(
            r#"{{"version":1,"cluster":"{cluster}","agentVersion":"0.1.0","sequence":1,"time":"2026-11-25T10:00:00Z","placements":[{}]}}"#,
            placements.join(",")
        );
        Report::from_json(json.as_bytes()).unwrap()
    }

    fn row(name: &str, at: Option<i64>, placements: &[(&str, &str, &str)]) -> Row {
        Row {
            name: name.into(),
            environment: "prod".into(),
            labels: BTreeMap::from([("kind".into(), "store".into())]),
            registered_at_ms: 0,
            last_report_at_ms: at,
            last_report: at.map(|_| report(name, placements)),
        }
    }

    #[test]
    fn standing_is_the_worst_placement_and_offline_is_apart_from_failed() {
        let mut index = Index::new();
        let c = "a".repeat(40);
        index.update(&row("s1", Some(1_000), &[("web", "Synced", &c), ("pos", "Degraded", &c)]));
        index.update(&row("s2", Some(1_000), &[("web", "Failed", &c)]));
        index.update(&row("s3", None, &[]));
        let at = |n: &str, now| index.get(n).unwrap().standing(now, 180_000);
        assert_eq!(at("s1", 2_000), Standing::Degraded);
        assert_eq!(at("s2", 2_000), Standing::Failed);
        assert_eq!(at("s2", 200_000), Standing::Offline);
        assert_eq!(at("s3", 2_000), Standing::NeverReported);
    }

    #[test]
    fn commits_and_labels_are_shared_between_clusters() {
        let mut index = Index::new();
        let c = "b".repeat(40);
        for i in 0..100 {
            index.update(&row(&format!("s{i}"), Some(1), &[("web", "Synced", &c)]));
        }
        let a = index.get("s1").unwrap().placements[0].source_commit.clone().unwrap();
        let b = index.get("s2").unwrap().placements[0].source_commit.clone().unwrap();
        assert!(Arc::ptr_eq(&a, &b));
        // 100 names, plus one each of: prod, kind, store, web, the commit, the digest.
        assert_eq!(index.strings.len(), 106);
    }

    #[test]
    fn declared_clusters_appear_until_they_are_neither_declared_nor_registered() {
        let mut index = Index::new();
        let declared = |name: &str| DeclaredCluster {
            name: name.into(),
            environment: "prod".into(),
            labels: BTreeMap::new(),
            declared_in: "prod".into(),
        };
        index.set_declared(&[declared("d1"), declared("s1")]);
        index.update(&row("s1", Some(5), &[]));
        assert_eq!(index.get("d1").unwrap().standing(6, 100), Standing::NeverReported);
        assert!(index.get("s1").unwrap().declared);
        index.set_declared(&[]);
        assert!(index.get("d1").is_none());
        assert!(index.get("s1").is_some_and(|e| e.registered && !e.declared));
        assert!(index.get("s1").unwrap().matches(&[("kind".into(), "store".into())]));
        assert!(!index.get("s1").unwrap().matches(&[("kind".into(), "cloud".into())]));
    }
}
