//! AWS's public EC2 price list: one JSON offer file per region (no account needed).
//! The list does not name the GPU, so instance families map to GPUs here.
//! See docs/provider-apis.md §2.
//!
//! The regional files run to hundreds of MB, so the answer is deserialised straight into
//! the few fields used (never a JSON tree), with the failing field's path kept.

use crate::rows::CacheRow;
use crate::runner::{Fetched, Request};
use crate::{Provider, RefreshError};
use ferry_catalog::Date;
use serde::Deserialize;
use std::collections::HashMap;

const P: Provider = Provider::Aws;

/// Instance family → (catalog GPU id, per-GPU GB). Families whose GPU is not in the
/// catalog (g5g's T4G) or is a fraction of one (g6f) are left out, and so skipped.
/// Sources: aws.amazon.com/ec2/instance-types/ (accelerated computing).
const FAMILIES: &[(&str, &str, f64)] = &[
    ("p5", "H100-SXM", 80.0),
    ("p5e", "H200", 141.0),
    ("p5en", "H200", 141.0),
    ("p4d", "A100-40GB-SXM", 40.0),
    ("p4de", "A100-80GB-SXM", 80.0),
    ("p3", "V100-16GB", 16.0),
    ("p3dn", "V100-32GB", 32.0),
    ("g5", "A10G", 24.0),
    ("g6", "L4", 24.0),
    ("g6e", "L40S", 48.0),
    ("g4dn", "T4", 16.0),
    ("p6-b200", "B200", 180.0),
];

#[derive(Deserialize)]
struct PriceList {
    products: HashMap<String, Product>,
    terms: Terms,
}

#[derive(Deserialize)]
struct Product {
    #[serde(rename = "productFamily")]
    product_family: Option<String>,
    attributes: Attributes,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Attributes {
    instance_type: Option<String>,
    region_code: Option<String>,
    gpu: Option<String>,
    vcpu: Option<String>,
    memory: Option<String>,
    operating_system: Option<String>,
    tenancy: Option<String>,
    pre_installed_sw: Option<String>,
    #[serde(rename = "capacitystatus")]
    capacity_status: Option<String>,
    license_model: Option<String>,
    #[serde(rename = "marketoption")]
    market_option: Option<String>,
}

#[derive(Deserialize)]
struct Terms {
    #[serde(rename = "OnDemand", default)]
    on_demand: HashMap<String, HashMap<String, Term>>,
}

#[derive(Deserialize)]
struct Term {
    #[serde(rename = "priceDimensions")]
    price_dimensions: HashMap<String, Dimension>,
}

#[derive(Deserialize)]
struct Dimension {
    unit: String,
    #[serde(rename = "pricePerUnit")]
    price_per_unit: PricePerUnit,
}

#[derive(Deserialize)]
struct PricePerUnit {
    #[serde(rename = "USD")]
    usd: String,
}

pub async fn fetch(
    http: &reqwest::Client,
    req: &Request,
    observed: Date,
    progress: &(dyn Fn(String) + Sync),
) -> Result<Fetched, RefreshError> {
    let regions = req.regions();
    let mut all = Fetched {
        rows: vec![],
        skipped: 0,
    };
    for (i, region) in regions.iter().enumerate() {
        progress(format!("region {region} ({}/{})…", i + 1, regions.len()));
        let url = format!(
            "{}/offers/v1.0/aws/AmazonEC2/current/{region}/index.json",
            req.endpoint.trim_end_matches('/')
        );
        let body = super::send(P, http.get(&url), |_| None).await?;
        let f = parse(&body, &url, observed)?;
        all.rows.extend(f.rows);
        all.skipped += f.skipped;
    }
    Ok(all)
}

fn family(instance_type: &str) -> Option<(&'static str, f64)> {
    // "p6-b200.48xlarge" → "p6-b200"; "g5.xlarge" → "g5".
    let fam = instance_type.split('.').next()?;
    FAMILIES
        .iter()
        .find(|(f, _, _)| *f == fam)
        .map(|(_, g, m)| (*g, *m))
}

pub fn parse(body: &[u8], url: &str, observed: Date) -> Result<Fetched, RefreshError> {
    let de = &mut serde_json::Deserializer::from_slice(body);
    let list: PriceList = serde_path_to_error::deserialize(de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        let field = if inner.is_syntax() || inner.is_eof() {
            "(the answer)".to_string()
        } else if path == "." {
            "(top level)".to_string()
        } else {
            path
        };
        let msg = if inner.is_syntax() || inner.is_eof() {
            format!("not valid JSON: {inner}")
        } else {
            inner.to_string()
        };
        RefreshError::malformed(P, field, msg)
    })?;

