//! Events: upsert, delete, bulk delete, read and free/busy (contract §7.2–§7.5).

use axum::extract::{Path, State};
use axum::response::Response;
use convene_store::{Event, EventFilter};
use jiff::Timestamp;
use jiff::tz::TimeZone;
use serde_json::{Map, Value, json};

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

#[tracing::instrument(skip_all, fields(account = %auth.account.id, calendar = %calendar_id))]
pub async fn upsert(
    State(state): State<AppState>,
    auth: AccountAuth,
    Path(calendar_id): Path<String>,
    Body(body): Body,
) -> ApiResult<Response> {
    let cal = owned(&state, &auth, &calendar_id).await?;
    let root = F::root(&body);
    let mut errs = Errors::new();
    let event_uid_in = root.get("event_uid").str(&mut errs);
    let mut event_id = root.get("event_id").str(&mut errs);
    if event_id.is_none() && event_uid_in.is_none() {
        errs.add("event_id", "required", "event_id is required");
    }
    if event_id.as_deref().is_some_and(reserved) {
        errs.add("event_id", "reserved", RESERVED);
    }
    if event_id
        .as_ref()
        .is_some_and(|id| id.is_empty() || id.len() > 1024)
    {
        errs.add(
            "event_id",
            "invalid",
            "event_id must be 1 to 1024 characters",
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

    // `event_uid` updates an event by Convene's id (external events).
    let existing = if let Some(uid) = &event_uid_in {
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
                event_id = e.event_id.clone().or_else(|| Some(uid.clone()));
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
    };

    let mut extra: Map<String, Value> = existing
        .as_ref()
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
        !removed.iter().any(|r| r.eq_ignore_ascii_case(email))
    });
    for (email, name) in invited {
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

    let now = now_ms();
    let ev = Event {
        event_uid: existing
            .as_ref()
            .map(|e| e.event_uid.clone())
            .unwrap_or_else(|| new_id("evt")),
        calendar_id: cal.id.clone(),
        account_id: auth.account.id.clone(),
        event_id,
        summary: summary.unwrap_or_default(),
        description,
        start_ms: to_ms(start_at),
        end_ms: to_ms(end_at),
        start_date,
        end_date,
        tzid,
        transparency,
        status,
        participation: existing
            .as_ref()
            .map(|e| e.participation.clone())
            .unwrap_or_else(|| "accepted".into()),
        body_json: Value::Object(extra).to_string(),
        deleted: false,
        created_ms: existing.as_ref().map(|e| e.created_ms).unwrap_or(now),
        updated_ms: now,
    };
    state.db.upsert_event(&ev).await?;
    Ok(super::accepted())
}

#[tracing::instrument(skip_all, fields(account = %auth.account.id, calendar = %calendar_id))]
pub async fn delete(
    State(state): State<AppState>,
    auth: AccountAuth,
    Path(calendar_id): Path<String>,
    QueryInput(query): QueryInput,
    Body(body): Body,
) -> ApiResult<Response> {
    let cal = owned(&state, &auth, &calendar_id).await?;
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

/// `DELETE /v1/events`: parameters from the body, else the query string
/// (pycronofy sends them there).
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

pub fn event_json(e: &Event, localized: Option<&(String, TimeZone)>) -> Value {
    let extra: Map<String, Value> = serde_json::from_str(&e.body_json).unwrap_or_default();
    let mut v = json!({
        "calendar_id": e.calendar_id,
        "event_uid": e.event_uid,
        "summary": e.summary,
        "description": e.description,
        "start": match &e.start_date { Some(d) => json!(d), None => time_json(e.start_ms, localized) },
        "end": match &e.end_date { Some(d) => json!(d), None => time_json(e.end_ms, localized) },
        "deleted": e.deleted,
        "created": fmt_ms(e.created_ms),
        "updated": fmt_ms(e.updated_ms),
        "participation_status": e.participation,
        "attendees": extra.get("attendees").cloned().unwrap_or_else(|| json!([])),
        "transparency": e.transparency,
        "status": e.status,
        "categories": extra.get("categories").cloned().unwrap_or_else(|| json!([])),
        "recurring": false,
        "event_private": extra.get("event_private").cloned().unwrap_or(json!(false)),
        "options": {"delete": true, "update": true, "change_participation_status": true},
    });
    if let Some(id) = &e.event_id {
        v["event_id"] = json!(id);
    }
    for key in ["location", "url", "color", "reminders", "conferencing"] {
        if let Some(x) = extra.get(key) {
            v[key] = x.clone();
        }
    }
    v
}

async fn list_events(
    state: &AppState,
    auth: &AccountAuth,
    q: Value,
    free_busy: bool,
) -> ApiResult<Response> {
    let l = parse_listing(&auth.account.id, &q)?;
    let size = state.cfg.page_size;
    let (rows, total) = state
        .db
        .list_events(&l.filter, (l.page - 1) * size, size)
        .await?;
    let localized = l.localized.then_some(&l.zone);
    let mut clean = q.clone();
    if let Some(m) = clean.as_object_mut() {
        m.remove("page");
    }
    let base = if free_busy {
        "/v1/free_busy"
    } else {
        "/v1/events"
    };
    let pages = super::pages(state, base, &clean, l.page, total);
    if free_busy {
        let items: Vec<Value> = rows
            .iter()
            .map(|e| {
                let status = if e.transparency == "transparent" || e.participation == "declined" || e.status == "cancelled" {
                    "free"
                } else if e.status == "tentative" {
                    "tentative"
                } else {
                    "busy"
                };
                json!({
                    "calendar_id": e.calendar_id,
                    "start": match &e.start_date { Some(d) => json!(d), None => time_json(e.start_ms, localized) },
                    "end": match &e.end_date { Some(d) => json!(d), None => time_json(e.end_ms, localized) },
                    "free_busy_status": status,
                    "event_uid": e.event_uid,
                })
            })
            .collect();
        Ok(super::ok(json!({"pages": pages, "free_busy": items})))
    } else {
        let items: Vec<Value> = rows.iter().map(|e| event_json(e, localized)).collect();
        Ok(super::ok(json!({"pages": pages, "events": items})))
    }
}

#[tracing::instrument(skip_all, fields(account = %auth.account.id))]
pub async fn read(
    State(state): State<AppState>,
    auth: AccountAuth,
    QueryInput(q): QueryInput,
) -> ApiResult<Response> {
    list_events(&state, &auth, q, false).await
}

#[tracing::instrument(skip_all, fields(account = %auth.account.id))]
pub async fn read_page(
    State(state): State<AppState>,
    auth: AccountAuth,
    Path(page): Path<String>,
) -> ApiResult<Response> {
    list_events(&state, &auth, super::decode_page(&page)?, false).await
}

#[tracing::instrument(skip_all, fields(account = %auth.account.id))]
pub async fn free_busy(
    State(state): State<AppState>,
    auth: AccountAuth,
    QueryInput(q): QueryInput,
) -> ApiResult<Response> {
    list_events(&state, &auth, q, true).await
}

#[tracing::instrument(skip_all, fields(account = %auth.account.id))]
pub async fn free_busy_page(
    State(state): State<AppState>,
    auth: AccountAuth,
    Path(page): Path<String>,
) -> ApiResult<Response> {
    list_events(&state, &auth, super::decode_page(&page)?, true).await
}

/// This module's routes. Not yet documented ones are added with `.route`
/// (they are missing from `/openapi.json` until they get a
/// `#[utoipa::path]` and move to `.routes(routes!(…))`).
pub fn routes() -> utoipa_axum::router::OpenApiRouter<crate::AppState> {
    #[allow(unused_imports)]
    use axum::routing::{get, post};
    utoipa_axum::router::OpenApiRouter::new()
        .route(
            "/v1/calendars/{calendar_id}/events",
            post(upsert).delete(delete),
        )
        .route("/v1/events", get(read).delete(bulk_delete))
        .route("/v1/events/pages/{page}", get(read_page))
        .route("/v1/free_busy", get(free_busy))
        .route("/v1/free_busy/pages/{page}", get(free_busy_page))
}
