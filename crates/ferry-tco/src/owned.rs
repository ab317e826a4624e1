//! Buying the hardware: purchase (GPUs + server share + network), power, space, upkeep
//! labour, maintenance and spares, resale at the horizon, and the lead time to get it.
//!
//! A fleet of `k` GPUs runs whole jobs of `width` GPUs: `floor(k / width)` of them at a
//! time, up `availability` of the month. Work beyond that capacity (the peaks, and the
//! hours the hardware is down) is rented at the cheapest pay-as-you-go rate, so an owned
//! fleet and a hybrid are the same model at different `k`.

use crate::assumptions::Assumptions;
use crate::context::Context;
use crate::estimate::{Approach, CategoryEstimate, LineItem, Performance, TimeToResult};
use crate::money::{hours, months};
use crate::profile::Site;
use crate::rental::{RentalQuote, cheapest, plural, rented_terms};
use crate::workload::Workload;
use ferry_catalog::GpuId;

/// Everything about owning one GPU model that does not depend on how many are bought.
#[derive(Debug, Clone, PartialEq)]
pub struct OwnedSetup {
    pub model: GpuId,
    pub site: Site,
    /// USD per GPU, and what that price is.
    pub gpu_price: f64,
    pub price_note: String,
    /// Server cost per GPU ÷ GPU price.
    pub server_overhead: f64,
    /// Server kW per GPU (TDP × chip-to-server ratio).
    pub kw_per_gpu: f64,
    pub pue: f64,
    pub electricity_usd_per_kwh: f64,
    /// USD of electricity per busy GPU-hour.
    pub energy_per_busy_gpu_hour: f64,
    pub colocation_usd_per_kw_month: f64,
    pub upkeep_hours_per_gpu_month: f64,
    pub ops_hourly_rate_usd: f64,
    pub maintenance_fraction_per_year: f64,
    pub service_life_years: f64,
    pub resale_after_3_years: f64,
    pub lead_time_days: f64,
    pub availability: f64,
}

/// What a fleet of `gpus` costs over the horizon, term by term (USD).
#[derive(Debug, Clone, PartialEq)]
pub struct FleetCost {
    pub gpus: u32,
    /// GPUs and servers of one purchase, and the network on top when it spans servers.
    pub hardware: f64,
    pub network: f64,
    /// Purchases over the horizon (more than one when it outlasts the service life).
    pub purchases: u32,
    /// Resale credit at each replacement and at the horizon (positive numbers).
    pub resale_at_replacements: f64,
    pub resale_at_horizon: f64,
    /// Age of the last purchase at the horizon, years.
    pub final_age_years: f64,
    pub energy: f64,
    pub space: f64,
    pub labour: f64,
    pub maintenance: f64,
    /// GPU-hours the fleet runs over the horizon.
    pub owned_hours: f64,
    /// GPU-hours beyond its capacity, rented (or unserved when nothing can be rented).
    pub rented_hours: f64,
    pub rented_cost: f64,
    pub rented_from: Option<String>,
    pub rented_rate: Option<f64>,
    pub unserved_hours: f64,
    pub total: f64,
}

impl FleetCost {
    /// One purchase: hardware and network.
    pub fn purchase(&self) -> f64 {
        self.hardware + self.network
    }

    /// Fixed costs over the horizon: everything but energy and rented hours.
    pub fn fixed(&self) -> f64 {
        self.purchase() * f64::from(self.purchases)
            - self.resale_at_replacements
            - self.resale_at_horizon
            + self.space
            + self.labour
            + self.maintenance
    }

    /// Share of the fleet's wall-clock hours it is busy.
    pub fn utilization(&self, months: u32, hours_per_month: f64) -> f64 {
        let wall = f64::from(self.gpus) * f64::from(months) * hours_per_month;
        if wall > 0.0 {
            self.owned_hours / wall
        } else {
            0.0
        }
    }
}

