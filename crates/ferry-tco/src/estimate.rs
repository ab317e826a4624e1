//! What each category model produces: one column of the comparison table, with every cost
//! term visible.

use ferry_catalog::{Catalog, Date, GpuSpec, Offer};
use serde::Serialize;
use std::fmt;

/// The six ways of getting GPU compute. `Hybrid` is owned base load plus rented bursts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Approach {
    Owned,
    Academic,
    GpuCloud,
    Hyperscaler,
    Decentralized,
    Hybrid,
}

impl Approach {
    /// Column order of the comparison table.
    pub const ALL: [Approach; 6] = [
        Approach::Owned,
        Approach::Academic,
        Approach::GpuCloud,
        Approach::Hyperscaler,
        Approach::Decentralized,
        Approach::Hybrid,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Approach::Owned => "owned",
            Approach::Academic => "academic",
            Approach::GpuCloud => "gpu-cloud",
            Approach::Hyperscaler => "hyperscaler",
            Approach::Decentralized => "decentralized",
            Approach::Hybrid => "hybrid",
        }
    }
}

impl fmt::Display for Approach {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One named cost term. Money is in the output currency.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LineItem {
    pub name: String,
    /// Over the whole horizon; negative for a credit (resale).
    pub total: f64,
    /// Per month, for recurring terms.
    pub monthly: Option<f64>,
    /// How it was computed, with the numbers.
    pub explanation: String,
}

impl LineItem {
    pub(crate) fn once(name: &str, total: f64, explanation: String) -> LineItem {
        LineItem {
            name: name.to_string(),
            total,
            monthly: None,
            explanation,
        }
    }

    pub(crate) fn recurring(name: &str, total: f64, months: u32, explanation: String) -> LineItem {
        LineItem {
            name: name.to_string(),
            total,
            monthly: Some(total / f64::from(months.max(1))),
            explanation,
        }
    }
}

/// The catalog offer a rental estimate is built on.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ChosenOffer {
    pub provider: String,
    pub offering: String,
    pub instance_type: String,
    pub region: String,
    pub gpu: String,
    pub gpu_count: u32,
    /// Price of the whole instance per hour under the chosen pricing (on-demand or spot),
    /// in the output currency; `None` for allocation-based (academic) offers.
    pub price_hour: Option<f64>,
    pub spot: bool,
    pub source: String,
    pub as_of: Date,
}

impl ChosenOffer {
    pub(crate) fn new(
        offer: &Offer,
        catalog: &Catalog,
        price_hour: Option<f64>,
        spot: bool,
    ) -> Self {
        ChosenOffer {
            provider: offer.provider.clone(),
            offering: offer.offering.clone(),
            instance_type: offer.instance_type.clone(),
            region: offer.region.clone(),
            gpu: catalog.table.get(offer.gpu).id.clone(),
            gpu_count: offer.gpu_count,
            price_hour,
            spot,
            source: offer.source.clone(),
            as_of: offer.as_of,
        }
    }

    /// `RunPod Community Cloud RTX-4090` style label.
    pub fn label(&self) -> String {
        format!(
            "{} {} ({})",
            self.provider, self.offering, self.instance_type
        )
    }
}

/// Another way of buying the same category (spot, a commitment), for comparison.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Variant {
    pub name: String,
    /// Provider and instance it was priced on.
    pub offer: Option<String>,
    pub total: f64,
    pub per_useful_gpu_hour: Option<f64>,
    /// `false` when the profile rules it out (spot for work that cannot be interrupted).
    pub admissible: bool,
    pub note: String,
}

/// How long until work runs.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct TimeToResult {
    /// One-off: days to get owned hardware delivered and running.
    pub lead_time_days: f64,
    /// Per job: expected queue wait (academic clusters).
    pub queue_wait_hours: f64,
    /// Per job: getting an instance.
    pub provisioning_hours: f64,
    /// Per job: moving a month's input data at the host's bandwidth (marketplaces).
    pub transfer_hours: f64,
}

impl TimeToResult {
    /// Hours from submitting a job to it running (once the hardware exists).
    pub fn wait_per_job_hours(&self) -> f64 {
        self.queue_wait_hours + self.provisioning_hours + self.transfer_hours
    }
}

/// The hardware an option gives.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Performance {
    pub gpu: String,
    pub gpus: u32,
    /// Dense BF16 tensor TFLOPS of all the GPUs together.
    pub tflops_bf16: f64,
    /// GPU memory of all the GPUs together.
    pub vram_gb: f64,
    pub interconnect: String,
}

impl Performance {
    pub(crate) fn new(spec: &GpuSpec, gpus: u32, nodes: u32, between_nodes: &str) -> Self {
        let within = if spec.form_factor.contains("SXM") {
            "NVLink/NVSwitch within a node"
        } else if spec.form_factor.contains("OAM") {
            "Infinity Fabric within a node"
        } else if spec.is_consumer() {
            "PCIe only (no NVLink, no ECC)"
        } else {
            "PCIe within a node"
        };
        let interconnect = if nodes > 1 {
            format!("{within}; {nodes} nodes joined by {between_nodes}")
        } else {
            within.to_string()
        };
        Performance {
            gpu: spec.id.clone(),
            gpus,
            tflops_bf16: spec.bf16_tflops * f64::from(gpus),
            vram_gb: spec.vram_gb * f64::from(gpus),
            interconnect,
        }
    }
}

