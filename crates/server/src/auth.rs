//! Who is calling. Two credentials exist (contract §1.3): an account's
//! access token, and an application's `client_secret` used as an API key.
//! An application may act as an account of its own Organizational Unit with
//! `Cronofy-Impersonate`. 401 = not recognised; 403 = recognised but not
//! allowed here.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use convene_store::{Account, Application};

use crate::AppState;
use crate::error::ApiError;
use crate::ids::digest;

pub const IMPERSONATE: &str = "cronofy-impersonate";

pub fn bearer(parts: &Parts) -> Option<&str> {
    bearer_in(&parts.headers)
}

pub fn bearer_in(headers: &axum::http::HeaderMap) -> Option<&str> {
    let v = headers
        .get(axum::http::header::AUTHORIZATION)?
        .to_str()
        .ok()?;
    let (scheme, token) = v.trim().split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("bearer") {
        return None;
    }
    let token = token.trim();
    // SDKs send these when they hold nothing; they mean "no token".
    if token.is_empty() || matches!(token, "undefined" | "None" | "null") {
        return None;
    }
    Some(token)
}

/// Resolves an account access token.
pub async fn account_for_token(
    state: &AppState,
    token: &str,
) -> Result<Option<(Account, Application)>, ApiError> {
    let Some(t) = state.db.token(&digest(token)).await? else {
        return Ok(None);
    };
    if t.kind != "access" || t.revoked || t.expires_ms.is_some_and(|e| e <= crate::now_ms()) {
        return Ok(None);
    }
    let (Some(acc), Some(app)) = (
        state.db.account(&t.account_id).await?,
        state.db.application(&t.application_id).await?,
    ) else {
        return Ok(None);
    };
    Ok(Some((acc, app)))
}

/// How long a recognised client secret is trusted without asking the
/// database again: the hot application endpoints (availability) then cost
/// no authentication query, and a retired secret stops working within it.
pub const SECRET_CACHE_TTL: Duration = Duration::from_secs(2);

/// Client secrets (by digest) this replica recognised lately.
pub type SecretCache = Arc<Mutex<HashMap<String, (Application, Instant)>>>;

pub async fn app_for_secret(
    state: &AppState,
    secret: &str,
) -> Result<Option<Application>, ApiError> {
    let d = digest(secret);
    if let Some((app, at)) = state
        .secrets
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .get(&d)
        && at.elapsed() < SECRET_CACHE_TTL
    {
        return Ok(Some(app.clone()));
    }
    let app = state.db.application_by_secret_hash(&d).await?;
    if let Some(a) = &app {
        let mut cache = state.secrets.lock().unwrap_or_else(|e| e.into_inner());
        // Unknown secrets are never cached, so the map only holds real ones.
        if cache.len() > 10_000 {
            cache.clear();
        }
        cache.insert(d, (a.clone(), Instant::now()));
    }
    Ok(app)
}

/// An account of the application's own Organizational Unit, or 403.
pub async fn impersonate(
    state: &AppState,
    app: &Application,
    sub: &str,
) -> Result<Account, ApiError> {
    match state.db.account(sub.trim()).await? {
        Some(acc) if acc.organizational_unit_id == app.organizational_unit_id => Ok(acc),
        _ => Err(ApiError::Forbidden(format!(
            "{sub} is not an account of this application's Organizational Unit"
        ))),
    }
}

/// Endpoints that act for one account (calendars, events, rules…).
#[derive(Clone, Debug)]
pub struct AccountAuth {
    pub account: Account,
    pub app: Application,
    /// True when an application credential impersonates the account.
    pub impersonated: bool,
}

impl FromRequestParts<AppState> for AccountAuth {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        if bearer(parts).is_none()
            && let Some(grant) = element_grant(parts, state).await?
        {
            return grant.as_account(parts, state).await;
        }
        let token = bearer(parts).ok_or(ApiError::Unauthorized("an access token is required"))?;
        if let Some((account, app)) = account_for_token(state, token).await? {
            return Ok(AccountAuth {
                account,
                app,
                impersonated: false,
            });
        }
        if let Some(app) = app_for_secret(state, token).await? {
            let sub = parts
                .headers
                .get(IMPERSONATE)
                .and_then(|v| v.to_str().ok())
                .ok_or_else(|| {
                    ApiError::Forbidden(
                        "an application credential needs a Cronofy-Impersonate header here".into(),
                    )
                })?;
            let account = impersonate(state, &app, sub).await?;
            return Ok(AccountAuth {
                account,
                app,
                impersonated: true,
            });
        }
        Err(ApiError::Unauthorized(
            "the access token is not recognised, expired or revoked",
        ))
    }
}

