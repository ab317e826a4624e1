use ferry_job::{JobId, JobState, Micros};
use std::path::PathBuf;

/// Boxed so that the trait does not tie every implementation to one database driver.
pub type DbError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// What went wrong in the store, naming the job (or file) and the operation.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("job {id} is not in the store")]
    NotFound { id: JobId },

    #[error("job {id} is already in the store")]
    Duplicate { id: JobId },

    #[error("job {id} cannot go from {from} to {to}")]
    IllegalTransition {
        id: JobId,
        from: JobState,
        to: JobState,
    },

    #[error("job {id}: finishing needs a final state, and {to} is not one")]
    NotTerminal { id: JobId, to: JobState },

    /// Another writer changed the job between our read and our write; nothing was written.
    #[error("job {id} changed while it was being updated; nothing was written, read it again")]
    Conflict { id: JobId },

    #[error("job {id}: {what}; nothing was written")]
    Invalid { id: JobId, what: String },

    /// The store cannot take writes now (the server is stopping); nothing was written.
    #[error("{what}; nothing was written")]
    Unavailable { what: String },

    #[error("job {id} cannot have device {device} of backend '{backend}': job {holder} holds it")]
    DeviceBusy {
        id: JobId,
        backend: String,
        device: u32,
        holder: JobId,
    },

    #[error("job {id} cannot take GPUs: it is already {state}")]
    AllocateFinished { id: JobId, state: JobState },

    #[error(
        "job {id} already has a '{kind}' charge of {booked}; refusing to book a different {attempted}"
    )]
    LedgerConflict {
        id: JobId,
        kind: String,
        booked: Micros,
        attempted: Micros,
    },

    #[error(
        "database {path} has schema version {found}, newer than this ferry knows ({known}): upgrade ferry to open it"
    )]
    SchemaTooNew {
        path: String,
        found: i64,
        known: i64,
    },

    #[error("cannot create the directory {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },

    #[error("store: {op}: {source}")]
    Db { op: String, source: DbError },

    /// A row the store wrote earlier no longer decodes: someone edited the file by hand,
    /// or a newer ferry wrote a value this one does not know.
    #[error("store: {row} has an unreadable {field}: {what}")]
    Corrupt {
        row: String,
        field: &'static str,
        what: String,
    },
}

impl StoreError {
    pub fn db(op: impl Into<String>, source: impl Into<DbError>) -> StoreError {
        StoreError::Db {
            op: op.into(),
            source: source.into(),
        }
    }

    pub fn invalid(id: &JobId, what: impl Into<String>) -> StoreError {
        StoreError::Invalid {
            id: id.clone(),
            what: what.into(),
        }
    }
}
