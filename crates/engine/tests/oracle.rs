//! `compute` against a brute-force oracle on a half-minute grid.
//!
//! Every input boundary is a whole minute, so each member's free set is
//! constant on half-minute cells and checking a cell's first instant decides
//! the whole cell. Starts are tried on the half-minute grid too, so a gap
//! between two one-minute-apart components (an open interval the engine
//! must not bridge) always contains a tried, invalid start. The oracle reads
//! rule windows off each instant's wall clock (`Timestamp::to_zoned`), never
//! through `expand_rule`.

use std::sync::OnceLock;

use convene_engine::*;
use jiff::civil::{Time, Weekday};
use jiff::tz::TimeZone;
use proptest::prelude::*;

/// UTC midnights just before DST changes in the zones below.
const BASES: [&str; 6] = [
    "2026-03-07T00:00Z", // New York springs forward 03-08
    "2026-10-31T00:00Z", // New York falls back 11-01
    "2026-03-28T00:00Z", // London springs forward 03-29
    "2026-10-24T00:00Z", // London falls back 10-25
    "2026-04-04T00:00Z", // Lord Howe falls back 30 min 04-05
    "2026-10-03T00:00Z", // Lord Howe springs forward 30 min 10-04
];
/// Index in `ZONES` of the zone changing offset just after each base.
const HOME: [usize; 6] = [1, 1, 2, 2, 4, 4];
const ZONES: [&str; 6] = [
    "UTC",
    "America/New_York",
    "Europe/London",
    "Asia/Kathmandu",
    "Australia/Lord_Howe",
    "Asia/Kolkata",
];
/// Query periods and slots lie in `[base, base + SPAN)` minutes.
const SPAN: i64 = 3 * 1440;
/// Cells reach this far beyond the span: more than the largest buffer plus
/// duration (30 + 120 + 30 minutes).
const MARGIN: i64 = 240;
const CELLS_LO: i64 = -2 * MARGIN;
const CELLS_HI: i64 = 2 * (SPAN + MARGIN);

fn base(b: usize) -> Timestamp {
    BASES[b].parse().unwrap()
}

fn minute(b: usize, m: i64) -> Timestamp {
    base(b) + SignedDuration::from_mins(m)
}

fn cell_time(b: usize, c: i64) -> Timestamp {
    base(b) + SignedDuration::from_secs(30 * c)
}

fn tz(z: usize) -> TimeZone {
    TimeZone::get(ZONES[z]).unwrap()
}

/// Wall clock (Monday-zero weekday, minute of day) of every minute from
/// `base - MARGIN` to `base + SPAN + MARGIN`, per base and zone.
/// Indexed by base, zone, then minute from `base - MARGIN`.
type Clocks = Vec<Vec<Vec<(i8, i32)>>>;

fn wall_clocks() -> &'static Clocks {
    static CACHE: OnceLock<Clocks> = OnceLock::new();
    CACHE.get_or_init(|| {
        (0..BASES.len())
            .map(|b| {
                (0..ZONES.len())
                    .map(|z| {
                        let zone = tz(z);
                        (-MARGIN..SPAN + MARGIN)
                            .map(|m| {
                                let zoned = minute(b, m).to_zoned(zone.clone());
                                assert_eq!(zoned.second(), 0, "whole-minute offsets only");
                                let mod_ = i32::from(zoned.hour()) * 60 + i32::from(zoned.minute());
                                (zoned.weekday().to_monday_zero_offset(), mod_)
                            })
                            .collect()
                    })
                    .collect()
            })
            .collect()
    })
}

fn minutes_of(t: Time) -> i32 {
    i32::from(t.hour()) * 60 + i32::from(t.minute())
}

