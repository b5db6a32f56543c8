//! `bnx compare`: a network with and without BatchNorm, charted side by side.

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::Args;

use super::Interrupted;
use super::args::{
    ModelChoice, NetworkArgs, RunArgs, ScheduleArgs, TensorBoardArgs, at_least_one, named,
};
use super::session::Session;
use super::settings::{self, SettingFlags};
use crate::config::ExperimentConfig;
use crate::experiment::{self, CompareOptions, ComparePlan, ExperimentError, RUNS_DIR, Start};
use crate::model::ModelKind;
use crate::runtime::interrupt;
use crate::runtime::lock::RunLock;

#[derive(Debug, Args)]
pub struct CompareArgs {
    /// Network(s) to compare [default: the config's model, else mlp].
    #[arg(help_heading = "Network", long, value_parser = named::<ModelChoice>())]
    pub model: Option<ModelChoice>,
    /// Output folder [default: runs/<model>; with --model all, DIR/mlp and DIR/cnn].
    #[arg(help_heading = "Output", long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Train each variant with N seeds (--seed and the next ones): the chart shows means with a
    /// band, the table the paired BN − no BN difference with its 95% confidence interval.
    #[arg(help_heading = "Training", long, value_name = "N", default_value_t = 1, value_parser = at_least_one())]
    pub seeds: usize,
    /// With --seeds: runs to train at the same time [default: the number of CPU cores].
    #[arg(help_heading = "Runtime", long, value_name = "N", value_parser = at_least_one(), requires = "seeds")]
    pub jobs: Option<usize>,
    /// Finish the comparisons in these folders (as `compare` left them): completed runs are
    /// kept, stopped ones continue after their last completed epoch, missing ones are trained,
    /// all with the settings in DIR/compare.json. Flags that change a setting are refused.
    #[arg(help_heading = "Output", long, value_name = "DIR", num_args = 1.., conflicts_with_all = ["model", "out", "seeds", "config"])]
    pub resume: Vec<PathBuf>,
    /// Train every run afresh even if the output folder holds a comparison (stopped or
    /// finished, any settings), replacing it. Without it, running the same command again
    /// finishes a stopped comparison and keeps finished runs, and a folder holding a comparison
    /// with other settings is refused.
    #[arg(help_heading = "Output", long, conflicts_with = "resume")]
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

/// One comparison to finish: its folder, settings and seed count.
struct Planned {
    out: PathBuf,
    config: ExperimentConfig,
    seeds: usize,
}

impl CompareArgs {
    /// Every setting these flags give, for the networks `models`.
    fn setting_flags(&self, models: Option<Vec<ModelKind>>) -> SettingFlags {
        SettingFlags {
            models,
            ..self
                .network
                .add_to(self.schedule.add_to(self.run.setting_flags()))
        }
    }

    /// The comparisons a fresh `compare` asks for: one per network, each into its folder.
    fn fresh(&self) -> Result<Vec<Planned>> {
        let file = self.run.common.config.as_deref();
        let base = ExperimentConfig::load(file)?;
        let models = match self.model {
            Some(choice) => choice.models(),
            None => vec![base.network.model],
        };
        let config = settings::resolve(base, &self.setting_flags(Some(models.clone())), file)?;
        Ok(models
            .iter()
            .map(|&model| Planned {
                out: match (&self.out, models.len()) {
                    (Some(dir), 1) => dir.clone(),
                    (Some(dir), _) => dir.join(model.name()),
                    (None, _) => PathBuf::from(RUNS_DIR).join(model.name()),
                },
                config: ExperimentConfig {
                    network: crate::model::NetworkConfig {
                        model,
                        ..config.network.clone()
                    },
                    ..config.clone()
                },
                seeds: self.seeds,
            })
            .collect())
    }

    /// The comparisons `--resume` names, each with its saved settings (the flags on top: each
    /// run refuses any that differ from them).
    fn resumed(&self) -> Result<Vec<Planned>> {
        self.resume
            .iter()
            .map(|dir| {
                let plan = ComparePlan::load(dir)?;
                let flags = self.setting_flags(Some(vec![plan.config.network.model]));
                Ok(Planned {
                    out: dir.clone(),
                    config: settings::resolve(plan.config, &flags, None)?,
                    seeds: plan.seeds,
                })
            })
            .collect()
    }
}

pub fn exec(args: CompareArgs) -> Result<()> {
    let resuming = !args.resume.is_empty();
    let start = Start::from_flags(resuming, args.restart);
    let comparisons = if resuming {
        args.resumed()?
    } else {
        args.fresh()?
    };
    // The data and backend are checked before any folder is made or written: a typo in
    // --data-dir leaves nothing behind.
    let mut session = Some(Session::open(&args.run, comparisons[0].config.clone())?);
    // Each folder is locked before anything is written into it, and stays locked to the end.
    let _locks = comparisons
        .iter()
        .map(|c| RunLock::acquire(&c.out).map_err(ExperimentError::from))
        .collect::<Result<Vec<_>, _>>()?;
    if !resuming {
        // Every folder's plan before any training, so `--resume` can finish them all.
        for c in &comparisons {
            let plan = ComparePlan {
                config: c.config.clone(),
                seeds: c.seeds,
            };
            if start == Start::Auto {
                plan.check_replaces(&c.out)?;
            }
            plan.save(&c.out)?;
        }
    }
    let jobs = args
        .jobs
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    let tensorboard = args.export.options();
    let options = |seeds| CompareOptions {
        seeds,
        jobs,
        tensorboard: &tensorboard,
        start,
    };
    interrupt::watch_for_interrupts().context("cannot install the Ctrl-C handler")?;
    for (i, planned) in comparisons.iter().enumerate() {
        // One backend and data set for all, unless a resumed folder asks for others.
        let config = &planned.config;
        if !session
            .as_ref()
            .is_some_and(|s| s.config.runtime == config.runtime && s.config.data == config.data)
        {
            session = Some(Session::open(&args.run, config.clone())?);
        }
        let session = session.as_ref().expect("opened above");
        let left: Vec<PathBuf> = comparisons[i..].iter().map(|c| c.out.clone()).collect();
        run_one(planned, session, &options(planned.seeds), &left)?;
    }
    Ok(())
}

/// Trains one comparison and prints its result; a stop by Ctrl-C names the command that
/// finishes it and the comparisons `left` after it.
fn run_one(
    planned: &Planned,
    session: &Session,
    options: &CompareOptions,
    left: &[PathBuf],
) -> Result<()> {
    let out = &planned.out;
    let comparison = experiment::compare_seeds(
        &planned.config,
        &session.backend,
        &session.data,
        out,
        options,
        &session.progress,
    );
    let comparison = match comparison {
        Ok(comparison) => comparison,
        Err(error) => {
            if let Some(stopped) = Interrupted::from_error(&error, "compare --resume", left) {
                return Err(stopped.into());
            }
            return Err(error).with_context(|| {
                format!(
                    "comparing {} with and without BatchNorm (results so far are in {})",
                    planned.config.network.model,
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
    Ok(())
}
