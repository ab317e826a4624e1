//! Ferry's Lambda client against the fake Lambda API: the whole life of an instance, and each
//! fault the fake can inject.

mod support;

use ferry_cloud::providers::ProviderConfig;
use ferry_cloud::providers::lambda::Lambda;
use ferry_cloud::{
    ApiKey, CreateRequest, Endpoint, ErrorKind, InstanceId, InstanceState, LeaseName, OfferRef,
    Provider, ProviderKind, Quote,
};
use ferry_fakecloud::Shared;
use support::{authorized_keys, fake, lease, named, until_running};

const PUBLIC_KEY: &str =
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFerryTestKeyForTheLambdaFake0000000 ferry";

fn client_with(url: &str, key: &str) -> Lambda {
    Lambda::new(support::config(ProviderKind::Lambda, url, key))
}

fn client(url: &str) -> Lambda {
    client_with(url, "k")
}

fn offer(instance_type: &str, region: &str) -> OfferRef {
    OfferRef {
        instance_type: instance_type.into(),
        region: region.into(),
        gpu_count: 1,
        spot: false,
        expected_price_per_hour: 0.75,
        max_price_per_hour: None,
        tier: None,
        vcpus: None,
    }
}

fn request(name: LeaseName, offer: OfferRef, quote: Quote) -> CreateRequest {
    CreateRequest {
        name,
        offer,
        quote,
        public_key: PUBLIC_KEY.into(),
        image: ProviderKind::Lambda.default_image().into(),
        disk_gb: 50,
        onstart: None,
    }
}

/// Quotes `gpu_1x_a10` anywhere and creates it under `name`.
async fn quote_and_create(p: &Lambda, name: LeaseName) -> InstanceId {
    let o = offer("gpu_1x_a10", "global");
    let q = p.quote(&o).await.unwrap();
    p.create(&request(name, o, q)).await.unwrap()
}

fn calls(w: &Shared) -> u64 {
    support::calls(w, ProviderKind::Lambda)
}

#[tokio::test]
async fn an_instance_lives_from_quote_to_terminate() {
    let (url, w) = fake().await;
    let keys = authorized_keys(&w);
    let p = client(&url);

    let o = offer("gpu_1x_a10", "global");
    let q = p.quote(&o).await.unwrap();
    assert_eq!(q.price_per_hour, 0.75);
    assert_eq!(
        q.ask.as_deref(),
        Some("us-east-1"),
        "the first region with capacity"
    );
    let q_west = p.quote(&offer("gpu_1x_a10", "us-west-1")).await.unwrap();
    assert_eq!(q_west.ask.as_deref(), Some("us-west-1"));

    let name = lease(7, 1);
    let id = p.create(&request(name.clone(), o, q)).await.unwrap();

    let first = p.list().await.unwrap();
    let mine = named(&first, &name);
    assert_eq!(mine.len(), 1);
    assert_eq!(mine[0].id, id);
    assert_eq!(mine[0].state, InstanceState::Provisioning);
    assert_eq!(mine[0].status_text, "booting");
    assert_eq!(mine[0].endpoint, None, "no address while booting");
    assert_eq!(mine[0].lease(), Some(name.clone()));

    let running = until_running(&p, &id).await;
    // Lambda publishes only the IP: port 22 and `ubuntu` are fixed (the config overrides them).
    let host = w.lock().unwrap().ssh.host.clone();
    assert_eq!(
        running.endpoint,
        Some(Endpoint {
            host,
            port: 22,
            user: "ubuntu".into()
        })
    );
    assert_eq!(running.price_per_hour, Some(0.75));
    assert!(!running.interruptible);
    {
        let w = w.lock().unwrap();
        let made = w.instances.iter().find(|i| i.id == id.0).unwrap();
        assert_eq!(made.region, "us-east-1", "launched where the quote chose");
        assert_eq!(made.billing.increment_s, 60);
    }
    let installed = keys.read();
    assert_eq!(
        installed.trim(),
        PUBLIC_KEY,
        "the launch key reached the machine"
    );

    p.terminate(&id).await.unwrap();
    let after = p.list().await.unwrap();
    assert!(named(&after, &name).is_empty(), "{after:?}");
    assert!(!w.lock().unwrap().bill()[0].still_billing);
}

