//! Templates and scheduling requests.

use crate::tx::{Turn, in_tx};
use crate::{Db, Result, StoreError, Tx, dispatch};

/// Where a scheduling request stands. The allowed moves between these are
/// the domain's (`convene_server::domain::requests::may_move`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RequestState {
    /// Waiting for the recipient to pick a slot.
    Pending,
    /// Booked; the recipient asked for another time and the booking stands
    /// until they pick one.
    PendingRescheduling,
    /// Booked.
    Complete,
    Cancelled,
    Declined,
    /// The window passed without a booking.
    Expired,
}

impl RequestState {
    pub const ALL: [RequestState; 6] = [
        RequestState::Pending,
        RequestState::PendingRescheduling,
        RequestState::Complete,
        RequestState::Cancelled,
        RequestState::Declined,
        RequestState::Expired,
    ];

    /// The wire and database spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            RequestState::Pending => "pending",
            RequestState::PendingRescheduling => "pending_rescheduling",
            RequestState::Complete => "complete",
            RequestState::Cancelled => "cancelled",
            RequestState::Declined => "declined",
            RequestState::Expired => "expired",
        }
    }

    /// Waiting for a choice (a first one or a new one).
    pub fn is_open(self) -> bool {
        matches!(
            self,
            RequestState::Pending | RequestState::PendingRescheduling
        )
    }
}

impl std::fmt::Display for RequestState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for RequestState {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        RequestState::ALL
            .into_iter()
            .find(|st| st.as_str() == s)
            .ok_or_else(|| format!("unknown scheduling request state {s:?}"))
    }
}

impl TryFrom<String> for RequestState {
    type Error = String;
    fn try_from(s: String) -> std::result::Result<Self, String> {
        s.parse()
    }
}

#[derive(Clone, Debug, sqlx::FromRow)]
pub struct Template {
    pub id: String,
    pub organizational_unit_id: String,
    pub name: String,
    pub body_json: String,
    pub deleted: bool,
    pub created_ms: i64,
    pub updated_ms: i64,
}

#[derive(Clone, Debug, sqlx::FromRow)]
pub struct Request {
    pub id: String,
    pub application_id: String,
    pub organizational_unit_id: String,
    pub template_id: Option<String>,
    #[sqlx(try_from = "String")]
    pub state: RequestState,
    pub token_hash: String,
    pub spec_json: String,
    pub booking_json: Option<String>,
    pub history_json: String,
    pub window_end_ms: i64,
    pub created_ms: i64,
    pub updated_ms: i64,
}

const TEMPLATE_COLS: &str =
    "id, organizational_unit_id, name, body_json, deleted, created_ms, updated_ms";
const REQUEST_COLS: &str = "id, application_id, organizational_unit_id, template_id, state, token_hash, spec_json, booking_json, history_json, window_end_ms, created_ms, updated_ms";

/// A new scheduling request; binds as `bind_request!`.
const INSERT_REQUEST_SQL: &str = "INSERT INTO scheduling_requests (id, application_id, organizational_unit_id, template_id, state, token_hash, spec_json, booking_json, history_json, window_end_ms, created_ms, updated_ms) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)";

/// A request moved from the copy read to the next (`update_request_watched`),
/// answering whether its application has a webhook; no row: the request
/// changed since it was read. Binds as `bind_move_request!`.
pub(crate) const MOVE_REQUEST_SQL: &str = "UPDATE scheduling_requests SET state = $1, booking_json = $2, history_json = $3, updated_ms = $4 WHERE id = $5 AND state = $6 AND updated_ms = $7 \
     RETURNING coalesce((SELECT a.webhook_url IS NOT NULL FROM applications a WHERE a.id = scheduling_requests.application_id), FALSE)";

macro_rules! bind_move_request {
    ($q:expr, $next:expr, $read:expr) => {{
        let (next, read): (&Request, &Request) = ($next, $read);
        $q.bind(next.state.as_str())
            .bind(&next.booking_json)
            .bind(&next.history_json)
            .bind(next.updated_ms)
            .bind(&next.id)
            .bind(read.state.as_str())
            .bind(read.updated_ms)
    }};
}
pub(crate) use bind_move_request;

/// Binds a request's columns in [`INSERT_REQUEST_SQL`]'s order (a macro:
/// the same chain serves a pool and a transaction of either backend).
macro_rules! bind_request {
    ($q:expr, $r:expr) => {{
        let r: &Request = $r;
        $q.bind(&r.id)
            .bind(&r.application_id)
            .bind(&r.organizational_unit_id)
            .bind(&r.template_id)
            .bind(r.state.as_str())
            .bind(&r.token_hash)
            .bind(&r.spec_json)
            .bind(&r.booking_json)
            .bind(&r.history_json)
            .bind(r.window_end_ms)
            .bind(r.created_ms)
            .bind(r.updated_ms)
    }};
}

