//! GPU clouds (Lambda, RunPod, Paperspace): the best matching offer by the hour, egress
//! (usually free) and the risk that the instance is not in stock.

use crate::context::Context;
use crate::estimate::{Approach, CategoryEstimate};
use crate::rental::{CategoryQuotes, estimate_from_quote, plural};
use crate::workload::Workload;
use ferry_catalog::Category;

/// The GPU-cloud column.
pub fn estimate(w: &Workload, ctx: &Context) -> CategoryEstimate {
    let quotes = CategoryQuotes::new(w, ctx, Category::GpuCloud);
    let Some(q) = quotes.headline(w) else {
        return CategoryEstimate::unavailable(
            Approach::GpuCloud,
            format!(
                "no GPU-cloud offer in the catalog for {}",
                w.models_label(ctx.catalog.table)
            ),
        );
    };
    let mut e = estimate_from_quote(
        Approach::GpuCloud,
        q,
        w,
        ctx,
        "the provider's cluster network",
    );
    e.variants = quotes.variants(w, ctx);
    let max = quotes.max_gpus_per_instance();
    e.scalability = format!(
        "up to {max} GPU{} per instance; {} instance{} per {}-GPU job; more on demand while \
         stock lasts",
        plural(max),
        q.instances_per_job,
        plural(q.instances_per_job),
        w.width
    );
    e.flexibility = format!("billed {}; stop any time, no commitment", q.offer.billing);
    e.ease_of_use =
        "console or API, CUDA images ready; you run the software, the provider the hardware".into();
    e.constraints.push(format!(
        "availability risk: {} does not guarantee stock{}; the model assumes {:.0}% of paid \
         time does work",
        q.offer.provider,
        if q.offer.gpu_count > 1 || q.instances_per_job > 1 {
            ", multi-GPU hosts especially"
        } else {
            ""
        },
        q.reliability * 100.0
    ));
    e
}
