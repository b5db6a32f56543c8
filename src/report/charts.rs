//! Learning-curve charts, rendered headless with an embedded font (no system fonts needed).

use std::path::Path;
use std::sync::Once;

use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::{FontStyle, register_font};

use super::{ReportError, RunMetrics, write_atomic};

/// DejaVu Sans, shipped in `assets/fonts/` with its license.
static FONT: &[u8] = include_bytes!("../../assets/fonts/DejaVuSans.ttf");
static FONT_BOLD: &[u8] = include_bytes!("../../assets/fonts/DejaVuSans-Bold.ttf");
static REGISTER: Once = Once::new();

pub const WIDTH: u32 = 1400;
pub const HEIGHT: u32 = 600;

const NO_BN_COLOR: RGBColor = RGBColor(214, 96, 40);
const BN_COLOR: RGBColor = RGBColor(31, 107, 180);

fn register() {
    REGISTER.call_once(|| {
        for (style, bytes) in [(FontStyle::Normal, FONT), (FontStyle::Bold, FONT_BOLD)] {
            if register_font("sans-serif", style, bytes).is_err() {
                panic!("a bundled font in assets/fonts/ does not parse");
            }
        }
    });
}

/// One line on a panel.
#[derive(Debug, Clone)]
pub struct Curve {
    pub label: String,
    pub color: RGBColor,
    /// Training curves are dashed, validation curves solid.
    pub dashed: bool,
    pub points: Vec<(f64, f64)>,
}

/// One plot: title, y-axis label, and its curves.
#[derive(Debug, Clone)]
pub struct Panel {
    pub title: String,
    pub y_label: String,
    pub curves: Vec<Curve>,
    /// Where the legend goes: accuracy rises, loss falls.
    pub legend_low: bool,
}

/// The guide's two panels for a with/without-BatchNorm comparison.
pub fn comparison_panels(no_bn: &RunMetrics, bn: &RunMetrics) -> Vec<Panel> {
    let series = |m: &RunMetrics, f: fn(&crate::train::EpochMetrics) -> f64| {
        m.epochs.iter().map(|e| (e.epoch as f64, f(e))).collect::<Vec<_>>()
    };
    let curves = |train: fn(&crate::train::EpochMetrics) -> f64, val: fn(&crate::train::EpochMetrics) -> f64| {
        vec![
            Curve { label: "No BN – Training".into(), color: NO_BN_COLOR, dashed: true, points: series(no_bn, train) },
            Curve { label: "No BN – Validation".into(), color: NO_BN_COLOR, dashed: false, points: series(no_bn, val) },
            Curve { label: "With BN – Training".into(), color: BN_COLOR, dashed: true, points: series(bn, train) },
            Curve { label: "With BN – Validation".into(), color: BN_COLOR, dashed: false, points: series(bn, val) },
        ]
    };
    vec![
        Panel {
            title: "Accuracy Comparison".into(),
            y_label: "Accuracy (%)".into(),
            curves: curves(|e| 100.0 * e.train_acc, |e| 100.0 * e.val_acc),
            legend_low: true,
        },
        Panel {
            title: "Loss Comparison".into(),
            y_label: "Loss (cross-entropy)".into(),
            curves: curves(|e| e.train_loss, |e| e.val_loss),
            legend_low: false,
        },
    ]
}

/// Training and validation curves of a single run.
pub fn run_panels(run: &RunMetrics) -> Vec<Panel> {
    let color = if run.bn { BN_COLOR } else { NO_BN_COLOR };
    let points = |f: fn(&crate::train::EpochMetrics) -> f64| run.epochs.iter().map(|e| (e.epoch as f64, f(e))).collect();
    vec![
        Panel {
            title: "Accuracy".into(),
            y_label: "Accuracy (%)".into(),
            curves: vec![
                Curve { label: "Training".into(), color, dashed: true, points: points(|e| 100.0 * e.train_acc) },
                Curve { label: "Validation".into(), color, dashed: false, points: points(|e| 100.0 * e.val_acc) },
            ],
            legend_low: true,
        },
        Panel {
            title: "Loss".into(),
            y_label: "Loss (cross-entropy)".into(),
            curves: vec![
                Curve { label: "Training".into(), color, dashed: true, points: points(|e| e.train_loss) },
                Curve { label: "Validation".into(), color, dashed: false, points: points(|e| e.val_loss) },
            ],
            legend_low: false,
        },
    ]
}

/// Renders the panels side by side as PNG (`.png`) or SVG (any other extension), atomically.
pub fn render(path: &Path, title: &str, panels: &[Panel]) -> Result<(), ReportError> {
    register();
    let fail = |e: &dyn std::fmt::Display| ReportError::Chart { path: path.into(), message: e.to_string() };
    if path.extension().is_some_and(|ext| ext == "png") {
        let mut rgb = vec![0u8; (WIDTH * HEIGHT * 3) as usize];
        {
            let root = BitMapBackend::with_buffer(&mut rgb, (WIDTH, HEIGHT)).into_drawing_area();
            draw(&root, title, panels).map_err(|e| fail(&e))?;
            root.present().map_err(|e| fail(&e))?;
        }
        let bytes = encode_png(&rgb).map_err(|e| fail(&e))?;
        write_atomic(path, &bytes)
    } else {
        let mut svg = String::new();
        {
            let root = SVGBackend::with_string(&mut svg, (WIDTH, HEIGHT)).into_drawing_area();
            draw(&root, title, panels).map_err(|e| fail(&e))?;
            root.present().map_err(|e| fail(&e))?;
        }
        write_atomic(path, svg.as_bytes())
    }
}

