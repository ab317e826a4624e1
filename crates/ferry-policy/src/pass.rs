//! One scheduling pass for the `cheapest` and `owned-first` policies: from the queue, the
//! pools and each job's rented alternative, the jobs to start on a pool now, the jobs to
//! rent a machine for, and the bursts that were due but could not be made (and why).
//!
//! `cheapest` keeps each job where submission placed it, in submission order with EASY
//! backfill (`easy`): the server's behaviour before policies, and owned-only FIFO when
//! owned GPUs are the cheapest place.
//!
//! `owned-first` fills free pool GPUs first-fit in order of urgency (earliest latest-start
//! first): a GPU held back for a job that may not come in time is a GPU-hour rented later.
//! It bursts *lazily*: a job waits for owned or academic GPUs until the last moment at which
//! a rental would still meet its deadline (or until its `max_wait` has passed), because until
//! then a pool may still take it. Under `deadline-spot` it waits through half that slack
//! only, so that the rental has the other half to make progress on spot. The exception is the first job in line whose earliest
//! possible start on every pool already falls after that moment: nothing can start it in
//! time there, so it rents at once.

use crate::PolicyKind;
use crate::easy::{self, Running, Waiting};
use ferry_job::Micros;
use serde::Serialize;

/// GPUs the scheduler hands out itself: owned machines, or an academic allocation.
#[derive(Debug, Clone, PartialEq)]
pub struct Pool {
    /// GPUs in all.
    pub size: u32,
    pub free: u32,
    pub running: Vec<Running>,
    /// A job may start here only this long after its submission (an academic queue's
    /// expected wait); 0 for owned GPUs.
    pub wait_ms: i64,
}

/// A queued job, as the policy sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct Queued {
    pub gpus: u32,
    pub submitted_ms: i64,
    /// How long it is expected to run.
    pub estimate_ms: Option<i64>,
    /// The latest acceptable end.
    pub deadline_ms: Option<i64>,
    /// The longest it may wait for a pool before it rents.
    pub max_wait_ms: Option<i64>,
    /// The pool it was placed on at submission, if it must wait there (`cheapest`); `None`
    /// when any pool may take it, or (`cheapest`) when it was placed on a rented machine.
    pub on: Option<usize>,
    /// Its cheapest rented placement, when one is enabled.
    pub rental: Option<Rental>,
}

/// What renting for a job would cost and how soon it could start.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rental {
    /// The expected cost of the whole job there.
    pub cost: Micros,
    /// From the decision to the job running (provisioning).
    pub ready_ms: i64,
}

#[derive(Debug, Clone, Copy)]
pub struct View<'a> {
    pub policy: PolicyKind,
    pub now_ms: i64,
    pub pools: &'a [Pool],
    /// In submission order.
    pub queued: &'a [Queued],
    /// What rented work may still spend under the tightest cap; `None` when no cap is set.
    pub rent_budget_left: Option<Micros>,
}

