use ferry_config::{ConfigError, PathsError};
use ferry_task::TaskError;

/// What can go wrong building the backends or placing a task.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Paths(#[from] PathsError),
    #[error(transparent)]
    Task(#[from] TaskError),
    #[error("{what}: {source}")]
    Io {
        what: String,
        source: std::io::Error,
    },
    /// A value in the config, the environment or a flag that cannot be used, said whole.
    #[error("{0}")]
    Invalid(String),
}

impl RegistryError {
    pub fn invalid(what: impl Into<String>) -> RegistryError {
        RegistryError::Invalid(what.into())
    }
}

pub type Result<T, E = RegistryError> = std::result::Result<T, E>;
