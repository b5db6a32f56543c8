//! The rules that turn paired differences into verdicts. Every verdict in a report comes from
//! here, through one of two rules stated as [`DIFFERENCE_RULE`] and [`NO_WORSE_RULE`].

use serde::{Deserialize, Serialize};

pub use super::endpoint::{
    ALPHA, Direction, Endpoint, Inconclusive, NoWorse, POWER, RELATIVE_SESOI, Sesoi, Unit, Verdict,
    show_p,
};
use crate::report::sign_flip::Tail;
use crate::report::stats::{holm, p_below};

/// A verdict under one declared alternative to the primary analysis (another test, measure or
/// validation), shown next to the verdict and never replacing it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Alternative {
    /// What differs from the primary analysis, e.g. "exact sign-flip test".
    pub name: String,
    pub verdict: Verdict,
    /// Its numbers, e.g. "p = 0.062 (its smallest with 5 seeds)".
    pub detail: String,
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
    judge_differences_by(family, |e| e.test.p_value)
}

/// [`judge_differences`] with each endpoint's unadjusted p-value from `p_value`.
fn judge_differences_by(
    family: &mut [Endpoint],
    p_value: impl Fn(&Endpoint) -> Option<f64>,
) -> Verdict {
    judge_family(family, p_value, |endpoint, adjusted| {
        if adjusted >= ALPHA {
            Verdict::Inconclusive
        } else if endpoint.direction.favours(endpoint.test.mean) {
            Verdict::Supported
        } else {
            Verdict::Contradicted
        }
    })
}

/// Holm-adjusts the family's p-values (from `p_value`), gives each testable endpoint the
/// verdict `decide` reads from its adjusted p, and returns the family's verdict.
fn judge_family(
    family: &mut [Endpoint],
    p_value: impl Fn(&Endpoint) -> Option<f64>,
    decide: impl Fn(&Endpoint, f64) -> Verdict,
) -> Verdict {
    if family.is_empty() {
        return Verdict::Inconclusive;
    }
    let p = family_p_values(family, p_value);
    for (endpoint, adjusted) in family.iter_mut().zip(holm(&p)) {
        let testable = endpoint.testable();
        endpoint.p_adjusted = testable.then_some(adjusted);
        endpoint.verdict = if testable {
            decide(endpoint, adjusted)
        } else {
            Verdict::Inconclusive
        };
        endpoint.read_inconclusive();
    }
    combine(family.iter().map(|e| e.verdict))
}

/// The rule of [`judge_no_worse`].
pub const NO_WORSE_RULE: &str = "a one-sided t-test per endpoint that the loss stays under the margin (non-inferiority: the upper half of a TOST equivalence test), Holm-adjusted over the family: **supported** if every endpoint's loss is shown to be under the margin (adjusted p < 0.05); **contradicted** if any endpoint's 95 % CI lies wholly above the margin; **inconclusive** otherwise";

/// Judges "does not degrade by more than `margin`" for a family of endpoints whose values are
/// losses (e.g. accuracy at batch 32 minus at batch 2). The margin is each endpoint's SESOI.
pub fn judge_no_worse(family: &mut [Endpoint], margin: f64) -> Verdict {
    for endpoint in family.iter_mut() {
        // The margin is the SESOI, so the equivalence test against it is TOST within the margin.
        endpoint.set_sesoi(Some(Sesoi {
            value: margin,
            basis: "the non-inferiority margin".into(),
        }));
        endpoint.no_worse = Some(NoWorse {
            margin,
            p: endpoint
                .testable()
                .then(|| p_below(&endpoint.differences, margin))
                .flatten(),
            p_tost: endpoint.p_equivalent,
        });
        endpoint.p_sign_flip = endpoint.sign_flip(Tail::Below, margin);
    }
    judge_no_worse_by(family, |e| e.no_worse.and_then(|t| t.p))
}

/// [`judge_no_worse`]'s rule with each endpoint's unadjusted p-value from `p_value`.
fn judge_no_worse_by(
    family: &mut [Endpoint],
    p_value: impl Fn(&Endpoint) -> Option<f64>,
) -> Verdict {
    judge_family(family, p_value, |endpoint, adjusted| {
        let margin = endpoint.no_worse.map_or(0.0, |t| t.margin);
        if adjusted < ALPHA {
            Verdict::Supported
        } else if endpoint.test.ci95.is_some_and(|(lo, _)| lo > margin) {
            Verdict::Contradicted
        } else {
            Verdict::Inconclusive
        }
    })
}

