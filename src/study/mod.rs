//! `bnx study`: each claim of the Keras BatchNorm guide tested over several seeds, with a chart,
//! a forest plot, tables and verdicts computed from the runs.
//!
//! Each claim lives in one file under `claims/` (its grid, primary and secondary endpoints,
//! judge and chart). A study's runs (`plan`) train like `bnx train` trains (every run keeps its
//! `config.json` and `metrics.json`, plus the raw measurements in `run.json`), then the claim
//! judges them by the rules in `verdict` (`analysis`) and `markdown` writes them up.

pub mod analysis;
pub mod claims;
pub mod markdown;
mod panels;
pub mod plan;
pub mod runs;
pub mod shard;
pub mod variant;
pub mod verdict;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use burn::data::dataset::Dataset;

use crate::Error;
use crate::config::ExperimentConfig;
use crate::data::{ImageBatcher, ImageSet, LoadedData};
use crate::experiment::{self, RunOutputs};
use crate::model::ModelKind;
use crate::report::forest;
use crate::report::{ReportError, charts};
use crate::runtime::jobs::run_in_parallel;
use crate::runtime::{Backend, Progress, Verbosity, read_json, write_atomic, write_json};
use crate::train::hooks::{Probe, StepLosses, TrainSubsetAccuracy};
use crate::train::landscape::{CovariateShift, Landscape};
use crate::train::recalibrate::RecalibratedAccuracy;
use crate::train::{Hook, TrainError};

pub use analysis::StudySummary;
pub use runs::{RunContext, RunOutcome, RunSpec, Scale};
use shard::first_few;
pub use shard::{Shard, StudyMode};

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
        Noise => "noise",
    }
}

impl StudyKind {
    pub fn title(self) -> &'static str {
        claims::claim(self).title()
    }

    pub fn claim(self) -> &'static str {
        claims::claim(self).claim()
    }
}