/// The owned setup for `model`, or why it cannot be priced. `fleet` is the all-owned fleet
/// size, over which the profile's total upkeep hours are spread.
pub fn setup(w: &Workload, model: GpuId, fleet: u32, ctx: &Context) -> Result<OwnedSetup, String> {
    let a = ctx.assumptions;
    let spec = ctx.catalog.table.get(model);
    let o = &w.owned;
    let (gpu_price, price_note) = match (o.gpu_price_usd, spec.price_usd) {
        (Some(p), _) => (p, "your price".to_string()),
        (None, Some(p)) => (
            p,
            format!(
                "catalog street price ({}{})",
                spec.price_kind,
                spec.price_date
                    .as_deref()
                    .map_or(String::new(), |d| format!(", {d}"))
            ),
        ),
        (None, None) => {
            return Err(format!(
                "no purchase price for {} in the catalog; set owned.gpu_price",
                spec.id
            ));
        }
    };
    let site = o.site.unwrap_or(if spec.is_consumer() {
        Site::Office
    } else {
        Site::Datacenter
    });
    let (chip_to_server, pue_default, colo_default) = match site {
        Site::Datacenter => (
            a.chip_to_server_power,
            a.pue_datacenter,
            a.colocation_usd_per_kw_month,
        ),
        Site::Office => (a.chip_to_workstation_power, a.pue_office, 0.0),
    };
    let server_overhead = o
        .server_overhead
        .unwrap_or(if spec.price_kind == "hgx-per-gpu" {
            a.hgx_server_overhead
        } else {
            a.server_overhead
        });
    let kw_per_gpu = spec.tdp_w * chip_to_server / 1000.0;
    let pue = o.pue.unwrap_or(pue_default);
    let electricity = o
        .electricity_usd_per_kwh
        .unwrap_or(a.electricity_usd_per_kwh);
    let lead_time_days = o.lead_time_days.unwrap_or(if spec.is_consumer() {
        a.lead_time_days_consumer
    } else if spec.form_factor.contains("SXM") || spec.form_factor.contains("OAM") {
        a.lead_time_days_server
    } else {
        a.lead_time_days_card
    });
    Ok(OwnedSetup {
        model,
        site,
        gpu_price,
        price_note,
        server_overhead,
        kw_per_gpu,
        pue,
        electricity_usd_per_kwh: electricity,
        energy_per_busy_gpu_hour: kw_per_gpu * a.average_power_fraction * pue * electricity,
        colocation_usd_per_kw_month: o.colocation_usd_per_kw_month.unwrap_or(colo_default),
        upkeep_hours_per_gpu_month: o.ops_hours_per_month.map_or(
            match site {
                Site::Datacenter => a.upkeep_hours_per_gpu_month(),
                Site::Office => a.upkeep_hours_per_gpu_month_office,
            },
            |h| h / f64::from(fleet.max(1)),
        ),
        ops_hourly_rate_usd: o.ops_hourly_rate_usd.unwrap_or(a.ops_hourly_rate_usd),
        maintenance_fraction_per_year: o
            .maintenance_fraction_per_year
            .unwrap_or(a.maintenance_fraction_per_year),
        service_life_years: o.service_life_years.unwrap_or(a.service_life_years),
        resale_after_3_years: o.resale_after_3_years.unwrap_or(a.resale_after_3_years),
        lead_time_days,
        availability: a.owned_availability,
    })
}

/// GPU-hours a fleet of `k` runs in a month that needs `demand`: whole jobs only, up
/// `availability` of the time.
pub fn owned_hours(k: u32, demand: f64, w: &Workload, s: &OwnedSetup, a: &Assumptions) -> f64 {
    let usable = f64::from(k / w.width * w.width);
    demand.min(usable * a.hours_per_month * s.availability)
}

