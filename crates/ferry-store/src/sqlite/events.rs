//! The append-only event log. Only `append` writes it, and only ever inserts.

use super::decode;
use crate::error::StoreError;
use crate::model::{EventKind, JobEvent};
use ferry_job::{JobId, JobState};
use sqlx::SqliteConnection;

pub struct NewEvent<'a> {
    pub kind: EventKind,
    pub from: Option<JobState>,
    pub to: JobState,
    pub detail: &'a str,
}

pub async fn append(
    conn: &mut SqliteConnection,
    id: &JobId,
    at_ms: i64,
    event: NewEvent<'_>,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO job_events (job_id, at, kind, from_state, to_state, detail)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    )
    .bind(id.as_str())
    .bind(at_ms)
    .bind(event.kind.as_str())
    .bind(event.from.map(JobState::as_str))
    .bind(event.to.as_str())
    .bind(event.detail)
    .execute(&mut *conn)
    .await
    .map_err(|e| StoreError::db(format!("log the {} event of job {id}", event.kind), e))?;
    Ok(())
}

pub async fn of(conn: &mut SqliteConnection, id: &JobId) -> Result<Vec<JobEvent>, StoreError> {
    sqlx::query(
        "SELECT seq, job_id, at, kind, from_state, to_state, detail
         FROM job_events WHERE job_id = ?1 ORDER BY seq",
    )
    .bind(id.as_str())
    .fetch_all(&mut *conn)
    .await
    .map_err(|e| StoreError::db(format!("read events of job {id}"), e))?
    .iter()
    .map(decode::event)
    .collect()
}
