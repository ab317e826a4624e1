//! AWS EC2 as a place Ferry rents machines from, through the official AWS SDK for Rust.
//!
//! This crate is its own because the SDK is heavy: `aws-sdk-ec2` alone is one of the
//! largest crates on crates.io, and the rest of Ferry builds without it (`ferry-cli`'s
//! `aws` feature, on by default, brings it in). Everything else, the lifecycle, the
//! ledger and the sweep, is the same as for every other provider: this crate implements
//! [`ferry_cloud::Provider`] and nothing more.
//!
//! | step | call |
//! |---|---|
//! | quote | Service Quotas `GetServiceQuota` for the family's running On-Demand or Spot vCPU quota, `DescribeInstances` + `DescribeInstanceTypes` for the vCPUs in use; for spot, `DescribeSpotPriceHistory` (the cheapest availability zone now) |
//! | create | `DescribeInstances` by the lease's name (a resent create finds the first); once per region: `ImportKeyPair` (Ferry's key) and `CreateSecurityGroup` + `AuthorizeSecurityGroupIngress` (SSH only), each found first by name; `DescribeImages` for the Deep Learning AMI (unless configured); `RunInstances` with tags on the instance and its volumes, `InstanceInitiatedShutdownBehavior=terminate`, a `ClientToken` made from the lease name, and for spot `InstanceMarketOptions` (one-time, terminate on interruption) |
//! | list | `DescribeInstances` filtered on the `ferry:owner` tag key, one call (per page) per region |
//! | terminate | `TerminateInstances`; `InvalidInstanceID.NotFound` is gone already |
//!
//! Sources: the EC2 API reference <https://docs.aws.amazon.com/AWSEC2/latest/APIReference/>
//! (RunInstances, DescribeInstances, TerminateInstances, DescribeSpotPriceHistory,
//! `StateReason`), idempotency <https://docs.aws.amazon.com/ec2/latest/devguide/ec2-api-idempotency.html>,
//! billing ("per-second billing, with a minimum of 60 seconds",
//! <https://aws.amazon.com/ec2/pricing/on-demand/>), the vCPU limits
//! <https://docs.aws.amazon.com/ec2/latest/instancetypes/ec2-instance-quotas.html>, and the
//! Deep Learning AMI's owner and names <https://docs.aws.amazon.com/dlami/latest/devguide/find-dlami-id.html>.
//!
//! An instance id is written `region/i-…`, since EC2's ids are addressed per region and
//! Ferry must be able to terminate one after a restart with nothing else in hand.
//!
//! UNCONFIRMED (not run against the live service; moto, a faithful emulator, is what the
//! tests talk to):
//! - moto has no state transitions and no spot interruptions; an interruption is read from
//!   `StateReason.Code = Server.SpotInstanceTermination`, per the docs, and the tests stand
//!   in for it by terminating the instance behind Ferry's back;
//! - which Service Quotas codes cover P5 and the newer families' Spot requests (Ferry checks
//!   the G/VT, P and Standard ones and says when it checked none);
//! - the DLAMI's name pattern drifts over releases: `image` in the config pins one.

mod errors;
mod quota;

use async_trait::async_trait;
use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_ec2::Client;
use aws_sdk_ec2::types::{
    BlockDeviceMapping, EbsBlockDevice, Filter, InstanceInterruptionBehavior,
    InstanceMarketOptionsRequest, InstanceStateName, InstanceType, IpPermission, IpRange,
    MarketType, Placement, ResourceType, ShutdownBehavior, SpotInstanceType, SpotMarketOptions,
    Tag, TagSpecification, VolumeType,
};
use errors::cloud_error;
use ferry_cloud::providers::{Account, ProviderConfig};
use ferry_cloud::{
    Billing, CloudError, CreateRequest, Endpoint, ErrorKind, Guard, Instance, InstanceId,
    InstanceState, OfferRef, Provider, ProviderKind, Quote, ZonePrice,
};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use tokio::sync::{Mutex, OnceCell};

pub use quota::{QuotaFamily, family_of};

/// The SDK this crate is built on, for tests that look at what Ferry made.
pub use {aws_config, aws_sdk_ec2};

const PROVIDER: &str = "aws";

