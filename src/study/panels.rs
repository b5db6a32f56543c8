//! Each study's chart: means over seeds with a ±1 standard deviation band.

use super::analysis::{points, runs_of, series_names, stat_of};
use super::plan::{BN_BEFORE, NO_BN, WITH_BN};
use super::verdict::Stat;
use super::{RunOutcome, StudyKind};
use crate::report::charts::{BN_COLOR, Curve, Legend, NO_BN_COLOR, PALETTE, Panel, XScale};

/// The study's chart: means over seeds with a ±1 standard deviation band.
pub fn panels(study: StudyKind, outcomes: &[RunOutcome]) -> Vec<Panel> {
    let series = series_names(outcomes);
    let acc = |o: &RunOutcome| 100.0 * o.final_val_acc();
    // One curve per series over the grid points, of `f` per run.
    let over_grid = |f: &dyn Fn(&RunOutcome) -> f64| -> Vec<Curve> {
        series
            .iter()
            .enumerate()
            .map(|(i, name)| {
                let stats: Vec<(f64, Stat)> = points(outcomes)
                    .into_iter()
                    .map(|(p, x)| (x, stat_of(outcomes, name, &p, f)))
                    .collect();
                Curve::line(
                    name.clone(),
                    color_of(name, i),
                    stats.iter().map(|(x, s)| (*x, s.mean)).collect(),
                )
                .with_spread(stats.iter().map(|(_, s)| s.std).collect())
            })
            .collect()
    };
    // Per-epoch curves of one grid point.
    let per_epoch =
        |point: &str, f: &dyn Fn(&crate::train::EpochMetrics) -> f64, dashed: bool| -> Vec<Curve> {
            series
                .iter()
                .enumerate()
                .filter_map(|(i, name)| {
                    let runs: Vec<&RunOutcome> = runs_of(outcomes, name, point).collect();
                    let epochs = runs.iter().map(|o| o.spec.scale().epochs).max()?;
                    let stats: Vec<Stat> = (1..=epochs)
                        .map(|e| Stat::of(runs.iter().filter_map(|o| o.epochs.get(e - 1)).map(f)))
                        .collect();
                    let points = stats
                        .iter()
                        .enumerate()
                        .map(|(e, s)| ((e + 1) as f64, s.mean))
                        .collect();
                    let label = if dashed {
                        format!("{name} – Training")
                    } else {
                        format!("{name} – Validation")
                    };
                    let curve = Curve::line(label, color_of(name, i), points);
                    Some(if dashed {
                        curve.dashed()
                    } else {
                        curve.with_spread(stats.iter().map(|s| s.std).collect())
                    })
                })
                .collect()
        };
    let sweep = |title: &str, x_label: &str, x_scale: XScale| Panel {
        title: title.into(),
        x_label: x_label.into(),
        x_scale,
        y_label: "Final validation accuracy (%)".into(),
        curves: over_grid(&acc),
        legend: Legend::Auto,
        y_floor: Some(0.0),
        y_range: None,
    };
    match study {
        StudyKind::Convergence | StudyKind::Position => points(outcomes)
            .into_iter()
            .map(|(point, _)| {
                let mut curves = per_epoch(&point, &|e| 100.0 * e.val_acc, false);
                if study == StudyKind::Convergence {
                    curves.extend(per_epoch(&point, &|e| 100.0 * e.train_acc, true));
                }
                Panel::per_epoch(
                    format!("{point}: validation accuracy"),
                    "Accuracy (%)",
                    curves,
                    Legend::Auto,
                )
            })
            .collect(),
        StudyKind::Lr => vec![sweep(
            "Final validation accuracy vs learning rate",
            "Learning rate (Adam)",
            XScale::Log10,
        )],
        StudyKind::Init => vec![sweep(
            "Final validation accuracy vs init scale",
            "Init scale (× Glorot-uniform bound)",
            XScale::Log10,
        )],
        StudyKind::Batch => vec![sweep(
            "Final validation accuracy vs batch size",
            "Batch size",
            XScale::Log2,
        )],
        StudyKind::Depth => vec![sweep(
            "Final validation accuracy vs depth",
            "Hidden layers (64 units each)",
            XScale::Log2,
        )],
        StudyKind::Regularization => {
            let point = points(outcomes)
                .first()
                .map(|p| p.0.clone())
                .unwrap_or_default();
            let mut accuracy = per_epoch(&point, &|e| 100.0 * e.val_acc, false);
            accuracy.extend(per_epoch(&point, &|e| 100.0 * e.train_acc, true));
            vec![
                Panel::per_epoch("Accuracy", "Accuracy (%)", accuracy, Legend::Auto),
                Panel::per_epoch(
                    "Training − validation accuracy",
                    "Gap (percentage points)",
                    per_epoch(&point, &|e| 100.0 * (e.train_acc - e.val_acc), false)
                        .into_iter()
                        .map(|c| Curve {
                            label: c.label.replace(" – Validation", ""),
                            ..c
                        })
                        .collect(),
                    Legend::Auto,
                ),
            ]
        }
        StudyKind::Smoothness => {
            // Per-step curves are too jagged to read: show rolling windows instead, each the
            // mean over seeds ± std, of the loss level and of the roughness the verdict uses.
            let rolled = |f: fn(&[f64]) -> f64, of_changes: bool| -> Vec<Curve> {
                series
                    .iter()
                    .enumerate()
                    .map(|(i, name)| {
                        let runs: Vec<Vec<f64>> = outcomes
                            .iter()
                            .filter(|o| &o.spec.series == name)
                            .map(|o| {
                                let losses: Vec<f64> =
                                    o.step_losses.iter().map(|&l| f64::from(l)).collect();
                                if of_changes {
                                    losses.windows(2).map(|w| w[1] - w[0]).collect()
                                } else {
                                    losses
                                }
                            })
                            .collect();
                        let steps = runs.iter().map(Vec::len).min().unwrap_or(0);
                        let window = (steps / 40).max(10);
                        let stride = (window / 5).max(1);
                        let ends: Vec<usize> =
                            (steps / 10 + window..=steps).step_by(stride).collect();
                        let stats: Vec<(f64, Stat)> = ends
                            .iter()
                            .map(|&end| {
                                (
                                    end as f64,
                                    Stat::of(runs.iter().map(|r| f(&r[end - window..end]))),
                                )
                            })
                            .collect();
                        Curve::line(
                            name.clone(),
                            color_of(name, i),
                            stats.iter().map(|(x, s)| (*x, s.mean)).collect(),
                        )
                        .with_spread(stats.iter().map(|(_, s)| s.std).collect())
                        .without_markers()
                    })
                    .collect()
            };
            let mean = |w: &[f64]| w.iter().sum::<f64>() / w.len() as f64;
            let std = |w: &[f64]| Stat::of(w.iter().copied()).std;
            vec![
                Panel {
                    x_label: "Optimizer step (end of a rolling window of 1/40 of training)".into(),
                    ..Panel::per_epoch(
                        "Training loss, rolling mean",
                        "Loss (cross-entropy)",
                        rolled(mean, false),
                        Legend::Auto,
                    )
                },
                Panel {
                    x_label: "Optimizer step (end of a rolling window of 1/40 of training)".into(),
                    ..Panel::per_epoch(
                        "Roughness: rolling std of step-to-step change",
                        "Std of Δ loss",
                        rolled(std, true),
                        Legend::Auto,
                    )
                },
            ]
        }
        StudyKind::Shift => shared_y_range(
            series
                .iter()
                .map(|name| {
                    let runs: Vec<&RunOutcome> =
                        outcomes.iter().filter(|o| &o.spec.series == name).collect();
                    let readings = runs.iter().map(|o| o.probes.len()).min().unwrap_or(0);
                    let percentile =
                        |label: &str, color, f: fn(&crate::train::ProbePoint) -> f32| {
                            let stats: Vec<(f64, Stat)> = (0..readings)
                                .map(|k| {
                                    (
                                        runs[0].probes[k].step as f64,
                                        Stat::of(runs.iter().map(|o| f64::from(f(&o.probes[k])))),
                                    )
                                })
                                .collect();
                            Curve::line(
                                label,
                                color,
                                stats.iter().map(|(x, s)| (*x, s.mean)).collect(),
                            )
                            .with_spread(stats.iter().map(|(_, s)| s.std).collect())
                            .without_markers()
                        };
                    let base = if name == NO_BN { NO_BN_COLOR } else { BN_COLOR };
                    let light = plotters::style::RGBColor(
                        ((base.0 as u16 + 255) / 2) as u8,
                        ((base.1 as u16 + 255) / 2) as u8,
                        ((base.2 as u16 + 255) / 2) as u8,
                    );
                    Panel {
                        x_label: "Optimizer step".into(),
                        ..Panel::per_epoch(
                            format!("{name}: last hidden layer's ReLU input"),
                            "Pre-activation value",
                            vec![
                                percentile("85th percentile", light, |p| p.p85),
                                percentile("50th percentile", base, |p| p.p50),
                                percentile("15th percentile", light, |p| p.p15),
                            ],
                            Legend::Auto,
                        )
                    }
                })
                .collect(),
        ),
    }
}

/// Gives every panel the y range that holds all of them, so they compare by eye.
fn shared_y_range(mut panels: Vec<Panel>) -> Vec<Panel> {
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

fn color_of(series: &str, index: usize) -> plotters::style::RGBColor {
    match series {
        NO_BN | "No norm" => NO_BN_COLOR,
        WITH_BN | "BatchNorm" | BN_BEFORE => BN_COLOR,
        _ => PALETTE[index % PALETTE.len()],
    }
}
