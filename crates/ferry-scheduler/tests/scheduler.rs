//! The scheduler over the real SQLite store and the real local backend (bash jobs under
//! the real supervisor). "A restart" is a new scheduler over the same database file and
//! job folders, with nothing carried over in memory.

use ferry_backend::gpu::declared;
use ferry_backend::local::LocalBackend;
use ferry_job::{JobId, JobState, Micros};
use ferry_scheduler::{JobPayload, Scheduler, SystemClock};
use ferry_store::{JobPatch, LedgerFilter, NewJob, Placement, SqliteStore};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

const PRICE: Micros = Micros(3_600_000); // $3.60/h = $0.001 per second

async fn scheduler(root: &Path, gpus: u32) -> Scheduler {
    let store = SqliteStore::open(&root.join("ferry.db")).await.unwrap();
    let backend = LocalBackend::new(
        root.to_path_buf(),
        declared(gpus, "test GPU", 24.0),
        vec![env!("CARGO_BIN_EXE_ferry-test-supervise").into()],
    );
    Scheduler::new(
        Arc::new(store),
        Arc::new(backend),
        (0..gpus).collect(),
        Arc::new(SystemClock),
    )
}

fn job(s: &Scheduler, run: &str, gpus: u32) -> NewJob {
    NewJob {
        id: s.new_id(),
        name: "test".into(),
        task: JobPayload {
            gpus,
            gpu: None,
            workdir: None,
            envs: Default::default(),
            setup: None,
            run: run.into(),
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
            price_per_hour: PRICE,
        },
        submitted_at_ms: SystemClock.now(),
        max_runtime_s: None,
    }
}

trait Now {
    fn now(&self) -> i64;
}
impl Now for SystemClock {
    fn now(&self) -> i64 {
        use ferry_scheduler::Clock;
        self.now_ms()
    }
}

/// Ticks until the job reaches a final state.
async fn settle(s: &Scheduler, id: &JobId) -> ferry_store::JobRecord {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        s.tick().await.unwrap();
        let rec = s.store().get(id).await.unwrap().unwrap();
        if rec.state.is_terminal() {
            return rec;
        }
        assert!(Instant::now() < deadline, "{id} stuck in {}", rec.state);
        tokio::time::sleep(Duration::from_millis(30)).await;
    }
}

async fn state(s: &Scheduler, id: &JobId) -> JobState {
    s.store().get(id).await.unwrap().unwrap().state
}

#[tokio::test]
async fn a_job_runs_to_success_and_is_charged_once() {
    let root = tempfile::tempdir().unwrap();
    let s = scheduler(root.path(), 2).await;
    let j = s.submit(job(&s, "sleep 0.3; echo done", 1)).await.unwrap();
    assert_eq!(j.state, JobState::Queued);
    let rec = settle(&s, &j.id).await;
    assert_eq!((rec.state, rec.exit_code), (JobState::Succeeded, Some(0)));
    assert_eq!(rec.gpus.as_deref(), Some(&[0u32][..]));
    let ledger = s.store().ledger(&LedgerFilter::job(&j.id)).await.unwrap();
    assert_eq!(ledger.len(), 1);
    let ms = rec.finished_at_ms.unwrap() - rec.started_at_ms.unwrap();
    assert_eq!(ledger[0].entry.amount, ferry_scheduler::charge(PRICE, ms));
    assert!(ledger[0].entry.amount.0 >= 300, "0.3 s at $0.001/s");
    s.tick().await.unwrap();
    assert_eq!(
        s.store()
            .ledger(&LedgerFilter::job(&j.id))
            .await
            .unwrap()
            .len(),
        1,
        "never charged twice"
    );
    assert!(
        s.store().held_devices("local").await.unwrap().is_empty(),
        "GPUs released"
    );
}

