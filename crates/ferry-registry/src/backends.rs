//! The backends the config declares beyond this host: owned machines with a `host`
//! (`ssh:<name>`) and academic allocations with a `host` (`slurm:<cluster>`). Both the
//! placement (`ferry launch`) and the server (`ferry server run`) build them from here,
//! so they agree on ids, GPUs and limits.

use crate::context::Context;
use crate::error::{RegistryError, Result};
use ferry_backend::slurm::backend::{Site, SlurmBackend};
use ferry_backend::slurm::script::GpuFlag;
use ferry_backend::ssh::SshBackend;
use ferry_backend::transport::{SshTarget, Transport};
use ferry_backend::{Backend, BackendId};
use ferry_catalog::{Catalog, Category, GpuId, GpuTable};
use ferry_config::{AcademicAllocation, GpuRequest, OwnedMachine};
use ferry_optimizer::EnabledBackend;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// `--time` for a Slurm job with no maximum runtime and no estimate.
const DEFAULT_SLURM_TIME: Duration = Duration::from_secs(3600);

pub enum Remote {
    Ssh {
        machine: Box<OwnedMachine>,
        transport: Transport,
        gpu: GpuId,
    },
    Slurm {
        allocation: Box<AcademicAllocation>,
        site: Box<Site>,
        gpu: GpuId,
        gpus_per_node: u32,
    },
}

impl Remote {
    pub fn id(&self) -> String {
        match self {
            Remote::Ssh { machine, .. } => BackendId::ssh(&machine.name).to_string(),
            Remote::Slurm { site, .. } => site.id.clone(),
        }
    }

    /// What placement needs to know; `wait_hours` comes from [`Remote::estimate_wait`].
    pub fn enabled(&self, ctx: &Context, catalog: &Catalog) -> EnabledBackend {
        match self {
            Remote::Ssh { machine, gpu, .. } => {
                let offer = ctx
                    .config
                    .owned_offers(catalog.table, ctx.today)
                    .into_iter()
                    .find(|o| o.offering == machine.name);
                let (price, basis) = match offer {
                    Some(o) => (
                        o.price_hour.map(|p| p / f64::from(o.gpu_count.max(1))),
                        format!("[[owned]] {}: {}", o.offering, o.source),
                    ),
                    None => (None, format!("[[owned]] {}", machine.name)),
                };
                EnabledBackend::holding(
                    self.id(),
                    Category::Owned,
                    vec![(*gpu, machine.gpu_count)],
                    price,
                    basis,
                )
            }
            Remote::Slurm {
                allocation,
                site,
                gpu,
                gpus_per_node,
            } => EnabledBackend {
                max_hours: site.max_walltime.map(|d| d.as_secs_f64() / 3600.0),
                ..EnabledBackend::holding(
                    self.id(),
                    Category::Academic,
                    vec![(*gpu, *gpus_per_node)],
                    None,
                    format!(
                        "{} allocation {} on {}: no cash price; GPU-hours count against the allocation",
                        allocation.cluster,
                        allocation.account,
                        site.transport.place()
                    ),
                )
            },
        }
    }

    /// The backend itself; `control_dir` holds shared SSH connections.
    pub fn backend(&self, control_dir: &std::path::Path) -> Arc<dyn Backend> {
        let share = |t: &Transport| match t {
            Transport::Ssh(target) => {
                let mut target = target.clone();
                target.control_dir = Some(control_dir.to_path_buf());
                Transport::Ssh(target)
            }
            Transport::Local => Transport::Local,
        };
        match self {
            Remote::Ssh {
                machine, transport, ..
            } => Arc::new(SshBackend::new(
                self.id(),
                share(transport),
                machine.job_root.clone(),
            )),
            Remote::Slurm { site, .. } => {
                let mut site = (**site).clone();
                site.transport = share(&site.transport);
                Arc::new(SlurmBackend::new(site))
            }
        }
    }

    /// Device indices the scheduler hands out on an owned machine.
    pub fn devices(&self) -> Option<Vec<u32>> {
        match self {
            Remote::Ssh { machine, .. } => Some((0..machine.gpu_count).collect()),
            Remote::Slurm { .. } => None,
        }
    }

