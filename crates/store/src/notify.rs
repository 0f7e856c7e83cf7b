//! The notification pipeline's storage: secrets by version, channels, the
//! outbox's fan-out into deliveries, and leased claiming of due attempts.

use crate::tx::in_tx;
use crate::{Db, NewNotification, Result, StoreError, Tx, dispatch};

#[derive(Clone, Debug, sqlx::FromRow)]
pub struct Channel {
    pub id: String,
    pub account_id: String,
    pub application_id: String,
    pub callback_url: String,
    pub filters_json: String,
    pub conversations_enabled: bool,
    pub closed: bool,
    pub created_ms: i64,
}

#[derive(Clone, Debug, sqlx::FromRow)]
pub struct Notification {
    pub id: String,
    pub application_id: String,
    pub account_id: Option<String>,
    pub kind: String,
    pub subject_id: Option<String>,
    pub payload_json: String,
    pub created_ms: i64,
}

#[derive(Clone, Debug, sqlx::FromRow)]
pub struct Delivery {
    pub id: String,
    pub application_id: String,
    pub notification_id: Option<String>,
    pub channel_id: Option<String>,
    pub kind: String,
    pub url: String,
    pub body: String,
    pub state: String,
    pub attempts: i64,
    pub next_attempt_ms: i64,
    pub locked_until_ms: i64,
    pub last_status: Option<i64>,
    pub last_error: Option<String>,
    pub replay_of: Option<String>,
    pub created_ms: i64,
    pub delivered_ms: Option<i64>,
}

const DELIVERY_COLS: &str = "id, application_id, notification_id, channel_id, kind, url, body, state, attempts, next_attempt_ms, locked_until_ms, last_status, last_error, replay_of, created_ms, delivered_ms";
const CHANNEL_COLS: &str = "id, account_id, application_id, callback_url, filters_json, conversations_enabled, closed, created_ms";

/// Deliveries of one kind in one state: how many, and the oldest.
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct OutboxRow {
    pub kind: String,
    pub state: String,
    pub count: i64,
    pub oldest_ms: i64,
}

/// What the outcome of one attempt was.
#[derive(Clone, Debug)]
pub enum Attempt {
    Delivered {
        status: i64,
    },
    Retry {
        status: Option<i64>,
        error: String,
        next_attempt_ms: i64,
    },
    GiveUp {
        status: Option<i64>,
        error: String,
    },
}

impl Db {
    #[tracing::instrument(skip(self, hash))]
    pub async fn add_secret(
        &self,
        app_id: &str,
        version: i64,
        hash: &str,
        now_ms: i64,
    ) -> Result<()> {
        self.write(async |tx: &mut Tx| -> Result<()> { in_tx!(tx, |p| {
            sqlx::query(
            "INSERT INTO application_secrets (hash, application_id, version, active, created_ms) VALUES ($1, $2, $3, $4, $5)"
        )
        .bind(hash)
        .bind(app_id)
        .bind(version)
        .bind(true)
        .bind(now_ms)
        .execute(&mut *p)
        .await
        .map(|_| ())?
        }); Ok(()) }).await?;
        Ok(())
    }

    /// Versions of the application's secrets that still authenticate.
    #[tracing::instrument(skip(self))]
    pub async fn active_secret_versions(&self, app_id: &str) -> Result<Vec<i64>> {
        Ok(dispatch!(self, |p| {
            sqlx::query_scalar(
            "SELECT version FROM application_secrets WHERE application_id = $1 AND active = $2 ORDER BY version"
        )
        .bind(app_id)
        .bind(true)
        .fetch_all(p)
        .await?
        }))
    }

    #[tracing::instrument(skip(self))]
    pub async fn latest_secret_version(&self, app_id: &str) -> Result<i64> {
        let v: Option<i64> = dispatch!(self, |p| sqlx::query_scalar(
            "SELECT MAX(version) FROM application_secrets WHERE application_id = $1"
        )
        .bind(app_id)
        .fetch_one(p)
        .await?);
        Ok(v.unwrap_or(0))
    }

    /// Retires every secret version below `keep_from`.
    #[tracing::instrument(skip(self))]
    pub async fn retire_secrets_before(&self, app_id: &str, keep_from: i64) -> Result<u64> {
        self.write(async |tx: &mut Tx| -> Result<_> {
            Ok(in_tx!(tx, |p| {
                sqlx::query(
            "UPDATE application_secrets SET active = $3 WHERE application_id = $1 AND version < $2"
        )
        .bind(app_id)
        .bind(keep_from)
        .bind(false)
        .execute(&mut *p)
        .await?
        .rows_affected()
            }))
        })
        .await
    }

