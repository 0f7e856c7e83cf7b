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
    assert!(
        text.contains("convene_http_request_duration_seconds_bucket"),
        "{text}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_metrics_token_guards_the_metrics() {
    let app = TestApp::spawn_with(Backend::Sqlite, |cfg| {
        cfg.metrics_token = Some("scrape-me".into())
    })
    .await;
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
