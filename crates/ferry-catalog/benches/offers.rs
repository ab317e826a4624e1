//! Loads, validates, filters and sorts a 50,000-offer synthetic catalog: the work a cold
//! `ferry offers` does, at 50x the embedded snapshot's size.

use criterion::{Criterion, criterion_group, criterion_main};
use ferry_catalog::fx::Rates;
use ferry_catalog::load::load_offers;
use ferry_catalog::offer::{OFFER_COLUMNS, Origin};
use ferry_catalog::range::Range;
use ferry_catalog::{Category, GpuTable, OfferFilter, PriceMode, SortKey};
use std::fmt::Write;
use std::hint::black_box;

const ROWS: usize = 50_000;

fn synthetic_catalog() -> String {
    let table = GpuTable::embedded();
    let gpus: Vec<_> = table
        .iter()
        .map(|(_, s)| (s.id.clone(), s.vram_gb))
        .collect();
    let cats = ["hyperscaler", "gpu-cloud", "decentralized"];
    let regions = [
        "us-east-1",
        "us-west-2",
        "eu-west-1",
        "ap-northeast-1",
        "ca-central-1",
    ];
    let mut s = OFFER_COLUMNS.join(",");
    s.push('\n');
    // A small deterministic LCG keeps the bench reproducible without a rand dependency.
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut next = || {
        x = x
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        x >> 33
    };
    for i in 0..ROWS {
        let (gpu, vram) = &gpus[next() as usize % gpus.len()];
        let count = [1, 2, 4, 8][next() as usize % 4];
        let price = 0.2 + (next() % 10_000) as f64 / 1000.0 * f64::from(count);
        let spot = price * 0.4;
        writeln!(
            s,
            "p{},{},offering,{},inst-{i},{gpu},{count},{vram},{},{},{price:.4},{spot:.4},USD,0.09,per-second,0.{},,cash,synthetic,2026-11-01,",
            i % 40,
            cats[i % 3],
            regions[i % 5],
            count * 8,
            count * 64,
            900 + next() % 100,
        )
        .unwrap();
    }
    s
}

fn bench(c: &mut Criterion) {
    let text = synthetic_catalog();
    let table = GpuTable::embedded();
    let rates = Rates::default();
    let loaded = load_offers(&text, Origin::File("synthetic.csv".into()), table, &rates);
    assert_eq!(loaded.offers.len(), ROWS, "{:?}", loaded.rejected.first());
    let filter = OfferFilter {
        gpus: Some(table.resolve("h100").unwrap()),
        vram_gb: Some(Range::parse_memory("40GB..").unwrap()),
        count: Some(Range::parse_count("1..8").unwrap()),
        categories: vec![Category::GpuCloud, Category::Hyperscaler],
        regions: vec!["us-*".into()],
        mode: PriceMode::Any,
        max_price: Some(50.0),
        ..Default::default()
    };

    let mut g = c.benchmark_group("catalog_50k");
    g.sample_size(20);
    g.bench_function("load_and_validate", |b| {
        b.iter(|| {
            load_offers(
                black_box(&text),
                Origin::File("synthetic.csv".into()),
                table,
                &rates,
            )
        })
    });
    g.bench_function("filter_and_sort", |b| {
        b.iter(|| {
            filter
                .select(black_box(&loaded.offers), SortKey::PricePerGpu, table)
                .len()
        })
    });
    g.bench_function("load_validate_filter_sort", |b| {
        b.iter(|| {
            let r = load_offers(
                black_box(&text),
                Origin::File("synthetic.csv".into()),
                table,
                &rates,
            );
            filter.select(&r.offers, SortKey::PricePerGpu, table).len()
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
