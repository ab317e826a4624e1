//! Renting by the hour: what a GPU-hour of useful work costs on one offer, all terms in.
//!
//! A job of `width` GPUs rents whole instances: `ceil(width / gpu_count)` of them. One
//! useful GPU-hour then costs
//!
//! ```text
//! rate = instances × price_hour ÷ width            (what the GPUs cost)
//!        × (1 + hidden_uplift)                     (storage, setup, debugging)
//!        × (1 + spot_overhead × instances, spot)   (work re-run after preemptions)
//!        ÷ reliability^instances                   (work lost when a host fails)
//! ```
//!
//! and each month of work moves its data: egress at the offer's $/GB and, on marketplaces,
//! the paid hours the instances sit idle while data crosses the host's link. A month that
//! rents only part of its demand moves that part of its data. Everything is linear in the
//! hours rented, which is what lets the hybrid and the academic overflow price a remainder
//! exactly.

use crate::context::Context;
use crate::estimate::{
    Approach, CategoryEstimate, ChosenOffer, LineItem, Performance, TimeToResult, Variant,
};
use crate::money::hours;
use crate::workload::Workload;
use ferry_catalog::{Category, Offer, Pricing};

/// One offer priced for the workload under one pricing (on-demand or spot).
#[derive(Debug, Clone)]
pub struct RentalQuote<'a> {
    pub offer: &'a Offer,
    pub spot: bool,
    /// Instances one job rents.
    pub instances_per_job: u32,
    /// Instance price per hour, USD (after the sensitivity factor).
    pub price_hour: f64,
    /// `instances × price_hour ÷ width`: paid GPU time per useful GPU-hour, before overheads.
    pub base_per_gpu_hour: f64,
    pub hidden_uplift: f64,
    /// Extra work re-run after preemptions (0 on-demand).
    pub spot_overhead: f64,
    /// Share of paid time that produces work, for the whole job (`reliability^instances`).
    pub reliability: f64,
    /// All-in USD per useful GPU-hour.
    pub rate: f64,
    pub egress_per_gb: f64,
    /// Egress for a whole month of work, USD.
    pub egress_per_month: f64,
    /// Hours a month's data takes to move (marketplaces only), and what that idle time costs.
    pub transfer_hours_per_month: f64,
    pub transfer_cost_per_month: f64,
}

