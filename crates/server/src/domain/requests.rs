//! Scheduling requests: what a request is (its spec resolved from a
//! template, its booking and history), its state machine, and the booking
//! itself — one serialized transaction that re-checks the slot, picks the
//! members, writes their events and records the notification.

use convene_engine::{Format, Interval, Required, SignedDuration, Timestamp};
use convene_store::scheduling::{Request, RequestState};
use convene_store::{Event, NewNotification, StoreError, Tx};
use rand::seq::SliceRandom as _;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::AppState;
use crate::domain::availability::{GroupSpec, MemberSpec, QuerySpec, evaluate};
use crate::domain::mail::{self, InvitationView, Invite, Person};
use crate::error::{ApiError, ApiResult, FieldError};
use crate::ids::new_id;
use crate::time::{duration_json, fmt_ms, from_ms, to_ms};

/// Who must be free: `required` `None` means all members.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct GroupDef {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    pub members: Vec<String>,
    pub required: Option<usize>,
}

impl GroupDef {
    fn spec(&self) -> GroupSpec {
        GroupSpec {
            members: self
                .members
                .iter()
                .map(|s| MemberSpec::managed(s))
                .collect(),
            required: self.required.map_or(Required::All, Required::AtLeast),
        }
    }

    fn json(&self) -> Value {
        let mut v = json!({
            "members": self.members.iter().map(|s| json!({"sub": s})).collect::<Vec<_>>(),
            "required": self.required.map_or(json!("all"), |n| json!(n)),
        });
        if let Some(n) = &self.name {
            v["name"] = json!(n);
        }
        v
    }
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Recipient {
    pub email: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    pub slot_selector: bool,
}

/// A request as resolved at creation: later template edits do not change it.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct RequestSpec {
    pub summary: String,
    pub description: String,
    pub location: Option<String>,
    pub duration_min: i64,
    pub before_min: i64,
    pub after_min: i64,
    pub buffer_set: bool,
    pub start_interval_min: i64,
    pub minimum_notice_min: i64,
    pub tzid: String,
    /// Absolute search window, epoch ms.
    pub periods: Vec<(i64, i64)>,
    /// `host` or `host_group`.
    pub host_kind: String,
    pub host: GroupDef,
    pub collaborator_groups: Vec<GroupDef>,
    pub recipients: Vec<Recipient>,
}

impl RequestSpec {
    pub fn duration(&self) -> SignedDuration {
        SignedDuration::from_mins(self.duration_min)
    }

    pub fn groups(&self) -> Vec<GroupSpec> {
        std::iter::once(&self.host)
            .chain(&self.collaborator_groups)
            .map(GroupDef::spec)
            .collect()
    }

    pub fn members(&self) -> Vec<String> {
        let mut all: Vec<String> = std::iter::once(&self.host)
            .chain(&self.collaborator_groups)
            .flat_map(|g| g.members.clone())
            .collect();
        all.sort();
        all.dedup();
        all
    }

    /// The window still open: periods from now plus the minimum notice.
    pub fn open_periods(&self, now_ms: i64) -> Vec<Interval> {
        let earliest = now_ms + self.minimum_notice_min * 60_000;
        self.periods
            .iter()
            .filter(|(_, e)| *e > earliest)
            .map(|(s, e)| Interval::new(from_ms((*s).max(earliest)), from_ms(*e)))
            .filter(|i| i.end.duration_since(i.start) >= self.duration())
            .collect()
    }

    /// A query for the slots offered to the recipient.
    pub fn slot_query(&self, now_ms: i64, exclude: &str) -> QuerySpec {
        QuerySpec {
            groups: self.groups(),
            periods: self.open_periods(now_ms),
            query_slots: None,
            duration: self.duration(),
            before: SignedDuration::from_mins(self.before_min),
            after: SignedDuration::from_mins(self.after_min),
            start_interval: Some(SignedDuration::from_mins(self.start_interval_min)),
            format: Format::OverlappingSlots,
            max_results: 512,
            exclude_event_ids: vec![exclude.to_string()],
            accounts: Vec::new(),
        }
    }
}

/// What was booked.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Booking {
    pub start_ms: i64,
    pub end_ms: i64,
    pub members: Vec<String>,
    /// The invitation's SEQUENCE: 0 when booked, one more at each move.
    #[serde(default)]
    pub sequence: i64,
    /// The zone the recipient picked the time in, for their mail.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tz: Option<String>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct HistoryItem {
    pub at_ms: i64,
    pub state: String,
    pub note: String,
}

pub fn spec_of(r: &Request) -> ApiResult<RequestSpec> {
    serde_json::from_str(&r.spec_json)
        .map_err(|e| ApiError::Internal(anyhow::anyhow!("bad stored spec: {e}")))
}

pub fn booking_of(r: &Request) -> Option<Booking> {
    r.booking_json
        .as_deref()
        .and_then(|b| serde_json::from_str(b).ok())
}

pub fn history_of(r: &Request) -> Vec<HistoryItem> {
    serde_json::from_str(&r.history_json).unwrap_or_default()
}

pub fn select_url(state: &AppState, r: &Request) -> String {
    select_url_with(state, &state.links.token("srq", &r.id))
}

pub fn dashboard_url(state: &AppState, id: &str) -> String {
    state.cfg.url(&format!("/dashboard/requests/{id}"))
}

pub fn template_dashboard_url(state: &AppState, sub: &str) -> String {
    state.cfg.url(&format!("/dashboard/templates/{sub}"))
}

/// Whether the recipient may still (decline, reschedule): not once the
/// booked meeting has started, and rescheduling only while the window can
/// still hold another time.
pub fn changes_allowed(r: &Request, spec: &RequestSpec, now: i64) -> (bool, bool) {
    let not_started = booking_of(r).is_none_or(|b| b.start_ms > now);
    let decline = not_started
        && matches!(
            r.state.as_str(),
            "pending" | "pending_rescheduling" | "complete"
        );
    let reschedule =
        not_started && r.state == RequestState::Complete && !spec.open_periods(now).is_empty();
    (decline, reschedule)
}