/// The tag every Ferry instance carries; its value is the install id.
pub const OWNER_TAG: &str = "ferry:owner";
pub const JOB_TAG: &str = "ferry:job";
pub const ATTEMPT_TAG: &str = "ferry:attempt";

/// The security group Ferry makes in each region: SSH in, nothing else.
pub const SECURITY_GROUP: &str = "ferry-ssh";

/// The account that publishes the AWS Deep Learning AMIs.
const DLAMI_OWNER: &str = "898082745236";
/// The DLAMIs Ferry looks for when no image is configured: Ubuntu, with NVIDIA's driver.
const DLAMI_NAME: &str = "Deep Learning*Ubuntu*";

/// Logins of the Ubuntu-based DLAMIs.
const SSH_USER: &str = "ubuntu";

/// gp3 in us-east-1, $0.08 per GB-month (<https://aws.amazon.com/ebs/pricing/>), over the
/// 730 hours AWS counts in a month.
const GP3_PER_GB_MONTH: f64 = 0.08;

/// The regions listed when neither the config nor the catalog names any.
const DEFAULT_REGIONS: [&str; 2] = ["us-east-1", "us-west-2"];

/// What is made once per region and reused: Ferry's key pair and security group.
#[derive(Debug, Clone)]
struct RegionSetup {
    key_name: String,
    security_group: String,
}

pub struct Ec2 {
    config: ProviderConfig,
    sdk: OnceCell<SdkConfig>,
    clients: Mutex<BTreeMap<String, Client>>,
    setup: Mutex<BTreeMap<String, RegionSetup>>,
    images: Mutex<BTreeMap<String, (String, String)>>,
    calls: AtomicU64,
}

impl Ec2 {
    /// Nothing is read or called until the first request: the SDK's credentials chain is
    /// resolved then, so building an `Ec2` never fails.
    pub fn new(config: ProviderConfig) -> Ec2 {
        Ec2 {
            config,
            sdk: OnceCell::new(),
            clients: Mutex::new(BTreeMap::new()),
            setup: Mutex::new(BTreeMap::new()),
            images: Mutex::new(BTreeMap::new()),
            calls: AtomicU64::new(0),
        }
    }

    fn count(&self) {
        self.calls.fetch_add(1, Ordering::Relaxed);
    }

    /// The regions this provider lists and sweeps.
    pub fn regions(&self) -> Vec<String> {
        if self.config.regions.is_empty() {
            DEFAULT_REGIONS.iter().map(|r| r.to_string()).collect()
        } else {
            self.config.regions.clone()
        }
    }

    async fn sdk(&self) -> &SdkConfig {
        self.sdk
            .get_or_init(|| async {
                let mut loader = aws_config::defaults(BehaviorVersion::latest());
                if let Account::Aws {
                    profile: Some(profile),
                    ..
                } = &self.config.account
                {
                    loader = loader.profile_name(profile);
                }
                if !self.config.base_url.is_empty() {
                    loader = loader.endpoint_url(&self.config.base_url);
                }
                // A region for the loader itself; every client sets its own.
                loader
                    .region(Region::new(self.regions()[0].clone()))
                    .load()
                    .await
            })
            .await
    }

    async fn client(&self, region: &str) -> Client {
        let mut clients = self.clients.lock().await;
        if let Some(c) = clients.get(region) {
            return c.clone();
        }
        let conf = aws_sdk_ec2::config::Builder::from(self.sdk().await)
            .region(Region::new(region.to_string()))
            .build();
        let c = Client::from_conf(conf);
        clients.insert(region.to_string(), c.clone());
        c
    }

