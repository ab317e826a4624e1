use super::{print_json, write_csv};
use crate::cli::{Format, OffersArgs};
use crate::context::Context;
use crate::table;
use anyhow::{Context as _, Result, bail};
use ferry_catalog::offer::{OfferRecord, Pricing};
use ferry_catalog::range::Range;
use ferry_catalog::{Catalog, Category, Offer, OfferFilter, PriceMode, SortKey};
use serde::Serialize;
use std::collections::BTreeSet;
use std::process::ExitCode;

pub fn run(ctx: &Context, args: &OffersArgs) -> Result<ExitCode> {
    let mut catalog = ctx.catalog()?;
    if !args.history {
        catalog.drop_superseded();
    }
    let filter = build_filter(&catalog, args)?;
    let sort: SortKey = args.sort.parse().map_err(anyhow::Error::msg)?;
    let selected = filter.select(&catalog.offers, sort, catalog.table);
    let max_age = args.max_age_days.unwrap_or(ctx.config.catalog.max_age_days);

    report_rejected(&catalog);
    match args.output.format() {
        Format::Json => print_json(&JsonOut::new(ctx, &catalog, &selected, filter.mode, sort))?,
        Format::Csv => write_csv(selected.iter().map(|o| OfferRecord::new(o, catalog.table)))?,
        Format::Table => print_table(ctx, &catalog, &selected, &filter, sort, args),
    }
    warn_stale(ctx, &selected, max_age);
    Ok(ExitCode::SUCCESS)
}

fn build_filter(catalog: &Catalog, args: &OffersArgs) -> Result<OfferFilter> {
    let gpus = if args.gpu.is_empty() {
        None
    } else {
        let mut set = BTreeSet::new();
        for name in &args.gpu {
            set.extend(catalog.table.resolve(name).with_context(|| "--gpu")?);
        }
        Some(set.into_iter().collect())
    };
    let categories = args
        .category
        .iter()
        .map(|c| c.parse::<Category>())
        .collect::<Result<Vec<_>, _>>()
        .context("--category")?;
    let known: BTreeSet<&str> = catalog.offers.iter().map(|o| o.provider.as_str()).collect();
    let providers: Vec<String> = args
        .provider
        .iter()
        .map(|p| p.trim().to_ascii_lowercase())
        .collect();
    for p in &providers {
        if !known.contains(p.as_str())
            && !ferry_config::KNOWN_PROVIDERS.contains(&p.as_str())
            && p != "owned"
        {
            bail!(
                "--provider: unknown provider '{p}' (known: {})",
                known.iter().copied().collect::<Vec<_>>().join(", ")
            );
        }
    }
    for (flag, v) in [
        ("--max-price", args.max_price),
        ("--max-price-per-gpu", args.max_price_per_gpu),
    ] {
        if v.is_some_and(|v| v.is_nan() || v < 0.0) {
            bail!("{flag}: must be a price >= 0");
        }
    }
    if args
        .min_reliability
        .is_some_and(|r| !(0.0..=1.0).contains(&r))
    {
        bail!("--min-reliability: must be between 0 and 1 (e.g. 0.98)");
    }
    Ok(OfferFilter {
        gpus,
        vram_gb: args
            .vram
            .as_deref()
            .map(Range::parse_memory)
            .transpose()
            .map_err(|e| anyhow::anyhow!("--vram: {e}"))?,
        count: args
            .count
            .as_deref()
            .map(Range::parse_count)
            .transpose()
            .map_err(|e| anyhow::anyhow!("--count: {e}"))?,
        categories,
        providers,
        regions: args.region.clone(),
        mode: if args.spot {
            PriceMode::Spot
        } else if args.on_demand {
            PriceMode::OnDemand
        } else {
            PriceMode::Any
        },
        max_price: args.max_price,
        max_price_per_gpu: args.max_price_per_gpu,
        min_reliability: args.min_reliability,
    })
}

/// What the price column says for an offer with no cash price.
fn no_cash_label(ctx: &Context, o: &Offer) -> String {
    match o.pricing {
        Pricing::Cash => "-".into(),
        Pricing::Volunteer => "volunteer".into(),
        Pricing::Allocation => match ctx.config.allocation(&o.region) {
            Some(a) => format!("alloc {}", a.account),
            None => "needs allocation".into(),
        },
    }
}

