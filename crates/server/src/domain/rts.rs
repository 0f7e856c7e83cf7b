//! Real-Time Scheduling links (contract §6): a link made by the application
//! that lets one person pick a time from an availability query, and the
//! add-to-calendar links made the same way for one fixed time. Picking books
//! through the same serialized transaction as a scheduling request
//! ([`crate::domain::requests::recheck_and_pick`]).

use convene_engine::{Format, Interval, Required, SignedDuration, Timestamp};
use convene_store::rts::RtsLink;
use convene_store::{Event, NewNotification, StoreError, Tx};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::AppState;
use crate::domain::availability::{GroupSpec, MemberSpec, QuerySpec};
use crate::domain::requests::{BookError, Booking, Checked, GroupDef, recheck_and_pick};
use crate::error::{ApiError, ApiResult};
use crate::ids::{digest, new_id};
use crate::time::{fmt_ms, from_ms, to_ms};

/// The notification a completed link's `callback_urls.completed_url` gets.
pub const COMPLETED: &str = "real_time_scheduling_completed";
/// The notification `callback_urls.no_times_suitable_url` gets.
pub const NO_TIMES_SUITABLE: &str = "real_time_scheduling_no_times_suitable";
/// What a disabled link's page says when the application gave no message.
pub const DEFAULT_DISABLED: &str = "This scheduling link is no longer available.";

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct StoredMember {
    pub sub: String,
    pub calendar_ids: Option<Vec<String>>,
    pub available_periods: Option<Vec<(i64, i64)>>,
    pub managed: bool,
    pub rule_ids: Option<Vec<String>>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct StoredGroup {
    pub members: Vec<StoredMember>,
    /// `None`: all members.
    pub required: Option<usize>,
}

/// Where the booked event is written.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Target {
    pub sub: String,
    pub calendar_id: String,
    /// `target_calendars[].attendee`, invited to the event.
    pub attendee: Option<Value>,
}

/// A link as created: later changes to the accounts' calendars change the
/// times it offers, nothing else.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct LinkSpec {
    pub groups: Vec<StoredGroup>,
    /// The search window, epoch ms.
    pub periods: Vec<(i64, i64)>,
    pub duration_min: i64,
    pub before_min: i64,
    pub after_min: i64,
    pub start_interval_min: i64,
    pub minimum_notice_min: i64,
    pub tzid: String,
    /// The `event` as given (an upsert-event body without start/end).
    pub event: Value,
    pub targets: Vec<Target>,
    /// `event_creation: "single"`: one event, in the first target calendar.
    pub single_event: bool,
    pub completed_url: Option<String>,
    pub redirect_url: Option<String>,
    pub hour_format: Option<String>,
    /// A sequencing link's steps (each with its own query, event and
    /// targets), booked together in order; empty for other links.
    #[serde(default)]
    pub steps: Vec<LinkSpec>,
    /// A step's `sequence_id`, as given.
    #[serde(default)]
    pub sequence_id: Option<Value>,
    /// Called when the visitor says none of the times suit them.
    #[serde(default)]
    pub no_times_suitable_url: Option<String>,
}

impl LinkSpec {
    /// The stored form of a parsed availability query.
    pub fn from_query(q: &QuerySpec) -> (Vec<StoredGroup>, Vec<(i64, i64)>) {
        let groups =
            q.groups
                .iter()
                .map(|g| StoredGroup {
                    members: g
                        .members
                        .iter()
                        .map(|m| StoredMember {
                            sub: m.sub.clone(),
                            calendar_ids: m.calendar_ids.clone(),
                            available_periods: m.available_periods.as_ref().map(|ps| {
                                ps.iter().map(|p| (to_ms(p.start), to_ms(p.end))).collect()
                            }),
                            managed: m.managed,
                            rule_ids: m.rule_ids.clone(),
                        })
                        .collect(),
                    required: match g.required {
                        Required::All => None,
                        Required::AtLeast(n) => Some(n),
                    },
                })
                .collect();
        let periods = q
            .periods
            .iter()
            .map(|p| (to_ms(p.start), to_ms(p.end)))
            .collect();
        (groups, periods)
    }

