use super::*;
use ferry_catalog::GpuTable;
use proptest::prelude::*;

fn task(yaml: &str) -> Task {
    Task::parse(yaml, "t.yaml").unwrap()
}

fn local(gpus: &[(&str, u32)], price: Option<f64>) -> EnabledBackend {
    let t = GpuTable::embedded();
    EnabledBackend {
        id: "local".into(),
        category: Category::Owned,
        gpus: gpus
            .iter()
            .map(|(n, c)| (t.resolve_one(n).unwrap(), *c))
            .collect(),
        price_per_gpu_hour: price,
        price_basis: "test".into(),
        provider: None,
        wait_hours: None,
        max_hours: None,
        unavailable: None,
    }
}

fn catalog() -> Catalog {
    let mut c = Catalog::embedded();
    c.drop_superseded();
    c
}

#[test]
fn cpu_only_work_runs_here() {
    let p = place(&task("run: echo hi\n"), &catalog(), &[local(&[], None)], 0);
    assert_eq!(p.candidates.len(), 1);
    let c = &p.candidates[p.chosen.unwrap()];
    assert_eq!(c.backend.as_deref(), Some("local"));
    assert_eq!(c.expected_usd, 0.0);
    assert!(p.hours_defaulted && p.hours == DEFAULT_HOURS);
}

#[test]
fn gpus_this_host_lacks_are_ranked_from_the_catalog_but_not_runnable() {
    let p = place(
        &task("resources:\n  accelerators: H100:8\nestimated_hours: 10\nrun: x\n"),
        &catalog(),
        &[local(&[], None)],
        0,
    );
    assert!(p.chosen.is_none());
    let feasible: Vec<&Candidate> = p.candidates.iter().filter(|c| c.feasible()).collect();
    assert!(feasible.len() > 10);
    assert!(
        feasible
            .windows(2)
            .all(|w| w[0].expected_usd <= w[1].expected_usd)
    );
    assert!(
        feasible[0]
            .notes
            .iter()
            .any(|n| n == "backend not configured")
    );
    assert!((feasible[0].expected_usd - feasible[0].price_per_hour * 10.0).abs() < 1e-9);
    let here = p
        .candidates
        .iter()
        .find(|c| c.backend.as_deref() == Some("local"))
        .unwrap();
    assert_eq!(here.excluded, ["local has 0 of the 8 GPUs asked for"]);
}

#[test]
fn this_host_wins_when_it_has_the_gpus_and_is_cheaper() {
    let b = [local(&[("RTX 4090", 2)], Some(0.10))];
    let p = place(
        &task("resources:\n  accelerators: RTX4090:1\nestimated_hours: 5\nrun: x\n"),
        &catalog(),
        &b,
        0,
    );
    let c = &p.candidates[p.chosen.unwrap()];
    assert_eq!((c.backend.as_deref(), c.gpus), (Some("local"), 1));
    assert!((c.expected_usd - 0.5).abs() < 1e-9);
    let p = place(
        &task("resources:\n  accelerators: RTX4090:4\nrun: x\n"),
        &catalog(),
        &b,
        0,
    );
    assert!(p.chosen.is_none());
}

#[test]
fn limits_exclude_with_reasons() {
    let t = task(
        "resources:\n  accelerators: H100:8\nmax_price: 20\ncategories: [gpu-cloud]\nrun: x\n",
    );
    let p = place(&t, &catalog(), &[], 0);
    for c in p.candidates.iter().filter(|c| c.feasible()) {
        assert!(
            c.price_per_hour <= 20.0 && c.category == Category::GpuCloud,
            "{c:?}"
        );
    }
    assert!(
        p.candidates
            .iter()
            .any(|c| c.excluded.iter().any(|e| e.contains("above max_price")))
    );
    assert!(p.candidates.iter().any(|c| {
        c.excluded
            .iter()
            .any(|e| e.contains("category hyperscaler"))
    }));

    let p = place(
        &task("resources:\n  accelerators: H100:8\nestimated_hours: 100\nbudget: 500\nrun: x\n"),
        &catalog(),
        &[],
        0,
    );
    assert!(
        p.candidates
            .iter()
            .filter(|c| c.feasible())
            .all(|c| c.expected_usd <= 500.0)
    );

    let p = place(
        &task("resources:\n  accelerators: H100:8\n  region: us-*\n  cloud: aws\nrun: x\n"),
        &catalog(),
        &[],
        0,
    );
    let f: Vec<_> = p.candidates.iter().filter(|c| c.feasible()).collect();
    assert!(
        !f.is_empty()
            && f.iter()
                .all(|c| c.provider == "aws" && c.region.starts_with("us-"))
    );
}

