//! `ferry backends`: every place Ferry can run work, asked what it has right now: this
//! host (NVML), owned machines over SSH (`nvidia-smi`), Slurm clusters (`sinfo`).

use super::print_json;
use crate::backends::{Remote, remotes};
use crate::context::Context;
use crate::table;
use anyhow::Result;
use serde::Serialize;
use std::process::ExitCode;

#[derive(Debug, Serialize)]
struct Probe {
    id: String,
    category: String,
    /// Where its commands run (`localhost`, a host name).
    place: String,
    reachable: bool,
    /// GPUs the config declares there (what Ferry schedules on).
    declared_gpus: u32,
    /// GPUs the probe found (`None` for Slurm, whose nodes are not probed one by one).
    found_gpus: Option<Vec<String>>,
    detail: String,
}

pub fn run(ctx: &Context, json: bool) -> Result<ExitCode> {
    let catalog = ctx.catalog()?;
    let here = ctx.local_gpus();
    let mut probes = vec![Probe {
        id: "local".into(),
        category: "owned".into(),
        place: "localhost".into(),
        reachable: true,
        declared_gpus: here.devices.len() as u32,
        found_gpus: Some(here.devices.iter().map(|d| d.name.clone()).collect()),
        detail: format!("{}: {}", here.source, here.detail),
    }];
    let remotes = remotes(ctx, &catalog)?;
    let control = ctx.paths.data_dir.join("ssh");
    std::fs::create_dir_all(&control)?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    // Asked at once: each probe is a round trip to another machine.
    let asked: Vec<_> = rt.block_on(async {
        let handles: Vec<_> = remotes
            .iter()
            .map(|r| {
                let backend = r.backend(&control);
                tokio::spawn(async move { backend.capacity().await })
            })
            .collect();
        let mut out = vec![];
        for h in handles {
            out.push(h.await.expect("a probe task"));
        }
        out
    });
    for (r, answer) in remotes.iter().zip(asked) {
        let (category, place, declared) = match r {
            Remote::Ssh {
                machine, transport, ..
            } => ("owned", transport.place().to_string(), machine.gpu_count),
            Remote::Slurm {
                site,
                gpus_per_node,
                ..
            } => (
                "academic",
                site.transport.place().to_string(),
                *gpus_per_node,
            ),
        };
        let slurm = matches!(r, Remote::Slurm { .. });
        let mut p = Probe {
            id: r.id(),
            category: category.into(),
            place,
            reachable: answer.is_ok(),
            declared_gpus: declared,
            found_gpus: None,
            detail: String::new(),
        };
        match answer {
            Ok(cap) => {
                p.detail = cap.note;
                if !slurm {
                    p.found_gpus = Some(cap.gpus.iter().map(|g| g.name.clone()).collect());
                    if cap.gpus.len() as u32 != declared {
                        p.detail.push_str(&format!(
                            "; the config declares {declared} GPU(s): Ferry schedules by the config"
                        ));
                    }
                }
            }
            Err(e) => p.detail = e.to_string(),
        }
        probes.push(p);
    }
    if json {
        print_json(&probes)?;
    } else {
        let mut tb = table::new(&["BACKEND", "CATEGORY", "WHERE", "UP", "GPUS", "DETAIL"]);
        for p in &probes {
            tb.add_row(vec![
                p.id.clone(),
                p.category.clone(),
                p.place.clone(),
                if p.reachable { "yes" } else { "NO" }.into(),
                match &p.found_gpus {
                    Some(found) => format!("{} declared, {} found", p.declared_gpus, found.len()),
                    None => format!("{} per node", p.declared_gpus),
                },
                p.detail.clone(),
            ]);
        }
        println!("{tb}");
        if probes.len() == 1 {
            println!(
                "Only this host. Owned machines with a host and academic allocations with a host add backends (docs/config.md)."
            );
        }
    }
    Ok(if probes.iter().all(|p| p.reachable) {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}
