//! Accounts, credentials, calendars, events, rules, periods, wire conventions.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::both;
use crate::helpers::*;

both!(application_calendars_are_idempotent_and_accept_forms);
async fn application_calendars_are_idempotent_and_accept_forms(app: TestApp) {
    let c = app.client("Acme").await;
    let a = app.account(&c, "alice").await;
    assert!(a.sub.starts_with("apc_"));
    // Ruby sends a form with no Authorization; Node sends `Bearer undefined`.
    let form = format!(
        "client_id={}&client_secret={}&application_calendar_id=alice",
        c.client_id, c.client_secret
    );
    let (s, b) = app
        .raw(
            app.http
                .post(app.url("/v1/application_calendars"))
                .header("authorization", "Bearer undefined")
                .header("content-type", "application/x-www-form-urlencoded")
                .body(form),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    assert_eq!(b["sub"], json!(a.sub));
    assert_eq!(b["application_calendar_id"], json!("alice"));
    assert_eq!(b["token_type"], json!("bearer"));
    assert!(b["expires_in"].as_i64().unwrap() > 0);
    assert!(
        b["linking_profile"]["profile_id"]
            .as_str()
            .unwrap()
            .starts_with("pro_")
    );
    // The same id in another application is another account.
    let c2 = app.client("Other").await;
    let other = app.account(&c2, "alice").await;
    assert_ne!(other.sub, a.sub);
    // Wrong secret: 401.
    let (s, _) = app
        .call(Method::POST, "/v1/application_calendars", None, Some(json!({"client_id": c.client_id, "client_secret": "nope", "application_calendar_id": "x"})))
        .await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    // Missing id: 422 with the field named.
    let (s, b) = app
        .call(
            Method::POST,
            "/v1/application_calendars",
            None,
            Some(json!({"client_id": c.client_id, "client_secret": c.client_secret})),
        )
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(err_key(&b, "application_calendar_id"), "errors.required");
}

both!(account_endpoints_describe_the_token_holder);
async fn account_endpoints_describe_the_token_holder(app: TestApp) {
    let c = app.client("Acme").await;
    let a = app.account(&c, "alice").await;
    let t = Some(a.token.as_str());
    let (s, u) = app.call(Method::GET, "/v1/userinfo", t, None).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(u["sub"], json!(a.sub));
    assert_eq!(
        u["cronofy.data"]["profiles"][0]["profile_calendars"][0]["calendar_id"],
        json!(a.calendar_id)
    );
    let (_, acc) = app.call(Method::GET, "/v1/account", t, None).await;
    assert_eq!(acc["account"]["account_id"], json!(a.sub));
    let (_, p) = app.call(Method::GET, "/v1/profiles", t, None).await;
    let profile_id = p["profiles"][0]["profile_id"].as_str().unwrap().to_string();
    let (s, cal) = app
        .call(
            Method::POST,
            "/v1/calendars",
            t,
            Some(json!({"profile_id": profile_id, "name": "Work"})),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{cal}");
    assert_eq!(cal["calendar"]["calendar_name"], json!("Work"));
    let (_, list) = app.call(Method::GET, "/v1/calendars", t, None).await;
    assert_eq!(list["calendars"].as_array().unwrap().len(), 2);
    assert_eq!(list["calendars"][0]["calendar_primary"], json!(true));
    let (s, dup) = app
        .call(
            Method::POST,
            "/v1/calendars",
            t,
            Some(json!({"profile_id": profile_id, "name": "Work"})),
        )
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(err_key(&dup, "name"), "errors.duplicate_calendar_name");
    let (s, bad) = app
        .call(
            Method::POST,
            "/v1/calendars",
            t,
            Some(json!({"profile_id": "pro_nope", "name": "X"})),
        )
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(err_key(&bad, "profile_id"), "errors.not_found");
}

both!(tokens_refresh_revoke_and_expire);
async fn tokens_refresh_revoke_and_expire(app: TestApp) {
    let c = app.client("Acme").await;
    let a = app.account(&c, "alice").await;
    // pycronofy sends the held token as bearer with body credentials.
    let (s, b) = app
        .raw(app.http.post(app.url("/oauth/token")).bearer_auth("None").json(&json!({
            "client_id": c.client_id, "client_secret": c.client_secret, "grant_type": "refresh_token", "refresh_token": a.refresh
        })))
        .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    let fresh = b["access_token"].as_str().unwrap().to_string();
    assert_ne!(fresh, a.token);
    assert_eq!(b["refresh_token"], json!(a.refresh));
    assert_eq!(
        app.call(Method::GET, "/v1/userinfo", Some(&fresh), None)
            .await
            .0,
        StatusCode::OK
    );
    // A bad refresh token is RFC 6749's invalid_grant.
    let (s, b) = app
        .call(Method::POST, "/oauth/token", None, Some(json!({
            "client_id": c.client_id, "client_secret": c.client_secret, "grant_type": "refresh_token", "refresh_token": "nope"
        })))
        .await;
    assert_eq!(
        (s, b["error"].clone()),
        (StatusCode::BAD_REQUEST, json!("invalid_grant"))
    );
    // Revoke (form, as Ruby sends it): every token of the account stops working.
    let (s, _) = app
        .raw(
            app.http
                .post(app.url("/oauth/token/revoke"))
                .header("content-type", "application/x-www-form-urlencoded")
                .body(format!(
                    "client_id={}&client_secret={}&token={}",
                    c.client_id, c.client_secret, fresh
                )),
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    for t in [&fresh, &a.token] {
        let (s, b) = app.call(Method::GET, "/v1/userinfo", Some(t), None).await;
        assert_eq!(s, StatusCode::UNAUTHORIZED);
        assert_eq!(b["error"], json!("unauthorized"));
    }
    let (s, _) = app
        .call(Method::POST, "/oauth/token", None, Some(json!({
            "client_id": c.client_id, "client_secret": c.client_secret, "grant_type": "refresh_token", "refresh_token": a.refresh
        })))
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expired_access_tokens_get_401() {
    let app = TestApp::spawn_with(Backend::Sqlite, |cfg| cfg.access_token_ttl_secs = 0).await;
    let c = app.client("Acme").await;
    let (_, b) = app
        .call(Method::POST, "/v1/application_calendars", None, Some(json!({
            "client_id": c.client_id, "client_secret": c.client_secret, "application_calendar_id": "alice"
        })))
        .await;
    let (s, _) = app
        .call(
            Method::GET,
            "/v1/userinfo",
            b["access_token"].as_str(),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
}

both!(impersonation_stays_inside_the_organizational_unit);
async fn impersonation_stays_inside_the_organizational_unit(app: TestApp) {
    let c = app.client("Acme").await;
    let sibling = app.client("Acme").await; // another application of the same OU
    let stranger = app.client("Globex").await;
    let a = app.account(&c, "alice").await;
    let b = app.account(&stranger, "bob").await;
    let get = |secret: &str, sub: Option<&str>| {
        let mut r = app.http.get(app.url("/v1/account")).bearer_auth(secret);
        if let Some(s) = sub {
            r = r.header("Cronofy-Impersonate", s);
        }
        r
    };
    let (s, body) = app.raw(get(&sibling.client_secret, Some(&a.sub))).await;
    assert_eq!(s, StatusCode::OK, "{body}");
    assert_eq!(body["account"]["account_id"], json!(a.sub));
    assert_eq!(
        app.raw(get(&c.client_secret, Some(&b.sub))).await.0,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        app.raw(get(&c.client_secret, None)).await.0,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        app.raw(get("garbage", Some(&a.sub))).await.0,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        app.raw(app.http.get(app.url("/v1/account"))).await.0,
        StatusCode::UNAUTHORIZED
    );
}

both!(events_upsert_read_page_and_delete);
async fn events_upsert_read_page_and_delete(app: TestApp) {
    let c = app.client("Acme").await;
    let a = app.account(&c, "alice").await;
    let t = Some(a.token.as_str());
    let path = format!("/v1/calendars/{}/events", a.calendar_id);
    for i in 0..60 {
        let (s, b) = app
            .call(Method::POST, &path, t, Some(json!({
                "event_id": format!("e{i:02}"), "summary": format!("Event {i}"),
                "start": future(2 + i / 10, (8 + i % 10) as i8), "end": future(2 + i / 10, (9 + i % 10) as i8), "tzid": "Europe/London",
                "location": {"description": "Room 1"}, "attendees": {"invite": [{"email": "x@example.com", "display_name": "X"}]}
            })))
            .await;
        assert_eq!(s, StatusCode::ACCEPTED, "{b}");
    }
    // Update by event_id: same event, new summary; C#'s space-separated time.
    let (s, _) = app
        .call(Method::POST, &path, t, Some(json!({"event_id": "e00", "summary": "Renamed",
            "start": future(2, 8).replace('T', " "), "end": {"time": future(2, 9), "tzid": "America/Chicago"}})))
        .await;
    assert_eq!(s, StatusCode::ACCEPTED);
    let (s, p1) = app
        .call(
            Method::GET,
            "/v1/events?tzid=Etc/UTC&include_managed=True&only_managed=False&include_deleted=False",
            t,
            None,
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{p1}");
    assert_eq!(p1["pages"]["current"], json!(1));
    assert_eq!(p1["pages"]["total"], json!(2));
    let next = p1["pages"]["next_page"].as_str().unwrap();
    assert!(
        next.starts_with(&app.base),
        "next_page {next} is absolute on the public URL"
    );
    let (s, p2) = app.call(Method::GET, next, t, None).await;
    assert_eq!(s, StatusCode::OK);
    assert!(p2["pages"].get("next_page").is_none());
    let mut all: Vec<Value> = p1["events"].as_array().unwrap().clone();
    all.extend(p2["events"].as_array().unwrap().iter().cloned());
    assert_eq!(all.len(), 60);
    let mut ids: Vec<&str> = all
        .iter()
        .map(|e| e["event_id"].as_str().unwrap())
        .collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 60);
    let e0 = all.iter().find(|e| e["event_id"] == json!("e00")).unwrap();
    assert_eq!(e0["summary"], json!("Renamed"));
    assert_eq!(e0["start"], json!(future(2, 8)));
    assert_eq!(e0["location"]["description"], json!("Room 1"));
    assert_eq!(e0["attendees"][0]["email"], json!("x@example.com"));
    for e in &all {
        for k in ["start", "end", "created", "updated"] {
            let s = e[k].as_str().unwrap();
            assert!(s.len() == 20 && s.ends_with('Z'), "{k}={s}");
        }
    }
    // Free/busy sees them busy.
    let (_, fb) = app
        .call(Method::GET, "/v1/free_busy?tzid=Etc/UTC", t, None)
        .await;
    assert_eq!(fb["free_busy"][0]["free_busy_status"], json!("busy"));
    // Delete one (body), then bulk-delete by query string as pycronofy does.
    let (s, _) = app
        .call(Method::DELETE, &path, t, Some(json!({"event_id": "e01"})))
        .await;
    assert_eq!(s, StatusCode::ACCEPTED);
    let (_, left) = app
        .call(
            Method::GET,
            "/v1/events?include_deleted=true&last_modified=2000-01-01T00:00:00Z",
            t,
            None,
        )
        .await;
    let deleted: Vec<&Value> = left["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["deleted"] == json!(true))
        .collect();
    assert_eq!(deleted.len(), 1);
    let (s, _) = app
        .call(
            Method::DELETE,
            &format!("/v1/events?calendar_ids%5B%5D={}", a.calendar_id),
            t,
            Some(json!({})),
        )
        .await;
    assert_eq!(s, StatusCode::ACCEPTED);
    let (_, none) = app.call(Method::GET, "/v1/events", t, None).await;
    assert_eq!(none["events"], json!([]));
    assert_eq!(none["pages"], json!({"current": 1, "total": 1}));
}

both!(bad_event_input_is_refused_and_nothing_is_written);
async fn bad_event_input_is_refused_and_nothing_is_written(app: TestApp) {
    let c = app.client("Acme").await;
    let a = app.account(&c, "alice").await;
    let b = app.account(&c, "bob").await;
    let t = Some(a.token.as_str());
    let path = format!("/v1/calendars/{}/events", a.calendar_id);
    let cases: Vec<(Value, &str, &str)> = vec![
        (
            json!({"summary": "x", "start": future(2, 9), "end": future(2, 10)}),
            "event_id",
            "errors.required",
        ),
        (
            json!({"event_id": "e", "start": future(2, 9), "end": future(2, 10)}),
            "summary",
            "errors.required",
        ),
        (
            json!({"event_id": "e", "summary": "x", "end": future(2, 10)}),
            "start",
            "errors.required",
        ),
        (
            json!({"event_id": "e", "summary": "x", "start": "yesterday", "end": future(2, 10)}),
            "start",
            "errors.invalid",
        ),
        (
            json!({"event_id": "e", "summary": "x", "start": future(2, 10), "end": future(2, 9)}),
            "end",
            "errors.invalid",
        ),
        (
            json!({"event_id": "e", "summary": "x", "start": "2030-01-07T09:00:00.123Z", "end": future(2, 9)}),
            "start",
            "errors.invalid",
        ),
        (
            json!({"event_id": "e", "summary": "x", "start": future(2, 9), "end": future(2, 10), "tzid": "Mars/Olympus"}),
            "tzid",
            "errors.invalid",
        ),
        (
            json!({"event_id": "e", "summary": ["x"], "start": future(2, 9), "end": future(2, 10)}),
            "summary",
            "errors.invalid",
        ),
        (
            json!({"event_id": "e", "summary": "x", "start": future(2, 9), "end": future(2, 10), "transparency": "see-through"}),
            "transparency",
            "errors.invalid",
        ),
    ];
    for (body, field, key) in cases {
        let (s, resp) = app.call(Method::POST, &path, t, Some(body.clone())).await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{body} → {resp}");
        assert_eq!(err_key(&resp, field), key, "{body} → {resp}");
        assert!(
            resp["errors"][field][0]["description"]
                .as_str()
                .is_some_and(|d| !d.is_empty())
        );
    }
    // Malformed JSON: 400 in the same shape.
    let (s, resp) = app
        .raw(
            app.http
                .post(app.url(&path))
                .bearer_auth(&a.token)
                .header("content-type", "application/json")
                .body("{\"event_id\":"),
        )
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert_eq!(err_key(&resp, "body"), "errors.malformed");
    // Unknown calendar and someone else's calendar: 404, indistinguishable.
    let ok = json!({"event_id": "e", "summary": "x", "start": future(2, 9), "end": future(2, 10)});
    assert_eq!(
        app.call(
            Method::POST,
            "/v1/calendars/cal_nope/events",
            t,
            Some(ok.clone())
        )
        .await
        .0,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        app.call(
            Method::POST,
            &format!("/v1/calendars/{}/events", b.calendar_id),
            t,
            Some(ok.clone())
        )
        .await
        .0,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        app.call(
            Method::DELETE,
            &format!("/v1/calendars/{}/events", b.calendar_id),
            t,
            Some(json!({"event_id": "e"}))
        )
        .await
        .0,
        StatusCode::NOT_FOUND
    );
    let (_, list) = app
        .call(Method::GET, "/v1/events?include_deleted=true", t, None)
        .await;
    assert_eq!(list["events"], json!([]), "nothing was written");
    let (_, list) = app
        .call(Method::GET, "/v1/events", Some(&b.token), None)
        .await;
    assert_eq!(list["events"], json!([]));
    // Unknown fields are ignored, null is absent, all-day Dates work.
    let (s, resp) = app
        .call(Method::POST, &path, t, Some(json!({"event_id": "d", "summary": "Off", "description": null, "future_parameter": 1,
            "start": "2030-01-07", "end": "2030-01-08", "tzid": "Europe/Paris"})))
        .await;
    assert_eq!(s, StatusCode::ACCEPTED, "{resp}");
    let (_, list) = app
        .call(
            Method::GET,
            "/v1/events?from=2030-01-01&to=2030-02-01&tzid=Europe/Paris",
            t,
            None,
        )
        .await;
    assert_eq!(list["events"][0]["start"], json!("2030-01-07"));
    // Bulk delete needs exactly one of delete_all / calendar_ids.
    let (s, resp) = app
        .call(Method::DELETE, "/v1/events", t, Some(json!({})))
        .await;
    assert_eq!(
        (s, err_key(&resp, "delete_all")),
        (StatusCode::UNPROCESSABLE_ENTITY, "errors.required".into())
    );
    let (s, _) = app
        .call(
            Method::DELETE,
            "/v1/events",
            t,
            Some(json!({"delete_all": true, "calendar_ids": [a.calendar_id]})),
        )
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    let (s, _) = app
        .call(
            Method::DELETE,
            "/v1/events?delete_all=True",
            t,
            Some(json!({})),
        )
        .await;
    assert_eq!(s, StatusCode::ACCEPTED);
}

both!(availability_rules_and_periods_round_trip);
async fn availability_rules_and_periods_round_trip(app: TestApp) {
    let c = app.client("Acme").await;
    let a = app.account(&c, "alice").await;
    let t = Some(a.token.as_str());
    let rule = json!({"availability_rule_id": "work", "tzid": "America/Chicago", "calendar_ids": [a.calendar_id],
        "weekly_periods": [{"day": "monday", "start_time": "09:30", "end_time": "12:30"}, {"day": "wednesday", "start_time": "14:00", "end_time": "17:00"}]});
    let (s, b) = app
        .call(
            Method::POST,
            "/v1/availability_rules",
            t,
            Some(rule.clone()),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    assert_eq!(b["availability_rule"], rule);
    let (_, b) = app
        .call(Method::GET, "/v1/availability_rules/work", t, None)
        .await;
    assert_eq!(b["availability_rule"], rule);
    let (_, b) = app
        .call(Method::GET, "/v1/availability_rules", t, None)
        .await;
    assert_eq!(b["availability_rules"], json!([rule]));
    // Node sends a body with the DELETE; tolerated.
    let (s, _) = app
        .call(
            Method::DELETE,
            "/v1/availability_rules/work",
            t,
            Some(json!({"availability_rule_id": "work"})),
        )
        .await;
    assert_eq!(s, StatusCode::ACCEPTED);
    assert_eq!(
        app.call(Method::GET, "/v1/availability_rules/work", t, None)
            .await
            .0,
        StatusCode::NOT_FOUND
    );
    for (body, field) in [
        (
            json!({"tzid": "Etc/UTC", "weekly_periods": []}),
            "availability_rule_id",
        ),
        (
            json!({"availability_rule_id": "x", "weekly_periods": []}),
            "tzid",
        ),
        (
            json!({"availability_rule_id": "x", "tzid": "Etc/UTC"}),
            "weekly_periods",
        ),
        (
            json!({"availability_rule_id": "x", "tzid": "Etc/UTC", "weekly_periods": [{"day": "funday", "start_time": "09:00", "end_time": "10:00"}]}),
            "weekly_periods[0].day",
        ),
        (
            json!({"availability_rule_id": "x", "tzid": "Etc/UTC", "weekly_periods": [{"day": "monday", "start_time": "9am", "end_time": "10:00"}]}),
            "weekly_periods[0].start_time",
        ),
        (
            json!({"availability_rule_id": "x", "tzid": "Etc/UTC", "weekly_periods": [{"day": "monday", "start_time": "11:00", "end_time": "10:00"}]}),
            "weekly_periods[0].end_time",
        ),
        (
            json!({"availability_rule_id": "x", "tzid": "Etc/UTC", "calendar_ids": ["cal_other"], "weekly_periods": []}),
            "calendar_ids[0]",
        ),
    ] {
        let (s, resp) = app
            .call(
                Method::POST,
                "/v1/availability_rules",
                t,
                Some(body.clone()),
            )
            .await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        assert!(resp["errors"][field].is_array(), "{body} → {resp}");
    }
    // Available periods: 202, listed (trailing slash tolerated), deleted.
    let p = json!({"available_period_id": "p1", "start": future(3, 9), "end": future(3, 17)});
    assert_eq!(
        app.call(Method::POST, "/v1/available_periods", t, Some(p))
            .await
            .0,
        StatusCode::ACCEPTED
    );
    let (s, b) = app
        .call(Method::GET, "/v1/available_periods/?tzid=Etc/UTC", t, None)
        .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(
        b["available_periods"],
        json!([{"available_period_id": "p1", "start": future(3, 9), "end": future(3, 17)}])
    );
    let (s, resp) = app
        .call(
            Method::POST,
            "/v1/available_periods",
            t,
            Some(json!({"available_period_id": "p2", "start": future(3, 9), "end": future(3, 8)})),
        )
        .await;
    assert_eq!(
        (s, err_key(&resp, "end")),
        (StatusCode::UNPROCESSABLE_ENTITY, "errors.invalid".into())
    );
    assert_eq!(
        app.call(
            Method::DELETE,
            "/v1/available_periods/",
            t,
            Some(json!({"available_period_id": "p1"}))
        )
        .await
        .0,
        StatusCode::ACCEPTED
    );
    let (_, b) = app
        .call(Method::GET, "/v1/available_periods", t, None)
        .await;
    assert_eq!(b["available_periods"], json!([]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_documented_route_is_served_and_described() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let (s, doc) = app.call(Method::GET, "/openapi.json", None, None).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(doc["openapi"], json!("3.1.0"));
    let paths = doc["paths"].as_object().expect("paths");
    assert!(paths.len() >= 4, "{doc}");
    let ops: Vec<(String, String)> = paths
        .iter()
        .flat_map(|(path, item)| {
            item.as_object()
                .into_iter()
                .flat_map(|m| m.keys())
                .filter(|m| ["get", "post", "delete", "put", "patch"].contains(&m.as_str()))
                .map(move |m| (m.clone(), path.clone()))
        })
        .collect();
    for (method, path) in &ops {
        let op = &doc["paths"][path][method];
        assert!(op["responses"].is_object(), "{method} {path}: no responses");
        assert!(op["security"].is_array(), "{method} {path}: no security");
        let concrete = path.replace('{', "x").replace('}', "");
        let m = Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
        let (s, body) = app.call(m, &concrete, None, None).await;
        assert!(
            !(s == StatusCode::NOT_FOUND && body["message"] == json!("no such route")),
            "{method} {path} is not routed"
        );
    }
    let (s, body) = app.call(Method::PUT, "/v1/calendars", None, None).await;
    assert_eq!(
        (s, body["error"].clone()),
        (StatusCode::METHOD_NOT_ALLOWED, json!("method_not_allowed"))
    );
    let (s, body) = app.call(Method::GET, "/v1/nope", None, None).await;
    assert_eq!(
        (s, body["error"].clone()),
        (StatusCode::NOT_FOUND, json!("not_found"))
    );
    let (s, h) = app.call(Method::GET, "/healthz", None, None).await;
    assert_eq!((s, h["status"].clone()), (StatusCode::OK, json!("ok")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rate_limited_credentials_get_429_with_retry_after() {
    let app = TestApp::spawn_with(Backend::Sqlite, |cfg| cfg.rate_limit_per_minute = 5).await;
    let c = app.client("Acme").await;
    // One request with the token already (the helper lists calendars).
    let a = app.account(&c, "alice").await;
    for _ in 0..4 {
        assert_eq!(
            app.call(Method::GET, "/v1/account", Some(&a.token), None)
                .await
                .0,
            StatusCode::OK
        );
    }
    let resp = app
        .http
        .get(app.url("/v1/account"))
        .bearer_auth(&a.token)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::TOO_MANY_REQUESTS);
    let wait: u64 = resp.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=60).contains(&wait));
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["error"], json!("too_many_requests"));
    // Another credential has its own budget; health checks are never limited.
    assert_eq!(
        app.call(Method::GET, "/v1/application", Some(&c.client_secret), None)
            .await
            .0,
        StatusCode::OK
    );
    for _ in 0..10 {
        assert_eq!(
            app.call(Method::GET, "/healthz", None, None).await.0,
            StatusCode::OK
        );
    }
}

/// The document tells each credential apart: schemathesis (and any client
/// generator) sends what each operation declares, and fuzzes the bodies and
/// parameters it names.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calendars_events_oauth_and_application_are_documented_with_their_credentials() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let (_, doc) = app.call(Method::GET, "/openapi.json", None, None).await;
    let op = |m: &str, p: &str| doc["paths"][p][m].clone();
    let account = json!([{"account_token": []}, {"client_secret": []}]);
    for (m, p, security) in [
        ("post", "/oauth/token", json!([{}])),
        ("post", "/oauth/token/revoke", json!([{}])),
        ("post", "/v1/application_calendars", json!([{}])),
        ("get", "/v1/calendars", account.clone()),
        ("post", "/v1/calendars", account.clone()),
        (
            "post",
            "/v1/calendars/{calendar_id}/events",
            account.clone(),
        ),
        (
            "delete",
            "/v1/calendars/{calendar_id}/events",
            account.clone(),
        ),
        ("get", "/v1/events", account.clone()),
        ("delete", "/v1/events", account.clone()),
        ("get", "/v1/events/pages/{page}", account.clone()),
        ("get", "/v1/free_busy", account.clone()),
        ("get", "/v1/free_busy/pages/{page}", account.clone()),
        ("post", "/v1/channels", account.clone()),
        ("get", "/v1/channels", account.clone()),
        ("delete", "/v1/channels/{channel_id}", account.clone()),
        ("get", "/v1/application", json!([{"client_secret": []}])),
        ("post", "/v1/application", json!([{"client_secret": []}])),
        ("get", "/v1/deliveries", json!([{"client_secret": []}])),
        (
            "post",
            "/v1/deliveries/{delivery_id}/replay",
            json!([{"client_secret": []}]),
        ),
    ] {
        let o = op(m, p);
        assert_eq!(o["security"], security, "{m} {p}");
        let ok = o["responses"]
            .as_object()
            .unwrap_or_else(|| panic!("{m} {p} is not documented"))
            .iter()
            .find(|(s, _)| s.starts_with('2'))
            .map(|(_, r)| r["content"]["application/json"]["schema"].clone());
        assert!(
            ok.is_some_and(|s| s.is_object()),
            "{m} {p}: no success schema"
        );
        for problem in ["401", "404", "422"] {
            assert!(o["responses"][problem].is_object(), "{m} {p}: no {problem}");
        }
    }
    for (m, p, field) in [
        ("post", "/v1/calendars", "CreateCalendar"),
        ("post", "/v1/channels", "CreateChannel"),
        ("post", "/v1/calendars/{calendar_id}/events", "UpsertEvent"),
        ("post", "/oauth/token", "TokenRequest"),
    ] {
        let content = &op(m, p)["requestBody"]["content"];
        for ctype in ["application/json", "application/x-www-form-urlencoded"] {
            assert_eq!(
                content[ctype]["schema"]["$ref"],
                json!(format!("#/components/schemas/{field}")),
                "{m} {p} {ctype}"
            );
        }
    }
    let names = |m: &str, p: &str| -> Vec<String> {
        op(m, p)["parameters"]
            .as_array()
            .map(|a| {
                a.iter()
                    .map(|x| x["name"].as_str().unwrap_or("").to_string())
                    .collect()
            })
            .unwrap_or_default()
    };
    for p in ["/v1/events", "/v1/free_busy"] {
        let n = names("get", p);
        for want in [
            "from",
            "to",
            "tzid",
            "calendar_ids[]",
            "include_managed",
            "last_modified",
        ] {
            assert!(n.iter().any(|x| x == want), "{p} lacks {want}: {n:?}");
        }
    }
    assert_eq!(names("get", "/v1/deliveries"), ["state", "limit"]);
    assert_eq!(names("delete", "/v1/channels/{channel_id}"), ["channel_id"]);
    // /oauth/token answers RFC 6749 errors, not field errors, on 400.
    let (s, b) = app
        .call(
            Method::POST,
            "/oauth/token",
            None,
            Some(json!({"client_id": "x", "client_secret": "y", "grant_type": "refresh_token"})),
        )
        .await;
    assert_eq!(s, StatusCode::UNAUTHORIZED, "{b}");
    assert_eq!(
        op("post", "/oauth/token")["responses"]["400"]["content"]["application/json"]["schema"]["$ref"],
        json!("#/components/schemas/OAuthProblem")
    );
}

both!(event_deletes_name_a_non_empty_id);
async fn event_deletes_name_a_non_empty_id(app: TestApp) {
    let c = app.client("Acme").await;
    let a = app.account(&c, "alice").await;
    let t = Some(a.token.as_str());
    let path = format!("/v1/calendars/{}/events", a.calendar_id);
    for (body, query, field) in [
        (json!({"event_id": ""}), "", "event_id"),
        (json!({}), "?event_uid=", "event_uid"),
    ] {
        let (s, b) = app
            .call(Method::DELETE, &format!("{path}{query}"), t, Some(body))
            .await;
        assert_eq!(
            (s, err_key(&b, field)),
            (StatusCode::UNPROCESSABLE_ENTITY, "errors.invalid".into()),
            "{b}"
        );
    }
    let (s, _) = app
        .call(Method::DELETE, &format!("{path}?event_id=e1"), t, None)
        .await;
    assert_eq!(s, StatusCode::ACCEPTED);
}
