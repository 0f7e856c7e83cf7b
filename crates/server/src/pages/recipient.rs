//! The recipient's page at `primary_select_url` (`/rts/{token}`): the
//! request, its slots grouped by day in the recipient's zone, and the
//! confirm / reschedule / decline flows. A plain HTML form: the chosen
//! slot is posted back as `slot=YYYY-MM-DDTHH:MM:SSZ`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use askama::Template;
use axum::http::StatusCode;
use axum::response::Response;
use convene_store::scheduling::{Request, RequestState};
use jiff::Timestamp;
use jiff::tz::TimeZone;
use serde_json::Value;

use super::ZONES;
use crate::domain::availability::evaluate;
use crate::domain::requests::{
    BookError, RequestSpec, book, booking_of, cancel_request, changes_allowed, refresh, select_url,
    spec_of, start_rescheduling,
};
use crate::error::ApiError;
use crate::ids::digest;
use crate::time::{fmt_time, from_ms, parse_time};
use crate::{AppState, tz};

pub struct SlotView {
    pub value: String,
    pub label: String,
}

pub struct DayView {
    pub label: String,
    /// "Today" or "Tomorrow" in the recipient's zone, else empty.
    pub relative: String,
    pub slots: Vec<SlotView>,
}

pub struct ZoneView {
    pub name: String,
    /// The name as people read it, with the zone's current UTC offset.
    pub label: String,
    pub selected: bool,
}

/// Pages carry Convene's security headers (CSP, no framing).
pub(super) fn render<T: Template>(status: StatusCode, t: &T) -> Response {
    super::assets::secure(super::render(status, t))
}

/// `America/New York (UTC−04:00)`: the offset now, so people can find
/// their zone by the time difference they know.
pub(super) fn zone_label(name: &str) -> String {
    let readable = name.replace('_', " ");
    match tz(name) {
        Some(z) => {
            let secs = z.to_offset(jiff::Timestamp::now()).seconds();
            let sign = if secs < 0 { '\u{2212}' } else { '+' };
            let secs = secs.unsigned_abs();
            format!(
                "{readable} (UTC{sign}{:02}:{:02})",
                secs / 3600,
                (secs % 3600) / 60
            )
        }
        None => readable,
    }
}

#[derive(Template)]
#[template(path = "recipient.html")]
pub struct RecipientPage {
    pub summary: String,
    pub description: String,
    pub location: Option<String>,
    pub duration_min: i64,
    pub recipient: String,
    /// pick | booked | confirm_reschedule | confirm_decline | cancelled | expired | missing
    pub mode: String,
    pub message: Option<String>,
    pub tz: String,
    pub zones: Vec<ZoneView>,
    pub days: Vec<DayView>,
    pub booked: Option<String>,
    pub action: String,
}

fn zone_of(spec: Option<&RequestSpec>, asked: Option<&str>) -> (String, TimeZone) {
    if let Some(a) = asked
        && let Some(z) = tz(a)
    {
        return (a.to_string(), z);
    }
    let d = spec
        .map(|s| s.tzid.clone())
        .unwrap_or_else(|| "Etc/UTC".into());
    let z = tz(&d).unwrap_or(TimeZone::UTC);
    (d, z)
}

pub(super) fn local_label(t: Timestamp, zone: &TimeZone, fmt: &str) -> String {
    t.to_zoned(zone.clone()).strftime(fmt).to_string()
}

