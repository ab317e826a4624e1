//! RunPod's real client against the fake RunPod GraphQL API.

mod support;

use ferry_cloud::providers::ProviderConfig;
use ferry_cloud::providers::runpod::RunPod;
use ferry_cloud::{
    CreateRequest, ErrorKind, InstanceId, InstanceState, LeaseName, OfferRef, Provider,
    ProviderKind, Quote,
};
use ferry_fakecloud::Shared;
use support::{authorized_keys, fake, lease, named, sshd, until_running};

const KEY: &str = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFerryRunPodTestKey ferry@test";

fn client(url: &str, key: &str) -> RunPod {
    RunPod::new(ProviderConfig {
        disk_gb: 20,
        ..support::config(ProviderKind::Runpod, url, key)
    })
}

fn offer(gpu: &str, count: u32, spot: bool) -> OfferRef {
    OfferRef {
        instance_type: gpu.into(),
        region: "global".into(),
        gpu_count: count,
        spot,
        expected_price_per_hour: 0.4 * f64::from(count),
        max_price_per_hour: None,
        tier: Some("secure".into()),
        vcpus: None,
    }
}

fn request(name: LeaseName, offer: OfferRef, quote: Quote) -> CreateRequest {
    CreateRequest {
        name,
        offer,
        quote,
        public_key: KEY.into(),
        image: String::new(),
        disk_gb: 20,
        onstart: None,
    }
}

fn calls(world: &Shared) -> u64 {
    support::calls(world, ProviderKind::Runpod)
}

#[tokio::test]
async fn a_pod_lives_and_dies() {
    let (url, world) = fake().await;
    let keys = authorized_keys(&world);
    let rp = client(&url, "k");

    let o = offer("NVIDIA A40", 2, false);
    let q = rp.quote(&o).await.unwrap();
    assert!(
        (q.price_per_hour - 0.8).abs() < 1e-9,
        "per GPU times two: {q:?}"
    );
    assert_eq!(q.ask, None);
    assert!(
        q.detail.contains("A40") && q.detail.contains("High"),
        "{q:?}"
    );

    let name = lease(7, 1);
    let id = rp.create(&request(name.clone(), o, q)).await.unwrap();
    let made = world.lock().unwrap().instances[0].clone();
    assert_eq!(made.id, id.0);
    assert_eq!(made.gpu_count, 2);
    assert_eq!(made.region, "SECURE");
    assert_eq!(made.env.get("PUBLIC_KEY").map(String::as_str), Some(KEY));
    let installed = keys.read();
    assert!(installed.lines().any(|l| l == KEY), "{installed:?}");

    let running = until_running(&rp, &id).await;
    assert_eq!(running.name, name.to_string());
    assert_eq!(running.lease(), Some(name.clone()));
    assert_eq!(running.endpoint, Some(sshd()), "the world's sshd");
    assert_eq!(running.price_per_hour, Some(0.8));
    assert!(!running.interruptible);
    assert_eq!(running.status_text, "RUNNING");

    rp.terminate(&id).await.unwrap();
    assert!(rp.list().await.unwrap().is_empty());
    assert_eq!(
        rp.calls(),
        calls(&world),
        "the client counts what the fake answered"
    );
}

#[tokio::test]
async fn a_spot_pod_bids_the_minimum() {
    let (url, _world) = fake().await;
    let rp = client(&url, "k");
    let o = offer("NVIDIA H100 80GB HBM3", 1, true);
    let q = rp.quote(&o).await.unwrap();
    assert_eq!(
        q.ask.as_deref(),
        Some("1.345"),
        "half the on-demand price, per GPU"
    );
    assert!((q.price_per_hour - 1.345).abs() < 1e-9);
    let id = rp.create(&request(lease(7, 1), o, q)).await.unwrap();
    let list = rp.list().await.unwrap();
    let pod = list.iter().find(|i| i.id == id).unwrap();
    assert!(pod.interruptible);
    assert_eq!(pod.price_per_hour, Some(1.345));
}

#[tokio::test]
async fn a_live_price_above_the_limit_is_refused() {
    let (url, world) = fake().await;
    world.lock().unwrap().faults.live_price_factor = Some(2.0);
    let rp = client(&url, "k");
    let mut o = offer("NVIDIA A40", 1, false);
    o.max_price_per_hour = Some(0.6);
    let e = rp.quote(&o).await.unwrap_err();
    assert_eq!(e.kind, ErrorKind::PriceAbove, "{e}");
    o.max_price_per_hour = Some(0.8);
    assert!((rp.quote(&o).await.unwrap().price_per_hour - 0.8).abs() < 1e-9);
}

#[tokio::test]
async fn no_capacity_is_told_apart() {
    let (url, world) = fake().await;
    world.lock().unwrap().faults.no_capacity = vec!["NVIDIA A40".into()];
    let rp = client(&url, "k");
    for spot in [false, true] {
        let e = rp.quote(&offer("NVIDIA A40", 1, spot)).await.unwrap_err();
        assert_eq!(e.kind, ErrorKind::NoCapacity, "{e}");
    }
    let q = Quote {
        price_per_hour: 0.4,
        ask: None,
        detail: String::new(),
    };
    let e = rp
        .create(&request(lease(7, 1), offer("NVIDIA A40", 1, false), q))
        .await
        .unwrap_err();
    assert_eq!(e.kind, ErrorKind::NoCapacity, "{e}");
    assert!(e.to_string().contains("no longer any instances"), "{e}");
    assert!(world.lock().unwrap().instances.is_empty());
    // Another type still has some.
    assert!(
        rp.quote(&offer("NVIDIA GeForce RTX 4090", 1, false))
            .await
            .is_ok()
    );
}

