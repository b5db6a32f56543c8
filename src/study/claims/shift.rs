//! "BatchNorm keeps the distribution of a hidden layer's inputs stable during training" (Ioffe
//! & Szegedy 2015, figure 1), measured as internal covariate shift by Santurkar et al.'s
//! Definition 2.1, with Ioffe & Szegedy's percentile drift as a secondary; on the guide's MLP
//! and on Ioffe & Szegedy's own figure 1 network (3 × 100 sigmoid units, batch 60), whose
//! figure is reproduced next to the paper's description.

use super::shared::{
    Claim, FEWER_SEEDS, Figure, Finding, GridPoint, Judgement, Point, Runs, bn_pair, default_scale,
    default_seeds, mean_of_readings,
};

use crate::config::ExperimentConfig;
use crate::model::{Activation, ModelKind};
use crate::report::charts::{Legend, Panel};
use crate::study::kind::{Budget, StudyError};
use crate::study::measures::{covariate_shift, probes};
use crate::study::panels::{mean_over_runs, per_reading, shared_y_range};
use crate::study::runs::{RunOutcome, Scale, Schedule, Schedules};
use crate::study::variant::Variant;
use crate::study::verdict::{Alternative, DIFFERENCE_RULE, Direction, Endpoint, Unit};
use crate::train::ProbePoint;
use crate::train::landscape::ShiftPoint;

pub struct Shift;

/// Probe the hidden layer every this many steps.
pub const PROBE_EVERY: usize = 10;
/// Measure internal covariate shift every this many steps.
pub const SHIFT_EVERY: usize = 25;

/// The grid point of Ioffe & Szegedy's figure 1 network: 3 fully connected hidden layers of 100
/// sigmoid units, batch 60.
pub const SIGMOID_POINT: Point = Point::SigmoidMlp;
const GUIDE: Point = Point::Network(ModelKind::Mlp);
const SIGMOID_WIDTHS: [usize; 3] = [100; 3];
const SIGMOID_BATCH: usize = 60;
/// The paper's 50,000 steps: 50 epochs of MNIST's 60,000 training images at batch 60.
const PAPER_EPOCHS: usize = 50;
/// On the full budget the sigmoid network reads its probes and covariate shift this many times
/// less often: 500 and 200 readings over its 50,000 steps draw the figure as well as 5,000 and
/// 2,000 would, at a tenth of the probing time and of run.json's size.
const PAPER_SPARSER: usize = 10;

/// Mean over the run's readings of cos(G, G′): 1 when the layers below moving changes nothing
/// about the last hidden layer's gradient (NaN for a diverged run).
pub fn gradient_cosine(run: &RunOutcome) -> f64 {
    mean_over_shift(run, ShiftPoint::cosine)
}

/// Mean over the run's readings of ‖G − G′‖, Santurkar et al.'s Definition 2.1 itself: the raw
/// ℓ2 distance (NaN for a diverged run or one without readings).
pub fn gradient_distance(run: &RunOutcome) -> f64 {
    mean_over_shift(run, ShiftPoint::distance)
}

/// Mean over the readings of ‖G − G′‖ / ‖G‖.
pub fn relative_gradient_change(run: &RunOutcome) -> f64 {
    mean_over_shift(run, |p| p.distance() / p.g_sq.sqrt())
}

fn mean_over_shift(run: &RunOutcome, f: fn(&ShiftPoint) -> f64) -> f64 {
    mean_of_readings(run, covariate_shift::of(run).iter().map(f))
}

/// Net displacement of the probed 15th, 50th and 85th percentiles of the last hidden layer's
/// ReLU input from the first reading to the last, averaged, in units of the final 15–85 spread:
/// scale-free and independent of how often the probe reads (NaN for a diverged run or a
/// collapsed spread).
pub fn drift(run: &RunOutcome) -> f64 {
    drift_of(run, |p| Some([p.p15, p.p50, p.p85]))
}

