//! `ferry allocation`: each academic allocation, what Ferry's jobs used of it, what is left.

use super::print_json;
use crate::client::Client;
use crate::context::Context;
use crate::table;
use anyhow::Result;
use ferry_backend::slurm::accounting;
use ferry_scheduler::JobPayload;
use ferry_store::JobRecord;
use serde::Serialize;
use std::process::ExitCode;

#[derive(Debug, Serialize)]
struct Usage {
    cluster: String,
    account: String,
    /// The backend id jobs ran under (`slurm:narval`); `None` when no host is configured.
    backend: Option<String>,
    jobs: usize,
    gpu_hours: f64,
    rgu_years: f64,
    allocated_gpu_years: Option<f64>,
    allocated_rgu_years: Option<f64>,
    left_gpu_years: Option<f64>,
    left_rgu_years: Option<f64>,
    /// GPU models with no RGU weight (their hours are in `gpu_hours` only).
    unweighted: Vec<String>,
}

pub fn run(ctx: &Context, json: bool) -> Result<ExitCode> {
    let allocations = &ctx.config.academic;
    if allocations.is_empty() {
        if json {
            // The same shape as with allocations: none.
            print_json(&Vec::<Usage>::new())?;
            return Ok(ExitCode::SUCCESS);
        }
        println!(
            "No academic allocations in the config ({}). Add an [[academic]] entry (cluster, account, gpu_years or rgu_years; host to run there): see docs/config.md.",
            ctx.paths.config_file.display()
        );
        return Ok(ExitCode::SUCCESS);
    }
    let jobs: Vec<JobRecord> = if allocations.iter().any(|a| a.host.is_some()) {
        Client::connect_or_start(&ctx.paths.data_dir)?.get("/v1/jobs?limit=1000000")?
    } else {
        vec![]
    };
    let now = now_ms();
    let mut rows = vec![];
    for a in allocations {
        let backend = a
            .host
            .as_ref()
            .map(|_| ferry_backend::BackendId::slurm(&a.cluster).to_string());
        let mut u = Usage {
            cluster: a.cluster.clone(),
            account: a.account.clone(),
            backend: backend.clone(),
            jobs: 0,
            gpu_hours: 0.0,
            rgu_years: 0.0,
            allocated_gpu_years: a.gpu_years,
            allocated_rgu_years: a.rgu_years,
            left_gpu_years: None,
            left_rgu_years: None,
            unweighted: vec![],
        };
        for j in jobs
            .iter()
            .filter(|j| Some(&j.placement.backend) == backend.as_ref())
        {
            let Some(started) = j.started_at_ms else {
                continue;
            };
            let Ok(p) = JobPayload::from_value(&j.task) else {
                continue;
            };
            let hours = (j.finished_at_ms.unwrap_or(now) - started).max(0) as f64 / 3_600_000.0;
            u.jobs += 1;
            u.gpu_hours += f64::from(p.gpus) * hours;
            let model = p.gpu.unwrap_or_default();
            match accounting::rgu_years(&model, p.gpus, hours) {
                Some(r) => u.rgu_years += r,
                None if p.gpus > 0 && !u.unweighted.contains(&model) => u.unweighted.push(model),
                None => {}
            }
        }
        u.left_gpu_years = a.gpu_years.map(|y| y - u.gpu_hours / 8766.0);
        u.left_rgu_years = a.rgu_years.map(|y| y - u.rgu_years);
        rows.push(u);
    }
    if json {
        print_json(&rows)?;
        return Ok(ExitCode::SUCCESS);
    }
    let mut tb = table::new(&[
        "CLUSTER",
        "ACCOUNT",
        "JOBS",
        "GPU-H USED",
        "RGU-Y USED",
        "ALLOCATED",
        "LEFT",
    ]);
    for u in &rows {
        let (allocated, left) = match (u.allocated_rgu_years, u.allocated_gpu_years) {
            (Some(a), _) => (
                format!("{a} RGU-y"),
                format!("{:.4} RGU-y", u.left_rgu_years.unwrap_or(a)),
            ),
            (None, Some(a)) => (
                format!("{a} GPU-y"),
                format!(
                    "{:.4} GPU-y ({:.1} GPU-h)",
                    u.left_gpu_years.unwrap_or(a),
                    u.left_gpu_years.unwrap_or(a) * 8766.0
                ),
            ),
            (None, None) => ("-".into(), "-".into()),
        };
        tb.add_row(vec![
            u.cluster.clone(),
            u.account.clone(),
            if u.backend.is_some() {
                u.jobs.to_string()
            } else {
                "- (no host)".into()
            },
            format!("{:.3}", u.gpu_hours),
            format!("{:.6}", u.rgu_years),
            allocated,
            left,
        ]);
    }
    table::align_right(&mut tb, &[2, 3, 4]);
    println!("{tb}");
    for u in rows.iter().filter(|u| !u.unweighted.is_empty()) {
        println!(
            "{}: no RGU weight for {}; those GPU-hours are not in RGU-y.",
            u.cluster,
            u.unweighted.join(", ")
        );
    }
    println!("Counted from Ferry's jobs only; `sshare -U` on the cluster shows the whole account.");
    Ok(ExitCode::SUCCESS)
}

fn now_ms() -> i64 {
    ferry_job::now_ms()
}
