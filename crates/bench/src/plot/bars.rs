//! Horizontal bar charts: a row per server, a bar per series (1, 100, 1,000 clients), each
//! value written at the bar's end and, where a value is missing, the reason in its place.

use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::HPos;

use super::{Axis, Bar, BarChart, COLORS, FONT, Plot, anchored, frame, log_desc};

/// Where the bars go: the value axis from `lo` to `hi`, one row per bar.
#[derive(Clone, Copy)]
struct Frame {
    axis: Axis,
    lo: f64,
    hi: f64,
    rows: f64,
}

pub(super) fn bars_on<DB: DrawingBackend>(
    root: DrawingArea<DB, Shift>,
    chart: &BarChart,
    stamp: &str,
) -> anyhow::Result<()>
where
    DB::ErrorType: 'static,
{
    let body = frame(&root, &chart.title, stamp)?;
    let axis = Axis {
        log: chart.log_scale,
    };
    let values = chart.bars.iter().flat_map(|b| b.values.iter().flatten());
    let (lo, hi) = axis.range(values.copied());
    let at = Frame {
        axis,
        lo,
        hi,
        rows: chart.bars.len().max(1) as f64,
    };
    let mut plot = ChartBuilder::on(&body)
        .margin(12)
        .margin_right(30)
        .x_label_area_size(44)
        .y_label_area_size(320)
        .build_cartesian_2d(lo..hi, 0.0..at.rows)?;
    bar_mesh(&mut plot, chart, at)?;
    for (row, bar) in chart.bars.iter().enumerate() {
        bar_row(&root, &mut plot, chart, at, row, bar)?;
    }
    if chart.series.len() > 1 {
        bar_legend(&mut plot, chart)?;
    }
    root.present()?;
    Ok(())
}

/// The value axis: plain, or log with a tick per decade and no vertical lines.
fn bar_mesh<DB: DrawingBackend>(
    plot: &mut Plot<'_, DB>,
    chart: &BarChart,
    at: Frame,
) -> anyhow::Result<()>
where
    DB::ErrorType: 'static,
{
    let format_axis = chart.format_axis;
    let ticks = if chart.log_scale {
        (at.hi - at.lo) as usize + 1
    } else {
        8
    };
    let mut mesh = plot.configure_mesh();
    if chart.log_scale {
        mesh.disable_x_mesh();
    }
    mesh.disable_y_mesh()
        .y_labels(0)
        .x_labels(ticks)
        .x_label_formatter(&|v| format_axis(at.axis.value_at(*v)))
        .x_desc(log_desc(&chart.value_label, chart.log_scale))
        .label_style((FONT, 15))
        .axis_desc_style((FONT, 16))
        .draw()?;
    Ok(())
}

/// One server: its label, a bar per series with its value, and why any value is missing.
fn bar_row<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    plot: &mut Plot<'_, DB>,
    chart: &BarChart,
    at: Frame,
    row: usize,
    bar: &Bar,
) -> anyhow::Result<()>
where
    DB::ErrorType: 'static,
{
    let thickness = 0.8 / chart.series.len().max(1) as f64;
    let note_style = (FONT, 13).into_font().color(&RGBColor(110, 110, 110));
    // The first bar at the top, like a table.
    let top = at.rows - row as f64 - 0.1;
    let (x, y) = plot.backend_coord(&(at.lo, at.rows - row as f64 - 0.5));
    let label_style = (FONT, 15).into_font().color(&BLACK);
    root.draw(&Text::new(
        bar.label.clone(),
        (x - 10, y),
        anchored(label_style, HPos::Right),
    ))?;
    let mut any = false;
    for (group, value) in bar.values.iter().enumerate() {
        let y1 = top - thickness * group as f64;
        let valid = |v: &f64| v.is_finite() && (!at.axis.log || *v > 0.0);
        if let Some(value) = value.filter(valid) {
            any = true;
            bar_value(
                root,
                plot,
                chart,
                at,
                bar,
                group,
                value,
                (y1 - thickness * 0.9, y1),
            )?;
        }
    }
    let note_at = missing_note(bar, any, top, thickness, at.rows - row as f64 - 0.5);
    if let Some((note, y)) = note_at {
        let (px, py) = plot.backend_coord(&(at.lo, y));
        root.draw(&Text::new(
            note,
            (px + 6, py),
            anchored(note_style, HPos::Left),
        ))?;
    }
    Ok(())
}

/// Where a bar says why a value is missing: beside the first empty slot when some sizes were
/// measured (below `top`), or in the middle of its row (`middle`) when none was.
fn missing_note(
    bar: &Bar,
    any: bool,
    top: f64,
    thickness: f64,
    middle: f64,
) -> Option<(String, f64)> {
    let first_missing = bar.values.iter().position(Option::is_none);
    match (any, first_missing, &bar.note) {
        (true, Some(group), Some(note)) => Some((
            note.clone(),
            top - thickness * group as f64 - thickness * 0.45,
        )),
        (false, _, note) => Some((note.clone().unwrap_or_else(|| "no figure".into()), middle)),
        _ => None,
    }
}

/// One bar from the axis to `value`, between `y0` and `y1`, with its figure at its end (and
/// the bar's note after the last figure of a complete row).
#[allow(clippy::too_many_arguments)] // the pieces of one bar; a struct would only rename them
fn bar_value<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    plot: &mut Plot<'_, DB>,
    chart: &BarChart,
    at: Frame,
    bar: &Bar,
    group: usize,
    value: f64,
    (y0, y1): (f64, f64),
) -> anyhow::Result<()>
where
    DB::ErrorType: 'static,
{
    let color = COLORS[group % COLORS.len()];
    let style = if bar.faded {
        color.mix(0.35).filled()
    } else {
        color.filled()
    };
    let end = at.axis.drawn_at(value).max(at.lo);
    plot.draw_series(std::iter::once(Rectangle::new(
        [(at.lo, y0), (end, y1)],
        style,
    )))?;
    let (px, py) = plot.backend_coord(&(end, (y0 + y1) / 2.0));
    let complete = bar.values.iter().all(Option::is_some);
    let text = match (&bar.note, group + 1 == bar.values.len() && complete) {
        (Some(note), true) => format!("{} ({note})", (chart.format)(value)),
        _ => (chart.format)(value),
    };
    let style = (FONT, 13).into_font().color(&BLACK);
    root.draw(&Text::new(text, (px + 4, py), anchored(style, HPos::Left)))?;
    Ok(())
}

/// Which colour is which series (only when there are several).
fn bar_legend<'a, DB: DrawingBackend + 'a>(
    plot: &mut Plot<'a, DB>,
    chart: &BarChart,
) -> anyhow::Result<()>
where
    DB::ErrorType: 'static,
{
    for (group, name) in chart.series.iter().enumerate() {
        let color = COLORS[group % COLORS.len()];
        plot.draw_series(std::iter::empty::<Rectangle<(f64, f64)>>())?
            .label(name.clone())
            .legend(move |(x, y)| Rectangle::new([(x, y - 6), (x + 14, y + 6)], color.filled()));
    }
    // One row (one server, e.g. the comet chart): its last bar is often the longest and its
    // figure would sit under a legend in the lower corner; the first is the shortest.
    let position = if chart.bars.len() == 1 {
        SeriesLabelPosition::UpperRight
    } else {
        SeriesLabelPosition::LowerRight
    };
    plot.configure_series_labels()
        .position(position)
        .background_style(WHITE.mix(0.9))
        .border_style(BLACK.mix(0.3))
        .label_font((FONT, 15))
        .draw()?;
    Ok(())
}
