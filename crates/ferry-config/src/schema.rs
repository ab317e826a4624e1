//! The config file's schema. Parsing is strict: an unknown key or a wrong type is an
//! error naming the key, line and column.

use ferry_catalog::offer::{Billing, Offer, Origin, Pricing};
use ferry_catalog::owned::OwnedHardware;
use ferry_catalog::{Category, Date, GpuTable};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

/// Provider ids Ferry knows; a `[providers.X]` table must name one of them.
pub const KNOWN_PROVIDERS: &[&str] = &[
    "aws",
    "gcp",
    "azure",
    "lambda",
    "runpod",
    "paperspace",
    "vastai",
    "golem",
    "boinc",
    "alliance",
];

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    #[serde(default)]
    pub catalog: CatalogSettings,
    #[serde(default)]
    pub providers: BTreeMap<String, ProviderSettings>,
    #[serde(default)]
    pub owned: Vec<OwnedMachine>,
    #[serde(default)]
    pub academic: Vec<AcademicAllocation>,
    #[serde(default)]
    pub local: LocalSettings,
    /// How to reach machines over SSH, by the names `[[owned]] host` and `[[academic]]
    /// host` use.
    #[serde(default)]
    pub hosts: BTreeMap<String, HostSettings>,
    #[serde(default)]
    pub budget: BudgetSettings,
    #[serde(default)]
    pub scheduler: SchedulerSettings,
}

/// How the server's queue decides where work runs.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SchedulerSettings {
    /// The policy for tasks that do not name one (`policy:`): `cheapest` (the default),
    /// `owned-first` or `deadline-spot`.
    #[serde(default)]
    pub policy: ferry_policy::PolicyKind,
}

/// Hard caps on spend.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BudgetSettings {
    /// The most everything booked in a UTC calendar month may cost, USD (owned time at its
    /// amortised rate, rented time as billed). A launch whose expected cost would pass it
    /// is refused with the numbers.
    pub monthly_usd: Option<f64>,
    /// Monthly caps per user (the name `ferry launch` runs as, or `--user`), USD.
    #[serde(default)]
    pub users: BTreeMap<String, f64>,
    /// Monthly caps per project (`ferry launch --project`), USD.
    #[serde(default)]
    pub projects: BTreeMap<String, f64>,
}

/// How to reach one machine over SSH. Fields left out are left to ssh and `~/.ssh/config`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HostSettings {
    /// Address or name to connect to (default: the table's name, so `~/.ssh/config`
    /// aliases work as they are).
    pub address: Option<String>,
    pub port: Option<u16>,
    pub user: Option<String>,
    pub identity_file: Option<PathBuf>,
    pub known_hosts_file: Option<PathBuf>,
    /// A bastion to jump through (`ssh -J`).
    pub jump: Option<String>,
    /// An ssh config file to use instead of `~/.ssh/config` (`ssh -F`).
    pub ssh_config: Option<PathBuf>,
}

/// This host, as the `local` backend sees it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LocalSettings {
    /// Declare this many GPUs instead of detecting them (as Slurm sites declare fake GRES):
    /// for trying Ferry's queueing on a host without GPUs. Jobs see the indices in
    /// `CUDA_VISIBLE_DEVICES`, but no device backs them.
    pub declared_gpus: Option<u32>,
    /// The model of the declared GPUs (default "RTX 4090").
    pub declared_gpu: Option<String>,
    /// Longest a job may run before it is stopped, hours (`ferry launch --max-runtime` overrides).
    pub max_runtime_hours: Option<f64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CatalogSettings {
    /// Warn when a price shown is older than this many days.
    #[serde(default = "default_max_age_days")]
    pub max_age_days: u32,
    /// Extra offer files (same columns as the embedded ones) to add to the catalog.
    #[serde(default)]
    pub files: Vec<PathBuf>,
}

fn default_max_age_days() -> u32 {
    90
}

