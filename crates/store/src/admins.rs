//! Dashboard admins and their sessions, plus the few read-only listings the
//! dashboard needs that the API does not (accounts and applications of a
//! unit).

use crate::tx::in_tx;
use crate::{Account, Application, Db, OrgUnit, Result, StoreError, Tx, dispatch};

#[derive(Clone, Debug, sqlx::FromRow)]
pub struct Admin {
    pub id: String,
    pub email: String,
    pub organizational_unit_id: String,
    pub password_hash: String,
    pub created_ms: i64,
    pub updated_ms: i64,
}

#[derive(Clone, Debug, sqlx::FromRow)]
pub struct AdminSession {
    pub token_hash: String,
    pub admin_id: String,
    pub csrf_token: String,
    pub expires_ms: i64,
    pub created_ms: i64,
}

/// The admin columns, as a literal so queries stay `&'static str` (sqlx
/// only takes static SQL without an explicit safety assertion).
macro_rules! admin_cols {
    () => {
        "id, email, organizational_unit_id, password_hash, created_ms, updated_ms"
    };
}

impl Db {
    /// The unit of that name, created with `id_if_new` when missing.
    #[tracing::instrument(skip(self))]
    pub async fn ensure_org_unit(
        &self,
        id_if_new: &str,
        name: &str,
        now_ms: i64,
    ) -> Result<OrgUnit> {
        self.write(async |tx: &mut Tx| in_tx!(tx, |c| {
            // Inserting first and ignoring a conflict keeps this idempotent
            // when two `admin add` runs race on a new unit.
            sqlx::query(
                "INSERT INTO organizational_units (id, name, created_ms) VALUES ($1, $2, $3) ON CONFLICT (name) DO NOTHING",
            )
            .bind(id_if_new)
            .bind(name)
            .bind(now_ms)
            .execute(&mut *c)
            .await?;
            let ou: OrgUnit =
                sqlx::query_as("SELECT id, name FROM organizational_units WHERE name = $1")
                    .bind(name)
                    .fetch_one(&mut *c)
                    .await?;
            Ok::<_, StoreError>(ou)
        })).await
    }

    #[tracing::instrument(skip(self))]
    pub async fn org_unit(&self, id: &str) -> Result<Option<OrgUnit>> {
        Ok(dispatch!(self, |p| sqlx::query_as(
            "SELECT id, name FROM organizational_units WHERE id = $1"
        )
        .bind(id)
        .fetch_optional(p)
        .await?))
    }

    /// Creates the admin, or — for an email already known — sets its
    /// password and unit. Existing sessions of that admin end, since a new
    /// password must lock out whoever knew the old one.
    #[tracing::instrument(skip(self, a), fields(email = %a.email))]
    pub async fn upsert_admin(&self, a: &Admin) -> Result<Admin> {
        self.write(async |tx: &mut Tx| in_tx!(tx, |c| {
            let row: Admin = sqlx::query_as(concat!(
                "INSERT INTO admins (",
                admin_cols!(),
                ") VALUES ($1, $2, $3, $4, $5, $6) \
                 ON CONFLICT (email) DO UPDATE SET organizational_unit_id = excluded.organizational_unit_id, password_hash = excluded.password_hash, updated_ms = excluded.updated_ms \
                 RETURNING ",
                admin_cols!()
            ))
            .bind(&a.id)
            .bind(&a.email)
            .bind(&a.organizational_unit_id)
            .bind(&a.password_hash)
            .bind(a.created_ms)
            .bind(a.updated_ms)
            .fetch_one(&mut *c)
            .await?;
            sqlx::query("DELETE FROM admin_sessions WHERE admin_id = $1")
                .bind(&row.id)
                .execute(&mut *c)
                .await?;
            Ok::<_, StoreError>(row)
        })).await
    }

