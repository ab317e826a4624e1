//! Ferry on a real Slurm (the local single-node one of `scripts/services/slurm-up.sh`),
//! against plain `sbatch`. Needs `SLURM_CONF` in the environment.
//!
//! 1. Submit-to-running latency, for the same job (`sleep 2`, no GPUs):
//!    - plain: from just before spawning `sbatch --parsable --wrap 'sleep 2' -o /dev/null`
//!      until a poll of `squeue -h -j ID -o %T` (every 20 ms) says RUNNING;
//!    - Ferry: from `Scheduler::submit` until the store records the job as Running, with
//!      the scheduler ticking every 20 ms and asking Slurm about a job at most every 20 ms
//!      (`set_remote_poll`; the default is 1 s).
//!
//!    The two are interleaved, one warm-up of each is left out, and every job is left to
//!    end (and the queue to empty) before the next, so both see an idle cluster. Printed:
//!    median, p90, min and max of each, and the ratio of the medians (Ferry / sbatch).
//! 2. Submission throughput, N jobs of `true` (no GPUs):
//!    - plain: a loop of `sbatch --parsable --wrap true -o /dev/null`, one after another,
//!      until every id has come back;
//!    - Ferry: `submit` all N (store writes only), then `tick` until none is Queued any more
//!      (each has been handed to Slurm by `sbatch`); the time of the `submit` calls alone is
//!      printed too. Ferry's jobs are then followed to their end as a check.
//!
//!    Ferry runs first: before each `sbatch` it looks for the job among the user's jobs
//!    that slurmctld still remembers (ended ones too, for `MinJobAge`), so it would pay for
//!    the plain loop's 200 jobs otherwise. How many are remembered is printed before each.
//!    Between phases, leftovers are cancelled and the queue is left to drain.
//!
//! Nothing is written into the repository: plain jobs write to /dev/null from a temporary
//! folder, and Ferry's job folders are under a temporary root.

use ferry_backend::gpu::declared;
use ferry_backend::local::LocalBackend;
use ferry_backend::slurm::backend::{Site, SlurmBackend};
use ferry_backend::slurm::script::GpuFlag;
use ferry_backend::transport::Transport;
use ferry_job::{JobId, JobState, Micros};
use ferry_scheduler::{Clock, JobPayload, Scheduler, SystemClock};
use ferry_store::{JobFilter, NewJob, Placement, SqliteStore};
use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

const LATENCY_RUNS: usize = 20;
const THROUGHPUT_JOBS: usize = 200;
const POLL: Duration = Duration::from_millis(20);
const SITE: &str = "slurm:bench";

/// Median, p90, min and max of `ms`, printed as one line; the median is returned.
fn summary(name: &str, mut ms: Vec<f64>) -> f64 {
    ms.sort_by(f64::total_cmp);
    let median = ms[ms.len() / 2];
    println!(
        "  {name}: median {median:.1} ms, p90 {:.1} ms, min {:.1} ms, max {:.1} ms (n = {})",
        ms[ms.len() * 9 / 10],
        ms[0],
        ms[ms.len() - 1],
        ms.len()
    );
    median
}

