//! One module per price source: `fetch` does the HTTP, `parse` (pure) turns the answer
//! into rows and is what the fixture tests exercise most.

pub mod aws;
pub mod azure;
pub mod lambda;
pub mod runpod;
pub mod vastai;

use crate::runner::{Fetched, Request};
use crate::{Provider, RefreshError};
use ferry_catalog::Date;

pub async fn fetch(
    http: &reqwest::Client,
    req: &Request,
    observed: Date,
    progress: &(dyn Fn(String) + Sync),
) -> Result<Fetched, RefreshError> {
    match req.provider {
        Provider::Vastai => vastai::fetch(http, req, observed).await,
        Provider::Aws => aws::fetch(http, req, observed, progress).await,
        Provider::Azure => azure::fetch(http, req, observed, progress).await,
        Provider::Runpod => runpod::fetch(http, req, observed).await,
        Provider::Lambda => lambda::fetch(http, req, observed).await,
    }
}

/// Sends a request and returns the body of a 2xx answer. A non-2xx answer whose body the
/// source can explain (`explain`) becomes that error; otherwise an HTTP error with the
/// start of the body.
pub(crate) async fn send(
    provider: Provider,
    builder: reqwest::RequestBuilder,
    explain: impl Fn(&[u8]) -> Option<RefreshError>,
) -> Result<Vec<u8>, RefreshError> {
    let (client, request) = builder.build_split();
    let request = request.map_err(|e| RefreshError::Transport {
        provider,
        url: String::new(),
        message: e.to_string(),
    })?;
    let url = redact(request.url());
    let response = client
        .execute(request)
        .await
        .map_err(|e| RefreshError::Transport {
            provider,
            url: url.clone(),
            message: error_chain(&e),
        })?;
    let status = response.status();
    let body = response
        .bytes()
        .await
        .map_err(|e| RefreshError::Transport {
            provider,
            url: url.clone(),
            message: error_chain(&e),
        })?;
    if status.is_success() {
        return Ok(body.to_vec());
    }
    if let Some(e) = explain(&body) {
        return Err(e);
    }
    let text = String::from_utf8_lossy(&body);
    Err(RefreshError::Http {
        provider,
        url,
        status: status.as_u16(),
        body: text
            .chars()
            .take(200)
            .collect::<String>()
            .trim()
            .to_string(),
    })
}

/// A URL fit for an error message: no API key in it.
fn redact(url: &reqwest::Url) -> String {
    let mut u = url.clone();
    let pairs: Vec<(String, String)> = u
        .query_pairs()
        .map(|(k, v)| {
            let v = if k.contains("key") || k.contains("token") {
                "****".to_string()
            } else {
                v.into_owned()
            };
            (k.into_owned(), v)
        })
        .collect();
    if !pairs.is_empty() {
        u.query_pairs_mut().clear().extend_pairs(pairs);
    }
    u.to_string()
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        s.push_str(": ");
        s.push_str(&c.to_string());
        cur = c.source();
    }
    s
}
