//! A checked profile in the models' terms: GPU models, a demand series in GPU-hours per
//! month, and every money input in USD.

use crate::assumptions::Assumptions;
use crate::error::ProfileError;
use crate::profile::{Profile, Site};
use ferry_catalog::{Catalog, GpuId, GpuTable};

/// The most GPUs a workload may need at its peak (a guard against typos such as an
/// extra three zeros, which would otherwise make the hybrid search needlessly long).
pub const MAX_FLEET_GPUS: u32 = 100_000;

/// What the cost models work on. Built by [`Profile::resolve`].
#[derive(Debug, Clone, PartialEq)]
pub struct Workload {
    /// The GPU models that qualify (one, or the variants of a family, or all that meet the
    /// requirement).
    pub models: Vec<GpuId>,
    /// GPUs each job runs on side by side.
    pub width: u32,
    pub horizon_months: u32,
    /// GPU-hours needed in each month of the horizon.
    pub demand: Vec<f64>,
    pub data_in_gb_per_month: f64,
    pub data_out_gb_per_month: f64,
    pub interruptible: bool,
    pub max_wait_hours: Option<f64>,
    pub allow_experimental: bool,
    pub academic_eligible: bool,
    /// GPU-years a year; `None` for a default (RAS) account.
    pub allocation_gpu_years: Option<f64>,
    pub paice: bool,
    pub owned: OwnedInputs,
    /// Output currency, and USD per unit of it.
    pub currency: String,
    pub usd_per_unit: f64,
}

/// Owned-hardware inputs in USD; `None` takes the default from [`Assumptions`].
#[derive(Debug, Clone, Default, PartialEq)]
pub struct OwnedInputs {
    pub site: Option<Site>,
    pub gpu_price_usd: Option<f64>,
    pub electricity_usd_per_kwh: Option<f64>,
    pub pue: Option<f64>,
    pub colocation_usd_per_kw_month: Option<f64>,
    pub server_overhead: Option<f64>,
    pub service_life_years: Option<f64>,
    pub resale_after_3_years: Option<f64>,
    pub maintenance_fraction_per_year: Option<f64>,
    pub lead_time_days: Option<f64>,
    /// Upkeep hours a month for the whole owned fleet.
    pub ops_hours_per_month: Option<f64>,
    pub ops_hourly_rate_usd: Option<f64>,
}

impl Workload {
    /// GPU-hours over the whole horizon.
    pub fn total_hours(&self) -> f64 {
        self.demand.iter().sum()
    }

    /// Mean GPU-hours a month.
    pub fn mean_hours_per_month(&self) -> f64 {
        self.total_hours() / self.demand.len().max(1) as f64
    }

    /// The most GPU-hours in any month.
    pub fn peak_hours(&self) -> f64 {
        self.demand.iter().copied().fold(0.0, f64::max)
    }

    /// GPUs needed to run the peak month's work within the month, in whole jobs of
    /// `width` GPUs: the all-owned fleet, and the largest fleet the hybrid considers.
    pub fn fleet_size(&self, a: &Assumptions) -> u32 {
        fleet_size(self.peak_hours(), self.width, a.hours_per_month)
    }