#[test]
fn spot_uses_the_spot_price_and_deadlines_count_queue_waits() {
    let p = place(
        &task("resources:\n  accelerators: H100:8\n  use_spot: true\n  cloud: aws\nrun: x\n"),
        &catalog(),
        &[],
        0,
    );
    let best = p.candidates.iter().find(|c| c.feasible()).unwrap();
    assert!(best.spot && best.price_per_hour < 30.0, "{best:?}");

    // Academic offers have waits of several hours: a 1-hour deadline rules them out.
    let p = place(
        &task("resources:\n  accelerators: H100:8\ndeadline: 2h\nrun: x\n"),
        &catalog(),
        &[],
        0,
    );
    let academic: Vec<_> = p
        .candidates
        .iter()
        .filter(|c| c.category == Category::Academic)
        .collect();
    assert!(!academic.is_empty() && academic.iter().all(|c| !c.feasible()));
    assert!(
        academic[0].excluded[0].contains("misses the deadline"),
        "{:?}",
        academic[0].excluded
    );
}

/// A rented provider this server can launch on.
fn rented(provider: &str) -> EnabledBackend {
    EnabledBackend {
        id: provider.into(),
        category: Category::GpuCloud,
        gpus: vec![],
        price_per_gpu_hour: None,
        price_basis: "test".into(),
        provider: Some(provider.into()),
        wait_hours: None,
        max_hours: None,
        unavailable: None,
    }
}

#[test]
fn owned_first_chooses_owned_gpus_over_a_cheaper_rental_and_says_why() {
    // Owned H100s at $9/GPU-h: dearer than RunPod's.
    let b = [local(&[("H100-SXM", 1)], Some(9.0)), rented("runpod")];
    let t = "resources:\n  accelerators: H100:1\nestimated_hours: 2\nrun: x\n";
    let cheap = place(&task(t), &catalog(), &b, 0);
    let c = &cheap.candidates[cheap.chosen.unwrap()];
    assert_eq!(c.backend.as_deref(), Some("runpod"));
    assert_eq!(
        (cheap.policy, cheap.policy_note.as_deref()),
        (PolicyKind::Cheapest, None)
    );

    let hybrid = place(
        &task(&format!("{t}policy: owned-first\nmax_wait: 30m\n")),
        &catalog(),
        &b,
        0,
    );
    let c = &hybrid.candidates[hybrid.chosen.unwrap()];
    assert_eq!(c.backend.as_deref(), Some("local"));
    let note = hybrid.policy_note.unwrap();
    assert!(
        note.starts_with("local first (owned)")
            && note.contains("more than 30 min")
            && note.contains("the cheapest, runpod"),
        "{note}"
    );
    // The server's default applies when the task names no policy; the task's wins.
    let p = place_with(&task(t), &catalog(), &b, 0, PolicyKind::OwnedFirst);
    assert_eq!(
        p.candidates[p.chosen.unwrap()].backend.as_deref(),
        Some("local")
    );
    let p = place_with(
        &task(&format!("{t}policy: cheapest\n")),
        &catalog(),
        &b,
        0,
        PolicyKind::OwnedFirst,
    );
    assert_eq!(
        p.candidates[p.chosen.unwrap()].backend.as_deref(),
        Some("runpod")
    );
    // Nothing owned can run it: the cheapest rental, said so.
    let p = place_with(
        &task(t),
        &catalog(),
        &[rented("runpod")],
        0,
        PolicyKind::OwnedFirst,
    );
    assert_eq!(
        p.candidates[p.chosen.unwrap()].backend.as_deref(),
        Some("runpod")
    );
    assert!(
        p.policy_note
            .unwrap()
            .contains("no owned or academic placement")
    );
}

