//! `ferry` running work on an academic cluster (the real local Slurm) and on an owned
//! machine (through the real local sshd), with the same commands as local work: launch,
//! status, logs, cancel, cost, allocation; refusals that name the cluster or host; and a
//! server killed with SIGKILL while they run.

mod common;
#[path = "../../ferry-backend/tests/support/mod.rs"]
mod support;

use common::*;
use serde_json::Value;
use std::path::Path;
use std::time::Duration;

/// A config with the test cluster (as `slurm:ferry-test`, 4 "H100" per node) and the
/// test sshd as the owned machine `ssh:labbox` (2 RTX 4090). `academic_extra` and
/// `host` vary the bad cases.
fn config(env: &Env, academic_extra: &str, host: &str) {
    let slurm = support::slurm_dir();
    let sshd = support::sshd_dir();
    let root = env.path("remote-jobs");
    env.config(&format!(
        r#"
[hosts.testbox]
address = "ferry-test"
ssh_config = "{ssh_config}"

[hosts.refusing]
address = "ferry-test-refused"
ssh_config = "{ssh_config}"

[hosts.nowhere]
address = "127.0.0.1"
port = 1

[[owned]]
name = "labbox"
gpu = "RTX 4090"
gpu_count = 2
purchase_usd = 6000
host = "{host}"
job_root = "{root}/ssh"

[[academic]]
cluster = "ferry-test"
account = "def-ferry"
gpu_years = 1.0
host = "localhost"
gpu = "H100-SXM"
gpu_request = "gres"
job_root = "{root}/slurm"
env = {{ SLURM_CONF = "{slurm_conf}" }}
{academic_extra}
"#,
        ssh_config = sshd.join("ssh_config").display(),
        root = root.display(),
        slurm_conf = slurm.join("slurm.conf").display(),
    ));
}

const SHORT: &str = "partition = \"short\"\nmax_walltime_hours = 0.1666\ngpus_per_node = 4\n";

fn state(j: &Value) -> &str {
    j["state"].as_str().unwrap()
}

fn logs(env: &Env, id: &str) -> String {
    let out = env.ferry().args(["logs", id]).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn academic_task(env: &Env, name: &str, gpus: u32, run: &str) -> std::path::PathBuf {
    task(
        env,
        name,
        &format!(
            "name: {name}\nresources:\n  accelerators: H100:{gpus}\ncategories: [academic]\nestimated_hours: 0.05\nrun: |\n  {run}\n"
        ),
    )
}

#[test]
fn academic_work_lands_on_slurm_and_counts_against_the_allocation() {
    let env = Env::new();
    config(&env, SHORT, "testbox");

    // The plan: the cluster is chosen, with Slurm's own estimate of the wait.
    let plan = env
        .ferry()
        .args(["launch", "--dry-run"])
        .arg(academic_task(&env, "plan", 2, "true"))
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&plan.stdout);
    assert!(plan.status.success(), "{text}");
    assert!(
        text.contains("Best placement Ferry can run: slurm:ferry-test")
            && text.contains("queue wait about"),
        "{text}"
    );

    let ok = launch_detached(
        &env,
        &academic_task(
            &env,
            "ok",
            2,
            "echo \"gpus=$CUDA_VISIBLE_DEVICES\"; sleep 1",
        ),
    );
    let bad = launch_detached(&env, &academic_task(&env, "bad", 1, "echo failing; exit 3"));
    let slow = launch_detached(
        &env,
        &academic_task(&env, "slow", 1, "echo started; sleep 300"),
    );

    let j = wait_state_for(&env, &ok, 60, terminal);
    assert_eq!(
        (state(&j), j["placement"]["backend"].as_str()),
        ("succeeded", Some("slurm:ferry-test")),
        "{j}"
    );
    assert_eq!(logs(&env, &ok), "gpus=0,1\n");

    let j = wait_state_for(&env, &bad, 60, terminal);
    assert_eq!(
        (state(&j), j["exit_code"].as_i64()),
        ("failed", Some(3)),
        "{j}"
    );
    assert!(j["reason"].as_str().unwrap().contains("exit code 3"), "{j}");

    wait_state_for(&env, &slow, 60, |s| s == "running");
    env.ferry().args(["cancel", &slow]).assert().success();
    let j = wait_state_for(&env, &slow, 60, terminal);
    assert_eq!(state(&j), "cancelled", "{j}");
    assert!(j["reason"].as_str().unwrap().contains("CANCELLED"), "{j}");

    // No cash changes hands, but every job has its (zero) charge in the ledger ...
    let cost = env.json(&["cost", "--by", "backend"]);
    assert_eq!(cost["total_micros"].as_i64(), Some(0), "{cost}");
    assert_eq!(
        env.json(&["cost", "--by", "job"])["groups"]
            .as_array()
            .unwrap()
            .len(),
        3
    );
    // ... and the GPU-hours count against the allocation, in GPU-hours and RGU.
    let alloc = env.json(&["allocation"]);
    let a = &alloc[0];
    assert_eq!(
        (a["cluster"].as_str(), a["jobs"].as_u64()),
        (Some("ferry-test"), Some(3)),
        "{alloc}"
    );
    let gpu_hours = a["gpu_hours"].as_f64().unwrap();
    // "ok" held 2 GPUs for at least its 1 s sleep; the other two 1 GPU each.
    assert!((2.0 / 3600.0..0.1).contains(&gpu_hours), "{alloc}");
    let rgu = a["rgu_years"].as_f64().unwrap();
    assert!(
        (rgu - gpu_hours * 12.2 / 8766.0).abs() < 1e-12,
        "H100 = 12.2 RGU: {alloc}"
    );
    let left = a["left_gpu_years"].as_f64().unwrap();
    assert!((left - (1.0 - gpu_hours / 8766.0)).abs() < 1e-12, "{alloc}");
    env.ferry()
        .arg("allocation")
        .assert()
        .success()
        .stdout(predicates::str::contains("def-ferry"));
}

