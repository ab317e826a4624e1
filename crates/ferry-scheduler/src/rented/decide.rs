//! The rented lifecycle's decisions, pure: from an attempt as recorded, what its provider's
//! listing shows and the time, what to do next; from an ended attempt, what to charge and
//! where the job goes. No I/O here, so every rule is tested on its own.

use crate::payload::{JobPayload, PlannedOffer};
use ferry_cloud::{Billing, Endpoint, Instance, InstanceState};
use ferry_job::{AttemptStep, EndCause, JobState, Micros, NextMove};
use ferry_policy::PolicyKind;
use ferry_policy::progress::{self, Mode, SpotRule, Standing};
use ferry_store::{Attempt, COMPUTE, EGRESS, JobMove, JobPatch, LedgerEntry, OVERHEAD, STORAGE};
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// How long each wait may last before the attempt gives up on its machine.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    /// From the create to the provider saying it runs with an address.
    pub provision: Duration,
    /// From then to SSH answering.
    pub ssh: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        // dstack gives up after 10-20 min of provisioning; images of 10+ GB take that long.
        Timeouts {
            provision: Duration::from_secs(20 * 60),
            ssh: Duration::from_secs(10 * 60),
        }
    }
}

/// What the attempt's offer was, as stored with it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AttemptOffer {
    /// Its place in the job's plan.
    pub plan_index: usize,
    /// Which pass over the plan (`--retry-until-up` starts new ones).
    pub round: u32,
    pub planned: PlannedOffer,
}

impl AttemptOffer {
    pub fn of(a: &Attempt) -> Option<AttemptOffer> {
        serde_json::from_value(a.offer.clone()).ok()
    }
}

/// The provider's listing, as far as this attempt goes.
#[derive(Debug, Clone, Copy)]
pub struct Seen<'a> {
    /// Whether the listing could be had at all this pass.
    pub listed: bool,
    /// The attempt's instance in it (by id when known, else by lease name).
    pub instance: Option<&'a Instance>,
}

/// The next thing to do for an attempt.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// Re-check the offer live, then create.
    QuoteAndCreate,
    /// Send the create (again: nothing carries the lease name yet).
    Create,
    /// The create's instance is there under the lease name: record its id.
    Adopt { id: String },
    /// Nothing to do this pass.
    Wait,
    /// The provider says it runs, and where.
    Ready { endpoint: Endpoint },
    /// Check SSH answers; then start the job.
    Connect,
    /// Ask the job how it is.
    Follow,
    /// The machine is gone without Ferry asking: the attempt ends now.
    Lost { cause: EndCause },
    /// End the attempt: record why, then terminate the machine.
    Stop { cause: EndCause, why: String },
    /// Terminating, and the listing still shows it: terminate (again).
    Terminate { id: String },
    /// Terminating, and the listing shows it gone: settle.
    Gone,
}

/// What an attempt does next.
pub fn decide(a: &Attempt, spot: bool, seen: Seen, now_ms: i64, t: &Timeouts) -> Action {
    let vanished = if spot {
        EndCause::Preempted
    } else {
        EndCause::NodeLost
    };
    let state = seen.instance.map(|i| i.state);
    let gone = seen.listed && matches!(state, None | Some(InstanceState::Terminated));
    let stopped = matches!(state, Some(InstanceState::Stopped));
    let since = |t0: Option<i64>| now_ms - t0.unwrap_or(a.created_at_ms);
    match a.step {
        AttemptStep::Quoting => Action::QuoteAndCreate,
        AttemptStep::Creating => match (seen.listed, seen.instance) {
            (false, _) => Action::Wait,
            (true, Some(i)) => Action::Adopt { id: i.id.0.clone() },
            // A provider may list a new instance a little late: a create sent moments ago
            // is given time to show up before it is sent again (which would make two).
            (true, None) if since(a.create_sent_at_ms) < CREATE_SETTLE.as_millis() as i64 => {
                Action::Wait
            }
            (true, None) => Action::Create,
        },
        AttemptStep::Provisioning | AttemptStep::Connecting | AttemptStep::Running if gone => {
            Action::Lost { cause: vanished }
        }
        AttemptStep::Provisioning | AttemptStep::Connecting | AttemptStep::Running if stopped => {
            Action::Stop {
                cause: vanished,
                why: format!(
                    "the provider stopped the machine ({})",
                    seen.instance.map_or("", |i| i.status_text.as_str())
                ),
            }
        }
        AttemptStep::Provisioning => match seen.instance {
            Some(Instance {
                state: InstanceState::Running,
                endpoint: Some(e),
                ..
            }) => Action::Ready {
                endpoint: e.clone(),
            },
            _ if since(a.create_sent_at_ms) > t.provision.as_millis() as i64 => Action::Stop {
                cause: EndCause::NotReady,
                why: format!(
                    "not running with an address after {} s",
                    t.provision.as_secs()
                ),
            },
            _ => Action::Wait,
        },
        AttemptStep::Connecting if since(a.ready_at_ms) > t.ssh.as_millis() as i64 => {
            Action::Stop {
                cause: EndCause::NotReady,
                why: format!("SSH did not answer within {} s", t.ssh.as_secs()),
            }
        }
        AttemptStep::Connecting => Action::Connect,
        AttemptStep::Running => Action::Follow,
        AttemptStep::Terminating if !seen.listed => Action::Wait,
        AttemptStep::Terminating if gone => Action::Gone,
        AttemptStep::Terminating => Action::Terminate {
            id: seen.instance.map(|i| i.id.0.clone()).unwrap_or_default(),
        },
        AttemptStep::Ended => Action::Wait,
    }
}

