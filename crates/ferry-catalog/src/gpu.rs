//! The GPU spec table, and how a name a person or a provider wrote resolves to rows of it.
//!
//! Resolution, in order:
//! 1. the name equals (ignoring case and punctuation) a model's id, name or one of its
//!    aliases — what `nvidia-smi` prints, what providers call it — and resolves to that model;
//! 2. every word of the name is a word of the model (`a100` → all four A100 variants,
//!    `A100 80GB` → both 80 GB variants): an ambiguous name matches all its variants;
//! 3. otherwise it is an error that suggests the nearest names.

use serde::Serialize;
use std::collections::BTreeSet;
use std::fmt;

/// Index of a model in its [`GpuTable`]. Cheap to copy and compare in hot loops.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct GpuId(pub u16);

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GpuSpec {
    /// Canonical name, e.g. `H100-SXM`.
    pub id: String,
    /// Family shared by variants, e.g. `h100`.
    pub family: String,
    pub vendor: String,
    pub name: String,
    pub form_factor: String,
    pub vram_gb: f64,
    pub mem_bw_gbps: f64,
    /// Dense (no sparsity) BF16 tensor TFLOPS; FP16 where the chip has no BF16 (V100, T4, P100).
    pub bf16_tflops: f64,
    pub fp32_tflops: Option<f64>,
    pub tdp_w: f64,
    pub price_usd: Option<f64>,
    /// What the purchase price covers: `card`, `card-used`, `hgx-per-gpu` (includes the
    /// baseboard), `chip-estimate`, `proxy`.
    pub price_kind: String,
    pub price_date: Option<String>,
    pub launch_year: u16,
    pub aliases: Vec<String>,
    pub spec_source: String,
    pub price_source: String,
    pub notes: String,
}

impl GpuSpec {
    /// GeForce cards: NVIDIA's driver licence forbids datacenter deployment.
    pub fn is_consumer(&self) -> bool {
        self.form_factor.contains("consumer")
    }
}

#[derive(Debug, Clone)]
pub struct GpuTable {
    specs: Vec<GpuSpec>,
    /// Per model: normalised id/name/aliases (exact matching).
    exact: Vec<Vec<String>>,
    /// Per model: the words of its id, name, aliases and family (subset matching).
    words: Vec<BTreeSet<String>>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ResolveError {
    #[error("unknown GPU '{query}'{}", suggest(.suggestions))]
    Unknown {
        query: String,
        suggestions: Vec<String>,
    },
    #[error("empty GPU name")]
    Empty,
}

fn suggest(s: &[String]) -> String {
    if s.is_empty() {
        " (run `ferry gpus` for the list)".to_string()
    } else {
        format!("; did you mean {}?", s.join(", "))
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("gpus.csv line {line}: {message}")]
pub struct SpecError {
    pub line: u64,
    pub message: String,
}

/// Words that say nothing about which model it is.
const NOISE_WORDS: &[&str] = &[
    "nvidia",
    "geforce",
    "tesla",
    "amd",
    "instinct",
    "generation",
];

pub(crate) fn normalise(s: &str) -> String {
    s.chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .map(|c| c.to_ascii_lowercase())
        .collect()
}

fn words(s: &str) -> impl Iterator<Item = String> + '_ {
    s.split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(|w| w.to_ascii_lowercase())
        .filter(|w| !NOISE_WORDS.contains(&w.as_str()))
}

impl GpuTable {
    /// The table shipped in the binary.
    pub fn embedded() -> &'static GpuTable {
        static TABLE: std::sync::LazyLock<GpuTable> = std::sync::LazyLock::new(|| {
            GpuTable::parse(crate::embedded::GPUS_CSV).expect("embedded gpus.csv is valid")
        });
        &TABLE
    }

