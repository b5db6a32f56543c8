//! What a command runs with, opened once: the settings, the backend and the data.

use anyhow::Result;

use super::args::RunArgs;
use crate::config::ExperimentConfig;
use crate::data::LoadedData;
use crate::experiment;
use crate::runtime::{Backend, Progress};

/// What a command runs with: the settings (`settings::resolve`), the backend opened for the
/// whole process, and the data.
pub struct Session {
    pub config: ExperimentConfig,
    pub backend: Backend,
    pub data: LoadedData,
    pub progress: Progress,
}

impl Session {
    /// Opens the backend `config` names and loads its data: a missing GPU or driver is
    /// reported before anything is loaded or written.
    pub fn open(run: &RunArgs, config: ExperimentConfig) -> Result<Self> {
        let common = &run.common;
        let backend = Backend::open(config.runtime.backend, config.runtime.flush_subnormals)?;
        let progress = Progress::new(common.verbosity());
        let data = experiment::load_data(&config.data, &progress)?;
        Ok(Self {
            config,
            backend,
            data,
            progress,
        })
    }
}
