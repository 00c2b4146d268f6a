//! The control-plane store: everything the API creates (application inference profiles,
//! tags, logging configuration, usage for cost attribution, and later prompts,
//! provisioned throughput and batch jobs) lives here and survives a restart.
//!
//! Two backends behind one closed enum: a SQLite file under the data directory (the
//! default, nothing to run) and PostgreSQL (when several instances share one control
//! plane). Both schemas are kept column-for-column identical and the queries use `$N`
//! placeholders, which sqlx accepts on both, so each query is written once; a method
//! body is expanded once per pool type by `with_pool!`. Should a query ever need to
//! differ, it goes in a per-dialect module next to the one it replaces.
//!
//! Every method takes the caller's account and filters on it: another account never
//! sees, changes or deletes a resource, even when it knows the ARN.

use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use sqlx::migrate::Migrator;
use sqlx::postgres::{PgPool, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous};
use time::OffsetDateTime;

mod agents;
mod batch;
mod changes;
mod imports;
mod listing;
mod logging;
mod profiles;
mod prompts;
mod provisioned;
mod tags;
mod usage;

pub use agents::{ActionGroupRow, AgentRow, AgentVersionRow, AliasRow, DRAFT as AGENT_DRAFT};
pub use changes::{Change, Changes, CHANNEL};
pub use imports::{ImportJob, ImportJobQuery, ImportJobStatus, ImportedModel};
pub use listing::ListFilter;

pub use batch::{
    AsyncInvoke, AsyncInvokeQuery, AsyncInvokeStatus, BatchJob, BatchJobQuery, BatchJobStatus, RecordResult,
};

pub use profiles::AppProfile;
pub use prompts::{DraftUpdate, Prompt};
pub use provisioned::{ProvisionedModel, ProvisionedQuery, ProvisionedStatus};
pub use usage::UsageRow;

/// Runs the same sqlx code against whichever pool the store holds. The body is
/// type-checked once per dialect, which is what lets one query text serve both.
macro_rules! with_pool {
    ($store:expr, |$pool:ident| $body:expr) => {
        match $store {
            $crate::Store::Sqlite($pool) => $body,
            $crate::Store::Postgres($pool) => $body,
        }
    };
}
pub(crate) use with_pool;

// Embedded at build time: the binary carries its schema, no files to ship.
static SQLITE_MIGRATIONS: Migrator = sqlx::migrate!("migrations/sqlite");
static POSTGRES_MIGRATIONS: Migrator = sqlx::migrate!("migrations/postgres");

/// File name of the default SQLite store inside the data directory.
pub const SQLITE_FILE: &str = "spillway.db";

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// No such resource in the caller's account (and region, where it applies).
    #[error("resource not found")]
    NotFound,
    /// A uniqueness rule was broken (duplicate name, …); the text says which.
    #[error("{0}")]
    Conflict(String),
    /// The store URL is not one this build understands.
    #[error("invalid store URL: {0}")]
    Config(String),
    /// Anything the database (or a migration, or a stored value) failed with.
    #[error("store error: {0}")]
    Database(String),
}

impl From<sqlx::Error> for StoreError {
    fn from(e: sqlx::Error) -> Self {
        match &e {
            sqlx::Error::RowNotFound => StoreError::NotFound,
            sqlx::Error::Database(db) if db.is_unique_violation() => StoreError::Conflict(db.message().to_owned()),
            _ => StoreError::Database(e.to_string()),
        }
    }
}

impl From<sqlx::migrate::MigrateError> for StoreError {
    fn from(e: sqlx::migrate::MigrateError) -> Self {
        StoreError::Database(format!("migration failed: {e}"))
    }
}

/// The control-plane store. Cloning is cheap (pools are reference-counted).
#[derive(Clone, Debug)]
pub enum Store {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

impl Store {
    /// Opens the store and brings its schema up to date.
    ///
    /// `url`: `None` → SQLite file `<data_dir>/spillway.db` (created with the directory if
    /// missing); `postgres://…` / `postgresql://…` → PostgreSQL; `sqlite:…` → that SQLite
    /// database. Migrations run at every open; on PostgreSQL sqlx serialises them with an
    /// advisory lock, so instances starting together do not race.
    pub async fn open(url: Option<&str>, data_dir: &Path) -> Result<Store, StoreError> {
        let store = match url {
            None => {
                std::fs::create_dir_all(data_dir)
                    .map_err(|e| StoreError::Database(format!("cannot create {}: {e}", data_dir.display())))?;
                let opts = SqliteConnectOptions::new().filename(data_dir.join(SQLITE_FILE));
                Store::Sqlite(open_sqlite(opts).await?)
            }
            Some(u) if u.starts_with("postgres://") || u.starts_with("postgresql://") => {
                let pool = PgPoolOptions::new().acquire_timeout(Duration::from_secs(10)).connect(u).await?;
                Store::Postgres(pool)
            }
            Some(u) if u.starts_with("sqlite:") => {
                let opts = SqliteConnectOptions::from_str(u)?;
                Store::Sqlite(open_sqlite(opts).await?)
            }
            Some(u) => {
                // Name only the scheme: the rest may hold a password.
                let scheme = u.split(':').next().unwrap_or_default();
                return Err(StoreError::Config(format!(
                    "unsupported scheme {scheme:?}: expected postgres://… or sqlite:…"
                )));
            }
        };
        match &store {
            Store::Sqlite(pool) => SQLITE_MIGRATIONS.run(pool).await?,
            Store::Postgres(pool) => POSTGRES_MIGRATIONS.run(pool).await?,
        }
        Ok(store)
    }

