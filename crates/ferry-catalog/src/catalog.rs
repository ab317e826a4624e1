//! Specs + offers + where each provider's rows came from.
//!
//! Layering: the embedded snapshot first; a provider's refresh cache replaces that
//! provider's embedded rows; the user's own files add rows; owned hardware comes from
//! the config. Nothing here reads a file: the caller hands over the text.

use crate::date::Date;
use crate::embedded;
use crate::fx::Rates;
use crate::gpu::GpuTable;
use crate::load::{RowError, load_offers};
use crate::offer::{Offer, Origin};
use serde::Serialize;
use std::collections::BTreeMap;

#[derive(Debug, Clone)]
pub struct Catalog {
    pub table: &'static GpuTable,
    pub rates: Rates,
    pub offers: Vec<Offer>,
    /// Rows and files that failed validation, with where and why.
    pub rejected: Vec<RowError>,
    /// The day the embedded snapshot was assembled.
    pub snapshot_date: Date,
}

/// Where one provider's rows come from, and how old they are.
#[derive(Debug, Clone, Serialize)]
pub struct ProviderOrigin {
    pub provider: String,
    pub origin: String,
    pub offers: usize,
    pub oldest: Option<Date>,
    pub newest: Option<Date>,
}

impl Catalog {
    /// The snapshot compiled into the binary, validated like any other file.
    pub fn embedded() -> Catalog {
        let table = GpuTable::embedded();
        let rates = Rates::parse(embedded::FX_CSV).expect("embedded fx.csv is valid");
        let mut offers = Vec::new();
        let mut rejected = Vec::new();
        for (name, text) in embedded::OFFER_FILES {
            let report = load_offers(text, Origin::Embedded(name), table, &rates);
            offers.extend(report.offers);
            rejected.extend(report.rejected);
        }
        Catalog {
            table,
            rates,
            offers,
            rejected,
            snapshot_date: embedded::SNAPSHOT_DATE
                .trim()
                .parse()
                .expect("embedded SNAPSHOT_DATE is a date"),
        }
    }

    /// A catalog of the given rows only (tests, benchmarks).
    pub fn from_offers(offers: Vec<Offer>) -> Catalog {
        Catalog {
            table: GpuTable::embedded(),
            rates: Rates::default(),
            offers,
            rejected: vec![],
            snapshot_date: Date::ymd(1970, 1, 1),
        }
    }

    /// Replaces `provider`'s rows with the rows of a refresh cache. A cache that yields no
    /// valid row leaves the provider's rows as they were. Returns how many rows it loaded.
    pub fn override_provider(
        &mut self,
        provider: &str,
        text: impl AsRef<[u8]>,
        origin: Origin,
    ) -> usize {
        let report = load_offers(text, origin, self.table, &self.rates);
        self.rejected.extend(report.rejected);
        let fresh: Vec<Offer> = report
            .offers
            .into_iter()
            .filter(|o| o.provider == provider)
            .collect();
        if fresh.is_empty() {
            return 0;
        }
        let n = fresh.len();
        self.offers.retain(|o| o.provider != provider);
        self.offers.extend(fresh);
        n
    }

    /// Adds the rows of a user's own offer file.
    pub fn add_file(&mut self, text: impl AsRef<[u8]>, origin: Origin) -> usize {
        let report = load_offers(text, origin, self.table, &self.rates);
        self.rejected.extend(report.rejected);
        let n = report.offers.len();
        self.offers.extend(report.offers);
        n
    }

    pub fn push(&mut self, offer: Offer) {
        self.offers.push(offer);
    }

    /// Moves every row dated after `today` to the rejected (with its file and line).
    pub fn reject_future(&mut self, today: Date) -> usize {
        crate::load::reject_future(&mut self.offers, &mut self.rejected, today)
    }

    /// Drops rows a newer row of the same offer supersedes: same provider, offering (a
    /// parenthetical such as "(2025 list)" ignored), region, instance and GPUs, observed
    /// strictly later. Rows of the same date are all kept. Returns how many were dropped.
    pub fn drop_superseded(&mut self) -> usize {
        fn base(offering: &str) -> &str {
            offering.split(" (").next().unwrap_or(offering).trim()
        }
        let mut newest: std::collections::HashMap<
            (&str, &str, &str, &str, crate::GpuId, u32),
            Date,
        > = std::collections::HashMap::new();
        for o in &self.offers {
            let key = (
                o.provider.as_str(),
                base(&o.offering),
                o.region.as_str(),
                o.instance_type.as_str(),
                o.gpu,
                o.gpu_count,
            );
            let e = newest.entry(key).or_insert(o.as_of);
            *e = (*e).max(o.as_of);
        }
        let keep: Vec<bool> = self
            .offers
            .iter()
            .map(|o| {
                let key = (
                    o.provider.as_str(),
                    base(&o.offering),
                    o.region.as_str(),
                    o.instance_type.as_str(),
                    o.gpu,
                    o.gpu_count,
                );
                newest[&key] <= o.as_of
            })
            .collect();
        let before = self.offers.len();
        let mut it = keep.into_iter();
        self.offers.retain(|_| it.next().unwrap_or(true));
        before - self.offers.len()
    }