impl Db {
    #[tracing::instrument(skip(self, t), fields(template = %t.id))]
    pub async fn upsert_template(&self, t: &Template) -> Result<()> {
        self.write(async |tx: &mut Tx| -> Result<()> { in_tx!(tx, |p| {
            sqlx::query(
            "INSERT INTO scheduling_templates (id, organizational_unit_id, name, body_json, deleted, created_ms, updated_ms) VALUES ($1, $2, $3, $4, $5, $6, $7) \
             ON CONFLICT (id) DO UPDATE SET name = excluded.name, body_json = excluded.body_json, deleted = excluded.deleted, updated_ms = excluded.updated_ms"
        )
        .bind(&t.id)
        .bind(&t.organizational_unit_id)
        .bind(&t.name)
        .bind(&t.body_json)
        .bind(t.deleted)
        .bind(t.created_ms)
        .bind(t.updated_ms)
        .execute(&mut *p)
        .await
        .map(|_| ())?
        }); Ok(()) }).await?;
        Ok(())
    }

    /// A template of the unit (deleted ones included; callers decide).
    #[tracing::instrument(skip(self))]
    pub async fn template(&self, ou: &str, id: &str) -> Result<Option<Template>> {
        Ok(dispatch!(self, |p| {
            let mut qb = sqlx::QueryBuilder::new(format!(
                "SELECT {TEMPLATE_COLS} FROM scheduling_templates WHERE id = "
            ));
            qb.push_bind(id)
                .push(" AND organizational_unit_id = ")
                .push_bind(ou);
            qb.build_query_as().fetch_optional(p).await?
        }))
    }

    #[tracing::instrument(skip(self))]
    pub async fn templates(&self, ou: &str) -> Result<Vec<Template>> {
        Ok(dispatch!(self, |p| {
            let mut qb = sqlx::QueryBuilder::new(format!(
                "SELECT {TEMPLATE_COLS} FROM scheduling_templates WHERE organizational_unit_id = "
            ));
            qb.push_bind(ou)
                .push(" AND deleted = ")
                .push_bind(false)
                .push(" ORDER BY created_ms, id");
            qb.build_query_as().fetch_all(p).await?
        }))
    }

    /// Records a new request that sends nothing (one statement: no
    /// transaction needed, see `one_statement_turn`).
    #[tracing::instrument(skip(self, r), fields(request = %r.id))]
    pub async fn insert_request(&self, r: &Request) -> Result<()> {
        let q = INSERT_REQUEST_SQL;
        match self.one_statement_turn().await? {
            Turn::Sqlite(mut w) => {
                bind_request!(sqlx::query(q), r)
                    .execute(w.conn().await?)
                    .await?;
            }
            Turn::Postgres(p, _turn) => {
                bind_request!(sqlx::query(q), r).execute(&p).await?;
            }
        }
        Ok(())
    }

    #[tracing::instrument(skip(self))]
    pub async fn request(&self, id: &str) -> Result<Option<Request>> {
        Ok(dispatch!(self, |p| {
            let mut qb = sqlx::QueryBuilder::new(format!(
                "SELECT {REQUEST_COLS} FROM scheduling_requests WHERE id = "
            ));
            qb.push_bind(id);
            qb.build_query_as().fetch_optional(p).await?
        }))
    }

    #[tracing::instrument(skip_all)]
    pub async fn request_by_token_hash(&self, hash: &str) -> Result<Option<Request>> {
        Ok(dispatch!(self, |p| {
            let mut qb = sqlx::QueryBuilder::new(format!(
                "SELECT {REQUEST_COLS} FROM scheduling_requests WHERE token_hash = "
            ));
            qb.push_bind(hash);
            qb.build_query_as().fetch_optional(p).await?
        }))
    }

    /// Requests of a unit, newest first, optionally in one state.
    #[tracing::instrument(skip(self))]
    pub async fn requests(
        &self,
        ou: &str,
        state: Option<&str>,
        limit: i64,
    ) -> Result<Vec<Request>> {
        Ok(dispatch!(self, |p| {
            let mut qb = sqlx::QueryBuilder::new(format!(
                "SELECT {REQUEST_COLS} FROM scheduling_requests WHERE organizational_unit_id = "
            ));
            qb.push_bind(ou);
            if let Some(s) = state {
                qb.push(" AND state = ").push_bind(s);
            }
            qb.push(" ORDER BY created_ms DESC, id LIMIT ")
                .push_bind(limit);
            qb.build_query_as().fetch_all(p).await?
        }))
    }

    /// Open requests whose window ends by `until_ms` (candidates for expiry).
    #[tracing::instrument(skip(self))]
    pub async fn requests_ending_by(&self, until_ms: i64, limit: i64) -> Result<Vec<Request>> {
        Ok(dispatch!(self, |p| {
            let mut qb = sqlx::QueryBuilder::new(format!(
                "SELECT {REQUEST_COLS} FROM scheduling_requests WHERE state IN ('pending', 'pending_rescheduling') AND window_end_ms <= "
            ));
            qb.push_bind(until_ms)
                .push(" ORDER BY window_end_ms LIMIT ")
                .push_bind(limit);
            qb.build_query_as().fetch_all(p).await?
        }))
    }

