//! Runs the requested sources concurrently, validates, and writes each provider's cache.

use crate::rows::{CacheRow, to_csv, write_cache};
use crate::{Provider, RefreshError, sources};
use ferry_catalog::load::load_offers;
use ferry_catalog::offer::Origin;
use ferry_catalog::{Catalog, Date};
use serde::{Serialize, Serializer};
use std::path::PathBuf;
use std::time::Duration;

/// One provider to refresh.
#[derive(Debug, Clone)]
pub struct Request {
    pub provider: Provider,
    pub endpoint: String,
    pub api_key: Option<String>,
    /// Empty: the provider's default regions.
    pub regions: Vec<String>,
    pub cache_file: PathBuf,
    /// The provider's own API for live spot prices (AWS's `DescribeSpotPriceHistory`),
    /// where it has one and Ferry has its credentials: read after the list prices and put
    /// beside them.
    pub spot: Option<SpotClient>,
}

/// A provider client asked for spot prices only.
#[derive(Clone)]
pub struct SpotClient(pub std::sync::Arc<dyn ferry_cloud::Provider>);

impl std::fmt::Debug for SpotClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SpotClient({})", self.0.kind())
    }
}

impl Request {
    /// The regions to fetch: the configured ones, else the provider's defaults.
    pub fn regions(&self) -> Vec<String> {
        if self.regions.is_empty() {
            self.provider
                .default_regions()
                .iter()
                .map(|s| s.to_string())
                .collect()
        } else {
            self.regions.clone()
        }
    }
}

/// Progress, for a display the caller owns.
#[derive(Debug, Clone)]
pub enum Event {
    Started {
        provider: Provider,
    },
    Progress {
        provider: Provider,
        message: String,
    },
    Finished {
        provider: Provider,
        ok: bool,
        message: String,
    },
}

impl Event {
    pub fn provider(&self) -> Provider {
        match self {
            Event::Started { provider }
            | Event::Progress { provider, .. }
            | Event::Finished { provider, .. } => *provider,
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Written {
    pub path: PathBuf,
    pub offers: usize,
    /// Items in the answer Ferry could not use (unknown GPU, CPU-only, rows failing validation).
    pub skipped: usize,
}

#[derive(Debug, Serialize)]
pub struct Outcome {
    #[serde(serialize_with = "provider_id")]
    pub provider: Provider,
    #[serde(serialize_with = "result_json")]
    pub result: Result<Written, RefreshError>,
}

fn provider_id<S: Serializer>(p: &Provider, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(p.id())
}

fn result_json<S: Serializer>(r: &Result<Written, RefreshError>, s: S) -> Result<S::Ok, S::Error> {
    #[derive(Serialize)]
    #[serde(tag = "status", rename_all = "kebab-case")]
    enum R<'a> {
        Updated(&'a Written),
        Skipped { error: String },
        Failed { error: String },
    }
    match r {
        Ok(w) => R::Updated(w),
        Err(e) if e.is_missing_key() => R::Skipped {
            error: e.to_string(),
        },
        Err(e) => R::Failed {
            error: e.to_string(),
        },
    }
    .serialize(s)
}

/// What a source's parser was given besides the body.
pub struct Fetched {
    pub rows: Vec<CacheRow>,
    pub skipped: usize,
}

/// Refreshes every request; never fails as a whole: each outcome says what happened.
pub async fn refresh(
    requests: Vec<Request>,
    observed: Date,
    on_event: &(dyn Fn(Event) + Sync),
) -> Vec<Outcome> {
    let http = reqwest::Client::builder()
        .user_agent(concat!(
            "ferry/",
            env!("CARGO_PKG_VERSION"),
            " (+https://github.com/ferry-gpu/ferry)"
        ))
        .connect_timeout(Duration::from_secs(15))
        .timeout(Duration::from_secs(600))
        .build()
        .expect("a reqwest client with rustls builds");
    let jobs = requests.into_iter().map(|req| {
        let http = http.clone();
        async move {
            let provider = req.provider;
            on_event(Event::Started { provider });
            let result = refresh_one(&http, &req, observed, on_event).await;
            on_event(Event::Finished {
                provider,
                ok: result.is_ok(),
                message: match &result {
                    Ok(w) => format!("{} offers", w.offers),
                    Err(e) => e.to_string(),
                },
            });
            Outcome { provider, result }
        }
    });
    futures_util::future::join_all(jobs).await
}

/// Each row's spot price from the provider's live API: one call per region for every
/// instance type of the region. A region whose prices cannot be read keeps its list prices
/// only, and the progress says why; the refresh goes on.
async fn live_spot_prices(spot: &SpotClient, rows: &mut [CacheRow], progress: &dyn Fn(String)) {
    let mut regions: Vec<String> = rows.iter().map(|r| r.region.clone()).collect();
    regions.sort();
    regions.dedup();
    for region in regions {
        let mut types: Vec<String> = rows
            .iter()
            .filter(|r| r.region == region)
            .map(|r| r.instance_type.clone())
            .collect();
        types.sort();
        types.dedup();
        match spot.0.spot_prices(&region, &types).await {
            Ok(prices) => {
                let n = crate::rows::with_spot_prices(rows, &region, &prices);
                progress(format!("{region}: live spot prices for {n} instance types"));
            }
            Err(e) => progress(format!(
                "{region}: spot prices not read ({e}); list prices only"
            )),
        }
    }
}

async fn refresh_one(
    http: &reqwest::Client,
    req: &Request,
    observed: Date,
    on_event: &(dyn Fn(Event) + Sync),
) -> Result<Written, RefreshError> {
    let provider = req.provider;
    if provider.needs_key() && req.api_key.is_none() {
        return Err(RefreshError::MissingKey {
            provider,
            env: format!("{}_API_KEY", provider.id().to_ascii_uppercase()),
        });
    }
    let progress = |message: String| on_event(Event::Progress { provider, message });
    let mut fetched = sources::fetch(http, req, observed, &progress).await?;
    if let Some(spot) = &req.spot {
        live_spot_prices(spot, &mut fetched.rows, &progress).await;
    }
    // Validate with the catalog's own rules: what would be rejected on load is not cached.
    let text = to_csv(&fetched.rows);
    let catalog = Catalog::embedded();
    let report = load_offers(
        &text,
        Origin::File(req.cache_file.display().to_string()),
        catalog.table,
        &catalog.rates,
    );
    if report.offers.is_empty() {
        return Err(RefreshError::Empty { provider });
    }
    let kept: Vec<&CacheRow> = fetched
        .rows
        .iter()
        .enumerate()
        // Data rows start on line 2; keep exactly those that validated.
        .filter(|(i, _)| report.offers.iter().any(|o| o.line == (*i as u64) + 2))
        .map(|(_, r)| r)
        .collect();
    let kept_text = to_csv(&kept.into_iter().cloned().collect::<Vec<_>>());
    write_cache(&req.cache_file, &kept_text).map_err(|e| RefreshError::Cache {
        provider,
        path: req.cache_file.display().to_string(),
        message: e.to_string(),
    })?;
    Ok(Written {
        path: req.cache_file.clone(),
        offers: report.offers.len(),
        skipped: fetched.skipped + report.rejected.len(),
    })
}
