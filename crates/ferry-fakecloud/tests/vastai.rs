//! Ferry's Vast.ai client against the fake Vast.ai API: the whole life of an instance, and
//! each fault a real marketplace gives.

mod support;

use ferry_cloud::providers::vastai::{MIN_RELIABILITY, VastAi};
use ferry_cloud::{
    CreateRequest, ErrorKind, InstanceId, InstanceState, LeaseName, OfferRef, Provider,
    ProviderKind, Quote,
};
use ferry_fakecloud::Shared;
use support::{authorized_keys, lease, named, sshd, until_running};

const GPU: &str = "H100 SXM";
const KEY: &str = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFerryTestKeyForVastAiOnly ferry@test";

/// The fake, with instances that provision for 60 ms.
async fn fake() -> (String, Shared) {
    support::fake_provisioning(60).await
}

fn client(url: &str, key: &str) -> VastAi {
    VastAi::new(support::config(ProviderKind::Vastai, url, key))
}

fn offer(spot: bool) -> OfferRef {
    OfferRef {
        instance_type: GPU.into(),
        region: "any".into(),
        gpu_count: 1,
        spot,
        expected_price_per_hour: 1.65,
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
        public_key: KEY.into(),
        image: "pytorch/pytorch:latest".into(),
        disk_gb: 40,
        onstart: Some("echo guard-installed".into()),
    }
}

fn calls(world: &Shared) -> u64 {
    support::calls(world, ProviderKind::Vastai)
}

#[tokio::test]
async fn an_instance_lives_and_is_terminated() {
    let (url, world) = fake().await;
    let keys = authorized_keys(&world);
    let p = client(&url, "k");

    let quote = p.quote(&offer(false)).await.unwrap();
    assert_eq!(quote.price_per_hour, 1.65);
    assert!(quote.ask.is_some());
    assert!(
        quote.detail.contains("reliability 0.995, Quebec, CA"),
        "{}",
        quote.detail
    );

    let name = lease(1, 1);
    let id = p
        .create(&request(name.clone(), offer(false), quote))
        .await
        .unwrap();
    let running = until_running(&p, &id).await;
    assert_eq!(running.name, name.to_string());
    assert_eq!(running.lease(), Some(name.clone()));
    assert_eq!(running.endpoint, Some(sshd()), "the world's sshd");
    assert_eq!(running.price_per_hour, Some(1.65));
    assert!(!running.interruptible);
    assert_eq!(running.status_text, "running");

    let text = keys.read();
    assert_eq!(
        text.lines().filter(|l| *l == KEY).count(),
        1,
        "the key is installed once: {text:?}"
    );

    p.terminate(&id).await.unwrap();
    let after = p.list().await.unwrap();
    assert!(named(&after, &name).is_empty(), "{after:?}");

    // What Vast.ai says it charged matches the fake's billing record.
    let charged = p.charged(&id).await.unwrap().expect("a charge row");
    let billed = world.lock().unwrap().bill()[0].amount_micros.as_usd();
    assert!(
        charged > 0.0 && (charged - billed).abs() < 1e-9,
        "{charged} vs {billed}"
    );
    assert_eq!(
        p.charged(&InstanceId("99999999".into())).await.unwrap(),
        None
    );
}

