//! Where time comes from: one place. The system clock in production; a hand-moved clock in
//! tests and the simulator, so that timeouts and charges are tested without waiting.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

pub trait Clock: Send + Sync {
    /// Milliseconds since the Unix epoch.
    fn now_ms(&self) -> i64;
}

/// The system's clock.
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_ms(&self) -> i64 {
        now_ms()
    }
}

/// Milliseconds since the Unix epoch by the system clock: the one reading of it.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// The start of the UTC calendar month holding `ms` (milliseconds since the epoch): the
/// window a monthly budget counts spend in.
pub fn utc_month_start_ms(ms: i64) -> i64 {
    let (y, m, _) = civil(ms.div_euclid(86_400_000));
    days_from_civil(y, m, 1) * 86_400_000
}

/// `2026-12` for an instant in December 2026 (UTC).
pub fn utc_month_label(ms: i64) -> String {
    let (y, m, _) = civil(ms.div_euclid(86_400_000));
    format!("{y:04}-{m:02}")
}

// Days since the epoch to and from a civil date: H. Hinnant, "chrono-Compatible Low-Level
// Date Algorithms" (howardhinnant.github.io/date_algorithms.html).
fn civil(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = i64::from(m);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// A clock that moves only when told. Clones share the time.
#[derive(Debug, Clone)]
pub struct ManualClock(Arc<AtomicI64>);

impl ManualClock {
    pub fn at(ms: i64) -> ManualClock {
        ManualClock(Arc::new(AtomicI64::new(ms)))
    }

    pub fn advance(&self, by: Duration) {
        self.0.fetch_add(
            i64::try_from(by.as_millis()).unwrap_or(i64::MAX),
            Ordering::SeqCst,
        );
    }

    pub fn set(&self, ms: i64) {
        self.0.store(ms, Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now_ms(&self) -> i64 {
        self.0.load(Ordering::SeqCst)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_manual_clock_moves_only_when_told_and_clones_share_it() {
        let c = ManualClock::at(1_000);
        let d = c.clone();
        c.advance(Duration::from_secs(2));
        assert_eq!(d.now_ms(), 3_000);
        d.set(5);
        assert_eq!(c.now_ms(), 5);
        assert!(SystemClock.now_ms() > 1_700_000_000_000);
    }
}

#[cfg(test)]
mod month_tests {
    use super::*;

    #[test]
    fn months_start_at_midnight_utc_on_the_first() {
        // 2026-12-03T07:51:00Z
        let t = 1_796_284_260_000;
        assert_eq!(utc_month_label(t), "2026-12");
        assert_eq!(utc_month_start_ms(t), 1_796_083_200_000); // 2026-12-01T00:00:00Z
        assert_eq!(utc_month_start_ms(1_796_083_200_000), 1_796_083_200_000);
        assert_eq!(utc_month_label(1_796_083_199_999), "2026-11");
        assert_eq!(utc_month_label(951_782_400_000), "2000-02"); // 2000-02-29
        assert_eq!(utc_month_start_ms(0), 0);
        assert_eq!(utc_month_label(-1), "1969-12");
    }
}
