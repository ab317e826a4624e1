use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// A job's lifecycle. Terminal states never change again.
///
/// ```text
/// Queued ─► Starting ─► Running ─► Succeeded | Failed | TimedOut | Cancelled
///    │          │           └────► Lost  (the backend no longer knows it)
///    └──────────┴──► Cancelled | Failed
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum JobState {
    Queued,
    Starting,
    Running,
    Succeeded,
    Failed,
    TimedOut,
    Cancelled,
    Lost,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("a job cannot go from {from} to {to}")]
pub struct TransitionError {
    pub from: JobState,
    pub to: JobState,
}

impl JobState {
    pub const ALL: [JobState; 8] = [
        JobState::Queued,
        JobState::Starting,
        JobState::Running,
        JobState::Succeeded,
        JobState::Failed,
        JobState::TimedOut,
        JobState::Cancelled,
        JobState::Lost,
    ];

    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            JobState::Succeeded
                | JobState::Failed
                | JobState::TimedOut
                | JobState::Cancelled
                | JobState::Lost
        )
    }

    /// Whether the lifecycle allows `self → to`.
    pub fn can_become(self, to: JobState) -> bool {
        use JobState::*;
        match self {
            Queued => matches!(to, Starting | Cancelled | Failed),
            // Back to the queue: the attempt's machine was preempted or never came up.
            Starting => matches!(to, Queued | Running | Cancelled | Failed | Lost),
            Running => matches!(
                to,
                Queued | Succeeded | Failed | TimedOut | Cancelled | Lost
            ),
            _ => false,
        }
    }

    pub fn check(self, to: JobState) -> Result<(), TransitionError> {
        if self.can_become(to) {
            Ok(())
        } else {
            Err(TransitionError { from: self, to })
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            JobState::Queued => "queued",
            JobState::Starting => "starting",
            JobState::Running => "running",
            JobState::Succeeded => "succeeded",
            JobState::Failed => "failed",
            JobState::TimedOut => "timed-out",
            JobState::Cancelled => "cancelled",
            JobState::Lost => "lost",
        }
    }
}

impl fmt::Display for JobState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for JobState {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        JobState::ALL
            .into_iter()
            .find(|st| st.as_str() == s)
            .ok_or_else(|| format!("unknown job state '{s}'"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn terminal_states_are_final_and_names_round_trip() {
        for s in JobState::ALL {
            assert_eq!(s.as_str().parse::<JobState>().unwrap(), s);
            if s.is_terminal() {
                assert!(JobState::ALL.iter().all(|t| !s.can_become(*t)), "{s}");
            }
        }
        assert!(JobState::Queued.can_become(JobState::Starting));
        assert!(JobState::Queued.check(JobState::Succeeded).is_err());
        assert_eq!(
            JobState::Succeeded
                .check(JobState::Running)
                .unwrap_err()
                .to_string(),
            "a job cannot go from succeeded to running"
        );
    }
}