/// Whether a wall-clock reading lies in one weekly period (read naively).
fn in_period(p: &WeeklyPeriod, weekday: i8, mod_: i32) -> bool {
    if p.day.to_monday_zero_offset() != weekday {
        return false;
    }
    let (s, e) = (minutes_of(p.start), minutes_of(p.end));
    let e = if e == 0 || e < s { 1440 } else { e };
    s <= mod_ && mod_ < e
}

fn secs(list: &[Interval]) -> Vec<(i64, i64)> {
    list.iter()
        .map(|iv| (iv.start.as_second(), iv.end.as_second()))
        .collect()
}

fn contains(list: &[(i64, i64)], t: i64) -> bool {
    list.iter().any(|&(a, b)| a <= t && t < b)
}

/// Per member, prefix sums of non-free cells over `[CELLS_LO, CELLS_HI)`.
fn blocked_prefix(b: usize, m: &Member, zones: &[usize]) -> Vec<u32> {
    let clocks = wall_clocks();
    let busy = secs(&m.busy);
    let managed = m.managed.as_ref().map(|x| (&x.rules, secs(&x.periods)));
    let avail = m.available_periods.as_deref().map(secs);
    let origin = base(b).as_second();
    let mut prefix = vec![0u32];
    for c in CELLS_LO..CELLS_HI {
        let t = origin + 30 * c;
        let mut free = !contains(&busy, t);
        if let Some((rules, periods)) = &managed {
            let minute_idx = usize::try_from(c.div_euclid(2) + MARGIN).unwrap();
            let by_rule = rules.iter().zip(zones).any(|(r, &z)| {
                let (wd, mod_) = clocks[b][z][minute_idx];
                r.periods.iter().any(|p| in_period(p, wd, mod_))
            });
            free &= by_rule || contains(periods, t);
        }
        if let Some(avail) = &avail {
            free &= contains(avail, t);
        }
        prefix.push(prefix.last().unwrap() + u32::from(!free));
    }
    prefix
}

struct Case {
    base: usize,
    query: Query,
    /// Zone index of each rule, in member and rule order.
    rule_zones: Vec<usize>,
}

fn oracle(case: &Case) -> Vec<Available> {
    let q = &case.query;
    let b = case.base;
    if q.max_results == 0 {
        return vec![];
    }
    let d = q.duration.as_mins();
    let (bb, ba) = (q.buffer_before.as_mins(), q.buffer_after.as_mins());
    let grid = q.start_interval.unwrap_or(DEFAULT_START_INTERVAL).as_mins();

    let mut zone_iter = case.rule_zones.iter();
    let members: Vec<(&Member, Vec<u32>)> = q
        .groups
        .iter()
        .flat_map(|g| g.members.iter())
        .map(|m| {
            let zones: Vec<usize> = m
                .managed
                .iter()
                .flat_map(|x| x.rules.iter())
                .map(|_| *zone_iter.next().unwrap())
                .collect();
            (m, blocked_prefix(b, m, &zones))
        })
        .collect();

    // Member instance i can start at cell s.
    let free_at = |i: usize, s: i64| -> bool {
        let lo = s - 2 * bb;
        let hi = s + 2 * (d + ba);
        assert!(lo >= CELLS_LO && hi <= CELLS_HI, "oracle grid too small");
        let p = &members[i].1;
        p[usize::try_from(hi - CELLS_LO).unwrap()] == p[usize::try_from(lo - CELLS_LO).unwrap()]
    };
    let groups_ok = |s: i64| -> bool {
        let mut first = 0;
        q.groups.iter().all(|g| {
            let n = g.members.len();
            let count = (first..first + n).filter(|&i| free_at(i, s)).count();
            first += n;
            let need = match g.required {
                Required::All => n,
                Required::AtLeast(k) => k,
            };
            count >= need
        })
    };
    let slot = |s: i64| Available {
        start: cell_time(b, s),
        end: cell_time(b, s + 2 * d),
        members: ids_any(&members, &free_at, s),
    };

    let mut out = Vec::new();
    if let Some(slots) = &q.query_slots {
        let mut cells: Vec<i64> = slots
            .iter()
            .map(|t| t.duration_since(base(b)).as_secs() / 30)
            .collect();
        cells.sort();
        cells.dedup();
        for s in cells {
            if groups_ok(s) {
                out.push(slot(s));
            }
        }
    } else {
        let in_query = |s: i64| {
            q.periods.iter().any(|p| {
                let qa = p.start.duration_since(base(b)).as_mins();
                let qb = p.end.duration_since(base(b)).as_mins();
                2 * qa <= s && s <= 2 * (qb - d)
            })
        };
        let valid: Vec<i64> = (0..2 * SPAN)
            .filter(|&s| in_query(s) && groups_ok(s))
            .collect();
        match q.format {
            Format::Periods => {
                let mut k = 0;
                while k < valid.len() {
                    let mut j = k;
                    while j + 1 < valid.len() && valid[j + 1] == valid[j] + 1 {
                        j += 1;
                    }
                    let run = &valid[k..=j];
                    out.push(Available {
                        start: cell_time(b, run[0]),
                        end: cell_time(b, run[run.len() - 1] + 2 * d),
                        members: ids_all(&members, &free_at, run),
                    });
                    k = j + 1;
                }
            }
            Format::OverlappingSlots | Format::Slots => {
                let greedy = q.format == Format::Slots;
                let mut next = i64::MIN;
                for &s in valid.iter().filter(|&&s| s % (2 * grid) == 0) {
                    if s >= next {
                        out.push(slot(s));
                        if greedy {
                            next = s + 2 * d;
                        }
                    }
                }
            }
        }
    }
    out.truncate(q.max_results);
    out
}

