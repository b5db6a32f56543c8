//! From a study's runs to its table, chart panels and verdict.

use serde::{Deserialize, Serialize};

use super::verdict::{Outcome, Stat};
use super::{Budget, RunOutcome, StudyKind, StudyOptions};
use crate::model::ModelKind;
use crate::train::STALE_SHARE;

pub use crate::report::Table;

/// Everything the report says about one study; `summary.json` holds it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StudySummary {
    pub study: StudyKind,
    pub title: String,
    pub claim: String,
    /// Networks, data, epochs and seeds, in words.
    pub setup: String,
    /// How the verdict is decided.
    pub rule: String,
    pub verdict: Outcome,
    /// The numbers behind the verdict, in one sentence.
    pub verdict_detail: String,
    pub table: Table,
    pub caveats: Vec<String>,
    pub budget: Budget,
    pub seeds: Vec<u64>,
    pub runs: usize,
    pub diverged_runs: usize,
}

/// The measure the study's table, chart and verdict rest on, per run.
pub(super) fn measure(study: StudyKind, run: &RunOutcome) -> f64 {
    match study {
        StudyKind::Regularization => accuracy_gap(run),
        StudyKind::Smoothness => roughness(&run.step_losses),
        StudyKind::Shift => drift(run),
        _ => run.final_val_acc(),
    }
}

/// Training minus validation accuracy after the last epoch (NaN for a diverged run).
pub fn accuracy_gap(run: &RunOutcome) -> f64 {
    match (&run.diverged, run.epochs.last()) {
        (None, Some(last)) => last.train_acc - last.val_acc,
        _ => f64::NAN,
    }
}

/// Standard deviation of the step-to-step change in training loss, leaving out the first
/// 10 % of steps (the initial descent, which is not noise).
pub fn roughness(losses: &[f32]) -> f64 {
    let skip = losses.len() / 10;
    let changes: Vec<f64> = losses[skip..]
        .windows(2)
        .map(|w| f64::from(w[1]) - f64::from(w[0]))
        .collect();
    if changes.len() < 2 {
        return f64::NAN;
    }
    Stat::of(changes).std
}

/// How far the probed distribution travels: the summed step-to-step movement of its 15th, 50th
/// and 85th percentiles, in units of its final 15–85 spread (scale-free, lower is steadier).
pub fn drift(run: &RunOutcome) -> f64 {
    let probes = &run.probes;
    let (Some(last), true) = (probes.last(), probes.len() >= 2) else {
        return f64::NAN;
    };
    let spread = f64::from(last.p85 - last.p15);
    let travel: f64 = probes
        .windows(2)
        .map(|w| {
            f64::from(
                (w[1].p15 - w[0].p15).abs()
                    + (w[1].p50 - w[0].p50).abs()
                    + (w[1].p85 - w[0].p85).abs(),
            )
        })
        .sum();
    if spread > 0.0 {
        travel / spread
    } else {
        f64::NAN
    }
}

pub(super) fn runs_of<'a>(
    outcomes: &'a [RunOutcome],
    series: &'a str,
    point: &'a str,
) -> impl Iterator<Item = &'a RunOutcome> {
    outcomes
        .iter()
        .filter(move |o| o.spec.series == series && o.spec.point == point)
}

pub(super) fn stat_of(
    outcomes: &[RunOutcome],
    series: &str,
    point: &str,
    f: impl Fn(&RunOutcome) -> f64,
) -> Stat {
    Stat::of(
        runs_of(outcomes, series, point)
            .map(f)
            .filter(|v| v.is_finite()),
    )
}

/// Grid points in plan order (first appearance).
pub(super) fn points(outcomes: &[RunOutcome]) -> Vec<(String, f64)> {
    let mut seen: Vec<(String, f64)> = Vec::new();
    for o in outcomes {
        if !seen.iter().any(|(p, _)| *p == o.spec.point) {
            seen.push((o.spec.point.clone(), o.spec.x));
        }
    }
    seen
}

pub(super) fn series_names(outcomes: &[RunOutcome]) -> Vec<String> {
    let mut seen: Vec<String> = Vec::new();
    for o in outcomes {
        if !seen.contains(&o.spec.series) {
            seen.push(o.spec.series.clone());
        }
    }
    seen
}

pub(super) fn pct(stat: Stat) -> String {
    if stat.n == 0 {
        "–".into()
    } else {
        stat.show(100.0, 2)
    }
}

/// Reduces a study's runs to its summary and verdict.
pub fn analyze(
    study: StudyKind,
    options: &StudyOptions,
    outcomes: &[RunOutcome],
    data_note: &str,
) -> StudySummary {
    let mut caveats = Vec::new();
    let diverged = outcomes.iter().filter(|o| o.diverged.is_some()).count();
    if diverged > 0 {
        caveats.push(format!(
            "{diverged} of {} runs diverged (the loss became non-finite); each counts as chance accuracy ({:.0} %) in the means.",
            outcomes.len(),
            100.0 * super::CHANCE_ACCURACY
        ));
    }
    if let Some(caveat) = stale_statistics_caveat(outcomes) {
        caveats.push(caveat);
    }
    let (table, comparisons_detail, verdict, rule) = super::decide::decide(study, outcomes);
    match study {
        StudyKind::Regularization => caveats.push(
            "Training accuracy is the mean over the last epoch's batches in training mode (BatchNorm with batch statistics), as Keras reports it.".into(),
        ),
        StudyKind::Smoothness => caveats.push(
            "Roughness = standard deviation of the step-to-step change in training loss after the first 10 % of steps; lower is smoother. The loss level matters too: a lower loss tends to move less.".into(),
        ),
        StudyKind::Shift => caveats.push(
            "The probe is the last hidden layer's input to its ReLU for the first 500 test images, computed as a training step sees it (BatchNorm with the probe batch's own statistics). Santurkar et al. (2018) argue that BatchNorm's benefit does not come from reducing this shift; this study only measures the shift.".into(),
        ),
        _ => {}
    }
    let mut seeds: Vec<u64> = outcomes.iter().map(|o| o.spec.seed()).collect();
    seeds.sort_unstable();
    seeds.dedup();
    StudySummary {
        study,
        title: study.title().into(),
        claim: study.claim().into(),
        setup: setup(outcomes, &seeds, data_note, options),
        rule,
        verdict,
        verdict_detail: comparisons_detail,
        table,
        caveats,
        budget: options.budget,
        seeds,
        runs: outcomes.len(),
        diverged_runs: diverged,
    }
}