#[tokio::test]
async fn a_failing_job_is_failed_with_its_exit_code() {
    let root = tempfile::tempdir().unwrap();
    let s = scheduler(root.path(), 1).await;
    let j = s.submit(job(&s, "exit 7", 0)).await.unwrap();
    let rec = settle(&s, &j.id).await;
    assert_eq!(
        (rec.state, rec.exit_code, rec.reason.as_deref()),
        (JobState::Failed, Some(7), Some("exit code 7"))
    );
    // The run is the job's attempt 1, with its typed cause and its times.
    let attempts = s.store().attempts(&j.id).await.unwrap();
    assert_eq!(attempts.len(), 1);
    let a = &attempts[0];
    assert_eq!((a.attempt, a.backend.as_str()), (1, "local"));
    assert_eq!(a.step, ferry_job::AttemptStep::Ended);
    assert_eq!(a.cause, Some(ferry_job::EndCause::Exited { code: 7 }));
    assert_eq!(a.job_started_at_ms, rec.started_at_ms);
    assert_eq!(a.job_ended_at_ms, rec.finished_at_ms);
}

#[tokio::test]
async fn a_queued_job_starts_when_gpus_free_up() {
    let root = tempfile::tempdir().unwrap();
    let s = scheduler(root.path(), 2).await;
    let a = s.submit(job(&s, "sleep 0.5", 2)).await.unwrap();
    let b = s.submit(job(&s, "echo b", 2)).await.unwrap();
    let t = s.tick().await.unwrap();
    assert_eq!(t.started, std::slice::from_ref(&a.id));
    assert_eq!(
        state(&s, &b.id).await,
        JobState::Queued,
        "both GPUs are taken"
    );
    settle(&s, &a.id).await;
    let rec = settle(&s, &b.id).await;
    assert_eq!(rec.state, JobState::Succeeded);
    assert_eq!(rec.gpus.as_deref(), Some(&[0u32, 1][..]));
}

