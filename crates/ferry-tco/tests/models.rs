//! Hand-computed expected values for each category model, on the round-number catalog in
//! `common`. Every expected figure is worked out in the comment above it.

mod common;

use common::{catalog, catalog_of, close, ctx, profile, workload};
use ferry_tco::rental::{best, paygo_quotes};
use ferry_tco::{
    Approach, Assumptions, Profile, academic, advise_with, breakeven, decentralized, gpu_cloud,
    hybrid, hyperscaler, owned,
};

const H: f64 = 730.5; // hours in a month: 8766 / 12

#[test]
fn gpu_cloud_one_gpu() {
    let (c, a) = (catalog(), Assumptions::default());
    let mut p = profile(1, 100.0, 12);
    p.data.out_gb_per_month = 10.0;
    let w = workload(&p, &c);
    let e = gpu_cloud::estimate(&w, &ctx(&c, &a));
    // cloudco: $2.00/h for 1 GPU; +10% hidden costs; 0.99 reliability (assumed) →
    // 2.00 × 1.1 / 0.99 = 2.2222… per useful GPU-hour. 100 h × 12 months = 1,200 h.
    // Egress is free: 1,200 × 2.2222… = 2,666.67.
    assert!(e.available);
    assert_eq!(e.pricing, "on-demand");
    close(e.total, 1200.0 * 2.0 * 1.1 / 0.99);
    close(e.initial_cost, 0.0);
    close(e.monthly_recurring, 100.0 * 2.0 * 1.1 / 0.99);
    close(e.per_useful_gpu_hour.unwrap(), 2.0 * 1.1 / 0.99);
    close(e.data_transfer_cost, 0.0);
    let names: Vec<&str> = e.line_items.iter().map(|l| l.name.as_str()).collect();
    assert_eq!(names, ["compute", "hidden costs", "lost work", "egress"]);
    // compute 1,200 × 2.00 = 2,400; hidden 240; lost work 2,640 × (1/0.99 − 1) = 26.67.
    close(e.line_items[0].total, 2400.0);
    close(e.line_items[1].total, 240.0);
    close(e.line_items[2].total, 2640.0 * (1.0 / 0.99 - 1.0));
    assert_eq!(e.offer.as_ref().unwrap().provider, "cloudco");
}

#[test]
fn hyperscaler_on_demand_spot_and_commitment() {
    let (c, a) = (catalog(), Assumptions::default());
    // 8 GPUs busy all the time: 8 × 730.5 = 5,844 GPU-h a month for 12 months = 70,128 h.
    let mut p = profile(8, 8.0 * H, 12);
    p.data.out_gb_per_month = 10.0;
    let w = workload(&p, &c);
    let e = hyperscaler::estimate(&w, &ctx(&c, &a));
    let hours = 8.0 * H * 12.0;
    let egress = 12.0 * 10.0 * 0.10; // 10 GB a month at $0.10 = $12 over the year
    // On-demand: $40/h ÷ 8 GPUs = $5 per GPU-hour, +10% = 5.5 → 70,128 × 5.5 + 12 = 385,716.
    let on_demand = hours * 5.5 + egress;
    // 1-year commitment: one slot (the 8-GPU instance) at 31% off, +10% hidden costs, every
    // hour: 40 × 0.69 × 1.1 × 730.5 = 22,177.98 a month × 12 = 266,135.76, + 12 egress.
    let commit = 40.0 * 0.69 * 1.1 * H * 12.0 + egress;
    close(e.total, commit);
    assert_eq!(e.pricing, "1-year commitment");
    let v = |name: &str| e.variants.iter().find(|v| v.name == name).unwrap();
    close(v("on-demand").total, on_demand);
    // Spot: $16/h ÷ 8 = $2, +10% hidden, +10% re-runs (one instance) = 2.42 per GPU-hour:
    // 70,128 × 2.42 + 12 = 169,721.76, but the work is not interruptible.
    close(v("spot").total, hours * 2.0 * 1.1 * 1.1 + egress);
    assert!(!v("spot").admissible);
    // 3 years do not fit in a 12-month horizon.
    assert!(!v("3-year commitment").admissible);

    // Interruptible work takes spot.
    p.job.interruptible = true;
    let w = workload(&p, &c);
    let e = hyperscaler::estimate(&w, &ctx(&c, &a));
    assert_eq!(e.pricing, "spot");
    close(e.total, hours * 2.42 + egress);
}

