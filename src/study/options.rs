//! What `bnx study` is asked to do, and what an invocation did.

use std::path::PathBuf;

use super::kind::{Budget, StudyKind};
use super::shard::StudyMode;
use crate::config::ExperimentConfig;
use crate::model::ModelKind;
use crate::runtime::{Backend, Verbosity};

/// What `bnx study` was asked to do.
#[derive(Debug, Clone)]
pub struct StudyOptions {
    pub studies: Vec<StudyKind>,
    /// Only the runs of this network (`None`: every network a study uses).
    pub model: Option<ModelKind>,
    pub budget: Budget,
    /// Seeds per grid point; `None`: each claim's declared count (`Claim::seeds`).
    pub seeds: Option<usize>,
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
