//! The SSH backend against a real OpenSSH server on localhost (scripts/services/sshd-up.sh),
//! as it would drive an owned GPU machine.

mod support;

use support::ended;

use ferry_backend::ssh::SshBackend;
use ferry_backend::transport::{SshTarget, Transport};
use ferry_backend::{Backend, LaunchSpec, Observed};
use ferry_job::JobId;
use std::time::{Duration, Instant};

/// Connections are shared (ControlMaster), as the server shares them.
fn target(alias: &str) -> Transport {
    static CONTROL: std::sync::OnceLock<tempfile::TempDir> = std::sync::OnceLock::new();
    let control = CONTROL.get_or_init(|| tempfile::tempdir().unwrap());
    Transport::Ssh(Box::new(SshTarget {
        name: "lab-box".into(),
        destination: alias.into(),
        config_file: Some(support::sshd_dir().join("ssh_config")),
        control_dir: Some(control.path().to_path_buf()),
        ..SshTarget::default()
    }))
}

fn backend(root: &std::path::Path) -> SshBackend {
    SshBackend::new(
        "ssh:lab-box".into(),
        target("ferry-test"),
        root.display().to_string(),
    )
}

/// A job given the devices `gpus` of the host.
fn spec(run: &str, gpus: Vec<u32>) -> LaunchSpec {
    let n = gpus.len() as u32;
    support::spec(run, gpus, n)
}

async fn wait_for(b: &SshBackend, job: &JobId, done: impl Fn(&Observed) -> bool) -> Observed {
    support::wait_for(b, job, 60, done).await
}

#[tokio::test]
async fn runs_a_job_with_its_workdir_and_gpus() {
    let root = tempfile::tempdir().unwrap();
    let work = tempfile::tempdir().unwrap();
    std::fs::write(
        work.path().join("train.sh"),
        "echo \"training on $CUDA_VISIBLE_DEVICES\"\n",
    )
    .unwrap();
    let b = backend(root.path());
    let mut s = spec("bash train.sh; exit 5", vec![2, 3]);
    s.workdir = Some(work.path().to_path_buf());
    let h = b.launch(&s).await.unwrap();
    assert_eq!(
        b.launch(&s).await.unwrap(),
        h,
        "a second launch started it again"
    );
    match wait_for(&b, &s.job, ended).await {
        Observed::Exited {
            code,
            cancelled,
            timed_out,
            started_ms,
            finished_ms,
            ..
        } => {
            assert_eq!((code, cancelled, timed_out), (Some(5), false, false));
            assert!(started_ms <= finished_ms);
        }
        o => panic!("{o:?}"),
    }
    let log = b.logs(&s.job, 0).await.unwrap();
    assert_eq!(log.data, "training on 2,3\n");
    assert!(b.logs(&s.job, log.next_offset).await.unwrap().complete);
}

#[tokio::test]
async fn the_job_outlives_the_connection_and_a_restarted_server_finds_it() {
    let root = tempfile::tempdir().unwrap();
    let s = spec("sleep 8; echo done", vec![]);
    {
        let b = backend(root.path());
        b.launch(&s).await.unwrap();
        wait_for(&b, &s.job, |o| matches!(o, Observed::Running { .. })).await;
    } // this backend (the "server") is gone; its ssh connections are closed
    let b = backend(root.path());
    let owned = b.list_owned().await.unwrap();
    assert_eq!(owned.len(), 1);
    assert_eq!(owned[0].0, s.job);
    assert!(matches!(owned[0].1, Observed::Running { .. }), "{owned:?}");
    match wait_for(&b, &s.job, ended).await {
        Observed::Exited { code, .. } => assert_eq!(code, Some(0)),
        o => panic!("{o:?}"),
    }
    assert_eq!(b.logs(&s.job, 0).await.unwrap().data, "done\n");
}

