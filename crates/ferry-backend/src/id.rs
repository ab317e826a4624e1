//! Every backend's id, typed: the one place that says how `local`, `ssh:<machine>`,
//! `slurm:<cluster>` and a rented provider (`runpod`, `vastai`, ...) are written. The store
//! keeps the written form; everything else parses it here.

use ferry_cloud::ProviderKind;
use std::fmt;
use std::str::FromStr;

#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum BackendId {
    /// This host.
    Local,
    /// An owned machine over SSH, by its `[[owned]]` name.
    Ssh { machine: String },
    /// A Slurm cluster, by its name (lower case).
    Slurm { cluster: String },
    /// Machines rented from a provider.
    Rented(ProviderKind),
}

impl BackendId {
    pub fn slurm(cluster: &str) -> BackendId {
        BackendId::Slurm {
            cluster: cluster.to_ascii_lowercase(),
        }
    }

    pub fn ssh(machine: &str) -> BackendId {
        BackendId::Ssh {
            machine: machine.to_string(),
        }
    }

    /// The provider, for a rented backend.
    pub fn rented(&self) -> Option<ProviderKind> {
        match self {
            BackendId::Rented(k) => Some(*k),
            _ => None,
        }
    }
}

impl fmt::Display for BackendId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BackendId::Local => f.write_str("local"),
            BackendId::Ssh { machine } => write!(f, "ssh:{machine}"),
            BackendId::Slurm { cluster } => write!(f, "slurm:{cluster}"),
            BackendId::Rented(k) => f.write_str(k.id()),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "'{0}' is not a backend (local, ssh:<machine>, slurm:<cluster>, or runpod, lambda, vastai, paperspace, aws, gcp, azure)"
)]
pub struct BadBackendId(pub String);

impl FromStr for BackendId {
    type Err = BadBackendId;
    fn from_str(s: &str) -> Result<BackendId, BadBackendId> {
        let bad = || BadBackendId(s.to_string());
        if s == "local" {
            return Ok(BackendId::Local);
        }
        if let Some(k) = ProviderKind::from_id(s) {
            return Ok(BackendId::Rented(k));
        }
        match s.split_once(':') {
            Some(("ssh", m)) if !m.is_empty() => Ok(BackendId::ssh(m)),
            Some(("slurm", c)) if !c.is_empty() => Ok(BackendId::slurm(c)),
            _ => Err(bad()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_round_trip_and_bad_ones_are_refused() {
        for s in [
            "local",
            "ssh:lab-1",
            "slurm:narval",
            "runpod",
            "vastai",
            "aws",
            "gcp",
            "azure",
        ] {
            assert_eq!(s.parse::<BackendId>().unwrap().to_string(), s);
        }
        assert_eq!(BackendId::slurm("Narval").to_string(), "slurm:narval");
        assert_eq!(
            "vastai".parse::<BackendId>().unwrap().rented(),
            Some(ProviderKind::Vastai)
        );
        for bad in ["", "ec2", "ssh:", "slurm", "gpu:x"] {
            assert!(bad.parse::<BackendId>().is_err(), "{bad}");
        }
    }
}
