//! The example profiles load, validate and get sane advice from the embedded catalog.

use ferry_catalog::Catalog;
use ferry_tco::{Advice, Approach, Profile, advise, comparison_table};

fn advise_example(name: &str) -> Advice {
    let path = format!(
        "{}/../../examples/profiles/{name}.toml",
        env!("CARGO_MANIFEST_DIR")
    );
    let text = std::fs::read_to_string(&path).unwrap();
    let profile = Profile::from_toml(&text).unwrap_or_else(|e| panic!("{path}: {e}"));
    profile.validate().unwrap();
    let advice = advise(&profile, &Catalog::embedded()).unwrap_or_else(|e| panic!("{path}: {e}"));
    sane(name, &advice);
    advice
}

/// Numbers a reader would not laugh at: finite, no negative costs, GPU-hours priced between
/// nothing and $100, a winner with reasons, a full table, valid JSON.
fn sane(name: &str, a: &Advice) {
    assert_eq!(a.estimates.len(), 6, "{name}");
    for e in a.estimates.iter().filter(|e| e.available) {
        let what = format!("{name}/{}", e.approach);
        for v in [
            e.total,
            e.initial_cost,
            e.monthly_recurring,
            e.data_transfer_cost,
        ] {
            assert!(v.is_finite() && v >= 0.0, "{what}: {v}");
        }
        if let Some(p) = e.per_useful_gpu_hour {
            assert!((0.0..100.0).contains(&p), "{what}: {p} per GPU-hour");
        }
        let sum: f64 = e.line_items.iter().map(|l| l.total).sum();
        assert!((sum - e.total).abs() <= 1e-6 * e.total.max(1.0), "{what}");
        assert!(
            e.line_items.iter().all(|l| !l.explanation.is_empty()),
            "{what}"
        );
        assert!(
            !e.scalability.is_empty() && !e.flexibility.is_empty() && !e.ease_of_use.is_empty(),
            "{what}"
        );
    }
    let r = a
        .recommendation
        .as_ref()
        .unwrap_or_else(|| panic!("{name}: no recommendation"));
    assert!(r.reasons.len() >= 3, "{name}: {:?}", r.reasons);
    assert_eq!(a.ranking[0].approach, r.approach);
    assert!(
        a.ranking.windows(2).all(|w| w[0].total <= w[1].total),
        "{name}"
    );
    let table = comparison_table(a);
    assert!(table.rows.iter().all(|row| row.cells.len() == 6));
    let json = serde_json::to_value(a).unwrap();
    assert!(json["estimates"].as_array().unwrap().len() == 6);
}

#[test]
fn phd_student_is_best_served_by_the_alliance() {
    let a = advise_example("phd-student");
    assert_eq!(a.currency.code, "CAD");
    assert!(a.currency.rate_note.contains("CAD"));
    // Free within a default account, and the numbers say why owning loses.
    assert_eq!(a.ranking[0].approach, Approach::Academic);
    assert_eq!(a.ranking[0].total, 0.0);
    let owned = a.estimate(Approach::Owned);
    assert!(
        owned.warnings.iter().any(|w| w.contains("busy only")),
        "{:?}",
        owned.warnings
    );
    let academic = a.estimate(Approach::Academic);
    assert!(
        academic
            .warnings
            .iter()
            .any(|w| w.contains("no public queue statistics"))
    );
}

#[test]
fn startup_compares_buying_eight_h100s_with_renting() {
    let a = advise_example("startup-8xh100");
    assert_eq!(a.workload.fleet_gpus, 8);
    let owned = a.estimate(Approach::Owned);
    assert!(owned.available);
    // HGX prices already include the baseboard: the full server overhead is not applied.
    assert!(
        owned.line_items[0].explanation.contains("× 1.15"),
        "{}",
        owned.line_items[0].explanation
    );
    let b = a.breakeven.as_ref().unwrap();
    assert_eq!(b.owned_gpus, 8);
    assert!((b.utilization - 0.6).abs() < 1e-9);
    assert!(b.breakeven_utilization.is_none_or(|u| u > 0.0 && u < 1.0));
    assert!(
        a.estimate(Approach::Hyperscaler)
            .variants
            .iter()
            .any(|v| v.name == "3-year commitment")
    );
    // Not eligible for academic access.
    assert!(a.excluded.iter().any(|x| x.approach == Approach::Academic));
}

#[test]
fn burst_team_rents_its_peaks() {
    let a = advise_example("burst-team");
    assert_eq!(a.workload.fleet_gpus, 64);
    assert_eq!(a.workload.demand_gpu_hours.len(), 24);
    // Busy a sixth of the year: buying 64 H100s cannot win.
    assert_ne!(a.ranking[0].approach, Approach::Owned);
    let hybrid = a.estimate(Approach::Hybrid).hybrid.as_ref().unwrap();
    assert_eq!(hybrid.cost_by_owned_gpus.len(), 65);
    assert!(
        a.estimate(Approach::Owned)
            .warnings
            .iter()
            .any(|w| w.contains("busy only"))
    );
}

#[test]
fn inference_keeps_four_l40s_busy_around_the_clock() {
    let a = advise_example("inference-4xl40s");
    assert_eq!(a.workload.fleet_gpus, 4);
    let owned = a.estimate(Approach::Owned);
    // 24/7 with 99% uptime: the 1% the fleet is down is rented.
    assert!(
        owned
            .line_items
            .iter()
            .any(|l| l.name == "rented beyond capacity")
    );
    // The marketplace's data transfer time is over the 1 h the profile allows.
    assert!(
        a.excluded
            .iter()
            .any(|x| x.approach == Approach::Decentralized)
    );
}