impl Default for CatalogSettings {
    fn default() -> Self {
        CatalogSettings {
            max_age_days: default_max_age_days(),
            files: vec![],
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProviderSettings {
    /// API key for sources that need one (RunPod, Lambda). The environment variable
    /// `<PROVIDER>_API_KEY` (e.g. `RUNPOD_API_KEY`) is used when this is unset.
    pub api_key: Option<String>,
    /// Override the API's base URL (a proxy, a mirror, a test server).
    pub endpoint: Option<String>,
    /// Regions to fetch prices for, where the source is per region (AWS, Azure).
    #[serde(default)]
    pub regions: Vec<String>,
    /// `false` leaves this provider out of `ferry catalog refresh`.
    #[serde(default = "yes")]
    pub refresh: bool,
    /// Rent machines from this provider: `ferry launch` may place work there (RunPod,
    /// Lambda, Vast.ai and Paperspace).
    #[serde(default)]
    pub launch: bool,
    /// The provisioning API's base URL, when not the provider's own (a proxy, a test server).
    pub api_endpoint: Option<String>,
    /// Container or machine image for rented machines; the provider's default when unset.
    pub image: Option<String>,
    /// Disk per rented machine, GB (50 when unset).
    pub disk_gb: Option<u32>,
    /// Reach every rented machine at `user@host:port` instead of the address the provider
    /// gives (a tunnel or a bastion); the provider's address is still recorded.
    pub ssh_override: Option<String>,
    /// AWS: the profile of `~/.aws/config` to use (else the SDK's chain: `AWS_PROFILE`,
    /// the environment's keys, the default profile, SSO).
    pub profile: Option<String>,
    /// Google Cloud: the service-account key file (else `GOOGLE_APPLICATION_CREDENTIALS`).
    pub credentials_file: Option<PathBuf>,
    /// Google Cloud: the project (else the key file's `project_id`).
    pub project: Option<String>,
    /// Azure: the service principal's tenant (else `AZURE_TENANT_ID`).
    pub tenant_id: Option<String>,
    /// Azure: the service principal's application id (else `AZURE_CLIENT_ID`).
    pub client_id: Option<String>,
    /// Azure: the service principal's secret (else `AZURE_CLIENT_SECRET`).
    pub client_secret: Option<String>,
    /// Azure: the subscription to rent in (else `AZURE_SUBSCRIPTION_ID`).
    pub subscription_id: Option<String>,
    /// Azure: the resource group Ferry's machines and network live in (`ferry` when unset;
    /// made when missing).
    pub resource_group: Option<String>,
    /// Google Cloud and Azure: the OAuth token endpoint, when not the provider's own (a
    /// test server).
    pub token_endpoint: Option<String>,
    /// AWS: the Service Quotas endpoint, when not AWS's own (a test server); the EC2 API's
    /// is `api_endpoint`.
    pub quotas_endpoint: Option<String>,
}

/// Providers Ferry can rent machines from (`launch = true`).
pub const RENTABLE_PROVIDERS: &[&str] = &[
    "runpod",
    "lambda",
    "vastai",
    "paperspace",
    "aws",
    "gcp",
    "azure",
];

/// `user@host:port`, as `ssh_override` is written.
pub fn parse_ssh_address(s: &str) -> Option<(String, String, u16)> {
    let (user, rest) = s.split_once('@')?;
    let (host, port) = rest.rsplit_once(':')?;
    let port: u16 = port.parse().ok()?;
    (!user.is_empty() && !host.is_empty()).then(|| (user.to_string(), host.to_string(), port))
}

fn yes() -> bool {
    true
}

/// A machine the user owns.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OwnedMachine {
    pub name: String,
    /// Any name `ferry gpus` resolves to one model (e.g. "RTX 4090").
    pub gpu: String,
    pub gpu_count: u32,
    /// What the whole machine cost, USD.
    pub purchase_usd: f64,
    #[serde(default = "default_life")]
    pub service_life_years: f64,
    #[serde(default)]
    pub resale_fraction: f64,
    /// Share of its hours the machine is busy; idle hours are paid by the busy ones.
    #[serde(default = "default_utilization")]
    pub utilization: f64,
    /// Average draw while busy, W (default: GPU TDP x 1.8 x 0.75 per GPU).
    pub power_w: Option<f64>,
    #[serde(default = "default_kwh")]
    pub electricity_usd_per_kwh: f64,
    #[serde(default = "default_pue")]
    pub pue: f64,
    #[serde(default = "default_region")]
    pub region: String,
    /// Reachable over SSH as this host (a `[hosts.NAME]` entry, or anything ssh takes:
    /// `user@address`, a `~/.ssh/config` alias); unset for this machine. Ferry runs jobs
    /// there as the `ssh:<name>` backend.
    pub host: Option<String>,
    /// Where job folders go on that host (relative: under the home directory).
    #[serde(default = "default_job_root")]
    pub job_root: String,
    /// When it was bought (YYYY-MM-DD); the offer's `as_of`.
    pub purchased: Option<String>,
}

fn default_life() -> f64 {
    // Economic life for resale planning (docs/cost-model.md: tco_params useful_life_years).
    3.0
}
fn default_utilization() -> f64 {
    0.5
}
fn default_kwh() -> f64 {
    // US industrial average 2025, EIA via Epoch AI training-cost-trends.
    0.0826
}
fn default_pue() -> f64 {
    1.0
}
fn default_region() -> String {
    "local".into()
}

/// An academic allocation the user holds (Alliance / Calcul Québec or any Slurm site).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AcademicAllocation {
    /// Cluster id as in the catalog (rorqual, narval, fir, nibi, trillium, tamia, killarney, vulcan).
    pub cluster: String,
    /// Slurm account: `def-…` (default/RAS), `rrg-…`/`rpp-…` (RAC), `aip-…` (PAICE).
    pub account: String,
    /// Allocated GPU-years, if the allocation states them.
    pub gpu_years: Option<f64>,
    /// Allocated reference GPU units (RGU-years), if stated that way.
    pub rgu_years: Option<f64>,
    /// The cluster's login node (a `[hosts.NAME]` entry, or anything ssh takes), or
    /// `localhost` to run `sbatch` on this machine. Unset: the allocation only informs
    /// advice and placement; Ferry does not submit there.
    pub host: Option<String>,
    /// The partition to submit to (unset: the cluster's default).
    pub partition: Option<String>,
    /// The partition's wall-time cap in hours: a longer request is refused before it is
    /// submitted.
    pub max_walltime_hours: Option<f64>,
    /// The GPU model of the nodes jobs land on (any name `ferry gpus` resolves); default:
    /// the cluster's largest GPU node in the catalog.
    pub gpu: Option<String>,
    /// GPUs per node (default: as in the catalog).
    pub gpus_per_node: Option<u32>,
    /// How the site wants GPUs asked for: `gpus-per-node` (`--gpus-per-node=h100:N`, the
    /// Alliance's form) or `gres` (`--gres=gpu:N`). Default: `gpus-per-node` on the
    /// Alliance's clusters, `gres` elsewhere.
    pub gpu_request: Option<GpuRequest>,
    /// Slurm's name for the GPU type (`h100`, `a100`); unset asks for any GPU.
    pub gpu_type: Option<String>,
    pub cpus_per_task: Option<u32>,
    pub mem_gb: Option<u32>,
    /// Where job folders go on the cluster (relative: under the home directory). It must
    /// be visible from the compute nodes (home, project or scratch, not /tmp).
    #[serde(default = "default_job_root")]
    pub job_root: String,
    /// Exported before every Slurm command (e.g. `SLURM_CONF` for a cluster whose config
    /// is not in the default place).
    #[serde(default)]
    pub env: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum GpuRequest {
    GpusPerNode,
    Gres,
}

/// The Alliance's national clusters (docs.alliancecan.ca), whose sites want
/// `--gpus-per-node=<type>:N`.
pub const ALLIANCE_CLUSTERS: &[&str] = &[
    "rorqual",
    "narval",
    "fir",
    "nibi",
    "trillium",
    "tamia",
    "killarney",
    "vulcan",
];

fn default_job_root() -> String {
    "ferry-jobs".into()
}

impl AcademicAllocation {
    pub fn gpu_request(&self) -> GpuRequest {
        self.gpu_request.unwrap_or(
            if ALLIANCE_CLUSTERS.contains(&self.cluster.to_ascii_lowercase().as_str()) {
                GpuRequest::GpusPerNode
            } else {
                GpuRequest::Gres
            },
        )
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{path}:{line}:{column}: {message}")]
    Parse {
        path: String,
        line: usize,
        column: usize,
        message: String,
    },
    #[error("{path}: {field}: {message}")]
    Invalid {
        path: String,
        field: String,
        message: String,
    },
    #[error("cannot read {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
}

/// `sk-…abcd` → `****abcd`: enough to tell keys apart, not enough to use one.
pub fn mask_secret(s: &str) -> String {
    let tail: String = s
        .chars()
        .rev()
        .take(4)
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .collect();
    if s.chars().count() <= 8 {
        "****".into()
    } else {
        format!("****{tail}")
    }
}

impl Config {
    /// Reads the config file; a missing file is an empty config.
    pub fn load(path: &std::path::Path) -> Result<Config, ConfigError> {
        match std::fs::read_to_string(path) {
            Ok(text) => Config::parse(&text, &path.display().to_string()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Config::default()),
            Err(source) => Err(ConfigError::Read {
                path: path.display().to_string(),
                source,
            }),
        }
    }

    pub fn parse(text: &str, path: &str) -> Result<Config, ConfigError> {
        let config: Config = toml::from_str(text).map_err(|e| {
            let (line, column) = e.span().map(|s| line_col(text, s.start)).unwrap_or((0, 0));
            ConfigError::Parse {
                path: path.to_string(),
                line,
                column,
                message: e.message().trim().to_string(),
            }
        })?;
        config.validate(path)?;
        Ok(config)
    }

    fn validate(&self, path: &str) -> Result<(), ConfigError> {
        let invalid = |field: String, message: String| ConfigError::Invalid {
            path: path.to_string(),
            field,
            message,
        };
        let caps = self
            .budget
            .monthly_usd
            .map(|b| ("budget.monthly_usd".to_string(), b))
            .into_iter()
            .chain(
                self.budget
                    .users
                    .iter()
                    .map(|(u, b)| (format!("budget.users.{u}"), *b)),
            )
            .chain(
                self.budget
                    .projects
                    .iter()
                    .map(|(p, b)| (format!("budget.projects.{p}"), *b)),
            );
        for (field, b) in caps {
            if !(b.is_finite() && b > 0.0 && b < 1e12) {
                return Err(invalid(
                    field,
                    format!("{b} is not a monthly budget (USD, above 0)"),
                ));
            }
        }
        for name in self.providers.keys() {
            if !KNOWN_PROVIDERS.contains(&name.as_str()) {
                let near = KNOWN_PROVIDERS
                    .iter()
                    .max_by(|a, b| {
                        strsim::jaro_winkler(name, a).total_cmp(&strsim::jaro_winkler(name, b))
                    })
                    .map(|p| format!("; did you mean '{p}'?"))
                    .unwrap_or_default();
                return Err(invalid(
                    format!("providers.{name}"),
                    format!(
                        "unknown provider (known: {}){near}",
                        KNOWN_PROVIDERS.join(", ")
                    ),
                ));
            }
        }
        for (name, p) in &self.providers {
            if p.launch && !RENTABLE_PROVIDERS.contains(&name.as_str()) {
                return Err(invalid(
                    format!("providers.{name}.launch"),
                    format!(
                        "Ferry cannot rent machines from {name} yet (it can from: {})",
                        RENTABLE_PROVIDERS.join(", ")
                    ),
                ));
            }
            if let Some(o) = &p.ssh_override
                && parse_ssh_address(o).is_none()
            {
                return Err(invalid(
                    format!("providers.{name}.ssh_override"),
                    format!("'{o}' is not user@host:port"),
                ));
            }
            if p.disk_gb == Some(0) {
                return Err(invalid(
                    format!("providers.{name}.disk_gb"),
                    "must be at least 1".into(),
                ));
            }
        }
        let table = GpuTable::embedded();
        for (i, m) in self.owned.iter().enumerate() {
            table
                .resolve_one(&m.gpu)
                .map_err(|e| invalid(format!("owned[{i}].gpu ({})", m.name), e))?;
            self.hardware(m, table)
                .cost()
                .map_err(|e| invalid(format!("owned[{i}].{} ({})", e.field, m.name), e.message))?;
            if let Some(d) = &m.purchased {
                d.parse::<Date>().map_err(|e| {
                    invalid(format!("owned[{i}].purchased ({})", m.name), e.to_string())
                })?;
            }
        }
        if let Some(g) = &self.local.declared_gpu {
            table
                .resolve_one(g)
                .map_err(|e| invalid("local.declared_gpu".into(), e))?;
        }
        if self
            .local
            .max_runtime_hours
            .is_some_and(|h| h.is_nan() || h <= 0.0)
        {
            return Err(invalid(
                "local.max_runtime_hours".into(),
                "must be > 0".into(),
            ));
        }
        for (i, a) in self.academic.iter().enumerate() {
            if a.account.trim().is_empty() {
                return Err(invalid(format!("academic[{i}].account"), "is empty".into()));
            }
            if a.gpu_years.is_some_and(|v| v < 0.0) || a.rgu_years.is_some_and(|v| v < 0.0) {
                return Err(invalid(
                    format!("academic[{i}]"),
                    "allocations must be >= 0".into(),
                ));
            }
            if a.max_walltime_hours.is_some_and(|h| h.is_nan() || h <= 0.0) {
                return Err(invalid(
                    format!("academic[{i}].max_walltime_hours"),
                    "must be > 0".into(),
                ));
            }
            if let Some(g) = &a.gpu {
                table
                    .resolve_one(g)
                    .map_err(|e| invalid(format!("academic[{i}].gpu ({})", a.cluster), e))?;
            }
            // A cluster the catalog knows, or a Slurm site of the user's own (with a host).
            if a.host.is_none()
                && !ALLIANCE_CLUSTERS.contains(&a.cluster.to_ascii_lowercase().as_str())
            {
                let near = ALLIANCE_CLUSTERS
                    .iter()
                    .map(|c| (strsim::jaro_winkler(&a.cluster.to_ascii_lowercase(), c), *c))
                    .filter(|(score, _)| *score > 0.8)
                    .max_by(|x, y| x.0.total_cmp(&y.0))
                    .map(|(_, c)| format!("did you mean '{c}'? "))
                    .unwrap_or_default();
                return Err(invalid(
                    format!("academic[{i}].cluster"),
                    format!(
                        "'{}' is not a cluster the catalog knows ({}); {near}a Slurm site of your own needs host, gpu and gpus_per_node",
                        a.cluster,
                        ALLIANCE_CLUSTERS.join(", ")
                    ),
                ));
            }
            if a.host.is_some()
                && self
                    .academic
                    .iter()
                    .filter(|b| b.host.is_some() && b.cluster.eq_ignore_ascii_case(&a.cluster))
                    .count()
                    > 1
            {
                return Err(invalid(
                    format!("academic[{i}].cluster"),
                    format!(
                        "'{}' is declared with a host twice; Ferry submits to one account per cluster",
                        a.cluster
                    ),
                ));
            }
        }
        let mut names = std::collections::BTreeSet::new();
        for (i, m) in self.owned.iter().enumerate() {
            // The name is the offer's and the backend's (`ssh:<name>`): one machine each.
            if !names.insert(m.name.to_ascii_lowercase()) {
                return Err(invalid(
                    format!("owned[{i}].name"),
                    format!(
                        "'{}' names two [[owned]] machines; give each its own name",
                        m.name
                    ),
                ));
            }
        }
        Ok(())
    }

    fn hardware(&self, m: &OwnedMachine, table: &GpuTable) -> OwnedHardware {
        let tdp = table
            .resolve_one(&m.gpu)
            .map(|id| table.get(id).tdp_w)
            .unwrap_or(0.0);
        OwnedHardware {
            gpu_count: m.gpu_count,
            purchase_usd: m.purchase_usd,
            service_life_years: m.service_life_years,
            resale_fraction: m.resale_fraction,
            utilization: m.utilization,
            power_w: m
                .power_w
                .unwrap_or_else(|| OwnedHardware::default_power_w(m.gpu_count, tdp)),
            electricity_usd_per_kwh: m.electricity_usd_per_kwh,
            pue: m.pue,
        }
    }

    /// The owned machines as offers, priced at their amortised cost per hour. `today` is
    /// the `as_of` of machines with no purchase date.
    pub fn owned_offers(&self, table: &GpuTable, today: Date) -> Vec<Offer> {
        self.owned
            .iter()
            .filter_map(|m| {
                let gpu = table.resolve_one(&m.gpu).ok()?;
                let hw = self.hardware(m, table);
                let cost = hw.cost().ok()?;
                Some(Offer {
                    provider: "owned".into(),
                    category: Category::Owned,
                    offering: m.name.clone(),
                    region: m.region.clone(),
                    instance_type: m.host.clone().unwrap_or_else(|| "this host".into()),
                    gpu,
                    gpu_count: m.gpu_count,
                    gpu_vram_gb: table.get(gpu).vram_gb,
                    vcpus: None,
                    ram_gb: None,
                    price_hour: Some(cost.price_per_hour),
                    spot_price_hour: None,
                    currency: "USD".into(),
                    price_hour_original: Some(cost.price_per_hour),
                    egress_per_gb: Some(0.0),
                    billing: Billing::PerSecond,
                    reliability: None,
                    queue_wait_h: None,
                    pricing: Pricing::Cash,
                    source: format!(
                        "amortised: ${:.0} x (1 - {:.2} resale) over {} y at {:.0}% busy = ${:.4}/h capital, + {:.0} W x PUE {} x ${}/kWh = ${:.4}/h power",
                        hw.purchase_usd,
                        hw.resale_fraction,
                        hw.service_life_years,
                        hw.utilization * 100.0,
                        cost.capital_per_hour,
                        hw.power_w,
                        hw.pue,
                        hw.electricity_usd_per_kwh,
                        cost.power_per_hour
                    ),
                    as_of: m
                        .purchased
                        .as_deref()
                        .and_then(|d| d.parse().ok())
                        .unwrap_or(today),
                    notes: "your hardware, from the config".into(),
                    origin: Arc::new(Origin::Config(format!("owned.{}", m.name))),
                    line: 0,
                })
            })
            .collect()
    }

    /// The allocation declared for a cluster, if any.
    pub fn allocation(&self, cluster: &str) -> Option<&AcademicAllocation> {
        self.academic
            .iter()
            .find(|a| a.cluster.eq_ignore_ascii_case(cluster))
    }

    /// API key from the config, else `<PROVIDER>_API_KEY` from the environment.
    pub fn api_key(&self, provider: &str, env: impl Fn(&str) -> Option<String>) -> Option<String> {
        self.providers
            .get(provider)
            .and_then(|p| p.api_key.clone())
            // Vast.ai's own tools read VAST_API_KEY.
            .or_else(|| {
                (provider == "vastai")
                    .then(|| env("VAST_API_KEY"))
                    .flatten()
            })
            .or_else(|| env(&format!("{}_API_KEY", provider.to_ascii_uppercase())))
            .filter(|k| !k.trim().is_empty())
    }

    /// The config with every secret masked, for `ferry config show`.
    pub fn masked(&self) -> Config {
        let mut c = self.clone();
        for p in c.providers.values_mut() {
            if let Some(k) = &p.api_key {
                p.api_key = Some(mask_secret(k));
            }
            if let Some(k) = &p.client_secret {
                p.client_secret = Some(mask_secret(k));
            }
        }
        c
    }
}

fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, column)
}

#[cfg(test)]
mod tests {
    use super::*;

