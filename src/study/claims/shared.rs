//! What every claim builds on: the [`Claim`] trait, grid points, findings and judgements, the
//! per-run measures most claims share, and the claims' grids.

use serde::{Deserialize, Serialize};

use crate::config::ExperimentConfig;
use crate::model::{ModelKind, NetworkConfig, NormKind};
use crate::report::Table;
use crate::report::charts::Panel;
use crate::study::kind::{Budget, CHANCE_ACCURACY, StudyError};
pub use crate::study::lookup::{Measure, Runs, SeedRuns, final_accuracy, mean_of_readings};
use crate::study::measures::train_subset;
pub use crate::study::point::Point;
use crate::study::runs::{RunOutcome, Scale, Schedules};
use crate::study::variant::Variant;
use crate::study::verdict::{Alternative, Endpoint, Inconclusive, Verdict};

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
    /// The seeds `point` trains under `budget` when `--seeds` does not say.
    fn seeds(&self, budget: Budget, point: &GridPoint) -> usize {
        default_seeds(budget, point.network.model)
    }
    /// What the runs at `point` measure besides what every run does (`measures::EVERY_RUN`),
    /// by measure id.
    fn measures(&self, _budget: Budget, _point: &GridPoint) -> Schedules {
        Schedules::new()
    }
    /// The primary endpoints, judged by the rule each finding states, and the secondaries.
    fn judge(&self, runs: &Runs) -> Result<Judgement, StudyError>;
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
    pub point: Point,
    pub network: NetworkConfig,
    pub learning_rate: f64,
    pub batch_size: usize,
}

impl GridPoint {
    /// `variant` of the guide's `model` at `base`'s learning rate and batch size.
    pub fn guide(
        variant: Variant,
        model: ModelKind,
        point: Point,
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
            point,
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

/// Seeds per grid point, declared before the runs they decide (evidence v3). Five everywhere,
/// except the full budget's MLP runs: ten, so that the exact sign-flip test can reach p < 0.05
/// (its smallest two-sided p is 2 / 2ⁿ: 0.0625 with five seeds, 0.002 with ten) and the minimum
/// detectable effect shrinks by more than half (d_z 1.68 → 1.00); those runs cost about an hour
/// more in all on two cores. The quick budget stays at five so that `study all` stays near 20
/// minutes; the full budget's CNN runs (4–7 min each) stay at five, and so do grid points whose
/// runs cost more still (`batch`, `shift`'s 50-epoch sigmoid network), each saying so.
pub fn default_seeds(budget: Budget, model: ModelKind) -> usize {
    match (budget, model) {
        (Budget::Full, ModelKind::Mlp) => 10,
        _ => FEWER_SEEDS,
    }
}

/// The seeds of runs too costly for ten.
pub const FEWER_SEEDS: usize = 5;

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
    /// The verdict under each declared alternative (another test, measure or validation).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub alternatives: Vec<Alternative>,
}

impl Finding {
    /// Each endpoint's result in words: "+0.23 pp [+0.05, +0.40], n = 5, p = 0.021", prefixed
    /// with its label when the family has several.
    pub fn results(&self) -> Vec<String> {
        self.endpoints
            .iter()
            .map(|e| match self.endpoints.len() {
                1 => e.summary(),
                _ => format!("{}: {}", e.label, e.summary()),
            })
            .collect()
    }

    /// The alternatives whose verdict differs from this finding's.
    pub fn disagreeing(&self) -> impl Iterator<Item = &Alternative> {
        self.alternatives
            .iter()
            .filter(|a| a.verdict != self.verdict)
    }

    /// Why an inconclusive finding is inconclusive: underpowered if any endpoint is, equivalent
    /// if every endpoint is, undecided otherwise.
    pub fn inconclusive(&self) -> Option<Inconclusive> {
        if self.verdict != Verdict::Inconclusive {
            return None;
        }
        let readings: Vec<Inconclusive> = self
            .endpoints
            .iter()
            .filter_map(|e| e.inconclusive)
            .collect();
        Some(if readings.contains(&Inconclusive::Underpowered) {
            Inconclusive::Underpowered
        } else if !readings.is_empty() && readings.iter().all(|r| *r == Inconclusive::Equivalent) {
            Inconclusive::Equivalent
        } else {
            Inconclusive::Undecided
        })
    }
}

/// Inference-mode accuracy on the fixed training subset after the last epoch (never the test
/// split): how far optimization got; chance for a diverged run.
pub fn training_accuracy(run: &RunOutcome) -> f64 {
    if run.diverged.is_some() {
        CHANCE_ACCURACY
    } else {
        train_subset::final_accuracy(run)
    }
}

/// The claims' grids, for the plan and for tests.
pub const LEARNING_RATES: [f64; 7] = [1e-4, 3e-4, 1e-3, 3e-3, 1e-2, 3e-2, 1e-1];
pub const INIT_SCALES: [f64; 6] = [0.01, 0.1, 0.3, 1.0, 3.0, 10.0];
pub const BATCH_SIZES: [usize; 6] = [2, 4, 8, 16, 32, 128];
pub const DEPTHS: [usize; 4] = [2, 4, 8, 16];

/// The BN / no-BN pair of the guide's `model` at one grid point.
pub fn bn_pair(model: ModelKind, point: Point, base: &ExperimentConfig) -> [GridPoint; 2] {
    [
        GridPoint::guide(Variant::NoBn, model, point, base),
        GridPoint::guide(Variant::Bn, model, point, base),
    ]
}
