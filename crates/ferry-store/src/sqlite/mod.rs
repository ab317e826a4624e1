//! The SQLite store: one file, WAL, every write one `BEGIN IMMEDIATE` transaction.

mod allocations;
mod attempts;
mod connect;
mod decode;
mod events;
mod jobs;
mod ledger;
mod migrate;

pub use connect::{DEFAULT_FILE_NAME, Durability, SqliteOptions};
pub use migrate::SCHEMA_VERSION;

use crate::error::StoreError;
use crate::model::{
    Attempt, AttemptPatch, BookedEntry, FinishedRun, JobEvent, JobFilter, JobMove, JobPatch,
    JobRecord, LedgerEntry, LedgerFilter, NewAttempt, NewJob, Placement,
};
use crate::store::Store;
use crate::validate;
use async_trait::async_trait;
use ferry_job::{JobId, JobState, Micros};
use sqlx::{Sqlite, SqlitePool, Transaction};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Milliseconds since the epoch, stamped on events and allocations. Replaceable so that
/// the simulator can run the store on simulated time.
pub type Clock = Arc<dyn Fn() -> i64 + Send + Sync>;

fn system_clock() -> i64 {
    ferry_job::now_ms()
}

/// [`Store`] on SQLite. Cheap to clone: clones share the connections.
#[derive(Clone)]
pub struct SqliteStore {
    /// A single connection: our own writers queue here in order instead of contending
    /// for SQLite's write lock, which would make them sleep and retry.
    writer: SqlitePool,
    /// WAL lets these read while the writer writes.
    reader: SqlitePool,
    clock: Clock,
    path: Option<PathBuf>,
}

impl std::fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteStore")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

impl SqliteStore {
    /// Opens (creating if needed) the store at `path` with [`Durability::Full`] and
    /// brings its schema up to date.
    pub async fn open(path: &Path) -> Result<SqliteStore, StoreError> {
        SqliteStore::open_with(path, &SqliteOptions::default()).await
    }

    /// Opens `dir/ferry.db`, the default place in the user's data directory.
    pub async fn open_in_dir(dir: &Path) -> Result<SqliteStore, StoreError> {
        SqliteStore::open(&dir.join(DEFAULT_FILE_NAME)).await
    }

    pub async fn open_with(
        path: &Path,
        options: &SqliteOptions,
    ) -> Result<SqliteStore, StoreError> {
        let (writer, reader) = connect::file(path, options).await?;
        let store = SqliteStore {
            writer,
            reader,
            clock: Arc::new(system_clock),
            path: Some(path.to_path_buf()),
        };
        store.migrate().await?;
        Ok(store)
    }

    /// A private store that lives as long as this value (and its clones): for tests and
    /// the simulator.
    pub async fn open_in_memory() -> Result<SqliteStore, StoreError> {
        let pool = connect::memory().await?;
        let store = SqliteStore {
            writer: pool.clone(),
            reader: pool,
            clock: Arc::new(system_clock),
            path: None,
        };
        store.migrate().await?;
        Ok(store)
    }

    pub fn with_clock(mut self, clock: impl Fn() -> i64 + Send + Sync + 'static) -> Self {
        self.clock = Arc::new(clock);
        self
    }

    /// The file, or `None` in memory.
    pub fn path(&self) -> Option<&Path> {
        self.path.as_deref()
    }

    pub async fn schema_version(&self) -> Result<i64, StoreError> {
        migrate::current(&self.reader).await
    }

    /// SQLite's own integrity and foreign-key checks: empty when the file is sound.
    pub async fn check(&self) -> Result<Vec<String>, StoreError> {
        connect::check(&self.reader).await
    }

    /// Waits for in-flight work and closes the file cleanly (a checkpoint of the WAL).
    /// Dropping the store without this is safe, only less tidy.
    pub async fn close(&self) {
        self.reader.close().await;
        self.writer.close().await;
    }

