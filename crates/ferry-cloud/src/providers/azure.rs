//! PLACEHOLDER: being written (the Azure provider).

use crate::billing::Billing;
use crate::error::{CloudError, ErrorKind};
use crate::provider::{CreateRequest, Guard, Instance, InstanceId, OfferRef, Provider, Quote};
use crate::providers::{ProviderConfig, ProviderKind};
use async_trait::async_trait;

pub const BASE_URL: &str = "https://management.azure.com";
pub const DEFAULT_IMAGE: &str = "microsoft-dsvm:ubuntu-hpc:2204:latest";

pub struct Azure {
    _config: ProviderConfig,
}

impl Azure {
    pub fn new(config: ProviderConfig) -> Azure {
        Azure { _config: config }
    }

    fn todo(&self) -> CloudError {
        CloudError::new(ProviderKind::Azure.id(), ErrorKind::Refused, "not written yet")
    }
}

#[async_trait]
impl Provider for Azure {
    fn kind(&self) -> ProviderKind {
        ProviderKind::Azure
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
