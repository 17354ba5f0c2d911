//! Storing a batch of reports in one transaction, which is what makes the hub fast on SQLite:
//! the HTTP layer gathers the reports that arrive within a few milliseconds and stores them
//! together, so a commit (and its fsync) is paid per batch rather than per report.
//!
//! A report is stored only if its sequence is above the cluster's last one; a replayed or
//! out-of-order report is acknowledged and dropped. Storing updates the cluster's row, appends
//! to the report history and appends an evidence row for every policy whose result (compliance
//! and violations) differs from the cluster's previous report, and one for every override it
//! names (a commit run through a freeze) that the log does not hold for the cluster yet.

use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use flotilla_core::calendar::unix_ms;
use flotilla_core::report::{Override, PolicyReport, Report};
use serde::{Deserialize, Serialize};
use sqlx::{Any, Row as _, Transaction};

use super::evidence::Link;
use super::overrides::{Key as OverrideKey, Link as OverrideLink};
use super::sql::{ROWS_PER_STATEMENT, placeholders, rows};
use super::{Error, Store};
use crate::records::PolicyMeta;

/// What the fleet says of a policy in an environment (`(environment, policy)` → its standards
/// and controls), recorded with each evidence row; `None` when it does not know.
pub type Catalog<'a> = dyn Fn(&str, &str) -> Option<PolicyMeta> + Sync + 'a;

/// A report to store, as the HTTP layer hands it over: parsed, validated, and sent with the
/// token of `token_cluster`.
#[derive(Debug, Clone)]
pub struct Incoming {
    /// The cluster the bearer token belongs to.
    pub token_cluster: String,
    /// As [`Report::from_json`] reads it: validated (the store does not validate it again).
    pub report: Report,
    /// The bytes `report` was parsed from, stored as they are.
    pub json: String,
    /// When the hub received it (its clock).
    pub received_at_ms: i64,
}

/// What became of a report.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ingested {
    /// Stored with this change number.
    Stored { change: i64 },
    /// Its sequence is not above the cluster's last one: replayed or out of order. Nothing was
    /// stored; the agent may forget it.
    Ignored,
}

/// Why a report was refused.
#[derive(Debug, Clone, thiserror::Error)]
pub enum IngestError {
    /// No cluster of the report's name is registered.
    #[error("cluster {0:?} is not registered")]
    UnknownCluster(String),
    /// The report names another cluster than its token's.
    #[error("a report of cluster {report:?} sent with the token of {token:?}")]
    WrongCluster { token: String, report: String },
    /// The report breaks a rule of `Report::validate` or does not fit the store (a sequence
    /// above 2^63 - 1).
    #[error("report of cluster {cluster:?}: {problem}")]
    Invalid { cluster: String, problem: String },
    /// The batch's transaction failed; nothing of the batch was stored, and the agent should
    /// send the report again.
    #[error("not stored: {0}")]
    Store(Arc<Error>),
}

/// A report that passed the checks that need no database.
struct Checked<'a> {
    incoming: &'a Incoming,
    sequence: i64,
    time_ms: i64,
}

/// A cluster of the batch as the transaction goes along.
struct Latest<'a> {
    sequence: i64,
    environment: String,
    /// The policy results of the cluster's previous report.
    previous: Previous<'a>,
    /// The index in the stored list of its newest report of this batch.
    newest: Option<usize>,
}

enum Previous<'a> {
    /// `clusters.last_policies_json` (or, in a row written before it, `last_report_json`), not
    /// yet read.
    Stored(Option<String>),
    /// An earlier report of the same batch.
    Batch(&'a Report),
}

/// A report about to be stored.
struct Pending<'a> {
    checked: Checked<'a>,
    /// Where its result goes.
    result: usize,
    /// The policies whose result it changed.
    evidence: Vec<&'a PolicyReport>,
    /// The cluster's environment, when there is evidence: where the catalog looks, and what an
    /// override row records.
    environment: Option<String>,
}

impl Store {
    /// Stores a batch of reports in one transaction and says, per report and in order, what
    /// became of it. Reports of one cluster are taken in the batch's order.
    ///
    /// On PostgreSQL several hub processes may ingest at once: the clusters' rows are locked in
    /// name order (so two batches cannot deadlock), a report is compared with the last one
    /// committed, and change numbers are taken last, from a counter row that stays locked
    /// until commit (see `next_changes`). If the transaction fails, every report of the batch
    /// gets the error and nothing is stored.
    pub async fn ingest(&self, batch: &[Incoming]) -> Vec<Result<Ingested, IngestError>> {
        self.ingest_with(batch, &|_, _| None).await
    }

