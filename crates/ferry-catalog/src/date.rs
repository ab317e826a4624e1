//! A calendar date with the precision the source gave (a day or a month). Prices are
//! observed on a date; the catalog's age is computed against a date the caller passes
//! in, so the core never reads the clock.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;
use std::str::FromStr;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Date {
    pub year: i32,
    pub month: u8,
    /// `None` when the source gives only the month.
    pub day: Option<u8>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("'{0}' is not a date (expected YYYY-MM-DD or YYYY-MM)")]
pub struct BadDate(pub String);

impl Date {
    pub fn ymd(year: i32, month: u8, day: u8) -> Date {
        Date {
            year,
            month,
            day: Some(day),
        }
    }

    /// Days since 1970-01-01 (a month-precision date counts from its first day).
    pub fn days_since_epoch(self) -> i64 {
        // Howard Hinnant's days_from_civil.
        let (y, m, d) = (
            i64::from(self.year),
            i64::from(self.month),
            i64::from(self.day.unwrap_or(1)),
        );
        let y = if m <= 2 { y - 1 } else { y };
        let era = if y >= 0 { y } else { y - 399 } / 400;
        let yoe = y - era * 400;
        let mp = (m + 9) % 12;
        let doy = (153 * mp + 2) / 5 + d - 1;
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
        era * 146_097 + doe - 719_468
    }

    pub fn from_days_since_epoch(z: i64) -> Date {
        let z = z + 719_468;
        let era = if z >= 0 { z } else { z - 146_096 } / 146_097;
        let doe = z - era * 146_097;
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        let mp = (5 * doy + 2) / 153;
        let d = doy - (153 * mp + 2) / 5 + 1;
        let m = if mp < 10 { mp + 3 } else { mp - 9 };
        let y = yoe + era * 400 + i64::from(m <= 2);
        Date::ymd(y as i32, m as u8, d as u8)
    }

    /// The UTC day holding `ms` (milliseconds since the epoch).
    pub fn of_epoch_ms(ms: i64) -> Date {
        Date::from_days_since_epoch(ms.div_euclid(86_400_000))
    }

    /// The first instant (epoch milliseconds) of this date's UTC calendar month: the window
    /// a monthly budget counts spend in.
    pub fn month_start_ms(self) -> i64 {
        Date::ymd(self.year, self.month, 1).days_since_epoch() * 86_400_000
    }

    /// `2026-12`.
    pub fn month_label(self) -> String {
        format!("{:04}-{:02}", self.year, self.month)
    }

    /// Whether a row observed on this date is dated after `today`: its first day is later
    /// (so `2026-12` is not after 2026-12-03, and `2027-06` and `2999-01` are). The one rule
    /// every dated row is checked by.
    pub fn is_after(self, today: Date) -> bool {
        self.days_since_epoch() > today.days_since_epoch()
    }

    /// Whole days from `self` to `today` (negative if `self` is in the future).
    pub fn age_days(self, today: Date) -> i64 {
        today.days_since_epoch() - self.days_since_epoch()
    }
}

fn days_in_month(year: i32, month: u8) -> u8 {
    match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        _ if (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 => 29,
        _ => 28,
    }
}

impl FromStr for Date {
    type Err = BadDate;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || BadDate(s.to_string());
        let parts: Vec<&str> = s.trim().split('-').collect();
        if !(2..=3).contains(&parts.len()) || parts[0].len() != 4 || parts[1].len() != 2 {
            return Err(bad());
        }
        let year: i32 = parts[0].parse().map_err(|_| bad())?;
        let month: u8 = parts[1].parse().map_err(|_| bad())?;
        // Any four-digit year reads; one after today is refused by `is_after`, the one rule
        // for dates in the future, whatever their distance.
        if !(1..=12).contains(&month) || year < 1000 {
            return Err(bad());
        }
        let day = match parts.get(2) {
            None => None,
            Some(d) if d.len() == 2 => {
                let d: u8 = d.parse().map_err(|_| bad())?;
                if d == 0 || d > days_in_month(year, month) {
                    return Err(bad());
                }
                Some(d)
            }
            Some(_) => return Err(bad()),
        };
        Ok(Date { year, month, day })
    }
}

impl fmt::Display for Date {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.day {
            Some(d) => write!(f, "{:04}-{:02}-{:02}", self.year, self.month, d),
            None => write!(f, "{:04}-{:02}", self.year, self.month),
        }
    }
}

impl Serialize for Date {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Date {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Date, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

impl Date {
    /// Whether a price observed on this date is older than `max_age_days` on `today`: the
    /// one staleness rule every table that shows a price warns by.
    pub fn is_stale(self, today: Date, max_age_days: u32) -> bool {
        self.age_days(today) > i64::from(max_age_days)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn parses_both_precisions() {
        assert_eq!(
            "2026-11-23".parse::<Date>().unwrap(),
            Date::ymd(2026, 11, 23)
        );
        let m: Date = "2025-05".parse().unwrap();
        assert_eq!(m.day, None);
        assert_eq!(m.to_string(), "2025-05");
        for bad in [
            "2025",
            "2025-13-01",
            "2025-02-30",
            "~2025-05",
            "25-05-01",
            "2025-5-1",
            "",
        ] {
            assert!(bad.parse::<Date>().is_err(), "{bad} should be rejected");
        }
    }

    #[test]
    fn epoch_and_age() {
        assert_eq!(Date::ymd(1970, 1, 1).days_since_epoch(), 0);
        assert_eq!(Date::ymd(2000, 3, 1).days_since_epoch(), 11_017);
        assert_eq!(Date::ymd(2026, 11, 9).age_days(Date::ymd(2026, 11, 23)), 14);
    }

    proptest! {
        #[test]
        fn days_round_trip(z in -100_000i64..200_000) {
            prop_assert_eq!(Date::from_days_since_epoch(z).days_since_epoch(), z);
        }
    }
}

#[cfg(test)]
mod month_tests {
    use super::*;

    #[test]
    fn months_start_at_midnight_utc_on_the_first() {
        let t = 1_796_284_260_000; // 2026-12-03T07:51:00Z
        assert_eq!(Date::of_epoch_ms(t).month_label(), "2026-12");
        assert_eq!(Date::of_epoch_ms(t).month_start_ms(), 1_796_083_200_000);
        assert_eq!(
            Date::of_epoch_ms(1_796_083_199_999).month_label(),
            "2026-11"
        );
        assert_eq!(Date::of_epoch_ms(951_782_400_000).to_string(), "2000-02-29");
        assert_eq!(Date::of_epoch_ms(-1).month_label(), "1969-12");
        assert_eq!(Date::of_epoch_ms(0).month_start_ms(), 0);
    }
}
