//! Slurm's job states (squeue/sacct `State`) in Ferry's terms, with the reason in words.

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SlurmPhase {
    Waiting,
    Running,
    /// Ended: Ferry's final state name and why.
    Ended {
        state: &'static str,
        reason: String,
    },
}

/// Maps a state as `squeue`/`sacct` print it (`CANCELLED by 1000`, `COMPLETED`, `OUT_OF_MEMORY`).
pub fn phase(state: &str, exit_code: Option<i32>) -> Result<SlurmPhase, String> {
    let word = state
        .split_whitespace()
        .next()
        .unwrap_or("")
        .trim_end_matches('+');
    let ended = |state: &'static str, reason: String| Ok(SlurmPhase::Ended { state, reason });
    match word {
        "PENDING" | "CONFIGURING" | "REQUEUED" | "REQUEUE_FED" | "REQUEUE_HOLD"
        | "RESV_DEL_HOLD" | "SUSPENDED" | "STOPPED" => Ok(SlurmPhase::Waiting),
        "RUNNING" | "COMPLETING" | "RESIZING" | "SIGNALING" | "STAGE_OUT" => {
            Ok(SlurmPhase::Running)
        }
        "COMPLETED" => ended("succeeded", "exit code 0".into()),
        "FAILED" => ended(
            "failed",
            format!(
                "exit code {}",
                exit_code.map_or("?".into(), |c| c.to_string())
            ),
        ),
        "TIMEOUT" => ended("timed-out", "reached its Slurm time limit".into()),
        "DEADLINE" => ended("timed-out", "reached its Slurm deadline".into()),
        "CANCELLED" => ended(
            "cancelled",
            format!("cancelled{}", state.strip_prefix("CANCELLED").unwrap_or("")),
        ),
        "PREEMPTED" => ended("failed", "preempted by a higher-priority job".into()),
        "NODE_FAIL" => ended("failed", "its node failed".into()),
        "BOOT_FAIL" => ended("failed", "its node failed to boot".into()),
        "OUT_OF_MEMORY" => ended("failed", "ran out of memory (raise --mem)".into()),
        "REVOKED" => ended("cancelled", "revoked (federation)".into()),
        "SPECIAL_EXIT" => ended("failed", "special exit (held for the user)".into()),
        other => Err(format!("unknown Slurm job state '{other}'")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_state() {
        assert_eq!(phase("PENDING", None), Ok(SlurmPhase::Waiting));
        assert_eq!(phase("RUNNING", None), Ok(SlurmPhase::Running));
        assert_eq!(phase("COMPLETING", None), Ok(SlurmPhase::Running));
        let ended = |s: &str, c: Option<i32>| match phase(s, c).unwrap() {
            SlurmPhase::Ended { state, reason } => (state, reason),
            other => panic!("{other:?}"),
        };
        assert_eq!(ended("COMPLETED", Some(0)).0, "succeeded");
        assert_eq!(
            ended("FAILED", Some(3)),
            ("failed", "exit code 3".to_string())
        );
        assert_eq!(ended("TIMEOUT", None).0, "timed-out");
        assert_eq!(
            ended("CANCELLED by 1000", None),
            ("cancelled", "cancelled by 1000".to_string())
        );
        assert_eq!(
            ended("PREEMPTED", None).1,
            "preempted by a higher-priority job"
        );
        assert_eq!(ended("NODE_FAIL", None).1, "its node failed");
        assert!(ended("OUT_OF_MEMORY", None).1.contains("--mem"));
        assert_eq!(ended("CANCELLED+", None).0, "cancelled");
        assert!(phase("WEIRD", None).is_err());
    }
}
