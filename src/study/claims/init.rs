//! "With BatchNorm, training is less sensitive to the scale of the initial weights."

use super::shared::{
    Claim, Finding, GridPoint, INIT_SCALES, Judgement, Point, Runs, SeedRuns, bn_pair,
    final_accuracy,
};
use crate::config::ExperimentConfig;
use crate::model::ModelKind;
use crate::report::charts::{Panel, XScale};
use crate::study::kind::{Budget, StudyError};
use crate::study::panels::sweep;
use crate::study::variant::Variant;
use crate::study::verdict::{DIFFERENCE_RULE, Direction, Unit, judge_differences};

pub struct Initialization;

impl Claim for Initialization {
    fn title(&self) -> &'static str {
        "Less sensitivity to initialization"
    }

    fn claim(&self) -> &'static str {
        "With BatchNorm, training is less sensitive to the scale of the initial weights."
    }

    fn grid(&self, _budget: Budget, base: &ExperimentConfig) -> Vec<GridPoint> {
        INIT_SCALES
            .into_iter()
            .flat_map(|scale| {
                bn_pair(ModelKind::Mlp, Point::InitScale(scale), base).map(|mut point| {
                    point.network.init_scale = scale;
                    point
                })
            })
            .collect()
    }

    fn judge(&self, runs: &Runs) -> Result<Judgement, StudyError> {
        let points = runs.points();
        let needs: Vec<(Variant, Point)> = [Variant::Bn, Variant::NoBn]
            .into_iter()
            .flat_map(|v| points.iter().map(move |&p| (v, p)))
            .collect();
        // Per seed: the range of final accuracy over the scales, BN's minus the plain one's.
        let range_of = |run: &SeedRuns, variant: Variant| {
            let values: Vec<f64> = points
                .iter()
                .map(|&p| final_accuracy(run.get(variant, p)))
                .collect();
            values.iter().copied().fold(f64::NEG_INFINITY, f64::max)
                - values.iter().copied().fold(f64::INFINITY, f64::min)
        };
        let mut family = vec![runs.endpoint(
            "range over init scales",
            Unit::Points,
            Direction::Lower,
            &needs,
            |run| range_of(run, Variant::Bn) - range_of(run, Variant::NoBn),
        )?];
        let verdict = judge_differences(&mut family);
        let secondary = points
            .iter()
            .map(|&p| runs.bn_effect(p))
            .collect::<Result<_, _>>()?;
        Ok(Judgement {
            findings: vec![Finding {
                scope: String::new(),
                primary: "spread of final validation accuracy across the init scales (max − min, per seed), With BN − No BN".into(),
                rule: format!("One endpoint, {DIFFERENCE_RULE}. A constant BN advantage at every scale does not count: only a smaller spread does."),
                endpoints: family,
                verdict,
                alternatives: Vec::new(),
                note: None,
            }],
            secondary,
            table: runs.means_table("Init scale", "val acc (%)", final_accuracy, Unit::Points),
        })
    }

    fn panels(&self, runs: &Runs) -> Vec<Panel> {
        vec![sweep(
            runs,
            "Final validation accuracy vs init scale",
            "Init scale (× Glorot-uniform bound)",
            XScale::Log10,
            "Final validation accuracy (%)",
            final_accuracy,
            true,
        )]
    }
}
