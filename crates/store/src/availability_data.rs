//! Writes to what availability is computed from: events, availability
//! rules and available periods.
//!
//! The invariant lives here and nowhere else: every function that writes
//! these tables bumps the account's `availability_version` in the same
//! transaction (and records a `change` notification for event writes), so a
//! process's availability cache can never serve data older than a commit it
//! could see. There is no other way to write these tables.

use sqlx::Row as _;

use crate::scheduling::{MOVE_REQUEST_SQL, Request, bind_move_request};
use crate::tx::{Batch, in_tx};
use crate::{Db, Event, Period, Result, Rule, StoreError, Tx};

/// SQL: the event is not one of a booking's (scheduling request or
/// conversation), whose ids Convene reserves.
const NOT_BOOKED: &str =
    "(event_id IS NULL OR (substr(event_id, 1, 4) <> 'srq_' AND substr(event_id, 1, 4) <> 'scv_'))";

/// Records a `change` notification for an account, but only when it has an
/// open channel: accounts nobody watches cost nothing. Binds: $1 id,
/// $2 account, $3 calendar, $4 payload, $5 now.
pub(crate) const CHANGE_NOTIFICATION_SQL: &str = "INSERT INTO notifications (id, application_id, account_id, kind, subject_id, payload_json, created_ms, dispatched) \
     SELECT $1, a.application_id, a.id, 'change', $3, $4, $5, FALSE FROM accounts a \
     WHERE a.id = $2 AND EXISTS (SELECT 1 FROM channels c WHERE c.account_id = a.id AND c.closed = FALSE) \
     ON CONFLICT (id) DO NOTHING";

/// A booking's event is about to be written for an account checked at a
/// version: moves the version on from exactly that one, and answers
/// whether anyone watches the account and whether the calendar is a
/// connected one (no row: the version moved since the check). Binds as
/// `bind_booked_account!`.
const BOOKED_ACCOUNT_SQL: &str = "UPDATE accounts SET availability_version = availability_version + 1, last_booked_ms = $1 WHERE id = $2 AND availability_version = $3 \
     RETURNING EXISTS (SELECT 1 FROM channels c WHERE c.account_id = accounts.id AND c.closed = $4), \
     EXISTS (SELECT 1 FROM provider_calendars pc WHERE pc.calendar_id = $5)";

macro_rules! bind_booked_account {
    ($q:expr, $ev:expr, $version:expr) => {{
        let ev: &Event = $ev;
        $q.bind(ev.updated_ms)
            .bind(&ev.account_id)
            .bind($version)
            .bind(false)
            .bind(&ev.calendar_id)
    }};
}

/// An event by (calendar, event_id), inserted or updated; binds as
/// `bind_event!`.
const UPSERT_EVENT_SQL: &str = "INSERT INTO events (event_uid, calendar_id, account_id, event_id, summary, description, start_ms, end_ms, start_date, end_date, tzid, transparency, status, participation, body_json, deleted, created_ms, updated_ms) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18) \
     ON CONFLICT (calendar_id, event_id) DO UPDATE SET summary = excluded.summary, description = excluded.description, start_ms = excluded.start_ms, end_ms = excluded.end_ms, start_date = excluded.start_date, end_date = excluded.end_date, tzid = excluded.tzid, transparency = excluded.transparency, status = excluded.status, body_json = excluded.body_json, deleted = excluded.deleted, updated_ms = excluded.updated_ms \
     RETURNING event_uid, calendar_id, account_id, event_id, summary, description, start_ms, end_ms, start_date, end_date, tzid, transparency, status, participation, body_json, deleted, created_ms, updated_ms";

/// Binds an event's columns in [`UPSERT_EVENT_SQL`]'s order (a macro:
/// the same chain serves both backends and both query shapes).
macro_rules! bind_event {
    ($q:expr, $ev:expr) => {{
        let ev: &Event = $ev;
        $q.bind(&ev.event_uid)
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
    }};
}

impl Tx {
    async fn bump_version(&mut self, account_id: &str) -> Result<()> {
        in_tx!(self, |c| sqlx::query(
            "UPDATE accounts SET availability_version = availability_version + 1 WHERE id = $1",
        )
        .bind(account_id)
        .execute(&mut *c)
        .await?
        .rows_affected());
        Ok(())
    }

    /// A change of an account's calendar (`*` for all of them): bumps the
    /// version and records the `change` notification.
    async fn record_change(&mut self, account: &str, calendar: &str, now_ms: i64) -> Result<()> {
        self.bump_version(account).await?;
        self.record_change_only(account, calendar, now_ms).await
    }

