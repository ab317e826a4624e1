//! The rented lifecycle's rules, one at a time, and the properties that must hold whatever
//! the store and the provider's listing say.

use super::*;
use ferry_cloud::{InstanceId, OfferRef};
use ferry_job::JobId;
use proptest::prelude::*;

/// A time far from zero, so that "since" arithmetic never leans on the epoch.
const T0: i64 = 1_700_000_000_000;
const MIN: i64 = 60_000;

fn job() -> JobId {
    JobId::new(1_700_000_000_000, 7)
}

fn planned(backend: &str, instance_type: &str, usd_per_hour: f64, spot: bool) -> PlannedOffer {
    PlannedOffer {
        category: None,
        backend: backend.into(),
        offer: OfferRef {
            instance_type: instance_type.into(),
            region: "US".into(),
            gpu_count: 1,
            spot,
            expected_price_per_hour: usd_per_hour,
            max_price_per_hour: None,
            tier: None,
            vcpus: None,
        },
        source: "catalog 2025-01-01".into(),
        egress: None,
    }
}

/// The plan the tests use unless they say otherwise: cheapest first.
fn plan() -> Vec<PlannedOffer> {
    vec![
        planned("runpod", "NVIDIA H100 80GB HBM3", 2.49, false),
        planned("lambda", "gpu_1x_h100_sxm5", 2.99, false),
        planned("vastai", "H100 SXM", 3.10, false),
    ]
}

fn offer_json(plan_index: usize, round: u32, p: &PlannedOffer) -> serde_json::Value {
    serde_json::to_value(AttemptOffer {
        plan_index,
        round,
        planned: p.clone(),
    })
    .unwrap()
}

/// An attempt of `job()` on the plan's first offer, in `step`, with nothing happened yet.
fn attempt(n: u32, step: AttemptStep) -> Attempt {
    let p = &plan()[0];
    Attempt {
        job_id: job(),
        attempt: n,
        backend: p.backend.clone(),
        offer: offer_json(0, 0, p),
        lease: format!("ferry-0123abcd-{}-a{n}", job()),
        step,
        instance_id: None,
        endpoint: None,
        price_per_hour: Micros(2_490_000),
        storage_per_hour: Micros::ZERO,
        quote: None,
        created_at_ms: T0,
        create_sent_at_ms: None,
        ready_at_ms: None,
        job_started_at_ms: None,
        job_ended_at_ms: None,
        terminate_sent_at_ms: None,
        gone_at_ms: None,
        cause: None,
        error: None,
        provider_charge: None,
        updated_at_ms: T0,
    }
}

/// An attempt on `plan()[plan_index]` in `round`, ended by `cause` at `ended_ms`.
fn ended(n: u32, plan_index: usize, round: u32, cause: EndCause, ended_ms: i64) -> Attempt {
    let p = &plan()[plan_index];
    Attempt {
        backend: p.backend.clone(),
        offer: offer_json(plan_index, round, p),
        step: AttemptStep::Ended,
        cause: Some(cause),
        gone_at_ms: Some(ended_ms),
        updated_at_ms: ended_ms,
        ..attempt(n, AttemptStep::Ended)
    }
}

/// An attempt past its create: the instance `i-1` was asked for at T0 + 1 s.
fn made(step: AttemptStep) -> Attempt {
    Attempt {
        instance_id: Some("i-1".into()),
        create_sent_at_ms: Some(T0 + 1_000),
        ..attempt(1, step)
    }
}

fn endpoint() -> Endpoint {
    Endpoint {
        host: "203.0.113.7".into(),
        port: 22022,
        user: "root".into(),
    }
}

fn inst(state: InstanceState, endpoint: Option<Endpoint>) -> Instance {
    Instance {
        id: InstanceId("i-1".into()),
        name: attempt(1, AttemptStep::Creating).lease,
        state,
        endpoint,
        status_text: format!("{state:?}").to_uppercase(),
        price_per_hour: Some(2.49),
        interruptible: false,
    }
}

fn listed(i: Option<&Instance>) -> Seen<'_> {
    Seen {
        listed: true,
        instance: i,
    }
}

const UNLISTED: Seen<'static> = Seen {
    listed: false,
    instance: None,
};

fn t() -> Timeouts {
    Timeouts {
        provision: Duration::from_secs(20 * 60),
        ssh: Duration::from_secs(10 * 60),
    }
}

fn on_demand(a: &Attempt, seen: Seen, now: i64) -> Action {
    decide(a, false, seen, now, &t())
}

const MACHINE_STEPS: [AttemptStep; 3] = [
    AttemptStep::Provisioning,
    AttemptStep::Connecting,
    AttemptStep::Running,
];

const STATES: [InstanceState; 5] = [
    InstanceState::Provisioning,
    InstanceState::Running,
    InstanceState::Stopped,
    InstanceState::Terminating,
    InstanceState::Terminated,
];

// ---------------------------------------------------------------------------------------
// decide
// ---------------------------------------------------------------------------------------

#[test]
fn default_timeouts_are_twenty_and_ten_minutes() {
    assert_eq!(Timeouts::default(), t());
}

#[test]
fn the_offer_is_read_back_from_the_attempt() {
    let a = ended(3, 2, 1, EndCause::NotReady, T0);
    let o = AttemptOffer::of(&a).unwrap();
    assert_eq!((o.plan_index, o.round), (2, 1));
    assert_eq!(o.planned, plan()[2]);
    let odd = Attempt {
        offer: serde_json::json!({"not": "an offer"}),
        ..a
    };
    assert_eq!(AttemptOffer::of(&odd), None);
}

#[test]
fn quoting_quotes_then_creates_whatever_the_listing() {
    let a = attempt(1, AttemptStep::Quoting);
    let i = inst(InstanceState::Running, Some(endpoint()));
    for seen in [UNLISTED, listed(None), listed(Some(&i))] {
        assert_eq!(on_demand(&a, seen, T0), Action::QuoteAndCreate);
    }
}

#[test]
fn creating_adopts_what_carries_its_name_and_creates_only_when_nothing_does() {
    let a = Attempt {
        create_sent_at_ms: Some(T0),
        ..attempt(1, AttemptStep::Creating)
    };
    // Listing failed: the create may have happened; nothing is sent again.
    assert_eq!(on_demand(&a, UNLISTED, T0 + MIN), Action::Wait);
    // Found by its lease name: adopted, in any state.
    for s in STATES {
        let i = inst(s, None);
        assert_eq!(
            on_demand(&a, listed(Some(&i)), T0 + MIN),
            Action::Adopt { id: "i-1".into() },
            "{s:?}"
        );
    }
    // Listed and not there moments after the create: given time to show up.
    assert_eq!(on_demand(&a, listed(None), T0 + 10_000), Action::Wait);
    // Listed and still not there: the create never landed; send it (again).
    assert_eq!(on_demand(&a, listed(None), T0 + MIN), Action::Create);
    // However long ago: a creating attempt has no timeout of its own.
    assert_eq!(
        on_demand(&a, listed(None), T0 + 10 * 24 * 60 * MIN),
        Action::Create
    );
}

