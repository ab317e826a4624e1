//! Marketplaces (Vast.ai, Golem): the best offer, adjusted for host reliability (expected
//! lost work) and for the paid time spent moving data over the host's link.

use crate::context::Context;
use crate::estimate::{Approach, CategoryEstimate};
use crate::rental::{CategoryQuotes, estimate_from_quote, is_experimental, plural};
use crate::workload::Workload;
use ferry_catalog::{Category, Pricing};

/// The decentralized column.
pub fn estimate(w: &Workload, ctx: &Context) -> CategoryEstimate {
    let quotes = CategoryQuotes::new(w, ctx, Category::Decentralized);
    let notes = side_notes(w, ctx);
    let Some(q) = quotes.headline(w) else {
        let mut e = CategoryEstimate::unavailable(
            Approach::Decentralized,
            format!(
                "no priced marketplace offer in the catalog for {}",
                w.models_label(ctx.catalog.table)
            ),
        );
        e.warnings = notes;
        return e;
    };
    let mut e = estimate_from_quote(
        Approach::Decentralized,
        q,
        w,
        ctx,
        "the public internet (no fabric)",
    );
    e.variants = quotes.variants(w, ctx);
    let max = quotes.max_gpus_per_instance();
    e.scalability = format!(
        "single hosts of up to {max} GPU{}; a {}-GPU job takes {} host{}",
        plural(max),
        w.width,
        q.instances_per_job,
        plural(q.instances_per_job)
    );
    e.flexibility = format!("billed {}; hosts come and go", q.offer.billing);
    e.ease_of_use = format!(
        "pick and check hosts yourself; data crosses each host's link (~{:.0} Mbit/s)",
        ctx.assumptions.decentralized_bandwidth_mbps
    );
    e.constraints.push(format!(
        "host reliability: {:.1}% of paid time does work{}",
        q.reliability * 100.0,
        if q.offer.reliability.is_none() {
            " (assumed: the catalog states none; filter for verified hosts ≥ 98%)"
        } else {
            ""
        }
    ));
    e.constraints
        .push("untrusted hosts: no private or regulated data".to_string());
    if q.instances_per_job > 1 {
        e.warnings.push(format!(
            "a {}-GPU job spans {} marketplace hosts with no fabric between them: only for \
             loosely coupled work",
            w.width, q.instances_per_job
        ));
    }
    if !w.interruptible {
        e.warnings.push(
            "the work cannot be interrupted, but marketplace hosts can drop out: checkpoint \
             anyway"
                .to_string(),
        );
    }
    e.warnings.extend(notes);
    e
}

/// What the headline leaves out: experimental offers and volunteer computing.
fn side_notes(w: &Workload, ctx: &Context) -> Vec<String> {
    let mut notes = vec![];
    let table = ctx.catalog.table;
    let ours = |o: &&ferry_catalog::Offer| {
        o.category == Category::Decentralized && w.models.contains(&o.gpu)
    };
    if !w.allow_experimental
        && let Some(o) = ctx
            .catalog
            .offers
            .iter()
            .filter(ours)
            .filter(|o| is_experimental(o))
            .filter_map(|o| o.price_hour.map(|p| (o, p)))
            .min_by(|a, b| a.1.total_cmp(&b.1))
    {
        notes.push(format!(
            "{} lists {} at {}/h, but its GPU support is experimental (no SLA, thin supply): \
             left out; set job.allow_experimental to include it",
            o.0.provider,
            table.get(o.0.gpu).id,
            ctx.price(o.1)
        ));
    }
    if ctx
        .catalog
        .offers
        .iter()
        .filter(ours)
        .any(|o| o.pricing == Pricing::Volunteer)
    {
        notes.push(
            "volunteer computing (BOINC) costs nothing, but only suits public-interest, \
             embarrassingly parallel projects run as a BOINC project: not priced here"
                .to_string(),
        );
    }
    notes
}
