//! Placement v1: for a task, every candidate — the backends Ferry can run on now and every
//! catalog offer that fits — ranked by expected cost (price × expected hours + egress),
//! within the task's limits (`max_price`, `categories`, `deadline`, `budget`).
//!
//! Pure: the caller passes the catalog and what its backends can run; nothing here
//! reads the clock, the disk or the network.

use ferry_catalog::offer::Pricing;
use ferry_catalog::owned::OwnedHardware;
use ferry_catalog::{Catalog, Category, Date, GpuId, Offer};
use ferry_policy::PolicyKind;
use ferry_task::{Deadline, Task};
use serde::{Deserialize, Serialize};

/// Hours assumed when the task gives no `estimated_hours`; shown in every plan that uses it.
pub const DEFAULT_HOURS: f64 = 1.0;

/// A backend that can run work now, and what it holds.
#[derive(Debug, Clone, PartialEq)]
pub struct EnabledBackend {
    /// `local`, `slurm:narval`, `ssh:lab-1`, `runpod`, …
    pub id: String,
    pub category: Category,
    /// GPUs it has, by model (an empty list runs CPU-only work only).
    pub gpus: Vec<(GpuId, u32)>,
    /// Price per GPU-hour of its GPUs (owned: amortised), USD; `None` when free of cash cost.
    pub price_per_gpu_hour: Option<f64>,
    /// How that price was arrived at, in words.
    pub price_basis: String,
    /// Which provider's catalog offers it can launch (cloud backends), if any.
    pub provider: Option<String>,
    /// Expected wait before a job starts (a Slurm queue, by `sbatch --test-only`), hours.
    pub wait_hours: Option<f64>,
    /// Longest a job may run there (a partition's wall-time cap), hours.
    pub max_hours: Option<f64>,
    /// Why it cannot take work now (an unreachable login node), if so.
    pub unavailable: Option<String>,
}

