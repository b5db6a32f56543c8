//! One epoch's numbers, as every part of bnx reads them.

use serde::{Deserialize, Serialize};

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
