//! Which option wins when an input is halved or doubled: usage, electricity price, rental
//! prices.

use crate::advise::evaluate;
use crate::assumptions::Assumptions;
use crate::context::Context;
use crate::estimate::Approach;
use crate::rank::rank;
use crate::workload::Workload;
use serde::Serialize;

/// The multipliers tried on each input.
pub const MULTIPLIERS: [f64; 2] = [0.5, 2.0];

/// One input changed, and the winner then. Money is in the output currency.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SensitivityCase {
    /// `usage`, `electricity price` or `rental prices`.
    pub input: String,
    pub multiplier: f64,
    pub winner: Option<Approach>,
    pub winner_total: f64,
    /// Whether the winner differs from the base case's.
    pub winner_changes: bool,
}

/// Reruns the models with each input at each multiplier.
pub fn analyse(w: &Workload, ctx: &Context, base_winner: Option<Approach>) -> Vec<SensitivityCase> {
    let mut out = vec![];
    for m in MULTIPLIERS {
        let busier = w.scaled_usage(m);
        out.push(case("usage", m, &busier, ctx, base_winner));

        let mut power = w.clone();
        let kwh = w
            .owned
            .electricity_usd_per_kwh
            .unwrap_or(ctx.assumptions.electricity_usd_per_kwh);
        power.owned.electricity_usd_per_kwh = Some(kwh * m);
        out.push(case("electricity price", m, &power, ctx, base_winner));

        let prices = Assumptions {
            rental_price_factor: ctx.assumptions.rental_price_factor * m,
            ..ctx.assumptions.clone()
        };
        let rented = Context::new(ctx.catalog, &prices, ctx.currency.clone());
        out.push(case("rental prices", m, w, &rented, base_winner));
    }
    out
}

fn case(
    input: &str,
    multiplier: f64,
    w: &Workload,
    ctx: &Context,
    base_winner: Option<Approach>,
) -> SensitivityCase {
    let estimates = evaluate(w, ctx);
    let (ranked, _) = rank(w, &estimates);
    let winner = ranked.first();
    SensitivityCase {
        input: input.to_string(),
        multiplier,
        winner: winner.map(|r| r.approach),
        winner_total: winner.map_or(0.0, |r| r.total),
        winner_changes: winner.map(|r| r.approach) != base_winner,
    }
}