/// How long a sent create is given to show up in the provider's listing before it is sent
/// again.
pub const CREATE_SETTLE: Duration = Duration::from_secs(30);

/// For a `deadline-spot` job (a deadline, an estimate): where it stands against the
/// uniform progress line. Its progress is its run time over every attempt, the one under
/// way included (the task is expected to resume from its checkpoint); a move to a fresh
/// machine costs [`crate::RENTAL_READY`] of changeover. `None` for every other job.
pub fn standing(
    payload: &JobPayload,
    submitted_ms: i64,
    attempts: &[Attempt],
    now_ms: i64,
    step_ms: i64,
) -> Option<Standing> {
    if payload.policy != PolicyKind::DeadlineSpot {
        return None;
    }
    let deadline_ms = payload.deadline_ms?;
    let work_ms = (payload.estimated_hours? * 3_600_000.0) as i64;
    let done_ms: i64 = attempts
        .iter()
        .filter_map(|a| {
            let start = a.job_started_at_ms?;
            let end =
                a.job_ended_at_ms
                    .or(a.gone_at_ms)
                    .unwrap_or(if a.step == AttemptStep::Ended {
                        start
                    } else {
                        now_ms
                    });
            Some((end - start).max(0))
        })
        .sum();
    Some(Standing {
        now_s: now_ms / 1000,
        start_s: submitted_ms / 1000,
        deadline_s: deadline_ms / 1000,
        work_s: work_ms / 1000,
        done_s: done_ms / 1000,
        mode: Mode::Idle,
        spot_available: false,
        changeover_s: crate::RENTAL_READY.as_secs() as i64,
        step_s: (step_ms / 1000).max(1),
    })
}

/// Whether a job about to be placed may go on spot: always, but for a `deadline-spot` job
/// that Uniform Progress sends to on-demand (behind the line after a preemption, or short
/// of time), and one that has already moved to on-demand, which stays there.
pub fn spot_allowed(standing: Option<Standing>, attempts: &[Attempt]) -> bool {
    if attempts
        .iter()
        .any(|a| a.cause == Some(EndCause::MovedToOnDemand))
    {
        return false;
    }
    // Idle, with spot not known to be there (the job was just preempted, or never ran):
    // spot is tried unless the line says on-demand.
    standing.is_none_or(|s| progress::choose(SpotRule::UniformProgress, &s) != Mode::OnDemand)
}

/// Whether a `deadline-spot` job running on spot must move to on-demand now: waiting
/// longer on spot could leave too little time to finish on on-demand.
pub fn leave_spot(standing: Option<Standing>) -> bool {
    standing.is_some_and(|s| {
        let on_spot = Standing {
            mode: Mode::Spot,
            spot_available: true,
            ..s
        };
        progress::choose(SpotRule::UniformProgress, &on_spot) == Mode::OnDemand
    })
}

/// Where a queued rented job goes next.
#[derive(Debug, Clone, PartialEq)]
pub enum Choice {
    /// Try this offer of the plan, in this round.
    Offer { plan_index: usize, round: u32 },
    /// Every offer failed this round; wait and try a new round (`--retry-until-up`).
    WaitForRound,
    /// Nothing left to try: the job fails with this reason.
    Exhausted(String),
}

