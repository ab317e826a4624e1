use crate::cli::ServerCommand;
use crate::client::Client;
use crate::context::Context;
use anyhow::{Context as _, Result, bail};
use std::process::ExitCode;
use std::time::{Duration, Instant};

pub fn run(ctx: &Context, command: &ServerCommand) -> Result<ExitCode> {
    let data = &ctx.paths.data_dir;
    match command {
        ServerCommand::Run { bind } => {
            let mut cfg = ferry_server::ServerConfig {
                data_dir: data.clone(),
                bind: bind.parse().with_context(|| {
                    format!("--bind: '{bind}' is not an address (e.g. 127.0.0.1:7878)")
                })?,
                supervisor: vec![
                    std::env::current_exe()?.display().to_string(),
                    "__supervise".into(),
                ],
                gpus: ctx.local_gpus(),
                tick: Duration::from_millis(200),
                pools: vec![],
                queueing: vec![],
                remote_poll: remote_poll()?,
                rented: crate::backends::rented(ctx)?,
                // Placement is decided here, with this server's config and backends.
                planner: Some(ferry_registry::place::planner(
                    crate::context::Context::load()?,
                )),
                budgets: budgets(ctx)?,
            };
            let catalog = ctx.catalog()?;
            let control = ctx.paths.data_dir.join("ssh");
            std::fs::create_dir_all(&control)?;
            for remote in crate::backends::remotes(ctx, &catalog)? {
                let backend = remote.backend(&control);
                match remote.devices() {
                    Some(devices) => cfg.pools.push((backend, devices)),
                    None => cfg.queueing.push(backend),
                }
            }
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()?;
            rt.block_on(ferry_server::serve(cfg))?;
            Ok(ExitCode::SUCCESS)
        }
        ServerCommand::Start => {
            let c = Client::connect_or_start(data)?;
            println!(
                "Ferry server running: pid {}, http://{}",
                c.info.pid, c.info.addr
            );
            Ok(ExitCode::SUCCESS)
        }
        ServerCommand::Stop => {
            let Some(c) = Client::connect(data)? else {
                println!("No Ferry server is running.");
                return Ok(ExitCode::SUCCESS);
            };
            let pid = c.info.pid;
            let _: serde_json::Value = c
                .post("/v1/shutdown", &serde_json::json!({}))
                .or_else(|_| Ok::<_, anyhow::Error>(serde_json::Value::Null))?;
            let deadline = Instant::now() + Duration::from_secs(10);
            // SAFETY: signal 0 only checks whether the pid still exists.
            while unsafe { libc::kill(pid as i32, 0) } == 0 {
                if Instant::now() > deadline {
                    bail!("the Ferry server (pid {pid}) did not stop within 10 s");
                }
                std::thread::sleep(Duration::from_millis(30));
            }
            println!(
                "Stopped the Ferry server (pid {pid}). Running jobs carry on and are picked up at the next start."
            );
            Ok(ExitCode::SUCCESS)
        }
        ServerCommand::Status { json } => {
            let store = data.join(ferry_store::DEFAULT_FILE_NAME);
            match Client::connect(data)? {
                Some(c) => {
                    let health: serde_json::Value = c.get("/v1/health")?;
                    let gpus = &health["gpus"];
                    if *json {
                        super::print_json(&serde_json::json!({
                            "running": true,
                            "version": health["version"],
                            "pid": c.info.pid,
                            "url": format!("http://{}", c.info.addr),
                            "data_dir": data,
                            "store": store,
                            "gpus": gpus,
                        }))?;
                        return Ok(ExitCode::SUCCESS);
                    }
                    println!(
                        "running: pid {}, http://{}, version {}, data in {}",
                        c.info.pid,
                        c.info.addr,
                        health["version"].as_str().unwrap_or("?"),
                        data.display()
                    );
                    println!(
                        "GPUs: {} ({}: {})",
                        gpus["devices"].as_array().map_or(0, |d| d.len()),
                        gpus["source"].as_str().unwrap_or("?"),
                        gpus["detail"].as_str().unwrap_or("")
                    );
                    Ok(ExitCode::SUCCESS)
                }
                None => {
                    if *json {
                        super::print_json(&serde_json::json!({
                            "running": false,
                            "version": env!("CARGO_PKG_VERSION"),
                            "data_dir": data,
                            "store": store,
                        }))?;
                    } else {
                        println!(
                            "not running (it starts on demand; data in {})",
                            data.display()
                        );
                    }
                    Ok(ExitCode::from(3))
                }
            }
        }
    }
}

/// `FERRY_REMOTE_POLL_MS`: how often jobs on other machines are asked about (default 1000).
fn remote_poll() -> Result<Duration> {
    match std::env::var("FERRY_REMOTE_POLL_MS") {
        Ok(v) => Ok(Duration::from_millis(v.trim().parse().with_context(
            || format!("FERRY_REMOTE_POLL_MS: '{v}' is not a number of milliseconds"),
        )?)),
        Err(_) => Ok(ferry_scheduler::REMOTE_POLL),
    }
}

/// `[budget]`, in exact money.
fn budgets(ctx: &Context) -> Result<ferry_scheduler::Budgets> {
    let b = &ctx.config.budget;
    let money = |what: String, usd: f64| {
        ferry_job::Micros::from_usd(usd).map_err(|e| anyhow::anyhow!("{what}: {e}"))
    };
    let each = |what: &str, caps: &std::collections::BTreeMap<String, f64>| {
        caps.iter()
            .map(|(k, v)| Ok((k.clone(), money(format!("budget.{what}.{k}"), *v)?)))
            .collect::<Result<std::collections::BTreeMap<_, _>>>()
    };
    Ok(ferry_scheduler::Budgets {
        monthly: b
            .monthly_usd
            .map(|m| money("budget.monthly_usd".into(), m))
            .transpose()?,
        users: each("users", &b.users)?,
        projects: each("projects", &b.projects)?,
    })
}
