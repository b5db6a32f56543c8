//! "BatchNorm works better before the activation (Dense → BN → ReLU) than after it."

use super::shared::{Claim, Finding, GridPoint, Judgement, Point, Runs, final_accuracy};
use crate::config::ExperimentConfig;
use crate::model::ModelKind;
use crate::report::charts::{Legend, Panel};
use crate::study::kind::{Budget, StudyError};
use crate::study::panels::per_epoch;
use crate::study::variant::Variant;
use crate::study::verdict::{DIFFERENCE_RULE, Direction, Unit, judge_differences, judged_alone};

pub struct Position;

impl Claim for Position {
    fn title(&self) -> &'static str {
        "BatchNorm before or after the activation"
    }

    fn claim(&self) -> &'static str {
        "BatchNorm works better before the activation (Dense → BN → ReLU) than after it."
    }

    fn grid(&self, budget: Budget, base: &ExperimentConfig) -> Vec<GridPoint> {
        // The CNN's runs would double the quick budget: it joins in the full one.
        let models: &[ModelKind] = if budget == Budget::Full {
            &ModelKind::ALL
        } else {
            &[ModelKind::Mlp]
        };
        models
            .iter()
            .flat_map(|&model| {
                [Variant::NoBn, Variant::Bn, Variant::BnAfter]
                    .map(|v| GridPoint::guide(v, model, Point::Network(model), base))
            })
            .collect()
    }

    fn judge(&self, runs: &Runs) -> Result<Judgement, StudyError> {
        let mut findings = Vec::new();
        let mut secondary = Vec::new();
        for point in runs.points() {
            let pair = |label: &str, a: Variant, b: Variant| {
                runs.paired(
                    format!("{point}: {label}"),
                    Unit::Points,
                    Direction::Higher,
                    (a, point),
                    (b, point),
                    final_accuracy,
                )
            };
            let mut family = vec![pair("before − after", Variant::Bn, Variant::BnAfter)?];
            let verdict = judge_differences(&mut family);
            findings.push(Finding {
                scope: point.to_string(),
                primary: "final validation accuracy, BN before the ReLU − BN after it".into(),
                rule: format!("One endpoint per network, {DIFFERENCE_RULE}."),
                endpoints: family,
                verdict,
                alternatives: Vec::new(),
                note: None,
            });
            for (label, a) in [
                ("before − no BN", Variant::Bn),
                ("after − no BN", Variant::BnAfter),
            ] {
                secondary.push(judged_alone(pair(label, a, Variant::NoBn)?));
            }
        }
        Ok(Judgement {
            findings,
            secondary,
            table: runs.means_table("Network", "val acc (%)", final_accuracy, Unit::Points),
        })
    }

    fn panels(&self, runs: &Runs) -> Vec<Panel> {
        runs.points()
            .into_iter()
            .map(|point| {
                Panel::per_epoch(
                    format!("{point}: validation accuracy"),
                    "Accuracy (%)",
                    per_epoch(runs, point, "Validation", false, |run, e| {
                        run.epochs.get(e - 1).map(|m| 100.0 * m.val_acc)
                    }),
                    Legend::Auto,
                )
            })
            .collect()
    }
}
