//! Scheduling templates: what an admin builds (Cronofy edits these only in
//! its dashboard; Convene also offers this JSON API). A template may be
//! saved incomplete; it is checked when a request uses it.

use axum::extract::{Path, State};
use axum::response::Response;
use convene_store::scheduling::Template;
use serde_json::{Value, json};

use crate::AppState;
use crate::auth::AppAuth;
use crate::error::{ApiError, ApiResult};
use crate::http::Body;
use crate::ids::new_id;

/// Search window when a template names none.
pub use crate::domain::templates::{DEFAULT_WINDOW_DAYS, normalize};

pub fn template_json(t: &Template) -> Value {
    let mut v: Value = serde_json::from_str(&t.body_json).unwrap_or_else(|_| json!({}));
    v["sub"] = json!(t.id);
    v["name"] = json!(t.name);
    v
}

#[tracing::instrument(skip_all, fields(app = %auth.app.id))]
pub async fn create(
    State(state): State<AppState>,
    auth: AppAuth,
    Body(body): Body,
) -> ApiResult<Response> {
    let norm = normalize(&body)?;
    let now = state.now_ms();
    let t = Template {
        id: new_id("sgr"),
        organizational_unit_id: auth.app.organizational_unit_id.clone(),
        name: norm["name"].as_str().unwrap_or_default().to_string(),
        body_json: norm.to_string(),
        deleted: false,
        created_ms: now,
        updated_ms: now,
    };
    state.db.upsert_template(&t).await?;
    Ok(super::ok(
        json!({ "scheduling_template": template_json(&t) }),
    ))
}

#[tracing::instrument(skip_all, fields(app = %auth.app.id))]
pub async fn list(State(state): State<AppState>, auth: AppAuth) -> ApiResult<Response> {
    let items: Vec<Value> = state
        .db
        .templates(&auth.app.organizational_unit_id)
        .await?
        .iter()
        .map(template_json)
        .collect();
    Ok(super::ok(json!({ "scheduling_templates": items })))
}

async fn live(state: &AppState, ou: &str, sub: &str) -> ApiResult<Template> {
    match state.db.template(ou, sub).await? {
        Some(t) if !t.deleted => Ok(t),
        _ => Err(ApiError::not_found(format!("template {sub} not found"))),
    }
}

#[tracing::instrument(skip_all, fields(app = %auth.app.id))]
pub async fn read(
    State(state): State<AppState>,
    auth: AppAuth,
    Path(sub): Path<String>,
) -> ApiResult<Response> {
    let t = live(&state, &auth.app.organizational_unit_id, &sub).await?;
    Ok(super::ok(
        json!({ "scheduling_template": template_json(&t) }),
    ))
}

/// `POST /v1/scheduling_templates/{sub}` replaces the template's settings.
#[tracing::instrument(skip_all, fields(app = %auth.app.id))]
pub async fn update(
    State(state): State<AppState>,
    auth: AppAuth,
    Path(sub): Path<String>,
    Body(body): Body,
) -> ApiResult<Response> {
    let mut t = live(&state, &auth.app.organizational_unit_id, &sub).await?;
    let norm = normalize(&body)?;
    t.name = norm["name"].as_str().unwrap_or_default().to_string();
    t.body_json = norm.to_string();
    t.updated_ms = state.now_ms();
    state.db.upsert_template(&t).await?;
    Ok(super::ok(
        json!({ "scheduling_template": template_json(&t) }),
    ))
}

#[tracing::instrument(skip_all, fields(app = %auth.app.id))]
pub async fn delete(
    State(state): State<AppState>,
    auth: AppAuth,
    Path(sub): Path<String>,
) -> ApiResult<Response> {
    let mut t = live(&state, &auth.app.organizational_unit_id, &sub).await?;
    t.deleted = true;
    t.updated_ms = state.now_ms();
    state.db.upsert_template(&t).await?;
    Ok(super::accepted())
}

pub fn routes() -> utoipa_axum::router::OpenApiRouter<AppState> {
    use axum::routing::{get, post};
    utoipa_axum::router::OpenApiRouter::new()
        .route("/v1/scheduling_templates", post(create).get(list))
        .route(
            "/v1/scheduling_templates/{sub}",
            get(read).post(update).delete(delete),
        )
}
