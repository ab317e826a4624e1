//! RunPod's GraphQL API (needs the user's API key): the `gpuTypes` query gives per-GPU
//! prices for Secure and Community Cloud. See docs/provider-apis.md §4.

use crate::gpu_match;
use crate::json::{Node, parse as parse_json};
use crate::rows::CacheRow;
use crate::runner::{Fetched, Request};
use crate::{Provider, RefreshError};
use ferry_catalog::{Date, GpuTable};

const P: Provider = Provider::Runpod;

pub const QUERY: &str = "query GpuTypes { gpuTypes { id displayName memoryInGb secureCloud communityCloud securePrice communityPrice secureSpotPrice communitySpotPrice } }";

pub async fn fetch(
    http: &reqwest::Client,
    req: &Request,
    observed: Date,
) -> Result<Fetched, RefreshError> {
    let key = req.api_key.as_deref().unwrap_or_default();
    let builder = http
        .post(&req.endpoint)
        .bearer_auth(key)
        .json(&serde_json::json!({ "query": QUERY }));
    let body = super::send(P, builder, |b| graphql_errors(b).err()).await?;
    parse(&body, &req.endpoint, observed)
}

/// Any `errors` member is a failure, even beside partial data.
fn graphql_errors(body: &[u8]) -> Result<(), RefreshError> {
    let Ok(v) = serde_json::from_slice::<serde_json::Value>(body) else {
        return Ok(());
    };
    let Some(errors) = v.get("errors") else {
        return Ok(());
    };
    let first = errors.get(0);
    let message = first
        .and_then(|e| e.get("message"))
        .and_then(|m| m.as_str())
        .unwrap_or("(no message)");
    let path = first
        .and_then(|e| e.get("path"))
        .and_then(|p| p.as_array())
        .map(|p| {
            p.iter()
                .map(|s| s.to_string().trim_matches('"').to_string())
                .collect::<Vec<_>>()
                .join(".")
        })
        .map(|p| format!(" (at {p})"))
        .unwrap_or_default();
    Err(RefreshError::Api {
        provider: P,
        field: "errors".into(),
        message: format!("{message}{path}"),
    })
}

pub fn parse(body: &[u8], endpoint: &str, observed: Date) -> Result<Fetched, RefreshError> {
    let value = parse_json(P, body)?;
    graphql_errors(body)?;
    let root = Node::root(P, &value);
    let table = GpuTable::embedded();
    let mut rows = vec![];
    let mut skipped = 0;
    for t in root.get("data")?.get("gpuTypes")?.array()? {
        let id = t.get("id")?.str()?;
        let display = t
            .opt("displayName")
            .map(|d| d.str())
            .transpose()?
            .unwrap_or("");
        let memory = t.opt("memoryInGb").map(|m| m.f64()).transpose()?;
        let mut offers = vec![];
        for (cloud, flag, price_key, spot_key) in [
            ("secure", "secureCloud", "securePrice", "secureSpotPrice"),
            (
                "community",
                "communityCloud",
                "communityPrice",
                "communitySpotPrice",
            ),
        ] {
            let in_cloud = t.opt(flag).map(|f| f.bool()).transpose()?.unwrap_or(false);
            // A price in a cloud the type is not in may be absent; where it is present it must be well-formed.
            let price = if in_cloud {
                Some(t.get(price_key)?.price()?)
            } else {
                t.opt(price_key).map(|p| p.price()).transpose()?
            };
            let spot = t.opt(spot_key).map(|p| p.price()).transpose()?;
            if let (true, Some(p)) = (in_cloud, price.filter(|p| *p > 0.0)) {
                offers.push((cloud, p, spot.filter(|s| *s > 0.0 && *s <= p)));
            }
        }
        if offers.is_empty() {
            skipped += 1;
            continue;
        }
        let Some(gpu) = gpu_match::resolve(table, &[id, display], memory) else {
            skipped += 1;
            continue;
        };
        for (cloud, price, spot) in offers {
            rows.push(CacheRow {
                provider: P.id().into(),
                category: "gpu-cloud",
                offering: if cloud == "secure" {
                    "Secure Cloud".into()
                } else {
                    "Community Cloud".into()
                },
                region: cloud.into(),
                instance_type: format!("{display} ({cloud})"),
                gpu: table.get(gpu).id.clone(),
                gpu_count: 1,
                gpu_vram_gb: memory,
                vcpus: None,
                ram_gb: None,
                price_hour: Some(price),
                spot_price_hour: spot,
                currency: "USD",
                // "No additional fees for data ingress or egress" (docs.runpod.io/pods/pricing).
                egress_per_gb: Some(0.0),
                billing: "per-second",
                reliability: None,
                queue_wait_h: None,
                pricing: "cash",
                source: format!(
                    "RunPod GraphQL gpuTypes {endpoint} ({}Price per GPU)",
                    cloud
                ),
                as_of: observed,
                notes: "price per GPU; an N-GPU pod costs N times this".into(),
            });
        }
    }
    Ok(Fetched { rows, skipped })
}
