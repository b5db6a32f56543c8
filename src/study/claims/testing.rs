//! Every claim's judge on synthetic runs: a clear win, a clear loss, a tie, and a diverged run.

use super::claim;
use crate::config::ExperimentConfig;
use crate::study::kind::{Budget, StudyKind};
use crate::study::lookup::Runs;
use crate::study::measures::{
    covariate_shift, landscape, probes, step_losses, train_subset, train_subset_loss,
};
use crate::study::plan;
use crate::study::runs::{Measured, RunContext, RunOutcome, RunSpec};
use crate::study::variant::Variant;
use crate::study::verdict::Verdict;
use crate::train::landscape::{LandscapePoint, STEP_SIZES, ShiftPoint};
use crate::train::{EpochMetrics, ProbePoint};

/// What a synthetic run measured.
struct Fake {
    val: f64,
    train: f64,
    /// Amplitude of the step-to-step loss noise.
    noise: f64,
    /// How far the probed percentiles move.
    drift: f32,
    /// Effective β-smoothness of the landscape readings.
    beta: f64,
    /// cos(G, G′) of the covariate-shift readings.
    cosine: f64,
    /// Inference-mode loss on the training subset.
    subset_loss: f64,
}

impl Default for Fake {
    fn default() -> Self {
        Self {
            val: 0.9,
            train: 0.95,
            noise: 0.1,
            drift: 1.0,
            beta: 2.0,
            cosine: 0.8,
            subset_loss: 0.05,
        }
    }
}

