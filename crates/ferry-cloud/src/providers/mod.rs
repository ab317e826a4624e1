//! The providers Ferry rents from, one module each, and the one place that builds them.
//! Adding a provider is a module here, a variant of [`ProviderKind`], and its fixtures.
//!
//! AWS is the exception that proves the seam: its official SDK is heavy, so its module
//! lives in its own crate (`ferry-cloud-aws`), and [`ProviderKind::build`] leaves it to the
//! caller (the registry), which builds it when Ferry was compiled with the `aws` feature.

pub mod azure;
pub mod gcp;
pub mod lambda;
pub mod paperspace;
pub mod runpod;
pub mod vastai;

use crate::http::{ApiKey, RetryPolicy};
use crate::provider::Provider;
use std::sync::Arc;

/// A provider Ferry can rent machines from; its id is the catalog's provider name.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum ProviderKind {
    Runpod,
    Lambda,
    Vastai,
    Paperspace,
    Aws,
    Gcp,
    Azure,
}

impl ProviderKind {
    pub const ALL: [ProviderKind; 7] = [
        ProviderKind::Runpod,
        ProviderKind::Lambda,
        ProviderKind::Vastai,
        ProviderKind::Paperspace,
        ProviderKind::Aws,
        ProviderKind::Gcp,
        ProviderKind::Azure,
    ];

    /// The id in the config (`[providers.runpod]`), the catalog and the store.
    pub fn id(self) -> &'static str {
        match self {
            ProviderKind::Runpod => "runpod",
            ProviderKind::Lambda => "lambda",
            ProviderKind::Vastai => "vastai",
            ProviderKind::Paperspace => "paperspace",
            ProviderKind::Aws => "aws",
            ProviderKind::Gcp => "gcp",
            ProviderKind::Azure => "azure",
        }
    }

    pub fn from_id(id: &str) -> Option<ProviderKind> {
        ProviderKind::ALL.into_iter().find(|k| k.id() == id)
    }

    /// Where the credentials are read from when the config has none, in words for an
    /// error message (an environment variable, a key file, the SDK's chain).
    pub fn env_var(self) -> &'static str {
        match self {
            ProviderKind::Runpod => "RUNPOD_API_KEY",
            ProviderKind::Lambda => "LAMBDA_API_KEY",
            ProviderKind::Vastai => "VAST_API_KEY",
            ProviderKind::Paperspace => "PAPERSPACE_API_KEY",
            ProviderKind::Aws => {
                "the AWS SDK's chain: AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, AWS_PROFILE, ~/.aws, SSO"
            }
            ProviderKind::Gcp => {
                "credentials_file, or GOOGLE_APPLICATION_CREDENTIALS: a service-account key file"
            }
            ProviderKind::Azure => {
                "tenant_id, client_id, client_secret, subscription_id, or AZURE_TENANT_ID, AZURE_CLIENT_ID, AZURE_CLIENT_SECRET, AZURE_SUBSCRIPTION_ID"
            }
        }
    }

    /// The provisioning API's base URL.
    pub fn default_base_url(self) -> &'static str {
        match self {
            ProviderKind::Runpod => runpod::BASE_URL,
            ProviderKind::Lambda => lambda::BASE_URL,
            ProviderKind::Vastai => vastai::BASE_URL,
            ProviderKind::Paperspace => paperspace::BASE_URL,
            // The SDK resolves each region's endpoint itself.
            ProviderKind::Aws => "",
            ProviderKind::Gcp => gcp::BASE_URL,
            ProviderKind::Azure => azure::BASE_URL,
        }
    }

    /// The image an instance boots when the config names none.
    pub fn default_image(self) -> &'static str {
        match self {
            ProviderKind::Runpod => runpod::DEFAULT_IMAGE,
            ProviderKind::Lambda => lambda::DEFAULT_IMAGE,
            ProviderKind::Vastai => vastai::DEFAULT_IMAGE,
            ProviderKind::Paperspace => paperspace::DEFAULT_IMAGE,
            // Looked up at launch (a Deep Learning AMI by SSM parameter) unless configured.
            ProviderKind::Aws => "",
            ProviderKind::Gcp => gcp::DEFAULT_IMAGE,
            ProviderKind::Azure => azure::DEFAULT_IMAGE,
        }
    }

    /// The provider's own machine type for a catalog row (its `instance_type`), and the
    /// tier its `offering` names, where the provider has tiers.
    pub fn machine_type(self, catalog_instance: &str, offering: &str) -> (String, Option<String>) {
        match self {
            ProviderKind::Runpod => (
                runpod::gpu_type_id(catalog_instance),
                runpod::tier(offering),
            ),
            ProviderKind::Vastai => (vastai::gpu_name(catalog_instance), None),
            ProviderKind::Lambda
            | ProviderKind::Paperspace
            | ProviderKind::Aws
            | ProviderKind::Gcp
            | ProviderKind::Azure => (catalog_instance.trim().to_string(), None),
        }
    }

    /// The provider's client; `None` for AWS, whose client lives in `ferry-cloud-aws`.
    pub fn build(self, config: ProviderConfig) -> Option<Arc<dyn Provider>> {
        Some(match self {
            ProviderKind::Runpod => Arc::new(runpod::RunPod::new(config)),
            ProviderKind::Lambda => Arc::new(lambda::Lambda::new(config)),
            ProviderKind::Vastai => Arc::new(vastai::VastAi::new(config)),
            ProviderKind::Paperspace => Arc::new(paperspace::Paperspace::new(config)),
            ProviderKind::Gcp => Arc::new(gcp::Gcp::new(config)),
            ProviderKind::Azure => Arc::new(azure::Azure::new(config)),
            ProviderKind::Aws => return None,
        })
    }
}