/// What owning `k` GPUs costs over the horizon, renting what they cannot run from the
/// cheapest of `paygo`.
pub fn fleet_cost(
    s: &OwnedSetup,
    k: u32,
    w: &Workload,
    ctx: &Context,
    paygo: &[RentalQuote],
) -> FleetCost {
    let a = ctx.assumptions;
    let months = f64::from(w.horizon_months);
    let gpus = f64::from(k);
    let hardware = gpus * s.gpu_price * s.server_overhead;
    let network = if k > a.gpus_per_server {
        hardware * a.interconnect_fraction / (1.0 - a.interconnect_fraction)
    } else {
        0.0
    };
    let purchase = hardware + network;

    // Replace at the end of each service life; sell the old hardware then, and the last
    // hardware at the horizon.
    let life_months = s.service_life_years * 12.0;
    let purchases = ((months / life_months) - 1e-9).ceil().max(1.0);
    let last_age_months = months - (purchases - 1.0) * life_months;
    let resale_at_replacements = (purchases - 1.0)
        * purchase
        * Assumptions::resale_fraction(s.resale_after_3_years, s.service_life_years);
    let resale_at_horizon =
        purchase * Assumptions::resale_fraction(s.resale_after_3_years, last_age_months / 12.0);

    let space = gpus * s.kw_per_gpu * s.colocation_usd_per_kw_month * months;
    let labour = gpus * s.upkeep_hours_per_gpu_month * s.ops_hourly_rate_usd * months;
    let maintenance = purchase * s.maintenance_fraction_per_year / 12.0 * months;

    let owned: Vec<f64> = w
        .demand
        .iter()
        .map(|d| owned_hours(k, *d, w, s, a))
        .collect();
    let rest: Vec<f64> = w.demand.iter().zip(&owned).map(|(d, o)| d - o).collect();
    let owned_total: f64 = owned.iter().sum();
    let energy = owned_total * s.energy_per_busy_gpu_hour;
    let (rented_hours, months_of_data) = rented_terms(&rest, &w.demand);
    let (rented_cost, rented_from, rented_rate, unserved_hours) = if rented_hours <= 0.0 {
        (0.0, None, None, 0.0)
    } else {
        match cheapest(paygo, rented_hours, months_of_data) {
            Some((i, cost)) => (cost, Some(paygo[i].label()), Some(paygo[i].rate), 0.0),
            None => (0.0, None, None, rented_hours),
        }
    };
    let total = purchase * purchases - resale_at_replacements - resale_at_horizon
        + space
        + labour
        + maintenance
        + energy
        + rented_cost;
    FleetCost {
        gpus: k,
        hardware,
        network,
        purchases: purchases as u32,
        resale_at_replacements,
        resale_at_horizon,
        final_age_years: last_age_months / 12.0,
        energy,
        space,
        labour,
        maintenance,
        owned_hours: owned_total,
        rented_hours: rented_hours - unserved_hours,
        rented_cost,
        rented_from,
        rented_rate,
        unserved_hours,
        total,
    }
}

/// The cheapest model to own as an all-owned fleet, with its cost.
#[derive(Debug, Clone, PartialEq)]
pub struct OwnedPlan {
    pub setup: OwnedSetup,
    pub fleet: FleetCost,
}

/// Every qualifying model priced as an all-owned fleet; the cheapest wins. `Err` says why
/// none could be priced.
pub fn best_plan(w: &Workload, ctx: &Context, paygo: &[RentalQuote]) -> Result<OwnedPlan, String> {
    let fleet = w.fleet_size(ctx.assumptions);
    let mut why = vec![];
    let mut best: Option<OwnedPlan> = None;
    for model in &w.models {
        match setup(w, *model, fleet, ctx) {
            Ok(setup) => {
                let cost = fleet_cost(&setup, fleet, w, ctx, paygo);
                if best.as_ref().is_none_or(|b| cost.total < b.fleet.total) {
                    best = Some(OwnedPlan { setup, fleet: cost });
                }
            }
            Err(e) => why.push(e),
        }
    }
    best.ok_or_else(|| why.join("; "))
}