    const EXAMPLE: &str = r#"
[catalog]
max_age_days = 30

[providers.runpod]
api_key = "rp_0123456789abcdef"

[[owned]]
name = "lab-box"
gpu = "RTX 4090"
gpu_count = 2
purchase_usd = 6000
resale_fraction = 0.2

[[academic]]
cluster = "narval"
account = "def-someprof"
gpu_years = 2.5
"#;

    #[test]
    fn parses_and_prices_owned_hardware() {
        let c = Config::parse(EXAMPLE, "config.toml").unwrap();
        assert_eq!(c.catalog.max_age_days, 30);
        let offers = c.owned_offers(GpuTable::embedded(), Date::ymd(2026, 11, 23));
        assert_eq!(offers.len(), 1);
        let o = &offers[0];
        assert_eq!(o.category, Category::Owned);
        // 6000*0.8/(3*8766)/0.5 = 0.36504 capital; 2*450*1.8*0.75 W = 1215 W * 0.0826 = 0.10036 power.
        let expected = 4800.0 / (3.0 * 8766.0) / 0.5 + 1.215 * 0.0826;
        assert!(
            (o.price_hour.unwrap() - expected).abs() < 1e-9,
            "{:?}",
            o.price_hour
        );
        assert!(o.source.contains("amortised"));
        assert_eq!(c.allocation("Narval").unwrap().account, "def-someprof");
    }

