//! `deadline-spot` in the live scheduler, end to end: a job placed on a spot machine of
//! the fake RunPod (real client code, the machine is the test sshd) whose spot start came
//! too late for the deadline is moved to the plan's on-demand offer as soon as it runs,
//! and finishes there; each attempt is billed.
//!
//! Needs the test sshd: `FERRY_TEST_SSHD_DIR` (scripts/services/sshd-up.sh; the test
//! script starts it).

use ferry_cloud::providers::{ProviderConfig, ProviderKind};
use ferry_cloud::{ApiKey, Endpoint, OfferRef};
use ferry_fakecloud::{SshTarget, World};
use ferry_job::{EndCause, JobState, Micros};
use ferry_policy::PolicyKind;
use ferry_scheduler::rented::decide::Timeouts;
use ferry_scheduler::rented::{Rented, RentedBackend, SshAccess};
use ferry_scheduler::{Clock, JobPayload, PlannedOffer, Scheduler, SystemClock};
use ferry_store::{LedgerFilter, NewJob, Placement, SqliteStore, Store};
use std::sync::Arc;
use std::time::{Duration, Instant};

fn sshd() -> (std::path::PathBuf, u16, String) {
    let dir = std::path::PathBuf::from(std::env::var("FERRY_TEST_SSHD_DIR").expect(
        "FERRY_TEST_SSHD_DIR: start scripts/services/sshd-up.sh first (bash scripts/test.sh does)",
    ));
    let port = std::fs::read_to_string(dir.join("env.sh"))
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix("export FERRY_SSHD_PORT="))
        .and_then(|p| p.trim().parse().ok())
        .unwrap_or(2222);
    let user = String::from_utf8(
        std::process::Command::new("id")
            .arg("-un")
            .output()
            .unwrap()
            .stdout,
    )
    .unwrap()
    .trim()
    .to_string();
    (dir, port, user)
}

fn a40(spot: bool, price: f64) -> PlannedOffer {
    PlannedOffer {
        category: Some("gpu-cloud".into()),
        backend: "runpod".into(),
        offer: OfferRef {
            instance_type: "NVIDIA A40".into(),
            region: "global".into(),
            gpu_count: 1,
            spot,
            expected_price_per_hour: price,
            max_price_per_hour: None,
            tier: None,
            vcpus: None,
        },
        source: "test".into(),
        egress: None,
    }
}

/// A scheduler renting from the fake RunPod, whose machines are the test sshd and take
/// 4 s to come up; the fake lives as long as the returned guard.
async fn rig() -> (
    Scheduler,
    Arc<SqliteStore>,
    tempfile::TempDir,
    ferry_fakecloud::Shared,
) {
    let (dir, port, user) = sshd();
    let mut world = World::new(
        "k",
        SshTarget {
            host: "127.0.0.1".into(),
            port,
            user: user.clone(),
        },
    );
    world.authorized_keys = Some(dir.join("authorized_keys"));
    // Each machine takes 4 s to come up: more than the job's slack.
    world.provisioning_ms = 4_000;
    let (url, world) = ferry_fakecloud::serve(world, 0).await.unwrap();
    let root = tempfile::tempdir().unwrap();
    let keys = ferry_cloud::keys::ensure(&root.path().join("keys")).unwrap();
    let store = Arc::new(
        SqliteStore::open(&root.path().join("ferry.db"))
            .await
            .unwrap(),
    );
    let mut config = ProviderConfig::new(ProviderKind::Runpod, ApiKey::new("k"));
    config.base_url = format!("{url}/runpod");
    let mut backends = std::collections::HashMap::new();
    backends.insert(
        "runpod".to_string(),
        RentedBackend {
            provider: ProviderKind::Runpod.build(config).unwrap(),
            ssh_override: Some(Endpoint {
                host: "127.0.0.1".into(),
                port,
                user,
            }),
            image: None,
            disk_gb: None,
        },
    );
    let control = root.path().join("ssh");
    std::fs::create_dir_all(&control).unwrap();
    let local = ferry_backend::local::LocalBackend::new(
        root.path().to_path_buf(),
        ferry_backend::gpu::declared(0, "none", 0.0),
        vec!["true".into()],
    );
    let mut s = Scheduler::new(
        store.clone(),
        Arc::new(local),
        vec![],
        Arc::new(SystemClock),
    );
    s.set_remote_poll(Duration::from_millis(0));
    s.set_rented(Rented {
        backends,
        access: SshAccess {
            private_key: keys.private,
            public_key: keys.public,
            known_hosts: root.path().join("keys/known_hosts"),
            control_dir: Some(control),
        },
        timeouts: Timeouts::default(),
        log_dir: root.path().join("rented"),
        disk_gb: 10,
    });
    (s, store, root, world)
}

