//! Real-Time Scheduling (contract §6): links made with the client secret
//! (as a bearer, or `client_id` + `client_secret` in the body), their
//! status by id or by token, disabling, and add-to-calendar links. The
//! page a link opens is `pages::rts`; booking is `domain::rts::book`.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use serde::Serialize;
use serde_json::{Value, json};
use utoipa::ToSchema;

use super::availability::{AvailabilityRequest, DurationIn, parse_query};
use super::openapi::Problems;
use super::rules::Text;

use crate::AppState;
use crate::auth::{AppAuth, client_app};
use crate::domain::rts::{self, LinkSpec, Target};
use crate::error::{ApiError, ApiResult, FieldError};
use crate::http::{Body, QueryInput};
use crate::input::{Errors, F};
use crate::time::to_ms;

pub fn routes() -> utoipa_axum::router::OpenApiRouter<AppState> {
    use utoipa_axum::routes;
    utoipa_axum::router::OpenApiRouter::new()
        .routes(routes!(create, by_token))
        .routes(routes!(by_id))
        .routes(routes!(disable))
        .routes(routes!(add_to_calendar))
        .routes(routes!(sequencing))
}

/// `event`: an upsert-event body without start and end.
#[allow(dead_code)] // documentation only
#[derive(ToSchema)]
pub struct LinkEventIn {
    #[schema(value_type = Option<Text>)]
    pub event_id: Option<String>,
    #[schema(value_type = Text)]
    pub summary: String,
    #[schema(value_type = Option<Text>)]
    pub description: Option<String>,
    pub tzid: Option<String>,
}

#[allow(dead_code)] // documentation only
#[derive(ToSchema)]
pub struct AttendeeIn {
    pub email: String,
    pub display_name: Option<String>,
}

#[allow(dead_code)] // documentation only
#[derive(ToSchema)]
pub struct TargetCalendarIn {
    pub sub: String,
    pub calendar_id: String,
    pub attendee: Option<AttendeeIn>,
}

#[allow(dead_code)] // documentation only
#[derive(ToSchema)]
pub struct UrlsIn {
    pub completed_url: Option<String>,
    pub no_times_suitable_url: Option<String>,
}

/// `POST /v1/real_time_scheduling`.
#[allow(dead_code)] // documentation only
#[derive(ToSchema)]
pub struct LinkRequest {
    /// Body credentials (instead of the bearer client secret).
    pub client_id: Option<String>,
    pub client_secret: Option<String>,
    pub event: LinkEventIn,
    pub availability: AvailabilityRequest,
    pub target_calendars: Option<Vec<TargetCalendarIn>>,
    pub tzid: Option<String>,
    pub minimum_notice: Option<DurationIn>,
    /// `default` or `single`.
    pub event_creation: Option<String>,
    pub callback_url: Option<String>,
    pub callback_urls: Option<UrlsIn>,
    pub redirect_urls: Option<UrlsIn>,
}

