//! The command line: the top-level clap definition. Each command's arguments and what it does
//! live in `commands/<command>.rs`.

use anyhow::Result;
use clap::{Parser, Subcommand};

use crate::commands::{bench, compare, data, eval, plot, predict, study, train};

const EXAMPLES: &str = "\
Examples:
  bnx compare                          MLP with vs without BatchNorm on the bundled MNIST → runs/mlp/
  bnx compare --model all              both networks (the CNN takes ~1 min/epoch on 2 cores)
  bnx train --model cnn --bn           one network, results in runs/cnn-bn/
  bnx compare --dataset fashion-mnist  Debian's package if installed, else fetched (checked) on first use
  bnx data fetch kmnist                download Kuzushiji-MNIST into ~/.cache/bnx, SHA-256 checked
  bnx compare --config configs/cnn.json --epochs 3 --backend ndarray
  bnx train --model cnn --backend auto the fastest device here: CUDA, a GPU through wgpu, or flex
  bnx train --resume runs/mlp          continue a run stopped by Ctrl-C (or a crash) exactly; the
                                       same command as before does too, and keeps a finished run
  bnx train --model cnn --bn --restart train afresh over what runs/cnn-bn/ holds
  bnx eval runs/mlp-bn                 test accuracy, confusion matrix and mistakes of a checkpoint
  bnx predict runs/mlp-bn digit.png    classify PNG images with a trained run
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
    Train(train::TrainArgs),
    /// Train a network with and without BatchNorm (same seed, data order and initial weights) and chart both.
    #[command(after_help = EXAMPLES)]
    Compare(compare::CompareArgs),
    /// Evaluate a run's checkpoint on the test split: accuracy, loss, per-class precision and
    /// recall; writes DIR/eval/ (eval.json, confusion.png, mistakes.png).
    Eval(eval::EvalArgs),
    /// Classify PNG images with a run's checkpoint: the predicted class and top-3 probabilities.
    Predict(predict::PredictArgs),
    /// Re-render charts from saved metrics, without training.
    Plot(plot::PlotArgs),
    /// Fetch datasets into the cache folder with pinned checksums (fetch), or show them (list).
    Data(data::DataArgs),
    /// Measure training throughput (samples/s, projected epoch seconds) per network and backend.
    Bench(bench::BenchArgs),
    /// Test the guide's claims over several seeds: chart, table and verdict per study, and REPORT.md.
    #[command(after_help = study::STUDY_EXAMPLES)]
    Study(study::StudyArgs),
}

/// Runs a parsed command line.
pub fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Train(args) => train::exec(args),
        Command::Compare(args) => compare::exec(args),
        Command::Eval(args) => eval::exec(args),
        Command::Predict(args) => predict::exec(args),
        Command::Plot(args) => plot::exec(args),
        Command::Data(args) => data::exec(args),
        Command::Bench(args) => bench::exec(args),
        Command::Study(args) => study::exec(args),
    }
}
