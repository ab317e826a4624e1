//! `ferry simulate`'s engine: replays history through Ferry's policies on a virtual clock.
//!
//! Claims about what a policy saves are only as good as the replay behind them, so the
//! replay uses the policy code the server uses ([`ferry_policy`]) and nothing else to
//! decide: this crate is only the world around it — arrivals from a trace, pools that free
//! GPUs when a job's real duration has passed, rented capacity that is ready after a
//! provisioning delay, spot capacity that follows an availability trace — and the
//! accounting. It reads no clock and no file: traces come in as text, reports go out as
//! data, and the same inputs and seed give the same report byte for byte.
//!
//! - [`trace`]: job traces (the ElasticFlow/ITP CSV as published, Ferry's canonical CSV);
//! - [`spot_trace`]: spot availability traces (the JSON of the Can't Be Late traces);
//! - [`cluster`]: a whole cluster's history through `cheapest` or `owned-first`;
//! - [`spot`]: one deadline job on a spot trace, from many random start points.

pub mod cluster;
mod rng;
pub mod spot;
pub mod spot_trace;
mod stats;
pub mod trace;

pub use cluster::{ClusterReport, ClusterSetup};
pub use spot::{SpotReport, SpotSetup};
pub use spot_trace::SpotTrace;
pub use stats::Delays;
pub use trace::{Trace, TraceError, TraceJob};
