//! The command line: clap definitions, turned into library calls. Nothing below sees clap.

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::builder::{PossibleValuesParser, TypedValueParser};
use clap::{Args, Parser, Subcommand};

use crate::config::{ExperimentConfig, Overrides};
use crate::data::DatasetKind;
use crate::experiment;
use crate::model::ModelKind;
use crate::train::backend::BackendKind;
use crate::train::progress::{Progress, Verbosity};

const EXAMPLES: &str = "\
Examples:
  bnx compare                          MLP with vs without BatchNorm on the bundled MNIST
  bnx compare --model all              both networks (the CNN takes ~1 min/epoch on 2 cores)
  bnx train --model cnn --bn           one network, results in results/cnn-bn/
  bnx compare --dataset fashion-mnist  needs `apt-get install -y dataset-fashion-mnist` or --data-dir
  bnx compare --config configs/cnn.json --epochs 3 --backend ndarray
  bnx plot results/mlp                 re-render charts from saved metrics
  bnx bench --steps 100                training throughput per network and CPU backend";

#[derive(Debug, Parser)]
#[command(
    name = "bnx",
    version,
    about = "What does Batch Normalization actually do to training? Train and compare, with and without BatchNorm.",
    after_help = EXAMPLES
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Train one network and write config.json, metrics.json, model.bpk and curves.png.
    #[command(after_help = EXAMPLES)]
    Train(TrainArgs),
    /// Train a network with and without BatchNorm (same seed, data order and initial weights) and chart both.
    #[command(after_help = EXAMPLES)]
    Compare(CompareArgs),
    /// Re-render charts from saved metrics, without training.
    Plot(PlotArgs),
    /// Measure training throughput (samples/s, projected epoch seconds) per network and backend.
    Bench(BenchArgs),
}

fn model_parser() -> impl TypedValueParser<Value = ModelKind> {
    PossibleValuesParser::new(ModelKind::ALL.map(ModelKind::name)).map(|s| s.parse().expect("listed value"))
}

fn backend_parser() -> impl TypedValueParser<Value = BackendKind> {
    PossibleValuesParser::new(BackendKind::ALL.map(BackendKind::name)).map(|s| s.parse().expect("listed value"))
}

fn dataset_parser() -> impl TypedValueParser<Value = DatasetKind> {
    PossibleValuesParser::new(DatasetKind::ALL.map(DatasetKind::name))
        .map(|s| DatasetKind::ALL.into_iter().find(|d| d.name() == s).expect("listed value"))
}

/// Settings shared by every command that trains.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// JSON config (see configs/); flags override its values.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Dataset [default: mnist, bundled in assets/mnist].
    #[arg(long, value_parser = dataset_parser())]
    pub dataset: Option<DatasetKind>,
    /// Folder holding the four IDX files (.gz or raw).
    #[arg(long, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// Epochs [default: 10].
    #[arg(long)]
    pub epochs: Option<usize>,
    /// Batch size [default: 32].
    #[arg(long)]
    pub batch_size: Option<usize>,
    /// Adam learning rate [default: 0.001].
    #[arg(long = "lr", value_name = "LR")]
    pub learning_rate: Option<f64>,
    /// Seed for initial weights and the per-epoch shuffle [default: 42].
    #[arg(long)]
    pub seed: Option<u64>,
    /// Compute backend [default: flex].
    #[arg(long, value_parser = backend_parser())]
    pub backend: Option<BackendKind>,
    /// Train on the first N training samples only.
    #[arg(long, value_name = "N")]
    pub limit_train: Option<usize>,
    /// Validate on the first N test samples only.
    #[arg(long, value_name = "N")]
    pub limit_test: Option<usize>,
    /// No progress bars or epoch lines; results only.
    #[arg(long, short)]
    pub quiet: bool,
}

impl RunArgs {
    fn overrides(&self) -> Overrides {
        Overrides {
            dataset: self.dataset,
            data_dir: self.data_dir.clone(),
            epochs: self.epochs,
            batch_size: self.batch_size,
            learning_rate: self.learning_rate,
            seed: self.seed,
            backend: self.backend,
            limit_train: self.limit_train,
            limit_test: self.limit_test,
            ..Overrides::default()
        }
    }

    fn progress(&self) -> Progress {
        Progress::new(if self.quiet { Verbosity::Quiet } else { Verbosity::Normal })
    }
}