    pub fn parse(text: &str) -> Result<GpuTable, SpecError> {
        let mut reader = csv::ReaderBuilder::new().from_reader(text.as_bytes());
        let headers = reader
            .headers()
            .map_err(|e| SpecError {
                line: 1,
                message: e.to_string(),
            })?
            .clone();
        let col = |name: &str| -> Result<usize, SpecError> {
            headers.iter().position(|h| h == name).ok_or(SpecError {
                line: 1,
                message: format!("missing column '{name}'"),
            })
        };
        let c = [
            "id",
            "family",
            "vendor",
            "name",
            "form_factor",
            "vram_gb",
            "mem_bw_gbps",
            "bf16_tflops",
            "fp32_tflops",
            "tdp_w",
            "price_usd",
            "price_kind",
            "price_date",
            "launch_year",
            "aliases",
            "spec_source",
            "price_source",
            "notes",
        ]
        .map(col);
        let mut idx = [0usize; 18];
        for (i, r) in c.into_iter().enumerate() {
            idx[i] = r?;
        }
        let mut specs = vec![];
        for rec in reader.records() {
            let rec = rec.map_err(|e| SpecError {
                line: e.position().map_or(0, |p| p.line()),
                message: e.to_string(),
            })?;
            let line = rec.position().map_or(0, |p| p.line());
            let f = |i: usize| rec.get(idx[i]).unwrap_or("").trim();
            let num = |i: usize, what: &str| -> Result<f64, SpecError> {
                f(i).parse::<f64>()
                    .ok()
                    .filter(|v| *v > 0.0)
                    .ok_or_else(|| SpecError {
                        line,
                        message: format!("{what} '{}' must be a number > 0", f(i)),
                    })
            };
            let opt = |i: usize| f(i).parse::<f64>().ok().filter(|v| *v > 0.0);
            if f(15).is_empty() {
                return Err(SpecError {
                    line,
                    message: format!("model '{}' has no spec_source", f(0)),
                });
            }
            specs.push(GpuSpec {
                id: f(0).to_string(),
                family: f(1).to_string(),
                vendor: f(2).to_string(),
                name: f(3).to_string(),
                form_factor: f(4).to_string(),
                vram_gb: num(5, "vram_gb")?,
                mem_bw_gbps: num(6, "mem_bw_gbps")?,
                bf16_tflops: num(7, "bf16_tflops")?,
                fp32_tflops: opt(8),
                tdp_w: num(9, "tdp_w")?,
                price_usd: opt(10),
                price_kind: f(11).to_string(),
                price_date: Some(f(12).to_string()).filter(|s| !s.is_empty()),
                launch_year: f(13).parse().map_err(|_| SpecError {
                    line,
                    message: format!("launch_year '{}' is not a year", f(13)),
                })?,
                aliases: f(14)
                    .split(';')
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .map(String::from)
                    .collect(),
                spec_source: f(15).to_string(),
                price_source: f(16).to_string(),
                notes: f(17).to_string(),
            });
        }
        Ok(GpuTable::from_specs(specs))
    }

    pub fn from_specs(specs: Vec<GpuSpec>) -> GpuTable {
        let exact = specs
            .iter()
            .map(|s| {
                std::iter::once(&s.id)
                    .chain(std::iter::once(&s.name))
                    .chain(s.aliases.iter())
                    .map(|a| normalise(a))
                    .collect()
            })
            .collect();
        let words = specs
            .iter()
            .map(|s| {
                let mut w: BTreeSet<String> = std::iter::once(&s.id)
                    .chain(std::iter::once(&s.name))
                    .chain(s.aliases.iter())
                    .flat_map(|a| words(a).collect::<Vec<_>>())
                    .collect();
                w.insert(s.family.clone());
                w
            })
            .collect();
        GpuTable {
            specs,
            exact,
            words,
        }
    }

    pub fn len(&self) -> usize {
        self.specs.len()
    }

    pub fn is_empty(&self) -> bool {
        self.specs.is_empty()
    }

    pub fn get(&self, id: GpuId) -> &GpuSpec {
        &self.specs[usize::from(id.0)]
    }

    pub fn iter(&self) -> impl Iterator<Item = (GpuId, &GpuSpec)> {
        self.specs
            .iter()
            .enumerate()
            .map(|(i, s)| (GpuId(i as u16), s))
    }

    /// All models the name matches (one, or several variants for an ambiguous name).
    pub fn resolve(&self, query: &str) -> Result<Vec<GpuId>, ResolveError> {
        let norm = normalise(query);
        if norm.is_empty() {
            return Err(ResolveError::Empty);
        }
        let exact: Vec<GpuId> = self
            .iter()
            .filter(|(id, _)| self.exact[usize::from(id.0)].contains(&norm))
            .map(|(id, _)| id)
            .collect();
        if !exact.is_empty() {
            return Ok(exact);
        }
        let q: Vec<String> = words(query).collect();
        if !q.is_empty() {
            let by_words: Vec<GpuId> = self
                .iter()
                .filter(|(id, _)| q.iter().all(|w| self.words[usize::from(id.0)].contains(w)))
                .map(|(id, _)| id)
                .collect();
            if !by_words.is_empty() {
                return Ok(by_words);
            }
        }
        Err(ResolveError::Unknown {
            query: query.to_string(),
            suggestions: self.nearest(&norm, 3),
        })
    }