    pub fn duration(&self) -> SignedDuration {
        SignedDuration::from_mins(self.duration_min)
    }

    pub fn window_end_ms(&self) -> i64 {
        self.periods.iter().map(|p| p.1).max().unwrap_or(0)
    }

    pub fn event_id(&self) -> Option<String> {
        self.event["event_id"].as_str().map(str::to_string)
    }

    pub fn summary(&self) -> String {
        self.event["summary"].as_str().unwrap_or("").to_string()
    }

    pub fn description(&self) -> String {
        self.event["description"].as_str().unwrap_or("").to_string()
    }

    /// The window still open: the periods from now plus the minimum notice,
    /// each still long enough for the meeting.
    pub fn open_periods(&self, now_ms: i64) -> Vec<Interval> {
        let earliest = now_ms + self.minimum_notice_min * 60_000;
        self.periods
            .iter()
            .filter(|(_, e)| *e > earliest)
            .map(|(s, e)| Interval::new(from_ms((*s).max(earliest)), from_ms(*e)))
            .filter(|i| i.end.duration_since(i.start) >= self.duration())
            .collect()
    }

    fn group_specs(&self) -> Vec<GroupSpec> {
        self.groups
            .iter()
            .map(|g| GroupSpec {
                members: g
                    .members
                    .iter()
                    .map(|m| MemberSpec {
                        sub: m.sub.clone(),
                        calendar_ids: m.calendar_ids.clone(),
                        available_periods: m.available_periods.as_ref().map(|ps| {
                            ps.iter()
                                .map(|(s, e)| Interval::new(from_ms(*s), from_ms(*e)))
                                .collect()
                        }),
                        managed: m.managed,
                        rule_ids: m.rule_ids.clone(),
                        open_without_rules: false,
                    })
                    .collect(),
                required: g.required.map_or(Required::All, Required::AtLeast),
            })
            .collect()
    }

    /// The groups as a booking picks from them.
    fn group_defs(&self) -> Vec<GroupDef> {
        self.groups
            .iter()
            .map(|g| GroupDef {
                name: None,
                members: g.members.iter().map(|m| m.sub.clone()).collect(),
                required: g.required,
            })
            .collect()
    }

    /// Every participant, sorted, once.
    pub fn members(&self) -> Vec<String> {
        let mut all: Vec<String> = self
            .groups
            .iter()
            .flat_map(|g| g.members.iter().map(|m| m.sub.clone()))
            .chain(self.steps.iter().flat_map(|st| st.members()))
            .collect();
        all.sort();
        all.dedup();
        all
    }

    /// The slots offered now. Without participants (an add-to-calendar
    /// link) the one fixed time is offered while it is still ahead.
    pub fn slot_query(&self, now_ms: i64) -> QuerySpec {
        QuerySpec {
            groups: self.group_specs(),
            periods: self.open_periods(now_ms),
            query_slots: None,
            duration: self.duration(),
            before: SignedDuration::from_mins(self.before_min),
            after: SignedDuration::from_mins(self.after_min),
            start_interval: Some(SignedDuration::from_mins(self.start_interval_min)),
            format: Format::OverlappingSlots,
            max_results: 512,
            exclude_event_ids: Vec::new(),
            accounts: Vec::new(),
        }
    }
}

pub fn spec_of(l: &RtsLink) -> ApiResult<LinkSpec> {
    serde_json::from_str(&l.spec_json)
        .map_err(|e| ApiError::Internal(anyhow::anyhow!("bad stored link: {e}")))
}

pub fn booking_of(l: &RtsLink) -> Option<Booking> {
    l.booking_json
        .as_deref()
        .and_then(|b| serde_json::from_str(b).ok())
}

/// The link's token: derived from the instance key (so the URL can be
/// printed again), 128 bits, stored only as its digest.
pub fn token(state: &AppState, id: &str) -> String {
    state.links.token("sch", id)
}

pub fn url(state: &AppState, id: &str) -> String {
    state.cfg.url(&format!("/rts/{}", token(state, id)))
}