    #[tracing::instrument(skip(self))]
    pub async fn admin_by_email(&self, email: &str) -> Result<Option<Admin>> {
        Ok(dispatch!(self, |p| sqlx::query_as(concat!(
            "SELECT ",
            admin_cols!(),
            " FROM admins WHERE email = $1"
        ))
        .bind(email)
        .fetch_optional(p)
        .await?))
    }

    /// Stores a new session and drops expired ones (the table stays small
    /// without a background job).
    #[tracing::instrument(skip_all, fields(admin = %s.admin_id))]
    pub async fn insert_admin_session(&self, s: &AdminSession) -> Result<()> {
        self.write(async |tx: &mut Tx| -> Result<()> { in_tx!(tx, |p| {
            sqlx::query("DELETE FROM admin_sessions WHERE expires_ms < $1")
                .bind(s.created_ms)
                .execute(&mut *p)
                .await?;
            sqlx::query(
                "INSERT INTO admin_sessions (token_hash, admin_id, csrf_token, expires_ms, created_ms) VALUES ($1, $2, $3, $4, $5)",
            )
            .bind(&s.token_hash)
            .bind(&s.admin_id)
            .bind(&s.csrf_token)
            .bind(s.expires_ms)
            .bind(s.created_ms)
            .execute(&mut *p)
            .await?;
        }); Ok(()) }).await?;
        Ok(())
    }

    /// The live session of a token digest, with its admin.
    #[tracing::instrument(skip_all)]
    pub async fn admin_session(
        &self,
        token_hash: &str,
        now_ms: i64,
    ) -> Result<Option<(AdminSession, Admin)>> {
        let s: Option<AdminSession> = dispatch!(self, |p| {
            sqlx::query_as(
            "SELECT token_hash, admin_id, csrf_token, expires_ms, created_ms FROM admin_sessions WHERE token_hash = $1 AND expires_ms > $2"
        )
        .bind(token_hash)
        .bind(now_ms)
        .fetch_optional(p)
        .await?
        });
        let Some(s) = s else { return Ok(None) };
        let a: Option<Admin> = dispatch!(self, |p| sqlx::query_as(concat!(
            "SELECT ",
            admin_cols!(),
            " FROM admins WHERE id = $1"
        ))
        .bind(&s.admin_id)
        .fetch_optional(p)
        .await?);
        Ok(a.map(|a| (s, a)))
    }

    #[tracing::instrument(skip_all)]
    pub async fn delete_admin_session(&self, token_hash: &str) -> Result<()> {
        self.write(async |tx: &mut Tx| -> Result<()> {
            in_tx!(tx, |p| {
                sqlx::query("DELETE FROM admin_sessions WHERE token_hash = $1")
                    .bind(token_hash)
                    .execute(&mut *p)
                    .await?;
            });
            Ok(())
        })
        .await
    }

    /// Accounts of every application of a unit, by name (for the template
    /// editor's pickers).
    #[tracing::instrument(skip(self))]
    pub async fn unit_accounts(&self, ou: &str, limit: i64) -> Result<Vec<Account>> {
        Ok(dispatch!(self, |p| {
            sqlx::query_as(
            "SELECT a.id, a.application_id, a.application_calendar_id, a.email, a.name, a.default_tzid, a.last_booked_ms, ap.organizational_unit_id, a.availability_version FROM accounts a JOIN applications ap ON ap.id = a.application_id WHERE ap.organizational_unit_id = $1 ORDER BY a.name, a.id LIMIT $2"
        )
        .bind(ou)
        .bind(limit)
        .fetch_all(p)
        .await?
        }))
    }

    /// Applications of a unit, oldest first.
    #[tracing::instrument(skip(self))]
    pub async fn unit_applications(&self, ou: &str) -> Result<Vec<Application>> {
        Ok(dispatch!(self, |p| {
            sqlx::query_as(
            "SELECT id, name, organizational_unit_id, webhook_url FROM applications WHERE organizational_unit_id = $1 ORDER BY created_ms, id"
        )
        .bind(ou)
        .fetch_all(p)
        .await?
        }))
    }
}
