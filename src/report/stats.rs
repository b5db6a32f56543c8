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

/// A paired comparison as a statistician reports it: the per-seed differences' mean with its
/// 95 % Student-t interval, the paired t-test's two-sided p-value, the effect size (Cohen's
/// d_z = mean / sd of the differences) and a seeded percentile-bootstrap interval for robustness.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct PairedTest {
    pub mean: f64,
    pub sd: f64,
    pub n: usize,
    /// `None` below two pairs: one difference says nothing about its spread.
    pub ci95: Option<(f64, f64)>,
    pub p_value: Option<f64>,
    pub effect_size: Option<f64>,
    pub bootstrap95: Option<(f64, f64)>,
}

/// Resamples behind [`PairedTest::bootstrap95`], drawn from a fixed seed so reports reproduce.
pub const BOOTSTRAP_RESAMPLES: usize = 10_000;
const BOOTSTRAP_SEED: u64 = 0x5eed_b007;

impl PairedTest {
    /// `differences` holds one (claim side − other side) value per seed; all must be finite.
    pub fn of(differences: &[f64]) -> Self {
        let test = Self::without_bootstrap(differences);
        Self {
            bootstrap95: (test.n >= 2).then(|| bootstrap_interval(differences)),
            ..test
        }
    }

    /// [`PairedTest::of`] without its bootstrap interval (`None`): for simulations that judge
    /// thousands of endpoints by the t-test alone and would spend nearly all their time on
    /// 10,000 resamples each that nothing reads.
    pub fn without_bootstrap(differences: &[f64]) -> Self {
        let n = differences.len();
        if n == 0 {
            return Self {
                mean: f64::NAN,
                sd: f64::NAN,
                n,
                ci95: None,
                p_value: None,
                effect_size: None,
                bootstrap95: None,
            };
        }
        let spread = Spread::of(differences);
        let (mean, sd) = (spread.mean, spread.sd);
        let enough = n >= 2;
        let df = (n - 1) as f64;
        let ci95 = enough.then(|| {
            let half = t_quantile(0.975, df) * sd / (n as f64).sqrt();
            (mean - half, mean + half)
        });
        let p_value = enough.then(|| two_sided_p(mean, sd, n));
        let effect_size = (enough && sd > 0.0).then(|| mean / sd);
        Self {
            mean,
            sd,
            n,
            ci95,
            p_value,
            effect_size,
            bootstrap95: None,
        }
    }
}

/// The one-sample t-test of mean 0, two-sided. With no spread at all (identical differences)
/// the evidence is total unless the mean is exactly 0.
fn two_sided_p(mean: f64, sd: f64, n: usize) -> f64 {
    if sd == 0.0 {
        return if mean == 0.0 { 1.0 } else { 0.0 };
    }
    let t = mean / (sd / (n as f64).sqrt());
    2.0 * t_cdf(-t.abs(), (n - 1) as f64)
}

/// One-sided p-value of H0: mean ≤ `bound` (against mean > `bound`).
fn p_above(differences: &[f64], bound: f64) -> f64 {
    let spread = Spread::of(differences);
    let n = spread.n as f64;
    if spread.sd == 0.0 {
        return if spread.mean > bound { 0.0 } else { 1.0 };
    }
    let t = (spread.mean - bound) / (spread.sd / n.sqrt());
    1.0 - t_cdf(t, n - 1.0)
}

/// One-sided p-value of H0: mean ≥ `bound` against mean < `bound` (a non-inferiority test when
/// `bound` is the margin a loss must stay under). `None` below two values.
pub fn p_below(differences: &[f64], bound: f64) -> Option<f64> {
    if differences.len() < 2 {
        return None;
    }
    let negated: Vec<f64> = differences.iter().map(|d| -d).collect();
    Some(p_above(&negated, -bound))
}

/// Two one-sided tests (TOST) of equivalence within ±`margin`: the larger of the two one-sided
/// p-values; below 0.05 the mean difference is shown to lie inside the margin. `None` below
/// two values.
pub fn tost_p(differences: &[f64], margin: f64) -> Option<f64> {
    Some(p_above(differences, -margin).max(p_below(differences, margin)?))
}

/// Holm's step-down adjustment of p-values for a family of tests, in the input order.
pub fn holm(p_values: &[f64]) -> Vec<f64> {
    let m = p_values.len();
    let mut order: Vec<usize> = (0..m).collect();
    order.sort_by(|&a, &b| p_values[a].total_cmp(&p_values[b]));
    let mut adjusted = vec![0.0; m];
    let mut running = 0.0f64;
    for (rank, &i) in order.iter().enumerate() {
        running = running.max(((m - rank) as f64 * p_values[i]).min(1.0));
        adjusted[i] = running;
    }
    adjusted
}

