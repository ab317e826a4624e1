//! Ferry's cost models: what each way of getting GPU compute costs for one workload over a
//! horizon, the buy-versus-rent break-even, the best owned/rented split, and a ranked
//! recommendation with its reasons in words.
//!
//! Pure: no I/O, no clock, no network. Prices come from a [`ferry_catalog::Catalog`]; every
//! other default lives in [`Assumptions`] with its source (`docs/cost-model.md` has the
//! formulas). Models compute in USD; [`advise()`] converts the output to the profile's
//! currency at the catalog's stated rate.
//!
//! ```
//! use ferry_catalog::Catalog;
//! use ferry_tco::{Profile, advise};
//!
//! let profile = Profile::new("RTX 4090", 2, 300.0);
//! let advice = advise(&profile, &Catalog::embedded()).unwrap();
//! let winner = advice.recommendation.unwrap();
//! assert!(!winner.reasons.is_empty());
//! ```
//!
//! - [`profile`]: the workload profile (TOML or flags) and its validation;
//! - [`workload`]: the checked profile in the models' terms;
//! - [`owned`], [`academic`], [`gpu_cloud`], [`hyperscaler`], [`decentralized`],
//!   [`hybrid`]: one model per approach, each producing a [`CategoryEstimate`];
//! - [`rental`]: the per-GPU-hour price of renting, shared by the rental models;
//! - [`breakeven`], [`sensitivity`], [`rank`], [`recommend`]: the comparison;
//! - [`table`]: the comparison table as strings.

pub mod academic;
pub mod advise;
pub mod assumptions;
pub mod breakeven;
pub mod context;
pub mod decentralized;
pub mod error;
pub mod estimate;
pub mod gpu_cloud;
pub mod hybrid;
pub mod hyperscaler;
pub mod money;
pub mod owned;
pub mod profile;
pub mod rank;
pub mod recommend;
pub mod rental;
pub mod sensitivity;
pub mod table;
pub mod workload;

pub use advise::{
    Advice, WorkloadSummary, advise, advise_with, advise_workload, estimate_approach, evaluate,
};
pub use assumptions::Assumptions;
pub use breakeven::BreakEven;
pub use context::Context;
pub use error::{AdviceError, ProfileError};
pub use estimate::{
    AcademicSplit, Approach, CategoryEstimate, ChosenOffer, HybridPlan, LineItem, Performance,
    TimeToResult, Variant,
};
pub use money::Currency;
pub use profile::{Profile, Site};
pub use rank::{Excluded, Ranked};
pub use recommend::Recommendation;
pub use sensitivity::SensitivityCase;
pub use table::{ComparisonTable, TableRow, comparison_table};
pub use workload::Workload;
