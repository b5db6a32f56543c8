//! The rules that turn paired differences into verdicts. Every verdict in a report comes from
//! here, through one of two rules stated as [`DIFFERENCE_RULE`] and [`NO_WORSE_RULE`].

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::report::stats::{PairedTest, holm, p_below, tost_p};

/// Significance level of every test (two-sided for differences, each one-sided test of TOST).
pub const ALPHA: f64 = 0.05;

/// The verdict on a claim (or one endpoint of it), on this setup.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// The evidence favours the claim's side (every endpoint of the family, after Holm).
    Supported,
    /// The evidence favours the other side (at least one endpoint, after Holm).
    Contradicted,
    /// Neither: the interval holds 0, or a run needed for the endpoint failed.
    Inconclusive,
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(match self {
            Verdict::Supported => "supported",
            Verdict::Contradicted => "contradicted",
            Verdict::Inconclusive => "inconclusive",
        })
    }
}

/// Which sign of the paired difference (claim side − other side) the claim predicts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Direction {
    Higher,
    Lower,
}

impl Direction {
    fn favours(self, mean: f64) -> bool {
        match self {
            Direction::Higher => mean > 0.0,
            Direction::Lower => mean < 0.0,
        }
    }

    pub fn word(self) -> &'static str {
        match self {
            Direction::Higher => "higher",
            Direction::Lower => "lower",
        }
    }
}

/// How an endpoint's values read: accuracies are shown in percentage points.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Unit {
    /// Stored as a fraction, shown ×100 in percentage points.
    Points,
    Epochs,
    Plain,
}

impl Unit {
    pub fn show(self, value: f64) -> String {
        match self {
            Unit::Points => format!("{:+.2} pp", 100.0 * value),
            Unit::Epochs => format!("{value:+.2} epochs"),
            Unit::Plain => format!("{value:+.4}"),
        }
    }

    pub fn scale(self) -> f64 {
        match self {
            Unit::Points => 100.0,
            Unit::Epochs | Unit::Plain => 1.0,
        }
    }
}

/// One paired comparison: a per-seed difference (claim side − other side) and its test.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Endpoint {
    /// Where in the grid, e.g. "MLP", "lr 0.01", "batch 4: BN − LayerNorm".
    pub label: String,
    pub unit: Unit,
    pub direction: Direction,
    /// Seeds with both runs present, and each one's difference (NaN where a run failed and the
    /// measure has no value for a failed run).
    pub seeds: Vec<u64>,
    pub differences: Vec<f64>,
    /// Runs behind this endpoint that diverged (each counted, never dropped).
    pub failed_runs: usize,
    pub test: PairedTest,
    /// The p-value after Holm's adjustment within its family (= `test.p_value` alone).
    pub p_adjusted: Option<f64>,
    /// For a "does not degrade" endpoint: the margin and the non-inferiority test.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub no_worse: Option<NoWorse>,
    pub verdict: Verdict,
}

/// A non-inferiority test: is the loss shown to stay under `margin`?
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct NoWorse {
    pub margin: f64,
    /// One-sided p of "the mean loss is at least the margin" (after Holm: the endpoint's
    /// `p_adjusted`).
    pub p: Option<f64>,
    /// TOST's p for equivalence within ± the margin, for reference (a gain beyond the margin
    /// fails TOST but is no degradation, so it does not decide).
    pub p_tost: Option<f64>,
}

impl Endpoint {
    /// An endpoint from per-seed differences; `verdict` is set by the family it joins.
    pub fn new(
        label: impl Into<String>,
        unit: Unit,
        direction: Direction,
        per_seed: Vec<(u64, f64)>,
        failed_runs: usize,
    ) -> Self {
        Self::tested_by(
            PairedTest::of,
            label,
            unit,
            direction,
            per_seed,
            failed_runs,
        )
    }

    /// [`Endpoint::new`] with the paired test computed by `test` (the null simulations below
    /// skip the bootstrap, which no verdict reads).
    fn tested_by(
        test: fn(&[f64]) -> PairedTest,
        label: impl Into<String>,
        unit: Unit,
        direction: Direction,
        per_seed: Vec<(u64, f64)>,
        failed_runs: usize,
    ) -> Self {
        let (seeds, differences): (Vec<u64>, Vec<f64>) = per_seed.into_iter().unzip();
        let finite: Vec<f64> = differences
            .iter()
            .copied()
            .filter(|d| d.is_finite())
            .collect();
        let test = test(&finite);
        Self {
            label: label.into(),
            unit,
            direction,
            seeds,
            differences,
            failed_runs,
            p_adjusted: test.p_value,
            test,
            no_worse: None,
            verdict: Verdict::Inconclusive,
        }
    }

    /// Every difference is a number and there are at least two.
    fn testable(&self) -> bool {
        self.differences.len() >= 2 && self.differences.iter().all(|d| d.is_finite())
    }

