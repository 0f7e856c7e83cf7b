//! Scheduling Conversations (contract §3, seed 000): up to two participants
//! agree on a slot, and the meeting lands in the calendar of each one that
//! has an account.
//!
//! `docs/conversations.md` states the protocol and every error key. The
//! short version: candidate slots come from the availability engine over the
//! conversation's periods and the managed availability of its participants;
//! `manual` participants choose through link URLs that carry their own
//! token; `auto` participants accept whatever they are free for. When a
//! second `manual` participant exists, a choice is a proposal the other
//! accepts (completing the conversation) or answers with a counter-proposal.
//! Every decision is taken inside one write transaction ([`Db::write`]), so racing selections
//! serialize and can never produce two different chosen slots.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use convene_engine::{Interval, SignedDuration};
use convene_store::conversations::{
    Conversation, ConversationParticipant as Participant, ConversationStatus, ParticipantStatus,
    SelectionMethod,
};
use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use utoipa::{IntoParams, ToSchema};

use super::openapi::Problems;

use crate::AppState;
use crate::auth::AccountAuth;
use crate::error::{ApiError, ApiResult, FieldError, errors_body};
use crate::http::{Body, QueryInput};
use crate::ids::{digest, new_id};
use crate::input::{Errors, F};
use crate::time::{fmt_ms, from_ms, to_ms};

pub use crate::domain::conversations::limits;
use crate::domain::conversations::*;

pub fn routes() -> utoipa_axum::router::OpenApiRouter<AppState> {
    use utoipa_axum::routes;
    utoipa_axum::router::OpenApiRouter::new()
        .routes(routes!(create, lookup))
        .routes(routes!(read))
        .routes(routes!(list_slots, select_slots))
}

// ---------------------------------------------------------------------------
// Tokens, slots and representation

/// The participant's link token: derived from the instance key, so it can be
/// printed again on every read while only its digest is stored.
fn participant_token(state: &AppState, conversation_id: &str, position: i64) -> String {
    state
        .links
        .token("scv", &format!("{conversation_id}/{position}"))
}

fn slots_url(state: &AppState, conversation_id: &str, position: i64) -> String {
    state.cfg.url(&format!(
        "/v1/scheduling_conversations/{conversation_id}/participants/{}/slots",
        participant_token(state, conversation_id, position)
    ))
}

/// Slot ids name their start, so they are stable across listings.
fn slot_id(start: Timestamp) -> String {
    format!("slt_{}", start.as_second())
}

fn parse_slot_id(s: &str) -> Option<Timestamp> {
    let secs: i64 = s.trim().strip_prefix("slt_")?.parse().ok()?;
    Timestamp::from_second(secs).ok()
}

fn slot_repr(start: Timestamp, end: Timestamp) -> Slot {
    Slot {
        slot_id: slot_id(start),
        start: crate::time::fmt_time(start),
        end: crate::time::fmt_time(end),
    }
}

/// Who the representation is for: the owner sees every participant's
/// action URLs, a participant (by token) only its own.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Viewer {
    Owner,
    Participant(i64),
}

fn participant_repr(
    state: &AppState,
    c: &Conversation,
    p: &Participant,
    viewer: Viewer,
) -> ParticipantRepr {
    let mine = match viewer {
        Viewer::Owner => true,
        Viewer::Participant(pos) => pos == p.position,
    };
    let url = (mine
        && c.status == ConversationStatus::InProgress
        && p.status == ParticipantStatus::NeedsAction)
        .then(|| ActionUrl {
            url: slots_url(state, &c.id, p.position),
        });
    ParticipantRepr {
        participant_id: p.participant_id.clone(),
        sub: p.sub.clone(),
        email: p.email.clone(),
        common_name: p.common_name.clone(),
        managed_availability: p.managed_availability,
        slots: ParticipantSlots {
            selection_method: p.selection_method.as_str().into(),
            selected: p
                .selected_start_ms
                .zip(p.selected_end_ms)
                .map(|(s, e)| vec![slot_repr(from_ms(s), from_ms(e))]),
        },
        status: p.status.as_str().into(),
        possible_actions: PossibleActions {
            slots_list: url.clone(),
            slots_select: url,
        },
    }
}

fn conversation_repr(
    state: &AppState,
    c: &Conversation,
    parts: &[Participant],
    viewer: Viewer,
) -> ConversationRepr {
    ConversationRepr {
        scheduling_conversation_id: c.id.clone(),
        participants: parts
            .iter()
            .map(|p| participant_repr(state, c, p, viewer))
            .collect(),
        tzid: c.tzid.clone(),
        required_duration: Minutes {
            minutes: c.required_minutes,
        },
        available_periods: periods_of(c)
            .iter()
            .map(|p| Period {
                start: crate::time::fmt_time(p.start),
                end: crate::time::fmt_time(p.end),
            })
            .collect(),
        status: c.status.as_str().into(),
        subject: c.subject.clone(),
        // Stored as written by `parse_event`; anything else is not shown.
        event: c
            .event_json
            .as_deref()
            .and_then(|j| serde_json::from_str::<EventRepr>(j).ok()),
        chosen_slot: c
            .chosen_start_ms
            .zip(c.chosen_end_ms)
            .map(|(s, e)| ChosenSlot {
                available_slot_id: slot_id(from_ms(s)),
                start: fmt_ms(s),
                end: fmt_ms(e),
            }),
    }
}