#[test]
fn refusals_name_the_cluster_and_fail_the_job_with_the_reason() {
    // Over the partition's cap: refused by `ferry launch`, before anything is submitted.
    let env = Env::new();
    config(&env, SHORT, "testbox");
    let t = academic_task(&env, "long", 1, "true");
    let out = env
        .ferry()
        .args(["launch", "--detach", "--max-runtime", "2h"])
        .arg(&t)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        err.contains("slurm:ferry-test") && err.contains("allows at most 0-00:10:00"),
        "{err}"
    );
    assert_eq!(jobs(&env).len(), 0, "nothing was submitted");

    // An account the partition refuses, and a GRES request the cluster cannot satisfy
    // (the config claims 8 GPUs a node; it has 4): Slurm's own check (`sbatch
    // --test-only`) says so at `ferry launch`, which names the cluster, quotes Slurm, and
    // submits nothing. (When a submission is refused later, the job is failed with the
    // same words: tests/slurm.rs in ferry-backend and the SSH cases below.)
    for (extra, gpus, words) in [
        (
            "partition = \"alloc\"\ngpus_per_node = 4\n",
            1,
            "Invalid account",
        ),
        (
            "partition = \"short\"\ngpus_per_node = 8\n",
            8,
            "Requested node configuration is not available",
        ),
    ] {
        let env = Env::new();
        config(&env, extra, "testbox");
        let out = env
            .ferry()
            .args(["launch", "--detach"])
            .arg(academic_task(&env, "x", gpus, "true"))
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success());
        assert!(
            err.contains("slurm:ferry-test: ") && err.contains(words),
            "{err}"
        );
        assert_eq!(jobs(&env).len(), 0, "nothing was submitted");
    }
}

fn owned_task(env: &Env, name: &str, run: &str) -> std::path::PathBuf {
    task(
        env,
        name,
        &format!("name: {name}\nresources:\n  accelerators: RTX4090:1\nrun: |\n  {run}\n"),
    )
}

