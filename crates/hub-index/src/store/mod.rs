//! The hub's storage: join, viewer and cluster tokens, the registered clusters with their latest
//! report, the report history, the append-only evidence log (policy results and overrides, one
//! hash chain), and when commits reached the branches the hub follows. One implementation over two databases through sqlx's `Any` driver:
//! SQLite, the embedded default (`sqlite:hub.db`), and PostgreSQL (`postgres://…`), which
//! several hub processes can share.
//!
//! Every update of a cluster row takes the next hub-wide **change number**, so a process keeps an
//! in-memory index current by asking for the rows changed since the last number it saw
//! ([`Store::changed_since`]), also while other processes write.
//!
//! Not the HTTP layer: parsing, validating and authenticating a report, and batching reports into
//! [`Store::ingest`], are the caller's. Not the views either: they are built from what the
//! readers return.

mod arrivals;
mod chain;
mod evidence;
mod halt;
mod ingest;
mod overrides;
mod schema;
mod sql;
mod token;

use std::collections::BTreeMap;
use std::sync::{Arc, Once};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use flotilla_core::register;
use flotilla_core::report::Report;
use sqlx::any::{AnyPoolOptions, AnyRow};
use sqlx::{Any, AnyPool, Executor as _, Row as _, Transaction};
use tokio::sync::{Mutex, OwnedMutexGuard};

pub use crate::records::{EvidenceRow, Failure, OverrideRow, PolicyMeta};
pub use arrivals::ArrivalRow;
pub use ingest::{Incoming, IngestError, Ingested};
pub use overrides::OverrideFilter;
use sql::Dialect;
pub use token::{CLUSTER_PREFIX, JOIN_PREFIX, VIEWER_PREFIX, digest as token_digest};

/// How long a SQLite connection waits for another process's write lock.
const SQLITE_BUSY_TIMEOUT_MS: u32 = 10_000;

/// A handle on the database; cheap to clone, and clones share one connection pool.
#[derive(Debug, Clone)]
pub struct Store {
    pool: AnyPool,
    dialect: Dialect,
    /// Serializes this process's write transactions on SQLite, which allows one writer at a
    /// time anyway: waiting here is fair and cheap, where waiting in SQLite's busy handler
    /// polls. Unused on PostgreSQL, whose row locks order concurrent writers.
    writer: Arc<Mutex<()>>,
}

/// A storage failure.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The database URL is neither `sqlite:PATH` nor `postgres://…`.
    #[error("database url {0}")]
    Url(String),
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
    #[error("cluster name pattern {pattern:?} {problem}")]
    Pattern { pattern: String, problem: String },
    /// A newer hub migrated the database; this one would misread it.
    #[error("the database schema is version {found}, newer than this hub's {known}: upgrade the hub")]
    SchemaTooNew { found: i64, known: i64 },
    /// A stored value this hub cannot read, as `clusters.labels_json of store-0042`.
    #[error("stored {what} is unreadable: {problem}")]
    Corrupt { what: String, problem: String },
    #[error("no random bytes for a token: {0}")]
    Random(String),
}

/// Why a cluster could not register.
#[derive(Debug, thiserror::Error)]
pub enum RegisterError {
    /// The join token is not one the hub issued.
    #[error("unknown join token")]
    Unauthorized,
    /// The join token allows only names of a pattern, and this is not one.
    #[error("cluster name {cluster:?} does not match the join token's pattern {pattern:?}")]
    Forbidden { cluster: String, pattern: String },
    /// The request breaks a rule of [`register::Request::validate`], naming the field.
    #[error("{0}")]
    Invalid(String),
    #[error(transparent)]
    Store(#[from] Error),
}

/// A registered cluster and its latest report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterRow {
    pub name: String,
    pub environment: String,
    pub labels: BTreeMap<String, String>,
    /// The SHA-256 of the cluster's token.
    pub token_hash: [u8; 32],
    pub registered_at_ms: i64,
    /// The sequence of the latest stored report; 0 before the first one since registering.
    pub last_sequence: i64,
    /// When the hub received the latest report (its clock, not the agent's).
    pub last_report_at_ms: Option<i64>,
    /// The latest report, kept across a new registration as the last-known state.
    pub last_report: Option<Report>,
    /// The change number of the row's last update.
    pub change: i64,
    /// The cluster's Kubernetes as its reports last said it.
    pub kubernetes: Option<flotilla_core::report::Kubernetes>,
}

