//! `ferry advise --chart`: cumulative cost of each option over the horizon, with the month
//! buying breaks even against the cheapest rental marked. Drawn with plotters as SVG; a
//! `.png` is the same SVG rasterised by resvg with the system's fonts.

use anyhow::{Context as _, Result, bail};
use ferry_tco::{Advice, Approach, CategoryEstimate};
use plotters::prelude::*;
use std::path::Path;

const SIZE: (u32, u32) = (1100, 650);

fn colour(a: Approach) -> RGBColor {
    match a {
        Approach::Owned => RGBColor(31, 119, 180),
        Approach::Academic => RGBColor(44, 160, 44),
        Approach::GpuCloud => RGBColor(255, 127, 14),
        Approach::Hyperscaler => RGBColor(214, 39, 40),
        Approach::Decentralized => RGBColor(148, 103, 189),
        Approach::Hybrid => RGBColor(23, 190, 207),
    }
}

/// Cumulative cost at each month 0..=horizon: the purchase at month 0, the mean monthly
/// recurring cost after it, and the horizon's total (resale included) at the end.
pub fn series(e: &CategoryEstimate, horizon: u32) -> Vec<(f64, f64)> {
    (0..=horizon)
        .map(|m| {
            let y = if m == horizon {
                e.total
            } else {
                e.initial_cost + e.monthly_recurring * f64::from(m)
            };
            (f64::from(m), y)
        })
        .collect()
}

pub fn render(advice: &Advice, path: &Path) -> Result<()> {
    check_extension(path)?;
    write_svg_or_png(&draw_svg(advice)?, SIZE, path)
}

/// Charts are written as `.svg` or `.png`; anything else is refused before work is done.
pub fn check_extension(path: &Path) -> Result<()> {
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .unwrap_or("")
        .to_ascii_lowercase();
    if ext != "svg" && ext != "png" {
        bail!(
            "the chart is written as .svg or .png, not '{}'",
            path.display()
        );
    }
    Ok(())
}

/// Writes a drawn SVG as is, or rasterised to PNG by the file's extension.
pub fn write_svg_or_png(svg: &str, size: (u32, u32), path: &Path) -> Result<()> {
    check_extension(path)?;
    let png = path
        .extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| e.eq_ignore_ascii_case("png"));
    if !png {
        std::fs::write(path, svg).with_context(|| format!("writing {}", path.display()))?;
        return Ok(());
    }
    let mut options = resvg::usvg::Options::default();
    options.fontdb_mut().load_system_fonts();
    // fontdb maps `sans-serif` to Arial, which Linux hosts rarely have: use a font that is there.
    let family = {
        let db = &options.fontdb;
        let names: Vec<String> = db
            .faces()
            .flat_map(|f| f.families.iter().map(|(n, _)| n.clone()))
            .collect();
        ["DejaVu Sans", "Liberation Sans", "Noto Sans", "FreeSans"]
            .iter()
            .map(|s| s.to_string())
            .find(|want| names.contains(want))
            .or_else(|| names.first().cloned())
    };
    let Some(family) = family else {
        bail!(
            "no system fonts to draw the PNG's text (apt-get install fonts-dejavu-core), or write .svg"
        );
    };
    options.fontdb_mut().set_sans_serif_family(family.clone());
    options.font_family = family;
    let tree = resvg::usvg::Tree::from_str(svg, &options).context("re-reading the chart's SVG")?;
    let mut pixmap =
        resvg::tiny_skia::Pixmap::new(size.0, size.1).context("allocating the image")?;
    pixmap.fill(resvg::tiny_skia::Color::WHITE);
    resvg::render(
        &tree,
        resvg::tiny_skia::Transform::identity(),
        &mut pixmap.as_mut(),
    );
    pixmap
        .save_png(path)
        .with_context(|| format!("writing {}", path.display()))?;
    Ok(())
}

fn draw_svg(advice: &Advice) -> Result<String> {
    let horizon = advice.workload.horizon_months;
    let c = &advice.currency;
    let shown: Vec<&CategoryEstimate> = advice.estimates.iter().filter(|e| e.available).collect();
    let lines: Vec<(&CategoryEstimate, Vec<(f64, f64)>)> =
        shown.iter().map(|e| (*e, series(e, horizon))).collect();
    let max_y = lines
        .iter()
        .flat_map(|(_, s)| s.iter().map(|p| p.1))
        .fold(0.0f64, f64::max)
        .max(1.0)
        * 1.08;

    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, SIZE).into_drawing_area();
        root.fill(&WHITE).map_err(|e| anyhow::anyhow!("{e}"))?;
        let title = format!(
            "Cumulative cost over {horizon} months: {} x {} ({})",
            advice.workload.gpus_per_job,
            advice.workload.gpu_models.join("/"),
            c.code
        );
        let mut chart = ChartBuilder::on(&root)
            .caption(title, ("sans-serif", 22))
            .margin(18)
            .x_label_area_size(45)
            .y_label_area_size(95)
            .build_cartesian_2d(0f64..f64::from(horizon.max(1)), 0f64..max_y)
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        chart
            .configure_mesh()
            .x_desc("month")
            .y_desc(format!("cumulative cost ({})", c.code))
            .y_label_formatter(&|v| c.local_amount(*v))
            .light_line_style(RGBColor(235, 235, 235))
            .draw()
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        for (e, s) in &lines {
            let col = colour(e.approach);
            chart
                .draw_series(LineSeries::new(s.iter().copied(), col.stroke_width(3)))
                .map_err(|e| anyhow::anyhow!("{e}"))?
                .label(format!(
                    "{} ({}): {}{}",
                    e.approach.as_str(),
                    e.pricing,
                    c.local_amount(e.total),
                    if advice.excluded.iter().any(|x| x.approach == e.approach) {
                        " (left out)"
                    } else {
                        ""
                    }
                ))
                .legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 18, y)], col.stroke_width(3))
                });
        }
        // Break-even: the month the purchase is paid back by what the cheapest rental would
        // have cost (the model's payback; resale not counted, since it arrives only at the end).
        if let Some(b) = &advice.breakeven {
            let label = match b.payback_months.filter(|m| *m <= f64::from(horizon)) {
                Some(m) => {
                    chart
                        .draw_series(std::iter::once(PathElement::new(
                            vec![(m, 0.0), (m, max_y)],
                            BLACK.mix(0.6).stroke_width(2),
                        )))
                        .map_err(|e| anyhow::anyhow!("{e}"))?;
                    format!(
                        "buying pays back at month {m:.1} against {} (resale not counted)",
                        b.rental
                    )
                }
                None => format!(
                    "buying does not pay back within {horizon} months against {}",
                    b.rental
                ),
            };
            chart
                .draw_series(std::iter::once(Text::new(
                    label,
                    (f64::from(horizon) * 0.02, max_y * 0.97),
                    ("sans-serif", 17),
                )))
                .map_err(|e| anyhow::anyhow!("{e}"))?;
            chart
                .draw_series(std::iter::once(Text::new(
                    "owned lines drop at the end by the resale value",
                    (f64::from(horizon) * 0.02, max_y * 0.92),
                    ("sans-serif", 14),
                )))
                .map_err(|e| anyhow::anyhow!("{e}"))?;
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::LowerRight)
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK.mix(0.3))
            .label_font(("sans-serif", 15))
            .draw()
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        root.present().map_err(|e| anyhow::anyhow!("{e}"))?;
    }
    Ok(svg)
}
