//! A Real-Time Scheduling link's page (`/rts/{token}`, the path it shares
//! with the recipient's page): the times the link's query finds, grouped by
//! day in the visitor's zone, in a plain form that posts the chosen instant
//! as `slot`. Picking books (`domain::rts::book`) and then sends the browser
//! to the link's `redirect_urls.completed_url`.

use askama::Template;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use convene_store::rts::RtsLink;
use jiff::tz::TimeZone;
use serde_json::Value;

use super::ZONES;
use super::recipient::{
    DayView, SlotView, ZoneView, error_page, local_label, qstr, render, zone_label,
};
use crate::domain::availability::evaluate;
use crate::domain::requests::BookError;
use crate::domain::rts::{self, LinkSpec, booking_of, spec_of};
use crate::error::ApiError;
use crate::ids::digest;
use crate::time::{fmt_time, from_ms, parse_time};
use crate::{AppState, tz};

#[derive(Template)]
#[template(path = "rts.html")]
pub struct LinkPage {
    pub summary: String,
    pub description: String,
    pub duration_min: i64,
    /// pick | booked | disabled | expired
    pub mode: String,
    pub message: Option<String>,
    pub tz: String,
    pub zones: Vec<ZoneView>,
    pub days: Vec<DayView>,
    pub booked: Option<String>,
    pub action: String,
    /// The link calls back when none of its times suit the visitor.
    pub none_suit: bool,
    /// Where a booking sends the browser (for the page's CSP).
    pub redirect_origin: Option<String>,
}

async fn load(state: &AppState, token: &str) -> Result<Option<RtsLink>, ApiError> {
    Ok(state.db.rts_link_by_token_hash(&digest(token)).await?)
}

fn zone_of(spec: &LinkSpec, asked: Option<&str>) -> (String, TimeZone) {
    if let Some(a) = asked
        && let Some(z) = tz(a)
    {
        return (a.to_string(), z);
    }
    let z = tz(&spec.tzid).unwrap_or(TimeZone::UTC);
    (spec.tzid.clone(), z)
}

/// The times still free, as instants.
async fn free_times(state: &AppState, spec: &LinkSpec) -> Result<Vec<jiff::Timestamp>, ApiError> {
    let now = state.now_ms();
    if spec.groups.is_empty() {
        // A fixed time: offered while it is still ahead.
        return Ok(spec.open_periods(now).iter().map(|p| p.start).collect());
    }
    let found = evaluate(&state.availability, &spec.slot_query(now)).await?;
    Ok(found.iter().map(|a| a.start).collect())
}

