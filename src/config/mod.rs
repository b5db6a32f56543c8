//! One experiment, fully described, nested by concern: the network, how it trains, on which
//! data, and where it runs. Defaults are the Keras guide's settings; a config file sets any of
//! them, and the command line's flags are applied on top in one place (`commands::settings`).

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use thiserror::Error;

mod validate;

use crate::data::DatasetKind;
use crate::model::NetworkConfig;
use crate::runtime::BackendKind;

#[derive(Debug, Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },

    #[error("config file {path}: {message}")]
    Parse { path: PathBuf, message: String },

    /// A setting out of range: its field path, and the flag that sets it (if one does).
    #[error("{field}{} must be {expected}, got {found}", flag.map(|f| format!(" ({f})")).unwrap_or_default())]
    Invalid {
        field: &'static str,
        flag: Option<&'static str>,
        expected: &'static str,
        found: String,
    },
}

/// Adam in Keras' terms (Burn's default epsilon is 1e-5, Keras' 1e-7).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AdamSettings {
    pub beta_1: f64,
    pub beta_2: f64,
    pub epsilon: f64,
}

impl Default for AdamSettings {
    fn default() -> Self {
        Self {
            beta_1: 0.9,
            beta_2: 0.999,
            epsilon: 1e-7,
        }
    }
}

/// How the network trains.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TrainingConfig {
    pub epochs: usize,
    pub batch_size: usize,
    pub learning_rate: f64,
    /// Seed of the initial weights and of the per-epoch shuffle.
    pub seed: u64,
    pub adam: AdamSettings,
    /// Validate with BatchNorm statistics recomputed over the training data after each epoch
    /// (see `train::recalibrate`); the weights train exactly as without it.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub recalibrate_bn: bool,
}

impl Default for TrainingConfig {
    fn default() -> Self {
        Self {
            epochs: 10,
            batch_size: 32,
            learning_rate: 1e-3,
            seed: 42,
            adam: AdamSettings::default(),
            recalibrate_bn: false,
        }
    }
}

/// Which data, and how much of it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DataConfig {
    pub dataset: DatasetKind,
    /// A folder with the four IDX files; `None` uses the bundled MNIST or the system's Fashion-MNIST.
    pub data_dir: Option<PathBuf>,
    /// Train on the first N training samples only.
    pub limit_train: Option<usize>,
    /// Validate on the first N test samples only.
    pub limit_test: Option<usize>,
}

/// Where the arithmetic runs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RuntimeConfig {
    pub backend: BackendKind,
    /// CPU backends: flush subnormal floats to zero (FTZ/DAZ), as TensorFlow does. Much faster
    /// once small gradients decay; `false` keeps exact IEEE arithmetic.
    pub flush_subnormals: bool,
}

impl Default for RuntimeConfig {
    fn default() -> Self {
        Self {
            backend: BackendKind::Flex,
            flush_subnormals: true,
        }
    }
}

/// Everything a run needs. Every section and field may be left out of a file.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ExperimentConfig {
    pub network: NetworkConfig,
    pub training: TrainingConfig,
    pub data: DataConfig,
    pub runtime: RuntimeConfig,
}

impl ExperimentConfig {
    /// The guide's defaults, or those of `file` when one is given (not yet validated: flags
    /// may still change it).
    pub fn load(file: Option<&Path>) -> Result<Self, ConfigError> {
        match file {
            Some(path) => Self::from_file(path),
            None => Ok(Self::default()),
        }
    }

    pub fn from_file(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.into(),
            source,
        })?;
        Self::from_json(&text).map_err(|message| ConfigError::Parse {
            path: path.into(),
            message,
        })
    }

    /// Parses JSON, naming the offending field in the message.
    pub fn from_json(text: &str) -> Result<Self, String> {
        if let Some(message) = flat_layout_message(text) {
            return Err(message);
        }
        let mut deserializer = serde_json::Deserializer::from_str(text);
        serde_path_to_error::deserialize(&mut deserializer).map_err(|err| {
            let mut path = err.path().to_string();
            let inner = err.into_inner().to_string();
            // serde already names an unknown field; name only the section it sits in.
            if inner.starts_with("unknown field") {
                path = path
                    .rsplit_once('.')
                    .map(|(parent, _)| parent.to_string())
                    .unwrap_or_default();
            }
            if path.is_empty() || path == "." {
                inner
            } else {
                format!("field `{path}`: {inner}")
            }
        })
    }
}

