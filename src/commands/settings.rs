//! From flags to settings, in one place: every setting a flag can give (each command fills in
//! the ones it has, as ripgrep's low-level arguments), applied to a base (the defaults, a config
//! file's, or a resumed run's) from low level to high level, then validated once. The defaults
//! the help text shows come from the same `Default` impls the settings start from.

use std::fmt::Display;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

use crate::config::ExperimentConfig;
use crate::data::DatasetKind;
use crate::model::{Activation, GUIDE_MLP_WIDTHS, ModelKind, NormKind, NormPosition};
use crate::runtime::BackendKind;

/// `--hidden-layers` without `--width` (and the other way round): the guide's depth, and the
/// width of the depth study's layers.
pub const DEFAULT_HIDDEN_LAYERS: usize = GUIDE_MLP_WIDTHS.len();
pub const DEFAULT_WIDTH: usize = 64;

/// Every setting a flag can give, as parsed; `None` (or `false`) leaves the base's value.
#[derive(Debug, Clone, Default)]
pub struct SettingFlags {
    pub dataset: Option<DatasetKind>,
    pub data_dir: Option<PathBuf>,
    pub keep_subnormals: bool,
    pub backend: Option<BackendKind>,
    pub batch_size: Option<usize>,
    pub learning_rate: Option<f64>,
    pub seed: Option<u64>,
    pub recalibrate_bn: bool,
    pub epochs: Option<usize>,
    pub limit_train: Option<usize>,
    pub limit_test: Option<usize>,
    pub model: Option<ModelKind>,
    pub norm: Option<NormKind>,
    pub norm_position: Option<NormPosition>,
    pub activation: Option<Activation>,
    pub norm_noise: bool,
    pub init_scale: Option<f64>,
    pub hidden_layers: Option<usize>,
    pub width: Option<usize>,
    /// Every network the settings will train (`None`: the settings' own); the widths shape the
    /// MLP only, so they are refused when one is the CNN.
    pub models: Option<Vec<ModelKind>>,
}

/// The settings: `base` ← `flags`, validated once. `file` names the config file `base` came
/// from, for the message when a value is invalid.
pub fn resolve(
    base: ExperimentConfig,
    flags: &SettingFlags,
    file: Option<&Path>,
) -> Result<ExperimentConfig> {
    let mut config = base;
    // Where the data comes from and what runs it.
    set(&mut config.data.dataset, flags.dataset);
    if let Some(dir) = &flags.data_dir {
        config.data.data_dir = Some(dir.clone());
    }
    if flags.keep_subnormals {
        config.runtime.flush_subnormals = false;
    }
    set(&mut config.runtime.backend, flags.backend);
    // How it trains, for how long, on how much.
    set(&mut config.training.batch_size, flags.batch_size);
    set(&mut config.training.learning_rate, flags.learning_rate);
    set(&mut config.training.seed, flags.seed);
    config.training.recalibrate_bn |= flags.recalibrate_bn;
    set(&mut config.training.epochs, flags.epochs);
    if flags.limit_train.is_some() {
        config.data.limit_train = flags.limit_train;
    }
    if flags.limit_test.is_some() {
        config.data.limit_test = flags.limit_test;
    }
    // The network.
    apply_network(&mut config, flags)?;
    config.validate().with_context(|| match file {
        Some(path) => format!("settings from {} and the flags", path.display()),
        None => "settings from the flags".into(),
    })?;
    Ok(config)
}

/// The network's flags: which network and normalization, then its shape.
fn apply_network(config: &mut ExperimentConfig, flags: &SettingFlags) -> Result<()> {
    let network = &mut config.network;
    set(&mut network.model, flags.model);
    set(&mut network.norm, flags.norm);
    set(&mut network.position, flags.norm_position);
    set(&mut network.activation, flags.activation);
    if flags.norm_noise {
        network.norm_noise = Some(network.norm_noise.unwrap_or_default());
    }
    set(&mut network.init_scale, flags.init_scale);
    if flags.hidden_layers.is_some() || flags.width.is_some() {
        let models = flags
            .models
            .as_deref()
            .unwrap_or(std::slice::from_ref(&network.model));
        if models.contains(&ModelKind::Cnn) {
            anyhow::bail!(
                "--hidden-layers and --width shape the MLP only; leave them out for the CNN"
            );
        }
        network.mlp_widths = vec![
            flags.width.unwrap_or(DEFAULT_WIDTH);
            flags.hidden_layers.unwrap_or(DEFAULT_HIDDEN_LAYERS)
        ];
    }
    Ok(())
}

fn set<T>(setting: &mut T, flag: Option<T>) {
    if let Some(value) = flag {
        *setting = value;
    }
}

/// A flag's help with the default it leaves in place, e.g. "Batch size [default: 32]".
pub fn with_default(help: &str, default: impl Display) -> String {
    format!("{help} [default: {default}]")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unset_flag_leaves_the_base_and_a_set_one_replaces_it() {
        let base = ExperimentConfig::default();
        assert_eq!(
            resolve(base.clone(), &SettingFlags::default(), None).unwrap(),
            base
        );
        let flags = SettingFlags {
            learning_rate: Some(0.01),
            hidden_layers: Some(4),
            keep_subnormals: true,
            ..SettingFlags::default()
        };
        let config = resolve(base, &flags, None).unwrap();
        assert_eq!(config.training.learning_rate, 0.01);
        assert_eq!(config.network.mlp_widths, [DEFAULT_WIDTH; 4]);
        assert!(!config.runtime.flush_subnormals);
    }

    #[test]
    fn a_bad_value_names_its_field_and_flag() {
        let flags = SettingFlags {
            batch_size: Some(0),
            ..SettingFlags::default()
        };
        let err = resolve(ExperimentConfig::default(), &flags, None).unwrap_err();
        assert_eq!(
            format!("{err:#}"),
            "settings from the flags: training.batch_size (--batch-size) must be at least 1, got 0"
        );
    }
}
