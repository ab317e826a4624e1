//! Hyperscalers (AWS, Azure, Google Cloud): the best matching offer on-demand; spot with
//! the work re-run after preemptions; 1- and 3-year commitments; egress.
//!
//! A commitment buys `slots` job-sized sets of instances for every hour of its term at a
//! discount, used or not; work beyond them runs on-demand. The model tries every useful
//! number of slots: the cost is convex in it, so the integer optimum sits next to a point
//! where the committed capacity equals some month's demand, and those are the candidates.

use crate::context::Context;
use crate::estimate::{Approach, CategoryEstimate, ChosenOffer, LineItem, Variant};
use crate::money::{hours, months};
use crate::rental::{CategoryQuotes, RentalQuote, estimate_from_quote, plural};
use crate::workload::Workload;
use ferry_catalog::Category;

/// A commitment priced on one offer.
#[derive(Debug, Clone)]
pub struct Commitment<'q, 'a> {
    pub quote: &'q RentalQuote<'a>,
    pub term_months: u32,
    pub discount: f64,
    /// Job-sized sets of instances committed.
    pub slots: u32,
    /// Months under commitment (whole terms within the horizon).
    pub committed_months: u32,
    /// USD per slot per month, paid whether used or not.
    pub fee_per_slot_month: f64,
    pub fee_total: f64,
    /// Hours beyond the committed capacity during the term, at on-demand.
    pub overflow_hours: f64,
    pub overflow_cost: f64,
    /// On-demand after the last whole term.
    pub after_cost: f64,
    pub data_total: f64,
    pub total: f64,
}

impl Commitment<'_, '_> {
    pub fn name(&self) -> String {
        format!("{}-year commitment", self.term_months / 12)
    }
}

/// The cheapest commitment of `term_months` at `discount` on quote `q`.
pub fn commitment<'q, 'a>(
    q: &'q RentalQuote<'a>,
    term_months: u32,
    discount: f64,
    w: &Workload,
    ctx: &Context,
) -> Option<Commitment<'q, 'a>> {
    let a = ctx.assumptions;
    let months = w.horizon_months;
    if months < term_months {
        return None;
    }
    let committed_months = months / term_months * term_months;
    let fee =
        f64::from(q.instances_per_job) * q.price_hour * (1.0 - discount) * (1.0 + q.hidden_uplift)
            / q.reliability
            * a.hours_per_month;
    let capacity = f64::from(w.width) * a.hours_per_month;
    let most = (w.peak_hours() / capacity).ceil().max(1.0) as u32;
    let mut candidates = vec![1, most];
    for d in &w.demand {
        let x = d / capacity;
        candidates.push(x.floor() as u32);
        candidates.push(x.ceil() as u32);
    }
    candidates.retain(|j| (1..=most).contains(j));
    candidates.sort_unstable();
    candidates.dedup();

    let active = w.demand.iter().filter(|d| **d > 0.0).count() as f64;
    let data_total = active * q.data_per_month();
    let after_hours: f64 = w.demand[committed_months as usize..].iter().sum();
    let after_cost = after_hours * q.rate;
    candidates
        .into_iter()
        .map(|slots| {
            let cap = f64::from(slots) * capacity;
            let overflow_hours: f64 = w.demand[..committed_months as usize]
                .iter()
                .map(|d| (d - cap).max(0.0))
                .sum();
            let fee_total = f64::from(slots) * fee * f64::from(committed_months);
            let overflow_cost = overflow_hours * q.rate;
            Commitment {
                quote: q,
                term_months,
                discount,
                slots,
                committed_months,
                fee_per_slot_month: fee,
                fee_total,
                overflow_hours,
                overflow_cost,
                after_cost,
                data_total,
                total: fee_total + overflow_cost + after_cost + data_total,
            }
        })
        .min_by(|x, y| x.total.total_cmp(&y.total))
}

