//! Policies and budgets in the live scheduler, over the real SQLite store and the real
//! local backend: a queued job bursting to a rented placement under `owned-first`, a
//! task's own budget and a user's monthly cap stopping a running job (the reason written
//! before the stop, so a new scheduler over the same files still says why), and the
//! per-user and per-project caps refusing a launch with the numbers.

mod support;

use ferry_backend::gpu::declared;
use ferry_backend::local::LocalBackend;
use ferry_job::{JobId, JobState, Micros};
use ferry_policy::PolicyKind;
use ferry_policy::budget::Scope;
use ferry_scheduler::{Budgets, Clock, JobPayload, PlannedOffer, Scheduler, SystemClock};
use ferry_store::{EventKind, NewJob, Placement, SqliteStore};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// $36/h = $0.01 a second.
const PRICE: Micros = Micros(36_000_000);

async fn scheduler(root: &Path, gpus: u32, budgets: Budgets) -> Scheduler {
    let store = SqliteStore::open(&root.join("ferry.db")).await.unwrap();
    let backend = LocalBackend::new(
        root.to_path_buf(),
        declared(gpus, "test GPU", 24.0),
        vec![env!("CARGO_BIN_EXE_ferry-test-supervise").into()],
    );
    let mut s = Scheduler::new(
        Arc::new(store),
        Arc::new(backend),
        (0..gpus).collect(),
        Arc::new(SystemClock),
    );
    s.set_budgets(budgets);
    s
}

/// RunPod's on-demand A40 at `price` an hour: the burst placement.
fn rental(price: f64) -> PlannedOffer {
    support::a40(false, price)
}

fn job(s: &Scheduler, payload: JobPayload) -> NewJob {
    NewJob {
        id: s.new_id(),
        name: "test".into(),
        task: payload.to_value(),
        placement: Placement {
            backend: "local".into(),
            provider: "owned".into(),
            offer: "this host".into(),
            price_per_hour: PRICE,
        },
        submitted_at_ms: SystemClock.now_ms(),
        max_runtime_s: None,
    }
}

fn run(cmd: &str, hours: f64) -> JobPayload {
    JobPayload {
        gpus: 1,
        run: cmd.into(),
        estimated_hours: Some(hours),
        ..JobPayload::default()
    }
}

