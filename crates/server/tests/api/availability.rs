//! `POST /v1/availability`: shapes, semantics against real stored data, every
//! validation error, and who may ask about whom.

use jiff::Timestamp;
use jiff::civil::{Date, Weekday};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::both;
use crate::helpers::*;

/// The Monday at least 7 days from now (so every period is in the future).
pub fn next_monday() -> Date {
    let mut d = jiff::Zoned::now()
        .date()
        .checked_add(jiff::Span::new().days(7))
        .unwrap();
    while d.weekday() != Weekday::Monday {
        d = d.tomorrow().unwrap();
    }
    d
}

pub fn at(d: Date, hh: u8, mm: u8) -> String {
    format!("{d}T{hh:02}:{mm:02}:00Z")
}

fn ts(v: &Value) -> Timestamp {
    v.as_str().unwrap().parse().unwrap()
}

/// Alice and Bob work 09:00–17:00 New York time on weekdays; each has busy events.
async fn setup(app: &TestApp) -> (Client, Acct, Acct) {
    let c = app.client("Acme").await;
    let alice = app.account(&c, "alice").await;
    let bob = app.account(&c, "bob").await;
    let mon = next_monday();
    for a in [&alice, &bob] {
        set_rule(
            app,
            a,
            "America/New_York",
            &EVERY_DAY[1..6],
            &[("09:00", "17:00")],
        )
        .await;
    }
    let ev = |id: &str, s: String, e: String, extra: Value| {
        let mut v = json!({"event_id": id, "summary": "busy", "start": s, "end": e});
        v.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        v
    };
    // Alice busy 15:00–16:30Z Monday; a transparent event (does not block); Bob busy 18:00–19:00Z.
    for (acct, body) in [
        (&alice, ev("a1", at(mon, 15, 0), at(mon, 16, 30), json!({}))),
        (
            &alice,
            ev(
                "a2",
                at(mon, 17, 0),
                at(mon, 18, 0),
                json!({"transparency": "transparent"}),
            ),
        ),
        (&bob, ev("b1", at(mon, 18, 0), at(mon, 19, 0), json!({}))),
    ] {
        let (s, b) = app
            .call(
                Method::POST,
                &format!("/v1/calendars/{}/events", acct.calendar_id),
                Some(&acct.token),
                Some(body),
            )
            .await;
        assert_eq!(s, StatusCode::ACCEPTED, "{b}");
    }
    (c, alice, bob)
}

both!(periods_respect_rules_events_and_transparency);
async fn periods_respect_rules_events_and_transparency(app: TestApp) {
    let (c, alice, bob) = setup(&app).await;
    let mon = next_monday();
    let (s, b) = app
        .call(Method::POST, "/v1/availability", Some(&c.client_secret), Some(json!({
            "participants": [{"members": [{"sub": alice.sub, "managed_availability": true}, {"sub": bob.sub, "managed_availability": true}], "required": "all"}],
            "required_duration": {"minutes": 60},
            "query_periods": [{"start": at(mon, 0, 0), "end": at(mon.tomorrow().unwrap(), 0, 0)}],
            "buffer": {}
        })))
        .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    // New York is UTC-4 or UTC-5: the rule is 13:00/14:00Z to 21:00/22:00Z.
    let day = jiff::tz::TimeZone::get("America/New_York").unwrap();
    let open = mon
        .at(9, 0, 0, 0)
        .to_zoned(day.clone())
        .unwrap()
        .timestamp();
    let close = mon.at(17, 0, 0, 0).to_zoned(day).unwrap().timestamp();
    let got: Vec<(Timestamp, Timestamp)> = b["available_periods"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| (ts(&p["start"]), ts(&p["end"])))
        .collect();
    let busy: [(Timestamp, Timestamp); 2] = [
        (
            at(mon, 15, 0).parse().unwrap(),
            at(mon, 16, 30).parse().unwrap(),
        ),
        (
            at(mon, 18, 0).parse().unwrap(),
            at(mon, 19, 0).parse().unwrap(),
        ),
    ];
    let want: Vec<(Timestamp, Timestamp)> = vec![
        (open, busy[0].0),
        (busy[0].1, busy[1].0),
        (busy[1].1, close),
    ]
    .into_iter()
    .filter(|(s, e)| e.duration_since(*s) >= jiff::SignedDuration::from_hours(1))
    .collect();
    assert_eq!(got, want, "{b}");
    for p in b["available_periods"].as_array().unwrap() {
        let subs: Vec<&str> = p["participants"]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| x["sub"].as_str().unwrap())
            .collect();
        assert_eq!(subs, vec![alice.sub.as_str(), bob.sub.as_str()]);
    }
}

