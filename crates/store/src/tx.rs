//! Read-check-write units that the database serializes: the primitive
//! behind every booking, so two replicas can never both win a slot.
//!
//! SQLite: the transaction starts with `BEGIN IMMEDIATE`, taking the
//! database's single write lock before anything is checked. PostgreSQL: the
//! transaction first locks the rows named in `locks` (`SELECT … FOR UPDATE`,
//! callers pass them in a stable order so two bookings cannot deadlock);
//! every booking that touches the same account or request queues there.
//! The `check` then reads the current state (through the pool: whatever it
//! sees was committed by a previous lock holder) and returns the writes to
//! apply, which run inside the transaction before it commits.

use crate::{Db, Event, NewNotification, StoreError};

/// A value bound to a statement.
#[derive(Clone, Debug)]
pub enum Bind {
    Text(Option<String>),
    Int(Option<i64>),
    Bool(bool),
}

impl From<&str> for Bind {
    fn from(s: &str) -> Self {
        Bind::Text(Some(s.to_string()))
    }
}
impl From<String> for Bind {
    fn from(s: String) -> Self {
        Bind::Text(Some(s))
    }
}
impl From<Option<String>> for Bind {
    fn from(s: Option<String>) -> Self {
        Bind::Text(s)
    }
}
impl From<i64> for Bind {
    fn from(n: i64) -> Self {
        Bind::Int(Some(n))
    }
}
impl From<Option<i64>> for Bind {
    fn from(n: Option<i64>) -> Self {
        Bind::Int(n)
    }
}
impl From<bool> for Bind {
    fn from(b: bool) -> Self {
        Bind::Bool(b)
    }
}

/// One statement; with `expect_rows` the unit fails with
/// [`StoreError::Conflict`] (and rolls back) unless exactly that many rows
/// were affected, which turns "UPDATE … WHERE state = 'pending'" into a
/// compare-and-set.
#[derive(Clone, Debug)]
pub struct Stmt {
    pub sql: &'static str,
    pub binds: Vec<Bind>,
    pub expect_rows: Option<u64>,
    /// When the statement changes an account's calendar: (account, calendar)
    /// (or (account, "*")), so a `change` notification is recorded with it.
    pub changes: Option<(String, String)>,
}

fn crate_now_ms() -> i64 {
    jiff::Timestamp::now().as_millisecond()
}

impl Stmt {
    pub fn new(sql: &'static str, binds: Vec<Bind>) -> Self {
        Stmt {
            sql,
            binds,
            expect_rows: None,
            changes: None,
        }
    }

    pub fn changes_calendar(mut self, account: &str, calendar: &str) -> Self {
        self.changes = Some((account.to_string(), calendar.to_string()));
        self
    }

    pub fn expect(mut self, rows: u64) -> Self {
        self.expect_rows = Some(rows);
        self
    }
}

#[derive(Clone, Debug)]
pub enum Write {
    Event(Event),
    Stmt(Stmt),
    Notify(NewNotification),
}

macro_rules! bind_all {
    ($q:expr, $binds:expr) => {{
        let mut q = $q;
        for b in $binds {
            q = match b {
                Bind::Text(v) => q.bind(v.clone()),
                Bind::Int(v) => q.bind(*v),
                Bind::Bool(v) => q.bind(*v),
            };
        }
        q
    }};
}

