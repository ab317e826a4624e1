//! Every default is documented: each `Assumptions` field is named in docs/cost-model.md,
//! and every profile key the example profiles use is too.

use ferry_tco::Assumptions;

fn doc() -> String {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/cost-model.md");
    std::fs::read_to_string(path).expect("docs/cost-model.md exists")
}

#[test]
fn every_assumption_is_documented() {
    let doc = doc();
    let fields = serde_json::to_value(Assumptions::default()).unwrap();
    let fields = fields.as_object().unwrap();
    assert!(fields.len() > 30);
    for name in fields.keys() {
        assert!(
            doc.contains(&format!("`{name}`")),
            "docs/cost-model.md does not mention `{name}`"
        );
    }
}

#[test]
fn every_profile_key_is_documented() {
    let doc = doc();
    for key in [
        "gpu",
        "min_vram_gb",
        "min_tflops",
        "gpus",
        "gpu_hours_per_month",
        "utilization_percent",
        "demand_gpu_hours",
        "horizon_months",
        "currency",
        "in_gb_per_month",
        "out_gb_per_month",
        "interruptible",
        "max_wait_hours",
        "allow_experimental",
        "eligible",
        "allocation_gpu_years",
        "paice",
        "hours_per_month",
        "hourly_rate",
        "site",
        "gpu_price",
        "electricity_per_kwh",
        "pue",
        "colocation_per_kw_month",
        "server_overhead",
        "service_life_years",
        "resale_after_3_years",
        "maintenance_fraction_per_year",
        "lead_time_days",
    ] {
        assert!(
            doc.contains(key),
            "docs/cost-model.md does not mention profile key {key}"
        );
    }
}
