//! One file per claim of the guide. Each implements [`Claim`]: its words, its grid per budget,
//! its primary endpoints and how they are judged (declared here, in code, before any run), its
//! secondary endpoints (reported, never voting) and its chart. Adding a study is one file here
//! plus its line in [`StudyKind`] and [`claim`].

mod batch;
mod convergence;
mod depth;
mod init;
mod lr;
mod noise;
mod position;
mod regularization;
mod shift;
mod smoothness;

use serde::{Deserialize, Serialize};

use super::runs::{RunOutcome, Scale};
use super::variant::Variant;
use super::verdict::{Direction, Endpoint, Unit, Verdict, judged_alone};
use super::{Budget, StudyKind};
use crate::config::ExperimentConfig;
use crate::model::{ModelKind, NetworkConfig, NormKind};
use crate::report::Table;
use crate::report::charts::Panel;
use crate::report::stats::Spread;

/// The claim behind a study.
pub fn claim(kind: StudyKind) -> &'static dyn Claim {
    match kind {
        StudyKind::Convergence => &convergence::Convergence,
        StudyKind::Lr => &lr::LearningRate,
        StudyKind::Init => &init::Initialization,
        StudyKind::Batch => &batch::BatchSize,
        StudyKind::Position => &position::Position,
        StudyKind::Depth => &depth::Depth,
        StudyKind::Regularization => &regularization::Regularization,
        StudyKind::Smoothness => &smoothness::Smoothness,
        StudyKind::Shift => &shift::Shift,
        StudyKind::Noise => &noise::NoisyBatchNorm,
    }
}

/// One claim of the guide, tested.
pub trait Claim: Sync {
    fn title(&self) -> &'static str;
    /// The claim, in the guide's words.
    fn claim(&self) -> &'static str;
    /// Every (variant, grid point) the study trains under `budget`, seeds aside.
    fn grid(&self, budget: Budget, base: &ExperimentConfig) -> Vec<GridPoint>;
    /// The data and epochs of a run at `point` under `budget`.
    fn scale(&self, budget: Budget, point: &GridPoint) -> Scale {
        default_scale(budget, point.network.model)
    }
    /// What the runs at `point` record beyond their epochs.
    fn records(&self, _budget: Budget, _point: &GridPoint) -> Records {
        Records::default()
    }
    /// The primary endpoints, judged by the rule each finding states, and the secondaries.
    fn judge(&self, runs: &Runs) -> Judgement;
    /// The study's chart.
    fn panels(&self, runs: &Runs) -> Vec<Panel>;
    /// Further charts, each shown in the report with what it reproduces.
    fn figures(&self, _runs: &Runs) -> Vec<Figure> {
        Vec::new()
    }
    /// How to read the study's measures.
    fn notes(&self) -> Vec<String> {
        Vec::new()
    }
}

/// One (variant, grid point) of a study.
#[derive(Debug, Clone)]
pub struct GridPoint {
    pub variant: Variant,
    /// E.g. "lr 0.01", "batch 4", "MLP".
    pub point: String,
    /// The point's value on the chart's x axis (0 where there is no axis).
    pub x: f64,
    pub network: NetworkConfig,
    pub learning_rate: f64,
    pub batch_size: usize,
}

impl GridPoint {
    /// `variant` of the guide's `model` at `base`'s learning rate and batch size.
    pub fn guide(
        variant: Variant,
        model: ModelKind,
        point: impl Into<String>,
        x: f64,
        base: &ExperimentConfig,
    ) -> Self {
        let norm = match variant {
            Variant::NoBn => NormKind::None,
            Variant::Bn | Variant::BnAfter | Variant::NoisyBn => NormKind::Batch,
            Variant::LayerNorm => NormKind::Layer,
            Variant::GroupNorm => NormKind::Group,
        };
        let mut network = NetworkConfig {
            norm_settings: base.network.norm_settings,
            ..NetworkConfig::guide(model, false).with_norm(norm)
        };
        if variant == Variant::BnAfter {
            network.position = crate::model::NormPosition::After;
        }
        if variant == Variant::NoisyBn {
            network.norm_noise = Some(crate::model::NormNoise::default());
        }
        Self {
            variant,
            point: point.into(),
            x,
            network,
            learning_rate: base.training.learning_rate,
            batch_size: base.training.batch_size,
        }
    }
}

/// A chart beyond the study's own, e.g. a paper's figure reproduced.
pub struct Figure {
    /// File name without extension, e.g. "ioffe-szegedy-fig1".
    pub name: &'static str,
    pub title: String,
    /// What the figure reproduces and how to read it, shown above it in the report.
    pub description: String,
    pub panels: Vec<Panel>,
}

