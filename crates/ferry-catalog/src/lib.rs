//! Ferry's facts: GPU specs and GPU offers, each number with where it came from.
//!
//! The core of this crate does no I/O and reads no clock: callers hand it text (the
//! embedded snapshot, a cache file, a user's file) and today's date, and it parses,
//! validates, filters and sorts. That keeps it fast, deterministic, and shared by the
//! CLI, the server and the simulator alike.
//!
//! - [`gpu`]: the GPU spec table and name resolution (`a100`, `A100-80GB`, `NVIDIA A100-SXM4-80GB`).
//! - [`offer`]: one way of getting GPUs at a price: provider, category, instance, prices, source.
//! - [`load`]: parsing and validating offer files; a bad row is rejected with its file and line.
//! - [`owned`]: the amortised hourly cost of hardware the user owns (never $0).
//! - [`query`]: filters and sort orders over offers.
//! - [`catalog`]: specs + offers + where each provider's rows came from.

pub mod catalog;
pub mod category;
pub mod date;
pub mod embedded;
pub mod fx;
pub mod gpu;
pub mod load;
pub mod offer;
pub mod owned;
pub mod query;
pub mod range;

pub use catalog::{Catalog, ProviderOrigin};
pub use category::Category;
pub use date::Date;
pub use gpu::{GpuId, GpuSpec, GpuTable, ResolveError};
pub use load::{LoadReport, RowError};
pub use offer::{Billing, Offer, Pricing};
pub use query::{OfferFilter, PriceMode, SortKey};
