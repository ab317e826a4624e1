//! What the integration tests share: the real services they use, started by `scripts/test.sh` through
//! `scripts/services/*-up.sh`. A test run outside that script must start them the same
//! way and export what their `env.sh` files say; the helpers here say how when they
//! are missing instead of skipping anything.

#![allow(dead_code)]

use std::path::PathBuf;

fn dir(var: &str, script: &str) -> PathBuf {
    match std::env::var_os(var) {
        Some(d) if PathBuf::from(&d).is_dir() => PathBuf::from(d),
        _ => panic!(
            "{var} is not set to a running service's folder. Run the tests with `bash scripts/test.sh`, or start it: \
             `bash scripts/services/{script} /tmp/ferry-svc && export {var}=/tmp/ferry-svc && source /tmp/ferry-svc/env.sh`"
        ),
    }
}

/// The local Slurm's folder (slurm.conf, logs). `SLURM_CONF` must point into it, so
/// that the Slurm commands the tests and Ferry run reach that cluster.
pub fn slurm_dir() -> PathBuf {
    let d = dir("FERRY_TEST_SLURM_DIR", "slurm-up.sh");
    let conf = d.join("slurm.conf");
    assert_eq!(
        std::env::var_os("SLURM_CONF").map(PathBuf::from),
        Some(conf.clone()),
        "SLURM_CONF must be {} (source {}/env.sh)",
        conf.display(),
        d.display()
    );
    d
}

/// The local sshd's folder: `ssh_config` with the host aliases `ferry-test` (an
/// authorised key) and `ferry-test-refused` (a key the server refuses).
pub fn sshd_dir() -> PathBuf {
    dir("FERRY_TEST_SSHD_DIR", "sshd-up.sh")
}

static SEQ: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);

/// A job id unique across the test processes that share a cluster or host.
pub fn job_id() -> ferry_job::JobId {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64;
    let seq = SEQ.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    ferry_job::JobId::new(now, seq + std::process::id() % 1000 * 1000)
}

pub fn ended(o: &ferry_backend::Observed) -> bool {
    matches!(
        o,
        ferry_backend::Observed::Exited { .. } | ferry_backend::Observed::Unknown
    )
}

/// A job that runs `run`, with the devices `gpus` handed out by Ferry (SSH hosts) and
/// `gpu_count` GPUs to ask a cluster for.
pub fn spec(run: &str, gpus: Vec<u32>, gpu_count: u32) -> ferry_backend::LaunchSpec {
    ferry_backend::LaunchSpec {
        job: job_id(),
        name: "test".into(),
        workdir: None,
        envs: Default::default(),
        setup: None,
        run: run.into(),
        gpus,
        gpu_count,
        max_runtime: None,
        guard: None,
    }
}

/// Asks the backend until `done` says yes, for at most `secs` seconds.
pub async fn wait_for(
    b: &dyn ferry_backend::Backend,
    job: &ferry_job::JobId,
    secs: u64,
    done: impl Fn(&ferry_backend::Observed) -> bool,
) -> ferry_backend::Observed {
    let start = std::time::Instant::now();
    loop {
        let o = b.status(job).await.unwrap();
        if done(&o) {
            return o;
        }
        assert!(
            start.elapsed() < std::time::Duration::from_secs(secs),
            "{job}: still {o:?}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}
