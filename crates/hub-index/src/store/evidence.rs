//! The evidence log as a hash chain: every row gets the next position (`seq`) and
//! `hash = SHA-256(prev_hash ‖ the row's fields)`, where `prev_hash` is the hash of the row
//! before (64 zeros for the first), so that editing, deleting or reordering any row breaks the
//! chain from there on; `evidence_chain` keeps the last position and hash, so a row cut off the
//! end is seen too. [`Store::verify_evidence`] recomputes it all.
//!
//! A chain kept in the same database cannot stop someone who rewrites every row after the one
//! they change and the head with it: the head hash that `hub-index evidence verify` prints is
//! what an auditor writes down, and a later head must extend it.
//!
//! The fields hashed are those of [`EvidenceRow`], as the JSON array [`Link::text`] writes;
//! the order and the format are part of the chain and never change. The overrides of the log
//! are links of the same chain, kept in a table of their own (see `overrides.rs`): one chain,
//! one head, whatever kind each row is.

use serde::Serialize;
use sqlx::any::AnyRow;
use sqlx::{Any, Row as _, Transaction};

use super::chain::link_hash;
use super::overrides;
use super::{Error, Store};
use crate::api::ChainCheck;
use crate::records::{EvidenceRow, OverrideRow};

/// The hash before the first row.
pub(super) const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// The columns of an evidence row, in [`row`]'s order.
pub(super) const COLUMNS: &str = "seq, cluster, policy, change, sequence, time, compliant, commit_id, violations_json, \
     standards_json, controls_json, remediation_json, prev_hash, hash";

/// One row's fields as hashed.
#[derive(Debug, Serialize)]
pub(super) struct Link<'a> {
    pub seq: i64,
    pub cluster: &'a str,
    pub policy: &'a str,
    pub change: i64,
    pub sequence: i64,
    pub time_ms: i64,
    pub compliant: Option<bool>,
    pub commit: Option<&'a str>,
    pub violations_json: &'a str,
    pub standards_json: Option<&'a str>,
    pub controls_json: Option<&'a str>,
    pub remediation_json: &'a str,
}

impl Link<'_> {
    /// The row as one JSON array, fields in declaration order.
    fn text(&self) -> String {
        serde_json::to_string(&(
            self.seq,
            self.cluster,
            self.policy,
            self.change,
            self.sequence,
            self.time_ms,
            self.compliant,
            self.commit,
            self.violations_json,
            self.standards_json,
            self.controls_json,
            self.remediation_json,
        ))
        .expect("strings and numbers serialize")
    }

    /// The row's hash after `prev`.
    pub fn hash(&self, prev: &str) -> String {
        link_hash(prev, &self.text())
    }

    fn of(row: &EvidenceRow) -> Link<'_> {
        Link {
            seq: row.seq,
            cluster: &row.cluster,
            policy: &row.policy,
            change: row.change,
            sequence: row.sequence,
            time_ms: row.time_ms,
            compliant: row.compliant,
            commit: row.commit.as_deref(),
            violations_json: &row.violations_json,
            standards_json: row.standards_json.as_deref(),
            controls_json: row.controls_json.as_deref(),
            remediation_json: &row.remediation_json,
        }
    }
}

/// A row of either table of the chain.
enum Linked {
    Policy(EvidenceRow),
    Override(OverrideRow),
}

impl Linked {
    fn seq(&self) -> i64 {
        match self {
            Linked::Policy(r) => r.seq,
            Linked::Override(r) => r.seq,
        }
    }

    fn prev_hash(&self) -> &str {
        match self {
            Linked::Policy(r) => &r.prev_hash,
            Linked::Override(r) => &r.prev_hash,
        }
    }

    fn hash(&self) -> &str {
        match self {
            Linked::Policy(r) => &r.hash,
            Linked::Override(r) => &r.hash,
        }
    }

    /// What the row's fields hash to after `prev`.
    fn hash_after(&self, prev: &str) -> String {
        match self {
            Linked::Policy(r) => Link::of(r).hash(prev),
            Linked::Override(r) => overrides::Link::of(r).hash(prev),
        }
    }
}

