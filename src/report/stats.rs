//! Numbers over seeds: per-variant spread, and the paired difference between two variants that
//! share each seed, with its Student-t confidence interval.
//!
//! Written here rather than taken from a crate: the whole need is one quantile function (the
//! incomplete beta function behind it is a few lines), and `statrs` would add a dependency tree
//! for it. Tested against scipy's values.

use serde::{Deserialize, Serialize};

/// Mean, sample standard deviation (n − 1), range and count of one measure over seeds.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Spread {
    pub mean: f64,
    /// 0 for a single value.
    pub sd: f64,
    pub min: f64,
    pub max: f64,
    pub n: usize,
}

impl Spread {
    pub fn of(values: &[f64]) -> Self {
        let n = values.len();
        let mean = values.iter().sum::<f64>() / n as f64;
        let sd = if n < 2 {
            0.0
        } else {
            (values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1) as f64).sqrt()
        };
        Self {
            mean,
            sd,
            min: values.iter().copied().fold(f64::INFINITY, f64::min),
            max: values.iter().copied().fold(f64::NEG_INFINITY, f64::max),
            n,
        }
    }
}

/// The mean of per-seed differences `b − a` with its 95 % confidence interval (Student t with
/// n − 1 degrees of freedom, as `scipy.stats.ttest_1samp(d, 0).confidence_interval()` gives it).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct PairedDifference {
    pub mean: f64,
    /// Standard deviation of the per-seed differences.
    pub sd: f64,
    pub n: usize,
    /// `None` for a single pair: one difference says nothing about its spread.
    pub ci95: Option<(f64, f64)>,
}

impl PairedDifference {
    /// `pairs` holds (a, b) per seed.
    pub fn of(pairs: &[(f64, f64)]) -> Self {
        let differences: Vec<f64> = pairs.iter().map(|(a, b)| b - a).collect();
        let spread = Spread::of(&differences);
        let n = spread.n;
        let ci95 = (n >= 2).then(|| {
            let half = t_quantile(0.975, (n - 1) as f64) * spread.sd / (n as f64).sqrt();
            (spread.mean - half, spread.mean + half)
        });
        Self {
            mean: spread.mean,
            sd: spread.sd,
            n,
            ci95,
        }
    }
}

/// The `p` quantile of Student's t distribution with `df` degrees of freedom (`p` in (0, 1)).
pub fn t_quantile(p: f64, df: f64) -> f64 {
    if p < 0.5 {
        return -t_quantile(1.0 - p, df);
    }
    // The CDF rises monotonically: bisect, after doubling the bracket until it holds p.
    let (mut lo, mut hi) = (0.0f64, 1.0f64);
    while t_cdf(hi, df) < p {
        hi *= 2.0;
    }
    for _ in 0..200 {
        let mid = 0.5 * (lo + hi);
        if t_cdf(mid, df) < p {
            lo = mid;
        } else {
            hi = mid;
        }
        if hi - lo <= 1e-14 * hi {
            break;
        }
    }
    0.5 * (lo + hi)
}

/// P(T ≤ t) for Student's t with `df` degrees of freedom.
pub fn t_cdf(t: f64, df: f64) -> f64 {
    let tail = 0.5 * incomplete_beta(0.5 * df, 0.5, df / (df + t * t));
    if t >= 0.0 { 1.0 - tail } else { tail }
}

/// The regularized incomplete beta function I_x(a, b), by its continued fraction (modified
/// Lentz), using the symmetry I_x(a, b) = 1 − I_{1−x}(b, a) where that converges faster.
fn incomplete_beta(a: f64, b: f64, x: f64) -> f64 {
    if x <= 0.0 {
        return 0.0;
    }
    if x >= 1.0 {
        return 1.0;
    }
    let front =
        (ln_gamma(a + b) - ln_gamma(a) - ln_gamma(b) + a * x.ln() + b * (1.0 - x).ln()).exp();
    if x < (a + 1.0) / (a + b + 2.0) {
        front * beta_fraction(a, b, x) / a
    } else {
        1.0 - front * beta_fraction(b, a, 1.0 - x) / b
    }
}

fn beta_fraction(a: f64, b: f64, x: f64) -> f64 {
    const TINY: f64 = 1e-300;
    let mut c = 1.0;
    let mut d = 1.0 - (a + b) * x / (a + 1.0);
    if d.abs() < TINY {
        d = TINY;
    }
    d = 1.0 / d;
    let mut h = d;
    for m in 1..=300 {
        let m = m as f64;
        let even = m * (b - m) * x / ((a + 2.0 * m - 1.0) * (a + 2.0 * m));
        for coefficient in [
            even,
            -(a + m) * (a + b + m) * x / ((a + 2.0 * m) * (a + 2.0 * m + 1.0)),
        ] {
            d = 1.0 + coefficient * d;
            if d.abs() < TINY {
                d = TINY;
            }
            c = 1.0 + coefficient / c;
            if c.abs() < TINY {
                c = TINY;
            }
            d = 1.0 / d;
            h *= d * c;
        }
        if (d * c - 1.0).abs() < 1e-16 {
            break;
        }
    }
    h
}

