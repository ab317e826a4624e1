//! `ferry`: a thin binary over Ferry's library crates.

mod cli;
mod client;
mod cmd;
mod table;

// The registry and the context live in their own crate, shared with the server.
use ferry_registry::{backends, context};

use clap::Parser;
use std::process::ExitCode;

fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    match cmd::run(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(1)
        }
    }
}
