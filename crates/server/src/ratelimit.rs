//! An optional rate limit (Cronofy limits each application; Convene limits
//! each bearer credential, and each client address at ten times that). Off unless `--rate-limit-per-minute` is set: self-hosters size
//! their own deployments. Per process: with N replicas the effective limit
//! is N times the setting.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::AppState;
use crate::ids::digest;

#[derive(Default, Debug)]
pub struct Windows(Mutex<HashMap<String, (Instant, u32)>>);

pub type Shared = Arc<Windows>;

const WINDOW: Duration = Duration::from_secs(60);

impl Windows {
    /// Counts one request; `Some(seconds to wait)` when over the limit.
    fn hit(&self, key: String, limit: u32) -> Option<u64> {
        let now = Instant::now();
        let mut map = self.0.lock().unwrap_or_else(|e| e.into_inner());
        if map.len() > 100_000 {
            map.retain(|_, (start, _)| now.duration_since(*start) < WINDOW);
        }
        let entry = map.entry(key).or_insert((now, 0));
        if now.duration_since(entry.0) >= WINDOW {
            *entry = (now, 0);
        }
        entry.1 += 1;
        (entry.1 > limit).then(|| (WINDOW - now.duration_since(entry.0)).as_secs().max(1))
    }
}

pub async fn limit(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let per_minute = state.cfg.rate_limit_per_minute;
    if per_minute == 0 || req.uri().path() == "/healthz" {
        return next.run(req).await;
    }
    // Every request counts against its client address (at ten times the
    // limit, for clients behind one proxy) and, with a bearer, against that
    // credential: sending a new made-up bearer each time does not escape.
    let ip = match req.extensions().get::<ConnectInfo<std::net::SocketAddr>>() {
        Some(ConnectInfo(addr)) => format!("ip:{}", addr.ip()),
        None => "ip:unknown".into(),
    };
    let over_ip = state.rate.hit(ip, per_minute.saturating_mul(10));
    let over_cred = req
        .headers()
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|auth| state.rate.hit(format!("cred:{}", digest(auth)), per_minute));
    // Name the limit that was hit: the address's is ten times the
    // credential's.
    let hit = over_ip
        .map(|w| (w, per_minute.saturating_mul(10), "from one address"))
        .or(over_cred.map(|w| (w, per_minute, "per credential")));
    match hit {
        None => next.run(req).await,
        Some((wait, limit, scope)) => {
            let mut resp = (
                StatusCode::TOO_MANY_REQUESTS,
                axum::Json(json!({"error": "too_many_requests", "message": format!("at most {limit} requests a minute {scope}; retry in {wait} s")})),
            )
                .into_response();
            resp.headers_mut()
                .insert("retry-after", HeaderValue::from(wait));
            resp
        }
    }
}