/// `POST /v1/add_to_calendar`.
#[allow(dead_code)] // documentation only
#[derive(ToSchema)]
pub struct AddToCalendarRequest {
    pub client_id: Option<String>,
    pub client_secret: Option<String>,
    /// With `start` and `end` (Times).
    #[schema(value_type = Object)]
    pub event: Value,
    pub target_calendars: Option<Vec<TargetCalendarIn>>,
    pub tzid: Option<String>,
    pub redirect_urls: Option<UrlsIn>,
    pub callback_urls: Option<UrlsIn>,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum LinkStatus {
    Open,
    Completed,
    Disabled,
}

#[allow(dead_code)] // documentation only
#[derive(ToSchema)]
pub struct LinkOut {
    pub real_time_scheduling_id: String,
    pub url: String,
    pub status: LinkStatus,
    /// The link's `event`; with `start` and `end` once completed.
    #[schema(value_type = Object)]
    pub event: Value,
}

#[allow(dead_code)] // documentation only
#[derive(ToSchema)]
pub struct LinkBody {
    pub real_time_scheduling: LinkOut,
    /// The link's URL again (C# reads it here).
    pub url: Option<String>,
}

#[allow(dead_code)] // documentation only
#[derive(ToSchema)]
pub struct UrlBody {
    pub url: String,
}

#[allow(dead_code)] // documentation only
#[derive(ToSchema)]
pub struct DisableRequest {
    /// Shown on the link's page; at most 500 characters.
    pub display_message: String,
}

/// Most calendars one link writes its event to.
const MAX_TARGETS: usize = 50;

/// A URL Convene will call or send a browser to.
fn web_url(f: &F<'_>, errs: &mut Errors) -> Option<String> {
    let s = f.str(errs)?;
    match reqwest::Url::parse(&s) {
        Ok(u) if matches!(u.scheme(), "http" | "https") && u.host_str().is_some() => Some(s),
        _ => {
            errs.add(&f.path, "invalid", "must be an http or https URL");
            None
        }
    }
}

/// `target_calendars`: calendars of accounts of the caller's unit.
async fn targets(
    state: &AppState,
    ou: &str,
    f: &F<'_>,
    errs: &mut Errors,
) -> ApiResult<Vec<Target>> {
    let mut out = Vec::new();
    let items = f.array(errs).unwrap_or_default();
    if items.len() > MAX_TARGETS {
        errs.add(
            &f.path,
            "too_many",
            format!("at most {MAX_TARGETS} target calendars"),
        );
        return Ok(out);
    }
    for t in items {
        let (Some(sub), Some(cal)) = (
            t.get("sub").req_str(errs),
            t.get("calendar_id").req_str(errs),
        ) else {
            continue;
        };
        let owned = match state.db.calendar(&cal).await? {
            Some(c) if c.account_id == sub => state
                .db
                .account(&sub)
                .await?
                .is_some_and(|a| a.organizational_unit_id == ou),
            _ => false,
        };
        if !owned {
            errs.add(
                &format!("{}.calendar_id", t.path),
                "not_recognized",
                "not a calendar of that account in this Organizational Unit",
            );
            continue;
        }
        let attendee = t.get("attendee");
        out.push(Target {
            sub,
            calendar_id: cal,
            attendee: attendee.v.filter(|a| a.is_object()).cloned(),
        });
    }
    Ok(out)
}

/// `event`: an object with a `summary`.
fn event(f: &F<'_>, errs: &mut Errors) -> Value {
    match f.v {
        Some(Value::Object(_)) => {
            f.get("summary").req_str(errs);
            f.get("event_id").str(errs);
            f.get("description").str(errs);
            let mut e = f.v.cloned().unwrap_or_default();
            // Start and end come from the booking.
            if let Value::Object(o) = &mut e {
                o.remove("start");
                o.remove("end");
            }
            e
        }
        _ => {
            errs.add("event", "required", "event is required");
            json!({})
        }
    }
}

/// The zone the link's times are shown and stored in.
fn zone(root: &F<'_>, errs: &mut Errors) -> String {
    for f in [root.get("tzid"), root.get("event").get("tzid")] {
        if f.present() {
            return f
                .tz(errs)
                .map(|(n, _)| n)
                .unwrap_or_else(|| "Etc/UTC".into());
        }
    }
    "Etc/UTC".into()
}

fn completed_url(root: &F<'_>, errs: &mut Errors) -> Option<String> {
    let cb = root.get("callback_urls").get("completed_url");
    if cb.present() {
        web_url(&cb, errs)
    } else if root.get("callback_url").present() {
        web_url(&root.get("callback_url"), errs)
    } else {
        None
    }
}

/// Field problems of the availability query, named as the body names them.
fn under(prefix: &str, e: ApiError) -> ApiError {
    match e {
        ApiError::Invalid(v) => ApiError::Invalid(
            v.into_iter()
                .map(|f| FieldError {
                    field: format!("{prefix}.{}", f.field),
                    ..f
                })
                .collect(),
        ),
        e => e,
    }
}

fn answer(state: &AppState, l: &convene_store::rts::RtsLink) -> ApiResult<Json<Value>> {
    let link = rts::link_json(state, l)?;
    let url = link["url"].clone();
    Ok(Json(json!({"real_time_scheduling": link, "url": url})))
}

/// Create a Real-Time Scheduling link (contract §6.1).
///
/// The link's page offers the times the `availability` query finds (from
/// now plus `minimum_notice`); picking one books it into `target_calendars`.
#[utoipa::path(post, path = "/v1/real_time_scheduling", tag = "real_time_scheduling",
    security(("client_secret" = []), ()),
    request_body(content((LinkRequest = "application/json"), (LinkRequest = "application/x-www-form-urlencoded"))),
    responses((status = 200, description = "The link.", body = LinkBody), Problems))]