/// One decision, about one job (an index into [`View::queued`]).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(tag = "action", rename_all = "kebab-case")]
pub enum Action {
    Start {
        job: usize,
        pool: usize,
    },
    Rent {
        job: usize,
    },
    /// A burst was due and was not made.
    Hold {
        job: usize,
        why: Hold,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(tag = "reason", rename_all = "kebab-case")]
pub enum Hold {
    /// Renting would pass the budget.
    OverBudget { cost: Micros, left: Micros },
    /// A rental could no longer meet the deadline either: the job keeps its place in line.
    RentalTooLate,
    /// No rented placement is enabled for it.
    NoRental,
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct Decision {
    pub actions: Vec<Action>,
    /// The earliest later time at which this answer changes with nothing else happening
    /// (a burst falls due, a job becomes eligible for an academic queue).
    pub wake_at_ms: Option<i64>,
}

/// The pass.
pub fn decide(view: &View) -> Decision {
    match view.policy {
        PolicyKind::Cheapest => cheapest(view),
        PolicyKind::OwnedFirst | PolicyKind::DeadlineSpot => owned_first(view),
    }
}

/// Each job where submission placed it: on its pool in submission order, or rented now.
fn cheapest(view: &View) -> Decision {
    let mut actions = vec![];
    let mut left = view.rent_budget_left;
    for (j, q) in view.queued.iter().enumerate() {
        if q.on.is_none() {
            actions.push(match q.rental {
                Some(rental) => rent_within(&mut left, j, rental),
                None => Action::Hold {
                    job: j,
                    why: Hold::NoRental,
                },
            });
        }
    }
    for (p, pool) in view.pools.iter().enumerate() {
        let line: Vec<usize> = (0..view.queued.len())
            .filter(|&j| view.queued[j].on == Some(p))
            .collect();
        for i in start_on(view, pool, &line) {
            actions.push(Action::Start {
                job: line[i],
                pool: p,
            });
        }
    }
    Decision {
        actions,
        wake_at_ms: None,
    }
}

/// The latest start that still meets the deadline, when both are known.
fn latest_start(q: &Queued) -> Option<i64> {
    Some(q.deadline_ms? - q.estimate_ms?)
}

fn owned_first(view: &View) -> Decision {
    let now = view.now_ms;
    // Earliest latest-start first: the job with the least room waits least.
    let mut order: Vec<usize> = (0..view.queued.len()).collect();
    order.sort_by_key(|&j| {
        let q = &view.queued[j];
        (latest_start(q).unwrap_or(i64::MAX), q.submitted_ms, j)
    });
    let mut started = vec![false; view.queued.len()];
    let mut actions = vec![];
    let mut after: Vec<Pool> = view.pools.to_vec();
    for (p, pool) in view.pools.iter().enumerate() {
        let line: Vec<usize> = order
            .iter()
            .copied()
            .filter(|&j| {
                let q = &view.queued[j];
                !started[j] && q.on.is_none_or(|o| o == p) && q.submitted_ms + pool.wait_ms <= now
            })
            .collect();
        for i in first_fit(view, pool, &line) {
            let j = line[i];
            started[j] = true;
            let q = &view.queued[j];
            after[p].free -= q.gpus;
            after[p].running.push(Running {
                gpus: q.gpus,
                ends_ms: q.estimate_ms.map(|d| now + d),
            });
            actions.push(Action::Start { job: j, pool: p });
        }
    }

    // The first waiting job in line: nothing can start it before its reservation.
    let head = order.iter().copied().find(|&j| !started[j]);
    let mut left = view.rent_budget_left;
    let mut wake: Option<i64> = None;
    let mut wake_at = |t: i64| {
        if t > now {
            wake = Some(wake.map_or(t, |w: i64| w.min(t)));
        }
    };
    for &j in &order {
        if started[j] {
            continue;
        }
        let q = &view.queued[j];
        for pool in view.pools.iter().filter(|p| p.wait_ms > 0) {
            wake_at(q.submitted_ms + pool.wait_ms);
        }
        let ready = q.rental.map_or(0, |r| r.ready_ms);
        // The earliest any pool could start it, known only for the head of the line.
        let reserved = (head == Some(j))
            .then(|| earliest_on_pools(&after, q, now))
            .flatten();
        // A job no pool could ever hold rents at once: waiting would be for ever.
        let fits_nowhere = view.pools.iter().all(|p| q.gpus > p.size);
        let deadline_due = latest_start(q).map(|ls| {
            let due = match view.policy {
                // Spot needs slack to be worth it: the job waits for a pool through the
                // first half of its slack only, and bursts with the rest left for spot.
                PolicyKind::DeadlineSpot => q.submitted_ms + (ls - ready - q.submitted_ms) / 2,
                _ => ls - ready,
            };
            wake_at(due);
            now >= due || reserved.is_some_and(|r| r > ls)
        });
        let wait_due = q.max_wait_ms.map(|w| {
            let due = q.submitted_ms + w;
            wake_at(due);
            now >= due || reserved.is_some_and(|r| r > due)
        });
        if !(fits_nowhere || deadline_due == Some(true) || wait_due == Some(true)) {
            continue;
        }
        let Some(rental) = q.rental else {
            actions.push(Action::Hold {
                job: j,
                why: Hold::NoRental,
            });
            continue;
        };
        let rental_meets = match (q.deadline_ms, q.estimate_ms) {
            (Some(d), Some(e)) => now + rental.ready_ms + e <= d,
            _ => true,
        };
        if !fits_nowhere && wait_due != Some(true) && !rental_meets {
            actions.push(Action::Hold {
                job: j,
                why: Hold::RentalTooLate,
            });
            continue;
        }
        actions.push(rent_within(&mut left, j, rental));
    }
    Decision {
        actions,
        wake_at_ms: wake,
    }
}

/// Rent for job `j` if the budget's room allows it (and spend the room), else hold.
fn rent_within(left: &mut Option<Micros>, j: usize, rental: Rental) -> Action {
    match *left {
        Some(l) if rental.cost > l => Action::Hold {
            job: j,
            why: Hold::OverBudget {
                cost: rental.cost,
                left: l,
            },
        },
        Some(l) => {
            *left = Some(l - rental.cost);
            Action::Rent { job: j }
        }
        None => Action::Rent { job: j },
    }
}

/// Every job of the line that fits, in line order.
fn first_fit(view: &View, pool: &Pool, line: &[usize]) -> Vec<usize> {
    let mut free = pool.free;
    let mut out = vec![];
    for (i, &j) in line.iter().enumerate() {
        let g = view.queued[j].gpus;
        if g <= free {
            free -= g;
            out.push(i);
        }
    }
    out
}

/// EASY over one pool's line (indices into the view's queue).
fn start_on(view: &View, pool: &Pool, line: &[usize]) -> Vec<usize> {
    if line.is_empty() {
        return vec![];
    }
    let waiting: Vec<Waiting> = line
        .iter()
        .map(|&j| Waiting {
            gpus: view.queued[j].gpus,
            duration_ms: view.queued[j].estimate_ms,
        })
        .collect();
    easy::choose(view.now_ms, pool.free, &pool.running, &waiting)
}

/// The earliest time any pool could start this job if it were first in line there;
/// `None` when no pool can say (a running job of unknown length, or none is big enough).
fn earliest_on_pools(pools: &[Pool], q: &Queued, now: i64) -> Option<i64> {
    pools
        .iter()
        .filter_map(|p| {
            let r = easy::reserve(p.free, &p.running, q.gpus);
            if r.avail < q.gpus {
                return None;
            }
            let at = if p.free >= q.gpus { now } else { r.shadow? };
            Some(at.max(q.submitted_ms + p.wait_ms))
        })
        .min()
}

#[cfg(test)]
mod tests {
    use super::*;