#[derive(Debug, Args)]
pub struct TrainArgs {
    /// Network [default: mlp].
    #[arg(long, value_parser = model_parser())]
    pub model: Option<ModelKind>,
    /// Insert BatchNorm after every Dense/Conv layer.
    #[arg(long, conflicts_with = "no_bn")]
    pub bn: bool,
    /// No BatchNorm, even if the config file asks for it.
    #[arg(long)]
    pub no_bn: bool,
    /// Output folder [default: results/<model> or results/<model>-bn].
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    #[command(flatten)]
    pub run: RunArgs,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ModelChoice {
    Mlp,
    Cnn,
    All,
}

#[derive(Debug, Args)]
pub struct CompareArgs {
    /// Network(s) to compare [default: the config's model, else mlp].
    #[arg(long, value_enum)]
    pub model: Option<ModelChoice>,
    /// Output folder [default: results/<model>; with --model all, DIR/mlp and DIR/cnn].
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    #[command(flatten)]
    pub run: RunArgs,
}

#[derive(Debug, Args)]
pub struct PlotArgs {
    /// Comparison folders (with no-bn/ and bn/) or run folders (with metrics.json).
    #[arg(required = true, value_name = "DIR")]
    pub dirs: Vec<PathBuf>,
}

#[derive(Debug, Args)]
pub struct BenchArgs {
    /// Network(s) to time.
    #[arg(long, value_enum, default_value = "all")]
    pub model: ModelChoice,
    /// Backends to time, comma-separated.
    #[arg(long = "backends", value_delimiter = ',', value_parser = backend_parser(), default_value = "flex,ndarray")]
    pub backends: Vec<BackendKind>,
    /// Timed steps per network and backend.
    #[arg(long, default_value_t = 50)]
    pub steps: usize,
    /// Untimed warm-up steps before them.
    #[arg(long, default_value_t = 5)]
    pub warmup: usize,
    /// Also write the Markdown table to this file.
    #[arg(long, value_name = "FILE")]
    pub markdown: Option<PathBuf>,
    #[command(flatten)]
    pub run: RunArgs,
}

/// Runs a parsed command line.
pub fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Train(args) => train(args),
        Command::Compare(args) => compare(args),
        Command::Plot(args) => plot(args),
        Command::Bench(args) => bench(args),
    }
}

fn resolve(run: &RunArgs, model: Option<ModelKind>, bn: Option<bool>) -> Result<ExperimentConfig> {
    let overrides = Overrides { model, bn, ..run.overrides() };
    Ok(ExperimentConfig::resolve(run.config.as_deref(), &overrides)?)
}

fn train(args: TrainArgs) -> Result<()> {
    let bn = if args.bn { Some(true) } else if args.no_bn { Some(false) } else { None };
    let config = resolve(&args.run, args.model, bn)?;
    let out = args.out.unwrap_or_else(|| experiment::default_run_dir(config.model, config.bn));
    let data = experiment::load_data(&config)?;
    let progress = args.run.progress();
    let metrics = experiment::train_run(&config, config.bn, &data, &out, &progress)
        .with_context(|| format!("training {} (results so far are in {})", config.model, out.display()))?;
    let last = metrics.epochs.last().expect("at least one epoch");
    println!(
        "final val accuracy {:.2}%, val loss {:.4}; results in {}",
        100.0 * last.val_acc,
        last.val_loss,
        out.display()
    );
    Ok(())
}

fn models_of(choice: Option<ModelChoice>, config: &ExperimentConfig) -> Vec<ModelKind> {
    match choice {
        None => vec![config.model],
        Some(ModelChoice::Mlp) => vec![ModelKind::Mlp],
        Some(ModelChoice::Cnn) => vec![ModelKind::Cnn],
        Some(ModelChoice::All) => ModelKind::ALL.to_vec(),
    }
}

fn compare(args: CompareArgs) -> Result<()> {
    let base = resolve(&args.run, None, None)?;
    let models = models_of(args.model, &base);
    let data = experiment::load_data(&base)?;
    let progress = args.run.progress();
    for &model in &models {
        let config = ExperimentConfig { model, ..base.clone() };
        let out = match (&args.out, models.len()) {
            (Some(dir), 1) => dir.clone(),
            (Some(dir), _) => dir.join(model.name()),
            (None, _) => experiment::default_run_dir(model, false),
        };
        let summary = experiment::compare(&config, &data, &out, &progress)
            .with_context(|| format!("comparing {model} with and without BatchNorm (results so far are in {})", out.display()))?;
        println!("\n{}", summary.table());
        println!("charts: {0}/comparison.png, {0}/comparison.svg; summary: {0}/summary.json", out.display());
    }
    Ok(())
}

fn plot(args: PlotArgs) -> Result<()> {
    for dir in &args.dirs {
        let written = experiment::plot(dir).with_context(|| format!("plotting {}", dir.display()))?;
        for path in written {
            println!("wrote {}", path.display());
        }
    }
    Ok(())
}

fn bench(args: BenchArgs) -> Result<()> {
    let config = resolve(&args.run, None, None)?;
    if args.steps == 0 {
        anyhow::bail!("--steps must be at least 1");
    }
    let models = models_of(Some(args.model), &config);
    let data = experiment::load_data(&config)?;
    if data.train.labels().len() < config.batch_size {
        anyhow::bail!(
            "bench needs at least one full batch: {} training samples < batch size {}",
            data.train.labels().len(),
            config.batch_size
        );
    }
    let progress = args.run.progress();
    let rows = experiment::bench(&config, &models, &args.backends, &data, args.warmup, args.steps, &progress);
    let table = experiment::bench_table(&rows);
    println!("\n{table}");
    if let Some(path) = args.markdown {
        crate::report::write_atomic(&path, table.as_bytes())?;
        println!("wrote {}", path.display());
    }
    Ok(())
}
