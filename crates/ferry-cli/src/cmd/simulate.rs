//! `ferry simulate`: a job trace through a cluster, or one deadline job through a spot
//! trace, with Ferry's own policy code on a virtual clock (crate `ferry-sim`).

use super::print_json;
use super::sim_chart;
use crate::cli::{PolicyChoice, SimulateArgs};
use crate::context::Context;
use crate::table;
use anyhow::{Context as _, Result, bail};
use ferry_catalog::{Category, Offer};
use ferry_job::Micros;
use ferry_policy::PolicyKind;
use ferry_policy::progress::SpotRule;
use ferry_sim::cluster::{self, ClusterReport, ClusterSetup, Where};
use ferry_sim::spot::{self, SpotReport, SpotSetup};
use ferry_sim::{SpotTrace, Trace};
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::json;
use std::path::Path;
use std::process::ExitCode;

pub fn run(ctx: &Context, args: &SimulateArgs) -> Result<ExitCode> {
    if let Some(chart) = &args.chart {
        super::chart::check_extension(chart)?;
    }
    match (&args.trace, &args.spot_trace) {
        (Some(trace), _) => run_cluster(ctx, args, trace),
        (None, Some(trace)) => run_spot(ctx, args, trace),
        _ => bail!(
            "give --trace FILE (a job trace) or --spot-trace FILE (a spot availability trace)"
        ),
    }
}

fn read(path: &Path) -> Result<String> {
    let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    String::from_utf8(bytes).map_err(|e| {
        anyhow::anyhow!(
            "{}: not UTF-8 text (byte {} is not valid): traces are CSV or JSON text",
            path.display(),
            e.utf8_error().valid_up_to()
        )
    })
}

fn usd(name: &str, v: f64) -> Result<Micros> {
    if !v.is_finite() || v < 0.0 {
        bail!("{name} {v} is not a price (USD, 0 or more)");
    }
    Micros::from_usd(v).map_err(|e| anyhow::anyhow!("{name}: {e}"))
}

fn seconds(name: &str, hours: f64) -> Result<i64> {
    if !(0.0..=24.0 * 366.0 * 10.0).contains(&hours) {
        bail!("{name} {hours} is not a number of hours (0 to ten years)");
    }
    Ok((hours * 3600.0).round() as i64)
}

/// Where a catalog price came from: the row, its source and its date.
fn source_of(offer: &Offer) -> String {
    format!(
        "{} {} {} ({}, as of {})",
        offer.provider, offer.instance_type, offer.region, offer.source, offer.as_of
    )
}

fn rented(o: &Offer) -> bool {
    matches!(
        o.category,
        Category::GpuCloud | Category::Hyperscaler | Category::Decentralized
    )
}

/// The catalog's offers of `--gpu`, current rows only.
fn offers_of(ctx: &Context, gpu: &Option<String>, wanted: &str) -> Result<Vec<Offer>> {
    let Some(name) = gpu else {
        bail!("give {wanted}, or --gpu NAME to take the catalog's price");
    };
    let mut catalog = ctx.catalog()?;
    catalog.drop_superseded();
    let models = catalog.table.resolve(name).with_context(|| "--gpu")?;
    Ok(catalog
        .offers
        .into_iter()
        .filter(|o| models.contains(&o.gpu) && rented(o))
        .collect())
}

fn per_gpu(o: &Offer, spot: bool) -> Option<f64> {
    o.price(spot).map(|p| p / f64::from(o.gpu_count.max(1)))
}

