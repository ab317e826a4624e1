//! The real `ferry` binary, with its config, cache and data directories in a temporary
//! folder and today's date pinned.

use predicates::prelude::*;
use serde_json::Value;
use std::collections::BTreeSet;
use std::path::Path;

mod common;
use common::Env;

fn offers(v: &Value) -> &Vec<Value> {
    v["offers"].as_array().unwrap()
}

fn set<'a>(v: &'a Value, key: &str) -> BTreeSet<&'a str> {
    offers(v).iter().map(|o| o[key].as_str().unwrap()).collect()
}

#[test]
fn eight_h100_offers_span_providers_and_categories() {
    let env = Env::new();
    let v = env.json(&["offers", "--gpu", "h100", "--count", "8"]);
    let providers = set(&v, "provider");
    let categories = set(&v, "category");
    assert!(providers.len() >= 6, "{providers:?}");
    assert!(categories.len() >= 3, "{categories:?}");
    for o in offers(&v) {
        assert_eq!(o["gpu_count"], 8);
        assert!(o["gpu"].as_str().unwrap().starts_with("H100"));
        assert!(!o["source"].as_str().unwrap().is_empty());
        assert!(o["as_of"].as_str().is_some());
    }
    // Ranked by price, unpriced (allocation) offers last.
    let prices: Vec<Option<f64>> = offers(&v).iter().map(|o| o["price"].as_f64()).collect();
    let cash: Vec<f64> = prices.iter().map_while(|p| *p).collect();
    assert!(cash.windows(2).all(|w| w[0] <= w[1]));
    assert!(prices[cash.len()..].iter().all(Option::is_none));
}

const OWNED: &str = r#"
[[owned]]
name = "lab-workstation"
gpu = "RTX 4090"
gpu_count = 2
purchase_usd = 7000
service_life_years = 3
resale_fraction = 0.2
utilization = 0.5
electricity_usd_per_kwh = 0.10

[[academic]]
cluster = "narval"
account = "def-someprof"
gpu_years = 2
"#;

#[test]
fn owned_hardware_is_listed_at_its_amortised_price() {
    let env = Env::new();
    env.config(OWNED);
    let v = env.json(&["offers", "--gpu", "4090"]);
    let owned: Vec<&Value> = offers(&v)
        .iter()
        .filter(|o| o["category"] == "owned")
        .collect();
    assert_eq!(owned.len(), 1);
    let o = owned[0];
    // 7000*0.8/(3*8766)/0.5 = 0.42587 capital + 2*450*1.8*0.75 W = 1.215 kW * 0.10 = 0.1215 power.
    let expected = 7000.0 * 0.8 / (3.0 * 8766.0) / 0.5 + 1.215 * 0.10;
    assert!(
        (o["price_hour"].as_f64().unwrap() - expected).abs() < 1e-9,
        "{o}"
    );
    assert!(o["price_hour"].as_f64().unwrap() > 0.0);
    assert_eq!(o["gpu_count"], 2);
    assert!(o["source"].as_str().unwrap().starts_with("amortised"));

    // The table says it too, and academic offers show the declared allocation.
    env.ferry()
        .args(["offers", "--gpu", "4090"])
        .assert()
        .success()
        .stdout(
            predicate::str::contains("owned")
                .and(predicate::str::contains("lab-workstation").not()),
        );
    env.ferry()
        .args(["offers", "--gpu", "a100", "--provider", "alliance"])
        .assert()
        .success()
        .stdout(predicate::str::contains("alloc def-someprof"));
}

