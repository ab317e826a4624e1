//! `ferry` renting machines: the real client code of each provider against the fake
//! providers (`ferry-fakecloud`, in this test process), whose instances are the real test
//! sshd, so a job really goes create → SSH → run → terminate → ledger. Faults the fake
//! injects, crashes of the server at each lifecycle step, and the orphan sweep.
//!
//! After every test: no instance is left billing at the fake, and Ferry's ledger equals the
//! fake's own billing record.

mod common;
#[path = "../../ferry-backend/tests/support/mod.rs"]
mod support;

use common::*;
use ferry_fakecloud::{Faults, Shared, SshTarget, World};
use serde_json::Value;
use std::time::{Duration, Instant};

/// The fake providers, served from this process for as long as the value lives.
struct Cloud {
    rt: tokio::runtime::Runtime,
    url: String,
    world: Shared,
}

const KEY: &str = "test-api-key";

fn sshd_port() -> u16 {
    let env = std::fs::read_to_string(support::sshd_dir().join("env.sh")).unwrap();
    env.lines()
        .find_map(|l| l.strip_prefix("export FERRY_SSHD_PORT="))
        .and_then(|p| p.trim().parse().ok())
        .unwrap_or(2222)
}

fn me() -> String {
    let out = std::process::Command::new("id")
        .arg("-un")
        .output()
        .unwrap();
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

fn cloud() -> Cloud {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let mut world = World::new(
        KEY,
        SshTarget {
            host: "127.0.0.1".into(),
            port: sshd_port(),
            user: me(),
        },
    );
    world.authorized_keys = Some(support::sshd_dir().join("authorized_keys"));
    world.provisioning_ms = 300;
    let (url, world) = rt.block_on(ferry_fakecloud::serve(world, 0)).unwrap();
    Cloud { rt, url, world }
}

impl Cloud {
    fn faults(&self, f: Faults) {
        self.world.lock().unwrap().faults = f;
    }

    /// Instances the fake still bills.
    fn billing_now(&self) -> Vec<String> {
        self.world
            .lock()
            .unwrap()
            .bill()
            .into_iter()
            .filter(|b| b.still_billing)
            .map(|b| format!("{} {} {}", b.provider, b.id, b.name))
            .collect()
    }

    /// What the fake billed for the instances of these jobs (by their lease names).
    fn billed_for(&self, jobs: &[String]) -> i64 {
        self.world
            .lock()
            .unwrap()
            .bill()
            .iter()
            .filter(|b| jobs.iter().any(|j| b.name.contains(j.as_str())))
            .map(|b| b.amount_micros.0)
            .sum()
    }

    fn instances_named(&self, name_part: &str) -> usize {
        self.world
            .lock()
            .unwrap()
            .instances
            .iter()
            .filter(|i| i.name.contains(name_part))
            .count()
    }

    fn calls(&self, provider: &str) -> u64 {
        self.world
            .lock()
            .unwrap()
            .calls
            .get(provider)
            .copied()
            .unwrap_or(0)
    }
}

/// A config renting from `providers` at the fake, reached over the test sshd.
fn config(env: &Env, cloud: &Cloud, providers: &[&str], key: &str) {
    let mut text = String::new();
    for p in providers {
        text.push_str(&format!(
            "[providers.{p}]\nlaunch = true\napi_key = \"{key}\"\napi_endpoint = \"{url}/{p}\"\nssh_override = \"{user}@127.0.0.1:{port}\"\n\n",
            url = cloud.url,
            user = me(),
            port = sshd_port()
        ));
    }
    env.config(&text);
}

fn rented_task(env: &Env, name: &str, resources: &str, run: &str) -> std::path::PathBuf {
    task(
        env,
        name,
        &format!(
            "name: {name}\nresources:\n{resources}\ncategories: [gpu-cloud, decentralized]\nrun: |\n  {run}\n"
        ),
    )
}

fn view(env: &Env, id: &str) -> Value {
    let out = env.ferry().args(["status", id, "--json"]).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

fn wait_end(env: &Env, id: &str, secs: u64) -> Value {
    wait_state_for(env, id, secs, terminal)
}

fn logs(env: &Env, id: &str) -> String {
    let out = env.ferry().args(["logs", id]).output().unwrap();
    assert!(out.status.success());
    String::from_utf8(out.stdout).unwrap()
}

/// Nothing left billing at the fake, and Ferry's ledger equals the fake's billing record.
fn settled(env: &Env, cloud: &Cloud) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !cloud.billing_now().is_empty() {
        assert!(
            Instant::now() < deadline,
            "still billing at the fake: {:?}",
            cloud.billing_now()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let (_, total) = ledger_total(env);
    // This test home's jobs only: the fake may serve several homes in one test.
    let ids: Vec<String> = jobs(env)
        .iter()
        .map(|j| j["id"].as_str().unwrap().to_string())
        .collect();
    let billed = cloud.billed_for(&ids);
    // Ferry charges from the create it sent to the listing that showed the machine gone;
    // the fake from the create it received to the moment it was gone. The ledger must
    // match the provider's record to the cent.
    assert!(
        (total - billed).abs() < 10_000,
        "Ferry booked {total} µ$, the provider billed {billed} µ$"
    );
    assert!(
        total >= billed,
        "Ferry booked less than the provider billed"
    );
}

fn attempts(v: &Value) -> &Vec<Value> {
    v["attempts"].as_array().unwrap()
}

#[test]
fn each_provider_runs_a_job_end_to_end_and_bills_it_exactly() {
    let cloud = cloud();
    for (provider, resources) in [
        ("runpod", "  accelerators: RTX4090:1"),
        ("vastai", "  accelerators: RTX4090:1"),
        ("lambda", "  accelerators: A10:1"),
        ("paperspace", "  accelerators: A100-80GB:1"),
    ] {
        let env = Env::new();
        config(&env, &cloud, &[provider], KEY);
        let t = rented_task(
            &env,
            provider,
            resources,
            "echo \"hello from $FERRY_JOB_ID attempt $FERRY_ATTEMPT\"; sleep 1; exit 3",
        );
        let id = launch_detached(&env, &t);
        let j = wait_end(&env, &id, 60);
        assert_eq!(j["state"], "failed", "{provider}: {j}");
        assert_eq!(j["exit_code"], 3, "{provider}");
        let v = view(&env, &id);
        let a = &attempts(&v)[0];
        assert_eq!(a["backend"], provider);
        assert_eq!(a["step"], "ended");
        assert!(a["instance_id"].is_string(), "{a}");
        assert!(a["gone_at_ms"].as_i64() >= a["create_sent_at_ms"].as_i64());
        assert_eq!(
            a["endpoint"]["provider"]["host"], "127.0.0.1",
            "the provider's address is recorded: {a}"
        );
        assert_eq!(
            logs(&env, &id),
            format!("hello from {id} attempt 1\n"),
            "{provider}"
        );
        let cost = env.json(&["cost", "--by", "job"]);
        assert!(cost["total_micros"].as_i64().unwrap() > 0, "{provider}");
        settled(&env, &cloud);
        // The instance carried the lease name; the key never reached the store.
        assert_eq!(cloud.instances_named(&id), 1, "{provider}: one instance");
        let db = std::fs::read(env.path("data/ferry.db")).unwrap();
        assert!(
            !db.windows(KEY.len()).any(|w| w == KEY.as_bytes()),
            "{provider}: the API key is in the store"
        );
    }
}

fn quick(env: &Env, name: &str) -> std::path::PathBuf {
    rented_task(
        env,
        name,
        "  accelerators: RTX4090:1",
        "echo \"ran attempt $FERRY_ATTEMPT\"",
    )
}

#[test]
fn no_capacity_fails_over_to_the_next_offer_and_says_it_cost_more() {
    let cloud = cloud();
    let env = Env::new();
    config(&env, &cloud, &["runpod", "vastai"], KEY);
    // Every RunPod RTX 4090 (Community, then Secure Cloud) is out; Vast.ai has one.
    cloud.faults(Faults {
        no_capacity: vec!["NVIDIA GeForce RTX 4090".into()],
        ..Faults::default()
    });
    let id = launch_detached(&env, &quick(&env, "failover"));
    let j = wait_end(&env, &id, 60);
    assert_eq!(j["state"], "succeeded", "{j}");
    let v = view(&env, &id);
    let tried = attempts(&v);
    assert!(tried.len() >= 2, "{v}");
    let last = tried.last().unwrap();
    assert_eq!(last["backend"], "vastai");
    for a in &tried[..tried.len() - 1] {
        assert_eq!(a["backend"], "runpod");
        assert_eq!(a["cause"]["cause"], "not-created", "{a}");
        assert_eq!(a["cause"]["kind"], "no-capacity", "{a}");
        assert!(a["instance_id"].is_null(), "nothing was made: {a}");
    }
    // Plainly said: the job did not run on the plan's first choice.
    let reason = j["reason"].as_str().unwrap();
    assert!(reason.contains("not the plan's first choice"), "{reason}");
    let text = env.ferry().args(["status", &id]).output().unwrap();
    let text = String::from_utf8_lossy(&text.stdout);
    assert!(
        text.contains("no-capacity") || text.contains("no capacity"),
        "{text}"
    );
    settled(&env, &cloud);
}

#[test]
fn a_lost_create_answer_is_found_by_name_not_created_twice() {
    let cloud = cloud();
    let env = Env::new();
    config(&env, &cloud, &["runpod"], KEY);
    cloud.faults(Faults {
        lose_create_responses: 1,
        ..Faults::default()
    });
    let id = launch_detached(&env, &quick(&env, "lost"));
    let j = wait_end(&env, &id, 60);
    assert_eq!(j["state"], "succeeded", "{j}");
    assert_eq!(cloud.instances_named(&id), 1, "created twice");
    let v = view(&env, &id);
    assert_eq!(attempts(&v).len(), 1);
    let events = v["events"].to_string();
    assert!(events.contains("found instance"), "{events}");
    settled(&env, &cloud);
}

#[test]
fn a_terminate_that_says_ok_too_early_is_repeated_and_charged_until_gone() {
    let cloud = cloud();
    let env = Env::new();
    config(&env, &cloud, &["lambda"], KEY);
    cloud.faults(Faults {
        linger_polls: 4,
        ..Faults::default()
    });
    let t = rented_task(&env, "linger", "  accelerators: A10:1", "echo done");
    let id = launch_detached(&env, &t);
    let j = wait_end(&env, &id, 60);
    assert_eq!(j["state"], "succeeded", "{j}");
    let v = view(&env, &id);
    let a = &attempts(&v)[0];
    let terminate_sent = a["terminate_sent_at_ms"].as_i64().unwrap();
    let gone = a["gone_at_ms"].as_i64().unwrap();
    assert!(
        gone > terminate_sent,
        "the end is the listing that showed it gone, not the terminate's answer: {a}"
    );
    // Lambda bills whole minutes: the overhead entry carries the rounding.
    settled(&env, &cloud);
}

#[test]
fn a_preempted_spot_instance_goes_back_to_the_queue_and_each_attempt_is_charged() {
    let cloud = cloud();
    let env = Env::new();
    let offers = env.path("spot.csv");
    std::fs::write(
        &offers,
        "provider,category,offering,region,instance_type,gpu,gpu_count,gpu_vram_gb,vcpus,ram_gb,price_hour,spot_price_hour,currency,egress_per_gb,billing,reliability,queue_wait_h,pricing,source,as_of,notes\n\
         vastai,decentralized,Interruptible,DE (EU),1x RTX 4090,RTX-4090,1,24,16,64,0.45,0.22,USD,,per-second,0.99,,cash,https://vast.ai/pricing (test row),2026-11-20,\n",
    )
    .unwrap();
    config(&env, &cloud, &["vastai"], KEY);
    let cfg = std::fs::read_to_string(env.path("config.toml")).unwrap();
    env.config(&format!(
        "[catalog]\nfiles = [\"{}\"]\n\n{cfg}",
        offers.display()
    ));
    let t = task(
        &env,
        "spot",
        "name: spot\nresources:\n  accelerators: RTX4090:1\n  use_spot: true\n  job_recovery:\n    max_restarts: 2\ncategories: [decentralized]\nrun: |\n  echo \"attempt $FERRY_ATTEMPT\"\n  if [ \"$FERRY_ATTEMPT\" = 1 ]; then sleep 120; fi\n",
    );
    let id = launch_detached(&env, &t);
    wait_state_for(&env, &id, 60, |s| s == "running");
    let v = view(&env, &id);
    let instance = attempts(&v)[0]["instance_id"].as_str().unwrap().to_string();
    assert!(cloud.world.lock().unwrap().preempt(&instance, false));
    let j = wait_end(&env, &id, 90);
    assert_eq!(j["state"], "succeeded", "{j}");
    let v = view(&env, &id);
    let tried = attempts(&v);
    assert_eq!(tried.len(), 2, "{v}");
    assert_eq!(tried[0]["cause"]["cause"], "preempted");
    assert_eq!(tried[1]["cause"]["cause"], "exited");
    assert!(logs(&env, &id).contains("attempt 2"));
    let ledger: Vec<Value> = ledger_entries(&cloud, &env, &id);
    for n in [1, 2] {
        assert!(
            ledger
                .iter()
                .any(|e| e["attempt"] == n && e["kind"] == "compute"),
            "attempt {n} has its own charge: {ledger:?}"
        );
    }
    settled(&env, &cloud);
}

/// The ledger's entries for one job, as the server's API gives them (`GET /v1/ledger`).
fn ledger_entries(cloud: &Cloud, env: &Env, id: &str) -> Vec<Value> {
    let data: Value =
        serde_json::from_str(&std::fs::read_to_string(env.path("data/server.json")).unwrap())
            .unwrap();
    let token = std::fs::read_to_string(env.path("data/server.token")).unwrap();
    let url = format!("http://{}/v1/ledger", data["addr"].as_str().unwrap());
    let all: Vec<Value> = cloud.rt.block_on(async {
        reqwest::Client::new()
            .get(url)
            .bearer_auth(token.trim())
            .send()
            .await
            .unwrap()
            .error_for_status()
            .unwrap()
            .json()
            .await
            .unwrap()
    });
    all.into_iter().filter(|e| e["job_id"] == id).collect()
}

#[test]
fn server_errors_rate_limits_and_malformed_answers_are_survived() {
    let cloud = cloud();
    let env = Env::new();
    config(&env, &cloud, &["runpod"], KEY);
    cloud.faults(Faults {
        server_errors: 2,
        rate_limits: 1,
        retry_after_s: 1,
        malformed_lists: 2,
        ..Faults::default()
    });
    let id = launch_detached(&env, &quick(&env, "flaky"));
    let j = wait_end(&env, &id, 60);
    assert_eq!(j["state"], "succeeded", "{j}");
    let log = std::fs::read_to_string(env.path("data/server.log")).unwrap();
    assert!(
        log.contains("runpod: ") && log.contains("pods"),
        "a malformed answer names the provider and the field: {log}"
    );
    settled(&env, &cloud);
}

#[test]
fn a_wrong_api_key_fails_the_job_naming_the_provider_without_retrying_in_a_loop() {
    let cloud = cloud();
    let env = Env::new();
    config(&env, &cloud, &["runpod"], "not-the-key");
    let id = launch_detached(&env, &quick(&env, "badkey"));
    let j = wait_end(&env, &id, 30);
    assert_eq!(j["state"], "failed", "{j}");
    let reason = j["reason"].as_str().unwrap();
    assert!(
        reason.contains("runpod") && reason.contains("API key"),
        "{reason}"
    );
    std::thread::sleep(Duration::from_secs(2));
    let calls = cloud.calls("runpod");
    assert!(calls <= 4, "{calls} calls with a refused key");
    assert!(cloud.billing_now().is_empty());
}

/// The server dies at each step of the lifecycle (as `kill -9` would leave it); after a
/// restart the job finishes, no instance is left billing, none was created twice, and the
/// ledger equals the provider's billing record.
#[test]
fn a_server_crash_at_each_lifecycle_step_loses_nothing() {
    let cloud = cloud();
    for point in CRASH_POINTS {
        let env = Env::new();
        config(&env, &cloud, &["runpod"], KEY);
        let t = rented_task(
            &env,
            point,
            "  accelerators: RTX4090:1",
            "sleep 1; echo survived",
        );
        crash_then_recover(&env, &cloud, point, &t);
    }
}

/// The lifecycle steps the server can be told to die at (`FERRY_CRASH_AT`).
const CRASH_POINTS: [&str; 4] = ["after-create", "waiting-ssh", "running", "terminating"];

/// Launches `task` (which echoes `survived`) with the server set to die at `point`, waits
/// for it to die there, and lets a fresh server recover: the job succeeds on one instance,
/// and the ledger equals the fake's billing record.
fn crash_then_recover(env: &Env, cloud: &Cloud, point: &str, task: &std::path::Path) {
    // The submission is durable before the server's first pass; a crash in that pass
    // cuts the launch's answer short (as a kill -9 would), so the id is read after.
    let _ = env
        .ferry()
        .env("FERRY_CRASH_AT", point)
        .args(["launch", "--detach"])
        .arg(task)
        .output()
        .unwrap();
    // Wait for the server to die at the point.
    let info: Value =
        serde_json::from_str(&std::fs::read_to_string(env.path("data/server.json")).unwrap())
            .unwrap();
    let pid = info["pid"].as_i64().unwrap() as i32;
    let deadline = Instant::now() + Duration::from_secs(60);
    while std::path::Path::new(&format!("/proc/{pid}")).exists()
        && !std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .unwrap_or_default()
            .contains(") Z")
    {
        assert!(Instant::now() < deadline, "{point}: the server did not die");
        std::thread::sleep(Duration::from_millis(50));
    }
    let log = std::fs::read_to_string(env.path("data/server.log")).unwrap();
    assert!(
        log.contains(&format!("FERRY_CRASH_AT={point}")),
        "{point}: {log}"
    );
    // Any command starts a fresh server, which recovers.
    let id = jobs(env)[0]["id"].as_str().unwrap().to_string();
    let j = wait_end(env, &id, 90);
    assert_eq!(j["state"], "succeeded", "{point}: {j}");
    assert_eq!(cloud.instances_named(&id), 1, "{point}: created twice");
    assert_eq!(logs(env, &id), "survived\n", "{point}");
    settled(env, cloud);
}

#[test]
fn kill_9_while_a_rented_job_runs() {
    let cloud = cloud();
    let env = Env::new();
    config(&env, &cloud, &["vastai"], KEY);
    let t = rented_task(&env, "k9", "  accelerators: RTX4090:1", "sleep 3; echo ok");
    let id = launch_detached(&env, &t);
    wait_state_for(&env, &id, 60, |s| s == "running");
    kill_9_server(&env);
    let j = wait_end(&env, &id, 60);
    assert_eq!(j["state"], "succeeded", "{j}");
    assert_eq!(logs(&env, &id), "ok\n");
    settled(&env, &cloud);
}

#[test]
fn the_sweep_ends_orphans_with_ferrys_tag_and_leaves_the_rest_alone() {
    let cloud = cloud();
    let env = Env::new();
    config(&env, &cloud, &["runpod"], KEY);
    // A first job gives this install its mark (in every lease name).
    let id = launch_detached(&env, &quick(&env, "first"));
    wait_end(&env, &id, 60);
    let lease = attempts(&view(&env, &id))[0]["lease"]
        .as_str()
        .unwrap()
        .to_string();
    let mark = lease.split('-').nth(1).unwrap().to_string();
    // Instances made behind Ferry's back, straight in the fake's world.
    let plant = |name: &str| {
        cloud
            .world
            .lock()
            .unwrap()
            .create(ferry_fakecloud::world::NewInstance {
                provider: "runpod",
                name: name.to_string(),
                instance_type: "NVIDIA A40".into(),
                region: "planted".into(),
                gpu_count: 1,
                price_per_hour: 0.5,
                spot: false,
                billing: ferry_cloud::Billing::PER_SECOND,
                storage_per_hour: 0.0,
                public_key: None,
                env: Default::default(),
            })
            .unwrap()
            .id
    };
    let orphan = plant(&format!("ferry-{mark}-j-00000000000000a1-a1"));
    let untagged = plant("my-notebook");
    let other_install = plant("ferry-deadbeef-j-00000000000000a1-a1");
    let dry = env.json(&["sweep", "--dry-run"]);
    let verdict = |v: &Value, id: &str| {
        v.as_array()
            .unwrap()
            .iter()
            .find(|f| f["instance"] == id)
            .map(|f| f["verdict"].as_str().unwrap().to_string())
    };
    assert_eq!(verdict(&dry, &orphan).as_deref(), Some("orphan"));
    assert_eq!(verdict(&dry, &untagged).as_deref(), Some("not-ours"));
    assert_eq!(verdict(&dry, &other_install).as_deref(), Some("not-ours"));
    assert_eq!(cloud.billing_now().len(), 3, "a dry run touches nothing");
    let done = env.json(&["sweep"]);
    assert_eq!(verdict(&done, &orphan).as_deref(), Some("orphan"));
    let still: Vec<String> = cloud.billing_now();
    assert_eq!(still.len(), 2, "{still:?}");
    assert!(still.iter().all(|s| !s.contains(&orphan)));
    // A server start sweeps too.
    let again = plant(&format!("ferry-{mark}-j-00000000000000a2-a1"));
    env.ferry().args(["server", "stop"]).assert().success();
    env.ferry().args(["status"]).assert().success();
    let deadline = Instant::now() + Duration::from_secs(10);
    while cloud.billing_now().iter().any(|s| s.contains(&again)) {
        assert!(
            Instant::now() < deadline,
            "the start-up sweep missed {again}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let mut w = cloud.world.lock().unwrap();
    w.terminate("runpod", &untagged);
    w.terminate("runpod", &other_install);
}

#[test]
fn retry_until_up_tries_the_plan_again_until_capacity_appears() {
    let cloud = cloud();
    let env = Env::new();
    config(&env, &cloud, &["runpod"], KEY);
    cloud.faults(Faults {
        no_capacity: vec!["*".into()],
        ..Faults::default()
    });
    let t = quick(&env, "patient");
    let out = env
        .ferry()
        .args(["launch", "--detach", "--retry-until-up", "5m"])
        .arg(&t)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let id = String::from_utf8(out.stdout).unwrap().trim().to_string();
    // Both RunPod offers (Community, Secure Cloud) refused: the job waits for a new round
    // instead of failing.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let v = view(&env, &id);
        if attempts(&v).len() >= 2 {
            assert!(!terminal(v["state"].as_str().unwrap()), "{v}");
            break;
        }
        assert!(Instant::now() < deadline, "{v}");
        std::thread::sleep(Duration::from_millis(200));
    }
    cloud.faults(Faults::default());
    let j = wait_end(&env, &id, 60);
    assert_eq!(j["state"], "succeeded", "{j}");
    let v = view(&env, &id);
    let tried = attempts(&v);
    assert!(tried.len() >= 3, "{v}");
    assert_eq!(tried.last().unwrap()["offer"]["round"], 1, "{v}");
    settled(&env, &cloud);
}

/// The Google Cloud and Azure account of the fake, as a user would write it: a
/// service-account key file for Google, a service principal for Azure, each with its token
/// endpoint.
fn hyperscaler_config(env: &Env, cloud: &Cloud, provider: &str, secret: &str) {
    let reach = format!("ssh_override = \"{}@127.0.0.1:{}\"\n", me(), sshd_port());
    let text = match provider {
        "gcp" => format!(
            "[providers.gcp]\nlaunch = true\ncredentials_file = \"{key}\"\ntoken_endpoint = \"{url}/gcp/token\"\napi_endpoint = \"{url}/gcp/compute/v1\"\n{reach}",
            key = concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/../ferry-cloud/fixtures/gcp/service-account.json"
            ),
            url = cloud.url
        ),
        "azure" => format!(
            "[providers.azure]\nlaunch = true\ntenant_id = \"{AZ_TENANT}\"\nclient_id = \"6f1c2a3b-0000-4000-8000-00000000c11e\"\nclient_secret = \"{secret}\"\nsubscription_id = \"0b1c2d3e-0000-4000-8000-000000005ab5\"\ntoken_endpoint = \"{url}/azure/token/{AZ_TENANT}/oauth2/v2.0/token\"\napi_endpoint = \"{url}/azure\"\n{reach}",
            url = cloud.url
        ),
        other => panic!("not a hyperscaler: {other}"),
    };
    env.config(&text);
}

const AZ_TENANT: &str = "72f988bf-0000-4000-8000-00000000ae11";

fn hyperscaler_task(
    env: &Env,
    name: &str,
    accelerators: &str,
    extra: &str,
    run: &str,
) -> std::path::PathBuf {
    task(
        env,
        name,
        &format!(
            "name: {name}\nresources:\n  accelerators: {accelerators}\ncategories: [hyperscaler]\n{extra}run: |\n  {run}\n"
        ),
    )
}

/// The ledger's total per kind for this home.
fn by_kind(env: &Env) -> std::collections::BTreeMap<String, i64> {
    let cost = env.json(&["cost", "--by", "kind"]);
    cost["groups"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| {
            (
                g["kind"].as_str().unwrap().to_string(),
                g["amount_micros"].as_i64().unwrap(),
            )
        })
        .collect()
}

#[test]
fn google_cloud_and_azure_run_a_job_end_to_end_with_storage_and_egress_billed_exactly() {
    let cloud = cloud();
    // (provider, GPU, the catalog's egress price per GB for it, what the id looks like)
    for (provider, gpu, egress_per_gb) in [("gcp", "L4:1", 0.12), ("azure", "T4:1", 0.087)] {
        let env = Env::new();
        hyperscaler_config(&env, &cloud, provider, KEY);
        let t = hyperscaler_task(
            &env,
            provider,
            gpu,
            "outputs_gb: 10\n",
            "echo \"hello from $FERRY_JOB_ID on $FERRY_ATTEMPT\"; sleep 1",
        );
        let plan = env.json(&["launch", t.to_str().unwrap(), "--dry-run"]);
        let chosen = &plan["candidates"][plan["chosen"].as_u64().unwrap() as usize];
        assert_eq!(chosen["provider"], provider, "{chosen}");
        assert!(
            (chosen["egress_usd"].as_f64().unwrap() - 10.0 * egress_per_gb).abs() < 1e-9,
            "{chosen}"
        );
        let calls_before = cloud.calls(provider);
        let id = launch_detached(&env, &t);
        let j = wait_end(&env, &id, 90);
        assert_eq!(j["state"], "succeeded", "{provider}: {j}");
        assert_eq!(
            logs(&env, &id),
            format!("hello from {id} on 1\n"),
            "{provider}"
        );
        let v = view(&env, &id);
        let a = &attempts(&v)[0];
        assert_eq!(a["backend"], provider, "{a}");
        assert_eq!(a["step"], "ended", "{a}");
        let instance = a["instance_id"].as_str().unwrap();
        assert!(instance.contains(a["lease"].as_str().unwrap()), "{a}");
        if provider == "gcp" {
            // Compute Engine addresses an instance by zone and name.
            assert!(
                instance
                    .split_once('/')
                    .is_some_and(|(zone, _)| zone.contains('-')),
                "{a}"
            );
        }
        assert_eq!(a["endpoint"]["provider"]["host"], "127.0.0.1", "{a}");
        assert!(cloud.calls(provider) > calls_before);
        // One token for the whole job, not one per call.
        let tokens = cloud.calls(&format!("{provider}-token"));
        assert!(
            (1..=2).contains(&tokens),
            "{provider}: {tokens} token requests"
        );

        // compute and overhead are the machine, storage its disk, egress the declared 10 GB.
        let kinds = by_kind(&env);
        assert!(kinds["compute"] > 0, "{kinds:?}");
        assert!(
            kinds.get("storage").is_some_and(|s| *s > 0),
            "{provider}: {kinds:?}"
        );
        let egress = (10.0 * egress_per_gb * 1e6).round() as i64;
        assert_eq!(kinds.get("egress"), Some(&egress), "{provider}: {kinds:?}");
        let text = String::from_utf8(env.ferry().args(["cost"]).output().unwrap().stdout).unwrap();
        assert!(
            text.contains("EGRESS") && text.contains("STORAGE"),
            "{text}"
        );

        // The fake bills the machine and its disk at the public list price: the ledger less
        // the egress (which the fake does not meter) equals it to the cent.
        let deadline = Instant::now() + Duration::from_secs(20);
        while !cloud.billing_now().is_empty() {
            assert!(
                Instant::now() < deadline,
                "still billing: {:?}",
                cloud.billing_now()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        let (_, total) = ledger_total(&env);
        let billed = cloud.billed_for(std::slice::from_ref(&id));
        let machine = total - egress;
        assert!(
            machine >= billed && machine - billed < 10_000,
            "{provider}: Ferry booked {machine} µ$ for the machine and its disk, the fake billed {billed} µ$"
        );
        assert_eq!(cloud.instances_named(&id), 1, "{provider}: one instance");
        let db = std::fs::read(env.path("data/ferry.db")).unwrap();
        for secret in [KEY, "PRIVATE KEY"] {
            assert!(
                !db.windows(secret.len()).any(|w| w == secret.as_bytes()),
                "{provider}: a secret is in the store"
            );
        }
    }
}

#[test]
fn google_cloud_and_azure_quotas_refuse_a_placement_before_anything_is_made() {
    let cloud = cloud();
    cloud.faults(Faults {
        gpu_quota: Some(0),
        vcpu_quota: Some(0),
        ..Faults::default()
    });
    // (provider, GPU, words the refusal must carry: the quota's name)
    for (provider, gpu, quota) in [
        ("gcp", "L4:1", "NVIDIA_L4_GPUS"),
        ("azure", "T4:1", "vCPUs"),
    ] {
        let env = Env::new();
        hyperscaler_config(&env, &cloud, provider, KEY);
        let t = hyperscaler_task(&env, provider, gpu, "", "echo never");
        let id = launch_detached(&env, &t);
        let j = wait_end(&env, &id, 60);
        assert_eq!(j["state"], "failed", "{provider}: {j}");
        let v = view(&env, &id);
        assert!(!attempts(&v).is_empty());
        for a in attempts(&v) {
            assert_eq!(a["cause"]["kind"], "quota", "{provider}: {a}");
            assert!(a["instance_id"].is_null(), "nothing was made: {a}");
            let e = a["error"].as_str().unwrap_or_default();
            assert!(e.contains(quota) && e.contains(" 0 "), "{provider}: {e}");
        }
        assert_eq!(cloud.instances_named(&id), 0, "{provider}");
    }
}

#[test]
fn a_wrong_service_principal_secret_fails_the_job_naming_azure_without_a_retry_loop() {
    let cloud = cloud();
    let env = Env::new();
    hyperscaler_config(&env, &cloud, "azure", "not-the-secret");
    let t = hyperscaler_task(&env, "azure", "T4:1", "", "echo never");
    let id = launch_detached(&env, &t);
    let j = wait_end(&env, &id, 60);
    assert_eq!(j["state"], "failed", "{j}");
    let reason = j["reason"].as_str().unwrap();
    assert!(
        reason.contains("azure") && reason.contains("AADSTS7000215"),
        "Entra ID's own words: {reason}"
    );
    let v = view(&env, &id);
    let a = &attempts(&v)[0];
    assert_eq!(a["cause"]["kind"], "auth", "{a}");
    let shown = format!("{v}");
    assert!(
        !shown.contains("not-the-secret"),
        "the secret is never shown: {shown}"
    );
    std::thread::sleep(Duration::from_secs(2));
    let tokens = cloud.calls("azure-token");
    assert!(tokens <= 4, "{tokens} token requests with a refused secret");
    assert_eq!(cloud.calls("azure"), 0, "no API call without a token");
}

/// The fake's own id of the instance a job's attempt runs on (found by the lease name, which
/// the provider's id contains or is).
fn world_id_of(cloud: &Cloud, job: &str, attempt: u32) -> String {
    let suffix = format!("-a{attempt}");
    cloud
        .world
        .lock()
        .unwrap()
        .instances
        .iter()
        .find(|i| i.name.contains(job) && i.name.ends_with(&suffix))
        .map(|i| i.id.clone())
        .unwrap_or_else(|| panic!("no instance of {job} attempt {attempt}"))
}

#[test]
fn an_evicted_spot_vm_on_google_cloud_or_azure_goes_back_to_the_queue() {
    let cloud = cloud();
    for (provider, gpu) in [("gcp", "L4:1"), ("azure", "T4:1")] {
        let env = Env::new();
        hyperscaler_config(&env, &cloud, provider, KEY);
        let t = hyperscaler_task(
            &env,
            provider,
            gpu,
            "",
            "echo \"attempt $FERRY_ATTEMPT\"\n  if [ \"$FERRY_ATTEMPT\" = 1 ]; then sleep 120; fi",
        );
        let text = std::fs::read_to_string(&t).unwrap().replace(
            &format!("  accelerators: {gpu}\n"),
            &format!(
                "  accelerators: {gpu}\n  use_spot: true\n  job_recovery:\n    max_restarts: 2\n"
            ),
        );
        std::fs::write(&t, text).unwrap();
        let id = launch_detached(&env, &t);
        wait_state_for(&env, &id, 60, |s| s == "running");
        {
            let w = cloud.world.lock().unwrap();
            let made = w.instances.iter().find(|i| i.name.contains(&id)).unwrap();
            assert!(made.spot, "{provider}: created as spot: {made:?}");
        }
        // Google's instanceTerminationAction and Azure's evictionPolicy are both Delete: the
        // machine vanishes.
        let first = world_id_of(&cloud, &id, 1);
        assert!(cloud.world.lock().unwrap().preempt(&first, false));
        let j = wait_end(&env, &id, 90);
        assert_eq!(j["state"], "succeeded", "{provider}: {j}");
        let v = view(&env, &id);
        let tried = attempts(&v);
        assert_eq!(tried.len(), 2, "{provider}: {v}");
        assert_eq!(tried[0]["cause"]["cause"], "preempted", "{provider}");
        assert_eq!(tried[1]["cause"]["cause"], "exited", "{provider}");
        assert!(logs(&env, &id).contains("attempt 2"), "{provider}");
        settled(&env, &cloud);
    }
}

#[test]
fn the_sweep_ends_a_google_cloud_orphan_and_leaves_the_rest_alone() {
    let cloud = cloud();
    let env = Env::new();
    hyperscaler_config(&env, &cloud, "gcp", KEY);
    let id = launch_detached(&env, &hyperscaler_task(&env, "first", "L4:1", "", "true"));
    wait_end(&env, &id, 60);
    let lease = attempts(&view(&env, &id))[0]["lease"]
        .as_str()
        .unwrap()
        .to_string();
    let mark = lease.split('-').nth(1).unwrap().to_string();
    let plant = |name: &str| {
        cloud
            .world
            .lock()
            .unwrap()
            .create(ferry_fakecloud::world::NewInstance {
                provider: "gcp",
                name: name.to_string(),
                instance_type: "g2-standard-4".into(),
                region: "us-central1".into(),
                gpu_count: 1,
                price_per_hour: 0.7,
                spot: false,
                billing: ferry_cloud::Billing::PER_SECOND,
                storage_per_hour: 0.0,
                public_key: None,
                env: Default::default(),
            })
            .unwrap()
            .name
    };
    let orphan = plant(&format!("ferry-{mark}-j-00000000000000a1-a1"));
    let theirs = plant("my-notebook");
    let done = env.json(&["sweep"]);
    let verdict = |name: &str| {
        done.as_array()
            .unwrap()
            .iter()
            .find(|f| f["instance"].as_str().is_some_and(|i| i.ends_with(name)))
            .map(|f| f["verdict"].as_str().unwrap().to_string())
    };
    assert_eq!(verdict(&orphan).as_deref(), Some("orphan"), "{done}");
    assert_eq!(verdict(&theirs).as_deref(), Some("not-ours"), "{done}");
    let still = cloud.billing_now();
    assert_eq!(still.len(), 1, "{still:?}");
    assert!(still[0].contains("my-notebook"), "{still:?}");
    let mut w = cloud.world.lock().unwrap();
    let theirs_id = w
        .instances
        .iter()
        .find(|i| i.name == theirs)
        .unwrap()
        .id
        .clone();
    w.terminate("gcp", &theirs_id);
}

#[test]
fn a_server_crash_at_each_lifecycle_step_loses_nothing_on_google_cloud_and_azure() {
    let cloud = cloud();
    for (provider, gpu) in [("gcp", "L4:1"), ("azure", "T4:1")] {
        for point in CRASH_POINTS {
            let env = Env::new();
            hyperscaler_config(&env, &cloud, provider, KEY);
            let t = hyperscaler_task(&env, point, gpu, "", "sleep 1; echo survived");
            crash_then_recover(&env, &cloud, point, &t);
        }
    }
}
