//! The rented lifecycle at the scheduler, on a hand-moved clock: a machine that never
//! becomes ready is given up on at the provisioning timeout (not before), terminated until
//! its provider's listing shows it gone, charged for its life, and the job fails over to
//! the next offer of its plan. The provider is the fake RunPod (in process); no SSH is
//! needed since no machine ever becomes ready.

use ferry_cloud::providers::{ProviderConfig, ProviderKind};
use ferry_cloud::{ApiKey, OfferRef};
use ferry_fakecloud::{SshTarget, World};
use ferry_job::{AttemptStep, EndCause, JobState, ManualClock, Micros};
use ferry_scheduler::rented::decide::Timeouts;
use ferry_scheduler::rented::{Rented, RentedBackend, SshAccess};
use ferry_scheduler::{JobPayload, PlannedOffer, Scheduler};
use ferry_store::{NewJob, Placement, SqliteStore, Store};
use std::sync::Arc;
use std::time::Duration;

fn offer(gpu: &str, price: f64) -> PlannedOffer {
    PlannedOffer {
        category: None,
        backend: "runpod".into(),
        offer: OfferRef {
            instance_type: gpu.into(),
            region: "global".into(),
            gpu_count: 1,
            spot: false,
            expected_price_per_hour: price,
            max_price_per_hour: None,
            tier: None,
            vcpus: None,
        },
        source: "test".into(),
        egress: None,
    }
}

/// A scheduler renting from RunPod at `config`, on a hand-moved clock shared with its store.
struct Rig {
    s: Scheduler,
    store: Arc<SqliteStore>,
    clock: ManualClock,
    _dir: tempfile::TempDir,
}

async fn rig(config: ProviderConfig) -> Rig {
    let clock = ManualClock::at(ferry_job::now_ms());
    let store_clock = clock.clone();
    let store = Arc::new(
        SqliteStore::open_in_memory()
            .await
            .unwrap()
            .with_clock(move || ferry_job::Clock::now_ms(&store_clock)),
    );
    let dir = tempfile::tempdir().unwrap();
    let mut backends = std::collections::HashMap::new();
    backends.insert(
        "runpod".to_string(),
        RentedBackend {
            provider: ProviderKind::Runpod
                .build(config)
                .expect("RunPod is built in"),
            ssh_override: None,
            image: None,
            disk_gb: None,
        },
    );
    let local = ferry_backend::local::LocalBackend::new(
        dir.path().to_path_buf(),
        ferry_backend::gpu::declared(0, "none", 0.0),
        vec!["true".into()],
    );
    let mut s = Scheduler::new(
        store.clone(),
        Arc::new(local),
        vec![],
        Arc::new(clock.clone()),
    );
    s.set_rented(Rented {
        backends,
        access: SshAccess {
            private_key: dir.path().join("none"),
            public_key: "ssh-ed25519 AAAA test".into(),
            known_hosts: dir.path().join("known_hosts"),
            control_dir: None,
        },
        timeouts: Timeouts {
            provision: Duration::from_secs(20 * 60),
            ssh: Duration::from_secs(10 * 60),
        },
        log_dir: dir.path().join("logs"),
        disk_gb: 10,
    });
    Rig {
        s,
        store,
        clock,
        _dir: dir,
    }
}