impl RentalQuote<'_> {
    /// Data costs of a whole month of work, USD.
    pub fn data_per_month(&self) -> f64 {
        self.egress_per_month + self.transfer_cost_per_month
    }

    /// USD to rent `rented` GPU-hours of a month that needs `demand`.
    pub fn month_cost(&self, rented: f64, demand: f64) -> f64 {
        if rented <= 0.0 || demand <= 0.0 {
            return 0.0;
        }
        rented * self.rate + self.data_per_month() * (rented / demand)
    }

    /// USD to rent `hours` GPU-hours that make up `months_of_data` months' worth of data
    /// (the sum over months of rented ÷ demand).
    pub fn cost(&self, hours: f64, months_of_data: f64) -> f64 {
        hours * self.rate + self.data_per_month() * months_of_data
    }

    /// USD to rent the whole demand series.
    pub fn total(&self, demand: &[f64]) -> f64 {
        let (h, m) = rented_terms(demand, demand);
        self.cost(h, m)
    }

    /// `RunPod Community Cloud (RTX 4090)`.
    pub fn label(&self) -> String {
        format!(
            "{} {} ({}){}",
            self.offer.provider,
            self.offer.offering,
            self.offer.instance_type,
            if self.spot { ", spot" } else { "" }
        )
    }

    /// The cost terms of renting the whole demand series on this quote.
    pub fn line_items(&self, w: &Workload, ctx: &Context) -> Vec<LineItem> {
        let months = w.horizon_months;
        let h = w.total_hours();
        let active = w.demand.iter().filter(|d| **d > 0.0).count() as f64;
        let base = h * self.base_per_gpu_hour;
        let hidden = base * self.hidden_uplift;
        let preempt = (base + hidden) * self.spot_overhead;
        let lost = (base + hidden + preempt) * (1.0 / self.reliability - 1.0);
        let mut items = vec![LineItem::recurring(
            "compute",
            base,
            months,
            format!(
                "{} GPU-h × {} per GPU-hour ({} instance{} of {} GPU{} at {}/h for a {}-GPU job)",
                hours(h),
                ctx.price(self.base_per_gpu_hour),
                self.instances_per_job,
                plural(self.instances_per_job),
                self.offer.gpu_count,
                plural(self.offer.gpu_count),
                ctx.price(self.price_hour),
                w.width
            ),
        )];
        items.push(LineItem::recurring(
            "hidden costs",
            hidden,
            months,
            format!(
                "{:.0}% on top for storage, networking, setup and debugging (SemiAnalysis)",
                self.hidden_uplift * 100.0
            ),
        ));
        if self.spot {
            items.push(LineItem::recurring(
                "preemption re-runs",
                preempt,
                months,
                format!(
                    "{:.0}% of the work re-run after spot preemptions",
                    self.spot_overhead * 100.0
                ),
            ));
        }
        if self.reliability < 1.0 {
            items.push(LineItem::recurring(
                "lost work",
                lost,
                months,
                format!(
                    "hosts up {:.1}% of the time for the whole job: paid time ÷ {:.3}",
                    self.reliability * 100.0,
                    self.reliability
                ),
            ));
        }
        items.push(LineItem::recurring(
            "egress",
            active * self.egress_per_month,
            months,
            format!(
                "{} GB out a month × {}/GB",
                hours(w.data_out_gb_per_month),
                ctx.price(self.egress_per_gb)
            ),
        ));
        if self.transfer_hours_per_month > 0.0 {
            items.push(LineItem::recurring(
                "transfer time",
                active * self.transfer_cost_per_month,
                months,
                format!(
                    "{} GB in + out a month at {:.0} Mbit/s = {} h of paid idle instance time",
                    hours(w.data_in_gb_per_month + w.data_out_gb_per_month),
                    ctx.assumptions.decentralized_bandwidth_mbps,
                    hours(self.transfer_hours_per_month)
                ),
            ));
        }
        items
    }

    /// The hardware a job gets.
    pub fn performance(&self, w: &Workload, ctx: &Context, between_nodes: &str) -> Performance {
        let spec = ctx.catalog.table.get(self.offer.gpu);
        Performance::new(spec, w.width, self.instances_per_job, between_nodes)
    }

    /// Waiting per job: provisioning, and moving the input data on marketplaces.
    pub fn time_to_result(&self, w: &Workload, ctx: &Context) -> TimeToResult {
        let a = ctx.assumptions;
        let decentralized = self.offer.category == Category::Decentralized;
        TimeToResult {
            lead_time_days: 0.0,
            queue_wait_hours: 0.0,
            provisioning_hours: if decentralized {
                a.provisioning_hours_decentralized
            } else {
                a.provisioning_hours_cloud
            },
            transfer_hours: if decentralized {
                transfer_hours(w.data_in_gb_per_month, a.decentralized_bandwidth_mbps)
            } else {
                0.0
            },
        }
    }
}

pub(crate) fn plural(n: u32) -> &'static str {
    if n == 1 { "" } else { "s" }
}

/// Hours to move `gb` gigabytes at `mbps` megabits a second.
pub fn transfer_hours(gb: f64, mbps: f64) -> f64 {
    if mbps <= 0.0 {
        return 0.0;
    }
    gb * 8000.0 / mbps / 3600.0
}

/// Offers the catalog marks experimental (Golem's GPU providers).
pub fn is_experimental(offer: &Offer) -> bool {
    offer.offering.to_ascii_lowercase().contains("experimental")
}