#[test]
fn decentralized_reliability_and_transfer() {
    let (c, a) = (catalog(), Assumptions::default());
    let mut p = profile(1, 100.0, 12);
    p.data.in_gb_per_month = 30.0;
    p.data.out_gb_per_month = 10.0;
    let w = workload(&p, &c);
    let e = decentralized::estimate(&w, &ctx(&c, &a));
    // market: $1.50/h, +10% hidden, host reliability 0.95 → 1.5 × 1.1 / 0.95 = 1.7368…
    // per useful GPU-hour; 1,200 h → 2,084.21.
    let compute = 1200.0 * 1.5 * 1.1 / 0.95;
    // Egress not stated: $0.01/GB assumed → 10 GB × 0.01 × 12 = 1.20.
    let egress = 10.0 * 0.01 * 12.0;
    // 40 GB in + out a month at 100 Mbit/s: 40 × 8000 / 100 / 3600 = 0.8889 h of the $1.50
    // instance sitting idle = 1.3333 a month × 12 = 16.00.
    let transfer = 40.0 * 8000.0 / 100.0 / 3600.0 * 1.5 * 12.0;
    close(e.total, compute + egress + transfer);
    close(e.data_transfer_cost, egress + transfer);
    // A job waits to start for 0.25 h provisioning + moving its 30 GB input (0.6667 h).
    close(
        e.time_to_result.transfer_hours,
        30.0 * 8000.0 / 100.0 / 3600.0,
    );
    close(
        e.time_to_result.wait_per_job_hours(),
        0.25 + 30.0 * 8000.0 / 100.0 / 3600.0,
    );
}

#[test]
fn owned_one_h100_in_a_datacenter() {
    let (c, a) = (catalog(), Assumptions::default());
    let p = profile(1, 100.0, 12);
    let w = workload(&p, &c);
    let cx = ctx(&c, &a);
    let paygo = paygo_quotes(&w, &cx);
    let plan = owned::best_plan(&w, &cx, &paygo);
    let e = owned::estimate(&w, &cx, &plan);
    // H100-SXM: $32,000 per HGX GPU × 1.15 (HGX already includes the baseboard) = 36,800.
    let purchase = 32000.0 * 1.15;
    // Sold after 1 year at 0.46^(1/3) = 77.194% of the price: 28,407.54.
    let resale = purchase * 0.46f64.powf(1.0 / 3.0);
    // Colocation: 700 W × 1.8 = 1.26 kW × $184.06 × 12 months = 2,782.99.
    let space = 1.26 * 184.06 * 12.0;
    // Upkeep: $2,000 a GPU-year (1.667 h a month at $100) = 2,000.
    let labour = 2000.0;
    // Maintenance and spares: 5% of 36,800 a year = 1,840.
    let maintenance = purchase * 0.05;
    // Energy: 1.26 kW × 0.75 × PUE 1.25 × $0.0826 = $0.09757 per busy GPU-hour × 1,200 h.
    let energy = 1.26 * 0.75 * 1.25 * 0.0826 * 1200.0;
    close(e.initial_cost, purchase);
    close(
        e.total,
        purchase - resale + space + labour + maintenance + energy,
    );
    // = 36,800 − 28,407.54 + 2,782.99 + 2,000 + 1,840 + 117.09 = 15,132.52
    assert!((e.total - 15_132.52).abs() < 0.01, "{}", e.total);
    close(e.maintenance_hours_per_month, 2000.0 / 100.0 / 12.0);
    close(e.time_to_result.lead_time_days, 60.0);
    assert!(
        e.warnings.iter().any(|w| w.contains("HGX")),
        "{:?}",
        e.warnings
    );
}

#[test]
fn owned_consumer_card_in_an_office_and_in_a_datacenter() {
    let (c, a) = (catalog(), Assumptions::default());
    let mut p = Profile::new("RTX 4090", 2, 300.0);
    p.horizon_months = 36;
    let w = workload(&p, &c);
    let cx = ctx(&c, &a);
    let e = owned::estimate(&w, &cx, &owned::best_plan(&w, &cx, &[]));
    // 2 × $1,599 × 1.64 = 5,244.72; resale after 3 years 46% = 2,412.57.
    let purchase = 2.0 * 1599.0 * 1.64;
    // Office: no rent, PUE 1.0, workstation draw 450 W × 1.3 = 0.585 kW; energy 0.585 ×
    // 0.75 × 1.0 × 0.0826 = $0.03624 per busy GPU-hour × 300 h × 36 = 391.40.
    let energy = 0.585 * 0.75 * 0.0826 * 300.0 * 36.0;
    // Upkeep 0.5 h per GPU-month at $100: 2 × 0.5 × 100 × 36 = 3,600. Maintenance 5%/yr.
    let expected = purchase * (1.0 - 0.46) + energy + 3600.0 + purchase * 0.05 * 3.0;
    close(e.total, expected);
    assert!(e.warnings.iter().all(|w| !w.contains("licence")));

    // The same cards in a datacenter break NVIDIA's GeForce driver licence.
    p.owned.site = Some(ferry_tco::Site::Datacenter);
    let w = workload(&p, &c);
    let e = owned::estimate(&w, &cx, &owned::best_plan(&w, &cx, &[]));
    assert!(
        e.warnings.iter().any(|w| w.contains("licence")),
        "{:?}",
        e.warnings
    );
}

