//! Ferry's Azure client against the fake Azure (Entra ID's token endpoint and Resource
//! Manager): the whole life of a VM, Spot and its eviction, quotas, and each fault the fake
//! can inject.

mod support;

use ferry_cloud::providers::azure::{Azure, premium_ssd_per_hour};
use ferry_cloud::providers::{Account, ProviderConfig};
use ferry_cloud::{
    CreateRequest, Endpoint, ErrorKind, InstanceId, InstanceState, LeaseName, OfferRef, Provider,
    ProviderKind, Quote,
};
use ferry_fakecloud::{FakeInstance, Shared};
use support::{authorized_keys, fake, lease, named, until_running};

const PUBLIC_KEY: &str =
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFerryTestKeyForTheAzureFake00000000 ferry";

const A100: &str = "Standard_NC24ads_A100_v4";

fn config(url: &str, secret: &str) -> ProviderConfig {
    ProviderConfig {
        account: Account::Azure {
            tenant_id: "11111111-2222-3333-4444-555555555555".into(),
            client_id: "66666666-7777-8888-9999-000000000000".into(),
            subscription_id: "00000000-0000-0000-0000-00000000abcd".into(),
            resource_group: "ferry".into(),
            token_url: Some(format!(
                "{url}/azure/token/11111111-2222-3333-4444-555555555555/oauth2/v2.0/token"
            )),
        },
        ..support::config(ProviderKind::Azure, url, secret)
    }
}

fn client_with(url: &str, secret: &str) -> Azure {
    Azure::new(config(url, secret))
}

fn client(url: &str) -> Azure {
    client_with(url, support::API_KEY)
}

fn offer(instance_type: &str, region: &str, spot: bool) -> OfferRef {
    OfferRef {
        instance_type: instance_type.into(),
        region: region.into(),
        gpu_count: 1,
        spot,
        expected_price_per_hour: if spot { 0.444433 } else { 3.673 },
        max_price_per_hour: None,
        tier: None,
        vcpus: Some(24),
    }
}

fn request(name: LeaseName, offer: OfferRef, quote: Quote) -> CreateRequest {
    CreateRequest {
        name,
        offer,
        quote,
        public_key: PUBLIC_KEY.into(),
        image: ProviderKind::Azure.default_image().into(),
        disk_gb: 50,
        onstart: Some("echo hello".into()),
    }
}

fn quote_in(location: &str) -> Quote {
    Quote {
        price_per_hour: 3.673,
        ask: Some(location.into()),
        detail: String::new(),
    }
}

/// Quotes the A100 size in eastus and creates it under `name`.
async fn quote_and_create(p: &Azure, name: LeaseName, spot: bool) -> InstanceId {
    let o = offer(A100, "eastus", spot);
    let q = p.quote(&o).await.unwrap();
    p.create(&request(name, o, q)).await.unwrap()
}

fn calls(w: &Shared) -> u64 {
    support::calls(w, ProviderKind::Azure)
}

fn token_calls(w: &Shared) -> u64 {
    w.lock()
        .unwrap()
        .calls
        .get("azure-token")
        .copied()
        .unwrap_or(0)
}

/// The world's instance made under `name`.
fn made(w: &Shared, name: &LeaseName) -> FakeInstance {
    let name = name.to_string();
    w.lock()
        .unwrap()
        .instances
        .iter()
        .find(|i| i.name == name)
        .cloned()
        .expect("the VM was made")
}

fn azure_instances(w: &Shared) -> usize {
    w.lock()
        .unwrap()
        .instances
        .iter()
        .filter(|i| i.provider == "azure")
        .count()
}