/// What a link's page and status report: `open`, `completed`, `disabled`,
/// or `expired` once its window has passed unbooked.
pub fn status(state: &AppState, l: &RtsLink, spec: &LinkSpec) -> &'static str {
    match l.status.as_str() {
        "completed" => "completed",
        "disabled" => "disabled",
        _ if spec.open_periods(state.now_ms()).is_empty() => "expired",
        _ => "open",
    }
}

/// Creates a link; answers it stored.
#[tracing::instrument(skip_all, fields(app = %app_id))]
pub async fn create(
    state: &AppState,
    app_id: &str,
    ou: &str,
    kind: &str,
    spec: &LinkSpec,
) -> ApiResult<RtsLink> {
    let now = state.now_ms();
    let id = new_id("sch");
    let link = RtsLink {
        token_hash: digest(&token(state, &id)),
        id,
        application_id: app_id.to_string(),
        organizational_unit_id: ou.to_string(),
        kind: kind.to_string(),
        status: "open".into(),
        spec_json: serde_json::to_string(spec).expect("serializable"),
        booking_json: None,
        display_message: None,
        window_end_ms: spec.window_end_ms(),
        created_ms: now,
        updated_ms: now,
    };
    state
        .db
        .write(async |tx: &mut Tx| tx.insert_rts_link(&link).await)
        .await?;
    Ok(link)
}

/// The event as the status and the callback show it: the link's `event`,
/// with `start`/`end` once booked.
pub fn event_json(spec: &LinkSpec, booking: Option<&Booking>) -> Value {
    let mut event = match &spec.event {
        Value::Object(o) => Value::Object(o.clone()),
        _ => json!({}),
    };
    if let Some(b) = booking {
        event["start"] = json!({"time": fmt_ms(b.start_ms), "tzid": spec.tzid});
        event["end"] = json!({"time": fmt_ms(b.end_ms), "tzid": spec.tzid});
    }
    event
}

/// `{"real_time_scheduling_id", "url", "status", "event"}`. An expired link
/// reports `disabled`: clients know only the three statuses (C# parses them
/// into an enum), and `disabled` is what it is to them.
pub fn link_json(state: &AppState, l: &RtsLink) -> ApiResult<Value> {
    let spec = spec_of(l)?;
    let st = match status(state, l, &spec) {
        "expired" => "disabled",
        s => s,
    };
    Ok(json!({
        "real_time_scheduling_id": l.id,
        "url": url(state, &l.id),
        "status": st,
        "event": event_json(&spec, booking_of(l).as_ref().filter(|_| st == "completed")),
    }))
}

/// Disables a link not yet completed.
#[tracing::instrument(skip_all, fields(link = %l.id))]
pub async fn disable(state: &AppState, l: &RtsLink, message: &str) -> ApiResult<RtsLink> {
    if l.status == "completed" {
        return Err(ApiError::field(
            "real_time_scheduling_id",
            "already_completed",
            "a completed link cannot be disabled",
        ));
    }
    let mut next = l.clone();
    next.status = "disabled".into();
    next.display_message = Some(message.to_string());
    next.updated_ms = state.now_ms().max(l.updated_ms + 1);
    let from = l.status.clone();
    state
        .db
        .write(async |tx: &mut Tx| tx.update_rts_link(&next, &from).await)
        .await
        .map_err(|e| match e {
            StoreError::Conflict(_) => ApiError::field(
                "real_time_scheduling_id",
                "state_changed",
                "the link changed meanwhile; read it again",
            ),
            e => e.into(),
        })?;
    Ok(next)
}

/// The event written into one target calendar.
fn event_for(spec: &LinkSpec, link_id: &str, t: &Target, b: &Booking, now: i64) -> Event {
    let mut body = json!({});
    if let Some(l) = spec.event.get("location").filter(|l| l.is_object()) {
        body["location"] = l.clone();
    }
    if let Some(a) = t.attendee.as_ref().filter(|a| a["email"].is_string()) {
        let mut x = json!({"email": a["email"], "status": "accepted"});
        if let Some(n) = a["display_name"].as_str() {
            x["display_name"] = json!(n);
        }
        body["attendees"] = json!([x]);
    }
    let event_id = spec.event_id().unwrap_or_else(|| link_id.to_string());
    Event {
        summary: spec.summary(),
        description: spec.description(),
        tzid: spec.tzid.clone(),
        body_json: body.to_string(),
        ..super::booked_event(
            &t.calendar_id,
            &t.sub,
            &event_id,
            (b.start_ms, b.end_ms),
            now,
        )
    }
}