#[test]
fn provisioning_is_ready_once_running_with_an_address() {
    let a = made(AttemptStep::Provisioning);
    let ready = inst(InstanceState::Running, Some(endpoint()));
    assert_eq!(
        on_demand(&a, listed(Some(&ready)), T0 + MIN),
        Action::Ready {
            endpoint: endpoint()
        }
    );
    // Still ready past the timeout: what the listing shows wins over the clock.
    assert_eq!(
        on_demand(&a, listed(Some(&ready)), T0 + 60 * MIN),
        Action::Ready {
            endpoint: endpoint()
        }
    );
    // Running without an address yet, or still provisioning: wait.
    let no_address = inst(InstanceState::Running, None);
    let booting = inst(InstanceState::Provisioning, Some(endpoint()));
    let tearing = inst(InstanceState::Terminating, Some(endpoint()));
    for i in [&no_address, &booting, &tearing] {
        assert_eq!(on_demand(&a, listed(Some(i)), T0 + MIN), Action::Wait);
    }
}

#[test]
fn a_stopped_machine_is_a_preemption_on_spot_and_a_lost_node_on_demand() {
    let stopped = Instance {
        status_text: "EXITED".into(),
        ..inst(InstanceState::Stopped, Some(endpoint()))
    };
    for step in MACHINE_STEPS {
        let a = made(step);
        match decide(&a, true, listed(Some(&stopped)), T0 + MIN, &t()) {
            Action::Stop { cause, why } => {
                assert_eq!(cause, EndCause::Preempted, "{step}");
                assert!(why.contains("EXITED"), "{why}");
            }
            other => panic!("{step}: {other:?}"),
        }
        match decide(&a, false, listed(Some(&stopped)), T0 + MIN, &t()) {
            Action::Stop { cause, .. } => assert_eq!(cause, EndCause::NodeLost, "{step}"),
            other => panic!("{step}: {other:?}"),
        }
    }
}

#[test]
fn a_vanished_machine_is_lost_with_the_cause_its_kind_implies() {
    let terminated = inst(InstanceState::Terminated, None);
    for step in MACHINE_STEPS {
        let a = made(step);
        for seen in [listed(None), listed(Some(&terminated))] {
            assert_eq!(
                decide(&a, true, seen, T0 + MIN, &t()),
                Action::Lost {
                    cause: EndCause::Preempted
                },
                "{step}"
            );
            assert_eq!(
                decide(&a, false, seen, T0 + MIN, &t()),
                Action::Lost {
                    cause: EndCause::NodeLost
                },
                "{step}"
            );
        }
    }
}

#[test]
fn a_failed_listing_within_the_timeouts_never_loses_stops_or_settles_a_machine() {
    for step in MACHINE_STEPS {
        let a = Attempt {
            ready_at_ms: Some(T0 + MIN),
            ..made(step)
        };
        for spot in [false, true] {
            let got = decide(&a, spot, UNLISTED, T0 + 2 * MIN, &t());
            let want = match step {
                AttemptStep::Provisioning => Action::Wait,
                AttemptStep::Connecting => Action::Connect,
                _ => Action::Follow,
            };
            assert_eq!(got, want, "{step}");
        }
    }
    let a = made(AttemptStep::Terminating);
    assert_eq!(on_demand(&a, UNLISTED, T0 + MIN), Action::Wait);
    assert_eq!(
        on_demand(&attempt(1, AttemptStep::Ended), UNLISTED, T0),
        Action::Wait
    );
}

#[test]
fn provisioning_gives_up_only_after_its_timeout_from_the_create() {
    let a = made(AttemptStep::Provisioning);
    let sent = a.create_sent_at_ms.unwrap();
    let limit = t().provision.as_millis() as i64;
    let booting = inst(InstanceState::Provisioning, None);
    for seen in [listed(Some(&booting)), UNLISTED] {
        assert_eq!(on_demand(&a, seen, sent + limit - 1), Action::Wait);
        assert_eq!(on_demand(&a, seen, sent + limit), Action::Wait);
        match on_demand(&a, seen, sent + limit + 1) {
            Action::Stop { cause, why } => {
                assert_eq!(cause, EndCause::NotReady);
                assert!(why.contains("1200 s"), "{why}");
            }
            other => panic!("{other:?}"),
        }
    }
    // Without a recorded create, the attempt's own creation is the start.
    let unsent = Attempt {
        create_sent_at_ms: None,
        ..a
    };
    assert_eq!(
        on_demand(&unsent, listed(Some(&booting)), T0 + limit),
        Action::Wait
    );
    assert!(matches!(
        on_demand(&unsent, listed(Some(&booting)), T0 + limit + 1),
        Action::Stop {
            cause: EndCause::NotReady,
            ..
        }
    ));
}

#[test]
fn connecting_gives_up_only_after_the_ssh_timeout_from_ready() {
    let ready_at = T0 + 5 * MIN;
    let a = Attempt {
        ready_at_ms: Some(ready_at),
        ..made(AttemptStep::Connecting)
    };
    let running = inst(InstanceState::Running, Some(endpoint()));
    let limit = t().ssh.as_millis() as i64;
    for seen in [listed(Some(&running)), UNLISTED] {
        assert_eq!(on_demand(&a, seen, ready_at + 1), Action::Connect);
        assert_eq!(on_demand(&a, seen, ready_at + limit), Action::Connect);
        match on_demand(&a, seen, ready_at + limit + 1) {
            Action::Stop { cause, why } => {
                assert_eq!(cause, EndCause::NotReady);
                assert!(why.contains("SSH") && why.contains("600 s"), "{why}");
            }
            other => panic!("{other:?}"),
        }
    }
}

#[test]
fn running_follows_the_job_however_long_it_takes() {
    let a = Attempt {
        ready_at_ms: Some(T0 + MIN),
        job_started_at_ms: Some(T0 + 2 * MIN),
        ..made(AttemptStep::Running)
    };
    let running = inst(InstanceState::Running, Some(endpoint()));
    for now in [T0 + 3 * MIN, T0 + 30 * 24 * 60 * MIN] {
        assert_eq!(on_demand(&a, listed(Some(&running)), now), Action::Follow);
        assert_eq!(on_demand(&a, UNLISTED, now), Action::Follow);
    }
}

#[test]
fn terminating_terminates_until_a_listing_shows_it_gone() {
    let a = Attempt {
        cause: Some(EndCause::Exited { code: 0 }),
        terminate_sent_at_ms: Some(T0 + MIN),
        ..made(AttemptStep::Terminating)
    };
    for s in [
        InstanceState::Provisioning,
        InstanceState::Running,
        InstanceState::Stopped,
        InstanceState::Terminating,
    ] {
        let i = inst(s, None);
        assert_eq!(
            on_demand(&a, listed(Some(&i)), T0 + 2 * MIN),
            Action::Terminate { id: "i-1".into() },
            "{s:?}"
        );
    }
    let gone = inst(InstanceState::Terminated, None);
    assert_eq!(
        on_demand(&a, listed(Some(&gone)), T0 + 2 * MIN),
        Action::Gone
    );
    assert_eq!(on_demand(&a, listed(None), T0 + 2 * MIN), Action::Gone);
    assert_eq!(on_demand(&a, UNLISTED, T0 + 2 * MIN), Action::Wait);
}

