//! The Slurm backend: `sbatch` a generated script, follow the job with the records its
//! script leaves and `scontrol`/`sacct`, read its output file, `scancel` it. The same code
//! runs the commands on this host or on a login node over SSH ([`Transport`]).
//!
//! Each job's folder (see [`crate::remote`]) also holds `slurm_id`. Ferry's job id is the
//! Slurm job's comment (`ferry:<id>`), so a submission whose id was never written down (a
//! crash right after `sbatch`) is found again instead of submitted twice.

use super::parse::{
    ControlJob, sacct_rows, sbatch_id, scontrol_job, seconds_until, test_only_start,
};
use super::script::{BatchRequest, GpuFlag, check_walltime, render};
use super::state::{SlurmPhase, phase};
use crate::remote::{self, JobBody, JobFolders, dump_command, now_ms, parse_dump, tail_command};
use crate::transport::{Transport, sh_quote};
use crate::{Backend, BackendError, Capacity, Handle, LaunchSpec, LogChunk, Observed};
use async_trait::async_trait;
use ferry_job::JobId;
use std::collections::BTreeMap;
use std::time::Duration;

/// How a site is used: where its login node is, the account, the partition and how it
/// wants GPUs asked for.
#[derive(Debug, Clone, PartialEq)]
pub struct Site {
    /// `slurm:<cluster>`.
    pub id: String,
    pub transport: Transport,
    /// Where job folders live on the cluster (a path its compute nodes can write; relative
    /// paths are under the home directory).
    pub root: String,
    pub account: Option<String>,
    pub partition: Option<String>,
    /// The partition's wall-time cap: a longer request is refused before submission.
    pub max_walltime: Option<Duration>,
    pub gpu_flag: GpuFlag,
    /// Slurm's name for the GPU type (`h100`); `None` takes any.
    pub gpu_type: Option<String>,
    pub cpus_per_task: Option<u32>,
    pub mem_gb: Option<u32>,
    /// `--time` when the job states no maximum runtime.
    pub default_time: Duration,
    /// Exported before every Slurm command (`SLURM_CONF` for a cluster whose config is
    /// not in the default place).
    pub env: BTreeMap<String, String>,
}

pub struct SlurmBackend {
    site: Site,
    folders: JobFolders,
}

const FILES: &[&str] = &["slurm_id", "started", "finished", "exit"];

impl SlurmBackend {
    pub fn new(site: Site) -> SlurmBackend {
        SlurmBackend {
            folders: JobFolders::new(&site.id, site.transport.clone(), &site.root),
            site,
        }
    }

    pub fn site(&self) -> &Site {
        &self.site
    }

    /// Runs a command with the site's environment.
    async fn exec(
        &self,
        command: &str,
        stdin: Option<&[u8]>,
    ) -> Result<crate::transport::Output, String> {
        let mut line = String::new();
        for (k, v) in &self.site.env {
            line.push_str(&format!("export {k}={}; ", sh_quote(v)));
        }
        line.push_str(command);
        self.site.transport.run(&line, stdin).await
    }

    async fn run(
        &self,
        job: &JobId,
        command: &str,
        stdin: Option<&[u8]>,
    ) -> Result<crate::transport::Output, BackendError> {
        self.exec(command, stdin)
            .await
            .map_err(|e| self.folders.err(job, e))
    }

    fn time_limit(&self, spec: &LaunchSpec) -> Duration {
        spec.max_runtime.unwrap_or(self.site.default_time)
    }

    fn request(&self, spec: &LaunchSpec, dir: &str) -> BatchRequest {
        let body = JobBody {
            dir,
            ferry_job: spec.job.as_str(),
            envs: &spec.envs,
            gpus: None, // Slurm exports CUDA_VISIBLE_DEVICES for the GPUs it grants
            setup: spec.setup.as_deref(),
            run: &spec.run,
            has_workdir: spec.workdir.is_some(),
        };
        BatchRequest {
            job_name: format!("ferry-{}", spec.name),
            account: self.site.account.clone(),
            partition: self.site.partition.clone(),
            time_limit: self.time_limit(spec),
            gpus: spec.gpu_count,
            gpu_type: self.site.gpu_type.clone(),
            gpu_flag: self.site.gpu_flag,
            cpus_per_task: self.site.cpus_per_task,
            mem_gb: self.site.mem_gb,
            output: format!("{dir}/out.log"),
            error: format!("{dir}/out.log"),
            workdir: dir.to_string(),
            ferry_job: spec.job.to_string(),
            body: body.render(),
        }
    }

