//! Budgets as hard caps: a launch whose expected cost would pass a cap is refused with the
//! numbers, and a running rented job is stopped before its accrued cost passes the cap by
//! more than one billing increment.

use ferry_job::Micros;
use serde::{Deserialize, Serialize};

/// What a cap applies to.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "scope", content = "name", rename_all = "kebab-case")]
pub enum Scope {
    /// Everything this install books in a month (`budget.monthly_usd`).
    Monthly,
    /// One task's `budget`.
    Task,
    /// A user's monthly budget.
    User(String),
    /// A project's monthly budget.
    Project(String),
}

impl std::fmt::Display for Scope {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Scope::Monthly => f.write_str("the monthly budget (budget.monthly_usd)"),
            Scope::Task => f.write_str("the task's budget"),
            Scope::User(u) => write!(f, "user {u}'s monthly budget"),
            Scope::Project(p) => write!(f, "project {p}'s monthly budget"),
        }
    }
}

/// A cap and what has been spent (or committed) against it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Cap {
    pub scope: Scope,
    pub limit: Micros,
    pub used: Micros,
}

impl Cap {
    pub fn left(&self) -> Micros {
        Micros((self.limit.0 - self.used.0).max(0))
    }
}

/// A launch refused, with the numbers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Refusal {
    pub scope: Scope,
    pub limit: Micros,
    pub used: Micros,
    pub cost: Micros,
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "expected {} would pass {} ({} of {} used, {} left)",
            self.cost,
            self.scope,
            self.used,
            self.limit,
            Micros((self.limit.0 - self.used.0).max(0))
        )
    }
}

impl std::error::Error for Refusal {}

/// Whether a launch expected to cost `cost` fits every cap; the first it would pass, if not.
pub fn check_launch(caps: &[Cap], cost: Micros) -> Result<(), Refusal> {
    match caps.iter().find(|c| c.used.0 + cost.0 > c.limit.0) {
        Some(c) => Err(Refusal {
            scope: c.scope.clone(),
            limit: c.limit,
            used: c.used,
            cost,
        }),
        None => Ok(()),
    }
}

/// The tightest room left under several caps; `None` when there are none.
pub fn room(caps: &[Cap]) -> Option<Micros> {
    caps.iter().map(Cap::left).min()
}

/// A rented job running under a cap: what it has cost so far and what it costs an hour.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Charging {
    pub accrued: Micros,
    pub per_hour: Micros,
}

/// What a cap's room is for a new launch: the cap, less what is spent, less what the jobs
/// running under it have accrued and are still expected to cost.
pub fn room_for_launch(limit: Micros, spent: Micros, committed: Micros) -> Micros {
    Micros((limit.0 - spent.0 - committed.0).max(0))
}

/// The cap's watch over running jobs: which of them to stop now (indices into `running`,
/// taken from the end: the newest launch goes first), so that the cap is not passed by more
/// than the billing increment under way, and in how many milliseconds to look again if
/// nothing else happens. `spent` is what finished work has cost against the cap.
pub fn enforce(
    limit: Micros,
    spent: Micros,
    running: &[Charging],
    increment_ms: i64,
) -> (Vec<usize>, Option<i64>) {
    let increment_ms = increment_ms.max(1);
    let mut used = i128::from(spent.0)
        + running
            .iter()
            .map(|r| i128::from(r.accrued.0))
            .sum::<i128>();
    let mut rate: i128 = running.iter().map(|r| i128::from(r.per_hour.0)).sum();
    let limit = i128::from(limit.0);
    let next_increment = |rate: i128| rate * i128::from(increment_ms) / 3_600_000;
    let mut stop = vec![];
    let mut i = running.len();
    // Stop the newest while one more increment would reach the cap.
    while i > 0 && used + next_increment(rate) >= limit && rate > 0 {
        i -= 1;
        rate -= i128::from(running[i].per_hour.0);
        stop.push(i);
    }
    used = used.max(0);
    let again = (rate > 0).then(|| {
        // When used + rate × (t + increment) reaches the cap.
        let t = (limit - used) * 3_600_000 / rate - i128::from(increment_ms);
        t.clamp(0, i128::from(i64::MAX)) as i64
    });
    (stop, again)
}