    /// Opens a channel and queues its `verification` callback in the same
    /// transaction.
    #[tracing::instrument(skip(self, ch, verification_body))]
    pub async fn create_channel(
        &self,
        ch: &Channel,
        delivery_id: &str,
        verification_body: &str,
    ) -> Result<()> {
        self.write(async |tx: &mut Tx| in_tx!(tx, |c| {
            sqlx::query(
                "INSERT INTO channels (id, account_id, application_id, callback_url, filters_json, conversations_enabled, closed, created_ms) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
            )
            .bind(&ch.id)
            .bind(&ch.account_id)
            .bind(&ch.application_id)
            .bind(&ch.callback_url)
            .bind(&ch.filters_json)
            .bind(ch.conversations_enabled)
            .bind(false)
            .bind(ch.created_ms)
            .execute(&mut *c)
            .await?;
            sqlx::query(
                "INSERT INTO deliveries (id, application_id, notification_id, channel_id, kind, url, body, state, attempts, next_attempt_ms, locked_until_ms, created_ms) \
                 VALUES ($1, $2, NULL, $3, 'verification', $4, $5, 'pending', 0, $6, 0, $6)",
            )
            .bind(delivery_id)
            .bind(&ch.application_id)
            .bind(&ch.id)
            .bind(&ch.callback_url)
            .bind(verification_body)
            .bind(ch.created_ms)
            .execute(&mut *c)
            .await?;
            Ok::<_, StoreError>(())
        })).await
    }

    #[tracing::instrument(skip(self))]
    pub async fn channels(&self, account_id: &str) -> Result<Vec<Channel>> {
        Ok(dispatch!(self, |p| {
            let mut qb = sqlx::QueryBuilder::new(format!(
                "SELECT {CHANNEL_COLS} FROM channels WHERE account_id = "
            ));
            qb.push_bind(account_id)
                .push(" AND closed = ")
                .push_bind(false)
                .push(" ORDER BY created_ms, id");
            qb.build_query_as().fetch_all(p).await?
        }))
    }

    #[tracing::instrument(skip(self))]
    pub async fn close_channel(&self, account_id: &str, id: &str) -> Result<bool> {
        let n = self
            .write(async |tx: &mut Tx| -> Result<_> {
                Ok(in_tx!(tx, |p| {
                    sqlx::query(
            "UPDATE channels SET closed = $3 WHERE account_id = $1 AND id = $2 AND closed = $4"
        )
        .bind(account_id)
        .bind(id)
        .bind(true)
        .bind(false)
        .execute(&mut *p)
        .await?
        .rows_affected()
                }))
            })
            .await?;
        Ok(n == 1)
    }

    /// Records a notification on its own (outside a booking transaction).
    #[tracing::instrument(skip(self, payload))]
    pub async fn record_change(
        &self,
        id: &str,
        account_id: &str,
        calendar_id: &str,
        payload: &str,
        now_ms: i64,
    ) -> Result<()> {
        dispatch!(self, |p| sqlx::query(
            crate::availability_data::CHANGE_NOTIFICATION_SQL
        )
        .bind(id)
        .bind(account_id)
        .bind(calendar_id)
        .bind(payload)
        .bind(now_ms)
        .execute(p)
        .await
        .map(|_| ())?);
        Ok(())
    }

    /// Notifications not yet turned into deliveries, oldest first.
    #[tracing::instrument(skip(self))]
    pub async fn undispatched(&self, limit: i64) -> Result<Vec<Notification>> {
        Ok(dispatch!(self, |p| {
            sqlx::query_as(
            "SELECT id, application_id, account_id, kind, subject_id, payload_json, created_ms FROM notifications WHERE dispatched = $1 ORDER BY created_ms, id LIMIT $2"
        )
        .bind(false)
        .bind(limit)
        .fetch_all(p)
        .await?
        }))
    }

