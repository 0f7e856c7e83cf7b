//! Application calendars and the OAuth token endpoints (contract §2).

use axum::Json;
use axum::extract::State;
use axum::http::header::{CACHE_CONTROL, PRAGMA};
use convene_store::queries_support::NewAccount;
use convene_store::{Account, Application};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

use super::events::Accepted;
use super::openapi::{Errors as ErrorsBody, Message, Problems};

use crate::auth::body_client;
use crate::error::{ApiError, ApiResult};
use crate::http::Body;
use crate::ids::{digest, new_id, new_secret};
use crate::input::{Errors, F};
use crate::{AppState, now_ms};

/// Cronofy's token response (RFC 6749 §5.1 with Cronofy's extensions).
#[derive(Serialize, ToSchema)]
pub struct TokenBody {
    pub token_type: &'static str,
    pub access_token: String,
    /// Seconds.
    pub expires_in: i64,
    pub refresh_token: String,
    pub scope: &'static str,
    /// The account id.
    pub sub: String,
    pub account_id: String,
    /// For an application calendar: the application's id for it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub application_calendar_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub linking_profile: Option<LinkingProfile>,
}

#[derive(Serialize, ToSchema)]
pub struct LinkingProfile {
    pub provider_name: &'static str,
    pub profile_id: String,
    pub profile_name: String,
}

