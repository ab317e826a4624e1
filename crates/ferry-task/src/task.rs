//! The validated task: what the scheduler and placement read.

use crate::error::TaskError;
use crate::raw::{Accelerators, RESOURCE_KEYS, RawResources, RawTask, Scalar, TOP_KEYS};
use ferry_catalog::{Category, Date, GpuId, GpuTable};
use ferry_policy::PolicyKind;
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Task {
    pub name: String,
    /// The acceptable resource shapes, in order of preference (one unless `any_of`).
    pub resources: Vec<ResourceOption>,
    pub num_nodes: u32,
    pub envs: BTreeMap<String, String>,
    pub workdir: Option<PathBuf>,
    pub file_mounts: BTreeMap<String, String>,
    pub setup: Option<String>,
    pub run: String,
    /// Expected run time, for costing placements; `None` uses placement's stated default.
    pub estimated_hours: Option<f64>,
    /// Most per hour, USD.
    pub max_price: Option<f64>,
    pub deadline: Option<Deadline>,
    /// Allowed categories; empty allows all.
    pub categories: Vec<Category>,
    /// Most in total, USD.
    pub budget: Option<f64>,
    /// The policy that places it and decides when it rents (`policy:`); the server's
    /// `[scheduler] policy` when the task does not say.
    pub policy: Option<PolicyKind>,
    /// How long it may wait for owned or academic GPUs before it rents (`max_wait:`), s.
    pub max_wait_s: Option<i64>,
    /// Restarts after a preemption (`job_recovery.max_restarts`); Ferry's default if unset.
    pub max_restarts: Option<u32>,
    /// Data the job reads in, GB (`inputs_gb`): what it downloads to the machine.
    pub inputs_gb: Option<f64>,
    /// Data the job sends out of the provider, GB (`outputs_gb`): what the provider's
    /// egress price applies to.
    pub outputs_gb: Option<f64>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ResourceOption {
    /// GPUs wanted, as alternatives (`[A100:8, H100:8]` is either); empty for CPU-only.
    pub accelerators: Vec<Accelerator>,
    pub cpus: Option<f64>,
    pub memory_gb: Option<f64>,
    /// The cloud or provider named (`cloud:` or the first part of `infra:`).
    pub cloud: Option<String>,
    pub region: Option<String>,
    pub use_spot: bool,
    pub disk_size_gb: Option<f64>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Accelerator {
    /// As written (`A100-80GB`).
    pub name: String,
    /// The models it resolves to (an ambiguous name keeps all its variants).
    #[serde(skip)]
    pub models: Vec<GpuId>,
    pub count: u32,
}

/// When results are needed by.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Deadline {
    /// Within this many hours of submission (`48h`, `3d`).
    Within { hours: f64 },
    /// By this UTC instant, seconds since the epoch (`2026-12-01T18:00:00Z` or `2026-12-01`).
    At { unix_seconds: i64 },
}

struct Ctx<'a> {
    file: &'a str,
    text: &'a str,
}

impl Ctx<'_> {
    /// An error about `key`, placed on the first line that sets it (and holds `hint`).
    fn err(&self, key: &str, hint: Option<&str>, message: impl Into<String>) -> TaskError {
        let leaf = key.rsplit('.').next().unwrap_or(key);
        let line = self.text.lines().enumerate().find(|(_, l)| {
            let t = l.trim_start().trim_start_matches("- ");
            t.starts_with(&format!("{leaf}:")) && hint.is_none_or(|h| l.contains(h))
        });
        TaskError {
            file: self.file.to_string(),
            line: line.map(|(i, _)| i as u64 + 1),
            column: line.map(|(_, l)| (l.len() - l.trim_start().len()) as u64 + 1),
            key: Some(key.to_string()),
            message: message.into(),
        }
    }
}