    /// The qualifying models in words: `H100-SXM` or `A100-80GB-SXM, A100-80GB-PCIe` or
    /// `any of 12 models meeting the requirement`.
    pub fn models_label(&self, table: &GpuTable) -> String {
        if self.models.len() > 4 {
            return format!(
                "any of {} models meeting the requirement",
                self.models.len()
            );
        }
        self.models
            .iter()
            .map(|id| table.get(*id).id.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// The same workload with every month's demand multiplied by `factor`.
    pub fn scaled_usage(&self, factor: f64) -> Workload {
        Workload {
            demand: self.demand.iter().map(|d| d * factor).collect(),
            ..self.clone()
        }
    }
}

fn fleet_size(peak_hours: f64, width: u32, hours_per_month: f64) -> u32 {
    // The small tolerance keeps exactly 4 × 730.5 h at 4 GPUs despite rounding.
    let gpus = (peak_hours / hours_per_month - 1e-9).ceil().max(1.0);
    let jobs = (gpus / f64::from(width)).ceil();
    (jobs * f64::from(width)).min(f64::from(u32::MAX)) as u32
}

impl Profile {
    /// Checks the profile and converts it for the models: resolves the GPU against the
    /// catalog's table and money inputs to USD at the catalog's rate.
    pub fn resolve(&self, catalog: &Catalog) -> Result<Workload, ProfileError> {
        let (models, demand) = check(self, catalog.table)?;
        let usd_per_unit = catalog.rates.usd_per_unit(&self.currency).ok_or_else(|| {
            ProfileError::new(
                "currency",
                format!("the catalog has no exchange rate for '{}'", self.currency),
            )
        })?;
        let usd = |v: Option<f64>| v.map(|x| x * usd_per_unit);
        let o = &self.owned;
        Ok(Workload {
            models,
            width: self.gpus,
            horizon_months: self.horizon_months,
            demand,
            data_in_gb_per_month: self.data.in_gb_per_month,
            data_out_gb_per_month: self.data.out_gb_per_month,
            interruptible: self.job.interruptible,
            max_wait_hours: self.job.max_wait_hours,
            allow_experimental: self.job.allow_experimental,
            academic_eligible: self.academic.eligible,
            allocation_gpu_years: self.academic.allocation_gpu_years,
            paice: self.academic.paice,
            owned: OwnedInputs {
                site: o.site,
                gpu_price_usd: usd(o.gpu_price),
                electricity_usd_per_kwh: usd(o.electricity_per_kwh),
                pue: o.pue,
                colocation_usd_per_kw_month: usd(o.colocation_per_kw_month),
                server_overhead: o.server_overhead,
                service_life_years: o.service_life_years,
                resale_after_3_years: o.resale_after_3_years,
                maintenance_fraction_per_year: o.maintenance_fraction_per_year,
                lead_time_days: o.lead_time_days,
                ops_hours_per_month: self.ops.hours_per_month,
                ops_hourly_rate_usd: usd(self.ops.hourly_rate),
            },
            currency: self.currency.to_ascii_uppercase(),
            usd_per_unit,
        })
    }
}

/// Field-by-field validation; returns the qualifying GPU models and the demand series.
pub(crate) fn check(p: &Profile, table: &GpuTable) -> Result<(Vec<GpuId>, Vec<f64>), ProfileError> {
    let err = |f: &str, m: &str| Err(ProfileError::new(f, m));
    if p.horizon_months < 1 {
        return err("horizon_months", "must be >= 1");
    }
    if p.horizon_months > 240 {
        return err("horizon_months", "must be <= 240 (20 years)");
    }
    if p.gpus < 1 {
        return err("gpus", "must be >= 1");
    }
    if !matches!(p.currency.to_ascii_uppercase().as_str(), "USD" | "CAD") {
        return err(
            "currency",
            &format!("'{}' is not supported (USD or CAD)", p.currency),
        );
    }
    let demand = demand_series(p)?;
    let models = models(p, table)?;

    non_negative("data.in_gb_per_month", Some(p.data.in_gb_per_month))?;
    non_negative("data.out_gb_per_month", Some(p.data.out_gb_per_month))?;
    non_negative("job.max_wait_hours", p.job.max_wait_hours)?;
    non_negative(
        "academic.allocation_gpu_years",
        p.academic.allocation_gpu_years,
    )?;
    non_negative("ops.hours_per_month", p.ops.hours_per_month)?;
    non_negative("ops.hourly_rate", p.ops.hourly_rate)?;
    let o = &p.owned;
    non_negative("owned.electricity_per_kwh", o.electricity_per_kwh)?;
    non_negative("owned.colocation_per_kw_month", o.colocation_per_kw_month)?;
    non_negative("owned.lead_time_days", o.lead_time_days)?;
    at_least("owned.pue", o.pue, 1.0)?;
    at_least("owned.server_overhead", o.server_overhead, 1.0)?;
    fraction("owned.resale_after_3_years", o.resale_after_3_years)?;
    fraction(
        "owned.maintenance_fraction_per_year",
        o.maintenance_fraction_per_year,
    )?;
    if let Some(price) = o.gpu_price
        && !(price > 0.0 && price.is_finite())
    {
        return err("owned.gpu_price", "must be > 0");
    }
    if let Some(life) = o.service_life_years
        && !(life > 0.0 && life.is_finite())
    {
        return err("owned.service_life_years", "must be > 0");
    }

    let peak = demand.iter().copied().fold(0.0, f64::max);
    let fleet = fleet_size(peak, p.gpus, Assumptions::default().hours_per_month);
    if fleet > MAX_FLEET_GPUS {
        return err(
            "usage",
            &format!("needs {fleet} GPUs at its peak; at most {MAX_FLEET_GPUS} are supported"),
        );
    }
    Ok((models, demand))
}

fn demand_series(p: &Profile) -> Result<Vec<f64>, ProfileError> {
    let u = &p.usage;
    let months = p.horizon_months as usize;
    let given = [
        u.gpu_hours_per_month.is_some(),
        u.utilization_percent.is_some(),
        u.demand_gpu_hours.is_some(),
    ];
    match given.iter().filter(|g| **g).count() {
        0 => {
            return Err(ProfileError::new(
                "usage",
                "missing: give gpu_hours_per_month, utilization_percent or demand_gpu_hours",
            ));
        }
        1 => {}
        _ => {
            return Err(ProfileError::new(
                "usage",
                "give only one of gpu_hours_per_month, utilization_percent and demand_gpu_hours",
            ));
        }
    }
    if let Some(h) = u.gpu_hours_per_month {
        non_negative("usage.gpu_hours_per_month", Some(h))?;
        return Ok(vec![h; months]);
    }
    if let Some(pct) = u.utilization_percent {
        if !(0.0..=100.0).contains(&pct) {
            return Err(ProfileError::new(
                "usage.utilization_percent",
                "must be between 0 and 100",
            ));
        }
        let hours = pct / 100.0 * f64::from(p.gpus) * Assumptions::default().hours_per_month;
        return Ok(vec![hours; months]);
    }
    let series = u.demand_gpu_hours.clone().unwrap_or_default();
    if series.len() != months {
        return Err(ProfileError::new(
            "usage.demand_gpu_hours",
            format!("{} months given, horizon is {months}", series.len()),
        ));
    }
    for (i, h) in series.iter().enumerate() {
        non_negative(&format!("usage.demand_gpu_hours[{i}]"), Some(*h))?;
    }
    Ok(series)
}

fn models(p: &Profile, table: &GpuTable) -> Result<Vec<GpuId>, ProfileError> {
    let r = &p.requirement;
    non_negative("requirement.min_vram_gb", r.min_vram_gb)?;
    non_negative("requirement.min_tflops", r.min_tflops)?;
    let named: Vec<GpuId> = match &p.gpu {
        Some(name) => table
            .resolve(name)
            .map_err(|e| ProfileError::new("gpu", e.to_string()))?,
        None if r.min_vram_gb.is_none() && r.min_tflops.is_none() => {
            return Err(ProfileError::new(
                "gpu",
                "missing: name a GPU model (gpu = \"H100 SXM\") or give a [requirement]",
            ));
        }
        None => table.iter().map(|(id, _)| id).collect(),
    };
    let meets = |id: &GpuId| {
        let s = table.get(*id);
        r.min_vram_gb.is_none_or(|v| s.vram_gb >= v)
            && r.min_tflops.is_none_or(|t| s.bf16_tflops >= t)
    };
    let models: Vec<GpuId> = named.into_iter().filter(meets).collect();
    if models.is_empty() {
        return Err(ProfileError::new(
            "requirement",
            match &p.gpu {
                Some(name) => format!("no GPU named '{name}' meets it"),
                None => "no GPU in the catalog meets it".to_string(),
            },
        ));
    }
    Ok(models)
}

fn non_negative(field: &str, v: Option<f64>) -> Result<(), ProfileError> {
    match v {
        Some(x) if !(x >= 0.0 && x.is_finite()) => Err(ProfileError::new(field, "must be >= 0")),
        _ => Ok(()),
    }
}

fn at_least(field: &str, v: Option<f64>, min: f64) -> Result<(), ProfileError> {
    match v {
        Some(x) if !(x >= min && x.is_finite()) => {
            Err(ProfileError::new(field, format!("must be >= {min}")))
        }
        _ => Ok(()),
    }
}

fn fraction(field: &str, v: Option<f64>) -> Result<(), ProfileError> {
    match v {
        Some(x) if !(0.0..=1.0).contains(&x) => {
            Err(ProfileError::new(field, "must be between 0 and 1"))
        }
        _ => Ok(()),
    }
}
