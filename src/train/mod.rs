//! Training: a [`Trainer`] steps batches through Adam; [`fit`] runs the epochs, validates in
//! inference mode and tells its [`Hook`]s; `bench` times steps.

pub mod bench;
pub mod fit;
pub mod hooks;
pub mod landscape;
pub mod predict;
pub mod recalibrate;
pub mod state;
pub mod trainer;

use std::path::PathBuf;

use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::runtime::FileError;
pub use fit::{evaluate, fit};
pub use hooks::{Hook, ProbePoint, STALE_SHARE};
pub use state::{STATE_FILE, SaveState, StateHeader, TrainingState};
pub use trainer::Trainer;

#[derive(Debug, Error)]
pub enum TrainError {
    #[error(
        "training diverged: the loss became {value} at epoch {epoch}, step {step}; try a lower learning rate (metrics of the completed epochs are kept)"
    )]
    NonFiniteLoss {
        epoch: usize,
        step: usize,
        value: f32,
    },

    #[error("data loader failed at epoch {epoch}: {message}")]
    Data { epoch: usize, message: String },

    #[error("cannot encode checkpoint {path}: {message}")]
    CheckpointEncode { path: PathBuf, message: String },

    #[error("{path} cannot be resumed from: {message}")]
    State { path: PathBuf, message: String },

    /// Ctrl-C: training stopped between two steps; the completed epochs are on disk.
    #[error("stopped by Ctrl-C after {epochs_done} completed epochs")]
    Interrupted { epochs_done: usize },

    /// A hook could not write its file (a checkpoint, `metrics.json`).
    #[error(transparent)]
    File(#[from] FileError),
}

/// One epoch's numbers, exactly as `metrics.json` stores them. Accuracies are fractions.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EpochMetrics {
    pub epoch: usize,
    /// Sample-weighted mean of the epoch's batch losses, in training mode (as Keras reports it).
    pub train_loss: f64,
    pub train_acc: f64,
    /// Mean loss over the whole test split, in inference mode (running BN statistics).
    pub val_loss: f64,
    pub val_acc: f64,
    /// Wall-clock seconds for the epoch: training and validation.
    pub seconds: f64,
}

#[cfg(test)]
mod tests;