#[tokio::test]
async fn the_offer_chosen_is_the_cheapest_reliable_one_not_the_cheapest() {
    let (url, world) = fake().await;
    let p = client(&url, "k");
    // The market has offers cheaper than the one Ferry should pick, one of them even above
    // the reliability floor: ask the fake directly.
    let market: serde_json::Value = reqwest::Client::new()
        .post(format!("{url}/vastai/bundles/"))
        .bearer_auth("k")
        .json(&serde_json::json!({
            "gpu_name": {"eq": GPU},
            "num_gpus": {"eq": 1},
            "reliability2": {"gte": 0.0},
        }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let offers = market["offers"].as_array().unwrap();
    let cheaper_reliable = offers.iter().any(|o| {
        o["dph_total"].as_f64().unwrap() < 1.65
            && o["reliability2"].as_f64().unwrap() >= MIN_RELIABILITY
    });
    let cheapest = offers
        .iter()
        .map(|o| o["dph_total"].as_f64().unwrap())
        .fold(f64::INFINITY, f64::min);
    assert!(cheaper_reliable, "{offers:?}");
    assert!(cheapest < 1.65);

    let q = p.quote(&offer(false)).await.unwrap();
    assert_eq!(q.price_per_hour, 1.65, "{}", q.detail);
    let chosen = offers
        .iter()
        .find(|o| o["id"].as_u64().map(|id| id.to_string()) == q.ask)
        .unwrap();
    assert_eq!(chosen["reliability2"].as_f64(), Some(0.995));

    // A bid: the same host, at half its price.
    let bid = p.quote(&offer(true)).await.unwrap();
    assert_eq!(
        (bid.price_per_hour, bid.ask.clone()),
        (0.825, q.ask.clone())
    );
    // Two GPUs cost twice as much, from another ask.
    let two = p
        .quote(&OfferRef {
            gpu_count: 2,
            ..offer(false)
        })
        .await
        .unwrap();
    assert_eq!(two.price_per_hour, 3.3);
    assert_ne!(two.ask, q.ask);

    // Live prices went up: over max_price, the quote is refused.
    world.lock().unwrap().faults.live_price_factor = Some(2.0);
    let e = p
        .quote(&OfferRef {
            max_price_per_hour: Some(3.0),
            ..offer(false)
        })
        .await
        .unwrap_err();
    assert_eq!(e.kind, ErrorKind::PriceAbove, "{e}");
}

#[tokio::test]
async fn no_capacity_refuses_quote_and_create() {
    let (url, world) = fake().await;
    let p = client(&url, "k");
    let quote = p.quote(&offer(false)).await.unwrap();
    world.lock().unwrap().faults.no_capacity = vec![GPU.into()];
    let e = p.quote(&offer(false)).await.unwrap_err();
    assert_eq!(e.kind, ErrorKind::NoCapacity, "{e}");
    let e = p
        .create(&request(lease(2, 1), offer(false), quote))
        .await
        .unwrap_err();
    assert_eq!(e.kind, ErrorKind::NoCapacity, "{e}");
    assert!(e.kind.fails_over(), "the next offer of the plan is tried");
    assert!(world.lock().unwrap().instances.is_empty());
}

#[tokio::test]
async fn a_create_without_a_live_offer_is_refused() {
    let (url, world) = fake().await;
    let p = client(&url, "k");
    let quote = Quote {
        price_per_hour: 1.0,
        ask: None,
        detail: String::new(),
    };
    let e = p
        .create(&request(lease(3, 1), offer(false), quote))
        .await
        .unwrap_err();
    assert_eq!(e.kind, ErrorKind::Refused);
    assert_eq!(calls(&world), 0, "nothing was sent");
    // An ask that is not (or no longer) on the market.
    let gone = Quote {
        price_per_hour: 1.0,
        ask: Some("12345".into()),
        detail: String::new(),
    };
    let e = p
        .create(&request(lease(3, 1), offer(false), gone))
        .await
        .unwrap_err();
    assert_eq!(e.kind, ErrorKind::NoCapacity, "{e}");
}

#[tokio::test]
async fn a_wrong_key_is_auth_and_never_retried() {
    let (url, world) = fake().await;
    let good = client(&url, "k");
    let quote = good.quote(&offer(false)).await.unwrap();
    let before = calls(&world);
    let p = client(&url, "not-the-key");

    let e = p.quote(&offer(false)).await.unwrap_err();
    assert_eq!(e.kind, ErrorKind::Auth);
    assert_eq!(e.provider, "vastai");
    assert!(e.to_string().starts_with("vastai: "), "{e}");
    assert!(!e.to_string().contains("not-the-key"), "{e}");
    assert_eq!(calls(&world), before + 1);

    let e = p.list().await.unwrap_err();
    assert_eq!(e.kind, ErrorKind::Auth);
    assert_eq!(calls(&world), before + 2);

    let e = p
        .create(&request(lease(4, 1), offer(false), quote))
        .await
        .unwrap_err();
    assert_eq!(e.kind, ErrorKind::Auth);
    assert_eq!(
        calls(&world),
        before + 3,
        "no key attach after a refused create"
    );

    let e = p
        .terminate(&InstanceId("7000001".into()))
        .await
        .unwrap_err();
    assert_eq!(
        e.kind,
        ErrorKind::Auth,
        "a wrong key is no proof the instance is gone"
    );
    assert_eq!(calls(&world), before + 4);
    assert_eq!(p.calls(), 4);
}

#[tokio::test]
async fn server_errors_are_retried() {
    let (url, world) = fake().await;
    let p = client(&url, "k");
    world.lock().unwrap().faults.server_errors = 2;
    let q = p.quote(&offer(false)).await.unwrap();
    assert_eq!(q.price_per_hour, 1.65);
    assert_eq!(calls(&world), 3);
    assert_eq!(p.calls(), 3);
}

#[tokio::test]
async fn rate_limits_are_waited_out() {
    let (url, world) = fake().await;
    support::assert_waits_out_a_rate_limit(&client(&url, "k"), &world).await;
}

#[tokio::test]
async fn a_malformed_listing_names_the_field() {
    let (url, world) = fake().await;
    let p = client(&url, "k");
    let quote = p.quote(&offer(false)).await.unwrap();
    p.create(&request(lease(5, 1), offer(false), quote))
        .await
        .unwrap();
    world.lock().unwrap().faults.malformed_lists = 1;
    let e = p.list().await.unwrap_err();
    assert_eq!(e.kind, ErrorKind::Malformed);
    let text = e.to_string();
    assert!(text.starts_with("vastai: instances[0]"), "{text}");
    assert!(text.contains("`id`"), "{text}");
    assert_eq!(
        p.list().await.unwrap().len(),
        1,
        "the next listing is whole"
    );
}

#[tokio::test]
async fn a_lost_create_is_found_by_name_and_not_made_twice() {
    let (url, world) = fake().await;
    let p = client(&url, "k");
    let quote = p.quote(&offer(false)).await.unwrap();
    world.lock().unwrap().faults.lose_create_responses = 1;
    let name = lease(6, 1);
    let before = calls(&world);
    let e = p
        .create(&request(name.clone(), offer(false), quote))
        .await
        .unwrap_err();
    assert_eq!(e.kind, ErrorKind::Transient, "{e}");
    assert_eq!(
        calls(&world),
        before + 1,
        "a create is never retried blindly"
    );
    let list = p.list().await.unwrap();
    assert_eq!(named(&list, &name).len(), 1, "{list:?}");
}

#[tokio::test]
async fn a_lingering_terminate_shows_for_its_listings() {
    let (url, world) = fake().await;
    let p = client(&url, "k");
    let quote = p.quote(&offer(false)).await.unwrap();
    let name = lease(7, 1);
    let id = p
        .create(&request(name.clone(), offer(false), quote))
        .await
        .unwrap();
    world.lock().unwrap().faults.linger_polls = 2;
    p.terminate(&id).await.unwrap();
    assert_eq!(named(&p.list().await.unwrap(), &name).len(), 1);
    assert_eq!(named(&p.list().await.unwrap(), &name).len(), 1);
    assert!(named(&p.list().await.unwrap(), &name).is_empty());
    // Terminating it again, now that Vast.ai no longer knows it, is done already.
    p.terminate(&id).await.unwrap();
}

#[tokio::test]
async fn terminating_an_unknown_instance_is_ok() {
    let (url, world) = fake().await;
    let p = client(&url, "k");
    p.terminate(&InstanceId("424242".into())).await.unwrap();
    assert_eq!(calls(&world), 1);
    let e = p
        .terminate(&InstanceId("not-a-number".into()))
        .await
        .unwrap_err();
    assert_eq!(e.kind, ErrorKind::Refused);
}

#[tokio::test]
async fn an_outbid_instance_is_stopped_and_interruptible() {
    let (url, world) = fake().await;
    let keys = authorized_keys(&world);
    let p = client(&url, "k");
    let quote = p.quote(&offer(true)).await.unwrap();
    let id = p
        .create(&request(lease(8, 1), offer(true), quote))
        .await
        .unwrap();
    let running = until_running(&p, &id).await;
    assert!(running.interruptible);
    assert_eq!(running.price_per_hour, Some(0.825), "billed at the bid");
    assert!(world.lock().unwrap().preempt(&id.0, true));
    let list = p.list().await.unwrap();
    let stopped = list.iter().find(|i| i.id == id).unwrap();
    assert_eq!(stopped.state, InstanceState::Stopped);
    assert!(stopped.state.may_bill());
    assert_eq!(stopped.endpoint, None);
    assert!(
        stopped.status_text.contains("outbid"),
        "{}",
        stopped.status_text
    );
    assert!(keys.read().contains(KEY));
}

#[tokio::test]
async fn the_key_is_attached_through_the_api_too() {
    // Besides onstart, the client attaches the key by API (for images whose onstart never
    // runs): the create makes that call, and the fake's attach installs a key.
    let (url, world) = fake().await;
    let keys = authorized_keys(&world);
    let p = client(&url, "k");
    let quote = p.quote(&offer(false)).await.unwrap();
    let id = p
        .create(&request(lease(9, 1), offer(false), quote))
        .await
        .unwrap();
    std::fs::write(&keys.0, "").unwrap();
    let other = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIAnotherKey other@test";
    let status = reqwest::Client::new()
        .post(format!("{url}/vastai/instances/{id}/ssh/"))
        .bearer_auth("k")
        .json(&serde_json::json!({ "ssh_key": other }))
        .send()
        .await
        .unwrap()
        .status();
    assert!(status.is_success());
    assert_eq!(keys.read().trim(), other);
    // Quote and create: the search, the create, the attach.
    assert_eq!(p.calls(), 3);
    assert_eq!(calls(&world), 4, "and the test's own attach");
}