    #[test]
    fn unknown_key_names_key_line_and_column() {
        let bad = EXAMPLE.replace("resale_fraction", "resale_fractoin");
        let e = Config::parse(&bad, "config.toml").unwrap_err().to_string();
        assert!(e.starts_with("config.toml:13:1:"), "{e}");
        assert!(
            e.contains("resale_fractoin") && e.contains("resale_fraction"),
            "{e}"
        );
    }

    #[test]
    fn wrong_type_names_line() {
        let bad = EXAMPLE.replace("gpu_count = 2", "gpu_count = \"two\"");
        let e = Config::parse(&bad, "c.toml").unwrap_err().to_string();
        assert!(e.starts_with("c.toml:11:"), "{e}");
    }

    #[test]
    fn a_monthly_budget_must_be_an_amount() {
        for bad in ["-1", "0", "nan", "inf"] {
            let e = Config::parse(&format!("[budget]\nmonthly_usd = {bad}\n"), "c.toml")
                .unwrap_err()
                .to_string();
            assert!(e.contains("budget.monthly_usd"), "{e}");
        }
        let c = Config::parse("[budget]\nmonthly_usd = 250\n", "c.toml").unwrap();
        assert_eq!(c.budget.monthly_usd, Some(250.0));
        let e = Config::parse("[budget.users]\nana = -5\n", "c.toml")
            .unwrap_err()
            .to_string();
        assert!(e.contains("budget.users.ana"), "{e}");
        let e = Config::parse("[budget.projects]\nvision = 0\n", "c.toml")
            .unwrap_err()
            .to_string();
        assert!(e.contains("budget.projects.vision"), "{e}");
        let c = Config::parse(
            "[budget.users]\nana = 100\n[budget.projects]\nvision = 900.5\n",
            "c.toml",
        )
        .unwrap();
        assert_eq!(c.budget.users["ana"], 100.0);
        assert_eq!(c.budget.projects["vision"], 900.5);
    }