/// The token response, never cached (RFC 6749 §5.1).
type TokenResponse = ([(axum::http::HeaderName, &'static str); 2], Json<TokenBody>);

/// A 400 of `/oauth/token`: an RFC 6749 error (`{"error": "invalid_grant"}`),
/// or a body that is not an object.
#[allow(dead_code)] // documentation only
#[derive(Serialize, ToSchema)]
#[serde(untagged)]
pub enum OAuthProblem {
    OAuth(Message),
    Malformed(ErrorsBody),
}

/// What `POST /v1/application_calendars` reads.
#[allow(dead_code)] // documentation: the handler walks the body with `F`
#[derive(Deserialize, ToSchema)]
pub struct ApplicationCalendarRequest {
    pub client_id: String,
    pub client_secret: String,
    /// The application's own id for the person; the same id answers the
    /// same account. ASCII.
    #[schema(min_length = 1, max_length = 256)]
    pub application_calendar_id: String,
}

/// What `POST /oauth/token` reads.
#[allow(dead_code)] // documentation: the handler reads the body as given
#[derive(Deserialize, ToSchema)]
pub struct TokenRequest {
    pub client_id: String,
    pub client_secret: String,
    /// `refresh_token`, or `authorization_code` with `code` and
    /// `redirect_uri` from `/oauth/authorize`.
    #[schema(example = "refresh_token")]
    pub grant_type: String,
    pub refresh_token: Option<String>,
    /// With `authorization_code`: the code the authorize page redirected
    /// with (a connected calendar's, or an Organizational Unit's).
    pub code: Option<String>,
    pub redirect_uri: Option<String>,
}

/// What `POST /oauth/token/revoke` reads.
#[allow(dead_code)] // documentation: the handler reads the body as given
#[derive(Deserialize, ToSchema)]
pub struct RevokeRequest {
    pub client_id: String,
    pub client_secret: String,
    /// An access or refresh token of the account.
    pub token: Option<String>,
    /// The account id, instead of `token`.
    pub sub: Option<String>,
}

/// Issues an access token (and, when `refresh` is `None`, a new refresh
/// token) and renders Cronofy's token response.
async fn token_response(
    state: &AppState,
    app: &Application,
    account: &Account,
    refresh: Option<String>,
) -> ApiResult<TokenResponse> {
    token_response_linking(state, app, account, refresh, None).await
}

/// The token response, naming `linking` as the profile just linked (an
/// authorization code's) instead of the account's first.
async fn token_response_linking(
    state: &AppState,
    app: &Application,
    account: &Account,
    refresh: Option<String>,
    linking: Option<LinkingProfile>,
) -> ApiResult<TokenResponse> {
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
    let body = TokenBody {
        token_type: "bearer",
        access_token: access,
        expires_in: ttl,
        refresh_token: refresh,
        scope: "read_write",
        sub: account.id.clone(),
        account_id: account.id.clone(),
        application_calendar_id: account.application_calendar_id.clone(),
        linking_profile: linking.or(profile.map(|p| LinkingProfile {
            provider_name: "cronofy",
            profile_id: p.id,
            profile_name: p.name,
        })),
    };
    Ok((
        [(CACHE_CONTROL, "no-store"), (PRAGMA, "no-cache")],
        Json(body),
    ))
}

/// Creates (or finds) an application calendar and issues its tokens.
///
/// The way applications create the people who are scheduled: the same
/// `application_calendar_id` answers the same account. Authorized by the
/// `client_id` and `client_secret` in the body.
#[utoipa::path(post, path = "/v1/application_calendars", tag = "oauth",
    security(()),
    request_body(content((ApplicationCalendarRequest = "application/json"), (ApplicationCalendarRequest = "application/x-www-form-urlencoded"))),
    responses((status = 200, description = "Tokens for the application calendar's account.", body = TokenBody), Problems))]
#[tracing::instrument(skip_all)]
pub async fn application_calendar(
    State(state): State<AppState>,
    Body(body): Body,
) -> ApiResult<TokenResponse> {
    let app = body_client(&state, &body).await?;
    let mut errs = Errors::new();
    let root = F::root(&body);
    let apc = root.get("application_calendar_id").req_str(&mut errs);
    if let Some(id) = &apc
        && (id.len() > 256
            || !id.is_ascii()
            || id.trim().is_empty()
            || id.chars().any(|c| c.is_ascii_control()))
    {
        errs.add(
            "application_calendar_id",
            "invalid",
            "application_calendar_id must be printable ASCII, not blank, at most 256 characters",
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

/// Refreshes an access token.
///
/// `grant_type=refresh_token` with the refresh token; authorized by the
/// `client_id` and `client_secret` in the body. RFC 6749 errors are 400
/// `{"error": …}`.
#[utoipa::path(post, path = "/oauth/token", tag = "oauth",
    security(()),
    request_body(content((TokenRequest = "application/json"), (TokenRequest = "application/x-www-form-urlencoded"))),
    responses((status = 200, description = "A new access token.", body = TokenBody), Problems,
        (status = 400, description = "An RFC 6749 error, or a body that is not an object.", body = OAuthProblem)))]
#[tracing::instrument(skip_all)]
pub async fn token(State(state): State<AppState>, Body(body): Body) -> ApiResult<TokenResponse> {
    let app = body_client(&state, &body).await?;
    match body.get("grant_type").and_then(Value::as_str) {
        Some("refresh_token") => {}
        Some("authorization_code") => {
            // Unit codes and calendar codes come from the same page.
            let code = body.get("code").and_then(Value::as_str).unwrap_or("");
            if !code.is_empty() && crate::domain::ou_grants::is_code(&state, code).await? {
                return ou_code_exchange(&state, &app, &body).await;
            }
            return authorization_code(&state, &app, &body).await;
        }
        _ => return Err(ApiError::OAuth("unsupported_grant_type")),
    }
    let Some(refresh) = body
        .get("refresh_token")
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
    else {
        return Err(ApiError::OAuth("invalid_request"));
    };
    if let Some(issued) = crate::domain::ou_grants::refresh(&state, &app, refresh).await? {
        return Ok(ou_token_response(issued));
    }
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

/// `grant_type=authorization_code`: a code from `/oauth/authorize`, used
/// once, within ten minutes, with the same `redirect_uri`.
async fn authorization_code(
    state: &AppState,
    app: &Application,
    body: &Value,
) -> ApiResult<TokenResponse> {
    let field = |k: &str| body.get(k).and_then(Value::as_str).unwrap_or("");
    if field("code").is_empty() {
        return Err(ApiError::OAuth("invalid_request"));
    }
    let grant = state
        .db
        .consume_code(
            &digest(field("code")),
            &app.id,
            field("redirect_uri"),
            state.now_ms(),
        )
        .await?
        .ok_or(ApiError::OAuth("invalid_grant"))?;
    let account = state
        .db
        .account(&grant.account_id)
        .await?
        .ok_or(ApiError::OAuth("invalid_grant"))?;
    let conn = state.db.connection(&grant.profile_id).await?;
    let name = state
        .db
        .profiles(&account.id)
        .await?
        .into_iter()
        .find(|p| p.id == grant.profile_id)
        .map(|p| p.name)
        .unwrap_or_default();
    let linking = LinkingProfile {
        provider_name: super::connected::provider(conn.as_ref()),
        profile_id: grant.profile_id,
        profile_name: name,
    };
    token_response_linking(state, app, &account, None, Some(linking)).await
}

/// Revokes an account's tokens.
///
/// With `token` (access or refresh) or `sub`: every token of that account
/// for this application. An unknown token is not an error (RFC 7009).
#[utoipa::path(post, path = "/oauth/token/revoke", tag = "oauth",
    security(()),
    request_body(content((RevokeRequest = "application/json"), (RevokeRequest = "application/x-www-form-urlencoded"))),
    responses((status = 200, description = "Revoked (or nothing to revoke).", body = Accepted), Problems))]
#[tracing::instrument(skip_all)]
pub async fn revoke(State(state): State<AppState>, Body(body): Body) -> ApiResult<Json<Accepted>> {
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
    Ok(Json(Accepted {}))
}

pub fn routes() -> utoipa_axum::router::OpenApiRouter<crate::AppState> {
    use utoipa_axum::routes;
    utoipa_axum::router::OpenApiRouter::new()
        .routes(routes!(token))
        .routes(routes!(revoke))
        .routes(routes!(application_calendar))
}

/// `grant_type: authorization_code` with an Organizational Unit code (from
/// `/oauth/authorize?scope=organizational_unit_scheduler`): a unit token.
async fn ou_code_exchange(
    state: &AppState,
    app: &Application,
    body: &Value,
) -> ApiResult<TokenResponse> {
    let code = body.get("code").and_then(Value::as_str).unwrap_or("");
    if code.is_empty() || !crate::domain::ou_grants::is_code(state, code).await? {
        return Err(ApiError::OAuth("invalid_grant"));
    }
    let redirect_uri = body.get("redirect_uri").and_then(Value::as_str);
    let issued = crate::domain::ou_grants::exchange(state, app, code, redirect_uri).await?;
    Ok(ou_token_response(issued))
}

/// A unit token names the unit where an account token names the account.
fn ou_token_response(issued: crate::domain::ou_grants::Issued) -> TokenResponse {
    (
        [(CACHE_CONTROL, "no-store"), (PRAGMA, "no-cache")],
        Json(TokenBody {
            token_type: "bearer",
            access_token: issued.access_token,
            expires_in: issued.expires_in,
            refresh_token: issued.refresh_token,
            scope: crate::domain::ou_grants::SCOPE,
            sub: issued.organizational_unit_id.clone(),
            account_id: issued.organizational_unit_id,
            application_calendar_id: None,
            linking_profile: None,
        }),
    )
}
