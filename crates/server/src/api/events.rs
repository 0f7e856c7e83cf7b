//! Events: upsert, delete, bulk delete, read and free/busy (contract §7.2–§7.5).

use axum::Json;
use axum::extract::{Path, State};
use axum::response::Response;
use convene_store::{Event, EventFilter};
use jiff::Timestamp;
use jiff::tz::TimeZone;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use utoipa::{IntoParams, ToSchema};

use super::openapi::Problems;

use super::calendars::owned;
use crate::auth::AccountAuth;
use crate::error::{ApiError, ApiResult};
use crate::http::{Body, QueryInput};
use crate::ids::new_id;
use crate::input::{Errors, EventTime, F};
use crate::time::{fmt_ms, from_ms, parse_date, parse_time, to_ms};
use crate::{AppState, now_ms, tz};

/// What a 202 answer carries (`super::accepted()`): an empty object.
#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct Accepted {}

/// A boolean as the lenient input reads it: `true`/`false`, their string
/// spellings (forms send `True`, `1`, `on`…) or a number (0 is false).
#[allow(dead_code)] // documentation: `F::bool` reads it
#[derive(Deserialize, ToSchema)]
#[serde(untagged)]
pub enum Flag {
    Bool(bool),
    Number(i64),
    Text(FlagWord),
}

/// The string spellings of [`Flag`] (any letter case is read).
#[allow(dead_code, non_camel_case_types)]
#[derive(Deserialize, ToSchema)]
pub enum FlagWord {
    #[serde(rename = "true")]
    r#true,
    #[serde(rename = "false")]
    r#false,
    True,
    False,
    #[serde(rename = "1")]
    One,
    #[serde(rename = "0")]
    Zero,
    yes,
    no,
    on,
    off,
    #[serde(rename = "")]
    Empty,
}

/// A start or end as clients give it: a Time (`2030-01-07T09:00:00Z`), a
/// Date (`2030-01-07`, an all-day event) or a Time with its zone.
#[allow(dead_code)] // documentation: the handler walks the body with `F`
#[derive(Deserialize, ToSchema)]
#[serde(untagged)]
pub enum EventTimeIn {
    #[schema(format = DateTime, example = "2030-01-07T09:00:00Z")]
    Time(String),
    #[schema(format = Date, example = "2030-01-07")]
    Date(String),
    Zoned {
        #[schema(example = "2030-01-07T09:00:00Z")]
        time: String,
        #[schema(example = "Europe/London")]
        tzid: Option<String>,
    },
}

/// A start or end as answered: a Time (UTC), a Date (all-day events), or
/// with `localized_times` the local time with offset and its zone.
#[allow(dead_code)] // documentation: `time_json` builds it
#[derive(Serialize, ToSchema)]
#[serde(untagged)]
pub enum EventTimeOut {
    Text(String),
    Local {
        #[schema(example = "2030-01-07T09:00:00+00:00")]
        time: String,
        tzid: String,
    },
}

#[allow(dead_code)]
#[derive(Deserialize, ToSchema)]
pub struct AttendeeIn {
    #[schema(min_length = 1)]
    pub email: String,
    pub display_name: Option<String>,
}

#[allow(dead_code)]
#[derive(Deserialize, ToSchema)]
pub struct AttendeeRef {
    pub email: Option<String>,
}

#[allow(dead_code)]
#[derive(Deserialize, ToSchema)]
pub struct AttendeesIn {
    pub invite: Option<Vec<AttendeeIn>>,
    pub remove: Option<Vec<AttendeeRef>>,
    pub reject: Option<Vec<AttendeeRef>>,
}

#[allow(dead_code)]
#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Transparency {
    Opaque,
    Transparent,
}

#[allow(dead_code)]
#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum EventStatus {
    Confirmed,
    Tentative,
    Cancelled,
}

/// What `POST /v1/calendars/{calendar_id}/events` reads.
#[allow(dead_code)] // documentation: the handler walks the body with `F`
#[derive(Deserialize, ToSchema)]
pub struct UpsertEvent {
    /// The application's id for the event (required unless `event_uid`
    /// names an existing one).
    pub event_id: Option<Text>,
    /// Convene's id of an existing event of the calendar, to update it.
    pub event_uid: Option<Text>,
    #[schema(min_length = 1, max_length = 1024)]
    pub summary: String,
    #[schema(max_length = 4096)]
    pub description: Option<String>,
    /// IANA zone of Dates (default `Etc/UTC`).
    #[schema(example = "Europe/London")]
    pub tzid: Option<String>,
    pub start: EventTimeIn,
    /// After `start`, and of the same kind (both Times or both Dates).
    pub end: EventTimeIn,
    pub transparency: Option<Transparency>,
    pub status: Option<EventStatus>,
    pub attendees: Option<AttendeesIn>,
    /// Stored as given and echoed on read.
    pub location: Option<Value>,
    pub url: Option<Value>,
    pub event_private: Option<Value>,
    pub color: Option<Value>,
    pub reminders: Option<Value>,
    pub conferencing: Option<Value>,
    pub categories: Option<Value>,
}

