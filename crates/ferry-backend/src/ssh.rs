//! The SSH backend: an owned machine reached over SSH. Ferry hands out its GPUs (as it
//! does this host's); each job runs under a small shell supervisor started in a session
//! of its own, so it outlives the SSH connection that started it and the Ferry server.
//! Nothing has to be installed on the host beyond bash, coreutils and (for GPUs) the
//! NVIDIA driver's `nvidia-smi`.
//!
//! Besides the files of [`crate::remote`], a job's folder holds `job.sh` (the task),
//! `supervise.sh`, `supervisor_pid` (the supervisor, written when it is started),
//! `job_pid` (the job's process group), and `cancelled` / `timed_out` markers.

use crate::gpu::{GpuDetection, GpuDevice};
use crate::remote::{self, JobBody, JobFolders, dump_command, now_ms, parse_dump, tail_command};
use crate::transport::{Transport, sh_quote};
use crate::{Backend, BackendError, Capacity, Handle, LaunchSpec, LogChunk, Observed};
use async_trait::async_trait;
use ferry_job::JobId;
use std::time::Duration;

/// Seconds between SIGTERM and SIGKILL when a job is cancelled or runs out of time.
const KILL_GRACE_S: u64 = 10;

const FILES: &[&str] = &[
    "supervisor_pid",
    "supervisor_alive",
    "started",
    "finished",
    "exit",
    "cancelled",
    "timed_out",
];

pub struct SshBackend {
    id: String,
    transport: Transport,
    folders: JobFolders,
}

impl SshBackend {
    /// `id` is `ssh:<name>`; `root` is where job folders go on the host (relative paths
    /// are under the home directory).
    pub fn new(id: String, transport: Transport, root: String) -> SshBackend {
        SshBackend {
            folders: JobFolders::new(&id, transport.clone(), &root),
            id,
            transport,
        }
    }

    pub fn transport(&self) -> &Transport {
        &self.transport
    }

    /// How far the job says it has got: the first line of the file its task may write at
    /// `$FERRY_PROGRESS_FILE`, a fraction from 0 to 1; `None` when there is none or it does
    /// not read as one.
    pub async fn progress(&self, job: &JobId) -> Result<Option<f64>, BackendError> {
        let dir = self.folders.dir(job).await?;
        let out = self
            .run(job, &dump_command(&dir, &["progress"]), None)
            .await?;
        Ok(parse_dump(&out.stdout)
            .and_then(|files| files.get("progress")?.trim().parse::<f64>().ok())
            .filter(|f| f.is_finite() && (0.0..=1.0).contains(f)))
    }

    /// Makes the job folder's root on the host: proof that SSH answers and the folder can
    /// be written (a fresh machine's first round trip, remembered after).
    pub async fn ready(&self) -> Result<(), BackendError> {
        self.folders.root().await.map(|_| ())
    }

    async fn run(
        &self,
        job: &JobId,
        command: &str,
        stdin: Option<&[u8]>,
    ) -> Result<crate::transport::Output, BackendError> {
        self.transport
            .run(command, stdin)
            .await
            .map_err(|e| self.folders.err(job, e))
    }

    /// The host's GPUs by `nvidia-smi`; a host without the driver has none.
    pub async fn probe_gpus(&self) -> Result<GpuDetection, BackendError> {
        let out = self
            .transport
            .run(
                "command -v nvidia-smi >/dev/null || { echo no-nvidia-smi; exit 0; }; nvidia-smi --query-gpu=index,name,memory.total,uuid --format=csv,noheader,nounits",
                None,
            )
            .await
            .map_err(|e| self.folders.backend_err(e))?;
        let text = out.stdout.trim();
        if text == "no-nvidia-smi" {
            return Ok(GpuDetection {
                devices: vec![],
                source: "none",
                detail: format!(
                    "{}: no nvidia-smi (no NVIDIA driver)",
                    self.transport.place()
                ),
            });
        }
        if !out.ok() {
            return Ok(GpuDetection {
                devices: vec![],
                source: "none",
                detail: format!(
                    "{}: nvidia-smi failed: {}",
                    self.transport.place(),
                    format!("{} {}", out.stdout.trim(), out.stderr.trim()).trim()
                ),
            });
        }
        let devices = parse_nvidia_smi(text).map_err(|e| self.folders.backend_err(e))?;
        Ok(GpuDetection {
            detail: format!(
                "{}: {} GPU(s) by nvidia-smi",
                self.transport.place(),
                devices.len()
            ),
            devices,
            source: "nvidia-smi",
        })
    }

