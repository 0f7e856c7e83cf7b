//! Hand-written examples, one or more per rule of the semantics.

use convene_engine::*;
use jiff::civil::{Time, Weekday};
use jiff::tz::TimeZone;

/// An instant on Monday 2026-03-02 (UTC), written "HH:MM".
fn at(hm: &str) -> Timestamp {
    format!("2026-03-02T{hm}:00Z").parse().unwrap()
}

fn iv(a: &str, b: &str) -> Interval {
    Interval::new(at(a), at(b))
}

fn mins(m: i64) -> SignedDuration {
    SignedDuration::from_mins(m)
}

fn member(id: &str, busy: &[(&str, &str)]) -> Member {
    Member {
        id: id.into(),
        busy: busy.iter().map(|(a, b)| iv(a, b)).collect(),
        managed: None,
        available_periods: None,
    }
}

fn query(format: Format, periods: &[(&str, &str)], duration: i64, groups: Vec<Group>) -> Query {
    Query {
        periods: periods.iter().map(|(a, b)| iv(a, b)).collect(),
        query_slots: None,
        duration: mins(duration),
        buffer_before: SignedDuration::ZERO,
        buffer_after: SignedDuration::ZERO,
        start_interval: None,
        format,
        max_results: 512,
        max_listed: usize::MAX,
        groups,
    }
}

fn all(members: Vec<Member>) -> Group {
    Group {
        members,
        required: Required::All,
    }
}

/// Results as ("HH:MM", "HH:MM", [ids]) for compact assertions.
fn show(out: &[Available]) -> Vec<(String, String, Vec<String>)> {
    let hm = |t: Timestamp| t.strftime("%H:%M").to_string();
    out.iter()
        .map(|a| (hm(a.start), hm(a.end), a.members.clone()))
        .collect()
}

fn row(a: &str, b: &str, ids: &[&str]) -> (String, String, Vec<String>) {
    (
        a.into(),
        b.into(),
        ids.iter().map(|s| s.to_string()).collect(),
    )
}

#[test]
fn empty_inputs() {
    let q = query(Format::Periods, &[], 30, vec![all(vec![member("a", &[])])]);
    assert!(compute(&q).is_empty(), "no query periods");

    let mut q = query(
        Format::Periods,
        &[("09:00", "17:00")],
        30,
        vec![all(vec![member("a", &[])])],
    );
    q.max_results = 0;
    assert!(compute(&q).is_empty(), "max_results 0");

    let q = query(
        Format::Periods,
        &[("09:00", "09:20")],
        30,
        vec![all(vec![member("a", &[])])],
    );
    assert!(compute(&q).is_empty(), "period shorter than the duration");

    let q = query(
        Format::Periods,
        &[("09:00", "17:00")],
        0,
        vec![all(vec![member("a", &[])])],
    );
    assert!(compute(&q).is_empty(), "zero duration");

    // No groups: only the query periods constrain.
    let q = query(Format::Periods, &[("09:00", "10:00")], 30, vec![]);
    assert_eq!(show(&compute(&q)), vec![row("09:00", "10:00", &[])]);

    // A member without busy time is free throughout.
    let q = query(
        Format::Periods,
        &[("09:00", "17:00")],
        30,
        vec![all(vec![member("a", &[])])],
    );
    assert_eq!(show(&compute(&q)), vec![row("09:00", "17:00", &["a"])]);
}

#[test]
fn busy_splits_periods_and_bad_intervals_are_ignored() {
    let m = member(
        "a",
        &[
            ("11:00", "10:00"),
            ("10:00", "11:00"),
            ("12:00", "12:00"),
            ("10:30", "10:45"),
        ],
    );
    let q = query(
        Format::Periods,
        &[("09:00", "17:00")],
        30,
        vec![all(vec![m])],
    );
    assert_eq!(
        show(&compute(&q)),
        vec![row("09:00", "10:00", &["a"]), row("11:00", "17:00", &["a"])]
    );
}

