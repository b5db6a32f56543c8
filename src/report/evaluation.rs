//! `eval.json`: a trained network on a labelled split — accuracy and loss, each class's
//! precision and recall, the confusion matrix, and the mistakes it made most confidently.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::data::DatasetKind;
use crate::train::predict::{CLASSES, argmax};

/// How many of the most confident mistakes `eval.json` lists (and `mistakes.png` shows).
pub const MISTAKES_SHOWN: usize = 40;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Evaluation {
    /// The run folder whose checkpoint was evaluated.
    pub run: PathBuf,
    /// "MLP+BN", …
    pub network: String,
    pub dataset: DatasetKind,
    /// The folder the test split was read from.
    pub data_dir: PathBuf,
    pub samples: usize,
    /// Fraction classified correctly, and the mean cross-entropy: computed exactly as the
    /// run's validation after each epoch.
    pub accuracy: f64,
    pub loss: f64,
    /// The run's last `val_acc` and `val_loss`, when the evaluation used the same test samples:
    /// the two must be equal.
    pub run_last_epoch: Option<LastEpoch>,
    pub classes: Vec<ClassScore>,
    /// `confusion[true][predicted]`: how many samples of each class got each prediction.
    pub confusion: Vec<Vec<usize>>,
    /// The wrong predictions with the highest probability, most confident first.
    pub mistakes: Vec<Mistake>,
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct LastEpoch {
    pub epoch: usize,
    pub val_acc: f64,
    pub val_loss: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClassScore {
    pub class: usize,
    pub name: String,
    /// Samples of this class.
    pub count: usize,
    /// Samples predicted as this class.
    pub predicted: usize,
    pub correct: usize,
    /// correct / predicted; `null` when nothing was predicted as this class.
    pub precision: Option<f64>,
    /// correct / count; `null` when the split has no sample of this class.
    pub recall: Option<f64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Mistake {
    /// Position in the test split.
    pub index: usize,
    pub label: usize,
    pub predicted: usize,
    /// The probability the network gave its (wrong) prediction.
    pub probability: f32,
}

/// The per-class scores, confusion matrix and most confident mistakes of `probabilities`
/// against `labels`.
pub fn score(
    labels: &[u8],
    probabilities: &[[f32; CLASSES]],
    dataset: DatasetKind,
) -> (Vec<ClassScore>, Vec<Vec<usize>>, Vec<Mistake>) {
    let mut confusion = vec![vec![0usize; CLASSES]; CLASSES];
    let mut mistakes = Vec::new();
    for (index, (&label, p)) in labels.iter().zip(probabilities).enumerate() {
        let (label, predicted) = (usize::from(label), argmax(p));
        confusion[label][predicted] += 1;
        if label != predicted {
            mistakes.push(Mistake {
                index,
                label,
                predicted,
                probability: p[predicted],
            });
        }
    }
    // Most confident first; the earlier sample first among equals, so the order is stable.
    mistakes.sort_by(|a, b| {
        b.probability
            .total_cmp(&a.probability)
            .then(a.index.cmp(&b.index))
    });
    mistakes.truncate(MISTAKES_SHOWN);
    let names = dataset.class_names();
    let classes = (0..CLASSES)
        .map(|class| {
            let count: usize = confusion[class].iter().sum();
            let predicted: usize = confusion.iter().map(|row| row[class]).sum();
            let correct = confusion[class][class];
            let ratio = |n: usize| (n > 0).then(|| correct as f64 / n as f64);
            ClassScore {
                class,
                name: names[class].into(),
                count,
                predicted,
                correct,
                precision: ratio(predicted),
                recall: ratio(count),
            }
        })
        .collect();
    (classes, confusion, mistakes)
}

/// A probability as a percentage with one decimal that never rounds to a certainty it is not:
/// "94.6%", ">99.9%", "<0.1%".
pub fn probability_label(probability: f32) -> String {
    let percent = 100.0 * f64::from(probability);
    if percent > 0.0 && percent < 0.05 {
        "<0.1%".into()
    } else if (99.95..100.0).contains(&percent) {
        ">99.9%".into()
    } else {
        format!("{percent:.1}%")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn probabilities_never_round_to_certainty() {
        assert_eq!(probability_label(0.999_99), ">99.9%");
        assert_eq!(probability_label(1.0), "100.0%");
        assert_eq!(probability_label(0.000_01), "<0.1%");
        assert_eq!(probability_label(0.0), "0.0%");
        assert_eq!(probability_label(0.946), "94.6%");
    }

    fn one_hot(class: usize, confidence: f32) -> [f32; CLASSES] {
        let mut p = [(1.0 - confidence) / 9.0; CLASSES];
        p[class] = confidence;
        p
    }

    #[test]
    fn precision_recall_and_confusion_count_what_happened() {
        // Three 0s (one called 1), two 1s (both right), no 2s; one 0 called 2.
        let labels = [0, 0, 0, 1, 1, 0];
        let probabilities = [
            one_hot(0, 0.9),
            one_hot(1, 0.6),
            one_hot(0, 0.8),
            one_hot(1, 0.7),
            one_hot(1, 0.99),
            one_hot(2, 0.95),
        ];
        let (classes, confusion, mistakes) = score(&labels, &probabilities, DatasetKind::Mnist);
        assert_eq!(confusion[0][..3], [2, 1, 1]);
        assert_eq!(confusion[1][..3], [0, 2, 0]);
        assert_eq!(confusion.iter().flatten().sum::<usize>(), 6);
        assert_eq!((classes[0].count, classes[0].correct), (4, 2));
        assert_eq!(classes[0].recall, Some(0.5));
        assert_eq!(classes[0].precision, Some(1.0));
        assert_eq!(classes[1].precision, Some(2.0 / 3.0));
        assert_eq!(classes[1].recall, Some(1.0));
        // Predicted once, never right; no samples, so no recall.
        assert_eq!(classes[2].precision, Some(0.0));
        assert_eq!(classes[2].recall, None);
        assert_eq!(classes[3].precision, None);
        // Most confident mistake first.
        let order: Vec<(usize, usize)> = mistakes.iter().map(|m| (m.index, m.predicted)).collect();
        assert_eq!(order, [(5, 2), (1, 1)]);
        assert_eq!(mistakes[0].probability, 0.95);
    }

    #[test]
    fn fashion_classes_are_named() {
        let (classes, _, _) = score(&[9], &[one_hot(9, 1.0)], DatasetKind::FashionMnist);
        assert_eq!(classes[9].name, "Ankle boot");
        assert_eq!(classes[0].name, "T-shirt/top");
    }
}
