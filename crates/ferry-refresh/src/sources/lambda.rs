//! Lambda Cloud's instance types (needs the user's API key): whole-instance prices in US
//! cents per hour and the regions with capacity now. See docs/provider-apis.md §5.

use crate::gpu_match;
use crate::json::{Node, parse as parse_json};
use crate::rows::CacheRow;
use crate::runner::{Fetched, Request};
use crate::{Provider, RefreshError};
use ferry_catalog::{Date, GpuTable};

const P: Provider = Provider::Lambda;

pub async fn fetch(
    http: &reqwest::Client,
    req: &Request,
    observed: Date,
) -> Result<Fetched, RefreshError> {
    let key = req.api_key.as_deref().unwrap_or_default();
    let body = super::send(P, http.get(&req.endpoint).bearer_auth(key), explain).await?;
    parse(&body, &req.endpoint, observed)
}

/// Lambda's error body: `{"error": {"code", "message", "suggestion"}}`.
fn explain(body: &[u8]) -> Option<RefreshError> {
    let v: serde_json::Value = serde_json::from_slice(body).ok()?;
    let e = v.get("error")?;
    let code = e
        .get("code")
        .and_then(|c| c.as_str())
        .unwrap_or("(no code)");
    let message = e.get("message").and_then(|c| c.as_str()).unwrap_or("");
    let suggestion = e
        .get("suggestion")
        .and_then(|c| c.as_str())
        .map(|s| format!(" ({s})"))
        .unwrap_or_default();
    Some(RefreshError::Api {
        provider: P,
        field: "error.code".into(),
        message: format!("{code}: {message}{suggestion}"),
    })
}

/// "H100 (80 GB SXM5)" → ("H100", Some(80.0), "SXM5").
fn split_description(d: &str) -> (&str, Option<f64>, &str) {
    let Some((name, rest)) = d.split_once('(') else {
        return (d.trim(), None, "");
    };
    let inner = rest.trim_end_matches(')').trim();
    let mut words = inner.split_whitespace();
    let mem = words.next().and_then(|n| n.parse::<f64>().ok());
    let form = if mem.is_some() && words.next().is_some_and(|u| u.eq_ignore_ascii_case("GB")) {
        words.next().unwrap_or("")
    } else {
        ""
    };
    (name.trim(), mem, form)
}

pub fn parse(body: &[u8], endpoint: &str, observed: Date) -> Result<Fetched, RefreshError> {
    let value = parse_json(P, body)?;
    if value.get("data").is_none()
        && let Some(e) = explain(body)
    {
        return Err(e);
    }
    let root = Node::root(P, &value);
    let table = GpuTable::embedded();
    let mut rows = vec![];
    let mut skipped = 0;
    let mut types = root.get("data")?.entries()?;
    types.sort_by_key(|(name, _)| *name);
    for (name, entry) in types {
        let it = entry.get("instance_type")?;
        let cents = it.get("price_cents_per_hour")?.price()?;
        let specs = it.get("specs")?;
        let gpus = specs.get("gpus")?.f64()?;
        if gpus < 1.0 || cents == 0.0 {
            skipped += 1;
            continue;
        }
        let desc = it
            .opt("gpu_description")
            .map(|d| d.str())
            .transpose()?
            .unwrap_or("");
        let (gpu_name, memory, form) = split_description(desc);
        let with_form = format!("{gpu_name} {form}");
        let Some(gpu) = gpu_match::resolve(table, &[&with_form, gpu_name], memory) else {
            skipped += 1;
            continue;
        };
        let regions: Vec<String> = match it
            .opt("regions_with_capacity_available")
            .or_else(|| entry.opt("regions_with_capacity_available"))
        {
            None => vec![],
            Some(list) => list
                .array()?
                .iter()
                .map(|r| r.get("name").and_then(|n| n.str().map(str::to_string)))
                .collect::<Result<_, _>>()?,
        };
        let num = |k: &str| specs.opt(k).and_then(|v| v.f64().ok()).filter(|v| *v > 0.0);
        let base = CacheRow {
            provider: P.id().into(),
            category: "gpu-cloud",
            offering: "On-demand".into(),
            region: String::new(),
            instance_type: name.to_string(),
            gpu: table.get(gpu).id.clone(),
            gpu_count: gpus as u32,
            gpu_vram_gb: memory,
            vcpus: num("vcpus"),
            ram_gb: num("memory_gib").map(|g| (g * 1.073_741_824 * 10.0).round() / 10.0),
            price_hour: Some(cents / 100.0),
            spot_price_hour: None,
            currency: "USD",
            // "No egress fees" (lambda.ai/instances).
            egress_per_gb: Some(0.0),
            billing: "per-minute",
            reliability: None,
            queue_wait_h: None,
            pricing: "cash",
            source: format!("Lambda Cloud API {endpoint} (price_cents_per_hour)"),
            as_of: observed,
            notes: String::new(),
        };
        if regions.is_empty() {
            rows.push(CacheRow {
                notes: "no region had capacity when fetched".into(),
                ..base
            });
        } else {
            for r in regions {
                rows.push(CacheRow {
                    region: r,
                    notes: "capacity available when fetched".into(),
                    ..base.clone()
                });
            }
        }
    }
    Ok(Fetched { rows, skipped })
}

#[cfg(test)]
mod tests {
    use super::split_description;

    #[test]
    fn descriptions() {
        assert_eq!(
            split_description("H100 (80 GB SXM5)"),
            ("H100", Some(80.0), "SXM5")
        );
        assert_eq!(
            split_description("A10 (24 GB PCIe)"),
            ("A10", Some(24.0), "PCIe")
        );
        assert_eq!(
            split_description("GH200 (96 GB)"),
            ("GH200", Some(96.0), "")
        );
        assert_eq!(split_description("weird"), ("weird", None, ""));
    }
}
