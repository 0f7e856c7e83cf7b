//! Scheduling requests (contract §4; seed 003): create (from a template or
//! directly), query, cancel, and the booking that the recipient pages call.

use std::collections::HashSet;

use axum::extract::State;
use axum::response::Response;
use convene_store::scheduling::{Request, RequestState};
use serde_json::{Value, json};
use utoipa::ToSchema;

use super::availability::DurationIn;
use super::openapi::Problems;
use super::rules::{Accepted, Flag, Text};
use super::templates::{
    TemplateBufferIn, TemplateEventIn, TemplateGroupIn, TemplateGroupOut, TemplateMemberIn,
    TemplateMinutesOut, TemplateModeIn, TemplateSubOut,
};

use crate::AppState;
use crate::auth::AppAuth;
use crate::error::{ApiError, ApiResult, FieldError};
use crate::http::Body;
use crate::ids::{digest, new_id};
use crate::input::{Errors, F};

pub use crate::domain::requests::*;

pub fn routes() -> utoipa_axum::router::OpenApiRouter<AppState> {
    use utoipa_axum::routes;
    utoipa_axum::router::OpenApiRouter::new()
        .routes(routes!(create))
        .routes(routes!(query))
        .routes(routes!(cancel))
}

// A request's representation is shared with the notifications and the
// dashboard (`domain::requests::request_json`), so it stays a `Value`;
// these types mirror it for the document.

/// `{"time", "tzid"}`.
#[allow(dead_code)] // documentation only
#[derive(ToSchema)]
pub struct ZonedTimeOut {
    #[schema(format = DateTime)]
    pub time: String,
    pub tzid: String,
}

#[allow(dead_code)] // documentation only
#[derive(ToSchema)]
pub struct RequestEventOut {
    pub summary: String,
    /// The booked slot, once the request is complete.
    pub start: Option<ZonedTimeOut>,
    pub end: Option<ZonedTimeOut>,
    pub participants: Option<Vec<TemplateSubOut>>,
}

/// What the recipient may do, as links.
#[allow(dead_code)] // documentation only
#[derive(ToSchema)]
pub struct RecipientOperationsOut {
    pub view_url: String,
    pub reschedule_url: Option<String>,
    pub decline_url: Option<String>,
}

#[allow(dead_code)] // documentation only
#[derive(ToSchema)]
pub struct RecipientOut {
    pub email: String,
    pub slot_selector: bool,
    pub display_name: Option<String>,
    /// On the slot selector.
    pub select_url: Option<String>,
}

#[allow(dead_code)] // documentation only
#[derive(ToSchema)]
pub struct RequestBufferOut {
    pub before: TemplateMinutesOut,
    pub after: TemplateMinutesOut,
}

#[allow(dead_code)] // documentation only
#[derive(ToSchema)]
#[schema(rename_all = "snake_case")]
pub enum SlotSelection {
    Pending,
    PendingRescheduling,
    Complete,
    Declined,
    Cancelled,
    Expired,
}

/// A scheduling request as answered.
#[allow(dead_code)] // documentation only
#[derive(ToSchema)]
pub struct RequestOut {
    pub scheduling_request_id: String,
    pub slot_selection: SlotSelection,
    pub primary_select_url: String,
    pub dashboard_url: String,
    pub summary: String,
    pub duration: TemplateMinutesOut,
    pub recipient_operations: RecipientOperationsOut,
    pub recipients: Vec<RecipientOut>,
    pub collaborator_groups: Vec<TemplateGroupOut>,
    pub event: RequestEventOut,
    /// One host, or a host group (whichever the request was made with).
    pub host: Option<TemplateSubOut>,
    pub host_group: Option<TemplateGroupOut>,
    /// When made from a template.
    pub template: Option<TemplateSubOut>,
    pub buffer: Option<RequestBufferOut>,
}

#[allow(dead_code)] // documentation only
#[derive(ToSchema)]
pub struct RequestBody {
    pub scheduling_request: RequestOut,
}

#[allow(dead_code)] // documentation only
#[derive(ToSchema)]
pub struct RequestsBody {
    pub scheduling_requests: Vec<RequestBody>,
}

#[allow(dead_code)] // documentation only
#[derive(ToSchema)]
pub struct RecipientIn {
    #[schema(example = "marty@example.com")]
    pub email: String,
    #[schema(value_type = Option<Text>)]
    pub display_name: Option<String>,
    /// Exactly one recipient picks the slot.
    #[schema(value_type = Option<Flag>)]
    pub slot_selector: Option<bool>,
}

