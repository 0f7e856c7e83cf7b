//! The availability service: who is free when, for a query over accounts.
//!
//! It loads each member's busy intervals, rules and available periods
//! (through a per-process cache validated by the accounts' availability
//! versions, see `convene-store`'s `availability_data`) and hands them to
//! the pure engine. Every caller — the availability endpoints, bookings,
//! conversations, the recipient pages — asks here.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use convene_engine::{
    Available, Format, Group, Interval, Managed, Member, Query, Required, SignedDuration,
    Timestamp, WeeklyRule,
};
use convene_store::{Account, Db, Period, PrimaryCalendar, Rule};
use serde_json::Value;

use crate::error::ApiError;
use crate::time::{from_ms, to_ms};
use crate::tz;

/// Limits of one query, with the 422 key each produces.
pub mod limits {
    /// `errors.too_many` on `participants`.
    pub const MAX_GROUPS: usize = 10;
    /// `errors.too_many` on `participants[i].members`.
    pub const MAX_MEMBERS_PER_GROUP: usize = 500;
    /// `errors.too_many` on `participants`: distinct members over all groups.
    pub const MAX_MEMBERS: usize = 600;
    /// `errors.too_many` on `query_periods` / `query_slots`.
    pub const MAX_PERIODS: usize = 50;
    /// `errors.too_long` on `query_periods`: from the earliest start to the latest end.
    pub const MAX_SPAN_DAYS: i64 = 35;
    /// `errors.invalid` on `required_duration` outside 1..=this.
    pub const MAX_DURATION_MINUTES: i64 = 24 * 60;
    /// `errors.invalid` on `buffer.before` / `buffer.after` above this.
    pub const MAX_BUFFER_MINUTES: i64 = 24 * 60;
    /// `errors.invalid` on `max_results` outside 1..=this; also the default.
    pub const MAX_RESULTS: usize = 512;
    /// `errors.invalid` on `start_interval` unless a multiple of 5 in 5..=240.
    pub const MAX_START_INTERVAL_MINUTES: i64 = 240;
    /// Free members an answer lists per group whose `required` is fewer
    /// than all (or `required` of them when more): a 500-member pool would
    /// otherwise name hundreds per slot.
    pub const MAX_LISTED_PER_POOL: usize = 10;
}

#[derive(Clone, Debug)]
pub struct MemberSpec {
    pub sub: String,
    pub calendar_ids: Option<Vec<String>>,
    pub available_periods: Option<Vec<Interval>>,
    pub managed: bool,
    pub rule_ids: Option<Vec<String>>,
    /// With managed availability but no rules and no available periods,
    /// count the member as free whenever their calendar is (scheduling
    /// requests: a host who never set hours is bookable around events).
    pub open_without_rules: bool,
}

impl MemberSpec {
    pub fn managed(sub: &str) -> Self {
        MemberSpec {
            sub: sub.to_string(),
            calendar_ids: None,
            available_periods: None,
            managed: true,
            rule_ids: None,
            open_without_rules: true,
        }
    }
}

#[derive(Clone, Debug)]
pub struct GroupSpec {
    pub members: Vec<MemberSpec>,
    pub required: Required,
}

#[derive(Clone, Debug)]
pub struct QuerySpec {
    pub groups: Vec<GroupSpec>,
    pub periods: Vec<Interval>,
    pub query_slots: Option<Vec<Timestamp>>,
    pub duration: SignedDuration,
    pub before: SignedDuration,
    pub after: SignedDuration,
    pub start_interval: Option<SignedDuration>,
    pub format: Format,
    pub max_results: usize,
    /// Events (by `event_id`) that do not count as busy: a booking being
    /// moved must not block its own new time.
    pub exclude_event_ids: Vec<String>,
    /// The members' accounts, when this request has just read them (with
    /// their availability versions); empty means `evaluate` reads them.
    pub accounts: Vec<Account>,
}

/// What availability is computed from, for one account, as of a version.
struct Cached {
    /// The account's row at `version` (a booking picks by `last_booked_ms`).
    account: Account,
    /// When this process last read the row and found it at `version`.
    read_at: std::time::Instant,
    version: i64,
    from_ms: i64,
    to_ms: i64,
    busy: Arc<Busy>,
    rules: Arc<Vec<Rule>>,
    periods: Arc<Vec<Period>>,
}

