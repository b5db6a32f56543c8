//! "BatchNorm matters more the deeper the network."

use super::shared::{
    Claim, DEPTHS, Finding, GridPoint, Judgement, Point, Runs, SeedRuns, bn_pair, final_accuracy,
};
use crate::config::ExperimentConfig;
use crate::model::ModelKind;
use crate::report::charts::{Panel, XScale};
use crate::study::kind::{Budget, StudyError};
use crate::study::panels::sweep;
use crate::study::variant::Variant;
use crate::study::verdict::{DIFFERENCE_RULE, Direction, Unit, judge_differences};

pub struct Depth;

/// Width of every hidden layer in the depth study.
pub const DEPTH_WIDTH: usize = 64;

impl Claim for Depth {
    fn title(&self) -> &'static str {
        "Deeper networks"
    }

    fn claim(&self) -> &'static str {
        "BatchNorm matters more the deeper the network."
    }

    fn grid(&self, _budget: Budget, base: &ExperimentConfig) -> Vec<GridPoint> {
        DEPTHS
            .into_iter()
            .flat_map(|depth| {
                bn_pair(ModelKind::Mlp, Point::Depth(depth), base).map(|mut point| {
                    point.network.mlp_widths = vec![DEPTH_WIDTH; depth];
                    point
                })
            })
            .collect()
    }

    fn judge(&self, runs: &Runs) -> Result<Judgement, StudyError> {
        let points = runs.points();
        let (Some(&shallow), Some(&deep)) = (points.first(), points.last()) else {
            return Ok(Judgement {
                findings: Vec::new(),
                secondary: Vec::new(),
                table: runs.means_table("Depth", "val acc (%)", final_accuracy, Unit::Points),
            });
        };
        let advantage = |run: &SeedRuns, point: Point| {
            final_accuracy(run.get(Variant::Bn, point))
                - final_accuracy(run.get(Variant::NoBn, point))
        };
        let mut family = vec![runs.endpoint(
            format!("({deep}) − ({shallow})"),
            Unit::Points,
            Direction::Higher,
            &[
                (Variant::Bn, deep),
                (Variant::NoBn, deep),
                (Variant::Bn, shallow),
                (Variant::NoBn, shallow),
            ],
            |run| advantage(run, deep) - advantage(run, shallow),
        )?];
        let verdict = judge_differences(&mut family);
        let secondary = points
            .iter()
            .map(|&p| runs.bn_effect(p))
            .collect::<Result<_, _>>()?;
        Ok(Judgement {
            findings: vec![Finding {
                scope: String::new(),
                primary: "BN's advantage in final validation accuracy (With BN − No BN) at the deepest setting minus at the shallowest, per seed (a paired difference-in-differences)".into(),
                rule: format!("One endpoint, {DIFFERENCE_RULE}."),
                endpoints: family,
                verdict,
                alternatives: Vec::new(),
                note: None,
            }],
            secondary,
            table: runs.means_table("Depth", "val acc (%)", final_accuracy, Unit::Points),
        })
    }

    fn panels(&self, runs: &Runs) -> Vec<Panel> {
        vec![sweep(
            runs,
            "Final validation accuracy vs depth",
            "Hidden layers (64 units each)",
            XScale::Log2,
            "Final validation accuracy (%)",
            final_accuracy,
            true,
        )]
    }
}