    /// Turns notifications into their deliveries, each once, in one
    /// transaction: the flags flip with a compare-and-set, so notifications
    /// another process fanned out first are skipped (their deliveries are
    /// not written twice). Answers how many this call turned.
    #[tracing::instrument(skip_all, fields(n = fanned.len()))]
    pub async fn dispatch_notifications(
        &self,
        fanned: &[(String, Vec<Delivery>)],
    ) -> Result<usize> {
        if fanned.is_empty() {
            return Ok(0);
        }
        self.write(async |tx: &mut Tx| -> Result<usize> {
            let won: Vec<String> = in_tx!(tx, |c| {
                let mut qb = sqlx::QueryBuilder::new("UPDATE notifications SET dispatched = ");
                qb.push_bind(true)
                    .push(" WHERE dispatched = ")
                    .push_bind(false)
                    .push(" AND id IN (");
                let mut sep = qb.separated(", ");
                for (id, _) in fanned {
                    sep.push_bind(id);
                }
                qb.push(") RETURNING id");
                qb.build_query_scalar().fetch_all(&mut *c).await?
            });
            for (_, deliveries) in fanned.iter().filter(|(id, _)| won.contains(id)) {
                for d in deliveries {
                    tx.insert_delivery(d).await?;
                }
            }
            Ok(won.len())
        })
        .await
    }

    /// Claims up to `limit` due attempts for `lease_ms`. On PostgreSQL rows
    /// another process is claiming are skipped (`SKIP LOCKED`); on SQLite
    /// the statement runs under the single write lock. Either way each
    /// attempt goes to one worker until its lease runs out.
    #[tracing::instrument(skip(self))]
    pub async fn claim_due(&self, now_ms: i64, lease_ms: i64, limit: i64) -> Result<Vec<Delivery>> {
        // On SQLite the claim runs under the single write lock, which is
        // what makes it exclusive there.
        self.write(async |tx: &mut Tx| -> Result<Vec<Delivery>> {
            let skip_locked = if tx.is_pg() { " FOR UPDATE SKIP LOCKED" } else { "" };
            let sql = format!(
                "UPDATE deliveries SET locked_until_ms = $1 WHERE id IN (SELECT id FROM deliveries WHERE state = 'pending' AND next_attempt_ms <= $2 AND locked_until_ms <= $2 ORDER BY next_attempt_ms, created_ms, id LIMIT $3{skip_locked}) RETURNING {DELIVERY_COLS}"
            );
            Ok(in_tx!(tx, |c| sqlx::query_as(sqlx::AssertSqlSafe(sql.clone()))
                .bind(now_ms + lease_ms)
                .bind(now_ms)
                .bind(limit)
                .fetch_all(&mut *c)
                .await?))
        })
        .await
    }

    /// Records an attempt's outcome and releases the lease; a success
    /// releases the other deliveries waiting for the same receiver, a
    /// failure makes sure the receiver is probed within `probe_ms`.
    #[tracing::instrument(skip(self, outcome))]
    pub async fn record_attempt(
        &self,
        id: &str,
        outcome: &Attempt,
        now_ms: i64,
        probe_ms: i64,
    ) -> Result<()> {
        let (state, status, error, next, delivered) = match outcome {
            Attempt::Delivered { status } => {
                ("delivered", Some(*status), None, now_ms, Some(now_ms))
            }
            Attempt::Retry {
                status,
                error,
                next_attempt_ms,
            } => (
                "pending",
                *status,
                Some(error.clone()),
                *next_attempt_ms,
                None,
            ),
            Attempt::GiveUp { status, error } => {
                ("failed", *status, Some(error.clone()), now_ms, None)
            }
        };
        self.write(async |tx: &mut Tx| -> Result<()> {
            in_tx!(tx, |c| sqlx::query(
                "UPDATE deliveries SET state = $2, attempts = attempts + 1, last_status = $3, last_error = $4, next_attempt_ms = $5, delivered_ms = $6, locked_until_ms = 0 WHERE id = $1",
            )
            .bind(id)
            .bind(state)
            .bind(status)
            .bind(&error)
            .bind(next)
            .bind(delivered)
            .execute(&mut *c)
            .await?
            .rows_affected());
            match outcome {
                // The receiver is back: whatever waits for it goes now
                // instead of at the end of its own backoff.
                Attempt::Delivered { .. } => in_tx!(tx, |c| sqlx::query(
                    "UPDATE deliveries SET next_attempt_ms = $2 WHERE state = 'pending' AND next_attempt_ms > $2 \
                     AND url = (SELECT url FROM deliveries WHERE id = $1)",
                )
                .bind(id)
                .bind(now_ms)
                .execute(&mut *c)
                .await?
                .rows_affected()),
                // The receiver is down: its oldest waiting delivery probes it
                // at least every `probe_ms`, whatever the backoffs say, so
                // its return is noticed soon (and then releases the rest).
                Attempt::Retry { .. } => in_tx!(tx, |c| sqlx::query(
                    "UPDATE deliveries SET next_attempt_ms = $2 WHERE next_attempt_ms > $2 AND id = \
                     (SELECT id FROM deliveries WHERE state = 'pending' AND url = (SELECT url FROM deliveries WHERE id = $1) ORDER BY created_ms, id LIMIT 1)",
                )
                .bind(id)
                .bind(now_ms + probe_ms)
                .execute(&mut *c)
                .await?
                .rows_affected()),
                Attempt::GiveUp { .. } => 0,
            };
            Ok(())
        })
        .await
    }