#[tokio::test]
async fn more_gpus_than_the_backend_has_is_refused_and_nothing_is_stored() {
    let root = tempfile::tempdir().unwrap();
    let s = scheduler(root.path(), 2).await;
    let err = s.submit(job(&s, "true", 3)).await.unwrap_err().to_string();
    assert!(err.contains("asks for 3 GPUs; local has 2"), "{err}");
    assert!(
        s.store()
            .list(&Default::default())
            .await
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
async fn cancel_queued_and_running_jobs() {
    let root = tempfile::tempdir().unwrap();
    let s = scheduler(root.path(), 1).await;
    let running = s.submit(job(&s, "sleep 300", 1)).await.unwrap();
    let queued = s.submit(job(&s, "true", 1)).await.unwrap();
    s.tick().await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while state(&s, &running.id).await != JobState::Running {
        assert!(Instant::now() < deadline);
        s.tick().await.unwrap();
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(
        s.cancel(&queued.id).await.unwrap().state,
        JobState::Cancelled
    );
    s.cancel(&running.id).await.unwrap();
    let rec = settle(&s, &running.id).await;
    assert_eq!(rec.state, JobState::Cancelled);
    assert_eq!(
        s.store()
            .ledger(&LedgerFilter::job(&queued.id))
            .await
            .unwrap()
            .len(),
        0,
        "a job that never ran costs nothing"
    );
    assert_eq!(
        s.store()
            .ledger(&LedgerFilter::job(&running.id))
            .await
            .unwrap()
            .len(),
        1,
        "a cancelled job pays for the time it ran"
    );
}

#[tokio::test]
async fn a_restart_finds_every_job_records_what_ended_meanwhile_and_runs_nothing_twice() {
    let root = tempfile::tempdir().unwrap();
    let marker = root.path().join("runs");
    let run = format!("echo $FERRY_JOB_ID >> {}; sleep 0.4", marker.display());
    let (a, b, c);
    {
        let s = scheduler(root.path(), 1).await;
        a = s.submit(job(&s, &run, 1)).await.unwrap().id; // will be running at the "crash"
        b = s.submit(job(&s, &run, 1)).await.unwrap().id; // queued at the "crash"
        c = s.submit(job(&s, &run, 0)).await.unwrap().id; // CPU-only: starts at once
        s.tick().await.unwrap();
        assert_eq!(state(&s, &a.clone()).await, JobState::Starting);
        // The server dies here: the scheduler and its store connection are dropped.
    }
    // Meanwhile a and c finish under their supervisors.
    tokio::time::sleep(Duration::from_millis(900)).await;
    let s = scheduler(root.path(), 1).await;
    let t = s.tick().await.unwrap();
    let finished: Vec<&JobId> = t.finished.iter().map(|(id, _)| id).collect();
    assert!(finished.contains(&&a) && finished.contains(&&c), "{t:?}");
    assert_eq!(
        t.started,
        std::slice::from_ref(&b),
        "the queued job starts once the GPU is free"
    );
    let rb = settle(&s, &b).await;
    for id in [&a, &b, &c] {
        let rec = s.store().get(id).await.unwrap().unwrap();
        assert_eq!(
            (rec.state, rec.exit_code),
            (JobState::Succeeded, Some(0)),
            "{id}"
        );
    }
    assert_eq!(rb.state, JobState::Succeeded);
    let runs = std::fs::read_to_string(&marker).unwrap();
    for id in [&a, &b, &c] {
        assert_eq!(
            runs.matches(id.as_str()).count(),
            1,
            "{id} ran exactly once:\n{runs}"
        );
    }
    // The ledger adds up: one charge per job, and the total is their exact sum.
    let entries = s.store().ledger(&LedgerFilter::default()).await.unwrap();
    assert_eq!(entries.len(), 3);
    let sum: Micros = entries.iter().map(|e| e.entry.amount).sum();
    assert_eq!(
        s.store().total(&LedgerFilter::default()).await.unwrap(),
        sum
    );
}

#[tokio::test]
async fn a_crash_between_deciding_to_start_and_starting_launches_it_on_restart() {
    let root = tempfile::tempdir().unwrap();
    let marker = root.path().join("runs");
    let id;
    {
        let s = scheduler(root.path(), 1).await;
        let j = s
            .submit(job(&s, &format!("echo ran >> {}", marker.display()), 1))
            .await
            .unwrap();
        id = j.id.clone();
        // What start does before launching: allocate and record Starting. Then "crash".
        s.store().allocate(&id, "local", &[0]).await.unwrap();
        let patch = JobPatch {
            gpus: Some(vec![0]),
            ..JobPatch::default()
        };
        s.store()
            .transition(&id, JobState::Starting, &patch, "starting")
            .await
            .unwrap();
    }
    let s = scheduler(root.path(), 1).await;
    let t = s.tick().await.unwrap();
    assert_eq!(t.relaunched, std::slice::from_ref(&id));
    let rec = settle(&s, &id).await;
    assert_eq!(rec.state, JobState::Succeeded);
    assert_eq!(std::fs::read_to_string(&marker).unwrap(), "ran\n");
}

#[tokio::test]
async fn a_job_whose_supervisor_vanished_is_lost_and_charged_until_found() {
    let root = tempfile::tempdir().unwrap();
    let s = scheduler(root.path(), 1).await;
    let j = s.submit(job(&s, "sleep 300", 1)).await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while state(&s, &j.id).await != JobState::Running {
        assert!(Instant::now() < deadline);
        s.tick().await.unwrap();
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // Kill the supervisor and its job without letting it write an end: a host crash.
    let dir = root.path().join("jobs").join(j.id.as_str());
    let sup: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("supervisor.pid")).unwrap()).unwrap();
    let started: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("started.json")).unwrap()).unwrap();
    // SAFETY: killing processes this test started.
    unsafe {
        libc_kill(started["pgid"].as_i64().unwrap() as i32, true);
        libc_kill(sup["pid"].as_i64().unwrap() as i32, false);
    }
    let rec = settle(&s, &j.id).await;
    assert_eq!(rec.state, JobState::Lost);
    assert!(rec.reason.unwrap().contains("vanished"));
    assert_eq!(
        s.store()
            .ledger(&LedgerFilter::job(&j.id))
            .await
            .unwrap()
            .len(),
        1
    );
}

