//! Academic clusters (Digital Research Alliance of Canada / Calcul Québec): no cash cost
//! within the allocation, hours beyond it rented from the next-best option, a queue wait
//! before each job, and only for eligible researchers.
//!
//! An allocation is a fair-share weight, not a bank account: past usage decays with a
//! one-week half-life (REPORT §5), so its share arrives month by month and an unused month
//! does not carry over. Each month, `min(demand, allocation)` hours run free and the rest
//! overflows: every hour is counted exactly once.

use crate::context::Context;
use crate::estimate::{
    AcademicSplit, Approach, CategoryEstimate, ChosenOffer, LineItem, Performance, TimeToResult,
};
use crate::money::hours;
use crate::rental::{RentalQuote, cheapest, rented_terms};
use crate::workload::Workload;
use ferry_catalog::{Category, Offer, Pricing};

/// The PAICE clusters (TamIA, Killarney, Vulcan) take only `aip-` allocations; the catalog
/// names them "PAICE" in the offering.
fn is_paice(o: &Offer) -> bool {
    o.offering.contains("PAICE")
}

/// Hours within the allocation and beyond it, month by month.
#[derive(Debug, Clone, PartialEq)]
pub struct Split {
    pub allocation_hours_per_month: f64,
    pub within: Vec<f64>,
    pub overflow: Vec<f64>,
}

/// Splits each month's demand between the allocation and the overflow.
pub fn split(demand: &[f64], allocation_hours_per_month: f64) -> Split {
    let within: Vec<f64> = demand
        .iter()
        .map(|d| d.min(allocation_hours_per_month))
        .collect();
    let overflow = demand.iter().zip(&within).map(|(d, a)| d - a).collect();
    Split {
        allocation_hours_per_month,
        within,
        overflow,
    }
}

/// The cluster offer a job of `width` GPUs goes to: the smallest node that holds it (the
/// shortest wait), else the largest node.
fn choose_offer<'a>(w: &Workload, ctx: &Context<'a>) -> Option<&'a Offer> {
    let offers: Vec<&Offer> = ctx
        .catalog
        .offers
        .iter()
        .filter(|o| {
            o.category == Category::Academic
                && o.pricing == Pricing::Allocation
                && o.gpu_count > 0
                && w.models.contains(&o.gpu)
                && (w.paice || !is_paice(o))
        })
        .collect();
    let wait = |o: &Offer| {
        o.queue_wait_h
            .unwrap_or(ctx.assumptions.academic_default_queue_wait_hours)
    };
    let fits = offers
        .iter()
        .filter(|o| o.gpu_count >= w.width)
        .min_by(|a, b| {
            a.gpu_count
                .cmp(&b.gpu_count)
                .then(wait(a).total_cmp(&wait(b)))
        });
    fits.or_else(|| offers.iter().max_by_key(|o| o.gpu_count))
        .copied()
}

