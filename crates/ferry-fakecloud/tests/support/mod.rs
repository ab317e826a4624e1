//! What every provider's test against the fake needs: the fake served, a client config that
//! retries fast, lease names, a throwaway `authorized_keys`, and waiting for an instance.
//! Each test file includes it with `mod support;` and keeps its provider's own offers and
//! requests.

// Not every test file uses every helper.
#![allow(dead_code)]

use ferry_cloud::http::RetryPolicy;
use ferry_cloud::providers::ProviderConfig;
use ferry_cloud::{
    ApiKey, Endpoint, Instance, InstanceId, InstanceState, LeaseName, Provider, ProviderKind,
};
use ferry_fakecloud::{Shared, SshTarget, World};
use ferry_job::JobId;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

/// The key the fake's world expects.
pub const API_KEY: &str = "k";

/// Where the fake's instances are reached: `root@127.0.0.1:2222` (no sshd listens there;
/// these tests only read the endpoint).
pub fn sshd() -> Endpoint {
    Endpoint {
        host: "127.0.0.1".into(),
        port: 2222,
        user: "root".into(),
    }
}

/// A world whose key is [`API_KEY`] and whose instances are reached at [`sshd`].
pub fn world() -> World {
    let Endpoint { host, port, user } = sshd();
    World::new(API_KEY, SshTarget { host, port, user })
}

/// Serves `world` on a free port: its base URL, and the world to steer and inspect.
pub async fn serve(world: World) -> (String, Shared) {
    ferry_fakecloud::serve(world, 0).await.unwrap()
}

/// [`world`], served.
pub async fn fake() -> (String, Shared) {
    serve(world()).await
}

/// [`world`] with instances that provision for `ms` (not the default 300), served.
pub async fn fake_provisioning(ms: i64) -> (String, Shared) {
    let mut world = world();
    world.provisioning_ms = ms;
    serve(world).await
}

/// Retries quick enough for tests, with the default number of tries.
pub fn fast_retry() -> RetryPolicy {
    RetryPolicy {
        attempts: 4,
        first_backoff: Duration::from_millis(10),
        max_backoff: Duration::from_millis(50),
        max_retry_after: Duration::from_secs(5),
    }
}

/// The provider's config for the fake at `url` (its routes under `/<provider id>`), with
/// `key` and [`fast_retry`].
pub fn config(kind: ProviderKind, url: &str, key: &str) -> ProviderConfig {
    ProviderConfig {
        base_url: format!("{url}/{}", kind.id()),
        retry: fast_retry(),
        ..ProviderConfig::new(kind, ApiKey::new(key))
    }
}

/// The lease name of job `seq`'s attempt `attempt`.
pub fn lease(seq: u32, attempt: u32) -> LeaseName {
    LeaseName::new("0a1b2c3d", &JobId::new(1_700_000_000_000, seq), attempt)
}

/// The requests the fake answered for `provider`.
pub fn calls(world: &Shared, provider: ProviderKind) -> u64 {
    world
        .lock()
        .unwrap()
        .calls
        .get(provider.id())
        .copied()
        .unwrap_or(0)
}

/// The instances of a listing that carry `name`.
pub fn named<'a>(list: &'a [Instance], name: &LeaseName) -> Vec<&'a Instance> {
    let name = name.to_string();
    list.iter().filter(|i| i.name == name).collect()
}

/// The fake's `authorized_keys`: a fresh, empty file, removed when dropped.
pub struct AuthorizedKeys(pub PathBuf);

impl AuthorizedKeys {
    pub fn read(&self) -> String {
        std::fs::read_to_string(&self.0).unwrap()
    }
}

impl Drop for AuthorizedKeys {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// Gives `world` an `authorized_keys` of this test's own, for creates to install keys in.
pub fn authorized_keys(world: &Shared) -> AuthorizedKeys {
    static N: AtomicU32 = AtomicU32::new(0);
    let path = std::env::temp_dir().join(format!(
        "ferry-fakecloud-{}-{}-authorized_keys",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    std::fs::write(&path, "").unwrap();
    world.lock().unwrap().authorized_keys = Some(path.clone());
    AuthorizedKeys(path)
}

/// Lists until instance `id` runs; until then it must be listed, provisioning, and without
/// an endpoint.
pub async fn until_running<P: Provider + ?Sized>(p: &P, id: &InstanceId) -> Instance {
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut states = vec![];
    loop {
        let list = p.list().await.unwrap();
        let i = list
            .into_iter()
            .find(|i| &i.id == id)
            .expect("the instance is listed");
        if i.state == InstanceState::Running {
            return i;
        }
        assert_eq!(i.state, InstanceState::Provisioning, "{i:?}");
        assert_eq!(i.endpoint, None, "no endpoint while provisioning");
        states.push(i.status_text.clone());
        assert!(Instant::now() < deadline, "never ran: {states:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Has the fake answer its next request 429 with `Retry-After: 1`, and checks that a
/// listing waits that out and then succeeds, in two requests.
pub async fn assert_waits_out_a_rate_limit<P: Provider + ?Sized>(p: &P, world: &Shared) {
    {
        let mut w = world.lock().unwrap();
        w.faults.rate_limits = 1;
        w.faults.retry_after_s = 1;
    }
    let started = Instant::now();
    p.list().await.unwrap();
    assert!(
        started.elapsed() >= Duration::from_millis(950),
        "Retry-After was not waited for: {:?}",
        started.elapsed()
    );
    assert_eq!(calls(world, p.kind()), 2);
}
