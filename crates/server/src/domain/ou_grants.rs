//! Organizational Unit authorization: an admin of a unit grants one of its
//! applications the scope `organizational_unit_scheduler` (at
//! `/oauth/authorize`); the code is exchanged once at `/oauth/token` for an
//! access token (and a refresh token) that the scheduling request endpoints
//! accept for that unit, and nothing else.

use convene_store::ou_grants::OuGrant;
use convene_store::{Application, StoreError, Tx};

use crate::AppState;
use crate::error::{ApiError, ApiResult};
use crate::ids::{digest, new_secret};

pub const SCOPE: &str = "organizational_unit_scheduler";
/// How long a code waits to be exchanged.
pub const CODE_TTL_MS: i64 = 10 * 60 * 1000;

/// Tokens issued for a unit.
#[derive(Debug)]
pub struct Issued {
    pub access_token: String,
    pub refresh_token: String,
    pub expires_in: i64,
    pub organizational_unit_id: String,
}

fn grant(
    kind: &str,
    secret: &str,
    app: &Application,
    expires_ms: Option<i64>,
    now: i64,
) -> OuGrant {
    OuGrant {
        hash: digest(secret),
        kind: kind.to_string(),
        application_id: app.id.clone(),
        organizational_unit_id: app.organizational_unit_id.clone(),
        redirect_uri: None,
        expires_ms,
        used: false,
        created_ms: now,
    }
}

/// A code for `app` (its own unit), bound to `redirect_uri`.
#[tracing::instrument(skip_all, fields(app = %app.id))]
pub async fn issue_code(
    state: &AppState,
    app: &Application,
    redirect_uri: &str,
) -> ApiResult<String> {
    let now = state.now_ms();
    let code = new_secret();
    let mut g = grant("code", &code, app, Some(now + CODE_TTL_MS), now);
    g.redirect_uri = Some(redirect_uri.to_string());
    state
        .db
        .write(async |tx: &mut Tx| tx.insert_ou_grant(&g).await)
        .await?;
    Ok(code)
}

/// `Some` when `code` is one of ours (whatever its state); the exchange
/// then either issues tokens or fails with `invalid_grant`.
pub async fn is_code(state: &AppState, code: &str) -> ApiResult<bool> {
    Ok(state
        .db
        .ou_grant(&digest(code))
        .await?
        .is_some_and(|g| g.kind == "code"))
}

/// Exchanges a code, once, for tokens: only the application it was issued
/// to, with the same `redirect_uri`, before it expires.
#[tracing::instrument(skip_all, fields(app = %app.id))]
pub async fn exchange(
    state: &AppState,
    app: &Application,
    code: &str,
    redirect_uri: Option<&str>,
) -> ApiResult<Issued> {
    let now = state.now_ms();
    let g = state
        .db
        .ou_grant(&digest(code))
        .await?
        .filter(|g| {
            g.kind == "code"
                && !g.used
                && g.application_id == app.id
                && g.expires_ms.is_some_and(|e| e > now)
                && g.redirect_uri.as_deref() == redirect_uri
        })
        .ok_or(ApiError::OAuth("invalid_grant"))?;
    let ttl = state.cfg.access_token_ttl_secs;
    let access = new_secret();
    let refresh = new_secret();
    let rows = [
        grant("access", &access, app, Some(now + ttl * 1000), now),
        grant("refresh", &refresh, app, None, now),
    ];
    state
        .db
        .write(async |tx: &mut Tx| {
            tx.use_ou_code(&g.hash).await?;
            for r in &rows {
                tx.insert_ou_grant(r).await?;
            }
            Ok::<_, StoreError>(())
        })
        .await
        .map_err(|e| match e {
            StoreError::Conflict(_) => ApiError::OAuth("invalid_grant"),
            e => e.into(),
        })?;
    Ok(Issued {
        access_token: access,
        refresh_token: refresh,
        expires_in: ttl,
        organizational_unit_id: g.organizational_unit_id,
    })
}

/// A new access token for a unit's refresh token; `None` when `refresh`
/// is not one.
pub async fn refresh(
    state: &AppState,
    app: &Application,
    refresh: &str,
) -> ApiResult<Option<Issued>> {
    let Some(g) = state
        .db
        .ou_grant(&digest(refresh))
        .await?
        .filter(|g| g.kind == "refresh" && g.application_id == app.id)
    else {
        return Ok(None);
    };
    let now = state.now_ms();
    let ttl = state.cfg.access_token_ttl_secs;
    let access = new_secret();
    let row = grant("access", &access, app, Some(now + ttl * 1000), now);
    state
        .db
        .write(async |tx: &mut Tx| tx.insert_ou_grant(&row).await)
        .await?;
    Ok(Some(Issued {
        access_token: access,
        refresh_token: refresh.to_string(),
        expires_in: ttl,
        organizational_unit_id: g.organizational_unit_id,
    }))
}

/// The application a live unit access token was issued to.
pub async fn access(state: &AppState, token: &str) -> ApiResult<Option<Application>> {
    let now = state.now_ms();
    let Some(g) = state
        .db
        .ou_grant(&digest(token))
        .await?
        .filter(|g| g.kind == "access" && g.expires_ms.is_some_and(|e| e > now))
    else {
        return Ok(None);
    };
    Ok(state
        .db
        .application(&g.application_id)
        .await?
        .filter(|a| a.organizational_unit_id == g.organizational_unit_id))
}