/// An account's busy intervals per calendar (the engine sorts them if need
/// be), with their event ids joined by `ID_SEP` in the same order.
#[derive(Debug, Default)]
struct Busy {
    calendars: Vec<(String, Vec<Interval>, String)>,
}

type MemberData = (Arc<Busy>, Arc<Vec<Rule>>, Arc<Vec<Period>>);

/// Accounts whose data this process keeps; past it the cache starts over.
const CACHE_ACCOUNTS: usize = 20_000;
/// A miss fetches at least this far past the window's start, so that the
/// next queries (whose windows move with the clock) still hit.
const FETCH_SPAN_MS: i64 = 45 * 24 * 3_600_000;

/// The service: the database plus this process's cache of what
/// availability is computed from. Cloning shares the cache; each `AppState`
/// (each replica) has its own.
#[derive(Clone, Debug)]
pub struct Availability {
    db: Db,
    metrics: crate::metrics::Metrics,
    cache: Arc<Mutex<HashMap<String, Cached>>>,
    /// Members' primary calendars as a booking last read them, and when.
    primaries: Arc<Mutex<HashMap<String, (PrimaryCalendar, std::time::Instant)>>>,
}

impl std::fmt::Debug for Cached {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Cached(v{})", self.version)
    }
}

/// How recently a member's row must have been read for a booking to decide
/// on the cached copy ([`Availability::recent_accounts`]).
const RECENT: std::time::Duration = std::time::Duration::from_secs(2);

impl Availability {
    pub fn new(db: Db, metrics: crate::metrics::Metrics) -> Self {
        Availability {
            db,
            metrics,
            cache: Arc::new(Mutex::new(HashMap::new())),
            primaries: Arc::new(Mutex::new(HashMap::new())),
        }
    }
}

impl Availability {
    /// The members' accounts as this process read them within the last
    /// [`RECENT`] (the recipient's page, just before a pick, reads them), or
    /// `None` if any was not. A booking may decide on these without reading
    /// them again: its compare-and-set on each chosen member's version
    /// fails if the member changed since, and the booking then reads and
    /// decides again. A stale copy costs a retry, never a double booking.
    pub fn recent_accounts(&self, ids: &[String]) -> Option<Vec<Account>> {
        let cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
        ids.iter()
            .map(|id| {
                let c = cache.get(id)?;
                (c.read_at.elapsed() < RECENT && c.account.availability_version == c.version)
                    .then(|| c.account.clone())
            })
            .collect()
    }

    /// The members' accounts as this process last read them, however long
    /// ago, or `None` if any was never read: enough to tell which accounts
    /// exist and their Organizational Unit, which never change (accounts
    /// are neither deleted nor moved).
    pub fn cached_accounts(&self, ids: &[String]) -> Option<Vec<Account>> {
        let cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
        ids.iter()
            .map(|id| cache.get(id).map(|c| c.account.clone()))
            .collect()
    }

    /// The members' primary calendars (and whether each is connected), as
    /// a booking of this process read them within [`RECENT`]; `None` if any
    /// was not. A primary calendar is fixed once an account has one; a
    /// profile connected in the last moments only means the booking skips
    /// asking its server first (the remote write still follows the stored
    /// state, see `Tx::insert_booked_event`).
    pub fn recent_primaries(&self, ids: &[String]) -> Option<Vec<PrimaryCalendar>> {
        let m = self.primaries.lock().unwrap_or_else(|e| e.into_inner());
        ids.iter()
            .map(|id| {
                let (p, at) = m.get(id)?;
                (at.elapsed() < RECENT).then(|| p.clone())
            })
            .collect()
    }

    /// Remembers primary calendars a booking has just read.
    pub fn note_primaries(&self, read: &[PrimaryCalendar]) {
        let mut m = self.primaries.lock().unwrap_or_else(|e| e.into_inner());
        if m.len() + read.len() > CACHE_ACCOUNTS {
            m.clear();
        }
        let now = std::time::Instant::now();
        for p in read {
            m.insert(p.calendar.account_id.clone(), (p.clone(), now));
        }
    }