/// The seed's representation.
pub fn request_json(state: &AppState, r: &Request) -> ApiResult<Value> {
    let spec = spec_of(r)?;
    let url = select_url(state, r);
    let mut ops = json!({ "view_url": url });
    let (can_decline, can_reschedule) = changes_allowed(r, &spec, state.now_ms());
    if r.state == RequestState::Complete {
        if can_reschedule {
            ops["reschedule_url"] = json!(format!("{url}?reschedule=true"));
        }
        if can_decline {
            ops["decline_url"] = json!(format!("{url}?decline=true"));
        }
    }
    let mut event = json!({ "summary": spec.summary });
    if let Some(b) = booking_of(r).filter(|_| r.state == RequestState::Complete) {
        event["start"] = json!({"time": fmt_ms(b.start_ms), "tzid": spec.tzid});
        event["end"] = json!({"time": fmt_ms(b.end_ms), "tzid": spec.tzid});
        event["participants"] = json!(
            b.members
                .iter()
                .map(|s| json!({"sub": s}))
                .collect::<Vec<_>>()
        );
    }
    let mut v = json!({
        "scheduling_request_id": r.id,
        "slot_selection": r.state.as_str(),
        "primary_select_url": url,
        "dashboard_url": dashboard_url(state, &r.id),
        "summary": spec.summary,
        "duration": duration_json(spec.duration()),
        "recipient_operations": ops,
        "recipients": spec.recipients.iter().map(|rc| {
            let mut x = json!({"email": rc.email, "slot_selector": rc.slot_selector});
            if let Some(n) = &rc.display_name { x["display_name"] = json!(n); }
            if rc.slot_selector { x["select_url"] = json!(url); }
            x
        }).collect::<Vec<_>>(),
        "collaborator_groups": spec.collaborator_groups.iter().map(GroupDef::json).collect::<Vec<_>>(),
        "event": event,
    });
    v[spec.host_kind.as_str()] = if spec.host_kind == "host" {
        json!({"sub": spec.host.members[0]})
    } else {
        spec.host.json()
    };
    if let Some(t) = &r.template_id {
        v["template"] = json!({ "sub": t });
    }
    if spec.buffer_set {
        v["buffer"] =
            json!({"before": {"minutes": spec.before_min}, "after": {"minutes": spec.after_min}});
    }
    Ok(v)
}

/// Stands in for a request's link token in what is stored: a notification
/// row or a delivery body must not let a reader of the database act as the
/// recipient. The worker puts the token back into the body it sends.
pub const LINK_TOKEN_PLACEHOLDER: &str = crate::domain::mail::LINK_TOKEN_PLACEHOLDER;

fn select_url_with(state: &AppState, token: &str) -> String {
    state.cfg.url(&format!("/rts/{token}"))
}

/// Applies `f` to every string in `v`.
fn each_string(v: &mut Value, f: &mut impl FnMut(&mut String)) {
    match v {
        Value::String(s) => f(s),
        Value::Array(a) => a.iter_mut().for_each(|x| each_string(x, f)),
        Value::Object(o) => o.values_mut().for_each(|x| each_string(x, f)),
        _ => {}
    }
}

/// A representation fit to store: its links carry the placeholder.
fn without_links(state: &AppState, r: &Request, mut representation: Value) -> Value {
    let live = select_url(state, r);
    let stored = select_url_with(state, LINK_TOKEN_PLACEHOLDER);
    each_string(&mut representation, &mut |s| {
        if let Some(rest) = s.strip_prefix(&live) {
            *s = format!("{stored}{rest}");
        }
    });
    representation
}

/// The body a stored scheduling request notification is sent as: its links
/// derived again from the instance key. Anything else is sent unchanged.
/// Removes live link tokens from outbox rows written before payloads were
/// stored without them (`/rts/<token>` becomes `/rts/{link_token}`, which
/// [`with_links`] fills in when sending). Runs at start, once per database:
/// the scan is recorded as done.
pub async fn scrub_stored_link_tokens(
    db: &convene_store::Db,
    now_ms: i64,
) -> Result<usize, convene_store::StoreError> {
    const NAME: &str = "scrub_link_tokens";
    if db.maintenance_done(NAME).await? {
        return Ok(0);
    }
    let rows = db.outbox_texts_containing("/rts/").await?;
    let changed: Vec<(bool, String, String)> = rows
        .into_iter()
        .filter_map(|(d, id, text)| {
            let scrubbed = scrub_link_tokens(&text);
            (scrubbed != text).then_some((d, id, scrubbed))
        })
        .collect();
    if !changed.is_empty() {
        db.rewrite_outbox_texts(&changed).await?;
        tracing::info!(
            rows = changed.len(),
            "link tokens removed from stored notifications"
        );
    }
    db.mark_maintenance_done(NAME, now_ms).await?;
    Ok(changed.len())
}

/// `/rts/<token>` → `/rts/{link_token}` everywhere in `text`.
fn scrub_link_tokens(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find("/rts/") {
        let (head, tail) = rest.split_at(at + "/rts/".len());
        out.push_str(head);
        let token_len = tail
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '-' || c == '_'))
            .unwrap_or(tail.len());
        if token_len > 0 {
            out.push_str(LINK_TOKEN_PLACEHOLDER);
        }
        rest = &tail[token_len..];
    }
    out.push_str(rest);
    out
}

pub fn with_links(state: &AppState, body: &str) -> String {
    if !body.contains(LINK_TOKEN_PLACEHOLDER) {
        return body.to_string();
    }
    let Ok(mut v) = serde_json::from_str::<Value>(body) else {
        return body.to_string();
    };
    let Some(id) = v["scheduling_request"]["scheduling_request_id"]
        .as_str()
        .map(str::to_string)
    else {
        return body.to_string();
    };
    // Matched on the path alone, so links stored under an earlier public
    // URL still work.
    let stored = format!("/rts/{LINK_TOKEN_PLACEHOLDER}");
    let live = format!("/rts/{}", state.links.token("srq", &id));
    each_string(&mut v["scheduling_request"], &mut |s| {
        if s.contains(&stored) {
            *s = s.replacen(&stored, &live, 1);
        }
    });
    v.to_string()
}

