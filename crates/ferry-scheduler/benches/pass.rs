//! One scheduler pass over a deep queue: 10,000 queued jobs behind one running job on a
//! one-GPU pool, so every pass reads the whole queue, asks the policy and starts nothing.
//! Prints the first pass (every row read), then the median and p90 of 20 passes with
//! nothing changed and of 20 with 100 rows changed in between (50 cancelled, 50 new)
//! (`cargo bench -p ferry-scheduler --bench pass`).

use ferry_backend::gpu::declared;
use ferry_backend::local::LocalBackend;
use ferry_job::{JobState, Micros};
use ferry_scheduler::{Clock, JobPayload, Scheduler, SystemClock};
use ferry_store::{NewJob, Placement, SqliteStore, Store};
use std::sync::Arc;
use std::time::{Duration, Instant};

const QUEUED: usize = 10_000;
const PASSES: usize = 20;

fn job(s: &Scheduler, run: &str) -> NewJob {
    NewJob {
        id: s.new_id(),
        name: "bench".into(),
        task: JobPayload {
            gpus: 1,
            gpu: None,
            workdir: None,
            envs: Default::default(),
            setup: None,
            run: run.into(),
            estimated_hours: Some(1.0),
            plan: vec![],
            max_restarts: ferry_scheduler::DEFAULT_MAX_RESTARTS,
            retry_until_up_s: None,
            disk_gb: None,
            ..JobPayload::default()
        }
        .to_value(),
        placement: Placement {
            backend: "local".into(),
            provider: "owned".into(),
            offer: "this host".into(),
            price_per_hour: Micros(1_000_000),
        },
        submitted_at_ms: SystemClock.now_ms(),
        max_runtime_s: None,
    }
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let root = tempfile::tempdir().unwrap();
    let store = Arc::new(
        SqliteStore::open(&root.path().join("ferry.db"))
            .await
            .unwrap(),
    );
    let backend = LocalBackend::new(
        root.path().to_path_buf(),
        declared(1, "bench GPU", 24.0),
        vec![env!("CARGO_BIN_EXE_ferry-test-supervise").into()],
    );
    let s = Scheduler::new(
        store.clone(),
        Arc::new(backend),
        vec![0],
        Arc::new(SystemClock),
    );
    // The one GPU is taken by a job that outlives the measurement.
    let blocker = job(&s, "sleep 120");
    let blocker_id = blocker.id.clone();
    s.submit(blocker).await.unwrap();
    loop {
        s.tick().await.unwrap();
        if s.store().get(&blocker_id).await.unwrap().unwrap().state == JobState::Running {
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let jobs: Vec<NewJob> = (0..QUEUED).map(|_| job(&s, "true")).collect();
    let t = Instant::now();
    for chunk in jobs.chunks(500) {
        for r in store.submit_many(chunk).await {
            r.unwrap();
        }
    }
    println!(
        "queued {QUEUED} jobs in {:.0} ms through submit_many (group commits of 500)",
        t.elapsed().as_secs_f64() * 1000.0
    );
    let summary = |mut ms: Vec<f64>| {
        ms.sort_by(f64::total_cmp);
        format!(
            "median {:.1} ms, p90 {:.1} ms, min {:.1} ms (n = {})",
            ms[ms.len() / 2],
            ms[ms.len() * 9 / 10],
            ms[0],
            ms.len()
        )
    };
    // The first pass reads every row; later ones only the rows whose version moved.
    let t = Instant::now();
    assert!(s.tick().await.unwrap().started.is_empty());
    println!(
        "first pass over {QUEUED} queued jobs (every row read): {:.1} ms",
        t.elapsed().as_secs_f64() * 1000.0
    );
    let mut ms = vec![];
    for _ in 0..PASSES {
        let t = Instant::now();
        let tick = s.tick().await.unwrap();
        ms.push(t.elapsed().as_secs_f64() * 1000.0);
        assert!(tick.started.is_empty());
    }
    println!(
        "scheduler pass over {QUEUED} queued jobs, nothing changed: {}",
        summary(ms)
    );
    // A busy queue: between two passes, 50 jobs leave it and 50 arrive.
    let mut ms = vec![];
    let waiting: Vec<_> = store
        .list(&ferry_store::JobFilter {
            states: vec![JobState::Queued],
            ..Default::default()
        })
        .await
        .unwrap();
    for round in 0..PASSES {
        for rec in &waiting[round * 50..round * 50 + 50] {
            s.cancel(&rec.id).await.unwrap();
        }
        let fresh: Vec<NewJob> = (0..50).map(|_| job(&s, "true")).collect();
        for r in store.submit_many(&fresh).await {
            r.unwrap();
        }
        let t = Instant::now();
        let tick = s.tick().await.unwrap();
        ms.push(t.elapsed().as_secs_f64() * 1000.0);
        assert!(tick.started.is_empty());
    }
    println!(
        "scheduler pass over {QUEUED} queued jobs, 100 rows changed since the last: {}",
        summary(ms)
    );
    s.cancel(&blocker_id).await.unwrap();
    for _ in 0..200 {
        s.tick().await.unwrap();
        if s.store()
            .get(&blocker_id)
            .await
            .unwrap()
            .unwrap()
            .state
            .is_terminal()
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}