/// Ids (first position, once) with some instance free at cell `s`.
fn ids_any(
    members: &[(&Member, Vec<u32>)],
    free_at: &dyn Fn(usize, i64) -> bool,
    s: i64,
) -> Vec<String> {
    ids_all(members, free_at, &[s])
}

/// Ids (first position, once) with some instance free at every cell of `run`.
fn ids_all(
    members: &[(&Member, Vec<u32>)],
    free_at: &dyn Fn(usize, i64) -> bool,
    run: &[i64],
) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for (i, (m, _)) in members.iter().enumerate() {
        if !out.contains(&m.id) && run.iter().all(|&s| free_at(i, s)) {
            out.push(m.id.clone());
        }
    }
    // An id listed later may belong to an earlier, non-free instance: put
    // each id at its first position among all instances.
    let position = |id: &String| members.iter().position(|(m, _)| &m.id == id).unwrap();
    out.sort_by_key(position);
    out
}

// ---- strategies ----

/// (start minute, length minutes), sometimes empty or inverted.
fn raw_interval(lo: i64, hi: i64, min_len: i64, max_len: i64) -> impl Strategy<Value = (i64, i64)> {
    (lo..hi, min_len..max_len)
}

fn to_interval(b: usize, (start, len): (i64, i64)) -> Interval {
    Interval::new(minute(b, start), minute(b, start + len))
}

#[derive(Clone, Debug)]
struct RawRule {
    zone: Option<usize>,
    periods: Vec<(u8, i32, i32)>,
}

type RawManaged = (Vec<RawRule>, Vec<(i64, i64)>);

#[derive(Clone, Debug)]
struct RawMember {
    busy: Vec<(i64, i64)>,
    /// Rules and managed periods.
    managed: Option<RawManaged>,
    available: Option<Vec<(i64, i64)>>,
}

#[derive(Clone, Debug)]
struct RawCase {
    base: usize,
    groups: Vec<(Vec<RawMember>, Option<usize>)>,
    duplicate_member: bool,
    periods: Vec<(i64, i64)>,
    slots: Option<Vec<i64>>,
    duration: i64,
    before: i64,
    after: i64,
    grid: Option<i64>,
    format: u8,
    max_results: usize,
}

