//! `bnx study`: each claim of the Keras BatchNorm guide tested over several seeds, with a chart,
//! a table and a verdict computed from the runs (see `verdict` for the rules).
//!
//! A study is a grid of runs (`plan`), trained one after the other like `bnx train` trains
//! (every run keeps its `config.json` and `metrics.json`), then reduced to a chart, a table and
//! a verdict (`analysis`) and written up as Markdown (`markdown`).

pub mod analysis;
pub mod markdown;
pub mod plan;
pub mod verdict;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use serde::{Deserialize, Serialize};

use crate::Error;
use crate::config::ExperimentConfig;
use crate::data::{ImageBatcher, LoadedData};
use crate::experiment::{self, RunOutputs};
use crate::model::{ModelKind, NetworkConfig, NormKind};
use crate::report::{self, charts};
use crate::train::backend::BackendKind;
use crate::train::progress::{Progress, Verbosity};
use crate::train::{EpochMetrics, ProbePoint, ProbeSpec, TrainError};

pub use analysis::StudySummary;

/// Validation accuracy credited to a run whose loss became non-finite: a network with NaN
/// weights is no better than guessing one of ten classes.
pub const CHANCE_ACCURACY: f64 = 0.1;

named_enum! {
    pub enum StudyKind("study") {
        Convergence => "convergence",
        Lr => "lr",
        Init => "init",
        Batch => "batch",
        Position => "position",
        Depth => "depth",
        Regularization => "regularization",
        Smoothness => "smoothness",
        Shift => "shift",
    }
}

impl StudyKind {
    pub fn title(self) -> &'static str {
        match self {
            StudyKind::Convergence => "Faster convergence",
            StudyKind::Lr => "Higher learning rates",
            StudyKind::Init => "Less sensitivity to initialization",
            StudyKind::Batch => "Small batches: BatchNorm vs LayerNorm and GroupNorm",
            StudyKind::Position => "BatchNorm before or after the activation",
            StudyKind::Depth => "Deeper networks",
            StudyKind::Regularization => "A mild regularizer",
            StudyKind::Smoothness => "A smoother training loss",
            StudyKind::Shift => "Internal covariate shift",
        }
    }

    pub fn claim(self) -> &'static str {
        match self {
            StudyKind::Convergence => {
                "With BatchNorm the network reaches a higher validation accuracy in fewer epochs."
            }
            StudyKind::Lr => {
                "BatchNorm lets the network train well at learning rates above the default 1e-3, where the plain network suffers."
            }
            StudyKind::Init => {
                "With BatchNorm, training is less sensitive to the scale of the initial weights."
            }
            StudyKind::Batch => {
                "BatchNorm degrades with batches smaller than about 8; LayerNorm and GroupNorm, which do not use batch statistics, do not."
            }
            StudyKind::Position => {
                "BatchNorm works better before the activation (Dense → BN → ReLU) than after it."
            }
            StudyKind::Depth => "BatchNorm matters more the deeper the network.",
            StudyKind::Regularization => {
                "BatchNorm acts as a mild regularizer: the gap between training and validation accuracy is smaller."
            }
            StudyKind::Smoothness => {
                "With BatchNorm the training loss is smoother and more predictable from step to step."
            }
            StudyKind::Shift => {
                "BatchNorm keeps the distribution of a hidden layer's inputs stable during training (Ioffe & Szegedy 2015, figure 1)."
            }
        }
    }
}

named_enum! {
    /// How much data and how many epochs each run gets.
    pub enum Budget("budget") {
        /// Whatever (tiny) data is given, two epochs: for tests.
        Tiny => "tiny",
        /// Subsets of MNIST: `study all` in well under 15 minutes on 2 CPU cores.
        Quick => "quick",
        /// The whole of MNIST.
        Full => "full",
    }
}

/// The data and epochs of one run: the first `limit_train` / `limit_test` samples.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Scale {
    pub limit_train: Option<usize>,
    pub limit_test: Option<usize>,
    pub epochs: usize,
}