/// A small deterministic scatter per run, in [−1, 1].
fn jitter(spec: &RunSpec) -> f64 {
    let mut h = spec.seed().wrapping_mul(0x9e37_79b9_7f4a_7c15);
    for b in spec
        .series
        .name()
        .bytes()
        .chain(spec.point.to_string().bytes())
    {
        h = (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
    }
    (h >> 11) as f64 / (1u64 << 53) as f64 * 2.0 - 1.0
}

/// The runs of `kind` with effect `sign` (+1 for the claim, −1 against, 0 none).
fn effect(kind: StudyKind, spec: &RunSpec, sign: f64) -> Fake {
    let bn = spec.series == Variant::Bn;
    let x = spec.x();
    let mut fake = Fake::default();
    match kind {
        StudyKind::Convergence | StudyKind::Position => {
            if bn {
                fake.val += 0.05 * sign;
            }
        }
        StudyKind::Lr => {
            // The plain network suffers above 1e-3, on training accuracy too.
            if x > 1.5e-3 {
                fake.val = 0.8;
                fake.train = 0.8;
            }
            if bn {
                fake.val += 0.05 * sign;
            }
        }
        StudyKind::Init => {
            let plain = 0.9 - 0.05 * x.log10().abs();
            fake.val = match (bn, sign) {
                (true, s) if s > 0.0 => 0.9,
                (true, s) if s < 0.0 => 0.9 - 0.1 * x.log10().abs(),
                _ => plain,
            };
        }
        StudyKind::Batch => {
            let small = x < 8.0;
            let degrades = match spec.series {
                Variant::Bn => sign > 0.0,
                Variant::LayerNorm | Variant::GroupNorm => sign < 0.0,
                _ => false,
            };
            if small && degrades {
                fake.val -= 0.05;
            }
        }
        StudyKind::Depth => {
            fake.val = 0.9 - 0.02 * x.log2();
            if bn {
                fake.val += 0.01 * sign * x.log2();
            }
        }
        StudyKind::Regularization => {
            fake.train = if bn { 0.975 - 0.025 * sign } else { 0.975 };
            // The gap in loss (validation − training subset) shrinks with the claim.
            if bn {
                fake.subset_loss += 0.03 * sign;
            }
        }
        StudyKind::Smoothness => {
            if bn {
                fake.beta -= 1.0 * sign;
            }
        }
        StudyKind::Shift => {
            if bn {
                fake.cosine += 0.1 * sign;
            }
        }
        StudyKind::Noise => {
            if spec.series == Variant::NoisyBn {
                fake.val -= 0.05 * sign;
            }
        }
    }
    fake
}

fn outcome(spec: RunSpec, fake: Option<Fake>) -> RunOutcome {
    let epochs = spec.scale().epochs;
    let j = 0.002 * jitter(&spec);
    let context = RunContext::for_tests();
    let Some(fake) = fake else {
        return RunOutcome::diverged_for_tests(spec);
    };
    let metrics = (1..=epochs)
        .map(|e| {
            let val = fake.val - 0.01 * (epochs - e) as f64 + j;
            EpochMetrics {
                epoch: e,
                train_loss: 1.0 - fake.train,
                train_acc: fake.train,
                val_loss: 1.0 - val,
                val_acc: val,
                seconds: 1.0,
            }
        })
        .collect();
    let step_losses: Vec<f32> = (0..400)
        .map(|i| (0.5 + fake.noise * (1.0 + 20.0 * j) * if i % 2 == 0 { 1.0 } else { -1.0 }) as f32)
        .collect();
    let probes: Vec<ProbePoint> = (0..=20)
        .map(|k| {
            let p50 = fake.drift * (1.0 + 20.0 * j as f32) * k as f32 / 20.0;
            ProbePoint {
                step: 10 * k,
                p15: p50 - 1.0,
                p50,
                p85: p50 + 1.0,
                norm_input: (spec.series == Variant::Bn).then_some([p50 - 1.0, p50, p50 + 1.0]),
                unit: Some([p50 - 0.5, p50, p50 + 0.5]),
            }
        })
        .collect();
    let landscape: Vec<LandscapePoint> = (0..10)
        .map(|k| LandscapePoint {
            step: 25 * k,
            loss: 0.5,
            grad_norm: 1.0,
            losses: STEP_SIZES.iter().map(|eta| 0.5 - eta).collect(),
            grad_changes: STEP_SIZES
                .iter()
                .map(|eta| fake.beta * (1.0 + 20.0 * j) * eta)
                .collect(),
        })
        .collect();
    let covariate_shift: Vec<ShiftPoint> = (0..10)
        .map(|k| ShiftPoint {
            step: 25 * k,
            layer: 2,
            g_sq: 1.0,
            g_prime_sq: 1.0,
            dot: fake.cosine + 5.0 * j,
        })
        .collect();
    let mut measured = Measured::default();
    measured.insert(train_subset::ID, &vec![fake.train + j; epochs]);
    measured.insert(train_subset_loss::ID, &vec![fake.subset_loss + j; epochs]);
    measured.insert(step_losses::ID, &step_losses);
    measured.insert(probes::ID, &probes);
    measured.insert(landscape::ID, &landscape);
    measured.insert(covariate_shift::ID, &covariate_shift);
    RunOutcome {
        spec,
        context,
        epochs: metrics,
        diverged: None,
        measured,
        steps_per_epoch: 100,
        seconds: 1.0,
    }
}

/// The verdict and failed-run count of each finding, with run `failing` (plan order) diverged.
fn judged(kind: StudyKind, sign: f64, failing: Option<usize>) -> Vec<(Verdict, usize)> {
    let specs = plan::runs(kind, Budget::Tiny, Some(5), &ExperimentConfig::default());
    let outcomes: Vec<RunOutcome> = specs
        .iter()
        .cloned()
        .enumerate()
        .map(|(i, spec)| {
            let fake = (Some(i) != failing).then(|| effect(kind, &spec, sign));
            outcome(spec, fake)
        })
        .collect();
    claim(kind)
        .judge(&Runs::new(&outcomes, &specs))
        .expect("every claim asks only for its own grid")
        .findings
        .iter()
        .map(|f| (f.verdict, f.endpoints.iter().map(|e| e.failed_runs).sum()))
        .collect()
}

fn verdicts(kind: StudyKind, sign: f64) -> Vec<Verdict> {
    judged(kind, sign, None)
        .into_iter()
        .map(|(v, _)| v)
        .collect()
}

#[test]
fn a_clear_win_is_supported() {
    for kind in StudyKind::ALL {
        let v = verdicts(kind, 1.0);
        assert!(
            !v.is_empty() && v.iter().all(|v| *v == Verdict::Supported),
            "{kind}: {v:?}"
        );
    }
}

#[test]
fn a_clear_loss_is_contradicted() {
    for kind in StudyKind::ALL {
        let v = verdicts(kind, -1.0);
        assert!(
            v.iter().all(|v| *v == Verdict::Contradicted),
            "{kind}: {v:?}"
        );
    }
}

#[test]
fn a_tie_is_inconclusive() {
    for kind in StudyKind::ALL {
        let v = verdicts(kind, 0.0);
        if kind == StudyKind::Batch {
            // No norm degrades: BN does not degrade more (inconclusive), and LayerNorm and
            // GroupNorm are shown to hold within the margin (supported).
            assert_eq!(v, [Verdict::Inconclusive, Verdict::Supported]);
        } else {
            assert!(
                v.iter().all(|v| *v == Verdict::Inconclusive),
                "{kind}: {v:?}"
            );
        }
    }
}

#[test]
fn a_diverged_run_is_counted_and_never_supports() {
    for kind in StudyKind::ALL {
        let specs = plan::runs(kind, Budget::Tiny, Some(5), &ExperimentConfig::default());
        let mut counted = false;
        // Each BatchNorm run of one seed in turn diverges, in an otherwise clear win.
        for (i, _) in specs
            .iter()
            .enumerate()
            .filter(|(_, s)| s.seed() == 43 && s.series == Variant::Bn)
        {
            let judged = judged(kind, 1.0, Some(i));
            // Findings that need the failed run lose their clear win; the others keep it.
            assert!(
                judged
                    .iter()
                    .all(|(v, failed)| *failed == 0 || *v != Verdict::Supported),
                "{kind}, run {i}: {judged:?}"
            );
            counted |= judged.iter().any(|(_, failed)| *failed > 0);
        }
        assert!(counted, "{kind}: no primary endpoint needs a BatchNorm run");
    }
}

/// Every endpoint, primary or secondary, declares a positive smallest effect of interest, so
/// every "inconclusive" can say which kind it is.
#[test]
fn every_endpoint_declares_its_smallest_effect_of_interest() {
    for kind in StudyKind::ALL {
        let specs = plan::runs(kind, Budget::Tiny, Some(5), &ExperimentConfig::default());
        let outcomes: Vec<RunOutcome> = specs
            .iter()
            .map(|spec| outcome(spec.clone(), Some(effect(kind, spec, 0.0))))
            .collect();
        let judgement = claim(kind).judge(&Runs::new(&outcomes, &specs)).unwrap();
        let endpoints = judgement
            .findings
            .iter()
            .flat_map(|f| &f.endpoints)
            .chain(&judgement.secondary);
        for endpoint in endpoints {
            let sesoi = endpoint.sesoi.as_ref().map_or(f64::NAN, |s| s.value);
            assert!(sesoi > 0.0, "{kind}: {} has {sesoi}", endpoint.label);
            assert!(
                endpoint.mde.is_some_and(|m| m >= 0.0),
                "{kind}: {}",
                endpoint.label
            );
        }
    }
}