    #[test]
    fn two_owned_machines_with_one_name_are_refused() {
        let one =
            "[[owned]]\nname = \"box\"\ngpu = \"RTX 4090\"\ngpu_count = 1\npurchase_usd = 2000\n";
        let e = Config::parse(&format!("{one}\n{one}"), "c.toml")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("owned[1].name") && e.contains("'box' names two"),
            "{e}"
        );
        assert!(Config::parse(one, "c.toml").is_ok());
    }

    #[test]
    fn an_academic_cluster_nobody_knows_is_refused_with_the_nearest_name() {
        let e = Config::parse(
            "[[academic]]\ncluster = \"narvl\"\naccount = \"def-x\"\n",
            "c.toml",
        )
        .unwrap_err()
        .to_string();
        assert!(
            e.contains("academic[0].cluster") && e.contains("did you mean 'narval'?"),
            "{e}"
        );
        let e = Config::parse(
            "[[academic]]\ncluster = \"zzzz\"\naccount = \"def-x\"\n",
            "c.toml",
        )
        .unwrap_err()
        .to_string();
        assert!(
            !e.contains("did you mean") && e.contains("needs host"),
            "{e}"
        );
        // Any name with a host: a Slurm site of the user's own.
        assert!(
            Config::parse(
                "[[academic]]\ncluster = \"mysite\"\naccount = \"a\"\nhost = \"localhost\"\ngpu = \"A100 80GB SXM\"\ngpus_per_node = 8\n",
                "c.toml"
            )
            .is_ok()
        );
    }

