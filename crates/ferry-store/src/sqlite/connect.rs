//! Opening SQLite: the pragmas that make it durable, and the pools.

use crate::error::StoreError;
use sqlx::pool::PoolConnection;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{Row, Sqlite, SqlitePool};
use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

/// The store's file name inside Ferry's data directory.
pub const DEFAULT_FILE_NAME: &str = "ferry.db";

/// How hard a commit works to survive a power cut (a crash of the process is survived
/// either way: WAL commits are atomic).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Durability {
    /// `synchronous=FULL`: each commit is fsynced to the WAL before it returns, so a job the
    /// server acknowledged, and money it booked, survive losing power a moment later.
    /// NORMAL in WAL mode only syncs at checkpoints and may lose the last commits then.
    #[default]
    Full,
    /// `synchronous=NORMAL`: faster commits; the latest ones can be lost to a power cut
    /// (never to a crash of the process). For throwaway stores and comparisons.
    Normal,
}

#[derive(Debug, Clone)]
pub struct SqliteOptions {
    pub durability: Durability,
    /// How long to wait for another process holding the write lock.
    pub busy_timeout: Duration,
    /// Connections for reads.
    pub readers: u32,
}

impl Default for SqliteOptions {
    fn default() -> Self {
        SqliteOptions {
            durability: Durability::Full,
            busy_timeout: Duration::from_secs(10),
            readers: 4,
        }
    }
}

pub async fn file(
    path: &Path,
    options: &SqliteOptions,
) -> Result<(SqlitePool, SqlitePool), StoreError> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|source| StoreError::Io {
            path: dir.to_path_buf(),
            source,
        })?;
    }
    let synchronous = match options.durability {
        Durability::Full => SqliteSynchronous::Full,
        Durability::Normal => SqliteSynchronous::Normal,
    };
    let connect = SqliteConnectOptions::new()
        .filename(path)
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(synchronous)
        .foreign_keys(true)
        .busy_timeout(options.busy_timeout);
    let op = || format!("open {}", path.display());
    // The writer opens first, alone, so that the file and WAL mode exist before any reader.
    let writer = SqlitePoolOptions::new()
        .max_connections(1)
        .min_connections(1)
        .acquire_timeout(options.busy_timeout + Duration::from_secs(20))
        .connect_with(connect.clone())
        .await
        .map_err(|e| StoreError::db(op(), e))?;
    let reader = SqlitePoolOptions::new()
        .max_connections(options.readers.max(1))
        .connect_with(connect.read_only(true))
        .await
        .map_err(|e| StoreError::db(op(), e))?;
    Ok((writer, reader))
}

pub async fn memory() -> Result<SqlitePool, StoreError> {
    let op = || "open an in-memory store".to_string();
    let connect = SqliteConnectOptions::from_str("sqlite::memory:")
        .map_err(|e| StoreError::db(op(), e))?
        .foreign_keys(true);
    // One connection that never closes: the database lives exactly as long as it does.
    SqlitePoolOptions::new()
        .max_connections(1)
        .min_connections(1)
        .idle_timeout(None)
        .max_lifetime(None)
        .connect_with(connect)
        .await
        .map_err(|e| StoreError::db(op(), e))
}

pub async fn acquire(
    pool: &SqlitePool,
    op: impl FnOnce() -> String,
) -> Result<PoolConnection<Sqlite>, StoreError> {
    pool.acquire().await.map_err(|e| StoreError::db(op(), e))
}

pub async fn check(pool: &SqlitePool) -> Result<Vec<String>, StoreError> {
    let op = || "check the database".to_string();
    let mut conn = acquire(pool, op).await?;
    let mut problems = Vec::new();
    for row in sqlx::query("PRAGMA integrity_check")
        .fetch_all(&mut *conn)
        .await
        .map_err(|e| StoreError::db(op(), e))?
    {
        let line: String = row.try_get(0).map_err(|e| StoreError::db(op(), e))?;
        if line != "ok" {
            problems.push(line);
        }
    }
    for row in sqlx::query("PRAGMA foreign_key_check")
        .fetch_all(&mut *conn)
        .await
        .map_err(|e| StoreError::db(op(), e))?
    {
        let table: String = row.try_get(0).map_err(|e| StoreError::db(op(), e))?;
        let rowid: Option<i64> = row.try_get(1).map_err(|e| StoreError::db(op(), e))?;
        let parent: String = row.try_get(2).map_err(|e| StoreError::db(op(), e))?;
        problems.push(format!(
            "{table} row {} points at a missing {parent}",
            rowid.map_or_else(|| "?".into(), |r| r.to_string())
        ));
    }
    Ok(problems)
}
