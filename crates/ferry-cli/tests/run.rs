//! Running work through the real binary and the real server: launch, logs, cancel, a
//! failing job, a queued job, CPU-only work, and the server killed with SIGKILL at several
//! points of its jobs' lives.

mod common;

use common::*;
use predicates::prelude::*;
use serde_json::Value;
use std::time::{Duration, Instant};

#[test]
fn a_cpu_only_job_runs_in_the_foreground_with_its_output_and_cost() {
    let env = Env::new();
    let t = task(
        &env,
        "hello",
        "name: hello\nenvs:\n  WHO: world\nrun: |\n  echo \"hello $WHO\"\n  echo \"gpus=[$CUDA_VISIBLE_DEVICES]\"\n",
    );
    env.ferry()
        .arg("launch")
        .arg(&t)
        .assert()
        .success()
        .stdout(predicate::str::contains("hello world").and(predicate::str::contains("gpus=[]")))
        .stderr(predicate::str::contains("succeeded (exit code 0)"));
    let all = jobs(&env);
    assert_eq!(all.len(), 1);
    assert_eq!(
        (all[0]["state"].as_str(), all[0]["exit_code"].as_i64()),
        (Some("succeeded"), Some(0))
    );
    let (sum, total) = ledger_total(&env);
    assert_eq!(sum, total);
}

#[test]
fn a_failing_job_returns_its_exit_code_and_is_recorded_failed() {
    let env = Env::new();
    let t = task(&env, "fail", "run: echo about to fail >&2; exit 3\n");
    env.ferry()
        .arg("launch")
        .arg(&t)
        .assert()
        .code(3)
        .stdout(predicate::str::contains("about to fail"))
        .stderr(predicate::str::contains("failed (exit code 3)"));
    let j = &jobs(&env)[0];
    assert_eq!(
        (j["state"].as_str(), j["exit_code"].as_i64()),
        (Some("failed"), Some(3))
    );
}

#[test]
fn logs_cancel_and_a_queued_job_that_starts_when_the_gpu_frees() {
    let env = Env::new();
    gpus(&env, 1);
    let long = task(
        &env,
        "long",
        "resources:\n  accelerators: RTX4090:1\nrun: |\n  echo started\n  sleep 300\n",
    );
    let short = task(
        &env,
        "short",
        "resources:\n  accelerators: RTX4090:1\nrun: echo second on gpu $CUDA_VISIBLE_DEVICES\n",
    );
    let a = launch_detached(&env, &long);
    let b = launch_detached(&env, &short);
    wait_state(&env, &a, |s| s == "running");
    assert_eq!(job(&env, &b)["state"], "queued", "the only GPU is taken");
    // A count and the device it holds, never one read as the other.
    env.ferry()
        .arg("status")
        .assert()
        .success()
        .stdout(predicate::str::contains("1 (device 0)"));
    let deadline = Instant::now() + Duration::from_secs(10);
    while !String::from_utf8(env.ferry().args(["logs", &a]).output().unwrap().stdout)
        .unwrap()
        .contains("started")
    {
        assert!(Instant::now() < deadline);
        std::thread::sleep(Duration::from_millis(50));
    }
    env.ferry().args(["cancel", &a]).assert().success();
    let ja = wait_state(&env, &a, terminal);
    assert_eq!(ja["state"], "cancelled");
    let jb = wait_state(&env, &b, terminal);
    assert_eq!(jb["state"], "succeeded");
    env.ferry()
        .args(["logs", "--follow", &b])
        .assert()
        .success()
        .stdout(predicate::str::contains("second on gpu 0"));
    // The cancelled job paid for the time it held the GPU; the ledger adds up.
    let cost = env.json(&["cost", "--by", "job"]);
    assert!(
        cost["groups"]
            .as_array()
            .unwrap()
            .iter()
            .any(|g| g["job"] == a.as_str() && g["amount_micros"].as_i64().unwrap() > 0)
    );
    let (sum, total) = ledger_total(&env);
    assert_eq!(sum, total);
    env.ferry()
        .args(["cancel", &a])
        .assert()
        .success()
        .stdout(predicate::str::contains("already cancelled"));
}

