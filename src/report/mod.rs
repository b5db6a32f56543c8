//! Results on disk: `metrics.json`, `config.json`, comparison summaries, tables and charts.
//! Every write is atomic (see `runtime::files`).

pub mod charts;
pub mod eval_charts;
pub mod evaluation;
pub mod files;
pub mod forest;
pub mod legend;
pub mod seeded;
pub mod stats;
pub mod summary;
pub mod table;
pub mod tensorboard;

use std::path::PathBuf;

use thiserror::Error;

pub use files::{RunMetrics, RunRecord};
pub use seeded::SeededSummary;
pub use summary::ComparisonSummary;
pub use table::Table;

use crate::runtime::FileError;

#[derive(Debug, Error)]
pub enum ReportError {
    #[error(transparent)]
    File(#[from] FileError),

    #[error("{path} is not a valid bnx metrics file: {message}")]
    BadMetrics { path: PathBuf, message: String },

    #[error("cannot render chart {path}: {message}")]
    Chart { path: PathBuf, message: String },

    #[error(
        "{path} holds no results: expected a run folder with metrics.json or a comparison folder with no-bn/ and bn/"
    )]
    NotAResultsDir { path: PathBuf },

    #[error(
        "{path} is not a bnx run folder: it has no config.json (of a comparison, name one run: DIR/bn, DIR/no-bn or DIR/bn/seed-S)"
    )]
    NotARunDir { path: PathBuf },
}
