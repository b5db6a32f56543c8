//! Where a run starts: afresh, from the training state a stopped run left in its folder, or not
//! at all because the folder already holds the finished run (`train --resume`,
//! `compare --resume`).

use std::path::Path;

use crate::Error;
use crate::config::ExperimentConfig;
use crate::report::files::CONFIG_FILE;
use crate::report::{RunMetrics, RunRecord};
use crate::train::{STATE_FILE, TrainingState};

/// How a run in a folder begins.
pub enum Begin {
    Fresh,
    /// Continue after the state's completed epochs.
    Resume(Box<TrainingState>),
    /// The folder holds this run, finished.
    Complete(RunMetrics),
}

/// How the run `config` describes begins in `dir`: always afresh unless `resume`; with it,
/// from the saved state, as the finished run, or afresh if nothing was completed yet. A folder
/// whose run had other settings, or that cannot be continued, is refused with the reason.
pub fn begin(config: &ExperimentConfig, dir: &Path, resume: bool) -> Result<Begin, Error> {
    if !resume {
        return Ok(Begin::Fresh);
    }
    let refuse = |message: String| Error::Resume {
        dir: dir.into(),
        message,
    };
    if !dir.join(CONFIG_FILE).is_file() {
        // Stopped before anything was written: nothing to continue, nothing to lose.
        return Ok(Begin::Fresh);
    }
    let record = RunRecord::load(dir)?;
    let differences = config.differences(&record.config, ("asked", "in its config.json"));
    if !differences.is_empty() {
        return Err(refuse(format!(
            "it was started with other settings: {}; leave out the flags that change them",
            differences.join(", ")
        )));
    }
    if let Some(state) = TrainingState::load(dir)? {
        let header = &state.header;
        if header.bnx_version != env!("CARGO_PKG_VERSION") {
            return Err(refuse(format!(
                "its {STATE_FILE} was written by bnx {}, this is bnx {}, which could not promise the same numbers; train it again without --resume",
                header.bnx_version,
                env!("CARGO_PKG_VERSION")
            )));
        }
        if header.settings_hash != config.settings_hash() {
            return Err(refuse(format!(
                "its {STATE_FILE} was saved under other settings than its {CONFIG_FILE} records; train it again without --resume"
            )));
        }
        if config.network.norm_noise.is_some() {
            return Err(refuse(format!(
                "it trains with noisy BatchNorm, whose noise generator {STATE_FILE} does not keep, so it could not continue with the same noise; train it again without --resume"
            )));
        }
        return Ok(Begin::Resume(Box::new(state)));
    }
    // No metrics.json, or the empty one of a run stopped before its first epoch (which does
    // not load): nothing was completed.
    let Ok(metrics) = RunMetrics::load(dir) else {
        return Ok(Begin::Fresh);
    };
    let done = metrics.epochs.len();
    if done == config.training.epochs {
        return Ok(Begin::Complete(metrics));
    }
    Err(refuse(format!(
        "it holds {done} of {} epochs but no {STATE_FILE} to continue from (runs keep one only while they train; a run started before bnx saved it cannot continue); train it again without --resume",
        config.training.epochs
    )))
}
