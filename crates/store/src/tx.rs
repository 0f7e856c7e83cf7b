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
//! reads. SQLite's turn is its writer, a connection kept apart from the
//! pool for writing ([`Writer`]). The turns belong to the `Db` value, so
//! two `Db`s on one database (two replicas in one test) contend only
//! through the database itself.

use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::sync::atomic::Ordering::Relaxed;
use std::time::{Duration, Instant};

use sqlx::sqlite::SqliteConnectOptions;
use sqlx::{Connection as _, SqliteConnection};
use tokio::sync::{Mutex, OwnedMutexGuard, OwnedSemaphorePermit, Semaphore};

use crate::{Db, Pool, Result, StoreError};

/// Half of the PostgreSQL pool (see `Db::connect`).
const PG_WRITERS: usize = 8;

#[derive(Clone, Debug)]
pub(crate) struct Turns {
    kind: TurnKind,
    clock: Arc<TurnClock>,
}

#[derive(Clone, Debug)]
enum TurnKind {
    /// The one connection this process writes SQLite through; its lock is
    /// the write turn.
    Sqlite(Arc<Mutex<Writer>>),
    Postgres(Arc<Semaphore>),
}

impl Turns {
    pub(crate) fn sqlite(writer: Writer) -> Self {
        Turns {
            kind: TurnKind::Sqlite(Arc::new(Mutex::new(writer))),
            clock: Default::default(),
        }
    }

    pub(crate) fn postgres() -> Self {
        Turns {
            kind: TurnKind::Postgres(Arc::new(Semaphore::new(PG_WRITERS))),
            clock: Default::default(),
        }
    }

    /// Starts timing a turn that was waited for since `asked`.
    fn held(&self, asked: Instant) -> Held {
        let now = Instant::now();
        self.clock.turns.fetch_add(1, Relaxed);
        self.clock
            .waited_ns
            .fetch_add(nanos(now.duration_since(asked)), Relaxed);
        Held {
            clock: self.clock.clone(),
            since: now,
        }
    }
}

/// How this process's writers used their turns, since it started: where
/// bookings queue when SQLite's single writer is the bottleneck (see
/// [`Db::write_turns`]).
#[derive(Debug, Default)]
struct TurnClock {
    turns: AtomicU64,
    held_ns: AtomicU64,
    waited_ns: AtomicU64,
}

/// [`Db::write_turns`]: totals since the process started.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct WriteTurns {
    pub turns: u64,
    /// Time turns were held (SQLite: the writer was busy).
    pub held: Duration,
    /// Time writers waited for a turn.
    pub waited: Duration,
}

fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

/// A turn being held: its time is counted when it ends.
struct Held {
    clock: Arc<TurnClock>,
    since: Instant,
}

impl Drop for Held {
    fn drop(&mut self) {
        self.clock
            .held_ns
            .fetch_add(nanos(self.since.elapsed()), Relaxed);
    }
}

/// PostgreSQL's turn: a share of the pool.
pub(crate) struct PgTurn {
    _permit: OwnedSemaphorePermit,
    _held: Held,
}

/// SQLite's writer: a connection of its own rather than one borrowed from
/// the pool for each transaction. A pool hands a connection over with a
/// ping and takes it back with another, and each is a round trip to the
/// connection's worker thread: two thread hand-offs per transaction that
/// check nothing an embedded database can lose (BENCHMARKS.md, session 6).
/// Writes are serialized by the write turn anyway, so one connection is all
/// they can use.
#[derive(Debug)]
pub(crate) struct Writer {
    /// `None` once closed ([`Db::close`]) or found broken; the next turn
    /// opens it again.
    conn: Option<SqliteConnection>,
    opts: SqliteConnectOptions,
    /// A transaction was begun and neither committed nor rolled back (its
    /// `Tx` was dropped where no runtime could roll it back).
    open: bool,
}

impl Writer {
    pub(crate) async fn connect(opts: SqliteConnectOptions) -> Result<Self> {
        Ok(Writer {
            conn: Some(SqliteConnection::connect_with(&opts).await?),
            opts,
            open: false,
        })
    }