    /// The `change` notification alone, for writers that moved the version
    /// themselves.
    async fn record_change_only(
        &mut self,
        account: &str,
        calendar: &str,
        now_ms: i64,
    ) -> Result<()> {
        let changes_since = jiff::Timestamp::from_millisecond(now_ms - 1000)
            .map(|t| t.strftime("%Y-%m-%dT%H:%M:%SZ").to_string())
            .unwrap_or_default();
        let payload =
            serde_json::json!({"notification": {"type": "change", "changes_since": changes_since}})
                .to_string();
        in_tx!(self, |c| sqlx::query(CHANGE_NOTIFICATION_SQL)
            .bind(format!("chg_{account}_{calendar}_{now_ms}"))
            .bind(account)
            .bind(calendar)
            .bind(&payload)
            .bind(now_ms)
            .execute(&mut *c)
            .await?
            .rows_affected());
        Ok(())
    }

    /// Inserts or updates an event by (calendar, event_id); answers the
    /// stored row.
    #[tracing::instrument(skip(self, ev), fields(calendar = %ev.calendar_id))]
    pub async fn upsert_event(&mut self, ev: &Event) -> Result<Event> {
        let row: Event = in_tx!(self, |c| bind_event!(sqlx::query_as(UPSERT_EVENT_SQL), ev)
            .fetch_one(&mut *c)
            .await?);
        self.record_change(&ev.account_id, &ev.calendar_id, ev.updated_ms)
            .await?;
        self.queue_remote_write(&row.calendar_id, &row.event_uid, ev.updated_ms)
            .await?;
        Ok(row)
    }

    /// Writes a booking's event for a member whose availability was checked
    /// at version `*version`, and marks the member booked now (round robin
    /// picks the least recently booked).
    ///
    /// The check may have run before this transaction began: the account's
    /// version moves from exactly `*version` or not at all, so if anything
    /// the check read has changed since — in any process — this fails with
    /// `Conflict`, the transaction rolls back and the booking is decided
    /// again. On success `*version` is the new version, for a second event
    /// of the same member in the same transaction.
    #[tracing::instrument(skip(self, ev), fields(calendar = %ev.calendar_id))]
    pub async fn insert_booked_event(&mut self, ev: &Event, version: &mut i64) -> Result<()> {
        // The same statement tells whether anyone watches the account and
        // whether the calendar is a connected one, so the usual case skips
        // the two writes that would find nothing to do.
        let moved: Option<(bool, bool)> = in_tx!(self, |c| {
            bind_booked_account!(sqlx::query_as(BOOKED_ACCOUNT_SQL), ev, *version)
                .fetch_optional(&mut *c)
                .await?
        });
        let Some((watched, connected)) = moved else {
            return Err(crate::StoreError::Conflict(
                "availability changed since the check",
            ));
        };
        *version += 1;
        // A move updates the booking's event in place: its uid stays.
        let row: Event = in_tx!(self, |c| bind_event!(sqlx::query_as(UPSERT_EVENT_SQL), ev)
            .fetch_one(&mut *c)
            .await?);
        if watched {
            self.record_change_only(&ev.account_id, &ev.calendar_id, ev.updated_ms)
                .await?;
        }
        if connected {
            self.queue_remote_write(&row.calendar_id, &row.event_uid, ev.updated_ms)
                .await?;
        }
        Ok(())
    }

