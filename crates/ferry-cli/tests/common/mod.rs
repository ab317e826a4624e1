//! A temporary home for one test: config, cache and data folders, and today's date pinned.
//! Dropping it stops any server the test started.

#![allow(dead_code)]

use assert_cmd::Command;
use serde_json::Value;

pub struct Env {
    pub dir: tempfile::TempDir,
}

impl Env {
    pub fn new() -> Env {
        Env {
            dir: tempfile::tempdir().unwrap(),
        }
    }

    pub fn path(&self, p: &str) -> std::path::PathBuf {
        self.dir.path().join(p)
    }

    pub fn config(&self, text: &str) -> &Env {
        std::fs::write(self.path("config.toml"), text).unwrap();
        self
    }

    pub fn ferry(&self) -> Command {
        let mut c = Command::cargo_bin("ferry").unwrap();
        c.env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("FERRY_CONFIG", self.path("config.toml"))
            .env("FERRY_CACHE_DIR", self.path("cache"))
            .env("FERRY_DATA_DIR", self.path("data"))
            .env("FERRY_TODAY", "2026-11-23");
        c
    }

    pub fn json(&self, args: &[&str]) -> Value {
        let out = self.ferry().args(args).arg("--json").output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).unwrap()
    }
}

impl Drop for Env {
    fn drop(&mut self) {
        if let Ok(text) = std::fs::read_to_string(self.path("data/server.json"))
            && let Ok(v) = serde_json::from_str::<Value>(&text)
            && let Some(pid) = v["pid"].as_i64()
        {
            let _ = std::process::Command::new("kill")
                .arg("-9")
                .arg(pid.to_string())
                .status();
        }
    }
}
