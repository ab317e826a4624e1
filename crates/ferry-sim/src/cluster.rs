//! A cluster's history, replayed: jobs arrive as the trace says, the policy's pass decides
//! (the same [`ferry_policy::pass::decide`] the server runs), pools free their GPUs when a
//! job's *real* duration has passed (the policy only ever sees the estimate), and rented
//! machines start after a provisioning delay and bill from their creation.
//!
//! The clock jumps from event to event (an arrival, an end, a time the policy asked to be
//! woken at), so a two-month trace takes as many passes as it has events, not seconds.

use crate::stats::Delays;
use crate::trace::TraceJob;
use ferry_job::Micros;
use ferry_policy::PolicyKind;
use ferry_policy::budget;
use ferry_policy::easy::Running;
use ferry_policy::pass::{self, Action, Hold, Pool, Queued, Rental, View};
use serde::Serialize;
use std::cmp::Reverse;
use std::collections::BinaryHeap;

/// The world the trace is replayed into.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ClusterSetup {
    pub policy: PolicyKind,
    pub owned_gpus: u32,
    /// What an owned GPU-hour costs, amortised (0: only the marginal cost, as in the
    /// reference LP bound).
    pub owned_rate: Micros,
    /// An academic allocation: GPUs, and the queue wait before a job may start there.
    pub academic_gpus: u32,
    pub academic_wait_s: i64,
    /// On-demand rented capacity, unlimited: price per GPU-hour and provisioning delay.
    pub cloud_price: Micros,
    pub provision_s: i64,
    /// A cap on rented spend per 30-day month from the trace's start.
    pub monthly_budget: Option<Micros>,
    /// Rented machines bill in increments of this many seconds.
    pub billing_increment_s: i64,
}

/// Where GPU time went.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Where {
    Owned,
    Academic,
    Cloud,
}

impl Where {
    pub const ALL: [Where; 3] = [Where::Owned, Where::Academic, Where::Cloud];

    pub fn name(self) -> &'static str {
        match self {
            Where::Owned => "owned",
            Where::Academic => "academic",
            Where::Cloud => "cloud",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Default)]
pub struct Share {
    pub jobs: u64,
    pub gpu_hours: f64,
    pub cost: Micros,
}

/// What the replay measured.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ClusterReport {
    pub jobs: u64,
    pub total_cost: Micros,
    pub by_category: Vec<(Where, Share)>,
    pub queueing_delay_hours: Delays,
    pub with_deadline: u64,
    pub deadlines_missed: u64,
    /// Missed deadlines that renting at submission would have met.
    pub missed_that_renting_could_meet: u64,
    pub budget_holds: u64,
    pub budget_stops: u64,
    /// Jobs that could never start (none fits, nothing to rent).
    pub never_started: u64,
    /// Busy owned GPU-hours over the owned GPU-hours from the first arrival to the last end.
    pub owned_utilisation: f64,
    pub makespan_hours: f64,
    pub passes: u64,
    /// Rented spend by 30-day month from the trace's start (the months a cap applies to).
    pub rented_by_month: Vec<Micros>,
    /// Hour by hour: cumulative cost booked and mean busy owned GPUs (for the charts).
    #[serde(skip)]
    pub timeline: Vec<HourSample>,
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct HourSample {
    pub hour: f64,
    pub cost: Micros,
    pub owned_busy: f64,
}

const MONTH_MS: i64 = 30 * 86_400_000;
const HOUR_MS: i64 = 3_600_000;

struct Live {
    job: usize,
    gpus: u32,
    estimated_end: i64,
}

struct PoolState {
    size: u32,
    free: u32,
    wait_ms: i64,
    place: Where,
    live: Vec<Live>,
}

#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Event {
    /// A job on a pool ends (pool index).
    PoolEnd(usize, usize),
    /// A rented job ends or is stopped; its reservation of the month's cap is settled.
    RentEnd(usize),
    Wake,
}

/// The cost of `ms` of `gpus` at `per_gpu_hour`, exact, rounded half up once.
fn cost(per_gpu_hour: Micros, gpus: u32, ms: i64) -> Micros {
    let exact = i128::from(per_gpu_hour.0) * i128::from(gpus) * i128::from(ms.max(0));
    Micros(((exact + HOUR_MS as i128 / 2) / HOUR_MS as i128) as i64)
}