macro_rules! apply_writes {
    ($tx:ident, $writes:expr) => {{
        for w in $writes {
            match w {
                Write::Event(ev) => {
                    let _row = upsert_event_in!($tx, ev);
                    crate::record_change_in!($tx, &ev.account_id, &ev.calendar_id, ev.updated_ms);
                }
                Write::Stmt(st) => {
                    let q = bind_all!(sqlx::query(sqlx::AssertSqlSafe(st.sql)), &st.binds);
                    let n = q.execute(&mut *$tx).await?.rows_affected();
                    if let Some((account, calendar)) = &st.changes {
                        crate::record_change_in!($tx, account, calendar, crate_now_ms());
                    }
                    if let Some(want) = st.expect_rows
                        && n != want
                    {
                        return Err(StoreError::Conflict("state changed concurrently"));
                    }
                }
                Write::Notify(n) => {
                    sqlx::query(
                        "INSERT INTO notifications (id, application_id, account_id, kind, subject_id, payload_json, created_ms) VALUES ($1, $2, $3, $4, $5, $6, $7)",
                    )
                    .bind(&n.id)
                    .bind(&n.application_id)
                    .bind(&n.account_id)
                    .bind(&n.kind)
                    .bind(&n.subject_id)
                    .bind(&n.payload_json)
                    .bind(n.created_ms)
                    .execute(&mut *$tx)
                    .await?;
                }
            }
        }
    }};
}

/// Half of the PostgreSQL pool (see `Db::connect`).
static PG_TURNS: tokio::sync::Semaphore = tokio::sync::Semaphore::const_new(8);

impl Db {
    /// Runs `check` under the serialization described in the module docs and
    /// applies the writes it returns, all in one transaction. `locks` are
    /// `SELECT … FOR UPDATE` statements, run (in order) on PostgreSQL only.
    pub async fn transact<T, E>(
        &self,
        locks: &[Stmt],
        check: impl AsyncFnOnce() -> Result<(T, Vec<Write>), E>,
    ) -> Result<T, E>
    where
        E: From<StoreError>,
    {
        let inner = async {
            match self {
                Db::Sqlite(p) => {
                    // The check reads through other pooled connections while
                    // this one holds the write lock; letting only one unit per
                    // process wait for the lock keeps waiters from using up
                    // the pool the holder needs (other processes still queue
                    // on the lock itself).
                    let _turn = crate::SQLITE_WRITE.lock().await;
                    let mut tx = p
                        .begin_with("BEGIN IMMEDIATE")
                        .await
                        .map_err(StoreError::from)?;
                    let (out, writes) = check().await?;
                    let applied: Result<(), StoreError> = async {
                        apply_writes!(tx, &writes);
                        Ok(())
                    }
                    .await;
                    applied.map_err(E::from)?;
                    tx.commit().await.map_err(StoreError::from)?;
                    Ok(out)
                }
                Db::Postgres(p) => {
                    // Same reason: at most half the pool waits on row locks,
                    // so the lock holder always finds a connection to read.
                    let _turn = PG_TURNS
                        .acquire()
                        .await
                        .map_err(|_| StoreError::Conflict("shutting down"))?;
                    let mut tx = p.begin().await.map_err(StoreError::from)?;
                    for l in locks {
                        let q = bind_all!(sqlx::query(sqlx::AssertSqlSafe(l.sql)), &l.binds);
                        q.fetch_all(&mut *tx).await.map_err(StoreError::from)?;
                    }
                    let (out, writes) = check().await?;
                    let applied: Result<(), StoreError> = async {
                        apply_writes!(tx, &writes);
                        Ok(())
                    }
                    .await;
                    applied.map_err(E::from)?;
                    tx.commit().await.map_err(StoreError::from)?;
                    Ok(out)
                }
            }
        };
        inner.await
    }

    /// Applies writes in one transaction without a check (plain state changes
    /// plus their notifications).
    pub async fn apply(&self, writes: Vec<Write>) -> Result<(), StoreError> {
        self.transact(&[], async || Ok::<_, StoreError>(((), writes)))
            .await
    }
}

/// `SELECT id FROM accounts WHERE id = $1 FOR UPDATE` for each id, sorted
/// and deduplicated so concurrent bookings lock in the same order.
pub fn account_locks(ids: &[String]) -> Vec<Stmt> {
    let mut ids: Vec<&String> = ids.iter().collect();
    ids.sort();
    ids.dedup();
    ids.into_iter()
        .map(|id| {
            Stmt::new(
                "SELECT id FROM accounts WHERE id = $1 FOR UPDATE",
                vec![id.clone().into()],
            )
        })
        .collect()
}
