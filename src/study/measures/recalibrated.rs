//! After each epoch, validation and training-subset accuracy again with BatchNorm's statistics
//! recomputed over the training data (`train::recalibrate`; nothing without BatchNorm, or when
//! validation recalibrates already): the sensitivity check of every verdict.

use serde::{Deserialize, Serialize};

use super::measurement::{Measurement, Recorder, RunSetup};
use super::train_subset;
use crate::study::runs::{Measured, RunOutcome, Schedule};
use crate::train::recalibrate::RecalibratedAccuracy;

pub const ID: &str = "recalibrated";

pub struct RecalibratedMeasure;

/// One epoch's accuracies with recalibrated BatchNorm statistics.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Recalibrated {
    pub val_acc: f64,
    pub train_subset_acc: f64,
}

/// The run's recalibrated accuracies, one per completed epoch (empty without BatchNorm).
pub fn of(run: &RunOutcome) -> Vec<Recalibrated> {
    run.measured.read(ID)
}

/// `run` as if validated with recalibrated BatchNorm statistics (itself without them).
pub fn view(run: &RunOutcome) -> RunOutcome {
    let mut view = run.clone();
    let mut train_subset = train_subset::of(run);
    for (i, r) in of(run).iter().enumerate() {
        if let Some(epoch) = view.epochs.get_mut(i) {
            epoch.val_acc = r.val_acc;
        }
        if let Some(acc) = train_subset.get_mut(i) {
            *acc = r.train_subset_acc;
        }
    }
    view.measured.insert(train_subset::ID, &train_subset);
    view
}

impl Recorder for RecalibratedAccuracy {
    /// Kept for a diverged run too: one pair per completed epoch.
    fn keep(self: Box<Self>, _diverged: bool, measured: &mut Measured) {
        let series: Vec<Recalibrated> = self
            .accuracies
            .iter()
            .map(|&(val_acc, train_subset_acc)| Recalibrated {
                val_acc,
                train_subset_acc,
            })
            .collect();
        measured.insert(ID, &series);
    }
}

impl Measurement for RecalibratedMeasure {
    fn id(&self) -> &'static str {
        ID
    }

    fn recorder(&self, _schedule: Schedule, setup: &RunSetup) -> Option<Box<dyn Recorder>> {
        // Validation that already recalibrates needs no second, recorded recalibration.
        if setup.spec.config.training.recalibrate_bn {
            return None;
        }
        let data = setup.data;
        Some(Box::new(RecalibratedAccuracy::new(
            data.train.clone(),
            setup.train_subset.clone(),
            data.test.clone(),
        )))
    }

    fn reads_back(&self, measured: &Measured) -> bool {
        measured.reads_as::<Vec<Recalibrated>>(ID)
    }
}
