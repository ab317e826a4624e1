#![allow(dead_code)] // each test file uses its own part of these helpers

use ferry_job::{JobId, JobState, Micros};
use ferry_store::{COMPUTE, JobPatch, LedgerEntry, NewJob, Placement, Store};

pub const T0: i64 = 1_763_900_000_000;

pub fn id(n: u32) -> JobId {
    JobId::new(T0 as u64, n)
}

pub fn job(n: u32) -> NewJob {
    NewJob {
        id: id(n),
        name: format!("train-{n}"),
        task: serde_json::json!({
            "name": format!("train-{n}"),
            "resources": {"accelerators": "A100:2"},
            "run": "python train.py",
        }),
        placement: Placement {
            backend: "local".into(),
            provider: "owned".into(),
            offer: "ws-2xa100".into(),
            price_per_hour: Micros(2_500_000),
        },
        submitted_at_ms: T0 + i64::from(n),
        max_runtime_s: Some(3600),
    }
}

pub fn charge(id: &JobId, amount: i64) -> LedgerEntry {
    LedgerEntry {
        job_id: id.clone(),
        attempt: 1,
        at_ms: T0 + 10_000,
        kind: COMPUTE.into(),
        amount: Micros(amount),
        description: "2 x A100 for 1 h".into(),
    }
}

/// Submits a job and runs it to `Running` with GPUs 0 and 1 of `local`.
pub async fn running(store: &dyn Store, n: u32) -> JobId {
    let j = job(n);
    store.submit(&j).await.unwrap();
    store
        .transition(&j.id, JobState::Starting, &JobPatch::default(), "placing")
        .await
        .unwrap();
    store
        .allocate(&j.id, "local", &[2 * n, 2 * n + 1])
        .await
        .unwrap();
    let patch = JobPatch {
        started_at_ms: Some(T0 + 1_000),
        backend_handle: Some(format!("pid:{}", 4000 + n)),
        gpus: Some(vec![2 * n, 2 * n + 1]),
        ..JobPatch::default()
    };
    store
        .transition(&j.id, JobState::Running, &patch, "started")
        .await
        .unwrap();
    j.id
}
