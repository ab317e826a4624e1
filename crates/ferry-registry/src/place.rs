//! The placement of a task: the one function that ranks where it could run and decides
//! the job to submit, run by the server for every launch and by `ferry launch --dry-run`.

use crate::context::Context;
use crate::error::{RegistryError, Result};
use ferry_catalog::{Category, GpuId};
use ferry_optimizer::{EnabledBackend, Plan, default_owned_price_per_gpu_hour, place_with};
use ferry_policy::PolicyKind;
use ferry_task::Task;

/// A task placed: the plan, and the job to submit or why there is none.
pub struct Decided {
    pub task: Task,
    pub plan: Plan,
    pub submit: std::result::Result<ferry_server::SubmitRequest, ferry_server::Refusal>,
}

/// Places a task with this config and these backends: the one placement, used by
/// `--dry-run` here and by the server for every real launch (so that it places with what
/// it can run). An `Err` is a task that cannot be read.
pub fn decide(ctx: &Context, req: &ferry_server::LaunchRequest) -> Result<Decided> {
    let task_file = req.task_file.as_path();
    let max_runtime = req.max_runtime.as_deref();
    let retry_until_up = req.retry_until_up.as_deref();
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
    let plan = place_with(&task, &catalog, &enabled, now, ctx.config.scheduler.policy);
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
    let chosen_is_rented = backend
        .parse::<ferry_backend::BackendId>()
        .is_ok_and(|b| b.rented().is_some());
    let offers = rented_offers(&plan, &task);
    // A rented job tries these in turn; a job on owned or academic GPUs under a policy
    // that bursts keeps them as where it may go if waiting there takes too long.
    let (plan_offers, burst) = match (chosen_is_rented, plan.policy) {
        (true, _) => (offers, vec![]),
        (false, PolicyKind::Cheapest) => (vec![], vec![]),
        (false, _) => (vec![], offers),
    };
    let deadline_ms = task.deadline.map(|d| match d {
        ferry_task::Deadline::Within { hours } => now * 1000 + (hours * 3_600_000.0) as i64,
        ferry_task::Deadline::At { unix_seconds } => unix_seconds * 1000,
    });
    let budget = task
        .budget
        .map(ferry_job::Micros::from_usd)
        .transpose()
        .map_err(|e| RegistryError::invalid(format!("budget: {e}")))?;
    let workdir = workdir
        .map(|w| {
            w.canonicalize().map_err(|source| RegistryError::Io {
                what: format!("workdir {}", w.display()),
                source,
            })
        })
        .transpose()?;
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
            burst,
            policy: plan.policy,
            deadline_ms,
            max_wait_s: task.max_wait_s,
            budget,
            user: req.user.clone(),
            project: req.project.clone(),
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
            price_per_hour: ferry_job::Micros::from_usd(chosen.price_per_hour)
                .map_err(|e| RegistryError::invalid(e.to_string()))?,
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
        let d = decide(&ctx, req).map_err(|e| e.to_string())?;
        Ok(ferry_server::Planned {
            plan: serde_json::to_value(&d.plan).map_err(|e| e.to_string())?,
            submit: d.submit,
        })
    })
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

/// The plan's runnable rented placements, best first: for a job placed on a rented
/// provider, a create refused for no capacity, quota or price moves to the next; for one
/// that may burst, where it goes.
fn rented_offers(plan: &Plan, task: &Task) -> Vec<ferry_scheduler::PlannedOffer> {
    plan.candidates
        .iter()
        .filter(|c| c.runnable())
        .filter_map(|c| {
            let backend = c.backend.clone()?;
            let kind = backend.parse::<ferry_backend::BackendId>().ok()?.rented()?;
            let (instance_type, tier) = kind.machine_type(&c.instance, &c.offering);
            Some(ferry_scheduler::PlannedOffer {
                category: Some(c.category.to_string()),
                backend,
                offer: ferry_cloud::OfferRef {
                    instance_type,
                    region: c.region.clone(),
                    gpu_count: c.gpus,
                    spot: c.spot,
                    expected_price_per_hour: c.price_per_hour,
                    max_price_per_hour: task.max_price,
                    tier,
                    vcpus: c.vcpus,
                },
                source: c.source.clone(),
                egress: ferry_scheduler::Egress::of(task.outputs_gb, c.egress_per_gb),
            })
        })
        .take(MAX_PLANNED_OFFERS)
        .collect()
}

/// `90m`, `12h`, `2d`, `3600` (seconds).
pub fn parse_duration_s(s: &str) -> Result<i64> {
    let t = s.trim();
    let (num, unit) = t.split_at(t.find(|c: char| c.is_ascii_alphabetic()).unwrap_or(t.len()));
    let n: f64 = num.trim().parse().map_err(|_| {
        RegistryError::invalid(format!(
            "--max-runtime: '{s}' is not a duration (e.g. 90m, 12h)"
        ))
    })?;
    let secs = match unit {
        "" | "s" => n,
        "m" => n * 60.0,
        "h" => n * 3600.0,
        "d" => n * 86_400.0,
        _ => {
            return Err(RegistryError::invalid(format!(
                "--max-runtime: unknown unit in '{s}' (s, m, h or d)"
            )));
        }
    };
    if secs.is_nan() || secs < 1.0 {
        return Err(RegistryError::invalid(
            "--max-runtime: must be at least 1 s",
        ));
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_as_written_and_bad_ones_say_why() {
        assert_eq!(parse_duration_s("90m").unwrap(), 5400);
        assert_eq!(parse_duration_s("12h").unwrap(), 43_200);
        assert_eq!(parse_duration_s("2d").unwrap(), 172_800);
        assert_eq!(parse_duration_s("3600").unwrap(), 3600);
        for (bad, says) in [
            ("soon", "not a duration"),
            ("5y", "unknown unit"),
            ("0s", "at least 1 s"),
        ] {
            let e = parse_duration_s(bad).unwrap_err().to_string();
            assert!(e.contains(says), "{bad}: {e}");
        }
    }

    #[test]
    fn a_task_asks_for_the_largest_disk_of_its_options() {
        let task = Task::parse(
            "resources:\n  any_of:\n    - {accelerators: A100:1, disk_size: 100}\n    - {accelerators: H100:1, disk_size: 250.5}\nrun: x\n",
            "t.yaml",
        )
        .unwrap();
        assert_eq!(chosen_disk_gb(&task), Some(251));
        let none = Task::parse("run: x\n", "t.yaml").unwrap();
        assert_eq!(chosen_disk_gb(&none), None);
    }
}