    /// Slurm's own estimate of the wait for `gpus` GPUs for `hours`, in hours.
    pub async fn estimate_wait(&self, gpus: u32, hours: f64) -> Result<Option<f64>, String> {
        let Remote::Slurm { site, .. } = self else {
            return Ok(None);
        };
        let backend = SlurmBackend::new((**site).clone());
        let spec = ferry_backend::LaunchSpec {
            job: ferry_job::JobId::new(0, 0),
            name: "estimate".into(),
            workdir: None,
            envs: Default::default(),
            setup: None,
            run: "true".into(),
            gpus: vec![],
            gpu_count: gpus,
            max_runtime: Some(slurm_time(site, hours)),
            guard: None,
        };
        backend
            .estimate_wait(&spec)
            .await
            .map(|d| Some(d.as_secs_f64() / 3600.0))
            .map_err(|e| e.to_string())
    }
}

/// The wall time to ask Slurm for: the expected hours plus a quarter, within the cap.
pub fn slurm_time(site: &Site, hours: f64) -> Duration {
    let wanted = Duration::from_secs_f64((hours * 1.25 * 3600.0).max(60.0));
    match site.max_walltime {
        Some(cap) if wanted > cap => cap,
        _ => wanted,
    }
}

/// Every remote backend the config declares.
pub fn remotes(ctx: &Context, catalog: &Catalog) -> Result<Vec<Remote>> {
    let mut out = vec![];
    let table = catalog.table;
    for m in &ctx.config.owned {
        let Some(host) = &m.host else { continue };
        let gpu = table
            .resolve_one(&m.gpu)
            .map_err(|e| RegistryError::invalid(format!("owned {}: gpu: {e}", m.name)))?;
        out.push(Remote::Ssh {
            machine: Box::new(m.clone()),
            transport: transport(ctx, host, &m.name)?,
            gpu,
        });
    }
    for a in &ctx.config.academic {
        let Some(host) = &a.host else { continue };
        let (gpu, per_node) = cluster_gpus(a, catalog, table)?;
        let site = Site {
            id: BackendId::slurm(&a.cluster).to_string(),
            transport: if host == "localhost" {
                Transport::Local
            } else {
                transport(ctx, host, &a.cluster)?
            },
            root: a.job_root.clone(),
            account: Some(a.account.clone()).filter(|s| !s.is_empty() && s != "none"),
            partition: a.partition.clone(),
            max_walltime: a
                .max_walltime_hours
                .map(|h| Duration::from_secs_f64(h * 3600.0)),
            gpu_flag: match a.gpu_request() {
                GpuRequest::GpusPerNode => GpuFlag::GpusPerNode,
                GpuRequest::Gres => GpuFlag::Gres,
            },
            gpu_type: a.gpu_type.clone(),
            cpus_per_task: a.cpus_per_task,
            mem_gb: a.mem_gb,
            default_time: DEFAULT_SLURM_TIME,
            env: a.env.clone(),
        };
        out.push(Remote::Slurm {
            allocation: Box::new(a.clone()),
            site: Box::new(site),
            gpu,
            gpus_per_node: per_node,
        });
    }
    Ok(out)
}

/// The GPU model and count per node jobs on this cluster get: from the config, else the
/// catalog's largest node of that cluster.
fn cluster_gpus(
    a: &AcademicAllocation,
    catalog: &Catalog,
    table: &GpuTable,
) -> Result<(GpuId, u32)> {
    let from_catalog = catalog
        .offers
        .iter()
        .filter(|o| o.category == Category::Academic && o.region.eq_ignore_ascii_case(&a.cluster))
        .max_by_key(|o| o.gpu_count)
        .map(|o| (o.gpu, o.gpu_count));
    let gpu = match &a.gpu {
        Some(g) => table
            .resolve_one(g)
            .map_err(|e| RegistryError::invalid(format!("academic {}: gpu: {e}", a.cluster)))?,
        None => match from_catalog {
            Some((g, _)) => g,
            None => {
                return Err(RegistryError::invalid(format!(
                    "academic {}: the catalog has no GPU nodes for this cluster; set gpu and gpus_per_node",
                    a.cluster
                )));
            }
        },
    };
    let per_node = a
        .gpus_per_node
        .or(from_catalog.map(|(_, n)| n))
        .unwrap_or(1);
    Ok((gpu, per_node))
}

