//! `ferry simulate` through the real binary: a published trace as users have it, Ferry's
//! own CSV, spot traces, sweeps, charts, and bad input.

mod common;

use common::Env;
use predicates::prelude::*;
use serde_json::Value;
use std::path::PathBuf;

fn testbed() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../ferry-sim/tests/data/elasticflow/195job.csv")
}

/// GPU-hours the trace asks for, read here independently of the simulator.
fn trace_gpu_hours() -> f64 {
    let text = std::fs::read_to_string(testbed()).unwrap();
    text.lines()
        .skip(1)
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let f: Vec<&str> = l.split(',').collect();
            f[6].parse::<f64>().unwrap() * f[7].parse::<f64>().unwrap() / 3600.0
        })
        .sum()
}

fn json_of(out: &[u8]) -> Value {
    serde_json::from_slice(out).unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(out)))
}

fn simulate(env: &Env, args: &[&str]) -> Value {
    let out = env
        .ferry()
        .arg("simulate")
        .args(args)
        .arg("--json")
        .assert()
        .success();
    json_of(&out.get_output().stdout)
}

fn category<'a>(r: &'a Value, name: &str) -> &'a Value {
    r["by_category"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["category"] == name)
        .unwrap_or_else(|| panic!("no {name} in {r}"))
}

#[test]
fn owned_first_on_the_elasticflow_testbed_rents_only_what_deadlines_need() {
    let env = Env::new();
    let trace = testbed();
    let t = trace.to_str().unwrap();
    let hybrid = simulate(
        &env,
        &[
            "--trace",
            t,
            "--owned-gpus",
            "32",
            "--cloud-price",
            "3",
            "--policy",
            "owned-first",
        ],
    );
    let fifo = simulate(
        &env,
        &[
            "--trace",
            t,
            "--owned-gpus",
            "32",
            "--cloud-price",
            "3",
            "--policy",
            "cheapest",
        ],
    );
    assert_eq!(hybrid["jobs"], 195);
    assert_eq!(hybrid["trace_format"], "elasticflow");
    // Every GPU-hour of the trace is run somewhere, once.
    let want = trace_gpu_hours();
    for r in [&hybrid, &fifo] {
        let ran = category(r, "owned")["gpu_hours"].as_f64().unwrap()
            + category(r, "cloud")["gpu_hours"].as_f64().unwrap();
        assert!((ran - want).abs() < 0.01, "{ran} vs {want}");
    }
    // Cloud time is charged at $3/GPU-h (to the micro-dollar, per job); owned time at $0.
    let cloud = category(&hybrid, "cloud");
    let charged = cloud["cost_micros"].as_i64().unwrap() as f64 / 1e6;
    assert!((charged - 3.0 * cloud["gpu_hours"].as_f64().unwrap()).abs() < 0.01);
    assert_eq!(hybrid["total_cost_micros"], cloud["cost_micros"]);
    assert!(hybrid["total_cost"].as_str().unwrap().starts_with('$'));
    // The hybrid misses no deadline renting could meet; owned-only FIFO misses many, and
    // rents nothing.
    assert_eq!(hybrid["missed_that_renting_could_meet"], 0);
    assert!(fifo["deadlines_missed"].as_u64().unwrap() > 50, "{fifo}");
    assert_eq!(category(&fifo, "cloud")["jobs"], 0);
    // Cheaper than renting everything.
    assert!(charged < 3.0 * want);
    assert!(
        hybrid["queueing_delay_hours"]["p99"].as_f64().unwrap()
            < fifo["queueing_delay_hours"]["p99"].as_f64().unwrap()
    );
}

#[test]
fn the_same_inputs_give_the_same_report_byte_for_byte() {
    let env = Env::new();
    let t = testbed();
    let run = || {
        env.ferry()
            .args([
                "simulate",
                "--trace",
                t.to_str().unwrap(),
                "--owned-gpus",
                "16",
                "--cloud-price",
                "2.5",
                "--provision-minutes",
                "5",
                "--json",
            ])
            .assert()
            .success()
            .get_output()
            .stdout
            .clone()
    };
    assert_eq!(run(), run());
}

