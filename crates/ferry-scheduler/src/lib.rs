//! The scheduler: the queue, each job's lifecycle, recovery after a restart, and the
//! ledger. It is the only layer that reads a clock.
//!
//! Every decision is written to the store before it is acted on, and every action on a
//! backend is idempotent, so a server killed at any point resumes where it was:
//! - submit: the job is durable in `Queued` before `submit` returns;
//! - start: GPUs are allocated and the job moved to `Starting` *then* launched; a crash in
//!   between leaves a `Starting` job the backend reports `Absent`, and it is launched then;
//! - end: the final state, the release of the GPUs and the charge are one transaction.
//!
//! Where work goes is decided by `ferry_policy`, as data written before it is acted on: a
//! pool's queue is FIFO with EASY backfill (`cheapest`: a later job may start out of turn
//! only if it does not delay the first job in line) or first-fit by urgency with bursts to
//! rented machines (`owned-first`, `deadline-spot`); a burst moves the queued job to its
//! rented placement ([`Store::replace_placement`]); a budget stop writes its reason on the
//! job before the stop ([`Store::note_stop`]); a `deadline-spot` job falling behind on spot
//! moves to on-demand (`rented`). The unfinished jobs are kept in memory between passes and
//! read again only where a row's version moved.

mod budgets;
mod payload;
pub mod rented;

pub use budgets::{BudgetUse, Budgets};
pub use payload::{DEFAULT_MAX_RESTARTS, Egress, JobPayload, PlannedOffer};

use ferry_backend::{Backend, BackendError, LaunchSpec, Observed};
use ferry_job::{JobId, JobState, Micros};
use ferry_store::{
    COMPUTE, JobFilter, JobPatch, JobRecord, LedgerEntry, NewJob, Store, StoreError,
};
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

/// Where time comes from (one definition, in `ferry-job`), re-exported for the scheduler's users.
pub use ferry_job::{Clock, ManualClock, SystemClock};

#[derive(Debug, thiserror::Error)]
pub enum SchedulerError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Backend(#[from] BackendError),
    #[error("job {0}: {1}")]
    Job(JobId, String),
}

/// A `Starting` job the backend still reports `Absent` after this long was never launched
/// (a crash came in between) and is launched again.
const RELAUNCH_AFTER: Duration = Duration::from_secs(2);

/// How long a rented machine is expected to take from the decision to rent it to the job
/// running on it: a burst for a deadline is made at least this long before the last
/// moment, and `deadline-spot` counts it as the changeover of a move to on-demand.
pub const RENTAL_READY: Duration = Duration::from_secs(5 * 60);

/// What one pass of the scheduler did.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Tick {
    pub started: Vec<JobId>,
    pub finished: Vec<(JobId, JobState)>,
    pub relaunched: Vec<JobId>,
    /// Jobs whose backend could not be asked this time (a host unreachable): they are
    /// left as they were and asked again on the next pass.
    pub errors: Vec<(JobId, String)>,
    /// Running jobs told to stop because the monthly budget would be passed.
    pub budget_stopped: Vec<JobId>,
}

/// Running jobs are stopped once what the month has booked plus what they have accrued
/// would reach the monthly budget within this long: the cap is not passed by more than
/// what runs while the stop takes effect.
pub const BUDGET_MARGIN: Duration = Duration::from_secs(10);

/// A backend whose GPUs this scheduler hands out itself (this host, an owned machine).
struct Pool {
    backend: Arc<dyn Backend>,
    /// Device indices of its GPUs.
    devices: Vec<u32>,
}

pub struct Scheduler {
    store: Arc<dyn Store>,
    /// The first is this host.
    pools: Vec<Pool>,
    /// Backends that queue work themselves (Slurm sites): jobs go to them at once.
    queueing: Vec<Arc<dyn Backend>>,
    clock: Arc<dyn Clock>,
    sequence: AtomicU32,
    /// Jobs on other machines are asked about at most this often (each question is a
    /// command on a login node or over SSH).
    remote_poll_ms: i64,
    last_polled: std::sync::Mutex<std::collections::HashMap<JobId, i64>>,
    /// One pass at a time: two would both see a job being launched as not launched yet.
    pass: tokio::sync::Mutex<()>,
    /// Providers machines are rented from, if any.
    rented: Option<rented::Rented>,
    /// Caps on what is booked per UTC calendar month.
    budgets: budgets::Budgets,
    /// Jobs this process has told to stop for a budget (not told again each pass).
    budget_stopped: std::sync::Mutex<std::collections::HashSet<JobId>>,
    /// Whose each job is, for the per-user and per-project caps (it never changes).
    owners: std::sync::Mutex<std::collections::HashMap<JobId, budgets::Who>>,
    /// Unfinished jobs as last read, with their row versions: each pass reads again only
    /// the rows whose version moved (the store stays the truth).
    queue: tokio::sync::Mutex<std::collections::HashMap<JobId, (i64, Arc<JobRecord>)>>,
    /// The last hold each queued job was given, so that a hold is logged when it changes.
    holds: std::sync::Mutex<std::collections::HashMap<JobId, String>>,
    /// SSH executors on rented machines, by lease name.
    executors:
        std::sync::Mutex<std::collections::HashMap<String, Arc<ferry_backend::ssh::SshBackend>>>,
}

