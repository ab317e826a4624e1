//! `advise`: every category model for one workload, ranked, with break-even, sensitivity
//! and the reasons in words.

use crate::assumptions::Assumptions;
use crate::breakeven::{self, BreakEven};
use crate::context::Context;
use crate::error::AdviceError;
use crate::estimate::{Approach, CategoryEstimate};
use crate::money::Currency;
use crate::profile::Profile;
use crate::rank::{Excluded, Ranked, rank};
use crate::recommend::{Facts, Recommendation, recommend};
use crate::rental::{best, paygo_quotes};
use crate::sensitivity::{SensitivityCase, analyse};
use crate::workload::Workload;
use crate::{academic, decentralized, gpu_cloud, hybrid, hyperscaler, owned};
use ferry_catalog::Catalog;
use serde::Serialize;

/// Everything `ferry advise` shows, and its `--json`. Money is in `currency`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Advice {
    pub currency: Currency,
    pub workload: WorkloadSummary,
    /// One per approach, in [`Approach::ALL`] order: the comparison table's columns.
    pub estimates: Vec<CategoryEstimate>,
    /// Admitted options, cheapest first.
    pub ranking: Vec<Ranked>,
    pub excluded: Vec<Excluded>,
    pub recommendation: Option<Recommendation>,
    pub breakeven: Option<BreakEven>,
    pub sensitivity: Vec<SensitivityCase>,
    /// The assumptions used (defaults, or as changed by the caller), in USD.
    pub assumptions: Assumptions,
}

impl Advice {
    /// The estimate for one approach.
    pub fn estimate(&self, approach: Approach) -> &CategoryEstimate {
        self.estimates
            .iter()
            .find(|e| e.approach == approach)
            .expect("advice has every approach")
    }
}

/// The workload as the models saw it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct WorkloadSummary {
    pub gpu_models: Vec<String>,
    pub gpus_per_job: u32,
    pub horizon_months: u32,
    pub total_gpu_hours: f64,
    pub mean_gpu_hours_per_month: f64,
    pub peak_gpu_hours_per_month: f64,
    /// GPUs an all-owned fleet needs to run the peak month.
    pub fleet_gpus: u32,
    pub demand_gpu_hours: Vec<f64>,
    pub interruptible: bool,
    pub max_wait_hours: Option<f64>,
}

/// Advice for `profile` against `catalog`, with the default assumptions.
pub fn advise(profile: &Profile, catalog: &Catalog) -> Result<Advice, AdviceError> {
    advise_with(profile, catalog, &Assumptions::default())
}

/// Advice with assumptions of the caller's choosing.
pub fn advise_with(
    profile: &Profile,
    catalog: &Catalog,
    assumptions: &Assumptions,
) -> Result<Advice, AdviceError> {
    let w = profile.resolve(catalog)?;
    let currency = currency(catalog, &w.currency)?;
    let ctx = Context::new(catalog, assumptions, currency);
    Ok(advise_workload(&w, &ctx))
}

fn currency(catalog: &Catalog, code: &str) -> Result<Currency, AdviceError> {
    Currency::from_catalog(catalog, code).ok_or_else(|| AdviceError::NoRate(code.to_string()))
}

/// One approach's estimate. Numbers are USD; explanations are written in `ctx.currency`
/// (convert with [`CategoryEstimate::scale_money`]). The hybrid prices the rental columns
/// it compares with.
pub fn estimate_approach(approach: Approach, w: &Workload, ctx: &Context) -> CategoryEstimate {
    let paygo = paygo_quotes(w, ctx);
    match approach {
        Approach::Owned => owned::estimate(w, ctx, &owned::best_plan(w, ctx, &paygo)),
        Approach::Academic => academic::estimate(w, ctx, &paygo),
        Approach::GpuCloud => gpu_cloud::estimate(w, ctx),
        Approach::Hyperscaler => hyperscaler::estimate(w, ctx),
        Approach::Decentralized => decentralized::estimate(w, ctx),
        Approach::Hybrid => {
            let rentals = [
                gpu_cloud::estimate(w, ctx),
                hyperscaler::estimate(w, ctx),
                decentralized::estimate(w, ctx),
            ];
            let cheapest = rentals
                .iter()
                .filter(|e| e.available && admits_wait(w, e))
                .min_by(|a, b| a.total.total_cmp(&b.total));
            let preferred = owned::best_plan(w, ctx, &paygo).ok().map(|p| p.setup.model);
            hybrid::estimate(w, ctx, &paygo, cheapest, preferred)
        }
    }
}