    /// Refuses a request over the partition's cap, with the reason.
    pub fn check_walltime(&self, limit: Duration) -> Result<(), String> {
        let partition = self
            .site
            .partition
            .clone()
            .unwrap_or_else(|| "the default partition".into());
        check_walltime(limit, self.site.max_walltime, &partition)
            .map_err(|e| format!("{}: {e}", self.site.id))
    }

    /// How long a job asking this much would wait before it starts, by `sbatch
    /// --test-only` (Slurm's own estimate; nothing is submitted).
    pub async fn estimate_wait(&self, spec: &LaunchSpec) -> Result<Duration, BackendError> {
        let dir = self.folders.dir(&spec.job).await?;
        let script = render(&self.request(spec, &dir));
        let out = self
            .run(
                &spec.job,
                "sbatch --test-only 2>&1; echo \"now=$(date +%Y-%m-%dT%H:%M:%S)\"",
                Some(script.as_bytes()),
            )
            .await?;
        let now = out
            .stdout
            .lines()
            .find_map(|l| l.strip_prefix("now="))
            .unwrap_or("");
        match test_only_start(&out.stdout).and_then(|at| seconds_until(&at, now)) {
            Some(s) => Ok(Duration::from_secs(s.max(0) as u64)),
            None => Err(self.folders.err(
                &spec.job,
                format!(
                    "sbatch --test-only on {} gave no start time: {}",
                    self.site.transport.place(),
                    out.stdout.trim()
                ),
            )),
        }
    }

    fn ended(
        &self,
        job: &JobId,
        state: &str,
        code: Option<i32>,
        signal: Option<i32>,
        slurm_reason: Option<String>,
        files: &BTreeMap<String, String>,
    ) -> Result<Observed, BackendError> {
        let now = now_ms();
        let (ferry_state, reason) =
            match phase(state, code).map_err(|e| self.folders.err(job, e))? {
                SlurmPhase::Ended { state, reason } => (state, reason),
                SlurmPhase::Waiting => return Ok(Observed::Pending),
                // Slurm has started the batch script, but the task has not begun until the
                // script records it: until then, it is still on its way.
                SlurmPhase::Running => {
                    return Ok(match ms(files, "started") {
                        Some(since_ms) => Observed::Running { since_ms },
                        None => Observed::Pending,
                    });
                }
            };
        let finished_ms = ms(files, "finished").unwrap_or(now);
        let reason = match slurm_reason {
            Some(r) if !matches!(r.as_str(), "NonZeroExitCode" | "TimeLimit") => {
                format!("{reason} (Slurm: {r}, state {state})")
            }
            _ => format!("{reason} (Slurm state {state})"),
        };
        Ok(Observed::Exited {
            code,
            signal,
            timed_out: ferry_state == "timed-out",
            cancelled: ferry_state == "cancelled",
            // A job cancelled while pending never started: it is charged nothing.
            started_ms: ms(files, "started").unwrap_or(finished_ms),
            finished_ms,
            reason: Some(reason),
        })
    }
}

fn ms(files: &BTreeMap<String, String>, name: &str) -> Option<u64> {
    files.get(name).and_then(|v| v.parse().ok())
}

#[async_trait]
impl Backend for SlurmBackend {
    fn id(&self) -> &str {
        &self.site.id
    }

    async fn capacity(&self) -> Result<Capacity, BackendError> {
        let out = self
            .exec("sinfo -h -o '%P %D %G %l'", None)
            .await
            .map_err(|e| self.folders.backend_err(e))?;
        if !out.ok() {
            return Err(self.folders.backend_err(format!(
                "sinfo on {}: {}",
                self.site.transport.place(),
                out.stderr.trim()
            )));
        }
        Ok(Capacity {
            gpus: vec![],
            cpus: 0,
            memory_gb: 0.0,
            note: format!(
                "partitions (name nodes gres time-limit): {}",
                out.stdout.trim().replace('\n', "; ")
            ),
        })
    }