// ---------------------------------------------------------------------------
// The wire types

/// One slot a participant may choose.
#[derive(Clone, Serialize, ToSchema)]
pub struct Slot {
    /// `slt_<unix seconds of start>`: stable across listings.
    #[schema(example = "slt_1905757200")]
    pub slot_id: String,
    #[schema(format = DateTime, example = "2030-05-21T09:00:00Z")]
    pub start: String,
    #[schema(format = DateTime, example = "2030-05-21T10:00:00Z")]
    pub end: String,
}

#[derive(Clone, Serialize, ToSchema)]
pub struct ActionUrl {
    pub url: String,
}

/// What the viewer may do for this participant; empty once it has nothing
/// to choose, or for another participant's viewer.
#[derive(Serialize, ToSchema)]
pub struct PossibleActions {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub slots_list: Option<ActionUrl>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub slots_select: Option<ActionUrl>,
}

#[derive(Serialize, ToSchema)]
pub struct ParticipantSlots {
    #[schema(value_type = SelectionMethodName)]
    pub selection_method: String,
    /// The participant's choice (or proposal), once made.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub selected: Option<Vec<Slot>>,
}

/// A participant as answered.
#[derive(Serialize, ToSchema)]
pub struct ParticipantRepr {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub participant_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sub: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub common_name: Option<String>,
    pub managed_availability: bool,
    pub slots: ParticipantSlots,
    #[schema(value_type = ParticipantStatusName)]
    pub status: String,
    pub possible_actions: PossibleActions,
}

#[derive(Serialize, Deserialize, ToSchema)]
pub struct Minutes {
    pub minutes: i64,
}

#[derive(Serialize, ToSchema)]
pub struct Period {
    #[schema(format = DateTime, example = "2030-05-21T09:00:00Z")]
    pub start: String,
    #[schema(format = DateTime, example = "2030-05-21T18:00:00Z")]
    pub end: String,
}

#[derive(Serialize, Deserialize, ToSchema)]
pub struct EventRepr {
    pub location: LocationRepr,
}

#[derive(Serialize, Deserialize, ToSchema)]
pub struct LocationRepr {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Latitude, as given (a number is answered as its text).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lat: Option<String>,
    /// Longitude, as given (a number is answered as its text).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub long: Option<String>,
}

/// The agreed slot, once the conversation is complete.
#[derive(Serialize, ToSchema)]
pub struct ChosenSlot {
    pub available_slot_id: String,
    #[schema(format = DateTime)]
    pub start: String,
    #[schema(format = DateTime)]
    pub end: String,
}

/// A scheduling conversation as answered.
#[derive(Serialize, ToSchema)]
pub struct ConversationRepr {
    #[schema(example = "scv_5b45cfabef723e0913f3323f")]
    pub scheduling_conversation_id: String,
    pub participants: Vec<ParticipantRepr>,
    pub tzid: String,
    pub required_duration: Minutes,
    pub available_periods: Vec<Period>,
    #[schema(value_type = ConversationStatusName)]
    pub status: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub event: Option<EventRepr>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub chosen_slot: Option<ChosenSlot>,
}

/// The conversation's state: `in_progress` until a slot is agreed
/// (`complete`) or every period has passed (`expired`).
#[allow(dead_code)] // documentation only: the store keeps the text
#[derive(ToSchema)]
#[schema(as = ConversationStatus, rename_all = "snake_case")]
pub enum ConversationStatusName {
    InProgress,
    Complete,
    Expired,
}

/// A participant's state: `needs_action` while it has to choose,
/// `waiting` on the others, `complete` once a slot is agreed.
#[allow(dead_code)] // documentation only: the store keeps the text
#[derive(ToSchema)]
#[schema(as = ParticipantStatus, rename_all = "snake_case")]
pub enum ParticipantStatusName {
    NeedsAction,
    Waiting,
    Complete,
}

/// `manual`: the participant chooses through its action URLs; `auto`: it
/// accepts any slot it is free for.
#[allow(dead_code)] // documentation only: the store keeps the text
#[derive(ToSchema)]
#[schema(as = SelectionMethod, rename_all = "snake_case")]
pub enum SelectionMethodName {
    Manual,
    Auto,
}

#[derive(Serialize, ToSchema)]
pub struct ConversationBody {
    pub scheduling_conversation: ConversationRepr,
}

#[derive(Serialize, ToSchema)]
pub struct LookupBody {
    /// The participant whose token was given.
    pub participant: ParticipantRepr,
    pub scheduling_conversation: ConversationRepr,
}

#[derive(Serialize, ToSchema)]
pub struct SlotsBody {
    /// Earliest first, at most 512.
    pub slots: Vec<Slot>,
}

/// A selection's 422: the problems, and with `errors.slot_unavailable` the
/// slots open now.
#[derive(Serialize, ToSchema)]
pub struct SelectionProblems {
    pub errors: std::collections::BTreeMap<String, Vec<super::openapi::ErrorItem>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub slots: Option<Vec<Slot>>,
}

