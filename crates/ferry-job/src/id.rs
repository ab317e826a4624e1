use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// A job's id: `j-` then 12 base-32 characters of creation time (ms) and 4 of a sequence.
/// Ids sort by creation time, are safe in file names and URLs, and are short enough to type.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct JobId(String);

const ALPHABET: &[u8; 32] = b"0123456789abcdefghjkmnpqrstvwxyz";

fn base32(mut v: u64, width: usize) -> String {
    let mut out = vec![b'0'; width];
    for slot in out.iter_mut().rev() {
        *slot = ALPHABET[(v % 32) as usize];
        v /= 32;
    }
    String::from_utf8(out).expect("ascii")
}

impl JobId {
    /// An id from a creation time (ms since the epoch) and a sequence number that the
    /// caller keeps unique within the same millisecond.
    pub fn new(unix_ms: u64, sequence: u32) -> JobId {
        JobId(format!(
            "j-{}{}",
            base32(unix_ms, 12),
            base32(u64::from(sequence), 4)
        ))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("'{0}' is not a job id (expected j- followed by 16 characters, e.g. j-01jd5k2m9q8r0000)")]
pub struct BadJobId(pub String);

impl FromStr for JobId {
    type Err = BadJobId;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let body = s.strip_prefix("j-").ok_or_else(|| BadJobId(s.into()))?;
        if body.len() == 16 && body.bytes().all(|b| ALPHABET.contains(&b)) {
            Ok(JobId(s.to_string()))
        } else {
            Err(BadJobId(s.into()))
        }
    }
}

impl TryFrom<String> for JobId {
    type Error = BadJobId;
    fn try_from(s: String) -> Result<Self, BadJobId> {
        s.parse()
    }
}

impl From<JobId> for String {
    fn from(id: JobId) -> String {
        id.0
    }
}

impl fmt::Display for JobId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn parses_what_it_makes_and_rejects_the_rest() {
        let id = JobId::new(1_763_900_000_000, 7);
        assert_eq!(id.as_str().len(), 18);
        assert_eq!(id.as_str().parse::<JobId>().unwrap(), id);
        for bad in [
            "",
            "j-",
            "x-0000000000000000",
            "j-000000000000000I",
            "j-00000000000000000",
            "../etc/passwd",
        ] {
            assert!(bad.parse::<JobId>().is_err(), "{bad}");
        }
        assert_eq!(serde_json::to_string(&id).unwrap(), format!("\"{id}\""));
        assert!(serde_json::from_str::<JobId>("\"nope\"").is_err());
    }

    proptest! {
        #[test]
        fn ids_sort_by_time_then_sequence(a in 0u64..(1 << 60), b in 0u64..(1 << 60), s in 0u32..1000, t in 0u32..1000) {
            let (x, y) = (JobId::new(a, s), JobId::new(b, t));
            prop_assert_eq!(x.cmp(&y), (a, s).cmp(&(b, t)));
        }
    }
}
