mod advise;
mod catalog;
mod chart;
mod config;
mod gpus;
mod launch;
mod offers;

use crate::cli::{CatalogCommand, Cli, Command, ConfigCommand};
use crate::context::Context;
use anyhow::Result;
use std::process::ExitCode;

pub fn run(cli: Cli) -> Result<ExitCode> {
    let ctx = Context::load()?;
    match cli.command {
        Command::Gpus(args) => gpus::run(&ctx, &args),
        Command::Offers(args) => offers::run(&ctx, &args),
        Command::Advise(args) => advise::run(&ctx, &args),
        Command::Launch(args) => launch::run(&ctx, &args),
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
