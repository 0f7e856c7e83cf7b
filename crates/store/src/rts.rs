//! Real-Time Scheduling links and UI Elements element tokens.

use crate::tx::{expect_one, in_tx};
use crate::{Db, Result, Tx, dispatch};

#[derive(Clone, Debug, sqlx::FromRow)]
pub struct RtsLink {
    pub id: String,
    pub application_id: String,
    pub organizational_unit_id: String,
    pub kind: String,
    pub status: String,
    pub token_hash: String,
    pub spec_json: String,
    pub booking_json: Option<String>,
    pub display_message: Option<String>,
    pub window_end_ms: i64,
    pub created_ms: i64,
    pub updated_ms: i64,
}

#[derive(Clone, Debug, sqlx::FromRow)]
pub struct ElementToken {
    pub token_hash: String,
    pub application_id: String,
    pub permissions_json: String,
    pub subs_json: String,
    pub origin: String,
    pub expires_ms: i64,
    pub created_ms: i64,
}

const LINK_COLS: &str = "id, application_id, organizational_unit_id, kind, status, token_hash, spec_json, booking_json, display_message, window_end_ms, created_ms, updated_ms";
const ET_COLS: &str =
    "token_hash, application_id, permissions_json, subs_json, origin, expires_ms, created_ms";

impl Db {
    #[tracing::instrument(skip(self))]
    pub async fn rts_link(&self, id: &str) -> Result<Option<RtsLink>> {
        Ok(dispatch!(self, |p| {
            let mut qb =
                sqlx::QueryBuilder::new(format!("SELECT {LINK_COLS} FROM rts_links WHERE id = "));
            qb.push_bind(id);
            qb.build_query_as().fetch_optional(p).await?
        }))
    }

    #[tracing::instrument(skip_all)]
    pub async fn rts_link_by_token_hash(&self, hash: &str) -> Result<Option<RtsLink>> {
        Ok(dispatch!(self, |p| {
            let mut qb = sqlx::QueryBuilder::new(format!(
                "SELECT {LINK_COLS} FROM rts_links WHERE token_hash = "
            ));
            qb.push_bind(hash);
            qb.build_query_as().fetch_optional(p).await?
        }))
    }

    #[tracing::instrument(skip_all)]
    pub async fn element_token(&self, hash: &str) -> Result<Option<ElementToken>> {
        Ok(dispatch!(self, |p| {
            let mut qb = sqlx::QueryBuilder::new(format!(
                "SELECT {ET_COLS} FROM element_tokens WHERE token_hash = "
            ));
            qb.push_bind(hash);
            qb.build_query_as().fetch_optional(p).await?
        }))
    }
}

impl Tx {
    #[tracing::instrument(skip_all, fields(link = %l.id))]
    pub async fn insert_rts_link(&mut self, l: &RtsLink) -> Result<()> {
        in_tx!(self, |p| {
            sqlx::query(
                "INSERT INTO rts_links (id, application_id, organizational_unit_id, kind, status, token_hash, spec_json, booking_json, display_message, window_end_ms, created_ms, updated_ms) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
            )
            .bind(&l.id)
            .bind(&l.application_id)
            .bind(&l.organizational_unit_id)
            .bind(&l.kind)
            .bind(&l.status)
            .bind(&l.token_hash)
            .bind(&l.spec_json)
            .bind(&l.booking_json)
            .bind(&l.display_message)
            .bind(l.window_end_ms)
            .bind(l.created_ms)
            .bind(l.updated_ms)
            .execute(&mut *p)
            .await?;
        });
        Ok(())
    }

    /// Locks a link's row until commit (PostgreSQL; SQLite's write lock
    /// already covers it).
    pub async fn lock_rts_link(&mut self, id: &str) -> Result<()> {
        if self.is_pg() {
            in_tx!(self, |p| {
                sqlx::query("SELECT id FROM rts_links WHERE id = $1 FOR UPDATE")
                    .bind(id)
                    .fetch_optional(&mut *p)
                    .await?;
            });
        }
        Ok(())
    }

    /// Moves a link on from the status it was read in (compare-and-set):
    /// a decision taken on a stale copy fails with `Conflict`.
    #[tracing::instrument(skip_all, fields(link = %next.id))]
    pub async fn update_rts_link(&mut self, next: &RtsLink, from_status: &str) -> Result<()> {
        let rows = in_tx!(self, |p| {
            sqlx::query(
                "UPDATE rts_links SET status = $1, booking_json = $2, display_message = $3, updated_ms = $4 \
                 WHERE id = $5 AND status = $6",
            )
            .bind(&next.status)
            .bind(&next.booking_json)
            .bind(&next.display_message)
            .bind(next.updated_ms)
            .bind(&next.id)
            .bind(from_status)
            .execute(&mut *p)
            .await?
            .rows_affected()
        });
        expect_one(rows)
    }

    #[tracing::instrument(skip_all)]
    pub async fn insert_element_token(&mut self, t: &ElementToken) -> Result<()> {
        in_tx!(self, |p| {
            sqlx::query(
                "INSERT INTO element_tokens (token_hash, application_id, permissions_json, subs_json, origin, expires_ms, created_ms) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7)",
            )
            .bind(&t.token_hash)
            .bind(&t.application_id)
            .bind(&t.permissions_json)
            .bind(&t.subs_json)
            .bind(&t.origin)
            .bind(t.expires_ms)
            .bind(t.created_ms)
            .execute(&mut *p)
            .await?;
            // Expired tokens are of no use to anyone: each issue clears a few.
            sqlx::query("DELETE FROM element_tokens WHERE token_hash IN (SELECT token_hash FROM element_tokens WHERE expires_ms < $1 LIMIT 100)")
                .bind(t.created_ms)
                .execute(&mut *p)
                .await?;
        });
        Ok(())
    }
}
