//! Connected calendars against real CalDAV servers (Radicale, Xandikos)
//! started on loopback: the authorize page, the code exchange, sync into
//! free/busy and availability, remote edits, and ICS feeds.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::both;
use crate::helpers::{Client, TempDir, TestApp, test_python, unused_addr};

const REDIRECT: &str = "https://app.example.com/oauth/callback";

/// A CalDAV server process, killed when dropped.
pub struct DavServer {
    child: Child,
    pub base: String,
    _dir: TempDir,
    cmd: Option<(PathBuf, String)>,
}

impl DavServer {
    /// Stops the server (a CalDAV server that is down).
    pub fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Starts Radicale again on the same address and data.
    pub async fn restart(&mut self) {
        let (dir, addr) = self.cmd.clone().expect("a restartable server");
        self.child = radicale_process(&dir, &addr);
        wait_up(&self.base).await;
    }
}

impl Drop for DavServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn wait_up(base: &str) {
    let http = reqwest::Client::new();
    for _ in 0..200 {
        if http.get(base).send().await.is_ok() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the CalDAV server at {base} did not start");
}

fn radicale_process(dir: &std::path::Path, addr: &str) -> Child {
    Command::new(test_python())
        .args(["-m", "radicale", "--config", ""])
        .arg("--server-hosts")
        .arg(addr)
        .arg("--storage-filesystem-folder")
        .arg(dir.join("collections"))
        .args([
            "--auth-type",
            "htpasswd",
            "--auth-htpasswd-encryption",
            "plain",
        ])
        .arg("--auth-htpasswd-filename")
        .arg(dir.join("users"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start radicale")
}

/// Radicale with one user, `alice` / `secret`.
pub async fn radicale() -> DavServer {
    let dir = TempDir::new("radicale");
    std::fs::write(dir.join("users"), "alice:secret\n").unwrap();
    let addr = unused_addr();
    let child = radicale_process(&dir, &addr);
    let base = format!("http://{addr}");
    wait_up(&base).await;
    DavServer {
        child,
        base,
        cmd: Some((dir.to_path_buf(), addr)),
        _dir: dir,
    }
}

/// Xandikos (no authentication; it serves one principal, `/user/`).
pub async fn xandikos() -> DavServer {
    let dir = TempDir::new("xandikos");
    let addr = unused_addr();
    let (host, port) = addr.rsplit_once(':').unwrap();
    let child = Command::new(test_python())
        .args(["-m", "xandikos.web", "--defaults", "-d"])
        .arg(&dir)
        .args(["-l", host, "-p", port])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start xandikos");
    let base = format!("http://{addr}");
    wait_up(&base).await;
    DavServer {
        child,
        base,
        _dir: dir,
        cmd: None,
    }
}

/// A small CalDAV client for seeding and checking the servers.
pub struct Seeder {
    http: reqwest::Client,
    user: Option<(String, String)>,
}

impl Seeder {
    pub fn new(user: Option<(&str, &str)>) -> Self {
        Seeder {
            http: reqwest::Client::new(),
            user: user.map(|(u, p)| (u.into(), p.into())),
        }
    }

    fn req(&self, method: &str, url: &str) -> reqwest::RequestBuilder {
        let r = self
            .http
            .request(Method::from_bytes(method.as_bytes()).unwrap(), url);
        match &self.user {
            Some((u, p)) => r.basic_auth(u, Some(p)),
            None => r,
        }
    }

    pub async fn mkcalendar(&self, url: &str, name: &str) {
        let body = format!(
            r#"<?xml version="1.0" encoding="utf-8"?><c:mkcalendar xmlns:d="DAV:" xmlns:c="urn:ietf:params:xml:ns:caldav"><d:set><d:prop><d:displayname>{name}</d:displayname></d:prop></d:set></c:mkcalendar>"#
        );
        let r = self.req("MKCALENDAR", url).body(body).send().await.unwrap();
        assert!(r.status().is_success(), "MKCALENDAR {url}: {}", r.status());
    }

    pub async fn put(&self, url: &str, ics: &str) {
        let r = self
            .req("PUT", url)
            .header("content-type", "text/calendar; charset=utf-8")
            .body(ics.to_string())
            .send()
            .await
            .unwrap();
        assert!(r.status().is_success(), "PUT {url}: {}", r.status());
    }

    /// The objects of a collection Convene wrote (`convene-….ics`), with
    /// their data.
    pub async fn convene_objects(&self, cal_url: &str) -> Vec<String> {
        let r = self
            .req("PROPFIND", cal_url)
            .header("depth", "1")
            .send()
            .await
            .unwrap();
        let text = r.text().await.unwrap();
        let base = reqwest::Url::parse(cal_url).unwrap();
        let mut out = Vec::new();
        for part in text.split("href>").skip(1) {
            let href = part.split('<').next().unwrap_or("");
            if href.contains("convene-") && href.ends_with(".ics") {
                let url = base.join(href).unwrap();
                let r = self.req("GET", url.as_str()).send().await.unwrap();
                if r.status().is_success() {
                    out.push(r.text().await.unwrap());
                }
            }
        }
        out.dedup();
        out
    }

    pub async fn delete(&self, url: &str) {
        let r = self.req("DELETE", url).send().await.unwrap();
        assert!(r.status().is_success(), "DELETE {url}: {}", r.status());
    }
}

/// A Monday at least a week ahead, as `YYYYMMDD` in New York, and the
/// instant of 00:00 UTC that day.
fn monday() -> jiff::civil::Date {
    let mut d = jiff::Zoned::now()
        .with_time_zone(jiff::tz::TimeZone::UTC)
        .date()
        .checked_add(jiff::Span::new().days(8))
        .unwrap();
    while d.weekday() != jiff::civil::Weekday::Monday {
        d = d.tomorrow().unwrap();
    }
    d
}

fn ymd(d: jiff::civil::Date) -> String {
    d.strftime("%Y%m%d").to_string()
}

fn day(d: jiff::civil::Date, n: i64) -> jiff::civil::Date {
    d.checked_add(jiff::Span::new().days(n)).unwrap()
}

fn cal(body: &str) -> String {
    format!(
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//convene tests//EN\r\n{body}END:VCALENDAR\r\n"
    )
}

const NY_TZ: &str = "BEGIN:VTIMEZONE\r\nTZID:America/New_York\r\nBEGIN:STANDARD\r\nDTSTART:19701101T020000\r\nRRULE:FREQ=YEARLY;BYMONTH=11;BYDAY=1SU\r\nTZOFFSETFROM:-0400\r\nTZOFFSETTO:-0500\r\nEND:STANDARD\r\nBEGIN:DAYLIGHT\r\nDTSTART:19700308T020000\r\nRRULE:FREQ=YEARLY;BYMONTH=3;BYDAY=2SU\r\nTZOFFSETFROM:-0500\r\nTZOFFSETTO:-0400\r\nEND:DAYLIGHT\r\nEND:VTIMEZONE\r\n";

/// The seeded events: a weekly rule in New York (4 Mondays 09:00–10:00)
/// with the second an EXDATE and the third moved to 14:00; an all-day
/// event on Wednesday; on Thursday a transparent and a cancelled event.
fn seed_objects(m: jiff::civil::Date) -> Vec<(&'static str, String)> {
    vec![
        (
            "weekly.ics",
            cal(&format!(
                "{NY_TZ}BEGIN:VEVENT\r\nUID:weekly-1\r\nDTSTAMP:20260101T000000Z\r\nSUMMARY:Weekly\r\nDTSTART;TZID=America/New_York:{a}T090000\r\nDTEND;TZID=America/New_York:{a}T100000\r\nRRULE:FREQ=WEEKLY;COUNT=4\r\nEXDATE;TZID=America/New_York:{b}T090000\r\nEND:VEVENT\r\n\
                 BEGIN:VEVENT\r\nUID:weekly-1\r\nDTSTAMP:20260101T000000Z\r\nSUMMARY:Moved\r\nRECURRENCE-ID;TZID=America/New_York:{c}T090000\r\nDTSTART;TZID=America/New_York:{c}T140000\r\nDTEND;TZID=America/New_York:{c}T150000\r\nEND:VEVENT\r\n",
                a = ymd(m),
                b = ymd(day(m, 7)),
                c = ymd(day(m, 14)),
            )),
        ),
        (
            "allday.ics",
            cal(&format!(
                "BEGIN:VEVENT\r\nUID:allday-1\r\nDTSTAMP:20260101T000000Z\r\nSUMMARY:Off\r\nDTSTART;VALUE=DATE:{}\r\nDTEND;VALUE=DATE:{}\r\nEND:VEVENT\r\n",
                ymd(day(m, 2)),
                ymd(day(m, 3))
            )),
        ),
        (
            "transparent.ics",
            cal(&format!(
                "BEGIN:VEVENT\r\nUID:transp-1\r\nDTSTAMP:20260101T000000Z\r\nSUMMARY:Free\r\nDTSTART:{d}T100000Z\r\nDTEND:{d}T110000Z\r\nTRANSP:TRANSPARENT\r\nEND:VEVENT\r\n",
                d = ymd(day(m, 3))
            )),
        ),
        (
            "cancelled.ics",
            cal(&format!(
                "BEGIN:VEVENT\r\nUID:cancel-1\r\nDTSTAMP:20260101T000000Z\r\nSUMMARY:Off\r\nDTSTART:{d}T120000Z\r\nDTEND:{d}T130000Z\r\nSTATUS:CANCELLED\r\nEND:VEVENT\r\n",
                d = ymd(day(m, 3))
            )),
        ),
    ]
}

/// The busy intervals the seeded events must produce, in UTC (New York is
/// on standard time or daylight time depending on the date).
fn expected_busy(m: jiff::civil::Date) -> Vec<(String, String)> {
    let ny = |d: jiff::civil::Date, h: i8| {
        d.at(h, 0, 0, 0)
            .in_tz("America/New_York")
            .unwrap()
            .timestamp()
            .strftime("%Y-%m-%dT%H:%M:%SZ")
            .to_string()
    };
    // All-day events are reported by their dates, as native ones are.
    let utc = |d: jiff::civil::Date| d.strftime("%Y-%m-%d").to_string();
    let mut v = vec![
        (ny(m, 9), ny(m, 10)),
        (utc(day(m, 2)), utc(day(m, 3))),
        (ny(day(m, 14), 14), ny(day(m, 14), 15)),
        (ny(day(m, 21), 9), ny(day(m, 21), 10)),
    ];
    v.sort();
    v
}

async fn registered_client(app: &TestApp) -> Client {
    let c = app.client("Acme").await;
    app.db
        .set_redirect_uris(&c.client_id, &[REDIRECT.to_string()], 0)
        .await
        .unwrap();
    c
}

fn authorize_query(c: &Client, extra: &str) -> String {
    format!(
        "/oauth/authorize?response_type=code&client_id={}&redirect_uri={}&scope=read_write&state=s-42{extra}",
        c.client_id,
        urlencode(REDIRECT)
    )
}

fn urlencode(s: &str) -> String {
    serde_urlencoded::to_string([("x", s)]).unwrap()[2..].to_string()
}

fn browser() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

/// Drives the authorize page like a person: GET the page, POST the form;
/// answers the status, the Location and the page text.
async fn submit(
    app: &TestApp,
    c: &Client,
    extra: &str,
    form: &[(&str, &str)],
) -> (StatusCode, Option<String>, String) {
    let http = browser();
    let page = http
        .get(app.url(&authorize_query(c, extra)))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    let html = page.text().await.unwrap();
    assert!(html.contains(r#"<label for="server_url">"#), "{html}");
    let mut fields: Vec<(String, String)> = vec![
        ("response_type".into(), "code".into()),
        ("client_id".into(), c.client_id.clone()),
        ("redirect_uri".into(), REDIRECT.into()),
        ("scope".into(), "read_write".into()),
        ("state".into(), "s-42".into()),
    ];
    if let Some(t) = extra.strip_prefix("&link_token=") {
        fields.push(("link_token".into(), t.into()));
    }
    fields.extend(form.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    let r = http
        .post(app.url("/oauth/authorize"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(serde_urlencoded::to_string(&fields).unwrap())
        .send()
        .await
        .unwrap();
    let status = r.status();
    let loc = r
        .headers()
        .get("location")
        .map(|v| v.to_str().unwrap().to_string());
    (status, loc, r.text().await.unwrap())
}

fn code_of(loc: &str) -> String {
    let u = reqwest::Url::parse(loc).unwrap();
    assert!(loc.starts_with(REDIRECT), "{loc}");
    let q: std::collections::HashMap<_, _> = u.query_pairs().into_owned().collect();
    assert_eq!(q.get("state").map(String::as_str), Some("s-42"));
    q.get("code").cloned().expect("a code")
}

async fn exchange(app: &TestApp, c: &Client, code: &str) -> (StatusCode, Value) {
    app.call(
        Method::POST,
        "/oauth/token",
        None,
        Some(json!({"client_id": c.client_id, "client_secret": c.client_secret, "grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT})),
    )
    .await
}

/// Waits until every profile of the account finished its first sync.
async fn synced(app: &TestApp, token: &str) -> Value {
    for _ in 0..150 {
        let (_, b) = app
            .call(Method::GET, "/v1/profiles", Some(token), None)
            .await;
        let ps = b["profiles"].as_array().cloned().unwrap_or_default();
        if !ps.is_empty()
            && ps
                .iter()
                .all(|p| p["profile_initial_sync_required"] == json!(false))
        {
            return b;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    panic!("the first sync did not finish");
}

async fn busy(app: &TestApp, token: &str, m: jiff::civil::Date) -> Vec<(String, String)> {
    let from = day(m, -1).strftime("%Y-%m-%d");
    let to = day(m, 27).strftime("%Y-%m-%d");
    let (s, b) = app
        .call(
            Method::GET,
            &format!("/v1/free_busy?tzid=Etc/UTC&from={from}&to={to}"),
            Some(token),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    let mut v: Vec<(String, String)> = b["free_busy"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["free_busy_status"] == json!("busy"))
        .map(|f| {
            (
                f["start"].as_str().unwrap().to_string(),
                f["end"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    v.sort();
    v
}

async fn seeded_radicale(m: jiff::civil::Date) -> (DavServer, Seeder, String) {
    let dav = radicale().await;
    let seeder = Seeder::new(Some(("alice", "secret")));
    let cal_url = format!("{}/alice/work/", dav.base);
    seeder.mkcalendar(&cal_url, "Work").await;
    for (name, ics) in seed_objects(m) {
        seeder.put(&format!("{cal_url}{name}"), &ics).await;
    }
    (dav, seeder, cal_url)
}

both!(
    radicale_connects_through_the_authorize_page_and_syncs,
    |cfg: &mut convene_server::Config| cfg.sync_interval_secs = 1
);
async fn radicale_connects_through_the_authorize_page_and_syncs(app: TestApp) {
    let m = monday();
    let (dav, seeder, cal_url) = seeded_radicale(m).await;
    let c = registered_client(&app).await;

    // A wrong password: the page again, saying so, and nothing stored.
    let (s, loc, html) = submit(
        &app,
        &c,
        "",
        &[
            ("provider", "caldav"),
            ("server_url", &format!("{}/", dav.base)),
            ("username", "alice"),
            ("password", "wrong"),
        ],
    )
    .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(loc.is_none());
    assert!(html.contains("refused the username or password"), "{html}");
    assert!(
        html.contains(r#"value="alice""#),
        "the form keeps what was typed"
    );
    assert!(!html.contains("wrong"), "the password is never echoed");
    assert!(app.db.redirect_uris(&c.client_id).await.unwrap().len() == 1);

    // The server root: discovery finds the principal, its home and calendar.
    let (s, loc, html) = submit(
        &app,
        &c,
        "",
        &[
            ("provider", "caldav"),
            ("server_url", &format!("{}/", dav.base)),
            ("username", "alice"),
            ("password", "secret"),
        ],
    )
    .await;
    assert_eq!(s, StatusCode::SEE_OTHER, "{html}");
    let code = code_of(&loc.unwrap());
    let (s, tok) = exchange(&app, &c, &code).await;
    assert_eq!(s, StatusCode::OK, "{tok}");
    assert_eq!(tok["linking_profile"]["provider_name"], json!("caldav"));
    assert_eq!(
        tok["linking_profile"]["profile_name"],
        json!(format!("alice@127.0.0.1"))
    );
    assert_eq!(tok["sub"], tok["account_id"]);
    let token = tok["access_token"].as_str().unwrap().to_string();
    // Codes are single use.
    let (s, again) = exchange(&app, &c, &code).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert_eq!(again["error"], json!("invalid_grant"));

    let profiles = synced(&app, &token).await;
    assert_eq!(profiles["profiles"][0]["provider_name"], json!("caldav"));
    assert_eq!(profiles["profiles"][0]["profile_connected"], json!(true));
    let (_, cals) = app
        .call(Method::GET, "/v1/calendars", Some(&token), None)
        .await;
    let work = cals["calendars"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["calendar_name"] == json!("Work"))
        .cloned()
        .unwrap_or_else(|| panic!("{cals}"));
    assert_eq!(work["provider_name"], json!("caldav"));
    assert_eq!(work["calendar_readonly"], json!(false));
    assert_eq!(work["calendar_deleted"], json!(false));

    // Recurrence with an EXDATE and an override, TZID, all-day; the
    // transparent and the cancelled events are not busy.
    assert_eq!(busy(&app, &token, m).await, expected_busy(m));

    // Availability leaves the remote busy time out: of Monday 08:00–11:00
    // New York, the weekly 09:00–10:00 is taken.
    let ny = |h: i8| {
        m.at(h, 0, 0, 0)
            .in_tz("America/New_York")
            .unwrap()
            .timestamp()
            .strftime("%Y-%m-%dT%H:%M:%SZ")
            .to_string()
    };
    let (s, av) = app
        .call(
            Method::POST,
            "/v1/availability",
            Some(&c.client_secret),
            Some(json!({
                "participants": [{"members": [{"sub": tok["sub"]}], "required": "all"}],
                "required_duration": {"minutes": 60},
                "query_periods": [{"start": ny(8), "end": ny(11)}]
            })),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{av}");
    let periods: Vec<(String, String)> = av["available_periods"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p["start"].as_str().unwrap().into(),
                p["end"].as_str().unwrap().into(),
            )
        })
        .collect();
    assert_eq!(periods, vec![(ny(8), ny(9)), (ny(10), ny(11))], "{av}");
    // A bulk delete of the account's events leaves the remote calendar's.
    let (s, _) = app
        .call(
            Method::DELETE,
            "/v1/events",
            Some(&token),
            Some(json!({"delete_all": true})),
        )
        .await;
    assert_eq!(s, StatusCode::ACCEPTED);
    assert_eq!(busy(&app, &token, m).await, expected_busy(m));
    // Radicale speaks sync-collection: later syncs ask only for changes.
    let pcals = app
        .db
        .provider_calendars(tok["sub"].as_str().unwrap())
        .await
        .unwrap();
    assert!(pcals[0].sync_token.is_some(), "{pcals:?}");

    // The stored password is not the password.
    let conn = app
        .db
        .connections(tok["sub"].as_str().unwrap())
        .await
        .unwrap();
    assert!(!conn[0].credentials_enc.is_empty() && !conn[0].credentials_enc.contains("secret"));

    // A remote edit arrives within the sync interval and raises `change`.
    let rx = crate::notifications::Receiver::start(0).await;
    let (s, b) = app
        .call(
            Method::POST,
            "/v1/channels",
            Some(&token),
            Some(json!({"callback_url": rx.url})),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    rx.wait_for(1).await; // verification
    let tue = day(m, 1);
    seeder
        .put(
            &format!("{cal_url}new.ics"),
            &cal(&format!("BEGIN:VEVENT\r\nUID:new-1\r\nDTSTAMP:20260101T000000Z\r\nSUMMARY:New\r\nDTSTART:{d}T150000Z\r\nDTEND:{d}T160000Z\r\nEND:VEVENT\r\n", d = ymd(tue))),
        )
        .await;
    let want = format!("{}T15:00:00Z", tue.strftime("%Y-%m-%d"));
    let mut seen = false;
    for _ in 0..50 {
        if busy(&app, &token, m).await.iter().any(|(s, _)| s == &want) {
            seen = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(seen, "the remote event did not arrive");
    let got = rx.wait_for(2).await;
    let v: Value = serde_json::from_str(&got[1].body).unwrap();
    assert_eq!(v["notification"]["type"], json!("change"));

    // A removed remote event stops counting.
    seeder.delete(&format!("{cal_url}new.ics")).await;
    let mut gone = false;
    for _ in 0..50 {
        if !busy(&app, &token, m).await.iter().any(|(s, _)| s == &want) {
            gone = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(gone, "the removed remote event still counts");

    // Revoking the profile: its events stop counting.
    let pid = tok["linking_profile"]["profile_id"].as_str().unwrap();
    let (s, _) = app
        .call(
            Method::POST,
            &format!("/v1/profiles/{pid}/revoke"),
            Some(&token),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::ACCEPTED);
    assert!(busy(&app, &token, m).await.is_empty());
    let (_, profiles) = app
        .call(Method::GET, "/v1/profiles", Some(&token), None)
        .await;
    assert_eq!(profiles["profiles"][0]["profile_connected"], json!(false));
}

both!(authorize_refuses_unknown_clients_and_redirect_uris);
async fn authorize_refuses_unknown_clients_and_redirect_uris(app: TestApp) {
    let c = registered_client(&app).await;
    let http = browser();
    for q in [
        format!(
            "/oauth/authorize?response_type=code&client_id={}&redirect_uri={}&scope=read_write",
            c.client_id,
            urlencode("https://evil.example.com/cb")
        ),
        format!(
            "/oauth/authorize?response_type=code&client_id=cid_nope&redirect_uri={}&scope=read_write",
            urlencode(REDIRECT)
        ),
        format!(
            "/oauth/authorize?response_type=code&client_id={}&scope=read_write",
            c.client_id
        ),
    ] {
        let r = http.get(app.url(&q)).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::BAD_REQUEST, "{q}");
        assert!(r.headers().get("location").is_none());
        let html = r.text().await.unwrap();
        assert!(html.contains("cannot connect a calendar"), "{html}");
    }
    // The same on POST: never a redirect to an unregistered URI.
    let r = http
        .post(app.url("/oauth/authorize"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(
            serde_urlencoded::to_string([
                ("response_type", "code"),
                ("client_id", c.client_id.as_str()),
                ("redirect_uri", "https://evil.example.com/cb"),
                ("provider", "ics"),
                ("ics_url", "http://127.0.0.1:9/x.ics"),
            ])
            .unwrap(),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert!(r.headers().get("location").is_none());
    // An unreachable server: the page again, nothing stored.
    let (s, loc, html) = submit(
        &app,
        &c,
        "",
        &[
            ("provider", "caldav"),
            ("server_url", &format!("http://{}/", unused_addr())),
            ("username", "a"),
            ("password", "b"),
        ],
    )
    .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(loc.is_none());
    assert!(html.contains("could not be reached"), "{html}");
    // A code for another redirect_uri, or an unknown code: invalid_grant.
    let (s, b) = app
        .call(Method::POST, "/oauth/token", None, Some(json!({"client_id": c.client_id, "client_secret": c.client_secret, "grant_type": "authorization_code", "code": "nope", "redirect_uri": REDIRECT})))
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert_eq!(b["error"], json!("invalid_grant"));
}

// Under `--callback-policy public-only` a CalDAV server named by a host
// that resolves to loopback is refused like a loopback IP: the name is
// resolved and every address checked before connecting.
both!(
    a_name_resolving_to_a_refused_address_is_refused,
    |cfg: &mut convene_server::Config| cfg.callback_policy =
        convene_server::notifications::CallbackPolicy::PublicOnly
);
async fn a_name_resolving_to_a_refused_address_is_refused(app: TestApp) {
    let dav = radicale().await;
    let seeder = Seeder::new(Some(("alice", "secret")));
    seeder
        .mkcalendar(&format!("{}/alice/work/", dav.base), "Work")
        .await;
    let port = dav.base.rsplit(':').next().unwrap();
    let c = registered_client(&app).await;
    for ics in [false, true] {
        let url = format!("http://localhost:{port}/alice/work/");
        let form: Vec<(&str, &str)> = if ics {
            vec![("provider", "ics"), ("ics_url", &url)]
        } else {
            vec![
                ("provider", "caldav"),
                ("server_url", &url),
                ("username", "alice"),
                ("password", "secret"),
            ]
        };
        let (s, loc, html) = submit(&app, &c, "", &form).await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{html}");
        assert!(loc.is_none());
        assert!(
            html.contains("localhost resolves to") && html.contains("which Convene does not call"),
            "{html}"
        );
    }
    // Nothing was stored: no profile exists to be synced, however late.
    assert!(
        app.db
            .claim_due_connections(i64::MAX / 4, 1, 100)
            .await
            .unwrap()
            .is_empty()
    );
}

// A password changed on the server: the next sync is refused, the profile
// shows disconnected (with a `profile_disconnected` push) and is no longer
// synced; authorizing the same server and username again revives the same
// profile of the same account with the new password.
both!(
    refused_credentials_disconnect_the_profile_until_authorized_again,
    |cfg: &mut convene_server::Config| cfg.sync_interval_secs = 1
);
async fn refused_credentials_disconnect_the_profile_until_authorized_again(app: TestApp) {
    let dav = radicale().await;
    let seeder = Seeder::new(Some(("alice", "secret")));
    let cal_url = format!("{}/alice/work/", dav.base);
    seeder.mkcalendar(&cal_url, "Work").await;
    let c = registered_client(&app).await;
    let form = |pass: &'static str| {
        vec![
            ("provider", "caldav"),
            ("server_url", cal_url.as_str()),
            ("username", "alice"),
            ("password", pass),
        ]
    };
    let (s, loc, html) = submit(&app, &c, "", &form("secret")).await;
    assert_eq!(s, StatusCode::SEE_OTHER, "{html}");
    let (_, tok) = exchange(&app, &c, &code_of(&loc.unwrap())).await;
    let token = tok["access_token"].as_str().unwrap().to_string();
    let profile_id = tok["linking_profile"]["profile_id"]
        .as_str()
        .unwrap()
        .to_string();
    synced(&app, &token).await;
    let rx = crate::notifications::Receiver::start(0).await;
    let (s, b) = app
        .call(
            Method::POST,
            "/v1/channels",
            Some(&token),
            Some(json!({"callback_url": rx.url})),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{b}");

    std::fs::write(dav._dir.join("users"), "alice:changed\n").unwrap();
    let mut profile = Value::Null;
    for _ in 0..100 {
        let (_, b) = app
            .call(Method::GET, "/v1/profiles", Some(&token), None)
            .await;
        profile = b["profiles"][0].clone();
        if profile["profile_connected"] == json!(false) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(profile["profile_connected"], json!(false), "{profile}");
    assert_eq!(profile["profile_id"], json!(profile_id));
    let (_, info) = app
        .call(Method::GET, "/v1/userinfo", Some(&token), None)
        .await;
    let p = &info["cronofy.data"]["profiles"][0];
    assert_eq!(p["profile_connected"], json!(false), "{info}");
    assert_eq!(p["provider_name"], json!("caldav"), "{info}");
    // Where to send the person: the authorize page, their server and
    // username already filled in.
    let relink = profile["profile_relink_url"]
        .as_str()
        .unwrap_or_else(|| panic!("a relink URL while disconnected: {profile}"))
        .to_string();
    assert!(
        relink.starts_with(&app.url("/oauth/authorize?")),
        "{relink}"
    );
    let page = browser().get(&relink).send().await.unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    let html = page
        .text()
        .await
        .unwrap()
        .replace("&#x2f;", "/")
        .replace("&#47;", "/");
    assert!(html.contains(&format!(r#"value="{cal_url}""#)), "{html}");
    assert!(
        html.contains(r#"name="username" required value="alice""#),
        "{html}"
    );
    let mut types = Vec::new();
    for _ in 0..100 {
        types = rx
            .got()
            .iter()
            .map(|r| {
                serde_json::from_str::<Value>(&r.body).unwrap()["notification"]["type"].clone()
            })
            .collect();
        if types.contains(&json!("profile_disconnected")) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(types.contains(&json!("profile_disconnected")), "{types:?}");
    // Sync leaves it alone now: no attempt over three intervals.
    let last = app.db.connection(&profile_id).await.unwrap().unwrap();
    tokio::time::sleep(Duration::from_millis(3000)).await;
    let later = app.db.connection(&profile_id).await.unwrap().unwrap();
    assert_eq!(last.last_sync_ms, later.last_sync_ms);
    assert!(!later.connected);

    // The person authorizes again with the new password: the same profile.
    let (s, loc, html) = submit(&app, &c, "", &form("changed")).await;
    assert_eq!(s, StatusCode::SEE_OTHER, "{html}");
    let (s, tok2) = exchange(&app, &c, &code_of(&loc.unwrap())).await;
    assert_eq!(s, StatusCode::OK, "{tok2}");
    assert_eq!(tok2["sub"], tok["sub"]);
    assert_eq!(tok2["linking_profile"]["profile_id"], json!(profile_id));
    let b = synced(&app, &token).await;
    let ps = b["profiles"].as_array().unwrap();
    assert_eq!(ps.len(), 1, "{b}");
    assert_eq!(ps[0]["profile_connected"], json!(true), "{b}");
    assert!(ps[0].get("profile_relink_url").is_none(), "{b}");
    // And it syncs again: a remote event arrives.
    let m = monday();
    Seeder::new(Some(("alice", "changed")))
        .put(
            &format!("{cal_url}late.ics"),
            &cal(&format!("BEGIN:VEVENT\r\nUID:late\r\nDTSTAMP:20260101T000000Z\r\nSUMMARY:Late\r\nDTSTART:{d}T100000Z\r\nDTEND:{d}T110000Z\r\nEND:VEVENT\r\n", d = ymd(m))),
        )
        .await;
    let mut found = false;
    for _ in 0..100 {
        let (_, evs) = app
            .call(
                Method::GET,
                &format!(
                    "/v1/events?tzid=Etc/UTC&from={}&to={}",
                    day(m, -1).strftime("%Y-%m-%d"),
                    day(m, 2).strftime("%Y-%m-%d")
                ),
                Some(&token),
                None,
            )
            .await;
        if evs["events"]
            .as_array()
            .is_some_and(|a| a.iter().any(|e| e["summary"] == json!("Late")))
        {
            found = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(found, "the revived profile syncs");
}

// A profile its server disconnected keeps its events counting; revoking it
// still works and they stop counting.
both!(
    a_profile_disconnected_by_its_server_can_be_revoked,
    |cfg: &mut convene_server::Config| cfg.sync_interval_secs = 1
);
async fn a_profile_disconnected_by_its_server_can_be_revoked(app: TestApp) {
    let m = monday();
    let (dav, _seeder, cal_url) = seeded_radicale(m).await;
    let c = registered_client(&app).await;
    let acct = connected_acct(&app, &c, &cal_url).await;
    assert_eq!(busy(&app, &acct.token, m).await, expected_busy(m));
    std::fs::write(dav._dir.join("users"), "alice:changed\n").unwrap();
    let mut profile = Value::Null;
    for _ in 0..100 {
        let (_, b) = app
            .call(Method::GET, "/v1/profiles", Some(&acct.token), None)
            .await;
        profile = b["profiles"][0].clone();
        if profile["profile_connected"] == json!(false) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(profile["profile_connected"], json!(false), "{profile}");
    assert_eq!(busy(&app, &acct.token, m).await, expected_busy(m));
    let (s, b) = app
        .call(
            Method::POST,
            &format!(
                "/v1/profiles/{}/revoke",
                profile["profile_id"].as_str().unwrap()
            ),
            Some(&acct.token),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::ACCEPTED, "{b}");
    assert_eq!(busy(&app, &acct.token, m).await, Vec::new());
}

/// Serves one ICS text over HTTP with an ETag, counting the full answers./// Serves one ICS text over HTTP with an ETag, counting the full answers.
async fn feed_server(
    text: std::sync::Arc<std::sync::Mutex<String>>,
    full: std::sync::Arc<std::sync::atomic::AtomicUsize>,
) -> String {
    use axum::http::HeaderMap;
    let app = axum::Router::new().route(
        "/feed.ics",
        axum::routing::get(move |h: HeaderMap| {
            let text = text.clone();
            let full = full.clone();
            async move {
                let body = text.lock().unwrap().clone();
                let etag = format!("\"{}\"", convene_server::ids::digest(&body));
                if h.get("if-none-match").and_then(|v| v.to_str().ok()) == Some(etag.as_str()) {
                    return (
                        axum::http::StatusCode::NOT_MODIFIED,
                        [("etag", etag)],
                        String::new(),
                    );
                }
                full.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                (axum::http::StatusCode::OK, [("etag", etag)], body)
            }
        }),
    );
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(l, app).await.unwrap() });
    format!("http://{addr}/feed.ics")
}

both!(
    an_ics_feed_and_a_second_calendar_through_a_link_token,
    |cfg: &mut convene_server::Config| cfg.sync_interval_secs = 1
);
async fn an_ics_feed_and_a_second_calendar_through_a_link_token(app: TestApp) {
    let m = monday();
    let all: String = seed_objects(m)
        .into_iter()
        .map(|(_, ics)| {
            let start = ics
                .find("BEGIN:VTIMEZONE")
                .or(ics.find("BEGIN:VEVENT"))
                .unwrap();
            ics[start..ics.find("END:VCALENDAR").unwrap()].to_string()
        })
        .collect();
    let text = std::sync::Arc::new(std::sync::Mutex::new(cal(&format!(
        "X-WR-CALNAME:Team feed\r\n{all}"
    ))));
    let full = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let url = feed_server(text.clone(), full.clone()).await;
    let c = registered_client(&app).await;
    // An application-calendar account connects a feed via a link token.
    let acct = app.account(&c, "bob").await;
    let (s, lt) = app
        .call(Method::POST, "/v1/link_tokens", Some(&acct.token), None)
        .await;
    assert_eq!(s, StatusCode::OK, "{lt}");
    let link = lt["link_token"].as_str().unwrap();
    let (s, loc, html) = submit(
        &app,
        &c,
        &format!("&link_token={link}"),
        &[("provider", "ics"), ("ics_url", &url)],
    )
    .await;
    assert_eq!(s, StatusCode::SEE_OTHER, "{html}");
    let (s, tok) = exchange(&app, &c, &code_of(&loc.unwrap())).await;
    assert_eq!(s, StatusCode::OK, "{tok}");
    assert_eq!(tok["sub"], json!(acct.sub), "the feed joined bob's account");
    assert_eq!(tok["linking_profile"]["provider_name"], json!("ics"));
    assert_eq!(tok["linking_profile"]["profile_name"], json!("Team feed"));
    synced(&app, &acct.token).await;
    let (_, cals) = app
        .call(Method::GET, "/v1/calendars", Some(&acct.token), None)
        .await;
    let feed = cals["calendars"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["provider_name"] == json!("ics"))
        .cloned()
        .unwrap();
    assert_eq!(feed["calendar_readonly"], json!(true));
    // A feed is read-only: writes are refused.
    let (s, b) = app
        .call(Method::POST, &format!("/v1/calendars/{}/events", feed["calendar_id"].as_str().unwrap()), Some(&acct.token), Some(json!({"event_id": "x", "summary": "x", "start": crate::helpers::future(2, 9), "end": crate::helpers::future(2, 10)})))
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{b}");
    assert_eq!(
        crate::helpers::err_key(&b, "calendar_id"),
        "errors.calendar_readonly"
    );
    assert_eq!(busy(&app, &acct.token, m).await, expected_busy(m));
    // An unchanged feed is not downloaded again (ETag).
    let before = full.load(std::sync::atomic::Ordering::SeqCst);
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert_eq!(full.load(std::sync::atomic::Ordering::SeqCst), before);
    // A changed feed replaces its events.
    *text.lock().unwrap() = cal("X-WR-CALNAME:Team feed\r\n");
    let mut cleared = false;
    for _ in 0..50 {
        if busy(&app, &acct.token, m).await.is_empty() {
            cleared = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(cleared, "the emptied feed still counts");
    // Availability skips the busy time of connected calendars too.
}

both!(
    xandikos_discovery_and_sync,
    |cfg: &mut convene_server::Config| cfg.sync_interval_secs = 1
);
async fn xandikos_discovery_and_sync(app: TestApp) {
    let m = monday();
    let dav = xandikos().await;
    let seeder = Seeder::new(None);
    let cal_url = format!("{}/user/calendars/calendar/", dav.base);
    for (name, ics) in seed_objects(m) {
        seeder.put(&format!("{cal_url}{name}"), &ics).await;
    }
    let c = registered_client(&app).await;
    let (s, loc, html) = submit(
        &app,
        &c,
        "",
        &[
            ("provider", "caldav"),
            ("server_url", &format!("{}/", dav.base)),
            ("username", "user"),
            ("password", "unused"),
        ],
    )
    .await;
    assert_eq!(s, StatusCode::SEE_OTHER, "{html}");
    let (s, tok) = exchange(&app, &c, &code_of(&loc.unwrap())).await;
    assert_eq!(s, StatusCode::OK, "{tok}");
    let token = tok["access_token"].as_str().unwrap().to_string();
    synced(&app, &token).await;
    assert_eq!(busy(&app, &token, m).await, expected_busy(m));
}

/// Polls Radicale until what Convene wrote satisfies `ok`.
async fn wait_objects(
    seeder: &Seeder,
    cal_url: &str,
    what: &str,
    ok: impl Fn(&[String]) -> bool,
) -> Vec<String> {
    for _ in 0..200 {
        let got = seeder.convene_objects(cal_url).await;
        if ok(&got) {
            return got;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    panic!("{what}: {:?}", seeder.convene_objects(cal_url).await);
}

both!(
    events_and_bookings_are_written_back_to_radicale,
    |cfg: &mut convene_server::Config| cfg.sync_interval_secs = 1
);
async fn events_and_bookings_are_written_back_to_radicale(app: TestApp) {
    let mut dav = radicale().await;
    let seeder = Seeder::new(Some(("alice", "secret")));
    let cal_url = format!("{}/alice/work/", dav.base);
    seeder.mkcalendar(&cal_url, "Work").await;
    let c = registered_client(&app).await;
    let (s, loc, html) = submit(
        &app,
        &c,
        "",
        &[
            ("provider", "caldav"),
            ("server_url", &cal_url),
            ("username", "alice"),
            ("password", "secret"),
        ],
    )
    .await;
    assert_eq!(s, StatusCode::SEE_OTHER, "{html}");
    let (_, tok) = exchange(&app, &c, &code_of(&loc.unwrap())).await;
    let token = tok["access_token"].as_str().unwrap().to_string();
    synced(&app, &token).await;
    let (_, cals) = app
        .call(Method::GET, "/v1/calendars", Some(&token), None)
        .await;
    let work = cals["calendars"][0].clone();
    assert_eq!(work["calendar_name"], json!("Work"), "{cals}");
    assert_eq!(
        work["calendar_primary"],
        json!(true),
        "bookings go to the connected calendar"
    );
    let cal_id = work["calendar_id"].as_str().unwrap().to_string();

    // An event created through the API is PUT to the server…
    let path = format!("/v1/calendars/{cal_id}/events");
    let (s, b) = app
        .call(Method::POST, &path, Some(&token), Some(json!({"event_id": "e1", "summary": "Lunch", "start": crate::helpers::future(3, 12), "end": crate::helpers::future(3, 13), "attendees": {"invite": [{"email": "bob@example.com", "display_name": "Bob"}]}})))
        .await;
    assert_eq!(s, StatusCode::ACCEPTED, "{b}");
    let got = wait_objects(&seeder, &cal_url, "the event was not written", |o| {
        o.iter().any(|x| x.contains("SUMMARY:Lunch"))
    })
    .await;
    let ics = &got[0];
    assert!(ics.contains("SEQUENCE:0"), "{ics}");
    assert!(ics.contains("ORGANIZER;CN="), "{ics}");
    assert!(ics.contains("mailto:bob@example.com"), "{ics}");
    // …moved on update with SEQUENCE bumped…
    let (s, _) = app
        .call(Method::POST, &path, Some(&token), Some(json!({"event_id": "e1", "summary": "Lunch moved", "start": crate::helpers::future(3, 14), "end": crate::helpers::future(3, 15)})))
        .await;
    assert_eq!(s, StatusCode::ACCEPTED);
    let got = wait_objects(&seeder, &cal_url, "the update was not written", |o| {
        o.len() == 1 && o[0].contains("SUMMARY:Lunch moved")
    })
    .await;
    assert!(got[0].contains("SEQUENCE:1"), "{}", got[0]);
    // …and is not read back as a second event.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let (_, evs) = app
        .call(Method::GET, "/v1/events?tzid=Etc/UTC", Some(&token), None)
        .await;
    let lunches = evs["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["summary"].as_str().unwrap_or("").starts_with("Lunch"))
        .count();
    assert_eq!(lunches, 1, "{evs}");
    // Deleting it deletes it there.
    let (s, _) = app
        .call(
            Method::DELETE,
            &path,
            Some(&token),
            Some(json!({"event_id": "e1"})),
        )
        .await;
    assert_eq!(s, StatusCode::ACCEPTED);
    wait_objects(&seeder, &cal_url, "the delete was not written", |o| {
        o.is_empty()
    })
    .await;
    // A bulk delete of the calendar too.
    let (s, _) = app
        .call(Method::POST, &path, Some(&token), Some(json!({"event_id": "e2", "summary": "Tea", "start": crate::helpers::future(4, 12), "end": crate::helpers::future(4, 13)})))
        .await;
    assert_eq!(s, StatusCode::ACCEPTED);
    wait_objects(&seeder, &cal_url, "e2 was not written", |o| {
        o.iter().any(|x| x.contains("SUMMARY:Tea"))
    })
    .await;
    let (s, _) = app
        .call(
            Method::DELETE,
            "/v1/events",
            Some(&token),
            Some(json!({"calendar_ids": [cal_id]})),
        )
        .await;
    assert_eq!(s, StatusCode::ACCEPTED);
    wait_objects(&seeder, &cal_url, "the bulk delete was not written", |o| {
        o.is_empty()
    })
    .await;

    // A booking while the server is down stands; the event arrives when
    // the server is back.
    let host = crate::helpers::Acct {
        sub: tok["sub"].as_str().unwrap().to_string(),
        token: token.clone(),
        refresh: String::new(),
        calendar_id: cal_id.clone(),
    };
    crate::helpers::daily(&app, &host, "08:00", "18:00").await;
    let (s, b) = app
        .call(
            Method::POST,
            "/v1/scheduling_templates",
            Some(&c.client_secret),
            Some(json!({
                "name": "Intro", "host": {"sub": host.sub}, "collaborator_groups": [],
                "event": {"summary": "Intro call"}, "duration": {"minutes": 30},
                "availability_mode": {"days": 7}, "tzid": "Etc/UTC"
            })),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    let sub = b["scheduling_template"]["sub"]
        .as_str()
        .unwrap()
        .to_string();
    let (s, b) = app
        .call(Method::POST, "/v1/scheduling_requests", Some(&c.client_secret), Some(json!({"template": {"sub": sub}, "recipients": [{"email": "marty@evenitron.com", "display_name": "Marty McFly", "slot_selector": true}]})))
        .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    let srq_id = b["scheduling_request"]["scheduling_request_id"]
        .as_str()
        .unwrap()
        .to_string();
    let url = b["scheduling_request"]["primary_select_url"]
        .as_str()
        .unwrap()
        .to_string();
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
        .unwrap_or_else(|| panic!("{html}"));
    dav.stop();
    let r = app
        .http
        .post(&url)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("slot={}&tz=Etc%2FUTC", slot.replace(':', "%3A")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert!(r.text().await.unwrap().contains("id=\"confirmation\""));
    tokio::time::sleep(Duration::from_millis(1500)).await;
    dav.restart().await;
    let got = wait_objects(&seeder, &cal_url, "the booking did not arrive", |o| {
        o.iter().any(|x| x.contains("SUMMARY:Intro call"))
    })
    .await;
    assert!(got[0].contains("mailto:marty@evenitron.com"), "{}", got[0]);
    assert!(
        got[0].contains(&format!("DTSTART:{}", slot.replace(['-', ':'], ""))),
        "{}",
        got[0]
    );
    // An independent parser reads what Convene wrote.
    let out = Command::new(test_python())
        .args(["-c", "import sys, icalendar; e = icalendar.Calendar.from_ical(sys.stdin.read()).walk('VEVENT')[0]; print(e['UID'], e['SEQUENCE'], e['ORGANIZER'], e['ATTENDEE'])"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .and_then(|mut child| {
            use std::io::Write as _;
            child.stdin.take().unwrap().write_all(got[0].as_bytes())?;
            child.wait_with_output()
        })
        .unwrap();
    let parsed = String::from_utf8_lossy(&out.stdout);
    assert!(
        parsed.contains("@convene 0 mailto:") && parsed.contains("mailto:marty@evenitron.com"),
        "{parsed}"
    );
    // Rescheduling moves it, SEQUENCE up.
    let r = app
        .http
        .post(&url)
        .header("content-type", "application/x-www-form-urlencoded")
        .body("action=reschedule")
        .send()
        .await
        .unwrap();
    let html = r.text().await.unwrap();
    let other = html
        .split("name=\"slot\" value=\"")
        .skip(1)
        .map(|s| s[..20].to_string())
        .find(|s| s != &slot)
        .unwrap_or_else(|| panic!("{html}"));
    let r = app
        .http
        .post(&url)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("slot={}&tz=Etc%2FUTC", other.replace(':', "%3A")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let moved = format!("DTSTART:{}", other.replace(['-', ':'], ""));
    let got = wait_objects(&seeder, &cal_url, "the reschedule was not written", |o| {
        o.len() == 1 && o[0].contains(&moved)
    })
    .await;
    assert!(!got[0].contains("SEQUENCE:0"), "{}", got[0]);
    // Cancelling the request deletes it there.
    let (s, _) = app
        .call(
            Method::POST,
            "/v1/scheduling_requests/cancel",
            Some(&c.client_secret),
            Some(json!({"scheduling_request_id": srq_id})),
        )
        .await;
    assert_eq!(s, StatusCode::ACCEPTED);
    wait_objects(
        &seeder,
        &cal_url,
        "the cancelled booking is still there",
        |o| o.is_empty(),
    )
    .await;
}

// An event put on the CalDAV server moments before a booking, an hour
// before the next sync, is found by the booking's time-range REPORT: the
// slot is refused as taken and the event is in Convene.
both!(
    a_booking_reads_the_remote_calendar_again_first,
    |cfg: &mut convene_server::Config| cfg.sync_interval_secs = 3600
);
async fn a_booking_reads_the_remote_calendar_again_first(app: TestApp) {
    let dav = radicale().await;
    let seeder = Seeder::new(Some(("alice", "secret")));
    let cal_url = format!("{}/alice/work/", dav.base);
    seeder.mkcalendar(&cal_url, "Work").await;
    let c = registered_client(&app).await;
    let (s, loc, html) = submit(
        &app,
        &c,
        "",
        &[
            ("provider", "caldav"),
            ("server_url", &cal_url),
            ("username", "alice"),
            ("password", "secret"),
        ],
    )
    .await;
    assert_eq!(s, StatusCode::SEE_OTHER, "{html}");
    let (_, tok) = exchange(&app, &c, &code_of(&loc.unwrap())).await;
    let token = tok["access_token"].as_str().unwrap().to_string();
    synced(&app, &token).await;
    let (_, cals) = app
        .call(Method::GET, "/v1/calendars", Some(&token), None)
        .await;
    let host = crate::helpers::Acct {
        sub: tok["sub"].as_str().unwrap().to_string(),
        token: token.clone(),
        refresh: String::new(),
        calendar_id: cals["calendars"][0]["calendar_id"]
            .as_str()
            .unwrap()
            .to_string(),
    };
    crate::helpers::daily(&app, &host, "08:00", "18:00").await;
    let (s, b) = app
        .call(
            Method::POST,
            "/v1/scheduling_templates",
            Some(&c.client_secret),
            Some(json!({
                "name": "Intro", "host": {"sub": host.sub}, "collaborator_groups": [],
                "event": {"summary": "Intro call"}, "duration": {"minutes": 30},
                "availability_mode": {"days": 7}, "tzid": "Etc/UTC"
            })),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    let sub = b["scheduling_template"]["sub"]
        .as_str()
        .unwrap()
        .to_string();
    let (s, b) = app
        .call(Method::POST, "/v1/scheduling_requests", Some(&c.client_secret), Some(json!({"template": {"sub": sub}, "recipients": [{"email": "marty@evenitron.com", "slot_selector": true}]})))
        .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    let url = b["scheduling_request"]["primary_select_url"]
        .as_str()
        .unwrap()
        .to_string();
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
        .unwrap_or_else(|| panic!("{html}"));
    // The host's calendar fills that slot on the server; the next sync is
    // an hour away, but the booking looks first.
    let t: jiff::Timestamp = slot.parse().unwrap();
    let fmt = |t: jiff::Timestamp| t.strftime("%Y%m%dT%H%M%SZ").to_string();
    seeder
        .put(
            &format!("{cal_url}dentist.ics"),
            &cal(&format!(
                "BEGIN:VEVENT\r\nUID:dentist\r\nDTSTAMP:20260101T000000Z\r\nSUMMARY:Dentist\r\nDTSTART:{}\r\nDTEND:{}\r\nEND:VEVENT\r\n",
                fmt(t),
                fmt(t + jiff::SignedDuration::from_mins(60))
            )),
        )
        .await;
    let r = app
        .http
        .post(&url)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("slot={}&tz=Etc%2FUTC", slot.replace(':', "%3A")))
        .send()
        .await
        .unwrap();
    let status = r.status();
    let html = r.text().await.unwrap();
    assert_eq!(
        status,
        StatusCode::CONFLICT,
        "booked over a remote event: {html}"
    );
    assert!(html.contains("that time was just taken"), "{html}");
    // The page offers the other times, and not the one the server holds.
    let offered: Vec<String> = html
        .split("name=\"slot\" value=\"")
        .skip(1)
        .map(|s| s[..20].to_string())
        .collect();
    assert!(!offered.is_empty(), "{html}");
    assert!(!offered.contains(&slot), "{offered:?}");
    let (_, evs) = app
        .call(Method::GET, "/v1/events?tzid=Etc/UTC", Some(&token), None)
        .await;
    let events = evs["events"].as_array().unwrap();
    assert!(
        events.iter().all(|e| e["summary"] != json!("Intro call")),
        "{evs}"
    );
    // What the REPORT found is in Convene now, an hour before the next sync.
    assert!(
        events.iter().any(|e| e["summary"] == json!("Dentist")),
        "{evs}"
    );
    // A time the server leaves free still books.
    let free = offered
        .iter()
        .find(|s| s.parse::<jiff::Timestamp>().unwrap() >= t + jiff::SignedDuration::from_mins(60))
        .unwrap()
        .clone();
    let r = app
        .http
        .post(&url)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("slot={}&tz=Etc%2FUTC", free.replace(':', "%3A")))
        .send()
        .await
        .unwrap();
    let status = r.status();
    let html = r.text().await.unwrap();
    assert_eq!(status, StatusCode::OK, "{html}");
    let (_, evs) = app
        .call(Method::GET, "/v1/events?tzid=Etc/UTC", Some(&token), None)
        .await;
    assert!(
        evs["events"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["summary"] == json!("Intro call") && e["start"] == json!(free)),
        "{evs}"
    );
}

// The same for a Real-Time Scheduling link: an event put on the server
// just before the pick, with the next sync an hour away, refuses the slot.
both!(
    a_real_time_scheduling_booking_asks_the_remote_calendar_too,
    |cfg: &mut convene_server::Config| cfg.sync_interval_secs = 3600
);
async fn a_real_time_scheduling_booking_asks_the_remote_calendar_too(app: TestApp) {
    let dav = radicale().await;
    let seeder = Seeder::new(Some(("alice", "secret")));
    let cal_url = format!("{}/alice/work/", dav.base);
    seeder.mkcalendar(&cal_url, "Work").await;
    let c = registered_client(&app).await;
    let (s, loc, html) = submit(
        &app,
        &c,
        "",
        &[
            ("provider", "caldav"),
            ("server_url", &cal_url),
            ("username", "alice"),
            ("password", "secret"),
        ],
    )
    .await;
    assert_eq!(s, StatusCode::SEE_OTHER, "{html}");
    let (_, tok) = exchange(&app, &c, &code_of(&loc.unwrap())).await;
    let token = tok["access_token"].as_str().unwrap().to_string();
    let sub = tok["sub"].as_str().unwrap().to_string();
    synced(&app, &token).await;
    let (_, cals) = app
        .call(Method::GET, "/v1/calendars", Some(&token), None)
        .await;
    let calendar_id = cals["calendars"][0]["calendar_id"].as_str().unwrap();
    let (s, b) = app
        .call(
            Method::POST,
            "/v1/real_time_scheduling",
            Some(&c.client_secret),
            Some(json!({
                "oauth": {"redirect_uri": "http://example.com/oauth", "scope": "create_event"},
                "event": {"event_id": "interview-1", "summary": "Interview"},
                "availability": {
                    "participants": [{"members": [{"sub": sub}], "required": "all"}],
                    "required_duration": {"minutes": 60},
                    "buffer": {"before": {"minutes": 15}},
                    "query_periods": [{"start": crate::helpers::future(2, 9), "end": crate::helpers::future(2, 13)}]
                },
                "target_calendars": [{"sub": sub, "calendar_id": calendar_id}],
                "tzid": "Etc/UTC"
            })),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    let url = b["real_time_scheduling"]["url"]
        .as_str()
        .unwrap()
        .to_string();
    // 09:00 is offered; the server gets a meeting ending at 09:10, inside
    // the 15-minute buffer before it.
    let first = crate::helpers::future(2, 9);
    let html = app
        .http
        .get(&url)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(html.contains(&format!("value=\"{first}\"")), "{html}");
    let t: jiff::Timestamp = first.parse().unwrap();
    let fmt = |t: jiff::Timestamp| t.strftime("%Y%m%dT%H%M%SZ").to_string();
    seeder
        .put(
            &format!("{cal_url}standup.ics"),
            &cal(&format!(
                "BEGIN:VEVENT\r\nUID:standup\r\nDTSTAMP:20260101T000000Z\r\nSUMMARY:Standup\r\nDTSTART:{}\r\nDTEND:{}\r\nEND:VEVENT\r\n",
                fmt(t - jiff::SignedDuration::from_mins(20)),
                fmt(t + jiff::SignedDuration::from_mins(10))
            )),
        )
        .await;
    let post = |slot: String| {
        let url = url.clone();
        async move {
            browser()
                .post(&url)
                .header("content-type", "application/x-www-form-urlencoded")
                .body(format!("slot={}&tz=Etc%2FUTC", slot.replace(':', "%3A")))
                .send()
                .await
                .unwrap()
        }
    };
    let r = post(first.clone()).await;
    assert_eq!(r.status(), StatusCode::CONFLICT);
    assert!(r.text().await.unwrap().contains("that time was just taken"));
    // 10:30 is clear of it, buffer included, and books.
    let later = first.replace("T09:00", "T10:30");
    let r = post(later.clone()).await;
    assert!(
        r.status().is_success() || r.status().is_redirection(),
        "{}",
        r.status()
    );
    let (_, evs) = app
        .call(Method::GET, "/v1/events?tzid=Etc/UTC", Some(&token), None)
        .await;
    let evs = evs["events"].as_array().unwrap().clone();
    assert!(
        evs.iter().any(|e| e["summary"] == json!("Standup")),
        "{evs:?}"
    );
    assert!(
        evs.iter()
            .any(|e| e["summary"] == json!("Interview") && e["start"] == json!(later)),
        "{evs:?}"
    );
}

/// Connects Radicale's `alice` calendar at `cal_url` through the authorize
/// page and waits for its first sync: the account, on its CalDAV calendar.
async fn connected_acct(app: &TestApp, c: &Client, cal_url: &str) -> crate::helpers::Acct {
    let (s, loc, html) = submit(
        app,
        c,
        "",
        &[
            ("provider", "caldav"),
            ("server_url", cal_url),
            ("username", "alice"),
            ("password", "secret"),
        ],
    )
    .await;
    assert_eq!(s, StatusCode::SEE_OTHER, "{html}");
    let (_, tok) = exchange(app, c, &code_of(&loc.unwrap())).await;
    let token = tok["access_token"].as_str().unwrap().to_string();
    synced(app, &token).await;
    let (_, cals) = app
        .call(Method::GET, "/v1/calendars", Some(&token), None)
        .await;
    crate::helpers::Acct {
        sub: tok["sub"].as_str().unwrap().to_string(),
        token,
        refresh: String::new(),
        calendar_id: cals["calendars"][0]["calendar_id"]
            .as_str()
            .unwrap()
            .to_string(),
    }
}

// And for a conversation: the participant who selects a slot that the
// connected participant's server filled moments ago is told it is
// unavailable; another slot completes the conversation.
both!(
    a_conversation_selection_asks_the_remote_calendar_too,
    |cfg: &mut convene_server::Config| cfg.sync_interval_secs = 3600
);
async fn a_conversation_selection_asks_the_remote_calendar_too(app: TestApp) {
    use crate::availability::at;
    let dav = radicale().await;
    let seeder = Seeder::new(Some(("alice", "secret")));
    let cal_url = format!("{}/alice/work/", dav.base);
    seeder.mkcalendar(&cal_url, "Work").await;
    let c = registered_client(&app).await;
    let alice = connected_acct(&app, &c, &cal_url).await;
    let bob = app.account(&c, "bob").await;
    crate::helpers::daily(&app, &alice, "09:00", "17:00").await;
    crate::helpers::daily(&app, &bob, "12:00", "20:00").await;
    let d = monday();
    let (s, b) = app
        .call(
            Method::POST,
            "/v1/scheduling_conversations",
            Some(&alice.token),
            Some(json!({
                "participants": [
                    {"participant_id": "@alice", "sub": alice.sub, "common_name": "Alice", "managed_availability": true, "slots": {"selection_method": "auto"}},
                    {"participant_id": "@bob", "sub": bob.sub, "common_name": "Bob", "managed_availability": true, "slots": {"selection_method": "manual"}}
                ],
                "tzid": "Etc/UTC",
                "subject": "Review",
                "required_duration": {"minutes": 60},
                "available_periods": [{"start": at(d, 0, 0), "end": at(d.tomorrow().unwrap(), 0, 0)}]
            })),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    let url =
        b["scheduling_conversation"]["participants"][1]["possible_actions"]["slots_select"]["url"]
            .as_str()
            .unwrap()
            .to_string();
    let (_, list) = app.call(Method::GET, &url, None, None).await;
    let slots = list["slots"].as_array().unwrap().clone();
    let slot_at = |start: &str| {
        slots
            .iter()
            .find(|s| s["start"] == json!(start))
            .unwrap_or_else(|| panic!("{start} in {slots:?}"))["slot_id"]
            .as_str()
            .unwrap()
            .to_string()
    };
    let noon = slot_at(&at(d, 12, 0));
    let two = slot_at(&at(d, 14, 0));
    seeder
        .put(
            &format!("{cal_url}lunch.ics"),
            &cal(&format!(
                "BEGIN:VEVENT\r\nUID:lunch\r\nDTSTAMP:20260101T000000Z\r\nSUMMARY:Lunch\r\nDTSTART:{}T120000Z\r\nDTEND:{}T130000Z\r\nEND:VEVENT\r\n",
                ymd(d),
                ymd(d)
            )),
        )
        .await;
    let select = |id: String| {
        let url = url.clone();
        let app = &app;
        async move {
            app.call(
                Method::POST,
                &url,
                None,
                Some(json!({"selected_slots": [{"slot_id": id}]})),
            )
            .await
        }
    };
    let (s, b) = select(noon).await;
    assert_ne!(s, StatusCode::OK, "{b}");
    assert!(b.to_string().contains("errors.slot_unavailable"), "{b}");
    let (s, b) = select(two).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    assert_eq!(
        b["scheduling_conversation"]["status"],
        json!("complete"),
        "{b}"
    );
}

/// BENCHMARKS.md: the first and an incremental sync of a 5,000-event
/// CalDAV calendar (Radicale on loopback, SQLite). Not part of the suite:
/// `cargo test --test api -- --ignored sync_of_5000`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a benchmark: run it by name"]
async fn sync_of_5000_events_benchmark() {
    let app = TestApp::spawn_with(crate::helpers::Backend::Sqlite, |cfg| {
        cfg.sync_interval_secs = 1
    })
    .await;
    let dav = radicale().await;
    let seeder = Seeder::new(Some(("alice", "secret")));
    let cal_url = format!("{}/alice/work/", dav.base);
    seeder.mkcalendar(&cal_url, "Work").await;
    // Radicale keeps one file per object: seed them on disk, not over HTTP.
    let folder = dav._dir.join("collections/collection-root/alice/work");
    let m = monday();
    for i in 0..5000i64 {
        let d = day(m, i % 300);
        let h = 8 + (i / 300) % 10;
        std::fs::write(
            folder.join(format!("ev{i}.ics")),
            cal(&format!("BEGIN:VEVENT\r\nUID:ev{i}\r\nDTSTAMP:20260101T000000Z\r\nSUMMARY:Event {i}\r\nDTSTART:{d}T{h:02}0000Z\r\nDTEND:{d}T{h:02}3000Z\r\nEND:VEVENT\r\n", d = ymd(d))),
        )
        .unwrap();
    }
    // Radicale parses every new file once, on the first request after they
    // appear; a server in use has done that long ago.
    let warm = std::time::Instant::now();
    assert!(seeder.convene_objects(&cal_url).await.is_empty());
    println!(
        "radicale warm-up (its own first read of 5,000 files): {:?}",
        warm.elapsed()
    );
    let c = registered_client(&app).await;
    let t0 = std::time::Instant::now();
    let (s, loc, html) = submit(
        &app,
        &c,
        "",
        &[
            ("provider", "caldav"),
            ("server_url", &cal_url),
            ("username", "alice"),
            ("password", "secret"),
        ],
    )
    .await;
    assert_eq!(s, StatusCode::SEE_OTHER, "{html}");
    let (_, tok) = exchange(&app, &c, &code_of(&loc.unwrap())).await;
    let token = tok["access_token"].as_str().unwrap().to_string();
    synced(&app, &token).await;
    let first = t0.elapsed();
    let n = app
        .db
        .remote_resources(
            &app.db
                .provider_calendars(tok["sub"].as_str().unwrap())
                .await
                .unwrap()[0]
                .calendar_id,
        )
        .await
        .unwrap()
        .len();
    assert_eq!(n, 5000);
    let t1 = std::time::Instant::now();
    seeder
        .put(&format!("{cal_url}late.ics"), &cal(&format!("BEGIN:VEVENT\r\nUID:late\r\nDTSTAMP:20260101T000000Z\r\nSUMMARY:Late\r\nDTSTART:{d}T060000Z\r\nDTEND:{d}T070000Z\r\nEND:VEVENT\r\n", d = ymd(m))))
        .await;
    let want = format!("{}T06:00:00Z", m.strftime("%Y-%m-%d"));
    loop {
        if busy(&app, &token, m).await.iter().any(|(s, _)| s == &want) {
            break;
        }
        assert!(
            t1.elapsed() < Duration::from_secs(60),
            "the change never arrived"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let incremental = t1.elapsed();
    println!(
        "sync of 5,000 events: first {first:?} (authorize to synced), one change {incremental:?} (PUT to visible, sync interval 1 s)"
    );
}

both!(
    replicas_never_sync_one_profile_at_once,
    |cfg: &mut convene_server::Config| cfg.sync_interval_secs = 3600
);
async fn replicas_never_sync_one_profile_at_once(app: TestApp) {
    let (text, full) = (
        std::sync::Arc::new(std::sync::Mutex::new(cal(""))),
        std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0)),
    );
    let url = feed_server(text, full).await;
    let c = registered_client(&app).await;
    let (s, loc, html) = submit(&app, &c, "", &[("provider", "ics"), ("ics_url", &url)]).await;
    assert_eq!(s, StatusCode::SEE_OTHER, "{html}");
    let (_, tok) = exchange(&app, &c, &code_of(&loc.unwrap())).await;
    synced(&app, tok["access_token"].as_str().unwrap()).await;
    let pid = tok["linking_profile"]["profile_id"]
        .as_str()
        .unwrap()
        .to_string();
    // Eight claimers on four connections to the database race for the
    // profile, due again: at most one of them gets it.
    let dbs: Vec<convene_server::Db> = {
        let mut v = Vec::new();
        for _ in 0..4 {
            v.push(convene_server::Db::connect(&app.db_url).await.unwrap());
        }
        v
    };
    for round in 0..5 {
        app.db.sync_soon(&pid).await.unwrap();
        let now = app.clock.now_ms();
        let claims = futures_join(dbs.iter().cycle().take(8).map(|db| {
            let db = db.clone();
            async move { db.claim_due_connections(now, 60_000, 10).await.unwrap() }
        }))
        .await;
        let got = claims
            .iter()
            .flatten()
            .filter(|c| c.profile_id == pid)
            .count();
        assert!(got <= 1, "round {round}: {got} replicas took the profile");
        // Release it for the next round.
        app.db.finish_sync(&pid, 0, now, None).await.unwrap();
    }
}

/// Runs futures concurrently (each on its own task) and collects them.
async fn futures_join<F, T>(futs: impl Iterator<Item = F>) -> Vec<T>
where
    F: std::future::Future<Output = T> + Send + 'static,
    T: Send + 'static,
{
    let handles: Vec<_> = futs.map(tokio::spawn).collect();
    let mut out = Vec::new();
    for h in handles {
        out.push(h.await.unwrap());
    }
    out
}