#[test]
fn bad_tasks_store_nothing() {
    let env = Env::new();
    gpus(&env, 2);
    for (name, yaml, needle) in [
        (
            "nogpu",
            "resources:\n  accelerators: RTX4090:4\nrun: x\n",
            "no configured backend can run this task",
        ),
        (
            "toomany",
            "resources:\n  accelerators: H100:64\nrun: x\n",
            "No placement fits",
        ),
        ("norun", "name: x\n", "run: is missing"),
        (
            "badkey",
            "run: x\nestimated_hour: 2\n",
            "did you mean `estimated_hours`",
        ),
        ("nodir", "workdir: ./missing\nrun: x\n", "does not exist"),
        ("badyaml", "run: [\n", "badyaml.yaml:"),
    ] {
        let t = task(&env, name, yaml);
        env.ferry()
            .arg("launch")
            .arg(&t)
            .assert()
            .code(1)
            .stderr(predicate::str::contains(needle));
    }
    // Nothing was submitted: the server never even had to start.
    assert!(!env.path("data/ferry.db").exists() || jobs(&env).is_empty());
}

#[test]
fn a_maximum_runtime_stops_the_job() {
    let env = Env::new();
    let t = task(&env, "slow", "run: sleep 60\n");
    env.ferry()
        .args(["launch", "--max-runtime", "1s"])
        .arg(&t)
        .assert()
        .code(1)
        .stderr(predicate::str::contains("timed-out"));
}

#[test]
fn the_server_needs_its_token() {
    use std::io::{Read, Write};
    let env = Env::new();
    env.ferry().args(["server", "start"]).assert().success();
    let info: Value =
        serde_json::from_str(&std::fs::read_to_string(env.path("data/server.json")).unwrap())
            .unwrap();
    let mut s = std::net::TcpStream::connect(info["addr"].as_str().unwrap()).unwrap();
    s.write_all(b"GET /v1/jobs HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut answer = String::new();
    s.read_to_string(&mut answer).unwrap();
    assert!(answer.starts_with("HTTP/1.1 401"), "{answer}");
    assert!(info["addr"].as_str().unwrap().starts_with("127.0.0.1:"));
    let token = env.path("data/server.token");
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(token).unwrap().permissions().mode() & 0o777,
        0o600
    );
    // Started on demand once, then reused; a second `start` finds it.
    env.ferry()
        .args(["server", "start"])
        .assert()
        .success()
        .stdout(predicate::str::contains(format!("pid {}", info["pid"])));
    let status = env.json(&["server", "status"]);
    assert_eq!(status["running"], true);
    assert_eq!(status["pid"], info["pid"]);
    assert_eq!(
        status["url"],
        format!("http://{}", info["addr"].as_str().unwrap())
    );
    assert!(
        status["version"].as_str().is_some_and(|v| !v.is_empty()),
        "{status}"
    );
    assert!(
        status["store"].as_str().unwrap().ends_with(".db"),
        "{status}"
    );
    env.ferry().args(["server", "stop"]).assert().success();
    env.ferry().args(["server", "status"]).assert().code(3);
    // Not running: still JSON, and the same exit code.
    let out = env
        .ferry()
        .args(["server", "status", "--json"])
        .assert()
        .code(3);
    let down: serde_json::Value = serde_json::from_slice(&out.get_output().stdout).unwrap();
    assert_eq!(down["running"], false, "{down}");
    assert!(
        !env.path("data/server.json").exists(),
        "status starts nothing"
    );
}

/// The crash test: with jobs running and queued, the server is killed with SIGKILL; the
/// next command starts a new one. Every job is still tracked, jobs that ended meanwhile
/// are recorded with their exit codes, nothing runs twice, and the ledger adds up.
#[test]
fn kill_9_the_server_at_several_points_and_lose_nothing() {
    // Kill right after submitting, while the first jobs run, and after some have ended.
    for kill_after_ms in [0u64, 700, 2500] {
        let env = Env::new();
        gpus(&env, 1);
        let runs = env.path("runs.log");
        let mut ids = vec![];
        for (i, (secs, code)) in [(1.0, 0), (0.5, 4), (0.5, 0)].iter().enumerate() {
            let t = task(
                &env,
                &format!("j{i}"),
                &format!(
                    "resources:\n  accelerators: RTX4090:1\nrun: |\n  echo $FERRY_JOB_ID >> {}\n  sleep {secs}\n  exit {code}\n",
                    runs.display()
                ),
            );
            ids.push(launch_detached(&env, &t));
        }
        let cpu = task(
            &env,
            "cpu",
            &format!(
                "run: |\n  echo $FERRY_JOB_ID >> {}\n  sleep 1.5\n",
                runs.display()
            ),
        );
        ids.push(launch_detached(&env, &cpu));

        std::thread::sleep(Duration::from_millis(kill_after_ms));
        let pid = kill_9_server(&env);
        std::thread::sleep(Duration::from_millis(200));

        // The next command starts a fresh server, which recovers.
        for id in &ids {
            wait_state(&env, id, terminal);
        }
        let new_pid = serde_json::from_str::<Value>(
            &std::fs::read_to_string(env.path("data/server.json")).unwrap(),
        )
        .unwrap()["pid"]
            .as_i64();
        assert_ne!(new_pid, Some(pid), "a new server took over");
        let expect = [
            ("succeeded", 0),
            ("failed", 4),
            ("succeeded", 0),
            ("succeeded", 0),
        ];
        for (id, (state, code)) in ids.iter().zip(expect) {
            let j = job(&env, id);
            assert_eq!(
                (j["state"].as_str(), j["exit_code"].as_i64()),
                (Some(state), Some(code)),
                "kill at {kill_after_ms} ms: {j}"
            );
        }
        let log = std::fs::read_to_string(&runs).unwrap();
        for id in &ids {
            assert_eq!(
                log.matches(id.as_str()).count(),
                1,
                "kill at {kill_after_ms} ms: {id} ran {} times",
                log.matches(id.as_str()).count()
            );
        }
        let cost = env.json(&["cost", "--by", "job"]);
        assert_eq!(
            cost["groups"].as_array().unwrap().len(),
            ids.len(),
            "one charge per job"
        );
        let (sum, total) = ledger_total(&env);
        assert_eq!(sum, total);
    }
}

