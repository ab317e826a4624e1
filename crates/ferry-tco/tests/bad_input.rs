//! Bad input is a clear error naming the field.

use ferry_catalog::Catalog;
use ferry_tco::{Profile, advise};

fn error_of(p: &Profile) -> String {
    let err = p.validate().unwrap_err().to_string();
    // advise reports the same error.
    assert_eq!(
        advise(p, &Catalog::embedded()).unwrap_err().to_string(),
        err
    );
    err
}

fn base() -> Profile {
    Profile::new("H100 SXM", 8, 400.0)
}

#[test]
fn negative_hours() {
    let mut p = base();
    p.usage.gpu_hours_per_month = Some(-5.0);
    assert_eq!(error_of(&p), "usage.gpu_hours_per_month: must be >= 0");
    p.usage.gpu_hours_per_month = Some(f64::NAN);
    assert_eq!(error_of(&p), "usage.gpu_hours_per_month: must be >= 0");
}

#[test]
fn unknown_gpu_suggests_the_nearest() {
    let mut p = base();
    p.gpu = Some("H10O".into());
    let err = error_of(&p);
    assert!(
        err.starts_with("gpu: unknown GPU 'H10O'; did you mean"),
        "{err}"
    );
    assert!(err.contains("H100"), "{err}");
}

#[test]
fn horizon_zero() {
    let mut p = base();
    p.horizon_months = 0;
    assert_eq!(error_of(&p), "horizon_months: must be >= 1");
}

#[test]
fn demand_series_of_the_wrong_length() {
    let mut p = base();
    p.usage.gpu_hours_per_month = None;
    p.usage.demand_gpu_hours = Some(vec![100.0; 12]);
    assert_eq!(
        error_of(&p),
        "usage.demand_gpu_hours: 12 months given, horizon is 36"
    );
    p.usage.demand_gpu_hours = Some([vec![100.0; 35], vec![-1.0]].concat());
    assert_eq!(error_of(&p), "usage.demand_gpu_hours[35]: must be >= 0");
}

#[test]
fn usage_must_be_given_once() {
    let mut p = base();
    p.usage.gpu_hours_per_month = None;
    assert!(error_of(&p).starts_with("usage: missing"));
    p.usage.gpu_hours_per_month = Some(10.0);
    p.usage.utilization_percent = Some(50.0);
    assert!(error_of(&p).starts_with("usage: give only one"));
    p.usage.gpu_hours_per_month = None;
    p.usage.utilization_percent = Some(150.0);
    assert_eq!(
        error_of(&p),
        "usage.utilization_percent: must be between 0 and 100"
    );
}

#[test]
fn other_fields_are_named() {
    type Change = fn(&mut Profile);
    let cases: Vec<(Change, &str)> = vec![
        (|p| p.gpus = 0, "gpus: must be >= 1"),
        (
            |p| p.currency = "EUR".into(),
            "currency: 'EUR' is not supported (USD or CAD)",
        ),
        (
            |p| p.data.out_gb_per_month = -1.0,
            "data.out_gb_per_month: must be >= 0",
        ),
        (
            |p| p.job.max_wait_hours = Some(-2.0),
            "job.max_wait_hours: must be >= 0",
        ),
        (|p| p.owned.pue = Some(0.9), "owned.pue: must be >= 1"),
        (
            |p| p.owned.resale_after_3_years = Some(1.5),
            "owned.resale_after_3_years: must be between 0 and 1",
        ),
        (
            |p| p.owned.gpu_price = Some(0.0),
            "owned.gpu_price: must be > 0",
        ),
        (
            |p| p.owned.service_life_years = Some(0.0),
            "owned.service_life_years: must be > 0",
        ),
        (
            |p| p.ops.hourly_rate = Some(-1.0),
            "ops.hourly_rate: must be >= 0",
        ),
        (
            |p| p.academic.allocation_gpu_years = Some(-1.0),
            "academic.allocation_gpu_years: must be >= 0",
        ),
        (
            |p| p.requirement.min_vram_gb = Some(500.0),
            "requirement: no GPU named 'H100 SXM' meets it",
        ),
        (
            |p| p.gpu = None,
            "gpu: missing: name a GPU model (gpu = \"H100 SXM\") or give a [requirement]",
        ),
        (|p| p.usage.gpu_hours_per_month = Some(1e12), "usage: needs"),
    ];
    for (change, expected) in cases {
        let mut p = base();
        change(&mut p);
        let err = error_of(&p);
        assert!(
            err.starts_with(expected),
            "expected '{expected}', got '{err}'"
        );
    }
}

#[test]
fn toml_errors_name_the_key_and_line() {
    let err = Profile::from_toml("gpu = \"L4\"\n[usage]\ngpu_hours = 3\n")
        .unwrap_err()
        .to_string();
    assert!(
        err.starts_with("profile line 3, column 1: unknown field `gpu_hours`"),
        "{err}"
    );
    let err =
        Profile::from_toml("gpu = \"L4\"\nhorizon_months = -3\n[usage]\ngpu_hours_per_month = 3\n")
            .unwrap_err()
            .to_string();
    assert!(err.starts_with("profile line 2"), "{err}");
}
