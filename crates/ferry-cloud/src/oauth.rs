//! OAuth 2.0 access tokens for the hyperscalers' REST APIs: Google's token endpoint for a
//! service account (a signed JWT, RFC 7523) and Microsoft Entra ID's for a service principal
//! (client credentials, RFC 6749 §4.4). Both answer the same shape (`access_token`,
//! `expires_in`, `token_type`), so asking, caching and reading refusals live here once; what
//! each provider sends is its own module's business.
//!
//! A token is kept until [`EARLY_REFRESH`] before it expires, so a request never goes out
//! with a token that dies on the way, and a server that runs for days fetches a new one each
//! hour without a restart.

use crate::error::{CloudError, ErrorKind};
use crate::http::ApiKey;
use serde::Deserialize;
use std::time::{Duration, Instant};

/// How long before its expiry a token is replaced.
pub const EARLY_REFRESH: Duration = Duration::from_secs(120);

/// A token endpoint's success answer (RFC 6749 §5.1).
#[derive(Debug, Clone, Deserialize)]
pub struct TokenAnswer {
    pub access_token: String,
    /// Seconds the token lives; both providers send it (3599 is typical). Absent: an hour.
    #[serde(default = "an_hour")]
    pub expires_in: u64,
}

fn an_hour() -> u64 {
    3600
}

/// A token endpoint's refusal (RFC 6749 §5.2): `invalid_grant`, `invalid_client`, …
#[derive(Debug, Deserialize)]
struct TokenRefusal {
    error: String,
    #[serde(default)]
    error_description: Option<String>,
}

/// The current token, fetched again when it is about to expire.
#[derive(Default)]
pub struct TokenCache {
    current: tokio::sync::Mutex<Option<(ApiKey, Instant)>>,
}

impl TokenCache {
    pub fn new() -> TokenCache {
        TokenCache::default()
    }

    /// The cached token, or a new one from `fetch` when there is none or it expires within
    /// [`EARLY_REFRESH`]. Concurrent callers wait for one fetch.
    pub async fn get<F, Fut>(&self, fetch: F) -> Result<ApiKey, CloudError>
    where
        F: FnOnce() -> Fut,
        Fut: std::future::Future<Output = Result<TokenAnswer, CloudError>>,
    {
        let mut current = self.current.lock().await;
        if let Some((token, expires)) = &*current
            && Instant::now() + EARLY_REFRESH < *expires
        {
            return Ok(token.clone());
        }
        let answer = fetch().await?;
        let token = ApiKey::new(answer.access_token);
        let expires = Instant::now() + Duration::from_secs(answer.expires_in);
        *current = Some((token.clone(), expires));
        Ok(token)
    }

    /// Forgets the token (after the API refused it), so the next request fetches one.
    pub async fn forget(&self) {
        *self.current.lock().await = None;
    }
}

/// `application/x-www-form-urlencoded` of `pairs` (the token request's body).
pub fn form(pairs: &[(&str, &str)]) -> String {
    pairs
        .iter()
        .map(|(k, v)| format!("{}={}", percent(k), percent(v)))
        .collect::<Vec<_>>()
        .join("&")
}

fn percent(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                out.push(b as char)
            }
            b' ' => out.push('+'),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// Posts a form to a token endpoint and reads the token. Network failures and 5xx are
/// tried three times; a refusal (`invalid_client`, a wrong secret, a revoked key) is `Auth`
/// with the endpoint's own words, which say what is wrong (Entra's `AADSTS…` codes).
pub async fn request_token(
    provider: &'static str,
    client: &reqwest::Client,
    url: &str,
    body: String,
) -> Result<TokenAnswer, CloudError> {
    let mut backoff = Duration::from_millis(200);
    let mut tried = 0;
    loop {
        tried += 1;
        let sent = client
            .post(url)
            .header(
                reqwest::header::CONTENT_TYPE,
                "application/x-www-form-urlencoded",
            )
            .body(body.clone())
            .send()
            .await;
        let err = match sent {
            Err(e) => CloudError::new(
                provider,
                ErrorKind::Transient,
                format!("cannot reach the token endpoint {url}: {}", e.without_url()),
            ),
            Ok(resp) => {
                let status = resp.status().as_u16();
                let text = resp.text().await.unwrap_or_default();
                if (200..300).contains(&status) {
                    return crate::http::decode::<TokenAnswer>(provider, &text);
                }
                let e = refusal(provider, url, status, &text);
                if e.kind != ErrorKind::Transient {
                    return Err(e);
                }
                e
            }
        };
        if tried >= 3 {
            return Err(err);
        }
        tokio::time::sleep(backoff).await;
        backoff *= 2;
    }
}

fn refusal(provider: &'static str, url: &str, status: u16, text: &str) -> CloudError {
    if status >= 500 {
        return CloudError::new(
            provider,
            ErrorKind::Transient,
            format!("the token endpoint {url} answered HTTP {status}"),
        );
    }
    let words = match serde_json::from_str::<TokenRefusal>(text) {
        Ok(r) => match r.error_description {
            Some(d) => format!("{}: {}", r.error, d.lines().next().unwrap_or("")),
            None => r.error,
        },
        Err(_) => format!("HTTP {status}"),
    };
    let kind = if status == 429 {
        ErrorKind::RateLimited
    } else {
        ErrorKind::Auth
    };
    CloudError::new(
        provider,
        kind,
        format!(
            "the token endpoint refused the credentials ({words}): check [providers.{provider}]"
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forms_encode_what_urls_cannot_carry() {
        assert_eq!(
            form(&[
                ("grant_type", "urn:ietf:params:oauth:grant-type:jwt-bearer"),
                ("scope", "https://management.azure.com/.default"),
                ("client_secret", "a b+c&d=é"),
            ]),
            "grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Ajwt-bearer\
             &scope=https%3A%2F%2Fmanagement.azure.com%2F.default\
             &client_secret=a+b%2Bc%26d%3D%C3%A9"
        );
    }

    #[test]
    fn refusals_are_auth_with_the_endpoints_words() {
        let e = refusal(
            "azure",
            "http://t",
            401,
            r#"{"error":"invalid_client","error_description":"AADSTS7000215: Invalid client secret provided.\r\nTrace ID: x"}"#,
        );
        assert_eq!(e.kind, ErrorKind::Auth);
        assert!(e.to_string().contains("AADSTS7000215"), "{e}");
        assert!(!e.to_string().contains("Trace ID"), "{e}");
        assert_eq!(refusal("gcp", "u", 503, "").kind, ErrorKind::Transient);
        assert_eq!(refusal("gcp", "u", 400, "<html>").kind, ErrorKind::Auth);
    }

    #[tokio::test]
    async fn a_token_is_reused_until_it_nears_expiry() {
        let cache = TokenCache::new();
        let fetches = std::sync::atomic::AtomicU32::new(0);
        let fetch = |lives: u64| {
            let n = fetches.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            async move {
                Ok(TokenAnswer {
                    access_token: format!("t{n}"),
                    expires_in: lives,
                })
            }
        };
        assert_eq!(cache.get(|| fetch(3600)).await.unwrap().expose(), "t0");
        assert_eq!(cache.get(|| fetch(3600)).await.unwrap().expose(), "t0");
        cache.forget().await;
        // A token that lives less than the early-refresh margin is replaced at once.
        assert_eq!(cache.get(|| fetch(60)).await.unwrap().expose(), "t1");
        assert_eq!(cache.get(|| fetch(3600)).await.unwrap().expose(), "t2");
        assert_eq!(fetches.load(std::sync::atomic::Ordering::Relaxed), 3);
    }
}