    /// The delivery log of an application, newest first.
    #[tracing::instrument(skip(self))]
    pub async fn deliveries(
        &self,
        app_id: &str,
        state: Option<&str>,
        limit: i64,
    ) -> Result<Vec<Delivery>> {
        Ok(dispatch!(self, |p| {
            let mut qb = sqlx::QueryBuilder::new(format!(
                "SELECT {DELIVERY_COLS} FROM deliveries WHERE application_id = "
            ));
            qb.push_bind(app_id);
            if let Some(s) = state {
                qb.push(" AND state = ").push_bind(s);
            }
            qb.push(" ORDER BY created_ms DESC, id LIMIT ")
                .push_bind(limit);
            qb.build_query_as().fetch_all(p).await?
        }))
    }

    /// One page of the delivery log, newest first: `limit` rows after
    /// skipping `offset`.
    #[tracing::instrument(skip(self))]
    pub async fn deliveries_page(
        &self,
        app_id: &str,
        state: Option<&str>,
        limit: i64,
        offset: i64,
    ) -> Result<Vec<Delivery>> {
        Ok(dispatch!(self, |p| {
            let mut qb = sqlx::QueryBuilder::new(format!(
                "SELECT {DELIVERY_COLS} FROM deliveries WHERE application_id = "
            ));
            qb.push_bind(app_id);
            if let Some(s) = state {
                qb.push(" AND state = ").push_bind(s);
            }
            qb.push(" ORDER BY created_ms DESC, id LIMIT ")
                .push_bind(limit)
                .push(" OFFSET ")
                .push_bind(offset);
            qb.build_query_as().fetch_all(p).await?
        }))
    }

    #[tracing::instrument(skip(self))]
    pub async fn delivery(&self, id: &str) -> Result<Option<Delivery>> {
        Ok(dispatch!(self, |p| {
            let mut qb = sqlx::QueryBuilder::new(format!(
                "SELECT {DELIVERY_COLS} FROM deliveries WHERE id = "
            ));
            qb.push_bind(id);
            qb.build_query_as().fetch_optional(p).await?
        }))
    }

    #[tracing::instrument(skip(self, d), fields(delivery = %d.id))]
    pub async fn insert_delivery(&self, d: &Delivery) -> Result<()> {
        self.write(async |tx: &mut Tx| tx.insert_delivery(d).await)
            .await
    }

    /// Stored notification payloads and delivery bodies that contain
    /// `needle` (by kind of row: `true` = delivery), for one-off rewrites.
    #[tracing::instrument(skip(self))]
    pub async fn outbox_texts_containing(
        &self,
        needle: &str,
    ) -> Result<Vec<(bool, String, String)>> {
        let like = format!("%{needle}%");
        let mut out: Vec<(bool, String, String)> = Vec::new();
        let ns: Vec<(String, String)> = dispatch!(self, |p| sqlx::query_as(
            "SELECT id, payload_json FROM notifications WHERE payload_json LIKE $1"
        )
        .bind(&like)
        .fetch_all(p)
        .await?);
        out.extend(ns.into_iter().map(|(id, t)| (false, id, t)));
        let ds: Vec<(String, String)> = dispatch!(self, |p| sqlx::query_as(
            "SELECT id, body FROM deliveries WHERE body LIKE $1"
        )
        .bind(&like)
        .fetch_all(p)
        .await?);
        out.extend(ds.into_iter().map(|(id, t)| (true, id, t)));
        Ok(out)
    }

    /// Replaces stored outbox texts (see [`Db::outbox_texts_containing`]),
    /// in one transaction.
    #[tracing::instrument(skip_all, fields(n = rows.len()))]
    pub async fn rewrite_outbox_texts(&self, rows: &[(bool, String, String)]) -> Result<()> {
        self.write(async |tx: &mut Tx| -> Result<()> {
            for (delivery, id, text) in rows {
                let sql = if *delivery {
                    "UPDATE deliveries SET body = $2 WHERE id = $1"
                } else {
                    "UPDATE notifications SET payload_json = $2 WHERE id = $1"
                };
                in_tx!(tx, |c| sqlx::query(sql)
                    .bind(id)
                    .bind(text)
                    .execute(&mut *c)
                    .await?
                    .rows_affected());
            }
            Ok(())
        })
        .await
    }