/// A stored report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReportRow {
    pub cluster: String,
    pub sequence: i64,
    /// The change number it was stored with: unique hub-wide, and increasing in storing order.
    pub change: i64,
    pub received_at_ms: i64,
    /// The report's own time, from the agent's clock.
    pub time_ms: i64,
    /// The report's bytes as received.
    pub json: String,
    pub report: Report,
}

/// Which evidence to read: all of it by default, oldest first (or newest first), at most
/// `limit` rows.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct EvidenceFilter {
    pub cluster: Option<String>,
    pub policy: Option<String>,
    /// Only results whose report time is at or after this.
    pub since_ms: Option<i64>,
    /// At most this many rows (the default, 0, reads none).
    pub limit: i64,
    /// The newest rows first (a cluster's recent history) rather than the oldest.
    pub newest_first: bool,
}

/// A cluster row with its latest report, from `clusters c` joined with `reports r`.
const CLUSTER_COLUMNS: &str =
    "c.name, c.environment, c.labels_json, c.registered_at, c.last_sequence, c.last_report_at,
     COALESCE(c.last_report_json, r.json), c.change, c.token_hash, c.kubernetes_json
     FROM clusters c LEFT JOIN reports r ON r.cluster = c.name AND r.change = c.last_report_change";

impl Store {
    /// Opens the database at `url` (`sqlite:PATH`, created if missing, or `postgres://…`) and
    /// brings its schema up to date.
    pub async fn open(url: &str) -> Result<Store, Error> {
        static DRIVERS: Once = Once::new();
        DRIVERS.call_once(sqlx::any::install_default_drivers);

        let (dialect, url) = if let Some(path) = url.strip_prefix("sqlite:") {
            if path.is_empty() {
                return Err(Error::Url("sqlite: names no file (sqlite:PATH)".into()));
            }
            // Create the file unless the URL says otherwise.
            let url = if path.contains('?') { url.to_string() } else { format!("{url}?mode=rwc") };
            (Dialect::Sqlite, url)
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            (Dialect::Postgres, url.to_string())
        } else {
            // Not the URL itself: it may hold a password.
            return Err(Error::Url("must start with sqlite: or postgres://".into()));
        };

        let options = match dialect {
            Dialect::Sqlite => AnyPoolOptions::new().max_connections(4).after_connect(|conn, _| {
                Box::pin(async move {
                    // Per connection; WAL, which is kept in the file, is set once below.
                    conn.execute("PRAGMA synchronous = NORMAL").await?;
                    conn.execute(format!("PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}").as_str()).await?;
                    Ok(())
                })
            }),
            Dialect::Postgres => AnyPoolOptions::new().max_connections(8),
        };
        let pool = options.acquire_timeout(Duration::from_secs(30)).connect(&url).await?;
        if dialect == Dialect::Sqlite {
            // Readers do not block the writer, nor it them; with synchronous=NORMAL a commit is
            // durable once the WAL is checkpointed, and never corrupt.
            pool.execute("PRAGMA journal_mode = WAL").await?;
        }
        let store = Store { pool, dialect, writer: Arc::new(Mutex::new(())) };
        schema::migrate(&store).await?;
        Ok(store)
    }