fn notification(
    state: &AppState,
    r: &Request,
    kind: &str,
    representation: Value,
) -> NewNotification {
    let now = state.now_ms();
    let representation = without_links(state, r, representation);
    NewNotification {
        id: new_id("ntf"),
        application_id: r.application_id.clone(),
        account_id: None,
        kind: kind.to_string(),
        subject_id: Some(r.id.clone()),
        payload_json: json!({
            "notification": {"type": kind, "triggered_at": fmt_ms(now)},
            "scheduling_request": representation,
        })
        .to_string(),
        created_ms: now,
    }
}

/// The invitation's UID: one per request, so a move updates the event the
/// recipient's calendar already holds and a cancel removes it.
fn invitation_uid(state: &AppState, r: &Request) -> String {
    format!("{}@{}", r.id, mail::uid_host(&state.cfg))
}

fn person(state: &AppState, a: &convene_store::Account) -> Person {
    Person {
        email: mail::member_address(a)
            .map(str::to_string)
            .unwrap_or_else(|| mail_from_address(state)),
        name: (!a.name.trim().is_empty()).then(|| a.name.clone()),
    }
}

/// What a booking, a move or a cancellation mails: an invitation to every
/// recipient (the one who picked gets the reschedule and decline links)
/// and to every booked member whose calendar is not connected; members a
/// move dropped get the cancellation. Nothing without SMTP.
/// The members a booking's mails concern: their accounts, and which of them
/// have a connected calendar (see [`mail::connected_members`]).
#[derive(Default)]
struct People {
    accounts: Vec<convene_store::Account>,
    connected: std::collections::HashSet<String>,
}

impl People {
    async fn of(db: &convene_store::Db, members: &[String]) -> Result<Self, ApiError> {
        Ok(People {
            accounts: db.accounts(members).await?,
            connected: mail::connected_members(db, members).await?,
        })
    }
}

fn booking_mails(
    state: &AppState,
    r: &Request,
    spec: &RequestSpec,
    booking: &Booking,
    people: &People,
    mode: &'static str,
    dropped: &[String],
) -> Vec<convene_store::notify::Delivery> {
    let (accounts, connected) = (&people.accounts, &people.connected);
    if !mail::enabled(state) {
        return Vec::new();
    }
    let account = |id: &str| accounts.iter().find(|a| a.id == id);
    let organizer = booking
        .members
        .iter()
        .find(|m| spec.host.members.contains(m))
        .or(booking.members.first())
        .and_then(|m| account(m))
        .map(|a| person(state, a))
        .unwrap_or_else(|| Person {
            email: mail_from_address(state),
            name: None,
        });
    let members: Vec<&convene_store::Account> =
        booking.members.iter().filter_map(|m| account(m)).collect();
    // Members without an address of their own are not listed: the
    // organizer stands for them.
    let mut attendees: Vec<Person> = members
        .iter()
        .filter(|a| mail::member_address(a).is_some())
        .map(|a| person(state, a))
        .collect();
    if !attendees.iter().any(|p| p.email == organizer.email) {
        attendees.insert(0, organizer.clone());
    }
    attendees.extend(spec.recipients.iter().map(|rc| Person {
        email: rc.email.clone(),
        name: rc.display_name.clone(),
    }));
    let invite = |method: &'static str, sequence: i64| Invite {
        uid: invitation_uid(state, r),
        sequence,
        method,
        start: from_ms(booking.start_ms),
        end: from_ms(booking.end_ms),
        stamp: from_ms(state.now_ms()),
        summary: spec.summary.clone(),
        description: spec.description.clone(),
        location: spec.location.clone(),
        organizer: organizer.clone(),
        attendees: attendees.clone(),
    };
    let (method, sequence) = if mode == "cancelled" {
        ("CANCEL", booking.sequence + 1)
    } else {
        ("REQUEST", booking.sequence)
    };
    let host_name = organizer.name.clone().unwrap_or(organizer.email.clone());
    let view = |mode: &'static str, tzid: &str, greeting: String| InvitationView {
        mode,
        greeting,
        summary: spec.summary.clone(),
        when: mail::when(from_ms(booking.start_ms), from_ms(booking.end_ms), tzid),
        location: spec.location.clone(),
        description: spec.description.clone(),
        host: host_name.clone(),
        view_url: None,
        reschedule_url: None,
        decline_url: None,
    };
    let hello = |name: Option<&str>| match name.filter(|n| !n.trim().is_empty()) {
        Some(n) => format!("Hello {n},"),
        None => "Hello,".to_string(),
    };
    let mut out = Vec::new();
    let booked = invite(method, sequence);
    let open = r.state == RequestState::Complete;
    for rc in &spec.recipients {
        // Only the one who picked told us their zone; the others read the
        // request's.
        let tzid = match (&booking.tz, rc.slot_selector) {
            (Some(z), true) => z.as_str(),
            _ => &spec.tzid,
        };
        let mut v = view(mode, tzid, hello(rc.display_name.as_deref()));
        let mut link = None;
        // Only the one who picked may move or decline the meeting.
        if rc.slot_selector && open {
            let url = select_url_with(state, LINK_TOKEN_PLACEHOLDER);
            let (can_decline, can_reschedule) = changes_allowed(r, spec, state.now_ms());
            v.view_url = Some(url.clone());
            v.reschedule_url = can_reschedule.then(|| format!("{url}?reschedule=true"));
            v.decline_url = can_decline.then(|| format!("{url}?decline=true"));
            link = Some(("srq".to_string(), r.id.clone()));
        }
        let to = Person {
            email: rc.email.clone(),
            name: rc.display_name.clone(),
        };
        let m = mail::compose(&to, &v, Some(&booked), link);
        out.push(mail::delivery(state, &r.application_id, &m));
    }
    let mailed = |a: &&&convene_store::Account| {
        mail::member_address(a).is_some() && !connected.contains(&a.id)
    };
    for a in members.iter().filter(mailed) {
        let v = view(mode, &a.default_tzid, hello(Some(&a.name)));
        let m = mail::compose(&person(state, a), &v, Some(&booked), None);
        out.push(mail::delivery(state, &r.application_id, &m));
    }
    let gone = invite("CANCEL", sequence + 1);
    for a in dropped
        .iter()
        .filter_map(|m| account(m))
        .filter(|a| mailed(&a))
    {
        let v = view("cancelled", &a.default_tzid, hello(Some(&a.name)));
        let m = mail::compose(&person(state, a), &v, Some(&gone), None);
        out.push(mail::delivery(state, &r.application_id, &m));
    }
    out
}

