//! Properties of the replay over random traces: the policies' promises, checked on worlds
//! nobody wrote by hand.

use ferry_job::Micros;
use ferry_policy::PolicyKind;
use ferry_policy::progress::SpotRule;
use ferry_sim::cluster::{self, ClusterSetup, SpotCapacity, Where};
use ferry_sim::spot::{self, SpotSetup};
use ferry_sim::{SpotTrace, TraceJob};
use proptest::prelude::*;

fn jobs() -> impl Strategy<Value = Vec<TraceJob>> {
    prop::collection::vec(
        (
            0i64..200_000,                            // submitted
            1u32..=12,                                // gpus
            60i64..40_000,                            // duration
            prop::option::of(0i64..100_000),          // slack before the deadline
            prop::option::of(0i64..30_000),           // max wait
            prop::option::of(1.0f64..400.0),          // budget
            prop::option::weighted(0.3, 0.2f64..3.0), // estimate off by this factor
        ),
        1..70,
    )
    .prop_map(|rows| {
        let mut jobs: Vec<TraceJob> = rows
            .into_iter()
            .enumerate()
            .map(
                |(i, (submit_s, gpus, duration_s, slack, max_wait_s, budget_usd, off))| TraceJob {
                    id: format!("j{i}"),
                    submit_s,
                    gpus,
                    duration_s,
                    estimate_s: off.map_or(duration_s, |f| ((duration_s as f64) * f) as i64),
                    deadline_s: slack.map(|s| submit_s + duration_s + s),
                    max_wait_s,
                    budget_usd,
                },
            )
            .collect();
        jobs.sort_by_key(|j| j.submit_s);
        jobs
    })
}

/// Spot capacity now and then: a random availability trace at a random price below
/// on-demand's.
fn spot() -> impl Strategy<Value = Option<SpotCapacity>> {
    prop::option::of((
        prop::collection::vec(any::<bool>(), 20..200),
        prop::sample::select(vec![300i64, 3600]),
        100_000i64..2_900_000,
    ))
    .prop_map(|s| {
        s.map(|(available, gap_s, price)| SpotCapacity {
            price: Micros(price),
            trace: SpotTrace { gap_s, available },
        })
    })
}