/// The hybrid's choice: own `owned_gpus`, rent the rest.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct HybridPlan {
    pub owned_gpus: u32,
    /// The all-owned fleet: owning this many is the owned column.
    pub fleet_gpus: u32,
    pub owned_gpu: String,
    /// GPU-hours the owned GPUs carry, and the rest rented, over the horizon.
    pub owned_hours: f64,
    pub rented_hours: f64,
    /// Share of the owned GPUs' wall-clock time they are busy.
    pub owned_utilization: f64,
    /// Where the rest is rented (label of the offer), if anything is.
    pub rented_from: Option<String>,
    /// Total cost over the horizon for every owned count considered, 0..=peak (for a chart).
    pub cost_by_owned_gpus: Vec<f64>,
    /// Why this many, in words.
    pub explanation: String,
}

/// How academic hours split between the allocation and the overflow.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AcademicSplit {
    /// GPU-hours a month the allocation gives (fair share; unused hours do not carry over).
    pub allocation_hours_per_month: f64,
    /// GPU-hours over the horizon run within the allocation (no cash cost).
    pub allocation_hours: f64,
    /// GPU-hours over the horizon beyond it, rented from the next-best option.
    pub overflow_hours: f64,
    pub overflow_to: Option<String>,
    /// `false` for a default (RAS) account: the hours are opportunistic, not guaranteed.
    pub guaranteed: bool,
}

/// One column of the comparison: what an approach costs for this workload and why.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CategoryEstimate {
    pub approach: Approach,
    /// `false` when the approach cannot serve this workload; `unavailable_reason` says why
    /// and the money fields are 0.
    pub available: bool,
    pub unavailable_reason: Option<String>,
    /// The catalog offer it is built on (rentals, academic).
    pub offer: Option<ChosenOffer>,
    /// Which way of paying the total is for: `on-demand`, `spot`, `3-year commitment`,
    /// `buy 8`, `own 4 + rent`.
    pub pricing: String,
    pub line_items: Vec<LineItem>,
    pub initial_cost: f64,
    /// Mean recurring cost per month (everything but the initial purchase and resale).
    pub monthly_recurring: f64,
    pub total: f64,
    /// GPU-hours of work done over the horizon.
    pub useful_gpu_hours: f64,
    /// `total ÷ useful_gpu_hours`; `None` when there is no work.
    pub per_useful_gpu_hour: Option<f64>,
    /// Egress fees and paid transfer time, over the horizon.
    pub data_transfer_cost: f64,
    pub time_to_result: TimeToResult,
    pub performance: Option<Performance>,
    pub scalability: String,
    pub flexibility: String,
    pub ease_of_use: String,
    /// Upkeep hours a month the user spends on the hardware.
    pub maintenance_hours_per_month: f64,
    pub constraints: Vec<String>,
    pub warnings: Vec<String>,
    /// Other ways of paying within the category, cheapest first.
    pub variants: Vec<Variant>,
    pub hybrid: Option<HybridPlan>,
    pub academic: Option<AcademicSplit>,
}

impl CategoryEstimate {
    /// An approach that cannot serve the workload.
    pub fn unavailable(approach: Approach, reason: impl Into<String>) -> CategoryEstimate {
        CategoryEstimate {
            approach,
            available: false,
            unavailable_reason: Some(reason.into()),
            offer: None,
            pricing: String::new(),
            line_items: vec![],
            initial_cost: 0.0,
            monthly_recurring: 0.0,
            total: 0.0,
            useful_gpu_hours: 0.0,
            per_useful_gpu_hour: None,
            data_transfer_cost: 0.0,
            time_to_result: TimeToResult::default(),
            performance: None,
            scalability: String::new(),
            flexibility: String::new(),
            ease_of_use: String::new(),
            maintenance_hours_per_month: 0.0,
            constraints: vec![],
            warnings: vec![],
            variants: vec![],
            hybrid: None,
            academic: None,
        }
    }

    /// An available approach with nothing filled in yet.
    pub(crate) fn blank(approach: Approach) -> CategoryEstimate {
        CategoryEstimate {
            available: true,
            unavailable_reason: None,
            ..CategoryEstimate::unavailable(approach, "")
        }
    }

    /// Fills the total, the mean monthly recurring cost and the cost per useful GPU-hour from
    /// the line items (the model sets `initial_cost` itself).
    pub(crate) fn settle(&mut self, months: u32, useful_gpu_hours: f64) {
        self.total = self.line_items.iter().map(|l| l.total).sum();
        let recurring: f64 = self
            .line_items
            .iter()
            .filter(|l| l.monthly.is_some())
            .map(|l| l.total)
            .sum();
        self.monthly_recurring = recurring / f64::from(months.max(1));
        self.useful_gpu_hours = useful_gpu_hours;
        self.per_useful_gpu_hour = (useful_gpu_hours > 0.0).then(|| self.total / useful_gpu_hours);
    }

    /// Multiplies every money field by `f`: USD → the output currency with
    /// `f = currency.per_usd()`. [`advise`](crate::advise()) does this; callers of the
    /// per-approach models, whose numbers are USD, may too.
    pub fn scale_money(&mut self, f: f64) {
        self.initial_cost *= f;
        self.monthly_recurring *= f;
        self.total *= f;
        self.per_useful_gpu_hour = self.per_useful_gpu_hour.map(|v| v * f);
        self.data_transfer_cost *= f;
        for l in &mut self.line_items {
            l.total *= f;
            l.monthly = l.monthly.map(|m| m * f);
        }
        if let Some(o) = &mut self.offer {
            o.price_hour = o.price_hour.map(|p| p * f);
        }
        for v in &mut self.variants {
            v.total *= f;
            v.per_useful_gpu_hour = v.per_useful_gpu_hour.map(|p| p * f);
        }
        if let Some(h) = &mut self.hybrid {
            for c in &mut h.cost_by_owned_gpus {
                *c *= f;
            }
        }
    }
}
