//! Ferry's Paperspace client against the fake Paperspace API: the whole life of a machine,
//! and every fault the fake can inject.

mod support;

use ferry_cloud::provider::{CreateRequest, OfferRef, Provider, Quote};
use ferry_cloud::providers::paperspace::{DEFAULT_IMAGE, Paperspace};
use ferry_cloud::{Billing, ErrorKind, InstanceId, LeaseName, ProviderKind};
use ferry_fakecloud::Shared;
use ferry_fakecloud::world::NewInstance;
use support::{authorized_keys, lease, named, until_running};

const KEY: &str = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIPaperspaceFerryTestKey ferry";

/// The fake, with machines that provision for 50 ms.
async fn fake() -> (String, Shared) {
    support::fake_provisioning(50).await
}

fn client(url: &str, key: &str) -> Paperspace {
    Paperspace::new(support::config(ProviderKind::Paperspace, url, key))
}

fn offer(machine_type: &str) -> OfferRef {
    OfferRef {
        instance_type: machine_type.into(),
        region: "NY2".into(),
        gpu_count: 1,
        spot: false,
        expected_price_per_hour: 3.18,
        max_price_per_hour: Some(4.0),
        tier: None,
        vcpus: None,
    }
}

fn request(name: &LeaseName, machine_type: &str) -> CreateRequest {
    CreateRequest {
        name: name.clone(),
        offer: offer(machine_type),
        quote: Quote {
            price_per_hour: 3.18,
            ask: None,
            detail: String::new(),
        },
        public_key: KEY.into(),
        image: DEFAULT_IMAGE.into(),
        disk_gb: 50,
        onstart: None,
    }
}

fn calls(shared: &Shared) -> u64 {
    support::calls(shared, ProviderKind::Paperspace)
}

fn plant(shared: &Shared, name: &str) -> String {
    shared
        .lock()
        .unwrap()
        .create(NewInstance {
            provider: "paperspace",
            name: name.into(),
            instance_type: "A4000".into(),
            region: "ny2".into(),
            gpu_count: 1,
            price_per_hour: 0.76,
            spot: false,
            billing: Billing::PER_SECOND,
            storage_per_hour: 0.0,
            public_key: None,
            env: Default::default(),
        })
        .unwrap()
        .id
}

#[tokio::test]
async fn a_machine_is_made_reached_and_given_back() {
    let (url, shared) = fake().await;
    let keys = authorized_keys(&shared);
    let ps = client(&url, "k");

    let quote = ps.quote(&offer("A100-80G")).await.unwrap();
    assert_eq!(quote.price_per_hour, 3.18);
    assert!(
        quote.detail.contains("no live price API"),
        "{}",
        quote.detail
    );

    let name = lease(1, 1);
    let id = ps.create(&request(&name, "A100-80G")).await.unwrap();
    {
        let w = shared.lock().unwrap();
        let made = w.instances.iter().find(|i| i.id == id.0).unwrap();
        assert_eq!(made.instance_type, "A100-80G");
        assert_eq!(
            made.region, "ny2",
            "the catalog's NY2, as the API writes it"
        );
        assert_eq!(made.price_per_hour, 3.18);
    }
    // The key reached the machine through its startup script.
    let installed = keys.read();
    assert_eq!(installed.lines().collect::<Vec<_>>(), vec![KEY]);

    let listed = ps.list().await.unwrap();
    assert_eq!(named(&listed, &name).len(), 1, "listed by its name at once");
    let running = until_running(&ps, &id).await;
    assert_eq!(running.name, name.to_string());
    assert_eq!(running.lease(), Some(name.clone()));
    let endpoint = running.endpoint.expect("a running machine has an address");
    assert_eq!(endpoint.host, shared.lock().unwrap().ssh.host);
    assert_eq!((endpoint.port, endpoint.user.as_str()), (22, "paperspace"));
    assert_eq!(running.status_text, "ready");
    assert!(!running.interruptible);

    // A second machine with the same key reuses the startup script: one call, the create.
    let before = calls(&shared);
    let second = ps.create(&request(&lease(2, 1), "A100-80G")).await.unwrap();
    assert_eq!(calls(&shared) - before, 1);
    let scripts: serde_json::Value = reqwest::Client::new()
        .get(format!("{url}/paperspace/startup-scripts"))
        .bearer_auth("k")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(scripts["items"].as_array().unwrap().len(), 1, "{scripts}");
    // A fresh process finds the same script by its name instead of making another.
    let other = client(&url, "k");
    let before = calls(&shared);
    other
        .create(&request(&lease(3, 1), "A100-80G"))
        .await
        .unwrap();
    assert_eq!(calls(&shared) - before, 2, "one lookup, one create");

    ps.terminate(&id).await.unwrap();
    let left = ps.list().await.unwrap();
    assert!(left.iter().all(|i| i.id != id), "terminated, yet listed");
    assert!(left.iter().any(|i| i.id == second));
}

