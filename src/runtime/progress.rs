//! What the user sees while a run trains: an indicatif bar per epoch on a terminal,
//! plain summary lines otherwise, nothing but results with `--quiet`.

use std::io::IsTerminal;

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verbosity {
    Quiet,
    Normal,
}

#[derive(Debug, Clone)]
pub struct Progress {
    verbosity: Verbosity,
    bars: bool,
    /// Per-epoch summary lines; a study prints one line per run instead.
    epoch_lines: bool,
    /// Set when bars share the terminal with an overall bar (`bnx study`).
    multi: Option<MultiProgress>,
}

impl Progress {
    /// Bars only when stdout is a terminal; lines unless quiet.
    pub fn new(verbosity: Verbosity) -> Self {
        let bars = verbosity == Verbosity::Normal && std::io::stdout().is_terminal();
        Self {
            verbosity,
            bars,
            epoch_lines: true,
            multi: None,
        }
    }

    pub fn silent() -> Self {
        Self {
            verbosity: Verbosity::Quiet,
            bars: false,
            epoch_lines: false,
            multi: None,
        }
    }

    /// For many runs in a row: an overall bar over `runs` runs above each run's epoch bar,
    /// and no per-epoch lines. Returns the overall bar (hidden when bars are off).
    pub fn for_many_runs(verbosity: Verbosity, runs: u64, label: &str) -> (Self, ProgressBar) {
        let mut progress = Self::new(verbosity);
        progress.epoch_lines = false;
        if !progress.bars {
            return (progress, ProgressBar::hidden());
        }
        let multi = MultiProgress::with_draw_target(ProgressDrawTarget::stdout());
        let overall = multi.add(ProgressBar::new(runs));
        overall.set_style(
            ProgressStyle::with_template("{prefix} [{bar:28.green/white}] {pos}/{len} runs  {msg}  elapsed {elapsed}  ETA {eta}")
                .expect("static template")
                .progress_chars("=> "),
        );
        overall.set_prefix(label.to_string());
        progress.multi = Some(multi);
        (progress, overall)
    }

    pub fn verbosity(&self) -> Verbosity {
        self.verbosity
    }

    pub fn is_quiet(&self) -> bool {
        self.verbosity == Verbosity::Quiet
    }

    /// Prints a line unless quiet (above the bars, when there are any).
    pub fn line(&self, text: impl AsRef<str>) {
        if self.is_quiet() {
            return;
        }
        match &self.multi {
            Some(multi) => {
                if multi.println(text.as_ref()).is_err() {
                    println!("{}", text.as_ref());
                }
            }
            None => println!("{}", text.as_ref()),
        }
    }

    /// A line about one epoch, left out when a study prints per-run lines instead.
    pub fn epoch_line(&self, text: impl AsRef<str>) {
        if self.epoch_lines {
            self.line(text);
        }
    }

    /// A bar over one epoch's steps, hidden when bars are off.
    pub fn epoch_bar(&self, label: &str, epoch: usize, epochs: usize, steps: u64) -> ProgressBar {
        if !self.bars {
            return ProgressBar::hidden();
        }
        // Join the multi-bar display before anything is drawn: a bar drawing on its own first
        // would leave a stray line above the display.
        let bar = match &self.multi {
            Some(multi) => multi.add(ProgressBar::with_draw_target(
                Some(steps),
                ProgressDrawTarget::hidden(),
            )),
            None => ProgressBar::with_draw_target(Some(steps), ProgressDrawTarget::stdout()),
        };
        bar.set_style(
            ProgressStyle::with_template(
                "{prefix} [{bar:28.cyan/blue}] {pos}/{len}  {msg}  ETA {eta}",
            )
            .expect("static template")
            .progress_chars("=> "),
        );
        bar.set_prefix(format!("{label} epoch {epoch}/{epochs}"));
        bar
    }

    /// A bar over a download of `total` bytes (a spinner when the size is unknown), hidden when
    /// bars are off.
    pub fn download_bar(&self, file: &str, total: Option<u64>) -> ProgressBar {
        if !self.bars {
            return ProgressBar::hidden();
        }
        let bar = ProgressBar::with_draw_target(total, ProgressDrawTarget::stdout());
        bar.set_style(
            ProgressStyle::with_template(
                "{prefix} [{bar:28.cyan/blue}] {bytes}/{total_bytes}  {bytes_per_sec}  ETA {eta}",
            )
            .expect("static template")
            .progress_chars("=> "),
        );
        bar.set_prefix(file.to_string());
        bar
    }

    /// Clears a finished epoch bar and takes it off the display, so the next one takes its line.
    pub fn finish_bar(&self, bar: &ProgressBar) {
        bar.finish_and_clear();
        if let Some(multi) = &self.multi {
            multi.remove(bar);
        }
    }
}
