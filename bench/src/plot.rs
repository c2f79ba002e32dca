//! The PNG plot: create-to-driver-pod latency (p50, p99) and throughput against N.
//!
//! Text is drawn with ab_glyph from a TrueType font found at run time, so no system font library is
//! linked; on a machine with none of the fonts below the plot is drawn without text (the markdown
//! table beside it carries the numbers and the legend is described in bench/README.md).

use std::path::Path;

use anyhow::{Context, anyhow};
use plotters::coord::Shift;
use plotters::prelude::*;

use crate::report::SizeResult;

const FONTS: &[&str] = &[
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/TTF/DejaVuSans.ttf",
    "/usr/share/fonts/truetype/liberation/LiberationSans-Regular.ttf",
    "/usr/share/fonts/liberation-sans/LiberationSans-Regular.ttf",
    "/usr/share/fonts/truetype/freefont/FreeSans.ttf",
    "/usr/share/fonts/truetype/noto/NotoSans-Regular.ttf",
];

const P50: RGBColor = RGBColor(31, 119, 180);
const P99: RGBColor = RGBColor(214, 39, 40);
const SUBMISSIONS: RGBColor = RGBColor(44, 160, 44);
const CEILING: RGBColor = RGBColor(127, 127, 127);

/// Registers the first font found as "sans-serif"; false when there is none.
fn register_font() -> bool {
    for path in FONTS {
        if let Ok(bytes) = std::fs::read(path) {
            let bytes: &'static [u8] = Box::leak(bytes.into_boxed_slice());
            if plotters::style::register_font("sans-serif", FontStyle::Normal, bytes).is_ok() {
                return true;
            }
        }
    }
    false
}

/// Draws the plot into `path`; returns whether it has text.
pub fn draw(results: &[SizeResult], path: &Path) -> anyhow::Result<bool> {
    let text = register_font();
    let root = BitMapBackend::new(path, (1200, 500)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| anyhow!("{e:?}"))?;
    let (left, right) = root.split_horizontally(600);
    latency(&left, results, text).map_err(|e| anyhow!("latency panel: {e}"))?;
    throughput(&right, results, text).map_err(|e| anyhow!("throughput panel: {e}"))?;
    root.present()
        .map_err(|e| anyhow!("{e:?}"))
        .with_context(|| format!("writing {}", path.display()))?;
    Ok(text)
}

type Area<'a> = DrawingArea<BitMapBackend<'a>, Shift>;
type DrawResult = Result<(), Box<dyn std::error::Error>>;

fn x_range(results: &[SizeResult]) -> std::ops::Range<f64> {
    let min = results.iter().map(|r| r.n).min().unwrap_or(100).max(1) as f64;
    let max = results.iter().map(|r| r.n).max().unwrap_or(10_000).max(1) as f64;
    (min / 1.5)..(max * 1.5)
}

/// A logarithmic y range around the positive values, so that p50 and p99 (or throughput and the
/// cluster's ceiling) stay readable however far apart they are.
fn y_range(values: impl Iterator<Item = f64>) -> std::ops::Range<f64> {
    let positive: Vec<f64> = values.filter(|v| *v > 0.0).collect();
    let min = positive.iter().copied().fold(f64::INFINITY, f64::min);
    let max = positive.iter().copied().fold(0.0_f64, f64::max);
    if positive.is_empty() {
        return 0.1..10.0;
    }
    (min / 2.0)..(max * 2.0)
}

/// One line per series: name, colour, points.
type Series = (&'static str, RGBColor, Vec<(f64, f64)>);

fn latency(area: &Area, results: &[SizeResult], text: bool) -> DrawResult {
    let p50 = results
        .iter()
        .filter_map(|r| Some((r.n as f64, r.p50_ms()?)))
        .collect();
    let p99 = results
        .iter()
        .filter_map(|r| Some((r.n as f64, r.p99_ms()?)))
        .collect();
    let caption = "create → driver pod latency (ms)";
    panel(
        area,
        results,
        caption,
        &[("p50", P50, p50), ("p99", P99, p99)],
        text,
    )
}

fn throughput(area: &Area, results: &[SizeResult], text: bool) -> DrawResult {
    let submissions = results
        .iter()
        .map(|r| (r.n as f64, r.submissions_per_sec()))
        .collect();
    let ceiling = results
        .iter()
        .map(|r| (r.n as f64, r.ceiling_per_sec))
        .collect();
    let series = [
        ("submissions/s", SUBMISSIONS, submissions),
        ("cluster ceiling, ConfigMaps/s", CEILING, ceiling),
    ];
    panel(area, results, "throughput (per second)", &series, text)
}

/// A chart of `series` against N on a logarithmic axis, with caption, axes and legend when there
/// is a font.
fn panel(
    area: &Area,
    results: &[SizeResult],
    caption: &str,
    series: &[Series],
    text: bool,
) -> DrawResult {
    let y = y_range(series.iter().flat_map(|s| s.2.iter().map(|p| p.1)));
    let mut builder = ChartBuilder::on(area);
    builder
        .margin(20)
        .x_label_area_size(45)
        .y_label_area_size(60);
    if text {
        builder.caption(caption, ("sans-serif", 22));
    }
    let mut chart = builder.build_cartesian_2d(x_range(results).log_scale(), y.log_scale())?;
    let mut mesh = chart.configure_mesh();
    if text {
        mesh.x_desc("applications (N)")
            .x_label_formatter(&|x| format!("{x:.0}"))
            .y_label_formatter(&|y| format!("{y:.0}"))
            .label_style(("sans-serif", 14));
    } else {
        mesh.disable_x_axis().disable_y_axis();
    }
    mesh.draw()?;
    for (label, color, points) in series {
        let color = *color;
        let style = ShapeStyle::from(&color).stroke_width(2);
        let positive = points.iter().copied().filter(|p| p.1 > 0.0);
        let line = chart.draw_series(LineSeries::new(positive, style))?;
        if text {
            line.label(*label).legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(2))
            });
        }
        let points = points.iter().filter(|p| p.1 > 0.0);
        chart.draw_series(points.map(|&p| Circle::new(p, 4, color.filled())))?;
    }
    if text {
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperLeft)
            .background_style(WHITE.mix(0.8))
            .border_style(BLACK)
            .label_font(("sans-serif", 14))
            .draw()?;
    }
    Ok(())
}
