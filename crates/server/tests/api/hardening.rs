//! Bad input from outside: small answers, strict times, honest limits.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::both;
use crate::helpers::*;

both!(json_answers_name_their_charset);
async fn json_answers_name_their_charset(app: TestApp) {
    let c = app.client("Acme").await;
    let a = app.account(&c, "alice").await;
    let t = Some(a.token.as_str());
    for (method, path, bearer, body) in [
        (Method::GET, "/v1/account", t, None),
        (Method::GET, "/v1/account", None, None),
        (Method::GET, "/v1/nope", t, None),
        (Method::POST, "/v1/availability", t, Some(json!({}))),
        (Method::GET, "/healthz", None, None),
    ] {
        let mut req = app.http.request(method.clone(), app.url(path));
        if let Some(b) = bearer {
            req = req.bearer_auth(b);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.unwrap();
        assert_eq!(
            resp.headers()["content-type"],
            "application/json; charset=utf-8",
            "{method} {path} ({})",
            resp.status()
        );
    }
}

both!(a_hundred_thousand_bad_items_get_a_small_answer);
async fn a_hundred_thousand_bad_items_get_a_small_answer(app: TestApp) {
    let c = app.client("Acme").await;
    let a = app.account(&c, "alice").await;
    let items: Vec<Value> = (0..100_000).map(|_| json!(1)).collect();
    for (path, body) in [
        (
            "/v1/scheduling_conversations",
            json!({"participants": [{"sub": a.sub, "common_name": "A"}], "tzid": "Etc/UTC",
                   "required_duration": {"minutes": 30}, "available_periods": items}),
        ),
        (
            "/v1/availability",
            json!({"participants": [{"members": [{"sub": a.sub}], "required": "all"}],
                   "required_duration": {"minutes": 30}, "query_periods": items}),
        ),
    ] {
        let resp = app
            .http
            .post(app.url(path))
            .bearer_auth(&a.token)
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::UNPROCESSABLE_ENTITY, "{path}");
        let text = resp.text().await.unwrap();
        assert!(text.len() < 64 * 1024, "{path}: {} bytes", text.len());
        let v: Value = serde_json::from_str(&text).unwrap();
        let listed: usize = v["errors"]
            .as_object()
            .unwrap()
            .values()
            .map(|a| a.as_array().unwrap().len())
            .sum();
        assert!(listed <= 100, "{path}: {listed} problems listed");
    }
}