#[test]
fn owned_beyond_its_service_life_is_replaced() {
    let (c, a) = (catalog(), Assumptions::default());
    let mut p = profile(1, 100.0, 48);
    p.owned.service_life_years = Some(3.0);
    let w = workload(&p, &c);
    let cx = ctx(&c, &a);
    let plan = owned::best_plan(&w, &cx, &[]).unwrap();
    let f = &plan.fleet;
    // 48 months with a 36-month life: bought twice; the first sold at 46% after 3 years,
    // the second at 0.46^(1/3) after 1 year.
    assert_eq!(f.purchases, 2);
    close(f.resale_at_replacements, 36_800.0 * 0.46);
    close(f.resale_at_horizon, 36_800.0 * 0.46f64.powf(1.0 / 3.0));
    close(f.final_age_years, 1.0);
}

#[test]
fn owned_multi_server_fleets_pay_for_the_network() {
    let (c, a) = (catalog(), Assumptions::default());
    let p = profile(16, 16.0 * 300.0, 12);
    let w = workload(&p, &c);
    let cx = ctx(&c, &a);
    let f = owned::best_plan(&w, &cx, &[]).unwrap().fleet;
    // 16 GPUs span two 8-GPU servers: the network is 19% of the whole, i.e. 0.19/0.81 of
    // the servers: 16 × 36,800 = 588,800 × 0.19 / 0.81 = 138,113.58.
    close(f.hardware, 16.0 * 36_800.0);
    close(f.network, 16.0 * 36_800.0 * 0.19 / 0.81);
}

#[test]
fn academic_allocation_then_overflow() {
    let (c, a) = (catalog(), Assumptions::default());
    let mut p = profile(1, 100.0, 12);
    p.academic.eligible = true;
    p.academic.allocation_gpu_years = Some(0.1);
    p.data.out_gb_per_month = 10.0;
    let w = workload(&p, &c);
    let cx = ctx(&c, &a);
    let paygo = paygo_quotes(&w, &cx);
    let e = academic::estimate(&w, &cx, &paygo);
    // 0.1 GPU-years a year = 73.05 GPU-h a month free; 26.95 h a month overflow → 323.4 h.
    let split = e.academic.as_ref().unwrap();
    close(split.allocation_hours_per_month, 73.05);
    close(split.allocation_hours, 73.05 * 12.0);
    close(split.overflow_hours, 26.95 * 12.0);
    // The cheapest place for the overflow is market: 1.5 × 1.1 / 0.95 per GPU-hour, plus the
    // overflow's share (26.95%) of each month's data: egress 10 GB × $0.01 and 10 GB at
    // 100 Mbit/s = 0.2222 h × $1.50 → (0.10 + 0.3333) × 0.2695 × 12.
    let rate = 1.5 * 1.1 / 0.95;
    let data = (0.10 + 10.0 * 8000.0 / 100.0 / 3600.0 * 1.5) * 0.2695 * 12.0;
    close(e.total, 323.4 * rate + data);
    assert!(split.overflow_to.as_deref().unwrap().starts_with("market"));
    // One GPU fits the 4-GPU node: its 12 h queue wait.
    close(e.time_to_result.queue_wait_hours, 12.0);
    assert!(
        e.warnings
            .iter()
            .any(|w| w.contains("no public queue statistics"))
    );

    // Not eligible: not available, and the reason says why.
    p.academic.eligible = false;
    let e = academic::estimate(&workload(&p, &c), &cx, &paygo);
    assert!(!e.available);
    assert!(e.unavailable_reason.unwrap().contains("eligible"));
}

#[test]
fn academic_multi_node_jobs_wait_per_node() {
    let (c, a) = (catalog(), Assumptions::default());
    let mut p = profile(8, 800.0, 12);
    p.academic.eligible = true;
    let w = workload(&p, &c);
    let e = academic::estimate(&w, &ctx(&c, &a), &[]);
    // 8 GPUs need two 4-GPU nodes: 2 × 12 h.
    close(e.time_to_result.queue_wait_hours, 24.0);
    // No allocation stated: a default (RAS) account, 1 GPU-year a year, not guaranteed.
    assert!(!e.academic.as_ref().unwrap().guaranteed);
    close(e.academic.as_ref().unwrap().allocation_hours_per_month, H);
    close(e.total, 0.0);
}

