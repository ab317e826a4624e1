//! Hybrid: own `k` GPUs for the base load and rent the rest of the demand.
//!
//! Every `k` from 0 to the all-owned fleet is costed over the whole demand series (exact,
//! not a rule of thumb), for every qualifying GPU model, and the cheapest wins. `k = 0` is
//! the cheapest all-rented option (commitments included) and `k = fleet` is exactly the
//! owned column, so the hybrid is never dearer than either.

use crate::context::Context;
use crate::estimate::{Approach, CategoryEstimate, HybridPlan, Performance, TimeToResult};
use crate::money::{hours, months};
use crate::owned::{FleetCost, OwnedSetup, fleet_cost, line_items, setup};
use crate::rental::{RentalQuote, plural};
use crate::workload::Workload;
use ferry_catalog::GpuId;

/// The best split for one model: the cost at every `k`, and the cheapest `k`.
#[derive(Debug, Clone)]
pub struct Search {
    pub setup: OwnedSetup,
    /// `costs[k]`: total USD over the horizon owning `k` GPUs.
    pub costs: Vec<f64>,
    pub best_k: u32,
}

/// Costs every `k` in `0..=fleet` for one model. `all_rented` is the cost at `k = 0`.
pub fn search(
    s: OwnedSetup,
    fleet: u32,
    all_rented: f64,
    w: &Workload,
    ctx: &Context,
    paygo: &[RentalQuote],
) -> Search {
    let mut costs = Vec::with_capacity(fleet as usize + 1);
    costs.push(all_rented);
    for k in 1..=fleet {
        costs.push(fleet_cost(&s, k, w, ctx, paygo).total);
    }
    // The first minimum: on a tie, fewer owned GPUs (less capital at risk).
    let best_k = costs
        .iter()
        .enumerate()
        .min_by(|a, b| a.1.total_cmp(b.1).then(a.0.cmp(&b.0)))
        .map_or(0, |(k, _)| k as u32);
    Search {
        setup: s,
        costs,
        best_k,
    }
}

/// The hybrid column. `all_rented` is the cheapest rental column.
///
/// `preferred` (the owned column's model) is tried first, so that on a tie (typically
/// "own none") the hybrid talks about the same GPU as the owned column.
pub fn estimate(
    w: &Workload,
    ctx: &Context,
    paygo: &[RentalQuote],
    all_rented: Option<&CategoryEstimate>,
    preferred: Option<GpuId>,
) -> CategoryEstimate {
    let (Some(rented), false) = (all_rented.filter(|e| e.available), paygo.is_empty()) else {
        return CategoryEstimate::unavailable(
            Approach::Hybrid,
            "nothing in the catalog to rent the bursts from",
        );
    };
    let fleet = w.fleet_size(ctx.assumptions);
    let mut why = vec![];
    let mut best: Option<Search> = None;
    let models = preferred
        .into_iter()
        .chain(w.models.iter().copied().filter(|m| Some(*m) != preferred));
    for model in models {
        match setup(w, model, fleet, ctx) {
            Ok(s) => {
                let found = search(s, fleet, rented.total, w, ctx, paygo);
                let better = best.as_ref().is_none_or(|b| {
                    found.costs[found.best_k as usize] < b.costs[b.best_k as usize]
                });
                if better {
                    best = Some(found);
                }
            }
            Err(e) => why.push(e),
        }
    }
    let Some(found) = best else {
        return CategoryEstimate::unavailable(Approach::Hybrid, why.join("; "));
    };
    let k = found.best_k;
    let spec = ctx.catalog.table.get(found.setup.model);
    let (mut e, f) = if k == 0 {
        let mut e = rented.clone();
        e.approach = Approach::Hybrid;
        e.pricing = format!("own 0, rent all ({})", rented.approach);
        (e, None)
    } else {
        let f = fleet_cost(&found.setup, k, w, ctx, paygo);
        (owned_part(&found.setup, &f, w, ctx, k == fleet), Some(f))
    };
    let explanation = explain(&found, fleet, rented, f.as_ref(), w, ctx);
    let owned_hours = f.as_ref().map_or(0.0, |f| f.owned_hours);
    e.hybrid = Some(HybridPlan {
        owned_gpus: k,
        fleet_gpus: fleet,
        owned_gpu: spec.id.clone(),
        owned_hours,
        rented_hours: w.total_hours() - owned_hours,
        owned_utilization: f.as_ref().map_or(0.0, |f| {
            f.utilization(w.horizon_months, ctx.assumptions.hours_per_month)
        }),
        rented_from: match &f {
            Some(f) => f.rented_from.clone(),
            None => rented.offer.as_ref().map(|o| o.label()),
        },
        cost_by_owned_gpus: found.costs.clone(),
        explanation: explanation.clone(),
    });
    e.variants.clear();
    e.scalability = if k == 0 {
        rented.scalability.clone()
    } else {
        format!(
            "{k} owned GPU{} for the base load; bursts rented on demand",
            plural(k)
        )
    };
    e
}

