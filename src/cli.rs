//! The command line: the top-level clap definition. Each command's arguments and what it does
//! live in `commands/<command>.rs`.

use anyhow::Result;
use clap::{CommandFactory, Parser, Subcommand};

use crate::commands::{bench, compare, data, eval, plot, predict, study, train};

/// Every command's headline use, under `bnx --help`.
const EXAMPLES: &str = "\
Examples:
  bnx compare                          MLP with vs without BatchNorm on the bundled MNIST → runs/mlp/
  bnx compare --model all              both networks, into runs/mlp/ and runs/cnn/
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
  bnx bench --backends flex,wgpu       training throughput per network and backend
  bnx study all                        the guide's claims tested over 5 seeds → runs/study/REPORT.md
  source <(bnx completions bash)       tab completion in bash (also zsh, fish, powershell)";

const TRAIN_EXAMPLES: &str = "\
Examples:
  bnx train --model cnn --bn           the CNN with BatchNorm, results in runs/cnn-bn/
  bnx train --norm layer --lr 0.01     the MLP with LayerNorm at a higher learning rate
  bnx train --resume runs/mlp          continue a run stopped by Ctrl-C (or a crash) exactly; the
                                       same command as before does too, and keeps a finished run
  bnx train --model cnn --bn --restart train afresh over what runs/cnn-bn/ holds";

const COMPARE_EXAMPLES: &str = "\
Examples:
  bnx compare                          MLP with vs without BatchNorm on the bundled MNIST → runs/mlp/
  bnx compare --model all              both networks, into runs/mlp/ and runs/cnn/
  bnx compare --seeds 5                five seeds: means with bands, the paired difference's CI
  bnx compare --dataset fashion-mnist  Debian's package if installed, else fetched (checked) on first use
  bnx compare --resume runs/mlp        finish a comparison stopped by Ctrl-C";

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
    #[command(after_help = TRAIN_EXAMPLES)]
    Train(train::TrainArgs),
    /// Train a network with and without BatchNorm (same seed, data order and initial weights) and chart both.
    #[command(after_help = COMPARE_EXAMPLES)]
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
    /// Print a shell completion script, e.g. `source <(bnx completions bash)`.
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Print bnx's man page (roff), e.g. `bnx man > bnx.1 && man -l bnx.1`.
    Man,
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
        // Both are generated from this clap definition, so they never fall behind it.
        Command::Completions { shell } => {
            let mut script = Vec::new();
            clap_complete::generate(shell, &mut Cli::command(), "bnx", &mut script);
            print(&script)
        }
        Command::Man => {
            let mut page = Vec::new();
            clap_mangen::Man::new(Cli::command()).render(&mut page)?;
            print(&page)
        }
    }
}

/// Writes `bytes` to stdout; a reader that stops early (`bnx man | head`) is no error.
fn print(bytes: &[u8]) -> Result<()> {
    use std::io::Write;
    match std::io::stdout().write_all(bytes) {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        other => Ok(other?),
    }
}