/// Reads an evidence row of [`COLUMNS`].
pub(super) fn row(row: &AnyRow) -> Result<EvidenceRow, Error> {
    let compliant: Option<i64> = row.try_get(6)?;
    let seq: Option<i64> = row.try_get(0)?;
    let remediation: Option<String> = row.try_get(11)?;
    Ok(EvidenceRow {
        seq: seq.unwrap_or(0),
        cluster: row.try_get(1)?,
        policy: row.try_get(2)?,
        change: row.try_get(3)?,
        sequence: row.try_get(4)?,
        time_ms: row.try_get(5)?,
        compliant: compliant.map(|c| c != 0),
        commit: row.try_get(7)?,
        violations_json: row.try_get(8)?,
        standards_json: row.try_get(9)?,
        controls_json: row.try_get(10)?,
        remediation_json: remediation.unwrap_or_else(|| "[]".to_string()),
        prev_hash: row.try_get::<Option<String>, _>(12)?.unwrap_or_default(),
        hash: row.try_get::<Option<String>, _>(13)?.unwrap_or_default(),
    })
}

impl Store {
    /// The chain's last position and hash, locked until the transaction ends (on PostgreSQL the
    /// change counter, taken before, already orders writers).
    pub(super) async fn chain_head(&self, tx: &mut Transaction<'static, Any>) -> Result<(i64, String), Error> {
        let sql = format!("SELECT seq, hash FROM evidence_chain WHERE name = 'evidence'{}", self.dialect.for_update());
        let row = sqlx::query(&sql).fetch_one(&mut **tx).await?;
        Ok((row.try_get(0)?, row.try_get(1)?))
    }

    pub(super) async fn set_chain_head(
        &self,
        tx: &mut Transaction<'static, Any>,
        seq: i64,
        hash: &str,
    ) -> Result<(), Error> {
        let sql = self.sql("UPDATE evidence_chain SET seq = ?, hash = ? WHERE name = 'evidence'");
        sqlx::query(&sql).bind(seq).bind(hash).execute(&mut **tx).await?;
        Ok(())
    }

    /// Links the rows written before the chain existed (schema version 2 and older), oldest
    /// first; part of the migration that adds it.
    pub(super) async fn chain_unlinked(&self, tx: &mut Transaction<'static, Any>) -> Result<(), Error> {
        let (mut seq, mut prev) = self.chain_head(tx).await?;
        loop {
            let sql = format!("SELECT {COLUMNS} FROM evidence WHERE seq IS NULL ORDER BY change, policy LIMIT 1000");
            let rows: Vec<EvidenceRow> =
                sqlx::query(&sql).fetch_all(&mut **tx).await?.iter().map(row).collect::<Result<_, _>>()?;
            if rows.is_empty() {
                break;
            }
            for mut r in rows {
                seq += 1;
                r.seq = seq;
                let hash = Link::of(&r).hash(&prev);
                let sql = self.sql(
                    "UPDATE evidence SET seq = ?, remediation_json = ?, prev_hash = ?, hash = ?
                     WHERE cluster = ? AND policy = ? AND change = ?",
                );
                sqlx::query(&sql)
                    .bind(seq)
                    .bind(&r.remediation_json)
                    .bind(&prev)
                    .bind(&hash)
                    .bind(&r.cluster)
                    .bind(&r.policy)
                    .bind(r.change)
                    .execute(&mut **tx)
                    .await?;
                prev = hash;
            }
        }
        self.set_chain_head(tx, seq, &prev).await
    }

