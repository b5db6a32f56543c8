//! After each epoch, the mean cross-entropy in inference mode on the same training subset as
//! `train_subset` (the training side of a generalization gap in loss, which unlike accuracy
//! has no ceiling near 100 %). Asked for by the runs that need it only; where the run also
//! records `train_subset` (every study run does), one evaluation serves both.

use super::measurement::{Measurement, Recorder, RunSetup};
use super::train_subset::{self, SubsetRecorder};
use crate::study::runs::{Measured, RunOutcome, Schedule};

pub const ID: &str = train_subset::LOSS_ID;

pub struct TrainSubsetLoss;

/// The run's losses, one per completed epoch (empty if not recorded).
pub fn of(run: &RunOutcome) -> Vec<f64> {
    run.measured.read(ID)
}

/// Inference-mode loss on the training subset after the last epoch (NaN if diverged or not
/// recorded).
pub fn final_loss(run: &RunOutcome) -> f64 {
    match (&run.diverged, of(run).last()) {
        (None, Some(loss)) => *loss,
        _ => f64::NAN,
    }
}

impl Measurement for TrainSubsetLoss {
    fn id(&self) -> &'static str {
        ID
    }

    fn recorder(&self, _schedule: Schedule, setup: &RunSetup) -> Option<Box<dyn Recorder>> {
        // `train_subset`'s recorder keeps the losses too when it runs.
        let shared = setup.spec.measures.contains_key(train_subset::ID);
        (!shared).then(|| Box::new(SubsetRecorder::new(setup)) as Box<dyn Recorder>)
    }

    fn reads_back(&self, measured: &Measured) -> bool {
        measured.reads_as::<Vec<f64>>(ID)
    }
}
