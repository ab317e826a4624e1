//! The values that go in and out of a [`Store`](crate::Store), shared by every implementation.

use ferry_job::{AttemptStep, EndCause, JobId, JobState, Micros};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// Where a job was placed when it was submitted: enough to bill it and to find it again
/// at its backend after a restart, even if the catalog has changed since.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Placement {
    /// The backend that runs it, e.g. `local`, `ssh:rack1`, `slurm:narval`.
    pub backend: String,
    pub provider: String,
    /// The offer (instance type, partition, machine) chosen from the catalog.
    pub offer: String,
    #[serde(rename = "price_per_hour_micros")]
    pub price_per_hour: Micros,
}

/// A job as the user submitted it, before it has run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NewJob {
    pub id: JobId,
    pub name: String,
    /// The task the user submitted, kept verbatim so a restart can run it again exactly.
    pub task: serde_json::Value,
    pub placement: Placement,
    pub submitted_at_ms: i64,
    pub max_runtime_s: Option<i64>,
}

/// A job as the store knows it now.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JobRecord {
    pub id: JobId,
    pub name: String,
    pub state: JobState,
    pub task: serde_json::Value,
    pub placement: Placement,
    /// The backend's own name for the running work (a pid, a Slurm job id, an instance id).
    pub backend_handle: Option<String>,
    pub gpus: Option<Vec<u32>>,
    pub submitted_at_ms: i64,
    pub started_at_ms: Option<i64>,
    pub finished_at_ms: Option<i64>,
    pub exit_code: Option<i32>,
    pub reason: Option<String>,
    pub max_runtime_s: Option<i64>,
    pub updated_at_ms: i64,
}

/// Fields a transition may set alongside the new state; `None` leaves a field as it was.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobPatch {
    pub started_at_ms: Option<i64>,
    pub finished_at_ms: Option<i64>,
    pub exit_code: Option<i32>,
    pub reason: Option<String>,
    pub backend_handle: Option<String>,
    pub gpus: Option<Vec<u32>>,
}

/// What an entry in a job's event log records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum EventKind {
    Submitted,
    Transition,
    Allocated,
    Released,
    Charged,
    /// A step of an attempt (a machine created, ready, terminated).
    Attempt,
    /// A policy's decision about the job, recorded before it is carried out (a burst to a
    /// rented machine, a stop for a budget, a switch to on-demand).
    Decision,
}

impl EventKind {
    pub const ALL: [EventKind; 7] = [
        EventKind::Submitted,
        EventKind::Transition,
        EventKind::Allocated,
        EventKind::Released,
        EventKind::Charged,
        EventKind::Attempt,
        EventKind::Decision,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::Submitted => "submitted",
            EventKind::Transition => "transition",
            EventKind::Allocated => "allocated",
            EventKind::Released => "released",
            EventKind::Charged => "charged",
            EventKind::Attempt => "attempt",
            EventKind::Decision => "decision",
        }
    }
}

impl fmt::Display for EventKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for EventKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        EventKind::ALL
            .into_iter()
            .find(|k| k.as_str() == s)
            .ok_or_else(|| format!("unknown event kind '{s}'"))
    }
}

/// One entry of a job's append-only event log. `to` is the job's state after the event,
/// so the last event of a job always names its current state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobEvent {
    pub seq: i64,
    pub job_id: JobId,
    pub at_ms: i64,
    pub kind: EventKind,
    pub from: Option<JobState>,
    pub to: JobState,
    pub detail: String,
}

/// Which jobs [`Store::list`](crate::Store::list) returns, most recently submitted first.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct JobFilter {
    /// Empty means every state.
    pub states: Vec<JobState>,
    pub backend: Option<String>,
    pub limit: Option<u32>,
}

impl JobFilter {
    /// The jobs a restarted server must reconcile with their backends.
    pub fn unfinished() -> JobFilter {
        JobFilter {
            states: JobState::ALL
                .into_iter()
                .filter(|s| !s.is_terminal())
                .collect(),
            ..JobFilter::default()
        }
    }
}

/// The kind of charge a job's compute time is booked under.
pub const COMPUTE: &str = "compute";

/// The kind of charge for a rented machine's disk, billed while the machine exists.
pub const STORAGE: &str = "storage";

/// The kind of charge for data sent out of a provider (its egress price), from what the
/// task declares (`outputs_gb`).
pub const EGRESS: &str = "egress";

/// The kind of charge for a rented machine's life outside the job's run: provisioning
/// before it and teardown after it (billed by the provider all the same).
pub const OVERHEAD: &str = "overhead";

fn first_attempt() -> u32 {
    1
}

