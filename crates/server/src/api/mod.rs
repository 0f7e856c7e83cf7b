//! The `/v1` API and OAuth endpoints, one module per resource.

use axum::Json;
use axum::Router;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::cors::CorsLayer;
use tower_http::trace::TraceLayer;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::AppState;
use crate::error::ApiError;

pub mod accounts;
pub mod application;
pub mod availability;
pub mod calendars;
pub mod channels;
pub mod connected;
pub mod conversations;
pub mod elements;
pub mod events;
pub mod oauth;
pub mod openapi;
pub mod periods;
pub mod rts;
pub mod rules;
pub mod scheduling;
pub mod templates;

/// The JSON API: every module's routes, each documented with
/// `#[utoipa::path]` so that `/openapi.json` is generated from the same
/// table that routes requests. `crate::app` adds the pages and the layers.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(openapi::base())
        .routes(routes!(healthz))
        .routes(routes!(openapi::document))
        .routes(routes!(metrics))
        .merge(oauth::routes())
        .merge(connected::routes())
        .merge(accounts::routes())
        .merge(calendars::routes())
        .merge(events::routes())
        .merge(rules::routes())
        .merge(periods::routes())
        .merge(availability::routes())
        .merge(channels::routes())
        .merge(application::routes())
        .merge(conversations::routes())
        .merge(scheduling::routes())
        .merge(templates::routes())
        .merge(rts::routes())
        .merge(elements::routes())
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
        .layer(axum::middleware::map_response(json_charset))
        .layer(axum::middleware::from_fn_with_state(state.clone(), observe))
        .layer(CorsLayer::permissive())
        .layer(TraceLayer::new_for_http())
        .with_state(state)
}

/// Liveness and readiness: 200 when the database answers.
#[utoipa::path(get, path = "/healthz", tag = "operations", security(()),
    responses((status = 200, description = "The database answers.", body = Health),
        (status = 503, description = "The database does not answer.", body = Health)))]
#[tracing::instrument(skip_all)]
async fn healthz(axum::extract::State(state): axum::extract::State<AppState>) -> Response {
    match state.db.application("healthz-probe").await {
        Ok(_) => Json(Health {
            status: "ok".into(),
            database: Some(state.db.backend()),
            data_center: Some(state.cfg.data_center.clone()),
            mail_configured: state.cfg.smtp_url.is_some(),
        })
        .into_response(),
        Err(_) => (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(Health {
                status: "database unavailable".into(),
                database: None,
                data_center: None,
                mail_configured: state.cfg.smtp_url.is_some(),
            }),
        )
            .into_response(),
    }
}

/// Every request: counted and timed by route template, and logged once
/// with its request id (also sent back as `x-request-id`), route, status and
/// latency.
async fn observe(
    axum::extract::State(state): axum::extract::State<AppState>,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let started = std::time::Instant::now();
    let method = req.method().as_str().to_string();
    let route = req
        .extensions()
        .get::<axum::extract::MatchedPath>()
        .map(|p| p.as_str().to_string())
        .unwrap_or_else(|| "unmatched".to_string());
    let id = req
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .filter(|v| !v.is_empty() && v.len() <= 64 && v.bytes().all(|b| b.is_ascii_graphic()))
        .map(str::to_string)
        .unwrap_or_else(|| crate::ids::new_id("req"));
    let mut resp = next.run(req).await;
    let status = resp.status().as_u16();
    let seconds = started.elapsed().as_secs_f64();
    state.metrics.request(&method, &route, status, seconds);
    tracing::info!(
        request_id = %id,
        method = %method,
        route = %route,
        status,
        latency_ms = seconds * 1000.0,
        "request"
    );
    if let Ok(v) = axum::http::HeaderValue::from_str(&id) {
        resp.headers_mut().insert("x-request-id", v);
    }
    resp
}

/// Prometheus metrics of this process (text format).
///
/// Protected by a bearer token when `--metrics-token` is set.
#[utoipa::path(get, path = "/metrics", tag = "operations", security(()),
    responses((status = 200, description = "Prometheus text exposition.", content_type = "text/plain", body = String),
        (status = 401, description = "A metrics token is configured and was not given.", body = openapi::Message)))]
async fn metrics(
    axum::extract::State(state): axum::extract::State<AppState>,
    headers: axum::http::HeaderMap,
) -> Response {
    if let Some(want) = &state.cfg.metrics_token {
        let given = headers
            .get(axum::http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .unwrap_or("");
        // Compare digests: equal length, no early exit on the first byte.
        if crate::ids::digest(given) != crate::ids::digest(want) {
            return ApiError::Unauthorized("the metrics token is required").into_response();
        }
    }
    let text = state.metrics.render(&state.db, state.now_ms()).await;
    (
        [(
            axum::http::header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        text,
    )
        .into_response()
}

/// JSON answers name their charset, as Cronofy's do
/// (`application/json; charset=utf-8`).
async fn json_charset(mut resp: Response) -> Response {
    let headers = resp.headers_mut();
    if headers
        .get(axum::http::header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes() == b"application/json")
    {
        headers.insert(
            axum::http::header::CONTENT_TYPE,
            axum::http::HeaderValue::from_static("application/json; charset=utf-8"),
        );
    }
    resp
}

/// What `/healthz` answers.
#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct Health {
    status: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    database: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    data_center: Option<String>,
    /// Whether an SMTP server is configured (`--smtp-url`): without one no
    /// invitation is mailed.
    mail_configured: bool,
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