/// Per-step quantities a study's runs keep in `run.json`.
#[derive(Debug, Clone, Copy, Default)]
pub struct Records {
    /// Hidden-layer percentiles every this many steps.
    pub probe_every: Option<usize>,
    /// Every step's training loss.
    pub step_losses: bool,
    /// Santurkar et al.'s loss landscape every this many steps.
    pub landscape_every: Option<usize>,
    /// Santurkar et al.'s internal covariate shift every this many steps.
    pub shift_every: Option<usize>,
}

/// Quick: 10,000 training samples, 3 epochs (the CNN validates on 2,000 test samples: it costs
/// ~35× the MLP per sample on a CPU, and fewer than ~900 steps leave BatchNorm's first conv
/// layer validating with a running variance still mostly its initial 1). Full: all of MNIST,
/// 5 epochs. Tiny: the data given, 2 epochs.
pub fn default_scale(budget: Budget, model: ModelKind) -> Scale {
    match (budget, model) {
        (Budget::Tiny, _) => Scale::new(None, None, 2),
        (Budget::Quick, ModelKind::Cnn) => Scale::new(Some(10_000), Some(2_000), 3),
        (Budget::Quick, ModelKind::Mlp) => Scale::new(Some(10_000), None, 3),
        (Budget::Full, _) => Scale::new(None, None, 5),
    }
}

/// What a claim's judge returns.
#[derive(Debug, Clone)]
pub struct Judgement {
    pub findings: Vec<Finding>,
    /// Reported with their tests; never part of a verdict.
    pub secondary: Vec<Endpoint>,
    /// Per-variant means, for the reader.
    pub table: Table,
}

/// One verdict of a claim: its primary endpoint (a family of grid points), the rule and result.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Finding {
    /// Which part of the claim, e.g. "MLP" (empty when the claim has one finding).
    pub scope: String,
    /// The primary endpoint, in words.
    pub primary: String,
    pub rule: String,
    pub endpoints: Vec<Endpoint>,
    pub verdict: Verdict,
    /// Why the family is empty or what qualified it, where that needs saying.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// A study's runs, looked up by variant, grid point and seed.
pub struct Runs<'a> {
    pub all: &'a [RunOutcome],
}

impl<'a> Runs<'a> {
    pub fn new(all: &'a [RunOutcome]) -> Self {
        Self { all }
    }

    pub fn get(&self, variant: Variant, point: &str, seed: u64) -> Option<&'a RunOutcome> {
        self.all
            .iter()
            .find(|o| o.spec.series == variant && o.spec.point == point && o.spec.seed() == seed)
    }

    /// Every run of one (variant, point).
    pub fn of(&self, variant: Variant, point: &str) -> Vec<&'a RunOutcome> {
        self.all
            .iter()
            .filter(|o| o.spec.series == variant && o.spec.point == point)
            .collect()
    }

    pub fn seeds(&self) -> Vec<u64> {
        let mut seeds: Vec<u64> = self.all.iter().map(|o| o.spec.seed()).collect();
        seeds.sort_unstable();
        seeds.dedup();
        seeds
    }

    /// Grid points in plan order, with their x values.
    pub fn points(&self) -> Vec<(String, f64)> {
        let mut seen: Vec<(String, f64)> = Vec::new();
        for o in self.all {
            if !seen.iter().any(|(p, _)| *p == o.spec.point) {
                seen.push((o.spec.point.clone(), o.spec.x));
            }
        }
        seen
    }

    pub fn variants(&self) -> Vec<Variant> {
        let mut seen: Vec<Variant> = Vec::new();
        for o in self.all {
            if !seen.contains(&o.spec.series) {
                seen.push(o.spec.series);
            }
        }
        seen
    }

    /// Mean ± sd over seeds of `measure` at one (variant, point); NaN values (failed runs
    /// where the measure has no value) are left out of this descriptive number only.
    pub fn spread(&self, variant: Variant, point: &str, measure: Measure) -> Option<Spread> {
        let values: Vec<f64> = self
            .of(variant, point)
            .into_iter()
            .map(measure)
            .filter(|v| v.is_finite())
            .collect();
        (!values.is_empty()).then(|| Spread::of(&values))
    }

    /// A paired endpoint from a per-seed computation over the runs it `needs`: a seed missing
    /// any of them is left out (the grid is incomplete there); each diverged run is counted.
    pub fn endpoint(
        &self,
        label: impl Into<String>,
        unit: Unit,
        direction: Direction,
        needs: &[(Variant, &str)],
        difference: impl Fn(&SeedRuns) -> f64,
    ) -> Endpoint {
        let mut per_seed = Vec::new();
        let mut failed = 0;
        for seed in self.seeds() {
            let found: Option<Vec<&RunOutcome>> = needs
                .iter()
                .map(|(variant, point)| self.get(*variant, point, seed))
                .collect();
            let Some(found) = found else { continue };
            failed += found.iter().filter(|o| o.diverged.is_some()).count();
            per_seed.push((seed, difference(&SeedRuns { runs: self, seed })));
        }
        Endpoint::new(label, unit, direction, per_seed, failed)
    }

    /// `measure(claim side) − measure(other side)` per seed.
    pub fn paired(
        &self,
        label: impl Into<String>,
        unit: Unit,
        direction: Direction,
        claim_side: (Variant, &str),
        other_side: (Variant, &str),
        measure: Measure,
    ) -> Endpoint {
        self.endpoint(label, unit, direction, &[claim_side, other_side], |run| {
            measure(run.get(claim_side.0, claim_side.1))
                - measure(run.get(other_side.0, other_side.1))
        })
    }

    /// `measure` With BN − No BN at `point`, judged on its own: a one-endpoint finding or a
    /// secondary.
    pub fn bn_vs_plain(
        &self,
        label: impl Into<String>,
        point: &str,
        unit: Unit,
        direction: Direction,
        measure: Measure,
    ) -> Endpoint {
        judged_alone(self.paired(
            label,
            unit,
            direction,
            (Variant::Bn, point),
            (Variant::NoBn, point),
            measure,
        ))
    }

    /// Final validation accuracy With BN − No BN at `point`: the secondary every sweep reports
    /// per grid point.
    pub fn bn_effect(&self, point: &str) -> Endpoint {
        self.bn_vs_plain(
            point,
            point,
            Unit::Points,
            Direction::Higher,
            final_accuracy,
        )
    }

    /// A table of mean ± sd per grid point (rows) and variant (columns).
    pub fn means_table(&self, first: &str, what: &str, measure: Measure, unit: Unit) -> Table {
        let variants = self.variants();
        let mut headers = vec![first.to_string()];
        headers.extend(variants.iter().map(|v| format!("{} {what}", v.title())));
        let scale = unit.scale();
        let rows = self
            .points()
            .into_iter()
            .map(|(point, _)| {
                let mut row = vec![point.clone()];
                row.extend(variants.iter().map(|&v| {
                    self.spread(v, &point, measure).map_or("–".into(), |s| {
                        let digits = if unit == Unit::Plain { 4 } else { 2 };
                        format!("{:.digits$} ± {:.digits$}", scale * s.mean, scale * s.sd)
                    })
                }));
                row
            })
            .collect();
        Table {
            headers,
            rows,
            align: Vec::new(),
        }
        .numeric()
    }
}

