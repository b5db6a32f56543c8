//! The shaded ± spread band around a curve (e.g. one standard deviation over seeds).

use plotters::prelude::*;

use super::panel::{Chart, Curve, DrawResult};

/// The band of `curve` through `points` (x, y, half-width), if any point has a spread.
pub fn draw<'a, DB: DrawingBackend + 'a>(
    chart: &mut Chart<'a, DB>,
    curve: &Curve,
    points: &[(f64, f64, f64)],
) -> DrawResult<DB> {
    if points.iter().any(|p| p.2 > 0.0) {
        let upper = points.iter().map(|p| (p.0, p.1 + p.2));
        let lower = points.iter().rev().map(|p| (p.0, p.1 - p.2));
        chart.draw_series(std::iter::once(Polygon::new(
            upper.chain(lower).collect::<Vec<_>>(),
            curve.color.mix(0.18).filled(),
        )))?;
    }
    Ok(())
}
