use crate::error::StoreError;
use crate::model::{
    Attempt, AttemptPatch, BookedEntry, FinishedRun, JobEvent, JobFilter, JobMove, JobPatch,
    JobRecord, LedgerEntry, LedgerFilter, NewAttempt, NewJob, Placement,
};
use async_trait::async_trait;
use ferry_job::{JobId, JobState, Micros};

/// Ferry's durable state. Every method is one transaction: it happens whole or not at all,
/// so a crash at any point leaves every job and every cent accounted for.
///
/// Object-safe (the server holds an `Arc<dyn Store>`), and written in terms of the shared
/// domain types only, so that PostgreSQL is one more implementation.
#[async_trait]
pub trait Store: Send + Sync {
    /// Records a new job in [`JobState::Queued`] together with its first event.
    async fn submit(&self, job: &NewJob) -> Result<(), StoreError>;

    /// Records several new jobs at once (group commit): one answer per job, in order. An
    /// implementation may write them in one transaction, so that a burst of submissions
    /// costs one durable commit instead of one each; a job its checks refuse is answered
    /// with its error and the others still go in.
    async fn submit_many(&self, jobs: &[NewJob]) -> Vec<Result<(), StoreError>> {
        let mut out = Vec::with_capacity(jobs.len());
        for job in jobs {
            out.push(self.submit(job).await);
        }
        out
    }

    async fn get(&self, id: &JobId) -> Result<Option<JobRecord>, StoreError>;

    /// Jobs matching `filter`, most recently submitted first.
    async fn list(&self, filter: &JobFilter) -> Result<Vec<JobRecord>, StoreError>;

    /// Every unfinished job's id with its row version. A version changes with every write to
    /// the job, so a reader that keeps jobs in memory reads again only those whose version
    /// moved ([`Store::get_versioned`]).
    async fn unfinished_versions(&self) -> Result<Vec<(JobId, i64)>, StoreError>;

    /// These jobs with their versions, in no particular order; an id not found is left out.
    async fn get_versioned(&self, ids: &[JobId]) -> Result<Vec<(i64, JobRecord)>, StoreError>;

    /// Moves a job from its current state to `to`, if the lifecycle allows it, applying
    /// `patch` and appending an event. Compare-and-set: of two concurrent transitions from
    /// the same state, one wins and the other gets [`StoreError::IllegalTransition`].
    /// Entering a final state releases the job's GPUs in the same transaction.
    async fn transition(
        &self,
        id: &JobId,
        to: JobState,
        patch: &JobPatch,
        detail: &str,
    ) -> Result<JobRecord, StoreError>;

    /// Moves a queued job to another placement and payload (a policy's burst from owned
    /// GPUs to a rented machine), logging `detail` as a decision. Compare-and-set on the
    /// queued state: a job that has left the queue since gets [`StoreError::Conflict`].
    async fn replace_placement(
        &self,
        id: &JobId,
        placement: &Placement,
        task: &serde_json::Value,
        detail: &str,
    ) -> Result<JobRecord, StoreError>;

    /// Records why an unfinished job is about to be stopped (a budget) as its reason, with
    /// a decision event, before the stop is sent: the job's end keeps that reason even if
    /// the server restarts in between. Its state is unchanged.
    async fn note_stop(&self, id: &JobId, reason: &str) -> Result<JobRecord, StoreError>;

    /// Logs a policy's decision about a job that changes nothing yet (a hold, and why).
    async fn record_decision(&self, id: &JobId, detail: &str) -> Result<(), StoreError>;

    /// A job's events in the order they happened.
    async fn events(&self, id: &JobId) -> Result<Vec<JobEvent>, StoreError>;

    /// Grants `devices` of `backend` to a job: all of them, or none if any is held by
    /// another job. Devices the job already holds are kept as they are.
    async fn allocate(&self, id: &JobId, backend: &str, devices: &[u32]) -> Result<(), StoreError>;

    /// Releases every device the job holds; returns how many were released.
    async fn release(&self, id: &JobId) -> Result<u64, StoreError>;

    /// Devices of `backend` held now, with their holders, by device.
    async fn held_devices(&self, backend: &str) -> Result<Vec<(u32, JobId)>, StoreError>;

    /// Books a charge once: `Ok(true)` if it is new, `Ok(false)` if the same charge was
    /// already booked, [`StoreError::LedgerConflict`] if a different amount was.
    async fn book(&self, entry: &LedgerEntry) -> Result<bool, StoreError>;

    /// Entries matching `filter`, in booking order.
    async fn ledger(&self, filter: &LedgerFilter) -> Result<Vec<BookedEntry>, StoreError>;

    /// The exact sum of the entries matching `filter`, added up by the database in integers.
    async fn total(&self, filter: &LedgerFilter) -> Result<Micros, StoreError>;

    /// Ends a job: the transition to a final state, the release of its GPUs and the booking
    /// of its charge, in one transaction, so a finished job is never unbilled or billed twice.
    async fn finish(
        &self,
        id: &JobId,
        to: JobState,
        patch: &JobPatch,
        detail: &str,
        charge: Option<&LedgerEntry>,
    ) -> Result<JobRecord, StoreError>;

    /// [`Store::finish`] for a job that ran once on a backend holding its own machines,
    /// recording that run as its attempt 1 (with its typed cause) in the same transaction.
    async fn finish_run(
        &self,
        id: &JobId,
        to: JobState,
        patch: &JobPatch,
        detail: &str,
        charge: Option<&LedgerEntry>,
        run: &FinishedRun,
    ) -> Result<JobRecord, StoreError>;

    /// This data folder's install mark (eight hex digits, made once): the part of every
    /// lease name that says the machine is this Ferry's.
    async fn install_mark(&self) -> Result<String, StoreError>;

    /// Records a new attempt in its first step and moves its job from queued to starting,
    /// together: a job in `Starting` with an open attempt is one whose placement is decided.
    async fn start_attempt(
        &self,
        attempt: &NewAttempt,
        detail: &str,
    ) -> Result<Attempt, StoreError>;

    /// Applies `patch` to an open attempt (steps only move forward; a time once set is
    /// kept) and logs `detail` as an event of the job when it is not empty.
    async fn update_attempt(
        &self,
        job: &JobId,
        attempt: u32,
        patch: &AttemptPatch,
        detail: &str,
    ) -> Result<Attempt, StoreError>;

    /// A job's attempts, first first.
    async fn attempts(&self, job: &JobId) -> Result<Vec<Attempt>, StoreError>;

    /// Every attempt that has not ended, of every job.
    async fn open_attempts(&self) -> Result<Vec<Attempt>, StoreError>;

    /// Ends an attempt, books its charges (each for this attempt) and makes the job's next
    /// move, in one transaction: a rented machine's cost is never booked without its end,
    /// nor its end without its cost.
    async fn end_attempt(
        &self,
        job: &JobId,
        attempt: u32,
        patch: &AttemptPatch,
        charges: &[LedgerEntry],
        then: &JobMove,
    ) -> Result<Attempt, StoreError>;
}
