//! The Azure Retail Prices API (no account needed): `GET /api/retail/prices` with an
//! OData filter, paged by `NextPageLink`. The API has no GPU information, so VM sizes map
//! to GPUs here. See docs/provider-apis.md §3.

use crate::json::{Node, parse as parse_json};
use crate::rows::CacheRow;
use crate::runner::{Fetched, Request};
use crate::{Provider, RefreshError};
use ferry_catalog::Date;
use std::collections::BTreeMap;

const P: Provider = Provider::Azure;
/// A guard against a server that pages forever.
const MAX_PAGES: usize = 200;

/// VM size → (catalog GPU id, GPUs, per-GPU GB), from Azure's size documentation
/// (learn.microsoft.com/azure/virtual-machines/sizes, GPU-accelerated families).
/// Sizes with a fraction of a GPU (NV*ads_A10_v5 below 36) are left out.
const SIZES: &[(&str, &str, u32, f64)] = &[
    ("Standard_NC24ads_A100_v4", "A100-80GB-PCIe", 1, 80.0),
    ("Standard_NC48ads_A100_v4", "A100-80GB-PCIe", 2, 80.0),
    ("Standard_NC96ads_A100_v4", "A100-80GB-PCIe", 4, 80.0),
    ("Standard_ND96asr_v4", "A100-40GB-SXM", 8, 40.0),
    ("Standard_ND96amsr_A100_v4", "A100-80GB-SXM", 8, 80.0),
    ("Standard_ND96isr_H100_v5", "H100-SXM", 8, 80.0),
    ("Standard_ND96isr_H200_v5", "H200", 8, 141.0),
    ("Standard_NC40ads_H100_v5", "H100-NVL", 1, 94.0),
    ("Standard_NC80adis_H100_v5", "H100-NVL", 2, 94.0),
    ("Standard_NC4as_T4_v3", "T4", 1, 16.0),
    ("Standard_NC8as_T4_v3", "T4", 1, 16.0),
    ("Standard_NC16as_T4_v3", "T4", 1, 16.0),
    ("Standard_NC64as_T4_v3", "T4", 4, 16.0),
    ("Standard_NV36ads_A10_v5", "A10", 1, 24.0),
    ("Standard_NV72ads_A10_v5", "A10", 2, 24.0),
];

pub async fn fetch(
    http: &reqwest::Client,
    req: &Request,
    observed: Date,
    progress: &(dyn Fn(String) + Sync),
) -> Result<Fetched, RefreshError> {
    let regions = req.regions();
    let base = req.endpoint.trim_end_matches('/');
    let mut items: Vec<serde_json::Value> = vec![];
    for region in &regions {
        let filter = format!(
            "serviceName eq 'Virtual Machines' and armRegionName eq '{region}' and (startswith(armSkuName,'Standard_NC') or startswith(armSkuName,'Standard_ND') or startswith(armSkuName,'Standard_NV'))"
        );
        let mut url = reqwest::Url::parse(&format!("{base}/api/retail/prices"))
            .map_err(|e| RefreshError::malformed(P, "endpoint", e.to_string()))?;
        url.query_pairs_mut()
            .append_pair("api-version", "2023-01-01-preview")
            .append_pair("$filter", &filter);
        let mut next = Some(url.to_string());
        let mut page = 0;
        while let Some(u) = next.take() {
            page += 1;
            if page > MAX_PAGES {
                return Err(RefreshError::malformed(
                    P,
                    "NextPageLink",
                    format!("more than {MAX_PAGES} pages; stopping"),
                ));
            }
            progress(format!("{region}: page {page}…"));
            let body = super::send(P, http.get(&u), |_| None).await?;
            let (page_items, link) = parse_page(&body, items.len())?;
            items.extend(page_items);
            next = link;
        }
    }
    to_rows(&items, base, observed)
}

