//! The command line: clap definitions, turned into library calls. Nothing below sees clap.

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::builder::{PossibleValuesParser, TypedValueParser};
use clap::{Args, Parser, Subcommand};

use crate::Named;
use crate::config::{ExperimentConfig, Overrides};
use crate::data::DatasetKind;
use crate::experiment;
use crate::model::{ModelKind, NormKind, NormPosition};
use crate::study::{Budget, StudyKind, StudyOptions};
use crate::train::backend::BackendKind;
use crate::train::progress::{Progress, Verbosity};

const EXAMPLES: &str = "\
Examples:
  bnx compare                          MLP with vs without BatchNorm on the bundled MNIST
  bnx compare --model all              both networks (the CNN takes ~1 min/epoch on 2 cores)
  bnx train --model cnn --bn           one network, results in results/cnn-bn/
  bnx compare --dataset fashion-mnist  needs `apt-get install -y dataset-fashion-mnist` or --data-dir
  bnx compare --config configs/cnn.json --epochs 3 --backend ndarray
  bnx train --model cnn --backend auto the fastest device here: CUDA, a GPU through wgpu, or flex
  bnx plot results/mlp                 re-render charts from saved metrics
  bnx bench --backends flex,wgpu       training throughput per network and backend";

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
    /// Test the guide's claims over several seeds: chart, table and verdict per study, and REPORT.md.
    #[command(after_help = STUDY_EXAMPLES)]
    Study(StudyArgs),
}

const STUDY_EXAMPLES: &str = "\
Studies: convergence, lr, init, batch, position, depth, regularization, smoothness, shift (or all).

Examples:
  bnx study all                        every study, quick budget (~7 min on 2 cores) → results/study/REPORT.md
  bnx study lr --seeds 5               the learning-rate sweep over 5 seeds
  bnx study lr init depth              three studies, one report
  bnx study depth --budget full --out results/study-full
  bnx study convergence --model mlp    only the MLP half of a study that trains both networks
  bnx study all --rerun                retrain even runs whose run.json matches the plan";

#[derive(Debug, Args)]
pub struct StudyArgs {
    /// Which studies (one or more), or all.
    #[arg(value_name = "STUDY", required = true, num_args = 1.., value_parser = study_parser())]
    pub studies: Vec<StudyChoice>,
    /// Seeds per grid point (seed, seed+1, …).
    #[arg(long, default_value_t = 3)]
    pub seeds: usize,
    /// Only the runs of this network (convergence and position train both).
    #[arg(long, value_parser = named::<ModelKind>())]
    pub model: Option<ModelKind>,
    /// Data and epochs per run: tiny (tests), quick (subsets), full (all of MNIST).
    #[arg(long, default_value = "quick", value_parser = named::<Budget>())]
    pub budget: Budget,
    /// Output folder.
    #[arg(long, value_name = "DIR", default_value = "results/study")]
    pub out: PathBuf,
    /// Retrain runs that already have a matching run.json (by default they are reused).
    #[arg(long)]
    pub rerun: bool,
    /// Runs to train at the same time [default: the number of CPU cores].
    #[arg(long, value_name = "N")]
    pub jobs: Option<usize>,
    #[command(flatten)]
    pub run: RunArgs,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StudyChoice {
    All,
    One(StudyKind),
}

fn study_parser() -> impl TypedValueParser<Value = StudyChoice> {
    let names: Vec<&'static str> = std::iter::once("all")
        .chain(StudyKind::ALL.map(StudyKind::name))
        .collect();
    PossibleValuesParser::new(names).map(|s| match s.as_str() {
        "all" => StudyChoice::All,
        name => StudyChoice::One(name.parse().expect("listed value")),
    })
}

/// Parses one of a [`Named`] enum's names; `--help` lists them.
fn named<T: Named + Clone + Send + Sync>() -> impl TypedValueParser<Value = T> {
    PossibleValuesParser::new(T::all().iter().map(|v| v.name()))
        .map(|s| T::from_name(&s).expect("listed value"))
}

/// Settings shared by every command that trains.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// JSON config (see configs/); flags override its values.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Dataset [default: mnist, bundled in assets/mnist].
    #[arg(long, value_parser = named::<DatasetKind>())]
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
    /// Compute backend: flex and ndarray run on the CPU, wgpu and cuda on a GPU, auto picks
    /// the fastest available [default: flex].
    #[arg(long, value_parser = named::<BackendKind>())]
    pub backend: Option<BackendKind>,
    /// Train on the first N training samples only.
    #[arg(long, value_name = "N")]
    pub limit_train: Option<usize>,
    /// Validate on the first N test samples only.
    #[arg(long, value_name = "N")]
    pub limit_test: Option<usize>,
    /// Keep exact IEEE subnormal arithmetic on the CPU (slower); by default bnx flushes
    /// subnormals to zero, as TensorFlow does.
    #[arg(long)]
    pub keep_subnormals: bool,
    /// No progress bars or epoch lines; results only.
    #[arg(long, short)]
    pub quiet: bool,
}

