//! `bnx compare`: a network with and without BatchNorm, charted side by side.

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::Args;

use super::{
    Interrupted, NetworkArgs, RunArgs, ScheduleArgs, Session, TensorBoardArgs, at_least_one,
};
use crate::experiment::{self, ComparePlan, RUNS_DIR, Start};
use crate::model::ModelKind;
use crate::runtime::interrupt;
use crate::runtime::lock::RunLock;

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
    /// Finish the comparisons in these folders (as `compare` left them): completed runs are
    /// kept, stopped ones continue after their last completed epoch, missing ones are trained,
    /// all with the settings in DIR/compare.json. Flags that change a setting are refused.
    #[arg(long, value_name = "DIR", num_args = 1.., conflicts_with_all = ["model", "out", "seeds", "config"])]
    pub resume: Vec<PathBuf>,
    /// Train every run afresh even if the output folder holds a comparison (stopped or
    /// finished, any settings), replacing it. Without it, running the same command again
    /// finishes a stopped comparison and keeps finished runs, and a folder holding a comparison
    /// with other settings is refused.
    #[arg(long, conflicts_with = "resume")]
    pub restart: bool,
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
    // Each comparison: its folder, settings and seed count.
    let mut comparisons = Vec::new();
    if args.resume.is_empty() {
        let mut models = Vec::new();
        let config = args.run.resolve(|config| {
            models = match args.model {
                Some(choice) => choice.models(),
                None => vec![config.network.model],
            };
            args.schedule.apply(config);
            args.network.apply(config, &models)
        })?;
        for &model in &models {
            let mut config = config.clone();
            config.network.model = model;
            let out = match (&args.out, models.len()) {
                (Some(dir), 1) => dir.clone(),
                (Some(dir), _) => dir.join(model.name()),
                (None, _) => PathBuf::from(RUNS_DIR).join(model.name()),
            };
            comparisons.push((out, config, args.seeds));
        }
    }
    // The data and backend are checked before any folder is made or written: a typo in
    // --data-dir leaves nothing behind.
    let mut session: Option<Session> = match comparisons.first() {
        Some((_, config, _)) => Some(Session::open_with(&args.run, config.clone())?),
        None => None,
    };
    // Each folder is locked before anything is written into it, and stays locked to the end.
    let folders: Vec<&PathBuf> = match args.resume.is_empty() {
        true => comparisons.iter().map(|c| &c.0).collect(),
        false => args.resume.iter().collect(),
    };
    let _locks = folders
        .iter()
        .map(|dir| RunLock::acquire(dir).map_err(crate::experiment::ExperimentError::from))
        .collect::<Result<Vec<_>, _>>()?;
    let start = Start::from_flags(!args.resume.is_empty(), args.restart);
    if args.resume.is_empty() {
        // Every folder's plan before any training, so `--resume` can finish them all.
        for (out, config, seeds) in &comparisons {
            let plan = ComparePlan {
                config: config.clone(),
                seeds: *seeds,
            };
            if start == Start::Auto {
                plan.check_replaces(out)?;
            }
            plan.save(out)?;
        }
    } else {
        for dir in &args.resume {
            let plan = ComparePlan::load(dir)?;
            let model = plan.config.network.model;
            // The plan's settings, then the flags: each run refuses any that differ from it.
            let config = args.run.resolve_from(plan.config, |config| {
                args.schedule.apply(config);
                args.network.apply(config, &[model])
            })?;
            comparisons.push((dir.clone(), config, plan.seeds));
        }
    }
    let jobs = args
        .jobs
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    interrupt::watch_for_interrupts().context("cannot install the Ctrl-C handler")?;
    for (i, (out, config, seeds)) in comparisons.iter().enumerate() {
        // One backend and data set for all, unless a resumed folder asks for others.
        let reuse = session
            .as_ref()
            .is_some_and(|s| s.config.runtime == config.runtime && s.config.data == config.data);
        if !reuse {
            session = Some(Session::open_with(&args.run, config.clone())?);
        }
        let session = session.as_ref().expect("opened above");
        let model = config.network.model;
        let comparison = experiment::compare_seeds(
            config,
            &session.backend,
            &session.data,
            out,
            (*seeds, jobs),
            (&args.export.options(), start),
            &session.progress,
        );
        let comparison = match comparison {
            Ok(comparison) => comparison,
            Err(error) => {
                // This comparison and the ones not yet started.
                let left: Vec<PathBuf> = comparisons[i..].iter().map(|c| c.0.clone()).collect();
                if let Some(stopped) = Interrupted::from_error(&error, "compare --resume", &left) {
                    return Err(stopped.into());
                }
                return Err(error).with_context(|| {
                    format!(
                        "comparing {model} with and without BatchNorm (results so far are in {})",
                        out.display()
                    )
                });
            }
        };
        println!("\n{}", comparison.describe());
        println!(
            "charts: {0}/comparison.png, {0}/comparison.svg; summary: {0}/summary.json",
            out.display()
        );
    }
    Ok(())
}
