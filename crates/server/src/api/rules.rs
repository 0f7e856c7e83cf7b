//! Availability rules: weekly periods in a zone (contract §8.1).

use axum::Json;
use axum::extract::{Path, State};
use axum::response::Response;
use convene_store::Rule;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use utoipa::{IntoParams, ToSchema};

use super::openapi::Problems;

use crate::auth::AccountAuth;
pub use crate::domain::availability::{DAYS, engine_period, parse_hhmm};
use crate::error::{ApiError, ApiResult};
use crate::http::Body;
use crate::input::{Errors, F};
use crate::{AppState, now_ms};

/// One weekly period: a day and a time span in the rule's zone.
#[derive(Serialize, Deserialize, ToSchema)]
pub struct WeeklyPeriod {
    /// `sunday` … `saturday`.
    #[schema(example = "monday")]
    pub day: String,
    /// `HH:MM`.
    #[schema(example = "09:30")]
    pub start_time: String,
    /// `HH:MM`, after `start_time` (`00:00` is the end of the day).
    #[schema(example = "17:00")]
    pub end_time: String,
}

/// An availability rule as answered.
#[derive(Serialize, ToSchema)]
pub struct RuleInfo {
    pub availability_rule_id: String,
    pub tzid: String,
    pub weekly_periods: Vec<WeeklyPeriod>,
    /// Present when the rule was given calendars.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub calendar_ids: Option<Vec<String>>,
}

#[derive(Serialize, ToSchema)]
pub struct RuleBody {
    pub availability_rule: RuleInfo,
}

#[derive(Serialize, ToSchema)]
pub struct RulesBody {
    pub availability_rules: Vec<RuleInfo>,
}

/// What `POST /v1/availability_rules` accepts.
#[allow(dead_code)] // documentation: the handler parses leniently with `F`
#[derive(Deserialize, ToSchema)]
pub struct RuleRequest {
    /// Your id of the rule: ASCII, at most 64 characters.
    #[schema(value_type = Text, example = "default")]
    pub availability_rule_id: String,
    /// IANA zone of the weekly periods.
    #[schema(example = "Europe/London")]
    pub tzid: String,
    /// Calendars whose events make the account busy; all when absent.
    pub calendar_ids: Option<Vec<String>>,
    pub weekly_periods: Vec<WeeklyPeriod>,
}

/// The empty object `super::accepted()` sends with a 202.
#[derive(Serialize, ToSchema)]
pub struct Accepted {}

/// A text field: the lenient parser takes a number as its text, so the
/// document admits both (a client sending `0` for an id is not refused).
#[allow(dead_code)] // documentation only
#[derive(ToSchema)]
#[serde(untagged)]
pub enum Text {
    String(String),
    Number(f64),
}

/// A flag: the lenient parser takes `true`/`false` in any case, `1`/`0`,
/// `yes`/`no`, `on`/`off` (forms send text), so the document admits them.
#[allow(dead_code)] // documentation only
#[derive(ToSchema)]
#[serde(untagged)]
pub enum Flag {
    Bool(bool),
    Int(i64),
    Text(String),
}

/// The path of one rule.
#[allow(dead_code)] // documentation: the handler reads `Path<String>`
#[derive(IntoParams)]
#[into_params(parameter_in = Path)]
pub struct RuleId {
    /// The rule's `availability_rule_id`.
    pub id: String,
}

fn rule_info(r: &Rule) -> RuleInfo {
    RuleInfo {
        availability_rule_id: r.rule_id.clone(),
        tzid: r.tzid.clone(),
        weekly_periods: serde_json::from_str(&r.weekly_periods_json).unwrap_or_default(),
        calendar_ids: r
            .calendar_ids_json
            .as_deref()
            .map(|c| serde_json::from_str(c).unwrap_or_default()),
    }
}

/// Create or replace an availability rule.
///
/// Keyed by `availability_rule_id`; every problem with the body is answered
/// at once in the 422.
#[utoipa::path(post, path = "/v1/availability_rules", tag = "availability",
    security(("account_token" = []), ("client_secret" = [])),
    request_body(content((RuleRequest = "application/json"), (RuleRequest = "application/x-www-form-urlencoded"))),
    responses((status = 200, description = "The rule as stored.", body = RuleBody), Problems))]
