//! The admin dashboard: sign-in, sessions and CSRF, one Organizational Unit
//! per admin, the template editor (showing the API's own validation
//! problems) and the request page at `dashboard_url`.

use convene_server::ids::digest;
use convene_server::now_ms;
use reqwest::header::SET_COOKIE;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::both;
use crate::browser::*;
use crate::helpers::*;

/// Every day 08:00–18:00 UTC.
async fn workday(app: &TestApp, a: &Acct) {
    daily(app, a, "08:00", "18:00").await;
}

async fn api_template(app: &TestApp, c: &Client, body: Value) -> String {
    let (s, b) = app
        .call(
            Method::POST,
            "/v1/scheduling_templates",
            Some(&c.client_secret),
            Some(body),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    b["scheduling_template"]["sub"]
        .as_str()
        .unwrap()
        .to_string()
}

async fn api_request(app: &TestApp, c: &Client, sub: &str) -> (StatusCode, Value) {
    app.call(
        Method::POST,
        "/v1/scheduling_requests",
        Some(&c.client_secret),
        Some(json!({"template": {"sub": sub}, "recipients": [{"email": "marty@example.com", "display_name": "Marty", "slot_selector": true}]})),
    )
    .await
}

/// A unit with a host and two pool members, a ready template and a request.
struct Unit {
    c: Client,
    host: Acct,
    sub: String,
    request: Value,
}

async fn unit(app: &TestApp, ou: &str, summary: &str) -> Unit {
    let c = app.client(ou).await;
    let host = app.account(&c, "host").await;
    let p1 = app.account(&c, "p1").await;
    let p2 = app.account(&c, "p2").await;
    for a in [&host, &p1, &p2] {
        workday(app, a).await;
    }
    let sub = api_template(
        app,
        &c,
        json!({
            "name": format!("{summary} template"),
            "host": {"sub": host.sub},
            "collaborator_groups": [{"name": "Pool", "members": [{"sub": p1.sub}, {"sub": p2.sub}], "required": 1}],
            "event": {"summary": summary},
            "duration": {"minutes": 30},
            "availability_mode": {"days": 7},
            "tzid": "Etc/UTC"
        }),
    )
    .await;
    let (s, b) = api_request(app, &c, &sub).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    Unit {
        c,
        host,
        sub,
        request: b["scheduling_request"].clone(),
    }
}

fn path_of(app: &TestApp, url: &str) -> String {
    url.strip_prefix(&app.base).unwrap_or(url).to_string()
}

both!(sign_in_is_required_and_sessions_are_hashed_cookies);
async fn sign_in_is_required_and_sessions_are_hashed_cookies(app: TestApp) {
    let mut anon = Browser::new(&app);
    for path in [
        "/dashboard",
        "/dashboard/templates",
        "/dashboard/templates/new",
        "/dashboard/requests",
        "/dashboard/requests/srq_x",
    ] {
        let p = anon.get(path).await;
        assert_eq!(p.status, StatusCode::SEE_OTHER, "{path}");
        assert!(
            p.location().starts_with("/dashboard/sign-in"),
            "{path} → {}",
            p.location()
        );
    }
    let p = anon.get("/dashboard/requests?state=complete").await;
    assert_eq!(
        p.location(),
        "/dashboard/sign-in?next=%2Fdashboard%2Frequests%3Fstate%3Dcomplete"
    );
    // Forms without a session change nothing.
    let p = anon
        .post("/dashboard/templates", &[("name", "x"), ("csrf", "x")])
        .await;
    assert_eq!(p.status, StatusCode::SEE_OTHER);

    admin(&app, "Acme", "ann@example.com").await;
    // Wrong password, unknown email: the same refusal.
    let mut b = Browser::new(&app);
    let p = b.sign_in("ann@example.com", "not the password").await;
    assert_eq!(p.status, StatusCode::UNAUTHORIZED);
    assert!(p.html.contains("do not match"));
    let p = b.sign_in("bob@example.com", PASSWORD).await;
    assert_eq!(p.status, StatusCode::UNAUTHORIZED);
    // The sign-in form has its own CSRF token (cookie + field).
    let mut fresh = Browser::new(&app);
    let p = fresh
        .post(
            "/dashboard/sign-in",
            &[
                ("csrf", "forged"),
                ("email", "ann@example.com"),
                ("password", PASSWORD),
            ],
        )
        .await;
    assert_eq!(p.status, StatusCode::FORBIDDEN);
    assert!(!fresh.cookies.contains_key("convene_admin"));
    // An open redirect through `next` is refused.
    let form = fresh.get("/dashboard/sign-in").await;
    let p = fresh
        .post(
            "/dashboard/sign-in",
            &[
                ("csrf", &form.csrf()),
                ("email", "Ann@Example.com"),
                ("password", PASSWORD),
                ("next", "https://evil.example/"),
            ],
        )
        .await;
    assert_eq!(p.status, StatusCode::SEE_OTHER, "{}", p.html);
    assert_eq!(p.location(), "/dashboard");
    let cookie = p
        .headers
        .get_all(SET_COOKIE)
        .iter()
        .map(|v| v.to_str().unwrap().to_string())
        .find(|c| c.starts_with("convene_admin="))
        .unwrap();
    assert!(cookie.contains("HttpOnly"), "{cookie}");
    assert!(cookie.contains("SameSite=Lax"), "{cookie}");
    assert!(cookie.contains("Path=/dashboard"), "{cookie}");
    let token = fresh.cookies["convene_admin"].clone();
    assert!(token.len() >= 22, "≥ 128 random bits");
    // Stored as a digest only.
    assert!(
        app.db
            .admin_session(&token, now_ms())
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        app.db
            .admin_session(&digest(&token), now_ms())
            .await
            .unwrap()
            .is_some()
    );
    let p = fresh.get("/dashboard/templates").await;
    assert_eq!(p.status, StatusCode::OK);
    assert!(p.html.contains("ann@example.com"));
    assert!(
        p.headers
            .get("content-security-policy")
            .is_some_and(|v| v.to_str().unwrap().contains("frame-ancestors 'none'"))
    );
    // Sign-out ends the session on the server, not just in the browser.
    let csrf = p.csrf();
    let p = fresh.post("/dashboard/sign-out", &[("csrf", &csrf)]).await;
    assert_eq!(p.status, StatusCode::SEE_OTHER);
    assert!(
        app.db
            .admin_session(&digest(&token), now_ms())
            .await
            .unwrap()
            .is_none()
    );
    fresh.cookies.insert("convene_admin".into(), token);
    let p = fresh.get("/dashboard/templates").await;
    assert_eq!(p.status, StatusCode::SEE_OTHER);
}

both!(every_post_checks_the_csrf_token);
async fn every_post_checks_the_csrf_token(app: TestApp) {
    let u = unit(&app, "Acme", "Lesson").await;
    let mut b = signed_in(&app, "Acme", "ann@example.com").await;
    let id = u.request["scheduling_request_id"].as_str().unwrap();
    let good = b.get("/dashboard/templates/new").await.csrf();
    let before = app.db.templates(&u.c.ou).await.unwrap().len();
    for csrf in ["", "forged", &good[..good.len() - 1]] {
        let p = b
            .post(
                "/dashboard/templates",
                &[("csrf", csrf), ("name", "Forged"), ("host_kind", "none")],
            )
            .await;
        assert_eq!(p.status, StatusCode::FORBIDDEN, "csrf {csrf:?}");
        let p = b
            .post(
                &format!("/dashboard/templates/{}", u.sub),
                &[("csrf", csrf), ("name", "Renamed")],
            )
            .await;
        assert_eq!(p.status, StatusCode::FORBIDDEN);
        let p = b
            .post(
                &format!("/dashboard/templates/{}/delete", u.sub),
                &[("csrf", csrf)],
            )
            .await;
        assert_eq!(p.status, StatusCode::FORBIDDEN);
        let p = b
            .post(
                &format!("/dashboard/requests/{id}/cancel"),
                &[("csrf", csrf)],
            )
            .await;
        assert_eq!(p.status, StatusCode::FORBIDDEN);
        let p = b.post("/dashboard/sign-out", &[("csrf", csrf)]).await;
        assert_eq!(p.status, StatusCode::FORBIDDEN);
    }
    assert_eq!(app.db.templates(&u.c.ou).await.unwrap().len(), before);
    let t = app.db.template(&u.c.ou, &u.sub).await.unwrap().unwrap();
    assert!(!t.deleted);
    assert_eq!(t.name, "Lesson template");
    let r = app.db.request(id).await.unwrap().unwrap();
    assert_eq!(r.state.as_str(), "pending");
    // Still signed in, and the real token works.
    let p = b
        .post(
            &format!("/dashboard/requests/{id}/cancel"),
            &[("csrf", &good)],
        )
        .await;
    assert_eq!(p.status, StatusCode::SEE_OTHER);
    assert_eq!(
        app.db.request(id).await.unwrap().unwrap().state.as_str(),
        "cancelled"
    );
}

both!(an_admin_sees_only_their_unit);
async fn an_admin_sees_only_their_unit(app: TestApp) {
    let mine = unit(&app, "Acme", "Acme lesson").await;
    let theirs = unit(&app, "Globex", "Globex secret").await;
    let mut b = signed_in(&app, "Acme", "ann@example.com").await;
    let p = b.get("/dashboard/templates").await;
    assert!(p.html.contains("Acme lesson template"));
    assert!(!p.html.contains("Globex"));
    let p = b.get("/dashboard/requests").await;
    assert!(p.html.contains("Acme lesson"));
    assert!(!p.html.contains("Globex"));
    let csrf = p.csrf();
    let their_id = theirs.request["scheduling_request_id"].as_str().unwrap();
    // Their dashboard_url and cronofy_dashboard_url: 404 for this admin.
    let p = b
        .get(&path_of(
            &app,
            theirs.request["dashboard_url"].as_str().unwrap(),
        ))
        .await;
    assert_eq!(p.status, StatusCode::NOT_FOUND);
    assert!(!p.html.contains("Globex"));
    let p = b.get(&format!("/dashboard/templates/{}", theirs.sub)).await;
    assert_eq!(p.status, StatusCode::NOT_FOUND);
    for (path, form) in [
        (
            format!("/dashboard/requests/{their_id}/cancel"),
            vec![("csrf", csrf.as_str())],
        ),
        (
            format!("/dashboard/templates/{}/delete", theirs.sub),
            vec![("csrf", csrf.as_str())],
        ),
        (
            format!("/dashboard/templates/{}", theirs.sub),
            vec![
                ("csrf", csrf.as_str()),
                ("name", "Hijacked"),
                ("host_kind", "none"),
            ],
        ),
    ] {
        let p = b.post(&path, &form).await;
        assert_eq!(p.status, StatusCode::NOT_FOUND, "{path}");
    }
    assert_eq!(
        app.db
            .request(their_id)
            .await
            .unwrap()
            .unwrap()
            .state
            .as_str(),
        "pending"
    );
    let t = app
        .db
        .template(&theirs.c.ou, &theirs.sub)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (t.name.as_str(), t.deleted),
        ("Globex secret template", false)
    );
    // Their accounts are not offered in this unit's editor.
    let p = b.get(&format!("/dashboard/templates/{}", mine.sub)).await;
    assert_eq!(p.status, StatusCode::OK);
    assert!(p.html.contains(&mine.host.sub));
    assert!(!p.html.contains(&theirs.host.sub));
}

