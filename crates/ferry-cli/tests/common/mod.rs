//! A temporary home for one test: config, cache and data folders, and today's date pinned.
//! Dropping it stops any server the test started.

#![allow(dead_code)]

use assert_cmd::Command;
use serde_json::Value;
use std::time::{Duration, Instant};

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
            .env("FERRY_TODAY", "2026-11-23")
            // The AWS SDK's chain reads these files (HOME is unset): the test's own, so
            // that a developer's ~/.aws is never reached.
            .env("AWS_SHARED_CREDENTIALS_FILE", self.path("aws/credentials"))
            .env("AWS_CONFIG_FILE", self.path("aws/config"))
            .env("AWS_EC2_METADATA_DISABLED", "true");
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

pub fn task(env: &Env, name: &str, yaml: &str) -> std::path::PathBuf {
    let p = env.path(&format!("{name}.yaml"));
    std::fs::write(&p, yaml).unwrap();
    p
}

pub fn gpus(env: &Env, n: u32) -> &Env {
    env.config(&format!("[local]\ndeclared_gpus = {n}\n"))
}

pub fn launch_detached(env: &Env, task: &std::path::Path) -> String {
    let out = env
        .ferry()
        .args(["launch", "--detach"])
        .arg(task)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

pub fn jobs(env: &Env) -> Vec<Value> {
    env.json(&["status"]).as_array().unwrap().clone()
}

pub fn job(env: &Env, id: &str) -> Value {
    jobs(env)
        .into_iter()
        .find(|j| j["id"] == id)
        .unwrap_or_else(|| panic!("{id} not tracked"))
}

pub fn wait_state(env: &Env, id: &str, done: impl Fn(&str) -> bool) -> Value {
    wait_state_for(env, id, 30, done)
}

pub fn wait_state_for(env: &Env, id: &str, secs: u64, done: impl Fn(&str) -> bool) -> Value {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        let j = job(env, id);
        if done(j["state"].as_str().unwrap()) {
            return j;
        }
        assert!(Instant::now() < deadline, "{id} stuck: {j}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

pub fn terminal(s: &str) -> bool {
    matches!(
        s,
        "succeeded" | "failed" | "timed-out" | "cancelled" | "lost"
    )
}

pub fn ledger_total(env: &Env) -> (i64, i64) {
    let by_job = env.json(&["cost", "--by", "job"]);
    let sum: i64 = by_job["groups"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g["amount_micros"].as_i64().unwrap())
        .sum();
    (sum, by_job["total_micros"].as_i64().unwrap())
}

/// Kills the running server with SIGKILL; returns its pid.
pub fn kill_9_server(env: &Env) -> i64 {
    let info: Value =
        serde_json::from_str(&std::fs::read_to_string(env.path("data/server.json")).unwrap())
            .unwrap();
    let pid = info["pid"].as_i64().unwrap();
    assert!(
        std::process::Command::new("kill")
            .args(["-9", &pid.to_string()])
            .status()
            .unwrap()
            .success()
    );
    pid
}
