//! Scheduling templates: what an admin builds (Cronofy edits these only in
//! its dashboard; Convene also offers this JSON API). A template may be
//! saved incomplete; it is checked when a request uses it.

use axum::extract::{Path, State};
use axum::response::Response;
use convene_store::scheduling::Template;
use serde_json::{Value, json};
use utoipa::{IntoParams, ToSchema};

use super::availability::{DurationIn, PeriodIn, RequiredIn};
use super::openapi::Problems;
use super::rules::{Accepted, Text};
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

// The representation is the normalized body the dashboard shares
// (`domain::templates::normalize`), so it stays a `Value`; these types
// mirror it for the document.

/// A member: an account `sub`.
#[allow(dead_code)] // documentation only
#[derive(ToSchema)]
pub struct SubOut {
    pub sub: String,
}

/// `{"minutes": n}`.
#[allow(dead_code)] // documentation only
#[derive(ToSchema)]
pub struct MinutesOut {
    pub minutes: i64,
}

#[allow(dead_code)] // documentation only
#[derive(ToSchema)]
#[serde(untagged)]
pub enum RequiredOut {
    #[schema(example = "all")]
    All(String),
    AtLeast(i64),
}

#[allow(dead_code)] // documentation only
#[derive(ToSchema)]
pub struct GroupOut {
    pub name: Option<String>,
    pub members: Vec<SubOut>,
    pub required: RequiredOut,
}

#[allow(dead_code)] // documentation only
#[derive(ToSchema)]
pub struct LocationOut {
    pub description: String,
}

#[allow(dead_code)] // documentation only
#[derive(ToSchema)]
pub struct EventOut {
    pub summary: Option<String>,
    pub description: Option<String>,
    pub location: Option<LocationOut>,
}

#[allow(dead_code)] // documentation only
#[derive(ToSchema)]
pub struct BufferOut {
    pub before: Option<MinutesOut>,
    pub after: Option<MinutesOut>,
}

#[allow(dead_code)] // documentation only
#[derive(ToSchema)]
pub struct PeriodOut {
    #[schema(format = DateTime)]
    pub start: String,
    #[schema(format = DateTime)]
    pub end: String,
}

/// Query periods, or a window of days from now.
#[allow(dead_code)] // documentation only
#[derive(ToSchema)]
pub struct ModeOut {
    pub query_periods: Option<Vec<PeriodOut>>,
    pub days: Option<i64>,
}

/// A scheduling template as answered.
#[allow(dead_code)] // documentation only
#[derive(ToSchema)]
pub struct TemplateOut {
    pub sub: String,
    pub name: String,
    pub host: Option<SubOut>,
    pub host_group: Option<GroupOut>,
    pub collaborator_groups: Vec<GroupOut>,
    pub event: EventOut,
    pub duration: Option<MinutesOut>,
    pub buffer: Option<BufferOut>,
    pub start_interval: Option<MinutesOut>,
    pub minimum_notice: Option<MinutesOut>,
    pub tzid: Option<String>,
    pub availability_mode: ModeOut,
}

#[allow(dead_code)] // documentation only
#[derive(ToSchema)]
pub struct TemplateBody {
    pub scheduling_template: TemplateOut,
}

#[allow(dead_code)] // documentation only
#[derive(ToSchema)]
pub struct TemplatesBody {
    pub scheduling_templates: Vec<TemplateOut>,
}

/// A member as given: an account `sub`, or `{"sub"}`.
#[allow(dead_code)] // documentation only
#[derive(ToSchema)]
#[serde(untagged)]
pub enum MemberIn {
    Sub(String),
    Member {
        #[schema(value_type = Text)]
        sub: String,
    },
}

#[allow(dead_code)] // documentation only
#[derive(ToSchema)]
pub struct GroupIn {
    pub name: Option<String>,
    pub members: Option<Vec<MemberIn>>,
    pub required: Option<RequiredIn>,
}