/// The next offer for a job: the first of the plan not failed since its last restart in
/// this round, on a backend this server has.
pub fn next_offer(
    plan: &[PlannedOffer],
    attempts: &[Attempt],
    has_backend: &dyn Fn(&str) -> bool,
    spot_allowed: bool,
    retry_until: Option<i64>,
    now_ms: i64,
) -> Choice {
    let usable = |p: &PlannedOffer| has_backend(&p.backend) && (spot_allowed || !p.offer.spot);
    let round = attempts
        .iter()
        .filter_map(AttemptOffer::of)
        .map(|o| o.round)
        .max()
        .unwrap_or(0);
    // Failures since the last restart (a restart starts the plan afresh).
    let since_restart = attempts
        .iter()
        .rposition(|a| {
            a.cause
                .as_ref()
                .is_some_and(|c| c.next_move() == NextMove::Restart)
        })
        .map_or(0, |i| i + 1);
    let failed: Vec<(usize, String)> = attempts[since_restart..]
        .iter()
        .filter(|a| {
            a.cause
                .as_ref()
                .is_some_and(|c| c.next_move() == NextMove::FailOver)
        })
        .filter_map(|a| {
            let o = AttemptOffer::of(a)?;
            (o.round == round).then(|| {
                (
                    o.plan_index,
                    a.error.clone().unwrap_or_else(|| {
                        a.cause.as_ref().map_or(String::new(), EndCause::describe)
                    }),
                )
            })
        })
        .collect();
    let open = plan
        .iter()
        .enumerate()
        .find(|(i, p)| !failed.iter().any(|(f, _)| f == i) && usable(p));
    if let Some((i, _)) = open {
        return Choice::Offer {
            plan_index: i,
            round,
        };
    }
    let why: Vec<String> = plan
        .iter()
        .enumerate()
        .map(|(i, p)| {
            let what = format!("{} {}", p.backend, p.offer.instance_type);
            match failed.iter().find(|(f, _)| *f == i) {
                Some((_, e)) => format!("{what}: {e}"),
                None if has_backend(&p.backend) => {
                    format!("{what}: spot, and deadline-spot needs on-demand now")
                }
                None => format!("{what}: backend {} not configured", p.backend),
            }
        })
        .collect();
    // A new round starts on the first offer this server can rent.
    let first_usable = plan.iter().position(usable);
    match (retry_until, first_usable) {
        (Some(limit), Some(first)) if now_ms < limit && !failed.is_empty() => {
            let last_end = attempts
                .iter()
                .filter_map(|a| a.gone_at_ms.or(Some(a.updated_at_ms)))
                .max()
                .unwrap_or(0);
            if now_ms - last_end >= RETRY_ROUND_PAUSE.as_millis() as i64 {
                Choice::Offer {
                    plan_index: first,
                    round: round + 1,
                }
            } else {
                Choice::WaitForRound
            }
        }
        _ => Choice::Exhausted(format!(
            "no offer of the plan could be had: {}",
            why.join("; ")
        )),
    }
}

/// Between two rounds over the plan with `--retry-until-up`.
pub const RETRY_ROUND_PAUSE: Duration = Duration::from_secs(15);