both!(slots_with_two_groups_and_a_buffer);
async fn slots_with_two_groups_and_a_buffer(app: TestApp) {
    let (c, alice, bob) = setup(&app).await;
    let carol = app.account(&c, "carol").await; // no rule, never busy
    let mon = next_monday();
    let (s, b) = app
        .call(Method::POST, "/v1/availability", Some(&alice.token), Some(json!({
            "participants": [
                {"members": [{"sub": alice.sub, "managed_availability": true}], "required": "all"},
                {"members": [bob.sub, {"sub": carol.sub}], "required": 1}
            ],
            "required_duration": {"minutes": 30},
            "start_interval": {"minutes": 30},
            "buffer": {"before": {"minutes": 15}, "after": {"minimum": {"minutes": 15}}},
            "available_periods": [{"start": at(mon, 14, 0), "end": at(mon, 19, 0)}],
            "response_format": "slots",
            "max_results": 100
        })))
        .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    let slots = b["available_slots"].as_array().unwrap();
    assert!(!slots.is_empty());
    let a_busy: (Timestamp, Timestamp) = (
        at(mon, 15, 0).parse().unwrap(),
        at(mon, 16, 30).parse().unwrap(),
    );
    let q = jiff::SignedDuration::from_mins(15);
    let mut prev_end = Timestamp::MIN;
    for sl in slots {
        let (s, e) = (ts(&sl["start"]), ts(&sl["end"]));
        assert_eq!(e.duration_since(s), jiff::SignedDuration::from_mins(30));
        assert_eq!(s.as_second() % 1800, 0, "starts on the 30-minute grid");
        assert!(s >= prev_end, "slots do not overlap");
        prev_end = e;
        // Alice (with buffers) clear of her busy event.
        assert!(e + q <= a_busy.0 || s - q >= a_busy.1, "{sl}");
        let subs: Vec<&str> = sl["participants"]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| x["sub"].as_str().unwrap())
            .collect();
        assert!(
            subs.contains(&alice.sub.as_str()) && subs.contains(&carol.sub.as_str()),
            "{sl}"
        );
    }
    // 14:00 needs Alice free from 13:45, before her 14:00Z (09:00 EDT/10:00 EST) rule start at best.
    assert!(ts(&slots[0]["start"]) >= at(mon, 14, 0).parse::<Timestamp>().unwrap());
}

