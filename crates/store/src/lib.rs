//! One storage seam over SQLite and PostgreSQL.
//!
//! Every query is written once, in SQL that both backends accept (`$1`
//! placeholders, `TEXT` ids, `BIGINT` epoch milliseconds, `BOOLEAN`), and
//! expanded once per backend by [`dispatch!`] (pools) or `in_tx!`
//! (transactions) so that it is type-checked against both drivers. Writes
//! go through a [`Tx`] value: `db.write(async |tx| …)` or
//! `db.begin()` … `tx.commit()`; store functions take `&mut Tx` and are
//! ordinary functions, so `?` leaves the function it is written in.
#![forbid(unsafe_code)]

use std::str::FromStr;
use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{PgPool, SqlitePool};

pub mod admins;
mod availability_data;
pub mod connected;
pub mod conversations;
pub mod model;
pub mod notify;
pub mod ops;
pub mod ou_grants;
mod packed;
mod queries;
pub mod rts;
pub mod scheduling;
pub mod tx;

/// Inputs of store operations that are not rows.
pub mod queries_support {
    pub use crate::queries::NewAccount;
}

pub use model::*;
pub use packed::{BusyRuns, ID_SEP};
pub use tx::{Tx, WriteTurns};

/// The schema: `migrations/` holds what both backends accept, written once;
/// `migrations-sqlite/` and `migrations-postgres/` hold the few statements
/// whose dialects differ (triggers), under the same version numbers.
static SHARED: sqlx::migrate::Migrator = sqlx::migrate!();
static SQLITE_ONLY: sqlx::migrate::Migrator = sqlx::migrate!("./migrations-sqlite");
static POSTGRES_ONLY: sqlx::migrate::Migrator = sqlx::migrate!("./migrations-postgres");

/// One backend's migrations: the shared ones and its own, in version order.
fn migrator(own: &sqlx::migrate::Migrator) -> sqlx::migrate::Migrator {
    sqlx::migrate::Migrator::with_migrations(SHARED.iter().chain(own.iter()).cloned().collect())
}

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
    #[error("the database is closed")]
    Closed,
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// The database: a pool of one of the two backends, plus the turns that
/// keep this process's writers from starving the pool (see [`tx`]). Cloning
/// shares both; a second `Db::connect` to the same database is a second
/// replica, exactly like another OS process.
#[derive(Clone, Debug)]
pub struct Db {
    pool: Pool,
    turns: tx::Turns,
}

/// The concrete pool, for the [`dispatch!`] macro.
#[derive(Clone, Debug)]
pub enum Pool {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

/// Runs the same block against whichever backend is in use. Inside the
/// block `$p` is the concrete pool and `IS_PG` tells the backend, for the
/// few statements (aggregates, `SKIP LOCKED`) that differ.
#[macro_export]
macro_rules! dispatch {
    ($db:expr, |$p:ident| $body:expr) => {
        match $db.pool() {
            $crate::Pool::Sqlite($p) => {
                #[allow(unused)]
                const IS_PG: bool = false;
                $body
            }
            $crate::Pool::Postgres($p) => {
                #[allow(unused)]
                const IS_PG: bool = true;
                $body
            }
        }
    };
}

impl Db {
    /// Connects and runs the embedded migrations of the matching backend.
    #[tracing::instrument(skip_all)]
    pub async fn connect(url: &str) -> Result<Self> {
        let (pool, turns) = if let Some(rest) = url
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
            .foreign_keys(true)
            // A server checkpoints in the background (`Db::checkpoint`), so
            // that copying the log into the database — and its fsync — is not
            // done by whichever commit crosses the threshold while the write
            // lock's turn is held. This larger threshold only bounds the log
            // when nothing checkpoints (a CLI call, a test).
            .pragma("wal_autocheckpoint", WAL_AUTOCHECKPOINT_PAGES.to_string());
            let pool = SqlitePoolOptions::new()
                .max_connections(if rest == ":memory:" {
                    1
                } else {
                    sqlite_connections()
                })
                .connect_with(opts.clone())
                .await?;
            migrate_sqlite(&pool, rest).await?;
            (
                Pool::Sqlite(pool),
                tx::Turns::sqlite(tx::Writer::connect(opts).await?),
            )
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            let opts = PgConnectOptions::from_str(url)?;
            let pool = PgPoolOptions::new()
                .max_connections(16)
                .acquire_timeout(Duration::from_secs(30))
                .connect_with(opts)
                .await?;
            // sqlx holds an advisory lock while it migrates PostgreSQL, so
            // replicas started together take turns.
            migrator(&POSTGRES_ONLY).run(&pool).await?;
            (Pool::Postgres(pool), tx::Turns::postgres())
        } else {
            return Err(StoreError::BadUrl(url.to_string()));
        };
        Ok(Db { pool, turns })
    }

    /// Copies what the write-ahead log holds into the database file, as far
    /// as readers allow, without waiting for anyone (SQLite's PASSIVE
    /// checkpoint; nothing to do on PostgreSQL). The server calls it every
    /// [`CHECKPOINT_EVERY`].
    #[tracing::instrument(skip_all)]
    pub async fn checkpoint(&self) -> Result<()> {
        if let Pool::Sqlite(p) = &self.pool {
            sqlx::query("PRAGMA wal_checkpoint(PASSIVE)")
                .execute(p)
                .await?;
        }
        Ok(())
    }

    pub fn pool(&self) -> &Pool {
        &self.pool
    }

    /// Open and idle connections of this process's pool.
    pub fn pool_stats(&self) -> (u32, usize) {
        dispatch!(self, |p| (p.size(), p.num_idle()))
    }

    pub fn backend(&self) -> &'static str {
        match self.pool {
            Pool::Sqlite(_) => "sqlite",
            Pool::Postgres(_) => "postgres",
        }
    }

    pub async fn close(&self) {
        self.close_writer().await;
        dispatch!(self, |p| p.close().await)
    }
}

/// Log pages after which a commit checkpoints by itself (SQLite's default
/// is 1000): only reached when nothing calls [`Db::checkpoint`].
const WAL_AUTOCHECKPOINT_PAGES: u32 = 10_000;
/// How often a server checkpoints SQLite's write-ahead log.
pub const CHECKPOINT_EVERY: Duration = Duration::from_millis(250);

/// Connections of an SQLite pool: two per core, at least four. SQLite's
/// work is CPU-bound and every connection is a thread of its own; past a
/// few per core they only add hand-offs between threads (measured in
/// BENCHMARKS.md: 16 connections booked 5–8 % fewer slots a second than 4
/// on two cores).
fn sqlite_connections() -> u32 {
    let cores = std::thread::available_parallelism().map_or(2, |n| n.get() as u32);
    (cores * 2).max(4)
}

/// SQLite has no advisory lock: processes started together on a fresh file
/// can both decide a migration is due, and the loser's `CREATE TABLE` fails
/// once the winner commits. Every migration is one transaction, so the
/// loser has written nothing; running again sees the winner's work and goes
/// on from there.
async fn migrate_sqlite(pool: &SqlitePool, path: &str) -> Result<()> {
    let migrator = migrator(&SQLITE_ONLY);
    let mut attempt = 0u32;
    loop {
        match migrator.run(pool).await {
            Ok(()) => return Ok(()),
            Err(e) if attempt < 20 => {
                attempt += 1;
                tracing::debug!(%e, attempt, path, "migration raced another process; again");
                tokio::time::sleep(Duration::from_millis(50 * u64::from(attempt))).await;
            }
            Err(e) => return Err(e.into()),
        }
    }
}