#[test]
fn buffers_need_free_time_around_the_slot_even_outside_the_query() {
    let m = member("a", &[("10:00", "11:00")]);
    let mut q = query(
        Format::Periods,
        &[("09:00", "17:00")],
        30,
        vec![all(vec![m.clone()])],
    );
    q.buffer_before = mins(15);
    q.buffer_after = mins(15);
    // Starts s with [s-15, s+45) free: s ≤ 09:15 or s ≥ 11:15. The buffer
    // before 09:00 lies outside the query, where the member is free.
    assert_eq!(
        show(&compute(&q)),
        vec![row("09:00", "09:45", &["a"]), row("11:15", "17:00", &["a"])]
    );

    // A buffer can not be placed in busy time before the query either.
    let m = member("a", &[("08:00", "09:00")]);
    let mut q = query(Format::Slots, &[("09:00", "10:00")], 30, vec![all(vec![m])]);
    q.buffer_before = mins(10);
    assert_eq!(show(&compute(&q)), vec![row("09:15", "09:45", &["a"])]);
}

/// A: busy 09–10, B: 09:30–11, C: 10:30–12; 30-minute meetings, 09–13.
fn three() -> Vec<Member> {
    vec![
        member("A", &[("09:00", "10:00")]),
        member("B", &[("09:30", "11:00")]),
        member("C", &[("10:30", "12:00")]),
    ]
}

#[test]
fn n_of_m_with_single_instant_components() {
    let g = Group {
        members: three(),
        required: Required::AtLeast(2),
    };
    let q = query(Format::Periods, &[("09:00", "13:00")], 30, vec![g]);
    // Two free at 09:00 exactly (B, C) and at 10:00 exactly (A, C): those
    // are one-instant components, not joined to their neighbours.
    assert_eq!(
        show(&compute(&q)),
        vec![
            row("09:00", "09:30", &["B", "C"]),
            row("10:00", "10:30", &["A", "C"]),
            row("11:00", "13:00", &["A", "B"]),
        ]
    );

    let q = query(
        Format::Periods,
        &[("09:00", "13:00")],
        30,
        vec![all(three())],
    );
    assert_eq!(
        show(&compute(&q)),
        vec![row("12:00", "13:00", &["A", "B", "C"])]
    );

    let g = Group {
        members: three(),
        required: Required::AtLeast(4),
    };
    let q = query(Format::Periods, &[("09:00", "13:00")], 30, vec![g]);
    assert!(compute(&q).is_empty(), "more required than members");

    let g = Group {
        members: three(),
        required: Required::AtLeast(0),
    };
    let q = query(Format::Periods, &[("09:00", "13:00")], 30, vec![g]);
    assert_eq!(
        show(&compute(&q)),
        vec![row("09:00", "13:00", &[])],
        "AtLeast(0) constrains nothing"
    );
}

#[test]
fn every_group_must_be_satisfied() {
    let g1 = all(vec![member("a", &[("09:00", "10:00")])]);
    let g2 = Group {
        members: vec![
            member("b", &[("11:00", "12:00")]),
            member("c", &[("09:00", "12:00")]),
        ],
        required: Required::AtLeast(1),
    };
    let q = query(Format::Periods, &[("09:00", "13:00")], 60, vec![g1, g2]);
    assert_eq!(
        show(&compute(&q)),
        vec![
            row("10:00", "11:00", &["a", "b"]),
            row("12:00", "13:00", &["a", "b", "c"])
        ]
    );
}

#[test]
fn periods_list_members_free_for_the_whole_period() {
    let g = Group {
        members: vec![member("a", &[]), member("b", &[("10:00", "11:00")])],
        required: Required::AtLeast(1),
    };
    let q = query(Format::Periods, &[("09:00", "12:00")], 30, vec![g]);
    assert_eq!(show(&compute(&q)), vec![row("09:00", "12:00", &["a"])]);
}

