//! `bnx plot`: charts re-rendered from saved metrics, without training.

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::Args;

use crate::experiment;

#[derive(Debug, Args)]
pub struct PlotArgs {
    /// Comparison folders (with no-bn/ and bn/) or run folders (with metrics.json).
    #[arg(required = true, value_name = "DIR")]
    pub dirs: Vec<PathBuf>,
}

pub fn exec(args: PlotArgs) -> Result<()> {
    for dir in &args.dirs {
        let written =
            experiment::plot(dir).with_context(|| format!("plotting {}", dir.display()))?;
        for path in written {
            println!("wrote {}", path.display());
        }
    }
    Ok(())
}
