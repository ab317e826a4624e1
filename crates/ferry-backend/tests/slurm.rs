//! The Slurm backend against a real Slurm (scripts/services/slurm-up.sh: one node, four
//! fake GPUs as GRES, partitions short (10 min cap), long and alloc), driven both on this
//! host and through a real sshd, as it would drive a cluster's login node.

mod support;

use support::ended;

use ferry_backend::slurm::backend::{Site, SlurmBackend};
use ferry_backend::slurm::script::GpuFlag;
use ferry_backend::transport::{SshTarget, Transport};
use ferry_backend::{Backend, LaunchSpec, Observed};
use ferry_job::JobId;
use std::time::Duration;

fn site(transport: Transport, root: &std::path::Path) -> Site {
    let dir = support::slurm_dir();
    Site {
        id: "slurm:ferry-test".into(),
        transport,
        root: root.display().to_string(),
        account: None,
        partition: Some("short".into()),
        max_walltime: Some(Duration::from_secs(600)),
        gpu_flag: GpuFlag::Gres,
        gpu_type: None,
        cpus_per_task: None,
        mem_gb: None,
        default_time: Duration::from_secs(300),
        env: [(
            "SLURM_CONF".to_string(),
            dir.join("slurm.conf").display().to_string(),
        )]
        .into(),
    }
}

/// A job asking the cluster for `gpus` GPUs.
fn spec(run: &str, gpus: u32) -> LaunchSpec {
    support::spec(run, vec![], gpus)
}

async fn wait_for(b: &SlurmBackend, job: &JobId, done: impl Fn(&Observed) -> bool) -> Observed {
    support::wait_for(b, job, 150, done).await
}

/// Submit, run, complete and fail, logs, and relaunching an already submitted job.
async fn runs_jobs(b: &SlurmBackend) {
    let mut ok = spec("echo \"gpus=$CUDA_VISIBLE_DEVICES job=$FERRY_JOB_ID\"", 2);
    ok.envs.insert("GREETING".into(), "hi".into());
    ok.setup = Some("echo \"setup $GREETING\"".into());
    let bad = spec("echo failing >&2; exit 3", 0);
    let h = b.launch(&ok).await.unwrap();
    assert_eq!(
        b.launch(&ok).await.unwrap(),
        h,
        "a second launch resubmitted"
    );
    b.launch(&bad).await.unwrap();

    match wait_for(b, &ok.job, ended).await {
        Observed::Exited {
            code,
            cancelled,
            timed_out,
            started_ms,
            finished_ms,
            ..
        } => {
            assert_eq!((code, cancelled, timed_out), (Some(0), false, false));
            assert!(started_ms <= finished_ms);
        }
        o => panic!("{o:?}"),
    }
    let log = b.logs(&ok.job, 0).await.unwrap();
    assert_eq!(
        log.data,
        format!("setup hi\ngpus=0,1 job={}\n", ok.job),
        "the job saw the GPUs Slurm granted"
    );
    assert!(b.logs(&ok.job, log.next_offset).await.unwrap().complete);

    match wait_for(b, &bad.job, ended).await {
        Observed::Exited { code, reason, .. } => {
            assert_eq!(code, Some(3));
            assert!(reason.unwrap().contains("exit code 3"));
        }
        o => panic!("{o:?}"),
    }
    assert_eq!(b.logs(&bad.job, 0).await.unwrap().data, "failing\n");
    let owned = b.list_owned().await.unwrap();
    assert!(owned.iter().any(|(j, _)| *j == ok.job) && owned.iter().any(|(j, _)| *j == bad.job));
}

#[tokio::test]
async fn runs_jobs_on_this_host() {
    let root = tempfile::tempdir().unwrap();
    runs_jobs(&SlurmBackend::new(site(Transport::Local, root.path()))).await;
}

#[tokio::test]
async fn runs_jobs_through_a_login_node_over_ssh() {
    let sshd = support::sshd_dir();
    let root = tempfile::tempdir().unwrap();
    let t = Transport::Ssh(Box::new(SshTarget {
        name: "login-node".into(),
        destination: "ferry-test".into(),
        config_file: Some(sshd.join("ssh_config")),
        ..SshTarget::default()
    }));
    runs_jobs(&SlurmBackend::new(site(t, root.path()))).await;
}

#[tokio::test]
async fn cancels_a_running_job() {
    let root = tempfile::tempdir().unwrap();
    let b = SlurmBackend::new(site(Transport::Local, root.path()));
    let s = spec("echo started; sleep 300", 1);
    b.launch(&s).await.unwrap();
    wait_for(&b, &s.job, |o| matches!(o, Observed::Running { .. })).await;
    b.cancel(&s.job).await.unwrap();
    match wait_for(&b, &s.job, ended).await {
        Observed::Exited {
            cancelled, reason, ..
        } => {
            assert!(cancelled);
            assert!(reason.unwrap().contains("CANCELLED"));
        }
        o => panic!("{o:?}"),
    }
    b.cancel(&s.job).await.unwrap(); // again: a no-op
}