/// Endpoints of the application (templates, scheduling requests, its
/// webhook and delivery log): the application's `client_secret`, optionally
/// acting as an account of its Organizational Unit with
/// `Cronofy-Impersonate`. An account's token is recognised but not allowed
/// here (403): it would let one person manage the whole unit.
#[derive(Clone, Debug)]
pub struct AppAuth {
    pub app: Application,
    /// The impersonated account, if any.
    pub account: Option<Account>,
}

async fn app_secret_auth(
    parts: &Parts,
    state: &AppState,
    token: &str,
) -> Result<Option<AppAuth>, ApiError> {
    let Some(app) = app_for_secret(state, token).await? else {
        return Ok(None);
    };
    let account = match parts.headers.get(IMPERSONATE).and_then(|v| v.to_str().ok()) {
        Some(sub) => Some(impersonate(state, &app, sub).await?),
        None => None,
    };
    Ok(Some(AppAuth { app, account }))
}

impl FromRequestParts<AppState> for AppAuth {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let token = bearer(parts).ok_or(ApiError::Unauthorized("credentials are required"))?;
        if let Some(auth) = app_secret_auth(parts, state, token).await? {
            return Ok(auth);
        }
        if let Some(auth) = ou_token_auth(parts, state, token).await? {
            return Ok(auth);
        }
        if account_for_token(state, token).await?.is_some() {
            return Err(ApiError::Forbidden(
                "this endpoint needs the application's client_secret".into(),
            ));
        }
        Err(ApiError::Unauthorized("the credentials are not recognised"))
    }
}

/// Availability queries (contract §1.3): the application's `client_secret`,
/// or an account access token of the application (as the SDKs send).
#[derive(Clone, Debug)]
pub struct QueryAuth(pub AppAuth);

impl FromRequestParts<AppState> for QueryAuth {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        if bearer(parts).is_none()
            && let Some(grant) = element_grant(parts, state).await?
        {
            grant.require("availability")?;
            let app = grant.app.clone();
            // The handler checks the query's members against the token's subs.
            parts.extensions.insert(grant);
            return Ok(QueryAuth(AppAuth { app, account: None }));
        }
        let token = bearer(parts).ok_or(ApiError::Unauthorized("credentials are required"))?;
        if let Some(auth) = app_secret_auth(parts, state, token).await? {
            return Ok(QueryAuth(auth));
        }
        if let Some((account, app)) = account_for_token(state, token).await? {
            return Ok(QueryAuth(AppAuth {
                app,
                account: Some(account),
            }));
        }
        Err(ApiError::Unauthorized("the credentials are not recognised"))
    }
}

/// Body credentials (`client_id` + `client_secret`), which win over any
/// bearer token on the endpoints that accept them.
pub async fn body_client(
    state: &AppState,
    body: &serde_json::Value,
) -> Result<Application, ApiError> {
    let id = body.get("client_id").and_then(|v| v.as_str());
    let secret = body.get("client_secret").and_then(|v| v.as_str());
    let (Some(id), Some(secret)) = (id, secret) else {
        return Err(ApiError::Unauthorized(
            "client_id and client_secret are required",
        ));
    };
    match app_for_secret(state, secret).await? {
        Some(app) if app.id == id => Ok(app),
        _ => Err(ApiError::Unauthorized(
            "client_id and client_secret are not recognised",
        )),
    }
}

/// The application behind a call that may carry its credentials in the
/// body (`client_id` + `client_secret`: Ruby and C# send no Authorization
/// header for Real-Time Scheduling) or as the bearer `client_secret`.
/// Body credentials win over any bearer token (Node sends `Bearer undefined`).
pub async fn client_app(
    state: &AppState,
    headers: &axum::http::HeaderMap,
    body: &serde_json::Value,
) -> Result<Application, ApiError> {
    if body.get("client_secret").is_some() {
        return body_client(state, body).await;
    }
    let token = bearer_in(headers).ok_or(ApiError::Unauthorized("credentials are required"))?;
    if let Some(app) = app_for_secret(state, token).await? {
        return Ok(app);
    }
    if account_for_token(state, token).await?.is_some() {
        return Err(ApiError::Forbidden(
            "this endpoint needs the application's client_secret".into(),
        ));
    }
    Err(ApiError::Unauthorized("the credentials are not recognised"))
}

/// How long an element token lives (Cronofy's 64 minutes).
pub const ELEMENT_TOKEN_TTL_SECS: i64 = 64 * 60;

/// What an element token (`?et=`, sent by Cronofy's UI Elements from a
/// browser page) allows: some permissions, for some accounts, from one
/// origin. It is never an account's access token: only tokens issued by
/// `POST /v1/element_tokens` are looked up.
#[derive(Clone, Debug)]
pub struct ElementGrant {
    pub app: Application,
    pub permissions: Vec<String>,
    pub subs: Vec<String>,
}

/// `scheme://host[:port]`, lower-cased, without a trailing slash.
pub fn origin_of(s: &str) -> Option<String> {
    let u = reqwest::Url::parse(s.trim()).ok()?;
    if !matches!(u.scheme(), "http" | "https") {
        return None;
    }
    Some(u.origin().ascii_serialization())
}