#[tokio::test]
async fn a_vm_lives_from_quote_to_terminate() {
    let (url, w) = fake().await;
    let keys = authorized_keys(&w);
    let p = client(&url);

    let o = offer(A100, "eastus", false);
    let q = p.quote(&o).await.unwrap();
    assert_eq!(q.price_per_hour, 3.673);
    assert_eq!(q.ask.as_deref(), Some("eastus"));
    assert!(q.detail.contains("24 vCPUs, 1 GPU"), "{}", q.detail);
    assert!(
        q.detail
            .contains("Standard NCADS_A100_v4 Family vCPUs 0 of"),
        "{}",
        q.detail
    );

    let name = lease(7, 1);
    let id = p.create(&request(name.clone(), o, q)).await.unwrap();
    assert_eq!(id.0, name.to_string(), "the VM's name is its id");

    let first = p.list().await.unwrap();
    let mine = named(&first, &name);
    assert_eq!(mine.len(), 1);
    assert_eq!(mine[0].id, id);
    assert_eq!(mine[0].state, InstanceState::Provisioning);
    assert!(
        mine[0].status_text.contains("ProvisioningState/creating"),
        "{}",
        mine[0].status_text
    );
    assert_eq!(mine[0].endpoint, None);
    assert_eq!(mine[0].lease(), Some(name.clone()));

    let running = until_running(&p, &id).await;
    let host = w.lock().unwrap().ssh.host.clone();
    assert_eq!(
        running.endpoint,
        Some(Endpoint {
            host,
            port: 22,
            user: "ferry".into()
        })
    );
    assert!(!running.interruptible);
    assert_eq!(
        running.status_text,
        "ProvisioningState/succeeded, PowerState/running"
    );

    let vm = made(&w, &name);
    assert_eq!(vm.region, "eastus");
    assert_eq!(vm.instance_type, A100);
    assert_eq!(vm.price_per_hour, 3.673, "the catalog's list price");
    assert!(!vm.spot);
    assert_eq!(vm.gpu_count, 1);
    assert_eq!(vm.billing, p.billing());
    assert_eq!(
        vm.storage_per_hour,
        p.storage_per_hour(50),
        "its Premium SSD, billed as Ferry counts it"
    );
    assert_eq!(vm.storage_per_hour, premium_ssd_per_hour(64));
    assert_eq!(keys.read().trim(), PUBLIC_KEY, "the key reached the VM");

    p.terminate(&id).await.unwrap();
    let after = p.list().await.unwrap();
    assert!(named(&after, &name).is_empty(), "{after:?}");
    assert!(!w.lock().unwrap().bill()[0].still_billing);
    assert_eq!(token_calls(&w), 1, "one token for every call");
    assert_eq!(p.calls(), calls(&w), "every request counted");
}

#[tokio::test]
async fn the_network_is_made_once_per_location() {
    let (url, w) = fake().await;
    let p = client(&url);

    p.create(&request(
        lease(7, 1),
        offer(A100, "eastus", false),
        quote_in("eastus"),
    ))
    .await
    .unwrap();
    assert_eq!(
        calls(&w),
        5,
        "get the group (missing), make it, the security group, the network, the VM"
    );
    p.create(&request(
        lease(7, 2),
        offer(A100, "eastus", false),
        quote_in("eastus"),
    ))
    .await
    .unwrap();
    assert_eq!(calls(&w), 6, "the second VM in eastus is one call");
    p.create(&request(
        lease(7, 3),
        offer("Standard_NC4as_T4_v3", "westus2", false),
        quote_in("westus2"),
    ))
    .await
    .unwrap();
    assert_eq!(
        calls(&w),
        9,
        "westus2's security group and network, then the VM"
    );
    assert_eq!(made(&w, &lease(7, 3)).region, "westus2");

    // Another Ferry process finds the group and puts the (idempotent) network again.
    let other = client(&url);
    let before = calls(&w);
    other
        .create(&request(
            lease(7, 4),
            offer(A100, "eastus", false),
            quote_in("eastus"),
        ))
        .await
        .unwrap();
    assert_eq!(calls(&w) - before, 4);
    assert_eq!(p.list().await.unwrap().len(), 4);
}