both!(availability_validation_errors);
async fn availability_validation_errors(app: TestApp) {
    let (c, alice, _bob) = setup(&app).await;
    let stranger_app = app.client("Globex").await;
    let stranger = app.account(&stranger_app, "eve").await;
    let mon = next_monday();
    let good = json!({
        "participants": [{"members": [{"sub": alice.sub}], "required": "all"}],
        "required_duration": {"minutes": 60},
        "query_periods": [{"start": at(mon, 9, 0), "end": at(mon, 17, 0)}]
    });
    let with = |patch: Value| {
        let mut v = good.clone();
        for (k, val) in patch.as_object().unwrap() {
            if val.is_null() {
                v.as_object_mut().unwrap().remove(k);
            } else {
                v[k] = val.clone();
            }
        }
        v
    };
    let many_groups: Vec<Value> = (0..11)
        .map(|_| json!({"members": [{"sub": alice.sub}]}))
        .collect();
    let many_members: Vec<Value> = (0..501).map(|_| json!({"sub": alice.sub})).collect();
    let cases = vec![
        (
            with(json!({"required_duration": null})),
            "required_duration",
            "errors.required",
        ),
        (
            with(json!({"required_duration": {"minutes": 0}})),
            "required_duration",
            "errors.invalid",
        ),
        (
            with(json!({"required_duration": {"hours": 1, "minutes": 60}})),
            "required_duration",
            "errors.invalid",
        ),
        (
            with(json!({"participants": null})),
            "participants",
            "errors.required",
        ),
        (
            with(json!({"participants": many_groups})),
            "participants",
            "errors.too_many",
        ),
        (
            with(json!({"participants": [{"members": many_members}]})),
            "participants[0].members",
            "errors.too_many",
        ),
        (
            with(json!({"participants": [{"members": []}]})),
            "participants[0].members",
            "errors.required",
        ),
        (
            with(json!({"participants": [{"members": [{"sub": alice.sub}], "required": 2}]})),
            "participants[0].required",
            "errors.invalid",
        ),
        (
            with(json!({"participants": [{"members": [{"sub": "acc_unknown"}]}]})),
            "participants[0].members[0].sub",
            "errors.not_recognized",
        ),
        (
            with(json!({"participants": [{"members": [{"sub": stranger.sub}]}]})),
            "participants[0].members[0].sub",
            "errors.not_recognized",
        ),
        (
            with(json!({"query_periods": null})),
            "query_periods",
            "errors.required",
        ),
        (
            with(json!({"query_periods": [{"start": at(mon, 10, 0), "end": at(mon, 9, 0)}]})),
            "query_periods[0].end",
            "errors.invalid",
        ),
        (
            with(
                json!({"query_periods": [{"start": "2001-01-01T09:00:00Z", "end": "2001-01-01T17:00:00Z"}]}),
            ),
            "query_periods[0].end",
            "errors.in_the_past",
        ),
        (
            with(json!({"query_periods": [{"start": at(mon, 9, 0), "end": at(mon, 9, 30)}]})),
            "query_periods[0].end",
            "errors.too_short",
        ),
        (
            with(
                json!({"query_periods": [{"start": at(mon, 9, 0), "end": at(mon.checked_add(jiff::Span::new().days(40)).unwrap(), 9, 0)}]}),
            ),
            "query_periods",
            "errors.too_long",
        ),
        (
            with(json!({"query_periods": [{"start": "next tuesday", "end": at(mon, 9, 0)}]})),
            "query_periods[0].start",
            "errors.invalid",
        ),
        (
            with(json!({"query_slots": [{"start": at(mon, 9, 0)}]})),
            "query_slots",
            "errors.invalid",
        ),
        (
            with(json!({"max_results": 0})),
            "max_results",
            "errors.invalid",
        ),
        (
            with(json!({"max_results": 513})),
            "max_results",
            "errors.invalid",
        ),
        (
            with(json!({"response_format": "calendar"})),
            "response_format",
            "errors.invalid",
        ),
        (
            with(json!({"start_interval": {"minutes": 7}})),
            "start_interval",
            "errors.invalid",
        ),
        (
            with(json!({"buffer": {"before": {"minutes": 5000}}})),
            "buffer.before",
            "errors.invalid",
        ),
    ];
    for (body, field, key) in cases {
        let (s, resp) = app
            .call(
                Method::POST,
                "/v1/availability",
                Some(&c.client_secret),
                Some(body.clone()),
            )
            .await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{body} → {resp}");
        assert_eq!(err_key(&resp, field), key, "{body} → {resp}");
    }
    // Auth: none → 401; another application's secret cannot see Alice.
    assert_eq!(
        app.call(Method::POST, "/v1/availability", None, Some(good.clone()))
            .await
            .0,
        StatusCode::UNAUTHORIZED
    );
    let (s, resp) = app
        .call(
            Method::POST,
            "/v1/availability",
            Some(&stranger_app.client_secret),
            Some(good.clone()),
        )
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        err_key(&resp, "participants[0].members[0].sub"),
        "errors.not_recognized"
    );
    // query_slots: tests exactly the starts given.
    let (s, resp) = app
        .call(
            Method::POST,
            "/v1/availability",
            Some(&c.client_secret),
            Some(with(json!({"query_periods": null,
            "query_slots": [{"start": at(mon, 14, 0)}, {"start": at(mon, 15, 0)}]}))),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{resp}");
    let starts: Vec<&str> = resp["available_slots"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["start"].as_str().unwrap())
        .collect();
    assert_eq!(
        starts,
        vec![at(mon, 14, 0)],
        "15:00 collides with Alice's event"
    );
}

