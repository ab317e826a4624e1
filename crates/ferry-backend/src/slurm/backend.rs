//! The Slurm backend: `sbatch` a generated script, follow it with `squeue`, the exit record
//! the script leaves, and `sacct`; logs from its output file; `scancel`. The same code runs
//! the commands on this host or on a login node over SSH ([`Transport`]).
//!
//! Each job has a folder `<root>/<job-id>/` on the cluster's filesystem holding `slurm_id`,
//! `out.log` and the `exit` record the batch script writes when it ends by itself.

use super::parse::{sacct_rows, sbatch_id, scontrol_exit, squeue_rows, test_only_start};
use super::script::{BatchRequest, GpuFlag, check_walltime, render};
use super::state::{SlurmPhase, phase};
use crate::transport::{Transport, sh_quote};
use crate::{Backend, BackendError, Capacity, Handle, LaunchSpec, LogChunk, Observed};
use async_trait::async_trait;
use ferry_job::JobId;
use std::collections::BTreeMap;
use std::time::Duration;

/// How a site is used: its account, partitions and how it wants GPUs asked for.
#[derive(Debug, Clone, PartialEq)]
pub struct Site {
    /// `slurm:<cluster>`.
    pub id: String,
    pub transport: Transport,
    /// Where job folders live on the cluster (a path its compute nodes can write).
    pub root: String,
    pub account: Option<String>,
    pub partition: Option<String>,
    /// Wall-time caps by partition; a request over its cap is refused before submission.
    pub partition_caps: BTreeMap<String, Duration>,
    pub gpu_flag: GpuFlag,
    pub gpu_type: Option<String>,
    /// `--time` when the job states no maximum runtime.
    pub default_time: Duration,
}

pub struct SlurmBackend {
    site: Site,
}

impl SlurmBackend {
    pub fn new(site: Site) -> SlurmBackend {
        SlurmBackend { site }
    }

    fn dir(&self, job: &JobId) -> String {
        format!("{}/{}", self.site.root.trim_end_matches('/'), job)
    }

    fn err(&self, job: &JobId, message: impl Into<String>) -> BackendError {
        BackendError::Job {
            backend: self.site.id.clone(),
            job: job.clone(),
            message: message.into(),
        }
    }

    fn run(
        &self,
        job: &JobId,
        command: &str,
        stdin: Option<&str>,
    ) -> Result<crate::transport::Output, BackendError> {
        self.site
            .transport
            .run(command, stdin)
            .map_err(|e| self.err(job, e))
    }

    fn slurm_id(&self, job: &JobId) -> Result<Option<u64>, BackendError> {
        let out = self.run(
            job,
            &format!(
                "cat {} 2>/dev/null",
                sh_quote(&format!("{}/slurm_id", self.dir(job)))
            ),
            None,
        )?;
        Ok(out.stdout.trim().parse().ok())
    }

    fn request(&self, spec: &LaunchSpec) -> BatchRequest {
        let dir = self.dir(&spec.job);
        BatchRequest {
            job_name: format!("ferry-{}", spec.name),
            account: self.site.account.clone(),
            partition: self.site.partition.clone(),
            time_limit: spec.max_runtime.unwrap_or(self.site.default_time),
            gpus: spec.gpus.len() as u32,
            gpu_type: self.site.gpu_type.clone(),
            gpu_flag: self.site.gpu_flag,
            cpus_per_task: None,
            mem_gb: None,
            output: format!("{dir}/out.log"),
            error: format!("{dir}/out.log"),
            workdir: dir.clone(),
            envs: spec.envs.clone(),
            setup: spec.setup.clone(),
            run: spec.run.clone(),
            ferry_job: spec.job.to_string(),
            // The job records its own exit code, so its end is known without accounting.
            exit_file: Some(format!("{dir}/exit")),
        }
    }

    /// When a job asking this much would start now (`sbatch --test-only`), as Slurm writes it.
    pub fn estimate_start(&self, spec: &LaunchSpec) -> Result<Option<String>, BackendError> {
        let script = render(&self.request(spec));
        let out = self.run(&spec.job, "sbatch --test-only", Some(&script))?;
        Ok(test_only_start(&out.stderr))
    }
}

#[async_trait]
impl Backend for SlurmBackend {
    fn id(&self) -> &str {
        &self.site.id
    }

    async fn capacity(&self) -> Result<Capacity, BackendError> {
        let out = self
            .site
            .transport
            .run("sinfo -h -o '%n|%c|%m|%G'", None)
            .map_err(|e| BackendError::Backend {
                backend: self.site.id.clone(),
                message: e,
            })?;
        Ok(Capacity {
            gpus: vec![],
            cpus: 0,
            memory_gb: 0.0,
            note: out.stdout.trim().to_string(),
        })
    }

    async fn launch(&self, spec: &LaunchSpec) -> Result<Handle, BackendError> {
        if let Some(id) = self.slurm_id(&spec.job)? {
            return Ok(Handle(id.to_string())); // submitted before: never twice
        }
        let time = spec.max_runtime.unwrap_or(self.site.default_time);
        if let Some(p) = &self.site.partition {
            check_walltime(time, self.site.partition_caps.get(p).copied(), p)
                .map_err(|e| self.err(&spec.job, e))?;
        }
        let dir = self.dir(&spec.job);
        let script = render(&self.request(spec));
        let command = format!(
            "mkdir -p {d} && cd {d} && id=$(sbatch --parsable) && echo \"$id\" > slurm_id && echo \"$id\"",
            d = sh_quote(&dir)
        );
        let out = self.run(&spec.job, &command, Some(&script))?;
        if !out.ok() {
            return Err(self.err(
                &spec.job,
                format!(
                    "sbatch refused the job on {}: {}",
                    self.site.transport.place(),
                    out.stderr.trim()
                ),
            ));
        }
        let id = sbatch_id(&out.stdout).map_err(|e| self.err(&spec.job, e))?;
        Ok(Handle(id.to_string()))
    }