/// Submissions to a queueing backend (`sbatch` on a login node) made at the same time.
const SUBMISSIONS_IN_FLIGHT: usize = 8;

/// How often a job on another machine is asked about, by default.
pub const REMOTE_POLL: Duration = Duration::from_secs(1);

impl Scheduler {
    pub fn new(
        store: Arc<dyn Store>,
        backend: Arc<dyn Backend>,
        devices: Vec<u32>,
        clock: Arc<dyn Clock>,
    ) -> Scheduler {
        Scheduler {
            store,
            pools: vec![Pool { backend, devices }],
            queueing: vec![],
            clock,
            sequence: AtomicU32::new(0),
            remote_poll_ms: REMOTE_POLL.as_millis() as i64,
            last_polled: Default::default(),
            pass: tokio::sync::Mutex::new(()),
            rented: None,
            budgets: Default::default(),
            budget_stopped: Default::default(),
            owners: Default::default(),
            queue: Default::default(),
            holds: Default::default(),
            executors: Default::default(),
        }
    }

    /// How often jobs on other machines (SSH hosts, Slurm clusters) are asked about.
    pub fn set_remote_poll(&mut self, every: Duration) {
        self.remote_poll_ms = every.as_millis() as i64;
    }

    /// Whether a job on another machine was asked about too recently to ask again.
    fn polled_recently(&self, rec: &JobRecord, now: i64) -> bool {
        if rec.placement.backend == self.pools[0].backend.id() {
            return false;
        }
        self.asked_recently(&rec.id, now)
    }

    /// Notes this job's machine as asked about now (by a caller that learnt its state some
    /// other way): it is not asked again before the remote poll has passed.
    pub fn mark_asked(&self, job: &JobId) {
        let now = self.clock.now_ms();
        self.last_polled
            .lock()
            .expect("poll times")
            .insert(job.clone(), now);
    }

    /// Whether this job's machine is due to be asked about (without noting it as asked).
    pub(crate) fn poll_due_peek(&self, job: &JobId, now: i64) -> bool {
        let last = self.last_polled.lock().expect("poll times");
        last.get(job).is_none_or(|t| now - t >= self.remote_poll_ms)
    }

    /// Whether this job's machine was asked about less than the remote poll ago (else it
    /// is noted as asked now).
    pub(crate) fn asked_recently(&self, job: &JobId, now: i64) -> bool {
        let mut last = self.last_polled.lock().expect("poll times");
        match last.get(job) {
            Some(t) if now - t < self.remote_poll_ms => true,
            _ => {
                last.insert(job.clone(), now);
                false
            }
        }
    }

    /// Adds a backend whose GPUs (`devices`) this scheduler hands out, queueing jobs for
    /// them as it does for this host's (an owned machine over SSH).
    pub fn add_pool(&mut self, backend: Arc<dyn Backend>, devices: Vec<u32>) {
        self.pools.push(Pool { backend, devices });
    }

    /// Adds a backend that queues work itself (a Slurm cluster): jobs placed on it are
    /// handed to it as soon as they are submitted, and followed like local ones.
    pub fn add_queueing_backend(&mut self, backend: Arc<dyn Backend>) {
        self.queueing.push(backend);
    }

    /// The backend with this id, if this scheduler has it.
    pub fn backend_for(&self, id: &str) -> Option<&Arc<dyn Backend>> {
        self.pools
            .iter()
            .map(|p| &p.backend)
            .chain(self.queueing.iter())
            .find(|b| b.id() == id)
    }

    fn pool(&self, id: &str) -> Option<&Pool> {
        self.pools.iter().find(|p| p.backend.id() == id)
    }

    /// Every backend, pools first.
    pub fn backends(&self) -> impl Iterator<Item = &Arc<dyn Backend>> {
        self.pools
            .iter()
            .map(|p| &p.backend)
            .chain(self.queueing.iter())
    }

    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    /// This host's backend.
    pub fn backend(&self) -> &Arc<dyn Backend> {
        &self.pools[0].backend
    }