both!(dst_days_through_the_api);
async fn dst_days_through_the_api(app: TestApp) {
    let c = app.client("Acme").await;
    let a = app.account(&c, "alice").await;
    set_rule(
        &app,
        &a,
        "America/New_York",
        &EVERY_DAY,
        &[("00:30", "03:30"), ("09:00", "17:00")],
    )
    .await;
    let ny = jiff::tz::TimeZone::get("America/New_York").unwrap();
    // 2027-03-14: 02:00 → 03:00 (a gap); 2027-11-07: 02:00 → 01:00 (01:00–02:00 twice).
    for (day, early_minutes) in [("2027-03-14", 120), ("2027-11-07", 240)] {
        let d: Date = day.parse().unwrap();
        let (s, b) = app
            .call(Method::POST, "/v1/availability", Some(&c.client_secret), Some(json!({
                "participants": [{"members": [{"sub": a.sub, "managed_availability": true}]}],
                "required_duration": {"minutes": 15},
                "query_periods": [{"start": at(d, 0, 0), "end": at(d.tomorrow().unwrap().tomorrow().unwrap(), 0, 0)}],
                "response_format": "overlapping_slots"
            })))
            .await;
        assert_eq!(s, StatusCode::OK, "{b}");
        let mut early = 0;
        let mut seen = std::collections::HashSet::new();
        for sl in b["available_slots"].as_array().unwrap() {
            let start = ts(&sl["start"]);
            assert!(seen.insert(start), "each instant offered once");
            let z = start.to_zoned(ny.clone());
            let end_wall = ts(&sl["end"])
                .checked_sub(jiff::SignedDuration::from_secs(1))
                .unwrap()
                .to_zoned(ny.clone());
            let mins = |t: &jiff::Zoned| t.hour() as i32 * 60 + t.minute() as i32;
            let inside = |m: i32| (30..210).contains(&m) || (540..1020).contains(&m);
            assert!(
                inside(mins(&z)) && inside(mins(&end_wall)),
                "{sl} outside the rule's wall-clock hours"
            );
            if z.date() == d && mins(&z) < 240 {
                early += 15;
            }
        }
        // Local 00:30–03:30 holds 2 real hours on the spring-forward day
        // (02:00–03:00 does not exist) and 4 on the fall-back day.
        assert_eq!(early, early_minutes, "{day}");
    }
}

both!(a_sequence_step_that_is_not_an_object_is_refused);
async fn a_sequence_step_that_is_not_an_object_is_refused(app: TestApp) {
    let c = app.client("Acme").await;
    let alice = app.account(&c, "alice").await;
    for body in [json!({"sequence": [1]}), json!({"sequence": ["x", [2]]})] {
        let (s, b) = app
            .call(
                Method::POST,
                "/v1/sequenced_availability",
                Some(&alice.token),
                Some(body),
            )
            .await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{b}");
        assert_eq!(err_key(&b, "sequence[0]"), "errors.invalid");
    }
    let (s, b) = app
        .raw(
            app.http
                .post(app.url("/v1/sequenced_availability"))
                .bearer_auth(&alice.token)
                .header("content-type", "application/x-www-form-urlencoded")
                .body("sequence[]=1"),
        )
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{b}");
}

