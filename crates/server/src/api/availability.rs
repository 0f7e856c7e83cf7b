//! `POST /v1/availability` (contract §5.1): the wire layer over the engine.
//! [`evaluate`] is shared with conversations and scheduling requests.

use std::collections::HashSet;

use axum::Json;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use convene_engine::{Available, Format, Interval, Required, SignedDuration, Timestamp};
use convene_store::{Account, Db};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use utoipa::ToSchema;

use super::openapi::Problems;
use super::rules::Text;

use crate::auth::{ElementScope, QueryAuth};
use crate::error::{ApiError, ApiResult};
use crate::http::Body;
use crate::input::{Errors, F};
use crate::time::WireTime;

pub use crate::domain::availability::{GroupSpec, MemberSpec, QuerySpec, evaluate, limits};

/// One participant of an available period or slot.
#[derive(Serialize, ToSchema)]
pub struct Sub {
    pub sub: String,
}

/// An available period or slot. It borrows the engine's answer and
/// formats its times while serializing: no `String` per time or member.
#[derive(Serialize, ToSchema)]
pub struct AvailableOut<'a> {
    #[schema(value_type = String, format = DateTime)]
    pub start: WireTime,
    #[schema(value_type = String, format = DateTime)]
    pub end: WireTime,
    /// Members free for it: every member of an `"all"` group, and at most
    /// 10 (or `required`, when larger) of each other group's free members.
    #[serde(serialize_with = "subs")]
    #[schema(value_type = Vec<Sub>)]
    pub participants: &'a [String],
}

/// `[{"sub": …}, …]` straight from the ids.
fn subs<S: serde::Serializer>(ids: &&[String], s: S) -> Result<S::Ok, S::Error> {
    use serde::ser::SerializeSeq;
    #[derive(Serialize)]
    struct SubRef<'a> {
        sub: &'a str,
    }
    let mut seq = s.serialize_seq(Some(ids.len()))?;
    for id in ids.iter() {
        seq.serialize_element(&SubRef { sub: id })?;
    }
    seq.end()
}

impl<'a> AvailableOut<'a> {
    pub fn new(a: &'a Available) -> Self {
        AvailableOut {
            start: WireTime(a.start),
            end: WireTime(a.end),
            participants: &a.members,
        }
    }
}

/// The answer of `POST /v1/availability`: periods, or slots when
/// `response_format` asks for them or `query_slots` was given.
#[derive(Serialize, ToSchema)]
pub struct AvailabilityBody<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub available_periods: Option<Vec<AvailableOut<'a>>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub available_slots: Option<Vec<AvailableOut<'a>>>,
}

/// One step of a found sequence.
#[derive(Serialize, ToSchema)]
pub struct SequenceStepOut<'a> {
    #[serde(flatten)]
    pub slot: AvailableOut<'a>,
    /// The step's `sequence_id` as given (its index when absent).
    pub sequence_id: &'a Value,
}

#[derive(Serialize, ToSchema)]
pub struct SequenceOut<'a> {
    pub sequence: Vec<SequenceStepOut<'a>>,
}

#[derive(Serialize, ToSchema)]
pub struct SequencesBody<'a> {
    pub sequences: Vec<SequenceOut<'a>>,
}

/// A Duration: `{"hours", "minutes"}` or a bare number of minutes.
#[allow(dead_code)] // documentation: parsed by `F::duration`
#[derive(ToSchema)]
#[serde(untagged)]
pub enum DurationIn {
    Minutes(i64),
    Parts {
        hours: Option<i64>,
        minutes: Option<i64>,
    },
}

/// A time span to search.
#[allow(dead_code)] // documentation
#[derive(Deserialize, ToSchema)]
pub struct PeriodIn {
    #[schema(format = DateTime, example = "2030-01-07T09:00:00Z")]
    pub start: String,
    #[schema(format = DateTime, example = "2030-01-07T17:00:00Z")]
    pub end: String,
}

