//! The job domain every layer shares: ids, the lifecycle, events and exact money.
//!
//! Money is integer micro-dollars ([`Micros`]): models may use floats, the ledger never does.

pub mod attempt;
pub mod clock;
pub mod id;
mod money;
mod state;

pub use attempt::{AttemptStep, EndCause, NextMove};
pub use clock::{Clock, ManualClock, SystemClock, now_ms};
pub use id::JobId;
pub use money::{Micros, MoneyError};
pub use state::{JobState, TransitionError};