#[allow(dead_code)] // documentation only
#[derive(ToSchema)]
pub struct TemplateRef {
    #[schema(value_type = Text)]
    pub sub: String,
}

/// A scheduling request: from a template (`template.sub`), or directly
/// with the template's settings in the body.
#[allow(dead_code)] // documentation only
#[derive(ToSchema)]
pub struct CreateRequest {
    pub recipients: Vec<RecipientIn>,
    pub template: Option<TemplateRef>,
    #[schema(value_type = Option<TemplateMemberIn>)]
    pub host: Option<String>,
    pub host_group: Option<TemplateGroupIn>,
    pub collaborator_groups: Option<Vec<TemplateGroupIn>>,
    pub event: Option<TemplateEventIn>,
    pub duration: Option<DurationIn>,
    pub buffer: Option<TemplateBufferIn>,
    pub start_interval: Option<DurationIn>,
    pub minimum_notice: Option<DurationIn>,
    #[schema(example = "Europe/London")]
    pub tzid: Option<String>,
    pub availability_mode: Option<TemplateModeIn>,
    /// Mail the recipient who picks their link now (when Convene sends
    /// mail); the template's setting when absent.
    #[schema(value_type = Option<Flag>)]
    pub email_recipient: Option<bool>,
}

/// Ids: an array, or one id standing for one (forms send `ids=…`
/// without brackets).
#[allow(dead_code)] // documentation only
#[derive(ToSchema)]
#[serde(untagged)]
pub enum IdsIn {
    Many(Vec<Text>),
    One(Text),
}

#[allow(dead_code)] // documentation only
#[derive(ToSchema)]
pub struct QueryRequest {
    /// At most 100; unknown ids are left out of the answer.
    pub scheduling_request_ids: IdsIn,
}

/// In a form every value is text, `true` included.
#[allow(dead_code)] // documentation only
#[derive(ToSchema)]
#[serde(untagged)]
pub enum FormScalar {
    Text(Text),
    Bool(bool),
}

#[allow(dead_code)] // documentation only
#[derive(ToSchema)]
#[serde(untagged)]
pub enum FormIdsIn {
    Many(Vec<FormScalar>),
    One(FormScalar),
}

/// [`QueryRequest`] as a form.
#[allow(dead_code)] // documentation only
#[derive(ToSchema)]
pub struct QueryForm {
    pub scheduling_request_ids: FormIdsIn,
}

#[allow(dead_code)] // documentation only
#[derive(ToSchema)]
pub struct CancelRequest {
    #[schema(value_type = Text)]
    pub scheduling_request_id: String,
}

fn parse_recipients(root: &F<'_>, errs: &mut Errors) -> Vec<Recipient> {
    let f = root.get("recipients");
    let Some(items) = f.array(errs) else {
        errs.add("recipients", "required", "recipients must be specified");
        return Vec::new();
    };
    if items.is_empty() {
        errs.add("recipients", "required", "recipients must be specified");
        return Vec::new();
    }
    let mut out = Vec::new();
    for r in items {
        let email = r.get("email").req_str(errs);
        if email
            .as_ref()
            .is_some_and(|e| !crate::domain::mail::valid_address(e))
        {
            errs.add(
                &format!("{}.email", r.path),
                "invalid",
                "email must be an email address",
            );
        }
        let display_name = r.get("display_name").str(errs);
        let slot_selector = r.get("slot_selector").bool(errs).unwrap_or(false);
        out.push(Recipient {
            email: email.unwrap_or_default(),
            display_name,
            slot_selector,
        });
    }
    if out.iter().filter(|r| r.slot_selector).count() != 1 {
        errs.add(
            "recipients",
            "slot_selector_required",
            "A single slot_selector must be specified",
        );
    }
    out
}

/// Create a scheduling request.
///
/// From a template (`template.sub`) or directly with the settings in the
/// body; the recipients get a link to pick a slot. Template problems come
/// with the dashboard URL where an admin fixes the template.
#[utoipa::path(post, path = "/v1/scheduling_requests", tag = "scheduling",
    security(("client_secret" = [])),
    request_body(content((CreateRequest = "application/json"), (CreateRequest = "application/x-www-form-urlencoded"))),
    responses((status = 200, description = "The request.", body = RequestBody), Problems))]
