//! One way of getting GPUs at a price, and where that price came from.

use crate::category::Category;
use crate::date::Date;
use crate::gpu::{GpuId, GpuTable};
use serde::{Serialize, Serializer};
use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

/// How the offer is paid for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Pricing {
    /// Cash per hour (for owned hardware: its amortised cost).
    Cash,
    /// No cash price: used against an allocation (academic clusters).
    Allocation,
    /// No cash price: volunteer computing (BOINC).
    Volunteer,
}

/// The smallest unit a provider bills.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Billing {
    PerSecond,
    PerMinute,
    PerHour,
    None,
}

macro_rules! kebab_enum {
    ($t:ty, $what:literal, $($s:literal => $v:expr),+ $(,)?) => {
        impl FromStr for $t {
            type Err = String;
            fn from_str(s: &str) -> Result<Self, String> {
                match s.trim() {
                    $($s => Ok($v),)+
                    other => Err(format!(concat!("unknown ", $what, " '{}' (expected one of: {})"),
                        other, [$($s),+].join(", "))),
                }
            }
        }
        impl $t {
            pub fn as_str(self) -> &'static str {
                $(if self == $v { return $s; })+
                unreachable!()
            }
        }
        impl fmt::Display for $t {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result { f.write_str(self.as_str()) }
        }
    };
}

kebab_enum!(Pricing, "pricing", "cash" => Pricing::Cash, "allocation" => Pricing::Allocation, "volunteer" => Pricing::Volunteer);
kebab_enum!(Billing, "billing", "per-second" => Billing::PerSecond, "per-minute" => Billing::PerMinute, "per-hour" => Billing::PerHour, "none" => Billing::None);

/// Where a row was read from. Shared between rows of one file.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Origin {
    /// The snapshot compiled into the binary (file name within it).
    Embedded(&'static str),
    /// A file on disk: a refresh cache or the user's own.
    File(String),
    /// The user's config (owned hardware).
    Config(String),
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Origin::Embedded(name) => write!(f, "embedded:{name}"),
            Origin::File(path) => f.write_str(path),
            Origin::Config(what) => write!(f, "config:{what}"),
        }
    }
}

impl Serialize for Origin {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Offer {
    pub provider: String,
    pub category: Category,
    pub offering: String,
    pub region: String,
    pub instance_type: String,
    pub gpu: GpuId,
    pub gpu_count: u32,
    /// Per-GPU memory: as the provider states it, else the spec's.
    pub gpu_vram_gb: f64,
    pub vcpus: Option<f64>,
    pub ram_gb: Option<f64>,
    /// On-demand price of the whole instance per hour, in USD.
    pub price_hour: Option<f64>,
    /// Spot / interruptible price of the whole instance per hour, in USD.
    pub spot_price_hour: Option<f64>,
    /// The currency the source priced it in, and its on-demand price in that currency.
    pub currency: String,
    pub price_hour_original: Option<f64>,
    pub egress_per_gb: Option<f64>,
    pub billing: Billing,
    /// Availability figure in 0..=1, where the source gives one.
    pub reliability: Option<f64>,
    /// Expected hours before a job starts (academic queues).
    pub queue_wait_h: Option<f64>,
    pub pricing: Pricing,
    pub source: String,
    pub as_of: Date,
    pub notes: String,
    pub origin: Arc<Origin>,
    /// 1-based line in its file (0 for rows not read from a file).
    pub line: u64,
}

impl Offer {
    /// The hourly price under a price mode; `None` for offers with no cash price (or no spot).
    pub fn price(&self, spot: bool) -> Option<f64> {
        if spot {
            self.spot_price_hour
        } else {
            self.price_hour
        }
    }
}

/// The flat shape of an offer for `--json` and `--csv`: the same columns as the data files,
/// so a listing can be edited and fed back as a user catalog.
#[derive(Debug, Clone, Serialize)]
pub struct OfferRecord<'a> {
    pub provider: &'a str,
    pub category: Category,
    pub offering: &'a str,
    pub region: &'a str,
    pub instance_type: &'a str,
    pub gpu: &'a str,
    pub gpu_count: u32,
    pub gpu_vram_gb: f64,
    pub vcpus: Option<f64>,
    pub ram_gb: Option<f64>,
    pub price_hour: Option<f64>,
    pub spot_price_hour: Option<f64>,
    pub currency: &'static str,
    pub egress_per_gb: Option<f64>,
    pub billing: Billing,
    pub reliability: Option<f64>,
    pub queue_wait_h: Option<f64>,
    pub pricing: Pricing,
    pub source: &'a str,
    pub as_of: Date,
    pub notes: &'a str,
}

impl<'a> OfferRecord<'a> {
    /// Prices are given in USD (converted where the source used another currency; the
    /// notes then say so).
    pub fn new(offer: &'a Offer, table: &'a GpuTable) -> Self {
        OfferRecord {
            provider: &offer.provider,
            category: offer.category,
            offering: &offer.offering,
            region: &offer.region,
            instance_type: &offer.instance_type,
            gpu: &table.get(offer.gpu).id,
            gpu_count: offer.gpu_count,
            gpu_vram_gb: offer.gpu_vram_gb,
            vcpus: offer.vcpus,
            ram_gb: offer.ram_gb,
            price_hour: offer.price_hour,
            spot_price_hour: offer.spot_price_hour,
            currency: "USD",
            egress_per_gb: offer.egress_per_gb,
            billing: offer.billing,
            reliability: offer.reliability,
            queue_wait_h: offer.queue_wait_h,
            pricing: offer.pricing,
            source: &offer.source,
            as_of: offer.as_of,
            notes: &offer.notes,
        }
    }
}

/// The header of every offer file, in order.
pub const OFFER_COLUMNS: [&str; 21] = [
    "provider",
    "category",
    "offering",
    "region",
    "instance_type",
    "gpu",
    "gpu_count",
    "gpu_vram_gb",
    "vcpus",
    "ram_gb",
    "price_hour",
    "spot_price_hour",
    "currency",
    "egress_per_gb",
    "billing",
    "reliability",
    "queue_wait_h",
    "pricing",
    "source",
    "as_of",
    "notes",
];