async fn page(
    state: &AppState,
    r: &Request,
    asked_tz: Option<&str>,
    mode: &str,
    message: Option<String>,
) -> Result<RecipientPage, ApiError> {
    let spec = spec_of(r)?;
    let (tzname, zone) = zone_of(Some(&spec), asked_tz);
    let mut days: Vec<DayView> = Vec::new();
    if mode == "pick" {
        let found = evaluate(&state.availability, &spec.slot_query(state.now_ms(), &r.id)).await?;
        let today = state.now().to_zoned(zone.clone()).date();
        // Hundreds of slots: each is turned into local time once, and the
        // day's heading is written once per day.
        let mut current: Option<jiff::civil::Date> = None;
        for a in found {
            let local = a.start.to_zoned(zone.clone());
            let date = local.date();
            let slot = SlotView {
                value: fmt_time(a.start),
                label: format!("{:02}:{:02}", local.hour(), local.minute()),
            };
            match days.last_mut() {
                Some(d) if current == Some(date) => d.slots.push(slot),
                _ => {
                    let relative = if date == today {
                        "Today"
                    } else if today.tomorrow().is_ok_and(|t| t == date) {
                        "Tomorrow"
                    } else {
                        ""
                    };
                    current = Some(date);
                    days.push(DayView {
                        label: local.strftime("%A %-d %B %Y").to_string(),
                        relative: relative.to_string(),
                        slots: vec![slot],
                    });
                }
            }
        }
    }
    let mut zones: Vec<ZoneView> = ZONES
        .iter()
        .map(|z| ZoneView {
            name: z.to_string(),
            label: zone_label(z),
            selected: *z == tzname,
        })
        .collect();
    if !ZONES.contains(&tzname.as_str()) {
        zones.insert(
            0,
            ZoneView {
                name: tzname.clone(),
                label: zone_label(&tzname),
                selected: true,
            },
        );
    }
    let booked = booking_of(r).map(|b| {
        let s = from_ms(b.start_ms);
        format!(
            "{} – {} ({tzname})",
            local_label(s, &zone, "%A %-d %B %Y, %H:%M"),
            local_label(from_ms(b.end_ms), &zone, "%H:%M")
        )
    });
    let recipient = spec
        .recipients
        .iter()
        .find(|x| x.slot_selector)
        .map(|x| x.display_name.clone().unwrap_or_else(|| x.email.clone()))
        .unwrap_or_default();
    Ok(RecipientPage {
        summary: spec.summary.clone(),
        description: spec.description.clone(),
        location: spec.location.clone(),
        duration_min: spec.duration_min,
        recipient,
        mode: mode.to_string(),
        message,
        tz: tzname,
        zones,
        days,
        booked,
        action: select_url(state, r),
    })
}

pub(super) fn missing() -> Response {
    let p = RecipientPage {
        summary: "Link not found".into(),
        description: String::new(),
        location: None,
        duration_min: 0,
        recipient: String::new(),
        mode: "missing".into(),
        message: Some("This scheduling link is not valid. Check that you copied all of it.".into()),
        tz: "Etc/UTC".into(),
        zones: Vec::new(),
        days: Vec::new(),
        booked: None,
        action: String::new(),
    };
    render(StatusCode::NOT_FOUND, &p)
}

const TOO_LATE: &str =
    "This booking can no longer be changed: the meeting has started, or no other time is left.";

fn mode_for(r: &Request) -> &'static str {
    match r.state.as_str() {
        "pending" | "pending_rescheduling" => "pick",
        "complete" => "booked",
        "cancelled" => "cancelled",
        _ => "expired",
    }
}

/// The request whose link token this is, if any.
pub(super) async fn load(state: &AppState, token: &str) -> Result<Option<Request>, ApiError> {
    match state.db.request_by_token_hash(&digest(token)).await? {
        Some(r) => Ok(Some(refresh(state, r).await?)),
        None => Ok(None),
    }
}

/// How long a request shown on its page stands in for reading it again.
const SHOWN_FOR: std::time::Duration = std::time::Duration::from_secs(2);
/// Shown requests kept at most; past it, older ones are dropped.
const SHOWN_MAX: usize = 4096;