#[tracing::instrument(skip_all)]
pub async fn create(
    State(state): State<AppState>,
    headers: HeaderMap,
    Body(body): Body,
) -> ApiResult<Json<Value>> {
    let app = client_app(&state, &headers, &body).await?;
    let ou = app.organizational_unit_id.clone();
    let root = F::root(&body);
    let mut errs = Errors::new();
    let ev = event(&root.get("event"), &mut errs);
    let tzid = zone(&root, &mut errs);
    let notice = root.get("minimum_notice").duration(&mut errs);
    let single = match root.get("event_creation").str(&mut errs).as_deref() {
        None | Some("default") => false,
        Some("single") => true,
        Some(_) => {
            errs.add(
                "event_creation",
                "invalid",
                "event_creation must be default or single",
            );
            false
        }
    };
    let completed = completed_url(&root, &mut errs);
    let no_times = web_url(
        &root.get("callback_urls").get("no_times_suitable_url"),
        &mut errs,
    );
    let redirect = web_url(&root.get("redirect_urls").get("completed_url"), &mut errs);
    let hour_format = root.get("formatting").get("hour_format").str(&mut errs);
    let targets = targets(&state, &ou, &root.get("target_calendars"), &mut errs).await?;
    let availability = body.get("availability").filter(|a| a.is_object());
    if availability.is_none() {
        errs.add("availability", "required", "availability is required");
    }
    errs.finish()?;
    let q = parse_query(&state.db, &ou, availability.unwrap_or(&Value::Null))
        .await
        .map_err(|e| under("availability", e))?;
    if q.query_slots.is_some() {
        return Err(ApiError::field(
            "availability.query_slots",
            "not_supported",
            "a link offers times from query_periods or available_periods",
        ));
    }
    let (groups, periods) = LinkSpec::from_query(&q);
    let duration_min = q.duration.as_mins();
    let spec = LinkSpec {
        groups,
        periods,
        duration_min,
        before_min: q.before.as_mins(),
        after_min: q.after.as_mins(),
        // Without a start interval, times fall on the half hour when the
        // meeting fits it, on the quarter hour otherwise (as requests do).
        start_interval_min: q
            .start_interval
            .map(|d| d.as_mins())
            .unwrap_or(if duration_min % 30 == 0 { 30 } else { 15 }),
        minimum_notice_min: notice.map(|d| d.as_mins()).unwrap_or(0).max(0),
        tzid,
        event: ev,
        targets,
        single_event: single,
        completed_url: completed,
        redirect_url: redirect,
        hour_format,
        steps: Vec::new(),
        sequence_id: None,
        no_times_suitable_url: no_times,
    };
    let link = rts::create(&state, &app.id, &ou, "scheduling", &spec).await?;
    answer(&state, &link)
}

/// The application's link, or 404 (another application's link is not
/// told apart from a missing one).
fn own_link(
    app_id: &str,
    l: Option<convene_store::rts::RtsLink>,
) -> ApiResult<convene_store::rts::RtsLink> {
    l.filter(|l| l.application_id == app_id)
        .ok_or_else(|| ApiError::not_found("no such Real-Time Scheduling link"))
}

