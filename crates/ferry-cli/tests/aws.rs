//! `ferry` renting from AWS EC2: the official AWS SDK for Rust inside the real binary,
//! against moto (`scripts/services/moto-up.sh`, `FERRY_TEST_MOTO_URL`). moto's instances
//! have no SSH of their own: the config's `ssh_override` sends Ferry to the test sshd, and
//! the test installs Ferry's key there, as the AMI would from the key pair. The vCPU quotas
//! come from ferry-fakecloud's `/aws-quotas` (moto's Service Quotas does not know EC2).
//!
//! Every test home has its own install mark, so the tests share moto's us-east-1 without
//! seeing each other's instances as their own.

#![cfg(feature = "aws")]

mod common;
#[path = "../../ferry-backend/tests/support/mod.rs"]
mod support;

use common::*;
use ferry_cloud_aws::aws_sdk_ec2;
use ferry_cloud_aws::aws_sdk_ec2::types::{Filter, InstanceStateName, ResourceType, Tag};
use ferry_fakecloud::{Shared, SshTarget, World};
use serde_json::Value;
use std::time::{Duration, Instant};

const REGION: &str = "us-east-1";

fn moto() -> String {
    std::env::var("FERRY_TEST_MOTO_URL")
        .expect("FERRY_TEST_MOTO_URL: start scripts/services/moto-up.sh DIR and source DIR/env.sh")
}

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

/// moto, seen through the SDK, and the fake that answers the quotas.
struct Aws {
    rt: tokio::runtime::Runtime,
    ec2: aws_sdk_ec2::Client,
    quotas_url: String,
    fake: Shared,
}

fn aws() -> Aws {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let world = World::new(
        "unused",
        SshTarget {
            host: "127.0.0.1".into(),
            port: sshd_port(),
            user: me(),
        },
    );
    let (url, fake) = rt.block_on(ferry_fakecloud::serve(world, 0)).unwrap();
    let creds =
        aws_sdk_ec2::config::Credentials::new("AKIAFERRYTEST", "secret", None, None, "test");
    let conf = aws_sdk_ec2::Config::builder()
        .behavior_version(aws_sdk_ec2::config::BehaviorVersion::latest())
        .region(aws_sdk_ec2::config::Region::new(REGION))
        .credentials_provider(creds)
        .endpoint_url(moto())
        .build();
    Aws {
        rt,
        ec2: aws_sdk_ec2::Client::from_conf(conf),
        quotas_url: format!("{url}/aws-quotas"),
        fake,
    }
}

impl Aws {
    /// A test home renting from AWS at moto, with a profile in its own credentials file
    /// and Ferry's key already accepted by the test sshd.
    fn env(&self) -> Env {
        let env = Env::new();
        std::fs::create_dir_all(env.path("aws")).unwrap();
        std::fs::write(
            env.path("aws/credentials"),
            "[ferry-moto]\naws_access_key_id = AKIAFERRYTEST\naws_secret_access_key = not-a-secret\n",
        )
        .unwrap();
        std::fs::write(
            env.path("aws/config"),
            "[profile ferry-moto]\nregion = us-east-1\n",
        )
        .unwrap();
        env.config(&format!(
            "[providers.aws]\nlaunch = true\nprofile = \"ferry-moto\"\napi_endpoint = \"{moto}\"\nquotas_endpoint = \"{q}\"\nregions = [\"{REGION}\"]\nssh_override = \"{user}@127.0.0.1:{port}\"\n",
            moto = moto(),
            q = self.quotas_url,
            user = me(),
            port = sshd_port()
        ));
        let keys = ferry_cloud::keys::ensure(&env.path("data/keys")).unwrap();
        let mut authorized = std::fs::OpenOptions::new()
            .append(true)
            .open(support::sshd_dir().join("authorized_keys"))
            .unwrap();
        use std::io::Write;
        writeln!(authorized, "{}", keys.public.trim()).unwrap();
        env
    }

    fn quota(&self, code: &str, vcpus: f64) {
        self.fake
            .lock()
            .unwrap()
            .faults
            .aws_quotas
            .insert(code.into(), vcpus);
    }