fn setup() -> impl Strategy<Value = ClusterSetup> {
    (
        prop::sample::select(vec![
            PolicyKind::Cheapest,
            PolicyKind::OwnedFirst,
            PolicyKind::DeadlineSpot,
        ]),
        0u32..24,
        0u32..10,
        0i64..20_000,
        0i64..1_800,
        prop::option::of(10i64..2_000),
        spot(),
    )
        .prop_map(
            |(policy, owned, academic, wait, provision, cap, spot)| ClusterSetup {
                policy,
                owned_gpus: owned,
                owned_rate: Micros(500_000),
                academic_gpus: academic,
                academic_wait_s: wait,
                cloud_price: Micros(3_000_000),
                provision_s: provision,
                monthly_budget: cap.map(|usd| Micros(usd * 1_000_000)),
                billing_increment_s: 60,
                spot,
            },
        )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    /// Every job runs once or is counted as never started; no GPU is handed out twice (the
    /// replay checks every allocation against the pool's free GPUs and panics if not).
    #[test]
    fn no_job_is_lost_or_run_twice(jobs in jobs(), setup in setup()) {
        let r = cluster::replay(&setup, &jobs);
        let ran: u64 = r.by_category.iter().map(|(_, s)| s.jobs).sum();
        prop_assert_eq!(ran + r.never_started, jobs.len() as u64);
        prop_assert!(r.owned_utilisation <= 1.0 + 1e-9, "{}", r.owned_utilisation);
        prop_assert_eq!(r.total_cost, r.by_category.iter().map(|(_, s)| s.cost).sum::<Micros>());
    }

    /// A month's rented spend passes its cap by at most one billing increment per job stopped.
    #[test]
    fn no_budget_is_passed_by_more_than_an_increment(jobs in jobs(), setup in setup()) {
        let r = cluster::replay(&setup, &jobs);
        if let Some(cap) = setup.monthly_budget {
            let increment = Micros(setup.cloud_price.0 * 12 * setup.billing_increment_s / 3600);
            for spent in &r.rented_by_month {
                let slack = Micros(increment.0 * jobs.len() as i64);
                prop_assert!(spent.0 <= cap.0 + slack.0, "spent {} of {}", spent, cap);
            }
        }
    }

    /// With honest estimates, no budget and no academic detour, `owned-first` misses no
    /// deadline that renting at submission would have met.
    #[test]
    fn owned_first_meets_every_deadline_renting_could(jobs in jobs(), setup in setup()) {
        let jobs: Vec<TraceJob> = jobs
            .into_iter()
            .map(|j| TraceJob { estimate_s: j.duration_s, budget_usd: None, ..j })
            .collect();
        let setup = ClusterSetup {
            policy: PolicyKind::OwnedFirst,
            monthly_budget: None,
            academic_gpus: 0,
            ..setup
        };
        let r = cluster::replay(&setup, &jobs);
        prop_assert_eq!(r.missed_that_renting_could_meet, 0);
        prop_assert_eq!(r.never_started, 0);
    }

    /// With spot capacity under `deadline-spot` (honest estimates, no budget, no academic
    /// detour), no deadline is missed that renting on-demand at submission would have met,
    /// and spot never costs more than the same hours on-demand.
    #[test]
    fn deadline_spot_in_a_cluster_meets_every_deadline_renting_could(
        jobs in jobs(),
        setup in setup(),
        capacity in spot(),
    ) {
        let jobs: Vec<TraceJob> = jobs
            .into_iter()
            .map(|j| TraceJob { estimate_s: j.duration_s, budget_usd: None, ..j })
            .collect();
        let setup = ClusterSetup {
            policy: PolicyKind::DeadlineSpot,
            monthly_budget: None,
            academic_gpus: 0,
            spot: capacity.or(setup.spot.clone()),
            ..setup
        };
        let r = cluster::replay(&setup, &jobs);
        prop_assert_eq!(r.missed_that_renting_could_meet, 0);
        prop_assert_eq!(r.never_started, 0);
        if let Some((_, spot)) = r.by_category.iter().find(|(w, _)| *w == Where::Spot) {
            let price = setup.spot.as_ref().unwrap().price;
            prop_assert!(
                // Each part is rounded once, to the micro-dollar.
                spot.cost.0 as f64 <= spot.gpu_hours * price.0 as f64 * (1.0 + 1e-9) + 10.0,
                "{} for {} GPU-h at {}", spot.cost, spot.gpu_hours, price
            );
        }
    }

    /// The same inputs give the same report.
    #[test]
    fn replays_are_deterministic(jobs in jobs(), setup in setup()) {
        prop_assert_eq!(cluster::replay(&setup, &jobs), cluster::replay(&setup, &jobs));
    }

    /// Every spot rule meets every deadline on-demand alone could meet, on any trace.
    #[test]
    fn deadline_spot_never_misses_what_on_demand_would_meet(
        ticks in prop::collection::vec(any::<bool>(), 200..600),
        gap in prop::sample::select(vec![60i64, 300, 600, 3600]),
        work_ticks in 5i64..60,
        slack_ticks in 0i64..60,
        changeover in 0i64..2000,
        seed in any::<u64>(),
    ) {
        let trace = SpotTrace { gap_s: gap, available: ticks };
        let work_s = work_ticks * gap;
        let deadline_s = work_s + changeover + slack_ticks * gap;
        prop_assume!((deadline_s + gap - 1) / gap <= trace.available.len() as i64);
        for rule in SpotRule::ALL {
            let setup = SpotSetup {
                rule,
                work_s,
                deadline_s,
                changeover_s: changeover,
                on_demand_price: Micros(3_000_000),
                spot_price: Micros(900_000),
                starts: 5,
                seed,
            };
            let r = spot::replay(&setup, &trace).unwrap();
            prop_assert_eq!(r.missed_deadlines, 0, "{:?}", rule);
            prop_assert!(r.cost <= r.on_demand_only_cost || rule != SpotRule::OnDemandOnly);
        }
    }
}
