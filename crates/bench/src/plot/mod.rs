//! Charts for the slides (PNG) and the README (SVG), drawn with plotters.
//!
//! Text is drawn with DejaVu Sans, bundled in `fonts/` and registered with plotters' `ab_glyph`
//! feature, so a fresh CI machine without any system font or fontconfig draws the same chart.
//! Every chart carries the machine, date and command in its foot line.
//!
//! Values that span decades (1 s against 100 s, 250 B against 1 MiB) are drawn on a log axis:
//! the bench plots log10 of the value on a plain axis and labels the ticks with the value.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use anyhow::Context;
use plotters::coord::Shift;
use plotters::coord::types::RangedCoordf64;
use plotters::prelude::*;
use plotters::style::FontStyle;
use plotters::style::text_anchor::{HPos, Pos, VPos};

mod bars;

/// One category (a server) with one value per series; `None` draws the note instead.
#[derive(Debug, Clone)]
pub struct Bar {
    pub label: String,
    pub values: Vec<Option<f64>>,
    /// Drawn where a value is missing ("skipped: one caller at a time"), or after the value.
    pub note: Option<String>,
    /// Draw this bar lighter, e.g. an extrapolated figure.
    pub faded: bool,
}

/// Horizontal bars, grouped by series (for example 1, 100 and 1,000 clients).
#[derive(Debug, Clone)]
pub struct BarChart {
    pub title: String,
    /// What the value axis measures, e.g. "messages per second".
    pub value_label: String,
    pub series: Vec<String>,
    pub bars: Vec<Bar>,
    pub log_scale: bool,
    /// How to print a value beside a bar.
    pub format: fn(f64) -> String,
    /// How to print a tick on the value axis (on a log axis: powers of ten).
    pub format_axis: fn(f64) -> String,
}

/// Lines over a shared x axis, e.g. wait cost against watched descriptors.
#[derive(Debug, Clone)]
pub struct LineChart {
    pub title: String,
    pub x_label: String,
    pub y_label: String,
    pub series: Vec<(String, Vec<(f64, f64)>)>,
    pub log_x: bool,
    pub log_y: bool,
    pub format_x: fn(f64) -> String,
    pub format_y: fn(f64) -> String,
}

pub(crate) const FONT: &str = "sans-serif";
pub(crate) const COLORS: [RGBColor; 6] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
];

/// Register the bundled font with plotters (once per process).
fn fonts() -> anyhow::Result<()> {
    static REGISTERED: OnceLock<Result<(), String>> = OnceLock::new();
    REGISTERED
        .get_or_init(|| {
            let bytes: &'static [u8] = include_bytes!("../../fonts/DejaVuSans.ttf");
            plotters::style::register_font(FONT, FontStyle::Normal, bytes).map_err(|_| {
                "the bundled font fonts/DejaVuSans.ttf is not a valid font".to_string()
            })
        })
        .clone()
        .map_err(anyhow::Error::msg)
}

/// Draw `chart` as `<dir>/<stem>.png` and `<dir>/<stem>.svg`; returns both paths.
pub fn render_bars(
    chart: &BarChart,
    dir: &Path,
    stem: &str,
    stamp: &str,
) -> anyhow::Result<Vec<PathBuf>> {
    fonts()?;
    let rows: u32 = chart.bars.len().max(1) as u32;
    let per_row = 12 + 16 * chart.series.len().max(1) as u32;
    let size = (1280, (150 + rows * per_row).max(360));
    render(dir, stem, size, |root| draw_bars(root, chart, stamp))
}

/// Draw `chart` as `<dir>/<stem>.png` and `<dir>/<stem>.svg`; returns both paths.
pub fn render_lines(
    chart: &LineChart,
    dir: &Path,
    stem: &str,
    stamp: &str,
) -> anyhow::Result<Vec<PathBuf>> {
    fonts()?;
    render(dir, stem, (1280, 720), |root| {
        draw_lines(root, chart, stamp)
    })
}

