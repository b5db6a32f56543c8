//! What a study run measures besides its epochs, one file per measure. A measure says what it
//! records while a run trains (a [`Recorder`]: a training hook that knows what to keep in
//! `run.json`, and what to keep when the run diverges), how its raw series reads back, and what
//! it adds to a study's report (secondary endpoints, caveats). Claims ask for measures by id in
//! their run plans and read the series through the measure's own accessor. The study's runner
//! knows none of them: adding a measure is one file here plus its line in `measures!`.

mod measurement;

pub use measurement::{Measurement, Recorder, RunSetup};

use super::kind::StudyError;
use super::lookup::Runs;
use super::runs::RunOutcome;
use super::verdict::Endpoint;

/// Declares each measure's module and lists it in [`ALL`]: one line a measure.
macro_rules! measures {
    ($($module:ident::$measure:ident),+ $(,)?) => {
        $(pub mod $module;)+

        /// Every measure bnx knows, in the order their recorders hear the training (the order
        /// of the hooks before measures were plug-ins, so the same runs train the same way).
        pub const ALL: &[&dyn Measurement] = &[$(&$module::$measure),+];
    };
}

measures! {
    bn_running_var::BnRunningVar,
    train_subset::TrainSubset,
    recalibrated::RecalibratedMeasure,
    landscape::LandscapeMeasure,
    covariate_shift::CovariateShiftMeasure,
    probes::Probes,
    step_losses::StepLossesMeasure,
    train_subset_loss::TrainSubsetLoss,
}

/// The measures every study run records, after each epoch.
pub const EVERY_RUN: [&str; 3] = [bn_running_var::ID, train_subset::ID, recalibrated::ID];

/// The recorders of one run, one per measure its spec lists, in [`ALL`]'s order.
pub fn recorders(setup: &RunSetup) -> Vec<Box<dyn Recorder>> {
    ALL.iter()
        .filter_map(|measure| {
            let schedule = *setup.spec.measures.get(measure.id())?;
            measure.recorder(schedule, setup)
        })
        .collect()
}

/// Whether every measure's series in `run` reads back.
pub fn read_back(run: &RunOutcome) -> bool {
    ALL.iter().all(|measure| measure.reads_back(&run.measured))
}

/// Every secondary the measures add to a study.
pub fn secondaries(runs: &Runs) -> Result<Vec<Endpoint>, StudyError> {
    let mut all = Vec::new();
    for measure in ALL {
        all.extend(measure.secondaries(runs)?);
    }
    Ok(all)
}

/// Every caveat the measures add to a study's report.
pub fn caveats(runs: &Runs) -> Vec<String> {
    ALL.iter()
        .filter_map(|measure| measure.caveat(runs))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_older_series_is_a_measure_and_ids_are_unique() {
        let ids: Vec<&str> = ALL.iter().map(|m| m.id()).collect();
        for id in crate::study::runs::LEGACY_SERIES.iter().chain(&EVERY_RUN) {
            assert!(ids.contains(id), "{id}");
        }
        let mut unique = ids.clone();
        unique.sort_unstable();
        unique.dedup();
        assert_eq!(unique.len(), ids.len());
    }
}
