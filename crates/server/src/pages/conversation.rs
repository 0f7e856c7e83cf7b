//! The page a Scheduling Conversation participant known only by email
//! chooses on (`/conversations/{token}`, the link their invitation mail
//! carries): the times open to them, a plain form to pick one (or accept
//! the other side's proposal), and what came of it. The token authorizes:
//! it is derived from the instance key and only its digest is stored.

use askama::Template;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use convene_store::conversations::{
    Conversation, ConversationParticipant as Participant, ConversationStatus, ParticipantStatus,
};
use jiff::Timestamp;
use serde_json::Value;

use crate::AppState;
use crate::domain::conversations::{Selection, may_select, offered, page_url, refresh, select};
use crate::error::ApiError;
use crate::http::Body;
use crate::ids::digest;
use crate::time::{fmt_time, from_ms, parse_time};

pub struct SlotView {
    pub value: String,
    pub label: String,
}

#[derive(Template)]
#[template(path = "conversation.html")]
pub struct ConversationPage {
    pub summary: String,
    pub location: Option<String>,
    pub duration_min: i64,
    pub who: String,
    /// pick | waiting | booked | expired
    pub mode: &'static str,
    pub message: Option<String>,
    pub tz: String,
    pub slots: Vec<SlotView>,
    /// The other side proposed the one slot shown.
    pub proposal: bool,
    /// The chosen (or proposed) time, as the participant reads it.
    pub booked: String,
    pub action: String,
}

fn render(status: StatusCode, p: &ConversationPage) -> Response {
    super::assets::secure(super::render(status, p))
}

fn label(t: Timestamp, tzid: &str) -> String {
    let zone = crate::tz(tzid).unwrap_or(jiff::tz::TimeZone::UTC);
    t.to_zoned(zone).strftime("%a %-d %b %Y, %H:%M").to_string()
}

fn missing() -> Response {
    let p = ConversationPage {
        summary: "Link not found".into(),
        location: None,
        duration_min: 0,
        who: String::new(),
        mode: "expired",
        message: Some("This link is not valid. Check that you copied all of it.".into()),
        tz: "Etc/UTC".into(),
        slots: Vec::new(),
        proposal: false,
        booked: String::new(),
        action: String::new(),
    };
    render(StatusCode::NOT_FOUND, &p)
}

fn error_page(e: ApiError) -> Response {
    tracing::error!(error = ?e, "conversation page failed");
    axum::response::IntoResponse::into_response(e)
}

/// The participant the token names and its conversation, brought up to date.
async fn load(
    state: &AppState,
    token: &str,
) -> Result<Option<(Conversation, Vec<Participant>, i64)>, ApiError> {
    let Some(me) = state
        .db
        .conversation_participant_by_token(&digest(token.trim()))
        .await?
    else {
        return Ok(None);
    };
    let (c, parts) = refresh(state, &me.conversation_id).await?;
    Ok(Some((c, parts, me.position)))
}

async fn page(
    state: &AppState,
    token: &str,
    (c, parts, position): (Conversation, Vec<Participant>, i64),
    message: Option<String>,
) -> Result<ConversationPage, ApiError> {
    let me = parts
        .iter()
        .find(|p| p.position == position)
        .ok_or_else(|| ApiError::not_found("no such participant"))?;
    let mut slots = Vec::new();
    let mut proposal = false;
    let mut booked = String::new();
    let mode = match c.status {
        ConversationStatus::Complete => {
            if let Some(s) = c.chosen_start_ms {
                booked = label(from_ms(s), &c.tzid);
            }
            "booked"
        }
        ConversationStatus::Expired => "expired",
        ConversationStatus::InProgress
            if me.status == ParticipantStatus::Waiting && !may_select(me) =>
        {
            "waiting"
        }
        ConversationStatus::InProgress if me.status == ParticipantStatus::Waiting => {
            if let Some(s) = me.selected_start_ms {
                booked = label(from_ms(s), &c.tzid);
            }
            "waiting"
        }
        ConversationStatus::InProgress => {
            let open = offered(
                &state.availability,
                &c,
                &parts,
                position,
                false,
                state.now(),
            )
            .await?;
            proposal = open.len() == 1
                && crate::domain::conversations::proposal_for(&parts, position).is_some();
            slots = open
                .into_iter()
                .map(|(s, _)| SlotView {
                    value: fmt_time(s),
                    label: label(s, &c.tzid),
                })
                .collect();
            "pick"
        }
    };
    Ok(ConversationPage {
        summary: c.subject.clone().unwrap_or_else(|| "Meeting".into()),
        location: c
            .event_json
            .as_deref()
            .and_then(|j| serde_json::from_str::<Value>(j).ok())
            .and_then(|e| e["location"]["description"].as_str().map(str::to_string)),
        duration_min: c.required_minutes,
        who: me
            .common_name
            .clone()
            .or_else(|| me.email.clone())
            .unwrap_or_default(),
        mode,
        message,
        tz: c.tzid.clone(),
        slots,
        proposal,
        booked,
        action: page_url(&state.cfg, token),
    })
}

#[tracing::instrument(skip_all)]
pub async fn show(State(state): State<AppState>, Path(token): Path<String>) -> Response {
    match load(&state, &token).await {
        Ok(Some(read)) => match page(&state, &token, read, None).await {
            Ok(p) => render(StatusCode::OK, &p),
            Err(e) => error_page(e),
        },
        Ok(None) => missing(),
        Err(e) => error_page(e),
    }
}

#[tracing::instrument(skip_all)]
pub async fn submit(
    State(state): State<AppState>,
    Path(token): Path<String>,
    Body(form): Body,
) -> Response {
    let (c, _, position) = match load(&state, &token).await {
        Ok(Some(read)) => read,
        Ok(None) => return missing(),
        Err(e) => return error_page(e),
    };
    let slot = form
        .get("slot")
        .and_then(Value::as_str)
        .and_then(parse_time);
    let (status, message) = match slot {
        None => (
            StatusCode::UNPROCESSABLE_ENTITY,
            "Please choose one of the times below.",
        ),
        Some(start) => match select(&state, &c.id, position, start).await {
            Ok(Selection::Done) => (StatusCode::OK, "Thanks, your choice is recorded."),
            Ok(Selection::Unavailable | Selection::UnknownSlot) => (
                StatusCode::CONFLICT,
                "Sorry, that time is no longer free. Here are the times still open.",
            ),
            Ok(Selection::AlreadyComplete | Selection::NoActionNeeded) => {
                (StatusCode::CONFLICT, "Nothing to choose here any more.")
            }
            Ok(Selection::Expired) => (StatusCode::CONFLICT, "This conversation has ended."),
            Err(e) => return error_page(e),
        },
    };
    match load(&state, &token).await {
        Ok(Some(read)) => match page(&state, &token, read, Some(message.into())).await {
            Ok(p) => render(status, &p),
            Err(e) => error_page(e),
        },
        Ok(None) => missing(),
        Err(e) => error_page(e),
    }
}