#[tokio::test]
async fn cancels_and_times_out() {
    let root = tempfile::tempdir().unwrap();
    let b = backend(root.path());
    // The job ignores SIGTERM: the KILL after the grace period ends it.
    let stubborn = spec("trap '' TERM; echo up; sleep 300", vec![]);
    let mut late = spec("sleep 300", vec![]);
    late.max_runtime = Some(Duration::from_secs(1));
    b.launch(&stubborn).await.unwrap();
    b.launch(&late).await.unwrap();
    wait_for(&b, &stubborn.job, |o| matches!(o, Observed::Running { .. })).await;
    b.cancel(&stubborn.job).await.unwrap();
    let cancelled_at = Instant::now();
    match wait_for(&b, &stubborn.job, ended).await {
        Observed::Exited { cancelled, .. } => assert!(cancelled),
        o => panic!("{o:?}"),
    }
    // Recorded as ended only once the process that ignored SIGTERM was killed.
    assert!(cancelled_at.elapsed() >= Duration::from_secs(9));
    let pgid =
        std::fs::read_to_string(root.path().join(stubborn.job.as_str()).join("job_pid")).unwrap();
    let alive = std::process::Command::new("kill")
        .args(["-0", "--", &format!("-{}", pgid.trim())])
        .stderr(std::process::Stdio::null())
        .status()
        .unwrap();
    assert!(!alive.success(), "the job's processes outlived its record");
    match wait_for(&b, &late.job, ended).await {
        Observed::Exited {
            timed_out,
            cancelled,
            signal,
            ..
        } => assert_eq!((timed_out, cancelled, signal), (true, false, Some(15))),
        o => panic!("{o:?}"),
    }
}

#[tokio::test]
async fn a_vanished_supervisor_is_reported_unknown() {
    let root = tempfile::tempdir().unwrap();
    let b = backend(root.path());
    let s = spec("sleep 300", vec![]);
    b.launch(&s).await.unwrap();
    wait_for(&b, &s.job, |o| matches!(o, Observed::Running { .. })).await;
    // What a reboot does: the supervisor and the job are gone without a record.
    let dir = root.path().join(s.job.as_str());
    let sup = std::fs::read_to_string(dir.join("supervisor_pid")).unwrap();
    let job = std::fs::read_to_string(dir.join("job_pid")).unwrap();
    for pid in [sup.trim(), job.trim()] {
        std::process::Command::new("kill")
            .args(["-KILL", "--", &format!("-{pid}")])
            .status()
            .unwrap();
    }
    assert_eq!(
        wait_for(&b, &s.job, |o| !matches!(o, Observed::Running { .. })).await,
        Observed::Unknown
    );
}

#[tokio::test]
async fn probes_gpus_and_says_when_there_are_none() {
    let root = tempfile::tempdir().unwrap();
    let b = backend(root.path());
    let cap = b.capacity().await.unwrap();
    // This test machine has no NVIDIA driver; a GPU host lists its devices here.
    let has_driver = std::process::Command::new("sh")
        .args(["-c", "command -v nvidia-smi"])
        .status()
        .unwrap()
        .success();
    if has_driver {
        assert!(!cap.gpus.is_empty(), "{cap:?}");
    } else {
        assert!(cap.gpus.is_empty());
        assert_eq!(cap.note, "lab-box: no nvidia-smi (no NVIDIA driver)");
    }
    assert!(cap.cpus >= 1 && cap.memory_gb > 0.0, "{cap:?}");
}

#[tokio::test]
async fn a_refused_key_and_an_unreachable_host_are_clear_errors() {
    let root = tempfile::tempdir().unwrap();
    let refused = SshBackend::new(
        "ssh:lab-box".into(),
        target("ferry-test-refused"),
        root.path().display().to_string(),
    );
    let e = refused
        .launch(&spec("true", vec![]))
        .await
        .unwrap_err()
        .to_string();
    assert!(
        e.starts_with("ssh:lab-box: lab-box: the host refused the key"),
        "{e}"
    );

    let nowhere = SshBackend::new(
        "ssh:lab-box".into(),
        Transport::Ssh(Box::new(SshTarget {
            name: "lab-box".into(),
            destination: "127.0.0.1".into(),
            port: Some(1),
            config_file: Some("/dev/null".into()),
            ..SshTarget::default()
        })),
        root.path().display().to_string(),
    );
    let e = nowhere.capacity().await.unwrap_err().to_string();
    assert!(e.starts_with("ssh:lab-box: lab-box: unreachable"), "{e}");
}