#[test]
fn owned_work_runs_on_the_ssh_host_and_is_charged() {
    let env = Env::new();
    config(&env, SHORT, "testbox");
    let ok = launch_detached(
        &env,
        &owned_task(&env, "ok", "echo \"gpu=$CUDA_VISIBLE_DEVICES\"; sleep 1"),
    );
    let slow = launch_detached(&env, &owned_task(&env, "slow", "echo up; sleep 300"));
    let j = wait_state_for(&env, &ok, 60, terminal);
    assert_eq!(
        (state(&j), j["placement"]["backend"].as_str()),
        ("succeeded", Some("ssh:labbox")),
        "{j}"
    );
    let gpu = logs(&env, &ok);
    assert!(gpu == "gpu=0\n" || gpu == "gpu=1\n", "{gpu}");
    wait_state_for(&env, &slow, 60, |s| s == "running");
    env.ferry().args(["cancel", &slow]).assert().success();
    assert_eq!(
        state(&wait_state_for(&env, &slow, 60, terminal)),
        "cancelled"
    );
    // The probe: reachable, no NVIDIA driver on this test host, the config's 2 GPUs used.
    let probes = env.json(&["backends"]);
    let ssh = probes
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["id"] == "ssh:labbox")
        .unwrap();
    assert_eq!(
        (ssh["reachable"].as_bool(), ssh["declared_gpus"].as_u64()),
        (Some(true), Some(2)),
        "{probes}"
    );
    assert!(
        ssh["detail"].as_str().unwrap().contains("no nvidia-smi"),
        "{probes}"
    );
    // Owned hardware is never free: both jobs are charged at its amortised price.
    let (sum, total) = ledger_total(&env);
    assert!(sum > 0 && sum == total, "{sum} {total}");
}

#[test]
fn an_unreachable_host_and_a_refused_key_fail_the_job_naming_the_host() {
    for (host, words) in [
        ("nowhere", "unreachable"),
        ("refusing", "the host refused the key"),
    ] {
        let env = Env::new();
        config(&env, SHORT, host);
        let probe = env.ferry().args(["backends"]).output().unwrap();
        assert_eq!(probe.status.code(), Some(1), "an unreachable backend");
        assert!(String::from_utf8_lossy(&probe.stdout).contains(words));
        let id = launch_detached(&env, &owned_task(&env, "x", "true"));
        let j = wait_state_for(&env, &id, 60, terminal);
        let reason = j["reason"].as_str().unwrap();
        assert_eq!(state(&j), "failed", "{j}");
        assert!(
            reason.contains(&format!("ssh:labbox: {host}: {words}")),
            "{reason}"
        );
    }
}

/// The server is killed with SIGKILL while a Slurm job and an SSH job run; the next
/// command's server finds both where they are, records how they ended, runs neither
/// twice, and the ledger has one charge each.
#[test]
fn kill_9_the_server_while_remote_jobs_run() {
    let env = Env::new();
    config(&env, SHORT, "testbox");
    let runs = env.path("runs.log");
    let line = format!("echo $FERRY_JOB_ID >> {}; sleep 6; exit 5", runs.display());
    let on_slurm = launch_detached(&env, &academic_task(&env, "a", 1, &line));
    let on_ssh = launch_detached(&env, &owned_task(&env, "b", &line));
    let started = |s: &str| s == "running" || terminal(s);
    wait_state_for(&env, &on_slurm, 60, started);
    wait_state_for(&env, &on_ssh, 60, started);
    let pid = kill_9_server(&env);
    std::thread::sleep(Duration::from_millis(200));

    for id in [&on_slurm, &on_ssh] {
        let j = wait_state_for(&env, id, 60, terminal);
        assert_eq!(
            (state(&j), j["exit_code"].as_i64()),
            ("failed", Some(5)),
            "{j}"
        );
    }
    let new_pid = serde_json::from_str::<Value>(
        &std::fs::read_to_string(env.path("data/server.json")).unwrap(),
    )
    .unwrap()["pid"]
        .as_i64();
    assert_ne!(new_pid, Some(pid), "a new server took over");
    let log = std::fs::read_to_string(&runs).unwrap();
    for id in [&on_slurm, &on_ssh] {
        assert_eq!(
            log.matches(id.as_str()).count(),
            1,
            "{id} ran more than once"
        );
    }
    assert_eq!(
        env.json(&["cost", "--by", "job"])["groups"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
    assert!(Path::new(&env.path("remote-jobs/slurm")).is_dir());
}