/// A slot start to check.
#[allow(dead_code)] // documentation
#[derive(Deserialize, ToSchema)]
pub struct SlotIn {
    #[schema(format = DateTime, example = "2030-01-07T09:00:00Z")]
    pub start: String,
}

/// One side of a buffer: a Duration or `{minimum, maximum}`.
#[allow(dead_code)] // documentation
#[derive(ToSchema)]
#[serde(untagged)]
pub enum BufferSideIn {
    Duration(DurationIn),
    Range {
        minimum: Option<DurationIn>,
        maximum: Option<DurationIn>,
    },
}

#[allow(dead_code)] // documentation
#[derive(ToSchema)]
pub struct BufferIn {
    pub before: Option<BufferSideIn>,
    pub after: Option<BufferSideIn>,
}

/// A member of a participant group: an account `sub`, or the object.
#[allow(dead_code)] // documentation
#[derive(ToSchema)]
#[serde(untagged)]
pub enum MemberIn {
    Sub(String),
    Member {
        #[schema(value_type = Text)]
        sub: String,
        calendar_ids: Option<Vec<String>>,
        available_periods: Option<Vec<PeriodIn>>,
        managed_availability: Option<bool>,
        availability_rule_ids: Option<Vec<String>>,
    },
}

/// `"all"` or how many members must be free.
#[allow(dead_code)] // documentation
#[derive(ToSchema)]
#[serde(untagged)]
pub enum RequiredIn {
    #[schema(example = "all")]
    All(String),
    AtLeast(i64),
}

#[allow(dead_code)] // documentation
#[derive(ToSchema)]
pub struct GroupIn {
    pub members: Vec<MemberIn>,
    pub required: Option<RequiredIn>,
}

#[allow(dead_code)] // documentation
#[derive(ToSchema)]
#[schema(rename_all = "snake_case")]
pub enum ResponseFormat {
    Periods,
    Slots,
    OverlappingSlots,
}

/// An availability query (contract §5.1).
#[allow(dead_code)] // documentation: parsed leniently by [`parse_query`]
#[derive(ToSchema)]
pub struct AvailabilityRequest {
    pub participants: Vec<GroupIn>,
    pub required_duration: DurationIn,
    /// The spans to search; or give `query_slots`.
    pub query_periods: Option<Vec<PeriodIn>>,
    /// The older name of `query_periods`.
    pub available_periods: Option<Vec<PeriodIn>>,
    /// Slot starts to check instead of spans.
    pub query_slots: Option<Vec<SlotIn>>,
    pub buffer: Option<BufferIn>,
    /// A multiple of 5 minutes, from 5 to 240.
    pub start_interval: Option<DurationIn>,
    pub max_results: Option<i64>,
    pub response_format: Option<ResponseFormat>,
}

/// One step of a sequence: an availability query with its id and order.
#[allow(dead_code)] // documentation
#[derive(ToSchema)]
pub struct SequenceStepIn {
    /// Echoed on each answered step.
    pub sequence_id: Option<Value>,
    pub ordinal: Option<i64>,
    pub participants: Vec<GroupIn>,
    pub required_duration: DurationIn,
    /// The spans of this step; the top-level `query_periods` when absent.
    pub query_periods: Option<Vec<PeriodIn>>,
    pub available_periods: Option<Vec<PeriodIn>>,
    pub buffer: Option<BufferIn>,
    pub start_interval: Option<DurationIn>,
}

/// A sequenced availability query (contract §5.2).
#[allow(dead_code)] // documentation: parsed leniently
#[derive(ToSchema)]
pub struct SequencedRequest {
    pub sequence: Vec<SequenceStepIn>,
    /// The spans of every step that gives none.
    pub query_periods: Option<Vec<PeriodIn>>,
    pub available_periods: Option<Vec<PeriodIn>>,
}

