//! Ferry's Compute Engine client against the fake Google Cloud: the token, the whole life of
//! an instance, and each fault the fake can inject.

mod support;

use ferry_cloud::providers::gcp::Gcp;
use ferry_cloud::providers::{Account, ProviderConfig};
use ferry_cloud::{
    ApiKey, CreateRequest, Endpoint, ErrorKind, InstanceId, InstanceState, LeaseName, OfferRef,
    Provider, ProviderKind, Quote,
};
use ferry_fakecloud::Shared;
use support::{authorized_keys, fake, lease, named, until_running};

const PUBLIC_KEY: &str =
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFerryTestKeyForTheGcpFake000000000 ferry";
const SERVICE_ACCOUNT: &str = include_str!("../../ferry-cloud/fixtures/gcp/service-account.json");
const PROJECT: &str = "ferry-test-project";

fn config_with(url: &str, key_file: &str) -> ProviderConfig {
    ProviderConfig {
        base_url: format!("{url}/gcp/compute/v1"),
        account: Account::Gcp {
            project: PROJECT.into(),
            token_url: Some(format!("{url}/gcp/token")),
        },
        retry: support::fast_retry(),
        ..ProviderConfig::new(ProviderKind::Gcp, ApiKey::new(key_file))
    }
}

fn client(url: &str) -> Gcp {
    Gcp::new(config_with(url, SERVICE_ACCOUNT))
}

fn offer(instance_type: &str, gpus: u32, price: f64) -> OfferRef {
    OfferRef {
        instance_type: instance_type.into(),
        region: "us-central1".into(),
        gpu_count: gpus,
        spot: false,
        expected_price_per_hour: price,
        max_price_per_hour: None,
        tier: None,
        vcpus: None,
    }
}

/// `a2-highgpu-1g` in us-central1 at the catalog's list price.
fn a100() -> OfferRef {
    offer("a2-highgpu-1g", 1, 3.67339)
}

fn request(name: LeaseName, offer: OfferRef, quote: Quote) -> CreateRequest {
    CreateRequest {
        name,
        offer,
        quote,
        public_key: PUBLIC_KEY.into(),
        image: ProviderKind::Gcp.default_image().into(),
        disk_gb: 50,
        onstart: None,
    }
}

async fn quote_and_create(p: &Gcp, name: LeaseName, o: OfferRef) -> InstanceId {
    let q = p.quote(&o).await.unwrap();
    p.create(&request(name, o, q)).await.unwrap()
}

fn calls(w: &Shared) -> u64 {
    support::calls(w, ProviderKind::Gcp)
}

fn token_calls(w: &Shared) -> u64 {
    w.lock()
        .unwrap()
        .calls
        .get("gcp-token")
        .copied()
        .unwrap_or(0)
}

/// The world's id of the instance named `name`.
fn world_id(w: &Shared, name: &LeaseName) -> String {
    let name = name.to_string();
    w.lock()
        .unwrap()
        .instances
        .iter()
        .find(|i| i.name == name)
        .map(|i| i.id.clone())
        .expect("made")
}

