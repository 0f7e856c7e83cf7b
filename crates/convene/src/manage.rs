//! `convene app …` and `convene admin …`: what an operator does outside the
//! API. Each prints one JSON object on stdout, for scripts and `jq`.

use clap::Subcommand;
use convene_server::ids;
use serde_json::{Value, json};

use crate::database::Target;

#[derive(Subcommand)]
pub enum AppCommand {
    /// Create an Internal Application linked to an Organizational Unit (created if missing).
    /// Prints {"client_id", "client_secret", "organizational_unit_id"}; the secret is shown once.
    Create {
        /// Application name.
        #[arg(long)]
        name: String,
        /// Organizational Unit name.
        #[arg(long, default_value = "Default")]
        organizational_unit: String,
        /// Where /oauth/authorize may send people back to (repeatable).
        #[arg(long = "redirect-uri")]
        redirect_uris: Vec<String>,
    },
    /// Set the redirect URIs /oauth/authorize accepts for an application
    /// (replacing the previous ones; none clears them).
    /// Prints {"client_id", "redirect_uris"}.
    SetRedirectUri {
        /// The application's client_id (`convene app list` shows them).
        #[arg(long)]
        client_id: String,
        /// An absolute http(s) URL (repeatable).
        #[arg(long = "redirect-uri")]
        redirect_uris: Vec<String>,
    },
    /// List every application (never their secrets).
    /// Prints {"applications": [{"client_id", "name", "organizational_unit", …}]}.
    List,
    /// Set (or clear with --url '') the webhook URL that receives scheduling-request notifications.
    SetWebhook {
        /// The application's client_id (`convene app list` shows them).
        #[arg(long)]
        client_id: String,
        /// The webhook URL, http:// or https://; '' removes it.
        #[arg(long)]
        url: String,
    },
    /// Issue a new client secret (printed once). Old secrets stay valid until --retire-old.
    RotateSecret {
        /// The application's client_id (`convene app list` shows them).
        #[arg(long)]
        client_id: String,
        /// Stop accepting every older secret now.
        #[arg(long)]
        retire_old: bool,
    },
}

#[derive(Subcommand)]
pub enum AdminCommand {
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
    },
    /// List every dashboard admin. Prints {"admins": [{"admin_id", "email", "organizational_unit", …}]}.
    List,
    /// Remove a dashboard admin, signing it out everywhere.
    Remove {
        /// The admin's email.
        #[arg(long)]
        email: String,
    },
}

/// Redirect URIs are absolute http(s) URLs without a fragment (RFC 6749
/// §3.1.2).
fn check_redirect_uris(uris: &[String]) -> anyhow::Result<()> {
    for u in uris {
        let parsed = url::Url::parse(u)
            .map_err(|_| anyhow::anyhow!("--redirect-uri {u:?} is not an absolute URL"))?;
        anyhow::ensure!(
            matches!(parsed.scheme(), "http" | "https") && parsed.fragment().is_none(),
            "--redirect-uri {u:?} must be http(s) and have no #fragment"
        );
    }
    Ok(())
}

/// Passwords shorter than this are refused.
const MIN_PASSWORD_CHARS: usize = 8;