impl std::fmt::Display for ProviderKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.id())
    }
}

/// Disk per rented machine when neither the task nor the config says, GB.
pub const DEFAULT_DISK_GB: u32 = 50;

/// Who the account is, beyond the secret in [`ProviderConfig::key`]: what the hyperscalers
/// need to address their APIs. The registry resolves it from the config and the
/// environment, and names whatever is missing.
#[derive(Debug, Clone, PartialEq)]
pub enum Account {
    /// The API key alone says everything (RunPod, Lambda, Vast.ai, Paperspace).
    KeyOnly,
    /// AWS: the SDK's standard credentials chain, with this profile when named. The key is
    /// unused (empty).
    Aws {
        profile: Option<String>,
        /// The Service Quotas endpoint, when not AWS's own (a test server).
        quotas_url: Option<String>,
    },
    /// Google Cloud: the key is the service-account key file's JSON text (its
    /// `private_key` signs the token request; its `token_uri` is where it is sent).
    Gcp {
        project: String,
        /// The token endpoint, when not the key file's `token_uri` (a test server).
        token_url: Option<String>,
    },
    /// Azure: a service principal; the key is its client secret.
    Azure {
        tenant_id: String,
        client_id: String,
        subscription_id: String,
        /// Where Ferry's machines and their network live; made when missing.
        resource_group: String,
        /// The token endpoint, when not Microsoft Entra ID's
        /// (`https://login.microsoftonline.com/<tenant>/oauth2/v2.0/token`).
        token_url: Option<String>,
    },
}

/// What a provider module is built from (the config's `[providers.X]`, resolved).
#[derive(Debug, Clone)]
pub struct ProviderConfig {
    /// The secret: an API key, a Google service-account key file's text, an Azure client
    /// secret (empty for AWS).
    pub key: ApiKey,
    pub account: Account,
    /// Where to list and sweep, for providers whose API is per region or zone (AWS
    /// regions, Google Cloud zones, Azure locations); empty: the provider's defaults plus
    /// every region Ferry created a machine in.
    pub regions: Vec<String>,
    /// The API's base URL: the provider's own, or the config's `api_endpoint`.
    pub base_url: String,
    /// Container or machine image; the provider's default when `None`.
    pub image: Option<String>,
    pub disk_gb: u32,
    /// How hard transient failures are retried (tests shorten it).
    pub retry: RetryPolicy,
}

impl ProviderConfig {
    pub fn new(kind: ProviderKind, key: ApiKey) -> ProviderConfig {
        ProviderConfig {
            key,
            account: Account::KeyOnly,
            regions: vec![],
            base_url: kind.default_base_url().to_string(),
            image: None,
            disk_gb: DEFAULT_DISK_GB,
            retry: RetryPolicy::default(),
        }
    }
}
