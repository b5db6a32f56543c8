//! "BatchNorm degrades with batches smaller than about 8; LayerNorm and GroupNorm, which do not
//! use batch statistics, do not."

use super::shared::{
    BATCH_SIZES, Claim, FEWER_SEEDS, Finding, GridPoint, Judgement, Point, Runs, SeedRuns,
    final_accuracy,
};
use crate::config::ExperimentConfig;
use crate::model::{ModelKind, NormKind};
use crate::report::charts::{Panel, XScale};
use crate::study::kind::{Budget, StudyError};
use crate::study::panels::sweep;
use crate::study::variant::Variant;
use crate::study::verdict::{
    DIFFERENCE_RULE, Direction, NO_WORSE_RULE, Unit, judge_differences, judge_no_worse,
    judged_alone,
};

pub struct BatchSize;

/// The reference batch size, and the small ones the claim is about.
pub const REFERENCE: usize = 32;
pub const SMALL: [usize; 2] = [2, 4];
/// "Does not degrade": the drop from batch 32 is shown to stay under this (1 pp of accuracy).
pub const MARGIN: f64 = 0.01;
const OTHERS: [Variant; 2] = [Variant::LayerNorm, Variant::GroupNorm];

fn point(size: usize) -> Point {
    Point::BatchSize(size)
}

impl Claim for BatchSize {
    fn title(&self) -> &'static str {
        "Small batches: BatchNorm vs LayerNorm and GroupNorm"
    }

    fn claim(&self) -> &'static str {
        "BatchNorm degrades with batches smaller than about 8; LayerNorm and GroupNorm, which do not use batch statistics, do not."
    }

    fn grid(&self, _budget: Budget, base: &ExperimentConfig) -> Vec<GridPoint> {
        BATCH_SIZES
            .into_iter()
            .flat_map(|size| {
                NormKind::ALL.map(|norm| GridPoint {
                    batch_size: size,
                    ..GridPoint::guide(Variant::of_norm(norm), ModelKind::Mlp, point(size), base)
                })
            })
            .collect()
    }

    /// Five seeds on every budget: the full budget's runs at batch 2 and 4 take 161 minutes on
    /// two cores for five seeds, and ten would double it.
    fn seeds(&self, _budget: Budget, _point: &GridPoint) -> usize {
        FEWER_SEEDS
    }

    fn judge(&self, runs: &Runs) -> Result<Judgement, StudyError> {
        let reference = point(REFERENCE);
        // A norm's drop from batch 32 to `small`, per seed.
        let drop = |run: &SeedRuns, variant: Variant, small: Point| {
            final_accuracy(run.get(variant, reference)) - final_accuracy(run.get(variant, small))
        };
        let mut degrades = Vec::new();
        let mut holds = Vec::new();
        for size in SMALL {
            let small = point(size);
            for other in OTHERS {
                degrades.push(runs.endpoint(
                    format!("{small}: BN's drop − {}'s drop", other.title()),
                    Unit::Points,
                    Direction::Higher,
                    &[
                        (Variant::Bn, reference),
                        (Variant::Bn, small),
                        (other, reference),
                        (other, small),
                    ],
                    |run| drop(run, Variant::Bn, small) - drop(run, other, small),
                )?);
                holds.push(runs.paired(
                    format!("{small}: {}'s drop (at 32 − at {size})", other.title()),
                    Unit::Points,
                    Direction::Lower,
                    (other, reference),
                    (other, small),
                    final_accuracy,
                )?);
            }
        }
        let first = judge_differences(&mut degrades);
        let second = judge_no_worse(&mut holds, MARGIN);
        let secondary = bn_own_drops(runs)?;
        Ok(Judgement {
            findings: vec![
                Finding {
                    scope: "BN degrades more".into(),
                    primary: format!(
                        "drop in final validation accuracy from batch {REFERENCE} to batch 2 and 4, BatchNorm's minus LayerNorm's and GroupNorm's (a paired difference-in-differences per seed)"
                    ),
                    rule: format!("Four endpoints (2 sizes × 2 norms), {DIFFERENCE_RULE}."),
                    endpoints: degrades,
                    verdict: first,
                    alternatives: Vec::new(),
                    note: None,
                },
                Finding {
                    scope: "LN/GN hold".into(),
                    primary: format!(
                        "drop in final validation accuracy of LayerNorm and GroupNorm from batch {REFERENCE} to batch 2 and 4, shown to stay under {:.0} pp",
                        100.0 * MARGIN
                    ),
                    rule: format!(
                        "Four endpoints, margin {:.0} pp: {NO_WORSE_RULE}.",
                        100.0 * MARGIN
                    ),
                    endpoints: holds,
                    verdict: second,
                    alternatives: Vec::new(),
                    note: None,
                },
            ],
            secondary,
            table: runs.means_table("Batch size", "val acc (%)", final_accuracy, Unit::Points),
        })
    }

    fn panels(&self, runs: &Runs) -> Vec<Panel> {
        vec![sweep(
            runs,
            "Final validation accuracy vs batch size",
            "Batch size",
            XScale::Log2,
            "Final validation accuracy (%)",
            final_accuracy,
            true,
        )]
    }

    fn notes(&self) -> Vec<String> {
        vec!["Every run sees the same number of samples, so small batches take more steps (batch 2: 16× the steps of batch 32).".into()]
    }
}

/// BatchNorm's own drop from the reference batch to each small one (secondaries).
fn bn_own_drops(runs: &Runs) -> Result<Vec<crate::study::verdict::Endpoint>, StudyError> {
    let reference = point(REFERENCE);
    SMALL
        .into_iter()
        .map(|size| {
            runs.paired(
                format!("{}: BN at 32 − at {size}", point(size)),
                Unit::Points,
                Direction::Higher,
                (Variant::Bn, reference),
                (Variant::Bn, point(size)),
                final_accuracy,
            )
            .map(judged_alone)
        })
        .collect()
}
