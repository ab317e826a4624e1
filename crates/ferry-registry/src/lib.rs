//! The backend registry: every place Ferry can run work, built from the config in one
//! place, and the placement of a task over them.
//!
//! - [`context`]: what every command and the server need (paths, config, today's date, the
//!   catalog in effect, this host's GPUs).
//! - [`backends`]: owned machines over SSH (`ssh:<name>`), Slurm clusters
//!   (`slurm:<cluster>`) and rented providers, each with its id ([`ferry_backend::BackendId`]),
//!   what placement needs to know of it, and its construction.
//! - [`rented`]: the providers Ferry rents from, their credentials resolved and their
//!   clients built (AWS's from `ferry-cloud-aws`, behind the `aws` feature).
//! - [`place`]: [`place::decide`], the one placement of a task. The server runs it for every
//!   launch (so a job is only ever placed on a backend that server has);
//!   `ferry launch --dry-run` runs the same function without a server.

pub mod backends;
pub mod context;
mod error;
pub mod place;
pub mod rented;

pub use context::Context;
pub use error::{RegistryError, Result};
