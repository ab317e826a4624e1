//! `status`, `logs`, `cancel` and `cost`: clients of the server.

use super::print_json;
use crate::cli::CostGrouping;
use crate::client::Client;
use crate::context::Context;
use crate::table;
use anyhow::Result;
use ferry_backend::LogChunk;
use ferry_job::{EndCause, JobId, JobState, Micros};
use ferry_scheduler::rented::decide::AttemptOffer;
use ferry_server::JobView;
use ferry_store::{Attempt, BookedEntry, COMPUTE, EGRESS, JobRecord, OVERHEAD, STORAGE};
use std::collections::BTreeMap;
use std::io::Write;
use std::process::ExitCode;
use std::time::Duration;

pub fn status(ctx: &Context, limit: u32, json: bool) -> Result<ExitCode> {
    let c = Client::connect_or_start(&ctx.paths.data_dir)?;
    let jobs: Vec<JobRecord> = c.get(&format!("/v1/jobs?limit={limit}"))?;
    let ledger: Vec<BookedEntry> = c.get("/v1/ledger")?;
    let mut cost: BTreeMap<String, Micros> = BTreeMap::new();
    for e in &ledger {
        *cost.entry(e.entry.job_id.to_string()).or_default() += e.entry.amount;
    }
    if json {
        print_json(&jobs)?;
        return Ok(ExitCode::SUCCESS);
    }
    if jobs.is_empty() {
        println!("No jobs yet. `ferry launch TASK.yaml` runs one.");
        return Ok(ExitCode::SUCCESS);
    }
    let mut tb = table::new(&[
        "JOB", "NAME", "STATE", "ON", "GPUS", "RAN", "COST", "DETAIL",
    ]);
    let now = now_ms();
    for j in &jobs {
        // A rented job may have moved to another provider's offer: its latest attempt says.
        let on = if is_rented(&j.placement.backend) {
            c.get::<JobView>(&format!("/v1/jobs/{}", j.id))
                .ok()
                .and_then(|v| v.attempts.into_iter().max_by_key(|a| a.attempt))
                .map_or_else(|| j.placement.backend.clone(), |a| a.backend)
        } else {
            j.placement.backend.clone()
        };
        let ran = j
            .started_at_ms
            .map(|s| duration(j.finished_at_ms.unwrap_or(now) - s))
            .unwrap_or_else(|| "-".into());
        tb.add_row(vec![
            j.id.to_string(),
            j.name.clone(),
            j.state.to_string(),
            on,
            gpu_cell(
                j.gpus.as_deref(),
                ferry_scheduler::JobPayload::from_value(&j.task)
                    .ok()
                    .map_or(0, |p| p.gpus),
                is_rented(&j.placement.backend),
            ),
            ran,
            cost.get(j.id.as_str())
                .map_or("-".into(), |m| m.to_string()),
            j.reason.clone().unwrap_or_default(),
        ]);
    }
    println!("{tb}");
    Ok(ExitCode::SUCCESS)
}

