//! `bnx bench`: training throughput per network, variant and backend.

use std::path::PathBuf;

use anyhow::{Context, Result};
use burn::data::dataset::Dataset;
use clap::Args;

use super::compare::ModelChoice;
use super::{CommonArgs, at_least_one, named};
use crate::config::ExperimentConfig;
use crate::experiment;
use crate::runtime::{Backend, BackendKind, Progress, write_atomic};

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum VariantChoice {
    NoBn,
    Bn,
    Both,
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
    #[arg(long, default_value_t = 50, value_parser = at_least_one())]
    pub steps: usize,
    /// Untimed warm-up steps before them.
    #[arg(long, default_value_t = 5)]
    pub warmup: usize,
    /// Batch size [default: 32].
    #[arg(long, value_parser = at_least_one())]
    pub batch_size: Option<usize>,
    /// Draw batches from the first N training samples only.
    #[arg(long, value_name = "N", value_parser = at_least_one())]
    pub limit_train: Option<usize>,
    /// Also write the Markdown table to this file.
    #[arg(long, value_name = "FILE")]
    pub markdown: Option<PathBuf>,
    /// Print one JSON object per row instead of the table (for scripts/bench.py).
    #[arg(long, conflicts_with = "markdown")]
    pub json: bool,
    #[command(flatten)]
    pub common: CommonArgs,
}

pub fn exec(args: BenchArgs) -> Result<()> {
    let base = ExperimentConfig::load(args.common.config.as_deref())?;
    let config = super::resolve(&args.common, None, base, |config| {
        if let Some(batch_size) = args.batch_size {
            config.training.batch_size = batch_size;
        }
        if let Some(limit) = args.limit_train {
            config.data.limit_train = Some(limit);
        }
        Ok(())
    })?;
    // Every backend is opened before anything is timed: one that cannot run stops the bench
    // with its reason.
    let backends = args
        .backends
        .iter()
        .map(|&kind| Backend::open(kind, config.runtime.flush_subnormals))
        .collect::<Result<Vec<_>, _>>()?;
    let data = experiment::load_data(&config.data, &Progress::new(args.common.verbosity()))?;
    if data.train.len() < config.training.batch_size {
        anyhow::bail!(
            "bench needs at least one full batch: {} training samples < batch size {}",
            data.train.len(),
            config.training.batch_size
        );
    }
    let variants: &[bool] = match args.variant {
        VariantChoice::NoBn => &[false],
        VariantChoice::Bn => &[true],
        VariantChoice::Both => &[false, true],
    };
    let rows = experiment::bench(
        &config,
        &args.model.models(),
        variants,
        &backends,
        &data,
        args.warmup,
        args.steps,
        &Progress::new(args.common.verbosity()),
    );
    if args.json {
        for row in &rows {
            println!("{}", serde_json::to_string(row)?);
        }
        return Ok(());
    }
    let table = experiment::bench_table(&rows);
    println!("\n{}", table.terminal());
    if let Some(path) = args.markdown {
        write_atomic(&path, table.markdown().as_bytes())
            .with_context(|| format!("writing the bench table to {}", path.display()))?;
        println!("wrote {}", path.display());
    }
    Ok(())
}
