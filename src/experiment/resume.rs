//! Where a run starts: afresh, from the training state a stopped run left in its folder, or not
//! at all because the folder already holds the finished run. Kept work is never thrown away
//! unless the user asks (`--restart`): running the same command again continues a stopped run
//! and keeps a finished one, and a folder holding a run with other settings is refused.

use std::path::Path;

use super::error::ExperimentError;
use crate::config::ExperimentConfig;
use crate::report::files::{CONFIG_FILE, METRICS_FILE};
use crate::report::{RunMetrics, RunRecord};
use crate::runtime::{FileError, read_json};
use crate::train::{STATE_FILE, TrainingState};

/// What the user said about a folder that may already hold a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Start {
    /// No flag: continue a stopped run of the same settings, keep a finished one, start afresh
    /// where nothing was kept, and refuse a folder whose kept run has other settings.
    Auto,
    /// `--resume`: the folder's run, with its own settings; a flag that changes one is refused.
    Resume,
    /// `--restart`: train afresh over whatever the folder holds.
    Restart,
}

impl Start {
    /// What `--resume` (given or not) and `--restart` ask for; clap makes them exclusive.
    pub fn from_flags(resume: bool, restart: bool) -> Self {
        match (resume, restart) {
            (true, _) => Start::Resume,
            (false, true) => Start::Restart,
            (false, false) => Start::Auto,
        }
    }
}

/// How a run in a folder begins.
pub enum Begin {
    Fresh,
    /// Continue after the state's completed epochs.
    Resume(Box<TrainingState>),
    /// The folder holds this run, finished.
    Complete(RunMetrics),
}

/// How the run `config` describes begins in `dir`, as `start` asks (see [`Start`]). A folder
/// whose kept run cannot be continued or kept is refused with the reason and what to type.
pub fn begin(
    config: &ExperimentConfig,
    dir: &Path,
    start: Start,
) -> Result<Begin, ExperimentError> {
    if start == Start::Restart || !dir.join(CONFIG_FILE).is_file() {
        // Asked to start over, or stopped before anything was written: nothing to lose.
        return Ok(Begin::Fresh);
    }
    let refuse = |message: String| match start {
        Start::Resume => ExperimentError::Resume {
            dir: dir.into(),
            message,
        },
        _ => ExperimentError::Occupied {
            dir: dir.into(),
            message,
        },
    };
    let record = RunRecord::load(dir).map_err(|e| {
        refuse(format!(
            "{e}; repair it, or pass --restart to train over it"
        ))
    })?;
    let kept = kept_run(dir).map_err(refuse)?;
    let done = kept.as_ref().map(|metrics| metrics.epochs.len());
    let differences = config.differences(&record.config, ("asked", "in its config.json"));
    if !differences.is_empty() {
        if start == Start::Auto && done.is_none() {
            // Its run never completed an epoch: nothing is lost by starting this one there.
            return Ok(Begin::Fresh);
        }
        let differences = differences.join(", ");
        return Err(refuse(match start {
            Start::Resume => format!(
                "it was started with other settings: {differences}; leave out the flags that change them"
            ),
            _ => format!(
                "it holds a run with other settings ({differences}){}; to continue that run use --resume {}, to discard it and train these settings there add --restart, or choose another --out",
                done.map(|n| format!(" and {n} of its {} epochs", record.config.training.epochs))
                    .unwrap_or_default(),
                dir.display()
            ),
        }));
    }
    if let Some(state) = TrainingState::load(dir)? {
        let header = &state.header;
        if header.bnx_version != env!("CARGO_PKG_VERSION") {
            return Err(refuse(format!(
                "its {STATE_FILE} was written by bnx {}, this is bnx {}, which could not promise the same numbers; pass --restart to train it again",
                header.bnx_version,
                env!("CARGO_PKG_VERSION")
            )));
        }
        if header.settings_hash != config.settings_hash() {
            return Err(refuse(format!(
                "its {STATE_FILE} was saved under other settings than its {CONFIG_FILE} records; pass --restart to train it again"
            )));
        }
        if config.network.norm_noise.is_some() {
            return Err(refuse(format!(
                "it trains with noisy BatchNorm, whose noise generator {STATE_FILE} does not keep, so it could not continue with the same noise; pass --restart to train it again"
            )));
        }
        return Ok(Begin::Resume(Box::new(state)));
    }
    let Some(metrics) = kept else {
        return Ok(Begin::Fresh);
    };
    let done = metrics.epochs.len();
    if done == config.training.epochs {
        return Ok(Begin::Complete(metrics));
    }
    Err(refuse(format!(
        "it holds {done} of {} epochs but no {STATE_FILE} to continue from (runs keep one only while they train; a run started before bnx saved it cannot continue); pass --restart to train it again",
        config.training.epochs
    )))
}

/// The run `dir/metrics.json` records: `None` when there is no such file or it holds no epoch
/// (a run stopped before its first). A file that cannot be read is an error, never "nothing
/// done": treating it so would retrain over a good checkpoint.
pub(super) fn kept_run(dir: &Path) -> Result<Option<RunMetrics>, String> {
    let path = dir.join(METRICS_FILE);
    if !path.exists() {
        return Ok(None);
    }
    match read_json::<RunMetrics>(&path) {
        Ok(metrics) if metrics.epochs.is_empty() => Ok(None),
        Ok(metrics) => Ok(Some(metrics)),
        Err(FileError::Parse { message, .. }) => Err(format!(
            "its {METRICS_FILE} is not a valid bnx metrics file ({message}); bnx will not train over the run it records: repair the file, or pass --restart to train the run again"
        )),
        Err(error) => Err(format!("{error}")),
    }
}