    fn supervisor(dir: &str, max_runtime: Option<Duration>, guard: Option<&str>) -> String {
        let d = sh_quote(dir);
        let limit = max_runtime.map_or(0, |m| m.as_secs().max(1));
        // The guard ends the machine itself a grace period after the job ends, and at the
        // latest a grace period after its maximum runtime, whatever became of Ferry.
        let grace = crate::GUARD_GRACE.as_secs();
        let (guard_at_start, guard_at_end) = match guard {
            Some(g) => {
                let g = sh_quote(g);
                (
                    if limit > 0 {
                        format!(
                            "setsid bash -c {} > /dev/null 2>&1 < /dev/null &\n",
                            sh_quote(&format!("sleep {}; bash -c {g}", limit + grace))
                        )
                    } else {
                        String::new()
                    },
                    format!(
                        "setsid bash -c {} > /dev/null 2>&1 < /dev/null &\n",
                        sh_quote(&format!("sleep {grace}; bash -c {g}"))
                    ),
                )
            }
            None => (String::new(), String::new()),
        };
        format!(
            r#"#!/bin/bash
# Ferry's supervisor: runs job.sh in a process group of its own, stops it at its maximum
# runtime, and makes sure an exit record exists however the job ended.
cd {d} || exit 1
{guard_at_start}setsid bash job.sh > out.log 2>&1 < /dev/null &
job=$!
echo "$job" > job_pid
# A cancel that came before job_pid existed left only its marker.
[ -s cancelled ] && kill -TERM -- -"$job" 2>/dev/null
timer=
if [ {limit} -gt 0 ]; then
    setsid bash -c 'sleep {limit}; [ -e exit ] && exit 0; echo yes > timed_out; kill -TERM -- -"$1" 2>/dev/null; sleep {KILL_GRACE_S}; kill -KILL -- -"$1" 2>/dev/null' timer "$job" > /dev/null 2>&1 < /dev/null &
    timer=$!
fi
wait "$job"
code=$?
[ -n "$timer" ] && kill -- -"$timer" 2>/dev/null
# Killed before job.sh could record its end (cancelled, timed out): record it here, once
# nothing of the job is left (a process that ignored SIGTERM lives until the SIGKILL).
if [ ! -e exit ]; then
    while kill -0 -- -"$job" 2>/dev/null; do sleep 0.2; done
    date +%s%3N > finished
    echo "$code" > exit.tmp && mv exit.tmp exit
fi
{guard_at_end}"#
        )
    }
}

/// `nvidia-smi --query-gpu=index,name,memory.total,uuid --format=csv,noheader,nounits`.
pub fn parse_nvidia_smi(text: &str) -> Result<Vec<GpuDevice>, String> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(|l| {
            let f: Vec<&str> = l.split(',').map(str::trim).collect();
            let bad = || format!("cannot read nvidia-smi line '{l}'");
            if f.len() < 3 {
                return Err(bad());
            }
            Ok(GpuDevice {
                index: f[0].parse().map_err(|_| bad())?,
                name: f[1].to_string(),
                memory_gb: f[2].parse::<f64>().map_err(|_| bad())? / 1024.0,
                uuid: f.get(3).map(|u| u.to_string()),
            })
        })
        .collect()
}

#[async_trait]
impl Backend for SshBackend {
    fn id(&self) -> &str {
        &self.id
    }

    async fn capacity(&self) -> Result<Capacity, BackendError> {
        let gpus = self.probe_gpus().await?;
        let out = self
            .transport
            .run("nproc; awk '/MemTotal/ { print $2 }' /proc/meminfo", None)
            .await
            .map_err(|e| self.folders.backend_err(e))?;
        let mut lines = out.stdout.lines();
        let cpus = lines
            .next()
            .and_then(|l| l.trim().parse().ok())
            .unwrap_or(0);
        let mem_kb: f64 = lines
            .next()
            .and_then(|l| l.trim().parse().ok())
            .unwrap_or(0.0);
        Ok(Capacity {
            gpus: gpus.devices,
            cpus,
            memory_gb: mem_kb / 1024.0 / 1024.0,
            note: gpus.detail,
        })
    }