#[test]
fn overlapping_slots_and_greedy_slots_on_the_grid() {
    let m = member("a", &[("10:40", "12:00")]);
    let q = query(
        Format::OverlappingSlots,
        &[("09:00", "12:00")],
        30,
        vec![all(vec![m.clone()])],
    );
    let starts: Vec<_> = show(&compute(&q)).into_iter().map(|r| r.0).collect();
    assert_eq!(starts, ["09:00", "09:15", "09:30", "09:45", "10:00"]);

    let q = query(
        Format::Slots,
        &[("09:00", "12:00")],
        30,
        vec![all(vec![m.clone()])],
    );
    assert_eq!(
        show(&compute(&q)),
        vec![
            row("09:00", "09:30", &["a"]),
            row("09:30", "10:00", &["a"]),
            row("10:00", "10:30", &["a"])
        ]
    );

    // A 20-minute grid: greedy takes 09:00, then the first grid start at or
    // after 09:30 (09:40), then none at or after 10:10 fits.
    let mut q = query(
        Format::Slots,
        &[("09:00", "12:00")],
        30,
        vec![all(vec![m.clone()])],
    );
    q.start_interval = Some(mins(20));
    let starts: Vec<_> = show(&compute(&q)).into_iter().map(|r| r.0).collect();
    assert_eq!(starts, ["09:00", "09:40"]);

    // Starts are on the UTC grid, not relative to the query start.
    let q = query(
        Format::OverlappingSlots,
        &[("09:05", "10:00")],
        30,
        vec![all(vec![m])],
    );
    let starts: Vec<_> = show(&compute(&q)).into_iter().map(|r| r.0).collect();
    assert_eq!(starts, ["09:15", "09:30"]);
}

#[test]
fn greedy_slots_continue_into_the_next_component() {
    let m = member("a", &[("09:40", "09:50")]);
    let mut q = query(Format::Slots, &[("09:00", "10:30")], 30, vec![all(vec![m])]);
    q.start_interval = Some(mins(5));
    // Valid starts: [09:00, 09:10] and [09:50, 10:00].
    let starts: Vec<_> = show(&compute(&q)).into_iter().map(|r| r.0).collect();
    assert_eq!(starts, ["09:00", "09:50"]);
}

#[test]
fn max_results_truncates_in_start_order() {
    let m = member("a", &[]);
    let mut q = query(
        Format::OverlappingSlots,
        &[("12:00", "13:00"), ("09:00", "10:00")],
        30,
        vec![all(vec![m])],
    );
    q.max_results = 4;
    let starts: Vec<_> = show(&compute(&q)).into_iter().map(|r| r.0).collect();
    assert_eq!(starts, ["09:00", "09:15", "09:30", "12:00"]);
    q.format = Format::Periods;
    q.max_results = 1;
    assert_eq!(show(&compute(&q)), vec![row("09:00", "10:00", &["a"])]);
}

#[test]
fn a_slot_must_fit_in_one_query_period() {
    let q = query(
        Format::Periods,
        &[("09:00", "10:00"), ("10:00", "11:00")],
        60,
        vec![all(vec![member("a", &[])])],
    );
    assert_eq!(
        show(&compute(&q)),
        vec![row("09:00", "10:00", &["a"]), row("10:00", "11:00", &["a"])]
    );
    let a = || vec![all(vec![member("a", &[])])];
    let q = query(
        Format::Periods,
        &[("09:00", "10:30"), ("09:30", "11:00")],
        60,
        a(),
    );
    // Starts [09:00, 09:30] and [09:30, 10:00] share 09:30: one period.
    assert_eq!(show(&compute(&q)), vec![row("09:00", "11:00", &["a"])]);
    let q = query(
        Format::Periods,
        &[("09:00", "10:30"), ("10:00", "11:00")],
        60,
        a(),
    );
    // Starts [09:00, 09:30] and {10:00}: two periods, which overlap in time.
    assert_eq!(
        show(&compute(&q)),
        vec![row("09:00", "10:30", &["a"]), row("10:00", "11:00", &["a"])]
    );
}

#[test]
fn query_slots_are_tested_as_given() {
    let g = Group {
        members: vec![
            member("a", &[("10:00", "11:00")]),
            member("b", &[("09:00", "09:30")]),
        ],
        required: Required::AtLeast(1),
    };
    for format in [Format::Periods, Format::Slots, Format::OverlappingSlots] {
        let mut q = query(format, &[("00:00", "00:01")], 30, vec![g.clone()]);
        q.query_slots = Some(vec![
            at("10:07"),
            at("09:00"),
            at("10:07"),
            at("10:15"),
            at("09:20"),
        ]);
        // Off-grid and overlapping starts are kept; query periods are ignored.
        assert_eq!(
            show(&compute(&q)),
            vec![
                row("09:00", "09:30", &["a"]),
                row("09:20", "09:50", &["a"]),
                row("10:07", "10:37", &["b"]),
                row("10:15", "10:45", &["b"]),
            ],
            "{format:?}"
        );
        q.groups[0].required = Required::All;
        assert!(compute(&q).is_empty());
        q.max_results = 1;
        q.groups.clear();
        assert_eq!(show(&compute(&q)), vec![row("09:00", "09:30", &[])]);
    }
}

