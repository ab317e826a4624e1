use super::print_json;
use crate::cli::AdviseArgs;
use crate::context::Context;
use anyhow::{Context as _, Result, bail};
use comfy_table::{Cell, ContentArrangement, Table};
use ferry_tco::{Advice, Profile, advise, comparison_table};
use std::process::ExitCode;

pub fn run(ctx: &Context, args: &AdviseArgs) -> Result<ExitCode> {
    let profile = build_profile(args)?;
    let mut catalog = ctx.catalog()?;
    catalog.drop_superseded();
    let advice = advise(&profile, &catalog).map_err(|e| anyhow::anyhow!("{e}"))?;
    if let Some(path) = &args.chart {
        super::chart::render(&advice, path)
            .with_context(|| format!("--chart {}", path.display()))?;
    }
    if args.json {
        print_json(&advice)?;
    } else {
        print_report(&advice, args);
        if let Some(path) = &args.chart {
            println!("Chart: {}", path.display());
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn build_profile(args: &AdviseArgs) -> Result<Profile> {
    let mut p = match &args.profile {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("reading profile {}", path.display()))?;
            Profile::from_toml(&text).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?
        }
        None => Profile::default(),
    };
    if let Some(g) = &args.gpu {
        p.gpu = Some(g.clone());
    }
    if let Some(n) = args.gpus {
        p.gpus = n;
    }
    if let Some(path) = &args.trace {
        let text =
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        let trace = ferry_sim::Trace::parse(&text, &path.display().to_string())?;
        let demand = trace.demand();
        let months = args.months.unwrap_or(p.horizon_months).max(1) as usize;
        let per_month = &demand.gpu_hours_by_month;
        p.usage = Default::default();
        p.usage.demand_gpu_hours = Some(
            (0..months)
                .map(|m| per_month[m % per_month.len()])
                .collect(),
        );
        if args.gpus.is_none() {
            p.gpus = demand.typical_gpus;
        }
        eprintln!(
            "{}: {} jobs, {} months of history ({}); priced as {} GPUs side by side (the width most GPU-hours ran at; the widest job had {}; --gpus overrides)",
            path.display(),
            trace.jobs.len(),
            per_month.len(),
            per_month
                .iter()
                .map(|h| format!("{h:.0} GPU-h"))
                .collect::<Vec<_>>()
                .join(", "),
            p.gpus,
            demand.widest_gpus
        );
    }
    let usage_flags = [
        args.hours_per_month.is_some(),
        args.utilization.is_some(),
        !args.demand.is_empty(),
    ];
    if usage_flags.iter().any(|f| *f) {
        p.usage = Default::default();
        p.usage.gpu_hours_per_month = args.hours_per_month;
        p.usage.utilization_percent = args.utilization;
        p.usage.demand_gpu_hours = (!args.demand.is_empty()).then(|| args.demand.clone());
    }
    if let Some(m) = args.months {
        p.horizon_months = m;
    }
    if let Some(c) = &args.currency {
        p.currency = c.to_ascii_uppercase();
    }
    if let Some(v) = args.data_in {
        p.data.in_gb_per_month = v;
    }
    if let Some(v) = args.data_out {
        p.data.out_gb_per_month = v;
    }
    if args.interruptible {
        p.job.interruptible = true;
    }
    if args.max_wait_hours.is_some() {
        p.job.max_wait_hours = args.max_wait_hours;
    }
    if args.academic_eligible {
        p.academic.eligible = true;
    }
    if args.allocation_gpu_years.is_some() {
        p.academic.allocation_gpu_years = args.allocation_gpu_years;
    }
    if args.electricity.is_some() {
        p.owned.electricity_per_kwh = args.electricity;
    }
    if args.pue.is_some() {
        p.owned.pue = args.pue;
    }
    if let Some(site) = &args.site {
        p.owned.site = Some(match site.to_ascii_lowercase().as_str() {
            "office" | "lab" => ferry_tco::Site::Office,
            "datacenter" | "colo" | "datacentre" => ferry_tco::Site::Datacenter,
            other => bail!("--site: '{other}' is not a site (office or datacenter)"),
        });
    }
    if p.gpu.is_none() && p.requirement.min_vram_gb.is_none() && p.requirement.min_tflops.is_none()
    {
        bail!(
            "say which GPU: --gpu h100 (or a profile with `gpu` or a [requirement]); `ferry gpus` lists them"
        );
    }
    if p.usage.gpu_hours_per_month.is_none()
        && p.usage.utilization_percent.is_none()
        && p.usage.demand_gpu_hours.is_none()
    {
        bail!(
            "say how much: --hours-per-month, --utilization or --demand (or a profile's [usage])"
        );
    }
    p.validate().map_err(|e| anyhow::anyhow!("{e}"))?;
    Ok(p)
}

fn width(args: &AdviseArgs) -> u16 {
    args.width.unwrap_or_else(|| {
        comfy_table::Table::new()
            .width()
            .filter(|w| *w > 40)
            .unwrap_or(200)
    })
}

fn print_report(a: &Advice, args: &AdviseArgs) {
    let c = &a.currency;
    let w = &a.workload;
    println!(
        "Workload: {} × {} per job, {} GPU-h a month on average (peak {}), over {} months; {} GPU-h in all.",
        w.gpus_per_job,
        w.gpu_models.join(" or "),
        ferry_tco::money::hours(w.mean_gpu_hours_per_month),
        ferry_tco::money::hours(w.peak_gpu_hours_per_month),
        w.horizon_months,
        ferry_tco::money::hours(w.total_gpu_hours),
    );
    println!();

    let table = comparison_table(a);
    let mut t = Table::new();
    t.load_preset(comfy_table::presets::UTF8_FULL_CONDENSED)
        .set_content_arrangement(ContentArrangement::DynamicFullWidth)
        .set_width(width(args));
    let mut header = vec![Cell::new("")];
    header.extend(table.columns.iter().map(Cell::new));
    t.set_header(header);
    for row in &table.rows {
        let mut cells = vec![Cell::new(&row.criterion)];
        cells.extend(row.cells.iter().map(Cell::new));
        t.add_row(cells);
    }
    println!("{t}");
    println!();

    println!("Ranking (total over {} months):", w.horizon_months);
    for r in &a.ranking {
        println!(
            "  {}. {:<14} {:>14}  {}/GPU-h  {}{}",
            r.rank,
            r.approach.as_str(),
            c.local_amount(r.total),
            r.per_useful_gpu_hour
                .map_or("-".into(), |p| c.local_price(p)),
            r.pricing,
            r.offer
                .as_deref()
                .map(|o| format!(": {o}"))
                .unwrap_or_default(),
        );
    }
    for e in &a.excluded {
        println!("  -  {:<14} left out: {}", e.approach.as_str(), e.reason);
    }
    println!();
    if let Some(rec) = &a.recommendation {
        println!("Recommendation: {}", rec.headline);
        for reason in rec.reasons.iter().filter(|r| **r != rec.headline) {
            println!("  - {reason}");
        }
        println!();
    }
    if let Some(b) = &a.breakeven {
        println!("Break-even: {}", b.explanation);
        println!();
    }
    if !a.sensitivity.is_empty() {
        println!("Sensitivity (who wins if an input changes):");
        for s in &a.sensitivity {
            println!(
                "  {:<18} × {:<4} → {:<14} {}{}",
                s.input,
                s.multiplier,
                s.winner.map_or("none", |w| w.as_str()),
                c.local_amount(s.winner_total),
                if s.winner_changes { "   (changes)" } else { "" }
            );
        }
        println!();
    }
    println!(
        "Prices: the catalog's best matching offer per category, each with its source (--json). Defaults and their sources: docs/cost-model.md. {}",
        c.rate_note
    );
}
