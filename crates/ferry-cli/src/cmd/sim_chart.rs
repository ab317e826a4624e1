//! `ferry simulate --chart`: a replay's cumulative cost and owned-pool use hour by hour,
//! or a sweep's total cost against the owned-pool size. SVG by plotters; `.png` through
//! the same rasteriser as `ferry advise --chart`.

use super::chart::write_svg_or_png;
use anyhow::{Result, anyhow};
use ferry_sim::cluster::{ClusterReport, ClusterSetup};
use plotters::prelude::*;
use std::path::Path;

const SIZE: (u32, u32) = (1100, 800);
const COST: RGBColor = RGBColor(214, 39, 40);
const BUSY: RGBColor = RGBColor(31, 119, 180);

fn e(err: impl std::fmt::Display) -> anyhow::Error {
    anyhow!("drawing the chart: {err}")
}

pub fn cluster(r: &ClusterReport, setup: &ClusterSetup, path: &Path) -> Result<()> {
    let t = &r.timeline;
    let max_h = t.last().map_or(1.0, |s| s.hour).max(1.0);
    let max_cost = t.last().map_or(0.0, |s| s.cost.as_usd()).max(1.0) * 1.08;
    let max_busy = f64::from(setup.owned_gpus.max(1)) * 1.08;
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, SIZE).into_drawing_area();
        root.fill(&WHITE).map_err(e)?;
        let (top, bottom) = root.split_vertically(SIZE.1 / 2);
        let mut c = ChartBuilder::on(&top)
            .caption(
                format!(
                    "{}: cumulative cost, {} jobs, {} owned GPUs, cloud {}/GPU-h",
                    setup.policy, r.jobs, setup.owned_gpus, setup.cloud_price
                ),
                ("sans-serif", 20),
            )
            .margin(16)
            .x_label_area_size(40)
            .y_label_area_size(100)
            .build_cartesian_2d(0f64..max_h, 0f64..max_cost)
            .map_err(e)?;
        c.configure_mesh()
            .x_desc("hours from the trace's start")
            .y_desc("cost booked (USD)")
            .y_label_formatter(&|v| format!("${v:.0}"))
            .light_line_style(RGBColor(235, 235, 235))
            .draw()
            .map_err(e)?;
        c.draw_series(LineSeries::new(
            t.iter().map(|s| (s.hour, s.cost.as_usd())),
            COST.stroke_width(2),
        ))
        .map_err(e)?;
        let mut u = ChartBuilder::on(&bottom)
            .caption(
                format!(
                    "owned GPUs busy (mean per hour), {:.1}% over the replay",
                    r.owned_utilisation * 100.0
                ),
                ("sans-serif", 20),
            )
            .margin(16)
            .x_label_area_size(40)
            .y_label_area_size(100)
            .build_cartesian_2d(0f64..max_h, 0f64..max_busy)
            .map_err(e)?;
        u.configure_mesh()
            .x_desc("hours from the trace's start")
            .y_desc("busy owned GPUs")
            .light_line_style(RGBColor(235, 235, 235))
            .draw()
            .map_err(e)?;
        u.draw_series(LineSeries::new(
            t.iter().map(|s| (s.hour, s.owned_busy)),
            BUSY.stroke_width(1),
        ))
        .map_err(e)?;
        root.present().map_err(e)?;
    }
    write_svg_or_png(&svg, SIZE, path)
}

pub fn sweep(points: &[(u32, ClusterReport)], setup: &ClusterSetup, path: &Path) -> Result<()> {
    let max_n = points.iter().map(|p| p.0).max().unwrap_or(1).max(1);
    let max_cost = points
        .iter()
        .map(|p| p.1.total_cost.as_usd())
        .fold(1.0, f64::max)
        * 1.08;
    let mut svg = String::new();
    {
        let root =
            SVGBackend::with_string(&mut svg, (SIZE.0, SIZE.1 / 2 + 150)).into_drawing_area();
        root.fill(&WHITE).map_err(e)?;
        let mut c = ChartBuilder::on(&root)
            .caption(
                format!(
                    "{}: total cost by owned-pool size (cloud {}/GPU-h, owned {}/GPU-h)",
                    setup.policy, setup.cloud_price, setup.owned_rate
                ),
                ("sans-serif", 20),
            )
            .margin(16)
            .x_label_area_size(40)
            .y_label_area_size(100)
            .build_cartesian_2d(0f64..f64::from(max_n), 0f64..max_cost)
            .map_err(e)?;
        c.configure_mesh()
            .x_desc("owned GPUs")
            .y_desc("total cost (USD)")
            .y_label_formatter(&|v| format!("${v:.0}"))
            .light_line_style(RGBColor(235, 235, 235))
            .draw()
            .map_err(e)?;
        let line: Vec<(f64, f64)> = points
            .iter()
            .map(|(n, r)| (f64::from(*n), r.total_cost.as_usd()))
            .collect();
        c.draw_series(LineSeries::new(line.iter().copied(), COST.stroke_width(2)))
            .map_err(e)?;
        c.draw_series(line.iter().map(|p| Circle::new(*p, 4, COST.filled())))
            .map_err(e)?;
        root.present().map_err(e)?;
    }
    write_svg_or_png(&svg, (SIZE.0, SIZE.1 / 2 + 150), path)
}
