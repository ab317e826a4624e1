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
/// every zone's price in its notes; returns how many rows got one. Pure: the prices were
/// read before.
pub fn with_spot_prices(rows: &mut [CacheRow], region: &str, prices: &[ferry_cloud::ZonePrice]) -> usize {
    let mut n = 0;
    for row in rows.iter_mut().filter(|r| r.region == region) {
        let mut zones: Vec<&ferry_cloud::ZonePrice> = prices
            .iter()
            .filter(|p| p.instance_type == row.instance_type && p.usd_per_hour > 0.0)
            .collect();
        if zones.is_empty() {
            continue;
        }
        zones.sort_by(|a, b| a.zone.cmp(&b.zone));
        let cheapest = zones
            .iter()
            .min_by(|a, b| a.usd_per_hour.total_cmp(&b.usd_per_hour))
            .expect("not empty");
        row.spot_price_hour = Some(cheapest.usd_per_hour);
        let by_zone: Vec<String> = zones
            .iter()
            .map(|z| format!("{} {}", z.zone, z.usd_per_hour))
            .collect();
        row.notes = format!(
            "on-demand list price; spot = the cheapest zone's live price (DescribeSpotPriceHistory, {}): {}",
            cheapest.since,
            by_zone.join(", ")
        );
        n += 1;
    }
    n
}
