//! Summaries of waits.

use serde::Serialize;

/// Queueing delay, hours: the mean and the nearest-rank percentiles.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Default)]
pub struct Delays {
    pub mean: f64,
    pub p50: f64,
    pub p99: f64,
    pub max: f64,
}

impl Delays {
    pub fn of(mut hours: Vec<f64>) -> Delays {
        if hours.is_empty() {
            return Delays::default();
        }
        hours.sort_by(f64::total_cmp);
        let rank = |p: f64| {
            let i = ((p * hours.len() as f64).ceil() as usize).clamp(1, hours.len());
            hours[i - 1]
        };
        Delays {
            mean: hours.iter().sum::<f64>() / hours.len() as f64,
            p50: rank(0.50),
            p99: rank(0.99),
            max: hours[hours.len() - 1],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_percentiles() {
        let d = Delays::of((1..=100).map(f64::from).collect());
        assert_eq!((d.mean, d.p50, d.p99, d.max), (50.5, 50.0, 99.0, 100.0));
        assert_eq!(Delays::of(vec![]), Delays::default());
        assert_eq!(Delays::of(vec![3.0]).p99, 3.0);
    }
}
