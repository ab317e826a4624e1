//! A job's folder on this host: everything the supervisor and the server tell each other
//! goes through files in it, so either can die and the other still learns the truth.
//!
//! ```text
//! jobs/<job-id>/spec.json        what to run (written before the supervisor starts)
//!               work/            the copied workdir; the job's current directory
//!               output.log       stdout and stderr, interleaved as written
//!               supervisor.pid   the supervisor's pid and its start time (guards pid reuse)
//!               job.pid          the job's process group
//!               started.json     when the job started
//!               cancel           present once a cancel was asked
//!               exit.json        how it ended: written once, atomically, by the supervisor
//! ```

use serde::{Deserialize, Serialize};
use std::io::Write;
use std::path::{Path, PathBuf};

#[derive(Debug, Clone)]
pub struct JobDir(pub PathBuf);

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ExitRecord {
    pub code: Option<i32>,
    pub signal: Option<i32>,
    pub timed_out: bool,
    pub cancelled: bool,
    pub started_ms: u64,
    pub finished_ms: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Started {
    pub started_ms: u64,
    pub pgid: i32,
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct PidRecord {
    pub pid: i32,
    /// Start time from /proc/<pid>/stat: a recycled pid has another.
    pub start_ticks: u64,
}

impl JobDir {
    pub fn spec(&self) -> PathBuf {
        self.0.join("spec.json")
    }
    pub fn work(&self) -> PathBuf {
        self.0.join("work")
    }
    pub fn output(&self) -> PathBuf {
        self.0.join("output.log")
    }
    pub fn supervisor_pid(&self) -> PathBuf {
        self.0.join("supervisor.pid")
    }
    pub fn started(&self) -> PathBuf {
        self.0.join("started.json")
    }
    pub fn cancel_marker(&self) -> PathBuf {
        self.0.join("cancel")
    }
    pub fn exit(&self) -> PathBuf {
        self.0.join("exit.json")
    }
    pub fn setup_script(&self) -> PathBuf {
        self.0.join("setup.sh")
    }
    pub fn run_script(&self) -> PathBuf {
        self.0.join("run.sh")
    }

    pub fn read_json<T: for<'de> Deserialize<'de>>(path: &Path) -> Option<T> {
        let text = std::fs::read(path).ok()?;
        serde_json::from_slice(&text).ok()
    }

    pub fn exit_record(&self) -> Option<ExitRecord> {
        Self::read_json(&self.exit())
    }

    pub fn started_record(&self) -> Option<Started> {
        Self::read_json(&self.started())
    }
}

/// Writes a file so readers see the old content or the new, never half: a temporary file
/// beside it, synced, renamed over it.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let tmp = path.with_extension(format!("tmp{}", std::process::id()));
    {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
    }
    std::fs::rename(&tmp, path)
}

pub fn write_json<T: Serialize>(path: &Path, value: &T) -> std::io::Result<()> {
    write_atomic(
        path,
        &serde_json::to_vec_pretty(value).map_err(std::io::Error::other)?,
    )
}

/// Epoch milliseconds now, on this host (the one reading of the clock is `ferry_job::now_ms`).
pub fn now_ms() -> u64 {
    ferry_job::now_ms().max(0) as u64
}

/// Field 22 of /proc/<pid>/stat: the process's start time in clock ticks since boot.
pub fn process_start_ticks(pid: i32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) may hold spaces and parentheses: skip past its last ')'.
    let after = &stat[stat.rfind(')')? + 2..];
    after.split_whitespace().nth(19)?.parse().ok()
}

/// Whether the process recorded is still the one alive under that pid.
pub fn is_alive(rec: &PidRecord) -> bool {
    // SAFETY: kill with signal 0 only checks that the pid exists and may be signalled.
    let exists = unsafe { libc::kill(rec.pid, 0) } == 0;
    exists && process_start_ticks(rec.pid) == Some(rec.start_ticks) && !is_zombie(rec.pid)
}

fn is_zombie(pid: i32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| s.rfind(')').map(|i| s[i + 2..].starts_with('Z')))
        .unwrap_or(false)
}

/// Copies a folder recursively; symbolic links are copied as links.
pub fn copy_dir(from: &Path, to: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(to)?;
    for entry in std::fs::read_dir(from)? {
        let entry = entry?;
        let kind = entry.file_type()?;
        let target = to.join(entry.file_name());
        if kind.is_symlink() {
            std::os::unix::fs::symlink(std::fs::read_link(entry.path())?, &target)?;
        } else if kind.is_dir() {
            copy_dir(&entry.path(), &target)?;
        } else {
            std::fs::copy(entry.path(), &target)?;
        }
    }
    Ok(())
}
