//! How a provider bills an instance's life: a price per hour, charged in increments with a
//! minimum. One rule, used by the ledger and by the tests' fake providers alike.

use ferry_job::Micros;
use serde::{Deserialize, Serialize};

/// A provider's billing rule for compute.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Billing {
    /// Time is charged in whole increments of this many seconds, rounded up (1 = per second,
    /// 60 = Lambda's one-minute increments).
    pub increment_s: u32,
    /// At least this many seconds are charged per instance (AWS: 60).
    pub minimum_s: u32,
}

impl Billing {
    pub const PER_SECOND: Billing = Billing {
        increment_s: 1,
        minimum_s: 0,
    };

    /// The seconds billed for an instance that lived `ms` milliseconds.
    pub fn billed_seconds(&self, ms: i64) -> i64 {
        let inc = i64::from(self.increment_s.max(1));
        let secs = (ms.max(0) + 999) / 1000; // a started second is a second
        let rounded = (secs + inc - 1) / inc * inc;
        rounded.max(i64::from(self.minimum_s))
    }

    /// What an instance that lived `ms` milliseconds costs at `per_hour`, exactly: whole
    /// billed seconds times the hourly price, rounded half up once at the end.
    pub fn charge(&self, per_hour: Micros, ms: i64) -> Micros {
        let secs = i128::from(self.billed_seconds(ms));
        Micros(((i128::from(per_hour.0) * secs + 1800) / 3600) as i64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn rounds_to_increments_and_minimums() {
        let lambda = Billing {
            increment_s: 60,
            minimum_s: 0,
        };
        assert_eq!(lambda.billed_seconds(61_000), 120);
        assert_eq!(lambda.billed_seconds(60_000), 60);
        let aws = Billing {
            increment_s: 1,
            minimum_s: 60,
        };
        assert_eq!(aws.billed_seconds(5_000), 60);
        assert_eq!(aws.billed_seconds(90_001), 91);
        assert_eq!(Billing::PER_SECOND.billed_seconds(0), 0);
        // $3.60/h for 10 s is exactly one cent.
        assert_eq!(
            Billing::PER_SECOND.charge(Micros(3_600_000), 10_000),
            Micros(10_000)
        );
    }

    proptest! {
        #[test]
        fn a_longer_life_never_costs_less(a in 0i64..10_000_000, extra in 0i64..10_000_000,
                                          price in 0i64..100_000_000, inc in 1u32..3600, min in 0u32..3600) {
            let b = Billing { increment_s: inc, minimum_s: min };
            prop_assert!(b.charge(Micros(price), a) <= b.charge(Micros(price), a + extra));
            prop_assert!(b.billed_seconds(a) * 1000 >= a);
            prop_assert!(b.billed_seconds(a) % i64::from(inc) == 0 || b.billed_seconds(a) == i64::from(min));
        }
    }
}