/// How long after its start a job billed at `per_hour` may run before its cost would pass
/// `left`, in whole billing increments of `increment_ms`: stopping it at that time keeps
/// the charge within the cap (the stop itself is billed at most one increment more).
pub fn run_allowed_ms(per_hour: Micros, left: Micros, increment_ms: i64) -> Option<i64> {
    if per_hour.0 <= 0 {
        return None;
    }
    let increment_ms = increment_ms.max(1);
    let ms = i128::from(left.0.max(0)) * 3_600_000 / i128::from(per_hour.0);
    let whole = (ms as i64 / increment_ms) * increment_ms;
    Some(whole)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn cap(limit: i64, used: i64) -> Cap {
        Cap {
            scope: Scope::Project("vision".into()),
            limit: Micros(limit),
            used: Micros(used),
        }
    }

    #[test]
    fn a_launch_over_a_cap_is_refused_with_the_numbers() {
        let caps = [cap(100_000_000, 0), cap(50_000_000, 45_000_000)];
        let r = check_launch(&caps, Micros(6_000_000)).unwrap_err();
        assert_eq!(r.limit, Micros(50_000_000));
        assert_eq!(
            r.to_string(),
            "expected $6.000000 would pass project vision's monthly budget ($45.000000 of $50.000000 used, $5.000000 left)"
        );
        assert!(check_launch(&caps, Micros(5_000_000)).is_ok());
        assert_eq!(room(&caps), Some(Micros(5_000_000)));
        assert_eq!(room(&[]), None);
    }

    #[test]
    fn the_newest_jobs_are_stopped_when_the_next_increment_would_reach_the_cap() {
        let run = |accrued: i64, per_hour: i64| Charging {
            accrued: Micros(accrued),
            per_hour: Micros(per_hour),
        };
        // $100 cap, $90 used, two jobs at $36/h each: a minute costs $1.20 — fine; look again
        // when $10 - $1.20 has gone, at $72/h: 440 s.
        let (stop, again) = enforce(
            Micros(100_000_000),
            Micros(50_000_000),
            &[run(20_000_000, 36_000_000), run(20_000_000, 36_000_000)],
            60_000,
        );
        assert!(stop.is_empty());
        assert_eq!(again, Some(440_000));
        // At $99.50 used, the next minute would pass: the newest stops, then the other too.
        let (stop, _) = enforce(
            Micros(100_000_000),
            Micros(59_500_000),
            &[run(20_000_000, 36_000_000), run(20_000_000, 36_000_000)],
            60_000,
        );
        assert_eq!(stop, [1, 0]);
        assert_eq!(room_for_launch(Micros(10), Micros(4), Micros(7)), Micros(0));
    }

    #[test]
    fn a_running_job_is_stopped_on_an_increment_before_the_cap() {
        // $3.60/h, $1 left: 1,000 s, in whole minutes 960 s.
        assert_eq!(
            run_allowed_ms(Micros(3_600_000), Micros(1_000_000), 60_000),
            Some(960_000)
        );
        assert_eq!(run_allowed_ms(Micros(0), Micros(1), 1), None);
    }

    proptest! {
        /// Followed from check to check, jobs running under a cap never take it past one
        /// increment per job stopped.
        #[test]
        fn enforcement_keeps_spend_within_an_increment(
            limit in 1i64..1_000_000_000,
            rates in proptest::collection::vec(1i64..50_000_000, 1..6),
            inc in 1i64..3_600_000,
        ) {
            let mut running: Vec<Charging> = rates.iter().map(|r| Charging { accrued: Micros(0), per_hour: Micros(*r) }).collect();
            let mut spent = 0i128;
            let mut stopped = 0i128;
            for _ in 0..1000 {
                let (stop, again) = enforce(Micros(limit), Micros(spent as i64), &running, inc);
                for i in stop {
                    let r = running.remove(i);
                    // A stopped job is billed to the end of the increment under way.
                    spent += i128::from(r.accrued.0) + i128::from(r.per_hour.0) * i128::from(inc) / 3_600_000;
                    stopped += 1;
                }
                let Some(dt) = again else { break };
                let dt = dt.max(1);
                for r in &mut running {
                    r.accrued = Micros(r.accrued.0 + (i128::from(r.per_hour.0) * i128::from(dt) / 3_600_000) as i64);
                }
            }
            let max_inc: i128 = rates.iter().map(|r| i128::from(*r) * i128::from(inc) / 3_600_000 + 1).max().unwrap();
            prop_assert!(spent <= i128::from(limit) + stopped * max_inc, "spent {spent} of {limit}");
        }

        #[test]
        fn the_allowed_run_never_costs_more_than_what_is_left(
            per_hour in 1i64..100_000_000, left in 0i64..10_000_000_000, inc in 1i64..3_600_000
        ) {
            let ms = run_allowed_ms(Micros(per_hour), Micros(left), inc).unwrap();
            let cost = i128::from(per_hour) * i128::from(ms) / 3_600_000;
            prop_assert!(cost <= i128::from(left));
            // and one increment more would have passed it: the stop is not early
            prop_assert!(i128::from(per_hour) * i128::from(ms + inc) > i128::from(left) * 3_600_000);
        }
    }
}
