//! Durable submissions a second through the real server's HTTP API: `ferry server run` on
//! a one-GPU host, one client and then eight, each POST /v1/jobs answered once the job is
//! committed (the first job holds the GPU, the rest queue). `cargo bench -p ferry-cli --bench intake`.

use serde_json::json;
use std::path::Path;
use std::process::{Child, Command};
use std::time::{Duration, Instant};

const ONE_CLIENT: usize = 1_000;
const EIGHT_CLIENTS: usize = 4_000;

fn start(dir: &Path) -> (Child, String, String) {
    std::fs::write(dir.join("config.toml"), "[local]\ndeclared_gpus = 1\n").unwrap();
    let child = Command::new(env!("CARGO_BIN_EXE_ferry"))
        .args(["server", "run"])
        .env("FERRY_CONFIG", dir.join("config.toml"))
        .env("FERRY_CACHE_DIR", dir.join("cache"))
        .env("FERRY_DATA_DIR", dir.join("data"))
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let info = dir.join("data/server.json");
    let t = Instant::now();
    while !info.exists() {
        assert!(
            t.elapsed() < Duration::from_secs(30),
            "the server did not start"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&info).unwrap()).unwrap();
    let token = std::fs::read_to_string(dir.join("data/server.token"))
        .unwrap()
        .trim()
        .to_string();
    (
        child,
        format!("http://{}", v["addr"].as_str().unwrap()),
        token,
    )
}

fn body(run: &str) -> serde_json::Value {
    json!({
        "name": "sweep",
        "payload": {"gpus": 1, "workdir": null, "envs": {}, "setup": null, "run": run, "estimated_hours": 0.1},
        "placement": {"backend": "local", "provider": "owned", "offer": "this host", "price_per_hour_micros": 1000000},
        "max_runtime_s": null,
    })
}

async fn push(client: reqwest::Client, url: String, token: String, n: usize) {
    for _ in 0..n {
        let r = client
            .post(format!("{url}/v1/jobs"))
            .bearer_auth(&token)
            .json(&body("true"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 201, "{}", r.text().await.unwrap_or_default());
    }
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let dir = tempfile::tempdir().unwrap();
    let (mut server, url, token) = start(dir.path());
    let client = reqwest::Client::new();
    // The GPU is taken for the whole measurement.
    let r = client
        .post(format!("{url}/v1/jobs"))
        .bearer_auth(&token)
        .json(&body("sleep 300"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let blocker = r.json::<serde_json::Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();

    let t = Instant::now();
    push(client.clone(), url.clone(), token.clone(), ONE_CLIENT).await;
    let one = t.elapsed().as_secs_f64();
    println!(
        "1 client: {ONE_CLIENT} durable submissions in {one:.2} s: {:.0} a second ({:.2} ms each)",
        ONE_CLIENT as f64 / one,
        one * 1000.0 / ONE_CLIENT as f64
    );
    let t = Instant::now();
    let tasks: Vec<_> = (0..8)
        .map(|_| {
            tokio::spawn(push(
                client.clone(),
                url.clone(),
                token.clone(),
                EIGHT_CLIENTS / 8,
            ))
        })
        .collect();
    for task in tasks {
        task.await.unwrap();
    }
    let eight = t.elapsed().as_secs_f64();
    println!(
        "8 clients: {EIGHT_CLIENTS} durable submissions in {eight:.2} s: {:.0} a second",
        EIGHT_CLIENTS as f64 / eight
    );
    let _ = client
        .post(format!("{url}/v1/jobs/{blocker}/cancel"))
        .bearer_auth(&token)
        .send()
        .await;
    let _ = client
        .post(format!("{url}/v1/shutdown"))
        .bearer_auth(&token)
        .send()
        .await;
    let t = Instant::now();
    while server.try_wait().unwrap().is_none() && t.elapsed() < Duration::from_secs(10) {
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = server.kill();
}
