//! Money in words: amounts in the output currency, for explanations and reasons.
//!
//! The models compute in USD; this formats a USD amount in the currency the user asked
//! for, so text and numbers agree.

use ferry_catalog::Catalog;
use serde::Serialize;

/// The output currency and its rate.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Currency {
    /// `USD` or `CAD`.
    pub code: String,
    /// USD per one unit of it (the catalog's rate; 1 for USD).
    pub usd_per_unit: f64,
    /// Where the rate comes from and when, for the output ("1 CAD = 0.7235 USD, Bank of
    /// Canada 2025-04-09").
    pub rate_note: String,
}

impl Currency {
    pub fn usd() -> Currency {
        Currency {
            code: "USD".into(),
            usd_per_unit: 1.0,
            rate_note: "USD (no conversion)".into(),
        }
    }

    /// `code` at the catalog's rate, with the rate's source and date; `None` when the
    /// catalog has no rate for it.
    pub fn from_catalog(catalog: &Catalog, code: &str) -> Option<Currency> {
        if code.eq_ignore_ascii_case("USD") {
            return Some(Currency::usd());
        }
        let rate = catalog.rates.get(code)?;
        Some(Currency {
            code: rate.currency.clone(),
            usd_per_unit: rate.usd_per_unit,
            rate_note: format!(
                "1 {} = {:.4} USD ({}, as of {})",
                rate.currency, rate.usd_per_unit, rate.source, rate.as_of
            ),
        })
    }

    /// Units of this currency per USD.
    pub fn per_usd(&self) -> f64 {
        1.0 / self.usd_per_unit
    }

    fn symbol(&self) -> &str {
        match self.code.as_str() {
            "USD" => "$",
            "CAD" => "CA$",
            other => other,
        }
    }

    /// A USD amount as whole units of this currency with thousands separators:
    /// `$12,345`, `-CA$80`.
    pub fn amount(&self, usd: f64) -> String {
        self.local_amount(usd * self.per_usd())
    }

    /// A USD unit price in this currency, with cents (more digits below 10 cents):
    /// `$2.69`, `$0.0362`.
    pub fn price(&self, usd: f64) -> String {
        self.local_price(usd * self.per_usd())
    }

    /// An amount already in this currency, formatted like [`Currency::amount`].
    pub fn local_amount(&self, v: f64) -> String {
        let sign = if v < -0.5 { "-" } else { "" };
        format!("{sign}{}{}", self.symbol(), thousands(v.abs().round()))
    }

    /// A unit price already in this currency, formatted like [`Currency::price`].
    pub fn local_price(&self, v: f64) -> String {
        let mut digits = format!("{v:.4}");
        // Cents, and more digits only where they carry something: $0.09, $0.0826.
        while digits.ends_with('0') && digits.len() - digits.find('.').unwrap_or(0) > 3 {
            digits.pop();
        }
        if v.abs() >= 0.1 {
            digits = format!("{v:.2}");
        }
        format!("{}{digits}", self.symbol())
    }
}

/// `1234567` → `1,234,567`.
pub fn thousands(v: f64) -> String {
    let digits = format!("{:.0}", v.abs());
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    if v < 0.0 && digits != "0" {
        out.insert(0, '-');
    }
    out
}

/// A number of hours or GPU-hours in words: `1,234` or `2.5`.
pub fn hours(h: f64) -> String {
    if h.abs() >= 100.0 {
        thousands(h.round())
    } else if (h - h.round()).abs() < 0.05 {
        format!("{:.0}", h)
    } else {
        format!("{h:.1}")
    }
}

/// `1 month`, `36 months`.
pub fn months(n: u32) -> String {
    if n == 1 {
        "1 month".to_string()
    } else {
        format!("{n} months")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats() {
        let usd = Currency::usd();
        assert_eq!(usd.amount(1_234_567.4), "$1,234,567");
        assert_eq!(usd.amount(-80.0), "-$80");
        assert_eq!(usd.price(2.69), "$2.69");
        assert_eq!(usd.price(0.0362), "$0.0362");
        assert_eq!(usd.price(0.09), "$0.09");
        assert_eq!(usd.price(0.0), "$0.00");
        let cad = Currency {
            code: "CAD".into(),
            usd_per_unit: 0.5,
            rate_note: String::new(),
        };
        assert_eq!(cad.amount(100.0), "CA$200");
        assert_eq!(thousands(999.0), "999");
        assert_eq!(thousands(1000.0), "1,000");
        assert_eq!(hours(2.5), "2.5");
        assert_eq!(hours(1234.4), "1,234");
    }
}