fn mail_from_address(state: &AppState) -> String {
    mail::sender_address(&state.cfg)
}

/// The mail that hands the recipient who picks their link, when a request
/// is created with `email_recipient`.
fn link_mail(
    state: &AppState,
    r: &Request,
    spec: &RequestSpec,
    host: Option<&convene_store::Account>,
) -> Option<convene_store::notify::Delivery> {
    if !mail::enabled(state) {
        return None;
    }
    let rc = spec.recipients.iter().find(|rc| rc.slot_selector)?;
    let host_name = host
        .map(|a| {
            if a.name.trim().is_empty() {
                a.email.clone()
            } else {
                a.name.clone()
            }
        })
        .unwrap_or_else(|| "Your host".into());
    let v = InvitationView {
        mode: "pick",
        greeting: match rc.display_name.as_deref().filter(|n| !n.trim().is_empty()) {
            Some(n) => format!("Hello {n},"),
            None => "Hello,".into(),
        },
        summary: spec.summary.clone(),
        when: String::new(),
        location: spec.location.clone(),
        description: spec.description.clone(),
        host: host_name,
        view_url: Some(select_url_with(state, LINK_TOKEN_PLACEHOLDER)),
        reschedule_url: None,
        decline_url: None,
    };
    let to = Person {
        email: rc.email.clone(),
        name: rc.display_name.clone(),
    };
    let m = mail::compose(&to, &v, None, Some(("srq".into(), r.id.clone())));
    Some(mail::delivery(state, &r.application_id, &m))
}

/// Records a new request; with `email_recipient` the recipient who picks
/// is mailed their link in the same transaction.
pub async fn create(state: &AppState, r: &Request, email_recipient: bool) -> ApiResult<()> {
    let spec = spec_of(r)?;
    let mails: Vec<convene_store::notify::Delivery> = if email_recipient {
        let host = state
            .db
            .accounts(&spec.host.members[..1.min(spec.host.members.len())])
            .await?;
        link_mail(state, r, &spec, host.first())
            .into_iter()
            .collect()
    } else {
        Vec::new()
    };
    if mails.is_empty() {
        state.db.insert_request(r).await?;
        return Ok(());
    }
    state
        .db
        .write(async |tx: &mut Tx| {
            tx.insert_request(r).await?;
            for d in &mails {
                tx.insert_delivery(d).await?;
            }
            Ok::<_, StoreError>(())
        })
        .await?;
    Ok(())
}

/// Moves a request from one state to another, with its history entry, its
/// notification and any extra writes, in one transaction. The update is a
/// compare-and-set on the state *and* `updated_ms` of the copy the caller
/// read (every change moves `updated_ms` forward), so a transition decided
/// on a stale copy — e.g. a cancel that read the booking before a
/// reschedule moved it — fails instead of acting on the wrong booking.
async fn transition(
    state: &AppState,
    r: &Request,
    to: RequestState,
    note: &str,
    booking: Option<&Booking>,
    kind: &str,
    remove_events_of: &[String],
) -> Result<Request, ApiError> {
    if !may_move(r.state, to) {
        return Err(ApiError::field(
            "scheduling_request_id",
            "state_changed",
            format!("a {} request cannot become {to}", r.state),
        ));
    }
    let now = state.now_ms().max(r.updated_ms + 1);
    let mut next = r.clone();
    next.state = to;
    next.updated_ms = now;
    if let Some(b) = booking {
        next.booking_json = Some(serde_json::to_string(b).expect("serializable"));
    }
    let mut h = history_of(r);
    h.push(HistoryItem {
        at_ms: now,
        state: to.to_string(),
        note: note.to_string(),
    });
    next.history_json = serde_json::to_string(&h).expect("serializable");
    let note = notification(state, &next, kind, request_json(state, &next)?);
    // A booked meeting that is called off leaves everyone's calendar.
    let was_booked = matches!(
        r.state,
        RequestState::Complete | RequestState::PendingRescheduling
    );
    let mails = match booking_of(r) {
        Some(b) if was_booked && matches!(to, RequestState::Cancelled | RequestState::Declined) => {
            let people = People::of(&state.db, &b.members).await?;
            booking_mails(state, &next, &spec_of(r)?, &b, &people, "cancelled", &[])
        }
        _ => Vec::new(),
    };
    let written = state
        .db
        .write(async |tx: &mut Tx| {
            for m in remove_events_of {
                tx.delete_booking_events(m, &r.id, now).await?;
            }
            let watched = tx.update_request_watched(&next, r).await?;
            for d in &mails {
                tx.insert_delivery(d).await?;
            }
            if watched {
                tx.insert_notification(&note).await?;
            }
            Ok(())
        })
        .await;
    written.map_err(|e| match e {
        StoreError::Conflict(_) => ApiError::field(
            "scheduling_request_id",
            "state_changed",
            "the request changed meanwhile; reload it",
        ),
        e => e.into(),
    })?;
    Ok(next)
}

/// Marks a request expired when its window can no longer hold a slot.
/// Availability that is merely full now may open up again, so only the
/// passing of the window expires a request.
pub async fn refresh(state: &AppState, r: Request) -> ApiResult<Request> {
    if !matches!(r.state.as_str(), "pending" | "pending_rescheduling") {
        return Ok(r);
    }
    let spec = spec_of(&r)?;
    if !spec.open_periods(state.now_ms()).is_empty() {
        return Ok(r);
    }
    // A booking being moved stays booked when no new time can be chosen:
    // the page promised the current booking stays until a new one is picked.
    let moved = match booking_of(&r).filter(|_| r.state == RequestState::PendingRescheduling) {
        Some(b) => {
            transition(
                state,
                &r,
                RequestState::Complete,
                "the window to reschedule passed; the booking stands",
                Some(&b),
                "scheduling_request_reschedule_expired",
                &[],
            )
            .await
        }
        None => {
            transition(
                state,
                &r,
                RequestState::Expired,
                "no slot remains in the window",
                None,
                "scheduling_request_expired",
                &[],
            )
            .await
        }
    };
    match moved {
        Ok(n) => Ok(n),
        // Someone else moved it first: read what they wrote.
        Err(_) => Ok(state.db.request(&r.id).await?.unwrap_or(r)),
    }
}

