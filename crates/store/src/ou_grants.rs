//! Organizational Unit authorization codes and tokens (scope
//! `organizational_unit_scheduler`).

use crate::tx::{expect_one, in_tx};
use crate::{Db, Result, Tx, dispatch};

#[derive(Clone, Debug, sqlx::FromRow)]
pub struct OuGrant {
    pub hash: String,
    pub kind: String,
    pub application_id: String,
    pub organizational_unit_id: String,
    pub redirect_uri: Option<String>,
    pub expires_ms: Option<i64>,
    pub used: bool,
    pub created_ms: i64,
}

impl Db {
    #[tracing::instrument(skip_all)]
    pub async fn ou_grant(&self, hash: &str) -> Result<Option<OuGrant>> {
        Ok(dispatch!(self, |p| {
            sqlx::query_as(
                "SELECT hash, kind, application_id, organizational_unit_id, redirect_uri, expires_ms, used, created_ms FROM ou_grants WHERE hash = $1",
            )
            .bind(hash)
            .fetch_optional(p)
            .await?
        }))
    }
}

impl Tx {
    #[tracing::instrument(skip_all, fields(kind = %g.kind))]
    pub async fn insert_ou_grant(&mut self, g: &OuGrant) -> Result<()> {
        in_tx!(self, |p| {
            sqlx::query(
                "INSERT INTO ou_grants (hash, kind, application_id, organizational_unit_id, redirect_uri, expires_ms, used, created_ms) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
            )
            .bind(&g.hash)
            .bind(&g.kind)
            .bind(&g.application_id)
            .bind(&g.organizational_unit_id)
            .bind(&g.redirect_uri)
            .bind(g.expires_ms)
            .bind(g.used)
            .bind(g.created_ms)
            .execute(&mut *p)
            .await?;
        });
        Ok(())
    }

    /// Marks a code used; fails with `Conflict` when it already was (two
    /// exchanges racing: one wins).
    #[tracing::instrument(skip_all)]
    pub async fn use_ou_code(&mut self, hash: &str) -> Result<()> {
        let rows = in_tx!(self, |p| {
            sqlx::query(
                "UPDATE ou_grants SET used = $1 WHERE hash = $2 AND kind = 'code' AND used = $3",
            )
            .bind(true)
            .bind(hash)
            .bind(false)
            .execute(&mut *p)
            .await?
            .rows_affected()
        });
        expect_one(rows)
    }
}
