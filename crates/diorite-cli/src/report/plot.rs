//! `--latency-plot FILE.svg`: total latency (`lat`) as a histogram over log-spaced buckets and as
//! a percentile curve, one series per direction, for every reported job or group.

use crate::report::View;
use crate::stats::Lat;
use anyhow::{anyhow, Result};
use plotters::prelude::*;
use std::path::Path;

const BUCKETS: usize = 60;

/// Draws one line per series, with a legend (a macro: the two panels' coordinate types differ).
macro_rules! draw_lines {
    ($chart:expr, $lines:expr, $series:expr) => {
        for (i, (pts, (name, _))) in $lines.iter().zip(&$series).enumerate() {
            let color = Palette99::pick(i).to_rgba();
            $chart
                .draw_series(LineSeries::new(pts.iter().copied(), color.stroke_width(2)))?
                .label(name.clone())
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], color));
        }
        $chart
            .configure_series_labels()
            .border_style(BLACK)
            .background_style(WHITE.mix(0.8))
            .draw()?;
    };
}

/// `(bucket centre in µs, I/Os)` over log-spaced buckets between the smallest and largest value.
fn histogram(l: &Lat) -> Vec<(f64, f64)> {
    let (lo, hi) = (l.min().max(1) as f64, l.max.max(2) as f64);
    let step = (hi / lo).ln().max(1e-9) / BUCKETS as f64;
    let mut counts = vec![0u64; BUCKETS];
    for v in l.hist.iter_recorded() {
        let x = v.value_iterated_to().max(1) as f64;
        let i = (((x / lo).ln() / step) as usize).min(BUCKETS - 1);
        counts[i] += v.count_at_value();
    }
    counts
        .iter()
        .enumerate()
        .map(|(i, c)| (lo * ((i as f64 + 0.5) * step).exp() / 1e3, *c as f64))
        .collect()
}

/// `(percentile, µs)` from 1 to 99.99.
fn curve(l: &Lat) -> Vec<(f64, f64)> {
    let mut pts = Vec::new();
    let mut p = 1.0;
    while p <= 99.99 {
        pts.push((p, l.percentile(p).max(1) as f64 / 1e3));
        p += if p < 90.0 {
            1.0
        } else if p < 99.0 {
            0.25
        } else {
            0.01
        };
    }
    pts
}

pub fn write(path: &Path, views: &[View<'_>]) -> Result<()> {
    let series: Vec<(String, &Lat)> = views
        .iter()
        .flat_map(|v| {
            [(0, "read"), (1, "write")]
                .into_iter()
                .filter(|(d, _)| v.stats[*d].lat.n > 0)
                .map(move |(d, name)| (format!("{} {name}", v.name), &v.stats[d].lat))
        })
        .collect();
    if series.is_empty() {
        return Err(anyhow!("--latency-plot: no I/O was measured"));
    }
    let draw = || -> std::result::Result<(), Box<dyn std::error::Error>> {
        let root = SVGBackend::new(path, (1000, 800)).into_drawing_area();
        root.fill(&WHITE)?;
        let (top, bottom) = root.split_vertically(400);
        let hists: Vec<Vec<(f64, f64)>> = series.iter().map(|s| histogram(s.1)).collect();
        let curves: Vec<Vec<(f64, f64)>> = series.iter().map(|s| curve(s.1)).collect();
        let xs = hists.iter().flatten().map(|p| p.0);
        let (xmin, xmax) = xs.fold((f64::MAX, 0f64), |(a, b), x| (a.min(x), b.max(x)));
        let ymax = hists.iter().flatten().map(|p| p.1).fold(1.0, f64::max);
        let mut c = ChartBuilder::on(&top)
            .caption("diorite: total latency histogram", ("sans-serif", 20))
            .margin(15)
            .x_label_area_size(40)
            .y_label_area_size(70)
            .build_cartesian_2d((xmin * 0.9..xmax * 1.1).log_scale(), 0f64..ymax * 1.05)?;
        c.configure_mesh()
            .x_desc("latency (us, log scale)")
            .y_desc("I/Os")
            .draw()?;
        draw_lines!(c, hists, series);
        let lmax = curves.iter().flatten().map(|p| p.1).fold(1.0, f64::max);
        let lmin = curves
            .iter()
            .flatten()
            .map(|p| p.1)
            .fold(f64::MAX, f64::min);
        let mut c = ChartBuilder::on(&bottom)
            .caption("percentiles", ("sans-serif", 20))
            .margin(15)
            .x_label_area_size(40)
            .y_label_area_size(70)
            .build_cartesian_2d(0f64..100f64, (lmin * 0.9..lmax * 1.1).log_scale())?;
        c.configure_mesh()
            .x_desc("percentile")
            .y_desc("latency (us, log scale)")
            .draw()?;
        draw_lines!(c, curves, series);
        root.present()?;
        Ok(())
    };
    draw().map_err(|e| anyhow!("--latency-plot {}: {e}", path.display()))
}
