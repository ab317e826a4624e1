//! The six ways of getting a GPU. `hybrid` is a policy over the others, not a place
//! offers come from, so it is not a [`Category`].

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Category {
    Owned,
    Academic,
    GpuCloud,
    Hyperscaler,
    Decentralized,
}

impl Category {
    pub const ALL: [Category; 5] = [
        Category::Owned,
        Category::Academic,
        Category::GpuCloud,
        Category::Hyperscaler,
        Category::Decentralized,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Category::Owned => "owned",
            Category::Academic => "academic",
            Category::GpuCloud => "gpu-cloud",
            Category::Hyperscaler => "hyperscaler",
            Category::Decentralized => "decentralized",
        }
    }
}

impl fmt::Display for Category {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "unknown category '{0}' (expected one of: owned, academic, gpu-cloud, hyperscaler, decentralized)"
)]
pub struct UnknownCategory(pub String);

impl FromStr for Category {
    type Err = UnknownCategory;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let norm: String = s
            .trim()
            .to_ascii_lowercase()
            .chars()
            .filter(|c| c.is_ascii_alphanumeric())
            .collect();
        // Accept the words people use for the same thing ("gpuaas", "marketplace").
        match norm.as_str() {
            "owned" | "onprem" | "own" => Ok(Category::Owned),
            "academic" | "hpc" => Ok(Category::Academic),
            "gpucloud" | "gpuaas" | "neocloud" => Ok(Category::GpuCloud),
            "hyperscaler" | "cloud" => Ok(Category::Hyperscaler),
            "decentralized" | "decentralised" | "marketplace" => Ok(Category::Decentralized),
            _ => Err(UnknownCategory(s.to_string())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_synonyms() {
        for c in Category::ALL {
            assert_eq!(c.as_str().parse::<Category>().unwrap(), c);
        }
        assert_eq!("GPUaaS".parse::<Category>().unwrap(), Category::GpuCloud);
        assert_eq!(
            "decentralised".parse::<Category>().unwrap(),
            Category::Decentralized
        );
        assert!("hybrid".parse::<Category>().is_err());
    }
}
