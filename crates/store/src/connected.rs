//! Connected calendars: redirect URIs, connections (a profile reading a
//! CalDAV server or an ICS feed), their calendars and sync state,
//! authorization codes and link tokens. Events themselves are written only
//! by `availability_data.rs`.

use crate::tx::in_tx;
use crate::{Db, Result, Tx, dispatch};

/// A profile connected to a remote source.
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct Connection {
    pub profile_id: String,
    pub account_id: String,
    pub provider_name: String,
    pub source_url: String,
    pub username: String,
    /// AEAD ciphertext (see the server's `connected::Sealer`); never logged.
    pub credentials_enc: String,
    pub connected: bool,
    pub initial_sync_required: bool,
    pub last_sync_ms: Option<i64>,
    pub last_error: Option<String>,
}

impl std::fmt::Debug for NewConnection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewConnection")
            .field("profile_id", &self.connection.profile_id)
            .finish_non_exhaustive()
    }
}

/// A remote collection mirrored by one of Convene's calendars.
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct ProviderCalendar {
    pub calendar_id: String,
    pub profile_id: String,
    pub href: String,
    pub readonly: bool,
    pub deleted: bool,
    pub sync_token: Option<String>,
    pub ctag: Option<String>,
    pub etag: Option<String>,
    pub last_modified: Option<String>,
    /// When every object was last read (and recurrences expanded again).
    pub full_read_ms: Option<i64>,
}

/// One remote calendar object and the prefix of its events' ids.
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct RemoteResource {
    pub href: String,
    pub etag: String,
    pub prefix: String,
}

/// A new calendar of a new connection.
#[derive(Clone, Debug)]
pub struct NewProviderCalendar {
    pub calendar_id: String,
    pub name: String,
    pub href: String,
    pub readonly: bool,
    /// Where bookings of the account go (its first writable calendar, for
    /// an account the authorization creates).
    pub primary: bool,
}

/// Everything one successful authorization creates, in one transaction.
pub struct NewConnection {
    /// A fresh account to create first, or `None` to add to an existing one
    /// (a link token's).
    pub new_account: Option<crate::Account>,
    pub profile_name: String,
    pub connection: Connection,
    pub calendars: Vec<NewProviderCalendar>,
    pub code_hash: String,
    pub application_id: String,
    pub redirect_uri: String,
    pub code_expires_ms: i64,
    pub now_ms: i64,
}

/// What a consumed authorization code names.
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct CodeGrant {
    pub account_id: String,
    pub profile_id: String,
}

/// An event waiting to be written to (or deleted from) a CalDAV calendar.
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct RemoteWrite {
    pub calendar_id: String,
    pub event_uid: String,
    pub due_ms: i64,
    pub attempts: i64,
}

/// Where Convene wrote an event on a CalDAV server.
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct Pushed {
    pub event_uid: String,
    pub calendar_id: String,
    pub href: String,
    pub etag: Option<String>,
    pub sequence: i64,
}

const CONNECTION_COLS: &str = "profile_id, account_id, provider_name, source_url, username, credentials_enc, connected, initial_sync_required, last_sync_ms, last_error";
const PCAL_COLS: &str = "calendar_id, profile_id, href, readonly, deleted, sync_token, ctag, etag, last_modified, full_read_ms";

impl Db {
    #[tracing::instrument(skip(self))]
    pub async fn redirect_uris(&self, application_id: &str) -> Result<Vec<String>> {
        Ok(dispatch!(self, |p| sqlx::query_scalar(
            "SELECT uri FROM application_redirect_uris WHERE application_id = $1 ORDER BY uri"
        )
        .bind(application_id)
        .fetch_all(p)
        .await?))
    }

