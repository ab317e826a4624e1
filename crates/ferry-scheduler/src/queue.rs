//! Which queued jobs start now: FIFO, with EASY backfill. Pure, so its rules are tested
//! on their own.

/// A job holding GPUs now.
pub struct Running {
    pub gpus: u32,
    /// When it is expected to end; `None` when nobody can say.
    pub ends_ms: Option<i64>,
}

/// A queued job, in queue order.
pub struct Waiting {
    pub gpus: u32,
    pub duration_ms: Option<i64>,
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

    // The head waits. Its shadow time is when enough GPUs will be free for it, counting
    // the jobs started above as running with their durations.
    let mut ends: Vec<(Option<i64>, u32)> = running.iter().map(|r| (r.ends_ms, r.gpus)).collect();
    ends.extend(
        out.iter()
            .map(|&j| (waiting[j].duration_ms.map(|d| now + d), waiting[j].gpus)),
    );
    // Unknown ends last (treated as "never known": only spare GPUs may be used around them).
    ends.sort_by_key(|(e, _)| e.unwrap_or(i64::MAX));
    let mut avail = free;
    let mut shadow: Option<i64> = None;
    for (end, gpus) in &ends {
        if avail >= head.gpus {
            break;
        }
        avail += gpus;
        shadow = *end;
        if end.is_none() {
            break;
        }
    }
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
