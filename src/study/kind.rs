//! What every part of a study shares and the claims build on: which study, how much data, the
//! accuracy of a failed run, and the study's errors.

use thiserror::Error;

use crate::experiment::ExperimentError;
use crate::report::ReportError;

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

/// Why a study cannot run or report; one sentence each.
#[derive(Debug, Error)]
pub enum StudyError {
    /// Nothing to train: no chosen study trains the chosen network.
    #[error(
        "no study among {studies} trains the {network} (--model); leave --model out or choose a study that trains it"
    )]
    NothingPlanned { studies: String, network: String },
    /// `--report-only` without every planned run.
    #[error("{message}")]
    MissingRuns { message: String },
    /// A run could not be trained or recorded.
    #[error(transparent)]
    Experiment(#[from] ExperimentError),
    /// A study's results could not be written.
    #[error(transparent)]
    Report(#[from] ReportError),
    /// A claim asked for a run its own grid does not plan: a bug in the claim, never the user's.
    #[error("endpoint '{endpoint}' needs {run}, which its study's grid does not have")]
    NotInGrid { endpoint: String, run: String },
}