    /// moto's instances carrying this job's tag.
    fn instances_of(&self, job: &str) -> Vec<aws_sdk_ec2::types::Instance> {
        self.rt.block_on(async {
            let out = self
                .ec2
                .describe_instances()
                .filters(Filter::builder().name("tag:ferry:job").values(job).build())
                .send()
                .await
                .unwrap();
            out.reservations()
                .iter()
                .flat_map(|r| r.instances().iter().cloned())
                .collect()
        })
    }

    fn state(i: &aws_sdk_ec2::types::Instance) -> InstanceStateName {
        i.state().and_then(|s| s.name()).cloned().unwrap()
    }

    /// Every instance of the job is terminated at moto, within a few seconds.
    fn all_terminated(&self, job: &str) {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let live: Vec<_> = self
                .instances_of(job)
                .into_iter()
                .filter(|i| Aws::state(i) != InstanceStateName::Terminated)
                .collect();
            if live.is_empty() {
                return;
            }
            assert!(Instant::now() < deadline, "still live at moto: {live:?}");
            std::thread::sleep(Duration::from_millis(200));
        }
    }
}

fn task_file(env: &Env, name: &str, extra: &str, run: &str) -> std::path::PathBuf {
    task(
        env,
        name,
        &format!(
            "name: {name}\nresources:\n  accelerators: T4:1\n{extra}categories: [hyperscaler]\nrun: |\n  {run}\n"
        ),
    )
}

fn view(env: &Env, id: &str) -> Value {
    env.json(&["status", id])
}

fn attempts(v: &Value) -> Vec<Value> {
    v["attempts"].as_array().unwrap().clone()
}

fn logs(env: &Env, id: &str) -> String {
    let out = env.ferry().args(["logs", id]).output().unwrap();
    assert!(out.status.success());
    String::from_utf8(out.stdout).unwrap()
}

/// `User initiated (2026-12-02 23:40:12 UTC)`, moto's (and EC2's, in GMT) `StateTransitionReason`,
/// as Unix seconds.
fn moto_time(reason: &str) -> Option<i64> {
    let open = reason.find('(')?;
    let inner = reason[open + 1..].trim_end_matches(')');
    let inner = inner.trim_end_matches(" GMT").trim_end_matches(" UTC");
    let (date, time) = inner.split_once(' ')?;
    let d: Vec<i64> = date
        .split('-')
        .map(|x| x.parse().ok())
        .collect::<Option<_>>()?;
    let t: Vec<i64> = time
        .split(':')
        .map(|x| x.parse().ok())
        .collect::<Option<_>>()?;
    let days = ferry_catalog::Date::ymd(d[0] as i32, d[1] as u8, d[2] as u8).days_since_epoch();
    Some(days * 86_400 + t[0] * 3600 + t[1] * 60 + t[2])
}

