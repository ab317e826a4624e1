//! The EC2 provider, the real AWS SDK client, against moto (an AWS emulator from PyPI):
//! `scripts/services/moto-up.sh` starts it and writes `FERRY_TEST_MOTO_URL`, which
//! `scripts/test.sh` exports. The vCPU quotas come from ferry-fakecloud's `/aws-quotas`,
//! since moto's Service Quotas does not know EC2.
//!
//! Every test works in a region of its own: moto keeps one state per region, and the tests
//! run at the same time against one server.

use aws_config::{BehaviorVersion, Region};
use aws_sdk_ec2::types::{Filter, InstanceStateName, ResourceType, Tag, TagSpecification};
use ferry_cloud::http::RetryPolicy;
use ferry_cloud::providers::{Account, ProviderConfig};
use ferry_cloud::{
    ApiKey, CreateRequest, ErrorKind, Guard, InstanceState, LeaseName, OfferRef, Provider,
    ProviderKind,
};
use ferry_cloud_aws::Ec2;
use ferry_fakecloud::{Shared, SshTarget, World};
use ferry_job::JobId;
use std::sync::Once;
use std::time::Duration;

/// A public key (its private half was thrown away): moto checks the format, as EC2 does.
const KEY: &str =
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIB9zwDAOn0+ZaHqI6OCHNlc78BpxxN8++VEcG94+H9Za ferry";

fn moto() -> String {
    std::env::var("FERRY_TEST_MOTO_URL")
        .expect("FERRY_TEST_MOTO_URL: start scripts/services/moto-up.sh DIR and source DIR/env.sh")
}

/// moto accepts any credentials; the SDK's chain reads these from the environment. Set once,
/// before any client exists, to the same values in every test.
fn credentials() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| unsafe {
        std::env::set_var("AWS_ACCESS_KEY_ID", "AKIAFERRYTESTING");
        std::env::set_var("AWS_SECRET_ACCESS_KEY", "ferry-test-secret");
        std::env::set_var("AWS_EC2_METADATA_DISABLED", "true");
    });
}

struct Setup {
    ec2: Ec2,
    sdk: aws_sdk_ec2::Client,
    fake: Shared,
    region: String,
}

async fn setup(region: &str) -> Setup {
    credentials();
    let world = World::new(
        "unused",
        SshTarget {
            host: "127.0.0.1".into(),
            port: 22,
            user: "ubuntu".into(),
        },
    );
    let (fake_url, fake) = ferry_fakecloud::serve(world, 0).await.unwrap();
    let mut config = ProviderConfig::new(ProviderKind::Aws, ApiKey::new(String::new()));
    config.base_url = moto();
    config.account = Account::Aws {
        profile: None,
        quotas_url: Some(format!("{fake_url}/aws-quotas")),
    };
    config.regions = vec![region.to_string()];
    config.retry = RetryPolicy {
        attempts: 2,
        first_backoff: Duration::from_millis(10),
        max_backoff: Duration::from_millis(20),
        max_retry_after: Duration::from_secs(1),
    };
    let sdk_config = aws_config::defaults(BehaviorVersion::latest())
        .endpoint_url(moto())
        .region(Region::new(region.to_string()))
        .load()
        .await;
    let sdk = aws_sdk_ec2::Client::new(&sdk_config);
    // A clean region: what an earlier run against the same moto left is terminated.
    let earlier = sdk.describe_instances().send().await.unwrap();
    let ids: Vec<String> = earlier
        .reservations()
        .iter()
        .flat_map(|r| r.instances())
        .filter_map(|i| i.instance_id().map(str::to_string))
        .collect();
    if !ids.is_empty() {
        sdk.terminate_instances()
            .set_instance_ids(Some(ids))
            .send()
            .await
            .unwrap();
    }
    Setup {
        ec2: Ec2::new(config),
        sdk,
        fake,
        region: region.to_string(),
    }
}

impl Setup {
    fn quota(&self, code: &str, vcpus: f64) {
        self.fake
            .lock()
            .unwrap()
            .faults
            .aws_quotas
            .insert(code.into(), vcpus);
    }

    fn offer(&self, instance_type: &str, spot: bool) -> OfferRef {
        OfferRef {
            instance_type: instance_type.into(),
            region: self.region.clone(),
            gpu_count: 1,
            spot,
            expected_price_per_hour: 1.006,
            max_price_per_hour: None,
            tier: None,
            vcpus: None,
        }
    }