#[test]
fn terminating_an_attempt_without_an_id_uses_the_one_found_by_name() {
    // Ended before its create's answer came: the listing found it by the lease name.
    let a = Attempt {
        instance_id: None,
        create_sent_at_ms: Some(T0),
        cause: Some(EndCause::Cancelled),
        ..attempt(1, AttemptStep::Terminating)
    };
    let i = Instance {
        id: InstanceId("pod-42".into()),
        ..inst(InstanceState::Provisioning, None)
    };
    assert_eq!(
        on_demand(&a, listed(Some(&i)), T0 + MIN),
        Action::Terminate {
            id: "pod-42".into()
        }
    );
}

#[test]
fn an_ended_attempt_is_left_alone() {
    let a = made(AttemptStep::Ended);
    let i = inst(InstanceState::Running, Some(endpoint()));
    for seen in [UNLISTED, listed(None), listed(Some(&i))] {
        assert_eq!(on_demand(&a, seen, T0 + 90 * MIN), Action::Wait);
    }
}

fn any_step() -> impl Strategy<Value = AttemptStep> {
    prop::sample::select(AttemptStep::ALL.to_vec())
}

fn any_state() -> impl Strategy<Value = InstanceState> {
    prop::sample::select(STATES.to_vec())
}

fn any_time() -> impl Strategy<Value = Option<i64>> {
    prop::option::of(T0..T0 + 2 * 60 * MIN)
}

prop_compose! {
    fn any_attempt()(
        step in any_step(),
        has_id in any::<bool>(),
        create_sent in any_time(),
        ready in any_time(),
        started in any_time(),
        ended in any_time(),
    ) -> Attempt {
        Attempt {
            instance_id: has_id.then(|| "i-1".to_string()),
            create_sent_at_ms: create_sent,
            ready_at_ms: ready,
            job_started_at_ms: started,
            job_ended_at_ms: ended,
            ..attempt(1, step)
        }
    }
}

prop_compose! {
    /// What a listing may hold for the attempt (whether or not the listing succeeded: a
    /// caller that passes an instance with a failed listing must still be safe).
    fn any_instance()(
        state in any_state(),
        with_endpoint in any::<bool>(),
    ) -> Instance {
        inst(state, with_endpoint.then(endpoint))
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2_000))]

    #[test]
    fn decide_never_goes_back_never_settles_blind_never_loses_blind(
        a in any_attempt(),
        spot in any::<bool>(),
        is_listed in any::<bool>(),
        i in prop::option::of(any_instance()),
        now in T0..T0 + 3 * 60 * MIN,
        provision_s in 1u64..3_600,
        ssh_s in 1u64..3_600,
    ) {
        let timeouts = Timeouts {
            provision: Duration::from_secs(provision_s),
            ssh: Duration::from_secs(ssh_s),
        };
        let seen = Seen { listed: is_listed, instance: i.as_ref() };
        let act = decide(&a, spot, seen, now, &timeouts);
        // Nothing is created for a step past creating.
        if a.step > AttemptStep::Creating {
            prop_assert!(!matches!(act, Action::Create | Action::QuoteAndCreate), "{} -> {act:?}", a.step);
        }
        // Only a quoting attempt quotes; only a creating one creates or adopts.
        prop_assert_eq!(matches!(act, Action::QuoteAndCreate), a.step == AttemptStep::Quoting);
        if matches!(act, Action::Create | Action::Adopt { .. }) {
            prop_assert_eq!(a.step, AttemptStep::Creating);
            prop_assert!(is_listed);
        }
        // Settled only when terminating and a listing showed it gone.
        if act == Action::Gone {
            prop_assert_eq!(a.step, AttemptStep::Terminating);
            prop_assert!(is_listed);
            prop_assert!(i.as_ref().is_none_or(|i| i.state == InstanceState::Terminated));
        }
        if let Action::Terminate { id } = &act {
            prop_assert_eq!(a.step, AttemptStep::Terminating);
            prop_assert!(is_listed);
            prop_assert_eq!(id.as_str(), "i-1");
        }
        // A failed listing is no evidence of anything.
        if !is_listed {
            prop_assert!(
                !matches!(act, Action::Create | Action::Lost { .. } | Action::Gone | Action::Adopt { .. } | Action::Terminate { .. }),
                "unlisted {} -> {act:?}", a.step
            );
        }
        if let Action::Lost { cause } = &act {
            prop_assert!(MACHINE_STEPS.contains(&a.step));
            prop_assert_eq!(cause, &if spot { EndCause::Preempted } else { EndCause::NodeLost });
        }
        if let Action::Ready { endpoint: e } = &act {
            prop_assert_eq!(a.step, AttemptStep::Provisioning);
            prop_assert_eq!(e, &endpoint());
        }
        if act == Action::Connect {
            prop_assert_eq!(a.step, AttemptStep::Connecting);
        }
        if act == Action::Follow {
            prop_assert_eq!(a.step, AttemptStep::Running);
        }
        if let Action::Stop { cause, .. } = &act {
            prop_assert!(MACHINE_STEPS.contains(&a.step));
            if *cause == EndCause::NotReady {
                // Only after the timeout of the wait it is in.
                let (from, limit) = match a.step {
                    AttemptStep::Provisioning => (a.create_sent_at_ms, timeouts.provision),
                    AttemptStep::Connecting => (a.ready_at_ms, timeouts.ssh),
                    other => return Err(TestCaseError::fail(format!("NotReady in {other}"))),
                };
                prop_assert!(now - from.unwrap_or(a.created_at_ms) > limit.as_millis() as i64);
            } else {
                // Otherwise the provider stopped it.
                prop_assert_eq!(i.as_ref().map(|i| i.state), Some(InstanceState::Stopped));
            }
        }
        // An ended attempt is done with.
        if a.step == AttemptStep::Ended {
            prop_assert_eq!(act, Action::Wait);
        }
    }
}

// ---------------------------------------------------------------------------------------
// next_offer
// ---------------------------------------------------------------------------------------

fn all(_: &str) -> bool {
    true
}

fn no_capacity() -> EndCause {
    EndCause::NotCreated {
        kind: "no-capacity".into(),
    }
}

fn with_error(mut a: Attempt, e: &str) -> Attempt {
    a.error = Some(e.into());
    a
}

#[test]
fn a_new_job_gets_the_plans_first_offer() {
    assert_eq!(
        next_offer(&plan(), &[], &all, true, None, T0),
        Choice::Offer {
            plan_index: 0,
            round: 0
        }
    );
}

#[test]
fn a_failed_placement_fails_over_to_the_next_offer() {
    let one = [ended(1, 0, 0, no_capacity(), T0)];
    assert_eq!(
        next_offer(&plan(), &one, &all, true, None, T0 + MIN),
        Choice::Offer {
            plan_index: 1,
            round: 0
        }
    );
    let two = [
        ended(1, 0, 0, no_capacity(), T0),
        ended(2, 1, 0, EndCause::NotReady, T0 + MIN),
    ];
    assert_eq!(
        next_offer(&plan(), &two, &all, true, None, T0 + 2 * MIN),
        Choice::Offer {
            plan_index: 2,
            round: 0
        }
    );
    // Failed out of order (a later offer first): the earliest open one is next.
    let skipped = [ended(1, 1, 0, no_capacity(), T0)];
    assert_eq!(
        next_offer(&plan(), &skipped, &all, true, None, T0 + MIN),
        Choice::Offer {
            plan_index: 0,
            round: 0
        }
    );
}