/// The column for `k > 0` owned GPUs plus rented bursts.
fn owned_part(
    s: &OwnedSetup,
    f: &FleetCost,
    w: &Workload,
    ctx: &Context,
    all_owned: bool,
) -> CategoryEstimate {
    let a = ctx.assumptions;
    let spec = ctx.catalog.table.get(s.model);
    let mut e = CategoryEstimate::blank(Approach::Hybrid);
    e.pricing = if all_owned {
        format!("own all {}", f.gpus)
    } else {
        format!("own {} + rent the rest", f.gpus)
    };
    e.line_items = line_items(s, f, w, ctx);
    e.initial_cost = f.purchase();
    e.settle(w.horizon_months, w.total_hours() - f.unserved_hours);
    e.data_transfer_cost = 0.0;
    e.performance = Some(Performance::new(
        spec,
        w.width,
        w.width.div_ceil(a.gpus_per_server),
        "InfiniBand",
    ));
    e.time_to_result = TimeToResult {
        lead_time_days: s.lead_time_days,
        provisioning_hours: if f.rented_hours > 0.0 {
            a.provisioning_hours_cloud
        } else {
            0.0
        },
        ..TimeToResult::default()
    };
    e.maintenance_hours_per_month = s.upkeep_hours_per_gpu_month * f64::from(f.gpus);
    e.flexibility = "base load on fixed hardware; bursts rented by the hour".into();
    e.ease_of_use = "two environments to keep in step: your machines and the provider's".into();
    if spec.is_consumer() && s.site == crate::profile::Site::Datacenter {
        e.warnings.push(format!(
            "{} is a GeForce card: NVIDIA's driver licence forbids datacenter deployment",
            spec.id
        ));
    }
    e
}

/// Why this many, in words, with the neighbouring costs.
fn explain(
    found: &Search,
    fleet: u32,
    rented: &CategoryEstimate,
    f: Option<&FleetCost>,
    w: &Workload,
    ctx: &Context,
) -> String {
    let k = found.best_k;
    let cost = |k: u32| found.costs[k as usize];
    let step = w.width;
    let spec = ctx.catalog.table.get(found.setup.model);
    if k == 0 {
        let next = step.min(fleet);
        return format!(
            "Owning any {} costs more than renting everything from {}: owning {next} would \
             add {} over {}.",
            spec.id,
            rented.approach,
            ctx.amount(cost(next) - cost(0)),
            months(w.horizon_months)
        );
    }
    let f = f.expect("a fleet for k > 0");
    let util = f.utilization(w.horizon_months, ctx.assumptions.hours_per_month) * 100.0;
    if k == fleet {
        let fewer = k.saturating_sub(step);
        return format!(
            "Own all {k} {}: they are busy {util:.0}% of the time, and renting part of the work \
             costs more (owning {fewer} instead adds {}).",
            spec.id,
            ctx.amount(cost(fewer) - cost(k))
        );
    }
    let fewer = k.saturating_sub(step);
    let more = (k + step).min(fleet);
    format!(
        "Own {k} {} for the base load: they run {} of {} GPU-h ({util:.0}% busy); renting the \
         remaining {} GPU-h from {} is cheaper than owning GPUs that would sit idle. Owning \
         {fewer} would add {}, owning {more} would add {}.",
        spec.id,
        hours(f.owned_hours),
        hours(w.total_hours()),
        hours(f.rented_hours),
        f.rented_from.as_deref().unwrap_or("-"),
        ctx.amount(cost(fewer) - cost(k)),
        ctx.amount(cost(more) - cost(k))
    )
}