pub async fn cancel_request(
    state: &AppState,
    r: &Request,
    note: &str,
    kind: &str,
) -> ApiResult<Request> {
    let members = booking_of(r).map(|b| b.members).unwrap_or_default();
    transition(
        state,
        r,
        RequestState::Cancelled,
        note,
        None,
        kind,
        &members,
    )
    .await
}

pub async fn start_rescheduling(state: &AppState, r: &Request) -> ApiResult<Request> {
    transition(
        state,
        r,
        RequestState::PendingRescheduling,
        "the recipient asked to reschedule",
        booking_of(r).as_ref(),
        "scheduling_request_rescheduling",
        &[],
    )
    .await
}

#[derive(Debug)]
pub enum BookError {
    /// The slot is not (or no longer) free.
    Taken,
    /// The request is not waiting for a choice.
    NotOpen(String),
    Api(ApiError),
}

impl From<StoreError> for BookError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Conflict(_) => BookError::NotOpen("changed".into()),
            e => BookError::Api(e.into()),
        }
    }
}

impl From<ApiError> for BookError {
    fn from(e: ApiError) -> Self {
        BookError::Api(e)
    }
}

/// Picks `n` of the `free` members: least recently booked first, ties at
/// random, so work spreads over a pool.
fn pick(
    free: &[String],
    n: usize,
    last_booked: &std::collections::HashMap<String, i64>,
) -> Vec<String> {
    let mut c: Vec<String> = free.to_vec();
    c.shuffle(&mut rand::rng());
    c.sort_by_key(|m| last_booked.get(m).copied().unwrap_or(i64::MIN));
    c.truncate(n);
    c
}

/// The heart of every booking: `start` is checked against everyone's
/// availability as of `accounts` (the members' rows, with the availability
/// versions the check is valid for), within the `open` window, with the
/// query `q`, and in each group the members needed are picked, least
/// recently booked first. Scheduling requests and Real-Time Scheduling
/// links book through here.
///
/// The check may run before the booking's transaction: the transaction
/// writes each chosen member's event with `Tx::insert_booked_event` at the
/// version answered in [`Booking::versions`], which fails if anything the
/// check read has changed since.
pub(crate) async fn recheck_and_pick(
    state: &AppState,
    mut q: QuerySpec,
    open: &[Interval],
    start: Timestamp,
    groups: &[GroupDef],
    accounts: &[convene_store::Account],
) -> Result<Checked, BookError> {
    let end = start
        .checked_add(q.duration)
        .map_err(|_| BookError::Taken)?;
    if !open.iter().any(|p| p.start <= start && end <= p.end) {
        return Err(BookError::Taken);
    }
    q.query_slots = Some(vec![start]);
    q.format = Format::Slots;
    q.accounts = accounts.to_vec();
    let found = evaluate(&state.availability, &q).await?;
    let Some(slot) = found.first() else {
        return Err(BookError::Taken);
    };
    let last: std::collections::HashMap<String, i64> = accounts
        .iter()
        .map(|a| (a.id.clone(), a.last_booked_ms.unwrap_or(i64::MIN)))
        .collect();
    let mut chosen: Vec<String> = Vec::new();
    for g in groups {
        let free: Vec<String> = g
            .members
            .iter()
            .filter(|m| slot.members.contains(m))
            .cloned()
            .collect();
        let need = g.required.unwrap_or(g.members.len());
        let already = free.iter().filter(|m| chosen.contains(m)).count();
        let rest: Vec<String> = free
            .iter()
            .filter(|m| !chosen.contains(m))
            .cloned()
            .collect();
        let more = need.saturating_sub(already);
        if rest.len() < more {
            return Err(BookError::Taken);
        }
        chosen.extend(pick(&rest, more, &last));
    }
    let versions = accounts
        .iter()
        .filter(|a| chosen.contains(&a.id))
        .map(|a| (a.id.clone(), a.availability_version))
        .collect();
    Ok(Checked {
        booking: Booking {
            start_ms: to_ms(start),
            end_ms: to_ms(slot.end),
            members: chosen,
            sequence: 0,
            tz: None,
        },
        versions,
    })
}

/// A checked booking and the availability versions of its members that
/// the check is valid for (see [`recheck_and_pick`]).
pub(crate) struct Checked {
    pub(crate) booking: Booking,
    pub(crate) versions: std::collections::HashMap<String, i64>,
}

impl Checked {
    /// The version to write `member`'s next event at.
    pub(crate) fn version(&mut self, member: &str) -> Result<&mut i64, BookError> {
        self.versions.get_mut(member).ok_or_else(|| {
            BookError::Api(ApiError::Internal(anyhow::anyhow!(
                "{member} was not checked"
            )))
        })
    }
}

/// Why one try at a booking's transaction failed: for good, or because
/// something the check read before the transaction changed meanwhile
/// (then the booking is decided again).
enum Attempt {
    Failed(BookError),
    Stale,
}

impl From<StoreError> for Attempt {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Conflict(_) => Attempt::Stale,
            e => Attempt::Failed(e.into()),
        }
    }
}

impl From<BookError> for Attempt {
    fn from(e: BookError) -> Self {
        Attempt::Failed(e)
    }
}

impl From<ApiError> for Attempt {
    fn from(e: ApiError) -> Self {
        Attempt::Failed(e.into())
    }
}

/// How many times a booking is decided again when what it checked changed
/// before it could commit (another booking of the same people, mostly);
/// past this it answers that the request changed.
const BOOK_TRIES: usize = 5;