/// One run of a study's grid.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunSpec {
    /// The curve this run belongs to, e.g. "No BN", "With BN", "LayerNorm".
    pub series: String,
    /// The grid point, e.g. "lr 0.01", "batch 4", "MLP".
    pub point: String,
    /// The grid point's value on the chart's x axis (0 where there is no axis).
    pub x: f64,
    pub network: NetworkConfig,
    pub learning_rate: f64,
    pub batch_size: usize,
    pub seed: u64,
    pub scale: Scale,
    /// Record hidden-layer percentiles every this many steps (the shift study).
    pub probe_every: Option<usize>,
    /// Keep every step's training loss (the smoothness study).
    pub record_steps: bool,
}

impl RunSpec {
    /// `<series>/<point>/seed-<seed>`, in lower-case words joined by dashes.
    pub fn dir(&self) -> PathBuf {
        PathBuf::from(slug(&self.series))
            .join(slug(&self.point))
            .join(format!("seed-{}", self.seed))
    }

    pub fn model(&self) -> ModelKind {
        self.network.model
    }
}

fn slug(text: &str) -> String {
    let mut out = String::new();
    for c in text.chars() {
        if c.is_ascii_alphanumeric() || c == '.' {
            out.push(c.to_ascii_lowercase());
        } else if !out.ends_with('-') && !out.is_empty() {
            out.push('-');
        }
    }
    out.trim_end_matches('-').to_string()
}

/// What else decides a run besides its spec: an earlier `run.json` is reused only when all
/// of it matches.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunContext {
    /// SHA-256 naming the dataset's four files.
    pub dataset_sha256: String,
    /// The backend that runs (what `auto` chose).
    pub backend: String,
    pub adam: crate::config::AdamSettings,
    pub bnx_version: String,
    /// FTZ/DAZ on CPU backends; runs recorded before bnx flushed subnormals had it off.
    #[serde(default)]
    pub flush_subnormals: bool,
}

impl RunContext {
    fn of(config: &ExperimentConfig, backend: BackendKind, data: &LoadedData) -> Self {
        Self {
            dataset_sha256: data.provenance.sha256.clone(),
            backend: backend.to_string(),
            adam: config.adam,
            bnx_version: env!("CARGO_PKG_VERSION").into(),
            flush_subnormals: config.flush_subnormals && backend.runs_on_cpu(),
        }
    }
}

/// One finished run, as `run.json` keeps it next to the run's `metrics.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunOutcome {
    pub spec: RunSpec,
    pub context: RunContext,
    pub epochs: Vec<EpochMetrics>,
    /// Why the run stopped early (a non-finite loss), if it did.
    pub diverged: Option<String>,
    /// After each epoch, the share of a BatchNorm running variance still at its initial value
    /// 1, at worst over channels: validation uses it, so a large share understates the network.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub bn_initial_variance_shares: Vec<f64>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub step_losses: Vec<f32>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub probes: Vec<ProbePoint>,
    pub seconds: f64,
}

impl RunOutcome {
    /// Final validation accuracy; chance level for a diverged run.
    pub fn final_val_acc(&self) -> f64 {
        match (&self.diverged, self.epochs.last()) {
            (None, Some(last)) => last.val_acc,
            _ => CHANCE_ACCURACY,
        }
    }

    /// Validation accuracy after `epoch` (1-based); chance once the run has diverged.
    pub fn val_acc_at(&self, epoch: usize) -> f64 {
        self.epochs
            .get(epoch - 1)
            .map_or(CHANCE_ACCURACY, |e| e.val_acc)
    }
}

/// What `bnx study` was asked to do.
#[derive(Debug, Clone)]
pub struct StudyOptions {
    pub studies: Vec<StudyKind>,
    /// Only the runs of this network (`None`: every network a study uses).
    pub model: Option<ModelKind>,
    pub budget: Budget,
    pub seeds: usize,
    /// Dataset, backend, optimizer and norm settings; its `seed` is the first seed.
    pub base: ExperimentConfig,
    pub out: PathBuf,
    /// Retrain runs whose `run.json` already matches the plan.
    pub rerun: bool,
    /// Runs trained at the same time.
    pub jobs: usize,
    pub verbosity: Verbosity,
}

