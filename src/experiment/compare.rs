//! A network with and without BatchNorm, one seed: both runs, then the comparison's charts and
//! `summary.json`.

use std::path::Path;

use super::error::ExperimentError;
use super::resume::Start;
use super::run::{TrainOptions, train_run};
use crate::config::ExperimentConfig;
use crate::data::LoadedData;
use crate::model::NormKind;
use crate::report::tensorboard::TensorBoardOptions;
use crate::report::{ComparisonSummary, ReportError, RunMetrics, charts};
use crate::runtime::{Backend, Progress, write_json};

/// How a comparison runs besides its settings: over how many seeds, how many runs at a time,
/// its TensorBoard export, and what becomes of runs already in its folder.
pub struct CompareOptions<'a> {
    pub seeds: usize,
    pub jobs: usize,
    pub tensorboard: &'a TensorBoardOptions,
    pub start: Start,
}

/// A comparison's variant folder (and TensorBoard run): `no-bn` or `bn`.
pub(super) fn variant_dir(norm: NormKind) -> &'static str {
    if norm == NormKind::Batch {
        "bn"
    } else {
        "no-bn"
    }
}

/// The TensorBoard run of a comparison's variant: `<model>/no-bn` or `<model>/bn`.
pub(super) fn variant_run(config: &ExperimentConfig, norm: NormKind) -> String {
    format!("{}/{}", config.network.model, variant_dir(norm))
}

/// Trains `config.network` without and with BatchNorm (same seed, data order and initial
/// Dense/Conv weights) into `out/no-bn` and `out/bn`, then writes the charts and `summary.json`.
pub fn compare(
    config: &ExperimentConfig,
    backend: &Backend,
    data: &LoadedData,
    out: &Path,
    options: &CompareOptions,
    progress: &Progress,
) -> Result<ComparisonSummary, ExperimentError> {
    let run = |norm: NormKind| {
        let mut variant = config.clone();
        variant.network.norm = norm;
        let options = TrainOptions {
            tensorboard: options.tensorboard.hook(&variant_run(config, norm)),
            start: options.start,
        };
        let dir = out.join(variant_dir(norm));
        train_run(&variant, backend, data, &dir, options, progress).map(|run| run.metrics)
    };
    let no_bn = run(NormKind::None)?;
    let bn = run(NormKind::Batch)?;
    write_comparison(out, &no_bn, &bn)
}

pub(super) fn write_comparison(
    out: &Path,
    no_bn: &RunMetrics,
    bn: &RunMetrics,
) -> Result<ComparisonSummary, ExperimentError> {
    let summary = ComparisonSummary::new(no_bn, bn);
    let panels = charts::comparison_panels(no_bn, bn);
    let title = bn.chart_title(Some("with vs without BatchNorm"));
    for name in ["comparison.png", "comparison.svg"] {
        charts::render(&out.join(name), &title, &panels)?;
    }
    write_json(&out.join("summary.json"), &summary).map_err(ReportError::from)?;
    Ok(summary)
}