    async fn create(&self, offer: OfferRef, seq: u32) -> ferry_cloud::InstanceId {
        let quote = self.ec2.quote(&offer).await.expect("quote");
        let req = CreateRequest {
            name: lease(seq),
            offer,
            quote,
            public_key: KEY.into(),
            image: String::new(),
            disk_gb: 60,
            onstart: Some("#!/bin/sh\necho ferry\n".into()),
        };
        self.ec2.create(&req).await.expect("create")
    }

    /// Every instance of the region not terminated, as moto has it.
    async fn all(&self) -> Vec<aws_sdk_ec2::types::Instance> {
        let out = self.sdk.describe_instances().send().await.unwrap();
        out.reservations()
            .iter()
            .flat_map(|r| r.instances().iter().cloned())
            .filter(|i| i.state().and_then(|s| s.name()) != Some(&InstanceStateName::Terminated))
            .collect()
    }

    /// What Ferry lists, less what is terminated.
    async fn live(&self) -> Vec<ferry_cloud::Instance> {
        let mut l = self.ec2.list().await.unwrap();
        l.retain(|i| i.state != InstanceState::Terminated);
        l
    }
}

fn lease(seq: u32) -> LeaseName {
    LeaseName::new("0a1b2c3d", &JobId::new(1_700_000_000_000, seq), 1)
}

fn bare(id: &ferry_cloud::InstanceId) -> &str {
    id.0.split_once('/').unwrap().1
}