/// The grant of the request's `et`, if it has one: 401 when the token is
/// unknown or expired, 403 when the page calling is not the token's origin.
pub async fn element_grant(
    parts: &Parts,
    state: &AppState,
) -> Result<Option<ElementGrant>, ApiError> {
    let q = crate::input::parse_form(parts.uri.query().unwrap_or("").as_bytes());
    let Some(et) = q.get("et").and_then(|v| v.as_str()) else {
        return Ok(None);
    };
    let bad = ApiError::Unauthorized("the element_token is not recognised or has expired");
    let Some(t) = state.db.element_token(&digest(et)).await? else {
        return Err(bad);
    };
    if t.expires_ms <= state.now_ms() {
        return Err(bad);
    }
    let origin = parts
        .headers
        .get(axum::http::header::ORIGIN)
        .and_then(|v| v.to_str().ok())
        .and_then(origin_of);
    if origin.as_deref() != Some(t.origin.as_str()) {
        return Err(ApiError::Forbidden(
            "this element_token was issued for another origin".into(),
        ));
    }
    let Some(app) = state.db.application(&t.application_id).await? else {
        return Err(bad);
    };
    Ok(Some(ElementGrant {
        app,
        permissions: serde_json::from_str(&t.permissions_json).unwrap_or_default(),
        subs: serde_json::from_str(&t.subs_json).unwrap_or_default(),
    }))
}

impl ElementGrant {
    pub fn require(&self, permission: &str) -> Result<(), ApiError> {
        if self.permissions.iter().any(|p| p == permission) {
            Ok(())
        } else {
            Err(ApiError::Forbidden(format!(
                "this element_token does not grant {permission}"
            )))
        }
    }

    /// Every member of the query must be one of the token's subs.
    pub fn allows_members<'a>(
        &self,
        mut subs: impl Iterator<Item = &'a String>,
    ) -> Result<(), ApiError> {
        match subs.find(|s| !self.subs.contains(s)) {
            None => Ok(()),
            Some(s) => Err(ApiError::Forbidden(format!(
                "this element_token does not cover {s}"
            ))),
        }
    }

    /// Acting as the token's one account: its availability rules need
    /// `managed_availability`; its userinfo any permission; nothing else
    /// takes an element token.
    async fn as_account(&self, parts: &Parts, state: &AppState) -> Result<AccountAuth, ApiError> {
        let path = parts.uri.path().trim_end_matches('/');
        if path.starts_with("/v1/availability_rules") {
            self.require("managed_availability")?;
        } else if path != "/v1/userinfo" {
            return Err(ApiError::Forbidden(
                "an element_token is not accepted here".into(),
            ));
        }
        let [sub] = self.subs.as_slice() else {
            return Err(ApiError::Forbidden(
                "this element_token does not name exactly one account".into(),
            ));
        };
        let account = impersonate(state, &self.app, sub).await?;
        Ok(AccountAuth {
            account,
            app: self.app.clone(),
            impersonated: false,
        })
    }
}

/// The element token's subs an availability handler must check the
/// query's members against (set by [`QueryAuth`]); `None` for every other
/// credential.
#[derive(Clone, Debug)]
pub struct ElementScope(pub Option<ElementGrant>);

impl FromRequestParts<AppState> for ElementScope {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &AppState) -> Result<Self, ApiError> {
        Ok(ElementScope(
            parts.extensions.get::<ElementGrant>().cloned(),
        ))
    }
}

impl ElementScope {
    pub fn check(&self, q: &crate::domain::availability::QuerySpec) -> Result<(), ApiError> {
        match &self.0 {
            None => Ok(()),
            Some(g) => g.allows_members(
                q.groups
                    .iter()
                    .flat_map(|g| g.members.iter().map(|m| &m.sub)),
            ),
        }
    }
}

/// An Organizational Unit token (scope `organizational_unit_scheduler`):
/// the scheduling request endpoints accept it for its unit; anywhere else
/// it is recognised but not allowed (403).
async fn ou_token_auth(
    parts: &Parts,
    state: &AppState,
    token: &str,
) -> Result<Option<AppAuth>, ApiError> {
    let Some(app) = crate::domain::ou_grants::access(state, token).await? else {
        return Ok(None);
    };
    if !parts.uri.path().starts_with("/v1/scheduling_requests") {
        return Err(ApiError::Forbidden(
            "an organizational_unit_scheduler token is only for scheduling requests".into(),
        ));
    }
    let account = match parts.headers.get(IMPERSONATE).and_then(|v| v.to_str().ok()) {
        Some(sub) => Some(impersonate(state, &app, sub).await?),
        None => None,
    };
    Ok(Some(AppAuth { app, account }))
}
