//! Where Ferry runs work. One async trait, one module per kind of place.
//!
//! Operations are keyed by Ferry's job ids and are idempotent: launching a job that is
//! already running returns its handle; cancelling a finished job is a no-op. What a
//! backend reports is what is really there ([`Backend::list_owned`]), so a restarted
//! server reconciles its store against it instead of trusting memory.

pub mod gpu;
pub mod id;
pub mod local;
pub mod remote;
pub mod slurm;
pub mod ssh;
pub mod transport;

use async_trait::async_trait;
use ferry_job::JobId;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

pub use gpu::{GpuDetection, GpuDevice};
pub use id::{BackendId, BadBackendId};

/// Makes `cmd` start in a session of its own, so that neither a terminal hang-up nor the
/// death of the process that started it reaches it (supervisors, the on-demand server).
pub fn detach(cmd: &mut std::process::Command) -> &mut std::process::Command {
    use std::os::unix::process::CommandExt;
    // SAFETY: setsid is async-signal-safe, as pre_exec requires.
    unsafe {
        cmd.pre_exec(|| {
            if libc::setsid() == -1 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        })
    }
}

/// How long a rented machine's own guard waits, after its job ended (or its maximum runtime
/// passed), before it ends the machine: Ferry's server normally terminates it long before.
pub const GUARD_GRACE: Duration = Duration::from_secs(600);

/// What a backend can run now.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Capacity {
    pub gpus: Vec<GpuDevice>,
    pub cpus: u32,
    pub memory_gb: f64,
    /// How the GPUs were found (NVML, configured, none) and anything worth knowing.
    pub note: String,
}

/// Everything a backend needs to start one job.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LaunchSpec {
    pub job: JobId,
    pub name: String,
    /// Copied into the job's folder before it starts (the task's `workdir`).
    pub workdir: Option<PathBuf>,
    pub envs: BTreeMap<String, String>,
    pub setup: Option<String>,
    pub run: String,
    /// Device indices the job may use (exported as `CUDA_VISIBLE_DEVICES`), where Ferry
    /// hands out the devices itself (this host, owned machines).
    pub gpus: Vec<u32>,
    /// GPUs to ask for where the backend hands them out (a Slurm cluster).
    #[serde(default)]
    pub gpu_count: u32,
    pub max_runtime: Option<Duration>,
    /// A command that ends the machine itself (a rented instance's guard), run a grace
    /// period after the job ends or its maximum runtime passes, even if Ferry is gone.
    #[serde(default)]
    pub guard: Option<String>,
}

/// How the backend finds a job again (a process id, a Slurm job id, an instance id).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Handle(pub String);

/// What the backend says about a job.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "kebab-case")]
pub enum Observed {
    /// Accepted, not running yet (queued at the provider, being provisioned).
    Pending,
    Running {
        since_ms: u64,
    },
    /// Ended by itself or by a signal; `timed_out` when the maximum runtime ended it.
    Exited {
        code: Option<i32>,
        signal: Option<i32>,
        timed_out: bool,
        cancelled: bool,
        started_ms: u64,
        finished_ms: u64,
        /// The backend's own words on why it ended (`ran out of memory`, `preempted`).
        #[serde(default)]
        reason: Option<String>,
    },
    /// It was launched, but its supervisor vanished without recording an end (a reboot).
    Unknown,
    /// The backend has never heard of it: not launched yet (a crash came between deciding
    /// to start it and starting it), so it is safe to launch.
    Absent,
}

/// A slice of a job's output.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LogChunk {
    pub data: String,
    /// Where the next read starts.
    pub next_offset: u64,
    /// True once the job has ended and everything has been read.
    pub complete: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum BackendError {
    #[error("{backend}: job {job}: {message}")]
    Job {
        backend: String,
        job: JobId,
        message: String,
    },
    #[error("{backend}: {message}")]
    Backend { backend: String, message: String },
}

#[async_trait]
pub trait Backend: Send + Sync {
    /// The backend's id in the config and the store (`local`, `slurm:narval`, …).
    fn id(&self) -> &str;

    async fn capacity(&self) -> Result<Capacity, BackendError>;

    /// Starts the job; a job already started returns its existing handle.
    async fn launch(&self, spec: &LaunchSpec) -> Result<Handle, BackendError>;

    async fn status(&self, job: &JobId) -> Result<Observed, BackendError>;

    async fn logs(&self, job: &JobId, offset: u64) -> Result<LogChunk, BackendError>;

    /// Stops the job and everything it started; a job that has ended is left as it is.
    async fn cancel(&self, job: &JobId) -> Result<(), BackendError>;

    /// Frees what the job held at the backend once its record is final.
    async fn release(&self, job: &JobId) -> Result<(), BackendError>;

    /// Every job this backend holds for Ferry, with what it says of each.
    async fn list_owned(&self) -> Result<Vec<(JobId, Observed)>, BackendError>;
}
