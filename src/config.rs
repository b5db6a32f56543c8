//! One experiment, fully described: built-in guide defaults ← config file ← command-line flags.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::data::DatasetKind;
use crate::model::{
    BatchNormSettings, GUIDE_MLP_WIDTHS, ModelKind, NetworkConfig, NormKind, NormPosition,
};
use crate::train::backend::BackendKind;

#[derive(Debug, Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },

    #[error("config file {path}: {message}")]
    Parse { path: PathBuf, message: String },

    #[error("{field} must be {expected}, got {found}")]
    Invalid {
        field: &'static str,
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

/// Everything a run needs. Defaults are the Keras guide's settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ExperimentConfig {
    pub model: ModelKind,
    /// BatchNorm after every Dense/Conv layer (ignored by `compare`, which trains both);
    /// shorthand for `norm: batch`.
    pub bn: bool,
    /// Normalization in every hidden block: none, batch, layer or group.
    pub norm: NormKind,
    /// Normalization before (the guide) or after the ReLU.
    pub norm_position: NormPosition,
    /// Multiplies the Glorot-uniform bound of every layer.
    pub init_scale: f64,
    /// MLP only: this many hidden layers of `width` units (default 3) instead of 128-64-32.
    pub hidden_layers: Option<usize>,
    /// MLP only: the width of every hidden layer (default 64) instead of 128-64-32.
    pub width: Option<usize>,
    pub dataset: DatasetKind,
    /// A folder with the four IDX files; `None` uses the bundled MNIST or the system's Fashion-MNIST.
    pub data_dir: Option<PathBuf>,
    pub epochs: usize,
    pub batch_size: usize,
    pub learning_rate: f64,
    pub seed: u64,
    pub backend: BackendKind,
    /// Train on the first N training samples only.
    pub limit_train: Option<usize>,
    /// Validate on the first N test samples only.
    pub limit_test: Option<usize>,
    pub adam: AdamSettings,
    pub batch_norm: BatchNormSettings,
    /// CPU backends: flush subnormal floats to zero (FTZ/DAZ), as TensorFlow does. Much faster
    /// once small gradients decay; `false` keeps exact IEEE arithmetic.
    pub flush_subnormals: bool,
}

impl Default for ExperimentConfig {
    fn default() -> Self {
        Self {
            model: ModelKind::Mlp,
            bn: false,
            norm: NormKind::None,
            norm_position: NormPosition::Before,
            init_scale: 1.0,
            hidden_layers: None,
            width: None,
            dataset: DatasetKind::Mnist,
            data_dir: None,
            epochs: 10,
            batch_size: 32,
            learning_rate: 1e-3,
            seed: 42,
            backend: BackendKind::Flex,
            limit_train: None,
            limit_test: None,
            adam: AdamSettings::default(),
            batch_norm: BatchNormSettings::default(),
            flush_subnormals: true,
        }
    }
}

/// What the command line set; `None` leaves the file's or the default value.
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    pub model: Option<ModelKind>,
    pub bn: Option<bool>,
    pub norm: Option<NormKind>,
    pub norm_position: Option<NormPosition>,
    pub init_scale: Option<f64>,
    pub hidden_layers: Option<usize>,
    pub width: Option<usize>,
    pub dataset: Option<DatasetKind>,
    pub data_dir: Option<PathBuf>,
    pub epochs: Option<usize>,
    pub batch_size: Option<usize>,
    pub learning_rate: Option<f64>,
    pub seed: Option<u64>,
    pub backend: Option<BackendKind>,
    pub limit_train: Option<usize>,
    pub limit_test: Option<usize>,
    pub flush_subnormals: Option<bool>,
}