    /// A fresh job id (time-ordered, unique within this process).
    pub fn new_id(&self) -> JobId {
        JobId::new(
            self.clock.now_ms().max(0) as u64,
            self.sequence.fetch_add(1, Ordering::Relaxed) % (1 << 20),
        )
    }

    /// Queues a job durably. A job asking for more GPUs than the backend has is refused
    /// here, before anything is stored.
    pub async fn submit(&self, job: NewJob) -> Result<JobRecord, SchedulerError> {
        self.check(&job)?;
        self.store.submit(&job).await?;
        let rec = self.store.get(&job.id).await?;
        rec.ok_or_else(|| SchedulerError::Job(job.id, "vanished right after submission".into()))
    }

    /// Whether this scheduler can take a job at all (its payload reads, its backend is
    /// configured, its pool has the GPUs it asks for): checked before it is stored, so a
    /// job that could never run is refused at once rather than queued for ever.
    pub fn check(&self, job: &NewJob) -> Result<(), SchedulerError> {
        let payload = JobPayload::from_value(&job.task)
            .map_err(|e| SchedulerError::Job(job.id.clone(), e))?;
        if self.is_rented(&job.placement.backend) {
            if payload.plan.is_empty() {
                return Err(SchedulerError::Job(
                    job.id.clone(),
                    format!(
                        "placed on the rented backend {} without a plan of offers",
                        job.placement.backend
                    ),
                ));
            }
        } else if self.backend_for(&job.placement.backend).is_none() {
            return Err(SchedulerError::Job(
                job.id.clone(),
                format!(
                    "no backend '{}' is configured in the running server (after changing the config, `ferry server stop` and launch again)",
                    job.placement.backend
                ),
            ));
        }
        if let Some(pool) = self.pool(&job.placement.backend)
            && payload.gpus as usize > pool.devices.len()
        {
            return Err(SchedulerError::Job(
                job.id.clone(),
                format!(
                    "asks for {} GPUs; {} has {}",
                    payload.gpus,
                    pool.backend.id(),
                    pool.devices.len()
                ),
            ));
        }
        Ok(())
    }

    /// Cancels a job: a queued one at once; a running one is signalled and recorded as
    /// cancelled (with its charge) when the backend confirms its end.
    pub async fn cancel(&self, id: &JobId) -> Result<JobRecord, SchedulerError> {
        let rec = self
            .store
            .get(id)
            .await?
            .ok_or_else(|| SchedulerError::Job(id.clone(), "no such job".into()))?;
        match rec.state {
            JobState::Queued => {
                let now = self.clock.now_ms();
                let patch = JobPatch {
                    finished_at_ms: Some(now),
                    reason: Some("cancelled before it started".into()),
                    ..JobPatch::default()
                };
                Ok(self
                    .store
                    .finish(
                        id,
                        JobState::Cancelled,
                        &patch,
                        "cancelled while queued",
                        None,
                    )
                    .await?)
            }
            JobState::Starting | JobState::Running if self.is_rented(&rec.placement.backend) => {
                self.cancel_rented(&rec).await?;
                Ok(rec)
            }
            JobState::Starting | JobState::Running => {
                if let Some(b) = self.backend_for(&rec.placement.backend) {
                    b.cancel(id).await?;
                }
                Ok(rec)
            }
            _ => Ok(rec),
        }
    }

    /// Every unfinished job, most recently submitted first, as the store has it now: rows
    /// whose version has not moved since the last read are taken from memory.
    pub(crate) async fn unfinished(&self) -> Result<Vec<Arc<JobRecord>>, SchedulerError> {
        let mut known = self.queue.lock().await;
        let versions = self.store.unfinished_versions().await?;
        let stale: Vec<JobId> = versions
            .iter()
            .filter(|(id, v)| known.get(id).is_none_or(|(have, _)| have != v))
            .map(|(id, _)| id.clone())
            .collect();
        let live: std::collections::HashSet<&JobId> = versions.iter().map(|(id, _)| id).collect();
        known.retain(|id, _| live.contains(id));
        for (v, rec) in self.store.get_versioned(&stale).await? {
            if rec.state.is_terminal() {
                known.remove(&rec.id); // finished between the two reads
            } else {
                known.insert(rec.id.clone(), (v, Arc::new(rec)));
            }
        }
        let mut out: Vec<Arc<JobRecord>> = known.values().map(|(_, r)| r.clone()).collect();
        out.sort_by(|a, b| (b.submitted_at_ms, &b.id).cmp(&(a.submitted_at_ms, &a.id)));
        Ok(out)
    }

