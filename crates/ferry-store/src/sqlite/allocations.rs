//! Which job holds which device. The partial unique index makes a double grant impossible
//! even if this code were wrong; the checks here exist to say who holds the device.

use super::decode;
use super::events::{self, NewEvent};
use super::jobs;
use crate::error::StoreError;
use crate::model::EventKind;
use ferry_job::{JobId, JobState};
use sqlx::SqliteConnection;

pub async fn allocate(
    conn: &mut SqliteConnection,
    id: &JobId,
    backend: &str,
    devices: &[u32],
    now_ms: i64,
) -> Result<(), StoreError> {
    let state = jobs::state(conn, id).await?;
    if state.is_terminal() {
        return Err(StoreError::AllocateFinished {
            id: id.clone(),
            state,
        });
    }
    let op = || format!("allocate {backend} devices to job {id}");
    let mut granted = Vec::new();
    for &device in devices {
        let holder: Option<String> = sqlx::query_scalar(
            "SELECT job_id FROM allocations
             WHERE backend = ?1 AND device = ?2 AND released_at IS NULL",
        )
        .bind(backend)
        .bind(i64::from(device))
        .fetch_optional(&mut *conn)
        .await
        .map_err(|e| StoreError::db(op(), e))?;
        match holder {
            Some(h) if h == id.as_str() => continue,
            Some(h) => {
                return Err(StoreError::DeviceBusy {
                    id: id.clone(),
                    backend: backend.to_string(),
                    device,
                    holder: h.parse::<JobId>().map_err(|e| StoreError::Corrupt {
                        row: format!("allocations row of {backend} device {device}"),
                        field: "job_id",
                        what: e.to_string(),
                    })?,
                });
            }
            None => {}
        }
        sqlx::query(
            "INSERT INTO allocations (job_id, backend, device, granted_at) VALUES (?1, ?2, ?3, ?4)",
        )
        .bind(id.as_str())
        .bind(backend)
        .bind(i64::from(device))
        .bind(now_ms)
        .execute(&mut *conn)
        .await
        .map_err(|e| StoreError::db(op(), e))?;
        granted.push(device);
    }
    if granted.is_empty() {
        return Ok(());
    }
    let detail = format!("{backend} devices {}", list(&granted));
    events::append(
        conn,
        id,
        now_ms,
        NewEvent {
            kind: EventKind::Allocated,
            from: Some(state),
            to: state,
            detail: &detail,
        },
    )
    .await
}

/// Releases what the job holds; `state` is the job's state, for the event.
pub async fn release(
    conn: &mut SqliteConnection,
    id: &JobId,
    state: JobState,
    now_ms: i64,
) -> Result<u64, StoreError> {
    let released: Vec<(String, i64)> = sqlx::query_as(
        "UPDATE allocations SET released_at = ?1
         WHERE job_id = ?2 AND released_at IS NULL
         RETURNING backend, device",
    )
    .bind(now_ms)
    .bind(id.as_str())
    .fetch_all(&mut *conn)
    .await
    .map_err(|e| StoreError::db(format!("release the devices of job {id}"), e))?;
    if released.is_empty() {
        return Ok(0);
    }
    let detail = released
        .iter()
        .map(|(b, d)| format!("{b} device {d}"))
        .collect::<Vec<_>>()
        .join(", ");
    events::append(
        conn,
        id,
        now_ms,
        NewEvent {
            kind: EventKind::Released,
            from: Some(state),
            to: state,
            detail: &detail,
        },
    )
    .await?;
    Ok(released.len() as u64)
}

pub async fn held(
    conn: &mut SqliteConnection,
    backend: &str,
) -> Result<Vec<(u32, JobId)>, StoreError> {
    sqlx::query(
        "SELECT device, job_id FROM allocations
         WHERE backend = ?1 AND released_at IS NULL ORDER BY device",
    )
    .bind(backend)
    .fetch_all(&mut *conn)
    .await
    .map_err(|e| StoreError::db(format!("read devices held on {backend}"), e))?
    .iter()
    .map(decode::held)
    .collect()
}

fn list(devices: &[u32]) -> String {
    devices
        .iter()
        .map(u32::to_string)
        .collect::<Vec<_>>()
        .join(",")
}