/// The hyperscaler column.
pub fn estimate(w: &Workload, ctx: &Context) -> CategoryEstimate {
    let quotes = CategoryQuotes::new(w, ctx, Category::Hyperscaler);
    let Some(paygo) = quotes.headline(w) else {
        return CategoryEstimate::unavailable(
            Approach::Hyperscaler,
            format!(
                "no hyperscaler offer in the catalog for {}",
                w.models_label(ctx.catalog.table)
            ),
        );
    };
    let a = ctx.assumptions;
    // A commitment discounts the on-demand price; a Capacity Block is already a booked,
    // prepaid block, so no further discount is stacked on it.
    let on_demand: Vec<&RentalQuote> = quotes
        .all
        .iter()
        .filter(|q| !q.spot && !q.offer.offering.contains("Capacity Block"))
        .collect();
    let mut commitments = vec![];
    let mut variants = quotes.variants(w, ctx);
    for (term, discount) in [(12, a.commit_discount_1y), (36, a.commit_discount_3y)] {
        let best = on_demand
            .iter()
            .filter_map(|q| commitment(q, term, discount, w, ctx))
            .min_by(|x, y| x.total.total_cmp(&y.total));
        match best {
            Some(c) => {
                variants.push(Variant {
                    name: c.name(),
                    offer: Some(c.quote.label()),
                    total: c.total,
                    per_useful_gpu_hour: (w.total_hours() > 0.0).then(|| c.total / w.total_hours()),
                    admissible: true,
                    note: format!(
                        "{} slot{} of {} GPUs at {:.0}% off, paid used or not",
                        c.slots,
                        plural(c.slots),
                        w.width,
                        discount * 100.0
                    ),
                });
                commitments.push(c);
            }
            None => variants.push(Variant {
                name: format!("{}-year commitment", term / 12),
                offer: None,
                total: 0.0,
                per_useful_gpu_hour: None,
                admissible: false,
                note: format!(
                    "the horizon ({}) is shorter than the term",
                    months(w.horizon_months)
                ),
            }),
        }
    }
    variants.sort_by(|x, y| {
        y.admissible
            .cmp(&x.admissible)
            .then(x.total.total_cmp(&y.total))
    });

    let paygo_total = paygo.total(&w.demand);
    let best_commit = commitments
        .into_iter()
        .filter(|c| c.total < paygo_total)
        .min_by(|x, y| x.total.total_cmp(&y.total));
    let mut e = match &best_commit {
        None => estimate_from_quote(Approach::Hyperscaler, paygo, w, ctx, "EFA/InfiniBand"),
        Some(c) => committed_estimate(c, w, ctx),
    };
    e.variants = variants;
    let q = best_commit.as_ref().map_or(paygo, |c| c.quote);
    let max = quotes.max_gpus_per_instance();
    e.scalability = format!(
        "up to {max} GPU{} per instance, multi-node on EFA/InfiniBand; GPU instances need a \
         quota increase first",
        plural(max)
    );
    e.flexibility = match &best_commit {
        Some(c) => format!(
            "locked in for {} ({} slot{}); on-demand beyond it",
            months(c.committed_months),
            c.slots,
            plural(c.slots)
        ),
        None => format!("billed {}; stop any time", q.offer.billing),
    };
    e.ease_of_use =
        "mature tooling (IAM, storage, monitoring), and the most set-up of the rentals".into();
    e.constraints.push(format!(
        "egress {}/GB to the internet",
        ctx.price(q.egress_per_gb)
    ));
    e
}

fn committed_estimate(c: &Commitment, w: &Workload, ctx: &Context) -> CategoryEstimate {
    let q = c.quote;
    let mut e = estimate_from_quote(Approach::Hyperscaler, q, w, ctx, "EFA/InfiniBand");
    let horizon = w.horizon_months;
    e.pricing = c.name();
    e.offer = Some(ChosenOffer::new(
        q.offer,
        ctx.catalog,
        Some(q.price_hour * (1.0 - c.discount)),
        false,
    ));
    let mut items = vec![LineItem::recurring(
        "commitment",
        c.fee_total,
        horizon,
        format!(
            "{} slot{} × {} × {} at {:.0}% off {}/h for {}, with {:.0}% hidden costs: \
             {} a month each, used or not",
            c.slots,
            plural(c.slots),
            q.instances_per_job,
            q.offer.instance_type,
            c.discount * 100.0,
            ctx.price(q.price_hour),
            months(c.committed_months),
            q.hidden_uplift * 100.0,
            ctx.amount(c.fee_per_slot_month)
        ),
    )];
    if c.overflow_cost > 0.0 {
        items.push(LineItem::recurring(
            "on-demand beyond the commitment",
            c.overflow_cost,
            horizon,
            format!(
                "{} GPU-h at {} per useful GPU-hour",
                hours(c.overflow_hours),
                ctx.price(q.rate)
            ),
        ));
    }
    if c.after_cost > 0.0 {
        items.push(LineItem::recurring(
            "on-demand after the term",
            c.after_cost,
            horizon,
            format!(
                "months {}–{} at {} per useful GPU-hour",
                c.committed_months + 1,
                horizon,
                ctx.price(q.rate)
            ),
        ));
    }
    items.push(LineItem::recurring(
        "egress",
        c.data_total,
        horizon,
        format!(
            "{} GB out a month × {}/GB",
            hours(w.data_out_gb_per_month),
            ctx.price(q.egress_per_gb)
        ),
    ));
    e.line_items = items;
    e.data_transfer_cost = c.data_total;
    e.settle(horizon, w.total_hours());
    e
}
