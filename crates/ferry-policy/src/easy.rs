//! Which queued jobs start now on one pool of GPUs: in queue order, with EASY backfill.
//! A later job may start out of turn only if it does not delay the first job in line (it
//! ends before that job could start, or it uses GPUs that job will not need).

/// A job holding GPUs now.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Running {
    pub gpus: u32,
    /// When it is expected to end; `None` when nobody can say.
    pub ends_ms: Option<i64>,
}

/// A queued job, in queue order.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Waiting {
    pub gpus: u32,
    pub duration_ms: Option<i64>,
}

/// When a job needing `gpus` can start on a pool with `free` GPUs now, given what runs.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Reservation {
    /// When enough GPUs will be free: `None` when that waits on a job of unknown length
    /// (or never comes: the pool is too small).
    pub shadow: Option<i64>,
    /// GPUs free at that time (all that could be counted, when it never comes).
    pub avail: u32,
}

/// The earliest time `gpus` will be free together, from what runs and when it ends.
pub fn reserve<'a>(
    free: u32,
    running: impl IntoIterator<Item = &'a Running>,
    gpus: u32,
) -> Reservation {
    let mut ends: Vec<(Option<i64>, u32)> =
        running.into_iter().map(|r| (r.ends_ms, r.gpus)).collect();
    // Unknown ends last (treated as "never known": only spare GPUs may be used around them).
    ends.sort_by_key(|(e, _)| e.unwrap_or(i64::MAX));
    let mut avail = free;
    let mut shadow: Option<i64> = None;
    for (end, g) in &ends {
        if avail >= gpus {
            break;
        }
        avail += g;
        shadow = *end;
        if end.is_none() {
            break;
        }
    }
    Reservation { shadow, avail }
}

/// Indices (into `waiting`) of the jobs to start now, in order.
pub fn choose(now: i64, mut free: u32, running: &[Running], waiting: &[Waiting]) -> Vec<usize> {
    let mut out = vec![];
    let mut i = 0;
    // Start jobs in order while the first in line fits.
    while i < waiting.len() && waiting[i].gpus <= free {
        free -= waiting[i].gpus;
        out.push(i);
        i += 1;
    }
    let Some(head) = waiting.get(i) else {
        return out;
    };

    // The head waits until its shadow time: when enough GPUs will be free for it, counting
    // the jobs started above as running with their durations.
    let started: Vec<Running> = out
        .iter()
        .map(|&j| Running {
            gpus: waiting[j].gpus,
            ends_ms: waiting[j].duration_ms.map(|d| now + d),
        })
        .collect();
    let Reservation { shadow, avail } = reserve(free, running.iter().chain(&started), head.gpus);
    let head_fits_eventually = avail >= head.gpus;
    // GPUs free at the shadow time that the head will not need.
    let mut extra = if head_fits_eventually {
        avail - head.gpus
    } else {
        0
    };

    for (j, w) in waiting.iter().enumerate().skip(i + 1) {
        if w.gpus > free {
            continue;
        }
        let ends_before_shadow = match (w.duration_ms, shadow) {
            (Some(d), Some(s)) => now + d <= s,
            _ => false,
        };
        if ends_before_shadow {
            free -= w.gpus;
            out.push(j);
        } else if w.gpus <= extra.min(free) {
            free -= w.gpus;
            extra -= w.gpus;
            out.push(j);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn w(gpus: u32, hours: Option<i64>) -> Waiting {
        Waiting {
            gpus,
            duration_ms: hours.map(|h| h * 3_600_000),
        }
    }

    fn r(gpus: u32, ends_h: Option<i64>) -> Running {
        Running {
            gpus,
            ends_ms: ends_h.map(|h| h * 3_600_000),
        }
    }

    #[test]
    fn fifo_while_the_head_fits() {
        assert_eq!(
            choose(0, 4, &[], &[w(2, None), w(2, None), w(1, None)]),
            [0, 1]
        );
    }

    #[test]
    fn a_short_job_backfills_before_the_head_can_start() {
        // 4 GPUs, 2 busy until hour 5; head needs 4: its shadow is hour 5.
        let running = [r(2, Some(5))];
        // A 1-hour 2-GPU job ends before the shadow: it may start.
        assert_eq!(choose(0, 2, &running, &[w(4, None), w(2, Some(1))]), [1]);
        // A 10-hour one would delay the head: it waits.
        assert_eq!(
            choose(0, 2, &running, &[w(4, None), w(2, Some(10))]),
            Vec::<usize>::new()
        );
        // A job of unknown length waits too.
        assert_eq!(
            choose(0, 2, &running, &[w(4, None), w(2, None)]),
            Vec::<usize>::new()
        );
    }

    #[test]
    fn spare_gpus_the_head_will_not_need_are_used() {
        // 8 GPUs: 4 busy (unknown end), 4 free; head needs 6: at its shadow 8 free, 2 spare.
        let running = [r(4, None)];
        assert_eq!(
            choose(0, 4, &running, &[w(6, None), w(2, None), w(2, None)]),
            [1]
        );
    }

    #[test]
    fn cpu_only_jobs_always_fit() {
        assert_eq!(choose(0, 0, &[r(4, None)], &[w(4, None), w(0, None)]), [1]);
    }
}