/// A weekly period as (Monday-zero day, start minute, end minute); half of
/// them in the small hours of a Sunday, where every DST change of `BASES`
/// happens.
fn raw_period() -> impl Strategy<Value = (u8, i32, i32)> {
    prop_oneof![
        (0u8..7, 0i32..1440, prop_oneof![Just(0i32), 0i32..1440]),
        (Just(6u8), 0i32..300, prop_oneof![Just(0i32), 0i32..360]),
    ]
}

/// Mostly in the zone whose DST change the base straddles (`None`).
fn raw_rule() -> impl Strategy<Value = RawRule> {
    let zone = prop::option::weighted(0.4, 0..ZONES.len());
    (zone, prop::collection::vec(raw_period(), 2..10))
        .prop_map(|(zone, periods)| RawRule { zone, periods })
}

fn raw_member() -> impl Strategy<Value = RawMember> {
    let busy = raw_interval(-MARGIN, SPAN + MARGIN / 2, -30, 240);
    let managed_period = raw_interval(-MARGIN, SPAN, -30, 1500);
    let available = raw_interval(-MARGIN, SPAN, 600, 4000);
    (
        prop::collection::vec(busy, 0..8),
        prop::option::weighted(
            0.25,
            (
                prop::collection::vec(raw_rule(), 0..=2),
                prop::collection::vec(managed_period, 0..3),
            ),
        ),
        prop::option::weighted(0.2, prop::collection::vec(available, 1..4)),
    )
        .prop_map(|(busy, managed, available)| RawMember {
            busy,
            managed,
            available,
        })
}

fn raw_case() -> impl Strategy<Value = RawCase> {
    // `Some(k)` becomes AtLeast(k % (members + 2)): now and then more than
    // the group has.
    let group = (
        prop::collection::vec(raw_member(), 1..=5),
        prop::option::weighted(0.7, 0usize..64),
    );
    let max_results = prop_oneof![1 => Just(0usize), 10 => 1usize..40, 5 => Just(512usize)];
    (
        (
            0..BASES.len(),
            prop::collection::vec(group, 1..=3),
            any::<bool>(),
        ),
        prop::collection::vec((0..SPAN, 30i64..2500), 1..4),
        prop::option::weighted(0.2, prop::collection::vec(0..2 * SPAN, 0..20)),
        (1i64..=120, 0i64..=30, 0i64..=30),
        prop::option::of(prop::sample::select(vec![5i64, 10, 15, 30, 60])),
        (0u8..3, max_results),
    )
        .prop_map(
            |(
                (base, groups, duplicate_member),
                periods,
                slots,
                (duration, before, after),
                grid,
                (format, max_results),
            )| {
                RawCase {
                    base,
                    groups,
                    duplicate_member,
                    periods,
                    slots,
                    duration,
                    before,
                    after,
                    grid,
                    format,
                    max_results,
                }
            },
        )
}

fn period((day, start, end): (u8, i32, i32)) -> WeeklyPeriod {
    let time = |m: i32| Time::new((m / 60) as i8, (m % 60) as i8, 0, 0).unwrap();
    WeeklyPeriod {
        day: Weekday::from_monday_zero_offset(day as i8).unwrap(),
        start: time(start),
        end: time(end),
    }
}

