//! `compute` on realistic and growing inputs.
//!
//! Data is pseudo-random but fixed (xorshift with constant seeds), so runs
//! are comparable across machines and commits.

use convene_engine::*;
use divan::{Bencher, black_box};
use jiff::civil::{Time, Weekday};
use jiff::tz::TimeZone;

fn main() {
    divan::main();
}

const DAYS: i64 = 35;

/// Marsaglia's xorshift64: enough to scatter events, and no dependency.
struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: u64) -> i64 {
        (self.next() % n) as i64
    }
}

fn origin() -> Timestamp {
    "2026-03-02T00:00Z".parse().unwrap()
}

/// `n` busy events of 15–120 minutes, starting on 5-minute boundaries
/// anywhere in the 35 days.
fn busy(rng: &mut XorShift, n: usize) -> Vec<Interval> {
    (0..n)
        .map(|_| {
            let start = origin() + SignedDuration::from_mins(5 * rng.below((DAYS * 288) as u64));
            let len = SignedDuration::from_mins(15 * (1 + rng.below(8)));
            Interval::new(start, start + len)
        })
        .collect()
}

/// Monday to Friday, 09:00–17:00 in `zone`.
fn office_hours(zone: &str) -> WeeklyRule {
    let days = [
        Weekday::Monday,
        Weekday::Tuesday,
        Weekday::Wednesday,
        Weekday::Thursday,
        Weekday::Friday,
    ];
    WeeklyRule {
        tz: TimeZone::get(zone).unwrap(),
        periods: days
            .iter()
            .map(|&day| WeeklyPeriod {
                day,
                start: Time::constant(9, 0, 0, 0),
                end: Time::constant(17, 0, 0, 0),
            })
            .collect(),
    }
}

fn member(rng: &mut XorShift, id: String, events: usize, zone: Option<&str>) -> Member {
    Member {
        id,
        busy: busy(rng, events),
        managed: zone.map(|z| Managed {
            rules: vec![office_hours(z)],
            periods: vec![],
        }),
        available_periods: None,
    }
}

fn query(format: Format, groups: Vec<Group>) -> Query {
    Query {
        periods: vec![Interval::new(
            origin(),
            origin() + SignedDuration::from_hours(24 * DAYS),
        )],
        query_slots: None,
        duration: SignedDuration::from_mins(30),
        buffer_before: SignedDuration::ZERO,
        buffer_after: SignedDuration::ZERO,
        start_interval: Some(SignedDuration::from_mins(15)),
        format,
        max_results: 512,
        max_listed: usize::MAX,
        groups,
    }
}

/// (a) One member, 500 busy events, 15-minute overlapping slots.
#[divan::bench]
fn a_one_member_500_events(bencher: Bencher) {
    let mut rng = XorShift(0x9E37_79B9_7F4A_7C15);
    let q = query(
        Format::OverlappingSlots,
        vec![Group {
            members: vec![member(&mut rng, "solo".into(), 500, None)],
            required: Required::All,
        }],
    );
    bencher.bench(|| compute(black_box(&q)));
}

/// (b) All of 3, at least 1 of 25 and at least 2 of 10; 200 events each and
/// office hours in one of three zones.
#[divan::bench]
fn b_three_groups_38_members(bencher: Bencher) {
    let q = b_query();
    bencher.bench(|| compute(black_box(&q)));
}

/// (b) as the server runs it: each member's busy intervals sorted by start
/// (see `d_growth_periods_sorted`).
#[divan::bench]
fn b_three_groups_38_members_sorted(bencher: Bencher) {
    let mut q = b_query();
    for g in &mut q.groups {
        for m in &mut g.members {
            m.busy.sort_by_key(|i| i.start);
        }
    }
    bencher.bench(|| compute(black_box(&q)));
}

fn b_query() -> Query {
    let mut rng = XorShift(0xD1B5_4A32_D192_ED03);
    let zones = ["Europe/London", "Europe/Berlin", "America/New_York"];
    let mut k = 0;
    let mut group = |n: usize, required: Required| {
        let members = (0..n)
            .map(|i| {
                k += 1;
                member(
                    &mut rng,
                    format!("m{k}"),
                    200,
                    Some(zones[(k + i) % zones.len()]),
                )
            })
            .collect();
        Group { members, required }
    };
    let groups = vec![
        group(3, Required::All),
        group(25, Required::AtLeast(1)),
        group(10, Required::AtLeast(2)),
    ];
    query(Format::OverlappingSlots, groups)
}

/// (c) A pool of 500 members of which any one will do; 200 events each.
#[divan::bench]
fn c_pool_of_500(bencher: Bencher) {
    let mut rng = XorShift(0x2545_F491_4F6C_DD1D);
    let members = (0..500)
        .map(|i| member(&mut rng, format!("p{i}"), 200, None))
        .collect();
    let mut q = query(
        Format::OverlappingSlots,
        vec![Group {
            members,
            required: Required::AtLeast(1),
        }],
    );
    // As the server asks: a pool slot names at most 10 of its free members.
    q.max_listed = 10;
    bencher.bench(|| compute(black_box(&q)));
}

/// (d) One member, periods format, growing busy lists over the same window.
#[divan::bench(args = [500, 5_000, 50_000])]
fn d_growth_periods(bencher: Bencher, events: usize) {
    let mut rng = XorShift(0xA076_1D64_78BD_642F);
    let q = query(
        Format::Periods,
        vec![Group {
            members: vec![member(&mut rng, "solo".into(), events, None)],
            required: Required::All,
        }],
    );
    bencher.bench(|| compute(black_box(&q)));
}

/// (d) as the server runs it: the store and the availability cache hand
/// each member's busy intervals over sorted by start, so the engine skips
/// its sort (the case above pays it).
#[divan::bench(args = [500, 5_000, 50_000])]
fn d_growth_periods_sorted(bencher: Bencher, events: usize) {
    let mut rng = XorShift(0xA076_1D64_78BD_642F);
    let mut m = member(&mut rng, "solo".into(), events, None);
    m.busy.sort_by_key(|i| i.start);
    let q = query(
        Format::Periods,
        vec![Group {
            members: vec![m],
            required: Required::All,
        }],
    );
    bencher.bench(|| compute(black_box(&q)));
}

/// (d) with the 50 000 events in two calendars: two sorted runs one after
/// the other, as a member busy in several calendars reaches the engine.
#[divan::bench]
fn d_growth_periods_two_calendars(bencher: Bencher) {
    let mut rng = XorShift(0xA076_1D64_78BD_642F);
    let mut m = member(&mut rng, "solo".into(), 50_000, None);
    let (a, b) = m.busy.split_at_mut(25_000);
    a.sort_by_key(|i| i.start);
    b.sort_by_key(|i| i.start);
    let q = query(
        Format::Periods,
        vec![Group {
            members: vec![m],
            required: Required::All,
        }],
    );
    bencher.bench(|| compute(black_box(&q)));
}
