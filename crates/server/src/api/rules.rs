//! Availability rules: weekly periods in a zone (contract §8.1).

use axum::extract::{Path, State};
use axum::response::Response;
use convene_store::Rule;
use serde_json::{Value, json};

use crate::auth::AccountAuth;
pub use crate::domain::availability::{DAYS, engine_period, parse_hhmm};
use crate::error::{ApiError, ApiResult};
use crate::http::Body;
use crate::input::{Errors, F};
use crate::{AppState, now_ms};

fn rule_json(r: &Rule) -> Value {
    let mut v = json!({
        "availability_rule_id": r.rule_id,
        "tzid": r.tzid,
        "weekly_periods": serde_json::from_str::<Value>(&r.weekly_periods_json).unwrap_or(json!([])),
    });
    if let Some(c) = &r.calendar_ids_json {
        v["calendar_ids"] = serde_json::from_str(c).unwrap_or(json!([]));
    }
    v
}

#[tracing::instrument(skip_all, fields(account = %auth.account.id))]
pub async fn upsert(
    State(state): State<AppState>,
    auth: AccountAuth,
    Body(body): Body,
) -> ApiResult<Response> {
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
    Ok(super::ok(json!({ "availability_rule": rule_json(&rule) })))
}

#[tracing::instrument(skip_all, fields(account = %auth.account.id))]
pub async fn list(State(state): State<AppState>, auth: AccountAuth) -> ApiResult<Response> {
    let rules: Vec<Value> = state
        .db
        .rules(&auth.account.id)
        .await?
        .iter()
        .map(rule_json)
        .collect();
    Ok(super::ok(json!({ "availability_rules": rules })))
}

#[tracing::instrument(skip_all, fields(account = %auth.account.id))]
pub async fn read(
    State(state): State<AppState>,
    auth: AccountAuth,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    let rules = state.db.rules(&auth.account.id).await?;
    let rule = rules
        .iter()
        .find(|r| r.rule_id == id)
        .ok_or_else(|| ApiError::not_found(format!("availability rule {id} not found")))?;
    Ok(super::ok(json!({ "availability_rule": rule_json(rule) })))
}

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

/// This module's routes. Not yet documented ones are added with `.route`
/// (they are missing from `/openapi.json` until they get a
/// `#[utoipa::path]` and move to `.routes(routes!(…))`).
pub fn routes() -> utoipa_axum::router::OpenApiRouter<crate::AppState> {
    #[allow(unused_imports)]
    use axum::routing::{get, post};
    utoipa_axum::router::OpenApiRouter::new()
        .route("/v1/availability_rules", post(upsert).get(list))
        .route("/v1/availability_rules/{id}", get(read).delete(delete))
}