#[tokio::test]
async fn a_wrong_key_is_auth_and_never_retried() {
    let (url, world) = fake().await;
    let rp = client(&url, "not-the-key");
    let e = rp.list().await.unwrap_err();
    assert_eq!(e.kind, ErrorKind::Auth);
    assert_eq!(e.provider, "runpod");
    assert!(e.to_string().contains("runpod"), "{e}");
    assert!(
        !e.to_string().contains("not-the-key"),
        "the key never shows: {e}"
    );
    assert_eq!(calls(&world), 1);
    let e = rp.quote(&offer("NVIDIA A40", 1, false)).await.unwrap_err();
    assert_eq!(e.kind, ErrorKind::Auth);
    assert_eq!(calls(&world), 2);
    let e = rp.terminate(&InstanceId("x".into())).await.unwrap_err();
    assert_eq!(e.kind, ErrorKind::Auth, "not mistaken for a gone pod");
    assert_eq!(calls(&world), 3);
}

#[tokio::test]
async fn server_errors_are_retried() {
    let (url, world) = fake().await;
    world.lock().unwrap().faults.server_errors = 2;
    let rp = client(&url, "k");
    assert!(rp.list().await.unwrap().is_empty());
    assert_eq!(calls(&world), 3);
    assert_eq!(rp.calls(), 3);
}

#[tokio::test]
async fn rate_limits_wait_for_retry_after() {
    let (url, world) = fake().await;
    support::assert_waits_out_a_rate_limit(&client(&url, "k"), &world).await;
}

#[tokio::test]
async fn a_malformed_listing_names_the_field() {
    let (url, world) = fake().await;
    let rp = client(&url, "k");
    let q = rp.quote(&offer("NVIDIA A40", 1, false)).await.unwrap();
    rp.create(&request(lease(7, 1), offer("NVIDIA A40", 1, false), q))
        .await
        .unwrap();
    world.lock().unwrap().faults.malformed_lists = 1;
    let e = rp.list().await.unwrap_err();
    assert_eq!(e.kind, ErrorKind::Malformed, "{e}");
    let text = e.to_string();
    assert!(text.starts_with("runpod: "), "{text}");
    assert!(
        text.contains("pods[0]") && text.contains("desiredStatus"),
        "{text}"
    );
    assert_eq!(
        rp.list().await.unwrap().len(),
        1,
        "the next listing is whole"
    );
}

#[tokio::test]
async fn a_lost_create_is_found_by_name_and_not_made_twice() {
    let (url, world) = fake().await;
    world.lock().unwrap().faults.lose_create_responses = 1;
    let rp = client(&url, "k");
    let name = lease(7, 3);
    let q = rp.quote(&offer("NVIDIA A40", 1, false)).await.unwrap();
    let e = rp
        .create(&request(name.clone(), offer("NVIDIA A40", 1, false), q))
        .await
        .unwrap_err();
    assert_eq!(e.kind, ErrorKind::Transient, "{e}");
    let list = rp.list().await.unwrap();
    assert_eq!(named(&list, &name).len(), 1, "{list:?}");
    assert_eq!(world.lock().unwrap().instances.len(), 1);
}

#[tokio::test]
async fn a_lingering_pod_shows_until_it_is_gone() {
    let (url, world) = fake().await;
    let rp = client(&url, "k");
    let q = rp.quote(&offer("NVIDIA A40", 1, false)).await.unwrap();
    let id = rp
        .create(&request(lease(7, 1), offer("NVIDIA A40", 1, false), q))
        .await
        .unwrap();
    world.lock().unwrap().faults.linger_polls = 2;
    rp.terminate(&id).await.unwrap();
    for poll in 0..2 {
        let list = rp.list().await.unwrap();
        assert!(
            list.iter().any(|i| i.id == id),
            "still there at poll {poll}"
        );
    }
    assert!(rp.list().await.unwrap().is_empty());
    // Gone now: terminating it again is done, not an error.
    rp.terminate(&id).await.unwrap();
}

#[tokio::test]
async fn terminating_an_unknown_pod_is_done() {
    let (url, world) = fake().await;
    let rp = client(&url, "k");
    rp.terminate(&InstanceId("nosuchpod".into())).await.unwrap();
    assert_eq!(calls(&world), 1);
}

#[tokio::test]
async fn a_stopped_pod_reads_as_stopped() {
    let (url, world) = fake().await;
    let rp = client(&url, "k");
    let q = rp.quote(&offer("NVIDIA A40", 1, true)).await.unwrap();
    let id = rp
        .create(&request(lease(7, 1), offer("NVIDIA A40", 1, true), q))
        .await
        .unwrap();
    assert!(world.lock().unwrap().preempt(&id.0, true));
    let list = rp.list().await.unwrap();
    let pod = list.iter().find(|i| i.id == id).unwrap();
    assert_eq!(pod.state, InstanceState::Stopped);
    assert_eq!(pod.status_text, "EXITED");
    assert_eq!(pod.endpoint, None);
}
