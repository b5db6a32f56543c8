//! `bnx plot`: the charts of a results folder drawn again from its saved metrics.

use std::path::{Path, PathBuf};

use super::compare::{variant_dir, write_comparison};
use super::error::ExperimentError;
use super::seeds::{seed_dir, seeds_in, write_seeded_comparison};
use crate::model::NormKind;
use crate::report::files::METRICS_FILE;
use crate::report::{ReportError, RunMetrics, charts};

/// Re-renders the charts of a comparison folder (`no-bn/` + `bn/`, one seed or several) or a
/// single run folder.
pub fn plot(dir: &Path) -> Result<Vec<PathBuf>, ExperimentError> {
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