#[tokio::test]
async fn an_instance_lives_from_quote_to_terminate() {
    let (url, w) = fake().await;
    let keys = authorized_keys(&w);
    let p = client(&url);

    let o = a100();
    let q = p.quote(&o).await.unwrap();
    assert_eq!(q.price_per_hour, 3.67339, "the catalog's list price");
    assert_eq!(q.ask.as_deref(), Some("us-central1-a"), "{q:?}");
    assert!(q.detail.contains("quota NVIDIA_A100_GPUS"), "{}", q.detail);
    assert!(q.detail.contains("nvidia-tesla-a100"), "{}", q.detail);

    let name = lease(7, 1);
    let id = p.create(&request(name.clone(), o, q)).await.unwrap();
    assert_eq!(id.0, format!("us-central1-a/{name}"));

    let first = p.list().await.unwrap();
    let mine = named(&first, &name);
    assert_eq!(mine.len(), 1);
    assert_eq!(mine[0].id, id);
    assert_eq!(mine[0].state, InstanceState::Provisioning);
    assert!(
        ["PROVISIONING", "STAGING"].contains(&mine[0].status_text.as_str()),
        "{:?}",
        mine[0]
    );
    assert_eq!(mine[0].endpoint, None, "no address while provisioning");
    assert_eq!(mine[0].lease(), Some(name.clone()));
    assert!(!mine[0].interruptible);

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
    assert_eq!(running.price_per_hour, None);
    {
        let w = w.lock().unwrap();
        let made = w
            .instances
            .iter()
            .find(|i| i.name == name.to_string())
            .unwrap();
        assert_eq!(made.region, "us-central1");
        assert_eq!(made.gpu_count, 1);
        assert_eq!(made.price_per_hour, 3.67339);
        assert_eq!(made.billing, p.billing());
        assert!((made.storage_per_hour - p.storage_per_hour(50)).abs() < 1e-12);
    }
    assert_eq!(
        keys.read().trim(),
        PUBLIC_KEY,
        "the ssh-keys metadata reached the machine"
    );

    // The listing shows what the insert asked for.
    let token = w
        .lock()
        .unwrap()
        .issued_tokens
        .iter()
        .next()
        .unwrap()
        .clone();
    let listed: serde_json::Value = reqwest::Client::new()
        .get(format!(
            "{url}/gcp/compute/v1/projects/{PROJECT}/aggregated/instances"
        ))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let vm = &listed["items"]["zones/us-central1-a"]["instances"][0];
    assert_eq!(vm["labels"]["ferry-owner"], "0a1b2c3d");
    assert_eq!(vm["labels"]["ferry-attempt"], "1");
    assert_eq!(vm["scheduling"]["provisioningModel"], "STANDARD");
    assert_eq!(vm["disks"][0]["diskSizeGb"], "50");
    assert_eq!(
        listed["items"]["zones/us-central1-c"]["warning"]["code"],
        "NO_RESULTS_ON_PAGE"
    );

    p.terminate(&id).await.unwrap();
    let after = p.list().await.unwrap();
    assert!(named(&after, &name).is_empty(), "{after:?}");
    let bill = w.lock().unwrap().bill();
    assert!(!bill[0].still_billing);
    assert!(
        bill[0].amount_micros.0 > 0,
        "a one-minute minimum: {bill:?}"
    );
}

#[tokio::test]
async fn the_token_is_fetched_once_for_many_calls() {
    let (url, w) = fake().await;
    let p = client(&url);
    quote_and_create(&p, lease(7, 1), a100()).await;
    for _ in 0..3 {
        p.list().await.unwrap();
    }
    assert_eq!(token_calls(&w), 1);
    // region, machine type, insert, wait, three listings.
    assert_eq!(calls(&w), 7);
    assert_eq!(p.calls(), 8, "the API's calls and the token request");
}

#[tokio::test]
async fn a_zone_without_the_type_is_skipped_and_none_is_no_capacity() {
    let (url, w) = fake().await;
    let p = client(&url);
    // The fake offers no A3 in the `-a` zones.
    let q = p.quote(&offer("a3-highgpu-1g", 1, 10.9791)).await.unwrap();
    assert_eq!(q.ask.as_deref(), Some("us-central1-b"));

    // The config's zone of the region goes first.
    let mut c = config_with(&url, SERVICE_ACCOUNT);
    c.regions = vec!["europe-west4-b".into(), "us-central1-c".into()];
    let q = Gcp::new(c).quote(&a100()).await.unwrap();
    assert_eq!(q.ask.as_deref(), Some("us-central1-c"));

    let before = calls(&w);
    let e = p.quote(&offer("a2-nothing-1g", 1, 1.0)).await.unwrap_err();
    assert_eq!(e.kind, ErrorKind::NoCapacity, "{e}");
    assert!(e.to_string().contains("us-central1"), "{e}");
    assert_eq!(calls(&w) - before, 4, "the region, then its three zones");

    let mut capped = a100();
    capped.max_price_per_hour = Some(3.0);
    let e = p.quote(&capped).await.unwrap_err();
    assert_eq!(e.kind, ErrorKind::PriceAbove, "{e}");
    assert!(e.to_string().contains("3.67"), "{e}");
}

