//! `convene backup` and `convene restore` for SQLite databases.
//!
//! Copying the database file of a running server is not a backup: recent
//! transactions live in the `-wal` file, and a copy taken mid-write can be
//! torn. The backup is SQLite's `VACUUM INTO`, one consistent snapshot taken
//! while the server keeps serving. A restore replaces the file, so it must
//! never happen under a running server, which would keep writing to the
//! replaced file and lose everything it wrote.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context as _, bail};
use sqlx::Connection as _;

use crate::database::Target;

pub async fn backup(target: &Target, to: &Path, force: bool) -> anyhow::Result<serde_json::Value> {
    let source = target.sqlite_path("backup")?;
    if !source.is_file() {
        bail!("no database at {}: nothing to back up", source.display());
    }
    let to = std::path::absolute(to)?;
    if same_file(source, &to) {
        bail!("--to {} is the database itself", to.display());
    }
    if to.exists() && !force {
        bail!("{} exists; pass --force to replace it", to.display());
    }
    let dir = parent(&to);
    if !dir.is_dir() {
        bail!(
            "cannot write {}: directory {} does not exist",
            to.display(),
            dir.display()
        );
    }
    // The snapshot is written beside the destination and renamed into place,
    // so an interrupted backup never leaves a truncated file under its name.
    let partial = sibling(&to, &format!("partial-{}", std::process::id()));
    remove_if_present(&partial)?;
    let partial_str = partial
        .to_str()
        .with_context(|| format!("{} is not valid UTF-8", partial.display()))?;
    let db = target.open().await?;
    let written = db.backup_into(partial_str).await;
    db.close().await;
    if let Err(e) = written {
        let _ = std::fs::remove_file(&partial);
        return Err(e).with_context(|| format!("writing the backup {}", to.display()));
    }
    // Like the database, a backup holds the instance key: owner-only.
    #[cfg(unix)]
    std::fs::set_permissions(
        &partial,
        std::os::unix::fs::PermissionsExt::from_mode(0o600),
    )
    .with_context(|| format!("restricting {}", partial.display()))?;
    std::fs::File::open(&partial)
        .and_then(|f| f.sync_all())
        .with_context(|| format!("syncing {}", partial.display()))?;
    std::fs::rename(&partial, &to)
        .with_context(|| format!("moving the backup to {}", to.display()))?;
    sync_dir(dir);
    let bytes = std::fs::metadata(&to).map(|m| m.len()).unwrap_or(0);
    Ok(serde_json::json!({"backup": to, "database": source, "bytes": bytes}))
}

pub async fn restore(
    target: &Target,
    from: &Path,
    force: bool,
) -> anyhow::Result<serde_json::Value> {
    let db_path = target.sqlite_path("restore")?.to_path_buf();
    let from = std::path::absolute(from)?;
    if !from.is_file() {
        bail!("no backup at {}", from.display());
    }
    if same_file(&from, &db_path) {
        bail!("--from {} is the database itself", from.display());
    }
    check_backup(&from).await?;
    target.ensure_data_dir()?;
    let dir = parent(&db_path);
    if !dir.is_dir() {
        bail!(
            "cannot restore into {}: directory {} does not exist",
            db_path.display(),
            dir.display()
        );
    }
    if db_path.exists() {
        if !force {
            bail!(
                "database {} exists; pass --force to replace it (after stopping every `convene serve` that uses it)",
                db_path.display()
            );
        }
        if in_use(&db_path).await? {
            bail!(
                "database {} is in use (is `convene serve` running on it?): stop it before restoring",
                db_path.display()
            );
        }
    }
    let incoming = sibling(&db_path, &format!("restoring-{}", std::process::id()));
    remove_if_present(&incoming)?;
    std::fs::copy(&from, &incoming)
        .with_context(|| format!("copying {} to {}", from.display(), incoming.display()))?;
    std::fs::File::open(&incoming)
        .and_then(|f| f.sync_all())
        .with_context(|| format!("syncing {}", incoming.display()))?;
    // A journal left by the old database would be replayed into the new one
    // (SQLite cannot tell they belong to another file): they go first.
    for suffix in ["wal", "shm", "journal"] {
        remove_if_present(&sibling_raw(&db_path, suffix))?;
    }
    std::fs::rename(&incoming, &db_path)
        .with_context(|| format!("moving the restored database to {}", db_path.display()))?;
    sync_dir(dir);
    // Opening runs the migrations, so a backup from an older version is
    // brought up to this one now rather than at the next start.
    let db = target.open().await?;
    db.close().await;
    Ok(serde_json::json!({"database": db_path, "restored_from": from}))
}