#[test]
fn slot_members_in_group_order_each_id_once() {
    let g1 = Group {
        members: vec![member("x", &[]), member("y", &[])],
        required: Required::AtLeast(1),
    };
    let g2 = Group {
        members: vec![member("z", &[]), member("x", &[])],
        required: Required::AtLeast(1),
    };
    let mut q = query(Format::Slots, &[("09:00", "09:30")], 30, vec![g1, g2]);
    assert_eq!(
        show(&compute(&q)),
        vec![row("09:00", "09:30", &["x", "y", "z"])]
    );
    q.format = Format::Periods;
    assert_eq!(
        show(&compute(&q)),
        vec![row("09:00", "09:30", &["x", "y", "z"])]
    );
}

#[test]
fn max_listed_caps_pools_but_not_all_groups() {
    // "b" is busy, so the pool's first two free members are "a" and "c";
    // the "all" group lists every member whatever the cap.
    let pool = Group {
        members: vec![
            member("a", &[]),
            member("b", &[("09:00", "10:00")]),
            member("c", &[]),
            member("d", &[]),
        ],
        required: Required::AtLeast(1),
    };
    let everyone = all(vec![member("x", &[]), member("y", &[]), member("z", &[])]);
    let mut q = query(
        Format::Slots,
        &[("09:00", "09:30")],
        30,
        vec![pool, everyone],
    );
    q.max_listed = 2;
    assert_eq!(
        show(&compute(&q)),
        vec![row("09:00", "09:30", &["a", "c", "x", "y", "z"])]
    );
    // A pool needing more than the cap lists as many as it needs.
    q.groups[0].required = Required::AtLeast(3);
    assert_eq!(
        show(&compute(&q)),
        vec![row("09:00", "09:30", &["a", "c", "d", "x", "y", "z"])]
    );
    // A member listed by a capped pool is still listed once.
    q.groups[0].required = Required::AtLeast(1);
    q.groups[1].members[0].id = "c".into();
    assert_eq!(
        show(&compute(&q)),
        vec![row("09:00", "09:30", &["a", "c", "y", "z"])]
    );
}

fn rule(tz: &str, periods: &[(Weekday, &str, &str)]) -> WeeklyRule {
    WeeklyRule {
        tz: TimeZone::get(tz).unwrap(),
        periods: periods
            .iter()
            .map(|&(day, s, e)| WeeklyPeriod {
                day,
                start: s.parse::<Time>().unwrap(),
                end: e.parse::<Time>().unwrap(),
            })
            .collect(),
    }
}

#[test]
fn managed_availability_and_available_periods_restrict() {
    let mut a = member("a", &[("09:30", "10:00")]);
    a.managed = Some(Managed {
        rules: vec![rule(
            "Europe/Berlin",
            &[(Weekday::Monday, "10:00", "12:00")],
        )],
        periods: vec![iv("14:00", "15:00")],
    });
    // Berlin is UTC+1 in March: the rule allows 09:00–11:00Z.
    let q = query(
        Format::Periods,
        &[("08:00", "18:00")],
        30,
        vec![all(vec![a.clone()])],
    );
    assert_eq!(
        show(&compute(&q)),
        vec![
            row("09:00", "09:30", &["a"]),
            row("10:00", "11:00", &["a"]),
            row("14:00", "15:00", &["a"])
        ]
    );

    a.available_periods = Some(vec![iv("10:15", "14:30")]);
    let q = query(
        Format::Periods,
        &[("08:00", "18:00")],
        30,
        vec![all(vec![a])],
    );
    assert_eq!(
        show(&compute(&q)),
        vec![row("10:15", "11:00", &["a"]), row("14:00", "14:30", &["a"])]
    );

    // Managed but with nothing in it: never free.
    let mut b = member("b", &[]);
    b.managed = Some(Managed::default());
    let q = query(
        Format::Periods,
        &[("08:00", "18:00")],
        30,
        vec![all(vec![b.clone()])],
    );
    assert!(compute(&q).is_empty());
    let g = Group {
        members: vec![b, member("c", &[])],
        required: Required::AtLeast(1),
    };
    let q = query(Format::Periods, &[("08:00", "18:00")], 30, vec![g]);
    assert_eq!(show(&compute(&q)), vec![row("08:00", "18:00", &["c"])]);
}