/// The cost terms of a fleet, as line items in the output currency's words.
pub fn line_items(s: &OwnedSetup, f: &FleetCost, w: &Workload, ctx: &Context) -> Vec<LineItem> {
    let months = w.horizon_months;
    let a = ctx.assumptions;
    let spec = ctx.catalog.table.get(s.model);
    let mut items = vec![LineItem::once(
        "GPUs and server",
        f.hardware,
        format!(
            "{} × {} {} × {:.2} server overhead ({})",
            f.gpus,
            spec.id,
            ctx.amount(s.gpu_price),
            s.server_overhead,
            s.price_note
        ),
    )];
    if f.network > 0.0 {
        items.push(LineItem::once(
            "network",
            f.network,
            format!(
                "{} GPUs span servers of {}: interconnect is {:.0}% of the cluster (Epoch AI)",
                f.gpus,
                a.gpus_per_server,
                a.interconnect_fraction * 100.0
            ),
        ));
    }
    if f.purchases > 1 {
        items.push(LineItem::once(
            "replacements",
            f.purchase() * f64::from(f.purchases - 1),
            format!(
                "{} more purchase{} at the end of each {}-year service life, at today's price",
                f.purchases - 1,
                plural(f.purchases - 1),
                s.service_life_years
            ),
        ));
        items.push(LineItem::once(
            "resale at replacements",
            -f.resale_at_replacements,
            format!(
                "old hardware sold at {:.0}% of its price after {} years",
                Assumptions::resale_fraction(s.resale_after_3_years, s.service_life_years) * 100.0,
                s.service_life_years
            ),
        ));
    }
    items.push(LineItem::once(
        "resale at horizon",
        -f.resale_at_horizon,
        format!(
            "sold at {:.0}% of its price after {:.1} years ({:.0}% left after 3 years, compounding)",
            Assumptions::resale_fraction(s.resale_after_3_years, f.final_age_years) * 100.0,
            f.final_age_years,
            s.resale_after_3_years * 100.0
        ),
    ));
    items.push(LineItem::recurring(
        "power",
        f.energy,
        months,
        format!(
            "{:.0} W TDP × {:.1} server watts per GPU watt × {:.2} average draw × PUE {:.2} × \
             {}/kWh = {} per busy GPU-hour, {} busy GPU-h",
            spec.tdp_w,
            s.kw_per_gpu * 1000.0 / spec.tdp_w,
            a.average_power_fraction,
            s.pue,
            ctx.price(s.electricity_usd_per_kwh),
            ctx.price(s.energy_per_busy_gpu_hour),
            hours(f.owned_hours)
        ),
    ));
    items.push(LineItem::recurring(
        "space",
        f.space,
        months,
        match s.site {
            Site::Office => "an office or lab: no rent counted".to_string(),
            Site::Datacenter => format!(
                "{:.2} kW per GPU × {} GPUs × {}/kW-month colocation",
                s.kw_per_gpu,
                f.gpus,
                ctx.price(s.colocation_usd_per_kw_month)
            ),
        },
    ));
    items.push(LineItem::recurring(
        "upkeep labour",
        f.labour,
        months,
        format!(
            "{} h a month × {}/h",
            hours(s.upkeep_hours_per_gpu_month * f64::from(f.gpus)),
            ctx.price(s.ops_hourly_rate_usd)
        ),
    ));
    items.push(LineItem::recurring(
        "maintenance and spares",
        f.maintenance,
        months,
        format!(
            "{:.0}% of the purchase a year (support contracts, failed parts)",
            s.maintenance_fraction_per_year * 100.0
        ),
    ));
    if f.rented_hours > 0.0 {
        items.push(LineItem::recurring(
            "rented beyond capacity",
            f.rented_cost,
            months,
            format!(
                "{} GPU-h the fleet cannot run (peaks, {:.0}% uptime) from {} at {} per GPU-hour",
                hours(f.rented_hours),
                s.availability * 100.0,
                f.rented_from.as_deref().unwrap_or("-"),
                ctx.price(f.rented_rate.unwrap_or(0.0))
            ),
        ));
    }
    items
}

