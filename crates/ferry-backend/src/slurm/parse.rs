//! The output of Slurm's commands, read strictly: a line Ferry cannot read is an error that
//! quotes it, never a silent default.

/// `sbatch --parsable` prints `ID` or `ID;CLUSTER`.
pub fn sbatch_id(out: &str) -> Result<u64, String> {
    let line = out
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .unwrap_or("");
    line.split(';')
        .next()
        .and_then(|id| id.trim().parse().ok())
        .ok_or_else(|| format!("sbatch printed no job id: '{}'", out.trim()))
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AcctRow {
    pub job_id: u64,
    pub state: String,
    pub exit_code: Option<i32>,
    pub signal: Option<i32>,
    pub elapsed_s: u64,
}

/// `sacct -n -P -X -o JobID,State,ExitCode,ElapsedRaw` lines (`1234|FAILED|3:0|12`).
pub fn sacct_rows(out: &str) -> Result<Vec<AcctRow>, String> {
    out.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(|l| {
            let f: Vec<&str> = l.split('|').collect();
            let bad = || format!("cannot read sacct line '{l}'");
            if f.len() < 4 {
                return Err(bad());
            }
            let job_id = f[0]
                .split(['.', '_'])
                .next()
                .and_then(|s| s.parse().ok())
                .ok_or_else(bad)?;
            let (code, signal) = match f[2].split_once(':') {
                Some((c, s)) => (c.parse().ok(), s.parse().ok().filter(|s: &i32| *s != 0)),
                None => (f[2].parse().ok(), None),
            };
            Ok(AcctRow {
                job_id,
                state: f[1].to_string(),
                exit_code: code,
                signal,
                elapsed_s: f[3].parse().map_err(|_| bad())?,
            })
        })
        .collect()
}

/// `squeue -h -o '%i|%T|%r'` lines: id, state, reason.
pub fn squeue_rows(out: &str) -> Result<Vec<(u64, String, String)>, String> {
    out.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(|l| {
            let f: Vec<&str> = l.splitn(3, '|').collect();
            match f.as_slice() {
                [id, state, reason] => id
                    .parse()
                    .map(|id| (id, state.to_string(), reason.to_string()))
                    .map_err(|_| format!("cannot read squeue line '{l}'")),
                _ => Err(format!("cannot read squeue line '{l}'")),
            }
        })
        .collect()
}

/// What `scontrol show job -o ID` says of a job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ControlJob {
    pub state: String,
    /// Slurm's reason (`Resources`, `Priority`, `NonZeroExitCode`); `None` when it says None.
    pub reason: Option<String>,
    pub exit_code: Option<i32>,
    pub signal: Option<i32>,
}

/// Reads `scontrol show job -o` output (`JobId=5 ... JobState=FAILED Reason=NonZeroExitCode
/// ... ExitCode=3:0 ...`). `None` when it names no state (an unknown job id).
pub fn scontrol_job(out: &str) -> Option<ControlJob> {
    let field = |name: &str| {
        out.split_whitespace()
            .find_map(|f| f.strip_prefix(name).map(str::to_string))
    };
    let state = field("JobState=")?;
    let (exit_code, signal) = match field("ExitCode=")
        .as_deref()
        .and_then(|f| f.split_once(':'))
    {
        Some((c, s)) => (c.parse().ok(), s.parse().ok().filter(|s: &i32| *s != 0)),
        None => (None, None),
    };
    Some(ControlJob {
        state,
        reason: field("Reason=").filter(|r| r != "None"),
        exit_code,
        signal,
    })
}

/// Seconds from `now` to `at`, both as Slurm writes local times (`2026-11-23T12:00:00`).
/// Both come from the cluster, so its time zone cancels out.
pub fn seconds_until(at: &str, now: &str) -> Option<i64> {
    Some(naive_seconds(at)? - naive_seconds(now)?)
}

fn naive_seconds(t: &str) -> Option<i64> {
    let (date, time) = t.trim().split_once('T')?;
    let d: Vec<i64> = date
        .split('-')
        .map(|x| x.parse().ok())
        .collect::<Option<_>>()?;
    let c: Vec<i64> = time
        .split(':')
        .map(|x| x.parse().ok())
        .collect::<Option<_>>()?;
    let ([y, m, day], [hh, mm, ss]) = (d.as_slice(), c.as_slice()) else {
        return None;
    };
    // Days from the civil calendar (Howard Hinnant's algorithm).
    let y = if *m <= 2 { y - 1 } else { *y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some(days * 86_400 + hh * 3600 + mm * 60 + ss)
}

/// `sbatch --test-only` says on stderr: `sbatch: Job 123 to start at 2026-11-23T12:00:00
/// using 1 processors on nodes n1 in partition short`. Returns the start time as written.
pub fn test_only_start(stderr: &str) -> Option<String> {
    let after = stderr.split(" to start at ").nth(1)?;
    after.split_whitespace().next().map(str::to_string)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sbatch() {
        assert_eq!(sbatch_id("1234\n"), Ok(1234));
        assert_eq!(sbatch_id("1234;narval\n"), Ok(1234));
        assert!(
            sbatch_id("sbatch: error: invalid account")
                .unwrap_err()
                .contains("invalid account")
        );
    }

    #[test]
    fn sacct() {
        let rows =
            sacct_rows("12|COMPLETED|0:0|5\n13|FAILED|3:0|1\n14|CANCELLED by 0|0:15|30\n").unwrap();
        assert_eq!(
            rows[1],
            AcctRow {
                job_id: 13,
                state: "FAILED".into(),
                exit_code: Some(3),
                signal: None,
                elapsed_s: 1
            }
        );
        assert_eq!(rows[2].signal, Some(15));
        assert!(sacct_rows("garbage").is_err());
    }

    #[test]
    fn squeue_and_test_only() {
        let rows = squeue_rows("7|PENDING|Resources\n8|RUNNING|None\n").unwrap();
        assert_eq!(rows[0], (7, "PENDING".into(), "Resources".into()));
        assert!(squeue_rows("x|y").is_err());
        let s = "sbatch: Job 99 to start at 2026-11-23T12:00:00 using 1 processors on nodes localhost in partition short";
        assert_eq!(test_only_start(s).as_deref(), Some("2026-11-23T12:00:00"));
        assert_eq!(test_only_start("nothing"), None);
        assert_eq!(
            scontrol_job(
                "JobId=5 JobName=x JobState=FAILED Reason=NonZeroExitCode ExitCode=3:0 RunTime=00:00:01"
            ),
            Some(ControlJob {
                state: "FAILED".into(),
                reason: Some("NonZeroExitCode".into()),
                exit_code: Some(3),
                signal: None
            })
        );
        let c = scontrol_job("JobState=CANCELLED Reason=None ExitCode=0:15").unwrap();
        assert_eq!((c.reason, c.signal), (None, Some(15)));
        assert_eq!(
            scontrol_job("slurm_load_jobs error: Invalid job id specified"),
            None
        );
    }

    #[test]
    fn waits_between_slurm_times() {
        assert_eq!(
            seconds_until("2026-11-23T12:00:00", "2026-11-23T11:59:30"),
            Some(30)
        );
        assert_eq!(
            seconds_until("2026-03-01T00:00:00", "2026-02-28T23:00:00"),
            Some(3600)
        );
        assert_eq!(
            seconds_until("2025-01-01T00:00:00", "2024-12-31T00:00:00"),
            Some(86_400)
        );
        assert_eq!(seconds_until("Unknown", "2026-11-23T11:59:30"), None);
    }
}
