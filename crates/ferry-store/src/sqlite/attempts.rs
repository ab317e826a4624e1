//! The `attempts` table: each run of a job, with the machine it rented and why it ended.

use super::events::{self, NewEvent};
use super::{decode, jobs, ledger};
use crate::error::StoreError;
use crate::model::{Attempt, AttemptPatch, EventKind, JobMove, LedgerEntry, NewAttempt};
use ferry_job::{AttemptStep, JobId, JobState};
use sqlx::SqliteConnection;

macro_rules! select_attempts {
    ($rest:literal) => {
        concat!(
            "SELECT job_id, attempt, backend, offer, lease, step, instance_id, endpoint, \
             price_per_hour_micros, storage_per_hour_micros, quote, created_at, create_sent_at, ready_at, job_started_at, \
             job_ended_at, terminate_sent_at, gone_at, cause, error, provider_charge_micros, \
             updated_at FROM attempts ",
            $rest
        )
    };
}

pub async fn install_mark(conn: &mut SqliteConnection) -> Result<String, StoreError> {
    sqlx::query_scalar("SELECT mark FROM install WHERE id = 1")
        .fetch_one(&mut *conn)
        .await
        .map_err(|e| StoreError::db("read the install mark", e))
}

pub async fn insert(
    conn: &mut SqliteConnection,
    a: &NewAttempt,
    now_ms: i64,
) -> Result<(), StoreError> {
    let id = &a.job_id;
    sqlx::query(
        "INSERT INTO attempts (job_id, attempt, backend, offer, lease, step,
                               price_per_hour_micros, created_at, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?5, 'quoting', ?6, ?7, ?7)",
    )
    .bind(id.as_str())
    .bind(i64::from(a.attempt))
    .bind(&a.backend)
    .bind(a.offer.to_string())
    .bind(&a.lease)
    .bind(a.price_per_hour.0)
    .bind(now_ms)
    .execute(&mut *conn)
    .await
    .map_err(|e| match &e {
        sqlx::Error::Database(d) if d.is_unique_violation() => StoreError::invalid(
            id,
            format!("attempt {} (lease {}) exists already", a.attempt, a.lease),
        ),
        _ => StoreError::db(format!("record attempt {} of job {id}", a.attempt), e),
    })?;
    Ok(())
}

/// A job's one run on a backend holding its own machines, recorded ended.
pub async fn insert_finished(
    conn: &mut SqliteConnection,
    id: &JobId,
    run: &crate::model::FinishedRun,
    now_ms: i64,
) -> Result<(), StoreError> {
    let cause = serde_json::to_string(&run.cause).expect("a cause serialises");
    sqlx::query(
        "INSERT INTO attempts (job_id, attempt, backend, offer, lease, step,
                               price_per_hour_micros, created_at, job_started_at,
                               job_ended_at, gone_at, cause, updated_at)
         VALUES (?1, 1, ?2, ?3, ?2, 'ended', ?4, ?5, ?5, ?6, ?6, ?7, ?8)
         ON CONFLICT (job_id, attempt) DO NOTHING",
    )
    .bind(id.as_str())
    .bind(&run.backend)
    .bind(run.offer.to_string())
    .bind(run.price_per_hour.0)
    .bind(run.started_at_ms)
    .bind(run.ended_at_ms)
    .bind(cause)
    .bind(now_ms)
    .execute(&mut *conn)
    .await
    .map_err(|e| StoreError::db(format!("record the run of job {id}"), e))?;
    Ok(())
}

pub async fn get(
    conn: &mut SqliteConnection,
    id: &JobId,
    attempt: u32,
) -> Result<Attempt, StoreError> {
    sqlx::query(select_attempts!("WHERE job_id = ?1 AND attempt = ?2"))
        .bind(id.as_str())
        .bind(i64::from(attempt))
        .fetch_optional(&mut *conn)
        .await
        .map_err(|e| StoreError::db(format!("read attempt {attempt} of job {id}"), e))?
        .as_ref()
        .map(decode::attempt)
        .transpose()?
        .ok_or_else(|| StoreError::invalid(id, format!("it has no attempt {attempt}")))
}

pub async fn of(conn: &mut SqliteConnection, id: &JobId) -> Result<Vec<Attempt>, StoreError> {
    sqlx::query(select_attempts!("WHERE job_id = ?1 ORDER BY attempt"))
        .bind(id.as_str())
        .fetch_all(&mut *conn)
        .await
        .map_err(|e| StoreError::db(format!("read attempts of job {id}"), e))?
        .iter()
        .map(decode::attempt)
        .collect()
}

pub async fn open(conn: &mut SqliteConnection) -> Result<Vec<Attempt>, StoreError> {
    sqlx::query(select_attempts!(
        "WHERE step <> 'ended' ORDER BY job_id, attempt"
    ))
    .fetch_all(&mut *conn)
    .await
    .map_err(|e| StoreError::db("read open attempts", e))?
    .iter()
    .map(decode::attempt)
    .collect()
}