    /// Replaces an application's redirect URIs.
    #[tracing::instrument(skip(self))]
    pub async fn set_redirect_uris(
        &self,
        application_id: &str,
        uris: &[String],
        now_ms: i64,
    ) -> Result<()> {
        self.write(async |tx: &mut Tx| -> Result<()> {
            in_tx!(tx, |c| {
                sqlx::query("DELETE FROM application_redirect_uris WHERE application_id = $1")
                    .bind(application_id)
                    .execute(&mut *c)
                    .await?;
                for uri in uris {
                    sqlx::query(
                        "INSERT INTO application_redirect_uris (application_id, uri, created_ms) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
                    )
                    .bind(application_id)
                    .bind(uri)
                    .bind(now_ms)
                    .execute(&mut *c)
                    .await?;
                }
            });
            Ok(())
        })
        .await
    }

    /// Creates what an authorization connected (account when new, profile,
    /// connection, calendars) and its authorization code, all or nothing.
    #[tracing::instrument(skip_all, fields(profile = %new.connection.profile_id))]
    pub async fn connect_profile(&self, new: &NewConnection) -> Result<()> {
        self.write(async |tx: &mut Tx| -> Result<()> {
            let conn = &new.connection;
            let taken: Vec<String> = in_tx!(tx, |c| {
                if let Some(a) = &new.new_account {
                    sqlx::query(
                        "INSERT INTO accounts (id, application_id, application_calendar_id, email, name, default_tzid, last_booked_ms, created_ms) VALUES ($1, $2, NULL, $3, $4, $5, NULL, $6)",
                    )
                    .bind(&a.id)
                    .bind(&a.application_id)
                    .bind(&a.email)
                    .bind(&a.name)
                    .bind(&a.default_tzid)
                    .bind(new.now_ms)
                    .execute(&mut *c)
                    .await?;
                }
                sqlx::query("INSERT INTO profiles (id, account_id, name, created_ms) VALUES ($1, $2, $3, $4)")
                    .bind(&conn.profile_id)
                    .bind(&conn.account_id)
                    .bind(&new.profile_name)
                    .bind(new.now_ms)
                    .execute(&mut *c)
                    .await?;
                sqlx::query(
                    "INSERT INTO profile_connections (profile_id, account_id, provider_name, source_url, username, credentials_enc, connected, initial_sync_required, next_sync_ms, lease_until_ms, last_sync_ms, last_error, created_ms) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 0, 0, NULL, NULL, $9)",
                )
                .bind(&conn.profile_id)
                .bind(&conn.account_id)
                .bind(&conn.provider_name)
                .bind(&conn.source_url)
                .bind(&conn.username)
                .bind(&conn.credentials_enc)
                .bind(true)
                .bind(true)
                .bind(new.now_ms)
                .execute(&mut *c)
                .await?;
                sqlx::query_scalar::<_, String>("SELECT name FROM calendars WHERE account_id = $1")
                    .bind(&conn.account_id)
                    .fetch_all(&mut *c)
                    .await?
            });
            let mut taken = taken;
            for cal in &new.calendars {
                // Calendar names are unique per account; a remote name that
                // is already used gets a number.
                let mut name = cal.name.clone();
                let mut n = 2;
                while taken.contains(&name) {
                    name = format!("{} ({n})", cal.name);
                    n += 1;
                }
                taken.push(name.clone());
                in_tx!(tx, |c| {
                    sqlx::query(
                        "INSERT INTO calendars (id, account_id, profile_id, name, color, is_primary, created_ms) VALUES ($1, $2, $3, $4, NULL, $5, $6)",
                    )
                    .bind(&cal.calendar_id)
                    .bind(&conn.account_id)
                    .bind(&conn.profile_id)
                    .bind(&name)
                    .bind(cal.primary)
                    .bind(new.now_ms)
                    .execute(&mut *c)
                    .await?;
                    sqlx::query(
                        "INSERT INTO provider_calendars (calendar_id, profile_id, href, readonly, deleted) VALUES ($1, $2, $3, $4, $5)",
                    )
                    .bind(&cal.calendar_id)
                    .bind(&conn.profile_id)
                    .bind(&cal.href)
                    .bind(cal.readonly)
                    .bind(false)
                    .execute(&mut *c)
                    .await?;
                });
            }
            in_tx!(tx, |c| sqlx::query(
                "INSERT INTO authorization_codes (code_hash, application_id, account_id, profile_id, redirect_uri, expires_ms, used, created_ms) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
            )
            .bind(&new.code_hash)
            .bind(&new.application_id)
            .bind(&conn.account_id)
            .bind(&conn.profile_id)
            .bind(&new.redirect_uri)
            .bind(new.code_expires_ms)
            .bind(false)
            .bind(new.now_ms)
            .execute(&mut *c)
            .await?
            .rows_affected());
            Ok(())
        })
        .await
    }

