//! The [`Measurement`] trait every measure implements, the [`Recorder`] that listens to one
//! run, and what a recorder may need.

use crate::data::{ImageSet, LoadedData};
use crate::runtime::Backend;
use crate::study::kind::StudyError;
use crate::study::lookup::Runs;
use crate::study::runs::{Measured, RunSpec, Schedule};
use crate::study::verdict::Endpoint;
use crate::train::Hook;

/// One measurement a study can ask its runs for.
pub trait Measurement: Sync {
    /// Its key in a run's plan and in `run.json`.
    fn id(&self) -> &'static str;

    /// What listens to one run as it trains; `None` when there is nothing to record for it
    /// (a measure derived from another's series, or one that does not apply to this run).
    fn recorder(&self, _schedule: Schedule, _setup: &RunSetup) -> Option<Box<dyn Recorder>> {
        None
    }

    /// Whether the series a `run.json` keeps under [`Measurement::id`] reads back.
    fn reads_back(&self, _measured: &Measured) -> bool {
        true
    }

    /// Paired comparisons this measure adds to a study's secondaries (none where its runs
    /// carry nothing it reads).
    fn secondaries(&self, _runs: &Runs) -> Result<Vec<Endpoint>, StudyError> {
        Ok(Vec::new())
    }

    /// What the report must say about how to read this measure, or about the runs it read.
    fn caveat(&self, _runs: &Runs) -> Option<String> {
        None
    }
}

/// A measure's listener for one run.
pub trait Recorder: Hook {
    /// Once the run has ended (`diverged`: its loss became non-finite), keeps what it recorded.
    fn keep(self: Box<Self>, diverged: bool, measured: &mut Measured);
}

/// What a run's recorders may need besides its spec.
pub struct RunSetup<'a> {
    pub spec: &'a RunSpec,
    /// The run's data (its scale's subsets).
    pub data: &'a LoadedData,
    /// The training samples whose inference-mode accuracy is measured (as many as the test
    /// split has).
    pub train_subset: &'a ImageSet,
    pub backend: &'a Backend,
}

/// `series` kept under `id` unless the run diverged (a diverged run's readings stop at a
/// non-finite loss and would read as a finding).
pub fn keep_unless_diverged<T: serde::Serialize>(
    id: &str,
    series: &T,
    diverged: bool,
    measured: &mut Measured,
) {
    if !diverged {
        measured.insert(id, series);
    }
}
