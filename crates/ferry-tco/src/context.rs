//! What every model needs besides the workload: the catalog, the defaults, the currency.

use crate::assumptions::Assumptions;
use crate::money::Currency;
use ferry_catalog::Catalog;

/// Facts and defaults a model reads. Cheap to build; borrowed by every model.
#[derive(Debug, Clone)]
pub struct Context<'a> {
    pub catalog: &'a Catalog,
    pub assumptions: &'a Assumptions,
    /// The output currency (explanations are written in it).
    pub currency: Currency,
}

impl<'a> Context<'a> {
    pub fn new(catalog: &'a Catalog, assumptions: &'a Assumptions, currency: Currency) -> Self {
        Context {
            catalog,
            assumptions,
            currency,
        }
    }

    /// A USD amount in words in the output currency.
    pub fn amount(&self, usd: f64) -> String {
        self.currency.amount(usd)
    }

    /// A USD unit price in words in the output currency.
    pub fn price(&self, usd: f64) -> String {
        self.currency.price(usd)
    }
}
