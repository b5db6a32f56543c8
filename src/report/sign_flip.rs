//! The exact sign-flip (permutation) test of paired differences: under the null hypothesis of
//! a distribution symmetric about the bound, every pattern of signs on |d − bound| is equally
//! likely, so the p-value is the share of the 2ⁿ patterns whose sum is at least as extreme as
//! the one observed. Distribution-free, it needs no normality; with n seeds its smallest
//! two-sided p-value is 2 / 2ⁿ (0.0625 for 5 seeds, 0.002 for 10).
//!
//! Written here rather than taken from a crate: it is a loop over 2ⁿ patterns, and no
//! maintained Rust crate offers it (scipy's `permutation_test` is the reference it is tested
//! against).

/// Which way the test looks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tail {
    /// H1: the mean differs from the bound.
    TwoSided,
    /// H1: the mean lies below the bound (a non-inferiority test when the bound is a margin).
    Below,
}

/// Above this many values the 2ⁿ patterns are too many to enumerate (16 million at 24).
pub const MAX_EXACT: usize = 24;

/// The exact p-value of `differences` against `bound`. `None` below two values, above
/// [`MAX_EXACT`], or with a non-finite value.
pub fn sign_flip_p(differences: &[f64], bound: f64, tail: Tail) -> Option<f64> {
    let n = differences.len();
    if !(2..=MAX_EXACT).contains(&n) || differences.iter().any(|d| !d.is_finite()) {
        return None;
    }
    let shifted: Vec<f64> = differences.iter().map(|d| d - bound).collect();
    let observed: f64 = shifted.iter().sum();
    let magnitudes: Vec<f64> = shifted.iter().map(|d| d.abs()).collect();
    // Sums equal up to rounding count as equally extreme (scipy compares with a relative
    // tolerance too), so a pattern that reproduces the data always counts.
    let tolerance = 1e-12 * magnitudes.iter().sum::<f64>().max(f64::MIN_POSITIVE);
    let patterns = 1u64 << n;
    let extreme = (0..patterns)
        .filter(|pattern| {
            let sum: f64 = magnitudes
                .iter()
                .enumerate()
                .map(|(i, m)| if pattern >> i & 1 == 1 { -m } else { *m })
                .sum();
            match tail {
                Tail::TwoSided => sum.abs() >= observed.abs() - tolerance,
                Tail::Below => sum <= observed + tolerance,
            }
        })
        .count();
    Some(extreme as f64 / patterns as f64)
}

/// The smallest p-value the test can give with `n` values: 2 / 2ⁿ two-sided, 1 / 2ⁿ one-sided.
pub fn smallest_p(n: usize, tail: Tail) -> f64 {
    let one_pattern = 0.5f64.powi(n as i32);
    match tail {
        Tail::TwoSided => 2.0 * one_pattern,
        Tail::Below => one_pattern,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `scipy.stats.permutation_test((d,), np.mean, permutation_type="samples",
    /// n_resamples=np.inf, alternative=…).pvalue` (scipy 1.17.1); for "less" against a bound,
    /// on d − bound.
    #[test]
    fn matches_scipy() {
        let d = [0.29, 0.15, 0.24, -0.05, 0.31];
        let two = sign_flip_p(&d, 0.0, Tail::TwoSided).unwrap();
        assert!((two - 0.125).abs() < 1e-12, "{two}");
        let below = sign_flip_p(&d, 0.2, Tail::Below).unwrap();
        assert!((below - 0.4375).abs() < 1e-12, "{below}");
        let ten = [0.5, 0.39, 0.27, 0.24, 0.0, 0.31, -0.12, 0.44, 0.18, 0.05];
        let p = sign_flip_p(&ten, 0.0, Tail::TwoSided).unwrap();
        assert!((p - 0.01171875).abs() < 1e-12, "{p}");
    }

    #[test]
    fn its_floor_is_two_patterns_in_two_to_the_n() {
        let all_up = [0.1, 0.2, 0.3, 0.4, 0.5];
        assert_eq!(sign_flip_p(&all_up, 0.0, Tail::TwoSided), Some(0.0625));
        assert_eq!(smallest_p(5, Tail::TwoSided), 0.0625);
        assert_eq!(sign_flip_p(&all_up, 1.0, Tail::Below), Some(1.0 / 32.0));
        assert_eq!(sign_flip_p(&[0.1], 0.0, Tail::TwoSided), None);
        assert_eq!(sign_flip_p(&[0.1, f64::NAN], 0.0, Tail::TwoSided), None);
        // All zero: every pattern is as extreme as the data.
        assert_eq!(sign_flip_p(&[0.0; 4], 0.0, Tail::TwoSided), Some(1.0));
    }

    /// With no true difference (symmetric null), p < 0.05 at most 5 % of the time: with 10
    /// values two-sided p-values are multiples of 2/1024, and p < 0.05 has probability
    /// 50/1024 = 4.88 %.
    #[test]
    fn null_data_rejects_at_most_at_the_nominal_rate() {
        let mut normal = crate::report::stats::standard_normals(0x51f1_5eed);
        let experiments = 4_000;
        let rejected = (0..experiments)
            .filter(|_| {
                let d: Vec<f64> = (0..10).map(|_| normal()).collect();
                sign_flip_p(&d, 0.0, Tail::TwoSided).unwrap() < 0.05
            })
            .count();
        let rate = rejected as f64 / experiments as f64;
        // 4.88 % ± 3 binomial standard errors (0.34 pp).
        assert!((0.0386..=0.059).contains(&rate), "{rate}");
    }
}
