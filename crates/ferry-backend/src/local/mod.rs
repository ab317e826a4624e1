//! The `local` backend: this host. Each job runs under its own supervisor process
//! ([`supervisor`]), started in a new session so that it outlives the server; the
//! server learns what happened from the job's folder ([`files`]).

pub mod files;
pub mod supervisor;

use crate::gpu::GpuDetection;
use crate::{Backend, BackendError, Capacity, Handle, LaunchSpec, LogChunk, Observed};
use async_trait::async_trait;
use ferry_job::JobId;
use files::{JobDir, PidRecord, copy_dir, is_alive, write_json};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Duration;

/// This host's backend id (`BackendId::Local` written out).
const ID: &str = "local";
/// The most a single `logs` call returns.
const LOG_CHUNK: u64 = 1 << 20;

pub struct LocalBackend {
    /// `jobs/` lives under here.
    root: PathBuf,
    gpus: GpuDetection,
    /// The command that runs a supervisor: program and leading arguments; the job's
    /// folder is appended (the CLI uses `[ferry, __supervise]`).
    supervisor: Vec<String>,
}

impl LocalBackend {
    pub fn new(root: PathBuf, gpus: GpuDetection, supervisor: Vec<String>) -> LocalBackend {
        LocalBackend {
            root,
            gpus,
            supervisor,
        }
    }

    pub fn gpus(&self) -> &GpuDetection {
        &self.gpus
    }

    fn dir(&self, job: &JobId) -> JobDir {
        JobDir(self.root.join("jobs").join(job.as_str()))
    }

    fn err(&self, job: &JobId, message: impl Into<String>) -> BackendError {
        BackendError::Job {
            backend: ID.into(),
            job: job.clone(),
            message: message.into(),
        }
    }

    fn observe(&self, job: &JobId) -> Observed {
        let dir = self.dir(job);
        if !dir.spec().exists() {
            // launch() writes spec.json last: without it nothing was started.
            return Observed::Absent;
        }
        if let Some(e) = dir.exit_record() {
            return Observed::Exited {
                code: e.code,
                signal: e.signal,
                timed_out: e.timed_out,
                cancelled: e.cancelled,
                started_ms: e.started_ms,
                finished_ms: e.finished_ms,
                reason: None,
            };
        }
        let supervisor: Option<PidRecord> = JobDir::read_json(&dir.supervisor_pid());
        let alive = supervisor.as_ref().is_some_and(is_alive);
        match (alive, dir.started_record()) {
            (true, Some(s)) => Observed::Running {
                since_ms: s.started_ms,
            },
            (true, None) => Observed::Pending,
            // Spawned a moment ago: the supervisor has not written its pid yet.
            (false, None) if supervisor.is_none() => Observed::Pending,
            // Last look: it may have written exit.json between our two reads.
            _ => match dir.exit_record() {
                Some(_) => self.observe(job),
                None => Observed::Unknown,
            },
        }
    }
}

#[async_trait]
impl Backend for LocalBackend {
    fn id(&self) -> &str {
        ID
    }

    async fn capacity(&self) -> Result<Capacity, BackendError> {
        let cpus = std::thread::available_parallelism().map_or(1, |n| n.get() as u32);
        let memory_gb = std::fs::read_to_string("/proc/meminfo")
            .ok()
            .and_then(|m| {
                m.lines()
                    .find(|l| l.starts_with("MemTotal:"))
                    .and_then(|l| l.split_whitespace().nth(1)?.parse::<f64>().ok())
            })
            .map_or(0.0, |kb| kb / 1e6);
        Ok(Capacity {
            gpus: self.gpus.devices.clone(),
            cpus,
            memory_gb,
            note: self.gpus.detail.clone(),
        })
    }

