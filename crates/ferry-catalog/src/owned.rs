//! What an hour of owned hardware really costs: its purchase price spread over its
//! service life (less resale), divided by how much of that life it is busy, plus the
//! electricity it draws while busy. Never $0: an owned GPU that looks free gets picked
//! for everything.
//!
//! Defaults and their sources (docs/cost-model.md lists them all):
//! - server draw per GPU = TDP x 1.8 (chip-to-server power ratio) x 0.75 (average draw
//!   while training): Epoch AI, training-cost-trends (Cottier et al. 2024, arXiv:2405.21015);
//! - 8,766 hours per year (Epoch's constant).

use serde::Serialize;

pub const HOURS_PER_YEAR: f64 = 8766.0;
pub const CHIP_TO_SERVER_POWER: f64 = 1.8;
pub const AVERAGE_DRAW_FRACTION: f64 = 0.75;

/// A machine the user owns, as described in the config.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct OwnedHardware {
    pub gpu_count: u32,
    /// What the whole machine cost (GPUs and the server around them), USD.
    pub purchase_usd: f64,
    pub service_life_years: f64,
    /// Fraction of the purchase price recovered at the end of its life.
    pub resale_fraction: f64,
    /// Fraction of its hours the machine is busy; idle hours are paid by the busy ones.
    pub utilization: f64,
    /// Average draw of the whole machine while busy, W.
    pub power_w: f64,
    pub electricity_usd_per_kwh: f64,
    pub pue: f64,
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct OwnedCost {
    /// Capital per busy hour of the whole machine.
    pub capital_per_hour: f64,
    /// Electricity per busy hour of the whole machine.
    pub power_per_hour: f64,
    /// Their sum: the machine's price per hour.
    pub price_per_hour: f64,
    pub price_per_gpu_hour: f64,
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct OwnedError {
    pub field: &'static str,
    pub message: String,
}

impl OwnedHardware {
    /// Default average draw for `count` GPUs with the given TDP.
    pub fn default_power_w(count: u32, tdp_w: f64) -> f64 {
        f64::from(count) * tdp_w * CHIP_TO_SERVER_POWER * AVERAGE_DRAW_FRACTION
    }

    pub fn cost(&self) -> Result<OwnedCost, OwnedError> {
        let err = |field, message: &str| {
            Err(OwnedError {
                field,
                message: message.to_string(),
            })
        };
        if self.gpu_count == 0 {
            return err("gpu_count", "must be >= 1");
        }
        if self.purchase_usd.is_nan() || self.purchase_usd <= 0.0 {
            return err(
                "purchase_usd",
                "must be > 0: owned hardware is priced at its amortised cost, never $0",
            );
        }
        if self.service_life_years.is_nan() || self.service_life_years <= 0.0 {
            return err("service_life_years", "must be > 0");
        }
        if !(0.0..1.0).contains(&self.resale_fraction) {
            return err("resale_fraction", "must be in [0, 1)");
        }
        if !(self.utilization > 0.0 && self.utilization <= 1.0) {
            return err("utilization", "must be in (0, 1]");
        }
        if self.power_w < 0.0 || self.electricity_usd_per_kwh < 0.0 {
            return err("power_w", "power and electricity price must be >= 0");
        }
        if self.pue < 1.0 {
            return err("pue", "must be >= 1.0");
        }
        let capital_per_hour = self.purchase_usd * (1.0 - self.resale_fraction)
            / (self.service_life_years * HOURS_PER_YEAR)
            / self.utilization;
        let power_per_hour = self.power_w / 1000.0 * self.pue * self.electricity_usd_per_kwh;
        let price_per_hour = capital_per_hour + power_per_hour;
        Ok(OwnedCost {
            capital_per_hour,
            power_per_hour,
            price_per_hour,
            price_per_gpu_hour: price_per_hour / f64::from(self.gpu_count),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn workstation() -> OwnedHardware {
        OwnedHardware {
            gpu_count: 2,
            purchase_usd: 6000.0,
            service_life_years: 3.0,
            resale_fraction: 0.2,
            utilization: 0.5,
            power_w: 1000.0,
            electricity_usd_per_kwh: 0.10,
            pue: 1.0,
        }
    }

    #[test]
    fn hand_computed() {
        // 6000 * 0.8 / (3 * 8766) / 0.5 = 0.365047...; power 1 kW * 0.10 = 0.10.
        let c = workstation().cost().unwrap();
        assert!((c.capital_per_hour - 4800.0 / 26_298.0 / 0.5).abs() < 1e-12);
        assert!((c.power_per_hour - 0.10).abs() < 1e-12);
        assert!((c.price_per_gpu_hour - (c.capital_per_hour + 0.10) / 2.0).abs() < 1e-12);
    }

    #[test]
    fn never_free() {
        let mut h = workstation();
        h.purchase_usd = 0.0;
        assert_eq!(h.cost().unwrap_err().field, "purchase_usd");
        h = workstation();
        h.utilization = 0.0;
        assert_eq!(h.cost().unwrap_err().field, "utilization");
    }

    proptest! {
        #[test]
        fn positive_and_monotone(price in 1.0f64..1e6, life in 0.5f64..10.0, util in 0.01f64..1.0,
                                 kwh in 0.0f64..1.0) {
            let h = OwnedHardware { purchase_usd: price, service_life_years: life, utilization: util,
                electricity_usd_per_kwh: kwh, ..workstation() };
            let c = h.cost().unwrap();
            prop_assert!(c.price_per_gpu_hour > 0.0);
            let dearer = OwnedHardware { electricity_usd_per_kwh: kwh + 0.1, ..h.clone() }.cost().unwrap();
            prop_assert!(dearer.price_per_hour >= c.price_per_hour);
            let busier = OwnedHardware { utilization: (util * 1.5).min(1.0), ..h }.cost().unwrap();
            prop_assert!(busier.price_per_hour <= c.price_per_hour + 1e-12);
        }
    }
}