/// Runs the studies, writes each one's chart, `REPORT.md` and `summary.json`, then the overall
/// `REPORT.md` and `summary.json` from every study summary present in `out`.
pub fn run(options: &StudyOptions, data: &LoadedData) -> Result<Vec<StudySummary>, Error> {
    let plans: Vec<(StudyKind, Vec<RunSpec>)> = options
        .studies
        .iter()
        .map(|&kind| {
            let mut runs = plan::runs(kind, options.budget, options.seeds, &options.base);
            runs.retain(|spec| options.model.is_none_or(|model| spec.model() == model));
            (kind, runs)
        })
        .filter(|(_, runs)| !runs.is_empty())
        .collect();
    if plans.is_empty() {
        return Err(Error::Study(format!(
            "no study among {} trains the {}",
            options
                .studies
                .iter()
                .map(|k| k.name())
                .collect::<Vec<_>>()
                .join(", "),
            options.model.map_or("chosen network", ModelKind::name)
        )));
    }
    // Opened up front: an unavailable backend fails here, before any run starts.
    let backend = options.base.backend.open()?.kind;
    let total: usize = plans.iter().map(|(_, runs)| runs.len()).sum();
    let (progress, overall) = Progress::for_many_runs(options.verbosity, total as u64, "study");
    let subsets = Subsets::new(
        data,
        plans
            .iter()
            .flat_map(|(_, runs)| runs.iter().map(|r| r.scale)),
    );
    let shared = Shared {
        options,
        context: RunContext::of(&options.base, backend, data),
        subsets: &subsets,
        progress: &progress,
        overall: &overall,
        done: AtomicUsize::new(0),
        total,
    };
    let mut summaries = Vec::new();
    for (kind, specs) in plans {
        progress.line(format!(
            "study {kind}: {} — {} runs ({} budget, {} seeds, {} at a time)",
            kind.title(),
            specs.len(),
            options.budget,
            options.seeds,
            options.jobs
        ));
        let outcomes = run_grid(kind, &specs, &shared)?;
        let data_note = subsets.describe(options.budget);
        let summary = analysis::analyze(kind, options, &outcomes, &data_note);
        write_study(&options.out.join(kind.name()), &summary, &outcomes)?;
        progress.line(format!(
            "study {kind}: {} — {}",
            summary.verdict, summary.verdict_detail
        ));
        summaries.push(summary);
    }
    overall.finish_and_clear();
    write_overall(&options.out)?;
    Ok(summaries)
}

/// What every worker of a study reads.
struct Shared<'a> {
    options: &'a StudyOptions,
    context: RunContext,
    subsets: &'a Subsets<'a>,
    progress: &'a Progress,
    overall: &'a indicatif::ProgressBar,
    done: AtomicUsize,
    total: usize,
}

/// Trains a study's runs, `options.jobs` at a time (each run is independent and seeded, so
/// the order they finish in changes nothing), and returns their outcomes in plan order.
fn run_grid(kind: StudyKind, specs: &[RunSpec], shared: &Shared) -> Result<Vec<RunOutcome>, Error> {
    let dir = shared.options.out.join(kind.name());
    let next = AtomicUsize::new(0);
    let outcomes: Mutex<Vec<Option<RunOutcome>>> = Mutex::new(vec![None; specs.len()]);
    let failure: Mutex<Option<Error>> = Mutex::new(None);
    let worker = || {
        while failure
            .lock()
            .expect("no worker panics holding it")
            .is_none()
        {
            let index = next.fetch_add(1, Ordering::SeqCst);
            let Some(spec) = specs.get(index) else { break };
            shared.overall.set_message(format!(
                "{kind}: {} {} seed {}",
                spec.series, spec.point, spec.seed
            ));
            let run_dir = dir.join(spec.dir());
            let reused = (!shared.options.rerun)
                .then(|| load_outcome(&run_dir, spec, &shared.context))
                .flatten();
            let result = match reused {
                Some(outcome) => Ok(outcome),
                None => execute(
                    spec,
                    &shared.context,
                    shared.options,
                    shared.subsets,
                    &run_dir,
                    shared.progress,
                ),
            };
            match result {
                Ok(outcome) => {
                    let done = shared.done.fetch_add(1, Ordering::SeqCst) + 1;
                    shared.overall.inc(1);
                    shared.progress.line(format!(
                        "[{done}/{}] {kind}: {} · {} · seed {}: val {:.2}%{} ({:.1} s)",
                        shared.total,
                        spec.series,
                        spec.point,
                        spec.seed,
                        100.0 * outcome.final_val_acc(),
                        if outcome.diverged.is_some() {
                            ", diverged"
                        } else {
                            ""
                        },
                        outcome.seconds
                    ));
                    outcomes.lock().expect("no worker panics holding it")[index] = Some(outcome);
                }
                Err(error) => {
                    *failure.lock().expect("no worker panics holding it") = Some(error);
                }
            }
        }
    };
    std::thread::scope(|scope| {
        for _ in 0..shared.options.jobs.clamp(1, specs.len().max(1)) {
            scope.spawn(worker);
        }
    });
    if let Some(error) = failure.into_inner().expect("workers are done") {
        return Err(error);
    }
    Ok(outcomes
        .into_inner()
        .expect("workers are done")
        .into_iter()
        .map(|o| o.expect("every run of the grid finished"))
        .collect())
}

