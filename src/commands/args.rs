//! The flag groups the commands share, each a clap `Args` struct, and how each group's flags
//! become [`SettingFlags`]. Every enum is parsed one way: by its fixed names ([`named`]).

use std::path::PathBuf;

use clap::Args;
use clap::builder::{PossibleValuesParser, RangedU64ValueParser, TypedValueParser};

use super::settings::{DEFAULT_HIDDEN_LAYERS, DEFAULT_WIDTH, SettingFlags, with_default};
use crate::Named;
use crate::config::{ExperimentConfig, TrainingConfig};
use crate::data::DatasetKind;
use crate::model::{Activation, ModelKind, NetworkConfig, NormPosition};
use crate::runtime::{BackendKind, Verbosity};

/// Parses one of a [`Named`] enum's names; `--help` lists them.
pub fn named<T: Named + Clone + Send + Sync>() -> impl TypedValueParser<Value = T> {
    PossibleValuesParser::new(T::all().iter().map(|v| v.name()))
        .map(|s| T::from_name(&s).expect("listed value"))
}

/// A count of at least 1.
pub fn at_least_one() -> RangedU64ValueParser<usize> {
    RangedU64ValueParser::<usize>::new().range(1..)
}

named_enum! {
    /// The network(s) a command trains.
    pub enum ModelChoice("model") {
        Mlp => "mlp",
        Cnn => "cnn",
        All => "all",
    }
}

impl ModelChoice {
    pub fn models(self) -> Vec<ModelKind> {
        match self {
            ModelChoice::Mlp => vec![ModelKind::Mlp],
            ModelChoice::Cnn => vec![ModelKind::Cnn],
            ModelChoice::All => ModelKind::ALL.to_vec(),
        }
    }
}

fn training_default() -> TrainingConfig {
    TrainingConfig::default()
}

fn network_default() -> NetworkConfig {
    ExperimentConfig::default().network
}

/// What every command that trains takes: where the settings and data come from, and how it
/// reports.
#[derive(Debug, Args)]
pub struct CommonArgs {
    /// JSON config (see configs/); flags override its values.
    #[arg(help_heading = "Data", long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    #[arg(help_heading = "Data", long, value_parser = named::<DatasetKind>(), help = with_default("Dataset", format!("{}, bundled in assets/mnist", DatasetKind::default())))]
    pub dataset: Option<DatasetKind>,
    /// Folder holding the four IDX files (.gz or raw).
    #[arg(help_heading = "Data", long, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// Keep exact IEEE subnormal arithmetic on the CPU (slower); by default bnx flushes
    /// subnormals to zero, as TensorFlow does.
    #[arg(help_heading = "Runtime", long)]
    pub keep_subnormals: bool,
    /// No progress bars or epoch lines; results only.
    #[arg(help_heading = "Output", long, short)]
    pub quiet: bool,
}

impl CommonArgs {
    pub fn verbosity(&self) -> Verbosity {
        if self.quiet {
            Verbosity::Quiet
        } else {
            Verbosity::Normal
        }
    }

    /// The settings this group's flags give.
    pub fn setting_flags(&self) -> SettingFlags {
        SettingFlags {
            dataset: self.dataset,
            data_dir: self.data_dir.clone(),
            keep_subnormals: self.keep_subnormals,
            ..SettingFlags::default()
        }
    }
}

/// The flags of the commands that train on one backend (`train`, `compare`, `study`).
#[derive(Debug, Args)]
pub struct RunArgs {
    #[command(flatten)]
    pub common: CommonArgs,
    #[arg(help_heading = "Runtime", long, value_parser = named::<BackendKind>(), help = with_default("Compute backend: flex and ndarray run on the CPU, wgpu and cuda on a GPU, auto picks the fastest available", ExperimentConfig::default().runtime.backend))]
    pub backend: Option<BackendKind>,
    #[command(flatten)]
    pub optimizer: OptimizerArgs,
}

impl RunArgs {
    /// The settings this group's flags give.
    pub fn setting_flags(&self) -> SettingFlags {
        let optimizer = &self.optimizer;
        SettingFlags {
            backend: self.backend,
            batch_size: optimizer.batch_size,
            learning_rate: optimizer.learning_rate,
            seed: optimizer.seed,
            recalibrate_bn: optimizer.recalibrate_bn,
            ..self.common.setting_flags()
        }
    }
}