impl EnabledBackend {
    /// A backend that holds its GPUs itself (this host, an owned machine, a cluster), with
    /// no queue wait known, no cap and nothing wrong.
    pub fn holding(
        id: String,
        category: Category,
        gpus: Vec<(GpuId, u32)>,
        price_per_gpu_hour: Option<f64>,
        price_basis: String,
    ) -> EnabledBackend {
        EnabledBackend {
            id,
            category,
            gpus,
            price_per_gpu_hour,
            price_basis,
            provider: None,
            wait_hours: None,
            max_hours: None,
            unavailable: None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Candidate {
    /// The backend that would run it; `None` when no enabled backend can launch this offer.
    pub backend: Option<String>,
    pub provider: String,
    pub category: Category,
    pub region: String,
    pub instance: String,
    /// The catalog's offering (RunPod's Secure or Community Cloud, a reservation), or the
    /// backend for a backend that holds its GPUs.
    pub offering: String,
    pub gpu: Option<String>,
    pub gpus: u32,
    pub price_per_hour: f64,
    pub spot: bool,
    pub hours: f64,
    pub compute_usd: f64,
    pub egress_usd: f64,
    pub expected_usd: f64,
    /// vCPUs of the machine type (catalog), where known: hyperscaler quotas count them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vcpus: Option<u32>,
    /// What the provider charges per GB sent out of it (catalog), where known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub egress_per_gb: Option<f64>,
    /// Expected wait before start (academic queues), hours.
    pub wait_hours: f64,
    pub source: String,
    /// When the catalog row's price was observed (`None` for a configured backend's own
    /// rate).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub as_of: Option<Date>,
    /// Why it is excluded; empty when feasible.
    pub excluded: Vec<String>,
    /// Things worth knowing (defaults used, "backend not configured").
    pub notes: Vec<String>,
}

impl Candidate {
    pub fn feasible(&self) -> bool {
        self.excluded.is_empty()
    }

    pub fn runnable(&self) -> bool {
        self.feasible() && self.backend.is_some()
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Plan {
    pub hours: f64,
    pub hours_defaulted: bool,
    /// Feasible first (cheapest first), then the excluded with their reasons.
    pub candidates: Vec<Candidate>,
    /// Index of the candidate the policy chose among those an enabled backend can run
    /// (under `cheapest`, the cheapest).
    pub chosen: Option<usize>,
    /// The policy that chose it (the task's `policy:`, else the server's).
    #[serde(default)]
    pub policy: PolicyKind,
    /// Why the policy chose what it did, when that is not simply the cheapest.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policy_note: Option<String>,
}

/// Ranks every placement for `task` under the task's own policy (`cheapest` when it names
/// none). `now_unix_s` turns an absolute deadline into hours.
pub fn place(task: &Task, catalog: &Catalog, backends: &[EnabledBackend], now_unix_s: i64) -> Plan {
    place_with(
        task,
        catalog,
        backends,
        now_unix_s,
        task.policy.unwrap_or_default(),
    )
}

/// Ranks every placement for `task` and chooses one by `policy` (the task's `policy:`
/// wins over the one given, which is the server's default):
/// - `cheapest`: the cheapest runnable placement;
/// - `owned-first`: the cheapest runnable owned or academic placement when there is one
///   (the job rents later only if waiting there would pass its `max_wait` or deadline);
/// - `deadline-spot`: as `owned-first`, and on-demand placements are ranked beside the
///   spot ones of a `use_spot` option, so that the job has somewhere to go when spot
///   progress falls behind.
pub fn place_with(
    task: &Task,
    catalog: &Catalog,
    backends: &[EnabledBackend],
    now_unix_s: i64,
    policy: PolicyKind,
) -> Plan {
    let policy = task.policy.unwrap_or(policy);
    let hours = task.estimated_hours.unwrap_or(DEFAULT_HOURS);
    let deadline_h = task.deadline.map(|d| match d {
        Deadline::Within { hours } => hours,
        Deadline::At { unix_seconds } => (unix_seconds - now_unix_s) as f64 / 3600.0,
    });
    let mut out: Vec<Candidate> = vec![];

    for option in &task.resources {
        let wants: Vec<(Vec<GpuId>, u32)> = if option.accelerators.is_empty() {
            vec![(vec![], 0)]
        } else {
            option
                .accelerators
                .iter()
                .map(|a| (a.models.clone(), a.count))
                .collect()
        };
        for (models, count) in &wants {
            // Enabled backends that hold the GPUs themselves (this host, a cluster, a pool).
            for b in backends.iter().filter(|b| b.provider.is_none()) {
                let held = b
                    .gpus
                    .iter()
                    .filter(|(g, _)| models.contains(g))
                    .map(|(_, n)| *n)
                    .max()
                    .unwrap_or(0);
                let (gpu, fits) = if *count == 0 {
                    (None, true)
                } else {
                    let g = b
                        .gpus
                        .iter()
                        .find(|(g, n)| models.contains(g) && *n >= *count)
                        .map(|(g, _)| *g);
                    (
                        g.or_else(|| {
                            b.gpus
                                .iter()
                                .find(|(g, _)| models.contains(g))
                                .map(|(g, _)| *g)
                        }),
                        held >= *count,
                    )
                };
                let mut c = Candidate {
                    backend: Some(b.id.clone()),
                    provider: b.id.clone(),
                    category: b.category,
                    region: "here".into(),
                    instance: b.id.clone(),
                    offering: b.id.clone(),
                    gpu: gpu.map(|g| catalog.table.get(g).id.clone()),
                    gpus: *count,
                    price_per_hour: b.price_per_gpu_hour.unwrap_or(0.0) * f64::from(*count),
                    spot: false,
                    hours,
                    compute_usd: 0.0,
                    egress_usd: 0.0,
                    expected_usd: 0.0,
                    vcpus: None,
                    egress_per_gb: None,
                    wait_hours: b.wait_hours.unwrap_or(0.0),
                    source: b.price_basis.clone(),
                    as_of: None,
                    excluded: vec![],
                    notes: vec![],
                };
                if !fits {
                    c.excluded
                        .push(format!("{} has {held} of the {count} GPUs asked for", b.id));
                }
                if let Some(why) = &b.unavailable {
                    c.excluded.push(why.clone());
                }
                if let Some(max) = b.max_hours
                    && hours > max
                {
                    c.excluded.push(format!(
                        "{hours} h is over {}'s wall-time cap of {max} h; split the work into checkpointed jobs",
                        b.id
                    ));
                }
                if let Some(w) = b.wait_hours {
                    c.notes
                        .push(format!("queue wait about {w:.1} h (sbatch --test-only)"));
                }
                finish(
                    &mut c,
                    task,
                    option.cloud.as_deref(),
                    option.region.as_deref(),
                    deadline_h,
                );
                out.push(c);
            }
            if *count == 0 {
                continue; // CPU-only work runs on enabled backends; catalog offers are GPU machines
            }
            for o in catalog
                .offers
                .iter()
                .filter(|o| models.contains(&o.gpu) && o.gpu_count >= *count)
            {
                let launcher = backends
                    .iter()
                    .find(|b| b.provider.as_deref() == Some(o.provider.as_str()));
                // deadline-spot needs the on-demand fallback of each spot offer.
                let on_demand_too = option.use_spot && policy == PolicyKind::DeadlineSpot;
                for spot in [option.use_spot, false]
                    .into_iter()
                    .take(1 + usize::from(on_demand_too))
                {
                    let mut c = from_offer(o, catalog, *count, spot, hours);
                    match launcher {
                        Some(b) => c.backend = Some(b.id.clone()),
                        None => c.notes.push("backend not configured".into()),
                    }
                    if on_demand_too && !spot {
                        c.notes.push("on-demand fallback for deadline-spot".into());
                    }
                    finish(
                        &mut c,
                        task,
                        option.cloud.as_deref(),
                        option.region.as_deref(),
                        deadline_h,
                    );
                    out.push(c);
                }
            }
        }
    }
    out.sort_by(|a, b| {
        b.feasible()
            .cmp(&a.feasible())
            .then(a.expected_usd.total_cmp(&b.expected_usd))
            .then(a.wait_hours.total_cmp(&b.wait_hours))
            .then(b.backend.is_some().cmp(&a.backend.is_some()))
            .then(a.provider.cmp(&b.provider))
            .then(a.instance.cmp(&b.instance))
    });
    let cheapest = out.iter().position(Candidate::runnable);
    // An academic queue whose expected wait is past the task's max_wait is not taken first:
    // the job would burst from it at once (noted on the candidate).
    let waits_too_long = |c: &Candidate| {
        task.max_wait_s
            .is_some_and(|w| c.wait_hours * 3600.0 > w as f64)
    };
    if policy != PolicyKind::Cheapest {
        for c in out
            .iter_mut()
            .filter(|c| c.category == Category::Academic && c.runnable())
        {
            if waits_too_long(c) {
                c.notes.push(format!(
                    "{policy}: its queue wait is past max_wait, so it is not taken first"
                ));
            }
        }
    }
    let held = out.iter().position(|c| {
        c.runnable()
            && matches!(c.category, Category::Owned | Category::Academic)
            && !waits_too_long(c)
    });
    // Without one, the cheapest runnable placement that is not such a queue.
    let fallback = out
        .iter()
        .position(|c| c.runnable() && !(c.category == Category::Academic && waits_too_long(c)))
        .or(cheapest);
    let (chosen, policy_note) = match (policy, cheapest, held) {
        (PolicyKind::Cheapest, _, _) | (_, None, _) => (cheapest, None),
        (_, Some(_), None) => (
            fallback,
            Some(
                "no owned or academic placement can run it, so the cheapest runnable one"
                    .to_string(),
            ),
        ),
        (_, Some(c), Some(h)) => {
            let waits = match (task.max_wait_s, task.deadline) {
                (Some(w), _) => format!("waiting there more than {}", wait_words(w)),
                (None, Some(_)) => "waiting there would miss the deadline".to_string(),
                (None, None) => "it can never start there".to_string(),
            };
            let beside = if c == h {
                "it is also the cheapest".to_string()
            } else {
                format!(
                    "the cheapest, {} {} at ${:.2}/h, is the burst",
                    out[c].provider, out[c].instance, out[c].price_per_hour
                )
            };
            (
                Some(h),
                Some(format!(
                    "{} first ({}); it rents only if {waits}, within budget; {beside}",
                    out[h].instance, out[h].category
                )),
            )
        }
    };
    Plan {
        hours,
        hours_defaulted: task.estimated_hours.is_none(),
        candidates: out,
        chosen,
        policy,
        policy_note,
    }
}

/// `5400` → `1.5 h`, `600` → `10 min`.
fn wait_words(s: i64) -> String {
    if s < 3600 {
        format!("{} min", s / 60)
    } else {
        format!("{:.1} h", s as f64 / 3600.0)
    }
}

fn from_offer(o: &Offer, catalog: &Catalog, count: u32, spot: bool, hours: f64) -> Candidate {
    // Whole instances are rented; marketplaces and pods that bill per GPU list per-GPU rows.
    let price = if spot {
        o.spot_price_hour
    } else {
        o.price_hour
    };
    let mut c = Candidate {
        backend: None,
        provider: o.provider.clone(),
        category: o.category,
        region: o.region.clone(),
        instance: o.instance_type.clone(),
        offering: o.offering.clone(),
        gpu: Some(catalog.table.get(o.gpu).id.clone()),
        gpus: o.gpu_count,
        price_per_hour: price.unwrap_or(0.0),
        spot,
        hours,
        compute_usd: 0.0,
        egress_usd: 0.0,
        expected_usd: 0.0,
        vcpus: o.vcpus.filter(|v| *v >= 1.0).map(|v| v.round() as u32),
        egress_per_gb: o.egress_per_gb,
        wait_hours: o.queue_wait_h.unwrap_or(0.0),
        source: format!("{} ({})", o.source, o.as_of),
        as_of: Some(o.as_of),
        excluded: vec![],
        notes: vec![],
    };
    match o.pricing {
        Pricing::Cash if price.is_none() => c.excluded.push(if spot {
            "no spot price".into()
        } else {
            "no on-demand price".into()
        }),
        Pricing::Allocation => c
            .notes
            .push("needs an academic allocation; no cash price".into()),
        Pricing::Volunteer => c
            .excluded
            .push("volunteer computing: for public BOINC projects only".into()),
        Pricing::Cash => {}
    }
    if o.gpu_count > count {
        c.notes
            .push(format!("rents {} GPUs for the {count} asked", o.gpu_count));
    }
    c
}

/// What sending the task's declared `outputs_gb` out of the provider costs, at the
/// catalog's egress price; data read in is free at every provider Ferry prices (ingress is
/// not charged), so `inputs_gb` adds nothing. An unknown price counts 0 and says so.
fn egress_usd(c: &mut Candidate, task: &Task) -> f64 {
    let gb = task.outputs_gb.unwrap_or(0.0);
    if gb <= 0.0 {
        return 0.0;
    }
    match c.egress_per_gb {
        Some(per_gb) => {
            c.notes.push(format!(
                "egress: {gb} GB out at ${per_gb}/GB = ${:.2}",
                gb * per_gb
            ));
            gb * per_gb
        }
        None if matches!(
            c.category,
            Category::GpuCloud | Category::Hyperscaler | Category::Decentralized
        ) =>
        {
            c.notes.push(format!(
                "egress price unknown for {}: {gb} GB counted at $0",
                c.provider
            ));
            0.0
        }
        None => 0.0,
    }
}

fn finish(
    c: &mut Candidate,
    task: &Task,
    cloud: Option<&str>,
    region: Option<&str>,
    deadline_h: Option<f64>,
) {
    c.compute_usd = c.price_per_hour * c.hours;
    c.egress_usd = egress_usd(c, task);
    c.expected_usd = c.compute_usd + c.egress_usd;
    if !task.categories.is_empty() && !task.categories.contains(&c.category) {
        c.excluded.push(format!(
            "category {} not in the task's categories",
            c.category
        ));
    }
    if let Some(cl) = cloud
        && !cl.eq_ignore_ascii_case(&c.provider)
        && c.backend.as_deref() != Some(cl)
    {
        c.excluded.push(format!("the task asks for cloud {cl}"));
    }
    if let Some(r) = region
        && !wildmatch::WildMatch::new(&r.to_ascii_lowercase())
            .matches(&c.region.to_ascii_lowercase())
    {
        c.excluded.push(format!("the task asks for region {r}"));
    }
    if let Some(max) = task.max_price
        && c.price_per_hour > max
    {
        c.excluded.push(format!(
            "${:.2}/h is above max_price ${max:.2}/h",
            c.price_per_hour
        ));
    }
    if let Some(budget) = task.budget
        && c.expected_usd > budget
    {
        c.excluded.push(format!(
            "expected ${:.2} is above the budget ${budget:.2}",
            c.expected_usd
        ));
    }
    if let Some(d) = deadline_h
        && c.wait_hours + c.hours > d
    {
        c.excluded.push(format!(
            "{:.0} h wait + {:.1} h run misses the deadline in {d:.0} h",
            c.wait_hours, c.hours
        ));
    }
}

/// This host's GPUs priced when no `[[owned]]` entry describes them: the card's purchase
/// price over 3 years at 50% busy, plus its power at the US industrial rate — a stated
/// default, never $0 (docs/config.md gives the formula).
pub fn default_owned_price_per_gpu_hour(catalog: &Catalog, gpu: GpuId) -> (f64, String) {
    let spec = catalog.table.get(gpu);
    let hw = OwnedHardware {
        gpu_count: 1,
        purchase_usd: spec.price_usd.unwrap_or(10_000.0),
        service_life_years: 3.0,
        resale_fraction: 0.0,
        utilization: 0.5,
        power_w: OwnedHardware::default_power_w(1, spec.tdp_w),
        electricity_usd_per_kwh: 0.0826,
        pue: 1.0,
    };
    let price = hw.cost().map(|c| c.price_per_gpu_hour).unwrap_or(1.0);
    (
        price,
        format!(
            "default amortisation of a {} (${:.0} over 3 y at 50% busy + power); add an [[owned]] entry for your own figures",
            spec.id, hw.purchase_usd
        ),
    )
}

#[cfg(test)]
mod tests;
