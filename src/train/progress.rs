//! What the user sees while a run trains: an indicatif bar per epoch on a terminal,
//! plain summary lines otherwise, nothing but results with `--quiet`.

use std::io::IsTerminal;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verbosity {
    Quiet,
    Normal,
}

#[derive(Debug, Clone)]
pub struct Progress {
    verbosity: Verbosity,
    bars: bool,
}

impl Progress {
    /// Bars only when stdout is a terminal; lines unless quiet.
    pub fn new(verbosity: Verbosity) -> Self {
        let bars = verbosity == Verbosity::Normal && std::io::stdout().is_terminal();
        Self { verbosity, bars }
    }

    pub fn silent() -> Self {
        Self { verbosity: Verbosity::Quiet, bars: false }
    }

    pub fn is_quiet(&self) -> bool {
        self.verbosity == Verbosity::Quiet
    }

    /// Prints a line unless quiet.
    pub fn line(&self, text: impl AsRef<str>) {
        if !self.is_quiet() {
            println!("{}", text.as_ref());
        }
    }

    /// A bar over one epoch's steps, hidden when bars are off.
    pub fn epoch_bar(&self, label: &str, epoch: usize, epochs: usize, steps: u64) -> ProgressBar {
        if !self.bars {
            return ProgressBar::hidden();
        }
        let bar = ProgressBar::with_draw_target(Some(steps), ProgressDrawTarget::stdout());
        bar.set_style(
            ProgressStyle::with_template(
                "{prefix} [{bar:28.cyan/blue}] {pos}/{len} {msg} {per_sec:.dim} ETA {eta}",
            )
            .expect("static template")
            .progress_chars("=> "),
        );
        bar.set_prefix(format!("{label} epoch {epoch}/{epochs}"));
        bar
    }
}