    /// Ferry's key pair and security group in `region`, found by name or made.
    async fn region_setup(
        &self,
        region: &str,
        public_key: &str,
    ) -> Result<RegionSetup, CloudError> {
        if let Some(s) = self.setup.lock().await.get(region) {
            return Ok(s.clone());
        }
        let ec2 = self.client(region).await;
        let key_name = key_name(public_key);
        self.count();
        let found = ec2
            .describe_key_pairs()
            .filters(Filter::builder().name("key-name").values(&key_name).build())
            .send()
            .await
            .map_err(|e| cloud_error("DescribeKeyPairs", e))?;
        if found.key_pairs().is_empty() {
            self.count();
            match ec2
                .import_key_pair()
                .key_name(&key_name)
                .public_key_material(aws_sdk_ec2::primitives::Blob::new(public_key.trim()))
                .send()
                .await
            {
                Ok(_) => {}
                // Another Ferry process imported it since we looked.
                Err(e) if errors::code(&e) == Some("InvalidKeyPair.Duplicate") => {}
                Err(e) => return Err(cloud_error("ImportKeyPair", e)),
            }
        }
        let security_group = self.security_group(&ec2).await?;
        let s = RegionSetup {
            key_name,
            security_group,
        };
        self.setup
            .lock()
            .await
            .insert(region.to_string(), s.clone());
        Ok(s)
    }

    async fn security_group(&self, ec2: &Client) -> Result<String, CloudError> {
        self.count();
        let found = ec2
            .describe_security_groups()
            .filters(
                Filter::builder()
                    .name("group-name")
                    .values(SECURITY_GROUP)
                    .build(),
            )
            .send()
            .await
            .map_err(|e| cloud_error("DescribeSecurityGroups", e))?;
        if let Some(id) = found.security_groups().iter().find_map(|g| g.group_id()) {
            return Ok(id.to_string());
        }
        self.count();
        let made = ec2
            .create_security_group()
            .group_name(SECURITY_GROUP)
            .description("Ferry: SSH to rented GPU machines")
            .send()
            .await
            .map_err(|e| cloud_error("CreateSecurityGroup", e))?;
        let id = made
            .group_id()
            .ok_or_else(|| {
                CloudError::malformed(PROVIDER, "CreateSecurityGroup.GroupId", "missing")
            })?
            .to_string();
        self.count();
        ec2.authorize_security_group_ingress()
            .group_id(&id)
            .ip_permissions(
                IpPermission::builder()
                    .ip_protocol("tcp")
                    .from_port(22)
                    .to_port(22)
                    .ip_ranges(
                        IpRange::builder()
                            .cidr_ip(ssh_cidr())
                            .description("Ferry SSH")
                            .build(),
                    )
                    .build(),
            )
            .send()
            .await
            .map_err(|e| cloud_error("AuthorizeSecurityGroupIngress", e))?;
        Ok(id)
    }

    /// The image to boot and its root device: the configured AMI, or the newest Deep
    /// Learning AMI (Ubuntu) of the region.
    async fn image(&self, region: &str, configured: &str) -> Result<(String, String), CloudError> {
        let key = format!("{region}/{configured}");
        if let Some(hit) = self.images.lock().await.get(&key) {
            return Ok(hit.clone());
        }
        let ec2 = self.client(region).await;
        self.count();
        let req = if configured.is_empty() {
            ec2.describe_images()
                .owners(DLAMI_OWNER)
                .filters(Filter::builder().name("name").values(DLAMI_NAME).build())
        } else {
            ec2.describe_images().image_ids(configured)
        };
        let images = req
            .send()
            .await
            .map_err(|e| cloud_error("DescribeImages", e))?;
        let newest = images
            .images()
            .iter()
            .filter(|i| i.image_id().is_some())
            .max_by(|a, b| a.creation_date().cmp(&b.creation_date()));
        let Some(image) = newest else {
            return Err(CloudError::new(
                PROVIDER,
                ErrorKind::Refused,
                if configured.is_empty() {
                    format!(
                        "no Deep Learning AMI (owner {DLAMI_OWNER}, name {DLAMI_NAME:?}) in {region}: set image = \"ami-…\" under [providers.aws]"
                    )
                } else {
                    format!("image {configured} does not exist in {region}")
                },
            ));
        };
        let hit = (
            image.image_id().unwrap_or_default().to_string(),
            image.root_device_name().unwrap_or("/dev/sda1").to_string(),
        );
        self.images.lock().await.insert(key, hit.clone());
        Ok(hit)
    }

    /// Service Quotas' client, in `region`.
    async fn quotas(&self, region: &str) -> aws_sdk_servicequotas::Client {
        let sdk = self.sdk().await;
        let mut conf = aws_sdk_servicequotas::config::Builder::from(sdk)
            .region(Region::new(region.to_string()));
        if let Some(url) = quota::endpoint(&self.config) {
            conf = conf.endpoint_url(url);
        }
        aws_sdk_servicequotas::Client::from_conf(conf.build())
    }