both!(the_editor_shows_the_problems_the_api_reports);
async fn the_editor_shows_the_problems_the_api_reports(app: TestApp) {
    let c = app.client("Acme").await;
    let host = app.account(&c, "host").await;
    let p1 = app.account(&c, "p1").await;
    let other = app.client("Globex").await;
    let stranger = app.account(&other, "stranger").await;
    // Saved incomplete (the API allows that); checked when a request uses it.
    let sub = api_template(
        &app,
        &c,
        json!({
            "name": "Broken",
            "host": {"sub": stranger.sub},
            "collaborator_groups": [{"name": "Pool", "members": [{"sub": p1.sub}], "required": 2}],
            "event": {"summary": "Hello {{recipient.name}}"},
            "recipients": [{"email": "doc@example.com", "display_name": "Doc"}],
        }),
    )
    .await;
    let (s, b) = api_request(&app, &c, &sub).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{b}");
    let errors = b["errors"]["template.sub"].as_array().unwrap().clone();
    assert!(errors.len() >= 3, "{b}");
    let url = errors[0]["cronofy_dashboard_url"].as_str().unwrap();
    let mut browser = signed_in(&app, "Acme", "ann@example.com").await;
    let p = browser.get(&path_of(&app, url)).await;
    assert_eq!(p.status, StatusCode::OK, "{}", p.html);
    assert!(
        p.html.contains(&format!("data-count=\"{}\"", errors.len())),
        "{}",
        p.html
    );
    for e in &errors {
        let key = e["key"].as_str().unwrap();
        let description = e["description"].as_str().unwrap();
        assert!(p.html.contains(key), "{key} missing");
        assert!(p.html.contains(description), "{description} missing");
        assert_eq!(e["cronofy_dashboard_url"].as_str().unwrap(), url);
    }
    // The unknown host stays visible as such.
    assert!(p.html.contains("not recognized"));

    // Fixing it in the editor: host + a collaborator group, 1 of 1.
    let csrf = p.csrf();
    let form = [
        ("csrf", csrf.as_str()),
        ("name", "Fixed"),
        ("host_kind", "host"),
        ("host", host.sub.as_str()),
        ("groups[0][name]", "Pool"),
        ("groups[0][members][]", p1.sub.as_str()),
        ("groups[0][required]", "1"),
        ("groups[1][name]", ""),
        ("groups[1][required]", "1"),
        ("summary", "Hello"),
        ("description", "Bring a camera"),
        ("location", "Hill Valley"),
        ("duration", "45"),
        ("before", "5"),
        ("after", "10"),
        ("start_interval", "15"),
        ("minimum_notice", "60"),
        ("tzid", "Europe/London"),
        ("window_kind", "days"),
        ("days", "10"),
    ];
    let p = browser
        .post(&format!("/dashboard/templates/{sub}"), &form)
        .await;
    assert_eq!(p.status, StatusCode::SEE_OTHER, "{}", p.html);
    let p = browser.get(&p.location()).await;
    assert!(p.html.contains("data-count=\"0\""), "{}", p.html);
    assert!(p.html.contains("Template saved"));
    let (_, t) = app
        .call(
            Method::GET,
            &format!("/v1/scheduling_templates/{sub}"),
            Some(&c.client_secret),
            None,
        )
        .await;
    let t = &t["scheduling_template"];
    assert_eq!(t["name"], json!("Fixed"));
    // The editor has no recipient fields: saving keeps the ones the API set.
    assert_eq!(
        t["recipients"],
        json!([{"email": "doc@example.com", "display_name": "Doc"}]),
        "{t}"
    );
    assert_eq!(t["host"], json!({"sub": host.sub}));
    assert_eq!(
        t["collaborator_groups"],
        json!([{"name": "Pool", "members": [{"sub": p1.sub}], "required": 1}])
    );
    assert_eq!(
        t["event"]["location"],
        json!({"description": "Hill Valley"})
    );
    assert_eq!(t["duration"], json!({"minutes": 45}));
    assert_eq!(
        t["buffer"],
        json!({"before": {"minutes": 5}, "after": {"minutes": 10}})
    );
    assert_eq!(t["start_interval"], json!({"minutes": 15}));
    assert_eq!(t["minimum_notice"], json!({"minutes": 60}));
    assert_eq!(t["tzid"], json!("Europe/London"));
    assert_eq!(t["availability_mode"], json!({"days": 10}));
    let (s, b) = api_request(&app, &c, &sub).await;
    assert_eq!(s, StatusCode::OK, "{b}");

    // Shape errors: the form comes back (422) with the API's descriptions,
    // and nothing is saved.
    let mut bad = form.to_vec();
    bad.retain(|(k, _)| !["duration", "start_interval", "name"].contains(k));
    bad.extend([("duration", "0"), ("start_interval", "7"), ("name", "")]);
    let p = browser
        .post(&format!("/dashboard/templates/{sub}"), &bad)
        .await;
    assert_eq!(p.status, StatusCode::UNPROCESSABLE_ENTITY);
    for d in [
        "duration must be 1 to 1440 minutes",
        "start_interval must be a multiple of 5 minutes, from 5 to 240",
        "name must not be blank",
    ] {
        assert!(p.html.contains(d), "{d} missing");
    }
    assert!(p.html.contains("aria-invalid=\"true\""));
    // The rejected values are shown as typed.
    assert!(p.html.contains("value=\"7\""));
    let (_, t) = app
        .call(
            Method::GET,
            &format!("/v1/scheduling_templates/{sub}"),
            Some(&c.client_secret),
            None,
        )
        .await;
    assert_eq!(t["scheduling_template"]["duration"], json!({"minutes": 45}));

    // Creating from scratch, with fixed periods in the template's zone.
    let csrf = browser.get("/dashboard/templates/new").await.csrf();
    let p = browser
        .post(
            "/dashboard/templates",
            &[
                ("csrf", csrf.as_str()),
                ("name", "Summer"),
                ("host_kind", "host_group"),
                ("host_group[name]", "Doctors"),
                ("host_group[members][]", host.sub.as_str()),
                ("host_group[members][]", p1.sub.as_str()),
                ("host_group[required]", "1"),
                ("summary", "Check-up"),
                ("duration", "30"),
                ("tzid", "Europe/London"),
                ("window_kind", "periods"),
                ("periods[0][start]", "2030-07-01T09:00"),
                ("periods[0][end]", "2030-07-01T17:00"),
            ],
        )
        .await;
    assert_eq!(p.status, StatusCode::SEE_OTHER, "{}", p.html);
    let new_sub = p
        .location()
        .trim_start_matches("/dashboard/templates/")
        .trim_end_matches("?saved=1")
        .to_string();
    let t = app.db.template(&c.ou, &new_sub).await.unwrap().unwrap();
    let body: Value = serde_json::from_str(&t.body_json).unwrap();
    assert_eq!(body["host_group"]["required"], json!(1));
    assert_eq!(
        body["availability_mode"]["query_periods"][0],
        json!({"start": "2030-07-01T08:00:00Z", "end": "2030-07-01T16:00:00Z"})
    );
    // Shown back in local time.
    let p = browser
        .get(&format!("/dashboard/templates/{new_sub}"))
        .await;
    assert!(p.html.contains("value=\"2030-07-01T09:00\""));
    // Deleting it.
    let p = browser
        .post(
            &format!("/dashboard/templates/{new_sub}/delete"),
            &[("csrf", csrf.as_str())],
        )
        .await;
    assert_eq!(p.status, StatusCode::SEE_OTHER);
    assert!(
        app.db
            .template(&c.ou, &new_sub)
            .await
            .unwrap()
            .unwrap()
            .deleted
    );
    let p = browser
        .get(&format!("/dashboard/templates/{new_sub}"))
        .await;
    assert_eq!(p.status, StatusCode::NOT_FOUND);
}