#[tokio::test]
async fn spot_is_asked_for_and_a_preempted_vm_vanishes() {
    let (url, w) = fake().await;
    let p = client(&url);
    let mut o = a100();
    o.spot = true;
    o.expected_price_per_hour = 1.80385;
    let q = p.quote(&o).await.unwrap();
    assert!(
        q.detail.contains("PREEMPTIBLE_NVIDIA_A100_GPUS"),
        "{}",
        q.detail
    );
    let name = lease(8, 1);
    let id = p.create(&request(name.clone(), o, q)).await.unwrap();

    let listed = p.list().await.unwrap();
    assert!(named(&listed, &name)[0].interruptible);
    {
        let w = w.lock().unwrap();
        let made = w
            .instances
            .iter()
            .find(|i| i.name == name.to_string())
            .unwrap();
        assert!(made.spot);
        assert_eq!(made.price_per_hour, 1.80385, "the Spot list price");
    }
    let token = w
        .lock()
        .unwrap()
        .issued_tokens
        .iter()
        .next()
        .unwrap()
        .clone();
    let raw: serde_json::Value = reqwest::Client::new()
        .get(format!(
            "{url}/gcp/compute/v1/projects/{PROJECT}/aggregated/instances"
        ))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let vm = &raw["items"]["zones/us-central1-a"]["instances"][0];
    assert_eq!(vm["scheduling"]["provisioningModel"], "SPOT");
    assert_eq!(vm["scheduling"]["instanceTerminationAction"], "DELETE");

    let preempted = reqwest::Client::new()
        .post(format!("{url}/_fake/preempt/{}", world_id(&w, &name)))
        .send()
        .await
        .unwrap();
    assert_eq!(preempted.status(), 204);
    let after = p.list().await.unwrap();
    assert!(named(&after, &name).is_empty(), "{after:?}");
    p.terminate(&id).await.unwrap();
}

#[tokio::test]
async fn a_quota_refusal_names_the_quota_and_its_numbers() {
    let (url, w) = fake().await;
    w.lock().unwrap().faults.gpu_quota = Some(1);
    let p = client(&url);
    quote_and_create(&p, lease(7, 1), a100()).await;

    let e = p.quote(&a100()).await.unwrap_err();
    assert_eq!(e.kind, ErrorKind::Quota, "{e}");
    assert_eq!(
        e.to_string(),
        "gcp: quota NVIDIA_A100_GPUS in us-central1 is 1 (1 in use); a2-highgpu-1g needs 1 more"
    );
    assert!(e.kind.fails_over());

    // A create past the quote is refused by its operation.
    let q = Quote {
        price_per_hour: 3.67339,
        ask: Some("us-central1-b".into()),
        detail: String::new(),
    };
    let e = p
        .create(&request(lease(7, 2), a100(), q))
        .await
        .unwrap_err();
    assert_eq!(e.kind, ErrorKind::Quota, "{e}");
    assert!(e.to_string().contains("QUOTA_EXCEEDED"), "{e}");
    assert!(e.to_string().contains("NVIDIA_A100_GPUS"), "{e}");
    assert_eq!(p.list().await.unwrap().len(), 1);

    // Another family has its own quota.
    p.quote(&offer("g2-standard-4", 1, 0.70683)).await.unwrap();
}

#[tokio::test]
async fn no_capacity_is_the_operations_error() {
    let (url, w) = fake().await;
    w.lock().unwrap().faults.no_capacity = vec!["a2-highgpu-1g".into()];
    let p = client(&url);
    let o = a100();
    // Compute Engine tells no stock ahead: the quote finds the type offered.
    let q = p.quote(&o).await.unwrap();
    let e = p.create(&request(lease(7, 1), o, q)).await.unwrap_err();
    assert_eq!(e.kind, ErrorKind::NoCapacity, "{e}");
    assert!(
        e.to_string().contains("ZONE_RESOURCE_POOL_EXHAUSTED"),
        "{e}"
    );
    assert!(e.kind.fails_over());
    assert!(p.list().await.unwrap().is_empty());
}

#[tokio::test]
async fn a_lost_insert_answer_is_found_by_name_and_not_made_twice() {
    let (url, w) = fake().await;
    let p = client(&url);
    w.lock().unwrap().faults.lose_create_responses = 1;
    let o = a100();
    let q = p.quote(&o).await.unwrap();
    let name = lease(7, 1);
    let req = request(name.clone(), o, q);

    let before = calls(&w);
    let e = p.create(&req).await.unwrap_err();
    assert_eq!(e.kind, ErrorKind::Transient, "{e}");
    assert!(e.to_string().contains("502"), "{e}");
    assert_eq!(calls(&w) - before, 1, "the insert is sent once");

    let listed = p.list().await.unwrap();
    assert_eq!(named(&listed, &name).len(), 1, "{listed:?}");

    // Sent again, within the hour: the same requestId, the same operation.
    let id = p.create(&req).await.unwrap();
    assert_eq!(id.0, format!("us-central1-a/{name}"));
    let made = w
        .lock()
        .unwrap()
        .instances
        .iter()
        .filter(|i| i.name == name.to_string())
        .count();
    assert_eq!(made, 1);
    assert_eq!(p.list().await.unwrap().len(), 1);
}