/// The hybrid hand example: a $12,000 GPU (no other owned costs) against cloudco at
/// 2.00 × 1.1 / 0.99 = 2.2222 per GPU-hour, one GPU busy for six months, then two.
fn hybrid_example() -> (ferry_catalog::Catalog, Profile) {
    let c = catalog_of(common::ROWS.lines().next().unwrap());
    let mut p = profile(1, 0.0, 12);
    p.usage.gpu_hours_per_month = None;
    p.usage.demand_gpu_hours = Some([vec![H; 6], vec![2.0 * H; 6]].concat());
    p.owned.site = Some(ferry_tco::Site::Office);
    p.owned.gpu_price = Some(12_000.0);
    p.owned.server_overhead = Some(1.0);
    p.owned.resale_after_3_years = Some(0.0);
    p.owned.electricity_per_kwh = Some(0.0);
    p.owned.maintenance_fraction_per_year = Some(0.0);
    p.ops.hours_per_month = Some(0.0);
    (c, p)
}

#[test]
fn hybrid_owns_the_base_load_and_rents_the_peak() {
    let (c, p) = hybrid_example();
    let a = Assumptions::default();
    let w = workload(&p, &c);
    let cx = ctx(&c, &a);
    let rate = 2.0 * 1.1 / 0.99;
    let up = H * 0.99; // an owned GPU runs at most 723.195 h a month
    let total_hours = 6.0 * H + 6.0 * 2.0 * H; // 13,149
    // k = 0: rent everything: 13,149 × 2.2222 = 29,220.
    let k0 = total_hours * rate;
    // k = 1: $12,000; it runs 723.195 h every month (8,678.34 h); the other 4,470.66 h rented
    // → 12,000 + 9,934.80 = 21,934.80.
    let k1 = 12_000.0 + (total_hours - 12.0 * up) * rate;
    // k = 2: $24,000; they run all of the first six months (6 × 730.5) and 1,446.39 h of
    // each of the last six; 6 × (1,461 − 1,446.39) = 87.66 h rented → 24,000 + 194.80.
    let k2 = 24_000.0 + 6.0 * (2.0 * H - 2.0 * up) * rate;
    let paygo = paygo_quotes(&w, &cx);
    let rented = gpu_cloud::estimate(&w, &cx);
    close(rented.total, k0);
    let e = hybrid::estimate(&w, &cx, &paygo, Some(&rented), None);
    let plan = e.hybrid.as_ref().unwrap();
    assert_eq!(plan.owned_gpus, 1);
    assert_eq!(plan.fleet_gpus, 2);
    assert_eq!(plan.cost_by_owned_gpus.len(), 3);
    close(plan.cost_by_owned_gpus[0], k0);
    close(plan.cost_by_owned_gpus[1], k1);
    close(plan.cost_by_owned_gpus[2], k2);
    close(e.total, k1);
    close(plan.owned_hours, 12.0 * up);
    assert!(plan.explanation.contains("Own 1"), "{}", plan.explanation);
    // All-owned is exactly the k = 2 point.
    let own = owned::estimate(&w, &cx, &owned::best_plan(&w, &cx, &paygo));
    close(own.total, k2);
}

#[test]
fn hybrid_search_is_exact_against_brute_force() {
    let (c, mut p) = hybrid_example();
    // A bumpy series over 12 months, jobs of 2 GPUs.
    p.gpus = 2;
    p.usage.demand_gpu_hours = Some(vec![
        100.0, 2900.0, 0.0, 1500.0, 700.0, 2200.0, 50.0, 0.0, 2921.0, 1000.0, 400.0, 1800.0,
    ]);
    let a = Assumptions::default();
    let w = workload(&p, &c);
    let cx = ctx(&c, &a);
    let paygo = paygo_quotes(&w, &cx);
    let rented = gpu_cloud::estimate(&w, &cx);
    let e = hybrid::estimate(&w, &cx, &paygo, Some(&rented), None);
    let plan = e.hybrid.unwrap();
    let fleet = w.fleet_size(&a);
    assert_eq!(fleet, 4); // ceil(2,921 / 730.5) = 4 GPUs = 2 jobs of 2
    let s = owned::setup(&w, w.models[0], fleet, &cx).unwrap();
    let mut brute = vec![rented.total];
    for k in 1..=fleet {
        brute.push(owned::fleet_cost(&s, k, &w, &cx, &paygo).total);
    }
    let min = brute.iter().copied().fold(f64::INFINITY, f64::min);
    close(e.total, min);
    assert_eq!(plan.cost_by_owned_gpus, brute);
}

