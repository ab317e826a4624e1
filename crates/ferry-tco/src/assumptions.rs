//! Every default the cost models use, in one place, each with where it comes from.
//!
//! Sources are the rows of `tco_params.csv` and the sections of the TCO research report
//! (`REPORT.md`) that ship with the project; `docs/cost-model.md` lists them all with their
//! ranges. Values marked *assumption* have no better source: they are inputs with a stated
//! default, and the profile can override the ones a user is likely to know better.

use serde::Serialize;

/// The defaults behind every estimate. `Assumptions::default()` is what `ferry advise` uses;
/// tests and the sensitivity analysis change single fields.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Assumptions {
    /// Hours in an average month: 8,766 h a year (Epoch AI's constant,
    /// `training-cost-trends`) ÷ 12.
    pub hours_per_month: f64,

    // ---- owned hardware: purchase ----
    /// Server cost per GPU ÷ GPU price, for GPUs priced as a card: 1.64 (Epoch AI / Cottier et
    /// al. 2024, arXiv:2405.21015, `cost_analysis_standalone.py`; 90% CI 1.3–2.1).
    pub server_overhead: f64,
    /// The same ratio for GPUs priced per GPU of an HGX baseboard, which already includes the
    /// baseboard and NVSwitch: 1.15 (*derived*: a DGX H100 at ≈ $270k is $33.75k per GPU
    /// (SemiAnalysis) against $31.9k per HGX GPU (Epoch `Hardware prices.csv`), ratio 1.06;
    /// Thinkmate's 8×H100 quote of $317k incl. InfiniBand is 1.24; REPORT §1 and §3.1).
    pub hgx_server_overhead: f64,
    /// Share of a multi-server cluster's capital spent on the interconnect: 0.19 (Epoch
    /// `CLUSTER_INTERCONNECT_COST_FRACTION`). Applied only when the fleet spans more than one
    /// server.
    pub interconnect_fraction: f64,
    /// GPUs in one server (HGX/DGX node size); a larger fleet is a multi-server cluster.
    /// *Assumption*.
    pub gpus_per_server: u32,
    /// Share of the purchase price spent each year on support contracts and failure spares:
    /// 0.05 (weak: vendor contracts and blogs quote 5–10 %/yr; tco_params
    /// `maintenance_support_fraction_per_year`).
    pub maintenance_fraction_per_year: f64,
    /// Years the hardware is used before it is replaced: 5 (tco_params `useful_life_years`:
    /// Epoch uses 5 years for hardware from 2023; hyperscalers 5–6 years).
    pub service_life_years: f64,
    /// Resale value after 3 years as a share of the purchase price: 0.46 (low credibility:
    /// SpotWire valuator anchor curve for H100 PCIe, 1.00/0.78/0.60/0.46/0.35 for years 0–4,
    /// CC-BY-4.0). Value at age `t` years is `resale_after_3_years^(t/3)`, which reproduces
    /// that curve within 0.01.
    pub resale_after_3_years: f64,
    /// Fraction of hours owned hardware is up (failures, maintenance windows). *Assumption*.
    pub owned_availability: f64,
    /// Days from order to a working GPU. *Assumption*: GeForce cards are bought at retail
    /// (about a week), datacenter PCIe cards through a reseller (about a month), SXM/OAM
    /// servers are built to order (about two months).
    pub lead_time_days_consumer: f64,
    pub lead_time_days_card: f64,
    pub lead_time_days_server: f64,

    // ---- owned hardware: running ----
    /// Server watts per GPU ÷ GPU TDP in a datacenter server: 1.8 (Epoch: H100 (10.2 kW / 8) /
    /// 0.7 = 1.82, A100 2.03).
    pub chip_to_server_power: f64,
    /// The same ratio for a workstation under a desk: 1.3 (REPORT §3.2: "use 1.0–1.3 for
    /// workstations"; `tco_example.py` uses 1.3 for the RTX 4090 workstation).
    pub chip_to_workstation_power: f64,
    /// Average draw while busy ÷ server TDP: 0.75 (Epoch: server power during training).
    pub average_power_fraction: f64,
    /// Power usage effectiveness of a colocation datacenter: 1.25 (Epoch "others"; Uptime
    /// Institute's 2024 average is 1.56).
    pub pue_datacenter: f64,
    /// PUE of an office or lab: 1.0 (*assumption*: no facility overhead beyond room HVAC).
    pub pue_office: f64,
    /// Electricity, USD per kWh: 0.0826 (US industrial average 2025, EIA via Epoch
    /// `training-cost-trends`).
    pub electricity_usd_per_kwh: f64,
    /// Colocation space and power delivery, USD per provisioned kW per month: 184.06 (CBRE
    /// North America Data Center Trends H2 2024; small retail cages pay more).
    pub colocation_usd_per_kw_month: f64,
    /// Upkeep labour, USD per GPU per year: 2,000 (weak: a blog estimate of 2 FTE ≈ $400k/yr
    /// for a 64-GPU cluster is $6.25k; tco_params `sysadmin_cost_per_gpu_year`).
    pub sysadmin_usd_per_gpu_year: f64,
    /// Upkeep of a workstation in an office or lab, hours per GPU per month: 0.5
    /// (*assumption*: driver updates and the odd repair; the REPORT §3.3 workstation example
    /// counts no staff time at all).
    pub upkeep_hours_per_gpu_month_office: f64,
    /// Price of an hour of ops work, USD: 100 (*derived* from the same estimate: $400k/yr for
    /// 2 FTE at 2,000 h/FTE-yr). With the line above, upkeep defaults to 1.67 h per GPU-month.
    pub ops_hourly_rate_usd: f64,

    // ---- renting ----
    /// Storage, networking, setup and debugging on top of the GPU-hour price: 0.10
    /// (SemiAnalysis "How Much Do GPU Clusters Really Cost?" 2026-04-20: 5–15 % between tiers,
    /// 10–60 % hidden costs).
    pub rental_hidden_uplift: f64,
    /// Extra GPU-hours re-run after spot preemptions: 0.10 (*assumption*, tco_params
    /// `spot_interruption_overhead`; depends on the checkpoint interval).
    pub spot_interruption_overhead: f64,
    /// Committed-use discount off on-demand for 1 and 3 years: 0.31 and 0.56 (Epoch
    /// `Hardware prices.csv`, GCP a3-highgpu-1g: on-demand 11.06, 1-year CUD 7.67, 3-year CUD
    /// 4.86 USD/h; REPORT §2.5).
    pub commit_discount_1y: f64,
    pub commit_discount_3y: f64,
    /// Share of paid time that produces work, when the offer states no reliability.
    /// *Assumption*: hyperscaler on-demand 1.0; GPU clouds 0.99 (hosts and stock vary);
    /// marketplaces 0.97 (REPORT §6 recommends filtering Vast hosts at reliability ≥ 0.98,
    /// medians include unfiltered hosts).
    pub reliability_hyperscaler: f64,
    pub reliability_gpu_cloud: f64,
    pub reliability_decentralized: f64,
    /// Egress USD/GB when the offer states none. Hyperscaler 0.09 (AWS first 10 TB, REPORT
    /// §4); GPU clouds 0 (Lambda and RunPod charge no egress, REPORT §4); marketplaces 0.01
    /// (*assumption*: set per host, "often 0 to a few cents").
    pub egress_usd_per_gb_hyperscaler: f64,
    pub egress_usd_per_gb_gpu_cloud: f64,
    pub egress_usd_per_gb_decentralized: f64,
    /// Bandwidth of a marketplace host, Mbit/s: 100 (REPORT §6 recommends filtering Vast
    /// hosts at `inet_down ≥ 100`). Moving a month's data takes paid GPU time.
    pub decentralized_bandwidth_mbps: f64,
    /// Hours from asking for an instance to running on it. *Assumption*: minutes on clouds;
    /// longer on marketplaces (choosing and checking a host).
    pub provisioning_hours_cloud: f64,
    pub provisioning_hours_decentralized: f64,
    /// Multiplies every rental price (1.0 = catalog prices). The sensitivity analysis uses it.
    pub rental_price_factor: f64,

    // ---- academic ----
    /// GPU-years a default (RAS) account can expect to use when the profile states no
    /// allocation: 1.0 (REPORT §8: "a RAC if the need is above about 1 GPU-year"). RAS GPU
    /// access is opportunistic and not guaranteed.
    pub academic_default_gpu_years: f64,
    /// Queue wait, hours, when the catalog states none: 24 (*assumption*; no public queue
    /// statistics exist, REPORT §5).
    pub academic_default_queue_wait_hours: f64,
}