    #[test]
    fn the_scheduler_policy_is_one_of_the_policies() {
        let c = Config::parse("[scheduler]\npolicy = \"owned-first\"\n", "c.toml").unwrap();
        assert_eq!(c.scheduler.policy, ferry_policy::PolicyKind::OwnedFirst);
        assert_eq!(
            Config::parse("", "c.toml").unwrap().scheduler.policy,
            ferry_policy::PolicyKind::Cheapest
        );
        let e = Config::parse("[scheduler]\npolicy = \"fifo\"\n", "c.toml")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("owned-first") && e.starts_with("c.toml:2"),
            "{e}"
        );
    }

    #[test]
    fn invalid_values_name_the_field() {
        let e = Config::parse(&EXAMPLE.replace("RTX 4090", "RTX 9090"), "c.toml")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("owned[0].gpu (lab-box)") && e.contains("unknown GPU"),
            "{e}"
        );
        let e = Config::parse(
            &EXAMPLE.replace("purchase_usd = 6000", "purchase_usd = 0"),
            "c.toml",
        )
        .unwrap_err()
        .to_string();
        assert!(
            e.contains("owned[0].purchase_usd") && e.contains("never $0"),
            "{e}"
        );
        let e = Config::parse(
            &EXAMPLE.replace("providers.runpod", "providers.runpd"),
            "c.toml",
        )
        .unwrap_err()
        .to_string();
        assert!(
            e.contains("providers.runpd") && e.contains("did you mean 'runpod'"),
            "{e}"
        );
    }

    #[test]
    fn secrets_are_masked_and_env_keys_used() {
        let c = Config::parse(EXAMPLE, "c.toml").unwrap();
        let shown = toml::to_string(&c.masked()).unwrap();
        assert!(
            shown.contains("****cdef") && !shown.contains("rp_0123456789abcdef"),
            "{shown}"
        );
        assert_eq!(
            c.api_key("runpod", |_| None).as_deref(),
            Some("rp_0123456789abcdef")
        );
        assert_eq!(
            c.api_key("lambda", |k| (k == "LAMBDA_API_KEY")
                .then(|| "lk".to_string()))
                .as_deref(),
            Some("lk")
        );
        assert_eq!(c.api_key("vastai", |_| None), None);
    }

    #[test]
    fn missing_file_is_empty_config() {
        let dir = tempfile::tempdir().unwrap();
        let c = Config::load(&dir.path().join("nope.toml")).unwrap();
        assert_eq!(c, Config::default());
    }

    const REMOTE: &str = r#"