fn build(raw: &RawCase) -> Case {
    let b = raw.base;
    let mut rule_zones = Vec::new();
    let mut groups: Vec<Group> = raw
        .groups
        .iter()
        .enumerate()
        .map(|(gi, (members, required))| Group {
            members: members
                .iter()
                .enumerate()
                .map(|(mi, m)| Member {
                    id: format!("g{gi}m{mi}"),
                    busy: m.busy.iter().map(|&r| to_interval(b, r)).collect(),
                    managed: m.managed.as_ref().map(|(rules, periods)| Managed {
                        rules: rules
                            .iter()
                            .map(|r| {
                                let zone = r.zone.unwrap_or(HOME[b]);
                                rule_zones.push(zone);
                                WeeklyRule {
                                    tz: tz(zone),
                                    periods: r.periods.iter().map(|&p| period(p)).collect(),
                                }
                            })
                            .collect(),
                        periods: periods.iter().map(|&r| to_interval(b, r)).collect(),
                    }),
                    available_periods: m
                        .available
                        .as_ref()
                        .map(|v| v.iter().map(|&r| to_interval(b, r)).collect()),
                })
                .collect(),
            required: match required {
                None => Required::All,
                Some(k) => Required::AtLeast(k % (members.len() + 2)),
            },
        })
        .collect();
    if raw.duplicate_member && groups.len() > 1 {
        // The same person in two groups: listed once, at the first position.
        let first = groups[0].members[0].clone();
        let zones: Vec<usize> =
            rule_zones[..first.managed.as_ref().map_or(0, |m| m.rules.len())].to_vec();
        rule_zones.extend(zones);
        let last = groups.len() - 1;
        groups[last].members.push(first);
    }
    let query = Query {
        periods: raw
            .periods
            .iter()
            .map(|&(s, len)| Interval::new(minute(b, s), minute(b, (s + len).min(SPAN))))
            .collect(),
        query_slots: raw
            .slots
            .as_ref()
            .map(|v| v.iter().map(|&c| cell_time(b, c)).collect()),
        duration: SignedDuration::from_mins(raw.duration),
        buffer_before: SignedDuration::from_mins(raw.before),
        buffer_after: SignedDuration::from_mins(raw.after),
        start_interval: raw.grid.map(SignedDuration::from_mins),
        format: [Format::Periods, Format::Slots, Format::OverlappingSlots][raw.format as usize],
        max_results: raw.max_results,
        max_listed: usize::MAX,
        groups,
    };
    Case {
        base: b,
        query,
        rule_zones,
    }
}

fn config() -> ProptestConfig {
    let mut config = ProptestConfig::default();
    if std::env::var_os("PROPTEST_CASES").is_none() {
        config.cases = 256;
    }
    config
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn compute_matches_brute_force(raw in raw_case()) {
        let case = build(&raw);
        let expected = oracle(&case);
        let got = compute(&case.query);
        prop_assert_eq!(got, expected);
    }
}

proptest! {
    #![proptest_config(config())]

    /// `expand_rule` against each minute's wall clock, read with `to_zoned`.
    #[test]
    fn expand_rule_matches_wall_clock(
        b in 0..BASES.len(),
        zone in prop::option::weighted(0.3, 0..ZONES.len()),
        periods in prop::collection::vec(raw_period(), 1..6),
        start in -MARGIN..SPAN,
        len in 0..SPAN,
    ) {
        let zone = zone.unwrap_or(HOME[b]);
        let rule = WeeklyRule { tz: tz(zone), periods: periods.iter().map(|&p| period(p)).collect() };
        let end = (start + len).min(SPAN + MARGIN);
        let window = Interval::new(minute(b, start), minute(b, end));
        let got = expand_rule(&rule, window);
        for pair in got.windows(2) {
            prop_assert!(pair[0].end < pair[1].start, "sorted, disjoint, merged: {got:?}");
        }
        for iv in &got {
            prop_assert!(window.start <= iv.start && iv.start < iv.end && iv.end <= window.end);
        }
        let clocks = &wall_clocks()[b][zone];
        for m in start..end {
            let t = minute(b, m);
            let (wd, mod_) = clocks[usize::try_from(m + MARGIN).unwrap()];
            let expected = rule.periods.iter().any(|p| in_period(p, wd, mod_));
            let actual = got.iter().any(|iv| iv.start <= t && t < iv.end);
            prop_assert_eq!(actual, expected, "minute {} ({:?})", m, t);
        }
    }
}