/// Optional free text (at most 1024 characters); a number is taken as its
/// text and null or blank as absent, as the lenient parser reads it.
fn text_schema() -> utoipa::openapi::schema::Object {
    use utoipa::openapi::schema::{ObjectBuilder, SchemaType, Type};
    ObjectBuilder::new()
        .schema_type(SchemaType::from_iter([
            Type::String,
            Type::Number,
            Type::Null,
        ]))
        .max_length(Some(limits::MAX_TEXT))
        .build()
}

fn location_schema() -> utoipa::openapi::schema::Schema {
    use utoipa::PartialSchema;
    utoipa::openapi::schema::OneOfBuilder::new()
        .item(LocationInput::schema())
        .item(text_schema())
        .into()
}

/// A participant of a new conversation. One of `participant_id`, `sub`
/// or `email` identifies it; blank strings count as absent.
#[derive(ToSchema)]
pub struct ParticipantInput {
    #[schema(schema_with = text_schema)]
    pub participant_id: Option<String>,
    /// An account of the caller's Organizational Unit.
    #[schema(schema_with = text_schema)]
    pub sub: Option<String>,
    #[schema(schema_with = text_schema)]
    pub email: Option<String>,
    /// Required for the first participant (the organizer).
    #[schema(schema_with = text_schema)]
    pub common_name: Option<String>,
    /// Default `false`.
    pub managed_availability: Option<bool>,
    pub slots: Option<SlotsInput>,
}

#[derive(ToSchema)]
pub struct SlotsInput {
    /// Default `manual`.
    pub selection_method: Option<SelectionMethodName>,
}

#[derive(ToSchema)]
pub struct PeriodInput {
    /// In the future.
    #[schema(format = DateTime, example = "2030-05-21T09:00:00Z")]
    pub start: String,
    /// At least a minute and at least `required_duration` after `start`,
    /// within 35 days of the earliest start.
    #[schema(format = DateTime, example = "2030-05-21T18:00:00Z")]
    pub end: String,
}

#[derive(ToSchema)]
pub struct LocationInput {
    #[schema(schema_with = text_schema)]
    pub description: Option<String>,
    /// Latitude, e.g. `"51.5072"`.
    #[schema(schema_with = text_schema)]
    pub lat: Option<String>,
    /// Longitude, e.g. `"-0.1276"`.
    #[schema(schema_with = text_schema)]
    pub long: Option<String>,
}

#[derive(ToSchema)]
pub struct EventInput {
    /// `{"description", "lat", "long"}`, or the description alone (null: absent).
    #[schema(schema_with = location_schema)]
    pub location: Option<LocationInput>,
}

#[derive(ToSchema)]
pub struct DurationInput {
    #[schema(minimum = 1, maximum = 527040)]
    pub minutes: i64,
}

/// `POST /v1/scheduling_conversations`.
#[derive(ToSchema)]
#[schema(example = json!({
    "participants": [
        {"participant_id": "@grace", "common_name": "Grace Devlin",
         "slots": {"selection_method": "auto"}},
        {"participant_id": "@karl", "common_name": "Karl Cramer"}
    ],
    "tzid": "America/Chicago",
    "subject": "Project Titan review",
    "event": {"location": {"description": "Board Room"}},
    "required_duration": {"minutes": 60},
    "available_periods": [{"start": "2030-05-21T09:00:00Z", "end": "2030-05-21T18:00:00Z"}]
}))]
pub struct CreateRequest {
    #[schema(min_items = 1, max_items = 2)]
    pub participants: Vec<ParticipantInput>,
    #[schema(example = "America/Chicago")]
    pub tzid: String,
    #[schema(schema_with = text_schema)]
    pub subject: Option<String>,
    pub event: Option<EventInput>,
    pub required_duration: DurationInput,
    #[schema(min_items = 1, max_items = 10)]
    pub available_periods: Vec<PeriodInput>,
}

#[derive(ToSchema)]
pub struct SlotChoice {
    #[schema(example = "slt_1905757200")]
    pub slot_id: String,
}

/// `POST …/participants/{token}/slots`: exactly one slot.
#[derive(ToSchema)]
pub struct SelectRequest {
    #[schema(min_items = 1, max_items = 1)]
    pub selected_slots: Vec<SlotChoice>,
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct LookupQuery {
    /// A participant's token (from its action URLs).
    pub token: String,
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SlotsQuery {
    /// Also list slots other than the pending proposal (default `false`).
    pub alternatives: Option<bool>,
}

// ---------------------------------------------------------------------------
// Create: parsing and validation

struct NewParticipant {
    participant_id: Option<String>,
    sub: Option<String>,
    sub_path: String,
    email: Option<String>,
    common_name: Option<String>,
    managed: bool,
    manual: bool,
}

/// A create request as parsed; `None` fields were refused (and reported).
struct Draft {
    participants: Vec<NewParticipant>,
    tzid: Option<String>,
    subject: Option<String>,
    event: Option<Value>,
    minutes: Option<i64>,
    periods: Vec<Interval>,
}

/// Optional free text: blank counts as absent (the seed's own example sends
/// `"email": ""`), and overlong text is refused.
fn text(f: &F<'_>, errs: &mut Errors) -> Option<String> {
    let s = f.str(errs)?;
    let s = s.trim();
    if s.is_empty() {
        return None;
    }
    if s.chars().count() > limits::MAX_TEXT {
        errs.add(
            &f.path,
            "too_long",
            format!("{} must be at most {} characters", f.path, limits::MAX_TEXT),
        );
        return None;
    }
    Some(s.to_string())
}

fn looks_like_email(s: &str) -> bool {
    // The address is mailed, so it must be one a mail can be sent to.
    crate::domain::mail::valid_address(s)
}

/// The first spelling present, else the canonical one (for "absent").
fn first_present<'a>(candidates: &[F<'a>]) -> F<'a> {
    candidates
        .iter()
        .find(|f| f.present())
        .unwrap_or(&candidates[0])
        .clone()
}

