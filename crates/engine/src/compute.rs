//! The availability query: per-member valid starts, N-of-M per group, then
//! periods or slots over the resulting set.

use std::collections::HashMap;

use jiff::{SignedDuration, Timestamp};

use crate::rules::{NS_PER_DAY, expand_ns};
use crate::set::{Run, Sweep, Tick, at_least, complement_within, intersect, normalize};
use crate::{Available, DEFAULT_START_INTERVAL, Format, Member, Query, Required};

fn ns(t: Timestamp) -> i128 {
    t.as_nanosecond()
}

fn ts(ns: i128) -> Timestamp {
    Timestamp::from_nanosecond(ns).unwrap_or(if ns < 0 {
        Timestamp::MIN
    } else {
        Timestamp::MAX
    })
}

fn dur(d: SignedDuration) -> i128 {
    d.as_nanos()
}

/// Smallest multiple of `grid` (counted from the Unix epoch) that is ≥ `t`.
fn grid_ceil(t: i128, grid: i128) -> i128 {
    t + (-t).rem_euclid(grid)
}

/// Reusable buffers, so preparing hundreds of members allocates little.
#[derive(Default)]
struct Scratch {
    busy: Vec<Run>,
    free: Vec<Run>,
    windows: Vec<Run>,
    rule: Vec<Run>,
    tmp: Vec<Run>,
}

struct Spec {
    duration: i128,
    before: i128,
    after: i128,
    /// Ticks bounding everything that can influence a candidate start.
    lo: Tick,
    hi: Tick,
}

/// Member `m`'s valid starts `S_m` as runs of ticks (closed intervals of
/// instants, see [`crate::set`]).
fn member_starts(m: &Member, spec: &Spec, s: &mut Scratch) -> Vec<Run> {
    s.busy.clear();
    s.busy
        .extend(m.busy.iter().map(|iv| (2 * ns(iv.start), 2 * ns(iv.end))));
    normalize(&mut s.busy);
    complement_within(&s.busy, spec.lo, spec.hi, &mut s.free);

    if let Some(managed) = &m.managed {
        s.windows.clear();
        let (w_lo, w_hi) = (ts(spec.lo / 2), ts(spec.hi / 2));
        for rule in &managed.rules {
            expand_ns(rule, w_lo, w_hi, &mut s.rule);
            s.windows
                .extend(s.rule.iter().map(|&(a, b)| (2 * a, 2 * b)));
        }
        s.windows.extend(
            managed
                .periods
                .iter()
                .map(|iv| (2 * ns(iv.start), 2 * ns(iv.end))),
        );
        normalize(&mut s.windows);
        intersect(&s.free, &s.windows, &mut s.tmp);
        std::mem::swap(&mut s.free, &mut s.tmp);
    }
    if let Some(periods) = &m.available_periods {
        s.windows.clear();
        s.windows
            .extend(periods.iter().map(|iv| (2 * ns(iv.start), 2 * ns(iv.end))));
        normalize(&mut s.windows);
        intersect(&s.free, &s.windows, &mut s.tmp);
        std::mem::swap(&mut s.free, &mut s.tmp);
    }

    // Erosion: s is a valid start iff [s - before, s + duration + after)
    // fits in one free run [a, b), i.e. s ∈ [a + before, b - after - duration]
    // (closed), which is the tick run [.., .. + 1).
    let shrink_end = 2 * (spec.after + spec.duration);
    let shrink_start = 2 * spec.before;
    s.free
        .iter()
        .filter_map(|&(a, b)| {
            let first = a + shrink_start;
            let last = b - shrink_end;
            (first <= last).then_some((first, last + 1))
        })
        .collect()
}