    /// [`Store::ingest`], recording with each evidence row the standards and controls the
    /// `catalog` gives for its policy.
    pub async fn ingest_with(&self, batch: &[Incoming], catalog: &Catalog<'_>) -> Vec<Result<Ingested, IngestError>> {
        match self.try_ingest(batch, catalog).await {
            Ok(results) => results,
            Err(e) => {
                let e = Arc::new(e);
                batch.iter().map(|_| Err(IngestError::Store(Arc::clone(&e)))).collect()
            }
        }
    }

    async fn try_ingest(
        &self,
        batch: &[Incoming],
        catalog: &Catalog<'_>,
    ) -> Result<Vec<Result<Ingested, IngestError>>, Error> {
        let checked: Vec<_> = batch.iter().map(check).collect();
        let mut clusters: BTreeMap<&str, Latest> = BTreeMap::new();
        let names: Vec<&str> = {
            let mut names: Vec<&str> = checked.iter().flatten().map(|c| c.incoming.report.cluster.as_str()).collect();
            names.sort_unstable();
            names.dedup();
            names
        };
        if names.is_empty() {
            // Nothing that could be stored: no transaction.
            return Ok(checked.into_iter().map(|c| c.map(|_| Ingested::Ignored)).collect());
        }

        let (_writer, mut tx) = self.begin_write().await?;
        for names in names.chunks(ROWS_PER_STATEMENT) {
            // Sorted by bytes, here and in the query, so that row locks on PostgreSQL are always
            // taken in one order and two batches cannot deadlock.
            let select = format!(
                "SELECT name, last_sequence, COALESCE(last_policies_json, last_report_json), environment FROM clusters
                 WHERE name IN ({}) ORDER BY name{}{}",
                placeholders(names.len()),
                self.dialect.bytewise(),
                self.dialect.for_update()
            );
            let select = self.sql(&select);
            let mut query = sqlx::query(&select);
            for name in names {
                query = query.bind(*name);
            }
            for row in query.fetch_all(&mut *tx).await? {
                let name: String = row.try_get(0)?;
                // The batch's copy of the name, to borrow.
                let Ok(at) = names.binary_search(&name.as_str()) else { continue };
                let name = names[at];
                let latest = Latest {
                    sequence: row.try_get(1)?,
                    environment: row.try_get(3)?,
                    previous: Previous::Stored(row.try_get(2)?),
                    newest: None,
                };
                clusters.insert(name, latest);
            }
        }

        let (mut results, stored) = decide(checked, &mut clusters);
        if stored.is_empty() {
            tx.commit().await?;
            return Ok(results);
        }
        let n = i64::try_from(stored.len()).expect("a batch fits in memory, so its length fits an i64");
        let first = self.next_changes(&mut tx, n).await? - n + 1;
        let stored: Vec<(i64, Pending)> = (first..).zip(stored).collect();
        for (change, pending) in &stored {
            results[pending.result] = Ok(Ingested::Stored { change: *change });
        }
        self.append_reports(&mut tx, &stored).await?;
        self.append_evidence(&mut tx, &stored, catalog).await?;
        let newest: Vec<&(i64, Pending)> =
            clusters.values().filter_map(|latest| Some(&stored[latest.newest?])).collect();
        self.update_clusters(&mut tx, &newest).await?;
        self.update_kubernetes(&mut tx, &stored).await?;
        let reports = stored.iter().map(|(_, p)| {
            let report = &p.checked.incoming.report;
            let environment = clusters.get(report.cluster.as_str()).map_or("", |l| l.environment.as_str());
            (report, environment, p.checked.incoming.received_at_ms)
        });
        self.record_failures(&mut tx, reports).await?;
        tx.commit().await?;
        Ok(results)
    }