/// A buffer side: a Duration or `{minimum, maximum}` (the minimum is what
/// must be free; the maximum only matters to sequencing).
fn buffer_side(f: &F<'_>, errs: &mut Errors) -> SignedDuration {
    let d = if f.get("minimum").present() || f.get("maximum").present() {
        f.get("minimum").duration(errs)
    } else if f
        .v
        .is_some_and(|v| v.as_object().is_some_and(|m| m.is_empty()))
    {
        None
    } else {
        f.duration(errs)
    };
    let d = d.unwrap_or(SignedDuration::ZERO);
    if d.as_mins() > limits::MAX_BUFFER_MINUTES {
        errs.add(
            &f.path,
            "invalid",
            format!(
                "{} must be at most {} minutes",
                f.path,
                limits::MAX_BUFFER_MINUTES
            ),
        );
    }
    d
}

pub fn parse_periods(
    f: &F<'_>,
    errs: &mut Errors,
    duration: Option<SignedDuration>,
    now: Timestamp,
) -> Vec<Interval> {
    let mut out = Vec::new();
    let Some(items) = f.array(errs) else {
        return out;
    };
    if items.is_empty() {
        errs.add(
            &f.path,
            "required",
            format!("{} must contain at least one period", f.path),
        );
    }
    if items.len() > limits::MAX_PERIODS {
        errs.add(
            &f.path,
            "too_many",
            format!("at most {} periods", limits::MAX_PERIODS),
        );
    }
    for p in items {
        let (s, e) = (p.get("start").req_time(errs), p.get("end").req_time(errs));
        let (Some(s), Some(e)) = (s, e) else { continue };
        if e <= s {
            errs.add(
                &format!("{}.end", p.path),
                "invalid",
                "end must be after start",
            );
        } else if e <= now {
            errs.add(
                &format!("{}.end", p.path),
                "in_the_past",
                "the period has already ended",
            );
        } else if duration.is_some_and(|d| e.duration_since(s) < d) {
            errs.add(
                &format!("{}.end", p.path),
                "too_short",
                "the period is shorter than required_duration",
            );
        } else {
            out.push(Interval::new(s, e));
        }
    }
    if let (Some(lo), Some(hi)) = (
        out.iter().map(|p| p.start).min(),
        out.iter().map(|p| p.end).max(),
    ) && hi.duration_since(lo) > SignedDuration::from_hours(24 * limits::MAX_SPAN_DAYS)
    {
        errs.add(
            &f.path,
            "too_long",
            format!(
                "periods must lie within {} days of the earliest start",
                limits::MAX_SPAN_DAYS
            ),
        );
    }
    out
}

/// Parses and checks a query body; `ou` is the caller's Organizational Unit.
pub async fn parse_query(db: &Db, ou: &str, body: &Value) -> ApiResult<QuerySpec> {
    let root = F::root(body);
    let mut errs = Errors::new();
    let now = Timestamp::now();
    let duration = required_duration(&root, &mut errs);
    let (periods, query_slots) = periods_or_slots(&root, &mut errs, duration, now);
    let buffer = root.get("buffer");
    let before = buffer_side(&buffer.get("before"), &mut errs);
    let after = buffer_side(&buffer.get("after"), &mut errs);
    let start_interval = start_interval(&root, &mut errs);
    let max_results = max_results(&root, &mut errs);
    let format = response_format(&root, &mut errs);
    let groups = parse_groups(&root.get("participants"), &mut errs, now);
    errs.finish()?;
    let accounts = check_members(db, ou, &groups, "participants").await?;
    Ok(QuerySpec {
        groups: groups.into_iter().map(|(_, g)| g).collect(),
        periods,
        query_slots,
        duration: duration.unwrap_or(SignedDuration::from_mins(30)),
        before,
        after,
        start_interval,
        format,
        max_results,
        exclude_event_ids: Vec::new(),
        accounts,
    })
}

/// `required_duration`: required, 1 minute to a day.
fn required_duration(root: &F<'_>, errs: &mut Errors) -> Option<SignedDuration> {
    let duration = root.get("required_duration");
    let duration = if duration.present() {
        duration.duration(errs)
    } else {
        errs.add(
            "required_duration",
            "required",
            "required_duration is required",
        );
        None
    };
    if duration.is_some_and(|d| d.as_mins() < 1 || d.as_mins() > limits::MAX_DURATION_MINUTES) {
        errs.add(
            "required_duration",
            "invalid",
            format!(
                "required_duration must be 1 to {} minutes",
                limits::MAX_DURATION_MINUTES
            ),
        );
    }
    duration
}