#[tokio::test]
async fn the_ssh_key_is_registered_once() {
    let (url, w) = fake().await;
    let keys = authorized_keys(&w);
    let p = client(&url);
    let o = offer("gpu_1x_a10", "us-west-1");
    let q = Quote {
        price_per_hour: 0.75,
        ask: Some("us-west-1".into()),
        detail: String::new(),
    };

    p.create(&request(lease(7, 1), o.clone(), q.clone()))
        .await
        .unwrap();
    assert_eq!(calls(&w), 3, "list keys, add ours, launch");
    p.create(&request(lease(7, 2), o.clone(), q.clone()))
        .await
        .unwrap();
    assert_eq!(calls(&w), 4, "the second create only launches");
    assert_eq!(p.calls(), 4);

    let http = reqwest::Client::new();
    let get = |path: &str| {
        http.get(format!("{url}/lambda{path}"))
            .bearer_auth("k")
            .send()
    };
    let registered: serde_json::Value = get("/ssh-keys").await.unwrap().json().await.unwrap();
    let registered = registered["data"].as_array().unwrap().clone();
    assert_eq!(registered.len(), 1, "{registered:?}");
    let key_name = registered[0]["name"].as_str().unwrap().to_string();
    assert!(key_name.starts_with("ferry-"), "{key_name}");
    assert_eq!(registered[0]["public_key"], PUBLIC_KEY);
    let listed: serde_json::Value = get("/instances").await.unwrap().json().await.unwrap();
    for i in listed["data"].as_array().unwrap() {
        assert_eq!(i["ssh_key_names"], serde_json::json!([key_name]), "{i}");
    }

    // Another Ferry process on the same account finds the key instead of adding it again.
    let other = client(&url);
    let before = calls(&w);
    other.create(&request(lease(7, 3), o, q)).await.unwrap();
    assert_eq!(calls(&w) - before, 2, "list keys, launch");
    let registered: serde_json::Value = get("/ssh-keys").await.unwrap().json().await.unwrap();
    assert_eq!(registered["data"].as_array().unwrap().len(), 1);
    let installed = keys.read();
    assert_eq!(installed.lines().count(), 1, "installed once: {installed}");
}

#[tokio::test]
async fn no_capacity_refuses_quote_and_create() {
    let (url, w) = fake().await;
    w.lock().unwrap().faults.no_capacity = vec!["gpu_1x_a10".into()];
    let p = client(&url);

    let e = p.quote(&offer("gpu_1x_a10", "global")).await.unwrap_err();
    assert_eq!(e.kind, ErrorKind::NoCapacity, "{e}");
    assert!(e.to_string().contains("gpu_1x_a10"), "{e}");
    // Capacity is per type: another type is still there.
    p.quote(&offer("gpu_1x_a100_sxm4", "global")).await.unwrap();

    let q = Quote {
        price_per_hour: 0.75,
        ask: Some("us-east-1".into()),
        detail: String::new(),
    };
    let e = p
        .create(&request(lease(7, 1), offer("gpu_1x_a10", "global"), q))
        .await
        .unwrap_err();
    assert_eq!(e.kind, ErrorKind::NoCapacity, "{e}");
    assert!(e.kind.fails_over());
    assert!(p.list().await.unwrap().is_empty());
}

#[tokio::test]
async fn quotes_refuse_spot_unknown_types_and_high_prices() {
    let (url, w) = fake().await;
    let p = client(&url);

    let mut spot = offer("gpu_1x_a10", "global");
    spot.spot = true;
    let e = p.quote(&spot).await.unwrap_err();
    assert_eq!(e.kind, ErrorKind::Refused);
    assert!(e.to_string().contains("no spot"), "{e}");
    assert_eq!(calls(&w), 0, "refused without asking");

    let e = p
        .quote(&offer("gpu_3x_nothing", "global"))
        .await
        .unwrap_err();
    assert_eq!(e.kind, ErrorKind::Refused);
    assert!(e.to_string().contains("gpu_3x_nothing"), "{e}");

    let e = p.quote(&offer("gpu_1x_a10", "mars-1")).await.unwrap_err();
    assert_eq!(e.kind, ErrorKind::NoCapacity, "{e}");
    assert!(
        e.to_string().contains("us-east-1"),
        "names where there is: {e}"
    );

    w.lock().unwrap().faults.live_price_factor = Some(2.0);
    let mut capped = offer("gpu_8x_h100_sxm5", "global");
    capped.max_price_per_hour = Some(30.0);
    let e = p.quote(&capped).await.unwrap_err();
    assert_eq!(e.kind, ErrorKind::PriceAbove, "{e}");
    assert!(e.to_string().contains("47.84"), "{e}");
    capped.max_price_per_hour = Some(50.0);
    assert_eq!(p.quote(&capped).await.unwrap().price_per_hour, 47.84);
}

