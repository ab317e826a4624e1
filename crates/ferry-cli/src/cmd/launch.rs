use super::print_json;
use crate::cli::LaunchArgs;
use crate::context::Context;
use crate::table;
use anyhow::{Result, bail};
use ferry_catalog::{Category, GpuId};
use ferry_optimizer::{EnabledBackend, Plan, default_owned_price_per_gpu_hour, place};
use ferry_task::Task;
use std::process::ExitCode;

/// A task placed: the plan, and the job to submit or why there is none.
pub struct Decided {
    pub task: Task,
    pub plan: Plan,
    pub submit: std::result::Result<ferry_server::SubmitRequest, ferry_server::Refusal>,
}

/// Places a task with this config and these backends: the one placement, used by
/// `--dry-run` here and by the server for every real launch (so that it places with what
/// it can run). An `Err` is a task that cannot be read.
pub fn decide(
    ctx: &Context,
    task_file: &std::path::Path,
    max_runtime: Option<&str>,
    retry_until_up: Option<&str>,
) -> Result<Decided> {
    let file = task_file.display().to_string();
    let task = Task::from_file(task_file)?;
    let base = task_file
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(std::path::Path::new("."));
    let workdir = task.check_paths(base, &file)?;
    let max_runtime_flag = max_runtime.map(parse_duration_s).transpose()?;
    let retry_until_up_s = retry_until_up
        .map(parse_duration_s)
        .transpose()?
        .map(|s| s as u64);
    let mut catalog = ctx.catalog()?;
    catalog.drop_superseded();
    let remotes = crate::backends::remotes(ctx, &catalog)?;
    let mut enabled = vec![this_host(ctx, &catalog)];
    enabled.extend(enabled_remotes(ctx, &catalog, &task, &remotes));
    enabled.extend(crate::backends::rented_enabled(ctx, &catalog));
    let now = ferry_job::now_ms() / 1000;
    let plan = place(&task, &catalog, &enabled, now);
    let refuse = |nothing_fits: bool, message: String| ferry_server::Refusal {
        nothing_fits,
        message,
    };
    if plan.candidates.iter().all(|c| !c.feasible()) {
        let submit = Err(refuse(
            true,
            "No placement fits this task: each candidate's reason is listed above.".into(),
        ));
        return Ok(Decided { task, plan, submit });
    }
    let Some(chosen) = plan.chosen.map(|i| plan.candidates[i].clone()) else {
        let why: Vec<String> = plan
            .candidates
            .iter()
            .filter_map(|c| {
                Some(format!(
                    "\n  {}: {}",
                    c.backend.as_ref()?,
                    c.excluded.join("; ")
                ))
            })
            .collect();
        let submit = Err(refuse(
            false,
            format!(
                "no configured backend can run this task (Ferry runs work on this host, [[owned]] machines with a host, [[academic]] clusters with a host, and providers with launch = true and an API key); the plan above ranks where it could run.{}",
                why.concat()
            ),
        ));
        return Ok(Decided { task, plan, submit });
    };
    let backend = chosen.backend.clone().unwrap_or_default();
    let slurm = remotes.iter().find_map(|r| match r {
        crate::backends::Remote::Slurm { site, .. } if site.id == backend => Some(&**site),
        _ => None,
    });
    let max_runtime_s = match (max_runtime_flag, slurm) {
        (Some(s), _) => Some(s),
        // Slurm needs a wall time: the estimate and a margin, within the partition's cap.
        (None, Some(site)) => Some(crate::backends::slurm_time(site, plan.hours).as_secs() as i64),
        (None, None) => ctx
            .config
            .local
            .max_runtime_hours
            .map(|h| (h * 3600.0) as i64),
    };
    if let (Some(site), Some(secs)) = (slurm, max_runtime_s)
        && let Err(e) = ferry_backend::slurm::backend::SlurmBackend::new((*site).clone())
            .check_walltime(std::time::Duration::from_secs(secs.max(0) as u64))
    {
        // Refused here, with the reason, rather than by the cluster later.
        let submit = Err(refuse(false, e.to_string()));
        return Ok(Decided { task, plan, submit });
    }
    let plan_offers = rented_plan(&plan, &task, &backend);
    let workdir = workdir.map(|w| w.canonicalize()).transpose()?;
    let request = ferry_server::SubmitRequest {
        name: task.name.clone(),
        payload: ferry_scheduler::JobPayload {
            gpus: chosen.gpus,
            gpu: chosen.gpu.clone(),
            workdir,
            envs: task.envs.clone(),
            setup: task.setup.clone(),
            run: task.run.clone(),
            estimated_hours: task.estimated_hours,
            plan: plan_offers,
            max_restarts: task
                .max_restarts
                .unwrap_or(ferry_scheduler::DEFAULT_MAX_RESTARTS),
            retry_until_up_s,
            disk_gb: chosen_disk_gb(&task),
        },
        placement: ferry_store::Placement {
            backend,
            provider: chosen.category.to_string(),
            offer: chosen.source.clone(),
            price_per_hour: ferry_job::Micros::from_usd(chosen.price_per_hour)?,
        },
        max_runtime_s,
    };
    Ok(Decided {
        task,
        plan,
        submit: Ok(request),
    })
}