/// Data subsets per scale, made once up front and shared by every run that uses them.
struct Subsets<'a> {
    full: &'a LoadedData,
    made: HashMap<(Option<usize>, Option<usize>), LoadedData>,
}

impl<'a> Subsets<'a> {
    fn new(full: &'a LoadedData, scales: impl Iterator<Item = Scale>) -> Self {
        let mut made = HashMap::new();
        for scale in scales {
            made.entry((scale.limit_train, scale.limit_test))
                .or_insert_with(|| full.clone().limited(scale.limit_train, scale.limit_test));
        }
        Self { full, made }
    }

    fn get(&self, scale: Scale) -> &LoadedData {
        self.made
            .get(&(scale.limit_train, scale.limit_test))
            .expect("every planned scale was made up front")
    }

    fn describe(&self, budget: Budget) -> String {
        format!(
            "{} budget on {} ({} training / {} test samples available)",
            budget,
            self.full.provenance.name,
            self.full.train.labels().len(),
            self.full.test.labels().len()
        )
    }
}

/// Trains one run into `run_dir`; a diverging run is an outcome, not an error.
fn execute(
    spec: &RunSpec,
    context: &RunContext,
    options: &StudyOptions,
    subsets: &Subsets,
    run_dir: &Path,
    progress: &Progress,
) -> Result<RunOutcome, Error> {
    let config = ExperimentConfig {
        model: spec.model(),
        bn: spec.network.norm == NormKind::Batch,
        norm: spec.network.norm,
        norm_position: spec.network.position,
        init_scale: spec.network.init_scale,
        epochs: spec.scale.epochs,
        batch_size: spec.batch_size,
        learning_rate: spec.learning_rate,
        seed: spec.seed,
        limit_train: spec.scale.limit_train,
        limit_test: spec.scale.limit_test,
        ..options.base.clone()
    };
    let data = subsets.get(spec.scale);
    let device = config.backend.open()?.device;
    let probe = spec.probe_every.map(|every| ProbeSpec {
        images: ImageBatcher::images(&data.test, 0..PROBE_SAMPLES, &device),
        layer: spec.network.mlp_widths.len() - 1,
        every,
    });
    let started = Instant::now();
    let outputs = RunOutputs {
        checkpoint: false,
        curves: false,
        step_losses: spec.record_steps,
    };
    let result = experiment::execute_run(
        &config,
        &spec.network,
        data,
        run_dir,
        outputs,
        probe,
        progress,
    );
    let outcome = match result {
        Ok(run) => RunOutcome {
            spec: spec.clone(),
            context: context.clone(),
            bn_initial_variance_shares: run.initial_variance_shares,
            epochs: run.metrics.epochs,
            diverged: None,
            step_losses: run.step_losses,
            probes: run.probes,
            seconds: started.elapsed().as_secs_f64(),
        },
        Err(failed) => match failed.error {
            Error::Train(error @ TrainError::NonFiniteLoss { .. }) => RunOutcome {
                spec: spec.clone(),
                context: context.clone(),
                bn_initial_variance_shares: Vec::new(),
                epochs: failed.metrics.epochs,
                diverged: Some(error.to_string()),
                step_losses: Vec::new(),
                probes: Vec::new(),
                seconds: started.elapsed().as_secs_f64(),
            },
            other => return Err(other),
        },
    };
    report::write_json(&run_dir.join(RUN_FILE), &outcome)?;
    Ok(outcome)
}