impl ExperimentConfig {
    /// The one place that decides a run: defaults, then `file`, then `overrides`, validated.
    pub fn resolve(file: Option<&Path>, overrides: &Overrides) -> Result<Self, ConfigError> {
        let mut config = match file {
            Some(path) => Self::from_file(path)?,
            None => Self::default(),
        };
        config.apply(overrides);
        config.validate()?;
        Ok(config)
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

    fn apply(&mut self, o: &Overrides) {
        macro_rules! take {
            ($($field:ident),*) => { $( if let Some(v) = &o.$field { self.$field = v.clone(); } )* };
        }
        take!(
            model,
            bn,
            norm,
            norm_position,
            init_scale,
            dataset,
            epochs,
            batch_size,
            learning_rate,
            seed,
            backend,
            flush_subnormals
        );
        if o.hidden_layers.is_some() {
            self.hidden_layers = o.hidden_layers;
        }
        if o.width.is_some() {
            self.width = o.width;
        }
        if o.data_dir.is_some() {
            self.data_dir = o.data_dir.clone();
        }
        if o.limit_train.is_some() {
            self.limit_train = o.limit_train;
        }
        if o.limit_test.is_some() {
            self.limit_test = o.limit_test;
        }
    }

    pub fn validate(&self) -> Result<(), ConfigError> {
        fn invalid(
            field: &'static str,
            expected: &'static str,
            found: impl ToString,
        ) -> ConfigError {
            ConfigError::Invalid {
                field,
                expected,
                found: found.to_string(),
            }
        }
        if self.epochs == 0 {
            return Err(invalid("epochs", "at least 1", 0));
        }
        if self.batch_size == 0 {
            return Err(invalid("batch_size", "at least 1", 0));
        }
        if !(self.learning_rate.is_finite() && self.learning_rate > 0.0) {
            return Err(invalid(
                "learning_rate",
                "a finite number above 0",
                self.learning_rate,
            ));
        }
        for (field, limit) in [
            ("limit_train", self.limit_train),
            ("limit_test", self.limit_test),
            ("hidden_layers", self.hidden_layers),
            ("width", self.width),
        ] {
            if limit == Some(0) {
                return Err(invalid(field, "at least 1 when given", 0));
            }
        }
        if self.model == ModelKind::Cnn {
            for (field, value) in [("hidden_layers", self.hidden_layers), ("width", self.width)] {
                if let Some(value) = value {
                    return Err(invalid(
                        field,
                        "unset for the CNN (it shapes the MLP only)",
                        value,
                    ));
                }
            }
        }
        if self.bn && !matches!(self.norm, NormKind::None | NormKind::Batch) {
            return Err(invalid(
                "norm",
                "none or batch when bn is true (bn is shorthand for norm batch)",
                self.norm,
            ));
        }
        if !(self.init_scale.is_finite() && self.init_scale > 0.0) {
            return Err(invalid(
                "init_scale",
                "a finite number above 0",
                self.init_scale,
            ));
        }
        for (field, beta) in [
            ("adam.beta_1", self.adam.beta_1),
            ("adam.beta_2", self.adam.beta_2),
        ] {
            if !(0.0..1.0).contains(&beta) {
                return Err(invalid(field, "in [0, 1)", beta));
            }
        }
        if !(self.adam.epsilon.is_finite() && self.adam.epsilon > 0.0) {
            return Err(invalid(
                "adam.epsilon",
                "a finite number above 0",
                self.adam.epsilon,
            ));
        }
        if !(self.batch_norm.epsilon.is_finite() && self.batch_norm.epsilon > 0.0) {
            return Err(invalid(
                "batch_norm.epsilon",
                "a finite number above 0",
                self.batch_norm.epsilon,
            ));
        }
        if !(0.0..=1.0).contains(&self.batch_norm.momentum) {
            return Err(invalid(
                "batch_norm.momentum",
                "in [0, 1] (Keras convention, 0.99)",
                self.batch_norm.momentum,
            ));
        }
        Ok(())
    }

    /// The normalization a run uses: `bn: true` means batch.
    pub fn effective_norm(&self) -> NormKind {
        if self.bn { NormKind::Batch } else { self.norm }
    }

    /// The network this run trains.
    pub fn network(&self) -> NetworkConfig {
        self.network_with(self.effective_norm())
    }

    /// The network with `norm` in place of the configured normalization (for `compare`).
    pub fn network_with(&self, norm: NormKind) -> NetworkConfig {
        let mlp_widths = match (self.hidden_layers, self.width) {
            (None, None) => GUIDE_MLP_WIDTHS.to_vec(),
            (layers, width) => vec![width.unwrap_or(64); layers.unwrap_or(3)],
        };
        NetworkConfig {
            model: self.model,
            norm,
            position: self.norm_position,
            norm_settings: self.batch_norm,
            init_scale: self.init_scale,
            mlp_widths,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn configs_dir() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("configs")
    }

    #[test]
    fn bundled_configs_hold_the_guide_settings() {
        for model in ModelKind::ALL {
            let path = configs_dir().join(format!("{model}.json"));
            let config = ExperimentConfig::from_file(&path).unwrap();
            let expected = ExperimentConfig {
                model,
                ..ExperimentConfig::default()
            };
            assert_eq!(config, expected, "{}", path.display());
        }
    }

    #[test]
    fn flags_override_the_file() {
        let dir = tempfile::TempDir::new().unwrap();
        let path = dir.path().join("c.json");
        std::fs::write(
            &path,
            r#"{"model": "cnn", "epochs": 3, "learning_rate": 0.01}"#,
        )
        .unwrap();
        let overrides = Overrides {
            epochs: Some(5),
            ..Overrides::default()
        };
        let config = ExperimentConfig::resolve(Some(&path), &overrides).unwrap();
        assert_eq!(
            (config.model, config.epochs, config.learning_rate),
            (ModelKind::Cnn, 5, 0.01)
        );
        assert_eq!(config.batch_size, 32);
    }

    #[test]
    fn unknown_field_is_named() {
        let message = ExperimentConfig::from_json(r#"{"epoch": 3}"#).unwrap_err();
        assert!(message.contains("unknown field `epoch`"), "{message}");
        let nested = ExperimentConfig::from_json(r#"{"adam": {"beta1": 0.8}}"#).unwrap_err();
        assert!(
            nested.contains("adam") && nested.contains("beta1"),
            "{nested}"
        );
    }

    #[test]
    fn wrong_type_names_the_field() {
        let message = ExperimentConfig::from_json(r#"{"epochs": "ten"}"#).unwrap_err();
        assert!(
            message.starts_with("field `epochs`: invalid type"),
            "{message}"
        );
        let message = ExperimentConfig::from_json(r#"{"model": "resnet"}"#).unwrap_err();
        assert!(
            message.contains("model") && message.contains("resnet"),
            "{message}"
        );
    }

    #[test]
    fn invalid_values_are_rejected_with_the_field_name() {
        let cases: [(Overrides, &str); 5] = [
            (
                Overrides {
                    epochs: Some(0),
                    ..Default::default()
                },
                "epochs must be at least 1, got 0",
            ),
            (
                Overrides {
                    batch_size: Some(0),
                    ..Default::default()
                },
                "batch_size must be at least 1",
            ),
            (
                Overrides {
                    learning_rate: Some(0.0),
                    ..Default::default()
                },
                "learning_rate must be a finite number above 0, got 0",
            ),
            (
                Overrides {
                    learning_rate: Some(-1e-3),
                    ..Default::default()
                },
                "learning_rate must be",
            ),
            (
                Overrides {
                    learning_rate: Some(f64::NAN),
                    ..Default::default()
                },
                "got NaN",
            ),
        ];
        for (overrides, expected) in cases {
            let err = ExperimentConfig::resolve(None, &overrides)
                .unwrap_err()
                .to_string();
            assert!(err.contains(expected), "{err}");
        }
    }

    #[test]
    fn subnormals_flush_by_default_and_the_flag_or_file_keeps_them() {
        assert!(ExperimentConfig::default().flush_subnormals);
        let kept = Overrides {
            flush_subnormals: Some(false),
            ..Default::default()
        };
        assert!(
            !ExperimentConfig::resolve(None, &kept)
                .unwrap()
                .flush_subnormals
        );
        let file = ExperimentConfig::from_json(r#"{"flush_subnormals": false}"#).unwrap();
        assert!(!file.flush_subnormals);
    }

    #[test]
    fn network_options_reach_the_network() {
        let guide = ExperimentConfig::default().network();
        assert_eq!(guide, NetworkConfig::guide(ModelKind::Mlp, false));
        let config = ExperimentConfig::resolve(
            None,
            &Overrides {
                bn: Some(true),
                norm_position: Some(NormPosition::After),
                hidden_layers: Some(8),
                init_scale: Some(0.5),
                ..Default::default()
            },
        )
        .unwrap();
        let network = config.network();
        assert_eq!(
            (network.norm, network.position, network.init_scale),
            (NormKind::Batch, NormPosition::After, 0.5)
        );
        assert_eq!(network.mlp_widths, vec![64; 8]);
        let wide = ExperimentConfig {
            width: Some(100),
            ..ExperimentConfig::default()
        };
        assert_eq!(wide.network().mlp_widths, vec![100; 3]);
    }

    #[test]
    fn contradictory_network_options_are_rejected() {
        let cases: [(Overrides, &str); 4] = [
            (
                Overrides {
                    bn: Some(true),
                    norm: Some(NormKind::Layer),
                    ..Default::default()
                },
                "norm must be none or batch when bn is true",
            ),
            (
                Overrides {
                    model: Some(ModelKind::Cnn),
                    hidden_layers: Some(4),
                    ..Default::default()
                },
                "hidden_layers must be unset for the CNN",
            ),
            (
                Overrides {
                    init_scale: Some(0.0),
                    ..Default::default()
                },
                "init_scale must be a finite number above 0",
            ),
            (
                Overrides {
                    width: Some(0),
                    ..Default::default()
                },
                "width must be at least 1",
            ),
        ];
        for (overrides, expected) in cases {
            let err = ExperimentConfig::resolve(None, &overrides)
                .unwrap_err()
                .to_string();
            assert!(err.contains(expected), "{err}");
        }
    }

    #[test]
    fn missing_config_file_names_the_path() {
        let err =
            ExperimentConfig::resolve(Some(Path::new("/no/such.json")), &Overrides::default())
                .unwrap_err()
                .to_string();
        assert!(err.contains("/no/such.json"), "{err}");
    }
}