    /// Tells the cache about a booking this process has just committed:
    /// `account`'s version moved from exactly `from_version` to the next by
    /// adding one busy event (`event_id`, `interval`) to `calendar_id` and
    /// nothing else (the booking's version check guarantees it). Data cached
    /// at `from_version` is brought forward, so the next query — the next
    /// recipient's page — reads nothing. Data cached at any other version is
    /// left to the usual version check.
    pub fn booked(
        &self,
        account: &str,
        from_version: i64,
        calendar_id: &str,
        interval: Interval,
        event_id: &str,
        booked_ms: i64,
    ) {
        let mut cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
        let Some(c) = cache.get_mut(account) else {
            return;
        };
        if c.version != from_version {
            return;
        }
        let (s, e) = (to_ms(interval.start), to_ms(interval.end));
        if s < c.to_ms && e > c.from_ms {
            let mut busy = Busy {
                calendars: c.busy.calendars.clone(),
            };
            match busy.calendars.iter_mut().find(|(id, ..)| id == calendar_id) {
                Some((_, runs, ids)) => {
                    let at = runs.partition_point(|r| r.start <= interval.start);
                    let mut all: Vec<&str> = if runs.is_empty() {
                        Vec::new()
                    } else {
                        ids.split(convene_store::ID_SEP).collect()
                    };
                    if all.len() != runs.len() {
                        // Ids that do not pair up (see `evaluate`): start over.
                        cache.remove(account);
                        return;
                    }
                    all.insert(at, event_id);
                    let joined = all.join(&convene_store::ID_SEP.to_string());
                    runs.insert(at, interval);
                    *ids = joined;
                }
                None => busy.calendars.push((
                    calendar_id.to_string(),
                    vec![interval],
                    event_id.to_string(),
                )),
            }
            c.busy = Arc::new(busy);
        }
        c.version = from_version + 1;
        c.account.availability_version = c.version;
        c.account.last_booked_ms = Some(booked_ms);
    }
}

pub const DAYS: [(&str, jiff::civil::Weekday); 7] = [
    ("sunday", jiff::civil::Weekday::Sunday),
    ("monday", jiff::civil::Weekday::Monday),
    ("tuesday", jiff::civil::Weekday::Tuesday),
    ("wednesday", jiff::civil::Weekday::Wednesday),
    ("thursday", jiff::civil::Weekday::Thursday),
    ("friday", jiff::civil::Weekday::Friday),
    ("saturday", jiff::civil::Weekday::Saturday),
];

/// `HH:MM` in 24-hour time; `24:00` is the end of the day.
pub fn parse_hhmm(s: &str) -> Option<jiff::civil::Time> {
    let (h, m) = s.trim().split_once(':')?;
    // Exactly `H:MM` or `HH:MM`: `09:00:30` is not a rule's time.
    if h.is_empty() || h.len() > 2 || m.len() != 2 {
        return None;
    }
    let (h, m): (i8, i8) = (h.parse().ok()?, m.parse().ok()?);
    if h == 24 && m == 0 {
        return Some(jiff::civil::Time::midnight());
    }
    jiff::civil::Time::new(h, m, 0, 0).ok()
}

/// A weekly period as the engine wants it; `None` when invalid.
pub fn engine_period(p: &Value) -> Option<convene_engine::WeeklyPeriod> {
    let day = p.get("day")?.as_str()?.to_ascii_lowercase();
    let day = DAYS.iter().find(|(n, _)| *n == day)?.1;
    let start = parse_hhmm(p.get("start_time")?.as_str()?)?;
    let end = parse_hhmm(p.get("end_time")?.as_str()?)?;
    Some(convene_engine::WeeklyPeriod { day, start, end })
}

/// Whether `cached` may answer for `account` over `[from, to)`: the same
/// availability version (bumped in the transaction of every change to the
/// account's events, rules or periods, by any process) and a wide enough window.
fn fresh(cached: &Cached, version: i64, from: i64, to: i64) -> bool {
    cached.version == version && cached.from_ms <= from && to <= cached.to_ms
}

