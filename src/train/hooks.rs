//! What the training loop tells the rest of bnx, and the measurements that listen: a [`Hook`]
//! sees every step, every read-back of losses and every epoch's end. The loop knows none of
//! them; checkpoints, probes, step losses, BatchNorm variance shares and `metrics.json` (in
//! `experiment`) all plug in here.

use std::path::{Path, PathBuf};

use burn::prelude::*;
use serde::{Deserialize, Serialize};

use super::epoch::EpochMetrics;
use super::error::TrainError;
use super::evaluate::{eval_loader, evaluate};
use super::state::{STATE_FILE, StateHeader, TrainingState};
use super::trainer::Trainer;
use crate::data::{ImageBatch, ImageSet};
use crate::model::Network;
use crate::runtime::{Progress, write_atomic};

/// Called by `fit` as training goes; every method defaults to doing nothing. `Send`, because a
/// run trains on a thread pool of its own (`runtime::threads`).
pub trait Hook: Send {
    /// Once, before the first step, with the initial weights.
    fn on_start(&mut self, _model: &Network) -> Result<(), TrainError> {
        Ok(())
    }

    /// Instead of `on_start` when a run continues from a saved state, with the epochs it had
    /// completed and the steps it had taken.
    fn on_resume(&mut self, _completed: &[EpochMetrics], _steps_done: usize) {}

    /// Before every optimizer step, with the batch it will take; `steps_done` counts the steps
    /// taken so far.
    fn before_step(
        &mut self,
        _model: &Network,
        _batch: &ImageBatch,
        _steps_done: usize,
    ) -> Result<(), TrainError> {
        Ok(())
    }

    /// After every optimizer step; `steps_done` counts steps over the whole run. Nothing has
    /// been read back from the device yet.
    fn on_step(&mut self, _model: &Network, _steps_done: usize) -> Result<(), TrainError> {
        Ok(())
    }

    /// When the losses of the steps since the last read-back come back from the device (every
    /// few steps and at the end of each epoch), in step order.
    fn on_readback(&mut self, _losses: &[f32]) {}

    /// After each epoch's validation. A hook may change the model through `trainer`; the next
    /// epoch trains what it leaves.
    fn on_epoch(
        &mut self,
        _trainer: &mut Trainer,
        _metrics: &EpochMetrics,
        _steps_done: usize,
    ) -> Result<(), TrainError> {
        Ok(())
    }
}

/// Every step's training loss, in order.
#[derive(Debug, Default)]
pub struct StepLosses(pub Vec<f32>);

impl Hook for StepLosses {
    fn on_readback(&mut self, losses: &[f32]) {
        self.0.extend_from_slice(losses);
    }
}

/// Writes the model's parameters and BatchNorm running statistics (`model.bpk`) after every
/// epoch, atomically.
pub struct Checkpoint {
    pub path: PathBuf,
}

impl Hook for Checkpoint {
    fn on_epoch(
        &mut self,
        trainer: &mut Trainer,
        _metrics: &EpochMetrics,
        _steps_done: usize,
    ) -> Result<(), TrainError> {
        save_checkpoint(trainer.model(), &self.path)
    }
}

/// Writes the run's [`TrainingState`] after every epoch.
pub struct SaveState {
    pub dir: PathBuf,
    pub settings_hash: String,
}

impl Hook for SaveState {
    fn on_epoch(
        &mut self,
        trainer: &mut Trainer,
        _metrics: &EpochMetrics,
        steps_done: usize,
    ) -> Result<(), TrainError> {
        let (model, optimizer) = trainer.state_records()?;
        let state = TrainingState {
            header: StateHeader::new(self.settings_hash.clone(), steps_done, trainer.completed()),
            model,
            optimizer,
        };
        write_atomic(&self.dir.join(STATE_FILE), &state.to_bytes())?;
        Ok(())
    }
}

/// Writes a model's parameters and BN running statistics as a burnpack file, atomically.
pub fn save_checkpoint(model: &Network, path: &Path) -> Result<(), TrainError> {
    let bytes =
        model
            .valid()
            .into_record()
            .into_bytes()
            .map_err(|e| TrainError::CheckpointEncode {
                path: path.into(),
                message: e.to_string(),
            })?;
    write_atomic(path, &bytes)?;
    Ok(())
}

