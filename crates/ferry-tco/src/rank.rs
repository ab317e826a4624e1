//! Ranking: cheapest total first, after leaving out what cannot serve the workload or makes
//! it wait longer than the profile allows.

use crate::estimate::{Approach, CategoryEstimate};
use crate::money::hours;
use crate::workload::Workload;
use serde::Serialize;

/// One option in the ranking. Money is in the output currency.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Ranked {
    /// 1 for the cheapest.
    pub rank: usize,
    pub approach: Approach,
    pub pricing: String,
    /// Provider and instance, where the option is a catalog offer.
    pub offer: Option<String>,
    pub total: f64,
    pub per_useful_gpu_hour: Option<f64>,
    pub wait_per_job_hours: f64,
}

/// An option left out of the ranking, and why.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Excluded {
    pub approach: Approach,
    pub reason: String,
}

/// Ranks the estimates. On equal totals a single approach comes before the hybrid that
/// reduces to it.
pub fn rank(w: &Workload, estimates: &[CategoryEstimate]) -> (Vec<Ranked>, Vec<Excluded>) {
    let mut kept: Vec<&CategoryEstimate> = vec![];
    let mut excluded = vec![];
    for e in estimates {
        let wait = e.time_to_result.wait_per_job_hours();
        if !e.available {
            excluded.push(Excluded {
                approach: e.approach,
                reason: e.unavailable_reason.clone().unwrap_or_default(),
            });
        } else if let Some(max) = w.max_wait_hours.filter(|max| wait > *max) {
            excluded.push(Excluded {
                approach: e.approach,
                reason: format!(
                    "a job waits about {} h to start, over the {} h the profile allows",
                    hours(wait),
                    hours(max)
                ),
            });
        } else {
            kept.push(e);
        }
    }
    kept.sort_by(|a, b| {
        a.total
            .total_cmp(&b.total)
            .then(a.approach.cmp(&b.approach))
    });
    let ranked = kept
        .into_iter()
        .enumerate()
        .map(|(i, e)| Ranked {
            rank: i + 1,
            approach: e.approach,
            pricing: e.pricing.clone(),
            offer: e.offer.as_ref().map(|o| o.label()),
            total: e.total,
            per_useful_gpu_hour: e.per_useful_gpu_hour,
            wait_per_job_hours: e.time_to_result.wait_per_job_hours(),
        })
        .collect();
    (ranked, excluded)
}