/// The calendars the booking writes to: every target (of a participant
/// the booking picked, or of someone who is not a participant), or with
/// `event_creation: "single"` only the first, the organizer's.
fn targets_for<'a>(spec: &'a LinkSpec, chosen: &[String]) -> Vec<&'a Target> {
    let members = spec.members();
    let wanted = spec
        .targets
        .iter()
        .filter(|t| !members.contains(&t.sub) || chosen.contains(&t.sub));
    if spec.single_event {
        wanted.take(1).collect()
    } else {
        wanted.collect()
    }
}

/// Books `start` on the link: in one serialized transaction (the link's
/// row, then every participant's and target's, as scheduling requests
/// lock) the slot is re-checked, the events written, the link completed and
/// the completed callback queued in the outbox. Two people racing for the
/// same participants: exactly one wins.
#[tracing::instrument(skip(state, l), fields(link = %l.id))]
pub async fn book(state: &AppState, l: &RtsLink, start: Timestamp) -> Result<RtsLink, BookError> {
    let spec = spec_of(l)?;
    let mut locked = spec.members();
    locked.extend(
        std::iter::once(&spec)
            .chain(&spec.steps)
            .flat_map(|st| st.targets.iter().map(|t| t.sub.clone())),
    );
    // The slot with its buffers (a sequence: from its start to a day
    // later, where its steps fall), asked of the participants' CalDAV
    // servers; the re-check under the locks decides with what they answered.
    let span = if spec.steps.is_empty() {
        spec.duration() + SignedDuration::from_mins(spec.after_min)
    } else {
        SignedDuration::from_hours(24)
    };
    super::connected::check_slot(
        state,
        &spec.members(),
        start
            .checked_sub(SignedDuration::from_mins(spec.before_min))
            .unwrap_or(start),
        start.checked_add(span).unwrap_or(start),
    )
    .await;
    let id = l.id.clone();
    let db = state.db.clone();
    state
        .db
        .write(async |tx: &mut Tx| {
            tx.lock_rts_link(&id).await?;
            tx.lock_accounts(&locked).await?;
            let cur = db
                .rts_link(&id)
                .await?
                .ok_or(BookError::NotOpen("gone".into()))?;
            if cur.status != "open" {
                return Err(BookError::NotOpen(cur.status.clone()));
            }
            let now = state.now_ms();
            if !spec.steps.is_empty() {
                let bookings = book_sequence(state, tx, &spec, &id, start, now).await?;
                let first = bookings.first().cloned().ok_or(BookError::Taken)?;
                let mut next = cur.clone();
                next.status = "completed".into();
                next.booking_json = Some(serde_json::to_string(&first).expect("serializable"));
                next.updated_ms = now.max(cur.updated_ms + 1);
                tx.update_rts_link(&next, "open").await?;
                if let Some(url) = &spec.completed_url {
                    let mut n = completed_notification(&spec.steps[0], &next, &first, url, now);
                    let mut payload: Value =
                        serde_json::from_str(&n.payload_json).unwrap_or_default();
                    payload["body"]["events"] = json!(
                        spec.steps
                            .iter()
                            .zip(&bookings)
                            .map(|(st, b)| event_json(st, Some(b)))
                            .collect::<Vec<_>>()
                    );
                    n.payload_json = payload.to_string();
                    tx.insert_notification(&n).await?;
                }
                return Ok(next);
            }
            let open = spec.open_periods(now);
            let mut checked = if spec.groups.is_empty() {
                // A fixed time (add to calendar): nobody's availability to check.
                let end = start
                    .checked_add(spec.duration())
                    .map_err(|_| BookError::Taken)?;
                if !open.iter().any(|p| p.start <= start && end <= p.end) {
                    return Err(BookError::Taken);
                }
                Checked {
                    booking: Booking {
                        start_ms: to_ms(start),
                        end_ms: to_ms(end),
                        members: Vec::new(),
                        sequence: 0,
                        tz: None,
                    },
                    versions: Default::default(),
                }
            } else {
                let accounts = db.accounts(&spec.members()).await?;
                recheck_and_pick(
                    state,
                    spec.slot_query(now),
                    &open,
                    start,
                    &spec.group_defs(),
                    &accounts,
                )
                .await?
            };
            for t in targets_for(&spec, &checked.booking.members) {
                let ev = event_for(&spec, &id, t, &checked.booking, now);
                write_event(tx, &mut checked, &ev).await?;
            }
            let booking = checked.booking;
            let mut next = cur.clone();
            next.status = "completed".into();
            next.booking_json = Some(serde_json::to_string(&booking).expect("serializable"));
            next.updated_ms = now.max(cur.updated_ms + 1);
            tx.update_rts_link(&next, "open").await?;
            if let Some(url) = &spec.completed_url {
                tx.insert_notification(&completed_notification(&spec, &next, &booking, url, now))
                    .await?;
            }
            Ok(next)
        })
        .await
}