/// Requests this replica has just shown on their recipient's page, by the
/// digest of their link token. The pick that usually follows within
/// [`SHOWN_FOR`] decides on that copy instead of reading the request again:
/// the booking's compare-and-set on the request's state and `updated_ms`
/// fails if it changed meanwhile, and the booking then reads it and decides
/// again. A stale copy costs a retry, never a wrong booking.
#[derive(Clone, Debug, Default)]
pub struct ShownLately(Arc<Mutex<HashMap<String, (Request, Instant)>>>);

impl ShownLately {
    fn remember(&self, token: &str, r: &Request) {
        let mut m = self.0.lock().unwrap_or_else(|e| e.into_inner());
        if m.len() >= SHOWN_MAX {
            m.retain(|_, (_, at)| at.elapsed() < SHOWN_FOR);
            if m.len() >= SHOWN_MAX {
                m.clear();
            }
        }
        m.insert(digest(token), (r.clone(), Instant::now()));
    }

    /// The copy shown lately, taken: one pick per page shown.
    fn take(&self, token: &str) -> Option<Request> {
        let mut m = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let (r, at) = m.remove(&digest(token))?;
        (at.elapsed() < SHOWN_FOR).then_some(r)
    }
}

/// `GET /rts/{token}`: loads and shows the request's page; `None` if the
/// token is no request's.
pub(super) async fn load_and_show(state: &AppState, token: &str, q: &Value) -> Option<Response> {
    match load(state, token).await {
        Ok(Some(r)) => {
            if matches!(r.state.as_str(), "pending" | "pending_rescheduling") {
                state.shown.remember(token, &r);
            }
            Some(show(state, r, q).await)
        }
        Ok(None) => None,
        Err(e) => Some(error_page(e)),
    }
}

/// `POST /rts/{token}`: a pick decides on the copy its page just showed
/// (see [`ShownLately`]); anything else loads the request. `None` if the token
/// is no request's.
pub(super) async fn load_and_submit(
    state: &AppState,
    token: &str,
    form: &Value,
) -> Option<Response> {
    let picking = qstr(form, "action").is_none_or(|a| a == "choose");
    let shown = picking.then(|| state.shown.take(token)).flatten();
    let r = match shown {
        Some(r) => r,
        None => match load(state, token).await {
            Ok(Some(r)) => r,
            Ok(None) => return None,
            Err(e) => return Some(error_page(e)),
        },
    };
    Some(submit(state, r, form).await)
}

pub(super) fn error_page(e: ApiError) -> Response {
    tracing::error!(error = ?e, "recipient page failed");
    axum::response::IntoResponse::into_response(e)
}

pub(super) fn qstr<'a>(q: &'a Value, k: &str) -> Option<&'a str> {
    q.get(k).and_then(Value::as_str).filter(|s| !s.is_empty())
}

/// `GET /rts/{token}` for a request's recipient (`r`, loaded by [`load`]).
#[tracing::instrument(skip_all)]
pub async fn show(state: &AppState, r: Request, q: &Value) -> Response {
    let asked = qstr(q, "tz");
    let wants = |k: &str| qstr(q, k).is_some_and(|v| v.eq_ignore_ascii_case("true"));
    let (can_decline, can_reschedule) = match spec_of(&r) {
        Ok(spec) => changes_allowed(&r, &spec, state.now_ms()),
        Err(e) => return error_page(e),
    };
    let (mode, message) = match (wants("reschedule"), wants("decline")) {
        (true, _) if can_reschedule => ("confirm_reschedule", None),
        (_, true) if can_decline => ("confirm_decline", None),
        (true, _) | (_, true) if r.state == RequestState::Complete => {
            (mode_for(&r), Some(TOO_LATE.to_string()))
        }
        _ => (mode_for(&r), None),
    };
    match page(state, &r, asked, mode, message).await {
        Ok(p) => render(StatusCode::OK, &p),
        Err(e) => error_page(e),
    }
}