#[test]
fn failures_of_an_earlier_round_do_not_count_in_this_one() {
    let attempts = [
        ended(1, 0, 0, no_capacity(), T0),
        ended(2, 1, 0, no_capacity(), T0),
        ended(3, 2, 0, no_capacity(), T0),
        ended(4, 0, 1, no_capacity(), T0 + MIN),
    ];
    assert_eq!(
        next_offer(&plan(), &attempts, &all, true, None, T0 + 2 * MIN),
        Choice::Offer {
            plan_index: 1,
            round: 1
        }
    );
}

#[test]
fn a_restart_starts_the_plan_afresh() {
    // Offer 0 failed, offer 1 ran and was preempted: the job starts again from offer 0.
    let attempts = [
        ended(1, 0, 0, no_capacity(), T0),
        ended(2, 1, 0, EndCause::Preempted, T0 + MIN),
    ];
    assert_eq!(
        next_offer(&plan(), &attempts, &all, true, None, T0 + 2 * MIN),
        Choice::Offer {
            plan_index: 0,
            round: 0
        }
    );
    // A lost node too; failures after it count again.
    let attempts = [
        ended(1, 0, 0, no_capacity(), T0),
        ended(2, 1, 0, EndCause::NodeLost, T0 + MIN),
        ended(3, 0, 0, no_capacity(), T0 + 2 * MIN),
    ];
    assert_eq!(
        next_offer(&plan(), &attempts, &all, true, None, T0 + 3 * MIN),
        Choice::Offer {
            plan_index: 1,
            round: 0
        }
    );
}

