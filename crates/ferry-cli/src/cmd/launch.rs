use super::print_json;
use crate::cli::LaunchArgs;
use crate::context::Context;
use crate::table;
use anyhow::{Result, bail};
use ferry_optimizer::Plan;
use ferry_registry::place::decide;
use ferry_task::Task;
use std::process::ExitCode;

pub fn run(ctx: &Context, args: &LaunchArgs) -> Result<ExitCode> {
    let request = ferry_server::LaunchRequest {
        task_file: std::path::absolute(&args.task)?,
        max_runtime: args.max_runtime.clone(),
        retry_until_up: args.retry_until_up.clone(),
        user: Some(launching_user()),
        project: args.project.clone(),
    };
    if args.dry_run {
        // Placed here, as the server would place it, without starting one.
        let d = decide(ctx, &request)?;
        show_plan(ctx, args, &d.task, &d.plan)?;
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
    let client = crate::client::Client::connect_or_start(&ctx.paths.data_dir)?;
    let answer: ferry_server::LaunchAnswer = client.post("/v1/launch", &request)?;
    let plan: Plan = serde_json::from_value(answer.plan)?;
    if !args.detach || args.json {
        show_plan(ctx, args, &task, &plan)?;
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

/// The user a launch counts against (`[budget.users]`): the login name this runs as.
fn launching_user() -> String {
    ["USER", "LOGNAME"]
        .iter()
        .find_map(|v| std::env::var(v).ok().filter(|u| !u.trim().is_empty()))
        .unwrap_or_else(|| "unknown".into())
}

fn show_plan(ctx: &Context, args: &LaunchArgs, task: &Task, plan: &Plan) -> Result<()> {
    if args.json {
        print_json(plan)?;
    } else {
        print_plan(task, plan, args.limit);
        let shown = &plan.candidates[..plan.candidates.len().min(if args.limit == 0 {
            usize::MAX
        } else {
            args.limit
        })];
        if let Some(w) = super::offers::stale_warning(
            shown.iter().filter_map(|c| c.as_of),
            shown.len(),
            ctx.today,
            ctx.config.catalog.max_age_days,
            "placements",
        ) {
            eprintln!("{w}");
        }
    }
    Ok(())
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
        "AS OF",
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
            c.as_of.map_or_else(|| "-".to_string(), |d| d.to_string()),
            note,
        ]);
    }
    table::align_right(&mut tb, &[5, 6]);
    println!("{tb}");
    match plan.chosen.map(|i| &plan.candidates[i]) {
        Some(c) => {
            println!(
                "{} {} ({}), expected ${:.2}. {}",
                if plan.policy_note.is_some() {
                    "Placement:"
                } else {
                    "Best placement Ferry can run:"
                },
                c.backend.as_deref().unwrap_or("-"),
                c.instance,
                c.expected_usd,
                c.source
            );
            println!(
                "Policy {}: {}.",
                plan.policy,
                plan.policy_note
                    .clone()
                    .unwrap_or_else(|| plan.policy.explain().to_string())
            );
        }
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
