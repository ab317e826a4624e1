//! Allocation accounting in the Alliance's reference GPU units (RGU): usage is charged per
//! GPU-hour at the model's RGU weight, normalised so that an A100-40GB is 4.0.
//! Source: the Alliance's RGU documentation (RGU = 40% FP32 + 40% FP16 + 20% memory), as
//! summarised in Ferry's reference REPORT.md §5.

/// RGU per GPU of a model (catalog ids); `None` for models the Alliance does not list.
pub fn rgu(gpu: &str) -> Option<f64> {
    Some(match gpu {
        "A100-40GB-SXM" | "A100-40GB-PCIe" => 4.0,
        "A100-80GB-SXM" | "A100-80GB-PCIe" => 4.8,
        "H100-SXM" | "H100-PCIe" => 12.2,
        "V100-32GB" => 2.6,
        "T4" => 1.3,
        _ => return None,
    })
}

/// RGU-years one job uses: GPUs × hours × RGU weight / hours in a year.
pub fn rgu_years(gpu: &str, gpus: u32, hours: f64) -> Option<f64> {
    rgu(gpu).map(|w| f64::from(gpus) * hours * w / 8766.0)
}

#[derive(Debug, Clone, PartialEq)]
pub struct Balance {
    pub allocated_rgu_years: f64,
    pub used_rgu_years: f64,
    pub left_rgu_years: f64,
}

/// What is left of an allocation after the given jobs (model id, GPUs, hours).
pub fn balance(allocated_rgu_years: f64, jobs: &[(&str, u32, f64)]) -> Result<Balance, String> {
    let mut used = 0.0;
    for (gpu, n, h) in jobs {
        used += rgu_years(gpu, *n, *h).ok_or_else(|| format!("no RGU weight for {gpu}"))?;
    }
    Ok(Balance {
        allocated_rgu_years,
        used_rgu_years: used,
        left_rgu_years: allocated_rgu_years - used,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weights_and_balance() {
        // 4 H100 for 24 h = 96 GPU-h × 12.2 = 1171.2 RGU-h = 0.13361 RGU-years.
        let y = rgu_years("H100-SXM", 4, 24.0).unwrap();
        assert!((y - 1171.2 / 8766.0).abs() < 1e-12);
        let b = balance(10.0, &[("H100-SXM", 4, 24.0), ("A100-40GB-SXM", 1, 8766.0)]).unwrap();
        assert!((b.used_rgu_years - (y + 4.0)).abs() < 1e-9);
        assert!((b.left_rgu_years - (10.0 - y - 4.0)).abs() < 1e-9);
        assert!(
            balance(1.0, &[("RTX-4090", 1, 1.0)])
                .unwrap_err()
                .contains("RTX-4090")
        );
    }
}
