//! Connected calendars in the API: link tokens (to connect another
//! calendar to the same account through `/oauth/authorize`) and revoking
//! a profile (Cronofy's `revoke_profile`).

use axum::Json;
use axum::extract::{Path, State};
use convene_store::connected::Connection;
use serde::Serialize;
use utoipa::ToSchema;

use super::events::Accepted;
use super::openapi::Problems;
use crate::AppState;
use crate::auth::AccountAuth;
use crate::domain::connected::LINK_TOKEN_TTL_MS;
use crate::error::{ApiError, ApiResult};
use crate::ids::{digest, new_secret};

/// The provider a profile reports: its connection's, or Convene's own.
pub fn provider(c: Option<&Connection>) -> &'static str {
    match c.map(|c| c.provider_name.as_str()) {
        Some("caldav") => "caldav",
        Some("ics") => "ics",
        _ => "cronofy",
    }
}

#[derive(Serialize, ToSchema)]
pub struct LinkTokenBody {
    /// Pass as `link_token` to `/oauth/authorize`; valid for an hour.
    pub link_token: String,
}

/// Creates a link token.
///
/// With it, `/oauth/authorize?…&link_token=…` adds the calendar it
/// connects to this account instead of creating a new one.
#[utoipa::path(post, path = "/v1/link_tokens", tag = "accounts",
    security(("account_token" = [])),
    responses((status = 200, description = "The link token.", body = LinkTokenBody), Problems))]
#[tracing::instrument(skip_all, fields(account = %auth.account.id))]
pub async fn link_token(
    State(state): State<AppState>,
    auth: AccountAuth,
) -> ApiResult<Json<LinkTokenBody>> {
    let token = new_secret();
    let now = state.now_ms();
    state
        .db
        .insert_link_token(
            &digest(&token),
            &auth.account.id,
            &auth.app.id,
            now + LINK_TOKEN_TTL_MS,
            now,
        )
        .await?;
    Ok(Json(LinkTokenBody { link_token: token }))
}

/// Disconnects a connected profile.
///
/// Its calendars are no longer read and their events stop counting; its
/// calendars show `calendar_deleted`.
#[utoipa::path(post, path = "/v1/profiles/{profile_id}/revoke", tag = "accounts",
    security(("account_token" = [])),
    params(("profile_id" = String, Path, description = "A profile of the account.")),
    responses((status = 202, description = "Revoked.", body = Accepted), Problems))]
#[tracing::instrument(skip_all, fields(account = %auth.account.id))]
pub async fn revoke_profile(
    State(state): State<AppState>,
    auth: AccountAuth,
    Path(profile_id): Path<String>,
) -> ApiResult<(axum::http::StatusCode, Json<Accepted>)> {
    let conn = state
        .db
        .connection(&profile_id)
        .await?
        .filter(|c| c.account_id == auth.account.id)
        .ok_or_else(|| ApiError::not_found("profile"))?;
    state
        .db
        .revoke_connection(&conn.profile_id, state.now_ms())
        .await?;
    Ok((axum::http::StatusCode::ACCEPTED, Json(Accepted {})))
}

pub fn routes() -> utoipa_axum::router::OpenApiRouter<AppState> {
    use utoipa_axum::routes;
    utoipa_axum::router::OpenApiRouter::new()
        .routes(routes!(link_token))
        .routes(routes!(revoke_profile))
}
