//! Scheduling templates: the one validation of a template body, shared by
//! the API and the dashboard's template editor.

use serde_json::{Map, Value, json};

use crate::domain::availability::limits;
use crate::error::ApiResult;
use crate::input::{Errors, F};
use crate::time::{duration_json, fmt_time};

/// Search window when a template names none.
pub const DEFAULT_WINDOW_DAYS: i64 = 14;

/// A field that must be an object when given: anything else would be
/// read as empty and silently saved.
fn object(f: &F<'_>, errs: &mut Errors) -> bool {
    match f.v {
        None | Some(Value::Object(_)) => true,
        Some(_) => {
            errs.add(&f.path, "invalid", format!("{} must be an object", f.path));
            false
        }
    }
}

fn group_json(f: &F<'_>, errs: &mut Errors, with_name: bool) -> Option<Value> {
    if !f.present() || !object(f, errs) {
        return None;
    }
    let mut g = Map::new();
    if with_name && let Some(n) = f.get("name").str(errs) {
        g.insert("name".into(), json!(n));
    }
    let mut members: Vec<Value> = Vec::new();
    let items = f.get("members").array(errs).unwrap_or_default();
    if items.len() > limits::MAX_MEMBERS_PER_GROUP {
        errs.add(
            &format!("{}.members", f.path),
            "too_many",
            format!(
                "at most {} members per group",
                limits::MAX_MEMBERS_PER_GROUP
            ),
        );
    }
    for m in items {
        let sub = match m.v {
            Some(Value::String(s)) => Some(s.clone()),
            Some(Value::Object(_)) => m.get("sub").req_str(errs),
            _ => {
                errs.add(
                    &m.path,
                    "invalid",
                    format!("{} must be a sub or {{\"sub\"}}", m.path),
                );
                None
            }
        };
        // A person listed twice is still one person: N of M counts people.
        if let Some(sub) = sub
            && !members.iter().any(|m: &Value| m["sub"] == json!(sub))
        {
            members.push(json!({ "sub": sub }));
        }
    }
    g.insert("members".into(), Value::Array(members));
    let r = f.get("required");
    let required = match r.v {
        None => json!("all"),
        Some(Value::String(s)) if s == "all" => json!("all"),
        Some(_) => match r.int(errs) {
            // Beyond the members there are, a count could never be met.
            Some(n) if (1..=limits::MAX_MEMBERS_PER_GROUP as i64).contains(&n) => json!(n),
            Some(_) => {
                errs.add(
                    &r.path,
                    "invalid",
                    "required must be \"all\" or a number from 1 to the most members a group has",
                );
                json!("all")
            }
            None => json!("all"),
        },
    };
    g.insert("required".into(), required);
    Some(Value::Object(g))
}

/// Most recipients a template may name besides the request's own.
pub const MAX_RECIPIENTS: usize = 20;

/// The people a template invites to every meeting it books. They never pick
/// the slot: the request's caller names who does.
fn recipients_json(f: &F<'_>, errs: &mut Errors) -> Vec<Value> {
    let items = f.array(errs).unwrap_or_default();
    if items.len() > MAX_RECIPIENTS {
        errs.add(
            &f.path,
            "too_many",
            format!("at most {MAX_RECIPIENTS} recipients"),
        );
    }
    let mut out = Vec::new();
    for r in items {
        if !r.present() {
            errs.add(&r.path, "invalid", format!("{} must be an object", r.path));
            continue;
        }
        if !object(&r, errs) {
            continue;
        }
        let email = r.get("email").req_str(errs);
        if email
            .as_ref()
            .is_some_and(|e| !crate::domain::mail::valid_address(e))
        {
            errs.add(
                &format!("{}.email", r.path),
                "invalid",
                "email must be an email address",
            );
        }
        let display_name = r.get("display_name").str(errs);
        if r.get("slot_selector").bool(errs) == Some(true) {
            errs.add(
                &format!("{}.slot_selector", r.path),
                "invalid",
                "a template's recipients cannot select the slot",
            );
        }
        if let Some(email) = email {
            let mut v = json!({ "email": email });
            if let Some(n) = display_name {
                v["display_name"] = json!(n);
            }
            out.push(v);
        }
    }
    out
}

