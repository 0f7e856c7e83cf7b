//! `GET/POST /v1/calendars` (contract §7.1).

use axum::extract::State;
use axum::response::Response;
use convene_store::{Calendar, StoreError};
use serde_json::json;

use super::accounts::calendar_json;
use crate::auth::AccountAuth;
use crate::error::{ApiError, ApiResult};
use crate::http::Body;
use crate::ids::new_id;
use crate::input::{Errors, F};
use crate::{AppState, now_ms};

#[tracing::instrument(skip_all, fields(account = %auth.account.id))]
pub async fn list(State(state): State<AppState>, auth: AccountAuth) -> ApiResult<Response> {
    let profiles = state.db.profiles(&auth.account.id).await?;
    let cals: Vec<_> = state
        .db
        .calendars(&auth.account.id)
        .await?
        .iter()
        .map(|c| {
            let pname = profiles
                .iter()
                .find(|p| p.id == c.profile_id)
                .map(|p| p.name.as_str())
                .unwrap_or("");
            calendar_json(c, pname)
        })
        .collect();
    Ok(super::ok(
        json!({ "sub": auth.account.id, "calendars": cals }),
    ))
}

#[tracing::instrument(skip_all, fields(account = %auth.account.id))]
pub async fn create(
    State(state): State<AppState>,
    auth: AccountAuth,
    Body(body): Body,
) -> ApiResult<Response> {
    let root = F::root(&body);
    let mut errs = Errors::new();
    let profile_id = root.get("profile_id").req_str(&mut errs);
    let name = root.get("name").req_str(&mut errs);
    let color = root.get("color").str(&mut errs);
    if name.as_ref().is_some_and(|n| n.chars().count() > 256) {
        errs.add("name", "too_long", "name must be at most 256 characters");
    }
    errs.finish()?;
    let (profile_id, name) = (profile_id.unwrap_or_default(), name.unwrap_or_default());
    let profiles = state.db.profiles(&auth.account.id).await?;
    let Some(profile) = profiles.iter().find(|p| p.id == profile_id) else {
        return Err(ApiError::field(
            "profile_id",
            "not_found",
            "profile_id is not a profile of this account",
        ));
    };
    let cal = Calendar {
        id: new_id("cal"),
        account_id: auth.account.id.clone(),
        profile_id: profile.id.clone(),
        name,
        color,
        is_primary: false,
    };
    match state.db.create_calendar(&cal, now_ms()).await {
        Ok(()) => Ok(super::ok(
            json!({ "calendar": calendar_json(&cal, &profile.name) }),
        )),
        Err(StoreError::Conflict(_)) => Err(ApiError::field(
            "name",
            "duplicate_calendar_name",
            "a calendar with that name already exists",
        )),
        Err(e) => Err(e.into()),
    }
}

/// The calendar if it belongs to the account; 404 otherwise, so other
/// accounts' calendars are indistinguishable from missing ones.
pub async fn owned(state: &AppState, auth: &AccountAuth, calendar_id: &str) -> ApiResult<Calendar> {
    match state.db.calendar(calendar_id).await? {
        Some(c) if c.account_id == auth.account.id => Ok(c),
        _ => Err(ApiError::not_found(format!(
            "calendar {calendar_id} not found"
        ))),
    }
}

/// This module's routes. Not yet documented ones are added with `.route`
/// (they are missing from `/openapi.json` until they get a
/// `#[utoipa::path]` and move to `.routes(routes!(…))`).
pub fn routes() -> utoipa_axum::router::OpenApiRouter<crate::AppState> {
    #[allow(unused_imports)]
    use axum::routing::{get, post};
    utoipa_axum::router::OpenApiRouter::new().route("/v1/calendars", get(list).post(create))
}
