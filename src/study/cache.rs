//! Finished runs kept between invocations: each run's `run.json`, reused when an earlier
//! invocation planned it exactly so on the same data, backend and settings.

use std::path::Path;

use super::measures;
use super::runs::{RunContext, RunOutcome, RunSpec};
use crate::runtime::{FileError, write_json};

const RUN_FILE: &str = "run.json";

/// A finished run from an earlier invocation, if it was planned exactly like `spec` in the
/// same `context` and every measure's series reads back.
pub fn load_outcome(run_dir: &Path, spec: &RunSpec, context: &RunContext) -> Option<RunOutcome> {
    let text = std::fs::read_to_string(run_dir.join(RUN_FILE)).ok()?;
    let outcome: RunOutcome = serde_json::from_str(&text).ok()?;
    (outcome.spec == *spec && outcome.context == *context && measures::read_back(&outcome))
        .then_some(outcome)
}

/// Keeps `outcome` as the run's `run.json`, atomically.
pub fn save_outcome(run_dir: &Path, outcome: &RunOutcome) -> Result<(), FileError> {
    write_json(&run_dir.join(RUN_FILE), outcome)
}