/// A string the lenient input also takes as a number (read as its text).
#[allow(dead_code)] // documentation: `F::str` reads it
#[derive(Deserialize, ToSchema)]
#[serde(untagged)]
pub enum Text {
    String(String),
    Number(f64),
}

/// What `DELETE /v1/calendars/{calendar_id}/events` reads from the body:
/// `event_id` or `event_uid`.
#[allow(dead_code)] // documentation: the handler walks the input with `F`
#[derive(Deserialize, ToSchema)]
pub struct DeleteEvent {
    pub event_id: Option<Text>,
    pub event_uid: Option<Text>,
}

/// The same parameters in the query string (read when the body has
/// neither).
#[allow(dead_code)] // documentation: the handler walks the input with `F`
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DeleteEventQuery {
    pub event_id: Option<String>,
    pub event_uid: Option<String>,
}

/// What `DELETE /v1/events` reads (body, else query string):
/// `delete_all=true` or `calendar_ids`.
#[allow(dead_code)] // documentation: the handler walks the input with `F`
#[derive(Deserialize, ToSchema)]
pub struct BulkDelete {
    pub delete_all: Option<Flag>,
    pub calendar_ids: Option<Vec<String>>,
}

#[allow(dead_code)] // documentation: the handler walks the query with `F`
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct BulkDeleteQuery {
    pub delete_all: Option<bool>,
    #[param(rename = "calendar_ids[]")]
    pub calendar_ids: Option<Vec<String>>,
}

/// What `GET /v1/events` and `GET /v1/free_busy` read.
#[allow(dead_code)] // documentation: the handler walks the query with `F`
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListingQuery {
    /// IANA zone of Dates given as bounds and of `localized_times`.
    #[param(example = "Europe/London")]
    pub tzid: Option<String>,
    /// A Date or a Time (default 16 days ago).
    #[param(example = "2030-01-07")]
    pub from: Option<String>,
    /// A Date or a Time (default 201 days ahead).
    #[param(example = "2030-01-14")]
    pub to: Option<String>,
    /// Only events changed since this Time (then `from`/`to` default to
    /// unbounded).
    #[param(format = DateTime)]
    pub last_modified: Option<String>,
    pub include_deleted: Option<bool>,
    pub include_managed: Option<bool>,
    pub only_managed: Option<bool>,
    pub localized_times: Option<bool>,
    #[param(rename = "calendar_ids[]")]
    pub calendar_ids: Option<Vec<String>>,
    /// Page number (the `next_page` links carry it).
    pub page: Option<i64>,
}

/// `pages` of a listing.
#[derive(Serialize, ToSchema)]
pub struct Pages {
    pub current: i64,
    pub total: i64,
    /// Absent on the last page.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_page: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct EventOptions {
    pub delete: bool,
    pub update: bool,
    pub change_participation_status: bool,
}

/// One event as read.
#[derive(Serialize, ToSchema)]
pub struct EventInfo {
    pub calendar_id: String,
    pub event_uid: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub event_id: Option<String>,
    pub summary: String,
    pub description: String,
    #[schema(value_type = EventTimeOut)]
    pub start: Value,
    #[schema(value_type = EventTimeOut)]
    pub end: Value,
    pub deleted: bool,
    #[schema(format = DateTime)]
    pub created: String,
    #[schema(format = DateTime)]
    pub updated: String,
    pub participation_status: String,
    #[schema(value_type = Vec<Object>)]
    pub attendees: Value,
    pub transparency: String,
    pub status: String,
    /// As given on upsert (`[]` when none).
    pub categories: Value,
    pub recurring: bool,
    /// As given on upsert (`false` when none).
    pub event_private: Value,
    pub options: EventOptions,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub location: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub url: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub color: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reminders: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub conferencing: Option<Value>,
    /// Who organizes the meeting (`display_name`, `email`), on the events
    /// Convene's bookings write.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub organizer: Option<Value>,
}

