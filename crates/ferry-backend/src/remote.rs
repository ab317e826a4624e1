//! A job's folder on another machine (a cluster's filesystem, an owned host), shared by the
//! Slurm and SSH backends. Each job has `<root>/<job-id>/` holding:
//!
//! | file       | written by         | holds                                        |
//! |------------|--------------------|----------------------------------------------|
//! | `started`  | the job's script   | epoch milliseconds when the job began        |
//! | `finished` | the job's script   | epoch milliseconds when it ended by itself   |
//! | `exit`     | the job's script   | its exit code (written last, atomically)     |
//! | `out.log`  | the job            | stdout and stderr                            |
//! | `work/`    | the backend        | the task's `workdir`, copied before it starts |
//!
//! plus what each backend adds (`slurm_id`, `supervisor_pid`, `cancelled`). Everything a
//! status poll needs is read in one round trip ([`dump_command`]).

use crate::transport::{Output, Transport, sh_quote};
use crate::{Backend, BackendError, LogChunk, Observed};
use ferry_job::JobId;
use std::collections::BTreeMap;
use std::fmt::Write;
use std::path::Path;
use std::time::Duration;

/// The part of a job's script that runs the task: its environment, the setup, the run, and
/// the records of when it started and how it ended. `gpus` exports `CUDA_VISIBLE_DEVICES`
/// (Slurm sets it itself, so it passes `None`).
pub struct JobBody<'a> {
    pub dir: &'a str,
    pub ferry_job: &'a str,
    pub envs: &'a BTreeMap<String, String>,
    pub gpus: Option<&'a [u32]>,
    pub setup: Option<&'a str>,
    pub run: &'a str,
    /// Run in `<dir>/work` (the uploaded workdir) instead of `<dir>`.
    pub has_workdir: bool,
}

impl JobBody<'_> {
    pub fn render(&self) -> String {
        let d = sh_quote(self.dir);
        let mut s = String::new();
        let _ = writeln!(s, "cd {d} || exit 1");
        // Written before anything of the user's runs, so a running job always has it.
        s.push_str("date +%s%3N > started.tmp && mv started.tmp started\n");
        let _ = writeln!(s, "export FERRY_JOB_ID={}", sh_quote(self.ferry_job));
        // Where the task may write how far it has got (a fraction, 0 to 1): `deadline-spot`
        // reads it instead of counting run time.
        let _ = writeln!(s, "export FERRY_PROGRESS_FILE={d}/progress");
        if let Some(g) = self.gpus {
            let list: Vec<String> = g.iter().map(u32::to_string).collect();
            let _ = writeln!(s, "export CUDA_VISIBLE_DEVICES={}", list.join(","));
        }
        for (k, v) in self.envs {
            let _ = writeln!(s, "export {k}={}", sh_quote(v));
        }
        // The exit record is written from this shell, outside the user's, so neither an
        // `exit` in their script nor `set -e` can skip it.
        let _ = writeln!(
            s,
            "record() {{ date +%s%3N > {d}/finished; echo \"$1\" > {d}/exit.tmp && mv {d}/exit.tmp {d}/exit; }}"
        );
        if self.has_workdir {
            s.push_str("cd work || { record 1; exit 1; }\n");
        }
        if let Some(setup) = self.setup {
            let _ = writeln!(
                s,
                "bash -e -c {} || {{ code=$?; echo \"ferry: setup failed with exit code $code\" >&2; record $code; exit $code; }}",
                sh_quote(setup)
            );
        }
        let _ = writeln!(s, "bash -c {}", sh_quote(self.run));
        s.push_str("code=$?\nrecord $code\nexit $code\n");
        s
    }
}

/// A shell command that prints `name=<first line>` for each of `names` in `dir` (empty
/// when the file is missing), and `folder=missing` when `dir` does not exist.
pub fn dump_command(dir: &str, names: &[&str]) -> String {
    let list: Vec<String> = names.iter().map(|n| sh_quote(n)).collect();
    format!(
        "cd {} 2>/dev/null || {{ echo folder=missing; exit 0; }}; for f in {}; do printf '%s=' \"$f\"; head -n 1 \"$f\" 2>/dev/null | head -c 200; echo; done",
        sh_quote(dir),
        list.join(" ")
    )
}

