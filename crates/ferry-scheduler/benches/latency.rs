//! Submit-to-running latency on the local backend: from `submit` until the store records
//! the job as Running (its process started under its own supervisor), with the scheduler
//! ticking as fast as it can. Also, for scale, the time to spawn the same `bash` directly.

use ferry_backend::gpu::declared;
use ferry_backend::local::LocalBackend;
use ferry_job::{JobState, Micros};
use ferry_scheduler::{Clock, JobPayload, Scheduler, SystemClock};
use ferry_store::{NewJob, Placement, SqliteStore};
use std::sync::Arc;
use std::time::{Duration, Instant};

const RUNS: usize = 40;

fn summary(name: &str, mut ms: Vec<f64>) {
    ms.sort_by(f64::total_cmp);
    println!(
        "{name}: median {:.1} ms, p90 {:.1} ms, min {:.1} ms (n = {})",
        ms[ms.len() / 2],
        ms[ms.len() * 9 / 10],
        ms[0],
        ms.len()
    );
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let root = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(&root.path().join("ferry.db"))
        .await
        .unwrap();
    let backend = LocalBackend::new(
        root.path().to_path_buf(),
        declared(1, "bench GPU", 24.0),
        vec![env!("CARGO_BIN_EXE_ferry-test-supervise").into()],
    );
    let s = Scheduler::new(
        Arc::new(store),
        Arc::new(backend),
        vec![0],
        Arc::new(SystemClock),
    );
    let mut latencies = vec![];
    for _ in 0..RUNS {
        let job = NewJob {
            id: s.new_id(),
            name: "bench".into(),
            task: JobPayload {
                gpus: 1,
                gpu: None,
                workdir: None,
                envs: Default::default(),
                setup: None,
                run: "sleep 0.05".into(),
                estimated_hours: None,
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
        };
        let id = job.id.clone();
        let t = Instant::now();
        s.submit(job).await.unwrap();
        loop {
            s.tick().await.unwrap();
            if s.store().get(&id).await.unwrap().unwrap().state == JobState::Running {
                break;
            }
            tokio::time::sleep(Duration::from_micros(500)).await;
        }
        latencies.push(t.elapsed().as_secs_f64() * 1000.0);
        // Let it finish so the next job has the GPU.
        loop {
            s.tick().await.unwrap();
            if s.store()
                .get(&id)
                .await
                .unwrap()
                .unwrap()
                .state
                .is_terminal()
            {
                break;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
    summary(
        "ferry submit-to-running (local backend, durable store)",
        latencies,
    );

    let mut direct = vec![];
    for _ in 0..RUNS {
        let t = Instant::now();
        std::process::Command::new("bash")
            .arg("-c")
            .arg("true")
            .status()
            .unwrap();
        direct.push(t.elapsed().as_secs_f64() * 1000.0);
    }
    summary("plain `bash -c true` spawn-and-exit, for scale", direct);
}
