//! The power of the paired t-test, and from it the minimum detectable effect: the smallest true
//! mean difference the two-sided test at level α detects with the stated probability, given n
//! seeds and the spread of their differences.
//!
//! Exact, from the non-central t distribution (the statistic is (Z + δ) / √(V/df) with
//! V ~ χ²(df)), integrated numerically over V; tested against statsmodels' `TTestPower`.
//! Written here for the same reason as `stats`: one integral, no dependency tree.

use super::stats::{ln_gamma, t_quantile};

/// The probability that the two-sided one-sample t-test at level `alpha` rejects, with `n`
/// values whose true standardized mean is `effect` (mean / sd). `n` ≥ 2.
pub fn power(effect: f64, n: usize, alpha: f64) -> f64 {
    let df = (n - 1) as f64;
    let critical = t_quantile(1.0 - alpha / 2.0, df);
    let shift = effect * (n as f64).sqrt();
    // S = √(V/df): the test rejects when |Z + δ| > c·S. Integrate P(reject | S) over S's
    // density by Simpson's rule on [0, upper], where the density has long become negligible.
    let half = 0.5 * df;
    let ln_norm = half * 2f64.ln() + ln_gamma(half);
    let density = |s: f64| {
        if s <= 0.0 {
            return if df == 1.0 {
                // V's density diverges at 0 like v^(−1/2), S's stays finite: 2·√(1/2π).
                (2.0 / std::f64::consts::PI).sqrt()
            } else {
                0.0
            };
        }
        let v = df * s * s;
        ((half - 1.0) * v.ln() - 0.5 * v - ln_norm).exp() * 2.0 * df * s
    };
    let reject = |s: f64| normal_cdf(shift - critical * s) + normal_cdf(-shift - critical * s);
    let upper = 1.0 + 12.0 / df.sqrt();
    let intervals = 4_000;
    let h = upper / intervals as f64;
    let mut sum = 0.0;
    for i in 0..=intervals {
        let s = i as f64 * h;
        let weight = match i {
            0 => 1.0,
            i if i == intervals => 1.0,
            i if i % 2 == 1 => 4.0,
            _ => 2.0,
        };
        sum += weight * density(s) * reject(s);
    }
    sum * h / 3.0
}

/// The standardized effect (mean / sd of the differences) that the two-sided paired t-test at
/// level `alpha` detects with probability `target` from `n` seeds. `None` below two seeds.
/// Remembered per (n, alpha, target): every endpoint asks, and the null-data simulations judge
/// tens of thousands of them.
pub fn detectable_effect(n: usize, alpha: f64, target: f64) -> Option<f64> {
    use std::collections::HashMap;
    use std::sync::{Mutex, OnceLock};
    static KNOWN: OnceLock<Mutex<HashMap<(usize, u64, u64), f64>>> = OnceLock::new();
    if n < 2 {
        return None;
    }
    let key = (n, alpha.to_bits(), target.to_bits());
    let known = KNOWN.get_or_init(Default::default);
    if let Some(effect) = known.lock().ok().and_then(|k| k.get(&key).copied()) {
        return Some(effect);
    }
    let effect = solve_effect(n, alpha, target);
    if let Ok(mut k) = known.lock() {
        k.insert(key, effect);
    }
    Some(effect)
}

fn solve_effect(n: usize, alpha: f64, target: f64) -> f64 {
    // Power rises with the effect: bisect, after doubling the bracket until it holds target.
    let (mut lo, mut hi) = (0.0f64, 1.0f64);
    while power(hi, n, alpha) < target {
        hi *= 2.0;
    }
    for _ in 0..50 {
        let mid = 0.5 * (lo + hi);
        if power(mid, n, alpha) < target {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    0.5 * (lo + hi)
}

/// Φ(x), the standard normal distribution function.
fn normal_cdf(x: f64) -> f64 {
    0.5 * libm::erfc(-x / std::f64::consts::SQRT_2)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `statsmodels.stats.power.TTestPower().solve_power(nobs=n, alpha=0.05, power=0.8)`
    /// (statsmodels 0.14).
    #[test]
    fn detectable_effects_match_statsmodels() {
        for (n, expected) in [
            (3, 3.264043552819638),
            (5, 1.6819970833232674),
            (10, 0.9960019107624178),
            (20, 0.6604416544380312),
        ] {
            let effect = detectable_effect(n, 0.05, 0.8).unwrap();
            assert!(
                (effect - expected).abs() < 1e-5 * expected,
                "n {n}: {effect} vs {expected}"
            );
        }
        assert_eq!(detectable_effect(1, 0.05, 0.8), None);
    }

    /// With no effect the test rejects at its level; `TTestPower().power(0.5, 8, 0.05)`.
    #[test]
    fn power_at_zero_is_alpha() {
        assert!((power(0.0, 5, 0.05) - 0.05).abs() < 1e-6);
        assert!((power(0.0, 2, 0.05) - 0.05).abs() < 1e-4);
        let p = power(0.5, 8, 0.05);
        assert!((p - EXPECTED_POWER_HALF_8).abs() < 1e-6, "{p}");
    }

    const EXPECTED_POWER_HALF_8: f64 = 0.23207700463899142;
}
