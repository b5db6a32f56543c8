//! One module per command, as cargo lays them out: each holds its clap arguments and `exec`.
//! What they share lives here: the flag groups, and [`Session`], the one place where a config
//! file and the flags become the run's settings, the backend is opened and the data loaded.

pub mod bench;
pub mod compare;
pub mod data;
pub mod eval;
pub mod plot;
pub mod predict;
pub mod study;
pub mod train;

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::Args;
use clap::builder::{PossibleValuesParser, RangedU64ValueParser, TypedValueParser};

use crate::Named;
use crate::config::ExperimentConfig;
use crate::data::{DatasetKind, LoadedData};
use crate::experiment::{self, ExperimentError};
use crate::model::{Activation, ModelKind, NormPosition};
use crate::runtime::{Backend, BackendKind, Progress, Verbosity};

/// Parses one of a [`Named`] enum's names; `--help` lists them.
pub fn named<T: Named + Clone + Send + Sync>() -> impl TypedValueParser<Value = T> {
    PossibleValuesParser::new(T::all().iter().map(|v| v.name()))
        .map(|s| T::from_name(&s).expect("listed value"))
}

/// A count of at least 1.
pub fn at_least_one() -> RangedU64ValueParser<usize> {
    RangedU64ValueParser::<usize>::new().range(1..)
}

/// A finite number above 0.
pub fn positive(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(value) if value.is_finite() && value > 0.0 => Ok(value),
        Ok(value) => Err(format!("{value} is not a finite number above 0")),
        Err(_) => Err(format!("'{text}' is not a number")),
    }
}

/// What every command that trains takes: where the settings and data come from, and how it
/// reports.
#[derive(Debug, Args)]
pub struct CommonArgs {
    /// JSON config (see configs/); flags override its values.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Dataset [default: mnist, bundled in assets/mnist].
    #[arg(long, value_parser = named::<DatasetKind>())]
    pub dataset: Option<DatasetKind>,
    /// Folder holding the four IDX files (.gz or raw).
    #[arg(long, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// Keep exact IEEE subnormal arithmetic on the CPU (slower); by default bnx flushes
    /// subnormals to zero, as TensorFlow does.
    #[arg(long)]
    pub keep_subnormals: bool,
    /// No progress bars or epoch lines; results only.
    #[arg(long, short)]
    pub quiet: bool,
}

impl CommonArgs {
    fn apply(&self, config: &mut ExperimentConfig) {
        if let Some(dataset) = self.dataset {
            config.data.dataset = dataset;
        }
        if let Some(dir) = &self.data_dir {
            config.data.data_dir = Some(dir.clone());
        }
        if self.keep_subnormals {
            config.runtime.flush_subnormals = false;
        }
    }

    pub fn verbosity(&self) -> Verbosity {
        if self.quiet {
            Verbosity::Quiet
        } else {
            Verbosity::Normal
        }
    }
}

/// The flags of the commands that train on one backend (`train`, `compare`, `study`).
#[derive(Debug, Args)]
pub struct RunArgs {
    #[command(flatten)]
    pub common: CommonArgs,
    /// Compute backend: flex and ndarray run on the CPU, wgpu and cuda on a GPU, auto picks
    /// the fastest available [default: flex].
    #[arg(long, value_parser = named::<BackendKind>())]
    pub backend: Option<BackendKind>,
    #[command(flatten)]
    pub optimizer: OptimizerArgs,
}

/// The optimizer's settings and the seed.
#[derive(Debug, Args)]
pub struct OptimizerArgs {
    /// Batch size [default: 32].
    #[arg(long, value_parser = at_least_one())]
    pub batch_size: Option<usize>,
    /// Adam learning rate [default: 0.001].
    #[arg(long = "lr", value_name = "LR", value_parser = positive)]
    pub learning_rate: Option<f64>,
    /// Seed for initial weights and the per-epoch shuffle [default: 42].
    #[arg(long)]
    pub seed: Option<u64>,
    /// Before each validation, recompute BatchNorm's running statistics with one pass over the
    /// training data (the weights train exactly as without it).
    #[arg(long)]
    pub recalibrate_bn: bool,
}

impl OptimizerArgs {
    fn apply(&self, config: &mut ExperimentConfig) {
        let training = &mut config.training;
        if let Some(batch_size) = self.batch_size {
            training.batch_size = batch_size;
        }
        if let Some(rate) = self.learning_rate {
            training.learning_rate = rate;
        }
        if let Some(seed) = self.seed {
            training.seed = seed;
        }
        if self.recalibrate_bn {
            training.recalibrate_bn = true;
        }
    }
}