/// Submits a job renting along `plan`.
async fn submit(r: &Rig, plan: Vec<PlannedOffer>) -> ferry_job::JobId {
    let id = r.s.new_id();
    r.s.submit(NewJob {
        id: id.clone(),
        name: "rented".into(),
        task: JobPayload {
            gpus: 1,
            gpu: None,
            workdir: None,
            envs: Default::default(),
            setup: None,
            run: "true".into(),
            estimated_hours: None,
            plan,
            max_restarts: 0,
            retry_until_up_s: None,
            disk_gb: None,
            ..JobPayload::default()
        }
        .to_value(),
        placement: Placement {
            backend: "runpod".into(),
            provider: "gpu-cloud".into(),
            offer: "test".into(),
            price_per_hour: Micros(400_000),
        },
        submitted_at_ms: ferry_job::Clock::now_ms(&r.clock),
        max_runtime_s: None,
    })
    .await
    .unwrap();
    id
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_machine_that_never_gets_ready_is_given_up_at_the_timeout_and_the_job_fails_over() {
    let mut world = World::new(
        "k",
        SshTarget {
            host: "127.0.0.1".into(),
            port: 9,
            user: "nobody".into(),
        },
    );
    // Provisioning outlasts the test by far: only the clock can end the wait.
    world.provisioning_ms = 3_600_000;
    let (url, world) = ferry_fakecloud::serve(world, 0).await.unwrap();
    let mut config = ProviderConfig::new(ProviderKind::Runpod, ApiKey::new("k"));
    config.base_url = format!("{url}/runpod");
    let r = rig(config).await;
    let (s, store, clock) = (&r.s, &r.store, &r.clock);
    let id = submit(
        &r,
        vec![
            offer("NVIDIA A40", 0.4),
            offer("NVIDIA GeForce RTX 4090", 0.69),
        ],
    )
    .await;
    s.tick().await.unwrap(); // attempt 1: quote, create
    s.tick().await.unwrap(); // provisioning
    let a = &store.attempts(&id).await.unwrap()[0];
    assert_eq!(a.step, AttemptStep::Provisioning);
    // A minute short of the timeout: still waiting.
    clock.advance(Duration::from_secs(19 * 60));
    s.tick().await.unwrap();
    assert_eq!(
        store.attempts(&id).await.unwrap()[0].step,
        AttemptStep::Provisioning
    );
    // Past it: given up, terminated, verified gone, charged, failed over.
    clock.advance(Duration::from_secs(2 * 60));
    for _ in 0..4 {
        s.tick().await.unwrap();
    }
    let attempts = store.attempts(&id).await.unwrap();
    let first = &attempts[0];
    assert_eq!(first.step, AttemptStep::Ended);
    assert_eq!(first.cause, Some(EndCause::NotReady));
    assert!(first.gone_at_ms.unwrap() - first.create_sent_at_ms.unwrap() >= 21 * 60 * 1000);
    assert_eq!(attempts.len(), 2, "the job failed over: {attempts:?}");
    assert_eq!(
        attempts[1].offer["planned"]["offer"]["instance_type"],
        "NVIDIA GeForce RTX 4090"
    );
    // 21 minutes of an A40 at its quoted price, by the clock Ferry was given.
    let charged = store
        .total(&ferry_store::LedgerFilter::job(&id))
        .await
        .unwrap();
    let life = first.gone_at_ms.unwrap() - first.create_sent_at_ms.unwrap();
    // Compute at the quoted price, and RunPod's container disk on top.
    let expected = ferry_cloud::Billing::PER_SECOND.charge(first.price_per_hour, life)
        + ferry_cloud::Billing::PER_SECOND.charge(first.storage_per_hour, life);
    assert!(first.storage_per_hour > Micros(0));
    assert_eq!(charged, expected);
    assert!(charged > Micros(0));
    assert_eq!(
        store.get(&id).await.unwrap().unwrap().state,
        JobState::Starting
    );
    // The fake's first instance is gone; nothing of attempt 1 bills.
    let bills = world.lock().unwrap().bill();
    assert!(!bills[0].still_billing);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_provider_is_said_on_the_attempt_then_given_up_on() {
    // Nothing listens on port 9 of this host.
    let mut config = ProviderConfig::new(ProviderKind::Runpod, ApiKey::new("k"));
    config.base_url = "http://127.0.0.1:9/runpod".into();
    config.retry = ferry_cloud::http::RetryPolicy {
        attempts: 1,
        first_backoff: Duration::from_millis(1),
        max_backoff: Duration::from_millis(1),
        max_retry_after: Duration::from_secs(1),
    };
    let r = rig(config).await;
    let (s, store, clock) = (&r.s, &r.store, &r.clock);
    let id = submit(&r, vec![offer("NVIDIA A40", 0.4)]).await;
    let tick = s.tick().await.unwrap();
    assert!(!tick.errors.is_empty());
    let a = &store.attempts(&id).await.unwrap()[0];
    assert_eq!(a.step, AttemptStep::Quoting);
    let said = a.error.clone().unwrap();
    assert!(
        said.contains("runpod") && said.contains("trying again"),
        "{said}"
    );
    // Past the give-up time: the attempt ends, and with no other offer the job fails
    // saying why.
    clock.advance(ferry_scheduler::rented::GIVE_UP_AFTER + Duration::from_secs(1));
    s.tick().await.unwrap();
    s.tick().await.unwrap();
    let a = &store.attempts(&id).await.unwrap()[0];
    assert_eq!(a.step, AttemptStep::Ended);
    assert_eq!(
        a.cause,
        Some(EndCause::NotCreated {
            kind: "transient".into()
        })
    );
    let job = store.get(&id).await.unwrap().unwrap();
    assert_eq!(job.state, JobState::Failed);
    assert!(
        job.reason
            .as_deref()
            .unwrap()
            .contains("no offer of the plan"),
        "{job:?}"
    );
}