/// Names the runs and epochs whose BatchNorm validation used a running variance that was still
/// mostly its initial value (see `train::hooks::initial_variance_share`).
fn stale_statistics_caveat(outcomes: &[RunOutcome]) -> Option<String> {
    let mut places: Vec<String> = Vec::new();
    let mut worst = (0.0f64, String::new());
    let mut flagged_runs = 0;
    for o in outcomes {
        let stale: Vec<(usize, f64)> = o
            .bn_initial_variance_shares
            .iter()
            .enumerate()
            .filter(|(_, share)| **share > STALE_SHARE)
            .map(|(i, share)| (i + 1, *share))
            .collect();
        if stale.is_empty() {
            continue;
        }
        flagged_runs += 1;
        let epochs: Vec<String> = stale.iter().map(|(e, _)| e.to_string()).collect();
        let place = format!(
            "{} · {} (epoch {})",
            o.spec.series,
            o.spec.point,
            epochs.join(", ")
        );
        if !places.contains(&place) {
            places.push(place);
        }
        for (epoch, share) in stale {
            if share > worst.0 {
                worst = (
                    share,
                    format!("{} · {}, epoch {epoch}", o.spec.series, o.spec.point),
                );
            }
        }
    }
    (flagged_runs > 0).then(|| {
        format!(
            "BatchNorm's running variance starts at 1 and forgets 1 % of that start per step (Keras momentum 0.99); a layer whose true variance is small (the CNN's first conv layer: ~0.005) needs about 900 steps before validation stops dividing by a variance far larger than the true one. In {flagged_runs} of {} runs, after some epochs over {:.0} % of some channel's running variance was still that start — {} — so validation accuracy there understates the network (worst {:.0} %, {}).",
            outcomes.len(),
            100.0 * STALE_SHARE,
            places.join("; "),
            100.0 * worst.0,
            worst.1
        )
    })
}

fn setup(
    outcomes: &[RunOutcome],
    seeds: &[u64],
    data_note: &str,
    options: &StudyOptions,
) -> String {
    let mut parts: Vec<String> = Vec::new();
    for model in ModelKind::ALL {
        let Some(run) = outcomes.iter().find(|o| o.spec.model() == model) else {
            continue;
        };
        let scale = run.spec.scale();
        let samples = |limit: Option<usize>, what: &str| match limit {
            Some(n) => format!("the first {n} {what} samples"),
            None => format!("all {what} samples"),
        };
        parts.push(format!(
            "{}: {} epochs on {}, validated on {}",
            model.name().to_uppercase(),
            scale.epochs,
            samples(scale.limit_train, "training"),
            samples(scale.limit_test, "test")
        ));
    }
    let seeds: Vec<String> = seeds.iter().map(u64::to_string).collect();
    format!(
        "{}. Adam (lr {} and batch {} unless varied), Keras defaults otherwise; seeds {}; {} backend; {}.",
        parts.join("; "),
        options.base.training.learning_rate,
        options.base.training.batch_size,
        seeds.join(", "),
        options.backend.kind,
        data_note
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::study::plan;
    use crate::train::ProbePoint;

    #[test]
    fn roughness_ignores_the_initial_descent() {
        let mut losses: Vec<f32> = (0..10).map(|i| 10.0 - i as f32).collect();
        losses.extend((0..90).map(|i| if i % 2 == 0 { 1.0 } else { 1.2 }));
        let value = roughness(&losses);
        assert!((value - 0.2).abs() < 0.01, "{value}");
        assert!(roughness(&[1.0, 1.0]).is_nan());
    }

    #[test]
    fn drift_is_travel_over_final_spread() {
        let spec = plan::runs(StudyKind::Shift, Budget::Tiny, 1, &Default::default()).remove(0);
        let probe = |step, p50: f32| ProbePoint {
            step,
            p15: p50 - 1.0,
            p50,
            p85: p50 + 1.0,
        };
        let run = RunOutcome {
            spec,
            context: crate::study::RunContext {
                dataset_sha256: String::new(),
                backend: crate::runtime::BackendKind::Flex,
                bnx_version: String::new(),
                flush_subnormals: true,
            },
            epochs: Vec::new(),
            diverged: None,
            bn_initial_variance_shares: Vec::new(),
            step_losses: Vec::new(),
            probes: vec![probe(0, 0.0), probe(10, 1.0), probe(20, 0.0)],
            seconds: 0.0,
        };
        // Each percentile moves 1 and back: 6 units of travel over a spread of 2.
        assert!((drift(&run) - 3.0).abs() < 1e-9);
    }
}