    /// "+0.23 pp [+0.05, +0.40], n = 5, p = 0.021".
    pub fn summary(&self) -> String {
        let unit = self.unit;
        let ci = self.test.ci95.map_or("no interval".into(), |(lo, hi)| {
            format!("[{}, {}]", unit.show(lo), unit.show(hi))
        });
        let mut text = format!("{} {ci}, n = {}", unit.show(self.test.mean), self.test.n);
        if let Some(p) = self.p_adjusted {
            text.push_str(&format!(", p {}", show_p(p)));
        }
        if self.failed_runs > 0 {
            text.push_str(&format!(", {} failed run(s)", self.failed_runs));
        }
        text
    }
}

/// "< 0.001" or "= 0.021".
pub fn show_p(p: f64) -> String {
    if p < 0.001 {
        "< 0.001".into()
    } else {
        format!("= {p:.3}")
    }
}

/// Each endpoint's p-value by `test`; 1 (no evidence) for an endpoint that cannot be tested.
fn family_p_values(family: &[Endpoint], test: impl Fn(&Endpoint) -> Option<f64>) -> Vec<f64> {
    family
        .iter()
        .map(|e| e.testable().then(|| test(e)).flatten().unwrap_or(1.0))
        .collect()
}

/// One endpoint judged on its own (a family of one), for secondaries.
pub fn judged_alone(mut endpoint: Endpoint) -> Endpoint {
    judge_differences(std::slice::from_mut(&mut endpoint));
    endpoint
}

/// The rule of [`judge_differences`].
pub const DIFFERENCE_RULE: &str = "paired per seed (seed s gives both sides the same initial weights and data order); the paired t-test of each endpoint's mean difference, Holm-adjusted over the endpoints of the family. **Supported** if every endpoint is significant (adjusted p < 0.05, i.e. for one endpoint its 95 % CI excludes 0) in the claimed direction; **contradicted** if any is significant the other way; **inconclusive** otherwise, and whenever a run an endpoint needs failed in a way the measure cannot score";

/// Judges a family of difference endpoints (one or more grid points of one claim) and returns
/// the family's verdict; each endpoint gets its own verdict and Holm-adjusted p-value.
pub fn judge_differences(family: &mut [Endpoint]) -> Verdict {
    if family.is_empty() {
        return Verdict::Inconclusive;
    }
    let p = family_p_values(family, |e| e.test.p_value);
    for (endpoint, adjusted) in family.iter_mut().zip(holm(&p)) {
        endpoint.p_adjusted = endpoint.testable().then_some(adjusted);
        endpoint.verdict = if !endpoint.testable() || adjusted >= ALPHA {
            Verdict::Inconclusive
        } else if endpoint.direction.favours(endpoint.test.mean) {
            Verdict::Supported
        } else {
            Verdict::Contradicted
        };
    }
    combine(family.iter().map(|e| e.verdict))
}

/// The rule of [`judge_no_worse`].
pub const NO_WORSE_RULE: &str = "a one-sided t-test per endpoint that the loss stays under the margin (non-inferiority: the upper half of a TOST equivalence test), Holm-adjusted over the family: **supported** if every endpoint's loss is shown to be under the margin (adjusted p < 0.05); **contradicted** if any endpoint's 95 % CI lies wholly above the margin; **inconclusive** otherwise";

/// Judges "does not degrade by more than `margin`" for a family of endpoints whose values are
/// losses (e.g. accuracy at batch 32 minus at batch 2).
pub fn judge_no_worse(family: &mut [Endpoint], margin: f64) -> Verdict {
    if family.is_empty() {
        return Verdict::Inconclusive;
    }
    let p = family_p_values(family, |e| p_below(&e.differences, margin));
    for ((endpoint, adjusted), raw) in family.iter_mut().zip(holm(&p)).zip(&p) {
        let testable = endpoint.testable();
        endpoint.p_adjusted = testable.then_some(adjusted);
        endpoint.no_worse = Some(NoWorse {
            margin,
            p: testable.then_some(*raw),
            p_tost: testable
                .then(|| tost_p(&endpoint.differences, margin))
                .flatten(),
        });
        let above = endpoint.test.ci95.is_some_and(|(lo, _)| lo > margin);
        endpoint.verdict = if !testable {
            Verdict::Inconclusive
        } else if adjusted < ALPHA {
            Verdict::Supported
        } else if above {
            Verdict::Contradicted
        } else {
            Verdict::Inconclusive
        };
    }
    combine(family.iter().map(|e| e.verdict))
}

