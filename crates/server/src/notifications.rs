//! Push notifications that are never lost.
//!
//! 1. A state change writes a row to the `notifications` outbox in its own
//!    transaction (bookings, conversations, event changes).
//! 2. The worker turns each notification into `deliveries` (one per
//!    receiver: the application's webhook, or each matching channel), once.
//! 3. The worker claims due deliveries with a lease (`SKIP LOCKED` on
//!    PostgreSQL), POSTs them signed with `Cronofy-HMAC-SHA256`, and records
//!    the outcome: delivered, or retried with exponential backoff and jitter
//!    until the retry window (25 h by default) has passed.
//!
//! A restart loses nothing: rows are durable and leases expire. Receivers
//! de-duplicate with the `Convene-Delivery-Id` header.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use convene_store::notify::{Attempt, Channel, Delivery, Notification};
use rand::RngExt as _;
use serde_json::{Value, json};
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;

use crate::ids::new_id;
use crate::links::hmac_b64;
use crate::{AppState, now_ms};

pub const DELIVERY_ID_HEADER: &str = "Convene-Delivery-Id";
pub const SIGNATURE_HEADER: &str = "Cronofy-HMAC-SHA256";

/// Which callback targets are refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CallbackPolicy {
    /// Refuse link-local and cloud metadata addresses (loopback and private
    /// networks stay allowed, since self-hosters point at them).
    Default,
    /// Also refuse loopback, private and unique-local addresses.
    PublicOnly,
    /// Refuse nothing.
    Any,
}

impl std::str::FromStr for CallbackPolicy {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "default" => Ok(CallbackPolicy::Default),
            "public-only" => Ok(CallbackPolicy::PublicOnly),
            "any" => Ok(CallbackPolicy::Any),
            _ => Err(format!("{s:?}: use default, public-only or any")),
        }
    }
}

fn refused_ip(ip: IpAddr, policy: CallbackPolicy) -> bool {
    let link_local = match ip {
        IpAddr::V4(v4) => v4.is_link_local() || v4.octets()[0] == 0,
        IpAddr::V6(v6) => {
            (v6.segments()[0] & 0xffc0) == 0xfe80
                || v6.to_ipv4_mapped().is_some_and(|m| m.is_link_local())
        }
    };
    let private = match ip {
        IpAddr::V4(v4) => {
            v4.is_loopback()
                || v4.is_private()
                || (v4.octets()[0] == 100 && (v4.octets()[1] & 0xc0) == 64)
                || v4.is_unspecified()
        }
        IpAddr::V6(v6) => {
            v6.is_loopback() || v6.is_unspecified() || (v6.segments()[0] & 0xfe00) == 0xfc00
        }
    };
    match policy {
        CallbackPolicy::Any => false,
        CallbackPolicy::Default => link_local,
        CallbackPolicy::PublicOnly => link_local || private,
    }
}

const METADATA_HOSTS: &[&str] = &[
    "metadata.google.internal",
    "metadata",
    "instance-data",
    "metadata.azure.internal",
];

/// Checks a callback URL's shape and (literal) host; `Err` says why not.
pub fn check_url(url: &str, policy: CallbackPolicy) -> Result<reqwest::Url, String> {
    if url.len() > 1024 {
        return Err("callback_url must be at most 1024 characters".into());
    }
    let u = reqwest::Url::parse(url)
        .map_err(|_| "callback_url must be an absolute http(s) URL".to_string())?;
    if !matches!(u.scheme(), "http" | "https") {
        return Err("callback_url must use http or https".into());
    }
    let host = u
        .host_str()
        .ok_or("callback_url needs a host")?
        .trim_matches(['[', ']'])
        .to_ascii_lowercase();
    if policy != CallbackPolicy::Any && METADATA_HOSTS.contains(&host.as_str()) {
        return Err("callback_url points at a cloud metadata service".into());
    }
    if let Ok(ip) = host.parse::<IpAddr>()
        && refused_ip(ip, policy)
    {
        return Err("callback_url points at an address Convene does not call".into());
    }
    Ok(u)
}