    /// Uses an authorization code: once, before it expires, by the
    /// application it was issued to and with the same redirect URI.
    #[tracing::instrument(skip_all)]
    pub async fn consume_code(
        &self,
        code_hash: &str,
        application_id: &str,
        redirect_uri: &str,
        now_ms: i64,
    ) -> Result<Option<CodeGrant>> {
        self.write(async |tx: &mut Tx| -> Result<_> {
            Ok(in_tx!(tx, |c| sqlx::query_as(
                "UPDATE authorization_codes SET used = $5 WHERE code_hash = $1 AND application_id = $2 AND redirect_uri = $3 AND expires_ms > $4 AND used = $6 RETURNING account_id, profile_id",
            )
            .bind(code_hash)
            .bind(application_id)
            .bind(redirect_uri)
            .bind(now_ms)
            .bind(true)
            .bind(false)
            .fetch_optional(&mut *c)
            .await?))
        })
        .await
    }

    #[tracing::instrument(skip_all)]
    pub async fn insert_link_token(
        &self,
        token_hash: &str,
        account_id: &str,
        application_id: &str,
        expires_ms: i64,
        now_ms: i64,
    ) -> Result<()> {
        self.write(async |tx: &mut Tx| -> Result<()> {
            in_tx!(tx, |c| sqlx::query(
                "INSERT INTO account_link_tokens (token_hash, account_id, application_id, expires_ms, created_ms) VALUES ($1, $2, $3, $4, $5)",
            )
            .bind(token_hash)
            .bind(account_id)
            .bind(application_id)
            .bind(expires_ms)
            .bind(now_ms)
            .execute(&mut *c)
            .await?
            .rows_affected());
            Ok(())
        })
        .await
    }

    /// The account a live link token names, for its application.
    #[tracing::instrument(skip_all)]
    pub async fn link_token_account(
        &self,
        token_hash: &str,
        application_id: &str,
        now_ms: i64,
    ) -> Result<Option<String>> {
        Ok(dispatch!(self, |p| {
            sqlx::query_scalar(
            "SELECT account_id FROM account_link_tokens WHERE token_hash = $1 AND application_id = $2 AND expires_ms > $3"
        )
        .bind(token_hash)
        .bind(application_id)
        .bind(now_ms)
        .fetch_optional(p)
        .await?
        }))
    }

    #[tracing::instrument(skip(self))]
    pub async fn connections(&self, account_id: &str) -> Result<Vec<Connection>> {
        let sql =
            format!("SELECT {CONNECTION_COLS} FROM profile_connections WHERE account_id = $1");
        Ok(dispatch!(self, |p| sqlx::query_as(sqlx::AssertSqlSafe(
            sql.clone()
        ))
        .bind(account_id)
        .fetch_all(p)
        .await?))
    }

    /// The connections of several accounts in one query (a booking's members).
    #[tracing::instrument(skip(self))]
    pub async fn connections_of(&self, account_ids: &[String]) -> Result<Vec<Connection>> {
        if account_ids.is_empty() {
            return Ok(Vec::new());
        }
        let head =
            format!("SELECT {CONNECTION_COLS} FROM profile_connections WHERE account_id IN (");
        Ok(dispatch!(self, |p| {
            let mut qb = sqlx::QueryBuilder::new(head.clone());
            let mut sep = qb.separated(", ");
            for id in account_ids {
                sep.push_bind(id);
            }
            qb.push(")");
            qb.build_query_as().fetch_all(p).await?
        }))
    }