#[test]
fn a_job_runs_on_ec2_and_the_ledger_shows_compute_storage_and_egress() {
    let aws = aws();
    let env = aws.env();
    let t = task_file(
        &env,
        "ec2",
        "outputs_gb: 20\n",
        "echo \"on ec2 as $FERRY_JOB_ID\"; sleep 1",
    );
    // The plan prices the declared egress before anything runs: 20 GB at $0.09/GB.
    let plan = env.json(&["launch", t.to_str().unwrap(), "--dry-run"]);
    let chosen = &plan["candidates"][plan["chosen"].as_u64().unwrap() as usize];
    assert_eq!(chosen["provider"], "aws", "{chosen}");
    assert!(
        (chosen["egress_usd"].as_f64().unwrap() - 1.8).abs() < 1e-9,
        "{chosen}"
    );
    let id = launch_detached(&env, &t);
    let j = wait_state_for(&env, &id, 90, terminal);
    assert_eq!(j["state"], "succeeded", "{j}");
    assert_eq!(logs(&env, &id), format!("on ec2 as {id}\n"));
    let v = view(&env, &id);
    let a = &attempts(&v)[0];
    assert_eq!(a["backend"], "aws");
    let instance = a["instance_id"].as_str().unwrap();
    assert!(instance.starts_with("us-east-1/i-"), "{a}");

    // At moto: one instance, tagged, g4dn.xlarge (the cheapest T4), terminated by Ferry.
    aws.all_terminated(&id);
    let made = aws.instances_of(&id);
    assert_eq!(made.len(), 1, "{made:?}");
    let i = &made[0];
    assert_eq!(i.instance_type().unwrap().as_str(), "g4dn.xlarge");
    assert_eq!(i.client_token(), a["lease"].as_str());
    let tag = |k: &str| {
        i.tags()
            .iter()
            .find(|t| t.key() == Some(k))
            .and_then(|t| t.value())
            .map(str::to_string)
    };
    assert_eq!(tag("ferry:attempt").as_deref(), Some("1"));
    assert_eq!(tag("Name").as_deref(), a["lease"].as_str());

    // The ledger against moto's own record: billed per second with a 60 s minimum, from
    // the launch to the termination moto recorded.
    let launched = i.launch_time().unwrap().secs();
    let ended = moto_time(i.state_transition_reason().unwrap_or_default())
        .expect("moto records when it terminated the instance");
    let moto_secs = (ended - launched).max(60) as f64;
    let price = 0.526;
    let cost = env.json(&["cost", "--by", "kind"]);
    let kind = |k: &str| {
        cost["groups"]
            .as_array()
            .unwrap()
            .iter()
            .find(|g| g["kind"] == k)
            .map(|g| g["amount_micros"].as_i64().unwrap())
    };
    let machine = kind("compute").unwrap() + kind("overhead").unwrap_or(0);
    let expected = (price * moto_secs / 3600.0 * 1e6) as i64;
    // Ferry counts from the create it sent to the listing that showed the machine gone:
    // at least moto's interval, and at most a few seconds more.
    let slack = (price * 5.0 / 3600.0 * 1e6) as i64;
    assert!(
        machine >= expected - 1_000 && machine <= expected + slack,
        "Ferry booked {machine} µ$ for the machine; moto's times give {expected} µ$ ({moto_secs} s)"
    );
    // gp3 for the default 50 GB, while the machine existed.
    let storage = kind("storage").expect("a storage line");
    assert!(storage > 0 && storage < 1_000, "{storage}");
    // 20 GB out at the catalog's $0.09/GB.
    assert_eq!(kind("egress"), Some(1_800_000));
    let text = env.ferry().args(["cost"]).output().unwrap();
    let text = String::from_utf8(text.stdout).unwrap();
    assert!(
        text.contains("EGRESS") && text.contains("STORAGE"),
        "{text}"
    );
    assert!(text.contains("$1.80"), "{text}");

    // A Ferry instance the store never heard of (its create answer lost for good), planted
    // at moto with this install's tags: the sweep ends it and leaves the rest alone.
    let lease = a["lease"].as_str().unwrap();
    let mark = lease.split('-').nth(1).unwrap();
    let orphan_name = format!("ferry-{mark}-j-00000000000000a1-a1");
    let plant = |name: &str, owner: Option<&str>| -> String {
        aws.rt.block_on(async {
            let mut tags = vec![Tag::builder().key("Name").value(name).build()];
            if let Some(o) = owner {
                tags.push(Tag::builder().key("ferry:owner").value(o).build());
                tags.push(Tag::builder().key("ferry:job").value(name).build());
            }
            let out = aws
                .ec2
                .run_instances()
                .image_id("ami-dca37ea5")
                .instance_type(aws_sdk_ec2::types::InstanceType::G4dnXlarge)
                .min_count(1)
                .max_count(1)
                .tag_specifications(
                    aws_sdk_ec2::types::TagSpecification::builder()
                        .resource_type(ResourceType::Instance)
                        .set_tags(Some(tags))
                        .build(),
                )
                .send()
                .await
                .unwrap();
            out.instances()[0].instance_id().unwrap().to_string()
        })
    };
    let orphan = plant(&orphan_name, Some(mark));
    let other = plant("ferry-deadbeef-j-00000000000000a1-a1", Some("deadbeef"));
    let verdict = |v: &Value, id: &str| {
        v.as_array()
            .unwrap()
            .iter()
            .find(|f| f["instance"].as_str().is_some_and(|i| i.ends_with(id)))
            .map(|f| f["verdict"].as_str().unwrap().to_string())
    };
    let dry = env.json(&["sweep", "--dry-run"]);
    assert_eq!(verdict(&dry, &orphan).as_deref(), Some("orphan"), "{dry}");
    assert_eq!(verdict(&dry, &other).as_deref(), Some("not-ours"), "{dry}");
    env.json(&["sweep"]);
    aws.all_terminated(&orphan_name);
    let theirs = aws.instances_of("ferry-deadbeef-j-00000000000000a1-a1");
    assert_eq!(Aws::state(&theirs[0]), InstanceStateName::Running);
    aws.rt.block_on(async {
        aws.ec2
            .terminate_instances()
            .instance_ids(other)
            .send()
            .await
            .unwrap();
    });
}