#[test]
fn every_filter_from_the_command_line() {
    let env = Env::new();
    let all = env.json(&["offers"]);
    let n_all = offers(&all).len();
    assert!(n_all > 150, "{n_all}");
    let check = |args: &[&str], ok: &dyn Fn(&Value) -> bool| {
        let v = env.json(args);
        assert!(!offers(&v).is_empty(), "{args:?} matched nothing");
        assert!(offers(&v).len() < n_all, "{args:?} filtered nothing");
        for o in offers(&v) {
            assert!(ok(o), "{args:?} let through {o}");
        }
    };
    let f = |o: &Value, k: &str| o[k].as_f64();
    check(&["offers", "--vram", "40GB..80GB"], &|o| {
        (40.0..=80.0).contains(&f(o, "gpu_vram_gb").unwrap())
    });
    check(&["offers", "--count", "2..4"], &|o| {
        (2..=4).contains(&o["gpu_count"].as_u64().unwrap())
    });
    check(&["offers", "--category", "gpu-cloud,decentralized"], &|o| {
        ["gpu-cloud", "decentralized"].contains(&o["category"].as_str().unwrap())
    });
    check(&["offers", "--provider", "lambda"], &|o| {
        o["provider"] == "lambda"
    });
    check(&["offers", "--region", "us-*"], &|o| {
        o["region"]
            .as_str()
            .unwrap()
            .to_lowercase()
            .starts_with("us-")
    });
    check(&["offers", "--spot"], &|o| {
        f(o, "spot_price_hour").is_some() && f(o, "price") == f(o, "spot_price_hour")
    });
    check(&["offers", "--on-demand"], &|o| {
        f(o, "price_hour").is_some() && f(o, "price") == f(o, "price_hour")
    });
    check(&["offers", "--max-price", "1"], &|o| {
        f(o, "price").is_none_or(|p| p <= 1.0)
    });
    check(&["offers", "--max-price-per-gpu", "1.5"], &|o| {
        f(o, "price_per_gpu_hour").is_none_or(|p| p <= 1.5)
    });
    check(&["offers", "--gpu", "a100,l4"], &|o| {
        o["gpu"].as_str().unwrap().starts_with("A100") || o["gpu"] == "L4"
    });

    // Each sort key orders by its figure.
    for key in ["price", "price-per-gpu", "per-pflop", "per-gb-vram"] {
        let v = env.json(&["offers", "--sort", key, "--category", "hyperscaler"]);
        let vals: Vec<f64> = offers(&v)
            .iter()
            .filter_map(|o| o["sort_value"].as_f64())
            .collect();
        assert!(
            vals.len() > 10 && vals.windows(2).all(|w| w[0] <= w[1]),
            "{key}"
        );
    }
}

#[test]
fn min_reliability_uses_published_figures_only() {
    let env = Env::new();
    let cache = r#"provider,category,offering,region,instance_type,gpu,gpu_count,gpu_vram_gb,vcpus,ram_gb,price_hour,spot_price_hour,currency,egress_per_gb,billing,reliability,queue_wait_h,pricing,source,as_of,notes
vastai,decentralized,verified host,US,offer 1,RTX-4090,1,24,8,32,0.35,0.2,USD,0.01,per-second,0.995,,cash,test,2026-11-23,
vastai,decentralized,verified host,DE,offer 2,RTX-4090,1,24,8,32,0.30,,USD,0.01,per-second,0.90,,cash,test,2026-11-23,
"#;
    std::fs::create_dir_all(env.path("cache/offers")).unwrap();
    std::fs::write(env.path("cache/offers/vastai.csv"), cache).unwrap();
    let v = env.json(&["offers", "--min-reliability", "0.98"]);
    let got: Vec<&str> = offers(&v)
        .iter()
        .map(|o| o["instance_type"].as_str().unwrap())
        .collect();
    assert_eq!(got, ["offer 1"]);
}

#[test]
fn other_currencies_state_the_rate_used() {
    let env = Env::new();
    let v = env.json(&["offers", "--provider", "golem"]);
    let o = &offers(&v)[0];
    let p = &o["priced_in"];
    assert_eq!(p["currency"], "GLM");
    let usd = o["price_hour"].as_f64().unwrap();
    let glm = p["price_hour"].as_f64().unwrap();
    assert!((usd - glm * p["usd_per_unit"].as_f64().unwrap()).abs() < 1e-12);
    assert!(!p["rate_source"].as_str().unwrap().is_empty());
}

