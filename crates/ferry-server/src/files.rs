//! The server's files: its token (readable by the user only) and where it listens.

use serde::{Deserialize, Serialize};
use std::io::Write;
use std::path::Path;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ServerInfo {
    pub pid: u32,
    pub addr: String,
}

/// The bearer token clients must send; created on first start, mode 0600.
pub fn read_or_create_token(dir: &Path) -> std::io::Result<String> {
    let path = dir.join("server.token");
    if let Ok(t) = std::fs::read_to_string(&path)
        && t.trim().len() >= 32
    {
        return Ok(t.trim().to_string());
    }
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(|e| std::io::Error::other(e.to_string()))?;
    let token: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    let tmp = dir.join(format!(".server.token.{}", std::process::id()));
    {
        use std::os::unix::fs::OpenOptionsExt;
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&tmp)?;
        f.write_all(token.as_bytes())?;
        f.sync_all()?;
    }
    std::fs::rename(&tmp, &path)?;
    Ok(token)
}

pub fn write_info(dir: &Path, info: &ServerInfo) -> std::io::Result<()> {
    let tmp = dir.join(format!(".server.json.{}", std::process::id()));
    std::fs::write(
        &tmp,
        serde_json::to_vec(info).map_err(std::io::Error::other)?,
    )?;
    std::fs::rename(tmp, dir.join("server.json"))
}

pub fn read_info(dir: &Path) -> Option<ServerInfo> {
    serde_json::from_slice(&std::fs::read(dir.join("server.json")).ok()?).ok()
}

/// Removes server.json if it is still this server's.
pub fn remove_info(dir: &Path, pid: u32) {
    if read_info(dir).is_some_and(|i| i.pid == pid) {
        let _ = std::fs::remove_file(dir.join("server.json"));
    }
}

/// Holds `server.lock` exclusively for as long as the returned file lives.
pub fn lock(dir: &Path) -> std::io::Result<std::fs::File> {
    use std::os::fd::AsRawFd;
    let f = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(dir.join("server.lock"))?;
    // SAFETY: flock on a file descriptor we own.
    if unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } != 0 {
        let holder = read_info(dir)
            .map(|i| format!(" (pid {}, {})", i.pid, i.addr))
            .unwrap_or_default();
        return Err(std::io::Error::other(format!(
            "another Ferry server already runs on {}{holder}",
            dir.display()
        )));
    }
    Ok(f)
}
