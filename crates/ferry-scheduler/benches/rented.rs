//! Rented machines, measured against the fake providers (`ferry-fakecloud`, in process)
//! whose instances are the test sshd:
//!
//! 1. launch-to-running: from `submit` until the store records the job Running on its
//!    rented machine, with the fake's provisioning delay set to 0, so what is measured is
//!    Ferry's own work (store writes, the provider's API calls answered at once by the
//!    fake, the SSH probe, the upload of the job and the start of its supervisor);
//! 2. provider API calls per job, over its whole life (create to verified termination);
//! 3. one scheduler pass while 1,000 rented jobs run, with one listing per provider per
//!    pass (their SSH polls are not due in the measured pass: they run at the remote poll's
//!    pace, and their cost is the per-poll figure of part 1).
//!
//! Needs the test sshd: `FERRY_TEST_SSHD_DIR` (scripts/services/sshd-up.sh).

#[path = "../tests/support/mod.rs"]
mod support;

use ferry_job::{AttemptStep, JobState, Micros};
use ferry_scheduler::{Clock, JobPayload, Scheduler, SystemClock};
use ferry_store::{AttemptPatch, NewAttempt, NewJob, Placement, Store};
use std::time::{Duration, Instant};

const RUNS: usize = 20;
const FOLLOWED: usize = 1000;

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

fn payload(run: &str) -> JobPayload {
    JobPayload {
        gpus: 1,
        gpu: None,
        workdir: None,
        envs: Default::default(),
        setup: None,
        run: run.into(),
        estimated_hours: None,
        plan: vec![support::a40(false, 0.4)],
        max_restarts: 0,
        retry_until_up_s: None,
        disk_gb: None,
        ..JobPayload::default()
    }
}

fn job(s: &Scheduler, run: &str) -> NewJob {
    NewJob {
        id: s.new_id(),
        name: "bench".into(),
        task: payload(run).to_value(),
        placement: Placement {
            backend: "runpod".into(),
            provider: "gpu-cloud".into(),
            offer: "bench".into(),
            price_per_hour: Micros(400_000),
        },
        submitted_at_ms: SystemClock.now_ms(),
        max_runtime_s: None,
    }
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let support::Rig {
        mut s,
        store,
        provider,
        world,
        port,
        root: _root,
    } = support::rig(0, Duration::from_millis(0)).await;
    // 1 and 2: launch-to-running, and calls per job over a whole life.
    let mut latencies = vec![];
    let mut lives = vec![];
    let calls_before = provider.calls();
    for _ in 0..RUNS {
        let j = job(&s, "true");
        let id = j.id.clone();
        let t = Instant::now();
        s.submit(j).await.unwrap();
        loop {
            s.tick().await.unwrap();
            let st = s.store().get(&id).await.unwrap().unwrap().state;
            if st == JobState::Running || st.is_terminal() {
                break;
            }
        }
        latencies.push(t.elapsed().as_secs_f64() * 1000.0);
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
        }
        lives.push(t.elapsed().as_secs_f64() * 1000.0);
    }
    summary(
        "rented launch-to-running (Ferry's own time, provisioning delay 0)",
        latencies,
    );
    summary("rented whole life (create to verified termination)", lives);
    let calls = provider.calls() - calls_before;
    let fake_calls = world
        .lock()
        .unwrap()
        .calls
        .get("runpod")
        .copied()
        .unwrap_or(0);
    println!(
        "provider API calls per job over its life: {:.1} (client count {calls}, fake count {fake_calls}, {RUNS} jobs, one listing per pass while it lived)",
        calls as f64 / RUNS as f64
    );

    // 3: one pass over FOLLOWED running rented jobs.
    let mark = store.install_mark().await.unwrap();
    let mut ids = vec![];
    for i in 0..FOLLOWED {
        let j = job(&s, "sleep 3600");
        let id = j.id.clone();
        s.submit(j).await.unwrap();
        let lease = ferry_cloud::LeaseName::new(&mark, &id, 1).to_string();
        let inst = world
            .lock()
            .unwrap()
            .create(ferry_fakecloud::world::NewInstance {
                provider: "runpod",
                name: lease.clone(),
                instance_type: "NVIDIA A40".into(),
                region: "global".into(),
                gpu_count: 1,
                price_per_hour: 0.4,
                spot: false,
                billing: ferry_cloud::Billing::PER_SECOND,
                storage_per_hour: 0.0,
                public_key: None,
                env: Default::default(),
            })
            .unwrap();
        store
            .start_attempt(
                &NewAttempt {
                    job_id: id.clone(),
                    attempt: 1,
                    backend: "runpod".into(),
                    offer: serde_json::json!({"plan_index": 0, "round": 0, "planned": payload("x").plan[0]}),
                    lease,
                    price_per_hour: Micros(400_000),
                },
                "bench",
            )
            .await
            .unwrap();
        store
            .update_attempt(
                &id,
                1,
                &AttemptPatch {
                    step: Some(AttemptStep::Running),
                    instance_id: Some(inst.id.clone()),
                    create_sent_at_ms: Some(SystemClock.now_ms()),
                    endpoint: Some(serde_json::json!({
                        "provider": {"host": "127.0.0.1", "port": port, "user": "root"},
                        "ssh": {"host": "127.0.0.1", "port": port, "user": "root"},
                    })),
                    ..Default::default()
                },
                "",
            )
            .await
            .unwrap();
        s.mark_asked(&id);
        ids.push(id);
        if i % 250 == 249 {
            eprintln!("{} jobs set up", i + 1);
        }
    }
    // Their SSH polls were just noted as made: the measured passes list and decide only.
    s.set_remote_poll(Duration::from_secs(3600));
    let mut passes = vec![];
    let listings_before = world
        .lock()
        .unwrap()
        .calls
        .get("runpod")
        .copied()
        .unwrap_or(0);
    for _ in 0..10 {
        let t = Instant::now();
        let report = s.tick().await.unwrap();
        passes.push(t.elapsed().as_secs_f64() * 1000.0);
        assert!(report.finished.is_empty(), "{:?}", report.finished);
    }
    let listings = world
        .lock()
        .unwrap()
        .calls
        .get("runpod")
        .copied()
        .unwrap_or(0)
        - listings_before;
    summary(
        &format!("one scheduler pass following {FOLLOWED} rented jobs"),
        passes,
    );
    println!("provider calls in those 10 passes: {listings} (one listing per pass)");
}
