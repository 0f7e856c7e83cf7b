//! `convene`: the whole platform in one binary.
#![forbid(unsafe_code)]

mod backup;
mod database;
mod logging;
mod manage;
mod public_url;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context as _;
use clap::{Args, Parser, Subcommand};
use convene_server::{AppState, Config};

use crate::database::Target;
use crate::manage::{AdminCommand, AppCommand};

/// A request allocates and frees many small objects (JSON values, rows,
/// intervals); mimalloc made the availability endpoint measurably faster
/// than the system allocator (BENCHMARKS.md).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(
    name = "convene",
    version,
    about = "Convene: an open-source scheduling platform that speaks Cronofy's API.",
    after_help = "Every command opens the same database unless told otherwise: \
                  sqlite://<data dir>/convene.db, and says on stderr which one it used."
)]
struct Cli {
    #[command(flatten)]
    global: GlobalArgs,
    #[command(subcommand)]
    command: Command,
}

#[derive(Args)]
#[command(next_help_heading = "Database and logs (every command)")]
struct GlobalArgs {
    /// Directory of the default database [default: $XDG_DATA_HOME/convene, else ~/.local/share/convene; created if missing].
    #[arg(long, env = "CONVENE_DATA_DIR", value_name = "DIR", global = true)]
    data_dir: Option<PathBuf>,
    /// Database: `sqlite://PATH` (WAL) or `postgres://USER:PASS@HOST/DB`; overrides --data-dir [default: sqlite://<data dir>/convene.db].
    #[arg(long, env = "CONVENE_DATABASE_URL", value_name = "URL", global = true)]
    database_url: Option<String>,
    /// The instance key file (link tokens and client secrets derive from the key; keep it
    /// and back it up apart from the database) [default: beside the SQLite file, `<name>.key`;
    /// PostgreSQL needs this or CONVENE_SECRET_KEY].
    #[arg(
        long,
        env = "CONVENE_SECRET_KEY_FILE",
        value_name = "FILE",
        global = true
    )]
    secret_key_file: Option<PathBuf>,
    /// Log format on stderr (colours only when stderr is a terminal).
    #[arg(
        long,
        env = "CONVENE_LOG_FORMAT",
        value_enum,
        default_value_t = logging::LogFormat::Text,
        global = true
    )]
    log_format: logging::LogFormat,
}

#[derive(Subcommand)]
enum Command {
    /// Run the HTTP server (migrations run at start).
    Serve(ServeArgs),
    /// Manage applications.
    App {
        #[command(subcommand)]
        command: AppCommand,
    },
    /// Manage dashboard admins.
    Admin {
        #[command(subcommand)]
        command: AdminCommand,
    },
    /// Back the SQLite database up to FILE, while it serves.
    ///
    /// The copy is one consistent snapshot (VACUUM INTO): every transaction
    /// committed before the backup started is in it. For PostgreSQL use pg_dump.
    /// Prints {"backup", "database", "bytes"}.
    Backup {
        /// Where to write the backup; refused if it exists, unless --force.
        #[arg(long, value_name = "FILE")]
        to: PathBuf,
        /// Replace FILE if it exists.
        #[arg(long)]
        force: bool,
    },
    /// Replace the SQLite database with a backup.
    ///
    /// Refused while a server uses the database, and when the database exists
    /// unless --force. Migrations run on the restored copy. For PostgreSQL use
    /// pg_restore. Prints {"database", "restored_from"}.
    Restore {
        /// The backup, as written by `convene backup`.
        #[arg(long, value_name = "FILE")]
        from: PathBuf,
        /// Replace an existing database (never one in use).
        #[arg(long)]
        force: bool,
    },
}

#[derive(Args)]
struct ServeArgs {
    /// Address to listen on (port 0 picks a free port).
    #[arg(long, env = "CONVENE_LISTEN", default_value = "127.0.0.1:8080")]
    listen: String,
    /// Base of every absolute URL Convene emits (next_page, action URLs, page
    /// links) [default: http://<listen address>].
    #[arg(long, env = "CONVENE_PUBLIC_URL", value_name = "URL")]
    public_url: Option<String>,
    /// Data-center label this deployment reports (us, uk, de, …).
    #[arg(long, env = "CONVENE_DATA_CENTER", default_value = "us")]
    data_center: String,
    /// Callback addresses refused: `default` (link-local and cloud metadata),
    /// `public-only` (also loopback and private networks) or `any` (none).
    #[arg(long, env = "CONVENE_CALLBACK_POLICY", default_value = "default")]
    callback_policy: convene_server::notifications::CallbackPolicy,
    /// First retry delay of a failed callback, in seconds (doubles each attempt, with jitter).
    #[arg(long, env = "CONVENE_RETRY_BASE_SECS", default_value_t = 5)]
    retry_base_secs: i64,
    /// Requests a minute allowed per bearer credential (or client address); 0 means no limit.
    #[arg(long, env = "CONVENE_RATE_LIMIT_PER_MINUTE", default_value_t = 0)]
    rate_limit_per_minute: u32,
    /// When set, `GET /metrics` (Prometheus) wants `Authorization: Bearer <token>`; unset, it is open.
    #[arg(long, env = "CONVENE_METRICS_TOKEN", value_name = "TOKEN")]
    metrics_token: Option<String>,
    /// SMTP server invitations are sent through: smtp://user:pass@host:port
    /// (STARTTLS when offered; add ?tls=required to insist) or smtps://…
    /// Unset, no mail is sent.
    #[arg(long, env = "CONVENE_SMTP_URL", value_name = "URL")]
    smtp_url: Option<String>,
    /// Sender of every mail, e.g. "Acme Scheduling <scheduling@acme.example>".
    #[arg(
        long,
        env = "CONVENE_MAIL_FROM",
        default_value = "Convene <convene@localhost>"
    )]
    mail_from: String,
    /// How often connected calendars (CalDAV, ICS feeds) are read, in seconds.
    #[arg(long, env = "CONVENE_SYNC_INTERVAL_SECS", default_value_t = 60)]
    sync_interval_secs: u64,
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! { _ = ctrl_c => {}, _ = term => {} }
    tracing::info!("shutting down");
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    logging::init(cli.global.log_format);
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => return fail(&anyhow::Error::new(e).context("starting the runtime")),
    };
    match runtime.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => fail(&e),
    }
}

