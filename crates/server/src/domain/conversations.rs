//! Scheduling Conversations' rules: which slots are open to whom, and
//! every decision (create, propose, accept, expire, auto-complete) taken in
//! one write transaction under the participants' locks, so racing
//! selections serialize and can never produce two different chosen slots.
//! `docs/conversations.md` states the protocol.

use std::collections::HashMap;

use convene_engine::{DEFAULT_START_INTERVAL, Format, Interval, Required, SignedDuration};
use convene_store::conversations::{
    Conversation, ConversationParticipant as Participant, ConversationStatus, ParticipantStatus,
    SelectionMethod,
};
use convene_store::{Db, Event, NewNotification, StoreError, Tx};
use jiff::Timestamp;
use serde_json::{Value, json};

use crate::AppState;
use crate::domain::availability::{Availability, GroupSpec, MemberSpec, QuerySpec, evaluate};
use crate::domain::mail;
use crate::error::{ApiError, ApiResult};
use crate::ids::new_id;
use crate::time::{from_ms, to_ms};

/// Limits of a conversation, with the 422 key each produces.
pub mod limits {
    /// `errors.too_many` on `participants`.
    pub const MAX_PARTICIPANTS: usize = 2;
    /// `errors.too_many` on `available_periods`.
    pub const MAX_PERIODS: usize = 10;
    /// `errors.too_long` on `available_periods[i].end`: days after the earliest start.
    pub const MAX_SPAN_DAYS: i64 = 35;
    /// `errors.too_short` on `available_periods[i].end`: minutes after its
    /// start (and never less than `required_duration`).
    pub const MIN_PERIOD_MINUTES: i64 = 1;
    /// `errors.too_long` on free text (`participant_id`, `email`, `common_name`,
    /// `subject`, `event.location.description`, `.lat`, `.long`): characters.
    pub const MAX_TEXT: usize = 1024;
    /// At most this many slots are listed (the earliest).
    pub const MAX_SLOTS: usize = 512;
}

pub(crate) const JOINED: &str = "scheduling_conversation_joined";
pub(crate) const UPDATED: &str = "scheduling_conversation_updated";

/// How many times a decision is retaken when its compare-and-set lost.
pub(crate) const ATTEMPTS: usize = 3;

pub(crate) fn periods_of(c: &Conversation) -> Vec<Interval> {
    serde_json::from_str::<Vec<(i64, i64)>>(&c.periods_json)
        .unwrap_or_default()
        .into_iter()
        .map(|(s, e)| Interval::new(from_ms(s), from_ms(e)))
        .collect()
}

pub(crate) fn duration_of(c: &Conversation) -> SignedDuration {
    SignedDuration::from_mins(c.required_minutes)
}

pub(crate) fn account_subs(parts: &[Participant]) -> Vec<String> {
    parts.iter().filter_map(|p| p.sub.clone()).collect()
}

/// The engine query of a conversation: its periods from `now` on, and one
/// group where every participant with an account must be free. Their
/// calendars always count (the meeting is written into them); their rules
/// and available periods count too when `managed_availability` is on.
pub(crate) fn slot_query(
    c: &Conversation,
    parts: &[Participant],
    now: Timestamp,
    query_slots: Option<Vec<Timestamp>>,
) -> QuerySpec {
    let duration = duration_of(c);
    let periods = periods_of(c)
        .into_iter()
        .filter_map(|p| {
            let s = p.start.max(now);
            (p.end > s && p.end.duration_since(s) >= duration).then_some(Interval::new(s, p.end))
        })
        .collect();
    let members: Vec<MemberSpec> = parts
        .iter()
        .filter_map(|p| {
            let sub = p.sub.as_ref()?;
            let mut m = MemberSpec::managed(sub);
            m.managed = p.managed_availability;
            Some(m)
        })
        .collect();
    let groups = if members.is_empty() {
        Vec::new()
    } else {
        vec![GroupSpec {
            members,
            required: Required::All,
        }]
    };
    QuerySpec {
        groups,
        periods,
        query_slots,
        duration,
        before: SignedDuration::ZERO,
        after: SignedDuration::ZERO,
        start_interval: None,
        format: Format::Slots,
        max_results: limits::MAX_SLOTS,
        exclude_event_ids: Vec::new(),
        accounts: Vec::new(),
    }
}

