//! The tables, created by numbered migrations when a store opens. Each migration runs once, in
//! a transaction, recorded in `schema_version`; its statements are idempotent too (`IF NOT
//! EXISTS`, `ON CONFLICT DO NOTHING`), so a half-known state heals rather than fails.
//!
//! Types are the ones both databases read the same way: `BIGINT` and `TEXT`. Times are `BIGINT`
//! unix milliseconds, JSON is `TEXT`, a yes/no/unknown is a nullable `BIGINT` (1, 0, NULL).

use sqlx::Row as _;

use super::{Dialect, Error, Store};

/// The migrations, oldest first; version N is `MIGRATIONS[N - 1]`. Append only: a released
/// migration never changes.
const MIGRATIONS: &[&[&str]] = &[
    &[
        // Join tokens register clusters whose name matches the pattern (any name when NULL).
        "CREATE TABLE IF NOT EXISTS join_tokens (
        hash TEXT PRIMARY KEY,
        cluster_name_pattern TEXT,
        created_at BIGINT NOT NULL
    )",
        "CREATE TABLE IF NOT EXISTS viewer_tokens (
        hash TEXT PRIMARY KEY,
        created_at BIGINT NOT NULL
    )",
        // One row per registered cluster with its latest report. `change` is the hub-wide change
        // number of the row's last update (see `counters`).
        "CREATE TABLE IF NOT EXISTS clusters (
        name TEXT PRIMARY KEY,
        token_hash TEXT NOT NULL UNIQUE,
        environment TEXT NOT NULL,
        labels_json TEXT NOT NULL,
        registered_at BIGINT NOT NULL,
        last_sequence BIGINT NOT NULL,
        last_report_at BIGINT,
        last_report_json TEXT,
        change BIGINT NOT NULL
    )",
        "CREATE INDEX IF NOT EXISTS clusters_by_change ON clusters (change)",
        // Every stored report. Keyed by the change number it was stored with rather than by its
        // sequence: a cluster that registers again starts its sequence over at 1.
        "CREATE TABLE IF NOT EXISTS reports (
        cluster TEXT NOT NULL,
        change BIGINT NOT NULL,
        sequence BIGINT NOT NULL,
        received_at BIGINT NOT NULL,
        time BIGINT NOT NULL,
        json TEXT NOT NULL,
        PRIMARY KEY (cluster, change)
    )",
        // The append-only evidence log: a row per policy whose result a report changed.
        "CREATE TABLE IF NOT EXISTS evidence (
        cluster TEXT NOT NULL,
        policy TEXT NOT NULL,
        change BIGINT NOT NULL,
        sequence BIGINT NOT NULL,
        time BIGINT NOT NULL,
        compliant BIGINT,
        commit_id TEXT,
        violations_json TEXT NOT NULL,
        PRIMARY KEY (cluster, policy, change)
    )",
        "CREATE INDEX IF NOT EXISTS evidence_by_time ON evidence (time, change)",
        // Hub-wide counters, updated in the transaction that uses them: `change` numbers every
        // update of a cluster row.
        "CREATE TABLE IF NOT EXISTS counters (
        name TEXT PRIMARY KEY,
        value BIGINT NOT NULL
    )",
        "INSERT INTO counters (name, value) VALUES ('change', 0) ON CONFLICT (name) DO NOTHING",
    ],
    &[
        // A cluster's latest report is the row of `reports` it was stored as (`reports` is never
        // pruned of it), rather than a second copy in `last_report_json`, which stays for rows
        // written before and is NULL from now on; and its policy results (`{"policies": [...]}`),
        // which the next report is compared with for evidence, apart, so that ingest reads little.
        "ALTER TABLE clusters ADD COLUMN last_report_change BIGINT",
        "ALTER TABLE clusters ADD COLUMN last_policies_json TEXT",
    ],
    &[
        // The evidence log becomes a hash chain (see `evidence.rs`), and each row keeps the
        // standards and controls its policy named then, and the remediation taken. Rows written
        // before are linked, oldest first, right after this migration.
        "ALTER TABLE evidence ADD COLUMN seq BIGINT",
        "ALTER TABLE evidence ADD COLUMN standards_json TEXT",
        "ALTER TABLE evidence ADD COLUMN controls_json TEXT",
        "ALTER TABLE evidence ADD COLUMN remediation_json TEXT",
        "ALTER TABLE evidence ADD COLUMN prev_hash TEXT",
        "ALTER TABLE evidence ADD COLUMN hash TEXT",
        "CREATE UNIQUE INDEX IF NOT EXISTS evidence_by_seq ON evidence (seq)",
        "CREATE TABLE IF NOT EXISTS evidence_chain (
        name TEXT PRIMARY KEY,
        seq BIGINT NOT NULL,
        hash TEXT NOT NULL
    )",
        "INSERT INTO evidence_chain (name, seq, hash)
         VALUES ('evidence', 0, '0000000000000000000000000000000000000000000000000000000000000000')
         ON CONFLICT (name) DO NOTHING",
    ],
    &[
        // The clusters that failed on a commit of a placement (see `rollout.rs`): what a
        // rollout's halt counts. A row stays while the cluster is failed there or has moved on
        // from it, and goes when the cluster reports that commit synced.
        "CREATE TABLE IF NOT EXISTS rollout_failures (
        cluster TEXT NOT NULL,
        placement TEXT NOT NULL,
        commit_id TEXT NOT NULL,
        environment TEXT NOT NULL,
        at BIGINT NOT NULL,
        PRIMARY KEY (cluster, placement, commit_id)
    )",
        "CREATE INDEX IF NOT EXISTS rollout_failures_by_placement ON rollout_failures (environment, placement)",
    ],
    &[
        // When each first-parent commit of a followed branch was first seen there by a hub's
        // polling (see `arrivals.rs`): when its bake starts. `repository` is the URL. The first
        // hub process to record a commit keeps its time; a commit that left the branch is
        // deleted, so that it arrives anew if it comes back.
        "CREATE TABLE IF NOT EXISTS arrivals (
        repository TEXT NOT NULL,
        branch TEXT NOT NULL,
        commit_id TEXT NOT NULL,
        first_seen_ms BIGINT NOT NULL,
        PRIMARY KEY (repository, branch, commit_id)
    )",
    ],
    &[
        // The overrides of the evidence log (see `overrides.rs`): each commit a cluster ran
        // through a change freeze by a signed `Flotilla-Override:`, once per cluster, target
        // (`fleet` or the placement) and commit. Its rows take positions in the evidence chain
        // (`seq`, shared with `evidence`, whose head `evidence_chain` keeps). `time` is the
        // report's (the agent's clock), `received_at` the hub's.
        "CREATE TABLE IF NOT EXISTS evidence_overrides (
        seq BIGINT PRIMARY KEY,
        cluster TEXT NOT NULL,
        environment TEXT NOT NULL,
        target TEXT NOT NULL,
        commit_id TEXT NOT NULL,
        signer TEXT NOT NULL,
        reason TEXT NOT NULL,
        change BIGINT NOT NULL,
        sequence BIGINT NOT NULL,
        time BIGINT NOT NULL,
        received_at BIGINT NOT NULL,
        prev_hash TEXT NOT NULL,
        hash TEXT NOT NULL,
        UNIQUE (cluster, target, commit_id)
    )",
        "CREATE INDEX IF NOT EXISTS evidence_overrides_by_time ON evidence_overrides (time, change)",
    ],
    &[
        // The cluster's Kubernetes version and API versions (`report::Kubernetes` as JSON), as
        // its reports last said them: what a chart's `.Capabilities` reads when the hub
        // renders for it. Reports carry them only when they changed.
        "ALTER TABLE clusters ADD COLUMN kubernetes_json TEXT",
    ],
];

