//! PLACEHOLDER: being written (the Gcp provider).

use crate::billing::Billing;
use crate::error::{CloudError, ErrorKind};
use crate::provider::{CreateRequest, Guard, Instance, InstanceId, OfferRef, Provider, Quote};
use crate::providers::{ProviderConfig, ProviderKind};
use async_trait::async_trait;

pub const BASE_URL: &str = "https://compute.googleapis.com/compute/v1";
pub const DEFAULT_IMAGE: &str = "projects/deeplearning-platform-release/global/images/family/common-cu124-ubuntu-2204";

pub struct Gcp {
    _config: ProviderConfig,
}

impl Gcp {
    pub fn new(config: ProviderConfig) -> Gcp {
        Gcp { _config: config }
    }

    fn todo(&self) -> CloudError {
        CloudError::new(ProviderKind::Gcp.id(), ErrorKind::Refused, "not written yet")
    }
}

#[async_trait]
impl Provider for Gcp {
    fn kind(&self) -> ProviderKind {
        ProviderKind::Gcp
    }
    fn billing(&self) -> Billing {
        Billing::PER_SECOND
    }
    fn guard(&self) -> Guard {
        Guard::None("not written yet")
    }
    async fn quote(&self, _offer: &OfferRef) -> Result<Quote, CloudError> {
        Err(self.todo())
    }
    async fn create(&self, _req: &CreateRequest) -> Result<InstanceId, CloudError> {
        Err(self.todo())
    }
    async fn list(&self) -> Result<Vec<Instance>, CloudError> {
        Err(self.todo())
    }
    async fn terminate(&self, _id: &InstanceId) -> Result<(), CloudError> {
        Err(self.todo())
    }
    fn calls(&self) -> u64 {
        0
    }
}

/// The fields of a service-account key file Ferry reads (the JSON a user downloads from
/// IAM & Admin > Service accounts > Keys).
#[derive(Debug, Clone, serde::Deserialize)]
pub struct ServiceAccount {
    pub client_email: String,
    pub private_key: String,
    pub token_uri: String,
    #[serde(default)]
    pub project_id: Option<String>,
}

impl ServiceAccount {
    pub fn parse(text: &str) -> Result<ServiceAccount, String> {
        crate::http::decode::<ServiceAccount>("gcp", text).map_err(|e| e.message)
    }
}
