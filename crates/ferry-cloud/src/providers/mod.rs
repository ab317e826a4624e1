//! The providers Ferry rents from, one module each, and the one place that builds them.
//! Adding a provider is a module here, a variant of [`ProviderKind`], and its fixtures.

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
}

impl ProviderKind {
    pub const ALL: [ProviderKind; 4] = [
        ProviderKind::Runpod,
        ProviderKind::Lambda,
        ProviderKind::Vastai,
        ProviderKind::Paperspace,
    ];

    /// The id in the config (`[providers.runpod]`), the catalog and the store.
    pub fn id(self) -> &'static str {
        match self {
            ProviderKind::Runpod => "runpod",
            ProviderKind::Lambda => "lambda",
            ProviderKind::Vastai => "vastai",
            ProviderKind::Paperspace => "paperspace",
        }
    }

    pub fn from_id(id: &str) -> Option<ProviderKind> {
        ProviderKind::ALL.into_iter().find(|k| k.id() == id)
    }

    /// Where the API key is read from when the config has none.
    pub fn env_var(self) -> &'static str {
        match self {
            ProviderKind::Runpod => "RUNPOD_API_KEY",
            ProviderKind::Lambda => "LAMBDA_API_KEY",
            ProviderKind::Vastai => "VAST_API_KEY",
            ProviderKind::Paperspace => "PAPERSPACE_API_KEY",
        }
    }

    /// The provisioning API's base URL.
    pub fn default_base_url(self) -> &'static str {
        match self {
            ProviderKind::Runpod => runpod::BASE_URL,
            ProviderKind::Lambda => lambda::BASE_URL,
            ProviderKind::Vastai => vastai::BASE_URL,
            ProviderKind::Paperspace => paperspace::BASE_URL,
        }
    }

    /// The image an instance boots when the config names none.
    pub fn default_image(self) -> &'static str {
        match self {
            ProviderKind::Runpod => runpod::DEFAULT_IMAGE,
            ProviderKind::Lambda => lambda::DEFAULT_IMAGE,
            ProviderKind::Vastai => vastai::DEFAULT_IMAGE,
            ProviderKind::Paperspace => paperspace::DEFAULT_IMAGE,
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
            ProviderKind::Lambda | ProviderKind::Paperspace => {
                (catalog_instance.trim().to_string(), None)
            }
        }
    }

    pub fn build(self, config: ProviderConfig) -> Arc<dyn Provider> {
        match self {
            ProviderKind::Runpod => Arc::new(runpod::RunPod::new(config)),
            ProviderKind::Lambda => Arc::new(lambda::Lambda::new(config)),
            ProviderKind::Vastai => Arc::new(vastai::VastAi::new(config)),
            ProviderKind::Paperspace => Arc::new(paperspace::Paperspace::new(config)),
        }
    }
}

impl std::fmt::Display for ProviderKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.id())
    }
}

/// Disk per rented machine when neither the task nor the config says, GB.
pub const DEFAULT_DISK_GB: u32 = 50;

/// What a provider module is built from (the config's `[providers.X]`, resolved).
#[derive(Debug, Clone)]
pub struct ProviderConfig {
    pub key: ApiKey,
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
            base_url: kind.default_base_url().to_string(),
            image: None,
            disk_gb: DEFAULT_DISK_GB,
            retry: RetryPolicy::default(),
        }
    }
}