/// `GET /v1/events`.
#[derive(Serialize, ToSchema)]
pub struct EventsBody {
    #[schema(value_type = Pages)]
    pub pages: Value,
    pub events: Vec<EventInfo>,
}

/// One busy (or free) period of `GET /v1/free_busy`.
#[derive(Serialize, ToSchema)]
pub struct FreeBusyInfo {
    pub calendar_id: String,
    #[schema(value_type = EventTimeOut)]
    pub start: Value,
    #[schema(value_type = EventTimeOut)]
    pub end: Value,
    /// `busy`, `tentative` or `free`.
    pub free_busy_status: &'static str,
    pub event_uid: String,
}

/// `GET /v1/free_busy`.
#[derive(Serialize, ToSchema)]
pub struct FreeBusyBody {
    #[schema(value_type = Pages)]
    pub pages: Value,
    pub free_busy: Vec<FreeBusyInfo>,
}

/// `event_id`s Convene itself gives the events it books (scheduling
/// requests and conversations): the API may read them but not change or
/// delete them, or a booking and its calendar event would disagree.
fn reserved(event_id: &str) -> bool {
    event_id.starts_with("srq_") || event_id.starts_with("scv_")
}

const RESERVED: &str = "event ids starting srq_ or scv_ belong to Convene's own bookings";

/// Keys of an upsert body that are stored as given and echoed on read.
const ECHOED: &[&str] = &[
    "location",
    "url",
    "event_private",
    "color",
    "reminders",
    "conferencing",
    "categories",
];

/// Wall-clock midnight of a date in a zone, as an instant (the first
/// instant of the day when midnight itself falls in a DST gap).
pub fn day_start(d: jiff::civil::Date, zone: &TimeZone) -> Timestamp {
    d.to_zoned(zone.clone())
        .map(|z| z.timestamp())
        .unwrap_or_else(|_| {
            d.to_datetime(jiff::civil::Time::midnight())
                .to_zoned(TimeZone::UTC)
                .map(|z| z.timestamp())
                .unwrap_or(Timestamp::UNIX_EPOCH)
        })
}

/// An upsert's fields, validated (every problem collected).
struct EventInput {
    event_uid: Option<String>,
    event_id: Option<String>,
    summary: String,
    description: String,
    tzid: String,
    start_at: Timestamp,
    end_at: Timestamp,
    start_date: Option<String>,
    end_date: Option<String>,
    transparency: String,
    status: String,
    invited: Vec<(String, Option<String>)>,
    removed: Vec<String>,
}

