//! Application calendars and the OAuth token endpoints (contract §2).

use axum::extract::State;
use axum::http::HeaderValue;
use axum::response::{IntoResponse, Response};
use convene_store::queries_support::NewAccount;
use convene_store::{Account, Application};
use serde_json::{Value, json};

use crate::auth::body_client;
use crate::error::{ApiError, ApiResult};
use crate::http::Body;
use crate::ids::{digest, new_id, new_secret};
use crate::input::{Errors, F};
use crate::{AppState, now_ms};

/// Issues an access token (and, when `refresh` is `None`, a new refresh
/// token) and renders Cronofy's token response.
async fn token_response(
    state: &AppState,
    app: &Application,
    account: &Account,
    refresh: Option<String>,
) -> ApiResult<Response> {
    let now = now_ms();
    let access = new_secret();
    let ttl = state.cfg.access_token_ttl_secs;
    state
        .db
        .insert_token(
            &digest(&access),
            "access",
            &account.id,
            &app.id,
            Some(now + ttl * 1000),
            now,
        )
        .await?;
    let refresh = match refresh {
        Some(r) => r,
        None => {
            let r = new_secret();
            state
                .db
                .insert_token(&digest(&r), "refresh", &account.id, &app.id, None, now)
                .await?;
            r
        }
    };
    let profile = state.db.profiles(&account.id).await?.into_iter().next();
    let mut body = json!({
        "token_type": "bearer",
        "access_token": access,
        "expires_in": ttl,
        "refresh_token": refresh,
        "scope": "read_write",
        "sub": account.id,
        "account_id": account.id,
    });
    if let Some(apc) = &account.application_calendar_id {
        body["application_calendar_id"] = json!(apc);
    }
    if let Some(p) = profile {
        body["linking_profile"] =
            json!({"provider_name": "cronofy", "profile_id": p.id, "profile_name": p.name});
    }
    let mut resp = axum::Json(body).into_response();
    resp.headers_mut()
        .insert("cache-control", HeaderValue::from_static("no-store"));
    resp.headers_mut()
        .insert("pragma", HeaderValue::from_static("no-cache"));
    Ok(resp)
}

/// `POST /v1/application_calendars`: the way applications create the
/// people who are scheduled. The same id returns the same account.
#[tracing::instrument(skip_all)]
pub async fn application_calendar(
    State(state): State<AppState>,
    Body(body): Body,
) -> ApiResult<Response> {
    let app = body_client(&state, &body).await?;
    let mut errs = Errors::new();
    let root = F::root(&body);
    let apc = root.get("application_calendar_id").req_str(&mut errs);
    if let Some(id) = &apc
        && (id.len() > 256 || !id.is_ascii())
    {
        errs.add(
            "application_calendar_id",
            "invalid",
            "application_calendar_id must be ASCII, at most 256 characters",
        );
    }
    errs.finish()?;
    let apc = apc.unwrap_or_default();
    let id = new_id("apc");
    let new = NewAccount {
        account: Account {
            id: id.clone(),
            application_id: app.id.clone(),
            application_calendar_id: Some(apc.clone()),
            email: format!("{apc}@{}.calendars.convene", app.id),
            name: apc.clone(),
            default_tzid: "Etc/UTC".into(),
            last_booked_ms: None,
            organizational_unit_id: app.organizational_unit_id.clone(),
            availability_version: 0,
        },
        profile_id: new_id("pro"),
        profile_name: format!("{apc} (Convene)"),
        calendar_id: new_id("cal"),
        calendar_name: apc.clone(),
        created_ms: now_ms(),
    };
    let account = state.db.ensure_application_calendar(&new).await?;
    token_response(&state, &app, &account, None).await
}

/// `POST /oauth/token` with `grant_type=refresh_token`.
#[tracing::instrument(skip_all)]
pub async fn token(State(state): State<AppState>, Body(body): Body) -> ApiResult<Response> {
    let app = body_client(&state, &body).await?;
    match body.get("grant_type").and_then(Value::as_str) {
        Some("refresh_token") => {}
        Some("authorization_code") => return Err(ApiError::OAuth("invalid_grant")),
        _ => return Err(ApiError::OAuth("unsupported_grant_type")),
    }
    let Some(refresh) = body
        .get("refresh_token")
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
    else {
        return Err(ApiError::OAuth("invalid_request"));
    };
    let tok = state.db.token(&digest(refresh)).await?;
    let Some(tok) = tok.filter(|t| t.kind == "refresh" && !t.revoked && t.application_id == app.id)
    else {
        return Err(ApiError::OAuth("invalid_grant"));
    };
    let account = state
        .db
        .account(&tok.account_id)
        .await?
        .ok_or(ApiError::OAuth("invalid_grant"))?;
    token_response(&state, &app, &account, Some(refresh.to_string())).await
}

/// `POST /oauth/token/revoke` with `token` (access or refresh) or `sub`:
/// revokes every token of that account for this application.
#[tracing::instrument(skip_all)]
pub async fn revoke(State(state): State<AppState>, Body(body): Body) -> ApiResult<Response> {
    let app = body_client(&state, &body).await?;
    let account_id = if let Some(t) = body
        .get("token")
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
    {
        state
            .db
            .token(&digest(t))
            .await?
            .filter(|t| t.application_id == app.id)
            .map(|t| t.account_id)
    } else if let Some(sub) = body.get("sub").and_then(Value::as_str) {
        state
            .db
            .account(sub)
            .await?
            .filter(|a| a.application_id == app.id)
            .map(|a| a.id)
    } else {
        return Err(ApiError::field(
            "token",
            "required",
            "token or sub is required",
        ));
    };
    // RFC 7009: an unknown token is not an error.
    if let Some(id) = account_id {
        state.db.revoke_account_tokens(&id, &app.id).await?;
    }
    Ok(super::ok(json!({})))
}

/// This module's routes. Not yet documented ones are added with `.route`
/// (they are missing from `/openapi.json` until they get a
/// `#[utoipa::path]` and move to `.routes(routes!(…))`).
pub fn routes() -> utoipa_axum::router::OpenApiRouter<crate::AppState> {
    #[allow(unused_imports)]
    use axum::routing::post;
    utoipa_axum::router::OpenApiRouter::new()
        .route("/oauth/token", post(token))
        .route("/oauth/token/revoke", post(revoke))
        .route("/v1/application_calendars", post(application_calendar))
}
