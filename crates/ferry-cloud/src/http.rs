//! One HTTP client for every provider: bearer authentication, retries with backoff on 5xx,
//! dropped connections and 429 (honouring `Retry-After`), the call counter, and decoding
//! that names the field a malformed answer lacks. The API key never leaves [`ApiKey`]
//! except in the `Authorization` header.

use crate::error::{CloudError, ErrorKind};
use serde::de::DeserializeOwned;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// An API key: shown as `****` by `Debug` and `Display`, never serialized.
#[derive(Clone, PartialEq, Eq)]
pub struct ApiKey(String);

impl ApiKey {
    pub fn new(key: impl Into<String>) -> ApiKey {
        ApiKey(key.into().trim().to_string())
    }

    /// The key itself, for the request header only.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ApiKey(****)")
    }
}

impl std::fmt::Display for ApiKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("****")
    }
}

/// How hard to retry a call that failed transiently.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Tries in all, the first included.
    pub attempts: u32,
    pub first_backoff: Duration,
    pub max_backoff: Duration,
    /// A `Retry-After` longer than this is not waited for: the error goes back to the
    /// caller, which tries again on a later pass.
    pub max_retry_after: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            attempts: 4,
            first_backoff: Duration::from_millis(250),
            max_backoff: Duration::from_secs(4),
            max_retry_after: Duration::from_secs(30),
        }
    }
}

/// A non-2xx answer the generic rules did not settle, for the provider to classify.
#[derive(Debug, Clone)]
pub struct Refusal {
    pub status: u16,
    pub body: String,
}

/// Where a short-lived bearer token comes from (an OAuth token endpoint: Google's for a
/// service account, Microsoft Entra ID's for a service principal). The source caches its
/// token and fetches a new one before it expires; [`Api`] asks it before every request.
#[async_trait::async_trait]
pub trait TokenSource: Send + Sync {
    async fn token(&self) -> Result<ApiKey, CloudError>;
}

/// How a request proves who it is.
enum Auth {
    /// A fixed key as a bearer header (most providers).
    Bearer(ApiKey),
    /// A fixed key as `?api_key=` (RunPod's GraphQL).
    Query(ApiKey),
    /// A token from a [`TokenSource`], as a bearer header.
    Token(std::sync::Arc<dyn TokenSource>),
}

/// A provider's REST API.
pub struct Api {
    provider: &'static str,
    base: String,
    auth: Auth,
    client: reqwest::Client,
    retry: RetryPolicy,
    calls: AtomicU64,
}

impl Api {
    pub fn new(provider: &'static str, base: &str, key: ApiKey) -> Api {
        Api {
            provider,
            base: base.trim_end_matches('/').to_string(),
            auth: Auth::Bearer(key),
            client: reqwest::Client::builder()
                .timeout(Duration::from_secs(60))
                .connect_timeout(Duration::from_secs(10))
                .user_agent(concat!("ferry/", env!("CARGO_PKG_VERSION")))
                .build()
                .expect("an HTTP client"),
            retry: RetryPolicy::default(),
            calls: AtomicU64::new(0),
        }
    }

    /// An API whose bearer token comes from `tokens` (OAuth), asked before each request.
    pub fn with_tokens(
        provider: &'static str,
        base: &str,
        tokens: std::sync::Arc<dyn TokenSource>,
    ) -> Api {
        let mut api = Api::new(provider, base, ApiKey::new(""));
        api.auth = Auth::Token(tokens);
        api
    }

    pub fn with_retry(mut self, retry: RetryPolicy) -> Api {
        self.retry = retry;
        self
    }

    pub fn key_in_query(mut self) -> Api {
        if let Auth::Bearer(k) = self.auth {
            self.auth = Auth::Query(k);
        }
        self
    }