    #[tracing::instrument(skip(self))]
    pub async fn connection(&self, profile_id: &str) -> Result<Option<Connection>> {
        let sql =
            format!("SELECT {CONNECTION_COLS} FROM profile_connections WHERE profile_id = $1");
        Ok(dispatch!(self, |p| sqlx::query_as(sqlx::AssertSqlSafe(
            sql.clone()
        ))
        .bind(profile_id)
        .fetch_optional(p)
        .await?))
    }

    /// The provider calendars of an account's connected profiles.
    #[tracing::instrument(skip(self))]
    pub async fn provider_calendars(&self, account_id: &str) -> Result<Vec<ProviderCalendar>> {
        let sql = format!(
            "SELECT {PCAL_COLS} FROM provider_calendars WHERE profile_id IN (SELECT profile_id FROM profile_connections WHERE account_id = $1)"
        );
        Ok(dispatch!(self, |p| sqlx::query_as(sqlx::AssertSqlSafe(
            sql.clone()
        ))
        .bind(account_id)
        .fetch_all(p)
        .await?))
    }

    #[tracing::instrument(skip(self))]
    pub async fn provider_calendar(&self, calendar_id: &str) -> Result<Option<ProviderCalendar>> {
        let sql = format!("SELECT {PCAL_COLS} FROM provider_calendars WHERE calendar_id = $1");
        Ok(dispatch!(self, |p| sqlx::query_as(sqlx::AssertSqlSafe(
            sql.clone()
        ))
        .bind(calendar_id)
        .fetch_optional(p)
        .await?))
    }

    #[tracing::instrument(skip(self))]
    pub async fn profile_calendars(&self, profile_id: &str) -> Result<Vec<ProviderCalendar>> {
        let sql = format!(
            "SELECT {PCAL_COLS} FROM provider_calendars WHERE profile_id = $1 ORDER BY href"
        );
        Ok(dispatch!(self, |p| sqlx::query_as(sqlx::AssertSqlSafe(
            sql.clone()
        ))
        .bind(profile_id)
        .fetch_all(p)
        .await?))
    }

    /// Takes up to `limit` connected profiles whose sync is due, each for
    /// `lease_ms`: another replica skips a profile while it is leased. The
    /// lease is re-checked on the row itself, so on PostgreSQL two
    /// replicas racing for one profile see the other's lease.
    #[tracing::instrument(skip(self))]
    pub async fn claim_due_connections(
        &self,
        now_ms: i64,
        lease_ms: i64,
        limit: i64,
    ) -> Result<Vec<Connection>> {
        let sql = format!(
            "UPDATE profile_connections SET lease_until_ms = $2 \
             WHERE connected = $4 AND next_sync_ms <= $1 AND lease_until_ms <= $1 AND profile_id IN \
             (SELECT profile_id FROM profile_connections WHERE connected = $4 AND next_sync_ms <= $1 AND lease_until_ms <= $1 ORDER BY next_sync_ms LIMIT $3) \
             RETURNING {CONNECTION_COLS}"
        );
        self.write(async |tx: &mut Tx| -> Result<_> {
            Ok(in_tx!(tx, |c| sqlx::query_as(sqlx::AssertSqlSafe(
                sql.clone()
            ))
            .bind(now_ms)
            .bind(now_ms + lease_ms)
            .bind(limit)
            .bind(true)
            .fetch_all(&mut *c)
            .await?))
        })
        .await
    }

    /// Ends a sync: releases the lease and schedules the next one.
    #[tracing::instrument(skip(self, error))]
    pub async fn finish_sync(
        &self,
        profile_id: &str,
        next_sync_ms: i64,
        now_ms: i64,
        error: Option<&str>,
    ) -> Result<()> {
        self.write(async |tx: &mut Tx| -> Result<()> {
            in_tx!(tx, |c| sqlx::query(
                "UPDATE profile_connections SET lease_until_ms = 0, next_sync_ms = $2, last_sync_ms = $3, last_error = $4, \
                 initial_sync_required = CASE WHEN $4 IS NULL THEN $5 ELSE initial_sync_required END WHERE profile_id = $1",
            )
            .bind(profile_id)
            .bind(next_sync_ms)
            .bind(now_ms)
            .bind(error)
            .bind(false)
            .execute(&mut *c)
            .await?
            .rows_affected());
            Ok(())
        })
        .await
    }