    /// One pass: brings every unfinished job up to date with its backend, then starts what
    /// the queue allows. Called on a timer, after each submission, and at start-up (which
    /// is the whole of recovery after a crash).
    pub async fn tick(&self) -> Result<Tick, SchedulerError> {
        let _one_pass = self.pass.lock().await;
        let mut report = Tick::default();
        let unfinished = self.unfinished().await?;
        for rec in unfinished.iter().filter(|r| {
            matches!(r.state, JobState::Starting | JobState::Running)
                && !self.is_rented(&r.placement.backend)
        }) {
            if self.polled_recently(rec, self.clock.now_ms()) {
                continue;
            }
            // One unreachable host, or one job's odd record, must not hold up every other
            // job: the error is reported and the job asked about again next pass.
            if let Err(e) = self.reconcile(rec, &mut report).await {
                report.errors.push((rec.id.clone(), e.to_string()));
            }
        }
        self.enforce_budgets(&unfinished, &mut report).await?;
        self.release_strays(&unfinished).await?;
        // The queue as read at the start of this pass (reconciling changes only jobs that
        // run; one submitted since is taken by the pass its commit wakes).
        let mut queued: Vec<Arc<JobRecord>> = unfinished
            .into_iter()
            .filter(|r| r.state == JobState::Queued)
            .collect();
        queued.sort_by(|a, b| (a.submitted_at_ms, &a.id).cmp(&(b.submitted_at_ms, &b.id)));
        self.start_queued(&queued, &mut report).await?;
        // Rented work: new attempts for queued jobs, then every open attempt one step on.
        self.place_rented(&queued, &mut report).await?;
        self.follow_rented(&mut report).await?;
        Ok(report)
    }

    async fn reconcile(&self, rec: &JobRecord, report: &mut Tick) -> Result<(), SchedulerError> {
        let now = self.clock.now_ms();
        // A job on a backend no longer configured stays as it is until it comes back.
        let Some(backend) = self.backend_for(&rec.placement.backend).cloned() else {
            return Ok(());
        };
        match backend.status(&rec.id).await? {
            Observed::Pending => {}
            Observed::Running { since_ms } => {
                if rec.state == JobState::Starting {
                    let patch = JobPatch {
                        started_at_ms: Some(since_ms as i64),
                        ..JobPatch::default()
                    };
                    self.store
                        .transition(&rec.id, JobState::Running, &patch, "the job started")
                        .await?;
                }
            }
            Observed::Exited {
                code,
                signal,
                timed_out,
                cancelled,
                started_ms,
                finished_ms,
                reason: said,
            } => {
                if rec.state == JobState::Starting {
                    let patch = JobPatch {
                        started_at_ms: Some(started_ms as i64),
                        ..JobPatch::default()
                    };
                    self.store
                        .transition(&rec.id, JobState::Running, &patch, "the job started")
                        .await?;
                }
                // Typed, as for rented machines: the cause decides the state.
                let cause = ferry_job::EndCause::from_exit(cancelled, timed_out, code, signal);
                let state = cause.final_state();
                let reason = match &cause {
                    ferry_job::EndCause::TimedOut => format!(
                        "{}{}",
                        cause.describe(),
                        rec.max_runtime_s
                            .map(|s| format!(" ({s} s)"))
                            .unwrap_or_default()
                    ),
                    _ => cause.describe(),
                };
                // The backend's own words (Slurm's state and reason) say more, when it has them.
                let reason = said.unwrap_or(reason);
                // A stop decided by a budget was written on the job before it was sent.
                let reason = match (&cause, &rec.reason) {
                    (ferry_job::EndCause::Cancelled, Some(why)) => why.clone(),
                    _ => reason,
                };
                self.budget_stopped
                    .lock()
                    .expect("budget stops")
                    .remove(&rec.id);
                self.finish(
                    rec,
                    state,
                    cause,
                    code,
                    reason,
                    started_ms as i64,
                    finished_ms as i64,
                )
                .await?;
                report.finished.push((rec.id.clone(), state));
            }
            Observed::Absent => {
                // Recorded as starting but never launched: a crash came in between.
                if now - rec.updated_at_ms >= RELAUNCH_AFTER.as_millis() as i64
                    || rec.state == JobState::Starting
                {
                    report.relaunched.push(rec.id.clone());
                    self.start_or_fail(rec, now, report).await?;
                }
            }
            Observed::Unknown => {
                let started = rec.started_at_ms.unwrap_or(now);
                let reason = "its supervisor vanished without recording an end (host restarted?); charged until it was found missing".to_string();
                self.finish(
                    rec,
                    JobState::Lost,
                    ferry_job::EndCause::NodeLost,
                    None,
                    reason,
                    started,
                    now,
                )
                .await?;
                report.finished.push((rec.id.clone(), JobState::Lost));
            }
        }
        Ok(())
    }