/// How to reach `host`: a `[hosts.NAME]` entry, else ssh's own resolution of the name.
fn transport(ctx: &Context, host: &str, what: &str) -> Result<Transport> {
    let target = match ctx.config.hosts.get(host) {
        Some(h) => SshTarget {
            name: host.to_string(),
            destination: h.address.clone().unwrap_or_else(|| host.to_string()),
            port: h.port,
            user: h.user.clone(),
            identity_file: h.identity_file.as_deref().map(expand_home),
            known_hosts_file: h.known_hosts_file.as_deref().map(expand_home),
            jump: h.jump.clone(),
            config_file: h.ssh_config.as_deref().map(expand_home),
            control_dir: None,
            ..SshTarget::default()
        },
        None => {
            if host.trim().is_empty() {
                return Err(RegistryError::invalid(format!("{what}: host is empty")));
            }
            SshTarget {
                name: host.to_string(),
                destination: host.to_string(),
                ..SshTarget::default()
            }
        }
    };
    Ok(Transport::Ssh(Box::new(target)))
}

fn expand_home(p: &std::path::Path) -> PathBuf {
    match (p.strip_prefix("~"), std::env::var_os("HOME")) {
        (Ok(rest), Some(home)) => PathBuf::from(home).join(rest),
        _ => p.to_path_buf(),
    }
}

/// What placement needs to know of each rented provider: it launches the catalog's offers
/// of that provider.
pub fn rented_enabled(ctx: &Context, catalog: &Catalog) -> Vec<EnabledBackend> {
    crate::rented::rented_providers(ctx, Some(catalog))
        .ready
        .iter()
        .map(|ready| {
            let kind = &ready.kind;
            let category = catalog
                .offers
                .iter()
                .find(|o| o.provider == kind.id())
                .map_or(Category::GpuCloud, |o| o.category);
            EnabledBackend {
                provider: Some(kind.id().to_string()),
                ..EnabledBackend::holding(
                    kind.id().to_string(),
                    category,
                    vec![],
                    None,
                    format!("rented from {kind}"),
                )
            }
        })
        .collect()
}

/// The rented side of the server: each provider's client, Ferry's SSH key, and where
/// rented jobs' output is kept.
pub fn rented(ctx: &Context) -> Result<Option<ferry_scheduler::rented::Rented>> {
    use ferry_scheduler::rented::{Rented, RentedBackend, SshAccess};
    let catalog = ctx.catalog()?;
    let providers = crate::rented::rented_providers(ctx, Some(&catalog));
    for m in &providers.missing {
        eprintln!(
            "ferry server: [providers.{}] has launch = true but {}: not renting from it",
            m.kind, m.why
        );
    }
    if providers.ready.is_empty() {
        return Ok(None);
    }
    let data = &ctx.paths.data_dir;
    let keys = ferry_cloud::keys::ensure(&data.join("keys")).map_err(RegistryError::Invalid)?;
    let mut backends = std::collections::HashMap::new();
    for ready in providers.ready {
        let (kind, settings) = (ready.kind, &ready.settings);
        let ssh_override = settings
            .ssh_override
            .as_deref()
            .and_then(ferry_config::parse_ssh_address)
            .map(|(user, host, port)| ferry_cloud::Endpoint { host, port, user });
        backends.insert(
            kind.id().to_string(),
            RentedBackend {
                provider: crate::rented::build(kind, ready.config)?,
                ssh_override,
                image: settings.image.clone(),
                disk_gb: settings.disk_gb,
            },
        );
    }
    let control = data.join("ssh");
    std::fs::create_dir_all(&control).map_err(|source| RegistryError::Io {
        what: format!("creating {}", control.display()),
        source,
    })?;
    let secs = |var: &str, default: Duration| -> Result<Duration> {
        match std::env::var(var) {
            Ok(v) => Ok(Duration::from_secs(v.trim().parse().map_err(|_| {
                RegistryError::invalid(format!("{var}: '{v}' is not a number of seconds"))
            })?)),
            Err(_) => Ok(default),
        }
    };
    let d = ferry_scheduler::rented::decide::Timeouts::default();
    Ok(Some(Rented {
        backends,
        access: SshAccess {
            private_key: keys.private,
            public_key: keys.public,
            known_hosts: data.join("keys").join("known_hosts"),
            control_dir: Some(control),
        },
        timeouts: ferry_scheduler::rented::decide::Timeouts {
            provision: secs("FERRY_PROVISION_TIMEOUT_S", d.provision)?,
            ssh: secs("FERRY_SSH_TIMEOUT_S", d.ssh)?,
        },
        log_dir: data.join("rented"),
        disk_gb: ferry_cloud::providers::DEFAULT_DISK_GB,
    }))
}