both!(sequenced_availability_chains_steps);
async fn sequenced_availability_chains_steps(app: TestApp) {
    let (c, alice, bob) = setup(&app).await;
    let mon = next_monday();
    // pycronofy's shape: string sequence ids, start_interval null, buffer {}.
    let (s, b) = app
        .call(Method::POST, "/v1/sequenced_availability", Some(&alice.token), Some(json!({
            "sequence": [
                {"sequence_id": "interview", "ordinal": 1, "participants": [{"members": [{"sub": alice.sub, "managed_availability": true}], "required": "all"}],
                 "required_duration": {"minutes": 60}, "start_interval": null, "buffer": {"after": {"minimum": {"minutes": 15}, "maximum": {"minutes": 30}}}},
                {"sequence_id": "debrief", "ordinal": 2, "participants": [{"members": [{"sub": bob.sub, "managed_availability": true}], "required": "all"}],
                 "required_duration": {"minutes": 30}, "buffer": {}}
            ],
            "available_periods": [{"start": at(mon, 13, 0), "end": at(mon, 22, 0)}]
        })))
        .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    let seqs = b["sequences"].as_array().unwrap();
    assert!(!seqs.is_empty(), "{b}");
    for sq in seqs {
        let steps = sq["sequence"].as_array().unwrap();
        assert_eq!(steps[0]["sequence_id"], json!("interview"));
        assert_eq!(steps[1]["sequence_id"], json!("debrief"));
        let gap = ts(&steps[1]["start"]).duration_since(ts(&steps[0]["end"]));
        assert!(
            gap >= jiff::SignedDuration::from_mins(15)
                && gap <= jiff::SignedDuration::from_mins(30),
            "{sq}"
        );
        assert_eq!(steps[1]["participants"][0]["sub"], json!(bob.sub));
    }
    let (s, e) = app
        .call(
            Method::POST,
            "/v1/sequenced_availability",
            Some(&c.client_secret),
            Some(json!({"sequence": [{"participants": [{"members": [{"sub": alice.sub}]}]}]})),
        )
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        err_key(&e, "sequence[0].required_duration"),
        "errors.required"
    );
}

both!(answers_follow_every_change_even_from_another_process);
async fn answers_follow_every_change_even_from_another_process(app: TestApp) {
    let (c, alice, _bob) = setup(&app).await;
    let replica = app.replica().await;
    let mon = next_monday();
    let query = json!({
        "participants": [{"members": [{"sub": alice.sub, "managed_availability": true}]}],
        "required_duration": {"minutes": 60},
        "query_periods": [{"start": at(mon, 0, 0), "end": at(mon.tomorrow().unwrap(), 0, 0)}]
    });
    let periods = |b: &Value| {
        b["available_periods"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| (p["start"].clone(), p["end"].clone()))
            .collect::<Vec<_>>()
    };
    let (_, before) = app
        .call(
            Method::POST,
            "/v1/availability",
            Some(&c.client_secret),
            Some(query.clone()),
        )
        .await;
    // Another process books Alice's morning; this process must see it at once.
    let (s, _) = replica
        .call(
            Method::POST,
            &format!("/v1/calendars/{}/events", alice.calendar_id),
            Some(&alice.token),
            Some(json!({
                "event_id": "late", "summary": "x", "start": at(mon, 10, 0), "end": at(mon, 15, 0)
            })),
        )
        .await;
    assert_eq!(s, StatusCode::ACCEPTED);
    let (_, after) = app
        .call(
            Method::POST,
            "/v1/availability",
            Some(&c.client_secret),
            Some(query.clone()),
        )
        .await;
    assert_ne!(periods(&before), periods(&after));
    for p in after["available_periods"].as_array().unwrap() {
        assert!(
            ts(&p["end"]) <= at(mon, 10, 0).parse::<Timestamp>().unwrap()
                || ts(&p["start"]) >= at(mon, 15, 0).parse::<Timestamp>().unwrap(),
            "{p}"
        );
    }
    // A rule change is seen too.
    set_rule(
        &replica,
        &alice,
        "America/New_York",
        &EVERY_DAY[6..],
        &[("09:00", "10:00")],
    )
    .await;
    let (_, ruled) = app
        .call(
            Method::POST,
            "/v1/availability",
            Some(&c.client_secret),
            Some(query.clone()),
        )
        .await;
    assert!(
        ruled["available_periods"].as_array().unwrap().is_empty(),
        "{ruled}"
    );
    // Deleting the event and the rule brings the first answer back.
    let (s, _) = replica
        .call(
            Method::DELETE,
            &format!("/v1/calendars/{}/events", alice.calendar_id),
            Some(&alice.token),
            Some(json!({"event_id": "late"})),
        )
        .await;
    assert_eq!(s, StatusCode::ACCEPTED);
    set_rule(
        &replica,
        &alice,
        "America/New_York",
        &EVERY_DAY[1..6],
        &[("09:00", "17:00")],
    )
    .await;
    let (_, back) = app
        .call(
            Method::POST,
            "/v1/availability",
            Some(&c.client_secret),
            Some(query),
        )
        .await;
    assert_eq!(periods(&before), periods(&back));
}