pub async fn app(
    command: AppCommand,
    target: &Target,
    key_file: Option<&std::path::Path>,
) -> anyhow::Result<Value> {
    let database = target.open().await?;
    let out = match command {
        AppCommand::Create {
            name,
            organizational_unit,
            redirect_uris,
        } => {
            check_redirect_uris(&redirect_uris)?;
            anyhow::ensure!(!name.trim().is_empty(), "--name must not be blank");
            anyhow::ensure!(
                !organizational_unit.trim().is_empty(),
                "--organizational-unit must not be blank"
            );
            let key = convene_server::load_key(
                &database,
                &crate::database::key_source(target, key_file)?,
            )
            .await?;
            let (app, secret, ou) = convene_server::create_application(
                &database,
                &key,
                name.trim(),
                organizational_unit.trim(),
            )
            .await?;
            database
                .set_redirect_uris(&app.id, &redirect_uris, convene_server::now_ms())
                .await?;
            json!({"client_id": app.id, "client_secret": secret, "organizational_unit_id": ou.id, "redirect_uris": redirect_uris})
        }
        AppCommand::SetRedirectUri {
            client_id,
            redirect_uris,
        } => {
            check_redirect_uris(&redirect_uris)?;
            anyhow::ensure!(
                database.application(&client_id).await?.is_some(),
                "no application {client_id} in this database (`convene app list` shows them)"
            );
            database
                .set_redirect_uris(&client_id, &redirect_uris, convene_server::now_ms())
                .await?;
            json!({"client_id": client_id, "redirect_uris": redirect_uris})
        }
        AppCommand::List => {
            let apps = database.list_applications().await?;
            let apps: Vec<Value> = apps
                .into_iter()
                .map(|a| {
                    json!({
                        "client_id": a.id,
                        "name": a.name,
                        "organizational_unit_id": a.organizational_unit_id,
                        "organizational_unit": a.organizational_unit,
                        "webhook_url": a.webhook_url,
                        "active_secrets": a.active_secrets,
                        "created": convene_server::time::fmt_ms(a.created_ms),
                    })
                })
                .collect();
            json!({ "applications": apps })
        }
        AppCommand::SetWebhook { client_id, url } => {
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
                "no application {client_id} in this database (`convene app list` shows them)"
            );
            json!({"client_id": client_id, "webhook_url": url})
        }
        AppCommand::RotateSecret {
            client_id,
            retire_old,
        } => {
            anyhow::ensure!(
                database.application(&client_id).await?.is_some(),
                "no application {client_id} in this database (`convene app list` shows them)"
            );
            let key = convene_server::load_key(
                &database,
                &crate::database::key_source(target, key_file)?,
            )
            .await?;
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
            json!({"client_id": client_id, "client_secret": secret, "version": version})
        }
    };
    database.close().await;
    Ok(out)
}

pub async fn admin(command: AdminCommand, target: &Target) -> anyhow::Result<Value> {
    match command {
        AdminCommand::Add {
            email,
            organizational_unit,
        } => {
            let email = normalise_email(&email)?;
            anyhow::ensure!(
                !organizational_unit.trim().is_empty(),
                "--organizational-unit must not be blank"
            );
            // The database is opened only once the password is in hand, so
            // a slow typist does not hold a connection.
            let password = read_password()?;
            anyhow::ensure!(
                password.chars().count() >= MIN_PASSWORD_CHARS,
                "the password must have at least {MIN_PASSWORD_CHARS} characters"
            );
            let hash = convene_server::pages::admin_auth::hash_password(password).await?;
            let database = target.open().await?;
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
            database.close().await;
            Ok(json!({"admin_id": admin.id, "email": admin.email, "organizational_unit_id": ou.id}))
        }
        AdminCommand::List => {
            let database = target.open().await?;
            let admins = database.list_admins().await?;
            database.close().await;
            let admins: Vec<Value> = admins
                .into_iter()
                .map(|a| {
                    json!({
                        "admin_id": a.id,
                        "email": a.email,
                        "organizational_unit_id": a.organizational_unit_id,
                        "organizational_unit": a.organizational_unit,
                        "created": convene_server::time::fmt_ms(a.created_ms),
                    })
                })
                .collect();
            Ok(json!({ "admins": admins }))
        }
        AdminCommand::Remove { email } => {
            let email = normalise_email(&email)?;
            let database = target.open().await?;
            let removed = remove_admin(&database, &email).await;
            database.close().await;
            let (removed, sessions) = removed?;
            anyhow::ensure!(
                removed,
                "no admin {email} in this database (`convene admin list` shows them)"
            );
            Ok(json!({"removed": email, "sessions_ended": sessions}))
        }
    }
}

/// Sessions go first, since they reference the admin. A sign-in landing
/// between the two deletes makes the second fail on that reference, so the
/// pair is tried again a few times.
async fn remove_admin(database: &convene_server::Db, email: &str) -> anyhow::Result<(bool, u64)> {
    let mut sessions = 0;
    let mut attempt = 0;
    loop {
        sessions += database.delete_admin_sessions_by_email(email).await?;
        match database.delete_admin_by_email(email).await {
            Ok(removed) => return Ok((removed, sessions)),
            Err(convene_store::StoreError::Sqlx(sqlx::Error::Database(e)))
                if e.is_foreign_key_violation() && attempt < 3 =>
            {
                attempt += 1;
            }
            Err(e) => return Err(e.into()),
        }
    }
}

/// Emails are stored lower-cased; this is the one spelling looked up.
fn normalise_email(email: &str) -> anyhow::Result<String> {
    let email = email.trim().to_lowercase();
    anyhow::ensure!(
        email.contains('@') && !email.contains(char::is_whitespace),
        "--email must be an email address"
    );
    Ok(email)
}

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
