//! `bnx data`: datasets fetched into the cache folder with pinned checksums, and what is there.

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::{Args, Subcommand};

use super::args::named;
use crate::data::DatasetKind;
use crate::data::fetch;
use crate::experiment;
use crate::runtime::{Progress, Verbosity};

#[derive(Debug, Args)]
pub struct DataArgs {
    #[command(subcommand)]
    pub command: DataCommand,
}

#[derive(Debug, Subcommand)]
pub enum DataCommand {
    /// Download a dataset's four IDX files into the cache folder, each checked against a
    /// SHA-256 pinned in bnx before it is kept (BNX_DATA_MIRROR=URL replaces the source).
    Fetch {
        #[arg(value_parser = named::<DatasetKind>())]
        dataset: DatasetKind,
        /// Cache folder [default: $XDG_CACHE_HOME/bnx, else ~/.cache/bnx].
        #[arg(long, value_name = "DIR")]
        cache_dir: Option<PathBuf>,
        /// No progress bars.
        #[arg(long, short)]
        quiet: bool,
    },
    /// Show which datasets are in the cache folder and whether each file still matches its pin.
    List {
        /// Cache folder [default: $XDG_CACHE_HOME/bnx, else ~/.cache/bnx].
        #[arg(long, value_name = "DIR")]
        cache_dir: Option<PathBuf>,
    },
}

pub fn exec(args: DataArgs) -> Result<()> {
    match args.command {
        DataCommand::Fetch {
            dataset,
            cache_dir,
            quiet,
        } => {
            let root = fetch::cache_root(cache_dir.as_deref())?;
            let source = fetch::source_url(dataset);
            let verbosity = if quiet {
                Verbosity::Quiet
            } else {
                Verbosity::Normal
            };
            let progress = Progress::new(verbosity);
            progress.line(format!("fetching {} from {source}", dataset.title()));
            let dir = experiment::fetch_dataset(dataset, &root, &progress)
                .with_context(|| format!("fetching {dataset}"))?;
            println!(
                "{} is in {} (each file checked against the SHA-256 pinned from {})",
                dataset.title(),
                dir.display(),
                fetch::remote(dataset).pinned_from
            );
        }
        DataCommand::List { cache_dir } => {
            let root = fetch::cache_root(cache_dir.as_deref())?;
            println!("cache folder: {}", root.display());
            for dataset in DatasetKind::ALL {
                let dir = fetch::dataset_dir(&root, dataset);
                if !dir.is_dir() {
                    println!("{dataset:<14} not fetched");
                    continue;
                }
                let checks = fetch::verify(dataset, &dir);
                let bad: Vec<String> = checks
                    .iter()
                    .filter_map(|(file, result)| {
                        result.as_ref().err().map(|why| format!("{file}: {why}"))
                    })
                    .collect();
                if bad.is_empty() {
                    println!("{dataset:<14} verified  {}", dir.display());
                } else {
                    println!("{dataset:<14} NOT verified  {}", dir.display());
                    for line in bad {
                        println!("    {line}");
                    }
                }
            }
        }
    }
    Ok(())
}