#[tokio::test]
async fn a_wrong_key_is_auth_and_never_retried() {
    let (url, w) = fake().await;
    let p = client_with(&url, "wrong");

    let e = p.list().await.unwrap_err();
    assert_eq!(e.kind, ErrorKind::Auth);
    assert_eq!(e.provider, "lambda");
    assert!(e.to_string().starts_with("lambda: "), "{e}");
    assert!(e.to_string().contains("providers.lambda"), "{e}");
    assert!(!e.to_string().contains("wrong"), "never the key: {e}");
    assert_eq!(calls(&w), 1);

    let e = p.quote(&offer("gpu_1x_a10", "global")).await.unwrap_err();
    assert_eq!(e.kind, ErrorKind::Auth);
    assert_eq!(calls(&w), 2);

    let q = Quote {
        price_per_hour: 0.75,
        ask: Some("us-east-1".into()),
        detail: String::new(),
    };
    let e = p
        .create(&request(lease(7, 1), offer("gpu_1x_a10", "global"), q))
        .await
        .unwrap_err();
    assert_eq!(e.kind, ErrorKind::Auth);
    assert_eq!(calls(&w), 3);
    assert_eq!(p.calls(), 3);
}

#[tokio::test]
async fn server_errors_are_retried() {
    let (url, w) = fake().await;
    let p = client(&url);
    w.lock().unwrap().faults.server_errors = 2;
    assert!(p.list().await.unwrap().is_empty());
    assert_eq!(calls(&w), 3);
}

#[tokio::test]
async fn rate_limits_wait_for_retry_after() {
    let (url, w) = fake().await;
    support::assert_waits_out_a_rate_limit(&client(&url), &w).await;
}

#[tokio::test]
async fn a_malformed_listing_names_the_field() {
    let (url, w) = fake().await;
    let p = client(&url);

    w.lock().unwrap().faults.malformed_lists = 1;
    let e = p.list().await.unwrap_err();
    assert_eq!(e.kind, ErrorKind::Malformed, "{e}");
    assert!(e.to_string().starts_with("lambda: data"), "{e}");

    quote_and_create(&p, lease(7, 1)).await;
    w.lock().unwrap().faults.malformed_lists = 1;
    let e = p.list().await.unwrap_err();
    assert_eq!(e.kind, ErrorKind::Malformed, "{e}");
    let text = e.to_string();
    assert!(text.starts_with("lambda: data[0]"), "{text}");
    assert!(text.contains("status"), "{text}");
    assert_eq!(p.list().await.unwrap().len(), 1, "one fault, one listing");
}

#[tokio::test]
async fn a_lost_launch_answer_is_found_by_name_and_not_made_twice() {
    let (url, w) = fake().await;
    let p = client(&url);
    w.lock().unwrap().faults.lose_create_responses = 1;
    let o = offer("gpu_1x_a10", "global");
    let q = p.quote(&o).await.unwrap();
    let name = lease(7, 1);

    let e = p.create(&request(name.clone(), o, q)).await.unwrap_err();
    assert_eq!(e.kind, ErrorKind::Transient, "{e}");
    assert!(e.to_string().contains("502"), "{e}");

    let listed = p.list().await.unwrap();
    assert_eq!(named(&listed, &name).len(), 1, "{listed:?}");
    assert_eq!(listed.len(), 1);
}

#[tokio::test]
async fn a_terminated_instance_may_linger() {
    let (url, w) = fake().await;
    let p = client(&url);
    let name = lease(7, 1);
    let id = quote_and_create(&p, name.clone()).await;

    w.lock().unwrap().faults.linger_polls = 2;
    p.terminate(&id).await.unwrap();
    for poll in 0..2 {
        let listed = p.list().await.unwrap();
        let mine = named(&listed, &name);
        assert_eq!(mine.len(), 1, "poll {poll}");
        assert_eq!(mine[0].state, InstanceState::Terminating, "poll {poll}");
        assert_eq!(mine[0].status_text, "terminating");
    }
    assert!(named(&p.list().await.unwrap(), &name).is_empty());
    // Gone for good: terminating again is done already.
    p.terminate(&id).await.unwrap();
}

#[tokio::test]
async fn terminating_an_unknown_instance_is_done_but_a_wrong_url_is_not() {
    let (url, w) = fake().await;
    let p = client(&url);
    p.terminate(&InstanceId("0123456789abcdef0123456789abcdef".into()))
        .await
        .unwrap();
    assert_eq!(calls(&w), 1);

    // A 404 that is not Lambda's "does not exist" must not pass for a terminated instance.
    let lost = Lambda::new(ProviderConfig {
        base_url: format!("{url}/nowhere"),
        ..ProviderConfig::new(ProviderKind::Lambda, ApiKey::new("k"))
    });
    let e = lost
        .terminate(&InstanceId("0123456789abcdef0123456789abcdef".into()))
        .await
        .unwrap_err();
    assert_eq!(e.kind, ErrorKind::Refused, "{e}");
}
