//! Convene's availability engine: "when can these people meet?".
//!
//! Pure functions over instants (no I/O, no clock). The caller brings every
//! member's busy intervals and availability windows; the engine answers with
//! ordered available periods or slots, each naming the members free for it.
#![forbid(unsafe_code)]

mod compute;
mod rules;
mod set;

use jiff::civil::{Time, Weekday};
use jiff::tz::TimeZone;
pub use jiff::{SignedDuration, Timestamp};

/// A half-open interval of instants `[start, end)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Interval {
    pub start: Timestamp,
    pub end: Timestamp,
}

impl Interval {
    pub fn new(start: Timestamp, end: Timestamp) -> Self {
        Self { start, end }
    }
}

/// How many members of a group must be free.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Required {
    All,
    AtLeast(usize),
}

/// One weekly period of an availability rule, in the rule's wall-clock time.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WeeklyPeriod {
    pub day: Weekday,
    pub start: Time,
    pub end: Time,
}

/// An availability rule: weekly periods read in `tz`.
#[derive(Clone, Debug)]
pub struct WeeklyRule {
    pub tz: TimeZone,
    pub periods: Vec<WeeklyPeriod>,
}

/// What a member's managed availability allows: the union of its rules'
/// weekly periods and its available periods.
#[derive(Clone, Debug, Default)]
pub struct Managed {
    pub rules: Vec<WeeklyRule>,
    pub periods: Vec<Interval>,
}

#[derive(Clone, Debug)]
pub struct Member {
    /// Caller's identifier (a `sub`), echoed in results.
    pub id: String,
    /// Intervals the member is busy (the caller has already dropped
    /// transparent and declined events). Any order, may overlap.
    pub busy: Vec<Interval>,
    /// `Some` when `managed_availability` is on: the member is only free
    /// inside these windows.
    pub managed: Option<Managed>,
    /// The member's own `available_periods` from the query: when `Some`,
    /// the member is only free inside them.
    pub available_periods: Option<Vec<Interval>>,
}

#[derive(Clone, Debug)]
pub struct Group {
    pub members: Vec<Member>,
    pub required: Required,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Periods,
    Slots,
    OverlappingSlots,
}

#[derive(Clone, Debug)]
pub struct Query {
    /// Windows to search. Ignored when `query_slots` is `Some`.
    pub periods: Vec<Interval>,
    /// Specific starts to test instead of `periods`.
    pub query_slots: Option<Vec<Timestamp>>,
    pub duration: SignedDuration,
    pub buffer_before: SignedDuration,
    pub buffer_after: SignedDuration,
    /// Grid for slot starts; `None` means [`DEFAULT_START_INTERVAL`].
    pub start_interval: Option<SignedDuration>,
    pub format: Format,
    pub max_results: usize,
    /// Per group whose `required` is fewer than all its members, the most
    /// free members an answer lists (at least `required` of them, in member
    /// order): a pool of 500 would otherwise name hundreds per slot.
    /// `usize::MAX` lists everyone free.
    pub max_listed: usize,
    pub groups: Vec<Group>,
}

/// The start-interval grid used when a query names none.
pub const DEFAULT_START_INTERVAL: SignedDuration = SignedDuration::from_mins(15);

/// One answer: a period or a slot, with the ids of the members free for it
/// (in group order, then member order; capped per pool by
/// [`Query::max_listed`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Available {
    pub start: Timestamp,
    pub end: Timestamp,
    pub members: Vec<String>,
}

/// Answers a query: the available periods or slots, sorted by start and
/// truncated to `max_results`. `docs/engine.md` in the repository states the
/// exact semantics (buffers, N of M, grid alignment, DST).
///
/// A non-positive `duration` yields nothing; negative buffers count as zero
/// and a non-positive `start_interval` as [`DEFAULT_START_INTERVAL`].
pub fn compute(query: &Query) -> Vec<Available> {
    compute::compute(query)
}

/// The instants, within `window`, whose wall-clock reading in the rule's
/// zone falls inside one of its weekly periods. Sorted, disjoint, and
/// touching intervals are merged.
///
/// A period ending at 00:00, or before it starts, ends at the next
/// midnight; a period starting when it ends (other than 00:00–00:00, a
/// whole day) is empty. Across DST changes the answer is exact: wall times
/// in a spring-forward gap have no instant, and the repeated wall times of a
/// fall-back count twice, so one period can yield two disjoint intervals.
pub fn expand_rule(rule: &WeeklyRule, window: Interval) -> Vec<Interval> {
    let mut runs = Vec::new();
    rules::expand_ns(rule, window.start, window.end, &mut runs);
    runs.into_iter()
        .filter_map(|(a, b)| {
            let start = Timestamp::from_nanosecond(a).ok()?;
            let end = Timestamp::from_nanosecond(b).ok()?;
            Some(Interval::new(start, end))
        })
        .collect()
}