unsafe fn libc_kill(pid: i32, group: bool) {
    unsafe extern "C" {
        fn kill(pid: i32, sig: i32) -> i32;
    }
    // SAFETY: the caller names processes it owns; 9 is SIGKILL.
    unsafe { kill(if group { -pid } else { pid }, 9) };
}

/// A second backend under another id: real processes, queueing left to "the cluster".
struct Elsewhere(LocalBackend);

#[async_trait::async_trait]
impl ferry_backend::Backend for Elsewhere {
    fn id(&self) -> &str {
        "elsewhere"
    }
    async fn capacity(&self) -> Result<ferry_backend::Capacity, ferry_backend::BackendError> {
        self.0.capacity().await
    }
    async fn launch(
        &self,
        spec: &ferry_backend::LaunchSpec,
    ) -> Result<ferry_backend::Handle, ferry_backend::BackendError> {
        self.0.launch(spec).await
    }
    async fn status(
        &self,
        job: &JobId,
    ) -> Result<ferry_backend::Observed, ferry_backend::BackendError> {
        self.0.status(job).await
    }
    async fn logs(
        &self,
        job: &JobId,
        offset: u64,
    ) -> Result<ferry_backend::LogChunk, ferry_backend::BackendError> {
        self.0.logs(job, offset).await
    }
    async fn cancel(&self, job: &JobId) -> Result<(), ferry_backend::BackendError> {
        self.0.cancel(job).await
    }
    async fn release(&self, job: &JobId) -> Result<(), ferry_backend::BackendError> {
        self.0.release(job).await
    }
    async fn list_owned(
        &self,
    ) -> Result<Vec<(JobId, ferry_backend::Observed)>, ferry_backend::BackendError> {
        self.0.list_owned().await
    }
}

#[tokio::test]
async fn jobs_are_routed_to_the_backend_their_placement_names() {
    let root = tempfile::tempdir().unwrap();
    let mut s = scheduler(root.path(), 1).await;
    let other = root.path().join("elsewhere");
    s.add_queueing_backend(Arc::new(Elsewhere(LocalBackend::new(
        other.clone(),
        declared(0, "none", 0.0),
        vec![env!("CARGO_BIN_EXE_ferry-test-supervise").into()],
    ))));
    let busy = s.submit(job(&s, "sleep 1", 1)).await.unwrap();
    let mut remote = job(&s, "echo routed", 4);
    remote.placement.backend = "elsewhere".into();
    let remote = s.submit(remote).await.unwrap();
    let t = s.tick().await.unwrap();
    assert!(
        t.started.contains(&busy.id) && t.started.contains(&remote.id),
        "{t:?}"
    );
    let rec = settle(&s, &remote.id).await;
    assert_eq!(rec.state, JobState::Succeeded);
    assert!(
        other
            .join("jobs")
            .join(remote.id.as_str())
            .join("output.log")
            .exists(),
        "ran on the other backend"
    );
    assert!(
        rec.gpus.is_none(),
        "the cluster, not Ferry, hands out its GPUs"
    );

    let mut nowhere = job(&s, "true", 0);
    nowhere.placement.backend = "slurm:nowhere".into();
    let err = s.submit(nowhere).await.unwrap_err().to_string();
    assert!(
        err.contains("no backend 'slurm:nowhere' is configured"),
        "{err}"
    );
    settle(&s, &busy.id).await;
}

