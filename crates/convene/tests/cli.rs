//! The `convene` binary as a person or a script runs it: each test gets its
//! own HOME (so the default data directory is a temporary one) and runs the
//! built binary, with and without a server.

use std::collections::BTreeSet;
use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

const BIN: &str = env!("CARGO_BIN_EXE_convene");

/// A sandbox: a temporary HOME and a place for working directories.
struct Sandbox {
    root: tempfile::TempDir,
}

impl Sandbox {
    fn new() -> Self {
        let root = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(root.path().join("home")).unwrap();
        Sandbox { root }
    }

    fn path(&self, rel: &str) -> PathBuf {
        self.root.path().join(rel)
    }

    fn home(&self) -> PathBuf {
        self.path("home")
    }

    /// The default database under this HOME.
    fn default_db(&self) -> PathBuf {
        self.home().join(".local/share/convene/convene.db")
    }

    /// `convene ARGS` in `cwd`, with nothing from the caller's environment
    /// choosing the database, address or log format.
    fn cmd(&self, cwd: &Path, args: &[&str]) -> Command {
        std::fs::create_dir_all(cwd).unwrap();
        let mut c = Command::new(BIN);
        c.args(args).current_dir(cwd).env("HOME", self.home());
        for var in [
            "XDG_DATA_HOME",
            "CONVENE_DATA_DIR",
            "CONVENE_DATABASE_URL",
            "CONVENE_LISTEN",
            "CONVENE_PUBLIC_URL",
            "CONVENE_LOG_FORMAT",
            "CONVENE_SECRET_KEY",
            "CONVENE_SECRET_KEY_FILE",
            "RUST_BACKTRACE",
            "RUST_LIB_BACKTRACE",
        ] {
            c.env_remove(var);
        }
        c.env("CONVENE_LOG", "info,sqlx=warn");
        c
    }

    fn run(&self, args: &[&str]) -> Output {
        self.run_in(&self.root.path().join("work"), args, "")
    }

    fn run_in(&self, cwd: &Path, args: &[&str], stdin: &str) -> Output {
        let mut child = self
            .cmd(cwd, args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(stdin.as_bytes())
            .unwrap();
        child.wait_with_output().unwrap()
    }

    /// Runs a command that must succeed; answers its JSON output.
    fn json(&self, args: &[&str]) -> Value {
        json_of(&self.run(args), args)
    }

    fn serve(&self, extra: &[&str]) -> Server {
        let mut args = vec!["serve", "--listen", "127.0.0.1:0", "--log-format", "json"];
        args.extend_from_slice(extra);
        Server::start(self.cmd(&self.path("work"), &args))
    }
}

fn json_of(out: &Output, args: &[&str]) -> Value {
    assert!(
        out.status.success(),
        "convene {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "convene {args:?} printed no JSON ({e}): {}",
            String::from_utf8_lossy(&out.stdout)
        )
    })
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// The database line every management command prints on stderr.
fn database_line(out: &Output) -> String {
    stderr(out)
        .lines()
        .find_map(|l| l.strip_prefix("convene: database "))
        .unwrap_or_else(|| panic!("no database line in {:?}", stderr(out)))
        .to_string()
}

/// A failed command: exit status 1 and exactly one line besides the database
/// line, with no trace of a backtrace. Answers that line.
fn one_line_error(out: &Output) -> String {
    let err = stderr(out);
    assert_eq!(out.status.code(), Some(1), "stderr: {err}");
    assert!(
        !err.to_lowercase().contains("backtrace") && !err.contains("  at "),
        "a backtrace was printed: {err}"
    );
    let lines: Vec<&str> = err
        .lines()
        .filter(|l| !l.starts_with("convene: database "))
        .collect();
    assert_eq!(lines.len(), 1, "expected one error line, got: {err}");
    assert!(lines[0].starts_with("convene: error: "), "{err}");
    lines[0].to_string()
}

/// A running `convene serve`, stopped when dropped.
struct Server {
    child: Child,
    addr: String,
    public_url: String,
    /// Every stderr line so far (the reader thread keeps the pipe drained).
    log: Arc<Mutex<Vec<String>>>,
}

