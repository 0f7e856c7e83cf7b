//! Which database a command uses, and opening it with errors a person can act
//! on. The server and every management command resolve the same default (a
//! file in the data directory, not the working directory), so running them
//! from different directories cannot silently split the data in two.

use std::path::{Path, PathBuf};
use std::str::FromStr as _;
use std::time::Duration;

use anyhow::{Context as _, bail};
use convene_server::Db;
use sqlx::Connection as _;

/// How long the first PostgreSQL connection may take. The pool itself waits
/// 30 s and retries refused connections, which looks like a hang and ends in
/// an unhelpful "pool timed out"; one plain connection first fails fast.
const PG_CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// The database a command will use.
#[derive(Clone, Debug)]
pub enum Target {
    /// An SQLite file. `in_data_dir` is set when the path is the default, whose
    /// directory Convene may create.
    Sqlite {
        path: PathBuf,
        in_data_dir: bool,
    },
    /// `sqlite::memory:` (tests and experiments; gone at exit).
    Memory,
    Postgres {
        url: String,
    },
}

/// Resolves `--database-url`, else `sqlite://<data dir>/convene.db`.
pub fn resolve(database_url: Option<&str>, data_dir: Option<&Path>) -> anyhow::Result<Target> {
    if let Some(url) = database_url.filter(|u| !u.trim().is_empty()) {
        if let Some(rest) = url
            .strip_prefix("sqlite://")
            .or_else(|| url.strip_prefix("sqlite:"))
        {
            if rest.is_empty() || rest == ":memory:" {
                return Ok(Target::Memory);
            }
            let path = std::path::absolute(rest)
                .with_context(|| format!("resolving the SQLite path {rest}"))?;
            return Ok(Target::Sqlite {
                path,
                in_data_dir: false,
            });
        }
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            return Ok(Target::Postgres {
                url: url.to_string(),
            });
        }
        bail!("--database-url must be sqlite://PATH or postgres://USER:PASS@HOST/DB, not {url:?}");
    }
    Ok(Target::Sqlite {
        path: data_dir_or_default(data_dir)?.join("convene.db"),
        in_data_dir: true,
    })
}

/// `--data-dir`, else `$XDG_DATA_HOME/convene`, else `~/.local/share/convene`.
pub fn data_dir_or_default(data_dir: Option<&Path>) -> anyhow::Result<PathBuf> {
    if let Some(dir) = data_dir.filter(|d| !d.as_os_str().is_empty()) {
        return std::path::absolute(dir)
            .with_context(|| format!("resolving the data directory {}", dir.display()));
    }
    let env_dir = |name: &str| {
        std::env::var_os(name)
            .map(PathBuf::from)
            // The XDG specification says relative values are to be ignored.
            .filter(|p| p.is_absolute())
    };
    if let Some(xdg) = env_dir("XDG_DATA_HOME") {
        return Ok(xdg.join("convene"));
    }
    if let Some(home) = env_dir("HOME") {
        return Ok(home.join(".local/share/convene"));
    }
    bail!("no data directory: set --data-dir (CONVENE_DATA_DIR), XDG_DATA_HOME or HOME")
}

impl Target {
    /// The URL handed to the store.
    pub fn url(&self) -> String {
        match self {
            Target::Sqlite { path, .. } => format!("sqlite://{}", path.display()),
            Target::Memory => "sqlite::memory:".into(),
            Target::Postgres { url } => url.clone(),
        }
    }

    /// The URL as shown to people and logs: without a password.
    pub fn display(&self) -> String {
        match self {
            Target::Postgres { url } => match url::Url::parse(url) {
                Ok(mut u) => {
                    if u.password().is_some() {
                        let _ = u.set_password(Some("***"));
                    }
                    // libpq also takes `?password=` (and `sslpassword=`).
                    let pairs: Vec<(String, String)> = u
                        .query_pairs()
                        .map(|(k, v)| {
                            let v = if k.contains("password") {
                                "***".into()
                            } else {
                                v.into_owned()
                            };
                            (k.into_owned(), v)
                        })
                        .collect();
                    if !pairs.is_empty() {
                        u.query_pairs_mut().clear().extend_pairs(pairs);
                    }
                    u.to_string()
                }
                Err(_) => "postgres://(unparsable URL)".into(),
            },
            other => other.url(),
        }
    }

    /// The SQLite file, for the commands that only make sense on one.
    pub fn sqlite_path(&self, what: &str) -> anyhow::Result<&Path> {
        match self {
            Target::Sqlite { path, .. } => Ok(path),
            Target::Memory => bail!("{what} needs a database file, not sqlite::memory:"),
            Target::Postgres { .. } => bail!(
                "{what} works on SQLite databases; for PostgreSQL use pg_dump and pg_restore (see README, \"Backups\")"
            ),
        }
    }

    /// Creates the default data directory when it is the one in use, so a
    /// first run works without setup; a path the user chose is never created.
    pub fn ensure_data_dir(&self) -> anyhow::Result<()> {
        if let Target::Sqlite {
            path,
            in_data_dir: true,
        } = self
            && let Some(dir) = path.parent()
        {
            create_private_dir(dir)
                .with_context(|| format!("creating the data directory {}", dir.display()))?;
        }
        Ok(())
    }

