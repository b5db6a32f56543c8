//! A grid point's typed id: the setting a study varies there. Its label, its value on a chart's
//! x axis and its run folder are derived here and nowhere else; `run.json` keeps the id itself,
//! so relabelling a point never invalidates a cached run.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::model::ModelKind;

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Point {
    /// A network as the guide builds it: "MLP", "CNN".
    Network(ModelKind),
    /// Ioffe & Szegedy's figure 1 network: 3 fully connected layers of 100 sigmoid units.
    SigmoidMlp,
    LearningRate(f64),
    /// The factor on every layer's Glorot-uniform bound.
    InitScale(f64),
    BatchSize(usize),
    /// Hidden layers of the MLP.
    Depth(usize),
}

const SIGMOID_MLP: &str = "Sigmoid MLP 3×100";

impl fmt::Display for Point {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        match self {
            Self::Network(model) => write!(f, "{}", model.name().to_uppercase()),
            Self::SigmoidMlp => f.write_str(SIGMOID_MLP),
            Self::LearningRate(rate) => write!(f, "lr {rate}"),
            Self::InitScale(scale) => write!(f, "init {scale}"),
            Self::BatchSize(size) => write!(f, "batch {size}"),
            Self::Depth(depth) => write!(f, "depth {depth}"),
        }
    }
}

impl Point {
    /// The point's value on its study's x axis (0 where the study has no axis).
    pub fn x(self) -> f64 {
        match self {
            Self::Network(_) => 0.0,
            Self::SigmoidMlp => 1.0,
            Self::LearningRate(x) | Self::InitScale(x) => x,
            Self::BatchSize(n) | Self::Depth(n) => n as f64,
        }
    }

    /// The run folder's middle part: the label in lower-case words joined by dashes.
    pub fn slug(self) -> String {
        let mut out = String::new();
        for c in self.to_string().chars() {
            if c.is_ascii_alphanumeric() || c == '.' {
                out.push(c.to_ascii_lowercase());
            } else if !out.ends_with('-') && !out.is_empty() {
                out.push('-');
            }
        }
        out.trim_end_matches('-').to_string()
    }
}

/// A label as `run.json` kept it before points were typed ("lr 0.01", "MLP", …).
impl FromStr for Point {
    type Err = String;

    fn from_str(label: &str) -> Result<Self, String> {
        let number = |text: &str| text.parse::<f64>().ok();
        let count = |text: &str| text.parse::<usize>().ok();
        let parsed = match label.split_once(' ') {
            _ if label == SIGMOID_MLP => Some(Self::SigmoidMlp),
            Some(("lr", rate)) => number(rate).map(Self::LearningRate),
            Some(("init", scale)) => number(scale).map(Self::InitScale),
            Some(("batch", size)) => count(size).map(Self::BatchSize),
            Some(("depth", depth)) => count(depth).map(Self::Depth),
            _ => label.to_lowercase().parse().ok().map(Self::Network),
        };
        parsed.ok_or_else(|| format!("unknown grid point '{label}'"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_folders_and_old_labels_agree() {
        let points = [
            Point::Network(ModelKind::Cnn),
            Point::SigmoidMlp,
            Point::LearningRate(1e-4),
            Point::InitScale(0.3),
            Point::BatchSize(128),
            Point::Depth(16),
        ];
        let labels = points.map(|p| p.to_string());
        assert_eq!(
            labels,
            [
                "CNN",
                "Sigmoid MLP 3×100",
                "lr 0.0001",
                "init 0.3",
                "batch 128",
                "depth 16"
            ]
        );
        for (point, label) in points.iter().zip(&labels) {
            assert_eq!(label.parse::<Point>().unwrap(), *point);
        }
        assert_eq!(Point::SigmoidMlp.slug(), "sigmoid-mlp-3-100");
        assert_eq!(Point::LearningRate(0.01).slug(), "lr-0.01");
        assert_eq!(Point::BatchSize(32).x(), 32.0);
        assert!("lr fast".parse::<Point>().is_err());
        assert!("RNN".parse::<Point>().is_err());
    }
}