    let mut rows = vec![];
    let mut skipped = 0;
    let mut skus: Vec<&String> = list.products.keys().collect();
    skus.sort();
    for sku in skus {
        let product = &list.products[sku];
        let a = &product.attributes;
        let is = |v: &Option<String>, want: &str| v.as_deref() == Some(want);
        let plain_linux_on_demand = product.product_family.as_deref() == Some("Compute Instance")
            && is(&a.operating_system, "Linux")
            && is(&a.tenancy, "Shared")
            && is(&a.pre_installed_sw, "NA")
            && is(&a.capacity_status, "Used")
            && is(&a.license_model, "No License required")
            && a.market_option.as_deref().is_none_or(|m| m == "OnDemand");
        let Some(instance_type) = a.instance_type.as_deref() else {
            continue;
        };
        let gpus: u32 = a
            .gpu
            .as_deref()
            .and_then(|g| g.trim().parse().ok())
            .unwrap_or(0);
        if !plain_linux_on_demand || gpus == 0 {
            skipped += usize::from(gpus > 0);
            continue;
        }
        let Some((gpu, vram)) = family(instance_type) else {
            skipped += 1;
            continue;
        };
        let Some(terms) = list.terms.on_demand.get(sku) else {
            skipped += 1;
            continue;
        };
        let mut price = None;
        for (term_code, term) in terms {
            for (rate_code, dim) in &term.price_dimensions {
                if dim.unit != "Hrs" {
                    continue;
                }
                let field = format!(
                    "terms.OnDemand.{sku}.{term_code}.priceDimensions.{rate_code}.pricePerUnit.USD"
                );
                let v: f64 = dim.price_per_unit.usd.trim().parse().map_err(|_| {
                    RefreshError::malformed(
                        P,
                        &field,
                        format!("'{}' is not a decimal price", dim.price_per_unit.usd),
                    )
                })?;
                if !(v >= 0.0 && v.is_finite()) {
                    return Err(RefreshError::malformed(
                        P,
                        &field,
                        format!("negative price {v}"),
                    ));
                }
                price = Some(v);
            }
        }
        let Some(price) = price.filter(|p| *p > 0.0) else {
            skipped += 1;
            continue;
        };
        let number = |s: &Option<String>| {
            s.as_deref()
                .and_then(|s| s.split_whitespace().next())
                .and_then(|n| n.replace(',', "").parse::<f64>().ok())
        };
        rows.push(CacheRow {
            provider: P.id().into(),
            category: "hyperscaler",
            offering: format!(
                "EC2 {}",
                instance_type.split('.').next().unwrap_or("").to_uppercase()
            ),
            region: a.region_code.clone().unwrap_or_default(),
            instance_type: instance_type.to_string(),
            gpu: gpu.to_string(),
            gpu_count: gpus,
            gpu_vram_gb: Some(vram),
            vcpus: number(&a.vcpu),
            // "768 GiB" → GB.
            ram_gb: number(&a.memory).map(|g| (g * 1.073_741_824 * 10.0).round() / 10.0),
            price_hour: Some(price),
            spot_price_hour: None,
            currency: "USD",
            // First 10 TB/month to the internet (aws.amazon.com/ec2/pricing/on-demand).
            egress_per_gb: Some(0.09),
            billing: "per-second",
            reliability: None,
            queue_wait_h: None,
            pricing: "cash",
            source: format!(
                "AWS EC2 price list {url} (SKU {sku}, Linux, shared tenancy, on-demand)"
            ),
            as_of: observed,
            notes: "on-demand list price; spot prices are not in the public price list".into(),
        });
    }
    Ok(Fetched { rows, skipped })
}
