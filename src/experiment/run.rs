//! One run, end to end: its folder locked, started afresh or resumed, `config.json` and
//! `metrics.json` written as it trains, with bnx's hooks and the caller's, and its curves.

use std::path::{Path, PathBuf};

use burn::data::dataset::Dataset;

use super::error::ExperimentError;
use super::resume::{self, Begin, Start};
use crate::config::ExperimentConfig;
use crate::data::LoadedData;
use crate::model::{NetworkConfig, NormKind, NormPosition, ParameterCounts};
use crate::report::files::{BURN_VERSION, CHECKPOINT_FILE};
use crate::report::tensorboard::TensorBoardHook;
use crate::report::{ReportError, RunMetrics, RunRecord, charts};
use crate::runtime::lock::RunLock;
use crate::runtime::threads;
use crate::runtime::{Backend, FileError, Progress};
use crate::train::hooks::{Checkpoint, StaleStatistics};
use crate::train::{
    self, EpochMetrics, Hook, STATE_FILE, SaveState, TrainError, Trainer, TrainingState,
};

/// What a run writes and says besides `config.json` and `metrics.json`.
#[derive(Debug, Clone, Copy)]
pub struct RunOutputs {
    /// `model.bpk` after every epoch.
    pub checkpoint: bool,
    /// `curves.png` at the end.
    pub curves: bool,
    /// The network, data and backend in a few lines before training.
    pub header: bool,
    /// What to do with a run the folder already holds (see [`resume::begin`]).
    pub start: Start,
    /// How many runs train side by side (`--jobs`): each computes on its share of the cores
    /// (see [`threads::threads_for_run`]).
    pub parallel_runs: usize,
}

/// The threads one run of `network` computes on when `parallel_runs` train side by side.
pub(crate) fn run_threads(
    network: &NetworkConfig,
    batch_size: usize,
    parallel_runs: usize,
) -> usize {
    threads::threads_for_run(
        network.multiply_adds_per_sample() * batch_size,
        parallel_runs,
    )
}

/// A finished run: its metrics.
pub struct RunResult {
    pub metrics: RunMetrics,
    /// Epochs that were already complete when this process took the run up (0 for a fresh run).
    pub epochs_before: usize,
}

/// A run that stopped early: why, and the epochs it completed (already on disk).
#[derive(Debug)]
pub struct FailedRun {
    pub error: ExperimentError,
    pub metrics: RunMetrics,
}

impl RunMetrics {
    /// The record of a run of `config` on `backend` before its first epoch.
    fn empty(config: &ExperimentConfig, backend: &Backend) -> Self {
        RunMetrics {
            model: config.network.model,
            bn: config.network.norm == NormKind::Batch,
            dataset: config.data.dataset,
            backend: backend.kind,
            device: backend.device_name.clone(),
            epochs: Vec::new(),
        }
    }
}

/// Rewrites `metrics.json` after every epoch, so a run killed mid-way keeps what it finished.
struct MetricsFile<'a> {
    metrics: RunMetrics,
    dir: &'a Path,
}

impl Hook for MetricsFile<'_> {
    fn on_epoch(
        &mut self,
        _trainer: &mut Trainer,
        metrics: &EpochMetrics,
        _steps_done: usize,
    ) -> Result<(), TrainError> {
        self.metrics.epochs.push(metrics.clone());
        Ok(self.metrics.save(self.dir)?)
    }
}

fn failed(error: impl Into<ExperimentError>, metrics: RunMetrics) -> FailedRun {
    FailedRun {
        error: error.into(),
        metrics,
    }
}

/// The network, data and backend in a few lines, before a run trains.
fn print_header(
    config: &ExperimentConfig,
    backend: &Backend,
    data: &LoadedData,
    parameters: &ParameterCounts,
    progress: &Progress,
) {
    let network = &config.network;
    progress.line(format!(
        "{} on {} ({} train / {} test samples), backend {}, seed {}",
        title(network),
        config.data.dataset,
        data.train.len(),
        data.test.len(),
        backend.describe(config.runtime.backend),
        config.training.seed
    ));
    progress.line(format!("  {}", network.describe()));
    let statistics = match parameters.running_statistics {
        0 => String::new(),
        n => format!(" + {} BatchNorm running statistics", thousands(n)),
    };
    progress.line(format!(
        "  parameters: {} trainable{statistics}",
        thousands(parameters.trainable)
    ));
}

