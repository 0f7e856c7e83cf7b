use convene_server::{AppState, Config, Db, ids};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

/// Declares one test per backend: `name::sqlite` and `name::postgres`.
///
/// The PostgreSQL half is ignored rather than silently passing, so a plain
/// `cargo test` reports it as not run; run it with `--include-ignored` (or
/// `--ignored postgres`) and `CONVENE_TEST_POSTGRES_URL` set.
#[macro_export]
macro_rules! both {
    ($name:ident) => {
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                super::$name(
                    $crate::helpers::TestApp::spawn($crate::helpers::Backend::Sqlite).await,
                )
                .await;
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            #[ignore = "needs CONVENE_TEST_POSTGRES_URL (scripts/test runs it on a throwaway cluster)"]
            async fn postgres() {
                super::$name($crate::helpers::TestApp::spawn_pg().await).await;
            }
        }
    };
    // With a configuration tweak (`|cfg| …`) applied on both backends.
    ($name:ident, $tweak:expr) => {
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                let app = $crate::helpers::TestApp::spawn_with(
                    $crate::helpers::Backend::Sqlite,
                    $tweak,
                )
                .await;
                super::$name(app).await;
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            #[ignore = "needs CONVENE_TEST_POSTGRES_URL (scripts/test runs it on a throwaway cluster)"]
            async fn postgres() {
                let app = $crate::helpers::TestApp::spawn_with(
                    $crate::helpers::Backend::Postgres($crate::helpers::pg_url()),
                    $tweak,
                )
                .await;
                super::$name(app).await;
            }
        }
    };
}

/// The PostgreSQL test cluster; a PostgreSQL test without one fails (it
/// must never pass without doing its work).
pub fn pg_url() -> String {
    std::env::var("CONVENE_TEST_POSTGRES_URL")
        .ok()
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| {
            panic!(
                "CONVENE_TEST_POSTGRES_URL is not set: this PostgreSQL test cannot run \
                 (start a cluster with scripts/pg-cluster, or run scripts/test)"
            )
        })
}

/// The instance key of each test database, by URL.
static KEYS: std::sync::LazyLock<
    std::sync::Mutex<std::collections::HashMap<String, convene_server::links::LinkKey>>,
> = std::sync::LazyLock::new(Default::default);

pub enum Backend {
    Sqlite,
    Postgres(String),
    Url(String),
}