/// How long a run trains and on how much data (a study's budget decides these instead).
#[derive(Debug, Args)]
pub struct ScheduleArgs {
    /// Epochs [default: 10].
    #[arg(long, value_parser = at_least_one())]
    pub epochs: Option<usize>,
    /// Train on the first N training samples only.
    #[arg(long, value_name = "N", value_parser = at_least_one())]
    pub limit_train: Option<usize>,
    /// Validate on the first N test samples only.
    #[arg(long, value_name = "N", value_parser = at_least_one())]
    pub limit_test: Option<usize>,
}

impl ScheduleArgs {
    fn apply(&self, config: &mut ExperimentConfig) {
        if let Some(epochs) = self.epochs {
            config.training.epochs = epochs;
        }
        if let Some(limit) = self.limit_train {
            config.data.limit_train = Some(limit);
        }
        if let Some(limit) = self.limit_test {
            config.data.limit_test = Some(limit);
        }
    }
}

/// Network shape options beyond the guide's four networks.
#[derive(Debug, Args)]
pub struct NetworkArgs {
    /// Normalization before (the guide) or after the ReLU [default: before].
    #[arg(long, value_parser = named::<NormPosition>())]
    pub norm_position: Option<NormPosition>,
    /// Every hidden layer's nonlinearity: relu (the guide) or sigmoid (Ioffe & Szegedy's
    /// figure 1) [default: relu].
    #[arg(long, value_parser = named::<Activation>())]
    pub activation: Option<Activation>,
    /// Santurkar et al.'s noisy BatchNorm: after every norm layer, noise with a non-zero mean
    /// and non-unit variance, drawn anew at every step (training only; its strength is the
    /// config file's network.norm_noise).
    #[arg(long)]
    pub norm_noise: bool,
    /// Multiply the Glorot-uniform bound of every layer by X [default: 1].
    #[arg(long, value_name = "X", value_parser = positive)]
    pub init_scale: Option<f64>,
    /// MLP: N hidden layers of --width units instead of 128-64-32 [default: 3].
    #[arg(long, value_name = "N", value_parser = at_least_one())]
    pub hidden_layers: Option<usize>,
    /// MLP: width of every hidden layer, with --hidden-layers [default: 64].
    #[arg(long, value_name = "W", value_parser = at_least_one())]
    pub width: Option<usize>,
}

impl NetworkArgs {
    /// Applies the flags to `config.network`; the widths only shape the MLP, so they are
    /// refused for any of `models` that is not one.
    fn apply(&self, config: &mut ExperimentConfig, models: &[ModelKind]) -> Result<()> {
        let network = &mut config.network;
        if let Some(position) = self.norm_position {
            network.position = position;
        }
        if let Some(activation) = self.activation {
            network.activation = activation;
        }
        if self.norm_noise {
            network.norm_noise = Some(network.norm_noise.unwrap_or_default());
        }
        if let Some(scale) = self.init_scale {
            network.init_scale = scale;
        }
        if self.hidden_layers.is_some() || self.width.is_some() {
            if models.contains(&ModelKind::Cnn) {
                anyhow::bail!(
                    "--hidden-layers and --width shape the MLP only; leave them out for the CNN"
                );
            }
            network.mlp_widths = vec![self.width.unwrap_or(64); self.hidden_layers.unwrap_or(3)];
        }
        Ok(())
    }
}

impl RunArgs {
    /// The settings: defaults ← config file ← these flags ← `flags`, validated.
    pub fn resolve(
        &self,
        flags: impl FnOnce(&mut ExperimentConfig) -> Result<()>,
    ) -> Result<ExperimentConfig> {
        let base = ExperimentConfig::load(self.common.config.as_deref())?;
        self.resolve_from(base, flags)
    }

    /// The settings: `base` (a config file's, or a run's when it is resumed) ← these flags ←
    /// `flags`, validated.
    pub fn resolve_from(
        &self,
        base: ExperimentConfig,
        flags: impl FnOnce(&mut ExperimentConfig) -> Result<()>,
    ) -> Result<ExperimentConfig> {
        resolve(&self.common, self.backend, base, |config| {
            self.optimizer.apply(config);
            flags(config)
        })
    }
}

