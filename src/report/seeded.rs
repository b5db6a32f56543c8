//! A with/without-BatchNorm comparison over several seeds: each variant's spread and the paired
//! BN − no-BN difference per metric (`summary.json`, the printed table), and the chart's mean
//! curves with a band. Seed s gives both variants the same initial weights and data order, so
//! the differences are taken per seed.

use serde::{Deserialize, Serialize};

use super::charts::{BN_COLOR, Curve, EpochMeasure, NO_BN_COLOR, Panel, guide_panels};
use super::files::RunMetrics;
use super::stats::{PairedDifference, Spread};
use super::summary::VariantSummary;
use super::table::Table;
use crate::data::DatasetKind;
use crate::model::ModelKind;
use crate::runtime::BackendKind;

/// What the chart's band around each mean shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Band {
    /// ±1 sample standard deviation over seeds (3 seeds or more).
    #[serde(rename = "sd")]
    StandardDeviation,
    /// From the lowest to the highest seed (2 seeds: a standard deviation of two values says
    /// little).
    #[serde(rename = "min-max")]
    Range,
}

impl Band {
    pub fn for_seeds(seeds: usize) -> Self {
        if seeds < 3 {
            Band::Range
        } else {
            Band::StandardDeviation
        }
    }

    fn describe(self) -> &'static str {
        match self {
            Band::StandardDeviation => "mean ± 1 sd",
            Band::Range => "mean, min–max",
        }
    }

    fn half_width(self, spread: &Spread) -> f64 {
        match self {
            Band::StandardDeviation => spread.sd,
            // Two seeds: the mean sits halfway between them.
            Band::Range => 0.5 * (spread.max - spread.min),
        }
    }
}

/// One value per metric of a comparison.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PerMetric<T> {
    pub final_val_acc: T,
    pub best_val_acc: T,
    pub final_val_loss: T,
    pub final_train_acc: T,
    pub mean_epoch_seconds: T,
}

impl<T> PerMetric<T> {
    fn build(f: impl Fn(fn(&VariantSummary) -> f64) -> T) -> Self {
        Self {
            final_val_acc: f(|v| v.final_val_acc),
            best_val_acc: f(|v| v.best_val_acc),
            final_val_loss: f(|v| v.final_val_loss),
            final_train_acc: f(|v| v.final_train_acc),
            mean_epoch_seconds: f(|v| v.mean_epoch_seconds),
        }
    }
}

/// `summary.json` of `compare --seeds N` (N > 1).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SeededSummary {
    pub model: ModelKind,
    pub dataset: DatasetKind,
    pub backend: BackendKind,
    pub device: String,
    pub epochs: usize,
    pub seeds: Vec<u64>,
    /// What the chart's bands show.
    pub band: Band,
    pub no_bn: PerMetric<Spread>,
    pub bn: PerMetric<Spread>,
    /// BN − no BN per seed: mean, standard deviation, n and 95 % confidence interval.
    pub bn_minus_no_bn: PerMetric<PairedDifference>,
}

impl SeededSummary {
    /// `no_bn[i]` and `bn[i]` are the runs of `seeds[i]`.
    pub fn new(seeds: &[u64], no_bn: &[RunMetrics], bn: &[RunMetrics]) -> Self {
        let a: Vec<VariantSummary> = no_bn.iter().map(VariantSummary::from_metrics).collect();
        let b: Vec<VariantSummary> = bn.iter().map(VariantSummary::from_metrics).collect();
        let spread = |runs: &[VariantSummary]| {
            PerMetric::build(|metric| Spread::of(&runs.iter().map(metric).collect::<Vec<_>>()))
        };
        let first = &bn[0];
        Self {
            model: first.model,
            dataset: first.dataset,
            backend: first.backend,
            device: first.device.clone(),
            epochs: first.epochs.len(),
            seeds: seeds.to_vec(),
            band: Band::for_seeds(seeds.len()),
            no_bn: spread(&a),
            bn: spread(&b),
            bn_minus_no_bn: PerMetric::build(|metric| {
                let pairs: Vec<(f64, f64)> = a
                    .iter()
                    .zip(&b)
                    .map(|(x, y)| (metric(x), metric(y)))
                    .collect();
                PairedDifference::of(&pairs)
            }),
        }
    }

    pub fn table(&self) -> Table {
        let pct = |s: &Spread| format!("{:.2} ± {:.2}%", 100.0 * s.mean, 100.0 * s.sd);
        let plain = |s: &Spread, digits: usize| format!("{:.digits$} ± {:.digits$}", s.mean, s.sd);
        let row = |name: &str, v: &PerMetric<Spread>| {
            vec![
                name.to_string(),
                pct(&v.final_val_acc),
                pct(&v.best_val_acc),
                plain(&v.final_val_loss, 4),
                plain(&v.mean_epoch_seconds, 1),
            ]
        };
        let difference = |d: &PairedDifference, factor: f64, digits: usize, unit: &str| {
            let mean = format!("{:+.digits$}{unit}", factor * d.mean);
            match d.ci95 {
                Some((lo, hi)) => format!(
                    "{mean} [{:+.digits$}, {:+.digits$}]",
                    factor * lo,
                    factor * hi
                ),
                None => mean,
            }
        };
        let d = &self.bn_minus_no_bn;
        Table::new(
            &[
                "variant",
                "final val acc",
                "best val acc",
                "final val loss",
                "mean epoch s",
            ],
            vec![
                row("no BN", &self.no_bn),
                row("BN", &self.bn),
                vec![
                    "BN − no BN [95% CI]".into(),
                    difference(&d.final_val_acc, 100.0, 2, " pp"),
                    difference(&d.best_val_acc, 100.0, 2, " pp"),
                    difference(&d.final_val_loss, 1.0, 4, ""),
                    difference(&d.mean_epoch_seconds, 1.0, 1, ""),
                ],
            ],
        )
        .numeric()
    }

