//! Live price refreshers. Each source turns a provider's documented answer into catalog
//! rows; the runner fetches them concurrently, validates the rows exactly as the embedded
//! snapshot is validated, and replaces a provider's cache file only when all went well.
//!
//! A malformed answer is an error naming the provider and the field (`vastai:
//! offers[1].dph_base: missing`) and leaves the cache untouched; a provider that fails or
//! has no API key does not block the others.

mod error;
mod gpu_match;
mod json;
mod rows;
mod runner;
pub mod sources;

pub use error::RefreshError;
pub use rows::{CacheRow, with_spot_prices, write_cache};
pub use runner::{Event, Fetched, Outcome, Request, SpotClient, Written, refresh};

use std::fmt;
use std::str::FromStr;

/// The price sources Ferry can refresh.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Provider {
    Vastai,
    Aws,
    Azure,
    Runpod,
    Lambda,
}

impl Provider {
    pub const ALL: [Provider; 5] = [
        Provider::Vastai,
        Provider::Aws,
        Provider::Azure,
        Provider::Runpod,
        Provider::Lambda,
    ];

    pub fn id(self) -> &'static str {
        match self {
            Provider::Vastai => "vastai",
            Provider::Aws => "aws",
            Provider::Azure => "azure",
            Provider::Runpod => "runpod",
            Provider::Lambda => "lambda",
        }
    }

    pub fn default_endpoint(self) -> &'static str {
        match self {
            Provider::Vastai => "https://console.vast.ai/api/v0/bundles/",
            Provider::Aws => "https://pricing.us-east-1.amazonaws.com",
            Provider::Azure => "https://prices.azure.com",
            Provider::Runpod => "https://api.runpod.io/graphql",
            Provider::Lambda => "https://cloud.lambda.ai/api/v1/instance-types",
        }
    }

    /// RunPod and Lambda answer only with the user's API key.
    pub fn needs_key(self) -> bool {
        matches!(self, Provider::Runpod | Provider::Lambda)
    }

    /// Regions fetched when the config names none (per-region sources only).
    pub fn default_regions(self) -> &'static [&'static str] {
        match self {
            Provider::Aws => &["us-east-1", "us-west-2", "eu-west-1"],
            Provider::Azure => &["eastus", "westus2", "westeurope"],
            _ => &[],
        }
    }
}

impl fmt::Display for Provider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.id())
    }
}

impl FromStr for Provider {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let s = s.trim().to_ascii_lowercase();
        Provider::ALL
            .into_iter()
            .find(|p| p.id() == s || (s == "vast" && *p == Provider::Vastai))
            .ok_or_else(|| {
                format!(
                    "no live price source for '{s}' (refreshable: {}); other providers' prices come from the embedded snapshot",
                    Provider::ALL.map(|p| p.id()).join(", ")
                )
            })
    }
}
