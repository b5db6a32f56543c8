//! "With BatchNorm the network reaches a higher validation accuracy in fewer epochs."

use super::shared::{Claim, Finding, GridPoint, Judgement, Point, Runs, bn_pair, final_accuracy};
use crate::config::ExperimentConfig;
use crate::model::ModelKind;
use crate::report::charts::{Legend, Panel};
use crate::study::kind::{Budget, StudyError};
use crate::study::panels::per_epoch;
use crate::study::runs::{RunOutcome, Scale};
use crate::study::variant::Variant;
use crate::study::verdict::{DIFFERENCE_RULE, Direction, Unit};

pub struct Convergence;

/// Validation accuracy each network is expected to reach, declared before any run: the
/// secondary "epochs to target" counts the epochs until it is first reached.
pub fn target(model: ModelKind) -> f64 {
    match model {
        ModelKind::Mlp => 0.94,
        ModelKind::Cnn => 0.97,
    }
}

/// Mean validation accuracy over the epochs: the area under the validation curve divided by
/// the epochs (a diverged run scores chance from the epoch it diverged).
pub fn validation_area(run: &RunOutcome) -> f64 {
    let epochs = run.spec.scale().epochs;
    (1..=epochs).map(|e| run.val_acc_at(e)).sum::<f64>() / epochs as f64
}

/// First epoch whose validation accuracy reaches the network's target; epochs + 1 if none.
pub fn epochs_to_target(run: &RunOutcome) -> f64 {
    let epochs = run.spec.scale().epochs;
    let goal = target(run.spec.model());
    (1..=epochs)
        .find(|&e| run.val_acc_at(e) >= goal)
        .unwrap_or(epochs + 1) as f64
}

impl Claim for Convergence {
    fn title(&self) -> &'static str {
        "Faster convergence"
    }

    fn claim(&self) -> &'static str {
        "With BatchNorm the network reaches a higher validation accuracy in fewer epochs."
    }

    fn grid(&self, _budget: Budget, base: &ExperimentConfig) -> Vec<GridPoint> {
        ModelKind::ALL
            .into_iter()
            .flat_map(|model| bn_pair(model, Point::Network(model), base))
            .collect()
    }

    fn scale(&self, budget: Budget, point: &GridPoint) -> Scale {
        let model = point.network.model;
        match (budget, model) {
            (Budget::Quick, ModelKind::Mlp) => Scale::new(Some(10_000), None, 5),
            (Budget::Full, _) => Scale::new(None, None, 10),
            _ => super::shared::default_scale(budget, model),
        }
    }

    fn judge(&self, runs: &Runs) -> Result<Judgement, StudyError> {
        let mut findings = Vec::new();
        let mut secondary = Vec::new();
        for point in runs.points() {
            let pair = |label: &str, unit, direction, measure| {
                runs.bn_vs_plain(format!("{point}: {label}"), point, unit, direction, measure)
            };
            let primary = pair(
                "mean validation accuracy over epochs",
                Unit::Points,
                Direction::Higher,
                validation_area as super::shared::Measure,
            )?;
            let verdict = primary.verdict;
            let model = runs
                .of(Variant::NoBn, point)
                .first()
                .map_or(ModelKind::Mlp, |run| run.spec.model());
            findings.push(Finding {
                scope: point.to_string(),
                primary: "area under the validation-accuracy curve (mean validation accuracy over the epochs), With BN − No BN".into(),
                rule: format!("One endpoint per network, {DIFFERENCE_RULE}."),
                endpoints: vec![primary],
                verdict,
                alternatives: Vec::new(),
                note: None,
            });
            let to_target = pair(
                &format!(
                    "epochs to reach {:.0} % validation accuracy",
                    100.0 * target(model)
                ),
                Unit::Epochs,
                Direction::Lower,
                epochs_to_target,
            )?;
            let last = pair(
                "final validation accuracy",
                Unit::Points,
                Direction::Higher,
                final_accuracy,
            )?;
            secondary.extend([to_target, last]);
        }
        Ok(Judgement {
            findings,
            secondary,
            table: runs.means_table(
                "Network",
                "mean val acc over epochs (%)",
                validation_area,
                Unit::Points,
            ),
        })
    }

    fn panels(&self, runs: &Runs) -> Vec<Panel> {
        runs.points()
            .into_iter()
            .map(|point| {
                let mut curves = per_epoch(runs, point, "Validation", false, |run, e| {
                    run.epochs.get(e - 1).map(|m| 100.0 * m.val_acc)
                });
                curves.extend(per_epoch(runs, point, "Training", true, |run, e| {
                    run.epochs.get(e - 1).map(|m| 100.0 * m.train_acc)
                }));
                Panel::per_epoch(
                    format!("{point}: validation accuracy"),
                    "Accuracy (%)",
                    curves,
                    Legend::Auto,
                )
            })
            .collect()
    }

    fn notes(&self) -> Vec<String> {
        vec![format!(
            "Epochs to target (secondary) counts the first epoch whose validation accuracy reaches {:.0} % (MLP) or {:.0} % (CNN), targets fixed in code before the runs; a run that never reaches it scores the epochs + 1.",
            100.0 * target(ModelKind::Mlp),
            100.0 * target(ModelKind::Cnn)
        )]
    }
}