/// `config.json` of a run of `config` on `backend`.
fn run_record(
    config: &ExperimentConfig,
    backend: &Backend,
    data: &LoadedData,
    parameters: ParameterCounts,
    checkpoint: Option<PathBuf>,
    threads: usize,
) -> RunRecord {
    RunRecord {
        bnx_version: env!("CARGO_PKG_VERSION").into(),
        burn_version: BURN_VERSION.into(),
        backend: backend.kind,
        device: backend.device_name.clone(),
        cpu_simd: backend.cpu_simd().map(String::from),
        threads: backend
            .kind
            .runs_on_cpu()
            .then(|| threads::effective(threads)),
        subnormals_flushed: backend.flush_subnormals,
        config: config.clone(),
        dataset: data.provenance.clone(),
        train_samples: data.train.len(),
        test_samples: data.test.len(),
        parameters,
        checkpoint,
    }
}

/// What one run is asked to do: the settings, where, with which outputs, and where to report.
#[derive(Clone, Copy)]
struct RunPlan<'a> {
    config: &'a ExperimentConfig,
    backend: &'a Backend,
    data: &'a LoadedData,
    out: &'a Path,
    outputs: RunOutputs,
    progress: &'a Progress,
}

/// Trains `config.network` as `config` says on `backend` and records it in `out`. `hooks` hear
/// the training after bnx's own (stale-statistics notes, checkpoint, `metrics.json`).
pub fn execute_run(
    config: &ExperimentConfig,
    backend: &Backend,
    data: &LoadedData,
    out: &Path,
    outputs: RunOutputs,
    hooks: &mut [&mut dyn Hook],
    progress: &Progress,
) -> Result<RunResult, FailedRun> {
    let plan = RunPlan {
        config,
        backend,
        data,
        out,
        outputs,
        progress,
    };
    // Held until the run returns: a second process on this folder is refused.
    let _lock = RunLock::acquire(out).map_err(|e| failed(e, RunMetrics::empty(config, backend)))?;
    let state = match resume::begin(config, out, outputs.start) {
        Err(error) => return Err(failed(error, RunMetrics::empty(config, backend))),
        Ok(Begin::Complete(metrics)) => {
            let epochs_before = metrics.epochs.len();
            return Ok(RunResult {
                metrics,
                epochs_before,
            });
        }
        Ok(Begin::Resume(state)) => Some(state),
        Ok(Begin::Fresh) => None,
    };
    let (mut trainer, metrics, threads) = plan.open(state.as_deref())?;
    let epochs_before = metrics.epochs.len();
    let metrics = plan.train(&mut trainer, metrics, threads, hooks)?;
    plan.finish(&metrics)
        .map_err(|error| failed(error, metrics.clone()))?;
    Ok(RunResult {
        metrics,
        epochs_before,
    })
}

