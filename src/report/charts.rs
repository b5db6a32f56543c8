//! Learning-curve charts, rendered headless with an embedded font (no system fonts needed).

use std::path::Path;
use std::sync::Once;

use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::{FontStyle, register_font};

pub use super::legend::Legend;
use super::legend::emptiest_corner;
use super::{ReportError, RunMetrics};
use crate::runtime::write_atomic;
use crate::train::EpochMetrics;

/// DejaVu Sans, shipped in `assets/fonts/` with its license.
static FONT: &[u8] = include_bytes!("../../assets/fonts/DejaVuSans.ttf");
static FONT_BOLD: &[u8] = include_bytes!("../../assets/fonts/DejaVuSans-Bold.ttf");
static REGISTER: Once = Once::new();

/// Two panels side by side (the guide's layout); a single panel gets `SINGLE_WIDTH`.
pub const WIDTH: u32 = 1400;
pub const HEIGHT: u32 = 600;
pub const SINGLE_WIDTH: u32 = 900;

/// The canvas size for `panels` panels laid out as [`grid`] says.
pub fn canvas_size(panels: usize) -> (u32, u32) {
    let (rows, columns) = grid(panels);
    if columns <= 1 {
        (SINGLE_WIDTH, HEIGHT * rows as u32)
    } else {
        (WIDTH * columns as u32 / 2, HEIGHT * rows as u32)
    }
}

/// Rows and columns for `panels` panels: side by side up to three, then rows of two (four
/// panels) or three, so no panel gets narrower than a third of the widest canvas.
fn grid(panels: usize) -> (usize, usize) {
    let columns = match panels {
        0..=3 => panels.max(1),
        4 => 2,
        _ => 3,
    };
    (panels.max(1).div_ceil(columns), columns)
}

pub const NO_BN_COLOR: RGBColor = RGBColor(214, 96, 40);
pub const BN_COLOR: RGBColor = RGBColor(31, 107, 180);
/// Further series (LayerNorm, GroupNorm, …): colour-blind-friendly, distinct from the two above.
pub const PALETTE: [RGBColor; 4] = [
    RGBColor(0, 150, 115),
    RGBColor(160, 80, 170),
    RGBColor(120, 120, 120),
    RGBColor(200, 160, 0),
];