    async fn launch(&self, spec: &LaunchSpec) -> Result<Handle, BackendError> {
        let dir = self.folders.dir(&spec.job).await?;
        let d = sh_quote(&dir);
        // Submitted before (its id written down, or its comment in the queue): never twice.
        // Only a job whose folder exists can have been submitted, so a first launch does not
        // pay for listing the user's jobs.
        let find = format!(
            "[ -d {d} ] || exit 0; cat {d}/slurm_id 2>/dev/null || squeue -h -t all -u \"$(id -un)\" -o '%i %k' 2>/dev/null | awk '$2 == \"ferry:{}\" {{ print $1; exit }}'",
            spec.job
        );
        let known = self.run(&spec.job, &find, None).await?;
        if let Ok(id) = sbatch_id(&known.stdout) {
            return Ok(Handle(id.to_string()));
        }
        self.check_walltime(self.time_limit(spec))
            .map_err(|e| self.folders.err(&spec.job, e))?;
        if let Some(w) = &spec.workdir {
            remote::upload_dir(&self.site.transport, w, &format!("{dir}/work"))
                .await
                .map_err(|e| self.folders.err(&spec.job, e))?;
        }
        let script = render(&self.request(spec, &dir));
        let command = format!(
            "mkdir -p {d} && cd {d} && id=$(sbatch --parsable) && echo \"$id\" > slurm_id.tmp && mv slurm_id.tmp slurm_id && echo \"$id\""
        );
        let out = self
            .run(&spec.job, &command, Some(script.as_bytes()))
            .await?;
        if !out.ok() {
            return Err(self.folders.err(
                &spec.job,
                format!(
                    "sbatch on {} refused the job: {}",
                    self.site.transport.place(),
                    out.stderr.trim().trim_start_matches("sbatch: error: ")
                ),
            ));
        }
        let id = sbatch_id(&out.stdout).map_err(|e| self.folders.err(&spec.job, e))?;
        Ok(Handle(id.to_string()))
    }

    async fn status(&self, job: &JobId) -> Result<Observed, BackendError> {
        let dir = self.folders.dir(job).await?;
        // One round trip: the job's own records, then (unless it recorded its end)
        // what the controller says, or accounting once the controller has forgotten it
        // (the database; else, on Slurm before 23.02, the job-completion log: `sacct -c`).
        // The decision uses the records as read, so an end recorded in between is seen
        // by one of the two.
        let command = format!(
            "out=$({}); printf '%s\\n' \"$out\"; id=$(printf '%s\\n' \"$out\" | sed -n 's/^slurm_id=//p'); ex=$(printf '%s\\n' \"$out\" | sed -n 's/^exit=//p'); if [ -n \"$id\" ] && [ -z \"$ex\" ]; then echo '--scontrol'; scontrol show job -o \"$id\" 2>/dev/null || {{ echo '--sacct'; f=JobID,State,ExitCode,ElapsedRaw; a=$(sacct -n -P -X -j \"$id\" -o $f 2>/dev/null); [ -n \"$a\" ] || a=$(sacct -c -n -P -X -j \"$id\" -o $f 2>/dev/null); printf '%s\\n' \"$a\"; }}; fi",
            dump_command(&dir, FILES)
        );
        let out = self.run(job, &command, None).await?;
        let (head, rest) = out
            .stdout
            .split_once("--scontrol\n")
            .unwrap_or((&out.stdout, ""));
        let Some(files) = parse_dump(head) else {
            return Ok(Observed::Absent);
        };
        let Some(id) = files.get("slurm_id").and_then(|i| i.parse::<u64>().ok()) else {
            return Ok(Observed::Absent);
        };
        if let Some(code) = files.get("exit").and_then(|c| c.parse::<i32>().ok()) {
            let state = if code == 0 { "COMPLETED" } else { "FAILED" };
            return self.ended(job, state, Some(code), None, None, &files);
        }
        let (control, acct) = rest.split_once("--sacct\n").unwrap_or((rest, ""));
        if let Some(ControlJob {
            state,
            reason,
            exit_code,
            signal,
        }) = scontrol_job(control)
        {
            return self.ended(job, &state, exit_code, signal, reason, &files);
        }
        match sacct_rows(acct)
            .ok()
            .and_then(|rows| rows.into_iter().find(|r| r.job_id == id))
        {
            Some(r) => self.ended(job, &r.state, r.exit_code, r.signal, None, &files),
            // Forgotten by the controller, no accounting, no record of its end: lost.
            None => Ok(Observed::Unknown),
        }
    }

    async fn logs(&self, job: &JobId, offset: u64) -> Result<LogChunk, BackendError> {
        let path = format!("{}/out.log", self.folders.dir(job).await?);
        let out = self.run(job, &tail_command(&path, offset), None).await?;
        remote::log_chunk(self, job, offset, out.stdout).await
    }

    async fn cancel(&self, job: &JobId) -> Result<(), BackendError> {
        let dir = self.folders.dir(job).await?;
        let out = self
            .run(
                job,
                &format!(
                    "id=$(head -n 1 {}/slurm_id 2>/dev/null) || exit 0; [ -n \"$id\" ] || exit 0; scancel \"$id\"",
                    sh_quote(&dir)
                ),
                None,
            )
            .await?;
        if !out.ok() {
            return Err(self
                .folders
                .err(job, format!("scancel: {}", out.stderr.trim())));
        }
        Ok(())
    }

    async fn release(&self, _job: &JobId) -> Result<(), BackendError> {
        Ok(())
    }

    async fn list_owned(&self) -> Result<Vec<(JobId, Observed)>, BackendError> {
        self.folders.owned(self).await
    }
}
