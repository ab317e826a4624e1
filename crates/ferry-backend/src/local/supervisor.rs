//! The process that watches one job. Started detached (its own session) by the local
//! backend, it outlives the server: it runs `setup` then `run` in bash in the job's own
//! process group, enforces the maximum runtime, and writes how the job ended.

use super::files::{
    ExitRecord, JobDir, PidRecord, Started, now_ms, process_start_ticks, write_json,
};
use crate::LaunchSpec;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

/// How long a job gets between SIGTERM and SIGKILL.
pub const GRACE: Duration = Duration::from_secs(5);

/// Runs the job in `dir` to its end. Returns the supervisor's own exit code: 0 when it
/// recorded the job's end (whatever that was), 1 when it could not.
pub fn supervise(dir: &std::path::Path) -> i32 {
    let dir = JobDir(dir.to_path_buf());
    match run(&dir) {
        Ok(()) => 0,
        Err(e) => {
            let _ = std::fs::write(dir.0.join("supervisor.err"), e.to_string());
            // Still leave an ending on record, so the server never waits on a ghost.
            let t = now_ms();
            let _ = write_json(
                &dir.exit(),
                &ExitRecord {
                    code: None,
                    signal: None,
                    timed_out: false,
                    cancelled: false,
                    started_ms: t,
                    finished_ms: t,
                },
            );
            1
        }
    }
}

fn run(dir: &JobDir) -> std::io::Result<()> {
    let me = std::process::id() as i32;
    write_json(
        &dir.supervisor_pid(),
        &PidRecord {
            pid: me,
            start_ticks: process_start_ticks(me).unwrap_or(0),
        },
    )?;
    if dir.exit().exists() {
        return Ok(()); // already ended: a second supervisor must not run it twice
    }
    let spec: LaunchSpec = JobDir::read_json(&dir.spec())
        .ok_or_else(|| std::io::Error::other("spec.json is missing or unreadable"))?;
    if dir.cancel_marker().exists() {
        let t = now_ms();
        return write_json(
            &dir.exit(),
            &ExitRecord {
                code: None,
                signal: None,
                timed_out: false,
                cancelled: true,
                started_ms: t,
                finished_ms: t,
            },
        );
    }

    let output = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.output())?;
    let setup = dir.setup_script();
    let run = dir.run_script();
    // setup failing stops the job before run, with setup's exit code.
    let script = format!(
        "if [ -f '{setup}' ]; then bash -e '{setup}' || exit $?; fi\nexec bash '{run}'",
        setup = setup.display(),
        run = run.display()
    );
    let visible = spec
        .gpus
        .iter()
        .map(u32::to_string)
        .collect::<Vec<_>>()
        .join(",");
    let mut child = Command::new("bash")
        .arg("-c")
        .arg(script)
        .current_dir(dir.work())
        .envs(&spec.envs)
        // Empty for CPU-only jobs: they must not grab a GPU another job holds.
        .env("CUDA_VISIBLE_DEVICES", &visible)
        .env("FERRY_JOB_ID", spec.job.as_str())
        .env("FERRY_JOB_NAME", &spec.name)
        .stdin(Stdio::null())
        .stdout(output.try_clone()?)
        .stderr(output)
        .process_group(0)
        .spawn()?;
    let pgid = child.id() as i32;
    let started_ms = now_ms();
    write_json(&dir.started(), &Started { started_ms, pgid })?;

    let timed_out = Arc::new(AtomicBool::new(false));
    if let Some(limit) = spec.max_runtime {
        let flag = timed_out.clone();
        let exit_path = dir.exit();
        std::thread::spawn(move || {
            std::thread::sleep(limit);
            if !exit_path.exists() {
                flag.store(true, Ordering::SeqCst);
                terminate_group(pgid);
            }
        });
    }
    let status = child.wait()?;
    write_json(
        &dir.exit(),
        &ExitRecord {
            code: status.code(),
            signal: status.signal(),
            timed_out: timed_out.load(Ordering::SeqCst),
            cancelled: dir.cancel_marker().exists(),
            started_ms,
            finished_ms: now_ms(),
        },
    )
}

/// SIGTERM to the whole group, then SIGKILL to whatever is left after the grace period.
pub fn terminate_group(pgid: i32) {
    // SAFETY: signalling a process group we created; a group already gone returns ESRCH.
    unsafe { libc::killpg(pgid, libc::SIGTERM) };
    let deadline = std::time::Instant::now() + GRACE;
    while std::time::Instant::now() < deadline {
        // SAFETY: signal 0 only probes whether any member of the group still exists.
        if unsafe { libc::killpg(pgid, 0) } != 0 {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    // SAFETY: as above.
    unsafe { libc::killpg(pgid, libc::SIGKILL) };
}