impl ExperimentConfig {
    /// SHA-256 (hex) of the settings as JSON: what a saved training state records, so that a
    /// run is only ever continued with the settings it started with.
    pub fn settings_hash(&self) -> String {
        let json = serde_json::to_vec(self).expect("settings serialize to JSON");
        Sha256::digest(&json)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    }

    /// The settings that differ from `other`'s, each as `path (A <here>, B <there>)`, e.g.
    /// `training.learning_rate (0.01 asked, 0.001 in config.json)` for labels `asked` and
    /// `in config.json`.
    pub fn differences(&self, other: &Self, (here, there): (&str, &str)) -> Vec<String> {
        let labels = (here, there);
        let (a, b) = (
            serde_json::to_value(self).expect("settings serialize to JSON"),
            serde_json::to_value(other).expect("settings serialize to JSON"),
        );
        let mut found = Vec::new();
        collect_differences("", &a, &b, labels, &mut found);
        found
    }
}

fn collect_differences(
    path: &str,
    here: &serde_json::Value,
    there: &serde_json::Value,
    labels: (&str, &str),
    found: &mut Vec<String>,
) {
    use serde_json::Value;
    match (here, there) {
        (Value::Object(a), Value::Object(b)) => {
            let keys: std::collections::BTreeSet<&String> = a.keys().chain(b.keys()).collect();
            for key in keys {
                let child = if path.is_empty() {
                    key.clone()
                } else {
                    format!("{path}.{key}")
                };
                let null = Value::Null;
                let (x, y) = (a.get(key).unwrap_or(&null), b.get(key).unwrap_or(&null));
                collect_differences(&child, x, y, labels, found);
            }
        }
        (a, b) if a != b => found.push(format!("{path} ({a} {}, {b} {})", labels.0, labels.1)),
        _ => {}
    }
}

/// Where each field of the flat layout that bnx read before configs were nested lives now.
const FLAT_FIELDS: [(&str, &str); 19] = [
    ("model", "network.model"),
    ("bn", "network.norm (\"batch\" for true)"),
    ("norm", "network.norm"),
    ("norm_position", "network.position"),
    ("init_scale", "network.init_scale"),
    ("hidden_layers", "network.mlp_widths"),
    ("width", "network.mlp_widths"),
    ("batch_norm", "network.norm_settings"),
    ("epochs", "training.epochs"),
    ("batch_size", "training.batch_size"),
    ("learning_rate", "training.learning_rate"),
    ("seed", "training.seed"),
    ("adam", "training.adam"),
    ("dataset", "data.dataset"),
    ("data_dir", "data.data_dir"),
    ("limit_train", "data.limit_train"),
    ("limit_test", "data.limit_test"),
    ("backend", "runtime.backend"),
    ("flush_subnormals", "runtime.flush_subnormals"),
];

