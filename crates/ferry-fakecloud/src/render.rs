//! What every provider module answers alike: the gate's refusals (the status and the
//! `Retry-After` are the same everywhere, the body is the provider's own) and the proxy page
//! of a create whose answer was "lost".

use crate::admin::request_key;
use crate::world::{Gate, World};
use axum::Json;
use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use serde_json::Value;

/// Counts the request, checks its key (`Authorization: Bearer` or `?api_key=`), fires the
/// 5xx and 429 faults: the refusal to answer, if any. `body` renders the refusal in the
/// provider's error shape; the status is 401, 503 or 429, the last with `Retry-After`.
pub fn refused(
    w: &mut World,
    provider: &str,
    headers: &HeaderMap,
    uri: &Uri,
    body: impl FnOnce(&Gate) -> Value,
) -> Option<Response> {
    let key = request_key(headers, uri.query());
    let gate = w.gate(provider, key.as_deref()).err()?;
    let status = match gate {
        Gate::Unauthorized => StatusCode::UNAUTHORIZED,
        Gate::ServerError => StatusCode::SERVICE_UNAVAILABLE,
        Gate::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
    };
    let mut r = (status, Json(body(&gate))).into_response();
    if let Gate::RateLimited { retry_after_s } = gate {
        r.headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(retry_after_s));
    }
    Some(r)
}

/// The answer to a create whose answer was "lost": the instance was made, and a proxy in
/// front of the API gives its 502 page instead of the provider's JSON.
pub fn answer_lost() -> Response {
    (
        StatusCode::BAD_GATEWAY,
        [(header::CONTENT_TYPE, "text/html")],
        "<html><head><title>502 Bad Gateway</title></head>\
         <body><center><h1>502 Bad Gateway</h1></center></body></html>",
    )
        .into_response()
}
