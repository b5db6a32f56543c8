//! "BatchNorm keeps the distribution of a hidden layer's inputs stable during training" (Ioffe
//! & Szegedy 2015, figure 1).

use super::{Claim, Finding, GridPoint, Judgement, Records, Runs, bn_pair, model_point};
use crate::config::ExperimentConfig;
use crate::model::ModelKind;
use crate::report::charts::Curve;
use crate::report::charts::{Legend, Panel};
use crate::report::stats::Spread;
use crate::study::Budget;
use crate::study::panels::shared_y_range;
use crate::study::runs::RunOutcome;
use crate::study::variant::Variant;
use crate::study::verdict::{DIFFERENCE_RULE, Direction, Unit, judge_differences};
use crate::train::ProbePoint;

pub struct Shift;

/// Probe the hidden layer every this many steps.
pub const PROBE_EVERY: usize = 10;

/// Net displacement of the probed 15th, 50th and 85th percentiles from the first reading to
/// the last, averaged, in units of the final 15–85 spread: scale-free and independent of how
/// often the probe reads (NaN for a diverged run or a collapsed spread).
pub fn drift(run: &RunOutcome) -> f64 {
    let (Some(first), Some(last)) = (run.probes.first(), run.probes.last()) else {
        return f64::NAN;
    };
    let spread = f64::from(last.p85 - last.p15);
    let moved = [
        last.p15 - first.p15,
        last.p50 - first.p50,
        last.p85 - first.p85,
    ]
    .iter()
    .map(|d| f64::from(d.abs()))
    .sum::<f64>()
        / 3.0;
    if run.diverged.is_none() && spread > 0.0 {
        moved / spread
    } else {
        f64::NAN
    }
}

impl Claim for Shift {
    fn title(&self) -> &'static str {
        "Internal covariate shift"
    }

    fn claim(&self) -> &'static str {
        "BatchNorm keeps the distribution of a hidden layer's inputs stable during training (Ioffe & Szegedy 2015, figure 1)."
    }

    fn grid(&self, _budget: Budget, base: &ExperimentConfig) -> Vec<GridPoint> {
        bn_pair(ModelKind::Mlp, &model_point(ModelKind::Mlp), 0.0, base).into()
    }

    fn records(&self) -> Records {
        Records {
            probe_every: Some(PROBE_EVERY),
            ..Records::default()
        }
    }

    fn judge(&self, runs: &Runs) -> Judgement {
        let point = model_point(ModelKind::Mlp);
        let mut primary = runs.paired(
            "drift",
            Unit::Plain,
            Direction::Lower,
            (Variant::Bn, &point),
            (Variant::NoBn, &point),
            drift,
        );
        let verdict = judge_differences(std::slice::from_mut(&mut primary));
        Judgement {
            findings: vec![Finding {
                scope: String::new(),
                primary: "drift of the last hidden layer's ReLU input on a fixed probe batch: net displacement of its 15th/50th/85th percentiles from start to end, in final 15–85 spreads, With BN − No BN".into(),
                rule: format!("One endpoint, {DIFFERENCE_RULE}."),
                endpoints: vec![primary],
                verdict,
                note: None,
            }],
            secondary: Vec::new(),
            table: runs.means_table("Network", "drift (spreads)", drift, Unit::Plain),
        }
    }

    fn panels(&self, runs: &Runs) -> Vec<Panel> {
        shared_y_range(
            runs.variants()
                .into_iter()
                .map(|variant| {
                    let of: Vec<&RunOutcome> = runs
                        .all
                        .iter()
                        .filter(|o| o.spec.series == variant && o.diverged.is_none())
                        .collect();
                    let readings = of.iter().map(|o| o.probes.len()).min().unwrap_or(0);
                    let percentile = |label: &str, color, f: fn(&ProbePoint) -> f32| {
                        let stats: Vec<(f64, Spread)> = (0..readings)
                            .map(|k| {
                                let values: Vec<f64> =
                                    of.iter().map(|o| f64::from(f(&o.probes[k]))).collect();
                                (of[0].probes[k].step as f64, Spread::of(&values))
                            })
                            .collect();
                        Curve::line(
                            label,
                            color,
                            stats.iter().map(|(x, s)| (*x, s.mean)).collect(),
                        )
                        .with_spread(stats.iter().map(|(_, s)| s.sd).collect())
                        .without_markers()
                    };
                    let base = variant.color();
                    let light = plotters::style::RGBColor(
                        ((base.0 as u16 + 255) / 2) as u8,
                        ((base.1 as u16 + 255) / 2) as u8,
                        ((base.2 as u16 + 255) / 2) as u8,
                    );
                    Panel {
                        x_label: "Optimizer step".into(),
                        ..Panel::per_epoch(
                            format!("{}: last hidden layer's ReLU input", variant.title()),
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
        )
    }

    fn notes(&self) -> Vec<String> {
        vec!["The probe is the last hidden layer's input to its ReLU for the first 500 test images (used as a probe only, never for a verdict's selection), computed as a training step sees it: with BatchNorm that is BN's output, normalized with the probe batch's own statistics, so its percentiles start near −1/0/1 by construction. Santurkar et al. (2018) argue that BatchNorm's benefit does not come from reducing this shift; this study only measures it.".into()]
    }
}
