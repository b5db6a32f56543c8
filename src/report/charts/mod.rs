//! Learning-curve charts, rendered headless with an embedded font (no system fonts needed).
//! A chart is panels (`panel`); each is drawn part by part: axes, spread bands, series, legend.

mod axes;
mod bands;
mod legend;
pub mod panel;
mod series;

use std::path::Path;
use std::sync::Once;

use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::{FontStyle, register_font};

pub use panel::{BN_COLOR, Curve, Legend, NO_BN_COLOR, PALETTE, Panel, XScale};

use super::error::ReportError;
use super::files::RunMetrics;
use crate::runtime::write_atomic;
use crate::train::EpochMetrics;
use axes::Frame;
use panel::DrawResult;

/// DejaVu Sans, shipped in `assets/fonts/` with its license.
static FONT: &[u8] = include_bytes!("../../../assets/fonts/DejaVuSans.ttf");
static FONT_BOLD: &[u8] = include_bytes!("../../../assets/fonts/DejaVuSans-Bold.ttf");
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

pub(super) fn register() {
    REGISTER.call_once(|| {
        for (style, bytes) in [(FontStyle::Normal, FONT), (FontStyle::Bold, FONT_BOLD)] {
            if register_font("sans-serif", style, bytes).is_err() {
                panic!("a bundled font in assets/fonts/ does not parse");
            }
        }
    });
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

/// One panel: its axes, then each curve's band and line, then the legend.
fn draw_panel<DB: DrawingBackend>(area: &DrawingArea<DB, Shift>, panel: &Panel) -> DrawResult<DB> {
    let curves = panel::plotted(panel);
    let frame = Frame::of(panel, &curves);
    let legend = legend::place(
        panel.legend,
        &curves,
        (frame.x.start, frame.x.end),
        (frame.y.start, frame.y.end),
    );
    let mut chart = ChartBuilder::on(&area.margin(10, 10, 10, 20))
        .caption(
            &panel.title,
            ("sans-serif", 22).into_font().style(FontStyle::Bold),
        )
        .x_label_area_size(45)
        .y_label_area_size(70)
        .build_cartesian_2d(frame.x.clone(), frame.y.clone())?;
    axes::draw_mesh(&mut chart, panel, &frame)?;
    for (curve, points) in &curves {
        bands::draw(&mut chart, curve, points)?;
        series::draw(&mut chart, curve, points)?;
    }
    legend::draw(&mut chart, legend)
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