/// The optimizer's settings and the seed.
#[derive(Debug, Args)]
pub struct OptimizerArgs {
    #[arg(help_heading = "Training", long, help = with_default("Batch size", training_default().batch_size))]
    pub batch_size: Option<usize>,
    #[arg(help_heading = "Training", long = "lr", value_name = "LR", help = with_default("Adam learning rate", training_default().learning_rate))]
    pub learning_rate: Option<f64>,
    #[arg(help_heading = "Training", long, help = with_default("Seed for initial weights and the per-epoch shuffle", training_default().seed))]
    pub seed: Option<u64>,
    /// Before each validation, recompute BatchNorm's running statistics with one pass over the
    /// training data (the weights train exactly as without it).
    #[arg(help_heading = "Training", long)]
    pub recalibrate_bn: bool,
}

/// How long a run trains and on how much data (a study's budget decides these instead).
#[derive(Debug, Args)]
pub struct ScheduleArgs {
    #[arg(help_heading = "Training", long, help = with_default("Epochs", training_default().epochs))]
    pub epochs: Option<usize>,
    /// Train on the first N training samples only.
    #[arg(help_heading = "Data", long, value_name = "N")]
    pub limit_train: Option<usize>,
    /// Validate on the first N test samples only.
    #[arg(help_heading = "Data", long, value_name = "N")]
    pub limit_test: Option<usize>,
}

impl ScheduleArgs {
    /// `flags` with this group's.
    pub fn add_to(&self, flags: SettingFlags) -> SettingFlags {
        SettingFlags {
            epochs: self.epochs,
            limit_train: self.limit_train,
            limit_test: self.limit_test,
            ..flags
        }
    }
}

/// Network shape options beyond the guide's four networks.
#[derive(Debug, Args)]
pub struct NetworkArgs {
    #[arg(help_heading = "Network", long, value_parser = named::<NormPosition>(), help = with_default("Normalization before (the guide) or after the ReLU", network_default().position))]
    pub norm_position: Option<NormPosition>,
    #[arg(help_heading = "Network", long, value_parser = named::<Activation>(), help = with_default("Every hidden layer's nonlinearity: relu (the guide) or sigmoid (Ioffe & Szegedy's figure 1)", network_default().activation))]
    pub activation: Option<Activation>,
    /// Santurkar et al.'s noisy BatchNorm: after every norm layer, noise with a non-zero mean
    /// and non-unit variance, drawn anew at every step (training only; its strength is the
    /// config file's network.norm_noise).
    #[arg(help_heading = "Network", long)]
    pub norm_noise: bool,
    #[arg(help_heading = "Network", long, value_name = "X", help = with_default("Multiply the Glorot-uniform bound of every layer by X", network_default().init_scale))]
    pub init_scale: Option<f64>,
    #[arg(help_heading = "Network", long, value_name = "N", help = with_default("MLP: N hidden layers of --width units instead of 128-64-32", DEFAULT_HIDDEN_LAYERS))]
    pub hidden_layers: Option<usize>,
    #[arg(help_heading = "Network", long, value_name = "W", help = with_default("MLP: width of every hidden layer, with --hidden-layers", DEFAULT_WIDTH))]
    pub width: Option<usize>,
}

impl NetworkArgs {
    /// `flags` with this group's.
    pub fn add_to(&self, flags: SettingFlags) -> SettingFlags {
        SettingFlags {
            norm_position: self.norm_position,
            activation: self.activation,
            norm_noise: self.norm_noise,
            init_scale: self.init_scale,
            hidden_layers: self.hidden_layers,
            width: self.width,
            ..flags
        }
    }
}

/// TensorBoard export, for the commands that train.
#[derive(Debug, Args)]
pub struct TensorBoardArgs {
    /// Also write TensorBoard event files under DIR, one run per network (and seed), for
    /// `tensorboard --logdir DIR`.
    #[arg(help_heading = "Output", long, value_name = "DIR")]
    pub tensorboard: Option<PathBuf>,
    /// With --tensorboard: also log every step's training loss (loss/train_step).
    #[arg(help_heading = "Output", long, requires = "tensorboard")]
    pub tensorboard_steps: bool,
}

impl TensorBoardArgs {
    pub fn options(&self) -> crate::report::tensorboard::TensorBoardOptions {
        crate::report::tensorboard::TensorBoardOptions {
            dir: self.tensorboard.clone(),
            steps: self.tensorboard_steps,
        }
    }
}