    async fn launch(&self, spec: &LaunchSpec) -> Result<Handle, BackendError> {
        let dir = self.folders.dir(&spec.job).await?;
        let d = sh_quote(&dir);
        // A workdir is uploaded before the start: a job started before must be known first,
        // or its files would be overwritten under it. Without one, the start command itself
        // checks (one round trip less).
        if spec.workdir.is_some() {
            let known = self
                .run(
                    &spec.job,
                    &format!("cat {d}/supervisor_pid 2>/dev/null"),
                    None,
                )
                .await?;
            if let Ok(pid) = known.stdout.trim().parse::<u32>() {
                return Ok(Handle(pid.to_string())); // started before: never twice
            }
        }
        if let Some(w) = &spec.workdir {
            remote::upload_dir(&self.transport, w, &format!("{dir}/work"))
                .await
                .map_err(|e| self.folders.err(&spec.job, e))?;
        }
        let body = JobBody {
            dir: &dir,
            ferry_job: spec.job.as_str(),
            envs: &spec.envs,
            gpus: Some(&spec.gpus),
            setup: spec.setup.as_deref(),
            run: &spec.run,
            has_workdir: spec.workdir.is_some(),
        }
        .render();
        // job.sh arrives on stdin; supervise.sh is written beside it. The supervisor gets a
        // session of its own and no tie to this connection's terminal or pipes.
        let supervise = Self::supervisor(&dir, spec.max_runtime, spec.guard.as_deref());
        let command = format!(
            "mkdir -p {d} && cd {d} && if [ -s supervisor_pid ]; then cat supervisor_pid; else cat > job.sh && printf '%s' {sup} > supervise.sh && {{ setsid bash supervise.sh > /dev/null 2>&1 < /dev/null & echo $! > supervisor_pid.tmp && mv supervisor_pid.tmp supervisor_pid && cat supervisor_pid; }}; fi",
            sup = sh_quote(&supervise)
        );
        let out = self.run(&spec.job, &command, Some(body.as_bytes())).await?;
        match out.stdout.trim().parse::<u32>() {
            Ok(pid) if out.ok() => Ok(Handle(pid.to_string())),
            _ => Err(self.folders.err(
                &spec.job,
                format!(
                    "{}: could not start the job's supervisor: {}",
                    self.transport.place(),
                    out.stderr.trim()
                ),
            )),
        }
    }

    async fn status(&self, job: &JobId) -> Result<Observed, BackendError> {
        let dir = self.folders.dir(job).await?;
        // The supervisor is alive if its pid runs supervise.sh of this folder (a pid reused
        // after a reboot does not count).
        let command = format!(
            "p=$(head -n 1 {d}/supervisor_pid 2>/dev/null); if [ -n \"$p\" ] && tr '\\0' ' ' < /proc/$p/cmdline 2>/dev/null | grep -q 'supervise.sh'; then echo yes > {d}/supervisor_alive; else rm -f {d}/supervisor_alive; fi; {}",
            dump_command(&dir, FILES),
            d = sh_quote(&dir)
        );
        let out = self.run(job, &command, None).await?;
        let Some(files) = parse_dump(&out.stdout) else {
            return Ok(Observed::Absent);
        };
        let ms = |n: &str| files.get(n).and_then(|v| v.parse::<u64>().ok());
        if let Some(code) = files.get("exit").and_then(|c| c.parse::<i32>().ok()) {
            let finished_ms = ms("finished").unwrap_or_else(now_ms);
            // Exit codes above 128 are 128 + the signal that ended it.
            let signal = (code > 128).then_some(code - 128);
            return Ok(Observed::Exited {
                code: if signal.is_some() { None } else { Some(code) },
                signal,
                timed_out: files.contains_key("timed_out"),
                cancelled: files.contains_key("cancelled"),
                started_ms: ms("started").unwrap_or(finished_ms),
                finished_ms,
                reason: None,
            });
        }
        if !files.contains_key("supervisor_pid") {
            return Ok(Observed::Absent);
        }
        if files.contains_key("supervisor_alive") {
            return Ok(match ms("started") {
                Some(since_ms) => Observed::Running { since_ms },
                None => Observed::Pending,
            });
        }
        Ok(Observed::Unknown)
    }