/// A link's status by its token (the last segment of its URL).
#[utoipa::path(get, path = "/v1/real_time_scheduling", tag = "real_time_scheduling",
    security(("client_secret" = [])),
    params(("token" = String, Query, description = "The link's token.")),
    responses((status = 200, description = "The link.", body = LinkBody), Problems))]
#[tracing::instrument(skip_all, fields(app = %auth.app.id))]
pub async fn by_token(
    State(state): State<AppState>,
    auth: AppAuth,
    QueryInput(q): QueryInput,
) -> ApiResult<Json<Value>> {
    let token = q.get("token").and_then(Value::as_str).unwrap_or("");
    if token.is_empty() {
        return Err(ApiError::field("token", "required", "token is required"));
    }
    let l = state
        .db
        .rts_link_by_token_hash(&crate::ids::digest(token))
        .await?;
    let l = own_link(&auth.app.id, l)?;
    answer(&state, &l)
}

/// A link's status by its id.
#[utoipa::path(get, path = "/v1/real_time_scheduling/{real_time_scheduling_id}", tag = "real_time_scheduling",
    security(("client_secret" = [])),
    params(("real_time_scheduling_id" = String, Path, description = "The link.")),
    responses((status = 200, description = "The link.", body = LinkBody), Problems))]
#[tracing::instrument(skip_all, fields(app = %auth.app.id))]
pub async fn by_id(
    State(state): State<AppState>,
    auth: AppAuth,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    let l = state.db.rts_link(&id).await?;
    let l = own_link(&auth.app.id, l)?;
    answer(&state, &l)
}

/// Disable a link not yet completed; its page shows `display_message`.
#[utoipa::path(post, path = "/v1/real_time_scheduling/{real_time_scheduling_id}/disable", tag = "real_time_scheduling",
    security(("client_secret" = [])),
    params(("real_time_scheduling_id" = String, Path, description = "The link.")),
    request_body(content((DisableRequest = "application/json"), (DisableRequest = "application/x-www-form-urlencoded"))),
    responses((status = 200, description = "The link, disabled.", body = LinkBody), Problems))]
#[tracing::instrument(skip_all, fields(app = %auth.app.id))]
pub async fn disable(
    State(state): State<AppState>,
    auth: AppAuth,
    Path(id): Path<String>,
    Body(body): Body,
) -> ApiResult<Json<Value>> {
    let l = state.db.rts_link(&id).await?;
    let l = own_link(&auth.app.id, l)?;
    let root = F::root(&body);
    let mut errs = Errors::new();
    let msg = root.get("display_message").req_str(&mut errs);
    if msg.as_ref().is_some_and(|m| m.chars().count() > 500) {
        errs.add("display_message", "too_long", "at most 500 characters");
    }
    errs.finish()?;
    let next = rts::disable(&state, &l, msg.as_deref().unwrap_or("")).await?;
    answer(&state, &next)
}

/// An add-to-calendar link (contract §6.5): its page adds the event, at
/// its own `start` and `end`, to every target calendar.
#[utoipa::path(post, path = "/v1/add_to_calendar", tag = "real_time_scheduling",
    security(("client_secret" = []), ()),
    request_body(content((AddToCalendarRequest = "application/json"), (AddToCalendarRequest = "application/x-www-form-urlencoded"))),
    responses((status = 200, description = "The link.", body = UrlBody), Problems))]
