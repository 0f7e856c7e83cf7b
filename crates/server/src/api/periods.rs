//! Available periods (contract §8.2).

use axum::Json;
use axum::extract::{Path, State};
use axum::response::Response;
use convene_store::Period;
use jiff::tz::TimeZone;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::{IntoParams, ToSchema};

use super::openapi::Problems;
use super::rules::Accepted;

use super::events::day_start;
use crate::auth::AccountAuth;
use crate::error::{ApiError, ApiResult};
use crate::http::{Body, QueryInput};
use crate::input::{Errors, F};
use crate::time::{parse_date, parse_time, to_ms};
use crate::{AppState, now_ms};

/// What `POST /v1/available_periods` accepts.
#[allow(dead_code)] // documentation: the handler parses leniently with `F`
#[derive(Deserialize, ToSchema)]
pub struct PeriodRequest {
    /// Your id of the period: ASCII, at most 64 characters.
    #[schema(value_type = super::rules::Text, example = "qTtZdczOccgaPncGJaCiLg")]
    pub available_period_id: String,
    #[schema(format = DateTime, example = "2030-01-07T09:00:00Z")]
    pub start: String,
    /// After `start`.
    #[schema(format = DateTime, example = "2030-01-07T17:00:00Z")]
    pub end: String,
}

/// What the listing reads from the query string.
#[allow(dead_code)] // documentation: the handler parses leniently with `F`
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// Zone of Date bounds and of localized times; UTC when absent.
    #[param(example = "Europe/London")]
    pub tzid: Option<String>,
    /// A Date or a Time: periods ending after it.
    #[param(example = "2030-01-07")]
    pub from: Option<String>,
    /// A Date or a Time: periods starting before it.
    #[param(example = "2030-01-14")]
    pub to: Option<String>,
    /// Answer times as `{"time", "tzid"}` in `tzid`.
    pub localized_times: Option<bool>,
    /// Pages count from 1; lower numbers are taken as 1.
    pub page: Option<i64>,
}

/// What `DELETE /v1/available_periods` accepts (body or query string).
#[allow(dead_code)] // documentation: the handler parses leniently with `F`
#[derive(Deserialize, ToSchema, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DeleteRequest {
    /// The period to delete; or give `delete_all`.
    #[schema(value_type = Option<super::rules::Text>)]
    #[param(value_type = Option<super::rules::Text>)]
    pub available_period_id: Option<String>,
    /// Delete every period of the account.
    #[schema(value_type = Option<super::rules::Flag>)]
    #[param(value_type = Option<super::rules::Flag>)]
    pub delete_all: Option<bool>,
}

/// A time as answered: UTC, or localized when `localized_times` was asked.
#[derive(Serialize, ToSchema)]
#[serde(untagged)]
pub enum TimeOut {
    #[schema(format = DateTime)]
    Utc(String),
    Local {
        time: String,
        tzid: String,
    },
}

impl TimeOut {
    pub fn new(ms: i64, localized: Option<&(String, TimeZone)>) -> Self {
        match localized {
            None => TimeOut::Utc(crate::time::fmt_ms(ms)),
            Some((name, zone)) => TimeOut::Local {
                time: crate::time::from_ms(ms)
                    .to_zoned(zone.clone())
                    .strftime("%Y-%m-%dT%H:%M:%S%:z")
                    .to_string(),
                tzid: name.clone(),
            },
        }
    }
}

/// The paging of a listing.
#[allow(dead_code)] // documentation: `super::pages` builds it
#[derive(ToSchema)]
pub struct Pages {
    pub current: i64,
    pub total: i64,
    /// The next page's absolute URL, when there is one.
    pub next_page: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct PeriodInfo {
    pub available_period_id: String,
    pub start: TimeOut,
    pub end: TimeOut,
}

#[derive(Serialize, ToSchema)]
pub struct PeriodsBody {
    #[schema(value_type = Pages)]
    pub pages: Value,
    pub available_periods: Vec<PeriodInfo>,
}

/// The path of one page.
#[allow(dead_code)] // documentation: the handler reads `Path<String>`
#[derive(IntoParams)]
#[into_params(parameter_in = Path)]
pub struct PageToken {
    /// The token in a `next_page` URL.
    pub page: String,
}

/// Create or replace an available period.
///
/// Keyed by `available_period_id`; answers 202 with an empty object.
#[utoipa::path(post, path = "/v1/available_periods", tag = "availability",
    security(("account_token" = []), ("client_secret" = [])),
    request_body(content((PeriodRequest = "application/json"), (PeriodRequest = "application/x-www-form-urlencoded"))),
    responses((status = 202, description = "Stored.", body = Accepted), Problems))]
#[tracing::instrument(skip_all, fields(account = %auth.account.id))]
pub async fn upsert(
    State(state): State<AppState>,
    auth: AccountAuth,
    Body(body): Body,
) -> ApiResult<Response> {
    let root = F::root(&body);
    let mut errs = Errors::new();
    let id = root.get("available_period_id").req_str(&mut errs);
    if id
        .as_ref()
        .is_some_and(|id| id.len() > 64 || !id.is_ascii())
    {
        errs.add(
            "available_period_id",
            "invalid",
            "available_period_id must be ASCII, at most 64 characters",
        );
    }
    let start = root.get("start").req_time(&mut errs);
    let end = root.get("end").req_time(&mut errs);
    if let (Some(s), Some(e)) = (start, end)
        && e <= s
    {
        errs.add("end", "invalid", "end must be after start");
    }
    errs.finish()?;
    let p = Period {
        account_id: auth.account.id.clone(),
        period_id: id.unwrap_or_default(),
        start_ms: to_ms(start.expect("validated")),
        end_ms: to_ms(end.expect("validated")),
    };
    state.db.upsert_period(&p, now_ms()).await?;
    Ok(super::accepted())
}

