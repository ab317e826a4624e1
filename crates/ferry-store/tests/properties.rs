//! Random operations against the store and against a plain model of it: the store must
//! agree with the model on every answer, and its event log and ledger must stay consistent.

mod common;

use ferry_job::{JobId, JobState, Micros};
use ferry_store::{EventKind, JobPatch, LedgerEntry, LedgerFilter, SqliteStore, Store, StoreError};
use proptest::prelude::*;
use std::collections::{BTreeMap, BTreeSet};

const JOBS: u32 = 4;
const KINDS: [&str; 2] = ["compute", "egress"];

#[derive(Debug, Clone)]
enum Op {
    Submit(u32),
    Transition(u32, JobState),
    Finish(u32, JobState, Option<i64>),
    Book(u32, usize, i64),
    Allocate(u32, BTreeSet<u32>),
    Release(u32),
}

fn state() -> impl Strategy<Value = JobState> {
    proptest::sample::select(JobState::ALL.to_vec())
}

fn op() -> impl Strategy<Value = Op> {
    let job = 0..JOBS;
    // Few distinct amounts, so that rebooking the same and a different amount both happen.
    let amount = proptest::sample::select(vec![0i64, 1, 999_999, 1_000_000, 2_500_000]);
    prop_oneof![
        2 => job.clone().prop_map(Op::Submit),
        4 => (job.clone(), state()).prop_map(|(j, s)| Op::Transition(j, s)),
        3 => (job.clone(), state(), proptest::option::of(amount.clone()))
            .prop_map(|(j, s, a)| Op::Finish(j, s, a)),
        2 => (job.clone(), 0..KINDS.len(), amount).prop_map(|(j, k, a)| Op::Book(j, k, a)),
        2 => (job.clone(), proptest::collection::btree_set(0u32..6, 1..3))
            .prop_map(|(j, d)| Op::Allocate(j, d)),
        1 => job.prop_map(Op::Release),
    ]
}

#[derive(Default)]
struct Model {
    states: BTreeMap<u32, JobState>,
    ledger: BTreeMap<(u32, String), i64>,
    held: BTreeMap<u32, u32>,
}

fn charge(j: u32, kind: &str, amount: i64) -> LedgerEntry {
    LedgerEntry {
        job_id: common::id(j),
        attempt: 1,
        at_ms: common::T0,
        kind: kind.into(),
        amount: Micros(amount),
        description: String::new(),
    }
}

/// What the model says `op` returns, applying it when it succeeds. `Err` names the error.
fn expect(m: &mut Model, op: &Op) -> Result<(), &'static str> {
    let exists = |m: &Model, j: &u32| m.states.contains_key(j);
    match op {
        Op::Submit(j) => {
            if exists(m, j) {
                return Err("duplicate");
            }
            m.states.insert(*j, JobState::Queued);
        }
        Op::Transition(j, to) | Op::Finish(j, to, _) => {
            if matches!(op, Op::Finish(..)) && !to.is_terminal() {
                return Err("not terminal");
            }
            let Some(from) = m.states.get(j).copied() else {
                return Err("not found");
            };
            if !from.can_become(*to) {
                return Err("illegal");
            }
            if let Op::Finish(_, _, Some(a)) = op
                && m.ledger
                    .get(&(*j, "compute".into()))
                    .is_some_and(|b| b != a)
            {
                return Err("ledger conflict");
            }
            m.states.insert(*j, *to);
            if to.is_terminal() {
                m.held.retain(|_, h| h != j);
            }
            if let Op::Finish(_, _, Some(a)) = op {
                m.ledger.entry((*j, "compute".into())).or_insert(*a);
            }
        }
        Op::Book(j, k, a) => {
            if !exists(m, j) {
                return Err("not found");
            }
            match m.ledger.get(&(*j, KINDS[*k].into())) {
                Some(b) if b != a => return Err("ledger conflict"),
                Some(_) => {}
                None => {
                    m.ledger.insert((*j, KINDS[*k].into()), *a);
                }
            }
        }
        Op::Allocate(j, devices) => {
            let Some(state) = m.states.get(j) else {
                return Err("not found");
            };
            if state.is_terminal() {
                return Err("finished");
            }
            if devices
                .iter()
                .any(|d| m.held.get(d).is_some_and(|h| h != j))
            {
                return Err("busy");
            }
            for d in devices {
                m.held.insert(*d, *j);
            }
        }
        Op::Release(j) => {
            if !exists(m, j) {
                return Err("not found");
            }
            m.held.retain(|_, h| h != j);
        }
    }
    Ok(())
}

