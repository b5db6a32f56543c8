//! After each epoch, accuracy in inference mode on the first training samples (as many as the
//! test split has, at most all): the training side of the generalization gap, measured the way
//! validation is.

use super::measurement::{Measurement, Recorder, RunSetup};
use crate::study::runs::{Measured, RunOutcome, Schedule};
use crate::train::hooks::TrainSubsetAccuracy;

pub const ID: &str = "train_subset_acc";

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

impl Recorder for TrainSubsetAccuracy {
    /// Kept for a diverged run too: one value per completed epoch.
    fn keep(self: Box<Self>, _diverged: bool, measured: &mut Measured) {
        measured.insert(ID, &self.accuracies);
    }
}

impl Measurement for TrainSubset {
    fn id(&self) -> &'static str {
        ID
    }

    fn recorder(&self, _schedule: Schedule, setup: &RunSetup) -> Option<Box<dyn Recorder>> {
        Some(Box::new(TrainSubsetAccuracy::new(setup.train_subset.clone())))
    }

    fn reads_back(&self, measured: &Measured) -> bool {
        measured.reads_as::<Vec<f64>>(ID)
    }
}
