//! What went wrong at a provider, typed so that the scheduler can decide what to do.

use std::time::Duration;

/// The kinds of failure a provider gives, each with its own handling:
///
/// | kind | what Ferry does |
/// |---|---|
/// | `Transient` | retried with backoff (5xx, a dropped connection) |
/// | `RateLimited` | retried after the provider's `Retry-After` |
/// | `NoCapacity`, `Quota`, `PriceAbove` | the next placement in the plan is tried |
/// | `Refused` | the request itself is wrong for this offer: next placement |
/// | `Auth` | reported with the provider's name; never retried in a loop |
/// | `NotFound` | the instance is gone (for terminate: done) |
/// | `Malformed` | the answer did not have the documented shape: names the field |
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ErrorKind {
    Transient,
    RateLimited,
    Refused,
    NoCapacity,
    Quota,
    PriceAbove,
    Auth,
    NotFound,
    Malformed,
}

impl ErrorKind {
    /// A create that failed this way may be tried on the next offer of the plan.
    pub fn fails_over(self) -> bool {
        matches!(
            self,
            ErrorKind::NoCapacity | ErrorKind::Quota | ErrorKind::PriceAbove | ErrorKind::Refused
        )
    }

    /// The same call may work if made again later.
    pub fn is_retryable(self) -> bool {
        matches!(self, ErrorKind::Transient | ErrorKind::RateLimited)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::Transient => "transient",
            ErrorKind::RateLimited => "rate-limited",
            ErrorKind::Refused => "refused",
            ErrorKind::NoCapacity => "no-capacity",
            ErrorKind::Quota => "quota",
            ErrorKind::PriceAbove => "price-above",
            ErrorKind::Auth => "auth",
            ErrorKind::NotFound => "not-found",
            ErrorKind::Malformed => "malformed",
        }
    }
}

impl std::fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A provider's failure: which provider, what kind, and the provider's own words (never
/// the API key).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{provider}: {message}")]
pub struct CloudError {
    pub provider: &'static str,
    pub kind: ErrorKind,
    pub message: String,
    /// How long the provider asked us to wait (`Retry-After`), for `RateLimited`.
    pub retry_after: Option<Duration>,
}

impl CloudError {
    pub fn new(provider: &'static str, kind: ErrorKind, message: impl Into<String>) -> CloudError {
        CloudError {
            provider,
            kind,
            message: message.into(),
            retry_after: None,
        }
    }

    /// The answer lacked the documented shape: `field` is a path like `data.instance_ids[0]`.
    pub fn malformed(provider: &'static str, field: &str, why: impl std::fmt::Display) -> Self {
        CloudError::new(provider, ErrorKind::Malformed, format!("{field}: {why}"))
    }
}