#[test]
fn a_sweep_prints_the_cost_curve_and_draws_it() {
    let env = Env::new();
    let t = testbed();
    let chart = env.path("curve.svg");
    let r = simulate(
        &env,
        &[
            "--trace",
            t.to_str().unwrap(),
            "--cloud-price",
            "3",
            "--sweep-owned",
            "0:64:32",
            "--chart",
            chart.to_str().unwrap(),
        ],
    );
    let points = r["points"].as_array().unwrap();
    assert_eq!(points.len(), 3);
    assert_eq!(points[0]["owned_gpus"], 0);
    // No owned GPUs: everything is rented, at $3 for every GPU-hour of the trace.
    let all_cloud = points[0]["total_cost_micros"].as_i64().unwrap() as f64 / 1e6;
    assert!(
        (all_cloud - 3.0 * trace_gpu_hours()).abs() < 0.05,
        "{all_cloud}"
    );
    assert!(points[2]["total_cost_micros"].as_i64() < points[0]["total_cost_micros"].as_i64());
    assert!(r["cheapest_owned_gpus"].is_u64());
    let svg = std::fs::read_to_string(&chart).unwrap();
    assert!(svg.contains("<svg") && svg.contains("owned GPUs"));
}

#[test]
fn a_replay_draws_cost_over_time_and_owned_use() {
    let env = Env::new();
    let t = testbed();
    let chart = env.path("replay.svg");
    env.ferry()
        .args([
            "simulate",
            "--trace",
            t.to_str().unwrap(),
            "--owned-gpus",
            "32",
            "--cloud-price",
            "3",
            "--chart",
            chart.to_str().unwrap(),
        ])
        .assert()
        .success()
        .stdout(predicate::str::contains("Queueing delay").and(predicate::str::contains("Chart:")));
    let svg = std::fs::read_to_string(&chart).unwrap();
    assert!(svg.contains("cumulative cost") && svg.contains("owned GPUs busy"));
}

#[test]
fn ferry_csv_with_budgets_holds_bursts_at_the_monthly_cap() {
    let env = Env::new();
    let trace = env.path("jobs.csv");
    // Four 8-GPU 10-hour jobs at once on 8 owned GPUs, each due in 10 h: three must rent,
    // at $240 each; a $500 month allows two.
    std::fs::write(
        &trace,
        "id,submit_s,gpus,duration_s,deadline_s,budget_usd\na,0,8,36000,36000,\nb,0,8,36000,36000,\nc,0,8,36000,36000,\nd,0,8,36000,36000,1000\n",
    )
    .unwrap();
    let t = trace.to_str().unwrap();
    let r = simulate(
        &env,
        &[
            "--trace",
            t,
            "--owned-gpus",
            "8",
            "--cloud-price",
            "3",
            "--monthly-budget",
            "500",
        ],
    );
    assert_eq!(r["trace_format"], "canonical");
    assert_eq!(category(&r, "cloud")["jobs"], 2);
    assert_eq!(r["budget_holds"], 1);
    assert_eq!(r["total_cost"], "$480.000000");
    assert_eq!(r["deadlines_missed"], 1);
}

fn spot_trace(env: &Env, name: &str, ticks: &[u8]) -> PathBuf {
    let p = env.path(name);
    let data: Vec<String> = ticks.iter().map(|t| t.to_string()).collect();
    std::fs::write(
        &p,
        format!(
            "{{\"metadata\": {{\"gap_seconds\": 600}}, \"data\": [{}]}}",
            data.join(", ")
        ),
    )
    .unwrap();
    p
}

#[test]
fn spot_replays_read_one_as_available_and_compare_the_policies() {
    let env = Env::new();
    let always = spot_trace(&env, "up.json", &[1; 500]);
    let never = spot_trace(&env, "down.json", &[0; 500]);
    let args = |p: &PathBuf| {
        vec![
            "--spot-trace".to_string(),
            p.display().to_string(),
            "--job-hours".into(),
            "10".into(),
            "--deadline-hours".into(),
            "14".into(),
            "--changeover-hours".into(),
            "0.2".into(),
            "--on-demand-price".into(),
            "3".into(),
            "--spot-price".into(),
            "1".into(),
            "--starts".into(),
            "20".into(),
        ]
    };
    let a: Vec<String> = args(&always);
    let up = simulate(&env, &a.iter().map(String::as_str).collect::<Vec<_>>());
    assert_eq!(up["spot_hours"], 10.2);
    assert_eq!(up["on_demand_hours"], 0.0);
    assert_eq!(up["total_cost"], "$10.200000");
    assert_eq!(up["on_demand_only_cost"], "$30.600000");
    let rules: Vec<&str> = up["compared"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["rule"].as_str().unwrap())
        .collect();
    assert_eq!(rules, ["uniform-progress", "greedy", "on-demand-only"]);
    let n: Vec<String> = args(&never);
    let down = simulate(&env, &n.iter().map(String::as_str).collect::<Vec<_>>());
    assert_eq!(down["spot_hours"], 0.0);
    assert_eq!(down["missed_deadlines"], 0);
    assert_eq!(down["on_demand_hours"], 10.2);
}