both!(impossible_clock_times_are_refused);
async fn impossible_clock_times_are_refused(app: TestApp) {
    let c = app.client("Acme").await;
    let a = app.account(&c, "alice").await;
    let day = future(8, 0);
    let day = &day[..10];
    for (start, end) in [
        (format!("{day}T09:00:00Z"), format!("{day}T23:59:60Z")),
        (format!("{day}T09:00:00+24:00"), format!("{day}T17:00:00Z")),
    ] {
        let (s, b) = app
            .call(
                Method::POST,
                "/v1/availability",
                Some(&a.token),
                Some(
                    json!({"participants": [{"members": [{"sub": a.sub}], "required": "all"}],
                            "required_duration": {"minutes": 30},
                            "query_periods": [{"start": start, "end": end}]}),
                ),
            )
            .await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{start} {end}: {b}");
    }
    // A rule's times are HH:MM.
    let (s, b) = app
        .call(
            Method::POST,
            "/v1/availability_rules",
            Some(&a.token),
            Some(json!({"availability_rule_id": "work", "tzid": "Etc/UTC",
                        "weekly_periods": [{"day": "monday", "start_time": "09:00:30", "end_time": "17:00"}]})),
        )
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{b}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_per_address_limit_names_its_own_number() {
    let app = TestApp::spawn_with(Backend::Sqlite, |cfg| cfg.rate_limit_per_minute = 2).await;
    let mut last = (StatusCode::OK, Value::Null);
    for _ in 0..25 {
        last = app.call(Method::GET, "/v1/account", None, None).await;
        if last.0 == StatusCode::TOO_MANY_REQUESTS {
            break;
        }
    }
    assert_eq!(last.0, StatusCode::TOO_MANY_REQUESTS, "{}", last.1);
    let msg = last.1["message"].as_str().unwrap();
    assert!(
        msg.contains("at most 20 requests a minute from one address"),
        "{msg}"
    );
}

both!(blank_and_control_character_ids_and_a_start_at_24_00_are_refused);
async fn blank_and_control_character_ids_and_a_start_at_24_00_are_refused(app: TestApp) {
    let c = app.client("Acme").await;
    let a = app.account(&c, "alice").await;
    for id in ["   ", "a\u{0}b", "\t"] {
        let (s, b) = app
            .call(
                Method::POST,
                "/v1/application_calendars",
                None,
                Some(
                    json!({"client_id": c.client_id, "client_secret": c.client_secret,
                            "application_calendar_id": id}),
                ),
            )
            .await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{id:?}: {b}");
        let (s, b) = app
            .call(
                Method::POST,
                &format!("/v1/calendars/{}/events", a.calendar_id),
                Some(&a.token),
                Some(json!({"event_id": id, "summary": "x",
                            "start": future(3, 9), "end": future(3, 10)})),
            )
            .await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{id:?}: {b}");
        assert_eq!(err_key(&b, "event_id"), "errors.invalid");
    }
    let (s, b) = app
        .call(
            Method::POST,
            "/v1/availability_rules",
            Some(&a.token),
            Some(json!({"availability_rule_id": "work", "tzid": "Etc/UTC",
                        "weekly_periods": [{"day": "monday", "start_time": "24:00", "end_time": "24:00"}]})),
        )
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{b}");
    assert_eq!(
        err_key(&b, "weekly_periods[0].start_time"),
        "errors.invalid",
        "{b}"
    );
}

// The first server's worker sleeps: fanning the row out while the second
// server scrubs would copy the old token into a delivery, as an old-version
// process still running would (the scrub is for rows at rest).
both!(
    old_link_tokens_are_scrubbed_from_the_outbox_at_start,
    |cfg| cfg.notify_poll_ms = 3_600_000
);
async fn old_link_tokens_are_scrubbed_from_the_outbox_at_start(app: TestApp) {
    // Serving: its worker has made its first pass and sleeps.
    let (s, _) = app.call(Method::GET, "/healthz", None, None).await;
    assert_eq!(s, StatusCode::OK);
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    let c = app.client("Acme").await;
    // A row as an older Convene wrote it: the live link in the payload.
    let payload = json!({"scheduling_request": {"scheduling_request_id": "srq_x",
        "primary_select_url": format!("{}/rts/Sekr3t-Tok_en", app.base)}})
    .to_string();
    let n = convene_store::NewNotification {
        id: convene_server::ids::new_id("ntf"),
        application_id: c.client_id.clone(),
        account_id: None,
        kind: "scheduling_request_time_chosen".into(),
        subject_id: None,
        payload_json: payload.clone(),
        created_ms: 1,
    };
    app.db
        .write(async |tx: &mut convene_store::Tx| tx.insert_notification(&n).await)
        .await
        .unwrap();
    // As in a database from before the repair existed (this server's start
    // has already recorded it as done).
    convene_store::dispatch!(&app.db, |p| sqlx::query("DELETE FROM maintenance")
        .execute(p)
        .await
        .unwrap()
        .rows_affected());
    // A restart (another process on the database) scrubs it.
    let _second = app.replica().await;
    let mut rows = Vec::new();
    for _ in 0..250 {
        rows = app.db.outbox_texts_containing("/rts/").await.unwrap();
        if rows.iter().all(|(_, _, t)| !t.contains("Sekr3t-Tok_en")) {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert!(!rows.is_empty());
    for (_, _, text) in rows {
        assert!(!text.contains("Sekr3t-Tok_en"), "{text}");
        assert!(text.contains("/rts/{link_token}"), "{text}");
    }
}

/// Sends `request` on a fresh connection and reads the whole answer.
async fn raw_exchange(base: &str, request: Vec<u8>) -> (String, Value) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let addr = base.trim_start_matches("http://");
    let mut conn = tokio::net::TcpStream::connect(addr).await.unwrap();
    let (mut rd, mut wr) = conn.split();
    // The server may answer and close before it has read everything.
    let (_, answer) = tokio::join!(wr.write_all(&request), async {
        let mut answer = Vec::new();
        rd.read_to_end(&mut answer).await.unwrap();
        answer
    });
    let answer = String::from_utf8(answer).unwrap();
    let (head, body) = answer.split_once("\r\n\r\n").unwrap();
    let v = serde_json::from_str(body).unwrap_or_else(|e| panic!("{e}: {answer}"));
    (head.to_string(), v)
}

both!(unparseable_requests_get_the_json_error_shape_too);
async fn unparseable_requests_get_the_json_error_shape_too(app: TestApp) {
    let long_url = format!(
        "GET /v1/calendars?x={} HTTP/1.1\r\nHost: t\r\n\r\n",
        "a".repeat(70_000)
    );
    let (head, body) = raw_exchange(&app.base, long_url.into_bytes()).await;
    assert!(head.starts_with("HTTP/1.1 414 "), "{head}");
    assert!(head.contains("content-type: application/json"), "{head}");
    assert_eq!(body["error"], "uri_too_long", "{body}");

    let (head, body) = raw_exchange(&app.base, b"NOT HTTP AT ALL\r\n\r\n".to_vec()).await;
    assert!(head.starts_with("HTTP/1.1 400 "), "{head}");
    assert_eq!(body["error"], "bad_request", "{body}");

    // Too many headers rather than too many bytes: a request the server
    // has not read to its end would be reset on close, answer and all.
    let headers: String = (0..150).map(|i| format!("X-H{i}: v\r\n")).collect();
    let big_header = format!("GET /healthz HTTP/1.1\r\nHost: t\r\n{headers}\r\n");
    let (head, body) = raw_exchange(&app.base, big_header.into_bytes()).await;
    assert!(head.starts_with("HTTP/1.1 431 "), "{head}");
    assert_eq!(body["error"], "request_header_fields_too_large", "{body}");

    // An ordinary request on a raw connection is answered as before.
    let (head, body) = raw_exchange(
        &app.base,
        b"GET /v1/nothing-here HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n".to_vec(),
    )
    .await;
    assert!(head.starts_with("HTTP/1.1 404 "), "{head}");
    assert_eq!(body["error"], "not_found", "{body}");
}