impl Default for Assumptions {
    fn default() -> Self {
        Assumptions {
            hours_per_month: 8766.0 / 12.0,
            server_overhead: 1.64,
            hgx_server_overhead: 1.15,
            interconnect_fraction: 0.19,
            gpus_per_server: 8,
            maintenance_fraction_per_year: 0.05,
            service_life_years: 5.0,
            resale_after_3_years: 0.46,
            owned_availability: 0.99,
            lead_time_days_consumer: 7.0,
            lead_time_days_card: 30.0,
            lead_time_days_server: 60.0,
            chip_to_server_power: 1.8,
            chip_to_workstation_power: 1.3,
            average_power_fraction: 0.75,
            pue_datacenter: 1.25,
            pue_office: 1.0,
            electricity_usd_per_kwh: 0.0826,
            colocation_usd_per_kw_month: 184.06,
            sysadmin_usd_per_gpu_year: 2000.0,
            upkeep_hours_per_gpu_month_office: 0.5,
            ops_hourly_rate_usd: 100.0,
            rental_hidden_uplift: 0.10,
            spot_interruption_overhead: 0.10,
            commit_discount_1y: 0.31,
            commit_discount_3y: 0.56,
            reliability_hyperscaler: 1.0,
            reliability_gpu_cloud: 0.99,
            reliability_decentralized: 0.97,
            egress_usd_per_gb_hyperscaler: 0.09,
            egress_usd_per_gb_gpu_cloud: 0.0,
            egress_usd_per_gb_decentralized: 0.01,
            decentralized_bandwidth_mbps: 100.0,
            provisioning_hours_cloud: 0.1,
            provisioning_hours_decentralized: 0.25,
            rental_price_factor: 1.0,
            academic_default_gpu_years: 1.0,
            academic_default_queue_wait_hours: 24.0,
        }
    }
}

