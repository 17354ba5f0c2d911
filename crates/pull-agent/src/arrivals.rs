//! The agent's own record of when commits reached their branches (SPEC §2 "reached the
//! branch"): per repository URL and branch, the first-parent commits it saw there and when
//! (`flotilla_core::rollout::Arrivals`), and the times the hub told it, kept in
//! `stateDir/arrivals/` so that a restart mid-bake neither restarts nor skips the bake.
//!
//! The hub's times win: they come from the hub's own polling and are the same for every cluster
//! of a wave. The agent's own are for when the hub cannot be asked. Never a date from a commit.
//! Not the decision (`flotilla_core::rollout`), nor the hub client.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use flotilla_core::rollout::{Arrival, Arrivals};
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};

/// What the agent knows of one branch's arrivals.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Record {
    /// When this agent first saw each commit on the branch.
    own: Arrivals,
    /// When the hub says each commit reached the branch.
    #[serde(default)]
    hub: BTreeMap<String, i64>,
}

impl Record {
    /// When `commit` reached the branch: the hub's time, else the agent's own.
    pub fn at(&self, commit: &str) -> Option<i64> {
        self.hub.get(commit).copied().or_else(|| self.own.at(commit))
    }

    /// Whether the hub has told when `commit` reached the branch.
    pub fn hub_knows(&self, commit: &str) -> bool {
        self.hub.contains_key(commit)
    }

    /// Takes in one look at the branch's first-parent `history` (newest first) at `now`; the
    /// hub's times of commits no longer on the branch are forgotten with the agent's own.
    /// Whether anything changed.
    pub fn observe(&mut self, history: &[&str], now: i64) -> bool {
        let changed = self.own.observe(history, now);
        let before = self.hub.len();
        self.hub.retain(|c, _| self.own.at(c).is_some());
        changed || self.hub.len() != before
    }

    /// Takes the hub's arrivals of commits on the branch (as last observed). Whether anything
    /// changed.
    pub fn hub_says(&mut self, arrivals: &[Arrival]) -> bool {
        let mut changed = false;
        for a in arrivals.iter().filter(|a| self.own.at(&a.commit).is_some()) {
            changed |= self.hub.insert(a.commit.clone(), a.at) != Some(a.at);
        }
        changed
    }
}

/// The file that holds the record of `url`'s `branch`.
fn path(state_dir: &Path, url: &str, branch: &str) -> PathBuf {
    let digest = Sha256::new().chain_update(url).chain_update("\n").chain_update(branch).finalize();
    let name = flotilla_core::digest::hex(&digest[..12]);
    state_dir.join("arrivals").join(format!("{name}.json"))
}

/// The record of `url`'s `branch`; an empty one when there is none or it cannot be read (then
/// every commit arrives at the next look, which delays a bake but never skips one).
pub fn load(state_dir: &Path, url: &str, branch: &str) -> Record {
    let path = path(state_dir, url, branch);
    match std::fs::read(&path) {
        Ok(bytes) => serde_json::from_slice(&bytes).unwrap_or_else(|e| {
            tracing::warn!("{}: {e}; commits there arrive anew", path.display());
            Record::default()
        }),
        Err(_) => Record::default(),
    }
}

/// Keeps the record of `url`'s `branch`.
pub fn save(state_dir: &Path, url: &str, branch: &str, record: &Record) -> std::io::Result<()> {
    let path = path(state_dir, url, branch);
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let text = serde_json::to_vec(record).expect("a record serializes");
    crate::spool::write_atomically(&path, &text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_hubs_time_wins_and_a_record_survives_a_restart() {
        let dir = tempfile::tempdir().unwrap();
        let mut record = load(dir.path(), "git://x/app", "prod");
        assert!(record.observe(&["b", "a"], 100));
        assert!(!record.hub_knows("b"));
        assert!(record.hub_says(&[Arrival { commit: "b".into(), at: 90 }, Arrival { commit: "zzz".into(), at: 1 }]));
        assert_eq!((record.at("b"), record.at("a"), record.at("zzz")), (Some(90), Some(100), None));
        save(dir.path(), "git://x/app", "prod", &record).unwrap();
        let back = load(dir.path(), "git://x/app", "prod");
        assert_eq!(back, record);
        assert_eq!(load(dir.path(), "git://x/app", "dev"), Record::default(), "another branch, another record");
        // b force-pushed away: forgotten, the hub's time too.
        let mut record = back;
        assert!(record.observe(&["a"], 200));
        assert_eq!(record.at("b"), None);
        assert!(!record.hub_knows("b"));
    }
}