fn parse_event(body: &Value) -> ApiResult<EventInput> {
    let root = F::root(body);
    let mut errs = Errors::new();
    let event_uid_in = root.get("event_uid").str(&mut errs);
    let event_id = root.get("event_id").str(&mut errs);
    if event_id.is_none() && event_uid_in.is_none() {
        errs.add("event_id", "required", "event_id is required");
    }
    if event_id.as_deref().is_some_and(reserved) {
        errs.add("event_id", "reserved", RESERVED);
    }
    if event_id.as_ref().is_some_and(|id| {
        id.trim().is_empty() || id.len() > 1024 || id.chars().any(char::is_control)
    }) {
        errs.add(
            "event_id",
            "invalid",
            "event_id must be 1 to 1024 characters, not blank, without control characters",
        );
    }
    let summary = root.get("summary").req_str(&mut errs);
    if summary.as_ref().is_some_and(|s| s.chars().count() > 1024) {
        errs.add(
            "summary",
            "too_long",
            "summary must be at most 1024 characters",
        );
    }
    let description = root.get("description").str(&mut errs).unwrap_or_default();
    if description.chars().count() > 4096 {
        errs.add(
            "description",
            "too_long",
            "description must be at most 4096 characters",
        );
    }
    let tzid = match root.get("tzid").tz(&mut errs) {
        Some((name, _)) => name,
        None => "Etc/UTC".to_string(),
    };
    let start_f = root.get("start");
    let end_f = root.get("end");
    if !start_f.present() {
        errs.add("start", "required", "start is required");
    }
    if !end_f.present() {
        errs.add("end", "required", "end is required");
    }
    let start = start_f.event_time(&mut errs);
    let end = end_f.event_time(&mut errs);
    let transparency = root
        .get("transparency")
        .str(&mut errs)
        .unwrap_or_else(|| "opaque".into());
    if !matches!(transparency.as_str(), "opaque" | "transparent") {
        errs.add(
            "transparency",
            "invalid",
            "transparency must be opaque or transparent",
        );
    }
    let status = root
        .get("status")
        .str(&mut errs)
        .unwrap_or_else(|| "confirmed".into());
    if !matches!(status.as_str(), "confirmed" | "tentative" | "cancelled") {
        errs.add(
            "status",
            "invalid",
            "status must be confirmed, tentative or cancelled",
        );
    }
    let attendees = root.get("attendees");
    let invite = attendees.get("invite").array(&mut errs).unwrap_or_default();
    let mut remove = attendees.get("remove").array(&mut errs).unwrap_or_default();
    remove.extend(attendees.get("reject").array(&mut errs).unwrap_or_default());
    let mut invited = Vec::new();
    for a in &invite {
        if let Some(email) = a.get("email").req_str(&mut errs) {
            let name = a.get("display_name").str(&mut errs);
            invited.push((email, name));
        }
    }
    let removed: Vec<String> = remove
        .iter()
        .filter_map(|a| a.get("email").str(&mut errs))
        .collect();

    let zone = tz(&tzid).unwrap_or(TimeZone::UTC);
    let mut start_date = None;
    let mut end_date = None;
    let times = match (&start, &end) {
        (Some(EventTime::Instant { at: s, .. }), Some(EventTime::Instant { at: e, tzid: etz })) => {
            let _ = etz;
            Some((*s, *e))
        }
        (Some(EventTime::Date(s)), Some(EventTime::Date(e))) => {
            start_date = Some(s.to_string());
            end_date = Some(e.to_string());
            Some((day_start(*s, &zone), day_start(*e, &zone)))
        }
        (Some(_), Some(_)) => {
            errs.add(
                "end",
                "invalid",
                "start and end must both be Times or both be Dates",
            );
            None
        }
        _ => None,
    };
    if let Some((s, e)) = times
        && e <= s
    {
        errs.add("end", "invalid", "end must be after start");
    }
    errs.finish()?;
    let (start_at, end_at) = times.expect("validated");
    let tzid = match &start {
        Some(EventTime::Instant { tzid: Some(t), .. }) => t.clone(),
        _ => tzid,
    };

    Ok(EventInput {
        event_uid: event_uid_in,
        event_id,
        summary: summary.unwrap_or_default(),
        description,
        tzid,
        start_at,
        end_at,
        start_date,
        end_date,
        transparency,
        status,
        invited,
        removed,
    })
}

/// The stored event an upsert changes, if any. By `event_uid` the event
/// must exist (and the upsert then keeps its `event_id`); by `event_id` it
/// is created when missing.
async fn existing_event(
    state: &AppState,
    auth: &AccountAuth,
    cal: &convene_store::Calendar,
    input: &mut EventInput,
) -> ApiResult<Option<Event>> {
    let event_uid_in = input.event_uid.clone();
    let event_id = &mut input.event_id;
    // `event_uid` updates an event by Convene's id (external events).
    Ok(if let Some(uid) = &event_uid_in {
        let page = state
            .db
            .list_events(
                &EventFilter {
                    account_id: auth.account.id.clone(),
                    calendar_ids: Some(vec![cal.id.clone()]),
                    include_deleted: true,
                    ..Default::default()
                },
                0,
                i64::MAX,
            )
            .await?
            .0;
        let found = page.into_iter().find(|e| &e.event_uid == uid);
        match found {
            Some(e) if e.event_id.as_deref().is_some_and(reserved) => {
                return Err(ApiError::field("event_uid", "reserved", RESERVED));
            }
            Some(e) => {
                *event_id = e.event_id.clone().or_else(|| Some(uid.clone()));
                Some(e)
            }
            None => {
                return Err(ApiError::field(
                    "event_uid",
                    "not_found",
                    "no event with that event_uid in this calendar",
                ));
            }
        }
    } else {
        state
            .db
            .event_by_id(&cal.id, event_id.as_deref().unwrap_or_default())
            .await?
    })
}

