//! Write transactions as values: the primitive behind every state change,
//! and behind every booking, so two replicas can never both win a slot.
//!
//! SQLite: a write transaction starts with `BEGIN IMMEDIATE`, taking the
//! database's single write lock before anything is checked. PostgreSQL: the
//! caller locks the rows it re-checks ([`Tx::lock_accounts`],
//! [`Tx::lock_request`], [`Tx::lock_conversation`]; accounts first, sorted,
//! so two bookings cannot deadlock). A check may then read through the pool
//! (`Db`'s read functions): whatever it sees was committed by a previous
//! lock holder. Writes go through the `Tx`; it commits with
//! [`Tx::commit`] (or when the closure given to [`Db::write`] answers `Ok`)
//! and rolls back when dropped.
//!
//! The turns: writers of one process queue for one write turn (SQLite) or
//! for half the pool (PostgreSQL) *before* taking a connection, rather than
//! holding a connection while they wait for the database's lock: a
//! transaction that holds the lock must still find connections for its
//! reads. The turns belong to the `Db` value, so two `Db`s on one database
//! (two replicas in one test) contend only through the database itself.

use std::sync::Arc;

use tokio::sync::{Mutex, OwnedMutexGuard, OwnedSemaphorePermit, Semaphore};

use crate::{Db, Pool, Result, StoreError};

/// Half of the PostgreSQL pool (see `Db::connect`).
const PG_WRITERS: usize = 8;

#[derive(Clone, Debug)]
pub(crate) struct Turns {
    sqlite: Arc<Mutex<()>>,
    postgres: Arc<Semaphore>,
}

impl Default for Turns {
    fn default() -> Self {
        Turns {
            sqlite: Arc::new(Mutex::new(())),
            postgres: Arc::new(Semaphore::new(PG_WRITERS)),
        }
    }
}

pub(crate) enum Conn {
    Sqlite(sqlx::Transaction<'static, sqlx::Sqlite>),
    Postgres(sqlx::Transaction<'static, sqlx::Postgres>),
}

#[allow(dead_code)] // held for their drop
#[must_use = "the turn ends when it is dropped"]
pub(crate) enum Turn {
    Sqlite(OwnedMutexGuard<()>),
    Postgres(OwnedSemaphorePermit),
}

/// One open write transaction. Dropping it without [`Tx::commit`] rolls
/// it back.
pub struct Tx {
    pub(crate) conn: Conn,
    _turn: Turn,
}

impl std::fmt::Debug for Tx {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.is_pg() {
            "Tx(postgres)"
        } else {
            "Tx(sqlite)"
        })
    }
}

/// Runs the same block against the transaction's backend: `$c` is the
/// concrete connection (`&mut SqliteConnection` / `&mut PgConnection`);
/// reborrow it (`&mut *c`) for each statement.
macro_rules! in_tx {
    ($tx:expr, |$c:ident| $body:expr) => {
        match &mut $tx.conn {
            $crate::tx::Conn::Sqlite(t) => {
                #[allow(unused)]
                const IS_PG: bool = false;
                let $c: &mut sqlx::SqliteConnection = &mut *t;
                $body
            }
            $crate::tx::Conn::Postgres(t) => {
                #[allow(unused)]
                const IS_PG: bool = true;
                let $c: &mut sqlx::PgConnection = &mut *t;
                $body
            }
        }
    };
}
pub(crate) use in_tx;

impl Db {
    /// Opens a write transaction (see the module docs).
    #[tracing::instrument(skip_all)]
    pub async fn begin(&self) -> Result<Tx> {
        match &self.pool {
            Pool::Sqlite(p) => {
                let turn = self.turns.sqlite.clone().lock_owned().await;
                let t = p.begin_with("BEGIN IMMEDIATE").await?;
                Ok(Tx {
                    conn: Conn::Sqlite(t),
                    _turn: Turn::Sqlite(turn),
                })
            }
            Pool::Postgres(p) => {
                let turn = self
                    .turns
                    .postgres
                    .clone()
                    .acquire_owned()
                    .await
                    .map_err(|_| StoreError::Conflict("shutting down"))?;
                let t = p.begin().await?;
                Ok(Tx {
                    conn: Conn::Postgres(t),
                    _turn: Turn::Postgres(turn),
                })
            }
        }
    }