    pub fn provider(&self) -> &'static str {
        self.provider
    }

    pub fn calls(&self) -> u64 {
        self.calls.load(Ordering::Relaxed)
    }

    /// Sends a request and returns the body of a 2xx answer. 401/403 are `Auth`; 5xx,
    /// network failures and 429 are retried; other refusals go to `classify`, whose
    /// `None` leaves the generic reading (404 = `NotFound`, else `Refused`).
    pub async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<&serde_json::Value>,
        classify: &(dyn Fn(&Refusal) -> Option<ErrorKind> + Sync),
    ) -> Result<String, CloudError> {
        self.send_tries(self.retry.attempts, method, path, body, classify)
            .await
    }

    /// `send` tried once, whatever the retry policy: for a call that must not be made twice
    /// blindly (a create whose answer was lost may have made the machine). A 5xx or a
    /// dropped connection comes back as `Transient`, a 429 as `RateLimited` with its
    /// `retry_after`, neither waited for; the caller decides whether to send it again.
    pub async fn send_once(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<&serde_json::Value>,
        classify: &(dyn Fn(&Refusal) -> Option<ErrorKind> + Sync),
    ) -> Result<String, CloudError> {
        self.send_tries(1, method, path, body, classify).await
    }

    /// `send`, then the JSON body as `T`, naming the field that did not fit.
    pub async fn json<T: DeserializeOwned>(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<&serde_json::Value>,
        classify: &(dyn Fn(&Refusal) -> Option<ErrorKind> + Sync),
    ) -> Result<T, CloudError> {
        let text = self.send(method, path, body, classify).await?;
        decode(self.provider, &text)
    }

    /// `send_once`, then the JSON body as `T`, naming the field that did not fit.
    pub async fn json_once<T: DeserializeOwned>(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<&serde_json::Value>,
        classify: &(dyn Fn(&Refusal) -> Option<ErrorKind> + Sync),
    ) -> Result<T, CloudError> {
        let text = self.send_once(method, path, body, classify).await?;
        decode(self.provider, &text)
    }

    /// `send` with at most `attempts` tries in all (at least one).
    async fn send_tries(
        &self,
        attempts: u32,
        method: reqwest::Method,
        path: &str,
        body: Option<&serde_json::Value>,
        classify: &(dyn Fn(&Refusal) -> Option<ErrorKind> + Sync),
    ) -> Result<String, CloudError> {
        let url = format!("{}{}", self.base, path);
        let mut backoff = self.retry.first_backoff;
        let mut tried = 0;
        loop {
            tried += 1;
            let last = tried >= attempts;
            let err = match self.once(&method, &url, body).await {
                Ok((status, text, retry_after)) => {
                    if (200..300).contains(&status) {
                        return Ok(text);
                    }
                    let refusal = Refusal { status, body: text };
                    let e = self.refusal(&refusal, retry_after, classify);
                    if !e.kind.is_retryable() {
                        return Err(e);
                    }
                    e
                }
                // Raised before any answer (a token source refusing the credentials): only
                // a transient failure is worth another try.
                Err(e) if !e.kind.is_retryable() => return Err(e),
                Err(e) => e,
            };
            if last {
                return Err(err);
            }
            let wait = match err.retry_after {
                Some(w) if w > self.retry.max_retry_after => return Err(err),
                Some(w) => w,
                None => backoff,
            };
            tokio::time::sleep(wait).await;
            backoff = (backoff * 2).min(self.retry.max_backoff);
        }
    }

    async fn once(
        &self,
        method: &reqwest::Method,
        url: &str,
        body: Option<&serde_json::Value>,
    ) -> Result<(u16, String, Option<Duration>), CloudError> {
        self.calls.fetch_add(1, Ordering::Relaxed);
        let mut req = self.client.request(method.clone(), url);
        req = match &self.auth {
            Auth::Query(k) => req.query(&[("api_key", k.expose())]),
            Auth::Bearer(k) => req.bearer_auth(k.expose()),
            Auth::Token(source) => req.bearer_auth(source.token().await?.expose()),
        };
        if let Some(b) = body {
            req = req.json(b);
        }
        let resp = req.send().await.map_err(|e| {
            // reqwest's message may carry the URL, and with it a key in the query: drop it.
            CloudError::new(
                self.provider,
                ErrorKind::Transient,
                format!("cannot reach the API at {}: {}", self.base, e.without_url()),
            )
        })?;
        let status = resp.status().as_u16();
        let retry_after = resp
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<f64>().ok())
            .filter(|s| s.is_finite() && *s >= 0.0)
            .map(Duration::from_secs_f64);
        let text = resp.text().await.map_err(|e| {
            CloudError::new(
                self.provider,
                ErrorKind::Transient,
                format!("the answer was cut off: {}", e.without_url()),
            )
        })?;
        Ok((status, text, retry_after))
    }

    fn refusal(
        &self,
        r: &Refusal,
        retry_after: Option<Duration>,
        classify: &(dyn Fn(&Refusal) -> Option<ErrorKind> + Sync),
    ) -> CloudError {
        let words = short(&r.body);
        let kind = match r.status {
            401 => ErrorKind::Auth,
            // Google answers 403 for a quota or a rate limit too: its classifier may say so.
            403 => classify(r)
                .filter(|k| matches!(k, ErrorKind::Quota | ErrorKind::RateLimited))
                .unwrap_or(ErrorKind::Auth),
            429 => ErrorKind::RateLimited,
            500..=599 => ErrorKind::Transient,
            _ => classify(r).unwrap_or(if r.status == 404 {
                ErrorKind::NotFound
            } else {
                ErrorKind::Refused
            }),
        };
        let message = match kind {
            ErrorKind::Auth => match self.auth {
                Auth::Token(_) => format!(
                    "the access token was refused (HTTP {}): check [providers.{}]'s credentials and their roles: {words}",
                    r.status, self.provider
                ),
                _ => format!(
                    "the API key was refused (HTTP {}): check [providers.{}] api_key or its environment variable: {words}",
                    r.status, self.provider
                ),
            },
            ErrorKind::RateLimited => format!("rate limited (HTTP 429): {words}"),
            _ => format!("HTTP {}: {words}", r.status),
        };
        let mut e = CloudError::new(self.provider, kind, message);
        if kind == ErrorKind::RateLimited {
            e.retry_after = Some(retry_after.unwrap_or(Duration::from_secs(1)));
        }
        e
    }
}