    /// Appends the reports to the history, many rows per statement.
    async fn append_reports(
        &self,
        tx: &mut Transaction<'static, Any>,
        stored: &[(i64, Pending<'_>)],
    ) -> Result<(), Error> {
        for chunk in stored.chunks(ROWS_PER_STATEMENT) {
            let sql = format!(
                "INSERT INTO reports (cluster, change, sequence, received_at, time, json) VALUES {}",
                rows(chunk.len(), 6)
            );
            let sql = self.sql(&sql);
            let mut query = sqlx::query(&sql);
            for (change, pending) in chunk {
                let Checked { incoming, sequence, time_ms } = pending.checked;
                query = query
                    .bind(incoming.report.cluster.as_str())
                    .bind(*change)
                    .bind(sequence)
                    .bind(incoming.received_at_ms)
                    .bind(time_ms)
                    .bind(incoming.json.as_str());
            }
            query.execute(&mut **tx).await?;
        }
        Ok(())
    }

    /// Appends to the evidence log each stored report's changed policy results, then the
    /// overrides it names that the log does not hold yet, in batch order, each linked to the
    /// row before in the chain (see `evidence.rs` and `overrides.rs`); many rows per statement.
    async fn append_evidence(
        &self,
        tx: &mut Transaction<'static, Any>,
        stored: &[(i64, Pending<'_>)],
        catalog: &Catalog<'_>,
    ) -> Result<(), Error> {
        let overrides = self.new_overrides(tx, stored).await?;
        if overrides.is_empty() && stored.iter().all(|(_, p)| p.evidence.is_empty()) {
            return Ok(());
        }
        let (mut seq, mut prev) = self.chain_head(tx).await?;
        let mut policies = Vec::new();
        let mut linked_overrides = Vec::new();
        for (change, pending) in stored {
            let environment = pending.environment.as_deref().unwrap_or_default();
            for policy in &pending.evidence {
                let meta = catalog(environment, &policy.name);
                let entry = PolicyEntry {
                    change: *change,
                    checked: &pending.checked,
                    commit: running_commit(&pending.checked.incoming.report),
                    policy,
                    violations_json: json(&policy.violations),
                    standards_json: meta.as_ref().map(|m| json(&m.standards)),
                    controls_json: meta.as_ref().map(|m| json(&m.controls)),
                    remediation_json: json(&policy.remediation),
                };
                seq += 1;
                let hash = entry.link(seq).hash(&prev);
                policies.push((entry, seq, std::mem::replace(&mut prev, hash.clone()), hash));
            }
            let report = &pending.checked.incoming.report;
            for o in overrides.iter().filter(|(c, _)| c == change).map(|(_, o)| o) {
                seq += 1;
                let link = OverrideLink {
                    seq,
                    cluster: &report.cluster,
                    environment,
                    target: &o.target,
                    commit: &o.commit,
                    signer: &o.signer,
                    reason: &o.reason,
                    change: *change,
                    sequence: pending.checked.sequence,
                    time_ms: pending.checked.time_ms,
                    received_at_ms: pending.checked.incoming.received_at_ms,
                };
                let hash = link.hash(&prev);
                linked_overrides.push((link, std::mem::replace(&mut prev, hash.clone()), hash));
            }
        }
        self.insert_policy_evidence(tx, &policies).await?;
        self.insert_overrides(tx, &linked_overrides).await?;
        self.set_chain_head(tx, seq, &prev).await
    }

    /// Writes policy rows with their position, the hash before them and their own.
    async fn insert_policy_evidence(
        &self,
        tx: &mut Transaction<'static, Any>,
        linked: &[(PolicyEntry<'_>, i64, String, String)],
    ) -> Result<(), Error> {
        for chunk in linked.chunks(ROWS_PER_STATEMENT) {
            let sql = format!(
                "INSERT INTO evidence (cluster, policy, change, sequence, time, compliant, commit_id, violations_json,
                     standards_json, controls_json, remediation_json, seq, prev_hash, hash)
                 VALUES {}",
                rows(chunk.len(), 14)
            );
            let sql = self.sql(&sql);
            let mut query = sqlx::query(&sql);
            for (e, seq, prev, hash) in chunk {
                let link = e.link(*seq);
                query = query
                    .bind(link.cluster)
                    .bind(link.policy)
                    .bind(link.change)
                    .bind(link.sequence)
                    .bind(link.time_ms)
                    .bind(link.compliant.map(i64::from))
                    .bind(link.commit)
                    .bind(link.violations_json)
                    .bind(link.standards_json)
                    .bind(link.controls_json)
                    .bind(link.remediation_json)
                    .bind(*seq)
                    .bind(prev.as_str())
                    .bind(hash.as_str());
            }
            query.execute(&mut **tx).await?;
        }
        Ok(())
    }

    /// The overrides the stored reports name that the evidence log does not hold yet, each
    /// with the change number of the first report of the batch that names it.
    async fn new_overrides<'a>(
        &self,
        tx: &mut Transaction<'static, Any>,
        stored: &'a [(i64, Pending<'_>)],
    ) -> Result<Vec<(i64, &'a Override)>, Error> {
        let mut named: Vec<(i64, &Override)> = Vec::new();
        let mut keys: BTreeSet<OverrideKey> = BTreeSet::new();
        for (change, pending) in stored {
            let report = &pending.checked.incoming.report;
            for o in &report.overrides {
                if keys.insert((report.cluster.as_str(), o.target.as_str(), o.commit.as_str())) {
                    named.push((*change, o));
                }
            }
        }
        if named.is_empty() {
            return Ok(named);
        }
        let keys: Vec<OverrideKey> = keys.into_iter().collect();
        let recorded: BTreeSet<OverrideKey> = self.recorded_overrides(tx, &keys).await?.into_iter().collect();
        if recorded.is_empty() {
            return Ok(named);
        }
        let cluster_of = |change: i64| {
            let at = stored.binary_search_by_key(&change, |(c, _)| *c).expect("a change of the batch");
            stored[at].1.checked.incoming.report.cluster.as_str()
        };
        named.retain(|(change, o)| !recorded.contains(&(cluster_of(*change), o.target.as_str(), o.commit.as_str())));
        Ok(named)
    }

    /// Keeps the Kubernetes version and API versions of each cluster whose stored reports say
    /// them (the newest that does wins): reports carry them only when they changed, so a
    /// cluster's row keeps them. Rare, so one statement per cluster.
    async fn update_kubernetes(
        &self,
        tx: &mut Transaction<'static, Any>,
        stored: &[(i64, Pending<'_>)],
    ) -> Result<(), Error> {
        let mut newest: BTreeMap<&str, &flotilla_core::report::Kubernetes> = BTreeMap::new();
        for (_, pending) in stored {
            let report = &pending.checked.incoming.report;
            if let Some(kubernetes) = &report.kubernetes {
                newest.insert(report.cluster.as_str(), kubernetes);
            }
        }
        if newest.is_empty() {
            return Ok(());
        }
        let sql = self.sql("UPDATE clusters SET kubernetes_json = ? WHERE name = ?");
        for (cluster, kubernetes) in newest {
            let json = serde_json::to_string(kubernetes).expect("strings always serialize");
            sqlx::query(&sql).bind(json).bind(cluster).execute(&mut **tx).await?;
        }
        Ok(())
    }

    /// Sets each cluster's row to its newest stored report, many rows per statement. `UPDATE …
    /// FROM (VALUES …)` reads the same in both databases, whose `VALUES` columns are both named
    /// `column1`, `column2`, ….
    async fn update_clusters(
        &self,
        tx: &mut Transaction<'static, Any>,
        newest: &[&(i64, Pending<'_>)],
    ) -> Result<(), Error> {
        for chunk in newest.chunks(ROWS_PER_STATEMENT) {
            let sql = format!(
                "UPDATE clusters SET last_sequence = v.column2, last_report_at = v.column3,
                     last_policies_json = v.column4, change = v.column5, last_report_change = v.column5,
                     last_report_json = NULL
                 FROM (VALUES {}) AS v WHERE clusters.name = v.column1",
                rows(chunk.len(), 5)
            );
            let sql = self.sql(&sql);
            let mut query = sqlx::query(&sql);
            for (change, pending) in chunk {
                let Checked { incoming, sequence, .. } = pending.checked;
                query = query
                    .bind(incoming.report.cluster.as_str())
                    .bind(sequence)
                    .bind(incoming.received_at_ms)
                    .bind(policies_json(&incoming.report))
                    .bind(*change);
            }
            query.execute(&mut **tx).await?;
        }
        Ok(())
    }
}

/// A changed policy result about to be appended to the evidence log.
struct PolicyEntry<'a> {
    change: i64,
    checked: &'a Checked<'a>,
    commit: Option<&'a str>,
    policy: &'a PolicyReport,
    violations_json: String,
    standards_json: Option<String>,
    controls_json: Option<String>,
    remediation_json: String,
}

impl PolicyEntry<'_> {
    /// Its fields as hashed, at position `seq` of the chain.
    fn link(&self, seq: i64) -> Link<'_> {
        Link {
            seq,
            cluster: &self.checked.incoming.report.cluster,
            policy: &self.policy.name,
            change: self.change,
            sequence: self.checked.sequence,
            time_ms: self.checked.time_ms,
            compliant: self.policy.compliant,
            commit: self.commit,
            violations_json: &self.violations_json,
            standards_json: self.standards_json.as_deref(),
            controls_json: self.controls_json.as_deref(),
            remediation_json: &self.remediation_json,
        }
    }
}

/// Decides, in batch order, what becomes of each report given the clusters' rows: the results
/// (a stored report's change number is filled in once the batch's numbers are taken) and the
/// reports to store. Reads no database: `clusters` holds what the transaction read, and is
/// brought along as reports are taken.
fn decide<'a>(
    checked: Vec<Result<Checked<'a>, IngestError>>,
    clusters: &mut BTreeMap<&str, Latest<'a>>,
) -> (Vec<Result<Ingested, IngestError>>, Vec<Pending<'a>>) {
    let mut results = Vec::with_capacity(checked.len());
    let mut stored = Vec::new();
    for item in checked {
        let checked = match item {
            Ok(checked) => checked,
            Err(e) => {
                results.push(Err(e));
                continue;
            }
        };
        let report = &checked.incoming.report;
        let Some(latest) = clusters.get_mut(report.cluster.as_str()) else {
            results.push(Err(IngestError::UnknownCluster(report.cluster.clone())));
            continue;
        };
        if checked.sequence <= latest.sequence {
            results.push(Ok(Ingested::Ignored));
            continue;
        }
        let evidence = changed_policies(&latest.previous.policies(), &report.policies);
        latest.sequence = checked.sequence;
        latest.previous = Previous::Batch(report);
        latest.newest = Some(stored.len());
        results.push(Ok(Ingested::Stored { change: 0 }));
        let environment = (!evidence.is_empty() || !report.overrides.is_empty()).then(|| latest.environment.clone());
        stored.push(Pending { checked, result: results.len() - 1, evidence, environment });
    }
    (results, stored)
}

impl Previous<'_> {
    /// The previous report's policy results. A stored report this hub cannot read counts as
    /// none: every policy then gets an evidence row, which is more evidence rather than less.
    fn policies(&self) -> Cow<'_, [PolicyReport]> {
        match self {
            Previous::Batch(report) => Cow::Borrowed(&report.policies),
            Previous::Stored(None) => Cow::Borrowed(&[]),
            Previous::Stored(Some(json)) => {
                Cow::Owned(serde_json::from_str::<Policies>(json).map(|p| p.policies.into_owned()).unwrap_or_default())
            }
        }
    }
}