/// The starts of the periods still ahead that fit the meeting. The grid
/// alone misses a period like 09:10–09:40 for 30 minutes, which would then
/// never offer a slot; its own start is always a candidate.
fn period_starts(c: &Conversation, now: Timestamp) -> Vec<Timestamp> {
    let duration = duration_of(c);
    periods_of(c)
        .into_iter()
        .filter(|p| p.start > now && p.end.duration_since(p.start) >= duration)
        .map(|p| p.start)
        .collect()
}

/// Every slot still open, earliest first: the grid's, and each period's
/// own start when it is free.
pub(crate) async fn candidates(
    av: &Availability,
    c: &Conversation,
    parts: &[Participant],
    now: Timestamp,
) -> ApiResult<Vec<(Timestamp, Timestamp)>> {
    let spec = slot_query(c, parts, now, None);
    if spec.periods.is_empty() {
        return Ok(Vec::new());
    }
    let mut open = evaluate(av, &spec).await?;
    let starts = period_starts(c, now);
    if !starts.is_empty() {
        open.extend(evaluate(av, &slot_query(c, parts, now, Some(starts))).await?);
    }
    let mut open: Vec<(Timestamp, Timestamp)> = open
        .into_iter()
        .filter(|a| a.start > now)
        .map(|a| (a.start, a.end))
        .collect();
    open.sort();
    open.dedup();
    open.truncate(limits::MAX_SLOTS);
    Ok(open)
}

/// Whether `start` names a slot of this conversation at all: on the slot
/// grid or at a period's start and, with the required duration, inside one
/// available period.
pub(crate) fn is_slot(c: &Conversation, start: Timestamp) -> bool {
    let grid = DEFAULT_START_INTERVAL.as_secs();
    let on_grid = start.subsec_nanosecond() == 0 && start.as_second().rem_euclid(grid) == 0;
    let Ok(end) = start.checked_add(duration_of(c)) else {
        return false;
    };
    periods_of(c)
        .iter()
        .any(|p| (on_grid || p.start == start) && p.start <= start && end <= p.end)
}

/// Whether the slot starting at `start` is still in the future and free for
/// every participant with managed availability.
pub(crate) async fn is_free(
    av: &Availability,
    c: &Conversation,
    parts: &[Participant],
    start: Timestamp,
    now: Timestamp,
) -> ApiResult<bool> {
    if start <= now || !is_slot(c, start) {
        return Ok(false);
    }
    let spec = slot_query(c, parts, now, Some(vec![start]));
    Ok(!evaluate(av, &spec).await?.is_empty())
}

/// The live proposal another `manual` participant made to `position`.
pub(crate) fn proposal_for(parts: &[Participant], position: i64) -> Option<(Timestamp, Timestamp)> {
    parts
        .iter()
        .filter(|p| {
            p.position != position
                && p.selection_method == SelectionMethod::Manual
                && p.status == ParticipantStatus::Waiting
        })
        .find_map(|p| Some((from_ms(p.selected_start_ms?), from_ms(p.selected_end_ms?))))
}

/// What `position` is offered: the other side's proposal while it is still
/// free (unless `alternatives` asks for everything), else every open slot.
pub(crate) async fn offered(
    av: &Availability,
    c: &Conversation,
    parts: &[Participant],
    position: i64,
    alternatives: bool,
    now: Timestamp,
) -> ApiResult<Vec<(Timestamp, Timestamp)>> {
    if !alternatives
        && let Some((s, e)) = proposal_for(parts, position)
        && is_free(av, c, parts, s, now).await?
    {
        return Ok(vec![(s, e)]);
    }
    candidates(av, c, parts, now).await
}

// ---------------------------------------------------------------------------
// State changes