/// What [`dump_command`] printed: only files that exist and are not empty.
pub fn parse_dump(out: &str) -> Option<BTreeMap<String, String>> {
    let mut m = BTreeMap::new();
    for line in out.lines() {
        if line == "folder=missing" {
            return None;
        }
        if let Some((k, v)) = line.split_once('=')
            && !v.trim().is_empty()
        {
            m.insert(k.to_string(), v.trim().to_string());
        }
    }
    Some(m)
}

/// Up to 1 MiB of the file from byte `offset`.
pub fn tail_command(path: &str, offset: u64) -> String {
    format!(
        "tail -c +{} {} 2>/dev/null | head -c 1048576",
        offset + 1,
        sh_quote(path)
    )
}

/// Where one backend keeps its job folders on a machine, and how its errors name it.
pub struct JobFolders {
    backend: String,
    transport: Transport,
    root: String,
    resolved: tokio::sync::OnceCell<String>,
}

impl JobFolders {
    /// `root` as configured: relative paths are under the remote home directory.
    pub fn new(backend: &str, transport: Transport, root: &str) -> JobFolders {
        JobFolders {
            backend: backend.to_string(),
            transport,
            root: root.to_string(),
            resolved: tokio::sync::OnceCell::new(),
        }
    }

    /// The absolute root, made on first use.
    pub async fn root(&self) -> Result<&str, BackendError> {
        self.resolved
            .get_or_try_init(|| resolve_root(&self.transport, &self.root))
            .await
            .map(String::as_str)
            .map_err(|e| self.backend_err(e))
    }

    pub async fn dir(&self, job: &JobId) -> Result<String, BackendError> {
        Ok(format!("{}/{job}", self.root().await?))
    }

    /// Every job with a folder here, with what `backend` says of each (for reconciling).
    pub async fn owned(
        &self,
        backend: &dyn Backend,
    ) -> Result<Vec<(JobId, Observed)>, BackendError> {
        let root = self.root().await?;
        let listing = self
            .transport
            .run(&format!("ls {} 2>/dev/null", sh_quote(root)), None)
            .await
            .map_err(|e| self.backend_err(e))?;
        owned_jobs(backend, &listing.stdout).await
    }

    pub fn backend_err(&self, message: impl Into<String>) -> BackendError {
        BackendError::Backend {
            backend: self.backend.clone(),
            message: message.into(),
        }
    }

    pub fn err(&self, job: &JobId, message: impl Into<String>) -> BackendError {
        BackendError::Job {
            backend: self.backend.clone(),
            job: job.clone(),
            message: message.into(),
        }
    }
}

/// A chunk of a job's `out.log` as read from `offset`; complete once nothing more came
/// and the backend says the job has ended.
pub async fn log_chunk(
    backend: &dyn Backend,
    job: &JobId,
    offset: u64,
    data: String,
) -> Result<LogChunk, BackendError> {
    let next_offset = offset + data.len() as u64;
    let complete = data.is_empty()
        && matches!(
            backend.status(job).await?,
            Observed::Exited { .. } | Observed::Unknown
        );
    Ok(LogChunk {
        data,
        next_offset,
        complete,
    })
}

/// The jobs whose folders `ls <root>` listed, with what the backend says of each.
async fn owned_jobs(
    backend: &dyn Backend,
    listing: &str,
) -> Result<Vec<(JobId, Observed)>, BackendError> {
    let mut owned = vec![];
    for id in listing
        .split_whitespace()
        .filter_map(|n| n.parse::<JobId>().ok())
    {
        let seen = backend.status(&id).await?;
        owned.push((id, seen));
    }
    Ok(owned)
}

/// Makes `root` (relative paths are under the remote home) and prints its absolute path.
pub async fn resolve_root(transport: &Transport, root: &str) -> Result<String, String> {
    let rel = root.strip_prefix("~/").unwrap_or(root);
    let out = transport
        .run(
            &format!("mkdir -p {r} && cd {r} && pwd", r = sh_quote(rel)),
            None,
        )
        .await?;
    let path = out.stdout.trim();
    if !out.ok() || !path.starts_with('/') {
        return Err(format!(
            "{}: cannot create the job folder {root}: {}",
            transport.place(),
            out.stderr.trim()
        ));
    }
    Ok(path.to_string())
}