/// The six estimates, in [`Approach::ALL`] order. Numbers are USD, explanations in
/// `ctx.currency`.
pub fn evaluate(w: &Workload, ctx: &Context) -> Vec<CategoryEstimate> {
    evaluate_all(w, ctx).0
}

fn evaluate_all(w: &Workload, ctx: &Context) -> (Vec<CategoryEstimate>, Option<BreakEven>) {
    let paygo = paygo_quotes(w, ctx);
    let cloud = gpu_cloud::estimate(w, ctx);
    let hyper = hyperscaler::estimate(w, ctx);
    let market = decentralized::estimate(w, ctx);
    let plan = owned::best_plan(w, ctx, &paygo);
    let owned = owned::estimate(w, ctx, &plan);
    let academic = academic::estimate(w, ctx, &paygo);
    let cheapest_rental = [&cloud, &hyper, &market]
        .into_iter()
        .filter(|e| e.available && admits_wait(w, e))
        .min_by(|a, b| a.total.total_cmp(&b.total));
    let preferred = plan.as_ref().ok().map(|p| p.setup.model);
    let hybrid = hybrid::estimate(w, ctx, &paygo, cheapest_rental, preferred);
    let breakeven = match (&plan, best(&paygo, &w.demand)) {
        (Ok(plan), Some(rental)) => Some(breakeven::compute(plan, rental, w, ctx)),
        _ => None,
    };
    (
        vec![owned, academic, cloud, hyper, market, hybrid],
        breakeven,
    )
}

/// Whether the estimate's wait per job is within the profile's limit.
fn admits_wait(w: &Workload, e: &CategoryEstimate) -> bool {
    w.max_wait_hours
        .is_none_or(|max| e.time_to_result.wait_per_job_hours() <= max)
}

/// Advice for a resolved workload.
pub fn advise_workload(w: &Workload, ctx: &Context) -> Advice {
    let (mut estimates, mut breakeven) = evaluate_all(w, ctx);
    let base_winner = rank(w, &estimates).0.first().map(|r| r.approach);
    let mut sensitivity = analyse(w, ctx, base_winner);

    // Everything above is USD; from here on, the output currency.
    let f = ctx.currency.per_usd();
    for e in &mut estimates {
        e.scale_money(f);
    }
    if let Some(b) = &mut breakeven {
        b.scale_money(f);
    }
    for s in &mut sensitivity {
        s.winner_total *= f;
    }
    let (ranking, excluded) = rank(w, &estimates);
    let recommendation = recommend(&Facts {
        w,
        currency: &ctx.currency,
        estimates: &estimates,
        ranking: &ranking,
        excluded: &excluded,
        breakeven: breakeven.as_ref(),
        sensitivity: &sensitivity,
    });
    let table = ctx.catalog.table;
    Advice {
        currency: ctx.currency.clone(),
        workload: WorkloadSummary {
            gpu_models: w
                .models
                .iter()
                .map(|id| table.get(*id).id.clone())
                .collect(),
            gpus_per_job: w.width,
            horizon_months: w.horizon_months,
            total_gpu_hours: w.total_hours(),
            mean_gpu_hours_per_month: w.mean_hours_per_month(),
            peak_gpu_hours_per_month: w.peak_hours(),
            fleet_gpus: w.fleet_size(ctx.assumptions),
            demand_gpu_hours: w.demand.clone(),
            interruptible: w.interruptible,
            max_wait_hours: w.max_wait_hours,
        },
        estimates,
        ranking,
        excluded,
        recommendation,
        breakeven,
        sensitivity,
        assumptions: ctx.assumptions.clone(),
    }
}