    /// The instance (not terminated) named `name` in this region, if any.
    async fn find_by_name(&self, ec2: &Client, name: &str) -> Result<Option<String>, CloudError> {
        self.count();
        let out = ec2
            .describe_instances()
            .filters(Filter::builder().name("tag:Name").values(name).build())
            .filters(
                Filter::builder()
                    .name("instance-state-name")
                    .values("pending")
                    .values("running")
                    .values("stopping")
                    .values("stopped")
                    .build(),
            )
            .send()
            .await
            .map_err(|e| cloud_error("DescribeInstances", e))?;
        Ok(out
            .reservations()
            .iter()
            .flat_map(|r| r.instances())
            .find_map(|i| i.instance_id().map(str::to_string)))
    }

    /// vCPUs of each of these instance types.
    async fn vcpus_of(
        &self,
        ec2: &Client,
        types: &[String],
    ) -> Result<BTreeMap<String, u32>, CloudError> {
        if types.is_empty() {
            return Ok(BTreeMap::new());
        }
        self.count();
        let out = ec2
            .describe_instance_types()
            .set_instance_types(Some(
                types
                    .iter()
                    .map(|t| InstanceType::from(t.as_str()))
                    .collect(),
            ))
            .send()
            .await
            .map_err(|e| cloud_error("DescribeInstanceTypes", e))?;
        Ok(out
            .instance_types()
            .iter()
            .filter_map(|t| {
                let name = t.instance_type()?.as_str().to_string();
                let v = t.v_cpu_info()?.default_v_cpus()?;
                Some((name, u32::try_from(v).unwrap_or(0)))
            })
            .collect())
    }

    /// Refuses an offer that would pass the account's vCPU quota for its family in its
    /// region; `Ok(None)` when checked and within it, `Ok(Some(why))` when it could not be
    /// checked (no permission, no such quota), which does not block the launch.
    async fn check_quota(
        &self,
        offer: &OfferRef,
        region: &str,
    ) -> Result<Option<String>, CloudError> {
        let Some(family) = family_of(&offer.instance_type) else {
            return Ok(Some(format!(
                "no vCPU quota known for {}'s family: not checked",
                offer.instance_type
            )));
        };
        let (code, name) = family.quota(offer.spot);
        let sq = self.quotas(region).await;
        self.count();
        let limit = match sq
            .get_service_quota()
            .service_code("ec2")
            .quota_code(code)
            .send()
            .await
        {
            Ok(out) => out.quota().and_then(|q| q.value()),
            Err(e) => {
                let e = cloud_error("GetServiceQuota", e);
                return match e.kind {
                    ErrorKind::Transient | ErrorKind::RateLimited => Err(e),
                    _ => Ok(Some(format!(
                        "quota {code} not read ({}): not checked",
                        e.message
                    ))),
                };
            }
        };
        let Some(limit) = limit else {
            return Ok(Some(format!("quota {code} has no value: not checked")));
        };
        let ec2 = self.client(region).await;
        let live = self.live_in_region(&ec2).await?;
        let in_family: Vec<&aws_sdk_ec2::types::Instance> = live
            .iter()
            .filter(|i| {
                let t = i.instance_type().map(|t| t.as_str()).unwrap_or_default();
                let spot = i.instance_lifecycle().is_some_and(|l| l.as_str() == "spot");
                family_of(t) == Some(family) && spot == offer.spot
            })
            .collect();
        let mut types: Vec<String> = in_family
            .iter()
            .filter_map(|i| i.instance_type().map(|t| t.as_str().to_string()))
            .collect();
        let wanted = match offer.vcpus {
            Some(v) => v,
            None => {
                types.push(offer.instance_type.clone());
                0
            }
        };
        types.sort();
        types.dedup();
        let vcpus = self.vcpus_of(&ec2, &types).await?;
        let used: u32 = in_family
            .iter()
            .filter_map(|i| i.instance_type())
            .map(|t| vcpus.get(t.as_str()).copied().unwrap_or(0))
            .sum();
        let wanted = if wanted == 0 {
            vcpus.get(&offer.instance_type).copied().unwrap_or(0)
        } else {
            wanted
        };
        quota::verdict(&quota::Usage {
            code,
            name,
            region,
            limit,
            used,
            wanted,
            instance_type: &offer.instance_type,
        })
        .map(|()| None)
    }