/// Images in the shift study's fixed probe batch (the first test samples).
const PROBE_SAMPLES: usize = 500;
const RUN_FILE: &str = "run.json";
const SUMMARY_FILE: &str = "summary.json";
const REPORT_FILE: &str = "REPORT.md";

/// A finished run from an earlier invocation, if it was planned exactly like `spec` on the
/// same data, backend and optimizer settings.
fn load_outcome(run_dir: &Path, spec: &RunSpec, context: &RunContext) -> Option<RunOutcome> {
    let text = std::fs::read_to_string(run_dir.join(RUN_FILE)).ok()?;
    let outcome: RunOutcome = serde_json::from_str(&text).ok()?;
    (outcome.spec == *spec && outcome.context == *context).then_some(outcome)
}

/// The chart (PNG and SVG), `summary.json` and `REPORT.md` of one study.
fn write_study(dir: &Path, summary: &StudySummary, outcomes: &[RunOutcome]) -> Result<(), Error> {
    let panels = analysis::panels(summary.study, outcomes);
    let title = format!("{}: {}", summary.study.name(), summary.study.title());
    for ext in ["png", "svg"] {
        charts::render(
            &dir.join(format!("{}.{ext}", summary.study.name())),
            &title,
            &panels,
        )?;
    }
    report::write_json(&dir.join(SUMMARY_FILE), summary)?;
    let section = markdown::section(summary, "", 2);
    report::write_atomic(&dir.join(REPORT_FILE), section.as_bytes())?;
    Ok(())
}

/// `REPORT.md` and `summary.json` over every study summary found under `out`, in study order.
pub fn write_overall(out: &Path) -> Result<Vec<StudySummary>, Error> {
    let mut summaries = Vec::new();
    for kind in StudyKind::ALL {
        let path = out.join(kind.name()).join(SUMMARY_FILE);
        if !path.is_file() {
            continue;
        }
        let summary: StudySummary = report::read_json(&path)?;
        summaries.push(summary);
    }
    report::write_json(&out.join(SUMMARY_FILE), &summaries)?;
    report::write_atomic(
        &out.join(REPORT_FILE),
        markdown::report(&summaries).as_bytes(),
    )?;
    Ok(summaries)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn run_folders_are_readable_slugs() {
        let spec = plan::runs(StudyKind::Lr, Budget::Tiny, 1, &ExperimentConfig::default())
            .into_iter()
            .find(|s| s.learning_rate == 0.01 && s.network.norm == NormKind::Batch)
            .unwrap();
        assert_eq!(spec.dir(), PathBuf::from("with-bn/lr-0.01/seed-42"));
    }

    #[test]
    fn names_parse_back() {
        for kind in StudyKind::ALL {
            assert_eq!(kind.name().parse::<StudyKind>().unwrap(), kind);
        }
        assert_eq!(
            "speed".parse::<StudyKind>().unwrap_err(),
            "unknown study 'speed', expected one of convergence, lr, init, batch, position, depth, regularization, smoothness, shift"
        );
        assert_eq!("quick".parse::<Budget>().unwrap(), Budget::Quick);
    }

    #[test]
    fn a_diverged_run_counts_as_chance() {
        let spec =
            plan::runs(StudyKind::Lr, Budget::Tiny, 1, &ExperimentConfig::default()).remove(0);
        let outcome = RunOutcome {
            spec,
            context: RunContext {
                dataset_sha256: String::new(),
                backend: "flex".into(),
                adam: Default::default(),
                bnx_version: String::new(),
                flush_subnormals: true,
            },
            epochs: Vec::new(),
            diverged: Some("loss NaN".into()),
            bn_initial_variance_shares: Vec::new(),
            step_losses: Vec::new(),
            probes: Vec::new(),
            seconds: 0.0,
        };
        assert_eq!(outcome.final_val_acc(), CHANCE_ACCURACY);
        assert_eq!(outcome.val_acc_at(3), CHANCE_ACCURACY);
    }
}