    /// A booking's rows: each event written as
    /// [`Tx::insert_booked_event`] writes it, at the version its account
    /// must still be at (a member's second event: one more), then the
    /// request moved from `read` to `next` as
    /// [`Tx::update_request_watched`] moves it, whose answer this is.
    ///
    /// SQLite sends it all as one command, with the transaction's `BEGIN`
    /// if it has not been sent ([`Db::write_checked`]): these statements
    /// are where bookings queue for the write lock, and each command is a
    /// hand-off to the writer's thread and back. A failed check shows in
    /// the answers only once every statement has run; the transaction then
    /// rolls back, as after any `Conflict`.
    #[tracing::instrument(skip_all, fields(request = %next.id))]
    pub async fn record_booking(
        &mut self,
        events: &[(&Event, i64)],
        next: &Request,
        read: &Request,
    ) -> Result<bool> {
        let crate::tx::Conn::Sqlite(t) = &mut self.conn else {
            for (ev, version) in events {
                self.insert_booked_event(ev, &mut version.clone()).await?;
            }
            return self.update_request_watched(next, read).await;
        };
        let mut batch = Batch::new(t.take_begin());
        for (ev, version) in events {
            batch = bind_booked_account!(batch.sql(BOOKED_ACCOUNT_SQL), ev, *version);
            batch = bind_event!(batch.sql(UPSERT_EVENT_SQL), ev);
        }
        batch = bind_move_request!(batch.sql(MOVE_REQUEST_SQL), next, read);
        let mut answers = batch.run(t.conn().await?).await?.into_iter();
        let mut follow_ups = Vec::new();
        for (ev, _) in events {
            let moved = answers.next().unwrap_or_default();
            let Some(row) = moved.first() else {
                return Err(StoreError::Conflict("availability changed since the check"));
            };
            let (watched, connected): (bool, bool) = (row.try_get(0)?, row.try_get(1)?);
            // The stored uid: a move keeps the event's own.
            let remote_uid: Option<String> = match answers.next().unwrap_or_default().first() {
                Some(row) if connected => Some(row.try_get("event_uid")?),
                _ => None,
            };
            follow_ups.push((*ev, watched, remote_uid));
        }
        let watched: bool = match answers.next().unwrap_or_default().first() {
            Some(row) => row.try_get(0)?,
            None => return Err(StoreError::Conflict("state changed concurrently")),
        };
        for (ev, watched, remote_uid) in follow_ups {
            if watched {
                self.record_change_only(&ev.account_id, &ev.calendar_id, ev.updated_ms)
                    .await?;
            }
            if let Some(uid) = remote_uid {
                self.queue_remote_write(&ev.calendar_id, &uid, ev.updated_ms)
                    .await?;
            }
        }
        Ok(watched)
    }

    /// Soft-deletes one event so `include_deleted` and `last_modified`
    /// listings can report it. `by_uid` picks the column the caller named;
    /// by uid, a booking's event (ids `srq_…`, `scv_…`) is never matched:
    /// those go with their booking's cancel or decline.
    #[tracing::instrument(skip(self))]
    pub async fn delete_event(
        &mut self,
        account_id: &str,
        calendar_id: &str,
        id: &str,
        by_uid: bool,
        now_ms: i64,
    ) -> Result<bool> {
        let sql = if by_uid {
            format!(
                "UPDATE events SET deleted = $3, updated_ms = $4 WHERE calendar_id = $1 AND event_uid = $2 AND deleted = $5 AND {NOT_BOOKED} RETURNING event_uid"
            )
        } else {
            "UPDATE events SET deleted = $3, updated_ms = $4 WHERE calendar_id = $1 AND event_id = $2 AND deleted = $5 RETURNING event_uid".to_string()
        };
        let uids: Vec<String> = in_tx!(self, |c| sqlx::query_scalar(sqlx::AssertSqlSafe(
            sql.clone()
        ))
        .bind(calendar_id)
        .bind(id)
        .bind(true)
        .bind(now_ms)
        .bind(false)
        .fetch_all(&mut *c)
        .await?);
        if !uids.is_empty() {
            self.record_change(account_id, calendar_id, now_ms).await?;
        }
        for uid in &uids {
            self.queue_remote_write(calendar_id, uid, now_ms).await?;
        }
        Ok(!uids.is_empty())
    }

    /// Bulk delete: every event of the account, or of the named calendars
    /// (bookings' events excepted).
    #[tracing::instrument(skip(self))]
    pub async fn delete_events(
        &mut self,
        account_id: &str,
        calendar_ids: Option<&[String]>,
        now_ms: i64,
    ) -> Result<u64> {
        let rows: Vec<(String, String)> = in_tx!(self, |c| {
            let mut qb = sqlx::QueryBuilder::new("UPDATE events SET deleted = ");
            qb.push_bind(true)
                .push(", updated_ms = ")
                .push_bind(now_ms)
                .push(" WHERE account_id = ")
                .push_bind(account_id)
                .push(" AND deleted = ")
                .push_bind(false)
                .push(" AND ")
                .push(NOT_BOOKED)
                // Events read from connected calendars are the remote
                // calendar's: they go when they go there.
                .push(" AND (event_id IS NULL OR substr(event_id, 1, 4) <> 'rmt_')");
            if let Some(ids) = calendar_ids {
                qb.push(" AND calendar_id IN (");
                let mut sep = qb.separated(", ");
                for id in ids {
                    sep.push_bind(id);
                }
                qb.push(")");
            }
            qb.push(" RETURNING calendar_id, event_uid");
            qb.build_query_as().fetch_all(&mut *c).await?
        });
        let n = rows.len() as u64;
        if n > 0 {
            // Only events of writable connected calendars are written back.
            let writable: Vec<String> = in_tx!(self, |c| {
                sqlx::query_scalar(
                "SELECT pc.calendar_id FROM provider_calendars pc JOIN profile_connections pr ON pr.profile_id = pc.profile_id WHERE pr.account_id = $1 AND pc.readonly = $2"
            )
            .bind(account_id)
            .bind(false)
            .fetch_all(&mut *c)
            .await?
            });
            for (cal, uid) in rows.iter().filter(|(cal, _)| writable.contains(cal)) {
                self.queue_remote_write(cal, uid, now_ms).await?;
            }
        }
        if n > 0 {
            match calendar_ids {
                Some(ids) => {
                    for cal in ids {
                        self.record_change(account_id, cal, now_ms).await?;
                    }
                }
                None => self.record_change(account_id, "*", now_ms).await?,
            }
        }
        Ok(n)
    }

