//! `metrics.json` (the per-epoch record) and `config.json` (what produced it).

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::error::ReportError;
use crate::config::ExperimentConfig;
use crate::data::{DatasetKind, DatasetProvenance};
use crate::model::{ModelKind, ParameterCounts};
use crate::runtime::{BackendKind, FileError, read_json, write_atomic, write_json};
use crate::train::EpochMetrics;

pub const METRICS_FILE: &str = "metrics.json";
/// The same epochs as `metrics.json`, in Keras' `CSVLogger` layout.
pub const METRICS_CSV_FILE: &str = "metrics.csv";
pub const CONFIG_FILE: &str = "config.json";
pub const CHECKPOINT_FILE: &str = "model.bpk";

/// The Burn version this binary is built against (checked against Cargo.lock by a test).
pub const BURN_VERSION: &str = "0.22.1";

/// `metrics.json`: exactly these fields, rewritten after every epoch.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunMetrics {
    pub model: ModelKind,
    pub bn: bool,
    pub dataset: DatasetKind,
    /// The backend that ran (what `auto` chose).
    pub backend: BackendKind,
    /// What the device calls itself (GPU name, or CPU model and threads). Files written
    /// before bnx recorded it have none.
    #[serde(default)]
    pub device: String,
    pub epochs: Vec<EpochMetrics>,
}

impl RunMetrics {
    /// Writes `metrics.json` and `metrics.csv`, each atomically.
    pub fn save(&self, dir: &Path) -> Result<(), FileError> {
        write_json(&dir.join(METRICS_FILE), self)?;
        write_atomic(&dir.join(METRICS_CSV_FILE), self.csv().as_bytes())
    }

    /// One row per epoch under Keras `CSVLogger`'s columns (`epoch,accuracy,loss,val_accuracy,
    /// val_loss`) plus `seconds`. Epochs count from 1, as in `metrics.json` (Keras counts from
    /// 0); numbers are written in full (the shortest text that reads back to the same f64).
    pub fn csv(&self) -> String {
        let mut csv = String::from("epoch,accuracy,loss,val_accuracy,val_loss,seconds\n");
        for e in &self.epochs {
            csv.push_str(&format!(
                "{},{},{},{},{},{}\n",
                e.epoch, e.train_acc, e.train_loss, e.val_acc, e.val_loss, e.seconds
            ));
        }
        csv
    }

    pub fn load(dir: &Path) -> Result<Self, ReportError> {
        let path = dir.join(METRICS_FILE);
        let metrics: RunMetrics = read_json(&path).map_err(|error| match error {
            FileError::Parse { path, message } => ReportError::BadMetrics { path, message },
            other => other.into(),
        })?;
        if metrics.epochs.is_empty() {
            return Err(ReportError::BadMetrics {
                path,
                message: "it holds no epochs".into(),
            });
        }
        Ok(metrics)
    }

    /// A test run: MLP on MNIST, one epoch per validation accuracy given (loss 1 − accuracy,
    /// training loss 0.3 and accuracy 0.9, epoch i taking 2 + i seconds).
    #[cfg(test)]
    pub(crate) fn sample(bn: bool, val_accs: &[f64]) -> Self {
        Self {
            model: ModelKind::Mlp,
            bn,
            dataset: DatasetKind::Mnist,
            backend: BackendKind::Flex,
            device: "test CPU".into(),
            epochs: val_accs
                .iter()
                .enumerate()
                .map(|(i, &val_acc)| EpochMetrics {
                    epoch: i + 1,
                    train_loss: 0.3,
                    train_acc: 0.9,
                    val_loss: 1.0 - val_acc,
                    val_acc,
                    seconds: 2.0 + i as f64,
                })
                .collect(),
        }
    }

    /// "MLP + BatchNorm on MNIST (flex backend)", or with `what` in place of the variant:
    /// "MLP on MNIST: with vs without BatchNorm (flex backend)".
    pub fn chart_title(&self, what: Option<&str>) -> String {
        let model = self.model.name().to_uppercase();
        let dataset = self.dataset.title();
        match what {
            Some(what) => format!("{model} on {dataset}: {what} ({} backend)", self.backend),
            None => format!(
                "{model}{} on {dataset} ({} backend)",
                if self.bn { " + BatchNorm" } else { "" },
                self.backend
            ),
        }
    }
}

/// `config.json`: the resolved configuration of the run and everything else needed to
/// reproduce it. The numbers are bit-identical on the same CPU kind (`cpu_simd`) with the same
/// thread count; elsewhere floating-point sums run in another order and results differ within
/// seed-to-seed noise.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RunRecord {
    pub bnx_version: String,
    pub burn_version: String,
    /// The backend that ran (what `auto` chose, if it was asked for; `config.runtime.backend`
    /// says what was asked for).
    pub backend: BackendKind,
    pub device: String,
    /// CPU backends: the widest vector instruction set the kernels use here ("avx512",
    /// "avx2+fma", …) and the compute threads.
    pub cpu_simd: Option<String>,
    pub threads: Option<usize>,
    /// Whether FTZ/DAZ was in force on the compute threads.
    pub subnormals_flushed: bool,
    /// Everything the run was told: network, training, data and runtime.
    pub config: ExperimentConfig,
    pub dataset: DatasetProvenance,
    pub train_samples: usize,
    pub test_samples: usize,
    pub parameters: ParameterCounts,
    /// `model.bpk`, when the run keeps a checkpoint.
    pub checkpoint: Option<PathBuf>,
}

impl RunRecord {
    pub fn save(&self, dir: &Path) -> Result<(), FileError> {
        write_json(&dir.join(CONFIG_FILE), self)
    }

    /// The run folder's `config.json`.
    pub fn load(dir: &Path) -> Result<Self, ReportError> {
        let path = dir.join(CONFIG_FILE);
        if !path.is_file() {
            return Err(ReportError::NotARunDir { path: dir.into() });
        }
        Ok(read_json(&path)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metrics_json_has_exactly_the_documented_shape() {
        // Issue #2's shape, plus the device name that #3 asks for after the backend.
        let metrics = RunMetrics {
            model: ModelKind::Mlp,
            bn: true,
            dataset: DatasetKind::Mnist,
            backend: BackendKind::Ndarray,
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
        assert_eq!(
            std::fs::read_to_string(dir.path().join(METRICS_CSV_FILE)).unwrap(),
            "epoch,accuracy,loss,val_accuracy,val_loss,seconds\n1,0.875,0.5,0.9375,0.25,1.5\n"
        );
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
        assert_eq!(metrics.backend, BackendKind::Flex);
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
    fn chart_titles_name_model_variant_dataset_and_backend() {
        let mut metrics = RunMetrics {
            model: ModelKind::Cnn,
            bn: true,
            dataset: DatasetKind::FashionMnist,
            backend: BackendKind::Flex,
            device: String::new(),
            epochs: Vec::new(),
        };
        assert_eq!(
            metrics.chart_title(None),
            "CNN + BatchNorm on Fashion-MNIST (flex backend)"
        );
        metrics.dataset = DatasetKind::Mnist;
        assert_eq!(
            metrics.chart_title(Some("with vs without BatchNorm")),
            "CNN on MNIST: with vs without BatchNorm (flex backend)"
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
