//! Where Ferry keeps its files. XDG base directories, each overridable by an environment
//! variable so tests and scripts never touch the user's real files.

use etcetera::BaseStrategy;
use std::path::PathBuf;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Paths {
    /// `FERRY_CONFIG`, else `$XDG_CONFIG_HOME/ferry/config.toml`.
    pub config_file: PathBuf,
    /// `FERRY_CACHE_DIR`, else `$XDG_CACHE_HOME/ferry`: refreshed price caches.
    pub cache_dir: PathBuf,
    /// `FERRY_DATA_DIR`, else `$XDG_DATA_HOME/ferry`: the store, logs.
    pub data_dir: PathBuf,
}

#[derive(Debug, thiserror::Error)]
#[error(
    "cannot find the home directory to place Ferry's files; set FERRY_CONFIG, FERRY_CACHE_DIR and FERRY_DATA_DIR"
)]
pub struct PathsError;

impl Paths {
    /// Resolves paths from an environment lookup (pass `std::env::var_os` in production).
    pub fn from_env(env: impl Fn(&str) -> Option<std::ffi::OsString>) -> Result<Paths, PathsError> {
        let xdg = etcetera::choose_base_strategy().ok();
        let base = |var: &str, pick: fn(&etcetera::base_strategy::Xdg) -> PathBuf, leaf: &str| {
            env(var).map(PathBuf::from).or_else(|| {
                xdg.as_ref().map(|x| {
                    let dir = pick(x).join("ferry");
                    if leaf.is_empty() { dir } else { dir.join(leaf) }
                })
            })
        };
        Ok(Paths {
            config_file: base("FERRY_CONFIG", |x| x.config_dir(), "config.toml")
                .ok_or(PathsError)?,
            cache_dir: base("FERRY_CACHE_DIR", |x| x.cache_dir(), "").ok_or(PathsError)?,
            data_dir: base("FERRY_DATA_DIR", |x| x.data_dir(), "").ok_or(PathsError)?,
        })
    }

    /// The refresh cache of one provider's offers.
    pub fn offer_cache(&self, provider: &str) -> PathBuf {
        self.cache_dir
            .join("offers")
            .join(format!("{provider}.csv"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn environment_overrides() {
        let p = Paths::from_env(|k| match k {
            "FERRY_CONFIG" => Some("/tmp/c.toml".into()),
            "FERRY_CACHE_DIR" => Some("/tmp/cache".into()),
            "FERRY_DATA_DIR" => Some("/tmp/data".into()),
            _ => None,
        })
        .unwrap();
        assert_eq!(p.config_file, PathBuf::from("/tmp/c.toml"));
        assert_eq!(
            p.offer_cache("vastai"),
            PathBuf::from("/tmp/cache/offers/vastai.csv")
        );
    }
}