#[tracing::instrument(skip_all, fields(app = %auth.app.id))]
pub async fn create(
    State(state): State<AppState>,
    auth: AppAuth,
    Body(body): Body,
) -> ApiResult<Response> {
    let ou = auth.app.organizational_unit_id.clone();
    let root = F::root(&body);
    let mut errs = Errors::new();
    let recipients = parse_recipients(&root, &mut errs);
    let mut problems: Vec<FieldError> = Vec::new();
    let template_sub = root.get("template").get("sub").str(&mut errs);
    let impersonated = auth.account.as_ref().map(|a| a.id.clone());
    let mut email_recipient = root.get("email_recipient").bool(&mut errs);
    let resolved = if let Some(sub) = &template_sub {
        match state.db.template(&ou, sub).await? {
            Some(t) if !t.deleted => {
                let tv: Value = serde_json::from_str(&t.body_json).unwrap_or_else(|_| json!({}));
                // The request's own setting wins over its template's.
                email_recipient = email_recipient.or(tv["email_recipient"].as_bool());
                let mut fail = |k: &str, d: &str| problems.push(template_error(&state, sub, k, d));
                resolve(&state, &ou, &tv, impersonated.as_deref(), &mut fail).await?
            }
            _ => {
                problems.push(template_error(
                    &state,
                    sub,
                    "not_recognized",
                    "template not recognized",
                ));
                None
            }
        }
    } else if root.get("template").present() {
        errs.add("template.sub", "required", "template.sub is required");
        None
    } else {
        // The direct form: the same settings in the body.
        let norm = match super::templates::normalize(&json!({
            "name": "direct",
            "host": body.get("host"), "host_group": body.get("host_group"),
            "collaborator_groups": body.get("collaborator_groups"), "event": body.get("event"),
            "duration": body.get("duration").filter(|v| !v.is_null()).or_else(|| body.get("event").and_then(|e| e.get("duration"))),
            "buffer": body.get("buffer"), "start_interval": body.get("start_interval"),
            "minimum_notice": body.get("minimum_notice"), "tzid": body.get("tzid"),
            "availability_mode": body.get("availability_mode"),
        })) {
            Ok(n) => n,
            Err(ApiError::Invalid(mut e)) => {
                errs.0.append(&mut e);
                json!({})
            }
            Err(e) => return Err(e),
        };
        if root
            .get("event")
            .get("summary")
            .str(&mut Errors::new())
            .is_none_or(|s| s.trim().is_empty())
        {
            errs.add("event.summary", "required", "event.summary is required");
        }
        let mut fail = |k: &str, d: &str| {
            let field = match k {
                "host.required" => "host",
                "host.not_recognized" => "host.sub",
                "host_group.must_not_be_empty" => "host_group.members",
                k if k.starts_with("collaborator_groups") => "collaborator_groups",
                "placeholders_not_supported" => "event",
                k if k.starts_with("availability_mode") => "availability_mode.query_periods",
                _ => "participants",
            };
            problems.push(FieldError {
                field: field.into(),
                key: format!("errors.{k}"),
                description: d.into(),
                dashboard_url: None,
            });
        };
        if norm.is_object() && !norm.as_object().is_some_and(|m| m.is_empty()) {
            resolve(&state, &ou, &norm, impersonated.as_deref(), &mut fail).await?
        } else {
            None
        }
    };
    errs.0.extend(problems);
    errs.finish()?;
    let Some(res) = resolved else {
        return Err(ApiError::field(
            "template.sub",
            "required",
            "a template or host is required",
        ));
    };
    let mut spec = res.spec_base;
    spec.host_kind = res.host_kind;
    spec.host = res.host;
    spec.collaborator_groups = res.groups;
    // The caller's recipients first, then the template's; a person the
    // caller already names is not invited twice.
    let from_template = std::mem::take(&mut spec.recipients);
    let mut recipients = recipients;
    for rc in from_template {
        if !recipients
            .iter()
            .any(|c| c.email.eq_ignore_ascii_case(&rc.email))
        {
            recipients.push(rc);
        }
    }
    spec.recipients = recipients;
    let now = state.now_ms();
    let id = new_id("srq");
    let token = state.links.token("srq", &id);
    let r = Request {
        id: id.clone(),
        application_id: auth.app.id.clone(),
        organizational_unit_id: ou,
        template_id: template_sub,
        state: RequestState::Pending,
        token_hash: digest(&token),
        spec_json: serde_json::to_string(&spec).expect("serializable"),
        booking_json: None,
        history_json: serde_json::to_string(&[HistoryItem {
            at_ms: now,
            state: RequestState::Pending.to_string(),
            note: "created".into(),
        }])
        .expect("serializable"),
        window_end_ms: spec.periods.iter().map(|p| p.1).max().unwrap_or(now),
        created_ms: now,
        updated_ms: now,
    };
    crate::domain::requests::create(&state, &r, email_recipient.unwrap_or(false)).await?;
    Ok(super::ok(
        json!({ "scheduling_request": request_json(&state, &r)? }),
    ))
}