fn parse_participant(p: &F<'_>, index: usize, errs: &mut Errors) -> Option<NewParticipant> {
    if !p.v.is_some_and(Value::is_object) {
        errs.add(&p.path, "invalid", format!("{} must be an object", p.path));
        return None;
    }
    // `actor_id` is the 2018 spelling of `participant_id`.
    let pid_f = first_present(&[p.get("participant_id"), p.get("actor_id")]);
    let participant_id = text(&pid_f, errs);
    let sub_f = p.get("sub");
    let sub = text(&sub_f, errs);
    let email_f = p.get("email");
    let email = text(&email_f, errs);
    if let Some(e) = &email
        && !looks_like_email(e)
    {
        errs.add(
            &email_f.path,
            "invalid",
            format!("{} must be an email address", email_f.path),
        );
    }
    let refused = errs
        .0
        .iter()
        .any(|e| [&pid_f.path, &sub_f.path, &email_f.path].contains(&&e.field));
    if participant_id.is_none() && sub.is_none() && email.is_none() && !refused {
        errs.add(
            &format!("{}.participant_id", p.path),
            "required",
            "one of participant_id, sub or email is required",
        );
    }
    let cn_f = p.get("common_name");
    let common_name = text(&cn_f, errs);
    if index == 0 && common_name.is_none() && !errs.0.iter().any(|e| e.field == cn_f.path) {
        errs.add(
            &cn_f.path,
            "required",
            "common_name is required for the first participant (the organizer)",
        );
    }
    let managed = p.get("managed_availability").bool(errs).unwrap_or(false);
    // `"slots": "auto"` must not pass for the default `manual`.
    let slots_f = p.get("slots");
    if slots_f.v.is_some_and(|v| !v.is_object()) {
        errs.add(
            &slots_f.path,
            "invalid",
            format!(
                "{} must be an object such as {{\"selection_method\": \"auto\"}}",
                slots_f.path
            ),
        );
    }
    // Spellings over time, newest first; only the current one is emitted.
    let method_f = first_present(&[
        p.get("slots").get("selection_method"),
        p.get("slots").get("choice_method"),
        p.get("slot_choice").get("method"),
        p.get("slot_choice_method"),
    ]);
    let manual = match method_f.str(errs).map(|s| s.trim().to_ascii_lowercase()) {
        None => true,
        Some(m) if m == SelectionMethod::Manual.as_str() => true,
        Some(m) if m == SelectionMethod::Auto.as_str() => false,
        Some(_) => {
            errs.add(
                &method_f.path,
                "invalid",
                format!("{} must be auto or manual", method_f.path),
            );
            true
        }
    };
    Some(NewParticipant {
        participant_id,
        sub,
        sub_path: sub_f.path,
        email,
        common_name,
        managed,
        manual,
    })
}

fn parse_participants(root: &F<'_>, errs: &mut Errors) -> Vec<NewParticipant> {
    // `actors` is the 2018 name of `participants`.
    let f = first_present(&[root.get("participants"), root.get("actors")]);
    if !f.present() {
        errs.add(&f.path, "required", "participants is required");
        return Vec::new();
    }
    let Some(items) = f.array(errs) else {
        return Vec::new();
    };
    if items.is_empty() {
        errs.add(&f.path, "required", "at least one participant is required");
    }
    if items.len() > limits::MAX_PARTICIPANTS {
        errs.add(
            &f.path,
            "too_many",
            format!("at most {} participants", limits::MAX_PARTICIPANTS),
        );
    }
    let mut out: Vec<NewParticipant> = Vec::new();
    for (i, p) in items.iter().enumerate() {
        let Some(np) = parse_participant(p, i, errs) else {
            continue;
        };
        // A participant is identified by participant_id, else sub, else
        // email; two with the same identity, or sharing an account, would be
        // one person twice.
        let identity = |x: &NewParticipant| -> Option<(&'static str, String)> {
            x.participant_id
                .clone()
                .map(|v| ("participant_id", v))
                .or_else(|| x.sub.clone().map(|v| ("sub", v)))
                .or_else(|| x.email.clone().map(|v| ("email", v.to_ascii_lowercase())))
        };
        if let Some((field, value)) = identity(&np)
            && out
                .iter()
                .any(|o| identity(o).as_ref() == Some(&(field, value.clone())))
        {
            errs.add(
                &format!("{}.{field}", p.path),
                "duplicate",
                format!("another participant is already identified by {field} {value:?}"),
            );
        } else if let Some(sub) = &np.sub
            && out.iter().any(|o| o.sub.as_ref() == Some(sub))
        {
            errs.add(
                &np.sub_path,
                "duplicate",
                "another participant already has this sub",
            );
        }
        out.push(np);
    }
    out
}