/// What a booking needs to know about the participants' accounts, loaded
/// before the transaction (accounts and calendars do not change with it).
#[derive(Default)]
pub(crate) struct BookingCtx {
    calendars: HashMap<String, String>,
    emails: HashMap<String, String>,
    /// The configuration, when Convene sends mail.
    mail: Option<std::sync::Arc<crate::Config>>,
}

/// [`booking_ctx`] with what mails need, when mail is configured.
pub(crate) async fn booking_ctx_for(state: &AppState, subs: &[String]) -> ApiResult<BookingCtx> {
    let mut ctx = booking_ctx(&state.db, subs).await?;
    if mail::enabled(state) {
        ctx.mail = Some(state.cfg.clone());
    }
    Ok(ctx)
}

pub(crate) async fn booking_ctx(db: &Db, subs: &[String]) -> ApiResult<BookingCtx> {
    let mut ctx = BookingCtx::default();
    for a in db.accounts(subs).await? {
        if !a.email.trim().is_empty() {
            ctx.emails.insert(a.id.clone(), a.email.clone());
        }
    }
    for sub in subs {
        if let Some(cal) = db.calendars(sub).await?.into_iter().find(|c| c.is_primary) {
            ctx.calendars.insert(sub.clone(), cal.id);
        }
    }
    Ok(ctx)
}

pub(crate) fn notifications(
    kind: &str,
    c: &Conversation,
    parts: &[Participant],
    now: i64,
) -> Vec<Write> {
    parts
        .iter()
        .filter_map(|p| p.sub.clone())
        .map(|sub| {
            Write::Notify(NewNotification {
                id: new_id("ntf"),
                application_id: c.application_id.clone(),
                account_id: Some(sub),
                kind: kind.to_string(),
                subject_id: Some(c.id.clone()),
                payload_json: json!({
                    "notification": { "type": kind, "scheduling_conversation_id": c.id }
                })
                .to_string(),
                // `joined` sorts before the `updated` of the same change:
                // the outbox delivers in (created_ms, id) order.
                created_ms: if kind == UPDATED { now + 1 } else { now },
            })
        })
        .collect()
}

/// Completes the conversation on a slot: everyone `complete`, with the slot
/// as their selection.
pub(crate) fn complete(
    c: &mut Conversation,
    parts: &mut [Participant],
    start: Timestamp,
    end: Timestamp,
) {
    c.status = ConversationStatus::Complete;
    c.chosen_start_ms = Some(to_ms(start));
    c.chosen_end_ms = Some(to_ms(end));
    for p in parts {
        p.status = ParticipantStatus::Complete;
        p.selected_start_ms = Some(to_ms(start));
        p.selected_end_ms = Some(to_ms(end));
    }
}

/// The event of a completed conversation, in the primary calendar of every
/// participant with an account.
pub(crate) fn event_writes(
    c: &Conversation,
    parts: &[Participant],
    ctx: &BookingCtx,
    now: i64,
) -> Vec<Write> {
    let (Some(start_ms), Some(end_ms)) = (c.chosen_start_ms, c.chosen_end_ms) else {
        return Vec::new();
    };
    let email_of = |p: &Participant| {
        p.email
            .clone()
            .or_else(|| p.sub.as_ref().and_then(|s| ctx.emails.get(s).cloned()))
    };
    let attendees: Vec<Value> = parts
        .iter()
        .filter_map(|p| {
            let email = email_of(p)?;
            let mut a = json!({ "email": email, "status": "accepted" });
            if let Some(n) = &p.common_name {
                a["display_name"] = json!(n);
            }
            Some(a)
        })
        .collect();
    let mut body = json!({ "attendees": attendees });
    // The contract makes the first participant the organizer; the same
    // organizer goes into every participant's copy of the meeting.
    if let Some(o) = parts.iter().min_by_key(|p| p.position) {
        let mut organizer = json!({});
        if let Some(n) = &o.common_name {
            organizer["display_name"] = json!(n);
        }
        if let Some(e) = email_of(o) {
            organizer["email"] = json!(e);
        }
        body["organizer"] = organizer;
    }
    if let Some(loc) = c
        .event_json
        .as_deref()
        .and_then(|j| serde_json::from_str::<Value>(j).ok())
        .and_then(|e| e.get("location").cloned())
    {
        body["location"] = loc;
    }
    let summary = c.subject.clone().unwrap_or_else(|| "Meeting".into());
    let mut writes = completion_mails(c, parts, ctx, now);
    let events = parts.iter().filter_map(|p| {
        let sub = p.sub.as_ref()?;
        let calendar_id = ctx.calendars.get(sub)?;
        Some(Write::Event(Event {
            summary: summary.clone(),
            tzid: c.tzid.clone(),
            body_json: body.to_string(),
            ..super::booked_event(calendar_id, sub, &c.id, (start_ms, end_ms), now)
        }))
    });
    writes.extend(events);
    writes
}