/// ln Γ(x) for x > 0 (Lanczos, g = 7, nine terms: about 15 significant digits).
fn ln_gamma(x: f64) -> f64 {
    const G: f64 = 7.0;
    const COEFFICIENTS: [f64; 9] = [
        0.999_999_999_999_809_9,
        676.520_368_121_885_1,
        -1_259.139_216_722_402_8,
        771.323_428_777_653_1,
        -176.615_029_162_140_6,
        12.507_343_278_686_905,
        -0.138_571_095_265_720_12,
        9.984_369_578_019_572e-6,
        1.505_632_735_149_311_6e-7,
    ];
    if x < 0.5 {
        // Reflection: Γ(x) Γ(1 − x) = π / sin(πx).
        return (std::f64::consts::PI / (std::f64::consts::PI * x).sin()).ln() - ln_gamma(1.0 - x);
    }
    let x = x - 1.0;
    let mut sum = COEFFICIENTS[0];
    for (i, c) in COEFFICIENTS.iter().enumerate().skip(1) {
        sum += c / (x + i as f64);
    }
    let t = x + G + 0.5;
    0.5 * (2.0 * std::f64::consts::PI).ln() + (x + 0.5) * t.ln() - t + sum.ln()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `scipy.stats.t.ppf(0.975, df)` (scipy 1.16).
    #[test]
    fn t_quantiles_match_scipy() {
        for (df, expected) in [
            (1.0, 12.706204736174694),
            (2.0, 4.302652729749462),
            (4.0, 2.7764451051977934),
            (9.0, 2.262157162798205),
            (29.0, 2.045229642132703),
            (100.0, 1.9839715185235518),
        ] {
            let q = t_quantile(0.975, df);
            assert!(
                (q - expected).abs() < 1e-9 * expected,
                "df {df}: {q} vs {expected}"
            );
            assert!((t_quantile(0.025, df) + expected).abs() < 1e-9 * expected);
        }
        assert!((t_cdf(0.0, 5.0) - 0.5).abs() < 1e-15);
    }

    /// `scipy.stats.ttest_1samp([0.29, 0.15, 0.24], 0).confidence_interval(0.95)`.
    #[test]
    fn paired_difference_matches_scipy() {
        let pairs = [(0.0, 0.29), (0.10, 0.25), (1.0, 1.24)];
        let d = PairedDifference::of(&pairs);
        assert_eq!(d.n, 3);
        assert!((d.mean - 0.22666666666666666).abs() < 1e-12);
        assert!((d.sd - 0.07094598884597587).abs() < 1e-12);
        let (lo, hi) = d.ci95.unwrap();
        assert!((lo - 0.0504270602769597).abs() < 1e-9, "{lo}");
        assert!((hi - 0.4029062730563736).abs() < 1e-9, "{hi}");
        assert_eq!(PairedDifference::of(&[(1.0, 2.0)]).ci95, None);
    }

    /// With no true difference, the 95 % interval misses 0 in about 5 % of experiments.
    #[test]
    fn intervals_cover_zero_at_the_nominal_rate_on_null_data() {
        // A small deterministic generator: the test must not depend on a random seed source.
        let mut state = 0x2545_f491_4f6c_dd1du64;
        let mut normal = || {
            let mut uniform = || {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                (state >> 11) as f64 / (1u64 << 53) as f64
            };
            // Box–Muller.
            let (u, v) = (uniform().max(1e-300), uniform());
            (-2.0 * u.ln()).sqrt() * (2.0 * std::f64::consts::PI * v).cos()
        };
        let experiments = 20_000;
        let mut misses = 0;
        for _ in 0..experiments {
            let pairs: Vec<(f64, f64)> = (0..5).map(|_| (normal(), normal())).collect();
            let (lo, hi) = PairedDifference::of(&pairs).ci95.unwrap();
            if lo > 0.0 || hi < 0.0 {
                misses += 1;
            }
        }
        let rate = misses as f64 / experiments as f64;
        // 5 % ± 3 binomial standard errors (0.15 pp each).
        assert!((0.0435..=0.0565).contains(&rate), "{rate}");
    }

    #[test]
    fn spread_has_mean_sd_and_range() {
        let s = Spread::of(&[1.0, 2.0, 4.0]);
        assert!((s.mean - 7.0 / 3.0).abs() < 1e-12);
        assert!((s.sd - (7.0f64 / 3.0).sqrt()).abs() < 1e-12);
        assert_eq!((s.min, s.max, s.n), (1.0, 4.0, 3));
        assert_eq!(Spread::of(&[3.0]).sd, 0.0);
    }
}
