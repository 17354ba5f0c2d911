//! When commits reached the branches the hub follows (SPEC §2 "reached the branch"; the rule is
//! `flotilla_core::rollout::Arrivals`): per repository URL, branch and first-parent commit, when
//! a hub process first saw it there. Kept so that a bake's start survives a restart and is the
//! same for every hub process sharing the database: the first to record a commit keeps its
//! time, the others read it back.
//!
//! Not the rule of what arrived (the caller observes the branch with core's `Arrivals` and hands
//! over what changed), and not when to look (the hub's fleet polling).

use sqlx::Row as _;

use super::sql::{ROWS_PER_STATEMENT, placeholders, rows};
use super::{Error, Store};

/// A commit's arrival on a branch, as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArrivalRow {
    /// The repository's URL.
    pub repository: String,
    pub branch: String,
    pub commit: String,
    /// When a hub first saw it on the branch (unix milliseconds, the hub's clock).
    pub first_seen_ms: i64,
}

impl Store {
    /// Every recorded arrival, by repository, branch and commit.
    pub async fn arrivals(&self) -> Result<Vec<ArrivalRow>, Error> {
        let sql = format!(
            "SELECT repository, branch, commit_id, first_seen_ms FROM arrivals ORDER BY repository{c}, branch{c}, commit_id",
            c = self.dialect.bytewise()
        );
        let rows = sqlx::query(&sql).fetch_all(&self.pool).await?;
        rows.iter()
            .map(|row| {
                Ok(ArrivalRow {
                    repository: row.try_get(0)?,
                    branch: row.try_get(1)?,
                    commit: row.try_get(2)?,
                    first_seen_ms: row.try_get(3)?,
                })
            })
            .collect()
    }

    /// Records, in one transaction, what a look at `repository`'s `branch` found: the commits
    /// `gone` from it are forgotten (one that comes back arrives anew), and each of `arrived`
    /// (commit, unix milliseconds) is kept unless a time is recorded for it already — another hub
    /// process saw it first, and its time stays.
    pub async fn record_arrivals(
        &self,
        repository: &str,
        branch: &str,
        arrived: &[(&str, i64)],
        gone: &[&str],
    ) -> Result<(), Error> {
        if arrived.is_empty() && gone.is_empty() {
            return Ok(());
        }
        let (_writer, mut tx) = self.begin_write().await?;
        for chunk in gone.chunks(ROWS_PER_STATEMENT) {
            let sql = format!(
                "DELETE FROM arrivals WHERE repository = ? AND branch = ? AND commit_id IN ({})",
                placeholders(chunk.len())
            );
            let sql = self.sql(&sql);
            let mut query = sqlx::query(&sql).bind(repository).bind(branch);
            for commit in chunk {
                query = query.bind(*commit);
            }
            query.execute(&mut *tx).await?;
        }
        for chunk in arrived.chunks(ROWS_PER_STATEMENT) {
            let sql = format!(
                "INSERT INTO arrivals (repository, branch, commit_id, first_seen_ms) VALUES {}
                 ON CONFLICT (repository, branch, commit_id) DO NOTHING",
                rows(chunk.len(), 4)
            );
            let sql = self.sql(&sql);
            let mut query = sqlx::query(&sql);
            for (commit, at_ms) in chunk {
                query = query.bind(repository).bind(branch).bind(*commit).bind(*at_ms);
            }
            query.execute(&mut *tx).await?;
        }
        tx.commit().await?;
        Ok(())
    }
}
