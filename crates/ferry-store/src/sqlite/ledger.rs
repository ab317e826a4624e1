//! The ledger: integer micro-dollars, one entry per (job, kind), added up by SQLite in
//! integer arithmetic (an overflow is an error, never a rounded float).

use super::decode;
use super::events::{self, NewEvent};
use crate::error::StoreError;
use crate::model::{BookedEntry, EventKind, LedgerEntry, LedgerFilter};
use ferry_job::{JobState, Micros};
use sqlx::SqliteConnection;

macro_rules! matching {
    ($select:literal, $rest:literal) => {
        concat!(
            $select,
            " FROM ledger
             WHERE (?1 IS NULL OR job_id = ?1)
               AND (?2 IS NULL OR kind = ?2)
               AND (?3 IS NULL OR at >= ?3)
               AND (?4 IS NULL OR at < ?4) ",
            $rest
        )
    };
}

/// `state` is the job's state, for the event; the caller has checked the job exists.
pub async fn book(
    conn: &mut SqliteConnection,
    entry: &LedgerEntry,
    state: JobState,
    now_ms: i64,
) -> Result<bool, StoreError> {
    let id = &entry.job_id;
    let op = || format!("book {} for job {id}", entry.kind);
    let inserted = sqlx::query(
        "INSERT INTO ledger (job_id, at, kind, amount_micros, description, attempt)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)
         ON CONFLICT (job_id, attempt, kind) DO NOTHING",
    )
    .bind(id.as_str())
    .bind(entry.at_ms)
    .bind(&entry.kind)
    .bind(entry.amount.0)
    .bind(&entry.description)
    .bind(i64::from(entry.attempt))
    .execute(&mut *conn)
    .await
    .map_err(|e| StoreError::db(op(), e))?
    .rows_affected();
    if inserted == 0 {
        let booked: i64 = sqlx::query_scalar(
            "SELECT amount_micros FROM ledger WHERE job_id = ?1 AND kind = ?2 AND attempt = ?3",
        )
        .bind(id.as_str())
        .bind(&entry.kind)
        .bind(i64::from(entry.attempt))
        .fetch_one(&mut *conn)
        .await
        .map_err(|e| StoreError::db(op(), e))?;
        if booked == entry.amount.0 {
            return Ok(false);
        }
        // A retry must charge what was charged: a different amount is a bug upstream,
        // and picking either would make the ledger wrong.
        return Err(StoreError::LedgerConflict {
            id: id.clone(),
            kind: entry.kind.clone(),
            booked: Micros(booked),
            attempted: entry.amount,
        });
    }
    let detail = if entry.attempt > 1 {
        format!(
            "{} {} (attempt {})",
            entry.kind, entry.amount, entry.attempt
        )
    } else {
        format!("{} {}", entry.kind, entry.amount)
    };
    events::append(
        conn,
        id,
        now_ms,
        NewEvent {
            kind: EventKind::Charged,
            from: Some(state),
            to: state,
            detail: &detail,
        },
    )
    .await?;
    Ok(true)
}

pub async fn entries(
    conn: &mut SqliteConnection,
    filter: &LedgerFilter,
) -> Result<Vec<BookedEntry>, StoreError> {
    bind(
        sqlx::query(matching!(
            "SELECT id, job_id, attempt, at, kind, amount_micros, description",
            "ORDER BY id"
        )),
        filter,
    )
    .fetch_all(&mut *conn)
    .await
    .map_err(|e| StoreError::db("read the ledger", e))?
    .iter()
    .map(decode::booked)
    .collect()
}

pub async fn total(
    conn: &mut SqliteConnection,
    filter: &LedgerFilter,
) -> Result<Micros, StoreError> {
    // SUM, not TOTAL: TOTAL returns a float.
    let sum: i64 = bind(
        sqlx::query(matching!("SELECT COALESCE(SUM(amount_micros), 0)", "")),
        filter,
    )
    .fetch_one(&mut *conn)
    .await
    .and_then(|row| sqlx::Row::try_get(&row, 0))
    .map_err(|e| StoreError::db("add up the ledger", e))?;
    Ok(Micros(sum))
}

fn bind<'q>(
    q: sqlx::query::Query<'q, sqlx::Sqlite, sqlx::sqlite::SqliteArguments>,
    f: &'q LedgerFilter,
) -> sqlx::query::Query<'q, sqlx::Sqlite, sqlx::sqlite::SqliteArguments> {
    q.bind(f.job_id.as_ref().map(|j| j.as_str()))
        .bind(f.kind.as_deref())
        .bind(f.since_ms)
        .bind(f.until_ms)
}