/// Where a participant's mail goes: its own `email`, else its account's
/// address when that reaches a person.
fn mail_address(p: &Participant, ctx: &BookingCtx) -> Option<String> {
    p.email
        .clone()
        .or_else(|| p.sub.as_ref().and_then(|s| ctx.emails.get(s).cloned()))
        .filter(|e| mail::reaches_someone(e))
}

/// The participant page a person without an account chooses on; the token
/// is the placeholder until the mail is sent.
pub fn page_url(cfg: &crate::Config, token: &str) -> String {
    cfg.url(&format!("/conversations/{token}"))
}

/// The link token of a participant (what `LinkKey::token` derives it from).
pub fn token_subject(conversation_id: &str, position: i64) -> (String, String) {
    ("scv".into(), format!("{conversation_id}/{position}"))
}

/// Invitations to choose, for `manual` participants known only by email:
/// nobody else tells them the conversation exists.
pub(crate) fn invitation_mails(
    c: &Conversation,
    parts: &[Participant],
    ctx: &BookingCtx,
    now: i64,
) -> Vec<Write> {
    let Some(cfg) = &ctx.mail else {
        return Vec::new();
    };
    let host = parts
        .iter()
        .min_by_key(|p| p.position)
        .and_then(|o| o.common_name.clone().or_else(|| mail_address(o, ctx)))
        .unwrap_or_else(|| "Someone".into());
    parts
        .iter()
        .filter(|p| p.sub.is_none() && p.selection_method == SelectionMethod::Manual)
        .filter(|_| c.status == ConversationStatus::InProgress)
        .filter_map(|p| {
            let to = mail::Person {
                email: mail_address(p, ctx)?,
                name: p.common_name.clone(),
            };
            let v = mail::InvitationView {
                mode: "conversation",
                greeting: hello(p.common_name.as_deref()),
                summary: c.subject.clone().unwrap_or_else(|| "a meeting".into()),
                when: String::new(),
                location: location_of(c),
                description: String::new(),
                host: host.clone(),
                view_url: Some(page_url(cfg, mail::LINK_TOKEN_PLACEHOLDER)),
                reschedule_url: None,
                decline_url: None,
            };
            let link = token_subject(&c.id, p.position);
            let m = mail::compose(&to, &v, None, Some(link));
            Some(Write::Mail(mail::delivery_at(&c.application_id, &m, now)))
        })
        .collect()
}

fn hello(name: Option<&str>) -> String {
    match name.filter(|n| !n.trim().is_empty()) {
        Some(n) => format!("Hello {n},"),
        None => "Hello,".into(),
    }
}

fn location_of(c: &Conversation) -> Option<String> {
    c.event_json
        .as_deref()
        .and_then(|j| serde_json::from_str::<Value>(j).ok())
        .and_then(|e| e["location"]["description"].as_str().map(str::to_string))
}