    /// Asks for a sync of a profile at the next turn of any replica's loop.
    #[tracing::instrument(skip(self))]
    pub async fn sync_soon(&self, profile_id: &str) -> Result<()> {
        self.write(async |tx: &mut Tx| -> Result<()> {
            in_tx!(tx, |c| sqlx::query(
                "UPDATE profile_connections SET next_sync_ms = 0 WHERE profile_id = $1"
            )
            .bind(profile_id)
            .execute(&mut *c)
            .await?
            .rows_affected());
            Ok(())
        })
        .await
    }

    /// Records a collection's sync state after its changes were applied.
    #[tracing::instrument(skip(self))]
    pub async fn set_calendar_sync_state(
        &self,
        calendar_id: &str,
        sync_token: Option<&str>,
        ctag: Option<&str>,
        etag: Option<&str>,
        last_modified: Option<&str>,
        full_read_ms: Option<i64>,
    ) -> Result<()> {
        self.write(async |tx: &mut Tx| -> Result<()> {
            in_tx!(tx, |c| sqlx::query(
                "UPDATE provider_calendars SET sync_token = $2, ctag = $3, etag = $4, last_modified = $5, full_read_ms = COALESCE($6, full_read_ms) WHERE calendar_id = $1",
            )
            .bind(calendar_id)
            .bind(sync_token)
            .bind(ctag)
            .bind(etag)
            .bind(last_modified)
            .bind(full_read_ms)
            .execute(&mut *c)
            .await?
            .rows_affected());
            Ok(())
        })
        .await
    }

    #[tracing::instrument(skip(self))]
    pub async fn remote_resources(&self, calendar_id: &str) -> Result<Vec<RemoteResource>> {
        Ok(dispatch!(self, |p| sqlx::query_as(
            "SELECT href, etag, prefix FROM remote_resources WHERE calendar_id = $1"
        )
        .bind(calendar_id)
        .fetch_all(p)
        .await?))
    }

    /// Disconnects a profile: it is no longer synced and its remote events
    /// stop counting. A profile already disconnected by its server
    /// (`last_error` set: its events still count) is revoked too.
    #[tracing::instrument(skip(self))]
    pub async fn revoke_connection(&self, profile_id: &str, now_ms: i64) -> Result<bool> {
        self.write(async |tx: &mut Tx| -> Result<bool> {
            let row: Option<(String,)> = in_tx!(tx, |c| sqlx::query_as(
                "UPDATE profile_connections SET connected = $2, last_error = NULL WHERE profile_id = $1 AND (connected = $3 OR last_error IS NOT NULL) RETURNING account_id",
            )
            .bind(profile_id)
            .bind(false)
            .bind(true)
            .fetch_optional(&mut *c)
            .await?);
            let Some((account,)) = row else {
                return Ok(false);
            };
            let cals: Vec<String> = in_tx!(tx, |c| sqlx::query_scalar(
                "SELECT calendar_id FROM provider_calendars WHERE profile_id = $1"
            )
            .bind(profile_id)
            .fetch_all(&mut *c)
            .await?);
            for cal in cals {
                tx.clear_remote_calendar(&account, &cal, now_ms).await?;
            }
            Ok(true)
        })
        .await
    }

    /// Takes up to `limit` due write-backs, each for `lease_ms` (see
    /// [`Db::claim_due_connections`] for why the lease is re-checked).
    #[tracing::instrument(skip(self))]
    pub async fn claim_remote_writes(
        &self,
        now_ms: i64,
        lease_ms: i64,
        limit: i64,
    ) -> Result<Vec<RemoteWrite>> {
        self.write(async |tx: &mut Tx| -> Result<_> {
            Ok(in_tx!(tx, |c| sqlx::query_as(
                "UPDATE remote_writes SET lease_until_ms = $2 \
                 WHERE due_ms <= $1 AND lease_until_ms <= $1 AND (calendar_id, event_uid) IN \
                 (SELECT calendar_id, event_uid FROM remote_writes WHERE due_ms <= $1 AND lease_until_ms <= $1 ORDER BY due_ms LIMIT $3) \
                 RETURNING calendar_id, event_uid, due_ms, attempts",
            )
            .bind(now_ms)
            .bind(now_ms + lease_ms)
            .bind(limit)
            .fetch_all(&mut *c)
            .await?))
        })
        .await
    }