    /// The account's pending and running instances in a region (every page).
    async fn live_in_region(
        &self,
        ec2: &Client,
    ) -> Result<Vec<aws_sdk_ec2::types::Instance>, CloudError> {
        let mut out = vec![];
        let mut token: Option<String> = None;
        loop {
            self.count();
            let page = ec2
                .describe_instances()
                .filters(
                    Filter::builder()
                        .name("instance-state-name")
                        .values("pending")
                        .values("running")
                        .build(),
                )
                .set_next_token(token.clone())
                .send()
                .await
                .map_err(|e| cloud_error("DescribeInstances", e))?;
            out.extend(
                page.reservations()
                    .iter()
                    .flat_map(|r| r.instances().iter().cloned()),
            );
            token = page
                .next_token()
                .map(str::to_string)
                .filter(|t| !t.is_empty());
            if token.is_none() {
                return Ok(out);
            }
        }
    }

    /// The cheapest availability zone's spot price for `instance_type` now.
    async fn spot_price(
        &self,
        region: &str,
        instance_type: &str,
    ) -> Result<(String, f64), CloudError> {
        let prices = spot_prices(self, region, &[instance_type.to_string()]).await?;
        prices
            .into_iter()
            .min_by(|a, b| a.usd_per_hour.total_cmp(&b.usd_per_hour))
            .map(|p| (p.zone, p.usd_per_hour))
            .ok_or_else(|| {
                CloudError::new(
                    PROVIDER,
                    ErrorKind::NoCapacity,
                    format!("no spot price for {instance_type} in {region} now: no spot capacity"),
                )
            })
    }
}

/// The newest spot price of each (zone, type) in `region` (Linux/UNIX), for `ferry catalog
/// refresh` and the spot quote.
pub async fn spot_prices(
    ec2: &Ec2,
    region: &str,
    types: &[String],
) -> Result<Vec<ZonePrice>, CloudError> {
    let client = ec2.client(region).await;
    let mut newest: BTreeMap<(String, String), ZonePrice> = BTreeMap::new();
    let mut token: Option<String> = None;
    loop {
        ec2.count();
        let page = client
            .describe_spot_price_history()
            .set_instance_types(Some(
                types
                    .iter()
                    .map(|t| InstanceType::from(t.as_str()))
                    .collect(),
            ))
            .product_descriptions("Linux/UNIX")
            .start_time(aws_sdk_ec2::primitives::DateTime::from(
                std::time::SystemTime::now(),
            ))
            .set_next_token(token.clone())
            .send()
            .await
            .map_err(|e| cloud_error("DescribeSpotPriceHistory", e))?;
        for p in page.spot_price_history() {
            let (Some(zone), Some(t), Some(price)) =
                (p.availability_zone(), p.instance_type(), p.spot_price())
            else {
                continue;
            };
            let Ok(price) = price.trim().parse::<f64>() else {
                return Err(CloudError::malformed(
                    PROVIDER,
                    "SpotPriceHistory[].SpotPrice",
                    format!("{price:?} is not a number"),
                ));
            };
            let stamp = p
                .timestamp()
                .and_then(|t| {
                    t.fmt(aws_sdk_ec2::primitives::DateTimeFormat::DateTime)
                        .ok()
                })
                .unwrap_or_default();
            let key = (zone.to_string(), t.as_str().to_string());
            let newer = newest.get(&key).is_none_or(|old| stamp > old.since);
            if newer {
                newest.insert(
                    key,
                    ZonePrice {
                        region: region.to_string(),
                        zone: zone.to_string(),
                        instance_type: t.as_str().to_string(),
                        usd_per_hour: price,
                        since: stamp,
                    },
                );
            }
        }
        token = page
            .next_token()
            .map(str::to_string)
            .filter(|t| !t.is_empty());
        if token.is_none() {
            return Ok(newest.into_values().collect());
        }
    }
}

#[async_trait]
impl Provider for Ec2 {
    fn kind(&self) -> ProviderKind {
        ProviderKind::Aws
    }