    /// A job's end: the transition to a final state, its charge and (for a run on a backend
    /// holding its own machines) its attempt row, in one transaction.
    async fn end_job(
        &self,
        id: &JobId,
        to: JobState,
        patch: &JobPatch,
        detail: &str,
        charge: Option<&LedgerEntry>,
        run: Option<&FinishedRun>,
    ) -> Result<JobRecord, StoreError> {
        if !to.is_terminal() {
            return Err(StoreError::NotTerminal { id: id.clone(), to });
        }
        validate::patch(id, patch, detail)?;
        if let Some(charge) = charge {
            validate::ledger_entry(charge)?;
            if &charge.job_id != id {
                return Err(StoreError::invalid(
                    id,
                    format!("the charge is for another job, {}", charge.job_id),
                ));
            }
        }
        let op = || format!("finish job {id} as {to}");
        let now = self.now();
        let mut tx = self.begin(op).await?;
        let record = jobs::transition(&mut tx, id, to, patch, detail, now).await?;
        if let Some(charge) = charge {
            ledger::book(&mut tx, charge, to, now).await?;
        }
        if let Some(run) = run {
            attempts::insert_finished(&mut tx, id, run, now).await?;
        }
        commit(tx, op).await?;
        Ok(record)
    }

    fn label(&self) -> String {
        self.path
            .as_ref()
            .map_or_else(|| ":memory:".to_string(), |p| p.display().to_string())
    }

    async fn migrate(&self) -> Result<(), StoreError> {
        migrate::run(&self.writer, &self.label(), (self.clock)()).await
    }

    fn now(&self) -> i64 {
        (self.clock)()
    }

    /// Takes the write lock up front: a deferred transaction that reads and then writes can
    /// fail with SQLITE_BUSY when another process wrote in between, without waiting.
    async fn begin(
        &self,
        op: impl FnOnce() -> String,
    ) -> Result<Transaction<'static, Sqlite>, StoreError> {
        self.writer
            .begin_with("BEGIN IMMEDIATE")
            .await
            .map_err(|e| StoreError::db(op(), e))
    }
}

async fn commit(
    tx: Transaction<'static, Sqlite>,
    op: impl FnOnce() -> String,
) -> Result<(), StoreError> {
    tx.commit().await.map_err(|e| StoreError::db(op(), e))
}

#[async_trait]
impl Store for SqliteStore {
    async fn submit(&self, job: &NewJob) -> Result<(), StoreError> {
        let op = || format!("submit job {}", job.id);
        let prepared = jobs::Prepared::new(job)?;
        let mut tx = self.begin(op).await?;
        jobs::insert(&mut tx, &prepared, self.now()).await?;
        commit(tx, op).await
    }

    async fn submit_many(&self, batch: &[NewJob]) -> Vec<Result<(), StoreError>> {
        let prepared: Vec<Result<jobs::Prepared, StoreError>> =
            batch.iter().map(jobs::Prepared::new).collect();
        let op = || format!("submit {} jobs", batch.len());
        let together = async {
            let mut tx = self.begin(op).await?;
            let now = self.now();
            for p in prepared.iter().flatten() {
                jobs::insert(&mut tx, p, now).await?;
            }
            commit(tx, op).await
        };
        match together.await {
            Ok(()) => prepared.into_iter().map(|p| p.map(|_| ())).collect(),
            // One of them was refused inside the transaction (a duplicate id), which rolled
            // the batch back: each goes in on its own, to be answered on its own.
            Err(_) => {
                let mut out = Vec::with_capacity(batch.len());
                for job in batch {
                    out.push(self.submit(job).await);
                }
                out
            }
        }
    }

    async fn get(&self, id: &JobId) -> Result<Option<JobRecord>, StoreError> {
        let mut conn = connect::acquire(&self.reader, || format!("read job {id}")).await?;
        jobs::get(&mut conn, id).await
    }

    async fn list(&self, filter: &JobFilter) -> Result<Vec<JobRecord>, StoreError> {
        let mut conn = connect::acquire(&self.reader, || "list jobs".to_string()).await?;
        jobs::list(&mut conn, filter).await
    }