    /// The connection, outside any transaction: rolls back what a dropped
    /// `Tx` left open, and reopens a connection that was closed or failed.
    async fn ready(&mut self) -> Result<&mut SqliteConnection> {
        if self.open {
            let rolled_back = match self.conn.as_mut() {
                Some(c) => sqlx::query("ROLLBACK").execute(&mut *c).await.is_ok(),
                None => true,
            };
            if !rolled_back {
                // Closing a connection rolls its transaction back.
                self.conn = None;
            }
            self.open = false;
        }
        if self.conn.is_none() {
            self.conn = Some(SqliteConnection::connect_with(&self.opts).await?);
        }
        self.conn.as_mut().ok_or(StoreError::Closed)
    }

    pub(crate) async fn close(&mut self) {
        if let Some(c) = self.conn.take() {
            let _ = c.close().await;
        }
        self.open = false;
    }
}

/// The write turn held by a SQLite transaction (or a single statement):
/// while it is held, nobody else in this process uses the writer.
pub(crate) struct SqliteTurn {
    writer: Option<OwnedMutexGuard<Writer>>,
    /// Counted until the turn ends (a dropped transaction's rollback, run
    /// after, is not: it is rare).
    _held: Held,
    /// A transaction whose `BEGIN IMMEDIATE` has not been sent yet
    /// ([`Db::write_checked`]): it travels with the first statement.
    unbegun: bool,
}

impl SqliteTurn {
    fn new(writer: OwnedMutexGuard<Writer>, held: Held, unbegun: bool) -> Self {
        SqliteTurn {
            writer: Some(writer),
            _held: held,
            unbegun,
        }
    }

    /// The connection, inside the transaction if this turn is one.
    pub(crate) async fn conn(&mut self) -> Result<&mut SqliteConnection> {
        let w = self.writer.as_mut().ok_or(StoreError::Closed)?;
        if std::mem::take(&mut self.unbegun) {
            begin_immediate(w).await?;
        }
        w.conn.as_mut().ok_or(StoreError::Closed)
    }

    /// Whether `BEGIN IMMEDIATE` must lead the next command, which the
    /// caller then sends: from here on the transaction counts as open, so
    /// that a command that fails after its `BEGIN` is rolled back.
    pub(crate) fn take_begin(&mut self) -> bool {
        let lead = std::mem::take(&mut self.unbegun);
        if lead && let Some(w) = self.writer.as_mut() {
            w.open = true;
        }
        lead
    }
}

/// Starts the writer's transaction: SQLite's write lock is taken here.
async fn begin_immediate(w: &mut Writer) -> Result<()> {
    let begun = sqlx::query("BEGIN IMMEDIATE")
        .execute(w.ready().await?)
        .await;
    if let Err(e) = begun {
        // A connection whose worker thread is gone fails every statement
        // from now on: the next turn opens another.
        if matches!(e, sqlx::Error::WorkerCrashed | sqlx::Error::Io(_)) {
            w.conn = None;
        }
        return Err(e.into());
    }
    w.open = true;
    Ok(())
}

impl Drop for SqliteTurn {
    /// A transaction dropped without commit is rolled back now, still
    /// holding the turn, so that SQLite's write lock — which other
    /// processes wait on — is given up at once rather than at this
    /// process's next write.
    fn drop(&mut self) {
        let Some(mut w) = self.writer.take() else {
            return;
        };
        if !w.open {
            return;
        }
        if let Ok(rt) = tokio::runtime::Handle::try_current() {
            rt.spawn(async move {
                if let Err(e) = w.ready().await {
                    tracing::warn!(error = %e, "rolling back a dropped transaction");
                }
            });
        }
    }
}

pub(crate) enum Conn {
    Sqlite(SqliteTurn),
    Postgres(sqlx::Transaction<'static, sqlx::Postgres>, PgTurn),
}

#[must_use = "the turn ends when it is dropped"]
pub(crate) enum Turn {
    Sqlite(SqliteTurn),
    Postgres(sqlx::PgPool, #[allow(dead_code)] PgTurn),
}

/// One open write transaction. Dropping it without [`Tx::commit`] rolls
/// it back.
pub struct Tx {
    pub(crate) conn: Conn,
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
                let $c: &mut sqlx::SqliteConnection = t.conn().await?;
                $body
            }
            $crate::tx::Conn::Postgres(t, _) => {
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
        self.begin_tx(false).await
    }