/// One seed's runs, for a per-seed difference.
pub struct SeedRuns<'r, 'a> {
    runs: &'r Runs<'a>,
    seed: u64,
}

impl<'a> SeedRuns<'_, 'a> {
    /// The run of `variant` at `point`; `Runs::endpoint` checked that it exists.
    pub fn get(&self, variant: Variant, point: &str) -> &'a RunOutcome {
        self.runs
            .get(variant, point, self.seed)
            .expect("an endpoint looks up only the runs it needs")
    }
}

/// A per-run measure. Accuracy measures score a diverged run at chance (a network with NaN
/// weights guesses); measures with no meaningful value for it return NaN, which makes every
/// endpoint that needs the run inconclusive.
pub type Measure = fn(&RunOutcome) -> f64;

pub fn final_accuracy(run: &RunOutcome) -> f64 {
    run.final_val_acc()
}

/// Inference-mode accuracy on the fixed training subset after the last epoch (never the test
/// split): how far optimization got; chance for a diverged run.
pub fn training_accuracy(run: &RunOutcome) -> f64 {
    if run.diverged.is_some() {
        super::CHANCE_ACCURACY
    } else {
        run.final_train_subset_acc()
    }
}

/// The mean of a run's finite readings; NaN for a diverged run or one without readings.
pub fn mean_of_readings(run: &RunOutcome, readings: impl Iterator<Item = f64>) -> f64 {
    let values: Vec<f64> = readings.filter(|v| v.is_finite()).collect();
    if run.diverged.is_some() || values.is_empty() {
        return f64::NAN;
    }
    values.iter().sum::<f64>() / values.len() as f64
}

/// The claims' grids, for the plan and for tests.
pub const LEARNING_RATES: [f64; 7] = [1e-4, 3e-4, 1e-3, 3e-3, 1e-2, 3e-2, 1e-1];
pub const INIT_SCALES: [f64; 6] = [0.01, 0.1, 0.3, 1.0, 3.0, 10.0];
pub const BATCH_SIZES: [usize; 6] = [2, 4, 8, 16, 32, 128];
pub const DEPTHS: [usize; 4] = [2, 4, 8, 16];

/// The BN / no-BN pair of the guide's `model` at one grid point.
pub fn bn_pair(model: ModelKind, point: &str, x: f64, base: &ExperimentConfig) -> [GridPoint; 2] {
    [
        GridPoint::guide(Variant::NoBn, model, point, x, base),
        GridPoint::guide(Variant::Bn, model, point, x, base),
    ]
}

pub fn model_point(model: ModelKind) -> String {
    model.name().to_uppercase()
}

#[cfg(test)]
pub(crate) mod testing;