/// All supported → supported; any contradicted → contradicted; else inconclusive.
pub fn combine(verdicts: impl IntoIterator<Item = Verdict>) -> Verdict {
    let verdicts: Vec<Verdict> = verdicts.into_iter().collect();
    if verdicts.contains(&Verdict::Contradicted) {
        Verdict::Contradicted
    } else if !verdicts.is_empty() && verdicts.iter().all(|v| *v == Verdict::Supported) {
        Verdict::Supported
    } else {
        Verdict::Inconclusive
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn endpoint(values: &[f64], direction: Direction) -> Endpoint {
        let per_seed = values
            .iter()
            .enumerate()
            .map(|(i, v)| (42 + i as u64, *v))
            .collect();
        Endpoint::new("x", Unit::Points, direction, per_seed, 0)
    }

    /// An endpoint judged as [`endpoint`]'s, without the bootstrap interval nothing here reads.
    fn simulated(values: &[f64], direction: Direction) -> Endpoint {
        let per_seed = values.iter().map(|v| (0, *v)).collect();
        Endpoint::tested_by(
            PairedTest::without_bootstrap,
            "x",
            Unit::Points,
            direction,
            per_seed,
            0,
        )
    }

    #[test]
    fn one_endpoint_follows_its_interval() {
        let mut win = [endpoint(
            &[0.02, 0.03, 0.025, 0.028, 0.022],
            Direction::Higher,
        )];
        assert_eq!(judge_differences(&mut win), Verdict::Supported);
        let mut loss = [endpoint(
            &[0.02, 0.03, 0.025, 0.028, 0.022],
            Direction::Lower,
        )];
        assert_eq!(judge_differences(&mut loss), Verdict::Contradicted);
        let mut tie = [endpoint(
            &[0.02, -0.03, 0.01, -0.01, 0.005],
            Direction::Higher,
        )];
        assert_eq!(judge_differences(&mut tie), Verdict::Inconclusive);
        let mut failed = [endpoint(
            &[0.02, f64::NAN, 0.025, 0.028, 0.022],
            Direction::Higher,
        )];
        assert_eq!(judge_differences(&mut failed), Verdict::Inconclusive);
        assert_eq!(failed[0].p_adjusted, None);
    }

    #[test]
    fn holm_makes_a_family_harder_to_pass() {
        // p ≈ 0.03 alone: significant; in a family of three such points, not.
        let values = [0.01, 0.02, -0.002, 0.015, 0.012];
        let mut alone = [endpoint(&values, Direction::Higher)];
        assert_eq!(judge_differences(&mut alone), Verdict::Supported);
        let mut family: Vec<Endpoint> = (0..3)
            .map(|_| endpoint(&values, Direction::Higher))
            .collect();
        assert_eq!(judge_differences(&mut family), Verdict::Inconclusive);
    }

    #[test]
    fn no_worse_needs_the_loss_shown_under_the_margin() {
        let mut tight = [endpoint(
            &[0.001, -0.002, 0.0, 0.001, -0.001],
            Direction::Lower,
        )];
        assert_eq!(judge_no_worse(&mut tight, 0.01), Verdict::Supported);
        // A clear gain is no degradation.
        let mut gain = [endpoint(
            &[-0.05, -0.06, -0.055, -0.05, -0.06],
            Direction::Lower,
        )];
        assert_eq!(judge_no_worse(&mut gain, 0.01), Verdict::Supported);
        let mut wide = [endpoint(&[0.03, -0.02, 0.0, 0.01, -0.03], Direction::Lower)];
        assert_eq!(judge_no_worse(&mut wide, 0.01), Verdict::Inconclusive);
        let mut far = [endpoint(&[0.05, 0.06, 0.055, 0.05, 0.06], Direction::Lower)];
        assert_eq!(judge_no_worse(&mut far, 0.01), Verdict::Contradicted);
    }

    /// With no true difference, "supported" must come at most at the nominal one-sided rate
    /// (2.5 %), for one endpoint and for a Holm family of four; and "contradicted" likewise.
    #[test]
    fn null_data_is_rarely_supported() {
        let mut normal = crate::report::stats::standard_normals(0x9e37_79b9_7f4a_7c15);
        let experiments = 10_000;
        for family_size in [1, 4] {
            let (mut supported, mut contradicted) = (0, 0);
            for _ in 0..experiments {
                let mut family: Vec<Endpoint> = (0..family_size)
                    .map(|_| {
                        let values: Vec<f64> = (0..5).map(|_| normal()).collect();
                        simulated(&values, Direction::Higher)
                    })
                    .collect();
                match judge_differences(&mut family) {
                    Verdict::Supported => supported += 1,
                    Verdict::Contradicted => contradicted += 1,
                    Verdict::Inconclusive => {}
                }
            }
            let rate = |k: i32| k as f64 / experiments as f64;
            // 2.5 % plus three binomial standard errors (0.16 pp).
            assert!(
                rate(supported) <= 0.03,
                "{family_size}: {}",
                rate(supported)
            );
            assert!(rate(contradicted) <= 0.03, "{}", rate(contradicted));
            if family_size == 1 {
                // And not far below it: the test is exact, not merely conservative.
                assert!(rate(supported) >= 0.02, "{}", rate(supported));
            }
        }
        // "Does not degrade" when the true loss sits exactly at the margin: shown under it at
        // most at the one-sided 5 %.
        let margin = 0.5;
        let mut supported = 0;
        for _ in 0..experiments {
            let values: Vec<f64> = (0..5).map(|_| margin + normal()).collect();
            if judge_no_worse(&mut [simulated(&values, Direction::Lower)], margin)
                == Verdict::Supported
            {
                supported += 1;
            }
        }
        let rate = supported as f64 / experiments as f64;
        assert!((0.04..=0.0565).contains(&rate), "{rate}");
    }
}