/// Decodes a JSON answer, naming the path of the field that did not fit
/// (`runpod: [0].desiredStatus: missing field`).
pub fn decode<T: DeserializeOwned>(provider: &'static str, text: &str) -> Result<T, CloudError> {
    let de = &mut serde_json::Deserializer::from_str(text);
    serde_path_to_error::deserialize(de).map_err(|e| {
        let path = e.path().to_string();
        CloudError::malformed(
            provider,
            if path == "." { "answer" } else { &path },
            e.inner(),
        )
    })
}

/// The first 300 characters of a body, on one line.
fn short(body: &str) -> String {
    let one: String = body.split_whitespace().collect::<Vec<_>>().join(" ");
    if one.chars().count() > 300 {
        format!("{}…", one.chars().take(300).collect::<String>())
    } else if one.is_empty() {
        "(empty answer)".into()
    } else {
        one
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_never_prints() {
        let k = ApiKey::new("sk-very-secret");
        assert_eq!(format!("{k} {k:?}"), "**** ApiKey(****)");
    }

    /// A one-route HTTP server that gives every request the same answer (`status`, with
    /// `Retry-After: 7` on a 429) and counts the requests.
    async fn answering(status: u16) -> (String, std::sync::Arc<AtomicU64>) {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let seen = std::sync::Arc::new(AtomicU64::new(0));
        let counter = seen.clone();
        tokio::spawn(async move {
            while let Ok((mut conn, _)) = listener.accept().await {
                let mut request = vec![];
                let mut buf = [0u8; 1024];
                // The requests here carry no body: the head is the whole request.
                while !request.ends_with(b"\r\n\r\n") {
                    match conn.read(&mut buf).await {
                        Ok(0) | Err(_) => break,
                        Ok(n) => request.extend_from_slice(&buf[..n]),
                    }
                }
                counter.fetch_add(1, Ordering::Relaxed);
                let extra = if status == 429 {
                    "Retry-After: 7\r\n"
                } else {
                    ""
                };
                let answer = format!(
                    "HTTP/1.1 {status} Nope\r\n{extra}Content-Length: 4\r\nConnection: close\r\n\r\nnope"
                );
                let _ = conn.write_all(answer.as_bytes()).await;
            }
        });
        (url, seen)
    }

    fn api(url: &str) -> Api {
        Api::new("test", url, ApiKey::new("k")).with_retry(RetryPolicy {
            attempts: 3,
            first_backoff: Duration::from_millis(1),
            max_backoff: Duration::from_millis(5),
            max_retry_after: Duration::from_secs(30),
        })
    }

    fn no_classify(_: &Refusal) -> Option<ErrorKind> {
        None
    }

    #[tokio::test]
    async fn send_retries_a_503_and_send_once_does_not() {
        let (url, seen) = answering(503).await;
        let api = api(&url);
        let e = api
            .send(reqwest::Method::GET, "/x", None, &no_classify)
            .await
            .unwrap_err();
        assert_eq!(e.kind, ErrorKind::Transient, "{e}");
        assert_eq!(
            seen.load(Ordering::Relaxed),
            3,
            "every attempt of the policy"
        );
        assert_eq!(api.calls(), 3);

        let e = api
            .send_once(reqwest::Method::POST, "/x", None, &no_classify)
            .await
            .unwrap_err();
        assert_eq!(e.kind, ErrorKind::Transient, "{e}");
        assert!(e.to_string().contains("HTTP 503"), "{e}");
        assert_eq!(seen.load(Ordering::Relaxed), 4, "one try, not retried");
        assert_eq!(api.calls(), 4, "counted like any call");

        let e = api
            .json_once::<serde_json::Value>(reqwest::Method::POST, "/x", None, &no_classify)
            .await
            .unwrap_err();
        assert_eq!(e.kind, ErrorKind::Transient, "{e}");
        assert_eq!(seen.load(Ordering::Relaxed), 5);
    }

    #[tokio::test]
    async fn send_once_gives_a_429_back_with_its_retry_after() {
        let (url, seen) = answering(429).await;
        let api = api(&url);
        let started = std::time::Instant::now();
        let e = api
            .send_once(reqwest::Method::POST, "/x", None, &no_classify)
            .await
            .unwrap_err();
        assert_eq!(e.kind, ErrorKind::RateLimited, "{e}");
        assert_eq!(e.retry_after, Some(Duration::from_secs(7)));
        assert!(started.elapsed() < Duration::from_secs(7), "not waited for");
        assert_eq!(seen.load(Ordering::Relaxed), 1);
    }

    #[test]
    fn decoding_names_the_field() {
        #[derive(serde::Deserialize, Debug)]
        #[allow(dead_code)]
        struct Pod {
            id: String,
            cost: f64,
        }
        let e = decode::<Vec<Pod>>("runpod", r#"[{"id":"a","cost":1},{"id":"b"}]"#).unwrap_err();
        assert_eq!(e.kind, ErrorKind::Malformed);
        assert!(e.to_string().starts_with("runpod: [1]"), "{e}");
        assert!(e.to_string().contains("cost"), "{e}");
        let e = decode::<Vec<Pod>>("runpod", "<html>").unwrap_err();
        assert!(e.to_string().starts_with("runpod: answer"), "{e}");
    }
}