/// `minutes` is the required duration, when valid: a period shorter than
/// the meeting could never offer a slot.
fn parse_periods(
    root: &F<'_>,
    errs: &mut Errors,
    now: Timestamp,
    minutes: Option<i64>,
) -> Vec<Interval> {
    let f = root.get("available_periods");
    if !f.present() {
        errs.add(&f.path, "required", "available_periods is required");
        return Vec::new();
    }
    let Some(items) = f.array(errs) else {
        return Vec::new();
    };
    if items.is_empty() {
        errs.add(
            &f.path,
            "required",
            "at least one available period is required",
        );
    }
    if items.len() > limits::MAX_PERIODS {
        errs.add(
            &f.path,
            "too_many",
            format!("at most {} available periods", limits::MAX_PERIODS),
        );
    }
    let mut parsed: Vec<(String, Interval)> = Vec::new();
    for p in &items {
        let (sf, ef) = (p.get("start"), p.get("end"));
        let start = sf.req_time(errs);
        let end = ef.req_time(errs);
        if let Some(s) = start
            && s <= now
        {
            errs.add(&sf.path, "in_the_past", "start must be in the future");
        }
        let (Some(s), Some(e)) = (start, end) else {
            continue;
        };
        if e.duration_since(s) < SignedDuration::from_mins(limits::MIN_PERIOD_MINUTES) {
            errs.add(
                &ef.path,
                "too_short",
                "end must be at least 1 minute after start",
            );
            continue;
        }
        if let Some(m) = minutes
            && e.duration_since(s) < SignedDuration::from_mins(m)
        {
            errs.add(
                &ef.path,
                "too_short",
                format!("end must be at least required_duration ({m} minutes) after start"),
            );
            continue;
        }
        parsed.push((ef.path.clone(), Interval::new(s, e)));
    }
    let span = SignedDuration::from_hours(24 * limits::MAX_SPAN_DAYS);
    if let Some(earliest) = parsed.iter().map(|(_, p)| p.start).min() {
        for (path, p) in &parsed {
            if p.end.duration_since(earliest) > span {
                errs.add(
                    path,
                    "too_long",
                    format!(
                        "end must be within {} days of the earliest start",
                        limits::MAX_SPAN_DAYS
                    ),
                );
            }
        }
    }
    parsed.into_iter().map(|(_, p)| p).collect()
}

fn parse_event(root: &F<'_>, errs: &mut Errors) -> Option<Value> {
    let ev = root.get("event");
    let v = ev.v?;
    if !v.is_object() {
        errs.add(&ev.path, "invalid", "event must be an object");
        return None;
    }
    let loc = ev.get("location");
    let mut location = serde_json::Map::new();
    match loc.v? {
        // A bare string is taken as the description.
        Value::String(_) => {
            if let Some(d) = text(&loc, errs) {
                location.insert("description".into(), json!(d));
            }
        }
        Value::Object(_) => {
            // Coordinates are kept as text, as Create Event's clients send them.
            for key in ["description", "lat", "long"] {
                if let Some(v) = text(&loc.get(key), errs) {
                    location.insert(key.into(), json!(v));
                }
            }
        }
        _ => errs.add(&loc.path, "invalid", "event.location must be an object"),
    }
    (!location.is_empty()).then(|| json!({ "location": location }))
}

fn parse_create(body: &Value, now: Timestamp, errs: &mut Errors) -> Draft {
    let root = F::root(body);
    let participants = parse_participants(&root, errs);
    let tzid = root.get("tzid").req_tz(errs).map(|(name, _)| name);
    let subject = text(&root.get("subject"), errs);
    let event = parse_event(&root, errs);
    let rd = root.get("required_duration");
    let minutes = if rd.present() {
        rd.duration(errs).map(|d| d.as_mins())
    } else {
        errs.add(&rd.path, "required", "required_duration is required");
        None
    };
    if minutes.is_some_and(|m| m < 1) {
        errs.add(
            &rd.path,
            "invalid",
            "required_duration must be greater than zero minutes",
        );
    }
    let minutes = minutes.filter(|m| *m >= 1);
    let periods = parse_periods(&root, errs, now, minutes);
    Draft {
        participants,
        tzid,
        subject,
        event,
        minutes,
        periods,
    }
}

// ---------------------------------------------------------------------------
// Handlers

/// Create a scheduling conversation.
///
/// One or two participants, a time zone, the meeting's duration and the
/// periods it may take place in. Participants with `auto` selection accept
/// whatever they are free for; with nobody left to choose, the first open
/// slot is the meeting at once. See `docs/conversations.md`.
#[utoipa::path(post, path = "/v1/scheduling_conversations", tag = "scheduling_conversations",
    security(("account_token" = []), ("client_secret" = [])),
    request_body(content((CreateRequest = "application/json"), (CreateRequest = "application/x-www-form-urlencoded"))),
    responses((status = 200, description = "The new conversation, with each participant's action URLs.", body = ConversationBody), Problems))]