/// The invitation to a completed conversation's meeting, for every
/// participant with an address that reaches a person.
fn completion_mails(
    c: &Conversation,
    parts: &[Participant],
    ctx: &BookingCtx,
    now: i64,
) -> Vec<Write> {
    let (Some(cfg), Some(start_ms), Some(end_ms)) = (&ctx.mail, c.chosen_start_ms, c.chosen_end_ms)
    else {
        return Vec::new();
    };
    let person = |p: &Participant| {
        mail_address(p, ctx).map(|email| mail::Person {
            email,
            name: p.common_name.clone(),
        })
    };
    let first = parts.iter().min_by_key(|p| p.position);
    let organizer = first.and_then(person).unwrap_or_else(|| mail::Person {
        email: mail::sender_address(cfg),
        name: first.and_then(|p| p.common_name.clone()),
    });
    let mut attendees: Vec<mail::Person> = parts.iter().filter_map(person).collect();
    if !attendees.iter().any(|a| a.email == organizer.email) {
        attendees.insert(0, organizer.clone());
    }
    let summary = c.subject.clone().unwrap_or_else(|| "Meeting".into());
    let invite = mail::Invite {
        uid: format!("{}@{}", c.id, mail::uid_host(cfg)),
        sequence: 0,
        method: "REQUEST",
        start: from_ms(start_ms),
        end: from_ms(end_ms),
        stamp: from_ms(now),
        summary: summary.clone(),
        description: String::new(),
        location: location_of(c),
        organizer: organizer.clone(),
        attendees,
    };
    parts
        .iter()
        .filter_map(|p| {
            let to = person(p)?;
            let v = mail::InvitationView {
                mode: "booked",
                greeting: hello(p.common_name.as_deref()),
                summary: summary.clone(),
                when: mail::when(from_ms(start_ms), from_ms(end_ms), &c.tzid),
                location: location_of(c),
                description: String::new(),
                host: organizer.name.clone().unwrap_or(organizer.email.clone()),
                view_url: None,
                reschedule_url: None,
                decline_url: None,
            };
            let m = mail::compose(&to, &v, Some(&invite), None);
            Some(Write::Mail(mail::delivery_at(&c.application_id, &m, now)))
        })
        .collect()
}

/// The moves a conversation may make: it ends once, complete or expired.
pub fn may_move(from: ConversationStatus, to: ConversationStatus) -> bool {
    use ConversationStatus::*;
    matches!((from, to), (InProgress, Complete | Expired))
}

/// The moves a participant may make. `NeedsAction` ⇄ `Waiting` is a
/// proposal and its answer; a complete participant never moves again.
pub fn participant_may_move(from: ParticipantStatus, to: ParticipantStatus) -> bool {
    use ParticipantStatus::*;
    matches!(
        (from, to),
        (NeedsAction, Waiting | Complete) | (Waiting, NeedsAction | Complete)
    )
}

/// The writes that move `(c, parts)` (as read) to `(next, next_parts)`;
/// a move the rules forbid is refused rather than written.
pub(crate) fn change_writes(
    c: &Conversation,
    parts: &[Participant],
    next: &mut Conversation,
    next_parts: &[Participant],
    ctx: &BookingCtx,
    now: i64,
) -> Result<Vec<Write>, TxError> {
    let forbidden = |what: String| {
        TxError::Api(ApiError::Internal(anyhow::anyhow!(
            "conversation {}: {what} is not an allowed move",
            c.id
        )))
    };
    if c.status != next.status && !may_move(c.status, next.status) {
        return Err(forbidden(format!("{} -> {}", c.status, next.status)));
    }
    for n in next_parts {
        if let Some(p) = parts.iter().find(|p| p.position == n.position)
            && p.status != n.status
            && !participant_may_move(p.status, n.status)
        {
            return Err(forbidden(format!(
                "participant {}: {} -> {}",
                n.position, p.status, n.status
            )));
        }
    }
    next.version = c.version + 1;
    next.updated_ms = now;
    let mut writes = vec![Write::Update {
        next: next.clone(),
        read_version: c.version,
    }];
    writes.extend(next_parts.iter().cloned().map(Write::UpdateParticipant));
    if next.status == ConversationStatus::Complete && c.status != ConversationStatus::Complete {
        writes.extend(event_writes(next, next_parts, ctx, now));
    }
    writes.extend(notifications(UPDATED, next, next_parts, now));
    Ok(writes)
}

