//! `ferry sweep`: a client of the server's orphan sweep. Every instance each rented
//! provider lists is judged by its name: Ferry's (this install's lease name) and held by a
//! live attempt, Ferry's and held by none (an orphan: terminated), or not Ferry's (never
//! touched).

use super::print_json;
use crate::client::Client;
use crate::context::Context;
use crate::table;
use anyhow::Result;
use ferry_scheduler::rented::{SweepFinding, SweepVerdict};
use std::process::ExitCode;

pub fn run(ctx: &Context, dry_run: bool, json: bool) -> Result<ExitCode> {
    let c = Client::connect_or_start(&ctx.paths.data_dir)?;
    let found: Vec<SweepFinding> = c.post(
        &format!("/v1/sweep?dry_run={dry_run}"),
        &serde_json::json!({}),
    )?;
    let failed = found
        .iter()
        .filter(|f| f.verdict == SweepVerdict::Orphan && !dry_run && !terminated(f))
        .count();
    let code = if failed > 0 {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    };
    if json {
        print_json(&found)?;
        return Ok(code);
    }
    if found.is_empty() {
        let providers = ferry_registry::rented::rented_providers(ctx, None);
        if providers.ready.is_empty() {
            println!(
                "No rented provider to sweep: [providers.NAME] launch = true with its credentials adds one (RunPod, Lambda, Vast.ai, Paperspace, AWS, Google Cloud, Azure)."
            );
        } else {
            let names: Vec<&str> = providers.ready.iter().map(|r| r.kind.id()).collect();
            println!("No instances at {}: nothing to sweep.", names.join(", "));
        }
        return Ok(code);
    }
    let mut tb = table::new(&[
        "PROVIDER", "INSTANCE", "NAME", "STATUS", "VERDICT", "OUTCOME",
    ]);
    for f in &found {
        tb.add_row(vec![
            f.provider.clone(),
            f.instance.clone(),
            f.name.clone(),
            f.status.clone(),
            verdict(f.verdict).into(),
            outcome(f, dry_run),
        ]);
    }
    println!("{tb}");
    println!("{}", summary(&found, dry_run));
    if failed > 0 {
        eprintln!(
            "ferry sweep: {failed} terminate(s) failed; the server tries again at its next sweep (every 5 minutes), or run `ferry sweep` again."
        );
    }
    Ok(code)
}

fn verdict(v: SweepVerdict) -> &'static str {
    match v {
        SweepVerdict::Kept => "kept",
        SweepVerdict::Orphan => "orphan",
        SweepVerdict::NotOurs => "not ours",
    }
}

fn terminated(f: &SweepFinding) -> bool {
    f.outcome
        .as_deref()
        .is_some_and(|o| o.starts_with("terminate sent"))
}

fn outcome(f: &SweepFinding, dry_run: bool) -> String {
    match (f.verdict, &f.outcome) {
        (_, Some(o)) => o.clone(),
        (SweepVerdict::Orphan, None) if dry_run => "would terminate".into(),
        (SweepVerdict::Orphan, None) => "-".into(),
        (SweepVerdict::Kept, None) => "running a job".into(),
        (SweepVerdict::NotOurs, None) => match ferry_cloud::LeaseName::parse(&f.name) {
            Some(l) => format!("left alone (Ferry install {}'s, not this one's)", l.install),
            None => "left alone".into(),
        },
    }
}

fn plural(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// `2 orphans terminated; 1 instance not Ferry's left alone`.
fn summary(found: &[SweepFinding], dry_run: bool) -> String {
    let count = |v: SweepVerdict| found.iter().filter(|f| f.verdict == v).count();
    let orphans = count(SweepVerdict::Orphan);
    let kept = count(SweepVerdict::Kept);
    let not_ours = count(SweepVerdict::NotOurs);
    let mut parts = vec![];
    if orphans == 0 {
        parts.push("no orphans".to_string());
    } else if dry_run {
        parts.push(format!(
            "{} would be terminated",
            plural(orphans, "orphan", "orphans")
        ));
    } else {
        let done = found.iter().filter(|f| terminated(f)).count();
        let failed = orphans - done;
        if done > 0 {
            parts.push(format!("{} terminated", plural(done, "orphan", "orphans")));
        }
        if failed > 0 {
            parts.push(format!(
                "{} could not be terminated",
                plural(failed, "orphan", "orphans")
            ));
        }
    }
    if kept > 0 {
        parts.push(format!(
            "{} kept for {}",
            plural(kept, "instance", "instances"),
            if kept == 1 { "its job" } else { "their jobs" }
        ));
    }
    if not_ours > 0 {
        parts.push(format!(
            "{} not Ferry's left alone",
            plural(not_ours, "instance", "instances")
        ));
    }
    let mut line = parts.join("; ");
    if dry_run && orphans > 0 {
        line.push_str(" (run without --dry-run to terminate them)");
    }
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    fn finding(verdict: SweepVerdict, outcome: Option<&str>) -> SweepFinding {
        SweepFinding {
            provider: "runpod".into(),
            instance: "i".into(),
            name: "n".into(),
            status: "RUNNING".into(),
            verdict,
            outcome: outcome.map(String::from),
        }
    }

    #[test]
    fn the_summary_says_what_was_done() {
        let found = vec![
            finding(SweepVerdict::Orphan, Some("terminate sent")),
            finding(SweepVerdict::Orphan, Some("terminate sent")),
            finding(SweepVerdict::NotOurs, None),
        ];
        assert_eq!(
            summary(&found, false),
            "2 orphans terminated; 1 instance not Ferry's left alone"
        );
        let dry = vec![
            finding(SweepVerdict::Orphan, None),
            finding(SweepVerdict::Kept, None),
        ];
        assert_eq!(
            summary(&dry, true),
            "1 orphan would be terminated; 1 instance kept for its job (run without --dry-run to terminate them)"
        );
        assert_eq!(outcome(&dry[0], true), "would terminate");
        let mut other = finding(SweepVerdict::NotOurs, None);
        other.name = "ferry-0a1b2c3d-j-01jd5k2m9q8r0000-a1".into();
        assert_eq!(
            outcome(&other, false),
            "left alone (Ferry install 0a1b2c3d's, not this one's)"
        );
        assert_eq!(
            summary(&[other], false),
            "no orphans; 1 instance not Ferry's left alone"
        );
        let failed = vec![finding(SweepVerdict::Orphan, Some("terminate failed: 500"))];
        assert_eq!(summary(&failed, false), "1 orphan could not be terminated");
    }
}