/// Replays `jobs` (in submission order) into `setup`.
pub fn replay(setup: &ClusterSetup, jobs: &[TraceJob]) -> ClusterReport {
    let ms = |s: i64| s.saturating_mul(1000);
    let mut pools = vec![PoolState {
        size: setup.owned_gpus,
        free: setup.owned_gpus,
        wait_ms: 0,
        place: Where::Owned,
        live: vec![],
    }];
    if setup.academic_gpus > 0 {
        pools.push(PoolState {
            size: setup.academic_gpus,
            free: setup.academic_gpus,
            wait_ms: ms(setup.academic_wait_s),
            place: Where::Academic,
            live: vec![],
        });
    }
    let rate_of = |p: &PoolState| match p.place {
        Where::Owned => setup.owned_rate,
        _ => Micros::ZERO,
    };
    let provision_ms = ms(setup.provision_s);
    let increment_ms = ms(setup.billing_increment_s.max(1));

    let mut events: BinaryHeap<Reverse<(i64, Event)>> = BinaryHeap::new();
    let mut queue: Vec<usize> = vec![];
    // Where `cheapest` placed each job at submission (`None`: rented).
    let mut placed: Vec<Option<usize>> = vec![None; jobs.len()];
    let mut next = 0;
    let mut shares = [Share::default(); 3];
    let mut delays = Vec::with_capacity(jobs.len());
    let mut booked: Vec<(i64, Micros)> = vec![];
    let mut busy_steps: Vec<(i64, u32)> = vec![(0, 0)];
    let mut committed: std::collections::BTreeMap<i64, Micros> = Default::default();
    // Each rented job's month, its hold on the month's cap, and what it really cost.
    let mut reservations: Vec<(i64, Micros, Micros)> =
        vec![(0, Micros::ZERO, Micros::ZERO); jobs.len()];
    let mut settled: std::collections::BTreeMap<i64, Micros> = Default::default();
    let mut pending_wakes: std::collections::BTreeSet<i64> = Default::default();
    let mut in_flight = 0usize;
    let mut report = ClusterReport {
        jobs: jobs.len() as u64,
        total_cost: Micros::ZERO,
        by_category: vec![],
        queueing_delay_hours: Delays::default(),
        with_deadline: jobs.iter().filter(|j| j.deadline_s.is_some()).count() as u64,
        deadlines_missed: 0,
        missed_that_renting_could_meet: 0,
        budget_holds: 0,
        budget_stops: 0,
        never_started: 0,
        owned_utilisation: 0.0,
        makespan_hours: 0.0,
        passes: 0,
        rented_by_month: vec![],
        timeline: vec![],
    };
    let mut held_for_budget = vec![false; jobs.len()];
    let mut last_end = 0i64;
    let mut end_job = |j: usize, end: i64, report: &mut ClusterReport| {
        let job = &jobs[j];
        last_end = last_end.max(end);
        if let Some(d) = job.deadline_s
            && end > ms(d)
        {
            report.deadlines_missed += 1;
            if job.submit_s + setup.provision_s + job.duration_s <= d {
                report.missed_that_renting_could_meet += 1;
            }
        }
    };

    loop {
        let arrival = jobs.get(next).map(|j| ms(j.submit_s));
        let event = events.peek().map(|Reverse((t, _))| *t);
        let now = match (arrival, event) {
            (None, None) => break,
            (Some(a), None) => a,
            (None, Some(e)) => e,
            (Some(a), Some(e)) => a.min(e),
        };
        if arrival.is_none() && queue.is_empty() && in_flight == 0 {
            break;
        }
        while let Some(Reverse((t, e))) = events.peek().copied() {
            if t != now {
                break;
            }
            events.pop();
            match e {
                Event::PoolEnd(p, j) => {
                    let pool = &mut pools[p];
                    let i = pool
                        .live
                        .iter()
                        .position(|l| l.job == j)
                        .expect("a live job ends once");
                    let l = pool.live.swap_remove(i);
                    pool.free += l.gpus;
                    assert!(
                        pool.free <= pool.size,
                        "a pool got back more GPUs than it has"
                    );
                    if p == 0 {
                        busy_steps.push((now, pool.size - pool.free));
                    }
                    in_flight -= 1;
                    end_job(j, now, &mut report);
                }
                Event::RentEnd(j) => {
                    let (month, held, spent) = reservations[j];
                    if let Some(c) = committed.get_mut(&month) {
                        *c = *c - held;
                    }
                    *settled.entry(month).or_insert(Micros::ZERO) += spent;
                    in_flight -= 1;
                    end_job(j, now, &mut report);
                }
                Event::Wake => {
                    pending_wakes.remove(&t);
                }
            }
        }
        while let Some(job) = jobs.get(next) {
            if ms(job.submit_s) != now {
                break;
            }
            if setup.policy == PolicyKind::Cheapest {
                // Where the expected cost is lowest, among places that can ever hold it.
                let cloud = setup.cloud_price;
                placed[next] = pools
                    .iter()
                    .enumerate()
                    .filter(|(_, p)| p.size >= job.gpus && rate_of(p) <= cloud)
                    .min_by_key(|(i, p)| (rate_of(p), *i))
                    .map(|(i, _)| i);
            }
            queue.push(next);
            next += 1;
        }
        if queue.is_empty() {
            continue;
        }

        // The pass, through the policy code.
        let month = now / MONTH_MS;
        let room = setup.monthly_budget.map(|cap| {
            let used = committed.get(&month).copied().unwrap_or(Micros::ZERO)
                + settled.get(&month).copied().unwrap_or(Micros::ZERO);
            Micros((cap.0 - used.0).max(0))
        });
        let view_pools: Vec<Pool> = pools
            .iter()
            .map(|p| Pool {
                size: p.size,
                free: p.free,
                running: p
                    .live
                    .iter()
                    .map(|l| Running {
                        gpus: l.gpus,
                        ends_ms: Some(l.estimated_end),
                    })
                    .collect(),
                wait_ms: p.wait_ms,
            })
            .collect();
        let queued: Vec<Queued> = queue
            .iter()
            .map(|&j| {
                let job = &jobs[j];
                let estimate = ms(job.estimate_s);
                let expected = cost(setup.cloud_price, job.gpus, estimate + provision_ms);
                let within_task_budget = job
                    .budget_usd
                    .and_then(|b| Micros::from_usd(b).ok())
                    .is_none_or(|b| expected <= b);
                Queued {
                    gpus: job.gpus,
                    submitted_ms: ms(job.submit_s),
                    estimate_ms: Some(estimate),
                    deadline_ms: job.deadline_s.map(ms),
                    max_wait_ms: job.max_wait_s.map(ms),
                    on: placed[j],
                    rental: within_task_budget.then_some(Rental {
                        cost: expected,
                        ready_ms: provision_ms,
                    }),
                }
            })
            .collect();
        let decision = pass::decide(&View {
            policy: setup.policy,
            now_ms: now,
            pools: &view_pools,
            queued: &queued,
            rent_budget_left: room,
        });
        report.passes += 1;
        let mut gone = vec![false; queue.len()];
        let mut month_room = room;
        for action in decision.actions {
            match action {
                Action::Start { job: q, pool: p } => {
                    let j = queue[q];
                    let job = &jobs[j];
                    let pool = &mut pools[p];
                    pool.free = pool
                        .free
                        .checked_sub(job.gpus)
                        .expect("the policy handed out a GPU that was not free");
                    let end = now + ms(job.duration_s);
                    pool.live.push(Live {
                        job: j,
                        gpus: job.gpus,
                        estimated_end: now + ms(job.estimate_s),
                    });
                    if p == 0 {
                        busy_steps.push((now, pool.size - pool.free));
                    }
                    let c = cost(rate_of(pool), job.gpus, ms(job.duration_s));
                    let s = &mut shares[pool.place as usize];
                    s.jobs += 1;
                    s.gpu_hours += f64::from(job.gpus) * job.duration_s as f64 / 3600.0;
                    s.cost += c;
                    booked.push((end, c));
                    delays.push((now - ms(job.submit_s)) as f64 / HOUR_MS as f64);
                    events.push(Reverse((end, Event::PoolEnd(p, j))));
                    in_flight += 1;
                    gone[q] = true;
                }
                Action::Rent { job: q } => {
                    let j = queue[q];
                    let job = &jobs[j];
                    let expected = queued[q].rental.expect("rented with a rental").cost;
                    // What this job may spend: its own budget, and its hold on the month's cap.
                    let mut allowed = job.budget_usd.and_then(|b| Micros::from_usd(b).ok());
                    let mut hold = Micros::ZERO;
                    if let Some(r) = month_room {
                        hold = budget::reservation(expected, r);
                        month_room = Some(r - hold);
                        *committed.entry(month).or_insert(Micros::ZERO) += hold;
                        allowed = Some(allowed.map_or(hold, |a| a.min(hold)));
                    }
                    let rate = Micros(setup.cloud_price.0 * i64::from(job.gpus));
                    let billed_ms = provision_ms + ms(job.duration_s);
                    let run_ms =
                        match allowed.and_then(|a| budget::run_allowed_ms(rate, a, increment_ms)) {
                            Some(limit) if limit < billed_ms => {
                                report.budget_stops += 1;
                                limit
                            }
                            _ => billed_ms,
                        };
                    // Billed in whole increments from the machine's creation.
                    let billed = (run_ms + increment_ms - 1) / increment_ms * increment_ms;
                    let c = cost(setup.cloud_price, job.gpus, billed);
                    let s = &mut shares[Where::Cloud as usize];
                    s.jobs += 1;
                    s.gpu_hours += f64::from(job.gpus) * billed as f64 / HOUR_MS as f64;
                    s.cost += c;
                    booked.push((now + run_ms, c));
                    reservations[j] = (month, hold, c);
                    delays.push((now + provision_ms - ms(job.submit_s)) as f64 / HOUR_MS as f64);
                    events.push(Reverse((now + run_ms, Event::RentEnd(j))));
                    in_flight += 1;
                    gone[q] = true;
                }
                Action::Hold { job: q, why } => {
                    let j = queue[q];
                    if matches!(why, Hold::OverBudget { .. }) && !held_for_budget[j] {
                        held_for_budget[j] = true;
                        report.budget_holds += 1;
                        // The cap's room comes back with the next month.
                        if pending_wakes.insert((month + 1) * MONTH_MS) {
                            events.push(Reverse(((month + 1) * MONTH_MS, Event::Wake)));
                        }
                    }
                }
            }
        }
        let mut i = 0;
        queue.retain(|_| {
            i += 1;
            !gone[i - 1]
        });
        if let Some(t) = decision.wake_at_ms
            && pending_wakes.insert(t)
        {
            events.push(Reverse((t, Event::Wake)));
        }
        if next >= jobs.len() && !queue.is_empty() && events.is_empty() {
            break;
        }
    }
    report.never_started = queue.len() as u64;
    if let Some(last) = settled.keys().next_back() {
        report.rented_by_month = (0..=*last)
            .map(|m| settled.get(&m).copied().unwrap_or(Micros::ZERO))
            .collect();
    }

    report.by_category = Where::ALL
        .into_iter()
        .filter(|w| *w != Where::Academic || setup.academic_gpus > 0)
        .map(|w| (w, shares[w as usize]))
        .collect();
    report.total_cost = shares.iter().map(|s| s.cost).sum();
    report.queueing_delay_hours = Delays::of(delays);
    let first = jobs.first().map_or(0, |j| ms(j.submit_s));
    let span = (last_end - first).max(0);
    report.makespan_hours = span as f64 / HOUR_MS as f64;
    let busy_ms: f64 = shares[Where::Owned as usize].gpu_hours * HOUR_MS as f64;
    report.owned_utilisation = if span > 0 && setup.owned_gpus > 0 {
        busy_ms / (span as f64 * f64::from(setup.owned_gpus))
    } else {
        0.0
    };
    report.timeline = timeline(&booked, &busy_steps, last_end);
    report
}