fn run_cluster(ctx: &Context, args: &SimulateArgs, path: &Path) -> Result<ExitCode> {
    let text = read(path)?;
    let trace = Trace::parse(&text, &path.display().to_string())?;
    let policy: PolicyKind = args.policy.unwrap_or(PolicyChoice::OwnedFirst).into();
    let spot = match &args.spot_trace {
        None => None,
        Some(path) => {
            if policy != PolicyKind::DeadlineSpot {
                bail!(
                    "--spot-trace with --trace is the cluster's spot capacity, which only --policy deadline-spot uses"
                );
            }
            let price = args.spot_price.context(
                "--spot-trace with --trace needs --spot-price USD (per GPU-hour on spot)",
            )?;
            let text = read(path)?;
            Some(ferry_sim::cluster::SpotCapacity {
                price: usd("--spot-price", price)?,
                trace: SpotTrace::parse(&text, &path.display().to_string())?,
            })
        }
    };
    let (cloud_price, cloud_source) = match args.cloud_price {
        Some(p) => (usd("--cloud-price", p)?, "--cloud-price".to_string()),
        None => {
            let offers = offers_of(ctx, &args.gpu, "--cloud-price USD (per GPU-hour)")?;
            let best = offers
                .into_iter()
                .filter(|o| per_gpu(o, false).is_some())
                .min_by(|a, b| {
                    per_gpu(a, false)
                        .unwrap()
                        .total_cmp(&per_gpu(b, false).unwrap())
                })
                .context("the catalog has no on-demand rental of that GPU: give --cloud-price")?;
            (
                usd("the catalog's price", per_gpu(&best, false).unwrap())?,
                source_of(&best),
            )
        }
    };
    let setup = ClusterSetup {
        spot,
        policy,
        owned_gpus: args.owned_gpus,
        owned_rate: usd("--owned-rate", args.owned_rate)?,
        academic_gpus: args.academic_gpus,
        academic_wait_s: seconds("--academic-wait-hours", args.academic_wait_hours)?,
        cloud_price,
        provision_s: seconds("--provision-minutes", args.provision_minutes / 60.0)?,
        monthly_budget: args
            .monthly_budget
            .map(|b| usd("--monthly-budget", b))
            .transpose()?,
        billing_increment_s: 1,
    };
    if args.academic_wait_hours > 0.0 && args.academic_gpus == 0 {
        bail!("--academic-wait-hours needs --academic-gpus");
    }
    if let Some(sweep) = &args.sweep_owned {
        return run_sweep(args, &setup, &trace, sweep, &cloud_source);
    }
    let report = cluster::replay(&setup, &trace.jobs);
    if let Some(chart) = &args.chart {
        sim_chart::cluster(&report, &setup, chart)?;
    }
    if args.json {
        print_json(&cluster_json(&setup, &report, &trace, &cloud_source))?;
    } else {
        print_cluster(&setup, &report, &trace, &cloud_source, path);
        if let Some(chart) = &args.chart {
            println!("Chart: {}", chart.display());
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn money(m: Micros) -> serde_json::Value {
    json!(m.to_string())
}

fn cluster_json(
    setup: &ClusterSetup,
    r: &ClusterReport,
    trace: &Trace,
    cloud_source: &str,
) -> serde_json::Value {
    let categories: Vec<serde_json::Value> = r
        .by_category
        .iter()
        .map(|(w, s)| {
            json!({
                "category": w.name(),
                "jobs": s.jobs,
                "gpu_hours": round3(s.gpu_hours),
                "cost": money(s.cost),
                "cost_micros": s.cost.0,
            })
        })
        .collect();
    json!({
        "mode": "trace",
        "trace_format": trace.format,
        "policy": setup.policy,
        "setup": {
            "owned_gpus": setup.owned_gpus,
            "owned_rate_per_gpu_hour": money(setup.owned_rate),
            "academic_gpus": setup.academic_gpus,
            "academic_wait_hours": setup.academic_wait_s as f64 / 3600.0,
            "cloud_price_per_gpu_hour": money(setup.cloud_price),
            "cloud_price_source": cloud_source,
            "provision_minutes": setup.provision_s as f64 / 60.0,
            "monthly_budget": setup.monthly_budget.map(money),
            "spot_price_per_gpu_hour": setup.spot.as_ref().map(|s| money(s.price)),
        },
        "jobs": r.jobs,
        "total_cost": money(r.total_cost),
        "total_cost_micros": r.total_cost.0,
        "by_category": categories,
        "queueing_delay_hours": {
            "mean": round3(r.queueing_delay_hours.mean),
            "p50": round3(r.queueing_delay_hours.p50),
            "p99": round3(r.queueing_delay_hours.p99),
            "max": round3(r.queueing_delay_hours.max),
        },
        "with_deadline": r.with_deadline,
        "deadlines_missed": r.deadlines_missed,
        "missed_that_renting_could_meet": r.missed_that_renting_could_meet,
        "preemptions": r.preemptions,
        "budget_holds": r.budget_holds,
        "budget_stops": r.budget_stops,
        "never_started": r.never_started,
        "owned_utilisation": round3(r.owned_utilisation),
        "owned_idle_cost": money(r.owned_idle_cost),
        "makespan_hours": round3(r.makespan_hours),
        "passes": r.passes,
    })
}

fn round3(v: f64) -> f64 {
    (v * 1000.0).round() / 1000.0
}

fn print_cluster(
    setup: &ClusterSetup,
    r: &ClusterReport,
    trace: &Trace,
    source: &str,
    path: &Path,
) {
    println!(
        "Replayed {} jobs from {} ({}) through {}: {} owned GPUs{}, rented on-demand at {}/GPU-h ({}), provisioning {} min.",
        r.jobs,
        path.display(),
        match trace.format {
            ferry_sim::trace::TraceFormat::Elasticflow => "ElasticFlow CSV",
            ferry_sim::trace::TraceFormat::Canonical => "Ferry CSV",
        },
        setup.policy,
        setup.owned_gpus,
        if setup.academic_gpus > 0 {
            format!(
                ", {} academic GPUs after a {:.1} h wait",
                setup.academic_gpus,
                setup.academic_wait_s as f64 / 3600.0
            )
        } else {
            String::new()
        },
        setup.cloud_price,
        source,
        setup.provision_s / 60
    );
    let mut tb = table::new(&["CATEGORY", "JOBS", "GPU-HOURS", "COST"]);
    for (w, s) in &r.by_category {
        tb.add_row(vec![
            w.name().to_string(),
            s.jobs.to_string(),
            format!("{:.1}", s.gpu_hours),
            s.cost.to_string(),
        ]);
    }
    tb.add_row(vec![
        "total".to_string(),
        r.jobs.to_string(),
        format!(
            "{:.1}",
            r.by_category.iter().map(|(_, s)| s.gpu_hours).sum::<f64>()
        ),
        r.total_cost.to_string(),
    ]);
    println!("{tb}");
    let d = r.queueing_delay_hours;
    println!(
        "Queueing delay: mean {:.2} h, p50 {:.2} h, p99 {:.2} h, max {:.1} h.",
        d.mean, d.p50, d.p99, d.max
    );
    println!(
        "Deadlines: {} of {} missed ({} that renting at submission would have met).",
        r.deadlines_missed, r.with_deadline, r.missed_that_renting_could_meet
    );
    if let Some(spot) = &setup.spot {
        println!(
            "Spot at {}/GPU-h: {} preemptions; rented jobs with a deadline ran on spot while Uniform Progress allowed.",
            spot.price, r.preemptions
        );
    }
    if setup.monthly_budget.is_some() {
        println!(
            "Budget: {} bursts held by the monthly cap, {} rented jobs stopped at it.",
            r.budget_holds, r.budget_stops
        );
    }
    if r.never_started > 0 {
        println!(
            "{} jobs never started: no pool can hold them and nothing could be rented for them.",
            r.never_started
        );
    }
    println!(
        "Owned pool: {:.1}% busy over {:.0} h; its idle hours cost {} at the amortised rate ({} scheduling passes).",
        r.owned_utilisation * 100.0,
        r.makespan_hours,
        r.owned_idle_cost,
        r.passes
    );
}

/// `FROM:TO:STEP`.
fn parse_sweep(s: &str) -> Result<Vec<u32>> {
    let parts: Vec<&str> = s.split(':').collect();
    let bad = || anyhow::anyhow!("--sweep-owned '{s}': expected FROM:TO:STEP, e.g. 0:512:64");
    if parts.len() != 3 {
        return Err(bad());
    }
    let n: Vec<u32> = parts
        .iter()
        .map(|p| p.trim().parse::<u32>().map_err(|_| bad()))
        .collect::<Result<_>>()?;
    let (from, to, step) = (n[0], n[1], n[2]);
    if step == 0 || to < from {
        bail!("--sweep-owned '{s}': STEP must be above 0 and TO at least FROM");
    }
    let sizes: Vec<u32> = (from..=to).step_by(step as usize).collect();
    if sizes.len() > 200 {
        bail!(
            "--sweep-owned '{s}' asks for {} replays: at most 200",
            sizes.len()
        );
    }
    Ok(sizes)
}

fn run_sweep(
    args: &SimulateArgs,
    base: &ClusterSetup,
    trace: &Trace,
    sweep: &str,
    cloud_source: &str,
) -> Result<ExitCode> {
    let sizes = parse_sweep(sweep)?;
    let bar = if args.json {
        ProgressBar::hidden()
    } else {
        ProgressBar::new(sizes.len() as u64)
    };
    bar.set_style(
        ProgressStyle::with_template("{msg} [{bar:30}] {pos}/{len} replays")
            .expect("a valid template"),
    );
    bar.set_message("sweeping owned-pool sizes");
    let mut points = vec![];
    for n in sizes {
        let setup = ClusterSetup {
            owned_gpus: n,
            ..base.clone()
        };
        points.push((n, cluster::replay(&setup, &trace.jobs)));
        bar.inc(1);
    }
    bar.finish_and_clear();
    let best = points
        .iter()
        .min_by_key(|(n, r)| (r.total_cost, *n))
        .map(|(n, _)| *n)
        .expect("a sweep has a point");
    if let Some(chart) = &args.chart {
        sim_chart::sweep(&points, base, chart)?;
    }
    let cloud = |r: &ClusterReport| {
        r.by_category
            .iter()
            .find(|(w, _)| *w == Where::Cloud)
            .map_or(0.0, |(_, s)| s.gpu_hours)
    };
    if args.json {
        let rows: Vec<serde_json::Value> = points
            .iter()
            .map(|(n, r)| {
                json!({
                    "owned_gpus": n,
                    "total_cost": money(r.total_cost),
                    "total_cost_micros": r.total_cost.0,
                    "cloud_gpu_hours": round3(cloud(r)),
                    "owned_utilisation": round3(r.owned_utilisation),
                    "deadlines_missed": r.deadlines_missed,
                    "queueing_delay_p99_hours": round3(r.queueing_delay_hours.p99),
                })
            })
            .collect();
        print_json(&json!({
            "mode": "sweep",
            "policy": base.policy,
            "cloud_price_per_gpu_hour": money(base.cloud_price),
            "cloud_price_source": cloud_source,
            "owned_rate_per_gpu_hour": money(base.owned_rate),
            "points": rows,
            "cheapest_owned_gpus": best,
        }))?;
        return Ok(ExitCode::SUCCESS);
    }
    println!(
        "{} over {} jobs, cloud at {}/GPU-h, owned GPU-hours at {}:",
        base.policy,
        trace.jobs.len(),
        base.cloud_price,
        base.owned_rate
    );
    let mut tb = table::new(&[
        "OWNED GPUS",
        "TOTAL COST",
        "CLOUD GPU-H",
        "OWNED BUSY",
        "MISSED",
        "P99 WAIT H",
    ]);
    for (n, r) in &points {
        tb.add_row(vec![
            format!("{n}{}", if *n == best { " *" } else { "" }),
            r.total_cost.to_string(),
            format!("{:.0}", cloud(r)),
            format!("{:.1}%", r.owned_utilisation * 100.0),
            r.deadlines_missed.to_string(),
            format!("{:.2}", r.queueing_delay_hours.p99),
        ]);
    }
    println!("{tb}");
    println!(
        "* lowest total cost. Owned GPUs cost --owned-rate for every hour of the replay, busy or idle; with 0 every owned GPU looks free: give the amortised rate (`ferry advise` shows it) to see where buying stops paying."
    );
    Ok(ExitCode::SUCCESS)
}

fn run_spot(ctx: &Context, args: &SimulateArgs, path: &Path) -> Result<ExitCode> {
    if args.chart.is_some() {
        bail!("--chart draws --trace replays; for --spot-trace use --json");
    }
    let (Some(job_h), Some(deadline_h)) = (args.job_hours, args.deadline_hours) else {
        bail!(
            "--spot-trace needs --job-hours and --deadline-hours (e.g. --job-hours 48 --deadline-hours 60)"
        );
    };
    let rule = match args.policy.unwrap_or(PolicyChoice::DeadlineSpot) {
        PolicyChoice::DeadlineSpot => SpotRule::UniformProgress,
        other => bail!(
            "--spot-trace replays deadline-spot (and compares it with greedy and on-demand only); --policy {} places a queue of jobs: use it with --trace",
            ferry_policy::PolicyKind::from(other)
        ),
    };
    let (od, sp, source) = match (args.on_demand_price, args.spot_price) {
        (Some(o), Some(s)) => (
            usd("--on-demand-price", o)?,
            usd("--spot-price", s)?,
            "--on-demand-price and --spot-price".to_string(),
        ),
        (o, s) => {
            let offers = offers_of(
                ctx,
                &args.gpu,
                "--on-demand-price and --spot-price (USD per machine-hour)",
            )?;
            let best = offers
                .into_iter()
                .filter(|o| o.gpu_count == 1 && o.price_hour.is_some() && o.spot_price_hour.is_some())
                .min_by(|a, b| a.spot_price_hour.unwrap().total_cmp(&b.spot_price_hour.unwrap()))
                .context("the catalog has no 1-GPU offer of that GPU with a spot price: give --on-demand-price and --spot-price")?;
            (
                usd("--on-demand-price", o.unwrap_or(best.price_hour.unwrap()))?,
                usd("--spot-price", s.unwrap_or(best.spot_price_hour.unwrap()))?,
                source_of(&best),
            )
        }
    };
    let text = read(path)?;
    let trace = SpotTrace::parse(&text, &path.display().to_string())?;
    let base = SpotSetup {
        rule,
        work_s: seconds("--job-hours", job_h)?,
        deadline_s: seconds("--deadline-hours", deadline_h)?,
        changeover_s: seconds("--changeover-hours", args.changeover_hours)?,
        on_demand_price: od,
        spot_price: sp,
        starts: args.starts,
        seed: args.seed,
    };
    let reports: Vec<SpotReport> = [
        SpotRule::UniformProgress,
        SpotRule::Greedy,
        SpotRule::OnDemandOnly,
    ]
    .into_iter()
    .map(|rule| {
        spot::replay(
            &SpotSetup {
                rule,
                ..base.clone()
            },
            &trace,
        )
    })
    .collect::<Result<_, _>>()?;
    let main = &reports[0];
    let summary = |r: &SpotReport| {
        json!({
            "rule": r.rule,
            "on_demand_hours": round3(r.on_demand_hours),
            "spot_hours": round3(r.spot_hours),
            "preemptions": round3(r.preemptions),
            "cost": money(r.cost),
            "cost_micros": r.cost.0,
            "missed_deadlines": r.missed_deadlines,
        })
    };
    if args.json {
        print_json(&json!({
            "mode": "spot",
            "policy": PolicyKind::DeadlineSpot,
            "trace": {
                "ticks": trace.available.len(),
                "gap_seconds": trace.gap_s,
                "hours": round3(trace.hours()),
                "availability": round3(trace.availability()),
            },
            "job_hours": job_h,
            "deadline_hours": deadline_h,
            "changeover_hours": args.changeover_hours,
            "starts": args.starts,
            "seed": args.seed,
            "on_demand_price": money(od),
            "spot_price": money(sp),
            "price_source": source,
            "on_demand_hours": round3(main.on_demand_hours),
            "spot_hours": round3(main.spot_hours),
            "preemptions": round3(main.preemptions),
            "total_cost": money(main.cost),
            "total_cost_micros": main.cost.0,
            "on_demand_only_cost": money(main.on_demand_only_cost),
            "missed_deadlines": main.missed_deadlines,
            "compared": reports.iter().map(summary).collect::<Vec<_>>(),
        }))?;
        return Ok(ExitCode::SUCCESS);
    }
    println!(
        "A {job_h} h job due {deadline_h} h after it starts, changeover {} h, from {} random starts (seed {}) in {} ({:.0} h, spot available {:.0}% of ticks).",
        args.changeover_hours,
        args.starts,
        args.seed,
        path.display(),
        trace.hours(),
        trace.availability() * 100.0
    );
    println!("On-demand {od}/h, spot {sp}/h ({source}). Means per run:");
    let mut tb = table::new(&[
        "POLICY",
        "ON-DEMAND H",
        "SPOT H",
        "PREEMPTIONS",
        "COST",
        "SAVED",
        "MISSED",
    ]);
    for r in &reports {
        let saved = 1.0 - r.cost.0 as f64 / r.on_demand_only_cost.0.max(1) as f64;
        tb.add_row(vec![
            match r.rule {
                SpotRule::UniformProgress => "deadline-spot (uniform progress)".to_string(),
                other => other.name().to_string(),
            },
            format!("{:.1}", r.on_demand_hours),
            format!("{:.1}", r.spot_hours),
            format!("{:.1}", r.preemptions),
            r.cost.to_string(),
            format!("{:.0}%", saved * 100.0),
            r.missed_deadlines.to_string(),
        ]);
    }
    println!("{tb}");
    Ok(ExitCode::SUCCESS)
}