    const H: i64 = 3_600_000;

    fn pool(free: u32, running: &[(u32, i64)]) -> Pool {
        Pool {
            size: free + running.iter().map(|r| r.0).sum::<u32>(),
            free,
            running: running
                .iter()
                .map(|&(gpus, ends_h)| Running {
                    gpus,
                    ends_ms: Some(ends_h * H),
                })
                .collect(),
            wait_ms: 0,
        }
    }

    fn job(gpus: u32, hours: i64, deadline_h: Option<i64>) -> Queued {
        Queued {
            gpus,
            submitted_ms: 0,
            estimate_ms: Some(hours * H),
            deadline_ms: deadline_h.map(|d| d * H),
            max_wait_ms: None,
            on: None,
            rental: Some(Rental {
                cost: Micros(hours * 3_000_000 * i64::from(gpus)),
                ready_ms: 0,
            }),
        }
    }

    fn view<'a>(now_h: i64, pools: &'a [Pool], queued: &'a [Queued]) -> View<'a> {
        View {
            policy: PolicyKind::OwnedFirst,
            now_ms: now_h * H,
            pools,
            queued,
            rent_budget_left: None,
        }
    }

    #[test]
    fn a_job_that_fits_starts_on_the_pool_and_nothing_is_rented() {
        let pools = [pool(8, &[])];
        let q = [job(4, 2, Some(3))];
        let d = decide(&view(0, &pools, &q));
        assert_eq!(d.actions, [Action::Start { job: 0, pool: 0 }]);
    }

    #[test]
    fn a_job_with_room_waits_and_wakes_when_its_burst_falls_due() {
        // 8 GPUs busy until hour 5; a 2-hour job due at hour 10 can wait.
        let pools = [pool(0, &[(8, 5)])];
        let q = [job(8, 2, Some(10))];
        let d = decide(&view(1, &pools, &q));
        assert!(d.actions.is_empty(), "{:?}", d.actions);
        // Its reservation (hour 5) is before its latest start (hour 8): it waits. It would
        // be woken at hour 8, the last moment a rental still meets the deadline.
        assert_eq!(d.wake_at_ms, Some(8 * H));
    }

