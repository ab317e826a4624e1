//! What every command needs: paths, config, today's date, and the catalog assembled from
//! the embedded snapshot, refresh caches, the user's files and owned hardware.

use crate::error::{RegistryError, Result};
use ferry_catalog::offer::Origin;
use ferry_catalog::{Catalog, Date};
use ferry_config::{Config, KNOWN_PROVIDERS, Paths};

pub struct Context {
    pub paths: Paths,
    pub config: Config,
    pub today: Date,
}

impl Context {
    pub fn load() -> Result<Context> {
        let paths = Paths::from_env(|k| std::env::var_os(k))?;
        let config = Config::load(&paths.config_file)?;
        Ok(Context {
            paths,
            config,
            today: today()?,
        })
    }

    /// The catalog in effect: embedded rows, replaced per provider by a refresh cache, plus
    /// the user's offer files and owned hardware.
    pub fn catalog(&self) -> Result<Catalog> {
        let mut catalog = Catalog::embedded();
        for provider in KNOWN_PROVIDERS {
            let path = self.paths.offer_cache(provider);
            match std::fs::read(&path) {
                Ok(text) => {
                    catalog.override_provider(
                        provider,
                        &text,
                        Origin::File(path.display().to_string()),
                    );
                }
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => eprintln!(
                    "warning: cannot read {}: {e}; using the embedded prices",
                    path.display()
                ),
            }
        }
        for file in &self.config.catalog.files {
            let text = std::fs::read(file).map_err(|source| RegistryError::Io {
                what: format!(
                    "reading offer file {} (config catalog.files)",
                    file.display()
                ),
                source,
            })?;
            catalog.add_file(&text, Origin::File(file.display().to_string()));
        }
        for offer in self.config.owned_offers(catalog.table, self.today) {
            catalog.push(offer);
        }
        catalog.reject_future(self.today);
        Ok(catalog)
    }
}

impl Context {
    /// This host's GPUs: declared in the config (`[local] declared_gpus`), else from NVML.
    pub fn local_gpus(&self) -> ferry_backend::GpuDetection {
        match self.config.local.declared_gpus {
            Some(n) => {
                let name = self
                    .config
                    .local
                    .declared_gpu
                    .clone()
                    .unwrap_or_else(|| "RTX 4090".into());
                let table = ferry_catalog::GpuTable::embedded();
                let vram = table
                    .resolve_one(&name)
                    .map_or(0.0, |id| table.get(id).vram_gb);
                ferry_backend::gpu::declared(n, &name, vram)
            }
            None => ferry_backend::gpu::detect_nvml(),
        }
    }
}

/// Today's date (UTC). `FERRY_TODAY=YYYY-MM-DD` pins it, for reproducible reports and tests.
pub fn today() -> Result<Date> {
    if let Ok(s) = std::env::var("FERRY_TODAY") {
        return s
            .parse()
            .map_err(|e| RegistryError::invalid(format!("FERRY_TODAY: {e}")));
    }
    Ok(Date::from_days_since_epoch(
        ferry_job::now_ms().div_euclid(86_400_000),
    ))
}
