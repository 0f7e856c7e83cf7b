//! The queries of the foundation: applications, accounts, tokens, calendars,
//! events, availability rules and available periods.

use crate::tx::in_tx;
use crate::{
    Account, Application, BusyRow, Calendar, Db, Event, EventFilter, OrgUnit, Period,
    PrimaryCalendar, Profile, Result, Rule, StoreError, Token, Tx, dispatch,
};

/// A fresh account with its profile and primary calendar, created together.
#[derive(Clone, Debug)]
pub struct NewAccount {
    pub account: Account,
    pub profile_id: String,
    pub profile_name: String,
    pub calendar_id: String,
    pub calendar_name: String,
    pub created_ms: i64,
}

const EVENT_COLS: &str = "event_uid, calendar_id, account_id, event_id, summary, description, start_ms, end_ms, start_date, end_date, tzid, transparency, status, participation, body_json, deleted, created_ms, updated_ms";

fn unique_violation(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(d) if d.is_unique_violation())
}

impl Db {
    /// Creates an application, and its Organizational Unit when no unit of
    /// that name exists yet.
    #[tracing::instrument(skip(self, secret_hash))]
    pub async fn create_application(
        &self,
        ou_id_if_new: &str,
        ou_name: &str,
        app: &Application,
        secret_hash: &str,
        now_ms: i64,
    ) -> Result<OrgUnit> {
        self.write(async |tx: &mut Tx| in_tx!(tx, |c| {
            let existing: Option<OrgUnit> =
                sqlx::query_as("SELECT id, name FROM organizational_units WHERE name = $1")
                    .bind(ou_name)
                    .fetch_optional(&mut *c)
                    .await?;
            let ou = match existing {
                Some(ou) => ou,
                None => {
                    sqlx::query(
                        "INSERT INTO organizational_units (id, name, created_ms) VALUES ($1, $2, $3)",
                    )
                    .bind(ou_id_if_new)
                    .bind(ou_name)
                    .bind(now_ms)
                    .execute(&mut *c)
                    .await?;
                    OrgUnit {
                        id: ou_id_if_new.to_string(),
                        name: ou_name.to_string(),
                    }
                }
            };
            sqlx::query(
                "INSERT INTO applications (id, name, organizational_unit_id, secret_hash, webhook_url, created_ms) VALUES ($1, $2, $3, $4, $5, $6)",
            )
            .bind(&app.id)
            .bind(&app.name)
            .bind(&ou.id)
            .bind(secret_hash)
            .bind(&app.webhook_url)
            .bind(now_ms)
            .execute(&mut *c)
            .await?;
            sqlx::query(
                "INSERT INTO application_secrets (hash, application_id, version, active, created_ms) VALUES ($1, $2, 1, TRUE, $3)",
            )
            .bind(secret_hash)
            .bind(&app.id)
            .bind(now_ms)
            .execute(&mut *c)
            .await?;
            Ok::<_, StoreError>(ou)
        })).await
    }

    #[tracing::instrument(skip_all)]
    pub async fn application_by_secret_hash(&self, hash: &str) -> Result<Option<Application>> {
        Ok(dispatch!(self, |p| {
            sqlx::query_as(
            "SELECT ap.id, ap.name, ap.organizational_unit_id, ap.webhook_url FROM application_secrets s JOIN applications ap ON ap.id = s.application_id WHERE s.hash = $1 AND s.active = TRUE"
        )
        .bind(hash)
        .fetch_optional(p)
        .await?
        }))
    }

    #[tracing::instrument(skip(self))]
    pub async fn application(&self, id: &str) -> Result<Option<Application>> {
        Ok(dispatch!(self, |p| sqlx::query_as(
            "SELECT id, name, organizational_unit_id, webhook_url FROM applications WHERE id = $1"
        )
        .bind(id)
        .fetch_optional(p)
        .await?))
    }

    #[tracing::instrument(skip(self))]
    pub async fn set_webhook_url(&self, app_id: &str, url: Option<&str>) -> Result<bool> {
        let n = self
            .write(async |tx: &mut Tx| -> Result<_> {
                Ok(in_tx!(tx, |p| sqlx::query(
                    "UPDATE applications SET webhook_url = $2 WHERE id = $1"
                )
                .bind(app_id)
                .bind(url)
                .execute(&mut *p)
                .await?
                .rows_affected()))
            })
            .await?;
        Ok(n == 1)
    }