    /// Linux instances: per second, with a minimum of 60 seconds.
    fn billing(&self) -> Billing {
        Billing {
            increment_s: 1,
            minimum_s: 60,
        }
    }

    /// Launched with `InstanceInitiatedShutdownBehavior=terminate`, an instance that shuts
    /// itself down is terminated, not merely stopped.
    fn guard(&self) -> Guard {
        Guard::SelfTerminate("sudo shutdown -h now".into())
    }

    async fn quote(&self, offer: &OfferRef) -> Result<Quote, CloudError> {
        let region = offer.region.clone();
        let unchecked = self.check_quota(offer, &region).await?;
        let (price, zone, how) = if offer.spot {
            let (zone, price) = self.spot_price(&region, &offer.instance_type).await?;
            (price, Some(zone.clone()), format!("spot in {zone} now"))
        } else {
            (
                offer.expected_price_per_hour,
                None,
                "the catalog's on-demand list price (EC2 has no live price API)".to_string(),
            )
        };
        if let Some(max) = offer.max_price_per_hour
            && price > max
        {
            return Err(CloudError::new(
                PROVIDER,
                ErrorKind::PriceAbove,
                format!(
                    "{} costs ${price:.4}/h ({how}), above max_price ${max:.2}/h",
                    offer.instance_type
                ),
            ));
        }
        let mut detail = format!(
            "{} in {region} at ${price:.4}/h, {how}",
            offer.instance_type
        );
        match unchecked {
            Some(why) => detail.push_str(&format!("; {why}")),
            None => detail.push_str("; within the vCPU quota"),
        }
        Ok(Quote {
            price_per_hour: price,
            ask: zone,
            detail,
        })
    }

    async fn create(&self, req: &CreateRequest) -> Result<InstanceId, CloudError> {
        let region = req.offer.region.clone();
        let setup = self.region_setup(&region, &req.public_key).await?;
        let (image, root_device) = self.image(&region, &req.image).await?;
        let ec2 = self.client(&region).await;
        let name = req.name.to_string();
        let tags = vec![
            Tag::builder().key("Name").value(&name).build(),
            Tag::builder()
                .key(OWNER_TAG)
                .value(&req.name.install)
                .build(),
            Tag::builder()
                .key(JOB_TAG)
                .value(req.name.job.to_string())
                .build(),
            Tag::builder()
                .key(ATTEMPT_TAG)
                .value(req.name.attempt.to_string())
                .build(),
        ];
        let mut run = ec2
            .run_instances()
            .image_id(image)
            .instance_type(InstanceType::from(req.offer.instance_type.as_str()))
            .min_count(1)
            .max_count(1)
            .key_name(setup.key_name)
            .security_group_ids(setup.security_group)
            .client_token(client_token(&name))
            .instance_initiated_shutdown_behavior(ShutdownBehavior::Terminate)
            .block_device_mappings(
                BlockDeviceMapping::builder()
                    .device_name(root_device)
                    .ebs(
                        EbsBlockDevice::builder()
                            .volume_size(i32::try_from(req.disk_gb).unwrap_or(i32::MAX))
                            .volume_type(VolumeType::Gp3)
                            .delete_on_termination(true)
                            .build(),
                    )
                    .build(),
            );
        for kind in [ResourceType::Instance, ResourceType::Volume] {
            run = run.tag_specifications(
                TagSpecification::builder()
                    .resource_type(kind)
                    .set_tags(Some(tags.clone()))
                    .build(),
            );
        }
        if let Some(script) = &req.onstart {
            run = run.user_data(base64(script.as_bytes()));
        }
        if let Some(zone) = &req.quote.ask {
            run = run.placement(Placement::builder().availability_zone(zone).build());
        }
        if req.offer.spot {
            let mut spot = SpotMarketOptions::builder()
                .spot_instance_type(SpotInstanceType::OneTime)
                .instance_interruption_behavior(InstanceInterruptionBehavior::Terminate);
            if let Some(max) = req.offer.max_price_per_hour {
                spot = spot.max_price(format!("{max:.4}"));
            }
            run = run.instance_market_options(
                InstanceMarketOptionsRequest::builder()
                    .market_type(MarketType::Spot)
                    .spot_options(spot.build())
                    .build(),
            );
        }
        // A create resent after its answer was lost is the same launch, twice over: an
        // instance already carrying this lease's name is the answer, and the client token
        // makes EC2 itself answer a resent RunInstances with the first instance (the SDK's
        // own retries included). moto keeps the token without honouring it; the name
        // check is what its tests exercise.
        if let Some(id) = self.find_by_name(&ec2, &name).await? {
            return Ok(InstanceId(format!("{region}/{id}")));
        }
        self.count();
        let out = run
            .send()
            .await
            .map_err(|e| cloud_error("RunInstances", e))?;
        let id = out
            .instances()
            .first()
            .and_then(|i| i.instance_id())
            .ok_or_else(|| {
                CloudError::malformed(PROVIDER, "RunInstances.Instances[0].InstanceId", "missing")
            })?;
        Ok(InstanceId(format!("{region}/{id}")))
    }

