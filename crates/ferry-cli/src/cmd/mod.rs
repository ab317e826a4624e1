mod advise;
mod allocation;
mod backends;
mod catalog;
mod chart;
mod config;
mod gpus;
mod jobs;
mod launch;
mod offers;
mod server;
mod sim_chart;
mod simulate;
mod sweep;

use crate::cli::{CatalogCommand, Cli, Command, ConfigCommand};
use crate::context::Context;
use anyhow::Result;
use std::process::ExitCode;

pub fn run(cli: Cli) -> Result<ExitCode> {
    // A job's supervisor needs nothing else: not even a valid config.
    if let Command::Supervise { dir } = &cli.command {
        return Ok(ExitCode::from(
            ferry_backend::local::supervisor::supervise(dir) as u8,
        ));
    }
    let ctx = Context::load()?;
    match cli.command {
        Command::Gpus(args) => gpus::run(&ctx, &args),
        Command::Offers(args) => offers::run(&ctx, &args),
        Command::Advise(args) => advise::run(&ctx, &args),
        Command::Launch(args) => launch::run(&ctx, &args),
        Command::Simulate(args) => simulate::run(&ctx, &args),
        Command::Status { job, limit, json } => match job {
            Some(job) => jobs::show(&ctx, &job, json),
            None => jobs::status(&ctx, limit, json),
        },
        Command::Logs { job, follow } => jobs::logs(&ctx, &job, follow),
        Command::Cancel { job } => jobs::cancel(&ctx, &job),
        Command::Cost { by, json } => jobs::cost(&ctx, by, json),
        Command::Allocation { json } => allocation::run(&ctx, json),
        Command::Backends { json } => backends::run(&ctx, json),
        Command::Sweep { dry_run, json } => sweep::run(&ctx, dry_run, json),
        Command::Server { command } => server::run(&ctx, &command),
        Command::Supervise { .. } => unreachable!("handled above"),
        Command::Catalog { command } => match command {
            CatalogCommand::Status { json } => catalog::status(&ctx, json),
            CatalogCommand::Refresh { provider, json } => catalog::refresh(&ctx, &provider, json),
            CatalogCommand::Check { file } => catalog::check(&ctx, &file),
        },
        Command::Config { command } => match command {
            ConfigCommand::Path => config::path(&ctx),
            ConfigCommand::Show { json } => config::show(&ctx, json),
        },
    }
}

/// Writes CSV rows to stdout.
fn write_csv<T: serde::Serialize>(rows: impl IntoIterator<Item = T>) -> Result<()> {
    let mut w = csv::Writer::from_writer(std::io::stdout().lock());
    for r in rows {
        w.serialize(r)?;
    }
    w.flush()?;
    Ok(())
}

fn print_json<T: serde::Serialize>(value: &T) -> Result<()> {
    println!("{}", serde_json::to_string_pretty(value)?);
    Ok(())
}