/// The fields Convene keeps as sent (see `ECHOED`), merged over the stored
/// ones, with the attendees invited and removed.
fn merged_body(existing: Option<&Event>, body: &Value, input: &EventInput) -> Value {
    let mut extra: Map<String, Value> = existing
        .and_then(|e| serde_json::from_str(&e.body_json).ok())
        .unwrap_or_default();
    for key in ECHOED {
        if let Some(v) = body.get(*key).filter(|v| !v.is_null()) {
            extra.insert((*key).to_string(), v.clone());
        }
    }
    let mut list: Vec<Value> = extra
        .get("attendees")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    list.retain(|a| {
        let email = a.get("email").and_then(Value::as_str).unwrap_or("");
        !input.removed.iter().any(|r| r.eq_ignore_ascii_case(email))
    });
    for (email, name) in &input.invited {
        if !list
            .iter()
            .any(|a| a.get("email").and_then(Value::as_str) == Some(email.as_str()))
        {
            let mut a = json!({"email": email, "status": "needs_action"});
            if let Some(n) = name {
                a["display_name"] = json!(n);
            }
            list.push(a);
        }
    }
    extra.insert("attendees".into(), Value::Array(list));

    Value::Object(extra)
}

/// A connected calendar that is read-only (an ICS feed, a CalDAV calendar
/// without write privilege) or gone refuses writes.
async fn writable(state: &AppState, calendar_id: &str) -> ApiResult<()> {
    match state.db.provider_calendar(calendar_id).await? {
        Some(p) if p.readonly || p.deleted => Err(ApiError::field(
            "calendar_id",
            "calendar_readonly",
            "this calendar is read-only",
        )),
        _ => Ok(()),
    }
}

/// Creates or updates an event.
///
/// Keyed by the application's `event_id` (or Convene's `event_uid`) within
/// the calendar. Ids starting `srq_` or `scv_` belong to Convene's own
/// bookings and are refused.
#[utoipa::path(post, path = "/v1/calendars/{calendar_id}/events", tag = "events",
    security(("account_token" = []), ("client_secret" = [])),
    params(("calendar_id" = String, Path, description = "A calendar of the account.")),
    request_body(content((UpsertEvent = "application/json"), (UpsertEvent = "application/x-www-form-urlencoded"))),
    responses((status = 202, description = "Stored.", body = Accepted), Problems))]
#[tracing::instrument(skip_all, fields(account = %auth.account.id, calendar = %calendar_id))]
pub async fn upsert(
    State(state): State<AppState>,
    auth: AccountAuth,
    Path(calendar_id): Path<String>,
    Body(body): Body,
) -> ApiResult<Response> {
    let cal = owned(&state, &auth, &calendar_id).await?;
    writable(&state, &cal.id).await?;
    let mut input = parse_event(&body)?;
    let existing = existing_event(&state, &auth, &cal, &mut input).await?;
    let body_json = merged_body(existing.as_ref(), &body, &input).to_string();
    let now = now_ms();
    let ev = Event {
        event_uid: existing
            .as_ref()
            .map(|e| e.event_uid.clone())
            .unwrap_or_else(|| new_id("evt")),
        calendar_id: cal.id.clone(),
        account_id: auth.account.id.clone(),
        event_id: input.event_id,
        summary: input.summary,
        description: input.description,
        start_ms: to_ms(input.start_at),
        end_ms: to_ms(input.end_at),
        start_date: input.start_date,
        end_date: input.end_date,
        tzid: input.tzid,
        transparency: input.transparency,
        status: input.status,
        participation: existing
            .as_ref()
            .map(|e| e.participation.clone())
            .unwrap_or_else(|| "accepted".into()),
        body_json,
        deleted: false,
        created_ms: existing.as_ref().map(|e| e.created_ms).unwrap_or(now),
        updated_ms: now,
    };
    state.db.upsert_event(&ev).await?;
    Ok(super::accepted())
}

/// Deletes an event.
///
/// By `event_id` or `event_uid`, from the body or else the query string.
/// Deleting what is already gone succeeds.
#[utoipa::path(delete, path = "/v1/calendars/{calendar_id}/events", tag = "events",
    security(("account_token" = []), ("client_secret" = [])),
    params(("calendar_id" = String, Path, description = "A calendar of the account."), DeleteEventQuery),
    request_body(content((Option<DeleteEvent> = "application/json"))),
    responses((status = 202, description = "Deleted.", body = Accepted), Problems))]
