//! Finished runs kept between invocations: each run's `run.json`, reused when an earlier
//! invocation planned it exactly so on the same data, backend and settings.

use std::path::{Path, PathBuf};

use super::kind::StudyKind;
use super::measures;
use super::runs::{RunContext, RunOutcome, RunSpec};
use crate::runtime::{FileError, write_atomic, write_json};

const RUN_FILE: &str = "run.json";

/// A finished run from an earlier invocation, if it was planned exactly like `spec` in the
/// same `context` and every measure's series reads back.
pub fn load_outcome(run_dir: &Path, spec: &RunSpec, context: &RunContext) -> Option<RunOutcome> {
    let text = std::fs::read_to_string(run_dir.join(RUN_FILE)).ok()?;
    let outcome: RunOutcome = serde_json::from_str(&text).ok()?;
    (outcome.spec == *spec && outcome.context == *context && measures::read_back(&outcome))
        .then_some(outcome)
}

/// The same finished run kept by another study in the same output folder (`out`/other
/// study/`run_dir_name`), planned exactly like `spec`: studies that share a grid point (e.g.
/// `convergence` and `position` both train the guide's networks with and without BN) train it
/// once. Returns where it is and the outcome.
pub fn find_elsewhere(
    out: &Path,
    study: StudyKind,
    spec: &RunSpec,
    context: &RunContext,
) -> Option<(PathBuf, RunOutcome)> {
    StudyKind::ALL
        .into_iter()
        .filter(|&other| other != study)
        .map(|other| out.join(other.name()).join(spec.dir()))
        .find_map(|dir| load_outcome(&dir, spec, context).map(|outcome| (dir, outcome)))
}

/// Copies a finished run's folder (its files, not subfolders) into `to`, `run.json` last so
/// that an interrupted copy is never taken for a finished run.
pub fn copy_run(from: &Path, to: &Path) -> Result<(), FileError> {
    let unread = |path: &Path, source: std::io::Error| FileError::Read {
        path: path.to_path_buf(),
        source,
    };
    std::fs::create_dir_all(to).map_err(|source| FileError::Write {
        path: to.to_path_buf(),
        source,
    })?;
    let mut files: Vec<PathBuf> = std::fs::read_dir(from)
        .map_err(|e| unread(from, e))?
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|path| path.is_file())
        .collect();
    files.sort_by_key(|path| path.file_name() == Some(RUN_FILE.as_ref()));
    for file in files {
        let target = to.join(file.file_name().expect("a file has a name"));
        let bytes = std::fs::read(&file).map_err(|e| unread(&file, e))?;
        write_atomic(&target, &bytes)?;
    }
    Ok(())
}

/// Keeps `outcome` as the run's `run.json`, atomically.
pub fn save_outcome(run_dir: &Path, outcome: &RunOutcome) -> Result<(), FileError> {
    write_json(&run_dir.join(RUN_FILE), outcome)
}