/// What an ended attempt is charged: the machine's life from the create to the listing
/// that showed it gone, at the price quoted at creation, rounded as the provider bills,
/// split into the job's run time (`compute`) and the rest (`overhead`: provisioning before
/// the job, teardown after it), plus the disk (`storage`) and the declared outputs sent
/// out (`egress`). An attempt whose machine was never made is charged nothing.
pub fn charges(a: &Attempt, gone_at_ms: i64, billing: Billing) -> Vec<LedgerEntry> {
    let (Some(start), Some(_)) = (a.create_sent_at_ms, a.instance_id.as_ref()) else {
        return vec![];
    };
    let life = (gone_at_ms - start).max(0);
    let total = billing.charge(a.price_per_hour, life);
    let run_ms = match (a.job_started_at_ms, a.job_ended_at_ms) {
        (Some(s), Some(e)) => (e - s).clamp(0, life),
        _ => 0,
    };
    let run = crate::charge(a.price_per_hour, run_ms).min(total);
    let overhead = Micros(total.0 - run.0);
    let h = |ms: i64| ms as f64 / 3_600_000.0;
    let planned = AttemptOffer::of(a);
    let offer = planned
        .as_ref()
        .map(|o| format!("{} {}", o.planned.backend, o.planned.offer.instance_type))
        .unwrap_or_else(|| a.backend.clone());
    let entry = |kind: &str, amount: Micros, description: String| LedgerEntry {
        job_id: a.job_id.clone(),
        attempt: a.attempt,
        at_ms: gone_at_ms,
        kind: kind.to_string(),
        amount,
        description,
    };
    let storage = billing.charge(a.storage_per_hour, life);
    let mut out = vec![
        entry(
            COMPUTE,
            run,
            format!(
                "{:.4} h of the job on {offer} at {}/h",
                h(run_ms),
                a.price_per_hour
            ),
        ),
        entry(
            OVERHEAD,
            overhead,
            format!(
                "{:.4} h of provisioning and teardown; the machine lived {:.4} h, billed as {} s",
                h(life - run_ms),
                h(life),
                billing.billed_seconds(life)
            ),
        ),
    ];
    // The task's outputs leave the provider when its run is over: an attempt whose run
    // ended (a preempted one did not finish) is charged the declared egress.
    if let (Some(_), Some(egress)) = (a.job_ended_at_ms, planned.and_then(|o| o.planned.egress)) {
        out.push(entry(
            EGRESS,
            egress.amount(),
            format!(
                "{} GB sent out (the task's outputs_gb) at ${}/GB",
                egress.gb, egress.usd_per_gb
            ),
        ));
    }
    if storage > Micros::ZERO {
        out.push(entry(
            STORAGE,
            storage,
            format!(
                "the machine's disk for {:.4} h at {}/h",
                h(life),
                a.storage_per_hour
            ),
        ));
    }
    out
}

/// Where the job goes when this attempt ends.
pub fn job_move(
    a: &Attempt,
    cause: &EndCause,
    restarts_used: u32,
    max_restarts: u32,
    first_choice: Option<&PlannedOffer>,
    now_ms: i64,
) -> JobMove {
    let here = AttemptOffer::of(a);
    let finished = a.job_ended_at_ms.or(a.gone_at_ms).unwrap_or(now_ms);
    let finish = |state: JobState, reason: String| JobMove::Finish {
        state,
        patch: JobPatch {
            started_at_ms: a.job_started_at_ms,
            finished_at_ms: Some(finished.max(a.job_started_at_ms.unwrap_or(finished))),
            exit_code: match cause {
                EndCause::Exited { code } => Some(*code),
                _ => None,
            },
            reason: Some(reason.clone()),
            ..JobPatch::default()
        },
        detail: reason,
    };
    match cause.next_move() {
        NextMove::Finish(state) => {
            let mut reason = cause.describe();
            if let (Some(here), Some(first)) = (&here, first_choice)
                && here.plan_index > 0
            {
                reason.push_str(&format!(
                    "; ran on {} {} at ${:.4}/h, not the plan's first choice {} {} at ${:.4}/h",
                    here.planned.backend,
                    here.planned.offer.instance_type,
                    a.price_per_hour.as_usd(),
                    first.backend,
                    first.offer.instance_type,
                    first.offer.expected_price_per_hour
                ));
            }
            // Not the job's own end: the provider's or the machine's words say why.
            if !matches!(
                cause,
                EndCause::Exited { .. } | EndCause::Cancelled | EndCause::TimedOut
            ) && let Some(e) = &a.error
            {
                reason.push_str(&format!(": {e}"));
            }
            if a.attempt > 1 {
                reason.push_str(&format!(" (attempt {})", a.attempt));
            }
            finish(state, reason)
        }
        NextMove::Restart if restarts_used < max_restarts => JobMove::Requeue {
            detail: format!(
                "attempt {}: {}; back in the queue (restart {} of at most {max_restarts})",
                a.attempt,
                cause.describe(),
                restarts_used + 1
            ),
        },
        NextMove::Restart => finish(
            JobState::Failed,
            format!(
                "{} and no restarts are left (job_recovery.max_restarts = {max_restarts})",
                cause.describe()
            ),
        ),
        NextMove::FailOver => JobMove::Requeue {
            detail: format!(
                "attempt {}: {}{}; trying the next offer of the plan",
                a.attempt,
                cause.describe(),
                a.error
                    .as_deref()
                    .map(|e| format!(": {e}"))
                    .unwrap_or_default()
            ),
        },
    }
}

#[cfg(test)]
#[path = "decide_tests.rs"]
mod tests;