#[tracing::instrument(skip_all, fields(account = %auth.account.id, calendar = %calendar_id))]
pub async fn delete(
    State(state): State<AppState>,
    auth: AccountAuth,
    Path(calendar_id): Path<String>,
    QueryInput(query): QueryInput,
    Body(body): Body,
) -> ApiResult<Response> {
    let cal = owned(&state, &auth, &calendar_id).await?;
    writable(&state, &cal.id).await?;
    let src = if body.get("event_id").is_some() || body.get("event_uid").is_some() {
        &body
    } else {
        &query
    };
    let root = F::root(src);
    let mut errs = Errors::new();
    let event_id = root.get("event_id").str(&mut errs);
    let event_uid = root.get("event_uid").str(&mut errs);
    if event_id.is_none() && event_uid.is_none() {
        errs.add("event_id", "required", "event_id or event_uid is required");
    }
    for (name, v) in [("event_id", &event_id), ("event_uid", &event_uid)] {
        if v.as_deref().is_some_and(str::is_empty) {
            errs.add(name, "invalid", format!("{name} must not be empty"));
        }
    }
    if event_id.as_deref().is_some_and(reserved) {
        errs.add("event_id", "reserved", RESERVED);
    }
    errs.finish()?;
    // Deleting what is already gone is a success: deletes are idempotent.
    match (event_id, event_uid) {
        (Some(id), _) => {
            state
                .db
                .delete_event(&auth.account.id, &cal.id, &id, false, now_ms())
                .await?
        }
        (None, Some(uid)) => {
            state
                .db
                .delete_event(&auth.account.id, &cal.id, &uid, true, now_ms())
                .await?
        }
        (None, None) => unreachable!("validated"),
    };
    Ok(super::accepted())
}

/// Deletes many events.
///
/// Every event of the account (`delete_all=true`) or of some calendars
/// (`calendar_ids`); parameters from the body, else the query string
/// (pycronofy sends them there).
#[utoipa::path(delete, path = "/v1/events", tag = "events",
    security(("account_token" = []), ("client_secret" = [])),
    params(BulkDeleteQuery),
    request_body(content((Option<BulkDelete> = "application/json"))),
    responses((status = 202, description = "Deleted.", body = Accepted), Problems))]
#[tracing::instrument(skip_all, fields(account = %auth.account.id))]
pub async fn bulk_delete(
    State(state): State<AppState>,
    auth: AccountAuth,
    QueryInput(query): QueryInput,
    Body(body): Body,
) -> ApiResult<Response> {
    let has = |v: &Value| v.get("delete_all").is_some() || v.get("calendar_ids").is_some();
    let src = if has(&body) { &body } else { &query };
    let root = F::root(src);
    let mut errs = Errors::new();
    let all = root.get("delete_all").bool(&mut errs).unwrap_or(false);
    let ids = root.get("calendar_ids").str_array(&mut errs);
    match (all, &ids) {
        (true, Some(_)) => errs.add(
            "delete_all",
            "invalid",
            "give delete_all or calendar_ids, not both",
        ),
        (false, None) => errs.add(
            "delete_all",
            "required",
            "delete_all or calendar_ids is required",
        ),
        (false, Some(ids)) if ids.is_empty() => {
            errs.add("calendar_ids", "required", "calendar_ids must not be empty")
        }
        _ => {}
    }
    errs.finish()?;
    if let Some(ids) = &ids {
        for id in ids {
            owned(&state, &auth, id).await?;
        }
    }
    state
        .db
        .delete_events(&auth.account.id, ids.as_deref(), now_ms())
        .await?;
    Ok(super::accepted())
}

/// A parsed listing query, shared by events and free/busy.
struct Listing {
    filter: EventFilter,
    zone: (String, TimeZone),
    localized: bool,
    page: i64,
}

fn parse_bound(f: &F<'_>, zone: &TimeZone, errs: &mut Errors) -> Option<Timestamp> {
    let s = f.str(errs)?;
    if let Some(t) = parse_time(&s) {
        Some(t)
    } else if let Some(d) = parse_date(&s) {
        Some(day_start(d, zone))
    } else {
        errs.add(
            &f.path,
            "invalid",
            format!("{} must be a Date or a Time", f.path),
        );
        None
    }
}

