//! Spot availability traces: `{"metadata": {"gap_seconds": 600}, "data": [1, 0, 1, ...]}`,
//! the format of skypilot-org/spot-traces (Wu et al., "Can't Be Late", NSDI '24). Each value
//! is how many of the requested instances were available at that tick: above zero means a
//! spot machine could be had. (Some simulators built on these files invert it; this reads
//! them as published, and a test holds the polarity.)

use serde::Deserialize;

#[derive(Debug, Clone, PartialEq)]
pub struct SpotTrace {
    pub gap_s: i64,
    /// Whether spot capacity was there, tick by tick.
    pub available: Vec<bool>,
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{file}: {message}")]
pub struct SpotTraceError {
    pub file: String,
    pub message: String,
}

#[derive(Deserialize)]
struct Raw {
    metadata: Metadata,
    data: Vec<serde_json::Value>,
}

#[derive(Deserialize)]
struct Metadata {
    gap_seconds: serde_json::Value,
}

impl SpotTrace {
    pub fn parse(text: &str, file: &str) -> Result<SpotTrace, SpotTraceError> {
        let err = |message: String| SpotTraceError {
            file: file.to_string(),
            message,
        };
        let raw: Raw = serde_json::from_str(text).map_err(|e| {
            err(format!(
                "not a spot availability trace ({{\"metadata\": {{\"gap_seconds\": N}}, \"data\": [1, 0, ...]}}): {e}"
            ))
        })?;
        let gap_s = raw
            .metadata
            .gap_seconds
            .as_f64()
            .filter(|g| g.is_finite() && *g >= 1.0 && g.fract() == 0.0 && *g <= 86_400.0 * 7.0)
            .ok_or_else(|| {
                err(format!(
                    "metadata.gap_seconds {} is not a whole number of seconds between 1 and a week",
                    raw.metadata.gap_seconds
                ))
            })? as i64;
        let available = raw
            .data
            .iter()
            .enumerate()
            .map(|(i, v)| match v.as_f64() {
                Some(n) if n.is_finite() && n >= 0.0 => Ok(n > 0.0),
                _ => Err(err(format!(
                    "data[{i}] is {v}: each tick is a count of available instances (0 or more)"
                ))),
            })
            .collect::<Result<Vec<bool>, _>>()?;
        if available.is_empty() {
            return Err(err("data is empty: no ticks".to_string()));
        }
        Ok(SpotTrace { gap_s, available })
    }

    /// The share of ticks with spot capacity.
    pub fn availability(&self) -> f64 {
        self.available.iter().filter(|a| **a).count() as f64 / self.available.len() as f64
    }

    pub fn hours(&self) -> f64 {
        (self.available.len() as i64 * self.gap_s) as f64 / 3600.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_means_available() {
        let t = SpotTrace::parse(
            r#"{"metadata": {"gap_seconds": 600}, "data": [1, 0, 0, 1, 2]}"#,
            "s.json",
        )
        .unwrap();
        assert_eq!(t.gap_s, 600);
        assert_eq!(t.available, [true, false, false, true, true]);
        assert!((t.availability() - 0.6).abs() < 1e-12);
    }

    #[test]
    fn bad_traces_say_what_is_wrong() {
        for (text, want) in [
            ("[1,0]", "not a spot availability trace"),
            (
                r#"{"metadata": {"gap_seconds": 0}, "data": [1]}"#,
                "gap_seconds 0",
            ),
            (
                r#"{"metadata": {"gap_seconds": 600}, "data": []}"#,
                "data is empty",
            ),
            (
                r#"{"metadata": {"gap_seconds": 600}, "data": [1, -1]}"#,
                "data[1] is -1",
            ),
            (
                r#"{"metadata": {"gap_seconds": 600}, "data": [1, "x"]}"#,
                "data[1] is \"x\"",
            ),
        ] {
            let e = SpotTrace::parse(text, "s.json").unwrap_err().to_string();
            assert!(e.contains(want), "{e} / {want}");
        }
    }
}