/// The server's planner: [`decide`] with the server's own config, for `/v1/launch`.
pub fn planner(ctx: Context) -> ferry_server::Planner {
    std::sync::Arc::new(move |req: &ferry_server::LaunchRequest| {
        let d = decide(
            &ctx,
            &req.task_file,
            req.max_runtime.as_deref(),
            req.retry_until_up.as_deref(),
        )
        .map_err(|e| format!("{e:#}"))?;
        Ok(ferry_server::Planned {
            plan: serde_json::to_value(&d.plan).map_err(|e| e.to_string())?,
            submit: d.submit,
        })
    })
}

pub fn run(ctx: &Context, args: &LaunchArgs) -> Result<ExitCode> {
    if args.dry_run {
        // Placed here, as the server would place it, without starting one.
        let d = decide(
            ctx,
            &args.task,
            args.max_runtime.as_deref(),
            args.retry_until_up.as_deref(),
        )?;
        show_plan(args, &d.task, &d.plan)?;
        if let Err(r) = &d.submit
            && r.nothing_fits
        {
            eprintln!("{}", r.message);
            return Ok(ExitCode::from(1));
        }
        return Ok(ExitCode::SUCCESS);
    }
    // Read here first: a task with a mistake is refused before any server starts.
    let task = Task::from_file(&args.task)?;
    let task_file = std::path::absolute(&args.task)?;
    let client = crate::client::Client::connect_or_start(&ctx.paths.data_dir)?;
    let answer: ferry_server::LaunchAnswer = client.post(
        "/v1/launch",
        &ferry_server::LaunchRequest {
            task_file,
            max_runtime: args.max_runtime.clone(),
            retry_until_up: args.retry_until_up.clone(),
        },
    )?;
    let plan: Plan = serde_json::from_value(answer.plan)?;
    if !args.detach || args.json {
        show_plan(args, &task, &plan)?;
    }
    let rec = match (answer.job, answer.refused) {
        (Some(rec), _) => rec,
        (None, Some(r)) if r.nothing_fits => {
            eprintln!("{}", r.message);
            return Ok(ExitCode::from(1));
        }
        (None, Some(r)) => bail!("{}", r.message),
        (None, None) => bail!("the server placed the task but submitted no job"),
    };
    eprintln!(
        "ferry: job {} {} on {} ({}/h)",
        rec.id, rec.state, rec.placement.backend, rec.placement.price_per_hour
    );
    if args.detach {
        println!("{}", rec.id);
        return Ok(ExitCode::SUCCESS);
    }
    let end = super::jobs::print_logs(&client, rec.id.as_str(), true)?
        .expect("following returns the end");
    eprintln!(
        "ferry: job {} {}{}",
        end.id,
        end.state,
        end.reason
            .as_deref()
            .map(|r| format!(" ({r})"))
            .unwrap_or_default()
    );
    Ok(match (end.state, end.exit_code) {
        (ferry_job::JobState::Succeeded, _) => ExitCode::SUCCESS,
        (_, Some(code)) if (1..=255).contains(&code) => ExitCode::from(code as u8),
        _ => ExitCode::from(1),
    })
}

fn show_plan(args: &LaunchArgs, task: &Task, plan: &Plan) -> Result<()> {
    if args.json {
        print_json(plan)?;
    } else {
        print_plan(task, plan, args.limit);
    }
    Ok(())
}