    #[allow(clippy::too_many_arguments)] // one run's whole end, booked in one transaction
    async fn finish(
        &self,
        rec: &JobRecord,
        state: JobState,
        cause: ferry_job::EndCause,
        code: Option<i32>,
        reason: String,
        started_ms: i64,
        finished_ms: i64,
    ) -> Result<(), SchedulerError> {
        // Clocks of other machines may put the end a little before the start Ferry
        // recorded when it first saw the job running: the job then ran for no time.
        let started_ms = rec.started_at_ms.unwrap_or(started_ms);
        let finished_ms = finished_ms.max(started_ms);
        let ms = (finished_ms - started_ms).max(0);
        let amount = charge(rec.placement.price_per_hour, ms);
        let entry = LedgerEntry {
            job_id: rec.id.clone(),
            attempt: 1,
            at_ms: finished_ms,
            kind: COMPUTE.into(),
            amount,
            description: format!(
                "{:.3} h on {} at {}/h",
                ms as f64 / 3_600_000.0,
                rec.placement.offer,
                rec.placement.price_per_hour
            ),
        };
        let patch = JobPatch {
            finished_at_ms: Some(finished_ms),
            exit_code: code,
            reason: Some(reason.clone()),
            ..JobPatch::default()
        };
        let run = ferry_store::FinishedRun {
            backend: rec.placement.backend.clone(),
            offer: serde_json::to_value(&rec.placement).expect("a placement serialises"),
            price_per_hour: rec.placement.price_per_hour,
            started_at_ms: started_ms,
            ended_at_ms: finished_ms,
            cause,
        };
        self.store
            .finish_run(&rec.id, state, &patch, &reason, Some(&entry), &run)
            .await?;
        self.last_polled.lock().expect("poll times").remove(&rec.id);
        if let Some(b) = self.backend_for(&rec.placement.backend) {
            b.release(&rec.id).await?;
        }
        Ok(())
    }

    /// GPUs held by jobs that are not running (a crash between allocating and starting).
    async fn release_strays(&self, unfinished: &[Arc<JobRecord>]) -> Result<(), SchedulerError> {
        for pool in &self.pools {
            for (_, job) in self.store.held_devices(pool.backend.id()).await? {
                let active = unfinished.iter().any(|r| {
                    r.id == job && matches!(r.state, JobState::Starting | JobState::Running)
                });
                if !active {
                    self.store.release(&job).await?;
                }
            }
        }
        Ok(())
    }

    /// Starts what the queue (in submission order) allows.
    async fn start_queued(
        &self,
        queued: &[Arc<JobRecord>],
        report: &mut Tick,
    ) -> Result<(), SchedulerError> {
        let now = self.clock.now_ms();
        {
            // Holds are remembered only while their job waits.
            let waiting: std::collections::HashSet<&JobId> = queued.iter().map(|r| &r.id).collect();
            self.holds
                .lock()
                .expect("holds")
                .retain(|id, _| waiting.contains(id));
        }
        // Backends that queue work themselves get their jobs at once, several submissions
        // in flight together (each is a command on a login node).
        let mut handed = vec![];
        for rec in queued
            .iter()
            .filter(|r| self.queueing.iter().any(|b| b.id() == r.placement.backend))
        {
            match self
                .store
                .transition(
                    &rec.id,
                    JobState::Starting,
                    &JobPatch::default(),
                    "handed to its backend",
                )
                .await
            {
                Ok(rec) => handed.push(rec),
                // Cancelled since this pass read the queue: nothing to hand over.
                Err(e) if moved_meanwhile(&e) => {}
                Err(e) => return Err(e.into()),
            }
        }
        for batch in handed.chunks(SUBMISSIONS_IN_FLIGHT) {
            let mut launches = vec![];
            for rec in batch {
                match self.spec_for(rec) {
                    Ok((backend, spec)) => launches.push((
                        rec,
                        tokio::spawn(async move { backend.launch(&spec).await }),
                    )),
                    Err(e) => self.record_launch(rec, Err(e), now, report).await?,
                }
            }
            for (rec, launch) in launches {
                let result = match launch.await {
                    Ok(r) => r.map(|_| ()).map_err(SchedulerError::from),
                    Err(e) => Err(SchedulerError::Job(rec.id.clone(), e.to_string())),
                };
                self.record_launch(rec, result, now, report).await?;
            }
        }
        let running = self
            .store
            .list(&JobFilter {
                states: vec![JobState::Starting, JobState::Running],
                ..JobFilter::default()
            })
            .await?;
        for pool in &self.pools {
            let id = pool.backend.id();
            let mine: Vec<&JobRecord> = queued
                .iter()
                .filter(|r| r.placement.backend == id)
                .map(|r| &**r)
                .collect();
            if !mine.is_empty() {
                self.start_on_pool(pool, &mine, &running, now, report)
                    .await?;
            }
        }
        Ok(())
    }