/// Every member's busy intervals, rules and available periods covering
/// `[from, to)`. One query reads the accounts' availability versions; data
/// cached at the same version is current, whichever process changed it.
/// Only the accounts that changed are read again, in three queries whatever
/// their number.
async fn member_data(
    db: &Db,
    cache: &Mutex<HashMap<String, Cached>>,
    ids: &[String],
    known: &[Account],
    from: i64,
    to: i64,
) -> Result<HashMap<String, MemberData>, ApiError> {
    let read;
    let read_now = known.is_empty() || !ids.iter().all(|id| known.iter().any(|a| &a.id == id));
    let accounts = if read_now {
        read = db.accounts(ids).await?;
        &read
    } else {
        known
    };
    let now = std::time::Instant::now();
    let mut out: HashMap<String, MemberData> = HashMap::new();
    let mut missing: Vec<&Account> = Vec::new();
    {
        let mut cache = cache.lock().unwrap_or_else(|e| e.into_inner());
        for a in accounts {
            match cache.get_mut(&a.id) {
                Some(c) if fresh(c, a.availability_version, from, to) => {
                    if read_now {
                        c.account = a.clone();
                        c.read_at = now;
                    }
                    out.insert(
                        a.id.clone(),
                        (c.busy.clone(), c.rules.clone(), c.periods.clone()),
                    );
                }
                _ => missing.push(a),
            }
        }
    }
    if missing.is_empty() {
        return Ok(out);
    }
    let fetch_to = to.max(from + FETCH_SPAN_MS);
    let miss_ids: Vec<String> = missing.iter().map(|a| a.id.clone()).collect();
    // Three reads at once: on SQLite each runs on a connection's own
    // thread, so their hand-offs overlap.
    let (new_busy, new_rules, new_periods) = tokio::try_join!(
        db.busy_packed(&miss_ids, from, fetch_to),
        db.rules_for(&miss_ids),
        db.periods_for(&miss_ids, Some(from), Some(fetch_to)),
    )?;
    let mut cache = cache.lock().unwrap_or_else(|e| e.into_inner());
    if cache.len() + missing.len() > CACHE_ACCOUNTS {
        cache.clear();
    }
    // Grouped once: a pool misses hundreds of accounts at a time.
    let mut busy_of: HashMap<String, Vec<(String, Vec<Interval>, String)>> =
        HashMap::with_capacity(missing.len());
    for b in new_busy {
        let runs = b
            .intervals
            .iter()
            .map(|&(s, e)| Interval::new(from_ms(s), from_ms(e)))
            .collect();
        busy_of
            .entry(b.account_id)
            .or_default()
            .push((b.calendar_id, runs, b.event_ids));
    }
    for a in missing {
        let id = a.id.clone();
        let entry = Cached {
            account: a.clone(),
            // A row the caller passed in was read by the caller, not now.
            read_at: if read_now {
                now
            } else {
                now.checked_sub(RECENT).unwrap_or(now)
            },
            version: a.availability_version,
            from_ms: from,
            to_ms: fetch_to,
            busy: Arc::new(Busy {
                calendars: busy_of.remove(&id).unwrap_or_default(),
            }),
            rules: Arc::new(
                new_rules
                    .iter()
                    .filter(|r| r.account_id == id)
                    .cloned()
                    .collect(),
            ),
            periods: Arc::new(
                new_periods
                    .iter()
                    .filter(|p| p.account_id == id)
                    .cloned()
                    .collect(),
            ),
        };
        out.insert(
            id.clone(),
            (
                entry.busy.clone(),
                entry.rules.clone(),
                entry.periods.clone(),
            ),
        );
        cache.insert(id, entry);
    }
    Ok(out)
}