/// The same drift of what enters the layer before anything normalizes it: BatchNorm's input
/// (the linear output) with BN, the ReLU input (the same thing) without.
pub fn input_drift(run: &RunOutcome) -> f64 {
    let has_norm = probes::of(run).iter().any(|p| p.norm_input.is_some());
    let bn_before = run.spec.series == Variant::Bn;
    if bn_before && !has_norm {
        // Probed before bnx recorded BN's input: no value, never BN's output instead.
        return f64::NAN;
    }
    drift_of(run, |p| p.norm_input.or(Some([p.p15, p.p50, p.p85])))
}

fn drift_of(run: &RunOutcome, pick: fn(&ProbePoint) -> Option<[f32; 3]>) -> f64 {
    let readings = probes::of(run);
    let (Some(first), Some(last)) = (
        readings.first().and_then(pick),
        readings.last().and_then(pick),
    ) else {
        return f64::NAN;
    };
    let spread = f64::from(last[2] - last[0]);
    let moved = (0..3)
        .map(|i| f64::from((last[i] - first[i]).abs()))
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
        let mut grid: Vec<GridPoint> = bn_pair(ModelKind::Mlp, GUIDE, base).into();
        grid.extend(
            bn_pair(ModelKind::Mlp, SIGMOID_POINT, base).map(|mut point| {
                point.network.mlp_widths = SIGMOID_WIDTHS.to_vec();
                point.network.activation = Activation::Sigmoid;
                point.batch_size = SIGMOID_BATCH;
                point
            }),
        );
        grid
    }

    fn scale(&self, budget: Budget, point: &GridPoint) -> Scale {
        match (budget, point.point == SIGMOID_POINT) {
            // 1,670 steps at batch 60.
            (Budget::Quick, true) => Scale::new(Some(10_000), None, 10),
            (Budget::Full, true) => Scale::new(None, None, PAPER_EPOCHS),
            _ => default_scale(budget, point.network.model),
        }
    }

    /// The sigmoid network keeps five seeds on every budget: its full-budget runs train 50
    /// epochs, 31 minutes for five seeds on two cores.
    fn seeds(&self, budget: Budget, point: &GridPoint) -> usize {
        if point.point == SIGMOID_POINT {
            FEWER_SEEDS
        } else {
            default_seeds(budget, point.network.model)
        }
    }

    fn measures(&self, budget: Budget, point: &GridPoint) -> Schedules {
        let sparser = if budget == Budget::Full && point.point == SIGMOID_POINT {
            PAPER_SPARSER
        } else {
            1
        };
        Schedules::from([
            (
                probes::ID.into(),
                Schedule::EverySteps(PROBE_EVERY * sparser),
            ),
            (
                covariate_shift::ID.into(),
                Schedule::EverySteps(SHIFT_EVERY * sparser),
            ),
        ])
    }

    fn judge(&self, runs: &Runs) -> Result<Judgement, StudyError> {
        let mut findings = Vec::new();
        let mut secondary = Vec::new();
        for point in runs.points() {
            let pair = |label: &str, direction, measure| {
                runs.bn_vs_plain(
                    format!("{point}: {label}"),
                    point,
                    Unit::Plain,
                    direction,
                    measure,
                )
            };
            let primary = pair(
                "‖G − G′‖",
                Direction::Lower,
                gradient_distance as super::shared::Measure,
            )?;
            let alternative = |name: &str, endpoint: Endpoint| Alternative {
                name: name.into(),
                verdict: endpoint.verdict,
                detail: endpoint.summary(),
            };
            let alternatives = vec![
                alternative(
                    "‖G − G′‖ / ‖G‖ (the distance relative to the gradient's size, which BatchNorm changes)",
                    pair("‖G − G′‖ / ‖G‖", Direction::Lower, relative_gradient_change)?,
                ),
                alternative(
                    "cos(G, G′) (v2's primary: higher = less shift)",
                    pair("cos(G, G′)", Direction::Higher, gradient_cosine)?,
                ),
            ];
            findings.push(Finding {
                scope: point.to_string(),
                primary: "internal covariate shift as Santurkar et al. (2018) define it (Definition 2.1): at the last hidden layer, the ℓ2 distance ‖G − G′‖ between its weight gradient G on the batch and G′, the same gradient after the layers below took the update the optimizer made on that batch; its mean over the run's readings, With BN − No BN (lower = less shift)".into(),
                rule: format!("One endpoint per network, {DIFFERENCE_RULE}."),
                verdict: primary.verdict,
                endpoints: vec![primary],
                alternatives,
                note: None,
            });
            secondary.extend([
                pair(
                    "drift of the probed percentiles (Ioffe & Szegedy)",
                    Direction::Lower,
                    drift,
                )?,
                pair(
                    "drift of the layer's input before normalization (BN's input)",
                    Direction::Lower,
                    input_drift,
                )?,
            ]);
        }
        Ok(Judgement {
            findings,
            secondary,
            table: runs.means_table("Network", "mean ‖G − G′‖", gradient_distance, Unit::Plain),
        })
    }

    fn panels(&self, runs: &Runs) -> Vec<Panel> {
        let mut panels = probe_panels(runs, GUIDE);
        for point in runs.points() {
            let cosine = per_reading(
                runs,
                point,
                |v| v.title().to_string(),
                false,
                |run| {
                    covariate_shift::of(run)
                        .iter()
                        .map(|p| (p.step as f64, p.cosine()))
                        .collect()
                },
            );
            panels.push(Panel {
                x_label: "Optimizer step".into(),
                ..Panel::per_epoch(
                    format!("{point}: cos(G, G′)"),
                    "cos(G, G′), last hidden layer (1 = no shift)",
                    cosine,
                    Legend::Auto,
                )
            });
        }
        panels
    }

    fn figures(&self, runs: &Runs) -> Vec<Figure> {
        if runs.of(Variant::NoBn, SIGMOID_POINT).is_empty() {
            return Vec::new();
        }
        let accuracy = per_reading(
            runs,
            SIGMOID_POINT,
            |v| v.title().to_string(),
            false,
            |run| {
                run.epochs
                    .iter()
                    .map(|e| ((e.epoch * run.steps_per_epoch) as f64, 100.0 * e.val_acc))
                    .collect()
            },
        );
        let mut panels = vec![Panel {
            x_label: "Optimizer step".into(),
            ..Panel::per_epoch(
                "(a) Test accuracy",
                "Test accuracy (%)",
                accuracy,
                Legend::Auto,
            )
        }];
        let unit_input = |variant: Variant, letter: &str| {
            percentile_panel(
                runs,
                variant,
                SIGMOID_POINT,
                format!("({letter}) {}: one sigmoid's input", variant.title()),
                |p| p.unit,
            )
        };
        panels.extend(shared_y_range(vec![
            unit_input(Variant::NoBn, "b"),
            unit_input(Variant::Bn, "c"),
        ]));
        vec![Figure {
            name: "ioffe-szegedy-fig1",
            title: "Ioffe & Szegedy (2015), figure 1, reproduced".into(),
            description: format!(
                "Ioffe & Szegedy: \"(a) The test accuracy of the MNIST network trained with and without Batch Normalization, vs. the number of training steps. Batch Normalization helps the network train faster and achieve higher accuracy. (b, c) The evolution of input distributions to a typical sigmoid, over the course of training, shown as {{15, 50, 85}}th percentiles. Batch Normalization makes the distribution more stable and reduces the internal covariate shift.\" Their network: 3 fully connected hidden layers of 100 sigmoid units, trained with batch 60 for 50,000 steps. bnx's: the same layers with Glorot-uniform weights and Adam (learning rate as the study's), the full budget's {PAPER_EPOCHS} epochs of MNIST at batch {SIGMOID_BATCH} being their 50,000 steps (the quick budget trains 1,670); (a) is the accuracy on the test split after each epoch, (b, c) the percentiles of the first unit of the last hidden layer's sigmoid input over the first 500 test images (with BatchNorm, the normalized and shifted value the sigmoid receives), mean over seeds ± sd."
            ),
            panels,
        }]
    }

    fn notes(&self) -> Vec<String> {
        vec![format!(
            "Internal covariate shift follows Santurkar et al.'s Definition 2.1: G is the gradient of the last hidden layer's weights on the batch a step takes, G′ the same gradient with the layers below replaced by their values after that step (Adam's actual update), both in training mode on copies of the network; bnx reads it every {SHIFT_EVERY} steps ({} on the full budget's sigmoid network) and keeps ‖G‖², ‖G′‖² and G·G′ in run.json. Santurkar et al. report that BatchNorm does not reduce this shift. The raw distance scales with the size of the gradient, which BatchNorm changes, so the verdict is shown again with ‖G − G′‖ / ‖G‖ and cos(G, G′), which do not. The percentile probe (secondary, Ioffe & Szegedy's figure 1) is the last hidden layer's input to its activation for the first 500 test images (a probe only, never used for selection), computed as a training step sees it: with BatchNorm that is BN's output, normalized with the probe batch's own statistics, so its percentiles start near −1/0/1 by construction; drift = the net displacement of the 15th, 50th and 85th percentiles from first to last reading, averaged, in final 15–85 spreads. The sigmoid network is Ioffe & Szegedy's (3 × 100 sigmoid units, batch 60) with Adam at the guide's learning rate where they used plain stochastic gradient descent.",
            SHIFT_EVERY * PAPER_SPARSER
        )]
    }
}