#[test]
fn spot_prices_come_from_the_catalog_with_their_source() {
    let env = Env::new();
    let flappy: Vec<u8> = (0..800).map(|i| u8::from(i % 7 < 5)).collect();
    let p = spot_trace(&env, "flappy.json", &flappy);
    let r = simulate(
        &env,
        &[
            "--spot-trace",
            p.to_str().unwrap(),
            "--job-hours",
            "48",
            "--deadline-hours",
            "60",
            "--gpu",
            "v100",
            "--starts",
            "50",
        ],
    );
    assert!(r["price_source"].as_str().unwrap().contains("as of"), "{r}");
    assert_eq!(r["missed_deadlines"], 0);
    assert!(r["preemptions"].as_f64().unwrap() > 0.0);
    let cmp = r["compared"].as_array().unwrap();
    let od_only = cmp[2]["cost_micros"].as_i64().unwrap();
    assert!(cmp[0]["cost_micros"].as_i64().unwrap() < od_only);
}

#[test]
fn bad_input_gets_a_clear_error() {
    let env = Env::new();
    let bad = env.path("bad.csv");
    std::fs::write(&bad, "id,submit_s,gpus,duration_s\nx,0,2,10\ny,5,two,10\n").unwrap();
    let binary = env.path("bin.csv");
    std::fs::write(&binary, b"id,submit_s,gpus,duration_s\nx,0,\xff,10\n").unwrap();
    let spot = env.path("spot.json");
    std::fs::write(
        &spot,
        "{\"metadata\": {\"gap_seconds\": 600}, \"data\": [1, -3]}",
    )
    .unwrap();
    let t = testbed();
    let t = t.to_str().unwrap();
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (
            vec!["--trace", bad.to_str().unwrap(), "--cloud-price", "3"],
            "bad.csv:3: gpus 'two' is not a GPU count",
        ),
        (
            vec!["--trace", binary.to_str().unwrap(), "--cloud-price", "3"],
            "not UTF-8",
        ),
        (
            vec!["--trace", "/nonexistent/trace.csv", "--cloud-price", "3"],
            "reading /nonexistent/trace.csv",
        ),
        (
            vec!["--trace", t],
            "give --cloud-price USD (per GPU-hour), or --gpu NAME",
        ),
        (
            vec!["--trace", t, "--cloud-price=-1"],
            "--cloud-price -1 is not a price",
        ),
        (
            vec!["--trace", t, "--cloud-price", "3", "--sweep-owned", "0:64"],
            "expected FROM:TO:STEP",
        ),
        (
            vec!["--trace", t, "--cloud-price", "3", "--chart", "x.jpg"],
            "as .svg or .png",
        ),
        (vec!["--trace", t, "--gpu", "zz9000"], "--gpu"),
        (
            vec![
                "--spot-trace",
                spot.to_str().unwrap(),
                "--job-hours",
                "4",
                "--deadline-hours",
                "6",
                "--on-demand-price",
                "3",
                "--spot-price",
                "1",
            ],
            "data[1] is -3",
        ),
        (
            vec!["--spot-trace", spot.to_str().unwrap()],
            "needs --job-hours and --deadline-hours",
        ),
        (
            vec![
                "--spot-trace",
                spot.to_str().unwrap(),
                "--job-hours",
                "4",
                "--deadline-hours",
                "6",
                "--policy",
                "owned-first",
            ],
            "use it with --trace",
        ),
        (vec![], "--trace"),
        (
            vec![
                "--trace",
                t,
                "--cloud-price",
                "3",
                "--spot-trace",
                spot.to_str().unwrap(),
            ],
            "only --policy deadline-spot",
        ),
    ];
    for (args, want) in cases {
        env.ferry()
            .arg("simulate")
            .args(&args)
            .assert()
            .failure()
            .stderr(predicate::str::contains(want));
    }
}