#[tokio::test]
async fn an_on_demand_instance_lives_tagged_and_is_terminated_for_good() {
    let s = setup("eu-west-3").await;
    s.quota("L-DB2E81BA", 64.0);
    let offer = s.offer("g5.xlarge", false);
    let quote = s.ec2.quote(&offer).await.unwrap();
    assert!(
        quote.detail.contains("within the vCPU quota"),
        "{}",
        quote.detail
    );
    assert_eq!(quote.price_per_hour, 1.006);
    let id = s.create(offer, 1).await;
    assert!(id.0.starts_with("eu-west-3/i-"), "{id}");

    let listed = s.ec2.list().await.unwrap();
    let me = listed.iter().find(|i| i.id == id).expect("listed");
    assert_eq!(me.name, lease(1).to_string());
    assert_eq!(me.state, InstanceState::Running);
    assert!(!me.interruptible);
    let ep = me.endpoint.as_ref().expect("a public address");
    assert_eq!((ep.port, ep.user.as_str()), (22, "ubuntu"));

    // Tags on the instance and on its volume; terminate on shutdown; Ferry's group and key.
    let raw = s.all().await;
    let inst = raw
        .iter()
        .find(|i| i.instance_id() == Some(bare(&id)))
        .unwrap();
    let tag = |tags: &[Tag], k: &str| {
        tags.iter()
            .find(|t| t.key() == Some(k))
            .and_then(|t| t.value())
            .map(str::to_string)
    };
    assert_eq!(tag(inst.tags(), "ferry:owner").as_deref(), Some("0a1b2c3d"));
    assert_eq!(tag(inst.tags(), "ferry:attempt").as_deref(), Some("1"));
    assert!(tag(inst.tags(), "ferry:job").is_some());
    assert_eq!(inst.instance_type().unwrap().as_str(), "g5.xlarge");
    assert_eq!(
        inst.image_id(),
        Some("ami-dca37ea5"),
        "the Deep Learning AMI"
    );
    assert!(inst.key_name().unwrap().starts_with("ferry-"));
    let groups: Vec<_> = inst
        .security_groups()
        .iter()
        .filter_map(|g| g.group_name())
        .collect();
    assert_eq!(groups, ["ferry-ssh"]);
    let volumes = s
        .sdk
        .describe_volumes()
        .filters(
            Filter::builder()
                .name("tag:ferry:owner")
                .values("0a1b2c3d")
                .build(),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(
        volumes.volumes().len(),
        1,
        "the root volume carries the tags"
    );
    assert_eq!(volumes.volumes()[0].size(), Some(60));
    let shutdown = s
        .sdk
        .describe_instance_attribute()
        .instance_id(bare(&id))
        .attribute(aws_sdk_ec2::types::InstanceAttributeName::InstanceInitiatedShutdownBehavior)
        .send()
        .await
        .unwrap();
    assert_eq!(
        shutdown
            .instance_initiated_shutdown_behavior()
            .and_then(|v| v.value()),
        Some("terminate")
    );
    let rules = s
        .sdk
        .describe_security_groups()
        .group_names("ferry-ssh")
        .send()
        .await
        .unwrap();
    let perms = rules.security_groups()[0].ip_permissions();
    assert_eq!(perms.len(), 1);
    assert_eq!(
        (perms[0].from_port(), perms[0].to_port()),
        (Some(22), Some(22))
    );

    s.ec2.terminate(&id).await.unwrap();
    let after = s.ec2.list().await.unwrap();
    let me = after.iter().find(|i| i.id == id);
    assert!(
        me.is_none_or(|i| i.state == InstanceState::Terminated),
        "{me:?}"
    );
    // Terminating again, or an id EC2 never had, is fine: it is gone.
    s.ec2.terminate(&id).await.unwrap();
    s.ec2
        .terminate(&ferry_cloud::InstanceId(
            "eu-west-3/i-0123456789abcdef0".into(),
        ))
        .await
        .unwrap();
    assert!(matches!(s.ec2.guard(), Guard::SelfTerminate(_)));
    assert_eq!(
        (s.ec2.billing().increment_s, s.ec2.billing().minimum_s),
        (1, 60)
    );
}

#[tokio::test]
async fn a_resent_create_is_the_same_instance() {
    let s = setup("ap-southeast-2").await;
    let a = s.create(s.offer("g5.xlarge", false), 2).await;
    // The answer was lost and Ferry sends the same request again: the client token makes it
    // the same launch.
    let b = s.create(s.offer("g5.xlarge", false), 2).await;
    assert_eq!(a, b);
    let all = s.all().await;
    assert_eq!(all.len(), 1, "one instance, not two");
    // The client token EC2 deduplicates on is the lease's name.
    assert_eq!(all[0].client_token(), Some(lease(2).to_string().as_str()));
    // Another lease is another instance.
    let c = s.create(s.offer("g5.xlarge", false), 3).await;
    assert_ne!(a, c);
    // The key pair and group were made once and reused.
    let keys = s.sdk.describe_key_pairs().send().await.unwrap();
    assert_eq!(keys.key_pairs().len(), 1);
    for id in [a, c] {
        s.ec2.terminate(&id).await.unwrap();
    }
}

#[tokio::test]
async fn spot_is_launched_as_spot_and_an_interruption_shows_in_the_listing() {
    let s = setup("sa-east-1").await;
    s.quota("L-3819A6DF", 16.0);
    let offer = s.offer("g5.xlarge", true);
    let quote = s.ec2.quote(&offer).await.unwrap();
    let zone = quote.ask.clone().expect("the cheapest zone");
    assert!(zone.starts_with("sa-east-1"), "{zone}");
    assert!(quote.detail.contains("spot in"), "{}", quote.detail);
    let id = s.create(offer, 4).await;
    let raw = s.all().await;
    let inst = raw
        .iter()
        .find(|i| i.instance_id() == Some(bare(&id)))
        .unwrap();
    assert_eq!(inst.instance_lifecycle().map(|l| l.as_str()), Some("spot"));
    assert_eq!(
        inst.placement().and_then(|p| p.availability_zone()),
        Some(zone.as_str())
    );
    let me = s
        .ec2
        .list()
        .await
        .unwrap()
        .into_iter()
        .find(|i| i.id == id)
        .unwrap();
    assert!(me.interruptible);
    assert_eq!(me.state, InstanceState::Running);

    // AWS takes the capacity back: the instance ends without Ferry asking.
    s.sdk
        .terminate_instances()
        .instance_ids(bare(&id))
        .send()
        .await
        .unwrap();
    let me = s.ec2.list().await.unwrap().into_iter().find(|i| i.id == id);
    assert!(
        me.as_ref()
            .is_none_or(|i| i.state == InstanceState::Terminated && i.interruptible),
        "{me:?}"
    );
}

#[tokio::test]
async fn a_launch_over_the_vcpu_quota_is_refused_before_it_is_tried() {
    let s = setup("eu-north-1").await;
    // g5.xlarge has 4 vCPUs; the account may run 2.
    s.quota("L-DB2E81BA", 2.0);
    let e = s.ec2.quote(&s.offer("g5.xlarge", false)).await.unwrap_err();
    assert_eq!(e.kind, ErrorKind::Quota, "{e}");
    assert!(e.message.contains("L-DB2E81BA"), "{e}");
    assert!(
        e.message.contains("Running On-Demand G and VT instances"),
        "{e}"
    );
    assert!(e.message.contains("is 2 vCPUs with 0 in use"), "{e}");
    assert!(s.all().await.is_empty(), "nothing was launched");

    // With room for one, the second is refused, counting the first's vCPUs.
    s.quota("L-DB2E81BA", 6.0);
    let first = s.create(s.offer("g5.xlarge", false), 5).await;
    let e = s.ec2.quote(&s.offer("g5.xlarge", false)).await.unwrap_err();
    assert_eq!(e.kind, ErrorKind::Quota);
    assert!(e.message.contains("6 vCPUs with 4 in use"), "{e}");
    // Spot has its own quota, unset here: not checked, and said so.
    let spot = s.ec2.quote(&s.offer("g5.xlarge", true)).await.unwrap();
    assert!(spot.detail.contains("not checked"), "{}", spot.detail);
    // The catalog's vCPUs, when known, are what is counted.
    let mut p = s.offer("p4d.24xlarge", false);
    p.vcpus = Some(96);
    s.quota("L-417A185B", 0.0);
    let e = s.ec2.quote(&p).await.unwrap_err();
    assert!(e.message.contains("needs 96 vCPUs"), "{e}");
    s.ec2.terminate(&first).await.unwrap();
}

#[tokio::test]
async fn the_listing_finds_an_instance_ferry_made_that_it_forgot() {
    let s = setup("ca-central-1").await;
    // A Ferry instance whose create answer never reached the store: only its tags say it is
    // Ferry's.
    let orphan = lease(9).to_string();
    let tags: Vec<Tag> = [("Name", orphan.as_str()), ("ferry:owner", "0a1b2c3d")]
        .into_iter()
        .map(|(k, v)| Tag::builder().key(k).value(v).build())
        .collect();
    s.sdk
        .run_instances()
        .image_id("ami-dca37ea5")
        .instance_type(aws_sdk_ec2::types::InstanceType::G5Xlarge)
        .min_count(1)
        .max_count(1)
        .tag_specifications(
            TagSpecification::builder()
                .resource_type(ResourceType::Instance)
                .set_tags(Some(tags))
                .build(),
        )
        .send()
        .await
        .unwrap();
    // And someone else's, untagged, which Ferry must not list.
    s.sdk
        .run_instances()
        .image_id("ami-dca37ea5")
        .instance_type(aws_sdk_ec2::types::InstanceType::T3Micro)
        .min_count(1)
        .max_count(1)
        .send()
        .await
        .unwrap();
    assert_eq!(s.all().await.len(), 2);
    let listed = s.live().await;
    assert_eq!(listed.len(), 1, "{listed:?}");
    assert_eq!(listed[0].name, orphan);
    assert_eq!(
        LeaseName::parse(&listed[0].name).map(|l| l.install),
        Some("0a1b2c3d".to_string())
    );
}

#[tokio::test]
async fn a_configured_image_that_does_not_exist_is_a_clear_refusal() {
    let s = setup("eu-west-2").await;
    let offer = s.offer("g5.xlarge", false);
    let quote = s.ec2.quote(&offer).await.unwrap();
    let req = CreateRequest {
        name: lease(10),
        offer,
        quote,
        public_key: KEY.into(),
        image: "ami-00000000000000000".into(),
        disk_gb: 50,
        onstart: None,
    };
    let e = s.ec2.create(&req).await.unwrap_err();
    assert!(e.message.contains("ami-00000000000000000"), "{e}");
    assert!(s.all().await.is_empty());
}

#[tokio::test]
async fn live_spot_prices_come_per_availability_zone() {
    let s = setup("us-east-2").await;
    let prices = ferry_cloud_aws::spot_prices(&s.ec2, "us-east-2", &["p4d.24xlarge".into()])
        .await
        .unwrap();
    assert!(!prices.is_empty());
    let mut zones: Vec<_> = prices.iter().map(|p| p.zone.clone()).collect();
    zones.sort();
    zones.dedup();
    assert_eq!(
        zones.len(),
        prices.len(),
        "one price per zone and type: {prices:?}"
    );
    assert!(prices.iter().all(|p| p.instance_type == "p4d.24xlarge"
        && p.usd_per_hour > 0.0
        && p.zone.starts_with("us-east-2")));
}
