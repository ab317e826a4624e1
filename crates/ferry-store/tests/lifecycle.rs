mod common;

use common::{T0, charge, id, job, running};
use ferry_job::{JobState, Micros};
use ferry_store::{EventKind, JobFilter, JobPatch, LedgerFilter, SqliteStore, Store, StoreError};
use std::sync::Arc;

async fn store() -> Arc<dyn Store> {
    Arc::new(SqliteStore::open_in_memory().await.unwrap())
}

#[tokio::test]
async fn a_job_goes_from_queued_to_succeeded_and_is_billed_once() {
    let store = store().await;
    let j = job(1);
    store.submit(&j).await.unwrap();
    let queued = store.get(&j.id).await.unwrap().unwrap();
    assert_eq!(queued.state, JobState::Queued);
    assert_eq!(queued.task, j.task);
    assert_eq!(queued.placement, j.placement);
    assert_eq!(queued.max_runtime_s, Some(3600));

    running(store.as_ref(), 100).await; // another job, to show filters work
    store
        .transition(&j.id, JobState::Starting, &JobPatch::default(), "placing")
        .await
        .unwrap();
    store.allocate(&j.id, "local", &[0, 1]).await.unwrap();
    let started = store
        .transition(
            &j.id,
            JobState::Running,
            &JobPatch {
                started_at_ms: Some(T0 + 1_000),
                backend_handle: Some("pid:4242".into()),
                gpus: Some(vec![0, 1]),
                ..JobPatch::default()
            },
            "started",
        )
        .await
        .unwrap();
    assert_eq!(started.backend_handle.as_deref(), Some("pid:4242"));
    assert_eq!(started, store.get(&j.id).await.unwrap().unwrap());

    let done = store
        .finish(
            &j.id,
            JobState::Succeeded,
            &JobPatch {
                finished_at_ms: Some(T0 + 3_601_000),
                exit_code: Some(0),
                ..JobPatch::default()
            },
            "exited 0",
            Some(&charge(&j.id, 2_500_000)),
        )
        .await
        .unwrap();
    assert_eq!(done.state, JobState::Succeeded);
    assert_eq!(done.exit_code, Some(0));
    assert_eq!(
        done.started_at_ms,
        Some(T0 + 1_000),
        "the patch keeps what it does not set"
    );
    assert_eq!(done, store.get(&j.id).await.unwrap().unwrap());

    let kinds: Vec<_> = store
        .events(&j.id)
        .await
        .unwrap()
        .iter()
        .map(|e| (e.kind, e.from, e.to))
        .collect();
    use JobState::*;
    assert_eq!(
        kinds,
        [
            (EventKind::Submitted, None, Queued),
            (EventKind::Transition, Some(Queued), Starting),
            (EventKind::Allocated, Some(Starting), Starting),
            (EventKind::Transition, Some(Starting), Running),
            (EventKind::Transition, Some(Running), Succeeded),
            (EventKind::Released, Some(Succeeded), Succeeded),
            (EventKind::Charged, Some(Succeeded), Succeeded),
        ]
    );
    let held = store.held_devices("local").await.unwrap();
    assert!(held.iter().all(|(_, holder)| holder != &j.id), "{held:?}");

    // Billing again is a no-op; billing differently is refused.
    assert!(!store.book(&charge(&j.id, 2_500_000)).await.unwrap());
    let err = store.book(&charge(&j.id, 9)).await.unwrap_err();
    assert!(matches!(err, StoreError::LedgerConflict { .. }), "{err}");
    assert_eq!(
        store.total(&LedgerFilter::default()).await.unwrap(),
        Micros(2_500_000)
    );
    assert_eq!(
        store.ledger(&LedgerFilter::job(&j.id)).await.unwrap().len(),
        1
    );

    // A finished job is finished.
    let again = store
        .finish(&j.id, Succeeded, &JobPatch::default(), "again", None)
        .await
        .unwrap_err();
    assert!(matches!(
        again,
        StoreError::IllegalTransition {
            from: Succeeded,
            ..
        }
    ));

    let running_now = store
        .list(&JobFilter {
            states: vec![Running],
            ..JobFilter::default()
        })
        .await
        .unwrap();
    assert_eq!(running_now.len(), 1);
    assert_eq!(running_now[0].id, id(100));
    assert_eq!(store.list(&JobFilter::unfinished()).await.unwrap().len(), 1);
}