    async fn launch(&self, spec: &LaunchSpec) -> Result<Handle, BackendError> {
        let dir = self.dir(&spec.job);
        if dir.spec().exists() {
            // Idempotent: the job was launched before (perhaps by a server that then died).
            return Ok(Handle(dir.0.display().to_string()));
        }
        let io = |what: &str, e: std::io::Error| self.err(&spec.job, format!("{what}: {e}"));
        std::fs::create_dir_all(&dir.0).map_err(|e| io("creating the job folder", e))?;
        match &spec.workdir {
            Some(w) => copy_dir(w, &dir.work())
                .map_err(|e| io(&format!("copying workdir {}", w.display()), e))?,
            None => std::fs::create_dir_all(dir.work()).map_err(|e| io("creating work/", e))?,
        }
        if let Some(setup) = &spec.setup {
            std::fs::write(dir.setup_script(), setup).map_err(|e| io("writing setup.sh", e))?;
        }
        std::fs::write(dir.run_script(), &spec.run).map_err(|e| io("writing run.sh", e))?;
        // spec.json last: its presence means the folder is complete.
        write_json(&dir.spec(), spec).map_err(|e| io("writing spec.json", e))?;

        let (program, args) = self
            .supervisor
            .split_first()
            .ok_or_else(|| self.err(&spec.job, "no supervisor command configured"))?;
        let log = std::fs::File::create(dir.0.join("supervisor.log"))
            .map_err(|e| io("supervisor.log", e))?;
        let mut cmd = Command::new(program);
        cmd.args(args)
            .arg(&dir.0)
            .stdin(Stdio::null())
            .stdout(log.try_clone().map_err(|e| io("supervisor.log", e))?)
            .stderr(log);
        crate::detach(&mut cmd);
        let mut child = cmd
            .spawn()
            .map_err(|e| io(&format!("starting the supervisor {program}"), e))?;
        // Reap it when it ends, so it does not linger as a zombie of this server.
        std::thread::spawn(move || child.wait());
        Ok(Handle(dir.0.display().to_string()))
    }

    async fn status(&self, job: &JobId) -> Result<Observed, BackendError> {
        Ok(self.observe(job))
    }

    async fn logs(&self, job: &JobId, offset: u64) -> Result<LogChunk, BackendError> {
        use std::io::{Read, Seek, SeekFrom};
        let dir = self.dir(job);
        let ended = dir.exit().exists();
        let mut f = match std::fs::File::open(dir.output()) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Ok(LogChunk {
                    data: String::new(),
                    next_offset: offset,
                    complete: ended,
                });
            }
            Err(e) => return Err(self.err(job, format!("reading output.log: {e}"))),
        };
        let len = f.metadata().map(|m| m.len()).unwrap_or(0);
        let start = offset.min(len);
        f.seek(SeekFrom::Start(start))
            .map_err(|e| self.err(job, e.to_string()))?;
        let mut buf = Vec::new();
        f.take(LOG_CHUNK)
            .read_to_end(&mut buf)
            .map_err(|e| self.err(job, e.to_string()))?;
        let next = start + buf.len() as u64;
        Ok(LogChunk {
            data: String::from_utf8_lossy(&buf).into_owned(),
            next_offset: next,
            complete: ended && next >= len,
        })
    }

    async fn cancel(&self, job: &JobId) -> Result<(), BackendError> {
        let dir = self.dir(job);
        if !dir.0.exists() || dir.exit().exists() {
            return Ok(());
        }
        std::fs::write(dir.cancel_marker(), b"")
            .map_err(|e| self.err(job, format!("marking cancel: {e}")))?;
        // The supervisor checks the marker before starting the job; if it already started,
        // signal the job's group. Wait briefly for started.json in the race in between.
        for _ in 0..40 {
            if let Some(s) = dir.started_record() {
                let pgid = s.pgid;
                let exit = dir.exit();
                in_background(move || {
                    if !exit.exists() {
                        supervisor::terminate_group(pgid);
                    }
                });
                return Ok(());
            }
            if dir.exit().exists() {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(25));
        }
        Ok(())
    }

    async fn release(&self, _job: &JobId) -> Result<(), BackendError> {
        // The GPUs are handed out by the scheduler's allocations; the job's folder (its
        // logs and exit record) stays for `ferry logs`.
        Ok(())
    }

    async fn list_owned(&self) -> Result<Vec<(JobId, Observed)>, BackendError> {
        let jobs = self.root.join("jobs");
        let entries = match std::fs::read_dir(&jobs) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(vec![]),
            Err(e) => {
                return Err(BackendError::Backend {
                    backend: ID.into(),
                    message: format!("{}: {e}", jobs.display()),
                });
            }
        };
        let mut out = vec![];
        for entry in entries.flatten() {
            if let Some(id) = entry
                .file_name()
                .to_str()
                .and_then(|n| n.parse::<JobId>().ok())
            {
                let seen = self.observe(&id);
                out.push((id, seen));
            }
        }
        out.sort_by(|a, b| a.0.cmp(&b.0));
        Ok(out)
    }
}

/// Runs the grace-period wait off the caller's thread so `cancel` returns at once.
fn in_background(f: impl FnOnce() + Send + 'static) {
    std::thread::spawn(f);
}