    /// FIFO with EASY backfill over one pool's GPUs.
    async fn start_on_pool(
        &self,
        pool: &Pool,
        queued: &[&JobRecord],
        running: &[JobRecord],
        now: i64,
        report: &mut Tick,
    ) -> Result<(), SchedulerError> {
        let id = pool.backend.id();
        let held: Vec<u32> = self
            .store
            .held_devices(id)
            .await?
            .into_iter()
            .map(|(d, _)| d)
            .collect();
        let mut free: Vec<u32> = pool
            .devices
            .iter()
            .copied()
            .filter(|d| !held.contains(d))
            .collect();
        let running: Vec<ferry_policy::easy::Running> = running
            .iter()
            .filter(|r| r.placement.backend == id)
            .map(|r| ferry_policy::easy::Running {
                gpus: r.gpus.as_ref().map_or(0, |g| g.len() as u32),
                ends_ms: expected_duration_ms(r).map(|d| r.started_at_ms.unwrap_or(now) + d),
            })
            .collect();
        // Each stored task is read once per pass.
        let payloads: Vec<Option<JobPayload>> = queued
            .iter()
            .map(|r| JobPayload::from_value(&r.task).ok())
            .collect();
        // A queue holding a job placed under a policy that bursts is decided by that
        // policy (owned-first); one holding none keeps submission order with EASY backfill.
        let policy = if payloads
            .iter()
            .flatten()
            .any(|p| p.policy != ferry_policy::PolicyKind::Cheapest)
        {
            ferry_policy::PolicyKind::OwnedFirst
        } else {
            ferry_policy::PolicyKind::Cheapest
        };
        let waiting: Vec<ferry_policy::Queued> = queued
            .iter()
            .zip(&payloads)
            .map(|(r, payload)| {
                let estimate_ms = expected_ms(r, payload.as_ref());
                // Only a job placed under a bursting policy may burst, whatever its queue.
                let bursts = payload
                    .as_ref()
                    .filter(|p| p.policy != ferry_policy::PolicyKind::Cheapest);
                ferry_policy::Queued {
                    gpus: payload.as_ref().map_or(0, |p| p.gpus),
                    submitted_ms: r.submitted_at_ms,
                    estimate_ms,
                    deadline_ms: bursts.and_then(|p| p.deadline_ms),
                    max_wait_ms: bursts.and_then(|p| p.max_wait_s).map(|s| s * 1000),
                    on: (policy == ferry_policy::PolicyKind::Cheapest).then_some(0),
                    rental: bursts.and_then(|p| {
                        let first = p.burst.first()?;
                        let per_hour =
                            Micros::from_usd(first.offer.expected_price_per_hour).ok()?;
                        Some(ferry_policy::Rental {
                            // Unforeseeable under a cap: more than any room.
                            cost: estimate_ms
                                .map_or(Micros(i64::MAX / 4), |ms| charge(per_hour, ms)),
                            ready_ms: RENTAL_READY.as_millis() as i64,
                        })
                    }),
                }
            })
            .collect();
        let pools = [ferry_policy::Pool {
            size: pool.devices.len() as u32,
            free: free.len() as u32,
            running,
            wait_ms: 0,
        }];
        // What rentals may still spend this month (read only when a job could burst).
        let rent_budget_left = match self.budgets.monthly {
            Some(m) if waiting.iter().any(|q| q.rental.is_some()) => ferry_policy::budget::room(
                &self
                    .caps(&[(ferry_policy::budget::Scope::Monthly, m)])
                    .await?,
            ),
            _ => None,
        };
        // The same pass `ferry simulate` replays.
        let decision = ferry_policy::pass::decide(&ferry_policy::View {
            policy,
            now_ms: now,
            pools: &pools,
            queued: &waiting,
            rent_budget_left,
        });
        for action in &decision.actions {
            match *action {
                ferry_policy::Action::Rent { job } => {
                    if let Some(p) = &payloads[job]
                        && let Err(e) = self.burst(queued[job], p, &waiting[job], now).await
                    {
                        report.errors.push((queued[job].id.clone(), e.to_string()));
                    }
                }
                ferry_policy::Action::Hold { job, why } => {
                    self.log_hold(&queued[job].id, why).await;
                }
                ferry_policy::Action::Start { .. } => {}
            }
        }
        let starts = decision.actions.iter().filter_map(|a| match a {
            ferry_policy::Action::Start { job, .. } => Some(*job),
            _ => None,
        });
        for i in starts {
            let rec = queued[i];
            let need = waiting[i].gpus as usize;
            let gpus: Vec<u32> = free.drain(..need).collect();
            // A job cancelled since this pass read the queue takes nothing: its GPUs stay
            // free for the next pass (the one after it in line waits for that pass).
            match self.store.allocate(&rec.id, id, &gpus).await {
                Ok(()) => {}
                Err(e) if moved_meanwhile(&e) => continue,
                Err(e) => return Err(e.into()),
            }
            let patch = JobPatch {
                gpus: Some(gpus),
                ..JobPatch::default()
            };
            let rec = match self
                .store
                .transition(&rec.id, JobState::Starting, &patch, "starting")
                .await
            {
                Ok(rec) => rec,
                Err(e) if moved_meanwhile(&e) => {
                    self.store.release(&rec.id).await?;
                    continue;
                }
                Err(e) => return Err(e.into()),
            };
            self.start_or_fail(&rec, now, report).await?;
        }
        Ok(())
    }