impl RunArgs {
    /// `network` (model and shape options) plus this command line's run settings.
    fn overrides(&self, network: Overrides) -> Overrides {
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
            flush_subnormals: self.keep_subnormals.then_some(false),
            ..network
        }
    }

    fn progress(&self) -> Progress {
        Progress::new(if self.quiet {
            Verbosity::Quiet
        } else {
            Verbosity::Normal
        })
    }
}

/// Network shape options beyond the guide's four networks.
#[derive(Debug, Args)]
pub struct NetworkArgs {
    /// Normalization before (the guide) or after the ReLU [default: before].
    #[arg(long, value_parser = named::<NormPosition>())]
    pub norm_position: Option<NormPosition>,
    /// Multiply the Glorot-uniform bound of every layer by X [default: 1].
    #[arg(long, value_name = "X")]
    pub init_scale: Option<f64>,
    /// MLP: N hidden layers of --width units instead of 128-64-32 [default: 3].
    #[arg(long, value_name = "N")]
    pub hidden_layers: Option<usize>,
    /// MLP: width of every hidden layer, with --hidden-layers [default: 64].
    #[arg(long, value_name = "W")]
    pub width: Option<usize>,
}

impl NetworkArgs {
    fn apply(&self, overrides: Overrides) -> Overrides {
        Overrides {
            norm_position: self.norm_position,
            init_scale: self.init_scale,
            hidden_layers: self.hidden_layers,
            width: self.width,
            ..overrides
        }
    }
}

#[derive(Debug, Args)]
pub struct TrainArgs {
    /// Network [default: mlp].
    #[arg(long, value_parser = named::<ModelKind>())]
    pub model: Option<ModelKind>,
    /// BatchNorm before every ReLU: shorthand for --norm batch --norm-position before.
    #[arg(long, conflicts_with_all = ["no_bn", "norm", "norm_position"])]
    pub bn: bool,
    /// No BatchNorm, even if the config file asks for it.
    #[arg(long, conflicts_with = "norm")]
    pub no_bn: bool,
    /// Normalization in every hidden block [default: none].
    #[arg(long, value_parser = named::<NormKind>())]
    pub norm: Option<NormKind>,
    #[command(flatten)]
    pub network: NetworkArgs,
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

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum VariantChoice {
    NoBn,
    Bn,
    Both,
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
    pub network: NetworkArgs,
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
    /// Which variants to time.
    #[arg(long, value_enum, default_value = "both")]
    pub variant: VariantChoice,
    /// Backends to time, comma-separated.
    #[arg(long = "backends", value_delimiter = ',', value_parser = named::<BackendKind>(), default_value = "flex,ndarray")]
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
    /// Print one JSON object per row instead of the table (for scripts/bench.py).
    #[arg(long)]
    pub json: bool,
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
        Command::Study(args) => study(args),
    }
}

fn study(args: StudyArgs) -> Result<()> {
    if args.seeds == 0 {
        anyhow::bail!("--seeds must be at least 1");
    }
    if args.jobs == Some(0) {
        anyhow::bail!("--jobs must be at least 1");
    }
    for (flag, set) in [
        ("--epochs", args.run.epochs.is_some()),
        ("--limit-train", args.run.limit_train.is_some()),
        ("--limit-test", args.run.limit_test.is_some()),
    ] {
        if set {
            anyhow::bail!(
                "{flag} does not apply to studies: the --budget preset decides data and epochs"
            );
        }
    }
    let base = resolve(&args.run, Overrides::default())?;
    // In the report's order, each once, whatever order they were named in.
    let studies: Vec<StudyKind> = StudyKind::ALL
        .into_iter()
        .filter(|kind| {
            args.studies
                .iter()
                .any(|c| *c == StudyChoice::All || *c == StudyChoice::One(*kind))
        })
        .collect();
    let data = experiment::load_data(&base)?;
    let options = StudyOptions {
        studies,
        model: args.model,
        budget: args.budget,
        seeds: args.seeds,
        base,
        out: args.out.clone(),
        rerun: args.rerun,
        jobs: args
            .jobs
            .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get())),
        verbosity: if args.run.quiet {
            Verbosity::Quiet
        } else {
            Verbosity::Normal
        },
    };
    let summaries = crate::study::run(&options, &data)
        .with_context(|| format!("running studies into {}", args.out.display()))?;
    println!();
    for summary in &summaries {
        println!(
            "{:<15} {:<14} {}",
            summary.study.name(),
            summary.verdict.to_string(),
            summary.verdict_detail
        );
    }
    println!(
        "\nreport: {}/REPORT.md; summary: {}/summary.json",
        args.out.display(),
        args.out.display()
    );
    Ok(())
}

