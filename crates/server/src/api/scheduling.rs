//! Scheduling requests (contract §4; seed 003): create (from a template or
//! directly), query, cancel, and the booking that the recipient pages call.

use std::collections::HashSet;

use axum::extract::State;
use axum::response::Response;
use axum::routing::post;
use convene_store::scheduling::{Request, RequestState};
use serde_json::{Value, json};

use crate::AppState;
use crate::auth::AppAuth;
use crate::error::{ApiError, ApiResult, FieldError};
use crate::http::Body;
use crate::ids::{digest, new_id};
use crate::input::{Errors, F};

pub use crate::domain::requests::*;

pub const ROUTES: &[(&str, &str, &str)] = &[
    (
        "post",
        "/v1/scheduling_requests",
        "Create a scheduling request, from a template (template.sub) or directly.",
    ),
    (
        "post",
        "/v1/scheduling_requests/query",
        "Read scheduling requests by id.",
    ),
    (
        "post",
        "/v1/scheduling_requests/cancel",
        "Cancel a scheduling request (202); booked events are removed.",
    ),
    (
        "post",
        "/v1/scheduling_templates",
        "Create a scheduling template.",
    ),
    (
        "get",
        "/v1/scheduling_templates",
        "List the Organizational Unit's templates.",
    ),
    ("get", "/v1/scheduling_templates/{sub}", "Read a template."),
    (
        "post",
        "/v1/scheduling_templates/{sub}",
        "Replace a template's settings.",
    ),
    (
        "delete",
        "/v1/scheduling_templates/{sub}",
        "Delete a template (202).",
    ),
    (
        "get",
        "/rts/{token}",
        "Recipient page: the request and its slots (also ?reschedule=true, ?decline=true).",
    ),
    (
        "post",
        "/rts/{token}",
        "Recipient form: choose a slot (field `slot`), reschedule or decline.",
    ),
];

pub fn routes() -> utoipa_axum::router::OpenApiRouter<AppState> {
    utoipa_axum::router::OpenApiRouter::new()
        .route("/v1/scheduling_requests", post(create))
        .route("/v1/scheduling_requests/query", post(query))
        .route("/v1/scheduling_requests/cancel", post(cancel))
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
        if email.as_ref().is_some_and(|e| !e.contains('@')) {
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
    let resolved = if let Some(sub) = &template_sub {
        match state.db.template(&ou, sub).await? {
            Some(t) if !t.deleted => {
                let tv: Value = serde_json::from_str(&t.body_json).unwrap_or_else(|_| json!({}));
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
    state.db.insert_request(&r).await?;
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