/// `query_periods` (or `available_periods`), or else `query_slots`: one of
/// the two, bounded in number and span.
fn periods_or_slots(
    root: &F<'_>,
    errs: &mut Errors,
    duration: Option<SignedDuration>,
    now: Timestamp,
) -> (Vec<Interval>, Option<Vec<Timestamp>>) {
    let qp = if root.get("query_periods").present() {
        root.get("query_periods")
    } else {
        root.get("available_periods")
    };
    let qs = root.get("query_slots");
    let mut periods = Vec::new();
    let mut query_slots = None;
    match (qp.present(), qs.present()) {
        (true, true) => errs.add(
            "query_slots",
            "invalid",
            "give query_periods or query_slots, not both",
        ),
        (false, false) => errs.add("query_periods", "required", "query_periods is required"),
        (true, false) => periods = parse_periods(&qp, errs, duration, now),
        (false, true) => {
            let items = qs.array(errs).unwrap_or_default();
            if items.is_empty() || items.len() > limits::MAX_RESULTS {
                errs.add(
                    "query_slots",
                    "invalid",
                    format!("query_slots must hold 1 to {} slots", limits::MAX_RESULTS),
                );
            }
            let starts: Vec<Timestamp> = items
                .iter()
                .filter_map(|f| {
                    let t = f.get("start").req_time(errs)?;
                    if t < now {
                        errs.add(
                            &format!("{}.start", f.path),
                            "in_the_past",
                            "the slot has already started",
                        );
                        return None;
                    }
                    Some(t)
                })
                .collect();
            if let (Some(lo), Some(hi)) = (starts.iter().min(), starts.iter().max())
                && hi.duration_since(*lo) > SignedDuration::from_hours(24 * limits::MAX_SPAN_DAYS)
            {
                errs.add(
                    "query_slots",
                    "too_long",
                    format!(
                        "slots must lie within {} days of the earliest",
                        limits::MAX_SPAN_DAYS
                    ),
                );
            }
            query_slots = Some(starts);
        }
    }
    (periods, query_slots)
}

/// `start_interval`: a multiple of 5 minutes, 5 to 240.
fn start_interval(root: &F<'_>, errs: &mut Errors) -> Option<SignedDuration> {
    let start_interval = root.get("start_interval").duration(errs);
    if let Some(si) = start_interval {
        let m = si.as_mins();
        if !(5..=limits::MAX_START_INTERVAL_MINUTES).contains(&m) || m % 5 != 0 {
            errs.add(
                "start_interval",
                "invalid",
                "start_interval must be a multiple of 5 minutes, from 5 to 240",
            );
        }
    }
    start_interval
}

/// `max_results`: 1 to the limit, which is also the default.
fn max_results(root: &F<'_>, errs: &mut Errors) -> usize {
    match root.get("max_results").int(errs) {
        None => limits::MAX_RESULTS,
        Some(n) if n >= 1 && n as usize <= limits::MAX_RESULTS => n as usize,
        Some(_) => {
            errs.add(
                "max_results",
                "invalid",
                format!("max_results must be 1 to {}", limits::MAX_RESULTS),
            );
            limits::MAX_RESULTS
        }
    }
}

fn response_format(root: &F<'_>, errs: &mut Errors) -> Format {
    match root.get("response_format").str(errs).as_deref() {
        None | Some("periods") => Format::Periods,
        Some("slots") => Format::Slots,
        Some("overlapping_slots") => Format::OverlappingSlots,
        Some(_) => {
            errs.add(
                "response_format",
                "invalid",
                "response_format must be periods, slots or overlapping_slots",
            );
            Format::Periods
        }
    }
}

