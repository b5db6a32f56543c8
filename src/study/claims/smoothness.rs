//! "With BatchNorm the training loss is smoother and more predictable from step to step."

use super::{Claim, Finding, GridPoint, Judgement, Records, Runs, bn_pair, model_point};
use crate::config::ExperimentConfig;
use crate::model::ModelKind;
use crate::report::charts::{Curve, Legend, Panel};
use crate::report::stats::Spread;
use crate::study::Budget;
use crate::study::runs::RunOutcome;
use crate::study::variant::Variant;
use crate::study::verdict::{DIFFERENCE_RULE, Direction, Unit, judge_differences};

pub struct Smoothness;

/// The losses after the first 10 % of steps (the initial descent, which is not noise).
fn settled(losses: &[f32]) -> Vec<f64> {
    losses[losses.len() / 10..]
        .iter()
        .map(|&l| f64::from(l))
        .collect()
}

/// Standard deviation of the step-to-step change in training loss after the first 10 % of
/// steps, divided by the mean loss there: minibatch noise scales with the loss level
/// (std(Δloss) ≈ √2·std(loss)), so the raw number mostly measures how low the loss is.
pub fn relative_roughness(run: &RunOutcome) -> f64 {
    let losses = settled(&run.step_losses);
    let mean = losses.iter().sum::<f64>() / losses.len() as f64;
    roughness(run) / mean
}

/// Standard deviation of the step-to-step change in training loss after the first 10 %.
pub fn roughness(run: &RunOutcome) -> f64 {
    let changes: Vec<f64> = settled(&run.step_losses)
        .windows(2)
        .map(|w| w[1] - w[0])
        .collect();
    if run.diverged.is_some() || changes.len() < 2 {
        return f64::NAN;
    }
    Spread::of(&changes).sd
}

impl Claim for Smoothness {
    fn title(&self) -> &'static str {
        "A smoother training loss"
    }

    fn claim(&self) -> &'static str {
        "With BatchNorm the training loss is smoother and more predictable from step to step."
    }

    fn grid(&self, _budget: Budget, base: &ExperimentConfig) -> Vec<GridPoint> {
        bn_pair(ModelKind::Mlp, &model_point(ModelKind::Mlp), 0.0, base).into()
    }

    fn records(&self) -> Records {
        Records {
            step_losses: true,
            ..Records::default()
        }
    }

    fn judge(&self, runs: &Runs) -> Judgement {
        let point = model_point(ModelKind::Mlp);
        let pair = |label: &str, measure| {
            let mut e = runs.paired(
                label,
                Unit::Plain,
                Direction::Lower,
                (Variant::Bn, &point),
                (Variant::NoBn, &point),
                measure,
            );
            judge_differences(std::slice::from_mut(&mut e));
            e
        };
        let primary = pair("relative roughness", relative_roughness as super::Measure);
        let verdict = primary.verdict;
        Judgement {
            findings: vec![Finding {
                scope: String::new(),
                primary: "relative roughness: standard deviation of the step-to-step change in training loss over the mean loss (after the first 10 % of steps), With BN − No BN".into(),
                rule: format!("One endpoint, {DIFFERENCE_RULE}."),
                endpoints: vec![primary],
                verdict,
                note: None,
            }],
            secondary: vec![pair("roughness (not divided by the loss level)", roughness)],
            table: runs.means_table("Network", "relative roughness", relative_roughness, Unit::Plain),
        }
    }

    fn panels(&self, runs: &Runs) -> Vec<Panel> {
        // Per-step curves are too jagged to read: rolling windows instead, each the mean over
        // seeds ± sd, of the loss level and of the relative roughness.
        let rolled = |f: fn(&[f64]) -> f64| -> Vec<Curve> {
            runs.variants()
                .into_iter()
                .map(|variant| {
                    let losses: Vec<Vec<f64>> = runs
                        .all
                        .iter()
                        .filter(|o| o.spec.series == variant && o.diverged.is_none())
                        .map(|o| o.step_losses.iter().map(|&l| f64::from(l)).collect())
                        .collect();
                    let steps = losses.iter().map(Vec::len).min().unwrap_or(0);
                    let window = (steps / 40).max(10);
                    let stride = (window / 5).max(1);
                    let ends: Vec<usize> = (steps / 10 + window..=steps).step_by(stride).collect();
                    let stats: Vec<(f64, Spread)> = ends
                        .iter()
                        .map(|&end| {
                            let values: Vec<f64> =
                                losses.iter().map(|r| f(&r[end - window..end])).collect();
                            (end as f64, Spread::of(&values))
                        })
                        .collect();
                    Curve::line(
                        variant.title(),
                        variant.color(),
                        stats.iter().map(|(x, s)| (*x, s.mean)).collect(),
                    )
                    .with_spread(stats.iter().map(|(_, s)| s.sd).collect())
                    .without_markers()
                })
                .collect()
        };
        let mean = |w: &[f64]| w.iter().sum::<f64>() / w.len() as f64;
        let relative = |w: &[f64]| {
            let changes: Vec<f64> = w.windows(2).map(|p| p[1] - p[0]).collect();
            Spread::of(&changes).sd / (w.iter().sum::<f64>() / w.len() as f64)
        };
        let x_label = "Optimizer step (end of a rolling window of 1/40 of training)";
        vec![
            Panel {
                x_label: x_label.into(),
                ..Panel::per_epoch(
                    "Training loss, rolling mean",
                    "Loss (cross-entropy)",
                    rolled(mean),
                    Legend::Auto,
                )
            },
            Panel {
                x_label: x_label.into(),
                ..Panel::per_epoch(
                    "Relative roughness: rolling std(Δ loss) / mean loss",
                    "std(Δ loss) / loss",
                    rolled(relative),
                    Legend::Auto,
                )
            },
        ]
    }
}
