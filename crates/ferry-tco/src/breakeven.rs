//! Buy or rent: the utilisation at which owning beats the best pay-as-you-go rental, and the
//! month the purchase pays for itself at the profile's usage.
//!
//! Over the horizon, owning the fleet costs `F + V·H` (fixed costs net of resale, plus
//! energy per busy GPU-hour) and renting costs `r·H + D` (the all-in rate, plus data moved
//! each month). They meet at `H* = (F − D) / (r − V)`; as a utilisation of the fleet,
//! `u* = H* / (gpus × hours_per_month × months)` (REPORT §3.2, `u* = F / (p − V)`).

use crate::context::Context;
use crate::money::{hours, months};
use crate::owned::{OwnedPlan, owned_hours};
use crate::rental::RentalQuote;
use crate::workload::Workload;
use serde::Serialize;

/// Buy versus the best rental, in numbers and words. Money is in the output currency.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BreakEven {
    pub owned_gpu: String,
    pub owned_gpus: u32,
    /// The rental compared against (the cheapest pay-as-you-go offer for this workload).
    pub rental: String,
    /// Its all-in price per useful GPU-hour.
    pub rental_per_gpu_hour: f64,
    /// Owned energy per busy GPU-hour.
    pub owned_energy_per_gpu_hour: f64,
    /// Share of the fleet's time it must be busy for buying to win; `None` when renting
    /// wins even at full use.
    pub breakeven_utilization: Option<f64>,
    /// The same as GPU-hours a month.
    pub breakeven_gpu_hours_per_month: Option<f64>,
    /// The profile's utilisation of that fleet.
    pub utilization: f64,
    /// Months until the purchase is paid back by what renting would have cost; `None` when
    /// it never is within the service life.
    pub payback_months: Option<f64>,
    pub explanation: String,
}

impl BreakEven {
    pub(crate) fn scale_money(&mut self, f: f64) {
        self.rental_per_gpu_hour *= f;
        self.owned_energy_per_gpu_hour *= f;
    }
}

/// Break-even and payback of `plan` against `rental`.
pub fn compute(plan: &OwnedPlan, rental: &RentalQuote, w: &Workload, ctx: &Context) -> BreakEven {
    let a = ctx.assumptions;
    let (s, f) = (&plan.setup, &plan.fleet);
    let spec = ctx.catalog.table.get(s.model);
    let months = f64::from(w.horizon_months);
    let wall_hours = f64::from(f.gpus) * a.hours_per_month * months;
    let r = rental.rate;
    let v = s.energy_per_busy_gpu_hour;
    let data = rental.data_per_month() * months;
    let utilization = if wall_hours > 0.0 {
        w.total_hours() / wall_hours
    } else {
        0.0
    };

    let breakeven_utilization = (r > v)
        .then(|| ((f.fixed() - data) / ((r - v) * wall_hours)).max(0.0))
        .filter(|u| *u <= s.availability);
    let breakeven_gpu_hours_per_month =
        breakeven_utilization.map(|u| u * f64::from(f.gpus) * a.hours_per_month);

    let payback_months = payback(plan, rental, w, ctx);
    let explanation = words(
        plan,
        rental,
        w,
        ctx,
        breakeven_gpu_hours_per_month,
        breakeven_utilization,
        payback_months,
    );
    BreakEven {
        owned_gpu: spec.id.clone(),
        owned_gpus: f.gpus,
        rental: rental.label(),
        rental_per_gpu_hour: r,
        owned_energy_per_gpu_hour: v,
        breakeven_utilization,
        breakeven_gpu_hours_per_month,
        utilization,
        payback_months,
        explanation,
    }
}

/// Months until the savings over renting repay the purchase: month by month over the
/// horizon, then at the mean monthly saving up to the end of the service life.
pub fn payback(plan: &OwnedPlan, rental: &RentalQuote, w: &Workload, ctx: &Context) -> Option<f64> {
    let a = ctx.assumptions;
    let (s, f) = (&plan.setup, &plan.fleet);
    let months = f64::from(w.horizon_months);
    let fixed_monthly = (f.space + f.labour + f.maintenance) / months;
    let capital = f.purchase();
    let mut saved = 0.0;
    let mut total_saving = 0.0;
    for (m, d) in w.demand.iter().enumerate() {
        let own = owned_hours(f.gpus, *d, w, s, a);
        let rent_all = rental.month_cost(*d, *d);
        let own_cost =
            fixed_monthly + own * s.energy_per_busy_gpu_hour + rental.month_cost(d - own, *d);
        let saving = rent_all - own_cost;
        total_saving += saving;
        if saving > 0.0 && saved + saving >= capital {
            return Some(m as f64 + (capital - saved) / saving);
        }
        saved += saving;
    }
    let mean = total_saving / months;
    let life_months = s.service_life_years * 12.0;
    (mean > 0.0)
        .then(|| months + (capital - saved) / mean)
        .filter(|m| *m <= life_months)
}

fn words(
    plan: &OwnedPlan,
    rental: &RentalQuote,
    w: &Workload,
    ctx: &Context,
    breakeven_hours: Option<f64>,
    breakeven_utilization: Option<f64>,
    payback_months: Option<f64>,
) -> String {
    let (s, f) = (&plan.setup, &plan.fleet);
    let spec = ctx.catalog.table.get(s.model);
    let usage = hours(w.mean_hours_per_month());
    let buy = format!(
        "Buying {}×{} ({} up front)",
        f.gpus,
        spec.id,
        ctx.amount(f.purchase())
    );
    let pays = match payback_months {
        Some(m) => format!(
            "{buy} pays for itself after {} at {usage} GPU-h/month (savings over renting, \
             resale not counted)",
            months(m.ceil() as u32)
        ),
        None => format!(
            "{buy} does not pay for itself within its {}-year life at {usage} GPU-h/month",
            s.service_life_years
        ),
    };
    let rent = format!(
        "{} ({} per useful GPU-hour)",
        rental.label(),
        ctx.price(rental.rate)
    );
    match (breakeven_hours, breakeven_utilization) {
        (Some(h), Some(u)) => format!(
            "{pays}; below {} GPU-h/month ({:.0}% utilisation) {rent} is cheaper.",
            hours(h),
            u * 100.0
        ),
        _ => format!("{pays}; {rent} is cheaper even if the GPUs were busy all the time."),
    }
}