/// The policy results of a report as `clusters.last_policies_json` keeps them; a whole report's
/// JSON reads the same way.
#[derive(Serialize, Deserialize)]
struct Policies<'a> {
    #[serde(default)]
    policies: Cow<'a, [PolicyReport]>,
}

fn policies_json(report: &Report) -> String {
    serde_json::to_string(&Policies { policies: Cow::Borrowed(&report.policies) })
        .expect("policy results have string keys, so they serialize")
}

/// A value as compact JSON.
fn json<T: Serialize + ?Sized>(value: &T) -> String {
    serde_json::to_string(value).expect("report values have string keys, so they serialize")
}

/// The checks a report needs before the database: the token's cluster, the report's rules, and
/// the numbers the store keeps as `BIGINT`.
fn check(incoming: &Incoming) -> Result<Checked<'_>, IngestError> {
    let report = &incoming.report;
    if report.cluster != incoming.token_cluster {
        return Err(IngestError::WrongCluster {
            token: incoming.token_cluster.clone(),
            report: report.cluster.clone(),
        });
    }
    let invalid = |problem: String| IngestError::Invalid { cluster: report.cluster.clone(), problem };
    // Validated where it was parsed (`Report::from_json`), outside the one task that stores:
    // validating again here cost that task a fifth of its time.
    debug_assert!(report.validate().is_ok(), "a report is validated when parsed");
    let sequence = i64::try_from(report.sequence).map_err(|_| invalid("sequence: above 2^63 - 1".to_string()))?;
    let time_ms = unix_ms(&report.time).ok_or_else(|| invalid(format!("time: {:?} is unreadable", report.time)))?;
    Ok(Checked { incoming, sequence, time_ms })
}