/// Loads every member's busy time, rules and available periods for the
/// query window (see [`member_data`]) and runs the engine.
#[tracing::instrument(skip_all, fields(groups = spec.groups.len()))]
pub async fn evaluate(av: &Availability, spec: &QuerySpec) -> Result<Vec<Available>, ApiError> {
    av.metrics.availability_query();
    let starts: Vec<Timestamp> = match &spec.query_slots {
        Some(s) => s.clone(),
        None => spec.periods.iter().map(|p| p.start).collect(),
    };
    let ends: Vec<Timestamp> = match &spec.query_slots {
        Some(s) => s
            .iter()
            .filter_map(|t| t.checked_add(spec.duration).ok())
            .collect(),
        None => spec.periods.iter().map(|p| p.end).collect(),
    };
    let (Some(lo), Some(hi)) = (starts.iter().min(), ends.iter().max()) else {
        return Ok(Vec::new());
    };
    let slack = SignedDuration::from_hours(24);
    let from = lo
        .checked_sub(spec.before)
        .and_then(|t| t.checked_sub(slack))
        .unwrap_or(*lo);
    let to = hi
        .checked_add(spec.after)
        .and_then(|t| t.checked_add(slack))
        .unwrap_or(*hi);

    let mut ids: Vec<String> = spec
        .groups
        .iter()
        .flat_map(|g| g.members.iter().map(|m| m.sub.clone()))
        .collect();
    ids.sort();
    ids.dedup();
    let data = member_data(
        &av.db,
        &av.cache,
        &ids,
        &spec.accounts,
        to_ms(from),
        to_ms(to),
    )
    .await?;
    // Events a move leaves out, by the interval they hold in their calendar:
    // removing one equal interval there is the same as skipping the event.
    let none: MemberData = Default::default();
    let groups = spec
        .groups
        .iter()
        .map(|g| Group {
            required: g.required,
            members: g
                .members
                .iter()
                .map(|m| {
                    let (busy, rules, periods) = data.get(&m.sub).unwrap_or(&none);
                    let my_rules: Vec<&Rule> = rules
                        .iter()
                        .filter(|r| {
                            m.rule_ids
                                .as_ref()
                                .is_none_or(|ids| ids.contains(&r.rule_id))
                        })
                        .collect();
                    // Calendars that count: the member's own list, else (with
                    // managed availability) the calendars its rules name.
                    let calendars: Option<Vec<String>> = m.calendar_ids.clone().or_else(|| {
                        if !m.managed {
                            return None;
                        }
                        let named: Vec<String> = my_rules
                            .iter()
                            .filter_map(|r| r.calendar_ids_json.as_deref())
                            .filter_map(|j| serde_json::from_str::<Vec<String>>(j).ok())
                            .flatten()
                            .collect();
                        (!named.is_empty()).then_some(named)
                    });
                    let mut member_busy: Vec<Interval> = Vec::new();
                    for (calendar_id, runs, event_ids) in busy.calendars.iter() {
                        if calendars.as_ref().is_some_and(|c| !c.contains(calendar_id)) {
                            continue;
                        }
                        // Only a move leaves events out: then the ids are read.
                        // Ids that do not pair up one to one (an id holding
                        // the separator) leave everything busy.
                        if spec.exclude_event_ids.is_empty()
                            || event_ids.split(convene_store::ID_SEP).count() != runs.len()
                        {
                            member_busy.extend_from_slice(runs);
                            continue;
                        }
                        member_busy.extend(
                            runs.iter()
                                .zip(event_ids.split(convene_store::ID_SEP))
                                .filter(|(_, id)| !spec.exclude_event_ids.iter().any(|x| x == id))
                                .map(|(iv, _)| *iv),
                        );
                    }
                    let has_windows = !my_rules.is_empty() || !periods.is_empty();
                    let managed =
                        (m.managed && (has_windows || !m.open_without_rules)).then(|| Managed {
                            rules: my_rules
                                .iter()
                                .filter_map(|r| {
                                    let tz = tz(&r.tzid)?;
                                    let wp: Vec<Value> =
                                        serde_json::from_str(&r.weekly_periods_json).ok()?;
                                    Some(WeeklyRule {
                                        tz,
                                        periods: wp.iter().filter_map(engine_period).collect(),
                                    })
                                })
                                .collect(),
                            periods: periods
                                .iter()
                                .map(|p| Interval::new(from_ms(p.start_ms), from_ms(p.end_ms)))
                                .collect(),
                        });
                    Member {
                        id: m.sub.clone(),
                        busy: member_busy,
                        managed,
                        available_periods: m.available_periods.clone(),
                    }
                })
                .collect(),
        })
        .collect();
    let query = Query {
        periods: spec.periods.clone(),
        query_slots: spec.query_slots.clone(),
        duration: spec.duration,
        buffer_before: spec.before,
        buffer_after: spec.after,
        start_interval: spec.start_interval,
        format: spec.format,
        max_results: spec.max_results,
        max_listed: limits::MAX_LISTED_PER_POOL,
        groups,
    };
    Ok(convene_engine::compute(&query))
}
