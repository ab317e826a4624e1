//! Checks on what callers hand the store, run before any write so that bad input is
//! refused whole instead of being stored half-written. Every implementation uses them.

use crate::error::StoreError;
use crate::model::{JobPatch, LedgerEntry, NewJob};
use ferry_job::JobId;

/// Long enough for any real name; short enough that a runaway value is caught.
const MAX_NAME: usize = 200;
/// Reasons, details, descriptions and handles: generous, but bounded.
const MAX_TEXT: usize = 64 * 1024;
/// The task is the user's whole file, so it gets more room than other text.
const MAX_TASK: usize = 1024 * 1024;
/// More devices than any single machine has.
const MAX_GPUS: usize = 1024;

pub fn new_job(job: &NewJob, task_json: &str) -> Result<(), StoreError> {
    let id = &job.id;
    let bad = |what: String| Err(StoreError::invalid(id, what));
    if job.name.trim().is_empty() {
        return bad("the name is empty".into());
    }
    if job.name.chars().count() > MAX_NAME {
        return bad(format!("the name is longer than {MAX_NAME} characters"));
    }
    if job.name.chars().any(char::is_control) {
        return bad("the name contains control characters".into());
    }
    if !job.task.is_object() {
        return bad("the task must be a JSON object".into());
    }
    if task_json.len() > MAX_TASK {
        return bad(format!("the task is larger than {MAX_TASK} bytes"));
    }
    if job.placement.backend.trim().is_empty() {
        return bad("the placement has no backend".into());
    }
    text(id, "placement provider", &job.placement.provider)?;
    text(id, "placement offer", &job.placement.offer)?;
    if job.placement.price_per_hour.0 < 0 {
        return bad(format!(
            "the price per hour {} is negative",
            job.placement.price_per_hour
        ));
    }
    if job.submitted_at_ms < 0 {
        return bad(format!(
            "submitted_at {} is before 1970",
            job.submitted_at_ms
        ));
    }
    if let Some(s) = job.max_runtime_s
        && s <= 0
    {
        return bad(format!("max_runtime_s {s} is not positive"));
    }
    Ok(())
}

pub fn patch(id: &JobId, patch: &JobPatch, detail: &str) -> Result<(), StoreError> {
    text(id, "detail", detail)?;
    if let Some(r) = &patch.reason {
        text(id, "reason", r)?;
    }
    if let Some(h) = &patch.backend_handle {
        if h.trim().is_empty() {
            return Err(StoreError::invalid(id, "the backend handle is empty"));
        }
        text(id, "backend handle", h)?;
    }
    for (field, at) in [
        ("started_at", patch.started_at_ms),
        ("finished_at", patch.finished_at_ms),
    ] {
        if let Some(at) = at
            && at < 0
        {
            return Err(StoreError::invalid(
                id,
                format!("{field} {at} is before 1970"),
            ));
        }
    }
    if let (Some(s), Some(f)) = (patch.started_at_ms, patch.finished_at_ms)
        && f < s
    {
        return Err(StoreError::invalid(
            id,
            format!("finished_at {f} is before started_at {s}"),
        ));
    }
    if let Some(gpus) = &patch.gpus {
        devices(id, gpus)?;
    }
    Ok(())
}

pub fn devices(id: &JobId, devices: &[u32]) -> Result<(), StoreError> {
    if devices.len() > MAX_GPUS {
        return Err(StoreError::invalid(
            id,
            format!("{} devices is more than {MAX_GPUS}", devices.len()),
        ));
    }
    for (i, d) in devices.iter().enumerate() {
        if devices[..i].contains(d) {
            return Err(StoreError::invalid(
                id,
                format!("device {d} is listed twice"),
            ));
        }
    }
    Ok(())
}

pub fn backend(id: &JobId, backend: &str) -> Result<(), StoreError> {
    if backend.trim().is_empty() {
        return Err(StoreError::invalid(id, "the backend is empty"));
    }
    text(id, "backend", backend)
}

pub fn ledger_entry(entry: &LedgerEntry) -> Result<(), StoreError> {
    let id = &entry.job_id;
    if entry.kind.trim().is_empty() {
        return Err(StoreError::invalid(id, "the ledger entry has no kind"));
    }
    if entry.kind.chars().count() > MAX_NAME || entry.kind.chars().any(char::is_control) {
        return Err(StoreError::invalid(
            id,
            "the ledger kind is too long or has control characters",
        ));
    }
    if entry.at_ms < 0 {
        return Err(StoreError::invalid(
            id,
            format!("the ledger entry's time {} is before 1970", entry.at_ms),
        ));
    }
    text(id, "ledger description", &entry.description)
}

fn text(id: &JobId, field: &str, value: &str) -> Result<(), StoreError> {
    if value.len() > MAX_TEXT {
        return Err(StoreError::invalid(
            id,
            format!("the {field} is longer than {MAX_TEXT} bytes"),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Placement;
    use ferry_job::Micros;

    fn job() -> NewJob {
        NewJob {
            id: JobId::new(1, 1),
            name: "train".into(),
            task: serde_json::json!({"run": "python train.py"}),
            placement: Placement {
                backend: "local".into(),
                provider: "owned".into(),
                offer: "ws-4090".into(),
                price_per_hour: Micros(1_000_000),
            },
            submitted_at_ms: 1,
            max_runtime_s: None,
        }
    }

    fn check(j: &NewJob) -> Result<(), StoreError> {
        new_job(j, &j.task.to_string())
    }

    #[test]
    fn accepts_a_plain_job_and_refuses_bad_fields_by_name() {
        assert!(check(&job()).is_ok());
        type Spoil = fn(&mut NewJob);
        let cases: Vec<(Spoil, &str)> = vec![
            (|j| j.name = " ".into(), "name is empty"),
            (|j| j.name = "a\nb".into(), "control"),
            (|j| j.name = "x".repeat(201), "longer than"),
            (|j| j.task = serde_json::json!([1]), "JSON object"),
            (|j| j.placement.backend = String::new(), "no backend"),
            (|j| j.placement.price_per_hour = Micros(-1), "negative"),
            (|j| j.max_runtime_s = Some(0), "not positive"),
            (|j| j.submitted_at_ms = -5, "before 1970"),
        ];
        for (spoil, expect) in cases {
            let mut j = job();
            spoil(&mut j);
            let err = check(&j).unwrap_err().to_string();
            assert!(err.contains(expect), "{err}");
            assert!(err.contains(j.id.as_str()), "{err}");
        }
    }

    #[test]
    fn patches_refuse_time_running_backwards_and_repeated_devices() {
        let id = JobId::new(1, 1);
        let ok = JobPatch {
            started_at_ms: Some(10),
            finished_at_ms: Some(20),
            gpus: Some(vec![0, 1]),
            ..JobPatch::default()
        };
        assert!(patch(&id, &ok, "").is_ok());
        let backwards = JobPatch {
            started_at_ms: Some(20),
            finished_at_ms: Some(10),
            ..JobPatch::default()
        };
        assert!(patch(&id, &backwards, "").is_err());
        assert!(devices(&id, &[0, 1, 0]).is_err());
        assert!(patch(&id, &JobPatch::default(), &"x".repeat(MAX_TEXT + 1)).is_err());
        let empty_handle = JobPatch {
            backend_handle: Some(String::new()),
            ..JobPatch::default()
        };
        assert!(patch(&id, &empty_handle, "").is_err());
    }
}
