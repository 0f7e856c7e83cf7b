//! What operators and first-time visitors see: metrics, request ids, the
//! landing page.

use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::both;
use crate::helpers::*;

async fn metrics_text(app: &TestApp, token: Option<&str>) -> (StatusCode, String) {
    let mut req = app.http.get(app.url("/metrics"));
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    let resp = req.send().await.unwrap();
    (resp.status(), resp.text().await.unwrap())
}

both!(metrics_count_requests_by_route_and_show_the_outbox);
async fn metrics_count_requests_by_route_and_show_the_outbox(app: TestApp) {
    let c = app.client("Acme").await;
    let a = app.account(&c, "alice").await;
    for _ in 0..3 {
        let (s, _) = app
            .call(Method::GET, "/v1/account", Some(&a.token), None)
            .await;
        assert_eq!(s, StatusCode::OK);
    }
    // A channel to an address nobody answers: its verification waits.
    let (s, b) = app
        .call(
            Method::POST,
            "/v1/channels",
            Some(&a.token),
            Some(json!({"callback_url": "http://127.0.0.1:9/cb"})),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    let (s, text) = metrics_text(&app, None).await;
    assert_eq!(s, StatusCode::OK);
    assert!(
        text.contains(
            r#"convene_http_requests_total{method="GET",route="/v1/account",status="200"} 3"#
        ),
        "{text}"
    );
    // Templates, never raw paths.
    assert!(!text.contains(&a.calendar_id), "{text}");
    assert!(
        text.contains(r#"convene_outbox_pending{kind="verification"} 1"#),
        "{text}"
    );
    assert!(
        text.contains("convene_outbox_oldest_pending_age_seconds"),
        "{text}"
    );
    assert!(text.contains("convene_db_pool_connections"), "{text}");
    // The account and the channel were written: each took a write turn,
    // and was counted while it held it.
    let value = |name: &str| -> f64 {
        text.lines()
            .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
            .unwrap_or_else(|| panic!("no {name} in {text}"))
    };
    assert!(value("convene_db_write_turns_total") >= 2.0, "{text}");
    assert!(
        value("convene_db_write_turn_held_seconds_total") > 0.0,
        "{text}"
    );
    assert!(
        text.contains("convene_http_request_duration_seconds_bucket"),
        "{text}"
    );
}

both!(a_metrics_token_guards_the_metrics, |cfg| {
    cfg.metrics_token = Some("scrape-me".into())
});
async fn a_metrics_token_guards_the_metrics(app: TestApp) {
    assert_eq!(metrics_text(&app, None).await.0, StatusCode::UNAUTHORIZED);
    assert_eq!(
        metrics_text(&app, Some("wrong")).await.0,
        StatusCode::UNAUTHORIZED
    );
    let (s, text) = metrics_text(&app, Some("scrape-me")).await;
    assert_eq!(s, StatusCode::OK);
    assert!(text.contains("convene_http_requests_total"), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_answer_carries_a_request_id() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let resp = app.http.get(app.url("/healthz")).send().await.unwrap();
    let id = resp.headers()["x-request-id"].to_str().unwrap().to_string();
    assert!(id.starts_with("req_"), "{id}");
    // A caller's own id is kept, so logs on both sides line up.
    let resp = app
        .http
        .get(app.url("/v1/nope"))
        .header("x-request-id", "abc-123")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.headers()["x-request-id"], "abc-123");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_landing_page_links_the_dashboard_and_the_api_document() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let resp = app.http.get(app.url("/")).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert!(
        resp.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    let html = resp.text().await.unwrap();
    assert!(html.contains(r#"href="/dashboard""#), "{html}");
    assert!(html.contains(r#"href="/openapi.json""#), "{html}");
}

// After an outage longer than the backoffs, a receiver gets everything
// soon after it comes back: its oldest delivery probes it on a short
// interval, and the first success releases the rest.
// Backoffs far longer than the test, the probe short.
both!(
    a_receiver_back_from_an_outage_gets_everything_at_once,
    |cfg| {
        cfg.retry_base_ms = 120_000;
        cfg.probe_ms = 300;
    }
);
async fn a_receiver_back_from_an_outage_gets_everything_at_once(app: TestApp) {
    let addr = unused_addr();
    let url = format!("http://{addr}/cb");
    let c = app.client("Acme").await;
    let a = app.account(&c, "alice").await;
    open_channel(&app, &a, &url).await;
    // Four changes to the calendar: four more notifications to the channel.
    for i in 0..4 {
        let (s, b) = app
            .call(
                Method::POST,
                &format!("/v1/calendars/{}/events", a.calendar_id),
                Some(&a.token),
                Some(json!({"event_id": format!("e{i}"), "summary": "x",
                            "start": future(3, 9), "end": future(3, 10)})),
            )
            .await;
        assert!(s.is_success(), "{b}");
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    // Every one has failed once while the receiver was down.
    let mut failed = false;
    for _ in 0..200 {
        let (_, log) = app
            .raw(
                app.http
                    .get(app.url("/v1/deliveries"))
                    .bearer_auth(&c.client_secret),
            )
            .await;
        let ds = log["deliveries"].as_array().cloned().unwrap_or_default();
        if ds.len() == 5 && ds.iter().all(|d| d["attempts"].as_i64() >= Some(1)) {
            failed = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(
        failed,
        "the first attempts failed: {}",
        app.raw(
            app.http
                .get(app.url("/v1/deliveries"))
                .bearer_auth(&c.client_secret)
        )
        .await
        .1
    );
    let back = std::time::Instant::now();
    let rx = crate::notifications::Receiver::start_at(&addr, 0).await;
    let got = tokio::time::timeout(std::time::Duration::from_secs(10), rx.wait_for(5))
        .await
        .expect("everything arrives long before any backoff ends");
    assert_eq!(got.len(), 5);
    assert!(back.elapsed() < std::time::Duration::from_secs(10));
}

both!(the_dashboard_delivery_log_pages_and_filters);
async fn the_dashboard_delivery_log_pages_and_filters(app: TestApp) {
    let mut b = crate::browser::signed_in(&app, "Acme", "doc@example.com").await;
    let c = app.client("Acme").await;
    // 120 deliveries in the log, oldest first.
    for i in 0..120 {
        app.db
            .insert_delivery(&convene_store::notify::Delivery {
                id: format!("dlv_{i:04}"),
                application_id: c.client_id.clone(),
                notification_id: None,
                channel_id: None,
                kind: "scheduling_request_time_chosen".into(),
                url: "http://127.0.0.1:9/".into(),
                body: "{}".into(),
                state: if i % 2 == 0 { "delivered" } else { "failed" }.into(),
                attempts: 1,
                next_attempt_ms: 0,
                locked_until_ms: 0,
                last_status: None,
                last_error: None,
                replay_of: None,
                created_ms: 1_000_000 + i,
                delivered_ms: None,
            })
            .await
            .unwrap();
    }
    let base = format!("/dashboard/webhooks?app={}", c.client_id);
    let first = b.get(&base).await;
    assert_eq!(first.status, StatusCode::OK);
    assert!(first.html.contains("dlv_0119"), "newest first");
    assert!(!first.html.contains("dlv_0069"), "50 a page");
    assert!(first.html.contains(r#"id="older""#));
    assert!(!first.html.contains(r#"id="newer""#));
    let third = b.get(&format!("{base}&page=3")).await;
    assert!(third.html.contains("dlv_0000"), "the oldest is on page 3");
    assert!(third.html.contains(r#"id="newer""#));
    assert!(!third.html.contains(r#"id="older""#));
    // Filtered by state, and the pages keep the filter.
    let failed = b.get(&format!("{base}&state=failed")).await;
    assert!(failed.html.contains("dlv_0119"));
    assert!(!failed.html.contains("dlv_0118"), "only failed ones");
    assert!(
        failed.html.contains("state=failed&#38;page=2"),
        "{}",
        failed.html
    );
}

/// A serving Convene copies SQLite's write-ahead log into the database
/// file by itself (every 250 ms), not only when the log reaches SQLite's
/// threshold: a write shows in the file as read without the log.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_checkpoints_the_write_ahead_log_in_the_background() {
    use sqlx::Connection as _;
    let app = TestApp::spawn(Backend::Sqlite).await;
    let c = app.client("Checkpoints").await;
    let a = app.account(&c, "host").await;
    let path = app.db_url.trim_start_matches("sqlite://").to_string();
    // `immutable` reads the database file alone, ignoring the log.
    let opts = sqlx::sqlite::SqliteConnectOptions::new()
        .filename(&path)
        .read_only(true)
        .immutable(true);
    let mut in_file = 0;
    for _ in 0..50 {
        let mut conn = sqlx::SqliteConnection::connect_with(&opts).await.unwrap();
        // Until a checkpoint, even the tables may be in the log alone.
        in_file = sqlx::query_scalar::<_, i64>("SELECT COUNT(*) FROM accounts WHERE id = $1")
            .bind(&a.sub)
            .fetch_one(&mut conn)
            .await
            .unwrap_or(0);
        let _ = conn.close().await;
        if in_file == 1 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(in_file, 1, "the account reached the database file");
}