fn parse_listing(account_id: &str, q: &Value) -> ApiResult<Listing> {
    let root = F::root(q);
    let mut errs = Errors::new();
    let zone = root
        .get("tzid")
        .tz(&mut errs)
        .unwrap_or_else(|| ("Etc/UTC".into(), TimeZone::UTC));
    let from = parse_bound(&root.get("from"), &zone.1, &mut errs);
    let to = parse_bound(&root.get("to"), &zone.1, &mut errs);
    let last_modified = root.get("last_modified").time(&mut errs);
    let include_deleted = root.get("include_deleted").bool(&mut errs).unwrap_or(false);
    // Every Convene event is created through the API, so "managed" events
    // are all of them: they are listed unless the caller opts out.
    let include_managed = root.get("include_managed").bool(&mut errs).unwrap_or(true);
    let only_managed = root.get("only_managed").bool(&mut errs).unwrap_or(false);
    let localized = root.get("localized_times").bool(&mut errs).unwrap_or(false);
    let calendar_ids = root.get("calendar_ids").str_array(&mut errs);
    let page = root
        .get("page")
        .int(&mut errs)
        .unwrap_or(1)
        .clamp(1, super::MAX_PAGE);
    errs.finish()?;
    let now = Timestamp::now();
    let (from, to) = if last_modified.is_some() {
        (from, to)
    } else {
        (
            Some(from.unwrap_or_else(|| {
                now.checked_sub(jiff::SignedDuration::from_hours(16 * 24))
                    .unwrap_or(now)
            })),
            Some(to.unwrap_or_else(|| {
                now.checked_add(jiff::SignedDuration::from_hours(201 * 24))
                    .unwrap_or(now)
            })),
        )
    };
    if let (Some(f), Some(t)) = (from, to)
        && t < f
    {
        return Err(ApiError::field(
            "to",
            "invalid",
            "to must not be before from",
        ));
    }
    Ok(Listing {
        filter: EventFilter {
            account_id: account_id.to_string(),
            from_ms: from.map(to_ms),
            to_ms: to.map(to_ms),
            calendar_ids,
            last_modified_ms: last_modified.map(to_ms),
            include_deleted,
            only_managed,
            exclude_managed: !include_managed && !only_managed,
        },
        zone,
        localized,
        page,
    })
}

/// A Time, or `{"time": local-with-offset, "tzid"}` with `localized_times`.
pub fn time_json(ms: i64, localized: Option<&(String, TimeZone)>) -> Value {
    match localized {
        None => json!(fmt_ms(ms)),
        Some((name, zone)) => {
            let z = from_ms(ms).to_zoned(zone.clone());
            json!({"time": z.strftime("%Y-%m-%dT%H:%M:%S%:z").to_string(), "tzid": name})
        }
    }
}

fn start_end(date: &Option<String>, ms: i64, localized: Option<&(String, TimeZone)>) -> Value {
    match date {
        Some(d) => json!(d),
        None => time_json(ms, localized),
    }
}

pub fn event_json(e: &Event, localized: Option<&(String, TimeZone)>) -> EventInfo {
    let mut extra: Map<String, Value> = serde_json::from_str(&e.body_json).unwrap_or_default();
    EventInfo {
        calendar_id: e.calendar_id.clone(),
        event_uid: e.event_uid.clone(),
        event_id: e.event_id.clone(),
        summary: e.summary.clone(),
        description: e.description.clone(),
        start: start_end(&e.start_date, e.start_ms, localized),
        end: start_end(&e.end_date, e.end_ms, localized),
        deleted: e.deleted,
        created: fmt_ms(e.created_ms),
        updated: fmt_ms(e.updated_ms),
        participation_status: e.participation.clone(),
        attendees: extra.remove("attendees").unwrap_or_else(|| json!([])),
        transparency: e.transparency.clone(),
        status: e.status.clone(),
        categories: extra.remove("categories").unwrap_or_else(|| json!([])),
        recurring: false,
        event_private: extra.remove("event_private").unwrap_or(json!(false)),
        options: EventOptions {
            delete: true,
            update: true,
            change_participation_status: true,
        },
        location: extra.remove("location"),
        url: extra.remove("url"),
        color: extra.remove("color"),
        reminders: extra.remove("reminders"),
        conferencing: extra.remove("conferencing"),
        organizer: extra.remove("organizer"),
    }
}

/// One page of a listing: its `pages` and rows, and the zone times are
/// localized to (with `localized_times`).
struct Page {
    pages: Value,
    rows: Vec<Event>,
    localized: Option<(String, TimeZone)>,
}

async fn list_page(state: &AppState, auth: &AccountAuth, q: Value, base: &str) -> ApiResult<Page> {
    let l = parse_listing(&auth.account.id, &q)?;
    let size = state.cfg.page_size;
    let (rows, total) = state
        .db
        .list_events(&l.filter, (l.page - 1) * size, size)
        .await?;
    let mut clean = q.clone();
    if let Some(m) = clean.as_object_mut() {
        m.remove("page");
    }
    let pages = super::pages(state, base, &clean, l.page, total);
    Ok(Page {
        pages,
        rows,
        localized: l.localized.then_some(l.zone),
    })
}

