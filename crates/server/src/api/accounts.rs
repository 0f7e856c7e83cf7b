//! `userinfo`, `account`, `profiles` (contract §7.6).

use axum::Json;
use axum::extract::State;
use axum::response::Response;
use serde::Serialize;
use serde_json::{Value, json};
use utoipa::ToSchema;

use super::openapi::Problems;

use crate::AppState;
use crate::auth::AccountAuth;
use crate::domain::connected;
use crate::error::ApiResult;

pub fn calendar_json(c: &convene_store::Calendar, profile_name: &str) -> Value {
    json!({
        "provider_name": "cronofy",
        "profile_id": c.profile_id,
        "profile_name": profile_name,
        "calendar_id": c.id,
        "calendar_name": c.name,
        "calendar_readonly": false,
        "calendar_deleted": false,
        "calendar_primary": c.is_primary,
        "calendar_integrated_conferencing_available": false,
        "calendar_attachments_available": false,
        "permission_level": "unrestricted",
        "calendar_color": c.color.clone().unwrap_or_else(|| "#49BED8".into()),
    })
}

/// The account behind the token, with its profiles and calendars (OpenID
/// Connect userinfo with Cronofy's extensions). The representation is
/// Cronofy's, kept as JSON: see contract §7.6.
#[utoipa::path(get, path = "/v1/userinfo", tag = "accounts",
    security(("account_token" = [])),
    responses((status = 200, body = Object, description = "sub, email, name, zoneinfo, cronofy.type, cronofy.data"), Problems))]
#[tracing::instrument(skip_all, fields(account = %auth.account.id))]
pub async fn userinfo(State(state): State<AppState>, auth: AccountAuth) -> ApiResult<Response> {
    let acc = &auth.account;
    let profiles = state.db.profiles(&acc.id).await?;
    let calendars = state.db.calendars(&acc.id).await?;
    let connections = state.db.connections(&acc.id).await?;
    let profiles: Vec<Value> = profiles
        .iter()
        .map(|p| {
            let c = connections.iter().find(|c| c.profile_id == p.id);
            let cals: Vec<Value> = calendars
                .iter()
                .filter(|c| c.profile_id == p.id)
                .map(|c| calendar_json(c, &p.name))
                .collect();
            json!({
                "provider_name": super::connected::provider(c),
                "profile_id": p.id,
                "profile_name": p.name,
                "profile_connected": c.is_none_or(|c| c.connected),
                "profile_calendars": cals,
            })
        })
        .collect();
    Ok(super::ok(json!({
        "sub": acc.id,
        "email": acc.email,
        "name": acc.name,
        "zoneinfo": acc.default_tzid,
        "cronofy.type": if acc.application_calendar_id.is_some() { "application_calendar" } else { "account" },
        "cronofy.data": {
            "authorization": {"scope": "read_write", "status": "active"},
            "profiles": profiles,
        },
    })))
}

/// The account behind the token (`GET /v1/account`).
#[derive(Serialize, ToSchema)]
pub struct AccountBody {
    pub account: AccountInfo,
}

#[derive(Serialize, ToSchema)]
pub struct AccountInfo {
    pub account_id: String,
    pub email: String,
    pub name: String,
    pub scope: &'static str,
    pub default_tzid: String,
}

/// The account behind the token.
#[utoipa::path(get, path = "/v1/account", tag = "accounts",
    security(("account_token" = [])),
    responses((status = 200, description = "The account.", body = AccountBody), Problems))]
#[tracing::instrument(skip_all, fields(account = %auth.account.id))]
pub async fn account(auth: AccountAuth) -> ApiResult<Json<AccountBody>> {
    let a = auth.account;
    Ok(Json(AccountBody {
        account: AccountInfo {
            account_id: a.id,
            email: a.email,
            name: a.name,
            scope: "read_write",
            default_tzid: a.default_tzid,
        },
    }))
}

/// One calendar profile of the account.
#[derive(Serialize, ToSchema)]
pub struct ProfileInfo {
    pub provider_name: &'static str,
    pub provider_service: &'static str,
    pub profile_id: String,
    pub profile_name: String,
    pub profile_connected: bool,
    /// True until a connected calendar's first sync completed.
    pub profile_initial_sync_required: bool,
    /// Only while `profile_connected` is false: the page where the person
    /// authorizes the profile again (its server and username filled in).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub profile_relink_url: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct ProfilesBody {
    pub profiles: Vec<ProfileInfo>,
}

/// The account's calendar profiles.
#[utoipa::path(get, path = "/v1/profiles", tag = "accounts",
    security(("account_token" = [])),
    responses((status = 200, description = "The profiles.", body = ProfilesBody), Problems))]
#[tracing::instrument(skip_all, fields(account = %auth.account.id))]
pub async fn profiles(
    State(state): State<AppState>,
    auth: AccountAuth,
) -> ApiResult<Json<ProfilesBody>> {
    let connections = state.db.connections(&auth.account.id).await?;
    let app_id = &auth.account.application_id;
    let redirect_uris = if connections.iter().any(|c| !c.connected) {
        state.db.redirect_uris(app_id).await?
    } else {
        Vec::new()
    };
    let profiles = state
        .db
        .profiles(&auth.account.id)
        .await?
        .into_iter()
        .map(|p| {
            let c = connections.iter().find(|c| c.profile_id == p.id);
            let provider = super::connected::provider(c);
            ProfileInfo {
                provider_name: provider,
                provider_service: provider,
                profile_id: p.id,
                profile_name: p.name,
                profile_connected: c.is_none_or(|c| c.connected),
                profile_initial_sync_required: c.is_some_and(|c| c.initial_sync_required),
                profile_relink_url: c
                    .and_then(|c| connected::relink_url(&state.cfg, app_id, c, &redirect_uris)),
            }
        })
        .collect();
    Ok(Json(ProfilesBody { profiles }))
}

pub fn routes() -> utoipa_axum::router::OpenApiRouter<AppState> {
    use utoipa_axum::routes;
    utoipa_axum::router::OpenApiRouter::new()
        .routes(routes!(userinfo))
        .routes(routes!(account))
        .routes(routes!(profiles))
}
