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
pub struct TemplateSubOut {
    pub sub: String,
}

/// `{"minutes": n}`.
#[allow(dead_code)] // documentation only
#[derive(ToSchema)]
pub struct TemplateMinutesOut {
    pub minutes: i64,
}

#[allow(dead_code)] // documentation only
#[derive(ToSchema)]
#[serde(untagged)]
pub enum TemplateRequiredOut {
    #[schema(example = "all")]
    All(String),
    AtLeast(i64),
}

#[allow(dead_code)] // documentation only
#[derive(ToSchema)]
pub struct TemplateGroupOut {
    pub name: Option<String>,
    pub members: Vec<TemplateSubOut>,
    pub required: TemplateRequiredOut,
}

#[allow(dead_code)] // documentation only
#[derive(ToSchema)]
pub struct TemplateLocationOut {
    pub description: String,
}

#[allow(dead_code)] // documentation only
#[derive(ToSchema)]
pub struct TemplateEventOut {
    pub summary: Option<String>,
    pub description: Option<String>,
    pub location: Option<TemplateLocationOut>,
}

#[allow(dead_code)] // documentation only
#[derive(ToSchema)]
pub struct TemplateBufferOut {
    pub before: Option<TemplateMinutesOut>,
    pub after: Option<TemplateMinutesOut>,
}

#[allow(dead_code)] // documentation only
#[derive(ToSchema)]
pub struct TemplatePeriodOut {
    #[schema(format = DateTime)]
    pub start: String,
    #[schema(format = DateTime)]
    pub end: String,
}

/// Query periods, or a window of days from now.
#[allow(dead_code)] // documentation only
#[derive(ToSchema)]
pub struct TemplateModeOut {
    pub query_periods: Option<Vec<TemplatePeriodOut>>,
    pub days: Option<i64>,
}

/// Someone a template invites to every meeting it books.
#[allow(dead_code)] // documentation only
#[derive(ToSchema)]
pub struct TemplateRecipientOut {
    pub email: String,
    pub display_name: Option<String>,
}

/// A scheduling template as answered.
#[allow(dead_code)] // documentation only
#[derive(ToSchema)]
pub struct TemplateOut {
    pub sub: String,
    pub name: String,
    pub host: Option<TemplateSubOut>,
    pub host_group: Option<TemplateGroupOut>,
    pub collaborator_groups: Vec<TemplateGroupOut>,
    /// Present when the template names recipients.
    pub recipients: Option<Vec<TemplateRecipientOut>>,
    pub event: TemplateEventOut,
    pub duration: Option<TemplateMinutesOut>,
    pub buffer: Option<TemplateBufferOut>,
    pub start_interval: Option<TemplateMinutesOut>,
    pub minimum_notice: Option<TemplateMinutesOut>,
    pub tzid: Option<String>,
    pub availability_mode: TemplateModeOut,
    /// Present (and `true`) when requests mail their link to the recipient.
    pub email_recipient: Option<bool>,
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
pub enum TemplateMemberIn {
    Sub(String),
    Member {
        #[schema(value_type = Text)]
        sub: String,
    },
}

/// Members: an array, or a single member standing for one (forms send
/// `members=…` without brackets).
#[allow(dead_code)] // documentation only
#[derive(ToSchema)]
#[serde(untagged)]
pub enum TemplateMembersIn {
    Many(Vec<TemplateMemberIn>),
    One(TemplateMemberIn),
}

#[allow(dead_code)] // documentation only
#[derive(ToSchema)]
pub struct TemplateGroupIn {
    #[schema(value_type = Option<Text>)]
    pub name: Option<String>,
    pub members: Option<TemplateMembersIn>,
    pub required: Option<RequiredIn>,
}

#[allow(dead_code)] // documentation only
#[derive(ToSchema)]
pub struct TemplateLocationIn {
    #[schema(value_type = Option<Text>)]
    pub description: Option<String>,
}

#[allow(dead_code)] // documentation only
#[derive(ToSchema)]
pub struct TemplateEventIn {
    #[schema(value_type = Option<Text>)]
    pub summary: Option<String>,
    #[schema(value_type = Option<Text>)]
    pub description: Option<String>,
    pub location: Option<TemplateLocationIn>,
    /// The older place of `duration`.
    pub duration: Option<DurationIn>,
}

#[allow(dead_code)] // documentation only
#[derive(ToSchema)]
pub struct TemplateBufferIn {
    pub before: Option<DurationIn>,
    pub after: Option<DurationIn>,
}

#[allow(dead_code)] // documentation only
#[derive(ToSchema)]
pub struct TemplateModeIn {
    pub query_periods: Option<Vec<PeriodIn>>,
    /// 1 to 35; 14 when absent.
    pub days: Option<i64>,
}

/// Invited to every meeting the template books, after the request's own
/// recipients; the request's caller names who picks the slot.
#[allow(dead_code)] // documentation only
#[derive(ToSchema)]
pub struct TemplateRecipientIn {
    #[schema(example = "marty@example.com")]
    pub email: String,
    #[schema(value_type = Option<Text>)]
    pub display_name: Option<String>,
}

/// What a template accepts; it may be saved incomplete and is checked
/// when a scheduling request uses it.
#[allow(dead_code)] // documentation only
#[derive(ToSchema)]
pub struct TemplateRequest {
    #[schema(value_type = Text, example = "Intro call")]
    pub name: String,
    /// An account `sub`, or `{"sub"}`.
    #[schema(value_type = Option<TemplateMemberIn>)]
    pub host: Option<String>,
    pub host_group: Option<TemplateGroupIn>,
    pub collaborator_groups: Option<Vec<TemplateGroupIn>>,
    /// At most 20.
    #[schema(max_items = 20)]
    pub recipients: Option<Vec<TemplateRecipientIn>>,
    pub event: Option<TemplateEventIn>,
    /// 1 to 1440 minutes.
    pub duration: Option<DurationIn>,
    pub buffer: Option<TemplateBufferIn>,
    pub start_interval: Option<DurationIn>,
    pub minimum_notice: Option<DurationIn>,
    #[schema(example = "Europe/London")]
    pub tzid: Option<String>,
    pub availability_mode: Option<TemplateModeIn>,
    /// Requests made from the template mail the recipient who picks their
    /// link at creation (when Convene sends mail).
    #[schema(value_type = Option<super::rules::Flag>)]
    pub email_recipient: Option<bool>,
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
