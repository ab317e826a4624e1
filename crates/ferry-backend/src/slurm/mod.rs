//! The Slurm backend's pure core: batch scripts as each site wants them, Slurm's states in
//! Ferry's terms, the output of `sbatch`/`squeue`/`sacct`, and allocation accounting in
//! the Alliance's reference GPU units. The transport (this host, or a login node over SSH)
//! and the `Backend` implementation build on these.

pub mod accounting;
pub mod backend;
pub mod parse;
pub mod script;
pub mod state;
