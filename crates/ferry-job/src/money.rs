use serde::{Deserialize, Serialize};
use std::fmt;
use std::iter::Sum;
use std::ops::{Add, AddAssign, Sub};

/// Exact money: integer micro-dollars (USD × 10⁶). An i64 holds ±9.2 trillion dollars.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default, Serialize, Deserialize,
)]
#[serde(transparent)]
pub struct Micros(pub i64);

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum MoneyError {
    #[error("{0} is not an amount of money")]
    NotFinite(f64),
    #[error("{0} USD is too large to book")]
    TooLarge(f64),
}

impl Micros {
    pub const ZERO: Micros = Micros(0);

    /// Rounds a dollar amount to the nearest micro-dollar (half away from zero).
    pub fn from_usd(usd: f64) -> Result<Micros, MoneyError> {
        if !usd.is_finite() {
            return Err(MoneyError::NotFinite(usd));
        }
        let m = (usd * 1e6).round();
        if m.abs() > 9.0e18 {
            return Err(MoneyError::TooLarge(usd));
        }
        Ok(Micros(m as i64))
    }

    /// The cost of `seconds` at `usd_per_hour`, rounded once, at the end.
    pub fn for_duration(usd_per_hour: f64, seconds: f64) -> Result<Micros, MoneyError> {
        Micros::from_usd(usd_per_hour * seconds / 3600.0)
    }

    pub fn as_usd(self) -> f64 {
        self.0 as f64 / 1e6
    }
}

impl Add for Micros {
    type Output = Micros;
    fn add(self, o: Micros) -> Micros {
        Micros(self.0 + o.0)
    }
}

impl Sub for Micros {
    type Output = Micros;
    fn sub(self, o: Micros) -> Micros {
        Micros(self.0 - o.0)
    }
}

impl AddAssign for Micros {
    fn add_assign(&mut self, o: Micros) {
        self.0 += o.0;
    }
}

impl Sum for Micros {
    fn sum<I: Iterator<Item = Micros>>(iter: I) -> Micros {
        iter.fold(Micros::ZERO, Add::add)
    }
}

/// `$12.345678`: every micro-dollar shown, so sums read back exactly.
impl fmt::Display for Micros {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sign = if self.0 < 0 { "-" } else { "" };
        let a = self.0.unsigned_abs();
        write!(f, "{sign}${}.{:06}", a / 1_000_000, a % 1_000_000)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn exact_and_displayed_exactly() {
        assert_eq!(Micros::from_usd(1.39).unwrap(), Micros(1_390_000));
        assert_eq!(Micros::for_duration(3.99, 90.0).unwrap(), Micros(99_750));
        assert_eq!(Micros(1_234_567).to_string(), "$1.234567");
        assert_eq!(Micros(-5).to_string(), "-$0.000005");
        assert!(Micros::from_usd(f64::NAN).is_err());
        assert!(Micros::from_usd(1e20).is_err());
        assert_eq!(
            [Micros(1), Micros(2)].into_iter().sum::<Micros>(),
            Micros(3)
        );
    }

    proptest! {
        #[test]
        fn sums_are_exact(parts in proptest::collection::vec(0i64..10_000_000_000, 0..100)) {
            let total: Micros = parts.iter().map(|p| Micros(*p)).sum();
            prop_assert_eq!(total.0, parts.iter().sum::<i64>());
        }

        #[test]
        fn rounding_is_within_half_a_micro(usd in -1e9f64..1e9) {
            let m = Micros::from_usd(usd).unwrap();
            prop_assert!((m.as_usd() - usd).abs() <= 0.5e-6 + usd.abs() * 1e-15);
        }
    }
}