    pub fn providers(&self) -> Vec<ProviderOrigin> {
        let mut by: BTreeMap<(&str, String), ProviderOrigin> = BTreeMap::new();
        for o in &self.offers {
            let e = by
                .entry((o.provider.as_str(), o.origin.to_string()))
                .or_insert_with(|| ProviderOrigin {
                    provider: o.provider.clone(),
                    origin: o.origin.to_string(),
                    offers: 0,
                    oldest: None,
                    newest: None,
                });
            e.offers += 1;
            e.oldest = Some(e.oldest.map_or(o.as_of, |d| d.min(o.as_of)));
            e.newest = Some(e.newest.map_or(o.as_of, |d| d.max(o.as_of)));
        }
        by.into_values().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_snapshot_loads_without_rejections() {
        let c = Catalog::embedded();
        assert!(
            c.rejected.is_empty(),
            "embedded rows rejected:\n{}",
            c.rejected
                .iter()
                .map(|e| e.to_string())
                .collect::<Vec<_>>()
                .join("\n")
        );
        assert!(c.offers.iter().all(|o| !o.source.is_empty()));
    }

    #[test]
    fn newer_rows_supersede_older_ones_of_the_same_offer() {
        let header = crate::offer::OFFER_COLUMNS.join(",");
        let rows = "\
runpod,gpu-cloud,Secure Cloud,global,H100 SXM,H100-SXM,1,80,,,3.99,,USD,0,per-second,,,cash,s,2026-11-09,
runpod,gpu-cloud,Community Cloud,global,H100 SXM,H100-SXM,1,80,,,2.69,,USD,0,per-second,,,cash,s,2026-11-09,
runpod,gpu-cloud,Secure Cloud (2025 list),global,H100 SXM,H100-SXM,1,80,,,2.99,,USD,0,per-second,,,cash,s,2025-03-03,
runpod,gpu-cloud,Secure Cloud (2025 list),global,RTX 3090,RTX-3090,1,24,,,0.43,,USD,0,per-second,,,cash,s,2025-03-03,
";
        let mut c = Catalog::from_offers(vec![]);
        c.add_file(format!("{header}\n{rows}"), Origin::File("t".into()));
        assert_eq!(c.drop_superseded(), 1);
        let left: Vec<_> = c
            .offers
            .iter()
            .map(|o| (o.offering.as_str(), o.price_hour.unwrap()))
            .collect();
        assert_eq!(
            left,
            [
                ("Secure Cloud", 3.99),
                ("Community Cloud", 2.69),
                ("Secure Cloud (2025 list)", 0.43)
            ]
        );
    }

    #[test]
    fn a_cache_replaces_its_provider_only_when_it_has_rows() {
        let mut c = Catalog::embedded();
        let before_other = c.offers.iter().filter(|o| o.provider != "vastai").count();
        let header = crate::offer::OFFER_COLUMNS.join(",");
        let cache = format!(
            "{header}\nvastai,decentralized,live,US,123,RTX-4090,1,24,16,64,0.31,0.2,USD,,per-second,0.99,,cash,vast.ai bundles,2026-11-23,\n"
        );
        assert_eq!(
            c.override_provider("vastai", &cache, Origin::File("cache/vastai.csv".into())),
            1
        );
        let vast: Vec<_> = c.offers.iter().filter(|o| o.provider == "vastai").collect();
        assert_eq!(vast.len(), 1);
        assert_eq!(vast[0].origin.to_string(), "cache/vastai.csv");
        assert_eq!(c.offers.len() - 1, before_other);
        // An empty (or all-bad) cache changes nothing.
        assert_eq!(
            c.override_provider("vastai", &header, Origin::File("x".into())),
            0
        );
        assert_eq!(
            c.offers.iter().filter(|o| o.provider == "vastai").count(),
            1
        );
    }
}