/// Applies a patch: steps only move forward, and a time once set is kept.
pub async fn update(
    conn: &mut SqliteConnection,
    id: &JobId,
    attempt: u32,
    p: &AttemptPatch,
    detail: &str,
    now_ms: i64,
) -> Result<Attempt, StoreError> {
    let before = get(conn, id, attempt).await?;
    if let Some(to) = p.step
        && to != before.step
        && !before.step.can_become(to)
    {
        return Err(StoreError::invalid(
            id,
            format!("attempt {attempt} cannot go from {} to {to}", before.step),
        ));
    }
    if before.step == AttemptStep::Ended {
        return Err(StoreError::invalid(
            id,
            format!("attempt {attempt} has ended; it is not changed any more"),
        ));
    }
    let cause = p
        .cause
        .as_ref()
        .map(|c| serde_json::to_string(c).expect("a cause serialises"));
    sqlx::query(
        "UPDATE attempts SET
            step = COALESCE(?1, step),
            instance_id = COALESCE(instance_id, ?2),
            endpoint = COALESCE(?3, endpoint),
            price_per_hour_micros = COALESCE(?4, price_per_hour_micros),
            quote = COALESCE(?5, quote),
            storage_per_hour_micros = COALESCE(?18, storage_per_hour_micros),
            create_sent_at = COALESCE(create_sent_at, ?6),
            ready_at = COALESCE(ready_at, ?7),
            job_started_at = COALESCE(job_started_at, ?8),
            job_ended_at = COALESCE(job_ended_at, ?9),
            terminate_sent_at = COALESCE(terminate_sent_at, ?10),
            gone_at = COALESCE(gone_at, ?11),
            cause = COALESCE(cause, ?12),
            error = COALESCE(?13, error),
            provider_charge_micros = COALESCE(?14, provider_charge_micros),
            updated_at = ?15
         WHERE job_id = ?16 AND attempt = ?17",
    )
    .bind(p.step.map(AttemptStep::as_str))
    .bind(p.instance_id.as_deref())
    .bind(p.endpoint.as_ref().map(|e| e.to_string()))
    .bind(p.price_per_hour.map(|m| m.0))
    .bind(p.quote.as_deref())
    .bind(p.create_sent_at_ms)
    .bind(p.ready_at_ms)
    .bind(p.job_started_at_ms)
    .bind(p.job_ended_at_ms)
    .bind(p.terminate_sent_at_ms)
    .bind(p.gone_at_ms)
    .bind(cause)
    .bind(p.error.as_deref())
    .bind(p.provider_charge.map(|m| m.0))
    .bind(now_ms)
    .bind(id.as_str())
    .bind(i64::from(attempt))
    .bind(p.storage_per_hour.map(|m| m.0))
    .execute(&mut *conn)
    .await
    .map_err(|e| StoreError::db(format!("update attempt {attempt} of job {id}"), e))?;
    if !detail.is_empty() {
        let state = jobs::state(conn, id).await?;
        let detail = format!("attempt {attempt}: {detail}");
        events::append(
            conn,
            id,
            now_ms,
            NewEvent {
                kind: EventKind::Attempt,
                from: Some(state),
                to: state,
                detail: &detail,
            },
        )
        .await?;
    }
    get(conn, id, attempt).await
}

/// Ends an attempt: its last fields, its charges and the job's next move, together.
pub async fn end(
    conn: &mut SqliteConnection,
    id: &JobId,
    attempt: u32,
    p: &AttemptPatch,
    charges: &[LedgerEntry],
    then: &JobMove,
    now_ms: i64,
) -> Result<Attempt, StoreError> {
    let mut p = p.clone();
    p.step = Some(AttemptStep::Ended);
    let ended = update(conn, id, attempt, &p, "ended", now_ms).await?;
    for c in charges {
        if &c.job_id != id || c.attempt != attempt {
            return Err(StoreError::invalid(
                id,
                format!(
                    "a charge for job {} attempt {} was booked with attempt {attempt}",
                    c.job_id, c.attempt
                ),
            ));
        }
        let state = jobs::state(conn, id).await?;
        ledger::book(conn, c, state, now_ms).await?;
    }
    match then {
        JobMove::Stay => {}
        JobMove::Requeue { detail } => {
            jobs::transition(
                conn,
                id,
                JobState::Queued,
                &Default::default(),
                detail,
                now_ms,
            )
            .await?;
        }
        JobMove::Finish {
            state,
            patch,
            detail,
        } => {
            // A job that ended before Ferry saw it run passes through running.
            if jobs::state(conn, id).await? == JobState::Starting
                && *state != JobState::Failed
                && *state != JobState::Cancelled
            {
                jobs::transition(
                    conn,
                    id,
                    JobState::Running,
                    &crate::model::JobPatch {
                        started_at_ms: patch.started_at_ms,
                        ..Default::default()
                    },
                    "the job started",
                    now_ms,
                )
                .await?;
            }
            jobs::transition(conn, id, *state, patch, detail, now_ms).await?;
        }
    }
    Ok(ended)
}