pub(super) fn register() {
    REGISTER.call_once(|| {
        for (style, bytes) in [(FontStyle::Normal, FONT), (FontStyle::Bold, FONT_BOLD)] {
            if register_font("sans-serif", style, bytes).is_err() {
                panic!("a bundled font in assets/fonts/ does not parse");
            }
        }
    });
}

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
    fn to_axis(self, x: f64) -> f64 {
        match self {
            XScale::Linear => x,
            XScale::Log10 => x.log10(),
            XScale::Log2 => x.log2(),
        }
    }

    fn tick_label(self, axis: f64) -> String {
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

/// The guide's two panels for a with/without-BatchNorm comparison.
pub fn comparison_panels(no_bn: &RunMetrics, bn: &RunMetrics) -> Vec<Panel> {
    let series = |m: &RunMetrics, f: fn(&EpochMetrics) -> f64| {
        m.epochs
            .iter()
            .map(|e| (e.epoch as f64, f(e)))
            .collect::<Vec<_>>()
    };
    guide_panels(|train, val| {
        vec![
            Curve::line("No BN – Training", NO_BN_COLOR, series(no_bn, train)).dashed(),
            Curve::line("No BN – Validation", NO_BN_COLOR, series(no_bn, val)),
            Curve::line("With BN – Training", BN_COLOR, series(bn, train)).dashed(),
            Curve::line("With BN – Validation", BN_COLOR, series(bn, val)),
        ]
    })
}

/// A measure of one epoch, for charts.
pub type EpochMeasure = fn(&EpochMetrics) -> f64;

/// The guide's layout: accuracy, then loss; `curves` builds a panel's curves from the training
/// and the validation measure.
pub fn guide_panels(curves: impl Fn(EpochMeasure, EpochMeasure) -> Vec<Curve>) -> Vec<Panel> {
    vec![
        Panel::per_epoch(
            "Accuracy Comparison",
            "Accuracy (%)",
            curves(|e| 100.0 * e.train_acc, |e| 100.0 * e.val_acc),
            Legend::LowerRight,
        )
        .floor(0.0),
        Panel::per_epoch(
            "Loss Comparison",
            "Loss (cross-entropy)",
            curves(|e| e.train_loss, |e| e.val_loss),
            Legend::UpperRight,
        ),
    ]
}

/// Training and validation curves of a single run.
pub fn run_panels(run: &RunMetrics) -> Vec<Panel> {
    let color = if run.bn { BN_COLOR } else { NO_BN_COLOR };
    let points =
        |f: fn(&EpochMetrics) -> f64| run.epochs.iter().map(|e| (e.epoch as f64, f(e))).collect();
    vec![
        Panel::per_epoch(
            "Accuracy",
            "Accuracy (%)",
            vec![
                Curve::line("Training", color, points(|e| 100.0 * e.train_acc)).dashed(),
                Curve::line("Validation", color, points(|e| 100.0 * e.val_acc)),
            ],
            Legend::LowerRight,
        )
        .floor(0.0),
        Panel::per_epoch(
            "Loss",
            "Loss (cross-entropy)",
            vec![
                Curve::line("Training", color, points(|e| e.train_loss)).dashed(),
                Curve::line("Validation", color, points(|e| e.val_loss)),
            ],
            Legend::UpperRight,
        ),
    ]
}

/// Renders the panels side by side as PNG (`.png`) or SVG (any other extension), atomically.
pub fn render(path: &Path, title: &str, panels: &[Panel]) -> Result<(), ReportError> {
    register();
    let fail = |e: &dyn std::fmt::Display| ReportError::Chart {
        path: path.into(),
        message: e.to_string(),
    };
    let (width, height) = canvas_size(panels.len());
    if path.extension().is_some_and(|ext| ext == "png") {
        let mut rgb = vec![0u8; (width * height * 3) as usize];
        {
            let root = BitMapBackend::with_buffer(&mut rgb, (width, height)).into_drawing_area();
            draw(&root, title, panels).map_err(|e| fail(&e))?;
            root.present().map_err(|e| fail(&e))?;
        }
        let bytes = encode_png(&rgb, width, height).map_err(|e| fail(&e))?;
        Ok(write_atomic(path, &bytes)?)
    } else {
        let mut svg = String::new();
        {
            let root = SVGBackend::with_string(&mut svg, (width, height)).into_drawing_area();
            draw(&root, title, panels).map_err(|e| fail(&e))?;
            root.present().map_err(|e| fail(&e))?;
        }
        Ok(write_atomic(path, svg.as_bytes())?)
    }
}

pub(super) fn encode_png(
    rgb: &[u8],
    width: u32,
    height: u32,
) -> Result<Vec<u8>, png::EncodingError> {
    let mut bytes = Vec::new();
    let mut encoder = png::Encoder::new(&mut bytes, width, height);
    encoder.set_color(png::ColorType::Rgb);
    encoder.set_depth(png::BitDepth::Eight);
    // Charts are committed and embedded in Markdown: spend a little time on smaller files.
    encoder.set_compression(png::Compression::High);
    encoder.set_filter(png::Filter::Adaptive);
    encoder.write_header()?.write_image_data(rgb)?;
    Ok(bytes)
}

type DrawResult<DB> = Result<(), DrawingAreaErrorKind<<DB as DrawingBackend>::ErrorType>>;

fn draw<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    title: &str,
    panels: &[Panel],
) -> DrawResult<DB> {
    root.fill(&WHITE)?;
    let body = root.titled(title, ("sans-serif", 26).into_font().style(FontStyle::Bold))?;
    let areas = body.split_evenly(grid(panels.len()));
    for (area, panel) in areas.iter().zip(panels) {
        draw_panel(area, panel)?;
    }
    Ok(())
}

