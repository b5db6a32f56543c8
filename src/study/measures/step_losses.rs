//! Every optimizer step's training loss, in order.

use super::measurement::{Measurement, Recorder, RunSetup, keep_unless_diverged};
use crate::study::runs::{Measured, RunOutcome, Schedule};
use crate::train::hooks::StepLosses;

pub const ID: &str = "step_losses";

pub struct StepLossesMeasure;

pub fn of(run: &RunOutcome) -> Vec<f32> {
    run.measured.read(ID)
}

impl Recorder for StepLosses {
    fn keep(self: Box<Self>, diverged: bool, measured: &mut Measured) {
        keep_unless_diverged(ID, &self.0, diverged, measured)
    }
}

impl Measurement for StepLossesMeasure {
    fn id(&self) -> &'static str {
        ID
    }

    /// Every step whatever the schedule: the losses come back from the device anyway.
    fn recorder(&self, _schedule: Schedule, _setup: &RunSetup) -> Option<Box<dyn Recorder>> {
        Some(Box::new(StepLosses::default()))
    }

    fn reads_back(&self, measured: &Measured) -> bool {
        measured.reads_as::<Vec<f32>>(ID)
    }
}