/// The policies of `current` whose result (compliance and violations) is not the one in
/// `previous`; all of them when there is no previous report. Remediation is not part of the
/// result. A policy missing from `current` gets no row: it is no longer reported, not changed.
fn changed_policies<'a>(previous: &[PolicyReport], current: &'a [PolicyReport]) -> Vec<&'a PolicyReport> {
    current
        .iter()
        .enumerate()
        .filter(|&(i, policy)| {
            // Reports list policies in a stable order, so look at the same position first.
            let before = previous
                .get(i)
                .filter(|p| p.name == policy.name)
                .or_else(|| previous.iter().find(|p| p.name == policy.name));
            before.is_none_or(|p| p.compliant != policy.compliant || p.violations != policy.violations)
        })
        .map(|(_, policy)| policy)
        .collect()
}

/// The commit the cluster runs, when its placements have applied exactly one; `None` when they
/// run several or none.
fn running_commit(report: &Report) -> Option<&str> {
    let mut commits = report.placements.iter().filter_map(|p| p.applied_commit.as_deref());
    let first = commits.next()?;
    commits.all(|c| c == first).then_some(first)
}

#[cfg(test)]
mod tests {
    use flotilla_core::calendar::rfc3339;
    use flotilla_core::report::Violation;

    use super::*;