/// A config in the old flat layout is rejected with where each of its fields goes now: guessing
/// would silently change what a reader of the file thinks it runs.
fn flat_layout_message(text: &str) -> Option<String> {
    let serde_json::Value::Object(fields) = serde_json::from_str(text).ok()? else {
        return None;
    };
    let moves: Vec<String> = fields
        .keys()
        .filter_map(|key| {
            FLAT_FIELDS
                .iter()
                .find(|(old, _)| old == key)
                .map(|(old, new)| format!("{old} → {new}"))
        })
        .collect();
    (!moves.is_empty()).then(|| {
        format!(
            "this is the flat layout of earlier bnx versions; fields are now nested by concern (network, training, data, runtime): move {} (see configs/mlp.json)",
            moves.join(", ")
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::ModelKind;
    use crate::model::{NormKind, NormPosition};

    #[test]
    fn differences_name_each_changed_field_and_the_hash_sees_them() {
        let base = ExperimentConfig::default();
        let labels = ("here", "there");
        assert!(base.differences(&base, labels).is_empty());
        let mut other = base.clone();
        other.training.learning_rate = 0.01;
        other.data.limit_train = Some(100);
        assert_eq!(
            other.differences(&base, labels),
            [
                "data.limit_train (100 here, null there)",
                "training.learning_rate (0.01 here, 0.001 there)"
            ]
        );
        assert_ne!(other.settings_hash(), base.settings_hash());
        assert_eq!(base.settings_hash(), base.clone().settings_hash());
        assert_eq!(base.settings_hash().len(), 64);
    }

    fn configs_dir() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("configs")
    }

    #[test]
    fn bundled_configs_hold_the_guide_settings() {
        for model in ModelKind::ALL {
            let path = configs_dir().join(format!("{model}.json"));
            let config = ExperimentConfig::from_file(&path).unwrap();
            let expected = ExperimentConfig {
                network: NetworkConfig::guide(model, false),
                ..ExperimentConfig::default()
            };
            assert_eq!(config, expected, "{}", path.display());
            config.validate().unwrap();
        }
    }

    #[test]
    fn a_file_sets_only_what_it_names() {
        let config = ExperimentConfig::from_json(
            r#"{"network": {"model": "cnn"}, "training": {"epochs": 3, "learning_rate": 0.01}}"#,
        )
        .unwrap();
        assert_eq!(config.network, NetworkConfig::guide(ModelKind::Cnn, false));
        assert_eq!(
            (config.training.epochs, config.training.learning_rate),
            (3, 0.01)
        );
        assert_eq!(config.training.batch_size, 32);
        assert_eq!(config.data, DataConfig::default());
        assert_eq!(config.runtime, RuntimeConfig::default());
    }

    #[test]
    fn unknown_field_is_named() {
        let message = ExperimentConfig::from_json(r#"{"training": {"epoch": 3}}"#).unwrap_err();
        assert!(
            message.contains("field `training`: unknown field `epoch`"),
            "{message}"
        );
        let nested =
            ExperimentConfig::from_json(r#"{"training": {"adam": {"beta1": 0.8}}}"#).unwrap_err();
        assert!(
            nested.contains("training.adam") && nested.contains("beta1"),
            "{nested}"
        );
        let top = ExperimentConfig::from_json(r#"{"optimizer": {}}"#).unwrap_err();
        assert!(top.starts_with("unknown field `optimizer`"), "{top}");
    }

    #[test]
    fn the_flat_layout_is_rejected_with_where_each_field_goes() {
        let message = ExperimentConfig::from_json(r#"{"model": "cnn", "epochs": 3, "bn": true}"#)
            .unwrap_err();
        assert!(message.contains("flat layout"), "{message}");
        for moved in [
            "model → network.model",
            "epochs → training.epochs",
            "bn → network.norm (\"batch\" for true)",
        ] {
            assert!(message.contains(moved), "{moved}: {message}");
        }
    }

    #[test]
    fn wrong_type_names_the_field() {
        let message =
            ExperimentConfig::from_json(r#"{"training": {"epochs": "ten"}}"#).unwrap_err();
        assert!(
            message.starts_with("field `training.epochs`: invalid type"),
            "{message}"
        );
        let message =
            ExperimentConfig::from_json(r#"{"network": {"model": "resnet"}}"#).unwrap_err();
        assert!(
            message.contains("network.model") && message.contains("resnet"),
            "{message}"
        );
    }

    #[test]
    fn subnormals_flush_by_default_and_the_file_can_keep_them() {
        assert!(ExperimentConfig::default().runtime.flush_subnormals);
        let file =
            ExperimentConfig::from_json(r#"{"runtime": {"flush_subnormals": false}}"#).unwrap();
        assert!(!file.runtime.flush_subnormals);
    }

    #[test]
    fn the_network_section_is_the_network_as_built() {
        let config = ExperimentConfig::from_json(
            r#"{"network": {"norm": "batch", "position": "after", "mlp_widths": [64, 64], "init_scale": 0.5}}"#,
        )
        .unwrap();
        let network = &config.network;
        assert_eq!(
            (network.norm, network.position, network.init_scale),
            (NormKind::Batch, NormPosition::After, 0.5)
        );
        assert_eq!(network.mlp_widths, vec![64; 2]);
        // What a run records reads back as the same config.
        let json = serde_json::to_string(&config).unwrap();
        assert_eq!(ExperimentConfig::from_json(&json).unwrap(), config);
    }

    #[test]
    fn missing_config_file_names_the_path() {
        let err = ExperimentConfig::load(Some(Path::new("/no/such.json")))
            .unwrap_err()
            .to_string();
        assert_eq!(err, "cannot read config file /no/such.json");
    }
}