/// One change a decision makes; [`apply`] writes them, in order, inside
/// the decision's transaction.
#[derive(Clone, Debug)]
pub(crate) enum Write {
    Insert(Conversation),
    InsertParticipant(Participant),
    /// Compare-and-set from the version the decision read.
    Update {
        next: Conversation,
        read_version: i64,
    },
    UpdateParticipant(Participant),
    Event(Event),
    Notify(NewNotification),
    /// A mail, sent by the worker once the decision commits.
    Mail(convene_store::notify::Delivery),
}

pub(crate) async fn apply(tx: &mut Tx, writes: &[Write]) -> Result<(), StoreError> {
    for w in writes {
        match w {
            Write::Insert(c) => tx.insert_conversation(c).await?,
            Write::InsertParticipant(p) => tx.insert_participant(p).await?,
            Write::Update { next, read_version } => {
                tx.update_conversation(next, *read_version).await?
            }
            Write::UpdateParticipant(p) => tx.update_participant(p).await?,
            Write::Event(e) => {
                tx.upsert_event(e).await?;
            }
            Write::Notify(n) => tx.insert_notification(n).await?,
            Write::Mail(d) => tx.insert_delivery(d).await?,
        }
    }
    Ok(())
}

#[derive(Debug)]
pub(crate) enum TxError {
    Store(StoreError),
    Api(ApiError),
}

impl From<StoreError> for TxError {
    fn from(e: StoreError) -> Self {
        TxError::Store(e)
    }
}

impl From<ApiError> for TxError {
    fn from(e: ApiError) -> Self {
        TxError::Api(e)
    }
}

/// One decision: what to answer and what to write.
pub(crate) type Check<'a, T> = std::pin::Pin<
    Box<dyn std::future::Future<Output = Result<(T, Vec<Write>), TxError>> + Send + 'a>,
>;

/// Runs one decision under the conversation's locks, retaking it when its
/// compare-and-set lost to a concurrent change.
pub(crate) async fn decide<'a, T>(
    state: &AppState,
    parts: &[Participant],
    conversation_id: &str,
    check: impl Fn() -> Check<'a, T>,
) -> ApiResult<T> {
    let subs = account_subs(parts);
    for _ in 0..ATTEMPTS {
        let attempt = state
            .db
            .write(async |tx: &mut Tx| -> Result<T, TxError> {
                // Accounts first, in the order every booking takes them,
                // then the row.
                tx.lock_accounts(&subs).await?;
                tx.lock_conversation(conversation_id).await?;
                let (out, writes) = check().await?;
                apply(tx, &writes).await?;
                Ok(out)
            })
            .await;
        match attempt {
            Ok(out) => return Ok(out),
            Err(TxError::Store(StoreError::Conflict(_))) => continue,
            Err(TxError::Store(e)) => return Err(e.into()),
            Err(TxError::Api(e)) => return Err(e),
        }
    }
    Err(ApiError::Internal(anyhow::anyhow!(
        "scheduling conversation {conversation_id} kept changing"
    )))
}

pub(crate) async fn load(db: &Db, id: &str) -> Result<(Conversation, Vec<Participant>), TxError> {
    db.conversation_with_participants(id)
        .await?
        .ok_or_else(|| TxError::Api(ApiError::not_found("no such scheduling conversation")))
}

pub(crate) fn expire(
    c: &Conversation,
    parts: &[Participant],
    now: i64,
) -> Result<Vec<Write>, TxError> {
    let mut next = c.clone();
    next.status = ConversationStatus::Expired;
    change_writes(c, parts, &mut next, parts, &BookingCtx::default(), now)
}

pub(crate) fn only_auto(parts: &[Participant]) -> bool {
    !parts
        .iter()
        .any(|p| p.selection_method == SelectionMethod::Manual)
}

/// Whether `p` may select now: it has to choose, or it is a `manual`
/// participant waiting on its own proposal, which it may revise (e.g. after
/// the proposal stopped being free).
pub(crate) fn may_select(p: &Participant) -> bool {
    let revising = p.status == ParticipantStatus::Waiting
        && p.selection_method == SelectionMethod::Manual
        && p.selected_start_ms.is_some();
    p.status == ParticipantStatus::NeedsAction || revising
}