#[tokio::test]
async fn no_capacity_refuses_the_quote_and_the_create() {
    let (url, shared) = fake().await;
    shared.lock().unwrap().faults.no_capacity = vec!["H100".into()];
    let ps = client(&url, "k");
    let mut h100 = offer("H100");
    h100.expected_price_per_hour = 5.95;
    h100.max_price_per_hour = None;
    let e = ps.quote(&h100).await.unwrap_err();
    assert_eq!(e.kind, ErrorKind::NoCapacity, "{e}");
    let e = ps.create(&request(&lease(1, 1), "H100")).await.unwrap_err();
    assert_eq!(e.kind, ErrorKind::NoCapacity, "{e}");
    assert!(e.kind.fails_over());
    assert!(shared.lock().unwrap().instances.is_empty());
    // Another type still has stock.
    ps.quote(&offer("A100-80G")).await.unwrap();
}

#[tokio::test]
async fn spot_and_a_price_above_the_maximum_are_refused_without_a_call() {
    let (url, shared) = fake().await;
    let ps = client(&url, "k");
    let mut spot = offer("A100-80G");
    spot.spot = true;
    let e = ps.quote(&spot).await.unwrap_err();
    assert_eq!(e.kind, ErrorKind::Refused);
    assert!(e.to_string().contains("no spot"), "{e}");
    let mut dear = offer("A100-80G");
    dear.max_price_per_hour = Some(3.0);
    let e = ps.quote(&dear).await.unwrap_err();
    assert_eq!(e.kind, ErrorKind::PriceAbove, "{e}");
    assert_eq!(calls(&shared), 0);
    assert_eq!(ps.calls(), 0);
}

#[tokio::test]
async fn a_wrong_key_is_refused_once_per_call_naming_the_provider() {
    let (url, shared) = fake().await;
    let ps = client(&url, "not-the-key");
    let e = ps.list().await.unwrap_err();
    assert_eq!(e.kind, ErrorKind::Auth);
    assert!(e.to_string().starts_with("paperspace: "), "{e}");
    assert!(
        !e.to_string().contains("not-the-key"),
        "the key leaked: {e}"
    );
    assert_eq!(calls(&shared), 1);
    assert_eq!(
        ps.quote(&offer("A100-80G")).await.unwrap_err().kind,
        ErrorKind::Auth
    );
    assert_eq!(calls(&shared), 2);
    assert_eq!(
        ps.create(&request(&lease(1, 1), "A100-80G"))
            .await
            .unwrap_err()
            .kind,
        ErrorKind::Auth
    );
    assert_eq!(calls(&shared), 3);
    assert_eq!(
        ps.terminate(&InstanceId("ps000001".into()))
            .await
            .unwrap_err()
            .kind,
        ErrorKind::Auth
    );
    assert_eq!(calls(&shared), 4);
    assert_eq!(ps.calls(), 4);
}

#[tokio::test]
async fn server_errors_are_retried() {
    let (url, shared) = fake().await;
    plant(&shared, "theirs");
    shared.lock().unwrap().faults.server_errors = 2;
    let ps = client(&url, "k");
    let list = ps.list().await.unwrap();
    assert_eq!(list.len(), 1);
    assert_eq!(calls(&shared), 3);
}

#[tokio::test]
async fn a_rate_limit_is_waited_out() {
    let (url, shared) = fake().await;
    support::assert_waits_out_a_rate_limit(&client(&url, "k"), &shared).await;
}

