//! `GET/POST /v1/calendars` (contract §7.1).

use axum::Json;
use axum::extract::State;
use convene_store::{Calendar, StoreError};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::openapi::Problems;
use crate::auth::AccountAuth;
use crate::error::{ApiError, ApiResult};
use crate::http::Body;
use crate::ids::new_id;
use crate::input::{Errors, F};
use crate::{AppState, now_ms};

/// One calendar of an account (the representation of
/// `super::accounts::calendar_json`, which `userinfo` still builds).
#[derive(Serialize, ToSchema)]
pub struct CalendarInfo {
    pub provider_name: &'static str,
    pub profile_id: String,
    pub profile_name: String,
    pub calendar_id: String,
    pub calendar_name: String,
    pub calendar_readonly: bool,
    pub calendar_deleted: bool,
    pub calendar_primary: bool,
    pub calendar_integrated_conferencing_available: bool,
    pub calendar_attachments_available: bool,
    pub permission_level: &'static str,
    /// `#RRGGBB`.
    pub calendar_color: String,
}

impl CalendarInfo {
    pub fn new(c: &Calendar, profile_name: &str) -> Self {
        CalendarInfo {
            provider_name: "cronofy",
            profile_id: c.profile_id.clone(),
            profile_name: profile_name.to_string(),
            calendar_id: c.id.clone(),
            calendar_name: c.name.clone(),
            calendar_readonly: false,
            calendar_deleted: false,
            calendar_primary: c.is_primary,
            calendar_integrated_conferencing_available: false,
            calendar_attachments_available: false,
            permission_level: "unrestricted",
            calendar_color: c.color.clone().unwrap_or_else(|| "#49BED8".into()),
        }
    }
}

/// `GET /v1/calendars`.
#[derive(Serialize, ToSchema)]
pub struct CalendarsBody {
    /// The account id.
    pub sub: String,
    pub calendars: Vec<CalendarInfo>,
}

/// `POST /v1/calendars`.
#[derive(Serialize, ToSchema)]
pub struct CalendarBody {
    pub calendar: CalendarInfo,
}

/// What `POST /v1/calendars` reads.
#[allow(dead_code)] // documentation: the handler walks the body with `F`
#[derive(Deserialize, ToSchema)]
pub struct CreateCalendar {
    /// A profile of the account (`GET /v1/profiles`).
    #[schema(min_length = 1)]
    pub profile_id: String,
    /// Unique among the account's calendars.
    #[schema(min_length = 1, max_length = 256)]
    pub name: String,
    #[schema(example = "#49BED8")]
    pub color: Option<String>,
}

/// The account's calendars.
///
/// Every calendar of every profile of the account (contract §7.1).
#[utoipa::path(get, path = "/v1/calendars", tag = "calendars",
    security(("account_token" = []), ("client_secret" = [])),
    responses((status = 200, description = "The calendars.", body = CalendarsBody), Problems))]
#[tracing::instrument(skip_all, fields(account = %auth.account.id))]
pub async fn list(
    State(state): State<AppState>,
    auth: AccountAuth,
) -> ApiResult<Json<CalendarsBody>> {
    let profiles = state.db.profiles(&auth.account.id).await?;
    let connections = state.db.connections(&auth.account.id).await?;
    let remote = state.db.provider_calendars(&auth.account.id).await?;
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
            let mut info = CalendarInfo::new(c, pname);
            if let Some(r) = remote.iter().find(|r| r.calendar_id == c.id) {
                let conn = connections.iter().find(|x| x.profile_id == r.profile_id);
                info.provider_name = super::connected::provider(conn);
                info.calendar_readonly = r.readonly;
                info.calendar_deleted = r.deleted || conn.is_some_and(|x| !x.connected);
                info.permission_level = if r.readonly {
                    "read_only"
                } else {
                    "unrestricted"
                };
            }
            info
        })
        .collect();
    Ok(Json(CalendarsBody {
        sub: auth.account.id.clone(),
        calendars: cals,
    }))
}

/// Creates a calendar in one of the account's profiles.
///
/// A name already used by another calendar of the account is refused (422
/// `duplicate_calendar_name`).
#[utoipa::path(post, path = "/v1/calendars", tag = "calendars",
    security(("account_token" = []), ("client_secret" = [])),
    request_body(content((CreateCalendar = "application/json"), (CreateCalendar = "application/x-www-form-urlencoded"))),
    responses((status = 200, description = "The new calendar.", body = CalendarBody), Problems))]
#[tracing::instrument(skip_all, fields(account = %auth.account.id))]
pub async fn create(
    State(state): State<AppState>,
    auth: AccountAuth,
    Body(body): Body,
) -> ApiResult<Json<CalendarBody>> {
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
        Ok(()) => Ok(Json(CalendarBody {
            calendar: CalendarInfo::new(&cal, &profile.name),
        })),
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

pub fn routes() -> utoipa_axum::router::OpenApiRouter<crate::AppState> {
    use utoipa_axum::routes;
    utoipa_axum::router::OpenApiRouter::new().routes(routes!(list, create))
}
