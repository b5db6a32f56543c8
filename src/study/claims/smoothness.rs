//! "With BatchNorm the training loss is smoother and more predictable from step to step",
//! measured as Santurkar, Tsipras, Ilyas & Madry (2018) do (their figure 4): along the gradient
//! at points during training, how much the loss and the gradient change.

use super::shared::{Claim, Finding, GridPoint, Judgement, Point, Runs, bn_pair, mean_of_readings};
use crate::config::ExperimentConfig;
use crate::model::ModelKind;
use crate::report::charts::{Legend, Panel};
use crate::report::stats::Spread;
use crate::study::kind::{Budget, StudyError};
use crate::study::measures::{landscape, step_losses};
use crate::study::panels::per_reading;
use crate::study::runs::{RunOutcome, Schedule, Schedules};
use crate::study::variant::Variant;
use crate::study::verdict::{DIFFERENCE_RULE, Direction, Unit};
use crate::train::landscape::{LandscapePoint, STEP_SIZES};

pub struct Smoothness;

const GUIDE: Point = Point::Network(ModelKind::Mlp);

/// Read the landscape every this many steps.
pub const LANDSCAPE_EVERY: usize = 25;

/// A per-reading quantity averaged over a run's readings (NaN for a diverged run).
fn over_readings(run: &RunOutcome, f: impl Fn(&LandscapePoint) -> f64) -> f64 {
    mean_of_readings(run, landscape::of(run).iter().map(f))
}

/// Effective β-smoothness at one reading: max over η of ‖∇L(w) − ∇L(w − η·g)‖ / ‖η·g‖.
pub fn beta_at(p: &LandscapePoint) -> f64 {
    p.grad_changes
        .iter()
        .zip(STEP_SIZES)
        .map(|(change, eta)| change / (eta * p.grad_norm))
        .filter(|v| v.is_finite())
        .fold(f64::NAN, f64::max)
}

/// Mean effective β-smoothness over the run's readings (their fig. 4c); lower is smoother.
pub fn beta_smoothness(run: &RunOutcome) -> f64 {
    over_readings(run, beta_at)
}

/// Mean over readings of the loss range along the gradient, max − min of L(w − η·g) over η
/// and η = 0 (their fig. 4a).
pub fn loss_range(run: &RunOutcome) -> f64 {
    over_readings(run, |p| {
        let values = p
            .losses
            .iter()
            .chain(std::iter::once(&p.loss))
            .filter(|v| v.is_finite());
        values.clone().fold(f64::NAN, |a, &b| a.max(b)) - values.fold(f64::NAN, |a, &b| a.min(b))
    })
}

/// Mean over readings of the largest gradient change along the gradient (their fig. 4b:
/// gradient predictiveness; lower is more predictive).
pub fn gradient_change(run: &RunOutcome) -> f64 {
    over_readings(run, |p| {
        p.grad_changes.iter().copied().fold(f64::NAN, f64::max)
    })
}

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
    let losses = settled(&step_losses::of(run));
    let mean = losses.iter().sum::<f64>() / losses.len() as f64;
    roughness(run) / mean
}