both!(hostile_numbers_get_4xx_not_500);
async fn hostile_numbers_get_4xx_not_500(app: TestApp) {
    let (c, alice, _bob) = setup(&app).await;
    let mon = next_monday();
    let s = Some(c.client_secret.as_str());
    let huge = json!({"minutes": i64::MAX});
    let (st, b) = app
        .call(Method::POST, "/v1/sequenced_availability", s, Some(json!({
            "sequence": [
                {"participants": [{"members": [{"sub": alice.sub}]}], "required_duration": {"minutes": 30},
                 "buffer": {"after": {"minimum": {"minutes": 0}, "maximum": huge}}},
                {"participants": [{"members": [{"sub": alice.sub}]}], "required_duration": {"minutes": 30}}
            ],
            "query_periods": [{"start": at(mon, 9, 0), "end": at(mon, 17, 0)}]
        })))
        .await;
    assert_eq!(st, StatusCode::UNPROCESSABLE_ENTITY, "{b}");
    // A step's null query_periods inherits the top-level ones.
    let (st, b) = app
        .call(Method::POST, "/v1/sequenced_availability", s, Some(json!({
            "sequence": [{"participants": [{"members": [{"sub": alice.sub}]}], "required_duration": {"minutes": 30}, "query_periods": null}],
            "query_periods": [{"start": at(mon, 14, 0), "end": at(mon, 17, 0)}]
        })))
        .await;
    assert_eq!(st, StatusCode::OK, "{b}");
    let query = |slots: Value| json!({"participants": [{"members": [{"sub": alice.sub}]}], "required_duration": {"minutes": 30}, "query_slots": slots});
    let (st, b) = app
        .call(
            Method::POST,
            "/v1/availability",
            s,
            Some(query(json!([{"start": "2001-01-01T09:00:00Z"}]))),
        )
        .await;
    assert_eq!(
        (st, err_key(&b, "query_slots[0].start")),
        (
            StatusCode::UNPROCESSABLE_ENTITY,
            "errors.in_the_past".into()
        )
    );
    let (st, b) = app
        .call(
            Method::POST,
            "/v1/availability",
            s,
            Some(query(
                json!([{"start": at(mon, 9, 0)}, {"start": "9999-01-04T09:00:00Z"}]),
            )),
        )
        .await;
    assert_eq!(
        (st, err_key(&b, "query_slots")),
        (StatusCode::UNPROCESSABLE_ENTITY, "errors.too_long".into())
    );
    for path in [
        "/v1/events?page=9223372036854775807",
        "/v1/available_periods?page=9223372036854775807",
    ] {
        let (st, b) = app.call(Method::GET, path, Some(&alice.token), None).await;
        assert_eq!(st, StatusCode::OK, "{path}: {b}");
    }
    let (st, b) = app
        .call(Method::POST, "/v1/scheduling_templates", s, Some(json!({"name": "far",
            "availability_mode": {"query_periods": [{"start": at(mon, 9, 0), "end": "9999-12-01T00:00:00Z"}]},
            "buffer": {"before": {"minutes": 100000}}})))
        .await;
    assert_eq!(st, StatusCode::UNPROCESSABLE_ENTITY, "{b}");
    assert_eq!(
        err_key(&b, "availability_mode.query_periods"),
        "errors.too_long"
    );
    assert_eq!(err_key(&b, "buffer.before"), "errors.invalid");
}