#[test]
fn owned_first_skips_an_academic_queue_whose_wait_is_past_max_wait() {
    let academic = |wait: f64| EnabledBackend {
        id: "slurm:narval".into(),
        category: Category::Academic,
        gpus: vec![(
            GpuTable::embedded().resolve_one("A100-80GB-SXM").unwrap(),
            4,
        )],
        price_per_gpu_hour: Some(0.0),
        price_basis: "allocation".into(),
        provider: None,
        wait_hours: Some(wait),
        max_hours: None,
        unavailable: None,
    };
    let t = "resources:\n  accelerators: A100-80GB:1\nestimated_hours: 2\npolicy: owned-first\nmax_wait: 2h\nrun: x\n";
    let short = place(&task(t), &catalog(), &[academic(1.0), rented("runpod")], 0);
    assert_eq!(
        short.candidates[short.chosen.unwrap()].backend.as_deref(),
        Some("slurm:narval")
    );
    let long = place(&task(t), &catalog(), &[academic(6.0), rented("runpod")], 0);
    assert_eq!(
        long.candidates[long.chosen.unwrap()].backend.as_deref(),
        Some("runpod")
    );
    let slurm = long
        .candidates
        .iter()
        .find(|c| c.backend.as_deref() == Some("slurm:narval"))
        .unwrap();
    assert!(
        slurm.notes.iter().any(|n| n.contains("past max_wait")),
        "{slurm:?}"
    );
}

#[test]
fn deadline_spot_ranks_the_on_demand_fallback_beside_each_spot_offer() {
    let t = "resources:\n  accelerators: H100:8\n  use_spot: true\n  cloud: aws\ndeadline: 48h\nestimated_hours: 10\nrun: x\n";
    let spot_only = place(&task(t), &catalog(), &[], 0);
    assert!(spot_only.candidates.iter().all(|c| c.spot || !c.feasible()));
    let both = place(
        &task(&format!("{t}policy: deadline-spot\n")),
        &catalog(),
        &[],
        0,
    );
    let feasible: Vec<&Candidate> = both.candidates.iter().filter(|c| c.feasible()).collect();
    assert!(feasible[0].spot, "spot is cheaper and ranks first");
    let od = feasible
        .iter()
        .find(|c| !c.spot)
        .expect("an on-demand fallback");
    assert!(od.price_per_hour > feasible[0].price_per_hour);
    assert!(od.notes.iter().any(|n| n.contains("on-demand fallback")));
}

#[test]
fn the_default_owned_price_is_never_zero() {
    let c = catalog();
    for (id, _) in c.table.iter() {
        let (p, why) = default_owned_price_per_gpu_hour(&c, id);
        assert!(p > 0.0 && why.contains("default amortisation"));
    }
}

proptest! {
    #[test]
    fn the_chosen_placement_is_the_cheapest_runnable(local_price in 0.0f64..10.0, hours in 0.1f64..100.0, n in 1u32..4) {
        let b = [local(&[("RTX 4090", 2), ("H100-SXM", 4)], Some(local_price))];
        let t = task(&format!("resources:\n  accelerators: H100:{n}\nestimated_hours: {hours}\nrun: x\n"));
        let p = place(&t, &catalog(), &b, 0);
        let runnable: Vec<&Candidate> = p.candidates.iter().filter(|c| c.runnable()).collect();
        match p.chosen {
            Some(i) => {
                let chosen = &p.candidates[i];
                prop_assert!(chosen.runnable());
                prop_assert!(runnable.iter().all(|c| c.expected_usd >= chosen.expected_usd));
            }
            None => prop_assert!(runnable.is_empty()),
        }
    }
}
