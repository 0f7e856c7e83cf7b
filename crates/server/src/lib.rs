//! Convene's HTTP server: the Cronofy wire contract over one store.
#![forbid(unsafe_code)]

use std::net::SocketAddr;
use std::sync::{Arc, LazyLock};

use axum::Router;
use axum::extract::Request;
use jiff::tz::{TimeZone, TimeZoneDatabase};
use tokio::net::TcpListener;
use tower::Layer as _;
use tower_http::normalize_path::NormalizePathLayer;

pub mod api;
pub mod auth;
pub mod caldav;
pub mod conn;
pub mod domain;
pub mod error;
pub mod http;
pub mod ical;
pub mod ids;
pub mod input;
pub mod links;
pub mod mailer;
pub mod metrics;
pub mod notifications;
pub mod pages;
pub mod ratelimit;
pub mod sync;
pub mod time;

pub use convene_store::Db;

/// What a deployment is told at start.
#[derive(Clone, Debug)]
pub struct Config {
    /// Base of every absolute URL Convene emits (no trailing slash).
    pub public_url: String,
    /// The data-center label this deployment reports (`us`, `uk`, …).
    pub data_center: String,
    /// Lifetime of access tokens.
    pub access_token_ttl_secs: i64,
    /// Events and periods per page.
    pub page_size: i64,
    /// How often the delivery worker looks for due callbacks.
    pub notify_poll_ms: u64,
    /// First retry delay; doubles each attempt (with jitter), capped at an hour.
    pub retry_base_ms: i64,
    /// How long a failing callback is retried before it is given up.
    pub retry_window_ms: i64,
    /// Time limit of one callback attempt.
    pub attempt_timeout_ms: u64,
    /// Which callback addresses Convene refuses to call.
    pub callback_policy: notifications::CallbackPolicy,
    /// How often requests and conversations whose window has passed are
    /// marked expired (and their notifications recorded) without a read.
    pub expiry_sweep_ms: u64,
    /// Requests a minute per bearer credential (or client address); 0 = no limit.
    pub rate_limit_per_minute: u32,
    /// A failing receiver is tried again at least this often, whatever the
    /// backoff of its deliveries; its first success releases the rest.
    pub probe_ms: i64,
    /// When set, `GET /metrics` wants `Authorization: Bearer <this>`.
    pub metrics_token: Option<String>,
    /// Where mail goes (`smtp://user:pass@host:port`, `smtps://…`); without
    /// it no mail is written or sent.
    pub smtp_url: Option<String>,
    /// The sender of every mail (`Convene <convene@example.com>`).
    pub mail_from: String,
    /// How often connected calendars are read (`--sync-interval-secs`).
    pub sync_interval_secs: u64,
}

impl Config {
    pub fn new(public_url: &str) -> Self {
        Config {
            public_url: public_url.trim_end_matches('/').to_string(),
            data_center: "us".into(),
            access_token_ttl_secs: 3 * 3600,
            page_size: 50,
            notify_poll_ms: 500,
            retry_base_ms: 5_000,
            retry_window_ms: 25 * 3600 * 1000,
            attempt_timeout_ms: 10_000,
            callback_policy: notifications::CallbackPolicy::Default,
            expiry_sweep_ms: 30_000,
            rate_limit_per_minute: 0,
            probe_ms: 30_000,
            metrics_token: None,
            smtp_url: None,
            mail_from: "Convene <convene@localhost>".into(),
            sync_interval_secs: 60,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.public_url)
    }
}

#[derive(Clone, Debug)]
pub struct AppState {
    pub db: Db,
    pub cfg: Arc<Config>,
    pub links: links::LinkKey,
    pub rate: ratelimit::Shared,
    /// The availability service, with this replica's cache.
    pub availability: domain::availability::Availability,
    /// Client secrets recognised lately (see `auth::SECRET_CACHE_TTL`).
    pub secrets: auth::SecretCache,
    /// Requests this replica just showed their recipients (see
    /// `pages::recipient::ShownLately`).
    pub shown: pages::recipient::ShownLately,
    /// What time it is for this replica's rules (tests move it).
    pub clock: Clock,
    /// What `GET /metrics` reports.
    pub metrics: metrics::Metrics,
}

