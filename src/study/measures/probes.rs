//! A fixed batch (the first test images) fed through the MLP's last hidden layer every few
//! steps: the percentiles of what enters its activation (Ioffe & Szegedy 2015, figure 1).

use super::measurement::{Measurement, Recorder, RunSetup, keep_unless_diverged};
use crate::data::ImageBatcher;
use crate::study::runs::{Measured, RunOutcome, Schedule};
use crate::train::hooks::Probe;
use crate::train::ProbePoint;

pub const ID: &str = "probes";

/// Images in the fixed probe batch.
pub const PROBE_SAMPLES: usize = 500;

pub struct Probes;

pub fn of(run: &RunOutcome) -> Vec<ProbePoint> {
    run.measured.read(ID)
}

impl Recorder for Probe {
    fn keep(self: Box<Self>, diverged: bool, measured: &mut Measured) {
        keep_unless_diverged(ID, &self.points, diverged, measured)
    }
}

impl Measurement for Probes {
    fn id(&self) -> &'static str {
        ID
    }

    fn recorder(&self, schedule: Schedule, setup: &RunSetup) -> Option<Box<dyn Recorder>> {
        let images = ImageBatcher::images(
            &setup.data.test,
            0..PROBE_SAMPLES,
            &setup.backend.device,
        );
        let last_hidden = setup.spec.config.network.mlp_widths.len() - 1;
        Some(Box::new(Probe::new(images, last_hidden, schedule.steps())))
    }

    fn reads_back(&self, measured: &Measured) -> bool {
        measured.reads_as::<Vec<ProbePoint>>(ID)
    }
}