    async fn logs(&self, job: &JobId, offset: u64) -> Result<LogChunk, BackendError> {
        let path = format!("{}/out.log", self.folders.dir(job).await?);
        let out = self.run(job, &tail_command(&path, offset), None).await?;
        remote::log_chunk(self, job, offset, out.stdout).await
    }

    async fn cancel(&self, job: &JobId) -> Result<(), BackendError> {
        let dir = self.folders.dir(job).await?;
        // TERM the job's process group now, KILL it after the grace period from a
        // detached helper, so this returns at once.
        let command = format!(
            "cd {d} 2>/dev/null || exit 0; [ -e exit ] && exit 0; echo yes > cancelled; p=$(head -n 1 job_pid 2>/dev/null); [ -n \"$p\" ] || exit 0; kill -TERM -- -\"$p\" 2>/dev/null; setsid bash -c \"sleep {KILL_GRACE_S}; kill -KILL -- -$p 2>/dev/null\" > /dev/null 2>&1 < /dev/null & exit 0",
            d = sh_quote(&dir)
        );
        let out = self.run(job, &command, None).await?;
        if !out.ok() {
            return Err(self
                .folders
                .err(job, format!("cancel: {}", out.stderr.trim())));
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_nvidia_smi() {
        let d = parse_nvidia_smi(
            "0, NVIDIA H100 80GB HBM3, 81559, GPU-aaaa\n1, NVIDIA H100 80GB HBM3, 81559, GPU-bbbb\n",
        )
        .unwrap();
        assert_eq!(d.len(), 2);
        assert_eq!(
            (d[1].index, d[1].name.as_str(), d[1].memory_gb.round()),
            (1, "NVIDIA H100 80GB HBM3", 80.0)
        );
        assert!(parse_nvidia_smi("0, H100").is_err());
    }

    #[tokio::test]
    async fn runs_cancels_and_times_out_on_this_host() {
        // The SSH backend's own logic over the local transport; tests/ssh.rs drives it
        // through a real sshd.
        let root = tempfile::tempdir().unwrap();
        let b = SshBackend::new(
            "ssh:here".into(),
            Transport::Local,
            root.path().display().to_string(),
        );
        let spec = |id: &str, run: &str, max: Option<u64>| LaunchSpec {
            job: id.parse().unwrap(),
            name: "t".into(),
            workdir: None,
            envs: Default::default(),
            setup: None,
            run: run.into(),
            gpus: vec![1],
            gpu_count: 1,
            max_runtime: max.map(Duration::from_secs),
            guard: None,
        };
        let ok = spec(
            "j-00000000000000a1",
            "echo gpu=$CUDA_VISIBLE_DEVICES; exit 4",
            None,
        );
        let slow = spec("j-00000000000000a2", "sleep 60", None);
        let late = spec("j-00000000000000a3", "sleep 60", Some(1));
        for s in [&ok, &slow, &late] {
            b.launch(s).await.unwrap();
        }
        assert_eq!(b.launch(&ok).await.unwrap(), b.launch(&ok).await.unwrap());
        b.cancel(&slow.job).await.unwrap();
        let wait = |id: JobId| {
            let b = &b;
            async move {
                for _ in 0..200 {
                    if let o @ Observed::Exited { .. } = b.status(&id).await.unwrap() {
                        return o;
                    }
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                panic!("{id} did not end");
            }
        };
        match wait(ok.job.clone()).await {
            Observed::Exited {
                code,
                cancelled,
                timed_out,
                ..
            } => {
                assert_eq!((code, cancelled, timed_out), (Some(4), false, false))
            }
            o => panic!("{o:?}"),
        }
        match wait(slow.job.clone()).await {
            Observed::Exited {
                signal, cancelled, ..
            } => {
                assert_eq!((signal, cancelled), (Some(15), true))
            }
            o => panic!("{o:?}"),
        }
        match wait(late.job.clone()).await {
            Observed::Exited { timed_out, .. } => assert!(timed_out),
            o => panic!("{o:?}"),
        }
        let log = b.logs(&ok.job, 0).await.unwrap();
        assert_eq!(log.data, "gpu=1\n");
        assert!(b.logs(&ok.job, log.next_offset).await.unwrap().complete);
        assert_eq!(b.list_owned().await.unwrap().len(), 3);
        assert_eq!(
            b.status(&"j-00000000000000a9".parse().unwrap())
                .await
                .unwrap(),
            Observed::Absent
        );
    }
}
