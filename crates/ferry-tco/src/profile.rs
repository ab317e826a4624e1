//! The user's workload profile: what `ferry advise` reads from flags or a TOML file.
//!
//! Parsing is strict (an unknown key is an error) and every field but the usage has a
//! default. Money inputs are in the profile's `currency`. [`Profile::validate`] checks
//! every field and names the one that is wrong; [`Profile::resolve`] turns a valid profile
//! into the [`Workload`](crate::Workload) the models work on.

use crate::error::ProfileError;
use ferry_catalog::GpuTable;
use serde::{Deserialize, Serialize};

/// A workload to cost. See `examples/profiles/*.toml` and `docs/cost-model.md`.
/// `Profile::default()` has the same defaults as an empty TOML file (and no usage yet).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Profile {
    /// A GPU model `ferry gpus` knows (`"H100 SXM"`, `"RTX 4090"`); a family name such as
    /// `"a100"` allows all its variants. Leave it out to choose by [`Requirement`] instead.
    pub gpu: Option<String>,
    /// What any GPU must meet; combined with `gpu` when both are given.
    #[serde(default)]
    pub requirement: Requirement,
    /// GPUs each job runs on side by side (default 1).
    #[serde(default = "one")]
    pub gpus: u32,
    /// How much GPU time the work needs. Exactly one way of saying it.
    #[serde(default)]
    pub usage: Usage,
    /// Months to cost over (default 36: the economic life REPORT §3.1 recommends for
    /// resale planning).
    #[serde(default = "default_horizon")]
    pub horizon_months: u32,
    /// Currency of the money inputs and of the output: `USD` (default) or `CAD`.
    #[serde(default = "default_currency")]
    pub currency: String,
    #[serde(default)]
    pub data: Data,
    #[serde(default)]
    pub job: Job,
    #[serde(default)]
    pub academic: Academic,
    #[serde(default)]
    pub ops: Ops,
    #[serde(default)]
    pub owned: Owned,
}

/// Minimum GPU specs; a model qualifies when it meets all that are given.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Requirement {
    /// GPU memory per GPU, GB.
    pub min_vram_gb: Option<f64>,
    /// Dense BF16 (FP16 where there is no BF16) tensor TFLOPS per GPU.
    pub min_tflops: Option<f64>,
}

/// GPU time needed: GPU-hours a month, a utilisation of the `gpus`, or a month-by-month
/// series for peaky work (one value per month of the horizon).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Usage {
    /// GPU-hours a month, all GPUs together.
    pub gpu_hours_per_month: Option<f64>,
    /// Share of the `gpus`' wall-clock time they are busy, 0–100.
    pub utilization_percent: Option<f64>,
    /// GPU-hours in each month of the horizon.
    pub demand_gpu_hours: Option<Vec<f64>>,
}

/// Data moved per month of work, GB. Ingress is free everywhere; egress is priced per
/// provider; on marketplaces moving data also takes paid GPU time.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Data {
    #[serde(default)]
    pub in_gb_per_month: f64,
    #[serde(default)]
    pub out_gb_per_month: f64,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Job {
    /// The work checkpoints and can be preempted: spot / interruptible prices are allowed.
    #[serde(default)]
    pub interruptible: bool,
    /// The longest acceptable wait, hours, before a job starts (queue + provisioning +
    /// moving data). Options that wait longer are excluded from the ranking.
    pub max_wait_hours: Option<f64>,
    /// Consider offers the catalog marks experimental (Golem GPU providers).
    #[serde(default)]
    pub allow_experimental: bool,
}

/// Academic access (Digital Research Alliance of Canada / Calcul Québec or any Slurm site).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Academic {
    /// A Canadian academic PI or someone they sponsor. Others get no free academic access.
    #[serde(default)]
    pub eligible: bool,
    /// GPU-years a year the allocation gives (a RAC award); unset means a default (RAS)
    /// account, modelled as `Assumptions::academic_default_gpu_years`, not guaranteed.
    pub allocation_gpu_years: Option<f64>,
    /// Holds a PAICE (`aip-`) allocation, which the PAICE clusters (TamIA, Killarney,
    /// Vulcan) require.
    #[serde(default)]
    pub paice: bool,
}

/// Ops effort for owned hardware.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Ops {
    /// Upkeep hours a month for the whole owned fleet (default 1.67 h per GPU).
    pub hours_per_month: Option<f64>,
    /// Price of an hour of that work (default 100 USD).
    pub hourly_rate: Option<f64>,
}