pub struct TestApp {
    pub base: String,
    pub db_url: String,
    pub links: convene_server::links::LinkKey,
    /// The server's clock: advance it to make time pass.
    pub clock: convene_server::Clock,
    pub db: Db,
    pub http: reqwest::Client,
    /// The configuration the server runs with.
    pub cfg: std::sync::Arc<Config>,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    /// The SQLite database's folder, shared with replicas: removed when the
    /// last one holding it is dropped (hold a clone to restart on it).
    pub dir: Option<std::sync::Arc<TempDir>>,
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

/// A folder under the system's temporary one, removed with what it holds
/// when dropped: test runs leave nothing behind.
pub struct TempDir(std::path::PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> TempDir {
        let d = std::env::temp_dir().join(format!("convene-{tag}-{}", random_name()));
        std::fs::create_dir_all(&d).unwrap();
        TempDir(d)
    }
}

impl std::ops::Deref for TempDir {
    type Target = std::path::Path;
    fn deref(&self) -> &std::path::Path {
        &self.0
    }
}

impl AsRef<std::path::Path> for TempDir {
    fn as_ref(&self) -> &std::path::Path {
        &self.0
    }
}

impl AsRef<std::ffi::OsStr> for TempDir {
    fn as_ref(&self) -> &std::ffi::OsStr {
        self.0.as_os_str()
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn random_name() -> String {
    ids::new_id("t").to_lowercase()
}

#[allow(dead_code)]
pub struct Client {
    pub client_id: String,
    pub client_secret: String,
    pub ou: String,
}

pub struct Acct {
    pub sub: String,
    pub token: String,
    pub refresh: String,
    pub calendar_id: String,
}

impl TestApp {
    /// A Convene on a fresh database in the cluster named by
    /// `CONVENE_TEST_POSTGRES_URL`. Without it the test fails: a PostgreSQL
    /// test must never pass without having touched PostgreSQL.
    pub async fn spawn_pg() -> TestApp {
        TestApp::spawn(Backend::Postgres(pg_url())).await
    }

    pub async fn spawn(backend: Backend) -> TestApp {
        Self::spawn_with(backend, |_| {}).await
    }

    /// A second Convene on the same database with the same instance key.
    pub async fn replica(&self) -> TestApp {
        self.replica_with(|_| {}).await
    }

    /// A replica with a configuration tweak.
    pub async fn replica_with(&self, tweak: impl FnOnce(&mut Config)) -> TestApp {
        let mut app = Self::start(
            Backend::Url(self.db_url.clone()),
            Some(self.links.clone()),
            tweak,
        )
        .await;
        app.dir = self.dir.clone();
        app
    }

    pub async fn spawn_with(backend: Backend, tweak: impl FnOnce(&mut Config)) -> TestApp {
        Self::start(backend, None, tweak).await
    }

    /// Starts Convene; without a key, a fresh one (as a new key file would
    /// hold).
    async fn start(
        backend: Backend,
        key: Option<convene_server::links::LinkKey>,
        tweak: impl FnOnce(&mut Config),
    ) -> TestApp {
        convene_server::notifications::install_tls();
        let mut dir = None;
        let url = match backend {
            Backend::Url(u) => u,
            Backend::Sqlite => {
                let d = TempDir::new("t");
                let url = format!("sqlite://{}", d.join("convene.db").display());
                dir = Some(std::sync::Arc::new(d));
                url
            }
            Backend::Postgres(admin) => {
                use sqlx::Connection as _;
                let name = random_name();
                let mut conn = sqlx::PgConnection::connect(&admin)
                    .await
                    .expect("connect to the PostgreSQL test cluster");
                sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE \"{name}\"")))
                    .execute(&mut conn)
                    .await
                    .expect("create database");
                let (head, _) = admin.rsplit_once('/').expect("url with a database");
                format!("{head}/{name}")
            }
        };
        let db = Db::connect(&url).await.expect("connect");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let mut cfg = Config::new(&base);
        // Callbacks are retried quickly in tests.
        cfg.notify_poll_ms = 50;
        cfg.retry_base_ms = 100;
        cfg.expiry_sweep_ms = 200;
        tweak(&mut cfg);
        // Like the key file beside a database: every Convene started on
        // this database (a replica, a restart) finds the same key.
        let key = {
            let mut keys = KEYS.lock().unwrap();
            keys.entry(url.clone())
                .or_insert_with(|| {
                    key.unwrap_or_else(|| convene_server::links::LinkKey::new(&ids::new_secret()))
                })
                .clone()
        };
        let state = AppState::new(db.clone(), cfg, key);
        let links = state.links.clone();
        let clock = state.clock.clone();
        let cfg = state.cfg.clone();
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(async move {
            convene_server::serve(listener, state, async {
                let _ = rx.await;
            })
            .await
            .unwrap();
        });
        TestApp {
            base,
            db_url: url,
            db,
            links,
            clock,
            http: reqwest::Client::new(),
            cfg,
            shutdown: Some(tx),
            dir,
        }
    }

    /// An Internal Application (what `convene app create` makes).
    pub async fn client(&self, ou: &str) -> Client {
        let (app, secret, ou) =
            convene_server::create_application(&self.db, &self.links, "test", ou)
                .await
                .unwrap();
        Client {
            client_id: app.id,
            client_secret: secret,
            ou: ou.id,
        }
    }

    /// An application-calendar account with its token and primary calendar.
    pub async fn account(&self, c: &Client, name: &str) -> Acct {
        let (s, b) = self
            .call(Method::POST, "/v1/application_calendars", None, Some(json!({
                "client_id": c.client_id, "client_secret": c.client_secret, "application_calendar_id": name
            })))
            .await;
        assert_eq!(s, StatusCode::OK, "{b}");
        let token = b["access_token"].as_str().unwrap().to_string();
        let (_, cals) = self
            .call(Method::GET, "/v1/calendars", Some(&token), None)
            .await;
        Acct {
            sub: b["sub"].as_str().unwrap().to_string(),
            refresh: b["refresh_token"].as_str().unwrap().to_string(),
            calendar_id: cals["calendars"][0]["calendar_id"]
                .as_str()
                .unwrap()
                .to_string(),
            token,
        }
    }

    pub fn url(&self, path: &str) -> String {
        if path.starts_with("http") {
            path.to_string()
        } else {
            format!("{}{path}", self.base)
        }
    }

