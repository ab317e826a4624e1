//! One replay of a trace file in a fresh process, for timing it cold and reading its peak
//! memory (`/usr/bin/time -v`): `cargo run --release -p ferry-sim --example replay -- FILE
//! [OWNED_GPUS] [owned-first|cheapest]`.

use ferry_job::Micros;
use ferry_sim::Trace;
use ferry_sim::cluster::{self, ClusterSetup};
use std::time::Instant;

fn main() {
    let mut args = std::env::args().skip(1);
    let path = args.next().expect("a trace file");
    let owned: u32 = args.next().map_or(256, |a| a.parse().expect("owned GPUs"));
    let policy = args
        .next()
        .map_or(Ok(ferry_policy::PolicyKind::OwnedFirst), |p| p.parse())
        .expect("a policy");
    let t0 = Instant::now();
    let text = std::fs::read_to_string(&path).expect("readable");
    let trace = Trace::parse(&text, &path).expect("a trace");
    let parsed = t0.elapsed();
    let setup = ClusterSetup::reference(policy, owned, Micros(3_000_000));
    let t1 = Instant::now();
    let r = cluster::replay(&setup, &trace.jobs);
    let replayed = t1.elapsed();
    println!(
        "{} jobs, {policy}: total {} | parse {:.3} s, replay {:.3} s, {:.0} jobs/s, {} passes, missed {}, owned busy {:.1}%",
        r.jobs,
        r.total_cost,
        parsed.as_secs_f64(),
        replayed.as_secs_f64(),
        r.jobs as f64 / replayed.as_secs_f64(),
        r.passes,
        r.deadlines_missed,
        r.owned_utilisation * 100.0
    );
}