/// A fixed batch fed, every `every` steps, through MLP hidden layer `layer` (0-based) to record
/// the 15th, 50th and 85th percentiles of its activation's inputs, over the whole layer and for
/// its first unit alone (Ioffe & Szegedy 2015, figure 1, plots one sigmoid's).
pub struct Probe {
    /// `[n, 1, 28, 28]` on the plain (non-autodiff) device.
    pub images: Tensor<4>,
    pub layer: usize,
    pub every: usize,
    pub points: Vec<ProbePoint>,
}

/// One probe reading: after `step` optimizer steps (0 = the initial weights).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProbePoint {
    pub step: usize,
    pub p15: f32,
    pub p50: f32,
    pub p85: f32,
    /// The same percentiles of the layer's normalization input (its linear output), where a
    /// norm sits before the activation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub norm_input: Option<[f32; 3]>,
    /// The same percentiles of the layer's first unit's activation input alone, over the probe
    /// images (absent in runs probed before bnx recorded it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unit: Option<[f32; 3]>,
}

impl Probe {
    pub fn new(images: Tensor<4>, layer: usize, every: usize) -> Self {
        Self {
            images,
            layer,
            every,
            points: Vec::new(),
        }
    }

    fn read(&mut self, model: &Network, step: usize) {
        let model = model.valid();
        let read = |values: Tensor<2>| {
            let values = values
                .into_data()
                .convert::<f32>()
                .try_to_vec::<f32>()
                .expect("f32 data");
            percentiles(values, [0.15, 0.50, 0.85])
        };
        let inputs = model
            .hidden_preactivations(self.images.clone(), self.layer)
            .expect("probes are only set up for MLP hidden layers");
        let unit = Some(read(inputs.clone().narrow(1, 0, 1)));
        let [p15, p50, p85] = read(inputs);
        let norm_input = model
            .hidden_norm_inputs(self.images.clone(), self.layer)
            .map(read);
        self.points.push(ProbePoint {
            step,
            p15,
            p50,
            p85,
            norm_input,
            unit,
        });
    }
}

impl Hook for Probe {
    fn on_start(&mut self, model: &Network) -> Result<(), TrainError> {
        self.read(model, 0);
        Ok(())
    }

    fn on_step(&mut self, model: &Network, steps_done: usize) -> Result<(), TrainError> {
        if steps_done.is_multiple_of(self.every.max(1)) {
            self.read(model, steps_done);
        }
        Ok(())
    }
}

/// Nearest-rank percentiles (NaN sorts last, so a diverged layer shows up as NaN).
pub fn percentiles<const N: usize>(mut values: Vec<f32>, quantiles: [f64; N]) -> [f32; N] {
    values.sort_by(|a, b| a.total_cmp(b));
    quantiles.map(|q| {
        if values.is_empty() {
            return f32::NAN;
        }
        let rank = (q * (values.len() - 1) as f64).round() as usize;
        values[rank.min(values.len() - 1)]
    })
}

/// After each epoch, a note on the progress display when validation is understated by how much
/// of BatchNorm's running variance is still its initial value (see
/// [`RunningVariances::stale_share`]).
pub struct StaleStatistics {
    progress: Progress,
}

impl StaleStatistics {
    pub fn new(progress: &Progress) -> Self {
        Self {
            progress: progress.clone(),
        }
    }
}

impl Hook for StaleStatistics {
    fn on_epoch(
        &mut self,
        trainer: &mut Trainer,
        _metrics: &EpochMetrics,
        steps_done: usize,
    ) -> Result<(), TrainError> {
        if let Some(snapshot) = RunningVariances::of(trainer.model(), steps_done) {
            let share = snapshot.stale_share().map_or(0.0, |s| s.share);
            if let Some(warning) = stale_statistics_warning(share, steps_done) {
                self.progress.epoch_line(warning);
            }
        }
        Ok(())
    }
}

/// How much of BatchNorm's running variance is still its initial value 1, at worst over all
/// live channels (see [`RunningVariances::stale_share`]). `None` without BatchNorm.
pub fn initial_variance_share(model: &Network, steps_done: usize) -> Option<f64> {
    RunningVariances::of(model, steps_done).map(|v| v.stale_share().map_or(0.0, |s| s.share))
}