    /// Recomputes the evidence chain from the first row to the head, over the policy results
    /// and the overrides (`overrides.rs`) in chain order: every row's position follows the one
    /// before, its `prev_hash` is the hash before it, its `hash` is what its fields give, and
    /// the last row is the recorded head.
    pub async fn verify_evidence(&self) -> Result<ChainCheck, Error> {
        let unlinked: i64 =
            sqlx::query("SELECT COUNT(*) FROM evidence WHERE seq IS NULL").fetch_one(&self.pool).await?.try_get(0)?;
        let (head_seq, head_hash): (i64, String) = {
            let row = sqlx::query("SELECT seq, hash FROM evidence_chain WHERE name = 'evidence'")
                .fetch_one(&self.pool)
                .await?;
            (row.try_get(0)?, row.try_get(1)?)
        };
        let (mut seq, mut prev) = (0_i64, GENESIS.to_string());
        let broken = |seq: i64, rows: i64, prev: &str, problem: String| ChainCheck {
            rows,
            head: prev.to_string(),
            problem: Some(format!("evidence #{seq}: {problem}")),
        };
        loop {
            let links = self.links_after(seq).await?;
            if links.is_empty() {
                break;
            }
            for r in &links {
                if r.seq() == seq {
                    return Ok(broken(seq, seq, &prev, "two rows hold this position".into()));
                }
                if r.seq() != seq + 1 {
                    let problem = format!("missing: the next row is #{}", r.seq());
                    return Ok(broken(seq + 1, seq, &prev, problem));
                }
                if r.prev_hash() != prev {
                    return Ok(broken(r.seq(), seq, &prev, "its prev_hash is not the hash of the row before".into()));
                }
                let hash = r.hash_after(&prev);
                if r.hash() != hash {
                    let problem = format!("changed: its fields hash to {hash}, the row says {}", r.hash());
                    return Ok(broken(r.seq(), seq, &prev, problem));
                }
                seq = r.seq();
                prev = hash;
            }
        }
        if unlinked > 0 {
            return Ok(broken(seq + 1, seq, &prev, format!("{unlinked} rows are outside the chain")));
        }
        if (seq, prev.as_str()) != (head_seq, head_hash.as_str()) {
            let problem = format!("the recorded head is #{head_seq} {head_hash}: rows after #{seq} are missing");
            return Ok(broken(seq + 1, seq, &prev, problem));
        }
        Ok(ChainCheck { rows: seq, head: prev, problem: None })
    }

    /// The next links of the chain after position `after`, from both tables, in chain order:
    /// a page of each, merged, up to the last position both pages cover (a full page of one
    /// table may stop before rows of the other that come next).
    async fn links_after(&self, after: i64) -> Result<Vec<Linked>, Error> {
        const PAGE: i64 = 10_000;
        let sql = format!("SELECT {COLUMNS} FROM evidence WHERE seq > ? ORDER BY seq LIMIT ?");
        let sql = self.sql(&sql);
        let policies = sqlx::query(&sql).bind(after).bind(PAGE).fetch_all(&self.pool).await?;
        let sql = format!("SELECT {} FROM evidence_overrides WHERE seq > ? ORDER BY seq LIMIT ?", overrides::COLUMNS);
        let sql = self.sql(&sql);
        let found = sqlx::query(&sql).bind(after).bind(PAGE).fetch_all(&self.pool).await?;
        let full = |n: usize| i64::try_from(n).is_ok_and(|n| n == PAGE);
        let mut links: Vec<Linked> = policies.iter().map(|r| row(r).map(Linked::Policy)).collect::<Result<_, _>>()?;
        let policies_full = full(links.len()).then(|| links.last().map(Linked::seq)).flatten();
        let overrides: Vec<Linked> =
            found.iter().map(|r| overrides::row(r).map(Linked::Override)).collect::<Result<_, _>>()?;
        let overrides_full = full(overrides.len()).then(|| overrides.last().map(Linked::seq)).flatten();
        links.extend(overrides);
        // Stable: of two rows that claim one position, the policy row comes first.
        links.sort_by_key(Linked::seq);
        let covered = [policies_full, overrides_full].into_iter().flatten().min();
        if let Some(last) = covered {
            links.retain(|l| l.seq() <= last);
        }
        Ok(links)
    }

    /// For every cluster and policy, the last evidence row whose report time is at or before
    /// `at_ms`: each cluster's result as of then. By cluster, then policy.
    pub async fn evidence_as_of(&self, at_ms: i64) -> Result<Vec<EvidenceRow>, Error> {
        let sql = format!(
            "SELECT {} FROM evidence e JOIN (
                 SELECT cluster AS c, policy AS p, MAX(change) AS last FROM evidence WHERE time <= ?
                 GROUP BY cluster, policy) l
             ON e.cluster = l.c AND e.policy = l.p AND e.change = l.last
             ORDER BY e.cluster, e.policy",
            COLUMNS.split(", ").map(|c| format!("e.{c}")).collect::<Vec<_>>().join(", ")
        );
        let sql = self.sql(&sql);
        let rows = sqlx::query(&sql).bind(at_ms).fetch_all(&self.pool).await?;
        rows.iter().map(row).collect()
    }
}