fn name(e: &StoreError) -> &'static str {
    match e {
        StoreError::Duplicate { .. } => "duplicate",
        StoreError::NotTerminal { .. } => "not terminal",
        StoreError::NotFound { .. } => "not found",
        StoreError::IllegalTransition { .. } => "illegal",
        StoreError::LedgerConflict { .. } => "ledger conflict",
        StoreError::AllocateFinished { .. } => "finished",
        StoreError::DeviceBusy { .. } => "busy",
        _ => "other",
    }
}

async fn apply(store: &dyn Store, op: &Op) -> Result<(), StoreError> {
    let none = JobPatch::default();
    match op {
        Op::Submit(j) => store.submit(&common::job(*j)).await,
        Op::Transition(j, to) => store
            .transition(&common::id(*j), *to, &none, "")
            .await
            .map(drop),
        Op::Finish(j, to, amount) => {
            let c = amount.map(|a| charge(*j, "compute", a));
            store
                .finish(&common::id(*j), *to, &none, "", c.as_ref())
                .await
                .map(drop)
        }
        Op::Book(j, k, a) => store.book(&charge(*j, KINDS[*k], *a)).await.map(drop),
        Op::Allocate(j, d) => {
            let d: Vec<u32> = d.iter().copied().collect();
            store.allocate(&common::id(*j), "local", &d).await
        }
        Op::Release(j) => store.release(&common::id(*j)).await.map(drop),
    }
}

async fn check(store: &dyn Store, m: &Model) -> Result<(), TestCaseError> {
    for (j, state) in &m.states {
        let id = common::id(*j);
        let job = store.get(&id).await.unwrap().unwrap();
        prop_assert_eq!(job.state, *state);
        let events = store.events(&id).await.unwrap();
        prop_assert_eq!(events[0].kind, EventKind::Submitted);
        prop_assert_eq!(events.last().unwrap().to, job.state);
        for pair in events.windows(2) {
            // Each event starts where the previous one left the job.
            prop_assert_eq!(pair[1].from, Some(pair[0].to));
            prop_assert!(pair[0].seq < pair[1].seq);
        }
    }
    let booked: i64 = m.ledger.values().sum();
    let total = store.total(&LedgerFilter::default()).await.unwrap();
    prop_assert_eq!(total, Micros(booked));
    let listed: Micros = store
        .ledger(&LedgerFilter::default())
        .await
        .unwrap()
        .iter()
        .map(|b| b.entry.amount)
        .sum();
    prop_assert_eq!(listed, total);
    let held: Vec<(u32, JobId)> = m.held.iter().map(|(d, j)| (*d, common::id(*j))).collect();
    prop_assert_eq!(store.held_devices("local").await.unwrap(), held);
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(96))]

    #[test]
    fn the_store_agrees_with_a_model(ops in proptest::collection::vec(op(), 1..40)) {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        rt.block_on(async {
            let store = SqliteStore::open_in_memory().await.unwrap();
            let mut model = Model::default();
            for op in &ops {
                let want = expect(&mut model, op);
                let got = apply(&store, op).await;
                prop_assert_eq!(got.as_ref().map(|_| ()).map_err(name), want, "{:?}: {:?}", op, got);
            }
            check(&store, &model).await
        })?;
    }
}
