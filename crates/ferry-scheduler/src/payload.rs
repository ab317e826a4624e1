//! What the scheduler needs from a submitted task, as stored in the job's `task` JSON.

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
}

impl JobPayload {
    pub fn from_value(v: &serde_json::Value) -> Result<JobPayload, String> {
        serde_json::from_value(v.clone())
            .map_err(|e| format!("the stored task is not a job payload: {e}"))
    }

    pub fn to_value(&self) -> serde_json::Value {
        serde_json::to_value(self).expect("a payload serialises")
    }
}
