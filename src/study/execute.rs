//! Training a study's runs: each run's recorders come from the measures its spec lists, a run
//! that diverges is an outcome (not an error), and every finished run is kept as `run.json`.

use std::collections::HashMap;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use burn::data::dataset::Dataset;

use super::cache;
use super::kind::{StudyError, StudyKind};
use super::measures::{self, RunSetup};
use super::options::StudyOptions;
use super::runs::{Measured, RunContext, RunOutcome, RunSpec, Scale};
use crate::data::{ImageSet, LoadedData};
use crate::experiment::{self, ExperimentError, RunOutputs};
use crate::report::ReportError;
use crate::runtime::Progress;
use crate::runtime::jobs::run_in_parallel;
use crate::train::{Hook, TrainError};

/// What every worker of a study reads.
pub struct Shared<'a> {
    pub options: &'a StudyOptions,
    pub context: RunContext,
    pub subsets: &'a Subsets,
    pub progress: &'a Progress,
    pub overall: &'a indicatif::ProgressBar,
    pub done: AtomicUsize,
    pub total: usize,
}

/// Trains a study's runs, `options.jobs` at a time (each run is independent and seeded, so
/// the order they finish in changes nothing), and returns their outcomes in plan order.
pub fn run_grid(
    kind: StudyKind,
    specs: &[RunSpec],
    shared: &Shared,
) -> Result<Vec<RunOutcome>, StudyError> {
    let dir = shared.options.out.join(kind.name());
    run_in_parallel(shared.options.jobs, specs, |spec| {
        shared.options.backend.enter_thread();
        shared.overall.set_message(format!(
            "{kind}: {} {} seed {}",
            spec.series.title(),
            spec.point,
            spec.seed()
        ));
        let run_dir = dir.join(spec.dir());
        let rerun = shared.options.rerun;
        let reused = (!rerun)
            .then(|| cache::load_outcome(&run_dir, spec, &shared.context))
            .flatten();
        let elsewhere = || {
            (!rerun)
                .then(|| cache::find_elsewhere(&shared.options.out, kind, spec, &shared.context))
                .flatten()
        };
        let outcome = match reused {
            Some(outcome) => outcome,
            None => match elsewhere() {
                Some((from, outcome)) => {
                    cache::copy_run(&from, &run_dir).map_err(ReportError::from)?;
                    outcome
                }
                None => execute(spec, shared, &run_dir)?,
            },
        };
        let done = shared.done.fetch_add(1, Ordering::SeqCst) + 1;
        shared.overall.inc(1);
        shared.progress.line(format!(
            "[{done}/{}] {kind}: {} · {} · seed {}: val {:.2}%{} ({:.1} s)",
            shared.total,
            spec.series.title(),
            spec.point,
            spec.seed(),
            100.0 * outcome.final_val_acc(),
            if outcome.diverged.is_some() {
                ", diverged"
            } else {
                ""
            },
            outcome.seconds
        ));
        Ok(outcome)
    })
}

/// Data subsets per scale, made once up front and shared by every run that uses them: the
/// run's data, and the training subset its inference-mode training accuracy is measured on (as
/// many training samples as the test split has).
pub struct Subsets {
    made: HashMap<(Option<usize>, Option<usize>), (LoadedData, ImageSet)>,
}

impl Subsets {
    pub fn new(full: &LoadedData, scales: impl Iterator<Item = Scale>) -> Self {
        let mut made = HashMap::new();
        for scale in scales {
            made.entry((scale.limit_train, scale.limit_test))
                .or_insert_with(|| {
                    let data = full.clone().limited(scale.limit_train, scale.limit_test);
                    let size = data.test.labels().len().min(data.train.labels().len());
                    let subset = data.train.take(size);
                    (data, subset)
                });
        }
        Self { made }
    }

    fn get(&self, scale: Scale) -> (&LoadedData, &ImageSet) {
        let (data, subset) = self
            .made
            .get(&(scale.limit_train, scale.limit_test))
            .expect("every planned scale was made up front");
        (data, subset)
    }
}

/// Trains one run into `run_dir` with the recorders of the measures its spec lists; a run
/// whose loss becomes non-finite is a (diverged) outcome.
fn execute(spec: &RunSpec, shared: &Shared, run_dir: &Path) -> Result<RunOutcome, StudyError> {
    let options = shared.options;
    let (data, train_subset) = shared.subsets.get(spec.scale());
    let setup = RunSetup {
        spec,
        data,
        train_subset,
        backend: &options.backend,
    };
    let mut recorders = measures::recorders(&setup);
    let mut hooks: Vec<&mut dyn Hook> = recorders
        .iter_mut()
        .map(|recorder| &mut **recorder as &mut dyn Hook)
        .collect();
    let started = Instant::now();
    let outputs = RunOutputs {
        checkpoint: false,
        curves: false,
        header: false,
        // The study decided that this run is to be trained (not reused).
        start: experiment::Start::Restart,
        parallel_runs: options.jobs,
    };
    let result = experiment::execute_run(
        &spec.config,
        &options.backend,
        data,
        run_dir,
        outputs,
        &mut hooks,
        shared.progress,
    );
    drop(hooks);
    let (epochs, diverged) = match result {
        Ok(run) => (run.metrics.epochs, None),
        Err(failed) => match failed.error {
            ExperimentError::Train(error @ TrainError::NonFiniteLoss { .. }) => {
                (failed.metrics.epochs, Some(error.to_string()))
            }
            other => return Err(other.into()),
        },
    };
    let mut measured = Measured::default();
    for recorder in recorders {
        recorder.keep(diverged.is_some(), &mut measured);
    }
    let outcome = RunOutcome {
        spec: spec.clone(),
        context: shared.context.clone(),
        epochs,
        diverged,
        measured,
        steps_per_epoch: data.train.len().div_ceil(spec.config.training.batch_size),
        seconds: started.elapsed().as_secs_f64(),
    };
    cache::save_outcome(run_dir, &outcome).map_err(ReportError::from)?;
    Ok(outcome)
}