/// Every cash offer of `category` for the workload's GPU models, priced on-demand and
/// (when `with_spot`) spot.
pub fn quotes<'a>(
    w: &Workload,
    ctx: &Context<'a>,
    category: Category,
    with_spot: bool,
) -> Vec<RentalQuote<'a>> {
    let a = ctx.assumptions;
    let (reliability_default, egress_default) = match category {
        Category::Hyperscaler => (a.reliability_hyperscaler, a.egress_usd_per_gb_hyperscaler),
        Category::GpuCloud => (a.reliability_gpu_cloud, a.egress_usd_per_gb_gpu_cloud),
        _ => (
            a.reliability_decentralized,
            a.egress_usd_per_gb_decentralized,
        ),
    };
    let mut out = vec![];
    for offer in ctx.catalog.offers.iter().filter(|o| {
        o.category == category
            && o.pricing == Pricing::Cash
            && o.gpu_count > 0
            && w.models.contains(&o.gpu)
            && (w.allow_experimental || !is_experimental(o))
    }) {
        for spot in [false, true] {
            if spot && !with_spot {
                continue;
            }
            let Some(price) = offer.price(spot).filter(|p| *p > 0.0) else {
                continue;
            };
            let price_hour = price * a.rental_price_factor;
            let instances = w.width.div_ceil(offer.gpu_count);
            let base = f64::from(instances) * price_hour / f64::from(w.width);
            let reliability = offer
                .reliability
                .unwrap_or(reliability_default)
                .clamp(0.01, 1.0)
                .powi(instances as i32);
            // A preemption of any instance stops the whole job: n instances are preempted
            // about n times as often.
            let spot_overhead = if spot {
                a.spot_interruption_overhead * f64::from(instances)
            } else {
                0.0
            };
            let rate = base * (1.0 + a.rental_hidden_uplift) * (1.0 + spot_overhead) / reliability;
            let egress_per_gb = offer.egress_per_gb.unwrap_or(egress_default);
            let transfer = if category == Category::Decentralized {
                transfer_hours(
                    w.data_in_gb_per_month + w.data_out_gb_per_month,
                    a.decentralized_bandwidth_mbps,
                )
            } else {
                0.0
            };
            out.push(RentalQuote {
                offer,
                spot,
                instances_per_job: instances,
                price_hour,
                base_per_gpu_hour: base,
                hidden_uplift: a.rental_hidden_uplift,
                spot_overhead,
                reliability,
                rate,
                egress_per_gb,
                egress_per_month: w.data_out_gb_per_month * egress_per_gb,
                transfer_hours_per_month: transfer,
                transfer_cost_per_month: transfer * f64::from(instances) * price_hour,
            });
        }
    }
    out
}

/// Pay-as-you-go quotes from every rental category that the profile admits (spot only for
/// interruptible work, no longer a wait than it allows): what a remainder (hybrid bursts,
/// owned shortfall, academic overflow) is rented from.
pub fn paygo_quotes<'a>(w: &Workload, ctx: &Context<'a>) -> Vec<RentalQuote<'a>> {
    [
        Category::GpuCloud,
        Category::Hyperscaler,
        Category::Decentralized,
    ]
    .into_iter()
    .flat_map(|c| quotes(w, ctx, c, w.interruptible))
    .filter(|q| {
        w.max_wait_hours
            .is_none_or(|max| q.time_to_result(w, ctx).wait_per_job_hours() <= max)
    })
    .collect()
}

/// The rented hours and months-of-data of renting `rented[m]` out of `demand[m]`.
pub fn rented_terms(rented: &[f64], demand: &[f64]) -> (f64, f64) {
    rented
        .iter()
        .zip(demand)
        .filter(|(r, d)| **r > 0.0 && **d > 0.0)
        .fold((0.0, 0.0), |(h, m), (r, d)| (h + r, m + r / d))
}

/// The cheapest quote for `hours` rented GPU-hours carrying `months_of_data` months of data;
/// `None` when there is nothing to rent from (and something to rent).
pub fn cheapest(quotes: &[RentalQuote], hours: f64, months_of_data: f64) -> Option<(usize, f64)> {
    quotes
        .iter()
        .enumerate()
        .map(|(i, q)| (i, q.cost(hours, months_of_data)))
        .min_by(|a, b| a.1.total_cmp(&b.1).then(a.0.cmp(&b.0)))
}

/// The quote that rents the whole demand series cheapest.
pub fn best<'q, 'a>(quotes: &'q [RentalQuote<'a>], demand: &[f64]) -> Option<&'q RentalQuote<'a>> {
    let (h, m) = rented_terms(demand, demand);
    cheapest(quotes, h, m).map(|(i, _)| &quotes[i])
}