    #[tracing::instrument(skip(self))]
    pub async fn account(&self, id: &str) -> Result<Option<Account>> {
        Ok(dispatch!(self, |p| {
            sqlx::query_as(
            "SELECT a.id, a.application_id, a.application_calendar_id, a.email, a.name, a.default_tzid, a.last_booked_ms, ap.organizational_unit_id, a.availability_version FROM accounts a JOIN applications ap ON ap.id = a.application_id WHERE a.id = $1"
        )
        .bind(id)
        .fetch_optional(p)
        .await?
        }))
    }

    /// Accounts by id, in one query; unknown ids are simply absent.
    #[tracing::instrument(skip_all, fields(n = ids.len()))]
    pub async fn accounts(&self, ids: &[String]) -> Result<Vec<Account>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        Ok(dispatch!(self, |p| {
            let mut qb = sqlx::QueryBuilder::new(
                "SELECT a.id, a.application_id, a.application_calendar_id, a.email, a.name, a.default_tzid, a.last_booked_ms, ap.organizational_unit_id, a.availability_version FROM accounts a JOIN applications ap ON ap.id = a.application_id WHERE a.id IN (",
            );
            let mut sep = qb.separated(", ");
            for id in ids {
                sep.push_bind(id);
            }
            qb.push(")");
            qb.build_query_as().fetch_all(p).await?
        }))
    }

    /// The account of an application calendar, created (with a profile and
    /// a primary calendar) on first use. Idempotent under concurrent calls.
    #[tracing::instrument(skip(self, new))]
    pub async fn ensure_application_calendar(&self, new: &NewAccount) -> Result<Account> {
        let apc = new
            .account
            .application_calendar_id
            .as_deref()
            .unwrap_or_default();
        let account_sql = "SELECT a.id, a.application_id, a.application_calendar_id, a.email, a.name, a.default_tzid, a.last_booked_ms, ap.organizational_unit_id, a.availability_version FROM accounts a JOIN applications ap ON ap.id = a.application_id WHERE a.application_id = $1 AND a.application_calendar_id = $2";
        self.write(async |tx: &mut Tx| in_tx!(tx, |c| {
            let a = &new.account;
            // A concurrent first call for the same id inserts nothing here
            // (PostgreSQL waits for it to commit, SQLite's write lock orders
            // the two): the loser reads the winner's account below.
            let inserted: Option<String> = sqlx::query_scalar(
                "INSERT INTO accounts (id, application_id, application_calendar_id, email, name, default_tzid, last_booked_ms, created_ms) VALUES ($1, $2, $3, $4, $5, $6, NULL, $7) \
                 ON CONFLICT (application_id, application_calendar_id) DO NOTHING RETURNING id",
            )
            .bind(&a.id)
            .bind(&a.application_id)
            .bind(apc)
            .bind(&a.email)
            .bind(&a.name)
            .bind(&a.default_tzid)
            .bind(new.created_ms)
            .fetch_optional(&mut *c)
            .await?;
            if inserted.is_some() {
                sqlx::query("INSERT INTO profiles (id, account_id, name, created_ms) VALUES ($1, $2, $3, $4)")
                    .bind(&new.profile_id)
                    .bind(&a.id)
                    .bind(&new.profile_name)
                    .bind(new.created_ms)
                    .execute(&mut *c)
                    .await?;
                sqlx::query(
                    "INSERT INTO calendars (id, account_id, profile_id, name, color, is_primary, created_ms) VALUES ($1, $2, $3, $4, NULL, $5, $6)",
                )
                .bind(&new.calendar_id)
                .bind(&a.id)
                .bind(&new.profile_id)
                .bind(&new.calendar_name)
                .bind(true)
                .bind(new.created_ms)
                .execute(&mut *c)
                .await?;
            }
            let row: Account = sqlx::query_as(account_sql)
                .bind(&a.application_id)
                .bind(apc)
                .fetch_one(&mut *c)
                .await?;
            Ok(row)
        })).await
    }

    #[tracing::instrument(skip_all)]
    pub async fn insert_token(
        &self,
        hash: &str,
        kind: &str,
        account_id: &str,
        application_id: &str,
        expires_ms: Option<i64>,
        now_ms: i64,
    ) -> Result<()> {
        self.write(async |tx: &mut Tx| -> Result<()> { in_tx!(tx, |p| {
            sqlx::query(
            "INSERT INTO tokens (hash, kind, account_id, application_id, expires_ms, revoked, created_ms) VALUES ($1, $2, $3, $4, $5, $6, $7)"
        )
        .bind(hash)
        .bind(kind)
        .bind(account_id)
        .bind(application_id)
        .bind(expires_ms)
        .bind(false)
        .bind(now_ms)
        .execute(&mut *p)
        .await
        .map(|_| ())?
        }); Ok(()) }).await?;
        Ok(())
    }

    #[tracing::instrument(skip_all)]
    pub async fn token(&self, hash: &str) -> Result<Option<Token>> {
        Ok(dispatch!(self, |p| {
            sqlx::query_as(
            "SELECT kind, account_id, application_id, expires_ms, revoked FROM tokens WHERE hash = $1"
        )
        .bind(hash)
        .fetch_optional(p)
        .await?
        }))
    }

    /// Revokes every token of an account for one application (what revoking
    /// an authorization means in OAuth terms).
    #[tracing::instrument(skip(self))]
    pub async fn revoke_account_tokens(
        &self,
        account_id: &str,
        application_id: &str,
    ) -> Result<u64> {
        self.write(async |tx: &mut Tx| -> Result<_> {
            Ok(in_tx!(tx, |p| sqlx::query(
                "UPDATE tokens SET revoked = $3 WHERE account_id = $1 AND application_id = $2"
            )
            .bind(account_id)
            .bind(application_id)
            .bind(true)
            .execute(&mut *p)
            .await?
            .rows_affected()))
        })
        .await
    }

    #[tracing::instrument(skip(self))]
    pub async fn profiles(&self, account_id: &str) -> Result<Vec<Profile>> {
        Ok(dispatch!(self, |p| {
            sqlx::query_as(
            "SELECT id, account_id, name FROM profiles WHERE account_id = $1 ORDER BY created_ms, id"
        )
        .bind(account_id)
        .fetch_all(p)
        .await?
        }))
    }

    #[tracing::instrument(skip(self))]
    pub async fn calendars(&self, account_id: &str) -> Result<Vec<Calendar>> {
        Ok(dispatch!(self, |p| {
            sqlx::query_as(
            "SELECT id, account_id, profile_id, name, color, is_primary FROM calendars WHERE account_id = $1 ORDER BY is_primary DESC, created_ms, id"
        )
        .bind(account_id)
        .fetch_all(p)
        .await?
        }))
    }

    #[tracing::instrument(skip(self))]
    pub async fn calendar(&self, id: &str) -> Result<Option<Calendar>> {
        Ok(dispatch!(self, |p| {
            sqlx::query_as(
            "SELECT id, account_id, profile_id, name, color, is_primary FROM calendars WHERE id = $1"
        )
        .bind(id)
        .fetch_optional(p)
        .await?
        }))
    }

    /// The primary calendar of each account, in one query.
    #[tracing::instrument(skip_all, fields(n = account_ids.len()))]
    pub async fn primary_calendars(&self, account_ids: &[String]) -> Result<Vec<Calendar>> {
        if account_ids.is_empty() {
            return Ok(Vec::new());
        }
        Ok(dispatch!(self, |p| {
            let mut qb = sqlx::QueryBuilder::new(
                "SELECT id, account_id, profile_id, name, color, is_primary FROM calendars WHERE is_primary = ",
            );
            qb.push_bind(true).push(" AND account_id IN (");
            let mut sep = qb.separated(", ");
            for id in account_ids {
                sep.push_bind(id);
            }
            qb.push(")");
            qb.build_query_as().fetch_all(p).await?
        }))
    }

    /// The primary calendar of each account, each with whether its account
    /// has a connected calendar profile (a booking asks those first), in one
    /// query.
    #[tracing::instrument(skip_all, fields(n = account_ids.len()))]
    pub async fn primary_calendars_and_connections(
        &self,
        account_ids: &[String],
    ) -> Result<Vec<PrimaryCalendar>> {
        if account_ids.is_empty() {
            return Ok(Vec::new());
        }
        Ok(dispatch!(self, |p| {
            let mut qb = sqlx::QueryBuilder::new(
                "SELECT c.id, c.account_id, c.profile_id, c.name, c.color, c.is_primary, \
                 EXISTS (SELECT 1 FROM profile_connections pc WHERE pc.account_id = c.account_id) AS connected \
                 FROM calendars c WHERE c.is_primary = ",
            );
            qb.push_bind(true).push(" AND c.account_id IN (");
            let mut sep = qb.separated(", ");
            for id in account_ids {
                sep.push_bind(id);
            }
            qb.push(")");
            qb.build_query_as().fetch_all(p).await?
        }))
    }

    /// Creates a calendar; `Conflict` when the account already has one of
    /// that name.
    #[tracing::instrument(skip(self, cal))]
    pub async fn create_calendar(&self, cal: &Calendar, now_ms: i64) -> Result<()> {
        let r = self.write(async |tx: &mut Tx| -> Result<()> { in_tx!(tx, |p| {
            sqlx::query(
            "INSERT INTO calendars (id, account_id, profile_id, name, color, is_primary, created_ms) VALUES ($1, $2, $3, $4, $5, $6, $7)"
        )
        .bind(&cal.id)
        .bind(&cal.account_id)
        .bind(&cal.profile_id)
        .bind(&cal.name)
        .bind(&cal.color)
        .bind(cal.is_primary)
        .bind(now_ms)
        .execute(&mut *p)
        .await
        .map(|_| ())?
        }); Ok(()) }).await;
        match r {
            Err(StoreError::Sqlx(e)) if unique_violation(&e) => {
                Err(StoreError::Conflict("duplicate_calendar_name"))
            }
            other => other,
        }
    }

    /// One page of events (ordered by start, then uid) and the total count.
    #[tracing::instrument(skip(self, f), fields(account = %f.account_id))]
    pub async fn list_events(
        &self,
        f: &EventFilter,
        offset: i64,
        limit: i64,
    ) -> Result<(Vec<Event>, i64)> {
        Ok(dispatch!(self, |p| {
            let mut count_qb = sqlx::QueryBuilder::new("SELECT COUNT(*) FROM events WHERE ");
            push_event_filter(&mut count_qb, f);
            let total: i64 = count_qb.build_query_scalar().fetch_one(p).await?;
            let mut qb = sqlx::QueryBuilder::new(format!("SELECT {EVENT_COLS} FROM events WHERE "));
            push_event_filter(&mut qb, f);
            qb.push(" ORDER BY start_ms, event_uid LIMIT ")
                .push_bind(limit)
                .push(" OFFSET ")
                .push_bind(offset);
            let rows: Vec<Event> = qb.build_query_as().fetch_all(p).await?;
            (rows, total)
        }))
    }

    #[tracing::instrument(skip(self))]
    pub async fn event_by_id(&self, calendar_id: &str, event_id: &str) -> Result<Option<Event>> {
        Ok(dispatch!(self, |p| {
            let mut qb = sqlx::QueryBuilder::new(format!(
                "SELECT {EVENT_COLS} FROM events WHERE calendar_id = "
            ));
            qb.push_bind(calendar_id)
                .push(" AND event_id = ")
                .push_bind(event_id);
            qb.build_query_as().fetch_optional(p).await?
        }))
    }

    /// Busy intervals of many accounts overlapping `[from, to)` in one
    /// query: opaque, not cancelled, not declined, not deleted; each account's
    /// intervals sorted by start (the engine then merges instead of sorting).
    #[tracing::instrument(skip(self, account_ids), fields(n = account_ids.len()))]
    pub async fn busy(
        &self,
        account_ids: &[String],
        from_ms: i64,
        to_ms: i64,
    ) -> Result<Vec<BusyRow>> {
        if account_ids.is_empty() {
            return Ok(Vec::new());
        }
        // One row per account with its intervals as a JSON
        // array: decoding a few JSON texts is far cheaper than thousands of
        // rows (SQLite hands every row across a thread). The aggregate is
        // the one spelling that differs between the backends.
        let grouped: Vec<(String, String)> = dispatch!(self, |p| {
            let agg = if IS_PG {
                "json_agg(json_build_array(start_ms, end_ms, event_id, calendar_id) ORDER BY start_ms)::text"
            } else {
                "json_group_array(json_array(start_ms, end_ms, event_id, calendar_id) ORDER BY start_ms)"
            };
            let mut qb = sqlx::QueryBuilder::new(format!(
                "SELECT account_id, {agg} FROM events WHERE account_id IN ("
            ));
            let mut sep = qb.separated(", ");
            for id in account_ids {
                sep.push_bind(id);
            }
            // The conditions are literals so both planners can match the
            // partial covering index `events_busy_cover`.
            qb.push(") AND start_ms < ")
                .push_bind(to_ms)
                .push(" AND end_ms > ")
                .push_bind(from_ms)
                .push(" AND deleted = FALSE AND transparency = 'opaque' AND status <> 'cancelled' AND participation <> 'declined' GROUP BY account_id");
            qb.build_query_as().fetch_all(p).await?
        });
        let mut out = Vec::new();
        for (account_id, json) in grouped {
            let items: Vec<(i64, i64, Option<String>, String)> =
                serde_json::from_str(&json).unwrap_or_default();
            out.extend(
                items
                    .into_iter()
                    .map(|(start_ms, end_ms, event_id, calendar_id)| BusyRow {
                        account_id: account_id.clone(),
                        calendar_id,
                        event_id,
                        start_ms,
                        end_ms,
                    }),
            );
        }
        Ok(out)
    }

    #[tracing::instrument(skip(self))]
    pub async fn rules(&self, account_id: &str) -> Result<Vec<Rule>> {
        self.rules_for(std::slice::from_ref(&account_id.to_string()))
            .await
    }

    /// Rules of many accounts in one query.
    #[tracing::instrument(skip_all, fields(n = account_ids.len()))]
    pub async fn rules_for(&self, account_ids: &[String]) -> Result<Vec<Rule>> {
        if account_ids.is_empty() {
            return Ok(Vec::new());
        }
        Ok(dispatch!(self, |p| {
            let mut qb = sqlx::QueryBuilder::new(
                "SELECT account_id, rule_id, tzid, calendar_ids_json, weekly_periods_json FROM availability_rules WHERE account_id IN (",
            );
            let mut sep = qb.separated(", ");
            for id in account_ids {
                sep.push_bind(id);
            }
            qb.push(") ORDER BY account_id, rule_id");
            qb.build_query_as().fetch_all(p).await?
        }))
    }

    /// Available periods of many accounts overlapping `[from, to)`, in one
    /// query; `None` bounds mean unbounded.
    #[tracing::instrument(skip_all, fields(n = account_ids.len()))]
    pub async fn periods_for(
        &self,
        account_ids: &[String],
        from_ms: Option<i64>,
        to_ms: Option<i64>,
    ) -> Result<Vec<Period>> {
        if account_ids.is_empty() {
            return Ok(Vec::new());
        }
        Ok(dispatch!(self, |p| {
            let mut qb = sqlx::QueryBuilder::new(
                "SELECT account_id, period_id, start_ms, end_ms FROM available_periods WHERE account_id IN (",
            );
            let mut sep = qb.separated(", ");
            for id in account_ids {
                sep.push_bind(id);
            }
            qb.push(")");
            if let Some(to) = to_ms {
                qb.push(" AND start_ms < ").push_bind(to);
            }
            if let Some(from) = from_ms {
                qb.push(" AND end_ms >= ").push_bind(from);
            }
            qb.push(" ORDER BY account_id, start_ms, period_id");
            qb.build_query_as().fetch_all(p).await?
        }))
    }
}