#[tokio::test]
async fn a_job_over_its_time_limit_times_out() {
    let root = tempfile::tempdir().unwrap();
    let b = SlurmBackend::new(site(Transport::Local, root.path()));
    let mut s = spec("sleep 600", 0);
    // Slurm counts wall time in minutes: the shortest limit there is.
    s.max_runtime = Some(Duration::from_secs(60));
    b.launch(&s).await.unwrap();
    match wait_for(&b, &s.job, ended).await {
        Observed::Exited {
            timed_out, reason, ..
        } => {
            assert!(timed_out, "{reason:?}");
            assert!(reason.unwrap().contains("time limit"));
        }
        o => panic!("{o:?}"),
    }
}

#[tokio::test]
async fn refusals_name_the_cluster_and_the_cause() {
    let root = tempfile::tempdir().unwrap();
    let mut st = site(Transport::Local, root.path());

    // Over the partition's cap: refused before anything reaches Slurm.
    let b = SlurmBackend::new(st.clone());
    let mut long = spec("true", 0);
    long.max_runtime = Some(Duration::from_secs(3600));
    let e = b.launch(&long).await.unwrap_err().to_string();
    assert!(
        e.starts_with("slurm:ferry-test: job ")
            && e.contains("partition short allows at most 0-00:10:00"),
        "{e}"
    );
    assert_eq!(b.status(&long.job).await.unwrap(), Observed::Absent);

    // More GPUs than any node has.
    let e = b.launch(&spec("true", 5)).await.unwrap_err().to_string();
    assert!(
        e.contains("sbatch on localhost refused the job")
            && e.contains("Requested node configuration is not available"),
        "{e}"
    );

    // An account the partition does not accept.
    st.partition = Some("alloc".into());
    st.account = Some("def-nobody".into());
    let e = SlurmBackend::new(st.clone())
        .launch(&spec("true", 0))
        .await
        .unwrap_err()
        .to_string();
    assert!(e.contains("Invalid account"), "{e}");

    // A partition the cluster does not have.
    st.partition = Some("nope".into());
    st.account = None;
    st.max_walltime = None;
    let e = SlurmBackend::new(st)
        .launch(&spec("true", 0))
        .await
        .unwrap_err()
        .to_string();
    assert!(e.contains("invalid partition"), "{e}");
}

#[tokio::test]
async fn estimates_the_queue_wait_and_waits_in_the_queue() {
    let root = tempfile::tempdir().unwrap();
    let b = SlurmBackend::new(site(Transport::Local, root.path()));
    // Hold every GPU of the cluster for up to 10 minutes.
    let mut blocker = spec("sleep 600", 4);
    blocker.max_runtime = Some(Duration::from_secs(600));
    b.launch(&blocker).await.unwrap();
    wait_for(&b, &blocker.job, |o| matches!(o, Observed::Running { .. })).await;

    let gpu_job = spec("true", 4);
    let wait = b.estimate_wait(&gpu_job).await.unwrap();
    assert!(
        wait >= Duration::from_secs(60),
        "a 4-GPU job should wait for the blocker, estimated {wait:?}"
    );
    b.launch(&gpu_job).await.unwrap();
    assert_eq!(b.status(&gpu_job.job).await.unwrap(), Observed::Pending);

    // Cancelled while it waits: it never started, so it ran for no time at all.
    b.cancel(&gpu_job.job).await.unwrap();
    match wait_for(&b, &gpu_job.job, ended).await {
        Observed::Exited {
            cancelled,
            started_ms,
            finished_ms,
            ..
        } => assert!(cancelled && started_ms == finished_ms),
        o => panic!("{o:?}"),
    }
    b.cancel(&blocker.job).await.unwrap();
    wait_for(&b, &blocker.job, ended).await;
}

#[tokio::test]
async fn a_job_the_controller_has_forgotten_is_read_from_accounting() {
    let root = tempfile::tempdir().unwrap();
    let b = SlurmBackend::new(site(Transport::Local, root.path()));
    let s = spec("sleep 300", 0);
    b.launch(&s).await.unwrap();
    wait_for(&b, &s.job, |o| matches!(o, Observed::Running { .. })).await;
    b.cancel(&s.job).await.unwrap();
    wait_for(&b, &s.job, ended).await;

    // A cancelled job leaves no exit record of its own. Once slurmctld has dropped it
    // (MinJobAge), `scontrol` no longer knows the id: here an `scontrol` first on the PATH
    // answers as it then does, and the real `sacct` must tell how the job ended.
    let bin = root.path().join("forgetful-bin");
    std::fs::create_dir(&bin).unwrap();
    let fake = bin.join("scontrol");
    std::fs::write(
        &fake,
        "#!/bin/sh\necho 'slurm_load_jobs error: Invalid job id specified' >&2\nexit 1\n",
    )
    .unwrap();
    std::process::Command::new("chmod")
        .arg("+x")
        .arg(&fake)
        .status()
        .unwrap();
    let mut st = site(Transport::Local, root.path());
    st.env.insert(
        "PATH".into(),
        format!("{}:{}", bin.display(), std::env::var("PATH").unwrap()),
    );
    match SlurmBackend::new(st).status(&s.job).await.unwrap() {
        Observed::Exited {
            cancelled, reason, ..
        } => {
            assert!(cancelled, "{reason:?}");
            assert!(reason.unwrap().contains("CANCELLED"));
        }
        o => panic!("{o:?}"),
    }
}