#[tokio::test]
async fn an_existing_name_is_ours() {
    let (url, w) = fake().await;
    let p = client(&url);
    let name = lease(9, 1);
    // Made by an earlier try whose request id is long forgotten (after the hour).
    p.list().await.unwrap();
    let token = w
        .lock()
        .unwrap()
        .issued_tokens
        .iter()
        .next()
        .unwrap()
        .clone();
    let first = reqwest::Client::new()
        .post(format!(
            "{url}/gcp/compute/v1/projects/{PROJECT}/zones/us-central1-a/instances?requestId=00000000-0000-5000-8000-000000000001"
        ))
        .bearer_auth(token)
        .json(&serde_json::json!({
            "name": name.to_string(),
            "machineType": "zones/us-central1-a/machineTypes/a2-highgpu-1g",
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(first.status(), 200);

    let q = Quote {
        price_per_hour: 3.67339,
        ask: Some("us-central1-a".into()),
        detail: String::new(),
    };
    let before = calls(&w);
    let id = p.create(&request(name.clone(), a100(), q)).await.unwrap();
    assert_eq!(id.0, format!("us-central1-a/{name}"));
    assert_eq!(calls(&w) - before, 1, "409 alreadyExists, read as ours");
    assert_eq!(p.list().await.unwrap().len(), 1);
    p.terminate(&id).await.unwrap();
}

#[tokio::test]
async fn a_deleted_instance_may_linger() {
    let (url, w) = fake().await;
    let p = client(&url);
    let name = lease(7, 1);
    let id = quote_and_create(&p, name.clone(), a100()).await;

    w.lock().unwrap().faults.linger_polls = 2;
    p.terminate(&id).await.unwrap();
    for poll in 0..2 {
        let listed = p.list().await.unwrap();
        let mine = named(&listed, &name);
        assert_eq!(mine.len(), 1, "poll {poll}");
        assert_eq!(mine[0].status_text, "STOPPING", "poll {poll}");
        assert_eq!(mine[0].state, InstanceState::Stopped, "poll {poll}");
    }
    assert!(named(&p.list().await.unwrap(), &name).is_empty());
    // Gone for good: deleting again is done already.
    p.terminate(&id).await.unwrap();
}

#[tokio::test]
async fn listings_follow_their_pages() {
    let (url, w) = fake().await;
    let p = client(&url);
    for seq in 1..=3 {
        quote_and_create(&p, lease(seq, 1), a100()).await;
    }
    let before = calls(&w);
    let listed = p.list().await.unwrap();
    assert_eq!(listed.len(), 3, "{listed:?}");
    assert_eq!(calls(&w) - before, 2, "two pages");
}

#[tokio::test]
async fn server_errors_are_retried() {
    let (url, w) = fake().await;
    let p = client(&url);
    p.list().await.unwrap();
    w.lock().unwrap().faults.server_errors = 2;
    assert!(p.list().await.unwrap().is_empty());
    assert_eq!(calls(&w), 4);
}

#[tokio::test]
async fn rate_limits_wait_for_retry_after() {
    let (url, w) = fake().await;
    let p = client(&url);
    // The token first, so that the listing's calls are all the API's.
    p.list().await.unwrap();
    w.lock().unwrap().calls.clear();
    support::assert_waits_out_a_rate_limit(&p, &w).await;
}

#[tokio::test]
async fn a_malformed_listing_names_the_field() {
    let (url, w) = fake().await;
    let p = client(&url);

    w.lock().unwrap().faults.malformed_lists = 1;
    let e = p.list().await.unwrap_err();
    assert_eq!(e.kind, ErrorKind::Malformed, "{e}");
    assert!(e.to_string().starts_with("gcp: items"), "{e}");

    quote_and_create(&p, lease(7, 1), a100()).await;
    w.lock().unwrap().faults.malformed_lists = 1;
    let e = p.list().await.unwrap_err();
    assert_eq!(e.kind, ErrorKind::Malformed, "{e}");
    let text = e.to_string();
    assert!(
        text.starts_with("gcp: items.zones/us-central1-a.instances[0]"),
        "{text}"
    );
    assert!(text.contains("status"), "{text}");
    assert_eq!(p.list().await.unwrap().len(), 1, "one fault, one listing");
}

fn other_key_file() -> String {
    let out = std::process::Command::new("openssl")
        .args([
            "genpkey",
            "-algorithm",
            "RSA",
            "-pkeyopt",
            "rsa_keygen_bits:2048",
        ])
        .output()
        .expect("openssl runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let pem = String::from_utf8(out.stdout).unwrap();
    let mut sa: serde_json::Value = serde_json::from_str(SERVICE_ACCOUNT).unwrap();
    sa["private_key"] = serde_json::json!(pem);
    sa.to_string()
}

#[tokio::test]
async fn wrong_credentials_are_auth_and_never_retried() {
    let (url, w) = fake().await;
    let p = Gcp::new(config_with(&url, &other_key_file()));

    let e = p.list().await.unwrap_err();
    assert_eq!(e.kind, ErrorKind::Auth, "{e}");
    assert_eq!(e.provider, "gcp");
    assert!(e.to_string().contains("invalid_grant"), "{e}");
    assert!(e.to_string().contains("Invalid JWT Signature"), "{e}");
    assert!(e.to_string().contains("providers.gcp"), "{e}");
    assert!(!e.to_string().contains("PRIVATE KEY"), "never the key: {e}");
    assert_eq!(token_calls(&w), 1, "one token request, not a retry loop");
    assert_eq!(calls(&w), 0, "no API call without a token");

    let e = p.quote(&a100()).await.unwrap_err();
    assert_eq!(e.kind, ErrorKind::Auth);
    assert_eq!(token_calls(&w), 2);
    let q = Quote {
        price_per_hour: 3.67339,
        ask: Some("us-central1-a".into()),
        detail: String::new(),
    };
    let e = p
        .create(&request(lease(7, 1), a100(), q))
        .await
        .unwrap_err();
    assert_eq!(e.kind, ErrorKind::Auth);
    assert_eq!(token_calls(&w), 3);
    assert_eq!(calls(&w), 0);
    assert!(w.lock().unwrap().instances.is_empty());

    // A token the API does not know is refused by the API itself.
    let mut sa: serde_json::Value = serde_json::from_str(SERVICE_ACCOUNT).unwrap();
    sa["token_uri"] = serde_json::json!("https://elsewhere.example/token");
    let p = Gcp::new(config_with(&url, &sa.to_string()));
    let e = p.list().await.unwrap_err();
    assert_eq!(e.kind, ErrorKind::Auth, "the audience check: {e}");
}

#[tokio::test]
async fn another_project_is_refused() {
    let (url, _w) = fake().await;
    let mut c = config_with(&url, SERVICE_ACCOUNT);
    c.account = Account::Gcp {
        project: "someone-elses".into(),
        token_url: Some(format!("{url}/gcp/token")),
    };
    let e = Gcp::new(c).list().await.unwrap_err();
    assert_eq!(e.kind, ErrorKind::Auth, "{e}");
    assert!(e.to_string().contains("someone-elses"), "{e}");
}

#[tokio::test]
async fn deleting_an_unknown_instance_is_done_but_a_wrong_url_is_not() {
    let (url, _w) = fake().await;
    let p = client(&url);
    p.terminate(&InstanceId(
        "us-central1-a/ferry-0a1b2c3d-nothing-a1".into(),
    ))
    .await
    .unwrap();

    let e = p
        .terminate(&InstanceId("not-an-id".into()))
        .await
        .unwrap_err();
    assert_eq!(e.kind, ErrorKind::Refused, "{e}");

    // A 404 that is not Google's "was not found" must not pass for a deleted instance.
    let mut c = config_with(&url, SERVICE_ACCOUNT);
    c.base_url = format!("{url}/nowhere");
    let e = Gcp::new(c)
        .terminate(&InstanceId(
            "us-central1-a/ferry-0a1b2c3d-nothing-a1".into(),
        ))
        .await
        .unwrap_err();
    assert_eq!(e.kind, ErrorKind::Refused, "{e}");
}
