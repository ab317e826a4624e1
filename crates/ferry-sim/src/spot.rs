//! One job with a deadline on spot capacity, replayed from many random start points of an
//! availability trace, step by step through [`ferry_policy::progress::choose`].
//!
//! Each step is one tick of the trace. A spot machine held when the tick says there is no
//! capacity is lost (a preemption); progress made before is kept (the job checkpoints).
//! Every move onto a fresh machine costs the changeover, billed and without progress.

use crate::rng::SplitMix64;
use crate::spot_trace::SpotTrace;
use ferry_job::Micros;
use ferry_policy::progress::{self, Mode, SpotRule, Standing};
use serde::Serialize;

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SpotSetup {
    pub rule: SpotRule,
    /// Compute the job needs, and its deadline from its start, seconds.
    pub work_s: i64,
    pub deadline_s: i64,
    pub changeover_s: i64,
    /// Per hour of a machine.
    pub on_demand_price: Micros,
    pub spot_price: Micros,
    pub starts: u32,
    pub seed: u64,
}

/// One start point's outcome.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Run {
    pub start_tick: usize,
    pub on_demand_hours: f64,
    pub spot_hours: f64,
    pub preemptions: u32,
    pub finished_hours: f64,
    pub missed: bool,
    pub cost: Micros,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SpotReport {
    pub rule: SpotRule,
    pub starts: u32,
    /// Means over the start points.
    pub on_demand_hours: f64,
    pub spot_hours: f64,
    pub preemptions: f64,
    pub cost: Micros,
    /// What on-demand alone would cost (work plus one changeover).
    pub on_demand_only_cost: Micros,
    pub missed_deadlines: u32,
    #[serde(skip)]
    pub runs: Vec<Run>,
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SpotError {
    #[error(
        "the deadline ({deadline_h} h) leaves no time for the job ({work_h} h) and its changeover ({changeover_h} h) even on on-demand"
    )]
    Impossible {
        work_h: f64,
        deadline_h: f64,
        changeover_h: f64,
    },
    #[error("the trace covers {trace_h:.1} h, shorter than the deadline ({deadline_h} h)")]
    TraceTooShort { trace_h: f64, deadline_h: f64 },
    #[error("--starts must be at least 1")]
    NoStarts,
}

fn hours(s: i64) -> f64 {
    s as f64 / 3600.0
}

/// The cost of `s` seconds at `per_hour`, exact, rounded half up once.
pub(crate) fn cost(per_hour: Micros, s: i64) -> Micros {
    let exact = i128::from(per_hour.0) * i128::from(s.max(0));
    Micros(((exact + 1800) / 3600) as i64)
}

pub fn replay(setup: &SpotSetup, trace: &SpotTrace) -> Result<SpotReport, SpotError> {
    if setup.starts == 0 {
        return Err(SpotError::NoStarts);
    }
    if setup.work_s + setup.changeover_s > setup.deadline_s || setup.work_s <= 0 {
        return Err(SpotError::Impossible {
            work_h: hours(setup.work_s),
            deadline_h: hours(setup.deadline_s),
            changeover_h: hours(setup.changeover_s),
        });
    }
    let window = (setup.deadline_s + trace.gap_s - 1) / trace.gap_s;
    if window as usize > trace.available.len() {
        return Err(SpotError::TraceTooShort {
            trace_h: trace.hours(),
            deadline_h: hours(setup.deadline_s),
        });
    }
    let last_start = trace.available.len() - window as usize;
    let mut rng = SplitMix64::new(setup.seed);
    let runs: Vec<Run> = (0..setup.starts)
        .map(|_| {
            let start = rng.below(last_start as u64 + 1) as usize;
            run_from(setup, trace, start)
        })
        .collect();
    let n = f64::from(setup.starts);
    let total_cost: i128 = runs.iter().map(|r| i128::from(r.cost.0)).sum();
    Ok(SpotReport {
        rule: setup.rule,
        starts: setup.starts,
        on_demand_hours: runs.iter().map(|r| r.on_demand_hours).sum::<f64>() / n,
        spot_hours: runs.iter().map(|r| r.spot_hours).sum::<f64>() / n,
        preemptions: runs.iter().map(|r| f64::from(r.preemptions)).sum::<f64>() / n,
        cost: Micros((total_cost / i128::from(setup.starts)) as i64),
        on_demand_only_cost: cost(setup.on_demand_price, setup.work_s + setup.changeover_s),
        missed_deadlines: runs.iter().filter(|r| r.missed).count() as u32,
        runs,
    })
}