impl Server {
    fn start(mut cmd: Command) -> Server {
        let mut child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let log = Arc::new(Mutex::new(Vec::new()));
        let (tx, rx) = mpsc::channel();
        let pipe = child.stderr.take().unwrap();
        let sink = log.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(pipe).lines() {
                let Ok(line) = line else { break };
                sink.lock().unwrap().push(line.clone());
                let _ = tx.send(line);
            }
        });
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match rx.recv_timeout(left) {
                Ok(line) => {
                    let Ok(entry) = serde_json::from_str::<Value>(&line) else {
                        continue;
                    };
                    if entry["message"] == "convene serving" {
                        return Server {
                            child,
                            addr: entry["listen"].as_str().unwrap().to_string(),
                            public_url: entry["public_url"].as_str().unwrap().to_string(),
                            log,
                        };
                    }
                }
                Err(_) => {
                    let _ = child.kill();
                    let _ = child.wait();
                    panic!(
                        "convene serve did not start: {:?}",
                        log.lock().unwrap().join("\n")
                    );
                }
            }
        }
    }

    fn log(&self) -> Vec<String> {
        self.log.lock().unwrap().clone()
    }

    /// A request over a fresh connection; answers the status and JSON body.
    fn call(
        &self,
        method: &str,
        path: &str,
        bearer: Option<&str>,
        body: Option<&Value>,
    ) -> (u16, Value) {
        http(&self.addr, method, path, bearer, body)
    }

    fn stop(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Minimal HTTP/1.1 with `Connection: close`: enough for JSON endpoints,
/// which always send a Content-Length.
fn http(
    addr: &str,
    method: &str,
    path: &str,
    bearer: Option<&str>,
    body: Option<&Value>,
) -> (u16, Value) {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let body = body.map(|b| b.to_string()).unwrap_or_default();
    let auth = bearer
        .map(|t| format!("Authorization: Bearer {t}\r\n"))
        .unwrap_or_default();
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Type: application/json\r\n{auth}Content-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    let (head, body) = response.split_once("\r\n\r\n").unwrap();
    let status = head.split(' ').nth(1).unwrap().parse().unwrap();
    (status, serde_json::from_str(body).unwrap_or(Value::Null))
}

#[test]
fn the_default_database_is_shared_whatever_the_working_directory() {
    let s = Sandbox::new();
    let created = s.run_in(
        &s.path("one"),
        &["app", "create", "--name", "Hill Valley"],
        "",
    );
    let app = json_of(&created, &["app", "create"]);
    let listed = s.run_in(&s.path("elsewhere/two"), &["app", "list"], "");
    let apps = json_of(&listed, &["app", "list"]);
    let ids: Vec<&Value> = apps["applications"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| &a["client_id"])
        .collect();
    assert_eq!(ids, vec![&app["client_id"]]);
    assert_eq!(apps["applications"][0]["organizational_unit"], "Default");
    assert_eq!(apps["applications"][0]["active_secrets"], 1);
    assert!(apps["applications"][0].get("client_secret").is_none());

    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(
            mode(s.default_db().parent().unwrap()),
            0o700,
            "the data directory is not private"
        );
    }
    let expected = format!("sqlite://{}", s.default_db().display());
    assert_eq!(database_line(&created), expected);
    assert_eq!(database_line(&listed), expected);
    for dir in ["one", "elsewhere/two"] {
        assert!(
            std::fs::read_dir(s.path(dir)).unwrap().next().is_none(),
            "a file appeared in the working directory {dir}"
        );
    }

    // XDG_DATA_HOME, then --data-dir / CONVENE_DATA_DIR, then
    // --database-url choose another database, each announced.
    let xdg = s.path("xdg");
    let out = s
        .cmd(&s.path("one"), &["app", "list"])
        .env("XDG_DATA_HOME", &xdg)
        .output()
        .unwrap();
    assert_eq!(json_of(&out, &["app", "list"])["applications"], json!([]));
    assert_eq!(
        database_line(&out),
        format!("sqlite://{}", xdg.join("convene/convene.db").display())
    );
    let dir = s.path("chosen");
    let out = s
        .cmd(&s.path("one"), &["app", "list"])
        .env("CONVENE_DATA_DIR", &dir)
        .output()
        .unwrap();
    assert_eq!(
        database_line(&out),
        format!("sqlite://{}", dir.join("convene.db").display())
    );
    let out = s.run(&[
        "app",
        "list",
        "--data-dir",
        dir.to_str().unwrap(),
        "--database-url",
        &format!("sqlite://{}", s.default_db().display()),
    ]);
    assert_eq!(
        json_of(&out, &["app", "list"])["applications"][0]["client_id"],
        app["client_id"]
    );
}

