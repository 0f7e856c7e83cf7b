//! The `/v1` API and OAuth endpoints, one module per resource.

use axum::Json;
use axum::Router;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::{Value, json};
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::cors::CorsLayer;
use tower_http::trace::TraceLayer;

use crate::AppState;
use crate::error::ApiError;

pub mod accounts;
pub mod application;
pub mod availability;
pub mod calendars;
pub mod channels;
pub mod conversations;
pub mod events;
pub mod oauth;
pub mod openapi;
pub mod periods;
pub mod rules;
pub mod scheduling;
pub mod templates;

/// The foundation's routes: method, path, summary. The OpenAPI document is
/// built from [`all_routes`], and a test checks that each entry is routed.
pub const ROUTES: &[(&str, &str, &str)] = &[
    (
        "get",
        "/healthz",
        "Liveness and readiness: answers 200 when the database answers.",
    ),
    ("get", "/openapi.json", "This document."),
    (
        "post",
        "/oauth/token",
        "Refresh an access token (grant_type=refresh_token).",
    ),
    ("post", "/oauth/token/revoke", "Revoke an account's tokens."),
    (
        "post",
        "/v1/application_calendars",
        "Create (or return again) an application calendar account and its tokens.",
    ),
    (
        "get",
        "/v1/userinfo",
        "The account behind the token, with profiles and calendars.",
    ),
    ("get", "/v1/account", "The account behind the token."),
    ("get", "/v1/profiles", "The account's calendar profiles."),
    ("get", "/v1/calendars", "List the account's calendars."),
    ("post", "/v1/calendars", "Create a calendar on a profile."),
    (
        "post",
        "/v1/calendars/{calendar_id}/events",
        "Create or update an event by event_id (202).",
    ),
    (
        "delete",
        "/v1/calendars/{calendar_id}/events",
        "Delete an event by event_id or event_uid (202).",
    ),
    (
        "get",
        "/v1/events",
        "Read events, paged with an absolute next_page.",
    ),
    (
        "get",
        "/v1/events/pages/{page}",
        "A further page of events.",
    ),
    (
        "delete",
        "/v1/events",
        "Bulk delete: delete_all or calendar_ids (body or query) (202).",
    ),
    (
        "get",
        "/v1/free_busy",
        "Free/busy of the account's events, paged.",
    ),
    (
        "get",
        "/v1/free_busy/pages/{page}",
        "A further page of free/busy.",
    ),
    (
        "post",
        "/v1/availability_rules",
        "Create or update an availability rule.",
    ),
    ("get", "/v1/availability_rules", "List availability rules."),
    (
        "get",
        "/v1/availability_rules/{availability_rule_id}",
        "Read an availability rule.",
    ),
    (
        "delete",
        "/v1/availability_rules/{availability_rule_id}",
        "Delete an availability rule (202).",
    ),
    (
        "post",
        "/v1/available_periods",
        "Create or update an available period (202).",
    ),
    (
        "get",
        "/v1/available_periods",
        "List available periods, paged.",
    ),
    (
        "get",
        "/v1/available_periods/pages/{page}",
        "A further page of available periods.",
    ),
    (
        "delete",
        "/v1/available_periods",
        "Delete an available period, or all with delete_all (202).",
    ),
    (
        "post",
        "/v1/availability",
        "Availability query: groups where N of M must be free.",
    ),
    (
        "post",
        "/v1/channels",
        "Open a push notification channel (a verification callback follows).",
    ),
    ("get", "/v1/channels", "List the account's open channels."),
    (
        "delete",
        "/v1/channels/{channel_id}",
        "Close a channel (202).",
    ),
    (
        "get",
        "/v1/application",
        "The calling application, with its webhook URL.",
    ),
    (
        "post",
        "/v1/application",
        "Set (or clear with null) the application's webhook URL.",
    ),
    (
        "get",
        "/v1/deliveries",
        "The application's delivery log: recent callbacks, state, attempts, last error.",
    ),
    (
        "post",
        "/v1/deliveries/{delivery_id}/replay",
        "Send a delivered or failed callback again.",
    ),
    (
        "post",
        "/v1/sequenced_availability",
        "Sequenced availability: consecutive steps, each its own query.",
    ),
];

/// Every route of every module.
pub fn all_routes() -> impl Iterator<Item = &'static (&'static str, &'static str, &'static str)> {
    ROUTES
        .iter()
        .chain(conversations::ROUTES)
        .chain(scheduling::ROUTES)
}

