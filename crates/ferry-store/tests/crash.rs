//! kill -9 in the middle of writing: the test binary runs itself as the writer, is killed
//! at a random moment, and the store must then hold every job it acknowledged, whole.

mod common;

use ferry_job::{JobId, JobState, Micros};
use ferry_store::{
    COMPUTE, EventKind, JobFilter, JobPatch, LedgerEntry, LedgerFilter, NewJob, SqliteStore, Store,
};
use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

const DB_VAR: &str = "FERRY_STORE_CRASH_DB";
const ROUND_VAR: &str = "FERRY_STORE_CRASH_ROUND";

fn job_id(round: u32, n: u32) -> JobId {
    JobId::new(common::T0 as u64 + u64::from(round), n)
}

fn price(n: u32) -> Micros {
    Micros(1_000_000 + i64::from(n))
}

fn compute(id: &JobId, amount: Micros) -> LedgerEntry {
    LedgerEntry {
        job_id: id.clone(),
        attempt: 1,
        at_ms: common::T0,
        kind: COMPUTE.into(),
        amount,
        description: String::new(),
    }
}

/// The writer. A no-op unless the parent test started this binary to run it.
#[tokio::test]
async fn crash_child() {
    let Ok(path) = std::env::var(DB_VAR) else {
        return;
    };
    let round: u32 = std::env::var(ROUND_VAR).unwrap().parse().unwrap();
    let store = SqliteStore::open(path.as_ref()).await.unwrap();
    let started = Instant::now();
    // Bounded so that an orphaned writer stops by itself.
    for n in 0..20_000u32 {
        if started.elapsed() > Duration::from_secs(60) {
            break;
        }
        let id = job_id(round, n);
        let mut job: NewJob = common::job(n);
        job.id = id.clone();
        store.submit(&job).await.unwrap();
        println!("submitted {id}");
        if n % 3 == 0 {
            continue;
        }
        store
            .transition(&id, JobState::Starting, &JobPatch::default(), "")
            .await
            .unwrap();
        let device = round * 100_000 + n;
        store.allocate(&id, "local", &[device]).await.unwrap();
        store
            .transition(
                &id,
                JobState::Running,
                &JobPatch {
                    started_at_ms: Some(common::T0),
                    backend_handle: Some(format!("pid:{n}")),
                    ..JobPatch::default()
                },
                "",
            )
            .await
            .unwrap();
        if n % 3 == 1 {
            continue;
        }
        store
            .finish(
                &id,
                JobState::Succeeded,
                &JobPatch {
                    finished_at_ms: Some(common::T0 + 1),
                    exit_code: Some(0),
                    ..JobPatch::default()
                },
                "exited 0",
                Some(&compute(&id, price(n))),
            )
            .await
            .unwrap();
        println!("finished {id}");
    }
}

/// Starts the writer, waits for it to acknowledge `submissions` jobs, kills it with
/// SIGKILL, and returns what it acknowledged.
fn run_and_kill(
    path: &std::path::Path,
    round: u32,
    submissions: usize,
) -> (Vec<JobId>, Vec<JobId>) {
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "crash_child", "--nocapture", "--test-threads=1"])
        .env(DB_VAR, path)
        .env(ROUND_VAR, round.to_string())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel();
    let reader = std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let (mut submitted, mut finished) = (Vec::new(), Vec::new());
    let deadline = Instant::now() + Duration::from_secs(90);
    while submitted.len() < submissions {
        let left = deadline.saturating_duration_since(Instant::now());
        let Ok(line) = rx.recv_timeout(left) else {
            let _ = child.kill();
            panic!("the writer acknowledged only {} jobs", submitted.len());
        };
        let mut words = line.split_whitespace();
        match (words.next(), words.next().map(str::parse::<JobId>)) {
            (Some("submitted"), Some(Ok(id))) => submitted.push(id),
            (Some("finished"), Some(Ok(id))) => finished.push(id),
            _ => {}
        }
    }
    // std's kill is SIGKILL: no destructor, no rollback, no checkpoint runs in the child.
    child.kill().unwrap();
    let status = child.wait().unwrap();
    assert!(
        !status.success(),
        "the writer was killed, not finished: {status}"
    );
    // Lines printed before the kill still count: what was printed was committed.
    for line in rx.iter() {
        let mut words = line.split_whitespace();
        match (words.next(), words.next().map(str::parse::<JobId>)) {
            (Some("submitted"), Some(Ok(id))) => submitted.push(id),
            (Some("finished"), Some(Ok(id))) => finished.push(id),
            _ => {}
        }
    }
    reader.join().unwrap();
    (submitted, finished)
}

