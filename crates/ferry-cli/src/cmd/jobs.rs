//! `status`, `logs`, `cancel` and `cost`: clients of the server.

use super::print_json;
use crate::client::Client;
use crate::context::Context;
use crate::table;
use anyhow::{Result, bail};
use ferry_backend::LogChunk;
use ferry_job::{JobState, Micros};
use ferry_server::JobView;
use ferry_store::{BookedEntry, JobRecord};
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
        let ran = j
            .started_at_ms
            .map(|s| duration(j.finished_at_ms.unwrap_or(now) - s))
            .unwrap_or_else(|| "-".into());
        tb.add_row(vec![
            j.id.to_string(),
            j.name.clone(),
            j.state.to_string(),
            j.placement.backend.clone(),
            // Device indices where Ferry hands them out; a count where the cluster does.
            j.gpus.as_ref().map_or_else(
                || {
                    ferry_scheduler::JobPayload::from_value(&j.task)
                        .ok()
                        .filter(|p| p.gpus > 0)
                        .map_or("-".into(), |p| format!("{} (cluster)", p.gpus))
                },
                |g| g.iter().map(u32::to_string).collect::<Vec<_>>().join(","),
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

/// Prints a job's output; with `follow`, until it ends. Returns the job's final record
/// when following.
pub fn print_logs(c: &Client, job: &str, follow: bool) -> Result<Option<JobRecord>> {
    let mut offset = 0u64;
    let mut out = std::io::stdout().lock();
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
            return Ok(Some(view.job));
        }
        if chunk.data.is_empty() {
            std::thread::sleep(Duration::from_millis(100));
        }
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
        _ => println!(
            "{job}: stopping (SIGTERM to its processes, SIGKILL after 5 s); `ferry status` shows when it has ended."
        ),
    }
    Ok(ExitCode::SUCCESS)
}

pub fn cost(ctx: &Context, by: &str, json: bool) -> Result<ExitCode> {
    let c = Client::connect_or_start(&ctx.paths.data_dir)?;
    let ledger: Vec<BookedEntry> = c.get("/v1/ledger")?;
    let jobs: Vec<JobRecord> = c.get("/v1/jobs?limit=100000")?;
    let backend_of = |id: &str| {
        jobs.iter()
            .find(|j| j.id.as_str() == id)
            .map_or("?".to_string(), |j| j.placement.backend.clone())
    };
    let mut groups: BTreeMap<String, (Micros, usize)> = BTreeMap::new();
    for e in &ledger {
        let key = match by {
            "job" => e.entry.job_id.to_string(),
            "backend" => backend_of(e.entry.job_id.as_str()),
            "day" => day(e.entry.at_ms),
            other => bail!("--by: '{other}' is not a grouping (job, backend or day)"),
        };
        let g = groups.entry(key).or_default();
        g.0 += e.entry.amount;
        g.1 += 1;
    }
    let total: Micros = ledger.iter().map(|e| e.entry.amount).sum();
    if json {
        let rows: Vec<serde_json::Value> = groups
            .iter()
            .map(|(k, (m, n))| serde_json::json!({ by: k, "amount_micros": m.0, "amount": m.to_string(), "entries": n }))
            .collect();
        print_json(
            &serde_json::json!({ "by": by, "groups": rows, "total_micros": total.0, "total": total.to_string() }),
        )?;
        return Ok(ExitCode::SUCCESS);
    }
    let mut tb = table::new(&[&by.to_uppercase(), "ENTRIES", "COST"]);
    for (k, (m, n)) in &groups {
        tb.add_row(vec![k.clone(), n.to_string(), m.to_string()]);
    }
    tb.add_row(vec![
        "total".into(),
        ledger.len().to_string(),
        total.to_string(),
    ]);
    table::align_right(&mut tb, &[1, 2]);
    println!("{tb}");
    println!("Owned hardware is booked at its amortised rate (docs/config.md), never $0.");
    Ok(ExitCode::SUCCESS)
}

fn day(ms: i64) -> String {
    ferry_catalog::Date::from_days_since_epoch(ms.div_euclid(86_400_000)).to_string()
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
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}