/// `ferry status JOB`: the job, each of its attempts (rented work may run more than once)
/// with what it cost, and its event log.
pub fn show(ctx: &Context, job: &str, json: bool) -> Result<ExitCode> {
    let id: JobId = job.parse()?;
    let c = Client::connect_or_start(&ctx.paths.data_dir)?;
    let view: JobView = c.get(&format!("/v1/jobs/{id}"))?;
    if json {
        print_json(&view)?;
        return Ok(ExitCode::SUCCESS);
    }
    let ledger: Vec<BookedEntry> = c.get("/v1/ledger")?;
    let ledger: Vec<&BookedEntry> = ledger.iter().filter(|e| e.entry.job_id == id).collect();
    let j = &view.job;
    let mut attempts: Vec<&Attempt> = view.attempts.iter().collect();
    attempts.sort_by_key(|a| a.attempt);
    let last = attempts.last().copied();
    let now = now_ms();

    println!("Job {} ({}): {}", j.id, j.name, j.state);
    let place = match last {
        Some(a) => offer_words(a),
        None => j.placement.backend.clone(),
    };
    println!(
        "  where:  {place}, {}",
        per_hour(last.map_or(j.placement.price_per_hour, |a| a.price_per_hour))
    );
    let mut reason = j.reason.clone().unwrap_or_else(|| "-".into());
    if let Some(code) = j.exit_code
        && !reason.contains(&format!("exit code {code}"))
    {
        reason.push_str(&format!(" (exit code {code})"));
    }
    println!("  reason: {reason}");
    let mut times = vec![format!("submitted {}", clock(j.submitted_at_ms))];
    if let Some(s) = j.started_at_ms {
        times.push(format!("started {}", clock(s)));
    }
    if let Some(f) = j.finished_at_ms {
        times.push(format!("finished {}", clock(f)));
    }
    if let Some(s) = j.started_at_ms {
        times.push(format!(
            "ran {}",
            duration(j.finished_at_ms.unwrap_or(now) - s)
        ));
    }
    println!("  times:  {} (UTC)", times.join(", "));
    let sum = |kind: Option<&str>| -> Micros {
        ledger
            .iter()
            .filter(|e| kind.is_none_or(|k| e.entry.kind == k))
            .map(|e| e.entry.amount)
            .sum()
    };
    if ledger.is_empty() {
        println!("  cost:   nothing booked yet");
    } else {
        let overhead = sum(Some(OVERHEAD));
        let split = if overhead == Micros::ZERO {
            String::new()
        } else {
            format!(
                " (run {}, overhead {}: the rented machine's provisioning and teardown)",
                sum(Some(COMPUTE)),
                overhead
            )
        };
        println!("  cost:   {}{split}", sum(None));
    }

    if attempts.is_empty() && is_rented(&j.placement.backend) {
        println!("\nNo attempt yet: no machine has been rented for it.");
    }
    if !attempts.is_empty() {
        println!();
        let mut tb = table::new(&[
            "N", "BACKEND", "OFFER", "SPOT", "$/H", "STEP", "INSTANCE", "CAUSE", "LIFE", "COST",
        ]);
        for a in &attempts {
            let offer = AttemptOffer::of(a);
            let cost: Vec<Micros> = ledger
                .iter()
                .filter(|e| e.entry.attempt == a.attempt)
                .map(|e| e.entry.amount)
                .collect();
            tb.add_row(vec![
                a.attempt.to_string(),
                a.backend.clone(),
                // Rented attempts name their offer; a run on this host, an owned machine or a
                // cluster is the backend itself.
                offer.as_ref().map_or("-".into(), |o| {
                    format!(
                        "{} {}",
                        o.planned.offer.instance_type,
                        tier_or_region(&o.planned.offer)
                    )
                }),
                offer
                    .as_ref()
                    .map_or("-", |o| if o.planned.offer.spot { "yes" } else { "no" })
                    .into(),
                table::money(Some(a.price_per_hour.as_usd())),
                a.step.to_string(),
                a.instance_id.clone().unwrap_or_else(|| "-".into()),
                match (&a.cause, &a.error) {
                    (Some(c), _) => c.describe(),
                    (None, Some(e)) => format!("error: {e}"),
                    (None, None) => "-".into(),
                },
                life(a, now),
                if cost.is_empty() {
                    "-".into()
                } else {
                    cost.into_iter().sum::<Micros>().to_string()
                },
            ]);
        }
        table::align_right(&mut tb, &[0, 4, 9]);
        println!("{tb}");
        // Where the provider reports what it charged, beside Ferry's figure.
        for a in &attempts {
            let Some(theirs) = a.provider_charge else {
                continue;
            };
            let ours: Micros = ledger
                .iter()
                .filter(|e| e.entry.attempt == a.attempt)
                .map(|e| e.entry.amount)
                .sum();
            let apart = (theirs.0 - ours.0).abs() * 100 > ours.0.max(1);
            println!(
                "Attempt {}: {} reports {theirs} charged; Ferry booked {ours}{}.",
                a.attempt,
                a.backend,
                if apart { " (over 1% apart)" } else { "" }
            );
        }
    }

    // Said plainly: the job is (or was) on a pricier offer than the plan's first, and why.
    let first = j.task["plan"][0]["offer"]["expected_price_per_hour"].as_f64();
    // (Only where the job got somewhere: when the last offer failed too, the list of
    // failed offers below says it all.)
    if let (Some(a), Some(first)) = (last, first)
        && !a.cause.as_ref().is_some_and(offer_failed)
        && Micros::from_usd(first).is_ok_and(|f| a.price_per_hour > f)
    {
        let same_offer = AttemptOffer::of(a).is_some_and(|o| o.plan_index == 0);
        if same_offer {
            println!(
                "Pricier than planned: the live quote for {} was {}, above the {} the plan expected.",
                offer_words(a),
                per_hour(a.price_per_hour),
                per_hour_usd(first)
            );
        } else {
            let first_offer =
                serde_json::from_value::<ferry_scheduler::PlannedOffer>(j.task["plan"][0].clone())
                    .map_or_else(|_| "the plan's first offer".into(), |p| planned_words(&p));
            println!(
                "Pricier than planned: the job {} on {} at {}; the plan's first offer, {}, was {}. The offers before it did not work out (below).",
                if j.state.is_terminal() {
                    "ended up"
                } else {
                    "is"
                },
                offer_words(a),
                per_hour(a.price_per_hour),
                first_offer,
                per_hour_usd(first)
            );
        }
    }
    let failed: Vec<&&Attempt> = attempts
        .iter()
        .filter(|a| a.cause.as_ref().is_some_and(offer_failed))
        .collect();
    if !failed.is_empty() {
        println!("Offers tried that failed:");
        for a in failed {
            let why = a.cause.as_ref().map(EndCause::describe).unwrap_or_default();
            println!(
                "  attempt {}: {} at {}: {why}{}",
                a.attempt,
                offer_words(a),
                per_hour(a.price_per_hour),
                a.error
                    .as_deref()
                    .map(|e| format!(": {e}"))
                    .unwrap_or_default()
            );
        }
    }

    println!("\nEvents (UTC):");
    for e in &view.events {
        println!("  {}  {}", clock(e.at_ms), e.detail);
    }
    Ok(ExitCode::SUCCESS)
}

