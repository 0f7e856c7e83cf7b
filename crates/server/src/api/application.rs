//! The calling application itself: its webhook URL for scheduling-request
//! notifications, and its delivery log with replay.

use axum::Json;
use axum::extract::{Path, State};
use convene_store::notify::Delivery;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::{IntoParams, ToSchema};

use super::openapi::Problems;

use crate::AppState;
use crate::auth::AppAuth;
pub use crate::domain::requests::WEBHOOK_TYPES;
use crate::error::{ApiError, ApiResult};
use crate::http::{Body, QueryInput};
use crate::input::{Errors, F};
use crate::notifications::check_url;
use crate::time::fmt_ms;

/// `GET`/`POST /v1/application`.
#[derive(Serialize, ToSchema)]
pub struct ApplicationBody {
    pub application: ApplicationInfo,
}

#[derive(Serialize, ToSchema)]
pub struct ApplicationInfo {
    pub client_id: String,
    pub name: String,
    pub organizational_unit_id: String,
    /// Where scheduling-request notifications go; `null` when none.
    pub webhook_url: Option<String>,
    /// The notification types sent to `webhook_url`.
    pub webhook_notification_types: &'static [&'static str],
}

fn app_json(app: &convene_store::Application) -> Json<ApplicationBody> {
    Json(ApplicationBody {
        application: ApplicationInfo {
            client_id: app.id.clone(),
            name: app.name.clone(),
            organizational_unit_id: app.organizational_unit_id.clone(),
            webhook_url: app.webhook_url.clone(),
            webhook_notification_types: WEBHOOK_TYPES,
        },
    })
}

/// What `POST /v1/application` reads.
#[allow(dead_code)] // documentation: the handler walks the body with `F`
#[derive(Deserialize, ToSchema)]
pub struct UpdateApplication {
    /// The new webhook URL; `null` or `""` clears it, and a body without it
    /// changes nothing.
    #[schema(example = "https://example.com/hooks/convene")]
    pub webhook_url: Option<String>,
}

/// The calling application.
///
/// Its webhook for scheduling-request notifications and the types sent
/// there.
#[utoipa::path(get, path = "/v1/application", tag = "application",
    security(("client_secret" = [])),
    responses((status = 200, description = "The application.", body = ApplicationBody), Problems))]
#[tracing::instrument(skip_all, fields(app = %auth.app.id))]
pub async fn read(
    State(state): State<AppState>,
    auth: AppAuth,
) -> ApiResult<Json<ApplicationBody>> {
    // Read again: the credential's copy may be a few seconds old.
    let app = state
        .db
        .application(&auth.app.id)
        .await?
        .unwrap_or(auth.app);
    Ok(app_json(&app))
}

/// Sets or clears the application's webhook URL.
///
/// `{"webhook_url": "https://…"}`; `null` clears it; a body without
/// `webhook_url` changes nothing.
#[utoipa::path(post, path = "/v1/application", tag = "application",
    security(("client_secret" = [])),
    request_body(content((Option<UpdateApplication> = "application/json"))),
    responses((status = 200, description = "The application.", body = ApplicationBody), Problems))]
#[tracing::instrument(skip_all, fields(app = %auth.app.id))]
pub async fn update(
    State(state): State<AppState>,
    auth: AppAuth,
    Body(body): Body,
) -> ApiResult<Json<ApplicationBody>> {
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
    Ok(app_json(&app))
}

/// One attempt-tracked delivery of a notification.
#[derive(Serialize, ToSchema)]
pub struct DeliveryInfo {
    pub delivery_id: String,
    pub notification_type: String,
    pub url: String,
    /// `pending`, `delivered` or `failed`.
    pub state: String,
    pub attempts: i64,
    #[schema(format = DateTime)]
    pub created: String,
    /// While `pending`.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(format = DateTime)]
    pub next_attempt: Option<String>,
    /// The HTTP status of the last attempt (for a mail, the SMTP reply code).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_status: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(format = DateTime)]
    pub delivered: Option<String>,
    /// The delivery this one replays.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub replay_of: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub channel_id: Option<String>,
    /// The JSON body POSTed.
    #[schema(value_type = Object)]
    pub body: Value,
}

