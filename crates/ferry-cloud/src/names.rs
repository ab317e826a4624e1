//! Ferry's mark on a rented instance: its name (or label) `ferry-<install>-<job>-a<attempt>`.
//!
//! Providers differ in what they let a client attach to an instance (AWS has tags, RunPod
//! and Lambda only a name, Vast.ai a label), but every one of them has a name that comes
//! back in its listing. The name carries the job and the attempt, so that a create whose
//! answer was lost is found again by listing instead of being made twice; and the install
//! id, so that two Ferry installs sharing one account never sweep each other's machines.
//! An instance whose name does not parse as a lease name is not Ferry's and is never touched.

use ferry_job::JobId;
use std::fmt;

/// The most characters a name may have: RunPod accepts 60 (dstack's measurement).
pub const MAX_NAME_LEN: usize = 60;

#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct LeaseName {
    /// Eight lowercase hex digits, made once per Ferry data folder.
    pub install: String,
    pub job: JobId,
    /// 1 for the first attempt.
    pub attempt: u32,
}

impl LeaseName {
    pub fn new(install: &str, job: &JobId, attempt: u32) -> LeaseName {
        LeaseName {
            install: install.to_string(),
            job: job.clone(),
            attempt,
        }
    }

    /// Reads a name back; `None` for anything that is not a lease name (not Ferry's).
    pub fn parse(name: &str) -> Option<LeaseName> {
        let rest = name.strip_prefix("ferry-")?;
        let (install, rest) = rest.split_once('-')?;
        if install.len() != 8 || !install.bytes().all(|b| b.is_ascii_hexdigit()) {
            return None;
        }
        let (job, attempt) = rest.rsplit_once("-a")?;
        let job: JobId = job.parse().ok()?;
        let attempt: u32 = attempt.parse().ok().filter(|a| *a >= 1)?;
        if attempt.to_string().len() != rest.len() - job.as_str().len() - 2 {
            return None; // leading zeros or signs: not a name Ferry wrote
        }
        Some(LeaseName {
            install: install.to_string(),
            job,
            attempt,
        })
    }
}

impl fmt::Display for LeaseName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ferry-{}-{}-a{}", self.install, self.job, self.attempt)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn only_ferrys_names_parse() {
        let job = JobId::new(1_700_000_000_000, 3);
        let n = LeaseName::new("0a1b2c3d", &job, 2);
        let s = n.to_string();
        assert!(s.len() <= MAX_NAME_LEN, "{s}");
        assert_eq!(LeaseName::parse(&s), Some(n));
        for not_ours in [
            "my-training-box",
            "ferry-",
            "ferry-0a1b2c3d-j-00000000000000a1",
            "ferry-0a1b2c3d-j-00000000000000a1-a0",
            "ferry-0a1b2c3d-j-00000000000000a1-a01",
            "ferry-XYZ-j-00000000000000a1-a1",
            "ferry-0a1b2c3d-notajob-a1",
        ] {
            assert_eq!(LeaseName::parse(not_ours), None, "{not_ours}");
        }
    }

    proptest! {
        #[test]
        fn names_round_trip(ms in 0u64..(1u64 << 50), seq in 0u32..(1 << 20), attempt in 1u32..10_000, install in "[0-9a-f]{8}") {
            let n = LeaseName::new(&install, &JobId::new(ms, seq), attempt);
            prop_assert_eq!(LeaseName::parse(&n.to_string()), Some(n));
        }
    }
}
