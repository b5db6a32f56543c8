//! One paired comparison and what is read from it: the per-seed differences, their tests
//! (t, exact sign-flip, equivalence against the smallest effect of interest), the power, and the
//! verdict the rules of `verdict` give it.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::report::power::detectable_effect;
use crate::report::sign_flip::{Tail, sign_flip_p};
use crate::report::stats::{PairedTest, tost_p};

/// Significance level of every test (two-sided for differences, each one-sided test of TOST).
pub const ALPHA: f64 = 0.05;

/// The power at which a minimum detectable effect is stated.
pub const POWER: f64 = 0.8;

/// Why an endpoint is inconclusive, read from its smallest effect of interest (SESOI).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Inconclusive {
    /// Shown to lie within ± the SESOI (TOST, p < 0.05): no effect that matters.
    Equivalent,
    /// The minimum detectable effect at 80 % power is above the SESOI: too few seeds (or too
    /// much spread) to see an effect that matters.
    Underpowered,
    /// Power enough, yet neither an effect nor equivalence shown; or a run it needs failed.
    Undecided,
}

impl fmt::Display for Inconclusive {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(match self {
            Inconclusive::Equivalent => "equivalent",
            Inconclusive::Underpowered => "underpowered",
            Inconclusive::Undecided => "undecided",
        })
    }
}

/// The smallest effect of interest of a measure without a natural unit (a loss, a roughness, a
/// gradient distance), as a share of the other side's mean: a tenth of it. Chosen before the v3
/// runs as the smallest change a reader of such a measure would call a difference at all.
pub const RELATIVE_SESOI: f64 = 0.10;

/// An endpoint's smallest effect of interest, in its stored units, and how it was chosen.
/// Declared in code with the endpoint (before the v3 runs), never read from the results.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Sesoi {
    pub value: f64,
    pub basis: String,
}

impl Sesoi {
    /// The default of a unit: 0.25 pp of accuracy, one epoch; `None` for a plain measure,
    /// whose scale the claim must state.
    pub fn for_unit(unit: Unit) -> Option<Self> {
        match unit {
            Unit::Points => Some(Self {
                value: 0.0025,
                basis:
                    "a quarter of a percentage point of accuracy, 25 of MNIST's 10,000 test images"
                        .into(),
            }),
            Unit::Epochs => Some(Self {
                value: 1.0,
                basis: "one epoch, the measure's resolution".into(),
            }),
            Unit::Plain => None,
        }
    }

    /// `share` of the other side's mean (a measure without a natural unit).
    pub fn relative(share: f64, other_side_mean: f64, other_side: &str) -> Option<Self> {
        other_side_mean.is_finite().then(|| Self {
            value: share * other_side_mean.abs(),
            basis: format!("{:.0} % of {other_side}'s mean", 100.0 * share),
        })
    }
}

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
    pub fn favours(self, mean: f64) -> bool {
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
    /// The smallest effect of interest (`None` only where none could be set: see `sesoi`'s
    /// test over every study).
    #[serde(default)]
    pub sesoi: Option<Sesoi>,
    /// The exact sign-flip test's p-value (two-sided, or one-sided against the margin for a
    /// "does not degrade" endpoint), before adjustment.
    #[serde(default)]
    pub p_sign_flip: Option<f64>,
    /// The smallest true mean difference the two-sided t-test at 5 % detects with 80 %
    /// probability, from n and the observed sd of the differences.
    #[serde(default)]
    pub mde: Option<f64>,
    /// TOST's p for equivalence within ± the SESOI.
    #[serde(default)]
    pub p_equivalent: Option<f64>,
    /// For an inconclusive endpoint: equivalent, underpowered or undecided.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inconclusive: Option<Inconclusive>,
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
    pub(super) fn tested_by(
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
        let mde = detectable_effect(test.n, ALPHA, POWER)
            .map(|effect| effect * test.sd)
            .filter(|mde| mde.is_finite());
        let mut endpoint = Self {
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
            sesoi: None,
            p_sign_flip: None,
            mde,
            p_equivalent: None,
            inconclusive: None,
        };
        endpoint.p_sign_flip = endpoint.sign_flip(Tail::TwoSided, 0.0);
        endpoint.set_sesoi(Sesoi::for_unit(unit));
        endpoint
    }

    /// Declares the smallest effect of interest (and the equivalence test against it).
    pub fn set_sesoi(&mut self, sesoi: Option<Sesoi>) {
        self.p_equivalent = match &sesoi {
            Some(sesoi) if self.testable() => tost_p(&self.differences, sesoi.value),
            _ => None,
        };
        self.sesoi = sesoi;
        self.read_inconclusive();
    }

    /// The endpoint with `sesoi` declared.
    pub fn with_sesoi(mut self, sesoi: Option<Sesoi>) -> Self {
        self.set_sesoi(sesoi);
        self
    }

    pub(super) fn sign_flip(&self, tail: Tail, bound: f64) -> Option<f64> {
        self.testable()
            .then(|| sign_flip_p(&self.differences, bound, tail))
            .flatten()
    }

    /// Sets [`Endpoint::inconclusive`] from the verdict, the equivalence test and the power.
    pub(super) fn read_inconclusive(&mut self) {
        self.inconclusive = (self.verdict == Verdict::Inconclusive).then(|| {
            let margin = self.sesoi.as_ref().map(|s| s.value);
            match (margin, self.mde) {
                _ if !self.testable() => Inconclusive::Undecided,
                _ if self.p_equivalent.is_some_and(|p| p < ALPHA) => Inconclusive::Equivalent,
                (Some(margin), Some(mde)) if mde > margin => Inconclusive::Underpowered,
                _ => Inconclusive::Undecided,
            }
        });
    }

    /// Every difference is a number and there are at least two.
    pub(super) fn testable(&self) -> bool {
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
