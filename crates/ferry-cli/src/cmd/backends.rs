//! `ferry backends`: every place Ferry can run work, asked what it has right now: this
//! host (NVML), owned machines over SSH (`nvidia-smi`), Slurm clusters (`sinfo`); and the
//! providers Ferry rents from, which are not asked (their machines are rented on demand).

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
    /// `None` where nothing was asked (a rented provider).
    reachable: Option<bool>,
    /// GPUs the config declares there (what Ferry schedules on).
    declared_gpus: u32,
    /// GPUs the probe found (`None` for Slurm, whose nodes are not probed one by one).
    found_gpus: Option<Vec<String>>,
    detail: String,
    /// A provider Ferry rents machines from (`[providers.NAME] launch = true`).
    rented: bool,
    /// Rented, but without an API key: Ferry cannot rent from it (the detail says so).
    #[serde(skip)]
    no_key: bool,
}

pub fn run(ctx: &Context, json: bool) -> Result<ExitCode> {
    let catalog = ctx.catalog()?;
    let here = ctx.local_gpus();
    let mut probes = vec![Probe {
        id: "local".into(),
        category: "owned".into(),
        place: "localhost".into(),
        reachable: Some(true),
        declared_gpus: here.devices.len() as u32,
        found_gpus: Some(here.devices.iter().map(|d| d.name.clone()).collect()),
        detail: format!("{}: {}", here.source, here.detail),
        rented: false,
        no_key: false,
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
            reachable: Some(answer.is_ok()),
            declared_gpus: declared,
            found_gpus: None,
            detail: String::new(),
            rented: false,
            no_key: false,
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
    let rented = ferry_registry::rented::rented_providers(ctx, Some(&catalog));
    for ready in &rented.ready {
        probes.push(rented_probe(
            &catalog,
            ready.kind,
            Some(ready.config.clone()),
            "not probed: rented on demand".into(),
        ));
    }
    for m in &rented.missing {
        probes.push(Probe {
            no_key: true,
            ..rented_probe(
                &catalog,
                m.kind,
                None,
                format!(
                    "launch = true but {}; Ferry does not rent from it until then",
                    m.why
                ),
            )
        });
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
                match p.reachable {
                    Some(true) => "yes",
                    Some(false) => "NO",
                    None if p.no_key => "no key",
                    None => "-",
                }
                .into(),
                match &p.found_gpus {
                    Some(found) => format!("{} declared, {} found", p.declared_gpus, found.len()),
                    None if p.rented => "on demand".into(),
                    None => format!("{} per node", p.declared_gpus),
                },
                p.detail.clone(),
            ]);
        }
        println!("{tb}");
        if probes.len() == 1 {
            println!(
                "Only this host. Owned machines with a host, academic allocations with a host, and providers with launch = true and an API key add backends (docs/config.md)."
            );
        }
        for m in &rented.missing {
            println!(
                "{}: launch = true but {}: Ferry rents machines there once it is set.",
                m.kind, m.why
            );
        }
    }
    Ok(if probes.iter().all(|p| p.reachable != Some(false)) {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// A provider Ferry rents from, as a row: its category and whether its machines can end
/// themselves should Ferry lose track of them. Its API is not called.
fn rented_probe(
    catalog: &ferry_catalog::Catalog,
    kind: ferry_cloud::ProviderKind,
    config: Option<ferry_cloud::providers::ProviderConfig>,
    first: String,
) -> Probe {
    let category = catalog
        .offers
        .iter()
        .find(|o| o.provider == kind.id())
        .map_or(ferry_catalog::Category::GpuCloud, |o| o.category);
    // The client is built only to ask it about its guard: no call is made.
    let config = config.unwrap_or_else(|| {
        ferry_cloud::providers::ProviderConfig::new(kind, ferry_cloud::ApiKey::new(""))
    });
    let guard = match ferry_registry::rented::build(kind, config).map(|p| p.guard()) {
        Ok(ferry_cloud::Guard::SelfTerminate(_)) => format!(
            "guard: ends itself {} min after its job",
            ferry_backend::GUARD_GRACE.as_secs() / 60
        ),
        Ok(ferry_cloud::Guard::None(why)) => format!("no guard: {why}"),
        Err(e) => e.to_string(),
    };
    Probe {
        id: kind.id().to_string(),
        category: category.to_string(),
        place: "rented".into(),
        reachable: None,
        declared_gpus: 0,
        found_gpus: None,
        detail: format!("{first}; {guard}"),
        rented: true,
        no_key: false,
    }
}