/// Groups with the path of each (for error messages).
pub fn parse_groups(f: &F<'_>, errs: &mut Errors, now: Timestamp) -> Vec<(String, GroupSpec)> {
    let mut out = Vec::new();
    let Some(groups) = f.array(errs) else {
        errs.add(&f.path, "required", format!("{} is required", f.path));
        return out;
    };
    if groups.is_empty() {
        errs.add(
            &f.path,
            "required",
            format!("{} must hold at least one group", f.path),
        );
    }
    if groups.len() > limits::MAX_GROUPS {
        errs.add(
            &f.path,
            "too_many",
            format!("at most {} groups", limits::MAX_GROUPS),
        );
    }
    let mut distinct = HashSet::new();
    for g in groups {
        let mut members = Vec::new();
        let mf = g.get("members");
        match mf.array(errs) {
            None => errs.add(&mf.path, "required", "members is required"),
            Some(items) => {
                if items.is_empty() {
                    errs.add(&mf.path, "required", "members must not be empty");
                }
                if items.len() > limits::MAX_MEMBERS_PER_GROUP {
                    errs.add(
                        &mf.path,
                        "too_many",
                        format!(
                            "at most {} members per group",
                            limits::MAX_MEMBERS_PER_GROUP
                        ),
                    );
                }
                for m in items {
                    // SDKs accept a bare string as `{"sub": …}`.
                    if let Some(Value::String(s)) = m.v {
                        if members.iter().any(|x: &MemberSpec| &x.sub == s) {
                            continue;
                        }
                        members.push(MemberSpec {
                            sub: s.clone(),
                            calendar_ids: None,
                            available_periods: None,
                            managed: false,
                            rule_ids: None,
                            open_without_rules: false,
                        });
                        distinct.insert(s.clone());
                        continue;
                    }
                    let Some(sub) = m.get("sub").req_str(errs) else {
                        continue;
                    };
                    // A person listed twice is still one person: N of M counts people.
                    if members.iter().any(|x: &MemberSpec| x.sub == sub) {
                        continue;
                    }
                    distinct.insert(sub.clone());
                    let ap = m.get("available_periods");
                    members.push(MemberSpec {
                        sub,
                        calendar_ids: m.get("calendar_ids").str_array(errs),
                        available_periods: ap
                            .present()
                            .then(|| parse_periods(&ap, errs, None, now)),
                        managed: m.get("managed_availability").bool(errs).unwrap_or(false),
                        rule_ids: m.get("availability_rule_ids").str_array(errs),
                        open_without_rules: false,
                    });
                }
            }
        }
        let rf = g.get("required");
        let required = match rf.v {
            None => Required::All,
            Some(Value::String(s)) if s == "all" => Required::All,
            Some(_) => match rf.int(errs) {
                Some(n) if n >= 1 && (n as usize) <= members.len().max(1) => {
                    Required::AtLeast(n as usize)
                }
                Some(_) => {
                    errs.add(
                        &rf.path,
                        "invalid",
                        "required must be \"all\" or a number from 1 to the number of members",
                    );
                    Required::All
                }
                None => Required::All,
            },
        };
        out.push((g.path.clone(), GroupSpec { members, required }));
    }
    if distinct.len() > limits::MAX_MEMBERS {
        errs.add(
            &f.path,
            "too_many",
            format!("at most {} distinct members", limits::MAX_MEMBERS),
        );
    }
    out
}

/// Every member must be an account of the caller's Organizational Unit.
pub async fn check_members(
    db: &Db,
    ou: &str,
    groups: &[(String, GroupSpec)],
    _what: &str,
) -> ApiResult<Vec<Account>> {
    let ids: Vec<String> = groups
        .iter()
        .flat_map(|(_, g)| g.members.iter().map(|m| m.sub.clone()))
        .collect();
    let found = db.accounts(&ids).await?;
    let mut errs = Errors::new();
    for (path, g) in groups {
        for (j, m) in g.members.iter().enumerate() {
            if !found
                .iter()
                .any(|a| a.id == m.sub && a.organizational_unit_id == ou)
            {
                errs.add(
                    &format!("{path}.members[{j}].sub"),
                    "not_recognized",
                    format!("{} is not an account of this Organizational Unit", m.sub),
                );
            }
        }
    }
    errs.finish()?;
    Ok(found)
}

