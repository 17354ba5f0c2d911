//! Overrides in the evidence log: each commit a cluster ran through a change freeze thanks to a
//! `Flotilla-Override: REASON` trailer signed by an override signer (a report's `overrides`),
//! kept once per cluster, target (`fleet` or the placement) and commit in `evidence_overrides`.
//! Agents report an override in every report while the commit runs; the first stored report
//! that names it writes the row, which says when the hub received that report.
//!
//! The rows are links of the evidence chain (see `evidence.rs`): they take the next positions
//! after the policy results of the same report, and `hash = SHA-256(prev_hash ‖ fields)` as
//! [`Link::text`] writes them, a JSON array led by `"override"`, so that no override row hashes
//! as a policy row does. [`Store::verify_evidence`] walks both tables in chain order, so an
//! edited, deleted or cut-off override row is found like a policy row.
//!
//! Not the grouping of clusters per override (the hub's `overrides` view does that from these
//! rows).

use sqlx::any::AnyRow;
use sqlx::{Any, Row as _, Transaction};

use super::chain::link_hash;
use super::sql::{ROWS_PER_STATEMENT, rows};
use super::{Error, Store};
use crate::records::OverrideRow;

/// The columns of an override row, in [`row`]'s order.
pub(super) const COLUMNS: &str = "seq, cluster, environment, target, commit_id, signer, reason, change, sequence, \
     time, received_at, prev_hash, hash";

/// Which overrides to read: all of them by default, oldest first (or newest first), at most
/// `limit`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct OverrideFilter {
    pub cluster: Option<String>,
    pub target: Option<String>,
    pub environment: Option<String>,
    /// Only those whose report time is at or after this.
    pub since_ms: Option<i64>,
    /// At most this many rows (the default, 0, reads none).
    pub limit: i64,
    pub newest_first: bool,
}

/// An override row's fields as hashed.
#[derive(Debug)]
pub(super) struct Link<'a> {
    pub seq: i64,
    pub cluster: &'a str,
    pub environment: &'a str,
    pub target: &'a str,
    pub commit: &'a str,
    pub signer: &'a str,
    pub reason: &'a str,
    pub change: i64,
    pub sequence: i64,
    pub time_ms: i64,
    pub received_at_ms: i64,
}

impl Link<'_> {
    /// The row as one JSON array: `"override"`, then the fields in declaration order. Part of
    /// the chain: never changes.
    fn text(&self) -> String {
        serde_json::to_string(&(
            "override",
            self.seq,
            self.cluster,
            self.environment,
            self.target,
            self.commit,
            self.signer,
            self.reason,
            self.change,
            self.sequence,
            self.time_ms,
            self.received_at_ms,
        ))
        .expect("strings and numbers serialize")
    }

    /// The row's hash after `prev`.
    pub fn hash(&self, prev: &str) -> String {
        link_hash(prev, &self.text())
    }

    pub fn of(row: &OverrideRow) -> Link<'_> {
        Link {
            seq: row.seq,
            cluster: &row.cluster,
            environment: &row.environment,
            target: &row.target,
            commit: &row.commit,
            signer: &row.signer,
            reason: &row.reason,
            change: row.change,
            sequence: row.sequence,
            time_ms: row.time_ms,
            received_at_ms: row.received_at_ms,
        }
    }
}

/// Reads an override row of [`COLUMNS`].
pub(super) fn row(row: &AnyRow) -> Result<OverrideRow, Error> {
    Ok(OverrideRow {
        seq: row.try_get(0)?,
        cluster: row.try_get(1)?,
        environment: row.try_get(2)?,
        target: row.try_get(3)?,
        commit: row.try_get(4)?,
        signer: row.try_get(5)?,
        reason: row.try_get(6)?,
        change: row.try_get(7)?,
        sequence: row.try_get(8)?,
        time_ms: row.try_get(9)?,
        received_at_ms: row.try_get(10)?,
        prev_hash: row.try_get(11)?,
        hash: row.try_get(12)?,
    })
}

