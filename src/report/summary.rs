//! `summary.json` and the printed table of a with/without-BatchNorm comparison.

use serde::{Deserialize, Serialize};

use super::files::RunMetrics;
use super::table::Table;
use crate::data::DatasetKind;
use crate::model::ModelKind;
use crate::runtime::BackendKind;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VariantSummary {
    pub final_val_acc: f64,
    pub best_val_acc: f64,
    pub best_epoch: usize,
    pub final_val_loss: f64,
    pub final_train_acc: f64,
    pub mean_epoch_seconds: f64,
}

impl VariantSummary {
    pub fn from_metrics(metrics: &RunMetrics) -> Self {
        let last = metrics
            .epochs
            .last()
            .expect("loaded metrics hold at least one epoch");
        let best =
            metrics.epochs.iter().fold(
                last,
                |best, e| if e.val_acc > best.val_acc { e } else { best },
            );
        let seconds: f64 = metrics.epochs.iter().map(|e| e.seconds).sum();
        Self {
            final_val_acc: last.val_acc,
            best_val_acc: best.val_acc,
            best_epoch: best.epoch,
            final_val_loss: last.val_loss,
            final_train_acc: last.train_acc,
            mean_epoch_seconds: seconds / metrics.epochs.len() as f64,
        }
    }
}

/// BN minus no-BN; accuracies as fractions (0.01 = one percentage point).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Difference {
    pub final_val_acc: f64,
    pub best_val_acc: f64,
    pub final_val_loss: f64,
    pub mean_epoch_seconds: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ComparisonSummary {
    pub model: ModelKind,
    pub dataset: DatasetKind,
    pub backend: BackendKind,
    #[serde(default)]
    pub device: String,
    pub epochs: usize,
    pub no_bn: VariantSummary,
    pub bn: VariantSummary,
    pub bn_minus_no_bn: Difference,
}

impl ComparisonSummary {
    pub fn new(no_bn: &RunMetrics, bn: &RunMetrics) -> Self {
        let (a, b) = (
            VariantSummary::from_metrics(no_bn),
            VariantSummary::from_metrics(bn),
        );
        Self {
            model: bn.model,
            dataset: bn.dataset,
            backend: bn.backend,
            device: bn.device.clone(),
            epochs: bn.epochs.len(),
            bn_minus_no_bn: Difference {
                final_val_acc: b.final_val_acc - a.final_val_acc,
                best_val_acc: b.best_val_acc - a.best_val_acc,
                final_val_loss: b.final_val_loss - a.final_val_loss,
                mean_epoch_seconds: b.mean_epoch_seconds - a.mean_epoch_seconds,
            },
            no_bn: a,
            bn: b,
        }
    }

    /// The comparison as a table: per variant, then the difference.
    pub fn table(&self) -> Table {
        let row = |name: &str, v: &VariantSummary| {
            vec![
                name.to_string(),
                format!("{:.2}%", 100.0 * v.final_val_acc),
                format!("{:.2}% ({})", 100.0 * v.best_val_acc, v.best_epoch),
                format!("{:.4}", v.final_val_loss),
                format!("{:.1}", v.mean_epoch_seconds),
            ]
        };
        let d = &self.bn_minus_no_bn;
        Table::new(
            &[
                "variant",
                "final val acc",
                "best val acc (epoch)",
                "final val loss",
                "mean epoch s",
            ],
            vec![
                row("no BN", &self.no_bn),
                row("BN", &self.bn),
                vec![
                    "BN − no BN".into(),
                    format!("{:+.2} pp", 100.0 * d.final_val_acc),
                    format!("{:+.2} pp", 100.0 * d.best_val_acc),
                    format!("{:+.4}", d.final_val_loss),
                    format!("{:+.1}", d.mean_epoch_seconds),
                ],
            ],
        )
        .numeric()
    }

    /// What the terminal shows: a heading line, then the table.
    pub fn describe(&self) -> String {
        format!(
            "{} on {} ({} epochs, {} backend{})\n{}",
            self.model.name().to_uppercase(),
            self.dataset,
            self.epochs,
            self.backend,
            if self.device.is_empty() {
                String::new()
            } else {
                format!(" on {}", self.device)
            },
            self.table().terminal()
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summary_picks_final_and_best_and_differences() {
        let summary = ComparisonSummary::new(
            &RunMetrics::sample(false, &[0.90, 0.95, 0.94]),
            &RunMetrics::sample(true, &[0.96, 0.97, 0.98]),
        );
        assert_eq!(summary.no_bn.best_val_acc, 0.95);
        assert_eq!(summary.no_bn.best_epoch, 2);
        assert_eq!(summary.no_bn.final_val_acc, 0.94);
        assert_eq!(summary.bn.best_epoch, 3);
        assert!((summary.bn_minus_no_bn.final_val_acc - 0.04).abs() < 1e-12);
        assert_eq!(summary.no_bn.mean_epoch_seconds, 3.0);
        let text = summary.describe();
        assert!(text.starts_with("MLP on mnist (3 epochs, flex backend on test CPU)\n"));
        assert!(text.contains("+4.00 pp"), "{text}");
        assert!(text.contains("95.00% (2)"), "{text}");
        assert!(
            summary
                .table()
                .markdown()
                .contains("| BN − no BN | +4.00 pp |")
        );
    }
}