    /// Removes a booking's events from one account (cancel, decline,
    /// reschedule): every event whose `event_id` is the booking's id.
    #[tracing::instrument(skip(self))]
    pub async fn delete_booking_events(
        &mut self,
        account_id: &str,
        booking_id: &str,
        now_ms: i64,
    ) -> Result<u64> {
        let rows: Vec<(String, String)> = in_tx!(self, |c| {
            sqlx::query_as(
            "UPDATE events SET deleted = $1, updated_ms = $2 WHERE account_id = $3 AND event_id = $4 AND deleted = $5 RETURNING calendar_id, event_uid",
        )
        .bind(true)
        .bind(now_ms)
        .bind(account_id)
        .bind(booking_id)
        .bind(false)
        .fetch_all(&mut *c)
        .await?
        });
        self.record_change(account_id, "*", now_ms).await?;
        for (cal, uid) in &rows {
            self.queue_remote_write(cal, uid, now_ms).await?;
        }
        Ok(rows.len() as u64)
    }

    #[tracing::instrument(skip(self, rule))]
    pub async fn upsert_rule(&mut self, rule: &Rule, now_ms: i64) -> Result<()> {
        in_tx!(self, |c| {
            sqlx::query(
            "INSERT INTO availability_rules (account_id, rule_id, tzid, calendar_ids_json, weekly_periods_json, updated_ms) VALUES ($1, $2, $3, $4, $5, $6) \
             ON CONFLICT (account_id, rule_id) DO UPDATE SET tzid = excluded.tzid, calendar_ids_json = excluded.calendar_ids_json, weekly_periods_json = excluded.weekly_periods_json, updated_ms = excluded.updated_ms",
        )
        .bind(&rule.account_id)
        .bind(&rule.rule_id)
        .bind(&rule.tzid)
        .bind(&rule.calendar_ids_json)
        .bind(&rule.weekly_periods_json)
        .bind(now_ms)
        .execute(&mut *c)
        .await?.rows_affected()
        });
        self.bump_version(&rule.account_id).await
    }

    #[tracing::instrument(skip(self))]
    pub async fn delete_rule(&mut self, account_id: &str, rule_id: &str) -> Result<bool> {
        let n = in_tx!(self, |c| sqlx::query(
            "DELETE FROM availability_rules WHERE account_id = $1 AND rule_id = $2",
        )
        .bind(account_id)
        .bind(rule_id)
        .execute(&mut *c)
        .await?
        .rows_affected());
        self.bump_version(account_id).await?;
        Ok(n > 0)
    }

    #[tracing::instrument(skip(self, period))]
    pub async fn upsert_period(&mut self, period: &Period, now_ms: i64) -> Result<()> {
        in_tx!(self, |c| {
            sqlx::query(
            "INSERT INTO available_periods (account_id, period_id, start_ms, end_ms, updated_ms) VALUES ($1, $2, $3, $4, $5) \
             ON CONFLICT (account_id, period_id) DO UPDATE SET start_ms = excluded.start_ms, end_ms = excluded.end_ms, updated_ms = excluded.updated_ms",
        )
        .bind(&period.account_id)
        .bind(&period.period_id)
        .bind(period.start_ms)
        .bind(period.end_ms)
        .bind(now_ms)
        .execute(&mut *c)
        .await?.rows_affected()
        });
        self.bump_version(&period.account_id).await
    }

