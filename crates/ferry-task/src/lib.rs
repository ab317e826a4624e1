//! Task files: what to run and what it needs.
//!
//! A subset of SkyPilot's task YAML, so users bring the files they have: `name`,
//! `resources` (`accelerators: A100:8` or `{A100: 8}`, `cpus`, `memory`, `cloud`/`infra`,
//! `region`, `use_spot`, `disk_size`, `any_of`), `num_nodes`, `envs`, `workdir`,
//! `file_mounts`, `setup`, `run`; plus Ferry's own keys: `estimated_hours`, `max_price`,
//! `deadline`, `categories`, `budget`, and the data it moves, `inputs_gb` (read in) and
//! `outputs_gb` (sent out of the provider, what egress prices apply to).
//!
//! Parsing is strict: an unknown key or a wrong type is an error naming the key, line and
//! column, with a suggestion for a misspelt key. Parsing is pure; [`Task::check_paths`]
//! is the one call that looks at the disk.

mod error;
mod raw;
mod task;

pub use error::TaskError;
pub use task::{Accelerator, Deadline, ResourceOption, Task};