both!(availability_operations_are_documented);
async fn availability_operations_are_documented(app: TestApp) {
    let (s, doc) = app.call(Method::GET, "/openapi.json", None, None).await;
    assert_eq!(s, StatusCode::OK);
    let either = json!([{"account_token": []}, {"client_secret": []}]);
    for (path, method) in [
        ("/v1/availability", "post"),
        ("/v1/sequenced_availability", "post"),
        ("/v1/availability_rules", "post"),
        ("/v1/availability_rules", "get"),
        ("/v1/availability_rules/{id}", "get"),
        ("/v1/availability_rules/{id}", "delete"),
        ("/v1/available_periods", "post"),
        ("/v1/available_periods", "get"),
        ("/v1/available_periods", "delete"),
        ("/v1/available_periods/pages/{page}", "get"),
    ] {
        let op = &doc["paths"][path][method];
        assert_eq!(op["security"], either, "{method} {path}");
        assert!(op["responses"].get("401").is_some(), "{method} {path}");
    }
    let names = |path: &str, method: &str| -> Vec<String> {
        doc["paths"][path][method]["parameters"]
            .as_array()
            .map(|ps| {
                ps.iter()
                    .map(|p| p["name"].as_str().unwrap().to_string())
                    .collect()
            })
            .unwrap_or_default()
    };
    assert_eq!(
        names("/v1/available_periods", "get"),
        ["tzid", "from", "to", "localized_times", "page"]
    );
    assert_eq!(names("/v1/availability_rules/{id}", "get"), ["id"]);
}

both!(a_period_delete_reports_a_bad_value_in_the_unused_source);
async fn a_period_delete_reports_a_bad_value_in_the_unused_source(app: TestApp) {
    let (_c, alice, _bob) = setup(&app).await;
    let (s, b) = app
        .call(
            Method::DELETE,
            "/v1/available_periods?delete_all=maybe",
            Some(&alice.token),
            Some(json!({"available_period_id": "p1"})),
        )
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{b}");
    assert!(b["errors"].get("delete_all").is_some(), "{b}");
    let (s, b) = app
        .call(
            Method::DELETE,
            "/v1/available_periods?delete_all=true",
            Some(&alice.token),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::ACCEPTED, "{b}");
}

/// Busy time as `(account, calendar, start, end, event id)`, sorted.
fn flat(runs: Vec<convene_store::BusyRuns>) -> Vec<(String, String, i64, i64, String)> {
    let mut out = Vec::new();
    for r in runs {
        let ids: Vec<&str> = r.event_ids.split(convene_store::ID_SEP).collect();
        assert_eq!(ids.len(), r.intervals.len(), "one id per interval: {r:?}");
        assert!(
            r.intervals.is_sorted_by_key(|i| i.0),
            "each calendar's intervals come in start order: {r:?}"
        );
        for (&(s, e), id) in r.intervals.iter().zip(ids) {
            out.push((
                r.account_id.clone(),
                r.calendar_id.clone(),
                s,
                e,
                id.to_string(),
            ));
        }
    }
    out.sort();
    out
}