#[tracing::instrument(skip_all, fields(account = %auth.account.id))]
pub async fn create(
    State(state): State<AppState>,
    auth: AccountAuth,
    Body(body): Body,
) -> ApiResult<Json<ConversationBody>> {
    let now = state.now();
    let mut errs = Errors::new();
    let d = parse_create(&body, now, &mut errs);
    let subs: Vec<String> = d
        .participants
        .iter()
        .filter_map(|p| p.sub.clone())
        .collect();
    let found = state.db.accounts(&subs).await?;
    for p in &d.participants {
        let Some(sub) = &p.sub else { continue };
        let ok = found
            .iter()
            .any(|a| &a.id == sub && a.organizational_unit_id == auth.app.organizational_unit_id);
        if !ok {
            errs.add(
                &p.sub_path,
                "not_recognized",
                format!("{sub} is not an account of this Organizational Unit"),
            );
        }
    }
    errs.finish()?;
    let (Some(tzid), Some(minutes)) = (d.tzid, d.minutes) else {
        return Err(ApiError::Internal(anyhow::anyhow!(
            "a validated draft lacks a field"
        )));
    };

    let id = new_id("scv");
    let now_ms = to_ms(now);
    let periods: Vec<(i64, i64)> = d
        .periods
        .iter()
        .map(|p| (to_ms(p.start), to_ms(p.end)))
        .collect();
    let conv = Conversation {
        id: id.clone(),
        application_id: auth.app.id.clone(),
        organizational_unit_id: auth.app.organizational_unit_id.clone(),
        creator_account_id: auth.account.id.clone(),
        tzid,
        subject: d.subject,
        event_json: d.event.map(|e| e.to_string()),
        required_minutes: minutes,
        periods_json: serde_json::to_string(&periods)
            .map_err(|e| ApiError::Internal(anyhow::Error::new(e)))?,
        starts_ms: periods.iter().map(|p| p.0).min().unwrap_or(now_ms),
        ends_ms: periods.iter().map(|p| p.1).max().unwrap_or(now_ms),
        status: ConversationStatus::InProgress,
        chosen_start_ms: None,
        chosen_end_ms: None,
        version: 1,
        created_ms: now_ms,
        updated_ms: now_ms,
    };
    let parts: Vec<Participant> = d
        .participants
        .into_iter()
        .enumerate()
        .map(|(i, p)| {
            let position = i as i64;
            Participant {
                conversation_id: id.clone(),
                position,
                participant_id: p.participant_id,
                sub: p.sub,
                email: p.email,
                common_name: p.common_name,
                managed_availability: p.managed,
                selection_method: if p.manual {
                    SelectionMethod::Manual
                } else {
                    SelectionMethod::Auto
                },
                status: if p.manual {
                    ParticipantStatus::NeedsAction
                } else {
                    ParticipantStatus::Waiting
                },
                token_hash: digest(&participant_token(&state, &id, position)),
                selected_start_ms: None,
                selected_end_ms: None,
            }
        })
        .collect();
    let ctx = &booking_ctx_for(&state, &account_subs(&parts)).await?;
    let (conv_ref, parts_ref) = (&conv, &parts);
    let av = &state.availability;
    let clock = &state.clock;
    let (conv, parts) = decide(&state, &parts, &id, || {
        Box::pin(async move {
            let (mut c, mut ps) = (conv_ref.clone(), parts_ref.clone());
            let now = clock.now();
            // With nobody to choose, the first open slot is the meeting.
            let first = if only_auto(&ps) {
                candidates(av, &c, &ps, now).await?.first().copied()
            } else {
                None
            };
            if let Some((s, e)) = first {
                complete(&mut c, &mut ps, s, e);
            }
            let mut writes = vec![Write::Insert(c.clone())];
            writes.extend(ps.iter().cloned().map(Write::InsertParticipant));
            writes.extend(notifications(JOINED, &c, &ps, to_ms(now)));
            writes.extend(invitation_mails(&c, &ps, ctx, to_ms(now)));
            if first.is_some() {
                writes.extend(event_writes(&c, &ps, ctx, to_ms(now)));
                writes.extend(notifications(UPDATED, &c, &ps, to_ms(now)));
            }
            Ok(((c, ps), writes))
        })
    })
    .await?;
    Ok(Json(ConversationBody {
        scheduling_conversation: conversation_repr(&state, &conv, &parts, Viewer::Owner),
    }))
}

/// The owner of a conversation: its creator, an account participating in
/// it, or an application credential of its Organizational Unit.
fn may_read(auth: &AccountAuth, c: &Conversation, parts: &[Participant]) -> bool {
    auth.app.organizational_unit_id == c.organizational_unit_id
        && (auth.impersonated
            || auth.account.id == c.creator_account_id
            || parts
                .iter()
                .any(|p| p.sub.as_deref() == Some(auth.account.id.as_str())))
}