pub fn delivery_json(d: &Delivery) -> DeliveryInfo {
    DeliveryInfo {
        delivery_id: d.id.clone(),
        notification_type: d.kind.clone(),
        url: d.url.clone(),
        state: d.state.clone(),
        attempts: d.attempts,
        created: fmt_ms(d.created_ms),
        next_attempt: (d.state == "pending").then(|| fmt_ms(d.next_attempt_ms)),
        last_status: d.last_status,
        last_error: d.last_error.clone(),
        delivered: d.delivered_ms.map(fmt_ms),
        replay_of: d.replay_of.clone(),
        channel_id: d.channel_id.clone(),
        // Bodies are written by the server as JSON objects.
        body: serde_json::from_str(&d.body).unwrap_or_else(|_| Value::Object(Default::default())),
    }
}

/// `GET /v1/deliveries`.
#[derive(Serialize, ToSchema)]
pub struct DeliveriesBody {
    pub deliveries: Vec<DeliveryInfo>,
}

/// `POST /v1/deliveries/{delivery_id}/replay`.
#[derive(Serialize, ToSchema)]
pub struct DeliveryBody {
    pub delivery: DeliveryInfo,
}

/// What `GET /v1/deliveries` reads.
#[allow(dead_code)] // documentation: the handler walks the query with `F`
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DeliveriesQuery {
    /// Only deliveries in this state.
    #[param(pattern = "^(pending|delivered|failed)$")]
    pub state: Option<String>,
    /// At most this many (default 50).
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<i64>,
}

/// The application's delivery log.
///
/// Newest first: webhook and channel deliveries with their attempts and
/// outcome.
#[utoipa::path(get, path = "/v1/deliveries", tag = "application",
    security(("client_secret" = [])),
    params(DeliveriesQuery),
    responses((status = 200, description = "The deliveries.", body = DeliveriesBody), Problems))]
#[tracing::instrument(skip_all, fields(app = %auth.app.id))]
pub async fn deliveries(
    State(state): State<AppState>,
    auth: AppAuth,
    QueryInput(q): QueryInput,
) -> ApiResult<Json<DeliveriesBody>> {
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
    let deliveries = state
        .db
        .deliveries(&auth.app.id, st.as_deref(), limit)
        .await?
        .iter()
        .map(delivery_json)
        .collect();
    Ok(Json(DeliveriesBody { deliveries }))
}

/// Sends a delivery's body again.
///
/// The copy is a new delivery (a new id, `replay_of` pointing at the
/// original).
#[utoipa::path(post, path = "/v1/deliveries/{delivery_id}/replay", tag = "application",
    security(("client_secret" = [])),
    params(("delivery_id" = String, Path, description = "The delivery to send again.")),
    responses((status = 200, description = "The new delivery.", body = DeliveryBody), Problems))]
#[tracing::instrument(skip_all, fields(app = %auth.app.id))]
pub async fn replay(
    State(state): State<AppState>,
    auth: AppAuth,
    Path(id): Path<String>,
) -> ApiResult<Json<DeliveryBody>> {
    let d = state
        .db
        .delivery(&id)
        .await?
        .filter(|d| d.application_id == auth.app.id)
        .ok_or_else(|| ApiError::not_found(format!("delivery {id} not found")))?;
    let copy = crate::notifications::replay(&state, d).await?;
    Ok(Json(DeliveryBody {
        delivery: delivery_json(&copy),
    }))
}

pub fn routes() -> utoipa_axum::router::OpenApiRouter<crate::AppState> {
    use utoipa_axum::routes;
    utoipa_axum::router::OpenApiRouter::new()
        .routes(routes!(read, update))
        .routes(routes!(deliveries))
        .routes(routes!(replay))
}