#[tokio::test]
async fn the_sku_list_is_followed_across_pages() {
    let (url, w) = fake().await;
    let p = client(&url);
    // The last of eastus's sizes, on the list's second page.
    let mut o = offer("Standard_NV36ads_A10_v5", "eastus", false);
    o.expected_price_per_hour = 3.2;
    o.vcpus = None;
    let q = p.quote(&o).await.unwrap();
    assert!(q.detail.contains("36 vCPUs"), "{}", q.detail);
    assert_eq!(calls(&w), 3, "two pages of SKUs, one of usages");
}

#[tokio::test]
async fn spot_vms_are_interruptible_and_vanish_when_evicted() {
    let (url, w) = fake().await;
    let p = client(&url);
    let name = lease(8, 1);
    let id = quote_and_create(&p, name.clone(), true).await;

    let vm = made(&w, &name);
    assert!(vm.spot, "the PUT asked for Spot priority");
    assert_eq!(vm.price_per_hour, 0.444433, "the catalog's Spot price");
    let running = until_running(&p, &id).await;
    assert!(running.interruptible);

    let http = reqwest::Client::new();
    let r = http
        .post(format!("{url}/_fake/preempt/{}", vm.id))
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success());
    assert!(named(&p.list().await.unwrap(), &name).is_empty());
    // Evicted with Delete: nothing is left to terminate, and terminating is done.
    p.terminate(&id).await.unwrap();

    // A max price under the Spot price is refused by Azure.
    let mut capped = offer(A100, "eastus", true);
    capped.max_price_per_hour = Some(0.5);
    let mut req = request(lease(8, 2), capped, quote_in("eastus"));
    req.offer.max_price_per_hour = Some(0.1);
    let e = p.create(&req).await.unwrap_err();
    assert_eq!(e.kind, ErrorKind::Refused, "{e}");
    assert!(e.to_string().contains("MaxPrice"), "{e}");
}

#[tokio::test]
async fn quotas_refuse_with_their_names_and_numbers() {
    let (url, w) = fake().await;
    let p = client(&url);
    w.lock().unwrap().faults.vcpu_quota = Some(16);

    let e = p.quote(&offer(A100, "eastus", false)).await.unwrap_err();
    assert_eq!(e.kind, ErrorKind::Quota, "{e}");
    let text = e.to_string();
    assert!(
        text.contains("\"Standard NCADS_A100_v4 Family vCPUs\""),
        "{text}"
    );
    assert!(text.contains("needs 24 vCPUs"), "{text}");
    assert!(text.contains("is 16 vCPUs with 0 in use"), "{text}");
    assert!(e.kind.fails_over());

    let e = p.quote(&offer(A100, "eastus", true)).await.unwrap_err();
    assert_eq!(e.kind, ErrorKind::Quota, "{e}");
    assert!(
        e.to_string().contains("Total Regional Low-priority vCPUs"),
        "{e}"
    );

    // A create over the quota is refused by Azure itself, and read as a quota.
    let e = p
        .create(&request(
            lease(9, 1),
            offer(A100, "eastus", false),
            quote_in("eastus"),
        ))
        .await
        .unwrap_err();
    assert_eq!(e.kind, ErrorKind::Quota, "{e}");
    assert!(e.to_string().contains("OperationNotAllowed"), "{e}");
    assert_eq!(azure_instances(&w), 0);

    // Usage is the live VMs' vCPUs.
    w.lock().unwrap().faults.vcpu_quota = Some(48);
    quote_and_create(&p, lease(9, 2), false).await;
    quote_and_create(&p, lease(9, 3), false).await;
    let e = p.quote(&offer(A100, "eastus", false)).await.unwrap_err();
    assert!(e.to_string().contains("is 48 vCPUs with 48 in use"), "{e}");
    // Spot has its own quota, still unused.
    p.quote(&offer(A100, "eastus", true)).await.unwrap();
}