    async fn status(&self, job: &JobId) -> Result<Observed, BackendError> {
        let Some(id) = self.slurm_id(job)? else {
            return Ok(Observed::Absent);
        };
        let now = now_ms();
        // `-t all` keeps recently ended jobs (MinJobAge) with their final state.
        let q = self.run(
            job,
            &format!("squeue -h -t all -j {id} -o '%i|%T|%r' 2>/dev/null"),
            None,
        )?;
        let own_exit = self
            .run(
                job,
                &format!(
                    "cat {} 2>/dev/null",
                    sh_quote(&format!("{}/exit", self.dir(job)))
                ),
                None,
            )?
            .stdout
            .trim()
            .parse::<i32>()
            .ok();
        let listed = squeue_rows(&q.stdout)
            .map_err(|e| self.err(job, e))?
            .into_iter()
            .find(|(i, ..)| *i == id);
        let ended_state: Option<String> = match listed {
            Some((_, state, _)) => match phase(&state, None).map_err(|e| self.err(job, e))? {
                SlurmPhase::Waiting => return Ok(Observed::Pending),
                SlurmPhase::Running => return Ok(Observed::Running { since_ms: now }),
                SlurmPhase::Ended { .. } => Some(state),
            },
            None => None,
        };
        let (state, code, signal, elapsed_ms) = match ended_state {
            Some(state) => {
                let sc = self.run(job, &format!("scontrol show job -o {id} 2>/dev/null"), None)?;
                let (code, signal) =
                    scontrol_exit(&sc.stdout).map_or((None, None), |(c, s)| (Some(c), s));
                (state, own_exit.or(code), signal, 0)
            }
            None => {
                // Aged out of the controller: the job's own record, else accounting.
                let acct = self.run(
                    job,
                    &format!(
                        "sacct -n -P -X -j {id} -o JobID,State,ExitCode,ElapsedRaw 2>/dev/null"
                    ),
                    None,
                )?;
                match sacct_rows(&acct.stdout)
                    .ok()
                    .and_then(|r| r.into_iter().find(|r| r.job_id == id))
                {
                    Some(r) => (
                        r.state.clone(),
                        own_exit.or(r.exit_code),
                        r.signal,
                        r.elapsed_s * 1000,
                    ),
                    None => match own_exit {
                        Some(c) => (
                            if c == 0 {
                                "COMPLETED".into()
                            } else {
                                "FAILED".into()
                            },
                            Some(c),
                            None,
                            0,
                        ),
                        None => return Ok(Observed::Unknown),
                    },
                }
            }
        };
        let ferry_state = match phase(&state, code).map_err(|e| self.err(job, e))? {
            SlurmPhase::Ended { state, .. } => state,
            _ => return Ok(Observed::Running { since_ms: now }),
        };
        Ok(Observed::Exited {
            code,
            signal,
            timed_out: ferry_state == "timed-out",
            cancelled: ferry_state == "cancelled",
            started_ms: now.saturating_sub(elapsed_ms),
            finished_ms: now,
        })
    }

    async fn logs(&self, job: &JobId, offset: u64) -> Result<LogChunk, BackendError> {
        let path = sh_quote(&format!("{}/out.log", self.dir(job)));
        let out = self.run(
            job,
            &format!(
                "tail -c +{} {path} 2>/dev/null | head -c 1048576",
                offset + 1
            ),
            None,
        )?;
        let next = offset + out.stdout.len() as u64;
        let ended = matches!(
            self.status(job).await?,
            Observed::Exited { .. } | Observed::Unknown
        );
        Ok(LogChunk {
            complete: ended && out.stdout.is_empty(),
            data: out.stdout,
            next_offset: next,
        })
    }

    async fn cancel(&self, job: &JobId) -> Result<(), BackendError> {
        if let Some(id) = self.slurm_id(job)? {
            let out = self.run(job, &format!("scancel {id}"), None)?;
            if !out.ok() {
                return Err(self.err(job, format!("scancel {id}: {}", out.stderr.trim())));
            }
        }
        Ok(())
    }

    async fn release(&self, _job: &JobId) -> Result<(), BackendError> {
        Ok(())
    }

    async fn list_owned(&self) -> Result<Vec<(JobId, Observed)>, BackendError> {
        let out = self
            .site
            .transport
            .run(
                &format!("ls {} 2>/dev/null", sh_quote(&self.site.root)),
                None,
            )
            .map_err(|e| BackendError::Backend {
                backend: self.site.id.clone(),
                message: e,
            })?;
        let mut owned = vec![];
        for id in out
            .stdout
            .split_whitespace()
            .filter_map(|n| n.parse::<JobId>().ok())
        {
            let seen = self.status(&id).await?;
            owned.push((id, seen));
        }
        Ok(owned)
    }
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}
