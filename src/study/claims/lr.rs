//! "BatchNorm lets the network train well at learning rates above the default 1e-3, where the
//! plain network suffers."

use super::shared::{
    Claim, Finding, GridPoint, Judgement, LEARNING_RATES, Point, Runs, bn_pair, final_accuracy,
    training_accuracy,
};
use crate::config::ExperimentConfig;
use crate::model::ModelKind;
use crate::report::charts::{Panel, XScale};
use crate::study::kind::{Budget, StudyError};
use crate::study::panels::sweep;
use crate::study::variant::Variant;
use crate::study::verdict::{DIFFERENCE_RULE, Unit, judge_differences};

pub struct LearningRate;

/// The plain network "suffers" at a rate where its training accuracy (inference mode, on the
/// training subset; never the test split) is below its own best over the rates by this much.
pub const SUFFERS_BY: f64 = 0.01;
/// Keras' default Adam learning rate: the claim is about rates above it.
pub const DEFAULT_RATE: f64 = 1e-3;

impl Claim for LearningRate {
    fn title(&self) -> &'static str {
        "Higher learning rates"
    }

    fn claim(&self) -> &'static str {
        "BatchNorm lets the network train well at learning rates above the default 1e-3, where the plain network suffers."
    }

    fn grid(&self, _budget: Budget, base: &ExperimentConfig) -> Vec<GridPoint> {
        LEARNING_RATES
            .into_iter()
            .flat_map(|rate| {
                bn_pair(ModelKind::Mlp, Point::LearningRate(rate), base).map(|mut point| {
                    point.learning_rate = rate;
                    point
                })
            })
            .collect()
    }

    fn judge(&self, runs: &Runs) -> Result<Judgement, StudyError> {
        let points = runs.points();
        let plain = |point: Point| {
            runs.spread(Variant::NoBn, point, training_accuracy)
                .map_or(f64::NAN, |s| s.mean)
        };
        let best = points
            .iter()
            .map(|&p| plain(p))
            .filter(|v| v.is_finite())
            .fold(f64::NEG_INFINITY, f64::max);
        let suffering: Vec<Point> = points
            .iter()
            .copied()
            .filter(|&p| p.x() > DEFAULT_RATE * 1.0001 && plain(p) < best - SUFFERS_BY)
            .collect();
        let mut family = suffering
            .iter()
            .map(|&p| runs.bn_effect(p))
            .collect::<Result<Vec<_>, _>>()?;
        let verdict = judge_differences(&mut family);
        let note = if suffering.is_empty() {
            format!(
                "The plain network's training accuracy stayed within {:.0} pp of its best ({:.2} %) at every rate above {DEFAULT_RATE}: no rate qualifies, so the claim's premise does not arise here.",
                100.0 * SUFFERS_BY,
                100.0 * best
            )
        } else {
            format!(
                "Qualifying rates (plain network's inference-mode training accuracy below its best, {:.2} %, by more than {:.0} pp): {}.",
                100.0 * best,
                100.0 * SUFFERS_BY,
                suffering
                    .iter()
                    .map(|&p| format!("{p} ({:.2} %)", 100.0 * plain(p)))
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        };
        let secondary = points
            .iter()
            .filter(|p| !suffering.contains(p))
            .map(|&p| runs.bn_effect(p))
            .collect::<Result<_, _>>()?;
        Ok(Judgement {
            findings: vec![Finding {
                scope: String::new(),
                primary: format!(
                    "final validation accuracy, With BN − No BN, at each learning rate above {DEFAULT_RATE} where the plain network suffers (selected on training accuracy)"
                ),
                rule: format!(
                    "One endpoint per qualifying rate, {DIFFERENCE_RULE}. No qualifying rate: inconclusive."
                ),
                endpoints: family,
                verdict,
                alternatives: Vec::new(),
                note: Some(note),
            }],
            secondary,
            table: runs.means_table("Learning rate", "val acc (%)", final_accuracy, Unit::Points),
        })
    }

    fn panels(&self, runs: &Runs) -> Vec<Panel> {
        vec![sweep(
            runs,
            "Final validation accuracy vs learning rate",
            "Learning rate (Adam)",
            XScale::Log10,
            "Final validation accuracy (%)",
            final_accuracy,
            true,
        )]
    }
}