    /// A JSON call; answers the status and the parsed body (Null if none).
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        bearer: Option<&str>,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let mut req = self.http.request(method, self.url(path));
        if let Some(t) = bearer {
            req = req.bearer_auth(t);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.unwrap();
        let status = resp.status();
        let text = resp.text().await.unwrap();
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    pub async fn raw(&self, req: reqwest::RequestBuilder) -> (StatusCode, Value) {
        let resp = req.send().await.unwrap();
        let status = resp.status();
        let text = resp.text().await.unwrap();
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }
}

/// The `key` of the first error on `field`.
/// An opaque, confirmed event in `a`'s calendar over `[start_ms, end_ms)`,
/// for writing through the store directly.
pub fn event_in(
    a: &Acct,
    uid: &str,
    event_id: Option<&str>,
    start_ms: i64,
    end_ms: i64,
) -> convene_store::Event {
    convene_store::Event {
        event_uid: uid.to_string(),
        calendar_id: a.calendar_id.clone(),
        account_id: a.sub.clone(),
        event_id: event_id.map(str::to_string),
        summary: "x".into(),
        description: String::new(),
        start_ms,
        end_ms,
        start_date: None,
        end_date: None,
        tzid: "Etc/UTC".into(),
        transparency: "opaque".into(),
        status: "confirmed".into(),
        participation: "accepted".into(),
        body_json: "{}".into(),
        deleted: false,
        created_ms: 1,
        updated_ms: 1,
    }
}

pub fn err_key(body: &Value, field: &str) -> String {
    body["errors"][field][0]["key"]
        .as_str()
        .unwrap_or_else(|| panic!("no error on {field} in {body}"))
        .to_string()
}

/// A Time `days` days (and `hours` hours) from now, on a whole hour.
pub fn future(days: i64, hour: i8) -> String {
    let d = jiff::Zoned::now()
        .with_time_zone(jiff::tz::TimeZone::UTC)
        .date()
        .checked_add(jiff::Span::new().days(days))
        .unwrap();
    format!("{d}T{hour:02}:00:00Z")
}

pub const EVERY_DAY: [&str; 7] = [
    "sunday",
    "monday",
    "tuesday",
    "wednesday",
    "thursday",
    "friday",
    "saturday",
];

/// Sets the account's availability rule `work`: each of `periods`
/// (`HH:MM` start, end) on each of `days`, read in `tzid`.
pub async fn set_rule(
    app: &TestApp,
    a: &Acct,
    tzid: &str,
    days: &[&str],
    periods: &[(&str, &str)],
) {
    let weekly: Vec<Value> = days
        .iter()
        .flat_map(|d| {
            periods
                .iter()
                .map(move |(s, e)| json!({"day": d, "start_time": s, "end_time": e}))
        })
        .collect();
    let (s, b) = app
        .call(
            Method::POST,
            "/v1/availability_rules",
            Some(&a.token),
            Some(json!({"availability_rule_id": "work", "tzid": tzid, "weekly_periods": weekly})),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{b}");
}

/// Every day `from`–`to` UTC.
pub async fn daily(app: &TestApp, a: &Acct, from: &str, to: &str) {
    set_rule(app, a, "Etc/UTC", &EVERY_DAY, &[(from, to)]).await;
}

/// A loopback address nobody listens on (yet): a receiver that is down.
pub fn unused_addr() -> String {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().to_string()
}

/// Points the application's webhook at `url`.
pub async fn set_webhook(app: &TestApp, c: &Client, url: &str) {
    let (s, b) = app
        .call(
            Method::POST,
            "/v1/application",
            Some(&c.client_secret),
            Some(json!({"webhook_url": url})),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{b}");
}

/// Opens a push channel of the account to `url`.
pub async fn open_channel(app: &TestApp, a: &Acct, url: &str) {
    let (s, b) = app
        .call(
            Method::POST,
            "/v1/channels",
            Some(&a.token),
            Some(json!({"callback_url": url})),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{b}");
}

/// The Python that runs the real servers some tests talk to (Radicale,
/// Xandikos, aiosmtpd): `CONVENE_TEST_PYTHON`, or the virtualenv that
/// `scripts/pyenv` creates on first use.
#[allow(dead_code)] // used by the suites that start Python servers
pub fn test_python() -> String {
    static PYTHON: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
        if let Ok(p) = std::env::var("CONVENE_TEST_PYTHON") {
            return p;
        }
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../../scripts/pyenv");
        let out = std::process::Command::new(script)
            .output()
            .expect("scripts/pyenv runs");
        assert!(
            out.status.success(),
            "scripts/pyenv failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap().trim().to_string()
    });
    PYTHON.clone()
}