#[test]
fn a_placement_over_the_vcpu_quota_is_refused_before_launch_naming_the_quota() {
    let aws = aws();
    let env = aws.env();
    // g4dn.xlarge has 4 vCPUs; the account's G and VT On-Demand quota is 2.
    aws.quota("L-DB2E81BA", 2.0);
    let t = task_file(&env, "quota", "", "echo never");
    let id = launch_detached(&env, &t);
    let j = wait_state_for(&env, &id, 60, terminal);
    assert_eq!(j["state"], "failed", "{j}");
    let v = view(&env, &id);
    for a in attempts(&v) {
        assert_eq!(a["cause"]["kind"], "quota", "{a}");
        assert!(a["instance_id"].is_null(), "nothing was launched: {a}");
        let e = a["error"].as_str().unwrap_or_default();
        assert!(
            e.contains("L-DB2E81BA") && e.contains("is 2 vCPUs"),
            "the quota's name and value: {e}"
        );
    }
    assert!(aws.instances_of(&id).is_empty());
}

#[test]
fn a_spot_interruption_sends_the_job_back_to_the_queue() {
    let aws = aws();
    let env = aws.env();
    let t = task_file(
        &env,
        "spot",
        "  use_spot: true\n  job_recovery:\n    max_restarts: 2\n",
        "echo \"attempt $FERRY_ATTEMPT\"\n  if [ \"$FERRY_ATTEMPT\" = 1 ]; then sleep 120; fi",
    );
    let id = launch_detached(&env, &t);
    wait_state_for(&env, &id, 90, |s| s == "running");
    let v = view(&env, &id);
    let first = attempts(&v)[0]["instance_id"].as_str().unwrap().to_string();
    let made = aws.instances_of(&id);
    assert_eq!(
        made[0].instance_lifecycle().map(|l| l.as_str()),
        Some("spot")
    );
    // AWS takes the capacity back.
    let bare = first.split_once('/').unwrap().1.to_string();
    aws.rt.block_on(async {
        aws.ec2
            .terminate_instances()
            .instance_ids(bare)
            .send()
            .await
            .unwrap();
    });
    let j = wait_state_for(&env, &id, 120, terminal);
    assert_eq!(j["state"], "succeeded", "{j}");
    let v = view(&env, &id);
    let tried = attempts(&v);
    assert_eq!(tried.len(), 2, "{v}");
    assert_eq!(tried[0]["cause"]["cause"], "preempted", "{v}");
    assert_eq!(tried[1]["cause"]["cause"], "exited");
    assert!(logs(&env, &id).contains("attempt 2"));
    aws.all_terminated(&id);
    assert_eq!(aws.instances_of(&id).len(), 2, "one instance per attempt");
}

