use super::print_json;
use crate::context::Context;
use anyhow::Result;
use std::process::ExitCode;

pub fn path(ctx: &Context) -> Result<ExitCode> {
    let p = &ctx.paths.config_file;
    println!("{}", p.display());
    if !p.exists() {
        eprintln!(
            "(no file there yet: Ferry runs on its defaults; see docs/config.md for what it can hold)"
        );
    }
    Ok(ExitCode::SUCCESS)
}

pub fn show(ctx: &Context, json: bool) -> Result<ExitCode> {
    let masked = ctx.config.masked();
    if json {
        print_json(&masked)?;
    } else {
        println!("# {}", ctx.paths.config_file.display());
        print!("{}", toml::to_string_pretty(&masked)?);
    }
    Ok(ExitCode::SUCCESS)
}
