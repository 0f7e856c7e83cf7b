//! Rule expansion around every UTC-offset change from 2000 to 2040 in every
//! zone of the bundled tz database.
//!
//! Each window is checked minute by minute against the wall clock that jiff
//! reports for the minute (all offsets and transitions since 2000 are whole
//! minutes, which the test asserts, so minutes decide everything).

use std::time::Instant;

use convene_engine::*;
use jiff::civil::{Time, Weekday};
use jiff::tz::{TimeZone, TimeZoneDatabase};

fn rule(tz: TimeZone) -> WeeklyRule {
    let days = [
        Weekday::Monday,
        Weekday::Tuesday,
        Weekday::Wednesday,
        Weekday::Thursday,
        Weekday::Friday,
        Weekday::Saturday,
        Weekday::Sunday,
    ];
    let periods = days
        .iter()
        .flat_map(|&day| {
            [
                WeeklyPeriod {
                    day,
                    start: Time::constant(9, 0, 0, 0),
                    end: Time::constant(17, 0, 0, 0),
                },
                WeeklyPeriod {
                    day,
                    start: Time::constant(13, 0, 0, 0),
                    end: Time::constant(21, 0, 0, 0),
                },
            ]
        })
        .collect();
    WeeklyRule { tz, periods }
}

/// Whether the wall clock at `t` reads 09:00 ≤ time < 21:00.
fn in_hours(tz: &TimeZone, t: Timestamp) -> bool {
    let hour = tz.to_offset(t).to_datetime(t).hour();
    (9..21).contains(&hour)
}

/// Transitions to test: the first and last three in 2000–2040 and all of
/// 2026, which bounds the run time while covering old rules, today's and
/// far-future POSIX-rule ones.
fn picked_transitions(tz: &TimeZone) -> Vec<Timestamp> {
    let from: Timestamp = "2000-01-01T00:00Z".parse().unwrap();
    let until: Timestamp = "2041-01-01T00:00Z".parse().unwrap();
    let y2026: Timestamp = "2026-01-01T00:00Z".parse().unwrap();
    let y2027: Timestamp = "2027-01-01T00:00Z".parse().unwrap();
    let all: Vec<Timestamp> = tz
        .following(from)
        .map(|t| t.timestamp())
        .take_while(|&t| t < until)
        .collect();
    let mut picked: Vec<Timestamp> = all
        .iter()
        .enumerate()
        .filter(|&(i, &t)| i < 3 || i + 3 >= all.len() || (y2026 <= t && t < y2027))
        .map(|(_, &t)| t)
        .collect();
    picked.dedup();
    picked
}