both!(the_request_page_follows_the_request);
async fn the_request_page_follows_the_request(app: TestApp) {
    let u = unit(&app, "Acme", "Driving lesson").await;
    let mut b = signed_in(&app, "Acme", "ann@example.com").await;
    let id = u.request["scheduling_request_id"]
        .as_str()
        .unwrap()
        .to_string();
    let dash = path_of(&app, u.request["dashboard_url"].as_str().unwrap());
    assert_eq!(dash, format!("/dashboard/requests/{id}"));
    let p = b.get(&dash).await;
    assert_eq!(p.status, StatusCode::OK);
    assert!(p.html.contains("data-state=\"pending\""));
    assert!(
        p.html.contains("Marty &#60;marty@example.com&#62;"),
        "{}",
        p.html
    );
    assert!(p.html.contains("id=\"cancel-request\""));
    // The recipient picks the first slot.
    let select = u.request["primary_select_url"].as_str().unwrap();
    let html = app
        .http
        .get(select)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let slot = html
        .split("name=\"slot\" value=\"")
        .nth(1)
        .map(|s| s[..20].to_string())
        .unwrap();
    let r = app
        .http
        .post(select)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("slot={}", slot.replace(':', "%3A")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let p = b.get(&dash).await;
    assert!(p.html.contains("data-state=\"complete\""));
    assert!(p.html.contains("id=\"booked-time\""));
    let booked = app.db.request(&id).await.unwrap().unwrap();
    let booking: Value = serde_json::from_str(booked.booking_json.as_deref().unwrap()).unwrap();
    assert_eq!(booking["members"].as_array().unwrap().len(), 2);
    assert!(p.html.contains("host"), "member names shown");
    // The list filters by state.
    let p = b.get("/dashboard/requests?state=complete").await;
    assert!(p.html.contains(&id));
    let p = b.get("/dashboard/requests?state=pending").await;
    assert!(!p.html.contains(&id));
    let p = b.get("/dashboard/requests?state=bogus").await;
    assert_eq!(p.status, StatusCode::OK);
    assert!(p.html.contains(&id));
    // Cancelling from the dashboard removes the booking, as the API does.
    let csrf = p.csrf();
    let p = b
        .post(
            &format!("/dashboard/requests/{id}/cancel"),
            &[("csrf", &csrf)],
        )
        .await;
    assert_eq!(p.status, StatusCode::SEE_OTHER);
    let p = b.get(&p.location()).await;
    assert!(p.html.contains("data-state=\"cancelled\""));
    assert!(
        p.html
            .contains("cancelled in the dashboard by ann@example.com")
    );
    assert!(!p.html.contains("id=\"cancel-request\""));
    let (_, q) = app
        .call(
            Method::POST,
            "/v1/scheduling_requests/query",
            Some(&u.c.client_secret),
            Some(json!({"scheduling_request_ids": [id]})),
        )
        .await;
    assert_eq!(
        q["scheduling_requests"][0]["scheduling_request"]["slot_selection"],
        json!("cancelled")
    );
    let (_, ev) = app
        .call(
            Method::GET,
            "/v1/events?tzid=Etc/UTC",
            Some(&u.host.token),
            None,
        )
        .await;
    assert!(
        ev["events"]
            .as_array()
            .unwrap()
            .iter()
            .all(|e| e["event_id"] != json!(id)),
        "{ev}"
    );
    // Unknown ids are a 404 page, not an error.
    let p = b.get("/dashboard/requests/srq_nope").await;
    assert_eq!(p.status, StatusCode::NOT_FOUND);
}

both!(assets_are_served_by_convene);
async fn assets_are_served_by_convene(app: TestApp) {
    for (file, ctype) in [
        ("convene.css", "text/css"),
        ("dashboard.js", "text/javascript"),
        ("recipient.js", "text/javascript"),
    ] {
        let r = app
            .http
            .get(app.url(&format!("/assets/{file}")))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        assert!(
            r.headers()["content-type"]
                .to_str()
                .unwrap()
                .starts_with(ctype)
        );
    }
    let r = app
        .http
        .get(app.url("/assets/..%2Fsecret"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
}

both!(webhook_urls_and_the_delivery_log);
async fn webhook_urls_and_the_delivery_log(app: TestApp) {
    let mine = app.client("Acme").await;
    let theirs = app.client("Globex").await;
    let mut b = signed_in(&app, "Acme", "ann@example.com").await;
    let p = b.get("/dashboard/webhooks").await;
    assert_eq!(p.status, StatusCode::OK);
    assert!(p.html.contains(&mine.client_id));
    assert!(!p.html.contains(&theirs.client_id));
    let csrf = p.csrf();
    let path = format!("/dashboard/webhooks/{}", mine.client_id);
    // The API's own URL rules.
    let p = b
        .post(
            &path,
            &[("csrf", &csrf), ("webhook_url", "ftp://example.com/x")],
        )
        .await;
    assert_eq!(p.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(p.html.contains("callback_url must use http or https"));
    assert!(p.html.contains("value=\"ftp://example.com/x\""));
    let p = b
        .post(
            &path,
            &[
                ("csrf", "forged"),
                ("webhook_url", "https://example.com/hook"),
            ],
        )
        .await;
    assert_eq!(p.status, StatusCode::FORBIDDEN);
    let p = b
        .post(
            &path,
            &[("csrf", &csrf), ("webhook_url", "https://example.com/hook")],
        )
        .await;
    assert_eq!(p.status, StatusCode::SEE_OTHER);
    let (_, a) = app
        .call(
            Method::GET,
            "/v1/application",
            Some(&mine.client_secret),
            None,
        )
        .await;
    assert_eq!(
        a["application"]["webhook_url"],
        json!("https://example.com/hook")
    );
    // Another unit's application: 404, unchanged.
    let p = b
        .post(
            &format!("/dashboard/webhooks/{}", theirs.client_id),
            &[("csrf", &csrf), ("webhook_url", "https://evil.example/")],
        )
        .await;
    assert_eq!(p.status, StatusCode::NOT_FOUND);
    assert_eq!(
        app.db
            .application(&theirs.client_id)
            .await
            .unwrap()
            .unwrap()
            .webhook_url,
        None
    );
    // The log, and replay.
    let delivery = |id: &str, app_id: &str| convene_store::notify::Delivery {
        id: id.into(),
        application_id: app_id.into(),
        notification_id: None,
        channel_id: None,
        kind: "scheduling_request_time_chosen".into(),
        url: "http://127.0.0.1:9/hook".into(),
        body: r#"{"notification":{"type":"scheduling_request_time_chosen"}}"#.into(),
        state: "failed".into(),
        attempts: 7,
        next_attempt_ms: now_ms(),
        locked_until_ms: 0,
        last_status: Some(500),
        last_error: Some("server error".into()),
        replay_of: None,
        created_ms: now_ms(),
        delivered_ms: None,
    };
    app.db
        .insert_delivery(&delivery("dlv_mine", &mine.client_id))
        .await
        .unwrap();
    app.db
        .insert_delivery(&delivery("dlv_theirs", &theirs.client_id))
        .await
        .unwrap();
    let p = b.get("/dashboard/webhooks?state=failed").await;
    assert!(p.html.contains("data-id=\"dlv_mine\""));
    assert!(p.html.contains("HTTP 500: server error"));
    assert!(!p.html.contains("dlv_theirs"));
    let p = b.get("/dashboard/webhooks?state=delivered").await;
    assert!(!p.html.contains("data-id=\"dlv_mine\""));
    let p = b
        .post("/dashboard/deliveries/dlv_mine/replay", &[("csrf", "x")])
        .await;
    assert_eq!(p.status, StatusCode::FORBIDDEN);
    let p = b
        .post(
            "/dashboard/deliveries/dlv_theirs/replay",
            &[("csrf", &csrf)],
        )
        .await;
    assert_eq!(p.status, StatusCode::NOT_FOUND);
    let p = b
        .post("/dashboard/deliveries/dlv_mine/replay", &[("csrf", &csrf)])
        .await;
    assert_eq!(p.status, StatusCode::SEE_OTHER);
    let copies: Vec<_> = app
        .db
        .deliveries(&mine.client_id, None, 10)
        .await
        .unwrap()
        .into_iter()
        .filter(|d| d.replay_of.as_deref() == Some("dlv_mine"))
        .collect();
    assert_eq!(copies.len(), 1);
    assert_eq!(copies[0].body, delivery("x", "y").body);
    assert!(
        app.db
            .deliveries(&theirs.client_id, None, 10)
            .await
            .unwrap()
            .len()
            == 1
    );
    let p = b.get(&p.location()).await;
    assert!(p.html.contains(&copies[0].id));
}
