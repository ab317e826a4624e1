//! Ferry's durable store: jobs, their append-only event log, GPU allocations and the
//! exact money ledger.
//!
//! Every operation of [`Store`] is one transaction, so a crash (even `kill -9`) leaves
//! each job either wholly recorded or not at all, and each charge booked exactly once.
//! [`SqliteStore`] is the default, one file in the user's data directory; the trait uses
//! only the shared domain types so that PostgreSQL for a team server is one more
//! implementation.

mod error;
mod model;
mod sqlite;
mod store;
mod validate;

pub use error::{DbError, StoreError};
pub use model::{
    Attempt, AttemptPatch, BookedEntry, COMPUTE, EGRESS, EventKind, FinishedRun, JobEvent,
    JobFilter, JobMove, JobPatch, JobRecord, LedgerEntry, LedgerFilter, NewAttempt, NewJob,
    OVERHEAD, Placement, STORAGE,
};
pub use sqlite::{
    Clock, DEFAULT_FILE_NAME, Durability, SCHEMA_VERSION, SqliteOptions, SqliteStore,
};
pub use store::Store;