#[test]
fn negative_buffers_count_as_zero_and_bad_grid_as_default() {
    let mut q = query(
        Format::OverlappingSlots,
        &[("09:00", "10:00")],
        30,
        vec![all(vec![member("a", &[("08:50", "09:00")])])],
    );
    q.buffer_before = mins(-30);
    q.start_interval = Some(SignedDuration::ZERO);
    let starts: Vec<_> = show(&compute(&q)).into_iter().map(|r| r.0).collect();
    assert_eq!(starts, ["09:00", "09:15", "09:30"]);
}

fn zulu(s: &str) -> Timestamp {
    s.parse().unwrap()
}

fn hours(v: &[Interval]) -> f64 {
    v.iter()
        .map(|i| i.end.duration_since(i.start).as_secs_f64() / 3600.0)
        .sum()
}

#[test]
fn expand_rule_end_conventions() {
    let window = Interval::new(zulu("2026-03-02T00:00Z"), zulu("2026-03-04T00:00Z"));
    let r = rule(
        "UTC",
        &[
            (Weekday::Monday, "22:00", "00:00"),
            (Weekday::Tuesday, "00:00", "01:00"),
        ],
    );
    // Monday until midnight touches Tuesday from midnight: one interval.
    assert_eq!(
        expand_rule(&r, window),
        vec![Interval::new(
            zulu("2026-03-02T22:00Z"),
            zulu("2026-03-03T01:00Z")
        )]
    );
    let r = rule("UTC", &[(Weekday::Monday, "20:00", "02:00")]);
    assert_eq!(
        expand_rule(&r, window),
        vec![Interval::new(
            zulu("2026-03-02T20:00Z"),
            zulu("2026-03-03T00:00Z")
        )],
        "an end before the start means midnight"
    );
    let r = rule("UTC", &[(Weekday::Monday, "09:00", "09:00")]);
    assert!(expand_rule(&r, window).is_empty(), "start == end is empty");
    let r = rule("UTC", &[(Weekday::Tuesday, "00:00", "00:00")]);
    assert_eq!(
        expand_rule(&r, window),
        vec![Interval::new(
            zulu("2026-03-03T00:00Z"),
            zulu("2026-03-04T00:00Z")
        )],
        "00:00–00:00 is the whole day (00:00–24:00)"
    );
    // Clipped to the window; overlapping periods merged.
    let r = rule(
        "UTC",
        &[
            (Weekday::Monday, "09:00", "17:00"),
            (Weekday::Monday, "13:00", "21:00"),
        ],
    );
    let w = Interval::new(zulu("2026-03-02T10:00Z"), zulu("2026-03-02T20:00Z"));
    assert_eq!(expand_rule(&r, w), vec![w]);
    let empty = Interval::new(zulu("2026-03-02T10:00Z"), zulu("2026-03-02T10:00Z"));
    assert!(expand_rule(&r, empty).is_empty());
}

#[test]
fn expand_rule_new_york_spring_forward() {
    let day = Interval::new(zulu("2026-03-08T00:00Z"), zulu("2026-03-09T12:00Z"));
    let r = rule("America/New_York", &[(Weekday::Sunday, "01:30", "03:30")]);
    let got = expand_rule(&r, day);
    // 01:30–02:00 EST then 03:00–03:30 EDT: one real hour, contiguous.
    assert_eq!(
        got,
        vec![Interval::new(
            zulu("2026-03-08T06:30Z"),
            zulu("2026-03-08T07:30Z")
        )]
    );
    assert_eq!(hours(&got), 1.0);

    let r = rule("America/New_York", &[(Weekday::Sunday, "02:30", "04:00")]);
    assert_eq!(
        expand_rule(&r, day),
        vec![Interval::new(
            zulu("2026-03-08T07:00Z"),
            zulu("2026-03-08T08:00Z")
        )]
    );
}

