//! What a chart is made of: panels of curves, their colours, the x axis' scale and where the
//! legend sits; and what drawing one panel works on.

use plotters::coord::types::RangedCoordf64;
use plotters::prelude::*;

pub const NO_BN_COLOR: RGBColor = RGBColor(214, 96, 40);
pub const BN_COLOR: RGBColor = RGBColor(31, 107, 180);
/// Further series (LayerNorm, GroupNorm, …): colour-blind-friendly, distinct from the two above.
pub const PALETTE: [RGBColor; 4] = [
    RGBColor(0, 150, 115),
    RGBColor(160, 80, 170),
    RGBColor(120, 120, 120),
    RGBColor(200, 160, 0),
];

/// One line on a panel, optionally with a shaded ±spread band around it.
#[derive(Debug, Clone)]
pub struct Curve {
    pub label: String,
    pub color: RGBColor,
    /// Training curves are dashed, validation curves solid.
    pub dashed: bool,
    pub points: Vec<(f64, f64)>,
    /// Half-width of the band at each point (e.g. one standard deviation); empty for none.
    pub spread: Vec<f64>,
    /// Circles at the points (off for dense per-step curves).
    pub markers: bool,
}

impl Curve {
    pub fn line(label: impl Into<String>, color: RGBColor, points: Vec<(f64, f64)>) -> Self {
        Self {
            label: label.into(),
            color,
            dashed: false,
            points,
            spread: Vec::new(),
            markers: true,
        }
    }

    pub fn dashed(self) -> Self {
        Self {
            dashed: true,
            ..self
        }
    }

    pub fn with_spread(self, spread: Vec<f64>) -> Self {
        Self { spread, ..self }
    }

    pub fn without_markers(self) -> Self {
        Self {
            markers: false,
            ..self
        }
    }
}

/// How the x axis maps values: linear, or logarithmic with ticks at powers of the base.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum XScale {
    Linear,
    Log10,
    Log2,
}

impl XScale {
    pub fn to_axis(self, x: f64) -> f64 {
        match self {
            XScale::Linear => x,
            XScale::Log10 => x.log10(),
            XScale::Log2 => x.log2(),
        }
    }

    pub fn tick_label(self, axis: f64) -> String {
        if (axis - axis.round()).abs() > 1e-9 {
            return String::new();
        }
        match self {
            XScale::Linear => format!("{axis:.0}"),
            XScale::Log10 => match axis.round() as i32 {
                // Written out exactly: 10^-3 in floating point prints as 0.0010000000000000002.
                exp @ 0..=3 => format!("1{}", "0".repeat(exp as usize)),
                exp @ -4..=-1 => format!("0.{}1", "0".repeat((-exp - 1) as usize)),
                exp => format!("1e{exp}"),
            },
            XScale::Log2 => format!("{:.0}", 2f64.powf(axis.round())),
        }
    }
}

/// One plot: title, axis labels, and its curves.
#[derive(Debug, Clone)]
pub struct Panel {
    pub title: String,
    pub x_label: String,
    pub x_scale: XScale,
    pub y_label: String,
    pub curves: Vec<Curve>,
    pub legend: Legend,
    /// The y axis never goes below this (0 for accuracies).
    pub y_floor: Option<f64>,
    /// A fixed y range, e.g. shared by panels that should be compared by eye.
    pub y_range: Option<(f64, f64)>,
}

impl Panel {
    /// An epoch-by-epoch panel.
    pub fn per_epoch(
        title: impl Into<String>,
        y_label: impl Into<String>,
        curves: Vec<Curve>,
        legend: Legend,
    ) -> Self {
        Self {
            title: title.into(),
            x_label: "Epoch".into(),
            x_scale: XScale::Linear,
            y_label: y_label.into(),
            curves,
            legend,
            y_floor: None,
            y_range: None,
        }
    }

    pub fn floor(self, y: f64) -> Self {
        Self {
            y_floor: Some(y),
            ..self
        }
    }
}

/// Where the legend box sits.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Legend {
    /// The corner with the fewest data points under it.
    Auto,
    LowerRight,
    UpperRight,
    LowerLeft,
    UpperLeft,
}

/// A curve's points in axis coordinates (x through its scale) with the band's half-width;
/// non-finite values (a diverged run) are left out.
pub type Plotted<'c> = (&'c Curve, Vec<(f64, f64, f64)>);

/// Every curve of `panel`, plotted.
pub fn plotted(panel: &Panel) -> Vec<Plotted<'_>> {
    panel
        .curves
        .iter()
        .map(|c| {
            let points = c
                .points
                .iter()
                .enumerate()
                .map(|(i, &(x, y))| {
                    let spread = c.spread.get(i).copied().unwrap_or(0.0);
                    (panel.x_scale.to_axis(x), y, spread)
                })
                .filter(|(x, y, s)| x.is_finite() && y.is_finite() && s.is_finite())
                .collect();
            (c, points)
        })
        .collect()
}

/// The plotting area of one panel.
pub type Chart<'a, DB> = ChartContext<'a, DB, Cartesian2d<RangedCoordf64, RangedCoordf64>>;

pub type DrawResult<DB> = Result<(), DrawingAreaErrorKind<<DB as DrawingBackend>::ErrorType>>;
