//! EC2's vCPU quotas: which quota an instance type counts against, and whether a launch
//! fits in it.
//!
//! EC2 limits running instances by vCPUs per instance family group, one quota for
//! On-Demand and one for Spot
//! (<https://docs.aws.amazon.com/ec2/latest/instancetypes/ec2-instance-quotas.html>). The
//! codes are Service Quotas' for the `ec2` service.

use ferry_cloud::providers::{Account, ProviderConfig};
use ferry_cloud::{CloudError, ErrorKind};

use crate::PROVIDER;

/// The groups of instance families EC2 counts vCPUs for, of those Ferry rents.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QuotaFamily {
    /// A, C, D, H, I, M, R, T and Z instances.
    Standard,
    /// G (NVIDIA T4, A10G, L4, L40S) and VT instances.
    GAndVt,
    /// P (NVIDIA V100, A100, H100, H200) instances.
    P,
}

impl QuotaFamily {
    /// Service Quotas' code and name of the quota for this group.
    pub fn quota(self, spot: bool) -> (&'static str, &'static str) {
        match (self, spot) {
            (QuotaFamily::Standard, false) => (
                "L-1216C47A",
                "Running On-Demand Standard (A, C, D, H, I, M, R, T, Z) instances",
            ),
            (QuotaFamily::Standard, true) => (
                "L-34B43A08",
                "All Standard (A, C, D, H, I, M, R, T, Z) Spot Instance Requests",
            ),
            (QuotaFamily::GAndVt, false) => ("L-DB2E81BA", "Running On-Demand G and VT instances"),
            (QuotaFamily::GAndVt, true) => ("L-3819A6DF", "All G and VT Spot Instance Requests"),
            (QuotaFamily::P, false) => ("L-417A185B", "Running On-Demand P instances"),
            (QuotaFamily::P, true) => ("L-7212CCBC", "All P Spot Instance Requests"),
        }
    }
}

/// The quota group of an instance type (`p4d.24xlarge` → P), by the letters before its
/// generation number; `None` for groups with quotas of their own Ferry does not read (DL,
/// Inf, Trn, X, HPC, F).
pub fn family_of(instance_type: &str) -> Option<QuotaFamily> {
    let letters: String = instance_type
        .chars()
        .take_while(|c| c.is_ascii_alphabetic())
        .collect::<String>()
        .to_ascii_lowercase();
    match letters.as_str() {
        "p" => Some(QuotaFamily::P),
        "g" | "vt" => Some(QuotaFamily::GAndVt),
        "a" | "c" | "d" | "h" | "i" | "m" | "r" | "t" | "z" => Some(QuotaFamily::Standard),
        _ => None,
    }
}

/// Where Service Quotas is asked, when not AWS's own endpoint.
pub fn endpoint(config: &ProviderConfig) -> Option<String> {
    match &config.account {
        Account::Aws { quotas_url, .. } => quotas_url.clone(),
        _ => None,
    }
}

/// One quota and what a launch would add to it.
#[derive(Debug)]
pub struct Usage<'a> {
    pub code: &'a str,
    pub name: &'a str,
    pub region: &'a str,
    /// vCPUs.
    pub limit: f64,
    pub used: u32,
    pub wanted: u32,
    pub instance_type: &'a str,
}

/// A launch over quota is refused before it is tried, with the quota's name and value.
pub fn verdict(u: &Usage) -> Result<(), CloudError> {
    let after = f64::from(u.used) + f64::from(u.wanted);
    if after <= u.limit {
        return Ok(());
    }
    Err(CloudError::new(
        PROVIDER,
        ErrorKind::Quota,
        format!(
            "{} needs {} vCPUs, but the quota \"{}\" ({}) in {} is {} vCPUs with {} in use: ask \
             for more under Service Quotas > Amazon EC2",
            u.instance_type, u.wanted, u.name, u.code, u.region, u.limit, u.used
        ),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn families_follow_the_letters() {
        assert_eq!(family_of("p4d.24xlarge"), Some(QuotaFamily::P));
        assert_eq!(family_of("p5.48xlarge"), Some(QuotaFamily::P));
        assert_eq!(family_of("g5.xlarge"), Some(QuotaFamily::GAndVt));
        assert_eq!(family_of("g6e.12xlarge"), Some(QuotaFamily::GAndVt));
        assert_eq!(family_of("vt1.3xlarge"), Some(QuotaFamily::GAndVt));
        assert_eq!(family_of("m7i.large"), Some(QuotaFamily::Standard));
        assert_eq!(family_of("inf2.xlarge"), None);
        assert_eq!(family_of("dl1.24xlarge"), None);
        assert_eq!(family_of("trn1.32xlarge"), None);
    }

    #[test]
    fn spot_and_on_demand_are_different_quotas() {
        for f in [QuotaFamily::Standard, QuotaFamily::GAndVt, QuotaFamily::P] {
            assert_ne!(f.quota(false).0, f.quota(true).0);
        }
    }

    fn usage(limit: f64, used: u32, wanted: u32) -> Usage<'static> {
        Usage {
            code: "L-DB2E81BA",
            name: "Running On-Demand G and VT instances",
            region: "us-east-1",
            limit,
            used,
            wanted,
            instance_type: "g5.12xlarge",
        }
    }

    #[test]
    fn a_launch_that_fits_passes_and_one_over_names_the_quota() {
        assert!(verdict(&usage(64.0, 16, 48)).is_ok());
        let e = verdict(&usage(64.0, 32, 48)).unwrap_err();
        assert_eq!(e.kind, ErrorKind::Quota);
        assert!(e.message.contains("L-DB2E81BA"), "{}", e.message);
        assert!(
            e.message.contains("64 vCPUs with 32 in use"),
            "{}",
            e.message
        );
        assert!(verdict(&usage(0.0, 0, 4)).is_err());
    }
}
