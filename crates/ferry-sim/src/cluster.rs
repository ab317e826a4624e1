//! A cluster's history, replayed: jobs arrive as the trace says, the policy's pass decides
//! (the same [`ferry_policy::pass::decide`] the server runs), pools free their GPUs when a
//! job's *real* duration has passed (the policy only ever sees the estimate), and rented
//! machines start after a provisioning delay and bill from their creation.
//!
//! The clock jumps from event to event (an arrival, an end, a time the policy asked to be
//! woken at), so a two-month trace takes as many passes as it has events, not seconds.

use crate::spot::{self, SpotSetup};
use crate::spot_trace::SpotTrace;
use crate::stats::Delays;
use crate::trace::TraceJob;
use ferry_job::Micros;
use ferry_policy::PolicyKind;
use ferry_policy::budget;
use ferry_policy::easy::Running;
use ferry_policy::pass::{self, Action, Hold, Pool, Queued, Rental, View};
use ferry_policy::progress::SpotRule;
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
    /// Spot capacity (`deadline-spot`): a rented job with a deadline runs on spot while the
    /// availability trace has some, through Uniform Progress, and on-demand when it must.
    pub spot: Option<SpotCapacity>,
}

/// Spot capacity for the rented part of a cluster: its price and when it is there.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SpotCapacity {
    /// Per GPU-hour.
    pub price: Micros,
    /// The availability trace, from the cluster trace's time zero (wrapping round).
    #[serde(skip)]
    pub trace: SpotTrace,
}

impl ClusterSetup {
    /// The reference problem: `owned_gpus` at no marginal cost, unlimited on-demand at
    /// `cloud_price` per GPU-hour ready at once and billed by the second, no academic pool,
    /// no budget.
    pub fn reference(policy: PolicyKind, owned_gpus: u32, cloud_price: Micros) -> ClusterSetup {
        ClusterSetup {
            policy,
            owned_gpus,
            owned_rate: Micros::ZERO,
            academic_gpus: 0,
            academic_wait_s: 0,
            cloud_price,
            provision_s: 0,
            monthly_budget: None,
            billing_increment_s: 1,
            spot: None,
        }
    }
}

/// Where GPU time went.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Where {
    Owned,
    Academic,
    /// Rented on-demand.
    Cloud,
    /// Rented on spot.
    Spot,
}

impl Where {
    pub const ALL: [Where; 4] = [Where::Owned, Where::Academic, Where::Cloud, Where::Spot];

    pub fn name(self) -> &'static str {
        match self {
            Where::Owned => "owned",
            Where::Academic => "academic",
            Where::Cloud => "cloud",
            Where::Spot => "spot",
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
    /// Spot machines taken back by the provider (spot capacity only).
    pub preemptions: u64,
    /// Jobs that could never start (none fits, nothing to rent).
    pub never_started: u64,
    /// Owned GPU-hours nobody used, at the amortised rate (part of the owned cost).
    pub owned_idle_cost: Micros,
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
    /// A rented job ends (or reaches its own budget); its cost is settled.
    RentEnd(usize),
    Wake,
}

/// A rented machine (or machines) for one job.
struct Rented {
    job: usize,
    gpus: u32,
    created_ms: i64,
    expected_end_ms: i64,
    /// The month whose cap it counts against: the one it was launched in.
    month: i64,
    /// On spot capacity: its whole life, replayed through Uniform Progress when it rented.
    spot: Option<SpotLife>,
}

/// A spot-and-on-demand life, known from the availability trace.
#[derive(Clone, Copy)]
struct SpotLife {
    life_ms: i64,
    on_demand: (f64, Micros),
    spot: (f64, Micros),
}

impl Rented {
    fn per_hour(&self, per_gpu_hour: Micros) -> Micros {
        Micros(per_gpu_hour.0 * i64::from(self.gpus))
    }

