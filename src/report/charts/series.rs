//! A curve's line (solid, or dashed for training curves), its legend key and its markers.

use plotters::prelude::*;

use super::panel::{Chart, Curve, DrawResult};

/// The line of `curve` through `points` (x, y, half-width), labelled for the legend.
pub fn draw<'a, DB: DrawingBackend + 'a>(
    chart: &mut Chart<'a, DB>,
    curve: &Curve,
    points: &[(f64, f64, f64)],
) -> DrawResult<DB> {
    let color = curve.color;
    let line = points.iter().map(|p| (p.0, p.1));
    let style = color.stroke_width(if curve.dashed { 2 } else { 3 });
    let dashed = curve.dashed;
    if dashed {
        chart.draw_series(DashedLineSeries::new(line, 8, 5, style))?
    } else {
        chart.draw_series(LineSeries::new(line, style))?
    }
    .label(curve.label.clone())
    .legend(move |(x, y)| {
        // Dashed curves get a dashed key: two short strokes instead of one.
        let style = color.stroke_width(if dashed { 2 } else { 3 });
        let (first, second) = if dashed {
            ((0, 9), (15, 24))
        } else {
            ((0, 24), (0, 24))
        };
        EmptyElement::at((x, y))
            + PathElement::new(vec![(first.0, 0), (first.1, 0)], style)
            + PathElement::new(vec![(second.0, 0), (second.1, 0)], style)
    });
    if curve.markers {
        chart.draw_series(points.iter().map(|p| {
            if dashed {
                Circle::new((p.0, p.1), 3, color.stroke_width(2))
            } else {
                Circle::new((p.0, p.1), 4, color.filled())
            }
        }))?;
    }
    Ok(())
}