/// The same check on every address the host resolves to, at send time, so
/// a DNS name cannot smuggle in a refused address. Answers the addresses
/// checked, which the attempt then connects to (so a second lookup cannot
/// answer differently); none for an IP literal, which `check_url` checked.
async fn check_resolved(
    u: &reqwest::Url,
    policy: CallbackPolicy,
) -> Result<Vec<std::net::SocketAddr>, String> {
    let host = u
        .host_str()
        .unwrap_or("")
        .trim_matches(['[', ']'])
        .to_string();
    if host.parse::<IpAddr>().is_ok() {
        return Ok(Vec::new());
    }
    let port = u.port_or_known_default().unwrap_or(80);
    let addrs: Vec<std::net::SocketAddr> = tokio::net::lookup_host((host.as_str(), port))
        .await
        .map_err(|e| format!("cannot resolve {host}: {e}"))?
        .collect();
    for a in &addrs {
        if policy != CallbackPolicy::Any && refused_ip(a.ip(), policy) {
            return Err(format!(
                "{host} resolves to {}, which Convene does not call",
                a.ip()
            ));
        }
    }
    Ok(addrs)
}

/// For Convene's other outbound calls (connected calendars): `u`'s host
/// checked on every address it resolves to, and a client that connects
/// only there. `None` for an IP literal: `check_url` checked it, and the
/// shared client serves it.
pub(crate) async fn resolved_client(
    state: &AppState,
    u: &reqwest::Url,
) -> Result<Option<reqwest::Client>, String> {
    let addrs = check_resolved(u, state.cfg.callback_policy).await?;
    Ok((!addrs.is_empty()).then(|| pinned_client(state, u.host_str().unwrap_or(""), &addrs)))
}

/// Queues the same body again as a new delivery (new id, `replay_of` the
/// original), for a receiver that lost or mishandled it.
pub async fn replay(state: &AppState, d: Delivery) -> Result<Delivery, convene_store::StoreError> {
    let now = state.now_ms();
    let copy = Delivery {
        id: new_id("dlv"),
        state: "pending".into(),
        attempts: 0,
        next_attempt_ms: now,
        locked_until_ms: 0,
        last_status: None,
        last_error: None,
        replay_of: Some(d.id.clone()),
        created_ms: now,
        delivered_ms: None,
        ..d
    };
    state.db.insert_delivery(&copy).await?;
    Ok(copy)
}

/// What a channel's `filters` hold (as stored by `POST /v1/channels`).
#[derive(Default, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct ChannelFilters {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub calendar_ids: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub only_managed: Option<bool>,
}

#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct Enabled {
    pub enabled: bool,
}

/// A push notification channel, as the API answers it and as each
/// notification body repeats it.
#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct ChannelInfo {
    pub channel_id: String,
    pub callback_url: String,
    pub filters: ChannelFilters,
    /// Present (and `true`) when the channel also receives scheduling
    /// conversation notifications.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scheduling_conversations: Option<Enabled>,
}

pub fn channel_info(c: &Channel) -> ChannelInfo {
    ChannelInfo {
        channel_id: c.id.clone(),
        callback_url: c.callback_url.clone(),
        filters: serde_json::from_str(&c.filters_json).unwrap_or_default(),
        scheduling_conversations: c.conversations_enabled.then_some(Enabled { enabled: true }),
    }
}

pub fn channel_json(c: &Channel) -> Value {
    serde_json::to_value(channel_info(c)).unwrap_or_else(|_| json!({}))
}

fn delivery(n: &Notification, channel: Option<&Channel>, url: &str, body: String) -> Delivery {
    let now = now_ms();
    Delivery {
        id: new_id("dlv"),
        application_id: n.application_id.clone(),
        notification_id: Some(n.id.clone()),
        channel_id: channel.map(|c| c.id.clone()),
        kind: n.kind.clone(),
        url: url.to_string(),
        body,
        state: "pending".into(),
        attempts: 0,
        next_attempt_ms: now,
        locked_until_ms: 0,
        last_status: None,
        last_error: None,
        replay_of: None,
        created_ms: now,
        delivered_ms: None,
    }
}