/// Checks the shape of a template body and returns it normalized (durations
/// in minutes, times in the canonical spelling).
pub fn normalize(body: &Value) -> ApiResult<Value> {
    let root = F::root(body);
    let mut errs = Errors::new();
    let mut t = Map::new();
    let name = root.get("name").req_str(&mut errs);
    t.insert("name".into(), json!(name));
    if let Some(host) = host_json(&root, &mut errs) {
        t.insert("host".into(), host);
    }
    if let Some(g) = group_json(&root.get("host_group"), &mut errs, true) {
        t.insert("host_group".into(), g);
    }
    let groups = collaborator_groups_json(&root.get("collaborator_groups"), &mut errs);
    t.insert("collaborator_groups".into(), Value::Array(groups));
    // Only when given, so templates without them read as they always did.
    if root.get("recipients").present() {
        let recipients = recipients_json(&root.get("recipients"), &mut errs);
        t.insert("recipients".into(), Value::Array(recipients));
    }
    let ev = root.get("event");
    t.insert("event".into(), event_json(&ev, &mut errs));
    // `event.duration` (Cronofy's older field) is taken as `duration`.
    let dur = if root.get("duration").present() {
        root.get("duration")
    } else {
        ev.get("duration")
    };
    if let Some(d) = duration_json_of(&dur, &mut errs) {
        t.insert("duration".into(), d);
    }
    if let Some(b) = buffer_json(&root.get("buffer"), &mut errs) {
        t.insert("buffer".into(), b);
    }
    if let Some(d) = start_interval_json(&root.get("start_interval"), &mut errs) {
        t.insert("start_interval".into(), d);
    }
    if let Some(d) = minimum_notice_json(&root.get("minimum_notice"), &mut errs) {
        t.insert("minimum_notice".into(), d);
    }
    if let Some((tzid, _)) = root.get("tzid").tz(&mut errs) {
        t.insert("tzid".into(), json!(tzid));
    }
    // Only when set, so templates without it read as they always did.
    if root.get("email_recipient").bool(&mut errs) == Some(true) {
        t.insert("email_recipient".into(), json!(true));
    }
    let mode = availability_mode_json(&root.get("availability_mode"), &mut errs);
    t.insert("availability_mode".into(), mode);
    errs.finish()?;
    Ok(Value::Object(t))
}

/// A bare sub or `{"sub"}`, answered as `{"sub"}`.
fn host_json(root: &F<'_>, errs: &mut Errors) -> Option<Value> {
    let sub = match root.get("host").v? {
        Value::String(s) => Some(s.clone()),
        Value::Object(_) => root.get("host").get("sub").req_str(errs),
        _ => {
            errs.add("host", "invalid", "host must be a sub or {\"sub\"}");
            None
        }
    };
    sub.map(|s| json!({ "sub": s }))
}

fn collaborator_groups_json(f: &F<'_>, errs: &mut Errors) -> Vec<Value> {
    let groups: Vec<Value> = f
        .array(errs)
        .unwrap_or_default()
        .iter()
        .filter_map(|g| {
            if !g.present() {
                errs.add(&g.path, "invalid", format!("{} must be an object", g.path));
            }
            group_json(g, errs, true)
        })
        .collect();
    // The host's group counts towards the limit.
    if groups.len() >= limits::MAX_GROUPS {
        errs.add(
            "collaborator_groups",
            "too_many",
            format!("at most {} collaborator groups", limits::MAX_GROUPS - 1),
        );
    }
    groups
}

fn event_json(ev: &F<'_>, errs: &mut Errors) -> Value {
    object(ev, errs);
    object(&ev.get("location"), errs);
    let mut event = Map::new();
    for key in ["summary", "description"] {
        if let Some(s) = ev.get(key).str(errs) {
            event.insert(key.into(), json!(s));
        }
    }
    if let Some(loc) = ev.get("location").get("description").str(errs) {
        event.insert("location".into(), json!({ "description": loc }));
    }
    Value::Object(event)
}

