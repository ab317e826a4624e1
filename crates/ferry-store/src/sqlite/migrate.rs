//! Versioned migrations: each applied once, in its own transaction, recorded in
//! `schema_version`. A file from a newer ferry is refused rather than misread.

use crate::error::StoreError;
use sqlx::{Connection, SqlitePool};

struct Migration {
    version: i64,
    description: &'static str,
    sql: &'static str,
}

/// Append only: a released migration is never edited, a change is a new one.
const MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        description: "jobs, job events, allocations, ledger",
        sql: include_str!("../../migrations/0001_init.sql"),
    },
    Migration {
        version: 2,
        description: "attempts, ledger per attempt, install mark",
        sql: include_str!("../../migrations/0002_attempts.sql"),
    },
    Migration {
        version: 3,
        description: "job row versions",
        sql: include_str!("../../migrations/0003_job_versions.sql"),
    },
];

/// The schema version this code writes and understands.
pub const SCHEMA_VERSION: i64 = MIGRATIONS[MIGRATIONS.len() - 1].version;

const CREATE_VERSIONS: &str = "CREATE TABLE IF NOT EXISTS schema_version (
    version     INTEGER PRIMARY KEY NOT NULL,
    applied_at  INTEGER NOT NULL,
    description TEXT NOT NULL
) STRICT";

const CURRENT: &str = "SELECT COALESCE(MAX(version), 0) FROM schema_version";

pub async fn run(pool: &SqlitePool, label: &str, now_ms: i64) -> Result<(), StoreError> {
    let op = |what: &str| format!("migrate {label}: {what}");
    let mut conn = pool
        .acquire()
        .await
        .map_err(|e| StoreError::db(op("connect"), e))?;
    sqlx::query(CREATE_VERSIONS)
        .execute(&mut *conn)
        .await
        .map_err(|e| StoreError::db(op("create schema_version"), e))?;
    let found: i64 = sqlx::query_scalar(CURRENT)
        .fetch_one(&mut *conn)
        .await
        .map_err(|e| StoreError::db(op("read the schema version"), e))?;
    refuse_newer(label, found)?;
    for m in MIGRATIONS.iter().filter(|m| m.version > found) {
        let what = format!("version {} ({})", m.version, m.description);
        let mut tx = conn
            .begin_with("BEGIN IMMEDIATE")
            .await
            .map_err(|e| StoreError::db(op(&what), e))?;
        // Another process may have migrated while we waited for the lock.
        let now_found: i64 = sqlx::query_scalar(CURRENT)
            .fetch_one(&mut *tx)
            .await
            .map_err(|e| StoreError::db(op(&what), e))?;
        refuse_newer(label, now_found)?;
        if now_found >= m.version {
            continue;
        }
        sqlx::raw_sql(m.sql)
            .execute(&mut *tx)
            .await
            .map_err(|e| StoreError::db(op(&what), e))?;
        sqlx::query(
            "INSERT INTO schema_version (version, applied_at, description) VALUES (?1, ?2, ?3)",
        )
        .bind(m.version)
        .bind(now_ms)
        .bind(m.description)
        .execute(&mut *tx)
        .await
        .map_err(|e| StoreError::db(op(&what), e))?;
        tx.commit()
            .await
            .map_err(|e| StoreError::db(op(&what), e))?;
    }
    Ok(())
}

pub async fn current(pool: &SqlitePool) -> Result<i64, StoreError> {
    sqlx::query_scalar(CURRENT)
        .fetch_one(pool)
        .await
        .map_err(|e| StoreError::db("read the schema version", e))
}

fn refuse_newer(label: &str, found: i64) -> Result<(), StoreError> {
    if found > SCHEMA_VERSION {
        return Err(StoreError::SchemaTooNew {
            path: label.to_string(),
            found,
            known: SCHEMA_VERSION,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_rise_by_one_from_one() {
        for (i, m) in MIGRATIONS.iter().enumerate() {
            assert_eq!(m.version, i as i64 + 1, "{}", m.description);
        }
    }
}
