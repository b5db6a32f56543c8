//! `bnx train`: one network, with checkpoints and curves.

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::Args;

use super::Interrupted;
use super::args::{NetworkArgs, RunArgs, ScheduleArgs, TensorBoardArgs, named};
use super::session::Session;
use super::settings::{self, SettingFlags, with_default};
use crate::config::ExperimentConfig;
use crate::experiment::{self, ExperimentError, Start};
use crate::model::{ModelKind, NormKind, NormPosition};
use crate::report::RunRecord;
use crate::runtime::interrupt;

#[derive(Debug, Args)]
pub struct TrainArgs {
    #[arg(help_heading = "Network", long, value_parser = named::<ModelKind>(), help = with_default("Network", ExperimentConfig::default().network.model))]
    pub model: Option<ModelKind>,
    /// BatchNorm before every ReLU: shorthand for --norm batch --norm-position before.
    #[arg(help_heading = "Network", long, conflicts_with_all = ["no_bn", "norm", "norm_position"])]
    pub bn: bool,
    /// No normalization, even if the config file asks for it: shorthand for --norm none.
    #[arg(help_heading = "Network", long, conflicts_with = "norm")]
    pub no_bn: bool,
    #[arg(help_heading = "Network", long, value_parser = named::<NormKind>(), help = with_default("Normalization in every hidden block", ExperimentConfig::default().network.norm))]
    pub norm: Option<NormKind>,
    #[command(flatten)]
    pub network: NetworkArgs,
    /// Output folder [default: runs/<model>, runs/<model>-bn, …].
    #[arg(help_heading = "Output", long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Continue the run in DIR after its last completed epoch, with the settings it was
    /// started with (model, optimizer state and data order restored): it ends exactly as an
    /// uninterrupted run would. Flags that change a setting are refused.
    #[arg(help_heading = "Output", long, value_name = "DIR", conflicts_with_all = ["out", "config"])]
    pub resume: Option<PathBuf>,
    /// Train afresh even if the output folder holds a run (stopped or finished, any settings),
    /// replacing it. Without it, running the same command again continues a stopped run and
    /// keeps a finished one, and a folder holding a run with other settings is refused.
    #[arg(help_heading = "Output", long, conflicts_with = "resume")]
    pub restart: bool,
    #[command(flatten)]
    pub run: RunArgs,
    #[command(flatten)]
    pub export: TensorBoardArgs,
    #[command(flatten)]
    pub schedule: ScheduleArgs,
}

impl TrainArgs {
    /// Every setting these flags give: `--bn` is BatchNorm before the ReLU, `--no-bn` none.
    fn setting_flags(&self) -> SettingFlags {
        let norm = match (self.bn, self.no_bn) {
            (true, _) => Some(NormKind::Batch),
            (_, true) => Some(NormKind::None),
            _ => self.norm,
        };
        let flags = SettingFlags {
            model: self.model,
            norm,
            ..self
                .network
                .add_to(self.schedule.add_to(self.run.setting_flags()))
        };
        SettingFlags {
            norm_position: self
                .bn
                .then_some(NormPosition::Before)
                .or(flags.norm_position),
            ..flags
        }
    }
}

/// The settings `args` ask for: the config file's (or the defaults) with the flags on top.
pub fn resolve(args: &TrainArgs) -> Result<ExperimentConfig> {
    let file = args.run.common.config.as_deref();
    let base = ExperimentConfig::load(file)?;
    settings::resolve(base, &args.setting_flags(), file)
}

pub fn exec(args: TrainArgs) -> Result<()> {
    let config = match &args.resume {
        // The run's own settings, then the flags: `begin` refuses any that differ.
        Some(dir) => {
            let record =
                RunRecord::load(dir).with_context(|| format!("resuming {}", dir.display()))?;
            settings::resolve(record.config, &args.setting_flags(), None)?
        }
        None => resolve(&args)?,
    };
    let session = Session::open(&args.run, config)?;
    let config = &session.config;
    let out = match (&args.resume, &args.out) {
        (Some(dir), _) | (None, Some(dir)) => dir.clone(),
        (None, None) => experiment::default_run_dir(&config.network),
    };
    let start = Start::from_flags(args.resume.is_some(), args.restart);
    interrupt::watch_for_interrupts().context("cannot install the Ctrl-C handler")?;
    let options = experiment::TrainOptions {
        tensorboard: args
            .export
            .options()
            .hook(&experiment::run_name(&config.network)),
        start,
    };
    let run = experiment::train_run(
        config,
        &session.backend,
        &session.data,
        &out,
        options,
        &session.progress,
    );
    let run = match run {
        Ok(run) => run,
        Err(error) => {
            if let Some(stopped) =
                Interrupted::from_error(&error, "train --resume", std::slice::from_ref(&out))
            {
                return Err(stopped.into());
            }
            if let ExperimentError::Resume { .. } | ExperimentError::Occupied { .. } = error {
                return Err(error.into());
            }
            return Err(error).with_context(|| {
                format!(
                    "training {} (results so far are in {})",
                    config.network.model,
                    out.display()
                )
            });
        }
    };
    let last = run.metrics.epochs.last().expect("at least one epoch");
    if run.epochs_before == config.training.epochs {
        println!(
            "{} is complete ({} of {} epochs): kept, not trained again (--restart trains it afresh)",
            out.display(),
            run.epochs_before,
            config.training.epochs
        );
    }
    println!(
        "final val accuracy {:.2}%, val loss {:.4}; results in {}",
        100.0 * last.val_acc,
        last.val_loss,
        out.display()
    );
    Ok(())
}
