//! A fake of the rented-GPU providers, for tests and benchmarks: one HTTP server that
//! answers each provider's API under its own prefix (`/runpod`, `/lambda`, `/vastai`,
//! `/paperspace`, `/gcp`, `/azure`; and AWS Service Quotas' `GetServiceQuota` under
//! `/aws-quotas`, which moto does not answer for EC2) with payloads shaped like the provider's documented responses (the
//! fixtures in `crates/ferry-cloud/fixtures/` are the same shapes), so Ferry's real client
//! code is what talks to it.
//!
//! Its instances are real: each one is reachable at the SSH endpoint the fake was given (the
//! tests' sshd), and the public key a create hands over is appended to that sshd's
//! `authorized_keys`, the way a provider installs it on a machine. So a job placed at a fake
//! provider really runs, end to end.
//!
//! What a real provider does to its clients, the fake does on demand ([`Faults`]): no
//! capacity, a lost create answer, a terminate that says "ok" while the instance lives on
//! for a few more polls, an instance that vanishes (preemption), 5xx, 429 with
//! `Retry-After`, malformed JSON, a wrong key. And it keeps its own billing record, per
//! instance, by the provider's billing rule, for the tests to hold Ferry's ledger against.
//!
//! Control and inspection live under `/_fake/` (see [`admin`]).

pub mod admin;
pub mod aws_quotas;
pub mod azure;
pub mod gcp;
pub mod lambda;
pub mod paperspace;
pub mod render;
pub mod runpod;
pub mod vastai;
pub mod world;

pub use world::{FakeInstance, Faults, Phase, SshTarget, World};

use std::sync::{Arc, Mutex};

/// The shared state every route works on.
pub type Shared = Arc<Mutex<World>>;

/// The whole fake: every provider's routes plus `/_fake/`.
pub fn router(world: Shared) -> axum::Router {
    axum::Router::new()
        .nest("/runpod", runpod::routes())
        .nest("/lambda", lambda::routes())
        .nest("/vastai", vastai::routes())
        .nest("/paperspace", paperspace::routes())
        .nest("/gcp", gcp::routes())
        .nest("/azure", azure::routes())
        .merge(aws_quotas::routes())
        .nest("/_fake", admin::routes())
        .with_state(world)
}

/// Serves the fake on `127.0.0.1:port` (0 picks a free port); returns its base URL.
pub async fn serve(world: World, port: u16) -> std::io::Result<(String, Shared)> {
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
    let url = format!("http://{}", listener.local_addr()?);
    let shared: Shared = Arc::new(Mutex::new(world));
    let app = router(shared.clone());
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    Ok((url, shared))
}
