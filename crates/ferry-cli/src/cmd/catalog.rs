use super::print_json;
use crate::context::Context;
use crate::table;
use anyhow::{Context as _, Result, bail};
use ferry_catalog::load::load_offers;
use ferry_catalog::offer::Origin;
use ferry_refresh::{Event, Provider, Request};
use indicatif::{MultiProgress, ProgressBar, ProgressStyle};
use serde::Serialize;
use std::collections::HashMap;
use std::path::Path;
use std::process::ExitCode;
use std::sync::Mutex;
use std::time::Duration;

pub fn status(ctx: &Context, json: bool) -> Result<ExitCode> {
    let catalog = ctx.catalog()?;
    let providers = catalog.providers();
    if json {
        #[derive(Serialize)]
        struct Out<'a> {
            today: ferry_catalog::Date,
            snapshot_date: ferry_catalog::Date,
            providers: &'a [ferry_catalog::ProviderOrigin],
            rejected: &'a [ferry_catalog::RowError],
        }
        print_json(&Out {
            today: ctx.today,
            snapshot_date: catalog.snapshot_date,
            providers: &providers,
            rejected: &catalog.rejected,
        })?;
        return Ok(ExitCode::SUCCESS);
    }
    let mut tb = table::new(&[
        "PROVIDER",
        "FROM",
        "OFFERS",
        "OLDEST",
        "NEWEST",
        "AGE (DAYS)",
    ]);
    for p in &providers {
        tb.add_row(vec![
            p.provider.clone(),
            p.origin.clone(),
            p.offers.to_string(),
            p.oldest.map_or("-".into(), |d| d.to_string()),
            p.newest.map_or("-".into(), |d| d.to_string()),
            p.newest
                .map_or("-".into(), |d| d.age_days(ctx.today).to_string()),
        ]);
    }
    table::align_right(&mut tb, &[2, 5]);
    println!("{tb}");
    println!(
        "Embedded snapshot of {}; refresh caches in {}.",
        catalog.snapshot_date,
        ctx.paths.cache_dir.join("offers").display()
    );
    if !catalog.rejected.is_empty() {
        println!("\n{} rows rejected:", catalog.rejected.len());
        for e in &catalog.rejected {
            println!("  {e}");
        }
    }
    Ok(ExitCode::SUCCESS)
}

pub fn check(ctx: &Context, file: &Path) -> Result<ExitCode> {
    let text = std::fs::read(file).with_context(|| format!("reading {}", file.display()))?;
    let catalog = ferry_catalog::Catalog::embedded();
    let mut report = load_offers(
        &text,
        Origin::File(file.display().to_string()),
        catalog.table,
        &catalog.rates,
    );
    report.reject_future(ctx.today);
    for e in &report.rejected {
        println!("{e}");
    }
    println!(
        "{}: {} rows valid, {} rejected",
        file.display(),
        report.offers.len(),
        report.rejected.len()
    );
    Ok(if report.rejected.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// AWS's live spot prices come from its EC2 API (with the account's credentials), beside
/// the public list prices; without the `aws` feature or a credential chain the refresh
/// reads list prices only.
fn spot_client(ctx: &Context, p: Provider) -> Option<ferry_refresh::SpotClient> {
    if p != Provider::Aws || !cfg!(feature = "aws") {
        return None;
    }
    ferry_registry::rented::spot_price_client(ctx, ferry_cloud::ProviderKind::Aws)
        .ok()
        .map(ferry_refresh::SpotClient)
}

pub fn refresh(ctx: &Context, only: &[String], json: bool) -> Result<ExitCode> {
    let mut providers: Vec<Provider> = Vec::new();
    for name in only {
        match name.parse::<Provider>() {
            Ok(p) => providers.push(p),
            Err(e) => bail!("--provider: {e}"),
        }
    }
    if providers.is_empty() {
        providers = Provider::ALL
            .into_iter()
            .filter(|p| ctx.config.providers.get(p.id()).is_none_or(|s| s.refresh))
            .collect();
    }
    let requests: Vec<Request> = providers
        .iter()
        .map(|p| {
            let settings = ctx.config.providers.get(p.id());
            Request {
                provider: *p,
                endpoint: settings
                    .and_then(|s| s.endpoint.clone())
                    .or_else(|| {
                        std::env::var(format!("FERRY_{}_ENDPOINT", p.id().to_ascii_uppercase()))
                            .ok()
                    })
                    .unwrap_or_else(|| p.default_endpoint().to_string()),
                api_key: ctx.config.api_key(p.id(), |k| std::env::var(k).ok()),
                regions: settings.map(|s| s.regions.clone()).unwrap_or_default(),
                cache_file: ctx.paths.offer_cache(p.id()),
                spot: spot_client(ctx, *p),
            }
        })
        .collect();

    let multi = MultiProgress::new();
    if json || !std::io::IsTerminal::is_terminal(&std::io::stderr()) {
        multi.set_draw_target(indicatif::ProgressDrawTarget::hidden());
    }
    let bars: Mutex<HashMap<Provider, ProgressBar>> = Mutex::new(HashMap::new());
    let style =
        ProgressStyle::with_template("{spinner} {prefix:<8} {msg}").expect("valid template");
    let on_event = |ev: Event| {
        let mut bars = bars.lock().expect("progress lock");
        let bar = bars.entry(ev.provider()).or_insert_with(|| {
            let b = multi.add(ProgressBar::new_spinner().with_style(style.clone()));
            b.set_prefix(ev.provider().id());
            b.enable_steady_tick(Duration::from_millis(120));
            b
        });
        match ev {
            Event::Started { .. } => bar.set_message("fetching…"),
            Event::Progress { message, .. } => bar.set_message(message),
            Event::Finished { ok, message, .. } => {
                bar.finish_with_message(format!("{} {message}", if ok { "ok" } else { "FAILED" }))
            }
        }
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let outcomes = runtime.block_on(ferry_refresh::refresh(requests, ctx.today, &on_event));
    drop(multi);

    let failed = outcomes.iter().filter(|o| o.result.is_err()).count();
    if json {
        print_json(&outcomes)?;
    } else {
        let mut tb = table::new(&["PROVIDER", "RESULT", "OFFERS", "DETAIL"]);
        for o in &outcomes {
            match &o.result {
                Ok(w) => tb.add_row(vec![
                    o.provider.id().to_string(),
                    "updated".into(),
                    w.offers.to_string(),
                    format!("{} ({} items skipped)", w.path.display(), w.skipped),
                ]),
                Err(e) => tb.add_row(vec![
                    o.provider.id().to_string(),
                    if e.is_missing_key() {
                        "skipped".into()
                    } else {
                        "failed".into()
                    },
                    "-".into(),
                    e.to_string(),
                ]),
            };
        }
        println!("{tb}");
        if failed > 0 {
            println!(
                "Providers that failed keep their previous prices (cache or embedded snapshot)."
            );
        }
    }
    // Success when at least one provider refreshed; every failure is reported above.
    let all_failed = failed == outcomes.len() && !outcomes.is_empty();
    Ok(if all_failed {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}