/// Percentile bootstrap of the mean (2.5th and 97.5th percentiles of resampled means).
fn bootstrap_interval(values: &[f64]) -> (f64, f64) {
    use rand::rngs::StdRng;
    use rand::{RngExt, SeedableRng};
    let mut rng = StdRng::seed_from_u64(BOOTSTRAP_SEED);
    let n = values.len();
    let mut means: Vec<f64> = (0..BOOTSTRAP_RESAMPLES)
        .map(|_| (0..n).map(|_| values[rng.random_range(0..n)]).sum::<f64>() / n as f64)
        .collect();
    means.sort_by(f64::total_cmp);
    let at = |q: f64| means[((q * (BOOTSTRAP_RESAMPLES - 1) as f64).round()) as usize];
    (at(0.025), at(0.975))
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
pub(super) fn ln_gamma(x: f64) -> f64 {
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

/// Standard normal draws from a small deterministic generator (xorshift and Box–Muller), for
/// simulation tests that must not depend on a random seed source.
#[cfg(test)]
pub(crate) fn standard_normals(mut state: u64) -> impl FnMut() -> f64 {
    move || {
        let mut uniform = || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 11) as f64 / (1u64 << 53) as f64
        };
        let (u, v) = (uniform().max(1e-300), uniform());
        (-2.0 * u.ln()).sqrt() * (2.0 * std::f64::consts::PI * v).cos()
    }
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
        let mut normal = standard_normals(0x2545_f491_4f6c_dd1d);
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

    /// `scipy.stats.ttest_1samp(d, 0)` for d = [0.29, 0.15, 0.24, −0.05, 0.31] (scipy 1.17.1):
    /// t = 2.865640575993555, p = 0.04566886012245366, CI (0.005851657967883561,
    /// 0.37014834203211644); d_z = mean / sd(ddof=1) = 1.281553425400648.
    #[test]
    fn paired_test_matches_scipy() {
        let d = [0.29, 0.15, 0.24, -0.05, 0.31];
        let test = PairedTest::of(&d);
        assert_eq!(test.n, 5);
        assert!((test.p_value.unwrap() - 0.04566886012245366).abs() < 1e-10);
        let (lo, hi) = test.ci95.unwrap();
        assert!((lo - 0.005851657967883561).abs() < 1e-10, "{lo}");
        assert!((hi - 0.37014834203211644).abs() < 1e-10, "{hi}");
        assert!((test.effect_size.unwrap() - 1.281553425400648).abs() < 1e-10);
        // The bootstrap interval brackets the mean and lies inside the data's range.
        let (blo, bhi) = test.bootstrap95.unwrap();
        assert!(-0.05 <= blo && blo < test.mean && test.mean < bhi && bhi <= 0.31);
        assert_eq!(PairedTest::of(&d).bootstrap95, test.bootstrap95, "seeded");
        assert_eq!(PairedTest::of(&[0.1]).ci95, None);
        assert_eq!(PairedTest::of(&[0.5, 0.5, 0.5]).p_value, Some(0.0));
        assert_eq!(PairedTest::of(&[0.0, 0.0]).p_value, Some(1.0));
    }

    /// TOST as the larger of `ttest_1samp(d, -m, alternative="greater")` and
    /// `ttest_1samp(d, m, alternative="less")` (scipy 1.17.1), same d as above.
    #[test]
    fn tost_matches_scipy() {
        let d = [0.29, 0.15, 0.24, -0.05, 0.31];
        assert!((tost_p(&d, 0.5).unwrap() - 0.004466545062596054).abs() < 1e-10);
        assert!((tost_p(&d, 0.2).unwrap() - 0.43188148501012885).abs() < 1e-10);
        assert_eq!(tost_p(&[0.1], 0.5), None);
        // Its upper half alone, `ttest_1samp(d, 0.2, alternative="less")`.
        assert!((p_below(&d, 0.2).unwrap() - 0.43188148501012885).abs() < 1e-10);
    }

    /// `statsmodels.stats.multitest.multipletests(p, method="holm")[1]`.
    #[test]
    fn holm_matches_statsmodels() {
        let adjusted = holm(&[0.01, 0.04, 0.03, 0.005]);
        for (a, e) in adjusted.iter().zip([0.03, 0.06, 0.06, 0.02]) {
            assert!((a - e).abs() < 1e-12, "{adjusted:?}");
        }
        assert_eq!(holm(&[0.6, 0.9]), [1.0, 1.0]);
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