/// A charge to book. A job has at most one entry of each kind, so booking is idempotent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LedgerEntry {
    pub job_id: JobId,
    /// The attempt it is for (1 for a job that ran once).
    #[serde(default = "first_attempt")]
    pub attempt: u32,
    pub at_ms: i64,
    /// e.g. [`COMPUTE`], `egress`, `storage`.
    pub kind: String,
    pub amount: Micros,
    pub description: String,
}

/// A booked [`LedgerEntry`] with the id the store gave it (ids grow in booking order).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BookedEntry {
    pub id: i64,
    #[serde(flatten)]
    pub entry: LedgerEntry,
}

/// Which ledger entries to read or add up; the default is all of them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LedgerFilter {
    pub job_id: Option<JobId>,
    pub kind: Option<String>,
    /// Inclusive lower bound on `at_ms`.
    pub since_ms: Option<i64>,
    /// Exclusive upper bound on `at_ms`.
    pub until_ms: Option<i64>,
}

impl LedgerFilter {
    pub fn job(id: &JobId) -> LedgerFilter {
        LedgerFilter {
            job_id: Some(id.clone()),
            ..LedgerFilter::default()
        }
    }
}

/// A new attempt of a job, recorded before anything is asked of a provider.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NewAttempt {
    pub job_id: JobId,
    pub attempt: u32,
    pub backend: String,
    /// The planned offer, as placement chose it.
    pub offer: serde_json::Value,
    /// The name the machine will carry at its provider.
    pub lease: String,
    /// The price the plan expected; the live quote replaces it.
    pub price_per_hour: Micros,
}

/// An attempt as the store knows it now.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Attempt {
    pub job_id: JobId,
    pub attempt: u32,
    pub backend: String,
    pub offer: serde_json::Value,
    pub lease: String,
    pub step: AttemptStep,
    pub instance_id: Option<String>,
    pub endpoint: Option<serde_json::Value>,
    #[serde(rename = "price_per_hour_micros")]
    pub price_per_hour: Micros,
    /// The disk's price on top, while the machine exists.
    #[serde(rename = "storage_per_hour_micros", default)]
    pub storage_per_hour: Micros,
    /// The live quote, in words (which host, its reliability).
    pub quote: Option<String>,
    pub created_at_ms: i64,
    /// When the create was sent: the machine may bill from here.
    pub create_sent_at_ms: Option<i64>,
    pub ready_at_ms: Option<i64>,
    pub job_started_at_ms: Option<i64>,
    pub job_ended_at_ms: Option<i64>,
    pub terminate_sent_at_ms: Option<i64>,
    /// When a listing first showed the machine gone: billing ends here.
    pub gone_at_ms: Option<i64>,
    pub cause: Option<EndCause>,
    /// The provider's error, with its kind, when one ended or held up the attempt.
    pub error: Option<String>,
    /// What the provider says it charged, where it reports it.
    pub provider_charge: Option<Micros>,
    pub updated_at_ms: i64,
}

/// Fields an attempt update may set; `None` leaves a field as it was. Times, once set,
/// are kept (the first one is the fact).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct AttemptPatch {
    pub step: Option<AttemptStep>,
    pub instance_id: Option<String>,
    pub endpoint: Option<serde_json::Value>,
    pub price_per_hour: Option<Micros>,
    pub storage_per_hour: Option<Micros>,
    pub quote: Option<String>,
    pub create_sent_at_ms: Option<i64>,
    pub ready_at_ms: Option<i64>,
    pub job_started_at_ms: Option<i64>,
    pub job_ended_at_ms: Option<i64>,
    pub terminate_sent_at_ms: Option<i64>,
    pub gone_at_ms: Option<i64>,
    pub cause: Option<EndCause>,
    pub error: Option<String>,
    pub provider_charge: Option<Micros>,
}

/// A run of a job on a backend that holds its machines itself (this host, an owned
/// machine, a cluster): recorded as the job's one attempt when it ends.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FinishedRun {
    pub backend: String,
    /// The placement it ran under.
    pub offer: serde_json::Value,
    pub price_per_hour: Micros,
    pub started_at_ms: i64,
    pub ended_at_ms: i64,
    pub cause: EndCause,
}

/// What happens to the job when an attempt ends, in the same transaction.
#[derive(Debug, Clone, PartialEq)]
pub enum JobMove {
    /// The job waits in the queue again (a restart, a failover to the next offer).
    Requeue { detail: String },
    /// The job ends.
    Finish {
        state: JobState,
        patch: JobPatch,
        detail: String,
    },
    /// The job stays as it is.
    Stay,
}
