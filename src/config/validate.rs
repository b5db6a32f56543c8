//! Every setting checked once, whether a config file or a flag gave it: each rule names the
//! field, the flag that sets it (if one does) and what it must be.

use super::{ConfigError, ExperimentConfig};
use crate::model::{GUIDE_MLP_WIDTHS, ModelKind, NormKind};

/// One rule: `broken` says the offending value when `config` breaks it.
struct Rule {
    field: &'static str,
    flag: Option<&'static str>,
    expected: &'static str,
    broken: fn(&ExperimentConfig) -> Option<String>,
}

/// The value, unless it is a finite number above 0.
fn not_positive(value: f64) -> Option<String> {
    (!(value.is_finite() && value > 0.0)).then(|| value.to_string())
}

fn zero(value: usize) -> Option<String> {
    (value == 0).then(|| "0".into())
}

const POSITIVE: &str = "a finite number above 0";

/// In the order they are checked; the first broken one is reported.
const RULES: &[Rule] = &[
    Rule {
        field: "training.epochs",
        flag: Some("--epochs"),
        expected: "at least 1",
        broken: |c| zero(c.training.epochs),
    },
    Rule {
        field: "training.batch_size",
        flag: Some("--batch-size"),
        expected: "at least 1",
        broken: |c| zero(c.training.batch_size),
    },
    Rule {
        field: "training.learning_rate",
        flag: Some("--lr"),
        expected: POSITIVE,
        broken: |c| not_positive(c.training.learning_rate),
    },
    Rule {
        field: "data.limit_train",
        flag: Some("--limit-train"),
        expected: "at least 1 when given",
        broken: |c| c.data.limit_train.and_then(zero),
    },
    Rule {
        field: "data.limit_test",
        flag: Some("--limit-test"),
        expected: "at least 1 when given",
        broken: |c| c.data.limit_test.and_then(zero),
    },
    Rule {
        field: "network.norm_noise",
        flag: Some("--norm-noise"),
        expected: "left out for a network without normalization (it follows each norm layer)",
        broken: |c| {
            let network = &c.network;
            (network.norm_noise.is_some() && network.norm == NormKind::None)
                .then(|| "noise settings".into())
        },
    },
    Rule {
        field: "network.mlp_widths",
        flag: Some("--hidden-layers, --width"),
        expected: "one or more hidden widths of at least 1",
        broken: |c| {
            let widths = &c.network.mlp_widths;
            (widths.is_empty() || widths.contains(&0)).then(|| format!("{widths:?}"))
        },
    },
    Rule {
        field: "network.mlp_widths",
        flag: Some("--hidden-layers, --width"),
        expected: "left out for the CNN (it shapes the MLP only)",
        broken: |c| {
            let network = &c.network;
            (network.model == ModelKind::Cnn && network.mlp_widths != GUIDE_MLP_WIDTHS)
                .then(|| format!("{:?}", network.mlp_widths))
        },
    },
    Rule {
        field: "network.init_scale",
        flag: Some("--init-scale"),
        expected: POSITIVE,
        broken: |c| not_positive(c.network.init_scale),
    },
    Rule {
        field: "training.adam.beta_1",
        flag: None,
        expected: "in [0, 1)",
        broken: |c| in_unit(c.training.adam.beta_1),
    },
    Rule {
        field: "training.adam.beta_2",
        flag: None,
        expected: "in [0, 1)",
        broken: |c| in_unit(c.training.adam.beta_2),
    },
    Rule {
        field: "training.adam.epsilon",
        flag: None,
        expected: POSITIVE,
        broken: |c| not_positive(c.training.adam.epsilon),
    },
    Rule {
        field: "network.norm_settings.epsilon",
        flag: None,
        expected: POSITIVE,
        broken: |c| not_positive(c.network.norm_settings.epsilon),
    },
    Rule {
        field: "network.norm_settings.momentum",
        flag: None,
        expected: "in [0, 1] (Keras convention, 0.99)",
        broken: |c| {
            let momentum = c.network.norm_settings.momentum;
            (!(0.0..=1.0).contains(&momentum)).then(|| momentum.to_string())
        },
    },
];

/// The value, unless it is in [0, 1).
fn in_unit(value: f64) -> Option<String> {
    (!(0.0..1.0).contains(&value)).then(|| value.to_string())
}

impl ExperimentConfig {
    /// The first setting out of range, named by its field and flag.
    pub fn validate(&self) -> Result<(), ConfigError> {
        // Noisy BatchNorm's own settings (a config file's only) first: they name their field.
        if let Some(noise) = self.network.norm_noise
            && let Some((field, expected)) = noise.invalid_field()
        {
            return Err(ConfigError::Invalid {
                field,
                flag: None,
                expected,
                found: format!("{noise:?}"),
            });
        }
        match RULES
            .iter()
            .find_map(|rule| Some((rule, (rule.broken)(self)?)))
        {
            Some((rule, found)) => Err(ConfigError::Invalid {
                field: rule.field,
                flag: rule.flag,
                expected: rule.expected,
                found,
            }),
            None => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::TrainingConfig;
    use super::*;

    #[test]
    fn invalid_values_are_rejected_with_the_field_name() {
        let cases: [(&str, &str); 7] = [
            (
                r#"{"training": {"epochs": 0}}"#,
                "training.epochs (--epochs) must be at least 1, got 0",
            ),
            (
                r#"{"training": {"batch_size": 0}}"#,
                "training.batch_size (--batch-size) must be at least 1",
            ),
            (
                r#"{"training": {"learning_rate": 0.0}}"#,
                "training.learning_rate (--lr) must be a finite number above 0, got 0",
            ),
            (
                r#"{"training": {"learning_rate": -0.001}}"#,
                "training.learning_rate (--lr) must be",
            ),
            (
                r#"{"data": {"limit_train": 0}}"#,
                "data.limit_train (--limit-train) must be at least 1 when given",
            ),
            (
                r#"{"network": {"model": "cnn", "mlp_widths": [8]}}"#,
                "network.mlp_widths (--hidden-layers, --width) must be left out for the CNN",
            ),
            (
                r#"{"network": {"norm_settings": {"epsilon": 0.001, "momentum": 1.5}}}"#,
                "network.norm_settings.momentum must be in [0, 1]",
            ),
        ];
        for (text, expected) in cases {
            let err = ExperimentConfig::from_json(text)
                .unwrap()
                .validate()
                .unwrap_err()
                .to_string();
            assert!(err.contains(expected), "{err}");
        }
        let nan = ExperimentConfig {
            training: TrainingConfig {
                learning_rate: f64::NAN,
                ..TrainingConfig::default()
            },
            ..ExperimentConfig::default()
        };
        assert!(nan.validate().unwrap_err().to_string().contains("got NaN"));
    }
}