/// Books `start` for the request. The slot is checked against everyone's
/// availability first, outside any lock; then one serialized transaction
/// writes the events at the availability versions the check saw (and the
/// request's state at the copy it read), completes the request and records
/// the notification. If anything changed in between, the transaction rolls
/// back and the booking is decided again on fresh data. Two recipients
/// racing for the same people: exactly one wins.
#[tracing::instrument(skip(state, r), fields(request = %r.id))]
pub async fn book(
    state: &AppState,
    r: &Request,
    start: Timestamp,
    picked_in: Option<&str>,
) -> Result<Request, BookError> {
    let spec = spec_of(r)?;
    let members = spec.members();
    let primaries = match state.availability.recent_primaries(&members) {
        Some(p) => p,
        None => {
            let read = state
                .db
                .primary_calendars_and_connections(&members)
                .await
                .map_err(ApiError::from)?;
            state.availability.note_primaries(&read);
            read
        }
    };
    // The slot with its buffers, asked of the CalDAV servers of the members
    // with connected calendars (and of any member without a primary
    // calendar, to be safe); the check below decides with what they answered.
    let ask: Vec<String> = members
        .iter()
        .filter(|m| {
            primaries
                .iter()
                .find(|p| &p.calendar.account_id == *m)
                .is_none_or(|p| p.connected)
        })
        .cloned()
        .collect();
    if !ask.is_empty() {
        super::connected::check_slot(
            state,
            &ask,
            start
                .checked_sub(SignedDuration::from_mins(spec.before_min))
                .unwrap_or(start),
            start
                .checked_add(spec.duration() + SignedDuration::from_mins(spec.after_min))
                .unwrap_or(start),
        )
        .await;
    }
    let calendars: Vec<convene_store::Calendar> =
        primaries.into_iter().map(|p| p.calendar).collect();
    let mut cur = r.clone();
    for attempt in 0..BOOK_TRIES {
        match book_once(
            state,
            &spec,
            &cur,
            &calendars,
            start,
            picked_in,
            attempt == 0,
        )
        .await
        {
            Ok(done) => return Ok(done),
            Err(Attempt::Failed(e)) => return Err(e),
            Err(Attempt::Stale) => {
                cur = state
                    .db
                    .request(&r.id)
                    .await
                    .map_err(ApiError::from)?
                    .ok_or(BookError::NotOpen("gone".into()))?;
            }
        }
    }
    Err(BookError::NotOpen("changed".into()))
}

/// One try of [`book`], deciding on the request as read in `cur`.
async fn book_once(
    state: &AppState,
    spec: &RequestSpec,
    cur: &Request,
    calendars: &[convene_store::Calendar],
    start: Timestamp,
    picked_in: Option<&str>,
    first: bool,
) -> Result<Request, Attempt> {
    if !matches!(cur.state.as_str(), "pending" | "pending_rescheduling") {
        return Err(BookError::NotOpen(cur.state.to_string()).into());
    }
    let id = &cur.id;
    let members = spec.members();
    // A first try decides on the members as the recipient's page just read
    // them, if it did; a retry (something changed) reads them.
    let recent = first
        .then(|| state.availability.recent_accounts(&members))
        .flatten();
    let accounts = match recent {
        Some(a) => a,
        None => state.db.accounts(&members).await?,
    };
    let now = state.now_ms();
    let groups: Vec<GroupDef> = std::iter::once(&spec.host)
        .chain(&spec.collaborator_groups)
        .cloned()
        .collect();
    let mut checked = recheck_and_pick(
        state,
        spec.slot_query(now, id),
        &spec.open_periods(now),
        start,
        &groups,
        &accounts,
    )
    .await?;
    let chosen = checked.booking.members.clone();
    let before = booking_of(cur);
    let rescheduled = cur.state == RequestState::PendingRescheduling;
    checked.booking.sequence = match (&before, rescheduled) {
        (Some(b), true) => b.sequence + 1,
        _ => 0,
    };
    checked.booking.tz = picked_in
        .filter(|z| crate::tz(z).is_some())
        .map(str::to_string);
    let booking = checked.booking.clone();
    let previous: Vec<String> = before.map(|b| b.members).unwrap_or_default();
    let dropped: Vec<String> = previous
        .iter()
        .filter(|m| !chosen.contains(m))
        .cloned()
        .collect();
    let attendees: Vec<Value> = spec
        .recipients
        .iter()
        .map(|rc| {
            let mut a = json!({"email": rc.email, "status": "accepted"});
            if let Some(n) = &rc.display_name {
                a["display_name"] = json!(n);
            }
            a
        })
        .collect();
    let mut body = json!({ "attendees": attendees });
    if let Some(l) = &spec.location {
        body["location"] = json!({"description": l});
    }
    let events: Vec<Event> = calendars
        .iter()
        .filter(|c| chosen.contains(&c.account_id))
        .map(|cal| Event {
            summary: spec.summary.clone(),
            description: spec.description.clone(),
            tzid: spec.tzid.clone(),
            body_json: body.to_string(),
            ..super::booked_event(
                &cal.id,
                &cal.account_id,
                id,
                (booking.start_ms, booking.end_ms),
                now,
            )
        })
        .collect();
    let mut next = cur.clone();
    next.state = RequestState::Complete;
    next.updated_ms = now.max(cur.updated_ms + 1);
    next.booking_json = Some(serde_json::to_string(&booking).expect("serializable"));
    let mut h = history_of(cur);
    h.push(HistoryItem {
        at_ms: now,
        state: RequestState::Complete.to_string(),
        note: format!(
            "{} {}",
            if rescheduled { "moved to" } else { "booked" },
            fmt_ms(booking.start_ms)
        ),
    });
    next.history_json = serde_json::to_string(&h).expect("serializable");
    let mode = if rescheduled { "moved" } else { "booked" };
    // Only the mails need the members' addresses.
    let people = if mail::enabled(state) {
        People::of(&state.db, &members).await?
    } else {
        People::default()
    };
    let mails = booking_mails(state, &next, spec, &booking, &people, mode, &dropped);
    let kind = if rescheduled {
        "scheduling_request_rescheduled"
    } else {
        "scheduling_request_time_chosen"
    };
    let note = notification(state, &next, kind, request_json(state, &next)?);
    let checked_at = checked.versions.clone();
    // Each event at the version its member was checked at (a member's
    // second event: one more).
    let mut writes = Vec::with_capacity(events.len());
    for ev in &events {
        let v = checked.version(&ev.account_id)?;
        writes.push((ev, *v));
        *v += 1;
    }
    // Every write below checks what it was decided on (versions, the
    // request's state): the transaction needs SQLite's lock only from its
    // first statement.
    state
        .db
        .write_checked(async |tx: &mut Tx| -> Result<(), Attempt> {
            // PostgreSQL: the request's row first, then the members' rows in
            // id order, as every booking locks them.
            tx.lock_request(id).await?;
            tx.lock_accounts(&members).await?;
            for m in &dropped {
                tx.delete_booking_events(m, id, now).await?;
            }
            let watched = tx.record_booking(&writes, &next, cur).await?;
            for d in &mails {
                tx.insert_delivery(d).await?;
            }
            if watched {
                tx.insert_notification(&note).await?;
            }
            Ok(())
        })
        .await?;
    // A first booking adds exactly one event per member: the cache can
    // follow without reading (a move also changes the old event: it reads).
    if !rescheduled {
        let interval = Interval::new(from_ms(booking.start_ms), from_ms(booking.end_ms));
        for ev in &events {
            if let Some(v) = checked_at.get(&ev.account_id) {
                state
                    .availability
                    .booked(&ev.account_id, *v, &ev.calendar_id, interval, id, now);
            }
        }
    }
    Ok(next)
}

