//! The local backend with real processes: bash jobs under the real supervisor binary.

use ferry_backend::gpu::declared;
use ferry_backend::local::LocalBackend;
use ferry_backend::{Backend, LaunchSpec, Observed};
use ferry_job::JobId;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

static SEQ: AtomicU32 = AtomicU32::new(0);

fn backend(root: &std::path::Path) -> LocalBackend {
    LocalBackend::new(
        root.to_path_buf(),
        declared(4, "test GPU", 24.0),
        vec![env!("CARGO_BIN_EXE_ferry-supervise").into()],
    )
}

fn spec(run: &str) -> LaunchSpec {
    LaunchSpec {
        job: JobId::new(1_763_900_000_000, SEQ.fetch_add(1, Ordering::SeqCst)),
        name: "test".into(),
        workdir: None,
        envs: BTreeMap::new(),
        setup: None,
        run: run.into(),
        gpus: vec![],
        gpu_count: 0,
        max_runtime: None,
        guard: None,
    }
}

async fn wait_end(b: &LocalBackend, job: &JobId) -> Observed {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let s = b.status(job).await.unwrap();
        if matches!(
            s,
            Observed::Exited { .. } | Observed::Unknown | Observed::Absent
        ) || Instant::now() > deadline
        {
            return s;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn output(b: &LocalBackend, job: &JobId) -> String {
    b.logs(job, 0).await.unwrap().data
}

fn code(o: &Observed) -> Option<i32> {
    match o {
        Observed::Exited { code, .. } => *code,
        other => panic!("not exited: {other:?}"),
    }
}

#[tokio::test]
async fn a_cpu_job_runs_with_its_environment_and_workdir() {
    let root = tempfile::tempdir().unwrap();
    let work = tempfile::tempdir().unwrap();
    std::fs::write(work.path().join("data.txt"), "payload").unwrap();
    let b = backend(root.path());
    let mut s = spec(
        "echo job=$FERRY_JOB_ID gpus=[$CUDA_VISIBLE_DEVICES] greeting=$GREETING; cat data.txt",
    );
    s.workdir = Some(work.path().to_path_buf());
    s.envs.insert("GREETING".into(), "hello".into());
    b.launch(&s).await.unwrap();
    let end = wait_end(&b, &s.job).await;
    assert_eq!(code(&end), Some(0));
    let out = output(&b, &s.job).await;
    assert!(
        out.contains(&format!("job={} gpus=[] greeting=hello", s.job)),
        "{out}"
    );
    assert!(out.contains("payload"), "workdir copied: {out}");
    let chunk = b.logs(&s.job, 0).await.unwrap();
    assert!(chunk.complete && chunk.next_offset == out.len() as u64);
}

#[tokio::test]
async fn gpus_are_handed_out_through_cuda_visible_devices() {
    let root = tempfile::tempdir().unwrap();
    let b = backend(root.path());
    let mut s = spec("echo [$CUDA_VISIBLE_DEVICES]");
    s.gpus = vec![1, 3];
    b.launch(&s).await.unwrap();
    wait_end(&b, &s.job).await;
    assert_eq!(output(&b, &s.job).await.trim(), "[1,3]");
}

#[tokio::test]
async fn exit_codes_and_setup_failures_are_recorded() {
    let root = tempfile::tempdir().unwrap();
    let b = backend(root.path());
    let s = spec("echo failing >&2; exit 3");
    b.launch(&s).await.unwrap();
    assert_eq!(code(&wait_end(&b, &s.job).await), Some(3));
    assert!(
        output(&b, &s.job).await.contains("failing"),
        "stderr is captured"
    );

    let mut s = spec("echo should-not-run");
    s.setup = Some("echo setting-up; false; echo after".into());
    b.launch(&s).await.unwrap();
    assert_eq!(code(&wait_end(&b, &s.job).await), Some(1));
    let out = output(&b, &s.job).await;
    assert!(
        out.contains("setting-up") && !out.contains("after") && !out.contains("should-not-run"),
        "{out}"
    );
}

#[tokio::test]
async fn cancel_kills_the_whole_process_group() {
    let root = tempfile::tempdir().unwrap();
    let b = backend(root.path());
    let s = spec("sleep 300 & echo child=$!; wait");
    b.launch(&s).await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    let child_pid = loop {
        let out = output(&b, &s.job).await;
        if let Some(p) = out.lines().find_map(|l| l.strip_prefix("child=")) {
            break p.trim().parse::<i32>().unwrap();
        }
        assert!(Instant::now() < deadline, "job never started: {out}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert!(matches!(
        b.status(&s.job).await.unwrap(),
        Observed::Running { .. }
    ));
    b.cancel(&s.job).await.unwrap();
    let end = wait_end(&b, &s.job).await;
    assert!(
        matches!(
            end,
            Observed::Exited {
                cancelled: true,
                ..
            }
        ),
        "{end:?}"
    );
    // The grandchild is gone too (give the kernel a moment to reap it).
    let gone = (0..100).any(|_| {
        std::thread::sleep(Duration::from_millis(20));
        std::fs::read_to_string(format!("/proc/{child_pid}/stat"))
            .map_or(true, |s| s.contains(") Z"))
    });
    assert!(gone, "sleep {child_pid} survived the cancel");
    b.cancel(&s.job).await.unwrap(); // cancelling an ended job is a no-op
}

#[tokio::test]
async fn a_maximum_runtime_ends_the_job() {
    let root = tempfile::tempdir().unwrap();
    let b = backend(root.path());
    let mut s = spec("sleep 30");
    s.max_runtime = Some(Duration::from_millis(300));
    let t = Instant::now();
    b.launch(&s).await.unwrap();
    let end = wait_end(&b, &s.job).await;
    assert!(
        matches!(
            end,
            Observed::Exited {
                timed_out: true,
                signal: Some(15),
                ..
            }
        ),
        "{end:?}"
    );
    assert!(t.elapsed() < Duration::from_secs(10));
}

#[tokio::test]
async fn launch_is_idempotent_and_the_supervisor_has_its_own_session() {
    let root = tempfile::tempdir().unwrap();
    let b = backend(root.path());
    let counter = root.path().join("count");
    let s = spec(&format!("echo run >> {}; sleep 0.3", counter.display()));
    let h1 = b.launch(&s).await.unwrap();
    let h2 = b.launch(&s).await.unwrap();
    assert_eq!(h1, h2);
    wait_end(&b, &s.job).await;
    assert_eq!(
        std::fs::read_to_string(&counter).unwrap(),
        "run\n",
        "ran exactly once"
    );
    let owned = b.list_owned().await.unwrap();
    assert_eq!(owned.len(), 1);
    assert_eq!(owned[0].0, s.job);
}

#[tokio::test]
async fn the_supervisor_is_detached_from_the_launcher() {
    let root = tempfile::tempdir().unwrap();
    let b = backend(root.path());
    let s = spec("sleep 1");
    b.launch(&s).await.unwrap();
    let pidfile = root
        .path()
        .join("jobs")
        .join(s.job.as_str())
        .join("supervisor.pid");
    let deadline = Instant::now() + Duration::from_secs(10);
    while !pidfile.exists() {
        assert!(Instant::now() < deadline);
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let rec: serde_json::Value = serde_json::from_slice(&std::fs::read(&pidfile).unwrap()).unwrap();
    let pid = rec["pid"].as_i64().unwrap() as i32;
    // SAFETY: getsid only reads the session id of a process.
    let (theirs, ours) = unsafe { (libc::getsid(pid), libc::getsid(0)) };
    assert_eq!(theirs, pid, "the supervisor leads its own session");
    assert_ne!(theirs, ours);
    wait_end(&b, &s.job).await;
}

#[tokio::test]
async fn a_job_never_launched_is_absent() {
    let root = tempfile::tempdir().unwrap();
    let b = backend(root.path());
    assert_eq!(b.status(&JobId::new(1, 1)).await.unwrap(), Observed::Absent);
}

#[tokio::test]
async fn a_vanished_supervisor_is_reported_unknown() {
    let root = tempfile::tempdir().unwrap();
    let b = backend(root.path());
    let job = JobId::new(1_763_900_000_000, 9999);
    let dir = root.path().join("jobs").join(job.as_str());
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("spec.json"),
        serde_json::to_vec(&spec("true")).unwrap(),
    )
    .unwrap();
    // A pid that exists but with another start time: a recycled pid, not our supervisor.
    std::fs::write(
        dir.join("supervisor.pid"),
        format!("{{\"pid\":{},\"start_ticks\":1}}", std::process::id()),
    )
    .unwrap();
    assert_eq!(b.status(&job).await.unwrap(), Observed::Unknown);
}