/// Submits a `deadline-spot` job of 36 s of work due 36 s + the 5-minute changeover +
/// 2.5 s from now, on a plan of a spot A40 and its on-demand fallback: spot may be tried
/// (on-demand could still finish after it), but a spot machine that starts the job more
/// than ~1.5 s from now leaves too little time to fall back later.
async fn submit(s: &Scheduler, run: &str) -> ferry_job::JobId {
    let now = SystemClock.now_ms();
    let id = s.new_id();
    s.submit(NewJob {
        id: id.clone(),
        name: "deadline".into(),
        task: JobPayload {
            gpus: 1,
            run: run.into(),
            estimated_hours: Some(0.01),
            policy: PolicyKind::DeadlineSpot,
            deadline_ms: Some(
                now + 36_000 + ferry_scheduler::RENTAL_READY.as_millis() as i64 + 2_500,
            ),
            plan: vec![a40(true, 0.2), a40(false, 0.4)],
            max_restarts: 0,
            ..JobPayload::default()
        }
        .to_value(),
        placement: Placement {
            backend: "runpod".into(),
            provider: "gpu-cloud".into(),
            offer: "test".into(),
            price_per_hour: Micros(200_000),
        },
        submitted_at_ms: now,
        max_runtime_s: None,
    })
    .await
    .unwrap();
    id
}

async fn settle(
    s: &Scheduler,
    store: &SqliteStore,
    id: &ferry_job::JobId,
) -> ferry_store::JobRecord {
    let t0 = Instant::now();
    loop {
        s.tick().await.unwrap();
        let rec = store.get(id).await.unwrap().unwrap();
        if rec.state.is_terminal() {
            return rec;
        }
        assert!(t0.elapsed() < Duration::from_secs(90), "stuck: {rec:?}");
        // The pass after the job's start comes this much later: time for a task to write
        // its progress file before it is first asked about.
        tokio::time::sleep(Duration::from_millis(400)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_spot_start_too_late_for_the_deadline_moves_to_on_demand_and_finishes_there() {
    let (s, store, _root, _world) = rig().await;
    let id = submit(&s, "sleep 2; echo finished").await;
    let end = settle(&s, &store, &id).await;
    let attempts = store.attempts(&id).await.unwrap();
    assert_eq!(end.state, JobState::Succeeded, "{end:?} {attempts:#?}");
    assert_eq!(attempts.len(), 2, "{attempts:#?}");
    let first = &attempts[0];
    assert_eq!(first.offer["planned"]["offer"]["spot"], true);
    assert_eq!(first.cause, Some(EndCause::MovedToOnDemand));
    assert!(
        first.ready_at_ms.is_some(),
        "the spot machine came up and took the job before it was given up"
    );
    assert!(
        first
            .error
            .as_deref()
            .unwrap_or("")
            .starts_with("deadline-spot:"),
        "{first:?}"
    );
    let second = &attempts[1];
    assert_eq!(second.offer["planned"]["offer"]["spot"], false, "on-demand");
    assert_eq!(second.cause, Some(EndCause::Exited { code: 0 }));
    // Both machines are billed, each for its own life.
    let ledger = store.ledger(&LedgerFilter::job(&id)).await.unwrap();
    for n in [1, 2] {
        assert!(
            ledger
                .iter()
                .any(|e| e.entry.attempt == n && e.entry.amount > Micros::ZERO),
            "attempt {n} billed: {ledger:#?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_task_that_says_it_is_nearly_done_stays_on_spot() {
    let (s, store, _root, _world) = rig().await;
    // The same late start, but the task writes that 95% is done (it resumed from a
    // checkpoint): on-demand could still finish the rest, so it stays on spot.
    let id = submit(
        &s,
        "echo 0.95 > \"$FERRY_PROGRESS_FILE\"; sleep 3; echo finished",
    )
    .await;
    let end = settle(&s, &store, &id).await;
    let attempts = store.attempts(&id).await.unwrap();
    assert_eq!(end.state, JobState::Succeeded, "{end:?} {attempts:#?}");
    assert_eq!(attempts.len(), 1, "never moved: {attempts:#?}");
    assert_eq!(attempts[0].offer["planned"]["offer"]["spot"], true);
    assert_eq!(attempts[0].cause, Some(EndCause::Exited { code: 0 }));
}
