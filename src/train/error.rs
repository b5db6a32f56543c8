//! How training fails.

use std::path::PathBuf;

use thiserror::Error;

use crate::runtime::FileError;

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
