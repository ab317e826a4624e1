//! A small catalog with round prices, so expected values can be worked out by hand.
#![allow(dead_code)]

use ferry_catalog::fx::Rates;
use ferry_catalog::load::load_offers;
use ferry_catalog::offer::{OFFER_COLUMNS, Origin};
use ferry_catalog::{Catalog, GpuTable};
use ferry_tco::{Assumptions, Context, Currency, Profile, Workload};

/// One offer per rental category and an academic node, all H100-SXM:
/// - cloudco (gpu-cloud): 1 GPU at $2.00/h, no egress, no reliability figure (0.99 assumed);
/// - hyper (hyperscaler): 8 GPUs at $40.00/h on-demand, $16.00/h spot, egress $0.10/GB;
/// - market (decentralized): 1 GPU at $1.50/h, reliability 0.95, egress not stated;
/// - alliance (academic): a 4-GPU node, 12 h queue wait.
pub const ROWS: &str = "\
cloudco,gpu-cloud,On-demand,global,1x H100,H100-SXM,1,80,,,2.00,,USD,0,per-second,,,cash,test,2026-01-01,
hyper,hyperscaler,OD,us-east-1,8x H100,H100-SXM,8,80,,,40.00,16.00,USD,0.10,per-second,,,cash,test,2026-01-01,
market,decentralized,median,US,1x H100,H100-SXM,1,80,,,1.50,,USD,,per-second,0.95,,cash,test,2026-01-01,
alliance,academic,Cluster,c1,4x node,H100-SXM,4,80,,,,,USD,,none,,12,allocation,test,2026-01-01,
";

pub fn catalog_of(rows: &str) -> Catalog {
    let text = format!("{}\n{rows}", OFFER_COLUMNS.join(","));
    let report = load_offers(
        &text,
        Origin::File("test.csv".into()),
        GpuTable::embedded(),
        &Rates::default(),
    );
    assert!(report.rejected.is_empty(), "{:?}", report.rejected);
    let mut c = Catalog::from_offers(report.offers);
    c.rates =
        Rates::parse("currency,usd_per_unit,source,as_of\nCAD,0.5,test rate,2026-01-01\n").unwrap();
    c
}

pub fn catalog() -> Catalog {
    catalog_of(ROWS)
}

/// `gpus` × H100-SXM at `hours` GPU-hours a month for `months`.
pub fn profile(gpus: u32, hours: f64, months: u32) -> Profile {
    let mut p = Profile::new("H100-SXM", gpus, hours);
    p.horizon_months = months;
    p
}

pub fn workload(p: &Profile, c: &Catalog) -> Workload {
    p.resolve(c).unwrap()
}

pub fn ctx<'a>(c: &'a Catalog, a: &'a Assumptions) -> Context<'a> {
    Context::new(c, a, Currency::usd())
}

/// Asserts two floats agree to a relative 1e-9 (or absolute 1e-9 near zero).
#[track_caller]
pub fn close(actual: f64, expected: f64) {
    let tol = 1e-9 * expected.abs().max(1.0);
    assert!(
        (actual - expected).abs() <= tol,
        "expected {expected}, got {actual} (off by {})",
        actual - expected
    );
}