/// What became of a selection.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum Selection {
    /// Taken: a proposal, or the conversation completed on it.
    Done,
    AlreadyComplete,
    Expired,
    NoActionNeeded,
    /// Not a slot of this conversation at all.
    UnknownSlot,
    /// A slot of this conversation, but no longer free.
    Unavailable,
}

/// The conversation after `position` selects `[start, end)`: complete when
/// every other `manual` participant already chose that slot, else a proposal
/// the other `manual` participant now answers (any proposal of theirs is
/// superseded).
fn after_selection(
    c: &Conversation,
    parts: &[Participant],
    position: i64,
    start: Timestamp,
    end: Timestamp,
) -> (Conversation, Vec<Participant>) {
    let (mut next, mut next_parts) = (c.clone(), parts.to_vec());
    let others_agree = parts
        .iter()
        .filter(|p| p.position != position && p.selection_method == SelectionMethod::Manual)
        .all(|p| p.selected_start_ms == Some(to_ms(start)));
    if others_agree {
        complete(&mut next, &mut next_parts, start, end);
        return (next, next_parts);
    }
    for p in next_parts.iter_mut() {
        if p.position == position {
            p.status = ParticipantStatus::Waiting;
            p.selected_start_ms = Some(to_ms(start));
            p.selected_end_ms = Some(to_ms(end));
        } else if p.selection_method == SelectionMethod::Manual {
            p.status = ParticipantStatus::NeedsAction;
            p.selected_start_ms = None;
            p.selected_end_ms = None;
        }
    }
    (next, next_parts)
}

/// One selection decided on the conversation as read in the transaction.
async fn decide_selection(
    av: &Availability,
    (c, parts): (Conversation, Vec<Participant>),
    position: i64,
    start: Timestamp,
    ctx: &BookingCtx,
    now: Timestamp,
) -> Result<(Selection, Vec<Write>), TxError> {
    let now_ms = to_ms(now);
    if c.status == ConversationStatus::Complete {
        return Ok((Selection::AlreadyComplete, Vec::new()));
    }
    if c.status == ConversationStatus::Expired || now_ms >= c.ends_ms {
        // Noticed here first: the expiry is written with the refusal.
        let writes = if c.status == ConversationStatus::InProgress {
            expire(&c, &parts, now_ms)?
        } else {
            Vec::new()
        };
        return Ok((Selection::Expired, writes));
    }
    let Some(me) = parts.iter().find(|p| p.position == position) else {
        return Err(TxError::Api(ApiError::not_found(
            "no such scheduling conversation participant",
        )));
    };
    if !may_select(me) {
        return Ok((Selection::NoActionNeeded, Vec::new()));
    }
    let Ok(end) = start.checked_add(duration_of(&c)) else {
        return Ok((Selection::UnknownSlot, Vec::new()));
    };
    if !is_slot(&c, start) {
        return Ok((Selection::UnknownSlot, Vec::new()));
    }
    if !is_free(av, &c, &parts, start, now).await? {
        return Ok((Selection::Unavailable, Vec::new()));
    }
    let (mut next, next_parts) = after_selection(&c, &parts, position, start, end);
    let writes = change_writes(&c, &parts, &mut next, &next_parts, ctx, now_ms)?;
    Ok((Selection::Done, writes))
}

/// The participant at `position` selects the slot starting at `start`,
/// decided under the conversation's locks.
pub(crate) async fn select(
    state: &AppState,
    conversation_id: &str,
    position: i64,
    start: Timestamp,
) -> ApiResult<Selection> {
    let db = &state.db;
    let parts = db.conversation_participants(conversation_id).await?;
    // The slot, asked of the participants' CalDAV servers; the decision
    // under the locks re-checks it with what they answered.
    if let Some(c) = db.conversation(conversation_id).await? {
        let end = start.checked_add(duration_of(&c)).unwrap_or(start);
        super::connected::check_slot(state, &account_subs(&parts), start, end).await;
    }
    let ctx = &booking_ctx_for(state, &account_subs(&parts)).await?;
    let (av, clock) = (&state.availability, &state.clock);
    decide(state, &parts, conversation_id, || {
        Box::pin(async move {
            let read = load(db, conversation_id).await?;
            decide_selection(av, read, position, start, ctx, clock.now()).await
        })
    })
    .await
}