    async fn list(&self) -> Result<Vec<Instance>, CloudError> {
        let mut out = vec![];
        for region in self.regions() {
            let ec2 = self.client(&region).await;
            let mut token: Option<String> = None;
            loop {
                self.count();
                let page = ec2
                    .describe_instances()
                    .filters(Filter::builder().name("tag-key").values(OWNER_TAG).build())
                    .set_next_token(token.clone())
                    .send()
                    .await
                    .map_err(|e| cloud_error("DescribeInstances", e))?;
                for r in page.reservations() {
                    for i in r.instances() {
                        out.push(instance(&region, i)?);
                    }
                }
                token = page
                    .next_token()
                    .map(str::to_string)
                    .filter(|t| !t.is_empty());
                if token.is_none() {
                    break;
                }
            }
        }
        Ok(out)
    }

    async fn terminate(&self, id: &InstanceId) -> Result<(), CloudError> {
        let (region, instance) = split_id(id)?;
        let ec2 = self.client(region).await;
        self.count();
        match ec2
            .terminate_instances()
            .instance_ids(instance)
            .send()
            .await
        {
            Ok(_) => Ok(()),
            Err(e) => {
                let e = cloud_error("TerminateInstances", e);
                if e.kind == ErrorKind::NotFound {
                    Ok(())
                } else {
                    Err(e)
                }
            }
        }
    }

    fn storage_per_hour(&self, disk_gb: u32) -> f64 {
        f64::from(disk_gb) * GP3_PER_GB_MONTH / 730.0
    }

    async fn spot_prices(
        &self,
        region: &str,
        instance_types: &[String],
    ) -> Result<Vec<ZonePrice>, CloudError> {
        spot_prices(self, region, instance_types).await
    }

    fn calls(&self) -> u64 {
        self.calls.load(Ordering::Relaxed)
    }
}

/// One EC2 instance as Ferry sees it.
fn instance(region: &str, i: &aws_sdk_ec2::types::Instance) -> Result<Instance, CloudError> {
    let id = i.instance_id().ok_or_else(|| {
        CloudError::malformed(PROVIDER, "Reservations[].Instances[].InstanceId", "missing")
    })?;
    let state_name = i.state().and_then(|s| s.name()).ok_or_else(|| {
        CloudError::malformed(PROVIDER, "Reservations[].Instances[].State.Name", "missing")
    })?;
    let state = match state_name {
        InstanceStateName::Pending => InstanceState::Provisioning,
        InstanceStateName::Running => InstanceState::Running,
        InstanceStateName::Stopping | InstanceStateName::Stopped => InstanceState::Stopped,
        InstanceStateName::ShuttingDown => InstanceState::Terminating,
        InstanceStateName::Terminated => InstanceState::Terminated,
        _ => InstanceState::Provisioning,
    };
    let tag = |k: &str| {
        i.tags()
            .iter()
            .find(|t| t.key() == Some(k))
            .and_then(|t| t.value())
            .map(str::to_string)
    };
    let endpoint = match (state, i.public_ip_address()) {
        (InstanceState::Running, Some(ip)) if !ip.is_empty() => Some(Endpoint {
            host: ip.to_string(),
            port: 22,
            user: SSH_USER.to_string(),
        }),
        _ => None,
    };
    let mut status_text = state_name.as_str().to_string();
    if let Some(reason) = i.state_reason().and_then(|r| r.code())
        && state != InstanceState::Running
    {
        status_text.push_str(&format!(" ({reason})"));
    }
    Ok(Instance {
        id: InstanceId(format!("{region}/{id}")),
        name: tag("Name").unwrap_or_default(),
        state,
        endpoint,
        status_text,
        price_per_hour: None,
        interruptible: i.instance_lifecycle().is_some_and(|l| l.as_str() == "spot"),
    })
}

