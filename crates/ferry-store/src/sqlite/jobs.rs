//! The `jobs` table: submission, reads, and compare-and-set transitions.

use super::events::{self, NewEvent};
use super::{allocations, decode};
use crate::error::StoreError;
use crate::model::{EventKind, JobFilter, JobPatch, JobRecord, NewJob, Placement};
use crate::validate;
use ferry_job::{JobId, JobState};
use sqlx::SqliteConnection;

macro_rules! select_jobs {
    ($rest:literal) => {
        concat!(
            "SELECT id, name, state, task, placement, backend_handle, gpus, submitted_at, \
             started_at, finished_at, exit_code, reason, max_runtime_s, updated_at FROM jobs ",
            $rest
        )
    };
}

/// A job checked and serialized before the transaction starts, so the transaction holds
/// the write lock only for the inserts.
pub struct Prepared<'a> {
    job: &'a NewJob,
    task: String,
    placement: String,
}

impl<'a> Prepared<'a> {
    pub fn new(job: &'a NewJob) -> Result<Prepared<'a>, StoreError> {
        let to_json = |what: &str, v: Result<String, serde_json::Error>| {
            v.map_err(|e| StoreError::invalid(&job.id, format!("the {what} is not JSON: {e}")))
        };
        let task = to_json("task", serde_json::to_string(&job.task))?;
        validate::new_job(job, &task)?;
        let placement = to_json("placement", serde_json::to_string(&job.placement))?;
        Ok(Prepared {
            job,
            task,
            placement,
        })
    }
}

pub async fn insert(
    conn: &mut SqliteConnection,
    p: &Prepared<'_>,
    now_ms: i64,
) -> Result<(), StoreError> {
    let job = p.job;
    let id = &job.id;
    sqlx::query(
        "INSERT INTO jobs (id, name, state, task, placement, backend, submitted_at,
                           price_per_hour_micros, max_runtime_s, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
    )
    .bind(id.as_str())
    .bind(&job.name)
    .bind(JobState::Queued.as_str())
    .bind(&p.task)
    .bind(&p.placement)
    .bind(&job.placement.backend)
    .bind(job.submitted_at_ms)
    .bind(job.placement.price_per_hour.0)
    .bind(job.max_runtime_s)
    .bind(now_ms)
    .execute(&mut *conn)
    .await
    .map_err(|e| match &e {
        sqlx::Error::Database(d) if d.is_unique_violation() => {
            StoreError::Duplicate { id: id.clone() }
        }
        _ => StoreError::db(format!("insert job {id}"), e),
    })?;
    let placed = &job.placement;
    let detail = format!(
        "placed on {} ({} {}, {}/h)",
        placed.backend, placed.provider, placed.offer, placed.price_per_hour
    );
    events::append(
        conn,
        id,
        now_ms,
        NewEvent {
            kind: EventKind::Submitted,
            from: None,
            to: JobState::Queued,
            detail: &detail,
        },
    )
    .await
}

pub async fn get(conn: &mut SqliteConnection, id: &JobId) -> Result<Option<JobRecord>, StoreError> {
    sqlx::query(select_jobs!("WHERE id = ?1"))
        .bind(id.as_str())
        .fetch_optional(&mut *conn)
        .await
        .map_err(|e| StoreError::db(format!("read job {id}"), e))?
        .as_ref()
        .map(decode::job)
        .transpose()
}

pub async fn state(conn: &mut SqliteConnection, id: &JobId) -> Result<JobState, StoreError> {
    let state: Option<String> = sqlx::query_scalar("SELECT state FROM jobs WHERE id = ?1")
        .bind(id.as_str())
        .fetch_optional(&mut *conn)
        .await
        .map_err(|e| StoreError::db(format!("read the state of job {id}"), e))?;
    let state = state.ok_or_else(|| StoreError::NotFound { id: id.clone() })?;
    state.parse().map_err(|what| StoreError::Corrupt {
        row: format!("jobs row of job {id}"),
        field: "state",
        what,
    })
}

pub async fn list(
    conn: &mut SqliteConnection,
    filter: &JobFilter,
) -> Result<Vec<JobRecord>, StoreError> {
    let states = (!filter.states.is_empty()).then(|| {
        serde_json::Value::from(filter.states.iter().map(|s| s.as_str()).collect::<Vec<_>>())
            .to_string()
    });
    // SQLite reads a negative LIMIT as no limit.
    let limit = filter.limit.map_or(-1, i64::from);
    sqlx::query(select_jobs!(
        "WHERE (?1 IS NULL OR state IN (SELECT value FROM json_each(?1)))
           AND (?2 IS NULL OR backend = ?2)
         ORDER BY submitted_at DESC, id DESC
         LIMIT ?3"
    ))
    .bind(states)
    .bind(filter.backend.as_deref())
    .bind(limit)
    .fetch_all(&mut *conn)
    .await
    .map_err(|e| StoreError::db("list jobs", e))?
    .iter()
    .map(decode::job)
    .collect()
}

pub async fn unfinished_versions(
    conn: &mut SqliteConnection,
) -> Result<Vec<(JobId, i64)>, StoreError> {
    let rows: Vec<(String, i64)> = sqlx::query_as(
        "SELECT id, version FROM jobs WHERE state IN ('queued', 'starting', 'running')",
    )
    .fetch_all(&mut *conn)
    .await
    .map_err(|e| StoreError::db("list unfinished jobs", e))?;
    rows.into_iter()
        .map(|(id, v)| {
            let parsed = id.parse::<JobId>().map_err(|what| StoreError::Corrupt {
                row: format!("jobs row {id}"),
                field: "id",
                what: what.to_string(),
            })?;
            Ok((parsed, v))
        })
        .collect()
}

pub async fn get_versioned(
    conn: &mut SqliteConnection,
    ids: &[JobId],
) -> Result<Vec<(i64, JobRecord)>, StoreError> {
    let mut out = Vec::with_capacity(ids.len());
    // A bounded list per statement (SQLite's JSON is the list, so any length binds once).
    for chunk in ids.chunks(2_000) {
        let list = serde_json::Value::from(chunk.iter().map(JobId::as_str).collect::<Vec<_>>())
            .to_string();
        let rows = sqlx::query(
            "SELECT id, name, state, task, placement, backend_handle, gpus, submitted_at, \
             started_at, finished_at, exit_code, reason, max_runtime_s, updated_at, version \
             FROM jobs WHERE id IN (SELECT value FROM json_each(?1))",
        )
        .bind(list)
        .fetch_all(&mut *conn)
        .await
        .map_err(|e| StoreError::db("read jobs", e))?;
        for row in &rows {
            let version: i64 = sqlx::Row::try_get(row, "version")
                .map_err(|e| StoreError::db("read a job's version", e))?;
            out.push((version, decode::job(row)?));
        }
    }
    Ok(out)
}

/// The caller holds the write lock (`BEGIN IMMEDIATE`), so the state read here is the
/// state the update replaces; the `AND state = ?` guard keeps that true on databases
/// that read without locking.
pub async fn transition(
    conn: &mut SqliteConnection,
    id: &JobId,
    to: JobState,
    patch: &JobPatch,
    detail: &str,
    now_ms: i64,
) -> Result<JobRecord, StoreError> {
    let mut job = get(conn, id)
        .await?
        .ok_or_else(|| StoreError::NotFound { id: id.clone() })?;
    let from = job.state;
    from.check(to).map_err(|e| StoreError::IllegalTransition {
        id: id.clone(),
        from: e.from,
        to: e.to,
    })?;
    let started = patch.started_at_ms.or(job.started_at_ms);
    let finished = patch.finished_at_ms.or(job.finished_at_ms);
    if let (Some(s), Some(f)) = (started, finished)
        && f < s
    {
        return Err(StoreError::invalid(
            id,
            format!("finished_at {f} is before started_at {s}"),
        ));
    }
    let gpus = patch
        .gpus
        .as_ref()
        .map(|g| serde_json::Value::from(g.clone()).to_string());
    let updated = sqlx::query(
        "UPDATE jobs SET state = ?1,
                started_at = COALESCE(?2, started_at),
                finished_at = COALESCE(?3, finished_at),
                exit_code = COALESCE(?4, exit_code),
                reason = COALESCE(?5, reason),
                backend_handle = COALESCE(?6, backend_handle),
                gpus = COALESCE(?7, gpus),
                updated_at = ?8
         WHERE id = ?9 AND state = ?10",
    )
    .bind(to.as_str())
    .bind(patch.started_at_ms)
    .bind(patch.finished_at_ms)
    .bind(patch.exit_code)
    .bind(patch.reason.as_deref())
    .bind(patch.backend_handle.as_deref())
    .bind(gpus)
    .bind(now_ms)
    .bind(id.as_str())
    .bind(from.as_str())
    .execute(&mut *conn)
    .await
    .map_err(|e| StoreError::db(format!("move job {id} from {from} to {to}"), e))?;
    if updated.rows_affected() != 1 {
        return Err(StoreError::Conflict { id: id.clone() });
    }
    events::append(
        conn,
        id,
        now_ms,
        NewEvent {
            kind: EventKind::Transition,
            from: Some(from),
            to,
            detail,
        },
    )
    .await?;
    // A finished job holds no GPU, whichever way it finished.
    if to.is_terminal() {
        allocations::release(conn, id, to, now_ms).await?;
    }
    apply(&mut job, to, patch, now_ms);
    Ok(job)
}

/// A queued job's new placement and task (a burst), compare-and-set on `queued`.
pub async fn replace_placement(
    conn: &mut SqliteConnection,
    id: &JobId,
    placement: &Placement,
    task: &str,
    detail: &str,
    now_ms: i64,
) -> Result<JobRecord, StoreError> {
    let placement_json = serde_json::to_string(placement)
        .map_err(|e| StoreError::invalid(id, format!("the placement is not JSON: {e}")))?;
    let updated = sqlx::query(
        "UPDATE jobs SET placement = ?1, backend = ?2, price_per_hour_micros = ?3, task = ?4,
                updated_at = ?5
         WHERE id = ?6 AND state = 'queued'",
    )
    .bind(&placement_json)
    .bind(&placement.backend)
    .bind(placement.price_per_hour.0)
    .bind(task)
    .bind(now_ms)
    .bind(id.as_str())
    .execute(&mut *conn)
    .await
    .map_err(|e| StoreError::db(format!("move queued job {id} to {}", placement.backend), e))?;
    if updated.rows_affected() != 1 {
        state(conn, id).await?; // NotFound for a job that does not exist
        return Err(StoreError::Conflict { id: id.clone() });
    }
    append_decision(conn, id, JobState::Queued, detail, now_ms).await?;
    get(conn, id)
        .await?
        .ok_or_else(|| StoreError::NotFound { id: id.clone() })
}

/// A decision event in the job's log, its state unchanged.
pub async fn record_decision(
    conn: &mut SqliteConnection,
    id: &JobId,
    detail: &str,
    now_ms: i64,
) -> Result<(), StoreError> {
    let now_state = state(conn, id).await?;
    append_decision(conn, id, now_state, detail, now_ms).await
}

/// A decision event of a job known to be in `state`, which the decision leaves as it is.
async fn append_decision(
    conn: &mut SqliteConnection,
    id: &JobId,
    state: JobState,
    detail: &str,
    now_ms: i64,
) -> Result<(), StoreError> {
    events::append(
        conn,
        id,
        now_ms,
        NewEvent {
            kind: EventKind::Decision,
            from: Some(state),
            to: state,
            detail,
        },
    )
    .await
}

/// An unfinished job's reason set before it is stopped, with a decision event.
pub async fn note_stop(
    conn: &mut SqliteConnection,
    id: &JobId,
    reason: &str,
    now_ms: i64,
) -> Result<JobRecord, StoreError> {
    let now_state = state(conn, id).await?;
    if now_state.is_terminal() {
        return Err(StoreError::Conflict { id: id.clone() });
    }
    sqlx::query("UPDATE jobs SET reason = ?1, updated_at = ?2 WHERE id = ?3 AND state = ?4")
        .bind(reason)
        .bind(now_ms)
        .bind(id.as_str())
        .bind(now_state.as_str())
        .execute(&mut *conn)
        .await
        .map_err(|e| StoreError::db(format!("record why job {id} is stopped"), e))?;
    append_decision(conn, id, now_state, reason, now_ms).await?;
    get(conn, id)
        .await?
        .ok_or_else(|| StoreError::NotFound { id: id.clone() })
}

/// The same change as the UPDATE above, on the copy already in hand.
fn apply(job: &mut JobRecord, to: JobState, patch: &JobPatch, now_ms: i64) {
    job.state = to;
    job.updated_at_ms = now_ms;
    if patch.started_at_ms.is_some() {
        job.started_at_ms = patch.started_at_ms;
    }
    if patch.finished_at_ms.is_some() {
        job.finished_at_ms = patch.finished_at_ms;
    }
    if patch.exit_code.is_some() {
        job.exit_code = patch.exit_code;
    }
    if patch.reason.is_some() {
        job.reason.clone_from(&patch.reason);
    }
    if patch.backend_handle.is_some() {
        job.backend_handle.clone_from(&patch.backend_handle);
    }
    if patch.gpus.is_some() {
        job.gpus.clone_from(&patch.gpus);
    }
}