/// The completed callback, kept in the outbox with the address it goes to.
fn completed_notification(
    spec: &LinkSpec,
    l: &RtsLink,
    b: &Booking,
    url: &str,
    now: i64,
) -> NewNotification {
    let participants: Vec<Value> = if b.members.is_empty() {
        spec.targets.iter().map(|t| json!({"sub": t.sub})).collect()
    } else {
        b.members.iter().map(|s| json!({"sub": s})).collect()
    };
    let body = json!({
        "notification": {"type": "real_time_scheduling_completed", "triggered_at": fmt_ms(now)},
        "real_time_scheduling": {"real_time_scheduling_id": l.id, "status": "completed"},
        "event": event_json(spec, Some(b)),
        "participants": participants,
        "user": {"tzid": spec.tzid},
    });
    NewNotification {
        id: new_id("ntf"),
        application_id: l.application_id.clone(),
        account_id: None,
        kind: COMPLETED.to_string(),
        subject_id: Some(l.id.clone()),
        payload_json: json!({"callback_url": url, "body": body}).to_string(),
        created_ms: now,
    }
}

/// Where a completed link's callback goes and what it says: the worker
/// sends `body` to `callback_url` (see [`completed_notification`]).
pub fn callback_of(payload_json: &str) -> Option<(String, String)> {
    let v: Value = serde_json::from_str(payload_json).ok()?;
    Some((
        v["callback_url"].as_str()?.to_string(),
        v["body"].to_string(),
    ))
}

/// The earliest start of step `next` after `prev` booked `[.., end)`.
fn earliest_after(prev: &LinkSpec, next: &LinkSpec, end: Timestamp) -> Timestamp {
    let gap = SignedDuration::from_mins(prev.after_min + next.before_min);
    end.checked_add(gap).unwrap_or(end)
}

/// The sequences a sequencing link offers now: for each start of its first
/// step, every later step at its first free time after the one before.
/// Answers each sequence's step starts.
pub async fn sequences(state: &AppState, spec: &LinkSpec) -> ApiResult<Vec<Vec<Timestamp>>> {
    let now = state.now_ms();
    let mut per_step = Vec::new();
    for st in &spec.steps {
        let found =
            crate::domain::availability::evaluate(&state.availability, &st.slot_query(now)).await?;
        per_step.push(found);
    }
    let Some((first, rest)) = per_step.split_first() else {
        return Ok(Vec::new());
    };
    let mut out = Vec::new();
    'first: for f in first {
        let mut chain = vec![(f.start, f.end)];
        for (w, slots) in rest.iter().enumerate() {
            let (_, end) = *chain.last().expect("non-empty");
            let earliest = earliest_after(&spec.steps[w], &spec.steps[w + 1], end);
            match slots.iter().find(|s| s.start >= earliest) {
                Some(s) => chain.push((s.start, s.end)),
                None => continue 'first,
            }
        }
        out.push(chain.into_iter().map(|(s, _)| s).collect());
        if out.len() >= 20 {
            break;
        }
    }
    Ok(out)
}