fn draw_panel<DB: DrawingBackend>(area: &DrawingArea<DB, Shift>, panel: &Panel) -> DrawResult<DB> {
    let scale = panel.x_scale;
    // Curves in axis coordinates; non-finite values (a diverged run) are left out.
    let curves: Vec<(&Curve, Vec<(f64, f64, f64)>)> = panel
        .curves
        .iter()
        .map(|c| {
            let points = c
                .points
                .iter()
                .enumerate()
                .map(|(i, &(x, y))| (scale.to_axis(x), y, c.spread.get(i).copied().unwrap_or(0.0)))
                .filter(|(x, y, s)| x.is_finite() && y.is_finite() && s.is_finite())
                .collect();
            (c, points)
        })
        .collect();
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
    let x_pad = if scale == XScale::Linear && x_hi - x_lo > 50.0 {
        (x_hi - x_lo) * 0.02
    } else {
        0.3
    };
    let x_range = x_lo - x_pad..x_hi + x_pad;
    let y_range = match panel.y_range {
        Some((lo, hi)) => lo..hi,
        None => (lo - pad).max(panel.y_floor.unwrap_or(f64::MIN))..hi + pad,
    };
    let legend = match panel.legend {
        Legend::Auto => emptiest_corner(
            &curves,
            (x_range.start, x_range.end),
            (y_range.start, y_range.end),
        ),
        fixed => fixed,
    };

    let mut chart = ChartBuilder::on(&area.margin(10, 10, 10, 20))
        .caption(
            &panel.title,
            ("sans-serif", 22).into_font().style(FontStyle::Bold),
        )
        .x_label_area_size(45)
        .y_label_area_size(70)
        .build_cartesian_2d(x_range, y_range)?;
    let whole_steps = (x_hi - x_lo).round() as usize;
    let mut mesh = chart.configure_mesh();
    mesh.x_desc(panel.x_label.as_str())
        .y_desc(panel.y_label.as_str())
        .light_line_style(RGBColor(235, 235, 235))
        .label_style(("sans-serif", 15))
        .axis_desc_style(("sans-serif", 17));
    let tick = |x: &f64| scale.tick_label(*x);
    if scale != XScale::Linear || whole_steps <= 12 {
        // One tick per whole step: epochs, or powers of the log base.
        mesh.x_labels(whole_steps.min(12) + 2);
    }
    mesh.x_label_formatter(&tick);
    mesh.draw()?;

    for (curve, points) in &curves {
        let color = curve.color;
        if points.iter().any(|p| p.2 > 0.0) {
            let upper = points.iter().map(|p| (p.0, p.1 + p.2));
            let lower = points.iter().rev().map(|p| (p.0, p.1 - p.2));
            chart.draw_series(std::iter::once(Polygon::new(
                upper.chain(lower).collect::<Vec<_>>(),
                color.mix(0.18).filled(),
            )))?;
        }
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
    }
    let position = match legend {
        Legend::Auto | Legend::LowerRight => SeriesLabelPosition::LowerRight,
        Legend::UpperRight => SeriesLabelPosition::UpperRight,
        Legend::LowerLeft => SeriesLabelPosition::LowerLeft,
        Legend::UpperLeft => SeriesLabelPosition::UpperLeft,
    };
    chart
        .configure_series_labels()
        .position(position)
        .background_style(WHITE.mix(0.9))
        .border_style(RGBColor(180, 180, 180))
        .label_font(("sans-serif", 15))
        .draw()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn metrics(bn: bool) -> RunMetrics {
        RunMetrics {
            model: crate::model::ModelKind::Mlp,
            bn,
            dataset: crate::data::DatasetKind::Mnist,
            backend: crate::runtime::BackendKind::Flex,
            device: "test CPU".into(),
            epochs: (1..=3)
                .map(|epoch| EpochMetrics {
                    epoch,
                    train_loss: 0.5 / epoch as f64,
                    train_acc: 0.9 + 0.02 * epoch as f64,
                    val_loss: 0.4 / epoch as f64,
                    val_acc: 0.91 + 0.02 * epoch as f64,
                    seconds: 1.0,
                })
                .collect(),
        }
    }

    #[test]
    fn renders_png_of_the_stated_size_and_svg_with_labels() {
        let dir = tempfile::TempDir::new().unwrap();
        let panels = comparison_panels(&metrics(false), &metrics(true));
        let png_path = dir.path().join("c.png");
        render(&png_path, "test", &panels).unwrap();
        let decoder = png::Decoder::new(std::io::BufReader::new(
            std::fs::File::open(&png_path).unwrap(),
        ));
        let mut reader = decoder.read_info().unwrap();
        let mut buf = vec![0; reader.output_buffer_size().unwrap()];
        let info = reader.next_frame(&mut buf).unwrap();
        assert_eq!((info.width, info.height), (WIDTH, HEIGHT));
        // Not a blank canvas: the curves' colours are there.
        assert!(
            buf.chunks(3)
                .any(|px| px == [BN_COLOR.0, BN_COLOR.1, BN_COLOR.2])
        );

        let svg_path = dir.path().join("c.svg");
        render(&svg_path, "test", &panels).unwrap();
        let svg = std::fs::read_to_string(svg_path).unwrap();
        for text in [
            "Accuracy Comparison",
            "Loss Comparison",
            "With BN – Validation",
            "No BN – Training",
        ] {
            assert!(svg.contains(text), "missing {text}");
        }
    }

    #[test]
    fn many_panels_wrap_into_rows() {
        assert_eq!(canvas_size(1), (SINGLE_WIDTH, HEIGHT));
        assert_eq!(canvas_size(3), (3 * WIDTH / 2, HEIGHT));
        assert_eq!(canvas_size(4), (WIDTH, 2 * HEIGHT));
        assert_eq!(canvas_size(5), (3 * WIDTH / 2, 2 * HEIGHT));
        assert_eq!(grid(7), (3, 3));
    }

    #[test]
    fn log_axes_label_powers_only() {
        assert_eq!(XScale::Log10.tick_label(-3.0), "0.001");
        assert_eq!(XScale::Log10.tick_label(-4.0), "0.0001");
        assert_eq!(XScale::Log10.tick_label(-5.0), "1e-5");
        assert_eq!(XScale::Log10.tick_label(1.0), "10");
        assert_eq!(XScale::Log10.tick_label(-2.5), "");
        assert_eq!(XScale::Log2.tick_label(5.0), "32");
        assert_eq!(XScale::Linear.tick_label(3.0), "3");
    }

    #[test]
    fn a_single_panel_with_bands_and_a_diverged_point_renders() {
        let dir = tempfile::TempDir::new().unwrap();
        let curve = Curve::line(
            "BN",
            BN_COLOR,
            vec![(1e-4, 90.0), (1e-3, 97.0), (1e-2, f64::NAN)],
        )
        .with_spread(vec![1.0, 0.5, 0.0]);
        let panel = Panel {
            x_scale: XScale::Log10,
            x_label: "Learning rate".into(),
            ..Panel::per_epoch("lr", "Accuracy (%)", vec![curve], Legend::Auto)
        };
        let path = dir.path().join("one.png");
        render(&path, "one panel", &[panel]).unwrap();
        let decoder =
            png::Decoder::new(std::io::BufReader::new(std::fs::File::open(&path).unwrap()));
        let info = decoder.read_info().unwrap().info().clone();
        assert_eq!((info.width, info.height), (SINGLE_WIDTH, HEIGHT));
    }
}
