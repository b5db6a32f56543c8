//! One run, end to end — data, network, training, result files — and what `train`, `compare`,
//! `plot` and `bench` build from it. The commands and studies call these with a resolved config
//! and the backend the process opened.
//!
//! `run` trains one run into its folder (lock, resume, records, hooks, curves), `compare` the
//! with/without-BatchNorm pair, `seeds` the pair over several seeds, `plot` redraws a folder's
//! charts, `inspect` evaluates and predicts with a trained run.

use std::path::PathBuf;

mod bench;
mod compare;
mod datasets;
pub mod error;
pub mod inspect;
mod plot;
mod profile;
mod resume;
mod run;
mod seeds;

pub use bench::{BenchRow, bench, bench_table};
pub use compare::{CompareOptions, compare};
pub use datasets::{fetch_dataset, load_data};
pub use error::ExperimentError;
pub use plot::plot;
pub use profile::{profile, profile_summary_table, profile_table, profile_warnings};
pub use resume::Start;
pub use run::{FailedRun, RunOutputs, RunResult, TrainOptions, execute_run, train_run};
pub use seeds::{ComparePlan, Comparison, compare_seeds};

use crate::model::NetworkConfig;

/// Where runs go unless `--out` says otherwise. Git ignores it: the committed evidence lives in
/// `results/`, which a user's run never overwrites.
pub const RUNS_DIR: &str = "runs";

/// A network's name for folders: `mlp`, `mlp-bn`, `mlp-ln-after`, `cnn-bn-init0.1`, …
pub fn run_name(network: &NetworkConfig) -> String {
    network.label().replace('+', "-").replace('×', "-init")
}

/// The default output folder: `runs/<run name>`.
pub fn default_run_dir(network: &NetworkConfig) -> PathBuf {
    PathBuf::from(RUNS_DIR).join(run_name(network))
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::model::ModelKind;

    #[test]
    fn default_run_dirs_are_git_ignored_and_name_the_variant() {
        let mut network = NetworkConfig::guide(ModelKind::Cnn, true);
        assert_eq!(default_run_dir(&network), Path::new("runs/cnn-bn"));
        network.init_scale = 0.1;
        assert_eq!(default_run_dir(&network), Path::new("runs/cnn-bn-init0.1"));
        let ignore =
            std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/.gitignore")).unwrap();
        assert!(ignore.lines().any(|line| line == "/runs/"), "{ignore}");
    }
}