    async fn unfinished_versions(&self) -> Result<Vec<(JobId, i64)>, StoreError> {
        let mut conn =
            connect::acquire(&self.reader, || "list unfinished jobs".to_string()).await?;
        jobs::unfinished_versions(&mut conn).await
    }

    async fn get_versioned(&self, ids: &[JobId]) -> Result<Vec<(i64, JobRecord)>, StoreError> {
        let mut conn = connect::acquire(&self.reader, || "read jobs".to_string()).await?;
        jobs::get_versioned(&mut conn, ids).await
    }

    async fn transition(
        &self,
        id: &JobId,
        to: JobState,
        patch: &JobPatch,
        detail: &str,
    ) -> Result<JobRecord, StoreError> {
        validate::patch(id, patch, detail)?;
        let op = || format!("move job {id} to {to}");
        let mut tx = self.begin(op).await?;
        let record = jobs::transition(&mut tx, id, to, patch, detail, self.now()).await?;
        commit(tx, op).await?;
        Ok(record)
    }

    async fn replace_placement(
        &self,
        id: &JobId,
        placement: &Placement,
        task: &serde_json::Value,
        detail: &str,
    ) -> Result<JobRecord, StoreError> {
        let op = || format!("move queued job {id} to {}", placement.backend);
        let task = serde_json::to_string(task)
            .map_err(|e| StoreError::invalid(id, format!("the task is not JSON: {e}")))?;
        let mut tx = self.begin(op).await?;
        let record =
            jobs::replace_placement(&mut tx, id, placement, &task, detail, self.now()).await?;
        commit(tx, op).await?;
        Ok(record)
    }

    async fn note_stop(&self, id: &JobId, reason: &str) -> Result<JobRecord, StoreError> {
        let op = || format!("record why job {id} is stopped");
        let mut tx = self.begin(op).await?;
        let record = jobs::note_stop(&mut tx, id, reason, self.now()).await?;
        commit(tx, op).await?;
        Ok(record)
    }

    async fn record_decision(&self, id: &JobId, detail: &str) -> Result<(), StoreError> {
        let op = || format!("log a decision about job {id}");
        let mut tx = self.begin(op).await?;
        jobs::record_decision(&mut tx, id, detail, self.now()).await?;
        commit(tx, op).await
    }

    async fn events(&self, id: &JobId) -> Result<Vec<JobEvent>, StoreError> {
        let mut conn =
            connect::acquire(&self.reader, || format!("read events of job {id}")).await?;
        let events = events::of(&mut conn, id).await?;
        if events.is_empty() && jobs::get(&mut conn, id).await?.is_none() {
            return Err(StoreError::NotFound { id: id.clone() });
        }
        Ok(events)
    }

    async fn allocate(&self, id: &JobId, backend: &str, devices: &[u32]) -> Result<(), StoreError> {
        validate::backend(id, backend)?;
        validate::devices(id, devices)?;
        let op = || format!("allocate {backend} devices {devices:?} to job {id}");
        let mut tx = self.begin(op).await?;
        allocations::allocate(&mut tx, id, backend, devices, self.now()).await?;
        commit(tx, op).await
    }

    async fn release(&self, id: &JobId) -> Result<u64, StoreError> {
        let op = || format!("release the devices of job {id}");
        let mut tx = self.begin(op).await?;
        let state = jobs::state(&mut tx, id).await?;
        let n = allocations::release(&mut tx, id, state, self.now()).await?;
        commit(tx, op).await?;
        Ok(n)
    }

    async fn held_devices(&self, backend: &str) -> Result<Vec<(u32, JobId)>, StoreError> {
        let mut conn =
            connect::acquire(&self.reader, || format!("read devices held on {backend}")).await?;
        allocations::held(&mut conn, backend).await
    }