#[tracing::instrument(skip_all)]
pub async fn add_to_calendar(
    State(state): State<AppState>,
    headers: HeaderMap,
    Body(body): Body,
) -> ApiResult<Json<Value>> {
    let app = client_app(&state, &headers, &body).await?;
    let ou = app.organizational_unit_id.clone();
    let root = F::root(&body);
    let mut errs = Errors::new();
    let ef = root.get("event");
    let start = ef.get("start").req_time(&mut errs);
    let end = ef.get("end").req_time(&mut errs);
    let ev = event(&ef, &mut errs);
    let tzid = zone(&root, &mut errs);
    let completed = completed_url(&root, &mut errs);
    let redirect = web_url(&root.get("redirect_urls").get("completed_url"), &mut errs);
    let targets = targets(&state, &ou, &root.get("target_calendars"), &mut errs).await?;
    if let (Some(s), Some(e)) = (start, end) {
        if e <= s {
            errs.add("event.end", "invalid", "end must be after start");
        } else if e <= state.now() {
            errs.add("event.end", "in_the_past", "the event has already ended");
        }
    }
    errs.finish()?;
    let (Some(s), Some(e)) = (start, end) else {
        return Err(ApiError::field(
            "event.start",
            "required",
            "start is required",
        ));
    };
    let duration_min = e.duration_since(s).as_mins().max(1);
    let spec = LinkSpec {
        groups: Vec::new(),
        periods: vec![(to_ms(s), to_ms(s) + duration_min * 60_000)],
        duration_min,
        before_min: 0,
        after_min: 0,
        start_interval_min: duration_min,
        minimum_notice_min: 0,
        tzid,
        event: ev,
        targets,
        single_event: false,
        completed_url: completed,
        redirect_url: redirect,
        hour_format: None,
        steps: Vec::new(),
        sequence_id: None,
        no_times_suitable_url: None,
    };
    let link = rts::create(&state, &app.id, &ou, "add_to_calendar", &spec).await?;
    Ok(Json(json!({"url": rts::url(&state, &link.id)})))
}

/// `POST /v1/real_time_sequencing`.
#[allow(dead_code)] // documentation only
#[derive(ToSchema)]
pub struct SequencingRequest {
    pub client_id: Option<String>,
    pub client_secret: Option<String>,
    pub event: LinkEventIn,
    /// `{"sequence": [steps of an availability query, each with its
    /// `sequence_id`, `ordinal` and optional `event`], "query_periods" |
    /// "available_periods"}`.
    #[schema(value_type = Object)]
    pub availability: Value,
    pub target_calendars: Option<Vec<TargetCalendarIn>>,
    pub tzid: Option<String>,
    pub minimum_notice: Option<DurationIn>,
    pub callback_urls: Option<UrlsIn>,
    pub redirect_urls: Option<UrlsIn>,
}

/// Most steps one sequencing link books.
const MAX_STEPS: usize = 5;

/// A Real-Time Sequencing link (contract §6.5): its page offers sequences
/// of meetings (each step at its first free time after the one before) and
/// books every step of the chosen one.
#[utoipa::path(post, path = "/v1/real_time_sequencing", tag = "real_time_scheduling",
    security(("client_secret" = []), ()),
    request_body(content((SequencingRequest = "application/json"), (SequencingRequest = "application/x-www-form-urlencoded"))),
    responses((status = 200, description = "The link.", body = UrlBody), Problems))]