/// Read a scheduling conversation.
///
/// For its creator, an account participating in it, or an application
/// credential of its Organizational Unit; anyone else gets 404.
#[utoipa::path(get, path = "/v1/scheduling_conversations/{scheduling_conversation_id}",
    tag = "scheduling_conversations",
    security(("account_token" = []), ("client_secret" = [])),
    params(("scheduling_conversation_id" = String, Path, description = "The conversation (`scv_…`).")),
    responses((status = 200, description = "The conversation, with every participant's action URLs.", body = ConversationBody), Problems))]
#[tracing::instrument(skip_all, fields(account = %auth.account.id, conversation = %id))]
pub async fn read(
    State(state): State<AppState>,
    auth: AccountAuth,
    Path(id): Path<String>,
) -> ApiResult<Json<ConversationBody>> {
    let not_found = || ApiError::not_found("no such scheduling conversation");
    let (c, parts) = state
        .db
        .conversation_with_participants(&id)
        .await?
        .ok_or_else(not_found)?;
    // Someone else's conversation does not exist, as far as the caller knows.
    if !may_read(&auth, &c, &parts) {
        return Err(not_found());
    }
    let (c, parts) = refresh(&state, &id).await?;
    Ok(Json(ConversationBody {
        scheduling_conversation: conversation_repr(&state, &c, &parts, Viewer::Owner),
    }))
}

/// The participant a link token names; 404 for any token that is not one
/// of this conversation's.
async fn participant_by_token(
    state: &AppState,
    conversation_id: Option<&str>,
    token: &str,
) -> ApiResult<Participant> {
    let p = state
        .db
        .conversation_participant_by_token(&digest(token.trim()))
        .await?
        .filter(|p| conversation_id.is_none_or(|id| id == p.conversation_id))
        .ok_or_else(|| ApiError::not_found("no such scheduling conversation participant"))?;
    Ok(p)
}

fn find(parts: &[Participant], position: i64) -> ApiResult<&Participant> {
    parts
        .iter()
        .find(|p| p.position == position)
        .ok_or_else(|| ApiError::not_found("no such scheduling conversation participant"))
}

/// Look a conversation up by a participant's token.
///
/// The token authorizes; a bearer token, if any, is not needed. Answers the
/// participant and the conversation as that participant sees it.
#[utoipa::path(get, path = "/v1/scheduling_conversations", tag = "scheduling_conversations",
    security(()), params(LookupQuery),
    responses((status = 200, description = "The participant and its conversation.", body = LookupBody), Problems))]
#[tracing::instrument(skip_all)]
pub async fn lookup(
    State(state): State<AppState>,
    QueryInput(q): QueryInput,
) -> ApiResult<Json<LookupBody>> {
    let mut errs = Errors::new();
    let token = F::root(&q).get("token").req_str(&mut errs);
    errs.finish()?;
    let token = token.unwrap_or_default();
    let me = participant_by_token(&state, None, &token).await?;
    let (c, parts) = refresh(&state, &me.conversation_id).await?;
    let viewer = Viewer::Participant(me.position);
    let me = find(&parts, me.position)?;
    Ok(Json(LookupBody {
        participant: participant_repr(&state, &c, me, viewer),
        scheduling_conversation: conversation_repr(&state, &c, &parts, viewer),
    }))
}

/// List the slots a participant may choose.
///
/// The token in the URL authorizes. Empty when the participant has nothing
/// to choose or the conversation is over; while the other side's proposal
/// stands, only that slot (unless `alternatives=true`).
#[utoipa::path(get, path = "/v1/scheduling_conversations/{scheduling_conversation_id}/participants/{token}/slots",
    tag = "scheduling_conversations", security(()),
    params(("scheduling_conversation_id" = String, Path, description = "The conversation (`scv_…`)."),
        ("token" = String, Path, description = "The participant's token: it authorizes the call."),
        SlotsQuery),
    responses((status = 200, description = "The slots, earliest first.", body = SlotsBody), Problems))]
#[tracing::instrument(skip_all, fields(conversation = %id))]
pub async fn list_slots(
    State(state): State<AppState>,
    Path((id, token)): Path<(String, String)>,
    QueryInput(q): QueryInput,
) -> ApiResult<Json<SlotsBody>> {
    let mut errs = Errors::new();
    let alternatives = F::root(&q)
        .get("alternatives")
        .bool(&mut errs)
        .unwrap_or(false);
    errs.finish()?;
    let me = participant_by_token(&state, Some(&id), &token).await?;
    let (c, parts) = refresh(&state, &id).await?;
    let me = find(&parts, me.position)?;
    // A proposer waiting on their proposal may list the open slots to revise it.
    let slots = if c.status == ConversationStatus::InProgress && may_select(me) {
        offered(
            &state.availability,
            &c,
            &parts,
            me.position,
            alternatives,
            state.now(),
        )
        .await?
    } else {
        Vec::new()
    };
    Ok(Json(SlotsBody {
        slots: slots.iter().map(|(s, e)| slot_repr(*s, *e)).collect(),
    }))
}