/// The server dies at each step of an EC2 job's life (as `kill -9` would leave it); after
/// a restart the job finishes, nothing is launched twice, and nothing is left running.
#[test]
fn a_server_crash_at_each_lifecycle_step_on_ec2_loses_nothing() {
    let aws = aws();
    for point in ["after-create", "waiting-ssh", "running", "terminating"] {
        let env = aws.env();
        let t = task_file(&env, point, "", "sleep 1; echo survived");
        let _ = env
            .ferry()
            .env("FERRY_CRASH_AT", point)
            .args(["launch", "--detach"])
            .arg(&t)
            .output()
            .unwrap();
        let info: Value =
            serde_json::from_str(&std::fs::read_to_string(env.path("data/server.json")).unwrap())
                .unwrap();
        let pid = info["pid"].as_i64().unwrap();
        let deadline = Instant::now() + Duration::from_secs(60);
        while std::path::Path::new(&format!("/proc/{pid}")).exists()
            && !std::fs::read_to_string(format!("/proc/{pid}/stat"))
                .unwrap_or_default()
                .contains(") Z")
        {
            assert!(Instant::now() < deadline, "{point}: the server did not die");
            std::thread::sleep(Duration::from_millis(50));
        }
        let id = jobs(&env)[0]["id"].as_str().unwrap().to_string();
        let j = wait_state_for(&env, &id, 90, terminal);
        assert_eq!(j["state"], "succeeded", "{point}: {j}");
        assert_eq!(logs(&env, &id), "survived\n", "{point}");
        aws.all_terminated(&id);
        assert_eq!(aws.instances_of(&id).len(), 1, "{point}: launched twice");
        let (_, total) = ledger_total(&env);
        assert!(total > 0, "{point}: the machine was charged");
    }
}

#[test]
fn kill_9_while_an_ec2_job_runs() {
    let aws = aws();
    let env = aws.env();
    let t = task_file(&env, "k9", "", "sleep 3; echo ok");
    let id = launch_detached(&env, &t);
    wait_state_for(&env, &id, 90, |s| s == "running");
    kill_9_server(&env);
    let j = wait_state_for(&env, &id, 90, terminal);
    assert_eq!(j["state"], "succeeded", "{j}");
    assert_eq!(logs(&env, &id), "ok\n");
    aws.all_terminated(&id);
    assert_eq!(aws.instances_of(&id).len(), 1);
}

#[test]
fn catalog_refresh_puts_live_spot_prices_per_zone_beside_the_list_prices() {
    use wiremock::matchers::{method, path};
    use wiremock::{Mock, MockServer, ResponseTemplate};
    let aws = aws();
    let env = aws.env();
    // The public price list (on-demand), from its documented shape; spot from moto's EC2.
    let list = aws.rt.block_on(async {
        let server = MockServer::start().await;
        Mock::given(method("GET"))
            .and(path(
                "/offers/v1.0/aws/AmazonEC2/current/us-east-1/index.json",
            ))
            .respond_with(
                ResponseTemplate::new(200).set_body_string(
                    std::fs::read_to_string(concat!(
                        env!("CARGO_MANIFEST_DIR"),
                        "/../ferry-refresh/tests/fixtures/aws/good.json"
                    ))
                    .unwrap(),
                ),
            )
            .mount(&server)
            .await;
        server
    });
    let cfg = std::fs::read_to_string(env.path("config.toml")).unwrap();
    env.config(&cfg.replace(
        "[providers.aws]\n",
        &format!("[providers.aws]\nendpoint = \"{}\"\n", list.uri()),
    ));
    let out = env
        .ferry()
        .args(["catalog", "refresh", "--provider", "aws", "--json"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v[0]["result"]["status"], "updated", "{v}");
    let offers = env.json(&["offers", "--provider", "aws", "--spot"]);
    let rows = offers["offers"]
        .as_array()
        .or(offers.as_array())
        .unwrap()
        .clone();
    let g4 = rows
        .iter()
        .find(|o| o["instance_type"] == "g4dn.xlarge")
        .unwrap_or_else(|| panic!("{offers}"));
    assert!(
        g4["spot_price_hour"].as_f64().is_some_and(|p| p > 0.0),
        "{g4}"
    );
    let notes = g4["notes"].as_str().unwrap();
    assert!(
        notes.contains("DescribeSpotPriceHistory") && notes.contains("us-east-1a"),
        "{notes}"
    );
}