    async fn book(&self, entry: &LedgerEntry) -> Result<bool, StoreError> {
        validate::ledger_entry(entry)?;
        let id = &entry.job_id;
        let op = || format!("book {} for job {id}", entry.kind);
        let mut tx = self.begin(op).await?;
        let state = jobs::state(&mut tx, id).await?;
        let new = ledger::book(&mut tx, entry, state, self.now()).await?;
        commit(tx, op).await?;
        Ok(new)
    }

    async fn ledger(&self, filter: &LedgerFilter) -> Result<Vec<BookedEntry>, StoreError> {
        let mut conn = connect::acquire(&self.reader, || "read the ledger".to_string()).await?;
        ledger::entries(&mut conn, filter).await
    }

    async fn total(&self, filter: &LedgerFilter) -> Result<Micros, StoreError> {
        let mut conn = connect::acquire(&self.reader, || "add up the ledger".to_string()).await?;
        ledger::total(&mut conn, filter).await
    }

    async fn finish(
        &self,
        id: &JobId,
        to: JobState,
        patch: &JobPatch,
        detail: &str,
        charge: Option<&LedgerEntry>,
    ) -> Result<JobRecord, StoreError> {
        self.end_job(id, to, patch, detail, charge, None).await
    }

    async fn finish_run(
        &self,
        id: &JobId,
        to: JobState,
        patch: &JobPatch,
        detail: &str,
        charge: Option<&LedgerEntry>,
        run: &FinishedRun,
    ) -> Result<JobRecord, StoreError> {
        self.end_job(id, to, patch, detail, charge, Some(run)).await
    }

    async fn install_mark(&self) -> Result<String, StoreError> {
        let mut conn = connect::acquire(&self.reader, || "read the install mark".into()).await?;
        attempts::install_mark(&mut conn).await
    }

    async fn start_attempt(
        &self,
        attempt: &NewAttempt,
        detail: &str,
    ) -> Result<Attempt, StoreError> {
        let id = &attempt.job_id;
        let op = || format!("start attempt {} of job {id}", attempt.attempt);
        let now = self.now();
        let mut tx = self.begin(op).await?;
        attempts::insert(&mut tx, attempt, now).await?;
        jobs::transition(
            &mut tx,
            id,
            JobState::Starting,
            &JobPatch::default(),
            detail,
            now,
        )
        .await?;
        let a = attempts::get(&mut tx, id, attempt.attempt).await?;
        commit(tx, op).await?;
        Ok(a)
    }

    async fn update_attempt(
        &self,
        job: &JobId,
        attempt: u32,
        patch: &AttemptPatch,
        detail: &str,
    ) -> Result<Attempt, StoreError> {
        let op = || format!("update attempt {attempt} of job {job}");
        let now = self.now();
        let mut tx = self.begin(op).await?;
        let a = attempts::update(&mut tx, job, attempt, patch, detail, now).await?;
        commit(tx, op).await?;
        Ok(a)
    }

    async fn attempts(&self, job: &JobId) -> Result<Vec<Attempt>, StoreError> {
        let mut conn =
            connect::acquire(&self.reader, || format!("read attempts of job {job}")).await?;
        attempts::of(&mut conn, job).await
    }

    async fn open_attempts(&self) -> Result<Vec<Attempt>, StoreError> {
        let mut conn = connect::acquire(&self.reader, || "read open attempts".into()).await?;
        attempts::open(&mut conn).await
    }

    async fn end_attempt(
        &self,
        job: &JobId,
        attempt: u32,
        patch: &AttemptPatch,
        charges: &[LedgerEntry],
        then: &JobMove,
    ) -> Result<Attempt, StoreError> {
        for c in charges {
            validate::ledger_entry(c)?;
        }
        if let JobMove::Finish { patch, detail, .. } = then {
            validate::patch(job, patch, detail)?;
        }
        let op = || format!("end attempt {attempt} of job {job}");
        let now = self.now();
        let mut tx = self.begin(op).await?;
        let a = attempts::end(&mut tx, job, attempt, patch, charges, then, now).await?;
        commit(tx, op).await?;
        Ok(a)
    }
}
