//! One storage seam over SQLite and PostgreSQL.
//!
//! Every query is written once, in SQL that both backends accept (`$1`
//! placeholders, `TEXT` ids, `BIGINT` epoch milliseconds, `BOOLEAN`), and
//! expanded once per backend by [`dispatch!`] / [`write_tx!`] so that it is
//! type-checked against both drivers.
#![forbid(unsafe_code)]

use std::str::FromStr;
use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{PgPool, SqlitePool};

/// Upserts an event inside a caller's transaction (bookings write several);
/// a macro so that it expands against each backend's transaction type.
#[macro_export]
macro_rules! upsert_event_in {
    ($tx:expr, $ev:expr) => {{
        let ev: &$crate::Event = $ev;
        let row: $crate::Event = sqlx::query_as(
            "INSERT INTO events (event_uid, calendar_id, account_id, event_id, summary, description, start_ms, end_ms, start_date, end_date, tzid, transparency, status, participation, body_json, deleted, created_ms, updated_ms) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18) \
             ON CONFLICT (calendar_id, event_id) DO UPDATE SET summary = excluded.summary, description = excluded.description, start_ms = excluded.start_ms, end_ms = excluded.end_ms, start_date = excluded.start_date, end_date = excluded.end_date, tzid = excluded.tzid, transparency = excluded.transparency, status = excluded.status, body_json = excluded.body_json, deleted = excluded.deleted, updated_ms = excluded.updated_ms \
             RETURNING event_uid, calendar_id, account_id, event_id, summary, description, start_ms, end_ms, start_date, end_date, tzid, transparency, status, participation, body_json, deleted, created_ms, updated_ms",
        )
        .bind(&ev.event_uid)
        .bind(&ev.calendar_id)
        .bind(&ev.account_id)
        .bind(&ev.event_id)
        .bind(&ev.summary)
        .bind(&ev.description)
        .bind(ev.start_ms)
        .bind(ev.end_ms)
        .bind(&ev.start_date)
        .bind(&ev.end_date)
        .bind(&ev.tzid)
        .bind(&ev.transparency)
        .bind(&ev.status)
        .bind(&ev.participation)
        .bind(&ev.body_json)
        .bind(ev.deleted)
        .bind(ev.created_ms)
        .bind(ev.updated_ms)
        .fetch_one(&mut *$tx)
        .await?;
        row
    }};
}

pub mod admins;
pub mod conversations;
pub mod model;
pub mod notify;
pub mod ops;
mod queries;
pub mod scheduling;
pub mod tx;

/// Inputs of store operations that are not rows.
pub mod queries_support {
    pub use crate::queries::NewAccount;
}

pub use model::*;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database error: {0}")]
    Sqlx(#[from] sqlx::Error),
    #[error("migration error: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("unsupported database url {0:?}: use sqlite://PATH or postgres://…")]
    BadUrl(String),
    #[error("conflict: {0}")]
    Conflict(&'static str),
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// The database: one of the two backends, chosen from the URL at start.
#[derive(Clone, Debug)]
pub enum Db {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

/// Runs the same block against whichever backend is in use. Inside the
/// block `$p` is the concrete pool and `IS_PG` tells the backend, for the
/// few statements (row locks) only PostgreSQL needs.
#[macro_export]
macro_rules! dispatch {
    ($db:expr, |$p:ident| $body:expr) => {
        match $db {
            $crate::Db::Sqlite($p) => {
                #[allow(unused)]
                const IS_PG: bool = false;
                $body
            }
            $crate::Db::Postgres($p) => {
                #[allow(unused)]
                const IS_PG: bool = true;
                $body
            }
        }
    };
}

/// SQLite has one writer at a time. Writers of this process queue here,
/// before taking a pooled connection, rather than inside SQLite's busy
/// timeout while holding one: a booking that holds the write lock must
/// still find connections for its reads.
pub static SQLITE_WRITE: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// [`dispatch!`] for a statement that writes: on SQLite it first takes this
/// process's turn to write ([`SQLITE_WRITE`]).
#[macro_export]
macro_rules! dispatch_write {
    ($db:expr, |$p:ident| $body:expr) => {
        match $db {
            $crate::Db::Sqlite($p) => {
                #[allow(unused)]
                const IS_PG: bool = false;
                let _turn = $crate::SQLITE_WRITE.lock().await;
                $body
            }
            $crate::Db::Postgres($p) => {
                #[allow(unused)]
                const IS_PG: bool = true;
                $body
            }
        }
    };
}

/// Runs `$body` in one write transaction that the database serializes:
/// SQLite takes the write lock up front (`BEGIN IMMEDIATE`) so a read-check-
/// write cannot interleave with another writer; PostgreSQL callers take row
/// locks (`FOR UPDATE`, guarded by `IS_PG`) on what they re-check. The
/// transaction commits when the body yields `Ok` and rolls back on `Err`.
#[macro_export]
macro_rules! write_tx {
    ($db:expr, |$tx:ident| $body:expr) => {
        match $db {
            $crate::Db::Sqlite(p) => {
                #[allow(unused)]
                const IS_PG: bool = false;
                let _turn = $crate::SQLITE_WRITE.lock().await;
                let mut $tx = p.begin_with("BEGIN IMMEDIATE").await?;
                let out = $body;
                if out.is_ok() {
                    $tx.commit().await?;
                }
                out
            }
            $crate::Db::Postgres(p) => {
                #[allow(unused)]
                const IS_PG: bool = true;
                let mut $tx = p.begin().await?;
                let out = $body;
                if out.is_ok() {
                    $tx.commit().await?;
                }
                out
            }
        }
    };
}

impl Db {
    /// Connects and runs the embedded migrations of the matching backend.
    #[tracing::instrument(skip_all)]
    pub async fn connect(url: &str) -> Result<Self> {
        let db = if let Some(rest) = url
            .strip_prefix("sqlite://")
            .or_else(|| url.strip_prefix("sqlite:"))
        {
            let opts = if rest == ":memory:" || rest.is_empty() {
                SqliteConnectOptions::from_str("sqlite::memory:")?
            } else {
                SqliteConnectOptions::new().filename(rest)
            }
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .busy_timeout(Duration::from_secs(30))
            .foreign_keys(true);
            let pool = SqlitePoolOptions::new()
                .max_connections(if rest == ":memory:" { 1 } else { 16 })
                .connect_with(opts)
                .await?;
            sqlx::migrate!("migrations/sqlite").run(&pool).await?;
            Db::Sqlite(pool)
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            let opts = PgConnectOptions::from_str(url)?;
            let pool = PgPoolOptions::new()
                .max_connections(16)
                .acquire_timeout(Duration::from_secs(30))
                .connect_with(opts)
                .await?;
            sqlx::migrate!("migrations/postgres").run(&pool).await?;
            Db::Postgres(pool)
        } else {
            return Err(StoreError::BadUrl(url.to_string()));
        };
        Ok(db)
    }

    pub fn backend(&self) -> &'static str {
        match self {
            Db::Sqlite(_) => "sqlite",
            Db::Postgres(_) => "postgres",
        }
    }

    pub async fn close(&self) {
        dispatch!(self, |p| p.close().await)
    }
}
