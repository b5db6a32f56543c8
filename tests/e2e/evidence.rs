//! The committed quick-budget study, recomputed from its `run.json` files without bnx's
//! statistics code: one verdict of each kind (a paired t-test, the exact sign-flip test, Holm
//! over a study's secondaries, TOST within a non-inferiority margin) must match what
//! `summary.json` says. The t distribution here is integrated numerically (Simpson's rule on its
//! density), not taken from bnx's incomplete-beta continued fraction, so an error in either
//! shows as a mismatch.

use std::path::{Path, PathBuf};

use serde_json::Value;

fn study_dir(study: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("results/study")
        .join(study)
}

fn read(path: &Path) -> Value {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap()
}

/// Final validation accuracy of one run (chance for a diverged one, as the study scores it).
fn final_accuracy(study: &str, variant: &str, point: &str, seed: u64) -> f64 {
    let run = read(&study_dir(study).join(format!("{variant}/{point}/seed-{seed}/run.json")));
    if !run["diverged"].is_null() {
        return 0.1;
    }
    run["epochs"].as_array().unwrap().last().unwrap()["val_acc"]
        .as_f64()
        .unwrap()
}

const SEEDS: [u64; 5] = [42, 43, 44, 45, 46];

fn differences(f: impl Fn(u64) -> f64) -> Vec<f64> {
    SEEDS.iter().map(|&s| f(s)).collect()
}

fn mean_sd(d: &[f64]) -> (f64, f64) {
    let n = d.len() as f64;
    let mean = d.iter().sum::<f64>() / n;
    let var = d.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1.0);
    (mean, var.sqrt())
}

/// Γ(k/2) for a positive integer k, exactly by recursion from Γ(1) = 1 and Γ(1/2) = √π.
fn gamma_half(k: u32) -> f64 {
    match k {
        1 => std::f64::consts::PI.sqrt(),
        2 => 1.0,
        _ => (k as f64 / 2.0 - 1.0) * gamma_half(k - 2),
    }
}

/// P(T ≤ t) for Student's t with `df` (integer) degrees of freedom: ½ + ∫₀ᵗ density.
fn t_cdf(t: f64, df: u32) -> f64 {
    let v = df as f64;
    let c = gamma_half(df + 1) / ((v * std::f64::consts::PI).sqrt() * gamma_half(df));
    let density = |x: f64| c * (1.0 + x * x / v).powf(-(v + 1.0) / 2.0);
    let steps = 20_000;
    let h = t.abs() / steps as f64;
    let mut sum = density(0.0) + density(t.abs());
    for i in 1..steps {
        sum += if i % 2 == 1 { 4.0 } else { 2.0 } * density(i as f64 * h);
    }
    let half_area = sum * h / 3.0;
    if t >= 0.0 {
        0.5 + half_area
    } else {
        0.5 - half_area
    }
}

/// The paired t-test's two-sided p-value.
fn t_test(d: &[f64]) -> f64 {
    let (mean, sd) = mean_sd(d);
    let t = mean / (sd / (d.len() as f64).sqrt());
    2.0 * (1.0 - t_cdf(t.abs(), d.len() as u32 - 1))
}

/// One-sided p of "mean ≥ bound" against "mean < bound".
fn t_below(d: &[f64], bound: f64) -> f64 {
    let (mean, sd) = mean_sd(d);
    t_cdf(
        (mean - bound) / (sd / (d.len() as f64).sqrt()),
        d.len() as u32 - 1,
    )
}

/// Exact two-sided sign-flip p-value: the share of the 2ⁿ sign patterns on |d| whose sum is at
/// least the observed one in size.
fn sign_flip(d: &[f64]) -> f64 {
    let observed = d.iter().sum::<f64>().abs();
    let patterns = 1u32 << d.len();
    let extreme = (0..patterns)
        .filter(|p| {
            let sum: f64 = d
                .iter()
                .enumerate()
                .map(|(i, x)| if p >> i & 1 == 1 { -x.abs() } else { x.abs() })
                .sum();
            sum.abs() >= observed - 1e-12
        })
        .count();
    extreme as f64 / patterns as f64
}