/// The disk the task asks for (`disk_size`, the largest of its options), whole GB.
fn chosen_disk_gb(task: &Task) -> Option<u32> {
    task.resources
        .iter()
        .filter_map(|r| r.disk_size_gb)
        .fold(None, |m: Option<f64>, d| Some(m.map_or(d, |m| m.max(d))))
        .map(|d| d.ceil().clamp(1.0, 65_536.0) as u32)
}

/// Offers tried for rented work, best first, before the job fails (dstack tries 25).
const MAX_PLANNED_OFFERS: usize = 10;

/// For a job placed on a rented provider: the plan's runnable rented placements, best
/// first, so that a create refused for no capacity, quota or price moves to the next.
fn rented_plan(
    plan: &Plan,
    task: &Task,
    chosen_backend: &str,
) -> Vec<ferry_scheduler::PlannedOffer> {
    if chosen_backend
        .parse::<ferry_backend::BackendId>()
        .map_or(true, |b| b.rented().is_none())
    {
        return vec![];
    }
    plan.candidates
        .iter()
        .filter(|c| c.runnable())
        .filter_map(|c| {
            let backend = c.backend.clone()?;
            let kind = backend.parse::<ferry_backend::BackendId>().ok()?.rented()?;
            let (instance_type, tier) = kind.machine_type(&c.instance, &c.offering);
            Some(ferry_scheduler::PlannedOffer {
                backend,
                offer: ferry_cloud::OfferRef {
                    instance_type,
                    region: c.region.clone(),
                    gpu_count: c.gpus,
                    spot: c.spot,
                    expected_price_per_hour: c.price_per_hour,
                    max_price_per_hour: task.max_price,
                    tier,
                },
                source: c.source.clone(),
            })
        })
        .take(MAX_PLANNED_OFFERS)
        .collect()
}

/// `90m`, `12h`, `2d`, `3600` (seconds).
fn parse_duration_s(s: &str) -> Result<i64> {
    let t = s.trim();
    let (num, unit) = t.split_at(t.find(|c: char| c.is_ascii_alphabetic()).unwrap_or(t.len()));
    let n: f64 = num
        .trim()
        .parse()
        .map_err(|_| anyhow::anyhow!("--max-runtime: '{s}' is not a duration (e.g. 90m, 12h)"))?;
    let secs = match unit {
        "" | "s" => n,
        "m" => n * 60.0,
        "h" => n * 3600.0,
        "d" => n * 86_400.0,
        _ => bail!("--max-runtime: unknown unit in '{s}' (s, m, h or d)"),
    };
    if secs.is_nan() || secs < 1.0 {
        bail!("--max-runtime: must be at least 1 s");
    }
    Ok(secs as i64)
}

/// The config's SSH hosts and Slurm clusters, with each cluster's queue wait for this task
/// by `sbatch --test-only` (when the task may run on academic clusters at all). A cluster
/// that cannot be asked is listed with the reason and excluded.
fn enabled_remotes(
    ctx: &Context,
    catalog: &ferry_catalog::Catalog,
    task: &Task,
    remotes: &[crate::backends::Remote],
) -> Vec<EnabledBackend> {
    let wants_academic =
        task.categories.is_empty() || task.categories.contains(&Category::Academic);
    let gpus = task
        .resources
        .iter()
        .flat_map(|r| r.accelerators.iter().map(|a| a.count))
        .max()
        .unwrap_or(0);
    let hours = task
        .estimated_hours
        .unwrap_or(ferry_optimizer::DEFAULT_HOURS);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime");
    remotes
        .iter()
        .map(|r| {
            let mut e = r.enabled(ctx, catalog);
            if wants_academic && e.category == Category::Academic {
                match rt.block_on(r.estimate_wait(gpus, hours)) {
                    Ok(w) => e.wait_hours = w,
                    Err(why) => e.unavailable = Some(why),
                }
            }
            e
        })
        .collect()
}