fn render(
    dir: &Path,
    stem: &str,
    size: (u32, u32),
    draw: impl Fn(Area<'_>) -> anyhow::Result<()>,
) -> anyhow::Result<Vec<PathBuf>> {
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let png = dir.join(format!("{stem}.png"));
    let svg = dir.join(format!("{stem}.svg"));
    {
        let root = BitMapBackend::new(&png, size).into_drawing_area();
        draw(Area::Png(root.clone()))?;
        root.present()
            .with_context(|| format!("cannot write {}", png.display()))?;
    }
    {
        let root = SVGBackend::new(&svg, size).into_drawing_area();
        draw(Area::Svg(root.clone()))?;
        root.present()
            .with_context(|| format!("cannot write {}", svg.display()))?;
    }
    Ok(vec![png, svg])
}

/// The two kinds of canvas; each chart is drawn once on each.
enum Area<'a> {
    Png(DrawingArea<BitMapBackend<'a>, Shift>),
    Svg(DrawingArea<SVGBackend<'a>, Shift>),
}

fn draw_bars(area: Area<'_>, chart: &BarChart, stamp: &str) -> anyhow::Result<()> {
    match area {
        Area::Png(root) => bars::bars_on(root, chart, stamp),
        Area::Svg(root) => bars::bars_on(root, chart, stamp),
    }
}

fn draw_lines(area: Area<'_>, chart: &LineChart, stamp: &str) -> anyhow::Result<()> {
    match area {
        Area::Png(root) => lines_on(root, chart, stamp),
        Area::Svg(root) => lines_on(root, chart, stamp),
    }
}

/// Maps values to the drawn axis: log10 on a log chart, unchanged otherwise.
#[derive(Clone, Copy)]
pub(crate) struct Axis {
    pub(crate) log: bool,
}

impl Axis {
    pub(crate) fn drawn_at(self, value: f64) -> f64 {
        if self.log {
            value.max(1e-12).log10()
        } else {
            value
        }
    }
    pub(crate) fn value_at(self, drawn: f64) -> f64 {
        if self.log { 10f64.powf(drawn) } else { drawn }
    }
    /// The drawn range that holds `values`, with room for the labels beside the bars.
    pub(crate) fn range(self, values: impl Iterator<Item = f64>) -> (f64, f64) {
        let values: Vec<f64> = values
            .filter(|v| v.is_finite() && (!self.log || *v > 0.0))
            .collect();
        if self.log {
            let lo = values.iter().copied().fold(f64::INFINITY, f64::min);
            let hi = values.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            if !lo.is_finite() {
                return (0.0, 1.0);
            }
            // Leave room below the smallest value so its bar is visible.
            let lo = (lo.log10() - 0.3).floor();
            let hi = (hi.log10() + 0.35).ceil().max(lo + 1.0);
            (lo, hi)
        } else {
            let hi = values.iter().copied().fold(0.0, f64::max);
            (0.0, if hi > 0.0 { hi * 1.2 } else { 1.0 })
        }
    }
}

/// The foot line (machine, date, command) and the title; returns the area left for the plot.
pub(crate) fn frame<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    title: &str,
    stamp: &str,
) -> anyhow::Result<DrawingArea<DB, Shift>>
where
    DB::ErrorType: 'static,
{
    root.fill(&WHITE)?;
    let (_, height) = root.dim_in_pixel();
    let (body, foot) = root.split_vertically(height.saturating_sub(28));
    foot.draw_text(
        stamp,
        &(FONT, 14).into_font().color(&RGBColor(90, 90, 90)),
        (12, 6),
    )?;
    Ok(body.titled(title, (FONT, 26))?)
}

/// The chart area plotters draws into, with both axes in drawn units (log10 on a log axis).
pub(crate) type Plot<'a, DB> = ChartContext<'a, DB, Cartesian2d<RangedCoordf64, RangedCoordf64>>;

fn lines_on<DB: DrawingBackend>(
    root: DrawingArea<DB, Shift>,
    chart: &LineChart,
    stamp: &str,
) -> anyhow::Result<()>
where
    DB::ErrorType: 'static,
{
    let body = frame(&root, &chart.title, stamp)?;
    let (x_axis, y_axis) = (Axis { log: chart.log_x }, Axis { log: chart.log_y });
    let points = || chart.series.iter().flat_map(|(_, p)| p.iter().copied());
    let (x_lo, x_hi) = x_axis.range(points().map(|p| p.0));
    let (y_lo, y_hi) = y_axis.range(points().map(|p| p.1));
    let mut plot = ChartBuilder::on(&body)
        .margin(16)
        .margin_right(40)
        .x_label_area_size(50)
        .y_label_area_size(90)
        .build_cartesian_2d(x_lo..x_hi, y_lo..y_hi)?;
    line_mesh(&mut plot, chart, (x_axis, x_lo, x_hi), (y_axis, y_lo, y_hi))?;
    for (index, (name, points)) in chart.series.iter().enumerate() {
        let color = COLORS[index % COLORS.len()];
        let drawn: Vec<(f64, f64)> = points
            .iter()
            .filter(|(x, y)| (!chart.log_x || *x > 0.0) && (!chart.log_y || *y > 0.0))
            .map(|(x, y)| (x_axis.drawn_at(*x), y_axis.drawn_at(*y)))
            .collect();
        plot.draw_series(LineSeries::new(drawn.clone(), color.stroke_width(3)))?
            .label(name.clone())
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(3))
            });
        plot.draw_series(drawn.iter().map(|p| Circle::new(*p, 4, color.filled())))?;
    }
    plot.configure_series_labels()
        .position(SeriesLabelPosition::UpperLeft)
        .background_style(WHITE.mix(0.9))
        .border_style(BLACK.mix(0.3))
        .label_font((FONT, 16))
        .draw()?;
    root.present()?;
    Ok(())
}