/// Holm's step-down adjustment, in input order.
fn holm(p: &[f64]) -> Vec<f64> {
    let mut order: Vec<usize> = (0..p.len()).collect();
    order.sort_by(|&a, &b| p[a].partial_cmp(&p[b]).unwrap());
    let mut adjusted = vec![0.0; p.len()];
    let mut floor = 0.0f64;
    for (rank, &i) in order.iter().enumerate() {
        floor = floor.max(((p.len() - rank) as f64 * p[i]).min(1.0));
        adjusted[i] = floor;
    }
    adjusted
}

fn close(actual: f64, expected: &Value, what: &str) {
    let expected = expected
        .as_f64()
        .unwrap_or_else(|| panic!("{what}: no number"));
    assert!(
        (actual - expected).abs() < 1e-7,
        "{what}: recomputed {actual}, summary.json {expected}"
    );
}

/// `position`'s primary (MLP, BN before − after the ReLU): the t-test's p and verdict, and the
/// exact sign-flip p with the verdict it gives.
#[test]
fn position_primary_by_t_and_by_sign_flip() {
    let summary = read(&study_dir("position").join("summary.json"));
    let finding = &summary["findings"][0];
    let endpoint = &finding["endpoints"][0];
    let d = differences(|s| {
        final_accuracy("position", "bn", "mlp", s)
            - final_accuracy("position", "bn-after", "mlp", s)
    });
    let p = t_test(&d);
    close(p, &endpoint["p_adjusted"], "t-test p");
    let verdict = if p >= 0.05 {
        "inconclusive"
    } else if mean_sd(&d).0 > 0.0 {
        "supported"
    } else {
        "contradicted"
    };
    assert_eq!(finding["verdict"], verdict);
    let exact = sign_flip(&d);
    close(exact, &endpoint["p_sign_flip"], "sign-flip p");
    let alternative = &finding["alternatives"][0];
    assert_eq!(alternative["name"], "exact sign-flip test");
    let expected = if exact < 0.05 {
        verdict
    } else {
        "inconclusive"
    };
    assert_eq!(alternative["verdict"], expected);
}

/// `position`'s secondaries (each BN placement − no BN, final validation accuracy) are one Holm
/// family.
#[test]
fn position_secondaries_are_holm_adjusted() {
    let summary = read(&study_dir("position").join("summary.json"));
    let secondary = summary["secondary"].as_array().unwrap();
    let raw: Vec<f64> = ["bn", "bn-after"]
        .iter()
        .map(|variant| {
            t_test(&differences(|s| {
                final_accuracy("position", variant, "mlp", s)
                    - final_accuracy("position", "no-bn", "mlp", s)
            }))
        })
        .collect();
    assert_eq!(secondary.len(), raw.len());
    for ((endpoint, raw), adjusted) in secondary.iter().zip(&raw).zip(holm(&raw)) {
        close(*raw, &endpoint["test"]["p_value"], "raw p");
        close(adjusted, &endpoint["p_adjusted"], "Holm p");
        let verdict = if adjusted < 0.05 {
            "supported"
        } else {
            "inconclusive"
        };
        assert_eq!(endpoint["verdict"], verdict, "{}", endpoint["label"]);
    }
}

/// `batch`'s "LayerNorm holds" at batch 2: its drop (accuracy at 32 − at 2) within the 1 pp
/// margin by TOST, and the non-inferiority p.
#[test]
fn batch_layer_norm_tost() {
    let summary = read(&study_dir("batch").join("summary.json"));
    let endpoint = summary["findings"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|f| f["endpoints"].as_array().unwrap())
        .find(|e| e["label"] == "batch 2: LayerNorm's drop (at 32 − at 2)")
        .expect("the endpoint");
    let margin = 0.01;
    close(margin, &endpoint["no_worse"]["margin"], "margin");
    let d = differences(|s| {
        final_accuracy("batch", "layernorm", "batch-32", s)
            - final_accuracy("batch", "layernorm", "batch-2", s)
    });
    let negated: Vec<f64> = d.iter().map(|x| -x).collect();
    let below = t_below(&d, margin);
    let above = t_below(&negated, margin);
    close(below, &endpoint["no_worse"]["p"], "non-inferiority p");
    close(below.max(above), &endpoint["no_worse"]["p_tost"], "TOST p");
    close(below.max(above), &endpoint["p_equivalent"], "equivalence p");
}