/// Template problems, each with the link an admin follows to fix it.
pub(crate) fn template_error(
    state: &AppState,
    sub: &str,
    key: &str,
    description: &str,
) -> FieldError {
    FieldError {
        field: "template.sub".into(),
        key: format!("errors.template.{key}"),
        description: description.into(),
        dashboard_url: Some(template_dashboard_url(state, sub)),
    }
}

fn has_placeholders(s: &str) -> bool {
    s.contains("{{")
}

fn group_def(v: &Value) -> GroupDef {
    GroupDef {
        name: v.get("name").and_then(Value::as_str).map(str::to_string),
        members: v
            .get("members")
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(|m| m.get("sub").and_then(Value::as_str).map(str::to_string))
                    .collect()
            })
            .unwrap_or_default(),
        required: v
            .get("required")
            .and_then(Value::as_u64)
            .map(|n| n as usize),
    }
}

/// The recipients a template adds to each request (checked by
/// `templates::normalize`); they never select the slot.
fn template_recipients(t: &Value) -> Vec<Recipient> {
    t["recipients"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|r| {
                    Some(Recipient {
                        email: r["email"].as_str()?.to_string(),
                        display_name: r["display_name"].as_str().map(str::to_string),
                        slot_selector: false,
                    })
                })
                .collect()
        })
        .unwrap_or_default()
}

/// The settings shared by templates and direct requests (already normalized
/// by `templates::normalize`), checked for use.
pub(crate) struct Resolved {
    pub(crate) host_kind: String,
    pub(crate) host: GroupDef,
    pub(crate) groups: Vec<GroupDef>,
    pub(crate) spec_base: RequestSpec,
}

/// A problem found while resolving: its key and description.
type Fail<'a> = &'a mut (dyn FnMut(&str, &str) + Send);

/// Checks a template's settings for use and resolves them into the spec a
/// request is created with; every problem goes to `fail`.
pub(crate) async fn resolve(
    state: &AppState,
    ou: &str,
    t: &Value,
    impersonated_host: Option<&str>,
    fail: Fail<'_>,
) -> ApiResult<Option<Resolved>> {
    let now = state.now_ms();
    let (summary, description) = event_text(t, fail);
    let Some((host_kind, host)) = host_of(t, impersonated_host) else {
        fail("host.required", "host is required.");
        return Ok(None);
    };
    let groups: Vec<GroupDef> = t["collaborator_groups"]
        .as_array()
        .map(|a| a.iter().map(group_def).collect())
        .unwrap_or_default();
    check_participants(state, ou, &host, &groups, fail).await?;
    let periods = search_periods(t, now, fail);
    let spec_base = spec_from(t, summary, description, periods, &host_kind, &host, &groups);
    Ok(Some(Resolved {
        host_kind,
        host,
        groups,
        spec_base,
    }))
}

/// The event's summary and description, which may not hold placeholders.
fn event_text(t: &Value, fail: Fail<'_>) -> (String, String) {
    let event = &t["event"];
    let summary = event["summary"].as_str().unwrap_or("").to_string();
    let description = event["description"].as_str().unwrap_or("").to_string();
    if has_placeholders(&summary) || has_placeholders(&description) {
        fail(
            "placeholders_not_supported",
            "Event details contain placeholders that are not supported via the API.",
        );
    }
    (summary, description)
}

fn single_host(sub: &str) -> GroupDef {
    GroupDef {
        name: None,
        members: vec![sub.to_string()],
        required: None,
    }
}

/// The host kind (`host` or `host_group`) and who it is; without one in the
/// template, the account the caller acts for hosts.
fn host_of(t: &Value, impersonated_host: Option<&str>) -> Option<(String, GroupDef)> {
    if let Some(h) = t.get("host").and_then(|h| h["sub"].as_str()) {
        Some(("host".to_string(), single_host(h)))
    } else if let Some(g) = t.get("host_group") {
        Some(("host_group".to_string(), group_def(g)))
    } else {
        impersonated_host.map(|sub| ("host".to_string(), single_host(sub)))
    }
}

/// Every group has someone in it, everyone is an account of the
/// Organizational Unit, and every group's requirement can be met.
async fn check_participants(
    state: &AppState,
    ou: &str,
    host: &GroupDef,
    groups: &[GroupDef],
    fail: Fail<'_>,
) -> ApiResult<()> {
    if host.members.is_empty() {
        fail(
            "host_group.must_not_be_empty",
            "host_group must have at least one participant.",
        );
    }
    if groups.iter().any(|g| g.members.is_empty()) {
        fail(
            "collaborator_groups.selection_rule_must_not_be_empty",
            "The Selection Rule must have at least one participant.",
        );
    }
    let mut all: Vec<String> = host.members.clone();
    all.extend(groups.iter().flat_map(|g| g.members.clone()));
    // Only existence and the unit are checked: a copy this process already
    // holds answers as well as the database.
    let known = match state.availability.cached_accounts(&all) {
        Some(known) => known,
        None => state.db.accounts(&all).await?,
    };
    let ok = |s: &String| {
        known
            .iter()
            .any(|a| &a.id == s && a.organizational_unit_id == ou)
    };
    if !host.members.iter().all(ok) {
        fail("host.not_recognized", "host not recognized.");
    }
    if !groups.iter().all(|g| g.members.iter().all(ok)) {
        fail(
            "collaborator_groups.member_not_recognized",
            "A collaborator group member is not recognized.",
        );
    }
    let unsatisfiable = std::iter::once(host)
        .chain(groups)
        .any(|g| !g.members.is_empty() && g.required.is_some_and(|n| n > g.members.len()));
    if unsatisfiable {
        fail(
            "unsatisfiable_query_participants",
            "The template contains a collection of participants whose requirements cannot be satisfied.",
        );
    }
    Ok(())
}

