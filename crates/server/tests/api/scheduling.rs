//! Templates and scheduling requests: the seed, every documented error, the
//! recipient page flow, and no double booking under concurrent selection.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::both;
use crate::helpers::*;

/// Every day 08:00–18:00 UTC.
async fn workday(app: &TestApp, a: &Acct) {
    daily(app, a, "08:00", "18:00").await;
}

struct World {
    c: Client,
    host: Acct,
    pool: Vec<Acct>,
}

/// A host and a pool of three, in an application with a webhook (to an
/// address nobody answers), so that notifications are recorded.
async fn world(app: &TestApp) -> World {
    let w = world_without_webhook(app).await;
    set_webhook(app, &w.c, &format!("http://{}/hook", unused_addr())).await;
    w
}

async fn world_without_webhook(app: &TestApp) -> World {
    let c = app.client("Acme").await;
    let host = app.account(&c, "doc").await;
    workday(app, &host).await;
    let mut pool = Vec::new();
    for n in ["p1", "p2", "p3"] {
        let a = app.account(&c, n).await;
        workday(app, &a).await;
        pool.push(a);
    }
    World { c, host, pool }
}

async fn template(app: &TestApp, w: &World, extra: Value) -> String {
    let mut body = json!({
        "name": "Driving lessons",
        "host": {"sub": w.host.sub},
        "collaborator_groups": [{"name": "Technical Assistant Pool", "members": w.pool.iter().map(|a| json!({"sub": a.sub})).collect::<Vec<_>>(), "required": 1}],
        "event": {"summary": "Driving lessons - Marty & Doc", "description": "Don't forget your video camera", "location": {"description": "Hill Valley"}},
        "duration": {"minutes": 30},
        "availability_mode": {"days": 7},
        "tzid": "Europe/London"
    });
    for (k, v) in extra.as_object().unwrap() {
        body[k] = v.clone();
    }
    let (s, b) = app
        .call(
            Method::POST,
            "/v1/scheduling_templates",
            Some(&w.c.client_secret),
            Some(body),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    let sub = b["scheduling_template"]["sub"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(sub.starts_with("sgr_"));
    sub
}

fn seed_request(sub: &str) -> Value {
    json!({"template": {"sub": sub}, "recipients": [{"email": "marty@evenitron.com", "display_name": "Marty McFly", "slot_selector": true}]})
}

async fn create_request(app: &TestApp, w: &World, sub: &str) -> Value {
    let (s, b) = app
        .call(
            Method::POST,
            "/v1/scheduling_requests",
            Some(&w.c.client_secret),
            Some(seed_request(sub)),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    b["scheduling_request"].clone()
}

/// The page's slot values.
fn slots_in(html: &str) -> Vec<String> {
    html.split("name=\"slot\" value=\"")
        .skip(1)
        .map(|s| s[..20].to_string())
        .collect()
}

async fn get_page(app: &TestApp, url: &str) -> (StatusCode, String) {
    let r = app.http.get(url).send().await.unwrap();
    (r.status(), r.text().await.unwrap())
}

async fn post_form(app: &TestApp, url: &str, form: &str) -> (StatusCode, String) {
    let r = app
        .http
        .post(url)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(form.to_string())
        .send()
        .await
        .unwrap();
    (r.status(), r.text().await.unwrap())
}

async fn events_of(app: &TestApp, a: &Acct) -> Vec<Value> {
    let (_, b) = app
        .call(Method::GET, "/v1/events?tzid=Etc/UTC", Some(&a.token), None)
        .await;
    b["events"].as_array().unwrap().clone()
}

async fn state_of(app: &TestApp, w: &World, id: &str) -> Value {
    let (s, b) = app
        .call(
            Method::POST,
            "/v1/scheduling_requests/query",
            Some(&w.c.client_secret),
            Some(json!({"scheduling_request_ids": [id, "srq_unknown"]})),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    assert_eq!(
        b["scheduling_requests"].as_array().unwrap().len(),
        1,
        "unknown ids are left out"
    );
    b["scheduling_requests"][0]["scheduling_request"].clone()
}

both!(seed_example_answers_the_seed_shape);
async fn seed_example_answers_the_seed_shape(app: TestApp) {
    let w = world(&app).await;
    let sub = template(&app, &w, json!({})).await;
    let r = create_request(&app, &w, &sub).await;
    assert!(
        r["scheduling_request_id"]
            .as_str()
            .unwrap()
            .starts_with("srq_")
    );
    assert_eq!(r["slot_selection"], json!("pending"));
    let url = r["primary_select_url"].as_str().unwrap();
    assert!(url.starts_with(&format!("{}/rts/", app.base)));
    assert!(
        url.rsplit('/').next().unwrap().len() >= 22,
        "≥ 128-bit token"
    );
    assert_eq!(r["recipient_operations"]["view_url"], json!(url));
    assert!(r["dashboard_url"].as_str().unwrap().starts_with(&app.base));
    assert_eq!(r["summary"], json!("Driving lessons - Marty & Doc"));
    assert_eq!(r["duration"], json!({"minutes": 30}));
    assert_eq!(r["recipients"][0]["email"], json!("marty@evenitron.com"));
    assert_eq!(r["recipients"][0]["display_name"], json!("Marty McFly"));
    assert_eq!(r["recipients"][0]["slot_selector"], json!(true));
    assert_eq!(
        r["collaborator_groups"][0]["name"],
        json!("Technical Assistant Pool")
    );
    assert_eq!(r["collaborator_groups"][0]["required"], json!(1));
    assert_eq!(
        r["collaborator_groups"][0]["members"]
            .as_array()
            .unwrap()
            .len(),
        3
    );
    assert_eq!(
        r["event"]["summary"],
        json!("Driving lessons - Marty & Doc")
    );
    // The token is not stored: only its digest.
    let token = url.rsplit('/').next().unwrap();
    let stored = app
        .db
        .request(r["scheduling_request_id"].as_str().unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_ne!(stored.token_hash, token);
    // Templates API: read, list, update, delete.
    let (_, t) = app
        .call(
            Method::GET,
            &format!("/v1/scheduling_templates/{sub}"),
            Some(&w.c.client_secret),
            None,
        )
        .await;
    assert_eq!(t["scheduling_template"]["name"], json!("Driving lessons"));
    let (_, l) = app
        .call(
            Method::GET,
            "/v1/scheduling_templates",
            Some(&w.c.client_secret),
            None,
        )
        .await;
    assert_eq!(l["scheduling_templates"].as_array().unwrap().len(), 1);
    // A person's token is recognised but may not manage the unit's templates,
    // requests, webhook or delivery log.
    for (m, path) in [
        (Method::GET, "/v1/scheduling_templates".to_string()),
        (Method::POST, "/v1/scheduling_requests/query".to_string()),
        (Method::POST, "/v1/application".to_string()),
        (Method::GET, "/v1/deliveries".to_string()),
    ] {
        let (s, b) = app
            .call(
                m,
                &path,
                Some(&w.host.token),
                Some(json!({"scheduling_request_ids": ["x"]})),
            )
            .await;
        assert_eq!(s, StatusCode::FORBIDDEN, "{path}: {b}");
    }
    let other = app.client("Globex").await;
    assert_eq!(
        app.call(
            Method::GET,
            &format!("/v1/scheduling_templates/{sub}"),
            Some(&other.client_secret),
            None
        )
        .await
        .0,
        StatusCode::NOT_FOUND
    );
}

both!(every_documented_error);
async fn every_documented_error(app: TestApp) {
    let w = world(&app).await;
    let good = template(&app, &w, json!({})).await;
    let post = |body: Value| {
        let app = &app;
        let secret = w.c.client_secret.clone();
        async move {
            app.call(
                Method::POST,
                "/v1/scheduling_requests",
                Some(&secret),
                Some(body),
            )
            .await
        }
    };
    // recipients
    let (s, b) = post(json!({"template": {"sub": good}})).await;
    assert_eq!(
        (s, err_key(&b, "recipients")),
        (StatusCode::UNPROCESSABLE_ENTITY, "errors.required".into())
    );
    assert_eq!(
        b["errors"]["recipients"][0]["description"],
        json!("recipients must be specified")
    );
    let (s, b) =
        post(json!({"template": {"sub": good}, "recipients": [{"email": "m@e.com"}]})).await;
    assert_eq!(
        (s, err_key(&b, "recipients")),
        (
            StatusCode::UNPROCESSABLE_ENTITY,
            "errors.slot_selector_required".into()
        )
    );
    // template problems, each with a dashboard link to the template
    let other_ou = app.client("Globex").await;
    let (_, foreign) = app
        .call(
            Method::POST,
            "/v1/scheduling_templates",
            Some(&other_ou.client_secret),
            Some(json!({"name": "theirs"})),
        )
        .await;
    let foreign = foreign["scheduling_template"]["sub"]
        .as_str()
        .unwrap()
        .to_string();
    let deleted = template(&app, &w, json!({})).await;
    assert_eq!(
        app.call(
            Method::DELETE,
            &format!("/v1/scheduling_templates/{deleted}"),
            Some(&w.c.client_secret),
            None
        )
        .await
        .0,
        StatusCode::ACCEPTED
    );
    let stranger = app.account(&other_ou, "eve").await;
    let cases: Vec<(String, &str)> = vec![
        (template(&app, &w, json!({"event": {"summary": "Lesson with {{recipient.name}}"}})).await, "errors.template.placeholders_not_supported"),
        (template(&app, &w, json!({"host": null})).await, "errors.template.host.required"),
        (template(&app, &w, json!({"host": null, "host_group": {"members": [], "required": 1}})).await, "errors.template.host_group.must_not_be_empty"),
        (template(&app, &w, json!({"host": {"sub": stranger.sub}})).await, "errors.template.host.not_recognized"),
        (template(&app, &w, json!({"collaborator_groups": [{"name": "empty", "members": [], "required": 1}]})).await, "errors.template.collaborator_groups.selection_rule_must_not_be_empty"),
        ("sgr_doesnotexist".to_string(), "errors.template.not_recognized"),
        (foreign, "errors.template.not_recognized"),
        (deleted, "errors.template.not_recognized"),
        (template(&app, &w, json!({"collaborator_groups": [{"name": "g", "members": [{"sub": w.pool[0].sub}], "required": 2}]})).await, "errors.template.unsatisfiable_query_participants"),
        (template(&app, &w, json!({"availability_mode": {"query_periods": [{"start": "2020-01-01T09:00:00Z", "end": "2020-01-01T17:00:00Z"}]}})).await, "errors.template.availability_mode.query_periods.query_period_in_the_past"),
    ];
    for (sub, key) in cases {
        let (s, b) = post(seed_request(&sub)).await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{sub}: {b}");
        let errs = b["errors"]["template.sub"]
            .as_array()
            .unwrap_or_else(|| panic!("{b}"));
        let e = errs
            .iter()
            .find(|e| e["key"] == json!(key))
            .unwrap_or_else(|| panic!("{key} not in {b}"));
        assert!(e["description"].as_str().is_some_and(|d| !d.is_empty()));
        assert_eq!(
            e["cronofy_dashboard_url"],
            json!(format!("{}/dashboard/templates/{sub}", app.base))
        );
    }
    // Nothing was created by any refused request.
    assert!(
        app.db
            .requests(&w.c.ou, None, 100)
            .await
            .unwrap()
            .is_empty()
    );
}

both!(recipient_picks_books_reschedules_and_cancels);
async fn recipient_picks_books_reschedules_and_cancels(app: TestApp) {
    let w = world(&app).await;
    // Doc is busy for the first two free hours of tomorrow.
    let (s, _) = app
        .call(
            Method::POST,
            &format!("/v1/calendars/{}/events", w.host.calendar_id),
            Some(&w.host.token),
            Some(json!({
                "event_id": "busy", "summary": "Flux", "start": future(1, 8), "end": future(1, 10)
            })),
        )
        .await;
    assert_eq!(s, StatusCode::ACCEPTED);
    let sub = template(&app, &w, json!({})).await;
    let r = create_request(&app, &w, &sub).await;
    let id = r["scheduling_request_id"].as_str().unwrap().to_string();
    let url = r["primary_select_url"].as_str().unwrap().to_string();
    let (s, html) = get_page(&app, &format!("{url}?tz=America/New_York")).await;
    assert_eq!(s, StatusCode::OK);
    assert!(html.contains("Driving lessons - Marty "), "{html}");
    assert!(html.contains("<option value=\"America/New_York\" selected>"));
    let slots = slots_in(&html);
    assert!(!slots.is_empty());
    let busy = (future(1, 8), future(1, 10));
    for s in &slots {
        let t: jiff::Timestamp = s.parse().unwrap();
        let h = t.to_zoned(jiff::tz::TimeZone::UTC).hour();
        assert!((8..18).contains(&h), "{s} outside everyone's hours");
        assert!(
            !(s.as_str() >= busy.0.as_str() && s.as_str() < busy.1.as_str()),
            "{s} overlaps Doc's event"
        );
    }
    // A bad slot value is refused without booking.
    let (s, _) = post_form(&app, &url, "slot=tomorrow").await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    let chosen = slots[0].clone();
    let (s, html) = post_form(
        &app,
        &url,
        &format!("slot={}&tz=Etc%2FUTC", chosen.replace(':', "%3A")),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{html}");
    assert!(html.contains("id=\"confirmation\""));
    let q = state_of(&app, &w, &id).await;
    assert_eq!(q["slot_selection"], json!("complete"));
    assert!(
        q["recipient_operations"]["reschedule_url"]
            .as_str()
            .unwrap()
            .ends_with("?reschedule=true")
    );
    assert!(
        q["recipient_operations"]["decline_url"]
            .as_str()
            .unwrap()
            .ends_with("?decline=true")
    );
    // The host's and exactly one collaborator's calendars hold the event, with the recipient attending.
    let host_ev: Vec<Value> = events_of(&app, &w.host)
        .await
        .into_iter()
        .filter(|e| e["event_id"] == json!(id))
        .collect();
    assert_eq!(host_ev.len(), 1);
    assert_eq!(host_ev[0]["start"], json!(chosen));
    assert_eq!(
        host_ev[0]["summary"],
        json!("Driving lessons - Marty & Doc")
    );
    assert_eq!(host_ev[0]["location"]["description"], json!("Hill Valley"));
    assert_eq!(
        host_ev[0]["attendees"][0]["email"],
        json!("marty@evenitron.com")
    );
    let mut holders = Vec::new();
    for p in &w.pool {
        if events_of(&app, p)
            .await
            .iter()
            .any(|e| e["event_id"] == json!(id))
        {
            holders.push(p.sub.clone());
        }
    }
    assert_eq!(holders.len(), 1, "one of the pool of three");
    // The booking's event belongs to the booking: the events API cannot
    // move or delete it, and a bulk delete leaves it alone.
    let events_path = format!("/v1/calendars/{}/events", w.host.calendar_id);
    let (s, b) = app
        .call(Method::POST, &events_path, Some(&w.host.token), Some(json!({"event_id": id, "summary": "mine now", "start": future(5, 9), "end": future(5, 10)})))
        .await;
    assert_eq!(
        (s, err_key(&b, "event_id")),
        (StatusCode::UNPROCESSABLE_ENTITY, "errors.reserved".into())
    );
    let (s, _) = app
        .call(
            Method::DELETE,
            &events_path,
            Some(&w.host.token),
            Some(json!({"event_id": id})),
        )
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    let uid = host_ev[0]["event_uid"].as_str().unwrap().to_string();
    assert_eq!(
        app.call(
            Method::DELETE,
            &events_path,
            Some(&w.host.token),
            Some(json!({"event_uid": uid}))
        )
        .await
        .0,
        StatusCode::ACCEPTED
    );
    assert_eq!(
        app.call(
            Method::DELETE,
            "/v1/events",
            Some(&w.host.token),
            Some(json!({"delete_all": true}))
        )
        .await
        .0,
        StatusCode::ACCEPTED
    );
    assert!(
        events_of(&app, &w.host)
            .await
            .iter()
            .any(|e| e["event_id"] == json!(id) && e["start"] == json!(chosen))
    );
    // Selecting again once complete is refused.
    let (s, _) = post_form(&app, &url, &format!("slot={}", slots[1])).await;
    assert_eq!(s, StatusCode::CONFLICT);
    // Reschedule: confirm page, then pending_rescheduling, then a new time moves the event.
    let (s, html) = get_page(&app, &format!("{url}?reschedule=true")).await;
    assert_eq!(s, StatusCode::OK);
    assert!(html.contains("value=\"reschedule\""));
    let (s, html) = post_form(&app, &url, "action=reschedule").await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(
        state_of(&app, &w, &id).await["slot_selection"],
        json!("pending_rescheduling")
    );
    let again = slots_in(&html);
    // The booking's own event does not block its own time.
    assert!(again.contains(&chosen), "{again:?}");
    let new_time = again.iter().find(|s| **s != chosen).unwrap().clone();
    let (s, _) = post_form(&app, &url, &format!("slot={new_time}")).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(
        state_of(&app, &w, &id).await["slot_selection"],
        json!("complete")
    );
    let host_ev: Vec<Value> = events_of(&app, &w.host)
        .await
        .into_iter()
        .filter(|e| e["event_id"] == json!(id))
        .collect();
    assert_eq!(host_ev.len(), 1, "moved, not duplicated");
    assert_eq!(host_ev[0]["start"], json!(new_time));
    // Cancel through the API: 202, events gone, state cancelled, page says so.
    cancel_via_api(&app, &w, &id).await;
    assert_eq!(
        state_of(&app, &w, &id).await["slot_selection"],
        json!("cancelled")
    );
    assert!(
        events_of(&app, &w.host)
            .await
            .iter()
            .all(|e| e["event_id"] != json!(id))
    );
    let (_, html) = get_page(&app, &url).await;
    assert!(html.contains("id=\"cancelled\""));
    // Notifications were recorded for every change.
    let kinds = recorded(&app, &id).await;
    assert_eq!(
        kinds,
        vec![
            "scheduling_request_time_chosen",
            "scheduling_request_rescheduling",
            "scheduling_request_rescheduled",
            "scheduling_request_cancelled"
        ]
    );
}

/// Lets the days of a request's window go by: the templates here search 7
/// days ahead.
fn close_window(app: &TestApp) {
    app.clock
        .advance(std::time::Duration::from_secs(8 * 24 * 3600));
}

// An application without a webhook would be sent nothing: its bookings
// and cancellations write no notification; once it has one, they do.
both!(a_request_no_webhook_hears_of_records_no_notification);
async fn a_request_no_webhook_hears_of_records_no_notification(app: TestApp) {
    let w = world_without_webhook(&app).await;
    let sub = template(&app, &w, json!({})).await;
    let mut ids = Vec::new();
    for webhook in [false, true] {
        if webhook {
            set_webhook(&app, &w.c, &format!("http://{}/hook", unused_addr())).await;
        }
        let r = create_request(&app, &w, &sub).await;
        let id = r["scheduling_request_id"].as_str().unwrap().to_string();
        let url = r["primary_select_url"].as_str().unwrap().to_string();
        let (_, html) = get_page(&app, &url).await;
        let slot = slots_in(&html)[0].clone();
        let (s, _) = post_form(&app, &url, &format!("slot={slot}")).await;
        assert_eq!(s, StatusCode::OK);
        cancel_via_api(&app, &w, &id).await;
        ids.push(id);
    }
    assert_eq!(recorded(&app, &ids[0]).await, Vec::<String>::new());
    assert_eq!(
        recorded(&app, &ids[1]).await,
        vec![
            "scheduling_request_time_chosen",
            "scheduling_request_cancelled"
        ]
    );
}

/// `change` notifications recorded for an account.
async fn changes_for(app: &TestApp, a: &Acct) -> i64 {
    convene_store::dispatch!(&app.db, |p| sqlx::query_scalar::<_, i64>(
        "SELECT COUNT(*) FROM notifications WHERE kind = 'change' AND account_id = $1"
    )
    .bind(&a.sub)
    .fetch_one(p)
    .await
    .unwrap())
}

// A booking is a change of its members' calendars: a channel watching one
// of them hears of it, and members nobody watches cost nothing.
both!(a_booking_tells_the_channels_watching_its_members);
async fn a_booking_tells_the_channels_watching_its_members(app: TestApp) {
    let w = world_without_webhook(&app).await;
    open_channel(&app, &w.host, &format!("http://{}/cb", unused_addr())).await;
    let before = changes_for(&app, &w.host).await;
    let sub = template(&app, &w, json!({})).await;
    let r = create_request(&app, &w, &sub).await;
    let url = r["primary_select_url"].as_str().unwrap().to_string();
    let (_, html) = get_page(&app, &url).await;
    let slot = slots_in(&html)[0].clone();
    let (s, _) = post_form(&app, &url, &format!("slot={slot}")).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(changes_for(&app, &w.host).await, before + 1);
    for a in &w.pool {
        assert_eq!(changes_for(&app, a).await, 0, "nobody watches {}", a.sub);
    }
}

// A pick decides on the request as its page showed it moments ago (no
// second read); a request that changed in between is read again, so a
// cancelled one books nothing and one booked elsewhere is not booked twice.
both!(a_pick_on_a_page_that_changed_meanwhile_books_nothing);
async fn a_pick_on_a_page_that_changed_meanwhile_books_nothing(app: TestApp) {
    let w = world(&app).await;
    let sub = template(&app, &w, json!({})).await;
    let other = app.replica().await;
    // Cancelled through the API after the page was shown.
    let r = create_request(&app, &w, &sub).await;
    let id = r["scheduling_request_id"].as_str().unwrap().to_string();
    let url = r["primary_select_url"].as_str().unwrap().to_string();
    let (_, html) = get_page(&app, &url).await;
    let slot = slots_in(&html)[0].clone();
    cancel_via_api(&app, &w, &id).await;
    let (s, html) = post_form(&app, &url, &format!("slot={slot}")).await;
    assert_eq!(s, StatusCode::CONFLICT, "{html}");
    assert!(html.contains("id=\"cancelled\""));
    assert_eq!(
        state_of(&app, &w, &id).await["slot_selection"],
        json!("cancelled")
    );
    assert!(
        events_of(&app, &w.host)
            .await
            .iter()
            .all(|e| e["event_id"] != json!(id))
    );
    // Booked through another replica's page after this one was shown.
    let r = create_request(&app, &w, &sub).await;
    let id = r["scheduling_request_id"].as_str().unwrap().to_string();
    let url = r["primary_select_url"].as_str().unwrap().to_string();
    let (_, html) = get_page(&app, &url).await;
    let offered = slots_in(&html);
    let there = url.replace(&app.url(""), &other.url(""));
    let (s, _) = post_form(&other, &there, &format!("slot={}", offered[1])).await;
    assert_eq!(s, StatusCode::OK);
    let (s, _) = post_form(&app, &url, &format!("slot={}", offered[0])).await;
    assert_eq!(s, StatusCode::CONFLICT);
    let host_events: Vec<Value> = events_of(&app, &w.host)
        .await
        .into_iter()
        .filter(|e| e["event_id"] == json!(id))
        .collect();
    assert_eq!(host_events.len(), 1, "booked once");
    assert_eq!(host_events[0]["start"], json!(offered[1]));
}

/// `POST /v1/scheduling_requests/cancel`, accepted.
async fn cancel_via_api(app: &TestApp, w: &World, id: &str) {
    let (s, b) = app
        .call(
            Method::POST,
            "/v1/scheduling_requests/cancel",
            Some(&w.c.client_secret),
            Some(json!({"scheduling_request_id": id})),
        )
        .await;
    assert_eq!(s, StatusCode::ACCEPTED, "{b}");
}

async fn recorded(app: &TestApp, id: &str) -> Vec<String> {
    convene_store::dispatch!(&app.db, |p| sqlx::query_scalar::<_, String>(
        "SELECT kind FROM notifications WHERE subject_id = $1 ORDER BY created_ms, id"
    )
    .bind(id)
    .fetch_all(p)
    .await
    .unwrap())
}

both!(decline_and_expiry_pages);
async fn decline_and_expiry_pages(app: TestApp) {
    let w = world(&app).await;
    let sub = template(&app, &w, json!({})).await;
    let r = create_request(&app, &w, &sub).await;
    let url = r["primary_select_url"].as_str().unwrap().to_string();
    let (s, html) = get_page(&app, &format!("{url}?decline=true")).await;
    assert_eq!(s, StatusCode::OK);
    assert!(html.contains("value=\"decline\""));
    let (s, html) = post_form(&app, &url, "action=decline").await;
    assert_eq!(s, StatusCode::OK);
    assert!(html.contains("id=\"cancelled\""));
    let id = r["scheduling_request_id"].as_str().unwrap();
    assert_eq!(
        state_of(&app, &w, id).await["slot_selection"],
        json!("cancelled")
    );
    assert_eq!(
        recorded(&app, id).await,
        vec!["scheduling_request_declined"]
    );
    // Expiry: the window has passed.
    let r2 = create_request(&app, &w, &sub).await;
    let id2 = r2["scheduling_request_id"].as_str().unwrap();
    close_window(&app);
    assert_eq!(
        state_of(&app, &w, id2).await["slot_selection"],
        json!("expired")
    );
    let (_, html) = get_page(&app, r2["primary_select_url"].as_str().unwrap()).await;
    assert!(html.contains("id=\"expired\""));
    let (s, _) = get_page(&app, &format!("{}/rts/not-a-token", app.base)).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
}

both!(concurrent_selections_never_double_book);
async fn concurrent_selections_never_double_book(app: TestApp) {
    let w = world(&app).await;
    // No collaborators: every request needs Doc, so every slot competes for him.
    let sub = template(&app, &w, json!({"collaborator_groups": []})).await;
    let mut urls = Vec::new();
    for _ in 0..24 {
        urls.push(
            create_request(&app, &w, &sub).await["primary_select_url"]
                .as_str()
                .unwrap()
                .to_string(),
        );
    }
    let (_, html) = get_page(&app, &urls[0]).await;
    let slots = slots_in(&html);
    // Overlapping choices: 30-minute slots starting 15 minutes apart would
    // overlap; on a 30-minute grid, pick the same slot and its neighbour.
    let picks = [slots[0].clone(), slots[1].clone()];
    // Half the recipients reach a second Convene sharing the database.
    let replica = app.replica().await;
    let tasks: Vec<_> = urls
        .iter()
        .enumerate()
        .map(|(i, u)| {
            let http = app.http.clone();
            let u = if i % 4 < 2 {
                u.clone()
            } else {
                u.replacen(&app.base, &replica.base, 1)
            };
            let slot = picks[i % 2].clone();
            tokio::spawn(async move {
                http.post(&u)
                    .header("content-type", "application/x-www-form-urlencoded")
                    .body(format!("slot={slot}"))
                    .send()
                    .await
                    .unwrap()
                    .status()
            })
        })
        .collect();
    // Meanwhile, plain writers compete for the same database: none may be
    // starved or fail while bookings hold the write lock.
    let writers: Vec<_> = (0..30)
        .map(|i| {
            let http = app.http.clone();
            let url = app.url(&format!("/v1/calendars/{}/events", w.pool[i % 3].calendar_id));
            let token = w.pool[i % 3].token.clone();
            tokio::spawn(async move {
                http.post(url)
                    .bearer_auth(token)
                    .json(&json!({"event_id": format!("w{i}"), "summary": "w", "start": future(20, 9), "end": future(20, 10)}))
                    .send()
                    .await
                    .unwrap()
                    .status()
            })
        })
        .collect();
    let mut ok = 0;
    let mut conflict = 0;
    for t in writers {
        assert_eq!(t.await.unwrap(), StatusCode::ACCEPTED);
    }
    for t in tasks {
        match t.await.unwrap() {
            StatusCode::OK => ok += 1,
            StatusCode::CONFLICT => conflict += 1,
            other => panic!("unexpected {other}"),
        }
    }
    assert_eq!(ok, 2, "one winner per slot");
    assert_eq!(conflict, 22);
    let evs: Vec<Value> = events_of(&app, &w.host).await;
    let mut starts: Vec<&str> = evs.iter().map(|e| e["start"].as_str().unwrap()).collect();
    starts.sort();
    assert_eq!(starts, vec![picks[0].as_str(), picks[1].as_str()]);
}

both!(requests_expire_without_being_read);
async fn requests_expire_without_being_read(app: TestApp) {
    let w = world(&app).await;
    let sub = template(&app, &w, json!({})).await;
    let r = create_request(&app, &w, &sub).await;
    let id = r["scheduling_request_id"].as_str().unwrap();
    close_window(&app);
    // Nobody reads it: the background sweep expires it and records the notification.
    for _ in 0..100 {
        if recorded(&app, id).await == vec!["scheduling_request_expired"] {
            assert_eq!(
                app.db.request(id).await.unwrap().unwrap().state.as_str(),
                "expired"
            );
            // Stamped by the server's clock, which the window's days passed on.
            let payload = convene_store::dispatch!(&app.db, |p| sqlx::query_scalar::<_, String>(
                "SELECT payload_json FROM notifications WHERE subject_id = $1"
            )
            .bind(id)
            .fetch_one(p)
            .await
            .unwrap());
            let v: Value = serde_json::from_str(&payload).unwrap();
            let at: jiff::Timestamp = v["notification"]["triggered_at"]
                .as_str()
                .unwrap()
                .parse()
                .unwrap();
            let week = jiff::SignedDuration::from_hours(7 * 24);
            assert!(at > jiff::Timestamp::now() + week, "{payload}");
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("not expired: {:?}", recorded(&app, id).await);
}

both!(a_reschedule_that_runs_out_of_window_keeps_the_booking);
async fn a_reschedule_that_runs_out_of_window_keeps_the_booking(app: TestApp) {
    let w = world(&app).await;
    let sub = template(&app, &w, json!({})).await;
    let r = create_request(&app, &w, &sub).await;
    let id = r["scheduling_request_id"].as_str().unwrap().to_string();
    let url = r["primary_select_url"].as_str().unwrap().to_string();
    let (_, html) = get_page(&app, &url).await;
    let slot = slots_in(&html)[0].clone();
    assert_eq!(
        post_form(&app, &url, &format!("slot={slot}")).await.0,
        StatusCode::OK
    );
    assert_eq!(
        post_form(&app, &url, "action=reschedule").await.0,
        StatusCode::OK
    );
    assert_eq!(
        state_of(&app, &w, &id).await["slot_selection"],
        json!("pending_rescheduling")
    );
    close_window(&app);
    let q = state_of(&app, &w, &id).await;
    assert_eq!(q["slot_selection"], json!("complete"), "{q}");
    assert_eq!(q["event"]["start"]["time"], json!(slot));
    assert!(
        events_of(&app, &w.host)
            .await
            .iter()
            .any(|e| e["event_id"] == json!(id) && e["start"] == json!(slot))
    );
    assert!(
        recorded(&app, &id)
            .await
            .contains(&"scheduling_request_reschedule_expired".to_string())
    );
}

both!(a_meeting_that_has_started_can_no_longer_be_declined_or_moved);
async fn a_meeting_that_has_started_can_no_longer_be_declined_or_moved(app: TestApp) {
    let w = world(&app).await;
    let sub = template(&app, &w, json!({})).await;
    let r = create_request(&app, &w, &sub).await;
    let id = r["scheduling_request_id"].as_str().unwrap().to_string();
    let url = r["primary_select_url"].as_str().unwrap().to_string();
    let (_, html) = get_page(&app, &url).await;
    let slot = slots_in(&html)[0].clone();
    assert_eq!(
        post_form(&app, &url, &format!("slot={slot}")).await.0,
        StatusCode::OK
    );
    // The booked meeting is now under way.
    let start: jiff::Timestamp = slot.parse().unwrap();
    let until = start.as_millisecond() - app.clock.now_ms() + 60_000;
    app.clock
        .advance(std::time::Duration::from_millis(until as u64));
    let q = state_of(&app, &w, &id).await;
    assert!(
        q["recipient_operations"].get("decline_url").is_none(),
        "{q}"
    );
    assert!(
        q["recipient_operations"].get("reschedule_url").is_none(),
        "{q}"
    );
    let (_, page) = get_page(&app, &format!("{url}?decline=true")).await;
    assert!(!page.contains("value=\"decline\""));
    for action in ["decline", "reschedule"] {
        let (s, _) = post_form(&app, &url, &format!("action={action}")).await;
        assert_eq!(s, StatusCode::CONFLICT, "{action}");
    }
    assert_eq!(
        state_of(&app, &w, &id).await["slot_selection"],
        json!("complete")
    );
    assert!(
        events_of(&app, &w.host)
            .await
            .iter()
            .any(|e| e["event_id"] == json!(id))
    );
}

both!(template_bodies_refuse_shapes_they_would_silently_drop);
async fn template_bodies_refuse_shapes_they_would_silently_drop(app: TestApp) {
    let w = world(&app).await;
    let post = |body: Value| {
        let app = &app;
        let secret = w.c.client_secret.clone();
        async move {
            app.call(
                Method::POST,
                "/v1/scheduling_templates",
                Some(&secret),
                Some(body),
            )
            .await
        }
    };
    let (s, b) = post(json!({
        "name": "n",
        "host": {},
        "host_group": 0,
        "collaborator_groups": [null, {"members": [7], "required": 1_000_000}],
        "event": "x",
        "buffer": [],
        "availability_mode": {"query_periods": [], "days": 99},
    }))
    .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{b}");
    for field in [
        "host.sub",
        "host_group",
        "collaborator_groups[0]",
        "collaborator_groups[1].members[0]",
        "collaborator_groups[1].required",
        "event",
        "buffer",
        "availability_mode.days",
    ] {
        assert!(b["errors"].get(field).is_some(), "{field} missing in {b}");
    }
    // The lenient spellings still pass: a bare sub, a single member.
    let (s, b) = post(json!({
        "name": 5,
        "host": w.host.sub,
        "collaborator_groups": [{"members": w.pool[0].sub, "required": 1}],
    }))
    .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    assert_eq!(b["scheduling_template"]["name"], json!("5"));
}

both!(scheduling_operations_are_documented);
async fn scheduling_operations_are_documented(app: TestApp) {
    let (s, doc) = app.call(Method::GET, "/openapi.json", None, None).await;
    assert_eq!(s, StatusCode::OK);
    for (path, method, body) in [
        ("/v1/scheduling_templates", "post", true),
        ("/v1/scheduling_templates", "get", false),
        ("/v1/scheduling_templates/{sub}", "get", false),
        ("/v1/scheduling_templates/{sub}", "post", true),
        ("/v1/scheduling_templates/{sub}", "delete", false),
        ("/v1/scheduling_requests", "post", true),
        ("/v1/scheduling_requests/query", "post", true),
        ("/v1/scheduling_requests/cancel", "post", true),
    ] {
        let op = &doc["paths"][path][method];
        assert_eq!(
            op["security"],
            json!([{"client_secret": []}]),
            "{method} {path}"
        );
        assert_eq!(
            op["requestBody"]["content"]
                .get("application/x-www-form-urlencoded")
                .is_some(),
            body,
            "{method} {path}"
        );
        assert!(op["responses"].get("422").is_some(), "{method} {path}");
    }
}

both!(template_recipients_join_every_request_and_its_meeting);
async fn template_recipients_join_every_request_and_its_meeting(app: TestApp) {
    let w = world(&app).await;
    let sub = template(
        &app,
        &w,
        json!({"recipients": [
            {"email": "jennifer@hillvalley.com", "display_name": "Jennifer Parker"},
            {"email": "MARTY@evenitron.com", "slot_selector": false}
        ]}),
    )
    .await;
    let (_, t) = app
        .call(
            Method::GET,
            &format!("/v1/scheduling_templates/{sub}"),
            Some(&w.c.client_secret),
            None,
        )
        .await;
    assert_eq!(
        t["scheduling_template"]["recipients"],
        json!([
            {"email": "jennifer@hillvalley.com", "display_name": "Jennifer Parker"},
            {"email": "MARTY@evenitron.com"}
        ])
    );
    let r = create_request(&app, &w, &sub).await;
    // The caller's recipient first; one the caller already names is not repeated.
    let rs = r["recipients"].as_array().unwrap();
    assert_eq!(rs.len(), 2, "{r}");
    assert_eq!(rs[0]["email"], json!("marty@evenitron.com"));
    assert_eq!(rs[0]["slot_selector"], json!(true));
    assert_eq!(rs[1]["email"], json!("jennifer@hillvalley.com"));
    assert_eq!(rs[1]["display_name"], json!("Jennifer Parker"));
    assert_eq!(rs[1]["slot_selector"], json!(false));
    assert!(rs[1].get("select_url").is_none());
    let url = r["primary_select_url"].as_str().unwrap().to_string();
    let (_, html) = get_page(&app, &url).await;
    let slot = slots_in(&html)[0].clone();
    let (s, html) = post_form(&app, &url, &format!("slot={}", slot.replace(':', "%3A"))).await;
    assert_eq!(s, StatusCode::OK, "{html}");
    let ev = events_of(&app, &w.host).await;
    let emails: Vec<&str> = ev[0]["attendees"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["email"].as_str().unwrap())
        .collect();
    assert_eq!(
        emails,
        ["marty@evenitron.com", "jennifer@hillvalley.com"],
        "{ev:?}"
    );
    // Template recipients are checked like the rest of a template.
    let (s, b) = app
        .call(
            Method::POST,
            "/v1/scheduling_templates",
            Some(&w.c.client_secret),
            Some(json!({"name": "n", "recipients": [
                {"email": "nope", "slot_selector": true}, null, 3, {"display_name": "x"}
            ]})),
        )
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{b}");
    for field in [
        "recipients[0].email",
        "recipients[0].slot_selector",
        "recipients[1]",
        "recipients[2]",
        "recipients[3].email",
    ] {
        assert!(b["errors"].get(field).is_some(), "{field} missing in {b}");
    }
}

// A booking brings this process's availability cache forward instead of
// dropping it; what the next recipient is offered must be exactly what a
// replica with nothing cached reads from the database. Picks out of time
// order put the new events before, between and after the cached ones.
both!(the_cache_a_booking_brings_forward_answers_what_the_database_says);
async fn the_cache_a_booking_brings_forward_answers_what_the_database_says(app: TestApp) {
    let w = world(&app).await;
    let sub = template(&app, &w, json!({})).await;
    let cold = app.replica().await;
    for pick_at in [40usize, 5, 20, 0, 60] {
        let r = create_request(&app, &w, &sub).await;
        let url = r["primary_select_url"].as_str().unwrap().to_string();
        let (s, html) = get_page(&app, &url).await;
        assert_eq!(s, StatusCode::OK);
        let offered = slots_in(&html);
        let slot = offered[pick_at.min(offered.len() - 1)].clone();
        let (s, _) = post_form(&app, &url, &format!("slot={slot}")).await;
        assert_eq!(s, StatusCode::OK);
        let next = create_request(&app, &w, &sub).await;
        let next_url = next["primary_select_url"].as_str().unwrap();
        let (_, warm) = get_page(&app, next_url).await;
        let (_, fresh) = get_page(&cold, &next_url.replace(&app.url(""), &cold.url(""))).await;
        assert!(!slots_in(&warm).contains(&slot), "{slot} is taken now");
        assert_eq!(
            slots_in(&warm),
            slots_in(&fresh),
            "after booking {slot}: this process offers what the database says"
        );
    }
}