#[test]
fn admins_are_added_listed_and_removed() {
    let s = Sandbox::new();
    let work = s.path("work");
    let doc = json_of(
        &s.run_in(
            &work,
            &["admin", "add", "--email", "Doc@Example.com"],
            "flux capacitor\n",
        ),
        &["admin", "add"],
    );
    assert_eq!(doc["email"], "doc@example.com");
    json_of(
        &s.run_in(
            &work,
            &[
                "admin",
                "add",
                "--email",
                "marty@example.com",
                "--organizational-unit",
                "Hill Valley",
            ],
            "hoverboard88\n",
        ),
        &["admin", "add"],
    );
    let short = s.run_in(
        &work,
        &["admin", "add", "--email", "biff@example.com"],
        "short\n",
    );
    let line = one_line_error(&short);
    assert!(line.contains("at least 8 characters"), "{line}");

    let admins = s.json(&["admin", "list"]);
    let rows: Vec<(&str, &str)> = admins["admins"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            (
                a["email"].as_str().unwrap(),
                a["organizational_unit"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        rows,
        vec![
            ("doc@example.com", "Default"),
            ("marty@example.com", "Hill Valley")
        ]
    );
    assert!(admins["admins"][0].get("password_hash").is_none());

    let removed = s.json(&["admin", "remove", "--email", "DOC@example.com"]);
    assert_eq!(removed["removed"], "doc@example.com");
    let left = s.json(&["admin", "list"]);
    assert_eq!(left["admins"].as_array().unwrap().len(), 1);
    assert_eq!(left["admins"][0]["email"], "marty@example.com");
    let again = s.run(&["admin", "remove", "--email", "doc@example.com"]);
    let line = one_line_error(&again);
    assert!(line.contains("no admin doc@example.com"), "{line}");
}

#[test]
fn user_errors_are_one_line_without_a_backtrace() {
    let s = Sandbox::new();
    let with_backtrace = |args: &[&str]| {
        s.cmd(&s.path("work"), args)
            .env("RUST_BACKTRACE", "1")
            .env("RUST_LIB_BACKTRACE", "1")
            .stdin(Stdio::null())
            .output()
            .unwrap()
    };

    let out = with_backtrace(&["app", "set-webhook", "--client-id", "cid_nope", "--url", ""]);
    let line = one_line_error(&out);
    assert!(line.contains("no application cid_nope"), "{line}");

    let missing = s.path("no/such/dir/convene.db");
    let url = format!("sqlite://{}", missing.display());
    let out = with_backtrace(&["app", "list", "--database-url", &url]);
    let line = one_line_error(&out);
    assert!(line.contains(&missing.display().to_string()), "{line}");
    assert!(line.contains("does not exist"), "{line}");
    assert!(!missing.parent().unwrap().exists());

    // Nothing listens on a port just released: refused at once, and said so
    // naming the server, not after the pool's 30 s.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("postgres://convene:hunter2@127.0.0.1:{port}/convene");
    let started = Instant::now();
    let out = with_backtrace(&["app", "list", "--database-url", &url]);
    assert!(started.elapsed() < Duration::from_secs(10));
    let line = one_line_error(&out);
    assert!(line.contains(&format!("127.0.0.1:{port}")), "{line}");
    assert!(
        !stderr(&out).contains("hunter2"),
        "the password was printed"
    );

    let out = with_backtrace(&["backup", "--to", "x.db", "--database-url", &url]);
    let line = one_line_error(&out);
    assert!(line.contains("pg_dump"), "{line}");

    let out = with_backtrace(&[
        "serve",
        "--public-url",
        "convene.example.com",
        "--listen",
        "127.0.0.1:0",
    ]);
    let line = one_line_error(&out);
    assert!(line.contains("--public-url"), "{line}");
}

#[test]
fn the_public_url_follows_the_listen_address() {
    let s = Sandbox::new();
    let server = s.serve(&[]);
    let port: u16 = server.addr.rsplit(':').next().unwrap().parse().unwrap();
    assert_ne!(port, 8080);
    assert_eq!(server.public_url, format!("http://{}", server.addr));
    let app = s.json(&["app", "create", "--name", "links"]);
    let secret = app["client_secret"].as_str().unwrap();

    let (status, doc) = server.call(
        "POST",
        "/v1/application_calendars",
        None,
        Some(&json!({"client_id": app["client_id"], "client_secret": secret, "application_calendar_id": "doc"})),
    );
    assert_eq!(status, 200, "{doc}");
    let (status, tpl) = server.call(
        "POST",
        "/v1/scheduling_templates",
        Some(secret),
        Some(&json!({"name": "Lesson", "host": {"sub": doc["sub"]}, "event": {"summary": "Lesson"},
                     "duration": {"minutes": 30}, "availability_mode": {"days": 7}, "tzid": "Etc/UTC"})),
    );
    assert_eq!(status, 200, "{tpl}");
    let (status, srq) = server.call(
        "POST",
        "/v1/scheduling_requests",
        Some(secret),
        Some(&json!({"template": {"sub": tpl["scheduling_template"]["sub"]},
                     "recipients": [{"email": "marty@example.com", "display_name": "Marty", "slot_selector": true}]})),
    );
    assert_eq!(status, 200, "{srq}");
    for field in ["primary_select_url", "dashboard_url"] {
        let url = srq["scheduling_request"][field].as_str().unwrap();
        assert!(
            url.starts_with(&format!("{}/", server.public_url)),
            "{field} {url} is not under {}",
            server.public_url
        );
    }
    // Every log line of --log-format json is one JSON object.
    let log = server.log();
    assert!(
        log.iter()
            .all(|l| serde_json::from_str::<Value>(l).is_ok_and(|v| v.is_object())),
        "{log:?}"
    );
    assert!(
        log.iter()
            .any(|l| l.contains(&s.default_db().display().to_string())),
        "the database is not logged"
    );
    server.stop();

    // An explicit public URL on this machine but another port is a leftover:
    // warned about. Plain text logs into a pipe carry no colour codes.
    let mut cmd = s.cmd(
        &s.path("work"),
        &[
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--public-url",
            "http://127.0.0.1:8080",
        ],
    );
    cmd.env("CONVENE_LOG", "info,sqlx=warn");
    let mut child = cmd
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let mut seen = Vec::new();
    for line in lines.by_ref() {
        let line = line.unwrap();
        seen.push(line.clone());
        if line.contains("convene serving") {
            break;
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    let text = seen.join("\n");
    assert!(
        text.contains("WARN") && text.contains("will not reach it"),
        "{text}"
    );
    assert!(
        !text.contains('\u{1b}'),
        "colour codes in a piped log: {text:?}"
    );
    assert!(
        serde_json::from_str::<Value>(&seen[0]).is_err(),
        "text logs are not JSON"
    );
}

#[test]
fn a_backup_taken_under_write_load_restores_every_acknowledged_write() {
    let s = Sandbox::new();
    let server = s.serve(&[]);
    let app = s.json(&["app", "create", "--name", "busy"]);
    let (client_id, secret) = (
        app["client_id"].as_str().unwrap().to_string(),
        app["client_secret"].as_str().unwrap().to_string(),
    );

    let acked = Arc::new(Mutex::new(Vec::<String>::new()));
    let stop = Arc::new(AtomicBool::new(false));
    let writer = {
        let (acked, stop, addr) = (acked.clone(), stop.clone(), server.addr.clone());
        std::thread::spawn(move || {
            let mut i = 0;
            while !stop.load(Ordering::Relaxed) {
                let id = format!("acc-{i}");
                let (status, body) = http(
                    &addr,
                    "POST",
                    "/v1/application_calendars",
                    None,
                    Some(
                        &json!({"client_id": client_id, "client_secret": secret, "application_calendar_id": id}),
                    ),
                );
                assert_eq!(status, 200, "{body}");
                acked.lock().unwrap().push(id);
                i += 1;
            }
        })
    };
    let wait_for = |n: usize| {
        let deadline = Instant::now() + Duration::from_secs(60);
        while acked.lock().unwrap().len() < n {
            assert!(Instant::now() < deadline, "the writer stalled");
            std::thread::sleep(Duration::from_millis(10));
        }
    };
    wait_for(25);
    let before: Vec<String> = acked.lock().unwrap().clone();
    let backup = s.path("backups/convene.backup");
    std::fs::create_dir_all(backup.parent().unwrap()).unwrap();
    let out = s.json(&["backup", "--to", backup.to_str().unwrap()]);
    assert_eq!(out["backup"], backup.to_str().unwrap());
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(&backup).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "the backup is readable by others");
    }
    // Writes begun after the backup returned cannot be in it: the restored
    // copy must hold fewer accounts than were written in the end.
    let after_backup = acked.lock().unwrap().len();
    wait_for(after_backup + 10);
    stop.store(true, Ordering::Relaxed);
    writer.join().unwrap();
    let total = acked.lock().unwrap().len();

    // An existing backup is not overwritten by accident.
    let again = s.run(&["backup", "--to", backup.to_str().unwrap()]);
    let line = one_line_error(&again);
    assert!(line.contains("--force"), "{line}");

    // The live database is neither replaced while served, nor without --force.
    let live = s.run(&["restore", "--from", backup.to_str().unwrap(), "--force"]);
    let line = one_line_error(&live);
    assert!(line.contains("in use"), "{line}");
    let exists = s.run(&["restore", "--from", backup.to_str().unwrap()]);
    let line = one_line_error(&exists);
    assert!(line.contains("--force"), "{line}");

    let restored_dir = s.path("restored");
    let out = s.json(&[
        "restore",
        "--from",
        backup.to_str().unwrap(),
        "--data-dir",
        restored_dir.to_str().unwrap(),
    ]);
    assert_eq!(
        out["database"],
        restored_dir.join("convene.db").to_str().unwrap()
    );
    let restored = accounts(&restored_dir.join("convene.db"));
    let missing: Vec<&String> = before.iter().filter(|id| !restored.contains(*id)).collect();
    assert!(
        missing.is_empty(),
        "acknowledged before the backup but not in it: {missing:?}"
    );
    assert!(
        restored.len() < total,
        "the backup holds writes made after it ended"
    );
    let apps = s.json(&["app", "list", "--data-dir", restored_dir.to_str().unwrap()]);
    assert_eq!(apps["applications"][0]["client_id"], app["client_id"]);

    // Once the server is stopped, --force puts the backup in place.
    server.stop();
    s.json(&["restore", "--from", backup.to_str().unwrap(), "--force"]);
    assert_eq!(accounts(&s.default_db()), restored);
}

#[test]
fn the_instance_key_lives_beside_the_database_never_in_it() {
    let s = Sandbox::new();
    let app = s.json(&["app", "create", "--name", "Keys"]);
    let key_file = s.default_db().with_extension("key");
    let meta = std::fs::metadata(&key_file).expect("the key file is created");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        assert_eq!(meta.permissions().mode() & 0o777, 0o600, "owner-only");
    }
    assert_eq!(stored_keys(&s.default_db()), 0, "no key in the database");
    let server = s.serve(&[]);
    let (status, _) = server.call(
        "POST",
        "/v1/application_calendars",
        None,
        Some(
            &json!({"client_id": app["client_id"], "client_secret": app["client_secret"],
                     "application_calendar_id": "room"}),
        ),
    );
    assert_eq!(status, 200, "the secret works");
    server.stop();
    // Whoever copies the database files alone finds no key to derive client
    // secrets or link tokens from: only their digests are there.
    let key = std::fs::read_to_string(&key_file).unwrap();
    let key = key.trim();
    assert!(key.len() >= 32, "{key}");
    for f in ["convene.db", "convene.db-wal"] {
        let path = s.default_db().with_file_name(f);
        if let Ok(bytes) = std::fs::read(&path) {
            assert!(
                !bytes.windows(key.len()).any(|w| w == key.as_bytes()),
                "{f} holds the instance key"
            );
            let secret = app["client_secret"].as_str().unwrap();
            assert!(
                !bytes.windows(secret.len()).any(|w| w == secret.as_bytes()),
                "{f} holds a client secret"
            );
        }
    }
}

#[test]
fn a_key_stored_in_the_database_moves_to_the_key_file_once() {
    let s = Sandbox::new();
    let key = "an-instance-key-from-an-older-convene-0123456789";
    // An older Convene kept its key in the database: make such a database
    // (an application whose secret derives from that key, and the key in
    // instance_secrets) with the key given by the environment.
    let out = s
        .cmd(&s.path("work"), &["app", "create", "--name", "Old"])
        .env("CONVENE_SECRET_KEY", key)
        .output()
        .unwrap();
    let app = json_of(&out, &["app", "create"]);
    let key_file = s.default_db().with_extension("key");
    assert!(
        !key_file.exists(),
        "a key from the environment writes no file"
    );
    tokio::runtime::Runtime::new().unwrap().block_on(async {
        use sqlx::Connection as _;
        let opts = sqlx::sqlite::SqliteConnectOptions::new().filename(s.default_db());
        let mut conn = sqlx::SqliteConnection::connect_with(&opts).await.unwrap();
        sqlx::query("INSERT INTO instance_secrets (name, value) VALUES ('link_key', $1)")
            .bind(key)
            .execute(&mut conn)
            .await
            .unwrap();
        conn.close().await.unwrap();
    });
    assert_eq!(stored_keys(&s.default_db()), 1);

    let server = s.serve(&[]);
    assert_eq!(std::fs::read_to_string(&key_file).unwrap().trim(), key);
    assert_eq!(
        stored_keys(&s.default_db()),
        0,
        "the database no longer holds it"
    );
    let (status, b) = server.call(
        "POST",
        "/v1/application_calendars",
        None,
        Some(
            &json!({"client_id": app["client_id"], "client_secret": app["client_secret"],
                     "application_calendar_id": "room"}),
        ),
    );
    assert_eq!(status, 200, "secrets made before the move still work: {b}");
}

#[test]
fn processes_started_together_on_a_fresh_database_all_start() {
    let s = Sandbox::new();
    let db = s.path("fresh/convene.db");
    std::fs::create_dir_all(db.parent().unwrap()).unwrap();
    let url = format!("sqlite://{}", db.display());
    let children: Vec<Child> = (0..15)
        .map(|i| {
            s.cmd(
                &s.path("work"),
                &[
                    "app",
                    "create",
                    "--name",
                    &format!("App {i}"),
                    "--database-url",
                    &url,
                ],
            )
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
        })
        .collect();
    let mut ids = BTreeSet::new();
    for c in children {
        let out = c.wait_with_output().unwrap();
        let app = json_of(&out, &["app", "create"]);
        ids.insert(app["client_id"].as_str().unwrap().to_string());
    }
    assert_eq!(
        ids.len(),
        15,
        "every process started and made its application"
    );
    let listed = s.json(&["app", "list", "--database-url", &url]);
    assert_eq!(
        listed["applications"].as_array().map(Vec::len),
        Some(15),
        "{listed}"
    );
}

/// How many instance keys a database file holds.
fn stored_keys(db: &Path) -> i64 {
    tokio::runtime::Runtime::new().unwrap().block_on(async {
        use sqlx::Connection as _;
        let opts = sqlx::sqlite::SqliteConnectOptions::new()
            .filename(db)
            .read_only(true);
        let mut conn = sqlx::SqliteConnection::connect_with(&opts).await.unwrap();
        let (n,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM instance_secrets")
            .fetch_one(&mut conn)
            .await
            .unwrap();
        conn.close().await.unwrap();
        n
    })
}

/// The application calendar ids in a database file, read directly.
fn accounts(db: &Path) -> BTreeSet<String> {
    tokio::runtime::Runtime::new().unwrap().block_on(async {
        use sqlx::Connection as _;
        let opts = sqlx::sqlite::SqliteConnectOptions::new()
            .filename(db)
            .read_only(true);
        let mut conn = sqlx::SqliteConnection::connect_with(&opts).await.unwrap();
        let rows: Vec<(String,)> = sqlx::query_as("SELECT application_calendar_id FROM accounts")
            .fetch_all(&mut conn)
            .await
            .unwrap();
        conn.close().await.unwrap();
        rows.into_iter().map(|(id,)| id).collect()
    })
}

#[test]
fn a_mistyped_smtp_url_or_sender_stops_the_start() {
    let s = Sandbox::new();
    let serve = |extra: &[&str]| {
        let mut args = vec!["serve", "--listen", "127.0.0.1:0"];
        args.extend_from_slice(extra);
        s.cmd(&s.path("work"), &args)
            .stdin(Stdio::null())
            .output()
            .unwrap()
    };
    let out = serve(&["--smtp-url", "ftp://mail.example.com"]);
    let line = one_line_error(&out);
    assert!(line.contains("--smtp-url"), "{line}");
    let out = serve(&[
        "--smtp-url",
        "smtp://convene:hunter3@127.0.0.1:2525",
        "--mail-from",
        "not an address",
    ]);
    let line = one_line_error(&out);
    assert!(line.contains("--mail-from"), "{line}");
    assert!(
        !stderr(&out).contains("hunter3"),
        "the password was printed"
    );
}