/// The absolute search window: the template's query periods still to come,
/// or its number of days from now.
fn search_periods(t: &Value, now: i64, fail: Fail<'_>) -> Vec<(i64, i64)> {
    let Some(ps) = t["availability_mode"]
        .get("query_periods")
        .and_then(Value::as_array)
    else {
        let days = t["availability_mode"]["days"]
            .as_i64()
            .unwrap_or(crate::domain::templates::DEFAULT_WINDOW_DAYS);
        return vec![(now, now + days * 24 * 3_600_000)];
    };
    let all: Vec<(i64, i64)> = ps
        .iter()
        .filter_map(|p| {
            let s: Timestamp = p["start"].as_str()?.parse().ok()?;
            let e: Timestamp = p["end"].as_str()?.parse().ok()?;
            Some((to_ms(s), to_ms(e)))
        })
        .collect();
    if all.is_empty() || all.iter().all(|(_, e)| *e <= now) {
        fail(
            "availability_mode.query_periods.query_period_in_the_past",
            "The template contains query periods that are in the past.",
        );
    }
    all.into_iter().filter(|(_, e)| *e > now).collect()
}

fn minutes(v: &Value) -> Option<i64> {
    v["minutes"].as_i64()
}

/// The spec before the caller's recipients are added.
fn spec_from(
    t: &Value,
    summary: String,
    description: String,
    periods: Vec<(i64, i64)>,
    host_kind: &str,
    host: &GroupDef,
    groups: &[GroupDef],
) -> RequestSpec {
    let duration_min = minutes(&t["duration"]).unwrap_or(30);
    let buffer = t.get("buffer");
    // Without a start interval, slots fall on the half hour when the
    // meeting fits it, on the quarter hour otherwise.
    let default_interval = if duration_min % 30 == 0 { 30 } else { 15 };
    RequestSpec {
        summary,
        description,
        location: t["event"]["location"]["description"]
            .as_str()
            .map(str::to_string),
        duration_min,
        before_min: buffer.and_then(|b| minutes(&b["before"])).unwrap_or(0),
        after_min: buffer.and_then(|b| minutes(&b["after"])).unwrap_or(0),
        buffer_set: buffer.is_some(),
        start_interval_min: minutes(&t["start_interval"]).unwrap_or(default_interval),
        minimum_notice_min: minutes(&t["minimum_notice"]).unwrap_or(0),
        tzid: t["tzid"].as_str().unwrap_or("Etc/UTC").to_string(),
        periods,
        host_kind: host_kind.to_string(),
        host: host.clone(),
        collaborator_groups: groups.to_vec(),
        recipients: template_recipients(t),
    }
}

/// Notification types sent to the application's webhook.
pub const WEBHOOK_TYPES: &[&str] = &[
    "scheduling_request_time_chosen",
    "scheduling_request_rescheduling",
    "scheduling_request_rescheduled",
    "scheduling_request_reschedule_expired",
    "scheduling_request_declined",
    "scheduling_request_cancelled",
    "scheduling_request_expired",
];

/// The moves a request may make; every transition is checked against it.
/// Booking (`Pending`/`PendingRescheduling` → `Complete`) happens in
/// [`book`]; the rest in [`transition`].
pub fn may_move(from: RequestState, to: RequestState) -> bool {
    use RequestState::*;
    match (from, to) {
        (Pending, Complete | Cancelled | Expired) => true,
        // A recipient declines only a booked meeting.
        (Complete, PendingRescheduling | Cancelled | Declined) => true,
        // Rescheduling: a new time, or the old one stands when the window
        // passes; cancel and decline act on the booking that stands.
        (PendingRescheduling, Complete | Cancelled | Declined) => true,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use RequestState::*;

    #[test]
    fn finished_requests_never_move() {
        for to in RequestState::ALL {
            for from in [Cancelled, Declined, Expired] {
                assert!(!may_move(from, to), "{from} -> {to}");
            }
        }
    }

    #[test]
    fn nothing_moves_to_itself_or_back_to_pending() {
        for s in RequestState::ALL {
            assert!(!may_move(s, s), "{s} -> {s}");
            assert!(!may_move(s, Pending), "{s} -> pending");
        }
    }

    #[test]
    fn the_moves_the_seed_describes() {
        assert!(may_move(Pending, Complete));
        assert!(may_move(Pending, Cancelled));
        assert!(may_move(Pending, Expired));
        assert!(!may_move(Pending, Declined), "nothing booked to decline");
        assert!(may_move(Complete, PendingRescheduling));
        assert!(may_move(PendingRescheduling, Complete));
        assert!(
            !may_move(PendingRescheduling, Expired),
            "the booking stands"
        );
        assert!(!may_move(Complete, Expired));
    }

    #[test]
    fn states_round_trip_through_their_spelling() {
        for s in RequestState::ALL {
            assert_eq!(s.as_str().parse::<RequestState>(), Ok(s));
        }
        assert!("booked".parse::<RequestState>().is_err());
    }
}

#[cfg(test)]
mod scrub_tests {
    use super::*;

    #[test]
    fn tokens_become_the_placeholder_and_placeholders_stay() {
        let before = r#"{"u":"http://x/rts/AbC-d_9?decline=true","v":"http://x/rts/{link_token}","w":"/rts/"}"#;
        let after = scrub_link_tokens(before);
        assert_eq!(
            after,
            r#"{"u":"http://x/rts/{link_token}?decline=true","v":"http://x/rts/{link_token}","w":"/rts/"}"#
        );
        assert_eq!(scrub_link_tokens(&after), after, "idempotent");
    }
}