/// Answers "which members are free for this run of starts", in group order
/// then member order, each id once, at most a group's cap from each pool.
struct Roster<'q> {
    /// Id and valid starts of every member instance, in group then member
    /// order.
    members: Vec<(&'q str, Vec<Run>)>,
    /// Per group, its instances `start..end` and how many free ones to list.
    groups: Vec<(usize, usize, usize)>,
    /// Per instance, the index of the first run that can still matter: the
    /// queries arrive in ascending order, so cursors only move forward (an
    /// instance skipped once a group's cap is reached catches up later).
    cursors: Vec<usize>,
    /// Per instance, the first instance with the same id (often itself).
    first: Vec<usize>,
    /// Per first instance, whether some instance of its id is listed.
    hit: Vec<bool>,
    /// The first instances marked in `hit` by the current call.
    marked: Vec<usize>,
}

impl<'q> Roster<'q> {
    fn new(members: Vec<(&'q str, Vec<Run>)>, groups: Vec<(usize, usize, usize)>) -> Self {
        let mut seen: HashMap<&'q str, usize> = HashMap::with_capacity(members.len());
        let first = members
            .iter()
            .enumerate()
            .map(|(i, (id, _))| *seen.entry(id).or_insert(i))
            .collect();
        let n = members.len();
        Self {
            members,
            groups,
            cursors: vec![0; n],
            first,
            hit: vec![false; n],
            marked: Vec::new(),
        }
    }

    /// Whether instance `i` can start at every tick of `[lo, hi)`; `lo`
    /// must not decrease between calls.
    fn covers(&mut self, i: usize, lo: Tick, hi: Tick) -> bool {
        let runs = &self.members[i].1;
        let c = &mut self.cursors[i];
        while *c < runs.len() && runs[*c].1 <= lo {
            *c += 1;
        }
        *c < runs.len() && runs[*c].0 <= lo && runs[*c].1 >= hi
    }

    /// Ids free for every start in `[lo, hi)`, up to each group's cap. A
    /// repeated id counts as free when any of its instances is.
    fn free(&mut self, lo: Tick, hi: Tick) -> Vec<String> {
        for g in 0..self.groups.len() {
            let (start, end, cap) = self.groups[g];
            let mut listed = 0;
            for i in start..end {
                if listed >= cap {
                    break;
                }
                if self.covers(i, lo, hi) {
                    listed += 1;
                    let f = self.first[i];
                    if !std::mem::replace(&mut self.hit[f], true) {
                        self.marked.push(f);
                    }
                }
            }
        }
        // First instances in index order are group order, then member order.
        self.marked.sort_unstable();
        let mut out = Vec::with_capacity(self.marked.len());
        for &f in &self.marked {
            self.hit[f] = false;
            out.push(self.members[f].0.to_owned());
        }
        self.marked.clear();
        out
    }
}

pub(crate) fn compute(query: &Query) -> Vec<Available> {
    let duration = dur(query.duration);
    if query.max_results == 0 || duration <= 0 {
        return Vec::new();
    }
    let before = dur(query.buffer_before).max(0);
    let after = dur(query.buffer_after).max(0);
    let grid = query
        .start_interval
        .map(dur)
        .filter(|g| *g > 0)
        .unwrap_or_else(|| dur(DEFAULT_START_INTERVAL));

    // Candidate starts, as tick runs (query periods) or instants (query slots).
    let mut candidates: Vec<Run> = Vec::new();
    let mut slot_starts: Vec<i128> = Vec::new();
    let (first, last) = match &query.query_slots {
        Some(slots) => {
            slot_starts.extend(slots.iter().map(|&t| ns(t)));
            slot_starts.sort_unstable();
            slot_starts.dedup();
            match (slot_starts.first(), slot_starts.last()) {
                (Some(&a), Some(&b)) => (a, b),
                _ => return Vec::new(),
            }
        }
        None => {
            // Per period, not per merged period: a slot must fit inside one
            // of the requested periods.
            candidates.extend(query.periods.iter().filter_map(|p| {
                let (a, b) = (ns(p.start), ns(p.end) - duration);
                (a <= b).then_some((2 * a, 2 * b + 1))
            }));
            normalize(&mut candidates);
            match (candidates.first(), candidates.last()) {
                (Some(a), Some(b)) => (a.0 / 2, (b.1 - 1) / 2),
                _ => return Vec::new(),
            }
        }
    };
    let spec = Spec {
        duration,
        before,
        after,
        lo: 2 * (first - before - NS_PER_DAY),
        hi: 2 * (last + duration + after + NS_PER_DAY),
    };

    let mut scratch = Scratch::default();
    let members: Vec<(&str, Vec<Run>)> = query
        .groups
        .iter()
        .flat_map(|g| g.members.iter())
        .map(|m| (m.id.as_str(), member_starts(m, &spec, &mut scratch)))
        .collect();

    // `None` while no group has constrained anything.
    let mut valid: Option<Vec<Run>> = query.query_slots.is_none().then_some(candidates);
    let mut sweep = Sweep::default();
    let mut group_set = Vec::new();
    let mut offset = 0;
    for group in &query.groups {
        let members = &members[offset..offset + group.members.len()];
        offset += group.members.len();
        let need = match group.required {
            Required::All => members.len(),
            Required::AtLeast(n) => n,
        };
        if need == 0 {
            continue;
        }
        let sets: Vec<&[Run]> = members.iter().map(|m| m.1.as_slice()).collect();
        at_least(&sets, need, &mut sweep, &mut group_set);
        valid = Some(match valid {
            None => std::mem::take(&mut group_set),
            Some(v) => {
                let mut both = Vec::new();
                intersect(&v, &group_set, &mut both);
                both
            }
        });
        if valid.as_ref().is_some_and(Vec::is_empty) {
            return Vec::new();
        }
    }

    let mut bounds = Vec::with_capacity(query.groups.len());
    let mut at = 0;
    for g in &query.groups {
        let n = g.members.len();
        let cap = match g.required {
            Required::AtLeast(r) if r < n => query.max_listed.max(r),
            _ => n,
        };
        bounds.push((at, at + n, cap));
        at += n;
    }
    let mut roster = Roster::new(members, bounds);
    let mut out = Vec::new();
    let max = query.max_results;
    let emit_slot = |out: &mut Vec<Available>, roster: &mut Roster, s: i128| {
        out.push(Available {
            start: ts(s),
            end: ts(s + duration),
            members: roster.free(2 * s, 2 * s + 1),
        });
    };

    if query.query_slots.is_some() {
        let mut cursor = 0;
        for &s in &slot_starts {
            if out.len() >= max {
                break;
            }
            let ok = match &valid {
                None => true,
                Some(v) => {
                    while cursor < v.len() && v[cursor].1 <= 2 * s {
                        cursor += 1;
                    }
                    cursor < v.len() && v[cursor].0 <= 2 * s
                }
            };
            if ok {
                emit_slot(&mut out, &mut roster, s);
            }
        }
        return out;
    }

    let valid = valid.unwrap_or_default();
    match query.format {
        Format::Periods => {
            for &(lo, hi) in valid.iter().take(max) {
                // Runs of valid starts begin on an instant (even tick) and end
                // just after one (odd tick); see `crate::set`.
                let (x, y) = (lo / 2, (hi - 1) / 2);
                out.push(Available {
                    start: ts(x),
                    end: ts(y + duration),
                    members: roster.free(lo, hi),
                });
            }
        }
        Format::Slots | Format::OverlappingSlots => {
            let greedy = query.format == Format::Slots;
            let mut earliest = i128::MIN;
            'runs: for &(lo, hi) in &valid {
                let (x, y) = (lo / 2, (hi - 1) / 2);
                let mut s = grid_ceil(x.max(earliest), grid);
                while s <= y {
                    if out.len() >= max {
                        break 'runs;
                    }
                    emit_slot(&mut out, &mut roster, s);
                    if greedy {
                        earliest = s + duration;
                        s = grid_ceil(earliest, grid);
                    } else {
                        s += grid;
                    }
                }
            }
        }
    }
    out
}