    /// An event by its uid, deleted or not.
    #[tracing::instrument(skip(self))]
    pub async fn event_by_uid(&self, event_uid: &str) -> Result<Option<crate::Event>> {
        Ok(dispatch!(self, |p| {
            sqlx::query_as(
            "SELECT event_uid, calendar_id, account_id, event_id, summary, description, start_ms, end_ms, start_date, end_date, tzid, transparency, status, participation, body_json, deleted, created_ms, updated_ms FROM events WHERE event_uid = $1"
        )
        .bind(event_uid)
        .fetch_optional(p)
        .await?
        }))
    }

    #[tracing::instrument(skip(self))]
    pub async fn pushed_event(&self, event_uid: &str) -> Result<Option<Pushed>> {
        Ok(dispatch!(self, |p| {
            sqlx::query_as(
            "SELECT event_uid, calendar_id, href, etag, sequence FROM pushed_events WHERE event_uid = $1"
        )
        .bind(event_uid)
        .fetch_optional(p)
        .await?
        }))
    }

    /// A write-back succeeded: records where the event now is (`None`: it
    /// was deleted), and drops the queue row unless the event changed again
    /// meanwhile (then it is due again at once).
    #[tracing::instrument(skip(self, pushed))]
    pub async fn finish_remote_write(
        &self,
        w: &RemoteWrite,
        pushed: Option<&Pushed>,
    ) -> Result<()> {
        self.write(async |tx: &mut Tx| -> Result<()> {
            in_tx!(tx, |c| {
                sqlx::query(
                    "DELETE FROM remote_writes WHERE calendar_id = $1 AND event_uid = $2 AND due_ms = $3",
                )
                .bind(&w.calendar_id)
                .bind(&w.event_uid)
                .bind(w.due_ms)
                .execute(&mut *c)
                .await?;
                sqlx::query(
                    "UPDATE remote_writes SET lease_until_ms = 0 WHERE calendar_id = $1 AND event_uid = $2",
                )
                .bind(&w.calendar_id)
                .bind(&w.event_uid)
                .execute(&mut *c)
                .await?;
                match pushed {
                    Some(p) => sqlx::query(
                        "INSERT INTO pushed_events (event_uid, calendar_id, href, etag, sequence) VALUES ($1, $2, $3, $4, $5) \
                         ON CONFLICT (event_uid) DO UPDATE SET calendar_id = excluded.calendar_id, href = excluded.href, etag = excluded.etag, sequence = excluded.sequence",
                    )
                    .bind(&p.event_uid)
                    .bind(&p.calendar_id)
                    .bind(&p.href)
                    .bind(&p.etag)
                    .bind(p.sequence)
                    .execute(&mut *c)
                    .await?
                    .rows_affected(),
                    None => sqlx::query("DELETE FROM pushed_events WHERE event_uid = $1")
                        .bind(&w.event_uid)
                        .execute(&mut *c)
                        .await?
                        .rows_affected(),
                };
            });
            Ok(())
        })
        .await
    }

    /// A write-back failed: tried again at `next_ms`.
    #[tracing::instrument(skip(self, error))]
    pub async fn retry_remote_write(
        &self,
        w: &RemoteWrite,
        next_ms: i64,
        error: &str,
    ) -> Result<()> {
        self.write(async |tx: &mut Tx| -> Result<()> {
            in_tx!(tx, |c| sqlx::query(
                "UPDATE remote_writes SET attempts = attempts + 1, due_ms = $3, lease_until_ms = 0, last_error = $4 WHERE calendar_id = $1 AND event_uid = $2",
            )
            .bind(&w.calendar_id)
            .bind(&w.event_uid)
            .bind(next_ms)
            .bind(error)
            .execute(&mut *c)
            .await?
            .rows_affected());
            Ok(())
        })
        .await
    }