fn push_event_filter<DB: sqlx::Database>(qb: &mut sqlx::QueryBuilder<DB>, f: &EventFilter)
where
    String: for<'t> sqlx::Encode<'t, DB> + sqlx::Type<DB>,
    i64: for<'t> sqlx::Encode<'t, DB> + sqlx::Type<DB>,
    bool: for<'t> sqlx::Encode<'t, DB> + sqlx::Type<DB>,
{
    qb.push("account_id = ").push_bind(f.account_id.clone());
    if let Some(to) = f.to_ms {
        qb.push(" AND start_ms < ").push_bind(to);
    }
    if let Some(from) = f.from_ms {
        qb.push(" AND end_ms >= ").push_bind(from);
    }
    if let Some(lm) = f.last_modified_ms {
        qb.push(" AND updated_ms >= ").push_bind(lm);
    }
    if !f.include_deleted {
        qb.push(" AND deleted = ").push_bind(false);
    }
    if f.only_managed {
        qb.push(" AND event_id IS NOT NULL");
    }
    if f.exclude_managed {
        qb.push(" AND event_id IS NULL");
    }
    if let Some(ids) = &f.calendar_ids {
        if ids.is_empty() {
            qb.push(" AND 1 = 0");
        } else {
            qb.push(" AND calendar_id IN (");
            let mut sep = qb.separated(", ");
            for id in ids {
                sep.push_bind(id.clone());
            }
            qb.push(")");
        }
    }
}
