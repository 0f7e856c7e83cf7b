//! `convene`: the whole platform in one binary.
#![forbid(unsafe_code)]

use anyhow::Context as _;

/// A request allocates and frees many small objects (JSON values, rows,
/// intervals); mimalloc made the availability endpoint measurably faster
/// than the system allocator (BENCHMARKS.md).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;
use clap::{Args, Parser, Subcommand};
use convene_server::{AppState, Config, Db, ids};

#[derive(Parser)]
#[command(
    name = "convene",
    version,
    about = "Convene: an open-source scheduling platform that speaks Cronofy's API."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Args, Clone)]
struct DbArgs {
    /// Database: `sqlite://PATH` (embedded, the default) or `postgres://USER:PASS@HOST/DB`.
    #[arg(
        long,
        env = "CONVENE_DATABASE_URL",
        default_value = "sqlite://convene.db",
        global = true
    )]
    database_url: String,
}

#[derive(Subcommand)]
enum Command {
    /// Run the HTTP server (migrations run at start).
    Serve {
        /// Address to listen on.
        #[arg(long, env = "CONVENE_LISTEN", default_value = "127.0.0.1:8080")]
        listen: String,
        /// Base of every absolute URL Convene emits (next_page, action URLs, page links).
        #[arg(
            long,
            env = "CONVENE_PUBLIC_URL",
            default_value = "http://127.0.0.1:8080"
        )]
        public_url: String,
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
        #[command(flatten)]
        db: DbArgs,
    },
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
}

#[derive(Subcommand)]
enum AdminCommand {
    /// Add a dashboard admin of an Organizational Unit (created if missing), or
    /// set a new password for an existing one (which signs it out everywhere).
    /// The password is read from stdin, or prompted for when stdin is a terminal.
    /// Prints {"admin_id", "email", "organizational_unit_id"}.
    Add {
        /// The admin's email (the sign-in name).
        #[arg(long)]
        email: String,
        /// Organizational Unit name.
        #[arg(long, default_value = "Default")]
        organizational_unit: String,
        #[command(flatten)]
        db: DbArgs,
    },
}

/// Passwords shorter than this are refused.
const MIN_PASSWORD_CHARS: usize = 8;

/// Reads the password: prompted (without echo) on a terminal, else the first
/// line of stdin, so scripts can pipe it in.
fn read_password() -> anyhow::Result<String> {
    use std::io::{BufRead as _, IsTerminal as _, Write as _};
    let stdin = std::io::stdin();
    let tty = stdin.is_terminal();
    let read_line = || -> anyhow::Result<String> {
        let mut line = String::new();
        stdin.lock().read_line(&mut line)?;
        Ok(line.trim_end_matches(['\n', '\r']).to_string())
    };
    if !tty {
        return read_line();
    }
    // `stty` turns echo off without unsafe terminal calls of our own.
    let stty = |arg: &str| {
        std::process::Command::new("stty")
            .arg(arg)
            .stdin(std::process::Stdio::inherit())
            .status()
            .is_ok_and(|s| s.success())
    };
    let ask = |prompt: &str| -> anyhow::Result<String> {
        eprint!("{prompt}");
        std::io::stderr().flush()?;
        let hidden = stty("-echo");
        let line = read_line();
        if hidden {
            stty("echo");
            eprintln!();
        }
        line
    };
    let first = ask("Password: ")?;
    let again = ask("Repeat the password: ")?;
    anyhow::ensure!(first == again, "the passwords differ");
    Ok(first)
}

#[derive(Subcommand)]
enum AppCommand {
    /// Create an Internal Application linked to an Organizational Unit (created if missing).
    /// Prints {"client_id", "client_secret", "organizational_unit_id"}; the secret is shown once.
    Create {
        /// Application name.
        #[arg(long)]
        name: String,
        /// Organizational Unit name.
        #[arg(long, default_value = "Default")]
        organizational_unit: String,
        #[command(flatten)]
        db: DbArgs,
    },
    /// Set (or clear with --url '') the webhook URL that receives scheduling-request notifications.
    SetWebhook {
        #[arg(long)]
        client_id: String,
        #[arg(long)]
        url: String,
        #[command(flatten)]
        db: DbArgs,
    },
    /// Issue a new client secret (printed once). Old secrets stay valid until --retire-old.
    RotateSecret {
        #[arg(long)]
        client_id: String,
        /// Stop accepting every older secret now.
        #[arg(long)]
        retire_old: bool,
        #[command(flatten)]
        db: DbArgs,
    },
}

fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("CONVENE_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,sqlx=warn"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
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

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    init_tracing();
    convene_server::notifications::install_tls();
    match Cli::parse().command {
        Command::Serve {
            listen,
            public_url,
            data_center,
            callback_policy,
            retry_base_secs,
            rate_limit_per_minute,
            db,
        } => {
            let database = Db::connect(&db.database_url)
                .await
                .context("opening the database")?;
            let mut cfg = Config::new(&public_url);
            cfg.data_center = data_center;
            cfg.rate_limit_per_minute = rate_limit_per_minute;
            cfg.callback_policy = callback_policy;
            cfg.retry_base_ms = retry_base_secs.max(0) * 1000;
            let listener = tokio::net::TcpListener::bind(&listen)
                .await
                .with_context(|| format!("listening on {listen}"))?;
            tracing::info!(listen = %listener.local_addr()?, backend = database.backend(), public_url = %cfg.public_url, "convene serving");
            let state = AppState::new(database.clone(), cfg).await?;
            convene_server::serve(listener, state, shutdown_signal()).await?;
            database.close().await;
        }
        Command::App { command } => app_command(command).await?,
        Command::Admin { command } => admin_command(command).await?,
    }
    Ok(())
}

async fn app_command(command: AppCommand) -> anyhow::Result<()> {
    match command {
        AppCommand::Create {
            name,
            organizational_unit,
            db,
        } => {
            let database = Db::connect(&db.database_url)
                .await
                .context("opening the database")?;
            let key = convene_server::load_key(&database).await?;
            let (app, secret, ou) =
                convene_server::create_application(&database, &key, &name, &organizational_unit)
                    .await?;
            println!(
                "{}",
                serde_json::json!({"client_id": app.id, "client_secret": secret, "organizational_unit_id": ou.id})
            );
            database.close().await;
        }
        AppCommand::SetWebhook { client_id, url, db } => {
            let database = Db::connect(&db.database_url)
                .await
                .context("opening the database")?;
            let url = Some(url).filter(|u| !u.is_empty());
            if let Some(u) = &url {
                convene_server::notifications::check_url(
                    u,
                    convene_server::notifications::CallbackPolicy::Default,
                )
                .map_err(|e| anyhow::anyhow!(e))?;
            }
            anyhow::ensure!(
                database.set_webhook_url(&client_id, url.as_deref()).await?,
                "no application {client_id}"
            );
            println!(
                "{}",
                serde_json::json!({"client_id": client_id, "webhook_url": url})
            );
            database.close().await;
        }
        AppCommand::RotateSecret {
            client_id,
            retire_old,
            db,
        } => {
            let database = Db::connect(&db.database_url)
                .await
                .context("opening the database")?;
            anyhow::ensure!(
                database.application(&client_id).await?.is_some(),
                "no application {client_id}"
            );
            let key = convene_server::load_key(&database).await?;
            let version = database.latest_secret_version(&client_id).await? + 1;
            let secret = key.client_secret(&client_id, version);
            database
                .add_secret(
                    &client_id,
                    version,
                    &ids::digest(&secret),
                    convene_server::now_ms(),
                )
                .await?;
            if retire_old {
                database.retire_secrets_before(&client_id, version).await?;
            }
            println!(
                "{}",
                serde_json::json!({"client_id": client_id, "client_secret": secret, "version": version})
            );
            database.close().await;
        }
    }
    Ok(())
}

async fn admin_command(command: AdminCommand) -> anyhow::Result<()> {
    match command {
        AdminCommand::Add {
            email,
            organizational_unit,
            db,
        } => {
            let email = email.trim().to_lowercase();
            anyhow::ensure!(
                email.contains('@') && !email.contains(char::is_whitespace),
                "--email must be an email address"
            );
            anyhow::ensure!(
                !organizational_unit.trim().is_empty(),
                "--organizational-unit must not be blank"
            );
            let password = read_password()?;
            anyhow::ensure!(
                password.chars().count() >= MIN_PASSWORD_CHARS,
                "the password must have at least {MIN_PASSWORD_CHARS} characters"
            );
            let hash = convene_server::pages::admin_auth::hash_password(password).await?;
            let database = Db::connect(&db.database_url)
                .await
                .context("opening the database")?;
            let now = convene_server::now_ms();
            let ou = database
                .ensure_org_unit(&ids::new_id("ou"), organizational_unit.trim(), now)
                .await?;
            let admin = database
                .upsert_admin(&convene_store::admins::Admin {
                    id: ids::new_id("adm"),
                    email,
                    organizational_unit_id: ou.id.clone(),
                    password_hash: hash,
                    created_ms: now,
                    updated_ms: now,
                })
                .await?;
            println!(
                "{}",
                serde_json::json!({"admin_id": admin.id, "email": admin.email, "organizational_unit_id": ou.id})
            );
            database.close().await;
        }
    }
    Ok(())
}
