use super::{print_json, write_csv};
use crate::cli::{Format, GpusArgs};
use crate::context::Context;
use crate::table;
use anyhow::Result;
use ferry_catalog::{GpuId, GpuTable};
use std::collections::BTreeSet;
use std::process::ExitCode;

pub fn run(_ctx: &Context, args: &GpusArgs) -> Result<ExitCode> {
    let t = GpuTable::embedded();
    let ids: Vec<GpuId> = if args.names.is_empty() {
        t.iter().map(|(id, _)| id).collect()
    } else {
        let mut set = BTreeSet::new();
        for n in &args.names {
            set.extend(t.resolve(n)?);
        }
        set.into_iter().collect()
    };
    let specs: Vec<_> = ids.iter().map(|id| t.get(*id)).collect();
    match args.output.format() {
        Format::Json => print_json(&specs)?,
        Format::Csv => {
            #[derive(serde::Serialize)]
            struct Row<'a> {
                id: &'a str,
                name: &'a str,
                vram_gb: f64,
                mem_bw_gbps: f64,
                bf16_tflops: f64,
                fp32_tflops: Option<f64>,
                tdp_w: f64,
                price_usd: Option<f64>,
                price_kind: &'a str,
                price_date: Option<&'a str>,
                launch_year: u16,
                spec_source: &'a str,
                price_source: &'a str,
            }
            write_csv(specs.iter().map(|s| Row {
                id: &s.id,
                name: &s.name,
                vram_gb: s.vram_gb,
                mem_bw_gbps: s.mem_bw_gbps,
                bf16_tflops: s.bf16_tflops,
                fp32_tflops: s.fp32_tflops,
                tdp_w: s.tdp_w,
                price_usd: s.price_usd,
                price_kind: &s.price_kind,
                price_date: s.price_date.as_deref(),
                launch_year: s.launch_year,
                spec_source: &s.spec_source,
                price_source: &s.price_source,
            }))?
        }
        Format::Table => {
            let mut headers = vec![
                "GPU", "NAME", "VRAM GB", "BW GB/s", "BF16 TF", "FP32 TF", "TDP W", "PRICE $",
                "PRICED", "YEAR",
            ];
            if args.wide {
                headers.extend(["SPEC SOURCE", "PRICE SOURCE"]);
            }
            let mut tb = table::new(&headers);
            for s in &specs {
                let mut row = vec![
                    s.id.clone(),
                    s.name.clone(),
                    table::num(Some(s.vram_gb)),
                    table::num(Some(s.mem_bw_gbps)),
                    table::num(Some(s.bf16_tflops)),
                    table::num(s.fp32_tflops),
                    table::num(Some(s.tdp_w)),
                    s.price_usd.map_or("-".into(), |p| format!("{p:.0}")),
                    s.price_date.clone().unwrap_or_else(|| "-".into()),
                    s.launch_year.to_string(),
                ];
                if args.wide {
                    row.extend([s.spec_source.clone(), s.price_source.clone()]);
                }
                tb.add_row(row);
            }
            table::align_right(&mut tb, &[2, 3, 4, 5, 6, 7]);
            println!("{tb}");
            println!(
                "BF16 TF is dense tensor throughput without sparsity (FP16 for V100, T4 and P100, which have no BF16). \
                 Prices are typical purchase prices on the date shown; `--wide` gives every source."
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}
