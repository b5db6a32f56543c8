//! Internal covariate shift by Santurkar et al.'s Definition 2.1 at the MLP's last hidden
//! layer, every few steps: ‖G‖², ‖G′‖² and G·G′ of its weight gradients (`train::landscape`).

use super::measurement::{Measurement, Recorder, RunSetup, keep_unless_diverged};
use crate::study::runs::{Measured, RunOutcome, Schedule};
use crate::train::landscape::{CovariateShift, ShiftPoint};

pub const ID: &str = "covariate_shift";

pub struct CovariateShiftMeasure;

pub fn of(run: &RunOutcome) -> Vec<ShiftPoint> {
    run.measured.read(ID)
}

impl Recorder for CovariateShift {
    fn keep(self: Box<Self>, diverged: bool, measured: &mut Measured) {
        keep_unless_diverged(ID, &self.points, diverged, measured)
    }
}

impl Measurement for CovariateShiftMeasure {
    fn id(&self) -> &'static str {
        ID
    }

    fn recorder(&self, schedule: Schedule, setup: &RunSetup) -> Option<Box<dyn Recorder>> {
        // The last hidden layer, whose input the probe reads too.
        let last_hidden = setup.spec.config.network.mlp_widths.len() - 1;
        Some(Box::new(CovariateShift::new(schedule.steps(), last_hidden)))
    }

    fn reads_back(&self, measured: &Measured) -> bool {
        measured.reads_as::<Vec<ShiftPoint>>(ID)
    }
}
