//! Santurkar et al.'s loss landscape along the gradient, every few steps (`train::landscape`).

use super::measurement::{Measurement, Recorder, RunSetup, keep_unless_diverged};
use crate::study::runs::{Measured, RunOutcome, Schedule};
use crate::train::landscape::{Landscape, LandscapePoint};

pub const ID: &str = "landscape";

pub struct LandscapeMeasure;

pub fn of(run: &RunOutcome) -> Vec<LandscapePoint> {
    run.measured.read(ID)
}

impl Recorder for Landscape {
    fn keep(self: Box<Self>, diverged: bool, measured: &mut Measured) {
        keep_unless_diverged(ID, &self.points, diverged, measured)
    }
}

impl Measurement for LandscapeMeasure {
    fn id(&self) -> &'static str {
        ID
    }

    fn recorder(&self, schedule: Schedule, _setup: &RunSetup) -> Option<Box<dyn Recorder>> {
        Some(Box::new(Landscape::new(schedule.steps())))
    }

    fn reads_back(&self, measured: &Measured) -> bool {
        measured.reads_as::<Vec<LandscapePoint>>(ID)
    }
}