/// Find when participants are available (contract §5.1).
///
/// Groups of members, each group needing all or N of its members free,
/// within `query_periods` (or at `query_slots`); answers periods or slots.
/// Groups hold up to 500 members, 600 distinct over all groups. Each period
/// or slot lists, per group whose `required` is fewer than all, at most 10
/// of its free members (or `required` of them, when larger): the first free
/// ones in the group's order.
#[utoipa::path(post, path = "/v1/availability", tag = "availability",
    security(("account_token" = []), ("client_secret" = [])),
    request_body(content((AvailabilityRequest = "application/json"), (AvailabilityRequest = "application/x-www-form-urlencoded"))),
    responses((status = 200, description = "The available periods or slots.", body = AvailabilityBody), Problems))]
#[tracing::instrument(skip_all, fields(app = %auth.app.id))]
pub async fn availability(
    State(state): State<crate::AppState>,
    QueryAuth(auth): QueryAuth,
    scope: ElementScope,
    Body(body): Body,
) -> ApiResult<Response> {
    let spec = parse_query(&state.db, &auth.app.organizational_unit_id, &body).await?;
    scope.check(&spec)?;
    let found = evaluate(&state.availability, &spec).await?;
    let items: Vec<AvailableOut> = found.iter().map(AvailableOut::new).collect();
    // Serialized here: the body borrows `found`.
    Ok(Json(
        if matches!(spec.format, Format::Periods) && spec.query_slots.is_none() {
            AvailabilityBody {
                available_periods: Some(items),
                available_slots: None,
            }
        } else {
            AvailabilityBody {
                available_periods: None,
                available_slots: Some(items),
            }
        },
    )
    .into_response())
}

/// Sequences answered by one `POST /v1/sequenced_availability`.
pub const MAX_SEQUENCES: usize = 20;
/// Steps in one sequence.
pub const MAX_STEPS: usize = 5;

/// A buffer's `maximum` in minutes, checked like every Duration.
fn buffer_maximum(f: &F<'_>, errs: &mut Errors) -> Option<i64> {
    let d = f.duration(errs)?;
    if d.as_mins() > limits::MAX_BUFFER_MINUTES {
        errs.add(
            &f.path,
            "invalid",
            format!(
                "{} must be at most {} minutes",
                f.path,
                limits::MAX_BUFFER_MINUTES
            ),
        );
        return None;
    }
    Some(d.as_mins())
}

/// Find sequences of consecutive meetings (contract §5.2).
///
/// Consecutive steps,
/// each an availability query of its own. Each step's slots come from the
/// same engine; a sequence takes a first-step slot and, for every next
/// step, the earliest slot that starts after the previous one ends plus
/// the minimum buffers between them (and, when a maximum is given, no
/// later than the maximum gap).
#[utoipa::path(post, path = "/v1/sequenced_availability", tag = "availability",
    security(("account_token" = []), ("client_secret" = [])),
    request_body(content((SequencedRequest = "application/json"), (SequencedRequest = "application/x-www-form-urlencoded"))),
    responses((status = 200, description = "Up to 20 sequences.", body = SequencesBody), Problems))]
