//! Spot or on-demand, step by step, for one job with a deadline.
//!
//! Spot capacity is cheap and comes and goes; on-demand is dear and always there. Every
//! move onto a fresh machine costs a *changeover* (boot, setup, reload the checkpoint)
//! during which the job makes no progress. The question at each step is which machine, if
//! any, to hold for the next step. Three answers:
//!
//! - [`SpotRule::OnDemandOnly`]: on-demand from the start; the baseline.
//! - [`SpotRule::Greedy`]: spot whenever there is some, nothing while there is none, and
//!   on-demand to the end once the deadline forces it.
//! - [`SpotRule::UniformProgress`] (`deadline-spot`): the policy of Wu et al., "Can't Be
//!   Late: Optimizing Spot Instance Savings under Deadlines" (NSDI '24). Progress should
//!   keep up with the straight line from nothing at the start to all the work at the
//!   deadline: behind the line with no spot, it buys on-demand; at or ahead of it, it waits
//!   for spot. It leaves on-demand only for spot, and only when ahead of the line by more
//!   than the changeover that costs, so that it does not flap.
//!
//! All three share one safety rule: when waiting one more step could leave too little
//! time to finish on on-demand (with its changeover), the job goes on-demand and stays. So a
//! deadline that on-demand alone could meet from the start is never missed: while the rule
//! does not fire, the slack left after an on-demand finish is at least one step, and a step
//! takes at most that away.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Mode {
    /// No machine held.
    Idle,
    Spot,
    OnDemand,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SpotRule {
    OnDemandOnly,
    Greedy,
    UniformProgress,
}

impl SpotRule {
    pub const ALL: [SpotRule; 3] = [
        SpotRule::OnDemandOnly,
        SpotRule::Greedy,
        SpotRule::UniformProgress,
    ];

    pub fn name(self) -> &'static str {
        match self {
            SpotRule::OnDemandOnly => "on-demand-only",
            SpotRule::Greedy => "greedy",
            SpotRule::UniformProgress => "uniform-progress",
        }
    }
}

/// Where the job stands at a decision. Times are seconds.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Standing {
    pub now_s: i64,
    pub start_s: i64,
    pub deadline_s: i64,
    /// Compute the job needs in all, and has done.
    pub work_s: i64,
    pub done_s: i64,
    /// The machine held now (`Idle` after a preemption).
    pub mode: Mode,
    pub spot_available: bool,
    pub changeover_s: i64,
    /// Until the next decision.
    pub step_s: i64,
}

impl Standing {
    /// Whether waiting one more step off on-demand could miss the deadline.
    pub fn must_go_on_demand(&self) -> bool {
        let remaining = self.work_s - self.done_s;
        let left = self.deadline_s - self.now_s;
        left - self.step_s < remaining + self.changeover_s
    }

    /// Work the uniform line expects done by now.
    pub fn expected_s(&self) -> f64 {
        let span = (self.deadline_s - self.start_s).max(1) as f64;
        self.work_s as f64 * ((self.now_s - self.start_s) as f64 / span).clamp(0.0, 1.0)
    }
}

/// The machine to hold for the next step.
pub fn choose(rule: SpotRule, s: &Standing) -> Mode {
    if s.done_s >= s.work_s {
        return Mode::Idle;
    }
    let spot = s.spot_available;
    match rule {
        SpotRule::OnDemandOnly => Mode::OnDemand,
        SpotRule::Greedy => {
            if s.mode == Mode::OnDemand || s.must_go_on_demand() {
                Mode::OnDemand
            } else if spot {
                Mode::Spot
            } else {
                Mode::Idle
            }
        }
        SpotRule::UniformProgress => {
            if s.must_go_on_demand() {
                return Mode::OnDemand;
            }
            let done = s.done_s as f64;
            let expected = s.expected_s();
            match (spot, s.mode) {
                // Leaving on-demand costs a changeover: only when that far ahead.
                (true, Mode::OnDemand) if done < expected + s.changeover_s as f64 => Mode::OnDemand,
                (true, _) => Mode::Spot,
                // On-demand is given up only for spot: idling off it and coming back would
                // cost a changeover each time.
                (false, Mode::OnDemand) => Mode::OnDemand,
                (false, _) if done < expected => Mode::OnDemand,
                (false, _) => Mode::Idle,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const H: i64 = 3600;

    fn at(now_h: f64, done_h: f64, mode: Mode, spot: bool) -> Standing {
        Standing {
            now_s: (now_h * 3600.0) as i64,
            start_s: 0,
            deadline_s: 60 * H,
            work_s: 48 * H,
            done_s: (done_h * 3600.0) as i64,
            mode,
            spot_available: spot,
            changeover_s: 720,
            step_s: 600,
        }
    }

    #[test]
    fn uniform_progress_waits_for_spot_when_ahead_and_buys_when_behind() {
        // At hour 10 the line expects 8 h done.
        assert_eq!(
            choose(SpotRule::UniformProgress, &at(10.0, 9.0, Mode::Idle, false)),
            Mode::Idle
        );
        assert_eq!(
            choose(SpotRule::UniformProgress, &at(10.0, 7.0, Mode::Idle, false)),
            Mode::OnDemand
        );
        assert_eq!(
            choose(SpotRule::UniformProgress, &at(10.0, 7.0, Mode::Idle, true)),
            Mode::Spot
        );
    }

    #[test]
    fn uniform_progress_leaves_on_demand_only_when_ahead_by_a_changeover() {
        assert_eq!(
            choose(
                SpotRule::UniformProgress,
                &at(10.0, 8.1, Mode::OnDemand, true)
            ),
            Mode::OnDemand
        );
        assert_eq!(
            choose(
                SpotRule::UniformProgress,
                &at(10.0, 8.3, Mode::OnDemand, true)
            ),
            Mode::Spot
        );
    }

    #[test]
    fn greedy_holds_spot_and_stays_on_demand_once_there() {
        assert_eq!(
            choose(SpotRule::Greedy, &at(10.0, 2.0, Mode::Idle, true)),
            Mode::Spot
        );
        assert_eq!(
            choose(SpotRule::Greedy, &at(10.0, 2.0, Mode::Idle, false)),
            Mode::Idle
        );
        assert_eq!(
            choose(SpotRule::Greedy, &at(10.0, 2.0, Mode::OnDemand, true)),
            Mode::OnDemand
        );
    }

    #[test]
    fn the_deadline_forces_on_demand_in_time_for_every_rule() {
        // 11.8 h left, 11.6 h to do: an on-demand finish needs 11.6 + 0.2 h.
        for rule in SpotRule::ALL {
            assert_eq!(
                choose(rule, &at(48.2, 36.4, Mode::Spot, true)),
                Mode::OnDemand
            );
        }
        // A step earlier there was room to wait.
        assert!(!at(47.0, 36.4, Mode::Idle, false).must_go_on_demand());
    }

    #[test]
    fn a_finished_job_holds_nothing() {
        for rule in SpotRule::ALL {
            assert_eq!(choose(rule, &at(50.0, 48.0, Mode::Spot, true)), Mode::Idle);
        }
    }
}
