//! Inclusive ranges written the way people write them on a command line:
//! `24GB..80GB`, `40GB..`, `..48`, `8`, `1..8`.

use serde::Serialize;
use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Range {
    pub min: Option<f64>,
    pub max: Option<f64>,
}

impl Range {
    pub fn contains(&self, v: f64) -> bool {
        self.min.is_none_or(|m| v >= m) && self.max.is_none_or(|m| v <= m)
    }

    /// Parses a range of memory sizes; units GB (default), GiB, TB, MB.
    pub fn parse_memory(s: &str) -> Result<Range, String> {
        Self::parse_with(s, parse_gb)
    }

    /// Parses a range of whole counts.
    pub fn parse_count(s: &str) -> Result<Range, String> {
        Self::parse_with(s, |t| {
            t.parse::<u32>()
                .map(f64::from)
                .map_err(|_| format!("'{t}' is not a whole number"))
        })
    }

    fn parse_with(s: &str, bound: impl Fn(&str) -> Result<f64, String>) -> Result<Range, String> {
        let s = s.trim();
        let (lo, hi) = match s.split_once("..") {
            Some((lo, hi)) => (lo.trim(), hi.trim().trim_start_matches('=')),
            None => (s, s),
        };
        if lo.is_empty() && hi.is_empty() {
            return Err(format!(
                "'{s}' is not a range (write 24GB..80GB, 40GB.., ..48 or 8)"
            ));
        }
        let opt = |t: &str| -> Result<Option<f64>, String> {
            if t.is_empty() {
                Ok(None)
            } else {
                bound(t).map(Some)
            }
        };
        let r = Range {
            min: opt(lo)?,
            max: opt(hi)?,
        };
        if let (Some(a), Some(b)) = (r.min, r.max)
            && a > b
        {
            return Err(format!("range '{s}' is empty: {a} is above {b}"));
        }
        Ok(r)
    }
}

fn parse_gb(t: &str) -> Result<f64, String> {
    let lower = t.to_ascii_lowercase();
    let split = lower
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(lower.len());
    let (num, unit) = lower.split_at(split);
    let n: f64 = num
        .parse()
        .map_err(|_| format!("'{t}' is not a memory size (e.g. 24GB)"))?;
    let factor = match unit.trim() {
        "" | "g" | "gb" => 1.0,
        "gib" => 1.073_741_824,
        "t" | "tb" => 1000.0,
        "m" | "mb" => 0.001,
        "mib" => 0.001_048_576,
        other => {
            return Err(format!(
                "unknown memory unit '{other}' in '{t}' (use GB, GiB, TB or MB)"
            ));
        }
    };
    Ok(n * factor)
}

impl fmt::Display for Range {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.min, self.max) {
            (Some(a), Some(b)) if a == b => write!(f, "{a}"),
            (a, b) => write!(
                f,
                "{}..{}",
                a.map(|v| v.to_string()).unwrap_or_default(),
                b.map(|v| v.to_string()).unwrap_or_default()
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn memory_ranges() {
        let r = Range::parse_memory("24GB..80GB").unwrap();
        assert!(r.contains(24.0) && r.contains(80.0) && !r.contains(94.0) && !r.contains(16.0));
        let r = Range::parse_memory("40GB..").unwrap();
        assert!(r.contains(141.0) && !r.contains(24.0));
        let r = Range::parse_memory("..48").unwrap();
        assert!(r.contains(48.0) && !r.contains(80.0));
        assert_eq!(
            Range::parse_memory("80").unwrap(),
            Range {
                min: Some(80.0),
                max: Some(80.0)
            }
        );
        assert!((Range::parse_memory("1TB..").unwrap().min.unwrap() - 1000.0).abs() < 1e-9);
        assert!(
            Range::parse_memory("80GB..24GB")
                .unwrap_err()
                .contains("empty")
        );
        assert!(Range::parse_memory("lots").is_err());
        assert!(
            Range::parse_memory("24XB..")
                .unwrap_err()
                .contains("unknown memory unit")
        );
        assert!(Range::parse_memory("..").is_err());
    }

    #[test]
    fn count_ranges() {
        let r = Range::parse_count("1..8").unwrap();
        assert!(r.contains(1.0) && r.contains(8.0) && !r.contains(16.0));
        assert!(Range::parse_count("8").unwrap().contains(8.0));
        assert!(!Range::parse_count("8").unwrap().contains(4.0));
        assert!(Range::parse_count("1.5").is_err());
        assert!(Range::parse_count("2..=4").unwrap().contains(4.0));
    }

    proptest! {
        #[test]
        fn parse_never_panics(s in ".{0,20}") {
            let _ = Range::parse_memory(&s);
            let _ = Range::parse_count(&s);
        }

        #[test]
        fn bounds_are_inclusive(a in 0u32..1000, b in 0u32..1000) {
            let (lo, hi) = (a.min(b), a.max(b));
            let r = Range::parse_count(&format!("{lo}..{hi}")).unwrap();
            prop_assert!(r.contains(f64::from(lo)) && r.contains(f64::from(hi)));
            prop_assert!(!r.contains(f64::from(hi) + 1.0));
        }
    }
}