async fn list_events(
    state: &AppState,
    auth: &AccountAuth,
    q: Value,
) -> ApiResult<Json<EventsBody>> {
    let p = list_page(state, auth, q, "/v1/events").await?;
    let events = p
        .rows
        .iter()
        .map(|e| event_json(e, p.localized.as_ref()))
        .collect();
    Ok(Json(EventsBody {
        pages: p.pages,
        events,
    }))
}

async fn list_free_busy(
    state: &AppState,
    auth: &AccountAuth,
    q: Value,
) -> ApiResult<Json<FreeBusyBody>> {
    let p = list_page(state, auth, q, "/v1/free_busy").await?;
    let localized = p.localized.as_ref();
    let free_busy = p
        .rows
        .iter()
        .map(|e| {
            let status = if e.transparency == "transparent"
                || e.participation == "declined"
                || e.status == "cancelled"
            {
                "free"
            } else if e.status == "tentative" {
                "tentative"
            } else {
                "busy"
            };
            FreeBusyInfo {
                calendar_id: e.calendar_id.clone(),
                start: start_end(&e.start_date, e.start_ms, localized),
                end: start_end(&e.end_date, e.end_ms, localized),
                free_busy_status: status,
                event_uid: e.event_uid.clone(),
            }
        })
        .collect();
    Ok(Json(FreeBusyBody {
        pages: p.pages,
        free_busy,
    }))
}

/// Reads the account's events.
///
/// Between `from` and `to` (or changed since `last_modified`), paged.
#[utoipa::path(get, path = "/v1/events", tag = "events",
    security(("account_token" = []), ("client_secret" = [])),
    params(ListingQuery),
    responses((status = 200, description = "One page.", body = EventsBody), Problems))]
#[tracing::instrument(skip_all, fields(account = %auth.account.id))]
pub async fn read(
    State(state): State<AppState>,
    auth: AccountAuth,
    QueryInput(q): QueryInput,
) -> ApiResult<Json<EventsBody>> {
    list_events(&state, &auth, q).await
}

/// A further page of events.
///
/// `page` is the token of a `next_page` link.
#[utoipa::path(get, path = "/v1/events/pages/{page}", tag = "events",
    security(("account_token" = []), ("client_secret" = [])),
    params(("page" = String, Path, description = "The token of a `next_page` link.")),
    responses((status = 200, description = "One page.", body = EventsBody), Problems))]
#[tracing::instrument(skip_all, fields(account = %auth.account.id))]
pub async fn read_page(
    State(state): State<AppState>,
    auth: AccountAuth,
    Path(page): Path<String>,
) -> ApiResult<Json<EventsBody>> {
    list_events(&state, &auth, super::decode_page(&page)?).await
}

/// The account's busy periods.
///
/// Between `from` and `to`, paged; each event with its free/busy status.
#[utoipa::path(get, path = "/v1/free_busy", tag = "events",
    security(("account_token" = []), ("client_secret" = [])),
    params(ListingQuery),
    responses((status = 200, description = "One page.", body = FreeBusyBody), Problems))]
#[tracing::instrument(skip_all, fields(account = %auth.account.id))]
pub async fn free_busy(
    State(state): State<AppState>,
    auth: AccountAuth,
    QueryInput(q): QueryInput,
) -> ApiResult<Json<FreeBusyBody>> {
    list_free_busy(&state, &auth, q).await
}

/// A further page of free/busy periods.
///
/// `page` is the token of a `next_page` link.
#[utoipa::path(get, path = "/v1/free_busy/pages/{page}", tag = "events",
    security(("account_token" = []), ("client_secret" = [])),
    params(("page" = String, Path, description = "The token of a `next_page` link.")),
    responses((status = 200, description = "One page.", body = FreeBusyBody), Problems))]
#[tracing::instrument(skip_all, fields(account = %auth.account.id))]
pub async fn free_busy_page(
    State(state): State<AppState>,
    auth: AccountAuth,
    Path(page): Path<String>,
) -> ApiResult<Json<FreeBusyBody>> {
    list_free_busy(&state, &auth, super::decode_page(&page)?).await
}

pub fn routes() -> utoipa_axum::router::OpenApiRouter<crate::AppState> {
    use utoipa_axum::routes;
    utoipa_axum::router::OpenApiRouter::new()
        .routes(routes!(upsert, delete))
        .routes(routes!(read, bulk_delete))
        .routes(routes!(read_page))
        .routes(routes!(free_busy))
        .routes(routes!(free_busy_page))
}
