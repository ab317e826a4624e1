//! The seam every provider implements: acquire a machine, list the account's machines,
//! give one back. Nothing here knows about jobs beyond the lease name.

use crate::billing::Billing;
use crate::error::{CloudError, ErrorKind};
use crate::names::LeaseName;
use crate::providers::ProviderKind;
use async_trait::async_trait;
use serde::{Deserialize, Serialize};

/// The provider's own id for an instance (a pod id, a contract number, a machine id).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct InstanceId(pub String);

impl std::fmt::Display for InstanceId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// Where to reach a ready instance over SSH.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Endpoint {
    pub host: String,
    pub port: u16,
    pub user: String,
}

/// Where an instance is in its life, as its provider says, mapped to what Ferry acts on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum InstanceState {
    /// Accepted and being set up (booting, pulling its image).
    Provisioning,
    /// Up; [`Instance::endpoint`] says where, once the provider publishes it.
    Running,
    /// Stopped or exited without being terminated: no job runs there any more, and it may
    /// still bill (storage). For an interruptible instance Ferry did not stop, a preemption.
    Stopped,
    /// Being torn down.
    Terminating,
    /// Gone for good. Listings may or may not still show it.
    Terminated,
}

impl InstanceState {
    /// Whether the instance may still cost money.
    pub fn may_bill(self) -> bool {
        !matches!(self, InstanceState::Terminated)
    }
}

/// One instance of the account, as a listing shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Instance {
    pub id: InstanceId,
    /// The name or label it carries (Ferry's lease name, or a user's own).
    pub name: String,
    pub state: InstanceState,
    pub endpoint: Option<Endpoint>,
    /// The provider's word for the state, shown to the user as it is.
    pub status_text: String,
    /// What the provider says it bills per hour now, where it says.
    pub price_per_hour: Option<f64>,
    pub interruptible: bool,
}

impl Instance {
    /// Ferry's lease, if the name is one of Ferry's.
    pub fn lease(&self) -> Option<LeaseName> {
        LeaseName::parse(&self.name)
    }
}

/// The offer to rent, as the plan chose it from the catalog.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OfferRef {
    /// The provider's machine type: a RunPod GPU type id (`NVIDIA H100 80GB HBM3`), a Lambda
    /// instance type (`gpu_8x_h100_sxm5`), a Paperspace machine type (`A100-80G`), or for
    /// Vast.ai a GPU name (`H100 SXM`) to search live offers with.
    pub instance_type: String,
    /// The catalog's region; providers that place by region use it.
    pub region: String,
    /// GPUs per instance.
    pub gpu_count: u32,
    /// Interruptible (spot, bid) capacity.
    pub spot: bool,
    /// The hourly price the plan expected, USD.
    pub expected_price_per_hour: f64,
    /// The most the user accepts per hour (`max_price`), USD.
    pub max_price_per_hour: Option<f64>,
    /// Secure or Community Cloud, where the provider has both (RunPod).
    pub tier: Option<String>,
    /// vCPUs of the machine type, from the catalog: the hyperscalers' quotas count vCPUs.
    #[serde(default)]
    pub vcpus: Option<u32>,
}

/// What a live re-check of an offer found, just before creating.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Quote {
    /// The hourly price the instance will be billed at (for a bid, the bid).
    pub price_per_hour: f64,
    /// What to create, when the live market picks it (a Vast.ai ask id).
    pub ask: Option<String>,
    /// In words: which host, its reliability, the stock level.
    pub detail: String,
}

/// Everything a provider needs to create one instance.
#[derive(Debug, Clone, PartialEq)]
pub struct CreateRequest {
    pub name: LeaseName,
    pub offer: OfferRef,
    pub quote: Quote,
    /// Ferry's public key (OpenSSH one-line form), installed the way the provider requires.
    pub public_key: String,
    /// Container or VM image.
    pub image: String,
    pub disk_gb: u32,
    /// A shell script the instance runs at boot (where the provider runs one), used to
    /// install Ferry's key and its guard.
    pub onstart: Option<String>,
}

/// Whether an instance can end itself when Ferry's server is gone.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub enum Guard {
    /// A shell command, run on the instance, that terminates it (not merely stops it).
    SelfTerminate(String),
    /// The provider gives an instance no way to end itself; the reason, for the user.
    None(&'static str),
}

/// A GPU cloud or marketplace Ferry rents from.
#[async_trait]
pub trait Provider: Send + Sync {
    fn kind(&self) -> ProviderKind;

    fn billing(&self) -> Billing;

    /// How the instance guards itself against outliving its job.
    fn guard(&self) -> Guard;

    /// Checks the offer live (price, stock): refused with `PriceAbove` over `max_price`,
    /// `NoCapacity` when none is left.
    async fn quote(&self, offer: &OfferRef) -> Result<Quote, CloudError>;

    /// Creates the instance, named `req.name`; returns the provider's id for it. A create
    /// whose answer is lost is found again by [`Provider::list`], by name.
    async fn create(&self, req: &CreateRequest) -> Result<InstanceId, CloudError>;

    /// Every instance of the account, whatever its state or name, in one call per page.
    async fn list(&self) -> Result<Vec<Instance>, CloudError>;

    /// Asks for the instance to be terminated. An instance the provider no longer knows is
    /// terminated already: `Ok`. Success is no proof: the caller lists again to verify.
    async fn terminate(&self, id: &InstanceId) -> Result<(), CloudError>;

    /// What the provider bills per hour for an instance's disk of `disk_gb`, on top of the
    /// compute price, for as long as the instance exists (0 where the price includes it).
    fn storage_per_hour(&self, _disk_gb: u32) -> f64 {
        0.0
    }

    /// What the provider says it actually charged for the instance, where it reports it.
    async fn charged(&self, _id: &InstanceId) -> Result<Option<f64>, CloudError> {
        Ok(None)
    }

    /// The current spot price of each instance type in each zone of `region`, where the
    /// provider publishes them live (AWS's `DescribeSpotPriceHistory`); `ferry catalog
    /// refresh` puts them next to the list prices.
    async fn spot_prices(
        &self,
        _region: &str,
        _instance_types: &[String],
    ) -> Result<Vec<ZonePrice>, CloudError> {
        Err(CloudError::new(
            self.kind().id(),
            ErrorKind::Refused,
            "no live spot price API",
        ))
    }

    /// API calls made so far (for the benchmarks' calls-per-job figure).
    fn calls(&self) -> u64;
}

/// One zone's live spot price for one instance type.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ZonePrice {
    pub region: String,
    /// The availability zone (`us-east-1a`).
    pub zone: String,
    pub instance_type: String,
    pub usd_per_hour: f64,
    /// When the provider set it (RFC 3339), as it says.
    pub since: String,
}
