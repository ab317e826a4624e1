//! A job may run more than once (a preempted spot instance, a create refused for no
//! capacity): each run is an attempt, with its own placement, its own machine and its own
//! charges. Why an attempt ended is typed, so that the scheduler decides from it (requeue,
//! fail over, finish) instead of matching strings.

use crate::JobState;
use serde::{Deserialize, Serialize};

/// Where a rented attempt is in getting, using and giving back its machine. Steps only go
/// forward; each is written before the action it names is taken, so a restarted server
/// knows what may already have happened (a create whose answer was lost).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum AttemptStep {
    /// Decided; the offer is being re-checked live. Nothing exists at the provider.
    Quoting,
    /// A create was (or is about to be) sent: an instance may exist under the lease name.
    Creating,
    /// The provider has the instance; waiting for it to run.
    Provisioning,
    /// It runs; waiting for SSH to answer, then starting the job.
    Connecting,
    /// The job was started on it.
    Running,
    /// The end is decided (its cause recorded); terminating until a listing shows it gone.
    Terminating,
    /// Gone (verified) or never made; charges booked.
    Ended,
}

impl AttemptStep {
    pub const ALL: [AttemptStep; 7] = [
        AttemptStep::Quoting,
        AttemptStep::Creating,
        AttemptStep::Provisioning,
        AttemptStep::Connecting,
        AttemptStep::Running,
        AttemptStep::Terminating,
        AttemptStep::Ended,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            AttemptStep::Quoting => "quoting",
            AttemptStep::Creating => "creating",
            AttemptStep::Provisioning => "provisioning",
            AttemptStep::Connecting => "connecting",
            AttemptStep::Running => "running",
            AttemptStep::Terminating => "terminating",
            AttemptStep::Ended => "ended",
        }
    }

    /// A step may only move forward (or stay).
    pub fn can_become(self, to: AttemptStep) -> bool {
        self != AttemptStep::Ended && to >= self
    }

    /// Whether a machine may exist at the provider in this step (and so may bill).
    pub fn may_hold_machine(self) -> bool {
        !matches!(self, AttemptStep::Quoting | AttemptStep::Ended)
    }
}

impl std::fmt::Display for AttemptStep {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for AttemptStep {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        AttemptStep::ALL
            .into_iter()
            .find(|x| x.as_str() == s)
            .ok_or_else(|| format!("unknown attempt step '{s}'"))
    }
}

/// Why an attempt ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "cause", rename_all = "kebab-case")]
pub enum EndCause {
    /// The job ended by itself with this code.
    Exited { code: i32 },
    /// The job was killed by a signal it did not ask for.
    Signal { signal: i32 },
    /// Stopped at its maximum runtime.
    TimedOut,
    /// The user cancelled it.
    Cancelled,
    /// The provider took the machine back (spot, outbid): not the job's fault.
    Preempted,
    /// The machine vanished or stopped answering, not by preemption.
    NodeLost,
    /// The job was killed for running out of memory.
    OutOfMemory,
    /// The provider refused to give a machine; `kind` is the error kind
    /// (`no-capacity`, `quota`, `price-above`, `refused`, `auth`, ...).
    NotCreated { kind: String },
    /// The machine did not become ready in time (running, then answering SSH).
    NotReady,
    /// The machine was ready but the job could not be started on it.
    LaunchFailed,
    /// Taken off spot by `deadline-spot`: its progress fell so far behind that only
    /// on-demand could still meet the deadline. It goes on with the plan's on-demand offers.
    MovedToOnDemand,
}

/// What the job does after an attempt ends this way.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NextMove {
    /// The job's own outcome: it ends in this state.
    Finish(JobState),
    /// Not the job's fault: it runs again (a restart), if it has restarts left.
    Restart,
    /// The placement failed before the job ran: the next offer of the plan is tried.
    FailOver,
}

impl EndCause {
    /// How a supervised job ended, from its exit record: a cancel or the maximum runtime
    /// wins over the code those left behind.
    pub fn from_exit(
        cancelled: bool,
        timed_out: bool,
        code: Option<i32>,
        signal: Option<i32>,
    ) -> EndCause {
        if cancelled {
            EndCause::Cancelled
        } else if timed_out {
            EndCause::TimedOut
        } else if let Some(code) = code {
            EndCause::Exited { code }
        } else if let Some(signal) = signal {
            EndCause::Signal { signal }
        } else {
            EndCause::NodeLost
        }
    }