/// Books a sequence starting at `start` inside the booking transaction:
/// each step re-checked in order, at its first free time after the step
/// before, and its events written.
async fn book_sequence(
    state: &AppState,
    tx: &mut Tx,
    spec: &LinkSpec,
    link_id: &str,
    start: Timestamp,
    now: i64,
) -> Result<Vec<Booking>, BookError> {
    let mut bookings: Vec<Booking> = Vec::new();
    // Versions this transaction has already moved (a member booked in an
    // earlier step): reads through the pool cannot see them yet.
    let mut moved: std::collections::HashMap<String, i64> = Default::default();
    for (i, st) in spec.steps.iter().enumerate() {
        let at = match bookings.last() {
            None => start,
            Some(prev) => {
                let earliest = earliest_after(&spec.steps[i - 1], st, from_ms(prev.end_ms));
                let found =
                    crate::domain::availability::evaluate(&state.availability, &st.slot_query(now))
                        .await?;
                found
                    .iter()
                    .find(|s| s.start >= earliest)
                    .map(|s| s.start)
                    .ok_or(BookError::Taken)?
            }
        };
        let accounts = state
            .db
            .accounts(&st.members())
            .await
            .map_err(ApiError::from)?;
        let mut checked = recheck_and_pick(
            state,
            st.slot_query(now),
            &st.open_periods(now),
            at,
            &st.group_defs(),
            &accounts,
        )
        .await?;
        for (m, v) in checked.versions.iter_mut() {
            if let Some(done) = moved.get(m) {
                *v = *done;
            }
        }
        // A step's event goes to the calendars of the people it books.
        let chosen = checked.booking.members.clone();
        for t in st.targets.iter().filter(|t| chosen.contains(&t.sub)) {
            let ev = event_for(st, link_id, t, &checked.booking, now);
            write_event(tx, &mut checked, &ev).await?;
        }
        moved.extend(checked.versions.iter().map(|(m, v)| (m.clone(), *v)));
        bookings.push(checked.booking);
    }
    Ok(bookings)
}

/// Writes one of a booking's events: for a member whose availability was
/// checked, at the version the check saw; for a target that is not a
/// participant (nothing was checked), as any event.
async fn write_event(tx: &mut Tx, checked: &mut Checked, ev: &Event) -> Result<(), BookError> {
    if let Some(version) = checked.versions.get_mut(&ev.account_id) {
        tx.insert_booked_event(ev, version).await?;
    } else {
        tx.upsert_event(ev).await?;
        tx.set_last_booked(&ev.account_id, ev.updated_ms).await?;
    }
    Ok(())
}

/// The visitor says none of the offered times suit them: the link's
/// `no_times_suitable_url` is called (through the outbox). The link stays
/// open. Answers whether a callback was queued.
#[tracing::instrument(skip_all, fields(link = %l.id))]
pub async fn no_times_suitable(state: &AppState, l: &RtsLink) -> ApiResult<bool> {
    let spec = spec_of(l)?;
    let Some(url) = spec.no_times_suitable_url.clone() else {
        return Ok(false);
    };
    if status(state, l, &spec) != "open" {
        return Ok(false);
    }
    let now = state.now_ms();
    let body = json!({
        "notification": {"type": "no_times_suitable", "triggered_at": fmt_ms(now)},
        "real_time_scheduling": {"real_time_scheduling_id": l.id, "status": "open"},
        "event": event_json(&spec, None),
    });
    let n = NewNotification {
        id: new_id("ntf"),
        application_id: l.application_id.clone(),
        account_id: None,
        kind: NO_TIMES_SUITABLE.to_string(),
        subject_id: Some(l.id.clone()),
        payload_json: json!({"callback_url": url, "body": body}).to_string(),
        created_ms: now,
    };
    state
        .db
        .write(async |tx: &mut Tx| tx.insert_notification(&n).await)
        .await?;
    Ok(true)
}
