//! The comparison table: one column per approach, one row per criterion, each cell a short
//! string with its numbers. The CLI prints it; `--json` carries it beside the raw numbers.

use crate::advise::Advice;
use crate::estimate::CategoryEstimate;
use crate::money::{hours, months};
use serde::Serialize;

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ComparisonTable {
    /// Approach names, in [`Approach::ALL`](crate::Approach::ALL) order.
    pub columns: Vec<String>,
    pub rows: Vec<TableRow>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TableRow {
    pub criterion: String,
    pub cells: Vec<String>,
}

/// The criteria, in row order.
pub const CRITERIA: [&str; 14] = [
    "option",
    "initial cost",
    "monthly recurring",
    "total",
    "per useful GPU-hour",
    "scalability",
    "flexibility",
    "performance",
    "time to result",
    "ease of use",
    "maintenance",
    "data transfer",
    "constraints",
    "price as of",
];

/// Builds the table from advice (money already in its currency).
pub fn comparison_table(advice: &Advice) -> ComparisonTable {
    let c = &advice.currency;
    let cell = |e: &CategoryEstimate, criterion: &str| -> String {
        if !e.available {
            return if criterion == "option" {
                format!("n/a: {}", e.unavailable_reason.as_deref().unwrap_or(""))
            } else {
                "–".to_string()
            };
        }
        match criterion {
            "option" => match &e.offer {
                Some(o) => format!("{}: {}", e.pricing, o.label()),
                None => e.pricing.clone(),
            },
            "initial cost" => c.local_amount(e.initial_cost),
            "monthly recurring" => c.local_amount(e.monthly_recurring),
            "total" => format!(
                "{} over {}",
                c.local_amount(e.total),
                months(advice.workload.horizon_months)
            ),
            "per useful GPU-hour" => e
                .per_useful_gpu_hour
                .map_or("–".into(), |p| c.local_price(p)),
            "scalability" => e.scalability.clone(),
            "flexibility" => e.flexibility.clone(),
            "performance" => e.performance.as_ref().map_or("–".into(), |p| {
                format!(
                    "{}×{}: {} TFLOPS BF16, {} GB; {}",
                    p.gpus,
                    p.gpu,
                    hours(p.tflops_bf16),
                    hours(p.vram_gb),
                    p.interconnect
                )
            }),
            "time to result" => time_words(e),
            "ease of use" => e.ease_of_use.clone(),
            "maintenance" => format!("{} h a month", hours(e.maintenance_hours_per_month)),
            "data transfer" => c.local_amount(e.data_transfer_cost),
            "constraints" => e.constraints.join("; "),
            "price as of" => e.offer.as_ref().map_or("–".into(), |o| o.as_of.to_string()),
            _ => String::new(),
        }
    };
    ComparisonTable {
        columns: advice
            .estimates
            .iter()
            .map(|e| e.approach.to_string())
            .collect(),
        rows: CRITERIA
            .iter()
            .map(|criterion| TableRow {
                criterion: if *criterion == "total" {
                    format!("total over {}", months(advice.workload.horizon_months))
                } else {
                    criterion.to_string()
                },
                cells: advice
                    .estimates
                    .iter()
                    .map(|e| cell(e, criterion))
                    .collect(),
            })
            .collect(),
    }
}

fn time_words(e: &CategoryEstimate) -> String {
    let t = &e.time_to_result;
    let mut parts = vec![];
    if t.lead_time_days > 0.0 {
        parts.push(format!("hardware in ~{} days", hours(t.lead_time_days)));
    }
    if t.queue_wait_hours > 0.0 {
        parts.push(format!("queue ~{} h per job", hours(t.queue_wait_hours)));
    }
    if t.provisioning_hours > 0.0 {
        parts.push(format!("start ~{} h", hours(t.provisioning_hours)));
    }
    if t.transfer_hours > 0.0 {
        parts.push(format!("data in ~{} h", hours(t.transfer_hours)));
    }
    if parts.is_empty() {
        "no wait".into()
    } else {
        parts.join(", ")
    }
}