/// Ctrl-C stopped training: every completed epoch is on disk and `command` continues it. `main`
/// prints this and exits with status 130.
#[derive(Debug, thiserror::Error)]
#[error(
    "stopped by Ctrl-C; every completed epoch is kept in {}. To continue: {command}",
    dirs.iter().map(|d| d.display().to_string()).collect::<Vec<_>>().join(", ")
)]
pub struct Interrupted {
    pub dirs: Vec<PathBuf>,
    pub command: String,
}

impl Interrupted {
    /// `Some` when `error` is training stopped by Ctrl-C: `bnx <resume> DIRS…` continues it.
    fn from_error(error: &ExperimentError, resume: &str, dirs: &[PathBuf]) -> Option<Self> {
        let ExperimentError::Train(crate::train::TrainError::Interrupted { .. }) = error else {
            return None;
        };
        let quoted: Vec<String> = dirs
            .iter()
            .map(|d| shell_quote(&d.display().to_string()))
            .collect();
        Some(Self {
            dirs: dirs.to_vec(),
            command: format!("bnx {resume} {}", quoted.join(" ")),
        })
    }
}

/// `text` as one shell word: as it is when that is safe, else in single quotes.
fn shell_quote(text: &str) -> String {
    let plain = |c: char| c.is_ascii_alphanumeric() || "/._-+=:,@".contains(c);
    if !text.is_empty() && text.chars().all(plain) {
        text.to_string()
    } else {
        format!("'{}'", text.replace('\'', r"'\''"))
    }
}

/// TensorBoard export, for the commands that train.
#[derive(Debug, Args)]
pub struct TensorBoardArgs {
    /// Also write TensorBoard event files under DIR, one run per network (and seed), for
    /// `tensorboard --logdir DIR`.
    #[arg(long, value_name = "DIR")]
    pub tensorboard: Option<PathBuf>,
    /// With --tensorboard: also log every step's training loss (loss/train_step).
    #[arg(long, requires = "tensorboard")]
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

/// What a command runs with, resolved once: the settings (defaults ← config file ← flags,
/// validated), the backend opened for the whole process, and the data.
pub struct Session {
    pub config: ExperimentConfig,
    pub backend: Backend,
    pub data: LoadedData,
    pub progress: Progress,
}

impl Session {
    /// Loads the config file named by `--config` (or the defaults), applies `run`'s flags and
    /// then `flags`, validates the result, then opens the backend and loads the data: a missing
    /// GPU or driver is reported before anything is loaded or written.
    pub fn open(
        run: &RunArgs,
        flags: impl FnOnce(&mut ExperimentConfig) -> Result<()>,
    ) -> Result<Self> {
        Self::open_with(run, run.resolve(flags)?)
    }

    /// As [`open`](Self::open), with settings already resolved.
    pub fn open_with(run: &RunArgs, config: ExperimentConfig) -> Result<Self> {
        let common = &run.common;
        let backend = Backend::open(config.runtime.backend, config.runtime.flush_subnormals)?;
        let progress = Progress::new(common.verbosity());
        let data = experiment::load_data(&config.data, &progress)?;
        Ok(Self {
            config,
            backend,
            data,
            progress,
        })
    }
}

/// The one place that decides a run's settings: `base` (the defaults or a config file's, or a
/// resumed run's), then flags.
pub fn resolve(
    common: &CommonArgs,
    backend: Option<BackendKind>,
    base: ExperimentConfig,
    flags: impl FnOnce(&mut ExperimentConfig) -> Result<()>,
) -> Result<ExperimentConfig> {
    let mut config = base;
    common.apply(&mut config);
    if let Some(backend) = backend {
        config.runtime.backend = backend;
    }
    flags(&mut config)?;
    config.validate().with_context(|| match &common.config {
        Some(path) => format!("settings from {} and the flags", path.display()),
        None => "settings from the flags".into(),
    })?;
    Ok(config)
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;
    use crate::model::NormKind;

    /// `bnx train`'s arguments, parsed as the real command line parses them.
    #[derive(Parser)]
    struct TrainCli {
        #[command(flatten)]
        args: train::TrainArgs,
    }

    fn resolve_train(args: &[&str]) -> Result<ExperimentConfig> {
        let cli = TrainCli::try_parse_from(std::iter::once("bnx").chain(args.iter().copied()))?;
        train::resolve(&cli.args)
    }

    #[test]
    fn flags_override_the_file_which_overrides_the_defaults() {
        let dir = tempfile::TempDir::new().unwrap();
        let file = dir.path().join("c.json");
        std::fs::write(
            &file,
            r#"{"network": {"model": "cnn"}, "training": {"epochs": 3, "learning_rate": 0.01},
                "runtime": {"backend": "ndarray"}}"#,
        )
        .unwrap();
        let path = file.to_str().unwrap();

        let defaults = resolve_train(&[]).unwrap();
        assert_eq!(defaults, ExperimentConfig::default());

        let from_file = resolve_train(&["--config", path]).unwrap();
        assert_eq!(from_file.network.model, ModelKind::Cnn);
        assert_eq!(
            (from_file.training.epochs, from_file.training.learning_rate),
            (3, 0.01)
        );
        assert_eq!(from_file.runtime.backend, BackendKind::Ndarray);
        assert_eq!(from_file.training.batch_size, 32, "left to the default");

        let flagged = resolve_train(&[
            "--config",
            path,
            "--epochs",
            "5",
            "--backend",
            "flex",
            "--keep-subnormals",
            "--model",
            "mlp",
        ])
        .unwrap();
        assert_eq!(flagged.network.model, ModelKind::Mlp);
        assert_eq!(flagged.training.epochs, 5);
        assert_eq!(flagged.training.learning_rate, 0.01, "the file's, no flag");
        assert_eq!(flagged.runtime.backend, BackendKind::Flex);
        assert!(!flagged.runtime.flush_subnormals);
    }