    /// "sqlite" or "postgres", for logs and the startup banner.
    pub fn backend(&self) -> &'static str {
        match self {
            Store::Sqlite(_) => "sqlite",
            Store::Postgres(_) => "postgres",
        }
    }

    /// Closes every pooled connection (checkpointing the SQLite WAL); call at shutdown.
    pub async fn close(&self) {
        with_pool!(self, |pool| pool.close().await)
    }
}

async fn open_sqlite(opts: SqliteConnectOptions) -> Result<SqlitePool, StoreError> {
    // WAL lets readers run beside the single writer; NORMAL sync is durable across
    // process crashes in WAL mode. The busy timeout covers writer hand-offs between
    // pooled connections (and a second process pointed at the same file).
    let opts = opts
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(SqliteSynchronous::Normal)
        .busy_timeout(Duration::from_secs(10))
        .foreign_keys(true);
    Ok(SqlitePoolOptions::new().connect_with(opts).await?)
}

/// Begins a transaction that will write. SQLite's default `BEGIN` is deferred: it takes a
/// read snapshot and asks for the write lock only at its first write, and when another
/// connection has committed since the snapshot that upgrade fails at once with "database is
/// locked" (the busy timeout cannot help: waiting would not make the snapshot current).
/// `BEGIN IMMEDIATE` takes the write lock first, so writers queue on the busy timeout
/// instead. PostgreSQL's row locks need nothing of the kind.
pub(crate) trait BeginWrite {
    type Db: sqlx::Database;
    async fn begin_write(&self) -> Result<sqlx::Transaction<'static, Self::Db>, sqlx::Error>;
}

impl BeginWrite for SqlitePool {
    type Db = sqlx::Sqlite;
    async fn begin_write(&self) -> Result<sqlx::Transaction<'static, sqlx::Sqlite>, sqlx::Error> {
        self.begin_with("BEGIN IMMEDIATE").await
    }
}

impl BeginWrite for PgPool {
    type Db = sqlx::Postgres;
    async fn begin_write(&self) -> Result<sqlx::Transaction<'static, sqlx::Postgres>, sqlx::Error> {
        self.begin().await
    }
}

/// Timestamps are stored as fixed-width UTC text (microseconds), so that text order is
/// time order on both dialects and a value reads back exactly as it was written.
pub(crate) fn format_ts(t: OffsetDateTime) -> Result<String, StoreError> {
    let fmt = time::macros::format_description!("[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:6]Z");
    t.to_offset(time::UtcOffset::UTC)
        .format(fmt)
        .map_err(|e| StoreError::Database(format!("cannot format timestamp: {e}")))
}

pub(crate) fn parse_ts(s: &str) -> Result<OffsetDateTime, StoreError> {
    OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339)
        .map_err(|e| StoreError::Database(format!("stored timestamp {s:?} is invalid: {e}")))
}

/// The account field of an ARN (`arn:aws:bedrock:{region}:{account}:…`), if it has one.
pub(crate) fn arn_account(arn: &str) -> Option<&str> {
    let mut parts = arn.splitn(6, ':');
    match (parts.next(), parts.nth(3), parts.next()) {
        (Some("arn"), Some(account), Some(_resource)) => Some(account),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arn_account_reads_the_fifth_field() {
        let arn = "arn:aws:bedrock:us-east-1:123456789012:application-inference-profile/abc";
        assert_eq!(arn_account(arn), Some("123456789012"));
        assert_eq!(arn_account("arn:aws:bedrock:us-east-1::foundation-model/x"), Some(""));
        assert_eq!(arn_account("not-an-arn"), None);
        assert_eq!(arn_account("arn:aws:bedrock:us-east-1:123"), None);
    }

    #[test]
    fn timestamps_round_trip_and_sort_as_text() {
        let a = time::macros::datetime!(2024-09-01 12:00:00.5 +02:00);
        let b = time::macros::datetime!(2024-09-01 10:00:00.75 UTC);
        let (sa, sb) = (format_ts(a).unwrap(), format_ts(b).unwrap());
        assert_eq!(sa, "2024-09-01T10:00:00.500000Z");
        assert!(sa < sb);
        assert_eq!(parse_ts(&sa).unwrap(), a);
    }

    #[tokio::test]
    async fn unknown_scheme_is_refused_without_echoing_the_url() {
        let dir = tempfile::tempdir().unwrap();
        let err = Store::open(Some("mysql://user:secret@host/db"), dir.path()).await.unwrap_err();
        assert!(matches!(&err, StoreError::Config(msg) if msg.contains("mysql") && !msg.contains("secret")), "{err:?}");
    }
}