    /// Whether the one-off repair `name` has run on this database.
    #[tracing::instrument(skip(self))]
    pub async fn maintenance_done(&self, name: &str) -> Result<bool> {
        let n: Option<i64> = dispatch!(self, |p| sqlx::query_scalar(
            "SELECT done_ms FROM maintenance WHERE name = $1"
        )
        .bind(name)
        .fetch_optional(p)
        .await?);
        Ok(n.is_some())
    }

    /// Records that the one-off repair `name` has run.
    #[tracing::instrument(skip(self))]
    pub async fn mark_maintenance_done(&self, name: &str, now_ms: i64) -> Result<()> {
        self.write(async |tx: &mut Tx| -> Result<()> {
            in_tx!(tx, |c| sqlx::query(
                "INSERT INTO maintenance (name, done_ms) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING"
            )
            .bind(name)
            .bind(now_ms)
            .execute(&mut *c)
            .await?
            .rows_affected());
            Ok(())
        })
        .await
    }

    /// The outbox at a glance, for metrics: deliveries by kind and state.
    #[tracing::instrument(skip(self))]
    pub async fn outbox_summary(&self) -> Result<Vec<OutboxRow>> {
        Ok(dispatch!(self, |p| {
            sqlx::query_as(
            "SELECT kind, state, COUNT(*) AS count, MIN(created_ms) AS oldest_ms FROM deliveries GROUP BY kind, state ORDER BY kind, state"
        )
        .fetch_all(p)
        .await?
        }))
    }

    /// Every delivery (tests and the dashboard's per-request view).
    #[tracing::instrument(skip(self))]
    pub async fn deliveries_for_notification_kind(
        &self,
        app_id: &str,
        kind: &str,
    ) -> Result<Vec<Delivery>> {
        Ok(dispatch!(self, |p| {
            let mut qb = sqlx::QueryBuilder::new(format!(
                "SELECT {DELIVERY_COLS} FROM deliveries WHERE application_id = "
            ));
            qb.push_bind(app_id)
                .push(" AND kind = ")
                .push_bind(kind)
                .push(" ORDER BY created_ms, id");
            qb.build_query_as().fetch_all(p).await?
        }))
    }
}

impl Tx {
    #[tracing::instrument(skip(self, d), fields(delivery = %d.id))]
    pub async fn insert_delivery(&mut self, d: &Delivery) -> Result<()> {
        in_tx!(self, |c| {
            sqlx::query(
            "INSERT INTO deliveries (id, application_id, notification_id, channel_id, kind, url, body, state, attempts, next_attempt_ms, locked_until_ms, last_status, last_error, replay_of, created_ms, delivered_ms) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)",
        )
        .bind(&d.id)
        .bind(&d.application_id)
        .bind(&d.notification_id)
        .bind(&d.channel_id)
        .bind(&d.kind)
        .bind(&d.url)
        .bind(&d.body)
        .bind(&d.state)
        .bind(d.attempts)
        .bind(d.next_attempt_ms)
        .bind(d.locked_until_ms)
        .bind(d.last_status)
        .bind(&d.last_error)
        .bind(&d.replay_of)
        .bind(d.created_ms)
        .bind(d.delivered_ms)
        .execute(&mut *c)
        .await?.rows_affected()
        });
        Ok(())
    }

    /// Records a notification in the outbox, in the transaction of the
    /// state change it reports.
    #[tracing::instrument(skip(self, n), fields(kind = %n.kind))]
    pub async fn insert_notification(&mut self, n: &NewNotification) -> Result<()> {
        in_tx!(self, |c| {
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
        .execute(&mut *c)
        .await?.rows_affected()
        });
        Ok(())
    }
}

/// The notification row for an ad-hoc insert (used by callers that do not
/// go through `transact`).
pub fn notification_row(n: &NewNotification) -> Notification {
    Notification {
        id: n.id.clone(),
        application_id: n.application_id.clone(),
        account_id: n.account_id.clone(),
        kind: n.kind.clone(),
        subject_id: n.subject_id.clone(),
        payload_json: n.payload_json.clone(),
        created_ms: n.created_ms,
    }
}