/// Whether an instance was ended by a spot interruption, by its state reason.
pub fn interrupted(status_text: &str) -> bool {
    status_text.contains("Server.SpotInstanceTermination")
}

fn split_id(id: &InstanceId) -> Result<(&str, &str), CloudError> {
    id.0.split_once('/').ok_or_else(|| {
        CloudError::new(
            PROVIDER,
            ErrorKind::Refused,
            format!("{id} is not an instance id Ferry wrote (region/i-…)"),
        )
    })
}

/// The client token of a lease: the same lease always launches the same instance. EC2
/// accepts up to 64 ASCII characters; a lease name is at most 60.
fn client_token(lease: &str) -> String {
    lease.chars().take(64).collect()
}

/// The key pair's name: Ferry's, told apart by the key's last characters so that two Ferry
/// keys in one account do not collide.
fn key_name(public_key: &str) -> String {
    let body = public_key.split_whitespace().nth(1).unwrap_or(public_key);
    let tail: String = body
        .chars()
        .rev()
        .filter(char::is_ascii_alphanumeric)
        .take(10)
        .collect();
    format!("ferry-{tail}")
}

/// Who may SSH in. The caller's own address is not known offline; AWS's key pair is the
/// lock, and the group opens port 22 only.
fn ssh_cidr() -> String {
    std::env::var("FERRY_AWS_SSH_CIDR")
        .ok()
        .filter(|c| c.contains('/'))
        .unwrap_or_else(|| "0.0.0.0/0".into())
}

fn base64(bytes: &[u8]) -> String {
    const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for (k, shift) in [18, 12, 6, 0].into_iter().enumerate() {
            if k <= chunk.len() {
                out.push(T[((n >> shift) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

pub use errors::classify as classify_code;

#[cfg(test)]
mod tests {
    use super::*;
    use errors::classify;

    #[test]
    fn base64_matches_the_rfc_examples() {
        for (plain, coded) in [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
        ] {
            assert_eq!(base64(plain.as_bytes()), coded);
        }
    }

    #[test]
    fn ids_carry_their_region() {
        let id = InstanceId("eu-west-1/i-0abc".into());
        assert_eq!(split_id(&id).unwrap(), ("eu-west-1", "i-0abc"));
        assert!(split_id(&InstanceId("i-0abc".into())).is_err());
    }

    #[test]
    fn client_tokens_are_the_lease_and_fit() {
        let t = client_token("ferry-0a1b2c3d-j-00000000000000a1-a1");
        assert_eq!(t, "ferry-0a1b2c3d-j-00000000000000a1-a1");
        assert!(client_token(&"x".repeat(100)).len() <= 64);
    }

    #[test]
    fn key_names_differ_by_key() {
        let a = key_name("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIAbc123 ferry");
        let b = key_name("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIXyz789 ferry");
        assert_ne!(a, b);
        assert!(a.starts_with("ferry-"));
    }

    #[test]
    fn error_codes_map_to_kinds() {
        assert_eq!(
            classify("InsufficientInstanceCapacity"),
            ErrorKind::NoCapacity
        );
        assert_eq!(classify("VcpuLimitExceeded"), ErrorKind::Quota);
        assert_eq!(classify("SpotMaxPriceTooLow"), ErrorKind::PriceAbove);
        assert_eq!(classify("AuthFailure"), ErrorKind::Auth);
        assert_eq!(classify("RequestLimitExceeded"), ErrorKind::RateLimited);
        assert_eq!(classify("InvalidInstanceID.NotFound"), ErrorKind::NotFound);
        assert_eq!(classify("Unavailable"), ErrorKind::Transient);
        assert_eq!(classify("InvalidParameterValue"), ErrorKind::Refused);
    }
}