[hosts.lab]
address = "10.0.0.12"
port = 2222
user = "me"
identity_file = "~/.ssh/id_ed25519"

[[owned]]
name = "lab-1"
gpu = "RTX 4090"
gpu_count = 2
purchase_usd = 6000
host = "lab"

[[academic]]
cluster = "Narval"
account = "def-someprof"
host = "narval"
max_walltime_hours = 24

[[academic]]
cluster = "mycluster"
account = "none"
host = "localhost"
gpu = "A100 80GB SXM"
gpus_per_node = 8
env = { SLURM_CONF = "/etc/alt/slurm.conf" }
"#;

    #[test]
    fn hosts_and_remote_backends() {
        let c = Config::parse(REMOTE, "c.toml").unwrap();
        assert_eq!(c.hosts["lab"].port, Some(2222));
        assert_eq!(c.owned[0].host.as_deref(), Some("lab"));
        assert_eq!(c.owned[0].job_root, "ferry-jobs");
        // The Alliance's clusters want --gpus-per-node; other sites --gres.
        assert_eq!(c.academic[0].gpu_request(), GpuRequest::GpusPerNode);
        assert_eq!(c.academic[1].gpu_request(), GpuRequest::Gres);
        assert_eq!(c.academic[1].env["SLURM_CONF"], "/etc/alt/slurm.conf");
    }

    #[test]
    fn remote_backend_mistakes_are_named() {
        let bad = REMOTE.replace("port = 2222", "prot = 2222");
        let e = Config::parse(&bad, "c.toml").unwrap_err().to_string();
        assert!(e.starts_with("c.toml:4:1:") && e.contains("prot"), "{e}");
        let bad = REMOTE.replace("max_walltime_hours = 24", "max_walltime_hours = 0");
        let e = Config::parse(&bad, "c.toml").unwrap_err().to_string();
        assert!(
            e.contains("academic[0].max_walltime_hours: must be > 0"),
            "{e}"
        );
        let bad = REMOTE.replace("cluster = \"mycluster\"", "cluster = \"narval\"");
        let e = Config::parse(&bad, "c.toml").unwrap_err().to_string();
        assert!(e.contains("declared with a host twice"), "{e}");
        let bad = REMOTE.replace("gpu = \"A100 80GB SXM\"", "gpu = \"A9000\"");
        let e = Config::parse(&bad, "c.toml").unwrap_err().to_string();
        assert!(e.contains("academic[1].gpu (mycluster)"), "{e}");
    }
}