    /// Moves a queued job from its pool to its first burst placement (the policy's `Rent`):
    /// the placement and plan are written, with why, before anything is rented; the
    /// rented path takes it from the next pass. A rental its user's or project's cap
    /// would not allow is held instead, with the numbers.
    async fn burst(
        &self,
        rec: &JobRecord,
        payload: &JobPayload,
        q: &ferry_policy::Queued,
        now: i64,
    ) -> Result<(), SchedulerError> {
        let Some(first) = payload.burst.first() else {
            return Ok(());
        };
        let price = Micros::from_usd(first.offer.expected_price_per_hour)
            .map_err(|e| SchedulerError::Job(rec.id.clone(), e.to_string()))?;
        let placement = ferry_store::Placement {
            backend: first.backend.clone(),
            provider: first
                .category
                .clone()
                .unwrap_or_else(|| first.backend.clone()),
            offer: first.source.clone(),
            price_per_hour: price,
        };
        let moved = NewJob {
            id: rec.id.clone(),
            name: rec.name.clone(),
            task: JobPayload {
                plan: payload.burst.clone(),
                burst: vec![],
                ..payload.clone()
            }
            .to_value(),
            placement,
            submitted_at_ms: rec.submitted_at_ms,
            max_runtime_s: rec.max_runtime_s,
        };
        // The user's and project's caps (the month's is in the pass's room already).
        if let Err(SchedulerError::Job(_, why)) = self.check_budget(&moved).await {
            self.log_hold_text(&rec.id, why).await;
            return Ok(());
        }
        let waited = now - rec.submitted_at_ms;
        let why = match (q.max_wait_ms, q.deadline_ms) {
            (Some(w), _) if waited >= w => format!(
                "waited {:.2} h for {}, past its max_wait of {:.2} h",
                waited as f64 / 3_600_000.0,
                rec.placement.backend,
                w as f64 / 3_600_000.0
            ),
            (_, Some(_)) => format!(
                "waiting longer for {} would miss its deadline",
                rec.placement.backend
            ),
            _ => format!("{} cannot start it", rec.placement.backend),
        };
        let detail = format!(
            "{}: burst to {} {} in {} (${:.4}/h planned): {why}",
            payload.policy,
            first.backend,
            first.offer.instance_type,
            first.offer.region,
            first.offer.expected_price_per_hour
        );
        match self
            .store
            .replace_placement(&rec.id, &moved.placement, &moved.task, &detail)
            .await
        {
            Ok(_) => Ok(()),
            Err(e) if moved_meanwhile(&e) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    /// Logs a policy's hold on a queued job as a decision, once each time it changes.
    async fn log_hold(&self, job: &JobId, why: ferry_policy::Hold) {
        let text = match why {
            ferry_policy::Hold::OverBudget { cost, left } => format!(
                "held: renting would cost {cost}, more than the {left} the monthly budget has left"
            ),
            ferry_policy::Hold::RentalTooLate => {
                "held: a rental could no longer meet the deadline either; waiting for its pool".into()
            }
            ferry_policy::Hold::NoRental => {
                "held: its wait is past max_wait or its deadline, and no rented placement is enabled for it".into()
            }
        };
        self.log_hold_text(job, text).await;
    }

    async fn log_hold_text(&self, job: &JobId, text: String) {
        {
            let mut holds = self.holds.lock().expect("holds");
            if holds.get(job) == Some(&text) {
                return;
            }
            holds.insert(job.clone(), text.clone());
        }
        // A decision that changes nothing: losing it to a crash loses only the log line.
        let _ = self.store.record_decision(job, &text).await;
    }

    /// Launches a job recorded as starting; a backend that refuses it (a bad account, a
    /// request the cluster cannot satisfy) fails the job with the backend's reason.
    async fn start_or_fail(
        &self,
        rec: &JobRecord,
        now: i64,
        report: &mut Tick,
    ) -> Result<(), SchedulerError> {
        let result = self.launch(rec).await;
        self.record_launch(rec, result, now, report).await
    }

    /// A launch that failed fails the job with the reason; one that worked is reported.
    async fn record_launch(
        &self,
        rec: &JobRecord,
        result: Result<(), SchedulerError>,
        now: i64,
        report: &mut Tick,
    ) -> Result<(), SchedulerError> {
        match result {
            Ok(()) => report.started.push(rec.id.clone()),
            Err(e) => {
                let patch = JobPatch {
                    finished_at_ms: Some(now),
                    reason: Some(e.to_string()),
                    ..JobPatch::default()
                };
                self.store
                    .finish(
                        &rec.id,
                        JobState::Failed,
                        &patch,
                        &format!("could not start: {e}"),
                        None,
                    )
                    .await?;
                report.finished.push((rec.id.clone(), JobState::Failed));
            }
        }
        Ok(())
    }

    async fn launch(&self, rec: &JobRecord) -> Result<(), SchedulerError> {
        let (backend, spec) = self.spec_for(rec)?;
        backend.launch(&spec).await?;
        Ok(())
    }

    /// The backend a job goes to, and what it is told.
    fn spec_for(&self, rec: &JobRecord) -> Result<(Arc<dyn Backend>, LaunchSpec), SchedulerError> {
        let p = JobPayload::from_value(&rec.task)
            .map_err(|e| SchedulerError::Job(rec.id.clone(), e))?;
        let spec = LaunchSpec {
            job: rec.id.clone(),
            name: rec.name.clone(),
            workdir: p.workdir.clone(),
            envs: p.envs.clone(),
            setup: p.setup.clone(),
            run: p.run.clone(),
            gpus: rec.gpus.clone().unwrap_or_default(),
            gpu_count: p.gpus,
            max_runtime: rec
                .max_runtime_s
                .map(|s| Duration::from_secs(s.max(0) as u64)),
            guard: None,
        };
        let backend = self.backend_for(&rec.placement.backend).ok_or_else(|| {
            SchedulerError::Job(
                rec.id.clone(),
                format!("no backend '{}' is configured", rec.placement.backend),
            )
        })?;
        Ok((backend.clone(), spec))
    }
}

/// Whether a write failed because the job left the queue after the pass read it (a
/// cancel in between): the pass leaves that job alone and goes on.
fn moved_meanwhile(e: &StoreError) -> bool {
    matches!(
        e,
        StoreError::IllegalTransition { .. }
            | StoreError::AllocateFinished { .. }
            | StoreError::Conflict { .. }
    )
}

/// What `ms` of use costs at `per_hour`, in exact integers, rounded half up once.
pub fn charge(per_hour: Micros, ms: i64) -> Micros {
    let exact = i128::from(per_hour.0) * i128::from(ms.max(0));
    Micros(((exact + 1_800_000) / 3_600_000) as i64)
}

fn expected_duration_ms(r: &JobRecord) -> Option<i64> {
    expected_ms(r, JobPayload::from_value(&r.task).ok().as_ref())
}

/// What an unfinished job has cost and is still expected to cost at its placement's rate
/// (0 when nobody can say).
fn remaining_cost(r: &JobRecord, now: i64) -> Micros {
    let Some(ms) = expected_duration_ms(r) else {
        return Micros::ZERO;
    };
    let ran = r.started_at_ms.map_or(0, |s| (now - s).max(0));
    charge(r.placement.price_per_hour, ms.max(ran))
}

/// How long a job is expected to run: its estimate, within its maximum runtime.
fn expected_ms(r: &JobRecord, payload: Option<&JobPayload>) -> Option<i64> {
    expected_ms_of(r.max_runtime_s, payload)
}

fn expected_ms_of(max_runtime_s: Option<i64>, payload: Option<&JobPayload>) -> Option<i64> {
    let from_task = payload
        .and_then(|p| p.estimated_hours)
        .map(|h| (h * 3_600_000.0) as i64);
    let limit = max_runtime_s.map(|s| s * 1000);
    match (from_task, limit) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn charges_are_exact_integers() {
        assert_eq!(charge(Micros(3_990_000), 3_600_000), Micros(3_990_000));
        assert_eq!(charge(Micros(3_990_000), 90_000), Micros(99_750));
        assert_eq!(charge(Micros(1), 1_800_000), Micros(1)); // half rounds up
        assert_eq!(charge(Micros(1), 1_799_999), Micros(0));
        assert_eq!(charge(Micros(55_040_000), -5), Micros(0));
    }
}