async fn page(
    state: &AppState,
    l: &RtsLink,
    token: &str,
    asked: Option<&str>,
    message: Option<String>,
) -> Result<(StatusCode, LinkPage), ApiError> {
    let spec = spec_of(l)?;
    let (tzname, zone) = zone_of(&spec, asked);
    let status = rts::status(state, l, &spec);
    let clock = if spec.hour_format.as_deref() == Some("h") {
        "%-I:%M %p"
    } else {
        "%H:%M"
    };
    let mut days: Vec<DayView> = Vec::new();
    if status == "open" {
        let today = state.now().to_zoned(zone.clone()).date();
        // A sequence is offered by its first step's start; its label names
        // every step's time.
        let offered: Vec<(jiff::Timestamp, String)> = if spec.steps.is_empty() {
            free_times(state, &spec)
                .await?
                .into_iter()
                .map(|t| (t, local_label(t, &zone, clock)))
                .collect()
        } else {
            rts::sequences(state, &spec)
                .await?
                .into_iter()
                .map(|seq| {
                    let label = seq
                        .iter()
                        .map(|t| local_label(*t, &zone, clock))
                        .collect::<Vec<_>>()
                        .join(" → ");
                    (seq[0], label)
                })
                .collect()
        };
        for (t, label) in offered {
            let date = t.to_zoned(zone.clone()).date();
            let relative = if date == today {
                "Today"
            } else if today.tomorrow().is_ok_and(|x| x == date) {
                "Tomorrow"
            } else {
                ""
            };
            let day = local_label(t, &zone, "%A %-d %B %Y");
            let slot = SlotView {
                value: fmt_time(t),
                label,
            };
            match days.last_mut() {
                Some(d) if d.label == day => d.slots.push(slot),
                _ => days.push(DayView {
                    label: day,
                    relative: relative.to_string(),
                    slots: vec![slot],
                }),
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
    let booked = booking_of(l).map(|b| {
        format!(
            "{} – {} ({tzname})",
            local_label(
                from_ms(b.start_ms),
                &zone,
                &format!("%A %-d %B %Y, {clock}")
            ),
            local_label(from_ms(b.end_ms), &zone, clock)
        )
    });
    let (mode, message) = match status {
        "disabled" => (
            "disabled",
            Some(
                l.display_message
                    .clone()
                    .filter(|m| !m.trim().is_empty())
                    .unwrap_or_else(|| rts::DEFAULT_DISABLED.to_string()),
            ),
        ),
        "completed" => ("booked", message),
        "expired" => ("expired", message),
        _ => ("pick", message),
    };
    Ok((
        StatusCode::OK,
        LinkPage {
            summary: spec.summary(),
            description: spec.description(),
            duration_min: spec.duration_min,
            mode: mode.to_string(),
            message,
            tz: tzname,
            zones,
            days,
            booked,
            action: state.cfg.url(&format!("/rts/{token}")),
            none_suit: spec.no_times_suitable_url.is_some(),
            redirect_origin: spec
                .redirect_url
                .as_deref()
                .and_then(crate::auth::origin_of),
        },
    ))
}

fn shown(r: Result<(StatusCode, LinkPage), ApiError>, status: Option<StatusCode>) -> Response {
    match r {
        Ok((s, p)) => {
            let redirect = p.redirect_origin.clone();
            allow_form_redirect(render(status.unwrap_or(s), &p), redirect.as_deref())
        }
        Err(e) => error_page(e),
    }
}

/// The pick form posts to Convene, which answers with a redirect to the
/// application's `redirect_urls.completed_url`; browsers hold that redirect
/// to the page's `form-action`, so the page names the application's origin
/// there too.
fn allow_form_redirect(mut resp: Response, origin: Option<&str>) -> Response {
    let Some(origin) = origin else {
        return resp;
    };
    let csp = super::assets::CSP.replace(
        "form-action 'self'",
        &format!("form-action 'self' {origin}"),
    );
    if let Ok(v) = axum::http::HeaderValue::from_str(&csp) {
        resp.headers_mut()
            .insert(axum::http::header::CONTENT_SECURITY_POLICY, v);
    }
    resp
}

/// `GET /rts/{token}` for a link; `None` when the token is not a link's.
#[tracing::instrument(skip_all)]
pub async fn show(state: &AppState, token: &str, q: &Value) -> Option<Response> {
    let l = match load(state, token).await {
        Ok(Some(l)) => l,
        Ok(None) => return None,
        Err(e) => return Some(error_page(e)),
    };
    Some(shown(
        page(state, &l, token, qstr(q, "tz"), None).await,
        None,
    ))
}

/// `POST /rts/{token}`: books the chosen `slot`.
#[tracing::instrument(skip_all)]
pub async fn submit(state: &AppState, token: &str, form: &Value) -> Option<Response> {
    let l = match load(state, token).await {
        Ok(Some(l)) => l,
        Ok(None) => return None,
        Err(e) => return Some(error_page(e)),
    };
    let asked = qstr(form, "tz");
    if qstr(form, "action") == Some("no_times_suitable") {
        let msg = match rts::no_times_suitable(state, &l).await {
            Ok(true) => "Thanks: we have let them know that none of these times suit you.",
            Ok(false) => "This link is no longer open.",
            Err(e) => return Some(error_page(e)),
        };
        return Some(shown(
            page(state, &l, token, asked, Some(msg.to_string())).await,
            None,
        ));
    }
    let Some(slot) = qstr(form, "slot").and_then(parse_time) else {
        let msg = Some("Please choose one of the times below.".to_string());
        return Some(shown(
            page(state, &l, token, asked, msg).await,
            Some(StatusCode::UNPROCESSABLE_ENTITY),
        ));
    };
    let booked = rts::book(state, &l, slot).await;
    state.metrics.booking(match &booked {
        Ok(_) => "booked",
        Err(BookError::Taken) => "taken",
        Err(BookError::NotOpen(_)) => "closed",
        Err(BookError::Api(_)) => "error",
    });
    Some(match booked {
        Ok(next) => match spec_of(&next).ok().and_then(|s| s.redirect_url) {
            Some(url) => Redirect::to(&url).into_response(),
            None => shown(
                page(
                    state,
                    &next,
                    token,
                    asked,
                    Some("You're booked. The event is in the calendar.".into()),
                )
                .await,
                None,
            ),
        },
        Err(BookError::Taken) => shown(
            page(
                state,
                &l,
                token,
                asked,
                Some("Sorry, that time was just taken. Here are the times still free.".into()),
            )
            .await,
            Some(StatusCode::CONFLICT),
        ),
        Err(BookError::NotOpen(_)) => {
            let fresh = state.db.rts_link(&l.id).await.ok().flatten().unwrap_or(l);
            shown(
                page(
                    state,
                    &fresh,
                    token,
                    asked,
                    Some("This link is no longer open for booking.".into()),
                )
                .await,
                Some(StatusCode::CONFLICT),
            )
        }
        Err(BookError::Api(e)) => error_page(e),
    })
}