/// Every BatchNorm layer's running variances, per channel, after `steps` optimizer steps.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunningVariances {
    pub steps: usize,
    /// Burn's momentum: the weight of each new batch (Keras 0.99 = 0.01).
    pub momentum: f64,
    pub epsilon: f64,
    pub layers: Vec<Vec<f32>>,
}

/// The worst stale share over a model's live channels, and where it is.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct StaleShare {
    pub share: f64,
    pub layer: usize,
    pub channel: usize,
}

impl RunningVariances {
    /// `None` without BatchNorm.
    pub fn of(model: &Network, steps: usize) -> Option<Self> {
        let norms = model.batch_norms();
        let first = norms.first()?;
        Some(Self {
            steps,
            momentum: first.momentum,
            epsilon: first.epsilon,
            layers: norms
                .iter()
                .map(|bn| {
                    bn.running_var
                        .value_sync()
                        .into_data()
                        .convert::<f32>()
                        .try_to_vec::<f32>()
                        .expect("f32 data")
                })
                .collect(),
        })
    }

    /// After n steps the running variance is (1 − momentum)ⁿ·1 plus the batch variances seen,
    /// so (1 − momentum)ⁿ / (running_var + ε) is the start's share of what inference divides
    /// by. Layers whose inputs vary little (the first conv layer on [0, 1] pixels: ~0.005) keep a
    /// large share long after (1 − momentum)ⁿ looks small. A channel that is dead in training
    /// mode too (its batch variance is 0, e.g. BatchNorm after a ReLU that never fires) is
    /// skipped: training and inference both output its β, whatever the variance. `None` when
    /// every channel is dead.
    pub fn stale_share(&self) -> Option<StaleShare> {
        let start = (1.0 - self.momentum).powi(self.steps.min(i32::MAX as usize) as i32);
        let mut worst: Option<StaleShare> = None;
        for (layer, variances) in self.layers.iter().enumerate() {
            for (channel, &variance) in variances.iter().enumerate() {
                let variance = f64::from(variance);
                if self.steps > 0 && variance - start <= DEAD_VARIANCE * self.epsilon {
                    continue;
                }
                let share = (start / (variance + self.epsilon)).min(1.0);
                if worst.is_none_or(|w| share > w.share) {
                    worst = Some(StaleShare {
                        share,
                        layer,
                        channel,
                    });
                }
            }
        }
        worst
    }
}

/// A channel whose batches added less than this × ε to its running variance is dead.
const DEAD_VARIANCE: f64 = 1e-3;

/// After each epoch, accuracy in inference mode on a fixed set of training samples: the
/// training side of a generalization gap measured the way validation is.
pub struct TrainSubsetEvaluation {
    subset: ImageSet,
    /// Mean cross-entropy and accuracy after each epoch.
    pub losses: Vec<f64>,
    pub accuracies: Vec<f64>,
}

impl TrainSubsetEvaluation {
    pub fn new(subset: ImageSet) -> Self {
        Self {
            subset,
            losses: Vec::new(),
            accuracies: Vec::new(),
        }
    }
}

impl Hook for TrainSubsetEvaluation {
    fn on_epoch(
        &mut self,
        trainer: &mut Trainer,
        _metrics: &EpochMetrics,
        _steps_done: usize,
    ) -> Result<(), TrainError> {
        let loader = eval_loader(&self.subset, trainer.inference_device());
        let (loss, accuracy) = evaluate(&trainer.model().valid(), loader.as_ref());
        self.losses.push(loss);
        self.accuracies.push(accuracy);
        Ok(())
    }
}

/// Validation with running statistics understates a model whose running variance is still
/// mostly its initial value: say so rather than let chance-level accuracy look like a finding.
fn stale_statistics_warning(share: f64, steps_done: usize) -> Option<String> {
    (share > STALE_SHARE).then(|| {
        format!(
            "  note: after {steps_done} steps up to {:.0}% of a BatchNorm running variance is still its initial value 1 (Keras momentum 0.99 forgets 1% a step); validation uses it, so it understates this model until more steps are trained",
            100.0 * share
        )
    })
}

/// Above this share of initial value in a running variance, validation is flagged.
pub const STALE_SHARE: f64 = 0.1;