async fn check_consistent(
    store: &SqliteStore,
    acknowledged: &BTreeSet<JobId>,
    finished: &BTreeSet<JobId>,
) {
    assert_eq!(store.check().await.unwrap(), Vec::<String>::new());
    let jobs = store.list(&JobFilter::default()).await.unwrap();
    let known: BTreeSet<_> = jobs.iter().map(|j| j.id.clone()).collect();
    let lost: Vec<_> = acknowledged.difference(&known).collect();
    assert!(lost.is_empty(), "acknowledged but missing: {lost:?}");

    let mut expected_total = Micros::ZERO;
    let mut holders = BTreeMap::new();
    for (device, holder) in store.held_devices("local").await.unwrap() {
        assert!(holders.insert(device, holder).is_none());
    }
    for job in &jobs {
        let events = store.events(&job.id).await.unwrap();
        let first = events
            .first()
            .unwrap_or_else(|| panic!("{} has no events", job.id));
        assert_eq!(
            (first.kind, first.to),
            (EventKind::Submitted, JobState::Queued)
        );
        assert_eq!(events.last().unwrap().to, job.state, "{}", job.id);
        let charges = store.ledger(&LedgerFilter::job(&job.id)).await.unwrap();
        if job.state == JobState::Succeeded {
            assert_eq!(job.exit_code, Some(0), "{}", job.id);
            assert_eq!(charges.len(), 1, "{} is billed once", job.id);
            expected_total += charges[0].entry.amount;
        } else {
            assert!(
                charges.is_empty(),
                "{} is billed before it finished",
                job.id
            );
        }
        if job.state.is_terminal() {
            assert!(
                !holders.values().any(|h| h == &job.id),
                "{} holds a GPU",
                job.id
            );
        }
        if job.state == JobState::Running {
            assert!(
                holders.values().any(|h| h == &job.id),
                "{} lost its GPU",
                job.id
            );
        }
    }
    for id in finished {
        let job = store.get(id).await.unwrap().unwrap();
        assert_eq!(
            job.state,
            JobState::Succeeded,
            "{id} was acknowledged finished"
        );
    }
    assert_eq!(
        store.total(&LedgerFilter::default()).await.unwrap(),
        expected_total
    );
}

/// What a restarted server does: finish what was running, start what was queued, and
/// give up on what was starting. Each job must end up run and billed exactly once.
async fn reconcile(store: &SqliteStore) {
    for job in store.list(&JobFilter::unfinished()).await.unwrap() {
        let n = u32::try_from(job.submitted_at_ms - common::T0).unwrap();
        let done = JobPatch {
            exit_code: Some(0),
            ..JobPatch::default()
        };
        match job.state {
            JobState::Queued => {
                store
                    .transition(&job.id, JobState::Starting, &JobPatch::default(), "restart")
                    .await
                    .unwrap();
                store
                    .transition(&job.id, JobState::Running, &JobPatch::default(), "restart")
                    .await
                    .unwrap();
                store
                    .finish(
                        &job.id,
                        JobState::Succeeded,
                        &done,
                        "",
                        Some(&compute(&job.id, price(n))),
                    )
                    .await
                    .unwrap();
            }
            JobState::Starting => {
                store
                    .finish(
                        &job.id,
                        JobState::Lost,
                        &JobPatch::default(),
                        "restart",
                        None,
                    )
                    .await
                    .unwrap();
            }
            JobState::Running => {
                store
                    .finish(
                        &job.id,
                        JobState::Succeeded,
                        &done,
                        "",
                        Some(&compute(&job.id, price(n))),
                    )
                    .await
                    .unwrap();
            }
            other => panic!("{other} is not unfinished"),
        }
    }
}

#[tokio::test]
async fn kill_minus_nine_leaves_every_job_whole() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ferry.db");
    let seed = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .subsec_nanos() as usize;
    let mut acknowledged = BTreeSet::new();
    let mut finished = BTreeSet::new();
    for round in 0..3u32 {
        // A different moment each time, so that over runs the kill lands everywhere.
        let target = 60 + (seed / (round as usize + 1)) % 120;
        let (s, f) = run_and_kill(&path, round, target);
        assert!(s.len() >= target);
        acknowledged.extend(s);
        finished.extend(f);
        let store = SqliteStore::open(&path).await.unwrap();
        check_consistent(&store, &acknowledged, &finished).await;
        store.close().await;
    }
    let store = SqliteStore::open(&path).await.unwrap();
    let before = store.total(&LedgerFilter::default()).await.unwrap();
    reconcile(&store).await;
    check_consistent(&store, &acknowledged, &finished).await;
    assert!(
        store
            .list(&JobFilter::unfinished())
            .await
            .unwrap()
            .is_empty()
    );
    assert!(store.held_devices("local").await.unwrap().is_empty());
    let after = store.total(&LedgerFilter::default()).await.unwrap();
    assert!(after >= before);
    // Billing every finished job again changes nothing.
    for job in store.list(&JobFilter::default()).await.unwrap() {
        if job.state == JobState::Succeeded {
            let n = u32::try_from(job.submitted_at_ms - common::T0).unwrap();
            assert!(!store.book(&compute(&job.id, price(n))).await.unwrap());
        }
    }
    assert_eq!(store.total(&LedgerFilter::default()).await.unwrap(), after);
}
