//! Forest plots: one row per paired comparison, its mean difference and 95 % confidence
//! interval against a zero line, so a reader sees at a glance which intervals exclude 0 and on
//! which side the claim expected them.

use std::path::Path;

use plotters::prelude::*;
use plotters::style::FontStyle;

use super::charts::panel::{Chart, DrawResult};
use super::charts::{BN_COLOR, NO_BN_COLOR, encode_png, register};
use super::error::ReportError;
use crate::runtime::write_atomic;

/// One comparison, already in display units (e.g. percentage points).
#[derive(Debug, Clone)]
pub struct ForestRow {
    pub label: String,
    pub mean: f64,
    pub interval: Option<(f64, f64)>,
    /// The claim predicts a difference above 0 (or below it).
    pub claims_higher: bool,
    /// The claim is instead "below this margin" (non-inferiority): the region under it is
    /// shaded.
    pub margin: Option<f64>,
    pub outcome: RowOutcome,
    /// Primary rows are drawn solid, secondary ones hollow and grey-labelled.
    pub primary: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RowOutcome {
    ForClaim,
    AgainstClaim,
    Neither,
}

const ROW_HEIGHT: u32 = 42;
const WIDTH: u32 = 1250;

/// Writes the forest plot of `rows` to `path` (PNG or SVG by extension).
pub fn render(
    path: &Path,
    title: &str,
    x_label: &str,
    rows: &[ForestRow],
) -> Result<(), ReportError> {
    register();
    let fail = |e: &dyn std::fmt::Display| ReportError::Chart {
        path: path.into(),
        message: e.to_string(),
    };
    let height = 150 + ROW_HEIGHT * rows.len().max(1) as u32;
    if path.extension().is_some_and(|ext| ext == "png") {
        let mut rgb = vec![0u8; (WIDTH * height * 3) as usize];
        {
            let root = BitMapBackend::with_buffer(&mut rgb, (WIDTH, height)).into_drawing_area();
            draw(&root, title, x_label, rows).map_err(|e| fail(&e))?;
            root.present().map_err(|e| fail(&e))?;
        }
        let bytes = encode_png(&rgb, WIDTH, height).map_err(|e| fail(&e))?;
        Ok(write_atomic(path, &bytes)?)
    } else {
        let mut svg = String::new();
        {
            let root = SVGBackend::with_string(&mut svg, (WIDTH, height)).into_drawing_area();
            draw(&root, title, x_label, rows).map_err(|e| fail(&e))?;
            root.present().map_err(|e| fail(&e))?;
        }
        Ok(write_atomic(path, svg.as_bytes())?)
    }
}

/// The x range that holds every interval, every margin and 0, padded.
fn x_range(rows: &[ForestRow]) -> (f64, f64) {
    let mut lo = 0.0f64;
    let mut hi = 0.0f64;
    for row in rows {
        let (a, b) = row.interval.unwrap_or((row.mean, row.mean));
        for v in [a, b, row.mean, row.margin.unwrap_or(0.0)] {
            if v.is_finite() {
                lo = lo.min(v);
                hi = hi.max(v);
            }
        }
    }
    let pad = ((hi - lo) * 0.08).max(1e-9);
    (lo - pad, hi + pad)
}

fn color(outcome: RowOutcome) -> RGBColor {
    match outcome {
        RowOutcome::ForClaim => BN_COLOR,
        RowOutcome::AgainstClaim => NO_BN_COLOR,
        RowOutcome::Neither => RGBColor(110, 110, 110),
    }
}

fn draw<DB: DrawingBackend>(
    root: &DrawingArea<DB, plotters::coord::Shift>,
    title: &str,
    x_label: &str,
    rows: &[ForestRow],
) -> DrawResult<DB> {
    root.fill(&WHITE)?;
    let body = root.titled(title, ("sans-serif", 22).into_font().style(FontStyle::Bold))?;
    let (lo, hi) = x_range(rows);
    let n = rows.len().max(1) as f64;
    let labels: Vec<String> = rows.iter().map(row_label).collect();
    let mut chart = ChartBuilder::on(&body)
        .margin(14)
        .x_label_area_size(50)
        .y_label_area_size(540)
        .build_cartesian_2d(lo..hi, -0.5..n - 0.5)?;
    let row_of = |y: f64| rows.len().checked_sub(1 + y.round() as usize);
    chart
        .configure_mesh()
        .disable_y_mesh()
        .light_line_style(WHITE)
        .y_labels(rows.len().max(1))
        .y_label_formatter(&|y| {
            row_of(*y)
                .and_then(|i| labels.get(i).cloned())
                .filter(|_| (y - y.round()).abs() < 1e-6)
                .unwrap_or_default()
        })
        .x_desc(x_label)
        .label_style(("sans-serif", 15))
        .axis_desc_style(("sans-serif", 16))
        .draw()?;
    // Where a margin claim holds, shaded, then the zero line.
    for (i, row) in rows.iter().enumerate() {
        if let Some(margin) = row.margin {
            let y = (rows.len() - 1 - i) as f64;
            chart.draw_series(std::iter::once(Rectangle::new(
                [(lo, y - 0.35), (margin, y + 0.35)],
                RGBColor(225, 235, 225).filled(),
            )))?;
        }
    }
    chart.draw_series(LineSeries::new(
        [(0.0, -0.5), (0.0, n - 0.5)],
        BLACK.stroke_width(1),
    ))?;
    for (i, row) in rows.iter().enumerate() {
        draw_row(&mut chart, row, (rows.len() - 1 - i) as f64)?;
    }
    Ok(())
}

/// A row's label: the endpoint, what the claim expects of it, and whether it is secondary.
fn row_label(row: &ForestRow) -> String {
    let claim = match (row.claims_higher, row.margin) {
        (_, Some(margin)) => format!("claim < {margin:.2}"),
        (true, None) => "claim > 0".into(),
        (false, None) => "claim < 0".into(),
    };
    let role = if row.primary { "" } else { " [secondary]" };
    format!("{} ({claim}){role}", row.label)
}

/// One row at height `y`: its interval with end ticks, and its mean (filled for a primary).
fn draw_row<'a, DB: DrawingBackend + 'a>(
    chart: &mut Chart<'a, DB>,
    row: &ForestRow,
    y: f64,
) -> DrawResult<DB> {
    let c = color(row.outcome);
    if let Some((a, b)) = row.interval {
        chart.draw_series(std::iter::once(PathElement::new(
            [(a, y), (b, y)],
            c.stroke_width(3),
        )))?;
        for end in [a, b] {
            chart.draw_series(std::iter::once(PathElement::new(
                [(end, y - 0.15), (end, y + 0.15)],
                c.stroke_width(2),
            )))?;
        }
    }
    if row.mean.is_finite() {
        let style = if row.primary {
            c.filled()
        } else {
            WHITE.filled()
        };
        chart.draw_series(std::iter::once(Circle::new((row.mean, y), 6, style)))?;
        chart.draw_series(std::iter::once(Circle::new(
            (row.mean, y),
            6,
            c.stroke_width(2),
        )))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_range_holds_zero_intervals_and_margins() {
        let row = |mean, interval, margin| ForestRow {
            label: "x".into(),
            mean,
            interval,
            claims_higher: true,
            margin,
            outcome: RowOutcome::Neither,
            primary: true,
        };
        let (lo, hi) = x_range(&[row(2.0, Some((1.0, 3.0)), None), row(-0.1, None, Some(4.5))]);
        assert!(lo < -0.1 && hi > 4.5, "{lo} {hi}");
        let (lo, hi) = x_range(&[row(f64::NAN, None, None)]);
        assert!(lo < 0.0 && hi > 0.0);
    }
}