    #[test]
    fn report_times_as_unix_milliseconds() {
        assert_eq!(unix_ms("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(unix_ms("2026-11-25T03:32:07Z"), Some(1_795_577_527_000));
        assert_eq!(unix_ms("2000-02-29T00:00:00.5Z"), Some(951_782_400_500));
        assert_eq!(unix_ms("2024-02-29T23:59:59.123456789Z"), Some(1_709_251_199_123));
        assert_eq!(unix_ms("2025-11-25T03:32:07.07Z"), Some(unix_ms("2025-11-25T03:32:07Z").unwrap() + 70));
        for bad in ["", "2025-11-25T03:32:07", "2025-11-25 03:32:07Z", "2025-11-25T03:32:07.Z", "2025-11-25T03:32:0xZ"]
        {
            assert_eq!(unix_ms(bad), None, "{bad}");
        }
        // The inverse of core's formatting, one day at a time over four centuries.
        for days in (0..146_097).step_by(7) {
            let seconds = days * 86_400 + 3_723;
            assert_eq!(unix_ms(&rfc3339(seconds)), Some(seconds * 1_000), "{}", rfc3339(seconds));
        }
    }

    fn policy(name: &str, compliant: Option<bool>, violations: &[&str]) -> PolicyReport {
        PolicyReport {
            name: name.to_string(),
            compliant,
            violations: violations
                .iter()
                .map(|object| Violation {
                    object: (*object).to_string(),
                    field: None,
                    expected: None,
                    actual: None,
                    message: "missing".to_string(),
                })
                .collect(),
            remediation: vec![],
        }
    }

    #[test]
    fn evidence_is_kept_for_changed_results_only() {
        let names = |v: Vec<&PolicyReport>| v.iter().map(|p| p.name.clone()).collect::<Vec<_>>();
        let before = [policy("a", Some(true), &[]), policy("b", Some(false), &["Pod/x"]), policy("c", None, &[])];
        // Nothing before: everything is evidence.
        assert_eq!(names(changed_policies(&[], &before)), ["a", "b", "c"]);
        // The same again: nothing.
        assert!(changed_policies(&before, &before).is_empty());
        // Another order, same results: nothing.
        let reordered = [before[2].clone(), before[0].clone(), before[1].clone()];
        assert!(changed_policies(&before, &reordered).is_empty());
        // Compliance flips, violations change, a policy is new; remediation alone is no change.
        let mut remediated = before[0].clone();
        remediated.remediation = vec!["patched".to_string()];
        let after = [
            remediated,
            policy("b", Some(false), &["Pod/x", "Pod/y"]),
            policy("c", Some(true), &[]),
            policy("d", Some(true), &[]),
        ];
        assert_eq!(names(changed_policies(&before, &after)), ["b", "c", "d"]);
    }
}