/// Copies a local folder to `remote` (created) through the transport, as a tar stream.
pub async fn upload_dir(transport: &Transport, local: &Path, remote: &str) -> Result<(), String> {
    let tar = tokio::process::Command::new("tar")
        .arg("-C")
        .arg(local)
        .args(["-cf", "-", "."])
        .output()
        .await
        .map_err(|e| format!("cannot run tar: {e}"))?;
    if !tar.status.success() {
        return Err(format!(
            "packing {}: {}",
            local.display(),
            String::from_utf8_lossy(&tar.stderr).trim()
        ));
    }
    let out: Output = transport
        .run_for(
            &format!("mkdir -p {r} && tar -xf - -C {r}", r = sh_quote(remote)),
            Some(&tar.stdout),
            Duration::from_secs(600),
        )
        .await?;
    if !out.ok() {
        return Err(format!(
            "{}: unpacking the workdir into {remote}: {}",
            transport.place(),
            out.stderr.trim()
        ));
    }
    Ok(())
}

/// Epoch milliseconds now, on this host (the one reading of the clock is `ferry_job::now_ms`).
pub fn now_ms() -> u64 {
    ferry_job::now_ms().max(0) as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_body_records_start_and_exit_whatever_the_script_does() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path().to_str().unwrap();
        let envs = [("GREETING".to_string(), "it's me".to_string())].into();
        let body = JobBody {
            dir: d,
            ferry_job: "j-test",
            envs: &envs,
            gpus: Some(&[2, 3]),
            setup: Some("echo setting up"),
            run: "echo \"$GREETING $CUDA_VISIBLE_DEVICES $FERRY_JOB_ID\"; exit 7",
            has_workdir: false,
        };
        let out = Transport::Local.run(&body.render(), None).await.unwrap();
        assert_eq!(out.status, Some(7));
        assert_eq!(out.stdout, "setting up\nit's me 2,3 j-test\n");
        let dump = Transport::Local
            .run(
                &dump_command(d, &["started", "exit", "finished", "nope"]),
                None,
            )
            .await
            .unwrap();
        let files = parse_dump(&dump.stdout).unwrap();
        assert_eq!(files.get("exit").map(String::as_str), Some("7"));
        let started: u64 = files["started"].parse().unwrap();
        let finished: u64 = files["finished"].parse().unwrap();
        assert!(started <= finished && finished <= now_ms());
        assert!(!files.contains_key("nope"));
        assert_eq!(
            parse_dump(
                &Transport::Local
                    .run(&dump_command("/no/such/dir", &["exit"]), None)
                    .await
                    .unwrap()
                    .stdout
            ),
            None
        );
    }

    #[tokio::test]
    async fn a_failed_setup_is_recorded_and_stops_the_run() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path().to_str().unwrap();
        let body = JobBody {
            dir: d,
            ferry_job: "j",
            envs: &BTreeMap::new(),
            gpus: None,
            setup: Some("false"),
            run: "echo should not run",
            has_workdir: false,
        };
        let out = Transport::Local.run(&body.render(), None).await.unwrap();
        assert_eq!(out.status, Some(1));
        assert!(!out.stdout.contains("should not run"));
        assert!(out.stderr.contains("setup failed with exit code 1"));
        assert_eq!(
            std::fs::read_to_string(dir.path().join("exit")).unwrap(),
            "1\n"
        );
    }

    #[tokio::test]
    async fn uploads_a_folder() {
        let src = tempfile::tempdir().unwrap();
        std::fs::create_dir(src.path().join("sub")).unwrap();
        std::fs::write(src.path().join("sub/a.txt"), "data").unwrap();
        let dst = tempfile::tempdir().unwrap();
        let target = dst.path().join("job/work");
        upload_dir(&Transport::Local, src.path(), target.to_str().unwrap())
            .await
            .unwrap();
        assert_eq!(
            std::fs::read_to_string(target.join("sub/a.txt")).unwrap(),
            "data"
        );
        let root = resolve_root(&Transport::Local, dst.path().join("r/s").to_str().unwrap())
            .await
            .unwrap();
        assert!(root.ends_with("/r/s"), "{root}");
    }
}
