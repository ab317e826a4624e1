//! Errors that name what was wrong and where.

/// A profile field that is missing, out of range or inconsistent. Displays as
/// `usage.gpu_hours_per_month: must be >= 0`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct ProfileError {
    /// The field's path in the profile (`usage.demand_gpu_hours[3]`, `gpu`).
    pub field: String,
    pub message: String,
}

impl ProfileError {
    pub(crate) fn new(field: impl Into<String>, message: impl Into<String>) -> ProfileError {
        ProfileError {
            field: field.into(),
            message: message.into(),
        }
    }
}

/// Why advice could not be given.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AdviceError {
    #[error(transparent)]
    Profile(#[from] ProfileError),
    /// The catalog has no rate for the profile's currency.
    #[error("currency: the catalog has no exchange rate for '{0}'")]
    NoRate(String),
}