/// The slot a selection names, and the path to report problems on.
fn parse_selection(body: &Value) -> ApiResult<(Timestamp, String)> {
    let root = F::root(body);
    let mut errs = Errors::new();
    // Older clients send `slots`.
    let f = first_present(&[root.get("selected_slots"), root.get("slots")]);
    if !f.present() {
        return Err(ApiError::field(
            f.path.clone(),
            "required",
            "selected_slots is required",
        ));
    }
    let items = f.array(&mut errs).unwrap_or_default();
    if errs.is_empty() && items.is_empty() {
        errs.add(&f.path, "required", "select exactly one slot");
    } else if items.len() > 1 {
        errs.add(&f.path, "too_many", "select exactly one slot");
    }
    errs.finish()?;
    let Some(item) = items.first() else {
        return Err(ApiError::field(
            f.path.clone(),
            "required",
            "select exactly one slot",
        ));
    };
    let id_f = item.get("slot_id");
    let unknown = |path: &str| {
        ApiError::field(
            path,
            "unknown_slot",
            "not a slot of this conversation; list the slots again",
        )
    };
    let mut errs = Errors::new();
    let start = match item.v {
        // A bare id is taken as `{"slot_id": id}`.
        Some(Value::String(s)) => parse_slot_id(s).ok_or_else(|| unknown(&item.path))?,
        _ if id_f.present() => {
            let s = id_f.str(&mut errs);
            errs.finish()?;
            parse_slot_id(&s.unwrap_or_default()).ok_or_else(|| unknown(&id_f.path))?
        }
        // Some clients name the slot by its start.
        _ if item.get("start").present() => {
            let t = item.get("start").time(&mut errs);
            errs.finish()?;
            t.ok_or_else(|| unknown(&id_f.path))?
        }
        _ => {
            return Err(ApiError::field(
                id_f.path.clone(),
                "required",
                "slot_id is required",
            ));
        }
    };
    Ok((start, id_f.path))
}

/// Select one slot for a participant.
///
/// The token in the URL authorizes. With a second `manual` participant the
/// choice is a proposal it accepts or answers; otherwise (or on acceptance)
/// the conversation completes and the meeting is booked. A slot that
/// stopped being free is 422 `errors.slot_unavailable` with the open slots.
#[utoipa::path(post, path = "/v1/scheduling_conversations/{scheduling_conversation_id}/participants/{token}/slots",
    tag = "scheduling_conversations", security(()),
    params(("scheduling_conversation_id" = String, Path, description = "The conversation (`scv_…`)."),
        ("token" = String, Path, description = "The participant's token: it authorizes the call."),),
    request_body(content((SelectRequest = "application/json"), (SelectRequest = "application/x-www-form-urlencoded"))),
    responses((status = 200, description = "The conversation as the participant sees it.", body = ConversationBody),
        Problems,
        (status = 422, description = "Invalid selection; when the slot is no longer free, also the slots open now.", body = SelectionProblems)))]
#[tracing::instrument(skip_all, fields(conversation = %id))]
pub async fn select_slots(
    State(state): State<AppState>,
    Path((id, token)): Path<(String, String)>,
    Body(body): Body,
) -> ApiResult<Response> {
    let me = participant_by_token(&state, Some(&id), &token).await?;
    let (start, slot_path) = parse_selection(&body)?;
    // Problems with the selection as a whole go on the list, not the item.
    let list_path = slot_path
        .rsplit_once('[')
        .map(|(head, _)| head.to_string())
        .unwrap_or_else(|| "selected_slots".into());
    let refused =
        |field: &str, key: &str, description: &str| Err(ApiError::field(field, key, description));
    match select(&state, &id, me.position, start).await? {
        Selection::Done => {
            let (c, parts) = refresh(&state, &id).await?;
            let viewer = Viewer::Participant(me.position);
            Ok(Json(ConversationBody {
                scheduling_conversation: conversation_repr(&state, &c, &parts, viewer),
            })
            .into_response())
        }
        Selection::AlreadyComplete => refused(
            &list_path,
            "conversation_complete",
            "the conversation is already complete",
        ),
        Selection::Expired => refused(
            &list_path,
            "conversation_expired",
            "every available period has passed",
        ),
        Selection::NoActionNeeded => refused(
            &list_path,
            "no_action_needed",
            "this participant has nothing to choose now",
        ),
        Selection::UnknownSlot => refused(
            &slot_path,
            "unknown_slot",
            "not a slot of this conversation; list the slots again",
        ),
        Selection::Unavailable => unavailable(&state, &id, me.position, slot_path).await,
    }
}

/// `errors.slot_unavailable`, with the slots open to the participant now.
async fn unavailable(
    state: &AppState,
    id: &str,
    position: i64,
    slot_path: String,
) -> ApiResult<Response> {
    let (c, parts) = refresh(state, id).await?;
    let fresh = if c.status == ConversationStatus::InProgress {
        offered(
            &state.availability,
            &c,
            &parts,
            position,
            false,
            state.now(),
        )
        .await?
    } else {
        Vec::new()
    };
    let mut body = errors_body(&[FieldError {
        field: slot_path,
        key: "errors.slot_unavailable".into(),
        description: "the slot is no longer available; choose one of `slots`".into(),
        dashboard_url: None,
    }]);
    body["slots"] = json!(
        fresh
            .iter()
            .map(|(s, e)| slot_repr(*s, *e))
            .collect::<Vec<_>>()
    );
    Ok((StatusCode::UNPROCESSABLE_ENTITY, Json(body)).into_response())
}