#[test]
fn a_monthly_budget_refuses_a_launch_that_would_pass_it_and_cost_shows_what_is_left() {
    let env = Env::new();
    env.config("[local]\ndeclared_gpus = 1\n\n[budget]\nmonthly_usd = 0.5\n");
    // One small job fits and is booked against the month.
    let small = task(
        &env,
        "small",
        "name: small\nresources:\n  accelerators: RTX4090:1\nestimated_hours: 0.001\nrun: echo ok\n",
    );
    env.ferry().arg("launch").arg(&small).assert().success();
    // A thousand hours of an owned GPU would pass $0.50: refused, with the numbers.
    let big = task(
        &env,
        "big",
        "name: big\nresources:\n  accelerators: RTX4090:1\nestimated_hours: 1000\nrun: echo never\n",
    );
    env.ferry()
        .arg("launch")
        .arg(&big)
        .assert()
        .failure()
        .stderr(predicate::str::contains("would pass").and(predicate::str::contains("$0.500000")));
    // Without an estimate nothing could hold it to the cap: refused too.
    let open = task(&env, "open", "name: open\nrun: echo never\n");
    env.ferry()
        .arg("launch")
        .arg(&open)
        .assert()
        .failure()
        .stderr(predicate::str::contains("cannot be foreseen"));
    assert_eq!(jobs(&env).len(), 1, "nothing refused was stored");
    let cost = env.json(&["cost"]);
    let b = &cost["budgets"][0];
    assert_eq!(b["scope"], "monthly");
    assert_eq!(b["limit"], "$0.500000");
    assert_eq!(b["booked_micros"], cost["total_micros"]);
    assert_eq!(
        b["left_micros"].as_i64().unwrap(),
        500_000 - cost["total_micros"].as_i64().unwrap()
    );
    env.ferry()
        .arg("cost")
        .assert()
        .success()
        .stdout(predicate::str::contains(
            "The monthly budget (budget.monthly_usd) (",
        ));
}

#[test]
fn a_running_job_is_stopped_before_it_passes_the_monthly_budget() {
    let env = Env::new();
    // This host's RTX 4090 is priced at its amortised $0.172/h: $0.001 lasts about 21 s,
    // and the job is stopped once it would reach the cap within 10 s.
    env.config("[local]\ndeclared_gpus = 1\n\n[budget]\nmonthly_usd = 0.001\n");
    let t = task(
        &env,
        "long",
        "name: long\nresources:\n  accelerators: RTX4090:1\nestimated_hours: 0.0001\nrun: sleep 120\n",
    );
    let id = launch_detached(&env, &t);
    let t0 = Instant::now();
    let done = wait_state_for(&env, &id, 60, |s| {
        s != "queued" && s != "starting" && s != "running"
    });
    assert!(t0.elapsed() < Duration::from_secs(60), "stopped in time");
    assert_eq!(done["state"], "cancelled", "{done}");
    assert!(
        done["reason"].as_str().unwrap().contains("monthly budget"),
        "{done}"
    );
    // What it cost stays under the cap.
    let cost = env.json(&["cost"]);
    let booked = cost["total_micros"].as_i64().unwrap();
    assert!(
        booked > 0 && booked <= 1_000,
        "booked {booked} micro-dollars of 1,000"
    );
}