    /// The job's final state where it is not run again (a backend with no restarts): a
    /// lost machine is a lost job, a failed placement a failed one.
    pub fn final_state(&self) -> JobState {
        match self.next_move() {
            NextMove::Finish(state) => state,
            NextMove::Restart => JobState::Lost,
            NextMove::FailOver => JobState::Failed,
        }
    }

    pub fn next_move(&self) -> NextMove {
        match self {
            EndCause::Exited { code: 0 } => NextMove::Finish(JobState::Succeeded),
            EndCause::Exited { .. } | EndCause::Signal { .. } | EndCause::OutOfMemory => {
                NextMove::Finish(JobState::Failed)
            }
            EndCause::LaunchFailed => NextMove::Finish(JobState::Failed),
            EndCause::TimedOut => NextMove::Finish(JobState::TimedOut),
            EndCause::Cancelled => NextMove::Finish(JobState::Cancelled),
            EndCause::Preempted | EndCause::NodeLost => NextMove::Restart,
            EndCause::NotCreated { kind } if kind == "auth" => NextMove::Finish(JobState::Failed),
            EndCause::NotCreated { .. } | EndCause::NotReady | EndCause::MovedToOnDemand => {
                NextMove::FailOver
            }
        }
    }

    /// In words, for `ferry status`.
    pub fn describe(&self) -> String {
        match self {
            EndCause::Exited { code } => format!("exit code {code}"),
            EndCause::Signal { signal } => format!("killed by signal {signal}"),
            EndCause::TimedOut => "stopped at its maximum runtime".into(),
            EndCause::Cancelled => "cancelled".into(),
            EndCause::Preempted => "preempted by the provider".into(),
            EndCause::NodeLost => "the machine was lost".into(),
            EndCause::OutOfMemory => "ran out of memory".into(),
            EndCause::NotCreated { kind } => format!("not created ({kind})"),
            EndCause::NotReady => "the machine did not become ready in time".into(),
            EndCause::LaunchFailed => "the job could not be started on the machine".into(),
            EndCause::MovedToOnDemand => {
                "moved off spot to on-demand to meet the deadline (deadline-spot)".into()
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn steps_only_go_forward_and_causes_decide() {
        assert!(AttemptStep::Creating.can_become(AttemptStep::Provisioning));
        assert!(!AttemptStep::Running.can_become(AttemptStep::Creating));
        assert!(!AttemptStep::Ended.can_become(AttemptStep::Ended));
        for s in AttemptStep::ALL {
            assert_eq!(s.as_str().parse::<AttemptStep>().unwrap(), s);
        }
        assert_eq!(EndCause::Preempted.next_move(), NextMove::Restart);
        assert_eq!(
            EndCause::NotCreated {
                kind: "no-capacity".into()
            }
            .next_move(),
            NextMove::FailOver
        );
        assert_eq!(
            EndCause::NotCreated {
                kind: "auth".into()
            }
            .next_move(),
            NextMove::Finish(JobState::Failed)
        );
        assert_eq!(
            EndCause::Exited { code: 0 }.next_move(),
            NextMove::Finish(JobState::Succeeded)
        );
        assert_eq!(
            EndCause::from_exit(true, true, Some(143), None),
            EndCause::Cancelled
        );
        assert_eq!(
            EndCause::from_exit(false, true, Some(143), None),
            EndCause::TimedOut
        );
        assert_eq!(
            EndCause::from_exit(false, false, None, Some(9)),
            EndCause::Signal { signal: 9 }
        );
        assert_eq!(
            EndCause::from_exit(false, false, None, None).final_state(),
            JobState::Lost
        );
        assert_eq!(EndCause::Exited { code: 2 }.final_state(), JobState::Failed);
        let json = serde_json::to_string(&EndCause::Exited { code: 3 }).unwrap();
        assert_eq!(json, r#"{"cause":"exited","code":3}"#);
    }
}