#[tracing::instrument(skip_all, fields(app = %auth.app.id))]
pub async fn sequenced(
    State(state): State<crate::AppState>,
    QueryAuth(auth): QueryAuth,
    scope: ElementScope,
    Body(body): Body,
) -> ApiResult<Response> {
    let root = F::root(&body);
    let mut errs = Errors::new();
    let steps = root.get("sequence").array(&mut errs).unwrap_or_default();
    if steps.is_empty() {
        errs.add(
            "sequence",
            "required",
            "sequence must hold at least one step",
        );
    }
    if steps.len() > MAX_STEPS {
        errs.add("sequence", "too_many", format!("at most {MAX_STEPS} steps"));
    }
    for (i, step) in steps.iter().enumerate() {
        if step.v.is_some_and(|v| !v.is_object() && !v.is_null()) {
            errs.add(
                &format!("sequence[{i}]"),
                "invalid",
                "each step must be an object",
            );
        }
    }
    errs.finish()?;
    let global = body
        .get("query_periods")
        .filter(|v| !v.is_null())
        .or_else(|| body.get("available_periods").filter(|v| !v.is_null()))
        .cloned();
    let mut parsed = Vec::new();
    for (i, step) in steps.iter().enumerate() {
        let mut b = step.v.cloned().unwrap_or_else(|| json!({}));
        if b.get("query_periods").is_none_or(Value::is_null)
            && b.get("available_periods").is_none_or(Value::is_null)
            && let Some(g) = &global
        {
            b["query_periods"] = g.clone();
        }
        if b.get("start_interval").is_some_and(Value::is_null) {
            b.as_object_mut().map(|m| m.remove("start_interval"));
        }
        b["response_format"] = json!("overlapping_slots");
        let spec = match parse_query(&state.db, &auth.app.organizational_unit_id, &b).await {
            Ok(s) => s,
            Err(ApiError::Invalid(es)) => {
                return Err(ApiError::Invalid(
                    es.into_iter()
                        .map(|mut e| {
                            e.field = format!("sequence[{i}].{}", e.field);
                            e
                        })
                        .collect(),
                ));
            }
            Err(e) => return Err(e),
        };
        scope.check(&spec)?;
        let mut errs = Errors::new();
        let buffer = step.get("buffer");
        let before_max = buffer_maximum(&buffer.get("before").get("maximum"), &mut errs);
        let after_max = buffer_maximum(&buffer.get("after").get("maximum"), &mut errs);
        errs.finish()?;
        let ordinal = step
            .v
            .and_then(|v| v.get("ordinal"))
            .and_then(Value::as_i64)
            .unwrap_or(i as i64);
        let id = step
            .v
            .and_then(|v| v.get("sequence_id"))
            .cloned()
            .unwrap_or(json!(i));
        let slots = evaluate(&state.availability, &spec).await?;
        parsed.push((ordinal, id, spec, slots, before_max, after_max));
    }
    parsed.sort_by_key(|p| p.0);
    let mut sequences = Vec::new();
    'first: for first in parsed[0].3.iter() {
        let mut chain = vec![first];
        for w in 1..parsed.len() {
            let (prev, next) = (&parsed[w - 1], &parsed[w]);
            let last = chain.last().expect("non-empty").end;
            let gap_min = prev.2.after + next.2.before;
            let earliest = last.checked_add(gap_min).unwrap_or(last);
            // A maximum on either side bounds the gap; the other side then
            // contributes its minimum.
            let latest = match (prev.5, next.4) {
                (None, None) => None,
                (a, b) => {
                    let a = a.unwrap_or(prev.2.after.as_mins());
                    let b = b.unwrap_or(next.2.before.as_mins());
                    last.checked_add(SignedDuration::from_mins(a + b)).ok()
                }
            };
            match next
                .3
                .iter()
                .find(|s| s.start >= earliest && latest.is_none_or(|l| s.start <= l))
            {
                Some(s) => chain.push(s),
                None => continue 'first,
            }
        }
        sequences.push(SequenceOut {
            sequence: chain
                .iter()
                .zip(&parsed)
                .map(|(s, p)| SequenceStepOut {
                    slot: AvailableOut::new(s),
                    sequence_id: &p.1,
                })
                .collect(),
        });
        if sequences.len() >= MAX_SEQUENCES {
            break;
        }
    }
    Ok(Json(SequencesBody { sequences }).into_response())
}

pub fn routes() -> utoipa_axum::router::OpenApiRouter<crate::AppState> {
    use utoipa_axum::routes;
    utoipa_axum::router::OpenApiRouter::new()
        .routes(routes!(availability))
        .routes(routes!(sequenced))
}
