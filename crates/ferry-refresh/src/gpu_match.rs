//! Providers name GPUs their own way ("H100 SXM", "A100 SXM4" without its memory,
//! "H100 (80 GB SXM5)"). Names go through the catalog's resolver; the memory the
//! provider states picks between variants the name leaves open.

use ferry_catalog::{GpuId, GpuTable};

/// Relative tolerance between stated memory and the spec (MB vs MiB vs GiB).
const TOLERANCE: f64 = 0.08;

/// The one model the first resolvable candidate name (narrowed by memory) points at.
pub fn resolve(table: &GpuTable, names: &[&str], memory_gb: Option<f64>) -> Option<GpuId> {
    for name in names.iter().filter(|n| !n.trim().is_empty()) {
        let Ok(mut ids) = table.resolve(name) else {
            continue;
        };
        if let Some(mem) = memory_gb.filter(|m| *m > 0.0) {
            ids.retain(|id| {
                let spec = table.get(*id).vram_gb;
                (mem - spec).abs() <= spec * TOLERANCE
            });
        }
        if let [one] = ids.as_slice() {
            return Some(*one);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(names: &[&str], mem: Option<f64>) -> Option<String> {
        let t = GpuTable::embedded();
        resolve(t, names, mem).map(|i| t.get(i).id.clone())
    }

    #[test]
    fn memory_picks_the_variant() {
        assert_eq!(
            id(&["A100 SXM4"], Some(79.6)).as_deref(),
            Some("A100-80GB-SXM")
        );
        assert_eq!(
            id(&["A100 SXM4"], Some(39.4)).as_deref(),
            Some("A100-40GB-SXM")
        );
        assert_eq!(id(&["A100 SXM4"], None), None);
        assert_eq!(
            id(&["H100 SXM5", "H100"], Some(80.0)).as_deref(),
            Some("H100-SXM")
        );
        assert_eq!(id(&["GH200"], Some(96.0)), None);
        assert_eq!(
            id(&["B200 SXM6", "B200"], Some(180.0)).as_deref(),
            Some("B200")
        );
    }
}