named_enum! {
    /// How much data and how many epochs each run gets.
    pub enum Budget("budget") {
        /// Whatever (tiny) data is given, two epochs: for tests.
        Tiny => "tiny",
        /// Subsets of MNIST: `study all` in about 15 minutes on 2 CPU cores with `--jobs 2`.
        Quick => "quick",
        /// The whole of MNIST.
        Full => "full",
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
    /// Dataset, optimizer and norm settings; its `training.seed` is the first seed.
    pub base: ExperimentConfig,
    /// Opened once for the whole study.
    pub backend: Backend,
    pub out: PathBuf,
    /// Retrain runs whose `run.json` already matches the plan.
    pub rerun: bool,
    /// Runs trained at the same time.
    pub jobs: usize,
    pub verbosity: Verbosity,
    /// Everything, one shard of the plan, or only the report.
    pub mode: StudyMode,
}

/// What an invocation did: the studies it reported (none for a shard), and how many of the
/// planned runs it trained or found.
#[derive(Debug)]
pub struct StudyRun {
    pub summaries: Vec<StudySummary>,
    /// Runs this invocation trained or reused (a shard's share; for `--report-only`, found).
    pub runs: usize,
    pub planned: usize,
}

/// Runs the studies (all their runs, or the shard's), writes each one's chart, `REPORT.md` and
/// `summary.json`, then the overall `REPORT.md` and `summary.json` from every study summary
/// present in `out`. A shard writes no report; `--report-only` trains nothing.
pub fn run(options: &StudyOptions, data: &LoadedData) -> Result<StudyRun, Error> {
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
    let planned: usize = plans.iter().map(|(_, runs)| runs.len()).sum();
    if let StudyMode::ReportOnly { allow_missing } = options.mode {
        return report_only(options, data, &plans, allow_missing);
    }
    // Positions count over the whole plan, so every shard deals the same plan the same way.
    let mut position = 0;
    let plans: Vec<(StudyKind, Vec<RunSpec>)> = plans
        .into_iter()
        .map(|(kind, specs)| {
            let mine = specs
                .into_iter()
                .filter(|_| {
                    position += 1;
                    match options.mode {
                        StudyMode::Shard(shard) => shard.takes(position - 1),
                        _ => true,
                    }
                })
                .collect();
            (kind, mine)
        })
        .collect();
    let total: usize = plans.iter().map(|(_, runs)| runs.len()).sum();
    let (progress, overall) = Progress::for_many_runs(options.verbosity, total as u64, "study");
    let subsets = Subsets::new(
        data,
        plans
            .iter()
            .flat_map(|(_, runs)| runs.iter().map(RunSpec::scale)),
    );
    let shared = Shared {
        options,
        context: RunContext::of(&options.backend, data),
        subsets: &subsets,
        progress: &progress,
        overall: &overall,
        done: AtomicUsize::new(0),
        total,
    };
    let mut summaries = Vec::new();
    for (kind, specs) in plans {
        if specs.is_empty() {
            continue;
        }
        progress.line(format!(
            "study {kind}: {} — {} runs ({} budget, {} seeds, {} at a time)",
            kind.title(),
            specs.len(),
            options.budget,
            options.seeds,
            options.jobs
        ));
        let outcomes = run_grid(kind, &specs, &shared)?;
        if let StudyMode::Shard(_) = options.mode {
            continue;
        }
        let summary = analysis::analyze(kind, options, &outcomes, &data_note(data, options.budget));
        write_study(&options.out.join(kind.name()), &summary, &outcomes)?;
        progress.line(format!("study {kind}: {}", summary.verdicts()));
        summaries.push(summary);
    }
    overall.finish_and_clear();
    if options.mode == StudyMode::Whole {
        write_overall(&options.out)?;
    }
    Ok(StudyRun {
        summaries,
        runs: total,
        planned,
    })
}

/// `--report-only`: the studies' reports from the runs the shards left in `out`.
fn report_only(
    options: &StudyOptions,
    data: &LoadedData,
    plans: &[(StudyKind, Vec<RunSpec>)],
    allow_missing: bool,
) -> Result<StudyRun, Error> {
    let context = RunContext::of(&options.backend, data);
    let mut found = Vec::new();
    let mut missing = Vec::new();
    for (kind, specs) in plans {
        let dir = options.out.join(kind.name());
        let (mut outcomes, mut absent) = (Vec::new(), Vec::new());
        for spec in specs {
            match load_outcome(&dir.join(spec.dir()), spec, &context) {
                Some(outcome) => outcomes.push(outcome),
                None => absent.push(format!("{kind}/{}", spec.dir().display())),
            }
        }
        missing.extend(absent.iter().cloned());
        found.push((*kind, outcomes, absent));
    }
    let planned: usize = plans.iter().map(|(_, runs)| runs.len()).sum();
    if !missing.is_empty() && !allow_missing {
        return Err(Error::Study(format!(
            "{} of {planned} planned runs are not in {} (or were trained with other settings): {}; train them (with the shards that hold them), or pass --allow-missing to report from the runs present",
            missing.len(),
            options.out.display(),
            first_few(&missing)
        )));
    }
    let mut summaries = Vec::new();
    for (kind, outcomes, absent) in found {
        if outcomes.is_empty() {
            continue;
        }
        let mut summary =
            analysis::analyze(kind, options, &outcomes, &data_note(data, options.budget));
        if !absent.is_empty() {
            summary.caveats.insert(
                0,
                format!(
                    "Incomplete grid (--allow-missing): computed from {} of {} planned runs; missing {}.",
                    outcomes.len(),
                    outcomes.len() + absent.len(),
                    first_few(&absent)
                ),
            );
        }
        write_study(&options.out.join(kind.name()), &summary, &outcomes)?;
        summaries.push(summary);
    }
    write_overall(&options.out)?;
    Ok(StudyRun {
        summaries,
        runs: planned - missing.len(),
        planned,
    })
}

/// What every worker of a study reads.
struct Shared<'a> {
    options: &'a StudyOptions,
    context: RunContext,
    subsets: &'a Subsets,
    progress: &'a Progress,
    overall: &'a indicatif::ProgressBar,
    done: AtomicUsize,
    total: usize,
}