#[tracing::instrument(skip_all)]
pub async fn sequencing(
    State(state): State<AppState>,
    headers: HeaderMap,
    Body(body): Body,
) -> ApiResult<Json<Value>> {
    let app = client_app(&state, &headers, &body).await?;
    let ou = app.organizational_unit_id.clone();
    let root = F::root(&body);
    let mut errs = Errors::new();
    let ev = event(&root.get("event"), &mut errs);
    let tzid = zone(&root, &mut errs);
    let notice = root.get("minimum_notice").duration(&mut errs);
    let completed = completed_url(&root, &mut errs);
    let redirect = web_url(&root.get("redirect_urls").get("completed_url"), &mut errs);
    let targets = targets(&state, &ou, &root.get("target_calendars"), &mut errs).await?;
    let av = root.get("availability");
    let steps = av.get("sequence").array(&mut errs).unwrap_or_default();
    if steps.is_empty() || steps.len() > MAX_STEPS {
        errs.add(
            "availability.sequence",
            "invalid",
            format!("availability.sequence must hold 1 to {MAX_STEPS} steps"),
        );
    }
    if steps.iter().any(|s| !s.v.is_some_and(Value::is_object)) {
        errs.add(
            "availability.sequence",
            "invalid",
            "each step must be an object",
        );
    }
    errs.finish()?;
    let global = ["query_periods", "available_periods"]
        .iter()
        .find_map(|k| body["availability"].get(*k).filter(|v| !v.is_null()))
        .cloned();
    let mut parsed: Vec<(i64, LinkSpec)> = Vec::new();
    for (i, step) in steps.iter().enumerate() {
        let mut b = step.v.cloned().unwrap_or_default();
        if b.get("query_periods").is_none_or(Value::is_null)
            && b.get("available_periods").is_none_or(Value::is_null)
            && let Some(g) = &global
        {
            b["query_periods"] = g.clone();
        }
        let q = parse_query(&state.db, &ou, &b)
            .await
            .map_err(|e| under(&format!("availability.sequence[{i}]"), e))?;
        if q.query_slots.is_some() {
            return Err(ApiError::field(
                format!("availability.sequence[{i}].query_slots"),
                "not_supported",
                "a step offers times from query_periods or available_periods",
            ));
        }
        let sequence_id = b.get("sequence_id").cloned().unwrap_or(json!(i));
        // A step's own event fields win over the link's.
        let mut step_event = ev.clone();
        if let (Value::Object(to), Some(Value::Object(from))) = (&mut step_event, b.get("event")) {
            for (k, v) in from {
                to.insert(k.clone(), v.clone());
            }
        }
        if b["event"]["event_id"].is_null() {
            let base = ev["event_id"].as_str().unwrap_or("sequence");
            let sid = sequence_id
                .as_str()
                .map(str::to_string)
                .unwrap_or_else(|| sequence_id.to_string());
            step_event["event_id"] = json!(format!("{base}-{sid}"));
        }
        let (groups, periods) = LinkSpec::from_query(&q);
        let duration_min = q.duration.as_mins();
        let ordinal = b.get("ordinal").and_then(Value::as_i64).unwrap_or(i as i64);
        parsed.push((
            ordinal,
            LinkSpec {
                groups,
                periods,
                duration_min,
                before_min: q.before.as_mins(),
                after_min: q.after.as_mins(),
                start_interval_min: q
                    .start_interval
                    .map(|d| d.as_mins())
                    .unwrap_or(if duration_min % 30 == 0 { 30 } else { 15 }),
                minimum_notice_min: notice.map(|d| d.as_mins()).unwrap_or(0).max(0),
                tzid: tzid.clone(),
                event: step_event,
                targets: targets.clone(),
                single_event: false,
                completed_url: None,
                redirect_url: None,
                hour_format: None,
                steps: Vec::new(),
                sequence_id: Some(sequence_id),
                no_times_suitable_url: None,
            },
        ));
    }
    parsed.sort_by_key(|p| p.0);
    let steps: Vec<LinkSpec> = parsed.into_iter().map(|p| p.1).collect();
    let first = &steps[0];
    let spec = LinkSpec {
        groups: Vec::new(),
        // The link lives while its first step can still start.
        periods: first.periods.clone(),
        duration_min: first.duration_min,
        before_min: 0,
        after_min: 0,
        start_interval_min: first.start_interval_min,
        minimum_notice_min: first.minimum_notice_min,
        tzid,
        event: ev,
        targets,
        single_event: false,
        completed_url: completed,
        redirect_url: redirect,
        hour_format: None,
        steps,
        sequence_id: None,
        no_times_suitable_url: None,
    };
    let link = rts::create(&state, &app.id, &ou, "sequencing", &spec).await?;
    Ok(Json(json!({"url": rts::url(&state, &link.id)})))
}
