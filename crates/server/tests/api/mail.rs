//! Invitations by email, against a real SMTP server on loopback (aiosmtpd,
//! tests/mail/smtp_sink.py). Every received message is read back the way a
//! mail client does, with Python's `email` and `icalendar` packages
//! (tests/mail/check_mail.py), and an invitation is imported into Radicale.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use convene_server::Config;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::both;
use crate::helpers::*;

fn mail_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/mail")
}

/// Mail goes to a loopback port where nothing listens yet; a test starts
/// the SMTP server there when it wants it up.
fn with_smtp(cfg: &mut Config) {
    cfg.smtp_url = Some(format!("smtp://{}", unused_addr()));
    cfg.mail_from = "Convene Test <scheduling@convene.test>".into();
}

/// A Python child process, killed with the test.
struct Proc(Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The SMTP server of a test, writing each message into its own folder.
struct Sink {
    _proc: Proc,
    // Held open: the server must never write into a closed pipe.
    _stdout: std::process::ChildStdout,
    dir: TempDir,
}

impl Sink {
    /// Starts the server on the port the app sends mail to.
    fn start(app: &TestApp) -> Sink {
        let url = app.cfg.smtp_url.clone().expect("the app sends mail");
        let port = url.rsplit(':').next().unwrap().to_string();
        let dir = TempDir::new("mail");
        let mut child = Command::new(test_python())
            .arg(mail_dir().join("smtp_sink.py"))
            .arg(&port)
            .arg(&dir)
            .stdout(Stdio::piped())
            .spawn()
            .expect("python starts");
        let mut out = child.stdout.take().unwrap();
        let mut line = [0u8; 5];
        std::io::Read::read_exact(&mut out, &mut line).expect("the SMTP server says ready");
        assert_eq!(&line, b"ready");
        Sink {
            _proc: Proc(child),
            _stdout: out,
            dir,
        }
    }

    fn files(&self) -> Vec<PathBuf> {
        let mut v: Vec<PathBuf> = std::fs::read_dir(&self.dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|e| e == "eml"))
            .collect();
        v.sort();
        v
    }

    /// Waits until `n` messages have arrived and answers all of them, read.
    async fn wait_for(&self, n: usize) -> Vec<Value> {
        for _ in 0..300 {
            if self.files().len() >= n {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let files = self.files();
        assert!(
            files.len() >= n,
            "{} mails arrived, {n} expected",
            files.len()
        );
        read_mails(&files)
    }
}

fn read_mails(files: &[PathBuf]) -> Vec<Value> {
    if files.is_empty() {
        return Vec::new();
    }
    let out = Command::new(test_python())
        .arg(mail_dir().join("check_mail.py"))
        .args(files)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "check_mail.py: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

fn to_of<'a>(mails: &'a [Value], addr: &str) -> Vec<&'a Value> {
    mails
        .iter()
        .filter(|m| m["to"].as_str().unwrap().contains(addr))
        .collect()
}

/// Gives an account a name and a real address, as an account whose owner
/// signed in has (application calendars get a made-up one).
async fn set_identity(app: &TestApp, sub: &str, email: &str, name: &str, tz: &str) {
    use sqlx::Connection as _;
    let sql = "UPDATE accounts SET email = $1, name = $2, default_tzid = $3 WHERE id = $4";
    if app.db_url.starts_with("sqlite") {
        let mut c = sqlx::SqliteConnection::connect(&app.db_url).await.unwrap();
        let n = sqlx::query(sql)
            .bind(email)
            .bind(name)
            .bind(tz)
            .bind(sub)
            .execute(&mut c)
            .await
            .unwrap();
        assert_eq!(n.rows_affected(), 1);
    } else {
        let mut c = sqlx::PgConnection::connect(&app.db_url).await.unwrap();
        let n = sqlx::query(sql)
            .bind(email)
            .bind(name)
            .bind(tz)
            .bind(sub)
            .execute(&mut c)
            .await
            .unwrap();
        assert_eq!(n.rows_affected(), 1);
    }
}

struct World {
    c: Client,
    host: Acct,
}

async fn world(app: &TestApp) -> World {
    let c = app.client("Acme").await;
    let host = app.account(&c, "doc").await;
    daily(app, &host, "08:00", "18:00").await;
    World { c, host }
}

async fn template(app: &TestApp, w: &World, extra: Value) -> String {
    let mut body = json!({
        "name": "Driving lessons",
        "host": {"sub": w.host.sub},
        "event": {"summary": "Driving lessons, Marty & Doc", "description": "Don't forget your video camera", "location": {"description": "Hill Valley; Courthouse"}},
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
    b["scheduling_template"]["sub"]
        .as_str()
        .unwrap()
        .to_string()
}

async fn request(app: &TestApp, w: &World, body: Value) -> Value {
    let (s, b) = app
        .call(
            Method::POST,
            "/v1/scheduling_requests",
            Some(&w.c.client_secret),
            Some(body),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    b["scheduling_request"].clone()
}

fn marty(sub: &str, email: &str) -> Value {
    json!({"template": {"sub": sub}, "recipients": [{"email": email, "display_name": "Marty McFly", "slot_selector": true}]})
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

/// The slots the recipient page offers.
async fn slots(app: &TestApp, url: &str) -> Vec<String> {
    let html = app
        .http
        .get(url)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    html.split("name=\"slot\" value=\"")
        .skip(1)
        .map(|s| s[..20].to_string())
        .collect()
}

async fn pick(app: &TestApp, url: &str, slot: &str, tz: &str) {
    let (s, html) = post_form(
        app,
        url,
        &format!(
            "slot={}&tz={}",
            slot.replace(':', "%3A"),
            tz.replace('/', "%2F")
        ),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{html}");
    assert!(html.contains("id=\"confirmation\""), "{html}");
}

async fn mail_log(app: &TestApp, w: &World) -> Vec<Value> {
    let (s, b) = app
        .call(
            Method::GET,
            "/v1/deliveries?limit=500",
            Some(&w.c.client_secret),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    b["deliveries"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|d| d["notification_type"] == json!("mail"))
        .cloned()
        .collect()
}

/// Waits until every mail in the log satisfies `done`.
async fn wait_log(app: &TestApp, w: &World, done: impl Fn(&[Value]) -> bool) -> Vec<Value> {
    let mut log = Vec::new();
    for _ in 0..300 {
        log = mail_log(app, w).await;
        if done(&log) {
            return log;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the mail log never got there: {log:#?}")
}

fn plus_minutes(t: &str, m: i64) -> String {
    let t: jiff::Timestamp = t.parse().unwrap();
    (t + jiff::SignedDuration::from_mins(m))
        .strftime("%Y-%m-%dT%H:%M:%SZ")
        .to_string()
}

both!(
    a_booking_mails_invitations_a_move_updates_them_a_cancel_withdraws_them,
    super::with_smtp
);
async fn a_booking_mails_invitations_a_move_updates_them_a_cancel_withdraws_them(app: TestApp) {
    let sink = Sink::start(&app);
    let w = world(&app).await;
    set_identity(
        &app,
        &w.host.sub,
        "doc@example.com",
        "Doc Brown",
        "Europe/London",
    )
    .await;
    let sub = template(
        &app,
        &w,
        json!({"recipients": [{"email": "biff@example.com", "display_name": "Biff Tannen"}]}),
    )
    .await;
    let r = request(&app, &w, marty(&sub, "marty@example.com")).await;
    let id = r["scheduling_request_id"].as_str().unwrap().to_string();
    let url = r["primary_select_url"].as_str().unwrap().to_string();
    let token = url.rsplit('/').next().unwrap().to_string();
    let offered = slots(&app, &url).await;
    let first = offered[0].clone();
    pick(&app, &url, &first, "America/New_York").await;

    // Marty (who picked), Biff (from the template) and Doc (the host, whose
    // calendar is not connected) each get one invitation.
    let mails = sink.wait_for(3).await;
    assert_eq!(mails.len(), 3, "{mails:#?}");
    let uid = mails[0]["uid"].as_str().unwrap().to_string();
    assert!(uid.starts_with(&id), "{uid}");
    for m in &mails {
        assert_eq!(m["content_type"], json!("multipart/mixed"));
        assert_eq!(
            m["alternative"],
            json!(["text/plain", "text/html", "text/calendar"])
        );
        assert_eq!(m["calendar_method_param"], json!("REQUEST"));
        assert_eq!(m["ics_method"], json!("REQUEST"));
        assert_eq!(m["vevents"], json!(1));
        assert_eq!(m["uid"], json!(uid));
        assert_eq!(m["sequence"], json!(0));
        assert_eq!(m["status"], json!("CONFIRMED"));
        assert_eq!(m["dtstart"], json!(first));
        assert_eq!(m["dtend"], json!(plus_minutes(&first, 30)));
        assert_eq!(m["summary"], json!("Driving lessons, Marty & Doc"));
        assert_eq!(m["location"], json!("Hill Valley; Courthouse"));
        assert_eq!(m["description"], json!("Don't forget your video camera"));
        assert_eq!(m["organizer"], json!("mailto:doc@example.com"));
        assert_eq!(
            m["attendees"],
            json!([
                "mailto:biff@example.com",
                "mailto:doc@example.com",
                "mailto:marty@example.com"
            ])
        );
        assert!(
            m["from"]
                .as_str()
                .unwrap()
                .contains("scheduling@convene.test"),
            "{}",
            m["from"]
        );
        assert!(
            m["subject"]
                .as_str()
                .unwrap()
                .starts_with("Invitation: Driving lessons")
        );
    }
    // Marty reads the time in the zone he picked in, and can move or
    // decline from the mail; the others cannot act for him.
    let start: jiff::Timestamp = first.parse().unwrap();
    let ny = start
        .to_zoned(jiff::tz::TimeZone::get("America/New_York").unwrap())
        .strftime("%H:%M")
        .to_string();
    let m = to_of(&mails, "marty@example.com")[0];
    let text = m["text"].as_str().unwrap();
    assert!(text.contains(&format!("{ny} – ")), "{text}");
    assert!(text.contains("(America/New_York)"), "{text}");
    assert!(text.contains(&format!("{url}?reschedule=true")), "{text}");
    assert!(text.contains(&format!("{url}?decline=true")), "{text}");
    assert!(
        m["html"]
            .as_str()
            .unwrap()
            .contains(&format!("{url}?decline=true"))
    );
    let london = start
        .to_zoned(jiff::tz::TimeZone::get("Europe/London").unwrap())
        .strftime("%H:%M")
        .to_string();
    for who in ["biff@example.com", "doc@example.com"] {
        let t = to_of(&mails, who)[0]["text"].as_str().unwrap();
        assert!(!t.contains("/rts/"), "{who}: {t}");
        assert!(
            t.contains(&format!("{london} – ")) && t.contains("(Europe/London)"),
            "{t}"
        );
    }
    // The invitation imports into CalDAV servers (Radicale, Xandikos).
    import_into("radicale", m["ics"].as_str().unwrap(), &uid).await;
    import_into("xandikos", m["ics"].as_str().unwrap(), &uid).await;

    // The log shows each mail sent, and what it stores holds no link token.
    let log = wait_log(&app, &w, |l| {
        l.len() == 3 && l.iter().all(|d| d["state"] == json!("delivered"))
    })
    .await;
    for d in &log {
        assert!(d["url"].as_str().unwrap().starts_with("mailto:"));
        assert_eq!(d["last_status"], json!(250));
        assert!(!d["body"].to_string().contains(&token));
    }
    assert!(
        log.iter()
            .any(|d| d["body"].to_string().contains("{link_token}"))
    );

    // A move: the same UID, SEQUENCE 1, the new time.
    let (s, _) = post_form(&app, &url, "action=reschedule").await;
    assert_eq!(s, StatusCode::OK);
    let later = slots(&app, &url)
        .await
        .into_iter()
        .find(|s| s != &first)
        .unwrap();
    pick(&app, &url, &later, "America/New_York").await;
    let mails = sink.wait_for(6).await;
    assert_eq!(mails.len(), 6);
    for m in &mails[3..] {
        assert_eq!(m["ics_method"], json!("REQUEST"));
        assert_eq!(m["uid"], json!(uid));
        assert_eq!(m["sequence"], json!(1));
        assert_eq!(m["dtstart"], json!(later));
        assert!(m["subject"].as_str().unwrap().starts_with("Moved: "));
    }

    // A cancel withdraws it: METHOD:CANCEL, same UID, a later SEQUENCE.
    let (s, b) = app
        .call(
            Method::POST,
            "/v1/scheduling_requests/cancel",
            Some(&w.c.client_secret),
            Some(json!({"scheduling_request_id": id})),
        )
        .await;
    assert_eq!(s, StatusCode::ACCEPTED, "{b}");
    let mails = sink.wait_for(9).await;
    assert_eq!(mails.len(), 9);
    for m in &mails[6..] {
        assert_eq!(m["calendar_method_param"], json!("CANCEL"));
        assert_eq!(m["ics_method"], json!("CANCEL"));
        assert_eq!(m["status"], json!("CANCELLED"));
        assert_eq!(m["uid"], json!(uid));
        assert_eq!(m["sequence"], json!(2));
        assert!(!m["text"].as_str().unwrap().contains("/rts/"));
    }
    assert_eq!(to_of(&mails[6..], "marty@example.com").len(), 1);
}

/// PUTs the invitation's event into a calendar of a CalDAV server started
/// for the test (`radicale` or `xandikos`) and reads it back: the server
/// accepts it as it is.
async fn import_into(server: &str, ics: &str, uid: &str) {
    let dir = TempDir::new(server);
    let addr = unused_addr();
    let (host, port) = addr.split_once(':').unwrap();
    let mut cmd = Command::new(test_python());
    let base = if server == "radicale" {
        cmd.args([
            "-m",
            "radicale",
            "--server-hosts",
            &addr,
            "--auth-type",
            "none",
        ])
        .arg("--storage-filesystem-folder")
        .arg(dir.join("collections"));
        format!("http://{addr}/marty/calendar/")
    } else {
        cmd.args(["-m", "xandikos.web", "--defaults", "-l", host, "-p", port])
            .arg("-d")
            .arg(dir.join("dav"))
            .arg("--state-dir")
            .arg(dir.join("state"));
        format!("http://{addr}/user/calendars/calendar/")
    };
    let _server = Proc(
        cmd.stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("the CalDAV server starts"),
    );
    let http = reqwest::Client::new();
    let mut up = false;
    for _ in 0..100 {
        if server == "radicale" {
            if let Ok(r) = http
                .request(Method::from_bytes(b"MKCALENDAR").unwrap(), &base)
                .basic_auth("marty", Some("x"))
                .send()
                .await
            {
                assert_eq!(r.status(), StatusCode::CREATED);
                up = true;
                break;
            }
        } else if http.get(&base).send().await.is_ok() {
            up = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(up, "{server} did not start");
    // What a client stores is the event, without the iTIP method (RFC 4791
    // 4.1).
    let object: String = ics
        .split("\r\n")
        .filter(|l| !l.starts_with("METHOD:"))
        .collect::<Vec<_>>()
        .join("\r\n");
    let r = http
        .put(format!("{base}invite.ics"))
        .basic_auth("marty", Some("x"))
        .header("content-type", "text/calendar; charset=utf-8")
        .body(object)
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.status(),
        StatusCode::CREATED,
        "{server}: {:?}",
        r.text().await
    );
    let back = http
        .get(format!("{base}invite.ics"))
        .basic_auth("marty", Some("x"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(back.contains(&format!("UID:{uid}")), "{server}: {back}");
}

both!(
    mail_waits_for_an_smtp_server_that_is_down_and_arrives_once,
    super::with_smtp
);
async fn mail_waits_for_an_smtp_server_that_is_down_and_arrives_once(app: TestApp) {
    let w = world(&app).await;
    let sub = template(&app, &w, json!({})).await;
    let r = request(&app, &w, marty(&sub, "marty@example.com")).await;
    let url = r["primary_select_url"].as_str().unwrap().to_string();
    let first = slots(&app, &url).await[0].clone();
    // The whole booking happens while the SMTP server is down.
    pick(&app, &url, &first, "Etc/UTC").await;
    let log = wait_log(&app, &w, |l| {
        l.len() == 1 && l[0]["attempts"].as_i64().unwrap() >= 2
    })
    .await;
    assert_eq!(log[0]["state"], json!("pending"));
    assert!(
        log[0]["last_error"].as_str().unwrap().contains("SMTP"),
        "{log:#?}"
    );
    let sink = Sink::start(&app);
    wait_log(&app, &w, |l| l[0]["state"] == json!("delivered")).await;
    let mails = sink.wait_for(1).await;
    assert_eq!(mails[0]["dtstart"], json!(first));
    // Once: nothing else arrives.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(sink.files().len(), 1);
}

both!(
    a_permanent_refusal_fails_the_mail_without_retries,
    super::with_smtp
);
async fn a_permanent_refusal_fails_the_mail_without_retries(app: TestApp) {
    let sink = Sink::start(&app);
    let w = world(&app).await;
    let sub = template(&app, &w, json!({})).await;
    let r = request(&app, &w, marty(&sub, "marty@reject.example")).await;
    let url = r["primary_select_url"].as_str().unwrap().to_string();
    let first = slots(&app, &url).await[0].clone();
    pick(&app, &url, &first, "Etc/UTC").await;
    let log = wait_log(&app, &w, |l| {
        l.len() == 1 && l[0]["state"] == json!("failed")
    })
    .await;
    assert_eq!(log[0]["last_status"], json!(550));
    assert_eq!(log[0]["attempts"], json!(1));
    tokio::time::sleep(Duration::from_millis(1000)).await;
    let log = mail_log(&app, &w).await;
    assert_eq!(log[0]["attempts"], json!(1), "no retries: {log:#?}");
    assert!(sink.files().is_empty());
    // The dashboard's delivery log shows it as a mail, with the refusal.
    let mut b = crate::browser::signed_in(&app, "Acme", "ann@example.com").await;
    let p = b.get("/dashboard/webhooks?state=failed").await;
    assert_eq!(p.status, StatusCode::OK);
    assert!(p.html.contains("mailto:marty@reject.example"), "{}", p.html);
    assert!(p.html.contains("mail ·"), "{}", p.html);
    assert!(p.html.contains("SMTP 550"), "{}", p.html);
}

both!(
    email_recipient_mails_the_link_that_opens_the_page,
    super::with_smtp
);
async fn email_recipient_mails_the_link_that_opens_the_page(app: TestApp) {
    let sink = Sink::start(&app);
    let w = world(&app).await;
    let (s, b) = app.call(Method::GET, "/healthz", None, None).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(b["mail_configured"], json!(true));
    // Without the setting nothing is mailed at creation.
    let plain = template(&app, &w, json!({})).await;
    request(&app, &w, marty(&plain, "george@example.com")).await;
    // The template asks for it.
    let mailing = template(&app, &w, json!({"email_recipient": true})).await;
    let (_, t) = app
        .call(
            Method::GET,
            &format!("/v1/scheduling_templates/{mailing}"),
            Some(&w.c.client_secret),
            None,
        )
        .await;
    assert_eq!(
        t["scheduling_template"]["email_recipient"],
        json!(true),
        "{t}"
    );
    let r = request(&app, &w, marty(&mailing, "marty@example.com")).await;
    let url = r["primary_select_url"].as_str().unwrap().to_string();
    // The request's own setting wins over its template's.
    let mut body = marty(&mailing, "lorraine@example.com");
    body["email_recipient"] = json!(false);
    request(&app, &w, body).await;
    let mails = sink.wait_for(1).await;
    tokio::time::sleep(Duration::from_millis(800)).await;
    let mails = if sink.files().len() > 1 {
        read_mails(&sink.files())
    } else {
        mails
    };
    assert_eq!(mails.len(), 1, "{mails:#?}");
    let m = &mails[0];
    assert!(m["to"].as_str().unwrap().contains("marty@example.com"));
    assert!(m["ics"].is_null(), "no invitation before a time is picked");
    assert_eq!(m["alternative"], json!(["text/plain", "text/html"]));
    let text = m["text"].as_str().unwrap();
    assert!(text.contains(&url), "{text}");
    assert!(
        m["html"]
            .as_str()
            .unwrap()
            .contains(&format!("href=\"{url}\""))
    );
    // The link in the mail opens the recipient's page.
    let link = text
        .split_whitespace()
        .find(|w| w.contains("/rts/"))
        .unwrap();
    let page = app.http.get(link).send().await.unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    assert!(page.text().await.unwrap().contains("name=\"slot\""));
}

both!(addresses_that_cannot_be_mailed_are_refused);
async fn addresses_that_cannot_be_mailed_are_refused(app: TestApp) {
    let w = world(&app).await;
    let sub = template(&app, &w, json!({})).await;
    for bad in [
        "marty mcfly@example.com",
        "marty@",
        "marty@example.com\r\nBcc: x@y.z",
        "@example.com",
    ] {
        let (s, b) = app
            .call(
                Method::POST,
                "/v1/scheduling_requests",
                Some(&w.c.client_secret),
                Some(marty(&sub, bad)),
            )
            .await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{bad}: {b}");
        assert_eq!(err_key(&b, "recipients[0].email"), "errors.invalid", "{b}");
        let (s, b) = app
            .call(
                Method::POST,
                "/v1/scheduling_templates",
                Some(&w.c.client_secret),
                Some(json!({"name": "x", "recipients": [{"email": bad}]})),
            )
            .await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{bad}: {b}");
        assert_eq!(err_key(&b, "recipients[0].email"), "errors.invalid", "{b}");
    }
}

both!(without_smtp_no_mail_is_written);
async fn without_smtp_no_mail_is_written(app: TestApp) {
    let (_, b) = app.call(Method::GET, "/healthz", None, None).await;
    assert_eq!(b["mail_configured"], json!(false));
    let w = world(&app).await;
    let sub = template(&app, &w, json!({"email_recipient": true})).await;
    let r = request(&app, &w, marty(&sub, "marty@example.com")).await;
    let url = r["primary_select_url"].as_str().unwrap().to_string();
    let first = slots(&app, &url).await[0].clone();
    pick(&app, &url, &first, "Etc/UTC").await;
    assert!(mail_log(&app, &w).await.is_empty());
}

both!(
    a_conversation_participant_known_only_by_email_is_invited_and_chooses_on_a_page,
    super::with_smtp
);
async fn a_conversation_participant_known_only_by_email_is_invited_and_chooses_on_a_page(
    app: TestApp,
) {
    use crate::availability::{at, next_monday};
    let sink = Sink::start(&app);
    let c = app.client("Acme").await;
    let alice = app.account(&c, "alice").await;
    daily(&app, &alice, "09:00", "17:00").await;
    let day = next_monday();
    let (s, b) = app
        .call(
            Method::POST,
            "/v1/scheduling_conversations",
            Some(&alice.token),
            Some(json!({
                "participants": [
                    {"sub": alice.sub, "common_name": "Alice", "managed_availability": true, "slots": {"selection_method": "auto"}},
                    {"email": "marty@example.com", "common_name": "Marty", "slots": {"selection_method": "manual"}}
                ],
                "tzid": "Europe/London",
                "subject": "Quarterly review",
                "event": {"location": {"description": "Room 101"}},
                "required_duration": {"minutes": 60},
                "available_periods": [{"start": at(day, 0, 0), "end": at(day.tomorrow().unwrap(), 0, 0)}]
            })),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    let id = b["scheduling_conversation"]["scheduling_conversation_id"]
        .as_str()
        .unwrap()
        .to_string();

    // The invitation to choose: a link to a page, no calendar part yet.
    let mails = sink.wait_for(1).await;
    let m = &mails[0];
    assert!(m["to"].as_str().unwrap().contains("marty@example.com"));
    assert!(m["ics"].is_null());
    let text = m["text"].as_str().unwrap();
    let link = text
        .split_whitespace()
        .find(|w| w.contains("/conversations/"))
        .unwrap_or_else(|| panic!("no link in {text}"))
        .to_string();
    assert!(!link.contains("{link_token}"));
    assert!(m["html"].as_str().unwrap().contains(&link));

    // The page needs no credentials and no JavaScript: a form of times.
    let html = app
        .http
        .get(&link)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(html.contains("Quarterly review"), "{html}");
    assert!(!html.contains("<script"), "{html}");
    let slots: Vec<String> = html
        .split("name=\"slot\" value=\"")
        .skip(1)
        .map(|s| s[..20].to_string())
        .collect();
    assert_eq!(slots[0], at(day, 9, 0), "{html}");
    let (s, html) = post_form(
        &app,
        &link,
        &format!("slot={}", slots[1].replace(':', "%3A")),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{html}");
    assert!(html.contains("id=\"confirmation\""), "{html}");
    let (s, _) = post_form(
        &app,
        &link,
        &format!("slot={}", slots[2].replace(':', "%3A")),
    )
    .await;
    assert_eq!(s, StatusCode::CONFLICT, "one choice only");

    // The meeting's invitation follows.
    let mails = sink.wait_for(2).await;
    let m = &mails[1];
    assert!(m["to"].as_str().unwrap().contains("marty@example.com"));
    assert_eq!(m["ics_method"], json!("REQUEST"));
    assert_eq!(m["vevents"], json!(1));
    assert!(m["uid"].as_str().unwrap().starts_with(&id));
    assert_eq!(m["dtstart"], json!(slots[1]));
    assert_eq!(m["dtend"], json!(plus_minutes(&slots[1], 60)));
    assert_eq!(m["summary"], json!("Quarterly review"));
    assert_eq!(m["location"], json!("Room 101"));
    assert!(
        m["attendees"]
            .as_array()
            .unwrap()
            .contains(&json!("mailto:marty@example.com"))
    );
    // The conversation is complete for its owner too.
    let (_, b) = app
        .call(
            Method::GET,
            &format!("/v1/scheduling_conversations/{id}"),
            Some(&alice.token),
            None,
        )
        .await;
    assert_eq!(b["scheduling_conversation"]["status"], json!("complete"));
    // A link that is not one is a plain 404 page.
    let r = app
        .http
        .get(app.url("/conversations/not-a-token"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
}

both!(
    a_mail_written_before_a_restart_is_sent_after_it,
    super::with_smtp
);
async fn a_mail_written_before_a_restart_is_sent_after_it(app: TestApp) {
    let w = world(&app).await;
    let sub = template(&app, &w, json!({})).await;
    let r = request(&app, &w, marty(&sub, "marty@example.com")).await;
    let url = r["primary_select_url"].as_str().unwrap().to_string();
    let first = slots(&app, &url).await[0].clone();
    pick(&app, &url, &first, "Etc/UTC").await;
    wait_log(&app, &w, |l| {
        l.len() == 1 && l[0]["attempts"].as_i64().unwrap() >= 1
    })
    .await;
    // The server stops with the mail unsent; another starts on the same
    // database (and instance key) and sends it.
    let smtp = app.cfg.smtp_url.clone();
    let next = app.replica_with(|cfg| cfg.smtp_url = smtp).await;
    drop(app);
    let sink = Sink::start(&next);
    let log = wait_log(&next, &w, |l| l[0]["state"] == json!("delivered")).await;
    assert_eq!(log.len(), 1);
    let mails = sink.wait_for(1).await;
    assert_eq!(mails[0]["dtstart"], json!(first));
    // The link in it works with the new process: derived from the same key.
    let text = mails[0]["text"].as_str().unwrap();
    assert!(text.contains(&format!("{url}?decline=true")), "{text}");
    tokio::time::sleep(Duration::from_millis(1000)).await;
    assert_eq!(sink.files().len(), 1, "sent once");
}

both!(a_decline_withdraws_the_invitation, super::with_smtp);
async fn a_decline_withdraws_the_invitation(app: TestApp) {
    let sink = Sink::start(&app);
    let w = world(&app).await;
    let sub = template(&app, &w, json!({})).await;
    let r = request(&app, &w, marty(&sub, "marty@example.com")).await;
    let url = r["primary_select_url"].as_str().unwrap().to_string();
    let first = slots(&app, &url).await[0].clone();
    pick(&app, &url, &first, "Europe/Paris").await;
    let booked = sink.wait_for(1).await;
    let (s, html) = post_form(&app, &url, "action=decline").await;
    assert_eq!(s, StatusCode::OK, "{html}");
    let mails = sink.wait_for(2).await;
    let m = &mails[1];
    assert_eq!(m["calendar_method_param"], json!("CANCEL"));
    assert_eq!(m["ics_method"], json!("CANCEL"));
    assert_eq!(m["uid"], booked[0]["uid"]);
    assert_eq!(m["sequence"], json!(1));
    assert_eq!(m["dtstart"], json!(first));
    assert!(m["subject"].as_str().unwrap().starts_with("Cancelled: "));
    // Still in the zone Marty picked in.
    assert!(m["text"].as_str().unwrap().contains("(Europe/Paris)"));
}

both!(saving_a_template_in_the_dashboard_keeps_email_recipient);
async fn saving_a_template_in_the_dashboard_keeps_email_recipient(app: TestApp) {
    let w = world(&app).await;
    let sub = template(&app, &w, json!({"email_recipient": true})).await;
    let mut b = crate::browser::signed_in(&app, "Acme", "ann@example.com").await;
    let p = b.get(&format!("/dashboard/templates/{sub}")).await;
    assert_eq!(p.status, StatusCode::OK);
    let csrf = p.csrf();
    let form = [
        ("csrf", csrf.as_str()),
        ("name", "Renamed"),
        ("host_kind", "host"),
        ("host", w.host.sub.as_str()),
        ("summary", "Driving lessons"),
        ("duration", "30"),
        ("tzid", "Europe/London"),
        ("window_kind", "days"),
        ("days", "7"),
    ];
    let p = b.post(&format!("/dashboard/templates/{sub}"), &form).await;
    assert_eq!(p.status, StatusCode::SEE_OTHER, "{}", p.html);
    let (_, t) = app
        .call(
            Method::GET,
            &format!("/v1/scheduling_templates/{sub}"),
            Some(&w.c.client_secret),
            None,
        )
        .await;
    assert_eq!(t["scheduling_template"]["name"], json!("Renamed"), "{t}");
    assert_eq!(
        t["scheduling_template"]["email_recipient"],
        json!(true),
        "{t}"
    );
}

/// Marks `acct`'s primary calendar as a writable CalDAV calendar, as a
/// connection through the authorize page would (no server behind it: the
/// write-back of the booking just fails and is retried in the background).
async fn pretend_connected(app: &TestApp, acct: &Acct) {
    let (_, cals) = app
        .call(Method::GET, "/v1/calendars", Some(&acct.token), None)
        .await;
    let cal = cals["calendars"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["calendar_primary"] == json!(true))
        .unwrap_or(&cals["calendars"][0]);
    let (id, profile) = (
        cal["calendar_id"].as_str().unwrap(),
        cal["profile_id"].as_str().unwrap(),
    );
    let sql = "INSERT INTO provider_calendars (calendar_id, profile_id, href, readonly, deleted) \
               VALUES ($1, $2, 'http://127.0.0.1:9/dav/p1/', FALSE, FALSE)";
    convene_store::dispatch!(&app.db, |p| sqlx::query(sql)
        .bind(id)
        .bind(profile)
        .execute(p)
        .await
        .unwrap()
        .rows_affected());
}

both!(
    members_whose_calendar_is_connected_are_not_mailed,
    super::with_smtp
);
async fn members_whose_calendar_is_connected_are_not_mailed(app: TestApp) {
    let sink = Sink::start(&app);
    let w = world(&app).await;
    set_identity(&app, &w.host.sub, "doc@example.com", "Doc Brown", "Etc/UTC").await;
    let p1 = app.account(&w.c, "jennifer").await;
    daily(&app, &p1, "08:00", "18:00").await;
    set_identity(&app, &p1.sub, "jennifer@example.com", "Jennifer", "Etc/UTC").await;
    pretend_connected(&app, &p1).await;
    let sub = template(
        &app,
        &w,
        json!({"collaborator_groups": [{"name": "Pool", "members": [{"sub": p1.sub}], "required": 1}]}),
    )
    .await;
    let r = request(&app, &w, marty(&sub, "marty@example.com")).await;
    let url = r["primary_select_url"].as_str().unwrap().to_string();
    let offered = slots(&app, &url).await;
    pick(&app, &url, &offered[0], "Etc/UTC").await;
    // Marty and Doc: two mails. Jennifer's calendar gets the booking itself.
    let mails = sink.wait_for(2).await;
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    let mails = sink.wait_for(mails.len()).await;
    assert_eq!(to_of(&mails, "marty@example.com").len(), 1, "{mails:#?}");
    assert_eq!(to_of(&mails, "doc@example.com").len(), 1, "{mails:#?}");
    assert!(
        to_of(&mails, "jennifer@example.com").is_empty(),
        "{mails:#?}"
    );
    // She is still an attendee of the invitation the others get.
    let attendees = mails[0]["attendees"].to_string();
    assert!(
        attendees.contains("mailto:jennifer@example.com"),
        "{attendees}"
    );
}
