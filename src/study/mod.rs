//! `bnx study`: each claim of the Keras BatchNorm guide tested over several seeds, with a chart,
//! a forest plot, tables and verdicts computed from the runs.
//!
//! Each claim lives in one file under `claims/` (its grid, primary and secondary endpoints,
//! judge and chart), each measurement a run records in one file under `measures/`. A study's
//! runs (`plan`) train like `bnx train` trains (`execute`: every run keeps its `config.json` and
//! `metrics.json`, plus the raw measurements in `run.json`, reused by `cache`), then the claim
//! judges them by the rules in `verdict` (`analysis`) and `write` writes them up.

pub mod analysis;
mod cache;
pub mod claims;
pub mod endpoint;
mod execute;
pub mod kind;
pub mod lookup;
pub mod markdown;
pub mod measures;
pub mod options;
mod panels;
pub mod plan;
pub mod point;
pub mod runs;
pub mod shard;
pub mod variant;
pub mod verdict;
mod write;

use std::sync::atomic::AtomicUsize;

pub use analysis::StudySummary;
pub use kind::{Budget, CHANCE_ACCURACY, StudyError, StudyKind};
pub use options::StudyOptions;
pub use runs::{RunContext, RunOutcome, RunSpec, Scale};
pub use shard::{Shard, StudyMode};
pub use write::write_overall;

use crate::data::LoadedData;
use crate::runtime::Progress;
use execute::{Shared, Subsets, run_grid};
use lookup::Runs;
use plan::Plans;
use shard::first_few;
use write::{data_note, write_study};

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
pub fn run(options: &StudyOptions, data: &LoadedData) -> Result<StudyRun, StudyError> {
    let plans = plan::plans(options)?;
    let planned: usize = plans.iter().map(|(_, runs)| runs.len()).sum();
    if let StudyMode::ReportOnly { allow_missing } = options.mode {
        return report_only(options, data, &plans, allow_missing);
    }
    let mine = plan::deal(plans.clone(), options.mode);
    let total: usize = mine.iter().map(|(_, runs)| runs.len()).sum();
    let (progress, overall) = Progress::for_many_runs(options.verbosity, total as u64, "study");
    let subsets = Subsets::new(
        data,
        mine.iter()
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
    for ((kind, specs), (_, planned_specs)) in mine.into_iter().zip(&plans) {
        if specs.is_empty() {
            continue;
        }
        progress.line(format!(
            "study {kind}: {} — {} runs ({} budget, {}, {} at a time)",
            claims::claim(kind).title(),
            specs.len(),
            options.budget,
            plan::describe_seeds(planned_specs),
            options.jobs
        ));
        let outcomes = run_grid(kind, &specs, &shared)?;
        if let StudyMode::Shard(_) = options.mode {
            continue;
        }
        let runs = Runs::new(&outcomes, planned_specs);
        let summary = analysis::analyze(kind, options, &runs, &data_note(data, options.budget))?;
        write_study(&options.out.join(kind.name()), &summary, &runs)?;
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
    plans: &Plans,
    allow_missing: bool,
) -> Result<StudyRun, StudyError> {
    let context = RunContext::of(&options.backend, data);
    let mut found = Vec::new();
    let mut missing = Vec::new();
    for (kind, specs) in plans {
        let dir = options.out.join(kind.name());
        let (mut outcomes, mut absent) = (Vec::new(), Vec::new());
        for spec in specs {
            match cache::load_outcome(&dir.join(spec.dir()), spec, &context) {
                Some(outcome) => outcomes.push(outcome),
                None => absent.push(format!("{kind}/{}", spec.dir().display())),
            }
        }
        missing.extend(absent.iter().cloned());
        found.push((*kind, specs, outcomes, absent));
    }
    let planned: usize = plans.iter().map(|(_, runs)| runs.len()).sum();
    if !missing.is_empty() && !allow_missing {
        return Err(StudyError::MissingRuns {
            message: format!(
                "{} of {planned} planned runs are not in {} (or were trained with other settings): {}; train them (with the shards that hold them), or pass --allow-missing to report from the runs present",
                missing.len(),
                options.out.display(),
                first_few(&missing)
            ),
        });
    }
    let mut summaries = Vec::new();
    for (kind, specs, outcomes, absent) in found {
        if outcomes.is_empty() {
            continue;
        }
        let runs = Runs::new(&outcomes, specs);
        let mut summary =
            analysis::analyze(kind, options, &runs, &data_note(data, options.budget))?;
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
        write_study(&options.out.join(kind.name()), &summary, &runs)?;
        summaries.push(summary);
    }
    write_overall(&options.out)?;
    Ok(StudyRun {
        summaries,
        runs: planned - missing.len(),
        planned,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::ExperimentConfig;

    #[test]
    fn run_folders_are_readable_slugs() {
        let spec = plan::runs(
            StudyKind::Lr,
            Budget::Tiny,
            Some(1),
            &ExperimentConfig::default(),
        )
        .into_iter()
        .find(|s| {
            s.config.training.learning_rate == 0.01
                && s.config.network.norm == crate::model::NormKind::Batch
        })
        .unwrap();
        assert_eq!(spec.dir(), std::path::PathBuf::from("bn/lr-0.01/seed-42"));
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
        let spec = plan::runs(
            StudyKind::Lr,
            Budget::Tiny,
            Some(1),
            &ExperimentConfig::default(),
        )
        .remove(0);
        let outcome = RunOutcome::diverged_for_tests(spec);
        assert_eq!(outcome.final_val_acc(), CHANCE_ACCURACY);
        assert_eq!(outcome.val_acc_at(3), CHANCE_ACCURACY);
    }
}