    /// Opens the database (running migrations), after checks that turn the
    /// usual mistakes into messages naming the path or host.
    pub async fn open(&self) -> anyhow::Result<Db> {
        match self {
            Target::Sqlite { path, .. } => {
                self.ensure_data_dir()?;
                check_sqlite_path(path)?;
                Db::connect(&self.url())
                    .await
                    .with_context(|| format!("opening the SQLite database {}", path.display()))
            }
            Target::Memory => Ok(Db::connect(&self.url()).await?),
            Target::Postgres { url } => {
                let place = probe_postgres(url).await?;
                Db::connect(url)
                    .await
                    .with_context(|| format!("opening the PostgreSQL database {place}"))
            }
        }
    }
}

/// SQLite's own error for a bad path is "unable to open database file",
/// without the path; this names it and the reason.
fn check_sqlite_path(path: &Path) -> anyhow::Result<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    if !dir.is_dir() {
        bail!(
            "cannot open the SQLite database {}: directory {} does not exist",
            path.display(),
            dir.display()
        );
    }
    // Opening for writing (creating it as SQLite would) surfaces permission
    // problems and "is a directory" with the operating system's words.
    std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(path)
        .map_err(|e| anyhow::anyhow!("cannot open the SQLite database {}: {e}", path.display()))?;
    Ok(())
}

/// Tries one plain connection with a short timeout; answers where the
/// database is (host:port/db, never the password) for later messages.
async fn probe_postgres(url: &str) -> anyhow::Result<String> {
    let opts = sqlx::postgres::PgConnectOptions::from_str(url)
        .map_err(|e| anyhow::anyhow!("invalid PostgreSQL URL: {e}"))?;
    let server = match opts.get_socket() {
        Some(socket) => socket.display().to_string(),
        None => format!("{}:{}", opts.get_host(), opts.get_port()),
    };
    let place = format!(
        "{}/{} at {server}",
        opts.get_username(),
        opts.get_database().unwrap_or(opts.get_username())
    );
    match tokio::time::timeout(PG_CONNECT_TIMEOUT, sqlx::PgConnection::connect_with(&opts)).await {
        Err(_) => bail!(
            "cannot reach PostgreSQL at {server}: no answer within {} s",
            PG_CONNECT_TIMEOUT.as_secs()
        ),
        Ok(Err(e)) => bail!("cannot connect to PostgreSQL {place}: {e}"),
        Ok(Ok(conn)) => {
            let _ = conn.close().await;
            Ok(place)
        }
    }
}

/// Where the instance key is: `CONVENE_SECRET_KEY`, else `--secret-key-file`,
/// else beside the SQLite file (`convene.db` → `convene.key`). PostgreSQL has
/// no file beside it, so a deployment there must say where the key is:
/// replicas share it, and it must not live in the database.
pub fn key_source(
    target: &Target,
    key_file: Option<&Path>,
) -> anyhow::Result<convene_server::KeySource> {
    use convene_server::KeySource;
    if let Ok(v) = std::env::var("CONVENE_SECRET_KEY")
        && !v.trim().is_empty()
    {
        return Ok(KeySource::Value(v));
    }
    if let Some(f) = key_file.filter(|f| !f.as_os_str().is_empty()) {
        return Ok(KeySource::File(f.to_path_buf()));
    }
    match target {
        Target::Sqlite { path, .. } => Ok(KeySource::File(path.with_extension("key"))),
        // Gone at exit like the database itself.
        Target::Memory => Ok(KeySource::Value(convene_server::ids::new_secret())),
        Target::Postgres { .. } => bail!(
            "PostgreSQL needs the instance key outside the database: set CONVENE_SECRET_KEY or --secret-key-file (the same for every replica)"
        ),
    }
}

/// The data directory holds the instance key file (unless the key is set
/// elsewhere), from which every client secret derives: a directory Convene
/// creates for it is its owner's alone. Parents are created as usual.
fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    if dir.is_dir() {
        return Ok(());
    }
    if let Some(parent) = dir.parent() {
        std::fs::create_dir_all(parent)?;
    }
    let mut builder = std::fs::DirBuilder::new();
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    match builder.create(dir) {
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_are_never_displayed() {
        let shown = |url: &str| {
            Target::Postgres {
                url: url.to_string(),
            }
            .display()
        };
        assert_eq!(
            shown("postgres://convene:hunter2@db.example.com:5433/convene"),
            "postgres://convene:***@db.example.com:5433/convene"
        );
        let with_query = shown("postgres://convene@db/convene?sslmode=require&password=hunter2");
        assert!(!with_query.contains("hunter2"), "{with_query}");
        assert!(with_query.contains("sslmode=require"), "{with_query}");
    }

    #[test]
    fn an_explicit_url_wins_over_the_data_directory() {
        let dir = Path::new("/srv/convene");
        match resolve(None, Some(dir)).unwrap() {
            Target::Sqlite { path, in_data_dir } => {
                assert_eq!(path, dir.join("convene.db"));
                assert!(in_data_dir);
            }
            other => panic!("{other:?}"),
        }
        match resolve(Some("sqlite:///var/lib/x.db"), Some(dir)).unwrap() {
            Target::Sqlite { path, in_data_dir } => {
                assert_eq!(path, Path::new("/var/lib/x.db"));
                assert!(!in_data_dir);
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            resolve(Some("sqlite::memory:"), None).unwrap(),
            Target::Memory
        ));
        assert!(resolve(Some("mysql://x"), None).is_err());
    }
}
