//! What the scheduler needs from a submitted task, as stored in the job's `task` JSON.

use ferry_policy::PolicyKind;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::PathBuf;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JobPayload {
    /// GPUs on this backend; 0 for CPU-only work.
    pub gpus: u32,
    /// Their model (catalog id), where placement chose one: allocations count usage by it.
    #[serde(default)]
    pub gpu: Option<String>,
    pub workdir: Option<PathBuf>,
    #[serde(default)]
    pub envs: BTreeMap<String, String>,
    pub setup: Option<String>,
    pub run: String,
    /// For backfill: how long the job is expected to take.
    pub estimated_hours: Option<f64>,
    /// For rented work: the placements to try, best first (the plan's runnable rented
    /// candidates). A create refused for no capacity, quota or price moves to the next.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub plan: Vec<PlannedOffer>,
    /// How many more attempts a preempted job gets (`job_recovery.max_restarts`).
    #[serde(default = "default_restarts")]
    pub max_restarts: u32,
    /// Keep trying the plan again, round after round, until capacity appears or this many
    /// seconds have passed since submission (`ferry launch --retry-until-up`).
    #[serde(default)]
    pub retry_until_up_s: Option<u64>,
    /// Disk for a rented machine (the task's `disk_size`), GB.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disk_gb: Option<u32>,
    /// For a job waiting for owned or academic GPUs under `owned-first` or
    /// `deadline-spot`: the rented placements it bursts to, best first, when waiting would
    /// pass its `max_wait` or miss its deadline. It becomes the plan when it bursts.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub burst: Vec<PlannedOffer>,
    /// The policy that placed it (the task's `policy:`, else the server's).
    #[serde(default)]
    pub policy: PolicyKind,
    /// The latest acceptable end (the task's `deadline`), epoch ms.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deadline_ms: Option<i64>,
    /// How long it may wait for owned or academic GPUs before it rents (`max_wait`), s.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_wait_s: Option<i64>,
    /// The most it may cost in all (the task's `budget`): refused at launch above it,
    /// stopped before its accrued cost passes it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub budget: Option<ferry_job::Micros>,
    /// Who launched it: whose monthly budget it counts against.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    /// The project it counts against.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub project: Option<String>,
}

impl Default for JobPayload {
    /// CPU-only work that runs nothing yet, with the default restarts: a base for
    /// `JobPayload { run, gpus, ..JobPayload::default() }`.
    fn default() -> JobPayload {
        JobPayload {
            gpus: 0,
            gpu: None,
            workdir: None,
            envs: BTreeMap::new(),
            setup: None,
            run: String::new(),
            estimated_hours: None,
            plan: vec![],
            max_restarts: DEFAULT_MAX_RESTARTS,
            retry_until_up_s: None,
            disk_gb: None,
            burst: vec![],
            policy: PolicyKind::Cheapest,
            deadline_ms: None,
            max_wait_s: None,
            budget: None,
            user: None,
            project: None,
        }
    }
}

/// Restarts after preemption when the task does not say (`job_recovery.max_restarts`).
pub const DEFAULT_MAX_RESTARTS: u32 = 3;

fn default_restarts() -> u32 {
    DEFAULT_MAX_RESTARTS
}

/// One rented placement of the plan.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PlannedOffer {
    /// The backend that rents it (the provider's id: `runpod`, `vastai`, ...).
    pub backend: String,
    pub offer: ferry_cloud::OfferRef,
    /// The catalog row it came from, with its date.
    pub source: String,
    /// Its category (`gpu-cloud`, `hyperscaler`, `marketplace`), as the catalog says.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub category: Option<String>,
    /// The data the task declares it sends out, at this provider's egress price: booked as
    /// its own ledger line once the job has run there.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub egress: Option<Egress>,
}

/// Declared outbound data and the provider's price for it.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Egress {
    pub gb: f64,
    pub usd_per_gb: f64,
}

impl Egress {
    /// `None` when nothing is declared or the price is unknown.
    pub fn of(outputs_gb: Option<f64>, usd_per_gb: Option<f64>) -> Option<Egress> {
        match (outputs_gb, usd_per_gb) {
            (Some(gb), Some(usd_per_gb)) if gb > 0.0 && usd_per_gb > 0.0 => {
                Some(Egress { gb, usd_per_gb })
            }
            _ => None,
        }
    }

    /// What it costs, rounded to the micro-dollar.
    pub fn amount(self) -> ferry_job::Micros {
        ferry_job::Micros::from_usd(self.gb * self.usd_per_gb).unwrap_or(ferry_job::Micros::ZERO)
    }
}

impl JobPayload {
    pub fn from_value(v: &serde_json::Value) -> Result<JobPayload, String> {
        // From the borrowed value: no copy of the task per read.
        JobPayload::deserialize(v).map_err(|e| format!("the stored task is not a job payload: {e}"))
    }

    pub fn to_value(&self) -> serde_json::Value {
        serde_json::to_value(self).expect("a payload serialises")
    }
}