#[test]
fn csv_output_loads_back_as_a_catalog_file() {
    let env = Env::new();
    let out = env
        .ferry()
        .args(["offers", "--gpu", "h100", "--csv"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let file = env.path("h100.csv");
    std::fs::write(&file, &out.stdout).unwrap();
    let rows = String::from_utf8_lossy(&out.stdout).lines().count() - 1;
    assert!(rows > 20);
    env.ferry()
        .args(["catalog", "check"])
        .arg(&file)
        .assert()
        .success()
        .stdout(predicate::str::contains(format!(
            "{rows} rows valid, 0 rejected"
        )));
}

#[test]
fn a_bad_offer_file_names_each_bad_row() {
    let env = Env::new();
    let file = env.path("mine.csv");
    std::fs::write(&file, "provider,category,offering,region,instance_type,gpu,gpu_count,gpu_vram_gb,vcpus,ram_gb,price_hour,spot_price_hour,currency,egress_per_gb,billing,reliability,queue_wait_h,pricing,source,as_of,notes
acme,gpu-cloud,x,eu,a,H100-SXM,8,640,,,20,,USD,0,per-hour,,,cash,quote,2026-11-01,
acme,gpu-cloud,x,eu,b,H100-SXM,1,80,,,2,0.00,USD,0,per-hour,,,cash,quote,2026-11-01,
acme,gpu-cloud,x,eu,c,H100-SXM,1,80,,,2,,USD,0,per-hour,,,cash,,2026-11-01,
acme,gpu-cloud,x,eu,d,H100-SXM,1,80,,,2,,USD,0,per-hour,,,cash,quote,2026-11-01,
").unwrap();
    env.ferry()
        .args(["catalog", "check"])
        .arg(&file)
        .assert()
        .code(1)
        .stdout(predicate::str::contains(
            "mine.csv:2: gpu_vram_gb: 640 GB is the whole machine's memory",
        ))
        .stdout(predicate::str::contains("mine.csv:3: spot_price_hour"))
        .stdout(predicate::str::contains("mine.csv:4: source"))
        .stdout(predicate::str::contains("1 rows valid, 3 rejected"));

    // Listed in the config, the good row loads and the bad ones are warned about.
    env.config(&format!(
        "[catalog]\nfiles = [{:?}]\n",
        file.display().to_string()
    ));
    env.ferry()
        .args(["offers", "--provider", "acme"])
        .assert()
        .success()
        .stdout(predicate::str::contains("| acme"))
        .stderr(predicate::str::contains("3 catalog rows were rejected"));
}

#[test]
fn a_spreadsheets_offer_file_is_read_row_by_row_with_the_right_lines() {
    let env = Env::new();
    let file = env.path("sheet.csv");
    let header = "provider,category,offering,region,instance_type,gpu,gpu_count,gpu_vram_gb,vcpus,ram_gb,price_hour,spot_price_hour,currency,egress_per_gb,billing,reliability,queue_wait_h,pricing,source,as_of,notes";
    let row = |instance: &str, as_of: &str| {
        format!(
            "acme,gpu-cloud,x,eu,{instance},H100-SXM,1,80,,,2,,USD,0,per-hour,,,cash,quote,{as_of},"
        )
    };
    // CRLF line ends, a Latin-1 byte in one row, a row from the future (FERRY_TODAY is
    // 2026-11-23 in these tests), and a price of 1e308.
    let mut bytes = Vec::new();
    for line in [
        header.to_string(),
        row("good", "2026-11-01"),
        row("caf\u{1}", "2026-11-01"),
        row("future", "2027-06"),
        row("huge", "2026-11-01").replace(",2,,USD", ",1e308,,USD"),
        row("also-good", "2026-11"),
    ] {
        bytes.extend(line.bytes().map(|b| if b == 1 { 0xE9 } else { b }));
        bytes.extend(b"\r\n");
    }
    std::fs::write(&file, &bytes).unwrap();
    env.ferry()
        .args(["catalog", "check"])
        .arg(&file)
        .assert()
        .code(1)
        .stdout(predicate::str::contains(
            "sheet.csv:3: instance_type: not UTF-8",
        ))
        .stdout(predicate::str::contains(
            "sheet.csv:4: as_of: 2027-06 is after today (2026-11-23)",
        ))
        .stdout(predicate::str::contains(
            "sheet.csv:5: price_hour: 1e308 is not a plausible hourly price",
        ))
        .stdout(predicate::str::contains("2 rows valid, 3 rejected"));
    // In the config, the good rows load and no command fails on the bad bytes.
    env.config(&format!(
        "[catalog]\nfiles = [{:?}]\n",
        file.display().to_string()
    ));
    env.ferry()
        .args(["offers", "--provider", "acme"])
        .assert()
        .success()
        .stdout(predicate::str::contains("also-good"))
        .stderr(predicate::str::contains("3 catalog rows were rejected"));
}

#[test]
fn clear_errors_for_bad_input() {
    let env = Env::new();
    env.ferry()
        .args(["offers", "--gpu", "H10O"])
        .assert()
        .code(1)
        .stderr(
            predicate::str::contains("unknown GPU 'H10O'")
                .and(predicate::str::contains("did you mean")),
        );
    env.ferry()
        .args(["offers", "--vram", "80GB..24GB"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("--vram").and(predicate::str::contains("empty")));
    env.ferry()
        .args(["offers", "--count", "lots"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("--count"));
    env.ferry()
        .args(["offers", "--category", "hybrid"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("unknown category 'hybrid'"));
    env.ferry()
        .args(["offers", "--provider", "nosuch"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("unknown provider 'nosuch'"));
    env.ferry()
        .args(["offers", "--sort", "cheapest"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("unknown sort key"));
    env.ferry()
        .args(["offers", "--min-reliability", "98"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("between 0 and 1"));
    env.ferry()
        .args(["offers", "--spot", "--on-demand"])
        .assert()
        .code(2);

    env.config("[[owned]]\nname = \"box\"\ngpu = \"RTX 4090\"\ngpu_count = 1\npurchase_usd = 2000\nlife = 3\n");
    env.ferry().args(["offers"]).assert().code(1).stderr(
        predicate::str::contains("config.toml:6:1")
            .and(predicate::str::contains("unknown field `life`")),
    );
}

#[test]
fn stale_prices_are_warned_about() {
    let env = Env::new();
    env.ferry()
        .args(["offers", "--provider", "paperspace"])
        .assert()
        .success()
        .stderr(predicate::str::contains("older than 90 days"));
    env.ferry()
        .args([
            "offers",
            "--provider",
            "paperspace",
            "--max-age-days",
            "10000",
        ])
        .assert()
        .success()
        .stderr(predicate::str::contains("older than").not());
    env.config("[catalog]\nmax_age_days = 10000\n");
    env.ferry()
        .args(["offers", "--provider", "paperspace"])
        .assert()
        .success()
        .stderr(predicate::str::contains("older than").not());
}

#[test]
fn gpus_table_and_aliases() {
    let env = Env::new();
    let v: Value = serde_json::from_slice(
        &env.ferry()
            .args(["gpus", "a100", "--json"])
            .output()
            .unwrap()
            .stdout,
    )
    .unwrap();
    assert_eq!(v.as_array().unwrap().len(), 4);
    let v: Value = serde_json::from_slice(
        &env.ferry()
            .args(["gpus", "NVIDIA A100-SXM4-80GB", "--json"])
            .output()
            .unwrap()
            .stdout,
    )
    .unwrap();
    assert_eq!(v[0]["id"], "A100-80GB-SXM");
    env.ferry()
        .args(["gpus", "--csv"])
        .assert()
        .success()
        .stdout(predicate::str::contains(
            "H100-SXM,NVIDIA H100 SXM5 80GB,80",
        ));
}

#[test]
fn config_path_and_show_mask_secrets() {
    let env = Env::new();
    env.ferry()
        .args(["config", "path"])
        .assert()
        .success()
        .stdout(predicate::str::contains(
            env.path("config.toml").display().to_string(),
        ))
        .stderr(predicate::str::contains("no file there yet"));
    env.config("[providers.runpod]\napi_key = \"rp_secret_0123456789\"\n");
    env.ferry()
        .args(["config", "show"])
        .assert()
        .success()
        .stdout(
            predicate::str::contains("****6789").and(predicate::str::contains("rp_secret").not()),
        );
}

#[test]
fn help_teaches_with_examples() {
    let env = Env::new();
    env.ferry()
        .args(["offers", "--help"])
        .assert()
        .success()
        .stdout(
            predicate::str::contains("Examples:")
                .and(predicate::str::contains("--max-price-per-gpu")),
        );
    env.ferry()
        .args(["catalog", "refresh", "--help"])
        .assert()
        .success()
        .stdout(predicate::str::contains("RUNPOD_API_KEY"));
}

#[test]
fn snapshot_of_the_h100_table() {
    let env = Env::new();
    let out = env
        .ferry()
        .args(["offers", "--gpu", "h100", "--count", "8"])
        .output()
        .unwrap();
    insta::assert_snapshot!("offers_h100_x8", String::from_utf8(out.stdout).unwrap());
    let out = env.ferry().args(["gpus"]).output().unwrap();
    insta::assert_snapshot!("gpus", String::from_utf8(out.stdout).unwrap());
}

fn write(path: &Path, text: &str) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn catalog_refresh_updates_caches_and_offers_use_them() {
    use wiremock::matchers::{method, path};
    use wiremock::{Mock, MockServer, ResponseTemplate};
    let fixtures = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../ferry-refresh/tests/fixtures"
    );
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/bundles/"))
        .respond_with(ResponseTemplate::new(200).set_body_string(
            std::fs::read_to_string(format!("{fixtures}/vastai/good.json")).unwrap(),
        ))
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/bad/"))
        .respond_with(ResponseTemplate::new(200).set_body_string(
            std::fs::read_to_string(format!("{fixtures}/vastai/bad_wrong_type.json")).unwrap(),
        ))
        .mount(&server)
        .await;
    let env = Env::new();
    env.config(&format!(
        "[providers.vastai]\nendpoint = \"{}/bundles/\"\n",
        server.uri()
    ));
    let out = env
        .ferry()
        .args([
            "catalog",
            "refresh",
            "--provider",
            "vastai,runpod",
            "--json",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v[0]["result"]["status"], "updated");
    assert_eq!(v[0]["result"]["offers"], 6);
    assert_eq!(
        v[1]["result"]["status"], "skipped",
        "no RunPod key: skipped, not fatal"
    );

    let offers_now = env.json(&["offers", "--provider", "vastai"]);
    assert_eq!(offers(&offers_now).len(), 6);
    assert!(offers(&offers_now).iter().all(
        |o| o["as_of"] == "2026-11-23" && o["origin"].as_str().unwrap().ends_with("vastai.csv")
    ));
    let cache = env.path("cache/offers/vastai.csv");
    let before = std::fs::read_to_string(&cache).unwrap();

    // A malformed answer: the command fails naming provider and field, the cache stays.
    env.config(&format!(
        "[providers.vastai]\nendpoint = \"{}/bad/\"\n",
        server.uri()
    ));
    env.ferry()
        .args(["catalog", "refresh", "--provider", "vastai"])
        .assert()
        .code(1)
        .stdout(predicate::str::contains(
            "vastai: offers[0].dph_base: expected a number",
        ));
    assert_eq!(std::fs::read_to_string(&cache).unwrap(), before);
    write(&env.path("unused/x"), "");
    env.ferry()
        .args(["catalog", "status"])
        .assert()
        .success()
        .stdout(predicate::str::contains("vastai.csv"));
}

fn advise_table(env: &Env, profile: &str) -> String {
    let path = format!(
        "{}/../../examples/profiles/{profile}.toml",
        env!("CARGO_MANIFEST_DIR")
    );
    let out = env
        .ferry()
        .args(["advise", "--profile", &path, "--width", "200"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn advise_snapshots_of_the_four_example_profiles() {
    let env = Env::new();
    for profile in [
        "phd-student",
        "startup-8xh100",
        "burst-team",
        "inference-4xl40s",
    ] {
        let report = advise_table(&env, profile);
        for needle in [
            "initial cost",
            "total over",
            "per useful GPU-hour",
            "Ranking",
            "Recommendation:",
            "Sensitivity",
        ] {
            assert!(report.contains(needle), "{profile}: missing {needle}");
        }
        insta::assert_snapshot!(format!("advise_{profile}"), report);
    }
}

#[test]
fn advise_from_flags_with_json_and_chart() {
    let env = Env::new();
    let svg = env.path("cost.svg");
    let out = env
        .ferry()
        .args([
            "advise",
            "--gpu",
            "h100",
            "--gpus",
            "8",
            "--hours-per-month",
            "400",
            "--months",
            "36",
            "--json",
            "--chart",
        ])
        .arg(&svg)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["estimates"].as_array().unwrap().len(), 6);
    assert_eq!(v["workload"]["horizon_months"], 36);
    assert!(v["ranking"][0]["total"].as_f64().unwrap() > 0.0);
    let text = std::fs::read_to_string(&svg).unwrap();
    assert!(text.starts_with("<svg") && text.contains("Cumulative cost over 36 months"));

    let png = env.path("cost.png");
    env.ferry()
        .args([
            "advise",
            "--gpu",
            "4090",
            "--utilization",
            "40",
            "--site",
            "office",
            "--currency",
            "CAD",
            "--chart",
        ])
        .arg(&png)
        .assert()
        .success()
        .stdout(predicate::str::contains("CA$").and(predicate::str::contains("1 CAD =")));
    let bytes = std::fs::read(&png).unwrap();
    assert!(
        bytes.starts_with(b"\x89PNG") && bytes.len() > 10_000,
        "{} bytes",
        bytes.len()
    );
}

#[test]
fn advise_bad_input_names_the_field() {
    let env = Env::new();
    let fails = |args: &[&str], needle: &str| {
        env.ferry()
            .args(args)
            .assert()
            .code(1)
            .stderr(predicate::str::contains(needle));
    };
    fails(
        &["advise", "--gpu", "h100", "--hours-per-month=-5"],
        "usage.gpu_hours_per_month",
    );
    fails(
        &["advise", "--gpu", "H1OO", "--hours-per-month", "5"],
        "unknown GPU",
    );
    fails(
        &[
            "advise",
            "--gpu",
            "h100",
            "--hours-per-month",
            "5",
            "--months",
            "0",
        ],
        "horizon_months",
    );
    fails(
        &[
            "advise", "--gpu", "h100", "--demand", "1,2,3", "--months", "12",
        ],
        "demand",
    );
    fails(&["advise", "--hours-per-month", "5"], "say which GPU");
    fails(&["advise", "--gpu", "h100"], "say how much");
    fails(
        &[
            "advise",
            "--gpu",
            "h100",
            "--hours-per-month",
            "5",
            "--site",
            "garage",
        ],
        "--site",
    );
    fails(
        &[
            "advise",
            "--gpu",
            "h100",
            "--hours-per-month",
            "5",
            "--chart",
            "x.pdf",
        ],
        ".svg or .png",
    );
    let bad = env.path("bad.toml");
    std::fs::write(&bad, "gpu = \"h100\"\nhorizon_month = 12\n").unwrap();
    fails(&["advise", "--profile", bad.to_str().unwrap()], "line 2");
}

#[test]
fn launch_dry_run_ranks_placements_and_bad_tasks_are_named() {
    let env = Env::new();
    let task = env.path("task.yaml");
    std::fs::write(&task, "name: finetune\nresources:\n  accelerators: A100:8\nestimated_hours: 10\nmax_price: 30\nrun: python train.py\n").unwrap();
    env.ferry()
        .args(["launch", "--dry-run"])
        .arg(&task)
        .assert()
        .success()
        .stdout(
            predicate::str::contains("Task finetune: A100:8; 10 h.")
                .and(predicate::str::contains("backend not configured")),
        );
    let out = env
        .ferry()
        .args(["launch", "--dry-run", "--json"])
        .arg(&task)
        .output()
        .unwrap();
    let plan: Value = serde_json::from_slice(&out.stdout).unwrap();
    let feasible: Vec<f64> = plan["candidates"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["excluded"].as_array().unwrap().is_empty())
        .map(|c| c["price_per_hour"].as_f64().unwrap())
        .collect();
    assert!(!feasible.is_empty() && feasible.iter().all(|p| *p <= 30.0));
    assert!(feasible.windows(2).all(|w| w[0] <= w[1]));

    // Running is not wired yet: said plainly, non-zero.
    env.ferry()
        .arg("launch")
        .arg(&task)
        .assert()
        .code(1)
        .stderr(predicate::str::contains(
            "no configured backend can run this task",
        ));

    std::fs::write(
        &task,
        "name: x\nresources:\n  acelerators: A100:8\nrun: echo\n",
    )
    .unwrap();
    env.ferry()
        .args(["launch", "--dry-run"])
        .arg(&task)
        .assert()
        .code(1)
        .stderr(predicate::str::contains(
            "task.yaml:3:3: acelerators: unknown key; did you mean `accelerators`?",
        ));
    std::fs::write(&task, "workdir: nowhere\nrun: echo\n").unwrap();
    env.ferry()
        .args(["launch", "--dry-run"])
        .arg(&task)
        .assert()
        .code(1)
        .stderr(
            predicate::str::contains("workdir").and(predicate::str::contains("does not exist")),
        );
    std::fs::write(&task, "resources:\n  accelerators: H100:64\nrun: echo\n").unwrap();
    env.ferry()
        .args(["launch", "--dry-run"])
        .arg(&task)
        .assert()
        .code(1)
        .stderr(predicate::str::contains("No placement fits"));
}

#[test]
fn sweep_help_says_what_is_ferrys_and_what_is_never_touched() {
    let env = Env::new();
    env.ferry()
        .args(["sweep", "--help"])
        .assert()
        .success()
        .stdout(
            predicate::str::contains("Untagged instances")
                .and(predicate::str::contains("ferry-<install>-<job>-a<attempt>"))
                .and(predicate::str::contains("never touched"))
                .and(predicate::str::contains("every 5 minutes"))
                .and(predicate::str::contains("--dry-run")),
        );
    env.ferry()
        .args(["status", "--help"])
        .assert()
        .success()
        .stdout(predicate::str::contains("[JOB]"));
    // A typo in a job id is refused before any server is started.
    env.ferry()
        .args(["status", "not-a-job"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("is not a job id"));
    assert!(!env.path("data/server.json").exists());
    env.ferry()
        .args(["cost", "--by", "week"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains(
            "possible values: job, backend, day, kind",
        ));
}

const RENTED: &str = r#"
[providers.runpod]
launch = true

[providers.vastai]
launch = true
api_key = "not-a-real-key"
api_endpoint = "http://127.0.0.1:9"

[providers.lambda]
launch = true
api_key = "not-a-real-key"
api_endpoint = "http://127.0.0.1:9"
"#;

#[test]
fn backends_lists_rented_providers_without_calling_them() {
    let env = Env::new();
    env.config(RENTED);
    let out = env.ferry().arg("backends").output().unwrap();
    assert!(out.status.success(), "{out:?}");
    let text = String::from_utf8_lossy(&out.stdout);
    // No key: said plainly, with the variable to set.
    assert!(text.contains("RUNPOD_API_KEY"), "{text}");
    assert!(
        text.contains("runpod: launch = true but no API key"),
        "{text}"
    );
    let row = |id: &str| {
        text.lines()
            .find(|l| l.starts_with(&format!("| {id} ")))
            .unwrap_or_else(|| panic!("no {id} row in\n{text}"))
            .to_string()
    };
    let vast = row("vastai");
    assert!(
        vast.contains("decentralized")
            && vast.contains("rented")
            && vast.contains("not probed: rented on demand")
            && vast.contains("guard: ends itself 10 min after its job"),
        "{vast}"
    );
    let lambda = row("lambda");
    assert!(
        lambda.contains("gpu-cloud") && lambda.contains("no guard: Lambda Cloud"),
        "{lambda}"
    );
    let probes = env.json(&["backends"]);
    let runpod = probes
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["id"] == "runpod")
        .unwrap();
    assert_eq!(runpod["rented"], true);
    assert!(runpod["reachable"].is_null(), "{runpod}");
}

#[test]
fn launch_dry_run_shows_the_rented_offer() {
    let env = Env::new();
    env.config(
        "[providers.runpod]\nlaunch = true\napi_key = \"not-a-real-key\"\napi_endpoint = \"http://127.0.0.1:9\"\n",
    );
    let task = env.path("task.yaml");
    std::fs::write(
        &task,
        "name: small\nresources:\n  accelerators: RTX4090:1\nestimated_hours: 1\nrun: nvidia-smi\n",
    )
    .unwrap();
    env.ferry()
        .args(["launch", "--dry-run", "--limit", "0"])
        .arg(&task)
        .assert()
        .success()
        .stdout(
            predicate::str::contains("runpod Community Cloud global RTX 4090 (rented)").and(
                predicate::str::contains("Best placement Ferry can run: runpod"),
            ),
        );
}

#[test]
fn launch_dry_run_explains_the_policy_that_chose_the_placement() {
    let env = Env::new();
    // This host declares an RTX 4090 (owned, at its amortised rate); RunPod rents one.
    env.config(
        "[local]\ndeclared_gpus = 1\ndeclared_gpu = \"RTX 4090\"\n\n[scheduler]\npolicy = \"owned-first\"\n\n[providers.runpod]\nlaunch = true\napi_key = \"not-a-real-key\"\napi_endpoint = \"http://127.0.0.1:9\"\n",
    );
    let task = env.path("task.yaml");
    std::fs::write(
        &task,
        "name: small\nresources:\n  accelerators: RTX4090:1\nestimated_hours: 1\nmax_wait: 2h\nrun: nvidia-smi\n",
    )
    .unwrap();
    let plan = env.json(&["launch", "--dry-run", task.to_str().unwrap()]);
    assert_eq!(plan["policy"], "owned-first", "the server's default");
    let chosen = &plan["candidates"][plan["chosen"].as_u64().unwrap() as usize];
    assert_eq!(chosen["backend"], "local", "{chosen}");
    assert!(
        plan["policy_note"]
            .as_str()
            .unwrap()
            .contains("rents only if waiting there more than 2.0 h"),
        "{plan}"
    );
    env.ferry()
        .args(["launch", "--dry-run"])
        .arg(&task)
        .assert()
        .success()
        .stdout(predicate::str::contains(
            "Policy owned-first: local first (owned)",
        ));
    // The task's own policy wins over the server's.
    std::fs::write(
        &task,
        "name: small\nresources:\n  accelerators: RTX4090:1\nestimated_hours: 1\npolicy: cheapest\nrun: nvidia-smi\n",
    )
    .unwrap();
    let plan = env.json(&["launch", "--dry-run", task.to_str().unwrap()]);
    assert_eq!(plan["policy"], "cheapest");
    // A misspelt policy in the config is refused with the choices.
    env.config("[scheduler]\npolicy = \"owned-frist\"\n");
    env.ferry()
        .args(["launch", "--dry-run"])
        .arg(&task)
        .assert()
        .failure()
        .stderr(predicate::str::contains("owned-first"));
}

#[test]
fn launch_dry_run_shows_each_prices_age_and_warns_when_it_is_old() {
    let env = Env::new();
    let task = env.path("task.yaml");
    std::fs::write(
        &task,
        "name: h\nresources:\n  accelerators: H100-SXM:8\n  cloud: aws\nestimated_hours: 1\nrun: x\n",
    )
    .unwrap();
    // The embedded AWS rows are from 2025: old on FERRY_TODAY (2026-11-23).
    env.ferry()
        .args(["launch", "--dry-run"])
        .arg(&task)
        .assert()
        .success()
        .stdout(predicate::str::contains("AS OF").and(predicate::str::contains("2025-")))
        .stderr(predicate::str::contains(
            "placements shown have prices older than",
        ));
    let plan = env.json(&["launch", "--dry-run", task.to_str().unwrap()]);
    let first = &plan["candidates"][0];
    assert!(
        first["as_of"].as_str().unwrap().starts_with("2025-"),
        "{first}"
    );
    // A generous max_age_days: no warning.
    env.config("[catalog]\nmax_age_days = 100000\n");
    env.ferry()
        .args(["launch", "--dry-run"])
        .arg(&task)
        .assert()
        .success()
        .stderr(predicate::str::contains("older than").not());
}

#[test]
fn allocation_json_is_json_even_with_no_allocation() {
    let env = Env::new();
    let none = env.json(&["allocation"]);
    assert_eq!(none, serde_json::json!([]));
    assert!(
        !env.path("data/server.json").exists(),
        "nothing to count: no server started"
    );
}
