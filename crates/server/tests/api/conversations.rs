//! Scheduling Conversations: the seed's request, every validation rule with
//! its key, the life of a conversation to a booked event in both calendars,
//! the both-manual protocol, racing selections, and expiry.

use convene_store::conversations::ConversationStatus;
use jiff::Timestamp;
use jiff::civil::Date;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::availability::{at, next_monday};
use crate::both;
use crate::helpers::*;

const PATH: &str = "/v1/scheduling_conversations";

/// Weekly availability `from`–`to` (UTC hours) on every day.
async fn rule(app: &TestApp, a: &Acct, from: &str, to: &str) {
    daily(app, a, from, to).await;
}

async fn busy(app: &TestApp, a: &Acct, id: &str, start: String, end: String) {
    let (s, b) = app
        .call(
            Method::POST,
            &format!("/v1/calendars/{}/events", a.calendar_id),
            Some(&a.token),
            Some(json!({"event_id": id, "summary": "busy", "start": start, "end": end})),
        )
        .await;
    assert_eq!(s, StatusCode::ACCEPTED, "{b}");
}

async fn create(app: &TestApp, bearer: &str, body: Value) -> (StatusCode, Value) {
    app.call(Method::POST, PATH, Some(bearer), Some(body)).await
}

async fn create_ok(app: &TestApp, bearer: &str, body: Value) -> Value {
    let (s, b) = create(app, bearer, body).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    b["scheduling_conversation"].clone()
}

async fn read(app: &TestApp, bearer: &str, id: &str) -> Value {
    let (s, b) = app
        .call(Method::GET, &format!("{PATH}/{id}"), Some(bearer), None)
        .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    b["scheduling_conversation"].clone()
}

/// The slots URL of the participant at `i` (absent when it has nothing to do).
fn slots_url(conv: &Value, i: usize) -> Option<String> {
    let a = &conv["participants"][i]["possible_actions"];
    let list = a["slots_list"]["url"].as_str()?;
    assert_eq!(a["slots_select"]["url"].as_str(), Some(list));
    Some(list.to_string())
}

fn token_of(url: &str) -> String {
    url.split("/participants/")
        .nth(1)
        .and_then(|s| s.split('/').next())
        .unwrap()
        .to_string()
}

/// Lists slots with no credentials but the URL's token.
async fn list(app: &TestApp, url: &str) -> Vec<Value> {
    let (s, b) = app.call(Method::GET, url, None, None).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    b["slots"].as_array().unwrap().clone()
}

async fn select(app: &TestApp, url: &str, slot_id: &str) -> (StatusCode, Value) {
    app.call(
        Method::POST,
        url,
        None,
        Some(json!({"selected_slots": [{"slot_id": slot_id}]})),
    )
    .await
}

fn ts(v: &Value) -> Timestamp {
    v.as_str().unwrap().parse().unwrap()
}

/// Every JSON null in a value, by path: the wire never carries one.
fn nulls(v: &Value, path: &str, out: &mut Vec<String>) {
    match v {
        Value::Null => out.push(path.to_string()),
        Value::Array(a) => a
            .iter()
            .enumerate()
            .for_each(|(i, x)| nulls(x, &format!("{path}[{i}]"), out)),
        Value::Object(m) => m
            .iter()
            .for_each(|(k, x)| nulls(x, &format!("{path}.{k}"), out)),
        _ => {}
    }
}

/// The events of an account's calendar over a day, as `GET /v1/events` reads them.
async fn events_on(app: &TestApp, a: &Acct, day: Date) -> Vec<Value> {
    let (s, b) = app
        .call(
            Method::GET,
            &format!(
                "/v1/events?tzid=Etc/UTC&from={day}&to={}",
                day.tomorrow().unwrap()
            ),
            Some(&a.token),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    b["events"].as_array().unwrap().clone()
}

fn with_event_id<'a>(events: &'a [Value], id: &str) -> Vec<&'a Value> {
    events
        .iter()
        .filter(|e| e["event_id"] == json!(id))
        .collect()
}

/// The seed's example, with a real account for Grace and a future date.
fn seed_body(grace_sub: &str, day: Date) -> Value {
    json!({
        "participants": [
            {
                "participant_id": "@grace",
                "sub": grace_sub,
                "email": "",
                "common_name": "Grace Devlin",
                "managed_availability": true,
                "slots": {"selection_method": "auto"}
            },
            {"participant_id": "@karl", "common_name": "Karl Cramer"}
        ],
        "tzid": "America/Chicago",
        "subject": "Project Titan review",
        "event": {"location": {"description": "Board Room"}},
        "required_duration": {"minutes": 60},
        "available_periods": [{"start": at(day, 9, 0), "end": at(day, 18, 0)}]
    })
}

async fn kinds(app: &TestApp, id: &str) -> Vec<(String, String)> {
    app.db
        .conversation_notifications(id)
        .await
        .unwrap()
        .into_iter()
        .map(|n| {
            let p: Value = serde_json::from_str(&n.payload_json).unwrap();
            assert_eq!(p["notification"]["type"], json!(n.kind));
            assert_eq!(p["notification"]["scheduling_conversation_id"], json!(id));
            (n.kind, n.account_id.unwrap_or_default())
        })
        .collect()
}

