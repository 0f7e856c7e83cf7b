//! Real-Time Scheduling links (contract §6): create, status, the page,
//! booking, callbacks, redirects, disable, expiry and races.

use std::time::Duration;

use convene_server::links::hmac_b64;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::both;
use crate::helpers::*;
use crate::notifications::Receiver;

fn slots_in(html: &str) -> Vec<String> {
    html.split("name=\"slot\" value=\"")
        .skip(1)
        .map(|s| s[..20].to_string())
        .collect()
}

/// A client that shows redirects instead of following them.
fn no_redirects() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

async fn post_slot(url: &str, slot: &str) -> reqwest::Response {
    no_redirects()
        .post(url)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("slot={slot}&tz=Etc/UTC"))
        .send()
        .await
        .unwrap()
}

async fn events_of(app: &TestApp, a: &Acct) -> Vec<Value> {
    let (_, b) = app
        .call(Method::GET, "/v1/events?tzid=Etc/UTC", Some(&a.token), None)
        .await;
    b["events"].as_array().unwrap().clone()
}

/// A link body: `host` must be free, 60 minutes, on day 2 09:00–12:00 UTC.
fn link_body(host: &Acct, extra: Value) -> Value {
    let mut b = json!({
        "oauth": {"redirect_uri": "http://example.com/oauth", "scope": "create_event"},
        "event": {"event_id": "interview-1", "summary": "Interview", "description": "Bring a CV"},
        "availability": {
            "participants": [{"members": [{"sub": host.sub}], "required": "all"}],
            "required_duration": {"minutes": 60},
            "start_interval": null,
            "buffer": {},
            "query_periods": [{"start": future(2, 9), "end": future(2, 12)}]
        },
        "target_calendars": [{"sub": host.sub, "calendar_id": host.calendar_id}],
        "tzid": "Etc/UTC",
        "redirect_urls": {"completed_url": "http://example.com/done"}
    });
    if let (Value::Object(b), Value::Object(e)) = (&mut b, extra) {
        for (k, v) in e {
            b.insert(k, v);
        }
    }
    b
}