/// The migration that made the evidence log a chain: rows from before are linked after it.
const CHAIN_MIGRATION: i64 = 3;

/// An arbitrary constant: the PostgreSQL advisory lock that hub processes opening the same
/// database at once take, so that only one of them migrates (concurrent `CREATE TABLE IF NOT
/// EXISTS` can fail there on a catalog unique index).
const MIGRATION_LOCK: i64 = 0x666c_6f74_696c_6c61; // "flotilla"

/// Brings the schema up to date.
pub(super) async fn migrate(store: &Store) -> Result<(), Error> {
    let (_writer, mut tx) = store.begin_write().await?;
    if store.dialect == Dialect::Postgres {
        // Wrapped in a count because the Any driver cannot read `void`.
        let sql = store.sql("SELECT COUNT(*) FROM (SELECT pg_advisory_xact_lock(?)) AS locked");
        sqlx::query(&sql).bind(MIGRATION_LOCK).execute(&mut *tx).await?;
    }
    sqlx::query("CREATE TABLE IF NOT EXISTS schema_version (version BIGINT PRIMARY KEY, applied_at BIGINT NOT NULL)")
        .execute(&mut *tx)
        .await?;
    let current: i64 =
        sqlx::query("SELECT COALESCE(MAX(version), 0) FROM schema_version").fetch_one(&mut *tx).await?.try_get(0)?;
    let known = i64::try_from(MIGRATIONS.len()).expect("a few migrations");
    if current > known {
        return Err(Error::SchemaTooNew { found: current, known });
    }
    for (version, statements) in (1_i64..).zip(MIGRATIONS).skip(usize::try_from(current).unwrap_or(0)) {
        for statement in *statements {
            sqlx::query(statement).execute(&mut *tx).await?;
        }
        let sql = store.sql("INSERT INTO schema_version (version, applied_at) VALUES (?, ?)");
        sqlx::query(&sql).bind(version).bind(super::now_ms()).execute(&mut *tx).await?;
        if version == CHAIN_MIGRATION {
            store.chain_unlinked(&mut tx).await?;
        }
    }
    tx.commit().await?;
    Ok(())
}
