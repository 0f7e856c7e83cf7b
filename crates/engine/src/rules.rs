//! Expansion of weekly wall-clock rules into instants.
//!
//! Between two transitions of a zone the UTC offset is constant, so the
//! wall-clock reading `t + offset` is a plain translation of `t`. The
//! expansion therefore walks the window one constant-offset segment at a
//! time and, inside a segment, one civil day at a time, mapping each weekly
//! period back by subtracting that segment's offset and clipping it to the
//! segment. This is exact by construction: wall times skipped by a
//! spring-forward gap have no instant in either segment (a period starting
//! in the gap is clipped to the transition instant), and the repeated hour
//! of a fall-back is found once in each of the two segments around it.

use jiff::Timestamp;
use jiff::civil::Time;

use crate::WeeklyRule;
use crate::set::{Run, push_merge};

const NS_PER_SEC: i128 = 1_000_000_000;
pub(crate) const NS_PER_DAY: i128 = 86_400 * NS_PER_SEC;

fn time_ns(t: Time) -> i128 {
    let secs = (i128::from(t.hour()) * 60 + i128::from(t.minute())) * 60 + i128::from(t.second());
    secs * NS_PER_SEC + i128::from(t.subsec_nanosecond())
}

/// A rule's periods as nanosecond offsets into the civil day, bucketed by
/// weekday (Monday = 0) and sorted by start, so a day's periods come out in
/// order and the result needs no sort.
struct Plan {
    periods: Vec<(i128, i128)>,
    /// `periods[by_day[d]..by_day[d + 1]]` are weekday `d`'s periods.
    by_day: [usize; 8],
}

impl Plan {
    fn new(rule: &WeeklyRule) -> Self {
        let mut keyed: Vec<(i8, i128, i128)> = Vec::with_capacity(rule.periods.len());
        for p in &rule.periods {
            let start = time_ns(p.start);
            let end = time_ns(p.end);
            // 00:00 as an end is how "24:00" arrives (civil times stop at
            // 23:59:59.999999999), so it must mean the next midnight even
            // when the start is 00:00 too.
            let end = if end == 0 {
                NS_PER_DAY
            } else if end == start {
                continue;
            } else if end < start {
                NS_PER_DAY
            } else {
                end
            };
            keyed.push((p.day.to_monday_zero_offset(), start, end));
        }
        keyed.sort_unstable();
        let mut by_day = [0usize; 8];
        for &(day, _, _) in &keyed {
            by_day[usize::try_from(day).unwrap_or(0) + 1] += 1;
        }
        for d in 1..8 {
            by_day[d] += by_day[d - 1];
        }
        Self {
            periods: keyed.into_iter().map(|(_, s, e)| (s, e)).collect(),
            by_day,
        }
    }

    fn day(&self, weekday: usize) -> &[(i128, i128)] {
        &self.periods[self.by_day[weekday]..self.by_day[weekday + 1]]
    }

    /// Emits the instants of `[lo, hi)` (nanoseconds) whose wall clock,
    /// at constant offset `offset`, lies in a period.
    fn segment(&self, lo: i128, hi: i128, offset: i128, out: &mut Vec<Run>) {
        let first_day = (lo + offset).div_euclid(NS_PER_DAY);
        let last_day = (hi - 1 + offset).div_euclid(NS_PER_DAY);
        for day in first_day..=last_day {
            // 1970-01-01 was a Thursday: Monday-zero weekday 3.
            let weekday = usize::try_from((day + 3).rem_euclid(7)).unwrap_or(0);
            let midnight = day * NS_PER_DAY - offset;
            for &(start, end) in self.day(weekday) {
                push_merge(out, (midnight + start).max(lo), (midnight + end).min(hi));
            }
        }
    }
}

/// Replaces `out` with the instants (nanoseconds, sorted, merged) of
/// `[window_start, window_end)` inside the rule's periods.
pub(crate) fn expand_ns(
    rule: &WeeklyRule,
    window_start: Timestamp,
    window_end: Timestamp,
    out: &mut Vec<Run>,
) {
    out.clear();
    if window_start >= window_end || rule.periods.is_empty() {
        return;
    }
    let plan = Plan::new(rule);
    if plan.periods.is_empty() {
        return;
    }
    let end_ns = window_end.as_nanosecond();
    let mut seg_start = window_start;
    let mut offset = rule.tz.to_offset(seg_start);
    loop {
        let next = rule
            .tz
            .following(seg_start)
            .next()
            .filter(|t| t.timestamp() < window_end);
        let seg_end = next
            .as_ref()
            .map_or(end_ns, |t| t.timestamp().as_nanosecond());
        let offset_ns = i128::from(offset.seconds()) * NS_PER_SEC;
        plan.segment(seg_start.as_nanosecond(), seg_end, offset_ns, out);
        match next {
            Some(t) => {
                seg_start = t.timestamp();
                offset = t.offset();
            }
            None => break,
        }
    }
}
