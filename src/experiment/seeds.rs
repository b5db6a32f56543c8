//! `compare --seeds N`: each variant once per seed, in parallel, reduced to means with bands and
//! paired differences.

use std::path::{Path, PathBuf};

use super::compare::{CompareOptions, compare, variant_dir, variant_run};
use super::error::ExperimentError;
use super::resume::kept_run;
use super::run::{RunOutputs, execute_run, extra_hooks};
use crate::config::ExperimentConfig;
use crate::data::LoadedData;
use crate::model::NormKind;
use crate::report::files::METRICS_FILE;
use crate::report::{ComparisonSummary, ReportError, RunMetrics, SeededSummary, charts};
use crate::runtime::jobs::run_in_parallel;
use crate::runtime::{Backend, Progress, read_json, write_json};

/// What a comparison found: one seed's numbers, or several seeds' spreads and paired differences.
pub enum Comparison {
    OneSeed(ComparisonSummary),
    Seeds(Box<SeededSummary>),
}

impl Comparison {
    /// The heading and table for the terminal.
    pub fn describe(&self) -> String {
        match self {
            Comparison::OneSeed(summary) => summary.describe(),
            Comparison::Seeds(summary) => summary.describe(),
        }
    }
}

/// `compare.json`: what a comparison folder was asked to hold, so `compare --resume DIR` can
/// finish it with the same settings.
pub const PLAN_FILE: &str = "compare.json";

#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ComparePlan {
    /// The settings of every run (each variant sets its own norm, each seed its seed).
    pub config: ExperimentConfig,
    pub seeds: usize,
}

impl ComparePlan {
    pub fn save(&self, out: &Path) -> Result<(), ExperimentError> {
        write_json(&out.join(PLAN_FILE), self).map_err(|e| ReportError::from(e).into())
    }

    pub fn load(out: &Path) -> Result<Self, ExperimentError> {
        let path = out.join(PLAN_FILE);
        if !path.is_file() {
            return Err(ExperimentError::Resume {
                dir: out.into(),
                message: format!(
                    "it has no {PLAN_FILE}; give the folder that `bnx compare` wrote it to (with --model all, one per network)"
                ),
            });
        }
        Ok(read_json(&path).map_err(ReportError::from)?)
    }

    /// Refuses to replace the plan of a comparison in `out` that asked for something else and
    /// has completed epochs: writing this plan would make `--resume` finish the wrong one.
    pub fn check_replaces(&self, out: &Path) -> Result<(), ExperimentError> {
        let path = out.join(PLAN_FILE);
        if !path.is_file() {
            return Ok(());
        }
        let old: Result<ComparePlan, _> = read_json(&path);
        if old.as_ref().is_ok_and(|old| old == self) || !holds_epochs(out) {
            return Ok(());
        }
        let what = match old {
            Err(_) => format!("its {PLAN_FILE} cannot be read"),
            Ok(old) => {
                let mut differences = self
                    .config
                    .differences(&old.config, ("asked", &format!("in its {PLAN_FILE}")));
                if old.seeds != self.seeds {
                    differences.push(format!(
                        "seeds ({} asked, {} in its {PLAN_FILE})",
                        self.seeds, old.seeds
                    ));
                }
                format!(
                    "it holds a comparison with other settings ({})",
                    differences.join(", ")
                )
            }
        };
        Err(ExperimentError::Occupied {
            dir: out.into(),
            message: format!(
                "{what} and completed runs; to finish that comparison use --resume {}, to discard it and compare these settings there add --restart, or choose another --out",
                out.display()
            ),
        })
    }
}

/// Whether a run below `out` (`no-bn/`, `bn/seed-S/`, …) holds kept work, as
/// [`kept_run`] judges it (a `metrics.json` that does not read counts as kept).
fn holds_epochs(out: &Path) -> bool {
    let has_epochs = |dir: &Path| !matches!(kept_run(dir), Ok(None));
    let subfolders = |dir: &Path| -> Vec<PathBuf> {
        std::fs::read_dir(dir)
            .map(|entries| {
                entries
                    .flatten()
                    .map(|e| e.path())
                    .filter(|p| p.is_dir())
                    .collect()
            })
            .unwrap_or_default()
    };
    subfolders(out).iter().any(|variant| {
        has_epochs(variant) || subfolders(variant).iter().any(|seed| has_epochs(seed))
    })
}