#[test]
fn advise_prices_a_trace_month_by_month() {
    let env = Env::new();
    let t = testbed();
    let out = env
        .ferry()
        .args([
            "advise",
            "--gpu",
            "v100",
            "--trace",
            t.to_str().unwrap(),
            "--months",
            "12",
            "--json",
        ])
        .assert()
        .success();
    let advice = json_of(&out.get_output().stdout);
    // The testbed's jobs all arrive within its first month: that month's GPU-hours,
    // repeated over the twelve.
    let want = trace_gpu_hours();
    let w = &advice["workload"];
    let months = w["demand_gpu_hours"].as_array().unwrap();
    assert_eq!(months.len(), 12);
    for m in months {
        assert!((m.as_f64().unwrap() - want).abs() < 0.01, "{m} vs {want}");
    }
    assert!((w["total_gpu_hours"].as_f64().unwrap() - 12.0 * want).abs() < 0.1);
    let stderr = String::from_utf8_lossy(&out.get_output().stderr).to_string();
    assert!(stderr.contains("195 jobs, 1 months of history"), "{stderr}");
    assert!(stderr.contains(&format!("{want:.0} GPU-h")), "{stderr}");
    env.ferry()
        .args([
            "advise",
            "--gpu",
            "v100",
            "--trace",
            t.to_str().unwrap(),
            "--hours-per-month",
            "5",
        ])
        .assert()
        .failure()
        .stderr(predicate::str::contains("cannot be used with"));
}

#[test]
fn a_cluster_with_spot_capacity_runs_deadline_jobs_on_spot_under_deadline_spot() {
    let env = Env::new();
    let t = testbed();
    let t = t.to_str().unwrap();
    // The testbed's jobs have deadlines; 16 owned GPUs leave many to rent.
    let base = [
        "--trace",
        t,
        "--owned-gpus",
        "16",
        "--cloud-price",
        "3",
        "--provision-minutes",
        "5",
    ];
    let on_demand = simulate(&env, &[&base[..], &["--policy", "owned-first"]].concat());
    let always = spot_trace(&env, "up.json", &[1; 3000]);
    let with_spot = simulate(
        &env,
        &[
            &base[..],
            &[
                "--policy",
                "deadline-spot",
                "--spot-trace",
                always.to_str().unwrap(),
                "--spot-price",
                "1",
            ],
        ]
        .concat(),
    );
    let spot = category(&with_spot, "spot");
    assert!(spot["gpu_hours"].as_f64().unwrap() > 0.0, "{with_spot}");
    assert_eq!(with_spot["setup"]["spot_price_per_gpu_hour"], "$1.000000");
    assert_eq!(with_spot["preemptions"], 0);
    assert_eq!(
        with_spot["missed_that_renting_could_meet"], 0,
        "{with_spot}"
    );
    assert!(
        with_spot["total_cost_micros"].as_i64().unwrap()
            < on_demand["total_cost_micros"].as_i64().unwrap(),
        "spot at a third of the price costs less"
    );
    // Spot that comes and goes: preemptions, and still no deadline missed that renting
    // on-demand could meet.
    let flaky: Vec<u8> = (0..3000).map(|i| u8::from(i % 7 < 3)).collect();
    let flaky = spot_trace(&env, "flaky.json", &flaky);
    let r = simulate(
        &env,
        &[
            &base[..],
            &[
                "--policy",
                "deadline-spot",
                "--spot-trace",
                flaky.to_str().unwrap(),
                "--spot-price",
                "1",
            ],
        ]
        .concat(),
    );
    assert!(r["preemptions"].as_u64().unwrap() > 0, "{r}");
    assert_eq!(r["missed_that_renting_could_meet"], 0, "{r}");
    // Spot capacity means nothing to another policy, and needs its price.
    env.ferry()
        .args([
            "simulate",
            "--trace",
            t,
            "--policy",
            "owned-first",
            "--spot-trace",
        ])
        .arg(&always)
        .args(["--spot-price", "1"])
        .assert()
        .failure()
        .stderr(predicate::str::contains("only --policy deadline-spot"));
    env.ferry()
        .args([
            "simulate",
            "--trace",
            t,
            "--policy",
            "deadline-spot",
            "--spot-trace",
        ])
        .arg(&always)
        .assert()
        .failure()
        .stderr(predicate::str::contains("needs --spot-price"));
}