/// The academic column.
pub fn estimate(w: &Workload, ctx: &Context, paygo: &[RentalQuote]) -> CategoryEstimate {
    let a = ctx.assumptions;
    if !w.academic_eligible {
        return CategoryEstimate::unavailable(
            Approach::Academic,
            "academic access is free only to eligible researchers (a Canadian academic PI or \
             someone they sponsor); others can ask Calcul Québec for paid access, which has no \
             public price list",
        );
    }
    let Some(offer) = choose_offer(w, ctx) else {
        return CategoryEstimate::unavailable(
            Approach::Academic,
            format!(
                "no academic cluster in the catalog{} offers {}",
                if w.paice {
                    ""
                } else {
                    " open without a PAICE allocation"
                },
                w.models_label(ctx.catalog.table)
            ),
        );
    };
    let spec = ctx.catalog.table.get(offer.gpu);
    let nodes = w.width.div_ceil(offer.gpu_count);
    let node_wait = offer
        .queue_wait_h
        .unwrap_or(a.academic_default_queue_wait_hours);
    // Multi-node jobs wait for every node: assumed proportional to the nodes (no public
    // queue statistics exist to do better).
    let wait = node_wait * f64::from(nodes);
    let guaranteed = w.allocation_gpu_years.is_some();
    let gpu_years = w
        .allocation_gpu_years
        .unwrap_or(a.academic_default_gpu_years);
    let s = split(&w.demand, gpu_years * a.hours_per_month);
    let within: f64 = s.within.iter().sum();
    let (overflow_hours, months_of_data) = rented_terms(&s.overflow, &w.demand);

    let mut e = CategoryEstimate::blank(Approach::Academic);
    e.offer = Some(ChosenOffer::new(offer, ctx.catalog, None, false));
    e.pricing = if guaranteed {
        "allocation"
    } else {
        "default (RAS) account"
    }
    .to_string();
    e.line_items.push(LineItem::recurring(
        "within the allocation",
        0.0,
        w.horizon_months,
        format!(
            "{} GPU-h at no cash cost ({} GPU-year{} a year = {} GPU-h a month)",
            hours(within),
            gpu_years,
            if gpu_years == 1.0 { "" } else { "s" },
            hours(s.allocation_hours_per_month)
        ),
    ));
    let mut overflow_to = None;
    let mut served = within;
    if overflow_hours > 0.0 {
        match cheapest(paygo, overflow_hours, months_of_data) {
            Some((i, cost)) => {
                let q = &paygo[i];
                overflow_to = Some(q.label());
                served += overflow_hours;
                e.data_transfer_cost = q.data_per_month() * months_of_data;
                e.line_items.push(LineItem::recurring(
                    "overflow rented",
                    cost,
                    w.horizon_months,
                    format!(
                        "{} GPU-h beyond the allocation from {} at {} per useful GPU-hour",
                        hours(overflow_hours),
                        q.label(),
                        ctx.price(q.rate)
                    ),
                ));
            }
            None => e.warnings.push(format!(
                "{} GPU-h beyond the allocation and nothing in the catalog to rent them from: \
                 left out of the cost",
                hours(overflow_hours)
            )),
        }
    }
    e.settle(w.horizon_months, served);
    e.academic = Some(AcademicSplit {
        allocation_hours_per_month: s.allocation_hours_per_month,
        allocation_hours: within,
        overflow_hours,
        overflow_to: overflow_to.clone(),
        guaranteed,
    });
    e.time_to_result = TimeToResult {
        queue_wait_hours: wait,
        ..TimeToResult::default()
    };
    e.performance = Some(Performance::new(
        spec,
        w.width,
        nodes,
        "the cluster's InfiniBand",
    ));
    e.scalability = format!(
        "{} GPU-h a month within the allocation (≈ {:.1} GPUs busy all month){}",
        hours(s.allocation_hours_per_month),
        s.allocation_hours_per_month / a.hours_per_month,
        overflow_to.map_or(String::new(), |o| format!("; beyond it, {o}"))
    );
    e.flexibility =
        "fair share: an unused month does not carry over; allocations are applied for yearly (RAC)"
            .to_string();
    e.ease_of_use = format!(
        "Slurm batch jobs on {}, software from modules, no root",
        offer.region
    );
    e.constraints
        .push("eligibility: a Canadian academic PI or someone they sponsor".to_string());
    e.constraints.push(
        "job length capped (7 days on most clusters, 24 h on Trillium and TamIA): checkpoint"
            .to_string(),
    );
    e.warnings.push(format!(
        "queue wait {} h per job is a heuristic: no public queue statistics exist (check \
         partition-stats and sshare on the cluster)",
        hours(wait)
    ));
    if !guaranteed {
        e.warnings.push(format!(
            "no allocation given: assumed a default (RAS) account using up to {gpu_years} \
             GPU-years a year, opportunistic and not guaranteed (scarce before conference \
             deadlines); apply for a RAC above that"
        ));
    }
    e
}
