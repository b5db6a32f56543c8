//! `bnx bench`: training throughput per network, variant and backend.

use std::path::PathBuf;

use anyhow::{Context, Result};
use burn::data::dataset::Dataset;
use clap::Args;

use super::args::{CommonArgs, ModelChoice, at_least_one, named};
use super::settings::{self, SettingFlags, with_default};
use crate::config::ExperimentConfig;
use crate::experiment;
use crate::runtime::{Backend, BackendKind, Progress, write_atomic};

named_enum! {
    /// The variants a bench times.
    pub enum VariantChoice("variant") {
        NoBn => "no-bn",
        Bn => "bn",
        Both => "both",
    }
}

#[derive(Debug, Args)]
pub struct BenchArgs {
    /// Network(s) to time.
    #[arg(long, value_parser = named::<ModelChoice>(), default_value = "all")]
    pub model: ModelChoice,
    /// Which variants to time.
    #[arg(long, value_parser = named::<VariantChoice>(), default_value = "both")]
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
    #[arg(long, help = with_default("Batch size", crate::config::TrainingConfig::default().batch_size))]
    pub batch_size: Option<usize>,
    /// Draw batches from the first N training samples only.
    #[arg(long, value_name = "N")]
    pub limit_train: Option<usize>,
    /// Also write the Markdown table to this file.
    #[arg(long, value_name = "FILE")]
    pub markdown: Option<PathBuf>,
    /// Print one JSON object per row instead of the table (for scripts/bench.py).
    #[arg(long, conflicts_with = "markdown")]
    pub json: bool,
    /// Break a training step down per operation (convolutions, BatchNorm, ReLU, pooling, dense
    /// layers, the rest of each pass, Adam) with each one's time and rate; flex only.
    #[arg(long, conflicts_with = "backends")]
    pub profile: bool,
    #[command(flatten)]
    pub common: CommonArgs,
}

pub fn exec(args: BenchArgs) -> Result<()> {
    let file = args.common.config.as_deref();
    let flags = SettingFlags {
        batch_size: args.batch_size,
        limit_train: args.limit_train,
        ..args.common.setting_flags()
    };
    let config = settings::resolve(ExperimentConfig::load(file)?, &flags, file)?;
    // Every backend is opened before anything is timed: one that cannot run stops the bench
    // with its reason.
    let kinds = if args.profile {
        vec![BackendKind::Flex]
    } else {
        args.backends.clone()
    };
    let backends = kinds
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
    if args.profile {
        return profile(&args, &config, &backends[0], &data, variants);
    }
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

/// `--profile`: each network's step per operation, as tables (or JSON lines).
fn profile(
    args: &BenchArgs,
    config: &ExperimentConfig,
    backend: &Backend,
    data: &crate::data::LoadedData,
    variants: &[bool],
) -> Result<()> {
    let profiles = experiment::profile(
        config,
        &args.model.models(),
        variants,
        backend,
        data,
        args.warmup,
        args.steps,
        &Progress::new(args.common.verbosity()),
    );
    if args.json {
        for profile in &profiles {
            println!("{}", serde_json::to_string(profile)?);
        }
        return Ok(());
    }
    let mut markdown = String::new();
    for profile in &profiles {
        let title = format!(
            "{}, batch {}: {:.2} ms a step",
            profile.network.to_uppercase(),
            profile.batch_size,
            profile.step_milliseconds
        );
        let table = experiment::profile_table(profile);
        println!("\n{title}\n\n{}", table.terminal());
        markdown.push_str(&format!("{title}\n\n{}\n", table.markdown()));
        for warning in experiment::profile_warnings(profile) {
            println!("\n{warning}");
            markdown.push_str(&format!("{warning}\n\n"));
        }
    }
    if profiles.len() > 1 {
        let summary = experiment::profile_summary_table(&profiles);
        let title = "Each kind of operation over all layers";
        println!("\n{title}\n\n{}", summary.terminal());
        markdown.push_str(&format!("{title}\n\n{}\n", summary.markdown()));
    }
    if let Some(path) = &args.markdown {
        write_atomic(path, markdown.as_bytes())
            .with_context(|| format!("writing the profile to {}", path.display()))?;
        println!("wrote {}", path.display());
    }
    Ok(())
}