/// The job from tick `start`; the trace wraps if the job runs past its end (it can only
/// when the deadline is missed, which the safety rule prevents).
pub(crate) fn run_from(setup: &SpotSetup, trace: &SpotTrace, start: usize) -> Run {
    let step = trace.gap_s;
    let mut mode = Mode::Idle;
    let mut changeover_left = 0i64;
    let (mut done, mut od_s, mut spot_s, mut preemptions) = (0i64, 0i64, 0i64, 0u32);
    let mut now = 0i64;
    let mut k = start;
    while done < setup.work_s {
        let available = trace.available[k % trace.available.len()];
        if mode == Mode::Spot && !available {
            preemptions += 1;
            mode = Mode::Idle;
        }
        let next = progress::choose(
            setup.rule,
            &Standing {
                now_s: now,
                start_s: 0,
                deadline_s: setup.deadline_s,
                work_s: setup.work_s,
                done_s: done,
                mode,
                spot_available: available,
                changeover_s: setup.changeover_s,
                step_s: step,
            },
        );
        let next = if next == Mode::Spot && !available {
            Mode::Idle // a policy cannot hold spot capacity that is not there
        } else {
            next
        };
        if next != mode {
            changeover_left = if next == Mode::Idle {
                0
            } else {
                setup.changeover_s
            };
            mode = next;
        }
        let mut used = 0;
        if mode != Mode::Idle {
            let boot = changeover_left.min(step);
            changeover_left -= boot;
            let work = (step - boot).min(setup.work_s - done);
            done += work;
            used = boot + work;
            match mode {
                Mode::Spot => spot_s += used,
                _ => od_s += used,
            }
        }
        now += if done >= setup.work_s { used } else { step };
        k += 1;
    }
    Run {
        start_tick: start,
        on_demand_hours: hours(od_s),
        spot_hours: hours(spot_s),
        preemptions,
        finished_hours: hours(now),
        missed: now > setup.deadline_s,
        cost: cost(setup.on_demand_price, od_s) + cost(setup.spot_price, spot_s),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn setup(rule: SpotRule) -> SpotSetup {
        SpotSetup {
            rule,
            work_s: 10 * 3600,
            deadline_s: 14 * 3600,
            changeover_s: 720,
            on_demand_price: Micros(3_000_000),
            spot_price: Micros(1_000_000),
            starts: 20,
            seed: 1,
        }
    }

    fn trace(pattern: &[u8], repeat: usize) -> SpotTrace {
        SpotTrace {
            gap_s: 600,
            available: pattern
                .iter()
                .cycle()
                .take(pattern.len() * repeat)
                .map(|v| *v > 0)
                .collect(),
        }
    }

    #[test]
    fn always_available_spot_is_all_spot_and_never_available_is_all_on_demand() {
        let up = replay(&setup(SpotRule::UniformProgress), &trace(&[1], 200)).unwrap();
        assert_eq!(up.on_demand_hours, 0.0);
        assert!((up.spot_hours - 10.2).abs() < 1e-9, "{}", up.spot_hours);
        let none = replay(&setup(SpotRule::UniformProgress), &trace(&[0], 200)).unwrap();
        assert_eq!(none.spot_hours, 0.0);
        assert_eq!(none.missed_deadlines, 0);
        assert!(
            (none.on_demand_hours - 10.2).abs() < 1e-9,
            "{}",
            none.on_demand_hours
        );
    }

    #[test]
    fn on_demand_only_costs_the_work_and_one_changeover() {
        let r = replay(&setup(SpotRule::OnDemandOnly), &trace(&[1, 0], 100)).unwrap();
        assert!((r.on_demand_hours - 10.2).abs() < 1e-9);
        assert_eq!(r.cost, r.on_demand_only_cost);
        assert_eq!(r.cost, Micros(30_600_000));
    }

    #[test]
    fn flapping_capacity_counts_preemptions_and_meets_the_deadline() {
        for rule in SpotRule::ALL {
            let r = replay(&setup(rule), &trace(&[1, 1, 1, 0, 0], 100)).unwrap();
            assert_eq!(r.missed_deadlines, 0, "{rule:?}");
            if rule != SpotRule::OnDemandOnly {
                assert!(r.preemptions > 0.0, "{rule:?}");
            }
        }
    }

    #[test]
    fn impossible_setups_are_refused() {
        let mut s = setup(SpotRule::Greedy);
        s.deadline_s = s.work_s;
        assert!(matches!(
            replay(&s, &trace(&[1], 200)),
            Err(SpotError::Impossible { .. })
        ));
        assert!(matches!(
            replay(&setup(SpotRule::Greedy), &trace(&[1], 10)),
            Err(SpotError::TraceTooShort { .. })
        ));
    }

    #[test]
    fn the_same_seed_gives_the_same_runs() {
        let t = trace(&[1, 0, 1, 1, 0, 0, 0, 1], 60);
        let a = replay(&setup(SpotRule::UniformProgress), &t).unwrap();
        let b = replay(&setup(SpotRule::UniformProgress), &t).unwrap();
        assert_eq!(a, b);
    }
}
