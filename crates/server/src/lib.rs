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
pub mod error;
pub mod ids;
pub mod input;
pub mod links;
pub mod openapi;
pub mod pages;
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
}

impl Config {
    pub fn new(public_url: &str) -> Self {
        Config {
            public_url: public_url.trim_end_matches('/').to_string(),
            data_center: "us".into(),
            access_token_ttl_secs: 3 * 3600,
            page_size: 50,
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
}

impl AppState {
    /// Loads the link key: `CONVENE_SECRET_KEY` when set, else the key this
    /// database generated on first start.
    pub async fn new(db: Db, cfg: Config) -> Result<Self, convene_store::StoreError> {
        let secret = match std::env::var("CONVENE_SECRET_KEY")
            .ok()
            .filter(|s| !s.is_empty())
        {
            Some(s) => s,
            None => db.instance_secret("link_key", &ids::new_secret()).await?,
        };
        Ok(AppState {
            db,
            cfg: Arc::new(cfg),
            links: links::LinkKey::new(&secret),
        })
    }
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
    let router: Router = api::router(state);
    NormalizePathLayer::trim_trailing_slash().layer(router)
}

/// Serves until `shutdown` resolves, then drains in-flight requests.
pub async fn serve(
    listener: TcpListener,
    state: AppState,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let svc = app(state);
    axum::serve(
        listener,
        axum::ServiceExt::<Request>::into_make_service_with_connect_info::<SocketAddr>(svc),
    )
    .with_graceful_shutdown(shutdown)
    .await
}
