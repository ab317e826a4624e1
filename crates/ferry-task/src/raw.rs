//! The file's shape exactly as written: serde structs that refuse unknown keys.

use serde::Deserialize;
use std::collections::BTreeMap;

/// Every top-level key a task file may have, for suggestions.
pub const TOP_KEYS: &[&str] = &[
    "name",
    "resources",
    "num_nodes",
    "envs",
    "workdir",
    "file_mounts",
    "setup",
    "run",
    "estimated_hours",
    "max_price",
    "deadline",
    "categories",
    "budget",
    "policy",
    "max_wait",
    "inputs_gb",
    "outputs_gb",
    "job_recovery",
];
pub const RESOURCE_KEYS: &[&str] = &[
    "accelerators",
    "cpus",
    "memory",
    "cloud",
    "infra",
    "region",
    "use_spot",
    "disk_size",
    "any_of",
    "job_recovery",
];

/// SkyPilot's `job_recovery`: how a job is recovered when its machine is taken back.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawRecovery {
    /// SkyPilot's recovery strategy (`FAILOVER`, `EAGER_NEXT_REGION`): Ferry always fails
    /// over along the plan, so the value is accepted as it is.
    #[allow(dead_code)]
    // accepted as written; Ferry fails over along its plan whatever it says
    pub strategy: Option<String>,
    /// Restarts after a preemption.
    pub max_restarts: Option<u32>,
    /// SkyPilot's name for restarts on the job's own errors; Ferry reads it as restarts.
    pub max_restarts_on_errors: Option<u32>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawTask {
    pub name: Option<String>,
    pub resources: Option<RawResources>,
    pub num_nodes: Option<u32>,
    pub envs: Option<BTreeMap<String, Scalar>>,
    pub workdir: Option<String>,
    pub file_mounts: Option<BTreeMap<String, String>>,
    pub setup: Option<String>,
    pub run: Option<String>,
    pub estimated_hours: Option<f64>,
    pub max_price: Option<f64>,
    pub deadline: Option<String>,
    pub categories: Option<Vec<String>>,
    pub budget: Option<f64>,
    /// `cheapest`, `owned-first` or `deadline-spot`.
    pub policy: Option<String>,
    /// `90m`, `2h`, `1d`: how long the job may wait for owned GPUs before it rents.
    pub max_wait: Option<String>,
    pub inputs_gb: Option<f64>,
    pub outputs_gb: Option<f64>,
    pub job_recovery: Option<RawRecovery>,
}

#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawResources {
    pub accelerators: Option<Accelerators>,
    /// `8` or `"8+"` (at least 8).
    pub cpus: Option<Scalar>,
    /// GB: `32` or `"32+"`.
    pub memory: Option<Scalar>,
    pub cloud: Option<String>,
    /// SkyPilot's newer spelling: `aws`, `aws/us-east-1`.
    pub infra: Option<String>,
    pub region: Option<String>,
    pub use_spot: Option<bool>,
    /// GB.
    pub disk_size: Option<Scalar>,
    pub any_of: Option<Vec<RawResources>>,
    pub job_recovery: Option<RawRecovery>,
}

/// `A100:8`, `{A100: 8}`, or a list of alternatives (`[A100:8, H100:8]`).
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum Accelerators {
    One(String),
    Map(BTreeMap<String, u32>),
    Alternatives(Vec<String>),
}

/// YAML scalars users write for numbers and strings alike (`8`, `"8+"`, `true`).
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum Scalar {
    Int(i64),
    Float(f64),
    Bool(bool),
    Text(String),
}

impl Scalar {
    pub fn as_text(&self) -> String {
        match self {
            Scalar::Int(i) => i.to_string(),
            Scalar::Float(f) => f.to_string(),
            Scalar::Bool(b) => b.to_string(),
            Scalar::Text(s) => s.clone(),
        }
    }
}
