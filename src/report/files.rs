//! `metrics.json` (the per-epoch record) and `config.json` (what produced it).

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::{ReportError, write_json};
use crate::config::ExperimentConfig;
use crate::data::DatasetProvenance;
use crate::model::{NetworkConfig, ParameterCounts};
use crate::train::EpochMetrics;

pub const METRICS_FILE: &str = "metrics.json";
pub const CONFIG_FILE: &str = "config.json";
pub const CHECKPOINT_FILE: &str = "model.bpk";

/// The Burn version this binary is built against (checked against Cargo.lock by a test).
pub const BURN_VERSION: &str = "0.22.1";

/// `metrics.json`: exactly these fields, rewritten after every epoch.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunMetrics {
    pub model: String,
    pub bn: bool,
    pub dataset: String,
    pub backend: String,
    /// What the device calls itself (GPU name, or CPU model and threads). Files written
    /// before bnx recorded it have none.
    #[serde(default)]
    pub device: String,
    pub epochs: Vec<EpochMetrics>,
}

impl RunMetrics {
    pub fn save(&self, dir: &Path) -> Result<(), ReportError> {
        write_json(&dir.join(METRICS_FILE), self)
    }

    pub fn load(dir: &Path) -> Result<Self, ReportError> {
        let path = dir.join(METRICS_FILE);
        let metrics: RunMetrics = super::read_json(&path)?;
        if metrics.epochs.is_empty() {
            return Err(ReportError::BadMetrics {
                path,
                message: "it holds no epochs".into(),
            });
        }
        Ok(metrics)
    }
}

/// `config.json`: the resolved configuration and everything needed to reproduce the run.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RunRecord {
    pub bnx_version: String,
    pub burn_version: String,
    /// The backend that ran (what `auto` chose, if it was asked for).
    pub backend: String,
    pub device: String,
    pub seed: u64,
    pub bn: bool,
    pub config: ExperimentConfig,
    /// The network as built: model, norm kind and position, init scale, MLP widths.
    pub network: NetworkConfig,
    pub dataset: DatasetProvenance,
    pub train_samples: usize,
    pub test_samples: usize,
    pub parameters: ParameterCounts,
    /// `model.bpk`, when the run keeps a checkpoint.
    pub checkpoint: Option<PathBuf>,
}

impl RunRecord {
    pub fn save(&self, dir: &Path) -> Result<(), ReportError> {
        write_json(&dir.join(CONFIG_FILE), self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metrics_json_has_exactly_the_documented_shape() {
        // Issue #2's shape, plus the device name that #3 asks for after the backend.
        let metrics = RunMetrics {
            model: "mlp".into(),
            bn: true,
            dataset: "mnist".into(),
            backend: "ndarray".into(),
            device: "AMD EPYC 7B13 (2 threads)".into(),
            epochs: vec![EpochMetrics {
                epoch: 1,
                train_loss: 0.5,
                train_acc: 0.875,
                val_loss: 0.25,
                val_acc: 0.9375,
                seconds: 1.5,
            }],
        };
        let json = serde_json::to_string(&metrics).unwrap();
        assert_eq!(
            json,
            r#"{"model":"mlp","bn":true,"dataset":"mnist","backend":"ndarray","device":"AMD EPYC 7B13 (2 threads)","epochs":[{"epoch":1,"train_loss":0.5,"train_acc":0.875,"val_loss":0.25,"val_acc":0.9375,"seconds":1.5}]}"#
        );
        let dir = tempfile::TempDir::new().unwrap();
        metrics.save(dir.path()).unwrap();
        assert_eq!(RunMetrics::load(dir.path()).unwrap(), metrics);
    }

    #[test]
    fn metrics_written_before_device_names_still_load() {
        let dir = tempfile::TempDir::new().unwrap();
        std::fs::write(
            dir.path().join(METRICS_FILE),
            r#"{"model":"cnn","bn":false,"dataset":"mnist","backend":"flex","epochs":[{"epoch":1,"train_loss":0.5,"train_acc":0.875,"val_loss":0.25,"val_acc":0.9375,"seconds":1.5}]}"#,
        )
        .unwrap();
        let metrics = RunMetrics::load(dir.path()).unwrap();
        assert_eq!(metrics.device, "");
        assert_eq!(metrics.backend, "flex");
    }

    #[test]
    fn a_corrupt_metrics_file_is_named() {
        let dir = tempfile::TempDir::new().unwrap();
        std::fs::write(dir.path().join(METRICS_FILE), "{\"model\": ").unwrap();
        let message = RunMetrics::load(dir.path()).unwrap_err().to_string();
        assert!(
            message.contains("metrics.json is not a valid bnx metrics file"),
            "{message}"
        );
    }

    #[test]
    fn burn_version_matches_cargo_lock() {
        let lock =
            std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/Cargo.lock")).unwrap();
        let entry = format!("name = \"burn\"\nversion = \"{BURN_VERSION}\"");
        assert!(
            lock.contains(&entry),
            "Cargo.lock pins a different Burn than {BURN_VERSION}"
        );
    }
}