/// Standard deviation of the step-to-step change in training loss after the first 10 %.
pub fn roughness(run: &RunOutcome) -> f64 {
    let changes: Vec<f64> = settled(&step_losses::of(run))
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

    fn notes(&self) -> Vec<String> {
        vec![format!(
            "Santurkar et al. measure on the current batch in training mode, at weights w during training, along the gradient g: L(w − η·g) and ∇L(w − η·g) for step sizes η ∈ {{0.05, 0.1, 0.2, 0.4}} (plain gradient steps, independent of the Adam update that training takes). bnx reads them every {LANDSCAPE_EVERY} steps on copies of the network, so training is unchanged; run.json keeps the raw losses, gradient norms and gradient changes. Relative roughness (secondary) is the standard deviation of the step-to-step change in training loss over the mean loss after the first 10 % of steps: minibatch noise scales with the loss level, so the raw standard deviation (also secondary) mostly measures how low the loss is."
        )]
    }

    fn grid(&self, _budget: Budget, base: &ExperimentConfig) -> Vec<GridPoint> {
        bn_pair(ModelKind::Mlp, GUIDE, base).into()
    }

    fn measures(&self, _budget: Budget, _point: &GridPoint) -> Schedules {
        Schedules::from([
            (step_losses::ID.into(), Schedule::EverySteps(1)),
            (landscape::ID.into(), Schedule::EverySteps(LANDSCAPE_EVERY)),
        ])
    }

    fn judge(&self, runs: &Runs) -> Result<Judgement, StudyError> {
        let pair = |label: &str, measure| {
            runs.bn_vs_plain(label, GUIDE, Unit::Plain, Direction::Lower, measure)
        };
        let primary = pair(
            "effective β-smoothness",
            beta_smoothness as super::shared::Measure,
        )?;
        let verdict = primary.verdict;
        Ok(Judgement {
            findings: vec![Finding {
                scope: String::new(),
                primary: format!(
                    "effective β-smoothness (Santurkar et al. 2018, fig. 4c): at a reading every {LANDSCAPE_EVERY} steps, the largest ‖∇L(w) − ∇L(w − η·g)‖ / ‖η·g‖ over η ∈ {{0.05, 0.1, 0.2, 0.4}} on the current batch; its mean over the run's readings, With BN − No BN"
                ),
                rule: format!("One endpoint, {DIFFERENCE_RULE}."),
                endpoints: vec![primary],
                verdict,
                alternatives: Vec::new(),
                note: None,
            }],
            secondary: vec![
                pair("loss range along the gradient (fig. 4a)", loss_range)?,
                pair(
                    "largest gradient change along the gradient (fig. 4b)",
                    gradient_change,
                )?,
                pair(
                    "relative roughness of the training loss",
                    relative_roughness,
                )?,
                pair("roughness (not divided by the loss level)", roughness)?,
            ],
            table: runs.means_table(
                "Network",
                "effective β-smoothness",
                beta_smoothness,
                Unit::Plain,
            ),
        })
    }

    fn panels(&self, runs: &Runs) -> Vec<Panel> {
        // Per reading, the mean over seeds (± sd) of a quantity of the landscape.
        let over_steps = |f: &dyn Fn(&LandscapePoint) -> f64,
                          label: &dyn Fn(Variant) -> String,
                          dashed: bool| {
            per_reading(runs, GUIDE, label, dashed, |run| {
                landscape::of(run)
                    .iter()
                    .map(|p| (p.step as f64, f(p)))
                    .collect()
            })
        };
        let finite = |v: &[f64]| {
            v.iter()
                .copied()
                .filter(|x| x.is_finite())
                .collect::<Vec<_>>()
        };
        let mut landscape = over_steps(
            &|p| {
                finite(&p.losses)
                    .into_iter()
                    .chain([p.loss])
                    .fold(f64::NAN, f64::max)
            },
            &|v| format!("{} – max", v.title()),
            true,
        );
        landscape.extend(over_steps(
            &|p| {
                finite(&p.losses)
                    .into_iter()
                    .chain([p.loss])
                    .fold(f64::NAN, f64::min)
            },
            &|v| format!("{} – min", v.title()),
            false,
        ));
        let panel = |title: &str, y: &str, curves| Panel {
            x_label: "Optimizer step".into(),
            ..Panel::per_epoch(title, y, curves, Legend::Auto)
        };
        vec![
            panel(
                "(a) Loss along the gradient: min and max over η",
                "Training loss on the batch",
                landscape,
            ),
            panel(
                "(b) Gradient predictiveness",
                "max over η of ‖∇L(w) − ∇L(w − ηg)‖",
                over_steps(
                    &|p| p.grad_changes.iter().copied().fold(f64::NAN, f64::max),
                    &|v| v.title().to_string(),
                    false,
                ),
            ),
            panel(
                "(c) Effective β-smoothness",
                "max over η of ‖Δ∇L‖ / ‖ηg‖",
                over_steps(&beta_at, &|v| v.title().to_string(), false),
            ),
        ]
    }
}