// The packed busy time the availability engine reads (kept by triggers,
// one row per account, calendar and day) holds exactly the busy events,
// whatever writes them: inserts, moves across days (around 1970, where the
// day number's truncation turns), changes of transparency, status or
// participation, soft and hard deletes, ids that contain the separators.
both!(packed_busy_time_is_what_the_events_say);
async fn packed_busy_time_is_what_the_events_say(app: TestApp) {
    use convene_store::{Calendar, Event, Tx};
    use rand::{RngExt as _, SeedableRng as _};
    const DAY: i64 = 86_400_000;
    let c = app.client("ou").await;
    let a = app.account(&c, "packed-a").await;
    let b = app.account(&c, "packed-b").await;
    let second = Calendar {
        id: convene_server::ids::new_id("cal"),
        account_id: a.sub.clone(),
        profile_id: app.db.calendars(&a.sub).await.unwrap()[0]
            .profile_id
            .clone(),
        name: "Second".into(),
        color: None,
        is_primary: false,
    };
    app.db.create_calendar(&second, 0).await.unwrap();
    let calendars = [
        (a.sub.clone(), a.calendar_id.clone()),
        (a.sub.clone(), second.id.clone()),
        (b.sub.clone(), b.calendar_id.clone()),
    ];
    let accounts = vec![a.sub.clone(), b.sub.clone()];
    let mut names: Vec<String> = (0..20).map(|i| format!("e{i}")).collect();
    names.extend(["has,comma", "sep\u{1f}in", "rs\u{1e}in"].map(String::from));
    let mut rng = rand::rngs::StdRng::seed_from_u64(15);
    let mut uids: Vec<String> = Vec::new();
    let mut most = 0;
    for step in 0..300 {
        let (account, calendar) = calendars[rng.random_range(0..calendars.len())].clone();
        let op = rng.random_range(0..12);
        if op < 8 {
            // Upsert by (calendar, event id); no id inserts a new event.
            let event_id = (rng.random_range(0..10) > 0)
                .then(|| names[rng.random_range(0..names.len())].clone());
            let start = rng.random_range(-6 * DAY..6 * DAY) / 60_000 * 60_000;
            let end = start + rng.random_range(1..4 * 24 * 4) * 15 * 60_000;
            let pick = |rng: &mut rand::rngs::StdRng, busy: &str, other: &str| {
                if rng.random_range(0..6) > 0 {
                    busy
                } else {
                    other
                }
                .to_string()
            };
            let ev = Event {
                event_uid: convene_server::ids::new_id("evt"),
                calendar_id: calendar,
                account_id: account,
                event_id,
                summary: "s".into(),
                description: String::new(),
                start_ms: start,
                end_ms: end,
                start_date: None,
                end_date: None,
                tzid: "Etc/UTC".into(),
                transparency: pick(&mut rng, "opaque", "transparent"),
                status: pick(&mut rng, "confirmed", "cancelled"),
                participation: pick(&mut rng, "accepted", "declined"),
                body_json: "{}".into(),
                deleted: false,
                created_ms: step,
                updated_ms: step,
            };
            let row = app
                .db
                .write(async |tx: &mut Tx| tx.upsert_event(&ev).await)
                .await
                .unwrap();
            uids.push(row.event_uid);
        } else if op < 10 {
            let id = &names[rng.random_range(0..names.len())];
            app.db
                .delete_event(&account, &calendar, id, false, step)
                .await
                .unwrap();
        } else if op < 11 && !uids.is_empty() {
            let uid = uids.swap_remove(rng.random_range(0..uids.len()));
            hard_delete(&app, &uid).await;
        } else if rng.random_range(0..4) == 0 {
            let cals = [calendar];
            app.db
                .write(async |tx: &mut Tx| tx.delete_events(&account, Some(&cals), step).await)
                .await
                .unwrap();
        }
        for (from, to) in [(-7 * DAY, 7 * DAY), (-DAY / 2, DAY / 2), (2 * DAY, 3 * DAY)] {
            let packed = flat(app.db.busy_packed(&accounts, from, to).await.unwrap());
            let truth = flat(app.db.busy_from_events(&accounts, from, to).await.unwrap());
            assert_eq!(packed, truth, "step {step}, window [{from}, {to})");
            most = most.max(truth.len());
        }
    }
    assert!(
        most > 15,
        "the writes made busy time to compare: at most {most}"
    );
    // Equal entries (no id, same times): removing one leaves the other.
    let twin = |uid: &str| Event {
        summary: "twin".into(),
        created_ms: 0,
        updated_ms: 0,
        ..event_in(&b, uid, None, DAY, DAY + 3_600_000)
    };
    for uid in ["evt_twin1", "evt_twin2"] {
        let t = twin(uid);
        app.db
            .write(async |tx: &mut Tx| tx.upsert_event(&t).await)
            .await
            .unwrap();
    }
    let only_b = vec![b.sub.clone()];
    let twins = async || {
        let packed = flat(app.db.busy_packed(&only_b, DAY, 2 * DAY).await.unwrap());
        let truth = flat(
            app.db
                .busy_from_events(&only_b, DAY, 2 * DAY)
                .await
                .unwrap(),
        );
        assert_eq!(packed, truth);
        packed
            .iter()
            .filter(|e| (e.2, e.3) == (DAY, DAY + 3_600_000))
            .count()
    };
    assert_eq!(twins().await, 2);
    hard_delete(&app, "evt_twin2").await;
    assert_eq!(twins().await, 1, "one twin gone, the other still busy");
}

async fn hard_delete(app: &TestApp, uid: &str) {
    let q = "DELETE FROM events WHERE event_uid = $1";
    match app.db.pool() {
        convene_store::Pool::Sqlite(p) => {
            sqlx::query(q).bind(uid).execute(p).await.unwrap();
        }
        convene_store::Pool::Postgres(p) => {
            sqlx::query(q).bind(uid).execute(p).await.unwrap();
        }
    }
}
