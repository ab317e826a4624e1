//! Budgets as hard caps: a launch whose expected cost would pass a cap is refused with the
//! numbers, and a running rented job is stopped before its accrued cost passes the cap by
//! more than one billing increment.

use ferry_job::Micros;
use serde::Serialize;

/// What a cap applies to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "scope", content = "name", rename_all = "kebab-case")]
pub enum Scope {
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

/// A rented job launched under a cap holds this many times its expected cost of the cap's
/// room while it runs (never more than the room): it may overrun its estimate that much
/// before it is stopped, and jobs running together can never spend past the cap between
/// them.
pub const OVERRUN_ALLOWANCE: i64 = 2;

/// What a rented job expected to cost `expected` holds of a cap with `room` left.
pub fn reservation(expected: Micros, room: Micros) -> Micros {
    Micros(
        expected
            .0
            .saturating_mul(OVERRUN_ALLOWANCE)
            .min(room.0)
            .max(0),
    )
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
    fn a_running_job_is_stopped_on_an_increment_before_the_cap() {
        // $3.60/h, $1 left: 1,000 s, in whole minutes 960 s.
        assert_eq!(
            run_allowed_ms(Micros(3_600_000), Micros(1_000_000), 60_000),
            Some(960_000)
        );
        assert_eq!(run_allowed_ms(Micros(0), Micros(1), 1), None);
    }

    proptest! {
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