    /// In-progress conversations whose last period has ended.
    #[tracing::instrument(skip(self))]
    pub async fn conversations_ended_by(&self, now_ms: i64, limit: i64) -> Result<Vec<String>> {
        Ok(dispatch!(self, |p| {
            sqlx::query_scalar(
            "SELECT id FROM scheduling_conversations WHERE status = 'in_progress' AND ends_ms <= $1 ORDER BY ends_ms LIMIT $2"
        )
        .bind(now_ms)
        .bind(limit)
        .fetch_all(p)
        .await?
        }))
    }

    /// In-progress conversations where nobody chooses by hand: they complete
    /// as soon as a slot opens, which only a look at them notices.
    #[tracing::instrument(skip(self))]
    pub async fn auto_conversations_in_progress(&self, limit: i64) -> Result<Vec<String>> {
        Ok(dispatch!(self, |p| {
            sqlx::query_scalar(
            "SELECT c.id FROM scheduling_conversations c WHERE c.status = 'in_progress' AND NOT EXISTS \
             (SELECT 1 FROM scheduling_conversation_participants p WHERE p.conversation_id = c.id AND p.selection_method = 'manual') \
             ORDER BY c.ends_ms LIMIT $1"
        )
        .bind(limit)
        .fetch_all(p)
        .await?
        }))
    }

    /// A named per-installation secret stored by an older Convene (the
    /// instance key now lives outside the database), if any.
    #[tracing::instrument(skip(self))]
    pub async fn stored_instance_secret(&self, name: &str) -> Result<Option<String>> {
        Ok(dispatch!(self, |p| sqlx::query_scalar(
            "SELECT value FROM instance_secrets WHERE name = $1"
        )
        .bind(name)
        .fetch_optional(p)
        .await?))
    }

    /// Forgets a stored per-installation secret (once it has been moved out
    /// of the database).
    #[tracing::instrument(skip(self))]
    pub async fn forget_instance_secret(&self, name: &str) -> Result<()> {
        self.write(async |tx: &mut Tx| -> Result<()> {
            in_tx!(tx, |c| sqlx::query(
                "DELETE FROM instance_secrets WHERE name = $1"
            )
            .bind(name)
            .execute(&mut *c)
            .await?
            .rows_affected());
            Ok(())
        })
        .await
    }

    /// A named per-installation secret, created with `fresh` on first use
    /// (how Convene stored its instance key before the key file; kept to
    /// make such databases in tests).
    #[tracing::instrument(skip(self, fresh))]
    pub async fn instance_secret(&self, name: &str, fresh: &str) -> Result<String> {
        self.write(async |tx: &mut Tx| -> Result<()> { in_tx!(tx, |p| {
            sqlx::query("INSERT INTO instance_secrets (name, value) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING")
            .bind(name)
            .bind(fresh)
            .execute(&mut *p)
            .await
            .map(|_| ())?
        }); Ok(()) }).await?;
        let v: Option<String> = dispatch!(self, |p| sqlx::query_scalar(
            "SELECT value FROM instance_secrets WHERE name = $1"
        )
        .bind(name)
        .fetch_optional(p)
        .await?);
        v.ok_or(StoreError::Conflict("instance secret vanished"))
    }
}

impl Tx {
    /// Records a new request; in a transaction so that what it sends (a
    /// mail to its recipient) commits with it.
    #[tracing::instrument(skip(self, r), fields(request = %r.id))]
    pub async fn insert_request(&mut self, r: &Request) -> Result<()> {
        in_tx!(self, |c| bind_request!(sqlx::query(INSERT_REQUEST_SQL), r)
            .execute(&mut *c)
            .await?
            .rows_affected());
        Ok(())
    }

    /// Moves a request from the copy the caller read to `next` (state,
    /// booking, history): a compare-and-set on the read copy's state and
    /// `updated_ms`, so a change decided on stale state fails with
    /// `Conflict` and its transaction rolls back.
    #[tracing::instrument(skip_all, fields(request = %next.id))]
    pub async fn update_request(&mut self, next: &Request, read: &Request) -> Result<()> {
        self.update_request_watched(next, read).await.map(|_| ())
    }

    /// [`Tx::update_request`] that also answers whether the request's
    /// application has a webhook, read in the same statement: a booking
    /// skips the notification row that no one would be sent.
    pub async fn update_request_watched(&mut self, next: &Request, read: &Request) -> Result<bool> {
        let watched: Option<bool> = in_tx!(self, |c| {
            bind_move_request!(sqlx::query_scalar(MOVE_REQUEST_SQL), next, read)
                .fetch_optional(&mut *c)
                .await?
        });
        watched.ok_or(StoreError::Conflict("state changed concurrently"))
    }

    /// Remembers when an account was last booked (round-robin picks the
    /// least recently booked member).
    pub async fn set_last_booked(&mut self, account_id: &str, now_ms: i64) -> Result<()> {
        in_tx!(self, |c| sqlx::query(
            "UPDATE accounts SET last_booked_ms = $1 WHERE id = $2"
        )
        .bind(now_ms)
        .bind(account_id)
        .execute(&mut *c)
        .await?
        .rows_affected());
        Ok(())
    }
}