#[test]
fn expand_rule_new_york_fall_back() {
    let day = Interval::new(zulu("2026-11-01T00:00Z"), zulu("2026-11-02T12:00Z"));
    let r = rule("America/New_York", &[(Weekday::Sunday, "00:00", "03:00")]);
    let got = expand_rule(&r, day);
    assert_eq!(
        got,
        vec![Interval::new(
            zulu("2026-11-01T04:00Z"),
            zulu("2026-11-01T08:00Z")
        )]
    );
    assert_eq!(hours(&got), 4.0);

    // The period ends inside the repeated hour: both passes through
    // 01:00–01:30 count, as two disjoint intervals.
    let r = rule("America/New_York", &[(Weekday::Sunday, "00:30", "01:30")]);
    assert_eq!(
        expand_rule(&r, day),
        vec![
            Interval::new(zulu("2026-11-01T04:30Z"), zulu("2026-11-01T05:30Z")),
            Interval::new(zulu("2026-11-01T06:00Z"), zulu("2026-11-01T06:30Z")),
        ]
    );
    let r = rule("America/New_York", &[(Weekday::Sunday, "01:15", "01:45")]);
    assert_eq!(
        expand_rule(&r, day),
        vec![
            Interval::new(zulu("2026-11-01T05:15Z"), zulu("2026-11-01T05:45Z")),
            Interval::new(zulu("2026-11-01T06:15Z"), zulu("2026-11-01T06:45Z")),
        ]
    );
}

#[test]
fn expand_rule_odd_offsets() {
    let day = Interval::new(zulu("2026-03-01T00:00Z"), zulu("2026-03-04T00:00Z"));
    let r = rule("Asia/Kathmandu", &[(Weekday::Monday, "09:00", "10:00")]);
    assert_eq!(
        expand_rule(&r, day),
        vec![Interval::new(
            zulu("2026-03-02T03:15Z"),
            zulu("2026-03-02T04:15Z")
        )]
    );
    let r = rule("Asia/Kolkata", &[(Weekday::Monday, "09:00", "10:00")]);
    assert_eq!(
        expand_rule(&r, day),
        vec![Interval::new(
            zulu("2026-03-02T03:30Z"),
            zulu("2026-03-02T04:30Z")
        )]
    );
    // Adelaide is on +10:30 (daylight time) in March.
    let r = rule("Australia/Adelaide", &[(Weekday::Monday, "09:00", "10:00")]);
    assert_eq!(
        expand_rule(&r, day),
        vec![Interval::new(
            zulu("2026-03-01T22:30Z"),
            zulu("2026-03-01T23:30Z")
        )]
    );

    // Lord Howe falls back 30 minutes at 02:00 on 2026-04-05 (+11 → +10:30).
    let day = Interval::new(zulu("2026-04-04T00:00Z"), zulu("2026-04-06T00:00Z"));
    let r = rule(
        "Australia/Lord_Howe",
        &[(Weekday::Sunday, "01:00", "03:00")],
    );
    let got = expand_rule(&r, day);
    assert_eq!(
        got,
        vec![Interval::new(
            zulu("2026-04-04T14:00Z"),
            zulu("2026-04-04T16:30Z")
        )]
    );
    assert_eq!(hours(&got), 2.5);
    // Lord Howe springs forward 30 minutes at 02:00 on 2026-10-04.
    let day = Interval::new(zulu("2026-10-03T00:00Z"), zulu("2026-10-05T00:00Z"));
    let r = rule(
        "Australia/Lord_Howe",
        &[(Weekday::Sunday, "01:00", "03:00")],
    );
    let got = expand_rule(&r, day);
    assert_eq!(
        got,
        vec![Interval::new(
            zulu("2026-10-03T14:30Z"),
            zulu("2026-10-03T16:00Z")
        )]
    );
    assert_eq!(hours(&got), 1.5);
}

#[test]
fn slots_respect_rule_hours_across_dst() {
    let mut m = member("a", &[]);
    m.managed = Some(Managed {
        rules: vec![rule(
            "America/New_York",
            &[(Weekday::Sunday, "01:00", "03:00")],
        )],
        periods: vec![],
    });
    let mut q = query(Format::Slots, &[], 60, vec![all(vec![m])]);
    q.periods = vec![Interval::new(
        zulu("2026-11-01T00:00Z"),
        zulu("2026-11-02T00:00Z"),
    )];
    let starts: Vec<_> = compute(&q).into_iter().map(|a| a.start).collect();
    // 01:00–03:00 that day is three real hours: 05:00Z–08:00Z.
    assert_eq!(
        starts,
        [
            zulu("2026-11-01T05:00Z"),
            zulu("2026-11-01T06:00Z"),
            zulu("2026-11-01T07:00Z")
        ]
    );
}