/// Where owned hardware lives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Site {
    /// A colocation or company datacenter: rent per kW, PUE 1.25, server power draw.
    Datacenter,
    /// An office or lab: no rent, PUE 1.0, workstation power draw.
    Office,
}

impl Site {
    pub fn as_str(self) -> &'static str {
        match self {
            Site::Datacenter => "datacenter",
            Site::Office => "office",
        }
    }
}

/// Owned-hardware inputs; each unset one takes its default from
/// [`Assumptions`](crate::Assumptions).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Owned {
    /// Default: `office` for GeForce cards, `datacenter` for everything else.
    pub site: Option<Site>,
    /// Price of one GPU; default: the catalog's street price.
    pub gpu_price: Option<f64>,
    pub electricity_per_kwh: Option<f64>,
    pub pue: Option<f64>,
    pub colocation_per_kw_month: Option<f64>,
    /// Server cost per GPU ÷ GPU price.
    pub server_overhead: Option<f64>,
    pub service_life_years: Option<f64>,
    /// Resale value after 3 years as a share of the purchase price.
    pub resale_after_3_years: Option<f64>,
    /// Support contracts and failure spares per year as a share of the purchase price.
    pub maintenance_fraction_per_year: Option<f64>,
    /// Days from order to a working GPU.
    pub lead_time_days: Option<f64>,
}

impl Default for Profile {
    fn default() -> Self {
        Profile {
            gpu: None,
            requirement: Requirement::default(),
            gpus: one(),
            usage: Usage::default(),
            horizon_months: default_horizon(),
            currency: default_currency(),
            data: Data::default(),
            job: Job::default(),
            academic: Academic::default(),
            ops: Ops::default(),
            owned: Owned::default(),
        }
    }
}

fn one() -> u32 {
    1
}
fn default_horizon() -> u32 {
    36
}
fn default_currency() -> String {
    "USD".into()
}

impl Profile {
    /// A profile for `gpus` × `gpu` at `gpu_hours_per_month`, everything else default.
    pub fn new(gpu: &str, gpus: u32, gpu_hours_per_month: f64) -> Profile {
        Profile {
            gpu: Some(gpu.to_string()),
            gpus,
            usage: Usage {
                gpu_hours_per_month: Some(gpu_hours_per_month),
                ..Usage::default()
            },
            ..Profile::default()
        }
    }

    /// Parses a TOML profile. Errors carry the line and column.
    pub fn from_toml(text: &str) -> Result<Profile, ProfileError> {
        toml::from_str(text).map_err(|e| {
            let field = match e.span() {
                Some(span) => {
                    let before = &text[..span.start.min(text.len())];
                    let line = before.matches('\n').count() + 1;
                    let column = before.len() - before.rfind('\n').map_or(0, |i| i + 1) + 1;
                    format!("profile line {line}, column {column}")
                }
                None => "profile".to_string(),
            };
            ProfileError {
                field,
                message: e.message().trim().to_string(),
            }
        })
    }

    /// Checks every field against the embedded GPU table; the error names the field.
    pub fn validate(&self) -> Result<(), ProfileError> {
        crate::workload::check(self, GpuTable::embedded()).map(|_| ())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_empty_file_means_the_defaults() {
        let p = Profile::from_toml("").unwrap();
        assert_eq!(p, Profile::default());
        assert_eq!(
            (p.gpus, p.horizon_months, p.currency.as_str()),
            (1, 36, "USD")
        );
    }

    #[test]
    fn every_section_parses() {
        let p = Profile::from_toml(
            r#"
            gpu = "L40S"
            gpus = 4
            horizon_months = 24
            currency = "CAD"
            [requirement]
            min_vram_gb = 40
            [usage]
            utilization_percent = 50
            [data]
            in_gb_per_month = 1
            out_gb_per_month = 2
            [job]
            interruptible = true
            max_wait_hours = 3
            allow_experimental = true
            [academic]
            eligible = true
            allocation_gpu_years = 2
            paice = true
            [ops]
            hours_per_month = 4
            hourly_rate = 60
            [owned]
            site = "office"
            gpu_price = 7000
            electricity_per_kwh = 0.1
            pue = 1.1
            colocation_per_kw_month = 0
            server_overhead = 1.3
            service_life_years = 4
            resale_after_3_years = 0.4
            maintenance_fraction_per_year = 0.03
            lead_time_days = 10
            "#,
        )
        .unwrap();
        assert_eq!(p.owned.site, Some(Site::Office));
        assert_eq!(p.usage.utilization_percent, Some(50.0));
        p.validate().unwrap();
    }
}