/// The JSON API's routes; `crate::app` adds the pages and the layers.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/openapi.json", get(openapi::document))
        .route("/oauth/token", post(oauth::token))
        .route("/oauth/token/revoke", post(oauth::revoke))
        .route(
            "/v1/application_calendars",
            post(oauth::application_calendar),
        )
        .route("/v1/userinfo", get(accounts::userinfo))
        .route("/v1/account", get(accounts::account))
        .route("/v1/profiles", get(accounts::profiles))
        .route(
            "/v1/calendars",
            get(calendars::list).post(calendars::create),
        )
        .route(
            "/v1/calendars/{calendar_id}/events",
            post(events::upsert).delete(events::delete),
        )
        .route("/v1/events", get(events::read).delete(events::bulk_delete))
        .route("/v1/events/pages/{page}", get(events::read_page))
        .route("/v1/free_busy", get(events::free_busy))
        .route("/v1/free_busy/pages/{page}", get(events::free_busy_page))
        .route(
            "/v1/availability_rules",
            post(rules::upsert).get(rules::list),
        )
        .route(
            "/v1/availability_rules/{id}",
            get(rules::read).delete(rules::delete),
        )
        .route(
            "/v1/available_periods",
            post(periods::upsert)
                .get(periods::list)
                .delete(periods::delete),
        )
        .route(
            "/v1/available_periods/pages/{page}",
            get(periods::list_page),
        )
        .route("/v1/availability", post(availability::availability))
        .route("/v1/sequenced_availability", post(availability::sequenced))
        .route("/v1/channels", post(channels::create).get(channels::list))
        .route(
            "/v1/channels/{channel_id}",
            axum::routing::delete(channels::close),
        )
        .route(
            "/v1/application",
            get(application::read).post(application::update),
        )
        .route("/v1/deliveries", get(application::deliveries))
        .route(
            "/v1/deliveries/{delivery_id}/replay",
            post(application::replay),
        )
        .merge(conversations::routes())
        .merge(scheduling::routes())
}

/// Wraps every route (the API's and the pages'): JSON answers for unknown
/// routes and methods, a JSON 500 for a panic, the rate limit, CORS and
/// request tracing.
pub fn finish(router: Router<AppState>, state: AppState) -> Router {
    router
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(CatchPanicLayer::custom(|_| {
            ApiError::Internal(anyhow::anyhow!("handler panicked")).into_response()
        }))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            crate::ratelimit::limit,
        ))
        .layer(CorsLayer::permissive())
        .layer(TraceLayer::new_for_http())
        .with_state(state)
}

#[tracing::instrument(skip_all)]
async fn healthz(axum::extract::State(state): axum::extract::State<AppState>) -> Response {
    match state.db.application("healthz-probe").await {
        Ok(_) => Json(json!({"status": "ok", "database": state.db.backend(), "data_center": state.cfg.data_center}))
            .into_response(),
        Err(_) => (StatusCode::SERVICE_UNAVAILABLE, Json(json!({"status": "database unavailable"}))).into_response(),
    }
}

async fn method_not_allowed() -> Response {
    (
        StatusCode::METHOD_NOT_ALLOWED,
        Json(json!({"error": "method_not_allowed", "message": "this route does not take that method"})),
    )
        .into_response()
}

async fn not_found() -> ApiError {
    ApiError::NotFound("no such route".into())
}

/// 202 with an empty JSON object: SDKs accept a body on 202 and some parse one.
pub fn accepted() -> Response {
    (StatusCode::ACCEPTED, Json(json!({}))).into_response()
}

pub fn ok(v: Value) -> Response {
    Json(v).into_response()
}

/// Highest page number served; beyond it a listing is empty anyway and the
/// offset arithmetic stays far from overflow.
pub const MAX_PAGE: i64 = 1_000_000;

/// `{"pages": …}` with an absolute `next_page` built from the public URL.
pub fn pages(state: &AppState, base: &str, query: &Value, page: i64, total_items: i64) -> Value {
    let total = ((total_items + state.cfg.page_size - 1) / state.cfg.page_size).max(1);
    let mut pages = json!({ "current": page, "total": total });
    if page < total {
        let mut q = query.clone();
        q["page"] = json!(page + 1);
        pages["next_page"] = json!(state.cfg.url(&format!("{base}/pages/{}", encode_page(&q))));
    }
    pages
}

pub fn encode_page(q: &Value) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(q.to_string())
}

pub fn decode_page(token: &str) -> Result<Value, ApiError> {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(token)
        .ok()
        .and_then(|b| serde_json::from_slice::<Value>(&b).ok())
        .filter(Value::is_object)
        .ok_or_else(|| ApiError::not_found("no such page"))
}
