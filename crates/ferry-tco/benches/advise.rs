//! Advice for every GPU model in the embedded table × every approach, on the embedded
//! catalog: each approach's model alone over all GPUs, and the whole `advise` (all six
//! models, ranking, break-even, sensitivity) over all GPUs.

use criterion::{Criterion, criterion_group, criterion_main};
use ferry_catalog::Catalog;
use ferry_tco::{
    Approach, Assumptions, Context, Currency, Profile, Workload, advise, estimate_approach,
};
use std::hint::black_box;
use std::time::Duration;

/// One profile per GPU model: 8-GPU jobs on SXM/OAM parts, single GPUs otherwise; busy 40%;
/// eligible for academic access, so every approach has work to do.
fn profiles(catalog: &Catalog) -> Vec<Profile> {
    catalog
        .table
        .iter()
        .map(|(_, spec)| {
            let width = if spec.form_factor.contains("SXM") || spec.form_factor.contains("OAM") {
                8
            } else {
                1
            };
            let mut p = Profile::new(&spec.id, width, 0.4 * f64::from(width) * 730.5);
            p.academic.eligible = true;
            p.data.in_gb_per_month = 200.0;
            p.data.out_gb_per_month = 50.0;
            p
        })
        .collect()
}

fn bench(c: &mut Criterion) {
    let catalog = Catalog::embedded();
    let assumptions = Assumptions::default();
    let ctx = Context::new(&catalog, &assumptions, Currency::usd());
    let profiles = profiles(&catalog);
    let workloads: Vec<Workload> = profiles
        .iter()
        .map(|p| p.resolve(&catalog).unwrap())
        .collect();

    let mut per_approach = c.benchmark_group("every GPU model");
    for approach in Approach::ALL {
        per_approach.bench_function(approach.as_str(), |b| {
            b.iter(|| {
                for w in &workloads {
                    black_box(estimate_approach(approach, black_box(w), &ctx));
                }
            })
        });
    }
    per_approach.finish();

    c.bench_function("advise every GPU model (all approaches)", |b| {
        b.iter(|| {
            for p in &profiles {
                black_box(advise(black_box(p), &catalog).unwrap());
            }
        })
    });
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .sample_size(20)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(3));
    targets = bench
}
criterion_main!(benches);