fn encode_png(rgb: &[u8]) -> Result<Vec<u8>, png::EncodingError> {
    let mut bytes = Vec::new();
    let mut encoder = png::Encoder::new(&mut bytes, WIDTH, HEIGHT);
    encoder.set_color(png::ColorType::Rgb);
    encoder.set_depth(png::BitDepth::Eight);
    encoder.write_header()?.write_image_data(rgb)?;
    Ok(bytes)
}

type DrawResult<DB> = Result<(), DrawingAreaErrorKind<<DB as DrawingBackend>::ErrorType>>;

fn draw<DB: DrawingBackend>(root: &DrawingArea<DB, Shift>, title: &str, panels: &[Panel]) -> DrawResult<DB> {
    root.fill(&WHITE)?;
    let body = root.titled(title, ("sans-serif", 26).into_font().style(FontStyle::Bold))?;
    let areas = body.split_evenly((1, panels.len().max(1)));
    for (area, panel) in areas.iter().zip(panels) {
        draw_panel(area, panel)?;
    }
    Ok(())
}

fn draw_panel<DB: DrawingBackend>(area: &DrawingArea<DB, Shift>, panel: &Panel) -> DrawResult<DB> {
    let points = || panel.curves.iter().flat_map(|c| c.points.iter());
    let max_epoch = points().map(|p| p.0).fold(1.0, f64::max);
    let (lo, hi) = points().fold((f64::MAX, f64::MIN), |(lo, hi), p| (lo.min(p.1), hi.max(p.1)));
    let (lo, hi) = if lo > hi { (0.0, 1.0) } else { (lo, hi) };
    let pad = ((hi - lo) * 0.08).max(1e-3);
    let x_range = 0.7..max_epoch + 0.3;
    let y_range = (lo - pad).max(if panel.legend_low { 0.0 } else { f64::MIN })..hi + pad;

    let mut chart = ChartBuilder::on(&area.margin(10, 10, 10, 20))
        .caption(&panel.title, ("sans-serif", 22).into_font().style(FontStyle::Bold))
        .x_label_area_size(45)
        .y_label_area_size(70)
        .build_cartesian_2d(x_range, y_range)?;
    let whole_epochs = max_epoch as usize;
    chart
        .configure_mesh()
        .x_desc("Epoch")
        .y_desc(panel.y_label.as_str())
        .x_labels(whole_epochs.min(12) + 1)
        .x_label_formatter(&|x| if (x.fract()).abs() < 1e-9 { format!("{x:.0}") } else { String::new() })
        .light_line_style(RGBColor(235, 235, 235))
        .label_style(("sans-serif", 15))
        .axis_desc_style(("sans-serif", 17))
        .draw()?;

    for curve in &panel.curves {
        let style = curve.color.stroke_width(if curve.dashed { 2 } else { 3 });
        let label = curve.label.clone();
        let color = curve.color;
        let dashed = curve.dashed;
        if dashed {
            chart.draw_series(DashedLineSeries::new(curve.points.iter().copied(), 8, 5, style))?
        } else {
            chart.draw_series(LineSeries::new(curve.points.iter().copied(), style))?
        }
        .label(label)
        .legend(move |(x, y)| {
            // Dashed curves get a dashed key: two short strokes instead of one.
            let style = color.stroke_width(if dashed { 2 } else { 3 });
            let (first, second) = if dashed { ((0, 9), (15, 24)) } else { ((0, 24), (0, 24)) };
            EmptyElement::at((x, y))
                + PathElement::new(vec![(first.0, 0), (first.1, 0)], style)
                + PathElement::new(vec![(second.0, 0), (second.1, 0)], style)
        });
        let marker = curve.color.filled();
        chart.draw_series(curve.points.iter().map(|&p| {
            if dashed { Circle::new(p, 3, curve.color.stroke_width(2)) } else { Circle::new(p, 4, marker) }
        }))?;
    }
    chart
        .configure_series_labels()
        .position(if panel.legend_low { SeriesLabelPosition::LowerRight } else { SeriesLabelPosition::UpperRight })
        .background_style(WHITE.mix(0.9))
        .border_style(RGBColor(180, 180, 180))
        .label_font(("sans-serif", 15))
        .draw()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::train::EpochMetrics;

    fn metrics(bn: bool) -> RunMetrics {
        RunMetrics {
            model: "mlp".into(),
            bn,
            dataset: "mnist".into(),
            backend: "flex".into(),
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
        let decoder = png::Decoder::new(std::fs::File::open(&png_path).unwrap());
        let mut reader = decoder.read_info().unwrap();
        let mut buf = vec![0; reader.output_buffer_size()];
        let info = reader.next_frame(&mut buf).unwrap();
        assert_eq!((info.width, info.height), (WIDTH, HEIGHT));
        // Not a blank canvas: the curves' colours are there.
        assert!(buf.chunks(3).any(|px| px == [BN_COLOR.0, BN_COLOR.1, BN_COLOR.2]));

        let svg_path = dir.path().join("c.svg");
        render(&svg_path, "test", &panels).unwrap();
        let svg = std::fs::read_to_string(svg_path).unwrap();
        for text in ["Accuracy Comparison", "Loss Comparison", "With BN – Validation", "No BN – Training"] {
            assert!(svg.contains(text), "missing {text}");
        }
    }
}