async fn until(
    s: &Scheduler,
    id: &JobId,
    what: &str,
    done: impl Fn(&ferry_store::JobRecord) -> bool,
) -> ferry_store::JobRecord {
    let deadline = Instant::now() + Duration::from_secs(40);
    loop {
        s.tick().await.unwrap();
        let rec = s.store().get(id).await.unwrap().unwrap();
        if done(&rec) {
            return rec;
        }
        assert!(
            Instant::now() < deadline,
            "{id} never {what}: {}",
            rec.state
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn owned_first_bursts_a_job_past_its_max_wait_and_cheapest_does_not() {
    let root = tempfile::tempdir().unwrap();
    let s = scheduler(root.path(), 1, Budgets::default()).await;
    // The one GPU is busy for a long while.
    let busy = s.submit(job(&s, run("sleep 30", 1.0))).await.unwrap();
    until(&s, &busy.id, "started", |r| r.state == JobState::Running).await;
    // Placed under cheapest with a burst list: it waits for the GPU in line.
    let patient = s
        .submit(job(
            &s,
            JobPayload {
                burst: vec![rental(0.4)],
                max_wait_s: Some(0),
                ..run("echo patient", 0.1)
            },
        ))
        .await
        .unwrap();
    // Under owned-first with max_wait 0: it moves to its rental at once.
    let hurried = s
        .submit(job(
            &s,
            JobPayload {
                policy: PolicyKind::OwnedFirst,
                burst: vec![rental(0.4), rental(0.5)],
                max_wait_s: Some(0),
                ..run("echo hurried", 0.1)
            },
        ))
        .await
        .unwrap();
    s.tick().await.unwrap();
    let moved = s.store().get(&hurried.id).await.unwrap().unwrap();
    assert_eq!(moved.state, JobState::Queued);
    assert_eq!(moved.placement.backend, "runpod");
    assert_eq!(moved.placement.provider, "gpu-cloud");
    assert_eq!(moved.placement.price_per_hour, Micros(400_000));
    let p = JobPayload::from_value(&moved.task).unwrap();
    assert_eq!(
        p.plan,
        vec![rental(0.4), rental(0.5)],
        "the burst list became its plan"
    );
    assert!(p.burst.is_empty());
    let events = s.store().events(&hurried.id).await.unwrap();
    let burst = events
        .iter()
        .find(|e| e.kind == EventKind::Decision)
        .unwrap();
    assert!(
        burst
            .detail
            .starts_with("owned-first: burst to runpod NVIDIA A40")
            && burst.detail.contains("past its max_wait"),
        "{}",
        burst.detail
    );
    let stays = s.store().get(&patient.id).await.unwrap().unwrap();
    assert_eq!(
        (stays.state, stays.placement.backend.as_str()),
        (JobState::Queued, "local"),
        "a cheapest job keeps its place (the queue holding an owned-first job is first-fit by urgency, and it has none)"
    );
    s.cancel(&busy.id).await.unwrap();
    s.cancel(&patient.id).await.unwrap();
    s.cancel(&hurried.id).await.unwrap();
}

#[tokio::test]
async fn a_burst_the_monthly_budget_cannot_afford_is_held_with_the_numbers() {
    let root = tempfile::tempdir().unwrap();
    let budgets = Budgets {
        monthly: Some(Micros(2_000_000)),
        ..Budgets::default()
    };
    let s = scheduler(root.path(), 1, budgets).await;
    let busy = s.submit(job(&s, run("sleep 30", 0.01))).await.unwrap();
    until(&s, &busy.id, "started", |r| r.state == JobState::Running).await;
    // 10 h at $0.40 = $4: more than the $2 month.
    let dear = s
        .submit(job(
            &s,
            JobPayload {
                policy: PolicyKind::OwnedFirst,
                burst: vec![rental(0.4)],
                max_wait_s: Some(0),
                ..run("echo dear", 10.0)
            },
        ))
        .await
        .unwrap();
    s.tick().await.unwrap();
    s.tick().await.unwrap();
    let rec = s.store().get(&dear.id).await.unwrap().unwrap();
    assert_eq!(rec.placement.backend, "local", "not moved");
    let holds: Vec<String> = s
        .store()
        .events(&dear.id)
        .await
        .unwrap()
        .into_iter()
        .filter(|e| e.kind == EventKind::Decision)
        .map(|e| e.detail)
        .collect();
    assert_eq!(holds.len(), 1, "logged once, not every pass: {holds:?}");
    assert!(
        holds[0].starts_with("held: renting would cost $4.000000"),
        "{holds:?}"
    );
    s.cancel(&dear.id).await.unwrap();
    s.cancel(&busy.id).await.unwrap();
}

#[tokio::test]
async fn a_task_budget_stops_its_running_job_and_the_reason_survives_a_restart() {
    let root = tempfile::tempdir().unwrap();
    let s = scheduler(root.path(), 1, Budgets::default()).await;
    // $0.15 at $0.01/s: about 15 s, stopped 10 s early (BUDGET_MARGIN).
    let j = s
        .submit(job(
            &s,
            JobPayload {
                budget: Some(Micros(150_000)),
                ..run("sleep 60", 0.001)
            },
        ))
        .await
        .unwrap();
    let t0 = Instant::now();
    let stopping = until(&s, &j.id, "told to stop", |r| r.reason.is_some()).await;
    assert_eq!(
        stopping.state,
        JobState::Running,
        "the reason is written before the stop"
    );
    assert!(t0.elapsed() < Duration::from_secs(20));
    // A new scheduler over the same files: the end still says why.
    drop(s);
    let s = scheduler(root.path(), 1, Budgets::default()).await;
    let end = until(&s, &j.id, "ended", |r| r.state.is_terminal()).await;
    assert_eq!(end.state, JobState::Cancelled);
    assert_eq!(
        end.reason.as_deref(),
        Some("stopped before the task's budget of $0.150000 was passed")
    );
    let booked = s
        .store()
        .total(&ferry_store::LedgerFilter::job(&j.id))
        .await
        .unwrap();
    assert!(booked <= Micros(150_000), "booked {booked}");
}

#[tokio::test]
async fn user_and_project_caps_refuse_launches_and_count_only_their_own_jobs() {
    let root = tempfile::tempdir().unwrap();
    let budgets = Budgets {
        monthly: None,
        users: [("ana".to_string(), Micros(50_000_000))].into(),
        projects: [("vision".to_string(), Micros(20_000_000))].into(),
    };
    let s = scheduler(root.path(), 2, budgets).await;
    let of = |user: &str, project: Option<&str>, hours: f64| JobPayload {
        user: Some(user.into()),
        project: project.map(str::to_string),
        ..run("sleep 20", hours)
    };
    // ana, 1 h at $36: within her $50.
    let first = s.submit(job(&s, of("ana", None, 1.0))).await.unwrap();
    let mut second = job(&s, of("ana", None, 0.5));
    // Another $18 would make $54: refused, with her numbers.
    let e = s.check_budget(&second).await.unwrap_err().to_string();
    assert!(
        e.contains("would pass user ana's monthly budget")
            && e.contains("$36.000000 of $50.000000 used"),
        "{e}"
    );
    // bob has no cap; his job does not count against ana's.
    second.task = of("bob", None, 0.5).to_value();
    s.check_budget(&second).await.unwrap();
    // A project cap applies whoever launches: $36 passes vision's $20.
    let third = job(&s, of("bob", Some("vision"), 1.0));
    let e = s.check_budget(&third).await.unwrap_err().to_string();
    assert!(e.contains("project vision's monthly budget"), "{e}");
    // A cap with no foreseeable cost: refused.
    let open = job(
        &s,
        JobPayload {
            estimated_hours: None,
            ..of("ana", None, 1.0)
        },
    );
    let e = s.check_budget(&open).await.unwrap_err().to_string();
    assert!(e.contains("cannot be foreseen"), "{e}");
    let uses = s.budget_uses().await.unwrap();
    let ana = uses
        .iter()
        .find(|u| u.scope == Scope::User("ana".into()))
        .unwrap();
    assert_eq!(
        (ana.limit, ana.committed),
        (Micros(50_000_000), Micros(36_000_000))
    );
    let vision = uses
        .iter()
        .find(|u| u.scope == Scope::Project("vision".into()))
        .unwrap();
    assert_eq!(vision.committed, Micros::ZERO);
    s.cancel(&first.id).await.unwrap();
}

#[tokio::test]
async fn a_users_monthly_cap_stops_her_running_job_not_anothers() {
    let root = tempfile::tempdir().unwrap();
    let budgets = Budgets {
        users: [("ana".to_string(), Micros(150_000))].into(),
        ..Budgets::default()
    };
    let s = scheduler(root.path(), 2, budgets).await;
    let mine = s
        .submit(job(
            &s,
            JobPayload {
                user: Some("ana".into()),
                ..run("sleep 60", 0.001)
            },
        ))
        .await
        .unwrap();
    let theirs = s
        .submit(job(
            &s,
            JobPayload {
                user: Some("bob".into()),
                ..run("sleep 60", 0.001)
            },
        ))
        .await
        .unwrap();
    let end = until(&s, &mine.id, "ended", |r| r.state.is_terminal()).await;
    assert_eq!(end.state, JobState::Cancelled);
    assert!(
        end.reason
            .as_deref()
            .unwrap()
            .contains("user ana's monthly budget of $0.150000"),
        "{end:?}"
    );
    assert_eq!(
        s.store().get(&theirs.id).await.unwrap().unwrap().state,
        JobState::Running,
        "bob's job is under no cap"
    );
    s.cancel(&theirs.id).await.unwrap();
    until(&s, &theirs.id, "ended", |r| r.state.is_terminal()).await;
}