/// (cluster, target, commit): what an override is recorded once per.
pub(super) type Key<'a> = (&'a str, &'a str, &'a str);

impl Store {
    /// Those of `keys` the log holds already, read in the ingest transaction (the clusters'
    /// rows it locked keep another hub process from recording the same ones meanwhile).
    pub(super) async fn recorded_overrides<'a>(
        &self,
        tx: &mut Transaction<'static, Any>,
        keys: &[Key<'a>],
    ) -> Result<Vec<Key<'a>>, Error> {
        let mut recorded = Vec::new();
        for chunk in keys.chunks(ROWS_PER_STATEMENT) {
            let sql = format!(
                "SELECT cluster, target, commit_id FROM evidence_overrides
                 WHERE (cluster, target, commit_id) IN (VALUES {})",
                rows(chunk.len(), 3)
            );
            let sql = self.sql(&sql);
            let mut query = sqlx::query(&sql);
            for (cluster, target, commit) in chunk {
                query = query.bind(*cluster).bind(*target).bind(*commit);
            }
            for found in query.fetch_all(&mut **tx).await? {
                let (cluster, target, commit): (String, String, String) =
                    (found.try_get(0)?, found.try_get(1)?, found.try_get(2)?);
                // The batch's copy of the key, to borrow.
                if let Some(key) = chunk.iter().find(|(c, t, k)| (*c, *t, *k) == (&*cluster, &*target, &*commit)) {
                    recorded.push(*key);
                }
            }
        }
        Ok(recorded)
    }

    /// Writes override rows whose position and hashes are set, many per statement.
    pub(super) async fn insert_overrides(
        &self,
        tx: &mut Transaction<'static, Any>,
        linked: &[(Link<'_>, String, String)],
    ) -> Result<(), Error> {
        for chunk in linked.chunks(ROWS_PER_STATEMENT) {
            let sql = format!("INSERT INTO evidence_overrides ({COLUMNS}) VALUES {}", rows(chunk.len(), 13));
            let sql = self.sql(&sql);
            let mut query = sqlx::query(&sql);
            for (link, prev, hash) in chunk {
                query = query
                    .bind(link.seq)
                    .bind(link.cluster)
                    .bind(link.environment)
                    .bind(link.target)
                    .bind(link.commit)
                    .bind(link.signer)
                    .bind(link.reason)
                    .bind(link.change)
                    .bind(link.sequence)
                    .bind(link.time_ms)
                    .bind(link.received_at_ms)
                    .bind(prev.as_str())
                    .bind(hash.as_str());
            }
            query.execute(&mut **tx).await?;
        }
        Ok(())
    }

    /// The overrides matching `filter`, oldest first (by report time, then change number and
    /// position), or newest first.
    pub async fn overrides(&self, filter: &OverrideFilter) -> Result<Vec<OverrideRow>, Error> {
        let mut conditions = Vec::new();
        let mut values: Vec<&str> = Vec::new();
        for (column, value) in
            [("cluster", &filter.cluster), ("target", &filter.target), ("environment", &filter.environment)]
        {
            if let Some(value) = value {
                conditions.push(format!("{column} = ?"));
                values.push(value);
            }
        }
        if filter.since_ms.is_some() {
            conditions.push("time >= ?".to_string());
        }
        let mut sql = format!("SELECT {COLUMNS} FROM evidence_overrides");
        if !conditions.is_empty() {
            sql.push_str(" WHERE ");
            sql.push_str(&conditions.join(" AND "));
        }
        sql.push_str(if filter.newest_first {
            " ORDER BY time DESC, change DESC, seq DESC LIMIT ?"
        } else {
            " ORDER BY time, change, seq LIMIT ?"
        });
        let sql = self.sql(&sql);
        let mut query = sqlx::query(&sql);
        for value in values {
            query = query.bind(value);
        }
        if let Some(since) = filter.since_ms {
            query = query.bind(since);
        }
        let found = query.bind(filter.limit.max(0)).fetch_all(&self.pool).await?;
        found.iter().map(row).collect()
    }
}