async fn owned_request(state: &AppState, auth: &AppAuth, id: &str) -> ApiResult<Option<Request>> {
    Ok(state
        .db
        .request(id)
        .await?
        .filter(|r| r.organizational_unit_id == auth.app.organizational_unit_id))
}

/// Read scheduling requests by id.
///
/// Each is brought up to date (expired when its window has passed) first.
#[utoipa::path(post, path = "/v1/scheduling_requests/query", tag = "scheduling",
    security(("client_secret" = [])),
    request_body(content((QueryRequest = "application/json"), (QueryForm = "application/x-www-form-urlencoded"))),
    responses((status = 200, description = "The requests found.", body = RequestsBody), Problems))]
#[tracing::instrument(skip_all, fields(app = %auth.app.id))]
pub async fn query(
    State(state): State<AppState>,
    auth: AppAuth,
    Body(body): Body,
) -> ApiResult<Response> {
    let root = F::root(&body);
    let mut errs = Errors::new();
    let ids = root.get("scheduling_request_ids").str_array(&mut errs);
    if ids.as_ref().is_none_or(|i| i.is_empty()) {
        errs.add(
            "scheduling_request_ids",
            "required",
            "scheduling_request_ids is required",
        );
    }
    if ids.as_ref().is_some_and(|i| i.len() > 100) {
        errs.add("scheduling_request_ids", "too_many", "at most 100 ids");
    }
    errs.finish()?;
    let mut out = Vec::new();
    let mut seen = HashSet::new();
    for id in ids.unwrap_or_default() {
        if !seen.insert(id.clone()) {
            continue;
        }
        // Unknown ids (or another unit's) are left out, not errors.
        if let Some(r) = owned_request(&state, &auth, &id).await? {
            let r = refresh(&state, r).await?;
            out.push(json!({ "scheduling_request": request_json(&state, &r)? }));
        }
    }
    Ok(super::ok(json!({ "scheduling_requests": out })))
}

/// Cancel a scheduling request.
///
/// Booked events are removed; cancelling twice is no error, an expired
/// request is (422). Answers 202 with an empty object.
#[utoipa::path(post, path = "/v1/scheduling_requests/cancel", tag = "scheduling",
    security(("client_secret" = [])),
    request_body(content((CancelRequest = "application/json"), (CancelRequest = "application/x-www-form-urlencoded"))),
    responses((status = 202, description = "Cancelled.", body = Accepted), Problems))]
#[tracing::instrument(skip_all, fields(app = %auth.app.id))]
pub async fn cancel(
    State(state): State<AppState>,
    auth: AppAuth,
    Body(body): Body,
) -> ApiResult<Response> {
    let root = F::root(&body);
    let mut errs = Errors::new();
    let id = root.get("scheduling_request_id").req_str(&mut errs);
    errs.finish()?;
    let id = id.unwrap_or_default();
    let r = owned_request(&state, &auth, &id).await?.ok_or_else(|| {
        ApiError::field(
            "scheduling_request_id",
            "not_found",
            "no such scheduling request",
        )
    })?;
    // A request whose window has passed is expired, not cancellable.
    let r = refresh(&state, r).await?;
    match r.state.as_str() {
        "cancelled" => {}
        "expired" => {
            return Err(ApiError::field(
                "scheduling_request_id",
                "invalid",
                "the request has expired",
            ));
        }
        _ => {
            cancel_request(
                &state,
                &r,
                "cancelled through the API",
                "scheduling_request_cancelled",
            )
            .await?;
        }
    }
    Ok(super::accepted())
}
