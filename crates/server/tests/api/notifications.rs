//! Push notifications against a real HTTP receiver on loopback: signatures,
//! retries through a failing receiver, restarts, two processes, replay.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode as AxStatus};
use convene_server::links::hmac_b64;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::both;
use crate::helpers::*;

#[derive(Clone, Debug)]
pub struct Received {
    pub delivery_id: String,
    pub signature: String,
    pub content_type: String,
    pub body: String,
}

#[derive(Clone, Default)]
struct Inner {
    got: Arc<Mutex<Vec<Received>>>,
    /// Answer 500 to this many requests first.
    fail_first: Arc<Mutex<usize>>,
    attempts: Arc<Mutex<usize>>,
}

pub struct Receiver {
    pub url: String,
    inner: Inner,
}

impl Receiver {
    pub async fn start(fail_first: usize) -> Receiver {
        Self::start_at("127.0.0.1:0", fail_first).await
    }

    pub async fn start_at(addr: &str, fail_first: usize) -> Receiver {
        let inner = Inner {
            fail_first: Arc::new(Mutex::new(fail_first)),
            ..Default::default()
        };
        let app = axum::Router::new()
            .route("/cb", axum::routing::post(handle))
            .with_state(inner.clone());
        let listener = tokio::net::TcpListener::bind(addr).await.unwrap();
        let url = format!("http://{}/cb", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Receiver { url, inner }
    }

    pub fn got(&self) -> Vec<Received> {
        self.inner.got.lock().unwrap().clone()
    }

    pub fn attempts(&self) -> usize {
        *self.inner.attempts.lock().unwrap()
    }

    /// Waits until `n` callbacks were accepted (or fails after 20 s).
    pub async fn wait_for(&self, n: usize) -> Vec<Received> {
        for _ in 0..400 {
            let got = self.got();
            if got.len() >= n {
                return got;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!(
            "only {} of {n} callbacks arrived: {:?}",
            self.got().len(),
            self.got()
        );
    }
}

async fn handle(State(s): State<Inner>, headers: HeaderMap, body: String) -> AxStatus {
    *s.attempts.lock().unwrap() += 1;
    {
        let mut f = s.fail_first.lock().unwrap();
        if *f > 0 {
            *f -= 1;
            return AxStatus::INTERNAL_SERVER_ERROR;
        }
    }
    let h = |k: &str| {
        headers
            .get(k)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string()
    };
    s.got.lock().unwrap().push(Received {
        delivery_id: h("convene-delivery-id"),
        signature: h("cronofy-hmac-sha256"),
        content_type: h("content-type"),
        body,
    });
    AxStatus::OK
}

fn verify(secret: &str, r: &Received) {
    let want = hmac_b64(secret.as_bytes(), r.body.as_bytes());
    assert!(
        r.signature.split(',').any(|s| s == want),
        "signature {} does not verify with the client secret",
        r.signature
    );
    assert_eq!(r.content_type, "application/json; charset=utf-8");
    assert!(r.delivery_id.starts_with("dlv_"));
}

both!(channels_verify_then_report_changes_signed);
async fn channels_verify_then_report_changes_signed(app: TestApp) {
    let rx = Receiver::start(0).await;
    let c = app.client("Acme").await;
    let a = app.account(&c, "alice").await;
    let t = Some(a.token.as_str());
    let (s, b) = app
        .call(Method::POST, "/v1/channels", t, Some(json!({"callback_url": rx.url, "filters": {"calendar_ids": [a.calendar_id], "only_managed": true, "future_parameter": 1}})))
        .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    let chn = b["channel"]["channel_id"].as_str().unwrap().to_string();
    assert!(chn.starts_with("chn_"));
    // The same channel again is the same channel.
    let (_, again) = app.call(Method::POST, "/v1/channels", t, Some(json!({"callback_url": rx.url, "filters": {"calendar_ids": [a.calendar_id], "only_managed": true}}))).await;
    assert_eq!(again["channel"]["channel_id"], json!(chn));
    let got = rx.wait_for(1).await;
    let v: Value = serde_json::from_str(&got[0].body).unwrap();
    assert_eq!(v["notification"]["type"], json!("verification"));
    assert_eq!(v["channel"]["channel_id"], json!(chn));
    verify(&c.client_secret, &got[0]);
    // An event change: a `change` notification with changes_since.
    let (s, _) = app
        .call(Method::POST, &format!("/v1/calendars/{}/events", a.calendar_id), t, Some(json!({"event_id": "e1", "summary": "x", "start": future(2, 9), "end": future(2, 10)})))
        .await;
    assert_eq!(s, StatusCode::ACCEPTED);
    let got = rx.wait_for(2).await;
    let v: Value = serde_json::from_str(&got[1].body).unwrap();
    assert_eq!(v["notification"]["type"], json!("change"));
    assert!(
        v["notification"]["changes_since"]
            .as_str()
            .unwrap()
            .ends_with('Z')
    );
    verify(&c.client_secret, &got[1]);
    let (_, list) = app.call(Method::GET, "/v1/channels", t, None).await;
    assert_eq!(list["channels"].as_array().unwrap().len(), 1);
    assert_eq!(
        app.call(Method::DELETE, &format!("/v1/channels/{chn}"), t, None)
            .await
            .0,
        StatusCode::ACCEPTED
    );
    let (_, list) = app.call(Method::GET, "/v1/channels", t, None).await;
    assert_eq!(list["channels"], json!([]));
    // Refused targets.
    for bad in [
        "http://169.254.169.254/latest",
        "http://metadata.google.internal/",
        "ftp://x/",
        "nope",
    ] {
        let (s, b) = app
            .call(
                Method::POST,
                "/v1/channels",
                t,
                Some(json!({"callback_url": bad})),
            )
            .await;
        assert_eq!(
            (s, err_key(&b, "callback_url")),
            (StatusCode::UNPROCESSABLE_ENTITY, "errors.invalid".into()),
            "{bad}"
        );
    }
}

both!(channel_options_that_cannot_be_read_are_refused);
async fn channel_options_that_cannot_be_read_are_refused(app: TestApp) {
    let c = app.client("Acme").await;
    let a = app.account(&c, "alice").await;
    let t = Some(a.token.as_str());
    let url = "https://example.com/hook";
    for (body, field, key) in [
        (
            json!({"callback_url": url, "filters": "AAA"}),
            "filters",
            "errors.invalid",
        ),
        (
            json!({"callback_url": url, "scheduling_conversations": "AAA"}),
            "scheduling_conversations",
            "errors.invalid",
        ),
        (
            json!({"callback_url": url, "filters": {"calendar_ids": [null]}}),
            "filters.calendar_ids[0]",
            "errors.required",
        ),
    ] {
        let (s, b) = app.call(Method::POST, "/v1/channels", t, Some(body)).await;
        assert_eq!(
            (s, err_key(&b, field)),
            (StatusCode::UNPROCESSABLE_ENTITY, key.into()),
            "{b}"
        );
    }
    let (_, list) = app.call(Method::GET, "/v1/channels", t, None).await;
    assert_eq!(list["channels"], json!([]));
}

both!(a_failing_receiver_gets_everything_in_the_end);
async fn a_failing_receiver_gets_everything_in_the_end(app: TestApp) {
    let rx = Receiver::start(4).await;
    let c = app.client("Acme").await;
    let a = app.account(&c, "alice").await;
    open_channel(&app, &a, &rx.url).await;
    let got = rx.wait_for(1).await;
    assert_eq!(got.len(), 1);
    assert!(rx.attempts() >= 5, "4 failures, then success");
    verify(&c.client_secret, &got[0]);
    // The worker records the outcome after the receiver has answered.
    let mut log = Value::Null;
    for _ in 0..100 {
        log = app
            .raw(
                app.http
                    .get(app.url("/v1/deliveries"))
                    .bearer_auth(&c.client_secret),
            )
            .await
            .1;
        if log["deliveries"][0]["state"] == json!("delivered") {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let d = &log["deliveries"][0];
    assert_eq!(d["state"], json!("delivered"));
    assert_eq!(d["attempts"], json!(5));
    assert_eq!(d["delivery_id"], json!(got[0].delivery_id));
    assert_eq!(d["notification_type"], json!("verification"));
    // Replay sends the same body again under a new delivery id.
    let (s, r) = app
        .raw(
            app.http
                .post(app.url(&format!("/v1/deliveries/{}/replay", got[0].delivery_id)))
                .bearer_auth(&c.client_secret),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{r}");
    let got = rx.wait_for(2).await;
    assert_eq!(got[1].body, got[0].body);
    assert_ne!(got[1].delivery_id, got[0].delivery_id);
    let other = app.client("Other").await;
    let (s, _) = app
        .raw(
            app.http
                .post(app.url(&format!("/v1/deliveries/{}/replay", got[0].delivery_id)))
                .bearer_auth(&other.client_secret),
        )
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
}

both!(a_restart_loses_nothing);
async fn a_restart_loses_nothing(app: TestApp) {
    // The receiver is down while the first Convene runs: its attempts fail.
    let addr = unused_addr();
    let url = format!("http://{addr}/cb");
    let c = app.client("Acme").await;
    let a = app.account(&c, "alice").await;
    open_channel(&app, &a, &url).await;
    let mut tried = false;
    for _ in 0..100 {
        let (_, log) = app
            .raw(
                app.http
                    .get(app.url("/v1/deliveries"))
                    .bearer_auth(&c.client_secret),
            )
            .await;
        if log["deliveries"][0]["attempts"].as_i64().unwrap_or(0) >= 1 {
            assert_eq!(log["deliveries"][0]["state"], json!("pending"));
            assert!(log["deliveries"][0]["last_error"].as_str().is_some());
            tried = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(tried, "the first process attempted and failed");
    // Convene stops; the receiver comes up; a new Convene process starts.
    let (db_url, _keep) = (app.db_url.clone(), app.dir.clone());
    drop(app);
    tokio::time::sleep(Duration::from_millis(100)).await;
    let rx = Receiver::start_at(&addr, 0).await;
    let second = TestApp::spawn_with(Backend::Url(db_url), |_| {}).await;
    let got = rx.wait_for(1).await;
    verify(&c.client_secret, &got[0]);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(rx.got().len(), 1, "delivered once");
    drop(second);
}

both!(two_processes_never_send_the_same_attempt_twice);
async fn two_processes_never_send_the_same_attempt_twice(app: TestApp) {
    let rx = Receiver::start(0).await;
    let replica = app.replica().await;
    let c = app.client("Acme").await;
    let a = app.account(&c, "alice").await;
    // 30 channels: 30 verification deliveries, claimed by two workers at once.
    for i in 0..30 {
        let (s, _) = app
            .call(
                Method::POST,
                "/v1/channels",
                Some(&a.token),
                Some(json!({"callback_url": format!("{}?n={i}", rx.url)})),
            )
            .await;
        assert_eq!(s, StatusCode::OK);
    }
    let got = rx.wait_for(30).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let got_after = rx.got();
    assert_eq!(
        got_after.len(),
        30,
        "no attempt was sent twice: {} arrived",
        got_after.len()
    );
    let mut ids: Vec<String> = got.iter().map(|r| r.delivery_id.clone()).collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 30);
    drop(replica);
}

both!(scheduling_request_webhooks_are_signed_with_every_active_secret);
async fn scheduling_request_webhooks_are_signed_with_every_active_secret(app: TestApp) {
    let rx = Receiver::start(0).await;
    let c = app.client("Acme").await;
    let host = app.account(&c, "doc").await;
    let (s, b) = app
        .call(
            Method::POST,
            "/v1/application",
            Some(&c.client_secret),
            Some(json!({"webhook_url": rx.url})),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    assert_eq!(b["application"]["webhook_url"], json!(rx.url));
    // A body that does not name the webhook leaves it alone.
    for empty in [json!({}), Value::Null] {
        let (s, b) = app
            .call(
                Method::POST,
                "/v1/application",
                Some(&c.client_secret),
                Some(empty),
            )
            .await;
        assert_eq!(s, StatusCode::OK, "{b}");
        assert_eq!(b["application"]["webhook_url"], json!(rx.url));
    }
    let (s, _) = app
        .call(
            Method::POST,
            "/v1/application",
            Some(&c.client_secret),
            Some(json!({"webhook_url": "http://169.254.169.254/"})),
        )
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    // A second active secret: callbacks carry both signatures.
    let second = app.links.client_secret(&c.client_id, 2);
    app.db
        .add_secret(&c.client_id, 2, &convene_server::ids::digest(&second), 0)
        .await
        .unwrap();
    let (s, _) = app
        .call(Method::GET, "/v1/application", Some(&second), None)
        .await;
    assert_eq!(s, StatusCode::OK, "the new secret authenticates");
    let (s, r) = app
        .call(Method::POST, "/v1/scheduling_requests", Some(&c.client_secret), Some(json!({
            "host": {"sub": host.sub}, "event": {"summary": "Lesson"}, "duration": {"minutes": 30},
            "recipients": [{"email": "m@e.com", "slot_selector": true}]
        })))
        .await;
    assert_eq!(s, StatusCode::OK, "{r}");
    let url = r["scheduling_request"]["primary_select_url"]
        .as_str()
        .unwrap();
    let html = app
        .http
        .get(url)
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
        .expect("a slot is offered");
    let resp = app
        .http
        .post(url)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("slot={slot}"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let got = rx.wait_for(1).await;
    let v: Value = serde_json::from_str(&got[0].body).unwrap();
    assert_eq!(
        v["notification"]["type"],
        json!("scheduling_request_time_chosen")
    );
    assert!(
        v["notification"]["triggered_at"]
            .as_str()
            .unwrap()
            .ends_with('Z')
    );
    assert_eq!(v["scheduling_request"]["slot_selection"], json!("complete"));
    assert_eq!(
        v["scheduling_request"]["event"]["start"]["time"],
        json!(slot)
    );
    let sigs: Vec<&str> = got[0].signature.split(',').collect();
    assert_eq!(sigs.len(), 2);
    assert_eq!(
        sigs[0],
        hmac_b64(c.client_secret.as_bytes(), got[0].body.as_bytes())
    );
    assert_eq!(sigs[1], hmac_b64(second.as_bytes(), got[0].body.as_bytes()));
}

both!(conversation_notifications_reach_channels_that_enabled_them);
async fn conversation_notifications_reach_channels_that_enabled_them(app: TestApp) {
    let with = Receiver::start(0).await;
    let without = Receiver::start(0).await;
    let c = app.client("Acme").await;
    let grace = app.account(&c, "grace").await;
    for (rx, enabled) in [(&with, true), (&without, false)] {
        let (s, _) = app
            .call(Method::POST, "/v1/channels", Some(&grace.token), Some(json!({"callback_url": rx.url, "scheduling_conversations": {"enabled": enabled}})))
            .await;
        assert_eq!(s, StatusCode::OK);
    }
    let day = crate::availability::next_monday();
    let (s, b) = app
        .call(Method::POST, "/v1/scheduling_conversations", Some(&grace.token), Some(json!({
            "participants": [
                {"participant_id": "@grace", "sub": grace.sub, "common_name": "Grace Devlin", "slots": {"selection_method": "auto"}},
                {"participant_id": "@karl", "common_name": "Karl Cramer"}
            ],
            "tzid": "America/Chicago", "subject": "Project Titan review",
            "required_duration": {"minutes": 60},
            "available_periods": [{"start": crate::availability::at(day, 14, 0), "end": crate::availability::at(day, 18, 0)}]
        })))
        .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    let id = b["scheduling_conversation"]["scheduling_conversation_id"]
        .as_str()
        .unwrap()
        .to_string();
    // verification + joined on the enabled channel; verification only on the other.
    let got = with.wait_for(2).await;
    let kinds: Vec<String> = got
        .iter()
        .map(|r| serde_json::from_str::<Value>(&r.body).unwrap())
        .filter(|v| v["notification"]["scheduling_conversation_id"] == json!(id))
        .map(|v| {
            assert_eq!(
                v["channel"]["scheduling_conversations"]["enabled"],
                json!(true)
            );
            v["notification"]["type"].as_str().unwrap().to_string()
        })
        .collect();
    assert!(
        kinds.contains(&"scheduling_conversation_joined".to_string()),
        "{kinds:?}"
    );
    for r in &got {
        verify(&c.client_secret, r);
    }
    without.wait_for(1).await;
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert!(
        without
            .got()
            .iter()
            .all(|r| !r.body.contains("scheduling_conversation")),
        "not enabled there"
    );
}

both!(stored_notifications_and_deliveries_hold_no_link_tokens);
async fn stored_notifications_and_deliveries_hold_no_link_tokens(app: TestApp) {
    let rx = Receiver::start(0).await;
    let c = app.client("Acme").await;
    let host = app.account(&c, "doc").await;
    set_webhook(&app, &c, &rx.url).await;
    let (s, r) = app
        .call(Method::POST, "/v1/scheduling_requests", Some(&c.client_secret), Some(json!({
            "host": {"sub": host.sub}, "event": {"summary": "Lesson"}, "duration": {"minutes": 30},
            "recipients": [{"email": "m@e.com", "slot_selector": true}]
        })))
        .await;
    assert_eq!(s, StatusCode::OK, "{r}");
    let url = r["scheduling_request"]["primary_select_url"]
        .as_str()
        .unwrap()
        .to_string();
    let token = url.rsplit('/').next().unwrap().to_string();
    let html = app
        .http
        .get(&url)
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
        .expect("a slot is offered");
    let resp = app
        .http
        .post(&url)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("slot={slot}"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    // The receiver gets working links, signed as sent.
    let got = rx.wait_for(1).await;
    verify(&c.client_secret, &got[0]);
    let v: Value = serde_json::from_str(&got[0].body).unwrap();
    let sr = &v["scheduling_request"];
    assert_eq!(sr["primary_select_url"], json!(url));
    assert_eq!(sr["recipient_operations"]["view_url"], json!(url));
    assert_eq!(
        sr["recipient_operations"]["reschedule_url"],
        json!(format!("{url}?reschedule=true"))
    );
    assert_eq!(
        sr["recipient_operations"]["decline_url"],
        json!(format!("{url}?decline=true"))
    );
    assert_eq!(sr["recipients"][0]["select_url"], json!(url));
    // What is stored does not carry the token.
    let payloads = convene_store::dispatch!(&app.db, |p| sqlx::query_scalar::<_, String>(
        "SELECT payload_json FROM notifications"
    )
    .fetch_all(p)
    .await
    .unwrap());
    let bodies = convene_store::dispatch!(&app.db, |p| sqlx::query_scalar::<_, String>(
        "SELECT body FROM deliveries"
    )
    .fetch_all(p)
    .await
    .unwrap());
    assert!(!payloads.is_empty() && !bodies.is_empty());
    for row in payloads.iter().chain(&bodies) {
        assert!(!row.contains(&token), "a link token is stored: {row}");
    }
    // Nor does the delivery log show it.
    let log = app
        .http
        .get(app.url("/v1/deliveries"))
        .bearer_auth(&c.client_secret)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(log.contains("scheduling_request_time_chosen"), "{log}");
    assert!(!log.contains(&token), "{log}");
}
