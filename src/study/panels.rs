//! Chart pieces the claims share: curves over the grid, per epoch and per step, each the mean
//! over seeds with a ±1 standard deviation band, coloured by variant.

use super::lookup::{Measure, Runs};
use super::point::Point;
use super::runs::RunOutcome;
use crate::report::charts::{Curve, Legend, Panel, XScale};
use crate::report::stats::Spread;

/// One curve per variant of `measure` (×100 when `percent`) over the grid points.
pub fn sweep(
    runs: &Runs,
    title: &str,
    x_label: &str,
    x_scale: XScale,
    y_label: &str,
    measure: Measure,
    percent: bool,
) -> Panel {
    let factor = if percent { 100.0 } else { 1.0 };
    let curves = runs
        .variants()
        .into_iter()
        .map(|variant| {
            let stats: Vec<(f64, Spread)> = runs
                .points()
                .into_iter()
                .filter_map(|p| runs.spread(variant, p, measure).map(|s| (p.x(), s)))
                .collect();
            Curve::line(
                variant.title(),
                variant.color(),
                stats.iter().map(|(x, s)| (*x, factor * s.mean)).collect(),
            )
            .with_spread(stats.iter().map(|(_, s)| factor * s.sd).collect())
        })
        .collect();
    Panel {
        title: title.into(),
        x_label: x_label.into(),
        x_scale,
        y_label: y_label.into(),
        curves,
        legend: Legend::Auto,
        y_floor: percent.then_some(0.0),
        y_range: None,
    }
}

/// One curve per variant at grid point `point` of `value(run, epoch)` (1-based epochs),
/// labelled "<variant> – <kind>"; dashed curves carry no band.
pub fn per_epoch(
    runs: &Runs,
    point: Point,
    kind: &str,
    dashed: bool,
    value: impl Fn(&RunOutcome, usize) -> Option<f64>,
) -> Vec<Curve> {
    runs.variants()
        .into_iter()
        .filter_map(|variant| {
            let of = runs.of(variant, point);
            let epochs = of.iter().map(|o| o.spec.scale().epochs).max()?;
            let stats: Vec<(f64, Spread)> = (1..=epochs)
                .filter_map(|e| {
                    let values: Vec<f64> = of
                        .iter()
                        .filter_map(|o| value(o, e))
                        .filter(|v| v.is_finite())
                        .collect();
                    (!values.is_empty()).then(|| (e as f64, Spread::of(&values)))
                })
                .collect();
            let curve = Curve::line(
                format!("{} – {kind}", variant.title()),
                variant.color(),
                stats.iter().map(|(x, s)| (*x, s.mean)).collect(),
            );
            Some(if dashed {
                curve.dashed()
            } else {
                curve.with_spread(stats.iter().map(|(_, s)| s.sd).collect())
            })
        })
        .collect()
}

/// One curve per variant at grid point `point` of a quantity read during training:
/// `readings(run)` gives each reading's (step, value); the k-th readings of the variant's runs
/// that did not diverge are averaged (± sd band, unless dashed). Labels come from `label`.
pub fn per_reading(
    runs: &Runs,
    point: Point,
    label: impl Fn(super::variant::Variant) -> String,
    dashed: bool,
    readings: impl Fn(&RunOutcome) -> Vec<(f64, f64)>,
) -> Vec<Curve> {
    runs.variants()
        .into_iter()
        .map(|variant| {
            let series: Vec<Vec<(f64, f64)>> = runs
                .of(variant, point)
                .into_iter()
                .filter(|o| o.diverged.is_none())
                .map(&readings)
                .collect();
            let curve = mean_over_runs(label(variant), variant.color(), &series);
            if dashed {
                curve.with_spread(Vec::new()).dashed()
            } else {
                curve
            }
        })
        .collect()
}

/// The k-th (x, value) of every series averaged into one curve with a ±1 sd band (non-finite
/// values left out; as many points as the shortest series has), without markers.
pub fn mean_over_runs(
    label: impl Into<String>,
    color: plotters::style::RGBColor,
    series: &[Vec<(f64, f64)>],
) -> Curve {
    let count = series.iter().map(Vec::len).min().unwrap_or(0);
    let stats: Vec<(f64, Spread)> = (0..count)
        .filter_map(|k| {
            let values: Vec<f64> = series
                .iter()
                .map(|r| r[k].1)
                .filter(|v| v.is_finite())
                .collect();
            (!values.is_empty()).then(|| (series[0][k].0, Spread::of(&values)))
        })
        .collect();
    Curve::line(
        label,
        color,
        stats.iter().map(|(x, s)| (*x, s.mean)).collect(),
    )
    .with_spread(stats.iter().map(|(_, s)| s.sd).collect())
    .without_markers()
}

/// Gives every panel the y range that holds all of them, so they compare by eye.
pub fn shared_y_range(mut panels: Vec<Panel>) -> Vec<Panel> {
    let values = panels.iter().flat_map(|p| p.curves.iter()).flat_map(|c| {
        c.points.iter().enumerate().map(move |(i, p)| {
            let spread = c.spread.get(i).copied().unwrap_or(0.0);
            (p.1 - spread, p.1 + spread)
        })
    });
    let (lo, hi) = values
        .filter(|v| v.0.is_finite() && v.1.is_finite())
        .fold((f64::MAX, f64::MIN), |(lo, hi), v| {
            (lo.min(v.0), hi.max(v.1))
        });
    if lo < hi {
        let pad = (hi - lo) * 0.08;
        for panel in &mut panels {
            panel.y_range = Some((lo - pad, hi + pad));
        }
    }
    panels
}