both!(seed_example_answers_the_representation);
async fn seed_example_answers_the_representation(app: TestApp) {
    let c = app.client("Acme").await;
    let grace = app.account(&c, "grace").await;
    rule(&app, &grace, "08:00", "18:00").await;
    let day = next_monday();
    let conv = create_ok(&app, &grace.token, seed_body(&grace.sub, day)).await;
    let id = conv["scheduling_conversation_id"].as_str().unwrap();
    assert!(id.starts_with("scv_"), "{conv}");
    assert_eq!(conv["status"], json!("in_progress"));
    assert_eq!(conv["tzid"], json!("America/Chicago"));
    assert_eq!(conv["subject"], json!("Project Titan review"));
    assert_eq!(
        conv["event"],
        json!({"location": {"description": "Board Room"}})
    );
    assert_eq!(conv["required_duration"], json!({"minutes": 60}));
    assert_eq!(
        conv["available_periods"],
        json!([{"start": at(day, 9, 0), "end": at(day, 18, 0)}])
    );
    let grace_p = &conv["participants"][0];
    assert_eq!(grace_p["participant_id"], json!("@grace"));
    assert_eq!(grace_p["sub"], json!(grace.sub));
    assert!(grace_p.get("email").is_none(), "blank email is absent");
    assert_eq!(grace_p["common_name"], json!("Grace Devlin"));
    assert_eq!(grace_p["slots"], json!({"selection_method": "auto"}));
    assert_eq!(grace_p["status"], json!("waiting"));
    assert_eq!(grace_p["possible_actions"], json!({}));
    let karl = &conv["participants"][1];
    assert_eq!(karl["participant_id"], json!("@karl"));
    assert_eq!(karl["slots"], json!({"selection_method": "manual"}));
    assert_eq!(karl["status"], json!("needs_action"));
    assert_eq!(karl["managed_availability"], json!(false));
    let url = slots_url(&conv, 1).unwrap();
    assert!(
        url.starts_with(&format!("{}{PATH}/{id}/participants/", app.base)),
        "{url}"
    );
    assert!(token_of(&url).len() >= 22, "a 128-bit token");
    assert!(!conv.to_string().contains("choice_method"));
    let mut found = Vec::new();
    nulls(&conv, "", &mut found);
    assert!(found.is_empty(), "nulls at {found:?}");

    // Read answers the same representation, with the same (stable) URLs.
    assert_eq!(read(&app, &grace.token, id).await, conv);

    // The token alone looks the conversation up, as Karl sees it.
    let (s, b) = app
        .call(
            Method::GET,
            &format!("{PATH}?token={}", token_of(&url)),
            None,
            None,
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    assert_eq!(b["participant"]["participant_id"], json!("@karl"));
    assert_eq!(
        b["scheduling_conversation"]["scheduling_conversation_id"],
        json!(id)
    );
    assert_eq!(
        slots_url(&b["scheduling_conversation"], 1),
        Some(url.clone())
    );

    // Karl's slots: 60 minutes each, inside 09:00–18:00 and Grace's 08:00–18:00.
    let slots = list(&app, &url).await;
    assert_eq!(slots.len(), 9, "{slots:?}");
    for (i, sl) in slots.iter().enumerate() {
        let s = ts(&sl["start"]);
        assert_eq!(s, at(day, 9 + i as u8, 0).parse::<Timestamp>().unwrap());
        assert_eq!(
            ts(&sl["end"]).duration_since(s),
            jiff::SignedDuration::from_hours(1)
        );
        assert_eq!(sl["slot_id"], json!(format!("slt_{}", s.as_second())));
    }
    assert_eq!(
        kinds(&app, id).await,
        vec![("scheduling_conversation_joined".into(), grace.sub.clone())]
    );
}

both!(older_spellings_are_accepted_and_the_current_one_emitted);
async fn older_spellings_are_accepted_and_the_current_one_emitted(app: TestApp) {
    let c = app.client("Acme").await;
    let grace = app.account(&c, "grace").await;
    let day = next_monday();
    let periods = json!([{"start": at(day, 9, 0), "end": at(day, 18, 0)}]);
    for (participants, want) in [
        (
            json!([{"participant_id": "@g", "common_name": "G", "slots": {"choice_method": "auto"}}, {"participant_id": "@k", "slot_choice": {"method": "manual"}}]),
            ["auto", "manual"],
        ),
        (
            json!([{"participant_id": "@g", "common_name": "G", "slot_choice": {"method": "auto"}}, {"participant_id": "@k", "slot_choice_method": "auto"}]),
            ["auto", "auto"],
        ),
    ] {
        let conv = create_ok(
            &app,
            &grace.token,
            json!({"participants": participants, "tzid": "Etc/UTC", "required_duration": {"hours": 1}, "available_periods": periods}),
        )
        .await;
        for (i, m) in want.iter().enumerate() {
            assert_eq!(
                conv["participants"][i]["slots"]["selection_method"],
                json!(m),
                "{conv}"
            );
        }
        let text = conv.to_string();
        assert!(!text.contains("choice_method") && !text.contains("slot_choice"));
    }
    // 2018: `actors` with `actor_id` and `slot_choice_method`.
    let conv = create_ok(
        &app,
        &grace.token,
        json!({
            "actors": [{"actor_id": "@g", "sub": grace.sub, "common_name": "G", "slot_choice_method": "manual"}, {"actor_id": "@k"}],
            "tzid": "Etc/UTC", "required_duration": {"minutes": 30}, "available_periods": periods
        }),
    )
    .await;
    assert_eq!(conv["participants"][0]["participant_id"], json!("@g"));
    assert_eq!(conv["participants"][0]["sub"], json!(grace.sub));
    assert_eq!(conv["participants"][1]["participant_id"], json!("@k"));
    // A form body works as well.
    let form = format!(
        "participants[0][participant_id]=@g&participants[0][common_name]=G&participants[1][email]=k@example.com&tzid=Etc/UTC&required_duration[minutes]=30&available_periods[0][start]={}&available_periods[0][end]={}",
        at(day, 9, 0),
        at(day, 10, 0)
    );
    let (s, b) = app
        .raw(
            app.http
                .post(app.url(PATH))
                .bearer_auth(&grace.token)
                .header("content-type", "application/x-www-form-urlencoded")
                .body(form),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    assert_eq!(
        b["scheduling_conversation"]["participants"][1]["email"],
        json!("k@example.com")
    );
}

both!(every_validation_rule_has_its_key);
async fn every_validation_rule_has_its_key(app: TestApp) {
    let c = app.client("Acme").await;
    let grace = app.account(&c, "grace").await;
    let other = app.client("Elsewhere").await;
    let stranger = app.account(&other, "stranger").await;
    let day = next_monday();
    let base = seed_body(&grace.sub, day);
    let past = Timestamp::now()
        .checked_sub(jiff::SignedDuration::from_hours(24))
        .unwrap()
        .strftime("%Y-%m-%dT%H:%M:%SZ")
        .to_string();
    let eleven: Vec<Value> = (0..11)
        .map(|i| json!({"start": at(day, i, 0), "end": at(day, i, 30)}))
        .collect();
    let far = day.checked_add(jiff::Span::new().days(35)).unwrap();
    let long = "x".repeat(1025);
    // (what to change, field, key)
    let cases: Vec<(Value, &str, &str)> = vec![
        (
            json!({"participants": null}),
            "participants",
            "errors.required",
        ),
        (
            json!({"participants": []}),
            "participants",
            "errors.required",
        ),
        (
            json!({"participants": {"a": 1}}),
            "participants",
            "errors.invalid",
        ),
        (
            json!({"participants": [{"participant_id": "@a", "common_name": "A"}, {"participant_id": "@b"}, {"participant_id": "@c"}]}),
            "participants",
            "errors.too_many",
        ),
        (
            json!({"participants": [{"participant_id": "@a", "common_name": "A"}, "karl"]}),
            "participants[1]",
            "errors.invalid",
        ),
        (
            json!({"participants": [{"participant_id": "@a", "common_name": "A"}, {"common_name": "Karl", "email": ""}]}),
            "participants[1].participant_id",
            "errors.required",
        ),
        (
            json!({"participants": [{"participant_id": "@a"}]}),
            "participants[0].common_name",
            "errors.required",
        ),
        (
            json!({"participants": [{"participant_id": "@a", "common_name": "  "}]}),
            "participants[0].common_name",
            "errors.required",
        ),
        (
            json!({"participants": [{"participant_id": "@a", "common_name": "A"}, {"email": "not-an-email"}]}),
            "participants[1].email",
            "errors.invalid",
        ),
        (
            json!({"participants": [{"participant_id": "@a", "common_name": "A", "slots": {"selection_method": "sometimes"}}]}),
            "participants[0].slots.selection_method",
            "errors.invalid",
        ),
        (
            json!({"participants": [{"participant_id": "@a", "common_name": "A", "slots": {"choice_method": "never"}}]}),
            "participants[0].slots.choice_method",
            "errors.invalid",
        ),
        (
            json!({"participants": [{"participant_id": "@a", "common_name": "A", "managed_availability": "maybe"}]}),
            "participants[0].managed_availability",
            "errors.invalid",
        ),
        (
            json!({"participants": [{"sub": "acc_000000000000000000000000", "common_name": "A"}]}),
            "participants[0].sub",
            "errors.not_recognized",
        ),
        (
            json!({"participants": [{"participant_id": "@a", "common_name": "A"}, {"sub": stranger.sub}]}),
            "participants[1].sub",
            "errors.not_recognized",
        ),
        (
            json!({"participants": [{"participant_id": "@a", "common_name": "A"}, {"participant_id": "@a"}]}),
            "participants[1].participant_id",
            "errors.duplicate",
        ),
        (
            json!({"participants": [{"participant_id": "@a", "sub": grace.sub, "common_name": "A"}, {"participant_id": "@b", "sub": grace.sub}]}),
            "participants[1].sub",
            "errors.duplicate",
        ),
        (
            json!({"participants": [{"participant_id": long, "common_name": "A"}]}),
            "participants[0].participant_id",
            "errors.too_long",
        ),
        (json!({"tzid": null}), "tzid", "errors.required"),
        (
            json!({"tzid": "Mars/Olympus_Mons"}),
            "tzid",
            "errors.invalid",
        ),
        (json!({"subject": long}), "subject", "errors.too_long"),
        (json!({"event": "Board Room"}), "event", "errors.invalid"),
        (
            json!({"event": {"location": 5}}),
            "event.location",
            "errors.invalid",
        ),
        (
            json!({"participants": [{"participant_id": "@grace", "common_name": "Grace", "slots": "auto"}]}),
            "participants[0].slots",
            "errors.invalid",
        ),
        (
            json!({"event": {"location": {"lat": true}}}),
            "event.location.lat",
            "errors.invalid",
        ),
        (
            json!({"required_duration": null}),
            "required_duration",
            "errors.required",
        ),
        (
            json!({"required_duration": {"minutes": 0}}),
            "required_duration",
            "errors.invalid",
        ),
        (
            json!({"required_duration": {"hours": 0, "minutes": 0}}),
            "required_duration",
            "errors.invalid",
        ),
        (
            json!({"required_duration": {"minutes": -30}}),
            "required_duration",
            "errors.invalid",
        ),
        (
            json!({"required_duration": {"hours": 1, "minutes": 75}}),
            "required_duration",
            "errors.invalid",
        ),
        (
            json!({"required_duration": "an hour"}),
            "required_duration",
            "errors.invalid",
        ),
        (
            json!({"available_periods": null}),
            "available_periods",
            "errors.required",
        ),
        (
            json!({"available_periods": []}),
            "available_periods",
            "errors.required",
        ),
        (
            json!({"available_periods": eleven}),
            "available_periods",
            "errors.too_many",
        ),
        (
            json!({"available_periods": [{"end": at(day, 10, 0)}]}),
            "available_periods[0].start",
            "errors.required",
        ),
        (
            json!({"available_periods": [{"start": at(day, 10, 0)}]}),
            "available_periods[0].end",
            "errors.required",
        ),
        (
            json!({"available_periods": [{"start": "next tuesday", "end": at(day, 10, 0)}]}),
            "available_periods[0].start",
            "errors.invalid",
        ),
        (
            json!({"available_periods": [{"start": format!("{day}"), "end": at(day, 10, 0)}]}),
            "available_periods[0].start",
            "errors.invalid",
        ),
        (
            json!({"available_periods": [{"start": past, "end": at(day, 10, 0)}]}),
            "available_periods[0].start",
            "errors.in_the_past",
        ),
        (
            json!({"available_periods": [{"start": at(day, 10, 0), "end": format!("{day}T10:00:30Z")}]}),
            "available_periods[0].end",
            "errors.too_short",
        ),
        (
            json!({"available_periods": [{"start": at(day, 10, 0), "end": at(day, 9, 0)}]}),
            "available_periods[0].end",
            "errors.too_short",
        ),
        (
            json!({"available_periods": [{"start": at(day, 9, 0), "end": at(day, 10, 0)}, {"start": at(day, 11, 0), "end": at(day, 11, 59)}]}),
            "available_periods[1].end",
            "errors.too_short",
        ),
        (
            json!({"available_periods": [{"start": at(day, 9, 0), "end": at(day, 10, 0)}, {"start": at(far, 8, 0), "end": at(far, 10, 0)}]}),
            "available_periods[1].end",
            "errors.too_long",
        ),
    ];
    for (change, field, key) in cases {
        let mut body = base.clone();
        for (k, v) in change.as_object().unwrap() {
            if v.is_null() {
                body.as_object_mut().unwrap().remove(k);
            } else {
                body[k] = v.clone();
            }
        }
        let (s, b) = create(&app, &grace.token, body).await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{change}: {b}");
        assert_eq!(err_key(&b, field), key, "{change}: {b}");
        assert!(
            b["errors"][field][0]["description"]
                .as_str()
                .is_some_and(|d| !d.is_empty()),
            "{b}"
        );
    }
    // Exactly 35 days from the earliest start is allowed; exactly one minute
    // too, for a one-minute meeting.
    let mut body = base.clone();
    body["required_duration"] = json!({"minutes": 1});
    body["available_periods"] = json!([
        {"start": at(day, 9, 0), "end": at(day, 9, 1)},
        {"start": at(far, 8, 0), "end": at(far, 9, 0)}
    ]);
    create_ok(&app, &grace.token, body).await;
    // One answer names every problem.
    let (s, b) = create(
        &app,
        &grace.token,
        json!({"participants": [{"participant_id": "@a"}]}),
    )
    .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    for (field, key) in [
        ("participants[0].common_name", "errors.required"),
        ("tzid", "errors.required"),
        ("required_duration", "errors.required"),
        ("available_periods", "errors.required"),
    ] {
        assert_eq!(err_key(&b, field), key, "{b}");
    }
    // Who may create.
    let (s, _) = app.call(Method::POST, PATH, None, Some(base.clone())).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    let (s, _) = create(&app, &c.client_secret, base.clone()).await;
    assert_eq!(
        s,
        StatusCode::FORBIDDEN,
        "an app credential needs Cronofy-Impersonate"
    );
    let (s, b) = app
        .raw(
            app.http
                .post(app.url(PATH))
                .bearer_auth(&c.client_secret)
                .header("Cronofy-Impersonate", &grace.sub)
                .json(&base),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    // A stranger's token cannot put Grace (another unit) in a conversation.
    let (s, b) = create(&app, &stranger.token, base.clone()).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(err_key(&b, "participants[0].sub"), "errors.not_recognized");
}

/// Alice (auto, managed) and Bob (manual, managed) with rules and busy events.
struct Pair {
    c: Client,
    alice: Acct,
    bob: Acct,
    day: Date,
}

async fn pair(app: &TestApp) -> Pair {
    let c = app.client("Acme").await;
    let alice = app.account(&c, "alice").await;
    let bob = app.account(&c, "bob").await;
    let day = next_monday();
    rule(app, &alice, "09:00", "17:00").await;
    rule(app, &bob, "12:00", "20:00").await;
    busy(app, &alice, "a1", at(day, 13, 0), at(day, 14, 0)).await;
    busy(app, &bob, "b1", at(day, 15, 0), at(day, 15, 30)).await;
    Pair { c, alice, bob, day }
}

fn pair_body(p: &Pair, bob_method: &str) -> Value {
    json!({
        "participants": [
            {"participant_id": "@alice", "sub": p.alice.sub, "common_name": "Alice", "managed_availability": true, "slots": {"selection_method": "auto"}},
            {"participant_id": "@bob", "sub": p.bob.sub, "common_name": "Bob", "email": "bob@example.com", "managed_availability": true, "slots": {"selection_method": bob_method}}
        ],
        "tzid": "Europe/London",
        "subject": "Quarterly review",
        "event": {"location": {"description": "Room 101"}},
        "required_duration": {"minutes": 60},
        "available_periods": [{"start": at(p.day, 0, 0), "end": at(p.day.tomorrow().unwrap(), 0, 0)}]
    })
}

both!(a_conversation_ends_in_both_calendars);
async fn a_conversation_ends_in_both_calendars(app: TestApp) {
    let p = pair(&app).await;
    let conv = create_ok(&app, &p.alice.token, pair_body(&p, "manual")).await;
    let id = conv["scheduling_conversation_id"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        slots_url(&conv, 0).is_none(),
        "auto participants have no actions"
    );
    let url = slots_url(&conv, 1).unwrap();

    // Both free: 12:00–17:00 less Alice's 13:00–14:00 and Bob's 15:00–15:30.
    let slots = list(&app, &url).await;
    let got: Vec<(String, String)> = slots
        .iter()
        .map(|s| {
            (
                s["start"].as_str().unwrap().into(),
                s["end"].as_str().unwrap().into(),
            )
        })
        .collect();
    let d = p.day;
    assert_eq!(
        got,
        vec![
            (at(d, 12, 0), at(d, 13, 0)),
            (at(d, 14, 0), at(d, 15, 0)),
            (at(d, 15, 30), at(d, 16, 30)),
        ]
    );
    let busy_times = [(at(d, 13, 0), at(d, 14, 0)), (at(d, 15, 0), at(d, 15, 30))];
    for s in &slots {
        let (a, b) = (ts(&s["start"]), ts(&s["end"]));
        assert!(a >= at(d, 12, 0).parse().unwrap() && b <= at(d, 17, 0).parse().unwrap());
        for (x, y) in &busy_times {
            assert!(
                b <= x.parse().unwrap() || a >= y.parse().unwrap(),
                "{s} overlaps a busy event"
            );
        }
    }

    let chosen = slots[1].clone();
    let (s, b) = select(&app, &url, chosen["slot_id"].as_str().unwrap()).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    let done = &b["scheduling_conversation"];
    assert_eq!(done["status"], json!("complete"));
    assert_eq!(
        done["chosen_slot"],
        json!({"available_slot_id": chosen["slot_id"], "start": chosen["start"], "end": chosen["end"]})
    );
    for i in 0..2 {
        assert_eq!(
            done["participants"][i]["status"],
            json!("complete"),
            "{done}"
        );
        assert_eq!(
            done["participants"][i]["slots"]["selected"],
            json!([chosen])
        );
        assert_eq!(done["participants"][i]["possible_actions"], json!({}));
    }
    assert_eq!(read(&app, &p.alice.token, &id).await, *done);

    for (acct, other) in [(&p.alice, "bob@example.com"), (&p.bob, "bob@example.com")] {
        let events = events_on(&app, acct, d).await;
        let mine = with_event_id(&events, &id);
        assert_eq!(mine.len(), 1, "{events:?}");
        let e = mine[0];
        assert_eq!(e["summary"], json!("Quarterly review"));
        assert_eq!(e["start"], chosen["start"]);
        assert_eq!(e["end"], chosen["end"]);
        assert_eq!(e["location"], json!({"description": "Room 101"}));
        assert_eq!(e["participation_status"], json!("accepted"));
        assert!(
            e["attendees"]
                .as_array()
                .unwrap()
                .iter()
                .any(|a| a["email"] == json!(other)),
            "{e}"
        );
    }
    // The booked meeting now blocks both: a new conversation offers 14:00 no more.
    let again = create_ok(&app, &p.alice.token, pair_body(&p, "manual")).await;
    let fresh = list(&app, &slots_url(&again, 1).unwrap()).await;
    assert!(
        fresh.iter().all(|s| s["start"] != chosen["start"]),
        "{fresh:?}"
    );

    // Finished: nothing more to choose.
    assert!(list(&app, &url).await.is_empty());
    let (s, b) = select(&app, &url, slots[0]["slot_id"].as_str().unwrap()).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        err_key(&b, "selected_slots"),
        "errors.conversation_complete"
    );

    let mut k = kinds(&app, &id).await;
    k.sort();
    let mut want = vec![
        (
            "scheduling_conversation_joined".to_string(),
            p.alice.sub.clone(),
        ),
        (
            "scheduling_conversation_joined".to_string(),
            p.bob.sub.clone(),
        ),
        (
            "scheduling_conversation_updated".to_string(),
            p.alice.sub.clone(),
        ),
        (
            "scheduling_conversation_updated".to_string(),
            p.bob.sub.clone(),
        ),
    ];
    want.sort();
    assert_eq!(k, want);
}

both!(a_taken_slot_is_refused_with_fresh_slots);
async fn a_taken_slot_is_refused_with_fresh_slots(app: TestApp) {
    let p = pair(&app).await;
    let conv = create_ok(&app, &p.alice.token, pair_body(&p, "manual")).await;
    let url = slots_url(&conv, 1).unwrap();
    let slots = list(&app, &url).await;
    let d = p.day;
    // Alice gets busy over the first slot after Bob listed it.
    busy(&app, &p.alice, "a2", at(d, 12, 0), at(d, 12, 30)).await;
    let (s, b) = select(&app, &url, slots[0]["slot_id"].as_str().unwrap()).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{b}");
    assert_eq!(
        err_key(&b, "selected_slots[0].slot_id"),
        "errors.slot_unavailable"
    );
    let fresh = b["slots"].as_array().unwrap();
    assert!(!fresh.is_empty());
    assert!(fresh.iter().all(|s| s["start"] != slots[0]["start"]), "{b}");
    assert_eq!(fresh[0]["start"], json!(at(d, 14, 0)));

    // Bad selections, each with its key.
    for (body, field, key) in [
        (json!({}), "selected_slots", "errors.required"),
        (
            json!({"selected_slots": []}),
            "selected_slots",
            "errors.required",
        ),
        (
            json!({"selected_slots": [{"slot_id": slots[1]["slot_id"]}, {"slot_id": slots[2]["slot_id"]}]}),
            "selected_slots",
            "errors.too_many",
        ),
        (
            json!({"selected_slots": [{}]}),
            "selected_slots[0].slot_id",
            "errors.required",
        ),
        (
            json!({"selected_slots": [{"slot_id": "slt_nonsense"}]}),
            "selected_slots[0].slot_id",
            "errors.unknown_slot",
        ),
        (
            // 14:05 is off the slot grid.
            json!({"selected_slots": [{"slot_id": format!("slt_{}", at(d, 14, 5).parse::<Timestamp>().unwrap().as_second())}]}),
            "selected_slots[0].slot_id",
            "errors.unknown_slot",
        ),
        (
            // Outside the conversation's periods.
            json!({"selected_slots": [{"slot_id": format!("slt_{}", at(d.tomorrow().unwrap(), 14, 0).parse::<Timestamp>().unwrap().as_second())}]}),
            "selected_slots[0].slot_id",
            "errors.unknown_slot",
        ),
        (
            // Inside the periods, but outside Bob's rules.
            json!({"selected_slots": [{"slot_id": format!("slt_{}", at(d, 21, 0).parse::<Timestamp>().unwrap().as_second())}]}),
            "selected_slots[0].slot_id",
            "errors.slot_unavailable",
        ),
    ] {
        let (s, b) = app.call(Method::POST, &url, None, Some(body.clone())).await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{body}: {b}");
        assert_eq!(err_key(&b, field), key, "{body}: {b}");
    }
    // A selection by start (older clients) works too.
    let (s, b) = app
        .call(
            Method::POST,
            &url,
            None,
            Some(json!({"slots": [{"start": at(d, 14, 0), "end": at(d, 15, 0)}]})),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    assert_eq!(
        b["scheduling_conversation"]["chosen_slot"]["start"],
        json!(at(d, 14, 0))
    );
}

both!(two_manual_participants_propose_and_accept);
async fn two_manual_participants_propose_and_accept(app: TestApp) {
    let c = app.client("Acme").await;
    let alice = app.account(&c, "alice").await;
    rule(&app, &alice, "09:00", "17:00").await;
    let day = next_monday();
    let conv = create_ok(
        &app,
        &alice.token,
        json!({
            "participants": [
                {"participant_id": "@alice", "sub": alice.sub, "common_name": "Alice", "managed_availability": true},
                {"participant_id": "@karl", "email": "karl@example.com", "common_name": "Karl"}
            ],
            "tzid": "Etc/UTC",
            "required_duration": {"minutes": 30},
            "available_periods": [{"start": at(day, 8, 0), "end": at(day, 12, 0)}]
        }),
    )
    .await;
    let id = conv["scheduling_conversation_id"]
        .as_str()
        .unwrap()
        .to_string();
    let (a_url, k_url) = (slots_url(&conv, 0).unwrap(), slots_url(&conv, 1).unwrap());
    assert_ne!(token_of(&a_url), token_of(&k_url));
    let all = list(&app, &k_url).await;
    assert_eq!(all.len(), 6, "09:00–12:00 in half hours: {all:?}");
    assert_eq!(list(&app, &a_url).await, all);

    // Alice proposes 10:00: she waits, Karl's list narrows to it.
    let (s, b) = select(&app, &a_url, all[2]["slot_id"].as_str().unwrap()).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    let cv = &b["scheduling_conversation"];
    assert_eq!(cv["status"], json!("in_progress"));
    assert_eq!(cv["participants"][0]["status"], json!("waiting"));
    assert_eq!(cv["participants"][0]["slots"]["selected"], json!([all[2]]));
    assert_eq!(cv["participants"][0]["possible_actions"], json!({}));
    assert_eq!(cv["participants"][1]["status"], json!("needs_action"));
    assert!(
        cv["participants"][1]["possible_actions"]
            .as_object()
            .unwrap()
            .is_empty(),
        "Alice's view does not carry Karl's link"
    );
    assert_eq!(list(&app, &k_url).await, vec![all[2].clone()]);
    assert_eq!(list(&app, &format!("{k_url}?alternatives=true")).await, all);
    // While she waits, Alice may list every open slot to revise her proposal.
    assert_eq!(list(&app, &a_url).await, all);

    // Karl answers with another time: the roles swap.
    let (s, b) = select(&app, &k_url, all[4]["slot_id"].as_str().unwrap()).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    let cv = &b["scheduling_conversation"];
    assert_eq!(cv["participants"][0]["status"], json!("needs_action"));
    assert!(
        cv["participants"][0]["slots"].get("selected").is_none(),
        "{cv}"
    );
    assert_eq!(cv["participants"][1]["status"], json!("waiting"));
    assert_eq!(cv["participants"][1]["slots"]["selected"], json!([all[4]]));
    assert_eq!(list(&app, &a_url).await, vec![all[4].clone()]);
    let owner = read(&app, &alice.token, &id).await;
    assert_eq!(slots_url(&owner, 0), Some(a_url.clone()));
    assert_eq!(slots_url(&owner, 1), None);

    // Alice accepts: complete, one meeting in her calendar.
    let (s, b) = select(&app, &a_url, all[4]["slot_id"].as_str().unwrap()).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    let cv = &b["scheduling_conversation"];
    assert_eq!(cv["status"], json!("complete"));
    assert_eq!(cv["chosen_slot"]["available_slot_id"], all[4]["slot_id"]);
    for i in 0..2 {
        assert_eq!(cv["participants"][i]["status"], json!("complete"));
        assert_eq!(cv["participants"][i]["slots"]["selected"], json!([all[4]]));
    }
    let events = events_on(&app, &alice, day).await;
    let mine = with_event_id(&events, &id);
    assert_eq!(mine.len(), 1);
    assert_eq!(mine[0]["start"], all[4]["start"]);
    assert_eq!(mine[0]["summary"], json!("Meeting"));
    let updates = kinds(&app, &id)
        .await
        .into_iter()
        .filter(|(k, _)| k == "scheduling_conversation_updated")
        .count();
    assert_eq!(updates, 3, "two proposals and the completion");
}

both!(a_lapsed_proposal_reopens_the_list);
async fn a_lapsed_proposal_reopens_the_list(app: TestApp) {
    let c = app.client("Acme").await;
    let alice = app.account(&c, "alice").await;
    rule(&app, &alice, "09:00", "17:00").await;
    let day = next_monday();
    let conv = create_ok(
        &app,
        &alice.token,
        json!({
            "participants": [
                {"participant_id": "@karl", "common_name": "Karl"},
                {"participant_id": "@alice", "sub": alice.sub, "managed_availability": true}
            ],
            "tzid": "Etc/UTC",
            "required_duration": {"minutes": 60},
            "available_periods": [{"start": at(day, 9, 0), "end": at(day, 12, 0)}]
        }),
    )
    .await;
    let (k_url, a_url) = (slots_url(&conv, 0).unwrap(), slots_url(&conv, 1).unwrap());
    let all = list(&app, &k_url).await;
    assert_eq!(all.len(), 3);
    let (s, b) = select(&app, &k_url, all[0]["slot_id"].as_str().unwrap()).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    assert_eq!(list(&app, &a_url).await, vec![all[0].clone()]);
    // Alice gets busy at the proposed time: her list is everything still open.
    busy(&app, &alice, "x", at(day, 9, 0), at(day, 10, 0)).await;
    assert_eq!(list(&app, &a_url).await, all[1..].to_vec());
    let (s, b) = select(&app, &a_url, all[0]["slot_id"].as_str().unwrap()).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        err_key(&b, "selected_slots[0].slot_id"),
        "errors.slot_unavailable"
    );
    assert_eq!(b["slots"], json!(all[1..].to_vec()));
}

both!(racing_selections_choose_exactly_one_slot);
async fn racing_selections_choose_exactly_one_slot(app: TestApp) {
    let c = app.client("Acme").await;
    let alice = app.account(&c, "alice").await;
    let bob = app.account(&c, "bob").await;
    rule(&app, &alice, "00:00", "00:00").await;
    rule(&app, &bob, "00:00", "00:00").await;
    let day = next_monday();
    let conv = create_ok(
        &app,
        &alice.token,
        json!({
            "participants": [
                {"participant_id": "@alice", "sub": alice.sub, "common_name": "Alice", "managed_availability": true, "slots": {"selection_method": "auto"}},
                {"participant_id": "@bob", "sub": bob.sub, "managed_availability": true}
            ],
            "tzid": "Etc/UTC",
            "required_duration": {"minutes": 30},
            "available_periods": [{"start": at(day, 8, 0), "end": at(day, 20, 0)}]
        }),
    )
    .await;
    let id = conv["scheduling_conversation_id"]
        .as_str()
        .unwrap()
        .to_string();
    let url = slots_url(&conv, 1).unwrap();
    let slots = list(&app, &url).await;
    assert!(slots.len() >= 20);
    let mut set = tokio::task::JoinSet::new();
    for s in slots.iter().take(20) {
        let (http, url, slot) = (app.http.clone(), url.clone(), s["slot_id"].clone());
        set.spawn(async move {
            let r = http
                .post(&url)
                .json(&json!({"selected_slots": [{"slot_id": slot}]}))
                .send()
                .await
                .unwrap();
            let status = r.status();
            (status, slot, r.json::<Value>().await.unwrap())
        });
    }
    let mut winners = Vec::new();
    while let Some(r) = set.join_next().await {
        let (status, slot, body) = r.unwrap();
        if status == StatusCode::OK {
            winners.push(slot);
        } else {
            assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
            assert_eq!(
                err_key(&body, "selected_slots"),
                "errors.conversation_complete"
            );
        }
    }
    assert_eq!(winners.len(), 1, "{winners:?}");
    let done = read(&app, &alice.token, &id).await;
    assert_eq!(done["status"], json!("complete"));
    assert_eq!(done["chosen_slot"]["available_slot_id"], winners[0]);
    for a in [&alice, &bob] {
        let events = events_on(&app, a, day).await;
        let mine = with_event_id(&events, &id);
        assert_eq!(mine.len(), 1, "{events:?}");
        assert_eq!(mine[0]["start"], done["chosen_slot"]["start"]);
    }
}

both!(racing_proposals_never_book_two_slots);
async fn racing_proposals_never_book_two_slots(app: TestApp) {
    let c = app.client("Acme").await;
    let alice = app.account(&c, "alice").await;
    let day = next_monday();
    let conv = create_ok(
        &app,
        &alice.token,
        json!({
            "participants": [
                {"participant_id": "@alice", "sub": alice.sub, "common_name": "Alice"},
                {"participant_id": "@karl"}
            ],
            "tzid": "Etc/UTC",
            "required_duration": {"minutes": 30},
            "available_periods": [{"start": at(day, 8, 0), "end": at(day, 12, 0)}]
        }),
    )
    .await;
    let id = conv["scheduling_conversation_id"]
        .as_str()
        .unwrap()
        .to_string();
    let urls = [slots_url(&conv, 0).unwrap(), slots_url(&conv, 1).unwrap()];
    let slots = list(&app, &urls[0]).await;
    // Both sides fire at once; half of the picks are the same slot.
    let mut set = tokio::task::JoinSet::new();
    for i in 0..20 {
        let url = urls[i % 2].clone();
        let slot = if i % 4 < 2 {
            slots[0]["slot_id"].clone()
        } else {
            slots[1 + i % slots.len().saturating_sub(1).max(1)]["slot_id"].clone()
        };
        let http = app.http.clone();
        set.spawn(async move {
            http.post(&url)
                .json(&json!({"selected_slots": [{"slot_id": slot}]}))
                .send()
                .await
                .unwrap()
                .status()
        });
    }
    while let Some(s) = set.join_next().await {
        let s = s.unwrap();
        assert!(
            s == StatusCode::OK || s == StatusCode::UNPROCESSABLE_ENTITY,
            "{s}"
        );
    }
    let cv = read(&app, &alice.token, &id).await;
    let selected: Vec<&Value> = cv["participants"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|p| p["slots"]["selected"].get(0))
        .collect();
    let events = events_on(&app, &alice, day).await;
    let mine = with_event_id(&events, &id);
    if cv["status"] == json!("complete") {
        assert_eq!(selected.len(), 2);
        assert_eq!(selected[0], selected[1]);
        assert_eq!(
            cv["chosen_slot"]["available_slot_id"],
            selected[0]["slot_id"]
        );
        assert_eq!(mine.len(), 1);
    } else {
        assert_eq!(cv["status"], json!("in_progress"));
        assert_eq!(selected.len(), 1, "one live proposal: {cv}");
        let waiting = cv["participants"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|p| p["status"] == json!("waiting"))
            .count();
        assert_eq!(waiting, 1, "{cv}");
        assert!(mine.is_empty());
    }
}

both!(nobody_choosing_books_the_first_open_slot);
async fn nobody_choosing_books_the_first_open_slot(app: TestApp) {
    let p = pair(&app).await;
    let conv = create_ok(&app, &p.alice.token, pair_body(&p, "auto")).await;
    let id = conv["scheduling_conversation_id"].as_str().unwrap();
    assert_eq!(conv["status"], json!("complete"), "{conv}");
    assert_eq!(conv["chosen_slot"]["start"], json!(at(p.day, 12, 0)));
    for a in [&p.alice, &p.bob] {
        let events = events_on(&app, a, p.day).await;
        assert_eq!(with_event_id(&events, id).len(), 1);
    }
    // With no time free yet it waits, and books once a time opens.
    let carol = app.account(&p.c, "carol").await;
    rule(&app, &carol, "14:00", "15:00").await;
    let body = json!({
        "participants": [
            {"participant_id": "@carol", "sub": carol.sub, "common_name": "Carol", "managed_availability": true, "slots": {"selection_method": "auto"}}
        ],
        "tzid": "Etc/UTC",
        "required_duration": {"minutes": 60},
        "available_periods": [{"start": at(p.day, 9, 0), "end": at(p.day, 12, 0)}]
    });
    let conv = create_ok(&app, &carol.token, body).await;
    let id = conv["scheduling_conversation_id"].as_str().unwrap();
    assert_eq!(conv["status"], json!("in_progress"));
    assert_eq!(conv["participants"][0]["status"], json!("waiting"));
    rule(&app, &carol, "10:00", "11:00").await;
    let now = read(&app, &carol.token, id).await;
    assert_eq!(now["status"], json!("complete"));
    assert_eq!(now["chosen_slot"]["start"], json!(at(p.day, 10, 0)));
}

/// Makes a month pass for the server: every period of these tests ends
/// within two weeks.
fn age(app: &TestApp) {
    app.clock
        .advance(std::time::Duration::from_secs(30 * 24 * 3600));
}

both!(a_conversation_expires_when_its_periods_pass);
async fn a_conversation_expires_when_its_periods_pass(app: TestApp) {
    let c = app.client("Acme").await;
    let grace = app.account(&c, "grace").await;
    rule(&app, &grace, "08:00", "18:00").await;
    let conv = create_ok(&app, &grace.token, seed_body(&grace.sub, next_monday())).await;
    let id = conv["scheduling_conversation_id"]
        .as_str()
        .unwrap()
        .to_string();
    let url = slots_url(&conv, 1).unwrap();
    let slot = list(&app, &url).await[0]["slot_id"]
        .as_str()
        .unwrap()
        .to_string();
    age(&app);

    let (s, b) = select(&app, &url, &slot).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(err_key(&b, "selected_slots"), "errors.conversation_expired");
    let cv = read(&app, &grace.token, &id).await;
    assert_eq!(cv["status"], json!("expired"));
    assert!(cv.get("chosen_slot").is_none());
    assert_eq!(cv["participants"][1]["possible_actions"], json!({}));
    assert_eq!(
        app.db.conversation(&id).await.unwrap().unwrap().status,
        ConversationStatus::Expired
    );
    assert!(list(&app, &url).await.is_empty());
    let updates: Vec<_> = kinds(&app, &id)
        .await
        .into_iter()
        .filter(|(k, _)| k == "scheduling_conversation_updated")
        .collect();
    assert_eq!(
        updates,
        vec![(
            "scheduling_conversation_updated".to_string(),
            grace.sub.clone()
        )]
    );
}

both!(a_plain_read_notices_expiry);
async fn a_plain_read_notices_expiry(app: TestApp) {
    let c = app.client("Acme").await;
    let grace = app.account(&c, "grace").await;
    rule(&app, &grace, "08:00", "18:00").await;
    let conv = create_ok(&app, &grace.token, seed_body(&grace.sub, next_monday())).await;
    let id = conv["scheduling_conversation_id"]
        .as_str()
        .unwrap()
        .to_string();
    age(&app);
    assert_eq!(
        read(&app, &grace.token, &id).await["status"],
        json!("expired")
    );
}

both!(only_its_owners_read_a_conversation);
async fn only_its_owners_read_a_conversation(app: TestApp) {
    let p = pair(&app).await;
    let conv = create_ok(&app, &p.alice.token, pair_body(&p, "manual")).await;
    let id = conv["scheduling_conversation_id"]
        .as_str()
        .unwrap()
        .to_string();
    let path = format!("{PATH}/{id}");
    // Creator and participants: yes.
    read(&app, &p.alice.token, &id).await;
    read(&app, &p.bob.token, &id).await;
    // The application credential of the same unit: yes.
    let (s, b) = app
        .raw(
            app.http
                .get(app.url(&path))
                .bearer_auth(&p.c.client_secret)
                .header("Cronofy-Impersonate", &p.bob.sub),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    // Another account of the unit, or another unit: not found.
    let carol = app.account(&p.c, "carol").await;
    let (s, _) = app.call(Method::GET, &path, Some(&carol.token), None).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let other = app.client("Elsewhere").await;
    let stranger = app.account(&other, "stranger").await;
    let (s, _) = app
        .call(Method::GET, &path, Some(&stranger.token), None)
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, _) = app.call(Method::GET, &path, None, None).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    let (s, _) = app
        .call(
            Method::GET,
            &format!("{PATH}/scv_000000000000000000000000"),
            Some(&p.alice.token),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);

    // Tokens: unknown, or another conversation's, find nothing.
    let (s, b) = app.call(Method::GET, PATH, None, None).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(err_key(&b, "token"), "errors.required");
    let (s, _) = app
        .call(Method::GET, &format!("{PATH}?token=nope"), None, None)
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let url = slots_url(&conv, 1).unwrap();
    let forged = url.replace(&token_of(&url), "AAAAAAAAAAAAAAAAAAAAAA");
    let (s, _) = app.call(Method::GET, &forged, None, None).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let second = create_ok(&app, &p.alice.token, pair_body(&p, "manual")).await;
    let cross = format!(
        "{}{PATH}/{}/participants/{}/slots",
        app.base,
        second["scheduling_conversation_id"].as_str().unwrap(),
        token_of(&url)
    );
    let (s, _) = app.call(Method::GET, &cross, None, None).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, _) = select(&app, &cross, "slt_1").await;
    assert_eq!(s, StatusCode::NOT_FOUND);
}

both!(unmanaged_participants_are_never_double_booked);
async fn unmanaged_participants_are_never_double_booked(app: TestApp) {
    let c = app.client("Acme").await;
    let doc = app.account(&c, "doc").await;
    let marty = app.account(&c, "marty").await;
    let day = next_monday();
    let (s, _) = app
        .call(Method::POST, &format!("/v1/calendars/{}/events", marty.calendar_id), Some(&marty.token), Some(json!({
            "event_id": "busy", "summary": "Marty is busy", "start": at(day, 10, 0), "end": at(day, 11, 0)
        })))
        .await;
    assert_eq!(s, StatusCode::ACCEPTED);
    // Neither has managed availability; both are `auto`; the only hour is Marty's busy one.
    let (s, b) = app
        .call(Method::POST, PATH, Some(&doc.token), Some(json!({
            "participants": [
                {"participant_id": "@doc", "sub": doc.sub, "common_name": "Doc", "slots": {"selection_method": "auto"}},
                {"participant_id": "@marty", "sub": marty.sub, "slots": {"selection_method": "auto"}}
            ],
            "tzid": "Etc/UTC", "required_duration": {"minutes": 60},
            "available_periods": [{"start": at(day, 10, 0), "end": at(day, 11, 0)}]
        })))
        .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    assert_ne!(
        b["scheduling_conversation"]["status"],
        json!("complete"),
        "{b}"
    );
    let (_, evs) = app
        .call(
            Method::GET,
            "/v1/events?tzid=Etc/UTC",
            Some(&marty.token),
            None,
        )
        .await;
    assert_eq!(
        evs["events"].as_array().unwrap().len(),
        1,
        "only Marty's own event: {evs}"
    );
}

both!(auto_only_conversations_book_when_a_slot_opens_without_a_read);
async fn auto_only_conversations_book_when_a_slot_opens_without_a_read(app: TestApp) {
    let c = app.client("Acme").await;
    let ann = app.account(&c, "ann").await;
    let dan = app.account(&c, "dan").await;
    let day = next_monday();
    let dan_events = format!("/v1/calendars/{}/events", dan.calendar_id);
    let (s, _) = app
        .call(Method::POST, &dan_events, Some(&dan.token), Some(json!({"event_id": "away", "summary": "away", "start": at(day, 9, 0), "end": at(day, 11, 0)})))
        .await;
    assert_eq!(s, StatusCode::ACCEPTED);
    let (s, b) = app
        .call(Method::POST, PATH, Some(&ann.token), Some(json!({
            "participants": [
                {"participant_id": "@ann", "sub": ann.sub, "common_name": "Ann", "slots": {"selection_method": "auto"}},
                {"participant_id": "@dan", "sub": dan.sub, "slots": {"selection_method": "auto"}}
            ],
            "tzid": "Etc/UTC", "required_duration": {"minutes": 60},
            "available_periods": [{"start": at(day, 9, 0), "end": at(day, 11, 0)}]
        })))
        .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    let id = b["scheduling_conversation"]["scheduling_conversation_id"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(b["scheduling_conversation"]["status"], json!("in_progress"));
    // Dan's time frees up; nobody reads the conversation.
    let (s, _) = app
        .call(
            Method::DELETE,
            &dan_events,
            Some(&dan.token),
            Some(json!({"event_id": "away"})),
        )
        .await;
    assert_eq!(s, StatusCode::ACCEPTED);
    for _ in 0..100 {
        if app.db.conversation(&id).await.unwrap().unwrap().status == ConversationStatus::Complete {
            let (_, evs) = app
                .call(
                    Method::GET,
                    "/v1/events?tzid=Etc/UTC",
                    Some(&dan.token),
                    None,
                )
                .await;
            assert!(
                evs["events"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|e| e["event_id"] == json!(id))
            );
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("the conversation did not complete on its own");
}

both!(a_proposer_whose_proposal_lapses_can_propose_again);
async fn a_proposer_whose_proposal_lapses_can_propose_again(app: TestApp) {
    let c = app.client("Acme").await;
    let ann = app.account(&c, "ann").await;
    let ben = app.account(&c, "ben").await;
    let day = next_monday();
    let (s, b) = app
        .call(
            Method::POST,
            PATH,
            Some(&ann.token),
            Some(json!({
                "participants": [
                    {"participant_id": "@ann", "sub": ann.sub, "common_name": "Ann"},
                    {"participant_id": "@ben", "sub": ben.sub}
                ],
                "tzid": "Etc/UTC", "required_duration": {"minutes": 60},
                "available_periods": [{"start": at(day, 9, 0), "end": at(day, 12, 0)}]
            })),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    let ann_url =
        b["scheduling_conversation"]["participants"][0]["possible_actions"]["slots_select"]["url"]
            .as_str()
            .unwrap()
            .to_string();
    let (_, list) = app.call(Method::GET, &ann_url, None, None).await;
    let first = list["slots"][0]["slot_id"].as_str().unwrap().to_string();
    let (s, _) = app
        .call(
            Method::POST,
            &ann_url,
            None,
            Some(json!({"selected_slots": [{"slot_id": first}]})),
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    // Ann's proposal stops being free.
    let (s, _) = app
        .call(Method::POST, &format!("/v1/calendars/{}/events", ann.calendar_id), Some(&ann.token), Some(json!({
            "event_id": "clash", "summary": "x", "start": list["slots"][0]["start"], "end": list["slots"][0]["end"]
        })))
        .await;
    assert_eq!(s, StatusCode::ACCEPTED);
    let (_, again) = app.call(Method::GET, &ann_url, None, None).await;
    let other = again["slots"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["slot_id"].as_str().unwrap().to_string())
        .find(|id| *id != first)
        .expect("open slots to revise with");
    let (s, b) = app
        .call(
            Method::POST,
            &ann_url,
            None,
            Some(json!({"selected_slots": [{"slot_id": other}]})),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    let parts = b["scheduling_conversation"]["participants"]
        .as_array()
        .unwrap();
    assert_eq!(parts[0]["status"], json!("waiting"));
    assert_eq!(parts[0]["slots"]["selected"][0]["slot_id"], json!(other));
}

/// Where `v` breaks `schema` (resolving `#/components/schemas` refs against
/// `doc`), stricter than JSON Schema in one way: every key of an object must
/// be a declared property, so an undocumented field fails too.
fn off_schema(doc: &Value, schema: &Value, v: &Value, path: &str, out: &mut Vec<String>) {
    if let Some(r) = schema["$ref"].as_str() {
        let name = r.trim_start_matches("#/components/schemas/");
        return off_schema(doc, &doc["components"]["schemas"][name], v, path, out);
    }
    if let Some(alts) = schema["oneOf"].as_array() {
        let fits = alts
            .iter()
            .filter(|s| {
                let mut e = Vec::new();
                off_schema(doc, s, v, path, &mut e);
                e.is_empty()
            })
            .count();
        if fits != 1 {
            out.push(format!("{path}: {fits} alternatives of oneOf fit {v}"));
        }
        return;
    }
    if let Some(allowed) = schema["enum"].as_array()
        && !allowed.contains(v)
    {
        out.push(format!("{path}: {v} is not one of {allowed:?}"));
    }
    let types: Vec<&str> = match &schema["type"] {
        Value::String(t) => vec![t.as_str()],
        Value::Array(ts) => ts.iter().filter_map(Value::as_str).collect(),
        _ => return,
    };
    let kind = match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(n) if n.is_i64() || n.is_u64() => "integer",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    };
    let fits = types.contains(&kind) || (kind == "integer" && types.contains(&"number"));
    if !fits {
        out.push(format!("{path}: {kind} where {types:?} is declared"));
        return;
    }
    match v {
        Value::Object(m) => {
            for k in schema["required"].as_array().into_iter().flatten() {
                if !m.contains_key(k.as_str().unwrap_or_default()) {
                    out.push(format!("{path}: required {k} is absent"));
                }
            }
            for (k, x) in m {
                match schema["properties"].get(k) {
                    Some(s) => off_schema(doc, s, x, &format!("{path}.{k}"), out),
                    None if schema["additionalProperties"].is_object() => off_schema(
                        doc,
                        &schema["additionalProperties"],
                        x,
                        &format!("{path}.{k}"),
                        out,
                    ),
                    None => out.push(format!("{path}.{k} is not declared")),
                }
            }
        }
        Value::Array(a) => {
            for (i, x) in a.iter().enumerate() {
                off_schema(doc, &schema["items"], x, &format!("{path}[{i}]"), out);
            }
        }
        _ => {}
    }
}

/// Asserts that `body` is what the document declares `method path` answers
/// with `status`.
fn assert_documented(doc: &Value, method: &str, path: &str, status: StatusCode, body: &Value) {
    let schema = &doc["paths"][path][method]["responses"][status.as_str()]["content"]["application/json"]
        ["schema"];
    assert!(
        schema.is_object(),
        "{method} {path} does not document {status}"
    );
    let mut out = Vec::new();
    off_schema(doc, schema, body, "", &mut out);
    assert!(out.is_empty(), "{method} {path} {status}: {out:?}\n{body}");
}

both!(every_answer_is_the_documented_one);
async fn every_answer_is_the_documented_one(app: TestApp) {
    let (_, doc) = app.call(Method::GET, "/openapi.json", None, None).await;
    let slots = format!("{PATH}/{{scheduling_conversation_id}}/participants/{{token}}/slots");
    let one = format!("{PATH}/{{scheduling_conversation_id}}");
    // The token routes need no credentials and say which parameters they read.
    for (method, path, params) in [
        ("get", PATH.to_string(), vec!["token"]),
        (
            "get",
            slots.clone(),
            vec!["scheduling_conversation_id", "token", "alternatives"],
        ),
        (
            "post",
            slots.clone(),
            vec!["scheduling_conversation_id", "token"],
        ),
    ] {
        let op = &doc["paths"][&path][method];
        assert_eq!(op["security"], json!([{}]), "{method} {path}");
        let names: Vec<&str> = op["parameters"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|p| p["name"].as_str())
            .collect();
        assert_eq!(names, params, "{method} {path}");
    }
    for (method, path) in [("post", PATH.to_string()), ("post", slots.clone())] {
        let content = &doc["paths"][&path][method]["requestBody"]["content"];
        for ct in ["application/json", "application/x-www-form-urlencoded"] {
            assert!(content[ct]["schema"].is_object(), "{method} {path} {ct}");
        }
    }
    assert_eq!(
        doc["paths"][PATH]["post"]["security"],
        json!([{"account_token": []}, {"client_secret": []}])
    );

    let c = app.client("Acme").await;
    let grace = app.account(&c, "grace").await;
    rule(&app, &grace, "08:00", "18:00").await;
    let (s, b) = create(&app, &grace.token, seed_body(&grace.sub, next_monday())).await;
    assert_documented(&doc, "post", PATH, s, &b);
    let conv = &b["scheduling_conversation"];
    let id = conv["scheduling_conversation_id"].as_str().unwrap();
    let url = slots_url(conv, 1).unwrap();
    let token = token_of(&url);
    let (s, b) = app
        .call(Method::GET, &format!("{PATH}?token={token}"), None, None)
        .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    assert_documented(&doc, "get", PATH, s, &b);
    let (s, b) = app.call(Method::GET, &url, None, None).await;
    assert_documented(&doc, "get", &slots, s, &b);
    let slot = b["slots"][0]["slot_id"].as_str().unwrap().to_string();
    let (s, b) = select(&app, &url, &slot).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    assert_documented(&doc, "post", &slots, s, &b);
    assert!(
        b["scheduling_conversation"]["chosen_slot"].is_object(),
        "{b}"
    );
    let (s, b) = app
        .call(
            Method::GET,
            &format!("{PATH}/{id}"),
            Some(&grace.token),
            None,
        )
        .await;
    assert_documented(&doc, "get", &one, s, &b);
    let (s, b) = select(&app, &url, &slot).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{b}");
    assert_documented(&doc, "post", &slots, s, &b);
}

/// The stored copy of a conversation's meeting in an account's calendar: what
/// `body_json` holds beyond the columns.
async fn booked_body(app: &TestApp, a: &Acct, id: &str) -> Value {
    let e = app
        .db
        .event_by_id(&a.calendar_id, id)
        .await
        .unwrap()
        .unwrap_or_else(|| panic!("no event {id} in {}", a.calendar_id));
    serde_json::from_str(&e.body_json).unwrap()
}

/// Books `body` by Bob choosing the first slot; answers the conversation id.
async fn book_pair(app: &TestApp, p: &Pair, body: Value) -> String {
    let conv = create_ok(app, &p.alice.token, body).await;
    let id = conv["scheduling_conversation_id"]
        .as_str()
        .unwrap()
        .to_string();
    let url = slots_url(&conv, 1).unwrap();
    let slots = list(app, &url).await;
    let (s, b) = select(app, &url, slots[0]["slot_id"].as_str().unwrap()).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    assert_eq!(b["scheduling_conversation"]["status"], json!("complete"));
    id
}

both!(the_first_participant_organizes_the_booked_event);
async fn the_first_participant_organizes_the_booked_event(app: TestApp) {
    let p = pair(&app).await;
    let mut body = pair_body(&p, "manual");
    body["participants"][0]["email"] = json!("alice@example.com");
    let id = book_pair(&app, &p, body).await;
    for acct in [&p.alice, &p.bob] {
        assert_eq!(
            booked_body(&app, acct, &id).await["organizer"],
            json!({"display_name": "Alice", "email": "alice@example.com"})
        );
        // And the events API shows it.
        let (s, evs) = app
            .call(
                Method::GET,
                "/v1/events?tzid=Etc/UTC",
                Some(&acct.token),
                None,
            )
            .await;
        assert_eq!(s, StatusCode::OK, "{evs}");
        let ev = evs["events"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["event_id"] == json!(id))
            .unwrap_or_else(|| panic!("{evs}"));
        assert_eq!(ev["organizer"]["display_name"], json!("Alice"), "{ev}");
    }
    // Without an email anywhere, the organizer is still named.
    let id = book_pair(&app, &p, pair_body(&p, "manual")).await;
    for acct in [&p.alice, &p.bob] {
        let organizer = &booked_body(&app, acct, &id).await["organizer"];
        assert_eq!(organizer["display_name"], json!("Alice"), "{organizer}");
    }
}

both!(the_whole_location_reaches_the_conversation_and_its_events);
async fn the_whole_location_reaches_the_conversation_and_its_events(app: TestApp) {
    let p = pair(&app).await;
    let mut body = pair_body(&p, "manual");
    body["event"] =
        json!({"location": {"description": "Room 101", "lat": "51.5072", "long": -0.1276}});
    let want = json!({"description": "Room 101", "lat": "51.5072", "long": "-0.1276"});
    let conv = create_ok(&app, &p.alice.token, body.clone()).await;
    assert_eq!(conv["event"], json!({"location": want}));
    let id = book_pair(&app, &p, body).await;
    assert_eq!(
        read(&app, &p.alice.token, &id).await["event"]["location"],
        want
    );
    for acct in [&p.alice, &p.bob] {
        let events = events_on(&app, acct, p.day).await;
        let mine = with_event_id(&events, &id);
        assert_eq!(mine.len(), 1, "{events:?}");
        assert_eq!(mine[0]["location"], want);
    }
    // Coordinates alone are a location too.
    let mut body = pair_body(&p, "manual");
    body["event"] = json!({"location": {"lat": "1", "long": "2"}});
    let conv = create_ok(&app, &p.alice.token, body).await;
    assert_eq!(
        conv["event"],
        json!({"location": {"lat": "1", "long": "2"}})
    );
}

both!(a_period_off_the_grid_still_offers_its_start);
async fn a_period_off_the_grid_still_offers_its_start(app: TestApp) {
    let p = pair(&app).await;
    let d = p.day;
    // Both are free 12:00-13:00 and 14:00-15:00 (see `pair`).
    for (start, end, minutes) in [((12, 10), (12, 40), 30), ((14, 7), (15, 0), 53)] {
        let mut body = pair_body(&p, "manual");
        body["required_duration"] = json!({"minutes": minutes});
        body["available_periods"] =
            json!([{"start": at(d, start.0, start.1), "end": at(d, end.0, end.1)}]);
        let conv = create_ok(&app, &p.alice.token, body).await;
        let url = slots_url(&conv, 1).unwrap();
        let slots = list(&app, &url).await;
        assert_eq!(slots.len(), 1, "{slots:?}");
        assert_eq!(slots[0]["start"], json!(at(d, start.0, start.1)));
        assert_eq!(slots[0]["end"], json!(at(d, end.0, end.1)));
        let (s, b) = select(&app, &url, slots[0]["slot_id"].as_str().unwrap()).await;
        assert_eq!(s, StatusCode::OK, "{b}");
        assert_eq!(b["scheduling_conversation"]["status"], json!("complete"));
    }
    // Nobody choosing: the off-grid start is booked at once.
    let mut body = pair_body(&p, "auto");
    body["required_duration"] = json!({"minutes": 60});
    body["available_periods"] = json!([{"start": at(d, 15, 37), "end": at(d, 16, 37)}]);
    let conv = create_ok(&app, &p.alice.token, body).await;
    assert_eq!(conv["status"], json!("complete"), "{conv}");
    assert_eq!(conv["chosen_slot"]["start"], json!(at(d, 15, 37)));
    // A start inside a period but off the grid is still no slot.
    let mut body = pair_body(&p, "manual");
    body["available_periods"] = json!([{"start": at(d, 16, 40), "end": at(d, 19, 0)}]);
    let conv = create_ok(&app, &p.alice.token, body).await;
    let url = slots_url(&conv, 1).unwrap();
    let off = at(d, 16, 50).parse::<Timestamp>().unwrap().as_second();
    let (s, b) = select(&app, &url, &format!("slt_{off}")).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{b}");
}