/// `compare` over `seeds` seeds (the caller writes the folder's [`ComparePlan`] first, so that
/// a comparison stopped before it starts can still be resumed) (`config.training.seed` and the next ones): each variant trains
/// once per seed, `jobs` runs at a time, into `out/no-bn/seed-S` and `out/bn/seed-S`; the chart
/// shows each variant's mean with a band and `summary.json` the paired differences. One seed is
/// [`compare`], folders and all.
pub fn compare_seeds(
    config: &ExperimentConfig,
    backend: &Backend,
    data: &LoadedData,
    out: &Path,
    options: &CompareOptions,
    progress: &Progress,
) -> Result<Comparison, ExperimentError> {
    let (seeds, jobs) = (options.seeds, options.jobs);
    if seeds <= 1 {
        return compare(config, backend, data, out, options, progress).map(Comparison::OneSeed);
    }
    let first = config.training.seed;
    let runs: Vec<(u64, NormKind)> = (first..first + seeds as u64)
        .flat_map(|seed| [(seed, NormKind::None), (seed, NormKind::Batch)])
        .collect();
    let (progress, overall) =
        Progress::for_many_runs(progress.verbosity(), runs.len() as u64, "compare");
    let outputs = RunOutputs {
        checkpoint: true,
        curves: true,
        header: false,
        start: options.start,
        parallel_runs: jobs.clamp(1, runs.len().max(1)),
    };
    let metrics = run_in_parallel(jobs, &runs, |&(seed, norm)| {
        backend.enter_thread();
        let mut run = config.clone();
        run.training.seed = seed;
        run.network.norm = norm;
        let dir = seed_dir(out, norm, seed);
        let mut hook = options
            .tensorboard
            .hook(&format!("{}/seed-{seed}", variant_run(config, norm)));
        let mut hooks = extra_hooks(&mut hook);
        let result = execute_run(&run, backend, data, &dir, outputs, &mut hooks, &progress)
            .map_err(|failed| failed.error)?;
        overall.inc(1);
        let last = result
            .metrics
            .epochs
            .last()
            .expect("a finished run has epochs");
        let kept = if result.epochs_before == run.training.epochs {
            ", complete before, kept"
        } else {
            ""
        };
        progress.line(format!(
            "{} seed {seed}: val acc {:.2}% ({}{kept})",
            run.network.label(),
            100.0 * last.val_acc,
            dir.display()
        ));
        Ok::<_, ExperimentError>(result.metrics)
    })?;
    overall.finish_and_clear();
    // Seed-major: each seed's no-BN run, then its BN run.
    let (mut no_bn, mut bn) = (Vec::new(), Vec::new());
    for (i, run) in metrics.into_iter().enumerate() {
        if i % 2 == 0 {
            no_bn.push(run)
        } else {
            bn.push(run)
        }
    }
    let seeds: Vec<u64> = (first..first + seeds as u64).collect();
    write_seeded_comparison(out, &seeds, &no_bn, &bn)
        .map(|summary| Comparison::Seeds(Box::new(summary)))
}

pub(super) fn seed_dir(out: &Path, norm: NormKind, seed: u64) -> PathBuf {
    out.join(variant_dir(norm)).join(format!("seed-{seed}"))
}

pub(super) fn write_seeded_comparison(
    out: &Path,
    seeds: &[u64],
    no_bn: &[RunMetrics],
    bn: &[RunMetrics],
) -> Result<SeededSummary, ExperimentError> {
    let summary = SeededSummary::new(seeds, no_bn, bn);
    let panels = summary.panels(no_bn, bn);
    let title = bn[0].chart_title(Some(&format!(
        "with vs without BatchNorm, {} seeds",
        seeds.len()
    )));
    for name in ["comparison.png", "comparison.svg"] {
        charts::render(&out.join(name), &title, &panels)?;
    }
    write_json(&out.join("summary.json"), &summary).map_err(ReportError::from)?;
    Ok(summary)
}

/// The seeds of a `compare --seeds` folder: `no-bn/seed-S` folders with a `bn/seed-S` twin.
pub(super) fn seeds_in(dir: &Path) -> Vec<u64> {
    let Ok(entries) = std::fs::read_dir(dir.join(variant_dir(NormKind::None))) else {
        return Vec::new();
    };
    let mut seeds: Vec<u64> = entries
        .filter_map(|entry| {
            let name = entry.ok()?.file_name();
            let seed = name.to_str()?.strip_prefix("seed-")?.parse().ok()?;
            seed_dir(dir, NormKind::Batch, seed)
                .join(METRICS_FILE)
                .is_file()
                .then_some(seed)
        })
        .collect();
    seeds.sort_unstable();
    seeds
}