fn print_table(
    ctx: &Context,
    catalog: &Catalog,
    selected: &[&Offer],
    filter: &OfferFilter,
    sort: SortKey,
    args: &OffersArgs,
) {
    let metric = match sort {
        SortKey::PerPflop => Some("$/PFLOP-H"),
        SortKey::PerGbVram => Some("$/GB-H"),
        _ => None,
    };
    let mut headers = vec![
        "PROVIDER", "CATEGORY", "REGION", "INSTANCE", "GPU", "N", "VRAM", "$/H", "SPOT $/H",
        "$/GPU-H",
    ];
    headers.extend(metric);
    headers.push("AS OF");
    if args.wide {
        headers.extend([
            "VCPU",
            "RAM GB",
            "EGRESS $/GB",
            "BILLING",
            "RELIAB.",
            "SOURCE",
        ]);
    }
    let mut tb = table::new(&headers);
    let shown = if args.limit == 0 {
        selected.len()
    } else {
        args.limit.min(selected.len())
    };
    for o in &selected[..shown] {
        let spec = catalog.table.get(o.gpu);
        let price = filter.mode.price(o);
        let mut row = vec![
            o.provider.clone(),
            o.category.to_string(),
            o.region.clone(),
            o.instance_type.clone(),
            spec.id.clone(),
            o.gpu_count.to_string(),
            table::num(Some(o.gpu_vram_gb)),
            if o.pricing == Pricing::Cash {
                table::money(o.price_hour)
            } else {
                no_cash_label(ctx, o)
            },
            table::money(o.spot_price_hour),
            table::money(price.map(|p| p / f64::from(o.gpu_count))),
        ];
        if metric.is_some() {
            row.push(table::money(sort.value(o, filter.mode, catalog.table)));
        }
        row.push(o.as_of.to_string());
        if args.wide {
            row.extend([
                table::num(o.vcpus),
                table::num(o.ram_gb),
                table::money(o.egress_per_gb),
                o.billing.to_string(),
                o.reliability.map_or("-".into(), |r| format!("{r:.3}")),
                o.source.clone(),
            ]);
        }
        tb.add_row(row);
    }
    let first_price_col = 7;
    table::align_right(&mut tb, &[5, 6, first_price_col, 8, 9, 10]);
    if selected.is_empty() {
        println!(
            "No offer matches. Loosen a filter (`ferry offers --help`), or see what there is with `ferry offers`."
        );
        return;
    }
    println!("{tb}");
    let providers: BTreeSet<&str> = selected.iter().map(|o| o.provider.as_str()).collect();
    let categories: BTreeSet<Category> = selected.iter().map(|o| o.category).collect();
    let plural =
        |n: usize, one: &str, many: &str| format!("{n} {}", if n == 1 { one } else { many });
    let mut summary = format!(
        "{} from {} in {}",
        plural(selected.len(), "offer", "offers"),
        plural(providers.len(), "provider", "providers"),
        plural(categories.len(), "category", "categories")
    );
    if shown < selected.len() {
        summary.push_str(&format!(
            "; showing the first {shown} (--limit 0 shows all)"
        ));
    }
    println!("{summary}.");
    let (oldest, newest) = selected.iter().fold(
        (None, None),
        |(lo, hi): (Option<ferry_catalog::Date>, _), o| {
            (
                Some(lo.map_or(o.as_of, |d| d.min(o.as_of))),
                Some(hi.map_or(o.as_of, |d: ferry_catalog::Date| d.max(o.as_of))),
            )
        },
    );
    if let (Some(lo), Some(hi)) = (oldest, newest) {
        println!(
            "Prices in USD per hour, observed {lo} to {hi}; embedded snapshot of {}. Sources: --wide or --json.",
            catalog.snapshot_date
        );
    }
}