#[test]
fn breakeven_and_payback_by_hand() {
    let (c, mut p) = hybrid_example();
    // A steady 600 GPU-h a month on one GPU.
    p.usage.demand_gpu_hours = None;
    p.usage.gpu_hours_per_month = Some(600.0);
    let a = Assumptions::default();
    let w = workload(&p, &c);
    let cx = ctx(&c, &a);
    let paygo = paygo_quotes(&w, &cx);
    let plan = owned::best_plan(&w, &cx, &paygo).unwrap();
    let rental = best(&paygo, &w.demand).unwrap();
    let b = breakeven::compute(&plan, rental, &w, &cx);
    let rate = 2.0 * 1.1 / 0.99;
    // Fixed cost $12,000 over 12 × 730.5 = 8,766 wall hours; no energy:
    // u* = 12,000 / (2.2222 × 8,766) = 61.6%, i.e. 12,000 / 12 / 2.2222 = 450 GPU-h a month.
    close(b.breakeven_utilization.unwrap(), 12_000.0 / (rate * 8766.0));
    close(b.breakeven_gpu_hours_per_month.unwrap(), 450.0);
    // Renting 600 h costs 1,333.33 a month; owning costs nothing more a month: the $12,000
    // is paid back after 12,000 / 1,333.33 = 9 months.
    close(b.payback_months.unwrap(), 9.0);
    assert!(
        b.explanation.contains("after 9 months"),
        "{}",
        b.explanation
    );
    assert!(
        b.explanation.contains("below 450 GPU-h/month"),
        "{}",
        b.explanation
    );
}

#[test]
fn advice_ranks_and_explains_and_converts_to_cad() {
    let c = catalog();
    let a = Assumptions::default();
    let mut p = profile(1, 100.0, 12);
    let usd = advise_with(&p, &c, &a).unwrap();
    // market is the cheapest rental, and 100 h a month is far too little to buy an H100.
    assert_eq!(usd.ranking[0].approach, Approach::Decentralized);
    let r = usd.recommendation.as_ref().unwrap();
    assert!(r.headline.starts_with("decentralized"), "{}", r.headline);
    assert!(r.reasons.iter().any(|x| x.contains("academic is left out")));
    assert_eq!(usd.sensitivity.len(), 6);
    // The same in CAD at the test rate of 0.5 USD per CAD: every amount doubles.
    p.currency = "CAD".into();
    let cad = advise_with(&p, &c, &a).unwrap();
    assert_eq!(cad.currency.code, "CAD");
    for (u, k) in usd.estimates.iter().zip(&cad.estimates) {
        close(k.total, u.total * 2.0);
        for (lu, lk) in u.line_items.iter().zip(&k.line_items) {
            close(lk.total, lu.total * 2.0);
        }
    }
    assert!(cad.recommendation.unwrap().headline.contains("CA$"));
    assert!(cad.currency.rate_note.contains("test rate"));
}

#[test]
fn max_wait_excludes_slow_options() {
    let c = catalog();
    let mut p = profile(1, 100.0, 12);
    p.academic.eligible = true;
    p.job.max_wait_hours = Some(4.0);
    let advice = advise_with(&p, &c, &Assumptions::default()).unwrap();
    // Academic would be free, but its 12 h queue is over the 4 h limit.
    let academic = advice
        .excluded
        .iter()
        .find(|x| x.approach == Approach::Academic)
        .unwrap();
    assert!(academic.reason.contains("12 h"), "{}", academic.reason);
    assert!(
        advice
            .ranking
            .iter()
            .all(|r| r.approach != Approach::Academic)
    );
    p.job.max_wait_hours = None;
    let advice = advise_with(&p, &c, &Assumptions::default()).unwrap();
    assert_eq!(advice.ranking[0].approach, Approach::Academic);
}

#[test]
fn comparison_table_has_a_cell_per_criterion_and_approach() {
    let c = catalog();
    let advice = advise_with(&profile(1, 100.0, 12), &c, &Assumptions::default()).unwrap();
    let t = ferry_tco::comparison_table(&advice);
    assert_eq!(t.columns.len(), 6);
    assert_eq!(t.rows.len(), ferry_tco::table::CRITERIA.len());
    assert!(t.rows.iter().all(|r| r.cells.len() == 6));
    assert!(t.rows[0].cells[1].starts_with("n/a: academic access"));
    let json = serde_json::to_string(&advice).unwrap();
    assert!(json.contains("\"approach\":\"gpu-cloud\""));
}