/// One page: its items and the next page's link. `offset` numbers items across pages.
pub fn parse_page(
    body: &[u8],
    offset: usize,
) -> Result<(Vec<serde_json::Value>, Option<String>), RefreshError> {
    let value = parse_json(P, body)?;
    let root = Node::root(P, &value);
    let list = root.get("Items")?.array()?;
    // Check types here so errors name the item on its page (Items[i]).
    for item in &list {
        check_item(item)?;
    }
    let _ = offset;
    let next = root
        .opt("NextPageLink")
        .map(|l| l.str().map(str::to_string))
        .transpose()?
        .filter(|l| !l.is_empty());
    let items = match value {
        serde_json::Value::Object(mut m) => match m.remove("Items") {
            Some(serde_json::Value::Array(a)) => a,
            _ => vec![],
        },
        _ => vec![],
    };
    Ok((items, next))
}

fn check_item(item: &Node) -> Result<(), RefreshError> {
    match item.opt("retailPrice").or_else(|| item.opt("unitPrice")) {
        None => {
            return Err(item
                .get("retailPrice")
                .err()
                .unwrap_or_else(|| item.err("retailPrice: missing")));
        }
        Some(p) => {
            p.price()?;
        }
    }
    for key in ["armSkuName", "armRegionName", "type"] {
        if let Some(n) = item.opt(key) {
            n.str()?;
        }
    }
    Ok(())
}

#[derive(Default)]
struct Prices {
    on_demand: Option<f64>,
    spot: Option<f64>,
}

pub fn to_rows(
    items: &[serde_json::Value],
    base: &str,
    observed: Date,
) -> Result<Fetched, RefreshError> {
    let mut by_vm: BTreeMap<(String, String), Prices> = BTreeMap::new();
    let mut skipped = 0;
    for v in items {
        let s = |k: &str| v.get(k).and_then(|x| x.as_str()).unwrap_or("");
        let price = v
            .get("retailPrice")
            .or(v.get("unitPrice"))
            .and_then(|p| p.as_f64())
            .unwrap_or(0.0);
        let sku = s("armSkuName");
        let is_windows =
            s("productName").contains(" Windows") || s("productName").ends_with(" Win");
        let low_priority =
            s("skuName").contains("Low Priority") || s("meterName").contains("Low Priority");
        let spot = s("skuName").contains("Spot") || s("meterName").contains("Spot");
        let hourly = s("unitOfMeasure").is_empty() || s("unitOfMeasure") == "1 Hour";
        if s("type") != "Consumption" || is_windows || low_priority || !hourly || price <= 0.0 {
            skipped += 1;
            continue;
        }
        if !SIZES.iter().any(|(name, ..)| *name == sku) {
            skipped += 1;
            continue;
        }
        let e = by_vm
            .entry((sku.to_string(), s("armRegionName").to_string()))
            .or_default();
        if spot {
            e.spot = Some(price);
        } else {
            e.on_demand = Some(price);
        }
    }
    let mut rows = vec![];
    for ((sku, region), p) in by_vm {
        let (_, gpu, count, vram) = SIZES
            .iter()
            .find(|(n, ..)| *n == sku)
            .expect("filtered above");
        // Spot must not exceed on-demand; a spot-only VM keeps its spot price alone.
        let spot = p.spot.filter(|s| p.on_demand.is_none_or(|o| *s <= o));
        rows.push(CacheRow {
            provider: P.id().into(),
            category: "hyperscaler",
            offering: sku.trim_start_matches("Standard_").split('_').next().unwrap_or("").to_string(),
            region,
            instance_type: sku.clone(),
            gpu: gpu.to_string(),
            gpu_count: *count,
            gpu_vram_gb: Some(*vram),
            vcpus: None,
            ram_gb: None,
            price_hour: p.on_demand,
            spot_price_hour: spot,
            currency: "USD",
            // First 10 TB/month to the internet (azure.microsoft.com/pricing/details/bandwidth).
            egress_per_gb: Some(0.087),
            billing: "per-minute",
            reliability: None,
            queue_wait_h: None,
            pricing: "cash",
            source: format!("Azure Retail Prices API {base}/api/retail/prices (Linux, Consumption; spot from the ' Spot' meter)"),
            as_of: observed,
            notes: "pay-as-you-go list price".into(),
        });
    }
    Ok(Fetched { rows, skipped })
}
