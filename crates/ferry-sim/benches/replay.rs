//! The whole-trace replay, timed: a cluster04-sized trace (15,802 jobs over two months)
//! through `owned-first` and `cheapest` on 256 owned GPUs, and a spot replay from 300 start
//! points. Set FERRY_SIM_TRACE to a published trace (cluster04.csv) to time that instead of
//! the generated one. `cargo bench -p ferry-sim`.

use criterion::{Criterion, criterion_group, criterion_main};
use ferry_job::Micros;
use ferry_policy::PolicyKind;
use ferry_policy::progress::SpotRule;
use ferry_sim::cluster::{self, ClusterSetup};
use ferry_sim::spot::{self, SpotSetup};
use ferry_sim::{SpotTrace, Trace, TraceJob};
use std::hint::black_box;
use std::time::Duration;

/// A deterministic stand-in with cluster04's shape: 15,802 jobs in 60 days, mostly small,
/// a few wide, durations from minutes to days, deadlines from none to twice the length.
fn generated() -> Vec<TraceJob> {
    let mut x: u64 = 0x2545_F491_4F6C_DD1D;
    let mut next = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    let widths = [1u32, 1, 1, 1, 2, 2, 4, 4, 8, 8, 16, 32, 64];
    let mut jobs: Vec<TraceJob> = (0..15_802)
        .map(|i| {
            let submit_s = (next() % (60 * 86_400)) as i64;
            let gpus = widths[(next() % widths.len() as u64) as usize];
            let duration_s = 60 + (next() % 1000).pow(3) as i64 / 3_000;
            let slack = (next() % 100) as i64 * duration_s / 50;
            TraceJob {
                id: format!("j{i}"),
                submit_s,
                gpus,
                duration_s,
                estimate_s: duration_s,
                deadline_s: Some(submit_s + duration_s + slack),
                max_wait_s: None,
                budget_usd: None,
            }
        })
        .collect();
    jobs.sort_by_key(|j| j.submit_s);
    jobs
}

fn trace() -> (String, Vec<TraceJob>) {
    match std::env::var("FERRY_SIM_TRACE") {
        Ok(path) => {
            let text = std::fs::read_to_string(&path).expect("FERRY_SIM_TRACE is readable");
            (
                path.clone(),
                Trace::parse(&text, &path).expect("a trace").jobs,
            )
        }
        Err(_) => ("generated".to_string(), generated()),
    }
}

fn bench(c: &mut Criterion) {
    let (name, jobs) = trace();
    let mut g = c.benchmark_group(format!("replay {} jobs ({name})", jobs.len()));
    g.sample_size(10).measurement_time(Duration::from_secs(20));
    for policy in [PolicyKind::OwnedFirst, PolicyKind::Cheapest] {
        let setup = ClusterSetup::reference(policy, 256, Micros(3_000_000));
        g.bench_function(policy.name(), |b| {
            b.iter(|| black_box(cluster::replay(&setup, &jobs)))
        });
    }
    g.finish();

    let mut x: u64 = 7;
    let available: Vec<bool> = (0..3_900)
        .map(|_| {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (x >> 33) % 100 < 79
        })
        .collect();
    let spot_trace = SpotTrace {
        gap_s: 600,
        available,
    };
    let setup = SpotSetup {
        rule: SpotRule::UniformProgress,
        work_s: 48 * 3600,
        deadline_s: 60 * 3600,
        changeover_s: 720,
        on_demand_price: Micros(3_060_000),
        spot_price: Micros(397_800),
        starts: 300,
        seed: 1,
    };
    c.bench_function("spot replay, 300 starts of a 48 h job", |b| {
        b.iter(|| black_box(spot::replay(&setup, &spot_trace).unwrap()))
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