    #[test]
    fn the_head_rents_at_once_when_its_reservation_is_too_late() {
        // Busy until hour 9; the job must start by hour 8.
        let pools = [pool(0, &[(8, 9)])];
        let q = [job(8, 2, Some(10))];
        let d = decide(&view(1, &pools, &q));
        assert_eq!(d.actions, [Action::Rent { job: 0 }]);
    }

    #[test]
    fn a_job_behind_the_head_rents_at_its_latest_start_not_before() {
        let pools = [pool(0, &[(8, 20)])];
        // The head (latest start 18) and a second job (latest start 28).
        let q = [job(8, 2, Some(20)), job(8, 2, Some(30))];
        let early = decide(&view(1, &pools, &q));
        assert_eq!(early.actions, [Action::Rent { job: 0 }]);
        let late = decide(&view(28, &pools, &q));
        assert!(late.actions.contains(&Action::Rent { job: 1 }));
    }

    #[test]
    fn a_rental_over_budget_is_held_with_the_numbers() {
        let pools = [pool(0, &[(8, 20)])];
        let q = [job(8, 2, Some(3))];
        let mut v = view(1, &pools, &q);
        v.rent_budget_left = Some(Micros(10_000_000));
        let d = decide(&v);
        assert_eq!(
            d.actions,
            [Action::Hold {
                job: 0,
                why: Hold::OverBudget {
                    cost: Micros(48_000_000),
                    left: Micros(10_000_000)
                }
            }]
        );
    }

    #[test]
    fn the_budget_is_spent_once_across_a_pass() {
        let pools = [pool(0, &[(8, 20)])];
        let q = [job(1, 2, Some(2)), job(1, 2, Some(2))];
        let mut v = view(0, &pools, &q);
        v.rent_budget_left = Some(Micros(6_000_000));
        let d = decide(&v);
        assert_eq!(d.actions[0], Action::Rent { job: 0 });
        assert!(matches!(
            d.actions[1],
            Action::Hold {
                job: 1,
                why: Hold::OverBudget { .. }
            }
        ));
    }

    #[test]
    fn a_job_past_its_max_wait_rents() {
        let pools = [pool(0, &[(8, 20)])];
        let mut q = [job(8, 2, None)];
        q[0].max_wait_ms = Some(3 * H);
        assert!(
            decide(&view(1, &pools, &q))
                .actions
                .contains(&Action::Rent { job: 0 })
        );
        q[0].max_wait_ms = Some(30 * H);
        let d = decide(&view(1, &pools, &q));
        assert!(d.actions.is_empty());
        assert_eq!(d.wake_at_ms, Some(30 * H));
    }

    #[test]
    fn a_job_too_big_for_every_pool_rents_at_once() {
        let pools = [pool(8, &[])];
        let q = [job(16, 2, None)];
        assert_eq!(
            decide(&view(0, &pools, &q)).actions,
            [Action::Rent { job: 0 }]
        );
    }

    #[test]
    fn cheapest_never_moves_a_job_off_its_pool() {
        let pools = [pool(0, &[(8, 20)])];
        let mut q = [job(8, 2, Some(3)), job(1, 1, None)];
        q[0].on = Some(0);
        let mut v = view(1, &pools, &q);
        v.policy = PolicyKind::Cheapest;
        // The first waits however late it will be; the second was placed on a rental.
        assert_eq!(decide(&v).actions, [Action::Rent { job: 1 }]);
    }

    #[test]
    fn an_academic_queue_takes_a_job_only_after_its_wait() {
        let mut academic = pool(8, &[]);
        academic.wait_ms = 2 * H;
        let pools = [pool(0, &[(8, 50)]), academic];
        let q = [job(4, 2, Some(40))];
        let d = decide(&view(1, &pools, &q));
        assert!(d.actions.is_empty());
        assert_eq!(d.wake_at_ms, Some(2 * H));
        let d = decide(&view(2, &pools, &q));
        assert_eq!(d.actions, [Action::Start { job: 0, pool: 1 }]);
    }
}