/// The GPUS cell: how many, then which devices where Ferry hands them out (`2 (devices
/// 0,1)`), or who does (`2 (cluster)`, `1 (rented)`); `-` for CPU-only work. A count and a
/// device index are never written alike.
fn gpu_cell(devices: Option<&[u32]>, asked: u32, rented: bool) -> String {
    match devices {
        Some(d) if !d.is_empty() => {
            let list: Vec<String> = d.iter().map(u32::to_string).collect();
            format!(
                "{} ({} {})",
                d.len(),
                if d.len() == 1 { "device" } else { "devices" },
                list.join(",")
            )
        }
        _ if asked == 0 => "-".into(),
        _ => format!("{asked} ({})", if rented { "rented" } else { "cluster" }),
    }
}

/// Whether a job on this backend runs on rented machines (its attempts say where).
fn is_rented(backend: &str) -> bool {
    backend
        .parse::<ferry_backend::BackendId>()
        .is_ok_and(|b| b.rented().is_some())
}

/// An attempt that ended because its offer did not work out (not the job's own outcome).
fn offer_failed(cause: &EndCause) -> bool {
    matches!(
        cause,
        EndCause::NotCreated { .. }
            | EndCause::NotReady
            | EndCause::LaunchFailed
            | EndCause::Preempted
            | EndCause::NodeLost
    )
}

fn tier_or_region(o: &ferry_cloud::OfferRef) -> String {
    match &o.tier {
        Some(t) => format!("({t}, {})", o.region),
        None => format!("({})", o.region),
    }
}

fn planned_words(p: &ferry_scheduler::PlannedOffer) -> String {
    format!(
        "{} {} {}{}",
        p.backend,
        p.offer.instance_type,
        tier_or_region(&p.offer),
        if p.offer.spot { " spot" } else { "" }
    )
}

