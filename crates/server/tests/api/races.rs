//! Races between processes: each side is a separate `Db` (its own pool and
//! write turns), as two replicas would be.

use convene_store::notify::Delivery;
use convene_store::{Event, NewNotification, StoreError, Tx};
use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::both;
use crate::helpers::*;

both!(concurrent_first_calls_for_one_application_calendar_make_one_account);
async fn concurrent_first_calls_for_one_application_calendar_make_one_account(app: TestApp) {
    let c = app.client("Racing").await;
    let other = app.replica().await;
    let calls = (0..20).map(|i| {
        let target = if i % 2 == 0 { &app } else { &other };
        let body = json!({
            "client_id": c.client_id, "client_secret": c.client_secret,
            "application_calendar_id": "shared-room"
        });
        async move {
            target
                .call(Method::POST, "/v1/application_calendars", None, Some(body))
                .await
        }
    });
    let answers = futures_join_all(calls).await;
    let mut subs: Vec<String> = Vec::new();
    for (status, body) in &answers {
        assert_eq!(*status, StatusCode::OK, "{body}");
        subs.push(body["sub"].as_str().unwrap().to_string());
    }
    subs.sort();
    subs.dedup();
    assert_eq!(
        subs.len(),
        1,
        "one account for one application calendar: {subs:?}"
    );
    // And exactly one primary calendar behind it.
    let (_, cals) = app
        .call(
            Method::GET,
            "/v1/calendars",
            Some(answers[0].1["access_token"].as_str().unwrap()),
            None,
        )
        .await;
    assert_eq!(cals["calendars"].as_array().unwrap().len(), 1, "{cals}");
}

// The servers' own workers would race for the notification too: they wait.
both!(
    a_notification_is_fanned_out_once_and_the_loser_is_told_so,
    super::quiet
);
async fn a_notification_is_fanned_out_once_and_the_loser_is_told_so(app: TestApp) {
    let c = app.client("Outbox").await;
    let other = app.replica_with(quiet).await;
    // Each worker makes one pass as it starts; on a loaded machine that pass
    // can come late and take the notification before the race below.
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let n = NewNotification {
        id: convene_server::ids::new_id("ntf"),
        application_id: c.client_id.clone(),
        account_id: None,
        kind: "test".into(),
        subject_id: None,
        payload_json: "{}".into(),
        created_ms: 1,
    };
    app.db
        .write(async |tx: &mut Tx| tx.insert_notification(&n).await)
        .await
        .unwrap();
    let delivery = |id: &str| Delivery {
        id: id.to_string(),
        application_id: c.client_id.clone(),
        notification_id: Some(n.id.clone()),
        channel_id: None,
        kind: "test".into(),
        url: "http://127.0.0.1:9/".into(),
        body: "{}".into(),
        state: "failed".into(),
        attempts: 0,
        next_attempt_ms: 0,
        locked_until_ms: 0,
        last_status: None,
        last_error: None,
        replay_of: None,
        created_ms: 1,
        delivered_ms: None,
    };
    let (a, b) = (delivery("dlv_a"), delivery("dlv_b"));
    let (fa, fb) = ([(n.id.clone(), vec![a])], [(n.id.clone(), vec![b])]);
    let (ra, rb) = tokio::join!(
        app.db.dispatch_notifications(&fa),
        other.db.dispatch_notifications(&fb),
    );
    let (ra, rb) = (
        ra.expect("no error for the winner or the loser"),
        rb.expect("no error"),
    );
    assert_eq!(ra + rb, 1, "exactly one fans it out: {ra} {rb}");
    let logged = app
        .db
        .deliveries_for_notification_kind(&c.client_id, "test")
        .await
        .unwrap();
    assert_eq!(logged.len(), 1, "the loser wrote nothing");
    // A third try, after both, is told it was done already.
    assert_eq!(
        app.db
            .dispatch_notifications(&[(n.id.clone(), vec![])])
            .await
            .unwrap(),
        0
    );
}

