//! Filters and sort orders over offers: what `ferry offers` and the optimizer ask.

use crate::category::Category;
use crate::gpu::{GpuId, GpuTable};
use crate::offer::Offer;
use crate::range::Range;
use serde::Serialize;
use std::cmp::Ordering;
use std::str::FromStr;

/// Which hourly price an offer is judged by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum PriceMode {
    /// On-demand where there is one, else spot.
    #[default]
    Any,
    /// Only offers with an on-demand price, judged by it (no allocation or volunteer offers).
    OnDemand,
    /// Only offers with a spot / interruptible price, judged by it.
    Spot,
}

impl PriceMode {
    pub fn price(self, o: &Offer) -> Option<f64> {
        match self {
            PriceMode::Any => o.price_hour.or(o.spot_price_hour),
            PriceMode::OnDemand => o.price_hour,
            PriceMode::Spot => o.spot_price_hour,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum SortKey {
    /// Price of the whole instance per hour.
    #[default]
    Price,
    /// Price per GPU-hour.
    PricePerGpu,
    /// Price per dense-BF16 PFLOP-hour (what an hour of tensor throughput costs).
    PerPflop,
    /// Price per GB of GPU memory per hour.
    PerGbVram,
}

impl FromStr for SortKey {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        match s.trim().to_ascii_lowercase().as_str() {
            "price" => Ok(SortKey::Price),
            "price-per-gpu" | "gpu-hour" | "per-gpu" => Ok(SortKey::PricePerGpu),
            "per-pflop" | "pflop" | "bf16" => Ok(SortKey::PerPflop),
            "per-gb-vram" | "vram" | "per-gb" => Ok(SortKey::PerGbVram),
            other => Err(format!(
                "unknown sort key '{other}' (expected price, price-per-gpu, per-pflop or per-gb-vram)"
            )),
        }
    }
}

impl SortKey {
    /// The figure an offer is ranked by under this key (lower is better).
    pub fn value(self, o: &Offer, mode: PriceMode, table: &GpuTable) -> Option<f64> {
        let price = mode.price(o)?;
        let n = f64::from(o.gpu_count);
        Some(match self {
            SortKey::Price => price,
            SortKey::PricePerGpu => price / n,
            SortKey::PerPflop => price / (n * table.get(o.gpu).bf16_tflops / 1000.0),
            SortKey::PerGbVram => price / (n * o.gpu_vram_gb),
        })
    }
}

/// Every condition is optional; an empty filter keeps everything.
#[derive(Debug, Clone, Default)]
pub struct OfferFilter {
    /// Models to keep (the union of what each `--gpu` name resolved to).
    pub gpus: Option<Vec<GpuId>>,
    /// Per-GPU memory, GB.
    pub vram_gb: Option<Range>,
    /// GPUs per instance.
    pub count: Option<Range>,
    pub categories: Vec<Category>,
    /// Provider ids, lower case.
    pub providers: Vec<String>,
    /// Region globs (`us-*`, `*europe*`), matched case-insensitively.
    pub regions: Vec<String>,
    pub mode: PriceMode,
    /// Per hour for the whole instance. Offers with no cash price (allocation,
    /// volunteer) are not priced and pass: they cost nothing in cash but are gated otherwise.
    pub max_price: Option<f64>,
    pub max_price_per_gpu: Option<f64>,
    /// Offers with no reliability figure do not pass a reliability floor.
    pub min_reliability: Option<f64>,
}

impl OfferFilter {
    pub fn matches(&self, o: &Offer, regions: &[wildmatch::WildMatch]) -> bool {
        if let Some(g) = &self.gpus
            && !g.contains(&o.gpu)
        {
            return false;
        }
        if self.vram_gb.is_some_and(|r| !r.contains(o.gpu_vram_gb))
            || self
                .count
                .is_some_and(|r| !r.contains(f64::from(o.gpu_count)))
        {
            return false;
        }
        if !self.categories.is_empty() && !self.categories.contains(&o.category) {
            return false;
        }
        if !self.providers.is_empty() && !self.providers.contains(&o.provider) {
            return false;
        }
        if !regions.is_empty() {
            let region = o.region.to_ascii_lowercase();
            if !regions.iter().any(|g| g.matches(&region)) {
                return false;
            }
        }
        let cash = o.pricing == crate::offer::Pricing::Cash;
        let price = self.mode.price(o);
        if cash && price.is_none() {
            // e.g. --spot and this offer has no spot price
            return false;
        }
        if !cash && self.mode != PriceMode::Any {
            return false;
        }
        if let Some(p) = price {
            if self.max_price.is_some_and(|m| p > m) {
                return false;
            }
            if self
                .max_price_per_gpu
                .is_some_and(|m| p / f64::from(o.gpu_count) > m)
            {
                return false;
            }
        }
        if let Some(min) = self.min_reliability
            && o.reliability.is_none_or(|r| r < min)
        {
            return false;
        }
        true
    }

    /// The offers that pass, best first under `sort`; offers with no cash price come last.
    pub fn select<'a>(
        &self,
        offers: &'a [Offer],
        sort: SortKey,
        table: &GpuTable,
    ) -> Vec<&'a Offer> {
        let globs: Vec<wildmatch::WildMatch> = self
            .regions
            .iter()
            .map(|r| wildmatch::WildMatch::new(&r.to_ascii_lowercase()))
            .collect();
        let mut keyed: Vec<(Option<f64>, &Offer)> = offers
            .iter()
            .filter(|o| self.matches(o, &globs))
            .map(|o| (sort.value(o, self.mode, table), o))
            .collect();
        keyed.sort_by(|(ka, a), (kb, b)| {
            let by_key = match (ka, kb) {
                (Some(x), Some(y)) => x.total_cmp(y),
                (Some(_), None) => Ordering::Less,
                (None, Some(_)) => Ordering::Greater,
                (None, None) => Ordering::Equal,
            };
            by_key
                .then_with(|| a.provider.cmp(&b.provider))
                .then_with(|| a.region.cmp(&b.region))
                .then_with(|| a.instance_type.cmp(&b.instance_type))
        });
        keyed.into_iter().map(|(_, o)| o).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fx::Rates;
    use crate::load::load_offers;
    use crate::offer::Origin;
    use proptest::prelude::*;

    const HEADER: &str = "provider,category,offering,region,instance_type,gpu,gpu_count,gpu_vram_gb,vcpus,ram_gb,price_hour,spot_price_hour,currency,egress_per_gb,billing,reliability,queue_wait_h,pricing,source,as_of,notes";
    const ROWS: &str = "\
aws,hyperscaler,EC2 P5,us-east-1,p5.48xlarge,H100-SXM,8,80,192,2048,55.04,24.5,USD,0.09,per-second,0.995,,cash,s,2026-11-09,
aws,hyperscaler,EC2 G6,eu-west-1,g6.xlarge,L4,1,24,4,16,0.98,0.40,USD,0.09,per-second,0.995,,cash,s,2026-11-09,
lambda,gpu-cloud,On-demand,us-west-1,gpu_1x_a100,A100-40GB-SXM,1,40,30,200,1.99,,USD,0,per-minute,,,cash,s,2026-11-01,
vastai,decentralized,median,US,1x RTX4090,RTX-4090,1,24,16,64,0.40,0.25,USD,,per-second,0.97,,cash,s,2026-10-01,
vastai,decentralized,median,US,8x H100,H100-SXM,8,80,128,1024,16.0,12.0,USD,,per-second,0.99,,cash,s,2026-10-01,
alliance,academic,Nibi,nibi,8xH100 node,H100-SXM,8,80,,,,,USD,,none,,48,allocation,s,2026-11-01,
";

    fn offers() -> Vec<Offer> {
        let r = load_offers(
            format!("{HEADER}\n{ROWS}"),
            Origin::File("t.csv".into()),
            GpuTable::embedded(),
            &Rates::default(),
        );
        assert!(r.rejected.is_empty(), "{:?}", r.rejected);
        r.offers
    }

    fn run(f: &OfferFilter, sort: SortKey) -> Vec<String> {
        let o = offers();
        f.select(&o, sort, GpuTable::embedded())
            .into_iter()
            .map(|o| format!("{}/{}", o.provider, o.instance_type))
            .collect()
    }

    fn gpus(q: &str) -> Option<Vec<GpuId>> {
        Some(GpuTable::embedded().resolve(q).unwrap())
    }

    #[test]
    fn empty_filter_keeps_all_sorted_by_price_with_unpriced_last() {
        let all = run(&OfferFilter::default(), SortKey::Price);
        assert_eq!(
            all,
            [
                "vastai/1x RTX4090",
                "aws/g6.xlarge",
                "lambda/gpu_1x_a100",
                "vastai/8x H100",
                "aws/p5.48xlarge",
                "alliance/8xH100 node"
            ]
        );
    }

    #[test]
    fn each_filter() {
        let by = |f: OfferFilter| run(&f, SortKey::Price);
        assert_eq!(
            by(OfferFilter {
                gpus: gpus("h100"),
                ..Default::default()
            })
            .len(),
            3
        );
        assert_eq!(
            by(OfferFilter {
                vram_gb: Some(Range::parse_memory("40GB..").unwrap()),
                ..Default::default()
            })
            .len(),
            4
        );
        assert_eq!(
            by(OfferFilter {
                count: Some(Range::parse_count("8").unwrap()),
                ..Default::default()
            })
            .len(),
            3
        );
        assert_eq!(
            by(OfferFilter {
                categories: vec![Category::Decentralized, Category::Academic],
                ..Default::default()
            }),
            [
                "vastai/1x RTX4090",
                "vastai/8x H100",
                "alliance/8xH100 node"
            ]
        );
        assert_eq!(
            by(OfferFilter {
                providers: vec!["lambda".into()],
                ..Default::default()
            }),
            ["lambda/gpu_1x_a100"]
        );
        assert_eq!(
            by(OfferFilter {
                regions: vec!["EU-*".into()],
                ..Default::default()
            }),
            ["aws/g6.xlarge"]
        );
        assert_eq!(
            by(OfferFilter {
                mode: PriceMode::Spot,
                ..Default::default()
            }),
            [
                "vastai/1x RTX4090",
                "aws/g6.xlarge",
                "vastai/8x H100",
                "aws/p5.48xlarge"
            ]
        );
        assert_eq!(
            by(OfferFilter {
                mode: PriceMode::OnDemand,
                ..Default::default()
            })
            .len(),
            5
        );
        // max price keeps allocation offers: they have no cash price.
        assert_eq!(
            by(OfferFilter {
                max_price: Some(1.0),
                ..Default::default()
            }),
            ["vastai/1x RTX4090", "aws/g6.xlarge", "alliance/8xH100 node"]
        );
        assert_eq!(
            by(OfferFilter {
                max_price_per_gpu: Some(2.0),
                gpus: gpus("h100"),
                ..Default::default()
            }),
            ["vastai/8x H100", "alliance/8xH100 node"]
        );
        assert_eq!(
            by(OfferFilter {
                min_reliability: Some(0.99),
                ..Default::default()
            }),
            ["aws/g6.xlarge", "vastai/8x H100", "aws/p5.48xlarge"]
        );
    }

    #[test]
    fn each_sort_key() {
        let f = OfferFilter::default();
        assert_eq!(
            run(&f, SortKey::PricePerGpu)[..2],
            ["vastai/1x RTX4090", "aws/g6.xlarge"]
        );
        // $/PFLOP-h: H100 on Vast (16/(8*0.9894)=2.02) beats the 4090 (0.40/0.1652=2.42).
        assert_eq!(run(&f, SortKey::PerPflop)[0], "vastai/8x H100");
        // $/GB-h: Vast 4090 0.40/24=0.0167 vs Vast H100 16/640=0.025.
        assert_eq!(run(&f, SortKey::PerGbVram)[0], "vastai/1x RTX4090");
        assert!("nonsense".parse::<SortKey>().is_err());
    }

    proptest! {
        #[test]
        fn max_price_is_respected(max in 0.0f64..60.0, spot in any::<bool>()) {
            let o = offers();
            let mode = if spot { PriceMode::Spot } else { PriceMode::Any };
            let f = OfferFilter { max_price: Some(max), mode, ..Default::default() };
            let got = f.select(&o, SortKey::Price, GpuTable::embedded());
            for x in &got {
                if let Some(p) = mode.price(x) { prop_assert!(p <= max); }
            }
            let prices: Vec<f64> = got.iter().filter_map(|x| mode.price(x)).collect();
            prop_assert!(prices.windows(2).all(|w| w[0] <= w[1]));
        }
    }
}
