//! Available periods (contract §8.2).

use axum::extract::{Path, State};
use axum::response::Response;
use convene_store::Period;
use jiff::tz::TimeZone;
use serde_json::{Value, json};

use super::events::{day_start, time_json};
use crate::auth::AccountAuth;
use crate::error::{ApiError, ApiResult};
use crate::http::{Body, QueryInput};
use crate::input::{Errors, F};
use crate::time::{parse_date, parse_time, to_ms};
use crate::{AppState, now_ms};

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

async fn list_inner(state: &AppState, auth: &AccountAuth, q: Value) -> ApiResult<Response> {
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
    let items: Vec<Value> = all
        .iter()
        .skip(((page - 1) * size) as usize)
        .take(size as usize)
        .map(|p| json!({"available_period_id": p.period_id, "start": time_json(p.start_ms, loc), "end": time_json(p.end_ms, loc)}))
        .collect();
    let pages = super::pages(state, "/v1/available_periods", &clean, page, total);
    Ok(super::ok(
        json!({"pages": pages, "available_periods": items}),
    ))
}

#[tracing::instrument(skip_all, fields(account = %auth.account.id))]
pub async fn list(
    State(state): State<AppState>,
    auth: AccountAuth,
    QueryInput(q): QueryInput,
) -> ApiResult<Response> {
    list_inner(&state, &auth, q).await
}

#[tracing::instrument(skip_all, fields(account = %auth.account.id))]
pub async fn list_page(
    State(state): State<AppState>,
    auth: AccountAuth,
    Path(page): Path<String>,
) -> ApiResult<Response> {
    list_inner(&state, &auth, super::decode_page(&page)?).await
}

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

/// This module's routes. Not yet documented ones are added with `.route`
/// (they are missing from `/openapi.json` until they get a
/// `#[utoipa::path]` and move to `.routes(routes!(…))`).
pub fn routes() -> utoipa_axum::router::OpenApiRouter<crate::AppState> {
    #[allow(unused_imports)]
    use axum::routing::{get, post};
    utoipa_axum::router::OpenApiRouter::new()
        .route(
            "/v1/available_periods",
            post(upsert).get(list).delete(delete),
        )
        .route("/v1/available_periods/pages/{page}", get(list_page))
}
