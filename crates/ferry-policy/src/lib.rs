//! Ferry's scheduling policies, as pure decisions.
//!
//! The scheduler is mechanism: it reconciles what runs, writes each decision to the store
//! and then carries it out, and books what it cost. *What* to do is decided here, from a
//! snapshot of the queue, the pools, the rented alternatives, the budgets and the time,
//! into [`Action`]s that are plain data. Nothing in this crate reads a clock, a file or
//! the network, so every rule is tested on its own, and `ferry simulate` replays a whole
//! cluster's history through exactly the functions the server calls.
//!
//! - [`easy`]: which queued jobs start now on one pool (queue order with EASY backfill);
//! - [`pass`]: one scheduling pass over the pools and the rented alternative for the
//!   `cheapest` and `owned-first` policies (start here, rent this, hold and why);
//! - [`progress`]: for a job with a deadline on spot capacity, when to use spot, when
//!   on-demand, when to wait (`deadline-spot`: Uniform Progress, after Wu et al., "Can't Be
//!   Late", NSDI '24);
//! - [`budget`]: hard caps, checked before a launch and while a rented job runs.

pub mod budget;
pub mod easy;
pub mod pass;
pub mod progress;

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// Which policy decides where work runs (a task's `policy`, the config's
/// `[scheduler] policy`, or `ferry simulate --policy`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum PolicyKind {
    /// Each job where its expected cost is lowest, over every enabled backend, rented ones
    /// included; queued in submission order (FIFO with EASY backfill).
    #[default]
    Cheapest,
    /// The hybrid: owned and academic GPUs first; a job bursts to the cheapest rented
    /// placement when waiting for them would pass its `max_wait` or miss its `deadline`,
    /// and only if the rental fits the budget.
    OwnedFirst,
    /// For a job with a deadline on spot capacity: spot while progress keeps up with the
    /// uniform line, on-demand when it falls behind, never missing a deadline on-demand
    /// alone could meet. Queued work is placed as by `owned-first`.
    DeadlineSpot,
}

impl PolicyKind {
    pub const ALL: [PolicyKind; 3] = [
        PolicyKind::Cheapest,
        PolicyKind::OwnedFirst,
        PolicyKind::DeadlineSpot,
    ];

    pub fn name(self) -> &'static str {
        match self {
            PolicyKind::Cheapest => "cheapest",
            PolicyKind::OwnedFirst => "owned-first",
            PolicyKind::DeadlineSpot => "deadline-spot",
        }
    }

    /// One sentence for plans and `--help`.
    pub fn explain(self) -> &'static str {
        match self {
            PolicyKind::Cheapest => {
                "each job goes where its expected cost is lowest and waits there in submission order"
            }
            PolicyKind::OwnedFirst => {
                "owned and academic GPUs first; a job rents only when waiting would pass its max_wait or miss its deadline, within budget"
            }
            PolicyKind::DeadlineSpot => {
                "spot while progress keeps up with a uniform line to the deadline, on-demand when behind it"
            }
        }
    }
}

impl fmt::Display for PolicyKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for PolicyKind {
    type Err = String;
    fn from_str(s: &str) -> Result<PolicyKind, String> {
        PolicyKind::ALL
            .into_iter()
            .find(|p| p.name() == s)
            .ok_or_else(|| {
                let names: Vec<&str> = PolicyKind::ALL.iter().map(|p| p.name()).collect();
                format!("no policy '{s}' (one of: {})", names.join(", "))
            })
    }
}

pub use pass::{Action, Decision, Hold, Pool, Queued, Rental, View};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_read_back() {
        for p in PolicyKind::ALL {
            assert_eq!(p.name().parse::<PolicyKind>(), Ok(p));
            assert_eq!(serde_json::to_string(&p).unwrap(), format!("\"{p}\""));
        }
        assert!(
            "fifo"
                .parse::<PolicyKind>()
                .unwrap_err()
                .contains("owned-first")
        );
    }
}