/// Hourly samples for the charts: cost booked by the end of each hour, and owned GPUs busy
/// on average over it.
fn timeline(booked: &[(i64, Micros)], busy: &[(i64, u32)], end: i64) -> Vec<HourSample> {
    let hours = (end / HOUR_MS + 1) as usize;
    let mut cost_at = vec![Micros::ZERO; hours + 1];
    for &(t, c) in booked {
        let h = ((t + HOUR_MS - 1) / HOUR_MS) as usize;
        cost_at[h.min(hours)] += c;
    }
    let mut busy_ms = vec![0f64; hours + 1];
    let mut steps = busy.to_vec();
    steps.sort_by_key(|s| s.0);
    for w in steps.windows(2) {
        let ((a, level), (b, _)) = (w[0], w[1]);
        let mut t = a;
        while t < b {
            let h = (t / HOUR_MS) as usize;
            let until = ((h as i64 + 1) * HOUR_MS).min(b);
            busy_ms[h.min(hours)] += f64::from(level) * (until - t) as f64;
            t = until;
        }
    }
    let mut total = Micros::ZERO;
    (0..=hours)
        .map(|h| {
            total += cost_at[h];
            HourSample {
                hour: h as f64,
                cost: total,
                owned_busy: busy_ms[h] / HOUR_MS as f64,
            }
        })
        .collect()
}