#[tokio::test]
async fn an_illegal_transition_writes_nothing() {
    let store = store().await;
    let j = job(1);
    store.submit(&j).await.unwrap();
    let before = store.events(&j.id).await.unwrap();
    let record = store.get(&j.id).await.unwrap();
    for to in [
        JobState::Queued,
        JobState::Running,
        JobState::Succeeded,
        JobState::Lost,
    ] {
        let err = store
            .transition(
                &j.id,
                to,
                &JobPatch {
                    exit_code: Some(3),
                    ..JobPatch::default()
                },
                "nope",
            )
            .await
            .unwrap_err();
        match err {
            StoreError::IllegalTransition { id, from, to: t } => {
                assert_eq!((id, from, t), (j.id.clone(), JobState::Queued, to));
            }
            other => panic!("{other}"),
        }
    }
    let err = store
        .finish(&j.id, JobState::Running, &JobPatch::default(), "", None)
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::NotTerminal { .. }), "{err}");
    assert_eq!(store.events(&j.id).await.unwrap(), before);
    assert_eq!(store.get(&j.id).await.unwrap(), record);
}

#[tokio::test]
async fn a_failed_finish_leaves_the_job_running_and_unbilled() {
    let store = store().await;
    let a = running(store.as_ref(), 1).await;
    // Booked earlier by hand with another amount: the finish must not half-happen.
    store.book(&charge(&a, 1)).await.unwrap();
    let events = store.events(&a).await.unwrap().len();
    let err = store
        .finish(
            &a,
            JobState::Succeeded,
            &JobPatch::default(),
            "exited 0",
            Some(&charge(&a, 2)),
        )
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::LedgerConflict { .. }), "{err}");
    assert_eq!(
        store.get(&a).await.unwrap().unwrap().state,
        JobState::Running
    );
    assert_eq!(store.events(&a).await.unwrap().len(), events);
    assert_eq!(store.held_devices("local").await.unwrap().len(), 2);
    assert_eq!(
        store.total(&LedgerFilter::default()).await.unwrap(),
        Micros(1)
    );

    let other = store
        .finish(
            &a,
            JobState::Succeeded,
            &JobPatch::default(),
            "",
            Some(&charge(&id(99), 5)),
        )
        .await
        .unwrap_err();
    assert!(other.to_string().contains("another job"), "{other}");
}

#[tokio::test]
async fn bad_input_stores_nothing() {
    let store = store().await;
    let mut bad = job(1);
    bad.name = String::new();
    let err = store.submit(&bad).await.unwrap_err();
    assert!(err.to_string().contains(bad.id.as_str()), "{err}");
    assert!(store.get(&bad.id).await.unwrap().is_none());
    assert!(matches!(
        store.events(&bad.id).await.unwrap_err(),
        StoreError::NotFound { .. }
    ));

    let good = job(2);
    store.submit(&good).await.unwrap();
    let dup = store.submit(&good).await.unwrap_err();
    assert!(matches!(dup, StoreError::Duplicate { .. }), "{dup}");
    assert_eq!(store.events(&good.id).await.unwrap().len(), 1);

    let backwards = JobPatch {
        started_at_ms: Some(T0 + 10),
        finished_at_ms: Some(T0),
        ..JobPatch::default()
    };
    let err = store
        .transition(&good.id, JobState::Cancelled, &backwards, "")
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Invalid { .. }), "{err}");
    assert_eq!(
        store.get(&good.id).await.unwrap().unwrap().state,
        JobState::Queued
    );

    let missing = store.book(&charge(&id(77), 5)).await.unwrap_err();
    assert!(matches!(missing, StoreError::NotFound { .. }), "{missing}");
    let mut kindless = charge(&good.id, 5);
    kindless.kind = " ".into();
    assert!(store.book(&kindless).await.is_err());
    assert_eq!(
        store.total(&LedgerFilter::default()).await.unwrap(),
        Micros::ZERO
    );
}

#[tokio::test]
async fn lists_newest_first_with_a_limit_and_ledger_filters() {
    let store = store().await;
    for n in 1..=5 {
        store.submit(&job(n)).await.unwrap();
    }
    let ids: Vec<_> = store
        .list(&JobFilter {
            limit: Some(3),
            ..JobFilter::default()
        })
        .await
        .unwrap()
        .into_iter()
        .map(|j| j.id)
        .collect();
    assert_eq!(ids, [id(5), id(4), id(3)]);
    assert!(
        store
            .list(&JobFilter {
                backend: Some("slurm".into()),
                ..JobFilter::default()
            })
            .await
            .unwrap()
            .is_empty()
    );

    for n in 1..=5 {
        let mut c = charge(&id(n), i64::from(n) * 1_000_001);
        c.at_ms = T0 + i64::from(n);
        assert!(store.book(&c).await.unwrap());
    }
    let mut egress = charge(&id(1), 7);
    egress.kind = "egress".into();
    assert!(store.book(&egress).await.unwrap());
    let all = LedgerFilter::default();
    assert_eq!(store.total(&all).await.unwrap(), Micros(15_000_015 + 7));
    let window = LedgerFilter {
        since_ms: Some(T0 + 2),
        until_ms: Some(T0 + 4),
        kind: Some("compute".into()),
        ..LedgerFilter::default()
    };
    assert_eq!(store.total(&window).await.unwrap(), Micros(5_000_005));
    assert_eq!(
        store.total(&LedgerFilter::job(&id(1))).await.unwrap(),
        Micros(1_000_008)
    );
    let booked = store.ledger(&all).await.unwrap();
    assert_eq!(booked.len(), 6);
    assert!(booked.windows(2).all(|w| w[0].id < w[1].id));
}