impl AppState {
    pub fn now_ms(&self) -> i64 {
        self.clock.now_ms()
    }

    pub fn now(&self) -> jiff::Timestamp {
        self.clock.now()
    }
}

/// The system clock, plus an offset that tests advance instead of
/// rewriting stored rows to make time pass. Clones share the offset.
#[derive(Clone, Debug, Default)]
pub struct Clock {
    offset_ms: Arc<std::sync::atomic::AtomicI64>,
}

impl Clock {
    pub fn now_ms(&self) -> i64 {
        jiff::Timestamp::now().as_millisecond()
            + self.offset_ms.load(std::sync::atomic::Ordering::Relaxed)
    }

    pub fn now(&self) -> jiff::Timestamp {
        jiff::Timestamp::from_millisecond(self.now_ms()).unwrap_or_else(|_| jiff::Timestamp::now())
    }

    /// Moves this clock (and every clone of it) forward.
    pub fn advance(&self, by: std::time::Duration) {
        let ms = i64::try_from(by.as_millis()).unwrap_or(i64::MAX);
        self.offset_ms
            .fetch_add(ms, std::sync::atomic::Ordering::Relaxed);
    }
}

impl AppState {
    /// The state of one replica over `db`, with the instance key from
    /// [`load_key`].
    pub fn new(db: Db, cfg: Config, links: links::LinkKey) -> Self {
        let metrics = metrics::Metrics::default();
        AppState {
            availability: domain::availability::Availability::new(db.clone(), metrics.clone()),
            metrics,
            db,
            cfg: Arc::new(cfg),
            links,
            rate: Default::default(),
            secrets: Default::default(),
            shown: Default::default(),
            clock: Clock::default(),
        }
    }
}

/// Where the instance key comes from. Link tokens and client secrets are
/// derived from it, so only their digests are stored: the key must live
/// outside the database, or a copy of the database would let anyone in.
#[derive(Clone, Debug)]
pub enum KeySource {
    /// The key itself (`CONVENE_SECRET_KEY`).
    Value(String),
    /// A file holding it (`--secret-key-file`; beside the SQLite file by
    /// default), created owner-only on first start.
    File(std::path::PathBuf),
}

/// The name under which Convene before the key file stored the key in the
/// database.
const STORED_KEY: &str = "link_key";

/// Loads the instance key. A database that still holds a key (from a
/// Convene that kept it there) hands it over once: it is written to the key
/// file when there is none yet, and then removed from the database.
pub async fn load_key(db: &Db, source: &KeySource) -> anyhow::Result<links::LinkKey> {
    use anyhow::Context as _;
    let stored = db.stored_instance_secret(STORED_KEY).await?;
    let key = match source {
        KeySource::Value(v) => {
            anyhow::ensure!(!v.trim().is_empty(), "the instance key is empty");
            v.clone()
        }
        KeySource::File(path) => match read_key_file(path)? {
            Some(k) => k,
            None => {
                let fresh = stored.clone().unwrap_or_else(ids::new_secret);
                write_key_file(path, &fresh)
                    .with_context(|| format!("cannot create the key file {}", path.display()))?;
                // Two processes starting together: the first file wins.
                read_key_file(path)?.unwrap_or(fresh)
            }
        },
    };
    match stored {
        Some(s) if s == key => {
            db.forget_instance_secret(STORED_KEY).await?;
            tracing::info!("the instance key moved out of the database");
        }
        Some(_) => tracing::warn!(
            "the database holds an instance key that differs from the one in use; it is ignored (delete it from instance_secrets)"
        ),
        None => {}
    }
    Ok(links::LinkKey::new(&key))
}

