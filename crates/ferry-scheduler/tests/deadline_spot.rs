//! `deadline-spot` in the live scheduler, end to end: a job placed on a spot machine of
//! the fake RunPod (real client code, the machine is the test sshd) whose spot start came
//! too late for the deadline is moved to the plan's on-demand offer as soon as it runs,
//! and finishes there; each attempt is billed.
//!
//! Needs the test sshd: `FERRY_TEST_SSHD_DIR` (scripts/services/sshd-up.sh; the test
//! script starts it).

mod support;

use ferry_job::{EndCause, JobState, Micros};
use ferry_policy::PolicyKind;
use ferry_scheduler::{Clock, JobPayload, Scheduler, SystemClock};
use ferry_store::{LedgerFilter, NewJob, Placement, SqliteStore, Store};
use std::time::{Duration, Instant};
use support::a40;

/// Machines take 4 s to come up: more than the job's slack.
async fn rig() -> support::Rig {
    support::rig(4_000, Duration::from_millis(0)).await
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
        if t0.elapsed() > Duration::from_secs(90) {
            let attempts = store.attempts(id).await.unwrap();
            let events = store.events(id).await.unwrap();
            panic!("stuck: {rec:#?}\n{attempts:#?}\n{events:#?}");
        }
        // The pass after the job's start comes this much later: time for a task to write
        // its progress file before it is first asked about.
        tokio::time::sleep(Duration::from_millis(400)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_spot_start_too_late_for_the_deadline_moves_to_on_demand_and_finishes_there() {
    let r = rig().await;
    let (s, store) = (&r.s, &*r.store);
    let id = submit(s, "sleep 2; echo finished").await;
    let end = settle(s, store, &id).await;
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
    let r = rig().await;
    let (s, store) = (&r.s, &*r.store);
    // The same late start, but the task writes that 95% is done (it resumed from a
    // checkpoint): on-demand could still finish the rest, so it stays on spot.
    let id = submit(
        s,
        "echo 0.95 > \"$FERRY_PROGRESS_FILE\"; sleep 3; echo finished",
    )
    .await;
    let end = settle(s, store, &id).await;
    let attempts = store.attempts(&id).await.unwrap();
    assert_eq!(end.state, JobState::Succeeded, "{end:?} {attempts:#?}");
    assert_eq!(attempts.len(), 1, "never moved: {attempts:#?}");
    assert_eq!(attempts[0].offer["planned"]["offer"]["spot"], true);
    assert_eq!(attempts[0].cause, Some(EndCause::Exited { code: 0 }));
}