// A booking checks availability before its transaction and writes at the
// version it checked: if another replica changed the member meanwhile, the
// write is refused and nothing of it stays.
both!(
    a_booking_checked_before_a_change_writes_nothing,
    super::quiet
);
async fn a_booking_checked_before_a_change_writes_nothing(app: TestApp) {
    let c = app.client("Versions").await;
    let a = app.account(&c, "host").await;
    let other = app.replica().await;
    let checked = app.db.account(&a.sub).await.unwrap().unwrap();
    let event = |event_id: &str| booked_event(&a, event_id);
    // Another replica adds an event after the check.
    other.db.upsert_event(&event("meanwhile")).await.unwrap();
    let mut v = checked.availability_version;
    let stale = app
        .db
        .write(async |tx: &mut Tx| tx.insert_booked_event(&event("srq_late"), &mut v).await)
        .await;
    assert!(
        matches!(stale, Err(StoreError::Conflict(_))),
        "refused: {stale:?}"
    );
    assert_eq!(v, checked.availability_version, "the version was not moved");
    assert!(
        app.db
            .event_by_id(&a.calendar_id, "srq_late")
            .await
            .unwrap()
            .is_none(),
        "nothing of the refused booking stays"
    );
    // Checked again, at the current version, it is written, and a channel
    // watching the account hears of it.
    open_channel(&app, &a, "http://127.0.0.1:9/").await;
    let now = app.db.account(&a.sub).await.unwrap().unwrap();
    let mut v = now.availability_version;
    app.db
        .write(async |tx: &mut Tx| tx.insert_booked_event(&event("srq_late"), &mut v).await)
        .await
        .unwrap();
    let after = app.db.account(&a.sub).await.unwrap().unwrap();
    assert_eq!(after.availability_version, now.availability_version + 1);
    assert_eq!(
        v, after.availability_version,
        "the caller's version follows"
    );
    assert_eq!(after.last_booked_ms, Some(1), "marked booked");
    assert!(
        app.db
            .event_by_id(&a.calendar_id, "srq_late")
            .await
            .unwrap()
            .is_some()
    );
    // Recorded, and perhaps already fanned out: the worker's first pass
    // at start can come late on a busy machine.
    let pending = app.db.undispatched(100).await.unwrap();
    let fanned = app
        .db
        .deliveries_for_notification_kind(&c.client_id, "change")
        .await
        .unwrap();
    assert!(
        pending
            .iter()
            .any(|n| n.kind == "change" && n.account_id.as_deref() == Some(a.sub.as_str()))
            || !fanned.is_empty(),
        "the watching channel is told: {pending:?}"
    );
}

/// A booking's event in `a`'s calendar, half an hour in 2030.
fn booked_event(a: &Acct, event_id: &str) -> Event {
    let start = 1_900_000_000_000;
    event_in(
        a,
        &format!("evt_{event_id}"),
        Some(event_id),
        start,
        start + 1_800_000,
    )
}

// SQLite sends a booking's writes as one command and learns only then
// whether their checks held: whatever ran after a failed check is rolled
// back with it, and the write lock is given up.
both!(
    a_booking_recorded_in_one_go_keeps_nothing_of_a_failed_check,
    super::quiet
);
async fn a_booking_recorded_in_one_go_keeps_nothing_of_a_failed_check(app: TestApp) {
    let c = app.client("Batch").await;
    let a = app.account(&c, "host").await;
    let other = app.replica().await;
    let checked = app.db.account(&a.sub).await.unwrap().unwrap();
    other
        .db
        .upsert_event(&booked_event(&a, "meanwhile"))
        .await
        .unwrap();
    // Never stored: moving it fails its check, after the event's statements.
    let read = convene_store::scheduling::Request {
        id: "srq_nowhere".into(),
        application_id: c.client_id.clone(),
        organizational_unit_id: String::new(),
        template_id: None,
        state: convene_store::scheduling::RequestState::Pending,
        token_hash: String::new(),
        spec_json: "{}".into(),
        booking_json: None,
        history_json: "[]".into(),
        window_end_ms: 0,
        created_ms: 1,
        updated_ms: 1,
    };
    let mut next = read.clone();
    next.state = convene_store::scheduling::RequestState::Complete;
    next.updated_ms = 2;
    let ev = booked_event(&a, "srq_batch");
    for (stale, why) in [(true, "a stale version"), (false, "a request that moved")] {
        let current = app.db.account(&a.sub).await.unwrap().unwrap();
        let version = if stale {
            checked.availability_version
        } else {
            current.availability_version
        };
        let refused = app
            .db
            .write_checked(async |tx: &mut Tx| {
                tx.record_booking(&[(&ev, version)], &next, &read).await
            })
            .await;
        assert!(
            matches!(refused, Err(StoreError::Conflict(_))),
            "{why} is refused: {refused:?}"
        );
        assert!(
            app.db
                .event_by_id(&a.calendar_id, "srq_batch")
                .await
                .unwrap()
                .is_none(),
            "nothing of the booking refused for {why} stays"
        );
        let after = app.db.account(&a.sub).await.unwrap().unwrap();
        assert_eq!(
            after.availability_version, current.availability_version,
            "{why}: the version stays"
        );
        // Another process can write at once: the lock was given up.
        let started = std::time::Instant::now();
        other
            .db
            .upsert_event(&booked_event(&a, "after"))
            .await
            .unwrap();
        assert!(
            started.elapsed() < std::time::Duration::from_secs(1),
            "{why}: the other process waited {:?}",
            started.elapsed()
        );
    }
}