#[tokio::test]
async fn a_group_commit_answers_each_job_and_a_duplicate_spoils_none_of_the_others() {
    let store = store().await;
    store.submit(&job(2)).await.unwrap();
    let mut bad = job(4);
    bad.name = String::new();
    let batch = [job(1), job(2), job(3), bad];
    let answers = store.submit_many(&batch).await;
    assert!(answers[0].is_ok(), "{:?}", answers[0]);
    assert!(
        matches!(answers[1], Err(StoreError::Duplicate { .. })),
        "{:?}",
        answers[1]
    );
    assert!(answers[2].is_ok());
    assert!(
        answers[3].is_err(),
        "an unnamed job is refused by its checks"
    );
    let queued = store.list(&JobFilter::unfinished()).await.unwrap();
    let mut ids: Vec<_> = queued.iter().map(|r| r.id.clone()).collect();
    ids.sort();
    assert_eq!(ids, [id(1), id(2), id(3)]);
    // A clean batch goes in whole.
    let answers = store.submit_many(&[job(5), job(6)]).await;
    assert!(answers.iter().all(Result::is_ok));
    assert_eq!(store.list(&JobFilter::unfinished()).await.unwrap().len(), 5);
}

#[tokio::test]
async fn a_queued_job_moves_to_another_placement_once_and_a_started_one_does_not() {
    let store = store().await;
    let j = job(1);
    store.submit(&j).await.unwrap();
    let rented = ferry_store::Placement {
        backend: "runpod".into(),
        provider: "gpu-cloud".into(),
        offer: "runpod A40".into(),
        price_per_hour: Micros(400_000),
    };
    let task = serde_json::json!({"run": "echo moved", "gpus": 1});
    let moved = store
        .replace_placement(&j.id, &rented, &task, "owned-first: burst to runpod")
        .await
        .unwrap();
    assert_eq!(
        (moved.state, &moved.placement, &moved.task),
        (JobState::Queued, &rented, &task)
    );
    // Listed by its new backend.
    let on_runpod = store
        .list(&JobFilter {
            backend: Some("runpod".into()),
            ..JobFilter::default()
        })
        .await
        .unwrap();
    assert_eq!(on_runpod.len(), 1);
    let last = store.events(&j.id).await.unwrap().pop().unwrap();
    assert_eq!(
        (last.kind, last.detail.as_str()),
        (EventKind::Decision, "owned-first: burst to runpod")
    );
    // Started meanwhile: the move is refused and nothing changes.
    let r = running(store.as_ref(), 2).await;
    let e = store
        .replace_placement(&r, &rented, &task, "too late")
        .await
        .unwrap_err();
    assert!(matches!(e, StoreError::Conflict { .. }), "{e}");
    assert_eq!(
        store.get(&r).await.unwrap().unwrap().placement.backend,
        "local"
    );
    assert!(matches!(
        store.replace_placement(&id(99), &rented, &task, "x").await,
        Err(StoreError::NotFound { .. })
    ));
}

#[tokio::test]
async fn why_a_job_is_stopped_is_written_before_its_end_and_kept() {
    let store = store().await;
    let r = running(store.as_ref(), 3).await;
    let noted = store
        .note_stop(&r, "stopped before the task's budget")
        .await
        .unwrap();
    assert_eq!(noted.state, JobState::Running);
    assert_eq!(
        noted.reason.as_deref(),
        Some("stopped before the task's budget")
    );
    store.record_decision(&r, "held: nothing").await.unwrap();
    let kinds: Vec<EventKind> = store
        .events(&r)
        .await
        .unwrap()
        .iter()
        .map(|e| e.kind)
        .collect();
    assert_eq!(
        &kinds[kinds.len() - 2..],
        [EventKind::Decision, EventKind::Decision]
    );
    // A finished job takes no stop.
    store
        .finish(
            &r,
            JobState::Cancelled,
            &JobPatch {
                finished_at_ms: Some(T0 + 9_000),
                ..JobPatch::default()
            },
            "cancelled",
            None,
        )
        .await
        .unwrap();
    assert!(matches!(
        store.note_stop(&r, "late").await,
        Err(StoreError::Conflict { .. })
    ));
}