/// A rental category's quotes: all of them, and the cheapest on-demand and spot ones.
#[derive(Debug, Clone)]
pub struct CategoryQuotes<'a> {
    pub all: Vec<RentalQuote<'a>>,
    pub on_demand: Option<RentalQuote<'a>>,
    pub spot: Option<RentalQuote<'a>>,
}

impl<'a> CategoryQuotes<'a> {
    /// Prices every offer of `category` both ways and keeps the cheapest of each.
    pub fn new(w: &Workload, ctx: &Context<'a>, category: Category) -> Self {
        let all = quotes(w, ctx, category, true);
        let pick = |spot: bool| {
            let subset: Vec<RentalQuote<'a>> =
                all.iter().filter(|q| q.spot == spot).cloned().collect();
            best(&subset, &w.demand).cloned()
        };
        CategoryQuotes {
            on_demand: pick(false),
            spot: pick(true),
            all,
        }
    }

    /// The cheapest quote the workload allows (spot only for interruptible work).
    pub fn headline(&self, w: &Workload) -> Option<&RentalQuote<'a>> {
        let spot = self.spot.as_ref().filter(|_| w.interruptible);
        match (&self.on_demand, spot) {
            (Some(o), Some(s)) => Some(if s.total(&w.demand) < o.total(&w.demand) {
                s
            } else {
                o
            }),
            (Some(o), None) => Some(o),
            (None, s) => s,
        }
    }

    /// On-demand and spot, each on its cheapest offer.
    pub fn variants(&self, w: &Workload, ctx: &Context) -> Vec<Variant> {
        let hours = w.total_hours();
        let mut out = vec![];
        for q in self.on_demand.iter().chain(self.spot.iter()) {
            let total = q.total(&w.demand);
            let admissible = !q.spot || w.interruptible;
            out.push(Variant {
                name: if q.spot { "spot" } else { "on-demand" }.to_string(),
                offer: Some(q.label()),
                total,
                per_useful_gpu_hour: (hours > 0.0).then(|| total / hours),
                admissible,
                note: if admissible {
                    format!("{} per useful GPU-hour all in", ctx.price(q.rate))
                } else {
                    "not for this work: it cannot be interrupted (set job.interruptible)".into()
                },
            });
        }
        out
    }

    /// The most GPUs one instance of the category offers for these models.
    pub fn max_gpus_per_instance(&self) -> u32 {
        self.all
            .iter()
            .map(|q| q.offer.gpu_count)
            .max()
            .unwrap_or(0)
    }
}

/// The parts of a rental estimate every rental category shares, built on one quote.
pub(crate) fn estimate_from_quote(
    approach: Approach,
    q: &RentalQuote,
    w: &Workload,
    ctx: &Context,
    between_nodes: &str,
) -> CategoryEstimate {
    let mut e = CategoryEstimate::blank(approach);
    e.offer = Some(ChosenOffer::new(
        q.offer,
        ctx.catalog,
        Some(q.price_hour),
        q.spot,
    ));
    e.pricing = if q.spot { "spot" } else { "on-demand" }.to_string();
    e.line_items = q.line_items(w, ctx);
    let active = w.demand.iter().filter(|d| **d > 0.0).count() as f64;
    e.data_transfer_cost = active * q.data_per_month();
    e.time_to_result = q.time_to_result(w, ctx);
    e.performance = Some(q.performance(w, ctx, between_nodes));
    e.settle(w.horizon_months, w.total_hours());
    let spec = ctx.catalog.table.get(q.offer.gpu);
    if spec.is_consumer() {
        e.warnings.push(format!(
            "{} is a GeForce card: NVIDIA's driver licence forbids datacenter deployment, so the \
             provider carries that risk and may withdraw it",
            spec.id
        ));
    }
    if q.offer.egress_per_gb.is_none() && w.data_out_gb_per_month > 0.0 {
        e.constraints.push(format!(
            "egress price not stated by the catalog; assumed {}/GB",
            ctx.price(q.egress_per_gb)
        ));
    }
    e
}