/// Runs a Slurm command (SLURM_CONF comes from this process's environment) from `dir`,
/// and returns its stdout; a failure ends the bench with its stderr.
fn slurm(dir: &Path, program: &str, args: &[&str]) -> String {
    let out = Command::new(program)
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {program}: {e}"));
    if !out.status.success() {
        panic!(
            "{program} {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

fn sbatch(dir: &Path, run: &str) -> String {
    let out = slurm(
        dir,
        "sbatch",
        &["--parsable", "--wrap", run, "-o", "/dev/null"],
    );
    // `--parsable` prints `id` or `id;cluster`.
    out.split(';').next().unwrap_or("").to_string()
}

/// Slurm's state of a job (`RUNNING`, `PENDING`, ...), empty once it has left the queue.
fn squeue_state(dir: &Path, id: &str) -> String {
    slurm(dir, "squeue", &["-h", "-j", id, "-o", "%T"])
}

/// Cancels whichever of `ids` are still queued or running.
fn scancel(dir: &Path, ids: &[String]) {
    for chunk in ids.chunks(100) {
        let mut args = vec!["-Q"];
        args.extend(chunk.iter().map(String::as_str));
        // Already-ended ids are not an error worth stopping for.
        let _ = Command::new("scancel")
            .args(&args)
            .current_dir(dir)
            .output();
    }
}

/// Waits until this user has nothing in the queue, at most `limit`; says so if it gave up.
fn wait_idle(dir: &Path, user: &str, limit: Duration) -> Duration {
    let t = Instant::now();
    loop {
        let left = slurm(dir, "squeue", &["-h", "-u", user, "-o", "%i"]);
        if left.is_empty() {
            return t.elapsed();
        }
        if t.elapsed() > limit {
            println!(
                "  (warning: the queue still holds {} job(s) of {user} after {:.0} s; going on)",
                left.lines().count(),
                limit.as_secs_f64()
            );
            return t.elapsed();
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// How many of this user's jobs slurmctld still lists, ended ones included.
fn remembered(dir: &Path, user: &str) -> usize {
    slurm(dir, "squeue", &["-h", "-t", "all", "-u", user, "-o", "%i"])
        .lines()
        .count()
}

fn new_job(s: &Scheduler, run: &str) -> NewJob {
    NewJob {
        id: s.new_id(),
        name: "bench".into(),
        task: JobPayload {
            gpus: 0,
            gpu: None,
            workdir: None,
            envs: Default::default(),
            setup: None,
            run: run.into(),
            estimated_hours: None,
            plan: vec![],
            max_restarts: ferry_scheduler::DEFAULT_MAX_RESTARTS,
            retry_until_up_s: None,
            disk_gb: None,
            ..JobPayload::default()
        }
        .to_value(),
        placement: Placement {
            backend: SITE.into(),
            provider: "academic".into(),
            offer: "bench".into(),
            price_per_hour: Micros(0),
        },
        submitted_at_ms: SystemClock.now_ms(),
        max_runtime_s: Some(300),
    }
}

async fn state(s: &Scheduler, id: &JobId) -> (JobState, Option<String>) {
    let rec = s.store().get(id).await.unwrap().expect("the job is stored");
    (rec.state, rec.reason)
}

/// The Slurm ids Ferry wrote down for these jobs (in each job's folder under `root`).
fn slurm_ids(root: &Path, jobs: &[JobId]) -> Vec<String> {
    jobs.iter()
        .filter_map(|j| std::fs::read_to_string(root.join(j.to_string()).join("slurm_id")).ok())
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .collect()
}

/// One Ferry run: (submit-to-running, of which the tick that ran `sbatch`) in ms.
async fn ferry_latency(s: &Scheduler) -> (f64, f64) {
    let job = new_job(s, "sleep 2");
    let id = job.id.clone();
    let t = Instant::now();
    s.submit(job).await.unwrap();
    let mut handed = None;
    let running = loop {
        s.tick().await.unwrap();
        let (st, reason) = state(s, &id).await;
        if handed.is_none() && st != JobState::Queued {
            handed = Some(t.elapsed());
        }
        match st {
            JobState::Running => break t.elapsed(),
            st if st.is_terminal() => {
                panic!("Ferry's job ended as {st} before running: {reason:?}")
            }
            _ if t.elapsed() > Duration::from_secs(120) => {
                panic!("Ferry's job is still {st} after 120 s")
            }
            _ => tokio::time::sleep(POLL).await,
        }
    };
    // Let it end, so the next run finds the cluster idle.
    loop {
        s.tick().await.unwrap();
        let (st, reason) = state(s, &id).await;
        if st.is_terminal() {
            if st != JobState::Succeeded {
                println!("  (warning: a Ferry latency job ended as {st}: {reason:?})");
            }
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    (ms(running), ms(handed.unwrap_or(running)))
}

/// One plain run: (submit-to-running, of which `sbatch` itself) in ms.
fn plain_latency(dir: &Path) -> (f64, f64) {
    let t = Instant::now();
    let id = sbatch(dir, "sleep 2");
    let submitted = t.elapsed();
    let running = loop {
        let st = squeue_state(dir, &id);
        if st == "RUNNING" {
            break t.elapsed();
        }
        if st.is_empty() || t.elapsed() > Duration::from_secs(120) {
            panic!("plain job {id}: never seen RUNNING (last state '{st}')");
        }
        std::thread::sleep(POLL);
    };
    while !squeue_state(dir, &id).is_empty() {
        std::thread::sleep(Duration::from_millis(50));
    }
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    (ms(running), ms(submitted))
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let Ok(slurm_conf) = std::env::var("SLURM_CONF") else {
        eprintln!(
            "SLURM_CONF is not set: this bench needs a running Slurm. Start one with \
             `bash scripts/services/slurm-up.sh DIR && source DIR/env.sh`, then run it again."
        );
        std::process::exit(2);
    };
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let user = slurm(dir, "id", &["-un"]);
    let cluster = slurm(dir, "sinfo", &["-h", "-o", "%P %D %C %G %l"]);
    println!(
        "Slurm: SLURM_CONF={slurm_conf}; user {user}; partitions (name nodes CPUs(A/I/O/T) gres limit):"
    );
    for line in cluster.lines() {
        println!("  {line}");
    }
    wait_idle(dir, &user, Duration::from_secs(60));

    let store = SqliteStore::open(&dir.join("ferry.db")).await.unwrap();
    let local = LocalBackend::new(
        dir.join("local"),
        declared(1, "bench GPU", 24.0),
        vec![env!("CARGO_BIN_EXE_ferry-test-supervise").into()],
    );
    let root = dir.join("slurm-jobs");
    let site = Site {
        id: SITE.into(),
        transport: Transport::Local,
        root: root.display().to_string(),
        account: None,
        partition: Some("short".into()),
        max_walltime: None,
        gpu_flag: GpuFlag::Gres,
        gpu_type: None,
        cpus_per_task: None,
        mem_gb: None,
        default_time: Duration::from_secs(5 * 60),
        env: BTreeMap::from([("SLURM_CONF".to_string(), slurm_conf.clone())]),
    };
    let mut s = Scheduler::new(
        Arc::new(store),
        Arc::new(local),
        vec![0],
        Arc::new(SystemClock),
    );
    s.add_queueing_backend(Arc::new(SlurmBackend::new(site)));
    s.set_remote_poll(POLL);

    // 1. Latency.
    println!();
    println!(
        "1. Submit-to-running latency, job `sleep 2`, 0 GPUs, {LATENCY_RUNS} runs each, \
         interleaved, after one warm-up of each:"
    );
    println!(
        "   plain = from spawning `sbatch --parsable --wrap 'sleep 2' -o /dev/null` until \
         `squeue -h -j ID -o %T` (polled every {} ms) says RUNNING",
        POLL.as_millis()
    );
    println!(
        "   Ferry = from `Scheduler::submit` until the store records Running, ticking every \
         {} ms, remote poll {} ms (default 1 s)",
        POLL.as_millis(),
        POLL.as_millis()
    );
    ferry_latency(&s).await;
    plain_latency(dir);
    wait_idle(dir, &user, Duration::from_secs(60));
    let (mut ferry, mut ferry_sbatch, mut plain, mut plain_sbatch) =
        (vec![], vec![], vec![], vec![]);
    for i in 0..LATENCY_RUNS {
        // Alternate which goes first, so neither always follows the other.
        let order = if i % 2 == 0 {
            [true, false]
        } else {
            [false, true]
        };
        for is_ferry in order {
            if is_ferry {
                let (all, handed) = ferry_latency(&s).await;
                ferry.push(all);
                ferry_sbatch.push(handed);
            } else {
                let (all, submitted) = plain_latency(dir);
                plain.push(all);
                plain_sbatch.push(submitted);
            }
            wait_idle(dir, &user, Duration::from_secs(60));
        }
    }
    let f = summary("Ferry submit-to-running", ferry);
    summary(
        "  of which submit + the first tick (store writes, lookup, sbatch)",
        ferry_sbatch,
    );
    let p = summary("plain sbatch submit-to-running", plain);
    summary("  of which the sbatch command itself", plain_sbatch);
    println!("  ratio of medians, Ferry / sbatch: {:.2}", f / p);

    // 2. Throughput. Ferry goes first: its duplicate guard lists the user's jobs that
    // slurmctld still remembers (ended ones too, for MinJobAge), so the plain loop's
    // finished jobs would otherwise slow it down.
    println!();
    println!(
        "2. Submission throughput, {THROUGHPUT_JOBS} jobs of `true`, 0 GPUs, Ferry first, \
         then the plain loop:"
    );
    println!(
        "  (slurmctld remembers {} job(s) of {user}, ended ones included)",
        remembered(dir, &user)
    );
    let jobs: Vec<NewJob> = (0..THROUGHPUT_JOBS).map(|_| new_job(&s, "true")).collect();
    let ferry_ids: Vec<JobId> = jobs.iter().map(|j| j.id.clone()).collect();
    let queued = JobFilter {
        states: vec![JobState::Queued],
        ..JobFilter::default()
    };
    let t = Instant::now();
    for job in jobs {
        s.submit(job).await.unwrap();
    }
    let submit_s = t.elapsed().as_secs_f64();
    let mut ticks = 0;
    loop {
        s.tick().await.unwrap();
        ticks += 1;
        if s.store().list(&queued).await.unwrap().is_empty() {
            break;
        }
    }
    let ferry_s = t.elapsed().as_secs_f64();
    let ferry_rate = THROUGHPUT_JOBS as f64 / ferry_s;
    println!(
        "  Ferry: the {THROUGHPUT_JOBS} `submit` calls (store writes) took {:.0} ms ({:.2} ms/job)",
        submit_s * 1000.0,
        submit_s * 1000.0 / THROUGHPUT_JOBS as f64
    );
    println!(
        "  Ferry: handing them to Slurm took {:.2} s in {ticks} tick(s) = {:.1} jobs/s",
        ferry_s - submit_s,
        THROUGHPUT_JOBS as f64 / (ferry_s - submit_s)
    );
    println!(
        "  Ferry end to end (submit + hand-off): {THROUGHPUT_JOBS} jobs in {ferry_s:.2} s = \
         {ferry_rate:.1} jobs/s ({:.1} ms/job)",
        ferry_s * 1000.0 / THROUGHPUT_JOBS as f64
    );

    // Follow Ferry's jobs to their end, as a check that they all ran.
    s.set_remote_poll(Duration::from_millis(500));
    let t = Instant::now();
    let unfinished = JobFilter::unfinished();
    while !s.store().list(&unfinished).await.unwrap().is_empty()
        && t.elapsed() < Duration::from_secs(120)
    {
        // A tick that fails on the store fails every time after (the same job is
        // reconciled first again): say why and stop following.
        if let Err(e) = s.tick().await {
            println!("  (warning: following Ferry's jobs, a tick failed: {e})");
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let mut states: BTreeMap<String, usize> = BTreeMap::new();
    for id in &ferry_ids {
        *states.entry(state(&s, id).await.0.to_string()).or_default() += 1;
    }
    let states: Vec<String> = states.iter().map(|(k, n)| format!("{n} {k}")).collect();
    println!(
        "  (Ferry's {THROUGHPUT_JOBS} jobs, followed to their end for {:.1} s: {})",
        t.elapsed().as_secs_f64(),
        states.join(", ")
    );
    scancel(dir, &slurm_ids(&root, &ferry_ids));
    wait_idle(dir, &user, Duration::from_secs(60));

    println!(
        "  (slurmctld remembers {} job(s) of {user}, ended ones included)",
        remembered(dir, &user)
    );
    let t = Instant::now();
    let ids: Vec<String> = (0..THROUGHPUT_JOBS).map(|_| sbatch(dir, "true")).collect();
    let plain_s = t.elapsed().as_secs_f64();
    let plain_rate = THROUGHPUT_JOBS as f64 / plain_s;
    println!(
        "  plain `sbatch --parsable --wrap true -o /dev/null` loop: {THROUGHPUT_JOBS} ids in \
         {plain_s:.2} s = {plain_rate:.1} jobs/s ({:.1} ms/job)",
        plain_s * 1000.0 / THROUGHPUT_JOBS as f64
    );
    let drained = wait_idle(dir, &user, Duration::from_secs(90));
    println!(
        "  (the queue drained {:.1} s after the last sbatch returned)",
        drained.as_secs_f64()
    );
    scancel(dir, &ids);
    wait_idle(dir, &user, Duration::from_secs(60));

    println!(
        "  ratio of rates, Ferry end to end / sbatch loop: {:.2}",
        ferry_rate / plain_rate
    );
}
