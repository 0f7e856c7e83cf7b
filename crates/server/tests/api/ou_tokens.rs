//! Organizational Unit tokens: an admin of the unit grants an application
//! `organizational_unit_scheduler` at /oauth/authorize; the code becomes a
//! token at /oauth/token that the scheduling request endpoints accept for
//! that unit, and nothing else.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::both;
use crate::browser::{PASSWORD, admin};
use crate::helpers::*;

const CB: &str = "http://app.example/callback";

fn no_redirects() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

/// Posts the consent form; answers the status and the redirect's query.
async fn consent(app: &TestApp, c: &Client, form: &[(&str, &str)]) -> (StatusCode, String) {
    let mut all: Vec<(&str, &str)> = vec![
        ("response_type", "code"),
        ("client_id", &c.client_id),
        ("redirect_uri", CB),
        ("scope", "organizational_unit_scheduler"),
        ("state", "xyz"),
    ];
    all.extend_from_slice(form);
    let r = no_redirects()
        .post(app.url("/oauth/authorize"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(serde_urlencoded::to_string(&all).unwrap())
        .send()
        .await
        .unwrap();
    let loc = r
        .headers()
        .get("location")
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default();
    (r.status(), loc)
}

fn code_of(location: &str) -> String {
    let u = reqwest::Url::parse(location).unwrap();
    let q: Vec<(String, String)> = u.query_pairs().into_owned().collect();
    assert!(q.contains(&("state".into(), "xyz".into())), "{location}");
    q.into_iter().find(|(k, _)| k == "code").unwrap().1
}

async fn exchange(
    app: &TestApp,
    c: &Client,
    code: &str,
    redirect_uri: &str,
) -> (StatusCode, Value) {
    app.call(
        Method::POST,
        "/oauth/token",
        None,
        Some(json!({"client_id": c.client_id, "client_secret": c.client_secret,
                    "grant_type": "authorization_code", "code": code, "redirect_uri": redirect_uri})),
    )
    .await
}

both!(an_admin_grants_a_unit_token_for_scheduling_requests_only);
async fn an_admin_grants_a_unit_token_for_scheduling_requests_only(app: TestApp) {
    let c = app.client("Acme").await;
    let host = app.account(&c, "host").await;
    admin(&app, "Acme", "ann@acme.example").await;
    admin(&app, "Elsewhere", "bob@else.example").await;

    let page = app
        .http
        .get(app.url(&format!(
            "/oauth/authorize?response_type=code&client_id={}&redirect_uri={CB}&scope=organizational_unit_scheduler&state=xyz",
            c.client_id
        )))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    let csp = page.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_string();
    assert!(
        csp.contains("form-action 'self' http://app.example;"),
        "{csp}"
    );
    assert!(page.text().await.unwrap().contains("id=\"consent\""));
    // Another unit's admin, a wrong password: no code.
    let (s, loc) = consent(
        &app,
        &c,
        &[
            ("decision", "allow"),
            ("email", "bob@else.example"),
            ("password", PASSWORD),
        ],
    )
    .await;
    assert_eq!(s, StatusCode::UNAUTHORIZED, "{loc}");
    let (s, _) = consent(
        &app,
        &c,
        &[
            ("decision", "allow"),
            ("email", "ann@acme.example"),
            ("password", "nope"),
        ],
    )
    .await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    let (s, loc) = consent(&app, &c, &[("decision", "deny")]).await;
    assert_eq!(s, StatusCode::SEE_OTHER);
    assert_eq!(loc, format!("{CB}?error=access_denied&state=xyz"));
    let (s, loc) = consent(
        &app,
        &c,
        &[
            ("decision", "allow"),
            ("email", "ann@acme.example"),
            ("password", PASSWORD),
        ],
    )
    .await;
    assert_eq!(s, StatusCode::SEE_OTHER);
    let code = code_of(&loc);

    // A code answers for its redirect_uri only, and once.
    let (s, b) = exchange(&app, &c, &code, "http://app.example/other").await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{b}");
    let (s, tok) = exchange(&app, &c, &code, CB).await;
    assert_eq!(s, StatusCode::OK, "{tok}");
    assert_eq!(tok["scope"], "organizational_unit_scheduler");
    assert_eq!(tok["sub"], c.ou.as_str());
    let (s, b) = exchange(&app, &c, &code, CB).await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{b}");
    assert_eq!(b["error"], "invalid_grant");
    let token = tok["access_token"].as_str().unwrap().to_string();

    // Scheduling requests: create, query, cancel.
    let (s, t) = app
        .call(
            Method::POST,
            "/v1/scheduling_templates",
            Some(&c.client_secret),
            Some(json!({"name": "Intro", "host": {"sub": host.sub}, "event": {"summary": "Intro"},
                        "duration": {"minutes": 30}, "availability_mode": {"days": 7}, "tzid": "Etc/UTC"})),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{t}");
    let sub = t["scheduling_template"]["sub"].as_str().unwrap();
    let (s, r) = app
        .call(
            Method::POST,
            "/v1/scheduling_requests",
            Some(&token),
            Some(json!({"template": {"sub": sub}, "recipients": [{"email": "m@example.com", "slot_selector": true}]})),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{r}");
    let id = r["scheduling_request"]["scheduling_request_id"]
        .as_str()
        .unwrap();
    let (s, q) = app
        .call(
            Method::POST,
            "/v1/scheduling_requests/query",
            Some(&token),
            Some(json!({"scheduling_request_ids": [id]})),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{q}");
    assert_eq!(
        q["scheduling_requests"][0]["scheduling_request"]["scheduling_request_id"],
        id
    );
    let (s, _) = app
        .call(
            Method::POST,
            "/v1/scheduling_requests/cancel",
            Some(&token),
            Some(json!({"scheduling_request_id": id})),
        )
        .await;
    assert_eq!(s, StatusCode::ACCEPTED);
    // Nothing else.
    let (s, _) = app
        .call(Method::GET, "/v1/scheduling_templates", Some(&token), None)
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let (s, _) = app
        .call(Method::GET, "/v1/calendars", Some(&token), None)
        .await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    // The refresh token gives a new access token of the unit.
    let (s, again) = app
        .call(
            Method::POST,
            "/oauth/token",
            None,
            Some(
                json!({"client_id": c.client_id, "client_secret": c.client_secret,
                        "grant_type": "refresh_token", "refresh_token": tok["refresh_token"]}),
            ),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{again}");
    assert_eq!(again["scope"], "organizational_unit_scheduler");
    let (s, _) = app
        .call(
            Method::POST,
            "/v1/scheduling_requests/query",
            Some(again["access_token"].as_str().unwrap()),
            Some(json!({"scheduling_request_ids": [id]})),
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    // Only this scope is granted here.
    let r = app
        .http
        .get(app.url(&format!(
            "/oauth/authorize?response_type=code&client_id={}&redirect_uri={CB}&scope=read_events",
            c.client_id
        )))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
}