/// Both axes, each plain or log with a tick per decade.
fn line_mesh<DB: DrawingBackend>(
    plot: &mut Plot<'_, DB>,
    chart: &LineChart,
    (x_axis, x_lo, x_hi): (Axis, f64, f64),
    (y_axis, y_lo, y_hi): (Axis, f64, f64),
) -> anyhow::Result<()>
where
    DB::ErrorType: 'static,
{
    let (format_x, format_y) = (chart.format_x, chart.format_y);
    let light = if chart.log_x || chart.log_y {
        WHITE.mix(0.0)
    } else {
        BLACK.mix(0.05)
    };
    plot.configure_mesh()
        .light_line_style(light)
        .x_labels(if chart.log_x {
            (x_hi - x_lo) as usize + 1
        } else {
            8
        })
        .y_labels(if chart.log_y {
            (y_hi - y_lo) as usize + 1
        } else {
            8
        })
        .x_label_formatter(&|v| format_x(x_axis.value_at(*v)))
        .y_label_formatter(&|v| format_y(y_axis.value_at(*v)))
        .x_desc(log_desc(&chart.x_label, chart.log_x))
        .y_desc(log_desc(&chart.y_label, chart.log_y))
        .label_style((FONT, 15))
        .axis_desc_style((FONT, 16))
        .draw()?;
    Ok(())
}

/// Text centred vertically on its point, and left or right of it.
pub(crate) fn anchored<'a>(style: TextStyle<'a>, side: HPos) -> TextStyle<'a> {
    style.pos(Pos::new(side, VPos::Center))
}

pub(crate) fn log_desc(label: &str, log: bool) -> String {
    if log {
        format!("{label} (log scale)")
    } else {
        label.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_axis_round_trips() {
        let axis = Axis { log: true };
        assert!((axis.value_at(axis.drawn_at(250.0)) - 250.0).abs() < 1e-9);
        assert_eq!(axis.range([250.0, 9_800.0].into_iter()), (2.0, 5.0));
        assert_eq!(axis.range([1.02, 100.0].into_iter()).0, -1.0);
    }
}