    #[test]
    fn bn_is_a_shorthand_for_batch_norm_before_the_relu() {
        let bn = resolve_train(&["--bn"]).unwrap().network;
        assert_eq!(
            (bn.norm, bn.position),
            (NormKind::Batch, NormPosition::Before)
        );
        let dir = tempfile::TempDir::new().unwrap();
        let file = dir.path().join("ln.json");
        std::fs::write(
            &file,
            r#"{"network": {"norm": "layer", "position": "after"}}"#,
        )
        .unwrap();
        let path = file.to_str().unwrap();
        let bn = resolve_train(&["--config", path, "--bn"]).unwrap().network;
        assert_eq!(
            (bn.norm, bn.position),
            (NormKind::Batch, NormPosition::Before)
        );
        let none = resolve_train(&["--config", path, "--no-bn"])
            .unwrap()
            .network;
        assert_eq!(
            (none.norm, none.position),
            (NormKind::None, NormPosition::After)
        );
        let group = resolve_train(&["--norm", "group"]).unwrap().network;
        assert_eq!(group.norm, NormKind::Group);
    }

    #[test]
    fn widths_flags_become_the_networks_widths() {
        let network = resolve_train(&["--hidden-layers", "4"]).unwrap().network;
        assert_eq!(network.mlp_widths, [64; 4]);
        let network = resolve_train(&["--width", "100"]).unwrap().network;
        assert_eq!(network.mlp_widths, [100; 3]);
        let err = resolve_train(&["--model", "cnn", "--width", "100"]).unwrap_err();
        assert!(err.to_string().contains("shape the MLP only"), "{err}");
    }

    #[test]
    fn counts_and_rates_are_checked_while_parsing() {
        for (args, expected) in [
            (&["--epochs", "0"][..], "0 is not in 1.."),
            (&["--batch-size", "0"][..], "0 is not in 1.."),
            (&["--lr=-0.5"][..], "-0.5 is not a finite number above 0"),
            (&["--lr", "NaN"][..], "NaN is not a finite number above 0"),
            (&["--init-scale", "x"][..], "'x' is not a number"),
        ] {
            let err = resolve_train(args).unwrap_err().to_string();
            assert!(err.contains(expected), "{args:?}: {err}");
        }
    }

    #[test]
    fn a_file_value_the_flags_leave_is_validated_with_its_source_named() {
        let dir = tempfile::TempDir::new().unwrap();
        let file = dir.path().join("zero.json");
        std::fs::write(&file, r#"{"training": {"epochs": 0}}"#).unwrap();
        let err = resolve_train(&["--config", file.to_str().unwrap()]).unwrap_err();
        let message = format!("{err:#}");
        assert!(message.contains("zero.json"), "{message}");
        assert!(
            message.contains("training.epochs must be at least 1, got 0"),
            "{message}"
        );
        // A flag replaces the bad value before validation.
        let fixed = resolve_train(&["--config", file.to_str().unwrap(), "--epochs", "2"]);
        assert_eq!(fixed.unwrap().training.epochs, 2);
    }
}
