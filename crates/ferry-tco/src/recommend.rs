//! The recommendation in plain words, every claim tied to a number in the advice.

use crate::breakeven::BreakEven;
use crate::estimate::{Approach, CategoryEstimate};
use crate::money::{Currency, hours, months};
use crate::rank::{Excluded, Ranked};
use crate::sensitivity::SensitivityCase;
use crate::workload::Workload;
use serde::Serialize;

/// The winner and why. Money is in the output currency.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Recommendation {
    pub approach: Approach,
    /// One sentence: what to do and what it costs.
    pub headline: String,
    /// The reasons, each with its numbers.
    pub reasons: Vec<String>,
}

/// Everything the words are built from (money already in the output currency).
pub(crate) struct Facts<'a> {
    pub w: &'a Workload,
    pub currency: &'a Currency,
    pub estimates: &'a [CategoryEstimate],
    pub ranking: &'a [Ranked],
    pub excluded: &'a [Excluded],
    pub breakeven: Option<&'a BreakEven>,
    pub sensitivity: &'a [SensitivityCase],
}

impl Facts<'_> {
    fn estimate(&self, a: Approach) -> Option<&CategoryEstimate> {
        self.estimates.iter().find(|e| e.approach == a)
    }

    fn what(&self, e: &CategoryEstimate) -> String {
        match e.approach {
            Approach::Owned => format!(
                "buying {}",
                e.performance
                    .as_ref()
                    .map_or(String::new(), |p| format!("{}×{}", p.gpus, p.gpu))
            ),
            Approach::Hybrid => e.pricing.clone(),
            Approach::Academic => e.offer.as_ref().map_or("an academic cluster".into(), |o| {
                format!("{} ({})", o.offering, o.instance_type)
            }),
            _ => e.offer.as_ref().map_or(e.pricing.clone(), |o| {
                format!("{}, {}", o.label(), e.pricing)
            }),
        }
    }
}

/// The recommendation, or `None` when no option could be priced and admitted.
pub(crate) fn recommend(f: &Facts) -> Option<Recommendation> {
    let top = f.ranking.first()?;
    let best = f.estimate(top.approach)?;
    let c = f.currency;
    let per_hour = best.per_useful_gpu_hour.map_or(String::new(), |p| {
        format!(", {} per useful GPU-hour", c.local_price(p))
    });
    let headline = format!(
        "{}: {} — {} over {}{per_hour}, for {} GPU-h a month.",
        best.approach,
        f.what(best),
        c.local_amount(best.total),
        months(f.w.horizon_months),
        hours(f.w.mean_hours_per_month())
    );
    let mut reasons = vec![headline.clone()];
    let next = f
        .ranking
        .iter()
        .skip(1)
        .filter_map(|r| f.estimate(r.approach))
        .find(|e| !reduces_to_single(e));
    if let Some(next) = next {
        let gap = next.total - best.total;
        let pct = if best.total > 0.0 {
            format!(" ({:.0}% more)", gap / best.total * 100.0)
        } else {
            String::new()
        };
        reasons.push(format!(
            "Next is {} ({}) at {}: {} more{pct}.",
            next.approach,
            f.what(next),
            c.local_amount(next.total),
            c.local_amount(gap)
        ));
    }
    if let Some(b) = f.breakeven {
        reasons.push(b.explanation.clone());
    }
    if let Some(plan) = f.estimate(Approach::Hybrid).and_then(|e| e.hybrid.as_ref()) {
        reasons.push(plan.explanation.clone());
    }
    if let Some(split) = f
        .estimate(Approach::Academic)
        .filter(|e| e.available)
        .and_then(|e| e.academic.as_ref().map(|s| (e, s)))
    {
        let (e, s) = split;
        let overflow = if s.overflow_hours > 0.0 {
            format!(
                ", {} GPU-h overflow{}",
                hours(s.overflow_hours),
                s.overflow_to
                    .as_ref()
                    .map_or(String::new(), |o| format!(" to {o}"))
            )
        } else {
            String::new()
        };
        reasons.push(format!(
            "Academic: {} GPU-h run at no cash cost within the allocation{}{overflow}; a job \
             waits about {} h (a heuristic: no public queue statistics).",
            hours(s.allocation_hours),
            if s.guaranteed {
                ""
            } else {
                " (a default account: not guaranteed)"
            },
            hours(e.time_to_result.queue_wait_hours)
        ));
    }
    for x in f.excluded {
        reasons.push(format!("{} is left out: {}.", x.approach, x.reason));
    }
    reasons.push(sensitivity_words(f.sensitivity, top.approach));
    if let Some(w) = best.warnings.first() {
        reasons.push(format!("Mind: {w}."));
    }
    Some(Recommendation {
        approach: top.approach,
        headline,
        reasons,
    })
}

/// A hybrid that owns none or owns the whole fleet is another column under another name.
fn reduces_to_single(e: &CategoryEstimate) -> bool {
    e.hybrid
        .as_ref()
        .is_some_and(|h| h.owned_gpus == 0 || h.owned_gpus == h.fleet_gpus)
}

fn sensitivity_words(cases: &[SensitivityCase], winner: Approach) -> String {
    let changes: Vec<String> = cases
        .iter()
        .filter(|c| c.winner_changes)
        .map(|c| {
            format!(
                "at {} the {}, {} wins",
                if c.multiplier < 1.0 { "half" } else { "double" },
                c.input,
                c.winner.map_or("nothing".to_string(), |a| a.to_string())
            )
        })
        .collect();
    if changes.is_empty() {
        format!(
            "{winner} still wins at half and at double the usage, the electricity price and \
             rental prices."
        )
    } else {
        let mut s = changes.join("; ");
        if let Some(first) = s.get_mut(0..1) {
            first.make_ascii_uppercase();
        }
        format!("{s}.")
    }
}