/// The deliveries one notification becomes.
async fn fan_out(
    state: &AppState,
    n: &Notification,
) -> Result<Vec<Delivery>, convene_store::StoreError> {
    let payload: Value = serde_json::from_str(&n.payload_json).unwrap_or_else(|_| json!({}));
    if n.kind.starts_with("scheduling_request_") {
        let app = state.db.application(&n.application_id).await?;
        return Ok(match app.and_then(|a| a.webhook_url) {
            Some(url) => vec![delivery(n, None, &url, n.payload_json.clone())],
            None => Vec::new(),
        });
    }
    if n.kind.starts_with("real_time_scheduling_") {
        return Ok(crate::domain::rts::callback_of(&n.payload_json)
            .map(|(url, body)| vec![delivery(n, None, &url, body)])
            .unwrap_or_default());
    }
    let Some(account) = &n.account_id else {
        return Ok(Vec::new());
    };
    let channels = state.db.channels(account).await?;
    let mut out = Vec::new();
    for c in &channels {
        let wanted = if n.kind.starts_with("scheduling_conversation_") {
            c.conversations_enabled
        } else if n.kind == "profile_disconnected" {
            true
        } else if n.kind == "change" {
            let filters: Value =
                serde_json::from_str(&c.filters_json).unwrap_or_else(|_| json!({}));
            match filters.get("calendar_ids").and_then(Value::as_array) {
                // "*" is a bulk change that may touch any calendar.
                Some(ids) => n.subject_id.as_ref().is_some_and(|cal| {
                    cal == "*" || ids.iter().any(|i| i.as_str() == Some(cal.as_str()))
                }),
                None => true,
            }
        } else {
            false
        };
        if wanted {
            let body = json!({ "notification": payload.get("notification").cloned().unwrap_or_else(|| json!({"type": n.kind})), "channel": channel_json(c) });
            let mut d = delivery(n, Some(c), &c.callback_url, body.to_string());
            // Signed with, and logged for, the application that opened the channel.
            d.application_id = c.application_id.clone();
            out.push(d);
        }
    }
    Ok(out)
}

/// `Cronofy-HMAC-SHA256`: one signature per active client secret.
async fn signature(
    state: &AppState,
    app_id: &str,
    body: &[u8],
) -> Result<String, convene_store::StoreError> {
    let versions = state.db.active_secret_versions(app_id).await?;
    Ok(versions
        .iter()
        .map(|v| hmac_b64(state.links.client_secret(app_id, *v).as_bytes(), body))
        .collect::<Vec<_>>()
        .join(","))
}

fn backoff_ms(state: &AppState, attempts: i64) -> i64 {
    let base = state.cfg.retry_base_ms.max(1);
    let exp = base
        .saturating_mul(1i64 << attempts.clamp(0, 20))
        .min(3_600_000);
    // Jitter in [exp/2, exp] so receivers coming back are not stampeded.
    let half = exp / 2;
    half + rand::rng().random_range(0..=half.max(1))
}

/// One attempt at a stored mail: a 5xx is permanent and fails at once,
/// anything else (unreachable, 4xx) is retried like a callback.
async fn attempt_mail(
    state: &AppState,
    mailer: Option<&crate::mailer::Mailer>,
    d: &Delivery,
) -> Attempt {
    let now = state.now_ms();
    let (status, error) = match mailer {
        None => (
            None,
            "no SMTP server is configured (--smtp-url)".to_string(),
        ),
        Some(m) => match crate::mailer::send(state, m, &d.id, &d.body).await {
            crate::mailer::Sent::Ok(code) => return Attempt::Delivered { status: code },
            crate::mailer::Sent::Failed {
                code,
                permanent: true,
                error,
            } => {
                return Attempt::GiveUp {
                    status: code,
                    error,
                };
            }
            crate::mailer::Sent::Failed { code, error, .. } => (code, error),
        },
    };
    if now - d.created_ms >= state.cfg.retry_window_ms {
        Attempt::GiveUp { status, error }
    } else {
        Attempt::Retry {
            status,
            error,
            next_attempt_ms: now + backoff_ms(state, d.attempts),
        }
    }
}