impl Task {
    /// Parses and validates a task file's text. `file` names it in errors.
    pub fn parse(text: &str, file: &str) -> Result<Task, TaskError> {
        let ctx = Ctx { file, text };
        let raw: RawTask = serde_saphyr::from_str(text).map_err(|e| yaml_error(&e, file))?;
        let table = GpuTable::embedded();

        let run = raw
            .run
            .filter(|r| !r.trim().is_empty())
            .ok_or_else(|| TaskError {
                file: file.to_string(),
                line: None,
                column: None,
                key: Some("run".into()),
                message: "is missing: a task needs a `run:` command".into(),
            })?;
        let base = raw.resources.unwrap_or_default();
        let mut resources = vec![];
        match &base.any_of {
            Some(options) if !options.is_empty() => {
                for (i, o) in options.iter().enumerate() {
                    let merged = merge(&base, o);
                    resources.push(resource(
                        &ctx,
                        &merged,
                        &format!("resources.any_of[{i}]"),
                        table,
                    )?);
                }
            }
            Some(_) => {
                return Err(ctx.err(
                    "resources.any_of",
                    None,
                    "is empty: give at least one option or remove it",
                ));
            }
            None => resources.push(resource(&ctx, &base, "resources", table)?),
        }

        let num_nodes = raw.num_nodes.unwrap_or(1);
        if num_nodes == 0 {
            return Err(ctx.err("num_nodes", None, "must be >= 1"));
        }
        let positive = |key: &str, v: Option<f64>| -> Result<Option<f64>, TaskError> {
            match v {
                Some(x) if !(x.is_finite() && x > 0.0) => {
                    Err(ctx.err(key, None, format!("{x} must be a number > 0")))
                }
                other => Ok(other),
            }
        };
        let volume = |key: &str, v: Option<f64>| -> Result<Option<f64>, TaskError> {
            match v {
                Some(x) if !(x.is_finite() && x >= 0.0) => {
                    Err(ctx.err(key, None, format!("{x} must be a number of GB >= 0")))
                }
                other => Ok(other),
            }
        };
        let categories = raw
            .categories
            .unwrap_or_default()
            .iter()
            .map(|c| {
                c.parse::<Category>()
                    .map_err(|e| ctx.err("categories", Some(c), e.to_string()))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let deadline = raw
            .deadline
            .as_deref()
            .map(|d| parse_deadline(d).ok_or_else(|| ctx.err("deadline", None, format!("'{d}' is not a deadline (write 48h, 3d, 2026-12-01 or 2026-12-01T18:00:00Z)"))))
            .transpose()?;
        let policy = raw
            .policy
            .as_deref()
            .map(|p| {
                p.parse::<PolicyKind>()
                    .map_err(|e| ctx.err("policy", None, e))
            })
            .transpose()?;
        let max_wait_s = raw
            .max_wait
            .as_deref()
            .map(|w| {
                parse_wait_s(w).ok_or_else(|| {
                    ctx.err(
                        "max_wait",
                        None,
                        format!("'{w}' is not a wait (write 90m, 2h or 1d)"),
                    )
                })
            })
            .transpose()?;
        let name = raw
            .name
            .filter(|n| !n.trim().is_empty())
            .unwrap_or_else(|| {
                Path::new(file)
                    .file_stem()
                    .and_then(|s| s.to_str())
                    .unwrap_or("task")
                    .to_string()
            });
        Ok(Task {
            name,
            resources,
            num_nodes,
            envs: raw
                .envs
                .unwrap_or_default()
                .into_iter()
                .map(|(k, v)| (k, v.as_text()))
                .collect(),
            workdir: raw.workdir.map(PathBuf::from),
            file_mounts: raw.file_mounts.unwrap_or_default(),
            setup: raw.setup.filter(|s| !s.trim().is_empty()),
            run,
            estimated_hours: positive("estimated_hours", raw.estimated_hours)?,
            max_price: positive("max_price", raw.max_price)?,
            deadline,
            categories,
            budget: positive("budget", raw.budget)?,
            policy,
            max_wait_s,
            inputs_gb: volume("inputs_gb", raw.inputs_gb)?,
            outputs_gb: volume("outputs_gb", raw.outputs_gb)?,
            max_restarts: raw
                .job_recovery
                .as_ref()
                .or(base.job_recovery.as_ref())
                .and_then(|r| r.max_restarts.or(r.max_restarts_on_errors)),
        })
    }

    /// Reads and parses a task file.
    pub fn from_file(path: &Path) -> Result<Task, TaskError> {
        let file = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|e| TaskError {
            file: file.clone(),
            line: None,
            column: None,
            key: None,
            message: format!("cannot read: {e}"),
        })?;
        Task::parse(&text, &file)
    }

    /// Checks that `workdir` and local `file_mounts` sources exist, relative to `base`
    /// (the task file's folder). Returns the workdir resolved.
    pub fn check_paths(&self, base: &Path, file: &str) -> Result<Option<PathBuf>, TaskError> {
        let missing = |key: &str, p: &Path| TaskError {
            file: file.to_string(),
            line: None,
            column: None,
            key: Some(key.to_string()),
            message: format!("{} does not exist", p.display()),
        };
        for (remote, local) in &self.file_mounts {
            if local.contains("://") {
                continue; // a bucket URL: checked by the backend that mounts it
            }
            let p = base.join(local);
            if !p.exists() {
                return Err(missing(&format!("file_mounts.{remote}"), &p));
            }
        }
        match &self.workdir {
            None => Ok(None),
            Some(w) => {
                let p = base.join(w);
                if p.is_dir() {
                    Ok(Some(p))
                } else {
                    Err(missing("workdir", &p))
                }
            }
        }
    }

    /// The largest number of GPUs any acceptable option asks for, per node.
    pub fn max_gpus(&self) -> u32 {
        self.resources
            .iter()
            .flat_map(|r| r.accelerators.iter().map(|a| a.count))
            .max()
            .unwrap_or(0)
    }
}

/// Options in `any_of` inherit what the top level of `resources` sets.
fn merge(base: &RawResources, o: &RawResources) -> RawResources {
    RawResources {
        accelerators: o.accelerators.clone().or_else(|| base.accelerators.clone()),
        cpus: o.cpus.clone().or_else(|| base.cpus.clone()),
        memory: o.memory.clone().or_else(|| base.memory.clone()),
        cloud: o.cloud.clone().or_else(|| base.cloud.clone()),
        infra: o.infra.clone().or_else(|| base.infra.clone()),
        region: o.region.clone().or_else(|| base.region.clone()),
        use_spot: o.use_spot.or(base.use_spot),
        disk_size: o.disk_size.clone().or_else(|| base.disk_size.clone()),
        any_of: None,
        job_recovery: o.job_recovery.clone().or_else(|| base.job_recovery.clone()),
    }
}

fn resource(
    ctx: &Ctx,
    r: &RawResources,
    at: &str,
    table: &GpuTable,
) -> Result<ResourceOption, TaskError> {
    let key = |k: &str| format!("{at}.{k}");
    let accelerators = match &r.accelerators {
        None => vec![],
        Some(Accelerators::One(s)) => vec![accelerator(ctx, &key("accelerators"), s, None, table)?],
        Some(Accelerators::Alternatives(list)) => list
            .iter()
            .map(|s| accelerator(ctx, &key("accelerators"), s, None, table))
            .collect::<Result<_, _>>()?,
        Some(Accelerators::Map(m)) => m
            .iter()
            .map(|(name, n)| accelerator(ctx, &key("accelerators"), name, Some(*n), table))
            .collect::<Result<_, _>>()?,
    };
    let number = |k: &str, v: &Option<Scalar>| -> Result<Option<f64>, TaskError> {
        let Some(v) = v else { return Ok(None) };
        let text = v.as_text();
        let t = text
            .trim()
            .trim_end_matches('+')
            .trim_end_matches(['G', 'g', 'B', 'b'])
            .trim();
        match t.parse::<f64>() {
            Ok(x) if x > 0.0 && x.is_finite() => Ok(Some(x)),
            _ => Err(ctx.err(
                &key(k),
                None,
                format!("'{text}' is not a positive number (write 8 or \"8+\")"),
            )),
        }
    };
    let (cloud, infra_region) = match (&r.cloud, &r.infra) {
        (Some(c), None) => (Some(c.to_ascii_lowercase()), None),
        (None, Some(i)) => {
            let mut parts = i.splitn(2, '/');
            (
                parts.next().map(|c| c.to_ascii_lowercase()),
                parts.next().map(str::to_string),
            )
        }
        (None, None) => (None, None),
        (Some(_), Some(_)) => {
            return Err(ctx.err(
                &key("infra"),
                None,
                "set either `cloud` or `infra`, not both",
            ));
        }
    };
    Ok(ResourceOption {
        accelerators,
        cpus: number("cpus", &r.cpus)?,
        memory_gb: number("memory", &r.memory)?,
        cloud,
        region: r.region.clone().or(infra_region),
        use_spot: r.use_spot.unwrap_or(false),
        disk_size_gb: number("disk_size", &r.disk_size)?,
    })
}

fn accelerator(
    ctx: &Ctx,
    key: &str,
    spec: &str,
    count: Option<u32>,
    table: &GpuTable,
) -> Result<Accelerator, TaskError> {
    let (name, n) = match (count, spec.rsplit_once(':')) {
        (Some(n), _) => (spec.trim(), n),
        (None, Some((name, n))) => {
            let n: u32 = n.trim().parse().map_err(|_| {
                ctx.err(
                    key,
                    Some(spec),
                    format!("'{spec}': the count after ':' must be a whole number (e.g. A100:8)"),
                )
            })?;
            (name.trim(), n)
        }
        (None, None) => (spec.trim(), 1),
    };
    if n == 0 {
        return Err(ctx.err(key, Some(name), format!("'{spec}': at least 1 GPU")));
    }
    let models = table
        .resolve(name)
        .map_err(|e| ctx.err(key, Some(name), e.to_string()))?;
    Ok(Accelerator {
        name: name.to_string(),
        models,
        count: n,
    })
}

/// `90m`, `2h`, `1d` (or `0m`: rent at once rather than wait), in seconds.
fn parse_wait_s(s: &str) -> Option<i64> {
    let s = s.trim();
    let unit = s.chars().last()?;
    let scale = match unit {
        'm' => 60.0,
        'h' => 3600.0,
        'd' => 86_400.0,
        _ => return None,
    };
    let n: f64 = s[..s.len() - 1].trim().parse().ok()?;
    (n.is_finite() && (0.0..=365.0 * 86_400.0).contains(&(n * scale))).then_some((n * scale) as i64)
}

fn parse_deadline(s: &str) -> Option<Deadline> {
    let s = s.trim();
    let relative = |unit: char, hours: f64| {
        s.strip_suffix(unit)
            .and_then(|n| n.trim().parse::<f64>().ok())
            .filter(|n| *n > 0.0)
            .map(|n| Deadline::Within { hours: n * hours })
    };
    if let Some(d) = relative('h', 1.0).or_else(|| relative('d', 24.0)) {
        return Some(d);
    }
    let (date, time) = match s.split_once('T') {
        Some((d, t)) => (d, Some(t.trim_end_matches('Z'))),
        None => (s, None),
    };
    let date: Date = date.parse().ok()?;
    date.day?;
    let seconds = match time {
        None => 0,
        Some(t) => {
            let parts: Vec<i64> = t
                .split(':')
                .map(|p| p.parse().ok())
                .collect::<Option<_>>()?;
            match parts.as_slice() {
                [h, m] if *h < 24 && *m < 60 => h * 3600 + m * 60,
                [h, m, sec] if *h < 24 && *m < 60 && *sec < 60 => h * 3600 + m * 60 + sec,
                _ => return None,
            }
        }
    };
    Some(Deadline::At {
        unix_seconds: date.days_since_epoch() * 86_400 + seconds,
    })
}

/// A YAML error with its place, and a suggestion for a misspelt key.
fn yaml_error(e: &serde_saphyr::Error, file: &str) -> TaskError {
    let loc = e.location();
    let bare = e.without_snippet().to_string();
    // "error: line 3 column 3: unknown field `acelerators`, expected one of …"
    let message = bare
        .split_once(": ")
        .map(|(_, rest)| rest)
        .map(|rest| match rest.split_once(": ") {
            Some((place, msg)) if place.starts_with("line ") => msg,
            _ => rest,
        })
        .unwrap_or(&bare)
        .to_string();
    let unknown = message
        .strip_prefix("unknown field `")
        .and_then(|r| r.split_once('`'))
        .map(|(k, _)| k.to_string());
    let (key, message) = match unknown {
        Some(k) => {
            let candidates = TOP_KEYS.iter().chain(RESOURCE_KEYS);
            let near = candidates
                .map(|c| (strsim::jaro_winkler(&k, c), *c))
                .filter(|(s, _)| *s > 0.8)
                .max_by(|a, b| a.0.total_cmp(&b.0))
                .map(|(_, c)| format!("; did you mean `{c}`?"))
                .unwrap_or_default();
            (Some(k.clone()), format!("unknown key{near} ({message})"))
        }
        None => (None, message),
    };
    TaskError {
        file: file.to_string(),
        line: loc.map(|l| l.line()),
        column: loc.map(|l| l.column()),
        key,
        message,
    }
}