#[tokio::test]
async fn no_capacity_refuses_quote_and_create() {
    let (url, w) = fake().await;
    w.lock().unwrap().faults.no_capacity = vec![A100.into()];
    let p = client(&url);

    let e = p.quote(&offer(A100, "eastus", false)).await.unwrap_err();
    assert_eq!(e.kind, ErrorKind::NoCapacity, "{e}");
    assert!(e.to_string().contains(A100), "{e}");
    assert!(e.to_string().contains("NotAvailableForSubscription"), "{e}");
    // Capacity is per size: another one is still there.
    let mut t4 = offer("Standard_NC4as_T4_v3", "eastus", false);
    t4.expected_price_per_hour = 0.526;
    p.quote(&t4).await.unwrap();

    let e = p
        .create(&request(
            lease(7, 1),
            offer(A100, "eastus", false),
            quote_in("eastus"),
        ))
        .await
        .unwrap_err();
    assert_eq!(e.kind, ErrorKind::NoCapacity, "{e}");
    assert!(e.to_string().contains("SkuNotAvailable"), "{e}");
    assert!(p.list().await.unwrap().is_empty());
}

#[tokio::test]
async fn quotes_refuse_other_locations_high_prices_and_no_location() {
    let (url, w) = fake().await;
    let p = client(&url);

    let e = p
        .quote(&offer("Standard_NC80adis_H100_v5", "westus2", false))
        .await
        .unwrap_err();
    assert_eq!(e.kind, ErrorKind::NoCapacity, "{e}");
    assert!(e.to_string().contains("not offered in westus2"), "{e}");

    let mut capped = offer(A100, "eastus", false);
    capped.max_price_per_hour = Some(3.0);
    let e = p.quote(&capped).await.unwrap_err();
    assert_eq!(e.kind, ErrorKind::PriceAbove, "{e}");
    assert!(e.to_string().contains("3.67"), "{e}");

    let before = calls(&w);
    let e = p.quote(&offer(A100, "global", false)).await.unwrap_err();
    assert_eq!(e.kind, ErrorKind::Refused, "{e}");
    assert_eq!(calls(&w), before, "refused without asking");
}

#[tokio::test]
async fn wrong_credentials_are_auth_and_never_retried() {
    let (url, w) = fake().await;
    let p = client_with(&url, "wrong");

    let e = p.list().await.unwrap_err();
    assert_eq!(e.kind, ErrorKind::Auth, "{e}");
    assert_eq!(e.provider, "azure");
    assert!(e.to_string().starts_with("azure: "), "{e}");
    assert!(e.to_string().contains("AADSTS7000215"), "{e}");
    assert!(e.to_string().contains("providers.azure"), "{e}");
    assert!(!e.to_string().contains("wrong"), "never the secret: {e}");
    assert_eq!(token_calls(&w), 1, "asked once, not in a loop");
    assert_eq!(calls(&w), 0, "no API call without a token");

    let e = p.quote(&offer(A100, "eastus", false)).await.unwrap_err();
    assert_eq!(e.kind, ErrorKind::Auth);
    let e = p
        .create(&request(
            lease(7, 1),
            offer(A100, "eastus", false),
            quote_in("eastus"),
        ))
        .await
        .unwrap_err();
    assert_eq!(e.kind, ErrorKind::Auth);
    assert_eq!(token_calls(&w), 3);
    assert_eq!(calls(&w), 0);

    // A token ARM refuses is Auth too.
    let http = reqwest::Client::new();
    let r = http
        .get(format!(
            "{url}/azure/subscriptions/s/resourceGroups/ferry/providers/Microsoft.Compute/virtualMachines?api-version=2024-07-01"
        ))
        .bearer_auth("not-a-token")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(body["error"]["code"], "InvalidAuthenticationToken");
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
    quote_and_create(&p, lease(7, 1), false).await;

    w.lock().unwrap().faults.malformed_lists = 1;
    let e = p.list().await.unwrap_err();
    assert_eq!(e.kind, ErrorKind::Malformed, "{e}");
    let text = e.to_string();
    assert!(text.starts_with("azure: value[0]"), "{text}");
    assert!(text.contains("name"), "{text}");
    assert_eq!(p.list().await.unwrap().len(), 1, "one fault, one listing");
}