async fn attempt(state: &AppState, http: &reqwest::Client, d: &Delivery) -> Attempt {
    let now = state.now_ms();
    let policy = state.cfg.callback_policy;
    let (status, error) = match check_url(&d.url, policy) {
        Err(e) => (None, e),
        Ok(u) => match check_resolved(&u, policy).await {
            Err(e) => (None, e),
            Ok(addrs) => {
                let pinned;
                let http = if addrs.is_empty() {
                    http
                } else {
                    pinned = pinned_client(state, u.host_str().unwrap_or(""), &addrs);
                    &pinned
                };
                // Stored bodies hold no link tokens; the one sent does, and
                // its signature covers exactly what is sent.
                let body = if d.kind.starts_with("scheduling_request_") {
                    crate::domain::requests::with_links(state, &d.body)
                } else {
                    d.body.clone()
                };
                let sig = match signature(state, &d.application_id, body.as_bytes()).await {
                    Ok(s) => s,
                    Err(e) => {
                        return Attempt::Retry {
                            status: None,
                            error: e.to_string(),
                            next_attempt_ms: now + backoff_ms(state, d.attempts),
                        };
                    }
                };
                let sent = http
                    .post(u)
                    .header("content-type", "application/json; charset=utf-8")
                    .header(SIGNATURE_HEADER, sig)
                    .header(DELIVERY_ID_HEADER, &d.id)
                    .header("Convene-Notification-Type", &d.kind)
                    .body(body)
                    .send()
                    .await;
                match sent {
                    Ok(r) if r.status().is_success() => {
                        return Attempt::Delivered {
                            status: r.status().as_u16() as i64,
                        };
                    }
                    Ok(r) => (
                        Some(r.status().as_u16() as i64),
                        format!("receiver answered {}", r.status()),
                    ),
                    Err(e) => (
                        None,
                        if e.is_timeout() {
                            "timed out".to_string()
                        } else {
                            format!("could not deliver: {e}")
                        },
                    ),
                }
            }
        },
    };
    if now - d.created_ms >= state.cfg.retry_window_ms {
        Attempt::GiveUp { status, error }
    } else {
        Attempt::Retry {
            status,
            error,
            next_attempt_ms: now + backoff_ms(state, d.attempts),
        }
    }
}

/// One pass: fan out new notifications, then send what is due. Answers how
/// many attempts it started.
pub async fn tick(
    state: &AppState,
    http: &reqwest::Client,
    mailer: Option<&crate::mailer::Mailer>,
    permits: &Arc<Semaphore>,
) -> usize {
    match state.db.undispatched(100).await {
        Ok(ns) => {
            // One transaction for the whole batch: under load the outbox
            // must not cost a write turn per notification.
            let mut fanned = Vec::with_capacity(ns.len());
            for n in ns {
                match fan_out(state, &n).await {
                    Ok(ds) => fanned.push((n.id, ds)),
                    Err(e) => tracing::warn!(error = %e, "fan-out failed"),
                }
            }
            if let Err(e) = state.db.dispatch_notifications(&fanned).await {
                tracing::warn!(error = %e, "fan-out failed");
            }
        }
        Err(e) => tracing::warn!(error = %e, "reading the outbox failed"),
    }
    let free = permits.available_permits() as i64;
    if free == 0 {
        return 0;
    }
    let lease = state.cfg.attempt_timeout_ms as i64 * 3 + 10_000;
    let due = match state.db.claim_due(state.now_ms(), lease, free).await {
        Ok(d) => d,
        Err(e) => {
            tracing::warn!(error = %e, "claiming deliveries failed");
            return 0;
        }
    };
    let n = due.len();
    for d in due {
        let Ok(permit) = permits.clone().acquire_owned().await else {
            break;
        };
        let state = state.clone();
        let http = http.clone();
        let mailer = mailer.cloned();
        // Each receiver gets its own task: a slow one blocks nobody else.
        tokio::spawn(async move {
            let outcome = if d.kind == crate::domain::mail::KIND {
                attempt_mail(&state, mailer.as_ref(), &d).await
            } else {
                attempt(&state, &http, &d).await
            };
            match &outcome {
                Attempt::Delivered { .. } => {
                    tracing::info!(delivery = %d.id, kind = %d.kind, "delivered")
                }
                Attempt::Retry { error, .. } => {
                    tracing::info!(delivery = %d.id, %error, "will retry")
                }
                Attempt::GiveUp { error, .. } => {
                    tracing::warn!(delivery = %d.id, %error, "gave up")
                }
            }
            if let Err(e) = state
                .db
                .record_attempt(&d.id, &outcome, state.now_ms(), state.cfg.probe_ms)
                .await
            {
                tracing::warn!(error = %e, "recording an attempt failed; the lease will expire and it is retried");
            }
            drop(permit);
        });
    }
    n
}

/// Installs ring as the TLS provider (one provider for sqlx and reqwest);
/// idempotent, and needed before any `reqwest::Client` is built.
pub fn install_tls() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// A client that connects to `host` only at the addresses already checked.
fn pinned_client(state: &AppState, host: &str, addrs: &[std::net::SocketAddr]) -> reqwest::Client {
    client_builder(state)
        .resolve_to_addrs(host, addrs)
        .build()
        .expect("the HTTP client builds")
}

