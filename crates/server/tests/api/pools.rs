//! Pools of up to 500 members (issue 15): the limits, and the cap on the
//! free members a slot names.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::availability::{at, next_monday};
use crate::both;
use crate::helpers::*;

both!(a_pool_slot_names_at_most_ten_free_members);
async fn a_pool_slot_names_at_most_ten_free_members(app: TestApp) {
    let c = app.client("Acme").await;
    let mut pool = Vec::new();
    for i in 0..12 {
        pool.push(app.account(&c, &format!("p{i}")).await);
    }
    let boss = app.account(&c, "boss").await;
    let mon = next_monday();
    // p0 is busy, so the slot names p1..=p10 (the first ten free, in order).
    let (s, b) = app
        .call(
            Method::POST,
            &format!("/v1/calendars/{}/events", pool[0].calendar_id),
            Some(&pool[0].token),
            Some(json!({"event_id": "e", "summary": "busy", "start": at(mon, 9, 0), "end": at(mon, 10, 0)})),
        )
        .await;
    assert_eq!(s, StatusCode::ACCEPTED, "{b}");
    let members: Vec<Value> = pool.iter().map(|a| json!({"sub": a.sub})).collect();
    let ask = |required: Value| {
        json!({
            "participants": [
                {"members": members.clone(), "required": required},
                {"members": [{"sub": boss.sub}], "required": "all"}
            ],
            "required_duration": {"minutes": 60},
            "response_format": "slots",
            "query_periods": [{"start": at(mon, 9, 0), "end": at(mon, 10, 0)}]
        })
    };
    let subs = |b: &Value| -> Vec<String> {
        b["available_slots"][0]["participants"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["sub"].as_str().unwrap().to_string())
            .collect()
    };
    let (s, b) = app
        .call(
            Method::POST,
            "/v1/availability",
            Some(&c.client_secret),
            Some(ask(json!(1))),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    let mut want: Vec<String> = pool[1..=10].iter().map(|a| a.sub.clone()).collect();
    want.push(boss.sub.clone());
    assert_eq!(subs(&b), want);
    // A pool needing 11 of 12 lists the 11 free ones.
    let (s, b) = app
        .call(
            Method::POST,
            "/v1/availability",
            Some(&c.client_secret),
            Some(ask(json!(11))),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    let mut want: Vec<String> = pool[1..].iter().map(|a| a.sub.clone()).collect();
    want.push(boss.sub.clone());
    assert_eq!(subs(&b), want);
}

both!(groups_of_500_members_are_accepted_501_refused);
async fn groups_of_500_members_are_accepted_501_refused(app: TestApp) {
    let c = app.client("Acme").await;
    let alice = app.account(&c, "alice").await;
    let mon = next_monday();
    let ask = |n: usize| {
        json!({
            "participants": [{"members": vec![json!({"sub": alice.sub}); n], "required": 1}],
            "required_duration": {"minutes": 60},
            "query_periods": [{"start": at(mon, 9, 0), "end": at(mon, 10, 0)}]
        })
    };
    let (s, b) = app
        .call(
            Method::POST,
            "/v1/availability",
            Some(&c.client_secret),
            Some(ask(500)),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    let (s, b) = app
        .call(
            Method::POST,
            "/v1/availability",
            Some(&c.client_secret),
            Some(ask(501)),
        )
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{b}");
    assert_eq!(err_key(&b, "participants[0].members"), "errors.too_many");
    // 600 distinct members over two groups are accepted as a count (here
    // unknown ones, so refused one by one); 601 are too many.
    let distinct = |n: usize| {
        let subs: Vec<Value> = (0..n)
            .map(|i| json!({"sub": format!("acc_x{i}")}))
            .collect();
        json!({
            "participants": [
                {"members": subs[..n / 2].to_vec(), "required": 1},
                {"members": subs[n / 2..].to_vec(), "required": 1}
            ],
            "required_duration": {"minutes": 60},
            "query_periods": [{"start": at(mon, 9, 0), "end": at(mon, 10, 0)}]
        })
    };
    let (s, b) = app
        .call(
            Method::POST,
            "/v1/availability",
            Some(&c.client_secret),
            Some(distinct(600)),
        )
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{b}");
    assert!(b["errors"].get("participants").is_none(), "{b}");
    let (s, b) = app
        .call(
            Method::POST,
            "/v1/availability",
            Some(&c.client_secret),
            Some(distinct(601)),
        )
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{b}");
    assert_eq!(err_key(&b, "participants"), "errors.too_many");
    // Templates take collaborator groups of 500 distinct members too.
    let group = |n: usize| {
        let subs: Vec<Value> = (0..n)
            .map(|i| json!({"sub": format!("acc_x{i}")}))
            .collect();
        json!({
            "name": "pool",
            "collaborator_groups": [{"name": "pool", "members": subs, "required": n}],
            "duration": {"minutes": 30}
        })
    };
    let (_, b) = app
        .call(
            Method::POST,
            "/v1/scheduling_templates",
            Some(&c.client_secret),
            Some(group(500)),
        )
        .await;
    assert!(
        b.get("errors")
            .is_none_or(|e| e.get("collaborator_groups[0].members").is_none()
                && e.get("collaborator_groups[0].required").is_none()),
        "{b}"
    );
    let (s, b) = app
        .call(
            Method::POST,
            "/v1/scheduling_templates",
            Some(&c.client_secret),
            Some(group(501)),
        )
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{b}");
    assert_eq!(
        err_key(&b, "collaborator_groups[0].members"),
        "errors.too_many"
    );
}

both!(busy_time_in_two_calendars_counts_per_calendar);
async fn busy_time_in_two_calendars_counts_per_calendar(app: TestApp) {
    // An account busy in two calendars takes the busy read's per-calendar
    // path; `calendar_ids` then picks which calendars count.
    let c = app.client("Acme").await;
    let a = app.account(&c, "alice").await;
    let (_, cals) = app
        .call(Method::GET, "/v1/calendars", Some(&a.token), None)
        .await;
    let profile = cals["calendars"][0]["profile_id"]
        .as_str()
        .unwrap()
        .to_string();
    let (s, b) = app
        .call(
            Method::POST,
            "/v1/calendars",
            Some(&a.token),
            Some(json!({"profile_id": profile, "name": "second"})),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    let second = b["calendar"]["calendar_id"].as_str().unwrap().to_string();
    let mon = next_monday();
    for (cal, id, h) in [(&a.calendar_id, "e1", 9), (&second, "e2", 11)] {
        let (s, b) = app
            .call(
                Method::POST,
                &format!("/v1/calendars/{cal}/events"),
                Some(&a.token),
                Some(json!({"event_id": id, "summary": "busy", "start": at(mon, h, 0), "end": at(mon, h + 1, 0)})),
            )
            .await;
        assert_eq!(s, StatusCode::ACCEPTED, "{b}");
    }
    let periods = |member: Value| {
        let app = &app;
        let c = &c;
        async move {
            let (s, b) = app
                .call(
                    Method::POST,
                    "/v1/availability",
                    Some(&c.client_secret),
                    Some(json!({
                        "participants": [{"members": [member], "required": "all"}],
                        "required_duration": {"minutes": 60},
                        "query_periods": [{"start": at(mon, 8, 0), "end": at(mon, 13, 0)}]
                    })),
                )
                .await;
            assert_eq!(s, StatusCode::OK, "{b}");
            b["available_periods"]
                .as_array()
                .unwrap()
                .iter()
                .map(|p| {
                    (
                        p["start"].as_str().unwrap().to_string(),
                        p["end"].as_str().unwrap().to_string(),
                    )
                })
                .collect::<Vec<_>>()
        }
    };
    let span = |a: (u8, u8)| (at(mon, a.0, 0), at(mon, a.1, 0));
    assert_eq!(
        periods(json!({"sub": a.sub})).await,
        vec![span((8, 9)), span((10, 11)), span((12, 13))]
    );
    assert_eq!(
        periods(json!({"sub": a.sub, "calendar_ids": [second]})).await,
        vec![span((8, 11)), span((12, 13))]
    );
}
