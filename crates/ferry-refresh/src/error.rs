use crate::Provider;

#[derive(Debug, thiserror::Error)]
pub enum RefreshError {
    #[error("{provider}: no API key (set [providers.{provider}] api_key in the config, or {env})")]
    MissingKey { provider: Provider, env: String },
    #[error("{provider}: {field}: {message}")]
    Malformed {
        provider: Provider,
        field: String,
        message: String,
    },
    #[error("{provider}: the API answered with an error: {field}: {message}")]
    Api {
        provider: Provider,
        field: String,
        message: String,
    },
    #[error("{provider}: HTTP {status} from {url}: {body}")]
    Http {
        provider: Provider,
        url: String,
        status: u16,
        body: String,
    },
    #[error("{provider}: cannot reach {url}: {message}")]
    Transport {
        provider: Provider,
        url: String,
        message: String,
    },
    #[error("{provider}: the answer held no offer Ferry can use (kept the previous prices)")]
    Empty { provider: Provider },
    #[error("{provider}: cannot write the cache {path}: {message}")]
    Cache {
        provider: Provider,
        path: String,
        message: String,
    },
}

impl RefreshError {
    pub fn is_missing_key(&self) -> bool {
        matches!(self, RefreshError::MissingKey { .. })
    }

    pub fn malformed(
        provider: Provider,
        field: impl Into<String>,
        message: impl Into<String>,
    ) -> Self {
        RefreshError::Malformed {
            provider,
            field: field.into(),
            message: message.into(),
        }
    }
}
