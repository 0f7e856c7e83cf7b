//! UI Elements element tokens: issue, and `?et=` on the calls the
//! Elements make, with the page's `Origin`.

use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::both;
use crate::helpers::*;

const ORIGIN: &str = "http://127.0.0.1:18090";

async fn issue(app: &TestApp, c: &Client, permissions: &[&str], subs: &[&str]) -> String {
    let (s, b) = app
        .call(
            Method::POST,
            "/v1/element_tokens",
            Some(&c.client_secret),
            Some(
                json!({"version": "1", "permissions": permissions, "subs": subs, "origin": ORIGIN}),
            ),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    b["element_token"]["token"].as_str().unwrap().to_string()
}

/// A call as an Element makes it: `?et=`, the page's Origin, no Authorization.
async fn element_call(
    app: &TestApp,
    method: Method,
    path: &str,
    et: &str,
    origin: Option<&str>,
    body: Option<Value>,
) -> (StatusCode, Value) {
    let sep = if path.contains('?') { '&' } else { '?' };
    let mut req = app
        .http
        .request(method, app.url(&format!("{path}{sep}et={et}")))
        .header("Cronofy-Element", "v1.67.7, SlotPicker");
    if let Some(o) = origin {
        req = req.header("Origin", o);
    }
    if let Some(b) = body {
        req = req.json(&b);
    }
    app.raw(req).await
}

fn query(subs: &[&str]) -> Value {
    json!({
        "response_format": "overlapping_slots",
        "participants": [{"members": subs.iter().map(|s| json!({"sub": s})).collect::<Vec<_>>(), "required": "all"}],
        "required_duration": {"minutes": 60},
        "query_periods": [{"start": future(2, 9), "end": future(2, 12)}]
    })
}

both!(element_tokens_are_issued_short_lived_and_stored_hashed);
async fn element_tokens_are_issued_short_lived_and_stored_hashed(app: TestApp) {
    let c = app.client("Acme").await;
    let a = app.account(&c, "a").await;
    let (s, b) = app
        .call(
            Method::POST,
            "/v1/element_tokens",
            Some(&c.client_secret),
            Some(json!({"version": "1", "permissions": ["availability", "managed_availability"], "subs": [a.sub], "origin": ORIGIN})),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    let et = &b["element_token"];
    assert_eq!(
        et["permissions"],
        json!(["availability", "managed_availability"])
    );
    assert_eq!(et["origin"], ORIGIN);
    assert_eq!(et["expires_in"], 64 * 60);
    let token = et["token"].as_str().unwrap();
    assert!(token.len() >= 22);
    assert!(app.db.element_token(token).await.unwrap().is_none());
    assert!(
        app.db
            .element_token(&convene_server::ids::digest(token))
            .await
            .unwrap()
            .is_some()
    );
    // Refusals: an account's token, unknown permissions, strangers, no origin.
    let other = app.client("Other").await;
    let stranger = app.account(&other, "s").await;
    let (s, _) = app
        .call(
            Method::POST,
            "/v1/element_tokens",
            Some(&a.token),
            Some(json!({"permissions": ["availability"], "subs": [a.sub], "origin": ORIGIN})),
        )
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    for (body, field, key) in [
        (
            json!({"permissions": ["root"], "subs": [a.sub], "origin": ORIGIN}),
            "permissions",
            "errors.invalid",
        ),
        (
            json!({"permissions": ["availability"], "subs": [stranger.sub], "origin": ORIGIN}),
            "subs[0]",
            "errors.not_recognized",
        ),
        (
            json!({"permissions": ["availability"], "subs": [a.sub]}),
            "origin",
            "errors.required",
        ),
        (
            json!({"permissions": ["availability"], "subs": [a.sub], "origin": "javascript:x"}),
            "origin",
            "errors.invalid",
        ),
    ] {
        let (s, b) = app
            .call(
                Method::POST,
                "/v1/element_tokens",
                Some(&c.client_secret),
                Some(body),
            )
            .await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{b}");
        assert_eq!(err_key(&b, field), key);
    }
}

both!(availability_takes_an_element_token_for_its_subs_from_its_origin);
async fn availability_takes_an_element_token_for_its_subs_from_its_origin(app: TestApp) {
    let c = app.client("Acme").await;
    let a = app.account(&c, "a").await;
    let b = app.account(&c, "b").await;
    let et = issue(&app, &c, &["availability"], &[&a.sub]).await;
    let (s, body) = element_call(
        &app,
        Method::POST,
        "/v1/availability",
        &et,
        Some(ORIGIN),
        Some(query(&[&a.sub])),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{body}");
    assert_eq!(
        body["available_slots"].as_array().unwrap().len(),
        9,
        "{body}"
    );
    // Sequenced availability too.
    let seq = json!({"sequence": [{"sequence_id": "1", "ordinal": 1, "participants": [{"members": [{"sub": a.sub}], "required": "all"}], "required_duration": {"minutes": 30}}],
                      "query_periods": [{"start": future(2, 9), "end": future(2, 12)}]});
    let (s, body) = element_call(
        &app,
        Method::POST,
        "/v1/sequenced_availability",
        &et,
        Some(ORIGIN),
        Some(seq.clone()),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{body}");
    let mut outside = seq;
    outside["sequence"][0]["participants"][0]["members"] = json!([{"sub": b.sub}]);
    let (s, _) = element_call(
        &app,
        Method::POST,
        "/v1/sequenced_availability",
        &et,
        Some(ORIGIN),
        Some(outside),
    )
    .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    // A member outside the token, another page, no page, a bad token.
    let (s, _) = element_call(
        &app,
        Method::POST,
        "/v1/availability",
        &et,
        Some(ORIGIN),
        Some(query(&[&a.sub, &b.sub])),
    )
    .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let (s, _) = element_call(
        &app,
        Method::POST,
        "/v1/availability",
        &et,
        Some("http://evil.example"),
        Some(query(&[&a.sub])),
    )
    .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let (s, _) = element_call(
        &app,
        Method::POST,
        "/v1/availability",
        &et,
        None,
        Some(query(&[&a.sub])),
    )
    .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let (s, _) = element_call(
        &app,
        Method::POST,
        "/v1/availability",
        "nope",
        Some(ORIGIN),
        Some(query(&[&a.sub])),
    )
    .await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    // An account's access token is not an element token.
    let (s, _) = element_call(
        &app,
        Method::POST,
        "/v1/availability",
        &a.token,
        Some(ORIGIN),
        Some(query(&[&a.sub])),
    )
    .await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    // A token without `availability`.
    let rules_only = issue(&app, &c, &["managed_availability"], &[&a.sub]).await;
    let (s, _) = element_call(
        &app,
        Method::POST,
        "/v1/availability",
        &rules_only,
        Some(ORIGIN),
        Some(query(&[&a.sub])),
    )
    .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    // The browser's preflight is answered.
    let pre = app
        .http
        .request(
            Method::OPTIONS,
            app.url(&format!("/v1/availability?et={et}")),
        )
        .header("Origin", ORIGIN)
        .header("Access-Control-Request-Method", "POST")
        .header(
            "Access-Control-Request-Headers",
            "content-type,cronofy-element",
        )
        .send()
        .await
        .unwrap();
    assert!(pre.status().is_success(), "{}", pre.status());
    assert!(pre.headers().contains_key("access-control-allow-origin"));
    // 64 minutes later the token is gone.
    app.clock.advance(Duration::from_secs(65 * 60));
    let (s, _) = element_call(
        &app,
        Method::POST,
        "/v1/availability",
        &et,
        Some(ORIGIN),
        Some(query(&[&a.sub])),
    )
    .await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
}

both!(availability_rules_and_userinfo_act_as_the_tokens_sub);
async fn availability_rules_and_userinfo_act_as_the_tokens_sub(app: TestApp) {
    let c = app.client("Acme").await;
    let a = app.account(&c, "a").await;
    let et = issue(&app, &c, &["managed_availability"], &[&a.sub]).await;
    let (s, info) = element_call(&app, Method::GET, "/v1/userinfo", &et, Some(ORIGIN), None).await;
    assert_eq!(s, StatusCode::OK, "{info}");
    assert_eq!(info["sub"], a.sub.as_str());
    let (s, _) = element_call(
        &app,
        Method::GET,
        "/v1/availability_rules/default",
        &et,
        Some(ORIGIN),
        None,
    )
    .await;
    assert_eq!(s, StatusCode::NOT_FOUND, "no rule yet");
    let rule = json!({"availability_rule_id": "default", "tzid": "Europe/London",
                      "weekly_periods": [{"day": "monday", "start_time": "09:00", "end_time": "17:00"}]});
    let (s, b) = element_call(
        &app,
        Method::POST,
        "/v1/availability_rules",
        &et,
        Some(ORIGIN),
        Some(rule),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    let (_, listed) = app
        .call(Method::GET, "/v1/availability_rules", Some(&a.token), None)
        .await;
    assert_eq!(
        listed["availability_rules"][0]["availability_rule_id"], "default",
        "{listed}"
    );
    assert_eq!(listed["availability_rules"][0]["tzid"], "Europe/London");
    // Not with an availability-only token, and nowhere else.
    let avail = issue(&app, &c, &["availability"], &[&a.sub]).await;
    let (s, _) = element_call(
        &app,
        Method::GET,
        "/v1/availability_rules",
        &avail,
        Some(ORIGIN),
        None,
    )
    .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let (s, _) = element_call(&app, Method::GET, "/v1/calendars", &et, Some(ORIGIN), None).await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let (s, _) = element_call(
        &app,
        Method::GET,
        "/v1/userinfo",
        &et,
        Some("http://evil.example"),
        None,
    )
    .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
}
