//! What the `convene` command needs beyond the API: listings for operators
//! and the SQLite online backup. Each is one statement over the pool, so it
//! does not depend on how the rest of the store groups its writes.

use crate::{Db, Result, StoreError, dispatch};

/// An application as an operator sees it: never its secrets, only how many
/// are active (more than one while a rotation is under way).
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct ApplicationListing {
    pub id: String,
    pub name: String,
    pub organizational_unit_id: String,
    pub organizational_unit: String,
    pub webhook_url: Option<String>,
    pub active_secrets: i64,
    pub created_ms: i64,
}

/// A dashboard admin without its password hash.
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct AdminListing {
    pub id: String,
    pub email: String,
    pub organizational_unit_id: String,
    pub organizational_unit: String,
    pub created_ms: i64,
}

impl Db {
    /// Every application, oldest first.
    #[tracing::instrument(skip(self))]
    pub async fn list_applications(&self) -> Result<Vec<ApplicationListing>> {
        Ok(dispatch!(self, |p| {
            sqlx::query_as(
                "SELECT ap.id, ap.name, ap.organizational_unit_id, ou.name AS organizational_unit, ap.webhook_url, \
                 (SELECT COUNT(*) FROM application_secrets s WHERE s.application_id = ap.id AND s.active = TRUE) AS active_secrets, \
                 ap.created_ms \
                 FROM applications ap JOIN organizational_units ou ON ou.id = ap.organizational_unit_id \
                 ORDER BY ap.created_ms, ap.id",
            )
            .fetch_all(p)
            .await?
        }))
    }

    /// Every dashboard admin, by email.
    #[tracing::instrument(skip(self))]
    pub async fn list_admins(&self) -> Result<Vec<AdminListing>> {
        Ok(dispatch!(self, |p| {
            sqlx::query_as(
                "SELECT a.id, a.email, a.organizational_unit_id, ou.name AS organizational_unit, a.created_ms \
                 FROM admins a JOIN organizational_units ou ON ou.id = a.organizational_unit_id \
                 ORDER BY a.email",
            )
            .fetch_all(p)
            .await?
        }))
    }

    /// Ends every session of the admin with that email; answers how many.
    #[tracing::instrument(skip(self))]
    pub async fn delete_admin_sessions_by_email(&self, email: &str) -> Result<u64> {
        Ok(dispatch!(self, |p| {
            sqlx::query(
                "DELETE FROM admin_sessions WHERE admin_id IN (SELECT id FROM admins WHERE email = $1)",
            )
            .bind(email)
            .execute(p)
            .await?
            .rows_affected()
        }))
    }

    /// Deletes the admin with that email; answers whether there was one.
    /// Its sessions must be gone first (they reference it): a sign-in
    /// between the two statements makes this fail rather than orphan one.
    #[tracing::instrument(skip(self))]
    pub async fn delete_admin_by_email(&self, email: &str) -> Result<bool> {
        let n = dispatch!(self, |p| {
            sqlx::query("DELETE FROM admins WHERE email = $1")
                .bind(email)
                .execute(p)
                .await?
                .rows_affected()
        });
        Ok(n == 1)
    }

    /// Writes a consistent copy of an SQLite database to `path` (which must
    /// not exist) while it keeps serving: `VACUUM INTO` reads one snapshot,
    /// so every transaction committed before it started is in the copy and
    /// writers are not blocked. PostgreSQL has its own tools (pg_dump).
    #[tracing::instrument(skip(self))]
    pub async fn backup_into(&self, path: &str) -> Result<()> {
        dispatch!(self, |p| {
            if IS_PG {
                return Err(StoreError::Sqlx(sqlx::Error::Configuration(
                    "VACUUM INTO is SQLite's: back PostgreSQL up with pg_dump".into(),
                )));
            }
            sqlx::query("VACUUM INTO $1").bind(path).execute(p).await?;
        });
        Ok(())
    }
}