    /// What it has cost by `now`: a spot life's cost pro rata (a cap watching it sees it
    /// at its mean rate).
    fn accrued(&self, now: i64, per_gpu_hour: Micros) -> Micros {
        match self.spot {
            Some(l) => Micros(
                ((i128::from((l.on_demand.1 + l.spot.1).0)
                    * i128::from((now - self.created_ms).clamp(0, l.life_ms)))
                    / i128::from(l.life_ms.max(1))) as i64,
            ),
            None => cost(per_gpu_hour, self.gpus, now - self.created_ms),
        }
    }

    /// What it has cost and is still expected to cost.
    fn expected_total(&self, now: i64, per_gpu_hour: Micros) -> Micros {
        cost(
            per_gpu_hour,
            self.gpus,
            self.expected_end_ms.max(now) - self.created_ms,
        )
    }

    /// Its bill when it ends at `end`: whole increments from its creation.
    fn settle(
        &self,
        end: i64,
        per_gpu_hour: Micros,
        increment_ms: i64,
        shares: &mut [Share; 4],
    ) -> Micros {
        if let Some(l) = self.spot {
            // Stopped early (a cap): each part pro rata.
            let part = |(h, c): (f64, Micros)| {
                let f =
                    ((end - self.created_ms).clamp(0, l.life_ms) as f64) / l.life_ms.max(1) as f64;
                (h * f, Micros((c.0 as f64 * f).round() as i64))
            };
            let mut total = Micros::ZERO;
            for (w, (h, c)) in [
                (Where::Cloud, part(l.on_demand)),
                (Where::Spot, part(l.spot)),
            ] {
                let s = &mut shares[w as usize];
                s.gpu_hours += h;
                s.cost += c;
                total += c;
            }
            return total;
        }
        let ran = (end - self.created_ms).max(0);
        let billed = (ran + increment_ms - 1) / increment_ms * increment_ms;
        let c = cost(per_gpu_hour, self.gpus, billed);
        let s = &mut shares[Where::Cloud as usize];
        s.gpu_hours += f64::from(self.gpus) * billed as f64 / HOUR_MS as f64;
        s.cost += c;
        c
    }
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
    let mut shares = [Share::default(); 4];
    let mut delays = Vec::with_capacity(jobs.len());
    let mut booked: Vec<(i64, Micros)> = vec![];
    let mut busy_steps: Vec<(i64, u32)> = vec![(0, 0)];
    // Rented machines running, in launch order, and what finished ones cost, by month.
    let mut renting: Vec<Rented> = vec![];
    let mut settled: std::collections::BTreeMap<i64, Micros> = Default::default();
    let mut task_budget_stop = vec![false; jobs.len()];
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
        preemptions: 0,
        never_started: 0,
        owned_utilisation: 0.0,
        owned_idle_cost: Micros::ZERO,
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
                    // A machine stopped at the monthly cap has been settled already.
                    if let Some(i) = renting.iter().position(|r| r.job == j) {
                        let r = renting.remove(i);
                        let c = r.settle(now, setup.cloud_price, increment_ms, &mut shares);
                        booked.push((now, c));
                        *settled.entry(r.month).or_insert(Micros::ZERO) += c;
                        if task_budget_stop[j] {
                            report.budget_stops += 1;
                        }
                        in_flight -= 1;
                        end_job(j, now, &mut report);
                    }
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
        let month = now / MONTH_MS;
        'pass: {
            if queue.is_empty() {
                break 'pass;
            }

