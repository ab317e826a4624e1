//! Currency rates, each with its source. USD is the base; any other currency an offer
//! is priced in (CAD, Golem's GLM) converts through a stated rate.

use crate::date::Date;
use serde::Serialize;

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Rate {
    pub currency: String,
    pub usd_per_unit: f64,
    pub source: String,
    pub as_of: Date,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct Rates {
    rates: Vec<Rate>,
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum FxError {
    #[error("fx.csv line {line}: {message}")]
    Row { line: u64, message: String },
}

impl Rates {
    /// Parses `currency,usd_per_unit,source,as_of`.
    pub fn parse(text: &str) -> Result<Rates, FxError> {
        let mut reader = csv::ReaderBuilder::new().from_reader(text.as_bytes());
        let mut rates = vec![];
        for rec in reader.records() {
            let rec = rec.map_err(|e| FxError::Row {
                line: e.position().map_or(0, |p| p.line()),
                message: e.to_string(),
            })?;
            let line = rec.position().map_or(0, |p| p.line());
            let row_err = |message: String| FxError::Row { line, message };
            if rec.len() != 4 {
                return Err(row_err(format!("expected 4 fields, found {}", rec.len())));
            }
            let usd_per_unit: f64 = rec[1]
                .trim()
                .parse()
                .map_err(|_| row_err(format!("usd_per_unit '{}' is not a number", &rec[1])))?;
            if !(usd_per_unit > 0.0 && usd_per_unit.is_finite()) {
                return Err(row_err("usd_per_unit must be > 0".into()));
            }
            if rec[2].trim().is_empty() {
                return Err(row_err("missing source".into()));
            }
            let as_of = rec[3].parse().map_err(|e| row_err(format!("as_of: {e}")))?;
            rates.push(Rate {
                currency: rec[0].trim().to_ascii_uppercase(),
                usd_per_unit,
                source: rec[2].trim().to_string(),
                as_of,
            });
        }
        Ok(Rates { rates })
    }

    pub fn get(&self, currency: &str) -> Option<&Rate> {
        if currency.eq_ignore_ascii_case("USD") {
            return None;
        }
        self.rates
            .iter()
            .find(|r| r.currency.eq_ignore_ascii_case(currency))
    }

    /// USD per one unit of `currency`; `None` when the rate is unknown.
    pub fn usd_per_unit(&self, currency: &str) -> Option<f64> {
        if currency.eq_ignore_ascii_case("USD") {
            Some(1.0)
        } else {
            self.get(currency).map(|r| r.usd_per_unit)
        }
    }

    pub fn all(&self) -> &[Rate] {
        &self.rates
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_converts() {
        let r = Rates::parse(
            "currency,usd_per_unit,source,as_of\nUSD,1,definition,2026-11-01\nGLM,0.25,coingecko,2026-11-01\n",
        )
        .unwrap();
        assert_eq!(r.usd_per_unit("usd"), Some(1.0));
        assert_eq!(r.usd_per_unit("GLM"), Some(0.25));
        assert_eq!(r.usd_per_unit("EUR"), None);
    }

    #[test]
    fn rejects_bad_rows() {
        let err =
            Rates::parse("currency,usd_per_unit,source,as_of\nGLM,-1,x,2026-11-01\n").unwrap_err();
        assert!(err.to_string().contains("line 2"), "{err}");
        assert!(Rates::parse("currency,usd_per_unit,source,as_of\nGLM,0.2,,2026-11-01\n").is_err());
    }
}
