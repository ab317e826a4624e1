//! The Ferry server: an HTTP API over the scheduler, the store and the backends. It binds
//! to 127.0.0.1 by default and answers only requests that carry its bearer token, kept in
//! a file only the user can read. On one machine the CLI starts it on demand; for a team
//! it runs on its own.
//!
//! Files in the data folder: `ferry.db` (the store), `server.token`, `server.json` (pid and
//! address of the running server, written once it listens), `jobs/` (the local backend).

mod api;
mod files;
mod intake;

pub use api::{JobView, LaunchAnswer, LaunchRequest, Planned, Planner, Refusal, SubmitRequest};
pub use files::{ServerInfo, read_info, read_or_create_token};

use ferry_backend::local::LocalBackend;
use ferry_backend::{Backend, GpuDetection};
use ferry_scheduler::{Scheduler, SystemClock};
use ferry_store::SqliteStore;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

pub struct ServerConfig {
    pub data_dir: PathBuf,
    pub bind: SocketAddr,
    /// How a supervisor is started: program and leading arguments (`[ferry, __supervise]`).
    pub supervisor: Vec<String>,
    pub gpus: GpuDetection,
    pub tick: Duration,
    /// Other machines whose GPUs the scheduler hands out (owned hosts over SSH), with
    /// their device indices.
    pub pools: Vec<(Arc<dyn Backend>, Vec<u32>)>,
    /// Backends that queue work themselves (Slurm clusters).
    pub queueing: Vec<Arc<dyn Backend>>,
    /// How often a job on another machine is asked about.
    pub remote_poll: Duration,
    /// Providers machines are rented from (none: no rented work).
    pub rented: Option<ferry_scheduler::rented::Rented>,
    /// Places tasks for `/v1/launch` with this server's config and backends.
    pub planner: Option<Planner>,
    /// `[budget]`: launches that would pass a cap are refused, running jobs stopped
    /// before one is passed.
    pub budgets: ferry_scheduler::Budgets,
}

/// How often the orphan sweep runs, besides at start-up.
pub const SWEEP_EVERY: Duration = Duration::from_secs(300);

#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    #[error("{0}")]
    Store(#[from] ferry_store::StoreError),
    #[error("{what}: {source}")]
    Io {
        what: String,
        source: std::io::Error,
    },
    #[error("{0}")]
    Scheduler(#[from] ferry_scheduler::SchedulerError),
}

/// Runs the server until `POST /v1/shutdown` or the process is stopped.
pub async fn serve(cfg: ServerConfig) -> Result<(), ServerError> {
    let io = |what: &str| {
        let what = what.to_string();
        move |source| ServerError::Io { what, source }
    };
    std::fs::create_dir_all(&cfg.data_dir).map_err(io("creating the data folder"))?;
    // One server per data folder: two would schedule every job twice.
    let _lock = files::lock(&cfg.data_dir).map_err(io("locking the data folder"))?;
    let token = read_or_create_token(&cfg.data_dir).map_err(io("the token file"))?;
    let store = SqliteStore::open(&cfg.data_dir.join("ferry.db")).await?;
    let devices: Vec<u32> = cfg.gpus.devices.iter().map(|d| d.index).collect();
    let backend = LocalBackend::new(
        cfg.data_dir.clone(),
        cfg.gpus.clone(),
        cfg.supervisor.clone(),
    );
    let mut scheduler = Scheduler::new(
        Arc::new(store),
        Arc::new(backend),
        devices,
        Arc::new(SystemClock),
    );
    for (backend, devices) in cfg.pools {
        scheduler.add_pool(backend, devices);
    }
    for backend in cfg.queueing {
        scheduler.add_queueing_backend(backend);
    }
    scheduler.set_remote_poll(cfg.remote_poll);
    scheduler.set_budgets(cfg.budgets);
    if let Some(rented) = cfg.rented {
        scheduler.set_rented(rented);
    }
    let scheduler = Arc::new(scheduler);

    // Recovery is one pass of the scheduler: every unfinished job is reconciled with what
    // the backend says before anything new is accepted. Then the orphan sweep: rented
    // machines with this install's tag that no live attempt holds are terminated.
    report_errors(&scheduler.tick().await?);
    sweep(&scheduler).await;

    let listener = tokio::net::TcpListener::bind(cfg.bind)
        .await
        .map_err(io(&format!("binding {}", cfg.bind)))?;
    let addr = listener
        .local_addr()
        .map_err(io("reading the bound address"))?;
    let (stop_tx, mut stop_rx) = tokio::sync::watch::channel(false);
    let kick = Arc::new(tokio::sync::Notify::new());
    let state = api::State {
        intake: intake::Intake::start(scheduler.store().clone(), kick.clone()),
        scheduler: scheduler.clone(),
        planner: cfg.planner.clone(),
        token,
        stop: stop_tx.clone(),
        gpus: cfg.gpus.clone(),
    };
    let app = api::router(state);

    let ticker = {
        let scheduler = scheduler.clone();
        let mut stop = stop_tx.subscribe();
        let every = cfg.tick;
        tokio::spawn(async move {
            let mut last_sweep = std::time::Instant::now();
            loop {
                tokio::select! {
                    _ = tokio::time::sleep(every) => {}
                    // New work committed: a pass now rather than at the next tick.
                    _ = kick.notified() => {}
                    _ = stop.changed() => break,
                }
                match scheduler.tick().await {
                    Ok(t) => report_errors(&t),
                    Err(e) => eprintln!("ferry server: scheduler pass failed: {e}"),
                }
                if last_sweep.elapsed() >= SWEEP_EVERY {
                    last_sweep = std::time::Instant::now();
                    sweep(&scheduler).await;
                }
            }
        })
    };
    files::write_info(
        &cfg.data_dir,
        &ServerInfo {
            pid: std::process::id(),
            addr: addr.to_string(),
        },
    )
    .map_err(io("writing server.json"))?;
    eprintln!(
        "ferry server: listening on http://{addr} (data in {})",
        cfg.data_dir.display()
    );

    let shutdown = async move {
        let term = async {
            #[cfg(unix)]
            {
                if let Ok(mut s) =
                    tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
                {
                    s.recv().await;
                }
            }
        };
        tokio::select! {
            _ = stop_rx.changed() => {}
            _ = term => {}
            _ = tokio::signal::ctrl_c() => {}
        }
    };
    let served = axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await;
    let _ = stop_tx.send(true);
    let _ = ticker.await;
    files::remove_info(&cfg.data_dir, std::process::id());
    served.map_err(io("serving"))?;
    Ok(())
}

/// The orphan sweep, with what it did in the log.
async fn sweep(scheduler: &Scheduler) {
    match scheduler.sweep(false).await {
        Ok(found) => {
            for f in found.iter().filter(|f| f.outcome.is_some()) {
                eprintln!(
                    "ferry server: sweep: {} instance {} ({}) has Ferry's tag and no live attempt: {}",
                    f.provider,
                    f.instance,
                    f.name,
                    f.outcome.as_deref().unwrap_or("")
                );
            }
        }
        Err(e) => eprintln!("ferry server: sweep failed: {e} (tried again later)"),
    }
}

/// Backends that could not be asked are retried on the next pass; the log says why.
fn report_errors(tick: &ferry_scheduler::Tick) {
    for (job, e) in &tick.errors {
        eprintln!("ferry server: job {job}: {e} (asking again on the next pass)");
    }
    for job in &tick.budget_stopped {
        eprintln!("ferry server: job {job}: stopping it, the monthly budget would be passed");
    }
}
