//! Vast.ai's public offer search: `POST /api/v0/bundles/` (no account needed).
//! Prices are per hour for the whole offer; memory in MB; see docs/provider-apis.md §1.

use crate::gpu_match;
use crate::json::{Node, parse as parse_json};
use crate::rows::CacheRow;
use crate::runner::{Fetched, Request};
use crate::{Provider, RefreshError};
use ferry_catalog::{Date, GpuTable};
use serde_json::json;

const P: Provider = Provider::Vastai;

pub async fn fetch(
    http: &reqwest::Client,
    req: &Request,
    observed: Date,
) -> Result<Fetched, RefreshError> {
    // Verified, rentable hosts only: what a careful user would rent (dstack does the same).
    let body = json!({
        "verified": {"eq": true},
        "rentable": {"eq": true},
        "rented": {"eq": false},
        "num_gpus": {"gte": 1},
        "type": "on-demand",
        "allocated_storage": 5,
        "order": [["score", "desc"]],
        "limit": 1000
    });
    let builder = http.post(&req.endpoint).json(&body);
    let bytes = super::send(P, builder, explain).await?;
    parse(&bytes, &req.endpoint, observed)
}

/// Vast's error body: `{"success": false, "error": "...", "msg": "..."}`.
fn explain(body: &[u8]) -> Option<RefreshError> {
    let v: serde_json::Value = serde_json::from_slice(body).ok()?;
    let code = v.get("error")?.as_str()?;
    let msg = v
        .get("msg")
        .or(v.get("message"))
        .and_then(|m| m.as_str())
        .unwrap_or("");
    Some(RefreshError::Api {
        provider: P,
        field: "error".into(),
        message: format!("{code}: {msg}"),
    })
}

pub fn parse(body: &[u8], endpoint: &str, observed: Date) -> Result<Fetched, RefreshError> {
    let value = parse_json(P, body)?;
    if value.get("offers").is_none()
        && let Some(e) = explain(body)
    {
        return Err(e);
    }
    let root = Node::root(P, &value);
    let table = GpuTable::embedded();
    let mut rows = vec![];
    let mut skipped = 0;
    for offer in root.get("offers")?.array()? {
        if offer.opt("rentable").map(|r| r.bool()).transpose()? == Some(false) {
            skipped += 1;
            continue;
        }
        let num_gpus = offer.get("num_gpus")?.f64()?;
        let Some(gpu_name) = offer.opt("gpu_name").map(|n| n.str()).transpose()? else {
            skipped += 1;
            continue;
        };
        let gpu_ram_mb = offer.get("gpu_ram")?.f64()?;
        let price = offer.get("dph_base")?.price()?;
        let spot = offer
            .opt("min_bid")
            .map(|b| b.price())
            .transpose()?
            .filter(|b| *b > 0.0 && *b <= price);
        if num_gpus < 1.0 || price == 0.0 {
            skipped += 1;
            continue;
        }
        let memory_gb = gpu_ram_mb / 1024.0;
        let Some(gpu) = gpu_match::resolve(
            table,
            &[gpu_name, &gpu_name.replace("Tesla ", "")],
            Some(memory_gb),
        ) else {
            skipped += 1;
            continue;
        };
        let id = match offer.get("id")?.value {
            serde_json::Value::Number(n) => n.to_string(),
            serde_json::Value::String(s) => s.clone(),
            _ => return Err(offer.get("id")?.err("expected a number or string")),
        };
        let num = |k: &str| offer.opt(k).and_then(|n| n.f64().ok()).filter(|v| *v > 0.0);
        let cores_eff = num("cpu_cores_effective");
        // cpu_ram is the whole machine's (MB); the offer gets its share of the cores' RAM.
        let ram_gb = match (num("cpu_ram"), cores_eff, num("cpu_cores")) {
            (Some(ram), Some(eff), Some(all)) => Some(ram * eff / all / 1000.0),
            _ => None,
        };
        let region = offer
            .opt("geolocation")
            .and_then(|g| g.str().ok())
            .and_then(|g| g.rsplit(',').next())
            .map(|cc| cc.trim().to_string())
            .unwrap_or_default();
        let verified = offer
            .opt("verified")
            .and_then(|v| v.bool().ok())
            .unwrap_or(false);
        rows.push(CacheRow {
            provider: P.id().into(),
            category: "decentralized",
            offering: if verified {
                "verified host".into()
            } else {
                "unverified host".into()
            },
            region,
            instance_type: format!("offer {id}"),
            gpu: table.get(gpu).id.clone(),
            gpu_count: num_gpus as u32,
            gpu_vram_gb: Some((memory_gb * 10.0).round() / 10.0),
            vcpus: cores_eff,
            ram_gb: ram_gb.map(|r| (r * 10.0).round() / 10.0),
            price_hour: Some(price),
            spot_price_hour: spot,
            currency: "USD",
            egress_per_gb: offer
                .opt("inet_up_cost")
                .and_then(|c| c.f64().ok())
                .filter(|c| *c >= 0.0),
            billing: "per-second",
            reliability: offer
                .opt("reliability2")
                .and_then(|r| r.f64().ok())
                .filter(|r| (0.0..=1.0).contains(r)),
            queue_wait_h: None,
            pricing: "cash",
            source: format!("Vast.ai offer search {endpoint} (dph_base; spot = min_bid)"),
            as_of: observed,
            notes: "live marketplace offer; host sets its own price and may change it".into(),
        });
    }
    Ok(Fetched { rows, skipped })
}