/// The family judged again by its own rule with the exact sign-flip test in place of the
/// t-test (Holm-adjusted the same way): the distribution-free alternative every verdict shows.
pub fn sign_flip_alternative(family: &[Endpoint]) -> Alternative {
    let mut again = family.to_vec();
    let p_value = |e: &Endpoint| e.p_sign_flip;
    let no_worse = family.iter().any(|e| e.no_worse.is_some());
    let (verdict, tail) = if no_worse {
        (judge_no_worse_by(&mut again, p_value), Tail::Below)
    } else {
        (judge_differences_by(&mut again, p_value), Tail::TwoSided)
    };
    let shown: Vec<String> = again
        .iter()
        .filter_map(|e| e.p_adjusted)
        .map(|p| format!("{p:.4}"))
        .collect();
    let n = family.iter().map(|e| e.test.n).max().unwrap_or(0);
    let mut detail = if shown.is_empty() {
        "no testable endpoint".to_string()
    } else {
        format!(
            "p {}{}",
            shown.join(", "),
            if family.len() > 1 { " (Holm)" } else { "" }
        )
    };
    if n >= 2 {
        detail.push_str(&format!(
            "; with {n} seeds its smallest possible p is {:.4}",
            crate::report::sign_flip::smallest_p(n, tail)
        ));
    }
    Alternative {
        name: "exact sign-flip test".into(),
        verdict,
        detail,
    }
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
    use crate::report::stats::PairedTest;

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

    #[test]
    fn inconclusive_says_equivalent_underpowered_or_undecided() {
        // Tight around 0 (sd 0.01 pp): shown within ± 0.25 pp.
        let mut tight = [endpoint(
            &[0.0001, -0.0001, 0.0, 0.00005, -0.00005],
            Direction::Higher,
        )];
        judge_differences(&mut tight);
        assert_eq!(tight[0].inconclusive, Some(Inconclusive::Equivalent));
        // Wide (sd ≈ 2 pp): the MDE (≈ 1.68 sd) is far above 0.25 pp.
        let mut wide = [endpoint(
            &[0.02, -0.03, 0.01, -0.01, 0.005],
            Direction::Higher,
        )];
        judge_differences(&mut wide);
        assert_eq!(wide[0].inconclusive, Some(Inconclusive::Underpowered));
        let mde = wide[0].mde.unwrap();
        assert!(
            (mde - 1.6819970833 * wide[0].test.sd).abs() < 1e-4 * mde,
            "{mde}"
        );
        // Sd 0.145 pp: MDE 0.244 pp < 0.25 pp; a mean of 0.15 pp neither shown (p 0.082) nor
        // excluded (TOST p 0.099).
        let mut noisy = [endpoint(
            &[0.00329, -0.00014, 0.00195, 0.00016, 0.00224],
            Direction::Higher,
        )];
        judge_differences(&mut noisy);
        assert_eq!(noisy[0].verdict, Verdict::Inconclusive);
        assert_eq!(
            noisy[0].inconclusive,
            Some(Inconclusive::Undecided),
            "{:?}",
            noisy[0].mde
        );
        // A supported endpoint has no reading.
        let mut win = [endpoint(
            &[0.02, 0.03, 0.025, 0.028, 0.022],
            Direction::Higher,
        )];
        judge_differences(&mut win);
        assert_eq!(win[0].inconclusive, None);
    }

    #[test]
    fn five_seeds_cannot_pass_the_sign_flip_test_and_ten_can() {
        let five = [endpoint(
            &[0.02, 0.03, 0.025, 0.028, 0.022],
            Direction::Higher,
        )];
        let alternative = sign_flip_alternative(&five);
        assert_eq!(alternative.verdict, Verdict::Inconclusive);
        assert!(
            alternative.detail.contains("0.0625"),
            "{}",
            alternative.detail
        );
        let values: Vec<f64> = (0..10).map(|i| 0.02 + 0.001 * i as f64).collect();
        let ten = [endpoint(&values, Direction::Higher)];
        assert_eq!(sign_flip_alternative(&ten).verdict, Verdict::Supported);
        let against = [endpoint(&values, Direction::Lower)];
        assert_eq!(
            sign_flip_alternative(&against).verdict,
            Verdict::Contradicted
        );
    }
}