            // The pass, through the policy code.
            let room = setup.monthly_budget.map(|cap| {
                let committed: Micros = renting
                    .iter()
                    .filter(|r| r.month == month)
                    .map(|r| r.expected_total(now, setup.cloud_price))
                    .sum();
                budget::room_for_launch(
                    cap,
                    settled.get(&month).copied().unwrap_or(Micros::ZERO),
                    committed,
                )
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
                        let spot = spot_life(setup, job, now);
                        let r = Rented {
                            job: j,
                            gpus: job.gpus,
                            created_ms: now,
                            expected_end_ms: now + provision_ms + ms(job.estimate_s),
                            month,
                            spot: spot.map(|(life, _)| life),
                        };
                        if let Some((_, preempted)) = spot {
                            report.preemptions += u64::from(preempted);
                        }
                        // The task's own budget stops its machine, in whole increments.
                        let mut end = now
                            + r.spot
                                .map_or(provision_ms + ms(job.duration_s), |l| l.life_ms);
                        if let Some(limit) = job
                            .budget_usd
                            .and_then(|b| Micros::from_usd(b).ok())
                            .and_then(|b| {
                                budget::run_allowed_ms(
                                    r.per_hour(setup.cloud_price),
                                    b,
                                    increment_ms,
                                )
                            })
                            && now + limit < end
                        {
                            end = now + limit;
                            task_budget_stop[j] = true;
                        }
                        shares[Where::Cloud as usize].jobs += 1;
                        delays
                            .push((now + provision_ms - ms(job.submit_s)) as f64 / HOUR_MS as f64);
                        renting.push(r);
                        events.push(Reverse((end, Event::RentEnd(j))));
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
        }
        // The monthly cap's watch over what is rented now: the newest machines are stopped
        // before the cap is passed by more than the increment under way.
        if let Some(cap) = setup.monthly_budget {
            let months: std::collections::BTreeSet<i64> = renting.iter().map(|r| r.month).collect();
            for m in months {
                let under: Vec<usize> = (0..renting.len())
                    .filter(|&i| renting[i].month == m)
                    .collect();
                let charging: Vec<budget::Charging> = under
                    .iter()
                    .map(|&i| budget::Charging {
                        accrued: renting[i].accrued(now, setup.cloud_price),
                        per_hour: renting[i].per_hour(setup.cloud_price),
                    })
                    .collect();
                let spent = settled.get(&m).copied().unwrap_or(Micros::ZERO);
                let (stop, again) = budget::enforce(cap, spent, &charging, increment_ms);
                let mut gone: Vec<usize> = stop.iter().map(|&k| under[k]).collect();
                gone.sort_unstable();
                for &i in gone.iter().rev() {
                    let r = renting.remove(i);
                    let c = r.settle(now, setup.cloud_price, increment_ms, &mut shares);
                    booked.push((now, c));
                    *settled.entry(m).or_insert(Micros::ZERO) += c;
                    report.budget_stops += 1;
                    in_flight -= 1;
                    end_job(r.job, now, &mut report);
                }
                if let Some(dt) = again
                    && pending_wakes.insert(now + dt.max(1))
                {
                    events.push(Reverse((now + dt.max(1), Event::Wake)));
                }
            }
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

    let first = jobs.first().map_or(0, |j| ms(j.submit_s));
    let span = (last_end - first).max(0);
    // Owned hardware costs its amortised rate for every hour it is owned, busy or not: the
    // jobs were charged for their hours, and the idle ones are added here.
    let owned = &mut shares[Where::Owned as usize];
    let whole = cost(setup.owned_rate, setup.owned_gpus, span);
    report.owned_idle_cost = Micros((whole.0 - owned.cost.0).max(0));
    owned.cost += report.owned_idle_cost;
    report.by_category = Where::ALL
        .into_iter()
        .filter(|w| match w {
            Where::Academic => setup.academic_gpus > 0,
            Where::Spot => setup.spot.is_some(),
            _ => true,
        })
        .map(|w| (w, shares[w as usize]))
        .collect();
    report.total_cost = shares.iter().map(|s| s.cost).sum();
    report.queueing_delay_hours = Delays::of(delays);
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

/// For a job renting under `deadline-spot` with spot capacity and a deadline on-demand
/// could still meet: its life on spot and on-demand from the availability trace (the tick
/// `now` falls in), stepped through Uniform Progress with the provisioning delay as the
/// changeover, and its preemptions. `None`: it rents on-demand.
fn spot_life(setup: &ClusterSetup, job: &TraceJob, now: i64) -> Option<(SpotLife, u32)> {
    let capacity = setup.spot.as_ref()?;
    if setup.policy != PolicyKind::DeadlineSpot || capacity.trace.available.is_empty() {
        return None;
    }
    // Whole seconds left, rounded down: `now` may fall inside a second.
    let deadline_s = (job.deadline_s?.saturating_mul(1000) - now).div_euclid(1000);
    let changeover_s = setup.provision_s.max(1);
    if deadline_s < job.duration_s + changeover_s {
        return None; // on-demand at once, and even that may be late
    }
    let gpus = i64::from(job.gpus);
    let sp = SpotSetup {
        rule: SpotRule::UniformProgress,
        work_s: job.duration_s,
        deadline_s,
        changeover_s,
        on_demand_price: Micros(setup.cloud_price.0 * gpus),
        spot_price: Micros(capacity.price.0 * gpus),
        starts: 1,
        seed: 0,
    };
    let tick =
        ((now / 1000) / capacity.trace.gap_s.max(1)) as usize % capacity.trace.available.len();
    let run = spot::run_from(&sp, &capacity.trace, tick);
    let g = f64::from(job.gpus);
    let od = spot::cost(
        sp.on_demand_price,
        (run.on_demand_hours * 3600.0).round() as i64,
    );
    Some((
        SpotLife {
            life_ms: ((run.finished_hours * 3600.0).round() as i64 * 1000).max(1),
            on_demand: (run.on_demand_hours * g, od),
            spot: (run.spot_hours * g, Micros(run.cost.0 - od.0)),
        },
        run.preemptions,
    ))
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

#[cfg(test)]
mod tests {
    use super::*;

    fn job(
        id: &str,
        submit_s: i64,
        gpus: u32,
        duration_s: i64,
        deadline_s: Option<i64>,
    ) -> TraceJob {
        TraceJob {
            id: id.into(),
            submit_s,
            gpus,
            duration_s,
            estimate_s: duration_s,
            deadline_s,
            max_wait_s: None,
            budget_usd: None,
        }
    }

    fn setup(owned: u32) -> ClusterSetup {
        ClusterSetup {
            policy: PolicyKind::OwnedFirst,
            owned_gpus: owned,
            owned_rate: Micros(1_000_000),
            academic_gpus: 0,
            academic_wait_s: 0,
            cloud_price: Micros(3_000_000),
            provision_s: 600,
            monthly_budget: None,
            billing_increment_s: 60,
            spot: None,
        }
    }

    fn share(r: &ClusterReport, w: Where) -> Share {
        r.by_category.iter().find(|(x, _)| *x == w).unwrap().1
    }

    /// No owned GPUs, `deadline-spot`, spot at $1/GPU-h on a trace of 1-hour ticks.
    fn on_spot(available: &[bool]) -> ClusterSetup {
        ClusterSetup {
            policy: PolicyKind::DeadlineSpot,
            spot: Some(SpotCapacity {
                price: Micros(1_000_000),
                trace: SpotTrace {
                    gap_s: 3600,
                    available: available.to_vec(),
                },
            }),
            ..setup(0)
        }
    }

    #[test]
    fn a_deadline_job_renting_under_deadline_spot_runs_on_spot_while_there_is_some() {
        // 2 GPUs for 4 h, due in 10 h: spot all the way on a trace that always has it.
        let jobs = [job("a", 0, 2, 4 * 3600, Some(10 * 3600))];
        let r = replay(&on_spot(&[true; 24]), &jobs);
        let spot = share(&r, Where::Spot);
        // 4 h of work plus the 10-minute changeover, on 2 GPUs at $1.
        assert!(
            (spot.gpu_hours - 2.0 * (4.0 + 1.0 / 6.0)).abs() < 1e-9,
            "{spot:?}"
        );
        assert_eq!(spot.cost, Micros(8_333_333));
        assert_eq!(share(&r, Where::Cloud).cost, Micros::ZERO);
        assert_eq!((r.deadlines_missed, r.preemptions), (0, 0));
        // Never any spot: Uniform Progress waits while ahead of the line, then on-demand
        // in time.
        let r = replay(&on_spot(&[false; 24]), &jobs);
        assert_eq!(share(&r, Where::Spot).cost, Micros::ZERO);
        assert!(share(&r, Where::Cloud).cost > Micros::ZERO);
        assert_eq!(r.deadlines_missed, 0);
        // Spot for an hour, then gone: preempted once, finished on-demand, in time.
        let mut flaky = [false; 24];
        flaky[0] = true;
        let r = replay(&on_spot(&flaky), &jobs);
        assert_eq!(r.preemptions, 1);
        assert!(share(&r, Where::Spot).cost > Micros::ZERO);
        assert!(share(&r, Where::Cloud).cost > Micros::ZERO);
        assert_eq!(r.deadlines_missed, 0);
        // Without a deadline, or under another policy, it rents on-demand.
        let r = replay(&on_spot(&[true; 24]), &[job("b", 0, 2, 4 * 3600, None)]);
        assert_eq!(share(&r, Where::Spot).gpu_hours, 0.0);
        let r = replay(
            &ClusterSetup {
                policy: PolicyKind::OwnedFirst,
                ..on_spot(&[true; 24])
            },
            &jobs,
        );
        assert_eq!(share(&r, Where::Spot).gpu_hours, 0.0);
    }

    #[test]
    fn owned_gpus_cost_their_rate_busy_or_idle() {
        let r = replay(&setup(8), &[job("a", 0, 4, 3600, None)]);
        assert_eq!(share(&r, Where::Owned).cost, Micros(8_000_000));
        assert_eq!(r.owned_idle_cost, Micros(4_000_000));
        assert!((r.owned_utilisation - 0.5).abs() < 1e-12);
    }

    #[test]
    fn a_rental_is_billed_from_its_creation_including_provisioning() {
        // No owned GPUs; due when it ends: it rents at once, runs after 10 minutes.
        let r = replay(&setup(0), &[job("a", 0, 2, 3600, Some(4200))]);
        let cloud = share(&r, Where::Cloud);
        assert_eq!(cloud.cost, Micros(7_000_000)); // 2 GPUs × 70 min × $3/h
        assert_eq!(r.deadlines_missed, 0);
        assert!((r.queueing_delay_hours.max - 600.0 / 3600.0).abs() < 1e-12);
    }

    #[test]
    fn a_job_that_can_wait_waits_for_owned_gpus() {
        // Two 8-GPU hour-long jobs on 8 GPUs; the second may end as late as hour 3.
        let jobs = [
            job("a", 0, 8, 3600, Some(3600)),
            job("b", 0, 8, 3600, Some(3 * 3600)),
        ];
        let r = replay(&setup(8), &jobs);
        assert_eq!(share(&r, Where::Cloud).jobs, 0);
        assert_eq!(share(&r, Where::Owned).jobs, 2);
        assert_eq!(r.deadlines_missed, 0);
        // Under `cheapest` the same happens (FIFO); with the second due at hour 1.5 only
        // owned-first rents it.
        let tight = [
            job("a", 0, 8, 3600, Some(3600)),
            job("b", 0, 8, 3600, Some(5400)),
        ];
        let r = replay(&setup(8), &tight);
        assert_eq!(share(&r, Where::Cloud).jobs, 1);
        let fifo = replay(
            &ClusterSetup {
                policy: PolicyKind::Cheapest,
                ..setup(8)
            },
            &tight,
        );
        assert_eq!(share(&fifo, Where::Cloud).jobs, 0);
        assert_eq!(fifo.deadlines_missed, 1);
    }

    #[test]
    fn an_academic_allocation_takes_jobs_after_its_wait() {
        let s = ClusterSetup {
            academic_gpus: 8,
            academic_wait_s: 1800,
            ..setup(0)
        };
        let r = replay(&s, &[job("a", 0, 4, 3600, Some(10 * 3600))]);
        assert_eq!(share(&r, Where::Academic).jobs, 1);
        assert_eq!(r.total_cost, Micros::ZERO);
        assert!((r.queueing_delay_hours.max - 0.5).abs() < 1e-12);
    }
}
