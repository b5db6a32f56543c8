//! Why a result cannot be read or written.

use std::path::PathBuf;

use thiserror::Error;

use crate::runtime::FileError;

/// A result file or chart that cannot be read or written; one sentence each.
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
