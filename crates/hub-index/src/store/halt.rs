//! What a rollout's halt counts (`rollout.halt`, see `flotilla_core::rollout`): per placement
//! and commit, the clusters that failed on it. Kept in the ingest transaction, so that a
//! cluster that failed on a commit and then moved on to a fix still counts against the commit
//! (its latest report no longer names it), across hub restarts and hub processes.
//!
//! A placement reported in a state that [`counts_against`] its source commit adds a row; the
//! same cluster reporting that commit `Synced` removes it. Anything else leaves the rows as
//! they are.

use std::collections::BTreeMap;

use flotilla_core::report::{Report, SyncState};
use flotilla_core::rollout::counts_against;
use sqlx::{Any, Row as _, Transaction};

use super::sql::{ROWS_PER_STATEMENT, rows};
use super::{Error, Store};
use crate::records::Failure;

/// (cluster, placement, commit).
type Key<'r> = (&'r str, &'r str, &'r str);

impl Store {
    /// Records, in the batch's transaction, what the stored `reports` (each with its cluster's
    /// environment and when it arrived, in batch order) say of failures on commits.
    pub(super) async fn record_failures<'r>(
        &self,
        tx: &mut Transaction<'static, Any>,
        reports: impl Iterator<Item = (&'r Report, &'r str, i64)>,
    ) -> Result<(), Error> {
        // (cluster, placement, commit) → Some((environment, at)) to add, None to remove; a later
        // report of the batch decides.
        let mut changes: BTreeMap<Key, Option<(&str, i64)>> = BTreeMap::new();
        for (report, environment, at_ms) in reports {
            for p in &report.placements {
                let Some(commit) = p.source_commit.as_deref() else { continue };
                let key = (report.cluster.as_str(), p.name.as_str(), commit);
                if counts_against(p.state) {
                    changes.insert(key, Some((environment, at_ms)));
                } else if p.state == SyncState::Synced {
                    changes.insert(key, None);
                }
            }
        }
        let (added, mut removed): (Vec<_>, Vec<_>) = changes.into_iter().partition(|(_, add)| add.is_some());
        // Nearly always nobody failed anywhere: one look at the table spares the deletes.
        if !removed.is_empty() {
            let sql = "SELECT COUNT(*) FROM (SELECT 1 FROM rollout_failures LIMIT 1) AS any_row";
            let any: i64 = sqlx::query(sql).fetch_one(&mut **tx).await?.try_get(0)?;
            if any == 0 {
                removed.clear();
            }
        }
        for chunk in removed.chunks(ROWS_PER_STATEMENT) {
            let sql = format!(
                "DELETE FROM rollout_failures WHERE (cluster, placement, commit_id) IN (VALUES {})",
                rows(chunk.len(), 3)
            );
            let sql = self.sql(&sql);
            let mut query = sqlx::query(&sql);
            for ((cluster, placement, commit), _) in chunk {
                query = query.bind(*cluster).bind(*placement).bind(*commit);
            }
            query.execute(&mut **tx).await?;
        }
        for chunk in added.chunks(ROWS_PER_STATEMENT) {
            let sql = format!(
                "INSERT INTO rollout_failures (cluster, placement, commit_id, environment, at) VALUES {}
                 ON CONFLICT (cluster, placement, commit_id) DO NOTHING",
                rows(chunk.len(), 5)
            );
            let sql = self.sql(&sql);
            let mut query = sqlx::query(&sql);
            for ((cluster, placement, commit), add) in chunk {
                let (environment, at_ms) = add.expect("partitioned on it");
                query = query.bind(*cluster).bind(*placement).bind(*commit).bind(environment).bind(at_ms);
            }
            query.execute(&mut **tx).await?;
        }
        Ok(())
    }

    /// The clusters of `environment` that failed on a commit of `placement` and have not
    /// reported it synced since, by commit then cluster.
    pub async fn rollout_failures(&self, environment: &str, placement: &str) -> Result<Vec<Failure>, Error> {
        let sql = self.sql(
            "SELECT cluster, commit_id, at FROM rollout_failures WHERE environment = ? AND placement = ?
             ORDER BY commit_id, cluster",
        );
        let rows = sqlx::query(&sql).bind(environment).bind(placement).fetch_all(&self.pool).await?;
        rows.iter()
            .map(|row| Ok(Failure { cluster: row.try_get(0)?, commit: row.try_get(1)?, at_ms: row.try_get(2)? }))
            .collect()
    }
}