async fn create(app: &TestApp, c: &Client, body: Value) -> Value {
    let (s, b) = app
        .call(
            Method::POST,
            "/v1/real_time_scheduling",
            Some(&c.client_secret),
            Some(body),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    b
}

fn token_of(url: &str) -> &str {
    url.rsplit('/').next().unwrap()
}

both!(a_link_books_calls_back_and_redirects);
async fn a_link_books_calls_back_and_redirects(app: TestApp) {
    let c = app.client("Acme").await;
    let host = app.account(&c, "host").await;
    let rx = Receiver::start(0).await;
    let created = create(
        &app,
        &c,
        link_body(&host, json!({"callback_urls": {"completed_url": rx.url}})),
    )
    .await;
    let link = &created["real_time_scheduling"];
    let id = link["real_time_scheduling_id"].as_str().unwrap();
    let url = link["url"].as_str().unwrap();
    assert!(id.starts_with("sch_"), "{created}");
    assert_eq!(created["url"], link["url"]);
    assert_eq!(link["status"], "open");
    assert_eq!(link["event"]["summary"], "Interview");
    assert!(
        link["event"].get("start").is_none(),
        "no start before booking"
    );
    // 128 bits, URL-safe: 22 characters.
    assert_eq!(token_of(url).len(), 22);
    // Status by token answers the same link.
    let (s, by_token) = app
        .call(
            Method::GET,
            &format!("/v1/real_time_scheduling?token={}", token_of(url)),
            Some(&c.client_secret),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{by_token}");
    assert_eq!(
        by_token["real_time_scheduling"]["real_time_scheduling_id"],
        id
    );

    let page = app.http.get(url).send().await.unwrap();
    // Browsers hold the form's redirect to the page's form-action.
    let csp = page.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_string();
    assert!(
        csp.contains("form-action 'self' http://example.com;"),
        "{csp}"
    );
    let html = page.text().await.unwrap();
    let slots = slots_in(&html);
    // 09:00, 09:30 … 11:00: 60 minutes on the half hour within 09–12.
    assert_eq!(slots.len(), 5, "{html}");
    assert_eq!(slots[0], future(2, 9));
    let r = post_slot(url, &slots[1]).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(r.headers()["location"], "http://example.com/done");

    let (_, st) = app
        .call(
            Method::GET,
            &format!("/v1/real_time_scheduling/{id}"),
            Some(&c.client_secret),
            None,
        )
        .await;
    let ev = &st["real_time_scheduling"]["event"];
    assert_eq!(st["real_time_scheduling"]["status"], "completed", "{st}");
    assert_eq!(ev["start"]["time"], slots[1].as_str());
    assert_eq!(ev["end"]["time"], future(2, 10).replace("T10:00", "T10:30"));
    let evs = events_of(&app, &host).await;
    assert_eq!(evs.len(), 1, "{evs:?}");
    assert_eq!(evs[0]["event_id"], "interview-1");
    assert_eq!(evs[0]["summary"], "Interview");
    assert_eq!(evs[0]["start"], slots[1].as_str());

    let got = rx.wait_for(1).await;
    let body: Value = serde_json::from_str(&got[0].body).unwrap();
    assert_eq!(body["event"]["event_id"], "interview-1");
    assert_eq!(body["event"]["start"]["time"], slots[1].as_str());
    assert_eq!(body["participants"][0]["sub"], host.sub.as_str());
    assert_eq!(
        got[0].signature,
        hmac_b64(c.client_secret.as_bytes(), got[0].body.as_bytes())
    );
    // A second pick finds the link completed.
    let again = post_slot(url, &slots[3]).await;
    assert_eq!(again.status(), StatusCode::CONFLICT);
    assert_eq!(events_of(&app, &host).await.len(), 1);
}

both!(body_credentials_and_refusals);
async fn body_credentials_and_refusals(app: TestApp) {
    let c = app.client("Acme").await;
    let other = app.client("Other").await;
    let host = app.account(&c, "host").await;
    // Ruby: credentials in the body, no Authorization header.
    let mut body = link_body(&host, json!({}));
    body["client_id"] = json!(c.client_id);
    body["client_secret"] = json!(c.client_secret);
    let (s, b) = app
        .call(
            Method::POST,
            "/v1/real_time_scheduling",
            None,
            Some(body.clone()),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    let id = b["real_time_scheduling"]["real_time_scheduling_id"]
        .as_str()
        .unwrap()
        .to_string();
    // Node: "Bearer undefined" beside body credentials.
    let (s, _) = app
        .call(
            Method::POST,
            "/v1/real_time_scheduling",
            Some("undefined"),
            Some(body.clone()),
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    body["client_secret"] = json!("wrong");
    let (s, _) = app
        .call(Method::POST, "/v1/real_time_scheduling", None, Some(body))
        .await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    let (s, _) = app
        .call(
            Method::POST,
            "/v1/real_time_scheduling",
            Some(&host.token),
            Some(link_body(&host, json!({}))),
        )
        .await;
    assert_eq!(
        s,
        StatusCode::FORBIDDEN,
        "an account token is not the API key"
    );
    // Another application's participants and links are not its own.
    let (s, b) = app
        .call(
            Method::POST,
            "/v1/real_time_scheduling",
            Some(&other.client_secret),
            Some(link_body(&host, json!({}))),
        )
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{b}");
    assert_eq!(
        err_key(&b, "target_calendars[0].calendar_id"),
        "errors.not_recognized"
    );
    let (s, _) = app
        .call(
            Method::GET,
            &format!("/v1/real_time_scheduling/{id}"),
            Some(&other.client_secret),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    // Problems in the query are named under `availability`.
    let mut bad = link_body(&host, json!({}));
    bad["availability"]["required_duration"] = json!({"minutes": 0});
    let (s, b) = app
        .call(
            Method::POST,
            "/v1/real_time_scheduling",
            Some(&c.client_secret),
            Some(bad),
        )
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        err_key(&b, "availability.required_duration"),
        "errors.invalid"
    );
}

both!(disabled_links_show_their_message);
async fn disabled_links_show_their_message(app: TestApp) {
    let c = app.client("Acme").await;
    let host = app.account(&c, "host").await;
    let created = create(&app, &c, link_body(&host, json!({}))).await;
    let id = created["real_time_scheduling"]["real_time_scheduling_id"]
        .as_str()
        .unwrap();
    let url = created["url"].as_str().unwrap();
    let slot = slots_in(
        &app.http
            .get(url)
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap(),
    )[0]
    .clone();
    let (s, b) = app
        .call(
            Method::POST,
            &format!("/v1/real_time_scheduling/{id}/disable"),
            Some(&c.client_secret),
            Some(json!({"display_message": "Let's hold off\nuntil next month."})),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    assert_eq!(b["real_time_scheduling"]["status"], "disabled");
    let html = app
        .http
        .get(url)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        html.contains("Let&#39;s hold off\nuntil next month.")
            || html.contains("Let&#x27;s hold off\nuntil next month."),
        "{html}"
    );
    assert!(slots_in(&html).is_empty());
    assert_eq!(post_slot(url, &slot).await.status(), StatusCode::CONFLICT);
    assert!(events_of(&app, &host).await.is_empty());
    // A message is required.
    let (s, b) = app
        .call(
            Method::POST,
            &format!("/v1/real_time_scheduling/{id}/disable"),
            Some(&c.client_secret),
            Some(json!({})),
        )
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(err_key(&b, "display_message"), "errors.required");
    // A completed link cannot be disabled.
    let done = create(&app, &c, link_body(&host, json!({}))).await;
    let done_url = done["url"].as_str().unwrap();
    assert_eq!(
        post_slot(done_url, &slot).await.status(),
        StatusCode::SEE_OTHER
    );
    let (s, b) = app
        .call(
            Method::POST,
            &format!(
                "/v1/real_time_scheduling/{}/disable",
                done["real_time_scheduling"]["real_time_scheduling_id"]
                    .as_str()
                    .unwrap()
            ),
            Some(&c.client_secret),
            Some(json!({"display_message": "no"})),
        )
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{b}");
}

both!(busy_participants_leave_no_times_and_links_expire);
async fn busy_participants_leave_no_times_and_links_expire(app: TestApp) {
    let c = app.client("Acme").await;
    let host = app.account(&c, "host").await;
    let (s, _) = app
        .call(
            Method::POST,
            &format!("/v1/calendars/{}/events", host.calendar_id),
            Some(&host.token),
            Some(json!({"event_id": "busy", "summary": "Busy", "start": future(2, 9), "end": future(2, 11)})),
        )
        .await;
    assert_eq!(s, StatusCode::ACCEPTED);
    let created = create(
        &app,
        &c,
        link_body(&host, json!({"minimum_notice": {"hours": 1}})),
    )
    .await;
    let url = created["url"].as_str().unwrap();
    let html = app
        .http
        .get(url)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    // Only 11:00 is left.
    assert_eq!(slots_in(&html), vec![future(2, 11)], "{html}");
    // The host's new meeting takes it: no times suitable.
    let (s, _) = app
        .call(
            Method::POST,
            &format!("/v1/calendars/{}/events", host.calendar_id),
            Some(&host.token),
            Some(json!({"event_id": "busy2", "summary": "Busy", "start": future(2, 11), "end": future(2, 12)})),
        )
        .await;
    assert_eq!(s, StatusCode::ACCEPTED);
    let html = app
        .http
        .get(url)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(html.contains("id=\"no-times-suitable\""), "{html}");
    // Past the window (less the minimum notice) the link has expired.
    app.clock.advance(Duration::from_secs(3 * 24 * 3600));
    let html = app
        .http
        .get(url)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(html.contains("id=\"expired\""), "{html}");
    let (_, st) = app
        .call(
            Method::GET,
            &format!(
                "/v1/real_time_scheduling/{}",
                created["real_time_scheduling"]["real_time_scheduling_id"]
                    .as_str()
                    .unwrap()
            ),
            Some(&c.client_secret),
            None,
        )
        .await;
    assert_eq!(st["real_time_scheduling"]["status"], "disabled", "{st}");
}

both!(single_event_creation_writes_one_organizer_event);
async fn single_event_creation_writes_one_organizer_event(app: TestApp) {
    let c = app.client("Acme").await;
    let a = app.account(&c, "a").await;
    let b = app.account(&c, "b").await;
    for single in [false, true] {
        let mut body = link_body(&a, json!({}));
        body["availability"]["participants"][0]["members"] =
            json!([{"sub": a.sub}, {"sub": b.sub}]);
        body["target_calendars"] = json!([
            {"sub": a.sub, "calendar_id": a.calendar_id},
            {"sub": b.sub, "calendar_id": b.calendar_id}
        ]);
        body["event"]["event_id"] = json!(format!("e-{single}"));
        if single {
            body["event_creation"] = json!("single");
        }
        let created = create(&app, &c, body).await;
        let url = created["url"].as_str().unwrap();
        let slots = slots_in(
            &app.http
                .get(url)
                .send()
                .await
                .unwrap()
                .text()
                .await
                .unwrap(),
        );
        let slot = if single { &slots[2] } else { &slots[0] };
        assert_eq!(post_slot(url, slot).await.status(), StatusCode::SEE_OTHER);
    }
    let ids = |evs: Vec<Value>| -> Vec<String> {
        let mut v: Vec<String> = evs
            .iter()
            .map(|e| e["event_id"].as_str().unwrap().to_string())
            .collect();
        v.sort();
        v
    };
    assert_eq!(ids(events_of(&app, &a).await), vec!["e-false", "e-true"]);
    assert_eq!(ids(events_of(&app, &b).await), vec!["e-false"]);
}

both!(racing_pickers_on_two_replicas_never_double_book);
async fn racing_pickers_on_two_replicas_never_double_book(app: TestApp) {
    let c = app.client("Acme").await;
    let host = app.account(&c, "host").await;
    let mut urls = Vec::new();
    for i in 0..12 {
        let mut body = link_body(&host, json!({}));
        body["event"]["event_id"] = json!(format!("race-{i}"));
        urls.push(
            create(&app, &c, body).await["url"]
                .as_str()
                .unwrap()
                .to_string(),
        );
    }
    let slots = slots_in(
        &app.http
            .get(&urls[0])
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap(),
    );
    // 09:00 and 09:30 overlap (60 minutes): only one of them can be booked.
    let picks = [slots[0].clone(), slots[1].clone()];
    let replica = app.replica().await;
    let tasks: Vec<_> = urls
        .iter()
        .enumerate()
        .map(|(i, u)| {
            let u = if i % 2 == 0 {
                u.clone()
            } else {
                u.replacen(&app.base, &replica.base, 1)
            };
            let slot = picks[i % 2].clone();
            tokio::spawn(async move { post_slot(&u, &slot).await.status() })
        })
        .collect();
    let mut won = 0;
    for t in tasks {
        match t.await.unwrap() {
            StatusCode::SEE_OTHER => won += 1,
            StatusCode::CONFLICT => {}
            other => panic!("unexpected {other}"),
        }
    }
    assert_eq!(won, 1, "overlapping picks: one winner");
    assert_eq!(events_of(&app, &host).await.len(), 1);
}

both!(add_to_calendar_links_add_the_fixed_time);
async fn add_to_calendar_links_add_the_fixed_time(app: TestApp) {
    let c = app.client("Acme").await;
    let host = app.account(&c, "host").await;
    let body = json!({
        "client_id": c.client_id, "client_secret": c.client_secret,
        "oauth": {"redirect_uri": "http://example.com/oauth"},
        "event": {"event_id": "launch", "summary": "Launch", "start": future(3, 14), "end": future(3, 15)},
        "target_calendars": [{"sub": host.sub, "calendar_id": host.calendar_id}],
        "tzid": "Europe/London"
    });
    let (s, b) = app
        .call(
            Method::POST,
            "/v1/add_to_calendar",
            Some("undefined"),
            Some(body),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    let url = b["url"].as_str().unwrap();
    let html = app
        .http
        .get(url)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(slots_in(&html), vec![future(3, 14)]);
    let r = post_slot(url, &future(3, 14)).await;
    assert_eq!(r.status(), StatusCode::OK);
    let evs = events_of(&app, &host).await;
    assert_eq!(evs.len(), 1);
    assert_eq!(evs[0]["end"], future(3, 15));
}

both!(a_sequencing_link_books_every_step_in_order);
async fn a_sequencing_link_books_every_step_in_order(app: TestApp) {
    let c = app.client("Acme").await;
    let a = app.account(&c, "a").await;
    let b = app.account(&c, "b").await;
    // b is busy 10:00–11:00, so a 09:00 first step (a, 60 min) is followed
    // by b's 30-minute step at 11:00, not 10:00.
    let (s, _) = app
        .call(
            Method::POST,
            &format!("/v1/calendars/{}/events", b.calendar_id),
            Some(&b.token),
            Some(json!({"event_id": "busy", "summary": "Busy", "start": future(2, 10), "end": future(2, 11)})),
        )
        .await;
    assert_eq!(s, StatusCode::ACCEPTED);
    let rx = Receiver::start(0).await;
    let body = json!({
        "client_id": c.client_id, "client_secret": c.client_secret,
        "oauth": {"redirect_uri": "http://example.com/oauth"},
        "event": {"event_id": "onboarding", "summary": "Onboarding"},
        "availability": {
            "sequence": [
                {"sequence_id": "first", "ordinal": 1,
                 "participants": [{"members": [{"sub": a.sub}], "required": "all"}],
                 "required_duration": {"minutes": 60}, "start_interval": {"minutes": 60},
                 "event": {"summary": "Part one"}},
                {"sequence_id": "second", "ordinal": 2,
                 "participants": [{"members": [{"sub": b.sub}], "required": "all"}],
                 "required_duration": {"minutes": 30}, "start_interval": null,
                 "event": {"summary": "Part two"}}
            ],
            "query_periods": [{"start": future(2, 9), "end": future(2, 12)}]
        },
        "target_calendars": [
            {"sub": a.sub, "calendar_id": a.calendar_id},
            {"sub": b.sub, "calendar_id": b.calendar_id}
        ],
        "callback_urls": {"completed_url": rx.url}
    });
    let (s, created) = app
        .call(
            Method::POST,
            "/v1/real_time_sequencing",
            Some("undefined"),
            Some(body),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{created}");
    let url = created["url"].as_str().unwrap();
    let html = app
        .http
        .get(url)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    // 09:00 → 11:00 and 10:00 → 11:00; at 11:00 part one ends at noon, too late.
    assert_eq!(slots_in(&html), vec![future(2, 9), future(2, 10)], "{html}");
    assert!(html.contains("09:00 → 11:00"), "{html}");
    let r = post_slot(url, &future(2, 9)).await;
    assert_eq!(r.status(), StatusCode::OK);
    let ea = events_of(&app, &a).await;
    assert_eq!(ea.len(), 1, "{ea:?}");
    assert_eq!(ea[0]["summary"], "Part one");
    assert_eq!(ea[0]["start"], future(2, 9));
    let eb: Vec<Value> = events_of(&app, &b)
        .await
        .into_iter()
        .filter(|e| e["event_id"] != "busy")
        .collect();
    assert_eq!(eb.len(), 1, "{eb:?}");
    assert_eq!(eb[0]["event_id"], "onboarding-second");
    assert_eq!(eb[0]["start"], future(2, 11));
    let got = rx.wait_for(1).await;
    let cb: Value = serde_json::from_str(&got[0].body).unwrap();
    assert_eq!(cb["events"].as_array().unwrap().len(), 2, "{cb}");
}

both!(none_of_these_times_calls_the_no_times_suitable_url);
async fn none_of_these_times_calls_the_no_times_suitable_url(app: TestApp) {
    let c = app.client("Acme").await;
    let host = app.account(&c, "host").await;
    let rx = Receiver::start(0).await;
    let created = create(
        &app,
        &c,
        link_body(
            &host,
            json!({"callback_urls": {"no_times_suitable_url": rx.url}}),
        ),
    )
    .await;
    let url = created["url"].as_str().unwrap();
    let html = app
        .http
        .get(url)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(html.contains("id=\"no-times-suitable-button\""), "{html}");
    let r = app
        .http
        .post(url)
        .header("content-type", "application/x-www-form-urlencoded")
        .body("action=no_times_suitable")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert!(
        r.text()
            .await
            .unwrap()
            .contains("none of these times suit you")
    );
    let got = rx.wait_for(1).await;
    let body: Value = serde_json::from_str(&got[0].body).unwrap();
    assert_eq!(body["notification"]["type"], "no_times_suitable");
    assert_eq!(
        body["real_time_scheduling"]["real_time_scheduling_id"],
        created["real_time_scheduling"]["real_time_scheduling_id"]
    );
    assert_eq!(
        got[0].signature,
        hmac_b64(c.client_secret.as_bytes(), got[0].body.as_bytes())
    );
    // The link stays open; without the URL there is no such button.
    let (_, st) = app
        .call(
            Method::GET,
            &format!("/v1/real_time_scheduling?token={}", token_of(url)),
            Some(&c.client_secret),
            None,
        )
        .await;
    assert_eq!(st["real_time_scheduling"]["status"], "open");
    let plain = create(&app, &c, link_body(&host, json!({}))).await;
    let html = app
        .http
        .get(plain["url"].as_str().unwrap())
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(!html.contains("no-times-suitable-button"));
}

both!(links_refuse_past_events_and_too_many_targets);
async fn links_refuse_past_events_and_too_many_targets(app: TestApp) {
    let c = app.client("Acme").await;
    let host = app.account(&c, "host").await;
    let past = json!({
        "event": {"event_id": "old", "summary": "Old", "start": "2020-01-01T10:00:00Z", "end": "2020-01-01T11:00:00Z"},
        "target_calendars": [{"sub": host.sub, "calendar_id": host.calendar_id}]
    });
    let (s, b) = app
        .call(
            Method::POST,
            "/v1/add_to_calendar",
            Some(&c.client_secret),
            Some(past),
        )
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{b}");
    assert_eq!(err_key(&b, "event.end"), "errors.in_the_past");
    let many: Vec<Value> = (0..51)
        .map(|_| json!({"sub": host.sub, "calendar_id": host.calendar_id}))
        .collect();
    let (s, b) = app
        .call(
            Method::POST,
            "/v1/real_time_scheduling",
            Some(&c.client_secret),
            Some(link_body(&host, json!({"target_calendars": many}))),
        )
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{b}");
    assert_eq!(err_key(&b, "target_calendars"), "errors.too_many");
}