    /// This process's write turn without a transaction, for a write that is
    /// one statement: a statement is atomic by itself, so it can run on the
    /// pool without `BEGIN`/`COMMIT` — two fewer round trips while SQLite's
    /// write lock is held — and still queues behind this process's other
    /// writers instead of spinning on the lock. Hold the guard across the
    /// statement.
    pub(crate) async fn one_statement_turn(&self) -> Result<Turn> {
        Ok(match &self.pool {
            Pool::Sqlite(_) => Turn::Sqlite(self.turns.sqlite.clone().lock_owned().await),
            Pool::Postgres(_) => Turn::Postgres(
                self.turns
                    .postgres
                    .clone()
                    .acquire_owned()
                    .await
                    .map_err(|_| StoreError::Conflict("shutting down"))?,
            ),
        })
    }

    /// Runs `body` in one write transaction: commits when it answers `Ok`,
    /// rolls back when it answers `Err` (or panics).
    pub async fn write<T, E>(&self, body: impl AsyncFnOnce(&mut Tx) -> Result<T, E>) -> Result<T, E>
    where
        E: From<StoreError>,
    {
        let mut tx = self.begin().await?;
        let out = body(&mut tx).await?;
        tx.commit().await?;
        Ok(out)
    }
}

impl Tx {
    pub fn is_pg(&self) -> bool {
        matches!(self.conn, Conn::Postgres(_))
    }

    pub async fn commit(self) -> Result<()> {
        match self.conn {
            Conn::Sqlite(t) => t.commit().await?,
            Conn::Postgres(t) => t.commit().await?,
        }
        Ok(())
    }

    /// Locks the accounts' rows until commit (PostgreSQL; SQLite's write
    /// lock already covers them), in id order — the rows are locked as the
    /// sorted scan returns them — so concurrent bookings cannot deadlock.
    #[tracing::instrument(skip_all, fields(n = ids.len()))]
    pub async fn lock_accounts(&mut self, ids: &[String]) -> Result<()> {
        if let (Conn::Postgres(t), false) = (&mut self.conn, ids.is_empty()) {
            let mut qb = sqlx::QueryBuilder::new("SELECT id FROM accounts WHERE id IN (");
            let mut sep = qb.separated(", ");
            for id in ids {
                sep.push_bind(id);
            }
            qb.push(") ORDER BY id FOR UPDATE");
            qb.build().fetch_all(&mut **t).await?;
        }
        Ok(())
    }

    /// Locks a scheduling request's row until commit (PostgreSQL).
    pub async fn lock_request(&mut self, id: &str) -> Result<()> {
        if let Conn::Postgres(t) = &mut self.conn {
            sqlx::query("SELECT id FROM scheduling_requests WHERE id = $1 FOR UPDATE")
                .bind(id)
                .fetch_optional(&mut **t)
                .await?;
        }
        Ok(())
    }

    /// Locks a conversation's row until commit (PostgreSQL).
    pub async fn lock_conversation(&mut self, id: &str) -> Result<()> {
        if let Conn::Postgres(t) = &mut self.conn {
            sqlx::query("SELECT id FROM scheduling_conversations WHERE id = $1 FOR UPDATE")
                .bind(id)
                .fetch_optional(&mut **t)
                .await?;
        }
        Ok(())
    }
}

/// Fails a compare-and-set that did not touch exactly one row: the state
/// it was decided on changed meanwhile, and the caller's transaction rolls
/// back.
pub(crate) fn expect_one(rows: u64) -> Result<()> {
    if rows == 1 {
        Ok(())
    } else {
        Err(StoreError::Conflict("state changed concurrently"))
    }
}
