//! Durable submissions per second into a file-backed store: one submission is one
//! committed transaction (the job row and its first event). The aim is at least 1,000/s.

use criterion::{Criterion, Throughput, criterion_group};
use ferry_job::{JobId, Micros};
use ferry_store::{Durability, NewJob, Placement, SqliteOptions, SqliteStore, Store};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

const T0: u64 = 1_763_900_000_000;

static NEXT: AtomicU64 = AtomicU64::new(0);

/// A fresh id each call; the sequence part holds only 4 base-32 digits, so the time part
/// moves every thousand jobs.
fn next_job() -> NewJob {
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    NewJob {
        id: JobId::new(T0 + n / 1000, (n % 1000) as u32),
        name: "bench".into(),
        task: serde_json::json!({
            "name": "bench",
            "resources": {"accelerators": "A100:1"},
            "run": "python train.py --epochs 3",
        }),
        placement: Placement {
            backend: "local".into(),
            provider: "owned".into(),
            offer: "ws-1xa100".into(),
            price_per_hour: Micros(1_100_000),
        },
        submitted_at_ms: (T0 + n) as i64,
        max_runtime_s: Some(3600),
    }
}

fn open(rt: &tokio::runtime::Runtime, dir: &std::path::Path, d: Durability) -> SqliteStore {
    let options = SqliteOptions {
        durability: d,
        ..SqliteOptions::default()
    };
    rt.block_on(SqliteStore::open_with(&dir.join("ferry.db"), &options))
        .unwrap()
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

/// A plain figure to quote, beside criterion's statistics: N one-by-one submissions,
/// each awaited before the next, as a client waiting for its acknowledgement would.
fn report() {
    let rt = runtime();
    for (label, d) in [("FULL", Durability::Full), ("NORMAL", Durability::Normal)] {
        let dir = tempfile::tempdir().unwrap();
        let store = open(&rt, dir.path(), d);
        let n = 3_000;
        let start = Instant::now();
        rt.block_on(async {
            for _ in 0..n {
                store.submit(&next_job()).await.unwrap();
            }
        });
        let secs = start.elapsed().as_secs_f64();
        println!(
            "ferry-store: {n} durable submissions, synchronous={label}: {:.0} submissions/s ({:.0} µs each)",
            f64::from(n) / secs,
            secs * 1e6 / f64::from(n)
        );
        rt.block_on(store.close());
    }
}

fn submit(c: &mut Criterion) {
    let rt = runtime();
    let mut group = c.benchmark_group("submit");
    group.throughput(Throughput::Elements(1));
    group.measurement_time(Duration::from_secs(5));
    for (label, d) in [("full", Durability::Full), ("normal", Durability::Normal)] {
        let dir = tempfile::tempdir().unwrap();
        let store = open(&rt, dir.path(), d);
        group.bench_function(label, |b| {
            b.iter(|| rt.block_on(store.submit(&next_job())).unwrap());
        });
        rt.block_on(store.close());
    }
    group.finish();
}

criterion_group!(benches, submit);

fn main() {
    // Skip the plain figure when the harness is only listing or testing the benches.
    if std::env::args().any(|a| a == "--bench") {
        report();
    }
    benches();
    Criterion::default().configure_from_args().final_summary();
}