fn check_window(name: &str, tz: &TimeZone, transition: Timestamp) {
    let window = Interval::new(
        transition - SignedDuration::from_hours(36),
        transition + SignedDuration::from_hours(36),
    );
    let r = rule(tz.clone());
    let got = expand_rule(&r, window);

    for pair in got.windows(2) {
        assert!(
            pair[0].end < pair[1].start,
            "{name}: not sorted and merged: {got:?}"
        );
    }
    for iv in &got {
        assert!(
            window.start <= iv.start && iv.start < iv.end && iv.end <= window.end,
            "{name}: {iv:?}"
        );
        assert!(
            in_hours(tz, iv.start),
            "{name}: {iv:?} starts outside rule hours"
        );
        assert!(
            in_hours(tz, iv.end - SignedDuration::from_secs(1)),
            "{name}: {iv:?} ends outside rule hours"
        );
        // Real length = wall-clock length minus the offset jumps inside.
        let wall = |t: Timestamp| tz.to_offset(t).to_datetime(t);
        let wall_len = wall(iv.end - SignedDuration::from_secs(1)).duration_since(wall(iv.start))
            + SignedDuration::from_secs(1);
        let jumps: i64 = tz
            .following(iv.start)
            .take_while(|t| t.timestamp() < iv.end)
            .map(|t| {
                let before = tz
                    .to_offset(t.timestamp() - SignedDuration::from_secs(1))
                    .seconds();
                i64::from(t.offset().seconds() - before)
            })
            .sum();
        assert_eq!(
            iv.end.duration_since(iv.start),
            wall_len - SignedDuration::from_secs(jumps),
            "{name}: {iv:?} length disagrees with its wall-clock length"
        );
    }

    // Minute by minute: inside an expanded interval iff the wall clock says so.
    assert_eq!(
        window.start.as_second() % 60,
        0,
        "{name}: transition off the minute"
    );
    let minutes = window.end.duration_since(window.start).as_mins();
    let mut expected = Vec::with_capacity(minutes as usize);
    let mut cursor = 0;
    for m in 0..minutes {
        let t = window.start + SignedDuration::from_mins(m);
        assert_eq!(
            tz.to_offset(t).seconds() % 60,
            0,
            "{name}: offset not whole minutes"
        );
        let want = in_hours(tz, t);
        while cursor < got.len() && got[cursor].end <= t {
            cursor += 1;
        }
        let have = cursor < got.len() && got[cursor].start <= t;
        assert_eq!(have, want, "{name}: minute {t} (transition {transition})");
        expected.push(want);
    }
    let available: SignedDuration = got.iter().map(|iv| iv.end.duration_since(iv.start)).sum();
    let in_rule = expected.iter().filter(|&&x| x).count() as i64;
    assert_eq!(
        available,
        SignedDuration::from_mins(in_rule),
        "{name}: total available time"
    );

    // Slots through compute(): exactly the grid starts whose 30 minutes
    // all read inside the rule hours.
    let query_period = Interval::new(
        transition - SignedDuration::from_hours(30),
        transition + SignedDuration::from_hours(30),
    );
    let q = Query {
        periods: vec![query_period],
        query_slots: None,
        duration: SignedDuration::from_mins(30),
        buffer_before: SignedDuration::ZERO,
        buffer_after: SignedDuration::ZERO,
        start_interval: None,
        format: Format::OverlappingSlots,
        max_results: 512,
        max_listed: usize::MAX,
        groups: vec![Group {
            members: vec![Member {
                id: "m".into(),
                busy: vec![],
                managed: Some(Managed {
                    rules: vec![r],
                    periods: vec![],
                }),
                available_periods: None,
            }],
            required: Required::All,
        }],
    };
    let slots: Vec<Timestamp> = compute(&q).into_iter().map(|a| a.start).collect();
    // Candidates on the UTC 15-minute grid, whatever the transition's minute.
    let start = query_period.start.as_second();
    let first = Timestamp::from_second(start + (-start).rem_euclid(900)).unwrap();
    let want: Vec<Timestamp> = (0..)
        .map(|k| first + SignedDuration::from_mins(15 * k))
        .take_while(|&s| s + SignedDuration::from_mins(30) <= query_period.end)
        .filter(|&s| {
            let from = s.duration_since(window.start).as_mins() as usize;
            expected[from..from + 30].iter().all(|&x| x)
        })
        .collect();
    assert_eq!(slots, want, "{name}: slots around {transition}");
    for &s in &slots {
        assert!(
            in_hours(tz, s) && in_hours(tz, s + SignedDuration::from_mins(29)),
            "{name}: slot {s} outside rule hours"
        );
    }
}

#[test]
fn every_zone_every_era() {
    let started = Instant::now();
    let db = TimeZoneDatabase::bundled();
    let (mut zones, mut windows) = (0, 0);
    for name in db.available() {
        let name = name.as_str().to_owned();
        let tz = db.get(&name).unwrap();
        let picked = picked_transitions(&tz);
        if picked.is_empty() {
            continue;
        }
        zones += 1;
        for t in picked {
            check_window(&name, &tz, t);
            windows += 1;
        }
    }
    eprintln!(
        "checked {windows} windows in {zones} zones in {:?}",
        started.elapsed()
    );
    assert!(
        zones > 100,
        "the bundled database should have many zones with transitions"
    );
}
