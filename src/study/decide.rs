//! Each study's table, verdict detail, verdict and rule, from its runs.

use super::analysis::{measure, pct, points, runs_of, stat_of};
use super::plan::{BN_AFTER, BN_BEFORE, NO_BN, WITH_BN};
use super::verdict::{self, Comparison, Outcome, Stat};
use super::{RunOutcome, StudyKind};
use crate::model::NormKind;
use crate::report::Table;

/// Table, verdict detail, verdict and rule for each study.
pub(super) fn decide(
    study: StudyKind,
    outcomes: &[RunOutcome],
) -> (Table, String, Outcome, String) {
    let grid_rule = verdict::GRID_RULE.to_string();
    let acc = |o: &RunOutcome| o.final_val_acc();
    match study {
        StudyKind::Convergence => {
            let mut rows = Vec::new();
            let mut comparisons = Vec::new();
            for (point, _) in points(outcomes) {
                let epochs = runs_of(outcomes, NO_BN, &point)
                    .map(|o| o.spec.scale().epochs)
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
            let table = Table {
                headers,
                rows,
                align: Vec::new(),
            };
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
    Table::new(headers, rows)
}
