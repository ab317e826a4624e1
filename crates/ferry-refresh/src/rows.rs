//! Cache rows: the catalog's own CSV columns, so a cache is validated by the same rules
//! as the embedded snapshot and a user's file.

use ferry_catalog::Date;
use serde::Serialize;
use std::io::Write;
use std::path::Path;

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CacheRow {
    pub provider: String,
    pub category: &'static str,
    pub offering: String,
    pub region: String,
    pub instance_type: String,
    /// The catalog's canonical GPU id.
    pub gpu: String,
    pub gpu_count: u32,
    pub gpu_vram_gb: Option<f64>,
    pub vcpus: Option<f64>,
    pub ram_gb: Option<f64>,
    pub price_hour: Option<f64>,
    pub spot_price_hour: Option<f64>,
    pub currency: &'static str,
    pub egress_per_gb: Option<f64>,
    pub billing: &'static str,
    pub reliability: Option<f64>,
    pub queue_wait_h: Option<f64>,
    pub pricing: &'static str,
    pub source: String,
    pub as_of: Date,
    pub notes: String,
}

/// The rows as CSV text with the catalog's header.
pub fn to_csv(rows: &[CacheRow]) -> String {
    let mut w = csv::Writer::from_writer(Vec::new());
    for r in rows {
        // One physical line per row: validation reports rows by line.
        let mut r = r.clone();
        for s in [
            &mut r.offering,
            &mut r.region,
            &mut r.instance_type,
            &mut r.source,
            &mut r.notes,
        ] {
            if s.contains(['\n', '\r']) {
                *s = s.replace(['\n', '\r'], " ");
            }
        }
        w.serialize(&r).expect("serialising to memory cannot fail");
    }
    if rows.is_empty() {
        w.write_record(ferry_catalog::offer::OFFER_COLUMNS)
            .expect("in memory");
    }
    String::from_utf8(w.into_inner().expect("in memory")).expect("CSV of UTF-8 strings")
}

/// Writes `text` to `path` so that a crash leaves either the old file or the new one:
/// a temporary file beside it, flushed to disk, then renamed over it.
pub fn write_cache(path: &Path, text: &str) -> std::io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir)?;
    let tmp = dir.join(format!(
        ".{}.{}.tmp",
        path.file_name().and_then(|n| n.to_str()).unwrap_or("cache"),
        std::process::id()
    ));
    {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(text.as_bytes())?;
        f.sync_all()?;
    }
    std::fs::rename(&tmp, path).inspect_err(|_| {
        let _ = std::fs::remove_file(&tmp);
    })
}

/// Puts the cheapest zone's live spot price on each row of `region` that has one, naming
/// every zone's price in its notes; returns how many rows got one. A zone listed more than
/// once (a price history) counts with its latest price. Pure: the prices were read before.
pub fn with_spot_prices(
    rows: &mut [CacheRow],
    region: &str,
    prices: &[ferry_cloud::ZonePrice],
) -> usize {
    let mut n = 0;
    for row in rows.iter_mut().filter(|r| r.region == region) {
        // zone -> its latest price (RFC 3339 times of one API compare as strings).
        let mut latest: std::collections::BTreeMap<&str, &ferry_cloud::ZonePrice> =
            Default::default();
        for p in prices.iter().filter(|p| {
            p.instance_type == row.instance_type
                && p.usd_per_hour.is_finite()
                && p.usd_per_hour > 0.0
        }) {
            let slot = latest.entry(p.zone.as_str()).or_insert(p);
            if p.since > slot.since {
                *slot = p;
            }
        }
        let Some(cheapest) = latest
            .values()
            .min_by(|a, b| a.usd_per_hour.total_cmp(&b.usd_per_hour))
        else {
            continue;
        };
        row.spot_price_hour = Some(cheapest.usd_per_hour);
        let by_zone: Vec<String> = latest
            .values()
            .map(|z| format!("{} {}", z.zone, z.usd_per_hour))
            .collect();
        let spot = format!(
            "spot = the cheapest zone's live price (DescribeSpotPriceHistory, {}): {}",
            cheapest.since,
            by_zone.join(", ")
        );
        row.notes = if row.notes.trim().is_empty() {
            spot
        } else {
            format!("{}; {spot}", row.notes.trim_end_matches(['.', ';', ' ']))
        };
        n += 1;
    }
    n
}

#[cfg(test)]
mod tests {
    use super::*;
    use ferry_cloud::ZonePrice;

    fn row(region: &str, instance_type: &str, notes: &str) -> CacheRow {
        CacheRow {
            provider: "aws".into(),
            category: "hyperscaler",
            offering: "G4dn".into(),
            region: region.into(),
            instance_type: instance_type.into(),
            gpu: "T4".into(),
            gpu_count: 1,
            gpu_vram_gb: Some(16.0),
            vcpus: Some(4.0),
            ram_gb: Some(16.0),
            price_hour: Some(0.526),
            spot_price_hour: Some(0.2),
            currency: "USD",
            egress_per_gb: Some(0.09),
            billing: "per-second",
            reliability: None,
            queue_wait_h: None,
            pricing: "cash",
            source: "test".into(),
            as_of: Date::ymd(2026, 12, 1),
            notes: notes.into(),
        }
    }

    fn price(zone: &str, instance_type: &str, usd: f64, since: &str) -> ZonePrice {
        ZonePrice {
            region: "us-east-1".into(),
            zone: zone.into(),
            instance_type: instance_type.into(),
            usd_per_hour: usd,
            since: since.into(),
        }
    }

    #[test]
    fn the_cheapest_zone_s_latest_price_becomes_the_spot_price() {
        let mut rows = vec![
            row("us-east-1", "g4dn.xlarge", "on-demand list price."),
            row("us-east-1", "p4d.24xlarge", ""),
            row("us-west-2", "g4dn.xlarge", ""),
        ];
        let prices = [
            price("us-east-1b", "g4dn.xlarge", 0.19, "2026-12-01T10:00:00Z"),
            // us-east-1a was cheapest once, and is not now: its latest price counts.
            price("us-east-1a", "g4dn.xlarge", 0.10, "2026-12-01T08:00:00Z"),
            price("us-east-1a", "g4dn.xlarge", 0.25, "2026-12-01T11:00:00Z"),
            price(
                "us-east-1c",
                "g4dn.xlarge",
                f64::NAN,
                "2026-12-01T11:00:00Z",
            ),
            price("us-east-1c", "g4dn.xlarge", 0.0, "2026-12-01T11:00:00Z"),
        ];
        assert_eq!(with_spot_prices(&mut rows, "us-east-1", &prices), 1);
        assert_eq!(rows[0].spot_price_hour, Some(0.19));
        assert_eq!(
            rows[0].notes,
            "on-demand list price; spot = the cheapest zone's live price \
             (DescribeSpotPriceHistory, 2026-12-01T10:00:00Z): us-east-1a 0.25, us-east-1b 0.19"
        );
        assert_eq!(rows[1].spot_price_hour, Some(0.2), "no live price: kept");
        assert_eq!(rows[1].notes, "");
        assert_eq!(rows[2].spot_price_hour, Some(0.2), "another region: kept");
        assert_eq!(with_spot_prices(&mut rows, "us-east-1", &[]), 0);
    }
}
