//! One run, end to end — data, network, training, result files — and what `train`, `compare`,
//! `plot` and `bench` build from it. The commands and studies call these with a resolved config
//! and the backend the process opened.

use std::path::{Path, PathBuf};

use burn::data::dataset::Dataset;

mod bench;
mod datasets;
pub mod inspect;
mod resume;
mod seeds;

pub use bench::{BenchRow, bench, bench_table};
pub use datasets::{fetch_dataset, load_data};
pub use seeds::{ComparePlan, Comparison, compare_seeds};
use seeds::{seed_dir, seeds_in, write_seeded_comparison};

use crate::Error;
use crate::config::ExperimentConfig;
use crate::data::LoadedData;
use crate::model::{NetworkConfig, NormKind, NormPosition, ParameterCounts};
use crate::report::files::{BURN_VERSION, CHECKPOINT_FILE, METRICS_FILE};
use crate::report::tensorboard::{TensorBoardHook, TensorBoardOptions};
use crate::report::{ComparisonSummary, ReportError, RunMetrics, RunRecord, charts};
use crate::runtime::lock::RunLock;
use crate::runtime::threads;
use crate::runtime::{Backend, FileError, Progress, write_json};
use crate::train::hooks::{Checkpoint, RunningVariances, StaleStatistics};
use crate::train::{
    self, EpochMetrics, Hook, STATE_FILE, SaveState, TrainError, Trainer, TrainingState,
};
use resume::Begin;
pub use resume::Start;

/// Where runs go unless `--out` says otherwise. Git ignores it: the committed evidence lives in
/// `results/`, which a user's run never overwrites.
pub const RUNS_DIR: &str = "runs";

/// A network's name for folders: `mlp`, `mlp-bn`, `mlp-ln-after`, `cnn-bn-init0.1`, …
pub fn run_name(network: &NetworkConfig) -> String {
    network.label().replace('+', "-").replace('×', "-init")
}

/// The default output folder: `runs/<run name>`.
pub fn default_run_dir(network: &NetworkConfig) -> PathBuf {
    PathBuf::from(RUNS_DIR).join(run_name(network))
}

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

/// A finished run: its metrics and every BatchNorm layer's running variances after each epoch
/// (empty without BatchNorm).
pub struct RunResult {
    pub metrics: RunMetrics,
    pub bn_running_var: Vec<RunningVariances>,
    /// Epochs that were already complete when this process took the run up (0 for a fresh run).
    pub epochs_before: usize,
}