/// `join_all` without another dependency: spawn-free, polled together.
async fn futures_join_all<F: std::future::Future>(fs: impl Iterator<Item = F>) -> Vec<F::Output> {
    let fs: Vec<_> = fs.map(Box::pin).collect();
    let mut out: Vec<Option<F::Output>> = fs.iter().map(|_| None).collect();
    let mut fs: Vec<Option<std::pin::Pin<Box<F>>>> = fs.into_iter().map(Some).collect();
    std::future::poll_fn(|cx| {
        let mut pending = false;
        for (i, slot) in fs.iter_mut().enumerate() {
            if let Some(f) = slot {
                match f.as_mut().poll(cx) {
                    std::task::Poll::Ready(v) => {
                        out[i] = Some(v);
                        *slot = None;
                    }
                    std::task::Poll::Pending => pending = true,
                }
            }
        }
        if pending {
            std::task::Poll::Pending
        } else {
            std::task::Poll::Ready(())
        }
    })
    .await;
    out.into_iter().map(|v| v.unwrap()).collect()
}

/// No background work during the test.
fn quiet(cfg: &mut convene_server::Config) {
    cfg.notify_poll_ms = 3_600_000;
    cfg.expiry_sweep_ms = 3_600_000;
}

both!(a_transaction_left_unfinished_writes_nothing_and_holds_no_lock);
/// A transaction dropped without commit (an error's `?`) or cancelled in
/// the middle (a request whose client went away) is rolled back at once:
/// another process gets the write lock without waiting out its busy
/// timeout, this process writes again, and nothing of it stays.
async fn a_transaction_left_unfinished_writes_nothing_and_holds_no_lock(app: TestApp) {
    use std::time::Duration;
    let c = app.client("Unfinished").await;
    let a = app.account(&c, "host").await;
    let other = app.replica().await;
    // A `Db` with no server on it: nothing else of this process writes
    // (and so tidies up) between the steps.
    let this = convene_server::Db::connect(&app.db_url).await.unwrap();
    let rule = |id: &str| convene_store::Rule {
        account_id: a.sub.clone(),
        rule_id: id.into(),
        tzid: "Etc/UTC".into(),
        calendar_ids_json: None,
        weekly_periods_json: "[]".into(),
    };
    let write_soon = async |db: &convene_server::Db, id: &str| {
        let r = rule(id);
        tokio::time::timeout(
            Duration::from_secs(5),
            db.write(async |tx: &mut Tx| tx.upsert_rule(&r, 1).await),
        )
        .await
        .unwrap_or_else(|_| panic!("writing {id} waited on a lock nobody released"))
        .unwrap();
    };

    let mut tx = this.begin().await.unwrap();
    tx.upsert_rule(&rule("dropped"), 1).await.unwrap();
    drop(tx);
    write_soon(&other.db, "by-the-other-process").await;
    write_soon(&this, "by-this-process").await;

    let cancelled = async {
        let mut tx = this.begin().await.unwrap();
        tx.upsert_rule(&rule("cancelled"), 1).await.unwrap();
        std::future::pending::<()>().await;
    };
    assert!(
        tokio::time::timeout(Duration::from_millis(200), cancelled)
            .await
            .is_err()
    );
    write_soon(&other.db, "after-the-cancel").await;
    write_soon(&this, "after-the-cancel-here").await;

    let mut ids: Vec<String> = app
        .db
        .rules(&a.sub)
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.rule_id)
        .collect();
    ids.sort();
    assert_eq!(
        ids,
        [
            "after-the-cancel",
            "after-the-cancel-here",
            "by-the-other-process",
            "by-this-process"
        ]
    );
}
