//! The rules that turn runs into verdicts. Every verdict in a report comes from here.

use std::fmt;

use serde::{Deserialize, Serialize};

/// Mean and sample standard deviation of one measure over seeds.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Stat {
    pub mean: f64,
    /// Sample standard deviation (n − 1); 0 for a single value.
    pub std: f64,
    pub n: usize,
}

impl Stat {
    pub fn of(values: impl IntoIterator<Item = f64>) -> Self {
        let values: Vec<f64> = values.into_iter().collect();
        let n = values.len();
        if n == 0 {
            return Self {
                mean: f64::NAN,
                std: f64::NAN,
                n,
            };
        }
        let mean = values.iter().sum::<f64>() / n as f64;
        let std = if n < 2 {
            0.0
        } else {
            (values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1) as f64).sqrt()
        };
        Self { mean, std, n }
    }

    /// "97.31 ± 0.12" with `digits` decimals, after multiplying by `factor` (100 for percent).
    pub fn show(&self, factor: f64, digits: usize) -> String {
        format!(
            "{:.digits$} ± {:.digits$}",
            self.mean * factor,
            self.std * factor
        )
    }
}

/// How one side of a claim compares with the other at one grid point.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Comparison {
    /// The claim's side is ahead by more than the sum of the two standard deviations.
    Better,
    /// The claim's side is behind by more than the sum of the two standard deviations.
    Worse,
    /// Within the sum of the standard deviations: no clear difference.
    Tie,
}

impl Comparison {
    /// Compares `claimed` (e.g. with BN) against `other`; `higher_is_better` says which way wins.
    pub fn of(claimed: Stat, other: Stat, higher_is_better: bool) -> Self {
        let margin = claimed.std + other.std;
        let ahead = if higher_is_better {
            claimed.mean - other.mean
        } else {
            other.mean - claimed.mean
        };
        if !ahead.is_finite() {
            Comparison::Tie
        } else if ahead > margin {
            Comparison::Better
        } else if -ahead > margin {
            Comparison::Worse
        } else {
            Comparison::Tie
        }
    }

    pub fn word(self) -> &'static str {
        match self {
            Comparison::Better => "better",
            Comparison::Worse => "worse",
            Comparison::Tie => "no clear difference",
        }
    }
}

/// The verdict on a claim, on this setup.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Supported,
    NotSupported,
    Mixed,
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Outcome::Supported => "supported",
            Outcome::NotSupported => "not supported",
            Outcome::Mixed => "mixed",
        })
    }
}

/// The rule most studies share, stated as `GRID_RULE`.
pub fn over_grid(comparisons: &[Comparison]) -> Outcome {
    let wins = comparisons
        .iter()
        .filter(|c| **c == Comparison::Better)
        .count();
    let losses = comparisons
        .iter()
        .filter(|c| **c == Comparison::Worse)
        .count();
    if wins == 0 {
        Outcome::NotSupported
    } else if 2 * wins >= comparisons.len() && losses == 0 {
        Outcome::Supported
    } else {
        Outcome::Mixed
    }
}

pub const GRID_RULE: &str = "At each grid point the claim's side is *better* if its mean beats the other's by more than the sum of their standard deviations over seeds, *worse* if it trails by more than that, else a tie; **supported** if it is better at half the points or more and worse at none, **not supported** if it is better at none, **mixed** otherwise";

/// Counts for the verdict line: "better at 3 of 4 points, worse at 0".
pub fn tally(comparisons: &[Comparison]) -> String {
    let count = |c| comparisons.iter().filter(|x| **x == c).count();
    format!(
        "better at {} of {} points, worse at {}, no clear difference at {}",
        count(Comparison::Better),
        comparisons.len(),
        count(Comparison::Worse),
        count(Comparison::Tie)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stat(mean: f64, std: f64) -> Stat {
        Stat { mean, std, n: 3 }
    }

    #[test]
    fn stat_uses_the_sample_standard_deviation() {
        let s = Stat::of([1.0, 2.0, 3.0]);
        assert_eq!((s.mean, s.std, s.n), (2.0, 1.0, 3));
        assert_eq!(Stat::of([5.0]).std, 0.0);
        assert!(Stat::of([]).mean.is_nan());
    }

    #[test]
    fn a_clear_win_is_supported() {
        let points = [Comparison::of(stat(0.98, 0.002), stat(0.95, 0.003), true); 4];
        assert_eq!(points[0], Comparison::Better);
        assert_eq!(over_grid(&points), Outcome::Supported);
    }

    #[test]
    fn a_clear_loss_is_not_supported() {
        let points = [Comparison::of(stat(0.90, 0.01), stat(0.97, 0.01), true); 4];
        assert_eq!(points[0], Comparison::Worse);
        assert_eq!(over_grid(&points), Outcome::NotSupported);
    }

    #[test]
    fn a_tie_is_not_supported() {
        // 0.02 apart, but the seeds scatter by 0.015 each: no clear difference.
        let points = [Comparison::of(stat(0.97, 0.015), stat(0.95, 0.015), true); 3];
        assert_eq!(points[0], Comparison::Tie);
        assert_eq!(over_grid(&points), Outcome::NotSupported);
    }

    #[test]
    fn wins_with_a_loss_or_too_few_wins_are_mixed() {
        use Comparison::*;
        assert_eq!(over_grid(&[Better, Better, Worse]), Outcome::Mixed);
        assert_eq!(over_grid(&[Better, Tie, Tie, Tie]), Outcome::Mixed);
        assert_eq!(over_grid(&[Better, Tie]), Outcome::Supported);
    }

    #[test]
    fn lower_is_better_flips_the_direction() {
        assert_eq!(
            Comparison::of(stat(0.1, 0.01), stat(0.5, 0.01), false),
            Comparison::Better
        );
        assert_eq!(
            Comparison::of(stat(0.1, 0.01), stat(f64::NAN, 0.01), false),
            Comparison::Tie
        );
    }
}