/// The conversation as it stands now: expired once its last period has
/// passed, and completed on the earliest open slot when nobody chooses
/// manually. Both are computed on read and persisted.
pub(crate) async fn refresh(
    state: &AppState,
    id: &str,
) -> ApiResult<(Conversation, Vec<Participant>)> {
    let db = &state.db;
    let (c, parts) = db
        .conversation_with_participants(id)
        .await?
        .ok_or_else(|| ApiError::not_found("no such scheduling conversation"))?;
    if c.status != ConversationStatus::InProgress {
        return Ok((c, parts));
    }
    let now = state.now();
    let expired = to_ms(now) >= c.ends_ms;
    // Only open a write transaction when there is something to write.
    let can_complete = !expired
        && only_auto(&parts)
        && !candidates(&state.availability, &c, &parts, now)
            .await?
            .is_empty();
    if !expired && !can_complete {
        return Ok((c, parts));
    }
    let ctx = &booking_ctx_for(state, &account_subs(&parts)).await?;
    decide(state, &parts, id, || {
        Box::pin(async move {
            let (c, parts) = load(db, id).await?;
            let now = state.now();
            if c.status != ConversationStatus::InProgress {
                return Ok(((), Vec::new()));
            }
            if to_ms(now) >= c.ends_ms {
                return Ok(((), expire(&c, &parts, to_ms(now))?));
            }
            if !only_auto(&parts) {
                return Ok(((), Vec::new()));
            }
            let Some(&(s, e)) = candidates(&state.availability, &c, &parts, now)
                .await?
                .first()
            else {
                return Ok(((), Vec::new()));
            };
            let (mut next, mut next_parts) = (c.clone(), parts.clone());
            complete(&mut next, &mut next_parts, s, e);
            Ok((
                (),
                change_writes(&c, &parts, &mut next, &next_parts, ctx, to_ms(now))?,
            ))
        })
    })
    .await?;
    db.conversation_with_participants(id)
        .await?
        .ok_or_else(|| ApiError::not_found("no such scheduling conversation"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_conversation_ends_once() {
        use ConversationStatus::*;
        assert!(may_move(InProgress, Complete));
        assert!(may_move(InProgress, Expired));
        for &to in ConversationStatus::ALL {
            for from in [Complete, Expired] {
                assert!(!may_move(from, to), "{from} -> {to}");
            }
            assert!(!may_move(to, InProgress), "{to} -> in_progress");
        }
    }

    #[test]
    fn participants_trade_proposals_until_complete() {
        use ParticipantStatus::*;
        assert!(participant_may_move(NeedsAction, Waiting));
        assert!(participant_may_move(Waiting, NeedsAction));
        assert!(participant_may_move(NeedsAction, Complete));
        assert!(participant_may_move(Waiting, Complete));
        for &to in ParticipantStatus::ALL {
            assert!(!participant_may_move(to, to), "{to} -> {to}");
            assert!(!participant_may_move(Complete, to), "complete -> {to}");
        }
    }

    #[test]
    fn states_round_trip_their_spelling() {
        for &s in ConversationStatus::ALL {
            assert_eq!(s.as_str().parse::<ConversationStatus>(), Ok(s));
        }
        for &s in ParticipantStatus::ALL {
            assert_eq!(s.as_str().parse::<ParticipantStatus>(), Ok(s));
        }
        for &s in SelectionMethod::ALL {
            assert_eq!(s.as_str().parse::<SelectionMethod>(), Ok(s));
        }
        assert!("IN_PROGRESS".parse::<ConversationStatus>().is_err());
    }
}