/// Trains a study's runs, `options.jobs` at a time (each run is independent and seeded, so
/// the order they finish in changes nothing), and returns their outcomes in plan order.
fn run_grid(kind: StudyKind, specs: &[RunSpec], shared: &Shared) -> Result<Vec<RunOutcome>, Error> {
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
        let reused = (!shared.options.rerun)
            .then(|| load_outcome(&run_dir, spec, &shared.context))
            .flatten();
        let outcome = match reused {
            Some(outcome) => outcome,
            None => execute(
                spec,
                &shared.context,
                shared.options,
                shared.subsets,
                &run_dir,
                shared.progress,
            )?,
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
struct Subsets {
    made: HashMap<(Option<usize>, Option<usize>), (LoadedData, ImageSet)>,
}

impl Subsets {
    fn new(full: &LoadedData, scales: impl Iterator<Item = Scale>) -> Self {
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

/// The study's data, in words.
fn data_note(full: &LoadedData, budget: Budget) -> String {
    format!(
        "{} budget on {} ({} training / {} test samples available)",
        budget,
        full.provenance.name,
        full.train.labels().len(),
        full.test.labels().len()
    )
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
    let (data, subset) = subsets.get(spec.scale());
    let backend = &options.backend;
    let mut probe = spec.probe_every.map(|every| {
        let images = ImageBatcher::images(&data.test, 0..PROBE_SAMPLES, &backend.device);
        Probe::new(images, spec.config.network.mlp_widths.len() - 1, every)
    });
    let mut step_losses = StepLosses::default();
    let mut train_subset = TrainSubsetAccuracy::new(subset.clone());
    // Validation that already recalibrates needs no second, recorded recalibration.
    let mut recalibrated = (!spec.config.training.recalibrate_bn)
        .then(|| RecalibratedAccuracy::new(data.train.clone(), subset.clone(), data.test.clone()));
    let mut landscape = spec.landscape_every.map(Landscape::new);
    // Internal covariate shift at the last hidden layer, whose input the probe reads too.
    let mut covariate_shift = spec
        .shift_every
        .map(|every| CovariateShift::new(every, spec.config.network.mlp_widths.len() - 1));
    let mut hooks: Vec<&mut dyn Hook> = vec![&mut train_subset];
    if let Some(hook) = recalibrated.as_mut() {
        hooks.push(hook);
    }
    if let Some(hook) = landscape.as_mut() {
        hooks.push(hook);
    }
    if let Some(hook) = covariate_shift.as_mut() {
        hooks.push(hook);
    }
    if let Some(probe) = probe.as_mut() {
        hooks.push(probe);
    }
    if spec.record_steps {
        hooks.push(&mut step_losses);
    }
    let started = Instant::now();
    let outputs = RunOutputs {
        checkpoint: false,
        curves: false,
        header: false,
        // The study decided above that this run is to be trained (not reused).
        start: experiment::Start::Restart,
        parallel_runs: options.jobs,
    };
    let result = experiment::execute_run(
        &spec.config,
        backend,
        data,
        run_dir,
        outputs,
        &mut hooks,
        progress,
    );
    drop(hooks);
    let (epochs, diverged, bn_running_var) = match result {
        Ok(run) => (run.metrics.epochs, None, run.bn_running_var),
        Err(failed) => match failed.error {
            Error::Train(error @ TrainError::NonFiniteLoss { .. }) => {
                step_losses.0.clear();
                probe = None;
                landscape = None;
                covariate_shift = None;
                (
                    failed.metrics.epochs,
                    Some(error.to_string()),
                    failed.bn_running_var,
                )
            }
            other => return Err(other),
        },
    };
    let outcome = RunOutcome {
        spec: spec.clone(),
        context: context.clone(),
        epochs,
        diverged,
        train_subset_acc: train_subset.accuracies,
        bn_running_var,
        recalibrated: recalibrated
            .map(|r| r.accuracies)
            .unwrap_or_default()
            .into_iter()
            .map(|(val_acc, train_subset_acc)| runs::Recalibrated {
                val_acc,
                train_subset_acc,
            })
            .collect(),
        step_losses: step_losses.0,
        probes: probe.map(|p| p.points).unwrap_or_default(),
        landscape: landscape.map(|l| l.points).unwrap_or_default(),
        covariate_shift: covariate_shift.map(|c| c.points).unwrap_or_default(),
        steps_per_epoch: data.train.len().div_ceil(spec.config.training.batch_size),
        seconds: started.elapsed().as_secs_f64(),
    };
    write_json(&run_dir.join(RUN_FILE), &outcome).map_err(ReportError::from)?;
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

/// The chart and forest plot (PNG and SVG), `summary.json` and `REPORT.md` of one study.
fn write_study(dir: &Path, summary: &StudySummary, outcomes: &[RunOutcome]) -> Result<(), Error> {
    let claim = claims::claim(summary.study);
    let runs = claims::Runs::new(outcomes);
    let panels = claim.panels(&runs);
    let figures = claim.figures(&runs);
    let title = format!("{}: {}", summary.study.name(), summary.study.title());
    let (forest_rows, unit) = panels::forest_rows(summary);
    for ext in ["png", "svg"] {
        charts::render(
            &dir.join(format!("{}.{ext}", summary.study.name())),
            &title,
            &panels,
        )?;
        for figure in &figures {
            charts::render(
                &dir.join(format!("{}.{ext}", figure.name)),
                &figure.title,
                &figure.panels,
            )?;
        }
        forest::render(
            &dir.join(format!("forest.{ext}")),
            &format!(
                "{}: paired differences, 95 % CI (blue: for the claim, orange: against, grey: neither)",
                summary.study.name()
            ),
            &format!("Claim side − other side, per seed ({unit})"),
            &forest_rows,
        )?;
    }
    write_json(&dir.join(SUMMARY_FILE), summary).map_err(ReportError::from)?;
    let section = markdown::section(summary, "", 2);
    write_atomic(&dir.join(REPORT_FILE), section.as_bytes()).map_err(ReportError::from)?;
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
        let summary: StudySummary = read_json(&path).map_err(ReportError::from)?;
        summaries.push(summary);
    }
    write_json(&out.join(SUMMARY_FILE), &summaries).map_err(ReportError::from)?;
    write_atomic(
        &out.join(REPORT_FILE),
        markdown::report(&summaries).as_bytes(),
    )
    .map_err(ReportError::from)?;
    Ok(summaries)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn run_folders_are_readable_slugs() {
        let spec = plan::runs(StudyKind::Lr, Budget::Tiny, 1, &ExperimentConfig::default())
            .into_iter()
            .find(|s| {
                s.config.training.learning_rate == 0.01
                    && s.config.network.norm == crate::model::NormKind::Batch
            })
            .unwrap();
        assert_eq!(spec.dir(), PathBuf::from("bn/lr-0.01/seed-42"));
    }

    #[test]
    fn names_parse_back() {
        for kind in StudyKind::ALL {
            assert_eq!(kind.name().parse::<StudyKind>().unwrap(), kind);
        }
        assert_eq!(
            "speed".parse::<StudyKind>().unwrap_err(),
            "unknown study 'speed', expected one of convergence, lr, init, batch, position, depth, regularization, smoothness, shift, noise"
        );
        assert_eq!("quick".parse::<Budget>().unwrap(), Budget::Quick);
    }

    #[test]
    fn a_diverged_run_counts_as_chance() {
        let spec =
            plan::runs(StudyKind::Lr, Budget::Tiny, 1, &ExperimentConfig::default()).remove(0);
        let outcome = RunOutcome::diverged_for_tests(spec);
        assert_eq!(outcome.final_val_acc(), CHANCE_ACCURACY);
        assert_eq!(outcome.val_acc_at(3), CHANCE_ACCURACY);
    }
}