fn report_rejected(catalog: &Catalog) {
    if catalog.rejected.is_empty() {
        return;
    }
    eprintln!(
        "warning: {} catalog rows were rejected and left out:",
        catalog.rejected.len()
    );
    for e in catalog.rejected.iter().take(10) {
        eprintln!("  {e}");
    }
    if catalog.rejected.len() > 10 {
        eprintln!(
            "  … and {} more (`ferry catalog status` lists them)",
            catalog.rejected.len() - 10
        );
    }
}

fn warn_stale(ctx: &Context, selected: &[&Offer], max_age_days: u32) {
    let dates = selected
        .iter()
        .filter(|o| o.category != Category::Owned)
        .map(|o| o.as_of);
    if let Some(w) = stale_warning(dates, selected.len(), ctx.today, max_age_days, "offers") {
        eprintln!("{w}");
    }
}

/// The warning for prices older than `max_age_days` among `shown` rows (the dated ones are
/// `dates`), or `None` when none is: one sentence for `ferry offers` and `ferry launch`.
pub fn stale_warning(
    dates: impl Iterator<Item = ferry_catalog::Date>,
    shown: usize,
    today: ferry_catalog::Date,
    max_age_days: u32,
    what: &str,
) -> Option<String> {
    let stale: Vec<ferry_catalog::Date> =
        dates.filter(|d| d.is_stale(today, max_age_days)).collect();
    let oldest = *stale.iter().min()?;
    Some(format!(
        "warning: {} of the {shown} {what} shown have prices older than {max_age_days} days (oldest {oldest}, {} days); \
         `ferry catalog refresh` updates the providers it can reach.",
        stale.len(),
        oldest.age_days(today)
    ))
}

#[derive(Serialize)]
struct JsonOffer<'a> {
    #[serde(flatten)]
    record: OfferRecord<'a>,
    /// The price the offer was ranked by (per hour, whole instance).
    price: Option<f64>,
    price_per_gpu_hour: Option<f64>,
    sort_value: Option<f64>,
    /// For academic offers: the account declared for this cluster in the config.
    allocation: Option<&'a str>,
    /// Where the source priced it in another currency: that price and the rate used.
    priced_in: Option<PricedIn<'a>>,
    origin: String,
    line: u64,
    age_days: i64,
}

#[derive(Serialize)]
struct PricedIn<'a> {
    currency: &'a str,
    price_hour: Option<f64>,
    usd_per_unit: f64,
    rate_source: &'a str,
    rate_as_of: ferry_catalog::Date,
}

#[derive(Serialize)]
struct JsonOut<'a> {
    today: ferry_catalog::Date,
    snapshot_date: ferry_catalog::Date,
    price_mode: PriceMode,
    sort: SortKey,
    providers: Vec<ferry_catalog::ProviderOrigin>,
    rejected: &'a [ferry_catalog::RowError],
    offers: Vec<JsonOffer<'a>>,
}

impl<'a> JsonOut<'a> {
    fn new(
        ctx: &'a Context,
        c: &'a Catalog,
        selected: &[&'a Offer],
        mode: PriceMode,
        sort: SortKey,
    ) -> Self {
        JsonOut {
            today: ctx.today,
            snapshot_date: c.snapshot_date,
            price_mode: mode,
            sort,
            providers: c.providers(),
            rejected: &c.rejected,
            offers: selected
                .iter()
                .map(|o| {
                    let price = mode.price(o);
                    JsonOffer {
                        record: OfferRecord::new(o, c.table),
                        price,
                        price_per_gpu_hour: price.map(|p| p / f64::from(o.gpu_count)),
                        sort_value: sort.value(o, mode, c.table),
                        allocation: (o.pricing == Pricing::Allocation)
                            .then(|| ctx.config.allocation(&o.region).map(|a| a.account.as_str()))
                            .flatten(),
                        priced_in: c.rates.get(&o.currency).map(|r| PricedIn {
                            currency: &r.currency,
                            price_hour: o.price_hour_original,
                            usd_per_unit: r.usd_per_unit,
                            rate_source: &r.source,
                            rate_as_of: r.as_of,
                        }),
                        origin: o.origin.to_string(),
                        line: o.line,
                        age_days: o.as_of.age_days(ctx.today),
                    }
                })
                .collect(),
        }
    }
}