/// This host as a backend: its GPUs from NVML (none without a driver), priced from an
/// `[[owned]]` entry without a `host`, else at a stated default.
pub fn this_host(ctx: &Context, catalog: &ferry_catalog::Catalog) -> EnabledBackend {
    let detected = ctx.local_gpus();
    let mut gpus: Vec<(GpuId, u32)> = vec![];
    for d in &detected.devices {
        if let Ok(id) = catalog.table.resolve_one(&d.name) {
            match gpus.iter_mut().find(|(g, _)| *g == id) {
                Some((_, n)) => *n += 1,
                None => gpus.push((id, 1)),
            }
        }
    }
    let (price, basis) = match gpus.first() {
        None => (
            None,
            format!(
                "this host: no GPU ({}); CPU time is not priced",
                detected.detail
            ),
        ),
        Some((id, _)) => {
            let owned = ctx
                .config
                .owned_offers(catalog.table, ctx.today)
                .into_iter()
                .find(|o| o.gpu == *id && o.instance_type == "this host");
            match owned {
                Some(o) => (
                    o.price_hour.map(|p| p / f64::from(o.gpu_count)),
                    format!("this host, [[owned]] {}: {}", o.offering, o.source),
                ),
                None => {
                    let (p, why) = default_owned_price_per_gpu_hour(catalog, *id);
                    (Some(p), why)
                }
            }
        }
    };
    EnabledBackend::holding("local".into(), Category::Owned, gpus, price, basis)
}

fn print_plan(task: &Task, plan: &Plan, limit: usize) {
    let wants: Vec<String> = task
        .resources
        .iter()
        .map(|r| {
            if r.accelerators.is_empty() {
                "CPU only".to_string()
            } else {
                r.accelerators
                    .iter()
                    .map(|a| format!("{}:{}", a.name, a.count))
                    .collect::<Vec<_>>()
                    .join(" or ")
            }
        })
        .collect();
    println!(
        "Task {}: {}; {} h{}.",
        task.name,
        wants.join(" / "),
        plan.hours,
        if plan.hours_defaulted {
            " (no estimated_hours: 1 h assumed)"
        } else {
            ""
        }
    );
    let mut tb = table::new(&[
        "#",
        "RUNS ON",
        "CATEGORY",
        "WHERE",
        "GPUS",
        "$/H",
        "EXPECTED $",
        "NOTE",
    ]);
    let shown = if limit == 0 {
        plan.candidates.len()
    } else {
        limit.min(plan.candidates.len())
    };
    for (i, c) in plan.candidates.iter().take(shown).enumerate() {
        let note = if !c.excluded.is_empty() {
            format!("excluded: {}", c.excluded.join("; "))
        } else {
            c.notes.join("; ")
        };
        tb.add_row(vec![
            if Some(i) == plan.chosen {
                "→".into()
            } else {
                (i + 1).to_string()
            },
            c.backend.clone().unwrap_or_else(|| "-".into()),
            c.category.to_string(),
            // A rented provider's row is the offer it would rent; a configured backend is
            // its own place; a catalog offer is a provider's.
            if c.backend.as_deref().is_some_and(|b| {
                b.parse::<ferry_backend::BackendId>()
                    .is_ok_and(|b| b.rented().is_some())
            }) {
                format!(
                    "{} {} {} {} (rented)",
                    c.provider, c.offering, c.region, c.instance
                )
            } else if c.backend.as_deref() == Some(c.provider.as_str()) {
                "configured backend".to_string()
            } else {
                format!("{} {} {}", c.provider, c.region, c.instance)
            },
            format!("{} {}", c.gpus, c.gpu.as_deref().unwrap_or("")),
            table::money(Some(c.price_per_hour)),
            table::money(Some(c.expected_usd)),
            note,
        ]);
    }
    table::align_right(&mut tb, &[5, 6]);
    println!("{tb}");
    match plan.chosen.map(|i| &plan.candidates[i]) {
        Some(c) => println!(
            "Best placement Ferry can run: {} ({}), expected ${:.2}. {}",
            c.backend.as_deref().unwrap_or("-"),
            c.instance,
            c.expected_usd,
            c.source
        ),
        None => {
            if let Some(c) = plan.candidates.iter().find(|c| c.feasible()) {
                println!(
                    "Cheapest fit: {} {} {} at ${:.2}/h (backend not configured); no configured backend can run this task.",
                    c.provider, c.region, c.instance, c.price_per_hour
                );
            }
        }
    }
    if shown < plan.candidates.len() {
        println!(
            "{} more placements (--limit 0 shows all).",
            plan.candidates.len() - shown
        );
    }
    println!("Egress is counted as $0: task files give no data volumes yet.");
}