    /// Issues a join token, optionally for cluster names of a pattern (`store-*`: `*` stands
    /// for any run of characters). Returned this once; the store keeps its hash.
    pub async fn create_join_token(&self, pattern: Option<&str>) -> Result<String, Error> {
        if let Some(pattern) = pattern {
            token::check_pattern(pattern)
                .map_err(|problem| Error::Pattern { pattern: pattern.to_string(), problem: problem.to_string() })?;
        }
        let token = token::new_token(JOIN_PREFIX)?;
        let sql = self.sql("INSERT INTO join_tokens (hash, cluster_name_pattern, created_at) VALUES (?, ?, ?)");
        let (_writer, mut tx) = self.begin_write().await?;
        sqlx::query(&sql).bind(token::hash(&token)).bind(pattern).bind(now_ms()).execute(&mut *tx).await?;
        tx.commit().await?;
        Ok(token)
    }

    /// Issues a viewer token, which reads the views. Returned this once.
    pub async fn create_viewer_token(&self) -> Result<String, Error> {
        let token = token::new_token(VIEWER_PREFIX)?;
        let sql = self.sql("INSERT INTO viewer_tokens (hash, created_at) VALUES (?, ?)");
        let (_writer, mut tx) = self.begin_write().await?;
        sqlx::query(&sql).bind(token::hash(&token)).bind(now_ms()).execute(&mut *tx).await?;
        tx.commit().await?;
        Ok(token)
    }

    /// Whether `token` is a viewer token the hub issued.
    pub async fn viewer_allowed(&self, token: &str) -> Result<bool, Error> {
        let sql = self.sql("SELECT 1 FROM viewer_tokens WHERE hash = ?");
        Ok(sqlx::query(&sql).bind(token::hash(token)).fetch_optional(&self.pool).await?.is_some())
    }

    /// Registers a cluster with a join token and issues the cluster's token.
    ///
    /// Registering a name again is how an agent that lost its state folder (and with it its
    /// token and sequence) comes back: the new token replaces the old one, which stops working,
    /// and the sequence starts over (`last_sequence` 0), so the agent's reports from 1 on are
    /// accepted. The latest report is kept as the last-known state until a new one arrives. The
    /// join token is the authority here: anyone holding it may take over a name it allows.
    pub async fn register(
        &self,
        join_token: &str,
        request: &register::Request,
    ) -> Result<register::Response, RegisterError> {
        request.validate().map_err(RegisterError::Invalid)?;
        let labels_json = serde_json::to_string(&request.labels).expect("a map of strings always serializes");
        let (_writer, mut tx) = self.begin_write().await?;

        let sql = self.sql("SELECT cluster_name_pattern FROM join_tokens WHERE hash = ?");
        let row =
            sqlx::query(&sql).bind(token::hash(join_token)).fetch_optional(&mut *tx).await.map_err(Error::from)?;
        let Some(row) = row else { return Err(RegisterError::Unauthorized) };
        let pattern: Option<String> = row.try_get(0).map_err(Error::from)?;
        if let Some(pattern) = pattern
            && !token::matches(&pattern, &request.cluster)
        {
            return Err(RegisterError::Forbidden { cluster: request.cluster.clone(), pattern });
        }

        let token = token::new_token(CLUSTER_PREFIX)?;
        // The row first, then the counter: the order `ingest` locks them in, so the two cannot
        // deadlock on PostgreSQL.
        let sql = self.sql(
            "INSERT INTO clusters (name, token_hash, environment, labels_json, registered_at, last_sequence, change)
             VALUES (?, ?, ?, ?, ?, 0, 0)
             ON CONFLICT (name) DO UPDATE SET token_hash = excluded.token_hash,
                 environment = excluded.environment, labels_json = excluded.labels_json,
                 registered_at = excluded.registered_at, last_sequence = 0",
        );
        sqlx::query(&sql)
            .bind(&request.cluster)
            .bind(token::hash(&token))
            .bind(&request.environment)
            .bind(labels_json)
            .bind(now_ms())
            .execute(&mut *tx)
            .await
            .map_err(Error::from)?;
        let change = self.next_changes(&mut tx, 1).await?;
        let sql = self.sql("UPDATE clusters SET change = ? WHERE name = ?");
        sqlx::query(&sql).bind(change).bind(&request.cluster).execute(&mut *tx).await.map_err(Error::from)?;
        tx.commit().await.map_err(Error::from)?;
        Ok(register::Response { cluster: request.cluster.clone(), token })
    }