/// The whole layer's percentiles per variant at `point`, on one y range, and BN's input.
fn probe_panels(runs: &Runs, point: Point) -> Vec<Panel> {
    let mut panels = shared_y_range(
        runs.variants()
            .into_iter()
            .map(|variant| {
                percentile_panel(
                    runs,
                    variant,
                    point,
                    format!("{point}, {}: ReLU input", variant.title()),
                    |p| Some([p.p15, p.p50, p.p85]),
                )
            })
            .collect(),
    );
    if runs.variants().contains(&Variant::Bn) {
        panels.push(percentile_panel(
            runs,
            Variant::Bn,
            point,
            format!("{point}, With BN: BN's input"),
            |p| p.norm_input,
        ));
    }
    panels
}

/// The 15th, 50th and 85th percentiles that `pick` reads from each probe, mean over the
/// variant's runs at `point` ± sd, against the step.
fn percentile_panel(
    runs: &Runs,
    variant: Variant,
    point: Point,
    title: String,
    pick: fn(&ProbePoint) -> Option<[f32; 3]>,
) -> Panel {
    let base = variant.color();
    let light = plotters::style::RGBColor(
        ((base.0 as u16 + 255) / 2) as u8,
        ((base.1 as u16 + 255) / 2) as u8,
        ((base.2 as u16 + 255) / 2) as u8,
    );
    let of: Vec<&RunOutcome> = runs
        .of(variant, point)
        .into_iter()
        .filter(|o| o.diverged.is_none())
        .collect();
    let curves = [
        (2, "85th percentile", light),
        (1, "50th percentile", base),
        (0, "15th percentile", light),
    ]
    .into_iter()
    .map(|(i, label, color)| {
        let readings: Vec<Vec<(f64, f64)>> = of
            .iter()
            .map(|o| {
                probes::of(o)
                    .iter()
                    .filter_map(|p| Some((p.step as f64, f64::from(pick(p)?[i]))))
                    .collect()
            })
            .collect();
        mean_over_runs(label, color, &readings)
    })
    .collect();
    Panel {
        x_label: "Optimizer step".into(),
        ..Panel::per_epoch(title, "Pre-activation value", curves, Legend::Auto)
    }
}