/// A failed command is the user's to fix, so it ends with one line naming
/// the cause, never a stack trace (even with RUST_BACKTRACE set, which
/// `anyhow` would otherwise print).
fn fail(e: &anyhow::Error) -> ExitCode {
    // The store's errors repeat their source in their own message; each
    // cause is shown once.
    let mut parts: Vec<String> = Vec::new();
    for cause in e.chain() {
        let message = cause.to_string();
        if !parts.last().is_some_and(|last| last.contains(&message)) {
            parts.push(message);
        }
    }
    let message = parts.join(": ");
    let one_line = message.split_whitespace().collect::<Vec<_>>().join(" ");
    eprintln!("convene: error: {one_line}");
    ExitCode::FAILURE
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    convene_server::notifications::install_tls();
    let target = database::resolve(
        cli.global.database_url.as_deref(),
        cli.global.data_dir.as_deref(),
    )?;
    match cli.command {
        Command::Serve(args) => serve(args, &target, cli.global.secret_key_file.as_deref()).await,
        command => {
            // Which database a command used is the first thing to check
            // when its result is not where it was expected.
            eprintln!("convene: database {}", target.display());
            let out = match command {
                Command::App { command } => {
                    manage::app(command, &target, cli.global.secret_key_file.as_deref()).await?
                }
                Command::Admin { command } => manage::admin(command, &target).await?,
                Command::Backup { to, force } => backup::backup(&target, &to, force).await?,
                Command::Restore { from, force } => backup::restore(&target, &from, force).await?,
                Command::Serve(_) => unreachable!("handled above"),
            };
            println!("{out}");
            Ok(())
        }
    }
}

async fn serve(args: ServeArgs, target: &Target, key_file: Option<&Path>) -> anyhow::Result<()> {
    let keys = database::key_source(target, key_file)?;
    let explicit = match args.public_url.as_deref().map(str::trim) {
        Some(raw) if !raw.is_empty() => Some((raw.to_string(), public_url::parse(raw)?)),
        _ => None,
    };
    let database = target.open().await?;
    let key = convene_server::load_key(&database, &keys).await?;
    let listener = tokio::net::TcpListener::bind(&args.listen)
        .await
        .with_context(|| format!("listening on {}", args.listen))?;
    let bound = listener.local_addr()?;
    let public_url = match &explicit {
        Some((raw, url)) => {
            if let Some(warning) = public_url::disagreement(url, bound) {
                tracing::warn!("{warning}");
            }
            raw.clone()
        }
        None => {
            let (url, warning) = public_url::derive(bound);
            if let Some(warning) = warning {
                tracing::warn!("{warning}");
            }
            url
        }
    };
    let mut cfg = Config::new(&public_url);
    cfg.data_center = args.data_center;
    cfg.rate_limit_per_minute = args.rate_limit_per_minute;
    cfg.metrics_token = args.metrics_token.filter(|t| !t.is_empty());
    cfg.callback_policy = args.callback_policy;
    cfg.sync_interval_secs = args.sync_interval_secs.max(1);
    cfg.retry_base_ms = args.retry_base_secs.max(0) * 1000;
    cfg.smtp_url = args.smtp_url.filter(|u| !u.trim().is_empty());
    cfg.mail_from = args.mail_from;
    if let Some(url) = &cfg.smtp_url {
        // A mistyped URL or sender fails the start, not every mail later.
        convene_server::mailer::build(url, &cfg.mail_from, cfg.attempt_timeout_ms)?;
    }
    tracing::info!(
        listen = %bound,
        public_url = %cfg.public_url,
        database = %target.display(),
        backend = database.backend(),
        mail = cfg.smtp_url.is_some(),
        "convene serving"
    );
    let state = AppState::new(database.clone(), cfg, key);
    convene_server::serve(listener, state, shutdown_signal()).await?;
    database.close().await;
    Ok(())
}
