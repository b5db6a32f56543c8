//! `bnx study`: the guide's claims tested over several seeds.

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::Args;
use clap::builder::{PossibleValuesParser, TypedValueParser};

use super::args::{RunArgs, at_least_one, named};
use super::session::Session;
use super::settings;
use crate::config::ExperimentConfig;
use crate::model::ModelKind;
use crate::study::{Budget, Shard, StudyKind, StudyMode, StudyOptions};

pub const STUDY_EXAMPLES: &str = "\
Studies: convergence, lr, init, batch, position, depth, regularization, smoothness, shift, noise (or all).

Examples:
  bnx study all                        every study, quick budget, 5 seeds → runs/study/REPORT.md
  bnx study lr --seeds 10              the learning-rate sweep over 10 seeds
  bnx study lr init depth              three studies, one report
  bnx study depth --budget full --out runs/study-full
  bnx study convergence --model mlp    only the MLP half of a study that trains both networks
  bnx study all --rerun                retrain even runs whose run.json matches the plan
  bnx study all --shard 2/4            the second of four slices of the runs (one Slurm array task)
  bnx study all --report-only          the report from the runs the shards wrote";

#[derive(Debug, Args)]
pub struct StudyArgs {
    /// Which studies (one or more), or all.
    #[arg(value_name = "STUDY", required = true, num_args = 1.., value_parser = study_parser())]
    pub studies: Vec<StudyChoice>,
    /// Seeds per grid point (seed, seed+1, …) [default: each study's own: 5, or 10 for the
    /// MLP on the full budget where the runs are affordable].
    #[arg(help_heading = "Study", long, value_name = "N", value_parser = at_least_one())]
    pub seeds: Option<usize>,
    /// Only the runs of this network (convergence and position train both).
    #[arg(help_heading = "Study", long, value_parser = named::<ModelKind>())]
    pub model: Option<ModelKind>,
    /// Data and epochs per run: tiny (tests), quick (subsets), full (all of MNIST).
    #[arg(help_heading = "Study", long, default_value = "quick", value_parser = named::<Budget>())]
    pub budget: Budget,
    /// Output folder.
    #[arg(
        help_heading = "Output",
        long,
        value_name = "DIR",
        default_value = "runs/study"
    )]
    pub out: PathBuf,
    /// Retrain runs that already have a matching run.json (by default they are reused).
    #[arg(help_heading = "Output", long)]
    pub rerun: bool,
    /// Runs to train at the same time [default: the number of CPU cores].
    #[arg(help_heading = "Runtime", long, value_name = "N", value_parser = at_least_one())]
    pub jobs: Option<usize>,
    /// Train only the K-th of N slices of the run plan (1 ≤ K ≤ N), e.g. one task of a Slurm
    /// job array; no report. Every shard and the report must be given the same flags.
    #[arg(
        help_heading = "Study",
        long,
        value_name = "K/N",
        conflicts_with = "report_only"
    )]
    pub shard: Option<Shard>,
    /// Train nothing: write the charts and reports from the runs in --out (after the shards).
    #[arg(help_heading = "Output", long)]
    pub report_only: bool,
    /// With --report-only: report from the runs present even if some are missing (the report
    /// says which).
    #[arg(help_heading = "Output", long, requires = "report_only")]
    pub allow_missing: bool,
    #[command(flatten)]
    pub run: RunArgs,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StudyChoice {
    All,
    One(StudyKind),
}

fn study_parser() -> impl TypedValueParser<Value = StudyChoice> {
    let names: Vec<&'static str> = std::iter::once("all")
        .chain(StudyKind::ALL.map(StudyKind::name))
        .collect();
    PossibleValuesParser::new(names).map(|s| match s.as_str() {
        "all" => StudyChoice::All,
        name => StudyChoice::One(name.parse().expect("listed value")),
    })
}

pub fn exec(args: StudyArgs) -> Result<()> {
    let file = args.run.common.config.as_deref();
    let config = settings::resolve(
        ExperimentConfig::load(file)?,
        &args.run.setting_flags(),
        file,
    )?;
    let session = Session::open(&args.run, config)?;
    // In the report's order, each once, whatever order they were named in.
    let studies: Vec<StudyKind> = StudyKind::ALL
        .into_iter()
        .filter(|kind| {
            args.studies
                .iter()
                .any(|c| *c == StudyChoice::All || *c == StudyChoice::One(*kind))
        })
        .collect();
    let options = StudyOptions {
        studies,
        model: args.model,
        budget: args.budget,
        seeds: args.seeds,
        base: session.config,
        backend: session.backend,
        out: args.out.clone(),
        rerun: args.rerun,
        jobs: args
            .jobs
            .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get())),
        verbosity: session.progress.verbosity(),
        mode: match (args.shard, args.report_only) {
            (Some(shard), _) => StudyMode::Shard(shard),
            (None, true) => StudyMode::ReportOnly {
                allow_missing: args.allow_missing,
            },
            (None, false) => StudyMode::Whole,
        },
    };
    let done = crate::study::run(&options, &session.data)
        .with_context(|| format!("running studies into {}", args.out.display()))?;
    if let Some(shard) = args.shard {
        println!(
            "shard {shard}: {} of the {} planned runs are done in {}; once every shard has finished, run the same command with --report-only instead of --shard",
            done.runs,
            done.planned,
            args.out.display()
        );
        return Ok(());
    }
    println!();
    for summary in &done.summaries {
        println!("{:<15} {}", summary.study.name(), summary.verdicts());
    }
    println!(
        "\nreport: {}/REPORT.md; summary: {}/summary.json",
        args.out.display(),
        args.out.display()
    );
    Ok(())
}
