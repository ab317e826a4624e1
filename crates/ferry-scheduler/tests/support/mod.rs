//! A scheduler renting from the fake RunPod (`ferry-fakecloud`, in process) whose machines
//! are the test sshd, shared by the end-to-end tests and the rented benchmark.
//!
//! Needs the test sshd: `FERRY_TEST_SSHD_DIR` (scripts/services/sshd-up.sh; the test script
//! starts it).

#![allow(dead_code)] // each user takes what it needs

use ferry_cloud::providers::{ProviderConfig, ProviderKind};
use ferry_cloud::{ApiKey, Endpoint, OfferRef, Provider};
use ferry_fakecloud::{Shared, SshTarget, World};
use ferry_scheduler::rented::decide::Timeouts;
use ferry_scheduler::rented::{Rented, RentedBackend, SshAccess};
use ferry_scheduler::{PlannedOffer, Scheduler, SystemClock};
use ferry_store::SqliteStore;
use std::sync::Arc;
use std::time::Duration;

/// The test sshd's folder, port and the user it logs in.
pub fn sshd() -> (std::path::PathBuf, u16, String) {
    let dir = std::path::PathBuf::from(std::env::var("FERRY_TEST_SSHD_DIR").expect(
        "FERRY_TEST_SSHD_DIR: start scripts/services/sshd-up.sh first (bash scripts/test.sh does)",
    ));
    let port = std::fs::read_to_string(dir.join("env.sh"))
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix("export FERRY_SSHD_PORT="))
        .and_then(|p| p.trim().parse().ok())
        .unwrap_or(2222);
    let user = String::from_utf8(
        std::process::Command::new("id")
            .arg("-un")
            .output()
            .unwrap()
            .stdout,
    )
    .unwrap()
    .trim()
    .to_string();
    (dir, port, user)
}

/// RunPod's A40, on spot or on-demand, at `price` an hour.
pub fn a40(spot: bool, price: f64) -> PlannedOffer {
    PlannedOffer {
        category: Some("gpu-cloud".into()),
        backend: "runpod".into(),
        offer: OfferRef {
            instance_type: "NVIDIA A40".into(),
            region: "global".into(),
            gpu_count: 1,
            spot,
            expected_price_per_hour: price,
            max_price_per_hour: None,
            tier: None,
            vcpus: None,
        },
        source: "test".into(),
        egress: None,
    }
}

pub struct Rig {
    pub s: Scheduler,
    pub store: Arc<SqliteStore>,
    /// The client the scheduler uses (its call counter).
    pub provider: Arc<dyn Provider>,
    /// The fake's world (its instances, its bills).
    pub world: Shared,
    /// The sshd's port, where every machine is reached.
    pub port: u16,
    pub root: tempfile::TempDir,
}

/// A scheduler on the system clock renting from the fake RunPod, whose machines take
/// `provisioning_ms` to come up and are reached at the test sshd; jobs on other machines
/// are asked about every `remote_poll`.
pub async fn rig(provisioning_ms: i64, remote_poll: Duration) -> Rig {
    let (dir, port, user) = sshd();
    let key = "test-key";
    let mut world = World::new(
        key,
        SshTarget {
            host: "127.0.0.1".into(),
            port,
            user: user.clone(),
        },
    );
    world.authorized_keys = Some(dir.join("authorized_keys"));
    world.provisioning_ms = provisioning_ms;
    let (url, world) = ferry_fakecloud::serve(world, 0).await.unwrap();
    let root = tempfile::tempdir().unwrap();
    let keys = ferry_cloud::keys::ensure(&root.path().join("keys")).unwrap();
    let store = Arc::new(
        SqliteStore::open(&root.path().join("ferry.db"))
            .await
            .unwrap(),
    );
    let mut config = ProviderConfig::new(ProviderKind::Runpod, ApiKey::new(key));
    config.base_url = format!("{url}/runpod");
    let provider = ProviderKind::Runpod
        .build(config)
        .expect("RunPod is built in");
    let mut backends = std::collections::HashMap::new();
    backends.insert(
        "runpod".to_string(),
        RentedBackend {
            provider: provider.clone(),
            ssh_override: Some(Endpoint {
                host: "127.0.0.1".into(),
                port,
                user,
            }),
            image: None,
            disk_gb: None,
        },
    );
    let control = root.path().join("ssh");
    std::fs::create_dir_all(&control).unwrap();
    let local = ferry_backend::local::LocalBackend::new(
        root.path().to_path_buf(),
        ferry_backend::gpu::declared(0, "none", 0.0),
        vec!["true".into()],
    );
    let mut s = Scheduler::new(
        store.clone(),
        Arc::new(local),
        vec![],
        Arc::new(SystemClock),
    );
    s.set_remote_poll(remote_poll);
    s.set_rented(Rented {
        backends,
        access: SshAccess {
            private_key: keys.private,
            public_key: keys.public,
            known_hosts: root.path().join("keys/known_hosts"),
            control_dir: Some(control),
        },
        timeouts: Timeouts::default(),
        log_dir: root.path().join("rented"),
        disk_gb: 10,
    });
    Rig {
        s,
        store,
        provider,
        world,
        port,
        root,
    }
}
