//! "BatchNorm helps by reducing internal covariate shift" (Ioffe & Szegedy's explanation), put
//! to Santurkar et al.'s (2018, §2.1) test: BatchNorm whose outputs get noise with a non-zero
//! mean and a non-unit variance that changes at every step ("noisy BatchNorm") has the shift
//! BatchNorm removed put back, so the explanation predicts it trains worse than BatchNorm.

use super::shared::{
    Claim, Finding, GridPoint, Judgement, Point, Runs, final_accuracy, training_accuracy,
};
use crate::config::ExperimentConfig;
use crate::model::{ModelKind, NormNoise};
use crate::report::charts::{Legend, Panel};
use crate::study::kind::{Budget, StudyError};
use crate::study::measures::train_subset;
use crate::study::panels::per_epoch;
use crate::study::runs::RunOutcome;
use crate::study::variant::Variant;
use crate::study::verdict::{DIFFERENCE_RULE, Direction, Unit, judged_alone};

use super::convergence::validation_area;

pub struct NoisyBatchNorm;

const GUIDE: Point = Point::Network(ModelKind::Mlp);

impl Claim for NoisyBatchNorm {
    fn title(&self) -> &'static str {
        "Noisy BatchNorm (is it the covariate shift?)"
    }

    fn claim(&self) -> &'static str {
        "A falsification test of \"BatchNorm helps by reducing internal covariate shift\" (Santurkar et al. 2018, §2.1): if it did, BatchNorm whose outputs get noise with a changing non-zero mean and non-unit variance would train worse than BatchNorm. Training as well would refute the explanation; training worse is consistent with it, not proof of it."
    }

    fn grid(&self, _budget: Budget, base: &ExperimentConfig) -> Vec<GridPoint> {
        [Variant::NoBn, Variant::Bn, Variant::NoisyBn]
            .map(|v| GridPoint::guide(v, ModelKind::Mlp, GUIDE, base))
            .into()
    }

    fn judge(&self, runs: &Runs) -> Result<Judgement, StudyError> {
        let pair = |label: &str, claim_side: Variant, other: Variant, measure| {
            runs.paired(
                label,
                Unit::Points,
                Direction::Higher,
                (claim_side, GUIDE),
                (other, GUIDE),
                measure,
            )
            .map(judged_alone)
        };
        let primary = pair(
            "final validation accuracy, BN − noisy BN",
            Variant::Bn,
            Variant::NoisyBn,
            final_accuracy as super::shared::Measure,
        )?;
        Ok(Judgement {
            findings: vec![Finding {
                scope: String::new(),
                primary: "final validation accuracy, BatchNorm − noisy BatchNorm (same seed: same initial weights and data order)".into(),
                rule: format!("One endpoint, {DIFFERENCE_RULE}."),
                verdict: primary.verdict,
                endpoints: vec![primary],
                alternatives: Vec::new(),
                note: Some("A falsification test: \"supported\" says only that the covariate-shift explanation survived a test that could have refuted it (noise can hurt simply by being noise), never that it is the cause.".into()),
            }],
            secondary: vec![
                pair(
                    "mean validation accuracy over epochs, BN − noisy BN",
                    Variant::Bn,
                    Variant::NoisyBn,
                    validation_area,
                )?,
                pair(
                    "training-subset accuracy (inference mode), BN − noisy BN",
                    Variant::Bn,
                    Variant::NoisyBn,
                    training_accuracy,
                )?,
                pair(
                    "final validation accuracy, noisy BN − no BN",
                    Variant::NoisyBn,
                    Variant::NoBn,
                    final_accuracy,
                )?,
            ],
            table: runs.means_table("Network", "val acc (%)", final_accuracy, Unit::Points),
        })
    }

    fn panels(&self, runs: &Runs) -> Vec<Panel> {
        let accuracy = |title: &str, pick: fn(&RunOutcome, usize) -> Option<f64>| {
            Panel::per_epoch(
                format!("{GUIDE}: {title}"),
                "Accuracy (%)",
                per_epoch(runs, GUIDE, title, false, pick),
                Legend::Auto,
            )
        };
        vec![
            accuracy("validation accuracy", |run, e| {
                run.epochs.get(e - 1).map(|m| 100.0 * m.val_acc)
            }),
            accuracy("training-subset accuracy", |run, e| {
                train_subset::of(run).get(e - 1).map(|a| 100.0 * a)
            }),
        ]
    }

    fn notes(&self) -> Vec<String> {
        let NormNoise {
            mean_bound,
            scale_low,
            scale_high,
            sample_sd,
        } = NormNoise::default();
        vec![format!(
            "Noisy BatchNorm: at every training step, for every unit j of every BatchNorm layer, bnx draws a scale s_j ~ U({scale_low}, {scale_high}) and a mean m_j ~ U(−{mean_bound}, {mean_bound}); each sample's normalized value x becomes s_j·x + m_j + {sample_sd}·z with z standard normal, independently per sample (before the ReLU, as BN's output). So every unit's input distribution to the next layer moves at every step, with a mean and variance other than BN's 0 and 1: the \"covariate shift\" BatchNorm removed, put back. The noise comes from the run's own seeded generator (reproducible with --jobs), is added in training only (inference, like dropout's, adds none; the expected transformation is the identity), and is the same construction for every seed; Santurkar et al.'s exact noise parameters (their appendix, VGG on CIFAR-10) are not reproduced. Santurkar et al. report that noisy BatchNorm trains about as well as BatchNorm, far better than no normalization. A supported verdict would mean the noise hurts, which is what the covariate-shift explanation predicts, but noise can also hurt simply by being noise; an inconclusive or contradicted one is evidence against the explanation at this noise level."
        )]
    }
}