    /// The profile of this application already connected to `source_url`
    /// as `username`, connected or not: authorizing it again updates it.
    #[tracing::instrument(skip(self, username))]
    pub async fn find_connection(
        &self,
        application_id: &str,
        provider_name: &str,
        source_url: &str,
        username: &str,
    ) -> Result<Option<Connection>> {
        let sql = format!(
            "SELECT {CONNECTION_COLS} FROM profile_connections WHERE provider_name = $2 AND source_url = $3 AND username = $4 \
             AND account_id IN (SELECT id FROM accounts WHERE application_id = $1) ORDER BY created_ms LIMIT 1"
        );
        Ok(dispatch!(self, |p| sqlx::query_as(sqlx::AssertSqlSafe(
            sql.clone()
        ))
        .bind(application_id)
        .bind(provider_name)
        .bind(source_url)
        .bind(username)
        .fetch_optional(p)
        .await?))
    }

    /// The server refused the profile's credentials: it is disconnected
    /// (sync no longer claims it) until authorized again, and `notification`
    /// (`profile_disconnected`) is recorded with it. Answers whether it was
    /// connected until now.
    #[tracing::instrument(skip(self, reason, notification))]
    pub async fn disconnect_connection(
        &self,
        profile_id: &str,
        reason: &str,
        notification: &crate::NewNotification,
    ) -> Result<bool> {
        self.write(async |tx: &mut Tx| -> Result<bool> {
            let n = in_tx!(tx, |c| sqlx::query(
                "UPDATE profile_connections SET connected = $2, last_error = $3, lease_until_ms = 0 WHERE profile_id = $1 AND connected = $4",
            )
            .bind(profile_id)
            .bind(false)
            .bind(reason)
            .bind(true)
            .execute(&mut *c)
            .await?
            .rows_affected());
            if n == 0 {
                return Ok(false);
            }
            tx.insert_notification(notification).await?;
            Ok(true)
        })
        .await
    }

    /// A profile authorized again (new credentials): connected, synced
    /// from scratch at the next turn, and an authorization code for it.
    #[tracing::instrument(skip_all, fields(profile = %profile_id))]
    #[allow(clippy::too_many_arguments)]
    pub async fn reauthorize_connection(
        &self,
        profile_id: &str,
        account_id: &str,
        credentials_enc: &str,
        code_hash: &str,
        application_id: &str,
        redirect_uri: &str,
        code_expires_ms: i64,
        now_ms: i64,
    ) -> Result<()> {
        self.write(async |tx: &mut Tx| -> Result<()> {
            in_tx!(tx, |c| {
                sqlx::query(
                    "UPDATE profile_connections SET credentials_enc = $2, connected = $3, initial_sync_required = $3, next_sync_ms = 0, last_error = NULL WHERE profile_id = $1",
                )
                .bind(profile_id)
                .bind(credentials_enc)
                .bind(true)
                .execute(&mut *c)
                .await?;
                // Read every object again: what changed while disconnected
                // (or was cleared by a revoke) is not in any delta.
                sqlx::query(
                    "UPDATE provider_calendars SET sync_token = NULL, ctag = NULL, etag = NULL, last_modified = NULL, full_read_ms = NULL WHERE profile_id = $1",
                )
                .bind(profile_id)
                .execute(&mut *c)
                .await?;
                sqlx::query(
                    "INSERT INTO authorization_codes (code_hash, application_id, account_id, profile_id, redirect_uri, expires_ms, used, created_ms) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                )
                .bind(code_hash)
                .bind(application_id)
                .bind(account_id)
                .bind(profile_id)
                .bind(redirect_uri)
                .bind(code_expires_ms)
                .bind(false)
                .bind(now_ms)
                .execute(&mut *c)
                .await?
                .rows_affected()
            });
            Ok(())
        })
        .await
    }
}