    /// What the terminal shows: a heading line, the table, and how to read it.
    pub fn describe(&self) -> String {
        let seeds: Vec<String> = self.seeds.iter().map(u64::to_string).collect();
        format!(
            "{} on {} ({} epochs, {} backend on {}), seeds {}: mean ± sd over seeds\n{}BN − no BN is the mean of the per-seed differences (same seed: same initial weights and data order) with its 95% confidence interval (Student t, n = {}).\n",
            self.model.name().to_uppercase(),
            self.dataset,
            self.epochs,
            self.backend,
            self.device,
            seeds.join(", "),
            self.table().terminal(),
            self.seeds.len()
        )
    }

    /// The guide's two panels, with each variant's mean over seeds and a band.
    pub fn panels(&self, no_bn: &[RunMetrics], bn: &[RunMetrics]) -> Vec<Panel> {
        let band = self.band;
        let curve = |runs: &[RunMetrics], label: &str, f: EpochMeasure| {
            let epochs = runs[0].epochs.len();
            let per_epoch: Vec<Spread> = (0..epochs)
                .map(|i| Spread::of(&runs.iter().map(|r| f(&r.epochs[i])).collect::<Vec<_>>()))
                .collect();
            let color = if runs[0].bn { BN_COLOR } else { NO_BN_COLOR };
            Curve::line(
                format!("{label} ({})", band.describe()),
                color,
                per_epoch
                    .iter()
                    .enumerate()
                    .map(|(i, s)| ((i + 1) as f64, s.mean))
                    .collect(),
            )
            .with_spread(per_epoch.iter().map(|s| band.half_width(s)).collect())
        };
        guide_panels(|train, val| {
            vec![
                curve(no_bn, "No BN – Training", train).dashed(),
                curve(no_bn, "No BN – Validation", val),
                curve(bn, "With BN – Training", train).dashed(),
                curve(bn, "With BN – Validation", val),
            ]
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn differences_are_paired_by_seed() {
        // The seeds disagree on the level by far more than BN's edge, which is the same 0.29,
        // 0.15, 0.24 pp at each: paired, the interval excludes 0.
        let no_bn = [
            RunMetrics::sample(false, &[0.90, 0.950]),
            RunMetrics::sample(false, &[0.9, 0.970]),
            RunMetrics::sample(false, &[0.9, 0.930]),
        ];
        let bn = [
            RunMetrics::sample(true, &[0.91, 0.9529]),
            RunMetrics::sample(true, &[0.9, 0.9715]),
            RunMetrics::sample(true, &[0.9, 0.9324]),
        ];
        let summary = SeededSummary::new(&[42, 43, 44], &no_bn, &bn);
        let d = summary.bn_minus_no_bn.final_val_acc;
        let (lo, hi) = d.ci95.unwrap();
        assert!((d.mean - 0.0022666666666666).abs() < 1e-9, "{d:?}");
        assert!(lo > 0.0 && (lo - 0.000504270602769597).abs() < 1e-9, "{lo}");
        assert!((hi - 0.004029062730563736).abs() < 1e-9, "{hi}");
        // Unpaired, the spread of each side (2 pp) swamps the edge.
        assert!(summary.no_bn.final_val_acc.sd > 0.019);
        assert_eq!(summary.band, Band::StandardDeviation);
        let text = summary.describe();
        assert!(text.contains("+0.23 pp [+0.05, +0.40]"), "{text}");
        assert!(text.contains("95.00 ± 2.00%"), "{text}");
        let panels = summary.panels(&no_bn, &bn);
        let validation = &panels[0].curves[1];
        assert!(validation.label.ends_with("(mean ± 1 sd)"));
        assert!(
            (validation.spread[1] - 2.0).abs() < 1e-9,
            "{:?}",
            validation.spread
        );
    }

    #[test]
    fn two_seeds_band_the_range() {
        let no_bn = [
            RunMetrics::sample(false, &[0.90]),
            RunMetrics::sample(false, &[0.94]),
        ];
        let bn = [
            RunMetrics::sample(true, &[0.91]),
            RunMetrics::sample(true, &[0.95]),
        ];
        let summary = SeededSummary::new(&[1, 2], &no_bn, &bn);
        assert_eq!(summary.band, Band::Range);
        let panels = summary.panels(&no_bn, &bn);
        let curve = &panels[0].curves[1];
        assert!(curve.label.ends_with("(mean, min–max)"));
        // Mean 92 %, from 90 to 94: a half-width of 2 points.
        assert!((curve.points[0].1 - 92.0).abs() < 1e-9 && (curve.spread[0] - 2.0).abs() < 1e-9);
        let json = serde_json::to_value(&summary).unwrap();
        assert_eq!(json["band"], "min-max");
        assert_eq!(json["bn_minus_no_bn"]["final_val_acc"]["n"], 2);
    }
}