    /// The cluster whose token `token` is, if any.
    pub async fn cluster_for_token(&self, token: &str) -> Result<Option<String>, Error> {
        let sql = self.sql("SELECT name FROM clusters WHERE token_hash = ?");
        let row = sqlx::query(&sql).bind(token::hash(token)).fetch_optional(&self.pool).await?;
        Ok(row.map(|r| r.try_get(0)).transpose()?)
    }

    /// Up to `limit` clusters whose change number is above `change`, in change order: how a hub
    /// process keeps its index current. Passing the last row's `change` next time misses
    /// nothing, also with other processes writing: change numbers become visible in order
    /// (see [`Store::ingest`]).
    pub async fn changed_since(&self, change: i64, limit: i64) -> Result<Vec<ClusterRow>, Error> {
        let sql = format!("SELECT {CLUSTER_COLUMNS} WHERE c.change > ? ORDER BY c.change LIMIT ?");
        let sql = self.sql(&sql);
        let rows = sqlx::query(&sql).bind(change).bind(limit.max(0)).fetch_all(&self.pool).await?;
        rows.iter().map(cluster_row).collect()
    }

    /// A registered cluster.
    pub async fn cluster(&self, name: &str) -> Result<Option<ClusterRow>, Error> {
        let sql = format!("SELECT {CLUSTER_COLUMNS} WHERE c.name = ?");
        let sql = self.sql(&sql);
        let row = sqlx::query(&sql).bind(name).fetch_optional(&self.pool).await?;
        row.as_ref().map(cluster_row).transpose()
    }

    /// How many clusters are registered.
    pub async fn clusters_count(&self) -> Result<i64, Error> {
        Ok(sqlx::query("SELECT COUNT(*) FROM clusters").fetch_one(&self.pool).await?.try_get(0)?)
    }

    /// A cluster's latest `limit` stored reports, newest first.
    pub async fn reports(&self, cluster: &str, limit: i64) -> Result<Vec<ReportRow>, Error> {
        let sql = self.sql(
            "SELECT cluster, sequence, change, received_at, time, json FROM reports
             WHERE cluster = ? ORDER BY change DESC LIMIT ?",
        );
        let rows = sqlx::query(&sql).bind(cluster).bind(limit.max(0)).fetch_all(&self.pool).await?;
        rows.iter()
            .map(|row| {
                let cluster: String = row.try_get(0)?;
                let change: i64 = row.try_get(2)?;
                let json: String = row.try_get(5)?;
                let report = parse_report(&json, || format!("reports.json of {cluster} at change {change}"))?;
                Ok(ReportRow {
                    sequence: row.try_get(1)?,
                    received_at_ms: row.try_get(3)?,
                    time_ms: row.try_get(4)?,
                    cluster,
                    change,
                    json,
                    report,
                })
            })
            .collect()
    }

    /// Evidence log entries matching `filter`, oldest first (by report time, then change
    /// number and policy).
    pub async fn evidence(&self, filter: &EvidenceFilter) -> Result<Vec<EvidenceRow>, Error> {
        let mut conditions = Vec::new();
        if filter.cluster.is_some() {
            conditions.push("cluster = ?");
        }
        if filter.policy.is_some() {
            conditions.push("policy = ?");
        }
        if filter.since_ms.is_some() {
            conditions.push("time >= ?");
        }
        let mut sql = format!("SELECT {} FROM evidence", evidence::COLUMNS);
        if !conditions.is_empty() {
            sql.push_str(" WHERE ");
            sql.push_str(&conditions.join(" AND "));
        }
        sql.push_str(if filter.newest_first {
            " ORDER BY time DESC, change DESC, policy LIMIT ?"
        } else {
            " ORDER BY time, change, policy LIMIT ?"
        });
        let sql = self.sql(&sql);
        let mut query = sqlx::query(&sql);
        // In the order of the conditions above.
        if let Some(cluster) = &filter.cluster {
            query = query.bind(cluster);
        }
        if let Some(policy) = &filter.policy {
            query = query.bind(policy);
        }
        if let Some(since) = filter.since_ms {
            query = query.bind(since);
        }
        let rows = query.bind(filter.limit.max(0)).fetch_all(&self.pool).await?;
        rows.iter().map(evidence::row).collect()
    }

