//! `bnx compare`: a network with and without BatchNorm, charted side by side.

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::Args;

use super::{NetworkArgs, RunArgs, ScheduleArgs, Session, TensorBoardArgs, at_least_one};
use crate::experiment::{self, RUNS_DIR};
use crate::model::ModelKind;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ModelChoice {
    Mlp,
    Cnn,
    All,
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

#[derive(Debug, Args)]
pub struct CompareArgs {
    /// Network(s) to compare [default: the config's model, else mlp].
    #[arg(long, value_enum)]
    pub model: Option<ModelChoice>,
    /// Output folder [default: runs/<model>; with --model all, DIR/mlp and DIR/cnn].
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Train each variant with N seeds (--seed and the next ones): the chart shows means with a
    /// band, the table the paired BN − no BN difference with its 95% confidence interval.
    #[arg(long, value_name = "N", default_value_t = 1, value_parser = at_least_one())]
    pub seeds: usize,
    /// With --seeds: runs to train at the same time [default: the number of CPU cores].
    #[arg(long, value_name = "N", value_parser = at_least_one(), requires = "seeds")]
    pub jobs: Option<usize>,
    #[command(flatten)]
    pub network: NetworkArgs,
    #[command(flatten)]
    pub run: RunArgs,
    #[command(flatten)]
    pub export: TensorBoardArgs,
    #[command(flatten)]
    pub schedule: ScheduleArgs,
}

pub fn exec(args: CompareArgs) -> Result<()> {
    let mut models = Vec::new();
    let session = Session::open(&args.run, |config| {
        models = match args.model {
            Some(choice) => choice.models(),
            None => vec![config.network.model],
        };
        args.schedule.apply(config);
        args.network.apply(config, &models)
    })?;
    for &model in &models {
        let mut config = session.config.clone();
        config.network.model = model;
        let out = match (&args.out, models.len()) {
            (Some(dir), 1) => dir.clone(),
            (Some(dir), _) => dir.join(model.name()),
            (None, _) => PathBuf::from(RUNS_DIR).join(model.name()),
        };
        let jobs = args
            .jobs
            .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
        let comparison = experiment::compare_seeds(
            &config,
            &session.backend,
            &session.data,
            &out,
            (args.seeds, jobs),
            &args.export.options(),
            &session.progress,
        )
        .with_context(|| {
            format!(
                "comparing {model} with and without BatchNorm (results so far are in {})",
                out.display()
            )
        })?;
        println!("\n{}", comparison.describe());
        println!(
            "charts: {0}/comparison.png, {0}/comparison.svg; summary: {0}/summary.json",
            out.display()
        );
    }
    Ok(())
}