impl RunPlan<'_> {
    /// The network (its initial weights, or `state`'s), `config.json` and a `metrics.json` with
    /// the epochs already done, and the threads the run computes on.
    fn open(
        &self,
        state: Option<&TrainingState>,
    ) -> Result<(Trainer, RunMetrics, usize), FailedRun> {
        let (config, backend, out) = (self.config, self.backend, self.out);
        let network = &config.network;
        let mut metrics = RunMetrics::empty(config, backend);
        let model = network.init(config.training.seed, &backend.device);
        let parameters = model.parameter_counts();
        if self.outputs.header {
            print_header(config, backend, self.data, &parameters, self.progress);
        }
        if let Some(state) = state {
            metrics.epochs = state.header.epochs();
            self.progress.line(format!(
                "  resuming {} after epoch {} of {}",
                out.display(),
                metrics.epochs.len(),
                config.training.epochs
            ));
        }
        let threads = run_threads(
            network,
            config.training.batch_size,
            self.outputs.parallel_runs,
        );
        // The folder exists: taking the lock created it.
        let prepare = || -> Result<(), FileError> {
            if state.is_none() {
                let checkpoint = self.outputs.checkpoint.then(|| out.join(CHECKPOINT_FILE));
                run_record(config, backend, self.data, parameters, checkpoint, threads)
                    .save(out)?;
                // A fresh run never leaves an earlier run's state to be resumed into it.
                TrainingState::remove(out)?;
            }
            // A fresh run rewrites an empty record first, so a stale metrics.json from an earlier
            // run never survives; a resumed one, the epochs its state holds.
            metrics.save(out)
        };
        if let Err(error) = prepare() {
            return Err(failed(ReportError::from(error), metrics));
        }
        let mut trainer = Trainer::new(model, &backend.device, &config.training);
        if let Some(state) = state
            && let Err(message) = trainer.restore(state)
        {
            let error = ExperimentError::Resume {
                dir: out.into(),
                message: format!("its {STATE_FILE} does not fit: {message}"),
            };
            return Err(failed(error, metrics));
        }
        Ok((trainer, metrics, threads))
    }

    /// Trains on `threads` threads with bnx's hooks (stale-statistics notes, checkpoint, state,
    /// `metrics.json`) and then `hooks`; the metrics of every completed epoch.
    fn train(
        &self,
        trainer: &mut Trainer,
        metrics: RunMetrics,
        threads: usize,
        hooks: &mut [&mut dyn Hook],
    ) -> Result<RunMetrics, FailedRun> {
        let (config, out) = (self.config, self.out);
        let mut stale = StaleStatistics::new(self.progress);
        let mut checkpoint = self.outputs.checkpoint.then(|| Checkpoint {
            path: out.join(CHECKPOINT_FILE),
        });
        let mut save_state = self.outputs.checkpoint.then(|| SaveState {
            dir: out.into(),
            settings_hash: config.settings_hash(),
        });
        let mut file = MetricsFile { metrics, dir: out };
        let mut all: Vec<&mut dyn Hook> = vec![&mut stale];
        if let Some(checkpoint) = checkpoint.as_mut() {
            all.push(checkpoint);
        }
        if let Some(save_state) = save_state.as_mut() {
            all.push(save_state);
        }
        all.push(&mut file);
        for hook in hooks.iter_mut() {
            all.push(&mut **hook);
        }
        let fitted = threads::with_training_threads(threads, self.backend.flush_subnormals, || {
            train::fit(
                trainer,
                &self.data.train,
                &self.data.test,
                &config.training,
                &config.network.label(),
                self.progress,
                &mut all,
            )
        });
        drop(all);
        match fitted {
            Ok(_) => Ok(file.metrics),
            Err(error) => Err(failed(error, file.metrics)),
        }
    }

    /// A finished run: nothing is left to resume, and `curves.png` when asked for.
    fn finish(&self, metrics: &RunMetrics) -> Result<(), ExperimentError> {
        TrainingState::remove(self.out).map_err(ReportError::from)?;
        if self.outputs.curves {
            charts::render(
                &self.out.join("curves.png"),
                &metrics.chart_title(None),
                &charts::run_panels(metrics),
            )?;
        }
        Ok(())
    }
}

/// What `train` adds to a run: its TensorBoard curves, and what becomes of a run already in
/// its folder (see [`resume::begin`]).
pub struct TrainOptions {
    pub tensorboard: Option<TensorBoardHook>,
    pub start: Start,
}

/// Trains one network as `config` describes it and writes `config.json`, `metrics.json` (after
/// every epoch), `model.bpk` and `curves.png` into `out`, and its TensorBoard curves if
/// `options` ask for them.
pub fn train_run(
    config: &ExperimentConfig,
    backend: &Backend,
    data: &LoadedData,
    out: &Path,
    options: TrainOptions,
    progress: &Progress,
) -> Result<RunResult, ExperimentError> {
    let outputs = RunOutputs {
        checkpoint: true,
        curves: true,
        header: true,
        start: options.start,
        parallel_runs: 1,
    };
    let mut tensorboard = options.tensorboard;
    execute_run(
        config,
        backend,
        data,
        out,
        outputs,
        &mut extra_hooks(&mut tensorboard),
        progress,
    )
    .map_err(|failed| failed.error)
}

/// The hooks a run gets beyond bnx's own: its TensorBoard writer, when there is one.
pub(super) fn extra_hooks(tensorboard: &mut Option<TensorBoardHook>) -> Vec<&mut dyn Hook> {
    tensorboard
        .as_mut()
        .map(|hook| hook as &mut dyn Hook)
        .into_iter()
        .collect()
}

fn title(network: &NetworkConfig) -> String {
    let mut title = network.model.name().to_uppercase();
    if !network.activation.is_relu() {
        title.push_str(&format!(" ({})", network.activation.title()));
    }
    if network.norm != NormKind::None {
        title.push_str(&format!(" + {}", network.norm.title()));
        if network.position == NormPosition::After {
            title.push_str(&format!(" after {}", network.activation.title()));
        }
    }
    title
}

fn thousands(n: usize) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thousands_separators() {
        assert_eq!(thousands(111_594), "111,594");
        assert_eq!(thousands(448), "448");
        assert_eq!(thousands(1_000), "1,000");
    }
}