/// A backup must be an intact SQLite file with Convene's migrations table;
/// it is opened read-only so that checking it cannot change it.
async fn check_backup(path: &Path) -> anyhow::Result<()> {
    let opts = sqlx::sqlite::SqliteConnectOptions::new()
        .filename(path)
        .read_only(true);
    let not_a_backup = |e: &dyn std::fmt::Display| {
        anyhow::anyhow!("{} is not a Convene backup: {e}", path.display())
    };
    let mut conn = sqlx::SqliteConnection::connect_with(&opts)
        .await
        .map_err(|e| not_a_backup(&e))?;
    let check: Result<(String, i64), sqlx::Error> = async {
        let (ok,): (String,) = sqlx::query_as("PRAGMA quick_check")
            .fetch_one(&mut conn)
            .await?;
        let (n,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM _sqlx_migrations")
            .fetch_one(&mut conn)
            .await?;
        Ok((ok, n))
    }
    .await;
    let _ = conn.close().await;
    match check {
        Ok((ok, n)) if ok == "ok" && n > 0 => Ok(()),
        Ok((ok, _)) if ok != "ok" => Err(not_a_backup(&format!("integrity check: {ok}"))),
        Ok(_) => Err(not_a_backup(&"no migrations recorded")),
        Err(e) => Err(not_a_backup(&e)),
    }
}

/// Whether another connection has the database open. Leaving WAL mode needs
/// every other connection closed, and fails at once (no busy wait) when one
/// is open; a running server always has one, since its notification worker
/// polls the database. The database is about to be replaced, so changing
/// its journal mode costs nothing.
async fn in_use(path: &Path) -> anyhow::Result<bool> {
    let opts = sqlx::sqlite::SqliteConnectOptions::new()
        .filename(path)
        .busy_timeout(Duration::ZERO);
    let mut conn = match sqlx::SqliteConnection::connect_with(&opts).await {
        Ok(c) => c,
        Err(e) if busy(&e) => return Ok(true),
        // An unreadable or damaged file is what --force replaces.
        Err(_) => return Ok(false),
    };
    let probe = sqlx::query("PRAGMA journal_mode = DELETE")
        .execute(&mut conn)
        .await;
    let _ = conn.close().await;
    Ok(matches!(probe, Err(e) if busy(&e)))
}

fn busy(e: &sqlx::Error) -> bool {
    const SQLITE_BUSY: i64 = 5;
    const SQLITE_LOCKED: i64 = 6;
    match e {
        sqlx::Error::Database(d) => d
            .code()
            .and_then(|c| c.parse::<i64>().ok())
            // Extended codes keep the primary code in the low byte.
            .is_some_and(|c| matches!(c & 0xff, SQLITE_BUSY | SQLITE_LOCKED)),
        _ => false,
    }
}

fn parent(path: &Path) -> &Path {
    match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    }
}

/// `FILE.convene-TAG`, in the same directory so a rename is atomic.
fn sibling(path: &Path, tag: &str) -> PathBuf {
    sibling_raw(path, &format!("convene-{tag}"))
}

/// `FILE-SUFFIX`, as SQLite names its companions (`-wal`, `-shm`).
fn sibling_raw(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push("-");
    name.push(suffix);
    PathBuf::from(name)
}

fn remove_if_present(path: &Path) -> anyhow::Result<()> {
    match std::fs::remove_file(path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
            Err(e).with_context(|| format!("removing {}", path.display()))
        }
        _ => Ok(()),
    }
}

fn same_file(a: &Path, b: &Path) -> bool {
    match (a.canonicalize(), b.canonicalize()) {
        (Ok(a), Ok(b)) => a == b,
        _ => a == b,
    }
}

/// Makes a rename durable; best effort, as not every filesystem allows
/// opening a directory.
fn sync_dir(dir: &Path) {
    if let Ok(d) = std::fs::File::open(dir) {
        let _ = d.sync_all();
    }
}