    /// `lazy`: SQLite's `BEGIN IMMEDIATE` waits for the first statement.
    async fn begin_tx(&self, lazy: bool) -> Result<Tx> {
        let conn = match self.one_statement_turn().await? {
            Turn::Sqlite(mut t) => {
                t.unbegun = true;
                if !lazy {
                    t.conn().await?;
                }
                Conn::Sqlite(t)
            }
            Turn::Postgres(p, turn) => Conn::Postgres(p.begin().await?, turn),
        };
        Ok(Tx { conn })
    }

    /// This process's write turn without a transaction, for a write that is
    /// one statement: a statement is atomic by itself, so it needs no
    /// `BEGIN`/`COMMIT` — two fewer round trips while SQLite's write lock is
    /// held — and still queues behind this process's other writers instead
    /// of spinning on the lock. SQLite runs it on the writer; PostgreSQL on
    /// the pool. Hold the turn across the statement. Transactions take
    /// their turn here too; every turn is timed ([`Db::write_turns`]).
    pub(crate) async fn one_statement_turn(&self) -> Result<Turn> {
        let asked = Instant::now();
        Ok(match &self.turns.kind {
            TurnKind::Sqlite(writer) => {
                let mut w = writer.clone().lock_owned().await;
                let held = self.turns.held(asked);
                w.ready().await?;
                Turn::Sqlite(SqliteTurn::new(w, held, false))
            }
            TurnKind::Postgres(writers) => {
                let Pool::Postgres(p) = &self.pool else {
                    return Err(StoreError::Closed);
                };
                let permit = writers
                    .clone()
                    .acquire_owned()
                    .await
                    .map_err(|_| StoreError::Conflict("shutting down"))?;
                let turn = PgTurn {
                    _permit: permit,
                    _held: self.turns.held(asked),
                };
                Turn::Postgres(p.clone(), turn)
            }
        })
    }

    /// How this process's writers used their turns since it started. On
    /// SQLite, `held` growing by nearly the wall-clock time means writes
    /// are queueing for the single writer.
    pub fn write_turns(&self) -> WriteTurns {
        let c = &self.turns.clock;
        WriteTurns {
            turns: c.turns.load(Relaxed),
            held: Duration::from_nanos(c.held_ns.load(Relaxed)),
            waited: Duration::from_nanos(c.waited_ns.load(Relaxed)),
        }
    }

    /// Closes SQLite's writer (the pool is closed by [`Db::close`]).
    pub(crate) async fn close_writer(&self) {
        if let TurnKind::Sqlite(writer) = &self.turns.kind {
            writer.lock().await.close().await;
        }
    }

    /// Runs `body` in one write transaction: commits when it answers `Ok`,
    /// rolls back when it answers `Err` (or panics).
    pub async fn write<T, E>(&self, body: impl AsyncFnOnce(&mut Tx) -> Result<T, E>) -> Result<T, E>
    where
        E: From<StoreError>,
    {
        self.write_in(self.begin().await?, body).await
    }

    /// [`Db::write`] for a body whose writes check for themselves what
    /// they were decided on (compare-and-set: a version, a state), and
    /// which reads nothing through the pool that the write lock must
    /// protect. On SQLite, `BEGIN IMMEDIATE` then travels with the first
    /// statement instead of alone: one hand-off to the writer's thread
    /// fewer while the write lock is held, where every booking queues.
    pub async fn write_checked<T, E>(
        &self,
        body: impl AsyncFnOnce(&mut Tx) -> Result<T, E>,
    ) -> Result<T, E>
    where
        E: From<StoreError>,
    {
        self.write_in(self.begin_tx(true).await?, body).await
    }

    async fn write_in<T, E>(
        &self,
        mut tx: Tx,
        body: impl AsyncFnOnce(&mut Tx) -> Result<T, E>,
    ) -> Result<T, E>
    where
        E: From<StoreError>,
    {
        let out = body(&mut tx).await?;
        tx.commit().await?;
        Ok(out)
    }
}

impl Tx {
    pub fn is_pg(&self) -> bool {
        matches!(self.conn, Conn::Postgres(..))
    }

    pub async fn commit(self) -> Result<()> {
        match self.conn {
            // Nothing was written: there is nothing to commit.
            Conn::Sqlite(t) if t.unbegun => {}
            Conn::Sqlite(mut t) => {
                sqlx::query("COMMIT").execute(t.conn().await?).await?;
                // Only now: a failed COMMIT leaves the transaction to be
                // rolled back when `t` drops.
                if let Some(w) = t.writer.as_mut() {
                    w.open = false;
                }
            }
            Conn::Postgres(t, _turn) => t.commit().await?,
        }
        Ok(())
    }