#[tracing::instrument(skip_all, fields(account = %auth.account.id))]
pub async fn upsert(
    State(state): State<AppState>,
    auth: AccountAuth,
    Body(body): Body,
) -> ApiResult<Json<RuleBody>> {
    let root = F::root(&body);
    let mut errs = Errors::new();
    let id = root.get("availability_rule_id").req_str(&mut errs);
    if id
        .as_ref()
        .is_some_and(|id| id.len() > 64 || !id.is_ascii())
    {
        errs.add(
            "availability_rule_id",
            "invalid",
            "availability_rule_id must be ASCII, at most 64 characters",
        );
    }
    let tzid = root.get("tzid").req_tz(&mut errs).map(|(n, _)| n);
    let calendar_ids = root.get("calendar_ids").str_array(&mut errs);
    if let Some(ids) = &calendar_ids {
        if ids.is_empty() {
            errs.add(
                "calendar_ids",
                "invalid",
                "calendar_ids must name at least one calendar when given",
            );
        }
        let own = state.db.calendars(&auth.account.id).await?;
        for (i, id) in ids.iter().enumerate() {
            if !own.iter().any(|c| &c.id == id) {
                errs.add(
                    &format!("calendar_ids[{i}]"),
                    "not_found",
                    format!("{id} is not a calendar of this account"),
                );
            }
        }
    }
    let wp = root.get("weekly_periods");
    let mut periods = Vec::new();
    match wp.array(&mut errs) {
        None => errs.add("weekly_periods", "required", "weekly_periods is required"),
        Some(items) => {
            for p in items {
                let day = p
                    .get("day")
                    .req_str(&mut errs)
                    .map(|d| d.to_ascii_lowercase());
                if let Some(d) = &day
                    && !DAYS.iter().any(|(n, _)| n == d)
                {
                    errs.add(
                        &format!("{}.day", p.path),
                        "invalid",
                        "day must be sunday … saturday",
                    );
                }
                let mut times = [None, None];
                for (slot, key) in ["start_time", "end_time"].iter().enumerate() {
                    if let Some(s) = p.get(key).req_str(&mut errs) {
                        match parse_hhmm(&s) {
                            // `24:00` ends a day; no period starts there.
                            Some(_) if slot == 0 && s.trim().starts_with("24") => errs.add(
                                &format!("{}.{key}", p.path),
                                "invalid",
                                "start_time must be before 24:00",
                            ),
                            Some(_) => times[slot] = Some(s.trim().to_string()),
                            None => errs.add(
                                &format!("{}.{key}", p.path),
                                "invalid",
                                format!("{key} must be HH:MM"),
                            ),
                        }
                    }
                }
                if let ([Some(s), Some(e)], Some(d)) = (&times, &day) {
                    let (st, et) = (
                        parse_hhmm(s).expect("checked"),
                        parse_hhmm(e).expect("checked"),
                    );
                    if et != jiff::civil::Time::midnight() && et <= st {
                        errs.add(
                            &format!("{}.end_time", p.path),
                            "invalid",
                            "end_time must be after start_time",
                        );
                    }
                    periods.push(json!({"day": d, "start_time": s, "end_time": e}));
                }
            }
        }
    }
    errs.finish()?;
    let rule = Rule {
        account_id: auth.account.id.clone(),
        rule_id: id.unwrap_or_default(),
        tzid: tzid.unwrap_or_default(),
        calendar_ids_json: calendar_ids.map(|ids| json!(ids).to_string()),
        weekly_periods_json: Value::Array(periods).to_string(),
    };
    state.db.upsert_rule(&rule, now_ms()).await?;
    Ok(Json(RuleBody {
        availability_rule: rule_info(&rule),
    }))
}

/// The account's availability rules.
#[utoipa::path(get, path = "/v1/availability_rules", tag = "availability",
    security(("account_token" = []), ("client_secret" = [])),
    responses((status = 200, description = "Every rule of the account.", body = RulesBody), Problems))]
#[tracing::instrument(skip_all, fields(account = %auth.account.id))]
pub async fn list(State(state): State<AppState>, auth: AccountAuth) -> ApiResult<Json<RulesBody>> {
    let availability_rules = state
        .db
        .rules(&auth.account.id)
        .await?
        .iter()
        .map(rule_info)
        .collect();
    Ok(Json(RulesBody { availability_rules }))
}

/// One availability rule.
#[utoipa::path(get, path = "/v1/availability_rules/{id}", tag = "availability",
    security(("account_token" = []), ("client_secret" = [])), params(RuleId),
    responses((status = 200, description = "The rule.", body = RuleBody), Problems))]
#[tracing::instrument(skip_all, fields(account = %auth.account.id))]
pub async fn read(
    State(state): State<AppState>,
    auth: AccountAuth,
    Path(id): Path<String>,
) -> ApiResult<Json<RuleBody>> {
    let rules = state.db.rules(&auth.account.id).await?;
    let rule = rules
        .iter()
        .find(|r| r.rule_id == id)
        .ok_or_else(|| ApiError::not_found(format!("availability rule {id} not found")))?;
    Ok(Json(RuleBody {
        availability_rule: rule_info(rule),
    }))
}

/// Delete an availability rule.
///
/// Answers 202 with an empty object.
#[utoipa::path(delete, path = "/v1/availability_rules/{id}", tag = "availability",
    security(("account_token" = []), ("client_secret" = [])), params(RuleId),
    responses((status = 202, description = "Deleted.", body = Accepted), Problems))]
#[tracing::instrument(skip_all, fields(account = %auth.account.id))]
pub async fn delete(
    State(state): State<AppState>,
    auth: AccountAuth,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    if !state.db.delete_rule(&auth.account.id, &id).await? {
        return Err(ApiError::not_found(format!(
            "availability rule {id} not found"
        )));
    }
    Ok(super::accepted())
}

pub fn routes() -> utoipa_axum::router::OpenApiRouter<crate::AppState> {
    use utoipa_axum::routes;
    utoipa_axum::router::OpenApiRouter::new()
        .routes(routes!(upsert, list))
        .routes(routes!(read, delete))
}
