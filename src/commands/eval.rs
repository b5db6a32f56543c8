//! `bnx eval`: a trained run's checkpoint on the test split, with its confusion matrix and the
//! mistakes it made most confidently.

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::Args;

use super::args::named;
use crate::experiment::{self, inspect};
use crate::report::Table;
use crate::runtime::{BackendKind, Progress, Verbosity};

#[derive(Debug, Args)]
pub struct EvalArgs {
    /// A run folder written by `bnx train` or `bnx compare` (with config.json and model.bpk).
    #[arg(value_name = "DIR")]
    pub dir: PathBuf,
    /// Read the test split from this folder of IDX files instead of the run's.
    #[arg(long, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// Compute backend [default: the run's].
    #[arg(long, value_parser = named::<BackendKind>())]
    pub backend: Option<BackendKind>,
    /// Print eval.json to stdout instead of the table.
    #[arg(long)]
    pub json: bool,
}

pub fn exec(args: EvalArgs) -> Result<()> {
    let dir = &args.dir;
    let context = || format!("evaluating {}", dir.display());
    let (run, backend) = inspect::open(dir, args.backend).with_context(context)?;
    let mut data = run.record.config.data.clone();
    if let Some(data_dir) = &args.data_dir {
        data.data_dir = Some(data_dir.clone());
    }
    let progress = Progress::new(Verbosity::Normal);
    let data = experiment::load_data(&data, &progress).with_context(context)?;
    let evaluation = inspect::evaluate_run(&run, &backend, &data).with_context(context)?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&evaluation)?);
        return Ok(());
    }
    println!(
        "{} on the {} test split ({} samples, {}): accuracy {:.2}%, loss {:.4}",
        evaluation.network,
        evaluation.dataset.title(),
        evaluation.samples,
        backend.describe(backend.kind),
        100.0 * evaluation.accuracy,
        evaluation.loss
    );
    match evaluation.run_last_epoch {
        Some(last) => println!(
            "the run's last epoch ({}): val accuracy {:.2}%, val loss {:.4} — {}",
            last.epoch,
            100.0 * last.val_acc,
            last.val_loss,
            if (last.val_acc, last.val_loss) == (evaluation.accuracy, evaluation.loss) {
                "the same, to the last bit".to_string()
            } else {
                format!(
                    "differs by {:+.2e} in accuracy and {:+.2e} in loss (another backend or CPU kind sums in another order)",
                    evaluation.accuracy - last.val_acc,
                    evaluation.loss - last.val_loss
                )
            }
        ),
        None => {
            println!("(other test data than the run validated on: not compared with its metrics)")
        }
    }
    let percent = |v: Option<f64>| v.map_or("–".into(), |v| format!("{:.2}%", 100.0 * v));
    let rows = evaluation
        .classes
        .iter()
        .map(|c| {
            vec![
                c.name.clone(),
                c.count.to_string(),
                c.predicted.to_string(),
                percent(c.precision),
                percent(c.recall),
            ]
        })
        .collect();
    let table = Table::new(
        &["class", "samples", "predicted", "precision", "recall"],
        rows,
    );
    println!("\n{}", table.numeric().terminal());
    let out = dir.join(inspect::EVAL_DIR);
    println!(
        "wrote {0}/eval.json, {0}/confusion.png, {0}/mistakes.png",
        out.display()
    );
    Ok(())
}
