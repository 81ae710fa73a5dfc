//! SVG figures: a bar panel per metric, and a latency CDF per pace. SVG
//! only, with plotters' built-in text metrics, so no system fonts needed.

use std::error::Error;
use std::path::Path;

use plotters::prelude::*;

use crate::common::{percentile, Series};
use crate::report::{cdf_percentiles, fmt_value, Better, Row};

/// weftpool's colour in every figure.
const WEFT: RGBColor = RGBColor(214, 39, 40);
/// Peers' colour in bar panels.
const PEER: RGBColor = RGBColor(120, 144, 176);
/// References' (floors, sequential) colour in bar panels.
const REFERENCE: RGBColor = RGBColor(190, 190, 190);

/// A short label for a system under a bar.
fn short(system: &str) -> &str {
    match system {
        s if s.starts_with("weftpool") => "weft",
        "executors" => "exec",
        "threadpool" => "tpool",
        "crossbeam-channel" => "xbeam",
        "sequential" => "seq",
        "park/unpark floor" => "park",
        "spin floor" => "spin",
        s => s,
    }
}

/// One panel per row: weftpool's bar first, then every other system.
pub fn bars(rows: &[Row], path: &Path) -> Result<(), Box<dyn Error>> {
    let cols = 3;
    let lines = rows.len().div_ceil(cols);
    let root = SVGBackend::new(path, (1200, 260 * lines as u32)).into_drawing_area();
    root.fill(&WHITE)?;
    let panels = root.split_evenly((lines, cols));
    for (area, row) in panels.iter().zip(rows) {
        let bars: Vec<(&str, f64, RGBColor)> =
            std::iter::once((row.subject.0, row.subject.1, WEFT))
                .chain(row.others.iter().map(|&(s, v)| {
                    let colour = if crate::report::REFERENCES.contains(&s) {
                        REFERENCE
                    } else {
                        PEER
                    };
                    (s, v, colour)
                }))
                .filter(|(_, v, _)| v.is_finite())
                .collect();
        let top = bars.iter().map(|b| b.1).fold(0.0, f64::max).max(1e-9) * 1.2;
        let dir = match row.better {
            Better::Lower => "lower is better",
            Better::Higher => "higher is better",
        };
        let title = format!("{}: {} ({}, {dir})", row.workload, row.metric, row.unit);
        let mut chart = ChartBuilder::on(area)
            .caption(title, ("sans-serif", 13))
            .margin(6)
            .x_label_area_size(22)
            .y_label_area_size(48)
            .build_cartesian_2d((0..bars.len() - 1).into_segmented(), 0f64..top)?;
        let labels: Vec<&str> = bars.iter().map(|b| short(b.0)).collect();
        chart
            .configure_mesh()
            .disable_x_mesh()
            .x_labels(bars.len())
            .x_label_formatter(&|x| match x {
                SegmentValue::CenterOf(i) => labels.get(*i).copied().unwrap_or("").to_string(),
                _ => String::new(),
            })
            .label_style(("sans-serif", 11))
            .draw()?;
        chart.draw_series(bars.iter().enumerate().map(|(i, &(_, v, colour))| {
            let mut bar = Rectangle::new(
                [
                    (SegmentValue::Exact(i), 0.0),
                    (SegmentValue::Exact(i + 1), v),
                ],
                colour.filled(),
            );
            bar.set_margin(0, 0, 6, 6);
            bar
        }))?;
        chart.draw_series(bars.iter().enumerate().map(|(i, &(_, v, _))| {
            Text::new(
                fmt_value(v),
                (SegmentValue::CenterOf(i), v + top * 0.02),
                ("sans-serif", 10).into_font(),
            )
        }))?;
    }
    root.present()?;
    Ok(())
}

/// The latency distribution of each system, log-scaled latency across,
/// cumulative share up.
pub fn cdf(series: &[Series], title: &str, path: &Path) -> Result<(), Box<dyn Error>> {
    let shown: Vec<f64> = cdf_percentiles().filter(|&p| p <= 99.9).collect();
    let us = |s: &Series, p: f64| (percentile(&s.values, p) / 1e3).max(1e-3);
    let lo = series
        .iter()
        .map(|s| us(s, 0.0))
        .fold(f64::INFINITY, f64::min)
        * 0.8;
    let hi = series.iter().map(|s| us(s, 99.9)).fold(0.0, f64::max) * 1.25;
    let root = SVGBackend::new(path, (900, 560)).into_drawing_area();
    root.fill(&WHITE)?;
    let mut chart = ChartBuilder::on(&root)
        .caption(title, ("sans-serif", 18))
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(50)
        .build_cartesian_2d((lo..hi).log_scale(), 0f64..1f64)?;
    chart
        .configure_mesh()
        .x_desc("dispatch latency (µs, log scale)")
        .y_desc("share of samples at or below")
        .label_style(("sans-serif", 12))
        .draw()?;
    for (i, s) in series.iter().enumerate() {
        let colour = if s.system.starts_with("weftpool") {
            WEFT.to_rgba()
        } else {
            Palette99::pick(i + 1).to_rgba()
        };
        let width = if s.system.starts_with("weftpool") {
            3
        } else {
            1
        };
        let points: Vec<(f64, f64)> = shown.iter().map(|&p| (us(s, p), p / 100.0)).collect();
        chart
            .draw_series(LineSeries::new(points, colour.stroke_width(width)))?
            .label(s.system)
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 20, y)], colour.stroke_width(2))
            });
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::LowerRight)
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .label_font(("sans-serif", 12))
        .draw()?;
    root.present()?;
    Ok(())
}
