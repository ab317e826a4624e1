//! Rows back into domain values. A row that does not decode is reported as corrupt,
//! naming the row and the column, rather than skipped.

use crate::error::StoreError;
use crate::model::{Attempt, BookedEntry, EventKind, JobEvent, JobRecord, LedgerEntry, Placement};
use ferry_job::{JobId, JobState, Micros};
use sqlx::sqlite::SqliteRow;
use sqlx::{Decode, Row, Sqlite, Type};
use std::str::FromStr;

struct Reader<'r> {
    row: &'r SqliteRow,
    /// Names the row in errors; built only when one is reported (reading 10,000 rows for
    /// a scheduler pass should not format 10,000 labels).
    table: &'static str,
    id_column: &'static str,
}

impl<'r> Reader<'r> {
    fn col<T>(&self, field: &'static str) -> Result<T, StoreError>
    where
        T: Decode<'r, Sqlite> + Type<Sqlite>,
    {
        self.row.try_get(field).map_err(|e| self.corrupt(field, e))
    }

    fn parsed<T: FromStr>(&self, field: &'static str) -> Result<T, StoreError>
    where
        T::Err: std::fmt::Display,
    {
        let s: &str = self.col(field)?;
        s.parse().map_err(|e| self.corrupt(field, e))
    }

    fn parsed_opt<T: FromStr>(&self, field: &'static str) -> Result<Option<T>, StoreError>
    where
        T::Err: std::fmt::Display,
    {
        let s: Option<String> = self.col(field)?;
        s.map(|s| s.parse().map_err(|e| self.corrupt(field, e)))
            .transpose()
    }

    fn json<T: serde::de::DeserializeOwned>(&self, field: &'static str) -> Result<T, StoreError> {
        let s: &str = self.col(field)?;
        serde_json::from_str(s).map_err(|e| self.corrupt(field, e))
    }

    fn json_opt<T: serde::de::DeserializeOwned>(
        &self,
        field: &'static str,
    ) -> Result<Option<T>, StoreError> {
        let s: Option<String> = self.col(field)?;
        s.map(|s| serde_json::from_str(&s).map_err(|e| self.corrupt(field, e)))
            .transpose()
    }

    fn corrupt(&self, field: &'static str, e: impl std::fmt::Display) -> StoreError {
        let id = self
            .row
            .try_get::<String, _>(self.id_column)
            .unwrap_or_else(|_| "?".to_string());
        StoreError::Corrupt {
            row: format!("{} row of job {id}", self.table),
            field,
            what: e.to_string(),
        }
    }
}

fn reader<'r>(row: &'r SqliteRow, table: &'static str, id_column: &'static str) -> Reader<'r> {
    Reader {
        row,
        table,
        id_column,
    }
}

pub fn job(row: &SqliteRow) -> Result<JobRecord, StoreError> {
    let r = reader(row, "jobs", "id");
    let state: String = r.col("state")?;
    Ok(JobRecord {
        id: r.parsed::<JobId>("id")?,
        name: r.col("name")?,
        state: JobState::from_str(&state).map_err(|e| r.corrupt("state", e))?,
        task: r.json("task")?,
        placement: r.json::<Placement>("placement")?,
        backend_handle: r.col("backend_handle")?,
        gpus: r.json_opt("gpus")?,
        submitted_at_ms: r.col("submitted_at")?,
        started_at_ms: r.col("started_at")?,
        finished_at_ms: r.col("finished_at")?,
        exit_code: r.col("exit_code")?,
        reason: r.col("reason")?,
        max_runtime_s: r.col("max_runtime_s")?,
        updated_at_ms: r.col("updated_at")?,
    })
}

pub fn event(row: &SqliteRow) -> Result<JobEvent, StoreError> {
    let r = reader(row, "job_events", "job_id");
    Ok(JobEvent {
        seq: r.col("seq")?,
        job_id: r.parsed("job_id")?,
        at_ms: r.col("at")?,
        kind: r.parsed::<EventKind>("kind")?,
        from: r.parsed_opt::<JobState>("from_state")?,
        to: r.parsed::<JobState>("to_state")?,
        detail: r.col("detail")?,
    })
}

pub fn booked(row: &SqliteRow) -> Result<BookedEntry, StoreError> {
    let r = reader(row, "ledger", "job_id");
    Ok(BookedEntry {
        id: r.col("id")?,
        entry: LedgerEntry {
            job_id: r.parsed("job_id")?,
            attempt: {
                let a: i64 = r.col("attempt")?;
                u32::try_from(a).map_err(|e| r.corrupt("attempt", e))?
            },
            at_ms: r.col("at")?,
            kind: r.col("kind")?,
            amount: Micros(r.col("amount_micros")?),
            description: r.col("description")?,
        },
    })
}

pub fn held(row: &SqliteRow) -> Result<(u32, JobId), StoreError> {
    let r = reader(row, "allocations", "job_id");
    let device: i64 = r.col("device")?;
    let device = u32::try_from(device).map_err(|e| r.corrupt("device", e))?;
    Ok((device, r.parsed("job_id")?))
}

pub fn attempt(row: &SqliteRow) -> Result<Attempt, StoreError> {
    let r = reader(row, "attempts", "job_id");
    let n: i64 = r.col("attempt")?;
    Ok(Attempt {
        job_id: r.parsed("job_id")?,
        attempt: u32::try_from(n).map_err(|e| r.corrupt("attempt", e))?,
        backend: r.col("backend")?,
        offer: r.json("offer")?,
        lease: r.col("lease")?,
        step: r.parsed("step")?,
        instance_id: r.col("instance_id")?,
        endpoint: r.json_opt("endpoint")?,
        price_per_hour: Micros(r.col("price_per_hour_micros")?),
        storage_per_hour: Micros(r.col("storage_per_hour_micros")?),
        quote: r.col("quote")?,
        created_at_ms: r.col("created_at")?,
        create_sent_at_ms: r.col("create_sent_at")?,
        ready_at_ms: r.col("ready_at")?,
        job_started_at_ms: r.col("job_started_at")?,
        job_ended_at_ms: r.col("job_ended_at")?,
        terminate_sent_at_ms: r.col("terminate_sent_at")?,
        gone_at_ms: r.col("gone_at")?,
        cause: r.json_opt("cause")?,
        error: r.col("error")?,
        provider_charge: r.col::<Option<i64>>("provider_charge_micros")?.map(Micros),
        updated_at_ms: r.col("updated_at")?,
    })
}
