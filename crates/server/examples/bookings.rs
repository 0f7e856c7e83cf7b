//! Bookings benchmark client (`bench/bookings` starts the server and runs
//! it): each booking is the recipient's whole path — create a scheduling
//! request from a host's template, open its page, pick the first time shown.
//!
//! ```text
//! bookings URL CLIENT_ID CLIENT_SECRET [HOSTS] [CLIENTS] [SECONDS]
//! ```
//!
//! Each client task books for its own hosts (host `i` belongs to client
//! `i % CLIENTS`), so the figure is throughput, not contention: the
//! one-winner property under contention is what `tests/api/races.rs` checks.
//! Hosts are free around the clock; a host whose window is full is skipped.

use std::time::{Duration, Instant};

use reqwest::{Client, StatusCode};
use serde_json::{Value, json};

type Res<T> = Result<T, String>;

async fn call(http: &Client, url: &str, token: &str, body: Value) -> Res<Value> {
    let resp = http
        .post(url)
        .bearer_auth(token)
        .json(&body)
        .send()
        .await
        .map_err(|e| e.to_string())?;
    let status = resp.status();
    let v: Value = resp.json().await.map_err(|e| e.to_string())?;
    if status != StatusCode::OK && status != StatusCode::ACCEPTED {
        return Err(format!("{url}: {status} {v}"));
    }
    Ok(v)
}

/// One host: an application calendar with a 24/7 rule and a template.
async fn host(http: &Client, base: &str, id: &str, secret: &str, n: usize) -> Res<String> {
    let acct = call(
        http,
        &format!("{base}/v1/application_calendars"),
        secret,
        json!({"client_id": id, "client_secret": secret,
               "application_calendar_id": format!("bench-host-{n}")}),
    )
    .await?;
    let token = acct["access_token"].as_str().ok_or("no token")?;
    let sub = acct["sub"].as_str().ok_or("no sub")?;
    let days = [
        "monday",
        "tuesday",
        "wednesday",
        "thursday",
        "friday",
        "saturday",
        "sunday",
    ];
    let periods: Vec<Value> = days
        .iter()
        .map(|d| json!({"day": d, "start_time": "00:00", "end_time": "24:00"}))
        .collect();
    call(
        http,
        &format!("{base}/v1/availability_rules"),
        token,
        json!({"availability_rule_id": "always", "tzid": "Etc/UTC", "weekly_periods": periods}),
    )
    .await?;
    let t = call(
        http,
        &format!("{base}/v1/scheduling_templates"),
        secret,
        json!({"name": format!("Bench {n}"), "host": {"sub": sub},
               "event": {"summary": "Benchmark meeting"},
               "duration": {"minutes": 30}, "availability_mode": {"days": 14},
               "tzid": "Etc/UTC"}),
    )
    .await?;
    Ok(t["scheduling_template"]["sub"]
        .as_str()
        .ok_or("no template sub")?
        .to_string())
}

enum Outcome {
    Booked,
    /// The host's window is full.
    Full,
}

async fn book(http: &Client, base: &str, secret: &str, template: &str) -> Res<Outcome> {
    let r = call(
        http,
        &format!("{base}/v1/scheduling_requests"),
        secret,
        json!({"template": {"sub": template},
               "recipients": [{"email": "marty@example.com", "display_name": "Marty",
                               "slot_selector": true}]}),
    )
    .await?;
    let page = r["scheduling_request"]["primary_select_url"]
        .as_str()
        .ok_or("no primary_select_url")?;
    let html = http
        .get(page)
        .send()
        .await
        .map_err(|e| e.to_string())?
        .text()
        .await
        .map_err(|e| e.to_string())?;
    let marker = "name=\"slot\" value=\"";
    let Some(at) = html.find(marker) else {
        return Ok(Outcome::Full);
    };
    let rest = &html[at + marker.len()..];
    let slot = &rest[..rest.find('"').ok_or("unterminated slot value")?];
    let resp = http
        .post(page)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(serde_urlencoded::to_string([("slot", slot)]).map_err(|e| e.to_string())?)
        .send()
        .await
        .map_err(|e| e.to_string())?;
    match resp.status() {
        StatusCode::OK => Ok(Outcome::Booked),
        s => Err(format!("booking answered {s}")),
    }
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.len() < 4 {
        eprintln!("usage: bookings URL CLIENT_ID CLIENT_SECRET [HOSTS] [CLIENTS] [SECONDS]");
        std::process::exit(2);
    }
    let (base, id, secret) = (args[1].clone(), args[2].clone(), args[3].clone());
    let arg = |i: usize, d: usize| args.get(i).and_then(|s| s.parse().ok()).unwrap_or(d);
    let (hosts, clients, secs) = (arg(4, 128), arg(5, 8), arg(6, 60));
    convene_server::notifications::install_tls();
    let http = Client::builder()
        .pool_max_idle_per_host(64)
        .build()
        .unwrap();

    let mut templates = Vec::with_capacity(hosts);
    for n in 0..hosts {
        templates.push(
            host(&http, &base, &id, &secret, n)
                .await
                .unwrap_or_else(|e| {
                    eprintln!("setup: {e}");
                    std::process::exit(1)
                }),
        );
    }
    eprintln!("{hosts} hosts ready; {clients} clients for {secs} s");

    let start = Instant::now();
    let deadline = start + Duration::from_secs(secs as u64);
    let mut tasks = Vec::new();
    for c in 0..clients {
        let mine: Vec<String> = templates.iter().skip(c).step_by(clients).cloned().collect();
        let (http, base, secret) = (http.clone(), base.clone(), secret.clone());
        tasks.push(tokio::spawn(async move {
            let (mut lat, mut errors) = (Vec::new(), Vec::new());
            let mut live = mine;
            let mut next = 0;
            while Instant::now() < deadline && !live.is_empty() {
                next %= live.len();
                let t0 = Instant::now();
                match book(&http, &base, &secret, &live[next]).await {
                    Ok(Outcome::Booked) => {
                        lat.push(t0.elapsed());
                        next += 1;
                    }
                    Ok(Outcome::Full) => {
                        live.remove(next);
                    }
                    Err(e) => {
                        errors.push(e);
                        next += 1;
                    }
                }
            }
            (lat, errors)
        }));
    }
    let (mut lat, mut errors) = (Vec::new(), Vec::new());
    for t in tasks {
        let (l, e) = t.await.unwrap();
        lat.extend(l);
        errors.extend(e);
    }
    let elapsed = start.elapsed().as_secs_f64();
    lat.sort();
    let pct = |p: f64| {
        lat.get(((lat.len() as f64 * p) as usize).min(lat.len().saturating_sub(1)))
            .map_or(0.0, |d| d.as_secs_f64() * 1000.0)
    };
    println!(
        "bookings: {} in {elapsed:.1} s = {:.0}/s, p50 {:.1} ms, p99 {:.1} ms, errors {}",
        lat.len(),
        lat.len() as f64 / elapsed,
        pct(0.50),
        pct(0.99),
        errors.len()
    );
    // A host with no free time left is dropped; with all of them gone the
    // run ends early, and a rate over less than the time asked for is not
    // a sustained one.
    if elapsed + 0.5 < secs as f64 {
        println!(
            "  not sustained: every host was full after {elapsed:.1} of {secs} s; give more HOSTS"
        );
    }
    for e in errors.iter().take(5) {
        println!("  error: {e}");
    }
    if !errors.is_empty() {
        std::process::exit(1);
    }
}
