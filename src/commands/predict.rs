//! `bnx predict`: a trained run's checkpoint on PNG images of any size.

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::Args;

use super::args::named;
use crate::experiment::inspect::{self, FilePrediction};
use crate::report::evaluation::probability_label;
use crate::runtime::BackendKind;

#[derive(Debug, Args)]
pub struct PredictArgs {
    /// A run folder written by `bnx train` or `bnx compare` (with config.json and model.bpk).
    #[arg(value_name = "DIR")]
    pub dir: PathBuf,
    /// PNG images, one digit (or garment, for a Fashion-MNIST run) each, any size, dark on
    /// light or light on dark: each is shaped as MNIST digits were (see the README).
    #[arg(required = true, value_name = "IMAGE")]
    pub images: Vec<PathBuf>,
    /// Compute backend [default: the run's].
    #[arg(long, value_parser = named::<BackendKind>())]
    pub backend: Option<BackendKind>,
    /// Print the predictions as JSON (with all ten probabilities).
    #[arg(long)]
    pub json: bool,
}

pub fn exec(args: PredictArgs) -> Result<()> {
    let dir = &args.dir;
    let context = || format!("predicting with {}", dir.display());
    let (run, backend) = inspect::open(dir, args.backend).with_context(context)?;
    let results = inspect::predict_files(&run, &backend, &args.images);
    if args.json {
        println!("{}", serde_json::to_string_pretty(&results)?);
    }
    let mut failed = 0;
    for result in &results {
        match result {
            FilePrediction::Predicted(p) if !args.json => {
                let top: Vec<String> = p
                    .top3
                    .iter()
                    .map(|(_, name, probability)| {
                        format!("{name} {}", probability_label(*probability))
                    })
                    .collect();
                println!("{}: {}  ({})", p.file.display(), p.name, top.join(", "));
            }
            FilePrediction::Predicted(_) => {}
            FilePrediction::Failed { error, .. } => {
                failed += 1;
                // Each bad file on its own line, as it comes; the others are still predicted.
                eprintln!("error: {error}");
            }
        }
    }
    if failed > 0 {
        anyhow::bail!(
            "{failed} of {} images could not be classified (each is named above)",
            results.len()
        );
    }
    Ok(())
}
