//! The calling application itself: its webhook URL for scheduling-request
//! notifications, and its delivery log with replay.

use axum::extract::{Path, State};
use axum::response::Response;
use convene_store::notify::Delivery;
use serde_json::{Value, json};

use crate::AppState;
use crate::auth::AppAuth;
pub use crate::domain::requests::WEBHOOK_TYPES;
use crate::error::{ApiError, ApiResult};
use crate::http::{Body, QueryInput};
use crate::input::{Errors, F};
use crate::notifications::check_url;
use crate::time::fmt_ms;

fn app_json(app: &convene_store::Application) -> Value {
    json!({"application": {
        "client_id": app.id,
        "name": app.name,
        "organizational_unit_id": app.organizational_unit_id,
        "webhook_url": app.webhook_url,
        "webhook_notification_types": WEBHOOK_TYPES,
    }})
}

#[tracing::instrument(skip_all, fields(app = %auth.app.id))]
pub async fn read(State(state): State<AppState>, auth: AppAuth) -> ApiResult<Response> {
    // Read again: the credential's copy may be a few seconds old.
    let app = state
        .db
        .application(&auth.app.id)
        .await?
        .unwrap_or(auth.app);
    Ok(super::ok(app_json(&app)))
}

/// `POST /v1/application` with `{"webhook_url": "https://…"}` (null clears it;
/// a body without `webhook_url` changes nothing).
#[tracing::instrument(skip_all, fields(app = %auth.app.id))]
pub async fn update(
    State(state): State<AppState>,
    auth: AppAuth,
    Body(body): Body,
) -> ApiResult<Response> {
    let root = F::root(&body);
    // Only a named `webhook_url` changes it: an empty body is no request
    // to clear the webhook.
    if body.get("webhook_url").is_none() {
        return read(State(state), auth).await;
    }
    let mut errs = Errors::new();
    let url = root
        .get("webhook_url")
        .str(&mut errs)
        .filter(|s| !s.is_empty());
    if let Some(u) = &url
        && let Err(why) = check_url(u, state.cfg.callback_policy)
    {
        errs.add("webhook_url", "invalid", why);
    }
    errs.finish()?;
    state
        .db
        .set_webhook_url(&auth.app.id, url.as_deref())
        .await?;
    let mut app = auth.app.clone();
    app.webhook_url = url;
    Ok(super::ok(app_json(&app)))
}

pub fn delivery_json(d: &Delivery) -> Value {
    let mut v = json!({
        "delivery_id": d.id,
        "notification_type": d.kind,
        "url": d.url,
        "state": d.state,
        "attempts": d.attempts,
        "created": fmt_ms(d.created_ms),
    });
    if d.state == "pending" {
        v["next_attempt"] = json!(fmt_ms(d.next_attempt_ms));
    }
    if let Some(s) = d.last_status {
        v["last_status"] = json!(s);
    }
    if let Some(e) = &d.last_error {
        v["last_error"] = json!(e);
    }
    if let Some(t) = d.delivered_ms {
        v["delivered"] = json!(fmt_ms(t));
    }
    if let Some(r) = &d.replay_of {
        v["replay_of"] = json!(r);
    }
    if let Some(c) = &d.channel_id {
        v["channel_id"] = json!(c);
    }
    v["body"] = serde_json::from_str(&d.body).unwrap_or(Value::Null);
    v
}

/// `GET /v1/deliveries?state=failed&limit=50`: newest first.
#[tracing::instrument(skip_all, fields(app = %auth.app.id))]
pub async fn deliveries(
    State(state): State<AppState>,
    auth: AppAuth,
    QueryInput(q): QueryInput,
) -> ApiResult<Response> {
    let root = F::root(&q);
    let mut errs = Errors::new();
    let st = root.get("state").str(&mut errs);
    if st
        .as_deref()
        .is_some_and(|s| !matches!(s, "pending" | "delivered" | "failed"))
    {
        errs.add(
            "state",
            "invalid",
            "state must be pending, delivered or failed",
        );
    }
    let limit = root.get("limit").int(&mut errs).unwrap_or(50);
    if !(1..=500).contains(&limit) {
        errs.add("limit", "invalid", "limit must be 1 to 500");
    }
    errs.finish()?;
    let items: Vec<Value> = state
        .db
        .deliveries(&auth.app.id, st.as_deref(), limit)
        .await?
        .iter()
        .map(delivery_json)
        .collect();
    Ok(super::ok(json!({ "deliveries": items })))
}

/// `POST /v1/deliveries/{id}/replay`: sends the same body again as a new
/// delivery (a new delivery id, `replay_of` pointing at the original).
#[tracing::instrument(skip_all, fields(app = %auth.app.id))]
pub async fn replay(
    State(state): State<AppState>,
    auth: AppAuth,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    let d = state
        .db
        .delivery(&id)
        .await?
        .filter(|d| d.application_id == auth.app.id)
        .ok_or_else(|| ApiError::not_found(format!("delivery {id} not found")))?;
    let copy = crate::notifications::replay(&state, d).await?;
    Ok(super::ok(json!({ "delivery": delivery_json(&copy) })))
}

/// This module's routes. Not yet documented ones are added with `.route`
/// (they are missing from `/openapi.json` until they get a
/// `#[utoipa::path]` and move to `.routes(routes!(…))`).
pub fn routes() -> utoipa_axum::router::OpenApiRouter<crate::AppState> {
    #[allow(unused_imports)]
    use axum::routing::{get, post};
    utoipa_axum::router::OpenApiRouter::new()
        .route("/v1/application", get(read).post(update))
        .route("/v1/deliveries", get(deliveries))
        .route("/v1/deliveries/{delivery_id}/replay", post(replay))
}