/// `POST /rts/{token}` for a request's recipient (`r`, loaded by [`load`]).
#[tracing::instrument(skip_all)]
pub async fn submit(state: &AppState, r: Request, form: &Value) -> Response {
    let shown = match qstr(form, "action").unwrap_or("choose") {
        "decline" => decline(state, r).await,
        "reschedule" => reschedule(state, r).await,
        _ => choose(state, r, qstr(form, "slot"), qstr(form, "tz")).await,
    };
    let asked = qstr(form, "tz");
    match shown {
        Ok(Shown(r, status, mode, msg)) => match page(state, &r, asked, mode, msg).await {
            Ok(p) => render(status, &p),
            Err(e) => error_page(e),
        },
        Err(e) => error_page(e),
    }
}

/// What an action leads to: the request as it now stands, the status, the
/// page's mode and a message.
struct Shown(Request, StatusCode, &'static str, Option<String>);

/// The page again, unchanged, when an action is no longer possible: a 409
/// with a message once the meeting is booked and too close to change.
fn refused(r: Request) -> Shown {
    let m = mode_for(&r);
    let msg = (r.state == RequestState::Complete).then(|| TOO_LATE.to_string());
    let status = if msg.is_some() {
        StatusCode::CONFLICT
    } else {
        StatusCode::OK
    };
    Shown(r, status, m, msg)
}

async fn decline(state: &AppState, r: Request) -> Result<Shown, ApiError> {
    let allowed = spec_of(&r)
        .map(|spec| changes_allowed(&r, &spec, state.now_ms()).0)
        .unwrap_or(false);
    if !allowed {
        return Ok(refused(r));
    }
    let n = cancel_request(
        state,
        &r,
        "declined by the recipient",
        "scheduling_request_declined",
    )
    .await?;
    Ok(Shown(
        n,
        StatusCode::OK,
        "cancelled",
        Some("You declined. Nothing is booked.".into()),
    ))
}

async fn reschedule(state: &AppState, r: Request) -> Result<Shown, ApiError> {
    let allowed = spec_of(&r)
        .map(|spec| changes_allowed(&r, &spec, state.now_ms()).1)
        .unwrap_or(false);
    if !allowed {
        return Ok(refused(r));
    }
    let n = start_rescheduling(state, &r).await?;
    Ok(Shown(
        n,
        StatusCode::OK,
        "pick",
        Some("Choose a new time. Your current booking stays until you do.".into()),
    ))
}

/// Books the chosen `slot` (an instant, as the form sends it).
async fn choose(
    state: &AppState,
    r: Request,
    slot: Option<&str>,
    tz: Option<&str>,
) -> Result<Shown, ApiError> {
    let Some(slot) = slot.and_then(parse_time) else {
        let m = mode_for(&r);
        return Ok(Shown(
            r,
            StatusCode::UNPROCESSABLE_ENTITY,
            m,
            Some("Please choose one of the times below.".into()),
        ));
    };
    let booked = book(state, &r, slot, tz).await;
    state.metrics.booking(match &booked {
        Ok(_) => "booked",
        Err(BookError::Taken) => "taken",
        Err(BookError::NotOpen(_)) => "closed",
        Err(BookError::Api(_)) => "error",
    });
    match booked {
        Ok(n) => Ok(Shown(
            n,
            StatusCode::OK,
            "booked",
            Some("You're booked. A calendar event is on its way to everyone.".into()),
        )),
        Err(BookError::Taken) => Ok(Shown(
            r,
            StatusCode::CONFLICT,
            "pick",
            Some("Sorry, that time was just taken. Here are the times still free.".into()),
        )),
        Err(BookError::NotOpen(_)) => {
            let fresh = state.db.request(&r.id).await.ok().flatten().unwrap_or(r);
            let m = mode_for(&fresh);
            Ok(Shown(
                fresh,
                StatusCode::CONFLICT,
                m,
                Some("This request is no longer waiting for a choice.".into()),
            ))
        }
        Err(BookError::Api(e)) => Err(e),
    }
}