/// The run settings, validated, with the backend opened: a missing GPU or driver is reported
/// before anything is loaded or written.
fn resolve(run: &RunArgs, overrides: Overrides) -> Result<ExperimentConfig> {
    let config = ExperimentConfig::resolve(run.config.as_deref(), &run.overrides(overrides))?;
    config.backend.open()?;
    Ok(config)
}

fn train(args: TrainArgs) -> Result<()> {
    // --bn means batch norm before the ReLU; --no-bn and --norm replace whatever the file says.
    let (bn, norm) = match (args.bn, args.no_bn, args.norm) {
        (true, _, _) => (Some(true), Some(NormKind::Batch)),
        (_, true, _) => (Some(false), Some(NormKind::None)),
        (_, _, Some(norm)) => (Some(false), Some(norm)),
        _ => (None, None),
    };
    let overrides = Overrides {
        model: args.model,
        bn,
        norm,
        ..Overrides::default()
    };
    let mut overrides = args.network.apply(overrides);
    if args.bn {
        overrides.norm_position = Some(NormPosition::Before);
    }
    let config = resolve(&args.run, overrides)?;
    let out = args
        .out
        .unwrap_or_else(|| experiment::default_run_dir(&config));
    let data = experiment::load_data(&config)?;
    let progress = args.run.progress();
    let metrics = experiment::train_run(&config, &data, &out, &progress).with_context(|| {
        format!(
            "training {} (results so far are in {})",
            config.model,
            out.display()
        )
    })?;
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
    let base = resolve(&args.run, args.network.apply(Overrides::default()))?;
    let models = models_of(args.model, &base);
    let data = experiment::load_data(&base)?;
    let progress = args.run.progress();
    for &model in &models {
        let config = ExperimentConfig {
            model,
            ..base.clone()
        };
        let out = match (&args.out, models.len()) {
            (Some(dir), 1) => dir.clone(),
            (Some(dir), _) => dir.join(model.name()),
            (None, _) => PathBuf::from("results").join(model.name()),
        };
        let summary = experiment::compare(&config, &data, &out, &progress).with_context(|| {
            format!(
                "comparing {model} with and without BatchNorm (results so far are in {})",
                out.display()
            )
        })?;
        println!("\n{}", summary.table());
        println!(
            "charts: {0}/comparison.png, {0}/comparison.svg; summary: {0}/summary.json",
            out.display()
        );
    }
    Ok(())
}

fn plot(args: PlotArgs) -> Result<()> {
    for dir in &args.dirs {
        let written =
            experiment::plot(dir).with_context(|| format!("plotting {}", dir.display()))?;
        for path in written {
            println!("wrote {}", path.display());
        }
    }
    Ok(())
}

fn bench(args: BenchArgs) -> Result<()> {
    let config = resolve(&args.run, Overrides::default())?;
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
    let variants: &[bool] = match args.variant {
        VariantChoice::NoBn => &[false],
        VariantChoice::Bn => &[true],
        VariantChoice::Both => &[false, true],
    };
    let rows = experiment::bench(
        &config,
        &models,
        variants,
        &args.backends,
        &data,
        args.warmup,
        args.steps,
        &progress,
    )?;
    if args.json {
        for row in &rows {
            println!("{}", serde_json::to_string(row)?);
        }
        return Ok(());
    }
    let table = experiment::bench_table(&rows);
    println!("\n{table}");
    if let Some(path) = args.markdown {
        crate::report::write_atomic(&path, table.as_bytes())?;
        println!("wrote {}", path.display());
    }
    Ok(())
}