    /// Exactly one model, or an error listing the variants an ambiguous name matched.
    pub fn resolve_one(&self, query: &str) -> Result<GpuId, String> {
        let ids = self.resolve(query).map_err(|e| e.to_string())?;
        match ids.as_slice() {
            [one] => Ok(*one),
            many => Err(format!(
                "GPU name '{query}' is ambiguous: it matches {}",
                many.iter()
                    .map(|id| self.get(*id).id.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            )),
        }
    }

    fn nearest(&self, norm: &str, n: usize) -> Vec<String> {
        let mut scored: Vec<(f64, &str)> = self
            .specs
            .iter()
            .enumerate()
            .map(|(i, s)| {
                let best = self.exact[i]
                    .iter()
                    .map(|a| strsim::jaro_winkler(norm, a))
                    .fold(0.0, f64::max);
                (best, s.id.as_str())
            })
            .filter(|(score, _)| *score >= 0.75)
            .collect();
        scored.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(b.1)));
        scored
            .into_iter()
            .take(n)
            .map(|(_, id)| id.to_string())
            .collect()
    }
}

impl fmt::Display for GpuId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "#{}", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(q: &str) -> Vec<String> {
        let t = GpuTable::embedded();
        t.resolve(q)
            .unwrap()
            .into_iter()
            .map(|id| t.get(id).id.clone())
            .collect()
    }

    #[test]
    fn embedded_table_has_the_required_models() {
        let t = GpuTable::embedded();
        for id in [
            "H200",
            "H100-SXM",
            "H100-PCIe",
            "A100-80GB-SXM",
            "A100-40GB-SXM",
            "L40S",
            "L4",
            "A10G",
            "A10",
            "RTX-A6000",
            "RTX-6000-Ada",
            "RTX-4090",
            "RTX-3090",
            "V100-32GB",
            "V100-16GB",
            "T4",
            "P100",
            "MI300X",
            "B200",
        ] {
            assert_eq!(ids(id), vec![id.to_string()], "{id}");
        }
        assert!(t.iter().all(|(_, s)| !s.spec_source.is_empty()));
    }

    #[test]
    fn aliases_resolve_to_one_model() {
        assert_eq!(ids("A100 80GB SXM4"), ["A100-80GB-SXM"]);
        assert_eq!(ids("NVIDIA A100-SXM4-80GB"), ["A100-80GB-SXM"]);
        assert_eq!(ids("NVIDIA H100 80GB HBM3"), ["H100-SXM"]);
        assert_eq!(ids("Tesla V100-SXM2-32GB"), ["V100-32GB"]);
        assert_eq!(ids("NVIDIA GeForce RTX 4090"), ["RTX-4090"]);
        assert_eq!(ids("4090"), ["RTX-4090"]);
        assert_eq!(ids("rtx 6000 ada"), ["RTX-6000-Ada"]);
        assert_eq!(ids("a10"), ["A10"]);
        assert_eq!(ids("AMD Instinct MI300X"), ["MI300X"]);
    }

    #[test]
    fn ambiguous_names_match_all_variants() {
        assert_eq!(
            ids("a100"),
            [
                "A100-80GB-SXM",
                "A100-80GB-PCIe",
                "A100-40GB-SXM",
                "A100-40GB-PCIe"
            ]
        );
        assert_eq!(ids("A100-80GB"), ["A100-80GB-SXM", "A100-80GB-PCIe"]);
        assert_eq!(ids("h100"), ["H100-SXM", "H100-PCIe", "H100-NVL"]);
        assert_eq!(ids("v100"), ["V100-32GB", "V100-16GB"]);
        let t = GpuTable::embedded();
        let err = t.resolve_one("a100").unwrap_err();
        assert!(
            err.contains("ambiguous") && err.contains("A100-40GB-PCIe"),
            "{err}"
        );
    }

    #[test]
    fn unknown_names_suggest_the_nearest() {
        let err = GpuTable::embedded().resolve("H10O").unwrap_err();
        let ResolveError::Unknown { suggestions, .. } = &err else {
            panic!("{err:?}")
        };
        assert!(suggestions.iter().any(|s| s.starts_with("H100")), "{err}");
        assert!(err.to_string().contains("did you mean"));
        let err = GpuTable::embedded().resolve("zzzz").unwrap_err();
        assert!(err.to_string().contains("ferry gpus"), "{err}");
        assert_eq!(
            GpuTable::embedded().resolve(" - "),
            Err(ResolveError::Empty)
        );
    }
}