#[tokio::test]
async fn a_malformed_listing_names_the_provider_and_the_field() {
    let (url, shared) = fake().await;
    let ps = client(&url, "k");
    // Nothing to list: the list itself comes back as the wrong type.
    shared.lock().unwrap().faults.malformed_lists = 1;
    let e = ps.list().await.unwrap_err();
    assert_eq!(e.kind, ErrorKind::Malformed);
    assert!(e.to_string().starts_with("paperspace: items"), "{e}");

    plant(&shared, "theirs");
    shared.lock().unwrap().faults.malformed_lists = 1;
    let e = ps.list().await.unwrap_err();
    assert_eq!(e.kind, ErrorKind::Malformed);
    let msg = e.to_string();
    assert!(msg.starts_with("paperspace: items[0]"), "{msg}");
    assert!(msg.contains("state"), "{msg}");
    assert_eq!(calls(&shared), 2, "a malformed answer is not retried");
    assert_eq!(ps.list().await.unwrap().len(), 1);
}

#[tokio::test]
async fn a_lost_create_answer_is_found_again_by_name() {
    let (url, shared) = fake().await;
    shared.lock().unwrap().faults.lose_create_responses = 1;
    let ps = client(&url, "k");
    let name = lease(7, 1);
    let e = ps.create(&request(&name, "A100-80G")).await.unwrap_err();
    assert_eq!(e.kind, ErrorKind::Transient, "{e}");
    let list = ps.list().await.unwrap();
    assert_eq!(
        named(&list, &name).len(),
        1,
        "the create was not sent twice"
    );
    assert_eq!(shared.lock().unwrap().instances.len(), 1);
}

#[tokio::test]
async fn a_lingering_machine_is_listed_twice_more_then_gone() {
    let (url, shared) = fake().await;
    let ps = client(&url, "k");
    let id = ps.create(&request(&lease(1, 1), "A4000")).await.unwrap();
    shared.lock().unwrap().faults.linger_polls = 2;
    ps.terminate(&id).await.unwrap();
    for poll in 1..=2 {
        let list = ps.list().await.unwrap();
        assert!(list.iter().any(|i| i.id == id), "gone early, poll {poll}");
    }
    assert!(ps.list().await.unwrap().iter().all(|i| i.id != id));
    // Terminating it again, now that it is gone, is done already.
    ps.terminate(&id).await.unwrap();
}

#[tokio::test]
async fn terminating_an_unknown_machine_is_done_already() {
    let (url, shared) = fake().await;
    let ps = client(&url, "k");
    ps.terminate(&InstanceId("ps999999".into())).await.unwrap();
    assert_eq!(calls(&shared), 1);
    // An id Paperspace could not have given is not sent at all.
    ps.terminate(&InstanceId("../startup-scripts".into()))
        .await
        .unwrap();
    assert_eq!(calls(&shared), 1);
}

#[tokio::test]
async fn listings_page_through_every_machine() {
    let (url, shared) = fake().await;
    let ids: Vec<String> = (1..=3).map(|n| plant(&shared, &format!("m{n}"))).collect();

    let http = reqwest::Client::new();
    let first: serde_json::Value = http
        .get(format!("{url}/paperspace/machines?limit=2"))
        .bearer_auth("k")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(first["items"].as_array().unwrap().len(), 2);
    assert_eq!(first["hasMore"], true);
    let cursor = first["nextPage"].as_str().unwrap();
    let rest: serde_json::Value = http
        .get(format!("{url}/paperspace/machines?limit=2&after={cursor}"))
        .bearer_auth("k")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(rest["items"].as_array().unwrap().len(), 1);
    assert_eq!(rest["hasMore"], false);
    assert!(rest["nextPage"].is_null());

    let before = calls(&shared);
    let ps = client(&url, "k").with_page_size(2);
    let mut listed: Vec<String> = ps
        .list()
        .await
        .unwrap()
        .into_iter()
        .map(|i| i.id.0)
        .collect();
    listed.sort();
    assert_eq!(listed, ids);
    assert_eq!(calls(&shared) - before, 2, "one call per page");
}