#[allow(dead_code)] // documentation only
#[derive(ToSchema)]
pub struct LocationIn {
    pub description: Option<String>,
}

#[allow(dead_code)] // documentation only
#[derive(ToSchema)]
pub struct EventIn {
    pub summary: Option<String>,
    pub description: Option<String>,
    pub location: Option<LocationIn>,
    /// The older place of `duration`.
    pub duration: Option<DurationIn>,
}

#[allow(dead_code)] // documentation only
#[derive(ToSchema)]
pub struct BufferIn {
    pub before: Option<DurationIn>,
    pub after: Option<DurationIn>,
}

#[allow(dead_code)] // documentation only
#[derive(ToSchema)]
pub struct ModeIn {
    pub query_periods: Option<Vec<PeriodIn>>,
    /// 1 to 35; 14 when absent.
    pub days: Option<i64>,
}

/// What a template accepts; it may be saved incomplete and is checked
/// when a scheduling request uses it.
#[allow(dead_code)] // documentation only
#[derive(ToSchema)]
pub struct TemplateRequest {
    #[schema(value_type = Text, example = "Intro call")]
    pub name: String,
    /// An account `sub`, or `{"sub"}`.
    #[schema(value_type = Option<MemberIn>)]
    pub host: Option<String>,
    pub host_group: Option<GroupIn>,
    pub collaborator_groups: Option<Vec<GroupIn>>,
    pub event: Option<EventIn>,
    /// 1 to 1440 minutes.
    pub duration: Option<DurationIn>,
    pub buffer: Option<BufferIn>,
    pub start_interval: Option<DurationIn>,
    pub minimum_notice: Option<DurationIn>,
    #[schema(example = "Europe/London")]
    pub tzid: Option<String>,
    pub availability_mode: Option<ModeIn>,
}

/// The path of one template.
#[allow(dead_code)] // documentation: the handlers read `Path<String>`
#[derive(IntoParams)]
#[into_params(parameter_in = Path)]
pub struct TemplateSub {
    /// The template's `sub`.
    pub sub: String,
}

/// Create a scheduling template.
///
/// The template is the application's (its Organizational Unit's).
#[utoipa::path(post, path = "/v1/scheduling_templates", tag = "scheduling",
    security(("client_secret" = [])),
    request_body(content((TemplateRequest = "application/json"), (TemplateRequest = "application/x-www-form-urlencoded"))),
    responses((status = 200, description = "The template as stored.", body = TemplateBody), Problems))]
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

/// The application's scheduling templates.
#[utoipa::path(get, path = "/v1/scheduling_templates", tag = "scheduling",
    security(("client_secret" = [])),
    responses((status = 200, description = "Every live template.", body = TemplatesBody), Problems))]
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

/// One scheduling template.
#[utoipa::path(get, path = "/v1/scheduling_templates/{sub}", tag = "scheduling",
    security(("client_secret" = [])), params(TemplateSub),
    responses((status = 200, description = "The template.", body = TemplateBody), Problems))]
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

/// Replace a scheduling template's settings.
///
/// The whole template is given again; its `sub` stays.
#[utoipa::path(post, path = "/v1/scheduling_templates/{sub}", tag = "scheduling",
    security(("client_secret" = [])), params(TemplateSub),
    request_body(content((TemplateRequest = "application/json"), (TemplateRequest = "application/x-www-form-urlencoded"))),
    responses((status = 200, description = "The template as stored.", body = TemplateBody), Problems))]
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

/// Delete a scheduling template.
///
/// Answers 202 with an empty object.
#[utoipa::path(delete, path = "/v1/scheduling_templates/{sub}", tag = "scheduling",
    security(("client_secret" = [])), params(TemplateSub),
    responses((status = 202, description = "Deleted.", body = Accepted), Problems))]
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
    use utoipa_axum::routes;
    utoipa_axum::router::OpenApiRouter::new()
        .routes(routes!(create, list))
        .routes(routes!(read, update, delete))
}
