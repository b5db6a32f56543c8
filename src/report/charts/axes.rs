//! A panel's axes: the ranges its curves need, and the mesh with its ticks and labels.

use std::ops::Range;

use plotters::prelude::*;

use super::panel::{Chart, DrawResult, Panel, Plotted, XScale};

/// The ranges a panel is drawn over.
pub struct Frame {
    pub x: Range<f64>,
    pub y: Range<f64>,
    /// Whole steps between the lowest and highest x (epochs, powers of the log base).
    pub whole_steps: usize,
}

impl Frame {
    /// Every point and band of `curves` inside, with a little margin; the panel's fixed y range
    /// or floor where it has one.
    pub fn of(panel: &Panel, curves: &[Plotted]) -> Self {
        let all = || curves.iter().flat_map(|(_, p)| p.iter());
        let (x_lo, x_hi) = all().fold((f64::MAX, f64::MIN), |(lo, hi), p| {
            (lo.min(p.0), hi.max(p.0))
        });
        let (x_lo, x_hi) = if x_lo > x_hi {
            (0.0, 1.0)
        } else {
            (x_lo, x_hi)
        };
        let (lo, hi) = all().fold((f64::MAX, f64::MIN), |(lo, hi), p| {
            (lo.min(p.1 - p.2), hi.max(p.1 + p.2))
        });
        let (lo, hi) = if lo > hi { (0.0, 1.0) } else { (lo, hi) };
        let pad = ((hi - lo) * 0.08).max(1e-3);
        // Whole-number axes (epochs, powers of ten or two) get a third of a step of margin.
        let x_pad = if panel.x_scale == XScale::Linear && x_hi - x_lo > 50.0 {
            (x_hi - x_lo) * 0.02
        } else {
            0.3
        };
        let y = match panel.y_range {
            Some((lo, hi)) => lo..hi,
            None => (lo - pad).max(panel.y_floor.unwrap_or(f64::MIN))..hi + pad,
        };
        Self {
            x: x_lo - x_pad..x_hi + x_pad,
            y,
            whole_steps: (x_hi - x_lo).round() as usize,
        }
    }
}

/// The grid, ticks and axis labels.
pub fn draw_mesh<'a, DB: DrawingBackend + 'a>(
    chart: &mut Chart<'a, DB>,
    panel: &Panel,
    frame: &Frame,
) -> DrawResult<DB> {
    let scale = panel.x_scale;
    let mut mesh = chart.configure_mesh();
    mesh.x_desc(panel.x_label.as_str())
        .y_desc(panel.y_label.as_str())
        .light_line_style(RGBColor(235, 235, 235))
        .label_style(("sans-serif", 15))
        .axis_desc_style(("sans-serif", 17));
    let tick = |x: &f64| scale.tick_label(*x);
    if scale != XScale::Linear || frame.whole_steps <= 12 {
        // One tick per whole step: epochs, or powers of the log base.
        mesh.x_labels(frame.whole_steps.min(12) + 2);
    }
    mesh.x_label_formatter(&tick);
    mesh.draw()
}