    /// Locks the accounts' rows until commit (PostgreSQL; SQLite's write
    /// lock already covers them), in id order — the rows are locked as the
    /// sorted scan returns them — so concurrent bookings cannot deadlock.
    #[tracing::instrument(skip_all, fields(n = ids.len()))]
    pub async fn lock_accounts(&mut self, ids: &[String]) -> Result<()> {
        if let (Conn::Postgres(t, _), false) = (&mut self.conn, ids.is_empty()) {
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
        if let Conn::Postgres(t, _) = &mut self.conn {
            sqlx::query("SELECT id FROM scheduling_requests WHERE id = $1 FOR UPDATE")
                .bind(id)
                .fetch_optional(&mut **t)
                .await?;
        }
        Ok(())
    }

    /// Locks a conversation's row until commit (PostgreSQL).
    pub async fn lock_conversation(&mut self, id: &str) -> Result<()> {
        if let Conn::Postgres(t, _) = &mut self.conn {
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

/// SQLite: several statements sent to the writer's thread as one command,
/// so a transaction's steps cost one hand-off instead of one each. Each
/// statement keeps its own `$n` numbering ([`Batch::sql`] shifts it) and
/// its own bind chain (`Batch::bind`, the same calls as a query's).
pub(crate) struct Batch {
    sql: String,
    args: sqlx::sqlite::SqliteArguments,
    failed: Option<sqlx::error::BoxDynError>,
    lead: bool,
}

impl Batch {
    /// `lead`: the batch opens the transaction (see [`SqliteTurn::take_begin`]).
    pub(crate) fn new(lead: bool) -> Self {
        Batch {
            sql: if lead {
                "BEGIN IMMEDIATE;\n".into()
            } else {
                String::new()
            },
            args: Default::default(),
            failed: None,
            lead,
        }
    }

    /// Appends a statement whose parameters are `$1`… as written; bind
    /// them next, in order.
    pub(crate) fn sql(mut self, statement: &str) -> Self {
        use sqlx::Arguments as _;
        let bound = self.args.len();
        let mut rest = statement;
        while let Some(at) = rest.find('$') {
            self.sql.push_str(&rest[..at + 1]);
            rest = &rest[at + 1..];
            let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
            match rest[..digits].parse::<usize>() {
                Ok(n) => self.sql.push_str(&(n + bound).to_string()),
                Err(_) => self.sql.push_str(&rest[..digits]),
            }
            rest = &rest[digits..];
        }
        self.sql.push_str(rest);
        self.sql.push_str(";\n");
        self
    }

    pub(crate) fn bind<'t, T>(mut self, value: T) -> Self
    where
        T: sqlx::Encode<'t, sqlx::Sqlite> + sqlx::Type<sqlx::Sqlite>,
    {
        use sqlx::Arguments as _;
        if let Err(e) = self.args.add(value)
            && self.failed.is_none()
        {
            self.failed = Some(e);
        }
        self
    }

    /// Runs the statements in order and answers each one's rows (the
    /// leading `BEGIN`'s excluded). An error stops the batch where it
    /// happened; the caller's transaction then rolls back.
    pub(crate) async fn run(
        self,
        conn: &mut SqliteConnection,
    ) -> Result<Vec<Vec<sqlx::sqlite::SqliteRow>>> {
        use futures_util::TryStreamExt as _;
        use sqlx::Executor as _;
        if let Some(e) = self.failed {
            return Err(sqlx::Error::Encode(e).into());
        }
        let query = sqlx::query_with(sqlx::AssertSqlSafe(self.sql), self.args);
        let mut steps = conn.fetch_many(query);
        // Each statement's rows come first, then its summary.
        let mut out = vec![Vec::new()];
        while let Some(step) = steps.try_next().await? {
            match step {
                sqlx::Either::Left(_) => out.push(Vec::new()),
                sqlx::Either::Right(row) => {
                    if let Some(rows) = out.last_mut() {
                        rows.push(row);
                    }
                }
            }
        }
        out.pop();
        if self.lead && !out.is_empty() {
            out.remove(0);
        }
        Ok(out)
    }
}