#[tokio::test]
async fn another_machine_queues_on_its_own_gpus() {
    let root = tempfile::tempdir().unwrap();
    let mut s = scheduler(root.path(), 1).await;
    // An owned machine: the SSH backend's own code, its commands run on this host.
    let there = root.path().join("there");
    s.add_pool(
        Arc::new(ferry_backend::ssh::SshBackend::new(
            "ssh:there".into(),
            ferry_backend::transport::Transport::Local,
            there.display().to_string(),
        )),
        vec![0],
    );
    let here = s.submit(job(&s, "sleep 0.5", 1)).await.unwrap();
    let mut first = job(&s, "echo \"first on $CUDA_VISIBLE_DEVICES\"; sleep 0.5", 1);
    first.placement.backend = "ssh:there".into();
    let first = s.submit(first).await.unwrap();
    let mut second = job(&s, "echo second", 1);
    second.placement.backend = "ssh:there".into();
    let second = s.submit(second).await.unwrap();
    let t = s.tick().await.unwrap();
    // Each machine's single GPU goes to the first job placed on it; the second waits.
    assert!(
        t.started.contains(&here.id) && t.started.contains(&first.id),
        "{t:?}"
    );
    assert_eq!(state(&s, &second.id).await, JobState::Queued);
    let mut too_many = job(&s, "true", 2);
    too_many.placement.backend = "ssh:there".into();
    let err = s.submit(too_many).await.unwrap_err().to_string();
    assert!(err.contains("asks for 2 GPUs; ssh:there has 1"), "{err}");

    for id in [&here.id, &first.id, &second.id] {
        assert_eq!(settle(&s, id).await.state, JobState::Succeeded);
    }
    let first_rec = s.store().get(&first.id).await.unwrap().unwrap();
    let second_rec = s.store().get(&second.id).await.unwrap().unwrap();
    assert!(
        second_rec.started_at_ms >= first_rec.finished_at_ms,
        "waited for the GPU"
    );
    let log = std::fs::read_to_string(there.join(first.id.as_str()).join("out.log")).unwrap();
    assert_eq!(log, "first on 0\n");
}

/// A backend that takes jobs and then cannot be reached (a host gone off the network).
struct Unreachable;

#[async_trait::async_trait]
impl ferry_backend::Backend for Unreachable {
    fn id(&self) -> &str {
        "ssh:gone"
    }
    async fn capacity(&self) -> Result<ferry_backend::Capacity, ferry_backend::BackendError> {
        Err(self.down())
    }
    async fn launch(
        &self,
        _: &ferry_backend::LaunchSpec,
    ) -> Result<ferry_backend::Handle, ferry_backend::BackendError> {
        Ok(ferry_backend::Handle("1".into()))
    }
    async fn status(
        &self,
        _: &JobId,
    ) -> Result<ferry_backend::Observed, ferry_backend::BackendError> {
        Err(self.down())
    }
    async fn logs(
        &self,
        _: &JobId,
        _: u64,
    ) -> Result<ferry_backend::LogChunk, ferry_backend::BackendError> {
        Err(self.down())
    }
    async fn cancel(&self, _: &JobId) -> Result<(), ferry_backend::BackendError> {
        Err(self.down())
    }
    async fn release(&self, _: &JobId) -> Result<(), ferry_backend::BackendError> {
        Ok(())
    }
    async fn list_owned(
        &self,
    ) -> Result<Vec<(JobId, ferry_backend::Observed)>, ferry_backend::BackendError> {
        Err(self.down())
    }
}

impl Unreachable {
    fn down(&self) -> ferry_backend::BackendError {
        ferry_backend::BackendError::Backend {
            backend: "ssh:gone".into(),
            message: "gone: unreachable".into(),
        }
    }
}

#[tokio::test]
async fn an_unreachable_machine_holds_up_no_other_job() {
    let root = tempfile::tempdir().unwrap();
    let mut s = scheduler(root.path(), 1).await;
    s.add_pool(Arc::new(Unreachable), vec![0]);
    s.set_remote_poll(Duration::ZERO);
    let mut there = job(&s, "true", 1);
    there.placement.backend = "ssh:gone".into();
    let there = s.submit(there).await.unwrap();
    s.tick().await.unwrap();
    let here = s.submit(job(&s, "echo fine", 1)).await.unwrap();
    let t = s.tick().await.unwrap();
    assert!(
        t.errors
            .iter()
            .any(|(id, e)| *id == there.id && e == "ssh:gone: gone: unreachable"),
        "{t:?}"
    );
    assert_eq!(settle(&s, &here.id).await.state, JobState::Succeeded);
    // Not given up on: it is asked again on every pass until its host answers.
    assert_eq!(state(&s, &there.id).await, JobState::Starting);
}