#[test]
fn offers_on_backends_this_server_lacks_are_skipped() {
    let no_runpod = |b: &str| b != "runpod";
    assert_eq!(
        next_offer(&plan(), &[], &no_runpod, true, None, T0),
        Choice::Offer {
            plan_index: 1,
            round: 0
        }
    );
    let only_vast = |b: &str| b == "vastai";
    assert_eq!(
        next_offer(&plan(), &[], &only_vast, true, None, T0),
        Choice::Offer {
            plan_index: 2,
            round: 0
        }
    );
    match next_offer(&plan(), &[], &|_: &str| false, true, None, T0) {
        Choice::Exhausted(why) => {
            for p in plan() {
                assert!(
                    why.contains(&format!(
                        "{} {}: backend {} not configured",
                        p.backend, p.offer.instance_type, p.backend
                    )),
                    "{why}"
                );
            }
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn exhausted_lists_every_offer_with_its_error() {
    let attempts = [
        with_error(
            ended(1, 0, 0, no_capacity(), T0),
            "no GPUs of this type left (no-capacity)",
        ),
        // No error recorded: the cause is described instead.
        ended(2, 1, 0, EndCause::NotReady, T0 + MIN),
    ];
    let no_vast = |b: &str| b != "vastai";
    match next_offer(&plan(), &attempts, &no_vast, true, None, T0 + 2 * MIN) {
        Choice::Exhausted(why) => {
            assert!(
                why.starts_with("no offer of the plan could be had: "),
                "{why}"
            );
            assert!(
                why.contains(
                    "runpod NVIDIA H100 80GB HBM3: no GPUs of this type left (no-capacity)"
                ),
                "{why}"
            );
            assert!(
                why.contains(&format!(
                    "lambda gpu_1x_h100_sxm5: {}",
                    EndCause::NotReady.describe()
                )),
                "{why}"
            );
            assert!(
                why.contains("vastai H100 SXM: backend vastai not configured"),
                "{why}"
            );
            assert_eq!(why.matches("; ").count(), 2, "{why}");
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn causes_that_are_not_placement_failures_do_not_use_up_offers() {
    // An auth refusal finishes the job elsewhere (job_move); it is no failover here.
    let attempts = [ended(
        1,
        0,
        0,
        EndCause::NotCreated {
            kind: "auth".into(),
        },
        T0,
    )];
    assert_eq!(
        next_offer(&plan(), &attempts, &all, true, None, T0 + MIN),
        Choice::Offer {
            plan_index: 0,
            round: 0
        }
    );
}

fn all_failed(round: u32, at: i64) -> Vec<Attempt> {
    (0..3)
        .map(|i| ended(i as u32 + 1, i, round, no_capacity(), at))
        .collect()
}

#[test]
fn retry_until_up_waits_then_starts_a_new_round_until_the_limit() {
    let last = T0 + 10 * MIN;
    let attempts = all_failed(0, last);
    let limit = Some(T0 + 60 * MIN);
    let pause = RETRY_ROUND_PAUSE.as_millis() as i64;
    assert_eq!(
        next_offer(&plan(), &attempts, &all, true, limit, last),
        Choice::WaitForRound
    );
    assert_eq!(
        next_offer(&plan(), &attempts, &all, true, limit, last + pause - 1),
        Choice::WaitForRound
    );
    assert_eq!(
        next_offer(&plan(), &attempts, &all, true, limit, last + pause),
        Choice::Offer {
            plan_index: 0,
            round: 1
        }
    );
    // The pause runs from the last attempt's end, whichever it is.
    let mut later = attempts.clone();
    later[0].gone_at_ms = Some(last + MIN);
    assert_eq!(
        next_offer(&plan(), &later, &all, true, limit, last + pause),
        Choice::WaitForRound
    );
    // Past the limit: the job fails, with every offer's reason.
    for now in [T0 + 60 * MIN, T0 + 61 * MIN] {
        match next_offer(&plan(), &attempts, &all, true, limit, now) {
            Choice::Exhausted(why) => {
                assert_eq!(why.matches("not created (no-capacity)").count(), 3)
            }
            other => panic!("{other:?}"),
        }
    }
    // Without --retry-until-up: exhausted at once.
    assert!(matches!(
        next_offer(&plan(), &attempts, &all, true, None, last + pause),
        Choice::Exhausted(_)
    ));
}

#[test]
fn retry_until_up_goes_on_round_after_round() {
    let mut attempts = all_failed(0, T0);
    attempts.extend(all_failed(1, T0 + MIN).into_iter().map(|mut a| {
        a.attempt += 3;
        a
    }));
    assert_eq!(
        next_offer(
            &plan(),
            &attempts,
            &all,
            true,
            Some(T0 + 60 * MIN),
            T0 + 2 * MIN
        ),
        Choice::Offer {
            plan_index: 0,
            round: 2
        }
    );
}

#[test]
fn retry_until_up_never_waits_on_a_plan_it_cannot_use() {
    // Nothing failed (no backend at all): there is nothing to wait for.
    assert!(matches!(
        next_offer(
            &plan(),
            &[],
            &|_: &str| false,
            true,
            Some(T0 + 60 * MIN),
            T0
        ),
        Choice::Exhausted(_)
    ));
}

#[test]
fn a_new_round_starts_on_the_first_offer_this_server_can_rent() {
    // The first offer's backend is not configured here: round 0 began on offer 1, and a
    // new round must too (an attempt on an unconfigured backend is never stepped).
    let no_runpod = |b: &str| b != "runpod";
    let attempts = [
        ended(1, 1, 0, no_capacity(), T0),
        ended(2, 2, 0, no_capacity(), T0),
    ];
    assert_eq!(
        next_offer(
            &plan(),
            &attempts,
            &no_runpod,
            true,
            Some(T0 + 60 * MIN),
            T0 + MIN
        ),
        Choice::Offer {
            plan_index: 1,
            round: 1
        }
    );
    // And none left that it can rent: the job fails rather than waiting forever.
    let attempts = [ended(1, 0, 0, no_capacity(), T0)];
    assert!(matches!(
        next_offer(
            &plan(),
            &attempts,
            &|_: &str| false,
            true,
            Some(T0 + 60 * MIN),
            T0 + MIN
        ),
        Choice::Exhausted(_)
    ));
}

fn any_cause() -> impl Strategy<Value = EndCause> {
    prop_oneof![
        Just(no_capacity()),
        Just(EndCause::NotCreated {
            kind: "quota".into()
        }),
        Just(EndCause::NotCreated {
            kind: "auth".into()
        }),
        Just(EndCause::NotReady),
        Just(EndCause::Preempted),
        Just(EndCause::NodeLost),
        Just(EndCause::Exited { code: 0 }),
    ]
}

const BACKENDS: [&str; 3] = ["runpod", "lambda", "vastai"];

prop_compose! {
    fn any_plan()(backends in prop::collection::vec(0usize..3, 1..6)) -> Vec<PlannedOffer> {
        backends
            .iter()
            .enumerate()
            .map(|(i, b)| planned(BACKENDS[*b], &format!("type-{i}"), 1.0 + i as f64, false))
            .collect()
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1_000))]

    #[test]
    fn next_offer_only_offers_what_can_be_tried(
        plan in any_plan(),
        configured in prop::collection::vec(any::<bool>(), 3),
        history in prop::collection::vec((0usize..6, 0u32..3, any_cause(), 0i64..10 * MIN), 0..10),
        retry in prop::option::of(0i64..20 * MIN),
        now in 0i64..20 * MIN,
    ) {
        let has = |b: &str| BACKENDS.iter().position(|x| *x == b).is_some_and(|i| configured[i]);
        // Rounds only grow along a job's attempts.
        let mut round = 0;
        let attempts: Vec<Attempt> = history
            .iter()
            .enumerate()
            .map(|(n, (i, r, cause, at))| {
                round = round.max(*r);
                let i = i % plan.len();
                Attempt {
                    backend: plan[i].backend.clone(),
                    offer: offer_json(i, round, &plan[i]),
                    step: AttemptStep::Ended,
                    cause: Some(cause.clone()),
                    gone_at_ms: Some(T0 + at),
                    updated_at_ms: T0 + at,
                    ..attempt(n as u32 + 1, AttemptStep::Ended)
                }
            })
            .collect();
        let retry_until = retry.map(|r| T0 + r);
        let since_restart = attempts
            .iter()
            .rposition(|a| a.cause.as_ref().is_some_and(|c| c.next_move() == NextMove::Restart))
            .map_or(0, |i| i + 1);
        let failed_in = |r: u32, i: usize| {
            attempts[since_restart..].iter().any(|a| {
                let o = AttemptOffer::of(a).unwrap();
                o.round == r
                    && o.plan_index == i
                    && a.cause.as_ref().unwrap().next_move() == NextMove::FailOver
            })
        };
        match next_offer(&plan, &attempts, &has, true, retry_until, T0 + now) {
            Choice::Offer { plan_index, round: r } => {
                prop_assert!(plan_index < plan.len());
                prop_assert!(has(&plan[plan_index].backend), "offered {plan_index} on an unconfigured backend");
                prop_assert!(r == round || r == round + 1);
                if r == round {
                    prop_assert!(!failed_in(r, plan_index));
                    // The first such offer.
                    for (j, p) in plan.iter().enumerate().take(plan_index) {
                        prop_assert!(failed_in(r, j) || !has(&p.backend));
                    }
                } else {
                    prop_assert!(retry_until.is_some_and(|u| T0 + now < u));
                }
            }
            Choice::WaitForRound => {
                prop_assert!(retry_until.is_some_and(|u| T0 + now < u));
                prop_assert!(plan.iter().any(|p| has(&p.backend)));
            }
            Choice::Exhausted(why) => {
                for (i, p) in plan.iter().enumerate() {
                    prop_assert!(failed_in(round, i) || !has(&p.backend));
                    prop_assert!(why.contains(&format!("{} {}: ", p.backend, p.offer.instance_type)), "{why}");
                }
            }
        }
    }
}

// ---------------------------------------------------------------------------------------
// charges
// ---------------------------------------------------------------------------------------

const LAMBDA: Billing = Billing {
    increment_s: 60,
    minimum_s: 0,
};

/// A machine created at T0, ready a minute later, the job from 2 to 32 minutes.
fn finished_run(price: Micros) -> Attempt {
    Attempt {
        instance_id: Some("i-1".into()),
        price_per_hour: price,
        create_sent_at_ms: Some(T0),
        ready_at_ms: Some(T0 + MIN),
        job_started_at_ms: Some(T0 + 2 * MIN),
        job_ended_at_ms: Some(T0 + 32 * MIN),
        cause: Some(EndCause::Exited { code: 0 }),
        ..attempt(2, AttemptStep::Terminating)
    }
}

fn amounts(entries: &[LedgerEntry]) -> (Micros, Micros) {
    assert_eq!(entries.len(), 2, "{entries:?}");
    assert_eq!(entries[0].kind, COMPUTE);
    assert_eq!(entries[1].kind, OVERHEAD);
    (entries[0].amount, entries[1].amount)
}

#[test]
fn nothing_is_charged_for_a_machine_never_made() {
    let price = Micros(3_600_000);
    let a = finished_run(price);
    let no_id = Attempt {
        instance_id: None,
        ..a.clone()
    };
    assert_eq!(charges(&no_id, T0 + 40 * MIN, Billing::PER_SECOND), vec![]);
    let never_sent = Attempt {
        create_sent_at_ms: None,
        ..a.clone()
    };
    assert_eq!(
        charges(&never_sent, T0 + 40 * MIN, Billing::PER_SECOND),
        vec![]
    );
    let quoted = attempt(1, AttemptStep::Quoting);
    assert_eq!(charges(&quoted, T0 + 40 * MIN, LAMBDA), vec![]);
}

#[test]
fn the_machines_whole_life_is_charged_split_into_run_and_overhead() {
    // $3.60/h is $0.001 a second.
    let a = finished_run(Micros(3_600_000));
    let gone = T0 + 35 * MIN + 500; // 35 min 0.5 s: 2101 s billed per second
    let entries = charges(&a, gone, Billing::PER_SECOND);
    let (compute, overhead) = amounts(&entries);
    assert_eq!(compute, Micros(1_800_000)); // the job's 30 minutes
    assert_eq!(compute + overhead, Micros(2_101_000));
    assert_eq!(
        compute + overhead,
        Billing::PER_SECOND.charge(a.price_per_hour, gone - T0)
    );
    for e in &entries {
        assert_eq!(e.job_id, job());
        assert_eq!(e.attempt, 2);
        assert_eq!(e.at_ms, gone);
    }
    assert!(
        entries[0]
            .description
            .contains("runpod NVIDIA H100 80GB HBM3"),
        "{}",
        entries[0].description
    );
    assert!(
        entries[0].description.contains("0.5000 h"),
        "{}",
        entries[0].description
    );
    assert!(
        entries[1].description.contains("billed as 2101 s"),
        "{}",
        entries[1].description
    );
}

#[test]
fn per_minute_billing_rounds_the_life_up_to_whole_minutes() {
    let a = Attempt {
        job_started_at_ms: Some(T0 + 10_000),
        job_ended_at_ms: Some(T0 + 40_000),
        ..finished_run(Micros(3_600_000))
    };
    // 61 s of life: two minutes billed.
    let (compute, overhead) = amounts(&charges(&a, T0 + 61_000, LAMBDA));
    assert_eq!(compute, Micros(30_000));
    assert_eq!(compute + overhead, Micros(120_000));
    assert_eq!(overhead, Micros(90_000));
    // Exactly a minute: one.
    let (compute, overhead) = amounts(&charges(&a, T0 + 60_000, LAMBDA));
    assert_eq!(compute + overhead, Micros(60_000));
    // A minimum is charged even for a machine gone at once.
    let aws = Billing {
        increment_s: 1,
        minimum_s: 60,
    };
    let brief = Attempt {
        job_started_at_ms: None,
        job_ended_at_ms: None,
        ..a
    };
    let (compute, overhead) = amounts(&charges(&brief, T0 + 5_000, aws));
    assert_eq!((compute, overhead), (Micros(0), Micros(60_000)));
}

#[test]
fn the_run_never_exceeds_the_machines_life() {
    // Job times recorded beyond the machine's life (clock skew between hosts).
    let a = Attempt {
        job_started_at_ms: Some(T0 - 10 * MIN),
        job_ended_at_ms: Some(T0 + 90 * MIN),
        ..finished_run(Micros(2_490_000))
    };
    let gone = T0 + 20 * MIN;
    let (compute, overhead) = amounts(&charges(&a, gone, Billing::PER_SECOND));
    assert_eq!(
        compute + overhead,
        Billing::PER_SECOND.charge(a.price_per_hour, 20 * MIN)
    );
    assert!(compute.0 >= 0 && overhead.0 >= 0);
    // An end before the start counts as no run.
    let backwards = Attempt {
        job_started_at_ms: Some(T0 + 5 * MIN),
        job_ended_at_ms: Some(T0 + 4 * MIN),
        ..a.clone()
    };
    let (compute, _) = amounts(&charges(&backwards, gone, Billing::PER_SECOND));
    assert_eq!(compute, Micros(0));
    // Gone "before" the create (a skewed clock): the life is nothing, never negative.
    let (compute, overhead) = amounts(&charges(&a, T0 - MIN, Billing::PER_SECOND));
    assert_eq!((compute, overhead), (Micros(0), Micros(0)));
}

#[test]
fn a_job_that_never_ran_is_all_overhead() {
    let a = Attempt {
        job_started_at_ms: None,
        job_ended_at_ms: None,
        cause: Some(EndCause::NotReady),
        ..finished_run(Micros(3_600_000))
    };
    let (compute, overhead) = amounts(&charges(&a, T0 + 20 * MIN, Billing::PER_SECOND));
    assert_eq!(compute, Micros(0));
    assert_eq!(overhead, Micros(1_200_000));
}

#[test]
fn an_attempt_with_an_unreadable_offer_is_described_by_its_backend() {
    let a = Attempt {
        offer: serde_json::Value::Null,
        ..finished_run(Micros(3_600_000))
    };
    let entries = charges(&a, T0 + 40 * MIN, Billing::PER_SECOND);
    assert!(
        entries[0].description.contains("on runpod at"),
        "{}",
        entries[0].description
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2_000))]

    #[test]
    fn charges_split_the_billed_total_exactly(
        n in 1u32..20,
        price in 0i64..200_000_000,
        life in -MIN..72 * 60 * MIN,
        started in prop::option::of(-10 * MIN..72 * 60 * MIN),
        run in prop::option::of(-MIN..72 * 60 * MIN),
        increment_s in 1u32..3_600,
        minimum_s in 0u32..3_600,
    ) {
        let billing = Billing { increment_s, minimum_s };
        let start = T0 + 7;
        let a = Attempt {
            instance_id: Some("i-1".into()),
            price_per_hour: Micros(price),
            create_sent_at_ms: Some(start),
            job_started_at_ms: started.map(|s| start + s),
            job_ended_at_ms: started.zip(run).map(|(s, r)| start + s + r),
            ..attempt(n, AttemptStep::Terminating)
        };
        let gone = start + life;
        let entries = charges(&a, gone, billing);
        let (compute, overhead) = amounts(&entries);
        let total = billing.charge(Micros(price), life.max(0));
        prop_assert!(compute.0 >= 0, "compute {compute}");
        prop_assert!(overhead.0 >= 0, "overhead {overhead}");
        prop_assert_eq!(compute + overhead, total);
        prop_assert!(compute <= total);
        for e in &entries {
            prop_assert_eq!(e.attempt, n);
            prop_assert_eq!(&e.job_id, &job());
            prop_assert_eq!(e.at_ms, gone);
        }
    }
}

// ---------------------------------------------------------------------------------------
// job_move
// ---------------------------------------------------------------------------------------

fn finish_of(m: JobMove) -> (JobState, JobPatch, String) {
    match m {
        JobMove::Finish {
            state,
            patch,
            detail,
        } => (state, patch, detail),
        other => panic!("expected a finish, got {other:?}"),
    }
}

fn requeue_of(m: JobMove) -> String {
    match m {
        JobMove::Requeue { detail } => detail,
        other => panic!("expected a requeue, got {other:?}"),
    }
}

#[test]
fn exit_zero_succeeds_with_the_jobs_times_and_code() {
    let a = Attempt {
        gone_at_ms: Some(T0 + 40 * MIN),
        ..finished_run(Micros(2_490_000))
    };
    let a = Attempt { attempt: 1, ..a };
    let first = &plan()[0];
    let (state, patch, detail) = finish_of(job_move(
        &a,
        &EndCause::Exited { code: 0 },
        0,
        3,
        Some(first),
        T0 + 50 * MIN,
    ));
    assert_eq!(state, JobState::Succeeded);
    assert_eq!(patch.exit_code, Some(0));
    assert_eq!(patch.started_at_ms, Some(T0 + 2 * MIN));
    assert_eq!(patch.finished_at_ms, Some(T0 + 32 * MIN));
    assert_eq!(detail, "exit code 0");
    assert_eq!(patch.reason.as_deref(), Some("exit code 0"));
}

#[test]
fn a_failing_exit_fails_and_later_attempts_say_which() {
    let a = Attempt {
        attempt: 3,
        ..finished_run(Micros(2_490_000))
    };
    let (state, patch, detail) = finish_of(job_move(
        &a,
        &EndCause::Exited { code: 2 },
        2,
        3,
        None,
        T0 + 50 * MIN,
    ));
    assert_eq!(state, JobState::Failed);
    assert_eq!(patch.exit_code, Some(2));
    assert_eq!(detail, "exit code 2 (attempt 3)");
    for (cause, want) in [
        (EndCause::TimedOut, JobState::TimedOut),
        (EndCause::Cancelled, JobState::Cancelled),
        (EndCause::OutOfMemory, JobState::Failed),
        (EndCause::Signal { signal: 9 }, JobState::Failed),
        (EndCause::LaunchFailed, JobState::Failed),
    ] {
        let (state, patch, _) = finish_of(job_move(&a, &cause, 0, 3, None, T0 + 50 * MIN));
        assert_eq!(state, want, "{cause:?}");
        assert_eq!(patch.exit_code, None, "{cause:?}");
    }
}

#[test]
fn the_finish_time_falls_back_to_the_machines_end_then_now() {
    let a = Attempt {
        job_ended_at_ms: None,
        gone_at_ms: Some(T0 + 40 * MIN),
        ..finished_run(Micros(2_490_000))
    };
    let (_, patch, _) = finish_of(job_move(
        &a,
        &EndCause::Cancelled,
        0,
        3,
        None,
        T0 + 50 * MIN,
    ));
    assert_eq!(patch.finished_at_ms, Some(T0 + 40 * MIN));
    let a = Attempt {
        gone_at_ms: None,
        ..a
    };
    let (_, patch, _) = finish_of(job_move(
        &a,
        &EndCause::Cancelled,
        0,
        3,
        None,
        T0 + 50 * MIN,
    ));
    assert_eq!(patch.finished_at_ms, Some(T0 + 50 * MIN));
    // Never before the job started.
    let (_, patch, _) = finish_of(job_move(&a, &EndCause::Cancelled, 0, 3, None, T0));
    assert_eq!(patch.finished_at_ms, Some(T0 + 2 * MIN));
}

#[test]
fn a_preemption_requeues_while_restarts_are_left() {
    let a = finished_run(Micros(2_490_000));
    for cause in [EndCause::Preempted, EndCause::NodeLost] {
        let detail = requeue_of(job_move(&a, &cause, 0, 3, None, T0 + 50 * MIN));
        assert!(detail.contains("attempt 2"), "{detail}");
        assert!(detail.contains(&cause.describe()), "{detail}");
        assert!(detail.contains("restart 1 of at most 3"), "{detail}");
        let detail = requeue_of(job_move(&a, &cause, 2, 3, None, T0 + 50 * MIN));
        assert!(detail.contains("restart 3 of at most 3"), "{detail}");
    }
}

#[test]
fn a_preemption_without_restarts_left_fails_the_job_saying_why() {
    let a = finished_run(Micros(2_490_000));
    for (used, max) in [(3, 3), (0, 0), (5, 2)] {
        let (state, patch, detail) = finish_of(job_move(
            &a,
            &EndCause::Preempted,
            used,
            max,
            None,
            T0 + 50 * MIN,
        ));
        assert_eq!(state, JobState::Failed);
        assert_eq!(patch.exit_code, None);
        assert!(
            detail.contains(&format!("job_recovery.max_restarts = {max}")),
            "{detail}"
        );
        assert!(detail.contains("preempted"), "{detail}");
    }
}

#[test]
fn a_placement_failure_fails_over_and_an_auth_refusal_fails_the_job() {
    let a = with_error(
        Attempt {
            instance_id: None,
            ..attempt(1, AttemptStep::Quoting)
        },
        "no H100 left in US (no-capacity)",
    );
    let detail = requeue_of(job_move(&a, &no_capacity(), 0, 3, None, T0 + MIN));
    assert!(detail.contains("not created (no-capacity)"), "{detail}");
    assert!(detail.contains("no H100 left in US"), "{detail}");
    assert!(detail.contains("next offer of the plan"), "{detail}");
    let detail = requeue_of(job_move(
        &made(AttemptStep::Connecting),
        &EndCause::NotReady,
        0,
        3,
        None,
        T0 + MIN,
    ));
    assert!(detail.contains("next offer of the plan"), "{detail}");
    // A refused key is refused on every offer: the job fails now.
    let auth = EndCause::NotCreated {
        kind: "auth".into(),
    };
    let (state, patch, detail) = finish_of(job_move(&a, &auth, 0, 3, None, T0 + MIN));
    assert_eq!(state, JobState::Failed);
    assert_eq!(patch.finished_at_ms, Some(T0 + MIN));
    assert!(detail.contains("not created (auth)"), "{detail}");
}

#[test]
fn a_finish_on_a_later_offer_names_the_plans_first_choice() {
    let p = plan();
    let a = Attempt {
        attempt: 1,
        offer: offer_json(1, 0, &p[1]),
        backend: p[1].backend.clone(),
        price_per_hour: Micros(3_050_000),
        ..finished_run(Micros(0))
    };
    let (_, _, detail) = finish_of(job_move(
        &a,
        &EndCause::Exited { code: 0 },
        0,
        3,
        Some(&p[0]),
        T0 + 50 * MIN,
    ));
    assert_eq!(
        detail,
        "exit code 0; ran on lambda gpu_1x_h100_sxm5 at $3.0500/h, not the plan's first \
         choice runpod NVIDIA H100 80GB HBM3 at $2.4900/h"
    );
    // On the first choice itself, nothing to say.
    let first = Attempt {
        offer: offer_json(0, 0, &p[0]),
        ..a.clone()
    };
    let (_, _, detail) = finish_of(job_move(
        &first,
        &EndCause::Exited { code: 0 },
        0,
        3,
        Some(&p[0]),
        T0 + 50 * MIN,
    ));
    assert_eq!(detail, "exit code 0");
    // A failure on a later offer says so too.
    let (_, patch, detail) = finish_of(job_move(
        &Attempt { attempt: 4, ..a },
        &EndCause::Exited { code: 1 },
        0,
        3,
        Some(&p[0]),
        T0 + 50 * MIN,
    ));
    assert!(
        detail.contains("not the plan's first choice runpod"),
        "{detail}"
    );
    assert!(detail.ends_with("(attempt 4)"), "{detail}");
    assert_eq!(patch.reason.as_deref(), Some(detail.as_str()));
}

proptest! {
    #[test]
    fn job_move_follows_the_causes_next_move(
        cause in prop_oneof![
            any_cause(),
            (-3i32..256).prop_map(|code| EndCause::Exited { code }),
            Just(EndCause::TimedOut),
            Just(EndCause::Cancelled),
            Just(EndCause::LaunchFailed),
        ],
        used in 0u32..6,
        max in 0u32..6,
        plan_index in 0usize..3,
    ) {
        let p = plan();
        let a = Attempt {
            offer: offer_json(plan_index, 0, &p[plan_index]),
            ..finished_run(Micros(2_490_000))
        };
        let m = job_move(&a, &cause, used, max, Some(&p[0]), T0 + 50 * MIN);
        match (cause.next_move(), &m) {
            (NextMove::Finish(want), JobMove::Finish { state, patch, detail }) => {
                prop_assert_eq!(*state, want);
                prop_assert_eq!(patch.reason.as_deref(), Some(detail.as_str()));
                prop_assert_eq!(detail.contains("first choice"), plan_index > 0);
            }
            (NextMove::Restart, JobMove::Requeue { .. }) => prop_assert!(used < max),
            (NextMove::Restart, JobMove::Finish { state, .. }) => {
                prop_assert!(used >= max);
                prop_assert_eq!(*state, JobState::Failed);
            }
            (NextMove::FailOver, JobMove::Requeue { .. }) => {}
            (next, m) => prop_assert!(false, "{next:?} -> {m:?}"),
        }
        if let JobMove::Finish { patch, .. } = &m {
            prop_assert!(patch.finished_at_ms >= patch.started_at_ms);
        }
    }
}

#[test]
fn a_disk_billed_on_top_is_its_own_entry_for_the_machines_whole_life() {
    let mut a = attempt(1, AttemptStep::Terminating);
    a.instance_id = Some("i-1".into());
    a.create_sent_at_ms = Some(T0);
    a.job_started_at_ms = Some(T0 + 60_000);
    a.job_ended_at_ms = Some(T0 + 120_000);
    a.storage_per_hour = Micros(6_849); // 50 GB at $0.10 per GB-month
    let gone = T0 + 3_600_000;
    let c = charges(&a, gone, Billing::PER_SECOND);
    assert_eq!(c.len(), 3, "{c:?}");
    let storage = c.iter().find(|e| e.kind == "storage").unwrap();
    assert_eq!(storage.amount, Micros(6_849));
    assert_eq!(storage.attempt, 1);
    let compute_and_overhead: i64 = c
        .iter()
        .filter(|e| e.kind != "storage")
        .map(|e| e.amount.0)
        .sum();
    assert_eq!(
        Micros(compute_and_overhead),
        Billing::PER_SECOND.charge(a.price_per_hour, gone - T0)
    );
}

const HOUR: i64 = 3_600_000;

/// A `deadline-spot` job of 10 h due 14 h after T0, with a spot offer and its on-demand
/// fallback.
fn deadline_job() -> (JobPayload, Vec<PlannedOffer>) {
    let plan = vec![
        planned("aws", "p4d.24xlarge", 12.0, true),
        planned("aws", "p4d.24xlarge", 32.0, false),
    ];
    let payload = JobPayload {
        policy: PolicyKind::DeadlineSpot,
        deadline_ms: Some(T0 + 14 * HOUR),
        estimated_hours: Some(10.0),
        plan: plan.clone(),
        ..JobPayload::default()
    };
    (payload, plan)
}

/// An attempt on spot that ran the job from `from` to `to` (hours after T0).
fn ran(n: u32, from: i64, to: Option<i64>, cause: Option<EndCause>) -> Attempt {
    let (_, plan) = deadline_job();
    Attempt {
        offer: offer_json(0, 0, &plan[0]),
        step: if cause.is_some() {
            AttemptStep::Ended
        } else {
            AttemptStep::Running
        },
        job_started_at_ms: Some(T0 + from * HOUR),
        job_ended_at_ms: to.map(|t| T0 + t * HOUR),
        cause,
        ..attempt(n, AttemptStep::Running)
    }
}

#[test]
fn deadline_spot_counts_run_time_over_every_attempt_and_only_for_its_jobs() {
    let (payload, _) = deadline_job();
    let attempts = [
        ran(1, 0, Some(3), Some(EndCause::Preempted)),
        ran(2, 4, None, None),
    ];
    let s = standing(&payload, T0, &attempts, T0 + 6 * HOUR, 1_000).unwrap();
    assert_eq!(s.done_s, 5 * 3600, "3 h, then 2 h so far");
    assert_eq!((s.work_s, s.deadline_s - s.now_s), (10 * 3600, 8 * 3600));
    assert_eq!(s.changeover_s, crate::RENTAL_READY.as_secs() as i64);
    // Other policies, or no deadline or estimate: no standing, spot as planned.
    for p in [
        JobPayload {
            policy: PolicyKind::OwnedFirst,
            ..payload.clone()
        },
        JobPayload {
            deadline_ms: None,
            ..payload.clone()
        },
        JobPayload {
            estimated_hours: None,
            ..payload.clone()
        },
    ] {
        assert!(standing(&p, T0, &attempts, T0 + 6 * HOUR, 1_000).is_none());
        assert!(spot_allowed(None, &attempts));
        assert!(!leave_spot(None));
    }
}

#[test]
fn deadline_spot_stays_on_spot_while_on_demand_could_still_finish_and_moves_when_not() {
    let (payload, _) = deadline_job();
    let now = |h: f64| T0 + (h * HOUR as f64) as i64;
    // 8 h in, 7 h done: 3 h left of work, 6 h to the deadline: stays.
    let running = [ran(1, 1, None, None)];
    let s = standing(&payload, T0, &running, now(8.0), 1_000);
    assert!(!leave_spot(s));
    // 12 h in, 3 h done (it started late): 7 h of work, 2 h left: on-demand now.
    let late = [ran(1, 9, None, None)];
    let s = standing(&payload, T0, &late, now(12.0), 1_000);
    assert!(leave_spot(s));
    // The edge: running since `start`, at any time the slack left after an on-demand finish
    // is 14 h - 10 h - start; it moves once that is under the changeover (5 min) plus one
    // step (1 min).
    let since = |start_min: i64| {
        [Attempt {
            job_started_at_ms: Some(T0 + start_min * MIN),
            ..ran(1, 0, None, None)
        }]
    };
    let step = MIN;
    assert!(!leave_spot(standing(
        &payload,
        T0,
        &since(4 * 60 - 6),
        now(13.0),
        step
    )));
    assert!(leave_spot(standing(
        &payload,
        T0,
        &since(4 * 60 - 5),
        now(13.0),
        step
    )));
}

#[test]
fn after_a_preemption_deadline_spot_goes_on_demand_when_behind_the_line_and_stays_there() {
    let (payload, plan) = deadline_job();
    let all = |_: &str| true;
    // Preempted after 1 h of 5 h: the line expects 5 × 10/14 = 3.6 h done; behind: on-demand.
    let behind = [ran(1, 0, Some(1), Some(EndCause::Preempted))];
    let s = standing(&payload, T0, &behind, T0 + 5 * HOUR, 1_000);
    assert!(!spot_allowed(s, &behind));
    assert_eq!(
        next_offer(&plan, &behind, &all, false, None, T0 + 5 * HOUR),
        Choice::Offer {
            plan_index: 1,
            round: 0
        },
        "the on-demand fallback"
    );
    // Preempted after 4 h of 5 h: ahead of the line (3.6 h): spot again.
    let ahead = [ran(1, 0, Some(4), Some(EndCause::Preempted))];
    let s = standing(&payload, T0, &ahead, T0 + 5 * HOUR, 1_000);
    assert!(spot_allowed(s, &ahead));
    assert_eq!(
        next_offer(&plan, &ahead, &all, true, None, T0 + 5 * HOUR),
        Choice::Offer {
            plan_index: 0,
            round: 0
        }
    );
    // Moved to on-demand once: it never goes back to spot.
    let moved = [ran(1, 0, Some(4), Some(EndCause::MovedToOnDemand))];
    let s = standing(&payload, T0, &moved, T0 + 5 * HOUR, 1_000);
    assert!(!spot_allowed(s, &moved));
    assert_eq!(
        EndCause::MovedToOnDemand.next_move(),
        NextMove::FailOver,
        "its offer is done with; the next is tried"
    );
    // A plan of spot only has nothing left for it: the job fails with the reason.
    match next_offer(&plan[..1], &[], &all, false, None, T0) {
        Choice::Exhausted(why) => assert!(why.contains("deadline-spot needs on-demand"), "{why}"),
        other => panic!("{other:?}"),
    }
}