/// The attempt's offer in words: `runpod NVIDIA GeForce RTX 4090 (community, global)`.
fn offer_words(a: &Attempt) -> String {
    AttemptOffer::of(a).map_or_else(|| a.backend.clone(), |o| planned_words(&o.planned))
}

fn per_hour(m: Micros) -> String {
    per_hour_usd(m.as_usd())
}

fn per_hour_usd(usd: f64) -> String {
    format!("${}/h", table::money(Some(usd)))
}

/// From the create to the listing showing the machine gone: the time it may have billed.
fn life(a: &Attempt, now: i64) -> String {
    let Some(start) = a.create_sent_at_ms else {
        return if a.step == ferry_job::AttemptStep::Ended {
            "never created".into()
        } else {
            "-".into()
        };
    };
    match a.gone_at_ms {
        Some(end) => format!(
            "{} → {} ({})",
            time_of_day(start),
            time_of_day(end),
            duration(end - start)
        ),
        None if a.step.may_hold_machine() => format!(
            "{} → now ({} so far)",
            time_of_day(start),
            duration(now - start)
        ),
        None => format!("{} → ?", time_of_day(start)),
    }
}

/// Prints a job's output; with `follow`, until it ends. Returns the job's final record
/// when following.
pub fn print_logs(c: &Client, job: &str, follow: bool) -> Result<Option<JobRecord>> {
    let mut offset = 0u64;
    let mut out = std::io::stdout().lock();
    // While following, the steps of a rented machine (created, running, SSH answers, ...)
    // are said on stderr as they happen: provisioning can take minutes.
    let mut said = 0i64;
    let mut last_look = std::time::Instant::now();
    loop {
        let chunk: LogChunk = c.get(&format!("/v1/jobs/{job}/logs?offset={offset}"))?;
        out.write_all(chunk.data.as_bytes())?;
        out.flush()?;
        offset = chunk.next_offset;
        if !follow {
            return Ok(None);
        }
        if chunk.complete {
            let view: JobView = c.get(&format!("/v1/jobs/{job}"))?;
            say_steps(&view, &mut said);
            return Ok(Some(view.job));
        }
        if chunk.data.is_empty() {
            if last_look.elapsed() >= Duration::from_millis(500) {
                let view: JobView = c.get(&format!("/v1/jobs/{job}"))?;
                say_steps(&view, &mut said);
                last_look = std::time::Instant::now();
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

/// Prints the attempt events after `said` (a sequence number) on stderr.
fn say_steps(view: &JobView, said: &mut i64) {
    let from = *said;
    for e in view.events.iter().filter(|e| e.seq > from) {
        if e.kind == ferry_store::EventKind::Attempt {
            eprintln!("ferry: {}", e.detail);
        }
        *said = e.seq;
    }
}

pub fn logs(ctx: &Context, job: &str, follow: bool) -> Result<ExitCode> {
    let c = Client::connect_or_start(&ctx.paths.data_dir)?;
    let _: JobView = c.get(&format!("/v1/jobs/{job}"))?;
    print_logs(&c, job, follow)?;
    Ok(ExitCode::SUCCESS)
}

pub fn cancel(ctx: &Context, job: &str) -> Result<ExitCode> {
    let c = Client::connect_or_start(&ctx.paths.data_dir)?;
    let before: JobView = c.get(&format!("/v1/jobs/{job}"))?;
    if before.job.state.is_terminal() {
        println!("{job}: already {}; nothing to cancel.", before.job.state);
        return Ok(ExitCode::SUCCESS);
    }
    let rec: JobRecord = c.post(&format!("/v1/jobs/{job}/cancel"), &serde_json::json!({}))?;
    match rec.state {
        JobState::Cancelled => println!("{job}: cancelled."),
        _ if is_rented(&rec.placement.backend) => println!(
            "{job}: stopping; its rented machine is terminated (until the provider's listing shows it gone). `ferry status {job}` shows when it has ended."
        ),
        _ => println!(
            "{job}: stopping (SIGTERM to its processes, SIGKILL after 5 s); `ferry status` shows when it has ended."
        ),
    }
    Ok(ExitCode::SUCCESS)
}

/// A group of ledger entries: its total, and how much of it was run time and overhead.
#[derive(Default)]
struct Group {
    amount: Micros,
    entries: usize,
    run: Micros,
    overhead: Micros,
    storage: Micros,
    egress: Micros,
}

impl Group {
    fn add(&mut self, e: &ferry_store::LedgerEntry) {
        self.amount += e.amount;
        self.entries += 1;
        match e.kind.as_str() {
            COMPUTE => self.run += e.amount,
            OVERHEAD => self.overhead += e.amount,
            STORAGE => self.storage += e.amount,
            EGRESS => self.egress += e.amount,
            _ => {}
        }
    }
}

pub fn cost(ctx: &Context, grouping: CostGrouping, json: bool) -> Result<ExitCode> {
    let by = grouping.name();
    let c = Client::connect_or_start(&ctx.paths.data_dir)?;
    let ledger: Vec<BookedEntry> = c.get("/v1/ledger")?;
    let jobs: Vec<JobRecord> = c.get("/v1/jobs?limit=100000")?;
    // A rented job's attempts may each be at another provider: each charge goes to the
    // backend of its attempt.
    let mut attempt_backend: BTreeMap<(String, u32), String> = BTreeMap::new();
    if grouping == CostGrouping::Backend {
        for j in jobs.iter().filter(|j| is_rented(&j.placement.backend)) {
            if !ledger.iter().any(|e| e.entry.job_id == j.id) {
                continue;
            }
            let view: JobView = c.get(&format!("/v1/jobs/{}", j.id))?;
            for a in view.attempts {
                attempt_backend.insert((j.id.to_string(), a.attempt), a.backend);
            }
        }
    }
    let backend_of = |e: &ferry_store::LedgerEntry| {
        attempt_backend
            .get(&(e.job_id.to_string(), e.attempt))
            .cloned()
            .or_else(|| {
                jobs.iter()
                    .find(|j| j.id == e.job_id)
                    .map(|j| j.placement.backend.clone())
            })
            .unwrap_or_else(|| "?".to_string())
    };
    // Each cap's month as the server counts it (the one count the caps are enforced by).
    let budgets: Vec<ferry_scheduler::BudgetUse> = c.get("/v1/budgets")?;
    let mut groups: BTreeMap<String, Group> = BTreeMap::new();
    let mut all = Group::default();
    for e in &ledger {
        let key = match grouping {
            CostGrouping::Job => e.entry.job_id.to_string(),
            CostGrouping::Backend => backend_of(&e.entry),
            CostGrouping::Day => day(e.entry.at_ms),
            CostGrouping::Kind => e.entry.kind.clone(),
        };
        groups.entry(key).or_default().add(&e.entry);
        all.add(&e.entry);
    }
    if json {
        let rows: Vec<serde_json::Value> = groups
            .iter()
            .map(|(k, g)| {
                serde_json::json!({
                    by: k,
                    "amount_micros": g.amount.0,
                    "amount": g.amount.to_string(),
                    "entries": g.entries,
                    "run_micros": g.run.0,
                    "run": g.run.to_string(),
                    "overhead_micros": g.overhead.0,
                    "overhead": g.overhead.to_string(),
                    "storage_micros": g.storage.0,
                    "storage": g.storage.to_string(),
                    "egress_micros": g.egress.0,
                    "egress": g.egress.to_string(),
                })
            })
            .collect();
        print_json(&serde_json::json!({
            "by": by,
            "groups": rows,
            "total_micros": all.amount.0,
            "total": all.amount.to_string(),
            "run_total_micros": all.run.0,
            "run_total": all.run.to_string(),
            "overhead_total_micros": all.overhead.0,
            "overhead_total": all.overhead.to_string(),
            "storage_total_micros": all.storage.0,
            "storage_total": all.storage.to_string(),
            "egress_total_micros": all.egress.0,
            "egress_total": all.egress.to_string(),
            "budgets": budgets.iter().map(budget_json).collect::<Vec<_>>(),
        }))?;
        return Ok(ExitCode::SUCCESS);
    }
    // By kind, the kinds are the rows; otherwise each row splits the job's run time from
    // the machine's overhead, its disk and the data sent out.
    let split = grouping != CostGrouping::Kind;
    let header = by.to_uppercase();
    let mut tb = if split {
        table::new(&[
            &header, "ENTRIES", "RUN", "OVERHEAD", "STORAGE", "EGRESS", "COST",
        ])
    } else {
        table::new(&[&header, "ENTRIES", "COST"])
    };
    let row = |k: &str, g: &Group| {
        let mut r = vec![k.to_string(), g.entries.to_string()];
        if split {
            for part in [g.run, g.overhead, g.storage, g.egress] {
                r.push(part.to_string());
            }
        }
        r.push(g.amount.to_string());
        r
    };
    for (k, g) in &groups {
        tb.add_row(row(k, g));
    }
    tb.add_row(row("total", &all));
    if split {
        table::align_right(&mut tb, &[1, 2, 3, 4, 5, 6]);
    } else {
        table::align_right(&mut tb, &[1, 2]);
    }
    println!("{tb}");
    for b in &budgets {
        let what = b.scope.to_string();
        let mut what = what.chars();
        println!(
            "{}{} ({}): {} of {} booked, {} left{}; launches that would pass it are refused.",
            what.next()
                .map(|c| c.to_uppercase().to_string())
                .unwrap_or_default(),
            what.as_str(),
            b.month,
            b.booked,
            b.limit,
            b.left(),
            if b.committed > Micros::ZERO {
                format!(", {} more expected of unfinished jobs", b.committed)
            } else {
                String::new()
            }
        );
    }
    if all.overhead != Micros::ZERO {
        println!(
            "Overhead: rented machines' provisioning and teardown, billed by the provider all the same."
        );
    }
    println!("Owned hardware is booked at its amortised rate (docs/config.md), never $0.");
    Ok(ExitCode::SUCCESS)
}

/// One cap's month in `--json`: its scope, and each amount in the money shape.
fn budget_json(b: &ferry_scheduler::BudgetUse) -> serde_json::Value {
    let mut v = serde_json::to_value(&b.scope).expect("a scope serialises");
    let money = |m: Micros| (m.to_string(), m.0);
    for (key, m) in [
        ("limit", b.limit),
        ("booked", b.booked),
        ("committed", b.committed),
        ("left", b.left()),
    ] {
        let (text, micros) = money(m);
        v[key] = text.into();
        v[format!("{key}_micros")] = micros.into();
    }
    v["month"] = b.month.clone().into();
    v
}

fn day(ms: i64) -> String {
    ferry_catalog::Date::from_days_since_epoch(ms.div_euclid(86_400_000)).to_string()
}

/// `2026-11-23 14:02:11`, UTC.
fn clock(ms: i64) -> String {
    format!("{} {}", day(ms), time_of_day(ms))
}

/// `14:02:11`, UTC.
fn time_of_day(ms: i64) -> String {
    let s = ms.rem_euclid(86_400_000) / 1000;
    format!("{:02}:{:02}:{:02}", s / 3600, s % 3600 / 60, s % 60)
}

fn duration(ms: i64) -> String {
    let s = ms.max(0) / 1000;
    if s >= 3600 {
        format!("{}h{:02}m", s / 3600, (s % 3600) / 60)
    } else if s >= 60 {
        format!("{}m{:02}s", s / 60, s % 60)
    } else {
        format!("{:.1}s", ms.max(0) as f64 / 1000.0)
    }
}

fn now_ms() -> i64 {
    ferry_job::now_ms()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_gpu_count_and_device_indices_read_apart() {
        assert_eq!(gpu_cell(Some(&[0]), 1, false), "1 (device 0)");
        assert_eq!(gpu_cell(Some(&[2, 3]), 2, false), "2 (devices 2,3)");
        assert_eq!(gpu_cell(None, 4, false), "4 (cluster)");
        assert_eq!(gpu_cell(None, 1, true), "1 (rented)");
        assert_eq!(gpu_cell(None, 0, false), "-");
        assert_eq!(gpu_cell(Some(&[]), 0, false), "-");
    }
}
