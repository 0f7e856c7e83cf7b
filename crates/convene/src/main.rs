//! `convene`: the whole platform in one binary.
#![forbid(unsafe_code)]

use anyhow::Context as _;
use clap::{Args, Parser, Subcommand};
use convene_server::{AppState, Config, Db, ids};
use convene_store::Application;

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
        #[command(flatten)]
        db: DbArgs,
    },
    /// Manage applications.
    App {
        #[command(subcommand)]
        command: AppCommand,
    },
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
    match Cli::parse().command {
        Command::Serve {
            listen,
            public_url,
            data_center,
            db,
        } => {
            let database = Db::connect(&db.database_url)
                .await
                .context("opening the database")?;
            let mut cfg = Config::new(&public_url);
            cfg.data_center = data_center;
            let listener = tokio::net::TcpListener::bind(&listen)
                .await
                .with_context(|| format!("listening on {listen}"))?;
            tracing::info!(listen = %listener.local_addr()?, backend = database.backend(), public_url = %cfg.public_url, "convene serving");
            let state = AppState {
                db: database.clone(),
                cfg: Arc::new(cfg),
            };
            convene_server::serve(listener, state, shutdown_signal()).await?;
            database.close().await;
        }
        Command::App {
            command:
                AppCommand::Create {
                    name,
                    organizational_unit,
                    db,
                },
        } => {
            let database = Db::connect(&db.database_url)
                .await
                .context("opening the database")?;
            let secret = ids::new_secret();
            let app = Application {
                id: ids::new_id("cid"),
                name,
                organizational_unit_id: String::new(),
                webhook_url: None,
            };
            let ou = database
                .create_application(
                    &ids::new_id("ou"),
                    &organizational_unit,
                    &app,
                    &ids::digest(&secret),
                    convene_server::now_ms(),
                )
                .await?;
            println!(
                "{}",
                serde_json::json!({"client_id": app.id, "client_secret": secret, "organizational_unit_id": ou.id})
            );
            database.close().await;
        }
    }
    Ok(())
}