async fn list_inner(
    state: &AppState,
    auth: &AccountAuth,
    q: Value,
) -> ApiResult<Json<PeriodsBody>> {
    let root = F::root(&q);
    let mut errs = Errors::new();
    let zone = root
        .get("tzid")
        .tz(&mut errs)
        .unwrap_or_else(|| ("Etc/UTC".into(), TimeZone::UTC));
    let mut bound = |key: &str| {
        let f = root.get(key);
        let s = f.str(&mut errs)?;
        parse_time(&s)
            .or_else(|| parse_date(&s).map(|d| day_start(d, &zone.1)))
            .or_else(|| {
                errs.add(key, "invalid", format!("{key} must be a Date or a Time"));
                None
            })
    };
    let from = bound("from");
    let to = bound("to");
    let localized = root.get("localized_times").bool(&mut errs).unwrap_or(false);
    let page = root
        .get("page")
        .int(&mut errs)
        .unwrap_or(1)
        .clamp(1, super::MAX_PAGE);
    errs.finish()?;
    let all = state
        .db
        .periods_for(
            std::slice::from_ref(&auth.account.id),
            from.map(to_ms),
            to.map(to_ms),
        )
        .await?;
    let size = state.cfg.page_size;
    let total = all.len() as i64;
    let mut clean = q.clone();
    if let Some(m) = clean.as_object_mut() {
        m.remove("page");
    }
    let loc = localized.then_some(&zone);
    let available_periods = all
        .iter()
        .skip(((page - 1) * size) as usize)
        .take(size as usize)
        .map(|p| PeriodInfo {
            available_period_id: p.period_id.clone(),
            start: TimeOut::new(p.start_ms, loc),
            end: TimeOut::new(p.end_ms, loc),
        })
        .collect();
    let pages = super::pages(state, "/v1/available_periods", &clean, page, total);
    Ok(Json(PeriodsBody {
        pages,
        available_periods,
    }))
}

/// The account's available periods, a page at a time.
#[utoipa::path(get, path = "/v1/available_periods", tag = "availability",
    security(("account_token" = []), ("client_secret" = [])), params(ListQuery),
    responses((status = 200, description = "One page of periods.", body = PeriodsBody), Problems))]
#[tracing::instrument(skip_all, fields(account = %auth.account.id))]
pub async fn list(
    State(state): State<AppState>,
    auth: AccountAuth,
    QueryInput(q): QueryInput,
) -> ApiResult<Json<PeriodsBody>> {
    list_inner(&state, &auth, q).await
}

/// A further page of available periods.
///
/// The path is the `next_page` URL of the previous page.
#[utoipa::path(get, path = "/v1/available_periods/pages/{page}", tag = "availability",
    security(("account_token" = []), ("client_secret" = [])), params(PageToken),
    responses((status = 200, description = "One page of periods.", body = PeriodsBody), Problems))]
#[tracing::instrument(skip_all, fields(account = %auth.account.id))]
pub async fn list_page(
    State(state): State<AppState>,
    auth: AccountAuth,
    Path(page): Path<String>,
) -> ApiResult<Json<PeriodsBody>> {
    list_inner(&state, &auth, super::decode_page(&page)?).await
}

/// Delete one available period, or all of them.
///
/// Reads `available_period_id` or `delete_all` from the body, else from the
/// query string; answers 202 with an empty object.
#[utoipa::path(delete, path = "/v1/available_periods", tag = "availability",
    security(("account_token" = []), ("client_secret" = [])), params(DeleteRequest),
    request_body(content((DeleteRequest = "application/json"), (DeleteRequest = "application/x-www-form-urlencoded"))),
    responses((status = 202, description = "Deleted.", body = Accepted), Problems))]
#[tracing::instrument(skip_all, fields(account = %auth.account.id))]
pub async fn delete(
    State(state): State<AppState>,
    auth: AccountAuth,
    QueryInput(query): QueryInput,
    Body(body): Body,
) -> ApiResult<Response> {
    let has = |v: &Value| v.get("available_period_id").is_some() || v.get("delete_all").is_some();
    let src = if has(&body) { &body } else { &query };
    let root = F::root(src);
    let mut errs = Errors::new();
    // The other source is not used, but a malformed value there is still a
    // problem to report rather than silently ignore.
    let other = F::root(if has(&body) { &query } else { &body });
    other.get("delete_all").bool(&mut errs);
    other.get("available_period_id").str(&mut errs);
    let all = root.get("delete_all").bool(&mut errs).unwrap_or(false);
    let id = root.get("available_period_id").str(&mut errs);
    if !all && id.is_none() {
        errs.add(
            "available_period_id",
            "required",
            "available_period_id or delete_all is required",
        );
    }
    if all && id.is_some() {
        return Err(ApiError::field(
            "delete_all",
            "invalid",
            "give available_period_id or delete_all, not both",
        ));
    }
    errs.finish()?;
    state
        .db
        .delete_period(&auth.account.id, if all { None } else { id.as_deref() })
        .await?;
    Ok(super::accepted())
}

pub fn routes() -> utoipa_axum::router::OpenApiRouter<crate::AppState> {
    use utoipa_axum::routes;
    utoipa_axum::router::OpenApiRouter::new()
        .routes(routes!(upsert, list, delete))
        .routes(routes!(list_page))
}
