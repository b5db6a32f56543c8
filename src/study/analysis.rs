//! From a study's runs to its table, chart panels and verdict.

use serde::{Deserialize, Serialize};

use super::plan::{BN_AFTER, BN_BEFORE, NO_BN, WITH_BN};
use super::verdict::{self, Comparison, Outcome, Stat};
use super::{Budget, RunOutcome, StudyKind, StudyOptions};
use crate::model::{ModelKind, NormKind};
use crate::report::charts::{BN_COLOR, Curve, Legend, NO_BN_COLOR, PALETTE, Panel, XScale};
use crate::train::STALE_SHARE;

/// A Markdown-ready table.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Table {
    pub headers: Vec<String>,
    pub rows: Vec<Vec<String>>,
}

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
fn measure(study: StudyKind, run: &RunOutcome) -> f64 {
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

fn runs_of<'a>(
    outcomes: &'a [RunOutcome],
    series: &'a str,
    point: &'a str,
) -> impl Iterator<Item = &'a RunOutcome> {
    outcomes
        .iter()
        .filter(move |o| o.spec.series == series && o.spec.point == point)
}

fn stat_of(
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
fn points(outcomes: &[RunOutcome]) -> Vec<(String, f64)> {
    let mut seen: Vec<(String, f64)> = Vec::new();
    for o in outcomes {
        if !seen.iter().any(|(p, _)| *p == o.spec.point) {
            seen.push((o.spec.point.clone(), o.spec.x));
        }
    }
    seen
}

fn series_names(outcomes: &[RunOutcome]) -> Vec<String> {
    let mut seen: Vec<String> = Vec::new();
    for o in outcomes {
        if !seen.contains(&o.spec.series) {
            seen.push(o.spec.series.clone());
        }
    }
    seen
}

fn pct(stat: Stat) -> String {
    if stat.n == 0 {
        "–".into()
    } else {
        stat.show(100.0, 2)
    }
}

fn color_of(series: &str, index: usize) -> plotters::style::RGBColor {
    match series {
        NO_BN | "No norm" => NO_BN_COLOR,
        WITH_BN | "BatchNorm" | BN_BEFORE => BN_COLOR,
        _ => PALETTE[index % PALETTE.len()],
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
    let (table, comparisons_detail, verdict, rule) = decide(study, outcomes);
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
    let mut seeds: Vec<u64> = outcomes.iter().map(|o| o.spec.seed).collect();
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
/// mostly its initial value (see `train::initial_variance_share`).
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
        let scale = run.spec.scale;
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
        options.base.learning_rate,
        options.base.batch_size,
        seeds.join(", "),
        options.base.backend,
        data_note
    )
}

/// Table, verdict detail, verdict and rule for each study.
fn decide(study: StudyKind, outcomes: &[RunOutcome]) -> (Table, String, Outcome, String) {
    let grid_rule = verdict::GRID_RULE.to_string();
    let acc = |o: &RunOutcome| o.final_val_acc();
    match study {
        StudyKind::Convergence => {
            let mut rows = Vec::new();
            let mut comparisons = Vec::new();
            for (point, _) in points(outcomes) {
                let epochs = runs_of(outcomes, NO_BN, &point)
                    .map(|o| o.spec.scale.epochs)
                    .max()
                    .unwrap_or(0);
                for epoch in 1..=epochs {
                    let none = stat_of(outcomes, NO_BN, &point, |o| o.val_acc_at(epoch));
                    let bn = stat_of(outcomes, WITH_BN, &point, |o| o.val_acc_at(epoch));
                    let c = Comparison::of(bn, none, true);
                    comparisons.push(c);
                    rows.push(vec![
                        point.clone(),
                        epoch.to_string(),
                        pct(none),
                        pct(bn),
                        c.word().into(),
                    ]);
                }
            }
            let table = table(
                &[
                    "Network",
                    "Epoch",
                    "No BN val acc (%)",
                    "With BN val acc (%)",
                    "With BN is",
                ],
                rows,
            );
            let detail = format!(
                "With BN vs no BN, validation accuracy per network and epoch: {}.",
                verdict::tally(&comparisons)
            );
            (
                table,
                detail,
                verdict::over_grid(&comparisons),
                format!("Grid points: every (network, epoch). {grid_rule}."),
            )
        }
        StudyKind::Lr | StudyKind::Init | StudyKind::Depth => {
            let mut rows = Vec::new();
            let mut comparisons = Vec::new();
            let mut advantages = Vec::new();
            for (point, x) in points(outcomes) {
                let none = stat_of(outcomes, NO_BN, &point, acc);
                let bn = stat_of(outcomes, WITH_BN, &point, acc);
                let c = Comparison::of(bn, none, true);
                let counted = match study {
                    StudyKind::Lr => x > 1e-3 * 1.0001,
                    StudyKind::Init => (x - 1.0).abs() > 1e-9,
                    _ => true,
                };
                if counted {
                    comparisons.push(c);
                }
                advantages.push((x, bn.mean - none.mean, bn.std + none.std, c));
                rows.push(vec![
                    point.clone(),
                    pct(none),
                    pct(bn),
                    format!("{:+.2}", 100.0 * (bn.mean - none.mean)),
                    if counted {
                        c.word().into()
                    } else {
                        format!("({}; not counted)", c.word())
                    },
                ]);
            }
            let table = table(
                &[
                    "Setting",
                    "No BN val acc (%)",
                    "With BN val acc (%)",
                    "BN − no BN (pp)",
                    "With BN is",
                ],
                rows,
            );
            match study {
                StudyKind::Lr => {
                    let best = |series: &str| {
                        points(outcomes)
                            .into_iter()
                            .map(|(p, x)| (x, stat_of(outcomes, series, &p, acc).mean))
                            .max_by(|a, b| a.1.total_cmp(&b.1))
                            .unwrap_or((f64::NAN, f64::NAN))
                    };
                    let (none_best, bn_best) = (best(NO_BN), best(WITH_BN));
                    let detail = format!(
                        "At learning rates above 1e-3, with BN is {}. Best learning rate: no BN {} ({:.2} %), with BN {} ({:.2} %).",
                        verdict::tally(&comparisons),
                        none_best.0,
                        100.0 * none_best.1,
                        bn_best.0,
                        100.0 * bn_best.1
                    );
                    (
                        table,
                        detail,
                        verdict::over_grid(&comparisons),
                        format!(
                            "Grid points: the learning rates above the default 1e-3, final validation accuracy. {grid_rule}."
                        ),
                    )
                }
                StudyKind::Init => {
                    let range = |series: &str| {
                        let means: Vec<f64> = points(outcomes)
                            .iter()
                            .map(|(p, _)| stat_of(outcomes, series, p, acc).mean)
                            .collect();
                        means.iter().cloned().fold(f64::MIN, f64::max)
                            - means.iter().cloned().fold(f64::MAX, f64::min)
                    };
                    let detail = format!(
                        "At init scales other than 1, with BN is {}. Spread of mean accuracy across all scales: no BN {:.2} pp, with BN {:.2} pp.",
                        verdict::tally(&comparisons),
                        100.0 * range(NO_BN),
                        100.0 * range(WITH_BN)
                    );
                    (
                        table,
                        detail,
                        verdict::over_grid(&comparisons),
                        format!(
                            "Grid points: the init scales other than 1 (Keras' Glorot-uniform), final validation accuracy. {grid_rule}."
                        ),
                    )
                }
                _ => {
                    let (shallow, deep) = (advantages.first().cloned(), advantages.last().cloned());
                    let (verdict, detail) = match (shallow, deep) {
                        (Some(s), Some(d)) => {
                            let grows = d.1 - s.1 > s.2;
                            let verdict = match (d.3 == Comparison::Better, grows) {
                                (true, true) => Outcome::Supported,
                                (true, false) => Outcome::Mixed,
                                (false, _) => Outcome::NotSupported,
                            };
                            let detail = format!(
                                "BN − no BN: {:+.2} pp at {} hidden layers, {:+.2} pp at {}; with BN at the deepest setting is {}.",
                                100.0 * s.1,
                                s.0,
                                100.0 * d.1,
                                d.0,
                                d.3.word()
                            );
                            (verdict, detail)
                        }
                        _ => (Outcome::NotSupported, "no runs".into()),
                    };
                    (table, detail, verdict, "**Supported** if with BN is better (mean ahead by more than the sum of the standard deviations) at the deepest setting and its advantage there exceeds its advantage at the shallowest setting by more than the shallowest setting's sum of standard deviations; **mixed** if it is better at the deepest setting without that growth; **not supported** if it is not better at the deepest setting.".into())
                }
            }
        }
        StudyKind::Batch => {
            let norms: Vec<&str> = NormKind::ALL.iter().map(|n| n.title()).collect();
            let pts = points(outcomes);
            let reference = pts.iter().find(|(_, x)| *x == 32.0).map(|(p, _)| p.clone());
            let mut rows = Vec::new();
            for (point, _) in &pts {
                let mut row = vec![point.clone()];
                row.extend(norms.iter().map(|n| pct(stat_of(outcomes, n, point, acc))));
                rows.push(row);
            }
            let mut headers = vec!["Batch size".to_string()];
            headers.extend(norms.iter().map(|n| format!("{n} val acc (%)")));
            let table = Table { headers, rows };
            let small: Vec<&String> = pts
                .iter()
                .filter(|(_, x)| *x < 8.0)
                .map(|(p, _)| p)
                .collect();
            let Some(reference) = reference else {
                return (
                    table,
                    "batch 32 is missing from the grid".into(),
                    Outcome::NotSupported,
                    String::new(),
                );
            };
            let vs_32 = |norm: &str, point: &str| {
                Comparison::of(
                    stat_of(outcomes, norm, point, acc),
                    stat_of(outcomes, norm, &reference, acc),
                    true,
                )
            };
            let bn_worse = small
                .iter()
                .filter(|p| vs_32("BatchNorm", p) == Comparison::Worse)
                .count();
            let others: Vec<(&str, usize)> = ["LayerNorm", "GroupNorm"]
                .iter()
                .map(|n| {
                    (
                        *n,
                        small
                            .iter()
                            .filter(|p| vs_32(n, p) == Comparison::Worse)
                            .count(),
                    )
                })
                .collect();
            let bn_degrades = !small.is_empty() && bn_worse == small.len();
            let others_hold = others.iter().all(|(_, worse)| *worse == 0);
            let verdict = match (bn_degrades, others_hold) {
                (true, true) => Outcome::Supported,
                (false, false) => Outcome::NotSupported,
                _ => Outcome::Mixed,
            };
            let detail = format!(
                "Below batch 8, BatchNorm is worse than at batch 32 at {bn_worse} of {} sizes; {}.",
                small.len(),
                others
                    .iter()
                    .map(|(n, w)| format!("{n} at {w} of {}", small.len()))
                    .collect::<Vec<_>>()
                    .join(", ")
            );
            (table, detail, verdict, "Each norm at each batch size below 8 is compared with the same norm at batch 32 (worse = mean behind by more than the sum of the standard deviations). **Supported** if BatchNorm is worse at every size below 8 and LayerNorm and GroupNorm are worse at none; **not supported** if neither half holds; **mixed** otherwise. Every run sees the same number of samples, so small batches take more steps.".into())
        }
        StudyKind::Position => {
            let mut rows = Vec::new();
            let mut comparisons = Vec::new();
            for (point, _) in points(outcomes) {
                let none = stat_of(outcomes, NO_BN, &point, acc);
                let before = stat_of(outcomes, BN_BEFORE, &point, acc);
                let after = stat_of(outcomes, BN_AFTER, &point, acc);
                let c = Comparison::of(before, after, true);
                comparisons.push(c);
                rows.push(vec![
                    point,
                    pct(none),
                    pct(before),
                    pct(after),
                    c.word().into(),
                ]);
            }
            let table = table(
                &[
                    "Network",
                    "No BN val acc (%)",
                    "BN before ReLU (%)",
                    "BN after ReLU (%)",
                    "Before is",
                ],
                rows,
            );
            let detail = format!(
                "BN before vs after the ReLU, final validation accuracy: {}.",
                verdict::tally(&comparisons)
            );
            (
                table,
                detail,
                verdict::over_grid(&comparisons),
                format!("Grid points: the networks (claim side: BN before the ReLU). {grid_rule}."),
            )
        }
        StudyKind::Regularization | StudyKind::Smoothness | StudyKind::Shift => {
            let point = points(outcomes)
                .first()
                .map(|p| p.0.clone())
                .unwrap_or_default();
            let m = |series: &str| stat_of(outcomes, series, &point, |o| measure(study, o));
            let (none, bn) = (m(NO_BN), m(WITH_BN));
            let c = Comparison::of(bn, none, false);
            let (name, factor, digits, unit) = match study {
                StudyKind::Regularization => ("train − val accuracy gap", 100.0, 2, " pp"),
                StudyKind::Smoothness => {
                    ("roughness (std of step-to-step loss change)", 1.0, 4, "")
                }
                _ => (
                    "drift of the probed percentiles (final 15–85 spreads travelled)",
                    1.0,
                    2,
                    "",
                ),
            };
            let mut rows = Vec::new();
            for series in [NO_BN, WITH_BN] {
                let runs: Vec<&RunOutcome> = runs_of(outcomes, series, &point).collect();
                let extra = match study {
                    StudyKind::Regularization => {
                        let train = Stat::of(
                            runs.iter()
                                .filter_map(|o| o.epochs.last())
                                .map(|e| e.train_acc),
                        );
                        format!(
                            "train {} %, val {} %",
                            pct(train),
                            pct(stat_of(outcomes, series, &point, acc))
                        )
                    }
                    StudyKind::Smoothness => {
                        let last = Stat::of(
                            runs.iter()
                                .filter_map(|o| o.epochs.last())
                                .map(|e| e.train_loss),
                        );
                        format!("last-epoch train loss {}", last.show(1.0, 4))
                    }
                    _ => {
                        let ends = |f: fn(&crate::train::ProbePoint) -> f32, first: bool| {
                            Stat::of(
                                runs.iter()
                                    .filter_map(|o| {
                                        if first {
                                            o.probes.first()
                                        } else {
                                            o.probes.last()
                                        }
                                    })
                                    .map(|p| f64::from(f(p))),
                            )
                        };
                        format!(
                            "15/50/85th percentiles at start {:.2} / {:.2} / {:.2}, at end {:.2} / {:.2} / {:.2}",
                            ends(|p| p.p15, true).mean,
                            ends(|p| p.p50, true).mean,
                            ends(|p| p.p85, true).mean,
                            ends(|p| p.p15, false).mean,
                            ends(|p| p.p50, false).mean,
                            ends(|p| p.p85, false).mean
                        )
                    }
                };
                let stat = if series == NO_BN { none } else { bn };
                rows.push(vec![
                    series.to_string(),
                    format!("{}{unit}", stat.show(factor, digits)),
                    extra,
                ]);
            }
            let table = table(&["Variant", name, "Context"], rows);
            let detail = format!(
                "{name}: no BN {}{unit}, with BN {}{unit}; with BN is {} (lower is better).",
                none.show(factor, digits),
                bn.show(factor, digits),
                c.word()
            );
            let rule = format!(
                "One comparison of the {name} (lower is better): **supported** if with BN is lower by more than the sum of the standard deviations over seeds, otherwise **not supported**."
            );
            (table, detail, verdict::over_grid(&[c]), rule)
        }
    }
}

fn table(headers: &[&str], rows: Vec<Vec<String>>) -> Table {
    Table {
        headers: headers.iter().map(|h| h.to_string()).collect(),
        rows,
    }
}

/// The study's chart: means over seeds with a ±1 standard deviation band.
pub fn panels(study: StudyKind, outcomes: &[RunOutcome]) -> Vec<Panel> {
    let series = series_names(outcomes);
    let acc = |o: &RunOutcome| 100.0 * o.final_val_acc();
    // One curve per series over the grid points, of `f` per run.
    let over_grid = |f: &dyn Fn(&RunOutcome) -> f64| -> Vec<Curve> {
        series
            .iter()
            .enumerate()
            .map(|(i, name)| {
                let stats: Vec<(f64, Stat)> = points(outcomes)
                    .into_iter()
                    .map(|(p, x)| (x, stat_of(outcomes, name, &p, f)))
                    .collect();
                Curve::line(
                    name.clone(),
                    color_of(name, i),
                    stats.iter().map(|(x, s)| (*x, s.mean)).collect(),
                )
                .with_spread(stats.iter().map(|(_, s)| s.std).collect())
            })
            .collect()
    };
    // Per-epoch curves of one grid point.
    let per_epoch =
        |point: &str, f: &dyn Fn(&crate::train::EpochMetrics) -> f64, dashed: bool| -> Vec<Curve> {
            series
                .iter()
                .enumerate()
                .filter_map(|(i, name)| {
                    let runs: Vec<&RunOutcome> = runs_of(outcomes, name, point).collect();
                    let epochs = runs.iter().map(|o| o.spec.scale.epochs).max()?;
                    let stats: Vec<Stat> = (1..=epochs)
                        .map(|e| Stat::of(runs.iter().filter_map(|o| o.epochs.get(e - 1)).map(f)))
                        .collect();
                    let points = stats
                        .iter()
                        .enumerate()
                        .map(|(e, s)| ((e + 1) as f64, s.mean))
                        .collect();
                    let label = if dashed {
                        format!("{name} – Training")
                    } else {
                        format!("{name} – Validation")
                    };
                    let curve = Curve::line(label, color_of(name, i), points);
                    Some(if dashed {
                        curve.dashed()
                    } else {
                        curve.with_spread(stats.iter().map(|s| s.std).collect())
                    })
                })
                .collect()
        };
    let sweep = |title: &str, x_label: &str, x_scale: XScale| Panel {
        title: title.into(),
        x_label: x_label.into(),
        x_scale,
        y_label: "Final validation accuracy (%)".into(),
        curves: over_grid(&acc),
        legend: Legend::Auto,
        y_floor: Some(0.0),
        y_range: None,
    };
    match study {
        StudyKind::Convergence | StudyKind::Position => points(outcomes)
            .into_iter()
            .map(|(point, _)| {
                let mut curves = per_epoch(&point, &|e| 100.0 * e.val_acc, false);
                if study == StudyKind::Convergence {
                    curves.extend(per_epoch(&point, &|e| 100.0 * e.train_acc, true));
                }
                Panel::per_epoch(
                    format!("{point}: validation accuracy"),
                    "Accuracy (%)",
                    curves,
                    Legend::Auto,
                )
            })
            .collect(),
        StudyKind::Lr => vec![sweep(
            "Final validation accuracy vs learning rate",
            "Learning rate (Adam)",
            XScale::Log10,
        )],
        StudyKind::Init => vec![sweep(
            "Final validation accuracy vs init scale",
            "Init scale (× Glorot-uniform bound)",
            XScale::Log10,
        )],
        StudyKind::Batch => vec![sweep(
            "Final validation accuracy vs batch size",
            "Batch size",
            XScale::Log2,
        )],
        StudyKind::Depth => vec![sweep(
            "Final validation accuracy vs depth",
            "Hidden layers (64 units each)",
            XScale::Log2,
        )],
        StudyKind::Regularization => {
            let point = points(outcomes)
                .first()
                .map(|p| p.0.clone())
                .unwrap_or_default();
            let mut accuracy = per_epoch(&point, &|e| 100.0 * e.val_acc, false);
            accuracy.extend(per_epoch(&point, &|e| 100.0 * e.train_acc, true));
            vec![
                Panel::per_epoch("Accuracy", "Accuracy (%)", accuracy, Legend::Auto),
                Panel::per_epoch(
                    "Training − validation accuracy",
                    "Gap (percentage points)",
                    per_epoch(&point, &|e| 100.0 * (e.train_acc - e.val_acc), false)
                        .into_iter()
                        .map(|c| Curve {
                            label: c.label.replace(" – Validation", ""),
                            ..c
                        })
                        .collect(),
                    Legend::Auto,
                ),
            ]
        }
        StudyKind::Smoothness => {
            // Per-step curves are too jagged to read: show rolling windows instead, each the
            // mean over seeds ± std, of the loss level and of the roughness the verdict uses.
            let rolled = |f: fn(&[f64]) -> f64, of_changes: bool| -> Vec<Curve> {
                series
                    .iter()
                    .enumerate()
                    .map(|(i, name)| {
                        let runs: Vec<Vec<f64>> = outcomes
                            .iter()
                            .filter(|o| &o.spec.series == name)
                            .map(|o| {
                                let losses: Vec<f64> =
                                    o.step_losses.iter().map(|&l| f64::from(l)).collect();
                                if of_changes {
                                    losses.windows(2).map(|w| w[1] - w[0]).collect()
                                } else {
                                    losses
                                }
                            })
                            .collect();
                        let steps = runs.iter().map(Vec::len).min().unwrap_or(0);
                        let window = (steps / 40).max(10);
                        let stride = (window / 5).max(1);
                        let ends: Vec<usize> =
                            (steps / 10 + window..=steps).step_by(stride).collect();
                        let stats: Vec<(f64, Stat)> = ends
                            .iter()
                            .map(|&end| {
                                (
                                    end as f64,
                                    Stat::of(runs.iter().map(|r| f(&r[end - window..end]))),
                                )
                            })
                            .collect();
                        Curve::line(
                            name.clone(),
                            color_of(name, i),
                            stats.iter().map(|(x, s)| (*x, s.mean)).collect(),
                        )
                        .with_spread(stats.iter().map(|(_, s)| s.std).collect())
                        .without_markers()
                    })
                    .collect()
            };
            let mean = |w: &[f64]| w.iter().sum::<f64>() / w.len() as f64;
            let std = |w: &[f64]| Stat::of(w.iter().copied()).std;
            vec![
                Panel {
                    x_label: "Optimizer step (end of a rolling window of 1/40 of training)".into(),
                    ..Panel::per_epoch(
                        "Training loss, rolling mean",
                        "Loss (cross-entropy)",
                        rolled(mean, false),
                        Legend::Auto,
                    )
                },
                Panel {
                    x_label: "Optimizer step (end of a rolling window of 1/40 of training)".into(),
                    ..Panel::per_epoch(
                        "Roughness: rolling std of step-to-step change",
                        "Std of Δ loss",
                        rolled(std, true),
                        Legend::Auto,
                    )
                },
            ]
        }
        StudyKind::Shift => shared_y_range(
            series
                .iter()
                .map(|name| {
                    let runs: Vec<&RunOutcome> =
                        outcomes.iter().filter(|o| &o.spec.series == name).collect();
                    let readings = runs.iter().map(|o| o.probes.len()).min().unwrap_or(0);
                    let percentile =
                        |label: &str, color, f: fn(&crate::train::ProbePoint) -> f32| {
                            let stats: Vec<(f64, Stat)> = (0..readings)
                                .map(|k| {
                                    (
                                        runs[0].probes[k].step as f64,
                                        Stat::of(runs.iter().map(|o| f64::from(f(&o.probes[k])))),
                                    )
                                })
                                .collect();
                            Curve::line(
                                label,
                                color,
                                stats.iter().map(|(x, s)| (*x, s.mean)).collect(),
                            )
                            .with_spread(stats.iter().map(|(_, s)| s.std).collect())
                            .without_markers()
                        };
                    let base = if name == NO_BN { NO_BN_COLOR } else { BN_COLOR };
                    let light = plotters::style::RGBColor(
                        ((base.0 as u16 + 255) / 2) as u8,
                        ((base.1 as u16 + 255) / 2) as u8,
                        ((base.2 as u16 + 255) / 2) as u8,
                    );
                    Panel {
                        x_label: "Optimizer step".into(),
                        ..Panel::per_epoch(
                            format!("{name}: last hidden layer's ReLU input"),
                            "Pre-activation value",
                            vec![
                                percentile("85th percentile", light, |p| p.p85),
                                percentile("50th percentile", base, |p| p.p50),
                                percentile("15th percentile", light, |p| p.p15),
                            ],
                            Legend::Auto,
                        )
                    }
                })
                .collect(),
        ),
    }
}

/// Gives every panel the y range that holds all of them, so they compare by eye.
fn shared_y_range(mut panels: Vec<Panel>) -> Vec<Panel> {
    let values = panels.iter().flat_map(|p| p.curves.iter()).flat_map(|c| {
        c.points.iter().enumerate().map(move |(i, p)| {
            let spread = c.spread.get(i).copied().unwrap_or(0.0);
            (p.1 - spread, p.1 + spread)
        })
    });
    let (lo, hi) = values
        .filter(|v| v.0.is_finite() && v.1.is_finite())
        .fold((f64::MAX, f64::MIN), |(lo, hi), v| {
            (lo.min(v.0), hi.max(v.1))
        });
    if lo < hi {
        let pad = (hi - lo) * 0.08;
        for panel in &mut panels {
            panel.y_range = Some((lo - pad, hi + pad));
        }
    }
    panels
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
                backend: "flex".into(),
                adam: Default::default(),
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
