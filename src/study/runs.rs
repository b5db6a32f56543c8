//! One run of a study: what it trains (`RunSpec`), what else decides it (`RunContext`) and what
//! it measured (`RunOutcome`, kept as `run.json`).

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::CHANCE_ACCURACY;
use super::variant::Variant;
use crate::config::ExperimentConfig;
use crate::data::LoadedData;
use crate::model::ModelKind;
use crate::runtime::{Backend, BackendKind};
use crate::train::hooks::RunningVariances;
use crate::train::landscape::{LandscapePoint, ShiftPoint};
use crate::train::{EpochMetrics, ProbePoint};

/// The data and epochs of one run: the first `limit_train` / `limit_test` samples.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Scale {
    pub limit_train: Option<usize>,
    pub limit_test: Option<usize>,
    pub epochs: usize,
}

impl Scale {
    pub const fn new(limit_train: Option<usize>, limit_test: Option<usize>, epochs: usize) -> Self {
        Self {
            limit_train,
            limit_test,
            epochs,
        }
    }
}

/// One run of a study's grid.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunSpec {
    /// The curve this run belongs to.
    pub series: Variant,
    /// The grid point, e.g. "lr 0.01", "batch 4", "MLP".
    pub point: String,
    /// The grid point's value on the chart's x axis (0 where there is no axis).
    pub x: f64,
    /// Everything the run trains with, as `bnx train` would resolve it; the run's
    /// `config.json` holds exactly this.
    pub config: ExperimentConfig,
    /// Record hidden-layer percentiles every this many steps (the shift study).
    pub probe_every: Option<usize>,
    /// Keep every step's training loss (the smoothness study).
    pub record_steps: bool,
    /// Read the loss landscape along the gradient every this many steps (Santurkar et al.).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub landscape_every: Option<usize>,
    /// Measure internal covariate shift (Santurkar et al., Definition 2.1) every this many steps.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shift_every: Option<usize>,
}

impl RunSpec {
    /// `<series>/<point>/seed-<seed>`, in lower-case words joined by dashes.
    pub fn dir(&self) -> PathBuf {
        PathBuf::from(self.series.name())
            .join(slug(&self.point))
            .join(format!("seed-{}", self.seed()))
    }

    pub fn model(&self) -> ModelKind {
        self.config.network.model
    }

    pub fn seed(&self) -> u64 {
        self.config.training.seed
    }

    /// The run's data and epochs.
    pub fn scale(&self) -> Scale {
        Scale {
            limit_train: self.config.data.limit_train,
            limit_test: self.config.data.limit_test,
            epochs: self.config.training.epochs,
        }
    }
}

fn slug(text: &str) -> String {
    let mut out = String::new();
    for c in text.chars() {
        if c.is_ascii_alphanumeric() || c == '.' {
            out.push(c.to_ascii_lowercase());
        } else if !out.ends_with('-') && !out.is_empty() {
            out.push('-');
        }
    }
    out.trim_end_matches('-').to_string()
}

/// What else decides a run besides its spec: an earlier `run.json` is reused only when all
/// of it matches.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunContext {
    /// SHA-256 naming the dataset's four files.
    pub dataset_sha256: String,
    /// The backend that runs (what `auto` chose).
    pub backend: BackendKind,
    pub bnx_version: String,
    /// FTZ/DAZ on the CPU compute threads.
    pub flush_subnormals: bool,
}

impl RunContext {
    pub(super) fn of(backend: &Backend, data: &LoadedData) -> Self {
        Self {
            dataset_sha256: data.provenance.sha256.clone(),
            backend: backend.kind,
            bnx_version: env!("CARGO_PKG_VERSION").into(),
            flush_subnormals: backend.flush_subnormals,
        }
    }
}

#[cfg(test)]
impl RunOutcome {
    /// A run of `spec` that diverged before its first epoch, for tests.
    pub fn diverged_for_tests(spec: RunSpec) -> Self {
        Self {
            spec,
            context: RunContext::for_tests(),
            epochs: Vec::new(),
            diverged: Some("training diverged".into()),
            train_subset_acc: Vec::new(),
            bn_running_var: Vec::new(),
            recalibrated: Vec::new(),
            step_losses: Vec::new(),
            probes: Vec::new(),
            landscape: Vec::new(),
            covariate_shift: Vec::new(),
            steps_per_epoch: 0,
            seconds: 0.0,
        }
    }
}

#[cfg(test)]
impl RunContext {
    /// A context for synthetic runs in tests.
    pub fn for_tests() -> Self {
        Self {
            dataset_sha256: String::new(),
            backend: BackendKind::Flex,
            bnx_version: String::new(),
            flush_subnormals: true,
        }
    }
}

/// One finished run, as `run.json` keeps it next to the run's `metrics.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunOutcome {
    pub spec: RunSpec,
    pub context: RunContext,
    pub epochs: Vec<EpochMetrics>,
    /// Why the run stopped early (a non-finite loss), if it did.
    pub diverged: Option<String>,
    /// After each epoch, accuracy in inference mode on the first training samples (as many
    /// as the test split has, at most all): the training side of the generalization gap.
    pub train_subset_acc: Vec<f64>,
    /// After each epoch, every BatchNorm layer's running variances, per channel (raw: the
    /// report derives how stale they were).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub bn_running_var: Vec<RunningVariances>,
    /// After each epoch, the two accuracies again with BatchNorm statistics recomputed over the
    /// training data (`train::recalibrate`; empty without BatchNorm): the sensitivity check.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub recalibrated: Vec<Recalibrated>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub step_losses: Vec<f32>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub probes: Vec<ProbePoint>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub landscape: Vec<LandscapePoint>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub covariate_shift: Vec<ShiftPoint>,
    /// Optimizer steps per epoch, to put epoch-wise accuracies on a step axis (0 in runs
    /// recorded before bnx kept it).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub steps_per_epoch: usize,
    pub seconds: f64,
}

fn is_zero(n: &usize) -> bool {
    *n == 0
}

/// One epoch's accuracies with recalibrated BatchNorm statistics.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Recalibrated {
    pub val_acc: f64,
    pub train_subset_acc: f64,
}

impl RunOutcome {
    /// This run as if validated with recalibrated BatchNorm statistics (itself without them).
    pub fn recalibrated_view(&self) -> Self {
        let mut run = self.clone();
        for (i, r) in self.recalibrated.iter().enumerate() {
            if let Some(epoch) = run.epochs.get_mut(i) {
                epoch.val_acc = r.val_acc;
            }
            if let Some(acc) = run.train_subset_acc.get_mut(i) {
                *acc = r.train_subset_acc;
            }
        }
        run
    }

    /// Final validation accuracy; chance level for a diverged run.
    pub fn final_val_acc(&self) -> f64 {
        match (&self.diverged, self.epochs.last()) {
            (None, Some(last)) => last.val_acc,
            _ => CHANCE_ACCURACY,
        }
    }

    /// Inference-mode accuracy on the training subset after the last epoch (NaN if diverged).
    pub fn final_train_subset_acc(&self) -> f64 {
        match (&self.diverged, self.train_subset_acc.last()) {
            (None, Some(acc)) => *acc,
            _ => f64::NAN,
        }
    }

    /// Validation accuracy after `epoch` (1-based); chance once the run has diverged.
    pub fn val_acc_at(&self, epoch: usize) -> f64 {
        self.epochs
            .get(epoch - 1)
            .map_or(CHANCE_ACCURACY, |e| e.val_acc)
    }
}
