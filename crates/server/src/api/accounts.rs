//! `userinfo`, `account`, `profiles` (contract §7.6).

use axum::extract::State;
use axum::response::Response;
use serde_json::{Value, json};

use crate::AppState;
use crate::auth::AccountAuth;
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

#[tracing::instrument(skip_all, fields(account = %auth.account.id))]
pub async fn userinfo(State(state): State<AppState>, auth: AccountAuth) -> ApiResult<Response> {
    let acc = &auth.account;
    let profiles = state.db.profiles(&acc.id).await?;
    let calendars = state.db.calendars(&acc.id).await?;
    let profiles: Vec<Value> = profiles
        .iter()
        .map(|p| {
            let cals: Vec<Value> = calendars
                .iter()
                .filter(|c| c.profile_id == p.id)
                .map(|c| calendar_json(c, &p.name))
                .collect();
            json!({
                "provider_name": "cronofy",
                "profile_id": p.id,
                "profile_name": p.name,
                "profile_connected": true,
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

#[tracing::instrument(skip_all, fields(account = %auth.account.id))]
pub async fn account(auth: AccountAuth) -> ApiResult<Response> {
    let a = &auth.account;
    Ok(super::ok(json!({"account": {
        "account_id": a.id,
        "email": a.email,
        "name": a.name,
        "scope": "read_write",
        "default_tzid": a.default_tzid,
    }})))
}

#[tracing::instrument(skip_all, fields(account = %auth.account.id))]
pub async fn profiles(State(state): State<AppState>, auth: AccountAuth) -> ApiResult<Response> {
    let profiles: Vec<Value> = state
        .db
        .profiles(&auth.account.id)
        .await?
        .into_iter()
        .map(|p| {
            json!({
                "provider_name": "cronofy",
                "provider_service": "cronofy",
                "profile_id": p.id,
                "profile_name": p.name,
                "profile_connected": true,
            })
        })
        .collect();
    Ok(super::ok(json!({ "profiles": profiles })))
}