fn duration_json_of(dur: &F<'_>, errs: &mut Errors) -> Option<Value> {
    let d = dur.duration(errs)?;
    if d.as_mins() < 1 || d.as_mins() > 24 * 60 {
        errs.add(&dur.path, "invalid", "duration must be 1 to 1440 minutes");
    }
    Some(duration_json(d))
}

/// `None` when neither side is given.
fn buffer_json(buffer: &F<'_>, errs: &mut Errors) -> Option<Value> {
    object(buffer, errs);
    let mut b = Map::new();
    for side in ["before", "after"] {
        if let Some(d) = buffer.get(side).duration(errs) {
            if d.as_mins() > limits::MAX_BUFFER_MINUTES {
                errs.add(
                    &format!("buffer.{side}"),
                    "invalid",
                    format!(
                        "buffer.{side} must be at most {} minutes",
                        limits::MAX_BUFFER_MINUTES
                    ),
                );
            }
            b.insert(side.into(), duration_json(d));
        }
    }
    (!b.is_empty()).then_some(Value::Object(b))
}

fn start_interval_json(f: &F<'_>, errs: &mut Errors) -> Option<Value> {
    let d = f.duration(errs)?;
    if d.as_mins() < 5 || d.as_mins() > 240 || d.as_mins() % 5 != 0 {
        errs.add(
            "start_interval",
            "invalid",
            "start_interval must be a multiple of 5 minutes, from 5 to 240",
        );
    }
    Some(duration_json(d))
}

fn minimum_notice_json(f: &F<'_>, errs: &mut Errors) -> Option<Value> {
    let d = f.duration(errs)?;
    if d.as_mins() > limits::MAX_SPAN_DAYS * 24 * 60 {
        errs.add(
            "minimum_notice",
            "invalid",
            format!(
                "minimum_notice must be at most {} days",
                limits::MAX_SPAN_DAYS
            ),
        );
    }
    Some(duration_json(d))
}

/// Query periods, or a number of days (14 when neither is given).
fn availability_mode_json(am: &F<'_>, errs: &mut Errors) -> Value {
    object(am, errs);
    let mut mode = Map::new();
    if am.get("query_periods").present() {
        let periods = query_periods_json(&am.get("query_periods"), errs);
        mode.insert("query_periods".into(), Value::Array(periods));
    }
    // `days` is checked even beside `query_periods`, which take precedence.
    let days = am.get("days").int(errs);
    if days.is_some_and(|d| !(1..=35).contains(&d)) {
        errs.add("availability_mode.days", "invalid", "days must be 1 to 35");
    }
    if !am.get("query_periods").present() {
        mode.insert("days".into(), json!(days.unwrap_or(DEFAULT_WINDOW_DAYS)));
    }
    Value::Object(mode)
}

fn query_periods_json(f: &F<'_>, errs: &mut Errors) -> Vec<Value> {
    let mut periods = Vec::new();
    let mut bounds = Vec::new();
    for p in f.array(errs).unwrap_or_default() {
        let (s, e) = (p.get("start").req_time(errs), p.get("end").req_time(errs));
        if let (Some(s), Some(e)) = (s, e) {
            if e <= s {
                errs.add(
                    &format!("{}.end", p.path),
                    "invalid",
                    "end must be after start",
                );
            }
            bounds.push((s, e));
            periods.push(json!({"start": fmt_time(s), "end": fmt_time(e)}));
        }
    }
    if periods.len() > limits::MAX_PERIODS {
        errs.add(
            "availability_mode.query_periods",
            "too_many",
            format!("at most {} periods", limits::MAX_PERIODS),
        );
    }
    if let (Some(lo), Some(hi)) = (
        bounds.iter().map(|b| b.0).min(),
        bounds.iter().map(|b| b.1).max(),
    ) && hi.duration_since(lo) > jiff::SignedDuration::from_hours(24 * limits::MAX_SPAN_DAYS)
    {
        errs.add(
            "availability_mode.query_periods",
            "too_long",
            format!(
                "periods must lie within {} days of the earliest start",
                limits::MAX_SPAN_DAYS
            ),
        );
    }
    periods
}