/// A run that stopped early: why, the epochs it completed (already on disk) and the BatchNorm
/// running variances after each of them.
#[derive(Debug)]
pub struct FailedRun {
    pub error: Error,
    pub metrics: RunMetrics,
    pub bn_running_var: Vec<RunningVariances>,
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

fn failed(error: impl Into<Error>, metrics: RunMetrics) -> FailedRun {
    FailedRun {
        error: error.into(),
        metrics,
        bn_running_var: Vec::new(),
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
    let network = &config.network;
    // Held until the run returns: a second process on this folder is refused.
    let _lock = match RunLock::acquire(out) {
        Ok(lock) => lock,
        Err(error) => return Err(failed(error, RunMetrics::empty(config, backend))),
    };
    let state = match resume::begin(config, out, outputs.start) {
        Err(error) => return Err(failed(error, RunMetrics::empty(config, backend))),
        Ok(Begin::Complete(metrics)) => {
            let epochs_before = metrics.epochs.len();
            return Ok(RunResult {
                metrics,
                bn_running_var: Vec::new(),
                epochs_before,
            });
        }
        Ok(Begin::Resume(state)) => Some(state),
        Ok(Begin::Fresh) => None,
    };
    let mut metrics = RunMetrics::empty(config, backend);
    let model = network.init(config.training.seed, &backend.device);
    let parameters = model.parameter_counts();
    if outputs.header {
        print_header(config, backend, data, &parameters, progress);
    }
    let checkpoint = outputs.checkpoint.then(|| out.join(CHECKPOINT_FILE));
    if let Some(state) = &state {
        metrics.epochs = state.header.epochs();
        progress.line(format!(
            "  resuming {} after epoch {} of {}",
            out.display(),
            metrics.epochs.len(),
            config.training.epochs
        ));
    }
    let threads = run_threads(network, config.training.batch_size, outputs.parallel_runs);
    // The folder exists: taking the lock created it.
    let prepare = || -> Result<(), FileError> {
        if state.is_none() {
            let record = run_record(
                config,
                backend,
                data,
                parameters,
                checkpoint.clone(),
                threads,
            );
            record.save(out)?;
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
    let epochs_before = metrics.epochs.len();
    if let Some(state) = &state
        && let Err(message) = trainer.restore(state)
    {
        let error = Error::Resume {
            dir: out.into(),
            message: format!("its {STATE_FILE} does not fit: {message}"),
        };
        return Err(failed(error, metrics));
    }
    let mut stale = StaleStatistics::new(progress);
    let mut checkpoint = checkpoint.map(|path| Checkpoint { path });
    let mut save_state = outputs.checkpoint.then(|| SaveState {
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
    let fitted = threads::with_threads(threads, backend.flush_subnormals, || {
        train::fit(
            &mut trainer,
            &data.train,
            &data.test,
            &config.training,
            &network.label(),
            progress,
            &mut all,
        )
    });
    drop(all);
    let metrics = file.metrics;
    if let Err(error) = fitted {
        return Err(FailedRun {
            bn_running_var: stale.snapshots,
            ..failed(error, metrics)
        });
    }
    // Finished: nothing is left to resume.
    if let Err(error) = TrainingState::remove(out) {
        return Err(failed(ReportError::from(error), metrics));
    }
    if outputs.curves {
        let chart = charts::render(
            &out.join("curves.png"),
            &metrics.chart_title(None),
            &charts::run_panels(&metrics),
        );
        if let Err(error) = chart {
            return Err(failed(error, metrics));
        }
    }
    Ok(RunResult {
        metrics,
        bn_running_var: stale.snapshots,
        epochs_before,
    })
}

/// Trains one network as `config` describes it and writes `config.json`, `metrics.json` (after
/// every epoch), `model.bpk` and `curves.png` into `out`, and its TensorBoard curves if
/// `tensorboard` is given. `start` says what becomes of a run already in `out` (see
/// [`resume::begin`]).
pub fn train_run(
    config: &ExperimentConfig,
    backend: &Backend,
    data: &LoadedData,
    out: &Path,
    (tensorboard, start): (Option<TensorBoardHook>, Start),
    progress: &Progress,
) -> Result<RunResult, Error> {
    let outputs = RunOutputs {
        checkpoint: true,
        curves: true,
        header: true,
        start,
        parallel_runs: 1,
    };
    let mut tensorboard = tensorboard;
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

/// A comparison's variant folder (and TensorBoard run): `no-bn` or `bn`.
fn variant_dir(norm: NormKind) -> &'static str {
    if norm == NormKind::Batch {
        "bn"
    } else {
        "no-bn"
    }
}

/// The TensorBoard run of a comparison's variant: `<model>/no-bn` or `<model>/bn`.
fn variant_run(config: &ExperimentConfig, norm: NormKind) -> String {
    format!("{}/{}", config.network.model, variant_dir(norm))
}

/// The hooks a run gets beyond bnx's own: its TensorBoard writer, when there is one.
fn extra_hooks(tensorboard: &mut Option<TensorBoardHook>) -> Vec<&mut dyn Hook> {
    tensorboard
        .as_mut()
        .map(|hook| hook as &mut dyn Hook)
        .into_iter()
        .collect()
}

/// Trains `config.network` without and with BatchNorm (same seed, data order and initial
/// Dense/Conv weights) into `out/no-bn` and `out/bn`, then writes the charts and `summary.json`.
pub fn compare(
    config: &ExperimentConfig,
    backend: &Backend,
    data: &LoadedData,
    out: &Path,
    (tensorboard, start): (&TensorBoardOptions, Start),
    progress: &Progress,
) -> Result<ComparisonSummary, Error> {
    let run = |norm: NormKind| {
        let mut variant = config.clone();
        variant.network.norm = norm;
        let hook = tensorboard.hook(&variant_run(config, norm));
        let dir = out.join(variant_dir(norm));
        train_run(&variant, backend, data, &dir, (hook, start), progress).map(|run| run.metrics)
    };
    let no_bn = run(NormKind::None)?;
    let bn = run(NormKind::Batch)?;
    write_comparison(out, &no_bn, &bn)
}

fn write_comparison(
    out: &Path,
    no_bn: &RunMetrics,
    bn: &RunMetrics,
) -> Result<ComparisonSummary, Error> {
    let summary = ComparisonSummary::new(no_bn, bn);
    let panels = charts::comparison_panels(no_bn, bn);
    let title = bn.chart_title(Some("with vs without BatchNorm"));
    for name in ["comparison.png", "comparison.svg"] {
        charts::render(&out.join(name), &title, &panels)?;
    }
    write_json(&out.join("summary.json"), &summary).map_err(ReportError::from)?;
    Ok(summary)
}

/// Re-renders the charts of a comparison folder (`no-bn/` + `bn/`, one seed or several) or a
/// single run folder.
pub fn plot(dir: &Path) -> Result<Vec<PathBuf>, Error> {
    let comparison_files = || {
        vec![
            dir.join("comparison.png"),
            dir.join("comparison.svg"),
            dir.join("summary.json"),
        ]
    };
    let seeds = seeds_in(dir);
    if !seeds.is_empty() {
        let load = |norm: NormKind| {
            seeds
                .iter()
                .map(|&seed| RunMetrics::load(&seed_dir(dir, norm, seed)))
                .collect::<Result<Vec<_>, _>>()
        };
        write_seeded_comparison(dir, &seeds, &load(NormKind::None)?, &load(NormKind::Batch)?)?;
        return Ok(comparison_files());
    }
    let (no_bn, bn) = (
        dir.join(variant_dir(NormKind::None)),
        dir.join(variant_dir(NormKind::Batch)),
    );
    if no_bn.join(METRICS_FILE).is_file() && bn.join(METRICS_FILE).is_file() {
        let (no_bn, bn) = (RunMetrics::load(&no_bn)?, RunMetrics::load(&bn)?);
        write_comparison(dir, &no_bn, &bn)?;
        return Ok(comparison_files());
    }
    if dir.join(METRICS_FILE).is_file() {
        let metrics = RunMetrics::load(dir)?;
        let path = dir.join("curves.png");
        charts::render(
            &path,
            &metrics.chart_title(None),
            &charts::run_panels(&metrics),
        )?;
        return Ok(vec![path]);
    }
    Err(ReportError::NotAResultsDir { path: dir.into() }.into())
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
    use crate::model::ModelKind;

    #[test]
    fn thousands_separators() {
        assert_eq!(thousands(111_594), "111,594");
        assert_eq!(thousands(448), "448");
        assert_eq!(thousands(1_000), "1,000");
    }

    #[test]
    fn default_run_dirs_are_git_ignored_and_name_the_variant() {
        let mut network = NetworkConfig::guide(ModelKind::Cnn, true);
        assert_eq!(default_run_dir(&network), Path::new("runs/cnn-bn"));
        network.init_scale = 0.1;
        assert_eq!(default_run_dir(&network), Path::new("runs/cnn-bn-init0.1"));
        let ignore =
            std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/.gitignore")).unwrap();
        assert!(ignore.lines().any(|line| line == "/runs/"), "{ignore}");
    }
}