#[tokio::test]
async fn a_lost_create_answer_is_found_by_name_and_not_made_twice() {
    let (url, w) = fake().await;
    let p = client(&url);
    w.lock().unwrap().faults.lose_create_responses = 1;
    let o = offer(A100, "eastus", false);
    let q = p.quote(&o).await.unwrap();
    let name = lease(7, 1);

    let e = p
        .create(&request(name.clone(), o.clone(), q.clone()))
        .await
        .unwrap_err();
    assert_eq!(e.kind, ErrorKind::Transient, "{e}");
    assert!(e.to_string().contains("502"), "{e}");

    let listed = p.list().await.unwrap();
    assert_eq!(named(&listed, &name).len(), 1, "{listed:?}");
    assert_eq!(listed.len(), 1);

    // The same name again is the same VM (an idempotent PUT): no second machine.
    let id = p.create(&request(name.clone(), o, q)).await.unwrap();
    assert_eq!(id.0, name.to_string());
    assert_eq!(azure_instances(&w), 1);
    assert_eq!(p.list().await.unwrap().len(), 1);
}

#[tokio::test]
async fn a_terminated_vm_may_linger() {
    let (url, w) = fake().await;
    let p = client(&url);
    let name = lease(7, 1);
    let id = quote_and_create(&p, name.clone(), false).await;

    w.lock().unwrap().faults.linger_polls = 2;
    p.terminate(&id).await.unwrap();
    for poll in 0..2 {
        let listed = p.list().await.unwrap();
        let mine = named(&listed, &name);
        assert_eq!(mine.len(), 1, "poll {poll}");
        assert_eq!(mine[0].state, InstanceState::Terminating, "poll {poll}");
        assert!(
            mine[0].status_text.contains("ProvisioningState/deleting"),
            "{}",
            mine[0].status_text
        );
    }
    assert!(named(&p.list().await.unwrap(), &name).is_empty());
    // Gone for good: deleting again is done already.
    p.terminate(&id).await.unwrap();
}

#[tokio::test]
async fn terminating_an_unknown_vm_is_done_but_a_wrong_url_is_not() {
    let (url, w) = fake().await;
    let p = client(&url);
    let unknown = InstanceId(lease(99, 1).to_string());
    // No resource group yet: ARM's ResourceGroupNotFound.
    p.terminate(&unknown).await.unwrap();
    assert_eq!(calls(&w), 1);
    // A group without that VM: ARM's 204.
    quote_and_create(&p, lease(7, 1), false).await;
    p.terminate(&unknown).await.unwrap();
    assert_eq!(p.list().await.unwrap().len(), 1, "the other VM lives on");

    // A 404 without ARM's error body must not pass for a deleted VM.
    let lost = Azure::new(ProviderConfig {
        base_url: format!("{url}/nowhere"),
        ..config(&url, support::API_KEY)
    });
    let e = lost.terminate(&unknown).await.unwrap_err();
    assert_eq!(e.kind, ErrorKind::Refused, "{e}");
}

#[tokio::test]
async fn one_token_serves_many_calls() {
    let (url, w) = fake().await;
    let p = client(&url);
    let id = quote_and_create(&p, lease(7, 1), false).await;
    for _ in 0..3 {
        p.list().await.unwrap();
    }
    p.terminate(&id).await.unwrap();
    assert!(calls(&w) >= 10, "{}", calls(&w));
    assert_eq!(token_calls(&w), 1);
}
