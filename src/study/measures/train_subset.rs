//! After each epoch, accuracy in inference mode on the first training samples (as many as the
//! test split has, at most all): the training side of the generalization gap, measured the way
//! validation is.

use super::measurement::{Measurement, Recorder, RunSetup};
use crate::study::runs::{Measured, RunOutcome, Schedule};
use crate::train::hooks::TrainSubsetEvaluation;
use crate::train::{EpochMetrics, Hook, TrainError, Trainer};

pub const ID: &str = "train_subset_acc";
/// `train_subset_loss`'s id: its series comes from this measure's evaluation.
pub const LOSS_ID: &str = "train_subset_loss";

pub struct TrainSubset;

/// The run's accuracies, one per completed epoch.
pub fn of(run: &RunOutcome) -> Vec<f64> {
    run.measured.read(ID)
}

/// Inference-mode accuracy on the training subset after the last epoch (NaN if diverged).
pub fn final_accuracy(run: &RunOutcome) -> f64 {
    match (&run.diverged, of(run).last()) {
        (None, Some(acc)) => *acc,
        _ => f64::NAN,
    }
}

/// Evaluates the run's training subset once after each epoch and keeps the series the run's
/// spec asks for: this measure's accuracies, `train_subset_loss`'s losses, or both.
pub struct SubsetRecorder {
    evaluation: TrainSubsetEvaluation,
    accuracies: bool,
    losses: bool,
}

impl SubsetRecorder {
    pub fn new(setup: &RunSetup) -> Self {
        let asks = |id| setup.spec.measures.contains_key(id);
        Self {
            evaluation: TrainSubsetEvaluation::new(setup.train_subset.clone()),
            accuracies: asks(ID),
            losses: asks(LOSS_ID),
        }
    }
}

impl Hook for SubsetRecorder {
    fn on_epoch(
        &mut self,
        trainer: &mut Trainer,
        metrics: &EpochMetrics,
        steps_done: usize,
    ) -> Result<(), TrainError> {
        self.evaluation.on_epoch(trainer, metrics, steps_done)
    }
}

impl Recorder for SubsetRecorder {
    /// Kept for a diverged run too: one value per completed epoch.
    fn keep(self: Box<Self>, _diverged: bool, measured: &mut Measured) {
        if self.accuracies {
            measured.insert(ID, &self.evaluation.accuracies);
        }
        if self.losses {
            measured.insert(LOSS_ID, &self.evaluation.losses);
        }
    }
}

impl Measurement for TrainSubset {
    fn id(&self) -> &'static str {
        ID
    }

    fn recorder(&self, _schedule: Schedule, setup: &RunSetup) -> Option<Box<dyn Recorder>> {
        Some(Box::new(SubsetRecorder::new(setup)))
    }

    fn reads_back(&self, measured: &Measured) -> bool {
        measured.reads_as::<Vec<f64>>(ID)
    }
}