fn read_key_file(path: &std::path::Path) -> anyhow::Result<Option<String>> {
    match std::fs::read_to_string(path) {
        Ok(s) if !s.trim().is_empty() => Ok(Some(s.trim().to_string())),
        Ok(_) => anyhow::bail!("the key file {} is empty", path.display()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(anyhow::anyhow!(
            "cannot read the key file {}: {e}",
            path.display()
        )),
    }
}

/// Creates the key file, readable by its owner only; never overwrites one.
fn write_key_file(path: &std::path::Path, key: &str) -> std::io::Result<()> {
    use std::io::Write as _;
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
    match opts.open(path) {
        Ok(mut f) => {
            f.write_all(key.as_bytes())?;
            f.write_all(b"\n")?;
            f.sync_all()
        }
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(e),
    }
}

/// Creates an Internal Application (and its Organizational Unit when new);
/// answers the application, its first client secret and the unit.
pub async fn create_application(
    db: &Db,
    key: &links::LinkKey,
    name: &str,
    ou_name: &str,
) -> Result<(convene_store::Application, String, convene_store::OrgUnit), convene_store::StoreError>
{
    let mut app = convene_store::Application {
        id: ids::new_id("cid"),
        name: name.to_string(),
        organizational_unit_id: String::new(),
        webhook_url: None,
    };
    let secret = key.client_secret(&app.id, 1);
    let ou = db
        .create_application(
            &ids::new_id("ou"),
            ou_name,
            &app,
            &ids::digest(&secret),
            now_ms(),
        )
        .await?;
    app.organizational_unit_id = ou.id.clone();
    Ok((app, secret, ou))
}

/// The bundled IANA database, so answers never depend on the host's tzdata.
static TZDB: LazyLock<TimeZoneDatabase> = LazyLock::new(TimeZoneDatabase::bundled);

pub fn tz(name: &str) -> Option<TimeZone> {
    if name.is_empty() {
        return None;
    }
    TZDB.get(name).ok()
}

pub fn now_ms() -> i64 {
    jiff::Timestamp::now().as_millisecond()
}

/// The whole application as one service: trailing slashes are trimmed
/// before routing (PHP's SDK sends `/v1/available_periods/`).
pub fn app(state: AppState) -> tower_http::normalize_path::NormalizePath<Router> {
    let (api, _doc) = api::routes().split_for_parts();
    let router: Router = api::finish(api.merge(pages::routes()), state);
    NormalizePathLayer::trim_trailing_slash().layer(router)
}

/// Serves until `shutdown` resolves, then drains in-flight requests.
pub async fn serve(
    listener: TcpListener,
    state: AppState,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    if let Err(e) = domain::requests::scrub_stored_link_tokens(&state.db, state.now_ms()).await {
        tracing::warn!(error = %e, "could not remove old link tokens from the outbox");
    }
    let stop = tokio_util::sync::CancellationToken::new();
    let worker = tokio::spawn(notifications::run(state.clone(), stop.clone()));
    let syncer = tokio::spawn(sync::run(state.clone(), stop.clone()));
    let checkpoints = tokio::spawn(checkpoint_log(state.db.clone(), stop.clone()));
    let svc = app(state);
    // `tap_io` also makes the peer address the connect info (ratelimit.rs).
    let listener =
        axum::serve::ListenerExt::tap_io(conn::Listener(listener), conn::Stream::set_nodelay);
    let served = axum::serve(
        listener,
        axum::ServiceExt::<Request>::into_make_service_with_connect_info::<SocketAddr>(svc),
    )
    .with_graceful_shutdown(shutdown)
    .await;
    // Attempts in flight are abandoned; their leases expire and they are sent again.
    stop.cancel();
    let _ = worker.await;
    let _ = syncer.await;
    let _ = checkpoints.await;
    served
}

/// Checkpoints SQLite's write-ahead log in the background (see
/// `Db::checkpoint`) until `stop`, and once more then.
async fn checkpoint_log(db: convene_store::Db, stop: tokio_util::sync::CancellationToken) {
    loop {
        tokio::select! {
            _ = stop.cancelled() => break,
            _ = tokio::time::sleep(convene_store::CHECKPOINT_EVERY) => {}
        }
        if let Err(e) = db.checkpoint().await {
            tracing::warn!(error = %e, "checkpointing the database log failed");
        }
    }
    let _ = db.checkpoint().await;
}