    /// Deletes one available period, or every one of the account.
    #[tracing::instrument(skip(self))]
    pub async fn delete_period(
        &mut self,
        account_id: &str,
        period_id: Option<&str>,
    ) -> Result<u64> {
        let n = in_tx!(self, |c| match period_id {
            Some(id) => sqlx::query(
                "DELETE FROM available_periods WHERE account_id = $1 AND period_id = $2",
            )
            .bind(account_id)
            .bind(id)
            .execute(&mut *c)
            .await?
            .rows_affected(),
            None => sqlx::query("DELETE FROM available_periods WHERE account_id = $1")
                .bind(account_id)
                .execute(&mut *c)
                .await?
                .rows_affected(),
        });
        self.bump_version(account_id).await?;
        Ok(n)
    }
}

/// Soft-deletes remote events by id (the instances an object no longer has).
async fn delete_remote_ids(
    tx: &mut Tx,
    calendar_id: &str,
    ids: &[String],
    now_ms: i64,
) -> Result<()> {
    for id in ids {
        in_tx!(tx, |c| {
            sqlx::query(
            "UPDATE events SET deleted = $3, updated_ms = $4 WHERE calendar_id = $1 AND event_id = $2 AND deleted = $5",
        )
        .bind(calendar_id)
        .bind(id)
        .bind(true)
        .bind(now_ms)
        .bind(false)
        .execute(&mut *c)
        .await?
        .rows_affected()
        });
    }
    Ok(())
}

fn ids_of(json: Option<String>) -> Vec<String> {
    json.and_then(|j| serde_json::from_str(&j).ok())
        .unwrap_or_default()
}

impl Tx {
    /// When `calendar_id` is a writable, connected CalDAV calendar: records
    /// that the event must be written there (or deleted), in the same
    /// transaction as the change. A later change of the same event before
    /// the write only moves the row's due time.
    async fn queue_remote_write(
        &mut self,
        calendar_id: &str,
        event_uid: &str,
        now_ms: i64,
    ) -> Result<()> {
        in_tx!(self, |c| {
            sqlx::query(
            "INSERT INTO remote_writes (calendar_id, event_uid, due_ms, attempts, lease_until_ms, last_error) \
             SELECT pc.calendar_id, $2, $3, 0, 0, NULL FROM provider_calendars pc JOIN profile_connections pr ON pr.profile_id = pc.profile_id \
             WHERE pc.calendar_id = $1 AND pc.readonly = $4 AND pc.deleted = $4 AND pr.connected = $5 AND pr.provider_name = 'caldav' \
             ON CONFLICT (calendar_id, event_uid) DO UPDATE SET due_ms = excluded.due_ms, attempts = 0",
        )
        .bind(calendar_id)
        .bind(event_uid)
        .bind(now_ms)
        .bind(false)
        .bind(true)
        .execute(&mut *c)
        .await?
        .rows_affected()
        });
        Ok(())
    }
}

/// Events read from connected calendars (see `connected.rs`). Their ids
/// start with `rmt_`; each remote object's instances share a prefix, so a
/// changed object replaces exactly its own instances.
impl Tx {
    /// Replaces the instances of one remote object with `events` (which
    /// carry ids under `prefix`) and records the object's etag.
    #[tracing::instrument(skip(self, events), fields(n = events.len()))]
    #[allow(clippy::too_many_arguments)]
    pub async fn put_remote_resource(
        &mut self,
        account_id: &str,
        calendar_id: &str,
        href: &str,
        etag: &str,
        prefix: &str,
        events: &[Event],
        now_ms: i64,
    ) -> Result<()> {
        let old: Option<String> = in_tx!(self, |c| sqlx::query_scalar(
            "SELECT event_ids_json FROM remote_resources WHERE calendar_id = $1 AND href = $2"
        )
        .bind(calendar_id)
        .bind(href)
        .fetch_optional(&mut *c)
        .await?);
        let ids: Vec<String> = events.iter().filter_map(|e| e.event_id.clone()).collect();
        let gone: Vec<String> = ids_of(old)
            .into_iter()
            .filter(|id| !ids.contains(id))
            .collect();
        delete_remote_ids(self, calendar_id, &gone, now_ms).await?;
        let ids_json = serde_json::to_string(&ids).expect("strings serialize");
        in_tx!(self, |c| {
            for ev in events {
                // Stored in this calendar, live, written now; the row the
                // upsert answers is not needed.
                let ev = Event {
                    calendar_id: calendar_id.to_string(),
                    account_id: account_id.to_string(),
                    deleted: false,
                    created_ms: now_ms,
                    updated_ms: now_ms,
                    ..ev.clone()
                };
                bind_event!(sqlx::query(UPSERT_EVENT_SQL), &ev)
                    .execute(&mut *c)
                    .await?;
            }
            sqlx::query(
                "INSERT INTO remote_resources (calendar_id, href, etag, prefix, event_ids_json) VALUES ($1, $2, $3, $4, $5) \
                 ON CONFLICT (calendar_id, href) DO UPDATE SET etag = excluded.etag, prefix = excluded.prefix, event_ids_json = excluded.event_ids_json",
            )
            .bind(calendar_id)
            .bind(href)
            .bind(etag)
            .bind(prefix)
            .bind(&ids_json)
            .execute(&mut *c)
            .await?;
        });
        self.record_change(account_id, calendar_id, now_ms).await
    }