impl Assumptions {
    /// Default upkeep hours per owned GPU per month in a datacenter (1.67 h with the
    /// defaults).
    pub fn upkeep_hours_per_gpu_month(&self) -> f64 {
        self.sysadmin_usd_per_gpu_year / self.ops_hourly_rate_usd / 12.0
    }

    /// Resale value as a share of the purchase price at `age_years`.
    pub fn resale_fraction(resale_after_3_years: f64, age_years: f64) -> f64 {
        resale_after_3_years.powf(age_years / 3.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_resale_curve_reproduces_its_source() {
        // SpotWire anchor curve for H100 PCIe: 1.00 / 0.78 / 0.60 / 0.46 / 0.35.
        for (year, source) in [
            (0.0, 1.0),
            (1.0, 0.78),
            (2.0, 0.60),
            (3.0, 0.46),
            (4.0, 0.35),
        ] {
            let model = Assumptions::resale_fraction(0.46, year);
            assert!(
                (model - source).abs() < 0.011,
                "year {year}: {model} vs {source}"
            );
        }
    }

    #[test]
    fn default_upkeep_is_the_sourced_dollar_figure() {
        let a = Assumptions::default();
        // 2000 $/GPU-yr ÷ 100 $/h ÷ 12 = 1.666… h per GPU-month.
        assert!((a.upkeep_hours_per_gpu_month() - 2000.0 / 1200.0).abs() < 1e-12);
        assert!((a.hours_per_month - 730.5).abs() < 1e-12);
    }
}