/// The owned column.
pub fn estimate(w: &Workload, ctx: &Context, plan: &Result<OwnedPlan, String>) -> CategoryEstimate {
    let plan = match plan {
        Ok(p) => p,
        Err(why) => return CategoryEstimate::unavailable(Approach::Owned, why.clone()),
    };
    let (s, f) = (&plan.setup, &plan.fleet);
    let a = ctx.assumptions;
    let spec = ctx.catalog.table.get(s.model);
    let mut e = CategoryEstimate::blank(Approach::Owned);
    e.pricing = format!("buy {}", f.gpus);
    e.line_items = line_items(s, f, w, ctx);
    e.initial_cost = f.purchase();
    e.settle(w.horizon_months, w.total_hours() - f.unserved_hours);
    let nodes = f.gpus.div_ceil(a.gpus_per_server);
    e.performance = Some(Performance::new(spec, f.gpus, nodes, "InfiniBand"));
    e.time_to_result = TimeToResult {
        lead_time_days: s.lead_time_days,
        ..TimeToResult::default()
    };
    e.maintenance_hours_per_month = s.upkeep_hours_per_gpu_month * f64::from(f.gpus);
    let utilization = f.utilization(w.horizon_months, a.hours_per_month);
    e.scalability = format!(
        "{} GPU{} ({}); more means buying more, about {:.0} days away",
        f.gpus,
        plural(f.gpus),
        s.site.as_str(),
        s.lead_time_days
    );
    e.flexibility = format!(
        "fixed hardware, busy {:.0}% of the time; resale recovers {:.0}% after {}",
        utilization * 100.0,
        Assumptions::resale_fraction(s.resale_after_3_years, f.final_age_years) * 100.0,
        months(w.horizon_months)
    );
    e.ease_of_use =
        "you run everything: drivers, cooling, repairs; full control, no queue".to_string();
    e.constraints.push(format!(
        "needs {:.1} kW of power and cooling",
        s.kw_per_gpu * f64::from(f.gpus)
    ));
    if spec.is_consumer() {
        e.constraints
            .push(format!("{} GB per GPU, no NVLink, no ECC", spec.vram_gb));
    }
    if spec.is_consumer() && s.site == Site::Datacenter {
        e.warnings.push(format!(
            "{} is a GeForce card: NVIDIA's driver licence forbids datacenter deployment \
             (nvidia.com/drivers/geforce-license); keep it in an office or choose a datacenter GPU",
            spec.id
        ));
    }
    if spec.price_kind == "hgx-per-gpu" && w.owned.server_overhead.is_none() {
        e.warnings.push(format!(
            "{}'s price is per GPU of an HGX baseboard, which already includes the baseboard: \
             server overhead {:.2}, not {:.2}",
            spec.id, s.server_overhead, a.server_overhead
        ));
    }
    match spec.price_kind.as_str() {
        "proxy" => e.warnings.push(format!(
            "{} is not sold retail; its price is a proxy ({})",
            spec.id, spec.price_source
        )),
        "card-used" => e.warnings.push(format!("{} is priced used", spec.id)),
        "chip-estimate" => e
            .warnings
            .push(format!("{}'s price is a press estimate", spec.id)),
        _ => {}
    }
    if f.unserved_hours > 0.0 {
        e.warnings.push(format!(
            "{} GPU-h exceed the fleet's capacity and nothing in the catalog rents {}: \
             left out of the cost",
            hours(f.unserved_hours),
            spec.id
        ));
    }
    if w.total_hours() > 0.0 && utilization < 0.2 {
        e.warnings.push(format!(
            "the owned GPUs would be busy only {:.0}% of the time",
            utilization * 100.0
        ));
    }
    e
}