pub fn http_client(state: &AppState) -> reqwest::Client {
    client_builder(state)
        .build()
        .expect("the HTTP client builds")
}

fn client_builder(state: &AppState) -> reqwest::ClientBuilder {
    install_tls();
    reqwest::Client::builder()
        .timeout(Duration::from_millis(state.cfg.attempt_timeout_ms))
        .connect_timeout(Duration::from_millis(
            state.cfg.attempt_timeout_ms.min(5_000),
        ))
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("Convene/", env!("CARGO_PKG_VERSION")))
}

/// Moves on what nobody reads any more: requests and conversations whose
/// window has passed expire, and conversations with only `auto`
/// participants book a slot that has opened — now, with their
/// notifications, not on the next read. Idempotent and safe to run in
/// every process.
pub async fn sweep_expired(state: &AppState) {
    let now = state.now_ms();
    // A request closes once the rest of its window cannot hold the meeting;
    // `refresh` decides, so look a day ahead and let it.
    match state.db.requests_ending_by(now + 24 * 3_600_000, 100).await {
        Ok(rs) => {
            for r in rs {
                if let Err(e) = crate::domain::requests::refresh(state, r).await {
                    tracing::warn!(error = ?e, "expiring a request failed");
                }
            }
        }
        Err(e) => tracing::warn!(error = %e, "listing requests to expire failed"),
    }
    // Conversations nobody chooses in by hand book the first open slot;
    // nobody may be reading them when one opens.
    match state.db.auto_conversations_in_progress(100).await {
        Ok(ids) => {
            for id in ids {
                if let Err(e) = crate::domain::conversations::refresh(state, &id).await {
                    tracing::warn!(error = ?e, "completing a conversation failed");
                }
            }
        }
        Err(e) => tracing::warn!(error = %e, "listing open conversations failed"),
    }
    match state.db.conversations_ended_by(now, 100).await {
        Ok(ids) => {
            for id in ids {
                if let Err(e) = crate::domain::conversations::refresh(state, &id).await {
                    tracing::warn!(error = ?e, "expiring a conversation failed");
                }
            }
        }
        Err(e) => tracing::warn!(error = %e, "listing conversations to expire failed"),
    }
}

/// Runs the worker until `stop` is cancelled.
pub async fn run(state: AppState, stop: CancellationToken) {
    let http = http_client(&state);
    let mailer = match &state.cfg.smtp_url {
        Some(url) => {
            match crate::mailer::build(url, &state.cfg.mail_from, state.cfg.attempt_timeout_ms) {
                Ok(m) => Some(m),
                Err(e) => {
                    tracing::error!(error = %e, "mail is configured but cannot be sent");
                    None
                }
            }
        }
        None => None,
    };
    let permits = Arc::new(Semaphore::new(16));
    let mut last_sweep =
        std::time::Instant::now() - Duration::from_millis(state.cfg.expiry_sweep_ms);
    loop {
        if last_sweep.elapsed() >= Duration::from_millis(state.cfg.expiry_sweep_ms) {
            sweep_expired(&state).await;
            last_sweep = std::time::Instant::now();
        }
        let started = tick(&state, &http, mailer.as_ref(), &permits).await;
        if started == 0 {
            tokio::select! {
                _ = stop.cancelled() => break,
                _ = tokio::time::sleep(Duration::from_millis(state.cfg.notify_poll_ms)) => {}
            }
        } else if stop.is_cancelled() {
            break;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_link_local_and_metadata_by_default() {
        let p = CallbackPolicy::Default;
        assert!(check_url("http://169.254.169.254/latest/meta-data", p).is_err());
        assert!(check_url("http://metadata.google.internal/x", p).is_err());
        assert!(check_url("http://[fe80::1]/x", p).is_err());
        assert!(check_url("ftp://example.com/x", p).is_err());
        assert!(check_url("not a url", p).is_err());
        assert!(check_url("http://127.0.0.1:9000/cb", p).is_ok());
        assert!(check_url("https://example.com/cb", p).is_ok());
        assert!(check_url("http://127.0.0.1:9000/cb", CallbackPolicy::PublicOnly).is_err());
        assert!(check_url("http://10.1.2.3/cb", CallbackPolicy::PublicOnly).is_err());
        assert!(check_url("http://169.254.169.254/", CallbackPolicy::Any).is_ok());
    }
}