    fn sql<'a>(&self, sql: &'a str) -> std::borrow::Cow<'a, str> {
        self.dialect.sql(sql)
    }

    /// Starts a write transaction. On SQLite it takes this process's writer lock and then the
    /// database's (`BEGIN IMMEDIATE`), so that a transaction that reads first never fails to
    /// upgrade to writing when another process wrote in between.
    async fn begin_write(&self) -> Result<(Option<OwnedMutexGuard<()>>, Transaction<'static, Any>), Error> {
        match self.dialect {
            Dialect::Sqlite => {
                let guard = Arc::clone(&self.writer).lock_owned().await;
                Ok((Some(guard), self.pool.begin_with("BEGIN IMMEDIATE").await?))
            }
            Dialect::Postgres => Ok((None, self.pool.begin().await?)),
        }
    }

    /// Takes `n` change numbers and returns the last; the others are the `n - 1` before it.
    ///
    /// The counter row stays locked until the transaction ends, so on PostgreSQL a second
    /// writer waits here until the first commits (or rolls back): numbers are taken and become
    /// visible in the same order, and a reader that has seen number N will never later find a
    /// new row numbered below N. Callers take them last, to hold that lock briefly.
    async fn next_changes(&self, tx: &mut Transaction<'static, Any>, n: i64) -> Result<i64, Error> {
        let sql = self.sql("UPDATE counters SET value = value + ? WHERE name = 'change' RETURNING value");
        Ok(sqlx::query(&sql).bind(n).fetch_one(&mut **tx).await?.try_get(0)?)
    }
}

fn cluster_row(row: &AnyRow) -> Result<ClusterRow, Error> {
    let name: String = row.try_get(0)?;
    let labels_json: String = row.try_get(2)?;
    let labels = serde_json::from_str(&labels_json)
        .map_err(|e| Error::Corrupt { what: format!("clusters.labels_json of {name}"), problem: e.to_string() })?;
    let last_report_json: Option<String> = row.try_get(6)?;
    let last_report =
        last_report_json.map(|json| parse_report(&json, || format!("the last report of {name}"))).transpose()?;
    let token_hash: String = row.try_get(8)?;
    let token_hash = hex::decode(&token_hash).ok().and_then(|b| <[u8; 32]>::try_from(b).ok()).ok_or_else(|| {
        Error::Corrupt { what: format!("clusters.token_hash of {name}"), problem: "not 64 hex digits".into() }
    })?;
    let kubernetes_json: Option<String> = row.try_get(9)?;
    let kubernetes = kubernetes_json
        .map(|json| {
            serde_json::from_str(&json).map_err(|e| Error::Corrupt {
                what: format!("clusters.kubernetes_json of {name}"),
                problem: e.to_string(),
            })
        })
        .transpose()?;
    Ok(ClusterRow {
        kubernetes,
        token_hash,
        environment: row.try_get(1)?,
        labels,
        registered_at_ms: row.try_get(3)?,
        last_sequence: row.try_get(4)?,
        last_report_at_ms: row.try_get(5)?,
        last_report,
        change: row.try_get(7)?,
        name,
    })
}

/// A stored report; it was validated on the way in, so failing here means the data changed.
fn parse_report(json: &str, what: impl FnOnce() -> String) -> Result<Report, Error> {
    Report::from_json(json.as_bytes()).map_err(|e| Error::Corrupt { what: what(), problem: e.to_string() })
}

/// The current time in unix milliseconds (0 before 1970).
fn now_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}