    /// A remote object is gone: its instances are deleted.
    #[tracing::instrument(skip(self))]
    pub async fn remove_remote_resource(
        &mut self,
        account_id: &str,
        calendar_id: &str,
        href: &str,
        now_ms: i64,
    ) -> Result<()> {
        let old: Option<String> = in_tx!(self, |c| {
            sqlx::query_scalar(
            "DELETE FROM remote_resources WHERE calendar_id = $1 AND href = $2 RETURNING event_ids_json"
        )
        .bind(calendar_id)
        .bind(href)
        .fetch_optional(&mut *c)
        .await?
        });
        if old.is_none() {
            return Ok(());
        }
        delete_remote_ids(self, calendar_id, &ids_of(old), now_ms).await?;
        self.record_change(account_id, calendar_id, now_ms).await
    }

    /// Every remote event of a calendar stops counting (a revoked profile,
    /// a collection that disappeared).
    #[tracing::instrument(skip(self))]
    pub async fn clear_remote_calendar(
        &mut self,
        account_id: &str,
        calendar_id: &str,
        now_ms: i64,
    ) -> Result<()> {
        in_tx!(self, |c| {
            sqlx::query("DELETE FROM remote_resources WHERE calendar_id = $1")
                .bind(calendar_id)
                .execute(&mut *c)
                .await?;
            sqlx::query(
                "UPDATE events SET deleted = $2, updated_ms = $3 WHERE calendar_id = $1 AND deleted = $4 AND substr(event_id, 1, 4) = 'rmt_'",
            )
            .bind(calendar_id)
            .bind(true)
            .bind(now_ms)
            .bind(false)
            .execute(&mut *c)
            .await?;
        });
        self.record_change(account_id, calendar_id, now_ms).await
    }
}

/// The same writes, each in a transaction of its own.
impl Db {
    pub async fn upsert_event(&self, ev: &Event) -> Result<Event> {
        self.write(async |tx: &mut Tx| tx.upsert_event(ev).await)
            .await
    }

    pub async fn delete_event(
        &self,
        account_id: &str,
        calendar_id: &str,
        id: &str,
        by_uid: bool,
        now_ms: i64,
    ) -> Result<bool> {
        self.write(async |tx: &mut Tx| {
            tx.delete_event(account_id, calendar_id, id, by_uid, now_ms)
                .await
        })
        .await
    }

    pub async fn delete_events(
        &self,
        account_id: &str,
        calendar_ids: Option<&[String]>,
        now_ms: i64,
    ) -> Result<u64> {
        self.write(async |tx: &mut Tx| tx.delete_events(account_id, calendar_ids, now_ms).await)
            .await
    }

    pub async fn upsert_rule(&self, rule: &Rule, now_ms: i64) -> Result<()> {
        self.write(async |tx: &mut Tx| tx.upsert_rule(rule, now_ms).await)
            .await
    }

    pub async fn delete_rule(&self, account_id: &str, rule_id: &str) -> Result<bool> {
        self.write(async |tx: &mut Tx| tx.delete_rule(account_id, rule_id).await)
            .await
    }

    pub async fn upsert_period(&self, period: &Period, now_ms: i64) -> Result<()> {
        self.write(async |tx: &mut Tx| tx.upsert_period(period, now_ms).await)
            .await
    }

    pub async fn delete_period(&self, account_id: &str, period_id: Option<&str>) -> Result<u64> {
        self.write(async |tx: &mut Tx| tx.delete_period(account_id, period_id).await)
            .await
    }
}
