//! Ferry's configuration: `~/.config/ferry/config.toml` (XDG; `FERRY_CONFIG` overrides).
//!
//! It declares what only the user knows: the hardware they own (priced at its amortised
//! cost, never $0), the academic allocations they hold, API keys for the price sources
//! that need one, and how old a price may get before Ferry warns.

mod paths;
mod schema;

pub use paths::{Paths, PathsError};
pub use schema::{
    ALLIANCE_CLUSTERS, AcademicAllocation, CatalogSettings, Config, ConfigError, GpuRequest,
    HostSettings, KNOWN_PROVIDERS, LocalSettings, OwnedMachine, ProviderSettings,
    RENTABLE_PROVIDERS, mask_secret, parse_ssh_address,
};
